"""A sweep on disk: ``results.json`` written and read back.

``results.json`` holds every evaluation, the tolerance, the model and data it came from and
whether the sweep stopped candidates early: all that ``mlquant select`` needs to choose again
under another tolerance without running a model. Rendering (``report.md``, plots, tables) is in
:mod:`.report`; this module only persists.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import attrs

from .._files import atomic_write
from ..errors import DataError
from ..evaluate import Evaluation
from ..evaluate.results import evaluation_from_dict, evaluation_to_dict, read_payload
from ..select import Candidate, Selector
from .result import SweepResult

__all__ = ["SavedSweep", "read_sweep", "write_sweep_json"]

FORMAT = "mlquant-sweep"


@attrs.frozen
class SavedSweep:
    """What a sweep's ``results.json`` holds."""

    baseline: Evaluation
    """The float model's evaluation."""
    candidates: tuple[Candidate, ...]
    """Every candidate, with its evaluation (None if it was not evaluated)."""
    selector: Selector
    """The tolerance the sweep chose with."""
    path: Path
    """The ``results.json`` file."""
    model: Path | None = None
    """The float model the sweep started from, if it came from a file."""
    fast: bool = False
    """Whether the sweep stopped hopeless candidates early (``--fast``)."""

    def completing_command(self) -> str:
        """The command that evaluates every candidate fully, reusing what this sweep cached."""
        data = self.baseline.measured.get("data", "DATA")
        model = str(self.model) if self.model else "MODEL"
        return shlex.join(["mlquant", "sweep", model, "--data", str(data), "--out", str(self.path.parent)])


def write_sweep_json(result: SweepResult, path: Path) -> Path:
    """Write ``result`` as ``results.json`` at ``path`` (atomically)."""
    payload = {
        "format": FORMAT,
        "version": 1,
        "selector": attrs.asdict(result.selection.selector),
        "chosen": result.selection.chosen.name if result.selection.chosen else None,
        "model": str(result.source) if result.source else None,
        "fast": result.fast,
        "baseline": evaluation_to_dict(result.baseline),
        "candidates": [
            {
                "name": c.name, "method": c.method, "nbits": c.nbits, "size_bytes": c.size_bytes,
                "path": str(c.path) if c.path else None, "plan": c.plan,
                "evaluation": None if c.evaluation is None else evaluation_to_dict(c.evaluation),
            }
            for c in result.candidates
        ],
    }
    return atomic_write(path, json.dumps(payload, indent=1) + "\n")


def read_sweep(path: str | os.PathLike[str]) -> SavedSweep:
    """Read a sweep's ``results.json``.

    Raises:
        DataError: The file is missing or is not a sweep's results.
    """
    payload = read_payload(path, FORMAT)
    try:
        candidates = tuple(
            Candidate(
                c["name"], c["size_bytes"],
                None if c["evaluation"] is None else evaluation_from_dict(c["evaluation"]),
                c["method"], c["nbits"], Path(c["path"]) if c["path"] else None, c.get("plan"),
            )
            for c in payload["candidates"]
        )
        return SavedSweep(
            baseline=evaluation_from_dict(payload["baseline"]),
            candidates=candidates,
            selector=Selector(**payload["selector"]),
            path=Path(path),
            model=Path(payload["model"]) if payload.get("model") else None,
            fast=bool(payload.get("fast", False)),
        )
    except (KeyError, TypeError) as error:
        msg = f"{path} is not a complete mlquant sweep file ({type(error).__name__}: {error})"
        raise DataError(msg) from None
