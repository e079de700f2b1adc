"""Per-class top-1 accuracy of a model on labelled inputs, returned as data.

    >>> ev = Evaluator(ImageFolder("testing_data"))
    >>> base = ev.evaluate(load("food.mlmodel"))
    >>> small = ev.evaluate(load("food_kmeans_6.mlmodel"), reference=base)
    >>> small.per_class, small.accuracy, small.top1_agreement

:class:`Evaluation` keeps what was predicted for every input and derives the figures from
it, so a saved evaluation (JSON) can be re-read and re-analysed; it also records how it was
measured (backend, preprocessing, data). CSV and JSON reading and writing live in
:mod:`mlquant.results`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from .._progress import Progress
from .._version import __version__
from ..errors import DataError, SettingsError
from ..formats import Model
from .backends import Backend, default_backend
from .data import Batch, ImageFolder, Sample, Skipped, resolve_labels
from .preprocess import Preprocessing
from .signature import ImageInput, signature

__all__ = ["Assembly", "Confusion", "Evaluation", "Evaluator", "rank"]



def _frozen(value: Any, dtype: Any) -> np.ndarray:
    array = np.array(value, dtype=dtype)
    array.setflags(write=False)
    return array


def _indices(value: Any) -> np.ndarray:
    return _frozen(value, np.int32)


def _optional_indices(value: Any) -> np.ndarray | None:
    return None if value is None else _frozen(value, np.int32)


def _scores(value: Any) -> np.ndarray:
    return _frozen(value, np.float32)


@attrs.frozen
class Confusion:
    """Counts of true class (rows) against predicted label (columns; ``other`` last)."""

    classes: tuple[str, ...]
    """The scored classes, for rows and for all columns but the last."""
    matrix: np.ndarray = attrs.field(eq=False, repr=False)
    """``(n, n + 1)`` counts; the last column counts predictions outside the scored classes."""


@attrs.frozen(eq=False)
class Evaluation:
    """What one model predicted for every input of a data set, and the figures derived from it."""

    name: str
    """The model's name (its file name without extension, unless given)."""
    size_bytes: int
    """The model file's size."""
    labels: tuple[str, ...] = attrs.field(repr=False)
    """Every label the model can predict, in score order (as text)."""
    classes: tuple[str, ...]
    """The labels present in the data, which are the classes scored."""
    files: tuple[str, ...] = attrs.field(repr=lambda files: f"<{len(files)} files>")
    """Each evaluated input's path, relative to the data folder."""
    truth: np.ndarray | None = attrs.field(converter=_optional_indices, repr=False)
    """Index into ``labels`` of each input's true class; None for unlabelled data."""
    top5: np.ndarray = attrs.field(converter=_indices, repr=False)
    """``(N, 5)`` indices into ``labels``, best first (fewer columns if fewer labels)."""
    confidence: np.ndarray = attrs.field(converter=_scores, repr=False)
    """The top score of each input."""
    reference: np.ndarray | None = attrs.field(default=None, converter=_optional_indices, repr=False)
    """The reference model's top-1 prediction for each input, when one was given."""
    skipped: tuple[Skipped, ...] = attrs.field(default=(), repr=lambda skipped: f"<{len(skipped)} skipped>")
    """Inputs left out, with reasons."""
    measured: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    """How the figures were obtained: backend, preprocessing, data folder, mlquant version."""
    complete: bool = True
    """False when evaluation stopped early (see ``Evaluator.evaluate(stop=...)``)."""

    def __str__(self) -> str:
        """One line: ``kmeans_lut_6: 61.3% mean class accuracy on 700 inputs, 7 classes, 1.33 MB``."""
        from .. import _text

        seen = f"{len(self.files)} inputs" + ("" if self.complete else " (stopped early)")
        if self.mean_class_accuracy is None:
            figure = f"top-1 agreement {self.top1_agreement:.1%}" if self.top1_agreement is not None else "no labels"
        else:
            figure = f"{self.mean_class_accuracy:.1%} mean class accuracy"
        classes = f", {len(self.classes)} classes" if self.classes else ""
        return f"{self.name}: {figure} on {seen}{classes}, {_text.size(self.size_bytes)}"

    @property
    def predictions(self) -> np.ndarray:
        """Index into ``labels`` of each input's top-1 prediction."""
        return self.top5[:, 0]

    @property
    def counts(self) -> dict[str, tuple[int, int]]:
        """Per scored class: (correct, total)."""
        if self.truth is None:
            return {}
        index = {label: i for i, label in enumerate(self.labels)}
        hits = self.predictions == self.truth
        return {
            c: (int(hits[self.truth == index[c]].sum()), int((self.truth == index[c]).sum())) for c in self.classes
        }

    @property
    def per_class(self) -> dict[str, float]:
        """Top-1 accuracy of each scored class, 0-1, keyed by the model's label."""
        return {c: correct / total for c, (correct, total) in self.counts.items() if total}

    @property
    def accuracy(self) -> float | None:
        """Top-1 accuracy over all inputs (None without labels)."""
        return None if self.truth is None else float(np.mean(self.predictions == self.truth))

    @property
    def mean_class_accuracy(self) -> float | None:
        """Top-1 accuracy averaged over classes, each class counting once (None without labels)."""
        values = list(self.per_class.values())
        return float(np.mean(values)) if values else None

    @property
    def top1_agreement(self) -> float | None:
        """Share of inputs whose top-1 equals the reference model's (None without reference)."""
        return None if self.reference is None else float(np.mean(self.predictions == self.reference))

    @property
    def top5_agreement(self) -> float | None:
        """Share of inputs whose top-5 contains the reference model's top-1."""
        if self.reference is None:
            return None
        return float(np.mean(np.any(self.top5 == self.reference[:, np.newaxis], axis=1)))

    @property
    def confusion(self) -> Confusion:
        """True class against predicted label, over the scored classes."""
        index = {label: i for i, label in enumerate(self.labels)}
        rows = {index[c]: r for r, c in enumerate(self.classes)}
        matrix = np.zeros((len(self.classes), len(self.classes) + 1), dtype=np.int64)
        if self.truth is not None:
            column = np.full(len(self.labels), len(self.classes))
            column[list(rows)] = list(rows.values())
            np.add.at(matrix, (column[self.truth], column[self.predictions]), 1)
        return Confusion(self.classes, matrix)

    def prediction_shares(self) -> dict[str, float]:
        """Share of inputs predicted as each label, for labels predicted at least once."""
        values, counts = np.unique(self.predictions, return_counts=True)
        return {self.labels[v]: c / len(self.predictions) for v, c in zip(values, counts)}


