"""The numeric core of windowed pooling, shared by both executors: separable window reductions
and the cell counts average pooling divides by."""

from __future__ import annotations

import numpy as np

from .geometry import Window


def separable(
    x: np.ndarray, win: Window, kernel: tuple[int, int], stride: tuple[int, int], reduce: np.ufunc
) -> np.ndarray:
    """Reduce every window of a padded ``(N, H, W, C)`` array, along height then width.

    Windows hanging past the end (includeLastPixel) just have fewer rows or columns to reduce.
    """
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = win.out_h, win.out_w
    rows = [x[:, i : i + (oh - 1) * sh + 1 : sh] for i in range(kh)]  # whole rows: long contiguous runs
    tall = rows[0].copy()
    for row in rows[1:]:
        part = tall[:, : row.shape[1]]
        reduce(part, row, out=part)
    columns = [tall[:, :, j : j + (ow - 1) * sw + 1 : sw] for j in range(kw)]
    out = columns[0].copy()
    for column in columns[1:]:
        part = out[:, :, : column.shape[2]]
        reduce(part, column, out=part)
    return out


def window_counts(
    win: Window, size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int], exclude: bool
) -> np.ndarray:
    """How many cells each average window divides by, as an ``(H_out, W_out)`` array."""

    def axis(out: int, before: int, length: int, after: int, k: int, s: int) -> np.ndarray:
        starts = np.arange(out) * s - before
        low, high = (0, length) if exclude else (-before, length + after)
        return np.minimum(starts + k, high) - np.maximum(starts, low)

    rows = axis(win.out_h, win.top, size[0], win.pad_bottom, kernel[0], stride[0])
    cols = axis(win.out_w, win.left, size[1], win.pad_right, kernel[1], stride[1])
    return np.maximum(np.outer(rows, cols), 1).astype(np.float32)
