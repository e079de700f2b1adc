"""Element-wise kernels: add, multiply, average, max, min, dot, scale, bias and unary.

Inputs of different shapes broadcast as numpy does, which covers the limited broadcasting of
``NeuralNetwork.proto`` (``[B, 1, 1, 1]``, ``[B, C, 1, 1]``, ``[B, 1, H, W]``...).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...errors import DataError
from ._base import Kernel, LayerContext


def _reduce_inputs(ctx: LayerContext, combine: np.ufunc, one: Callable[[np.ndarray], np.ndarray]) -> Kernel:
    """Combine all inputs with ``combine``; a single input goes through ``one``."""
    ctx.expect_inputs(1, 999)
    where = f"layer '{ctx.name}' ({ctx.type})"

    def kernel(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        if len(inputs) == 1:
            return [one(inputs[0])]
        try:
            return [functools.reduce(combine, inputs[1:], inputs[0])]
        except ValueError:
            shapes = ", ".join(str(x.shape) for x in inputs)
            msg = f"{where}: input shapes {shapes} do not broadcast together"
            raise DataError(msg) from None

    return kernel


def build_add(ctx: LayerContext) -> Kernel:
    """Build an ``add`` kernel: the inputs' sum, or ``x + alpha`` for one input."""
    alpha = np.float32(ctx.params.alpha)
    return _reduce_inputs(ctx, np.add, lambda x: x + alpha)


def build_multiply(ctx: LayerContext) -> Kernel:
    """Build a ``multiply`` kernel: the inputs' product, or ``alpha * x`` for one input."""
    alpha = np.float32(ctx.params.alpha)
    return _reduce_inputs(ctx, np.multiply, lambda x: x * alpha)


def build_average(ctx: LayerContext) -> Kernel:
    """Build an ``average`` kernel: the inputs' element-wise mean."""
    total = _reduce_inputs(ctx, np.add, np.copy)
    count = np.float32(len(ctx.inputs))

    def average(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        out = total(inputs)[0]
        out /= count
        return [out]

    return average


def build_max(ctx: LayerContext) -> Kernel:
    """Build a ``max`` kernel: the inputs' element-wise maximum."""
    return _reduce_inputs(ctx, np.maximum, np.copy)


def build_min(ctx: LayerContext) -> Kernel:
    """Build a ``min`` kernel: the inputs' element-wise minimum."""
    return _reduce_inputs(ctx, np.minimum, np.copy)


def build_dot(ctx: LayerContext) -> Kernel:
    """Build a ``dot`` kernel: the dot product along channels (cosine with ``cosineSimilarity``).

    The result has one channel; height and width, normally 1, are kept. A zero vector has
    cosine similarity 0.
    """
    ctx.expect_inputs(2)
    cosine = bool(ctx.params.cosineSimilarity)

    def dot(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        a, b = inputs
        out = (a * b).sum(axis=2, keepdims=True, dtype=np.float32)
        if cosine:
            norms = np.sqrt(np.square(a).sum(axis=2, keepdims=True) * np.square(b).sum(axis=2, keepdims=True))
            out = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
        return [out]

    return dot


def _parameter(ctx: LayerContext, field: str, wp: Any, shape: Sequence[int]) -> np.ndarray:
    """A scale or bias of shape ``[1]``, ``[C]``, ``[1, H, W]`` or ``[C, H, W]``, ready to broadcast."""
    dims = tuple(int(n) for n in shape) or (1,)
    if len(dims) not in (1, 3):
        raise ctx.invalid(f"{field} shape must be [1], [C], [1, H, W] or [C, H, W] (got {list(dims)})")
    values = ctx.weight(field, wp, dims)
    full = (dims[0], 1, 1) if len(dims) == 1 else dims
    return values.reshape(1, 1, *full)


def build_scale(ctx: LayerContext) -> Kernel:
    """Build a ``scale`` kernel: ``scale * x``, plus a bias when ``hasBias``."""
    ctx.expect_inputs(1)
    p = ctx.params
    scale = _parameter(ctx, "scale", p.scale, p.shapeScale)
    bias = _parameter(ctx, "bias", p.bias, p.shapeBias) if p.hasBias else None

    def scale_kernel(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        out = inputs[0] * scale
        if bias is not None:
            out += bias
        return [out]

    return scale_kernel


def build_bias(ctx: LayerContext) -> Kernel:
    """Build a ``bias`` kernel: ``x + bias``."""
    ctx.expect_inputs(1)
    bias = _parameter(ctx, "bias", ctx.params.bias, ctx.params.shape)
    return lambda inputs: [inputs[0] + bias]


_UNARY = ("SQRT", "RSQRT", "INVERSE", "POWER", "EXP", "LOG", "ABS", "THRESHOLD")


def build_unary(ctx: LayerContext) -> Kernel:
    """Build a ``unary`` kernel: ``f(scale * x + shift)`` for one of the eight functions.

    ``scale`` is 1 and ``epsilon`` 1e-6 when left at 0, as the format says.
    """
    ctx.expect_inputs(1)
    p = ctx.params
    kind = int(p.type)
    if not 0 <= kind < len(_UNARY):
        raise ctx.unsupported(f"unary function {kind} (known: {', '.join(_UNARY)})")
    scale, shift = np.float32(p.scale or 1.0), np.float32(p.shift)
    alpha, epsilon = np.float32(p.alpha), np.float32(p.epsilon or 1e-6)
    functions: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "SQRT": lambda x: np.sqrt(x, out=x),
        "RSQRT": lambda x: np.reciprocal(np.sqrt(np.add(x, epsilon, out=x), out=x), out=x),
        "INVERSE": lambda x: np.reciprocal(np.add(x, epsilon, out=x), out=x),
        "POWER": lambda x: np.power(x, alpha, out=x),
        "EXP": lambda x: np.exp(x, out=x),
        "LOG": lambda x: np.log(x, out=x),
        "ABS": lambda x: np.abs(x, out=x),
        "THRESHOLD": lambda x: np.maximum(x, alpha, out=x),
    }
    function = functions[_UNARY[kind]]

    def unary(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0] * scale
        x += shift
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return [function(x)]

    return unary
