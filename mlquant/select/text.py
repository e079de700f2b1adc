"""Selections as text: the candidates table and the tolerance in words.

Used by ``str(selection)``, the command line and the reports, so every place shows the same
table. Rendering only; it imports the selector's types for annotations alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _text

if TYPE_CHECKING:
    from .selector import Selection, Selector

__all__ = ["chosen_line", "plural", "points", "summary_table", "tolerance"]


def points(value: float | None, signed: bool = False) -> str:
    """A figure in percentage points with one decimal (``-`` for None, never ``-0.0``)."""
    if value is None:
        return "-"
    value = round(value, 1) + 0.0
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def plural(value: float, unit: str = "point") -> str:
    """``1 point``, ``2.5 points``."""
    return f"{value:g} {unit}{'' if value == 1 else 's'}"


def tolerance(selector: Selector) -> str:
    """The tolerance in words: ``mean drop at most 1 point, worst class drop: no limit``."""
    mean = f"at most {plural(selector.max_mean_drop)}" if selector.max_mean_drop is not None else "no limit"
    worst = f"at most {plural(selector.max_class_drop)}" if selector.max_class_drop is not None else "no limit"
    return f"mean drop {mean}, worst class drop {worst}"


def summary_table(selection: Selection) -> str:
    """The candidates as an aligned text table, smallest first."""
    rows = []
    for row in selection.rows:
        c = row.candidate
        interval = f"{row.interval[0]:.1f}-{row.interval[1]:.1f}" if row.interval else "-"
        worst = f"{row.worst_class} {points(-row.worst_drop, True)}" if row.worst_drop is not None and row.worst_drop > 0 else "-"
        rows.append((
            c.name, _text.size(c.size_bytes), f"{c.size_bytes / selection.baseline_bytes:.1%}", points(row.value),
            interval, points(-row.drop, True) if row.drop is not None else "-", worst, row.status,
        ))
    headers = ["model", "size", "of float", selection.selector.metric, "95% CI", "change", "worst class", "status"]
    return _text.table(headers, rows, right=(1, 2, 3, 5))


def chosen_line(selection: Selection) -> str:
    """``chosen: kmeans_lut_7, 1.33 MB (35.8% of the float model)``, or why nothing was."""
    mark = " (provisional)" if selection.provisional else ""
    if selection.chosen is None:
        return f"no candidate chosen{mark}: {selection.reason}"
    chosen = selection.chosen
    return (f"chosen{mark}: {chosen.name}, {_text.size(chosen.size_bytes)} "
            f"({chosen.size_bytes / selection.baseline_bytes:.1%} of the float model)")
