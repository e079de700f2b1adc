"""Progress on a terminal: nested tqdm bars for the package's ``(label, done, total)`` callbacks.

Each label gets a bar below the bars still open, so a sweep shows its candidates
(``candidates 12/25``, elapsed time and what is left) above the evaluation under way, and an
evaluation alone shows one bar. Bars fit the terminal's width as it changes, are drawn on
standard error only when it is a terminal, and close when their work is done.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

__all__ = ["ProgressDisplay"]


class ProgressDisplay:
    """A progress callback that draws nested bars with tqdm.

    Args:
        stream: Where to draw; standard error by default.
        enabled: Force drawing on or off; by default it draws only when ``stream`` is a terminal.
    """

    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._bars: dict[str, Any] = {}

    def __call__(self, label: str, done: int, total: int) -> None:
        """Show that ``done`` of ``total`` steps of ``label`` are finished."""
        if not self.enabled:
            return
        bar = self._bars.get(label)
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, desc=label, position=len(self._bars), leave=not self._bars, file=self.stream,
                       dynamic_ncols=True, unit="", mininterval=0.2, bar_format=_FORMAT)
            self._bars[label] = bar
        bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bar.close()
            del self._bars[label]

    def message(self, text: str) -> None:
        """Print a line of text above the bars."""
        if self.enabled and self._bars:
            from tqdm import tqdm

            tqdm.write(text, file=self.stream)
        elif self.enabled:
            print(text, file=self.stream)

    def close(self) -> None:
        """Close every open bar (after an interruption)."""
        for bar in reversed(list(self._bars.values())):
            bar.close()
        self._bars.clear()


#: ``candidates  12/25 [#####     ] 01:23<02:10``: the label, counts, bar, elapsed and left.
_FORMAT = "{desc} {n_fmt}/{total_fmt} |{bar}| {elapsed}<{remaining}"
