"""Backends: what turns a batch of inputs into class scores.

A backend is a :class:`Backend` subclass with one method to write, ``predict(model, inputs) ->
scores``, and an optional hook, ``prepare(model)``, called before any input is read. Two ship
with mlquant:

* :class:`ReferenceBackend`: mlquant's numpy runtime, which executes the NeuralNetwork spec
  itself with the weights exactly as Core ML dequantizes them. It runs everywhere and is the
  default off macOS.
* :class:`CoreMLBackend`: Core ML itself through coremltools' ``MLModel.predict``; macOS only,
  and the default there.

Backends are pickled to run in other processes (a sweep with an executor): keep settings in
attributes and drop anything compiled in ``__getstate__``, as the built-in ones do.

A test double is a few lines::

    class Always(mlquant.Backend):
        name = "always-first"
        def predict(self, model, inputs):
            scores = np.zeros((len(inputs), len(model.class_labels)))
            scores[:, 0] = 1
            return scores
"""

from __future__ import annotations

import abc
import platform
from typing import Any

import numpy as np

from ..errors import SettingsError, UnsupportedModelError
from ..formats import Model
from .signature import ImageInput, signature

__all__ = ["Backend", "CoreMLBackend", "ReferenceBackend", "default_backend"]


class Backend(abc.ABC):
    """Computes class scores for a batch of inputs: subclass it and write :meth:`predict`."""

    #: Names the backend in results (``reference``, ``coreml-all``...).
    name: str = "backend"

    def prepare(self, model: Model) -> None:
        """Get ready to run ``model`` (compile it, build an executor) before any input is read.

        The evaluator calls it first, so a model the backend cannot run fails before the data
        is decoded. The default does nothing.

        Raises:
            UnsupportedLayerError: The backend cannot run a layer of ``model``.
        """
        return

    @abc.abstractmethod
    def predict(self, model: Model, inputs: np.ndarray) -> np.ndarray:
        """Score a batch.

        Args:
            model: The model to run.
            inputs: The batch for the model's one input: ``uint8`` pixels ``(B, C, H, W)`` in
                the model's channel order for an image input, ``float32`` ``(B, *shape)``
                for a multi-array input.

        Returns:
            ``(B, K)`` scores, one column per class label in the model's label order (for a
            model that is not a classifier, its first output flattened per input).
        """


def _scores(model: Model, outputs: dict[str, np.ndarray]) -> np.ndarray:
    name = model.spec.description.predictedProbabilitiesName
    array = outputs[name] if name and name in outputs else next(iter(outputs.values()))
    return np.asarray(array, dtype=np.float32).reshape(len(array), -1)


