"""The sweep's two PNG plots, drawn with matplotlib (an optional extra, imported only here).

* ``size_vs_accuracy.png``: every candidate's size against its class-averaged metric, the
  float model's level with the tolerance band below it, the Pareto frontier as a line and
  the chosen model circled.
* ``per_class_heatmap.png``: candidates (smallest first) by classes, each cell the class's
  metric in percent.

Both are deterministic: the same selection draws byte-identical files.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from .._files import atomic_write
from ..select.selector import Selection

__all__ = ["per_class_heatmap", "size_vs_accuracy"]

_COLORS = {"linear": "#1f77b4", "linear_lut": "#ff7f0e", "kmeans_lut": "#2ca02c", "float16": "#7f7f7f", "mixed": "#d62728"}


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


def size_vs_accuracy(selection: Selection, path: Path) -> Path:
    """Draw size against the class-averaged metric: every candidate, and a zoom on the tolerance band."""
    plt = _pyplot()
    figure, (whole, zoom) = plt.subplots(1, 2, figsize=(12, 5))
    rows = [r for r in selection.rows if r.value is not None and r.status not in {"stopped early", "undecided"}]
    for axes in (whole, zoom):
        _draw(axes, selection, rows)
    band = selection.selector.max_mean_drop or 1.0
    values = [r.value for r in rows if r.value is not None]
    zoom.set_ylim(selection.baseline - 4 * band, max([selection.baseline, *values]) + band / 2)
    whole.set_title("Size against accuracy")
    zoom.set_title("Near the float model")
    whole.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    return _save(figure, path)


def _draw(axes: Any, selection: Selection, rows: list[Any]) -> None:
    scale, unit = (1e6, "MB") if selection.baseline_bytes >= 1e6 else (1e3, "KB")
    for method in dict.fromkeys(r.candidate.method for r in rows):
        points = [r for r in rows if r.candidate.method == method]
        axes.scatter([r.candidate.size_bytes / scale for r in points], [r.value for r in points],
                     label=method, color=_COLORS.get(method, "#9467bd"), s=28, zorder=3)
    base = selection.baseline
    axes.axhline(base, color="black", linewidth=0.8)
    axes.scatter([selection.baseline_bytes / scale], [base], marker="s", color="black", s=36, zorder=3, label="float model")
    if selection.selector.max_mean_drop is not None:
        axes.axhspan(base - selection.selector.max_mean_drop, base, color="#2ca02c", alpha=0.12,
                     label=f"tolerance ({selection.selector.max_mean_drop:g} point mean drop)")
    frontier = [r for r in rows if r.candidate.name in selection.frontier]
    axes.plot([r.candidate.size_bytes / scale for r in frontier], [r.value for r in frontier],
              color="#555555", linewidth=1, linestyle="--", label="frontier", zorder=2)
    for row in rows:
        if row.status == "chosen":
            axes.scatter([row.candidate.size_bytes / scale], [row.value], s=160, facecolors="none",
                         edgecolors="red", linewidths=2, zorder=4, label=f"chosen: {row.candidate.name}")
    axes.set_xlabel(f"model size ({unit})")
    axes.set_ylabel(f"mean class {selection.selector.metric} (%)")
    axes.grid(True, alpha=0.3)


def per_class_heatmap(selection: Selection, path: Path) -> Path:
    """Draw candidates by classes, each cell the class's metric in percent."""
    plt = _pyplot()
    rows = [r for r in selection.rows if r.candidate.evaluation is not None and r.candidate.evaluation.complete]
    classes = list(rows[0].candidate.evaluation.classes) if rows else []  # type: ignore[union-attr]
    values = [[100 * r.candidate.evaluation.per_class.get(c, 0.0) for c in classes] for r in rows]  # type: ignore[union-attr]
    figure, axes = plt.subplots(figsize=(1.2 + 0.9 * max(1, len(classes)), 1.2 + 0.32 * max(1, len(rows))))
    if rows and classes:
        image = axes.imshow(values, cmap="viridis", vmin=0, vmax=100, aspect="auto")
        for i, line in enumerate(values):
            for j, value in enumerate(line):
                axes.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=7,
                          color="white" if value < 50 else "black")
        figure.colorbar(image, ax=axes, label="%")
    axes.set_xticks(range(len(classes)), classes, rotation=30, ha="right", fontsize=8)
    names = [f"> {r.candidate.name}" if r.status == "chosen" else r.candidate.name for r in rows]
    axes.set_yticks(range(len(rows)), names, fontsize=7)
    axes.set_title(f"Per-class {selection.selector.metric} (%)")
    figure.tight_layout()
    return _save(figure, path)
