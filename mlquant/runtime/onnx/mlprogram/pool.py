"""Pooling as ONNX operators: ``max_pool``, ``avg_pool`` and ``l2_pool``, every pad type, ceil mode.

Windows are placed by the reference's :class:`~mlquant.runtime.mlprogram._spatial.Padding` for the
declared input size; the input is padded up to the end of the last window (``-inf`` for max, by
``MaxPool`` itself where it can; zeros otherwise) and pooled without more padding, so ceil mode and the average's divisor
(:func:`~mlquant.runtime._kernels.pool.window_counts`) follow the reference exactly.
"""

from __future__ import annotations

import numpy as np

from ..._kernels.pool import window_counts
from ...mlprogram._spatial import Padding, as_2d, spatial_rank
from ._op import Op


def translate_pool(op: Op) -> list[str]:
    """max_pool, avg_pool, l2_pool."""
    kind = op.type.split("_")[0]
    kernel_sizes = op.ctx.ints("kernel_sizes")
    spatial = spatial_rank(op.ctx, len(kernel_sizes))
    kernel = as_2d(kernel_sizes, spatial, 1)
    stride = as_2d(op.ctx.ints("strides", (1,) * spatial), spatial, 1)
    padding = Padding(op.ctx, spatial, ceil_mode=bool(op.ctx.scalar("ceil_mode", False)))
    exclude = bool(op.ctx.scalar("exclude_padding_from_average", False))
    sizes = op.sizes("x", tuple(range(-spatial, 0)))
    size = (1, sizes[0]) if spatial == 1 else (sizes[0], sizes[1])
    win = padding.window(size, kernel, stride)
    x = op.value("x")
    if spatial == 1:
        x = op.one("Unsqueeze", [x, op.ints([2])])
    if kind == "l2":
        x = op.one("Mul", [x, x])
    attributes = {"kernel_shape": list(kernel), "strides": list(stride)}
    amounts = [win.top, win.left, win.bottom, win.right]
    if kind == "max" and max(amounts[0::2]) < kernel[0] and max(amounts[1::2]) < kernel[1]:
        attributes["pads"] = amounts  # MaxPool pads with -inf itself (onnxruntime wants pads below the kernel)
    elif any(amounts):
        fill = op.const(-np.inf if kind == "max" else 0.0)
        pads = op.ints([0, 0, win.top, win.left, 0, 0, win.bottom, win.right])
        x = op.one("Pad", [x, pads, fill])
    if kind == "max":
        y = op.one("MaxPool", [x], **attributes)
    else:
        mean = op.one("AveragePool", [x], **attributes)
        cells = kernel[0] * kernel[1]
        if kind == "avg":
            counts = window_counts(win, size, kernel, stride, exclude)
            y = op.one("Mul", [mean, op.const((cells / counts.astype(np.float64)).astype(np.float32))])
        else:
            y = op.one("Sqrt", [op.one("Mul", [mean, op.const(float(cells))])])
    if spatial == 1:
        y = op.one("Squeeze", [y, op.ints([2])])
    return [y]
