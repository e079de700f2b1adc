"""Convolution translators: ``Conv`` for convolution, ``ConvTranspose`` and a crop for deconvolution.

Windows are placed by the reference runtime's own geometry
(:func:`~mlquant.runtime.neuralnetwork._geometry.window`), so ``valid`` (with any padding
amounts), ``same`` (either asymmetry mode, dilation included) and explicit pads give the same
output sizes and borders in both engines; the padding becomes ``Conv``'s explicit ``pads``.
Weights keep Core ML's layout, which is ONNX's: ``(C_out, C_in / groups, KH, KW)`` for a
convolution, ``(C_in, C_out / groups, KH, KW)`` for a deconvolution. A ReLU layer after a
convolution translates to a ``Relu`` right after the ``Conv``, which onnxruntime fuses.
"""

from __future__ import annotations

from collections.abc import Sequence

from ....errors import DataError
from ...neuralnetwork._base import LayerContext, pair
from ...neuralnetwork._geometry import window
from ...neuralnetwork.conv import geometry
from ...neuralnetwork.deconv import _crop
from .._graph import Graph
from ._base import Blob, Shape, as_rank4, floats, ints, known, unsupported


def translate_convolution(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``convolution`` layer (grouped, depthwise, dilated, or a deconvolution)."""
    if len(ctx.inputs) > 1:
        raise unsupported(ctx, "weights given as a second input (dynamic convolution)")
    ctx.expect_inputs(1)
    p = ctx.params
    (kh, kw), (sh, sw), groups = geometry(ctx)
    cout, kc = int(p.outputChannels), int(p.kernelChannels)
    (x,) = inputs
    if p.isDeconvolution:
        return [_deconvolution(g, ctx, x, (kh, kw), (sh, sw), groups)]
    c, h, w = x.chw
    where = f"layer '{ctx.name}' (convolution)"
    if c is not None and c != kc * groups:
        msg = f"{where}: expected {kc * groups} input channels (got {c})"
        raise DataError(msg)
    dh, dw = pair(p.dilationFactor, (1, 1))
    weights = ctx.weight("weights", p.weights, (cout, kc, kh, kw))
    operands = [floats(g, weights)]
    if p.hasBias:
        operands.append(floats(g, ctx.weight("bias", p.bias, (cout,))))
    kind = p.WhichOneof("ConvolutionPaddingType")
    padding = getattr(p, kind) if kind else None
    effective = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    attributes: dict = {"kernel_shape": [kh, kw], "strides": [sh, sw], "dilations": [dh, dw], "group": groups}
    if known(h, w):
        win = window(kind, padding, (int(h), int(w)), effective, (sh, sw), where)  # type: ignore[arg-type]
        attributes["pads"] = [win.top, win.left, win.bottom, win.right]
        size: Shape = (cout, win.out_h, win.out_w)
    elif kind == "same" and padding is not None:
        attributes["auto_pad"] = "SAME_LOWER" if int(padding.asymmetryMode) == 1 else "SAME_UPPER"
        size = (cout, None, None)
    else:
        raise unsupported(ctx, f"{kind or 'valid'} padding of an input of unknown size")

    def conv(value: str) -> tuple[str, Shape]:
        return g.one("Conv", [value, *operands], **attributes), size

    return [as_rank4(g, x, conv)]


def _deconvolution(
    g: Graph, ctx: LayerContext, x: Blob, kernel: tuple[int, int], stride: tuple[int, int], groups: int
) -> Blob:
    """``ConvTranspose`` to the uncropped output, then the reference runtime's crop, zero
    extension past the end (``outputShape``) and bias."""
    p = ctx.params
    (kh, kw), (sh, sw) = kernel, stride
    cout, kc = int(p.outputChannels), int(p.kernelChannels)
    if kc % groups:
        raise ctx.invalid(f"{kc} kernel channels do not split into {groups} groups")
    c, h, w = x.chw
    where = f"layer '{ctx.name}' (deconvolution)"
    if c is not None and c != kc:
        msg = f"{where}: expected {kc} input channels (got {c})"
        raise DataError(msg)
    if not known(h, w):
        raise unsupported(ctx, "a deconvolution of an input of unknown size")
    h, w = int(h), int(w)  # type: ignore[arg-type]
    weights = floats(g, ctx.weight("weights", p.weights, (kc, cout // groups, kh, kw)))
    bias = floats(g, ctx.weight("bias", p.bias, (cout,)).reshape(-1, 1, 1)) if p.hasBias else None
    kind = p.WhichOneof("ConvolutionPaddingType")
    shape = pair(p.outputShape, (0, 0)) if len(p.outputShape) else None
    full = ((h - 1) * sh + kh, (w - 1) * sw + kw)
    top, left, out_h, out_w = _crop(kind, getattr(p, kind) if kind else None, shape, (h, w), full, stride)
    kept_h, kept_w = max(0, min(out_h, full[0] - top)), max(0, min(out_w, full[1] - left))

    def deconv(value: str) -> tuple[str, Shape]:
        y = g.one("ConvTranspose", [value, weights], kernel_shape=[kh, kw], strides=[sh, sw], group=groups)
        if (top, left, kept_h, kept_w) != (0, 0, *full):
            y = g.one("Slice", [y, ints(g, [top, left]), ints(g, [top + kept_h, left + kept_w]), ints(g, [2, 3])])
        if (kept_h, kept_w) != (out_h, out_w):
            pads = [0, 0, 0, 0, 0, 0, out_h - kept_h, out_w - kept_w]
            y = g.one("Pad", [y, ints(g, pads), floats(g, 0.0)])
        if bias is not None:
            y = g.one("Add", [y, bias])
        return y, (cout, out_h, out_w)

    return as_rank4(g, x, deconv)

