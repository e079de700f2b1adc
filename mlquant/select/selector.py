"""Choosing the Goldilocks model: the smallest candidate whose accuracy drop is tolerable.

Drops are in percentage points of a per-class metric, against the float model:

* ``accuracy``: top-1 accuracy against the labels, averaged over classes;
* ``agreement``: share of inputs whose top-1 equals the float model's (needs no labels).

A candidate passes when its mean drop over classes is within ``max_mean_drop`` and its worst
class's drop within ``max_class_drop`` (either may be None to switch it off), and it has not
collapsed onto one label. Among those that pass, the smallest file wins; ties go to the more
accurate, then the simpler strategy, then the name. Every row carries a 95% confidence
interval, and the selection lists neighbouring candidates that the data cannot tell apart
(exact McNemar test), because with 100 images a class one image is one point.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from ..errors import SettingsError
from ..evaluate.evaluator import Evaluation
from . import _stats, text
from .candidate import Assessment, Candidate

__all__ = ["MAX_CLASS_DROP", "MAX_MEAN_DROP", "Selection", "Selector"]

#: The default tolerance, in percentage points: the class-averaged metric may drop this much ...
MAX_MEAN_DROP = 1.0
#: ... and no single class more than this.
MAX_CLASS_DROP = 5.0

#: Simpler strategies win ties.
SIMPLICITY = {"float": 0, "float16": 1, "linear": 2, "linear_symmetric": 2, "linear_lut": 3, "kmeans_lut": 4}


def _optional_points(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100):
        msg = f"Selector: {attribute.name} must be 0-100 percentage points or None (got {value!r})"
        raise SettingsError(msg)


def _metric(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value not in {"accuracy", "agreement"}:
        msg = f"Selector: metric must be 'accuracy' or 'agreement' (got {value!r})"
        raise SettingsError(msg)


@attrs.frozen
class Selection:
    """What the selector chose, and why every other candidate was not chosen."""

    chosen: Candidate | None
    """The Goldilocks model, or None."""
    reason: str | None
    """Why nothing was chosen, when nothing was."""
    rows: tuple[Assessment, ...] = attrs.field(repr=lambda rows: f"<{len(rows)} rows>")
    """Every candidate, smallest first."""
    frontier: tuple[str, ...]
    """Names of the candidates on the size/accuracy Pareto frontier, smallest first."""
    indistinguishable: tuple[tuple[str, str, float], ...]
    """Pairs of neighbouring candidates the data cannot tell apart, with the McNemar p-value."""
    selector: Selector
    """The tolerance used."""
    baseline: float
    """The float model's metric, mean over classes, in percent."""
    baseline_bytes: int
    """The float model's size."""
    incomplete: tuple[str, ...] = ()
    """Candidates smaller than the choice (every candidate, when nothing was chosen) that were not
    fully evaluated and are not certain to miss this tolerance: evaluating them could change the
    choice. Non-empty after ``--fast`` when the tolerance is looser than the sweep's."""

    def __str__(self) -> str:
        """The candidates table, the tolerance and the choice, as the command line prints them."""
        return "\n".join([text.summary_table(self), "", f"tolerance: {text.tolerance(self.selector)}",
                          text.chosen_line(self)])

    @property
    def provisional(self) -> bool:
        """Whether the choice could change once :attr:`incomplete` candidates are fully evaluated."""
        return bool(self.incomplete)

    @property
    def rejected(self) -> dict[str, tuple[str, ...]]:
        """Every rejected candidate's reasons, by name."""
        return {row.candidate.name: row.reasons for row in self.rows if row.reasons}


