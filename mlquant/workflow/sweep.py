"""The whole Goldilocks workflow in one call: quantize a grid, evaluate, select, report.

    >>> result = mlquant.sweep("food.mlmodel", "testing_data", out_dir="food-sweep")
    >>> result.selection.chosen

The default grid (:mod:`.grid`) is the one people run by hand with coremltools: 25 candidates.
Candidates whose dequantized weights are identical are evaluated once. With
``fast=True`` candidates are visited smallest first, each stops as soon as it is
statistically certain to miss the tolerance, and the search ends at the first candidate that
meets it, which is always evaluated on every input. Evaluations are cached by content in
``out_dir/.cache``, so an interrupted sweep resumes and a wider grid evaluates only what is new.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path

import attrs

from .._files import check_output
from .._progress import Progress, silent
from ..calibrate import Calibration, calibrate
from ..errors import SettingsError
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
from ..quantize import (
    LayerSelector,
    QuantizationPlan,
    Quantizer,
    as_plan,
    quantize,
    storage_problem,
)
from ..quantize.apply import Notes, quantize_with_notes
from ..select import SIMPLICITY, Assessment, Candidate, Selection, Selector
from .grid import DEFAULT_METHODS, DEFAULT_WIDTHS, GridEntry, data_aware_entries, default_grid, sweep_target
from .mixed import MixedPrecisionPlan, search_mixed_precision
from .parallel import LocalRuns, ShardedRuns, make_runs

__all__ = [
    "DEFAULT_METHODS",
    "DEFAULT_WIDTHS",
    "GridEntry",
    "SweepResult",
    "data_aware_entries",
    "default_grid",
    "sweep",
    "sweep_target",
]


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
    make_non_updatable: bool = False,
    target: str | int | None = None,
    data_aware: bool = False,
    calibration_data: ImageFolder | str | os.PathLike[str] | None = None,
    calibration_share: float = 0.5,
    calibration_inputs: int = 256,
    seed: int = 0,
    progress: Progress | None = None,
    executor: Executor | int | None = None,
) -> SweepResult:
    """Quantize ``model`` over a grid, evaluate every candidate on ``data`` and choose one.

    Args:
        model: The float model, or its path.
        data: Labelled class folders (or a flat folder, with ``Selector(metric="agreement")``).
        out_dir: Where to write candidate models, ``results.csv``, ``results.json``,
            ``report.md`` and plots; None writes nothing (and caches nothing).
        grid: Quantizers or plans to try; the 25-candidate default grid if None.
        selector: The tolerance; mean drop 1 point and worst class 5 points by default.
        select: Which weights the grid's quantizers touch (default: all but biases).
        backend: What runs the models; Core ML on macOS, the reference runtime elsewhere.
        preprocessing: How images are scaled and cropped.
        batch_size: Inputs per backend call.
        fast: Stop hopeless candidates early and stop at the smallest that passes.
        cache: Reuse and store evaluations in ``out_dir/.cache``.
        mixed: Also search a per-layer mixed-precision plan (see
            :func:`~mlquant.search_mixed_precision`, over the weights ``select`` picks) and add it
            to the candidates as ``mixed``.
        make_non_updatable: Switch off on-device training first, so that updatable layers are
            quantized too (by default their weights stay float32, as Core ML requires).
        target: The latest deployment target the candidates may need (``"iOS18"``); by default
            iOS17, or the model's own target if later (see :func:`sweep_target`). Candidates
            the model's format cannot store by then are left out, with why, in
            :attr:`SweepResult.skipped`.
        data_aware: Also try every grid quantizer but float16 as a :class:`~mlquant.DataAware`
            one (named ``<name>_data``), calibrated on images the candidates are not judged
            on: ``calibration_data`` if given, else a stratified, seeded ``calibration_share``
            of ``data``, the rest of which is then the judged part. With ``mixed``, the search
            chooses among data-aware options too.
        calibration_data: Images to calibrate on, instead of a part of ``data`` (pass ``data``
            itself to calibrate on the judged images, knowingly).
        calibration_share: The share of each class of ``data`` set aside for calibration.
        calibration_inputs: At most this many of the calibration images are run (stratified).
        seed: Seeds the split and the calibration sample.
        progress: Called with ``(label, done, total)`` as work proceeds.
        executor: Evaluate the baseline and the candidates on this
            :class:`concurrent.futures.Executor` (a process pool, a thread pool, a Dask
            ``Client.get_executor()``), one shard of the data per task, or on that many local
            processes given a number; the results are the same as without. Workers read the
            images themselves, from ``data``'s path (see ``docs/scaling.md``).

    Returns:
        The evaluations, the selection and where the files went. Candidates that are not
        smaller than ``model`` are left out (see :attr:`SweepResult.skipped`).

    Raises:
        OutputError: ``out_dir`` lies inside the data folder, is a file, or cannot be written.
        DataError: The data cannot be used.
    """
    model = model if isinstance(model, Model) else load(model)
    if make_non_updatable:
        model = model.without_updates()
    data = data if isinstance(data, ImageFolder) else ImageFolder(data)
    selector = selector or Selector()
    cap = sweep_target(model, target)
    entries = [GridEntry.of(e) for e in (default_grid(model=model, max_target=cap) if grid is None else grid)]
    _check_names(entries)
    unstorable = [(e.name, problem) for e in entries if not isinstance(e.quantizer, QuantizationPlan)
                  and (problem := storage_problem(model, e.quantizer, cap)) is not None]
    if unstorable and len(unstorable) == len(entries):
        msg = f"the model's format stores none of the grid's candidates: {unstorable[0][1]}"
        raise SettingsError(msg)
    entries = [e for e in entries if e.name not in dict(unstorable)]
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        check_output(out, folder=True, data=[data.root], inputs=[model.path] if model.path else [],
                     what="the output folder")
    report = progress or silent
    calibration = part = None
    if data_aware:
        if calibration_data is not None:
            part = calibration_data if isinstance(calibration_data, ImageFolder) else ImageFolder(calibration_data)
        else:
            part, data = data.split(calibration_share, seed=seed)
        calibration = calibrate(model, part, inputs=calibration_inputs, seed=seed, progress=report,
                                preprocessing=preprocessing, batch_size=batch_size,
                                cache=out / ".cache" if out is not None and cache else None)
        entries += data_aware_entries(entries, calibration)
    evaluator = Evaluator(data, backend=backend, preprocessing=preprocessing, batch_size=batch_size)
    runner = CachingEvaluator(evaluator, EvaluationCache(out / ".cache" if out is not None and cache else None), report)

    models, skipped = _quantize_grid(model, entries, select, out, report, cap)
    skipped = (*unstorable, *skipped)
    entries = [e for e in entries if e.name in models]
    runs = make_runs(runner, executor)
    try:
        runs.submit("float", model)
        baseline = runs.result("float")
        evaluations = _evaluate_grid(runs, report, entries, models, baseline, selector, fast)
    finally:
        runs.close()
    candidates = tuple(_candidate(e, models[e.name], evaluations[e.name], out) for e in entries)
    plan = None
    if mixed:
        plan = search_mixed_precision(
            model, data, max_mean_drop=selector.max_mean_drop, max_class_drop=selector.max_class_drop,
            metric=selector.metric, select=select, backend=evaluator.backend, preprocessing=preprocessing,
            batch_size=batch_size, cache=runner.store, calibration=calibration, progress=report, max_target=cap,
        )
        small = quantize(model, plan)
        if out is not None:
            small.save(out / "models" / f"mixed{small.suffix}")
        evaluation = runner.evaluate(small, "mixed", reference=baseline)
        models["mixed"] = small
        candidates = (*candidates, _candidate(GridEntry("mixed", plan, "mixed"), small, evaluation, out))
    selection = selector.select(baseline, candidates)
    checks: tuple[Evaluation | None, Evaluation | None] = (None, None)
    if part is not None:
        chosen = selection.chosen.name if selection.chosen is not None else None
        checks = _calibration_checks(runner, part, model, models, chosen)
    result = SweepResult(baseline, candidates, selection, out, runner.spent, runner.reused,
                         plan, skipped, model.source, fast, calibration, *checks)
    if out is not None:
        from .report import write_sweep_report

        _remove_stale(out / "models", {c.path for c in candidates if c.path is not None})
        write_sweep_report(result)
    return result


def _calibration_checks(
    runner: CachingEvaluator, part: ImageFolder, model: Model, made: dict[str, Model], chosen: str | None
) -> tuple[Evaluation, Evaluation | None]:
    """The float model and the chosen candidate on the calibration part."""
    check = CachingEvaluator(Evaluator(part, backend=runner.evaluator.backend,
                                       preprocessing=runner.evaluator.preprocessing,
                                       batch_size=runner.evaluator.batch_size), runner.store, runner.report)
    base = check.evaluate(model, "float")
    if chosen is None or chosen not in made:
        return base, None
    return base, check.evaluate(made[chosen], chosen, reference=base)


def _remove_stale(folder: Path, kept: set[Path]) -> None:
    """Delete the model files an earlier sweep into ``folder`` left that this one does not list.

    Only ``.mlmodel`` files and ``.mlpackage`` folders are touched: ``models/`` is mlquant's own.
    """
    import shutil

    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry in kept or entry.suffix not in {".mlmodel", ".mlpackage"}:
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _quantize_grid(
    model: Model, entries: Sequence[GridEntry], select: LayerSelector | None, out: Path | None, report: Progress,
    max_target: int,
) -> tuple[dict[str, Model], tuple[tuple[str, str], ...]]:
    """Every candidate smaller than ``model``, saved under ``out/models``; and the others, with why
    (not smaller, or a form the model's format cannot store).

    The notes of every candidate are gathered into one warning of each kind.
    """
    models: dict[str, Model] = {}
    skipped: list[tuple[str, str]] = []
    kept: set[str] = set()
    requantized: set[str] = set()
    if entries:
        as_plan(entries[0].quantizer, select).check(model)  # the selection's errors are every entry's
    for i, entry in enumerate(entries):
        report("quantizing", i, len(entries))
        try:
            candidate, notes = quantize_with_notes(model, as_plan(entry.quantizer, select), max_target=max_target)
        except SettingsError as error:  # a form this model's format cannot store (2-bit linear in an ML Program)
            skipped.append((entry.name, str(error)))
            continue
        kept.update(notes.kept)
        requantized.update(notes.requantized)
        if notes.size_ratio >= 1:
            skipped.append((entry.name, f"not smaller than the input ({notes.size_ratio:.0%} of its size)"))
            continue
        models[entry.name] = candidate
        if out is not None:
            candidate.save(out / "models" / f"{entry.name}{candidate.suffix}")
    report("quantizing", len(entries), len(entries))
    Notes(tuple(sorted(kept)), tuple(sorted(requantized))).warn()
    return models, tuple(skipped)


def _evaluate_grid(
    runs: LocalRuns | ShardedRuns,
    report: Progress,
    entries: Sequence[GridEntry],
    models: dict[str, Model],
    baseline: Evaluation,
    selector: Selector,
    fast: bool,
) -> dict[str, Evaluation | None]:
    """Evaluate every candidate; with ``fast``, smallest first, stopping hopeless ones and the search.

    Every candidate is submitted first (an executor starts on all of them; locally nothing runs
    yet), then results are taken in order, so that the search stops where a serial one does.
    """
    evaluations: dict[str, Evaluation | None] = {e.name: None for e in entries}

    def hopeless(partial: Evaluation) -> bool:
        return selector.hopeless(baseline, partial) is not None

    order = list(entries)
    if fast:
        order.sort(key=lambda e: (models[e.name].size_bytes, SIMPLICITY.get(e.method, 9), e.name))
    for entry in order:
        runs.submit(entry.name, models[entry.name], reference=baseline, stop=hopeless if fast else None)
    limit: int | None = None
    for i, entry in enumerate(order):
        report("candidates", i, len(order))
        candidate = models[entry.name]
        if limit is not None and candidate.size_bytes > limit:
            break
        evaluation = runs.result(entry.name)
        evaluations[entry.name] = evaluation
        single = Candidate(entry.name, candidate.size_bytes, evaluation, entry.method, entry.nbits)
        if fast and limit is None and evaluation.complete and selector.select(baseline, [single]).chosen is not None:
            limit = candidate.size_bytes
    report("candidates", len(order), len(order))
    return evaluations


def _candidate(entry: GridEntry, model: Model, evaluation: Evaluation | None, out: Path | None) -> Candidate:
    path = out / "models" / f"{entry.name}{model.suffix}" if out is not None else None
    plan = None
    if isinstance(entry.quantizer, QuantizationPlan):
        plan = entry.quantizer.describe()
    return Candidate(entry.name, model.size_bytes, evaluation, entry.method, entry.nbits, path, plan)


def _check_names(entries: Sequence[GridEntry]) -> None:
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            msg = f"two grid entries are named {entry.name!r}; give each quantizer a distinct name"
            raise SettingsError(msg)
        seen.add(entry.name)
