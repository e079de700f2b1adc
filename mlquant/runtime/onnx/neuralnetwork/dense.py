"""Dense translators: innerProduct (``Gemm`` per item) and embedding (``Gather`` from the table)."""

from __future__ import annotations

from collections.abc import Sequence

from ....errors import DataError
from ...neuralnetwork._base import LayerContext
from .._graph import Graph
from ._base import Blob, floats, ints, known


def translate_inner_product(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate an ``innerProduct`` layer: each item's C*H*W values times the weight matrix, plus the bias."""
    ctx.expect_inputs(1)
    p = ctx.params
    cin, cout = int(p.inputChannels), int(p.outputChannels)
    (x,) = inputs
    c, h, w = x.chw
    if known(c, h, w) and c * h * w != cin:  # type: ignore[operator]
        msg = f"layer '{ctx.name}' (innerProduct): expected C*H*W = {cin} input values (got {x.chw})"
        raise DataError(msg)
    operands = [floats(g, ctx.weight("weights", p.weights, (cout, cin)))]
    if p.hasBias:
        operands.append(floats(g, ctx.weight("bias", p.bias, (cout,))))
    rows = g.one("Reshape", [x.name, ints(g, [-1, cin])])
    out = g.one("Gemm", [rows, *operands], transB=1)
    if x.seq:
        shape = g.one("Concat", [g.one("Shape", [x.name], start=0, end=2), ints(g, [cout, 1, 1])], axis=0)
        return [Blob(g.one("Reshape", [out, shape]), (x.shape[0], cout, 1, 1))]
    return [Blob(g.one("Unsqueeze", [out, ints(g, [2, 3])]), (cout, 1, 1))]


def translate_embedding(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate an ``embedding`` layer: one index per item to a row of the (biased) table."""
    ctx.expect_inputs(1)
    p = ctx.params
    size, cout = int(p.inputDim), int(p.outputChannels)
    table = ctx.weight("weights", p.weights, (cout, size)).T
    if p.hasBias:
        table = table + ctx.weight("bias", p.bias, (cout,))
    (x,) = inputs
    if x.chw != (1, 1, 1):
        msg = f"layer '{ctx.name}' (embedding): expected one index per item, shape (1, 1, 1) (got {x.chw})"
        raise DataError(msg)
    from onnx import TensorProto

    indices = g.one("Cast", [g.one("Squeeze", [x.name, ints(g, [-3, -2, -1])])], to=TensorProto.INT64)
    rows = g.one("Gather", [floats(g, table), indices], axis=0)
    return [Blob(g.one("Unsqueeze", [rows, ints(g, [-1, -2])]), (*x.shape[:-3], cout, 1, 1))]
