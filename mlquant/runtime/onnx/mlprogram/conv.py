"""Convolution as ONNX ``Conv`` and ``ConvTranspose``: groups, dilations, every pad type.

The weights, strides, dilations and bias are read as the reference kernels read them
(:func:`mlquant.runtime.mlprogram.conv.conv_parameters`); windows are placed by the same
:class:`~mlquant.runtime.mlprogram._spatial.Padding`. A 1-D operation runs as a 2-D one of height 1,
as in the reference runtime. A relu or clip the reference build folded into a ``conv`` follows it.
"""

from __future__ import annotations

import numpy as np

from ...mlprogram._spatial import Padding
from ...mlprogram.conv import conv_parameters, crop
from ._op import Op


def _as_2d(op: Op, x: str, spatial: int) -> str:
    return op.one("Unsqueeze", [x, op.ints([2])]) if spatial == 1 else x


def _back(op: Op, y: str, spatial: int) -> str:
    return op.one("Squeeze", [y, op.ints([2])]) if spatial == 1 else y


def _size(op: Op, spatial: int) -> tuple[int, int] | None:
    shape = op.shape("x")
    if shape is None or None in shape[-spatial:]:
        return None
    sizes = tuple(int(s) for s in shape[-spatial:])  # type: ignore[arg-type]
    return (1, sizes[0]) if spatial == 1 else (sizes[0], sizes[1])


def translate_conv(op: Op) -> list[str]:
    """conv (and a relu or clip folded into it)."""
    weight, spatial, groups, stride, dilation, bias = conv_parameters(op.ctx)
    kh, kw = weight.shape[2:]
    padding = Padding(op.ctx, spatial)
    effective = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
    size = _size(op, spatial)
    attributes: dict = {"group": groups, "strides": list(stride), "dilations": list(dilation)}
    if size is not None:
        win = padding.window(size, effective, stride)
        attributes["pads"] = [win.top, win.left, win.bottom, win.right]
    elif padding.kind in ("same", "same_lower"):
        attributes["auto_pad"] = "SAME_LOWER" if padding.kind == "same_lower" else "SAME_UPPER"
    else:
        top, bottom, left, right = padding.pad
        attributes["pads"] = [top, left, bottom, right]
    inputs = [_as_2d(op, op.value("x"), spatial), op.const(weight)]
    if bias is not None:
        inputs.append(op.const(bias))
    y = op.one("Conv", inputs, kernel_shape=[kh, kw], **attributes)
    if op.ctx.clip == (0.0, float("inf")):
        y = op.one("Relu", [y])
    elif op.ctx.clip is not None:
        low, high = op.ctx.clip
        y = op.one("Clip", [y, op.const(low), op.const(high)])  # onnxruntime fuses it into the Conv
    return [_back(op, y, spatial)]


def translate_conv_transpose(op: Op) -> list[str]:
    """conv_transpose: the full transposed convolution, cropped (and zero-filled) as the reference crops it."""
    weight, spatial, groups, stride, dilation, bias = conv_parameters(op.ctx)
    kh, kw = weight.shape[2:]
    padding = Padding(op.ctx, spatial)
    target = op.ctx.ints("output_shape", None)
    if target is not None:
        target = tuple(target[-spatial:])
        target = (1, target[0]) if spatial == 1 else target
    size = _size(op, spatial)
    if size is None:
        raise op.ctx.unsupported("an input of unknown height or width")
    full = tuple((n - 1) * s + (k - 1) * d + 1 for n, s, k, d in zip(size, stride, (kh, kw), dilation, strict=True))
    top, left, out_h, out_w = crop(padding, target, size, full, stride)
    y = op.one(
        "ConvTranspose",
        [_as_2d(op, op.value("x"), spatial), op.const(weight)],
        kernel_shape=[kh, kw],
        group=groups,
        strides=list(stride),
        dilations=list(dilation),
    )
    kept_h, kept_w = max(0, min(out_h, full[0] - top)), max(0, min(out_w, full[1] - left))
    y = op.one("Slice", [y, op.ints([top, left]), op.ints([top + kept_h, left + kept_w]), op.ints([2, 3])])
    if (kept_h, kept_w) != (out_h, out_w):
        y = op.one("Pad", [y, op.ints([0, 0, 0, 0, 0, 0, out_h - kept_h, out_w - kept_w])])
    if bias is not None:
        y = op.one("Add", [y, op.const(np.asarray(bias, np.float32).reshape(-1, 1, 1))])
    return [_back(op, y, spatial)]
