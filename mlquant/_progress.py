"""The one shape of progress callbacks across mlquant: ``progress(label, done, total)``.

Long work (evaluating, quantizing a grid, measuring sensitivities) calls it as it goes, with a
short label (``evaluating kmeans_lut_4``), the steps done and the steps in all. The command
line passes a progress bar; library callers may pass any callable, or nothing.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress", "silent"]

#: ``(label, done, total)``: ``done`` of ``total`` steps of ``label`` are finished.
Progress = Callable[[str, int, int], None]


def silent(label: str, done: int, total: int) -> None:
    """A progress callback that shows nothing."""
