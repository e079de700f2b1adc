"""The NeuralNetwork weight codec: ``WeightParams`` messages to numpy arrays and back.

A NeuralNetwork weight is stored in one of these ways (``NeuralNetwork.proto``,
``WeightParams``):

* ``floatValue``: float32 values;
* ``float16Value``: little-endian IEEE half floats, two bytes a value;
* ``rawValue`` with ``quantization``: n-bit unsigned indices (1 <= n <= 8), packed
  most-significant-bit first (:mod:`mlquant.weights.packing`), mapped to floats either linearly
  (``scale * q + bias``, one or one-per-output-channel scale and bias) or through a look-up
  table of exactly ``2**n`` float32 entries;
* ``int8RawValue`` with a linear ``scale``: signed bytes, written by converters for
  ``int8DynamicQuantize`` layers.

:func:`encode` writes a :class:`~mlquant.weights.QuantizedWeights`; :func:`decode` reads any
storage back as the float32 array Core ML computes with.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from ...errors import InvalidModelError, QuantizationError
from ...weights.forms import Float16Weights, LinearWeights, LUTWeights, QuantizedWeights, affine
from ...weights.packing import pack_indices, unpack_indices

__all__ = ["Storage", "decode", "encode", "encode_float32", "storage_of"]


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
    return affine(indices, scale, bias, axis)


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
