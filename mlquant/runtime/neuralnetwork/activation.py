"""Activation kernels: every ``ActivationParams`` kind of ``NeuralNetwork.proto``.

Each function keeps the input's memory layout, and works in place when nothing else reads the
input (the executor says so through ``LayerContext.overwrite``), which makes the ReLU after
each convolution one pass over memory with no new array.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._kernels.tiles import relu_inplace
from ._base import Kernel, LayerContext, owned

#: ``(x, out) -> out``: computes an activation of ``x`` into ``out`` (which may be ``x``).
_Function = Callable[[np.ndarray, np.ndarray], np.ndarray]


def build_activation(ctx: LayerContext) -> Kernel:
    """Build an ``activation`` kernel."""
    ctx.expect_inputs(1)
    kind = ctx.params.WhichOneof("NonlinearityType")
    if kind is None:
        raise ctx.invalid("no nonlinearity is set")
    if kind not in _MAKERS:
        raise ctx.unsupported(f"activation {kind} (supported: {', '.join(sorted(_MAKERS))})")
    function = _MAKERS[kind](ctx, getattr(ctx.params, kind))
    overwrite = ctx.overwrite

    def activation(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        return [function(x, owned(x, overwrite))]

    return activation


def _channel_vector(ctx: LayerContext, field: str, wp: Any) -> np.ndarray:
    """A per-channel parameter (length 1 or C) shaped to broadcast over ``(S, B, C, H, W)``."""
    count = len(wp.floatValue) or len(wp.float16Value) // 2
    if not count:
        raise ctx.invalid(f"{field} needs 1 or C float32 or float16 values (got none)")
    return ctx.weight(field, wp, (count,)).reshape(1, 1, -1, 1, 1)


def _check(ctx: LayerContext, values: np.ndarray, x: np.ndarray) -> None:
    if values.shape[2] not in (1, x.shape[2]):
        raise ctx.invalid(f"a per-channel parameter of length {values.shape[2]} for {x.shape[2]} channels")


def _linear(ctx: LayerContext, p: Any) -> _Function:
    alpha, beta = np.float32(p.alpha), np.float32(p.beta)

    def linear(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        np.multiply(x, alpha, out=out)
        return np.add(out, beta, out=out)

    return linear


def _relu(ctx: LayerContext, p: Any) -> _Function:
    def relu(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        if out is not x:
            np.copyto(out, x)
        return relu_inplace(out)

    return relu


def _leaky_relu(ctx: LayerContext, p: Any) -> _Function:
    alpha = np.float32(p.alpha)

    def leaky_relu(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        np.copyto(out, np.where(x >= 0, x, x * alpha))
        return out

    return leaky_relu


def _thresholded_relu(ctx: LayerContext, p: Any) -> _Function:
    alpha = np.float32(p.alpha)

    def thresholded_relu(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        np.copyto(out, np.where(x >= alpha, x, np.float32(0)))
        return out

    return thresholded_relu


def _prelu(ctx: LayerContext, p: Any) -> _Function:
    alpha = _channel_vector(ctx, "alpha", p.alpha)

    def prelu(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        _check(ctx, alpha, x)
        np.copyto(out, np.where(x >= 0, x, x * alpha))
        return out

    return prelu


def _tanh(ctx: LayerContext, p: Any) -> _Function:
    return lambda x, out: np.tanh(x, out=out)


def _scaled_tanh(ctx: LayerContext, p: Any) -> _Function:
    alpha, beta = np.float32(p.alpha), np.float32(p.beta)

    def scaled_tanh(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        np.multiply(x, beta, out=out)
        np.tanh(out, out=out)
        return np.multiply(out, alpha, out=out)

    return scaled_tanh


def _sigmoid(ctx: LayerContext, p: Any) -> _Function:
    def sigmoid(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        tail = np.exp(-np.abs(x))  # exp(-|x|) never overflows
        np.copyto(out, np.where(x >= 0, 1, tail) / (1 + tail))
        return out

    return sigmoid


def _sigmoid_hard(ctx: LayerContext, p: Any) -> _Function:
    alpha, beta = np.float32(p.alpha), np.float32(p.beta)

    def sigmoid_hard(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        np.multiply(x, alpha, out=out)
        np.add(out, beta, out=out)
        return np.clip(out, np.float32(0), np.float32(1), out=out)

    return sigmoid_hard


def _elu(ctx: LayerContext, p: Any) -> _Function:
    alpha = np.float32(p.alpha)

    def elu(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        negative = np.expm1(np.minimum(x, np.float32(0))) * alpha
        np.copyto(out, np.where(x >= 0, x, negative))
        return out

    return elu


def _softsign(ctx: LayerContext, p: Any) -> _Function:
    return lambda x, out: np.divide(x, np.abs(x) + np.float32(1), out=out)


def _softplus(ctx: LayerContext, p: Any) -> _Function:
    return lambda x, out: np.logaddexp(np.float32(0), x, out=out)


def _parametric_softplus(ctx: LayerContext, p: Any) -> _Function:
    alpha = _channel_vector(ctx, "alpha", p.alpha)
    beta = _channel_vector(ctx, "beta", p.beta)

    def parametric_softplus(x: np.ndarray, out: np.ndarray) -> np.ndarray:
        _check(ctx, alpha, x)
        _check(ctx, beta, x)
        np.copyto(out, np.logaddexp(np.float32(0), x * beta) * alpha)
        return out

    return parametric_softplus


_MAKERS: dict[str, Callable[[LayerContext, Any], _Function]] = {
    "linear": _linear,
    "ReLU": _relu,
    "leakyReLU": _leaky_relu,
    "thresholdedReLU": _thresholded_relu,
    "PReLU": _prelu,
    "tanh": _tanh,
    "scaledTanh": _scaled_tanh,
    "sigmoid": _sigmoid,
    "sigmoidHard": _sigmoid_hard,
    "ELU": _elu,
    "softsign": _softsign,
    "softplus": _softplus,
    "parametricSoftplus": _parametric_softplus,
}
