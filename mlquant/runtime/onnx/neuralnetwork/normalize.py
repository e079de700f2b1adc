"""Normalization translators: batchnorm, mvn, l2normalize, lrn and softmax.

All work along the channel axis (``-3``); statistics are composed from ONNX reductions in the
reference runtime's order (the stored-statistics batchnorm as its precomputed ``x * scale +
shift``), so the rounding follows it closely.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ....errors import DataError
from ...neuralnetwork._base import LayerContext
from .._graph import Graph
from ._base import Blob, Shape, as_rank4, floats, ints, unsupported


def translate_batchnorm(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``batchnorm`` layer, with given statistics or computed ones (per item with
    ``instanceNormalization``, else per channel over the whole batch)."""
    ctx.expect_inputs(1)
    p = ctx.params
    (x,) = inputs
    channels = int(p.channels)
    if x.chw[0] is not None and x.chw[0] != channels:
        msg = f"layer '{ctx.name}' (batchnorm): expected {channels} channels (got {x.chw[0]})"
        raise DataError(msg)
    epsilon = np.float32(p.epsilon or 1e-5)
    gamma = ctx.weight("gamma", p.gamma, (channels,)).reshape(-1, 1, 1)
    beta = ctx.weight("beta", p.beta, (channels,)).reshape(-1, 1, 1)
    if p.computeMeanVar:
        rank = 5 if x.seq else 4
        axes = [-2, -1] if p.instanceNormalization else [a for a in range(rank) if a != rank - 3]
        axes_name = ints(g, axes)
        mean = g.one("ReduceMean", [x.name, axes_name], keepdims=1)
        centred = g.one("Sub", [x.name, mean])
        variance = g.one("ReduceMean", [g.one("Mul", [centred, centred]), axes_name], keepdims=1)
        factor = g.one("Div", [floats(g, gamma), g.one("Sqrt", [g.one("Add", [variance, floats(g, epsilon)])])])
        return [Blob(g.one("Add", [g.one("Mul", [centred, factor]), floats(g, beta)]), x.shape)]
    stored_mean = ctx.weight("mean", p.mean, (channels,)).reshape(-1, 1, 1)
    stored_variance = ctx.weight("variance", p.variance, (channels,)).reshape(-1, 1, 1)
    scale = (gamma / np.sqrt(stored_variance + epsilon)).astype(np.float32)
    shift = (beta - stored_mean * scale).astype(np.float32)
    return [Blob(g.one("Add", [g.one("Mul", [x.name, floats(g, scale)]), floats(g, shift)]), x.shape)]


def translate_mvn(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate an ``mvn`` layer: subtract the mean (over C, H, W or per channel over H, W),
    optionally divide by ``sqrt(variance + epsilon)``."""
    ctx.expect_inputs(1)
    p = ctx.params
    (x,) = inputs
    axes = ints(g, [-3, -2, -1] if p.acrossChannels else [-2, -1])
    centred = g.one("Sub", [x.name, g.one("ReduceMean", [x.name, axes], keepdims=1)])
    if p.normalizeVariance:
        variance = g.one("ReduceMean", [g.one("Mul", [centred, centred]), axes], keepdims=1)
        epsilon = floats(g, np.float32(p.epsilon or 1e-6))
        centred = g.one("Div", [centred, g.one("Sqrt", [g.one("Add", [variance, epsilon])])])
    return [Blob(centred, x.shape)]


def translate_l2normalize(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate an ``l2normalize`` layer: ``x / sqrt(sum(x**2) + epsilon)`` over C, H and W."""
    ctx.expect_inputs(1)
    (x,) = inputs
    total = g.one("ReduceSumSquare", [x.name, ints(g, [-3, -2, -1])], keepdims=1)
    epsilon = floats(g, np.float32(ctx.params.epsilon or 1e-6))
    return [Blob(g.one("Div", [x.name, g.one("Sqrt", [g.one("Add", [total, epsilon])])]), x.shape)]


def translate_lrn(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate an ``lrn`` layer: ONNX's ``LRN`` (whose window is the reference runtime's) for odd sizes."""
    ctx.expect_inputs(1)
    p = ctx.params
    size = int(p.localSize)
    if size < 1:
        raise ctx.invalid(f"localSize must be positive (got {size})")
    (x,) = inputs
    alpha, beta, k = np.float32(p.alpha), np.float32(p.beta), np.float32(p.k or 1.0)
    if size % 2:

        def lrn(value: str) -> tuple[str, Shape]:
            y = g.one("LRN", [value], alpha=float(alpha), beta=float(beta), bias=float(k), size=size)
            return y, x.chw

        return [as_rank4(g, x, lrn)]
    channels = x.chw[0]
    if channels is None:
        raise unsupported(ctx, "an even-sized window over an unknown number of channels")
    before, after = (size - 1) // 2, size // 2
    rows = np.arange(channels)
    band = (rows[None, :] >= rows[:, None] - before) & (rows[None, :] <= rows[:, None] + after)
    weights = floats(g, band.astype(np.float32).reshape(channels, channels, 1, 1))

    def lrn_even(value: str) -> tuple[str, Shape]:
        """onnxruntime's LRN takes odd sizes only: the window sums as a 1x1 convolution with a band of ones."""
        window = g.one("Conv", [g.one("Mul", [value, value]), weights], kernel_shape=[1, 1])
        base = g.one("Add", [g.one("Mul", [window, floats(g, alpha / size)]), floats(g, k)])
        return g.one("Div", [value, g.one("Pow", [base, floats(g, beta)])]), x.chw

    return [as_rank4(g, x, lrn_even)]


def translate_softmax(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``softmax`` layer along the channel axis."""
    ctx.expect_inputs(1)
    (x,) = inputs
    return [Blob(g.one("Softmax", [x.name], axis=len(x.shape) - 2), x.shape)]
