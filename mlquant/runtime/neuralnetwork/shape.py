"""Data reorganization kernels: concat, split, flatten, reshape, permute, slice, sequenceRepeat
and reorganizeData.

Axes follow the rank-5 ``(Sequence, Batch, Channel, Height, Width)`` layout: "channel" is
axis 2 (``-3``), "sequence" axis 0 (``-5``). Split, slice and permute return views of their
input; the executor knows (``VIEW_KERNELS`` in the registry) and never overwrites such memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...errors import DataError
from ._base import Kernel, LayerContext, from_nhwc, is_channels_last, to_nhwc

_CHANNEL_FIRST, _CHANNEL_LAST = 0, 1


def channel_order(ctx: LayerContext) -> bool:
    """Check a one-input ``flatten`` or ``reshape`` layer; whether it reads values in H, W, C order.

    Raises:
        InvalidModelError: The layer has more than one input.
        UnsupportedLayerError: Its mode is neither ``CHANNEL_FIRST`` nor ``CHANNEL_LAST``.
    """
    ctx.expect_inputs(1)
    return _channel_last(ctx)


def reshape_target(ctx: LayerContext) -> tuple[tuple[int, ...], bool]:
    """Check a ``reshape`` layer; its target shape (3 or 4 values) and whether it reads in H, W, C order.

    Raises:
        InvalidModelError: The layer has more than one input, or the target is not 3 or 4 values.
        UnsupportedLayerError: Its mode is neither ``CHANNEL_FIRST`` nor ``CHANNEL_LAST``.
    """
    ctx.expect_inputs(1)
    target = tuple(int(v) for v in ctx.params.targetShape)
    if len(target) not in (3, 4):
        raise ctx.invalid(f"targetShape needs 3 or 4 values (got {list(target)})")
    return target, _channel_last(ctx)


def _channel_last(ctx: LayerContext) -> bool:
    mode = int(ctx.params.mode)
    if mode not in (_CHANNEL_FIRST, _CHANNEL_LAST):
        raise ctx.unsupported(f"{ctx.type} mode {mode}")
    return mode == _CHANNEL_LAST


def build_concat(ctx: LayerContext) -> Kernel:
    """Build a ``concat`` kernel: along channels, or along the sequence axis (``sequenceConcat``)."""
    ctx.expect_inputs(1, 999)
    axis = 0 if ctx.params.sequenceConcat else 2

    def concat(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        if axis == 2 and any(is_channels_last(x) for x in inputs):
            s, b = inputs[0].shape[:2]
            if all(x.shape[:2] == (s, b) for x in inputs):
                joined = np.concatenate([to_nhwc(x) for x in inputs], axis=3)
                return [from_nhwc(joined, s, b)]
        return [np.concatenate(inputs, axis=axis)]

    return concat


def build_split(ctx: LayerContext) -> Kernel:
    """Build a ``split`` kernel: equal parts along channels, one per output."""
    ctx.expect_inputs(1)
    parts = len(ctx.outputs)
    declared = int(ctx.params.nOutputs)
    if declared and declared != parts:
        raise ctx.invalid(f"nOutputs is {declared} but the layer has {parts} outputs")
    where = f"layer '{ctx.name}' (split)"

    def split(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        if x.shape[2] % parts:
            msg = f"{where}: {x.shape[2]} channels do not split into {parts} equal parts"
            raise DataError(msg)
        return list(np.split(x, parts, axis=2))

    return split


def build_flatten(ctx: LayerContext) -> Kernel:
    """Build a ``flatten`` kernel: ``(S, B, C, H, W) -> (S, B, C*H*W, 1, 1)``."""
    channel_last = channel_order(ctx)

    def flatten(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        s, b = x.shape[:2]
        if channel_last:
            x = x.transpose(0, 1, 3, 4, 2)
        return [x.reshape(s, b, -1, 1, 1)]

    return flatten


def build_reshape(ctx: LayerContext) -> Kernel:
    """Build a ``reshape`` kernel (3-value target keeps the sequence length; 4 values set it)."""
    target, channel_last = reshape_target(ctx)
    where = f"layer '{ctx.name}' (reshape)"

    def reshape(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        s, b = x.shape[:2]
        if channel_last:
            x = x.transpose(0, 1, 3, 4, 2)  # values in (H, W, C) order
        shape = (s, *target) if len(target) == 3 else target
        chw = (shape[2], shape[3], shape[1]) if channel_last else shape[1:]
        per_batch = x.transpose(1, 0, 2, 3, 4).reshape(b, -1)
        try:
            out = per_batch.reshape(b, shape[0], *chw)
        except ValueError:
            msg = f"{where}: cannot reshape {x.shape[0]}x{x[0, 0].size} values per batch item to {shape}"
            raise DataError(msg) from None
        out = out.transpose(1, 0, 2, 3, 4)
        if channel_last:
            out = out.transpose(0, 1, 4, 2, 3)
        return [np.ascontiguousarray(out)]

    return reshape


def build_permute(ctx: LayerContext) -> Kernel:
    """Build a ``permute`` kernel: reorders (Sequence, C, H, W); the batch axis stays."""
    _, order = permute_order(ctx)
    return lambda inputs: [inputs[0].transpose(order)]


def permute_order(ctx: LayerContext) -> tuple[list[int], tuple[int, ...]]:
    """Check a ``permute`` layer; its axes (of Sequence, C, H, W) and the rank-5 transpose they make.

    Raises:
        InvalidModelError: The layer has more than one input, or its axes are no permutation.
    """
    ctx.expect_inputs(1)
    axes = [int(a) for a in ctx.params.axis] or [0, 1, 2, 3]
    if sorted(axes) != [0, 1, 2, 3]:
        raise ctx.invalid(f"axis must be a permutation of [0, 1, 2, 3] (got {axes})")
    rank5 = (0, 2, 3, 4)  # Seq, C, H, W in the rank-5 layout
    return axes, (rank5[axes[0]], 1, rank5[axes[1]], rank5[axes[2]], rank5[axes[3]])


def build_slice(ctx: LayerContext) -> Kernel:
    """Build a ``slice`` kernel along channel, height or width (Python slice semantics)."""
    ctx.expect_inputs(1)
    p = ctx.params
    axis = {0: 2, 1: 3, 2: 4}.get(int(p.axis))
    if axis is None:
        raise ctx.unsupported(f"slice axis {int(p.axis)}")
    step = int(p.stride) or 1
    index = [slice(None)] * 5
    index[axis] = slice(int(p.startIndex), int(p.endIndex), step)
    key = tuple(index)
    return lambda inputs: [inputs[0][key]]


def build_sequence_repeat(ctx: LayerContext) -> Kernel:
    """Build a ``sequenceRepeat`` kernel: the whole sequence, ``nRepetitions`` times over."""
    ctx.expect_inputs(1)
    times = int(ctx.params.nRepetitions) or 1
    return lambda inputs: [np.tile(inputs[0], (times, 1, 1, 1, 1))]


def build_reorganize_data(ctx: LayerContext) -> Kernel:
    """Build a ``reorganizeData`` kernel: SPACE_TO_DEPTH, DEPTH_TO_SPACE or PIXEL_SHUFFLE.

    Channel ``c`` of block offset ``(i, j)`` is channel ``(i * block + j) * C + c`` in the
    deep layout of SPACE_TO_DEPTH and DEPTH_TO_SPACE, and ``c * block**2 + i * block + j``
    for PIXEL_SHUFFLE, as the examples in ``NeuralNetwork.proto`` show.
    """
    ctx.expect_inputs(1)
    mode, block = int(ctx.params.mode), int(ctx.params.blockSize)
    if mode not in (0, 1, 2):
        raise ctx.unsupported(f"reorganizeData mode {mode}")
    if block < 2:
        raise ctx.invalid(f"blockSize must be at least 2 (got {block})")
    where = f"layer '{ctx.name}' (reorganizeData)"

    def reorganize(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        s, b, c, h, w = x.shape
        if mode == 0:
            if h % block or w % block:
                msg = f"{where}: block {block} does not divide height {h} and width {w}"
                raise DataError(msg)
            y = x.reshape(s, b, c, h // block, block, w // block, block)
            y = y.transpose(0, 1, 4, 6, 2, 3, 5).reshape(s, b, c * block * block, h // block, w // block)
            return [np.ascontiguousarray(y)]
        if c % (block * block):
            msg = f"{where}: block {block} squared does not divide {c} channels"
            raise DataError(msg)
        depth = c // (block * block)
        if mode == 1:
            y = x.reshape(s, b, block, block, depth, h, w).transpose(0, 1, 4, 5, 2, 6, 3)
        else:
            y = x.reshape(s, b, depth, block, block, h, w).transpose(0, 1, 2, 5, 3, 6, 4)
        return [np.ascontiguousarray(y.reshape(s, b, depth, h * block, w * block))]

    return reorganize
