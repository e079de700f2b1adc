"""Pooling translators: MAX, AVERAGE and L2, windowed or global.

Windows are placed by the reference runtime's geometry, so ``includeLastPixel`` (Caffe's ceil
mode, whose last window may overhang the declared padding), ``valid`` and ``same`` agree with
it; the padding, overhang included, becomes the pooling operator's ``pads`` (an explicit
``Pad`` when it reaches a whole window, which onnxruntime refuses as ``pads``). Max pooling
never lets padding win. Average pooling divides by the cell counts the reference runtime
uses (:func:`~mlquant.runtime._kernels.pool.window_counts`): ONNX's own count where it is the
same (``count_include_pad`` 1 or 0), else ONNX's full-window mean rescaled by
``KH * KW / count``. L2 pooling is ``sqrt`` of the squares' window sum.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..._kernels.geometry import Window
from ..._kernels.pool import window_counts
from ...neuralnetwork._base import LayerContext, pair
from ...neuralnetwork._geometry import window
from .._graph import Graph
from ._base import Blob, Shape, as_rank4, floats, ints, known, unsupported

_MAX, _AVERAGE, _L2 = 0, 1, 2


def translate_pooling(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``pooling`` layer."""
    ctx.expect_inputs(1)
    p = ctx.params
    kind = int(p.type)
    if kind not in (_MAX, _AVERAGE, _L2):
        raise unsupported(ctx, f"pooling type {kind}")
    (x,) = inputs
    if p.globalPooling:
        return [_global(g, x, kind)]
    kh, kw = pair(p.kernelSize, (3, 3))
    sh, sw = pair(p.stride, (1, 1))
    if min(kh, kw, sh, sw) < 1:
        raise ctx.invalid(f"kernel {kh}x{kw} and stride {sh}x{sw} must be positive")
    c, h, w = x.chw
    if not known(h, w):
        raise unsupported(ctx, "windowed pooling of an input of unknown size")
    size = (int(h), int(w))  # type: ignore[arg-type]
    padding_kind = p.WhichOneof("PoolingPaddingType")
    padding = getattr(p, padding_kind) if padding_kind else None
    where = f"layer '{ctx.name}' (pooling)"
    win = window(padding_kind, padding, size, (kh, kw), (sh, sw), where)
    exclude = bool(p.avgPoolExcludePadding)

    def pool(value: str) -> tuple[str, Shape]:
        if kind == _L2:
            value = g.one("Mul", [value, value])
        y = _windows(g, value, kind, win, size, (kh, kw), (sh, sw), exclude)
        if kind == _L2:
            y = g.one("Sqrt", [g.one("Mul", [y, floats(g, kh * kw)])])
        return y, (c, win.out_h, win.out_w)

    return [as_rank4(g, x, pool)]


def _windows(
    g: Graph,
    x: str,
    kind: int,
    win: Window,
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    exclude: bool,
) -> str:
    """Max pooling, or the reference runtime's window mean (the sum of squares' mean for L2)."""
    (kh, kw), (sh, sw) = kernel, stride
    pads = [win.top, win.left, win.bottom, win.right]
    attributes: dict = {"kernel_shape": [kh, kw], "strides": [sh, sw]}
    explicit = max(win.top, win.bottom) >= kh or max(win.left, win.right) >= kw
    if explicit:
        fill = -np.inf if kind == _MAX else 0.0
        x = g.one("Pad", [x, ints(g, [0, 0, win.top, win.left, 0, 0, win.bottom, win.right]), floats(g, fill)])
    else:
        attributes["pads"] = pads
    if kind == _MAX:
        y = g.one("MaxPool", [x], **attributes)
    else:
        wanted = window_counts(win, size, kernel, stride, exclude if kind == _AVERAGE else False)
        inside = window_counts(win, size, kernel, stride, True)
        full = float(kh * kw)
        if kind == _AVERAGE and not explicit and np.array_equal(wanted, inside):
            y = g.one("AveragePool", [x], count_include_pad=0, **attributes)
        else:
            y = g.one("AveragePool", [x], count_include_pad=1, **attributes)
            if kind == _AVERAGE and not np.all(wanted == full):
                y = g.one("Mul", [y, floats(g, full / wanted)])
    out_h = (size[0] + win.top + win.bottom - kh) // sh + 1
    out_w = (size[1] + win.left + win.right - kw) // sw + 1
    if (out_h, out_w) != (win.out_h, win.out_w):
        y = g.one("Slice", [y, ints(g, [0, 0]), ints(g, [win.out_h, win.out_w]), ints(g, [2, 3])])
    return y


def _global(g: Graph, x: Blob, kind: int) -> Blob:
    """One value per channel over the whole height and width (ONNX's global pooling on rank 4,
    which onnxruntime keeps in its blocked convolution layout)."""
    if not x.seq and kind != _L2:
        return Blob(g.one("GlobalMaxPool" if kind == _MAX else "GlobalAveragePool", [x.name]), (x.chw[0], 1, 1))
    axes = ints(g, [-2, -1])
    if kind == _MAX:
        y = g.one("ReduceMax", [x.name, axes], keepdims=1)
    elif kind == _AVERAGE:
        y = g.one("ReduceMean", [x.name, axes], keepdims=1)
    else:
        y = g.one("Sqrt", [g.one("ReduceSumSquare", [x.name, axes], keepdims=1)])
    return Blob(y, (*x.shape[:-2], 1, 1))
