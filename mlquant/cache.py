"""A cache of evaluations, keyed by content, so an interrupted sweep resumes where it stopped.

A key hashes everything a result depends on: the weights Core ML computes with (so a 16-bit
linear and a 16-bit k-means model, which are the same model, share one entry), the rest of
the model, the bytes of every input file, and how inputs were preprocessed and run. Entries
are JSON files written atomically, one per evaluation, so a sweep killed halfway loses at
most the evaluation it was in.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from . import __version__
from ._files import atomic_write
from .data import ImageFolder
from .errors import DataError
from .evaluate import Evaluation
from .model import Model
from .results import evaluation_from_dict, evaluation_to_dict

__all__ = ["EvaluationCache", "data_fingerprint", "model_fingerprint"]


def model_fingerprint(model: Model) -> str:
    """A hash of what decides a model's predictions: its dequantized weights and everything else."""
    digest = hashlib.sha256()
    spec = model.copy_spec()
    from . import _nn

    for slot, weight in zip(_nn.slots(spec), model.weights):
        digest.update(model.read(weight).tobytes())
        slot.params.Clear()
    digest.update(spec.SerializeToString(deterministic=True))
    return digest.hexdigest()


def data_fingerprint(data: ImageFolder) -> str:
    """A hash of the data set: every input file's relative path and bytes, and the label map."""
    digest = hashlib.sha256(json.dumps(sorted(data.label_map.items())).encode())
    for sample in data.samples:
        digest.update(str(sample.path.relative_to(data.root)).encode() + b"\0")
        digest.update(hashlib.sha256(sample.path.read_bytes()).digest())
    return digest.hexdigest()


class EvaluationCache:
    """Evaluations stored as JSON files in ``folder``; a None folder caches nothing.

    Args:
        folder: Where entries live, e.g. ``<sweep output>/.cache``.
    """

    def __init__(self, folder: str | os.PathLike[str] | None) -> None:
        self.folder = Path(folder) if folder is not None else None

    @staticmethod
    def key(model: str, data: str, measured: dict[str, Any]) -> str:
        """The entry name for a model fingerprint, a data fingerprint and how it is measured."""
        recipe = json.dumps({"model": model, "data": data, "measured": measured, "mlquant": __version__}, sort_keys=True)
        return hashlib.sha256(recipe.encode()).hexdigest()[:32]

    def get(self, key: str) -> Evaluation | None:
        """The cached evaluation, or None (a damaged entry counts as missing)."""
        if self.folder is None:
            return None
        path = self.folder / f"{key}.json"
        try:
            return evaluation_from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, DataError):
            return None

    def put(self, key: str, evaluation: Evaluation) -> None:
        """Store an evaluation (atomically)."""
        if self.folder is not None:
            atomic_write(self.folder / f"{key}.json", json.dumps(evaluation_to_dict(evaluation)))
