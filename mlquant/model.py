"""A Core ML model as mlquant sees it: a protobuf spec and its weights.

:func:`load` reads a ``.mlmodel`` file without needing Core ML; a :class:`Model` lists its
weights (:class:`WeightInfo`), reads any of them as float32 whatever their storage, makes new
models with some weights replaced, and saves atomically.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from . import _coreml, _nn
from . import weights as codec
from ._files import atomic_write
from .errors import InvalidModelError, ModelNotFoundError, OverwriteError, UnsupportedModelError
from .validate import slot_problems

__all__ = ["LayerSummary", "Model", "WeightInfo", "load"]


@attrs.frozen
class WeightInfo:
    """One weight tensor of a model: where it lives and how it is stored."""

    index: int
    """Position in :attr:`Model.weights`; the same in every model quantized from this one."""
    layer: str
    """Name of the layer holding the weight."""
    layer_type: str
    """The layer's type as ``NeuralNetwork.proto`` names it (``convolution``, ``innerProduct``...)."""
    field: str
    """The weight's field in the layer (``weights``, ``bias``, ``gamma``...)."""
    shape: tuple[int, ...]
    """The tensor's shape, from the layer's parameters."""
    channel_axis: int | None
    """Output-channel axis for per-channel quantization; None where there is none."""
    is_bias: bool
    """Whether this is an additive bias vector of a larger layer."""
    storage: str
    """How it is stored now: ``float32``, ``float16``, ``linear``, ``lut`` or ``int8``."""
    nbits: int
    """Bits per stored value (32, 16, or 1-8)."""
    nbytes: int
    """Bytes of values and tables in the file."""
    network: int = 0
    """Index of the network within a pipeline model."""

    @property
    def count(self) -> int:
        """Number of values."""
        return math.prod(self.shape)

    @property
    def name(self) -> str:
        """``layer.field``, the weight's name in reports."""
        return f"{self.layer}.{self.field}"


@attrs.frozen
class LayerSummary:
    """One row of ``mlquant inspect``: a layer's weights taken together."""

    layer: str
    """The layer's name."""
    layer_type: str
    """The layer's type."""
    count: int
    """Number of weight values in the layer."""
    storage: str
    """Storage kinds of its weights, main weight first (``lut``, ``lut+float32``...)."""
    nbits: int
    """Bits per value of the layer's main weight."""
    nbytes: int
    """Bytes its weights take in the file."""


