"""The numeric core of transposed convolution, shared by both executors."""

from __future__ import annotations

import numpy as np


def scatter_patches(
    x: np.ndarray,
    matrix: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """The uncropped output of a transposed convolution, ``(N, H_full, W_full, C_out)``.

    Each input pixel's channels times the weights give a ``KH x KW`` patch per output channel,
    added into the output at stride steps (kernel taps ``dilation`` apart);
    ``H_full = (H - 1) * stride + (KH - 1) * dilation + 1``.

    Args:
        x: ``(N, H, W, C_in)`` input.
        matrix: ``(G, C_in / G, KH * KW * C_out / G)`` weights.
        kernel: ``(KH, KW)``.
        stride: ``(SH, SW)``.
        dilation: ``(DH, DW)``.
    """
    n, h, w, _ = x.shape
    groups, cig, width = matrix.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    cog = width // (kh * kw)
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(n * h * w, groups, cig).transpose(1, 0, 2)
    patches = np.matmul(flat, matrix).reshape(groups, n, h, w, kh, kw, cog)
    full_h, full_w = (h - 1) * sh + (kh - 1) * dh + 1, (w - 1) * sw + (kw - 1) * dw + 1
    full = np.zeros((n, full_h, full_w, groups, cog), dtype=np.float32)
    for i in range(kh):
        rows = slice(i * dh, i * dh + (h - 1) * sh + 1, sh)
        for j in range(kw):
            columns = slice(j * dw, j * dw + (w - 1) * sw + 1, sw)
            full[:, rows, columns] += patches[:, :, :, :, i, j].transpose(1, 2, 3, 0, 4)
    return full.reshape(n, full_h, full_w, groups * cog)
