"""Reorganization: ``reshape``, ``transpose``, ``squeeze``, ``expand_dims``, ``concat``, ``stack``,
``split``, ``tile``, ``flatten2d``, ``depth_to_space``, ``space_to_depth``, ``pixel_shuffle``.

When the executor runs a whole batch through a program declared for batch 1 (``ctx.batched``),
``reshape`` keeps the input's leading axis where the target shape's leading 1 stands for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._context import Kernel, OpContext, normalize_axes, one


def _target(shape: Sequence[int], x: np.ndarray, batched: bool) -> tuple[int, ...]:
    """A reshape target: ``0`` copies the input's dimension (aligned from the right when ranks
    differ), a leading 1 becomes the batch size when the executor runs a batch."""
    dims = [int(n) for n in shape]
    if 0 in dims:
        offset = x.ndim - len(dims)
        dims = [(x.shape[i + offset] if 0 <= i + offset < x.ndim else 1) if n == 0 else n for i, n in enumerate(dims)]
    if batched and dims and dims[0] == 1:
        dims[0] = x.shape[0]
    return tuple(dims)


def build_reshape(ctx: OpContext) -> Kernel:
    """Build ``reshape`` (``0`` copies a dimension, ``-1`` is inferred)."""
    constant = ctx.ints("shape") if ctx.is_constant("shape") else None
    batched = ctx.batched

    def reshape(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        shape = constant if constant is not None else one(args, "shape").reshape(-1).tolist()
        return [np.reshape(x, _target(shape, x, batched))]

    return reshape


def build_transpose(ctx: OpContext) -> Kernel:
    """Build ``transpose`` (a view: no copy)."""
    perm = ctx.ints("perm")
    return lambda args: [np.transpose(one(args, "x"), normalize_axes(perm, len(perm)))]


def build_squeeze(ctx: OpContext) -> Kernel:
    """Build ``squeeze`` (every axis of size 1 when ``axes`` is absent)."""
    axes = ctx.ints("axes", None)

    def squeeze(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        if axes is None:
            return [np.squeeze(x)]
        return [np.squeeze(x, axis=normalize_axes(axes, x.ndim))]

    return squeeze


def build_expand_dims(ctx: OpContext) -> Kernel:
    """Build ``expand_dims`` (axes count in the output's rank)."""
    axes = ctx.ints("axes")

    def expand_dims(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        return [np.expand_dims(x, normalize_axes(axes, x.ndim + len(axes)))]

    return expand_dims


def _batch_constants(values: Sequence[np.ndarray], batched: bool) -> list[np.ndarray]:
    """In a batch run, constants declared with a leading 1 (a class token...) repeat for each item."""
    if not batched:
        return list(values)
    items = max(v.shape[0] for v in values)
    return [np.broadcast_to(v, (items, *v.shape[1:])) if v.shape[0] == 1 else v for v in values]


def build_concat(ctx: OpContext) -> Kernel:
    """Build ``concat`` (``interleave`` alternates equal-sized slices of the inputs)."""
    axis = int(ctx.scalar("axis"))
    interleave = bool(ctx.scalar("interleave", False))
    batched = ctx.batched

    def concat(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        values = _batch_constants(args["values"], batched)
        (a,) = normalize_axes((axis,), values[0].ndim)
        if interleave:
            stacked = np.stack(values, axis=a + 1)
            shape = list(values[0].shape)
            shape[a] *= len(values)
            return [stacked.reshape(shape)]
        return [np.concatenate(values, axis=a)]

    return concat


def build_stack(ctx: OpContext) -> Kernel:
    """Build ``stack`` along a new ``axis``."""
    axis = int(ctx.scalar("axis"))
    batched = ctx.batched

    def stack(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        values = _batch_constants(args["values"], batched)
        (a,) = normalize_axes((axis,), values[0].ndim + 1)
        return [np.stack(values, axis=a)]

    return stack


def build_split(ctx: OpContext) -> Kernel:
    """Build ``split`` into ``num_splits`` equal parts or parts of ``split_sizes``."""
    axis = int(ctx.scalar("axis"))
    sizes = ctx.ints("split_sizes", None)
    count = ctx.scalar("num_splits", None)

    def split(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        (a,) = normalize_axes((axis,), x.ndim)
        if sizes is not None:
            return list(np.split(x, np.cumsum(sizes)[:-1], axis=a))
        return list(np.split(x, int(count), axis=a))

    return split


def build_tile(ctx: OpContext) -> Kernel:
    """Build ``tile``."""
    reps = ctx.ints("reps")
    return lambda args: [np.tile(one(args, "x"), reps)]


def build_flatten2d(ctx: OpContext) -> Kernel:
    """Build ``flatten2d``: the axes before ``axis`` become one, those after another."""
    axis = int(ctx.scalar("axis", 1))

    def flatten2d(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        (a,) = normalize_axes((axis,), x.ndim)
        return [x.reshape(int(np.prod(x.shape[:a])), -1)]

    return flatten2d


def build_depth_to_space(ctx: OpContext) -> Kernel:
    """Build ``depth_to_space`` (DCR order) or ``pixel_shuffle`` (CRD order)."""
    key = "upscale_factor" if ctx.type == "pixel_shuffle" else "block_size"
    r = int(ctx.scalar(key))
    crd = ctx.type == "pixel_shuffle"

    def depth_to_space(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        n, c, h, w = x.shape
        if crd:
            y = x.reshape(n, c // (r * r), r, r, h, w).transpose(0, 1, 4, 2, 5, 3)
        else:
            y = x.reshape(n, r, r, c // (r * r), h, w).transpose(0, 3, 4, 1, 5, 2)
        return [y.reshape(n, c // (r * r), h * r, w * r)]

    return depth_to_space


def build_space_to_depth(ctx: OpContext) -> Kernel:
    """Build ``space_to_depth`` (DCR order, the inverse of ``depth_to_space``)."""
    r = int(ctx.scalar("block_size"))

    def space_to_depth(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        n, c, h, w = x.shape
        y = x.reshape(n, c, h // r, r, w // r, r).transpose(0, 3, 5, 1, 2, 4)
        return [y.reshape(n, c * r * r, h // r, w // r)]

    return space_to_depth
