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

from .._files import check_output
from .._progress import Progress, silent
from ..calibrate import calibrate
from ..evaluate import Backend, CachingEvaluator, Evaluation, EvaluationCache, ImageFolder, Preprocessing
from ..formats import Model, load
from ..quantize import LayerSelector, QuantizationPlan, Quantizer, quantize
from ..select import Selector
from ._evaluators import caching_evaluator, on_other_images
from .candidates import as_candidate, check_names, evaluate_grid, quantize_grid, remove_stale, unstorable
from .grid import GridEntry, data_aware_entries, default_grid, sweep_target
from .mixed import search_mixed_precision
from .parallel import make_runs
from .report import write_sweep_report
from .result import SweepResult

__all__ = ["sweep"]


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
    check_names(entries)
    left_out = unstorable(model, entries, cap)
    entries = [e for e in entries if e.name not in dict(left_out)]
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
    runner = caching_evaluator(data, backend=backend, preprocessing=preprocessing, batch_size=batch_size,
                               store=EvaluationCache(out / ".cache" if out is not None and cache else None),
                               report=report)

    models, skipped = quantize_grid(model, entries, select, out, report, cap)
    skipped = (*left_out, *skipped)
    entries = [e for e in entries if e.name in models]
    runs = make_runs(runner, executor)
    try:
        runs.submit("float", model)
        baseline = runs.result("float")
        evaluations = evaluate_grid(runs, report, entries, models, baseline, selector, fast)
    finally:
        runs.close()
    candidates = tuple(as_candidate(e, models[e.name], evaluations[e.name], out) for e in entries)
    plan = None
    if mixed:
        plan = search_mixed_precision(
            model, data, max_mean_drop=selector.max_mean_drop, max_class_drop=selector.max_class_drop,
            metric=selector.metric, select=select, backend=runner.evaluator.backend, preprocessing=preprocessing,
            batch_size=batch_size, cache=runner.store, calibration=calibration, progress=report, max_target=cap,
        )
        small = quantize(model, plan)
        if out is not None:
            small.save(out / "models" / f"mixed{small.suffix}")
        evaluation = runner.evaluate(small, "mixed", reference=baseline)
        models["mixed"] = small
        candidates = (*candidates, as_candidate(GridEntry("mixed", plan, "mixed"), small, evaluation, out))
    selection = selector.select(baseline, candidates)
    checks: tuple[Evaluation | None, Evaluation | None] = (None, None)
    if part is not None:
        chosen = selection.chosen.name if selection.chosen is not None else None
        checks = _calibration_checks(runner, part, model, models, chosen)
    result = SweepResult(baseline, candidates, selection, out, runner.spent, runner.reused,
                         plan, skipped, model.source, fast, calibration, *checks)
    if out is not None:
        remove_stale(out / "models", {c.path for c in candidates if c.path is not None})
        write_sweep_report(result)
    return result


def _calibration_checks(
    runner: CachingEvaluator, part: ImageFolder, model: Model, made: dict[str, Model], chosen: str | None
) -> tuple[Evaluation, Evaluation | None]:
    """The float model and the chosen candidate on the calibration part."""
    check = on_other_images(runner, part)
    base = check.evaluate(model, "float")
    if chosen is None or chosen not in made:
        return base, None
    return base, check.evaluate(made[chosen], chosen, reference=base)
