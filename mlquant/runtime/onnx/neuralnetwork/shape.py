"""Data reorganization translators: concat, split, flatten, reshape, permute, slice,
sequenceRepeat and reorganizeData.

These are the layers that can move values into or out of the sequence axis: their results are
rank 5 when the sequence grows past 1 and rank 4 again when it is back to 1 (see :mod:`._base`).
"""

from __future__ import annotations

from collections.abc import Sequence

from ....errors import DataError
from ...neuralnetwork._base import LayerContext
from ...neuralnetwork.shape import channel_order, permute_order, reshape_target
from .._graph import Graph
from ._base import Blob, Shape, as_rank4, ints, known, settle, to_rank5, unsupported


def _sum(sizes: Sequence[int | None]) -> int | None:
    known_sizes = [n for n in sizes if n is not None]
    return sum(known_sizes) if len(known_sizes) == len(sizes) else None


def translate_concat(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``concat`` layer: along channels, or along the sequence axis (``sequenceConcat``)."""
    ctx.expect_inputs(1, 999)
    if ctx.params.sequenceConcat:
        parts = [to_rank5(g, x) for x in inputs]
        shape = (_sum([x.shape[0] for x in parts]), *parts[0].shape[1:])
        return [settle(g, Blob(g.one("Concat", [x.name for x in parts], axis=0), shape))]
    parts = [to_rank5(g, x) for x in inputs] if any(x.seq for x in inputs) else list(inputs)
    first = parts[0].shape
    shape = (*first[:-3], _sum([x.chw[0] for x in parts]), *first[-2:])
    axis = len(first) - 2  # the channel axis, counted from the front: onnxruntime keeps its blocked
    # convolution layout through a Concat only with a non-negative axis
    return [Blob(g.one("Concat", [x.name for x in parts], axis=axis), shape)]


def translate_split(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``split`` layer: equal parts along channels, one per output."""
    ctx.expect_inputs(1)
    parts = len(ctx.outputs)
    declared = int(ctx.params.nOutputs)
    if declared and declared != parts:
        raise ctx.invalid(f"nOutputs is {declared} but the layer has {parts} outputs")
    (x,) = inputs
    c = x.chw[0]
    if c is None:
        raise unsupported(ctx, "a split of an unknown number of channels")
    if c % parts:
        msg = f"layer '{ctx.name}' (split): {c} channels do not split into {parts} equal parts"
        raise DataError(msg)
    names = g.node("Split", [x.name, ints(g, [c // parts] * parts)], parts, axis=len(x.shape) - 2)
    return [Blob(name, (*x.shape[:-3], c // parts, *x.shape[-2:])) for name in names]


def _per_item(g: Graph, x: Blob) -> tuple[str, int | None]:
    """The blob as ``(B, S, values)``-ordered values: its rank-4 or rank-5 tensor with the batch first."""
    if not x.seq:
        return x.name, 1
    return g.one("Transpose", [x.name], perm=[1, 0, 2, 3, 4]), x.shape[0]


def _in_hwc_order(g: Graph, x: Blob) -> str:
    """The blob with its channel axis moved last: values in H, W, C order (``CHANNEL_LAST``)."""
    return g.one("Transpose", [x.name], perm=[0, 1, 3, 4, 2] if x.seq else [0, 2, 3, 1])


def translate_flatten(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``flatten`` layer: ``(C, H, W) -> (C*H*W, 1, 1)`` in C, H, W or H, W, C order."""
    channel_last = channel_order(ctx)
    (x,) = inputs
    value = _in_hwc_order(g, x) if channel_last else x.name
    c, h, w = x.chw
    size = c * h * w if known(c, h, w) else None  # type: ignore[operator]
    target = [0, 0, -1, 1, 1] if x.seq else [0, -1, 1, 1]
    return [Blob(g.one("Reshape", [value, ints(g, target)]), (*x.shape[:-3], size, 1, 1))]


def translate_reshape(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``reshape`` layer: each batch item's values, in C, H, W order (or H, W, C
    order for CHANNEL_LAST), into the target (a 4-value target sets the sequence length)."""
    target, channel_last = reshape_target(ctx)
    (x,) = inputs
    value = _in_hwc_order(g, x) if channel_last else x.name
    if x.seq:
        value = g.one("Transpose", [value], perm=[1, 0, 2, 3, 4])  # (B, S, ...): each item's values together
    seq = x.shape[0] if len(target) == 3 and x.seq else (1 if len(target) == 3 else target[0])
    if seq is None:
        raise unsupported(ctx, "a reshape of an unknown sequence length")
    c, h, w = target[-3:]
    chw = (h, w, c) if channel_last else (c, h, w)
    sizes = [n for n in x.shape if n is not None]
    if len(sizes) == len(x.shape) and seq * c * h * w != _product(sizes):
        msg = f"layer '{ctx.name}' (reshape): cannot reshape {x.shape} values per batch item to {target}"
        raise DataError(msg)
    value = g.one("Reshape", [value, ints(g, [-1, seq, *chw])])
    value = g.one("Transpose", [value], perm=[1, 0, 2, 3, 4])
    if channel_last:
        value = g.one("Transpose", [value], perm=[0, 1, 4, 2, 3])
    return [settle(g, Blob(value, (seq, c, h, w)))]


def _product(sizes: Sequence[int | None]) -> int:
    out = 1
    for n in sizes:
        out *= int(n)  # type: ignore[arg-type]
    return out


def translate_permute(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``permute`` layer: reorders (Sequence, C, H, W); the batch axis stays."""
    axes, order = permute_order(ctx)
    x = to_rank5(g, inputs[0])
    shape: Shape = tuple(x.shape[a] for a in axes)
    return [settle(g, Blob(g.one("Transpose", [x.name], perm=list(order)), shape))]


def translate_slice(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``slice`` layer along channel, height or width (Python slice semantics)."""
    ctx.expect_inputs(1)
    p = ctx.params
    axis = {0: -3, 1: -2, 2: -1}.get(int(p.axis))
    if axis is None:
        raise unsupported(ctx, f"slice axis {int(p.axis)}")
    step = int(p.stride) or 1
    (x,) = inputs
    start, end = int(p.startIndex), int(p.endIndex)
    value = g.one("Slice", [x.name, ints(g, [start]), ints(g, [end]), ints(g, [axis]), ints(g, [step])])
    shape = list(x.shape)
    size = shape[axis]
    shape[axis] = len(range(size)[slice(start, end, step)]) if size is not None else None
    return [Blob(value, tuple(shape))]


def translate_sequence_repeat(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``sequenceRepeat`` layer: the whole sequence, ``nRepetitions`` times over."""
    ctx.expect_inputs(1)
    times = int(ctx.params.nRepetitions) or 1
    x = to_rank5(g, inputs[0])
    length = x.shape[0] * times if x.shape[0] is not None else None
    value = g.one("Tile", [x.name, ints(g, [times, 1, 1, 1, 1])])
    return [settle(g, Blob(value, (length, *x.shape[1:])))]


def translate_reorganize_data(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``reorganizeData`` layer: SPACE_TO_DEPTH and DEPTH_TO_SPACE are ONNX's
    ``SpaceToDepth`` and ``DepthToSpace`` (DCR); PIXEL_SHUFFLE is ``DepthToSpace`` (CRD)."""
    ctx.expect_inputs(1)
    mode, block = int(ctx.params.mode), int(ctx.params.blockSize)
    if mode not in (0, 1, 2):
        raise unsupported(ctx, f"reorganizeData mode {mode}")
    if block < 2:
        raise ctx.invalid(f"blockSize must be at least 2 (got {block})")
    (x,) = inputs
    c, h, w = x.chw
    where = f"layer '{ctx.name}' (reorganizeData)"
    if not known(c, h, w):
        raise unsupported(ctx, "an input of unknown size")
    c, h, w = int(c), int(h), int(w)  # type: ignore[arg-type]
    if mode == 0 and (h % block or w % block):
        msg = f"{where}: block {block} does not divide height {h} and width {w}"
        raise DataError(msg)
    if mode and c % (block * block):
        msg = f"{where}: block {block} squared does not divide {c} channels"
        raise DataError(msg)

    def reorganize(value: str) -> tuple[str, Shape]:
        if mode == 0:
            return g.one("SpaceToDepth", [value], blocksize=block), (c * block * block, h // block, w // block)
        out = g.one("DepthToSpace", [value], blocksize=block, mode="DCR" if mode == 1 else "CRD")
        return out, (c // (block * block), h * block, w * block)

    return [as_rank4(g, x, reorganize)]
