"""A Core ML model as mlquant sees it, whatever its format: a spec and its weights.

:class:`Model` is the boundary every later stage works through: quantizers, the evaluator, the
selector and the sweep see :class:`WeightInfo` values, float32 arrays from :meth:`Model.read`
and new models from :meth:`Model.replace`, never a format's protobuf layout. Each format
(``mlquant/formats/neuralnetwork``, ``mlquant/formats/mlprogram``) subclasses it.
"""

from __future__ import annotations

import abc
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np

from .. import _coreml
from .._files import same_file
from ..errors import OverwriteError, SettingsError, UnsupportedModelError
from ..weights import QuantizedWeights
from ..weights.storage import StorageRules

__all__ = ["LayerSummary", "Model", "WeightInfo", "format_of", "weight_layer_types"]


@attrs.frozen
class WeightInfo:
    """One weight tensor of a model: where it lives and how it is stored."""

    index: int
    """Position in :attr:`Model.weights`; the same in every model quantized from this one."""
    layer: str
    """Name of the layer (NeuralNetwork) or operation (ML Program) that uses the weight."""
    layer_type: str
    """The layer's or operation's type (``convolution``, ``innerProduct``, ``conv``, ``linear``...)."""
    field: str
    """The weight's field in the layer, or input of the operation (``weights``, ``bias``, ``gamma``...)."""
    shape: tuple[int, ...]
    """The tensor's shape."""
    channel_axis: int | None
    """Output-channel axis for per-channel quantization; None where there is none."""
    is_bias: bool
    """Whether this is an additive bias vector of a larger layer."""
    updatable: bool
    """Whether the model trains this weight on device (Core ML then needs it in float32)."""
    storage: str
    """How it is stored now: ``float32``, ``float16``, ``linear``, ``lut``, ``int8``..."""
    nbits: int
    """Bits per stored value (32, 16, or 1-8)."""
    nbytes: int
    """Bytes of values and tables in the file."""
    network: int = 0
    """Index of the network within a pipeline model (0 for ML Programs)."""

    @property
    def count(self) -> int:
        """Number of values."""
        return math.prod(self.shape)

    @property
    def name(self) -> str:
        """``layer.field``, the weight's name in reports and plans."""
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


