"""Linear (affine) quantization: :class:`LinearQuantizer`, in both flavours Core ML stores.

* ``bias`` (NeuralNetwork): n-bit indices mapped to ``scale * q + bias`` per tensor or per
  output channel, over each part's ``[min, max]`` (or ``[-r, r]`` when symmetric); the mapping
  of coremltools' NeuralNetwork ``linear`` and ``linear_symmetric`` modes.
* ``zero_point`` (ML Program): integers with a scale and an integer zero point per tensor,
  channel or block, ``scale * (q - zero_point)``, over a range that always holds 0; the
  arithmetic of ``coremltools.optimize.coreml.linear_quantize_weights``, carried out in the
  weights' own float type, so stored data, scales and zero points come out bit-identical.
"""

from __future__ import annotations

from typing import ClassVar

import attrs
import numpy as np

from ..errors import SettingsError
from ..weights import AffineWeights, LinearWeights, PerBlock, PerChannel, PerTensor, QuantizedWeights
from ..weights.granularity import resolve_axis
from ._base import Affine, Quantizer, bits, granularity_of, working_dtype

__all__ = ["LinearQuantizer", "affine_rows", "block_lengths", "channel_rows", "from_channel_rows", "input_axis"]


@attrs.frozen
class LinearQuantizer(Quantizer):
    """Affine n-bit quantization with a scale per tensor, per output channel (the default) or per block.

    For a NeuralNetwork model (a float scale and bias): asymmetric maps each channel's
    ``[min, max]`` onto ``0 .. 2**nbits - 1``, ``scale = (max - min) / (2**nbits - 1)``,
    ``bias = min``; symmetric maps ``[-r, r]`` with ``r = max |w|``,
    ``scale = r / (2**(nbits-1) - 1)``, ``bias = -2**(nbits-1) * scale``. These are coremltools'
    ``linear`` and ``linear_symmetric`` mappings, in float32, except that a channel whose step
    is below 1e-6 is still quantized rather than collapsed onto its minimum.

    For an ML Program (integers and an integer zero point): the range is widened to hold 0,
    ``scale = (max - min) / (qmax - qmin)``, ``zero_point = round((qmin * max - qmax * min) / (max - min))``,
    ``q = clip(round(w / scale) + zero_point)``; symmetric uses ``[-r, r]``, the signed range
    ``-(2**(n-1) - 1) .. 2**(n-1) - 1`` with zero point 0 (unsigned: ``0 .. 2**n - 2``, zero point
    ``2**(n-1) - 1``), exactly as ``coremltools.optimize.coreml.linear_quantize_weights``.

    :class:`~mlquant.PerBlock` runs blocks along the input axis (1 when the output-channel
    axis is 0, otherwise the axis before it, as for ``conv_transpose`` and ``matmul``); only ML
    Programs store it (4 or 8 bits, from iOS18).
    """

    method: ClassVar[str] = "linear"

    nbits: int = attrs.field(validator=bits(1, 8))
    """Bits per index, 1-8 (ML Programs store 4 and 8)."""
    symmetric: bool = attrs.field(default=False, converter=bool)
    """Map ``[-max|w|, max|w|]`` instead of ``[min, max]`` (needs 2 bits or more)."""
    granularity: PerTensor | PerChannel | PerBlock = attrs.field(
        factory=PerChannel, validator=granularity_of(PerTensor, PerChannel, PerBlock)
    )
    """One scale per tensor, per output channel, or per block of input values."""
    signed: bool = attrs.field(default=True, converter=bool, kw_only=True)
    """ML Programs: store int8/int4 (coremltools' default) or, when False, uint8/uint4.
    NeuralNetwork indices are unsigned either way."""

    def __attrs_post_init__(self) -> None:
        if self.symmetric and self.nbits < 2:
            msg = "LinearQuantizer: symmetric mode needs nbits 2-8 (got 1)"
            raise SettingsError(msg)

    @property
    def name(self) -> str:
        unsigned = "" if self.signed else "u"
        return f"linear{'_symmetric' if self.symmetric else ''}_{unsigned}{self.nbits}{self.granularity.suffix}"

    def unfit(self, shape: tuple[int, ...], channel_axis: int | None) -> str | None:
        return block_lengths(self.granularity, shape, channel_axis)[1]

    def _quantize(self, values: np.ndarray, channel_axis: int | None, affine: Affine) -> QuantizedWeights:
        if affine == "bias" and not isinstance(self.granularity, PerBlock):
            axis = resolve_axis(self.granularity, channel_axis, values.ndim)
            rows = channel_rows(values, axis)
            indices, scale, bias = affine_rows(rows, self.nbits, self.symmetric)
            shaped = from_channel_rows(indices, values.shape, axis)
            return LinearWeights(self.nbits, shaped, scale, bias, axis if len(scale) > 1 else None)
        lengths, _ = block_lengths(self.granularity, values.shape, channel_axis)
        return _zero_point(values, lengths, self.nbits, self.symmetric, self.signed)


