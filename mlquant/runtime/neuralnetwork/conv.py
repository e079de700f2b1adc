"""Convolution kernels (deconvolution is in :mod:`.deconv`).

The arithmetic (im2col and matrix products, channels-last) is shared with the ML Program
executor in :mod:`mlquant.runtime._kernels.conv`; this module reads the layer's parameters and
places its window.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...errors import DataError
from .._kernels.conv import ConvShape, products
from .._kernels.geometry import Window, pad
from ._base import Kernel, LayerContext, from_nhwc, pair, to_nhwc
from ._geometry import window
from .deconv import deconvolution


def geometry(ctx: LayerContext) -> tuple[tuple[int, int], tuple[int, int], int]:
    """A ``convolution`` layer's kernel size, strides and groups, checked against its channel counts.

    Raises:
        InvalidModelError: They do not fit together.
    """
    p = ctx.params
    kh, kw = pair(p.kernelSize, (3, 3))
    sh, sw = pair(p.stride, (1, 1))
    groups = int(p.nGroups) or 1
    cout, kc = int(p.outputChannels), int(p.kernelChannels)
    if cout % groups or min(kh, kw, sh, sw, cout, kc) < 1:
        raise ctx.invalid(
            f"{cout} output channels, {kc} kernel channels, {groups} groups, "
            f"kernel {kh}x{kw} and stride {sh}x{sw} do not fit together"
        )
    return (kh, kw), (sh, sw), groups


def build_convolution(ctx: LayerContext) -> Kernel:
    """Build a ``convolution`` kernel (also deconvolution, grouped and depthwise).

    With ``ctx.relu`` (a following ReLU folded in by the executor) the output is clipped at
    zero block by block, while it is still in cache.
    """
    if len(ctx.inputs) > 1:
        raise ctx.unsupported("weights given as a second input (dynamic convolution)")
    ctx.expect_inputs(1)
    p = ctx.params
    (kh, kw), (sh, sw), groups = geometry(ctx)
    cout, kc = int(p.outputChannels), int(p.kernelChannels)
    if p.isDeconvolution:
        return deconvolution(ctx, (kh, kw), (sh, sw), groups)
    dh, dw = pair(p.dilationFactor, (1, 1))
    weights = ctx.weight("weights", p.weights, (cout, kc, kh, kw))
    bias = ctx.weight("bias", p.bias, (cout,)) if p.hasBias else None
    kind = p.WhichOneof("ConvolutionPaddingType")
    padding = getattr(p, kind) if kind else None
    shape = ConvShape((kh, kw), (dh, dw), (sh, sw))
    effective = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    where = f"layer '{ctx.name}' (convolution)"
    relu = ctx.relu

    product = products(weights, bias, groups, shape, relu)

    windows: dict[tuple[int, int], Window] = {}  # the geometry of each input size seen

    def convolution(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        s, b, c, h, w = x.shape
        if c != kc * groups:
            msg = f"{where}: expected {kc * groups} input channels (got {c})"
            raise DataError(msg)
        win = windows.get((h, w))
        if win is None:
            win = windows[h, w] = window(kind, padding, (h, w), effective, (sh, sw), where)
        out = product(pad(to_nhwc(x), win, 0.0), win)
        return [from_nhwc(out, s, b)]

    return convolution