@attrs.frozen
class Selector:
    """The tolerance: how much accuracy a smaller model may lose.

    Example::

        Selector(max_mean_drop=1.0, max_class_drop=3.0).select(base, candidates)
    """

    max_mean_drop: float | None = attrs.field(default=MAX_MEAN_DROP, validator=_optional_points)
    """Largest allowed drop of the class-averaged metric, in points; None for no limit."""
    max_class_drop: float | None = attrs.field(default=MAX_CLASS_DROP, validator=_optional_points)
    """Largest allowed drop of any single class, in points; None for no limit."""
    metric: str = attrs.field(default="accuracy", validator=_metric)
    """``accuracy`` (against labels) or ``agreement`` (with the float model)."""
    collapse_share: float = 0.5
    """Collapse: one label predicted for at least this share of inputs, and ..."""
    collapse_ratio: float = 2.0
    """... at least this many times as often as the float model predicts it."""

    def select(self, baseline: Evaluation, candidates: Sequence[Candidate]) -> Selection:
        """Assess every candidate against ``baseline`` and choose the smallest that passes."""
        base = self._class_values(baseline, baseline)
        base_value = float(np.mean(list(base.values())))
        rows = [self._assess(baseline, base, c) for c in candidates]
        passing = [r for r in rows if r.status == "passes"]
        chosen = min(passing, key=_preference) if passing else None
        rows = [attrs.evolve(r, status="chosen") if r is chosen else r for r in rows]
        rows.sort(key=lambda r: (r.candidate.size_bytes, _preference(r)))
        complete = [r for r in rows if r.status in {"chosen", "passes", "rejected"} and r.value is not None]
        limit = chosen.candidate.size_bytes if chosen else float("inf")
        undecided = tuple(r.candidate.name for r in rows if r.status in {"not evaluated", "undecided"}
                          and r.candidate.size_bytes <= limit and r is not chosen)
        return Selection(
            chosen=chosen.candidate if chosen else None,
            reason=None if chosen else _nothing_passes(rows),
            rows=tuple(rows),
            frontier=_frontier(complete),
            indistinguishable=self._neighbours(baseline, complete),
            selector=self,
            baseline=base_value,
            baseline_bytes=baseline.size_bytes,
            incomplete=undecided,
        )

    def hopeless(self, baseline: Evaluation, partial: Evaluation, alpha: float = 1e-3) -> str | None:
        """Why a partly evaluated candidate cannot meet the tolerance even at its best, or None.

        Each class's inputs are a finite population of which the inputs seen so far are a
        sample (inputs are visited interleaved across classes, in an order unrelated to their
        content), so the candidate's final hits are bounded exactly by hypergeometric tails:
        the float model's known hits, plus a bound on the candidate's gains (right where the
        float model is wrong) less one on its losses among the inputs still to come. When
        every class has as many inputs, the class mean is the overall rate, which is also
        bounded over all inputs at once, far tighter than averaging the classes. All bounds hold together with probability at least ``1 - alpha``
        (Bonferroni), so a stop is wrong with probability below ``alpha`` at each check.
        """
        base_hits = self._hits(baseline, baseline)
        position = {f: i for i, f in enumerate(baseline.files)}
        seen = np.zeros(len(base_hits), dtype=bool)
        hits = np.zeros(len(base_hits), dtype=bool)
        index = np.array([position[f] for f in partial.files], dtype=np.int64)
        seen[index] = True
        hits[index] = self._hits(baseline, partial)
        groups = _groups(baseline, baseline.classes)
        level = alpha / (2 * max(1, len(groups)) + 2)
        base, best = {}, {}
        for c, members in groups.items():
            base[c] = 100 * int((base_hits & members).sum()) / int(members.sum())
            best[c] = 100 * _stats.best_hits(base_hits, hits, seen, members, level) / int(members.sum())
        worst = max(best, key=lambda c: base[c] - best[c])
        if self.max_class_drop is not None and base[worst] - best[worst] > self.max_class_drop:
            return f"class {worst} cannot do better than a {base[worst] - best[worst]:.1f}-point drop"
        mean_drop = float(np.mean([base[c] - best[c] for c in base]))
        sizes = {int(m.sum()) for m in groups.values()}
        if len(sizes) == 1:  # equal classes: the class mean is the overall rate, bounded in one go
            everything = np.ones(len(base_hits), dtype=bool)
            pooled = _stats.best_hits(base_hits, hits, seen, everything, level)
            mean_drop = max(mean_drop, 100 * (int(base_hits.sum()) - pooled) / len(base_hits))
        if self.max_mean_drop is not None and mean_drop > self.max_mean_drop:
            return f"the mean cannot do better than a {mean_drop:.1f}-point drop"
        return None

    def _hits(self, baseline: Evaluation, evaluation: Evaluation) -> np.ndarray:
        if self.metric == "accuracy":
            if evaluation.truth is None:
                msg = "the accuracy metric needs labelled data; use metric='agreement'"
                raise SettingsError(msg)
            return evaluation.predictions == evaluation.truth
        if evaluation is baseline or evaluation.reference is None:
            return np.ones(len(evaluation.files), dtype=bool)
        return evaluation.predictions == evaluation.reference

    def _class_counts(self, baseline: Evaluation, evaluation: Evaluation) -> dict[str, tuple[int, int]]:
        hits = self._hits(baseline, evaluation)
        return {c: (int(hits[m].sum()), int(m.sum())) for c, m in _groups(evaluation, baseline.classes).items()}

    def _class_values(self, baseline: Evaluation, evaluation: Evaluation) -> dict[str, float]:
        return {c: 100 * h / n for c, (h, n) in self._class_counts(baseline, evaluation).items() if n}

    def _assess(self, baseline: Evaluation, base: dict[str, float], candidate: Candidate) -> Assessment:
        evaluation = candidate.evaluation
        if evaluation is None:
            return Assessment(candidate, None, None, None, None, None, None, (), "not evaluated")
        values = self._class_values(baseline, evaluation)
        drops = {c: base[c] - values[c] for c in values}
        value = float(np.mean(list(values.values())))
        worst = max(drops, key=lambda c: drops[c])
        mean_drop = float(np.mean(list(drops.values())))
        failures = self._failures(baseline, evaluation, mean_drop, worst, drops[worst])
        reasons = tuple(failures.values())
        if not evaluation.complete:
            why = self.hopeless(baseline, evaluation)
            seen = f"stopped after {len(evaluation.files)} of {len(baseline.files)} inputs"
            if why is None:
                reasons = (*reasons, f"{seen}; under this tolerance it might pass: evaluate it fully")
                status = "undecided"
            else:
                reasons = (*reasons, f"{seen}: {why}")
                status = "stopped early"
        else:
            status = "rejected" if reasons else "passes"
        return Assessment(
            candidate, value, self._interval(baseline, evaluation), mean_drop,
            self._drop_interval(baseline, evaluation), worst, drops[worst], reasons, status, tuple(failures),
        )

    def _failures(
        self, baseline: Evaluation, evaluation: Evaluation, mean_drop: float, worst: str, worst_drop: float
    ) -> dict[str, str]:
        """The limits a candidate breaks (``collapsed``, ``worst class``, ``mean``), each with why in words."""
        failures = {}
        base_shares = baseline.prediction_shares()
        for label, share in sorted(evaluation.prediction_shares().items(), key=lambda kv: -kv[1])[:1]:
            if share >= self.collapse_share and share >= self.collapse_ratio * base_shares.get(label, 0.0):
                failures["collapsed"] = f"collapsed: predicts {label!r} for {share:.0%} of inputs"
        if evaluation.complete and self.max_class_drop is not None and worst_drop > self.max_class_drop:
            failures["worst class"] = f"worst class {worst} drops {worst_drop:.1f} points (limit {self.max_class_drop:g})"
        if evaluation.complete and self.max_mean_drop is not None and mean_drop > self.max_mean_drop:
            failures["mean"] = f"mean {self.metric} drops {mean_drop:.1f} points (limit {self.max_mean_drop:g})"
        return failures

    def _interval(self, baseline: Evaluation, evaluation: Evaluation) -> tuple[float, float]:
        counts = self._class_counts(baseline, evaluation)
        shares = [(h / n, n) for h, n in counts.values() if n]
        value = float(np.mean([p for p, _ in shares]))
        half = _stats.Z95 * float(np.sqrt(sum(p * (1 - p) / n for p, n in shares))) / len(shares)
        return (100 * max(0.0, value - half), 100 * min(1.0, value + half))

    def _drop_interval(self, baseline: Evaluation, evaluation: Evaluation) -> tuple[float, float] | None:
        if evaluation.files != baseline.files[: len(evaluation.files)] or not evaluation.complete:
            return None
        base_hits = self._hits(baseline, baseline).astype(float)
        hits = self._hits(baseline, evaluation).astype(float)
        diffs = [base_hits[g] - hits[g] for g in _groups(evaluation, baseline.classes).values() if g.any()]
        mean = float(np.mean([d.mean() for d in diffs]))
        half = _stats.Z95 * float(np.sqrt(sum(d.var() / len(d) for d in diffs))) / len(diffs)
        return (100 * (mean - half), 100 * (mean + half))

    def _neighbours(self, baseline: Evaluation, rows: list[Assessment]) -> tuple[tuple[str, str, float], ...]:
        pairs = []
        for smaller, larger in itertools.pairwise(rows):
            a, b = smaller.candidate.evaluation, larger.candidate.evaluation
            if a is None or b is None or a.files != b.files:
                continue
            p = _stats.mcnemar_p(self._hits(baseline, a), self._hits(baseline, b))
            if p > 0.05 and smaller.value != larger.value:
                pairs.append((smaller.candidate.name, larger.candidate.name, round(p, 3)))
        return tuple(pairs)


