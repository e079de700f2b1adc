"""Dense products as ONNX operators: ``linear``, ``matmul``, ``einsum`` and ``scaled_dot_product_attention``."""

from __future__ import annotations

import numpy as np

from ._op import Op


def translate_linear(op: Op) -> list[str]:
    """linear: ``x @ weight.T + bias``."""
    if not op.ctx.is_constant("weight"):
        raise op.ctx.unsupported("weights computed at run time")
    weight = np.asarray(op.ctx.const("weight"), dtype=np.float32)
    y = op.one("MatMul", [op.value("x"), op.const(np.ascontiguousarray(weight.T))])
    bias = op.ctx.const("bias", None)
    if bias is not None:
        y = op.one("Add", [y, op.const(np.asarray(bias, dtype=np.float32))])
    return [y]


def _swap_last(op: Op, value: str, rank: int) -> str:
    if rank < 2:
        return value
    perm = [*range(rank - 2), rank - 1, rank - 2]
    return op.one("Transpose", [value], perm=perm)


def translate_matmul(op: Op) -> list[str]:
    """matmul with ``transpose_x``/``transpose_y``."""
    x, y = op.value("x"), op.value("y")
    if bool(op.ctx.scalar("transpose_x", False)):
        x = _swap_last(op, x, op.rank("x"))
    if bool(op.ctx.scalar("transpose_y", False)):
        y = _swap_last(op, y, op.rank("y"))
    return [op.one("MatMul", [x, y])]


def translate_einsum(op: Op) -> list[str]:
    """einsum over the ``values`` list."""
    equation = str(op.ctx.scalar("equation")).replace(" ", "")
    return [op.one("Einsum", op.values("values"), equation=equation)]


def translate_scaled_dot_product_attention(op: Op) -> list[str]:
    """scaled_dot_product_attention: ``softmax(Q @ K.T / sqrt(E) + mask) @ V`` (a boolean mask keeps scores)."""
    q, k, v = op.value("query"), op.value("key"), op.value("value")
    (embed,) = op.sizes("query", (-1,))
    scores = op.one("MatMul", [q, _swap_last(op, k, op.rank("key"))])
    scores = op.one("Mul", [scores, op.const(np.float32(1.0 / np.sqrt(embed)))])
    if op.has("attn_mask"):
        mask = op.value("attn_mask")
        if op.dtype("attn_mask") == np.bool_:
            scores = op.one("Where", [mask, scores, op.const(-np.inf)])
        else:
            scores = op.one("Add", [scores, mask])
    return [op.one("MatMul", [op.one("Softmax", [scores], axis=-1), v])]
