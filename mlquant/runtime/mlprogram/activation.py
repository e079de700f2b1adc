"""Activations: the ReLU family, sigmoids, gelu (every mode), silu, softplus, elu, softmax...

Each kernel computes in float32 (or the input's dtype) with numpy; alpha and beta are the
op's constants. ``prelu`` and ``softplus_parametric`` take one alpha (and beta) per channel,
channels being axis 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy import special

from ._context import Kernel, OpContext, normalize_axes, one

_Fn = Callable[[np.ndarray], np.ndarray]


def _unary(fn: _Fn) -> Kernel:
    def kernel(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        return [fn(one(args, "x"))]

    return kernel


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.zeros((), dtype=x.dtype))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return special.expit(x).astype(x.dtype, copy=False)


_GELU: dict[str, _Fn] = {
    "EXACT": lambda x: 0.5 * x * (1.0 + special.erf(x / np.float32(np.sqrt(2.0)))),
    "TANH_APPROXIMATION": lambda x: (
        0.5 * x * (1.0 + np.tanh(np.float32(np.sqrt(2.0 / np.pi)) * (x + np.float32(0.044715) * x**3)))
    ),
    "SIGMOID_APPROXIMATION": lambda x: x * special.expit(np.float32(1.702) * x),
}


def build_gelu(ctx: OpContext) -> Kernel:
    """Build a ``gelu`` kernel (``EXACT``, ``TANH_APPROXIMATION`` or ``SIGMOID_APPROXIMATION``)."""
    mode = str(ctx.scalar("mode", "EXACT"))
    if mode not in _GELU:
        raise ctx.invalid(f"mode must be one of {', '.join(_GELU)} (got {mode!r})")
    fn = _GELU[mode]
    return _unary(lambda x: fn(x).astype(x.dtype, copy=False))


#: The parameterless activations: operation type -> function.
SIMPLE: dict[str, _Fn] = {
    "relu": _relu,
    "relu6": lambda x: np.clip(x, 0, 6),
    "sigmoid": _sigmoid,
    "silu": lambda x: x * _sigmoid(x),
    "tanh": np.tanh,
    "softplus": lambda x: np.logaddexp(x, 0).astype(x.dtype, copy=False),
    "softsign": lambda x: x / (1 + np.abs(x)),
}

#: The activations with scalar ``alpha`` (and ``beta``) constants: operation type -> ``f(x, alpha, beta)``.
WITH_ALPHA: dict[str, Callable[[np.ndarray, np.float32, np.float32], np.ndarray]] = {
    "leaky_relu": lambda x, alpha, beta: np.where(x >= 0, x, alpha * x),
    "elu": lambda x, alpha, beta: np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1)),
    "thresholded_relu": lambda x, alpha, beta: np.where(x > alpha, x, np.float32(0)),
    "clamped_relu": lambda x, alpha, beta: np.minimum(np.where(x >= 0, x, alpha * x), beta),
    "linear_activation": lambda x, alpha, beta: alpha * x + beta,
    "scaled_tanh": lambda x, alpha, beta: alpha * np.tanh(beta * x),
    "sigmoid_hard": lambda x, alpha, beta: np.clip(alpha * x + beta, 0, 1),
}


def build_simple(ctx: OpContext) -> Kernel:
    """Build a parameterless activation (one of :data:`SIMPLE`)."""
    return _unary(SIMPLE[ctx.type])


def build_with_alpha(ctx: OpContext) -> Kernel:
    """Build an activation with scalar ``alpha`` (and ``beta``) constants (one of :data:`WITH_ALPHA`)."""
    alpha = np.float32(ctx.scalar("alpha"))
    beta = np.float32(ctx.scalar("beta", 0.0))
    fn = WITH_ALPHA[ctx.type]
    return _unary(lambda x: fn(x, alpha, beta).astype(x.dtype, copy=False))


def build_clip(ctx: OpContext) -> Kernel:
    """Build a ``clip`` kernel: ``min(max(x, alpha), beta)``."""
    alpha, beta = np.float32(ctx.scalar("alpha")), np.float32(ctx.scalar("beta"))
    return _unary(lambda x: np.minimum(np.maximum(x, alpha), beta))


def _per_channel(values: np.ndarray, rank: int) -> np.ndarray:
    """A per-channel vector shaped to broadcast along axis 1 of a rank-``rank`` tensor."""
    return np.asarray(values, dtype=np.float32).reshape((-1,) + (1,) * (rank - 2))


def build_prelu(ctx: OpContext) -> Kernel:
    """Build a ``prelu`` kernel (one alpha per channel, axis 1)."""
    alpha = np.asarray(ctx.const("alpha"), dtype=np.float32).reshape(-1)
    return _unary(lambda x: np.where(x >= 0, x, _per_channel(alpha, x.ndim) * x))


def build_softplus_parametric(ctx: OpContext) -> Kernel:
    """Build a ``softplus_parametric`` kernel: ``alpha * log(1 + exp(beta * x))`` per channel."""
    alpha = np.asarray(ctx.const("alpha"), dtype=np.float32).reshape(-1)
    beta = np.asarray(ctx.const("beta"), dtype=np.float32).reshape(-1)

    def fn(x: np.ndarray) -> np.ndarray:
        a, b = _per_channel(alpha, x.ndim), _per_channel(beta, x.ndim)
        return (a * np.logaddexp(b * x, 0)).astype(x.dtype, copy=False)

    return _unary(fn)


def build_softmax(ctx: OpContext) -> Kernel:
    """Build a ``softmax`` kernel along ``axis`` (max subtracted first)."""
    axis = int(ctx.scalar("axis", -1))

    def softmax(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        (a,) = normalize_axes((axis,), x.ndim)
        e = np.exp(x - x.max(axis=a, keepdims=True))
        e /= e.sum(axis=a, keepdims=True)
        return [e]

    return softmax
