"""What a sweep returns: :class:`SweepResult`, every evaluation, the choice and where the files went."""

from __future__ import annotations

from pathlib import Path

import attrs

from ..calibrate import Calibration
from ..evaluate import Evaluation
from ..select import Assessment, Candidate, Selection
from .mixed import MixedPrecisionPlan

__all__ = ["SweepResult"]


@attrs.frozen
class SweepResult:
    """Everything a sweep measured and chose."""

    baseline: Evaluation
    """The float model's evaluation."""
    candidates: tuple[Candidate, ...] = attrs.field(repr=lambda c: f"<{len(c)} candidates>")
    """Every candidate in grid order, with its evaluation (None if ``fast`` skipped it)."""
    selection: Selection
    """The choice, the frontier and every rejection's reason."""
    out_dir: Path | None
    """Where models and reports were written."""
    inputs_evaluated: int
    """Input-evaluations this run spent (cached results cost none)."""
    reused: int = 0
    """Evaluations taken from the cache of an earlier run (a resumed or widened sweep)."""
    mixed: MixedPrecisionPlan | None = None
    """The mixed-precision search's plan and its calibration and validation figures, with ``mixed=True``."""
    skipped: tuple[tuple[str, str], ...] = ()
    """Grid entries left out before evaluation, with why (``not smaller than the input``)."""
    source: Path | None = None
    """The float model's file, when it came from one."""
    fast: bool = False
    """Whether hopeless candidates were stopped early."""
    calibration: Calibration | None = attrs.field(default=None, repr=False)
    """With ``data_aware``: the statistics the data-aware candidates were made with."""
    calibration_baseline: Evaluation | None = attrs.field(default=None, repr=False)
    """With ``data_aware``: the float model on the calibration part (everything else is judged on the rest)."""
    calibration_chosen: Evaluation | None = attrs.field(default=None, repr=False)
    """With ``data_aware``: the chosen candidate on the calibration part, to compare with its judged figures."""

    def __str__(self) -> str:
        """The table a person wants: every candidate, the tolerance and the choice."""
        return str(self.selection)

    @property
    def table(self) -> tuple[Assessment, ...]:
        """One row per candidate, smallest first, each with its evaluation's per-class figures."""
        return self.selection.rows
