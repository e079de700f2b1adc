"""Everything else: ``cast``, ``shape``, ``fill``, ``range_1d`` and ``classify``.

``classify`` puts its probabilities, ``(B, classes)`` in label order, in the graph; the
translation's ``post`` derives the labels from them (ONNX would need string tensors).
"""

from __future__ import annotations

import numpy as np

from ._op import Op


def translate_cast(op: Op) -> list[str]:
    """cast to the declared dtype."""
    x = op.value("x")
    return [x if op.dtype("x") == op.out_dtype() else op.cast(x, op.out_dtype())]


def translate_shape(op: Op) -> list[str]:
    """shape: the input's shape as an int32 vector."""
    return [op.cast(op.one("Shape", [op.value("x")]), np.int32)]


def _filled(op: Op, shape: str) -> str:
    from onnx import numpy_helper

    value = np.asarray([op.ctx.scalar("value", 0.0)], dtype=np.float32).astype(op.out_dtype())
    return op.one("ConstantOfShape", [shape], value=numpy_helper.from_array(value))


def translate_fill(op: Op) -> list[str]:
    """fill: a tensor of ``shape`` holding ``value``."""
    return [_filled(op, op.value("shape", dtype=np.int64))]


def translate_fill_like(op: Op) -> list[str]:
    """fill_like: ``value`` in the shape of ``ref_tensor``."""
    return [_filled(op, op.one("Shape", [op.value("ref_tensor")]))]


def translate_range_1d(op: Op) -> list[str]:
    """range_1d: ``start, start + step, ...`` below ``end``."""
    dtype = op.out_dtype()
    scalars = [op.one("Reshape", [op.value(p, dtype=dtype), op.ints([])]) for p in ("start", "end", "step")]
    return [op.one("Range", scalars)]


def translate_classify(op: Op) -> list[str]:
    """classify: the probabilities, one row per item (the labels come from ``Translated.post``)."""
    probabilities = op.value("probabilities", dtype=np.float32)
    shape = op.shape("probabilities")
    if shape is not None and len(shape) <= 1:
        flat = op.one("Unsqueeze", [probabilities, op.ints([0])])
    else:
        flat = op.one("Reshape", [probabilities, op.ints([0, -1])])
    return ["", flat]
