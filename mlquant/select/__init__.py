"""Choosing the Goldilocks model: :class:`Selector` assesses candidates, :class:`Selection` is its answer."""

from .selector import SIMPLICITY, Assessment, Candidate, Selection, Selector

__all__ = ["SIMPLICITY", "Assessment", "Candidate", "Selection", "Selector"]
