"""Sweep reports: ``results.csv``, ``report.md`` and the plots, beside ``results.json``.

Rendering only: ``results.json`` is written and read back by :mod:`.saved`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from .. import _text
from .._files import atomic_write
from ..errors import DataError
from ..evaluate.evaluator import Evaluation
from ..evaluate.results import SUMMARY_KEYS, CsvRow, write_csv
from ..select import Assessment, Selection
from ..select.text import points, summary_table, tolerance
from .mixed import MixedPrecisionPlan
from .result import SweepResult
from .saved import write_sweep_json

__all__ = ["markdown", "write_sweep_report"]

SIZE_PLOT = "size_vs_accuracy.png"
HEATMAP = "per_class_heatmap.png"


def write_sweep_report(result: SweepResult) -> dict[str, Path]:
    """Write the CSV, JSON, Markdown report and plots into ``result.out_dir``; return their paths."""
    out = result.out_dir
    if out is None:
        msg = "this sweep has no output folder to write its report into"
        raise DataError(msg)
    written = {
        "csv": write_csv(_csv_rows(result.baseline, result.selection), out / "results.csv"),
        "json": write_sweep_json(result, out / "results.json"),
    }
    from . import plots  # imports matplotlib, which only drawing needs

    written["size_plot"] = plots.size_vs_accuracy(result.selection, out / SIZE_PLOT)
    written["heatmap"] = plots.per_class_heatmap(result.baseline, result.selection, out / HEATMAP)
    text = markdown(result.baseline, result.selection, skipped=result.skipped)
    if result.mixed is not None:
        text += _mixed_markdown(result.mixed)
    if result.calibration is not None:
        text += _calibration_markdown(result)
    written["report"] = atomic_write(out / "report.md", text)
    return written


def _csv_rows(baseline: Evaluation, selection: Selection) -> list[CsvRow]:
    rows = [_row(baseline, "float", selection, None)]
    rows += [_row(r.candidate.evaluation, r.candidate.name, selection, r, r.candidate.size_bytes) for r in selection.rows]
    return rows


def _row(evaluation: Evaluation | None, name: str, selection: Selection, row: Assessment | None,
         size: int | None = None) -> CsvRow:
    figures: dict[str, float | str | None] = {}
    if evaluation is not None:
        figures = {key: getattr(evaluation, key) for key in SUMMARY_KEYS}
    figures["mean_drop_points"] = None if row is None or row.drop is None else round(row.drop, 2)
    figures["worst_class_drop_points"] = None if row is None or row.worst_drop is None else round(row.worst_drop, 2)
    figures["status"] = "float" if row is None else row.status
    figures["reasons"] = None if row is None else "; ".join(row.reasons) or None
    figures["plan"] = None if row is None else row.candidate.plan
    per_class = evaluation.per_class if evaluation is not None and evaluation.complete else {}
    return CsvRow(name, size if size is not None else evaluation.size_bytes, per_class, figures)  # type: ignore[union-attr]


def markdown(baseline: Evaluation, selection: Selection, *, skipped: tuple[tuple[str, str], ...] = ()) -> str:
    """The human report: the choice and why, the table, the reasons, per-class figures, provenance."""
    lines = ["# mlquant sweep report", ""]
    metric = selection.selector.metric
    base_size = baseline.size_bytes
    chosen = next((r for r in selection.rows if r.status == "chosen"), None)
    if chosen is not None and chosen.drop is not None:
        c = chosen.candidate
        lines.append(
            f"**Chosen: {c.name}**, {_text.size(c.size_bytes)} ({c.size_bytes / base_size:.1%} of the float model's "
            f"{_text.size(base_size)}), mean class {metric} {chosen.value:.1f}% "
            f"({points(-chosen.drop, True)} points"
            + (f", 95% CI {points(-chosen.drop_interval[1], True)} to {points(-chosen.drop_interval[0], True)}" if chosen.drop_interval else "")
            + ")"
            + (f", worst class {chosen.worst_class} {points(-chosen.worst_drop, True)} points." if chosen.worst_drop and chosen.worst_drop > 0 else ", no class loses accuracy.")
        )
        if c.plan:
            lines += ["", f"Per-layer plan: {c.plan}"]
    else:
        lines.append(f"**No candidate chosen**: {selection.reason}")
    lines += [
        "",
        f"Tolerance: {tolerance(selection.selector)}, metric {metric}. The float model scores {selection.baseline:.1f}% "
        f"mean class {metric} on {len(baseline.files)} inputs in {len(baseline.classes) or 1} classes.",
        "",
        "## Candidates",
        "",
        "```",
        summary_table(selection),
        "```",
        "",
        f"Frontier (smallest for its {metric}): {', '.join(selection.frontier) or 'none'}.",
    ]
    if selection.rejected:
        lines += ["", "## Why the others were not chosen", ""]
        lines += [f"- **{name}**: {'; '.join(reasons)}" for name, reasons in selection.rejected.items()]
    bigger = [r.candidate.name for r in selection.rows if r.status == "passes"]
    if bigger:
        lines += ["", f"Also within tolerance but larger: {', '.join(bigger)}."]
    if selection.provisional:
        lines += ["", f"**Provisional**: smaller candidates were not fully evaluated and might pass this tolerance: "
                      f"{', '.join(selection.incomplete)}. Sweeping again without `--fast` completes them."]
    if skipped:
        lines += ["", "## Skipped before evaluation", ""]
        lines += [f"- **{name}**: {why}" for name, why in skipped]
    if selection.indistinguishable:
        lines += ["", "## Not distinguishable on this data", "",
                  "With a few hundred inputs a few images decide a point; these neighbours differ by less than the data can show (exact McNemar test, p > 0.05):", ""]
        lines += [f"- {a} and {b} (p = {p:.3f})" for a, b, p in selection.indistinguishable]
    lines += ["", "## Per-class " + metric, "", *_per_class_markdown(baseline, selection)]
    lines += ["", "## How this was measured", "", *_provenance(baseline)]
    lines += ["", "## Plots", "", f"![size against {metric}]({SIZE_PLOT})", "", f"![per-class {metric}]({HEATMAP})"]
    return "\n".join(lines) + "\n"


def _mixed_markdown(plan: MixedPrecisionPlan) -> str:
    """The mixed-precision section: the plan, its evidence, and both data parts' figures."""
    lines = ["", "## Mixed precision", "",
             f"Searched in {plan.seconds:.0f} s on the calibration part ({len(plan.calibration.files)} inputs, "  # type: ignore[union-attr]
             f"{plan.evaluations} assembled plans verified); reported on the held-out validation part "
             f"({len(plan.validation.files)} inputs). Size {_text.size(plan.size_bytes)}.", "",  # type: ignore[union-attr]
             "| part | float | mixed | change | worst class | top-1 agreement |", "|---|---:|---:|---:|---|---:|"]
    for part, evaluation, base in (("calibration", plan.calibration, plan.baseline_calibration),
                                   ("validation", plan.validation, plan.baseline_validation)):
        if evaluation is None or base is None:
            continue
        drops = {c: 100 * (base.per_class[c] - evaluation.per_class.get(c, 0.0)) for c in base.classes}
        worst = max(drops, key=lambda c: drops[c]) if drops else "-"
        lines.append(
            f"| {part} | {100 * (base.mean_class_accuracy or 0):.1f} | {100 * (evaluation.mean_class_accuracy or 0):.1f} | "
            f"{points(100 * ((evaluation.mean_class_accuracy or 0) - (base.mean_class_accuracy or 0)), True)} | "
            f"{worst} {points(-drops.get(worst, 0.0), True)} | {100 * (evaluation.top1_agreement or 0):.1f}% |")
    lines += ["", "| weight | storage | bytes | divergence (KL) |", "|---|---|---:|---:|"]
    for layer in plan.sensitivity:
        name = plan.per_weight.get(layer.weight)
        index = layer.options.index(name.name) if name else 0
        estimated = "" if layer.measured[index] else " (est.)"
        lines.append(f"| {layer.weight} | {layer.options[index]} | {layer.nbytes[index]:,} | {layer.divergence[index]:.2g}{estimated} |")
    return "\n".join(lines) + "\n"


