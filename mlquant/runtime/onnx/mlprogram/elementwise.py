"""Element-wise operations as ONNX operators: arithmetic, comparisons and logic with broadcasting,
and the unary math functions, as :mod:`mlquant.runtime.mlprogram.elementwise` computes them.

Operands of different dtypes meet in a common one (float32 if either is a float), as numpy's
promotion does before the reference casts the result to the declared dtype.
"""

from __future__ import annotations

import numpy as np

from ...mlprogram.elementwise import EPSILON
from ._op import Op

_ARITHMETIC = {"add": "Add", "sub": "Sub", "mul": "Mul", "real_div": "Div", "pow": "Pow", "maximum": "Max", "minimum": "Min"}
_COMPARE = {
    "equal": "Equal",
    "less": "Less",
    "less_equal": "LessOrEqual",
    "greater": "Greater",
    "greater_equal": "GreaterOrEqual",
}
_LOGIC = {"logical_and": "And", "logical_or": "Or", "logical_xor": "Xor"}
_UNARY = {
    "abs": "Abs", "acos": "Acos", "asin": "Asin", "atan": "Atan", "atanh": "Atanh", "ceil": "Ceil", "cos": "Cos",
    "cosh": "Cosh", "erf": "Erf", "exp": "Exp", "floor": "Floor", "round": "Round", "sign": "Sign", "sin": "Sin",
    "sinh": "Sinh", "sqrt": "Sqrt", "tan": "Tan", "identity": "Identity",
}


def _common(op: Op, *params: str) -> np.dtype:
    kinds = {op.dtype(p).kind for p in params}
    if "f" in kinds:
        return np.dtype(np.float32)
    if kinds == {"b"}:
        return np.dtype(np.bool_)
    return np.dtype(np.int32)


def translate_binary(op: Op) -> list[str]:
    """A broadcasting binary operation, in the declared output dtype."""
    if op.type in _LOGIC:
        x, y = op.value("x", dtype=np.bool_), op.value("y", dtype=np.bool_)
        return [op.one(_LOGIC[op.type], [x, y])]
    common = _common(op, "x", "y")
    if common == np.bool_ and op.type not in ("equal", "not_equal"):
        common = np.dtype(np.int32)
    x, y = op.value("x", dtype=common), op.value("y", dtype=common)
    if op.type in _COMPARE:
        return [op.one(_COMPARE[op.type], [x, y])]
    if op.type == "not_equal":
        return [op.one("Not", [op.one("Equal", [x, y])])]
    if op.type == "floor_div":
        out = _floor_div(op, x, y, common)
    elif op.type == "mod":
        out = _mod(op, x, y, common)
    else:
        out = op.one(_ARITHMETIC[op.type], [x, y])
    return [out if common == op.out_dtype() else op.cast(out, op.out_dtype())]


def _floor_div(op: Op, x: str, y: str, common: np.dtype) -> str:
    if common.kind == "f":
        return op.one("Floor", [op.one("Div", [x, y])])
    # numpy floors integer quotients; ONNX truncates: subtract the floored remainder first.
    return op.one("Div", [op.one("Sub", [x, op.one("Mod", [x, y], fmod=0)]), y])


def _mod(op: Op, x: str, y: str, common: np.dtype) -> str:
    if common.kind == "f":  # numpy's remainder takes the divisor's sign: x - floor(x / y) * y
        return op.one("Sub", [x, op.one("Mul", [op.one("Floor", [op.one("Div", [x, y])]), y])])
    return op.one("Mod", [x, y], fmod=0)


def translate_unary(op: Op) -> list[str]:
    """A unary math function."""
    if op.type == "logical_not":
        return [op.one("Not", [op.value("x", dtype=np.bool_)])]
    x = op.value("x")
    if op.type == "square":
        out = op.one("Mul", [x, x])
    elif op.type == "exp2":
        out = op.one("Pow", [op.const(2.0), op.value("x", dtype=np.float32)])
    else:
        if op.type not in ("abs", "sign", "identity") and op.dtype("x").kind != "f":
            x = op.cast(x, np.float32)
        out = op.one(_UNARY[op.type], [x])
    kept = op.dtype("x") if op.type in ("abs", "sign", "identity", "square") else np.dtype(np.float32)
    return [out if kept == op.out_dtype() else op.cast(out, op.out_dtype())]


def translate_with_epsilon(op: Op) -> list[str]:
    """log, rsqrt and inverse, which add ``epsilon`` to ``x`` first."""
    epsilon = np.float32(op.ctx.scalar("epsilon", EPSILON[op.type]))
    shifted = op.one("Add", [op.value("x", dtype=np.float32), op.const(epsilon)])
    if op.type == "log":
        return [op.one("Log", [shifted])]
    if op.type == "rsqrt":
        return [op.one("Reciprocal", [op.one("Sqrt", [shifted])])]
    return [op.one("Reciprocal", [shifted])]


def translate_threshold(op: Op) -> list[str]:
    """threshold: values below ``alpha`` become ``alpha``."""
    return [op.one("Max", [op.value("x"), op.const(np.float32(op.ctx.scalar("alpha")))])]


def translate_select(op: Op) -> list[str]:
    """select: ``a`` where ``cond``, else ``b``."""
    common = _common(op, "a", "b")
    a, b = op.value("a", dtype=common), op.value("b", dtype=common)
    out = op.one("Where", [op.value("cond", dtype=np.bool_), a, b])
    return [out if common == op.out_dtype() else op.cast(out, op.out_dtype())]