class _Compiling(Backend):
    """A backend that compiles a model before running it, and keeps what it compiled for the last model.

    What :meth:`_compile` returns is dropped when the backend is pickled and built again, on
    demand, where the backend lands. :meth:`predict` runs it as an executor: ``run(feeds) -> outputs``.
    """

    _compiled: tuple[Model, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the settings only: what was compiled is rebuilt where the backend lands."""
        return {**self.__dict__, "_compiled": None}

    def prepare(self, model: Model) -> None:
        """Compile ``model`` now, so a model the backend cannot run fails before any input is read."""
        self._compiled_for(model)

    def predict(self, model: Model, inputs: np.ndarray) -> np.ndarray:
        executor = self._compiled_for(model)
        feed = signature(model).input.name
        outputs = executor.run({feed: inputs.astype(np.float32, copy=False)})
        return _scores(model, outputs)

    def _compiled_for(self, model: Model) -> Any:
        if self._compiled is None or self._compiled[0] is not model:
            self._compiled = (model, self._compile(model))
        return self._compiled[1]

    @abc.abstractmethod
    def _compile(self, model: Model) -> Any:
        """What runs ``model``; raises ``UnsupportedLayerError`` for a layer the backend cannot run."""


class ReferenceBackend(_Compiling):
    """mlquant's numpy runtime: the model executed layer by layer (or operation by operation).

    NeuralNetwork models run in :class:`~mlquant.runtime.Network`, ML Programs in
    :class:`~mlquant.runtime.MILProgram`, both with the weights exactly as Core ML dequantizes them.

    Args:
        float16: Round every layer's output to half precision, to approximate Core ML on the
            GPU or Neural Engine; the same as ``precision="float16"``.
        precision: ``"model"`` (the default) computes as the model says: a NeuralNetwork in
            float32, as Core ML's CPU does, and an ML Program in its own dtypes (an fp16 program
            rounds every fp16 result to half precision). ``"float32"`` computes everything in
            float32; ``"float16"`` also rounds every NeuralNetwork layer's output.

    Raises:
        SettingsError: Unknown precision.
    """

    PRECISIONS = ("model", "float32", "float16")

    def __init__(self, *, float16: bool = False, precision: str | None = None) -> None:
        chosen = precision if precision is not None else ("float16" if float16 else "model")
        if chosen not in self.PRECISIONS:
            msg = f"ReferenceBackend: precision must be one of {', '.join(self.PRECISIONS)} (got {chosen!r})"
            raise SettingsError(msg)
        self.precision = chosen
        self.float16 = chosen == "float16"
        self.name = "reference" if chosen == "model" else f"reference-{chosen}"

    def __repr__(self) -> str:
        return f"ReferenceBackend(precision={self.precision!r})"

    def _compile(self, model: Model) -> Any:
        """Build the executor for ``model``: a ``MILProgram`` or a ``Network``."""
        from ..runtime import MILProgram, Network

        if model.format == "mlprogram":
            return MILProgram(model, precision="float32" if self.precision == "float32" else "program")
        return Network(model, float16=self.float16)


class CoreMLBackend(_Compiling):
    """Core ML itself, through coremltools' ``MLModel.predict`` (macOS only).

    Args:
        compute_units: ``ALL``, ``CPU_ONLY``, ``CPU_AND_GPU`` or ``CPU_AND_NE``.

    Raises:
        SettingsError: Unknown compute units.
    """

    COMPUTE_UNITS = ("ALL", "CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE")

    def __init__(self, compute_units: str = "ALL") -> None:
        if compute_units not in self.COMPUTE_UNITS:
            msg = f"CoreMLBackend: compute_units must be one of {', '.join(self.COMPUTE_UNITS)} (got {compute_units!r})"
            raise SettingsError(msg)
        self.compute_units = compute_units
        self.name = f"coreml-{compute_units.lower()}"

    def __repr__(self) -> str:
        return f"CoreMLBackend(compute_units={self.compute_units!r})"

    def predict(self, model: Model, inputs: np.ndarray) -> np.ndarray:
        mlmodel = self._compiled_for(model)
        sig = signature(model)
        feeds = [{sig.input.name: _feed(row, sig.input)} for row in inputs]
        results = mlmodel.predict(feeds)
        results = results if isinstance(results, list) else [results]
        labels = model.class_labels
        if labels is not None and sig.probabilities:
            return np.array([[r[sig.probabilities][label] for label in labels] for r in results], np.float32)
        return np.array([np.asarray(next(iter(r.values()))).reshape(-1) for r in results], np.float32)

    def _compile(self, model: Model) -> Any:
        """Compile ``model`` with Core ML: a coremltools ``MLModel``."""
        if platform.system() != "Darwin":
            msg = "Core ML prediction runs only on macOS; use ReferenceBackend elsewhere"
            raise UnsupportedModelError(msg)
        from .. import _coreml

        ct = _coreml.coremltools()
        return ct.models.MLModel(model.spec, compute_units=ct.ComputeUnit[self.compute_units])


def _feed(row: np.ndarray, target: Any) -> Any:
    if not isinstance(target, ImageInput):
        return row if target.declared is None else row.reshape(target.declared)
    from PIL import Image

    if target.channels == 1:
        return Image.fromarray(row[0], "L")
    pixels = row.transpose(1, 2, 0)
    if target.color_space == "BGR":
        pixels = pixels[:, :, ::-1]
    return Image.fromarray(np.ascontiguousarray(pixels), "RGB")


def default_backend() -> Backend:
    """Core ML on macOS, the reference runtime everywhere else."""
    return CoreMLBackend() if platform.system() == "Darwin" else ReferenceBackend()
