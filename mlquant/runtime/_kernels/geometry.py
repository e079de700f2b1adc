"""Where a sliding window goes: output sizes and padding amounts, and padding an NHWC array.

Both executors place convolution and pooling windows with these: the NeuralNetwork one from its
padding messages (``neuralnetwork/_geometry.py``), the ML Program one from ``pad_type`` and ``pad``.
"""

from __future__ import annotations

import attrs
import numpy as np


@attrs.frozen
class Window:
    """Where a sliding window goes along height and width."""

    out_h: int
    """Output height."""
    out_w: int
    """Output width."""
    top: int
    """Rows of padding before the input."""
    bottom: int
    """Rows after the input, up to the end of the last window (may exceed the declared padding)."""
    left: int
    """Columns of padding before the input."""
    right: int
    """Columns after the input, up to the end of the last window."""
    pad_bottom: int
    """Rows of padding the layer declares after the input (what is not overhang)."""
    pad_right: int
    """Columns of padding the layer declares after the input."""


def same_amounts(size: int, kernel: int, stride: int, top_left_heavy: bool) -> tuple[int, int, int]:
    """Return ``(output, before, after)`` for ``same`` padding along one axis.

    ``output = ceil(size / stride)``; the total padding needed is split in two halves, the
    larger one after the input (``BOTTOM_RIGHT_HEAVY``) or before it (``TOP_LEFT_HEAVY``).
    """
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + kernel - size)
    small = total // 2
    before, after = (total - small, small) if top_left_heavy else (small, total - small)
    return out, before, after


def pad(x: np.ndarray, win: Window, value: float) -> np.ndarray:
    """Pad an ``(N, H, W, C)`` array with ``value`` on the sides ``win`` gives."""
    n, h, w, c = x.shape
    top, bottom, left, right = win.top, win.bottom, win.left, win.right
    if top == bottom == left == right == 0:
        return x
    padded = np.empty((n, h + top + bottom, w + left + right, c), dtype=np.float32)
    padded[:, :top] = value  # only the border is filled: the input overwrites the rest
    padded[:, top + h :] = value
    padded[:, top : top + h, :left] = value
    padded[:, top : top + h, left + w :] = value
    padded[:, top : top + h, left : left + w, :] = x
    return padded
