"""The observation contract both executors keep: a run that shows each weight's inputs to a callback.

Calibration (:func:`mlquant.calibrate`) needs, for every convolution and dense weight, the rows
its weight matrix meets. An executor that can give them is :class:`Observing`: it lists the
operations it observes (:attr:`Observing.observed`, each with :class:`Observed` ``groups`` and
``depth``, keyed by the layer or operation name that :class:`~mlquant.formats.WeightInfo`
``layer`` holds) and, in :meth:`Observing.observe`, runs like ``run`` while handing each one's
unfolded input to an :data:`Observer`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import numpy as np

__all__ = ["Observed", "Observer", "Observing"]

#: Receives a weight layer's name and its input unfolded to ``(groups, rows, depth)``.
Observer = Callable[[str, np.ndarray], None]


class Observed(Protocol):
    """What an executor tells about one observed layer: the shape of the rows it will hand over."""

    @property
    def groups(self) -> int:
        """Groups of output channels, each with its own input columns."""

    @property
    def depth(self) -> int:
        """Columns per group: the values one output channel multiplies."""


class Observing(Protocol):
    """An executor that can show each weight layer's inputs while it runs."""

    @property
    def observed(self) -> Mapping[str, Observed]:
        """The layers :meth:`observe` reports, by name."""

    def observe(self, feeds: Mapping[str, np.ndarray], observer: Observer) -> dict[str, np.ndarray]:
        """Run on ``feeds``, handing ``observer`` each observed layer's name and float32 ``(groups, rows, depth)`` input.

        ``observer`` is called from one thread, chunk after chunk in batch order, and must not keep the array.
        """
