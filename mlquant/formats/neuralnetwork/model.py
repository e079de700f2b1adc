"""A NeuralNetwork Core ML model (``.mlmodel``): the protobuf spec, its weights inside it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..._files import atomic_write
from ...errors import InvalidModelError, QuantizationError
from ...weights import Float16Weights, QuantizedWeights
from ...weights.storage import StorageRules
from .._model import Model, WeightInfo
from . import codec, layout
from .rewrite import move_mean_image
from .storage import NEURALNETWORK_STORAGE
from .validate import slot_problems, updatable_problems

__all__ = ["NeuralNetworkModel"]


class NeuralNetworkModel(Model):
    """A NeuralNetwork model: ``neuralNetwork``, ``neuralNetworkClassifier``,
    ``neuralNetworkRegressor``, or a pipeline holding one.

    Args:
        spec: A ``CoreML.Specification.Model`` message holding a neural network.
        path: The file it was read from, if any.
        source: The file of the model it was derived from (defaults to ``path``); saving over
            it needs ``overwrite=True``.

    Raises:
        UnsupportedModelError: The spec holds no neural network.
        InvalidModelError: Its weights contradict their layers.
    """

    format: ClassVar[str] = "neuralnetwork"
    suffix: ClassVar[str] = ".mlmodel"
    storage: ClassVar[StorageRules] = NEURALNETWORK_STORAGE
    weight_layer_types: ClassVar[tuple[str, ...]] = layout.QUANTIZABLE_LAYER_TYPES

    def __init__(self, spec: Any, *, path: Any = None, source: Any = None) -> None:
        super().__init__(spec, path=path, source=source)
        self._slots = layout.slots(spec)
        self._weights = tuple(_info(i, slot) for i, slot in enumerate(self._slots))
        found = slot_problems(self._slots)
        if found:
            where = f"{self._path}: " if self._path else ""
            msg = f"{where}{found[0]}" + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")
            raise InvalidModelError(msg)

    @classmethod
    def holds(cls, spec: Any) -> bool:
        """Whether ``spec`` is a neural network, or a pipeline (that may hold one)."""
        kind = spec.WhichOneof("Type") if hasattr(spec, "WhichOneof") else None
        return kind in layout.NETWORK_TYPES or kind in layout.PIPELINE_TYPES

    @property
    def size_bytes(self) -> int:
        """Size of the model file in bytes (what :meth:`save` writes)."""
        return int(self._spec.ByteSize())

    @property
    def weights(self) -> tuple[WeightInfo, ...]:
        """Every weight tensor, in layer order (branch and loop bodies included)."""
        return self._weights

    @property
    def class_labels(self) -> tuple[str, ...] | tuple[int, ...] | None:
        """The classifier's labels, or None if the model is not a classifier."""
        for network in layout.networks(self._spec):
            has_labels = "ClassLabels" in network.DESCRIPTOR.oneofs_by_name
            kind = network.WhichOneof("ClassLabels") if has_labels else None
            if kind == "stringClassLabels":
                return tuple(network.stringClassLabels.vector)
            if kind == "int64ClassLabels":
                return tuple(int(v) for v in network.int64ClassLabels.vector)
        return None

    def to_bytes(self) -> bytes:
        """The model file's bytes."""
        return bytes(self._spec.SerializeToString(deterministic=True))

    def fingerprint(self) -> str:
        """A SHA-256 of the serialized model: equal for equal files."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def content_fingerprint(self) -> str:
        """A SHA-256 of the dequantized weights and everything else in the spec."""
        digest = hashlib.sha256()
        spec = self.copy_spec()
        for slot, weight in zip(layout.slots(spec), self._weights):
            digest.update(self.read(weight).tobytes())
            slot.params.Clear()
        digest.update(spec.SerializeToString(deterministic=True))
        return digest.hexdigest()

    def problems(self) -> list[str]:
        """What Core ML's validator would reject in this model's weights (empty if nothing)."""
        return slot_problems(self._slots) + updatable_problems(self._spec)

    def storage_problem(self, weight: WeightInfo, form: QuantizedWeights) -> str | None:
        """Why ``weight`` cannot be stored as ``form`` in this model, or None if it can.

        Core ML updates only float32 weights of an updatable layer, and coremltools refuses
        float16 weights anywhere in an updatable model.
        """
        if weight.updatable:
            return f"layer '{weight.layer}' is updatable, and Core ML updates only float32 weights"
        if self._spec.isUpdatable and isinstance(form, Float16Weights):
            return "the model is updatable, and Core ML cannot update a model holding float16 weights"
        return None

    def without_updates(self) -> Model:
        """This model with on-device training switched off: no updatable flags, loss or optimizer."""
        if not any(model.isUpdatable for model in layout.models(self._spec)):
            return self
        spec = self.copy_spec()
        for model in layout.models(spec):
            model.isUpdatable = False
            del model.description.trainingInput[:]
            if model.WhichOneof("Type") in layout.NETWORK_TYPES:
                network = getattr(model, model.WhichOneof("Type"))
                network.ClearField("updateParams")
                for layer in layout.layers(network):
                    layer.isUpdatable = False
        for slot in layout.slots(spec):
            slot.params.isUpdatable = False
        return NeuralNetworkModel(spec, source=self._source)

    def with_preprocessing_as_weights(self) -> Model:
        """This model with its mean image moved into a bias layer (see :func:`.rewrite.move_mean_image`).

        Raises:
            UnsupportedModelError: The model is a pipeline.
        """
        spec = move_mean_image(self._spec)
        return self if spec is self._spec else NeuralNetworkModel(spec, source=self._source)

    def _decode(self, index: int) -> np.ndarray:
        slot = self._slots[index]
        return codec.decode(slot.params, slot.shape, slot.channel_axis, slot.where)

    def _replaced(self, new: Mapping[int, QuantizedWeights | np.ndarray]) -> Model:
        spec = self.copy_spec()
        targets = layout.slots(spec)
        version = 0
        for index, content in new.items():
            wp = targets[index].params
            if isinstance(content, QuantizedWeights):
                target = self.storage.minimum_target(content)
                if target is None:
                    msg = f"{targets[index].where}: {self.storage.explain(content)}"
                    raise QuantizationError(msg)
                codec.encode(wp, content)
                version = max(version, target)
            else:
                codec.encode_float32(wp, content)
        _raise_version(spec, version)
        return NeuralNetworkModel(spec, source=self._source)

    def _write(self, target: Path) -> None:
        atomic_write(target, self.to_bytes())


def _info(index: int, slot: layout.Slot) -> WeightInfo:
    storage = codec.storage_of(slot.params)
    return WeightInfo(
        index=index,
        layer=slot.layer,
        layer_type=slot.layer_type,
        field=slot.field,
        shape=tuple(int(n) for n in slot.shape),
        channel_axis=slot.channel_axis,
        is_bias=slot.is_bias,
        updatable=slot.updatable,
        storage=storage.kind,
        nbits=storage.nbits,
        nbytes=storage.nbytes,
        network=slot.network,
    )


def _raise_version(spec: Any, version: int) -> None:
    """Raise the specification version of ``spec`` and of the networks and pipelines inside it."""
    for model in layout.models(spec):
        if model is spec or model.WhichOneof("Type") in layout.NETWORK_TYPES + layout.PIPELINE_TYPES:
            model.specificationVersion = max(model.specificationVersion, version)
