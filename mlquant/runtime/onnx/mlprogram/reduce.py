"""Reductions as ONNX operators: ``reduce_*`` over ``axes`` (all when absent) and argmax/argmin."""

from __future__ import annotations

import numpy as np

from ._op import Op

_REDUCE = {
    "reduce_mean": "ReduceMean",
    "reduce_sum": "ReduceSum",
    "reduce_max": "ReduceMax",
    "reduce_min": "ReduceMin",
    "reduce_prod": "ReduceProd",
    "reduce_l1_norm": "ReduceL1",
    "reduce_l2_norm": "ReduceL2",
    "reduce_log_sum": "ReduceLogSum",
    "reduce_log_sum_exp": "ReduceLogSumExp",
    "reduce_sum_square": "ReduceSumSquare",
}


def translate_reduce(op: Op) -> list[str]:
    """A ``reduce_*`` operation (not argmax/argmin)."""
    axes = op.ctx.ints("axes", None)
    inputs = [op.value("x")] if axes is None else [op.value("x"), op.ints(axes)]
    keep = int(bool(op.ctx.scalar("keep_dims", False)))
    y = op.one(_REDUCE[op.type], inputs, keepdims=keep)
    return [y if op.dtype("x") == op.out_dtype() else op.cast(y, op.out_dtype())]


def translate_arg_reduce(op: Op) -> list[str]:
    """reduce_argmax, reduce_argmin (int32 indices, first of equal values)."""
    name = "ArgMax" if op.type == "reduce_argmax" else "ArgMin"
    keep = int(bool(op.ctx.scalar("keep_dims", False)))
    y = op.one(name, [op.value("x")], axis=int(op.ctx.scalar("axis", -1)), keepdims=keep)
    return [op.cast(y, np.int32)]
