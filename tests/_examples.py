"""Run a Markdown file's Python examples as a reader would paste them, here or in another process.

The README's examples include the full food sweep, minutes long: ``tests/conftest.py`` starts
them in another process (``python -m tests._examples README WORK OUT``) as soon as the session
begins, so that they run while the other tests do, and reads back what they printed and the
values the tests look at.
"""

from __future__ import annotations

import builtins
import io
import os
import pickle
import re
import sys
from pathlib import Path

#: The names of the README's namespace that are sent back from another process (the model and the
#: evaluator are rebuilt beside it instead: the evaluator holds every decoded image).
SENT_BACK = ("base", "result")


def python_blocks(path: Path) -> list[str]:
    """The ```python code blocks of a Markdown file, in order."""
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def run_examples(path: Path, work: Path) -> tuple[dict, list[tuple[str, str]]]:
    """Run a Markdown file's Python blocks in ``work``, one namespace, as a reader would paste them.

    Returns the namespace and, for every ``print`` call in order, the printed text with the source
    line's trailing comment (empty if none).
    """
    printed: list[str] = []

    def recording_print(*args, **kwargs):  # type: ignore[no-untyped-def]
        buffer = io.StringIO()
        builtins.print(*args, **{**kwargs, "file": buffer})
        printed.append(buffer.getvalue().rstrip("\n"))

    namespace: dict = {"print": recording_print}
    comments = []
    here = os.getcwd()
    os.chdir(work)
    try:
        for block in python_blocks(path):
            exec(compile(block, str(path), "exec"), namespace)
            comments += [line.partition("#")[2].strip() for line in block.splitlines() if line.startswith("print(")]
    finally:
        os.chdir(here)
    return namespace, list(zip(printed, comments, strict=True))


def main(page: str, work: str, out: str) -> None:
    """Run ``page``'s examples in ``work``; pickle what they printed and the :data:`SENT_BACK` values to ``out``."""
    namespace, printed = run_examples(Path(page), Path(work))
    sent = {"printed": printed} | {name: namespace[name] for name in SENT_BACK}
    partial = Path(out).with_suffix(".partial")
    partial.write_bytes(pickle.dumps(sent))
    partial.replace(out)


if __name__ == "__main__":
    main(*sys.argv[1:])
