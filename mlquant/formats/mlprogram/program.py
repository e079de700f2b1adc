"""Where an ML Program keeps its weights: the constants its weight-bearing operations consume.

This module knows the layout of ``MIL.proto`` programs: the function mlquant works on, its
block for the function's opset, every operation (nested blocks included), and which inputs of
which operations are weights, with the output-channel axis of each (from the MIL op
definitions: ``conv`` weights are ``(C_out, C_in/groups, *k)``, ``conv_transpose`` weights
``(C_in, C_out/groups, *k)``, ``linear`` weights ``(D_out, D_in)``...).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import numpy as np

from ...errors import UnsupportedModelError
from .constexpr import Constants, op_name, output_type, params
from .values import MilType, mil_type, shape_of

__all__ = ["OPSETS", "WEIGHT_OPS", "Slot", "function_name", "main_block", "operations", "slots", "storage_of"]

#: Function opsets by specification version, as coremltools writes them.
OPSETS = {6: "CoreML5", 7: "CoreML6", 8: "CoreML7", 9: "CoreML8"}

_F = tuple[str, int | None, bool]
#: Weight inputs of each weight-bearing op: ``(input, output-channel axis, is bias)``.
WEIGHT_OPS: dict[str, tuple[_F, ...]] = {
    "conv": (("weight", 0, False), ("bias", None, True)),
    "conv_transpose": (("weight", 1, False), ("bias", None, True)),
    "linear": (("weight", 0, False), ("bias", None, True)),
    "matmul": (("x", None, False), ("y", None, False)),
    "batch_norm": (("mean", None, False), ("variance", None, False), ("gamma", None, False), ("beta", None, False)),
    "layer_norm": (("gamma", None, False), ("beta", None, False)),
    "instance_norm": (("gamma", None, False), ("beta", None, False)),
    "gather": (("x", 0, False),),
    "gru": (("weight_ih", 0, False), ("weight_hh", 0, False), ("bias", None, True)),
    "rnn": (("weight_ih", 0, False), ("weight_hh", 0, False), ("bias", None, True)),
    "lstm": (
        ("weight_ih", 0, False), ("weight_hh", 0, False), ("bias", None, True), ("peephole", None, False),
        ("weight_ih_back", 0, False), ("weight_hh_back", 0, False), ("bias_back", None, True),
        ("peephole_back", None, False),
    ),
}


@attrs.frozen
class Slot:
    """One weight: a constant an operation consumes through one of its inputs."""

    layer: str
    """The consuming operation's name."""
    layer_type: str
    """The consuming operation's type (``conv``, ``linear``...)."""
    field: str
    """The input it is bound to (``weight``, ``bias``, ``gamma``...)."""
    producer: str
    """The name of the constant output (of a ``const`` or ``constexpr_*`` op) it is."""
    shape: tuple[int, ...]
    """The tensor's shape."""
    channel_axis: int | None
    """The output-channel axis, or None."""
    is_bias: bool
    """Whether it is an additive bias vector."""
    kind: MilType = attrs.field(eq=False)
    """The element type of the constant (what its consumers see)."""


def function_name(spec: Any) -> str:
    """The function mlquant works on: the description's default function, else ``main``, else the only one.

    Raises:
        UnsupportedModelError: The program has no functions, or several and none of them is the default.
    """
    functions = list(spec.mlProgram.functions)
    default = spec.description.defaultFunctionName
    if default and default in functions:
        return str(default)
    if "main" in functions:
        return "main"
    if len(functions) == 1:
        return str(functions[0])
    msg = f"the ML Program has functions {', '.join(sorted(functions)) or 'none'} and names no default one"
    raise UnsupportedModelError(msg)


def main_block(spec: Any, name: str) -> Any:
    """The block of function ``name`` for the function's own opset."""
    function = spec.mlProgram.functions[name]
    if function.opset not in function.block_specializations:
        found = ", ".join(function.block_specializations) or "none"
        msg = f"function {name!r} declares opset {function.opset} but has blocks for {found}"
        raise UnsupportedModelError(msg)
    return function.block_specializations[function.opset]


def operations(block: Any) -> Iterator[Any]:
    """Every operation of ``block``, descending into nested blocks (``cond``, ``while_loop``)."""
    for op in block.operations:
        yield op
        for inner in op.blocks:
            yield from operations(inner)


def producers(block: Any) -> dict[str, tuple[Any, int]]:
    """Output name to ``(operation, output index)`` for every operation of ``block``."""
    return {out.name: (op, i) for op in operations(block) for i, out in enumerate(op.outputs)}


def is_constant(op: Any) -> bool:
    """Whether ``op`` is a ``const`` or ``constexpr_*`` operation."""
    return op.type == "const" or op.type.startswith("constexpr_")


