"""Resampling the last two axes: ``upsample_nearest_neighbor``, ``upsample_bilinear``,
``resize_nearest_neighbor`` and ``resize_bilinear`` (every ``sampling_mode``).

Bilinear resampling is separable: along each axis every output position reads a grid point
``g`` (placed as the op's mode says, clipped to ``[0, X_in - 1]``) and blends input rows
``floor(g)`` and ``floor(g) + 1``. Nearest neighbour reads input ``floor(i * X_in / X_out)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._context import Kernel, OpContext, one


def grid(size_in: int, size_out: int, mode: str) -> np.ndarray:
    """Grid points (input coordinates) of each output position along one axis."""
    i = np.arange(size_out, dtype=np.float64)
    if mode in ("STRICT_ALIGN_CORNERS", "ALIGN_CORNERS"):
        if size_out == 1:
            grid = np.full(1, (size_in - 1) / 2 if mode == "ALIGN_CORNERS" else 0.0)
        else:
            grid = i * (size_in - 1) / (size_out - 1)
    elif mode == "DEFAULT":
        grid = i * size_in / size_out
    elif mode == "OFFSET_CORNERS":
        delta = max(1, size_in - 1) / size_out
        grid = 0.5 * delta + i * delta
    else:  # UNALIGN_CORNERS: half-pixel centres
        spacing = size_in / size_out
        grid = i * spacing + 0.5 * spacing - 0.5
    return np.clip(grid, 0, size_in - 1)


def _blend(x: np.ndarray, axis: int, grid: np.ndarray) -> np.ndarray:
    low = np.floor(grid).astype(np.intp)
    high = np.minimum(low + 1, x.shape[axis] - 1)
    frac = (grid - low).astype(np.float32)
    shape = [1] * x.ndim
    shape[axis] = len(grid)
    frac = frac.reshape(shape)
    a, b = np.take(x, low, axis=axis), np.take(x, high, axis=axis)
    return a + (b - a) * frac


def _bilinear(x: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    h, w = x.shape[-2:]
    out = _blend(x, x.ndim - 2, grid(h, size[0], mode))
    return _blend(out, x.ndim - 1, grid(w, size[1], mode))


def _nearest(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = x.shape[-2:]
    rows = np.minimum((np.arange(size[0]) * h) // size[0], h - 1)
    cols = np.minimum((np.arange(size[1]) * w) // size[1], w - 1)
    return np.take(np.take(x, rows, axis=-2), cols, axis=-1)


def _scaled(x: np.ndarray, scale: tuple[float, float]) -> tuple[int, int]:
    h, w = x.shape[-2:]
    return int(np.floor(h * scale[0])), int(np.floor(w * scale[1]))


def build_upsample_nearest_neighbor(ctx: OpContext) -> Kernel:
    """Build ``upsample_nearest_neighbor`` by ``scale_factor_height`` and ``scale_factor_width``."""
    scale = (float(ctx.scalar("scale_factor_height", 1)), float(ctx.scalar("scale_factor_width", 1)))
    return lambda args: [_nearest(one(args, "x"), _scaled(one(args, "x"), scale))]


def build_upsample_bilinear(ctx: OpContext) -> Kernel:
    """Build ``upsample_bilinear`` (``align_corners``; ``half_pixel_centers`` defaults to its negation)."""
    scale = (float(ctx.scalar("scale_factor_height", 1)), float(ctx.scalar("scale_factor_width", 1)))
    align = bool(ctx.scalar("align_corners", True))
    half_pixel = bool(ctx.scalar("half_pixel_centers", not align))
    mode = "STRICT_ALIGN_CORNERS" if align else ("UNALIGN_CORNERS" if half_pixel else "DEFAULT")

    def upsample_bilinear(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        return [_bilinear(x, _scaled(x, scale), mode)]

    return upsample_bilinear


def build_resize_bilinear(ctx: OpContext) -> Kernel:
    """Build ``resize_bilinear`` to ``target_size_height`` x ``target_size_width``."""
    size = (int(ctx.scalar("target_size_height", 1)), int(ctx.scalar("target_size_width", 1)))
    mode = str(ctx.scalar("sampling_mode", "DEFAULT"))
    modes = ("STRICT_ALIGN_CORNERS", "ALIGN_CORNERS", "DEFAULT", "OFFSET_CORNERS", "UNALIGN_CORNERS")
    if mode not in modes:
        raise ctx.invalid(f"sampling_mode must be one of {', '.join(modes)} (got {mode!r})")
    return lambda args: [_bilinear(one(args, "x"), size, mode)]


def build_resize_nearest_neighbor(ctx: OpContext) -> Kernel:
    """Build ``resize_nearest_neighbor`` to ``target_size_height`` x ``target_size_width``."""
    size = (int(ctx.scalar("target_size_height", 1)), int(ctx.scalar("target_size_width", 1)))
    return lambda args: [_nearest(one(args, "x"), size)]
