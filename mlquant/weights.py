"""The Core ML weight codec: ``WeightParams`` messages to numpy arrays and back.

A NeuralNetwork weight is stored in one of these ways (``NeuralNetwork.proto``,
``WeightParams``):

* ``floatValue``: float32 values;
* ``float16Value``: little-endian IEEE half floats, two bytes a value;
* ``rawValue`` with ``quantization``: n-bit unsigned indices (1 <= n <= 8), packed
  most-significant-bit first with each value's bits high to low and the last byte zero-padded
  (4-bit ``[1, 2, 3]`` packs to ``0x12 0x30``), mapped to floats either linearly
  (``scale * q + bias``, one or one-per-output-channel scale and bias) or through a look-up
  table of exactly ``2**n`` float32 entries;
* ``int8RawValue`` with a linear ``scale``: signed bytes, written by converters for
  ``int8DynamicQuantize`` layers.

:class:`QuantizedWeights` is what a quantizer produces and :func:`encode` writes;
:func:`decode` reads any storage back as the float32 array Core ML computes with.
"""

from __future__ import annotations

import abc
import math
from typing import Any

import attrs
import numpy as np

from .errors import InvalidModelError, QuantizationError

__all__ = [
    "Float16Weights",
    "LUTWeights",
    "LinearWeights",
    "QuantizedWeights",
    "Storage",
    "decode",
    "encode",
    "encode_float32",
    "pack_indices",
    "storage_of",
    "unpack_indices",
]


def pack_indices(indices: np.ndarray, nbits: int) -> bytes:
    """Pack n-bit indices into bytes the way Core ML reads ``rawValue``.

    Args:
        indices: Integer indices, each below ``2**nbits``; any shape, read in C order.
        nbits: Bits per index, 1-8.

    Returns:
        ``ceil(len * nbits / 8)`` bytes, most significant bit first, zero-padded at the end.
    """
    flat = np.ascontiguousarray(indices, dtype=np.uint8).reshape(-1)
    if nbits == 8:
        return flat.tobytes()
    bits = np.unpackbits(flat[:, np.newaxis], axis=1)[:, 8 - nbits :]
    return np.packbits(bits.reshape(-1)).tobytes()


def unpack_indices(data: bytes, count: int, nbits: int) -> np.ndarray:
    """Unpack ``count`` n-bit indices from Core ML's ``rawValue`` bytes.

    Args:
        data: The packed bytes; at least ``ceil(count * nbits / 8)`` of them.
        count: How many indices to read.
        nbits: Bits per index, 1-8.

    Returns:
        A uint8 array of ``count`` indices.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    if nbits == 8:
        return raw[:count].copy()
    bits = np.unpackbits(raw, count=count * nbits).reshape(count, nbits)
    widened = np.zeros((count, 8), dtype=np.uint8)
    widened[:, 8 - nbits :] = bits
    return np.packbits(widened, axis=1).reshape(count)


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.setflags(write=False)
    return array


def _as_float32(values: Any) -> np.ndarray:
    return _readonly(np.asarray(values, dtype=np.float32).reshape(-1))


def _as_indices(values: Any) -> np.ndarray:
    return _readonly(np.asarray(values, dtype=np.uint8))


class QuantizedWeights(abc.ABC):
    """One weight tensor in the form Core ML stores it, as a quantizer produced it.

    The concrete forms are :class:`Float16Weights`, :class:`LinearWeights` and
    :class:`LUTWeights`; all are frozen and hold read-only arrays.
    """

    @property
    @abc.abstractmethod
    def nbits(self) -> int:
        """Bits per stored value: 1-8, or 16 for float16."""

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, ...]:
        """The shape of the float tensor these weights stand for."""

    @property
    @abc.abstractmethod
    def nbytes(self) -> int:
        """Bytes the stored values and their tables take in the file (protobuf framing aside)."""

    @abc.abstractmethod
    def dequantize(self) -> np.ndarray:
        """Return the float32 tensor Core ML computes with."""


@attrs.frozen(eq=False)
class Float16Weights(QuantizedWeights):
    """Weights stored as IEEE half floats (what coremltools calls ``nbits=16``)."""

    values: np.ndarray = attrs.field(converter=lambda v: _readonly(np.asarray(v, np.float16)))
    """The half-precision values, in the tensor's shape."""

    @property
    def nbits(self) -> int:
        return 16

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    @property
    def nbytes(self) -> int:
        return 2 * self.values.size

    def dequantize(self) -> np.ndarray:
        return self.values.astype(np.float32)