def slots(block: Any, made: dict[str, tuple[Any, int]]) -> list[Slot]:
    """Every weight of ``block``, in operation order (a constant shared by several ops counts once)."""
    found: list[Slot] = []
    seen: set[str] = set()
    for op in operations(block):
        for field, axis, is_bias in WEIGHT_OPS.get(op.type, ()):
            if field not in op.inputs or len(op.inputs[field].arguments) != 1:
                continue
            name = op.inputs[field].arguments[0].name
            if not name or name in seen or name not in made or not is_constant(made[name][0]):
                continue
            producer, index = made[name]
            if len(producer.outputs) != 1:
                continue
            kind = output_type(producer, index)
            if kind.dtype.kind != "f":
                continue
            shape = shape_of(producer.outputs[index].type)
            if op.type == "matmul":
                axis = _matmul_axis(op, field, len(shape), made)
            if axis is not None and len(shape) <= axis:
                axis = None
            seen.add(name)
            found.append(Slot(op_name(op), op.type, field, name, shape, axis, is_bias, kind))
    return found


def _matmul_axis(op: Any, field: str, rank: int, made: dict[str, tuple[Any, int]]) -> int | None:
    """The output-channel axis of a constant matmul operand: the axis that is not contracted."""
    if rank < 2:
        return None
    flag = f"transpose_{field}"
    transposed = False
    if flag in op.inputs and op.inputs[flag].arguments:
        binding = op.inputs[flag].arguments[0]
        if binding.name in made and made[binding.name][0].type == "const":
            transposed = bool(Constants(made, None).value(binding.name).reshape(-1)[0])
    columns_out = (field == "y") != transposed
    return rank - 1 if columns_out else rank - 2


@attrs.frozen
class Storage:
    """How a weight is stored."""

    kind: str
    """``float32``, ``float16``, ``lut``, ``affine``, ``sparse``, ``sparse+lut``, ``sparse+affine``."""
    nbits: int
    """Bits per stored value."""
    nbytes: int
    """Bytes of every constant behind it (values, tables, scales, masks)."""


def storage_of(name: str, made: dict[str, tuple[Any, int]], blob_size: Any) -> Storage:
    """How the constant output ``name`` is stored.

    Args:
        name: A constant output's name.
        made: Output name to ``(operation, output index)``.
        blob_size: ``(file name, offset) -> bytes`` of a blob's data.
    """
    op, _ = made[name]
    nbytes = _bytes(op, made, blob_size)
    kind, nbits = _kind(op, made)
    return Storage(kind, nbits, nbytes)


def _kind(op: Any, made: dict[str, tuple[Any, int]]) -> tuple[str, int]:
    args = params(op)
    if op.type == "const":
        kind = output_type(op)
        return ("float32" if kind.name == "fp32" else "float16" if kind.name == "fp16" else kind.name), kind.nbits
    if op.type == "constexpr_cast":
        return "float16", 16
    if op.type in ("constexpr_affine_dequantize", "constexpr_blockwise_shift_scale"):
        data = args.get("quantized_data", args.get("data"))
        return "affine", _type_of(data, made).nbits
    if op.type == "constexpr_lut_to_dense":
        return "lut", _lut_bits(args["lut"], made, "shape" in args)
    if op.type == "constexpr_lut_to_sparse":
        return "sparse+lut", _lut_bits(args["lut"], made, False)
    if op.type == "constexpr_sparse_blockwise_shift_scale":
        return "sparse+affine", _type_of(args["nonzero_data"], made).nbits
    if op.type == "constexpr_sparse_to_dense":
        inner = args["nonzero_data"]
        if isinstance(inner, str) and inner in made and made[inner][0].type.startswith("constexpr_"):
            return _kind(made[inner][0], made)
        return "sparse", _type_of(inner, made).nbits
    return op.type, 0


def _type_of(value: Any, made: dict[str, tuple[Any, int]]) -> MilType:
    if isinstance(value, str):
        op, index = made[value]
        return output_type(op, index)
    return mil_type(value.type.tensorType.dataType)


def _lut_bits(lut: Any, made: dict[str, tuple[Any, int]], per_tensor: bool) -> int:
    if isinstance(lut, str):
        op, index = made[lut]
        shape = shape_of(op.outputs[index].type)
    else:
        shape = shape_of(lut.type)
    entries = int(np.prod(shape)) if per_tensor else shape[-2]
    return max(1, int(entries).bit_length() - 1)


def _bytes(op: Any, made: dict[str, tuple[Any, int]], blob_size: Any) -> int:
    total = 0
    for value in params(op).values():
        if isinstance(value, str):
            if value in made and made[value][0].type.startswith("constexpr_"):
                total += _bytes(made[value][0], made, blob_size)
            continue
        if value.WhichOneof("value") == "blobFileValue":
            total += blob_size(value.blobFileValue.fileName, int(value.blobFileValue.offset))
        elif value.type.WhichOneof("type") == "tensorType":
            kind = mil_type(value.type.tensorType.dataType)
            total += -(-int(np.prod(shape_of(value.type))) * kind.nbits // 8)
    return total
