"""What the selector weighs: a :class:`Candidate` model, and its :class:`Assessment` against a tolerance."""

from __future__ import annotations

from pathlib import Path

import attrs

from .. import _text
from ..evaluate.evaluator import Evaluation

__all__ = ["Assessment", "Candidate"]


@attrs.frozen
class Candidate:
    """A quantized model offered to the selector."""

    name: str
    """Its name in tables and file names, e.g. ``kmeans_lut_6``."""
    size_bytes: int
    """Its file size."""
    evaluation: Evaluation | None = attrs.field(repr=lambda e: "None" if e is None else f"<{e}>")
    """What it predicted; None if it was never evaluated (``--fast`` skips larger models)."""
    method: str = "custom"
    """Its strategy (``linear``, ``linear_lut``, ``kmeans_lut``, ``float16``, ``mixed``...)."""
    nbits: int | None = None
    """Its width, where there is one."""
    path: Path | None = None
    """Where its model file was written."""
    plan: str | None = attrs.field(default=None, repr=lambda plan: "None" if plan is None else f"<{plan.count(':')} entries>")
    """A description of a per-layer plan, for mixed precision."""

    def __str__(self) -> str:
        """``kmeans_lut_7: 61.0% mean class accuracy on 700 inputs, 7 classes, 1.33 MB``, or that it was not evaluated."""
        if self.evaluation is None:
            return f"{self.name}: not evaluated, {_text.size(self.size_bytes)}"
        return str(attrs.evolve(self.evaluation, name=self.name, size_bytes=self.size_bytes))


@attrs.frozen
class Assessment:
    """One candidate measured against the tolerance: a row of the results table."""

    candidate: Candidate = attrs.field(repr=lambda c: repr(c.name))
    """The candidate."""
    value: float | None
    """The metric, mean over classes, in percent."""
    interval: tuple[float, float] | None
    """95% confidence interval of ``value``."""
    drop: float | None
    """Points lost against the float model (negative: gained)."""
    drop_interval: tuple[float, float] | None
    """95% confidence interval of ``drop`` (paired, input by input)."""
    worst_class: str | None
    """The class that lost the most."""
    worst_drop: float | None
    """Points that class lost."""
    reasons: tuple[str, ...]
    """Why it was rejected, in words; empty when it meets the tolerance."""
    status: str
    """``chosen``, ``passes``, ``rejected``, ``stopped early`` (certain to miss this tolerance),
    ``undecided`` (stopped early, and might pass this tolerance) or ``not evaluated``."""
    fails: tuple[str, ...] = ()
    """Which limits a rejected candidate breaks: ``collapsed``, ``worst class``, ``mean``."""
