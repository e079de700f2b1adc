"""Resampling the last two axes as ONNX ``Gather`` operations: nearest neighbour and bilinear.

The sampled rows and columns (and the bilinear blend weights) are computed here, for the declared
input size, by the reference's own grid (:func:`mlquant.runtime.mlprogram.resize.grid`), so every
``sampling_mode`` matches it exactly.
"""

from __future__ import annotations

import numpy as np

from ...mlprogram.resize import grid
from ._op import Op


def _nearest(op: Op, size: tuple[int, int]) -> str:
    h, w = op.sizes("x")
    rows = np.minimum((np.arange(size[0]) * h) // size[0], h - 1)
    cols = np.minimum((np.arange(size[1]) * w) // size[1], w - 1)
    y = op.one("Gather", [op.value("x"), op.ints(rows)], axis=-2)
    return op.one("Gather", [y, op.ints(cols)], axis=-1)


def _blend(op: Op, x: str, axis: int, points: np.ndarray, length: int, rank: int) -> str:
    low = np.floor(points).astype(np.int64)
    high = np.minimum(low + 1, length - 1)
    shape = [1] * rank
    shape[axis] = len(points)
    frac = op.const((points - low).astype(np.float32).reshape(shape))
    a = op.one("Gather", [x, op.ints(low)], axis=axis)
    b = op.one("Gather", [x, op.ints(high)], axis=axis)
    return op.one("Add", [a, op.one("Mul", [op.one("Sub", [b, a]), frac])])


def _bilinear(op: Op, size: tuple[int, int], mode: str) -> str:
    h, w = op.sizes("x")
    rank = op.rank("x")
    y = _blend(op, op.value("x"), rank - 2, grid(h, size[0], mode), h, rank)
    return _blend(op, y, rank - 1, grid(w, size[1], mode), w, rank)


def _scaled(op: Op) -> tuple[int, int]:
    h, w = op.sizes("x")
    scale = (float(op.ctx.scalar("scale_factor_height", 1)), float(op.ctx.scalar("scale_factor_width", 1)))
    return int(np.floor(h * scale[0])), int(np.floor(w * scale[1]))


def translate_upsample_nearest_neighbor(op: Op) -> list[str]:
    """upsample_nearest_neighbor."""
    return [_nearest(op, _scaled(op))]


def translate_upsample_bilinear(op: Op) -> list[str]:
    """upsample_bilinear (``align_corners``, ``half_pixel_centers``)."""
    align = bool(op.ctx.scalar("align_corners", True))
    half_pixel = bool(op.ctx.scalar("half_pixel_centers", not align))
    mode = "STRICT_ALIGN_CORNERS" if align else ("UNALIGN_CORNERS" if half_pixel else "DEFAULT")
    return [_bilinear(op, _scaled(op), mode)]


def _target(op: Op) -> tuple[int, int]:
    return int(op.ctx.scalar("target_size_height", 1)), int(op.ctx.scalar("target_size_width", 1))


def translate_resize_bilinear(op: Op) -> list[str]:
    """resize_bilinear in every ``sampling_mode``."""
    return [_bilinear(op, _target(op), str(op.ctx.scalar("sampling_mode", "DEFAULT")))]


def translate_resize_nearest_neighbor(op: Op) -> list[str]:
    """resize_nearest_neighbor."""
    return [_nearest(op, _target(op))]
