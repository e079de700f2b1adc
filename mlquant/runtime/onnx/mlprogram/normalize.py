"""Normalization as ONNX operators: batch, instance, layer, l2 and local response norm.

The statistics are computed as the reference does (:mod:`mlquant.runtime.mlprogram.normalize`):
the mean, then the population variance of the centred values, ``1 / sqrt(variance + epsilon)``.
"""

from __future__ import annotations

import numpy as np

from ...mlprogram._context import normalize_axes
from ...mlprogram.normalize import batch_norm_affine
from ._op import Op


def _channels(op: Op, values: np.ndarray, rank: int) -> str:
    return op.const(np.asarray(values, dtype=np.float32).reshape((-1,) + (1,) * (rank - 2)))


def translate_batch_norm(op: Op) -> list[str]:
    """batch_norm: one scale and shift per channel."""
    scale, shift = batch_norm_affine(op.ctx)
    rank = op.rank("x")
    y = op.one("Mul", [op.value("x"), _channels(op, scale, rank)])
    return [op.one("Add", [y, _channels(op, shift, rank)])]


def _normalized(op: Op, x: str, axes: list[int], epsilon: float) -> str:
    keep = {"keepdims": 1}
    centred = op.one("Sub", [x, op.one("ReduceMean", [x, op.ints(axes)], **keep)])
    variance = op.one("ReduceMean", [op.one("Mul", [centred, centred]), op.ints(axes)], **keep)
    shifted = op.one("Add", [variance, op.const(np.float32(epsilon))])
    return op.one("Mul", [centred, op.one("Reciprocal", [op.one("Sqrt", [shifted])])])


def _vector(op: Op, param: str) -> np.ndarray | None:
    value = op.ctx.const(param, None)
    return None if value is None else np.asarray(value, dtype=np.float32)


def translate_layer_norm(op: Op) -> list[str]:
    """layer_norm over ``axes`` (every axis when absent), gamma and beta of their shape."""
    rank = op.rank("x")
    axes = op.ctx.ints("axes", None)
    normalized = normalize_axes(axes if axes is not None else range(rank), rank)
    y = _normalized(op, op.value("x"), list(normalized), float(np.float32(op.ctx.scalar("epsilon", 1e-5))))
    gamma, beta = _vector(op, "gamma"), _vector(op, "beta")
    if gamma is not None or beta is not None:
        declared = op.shape("x") or ()
        shape = [declared[i] if i in normalized else 1 for i in range(rank)]
        if None in shape:
            raise op.ctx.unsupported("gamma or beta over an axis of unknown size")
        if gamma is not None:
            y = op.one("Mul", [y, op.const(gamma.reshape(shape))])
        if beta is not None:
            y = op.one("Add", [y, op.const(beta.reshape(shape))])
    return [y]


def translate_instance_norm(op: Op) -> list[str]:
    """instance_norm: each item's channel over its spatial axes."""
    rank = op.rank("x")
    y = _normalized(op, op.value("x"), list(range(2, rank)), float(np.float32(op.ctx.scalar("epsilon", 1e-5))))
    gamma, beta = _vector(op, "gamma"), _vector(op, "beta")
    if gamma is not None:
        y = op.one("Mul", [y, _channels(op, gamma, rank)])
    if beta is not None:
        y = op.one("Add", [y, _channels(op, beta, rank)])
    return [y]


def translate_l2_norm(op: Op) -> list[str]:
    """l2_norm over the last three axes."""
    rank = op.rank("x")
    x = op.value("x")
    total = op.one("ReduceSumSquare", [x, op.ints(range(max(0, rank - 3), rank))], keepdims=1)
    shifted = op.one("Add", [total, op.const(np.float32(op.ctx.scalar("epsilon", 1e-6)))])
    return [op.one("Div", [x, op.one("Sqrt", [shifted])])]


def translate_local_response_norm(op: Op) -> list[str]:
    """local_response_norm across ``size`` channels (ONNX ``LRN`` takes the same window)."""
    return [
        op.one(
            "LRN",
            [op.value("x")],
            size=int(op.ctx.scalar("size")),
            alpha=float(np.float32(op.ctx.scalar("alpha", 1e-4))),
            beta=float(np.float32(op.ctx.scalar("beta", 0.75))),
            bias=float(np.float32(op.ctx.scalar("k", 1.0))),
        )
    ]
