"""Spatial kernels: padding, crop and upsample (along height and width)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...errors import DataError
from ._base import Kernel, LayerContext, borders


def padding_of(ctx: LayerContext) -> tuple[str, tuple[int, int, int, int]]:
    """Check a ``padding`` layer; its type (constant, reflection or replication) and its
    ``(top, bottom, left, right)`` borders.

    Raises:
        InvalidModelError: The layer has more than one input, or no padding type is set.
    """
    ctx.expect_inputs(1)
    kind = ctx.params.WhichOneof("PaddingType")
    if kind is None:
        raise ctx.invalid("no padding type (constant, reflection or replication) is set")
    return kind, borders(ctx.params.paddingAmounts)


def build_padding(ctx: LayerContext) -> Kernel:
    """Build a ``padding`` kernel: constant, reflection or replication padding of H and W."""
    p = ctx.params
    kind, (top, bottom, left, right) = padding_of(ctx)
    widths = ((0, 0), (0, 0), (0, 0), (top, bottom), (left, right))
    where = f"layer '{ctx.name}' (padding)"
    if kind == "constant":
        value = np.float32(p.constant.value)
        return lambda inputs: [np.pad(inputs[0], widths, mode="constant", constant_values=value)]
    reflect = kind == "reflection"

    def padding(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        if reflect and (max(top, bottom) >= x.shape[3] or max(left, right) >= x.shape[4]):
            msg = (
                f"{where}: reflection padding {top, bottom, left, right} needs more than {x.shape[3:]} pixels"
            )
            raise DataError(msg)
        return [np.pad(x, widths, mode="reflect") if reflect else np.pad(x, widths, mode="edge")]

    return padding


def build_crop(ctx: LayerContext) -> Kernel:
    """Build a ``crop`` kernel: by ``cropAmounts`` (one input) or to the second input's size at ``offset``."""
    ctx.expect_inputs(1, 2)
    p = ctx.params
    where = f"layer '{ctx.name}' (crop)"
    if len(ctx.inputs) == 1:
        top, bottom, left, right = borders(p.cropAmounts)

        def crop(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
            x = inputs[0]
            h, w = x.shape[3:]
            if top + bottom >= h or left + right >= w:
                msg = f"{where}: cropping {top, bottom, left, right} leaves nothing of {h}x{w}"
                raise DataError(msg)
            return [x[:, :, :, top : h - bottom, left : w - right]]

        return crop
    offset = [int(v) for v in p.offset] or [0, 0]
    if len(offset) != 2:
        raise ctx.invalid(f"offset needs 2 values [H, W] (got {offset})")

    def crop_like(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x, reference = inputs
        (h, w), (oh, ow) = reference.shape[3:], offset
        if oh + h > x.shape[3] or ow + w > x.shape[4]:
            msg = f"{where}: a {h}x{w} crop at {offset} does not fit in {x.shape[3]}x{x.shape[4]}"
            raise DataError(msg)
        return [x[:, :, :, oh : oh + h, ow : ow + w]]

    return crop_like


_NN, _BILINEAR = 0, 1
_DEFAULT, _ALIGN_CORNERS_TRUE, _ALIGN_CORNERS_FALSE = 0, 1, 2


def build_upsample(ctx: LayerContext) -> Kernel:
    """Build an ``upsample`` kernel: nearest neighbour or bilinear, by integer or fractional factors.

    Bilinear sampling places output ``i`` of ``X_out`` at input coordinate ``i * X_in / X_out``
    (``DEFAULT``), ``i * (X_in - 1) / (X_out - 1)`` (``ALIGN_CORNERS_TRUE``) or
    ``(i + 0.5) * X_in / X_out - 0.5`` (``ALIGN_CORNERS_FALSE``), clamped to ``[0, X_in - 1]``.
    Fractional factors give ``floor(X_in * factor)`` outputs.
    """
    ctx.expect_inputs(1)
    p = ctx.params
    mode, linear = int(p.mode), int(p.linearUpsampleMode)
    if mode not in (_NN, _BILINEAR) or linear not in (_DEFAULT, _ALIGN_CORNERS_TRUE, _ALIGN_CORNERS_FALSE):
        raise ctx.unsupported(f"upsample mode {mode} with linearUpsampleMode {linear}")
    fractional = [float(v) for v in p.fractionalScalingFactor]
    factors = [int(v) for v in p.scalingFactor] or [1, 1]
    if fractional and mode == _NN:
        raise ctx.unsupported("nearest-neighbour upsampling by fractional factors")
    if len(fractional) not in (0, 2) or len(factors) != 2 or min(fractional or factors) <= 0:
        raise ctx.invalid(f"scaling factors must be 2 positive values (got {factors}, {fractional})")

    def upsample(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0]
        h, w = x.shape[3:]
        if mode == _NN:
            return [x.repeat(factors[0], axis=3).repeat(factors[1], axis=4)]
        if fractional:
            out_h, out_w = int(np.floor(h * fractional[0])), int(np.floor(w * fractional[1]))
        else:
            out_h, out_w = h * factors[0], w * factors[1]
        return [_interpolate(_interpolate(x, 3, out_h, linear), 4, out_w, linear)]

    return upsample


def _interpolate(x: np.ndarray, axis: int, size: int, linear: int) -> np.ndarray:
    """Linear interpolation of ``x`` to ``size`` points along ``axis``."""
    length = x.shape[axis]
    positions = np.arange(size, dtype=np.float64)
    if linear == _ALIGN_CORNERS_TRUE:
        grid = positions * ((length - 1) / (size - 1)) if size > 1 else np.zeros(size)
    elif linear == _ALIGN_CORNERS_FALSE:
        grid = (positions + 0.5) * (length / size) - 0.5
    else:
        grid = positions * (length / size)
    grid = np.clip(grid, 0, length - 1)
    low = np.floor(grid).astype(np.intp)
    high = np.minimum(low + 1, length - 1)
    shape = [1] * x.ndim
    shape[axis] = size
    weight = (grid - low).astype(np.float32).reshape(shape)
    below, above = np.take(x, low, axis=axis), np.take(x, high, axis=axis)
    return below + (above - below) * weight
