"""Indexing as ONNX operators: ``slice_by_index`` (with masks), ``slice_by_size``, ``gather``,
``gather_along_axis`` and ``pad``.

In a batched graph a slice leaves the leading axis whole, as the reference runtime does.
"""

from __future__ import annotations

import numpy as np

from ...mlprogram.slicing import PAD_MODES
from ._op import END, Op

_START = -END - 1  # ONNX's "before the first element" for a negative step


def _bools(op: Op, param: str, rank: int) -> list[bool]:
    value = op.ctx.const(param, None)
    return [False] * rank if value is None else [bool(v) for v in np.asarray(value).reshape(-1)]


def _slice(op: Op, x: str, starts: list[int], ends: list[int], axes: list[int], steps: list[int]) -> str:
    if not axes:
        return x
    return op.one("Slice", [x, op.ints(starts), op.ints(ends), op.ints(axes), op.ints(steps)])


def translate_slice_by_index(op: Op) -> list[str]:
    """slice_by_index: numpy slicing with begin/end masks and a squeeze mask."""
    begin, end = op.ctx.ints("begin"), op.ctx.ints("end")
    rank = len(begin)
    stride = op.ctx.ints("stride", (1,) * rank)
    begin_mask, end_mask = _bools(op, "begin_mask", rank), _bools(op, "end_mask", rank)
    squeeze = _bools(op, "squeeze_mask", rank)
    starts, ends, axes, steps = [], [], [], []
    for i in range(rank):
        if i == 0 and op.ctx.batched and not squeeze[0]:
            continue
        step = stride[i]
        if squeeze[i]:
            start, stop, step = begin[i], (END if begin[i] == -1 else begin[i] + 1), 1
        else:
            start = (0 if step > 0 else END) if begin_mask[i] else begin[i]
            stop = (END if step > 0 else _START) if end_mask[i] else end[i]
        if (start, stop, step) == (0, END, 1):
            continue
        starts.append(start)
        ends.append(stop)
        axes.append(i)
        steps.append(step)
    y = _slice(op, op.value("x"), starts, ends, axes, steps)
    dropped = [i for i in range(rank) if squeeze[i]]
    return [op.one("Squeeze", [y, op.ints(dropped)]) if dropped else y]


def translate_slice_by_size(op: Op) -> list[str]:
    """slice_by_size: ``size[i]`` values from ``begin[i]`` (``-1``: to the end)."""
    begin, size = op.ctx.ints("begin"), op.ctx.ints("size")
    starts, ends, axes = [], [], []
    for i, (b, s) in enumerate(zip(begin, size, strict=True)):
        if i == 0 and op.ctx.batched:
            continue
        stop = END if s == -1 else b + s
        if (b, stop) != (0, END):
            starts.append(b)
            ends.append(stop)
            axes.append(i)
    return [_slice(op, op.value("x"), starts, ends, axes, [1] * len(axes))]


def _indices(op: Op) -> str:
    kind = op.dtype("indices").kind
    return op.value("indices", dtype=None if kind in "iu" else np.int64)


def translate_gather(op: Op) -> list[str]:
    """gather along ``axis``."""
    if int(op.ctx.scalar("batch_dims", 0)) != 0:
        raise op.ctx.unsupported("batch_dims other than 0")
    axis = int(op.ctx.scalar("axis", 0))
    if op.ctx.batched and not op.is_variable("x") and axis % op.rank("x") != 0:
        raise op.unbatchable(f"a batch of indices into a constant would stand at axis {axis}")
    return [op.one("Gather", [op.value("x"), _indices(op)], axis=axis)]


def translate_gather_along_axis(op: Op) -> list[str]:
    """gather_along_axis."""
    return [op.one("GatherElements", [op.value("x"), _indices(op)], axis=int(op.ctx.scalar("axis", 0)))]


def translate_pad(op: Op) -> list[str]:
    """pad: (before, after) pairs for the last ``len(pad) / 2`` axes."""
    amounts = op.ctx.ints("pad")
    mode = str(op.ctx.scalar("mode", "constant"))
    if mode not in PAD_MODES:
        raise op.ctx.invalid(f"mode must be one of {', '.join(PAD_MODES)} (got {mode!r})")
    count = len(amounts) // 2
    pads = op.ints([*amounts[0::2], *amounts[1::2]])
    axes = op.ints(range(-count, 0))
    x = op.value("x")
    if mode == "constant":
        value = op.const(op.ctx.scalar("constant_val", 0.0), op.dtype("x"))
        return [op.one("Pad", [x, pads, value, axes], mode="constant")]
    return [op.one("Pad", [x, pads, "", axes], mode=PAD_MODES[mode])]
