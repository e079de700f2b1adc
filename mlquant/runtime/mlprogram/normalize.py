"""Normalization: ``batch_norm``, ``instance_norm``, ``layer_norm``, ``l2_norm``, ``local_response_norm``.

``batch_norm`` folds its constants into one scale and shift per channel (axis 1).
``layer_norm`` normalizes over ``axes`` with the population variance; ``instance_norm`` over
every axis after the channel; ``l2_norm`` divides by ``sqrt(sum(x**2) + epsilon)`` over the last
three axes; ``local_response_norm`` divides by ``(k + alpha / size * window sum of x**2) ** beta``
over a window of ``size`` channels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._context import Kernel, OpContext, normalize_axes, one


def _vector(ctx: OpContext, param: str, default: float | None) -> np.ndarray | None:
    value = ctx.const(param, None)
    if value is None:
        return None if default is None else np.asarray(default, dtype=np.float32)
    return np.asarray(value, dtype=np.float32)


def _channels(values: np.ndarray, rank: int) -> np.ndarray:
    return values.reshape((-1,) + (1,) * (rank - 2))


def batch_norm_affine(ctx: OpContext) -> tuple[np.ndarray, np.ndarray]:
    """A ``batch_norm``'s constants as one float32 ``(scale, shift)`` per channel (computed in float64)."""
    mean = np.asarray(ctx.const("mean"), dtype=np.float64).reshape(-1)
    variance = np.asarray(ctx.const("variance"), dtype=np.float64).reshape(-1)
    gamma = _vector(ctx, "gamma", 1.0)
    beta = _vector(ctx, "beta", 0.0)
    epsilon = float(ctx.scalar("epsilon", 1e-5))
    scale = (np.asarray(gamma, np.float64).reshape(-1) / np.sqrt(variance + epsilon)) * np.ones_like(mean)
    shift = (np.asarray(beta, np.float64).reshape(-1) - mean * scale).astype(np.float32)
    return scale.astype(np.float32), shift


def build_batch_norm(ctx: OpContext) -> Kernel:
    """Build ``batch_norm``: ``(x - mean) / sqrt(variance + epsilon) * gamma + beta`` per channel."""
    scale, shift = batch_norm_affine(ctx)

    def batch_norm(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        out = x * _channels(scale, x.ndim)
        out += _channels(shift, x.ndim)
        return [out]

    return batch_norm


def _normalize(x: np.ndarray, axes: tuple[int, ...], epsilon: np.float32) -> np.ndarray:
    centred = x - x.mean(axis=axes, keepdims=True, dtype=np.float32)
    variance = np.square(centred).mean(axis=axes, keepdims=True, dtype=np.float32)
    centred *= 1.0 / np.sqrt(variance + epsilon)
    return centred


def build_layer_norm(ctx: OpContext) -> Kernel:
    """Build ``layer_norm`` over ``axes`` (all axes when absent), with ``gamma`` and ``beta`` of their shape."""
    axes = ctx.ints("axes", None)
    gamma, beta = _vector(ctx, "gamma", None), _vector(ctx, "beta", None)
    epsilon = np.float32(ctx.scalar("epsilon", 1e-5))

    def layer_norm(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        normalized = normalize_axes(axes if axes is not None else range(x.ndim), x.ndim)
        shape = [x.shape[i] if i in normalized else 1 for i in range(x.ndim)]
        out = _normalize(x, normalized, epsilon)
        if gamma is not None:
            out *= gamma.reshape(shape)
        if beta is not None:
            out += beta.reshape(shape)
        return [out]

    return layer_norm


def build_instance_norm(ctx: OpContext) -> Kernel:
    """Build ``instance_norm``: each item's channel normalized over its spatial axes."""
    gamma, beta = _vector(ctx, "gamma", None), _vector(ctx, "beta", None)
    epsilon = np.float32(ctx.scalar("epsilon", 1e-5))

    def instance_norm(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        out = _normalize(x, tuple(range(2, x.ndim)), epsilon)
        if gamma is not None:
            out *= _channels(gamma, x.ndim)
        if beta is not None:
            out += _channels(beta, x.ndim)
        return [out]

    return instance_norm


def build_l2_norm(ctx: OpContext) -> Kernel:
    """Build ``l2_norm`` over the last three axes."""
    epsilon = np.float32(ctx.scalar("epsilon", 1e-6))

    def l2_norm(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        axes = tuple(range(max(0, x.ndim - 3), x.ndim))
        total = np.square(x).sum(axis=axes, keepdims=True, dtype=np.float32)
        return [x / np.sqrt(total + epsilon)]

    return l2_norm


def build_local_response_norm(ctx: OpContext) -> Kernel:
    """Build ``local_response_norm`` across ``size`` neighbouring channels (axis 1)."""
    size = int(ctx.scalar("size"))
    alpha = np.float32(ctx.scalar("alpha", 1e-4))
    beta = np.float32(ctx.scalar("beta", 0.75))
    k = np.float32(ctx.scalar("k", 1.0))

    def local_response_norm(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        squares = np.square(x)
        before, after = (size - 1) // 2, size // 2
        widths = [(0, 0)] * x.ndim
        widths[1] = (before, after)
        padded = np.pad(squares, widths)
        total = np.zeros_like(squares)
        for i in range(size):
            total += padded[:, i : i + x.shape[1]]
        return [x / (k + alpha / size * total) ** beta]

    return local_response_norm
