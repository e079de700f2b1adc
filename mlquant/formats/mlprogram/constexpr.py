"""The values of ``const`` and ``constexpr_*`` operations, decoded exactly as each op definition says.

Each ``constexpr_*`` op's inputs are constants: in iOS16/iOS17 opsets they are the op's
attributes, from iOS18 on its inputs (a literal value, or the name of another constexpr's
output, as in joint sparse + palettized weights). :class:`Constants` resolves those and computes
what the op definitions (coremltools' ``ops/defs/iOS16/constexpr_ops.py`` and
``ops/defs/iOS18/compression.py``) compute, in the same dtypes, so the values match bit for bit:

* ``constexpr_affine_dequantize`` (iOS16): ``scale * (data - zero_point)`` along ``axis``, in float32,
  then cast to the scale's dtype;
* ``constexpr_blockwise_shift_scale`` (iOS18): ``scale * (data - offset)``, each repeated over its
  block, in the scale's dtype;
* ``constexpr_cast``: float16 to the named dtype;
* ``constexpr_lut_to_dense``: iOS16 packed indices into one table; iOS18 indices in the tensor's
  shape into per-block tables, optionally of vectors along ``vector_axis``;
* ``constexpr_sparse_to_dense``: iOS16 packed bit mask and a ``shape``; iOS18 ``uint1`` mask;
* ``constexpr_lut_to_sparse`` and ``constexpr_sparse_blockwise_shift_scale`` (iOS18): the mask and
  the decompressed non-zero values.

An op mlquant does not know raises :class:`~mlquant.errors.UnsupportedModelError` naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ...errors import InvalidModelError, UnsupportedModelError
from .values import MilType, by_name, mil_type, tensor_value

__all__ = ["KNOWN_OPS", "Constants", "op_name", "params"]

BlobReader = Callable[[str, int, MilType, int], np.ndarray]


def op_name(op: Any) -> str:
    """An operation's name: its ``name`` attribute, else its first output's name, else its type."""
    if "name" in op.attributes:
        strings = op.attributes["name"].immediateValue.tensor.strings.values
        if strings:
            return str(strings[0].decode() if isinstance(strings[0], bytes) else strings[0])
    return str(op.outputs[0].name) if op.outputs else op.type


def params(op: Any) -> dict[str, Any]:
    """An op's constant parameters: name to a ``Value`` message or the name of another op's output."""
    found: dict[str, Any] = {key: value for key, value in op.attributes.items() if key != "name"}
    for key, argument in op.inputs.items():
        if len(argument.arguments) != 1:
            msg = f"operation '{op_name(op)}' ({op.type}): input {key} binds {len(argument.arguments)} values; expected 1"
            raise UnsupportedModelError(msg)
        binding = argument.arguments[0]
        found[key] = binding.value if binding.WhichOneof("binding") == "value" else binding.name
    return found


class Constants:
    """Computes the value of any constant output of a program.

    Args:
        producers: Output name to ``(operation, output index)``, for every op of the function.
        blobs: Reads a blob, see :func:`.values.tensor_value`.
    """

    def __init__(self, producers: Mapping[str, tuple[Any, int]], blobs: BlobReader | None) -> None:
        self._producers = producers
        self._blobs = blobs

    def value(self, name: str) -> np.ndarray:
        """The value of output ``name`` of a ``const`` or ``constexpr_*`` op.

        Raises:
            UnsupportedModelError: It is not a constant, or a constexpr op mlquant does not know.
            InvalidModelError: Its inputs contradict its op definition.
        """
        if name not in self._producers:
            msg = f"no operation outputs {name!r}"
            raise InvalidModelError(msg)
        op, index = self._producers[name]
        return self.outputs(op)[index]

    def outputs(self, op: Any) -> tuple[np.ndarray, ...]:
        """Every output value of a ``const`` or ``constexpr_*`` op."""
        decode = _DECODERS.get(op.type)
        if decode is None:
            what = "a constexpr op mlquant cannot read" if op.type.startswith("constexpr_") else "not a constant"
            msg = f"operation '{op_name(op)}' ({op.type}) is {what}"
            raise UnsupportedModelError(msg)
        args = _Args(op, self)
        try:
            result = decode(args)
        except (ValueError, IndexError) as error:
            msg = f"operation '{op_name(op)}' ({op.type}): its inputs contradict the op's definition ({error})"
            raise InvalidModelError(msg) from None
        return result if isinstance(result, tuple) else (result,)

    def param(self, value: Any) -> np.ndarray:
        """A parameter's value: a literal ``Value`` message, or a name of another op's output."""
        if isinstance(value, str):
            return self.value(value)
        return tensor_value(value, self._blobs)


class _Args:
    """An op's parameters, each decoded on request."""

    def __init__(self, op: Any, constants: Constants) -> None:
        self.op = op
        self._params = params(op)
        self._constants = constants

    def __contains__(self, key: str) -> bool:
        return key in self._params

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._params:
            msg = f"operation '{op_name(self.op)}' ({self.op.type}) has no parameter {key!r}"
            raise InvalidModelError(msg)
        return self._constants.param(self._params[key])

    def get(self, key: str) -> np.ndarray | None:
        return self[key] if key in self._params else None

    def scalar(self, key: str) -> Any:
        return self[key].reshape(-1)[0]


