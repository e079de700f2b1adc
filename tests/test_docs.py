"""The README's and the docs' Python examples run as written and print what their comments say.

A ``print(...)`` line's trailing comment is a claim about its output when it looks like output
(it holds one of ``_ : { ( `` or a digit): the printed text must equal it, or, where the comment
elides with ``...``, start with what comes before the ``...``. Other comments describe.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ._examples import python_blocks, run_examples

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p for p in (ROOT / "docs").glob("*.md") if python_blocks(p))


def check_claims(printed: list[tuple[str, str]]) -> None:
    """Every print whose comment looks like output printed that output."""
    for text, comment in printed:
        if not any(mark in comment for mark in "_:{(0123456789"):
            continue
        if "..." in comment:
            prefix = comment.split("...")[0].rstrip(", ")
            assert text.startswith(prefix), f"printed {text!r}, the comment says {comment!r}"
        else:
            assert text == comment, f"printed {text!r}, the comment says {comment!r}"


class TestReadme:
    def test_examples_print_what_they_say(self, readme_run: tuple[dict, list[tuple[str, str]]]) -> None:
        """The README's examples run beside the food model and print what their comments claim."""
        namespace, printed = readme_run
        check_claims(printed)
        table = next(text for text, comment in printed if comment.startswith("every candidate"))
        assert table.splitlines()[0].split()[:2] == ["model", "size"] and "\nchosen: " in table
        assert len(repr(namespace["result"].selection.chosen)) < 400  # a short repr, not every prediction

    def test_the_two_commands_are_the_ones_ci_runs(self) -> None:
        """The README's test command is exactly the one .ci/run runs, and the main job is the demo."""
        readme = (ROOT / "README.md").read_text()
        ci = (ROOT / ".ci" / "run").read_text()
        assert 'python -m pip install ".[test]" && python -m pytest' in readme
        assert 'python -m pip install ".[test]" && python -m pytest' in ci
        assert "python -m pip install . && mlquant demo" in readme


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_docs_examples_run(page: Path, food_work: Path) -> None:
    """Each docs page's Python examples run beside the food model and print what they claim."""
    _, printed = run_examples(page, food_work)
    check_claims(printed)
