"""The whole Goldilocks workflow in one call: quantize a grid, evaluate, select, report.

    >>> result = mlquant.sweep("food.mlmodel", "testing_data", out_dir="food-sweep")
    >>> result.selection.chosen

The default grid is the one people run by hand with coremltools: linear, linear look-up
table and k-means look-up table at 16, 8, 7 ... 1 bits (27 candidates). Candidates whose
dequantized weights are identical (every 16-bit one) are evaluated once. With
``fast=True`` candidates are visited smallest first, each stops as soon as it is
statistically certain to miss the tolerance, and the search ends at the first candidate that
meets it, which is always evaluated on every input. Evaluations are cached by content in
``out_dir/.cache``, so an interrupted sweep resumes and a wider grid evaluates only what is new.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from ..errors import DataError, SettingsError
from ..evaluate import (
    Backend,
    CachingEvaluator,
    Evaluation,
    EvaluationCache,
    Evaluator,
    ImageFolder,
    Preprocessing,
)
from ..formats import Model, load
from ..quantize import LayerSelector, QuantizationPlan, Quantizer, from_name, quantize
from ..select import SIMPLICITY, Assessment, Candidate, Selection, Selector
from .mixed import MixedPrecisionPlan, search_mixed_precision

__all__ = ["DEFAULT_METHODS", "DEFAULT_WIDTHS", "GridEntry", "SweepResult", "default_grid", "sweep"]

DEFAULT_METHODS = ("linear", "linear_lut", "kmeans_lut")
DEFAULT_WIDTHS = (16, 8, 7, 6, 5, 4, 3, 2, 1)

#: ``(label, done, total)``, as :class:`~mlquant.progress.ProgressBar` takes it.
Progress = Callable[[str, int, int], None]


@attrs.frozen
class GridEntry:
    """One candidate to make: a name and the quantizer (or per-layer plan) that makes it."""

    name: str
    """The candidate's name, e.g. ``kmeans_lut_6``; also its model file's name."""
    quantizer: Quantizer | QuantizationPlan
    """What quantizes it."""
    method: str
    """Its strategy, for reports and tie-breaking."""
    nbits: int | None = None
    """Its width, where there is one."""

    @classmethod
    def of(cls, quantizer: Quantizer | QuantizationPlan | GridEntry) -> GridEntry:
        """Wrap a quantizer (built-in or a user's) as a grid entry named after it."""
        if isinstance(quantizer, GridEntry):
            return quantizer
        if isinstance(quantizer, QuantizationPlan):
            return cls("plan", quantizer, "mixed")
        return cls(quantizer.name, quantizer, quantizer.method, quantizer.nbits)


def default_grid(methods: Sequence[str] = DEFAULT_METHODS, widths: Sequence[int] = DEFAULT_WIDTHS) -> tuple[GridEntry, ...]:
    """The grid users run by hand: every method at every width (16 bits is float16 for all)."""
    return tuple(GridEntry(f"{m}_{n}", from_name(m, n), m, n) for m in methods for n in widths)


@attrs.frozen
class SweepResult:
    """Everything a sweep measured and chose."""

    baseline: Evaluation
    """The float model's evaluation."""
    candidates: tuple[Candidate, ...]
    """Every candidate in grid order, with its evaluation (None if ``fast`` skipped it)."""
    selection: Selection
    """The choice, the frontier and every rejection's reason."""
    out_dir: Path | None
    """Where models and reports were written."""
    inputs_evaluated: int
    """Input-evaluations this run spent (cached results cost none)."""
    mixed: MixedPrecisionPlan | None = None
    """The mixed-precision search's plan and its calibration and validation figures, with ``mixed=True``."""

    @property
    def table(self) -> tuple[Assessment, ...]:
        """One row per candidate, smallest first, each with its evaluation's per-class figures."""
        return self.selection.rows


def sweep(
    model: Model | str | os.PathLike[str],
    data: ImageFolder | str | os.PathLike[str],
    *,
    out_dir: str | os.PathLike[str] | None = None,
    grid: Sequence[GridEntry | Quantizer | QuantizationPlan] | None = None,
    selector: Selector | None = None,
    select: LayerSelector | None = None,
    backend: Backend | None = None,
    preprocessing: Preprocessing = Preprocessing(),
    batch_size: int = 32,
    fast: bool = False,
    cache: bool = True,
    mixed: bool = False,
    progress: Progress | None = None,
) -> SweepResult:
    """Quantize ``model`` over a grid, evaluate every candidate on ``data`` and choose one.

    Args:
        model: The float model, or its path.
        data: Labelled class folders (or a flat folder, with ``Selector(metric="agreement")``).
        out_dir: Where to write candidate models, ``results.csv``, ``results.json``,
            ``report.md`` and plots; None writes nothing (and caches nothing).
        grid: Quantizers or plans to try; the 27-candidate default grid if None.
        selector: The tolerance; mean drop 1 point and worst class 5 points by default.
        select: Which weights the grid's quantizers touch (default: all but biases).
        backend: What runs the models; Core ML on macOS, the reference runtime elsewhere.
        preprocessing: How images are scaled and cropped.
        batch_size: Inputs per backend call.
        fast: Stop hopeless candidates early and stop at the smallest that passes.
        cache: Reuse and store evaluations in ``out_dir/.cache``.
        mixed: Also search a per-layer mixed-precision plan (see
            :func:`~mlquant.search_mixed_precision`) and add it to the candidates as ``mixed``.
        progress: Called with ``(label, done, total)`` as work proceeds.

    Returns:
        The evaluations, the selection and where the files went.

    Raises:
        DataError: ``out_dir`` lies inside the data folder, or the data cannot be used.
    """
    model = model if isinstance(model, Model) else load(model)
    data = data if isinstance(data, ImageFolder) else ImageFolder(data)
    selector = selector or Selector()
    entries = [GridEntry.of(e) for e in (default_grid() if grid is None else grid)]
    _check_names(entries)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        _check_out_dir(out, data.root)
    report = progress or _silent
    evaluator = Evaluator(data, backend=backend, preprocessing=preprocessing, batch_size=batch_size)
    runner = CachingEvaluator(evaluator, EvaluationCache(out / ".cache" if out is not None and cache else None), report)

    baseline = runner.evaluate(model, "float")
    models = _quantize_grid(model, entries, select, out, report)
    evaluations = _evaluate_grid(runner, entries, models, baseline, selector, fast)
    candidates = tuple(_candidate(e, models[e.name], evaluations[e.name], out) for e in entries)
    plan = None
    if mixed:
        plan = search_mixed_precision(
            model, data, max_mean_drop=selector.max_mean_drop, max_class_drop=selector.max_class_drop,
            metric=selector.metric, backend=evaluator.backend, preprocessing=preprocessing,
            batch_size=batch_size, cache=runner.store, progress=report,
        )
        small = quantize(model, plan)
        if out is not None:
            small.save(out / "models" / "mixed.mlmodel")
        evaluation = runner.evaluate(small, "mixed", reference=baseline)
        candidates = (*candidates, _candidate(GridEntry("mixed", plan, "mixed"), small, evaluation, out))
    result = SweepResult(baseline, candidates, selector.select(baseline, candidates), out, runner.spent, plan)
    if out is not None:
        from .report import write_sweep_report

        write_sweep_report(result)
    return result


def _quantize_grid(
    model: Model, entries: Sequence[GridEntry], select: LayerSelector | None, out: Path | None, report: Progress
) -> dict[str, Model]:
    """Every candidate model, saved under ``out/models`` when there is an output folder."""
    models = {}
    for i, entry in enumerate(entries):
        report("quantizing", i, len(entries))
        models[entry.name] = quantize(model, entry.quantizer, select=select)
        if out is not None:
            models[entry.name].save(out / "models" / f"{entry.name}.mlmodel")
    report("quantizing", len(entries), len(entries))
    return models


def _evaluate_grid(
    runner: CachingEvaluator,
    entries: Sequence[GridEntry],
    models: dict[str, Model],
    baseline: Evaluation,
    selector: Selector,
    fast: bool,
) -> dict[str, Evaluation | None]:
    """Evaluate every candidate; with ``fast``, smallest first, stopping hopeless ones and the search."""
    evaluations: dict[str, Evaluation | None] = {e.name: None for e in entries}
    if not fast:
        for entry in entries:
            evaluations[entry.name] = runner.evaluate(models[entry.name], entry.name, reference=baseline)
        return evaluations

    def hopeless(partial: Evaluation) -> bool:
        return selector.hopeless(baseline, partial) is not None

    order = sorted(entries, key=lambda e: (models[e.name].size_bytes, SIMPLICITY.get(e.method, 9), e.name))
    limit: int | None = None
    for entry in order:
        candidate = models[entry.name]
        if limit is not None and candidate.size_bytes > limit:
            break
        evaluation = runner.evaluate(candidate, entry.name, reference=baseline, stop=hopeless)
        evaluations[entry.name] = evaluation
        single = Candidate(entry.name, candidate.size_bytes, evaluation, entry.method, entry.nbits)
        if limit is None and evaluation.complete and selector.select(baseline, [single]).chosen is not None:
            limit = candidate.size_bytes
    return evaluations


def _silent(label: str, done: int, total: int) -> None:
    """A progress callback that shows nothing."""


def _candidate(entry: GridEntry, model: Model, evaluation: Evaluation | None, out: Path | None) -> Candidate:
    path = out / "models" / f"{entry.name}.mlmodel" if out is not None else None
    plan = None
    if isinstance(entry.quantizer, QuantizationPlan):
        plan = ", ".join(f"{k}: {v.name if v else 'float32'}" for k, v in entry.quantizer.per_layer.items())
    return Candidate(entry.name, model.size_bytes, evaluation, entry.method, entry.nbits, path, plan)


def _check_names(entries: Sequence[GridEntry]) -> None:
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            msg = f"two grid entries are named {entry.name!r}; give each quantizer a distinct name"
            raise SettingsError(msg)
        seen.add(entry.name)


def _check_out_dir(out: Path, data_root: Path) -> None:
    out_abs, data_abs = out.resolve(), data_root.resolve()
    if out_abs == data_abs or data_abs in out_abs.parents:
        msg = f"the output folder {out} lies inside the data folder {data_root}; mlquant never writes into its input"
        raise DataError(msg)
