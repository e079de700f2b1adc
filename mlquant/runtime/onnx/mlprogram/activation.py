"""Activations as ONNX operators: the ReLU family, sigmoids, gelu (every mode), softplus, softmax...

Each mirrors its reference kernel in :mod:`mlquant.runtime.mlprogram.activation`; alpha and
beta are the operation's constants, per channel (axis 1) for ``prelu`` and ``softplus_parametric``.
"""

from __future__ import annotations

import numpy as np

from ._op import Op

_SIMPLE = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus", "softsign": "Softsign"}


def translate_simple(op: Op) -> list[str]:
    """relu, relu6, sigmoid, silu, tanh, softplus, softsign."""
    x = op.value("x")
    if op.type == "relu6":
        return [op.one("Clip", [x, op.const(0.0), op.const(6.0)])]
    if op.type == "silu":
        return [op.one("Mul", [x, op.one("Sigmoid", [x])])]
    return [op.one(_SIMPLE[op.type], [x])]


def translate_with_alpha(op: Op) -> list[str]:
    """leaky_relu, elu, thresholded_relu, clamped_relu, linear_activation, scaled_tanh, sigmoid_hard."""
    alpha = float(np.float32(op.ctx.scalar("alpha")))
    beta = float(np.float32(op.ctx.scalar("beta", 0.0)))
    x = op.value("x")
    if op.type == "leaky_relu":
        return [op.one("LeakyRelu", [x], alpha=alpha)]
    if op.type == "elu":
        return [op.one("Elu", [x], alpha=alpha)]
    if op.type == "thresholded_relu":
        return [op.one("ThresholdedRelu", [x], alpha=alpha)]
    if op.type == "clamped_relu":
        return [op.one("Min", [op.one("LeakyRelu", [x], alpha=alpha), op.const(beta)])]
    if op.type == "linear_activation":
        return [op.one("Add", [op.one("Mul", [x, op.const(alpha)]), op.const(beta)])]
    if op.type == "scaled_tanh":
        return [op.one("Mul", [op.one("Tanh", [op.one("Mul", [x, op.const(beta)])]), op.const(alpha)])]
    return [op.one("HardSigmoid", [x], alpha=alpha, beta=beta)]  # sigmoid_hard


def translate_clip(op: Op) -> list[str]:
    """clip: ``min(max(x, alpha), beta)``."""
    alpha, beta = np.float32(op.ctx.scalar("alpha")), np.float32(op.ctx.scalar("beta"))
    return [op.one("Clip", [op.value("x"), op.const(alpha), op.const(beta)])]


def translate_gelu(op: Op) -> list[str]:
    """gelu in its three modes."""
    mode = str(op.ctx.scalar("mode", "EXACT"))
    x = op.value("x")
    if mode == "SIGMOID_APPROXIMATION":
        return [op.one("Mul", [x, op.one("Sigmoid", [op.one("Mul", [x, op.const(1.702)])])])]
    if mode == "TANH_APPROXIMATION":
        cube = op.one("Mul", [op.one("Mul", [x, x]), x])
        inner = op.one("Add", [x, op.one("Mul", [cube, op.const(0.044715)])])
        t = op.one("Tanh", [op.one("Mul", [inner, op.const(np.sqrt(2.0 / np.pi))])])
    elif mode == "EXACT":
        t = op.one("Erf", [op.one("Div", [x, op.const(np.sqrt(2.0))])])
    else:
        raise op.ctx.invalid(f"mode must be EXACT, TANH_APPROXIMATION or SIGMOID_APPROXIMATION (got {mode!r})")
    half = op.one("Mul", [x, op.const(0.5)])
    return [op.one("Mul", [half, op.one("Add", [t, op.const(1.0)])])]


def _per_channel(op: Op, param: str) -> str:
    values = np.asarray(op.ctx.const(param), dtype=np.float32).reshape(-1)
    return op.const(values.reshape((-1,) + (1,) * (op.rank("x") - 2)))


def translate_prelu(op: Op) -> list[str]:
    """prelu: one alpha per channel."""
    x = op.value("x")
    scaled = op.one("Mul", [x, _per_channel(op, "alpha")])
    return [op.one("Where", [op.one("GreaterOrEqual", [x, op.const(0.0)]), x, scaled])]


def translate_softplus_parametric(op: Op) -> list[str]:
    """softplus_parametric: ``alpha * softplus(beta * x)`` per channel."""
    inner = op.one("Softplus", [op.one("Mul", [op.value("x"), _per_channel(op, "beta")])])
    return [op.one("Mul", [inner, _per_channel(op, "alpha")])]


def translate_softmax(op: Op) -> list[str]:
    """softmax along ``axis``."""
    return [op.one("Softmax", [op.value("x")], axis=int(op.ctx.scalar("axis", -1)))]