def _groups(evaluation: Evaluation, classes: Sequence[str]) -> dict[str, np.ndarray]:
    """Each class's inputs in ``evaluation``, as masks (all inputs as one group without labels)."""
    if evaluation.truth is None:
        return {"all inputs": np.ones(len(evaluation.files), dtype=bool)}
    index = {label: i for i, label in enumerate(evaluation.labels)}
    return {c: evaluation.truth == index[c] for c in classes}


def _preference(row: Assessment) -> tuple[Any, ...]:
    c = row.candidate
    return (c.size_bytes, -(row.value or 0.0), SIMPLICITY.get(c.method, len(SIMPLICITY)), c.name)


def _frontier(rows: list[Assessment]) -> tuple[str, ...]:
    names, best = [], -1.0
    for row in sorted(rows, key=lambda r: (r.candidate.size_bytes, -(r.value or 0.0))):
        if row.value is not None and row.value > best:
            names.append(row.candidate.name)
            best = row.value
    return tuple(names)


def _nothing_passes(rows: Sequence[Assessment]) -> str:
    evaluated = [r for r in rows if r.value is not None]
    if not evaluated:
        return "no candidate was evaluated"
    best = min(evaluated, key=lambda r: r.drop if r.drop is not None else float("inf"))
    return f"no candidate meets the tolerance; the closest, {best.candidate.name}, was rejected: {'; '.join(best.reasons)}"
