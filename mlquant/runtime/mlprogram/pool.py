"""Pooling: ``max_pool``, ``avg_pool`` and ``l2_pool``, 1-D and 2-D, every pad type, ceil mode.

Windows come from ``pad_type``/``pad`` (:class:`~._spatial.Padding`) and are reduced separably,
channels-last, by :mod:`mlquant.runtime._kernels.pool`. Max pooling pads with ``-inf``; average
pooling divides by the window's cells inside the padded input (cells a ceil-mode window hangs
past the padding are never counted) or, with ``exclude_padding_from_average``, inside the input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
import numpy as np

from .._kernels.geometry import Window, pad
from .._kernels.pool import separable, window_counts
from ._context import Kernel, OpContext, one
from ._spatial import Padding, as_2d, from_nhwc, spatial_rank, to_nhwc


def _pool(ctx: OpContext, kind: str) -> Kernel:
    kernel_sizes = ctx.ints("kernel_sizes")
    spatial = spatial_rank(ctx, len(kernel_sizes))
    kernel = as_2d(kernel_sizes, spatial, 1)
    stride = as_2d(ctx.ints("strides", (1,) * spatial), spatial, 1)
    if min(*kernel, *stride) < 1:
        raise ctx.invalid(f"kernel {kernel} and strides {stride} must be positive")
    padding = Padding(ctx, spatial, ceil_mode=bool(ctx.scalar("ceil_mode", False)))
    exclude = bool(ctx.scalar("exclude_padding_from_average", False))
    windows: dict[tuple[int, int], Window] = {}

    def pool(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        if spatial == 1:
            x = x[:, :, np.newaxis, :]
        h, w = x.shape[2:]
        win = windows.get((h, w))
        if win is None:
            win = windows[h, w] = padding.window((h, w), kernel, stride)
        data = to_nhwc(x)
        if kind == "l2":
            data = np.square(data)
        declared = attrs.evolve(win, bottom=win.pad_bottom, right=win.pad_right)  # not the overhang
        data = pad(data, declared, -np.inf if kind == "max" else 0.0)
        out = separable(data, win, kernel, stride, np.maximum if kind == "max" else np.add)
        if kind == "avg":
            out /= window_counts(win, (h, w), kernel, stride, exclude)[:, :, np.newaxis]
        elif kind == "l2":
            np.sqrt(out, out=out)
        result = from_nhwc(out)
        return [result[:, :, 0, :] if spatial == 1 else result]

    return pool


def build_max_pool(ctx: OpContext) -> Kernel:
    """Build a ``max_pool`` kernel."""
    return _pool(ctx, "max")


def build_avg_pool(ctx: OpContext) -> Kernel:
    """Build an ``avg_pool`` kernel."""
    return _pool(ctx, "avg")


def build_l2_pool(ctx: OpContext) -> Kernel:
    """Build an ``l2_pool`` kernel."""
    return _pool(ctx, "l2")
