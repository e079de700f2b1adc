"""What a convolution's weight meets: its padded input unfolded into one patch per output pixel.

Data-aware quantization reads a convolution weight ``(C_out, C_in / G, KH, KW)`` as a matrix of
one row per output channel; the columns it multiplies are the input's patches, ``C_in / G * KH * KW``
values each in the weight's ``(channel, row, column)`` order, one set per group of ``G``. Both
executors' observation hooks unfold through :func:`patches`, with the im2col copy the products use.
"""

from __future__ import annotations

import numpy as np

from .conv import ConvShape, _unfold
from .geometry import Window

__all__ = ["patches"]


def patches(padded: np.ndarray, win: Window, shape: ConvShape, groups: int) -> np.ndarray:
    """Unfold a padded channels-last input into the rows a grouped convolution's weight meets.

    Args:
        padded: ``(N, H, W, C)`` float32, already padded as ``win`` says.
        win: Where the windows go (output size, padding).
        shape: Kernel, dilation and stride.
        groups: Channel groups (``C / groups`` input channels each).

    Returns:
        float32 ``(groups, N * H_out * W_out, C / groups * KH * KW)``: per group, one row per output
        pixel (image, row, column order), its values in ``(channel, kernel row, kernel column)`` order.
    """
    (kh, kw), n, c = shape.kernel, padded.shape[0], padded.shape[3]
    rows = n * win.out_h * win.out_w
    cols = np.empty((rows, kh * kw * c), dtype=np.float32)
    _unfold(padded, (0, n, 0, win.out_h), shape, win.out_w, cols)
    per_group = c // groups
    # (rows, KH, KW, G, C/G) -> (G, rows, C/G, KH, KW): the weight's (channel, row, column) order
    grouped = cols.reshape(rows, kh, kw, groups, per_group).transpose(3, 0, 4, 1, 2)
    return np.ascontiguousarray(grouped).reshape(groups, rows, per_group * kh * kw)
