"""Calibration statistics: the moments of what each weight multiplies, as frozen values.

A weight is read as a matrix with one row per output channel, ``weight.reshape(C_out, -1)``
(every format lists its convolution and dense weights output channel first). Its output
channels fall into ``groups`` consecutive blocks (a grouped convolution's groups; one block
otherwise); every row of a block meets the same input columns, and :class:`InputStatistics`
keeps, per block, their mean, their second moments' diagonal and, where the memory budget
allowed, the full second-moment matrix ``E[x x^T]``. These are what the data-aware methods
need: the diagonal weighs a value's error in the output (importance-weighted tables), the full
matrix couples them (error-compensating rounding), and the mean gives the expected output
shift (bias correction).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs
import numpy as np

from ..errors import SettingsError

__all__ = ["Calibration", "InputStatistics"]


def _frozen(value: np.ndarray | None) -> np.ndarray | None:
    if value is None:
        return None
    array = np.array(value, dtype=np.float64)
    array.setflags(write=False)
    return array


@attrs.frozen(eq=False)
class InputStatistics:
    """Moments of the input columns one weight's rows meet, per group of output channels."""

    count: int
    """Input rows seen (patches of a convolution, vectors of an inner product)."""
    mean: np.ndarray = attrs.field(converter=_frozen, repr=False)
    """``(groups, depth)``: the mean of each input column."""
    diagonal: np.ndarray = attrs.field(converter=_frozen, repr=False)
    """``(groups, depth)``: ``E[x_j^2]``, each column's second moment."""
    second_moment: np.ndarray | None = attrs.field(default=None, converter=_frozen, repr=False)
    """``(groups, depth, depth)``: ``E[x x^T]``; None when it did not fit the memory budget."""

    @property
    def groups(self) -> int:
        """Blocks of output channels with their own input columns."""
        return int(self.mean.shape[0])

    @property
    def depth(self) -> int:
        """Input columns per block: the values one output channel multiplies."""
        return int(self.mean.shape[1])

    @property
    def full(self) -> bool:
        """Whether the full second-moment matrix was kept."""
        return self.second_moment is not None

    def check(self, shape: tuple[int, ...], where: str) -> None:
        """Check that a weight of ``shape`` meets these inputs.

        Raises:
            SettingsError: Its rows do not split into the groups, or its columns are not ``depth``.
        """
        rows = shape[0] if shape else 0
        if not shape or rows % self.groups or math.prod(shape[1:]) != self.depth:
            msg = (f"{where}: the calibration saw {self.groups} group(s) of {self.depth} input values, which a "
                   f"weight of shape {shape} does not multiply; was it calibrated on another model?")
            raise SettingsError(msg)

    def group_of_rows(self, rows: int) -> np.ndarray:
        """The group of each of ``rows`` output channels."""
        return np.repeat(np.arange(self.groups), rows // self.groups)

    def importance(self, shape: tuple[int, ...]) -> np.ndarray:
        """Each value's weight in the output's squared error: its input column's ``E[x^2]``, in ``shape``."""
        return self.diagonal[self.group_of_rows(shape[0])].reshape(shape)


@attrs.frozen(eq=False)
class Calibration:
    """What :func:`mlquant.calibrate` measured: input statistics for every weight it could pair with inputs.

    Pass it to :class:`mlquant.DataAware` (or ``quantizer.calibrated(...)``) to quantize with it.
    """

    statistics: Mapping[str, InputStatistics] = attrs.field(repr=lambda s: f"<{len(s)} weights>")
    """Weight name (``layer.field``) to the statistics of its inputs."""
    files: tuple[str, ...] = attrs.field(default=(), repr=lambda f: f"<{len(f)} inputs>")
    """The inputs it ran, relative to the data folder."""
    model: str = attrs.field(default="", repr=False)
    """The content fingerprint of the model it ran."""
    seconds: float = 0.0
    """How long it took (0 when it came from the cache)."""

    def __contains__(self, name: object) -> bool:
        return name in self.statistics

    def get(self, name: str) -> InputStatistics | None:
        """The statistics of weight ``name`` (``conv1.weights``), or None if it has none."""
        return self.statistics.get(name)

    def require(self, name: str) -> InputStatistics:
        """The statistics of weight ``name``.

        Raises:
            SettingsError: It has none; the message lists some that exist.
        """
        found = self.statistics.get(name)
        if found is None:
            known = ", ".join(list(self.statistics)[:5]) or "none"
            msg = f"the calibration has no statistics for weight {name!r} (it has {known})"
            raise SettingsError(msg)
        return found
