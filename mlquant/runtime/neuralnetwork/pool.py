"""Pooling kernels: MAX, AVERAGE and L2, windowed or global.

Windows are placed by :func:`~mlquant.runtime.neuralnetwork._geometry.window` (``valid``, ``same`` and
``includeLastPixel``). Max pooling pads with ``-inf``, so padding never wins; average pooling
divides by the number of window cells inside the padded input (``avgPoolExcludePadding``
false; cells a ceil-mode window hangs past the declared padding are not counted, as in Caffe)
or inside the input itself (true); L2 pooling is ``sqrt(sum(x**2))`` over the window. Windows
are reduced separably, along height and then along width, channels-last.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from .._kernels.geometry import Window, pad
from .._kernels.pool import separable, window_counts
from ._base import Kernel, LayerContext, from_nhwc, pair, to_nhwc
from ._geometry import window

_MAX, _AVERAGE, _L2 = 0, 1, 2


def build_pooling(ctx: LayerContext) -> Kernel:
    """Build a ``pooling`` kernel."""
    ctx.expect_inputs(1)
    p = ctx.params
    kind = int(p.type)
    if kind not in (_MAX, _AVERAGE, _L2):
        raise ctx.unsupported(f"pooling type {kind} (known: MAX, AVERAGE, L2)")
    if p.globalPooling:
        return _global(kind)
    kh, kw = pair(p.kernelSize, (3, 3))
    sh, sw = pair(p.stride, (1, 1))
    if min(kh, kw, sh, sw) < 1:
        raise ctx.invalid(f"kernel {kh}x{kw} and stride {sh}x{sw} must be positive")
    padding_kind = p.WhichOneof("PoolingPaddingType")
    padding = getattr(p, padding_kind) if padding_kind else None
    exclude = bool(p.avgPoolExcludePadding)
    where = f"layer '{ctx.name}' (pooling)"

    windows: dict[tuple[int, int], Window] = {}  # the geometry of each input size seen

    def pooling(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        s, b, _, h, w = x.shape
        win = windows.get((h, w))
        if win is None:
            win = windows[h, w] = window(padding_kind, padding, (h, w), (kh, kw), (sh, sw), where)
        data = to_nhwc(x)
        if kind == _L2:
            data = np.square(data)
        declared = attrs.evolve(win, bottom=win.pad_bottom, right=win.pad_right)  # not the overhang
        data = pad(data, declared, -np.inf if kind == _MAX else 0.0)
        reduce = np.maximum if kind == _MAX else np.add
        out = separable(data, win, (kh, kw), (sh, sw), reduce)
        if kind == _AVERAGE:
            out /= window_counts(win, (h, w), (kh, kw), (sh, sw), exclude)[:, :, np.newaxis]
        elif kind == _L2:
            np.sqrt(out, out=out)
        return [from_nhwc(out, s, b)]

    return pooling


def _global(kind: int) -> Kernel:
    """Global pooling: one value per channel, over the whole height and width."""

    def global_pooling(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        s, b, c = x.shape[:3]
        data = to_nhwc(x).reshape(s * b, -1, c)
        if kind == _MAX:
            out = data.max(axis=1)
        elif kind == _AVERAGE:
            out = data.mean(axis=1, dtype=np.float32)
        else:
            out = np.sqrt(np.square(data).sum(axis=1))
        return [out.reshape(s, b, c, 1, 1)]

    return global_pooling