def input_axis(output_axis: int, ndim: int) -> int | None:
    """The axis blocks run along: 1 after an output axis 0, otherwise the axis before it."""
    if ndim < 2:
        return None
    return 1 if output_axis == 0 else output_axis - 1


def block_lengths(
    granularity: PerTensor | PerChannel | PerBlock, shape: tuple[int, ...], channel_axis: int | None
) -> tuple[tuple[int, ...], str | None]:
    """The length of a parameter block along each axis of ``shape``, and why it does not fit, if it does not.

    A block size larger than its axis becomes the whole axis; one that does not divide it is
    a reason to keep the weight as it is.
    """
    lengths = list(shape)
    axis = resolve_axis(granularity, channel_axis, len(shape))
    if axis is None:
        return tuple(lengths), None
    lengths[axis] = 1
    blocks = input_axis(axis, len(shape)) if isinstance(granularity, PerBlock) else None
    if blocks is None or not isinstance(granularity, PerBlock):
        return tuple(lengths), None
    size = min(granularity.block_size, shape[blocks])
    lengths[blocks] = size
    if shape[blocks] % size:
        return tuple(lengths), f"block size {granularity.block_size} does not divide the {shape[blocks]} values along axis {blocks}"
    return tuple(lengths), None


def _zero_point(values: np.ndarray, lengths: tuple[int, ...], nbits: int, symmetric: bool, signed: bool) -> AffineWeights:
    """Integers with a scale and integer zero point per block of ``lengths`` values, in the weights' float type."""
    dtype = working_dtype(values)
    parts = [n // length for n, length in zip(values.shape, lengths, strict=True)]
    split = values.astype(dtype, copy=False).reshape([n for pair in zip(parts, lengths) for n in pair])
    inside = tuple(range(1, split.ndim, 2))
    low = split.min(axis=inside, keepdims=True)
    high = split.max(axis=inside, keepdims=True)
    if signed:
        qmin, qmax = -(2 ** (nbits - 1)) + int(symmetric), 2 ** (nbits - 1) - 1
    else:
        qmin, qmax = 0, 2**nbits - 1 - int(symmetric)
    if symmetric:
        high = np.maximum(np.abs(low), np.abs(high))
        low = -high
    else:
        low = np.minimum(dtype(0), low)
        high = np.maximum(dtype(0), high)
    spread = high - low
    scale = spread / dtype(qmax - qmin)
    with np.errstate(divide="ignore", invalid="ignore"):
        data = np.where(scale > 0, np.round(split / scale), dtype(0))
        if symmetric:
            zero = np.full_like(scale, 0 if signed else qmax // 2)
        else:
            zero = np.where(spread > 0, np.round((qmin * high - qmax * low) / spread), dtype(0))
            zero = np.clip(zero, qmin, qmax)
    data = np.clip(data + zero, qmin, qmax)
    return AffineWeights(
        nbits,
        data.reshape(values.shape).astype(np.int16),
        scale.reshape(parts),
        zero.reshape(parts),
        signed=signed,
    )


def channel_rows(values: np.ndarray, axis: int | None) -> np.ndarray:
    """View ``values`` as float32 rows, one per channel along ``axis`` (one row if None)."""
    narrow = values.astype(np.float32)
    if axis is None:
        return narrow.reshape(1, -1)
    return np.moveaxis(narrow, axis, 0).reshape(values.shape[axis], -1)


def from_channel_rows(rows: np.ndarray, shape: tuple[int, ...], axis: int | None) -> np.ndarray:
    """Undo :func:`channel_rows`: rows back into ``shape`` with the channels along ``axis``."""
    if axis is None:
        return rows.reshape(shape)
    moved = (shape[axis], *(n for i, n in enumerate(shape) if i != axis))
    return np.moveaxis(rows.reshape(moved), 0, axis)


def affine_rows(rows: np.ndarray, bits: int, symmetric: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantize each row of float32 ``rows`` affinely; return ``(indices, scale, bias)``.

    The arithmetic is float32, step for step as coremltools does it for NeuralNetwork models
    on the float32 arrays protobuf hands it, so indices, scales and biases come out bit-identical.
    """
    low, high = rows.min(axis=1), rows.max(axis=1)
    if symmetric:
        radius = np.maximum(np.abs(low), np.abs(high))
        scale = radius / np.float32(2 ** (bits - 1) - 1)
        bias = np.float32(-(2 ** (bits - 1))) * scale
        shifted = rows - bias[:, np.newaxis]
        divisor = scale[:, np.newaxis]
        steps = np.divide(shifted, divisor, out=np.zeros_like(shifted), where=divisor > 0)
    else:
        scale = (high - low) / np.float32(2**bits - 1)
        bias = low
        inverse = np.divide(np.float32(1), scale, out=np.zeros_like(scale), where=scale > 0)
        steps = (rows - low[:, np.newaxis]) * inverse[:, np.newaxis]
    indices = np.clip(np.rint(steps), 0, 2**bits - 1).astype(np.uint8)
    return indices, scale, bias