def _const(a: _Args) -> np.ndarray:
    return a["val"]


def _promote(param: np.ndarray, rank: int, axis: int) -> np.ndarray:
    """A scalar or vector parameter shaped to broadcast along ``axis`` of a rank-``rank`` tensor."""
    if param.ndim == rank:
        return param
    shape = [1] * rank
    if param.ndim == 1:
        shape[axis % rank] = param.shape[0]
    return param.reshape(shape)


def _affine_dequantize(a: _Args) -> np.ndarray:
    data, scale, zero = a["quantized_data"], a["scale"], a["zero_point"]
    axis = int(a.scalar("axis"))
    out = data.astype(np.float32)
    out -= _promote(zero, data.ndim, axis).astype(np.float32)
    out *= _promote(scale, data.ndim, axis)
    return out.astype(scale.dtype)


def _cast(a: _Args) -> np.ndarray:
    target = str(a.scalar("output_dtype"))
    return a["source_val"].astype(by_name(target).dtype)


def _blocks(param: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``param`` repeated over its blocks to ``shape`` (each dim of ``param`` divides ``shape``'s)."""
    if param.ndim != len(shape) or any(n % m for n, m in zip(shape, param.shape)):
        msg = f"a parameter of shape {param.shape} does not tile a tensor of shape {shape}"
        raise ValueError(msg)
    for axis, (n, m) in enumerate(zip(shape, param.shape)):
        if n != m:
            param = np.repeat(param, n // m, axis)
    return param


def shift_scale(data: np.ndarray, scale: np.ndarray, offset: np.ndarray | None) -> np.ndarray:
    """``scale * (data - offset)`` with blockwise parameters, in the scale's dtype."""
    values = data.astype(scale.dtype)
    if offset is not None:
        values = values - _blocks(offset, values.shape)
    return _blocks(scale, values.shape) * values


def _blockwise_shift_scale(a: _Args) -> np.ndarray:
    return shift_scale(a["data"], a["scale"], a.get("offset"))


def lut_lookup(indices: np.ndarray, lut: np.ndarray, vector_axis: int | None) -> np.ndarray:
    """iOS18 look-up: ``indices`` (the tensor's shape, or its shape with ``vector_axis`` divided)
    into ``lut`` of shape ``(*groups, 2**nbits, vector_size)``, one table per block."""
    rank = indices.ndim
    if lut.ndim != rank + 2:
        msg = f"a look-up table for rank-{rank} indices needs rank {rank + 2} (got shape {lut.shape})"
        raise ValueError(msg)
    groups, (entries, vector) = lut.shape[:rank], lut.shape[rank:]
    if any(n % g for n, g in zip(indices.shape, groups)):
        msg = f"table groups {groups} do not divide the indices' shape {indices.shape}"
        raise ValueError(msg)
    if indices.size and int(indices.max()) >= entries:
        msg = f"an index is {int(indices.max())}, beyond the table's {entries} entries"
        raise ValueError(msg)
    split = [d for n, g in zip(indices.shape, groups) for d in (g, n // g)]
    tables = lut.reshape([d for g in groups for d in (g, 1)] + [entries, vector])
    picked = np.take_along_axis(tables, indices.reshape([*split, 1, 1]).astype(np.intp), axis=-2)
    picked = picked.reshape((*indices.shape, vector))
    if vector == 1:
        return picked.reshape(indices.shape)
    if vector_axis is None:
        msg = f"a table of {vector}-vectors needs a vector_axis"
        raise ValueError(msg)
    axis = vector_axis % rank
    out_shape = list(indices.shape)
    out_shape[axis] *= vector
    return np.moveaxis(picked, -1, axis + 1).reshape(out_shape)


def _lut_to_dense(a: _Args) -> np.ndarray:
    lut = a["lut"]
    if "shape" not in a:
        axis = a.get("vector_axis")
        return lut_lookup(a["indices"], lut, None if axis is None else int(axis.reshape(-1)[0]))
    shape = tuple(int(n) for n in a["shape"].reshape(-1))
    nbits = int(np.log2(lut.size))
    if lut.ndim != 1 or 2**nbits != lut.size or nbits not in (1, 2, 4, 6, 8):
        msg = f"an iOS16 look-up table needs 2, 4, 16, 64 or 256 entries (got shape {lut.shape})"
        raise ValueError(msg)
    count = int(np.prod(shape))
    packed = a["indices"].reshape(-1).astype(np.uint8)
    if packed.size * 8 < count * nbits:
        msg = f"{count} {nbits}-bit indices need {-(-count * nbits // 8)} bytes (got {packed.size})"
        raise ValueError(msg)
    from ...weights.packing import unpack_indices

    return lut[unpack_indices(packed, count, nbits, order="little")].reshape(shape)


def _scatter(nonzero: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.zeros(mask.shape, dtype=nonzero.dtype)
    where = mask != 0
    if int(where.sum()) != nonzero.size:
        msg = f"the mask has {int(where.sum())} ones for {nonzero.size} non-zero values"
        raise ValueError(msg)
    out[where] = nonzero.reshape(-1)
    return out


def _sparse_to_dense(a: _Args) -> np.ndarray:
    nonzero, mask = a["nonzero_data"], a["mask"]
    if "shape" not in a:
        return _scatter(nonzero, mask)
    shape = tuple(int(n) for n in a["shape"].reshape(-1))
    count = int(np.prod(shape))
    bits = np.unpackbits(mask.reshape(-1).astype(np.uint8), bitorder="little")
    if bits[count:].any():
        msg = f"the mask has bits set beyond the tensor's {count} values"
        raise ValueError(msg)
    return _scatter(nonzero, bits[:count]).reshape(shape)


def _lut_to_sparse(a: _Args) -> tuple[np.ndarray, np.ndarray]:
    mask, lut = a["indices_mask"], a["lut"]
    axis = a.get("vector_axis")
    vector_axis = None if axis is None else int(axis.reshape(-1)[0])
    dense = lut_lookup(_scatter(a["indices_nonzero_data"], mask), lut, vector_axis)
    if vector_axis is not None:
        mask = np.repeat(mask, lut.shape[-1], axis=vector_axis)
    return mask, dense[mask != 0].reshape(-1)


def _sparse_shift_scale(a: _Args) -> tuple[np.ndarray, np.ndarray]:
    mask = a["data_mask"]
    dense = shift_scale(_scatter(a["nonzero_data"], mask), a["scale"], a.get("offset"))
    return mask, dense[mask != 0].reshape(-1)


_DECODERS: dict[str, Callable[[_Args], np.ndarray | tuple[np.ndarray, ...]]] = {
    "const": _const,
    "constexpr_affine_dequantize": _affine_dequantize,
    "constexpr_blockwise_shift_scale": _blockwise_shift_scale,
    "constexpr_cast": _cast,
    "constexpr_lut_to_dense": _lut_to_dense,
    "constexpr_lut_to_sparse": _lut_to_sparse,
    "constexpr_sparse_blockwise_shift_scale": _sparse_shift_scale,
    "constexpr_sparse_to_dense": _sparse_to_dense,
}

#: The constant-producing op types mlquant reads.
KNOWN_OPS = tuple(sorted(_DECODERS))


def output_type(op: Any, index: int = 0) -> MilType:
    """The MIL element type of an op's output."""
    return mil_type(op.outputs[index].type.tensorType.dataType)
