"""Ordering and masking as ONNX operators: topk, argsort, cumsum, reverse, band_part.

ONNX's ``TopK`` breaks ties by the lower index, as the reference's stable sort does.
"""

from __future__ import annotations

import numpy as np

from ...mlprogram._context import normalize_axes
from ._op import END, Op


def _top(op: Op, k: str, axis: int) -> list[str]:
    largest = int(not bool(op.ctx.scalar("ascending", False)))
    values, indices = op.g.node("TopK", [op.value("x"), k], 2, axis=axis, largest=largest, sorted=1)
    return [values, op.cast(indices, np.int32)]


def translate_topk(op: Op) -> list[str]:
    """topk: (values, int32 indices), sorted."""
    k, axis = int(op.ctx.scalar("k", 1)), int(op.ctx.scalar("axis", -1))
    return _top(op, op.ints([k]), axis)[: len(op.ctx.outputs)]


def translate_argsort(op: Op) -> list[str]:
    """argsort (int32 indices, equal values in their order)."""
    (axis,) = normalize_axes((int(op.ctx.scalar("axis", -1)),), op.rank("x"))
    size = op.one("Shape", [op.value("x")], start=axis, end=axis + 1)
    return [_top(op, size, axis)[1]]


def translate_cumsum(op: Op) -> list[str]:
    """cumsum along ``axis`` (``exclusive``, ``reverse``)."""
    axis = op.const(np.int64(int(op.ctx.scalar("axis", 0))), np.int64)
    exclusive, reverse = bool(op.ctx.scalar("exclusive", False)), bool(op.ctx.scalar("reverse", False))
    return [op.one("CumSum", [op.value("x"), axis], exclusive=int(exclusive), reverse=int(reverse))]


def translate_reverse(op: Op) -> list[str]:
    """reverse along ``axes`` (every axis when absent)."""
    axes = op.ctx.ints("axes", None)
    chosen = list(range(op.rank("x"))) if axes is None else list(axes)
    count = len(chosen)
    starts, ends, steps = op.ints([-1] * count), op.ints([-END - 1] * count), op.ints([-1] * count)
    return [op.one("Slice", [op.value("x"), starts, ends, op.ints(chosen), steps])]


def translate_band_part(op: Op) -> list[str]:
    """band_part: ``lower`` sub-diagonals and ``upper`` super-diagonals of the last two axes."""
    lower, upper = int(op.ctx.scalar("lower", -1)), int(op.ctx.scalar("upper", -1))
    m, n = op.sizes("x", (-2, -1))
    rows, cols = np.arange(m)[:, np.newaxis], np.arange(n)[np.newaxis, :]
    keep = ((lower < 0) | (rows - cols <= lower)) & ((upper < 0) | (cols - rows <= upper))
    zero = op.const(np.zeros((), dtype=op.dtype("x")), op.dtype("x"))
    return [op.one("Where", [op.const(keep, np.bool_), op.value("x"), zero])]
