"""Ordering and masking: ``topk``, ``argsort``, ``cumsum``, ``reverse``, ``band_part``, ``fill_like``.

``topk`` returns the ``k`` largest values (smallest with ``ascending``) along ``axis`` and
their int32 indices, sorted; ``argsort`` sorts descending unless ``ascending`` (stable, so equal
values keep their order). ``cumsum`` may be ``exclusive`` and run in ``reverse``. ``band_part``
keeps ``lower`` sub-diagonals and ``upper`` super-diagonals of the last two axes (all when negative).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._context import Kernel, OpContext, one


def _order(x: np.ndarray, axis: int, ascending: bool) -> np.ndarray:
    return np.argsort(x if ascending else -x, axis=axis, kind="stable")


def build_topk(ctx: OpContext) -> Kernel:
    """Build ``topk``: (values, int32 indices)."""
    k, axis = int(ctx.scalar("k", 1)), int(ctx.scalar("axis", -1))
    ascending = bool(ctx.scalar("ascending", False))

    def topk(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        indices = np.take(_order(x, axis, ascending), np.arange(k), axis=axis)
        values = np.take_along_axis(x, indices, axis=axis)
        return [values, indices.astype(np.int32)][: len(ctx.outputs)]

    return topk


def build_argsort(ctx: OpContext) -> Kernel:
    """Build ``argsort`` (int32 indices)."""
    axis, ascending = int(ctx.scalar("axis", -1)), bool(ctx.scalar("ascending", False))
    return lambda args: [_order(one(args, "x"), axis, ascending).astype(np.int32)]


def build_cumsum(ctx: OpContext) -> Kernel:
    """Build ``cumsum`` along ``axis`` (``exclusive`` starts at 0, ``reverse`` sums from the end)."""
    axis = int(ctx.scalar("axis", 0))
    exclusive, reverse = bool(ctx.scalar("exclusive", False)), bool(ctx.scalar("reverse", False))

    def cumsum(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        data = np.flip(x, axis=axis) if reverse else x
        total = np.cumsum(data, axis=axis, dtype=x.dtype)
        if exclusive:
            total = total - data
        return [np.flip(total, axis=axis) if reverse else total]

    return cumsum


def build_reverse(ctx: OpContext) -> Kernel:
    """Build ``reverse`` along ``axes`` (every axis when absent)."""
    axes = ctx.ints("axes", None)
    return lambda args: [np.flip(one(args, "x"), axis=axes)]


def build_band_part(ctx: OpContext) -> Kernel:
    """Build ``band_part`` over the last two axes."""
    lower, upper = int(ctx.scalar("lower", -1)), int(ctx.scalar("upper", -1))

    def band_part(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        m, n = x.shape[-2:]
        rows, cols = np.arange(m)[:, np.newaxis], np.arange(n)[np.newaxis, :]
        keep = ((lower < 0) | (rows - cols <= lower)) & ((upper < 0) | (cols - rows <= upper))
        return [np.where(keep, x, np.zeros((), dtype=x.dtype))]

    return band_part


def build_fill_like(ctx: OpContext) -> Kernel:
    """Build ``fill_like``: ``value`` in the shape of ``ref_tensor``."""
    value = ctx.scalar("value", 0.0)
    return lambda args: [np.full(one(args, "ref_tensor").shape, value, dtype=np.float32)]
