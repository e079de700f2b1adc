"""Element-wise operations: binary arithmetic and comparisons with numpy broadcasting, and the
unary math functions (``exp``, ``sqrt``, ``rsqrt``, ``erf``, ``log``...).

The executor casts each result to the dtype the program declares (comparisons give bool,
``floor_div`` of integers stays integer). ``log``, ``rsqrt`` and ``inverse`` add their
``epsilon`` first, with the op definitions' defaults (1e-45, 1e-12 and 1e-4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy import special

from ._context import Kernel, OpContext, one

BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "real_div": np.true_divide,
    "floor_div": np.floor_divide,
    "mod": np.mod,
    "pow": np.power,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "equal": np.equal,
    "not_equal": np.not_equal,
    "less": np.less,
    "less_equal": np.less_equal,
    "greater": np.greater,
    "greater_equal": np.greater_equal,
    "logical_and": np.logical_and,
    "logical_or": np.logical_or,
    "logical_xor": np.logical_xor,
}

UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "abs": np.abs,
    "acos": np.arccos,
    "asin": np.arcsin,
    "atan": np.arctan,
    "atanh": np.arctanh,
    "ceil": np.ceil,
    "cos": np.cos,
    "cosh": np.cosh,
    "erf": special.erf,
    "exp": np.exp,
    "exp2": np.exp2,
    "floor": np.floor,
    "logical_not": np.logical_not,
    "round": np.round,
    "sign": np.sign,
    "sin": np.sin,
    "sinh": np.sinh,
    "sqrt": np.sqrt,
    "square": np.square,
    "tan": np.tan,
    "identity": lambda x: x,
}

#: The default epsilon of log, rsqrt and inverse (the op definitions').
EPSILON = {"log": 1e-45, "rsqrt": 1e-12, "inverse": 1e-4}


def _float(x: np.ndarray) -> np.ndarray:
    return x if x.dtype.kind == "f" else x.astype(np.float32)


def build_binary(ctx: OpContext) -> Kernel:
    """Build a broadcasting binary kernel (arithmetic, comparison or logical)."""
    fn = BINARY[ctx.type]
    floor_div = ctx.type == "floor_div"

    def binary(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        x, y = one(args, "x"), one(args, "y")
        if floor_div and (x.dtype.kind == "f" or y.dtype.kind == "f"):
            return [np.floor(np.true_divide(x, y))]
        return [fn(x, y)]

    return binary


def build_unary(ctx: OpContext) -> Kernel:
    """Build a unary math kernel."""
    fn = UNARY[ctx.type]

    def unary(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        return [fn(one(args, "x"))]

    return unary


def build_with_epsilon(ctx: OpContext) -> Kernel:
    """Build ``log``, ``rsqrt`` or ``inverse``, which add ``epsilon`` to ``x`` first."""
    epsilon = np.float32(ctx.scalar("epsilon", EPSILON[ctx.type]))
    fn: Callable[[np.ndarray], np.ndarray] = {
        "log": lambda x: np.log(x + epsilon),
        "rsqrt": lambda x: 1.0 / np.sqrt(x + epsilon),
        "inverse": lambda x: 1.0 / (x + epsilon),
    }[ctx.type]

    def with_epsilon(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        return [fn(_float(one(args, "x")))]

    return with_epsilon


def build_threshold(ctx: OpContext) -> Kernel:
    """Build ``threshold``: values below ``alpha`` become ``alpha``."""
    alpha = np.float32(ctx.scalar("alpha"))
    return lambda args: [np.maximum(one(args, "x"), alpha)]


def build_select(ctx: OpContext) -> Kernel:
    """Build ``select``: ``a`` where ``cond`` is true, else ``b`` (broadcasting)."""
    return lambda args: [np.where(one(args, "cond"), one(args, "a"), one(args, "b"))]
