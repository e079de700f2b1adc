"""Evaluation cut into shards that other processes run: the tasks a sweep sends to an executor.

A shard is one model on a contiguous run of inputs. Its task carries the model as bytes
(:meth:`~mlquant.Model.to_bytes`), the backend, and the inputs' paths relative to the data
folder, which every worker reads itself (the folder must be on a filesystem the workers share).
A worker decodes its shard as the :class:`~mlquant.Evaluator` does and predicts it in batches
of the evaluator's size; shards start at multiples of that size, so every backend call sees
exactly the batch it sees in a serial run, and the driver fills the shards' predictions into an
:class:`~mlquant.evaluate.evaluator.Assembly` to get the same :class:`~mlquant.Evaluation`.

Before the first prediction the driver learns which files decode at all with :class:`Scan`
tasks over the raw file list (a serial run skips those files before it batches). The task
functions are top-level, so that any executor can pickle them (process pools that spawn or
fork, Dask).

Each worker process keeps the last few models it was sent (parsed, with a backend that has
compiled them) and the decoded inputs of recent shards, so a worker that runs many shards of
one model, or one shard of many models, does each only once.
"""

from __future__ import annotations

import copy
import pickle
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from ..errors import DataError
from ..formats import Model, from_bytes
from .backends import Backend
from .data import decode_input
from .evaluator import rank
from .preprocess import Preprocessing, UnusableImage
from .signature import ArrayInput, ImageInput

__all__ = ["Scan", "Shard", "predict_shard", "scan_shard", "shard_bounds"]

#: Decoded inputs a worker process keeps for shards it may see again.
_INPUT_CACHE_BYTES = 256 * 2**20
#: Models (with their compiled backend) each worker thread keeps.
_MODELS_KEPT = 2


@attrs.frozen(eq=False)
class Scan:
    """A task: which of some input files decode for an input."""

    root: str
    """The data folder, as the workers see it."""
    files: tuple[str, ...]
    """The files, relative to ``root``."""
    target: ImageInput | ArrayInput
    """The model input they are decoded for."""
    preprocessing: Preprocessing
    """How images are scaled and cropped."""


@attrs.frozen(eq=False)
class Shard:
    """A task: one model's predictions for a run of inputs."""

    model: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")
    """The model, from :meth:`~mlquant.Model.to_bytes`."""
    model_key: str
    """Names the model and backend together, for the worker's cache (any string unique to both)."""
    backend: Backend
    """What runs the model."""
    inputs: Scan
    """The inputs, every one of which decoded in the scan."""
    batch_size: int
    """Inputs per backend call; the shard's length is a multiple of it unless it ends the data."""
    width: int
    """Labels kept per input (up to 5), best first."""


def shard_bounds(total: int, batch_size: int, batches: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each shard of ``total`` inputs: ``batches`` whole batches each, the last shorter."""
    step = batch_size * batches
    return [(start, min(start + step, total)) for start in range(0, total, step)]


def scan_shard(scan: Scan) -> dict[int, str]:
    """Decode every file of ``scan``; returns why each that cannot be used failed, by its position."""
    failed: dict[int, str] = {}
    decoded: list[np.ndarray] = []
    for i, name in enumerate(scan.files):
        try:
            decoded.append(decode_input(Path(scan.root) / name, scan.target, scan.preprocessing))
        except UnusableImage as error:
            failed[i] = str(error)
    if not failed and decoded:
        _INPUTS.put(_inputs_key(scan), np.stack(decoded))
    return failed


def predict_shard(shard: Shard) -> tuple[np.ndarray, np.ndarray]:
    """Run the shard's model over its inputs, batch by batch.

    Returns:
        ``(top5, confidence)`` for the shard's inputs: each input's best labels (best first)
        and its top score, as :func:`~mlquant.evaluate.evaluator.rank` gives them.

    Raises:
        DataError: An input that decoded in the scan no longer does.
        UnsupportedLayerError: The backend cannot run the model.
    """
    model, backend = _model(shard)
    backend.prepare(model)
    inputs = _decoded(shard.inputs)
    ranked = [rank(backend.predict(model, inputs[start : start + shard.batch_size]), shard.width)
              for start in range(0, len(inputs), shard.batch_size)]
    return np.concatenate([r[0] for r in ranked]), np.concatenate([r[1] for r in ranked])


def _model(shard: Shard) -> tuple[Model, Backend]:
    """The shard's model and a backend of this thread's own (backends keep compiled state)."""
    kept: OrderedDict[str, tuple[Model, Backend]] = getattr(_MODELS, "kept", None) or OrderedDict()
    _MODELS.kept = kept
    if shard.model_key not in kept:
        kept[shard.model_key] = (from_bytes(shard.model), _own_copy(shard.backend))
        while len(kept) > _MODELS_KEPT:
            kept.popitem(last=False)
    kept.move_to_end(shard.model_key)
    return kept[shard.model_key]


def _own_copy(backend: Backend) -> Backend:
    """A fresh copy of ``backend`` (pickled, as it would travel to another process)."""
    try:
        return pickle.loads(pickle.dumps(backend))
    except (pickle.PicklingError, TypeError, AttributeError):
        return copy.copy(backend)


def _decoded(scan: Scan) -> np.ndarray:
    key = _inputs_key(scan)
    found = _INPUTS.get(key)
    if found is not None:
        return found
    rows = []
    for name in scan.files:
        try:
            rows.append(decode_input(Path(scan.root) / name, scan.target, scan.preprocessing))
        except UnusableImage as error:
            msg = f"{Path(scan.root) / name}: decoded when the data was scanned, but not now ({error})"
            raise DataError(msg) from None
    inputs = np.stack(rows)
    _INPUTS.put(key, inputs)
    return inputs


def _inputs_key(scan: Scan) -> tuple[Any, ...]:
    return (scan.root, scan.files, attrs.astuple(scan.target), scan.preprocessing)


class _InputCache:
    """Decoded shards by what they were decoded from, the most recent first, up to a number of bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> np.ndarray | None:
        with self.lock:
            if key in self.kept:
                self.kept.move_to_end(key)
                return self.kept[key]
            return None

    def put(self, key: tuple[Any, ...], inputs: np.ndarray) -> None:
        inputs.setflags(write=False)
        with self.lock:
            self.kept[key] = inputs
            while sum(a.nbytes for a in self.kept.values()) > self.limit and len(self.kept) > 1:
                self.kept.popitem(last=False)


_INPUTS = _InputCache(_INPUT_CACHE_BYTES)
_MODELS = threading.local()