@attrs.frozen(eq=False)
class LinearWeights(QuantizedWeights):
    """n-bit indices mapped to ``scale * q + bias``, per tensor or per output channel."""

    nbits: int
    """Bits per index, 1-8."""
    indices: np.ndarray = attrs.field(converter=_as_indices)
    """Unsigned indices in the tensor's shape, each below ``2**nbits``."""
    scale: np.ndarray = attrs.field(converter=_as_float32)
    """One scale, or one per channel along ``axis``."""
    bias: np.ndarray = attrs.field(converter=_as_float32)
    """One bias, or one per channel along ``axis``; the same length as ``scale``."""
    axis: int | None = None
    """The output-channel axis the per-channel scale and bias run along; None for one pair."""

    def __attrs_post_init__(self) -> None:
        channels = 1 if self.axis is None else self.indices.shape[self.axis]
        if len(self.scale) not in {1, channels} or len(self.bias) != len(self.scale):
            msg = (
                f"linear weights need 1 or {channels} scale/bias values with equal lengths "
                f"(got {len(self.scale)} scales and {len(self.bias)} biases)"
            )
            raise QuantizationError(msg)
        _check_indices(self.indices, self.nbits)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.indices.shape)

    @property
    def nbytes(self) -> int:
        return math.ceil(self.indices.size * self.nbits / 8) + 8 * len(self.scale)

    def dequantize(self) -> np.ndarray:
        return _affine(self.indices, self.scale, self.bias, self.axis)


@attrs.frozen(eq=False)
class LUTWeights(QuantizedWeights):
    """n-bit indices into a look-up table of exactly ``2**nbits`` float32 entries."""

    nbits: int
    """Bits per index, 1-8."""
    indices: np.ndarray = attrs.field(converter=_as_indices)
    """Unsigned indices in the tensor's shape, each below ``2**nbits``."""
    table: np.ndarray = attrs.field(converter=_as_float32)
    """The look-up table."""

    def __attrs_post_init__(self) -> None:
        if len(self.table) != 2**self.nbits:
            msg = (
                f"a {self.nbits}-bit look-up table needs exactly {2**self.nbits} entries "
                f"(got {len(self.table)})"
            )
            raise QuantizationError(msg)
        if not np.all(np.isfinite(self.table)):
            msg = "a look-up table must hold finite values (got NaN or inf)"
            raise QuantizationError(msg)
        _check_indices(self.indices, self.nbits)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.indices.shape)

    @property
    def nbytes(self) -> int:
        return math.ceil(self.indices.size * self.nbits / 8) + 4 * len(self.table)

    def dequantize(self) -> np.ndarray:
        return self.table[self.indices]


def _check_indices(indices: np.ndarray, bits: int) -> None:
    if not 1 <= bits <= 8:
        msg = f"quantized indices need 1-8 bits (got {bits})"
        raise QuantizationError(msg)
    if indices.size and int(indices.max()) >= 2**bits:
        msg = f"{bits}-bit indices must be below {2**bits} (got {int(indices.max())})"
        raise QuantizationError(msg)


@attrs.frozen
class Storage:
    """How one ``WeightParams`` message stores its values."""

    kind: str
    """One of ``float32``, ``float16``, ``linear``, ``lut``, ``int8``, ``raw`` or ``empty``."""
    nbits: int
    """Bits per stored value (32, 16, 1-8; 0 when empty)."""
    nbytes: int
    """Bytes of values and tables in the message."""


def storage_of(wp: Any) -> Storage:
    """Describe how ``wp`` (a ``WeightParams`` message) stores its values."""
    quant = wp.quantization
    table_kind = quant.WhichOneof("QuantizationType")
    if len(wp.floatValue):
        return Storage("float32", 32, 4 * len(wp.floatValue))
    if len(wp.float16Value):
        return Storage("float16", 16, len(wp.float16Value))
    if len(wp.int8RawValue):
        return Storage("int8", 8, len(wp.int8RawValue) + 4 * len(quant.linearQuantization.scale))
    if len(wp.rawValue) and table_kind == "linearQuantization":
        extra = 4 * (len(quant.linearQuantization.scale) + len(quant.linearQuantization.bias))
        return Storage("linear", int(quant.numberOfBits), len(wp.rawValue) + extra)
    if len(wp.rawValue) and table_kind == "lookupTableQuantization":
        extra = 4 * len(quant.lookupTableQuantization.floatValue)
        return Storage("lut", int(quant.numberOfBits), len(wp.rawValue) + extra)
    if len(wp.rawValue):
        return Storage("raw", 8, len(wp.rawValue))
    return Storage("empty", 0, 0)


def decode(wp: Any, shape: tuple[int, ...], axis: int | None, where: str) -> np.ndarray:
    """Read a ``WeightParams`` message as the float32 tensor Core ML computes with.

    Args:
        wp: The ``WeightParams`` message.
        shape: The tensor's shape, from its layer's parameters.
        axis: The output-channel axis per-channel linear parameters run along, if any.
        where: Names the weight in error messages, e.g. ``"layer 'conv1' weights"``.

    Returns:
        A new float32 array of ``shape``.

    Raises:
        InvalidModelError: The storage is empty, malformed or holds the wrong number of values.
    """
    count = math.prod(shape)
    storage = storage_of(wp)
    if storage.kind == "float32":
        values = np.array(wp.floatValue, dtype=np.float32)
    elif storage.kind == "float16":
        values = np.frombuffer(wp.float16Value, dtype="<f2").astype(np.float32)
    elif storage.kind in {"linear", "lut", "int8"}:
        values = _decode_quantized(wp, storage, shape, axis, where)
    else:
        msg = f"{where}: expected float or quantized values (got {storage.kind} storage)"
        raise InvalidModelError(msg)
    if values.size != count:
        msg = f"{where}: the layer's shape {shape} needs {count} values (got {values.size})"
        raise InvalidModelError(msg)
    return values.reshape(shape)


