"""Deconvolution (transposed convolution) kernels.

Each input pixel's channels, multiplied by the weights, give a ``KH x KW`` patch per output
channel; the patches are added into the uncropped output at stride steps, then the output is
cropped as the padding (or ``outputShape``) says. Channels-last throughout, like convolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import DataError
from .._kernels.deconv import scatter_patches
from ._base import Kernel, LayerContext, borders, from_nhwc, pair, to_nhwc


def deconvolution(ctx: LayerContext, kernel: tuple[int, int], stride: tuple[int, int], groups: int) -> Kernel:
    """Transposed convolution: scatter each input pixel's ``KH x KW`` patch, then crop.

    The uncropped output is ``(H - 1) * stride + KH`` high. ``valid`` padding crops its
    ``paddingAmounts``; ``same`` padding crops to ``H * stride``, the larger half at the bottom
    (``BOTTOM_RIGHT_HEAVY``) or top (``TOP_LEFT_HEAVY``). With ``outputShape`` the crop starts
    where the padding says and the output has exactly that size (zeros plus bias past the end).
    """
    p = ctx.params
    (kh, kw), (sh, sw) = kernel, stride
    cout, kc = int(p.outputChannels), int(p.kernelChannels)
    weights = ctx.weight("weights", p.weights, (kc, cout // groups, kh, kw))
    bias = ctx.weight("bias", p.bias, (cout,)) if p.hasBias else None
    if kc % groups:
        raise ctx.invalid(f"{kc} kernel channels do not split into {groups} groups")
    cig, cog = kc // groups, cout // groups
    # (Cin, C_out/G, KH, KW) -> (G, Cin/G, KH * KW * C_out/G)
    matrix = weights.reshape(groups, cig, cog, kh, kw).transpose(0, 1, 3, 4, 2)
    matrix = np.ascontiguousarray(matrix.reshape(groups, cig, kh * kw * cog))
    kind = p.WhichOneof("ConvolutionPaddingType")
    shape = pair(p.outputShape, (0, 0)) if len(p.outputShape) else None
    where = f"layer '{ctx.name}' (deconvolution)"

    def deconvolution(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        s, b, c, h, w = x.shape
        if c != kc:
            msg = f"{where}: expected {kc} input channels (got {c})"
            raise DataError(msg)
        full = scatter_patches(to_nhwc(x), matrix, (kh, kw), (sh, sw))
        full_h, full_w = full.shape[1:3]
        top, left, out_h, out_w = _crop(
            kind, getattr(p, kind) if kind else None, shape, (h, w), (full_h, full_w), stride
        )
        out = np.zeros((s * b, out_h, out_w, cout), dtype=np.float32)
        kept_h, kept_w = max(0, min(out_h, full_h - top)), max(0, min(out_w, full_w - left))
        out[:, :kept_h, :kept_w] = full[
            :, top : top + kept_h, left : left + kept_w
        ]
        if bias is not None:
            out += bias
        return [from_nhwc(out, s, b)]

    return deconvolution


def _crop(
    kind: str | None,
    padding: Any,
    shape: tuple[int, int] | None,
    size: tuple[int, int],
    full: tuple[int, int],
    stride: tuple[int, int],
) -> tuple[int, int, int, int]:
    """``(top, left, out_h, out_w)`` of a deconvolution's crop of its uncropped output."""
    if kind == "same":
        heavy = int(padding.asymmetryMode) == 1
        target = shape or (size[0] * stride[0], size[1] * stride[1])
        starts = []
        for total in (max(0, full[0] - target[0]), max(0, full[1] - target[1])):
            small = total // 2
            starts.append(total - small if heavy else small)
        return starts[0], starts[1], target[0], target[1]
    top = bottom = left = right = 0
    if kind == "valid":
        top, bottom, left, right = borders(padding.paddingAmounts)
    if shape:
        return top, left, shape[0], shape[1]
    return top, left, full[0] - top - bottom, full[1] - left - right