class Model:
    """A NeuralNetwork Core ML model: its protobuf spec and its weights.

    A ``Model`` is never changed in place; quantizing makes a new one. Build one with
    :func:`load`, or from a coremltools spec with ``Model(spec)``.

    Args:
        spec: A ``CoreML.Specification.Model`` message holding a neural network.
        path: The file it was read from, if any.
        source: The file of the model it was derived from (defaults to ``path``); saving over
            it needs ``overwrite=True``.

    Raises:
        UnsupportedModelError: The spec holds no neural network.
        InvalidModelError: Its weights contradict their layers.
    """

    def __init__(
        self,
        spec: Any,
        *,
        path: str | os.PathLike[str] | None = None,
        source: str | os.PathLike[str] | None = None,
    ) -> None:
        self._spec = spec
        self._path = Path(path) if path is not None else None
        self._source = Path(source) if source is not None else self._path
        self._slots = _nn.slots(spec)
        self._cache: dict[int, np.ndarray] = {}
        self._weights = tuple(_info(i, slot) for i, slot in enumerate(self._slots))
        found = slot_problems(self._slots)
        if found:
            where = f"{self._path}: " if self._path else ""
            msg = f"{where}{found[0]}" + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")
            raise InvalidModelError(msg)

    def __repr__(self) -> str:
        source = f" from {str(self._path)!r}" if self._path else ""
        return f"<Model {self.type}{source}: {len(self._weights)} weights, {self.size_bytes:,} bytes>"

    @property
    def spec(self) -> Any:
        """The protobuf spec. Treat it as read-only; :meth:`copy_spec` gives a copy to edit."""
        return self._spec

    @property
    def path(self) -> Path | None:
        """The file this model was loaded from, or None."""
        return self._path

    @property
    def source(self) -> Path | None:
        """The file this model, or the model it was quantized from, was loaded from."""
        return self._source

    @property
    def type(self) -> str:
        """The model's type, e.g. ``neuralNetworkClassifier`` or ``pipeline``."""
        return str(self._spec.WhichOneof("Type"))

    @property
    def size_bytes(self) -> int:
        """Size of the model file in bytes (what :meth:`save` writes)."""
        return int(self._spec.ByteSize())

    @property
    def weights(self) -> tuple[WeightInfo, ...]:
        """Every weight tensor, in layer order."""
        return self._weights

    @property
    def class_labels(self) -> tuple[str, ...] | tuple[int, ...] | None:
        """The classifier's labels, or None if the model is not a classifier."""
        for network in _nn.networks(self._spec):
            has_labels = "ClassLabels" in network.DESCRIPTOR.oneofs_by_name
            kind = network.WhichOneof("ClassLabels") if has_labels else None
            if kind == "stringClassLabels":
                return tuple(network.stringClassLabels.vector)
            if kind == "int64ClassLabels":
                return tuple(int(v) for v in network.int64ClassLabels.vector)
        return None

    def fingerprint(self) -> str:
        """A SHA-256 of the serialized model: equal for equal files."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def to_bytes(self) -> bytes:
        """The model file's bytes."""
        return bytes(self._spec.SerializeToString(deterministic=True))

    def copy_spec(self) -> Any:
        """A deep copy of the protobuf spec, free to edit."""
        copy = _coreml.new_spec()
        copy.CopyFrom(self._spec)
        return copy

    def read(self, weight: WeightInfo | int | str) -> np.ndarray:
        """Return one weight as the float32 tensor Core ML computes with.

        Args:
            weight: A :class:`WeightInfo`, its index, or its name (``"conv1.weights"``).

        Returns:
            A read-only float32 array in the weight's shape, dequantized if it is stored quantized.
        """
        index = self._index(weight)
        if index not in self._cache:
            slot = self._slots[index]
            values = codec.decode(slot.params, slot.shape, slot.channel_axis, slot.where)
            values.setflags(write=False)
            self._cache[index] = values
        return self._cache[index]

    def _index(self, weight: WeightInfo | int | str) -> int:
        if isinstance(weight, WeightInfo):
            return weight.index
        if isinstance(weight, int):
            return weight
        for info in self._weights:
            if info.name == weight:
                return info.index
        known = ", ".join(info.name for info in self._weights[:6])
        msg = f"no weight named {weight!r} (weights are named layer.field, e.g. {known})"
        raise KeyError(msg)

    def replace(
        self, new: Mapping[int, codec.QuantizedWeights | np.ndarray]
    ) -> Model:
        """Return a new model with some weights replaced.

        Args:
            new: Weight index to its new content: quantized weights, or a float array stored
                as float32.

        Returns:
            A new :class:`Model` whose specification version is raised as far as Core ML
            requires for the storage used; this model is unchanged.
        """
        spec = self.copy_spec()
        targets = _nn.slots(spec)
        version = 0
        for index, content in new.items():
            wp = targets[index].params
            if isinstance(content, codec.QuantizedWeights):
                codec.encode(wp, content)
                version = max(version, _min_version(content.nbits))
            else:
                codec.encode_float32(wp, content)
        _raise_version(spec, version)
        model = Model(spec, source=self._source)
        model._cache = {i: v for i, v in self._cache.items() if i not in new}
        return model

    def layer_summary(self) -> tuple[LayerSummary, ...]:
        """One :class:`LayerSummary` per layer that has weights, in layer order."""
        rows: dict[tuple[int, str], list[WeightInfo]] = {}
        for info in self._weights:
            rows.setdefault((info.network, info.layer), []).append(info)
        summaries = []
        for infos in rows.values():
            main = next((w for w in infos if not w.is_bias), infos[0])
            kinds = [main.storage] + [w.storage for w in infos if w.storage != main.storage]
            summaries.append(
                LayerSummary(
                    layer=main.layer,
                    layer_type=main.layer_type,
                    count=sum(w.count for w in infos),
                    storage="+".join(dict.fromkeys(kinds)),
                    nbits=main.nbits,
                    nbytes=sum(w.nbytes for w in infos),
                )
            )
        return tuple(summaries)

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the model to ``path`` atomically (a temporary file, then a rename).

        Args:
            path: Where to write, usually ending in ``.mlmodel``.
            overwrite: Allow replacing the file this model (or the model it was quantized
                from) was loaded from.

        Returns:
            The path written.

        Raises:
            OverwriteError: ``path`` is the model's source file and ``overwrite`` is false.
        """
        target = Path(path)
        if not overwrite and self._source is not None and _same_file(target, self._source):
            msg = f"refusing to overwrite {target}, the file this model was loaded from (pass overwrite=True)"
            raise OverwriteError(msg)
        atomic_write(target, self.to_bytes())
        return target


def _info(index: int, slot: _nn.Slot) -> WeightInfo:
    storage = codec.storage_of(slot.params)
    return WeightInfo(
        index=index,
        layer=slot.layer,
        layer_type=slot.layer_type,
        field=slot.field,
        shape=tuple(int(n) for n in slot.shape),
        channel_axis=slot.channel_axis,
        is_bias=slot.is_bias,
        storage=storage.kind,
        nbits=storage.nbits,
        nbytes=storage.nbytes,
        network=slot.network,
    )


def _min_version(nbits: int) -> int:
    return _nn.MIN_VERSION_FLOAT16 if nbits == 16 else _nn.MIN_VERSION_QUANTIZED


def _raise_version(spec: Any, version: int) -> None:
    spec.specificationVersion = max(spec.specificationVersion, version)
    kind = spec.WhichOneof("Type")
    if kind in _nn.PIPELINE_TYPES:
        pipeline = spec.pipeline if kind == "pipeline" else getattr(spec, kind).pipeline
        for inner in pipeline.models:
            if inner.WhichOneof("Type") in _nn.NETWORK_TYPES + _nn.PIPELINE_TYPES:
                _raise_version(inner, version)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def load(path: str | os.PathLike[str]) -> Model:
    """Read a NeuralNetwork Core ML model from a ``.mlmodel`` file.

    Works on any platform: it reads the protobuf with coremltools' classes, never Core ML.

    Args:
        path: A ``.mlmodel`` file of type ``neuralNetwork``, ``neuralNetworkClassifier`` or
            ``neuralNetworkRegressor``, or a pipeline holding one.

    Returns:
        The model.

    Raises:
        ModelNotFoundError: There is no file at ``path``.
        InvalidModelError: The file is not a Core ML model, or is truncated or corrupted.
        UnsupportedModelError: The model is of another type (tree ensemble, ML Program...).
    """
    source = Path(path)
    if source.is_dir():
        if source.suffix == ".mlpackage" or (source / "Manifest.json").exists():
            msg = (
                f"{source} is an ML Program package (.mlpackage); mlquant reads NeuralNetwork "
                ".mlmodel files (ML Programs are not supported yet)"
            )
            raise UnsupportedModelError(msg)
        msg = f"{source} is a directory; expected a .mlmodel file"
        raise InvalidModelError(msg)
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        msg = f"no model file at {source}"
        raise ModelNotFoundError(msg) from None
    except OSError as error:
        msg = f"cannot read {source}: {error.strerror or error}"
        raise InvalidModelError(msg) from None
    spec = _parse(data, source)
    return Model(spec, path=source)


def _parse(data: bytes, source: Path) -> Any:
    from google.protobuf.message import DecodeError

    spec = _coreml.new_spec()
    try:
        spec.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as error:
        msg = f"{source} is not a readable Core ML model (truncated or corrupted protobuf: {error})"
        raise InvalidModelError(msg) from None
    if spec.WhichOneof("Type") is None or not spec.HasField("description"):
        msg = f"{source} is not a Core ML model (no model type or description in the file)"
        raise InvalidModelError(msg)
    if spec.WhichOneof("Type") == "mlProgram":
        msg = f"{source} is an ML Program model; mlquant reads NeuralNetwork models (mlProgram is not supported yet)"
        raise UnsupportedModelError(msg)
    return spec
