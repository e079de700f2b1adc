"""Spatial translators: padding (``Pad``), crop (``Slice``) and upsample (``Resize``).

Upsampling by ``Resize`` to the reference runtime's output size: nearest neighbour as
``asymmetric`` coordinates rounded down (pixel repetition), bilinear with the coordinate
transform each ``linearUpsampleMode`` names (``DEFAULT`` is ``asymmetric``, ``ALIGN_CORNERS_TRUE``
``align_corners``, ``ALIGN_CORNERS_FALSE`` ``half_pixel``); ONNX clamps to the edge as the
reference runtime does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ....errors import DataError
from ...neuralnetwork._base import LayerContext, borders
from ...neuralnetwork.spatial import padding_of
from .._graph import Graph
from ._base import Blob, Shape, as_rank4, floats, ints, known, unsupported


def _grow(size: int | None, before: int, after: int) -> int | None:
    return None if size is None else size + before + after


def translate_padding(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``padding`` layer: constant, reflection or replication padding of H and W."""
    p = ctx.params
    kind, (top, bottom, left, right) = padding_of(ctx)
    (x,) = inputs
    h, w = x.chw[1:]
    if kind == "reflection" and known(h, w) and (max(top, bottom) >= h or max(left, right) >= w):  # type: ignore[operator]
        msg = f"layer '{ctx.name}' (padding): reflection padding {top, bottom, left, right} needs more than {(h, w)} pixels"
        raise DataError(msg)
    mode = {"constant": "constant", "reflection": "reflect", "replication": "edge"}[kind]
    operands = [x.name, ints(g, [top, left, bottom, right]), floats(g, p.constant.value if kind == "constant" else 0.0)]
    value = g.one("Pad", [*operands, ints(g, [-2, -1])], mode=mode)
    shape = (*x.shape[:-2], _grow(h, top, bottom), _grow(w, left, right))
    return [Blob(value, shape)]


def translate_crop(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate a ``crop`` layer: by ``cropAmounts`` (one input) or to the second input's size at ``offset``."""
    ctx.expect_inputs(1, 2)
    p = ctx.params
    where = f"layer '{ctx.name}' (crop)"
    x = inputs[0]
    h, w = x.chw[1:]
    if len(inputs) == 1:
        top, bottom, left, right = borders(p.cropAmounts)
        if not known(h, w):
            raise unsupported(ctx, "a crop of an input of unknown size")
        h, w = int(h), int(w)  # type: ignore[arg-type]
        if top + bottom >= h or left + right >= w:
            msg = f"{where}: cropping {top, bottom, left, right} leaves nothing of {h}x{w}"
            raise DataError(msg)
        value = g.one("Slice", [x.name, ints(g, [top, left]), ints(g, [h - bottom, w - right]), ints(g, [-2, -1])])
        return [Blob(value, (*x.shape[:-2], h - top - bottom, w - left - right))]
    offset = [int(v) for v in p.offset] or [0, 0]
    if len(offset) != 2:
        raise ctx.invalid(f"offset needs 2 values [H, W] (got {offset})")
    reference = inputs[1]
    rh, rw = reference.chw[1:]
    if not known(h, w, rh, rw):
        raise unsupported(ctx, "a crop to the size of an input of unknown size")
    if offset[0] + rh > h or offset[1] + rw > w:  # type: ignore[operator]
        msg = f"{where}: a {rh}x{rw} crop at {offset} does not fit in {h}x{w}"
        raise DataError(msg)
    ends = [offset[0] + rh, offset[1] + rw]  # type: ignore[operator]
    value = g.one("Slice", [x.name, ints(g, offset), ints(g, ends), ints(g, [-2, -1])])
    return [Blob(value, (*x.shape[:-2], rh, rw))]


_NN, _BILINEAR = 0, 1
_DEFAULT, _ALIGN_CORNERS_TRUE, _ALIGN_CORNERS_FALSE = 0, 1, 2
_TRANSFORMS = {_DEFAULT: "asymmetric", _ALIGN_CORNERS_TRUE: "align_corners", _ALIGN_CORNERS_FALSE: "half_pixel"}


def translate_upsample(g: Graph, ctx: LayerContext, inputs: Sequence[Blob]) -> list[Blob]:
    """Translate an ``upsample`` layer: nearest neighbour or bilinear, by integer or fractional factors."""
    ctx.expect_inputs(1)
    p = ctx.params
    mode, linear = int(p.mode), int(p.linearUpsampleMode)
    if mode not in (_NN, _BILINEAR) or linear not in _TRANSFORMS:
        raise unsupported(ctx, f"upsample mode {mode} with linearUpsampleMode {linear}")
    fractional = [float(v) for v in p.fractionalScalingFactor]
    factors = [int(v) for v in p.scalingFactor] or [1, 1]
    if fractional and mode == _NN:
        raise unsupported(ctx, "nearest-neighbour upsampling by fractional factors")
    if len(fractional) not in (0, 2) or len(factors) != 2 or min(fractional or factors) <= 0:
        raise ctx.invalid(f"scaling factors must be 2 positive values (got {factors}, {fractional})")
    (x,) = inputs
    c, h, w = x.chw
    if not known(h, w):
        raise unsupported(ctx, "upsampling an input of unknown size")
    h, w = int(h), int(w)  # type: ignore[arg-type]
    if fractional:
        out_h, out_w = int(np.floor(h * fractional[0])), int(np.floor(w * fractional[1]))
    else:
        out_h, out_w = h * factors[0], w * factors[1]
    if mode == _NN:
        attributes = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:
        attributes = {"mode": "linear", "coordinate_transformation_mode": _TRANSFORMS[linear]}

    def resize(value: str) -> tuple[str, Shape]:
        batch = g.one("Shape", [value], start=0, end=2)
        sizes = g.one("Concat", [batch, ints(g, [out_h, out_w])], axis=0)
        return g.one("Resize", [value, "", "", sizes], **attributes), (c, out_h, out_w)

    return [as_rank4(g, x, resize)]
