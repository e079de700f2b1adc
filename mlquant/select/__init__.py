"""Choosing the Goldilocks model: :class:`Selector` assesses candidates, :class:`Selection` is its answer.

* :mod:`.candidate`: :class:`Candidate`, a model offered, and :class:`Assessment`, one measured;
* :mod:`.selector`: :class:`Selector`, the tolerance and the choice, and :class:`Selection`;
* :mod:`.text`: selections as text; :mod:`._stats`: the statistics behind them.
"""

from .candidate import Assessment, Candidate
from .selector import MAX_CLASS_DROP, MAX_MEAN_DROP, SIMPLICITY, Selection, Selector

__all__ = ["MAX_CLASS_DROP", "MAX_MEAN_DROP", "SIMPLICITY", "Assessment", "Candidate", "Selection", "Selector"]
