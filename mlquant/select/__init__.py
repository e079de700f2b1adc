"""Choosing the Goldilocks model: :class:`Selector` assesses candidates, :class:`Selection` is its answer."""

from .selector import MAX_CLASS_DROP, MAX_MEAN_DROP, SIMPLICITY, Assessment, Candidate, Selection, Selector

__all__ = ["MAX_CLASS_DROP", "MAX_MEAN_DROP", "SIMPLICITY", "Assessment", "Candidate", "Selection", "Selector"]
