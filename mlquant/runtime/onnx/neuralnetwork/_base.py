"""What every NeuralNetwork layer translator shares: blobs with their shapes, and layout helpers.

The reference runtime holds every blob as ``(S, B, C, H, W)``. The translation keeps a blob
rank 4, ``(B, C, H, W)``, while its sequence length is 1 (the usual case, and what onnxruntime's
convolution and pooling take), and rank 5 only after a layer that gives it a longer sequence
(``sequenceRepeat``, ``concat`` with ``sequenceConcat``, ``permute`` or ``reshape`` moving values
into the sequence axis). Element-wise operators broadcast rank 4 against rank 5 exactly as the
reference runtime's rank-5 arrays do, and channel, height and width are the last three axes
either way, so most translators never look at the rank; those that need rank 4 merge the
sequence into the batch (:func:`as_rank4`).

A translator takes the graph, the layer's :class:`~mlquant.runtime.neuralnetwork._base.LayerContext`
(its parameters and the weight reader the reference runtime uses) and its input blobs, adds
operators, and returns its output blobs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from ....errors import UnsupportedLayerError
from ...neuralnetwork._base import LayerContext
from .._graph import Graph

#: Item dimensions without the batch: ``(C, H, W)``, or ``(S, C, H, W)`` for a rank-5 blob; None
#: where the size is only known at run time.
Shape = tuple[int | None, ...]

#: Where to send users when the translation falls short.
REFERENCE_HINT = "use the reference backend (--backend reference)"


@attrs.frozen
class Blob:
    """One of the network's values in the ONNX graph."""

    name: str
    """The ONNX value holding it."""
    shape: Shape
    """Its item dimensions: ``(C, H, W)`` (a rank-4 ``(B, C, H, W)`` tensor) or ``(S, C, H, W)``
    (a rank-5 ``(S, B, C, H, W)`` tensor)."""

    @property
    def seq(self) -> bool:
        """Whether the tensor is rank 5 (has a sequence axis in front of the batch)."""
        return len(self.shape) == 4

    @property
    def chw(self) -> Shape:
        """Channel, height and width."""
        return self.shape[-3:]


#: A layer translator: ``(graph, layer, input blobs) -> output blobs``.
Translator = Callable[[Graph, LayerContext, Sequence[Blob]], list[Blob]]


def unsupported(ctx: LayerContext, what: str) -> UnsupportedLayerError:
    """The error for a layer (or an option of it) the translation does not cover."""
    return UnsupportedLayerError(
        f"layer '{ctx.name}' ({ctx.type}): the onnxruntime backend cannot translate {what}; {REFERENCE_HINT}"
    )


def floats(g: Graph, value: Any) -> str:
    """A float32 constant."""
    return g.constant(np.asarray(value, dtype=np.float32))


def ints(g: Graph, values: Sequence[int]) -> str:
    """A 1-D int64 constant (shapes, axes, pads)."""
    return g.constant(np.asarray(list(values), dtype=np.int64), hint="i")


def known(*sizes: int | None) -> bool:
    """Whether every size is known when translating."""
    return all(n is not None for n in sizes)


def to_rank5(g: Graph, blob: Blob) -> Blob:
    """The blob as a rank-5 ``(S, B, C, H, W)`` tensor."""
    if blob.seq:
        return blob
    return Blob(g.one("Unsqueeze", [blob.name, ints(g, [0])]), (1, *blob.shape))


def settle(g: Graph, blob: Blob) -> Blob:
    """A rank-5 blob whose sequence length is 1 back to rank 4."""
    if blob.seq and blob.shape[0] == 1:
        return Blob(g.one("Squeeze", [blob.name, ints(g, [0])]), blob.shape[1:])
    return blob


def as_rank4(g: Graph, blob: Blob, compute: Callable[[str], tuple[str, Shape]]) -> Blob:
    """Apply ``compute`` (rank-4 value in, rank-4 value and its ``(C, H, W)`` out) with sequence
    and batch merged, as the reference runtime's kernels treat them alike."""
    if not blob.seq:
        name, chw = compute(blob.name)
        return Blob(name, chw)
    merged = g.one("Reshape", [blob.name, g.one("Concat", [ints(g, [-1]), g.one("Shape", [blob.name], start=2)], axis=0)])
    name, chw = compute(merged)
    front = g.one("Shape", [blob.name], start=0, end=2)
    out = g.one("Reshape", [name, g.one("Concat", [front, g.one("Shape", [name], start=1)], axis=0)])
    return Blob(out, (blob.shape[0], *chw))


def broadcast(shapes: Sequence[Shape]) -> Shape:
    """The item shape numpy broadcasting gives (None where a size is unknown)."""
    rank = max(len(s) for s in shapes)
    out: list[int | None] = []
    for axis in range(-rank, 0):
        sizes = [s[axis] for s in shapes if len(s) >= -axis]
        if any(n is None for n in sizes):
            big = [n for n in sizes if n is not None and n != 1]
            out.append(big[0] if big else None)
        else:
            out.append(max(int(n) for n in sizes if n is not None) if sizes else 1)
    return tuple(out)

