"""Normalization kernels: batchnorm, mvn, l2normalize, lrn and softmax.

All of them work along the channel axis (``-3``) of ``(S, B, C, H, W)`` arrays, treating the
sequence and batch axes alike, as ``NeuralNetwork.proto`` says ("the leading dimensions are all
treated as batch").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...errors import DataError
from ._base import Kernel, LayerContext, owned


def build_batchnorm(ctx: LayerContext) -> Kernel:
    """Build a ``batchnorm`` kernel: ``gamma * (x - mean) / sqrt(variance + epsilon) + beta``.

    With ``computeMeanVar`` the mean and (biased) variance come from the input itself: per
    item and channel over height and width (``instanceNormalization``), or per channel over
    everything else.
    """
    ctx.expect_inputs(1)
    p = ctx.params
    channels = int(p.channels)
    epsilon = np.float32(p.epsilon or 1e-5)
    gamma = ctx.weight("gamma", p.gamma, (channels,)).reshape(1, 1, -1, 1, 1)
    beta = ctx.weight("beta", p.beta, (channels,)).reshape(1, 1, -1, 1, 1)
    where = f"layer '{ctx.name}' (batchnorm)"
    overwrite = ctx.overwrite
    if p.computeMeanVar:
        axes = (3, 4) if p.instanceNormalization else (0, 1, 3, 4)

        def normalize(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
            x = _check_channels(inputs[0], channels, where)
            mean = x.mean(axis=axes, keepdims=True, dtype=np.float32)
            centred = x - mean
            variance = np.square(centred).mean(axis=axes, keepdims=True, dtype=np.float32)
            return [centred * (gamma / np.sqrt(variance + epsilon)) + beta]

        return normalize
    mean = ctx.weight("mean", p.mean, (channels,)).reshape(1, 1, -1, 1, 1)
    variance = ctx.weight("variance", p.variance, (channels,)).reshape(1, 1, -1, 1, 1)
    scale = (gamma / np.sqrt(variance + epsilon)).astype(np.float32)
    shift = (beta - mean * scale).astype(np.float32)

    def batchnorm(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = _check_channels(inputs[0], channels, where)
        out = owned(x, overwrite)
        np.multiply(x, scale, out=out)
        return [np.add(out, shift, out=out)]

    return batchnorm


def _check_channels(x: np.ndarray, channels: int, where: str) -> np.ndarray:
    if x.shape[2] != channels:
        msg = f"{where}: expected {channels} channels (got {x.shape[2]})"
        raise DataError(msg)
    return x


def build_mvn(ctx: LayerContext) -> Kernel:
    """Build an ``mvn`` kernel: subtract the mean, and divide by ``sqrt(variance + epsilon)``.

    The statistics run over channels, height and width (``acrossChannels``) or over height
    and width per channel.
    """
    ctx.expect_inputs(1)
    p = ctx.params
    axes = (2, 3, 4) if p.acrossChannels else (3, 4)
    epsilon = np.float32(p.epsilon or 1e-6)
    scaled = bool(p.normalizeVariance)

    def mvn(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        centred = x - x.mean(axis=axes, keepdims=True, dtype=np.float32)
        if scaled:
            variance = np.square(centred).mean(axis=axes, keepdims=True, dtype=np.float32)
            centred /= np.sqrt(variance + epsilon)
        return [centred]

    return mvn


def build_l2normalize(ctx: LayerContext) -> Kernel:
    """Build an ``l2normalize`` kernel: ``x / sqrt(sum(x**2) + epsilon)`` over C, H and W."""
    ctx.expect_inputs(1)
    epsilon = np.float32(ctx.params.epsilon or 1e-6)

    def l2normalize(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        total = np.square(x).sum(axis=(2, 3, 4), keepdims=True, dtype=np.float32)
        return [x / np.sqrt(total + epsilon)]

    return l2normalize


def build_lrn(ctx: LayerContext) -> Kernel:
    """Build an ``lrn`` kernel: ``x / (k + alpha / size * sum(x**2 over size channels))**beta``.

    The window of channel ``c`` runs from ``c - (size - 1) // 2`` to ``c + size // 2``
    (centred for odd sizes), as in ONNX's LRN.
    """
    ctx.expect_inputs(1)
    p = ctx.params
    size = int(p.localSize)
    if size < 1:
        raise ctx.invalid(f"localSize must be positive (got {size})")
    alpha, beta, k = np.float32(p.alpha), np.float32(p.beta), np.float32(p.k or 1.0)
    before, after = (size - 1) // 2, size // 2

    def lrn(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        c = x.shape[2]
        squares = np.square(x)
        window = np.zeros_like(squares)
        for offset in range(-before, after + 1):
            low, high = max(0, -offset), min(c, c - offset)
            if low < high:
                window[:, :, low:high] += squares[:, :, low + offset : high + offset]
        return [x / np.power(k + (alpha / size) * window, beta)]

    return lrn


def build_softmax(ctx: LayerContext) -> Kernel:
    """Build a ``softmax`` kernel along the channel axis."""
    ctx.expect_inputs(1)

    def softmax(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        shifted = np.exp(x - x.max(axis=2, keepdims=True))
        shifted /= shifted.sum(axis=2, keepdims=True)
        return [shifted]

    return softmax
