"""A sweep's candidates: the grid's entries quantized, saved and evaluated.

Entries the model's format cannot store by the sweep's target, and candidates that are not
smaller than the input, are left out with why. With ``fast``, candidates are evaluated
smallest first, hopeless ones are stopped early, and the search ends at the first that meets
the tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .._progress import Progress
from ..errors import SettingsError
from ..evaluate import Evaluation
from ..formats import Model
from ..quantize import LayerSelector, QuantizationPlan, as_plan, storage_problem
from ..quantize.apply import Notes, quantize_with_notes
from ..select import SIMPLICITY, Candidate, Selector
from .grid import GridEntry
from .parallel import LocalRuns, ShardedRuns

__all__ = ["as_candidate", "check_names", "evaluate_grid", "quantize_grid", "remove_stale", "unstorable"]


def check_names(entries: Sequence[GridEntry]) -> None:
    """Raise :class:`~mlquant.errors.SettingsError` if two entries share a name (their model files would)."""
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            msg = f"two grid entries are named {entry.name!r}; give each quantizer a distinct name"
            raise SettingsError(msg)
        seen.add(entry.name)


def unstorable(model: Model, entries: Sequence[GridEntry], max_target: int) -> list[tuple[str, str]]:
    """The entries whose forms ``model``'s format cannot store by ``max_target``, with why.

    Raises:
        SettingsError: The format stores none of them.
    """
    left_out = [(e.name, problem) for e in entries if not isinstance(e.quantizer, QuantizationPlan)
                and (problem := storage_problem(model, e.quantizer, max_target)) is not None]
    if left_out and len(left_out) == len(entries):
        msg = f"the model's format stores none of the grid's candidates: {left_out[0][1]}"
        raise SettingsError(msg)
    return left_out


def quantize_grid(
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


def evaluate_grid(
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


def as_candidate(entry: GridEntry, model: Model, evaluation: Evaluation | None, out: Path | None) -> Candidate:
    """The :class:`~mlquant.select.Candidate` ``entry``'s model is, its file under ``out/models``."""
    path = out / "models" / f"{entry.name}{model.suffix}" if out is not None else None
    plan = None
    if isinstance(entry.quantizer, QuantizationPlan):
        plan = entry.quantizer.describe()
    return Candidate(entry.name, model.size_bytes, evaluation, entry.method, entry.nbits, path, plan)


def remove_stale(folder: Path, kept: set[Path]) -> None:
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

