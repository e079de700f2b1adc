"""A one-line progress bar for long work on a terminal, silent anywhere else.

Library functions take ``progress=`` callbacks of the form ``(label, done, total)``; a
:class:`ProgressBar` is such a callback that draws on standard error when it is a terminal.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """Draws ``label  done/total  [#####.....]`` on one terminal line, redrawn in place.

    Args:
        stream: Where to draw; standard error by default.
        enabled: Force drawing on or off; by default it draws only when ``stream`` is a terminal.
        width: Characters in the bar.
    """

    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None, width: int = 28) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.width = width
        self._label: str | None = None
        self._drawn = 0.0

    def __call__(self, label: str, done: int, total: int) -> None:
        """Show that ``done`` of ``total`` steps of ``label`` are finished."""
        if not self.enabled:
            return
        now = time.monotonic()
        finished = done >= total
        if label == self._label and not finished and now - self._drawn < 0.1:
            return
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        line = f"\r{label[:40]:<40} {done:>5}/{total:<5} [{bar}]"
        self.stream.write(line + ("\n" if finished else ""))
        self.stream.flush()
        self._label, self._drawn = (None if finished else label), now

    def message(self, text: str) -> None:
        """Print a line of text between bars."""
        if self.enabled:
            self.stream.write(text + "\n")
            self.stream.flush()