class Model(abc.ABC):
    """A Core ML model: its protobuf spec and its weights.

    A ``Model`` is never changed in place; quantizing makes a new one. Build one with
    :func:`mlquant.load`, or from a coremltools spec with ``Model(spec)``, which picks the
    format's subclass (:class:`~mlquant.formats.neuralnetwork.NeuralNetworkModel`...).
    """

    #: The format's name, e.g. ``neuralnetwork``.
    format: ClassVar[str]
    #: What the format can store, from which target (:mod:`mlquant.weights.storage`); each format sets it.
    storage: ClassVar[StorageRules]
    #: What a saved model's path ends in: ``.mlmodel`` (a file) or ``.mlpackage`` (a folder).
    suffix: ClassVar[str] = ".mlmodel"
    #: Layer (or operation) types that can hold weights in this format.
    weight_layer_types: ClassVar[tuple[str, ...]] = ()
    #: Whether a multi-array input's declared leading 1 is the batch axis (an ML Program's
    #: ``(1, C, H, W)``), rather than part of one input's shape (a NeuralNetwork's ``(C, H, W)``).
    batch_in_input_shape: ClassVar[bool] = False
    #: The subclasses, one per format, that ``Model(spec)`` chooses among.
    _formats: ClassVar[list[type[Model]]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Model._formats.append(cls)

    def __new__(cls, spec: Any = None, *args: Any, **kwargs: Any) -> Model:
        return super().__new__(format_of(spec) if cls is Model else cls)

    def __init__(self, spec: Any, *, path: str | os.PathLike[str] | None = None,
                 source: str | os.PathLike[str] | None = None) -> None:
        self._spec = spec
        self._path = Path(path) if path is not None else None
        self._source = Path(source) if source is not None else self._path
        self._cache: dict[int, np.ndarray] = {}

    @classmethod
    @abc.abstractmethod
    def holds(cls, spec: Any) -> bool:
        """Whether ``spec`` is a model of this format."""

    def __repr__(self) -> str:
        source = f" from {str(self._path)!r}" if self._path else ""
        return f"<{type(self).__name__} {self.type}{source}: {len(self.weights)} weights, {self.size_bytes:,} bytes>"

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
    def name(self) -> str:
        """A short name for results: the file's name without its extension, ``<source> (derived)``
        for a model made from a file but not saved, else ``model``."""
        if self._path is not None:
            return self._path.stem
        return f"{self._source.stem} (derived)" if self._source is not None else "model"

    @property
    def type(self) -> str:
        """The model's type, e.g. ``neuralNetworkClassifier``, ``pipeline`` or ``mlProgram``."""
        return str(self._spec.WhichOneof("Type"))

    def copy_spec(self) -> Any:
        """A deep copy of the protobuf spec, free to edit."""
        copy = _coreml.new_spec()
        copy.CopyFrom(self._spec)
        return copy

    @property
    @abc.abstractmethod
    def size_bytes(self) -> int:
        """Size of the model on disk in bytes (what :meth:`save` writes)."""

    @property
    @abc.abstractmethod
    def weights(self) -> tuple[WeightInfo, ...]:
        """Every weight tensor, in model order."""

    @property
    @abc.abstractmethod
    def class_labels(self) -> tuple[str, ...] | tuple[int, ...] | None:
        """The classifier's labels, or None if the model is not a classifier."""

    @abc.abstractmethod
    def to_bytes(self) -> bytes:
        """The whole model as one byte string, which :func:`mlquant.formats.from_bytes` reads back.

        Each format chooses its own: a NeuralNetwork is its ``.mlmodel`` file; an ML Program is
        an archive of its package's files. Used to send a model to another process.
        """

    @abc.abstractmethod
    def fingerprint(self) -> str:
        """A SHA-256 of the saved model: equal for byte-identical files."""

    @abc.abstractmethod
    def content_fingerprint(self) -> str:
        """A SHA-256 of what decides the model's predictions: its dequantized weights and the rest.

        Models that store the same values differently (a 16-bit linear and a float16 model)
        share one content fingerprint.
        """

    @abc.abstractmethod
    def problems(self) -> list[str]:
        """What Core ML's validator would reject in this model's weights (empty if nothing)."""

    @abc.abstractmethod
    def _decode(self, index: int) -> np.ndarray:
        """Weight ``index`` as the float32 array Core ML computes with."""

    @abc.abstractmethod
    def _replaced(self, new: Mapping[int, QuantizedWeights | np.ndarray]) -> Model:
        """A new model of this format with the given weights replaced."""

    @abc.abstractmethod
    def _write(self, target: Path) -> None:
        """Write the model to ``target`` atomically."""

    def read(self, weight: WeightInfo | int | str) -> np.ndarray:
        """Return one weight as the float32 tensor Core ML computes with.

        Args:
            weight: A :class:`WeightInfo`, its index, or its name (``"conv1.weights"``).

        Returns:
            A read-only float32 array in the weight's shape, dequantized if it is stored quantized.

        Raises:
            SettingsError: No weight has that index or name.
        """
        index = self.index_of(weight)
        if index not in self._cache:
            values = self._decode(index)
            values.setflags(write=False)
            self._cache[index] = values
        return self._cache[index]

    def index_of(self, weight: WeightInfo | int | str) -> int:
        """The index of a weight given as a :class:`WeightInfo`, an index or a name.

        Raises:
            SettingsError: No weight has that index or name.
        """
        if isinstance(weight, WeightInfo):
            return weight.index
        if isinstance(weight, int) and not isinstance(weight, bool):
            if 0 <= weight < len(self.weights):
                return weight
            msg = f"no weight number {weight} (this model has {len(self.weights)})"
            raise SettingsError(msg)
        for info in self.weights:
            if info.name == weight:
                return info.index
        known = ", ".join(info.name for info in self.weights[:6])
        msg = f"no weight named {weight!r} (weights are named layer.field, e.g. {known})"
        raise SettingsError(msg)

    def replace(self, new: Mapping[int, QuantizedWeights | np.ndarray]) -> Model:
        """Return a new model with some weights replaced; this model is unchanged.

        Args:
            new: Weight index to its new content: quantized weights, or a float array stored
                as float32.

        Returns:
            A new model of the same format, its specification version (or deployment target)
            raised as far as Core ML requires for the storage used.
        """
        model = self._replaced(new)
        model._cache = {i: v for i, v in self._cache.items() if i not in new}
        return model

    def details(self) -> dict[str, str]:
        """Facts about the model that only its format has, for ``mlquant inspect`` (e.g. an ML
        Program's deployment target and compute precision); empty by default."""
        return {}

    def storage_problem(self, weight: WeightInfo, form: QuantizedWeights) -> str | None:
        """Why ``weight`` cannot be stored as ``form`` in this model, or None if it can.

        Formats override this with what they cannot store (a NeuralNetwork updatable layer's
        weights must stay float32); :func:`mlquant.quantize` keeps such weights as they are.
        """
        return None

    def without_updates(self) -> Model:
        """This model with on-device training switched off (``self`` where there is none)."""
        return self

    def with_preprocessing_as_weights(self) -> Model:
        """This model, rewritten (exactly) so that constants of its preprocessing are weights.

        Formats whose preprocessing holds large constants (a NeuralNetwork mean image) move
        them into the network, where a quantizer can reach them; others return ``self``.
        """
        return self

    def layer_summary(self) -> tuple[LayerSummary, ...]:
        """One :class:`LayerSummary` per layer that has weights, in layer order."""
        rows: dict[tuple[int, str], list[WeightInfo]] = {}
        for info in self.weights:
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
        """Write the model to ``path`` atomically.

        Args:
            path: Where to write (``.mlmodel`` for a NeuralNetwork model, ``.mlpackage`` for an
                ML Program).
            overwrite: Allow replacing the file this model (or the model it was quantized
                from) was loaded from.

        Returns:
            The path written.

        Raises:
            OverwriteError: ``path`` is the model's source and ``overwrite`` is false.
            OutputError: ``path`` cannot be written.
        """
        target = Path(path)
        if not overwrite and self._source is not None and same_file(target, self._source):
            msg = f"refusing to overwrite {target}, the file this model was loaded from (pass overwrite=True, or --force)"
            raise OverwriteError(msg)
        self._write(target)
        return target


def format_of(spec: Any) -> type[Model]:
    """The :class:`Model` subclass of the format ``spec`` holds.

    Raises:
        UnsupportedModelError: No format mlquant reads holds it.
    """
    chosen = next((sub for sub in Model._formats if sub.holds(spec)), None)
    if chosen is None:
        kind = spec.WhichOneof("Type") if hasattr(spec, "WhichOneof") else type(spec).__name__
        msg = f"mlquant works on NeuralNetwork models and ML Programs; this model's type is {kind or 'empty'}"
        raise UnsupportedModelError(msg)
    return chosen


def weight_layer_types() -> tuple[str, ...]:
    """Every layer or operation type that holds weights in some format, sorted."""
    return tuple(sorted({kind for fmt in Model._formats for kind in fmt.weight_layer_types}))

