"""Dense kernels: innerProduct (a matrix product per item) and embedding (a table look-up)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...errors import DataError
from ._base import Kernel, LayerContext


def build_inner_product(ctx: LayerContext) -> Kernel:
    """Build an ``innerProduct`` kernel: ``(S, B, C*H*W, 1, 1) -> (S, B, C_out, 1, 1)``."""
    ctx.expect_inputs(1)
    p = ctx.params
    cin, cout = int(p.inputChannels), int(p.outputChannels)
    matrix = np.ascontiguousarray(ctx.weight("weights", p.weights, (cout, cin)).T)
    bias = ctx.weight("bias", p.bias, (cout,)) if p.hasBias else None
    where = f"layer '{ctx.name}' (innerProduct)"

    def inner_product(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        s, b = x.shape[:2]
        if x[0, 0].size != cin:
            msg = f"{where}: expected C*H*W = {cin} input values (got {x.shape[2:]})"
            raise DataError(msg)
        out = np.ascontiguousarray(x).reshape(s * b, cin) @ matrix
        if bias is not None:
            out += bias
        return [out.reshape(s, b, cout, 1, 1)]

    return inner_product


def build_embedding(ctx: LayerContext) -> Kernel:
    """Build an ``embedding`` kernel: ``(S, B, 1, 1, 1)`` indices to ``(S, B, C_out, 1, 1)`` vectors."""
    ctx.expect_inputs(1)
    p = ctx.params
    size, cout = int(p.inputDim), int(p.outputChannels)
    table = np.ascontiguousarray(ctx.weight("weights", p.weights, (cout, size)).T)
    if p.hasBias:
        table = table + ctx.weight("bias", p.bias, (cout,))
    where = f"layer '{ctx.name}' (embedding)"

    def embedding(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        s, b = x.shape[:2]
        if x.shape[2:] != (1, 1, 1):
            msg = f"{where}: expected one index per item, shape (S, B, 1, 1, 1) (got {x.shape})"
            raise DataError(msg)
        indices = x.reshape(-1).astype(np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= size):
            msg = f"{where}: indices must be in [0, {size - 1}] (got {indices.min()}..{indices.max()})"
            raise DataError(msg)
        return [table[indices].reshape(s, b, cout, 1, 1)]

    return embedding
