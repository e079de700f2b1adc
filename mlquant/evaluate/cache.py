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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from .._files import atomic_write
from .._progress import Progress, silent
from .._version import __version__
from ..errors import DataError
from ..formats import Model
from .data import ImageFolder
from .evaluator import Evaluation, Evaluator
from .results import evaluation_from_dict, evaluation_to_dict

__all__ = ["CachingEvaluator", "EvaluationCache", "data_fingerprint"]



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
        stored = self.get_json(key)
        try:
            return None if stored is None else evaluation_from_dict(stored)
        except DataError:
            return None

    def put(self, key: str, evaluation: Evaluation) -> None:
        """Store an evaluation (atomically)."""
        self.put_json(key, evaluation_to_dict(evaluation))

    def get_json(self, key: str) -> Any:
        """Any JSON value stored under ``key``, or None."""
        if self.folder is None:
            return None
        try:
            return json.loads((self.folder / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None

    def put_json(self, key: str, value: Any) -> None:
        """Store a JSON value under ``key`` (atomically)."""
        if self.folder is not None:
            atomic_write(self.folder / f"{key}.json", json.dumps(value))


class CachingEvaluator:
    """An :class:`~mlquant.Evaluator` that evaluates each distinct model once.

    Identical models (same fingerprint) share one evaluation within a run, and the cache
    carries evaluations across runs.

    Args:
        evaluator: What evaluates.
        store: Where evaluations are kept between runs.
        report: Progress callback ``(label, done, total)``.
    """

    def __init__(self, evaluator: Evaluator, store: EvaluationCache, report: Progress | None = None) -> None:
        self.evaluator = evaluator
        self.store = store
        self.report = report or silent
        self.data_key = data_fingerprint(evaluator.data) if store.folder is not None else ""
        self.seen: dict[str, Evaluation] = {}
        self.spent = 0
        self.reused = 0

    def evaluate(
        self,
        model: Model,
        name: str,
        *,
        reference: Evaluation | None = None,
        stop: Callable[[Evaluation], bool] | None = None,
        fingerprint: str | None = None,
    ) -> Evaluation:
        """Evaluate ``model`` unless an identical one was (completely, or partly when stopping early).

        Args:
            model: The model.
            name: Its name in the result.
            reference: Passed to :meth:`Evaluator.evaluate`.
            stop: Passed to :meth:`Evaluator.evaluate`; a partial result may then be reused.
            fingerprint: ``model.content_fingerprint()``, if already known.
        """
        fingerprint = fingerprint or model.content_fingerprint()
        known = self.lookup(model, name, partial=stop is not None, fingerprint=fingerprint)
        if known is not None:
            return known
        self.evaluator.progress = self.report
        result = self.evaluator.evaluate(model, reference=reference, name=name, stop=stop)
        self.remember(fingerprint, result)
        return result

    def lookup(self, model: Model, name: str, *, partial: bool, fingerprint: str, count: bool = True) -> Evaluation | None:
        """The evaluation of a model identical to ``model``, from this run or the cache, if there is one.

        Args:
            model: The model.
            name: Its name in the result.
            partial: Accept an evaluation that stopped early (when stopping early too).
            fingerprint: ``model.content_fingerprint()``.
            count: Count an evaluation taken from the cache in :attr:`reused` (not when only peeking).
        """
        key = self._key(fingerprint)
        known = self.seen.get(fingerprint)
        stored = None if known is not None or not key else self.store.get(key)
        known = known or stored
        if known is None or not (known.complete or partial):
            return None
        self.reused += count and stored is not None
        return attrs.evolve(known, name=name, size_bytes=model.size_bytes)

    def remember(self, fingerprint: str, result: Evaluation) -> None:
        """Keep a new evaluation of the model with ``fingerprint`` for this run and in the cache, and count its inputs."""
        self.spent += len(result.files)
        self.seen[fingerprint] = result
        key = self._key(fingerprint)
        if key:
            self.store.put(key, result)

    def _key(self, fingerprint: str) -> str:
        return self.store.key(fingerprint, self.data_key, self.evaluator.setup) if self.store.folder else ""
