"""The sweep's two PNG plots, drawn with matplotlib (imported only here, when a report is written).

* ``size_vs_accuracy.png``, three panels sharing the size axis: every candidate's
  class-averaged metric (all of them, then near the float model) with the mean-drop band, and
  its worst class's drop with the worst-class limit. Colour is the method; the marker says what
  became of the candidate: a large star for the chosen one, a filled circle for one that
  passes, ``x`` for a mean drop over the limit, a down triangle for a worst class over it
  (mean within), a filled square for a collapsed model, a hollow circle for one stopped early.
* ``per_class_heatmap.png``: the float model's row, then every fully evaluated candidate
  (smallest first) by class and mean; each cell shows the metric in percent and is coloured by
  its change against the float model, and the chosen row is framed.

Both are deterministic: the same selection draws byte-identical files.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_write
from ..evaluate import Evaluation
from ..select import Assessment, Selection

__all__ = ["per_class_heatmap", "size_vs_accuracy"]

_COLORS = {"linear": "#1f77b4", "linear_symmetric": "#17becf", "linear_lut": "#ff7f0e", "kmeans_lut": "#2ca02c",
           "float16": "#7f7f7f", "mixed": "#d62728"}
_OTHER = "#9467bd"
#: Marker, size and whether filled, by what became of a candidate.
_MARKS = {
    "chosen": ("*", 260, True, "chosen"),
    "passes": ("o", 40, True, "passes"),
    "mean": ("X", 60, True, "rejected: mean drop"),
    "worst class": ("v", 55, True, "rejected: worst class"),
    "collapsed": ("s", 40, True, "rejected: collapsed"),
    "stopped": ("o", 45, False, "stopped early (partial)"),
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    _pyplot().close(figure)
    return atomic_write(path, buffer.getvalue())


def _mark(row: Assessment) -> str:
    """Which entry of ``_MARKS`` draws ``row``."""
    if row.status in {"chosen", "passes"}:
        return row.status
    if row.status in {"stopped early", "undecided"}:
        return "stopped"
    for kind in ("collapsed", "mean", "worst class"):
        if kind in row.fails:
            return kind
    return "passes"


def size_vs_accuracy(selection: Selection, path: Path) -> Path:
    """Draw size against the class-averaged metric (all, then near the float model) and the worst class's drop."""
    plt = _pyplot()
    figure, (whole, zoom, worst) = plt.subplots(1, 3, figsize=(15, 4.8))
    rows = [r for r in selection.rows if r.value is not None]
    scale, unit = (1e6, "MB") if selection.baseline_bytes >= 1e6 else (1e3, "KB")
    metric = selection.selector.metric
    for axes in (whole, zoom):
        _limits(axes, selection, mean=True)
        _points(axes, rows, scale, lambda r: r.value)
        axes.scatter([selection.baseline_bytes / scale], [selection.baseline], marker="D", color="black", s=45,
                     zorder=4)
        frontier = [r for r in rows if r.candidate.name in selection.frontier]
        axes.plot([r.candidate.size_bytes / scale for r in frontier], [r.value for r in frontier],
                  color="#555555", linewidth=1, linestyle="--", zorder=2)
        axes.set_ylabel(f"mean class {metric} (%)")
    band = selection.selector.max_mean_drop or 1.0
    near = [r.value for r in rows if r.value is not None and r.value >= selection.baseline - 4 * band]
    zoom.set_ylim(selection.baseline - 4 * band, max([selection.baseline, *near]) + band / 2)
    changes = [-r.worst_drop for r in rows if r.worst_drop is not None]
    worst.set_ylim(min([0.0, *changes]) - 3, max([0.0, *changes]) + 3)
    _limits(worst, selection, mean=False)
    _points(worst, rows, scale, lambda r: None if r.worst_drop is None else -r.worst_drop)
    worst.axhline(0, color="black", linewidth=0.8)
    worst.scatter([selection.baseline_bytes / scale], [0], marker="D", color="black", s=45, zorder=4)
    worst.set_ylabel("worst class change (points)")
    for axes, title in ((whole, f"Size against {metric}"), (zoom, "Near the float model"),
                        (worst, "Worst class against the float model")):
        axes.set_title(title)
        axes.set_xlabel(f"model size ({unit})")
        axes.grid(True, alpha=0.3)
    _legend(figure, selection, rows)
    figure.tight_layout(rect=(0, 0.12, 1, 1))
    return _save(figure, path)


