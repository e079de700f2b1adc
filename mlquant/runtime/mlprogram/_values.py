"""MIL value types as numpy: dtypes, declared shapes and immediate values.

Interim home: the ML Program format (``mlquant.formats.mlprogram.values``) owns the MIL dtype
mapping; this module reads only what the executor needs (an op output's dtype and shape, the
immediate values some ops carry inline) and is replaced by that module once both branches meet.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import UnsupportedModelError

#: MIL ``DataType`` enum value -> numpy dtype (the types the executor computes with).
DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.bool_),
    2: np.dtype(np.str_),
    10: np.dtype(np.float16),
    11: np.dtype(np.float32),
    12: np.dtype(np.float64),
    21: np.dtype(np.int8),
    22: np.dtype(np.int16),
    23: np.dtype(np.int32),
    24: np.dtype(np.int64),
    31: np.dtype(np.uint8),
    32: np.dtype(np.uint16),
    33: np.dtype(np.uint32),
    34: np.dtype(np.uint64),
}


def dtype_of(data_type: int, where: str) -> np.dtype:
    """The numpy dtype of a MIL ``DataType`` enum value.

    Raises:
        UnsupportedModelError: A type numpy cannot hold (sub-byte, bfloat16, float8).
    """
    try:
        return DTYPES[int(data_type)]
    except KeyError:
        msg = f"{where}: MIL data type {int(data_type)} has no numpy equivalent here"
        raise UnsupportedModelError(msg) from None


def tensor_type(value_type: Any) -> Any | None:
    """The ``TensorType`` of a ``ValueType`` (None for lists, tuples, dictionaries, states)."""
    return value_type.tensorType if value_type.WhichOneof("type") == "tensorType" else None


def declared_shape(value_type: Any) -> tuple[int | None, ...] | None:
    """A tensor type's shape, None for an unknown dimension; None for a non-tensor type."""
    tensor = tensor_type(value_type)
    if tensor is None:
        return None
    return tuple(
        int(d.constant.size) if d.WhichOneof("dimension") == "constant" else None for d in tensor.dimensions
    )


def immediate(value: Any, where: str) -> np.ndarray:
    """The numpy array an immediate ``Value`` holds (a tensor of its declared shape and type).

    Raises:
        UnsupportedModelError: A blob reference, a list or another non-tensor immediate.
    """
    tensor = tensor_type(value.type)
    if value.WhichOneof("value") != "immediateValue" or tensor is None:
        msg = f"{where}: only immediate tensor values are read inline (got {value.WhichOneof('value')})"
        raise UnsupportedModelError(msg)
    dtype = dtype_of(tensor.dataType, where)
    declared = declared_shape(value.type) or ()
    shape = tuple(-1 if n is None else n for n in declared)
    data = value.immediateValue.tensor
    which = data.WhichOneof("value")
    if which == "bytes":
        array = np.frombuffer(data.bytes.values, dtype=dtype.newbyteorder("<")).astype(dtype)
    elif which is None:
        array = np.zeros(0, dtype=dtype)
    else:
        array = np.asarray(list(getattr(data, which).values)).astype(dtype)
    return array.reshape(shape) if shape.count(-1) <= 1 else array
