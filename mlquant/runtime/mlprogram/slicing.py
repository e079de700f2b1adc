"""Indexing: ``slice_by_index`` (with masks), ``slice_by_size``, ``gather``, ``gather_along_axis``, ``pad``.

When the executor runs a whole batch through a program declared for batch 1 (``ctx.batched``),
a slice of the leading axis (which the program sees as size 1) keeps the whole batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._context import Kernel, OpContext, one


def _bools(ctx: OpContext, param: str, rank: int) -> list[bool]:
    value = ctx.const(param, None)
    return [False] * rank if value is None else [bool(v) for v in np.asarray(value).reshape(-1)]


def build_slice_by_index(ctx: OpContext) -> Kernel:
    """Build ``slice_by_index``: numpy slicing with begin/end masks and a squeeze mask."""
    begin, end = ctx.ints("begin"), ctx.ints("end")
    rank = len(begin)
    stride = ctx.ints("stride", (1,) * rank)
    begin_mask, end_mask = _bools(ctx, "begin_mask", rank), _bools(ctx, "end_mask", rank)
    squeeze = _bools(ctx, "squeeze_mask", rank)
    index: list[int | slice] = []
    for i in range(rank):
        if squeeze[i]:
            index.append(begin[i])
            continue
        start = None if begin_mask[i] else begin[i]
        stop = None if end_mask[i] else end[i]
        index.append(slice(start, stop, stride[i]))
    if ctx.batched and not squeeze[0]:
        index[0] = slice(None)
    key = tuple(index)
    return lambda args: [one(args, "x")[key]]


def build_slice_by_size(ctx: OpContext) -> Kernel:
    """Build ``slice_by_size``: ``size[i]`` values from ``begin[i]`` (``-1``: to the end)."""
    begin, size = ctx.ints("begin"), ctx.ints("size")
    key = [slice(b, None if s == -1 else b + s) for b, s in zip(begin, size, strict=True)]
    if ctx.batched:
        key[0] = slice(None)
    index = tuple(key)
    return lambda args: [one(args, "x")[index]]


def build_gather(ctx: OpContext) -> Kernel:
    """Build ``gather`` along ``axis`` (negative indices count from the end)."""
    axis = int(ctx.scalar("axis", 0))
    if int(ctx.scalar("batch_dims", 0)) != 0:
        raise ctx.unsupported("batch_dims other than 0")

    def gather(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x, indices = one(args, "x"), one(args, "indices")
        return [np.take(x, indices.astype(np.intp), axis=axis)]

    return gather


def build_gather_along_axis(ctx: OpContext) -> Kernel:
    """Build ``gather_along_axis``."""
    axis = int(ctx.scalar("axis", 0))

    def gather_along_axis(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x, indices = one(args, "x"), one(args, "indices").astype(np.intp)
        indices = np.where(indices < 0, indices + x.shape[axis], indices)
        return [np.take_along_axis(x, indices, axis=axis)]

    return gather_along_axis


#: MIL pad mode -> its name in numpy.pad (and in ONNX Pad: the same names).
PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}


def build_pad(ctx: OpContext) -> Kernel:
    """Build ``pad``: ``pad`` gives (before, after) pairs for the last ``len(pad) / 2`` axes."""
    amounts = ctx.ints("pad")
    mode = str(ctx.scalar("mode", "constant"))
    if mode not in PAD_MODES:
        raise ctx.invalid(f"mode must be one of {', '.join(PAD_MODES)} (got {mode!r})")
    value = ctx.scalar("constant_val", 0.0)
    pairs = [(amounts[i], amounts[i + 1]) for i in range(0, len(amounts), 2)]

    def pad(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        widths = [(0, 0)] * (x.ndim - len(pairs)) + pairs
        if mode == "constant":
            return [np.pad(x, widths, mode="constant", constant_values=value)]
        return [np.pad(x, widths, mode=PAD_MODES[mode])]  # type: ignore[call-overload]

    return pad
