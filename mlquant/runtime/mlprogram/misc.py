"""Everything else the converter leaves: ``cast``, ``shape``, ``fill``, ``range_1d`` and ``classify``.

``cast`` hands its input through: the executor casts every result to the dtype the program
declares for it (and rounds fp16). ``classify`` returns the probability vector in label order
(its dictionary output) and the label of the largest probability.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._context import Kernel, OpContext, one


def build_cast(ctx: OpContext) -> Kernel:
    """Build ``cast`` (the executor applies the declared output dtype)."""
    return lambda args: [one(args, "x")]


def build_shape(ctx: OpContext) -> Kernel:
    """Build ``shape``: the input's shape as an int32 vector."""
    return lambda args: [np.asarray(one(args, "x").shape, dtype=np.int32)]


def build_fill(ctx: OpContext) -> Kernel:
    """Build ``fill``: a tensor of ``shape`` holding ``value``."""
    value = ctx.scalar("value", 0.0)

    def fill(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        shape = tuple(int(n) for n in one(args, "shape").reshape(-1))
        return [np.full(shape, value, dtype=np.float32)]

    return fill


def build_range_1d(ctx: OpContext) -> Kernel:
    """Build ``range_1d``: ``start, start + step, ...`` below ``end``."""

    def range_1d(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        start, end, step = (one(args, name).item() for name in ("start", "end", "step"))
        return [np.arange(start, end, step)]

    return range_1d


def class_labels(ctx: OpContext) -> list[str]:
    """The ``classes`` list immediate of a ``classify`` operation, as strings."""
    for name, argument in ctx.proto.inputs.items():
        if name != "classes":
            continue
        for binding in argument.arguments:
            if binding.WhichOneof("binding") != "value":
                raise ctx.unsupported("classes given as a variable")
            immediate = binding.value.immediateValue
            which = immediate.WhichOneof("value")
            if which == "list":
                return [_scalar_text(v) for v in immediate.list.values]
            if which == "tensor":
                tensor = immediate.tensor
                kind = tensor.WhichOneof("value")
                return [str(v) for v in getattr(tensor, kind).values]
    raise ctx.invalid("the 'classes' list is missing")


def _scalar_text(value: object) -> str:
    tensor = value.immediateValue.tensor  # type: ignore[attr-defined]
    kind = tensor.WhichOneof("value")
    return str(getattr(tensor, kind).values[0])


def predicted(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """The label of the largest probability along the last axis (the first of equal ones)."""
    return labels[np.argmax(probabilities, axis=-1)]


def build_classify(ctx: OpContext) -> Kernel:
    """Build ``classify``: (predicted label per item, probabilities ``(B, classes)`` in label order)."""
    labels = np.asarray(class_labels(ctx))

    def classify(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        probabilities = one(args, "probabilities")
        flat = probabilities.reshape(probabilities.shape[0], -1) if probabilities.ndim > 1 else probabilities[None]
        if flat.shape[1] != len(labels):
            msg = f"{len(labels)} class labels for {flat.shape[1]} probabilities"
            raise ctx.invalid(msg)
        return [predicted(labels, flat), flat.astype(np.float32)]

    return classify