class Evaluator:
    """Runs models over one data set and returns :class:`Evaluation` values.

    Args:
        data: An :class:`~mlquant.ImageFolder`, or the path of one.
        backend: What computes scores; Core ML on macOS, the reference runtime elsewhere.
        preprocessing: How images are scaled and cropped (Vision's ``centerCrop`` by default).
        batch_size: Inputs per backend call.
        progress: Called after every batch with ``(label, done, total)``: the label is
            ``evaluating <model name>``, the counts are inputs.
    """

    def __init__(
        self,
        data: ImageFolder | str | os.PathLike[str],
        *,
        backend: Backend | None = None,
        preprocessing: Preprocessing = Preprocessing(),
        batch_size: int = 32,
        progress: Progress | None = None,
    ) -> None:
        self.data = data if isinstance(data, ImageFolder) else ImageFolder(data)
        if backend is not None and not isinstance(backend, Backend):
            msg = f"Evaluator: backend must be an mlquant.Backend subclass (got {type(backend).__name__})"
            raise SettingsError(msg)
        self.backend = backend or default_backend()
        self.preprocessing = preprocessing
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            msg = f"Evaluator: batch_size must be a whole number >= 1 (got {batch_size!r})"
            raise SettingsError(msg)
        self.batch_size = batch_size
        self.progress = progress

    def inputs(self, model: Model) -> Batch:
        """The decoded inputs ``model`` is evaluated on (decoded once per input spec)."""
        target = signature(model).input
        return self.data.batch(target, self.preprocessing)

    def evaluate(
        self,
        model: Model,
        *,
        reference: Evaluation | None = None,
        name: str | None = None,
        stop: Callable[[Evaluation], bool] | None = None,
    ) -> Evaluation:
        """Run ``model`` over every input and return what it predicted.

        Args:
            model: The model to evaluate.
            reference: An evaluation of the model to compare with (usually the float
                original), for top-1 and top-5 agreement.
            name: Names the model in results; defaults to its file name.
            stop: Called with the partial evaluation after each batch; returning True ends the
                evaluation early (the result then has ``complete=False``).

        Raises:
            DataError: Class folders that match no label, labelled data for a model that is
                not a classifier, inputs the model cannot take.
            UnsupportedLayerError: The backend cannot run a layer (before any input is read).
        """
        self._labels(model)
        self.backend.prepare(model)
        batch = self.data.batch(signature(model).input, self.preprocessing)
        filling = self.assembly(model, batch.samples, batch.skipped, reference=reference, name=name)
        total = len(filling.files)
        for start in range(0, total, self.batch_size):
            chunk = batch.inputs[start : start + self.batch_size]
            done = start + len(chunk)
            filling.fill(start, *rank(self.backend.predict(model, chunk), filling.width))
            if self.progress is not None:
                self.progress(f"evaluating {filling.name}", done, total)
            if stop is not None and done < total and stop(filling.result(done, complete=False)):
                return filling.result(done, complete=False)
        return filling.result(total, complete=True)

    def assembly(
        self,
        model: Model,
        samples: Sequence[Sample],
        skipped: tuple[Skipped, ...],
        *,
        reference: Evaluation | None = None,
        name: str | None = None,
    ) -> Assembly:
        """An empty evaluation of ``model`` on ``samples`` (the usable inputs, in order), to fill in.

        :meth:`evaluate` fills one batch at a time; a sweep on an executor fills it with what
        its workers return, shard by shard, and gets the same :class:`Evaluation`.

        Raises:
            DataError: Class folders that match no label, labelled data for a model that is
                not a classifier, a reference that did not see these inputs.
        """
        labels, mapping = self._labels(model)
        files = tuple(str(s.path.relative_to(self.data.root)) for s in samples)
        truth = np.array([mapping[str(s.folder)] for s in samples]) if mapping else None
        width = min(5, len(labels)) if labels else 5
        classes = tuple(labels[i] for i in sorted(set(mapping.values()))) if labels else ()
        return Assembly(
            name=name or model.name, size_bytes=model.size_bytes, labels=labels or tuple(str(i) for i in range(width)),
            classes=classes, files=files, truth=truth, reference=_aligned_reference(reference, files),
            skipped=skipped, measured=self._measured(signature(model).input), width=width,
        )

    def _labels(self, model: Model) -> tuple[tuple[str, ...] | None, dict[str, int]]:
        sig = signature(model)
        labels = tuple(str(label) for label in sig.labels) if sig.labels is not None else None
        if not self.data.labelled:
            return labels, {}
        if labels is None:
            msg = "labelled class folders need a classifier; this model has no class labels (use an unlabelled folder and a reference)"
            raise DataError(msg)
        return labels, resolve_labels(self.data.folders, labels, self.data.label_map)

    @property
    def setup(self) -> dict[str, Any]:
        """What besides the model and the data decides the results: backend and preprocessing."""
        return {
            "backend": self.backend.name,
            "preprocessing": attrs.asdict(self.preprocessing),
        }

    def _measured(self, target: Any) -> dict[str, Any]:
        details: dict[str, Any] = {**self.setup, "data": str(self.data.root), "mlquant": __version__}
        if isinstance(target, ImageInput):
            details["input"] = f"{target.width}x{target.height} {target.color_space}"
        else:
            del details["preprocessing"]
        return details


