"""Dense products: ``linear``, ``matmul`` (with ``transpose_x``/``transpose_y``), ``einsum`` and
``scaled_dot_product_attention``.

``linear`` multiplies the last axis by the transposed ``(D_out, D_in)`` weights (prepared once)
and adds the bias. ``matmul`` follows numpy's rules (rank-1 operands, broadcast batch axes).
``einsum`` hands its equation to ``numpy.einsum``, which covers every pattern the converter
emits and more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._context import Kernel, OpContext, one


def build_linear(ctx: OpContext) -> Kernel:
    """Build ``linear``: ``x @ weight.T + bias``."""
    if not ctx.is_constant("weight"):
        raise ctx.unsupported("weights computed at run time")
    weight = np.asarray(ctx.const("weight"), dtype=np.float32)
    matrix = np.ascontiguousarray(weight.T)
    bias = ctx.const("bias", None)
    bias = None if bias is None else np.asarray(bias, dtype=np.float32)

    def linear(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x = one(args, "x")
        out = np.matmul(x.reshape(-1, x.shape[-1]), matrix).reshape(*x.shape[:-1], matrix.shape[1])
        if bias is not None:
            out += bias
        return [out]

    return linear


def _transposed(a: np.ndarray) -> np.ndarray:
    return a if a.ndim < 2 else np.swapaxes(a, -1, -2)


def build_matmul(ctx: OpContext) -> Kernel:
    """Build ``matmul``, transposing the last two axes of ``x`` or ``y`` first when asked."""
    transpose_x = bool(ctx.scalar("transpose_x", False))
    transpose_y = bool(ctx.scalar("transpose_y", False))

    def matmul(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x, y = one(args, "x"), one(args, "y")
        if transpose_x:
            x = _transposed(x)
        if transpose_y:
            y = _transposed(y)
        return [np.matmul(x, y)]

    return matmul


def build_einsum(ctx: OpContext) -> Kernel:
    """Build ``einsum`` over the ``values`` list."""
    equation = str(ctx.scalar("equation")).replace(" ", "")

    def einsum(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        return [np.einsum(equation, *args["values"], optimize=True)]

    return einsum


def build_scaled_dot_product_attention(ctx: OpContext) -> Kernel:
    """Build ``scaled_dot_product_attention``: ``softmax(Q @ K.T / sqrt(E) + mask) @ V``.

    A boolean mask keeps the scores where it is true (the others become ``-inf``); a float mask
    is added to the scores.
    """

    def attention(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        q, k, v = one(args, "query"), one(args, "key"), one(args, "value")
        scores = np.matmul(q, np.swapaxes(k, -1, -2)) * np.float32(1.0 / np.sqrt(q.shape[-1]))
        if "attn_mask" in args:
            mask = one(args, "attn_mask")
            scores = np.where(mask, scores, -np.inf) if mask.dtype == np.bool_ else scores + mask
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        return [np.matmul(scores, v)]

    return attention
