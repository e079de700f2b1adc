"""Translators that fit no family: reduce and loadConstant."""

from __future__ import annotations

from collections.abc import Sequence

from ...neuralnetwork._base import LayerContext
from .._graph import Graph
from ._base import Blob, floats, ints, unsupported

_AXES = {0: (-3, -2, -1), 1: (-2, -1), 2: (-3,), 3: (-2,), 4: (-1,)}
_AXIS_NAMES = ("CHW", "HW", "C", "H", "W")
_MODES = ("SUM", "AVG", "PROD", "LOGSUM", "SUMSQUARE", "L1", "L2", "MAX", "MIN", "ARGMAX")
_REDUCERS = {
    "SUM": "ReduceSum",
    "AVG": "ReduceMean",
    "PROD": "ReduceProd",
    "SUMSQUARE": "ReduceSumSquare",
    "L1": "ReduceL1",
    "L2": "ReduceL2",
    "MAX": "ReduceMax",
    "MIN": "ReduceMin",
}


def translate_reduce(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``reduce`` layer; reduced axes stay with size 1 (``LOGSUM`` is
    ``sum(log(x + epsilon))``, ``ARGMAX`` the first maximum's index as a float)."""
    ctx.expect_inputs(1)
    p = ctx.params
    mode, axis_code = int(p.mode), int(p.axis)
    if not 0 <= mode < len(_MODES) or axis_code not in _AXES:
        raise unsupported(ctx, f"reduce mode {mode} over axis {axis_code}")
    axes = _AXES[axis_code]
    name = _MODES[mode]
    if name == "ARGMAX" and len(axes) != 1:
        raise ctx.invalid(f"ARGMAX reduces one axis, not {_AXIS_NAMES[axis_code]}")
    (x,) = inputs
    shape = list(x.shape)
    for axis in axes:
        shape[axis] = 1
    if name == "ARGMAX":
        from onnx import TensorProto

        index = g.one("ArgMax", [x.name], axis=axes[0], keepdims=1, select_last_index=0)
        return [Blob(g.one("Cast", [index], to=TensorProto.FLOAT), tuple(shape))]
    value = x.name
    if name == "LOGSUM":
        value = g.one("Log", [g.one("Add", [value, floats(g, p.epsilon or 1e-6)])])
    reducer = _REDUCERS.get(name, "ReduceSum")
    return [Blob(g.one(reducer, [value, ints(g, axes)], keepdims=1), tuple(shape))]


def translate_load_constant(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``loadConstant`` layer: its ``(C, H, W)`` data as a ``(1, C, H, W)`` constant
    (a batch of one, which broadcasts against any batch)."""
    ctx.expect_inputs(0)
    shape = tuple(int(v) for v in ctx.params.shape)
    if len(shape) != 3:
        raise ctx.invalid(f"shape must be [C, H, W] (got {list(shape)})")
    value = ctx.weight("data", ctx.params.data, shape).reshape(1, *shape)
    return [Blob(g.one("Identity", [floats(g, value)]), shape)]
