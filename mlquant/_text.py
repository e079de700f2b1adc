"""Plain-text formatting shared by the command line and the reports."""

from __future__ import annotations

from collections.abc import Sequence


def size(nbytes: float) -> str:
    """A byte count for people: ``3.72 MB``, ``612 KB``, ``980 B`` (decimal units, as Finder shows)."""
    for unit, scale in (("MB", 1e6), ("KB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.{2 if unit == 'MB' else 0}f} {unit}"
    return f"{int(nbytes)} B"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, right: Sequence[int] = ()) -> str:
    """Lay ``rows`` out in aligned columns under ``headers``; columns in ``right`` align right."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(row) for row in cells[1:]])