class Assembly:
    """An evaluation being filled in, in input order: :meth:`fill` what was predicted, then take a :meth:`result`.

    Made by :meth:`Evaluator.assembly`; the fields are the finished :class:`Evaluation`'s.
    """

    def __init__(self, *, name: str, size_bytes: int, labels: tuple[str, ...], classes: tuple[str, ...],
                 files: tuple[str, ...], truth: np.ndarray | None, reference: np.ndarray | None,
                 skipped: tuple[Skipped, ...], measured: dict[str, Any], width: int) -> None:
        self.name, self.size_bytes, self.labels, self.classes = name, size_bytes, labels, classes
        self.files, self.truth, self.reference = files, truth, reference
        self.skipped, self.measured, self.width = skipped, measured, width
        self.top5 = np.zeros((len(files), width), dtype=np.int32)
        self.confidence = np.zeros(len(files), dtype=np.float32)

    def fill(self, start: int, top5: np.ndarray, confidence: np.ndarray) -> None:
        """Record what was predicted for the inputs from ``start`` on (see :func:`rank`)."""
        self.top5[start : start + len(top5)] = top5
        self.confidence[start : start + len(top5)] = confidence

    def result(self, done: int, *, complete: bool) -> Evaluation:
        """The evaluation of the first ``done`` inputs."""
        return Evaluation(
            name=self.name,
            size_bytes=self.size_bytes,
            labels=self.labels,
            classes=self.classes,
            files=self.files[:done],
            truth=self.truth[:done] if self.truth is not None else None,
            top5=self.top5[:done].copy(),
            confidence=self.confidence[:done].copy(),
            reference=None if self.reference is None else self.reference[:done],
            skipped=self.skipped,
            measured=self.measured,
            complete=complete,
        )


def rank(scores: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``width`` best labels of each row of ``scores``, best first, and each row's top score."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :width]
    return order, scores[np.arange(len(scores)), order[:, 0]]


def _aligned_reference(reference: Evaluation | None, files: tuple[str, ...]) -> np.ndarray | None:
    if reference is None:
        return None
    if reference.files == files:
        return reference.predictions
    position = {f: i for i, f in enumerate(reference.files)}
    missing = [f for f in files if f not in position]
    if missing:
        msg = f"the reference evaluation did not see {len(missing)} of these inputs (e.g. {missing[0]}); evaluate it on the same data"
        raise DataError(msg)
    return reference.predictions[[position[f] for f in files]]