def _limits(axes: Any, selection: Selection, *, mean: bool) -> None:
    """Shade what the tolerance allows: a band below the float model, or the worst-class limit."""
    if mean:
        axes.axhline(selection.baseline, color="black", linewidth=0.8)
        if selection.selector.max_mean_drop is not None:
            axes.axhspan(selection.baseline - selection.selector.max_mean_drop, selection.baseline,
                         color="#2ca02c", alpha=0.12)
    elif selection.selector.max_class_drop is not None:
        limit = -selection.selector.max_class_drop
        axes.axhspan(limit, max(axes.get_ylim()), color="#2ca02c", alpha=0.12)
        axes.axhline(limit, color="#2ca02c", linewidth=1)


def _points(axes: Any, rows: list[Assessment], scale: float, y: Any) -> None:
    for row in rows:
        marker, size, filled, _ = _MARKS[_mark(row)]
        color = _COLORS.get(row.candidate.method, _OTHER)
        axes.scatter([row.candidate.size_bytes / scale], [y(row)], marker=marker, s=size, zorder=5 if filled else 3,
                     facecolors=color if filled else "none", edgecolors="black" if marker == "*" else color,
                     linewidths=1.2)


def _legend(figure: Any, selection: Selection, rows: list[Assessment]) -> None:
    """One legend under the panels: methods by colour, outcomes by marker, the limits and the float model."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [Line2D([], [], marker="D", color="black", linestyle="", label="float model")]
    for method in dict.fromkeys(r.candidate.method for r in rows):
        handles.append(Patch(color=_COLORS.get(method, _OTHER), label=method))
    for kind in dict.fromkeys(_mark(r) for r in rows):
        marker, _, filled, label = _MARKS[kind]
        handles.append(Line2D([], [], marker=marker, linestyle="", markersize=11 if marker == "*" else 7,
                              markerfacecolor="#444444" if filled else "none", markeredgecolor="#444444",
                              label=label))
    chosen = selection.chosen.name if selection.chosen else "none"
    handles.append(Patch(color="#2ca02c", alpha=0.25, label=f"within tolerance (chosen: {chosen})"))
    handles.append(Line2D([], [], color="#555555", linestyle="--", label="frontier"))
    figure.legend(handles=handles, loc="lower center", ncol=min(7, len(handles)), fontsize=8, frameon=False)


def per_class_heatmap(baseline: Evaluation, selection: Selection, path: Path) -> Path:
    """Draw the float model and every fully evaluated candidate by class: the metric, coloured by its change."""
    plt = _pyplot()
    rows = [r for r in selection.rows if r.candidate.evaluation is not None and r.candidate.evaluation.complete]
    classes = list(baseline.classes)
    base = [100 * baseline.per_class.get(c, 0.0) for c in classes]
    table = [[*base, float(np.mean(base))]]
    names = ["float"]
    for r in rows:
        scores = [100 * r.candidate.evaluation.per_class.get(c, 0.0) for c in classes]  # type: ignore[union-attr]
        table.append([*scores, float(np.mean(scores))])
        names.append(f"{r.candidate.name}  ({_MARKS[_mark(r)][3]})")
    values = np.array(table) if classes else np.zeros((len(names), 1))
    change = values - values[0]
    figure, axes = plt.subplots(figsize=(2.8 + 0.9 * (len(classes) + 1), 1.3 + 0.3 * len(names)))
    image = axes.imshow(np.clip(change, -20, 20), cmap="RdBu", vmin=-20, vmax=20, aspect="auto")
    for i, line in enumerate(values):
        for j, value in enumerate(line):
            faint = abs(change[i, j]) < 12
            axes.text(j, i, f"{value:.1f}" if j == len(classes) else f"{value:.0f}", ha="center", va="center", fontsize=7,
                      color="black" if faint else "white", fontweight="bold" if i == 0 else "normal")
    figure.colorbar(image, ax=axes, label="change against float (points)", shrink=0.8)
    axes.set_xticks(range(len(classes) + 1), [*classes, "mean"], rotation=30, ha="right", fontsize=8)
    axes.set_yticks(range(len(names)), names, fontsize=7)
    axes.axhline(0.5, color="black", linewidth=1.2)
    chosen = next((i + 1 for i, r in enumerate(rows) if r.status == "chosen"), None)
    if chosen is not None:
        axes.add_patch(plt.Rectangle((-0.5, chosen - 0.5), len(classes) + 1, 1, fill=False, edgecolor="black",
                                     linewidth=2.2, zorder=5))
        axes.get_yticklabels()[chosen].set_fontweight("bold")
    axes.set_title(f"Per-class {selection.selector.metric} (%), coloured by change against float")
    figure.tight_layout()
    return _save(figure, path)
