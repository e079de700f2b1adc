"""MIL data types and tensor values: the one home of the MIL dtype <-> numpy mapping.

``MIL.proto`` names each element type with a ``DataType`` enum number; a tensor value is either
immediate (inside the protobuf, in the ``floats``/``ints``/``bytes``... field its type uses) or a
``BlobFileValue`` (an offset into ``weight.bin``, see :mod:`.blob`). Sub-byte types (``int4``,
``uint1``-``uint6``) are packed least significant bit first in both places and read here as
``int8``/``uint8`` arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from ...errors import InvalidModelError, UnsupportedModelError
from ...weights.packing import pack_indices, packed_size, unpack_indices

__all__ = [
    "MilType",
    "by_name",
    "decode_elements",
    "dtype_of",
    "encode_elements",
    "immediate_value",
    "mil_type",
    "shape_of",
    "tensor_type",
    "tensor_value",
]


@attrs.frozen
class MilType:
    """One MIL element type."""

    code: int
    """The ``DataType`` enum number in ``MIL.proto``."""
    name: str
    """The MIL name (``fp16``, ``uint4``...), as op definitions and ``constexpr_cast`` spell it."""
    dtype: np.dtype[Any]
    """The numpy dtype values of this type are read into."""
    nbits: int
    """Bits per element in storage."""
    blob: int | None
    """The ``BlobDataType`` number in ``weight.bin`` (``MILBlob/Blob/BlobDataType.hpp``); None if blobs cannot hold it."""
    field: str
    """The ``TensorValue`` field an immediate value of this type is written to."""

    @property
    def sub_byte(self) -> bool:
        """Whether elements take fewer than 8 bits."""
        return self.nbits < 8

    @property
    def signed(self) -> bool:
        """Whether the type is a signed integer."""
        return self.dtype.kind == "i"


def _t(code: int, name: str, dtype: Any, nbits: int, blob: int | None, field: str) -> MilType:
    return MilType(code, name, np.dtype(dtype), nbits, blob, field)


_TYPES = (
    _t(1, "bool", np.bool_, 8, None, "bools"),
    _t(2, "string", object, 0, None, "strings"),
    _t(10, "fp16", np.float16, 16, 1, "bytes"),
    _t(11, "fp32", np.float32, 32, 2, "floats"),
    _t(12, "fp64", np.float64, 64, None, "doubles"),
    _t(21, "int8", np.int8, 8, 4, "bytes"),
    _t(22, "int16", np.int16, 16, 6, "ints"),
    _t(23, "int32", np.int32, 32, 14, "ints"),
    _t(24, "int64", np.int64, 64, None, "longInts"),
    _t(25, "int4", np.int8, 4, 8, "bytes"),
    _t(31, "uint8", np.uint8, 8, 3, "bytes"),
    _t(32, "uint16", np.uint16, 16, 7, "ints"),
    _t(33, "uint32", np.uint32, 32, 15, "bytes"),
    _t(34, "uint64", np.uint64, 64, None, "longInts"),
    _t(35, "uint4", np.uint8, 4, 11, "bytes"),
    _t(36, "uint2", np.uint8, 2, 10, "bytes"),
    _t(37, "uint1", np.uint8, 1, 9, "bytes"),
    _t(38, "uint6", np.uint8, 6, 13, "bytes"),
    _t(39, "uint3", np.uint8, 3, 12, "bytes"),
)
_BY_CODE = {t.code: t for t in _TYPES}
_BY_NAME = {t.name: t for t in _TYPES}
_BY_BLOB = {t.blob: t for t in _TYPES if t.blob is not None}
#: The unsigned MIL type of each index width a look-up table takes.
UINT_OF_BITS = {t.nbits: t for t in _TYPES if t.name.startswith("uint") and t.nbits <= 8}


def mil_type(code: int) -> MilType:
    """The MIL type with ``DataType`` number ``code``.

    Raises:
        UnsupportedModelError: mlquant cannot read values of this type (bfloat16, float8...).
    """
    if code not in _BY_CODE:
        msg = f"MIL data type {code} is not one mlquant reads (known: {', '.join(t.name for t in _TYPES)})"
        raise UnsupportedModelError(msg)
    return _BY_CODE[code]


def by_name(name: str) -> MilType:
    """The MIL type named ``name`` (``fp16``, ``uint4``...)."""
    if name not in _BY_NAME:
        msg = f"no MIL data type named {name!r} (known: {', '.join(_BY_NAME)})"
        raise UnsupportedModelError(msg)
    return _BY_NAME[name]


def by_blob(code: int) -> MilType:
    """The MIL type a ``weight.bin`` blob of ``BlobDataType`` ``code`` holds."""
    if code not in _BY_BLOB:
        msg = f"weight.bin blob data type {code} is not one mlquant reads"
        raise UnsupportedModelError(msg)
    return _BY_BLOB[code]


def dtype_of(code: int) -> np.dtype[Any]:
    """The numpy dtype values of MIL ``DataType`` ``code`` are read into."""
    return mil_type(code).dtype


def shape_of(value_type: Any) -> tuple[int, ...]:
    """The shape of a ``ValueType`` holding a tensor type with constant dimensions.

    Raises:
        UnsupportedModelError: The type is not a tensor, or has a dimension of unknown size.
    """
    if value_type.WhichOneof("type") != "tensorType":
        msg = f"expected a tensor type (got {value_type.WhichOneof('type')})"
        raise UnsupportedModelError(msg)
    dims = value_type.tensorType.dimensions
    if any(d.WhichOneof("dimension") != "constant" for d in dims):
        msg = "expected a tensor of known shape (a dimension has an unknown size)"
        raise UnsupportedModelError(msg)
    return tuple(int(d.constant.size) for d in dims)


def tensor_type(value_type: Any, code: int, shape: Sequence[int]) -> Any:
    """Fill ``value_type`` (a ``ValueType`` message) with a tensor of ``code`` and ``shape``; return it."""
    value_type.Clear()
    tensor = value_type.tensorType
    tensor.dataType = code
    tensor.rank = len(shape)
    for size in shape:
        tensor.dimensions.add().constant.size = int(size)
    return value_type


def decode_elements(raw: bytes | memoryview | np.ndarray, kind: MilType, count: int) -> np.ndarray:
    """``count`` elements of ``kind`` from their stored bytes (sub-byte types packed LSB first)."""
    data = np.frombuffer(raw, dtype=np.uint8) if not isinstance(raw, np.ndarray) else raw.view(np.uint8)
    if kind.sub_byte:
        need = packed_size(count, kind.nbits)
        if data.size < need:
            msg = f"{kind.name} data of {count} elements needs {need} bytes (got {data.size})"
            raise InvalidModelError(msg)
        values = unpack_indices(data[:need], count, kind.nbits, order="little")
        if kind.signed:
            return (values.astype(np.int8) << (8 - kind.nbits)) >> (8 - kind.nbits)
        return values
    need = count * kind.dtype.itemsize
    if data.size < need:
        msg = f"{kind.name} data of {count} elements needs {need} bytes (got {data.size})"
        raise InvalidModelError(msg)
    return np.frombuffer(data[:need].tobytes(), dtype=kind.dtype.newbyteorder("<")).astype(kind.dtype)


def encode_elements(values: np.ndarray, kind: MilType) -> bytes:
    """The stored bytes of ``values`` as elements of ``kind`` (sub-byte types packed LSB first)."""
    flat = np.ascontiguousarray(values).reshape(-1)
    if kind.sub_byte:
        low = flat.astype(np.int16) & ((1 << kind.nbits) - 1)
        return pack_indices(low.astype(np.uint8), kind.nbits, order="little")
    return flat.astype(kind.dtype.newbyteorder("<")).tobytes()


def tensor_value(value: Any, blobs: Callable[[str, int, MilType, int], np.ndarray] | None) -> np.ndarray:
    """The array a ``Value`` message holds, in its type's shape and numpy dtype.

    Args:
        value: A ``Value`` message with a tensor type, immediate or in a blob file.
        blobs: Reads a blob: ``(file name, offset, MIL type, element count) -> flat array``.

    Raises:
        InvalidModelError: The value holds the wrong number of elements, or a blob is unreadable.
        UnsupportedModelError: A type mlquant does not read, or a blob with no weights to read from.
    """
    kind = mil_type(value.type.tensorType.dataType)
    shape = shape_of(value.type)
    count = math.prod(shape)
    which = value.WhichOneof("value")
    if which == "blobFileValue":
        if blobs is None:
            msg = f"a {kind.name} value lives in {value.blobFileValue.fileName}, but the model has no weights folder"
            raise UnsupportedModelError(msg)
        flat = blobs(value.blobFileValue.fileName, int(value.blobFileValue.offset), kind, count)
    elif which == "immediateValue" and value.immediateValue.WhichOneof("value") == "tensor":
        flat = _immediate(value.immediateValue.tensor, kind, count)
    else:
        msg = f"expected a tensor value (got {which or 'nothing'})"
        raise UnsupportedModelError(msg)
    if flat.size != count:
        msg = f"a {kind.name} tensor of shape {shape} needs {count} values (got {flat.size})"
        raise InvalidModelError(msg)
    return flat.reshape(shape)


def _immediate(tensor: Any, kind: MilType, count: int) -> np.ndarray:
    which = tensor.WhichOneof("value")
    if which == "bytes":
        return decode_elements(tensor.bytes.values, kind, count)
    if which is None:
        return np.zeros(0, dtype=kind.dtype)
    values = list(getattr(tensor, which).values)
    if which == "strings":
        return np.array([v.decode() if isinstance(v, bytes) else v for v in values], dtype=object)
    return np.array(values).astype(kind.dtype)


def immediate_value(value: Any, array: np.ndarray, kind: MilType) -> Any:
    """Fill ``value`` (a ``Value`` message) with ``array`` as an immediate tensor of ``kind``; return it."""
    tensor_type(value.type, kind.code, array.shape)
    tensor = value.immediateValue.tensor
    if kind.field == "bytes":
        tensor.bytes.values = encode_elements(array, kind)
    elif kind.field == "strings":
        tensor.strings.values.extend(str(v).encode() for v in array.reshape(-1))
    else:
        field = getattr(tensor, kind.field)
        field.SetInParent()
        field.values.extend(array.reshape(-1).tolist())
    return value