def _decode_quantized(
    wp: Any, storage: Storage, shape: tuple[int, ...], axis: int | None, where: str
) -> np.ndarray:
    count = math.prod(shape)
    quant = wp.quantization
    if storage.kind == "int8":
        if len(wp.int8RawValue) != count:
            msg = f"{where}: int8 storage needs {count} bytes (got {len(wp.int8RawValue)})"
            raise InvalidModelError(msg)
        indices = np.frombuffer(wp.int8RawValue, dtype=np.int8).reshape(shape)
        scale = np.asarray(quant.linearQuantization.scale, dtype=np.float32)
        bias = np.asarray(quant.linearQuantization.bias, dtype=np.float32)
        bias = bias if len(bias) else np.zeros_like(scale)
        return _linear(indices, scale, bias, axis, where).reshape(-1)
    nbits = storage.nbits
    if not 1 <= nbits <= 8:
        msg = f"{where}: quantized weights need 1-8 bits (got {nbits})"
        raise InvalidModelError(msg)
    needed = math.ceil(count * nbits / 8)
    if len(wp.rawValue) < needed:
        msg = f"{where}: {count} {nbits}-bit values need {needed} bytes (got {len(wp.rawValue)})"
        raise InvalidModelError(msg)
    indices = unpack_indices(wp.rawValue, count, nbits)
    if storage.kind == "lut":
        table = np.asarray(quant.lookupTableQuantization.floatValue, dtype=np.float32)
        if len(table) != 2**nbits:
            msg = f"{where}: a {nbits}-bit look-up table needs {2**nbits} entries (got {len(table)})"
            raise InvalidModelError(msg)
        return table[indices]
    scale = np.asarray(quant.linearQuantization.scale, dtype=np.float32)
    bias = np.asarray(quant.linearQuantization.bias, dtype=np.float32)
    bias = bias if len(bias) else np.zeros_like(scale)
    return _linear(indices.reshape(shape), scale, bias, axis, where).reshape(-1)


def _linear(
    indices: np.ndarray, scale: np.ndarray, bias: np.ndarray, axis: int | None, where: str
) -> np.ndarray:
    if axis is None and indices.ndim == 1:
        axis = 0  # Core ML accepts one scale per element of a vector
    channels = 1 if axis is None else indices.shape[axis]
    if len(scale) not in {1, channels} or len(bias) != len(scale):
        msg = (
            f"{where}: linear quantization needs 1 or {channels} scale and bias values "
            f"(got {len(scale)} scales, {len(bias)} biases)"
        )
        raise InvalidModelError(msg)
    return _affine(indices, scale, bias, axis)


def _affine(indices: np.ndarray, scale: np.ndarray, bias: np.ndarray, axis: int | None) -> np.ndarray:
    """``scale * q + bias`` in float32, the scale and bias running along ``axis`` when there are several."""
    shape = [1] * indices.ndim
    if len(scale) > 1 and axis is not None:
        shape[axis] = len(scale)
    return indices.astype(np.float32) * scale.reshape(shape) + bias.reshape(shape)


def encode(wp: Any, weights: QuantizedWeights) -> None:
    """Store ``weights`` in the ``WeightParams`` message ``wp``, replacing what it held."""
    wp.ClearField("floatValue")
    wp.ClearField("float16Value")
    wp.ClearField("rawValue")
    wp.ClearField("int8RawValue")
    wp.ClearField("quantization")
    if isinstance(weights, Float16Weights):
        wp.float16Value = weights.values.astype("<f2").tobytes()
        return
    if isinstance(weights, LinearWeights):
        wp.quantization.numberOfBits = weights.nbits
        wp.quantization.linearQuantization.scale.extend(weights.scale)
        wp.quantization.linearQuantization.bias.extend(weights.bias)
        wp.rawValue = pack_indices(weights.indices, weights.nbits)
        return
    if isinstance(weights, LUTWeights):
        wp.quantization.numberOfBits = weights.nbits
        wp.quantization.lookupTableQuantization.floatValue.extend(weights.table)
        wp.rawValue = pack_indices(weights.indices, weights.nbits)
        return
    msg = f"cannot store {type(weights).__name__}; expected a Float16, Linear or LUT weight"
    raise QuantizationError(msg)


def encode_float32(wp: Any, values: np.ndarray) -> None:
    """Store ``values`` as plain float32 in ``wp``, replacing what it held."""
    for field in ("float16Value", "rawValue", "int8RawValue", "quantization"):
        wp.ClearField(field)
    wp.floatValue[:] = np.asarray(values, dtype=np.float32).reshape(-1)
