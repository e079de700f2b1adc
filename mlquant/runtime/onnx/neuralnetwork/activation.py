"""Activation translators: every ``ActivationParams`` kind the reference runtime computes.

Each one is the reference runtime's formula: an ONNX operator where its definition is the same
to the last value (``Relu``, ``LeakyRelu``, ``PRelu``, ``Tanh``...), composed from primitives
where it differs (``thresholdedReLU`` keeps ``x == alpha``, ONNX's ``ThresholdedRelu`` does not;
onnxruntime's ``Sigmoid`` is an approximation that loses the tails).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ...neuralnetwork._base import LayerContext
from .._graph import Graph
from ._base import Blob, floats, unsupported

#: ``(graph, layer, parameters, x) -> y``.
_Maker = Callable[[Graph, LayerContext, Any, str], str]


def translate_activation(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate an ``activation`` layer."""
    ctx.expect_inputs(1)
    kind = ctx.params.WhichOneof("NonlinearityType")
    if kind is None:
        raise ctx.invalid("no nonlinearity is set")
    if kind not in _MAKERS:
        raise unsupported(ctx, f"activation {kind}")
    (x,) = inputs
    params = getattr(ctx.params, kind)
    if kind in ("PReLU", "parametricSoftplus"):
        _check_channels(ctx, params, x)
    return [Blob(_MAKERS[kind](g, ctx, params, x.name), x.shape)]


def _channel_vector(g: Graph, ctx: LayerContext, field: str, wp: Any) -> str:
    """A per-channel parameter (length 1 or C) shaped ``(n, 1, 1)`` to broadcast over channels."""
    count = len(wp.floatValue) or len(wp.float16Value) // 2
    if not count:
        raise ctx.invalid(f"{field} needs 1 or C float32 or float16 values (got none)")
    return floats(g, ctx.weight(field, wp, (count,)).reshape(-1, 1, 1))


def _check_channels(ctx: LayerContext, params: Any, x: Blob) -> None:
    channels = x.chw[0]
    for field in ("alpha", "beta"):
        wp = getattr(params, field, None)
        if wp is None:
            continue
        count = len(wp.floatValue) or len(wp.float16Value) // 2
        if channels is not None and count not in (1, channels):
            raise ctx.invalid(f"a per-channel parameter of length {count} for {channels} channels")


def _linear(g: Graph, ctx: LayerContext, p: Any, x: str) -> str:
    return g.one("Add", [g.one("Mul", [x, floats(g, p.alpha)]), floats(g, p.beta)])


def _relu(g: Graph, ctx: LayerContext, p: Any, x: str) -> str:
    return g.one("Relu", [x])


def _leaky_relu(g: Graph, ctx: LayerContext, p: Any, x: str) -> str:
    return g.one("LeakyRelu", [x], alpha=float(p.alpha))


def _thresholded_relu(g: Graph, ctx: LayerContext, p: Any, x: str) -> str:
    kept = g.one("GreaterOrEqual", [x, floats(g, p.alpha)])
    return g.one("Where", [kept, x, floats(g, 0.0)])


def _prelu(g: Graph, ctx: LayerContext, p: Any, x: str) -> str:
    return g.one("PRelu", [x, _channel_vector(g, ctx, "alpha", p.alpha)])


def _tanh(g: Graph, ctx: LayerContext, p: Any, x: str) -> str:
    return g.one("Tanh", [x])


def _scaled_tanh(g: Graph, ctx: LayerContext, p: Any, x: str) -> str:
    inner = g.one("Tanh", [g.one("Mul", [x, floats(g, p.beta)])])
    return g.one("Mul", [inner, floats(g, p.alpha)])


def _sigmoid(g: Graph, ctx: LayerContext, p: Any, x: str) -> str:
    """``where(x >= 0, 1, t) / (1 + t)`` with ``t = exp(-|x|)``: exact in the tails, where
    onnxruntime's ``Sigmoid`` flushes tiny values to 0."""
    tail = g.one("Exp", [g.one("Neg", [g.one("Abs", [x])])])
    top = g.one("Where", [g.one("GreaterOrEqual", [x, floats(g, 0.0)]), floats(g, 1.0), tail])
    return g.one("Div", [top, g.one("Add", [tail, floats(g, 1.0)])])


def _sigmoid_hard(g: Graph, ctx: LayerContext, p: Any, x: str) -> str:
    line = g.one("Add", [g.one("Mul", [x, floats(g, p.alpha)]), floats(g, p.beta)])
    return g.one("Clip", [line, floats(g, 0.0), floats(g, 1.0)])


def _elu(g: Graph, ctx: LayerContext, p: Any, x: str) -> str:
    return g.one("Elu", [x], alpha=float(p.alpha))


def _softsign(g: Graph, ctx: LayerContext, p: Any, x: str) -> str:
    return g.one("Div", [x, g.one("Add", [g.one("Abs", [x]), floats(g, 1.0)])])


def _softplus(g: Graph, ctx: LayerContext, p: Any, x: str) -> str:
    return g.one("Softplus", [x])


def _parametric_softplus(g: Graph, ctx: LayerContext, p: Any, x: str) -> str:
    alpha = _channel_vector(g, ctx, "alpha", p.alpha)
    beta = _channel_vector(g, ctx, "beta", p.beta)
    return g.one("Mul", [g.one("Softplus", [g.one("Mul", [x, beta])]), alpha])


_MAKERS: dict[str, _Maker] = {
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
