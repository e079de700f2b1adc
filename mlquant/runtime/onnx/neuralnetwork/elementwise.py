"""Element-wise translators: add, multiply, average, max, min, dot, scale, bias and unary.

Several inputs are combined left to right with binary operators, as the reference runtime's
``functools.reduce`` does, and broadcast as numpy does (rank-4 and rank-5 blobs included).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...neuralnetwork._base import LayerContext
from .._graph import Graph
from ._base import Blob, broadcast, floats, ints, unsupported


def _combine(g: Graph, ctx: LayerContext, inputs: Sequence[Blob], op: str) -> Blob:
    """All inputs combined left to right with ``op``."""
    ctx.expect_inputs(1, 999)
    name = inputs[0].name
    for other in inputs[1:]:
        name = g.one(op, [name, other.name])
    return Blob(name, broadcast([x.shape for x in inputs]))


def translate_add(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate an ``add`` layer: the inputs' sum, or ``x + alpha`` for one input."""
    if len(inputs) == 1:
        return [Blob(g.one("Add", [inputs[0].name, floats(g, ctx.params.alpha)]), inputs[0].shape)]
    return [_combine(g, ctx, inputs, "Add")]


def translate_multiply(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``multiply`` layer: the inputs' product, or ``alpha * x`` for one input."""
    if len(inputs) == 1:
        return [Blob(g.one("Mul", [inputs[0].name, floats(g, ctx.params.alpha)]), inputs[0].shape)]
    return [_combine(g, ctx, inputs, "Mul")]


def translate_average(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate an ``average`` layer: the inputs' sum divided by their number."""
    total = _combine(g, ctx, inputs, "Add")
    return [Blob(g.one("Div", [total.name, floats(g, len(inputs))]), total.shape)]


def translate_max(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``max`` layer: the inputs' element-wise maximum."""
    return [_combine(g, ctx, inputs, "Max")]


def translate_min(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``min`` layer: the inputs' element-wise minimum."""
    return [_combine(g, ctx, inputs, "Min")]


def translate_dot(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``dot`` layer: the sum over channels of ``a * b`` (a cosine with
    ``cosineSimilarity``, 0 for a zero vector)."""
    ctx.expect_inputs(2)
    a, b = inputs
    channel = ints(g, [-3])
    shape = broadcast([a.shape, b.shape])
    shape = (*shape[:-3], 1, *shape[-2:])
    out = g.one("ReduceSum", [g.one("Mul", [a.name, b.name]), channel], keepdims=1)
    if ctx.params.cosineSimilarity:
        norms = g.one(
            "Sqrt",
            [g.one("Mul", [g.one("ReduceSumSquare", [a.name, channel], keepdims=1),
                           g.one("ReduceSumSquare", [b.name, channel], keepdims=1)])],
        )
        positive = g.one("Greater", [norms, floats(g, 0.0)])
        out = g.one("Where", [positive, g.one("Div", [out, norms]), floats(g, 0.0)])
    return [Blob(out, shape)]


def _parameter(g: Graph, ctx: LayerContext, field: str, wp: Any, shape: Sequence[int]) -> tuple[str, tuple[int, ...]]:
    """A scale or bias of shape ``[1]``, ``[C]``, ``[1, H, W]`` or ``[C, H, W]``, as a ``(C, H, W)``-broadcastable constant."""
    dims = tuple(int(n) for n in shape) or (1,)
    if len(dims) not in (1, 3):
        raise ctx.invalid(f"{field} shape must be [1], [C], [1, H, W] or [C, H, W] (got {list(dims)})")
    full = (dims[0], 1, 1) if len(dims) == 1 else dims
    return floats(g, ctx.weight(field, wp, dims).reshape(full)), full


def translate_scale(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``scale`` layer: ``scale * x``, plus a bias when ``hasBias``."""
    ctx.expect_inputs(1)
    p = ctx.params
    (x,) = inputs
    scale, full = _parameter(g, ctx, "scale", p.scale, p.shapeScale)
    out, shape = g.one("Mul", [x.name, scale]), broadcast([x.shape, full])
    if p.hasBias:
        bias, full = _parameter(g, ctx, "bias", p.bias, p.shapeBias)
        out, shape = g.one("Add", [out, bias]), broadcast([shape, full])
    return [Blob(out, shape)]


def translate_bias(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``bias`` layer: ``x + bias``."""
    ctx.expect_inputs(1)
    (x,) = inputs
    bias, full = _parameter(g, ctx, "bias", ctx.params.bias, ctx.params.shape)
    return [Blob(g.one("Add", [x.name, bias]), broadcast([x.shape, full]))]


_UNARY = ("SQRT", "RSQRT", "INVERSE", "POWER", "EXP", "LOG", "ABS", "THRESHOLD")


def translate_unary(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``unary`` layer: ``f(scale * x + shift)`` (``scale`` 1 and ``epsilon`` 1e-6 when 0)."""
    ctx.expect_inputs(1)
    p = ctx.params
    kind = int(p.type)
    if not 0 <= kind < len(_UNARY):
        raise unsupported(ctx, f"unary function {kind}")
    (x,) = inputs
    scale, shift = np.float32(p.scale or 1.0), np.float32(p.shift)
    alpha, epsilon = floats(g, p.alpha), floats(g, np.float32(p.epsilon or 1e-6))
    y = x.name
    if scale != 1:
        y = g.one("Mul", [y, floats(g, scale)])
    if shift != 0:
        y = g.one("Add", [y, floats(g, shift)])
    name = _UNARY[kind]
    if name == "SQRT":
        y = g.one("Sqrt", [y])
    elif name == "RSQRT":
        y = g.one("Reciprocal", [g.one("Sqrt", [g.one("Add", [y, epsilon])])])
    elif name == "INVERSE":
        y = g.one("Reciprocal", [g.one("Add", [y, epsilon])])
    elif name == "POWER":
        y = g.one("Pow", [y, alpha])
    elif name == "EXP":
        y = g.one("Exp", [y])
    elif name == "LOG":
        y = g.one("Log", [y])
    elif name == "ABS":
        y = g.one("Abs", [y])
    else:
        y = g.one("Max", [y, alpha])
    return [Blob(y, x.shape)]