def _calibration_markdown(result: SweepResult) -> str:
    """The data-aware section: what was calibrated on, and both data parts' figures."""
    calibration = result.calibration
    assert calibration is not None
    lines = ["", "## Data-aware candidates", "",
             f"The `_data` candidates were calibrated on {len(calibration.files)} inputs that no candidate is judged "
             f"on; every figure above comes from the other {len(result.baseline.files)} inputs. "
             "On the calibration part:", "",
             "| model | mean class accuracy | top-1 agreement |", "|---|---:|---:|"]
    for name, evaluation in (("float", result.calibration_baseline), ("chosen", result.calibration_chosen)):
        if evaluation is not None:
            agreement = "" if evaluation.top1_agreement is None else f"{100 * evaluation.top1_agreement:.1f}%"
            lines.append(f"| {name if name == 'float' else evaluation.name} | "
                         f"{100 * (evaluation.mean_class_accuracy or 0):.1f} | {agreement} |")
    return "\n".join(lines) + "\n"


def _per_class_markdown(baseline: Evaluation, selection: Selection) -> list[str]:
    classes = list(baseline.classes)
    if not classes:
        return ["(unlabelled data: no classes)"]
    header = "| model | " + " | ".join(classes) + " |"
    rule = "|---|" + "---:|" * len(classes)
    lines = [header, rule, "| float | " + " | ".join(f"{100 * baseline.per_class[c]:.0f}" for c in classes) + " |"]
    for row in selection.rows:
        ev = row.candidate.evaluation
        if ev is None or not ev.complete:
            continue
        lines.append(f"| {row.candidate.name} | " + " | ".join(f"{100 * ev.per_class.get(c, 0.0):.0f}" for c in classes) + " |")
    return lines


def _provenance(baseline: Evaluation) -> list[str]:
    measured = dict(baseline.measured)
    lines = [f"- {key}: {value}" for key, value in measured.items()]
    if baseline.skipped:
        reasons = Counter(s.reason.split(":")[0] for s in baseline.skipped)
        lines.append(f"- skipped files: {len(baseline.skipped)} ({', '.join(f'{n} {r}' for r, n in reasons.most_common())})")
    return lines
