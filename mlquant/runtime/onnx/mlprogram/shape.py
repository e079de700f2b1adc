"""Reorganization as ONNX operators: reshape, transpose, squeeze, expand_dims, concat, stack, split,
tile, flatten2d, depth_to_space, space_to_depth, pixel_shuffle.

In a batched graph (``ctx.batched``) the program's leading 1 stands for the batch, as in the
reference runtime: a reshape's leading 1 keeps the input's axis 0, and constants that lead with
a 1 are repeated for each item before they are concatenated or stacked with the batch.
"""

from __future__ import annotations

import numpy as np

from ...mlprogram._context import normalize_axes
from ._op import Op


def _shape_vector(op: Op, x: str, pieces: list[int | tuple[str, int]]) -> str:
    """An int64 shape from literal sizes and ``("dim", i)`` copies of the input's axis ``i``."""
    if all(isinstance(p, int) for p in pieces):
        return op.ints(pieces)
    if all(isinstance(p, int) or p[1] == i for i, p in enumerate(pieces)) and 0 not in pieces:
        return op.ints([0 if isinstance(p, tuple) else p for p in pieces])  # ONNX's 0 copies the same axis
    parts = []
    for p in pieces:
        if isinstance(p, int):
            parts.append(op.ints([p]))
        else:
            parts.append(op.one("Shape", [x], start=p[1], end=p[1] + 1))
    return op.one("Concat", parts, axis=0)


def translate_reshape(op: Op) -> list[str]:
    """reshape: MIL's ``0`` copies the input's dimension aligned from the right, ``-1`` is inferred."""
    x = op.value("x")
    if not op.ctx.is_constant("shape"):
        return [op.one("Reshape", [x, op.value("shape", dtype=np.int64)])]
    target = list(op.ctx.ints("shape"))
    declared = op.shape("x")
    rank = op.rank("x")
    offset = rank - len(target)
    pieces: list[int | tuple[str, int]] = []
    for i, n in enumerate(target):
        j = i + offset
        if n != 0:
            pieces.append(n)
        elif 0 <= j < rank:
            size = declared[j] if declared is not None else None
            batch_axis = j == 0 and op.ctx.batched
            pieces.append(("dim", j) if size is None or batch_axis else int(size))
        else:
            pieces.append(1)
    if op.ctx.batched and pieces and pieces[0] == 1:
        pieces[0] = ("dim", 0)
    if op.ctx.batched and (not pieces or pieces[0] != ("dim", 0)):
        raise op.unbatchable(f"target shape {target} moves the batch off axis 0")
    return [op.one("Reshape", [x, _shape_vector(op, x, pieces)])]


def translate_transpose(op: Op) -> list[str]:
    """transpose."""
    perm = op.ctx.ints("perm")
    return [op.one("Transpose", [op.value("x")], perm=list(normalize_axes(perm, len(perm))))]


def translate_squeeze(op: Op) -> list[str]:
    """squeeze (every axis of size 1 when ``axes`` is absent)."""
    axes = op.ctx.ints("axes", None)
    if axes is None:
        return [op.one("Squeeze", [op.value("x")])]
    return [op.one("Squeeze", [op.value("x"), op.ints(axes)])]


def translate_expand_dims(op: Op) -> list[str]:
    """expand_dims (axes count in the output's rank, as ONNX's ``Unsqueeze``)."""
    return [op.one("Unsqueeze", [op.value("x"), op.ints(op.ctx.ints("axes"))])]


def _batch_values(op: Op) -> list[str]:
    """The ``values`` arguments, constants leading with a 1 repeated for each item in a batched graph."""
    names = []
    for i in range(op.count("values")):
        name = op.value("values", i, dtype=op.out_dtype())
        shape = op.step.params["values"][i]
        if op.ctx.batched and not isinstance(shape, str) and np.ndim(shape) and np.shape(shape)[0] == 1:
            name = op.one("Expand", [name, op.with_batch(np.shape(shape)[1:])])
        names.append(name)
    return names


def _values_rank(op: Op) -> int:
    first = op.step.params["values"][0]
    if not isinstance(first, str):
        return int(np.ndim(first))
    shape = op.ctx.input_shapes.get("values")
    if shape is None:
        out = op.ctx.outputs[0].shape
        if out is None:
            raise op.ctx.unsupported("values of unknown rank")
        return len(out) - (1 if op.type == "stack" else 0)
    return len(shape)


def translate_concat(op: Op) -> list[str]:
    """concat (``interleave`` alternates equal slices of the inputs)."""
    values = _batch_values(op)
    rank = _values_rank(op)
    (axis,) = normalize_axes((int(op.ctx.scalar("axis")),), rank)
    if not bool(op.ctx.scalar("interleave", False)):
        return [op.one("Concat", values, axis=axis)]
    stacked = op.one("Concat", [op.one("Unsqueeze", [v, op.ints([axis + 1])]) for v in values], axis=axis + 1)
    scale = np.ones(rank, dtype=np.int64)
    scale[axis] = len(values)
    shape = op.one("Mul", [op.one("Shape", [values[0]]), op.ints(scale)])
    return [op.one("Reshape", [stacked, shape])]


def translate_stack(op: Op) -> list[str]:
    """stack along a new ``axis``."""
    values = _batch_values(op)
    (axis,) = normalize_axes((int(op.ctx.scalar("axis")),), _values_rank(op) + 1)
    return [op.one("Concat", [op.one("Unsqueeze", [v, op.ints([axis])]) for v in values], axis=axis)]


def translate_split(op: Op) -> list[str]:
    """split into ``num_splits`` equal parts or parts of ``split_sizes``."""
    axis = int(op.ctx.scalar("axis"))
    sizes = op.ctx.ints("split_sizes", None)
    count = len(op.ctx.outputs)
    if sizes is not None:
        return op.g.node("Split", [op.value("x"), op.ints(sizes)], count, axis=axis)
    return op.g.node("Split", [op.value("x")], count, axis=axis, num_outputs=count)


def translate_tile(op: Op) -> list[str]:
    """tile."""
    return [op.one("Tile", [op.value("x"), op.ints(op.ctx.ints("reps"))])]


def translate_flatten2d(op: Op) -> list[str]:
    """flatten2d: the axes before ``axis`` become one, those after another."""
    return [op.one("Flatten", [op.value("x")], axis=int(op.ctx.scalar("axis", 1)))]


def translate_depth_to_space(op: Op) -> list[str]:
    """depth_to_space (DCR order) or pixel_shuffle (CRD order)."""
    if op.type == "pixel_shuffle":
        return [op.one("DepthToSpace", [op.value("x")], blocksize=int(op.ctx.scalar("upscale_factor")), mode="CRD")]
    return [op.one("DepthToSpace", [op.value("x")], blocksize=int(op.ctx.scalar("block_size")), mode="DCR")]


def translate_space_to_depth(op: Op) -> list[str]:
    """space_to_depth."""
    return [op.one("SpaceToDepth", [op.value("x")], blocksize=int(op.ctx.scalar("block_size")))]
