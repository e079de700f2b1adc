"""Convolution: ``conv`` and ``conv_transpose``, 1-D and 2-D, with groups, dilations and every pad type.

``conv`` uses the im2col products of :mod:`mlquant.runtime._kernels.conv`, channels-last (the
output is an ``(N, C, H, W)`` view of ``(N, H, W, C)`` memory, so a following convolution reads
it without a transpose). A 1-D convolution runs as a 2-D one of height 1. ``conv_transpose``
scatters each input pixel's weighted ``KH x KW`` patch into the full output, then crops it as
``pad_type``/``pad``/``output_shape`` say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ...errors import DataError
from .._kernels.conv import ConvShape, products
from .._kernels.deconv import scatter_patches
from .._kernels.geometry import Window, pad
from ._context import Kernel, OpContext, one
from ._spatial import Padding, as_2d, from_nhwc, spatial_rank, to_nhwc


def _weights(ctx: OpContext) -> np.ndarray:
    if not ctx.is_constant("weight"):
        raise ctx.unsupported("weights computed at run time (dynamic convolution)")
    return np.asarray(ctx.const("weight"), dtype=np.float32)


def conv_parameters(ctx: OpContext) -> tuple[np.ndarray, int, int, tuple[int, int], tuple[int, int], np.ndarray | None]:
    """What ``conv`` and ``conv_transpose`` read alike: weights (1-D made 2-D), spatial rank, groups,
    strides, dilations and bias."""
    weight = _weights(ctx)
    spatial = spatial_rank(ctx, weight.ndim - 2)
    if spatial == 1:
        weight = weight[:, :, np.newaxis, :]
    groups = int(ctx.scalar("groups", 1))
    stride = as_2d(ctx.ints("strides", (1,) * spatial), spatial, 1)
    dilation = as_2d(ctx.ints("dilations", (1,) * spatial), spatial, 1)
    bias = ctx.const("bias", None)
    bias = None if bias is None else np.asarray(bias, dtype=np.float32).reshape(-1)
    return weight, spatial, groups, stride, dilation, bias


def build_conv(ctx: OpContext) -> Kernel:
    """Build a ``conv`` kernel."""
    weight, spatial, groups, stride, dilation, bias = conv_parameters(ctx)
    cout, kc, kh, kw = weight.shape
    if groups < 1 or cout % groups or min(*stride, *dilation) < 1:
        raise ctx.invalid(f"{cout} output channels, {groups} groups, strides {stride}, dilations {dilation}")
    padding = Padding(ctx, spatial)
    shape = ConvShape((kh, kw), dilation, stride)
    effective = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
    relu = ctx.clip == (0.0, float("inf"))
    product = products(weight, bias, groups, shape, relu=relu, clip=None if relu else ctx.clip)
    windows: dict[tuple[int, int], Window] = {}
    where = f"operation '{ctx.name}' (conv)"

    def conv(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        if spatial == 1:
            x = x[:, :, np.newaxis, :]
        c, h, w = x.shape[1:]
        if c != kc * groups:
            msg = f"{where}: expected {kc * groups} input channels (got {c})"
            raise DataError(msg)
        win = windows.get((h, w))
        if win is None:
            win = windows[h, w] = padding.window((h, w), effective, stride)
        out = from_nhwc(product(pad(to_nhwc(x), win, 0.0), win))
        return [out[:, :, 0, :] if spatial == 1 else out]

    return conv


def build_conv_transpose(ctx: OpContext) -> Kernel:
    """Build a ``conv_transpose`` kernel (weights ``(C_in, C_out / groups, *K)``)."""
    weight, spatial, groups, stride, dilation, bias = conv_parameters(ctx)
    cin, cog, kh, kw = weight.shape
    if groups < 1 or cin % groups:
        raise ctx.invalid(f"{cin} input channels do not split into {groups} groups")
    padding = Padding(ctx, spatial)
    target = ctx.ints("output_shape", None)
    if target is not None:
        target = tuple(target[-spatial:])
        target = (1, target[0]) if spatial == 1 else target
    cig = cin // groups
    # (C_in, C_out/G, KH, KW) -> (G, C_in/G, KH * KW * C_out/G)
    matrix = weight.reshape(groups, cig, cog, kh, kw).transpose(0, 1, 3, 4, 2)
    matrix = np.ascontiguousarray(matrix.reshape(groups, cig, kh * kw * cog))

    def conv_transpose(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        if spatial == 1:
            x = x[:, :, np.newaxis, :]
        n, _, h, w = x.shape
        full = scatter_patches(to_nhwc(x), matrix, (kh, kw), stride, dilation)
        full_h, full_w = full.shape[1:3]
        top, left, out_h, out_w = crop(padding, target, (h, w), (full_h, full_w), stride)
        out = np.zeros((n, out_h, out_w, cog * groups), dtype=np.float32)
        kept_h, kept_w = max(0, min(out_h, full_h - top)), max(0, min(out_w, full_w - left))
        out[:, :kept_h, :kept_w] = full[:, top : top + kept_h, left : left + kept_w]
        if bias is not None:
            out += bias
        result = from_nhwc(out)
        return [result[:, :, 0, :] if spatial == 1 else result]

    return conv_transpose


def crop(
    padding: Padding,
    target: tuple[int, ...] | None,
    size: tuple[int, int],
    full: tuple[int, int],
    stride: tuple[int, int],
) -> tuple[int, int, int, int]:
    """``(top, left, out_h, out_w)``: where the output starts in the full scatter, and its size."""
    if padding.kind in ("same", "same_lower"):
        out = tuple(target) if target else (size[0] * stride[0], size[1] * stride[1])
        starts = []
        for total in (max(0, full[0] - out[0]), max(0, full[1] - out[1])):
            starts.append(total - total // 2 if padding.kind == "same_lower" else total // 2)
        return starts[0], starts[1], int(out[0]), int(out[1])
    top, bottom, left, right = padding.pad
    if target:
        return top, left, int(target[0]), int(target[1])
    return top, left, full[0] - top - bottom, full[1] - left - right
