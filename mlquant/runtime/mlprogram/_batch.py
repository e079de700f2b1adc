"""Whether a batch can run through a program declared for batch 1 in one pass, along axis 0.

ML Programs are usually converted with fixed shapes and a leading batch of 1. Running ``B``
items at once treats that leading 1 as ``B``: right for every operation that handles items
independently along axis 0 (convolution, element-wise arithmetic, normalization over other
axes, a reshape whose target keeps a leading 1...). :func:`batch_safe` checks each operation
that computes on the inputs against the rules below, from the program's declared shapes and
constant parameters; a program that breaks one runs item by item instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._context import OpContext, normalize_axes

#: Operations whose result for one item depends on where the batch sits, or on the batch size.
_NEVER = frozenset({"shape", "fill", "range_1d"})

#: Operations whose ``axes`` may be absent, meaning every axis (the batch axis among them).
_ALL_AXES_BY_DEFAULT = frozenset({"squeeze", "layer_norm", "reverse"})

#: Operations whose ``axis`` defaults to 0 when absent.
_AXIS_ZERO_BY_DEFAULT = frozenset({"cumsum", "gather", "gather_along_axis"})


def _leading_one(shape: tuple[int | None, ...] | None) -> bool:
    return shape is not None and len(shape) > 0 and shape[0] == 1


_Shape = tuple[int | None, ...] | None


def batch_safe(ctx: OpContext, derived: Mapping[str, Sequence[_Shape]]) -> str | None:
    """Why an operation that reads input-derived tensors cannot take a batch along axis 0 (None if it can).

    Args:
        ctx: The operation (``batched`` not yet set).
        derived: The parameters bound to input-derived tensors, with those tensors' declared shapes.
    """
    if ctx.type in _NEVER:
        return f"{ctx.type} depends on the batch size"
    for param, shapes in derived.items():
        if not all(_leading_one(shape) for shape in shapes):
            return f"'{param}' is not declared with a leading 1"
    for out in ctx.outputs:
        if ctx.type != "classify" and out.dtype is not None and not _leading_one(out.shape):
            return f"output '{out.name}' is not declared with a leading 1"
    first = next(iter(derived.values()))[0]
    rank = len(first) if first is not None else 0
    out_rank = len(ctx.outputs[0].shape or ())
    if ctx.type in ("gather", "gather_along_axis") and "x" not in derived:
        pass
    elif ctx.has("axis") and ctx.is_constant("axis"):
        axis_rank = out_rank if ctx.type == "stack" else rank
        if 0 in normalize_axes(ctx.ints("axis"), axis_rank):
            return "it works along axis 0"
    elif not ctx.has("axis") and ctx.type in _AXIS_ZERO_BY_DEFAULT:
        return "it works along axis 0"
    if ctx.is_constant("axes"):
        axis_rank = out_rank if ctx.type == "expand_dims" else rank
        if 0 in normalize_axes(ctx.ints("axes"), axis_rank):
            return "it works along axis 0"
    elif ctx.type.startswith("reduce_") or ctx.type in _ALL_AXES_BY_DEFAULT:
        return "it works along every axis"
    return _specific(ctx, derived, rank)


def _specific(ctx: OpContext, derived: Mapping[str, Sequence[_Shape]], rank: int) -> str | None:
    """The rules of operations with other ways of touching axis 0."""
    if ctx.type == "transpose" and ctx.ints("perm")[0] % rank != 0:
        return "it moves axis 0"
    if ctx.type == "tile" and ctx.ints("reps")[0] != 1:
        return "it repeats along axis 0"
    if ctx.type == "pad":
        amounts = ctx.ints("pad")
        if len(amounts) == 2 * rank and (amounts[0] or amounts[1]):
            return "it pads axis 0"
    if ctx.type == "reshape":
        if not ctx.is_constant("shape"):
            return "a target shape computed at run time"
        target = ctx.ints("shape")
        if not target or target[0] not in (0, 1):
            return f"target shape {list(target)} does not keep a leading 1"
    if ctx.type == "l2_norm" and rank <= 3:
        return "it normalizes over axis 0"
    if ctx.type == "band_part" and rank < 3:
        return "its band spans axis 0"
    if ctx.type == "einsum":
        if None in ctx.variables.get("values", (None,)):
            return "einsum with a constant operand"
        return _einsum(str(ctx.scalar("equation")))
    if ctx.type == "matmul":
        transpose_x = bool(ctx.scalar("transpose_x", False))
        if "y" in derived and (ctx.rank("y") or 0) < 3:
            return "the batch would be a matrix axis of y"
        x_rank = ctx.rank("x") or 0
        if "x" in derived and (x_rank < 2 or (x_rank == 2 and transpose_x)):
            return "the batch would be a matrix axis of x"
    if ctx.type == "gather" and "x" in derived and "indices" in derived:
        return "it gathers a batch with a batch of indices"
    if ctx.type == "slice_by_index" and np.asarray(ctx.const("squeeze_mask", [False])).reshape(-1)[0]:
        return "it indexes axis 0"
    return None


def _einsum(equation: str) -> str | None:
    """An einsum keeps items apart when every operand and the result start with the same index."""
    terms, _, result = equation.replace(" ", "").partition("->")
    firsts = {term[:1] for term in terms.split(",")} | {result[:1]}
    if len(firsts) == 1 and "." not in firsts and "" not in firsts:
        return None
    return f"equation {equation!r} does not keep the leading axis apart"
