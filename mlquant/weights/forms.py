"""The quantized-weights family: one weight tensor in the form a Core ML format stores it.

A quantizer returns one of these; each model format writes them in its own way (see
``mlquant/formats``) and says which it can store (``Model.storage``). All are frozen and hold
read-only arrays, and each knows the float32 tensor Core ML computes from it
(:meth:`QuantizedWeights.dequantize`):

* :class:`Float16Weights`: IEEE half floats;
* :class:`LinearWeights`: n-bit indices mapped to ``scale * q + bias``, per tensor or per channel
  (NeuralNetwork ``linearQuantization``);
* :class:`LUTWeights`: n-bit indices into one look-up table of ``2**n`` entries;
* :class:`GroupedLUTWeights`: one look-up table per group of output channels (ML Program);
* :class:`AffineWeights`: integers with a scale and zero point per tensor, channel or block,
  ``scale * (data - offset)`` (ML Program).

The last two live in :mod:`mlquant.weights.blockwise`; this module is the family's one address.
"""

from __future__ import annotations

import attrs
import numpy as np

from ..errors import QuantizationError
from ._base import IndexedWeights, QuantizedWeights, as_float32, check_finite, check_indices, readonly
from .blockwise import AffineWeights, GroupedLUTWeights

__all__ = [
    "AffineWeights",
    "Float16Weights",
    "GroupedLUTWeights",
    "LUTWeights",
    "LinearWeights",
    "QuantizedWeights",
    "affine",
]


@attrs.frozen(eq=False)
class Float16Weights(QuantizedWeights):
    """Weights stored as IEEE half floats (what coremltools calls ``nbits=16``)."""

    values: np.ndarray = attrs.field(converter=lambda v: readonly(np.asarray(v, np.float16)))
    """The half-precision values, in the tensor's shape."""

    @property
    def nbits(self) -> int:
        return 16

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    @property
    def nbytes(self) -> int:
        return 2 * self.values.size

    def dequantize(self) -> np.ndarray:
        return self.values.astype(np.float32)


@attrs.frozen(eq=False)
class LinearWeights(IndexedWeights):
    """n-bit indices mapped to ``scale * q + bias``, per tensor or per output channel."""

    scale: np.ndarray = attrs.field(converter=as_float32)
    """One scale, or one per channel along ``axis``."""
    bias: np.ndarray = attrs.field(converter=as_float32)
    """One bias, or one per channel along ``axis``; the same length as ``scale``."""
    axis: int | None = None
    """The output-channel axis the per-channel scale and bias run along; None for one pair."""

    def __attrs_post_init__(self) -> None:
        channels = 1 if self.axis is None else self.indices.shape[self.axis]
        if len(self.scale) not in {1, channels} or len(self.bias) != len(self.scale):
            msg = (
                f"linear weights need 1 or {channels} scale/bias values with equal lengths "
                f"(got {len(self.scale)} scales and {len(self.bias)} biases)"
            )
            raise QuantizationError(msg)
        check_indices(self.indices, self.nbits)

    @property
    def _mapping_nbytes(self) -> int:
        return 8 * len(self.scale)

    def dequantize(self) -> np.ndarray:
        return affine(self.indices, self.scale, self.bias, self.axis)


@attrs.frozen(eq=False)
class LUTWeights(IndexedWeights):
    """n-bit indices into a look-up table of exactly ``2**nbits`` float32 entries."""

    table: np.ndarray = attrs.field(converter=as_float32)
    """The look-up table."""

    def __attrs_post_init__(self) -> None:
        if len(self.table) != 2**self.nbits:
            msg = (
                f"a {self.nbits}-bit look-up table needs exactly {2**self.nbits} entries "
                f"(got {len(self.table)})"
            )
            raise QuantizationError(msg)
        check_finite(self.table, "a look-up table")
        check_indices(self.indices, self.nbits)

    @property
    def _mapping_nbytes(self) -> int:
        return 4 * len(self.table)

    def dequantize(self) -> np.ndarray:
        return self.table[self.indices]


def affine(indices: np.ndarray, scale: np.ndarray, bias: np.ndarray, axis: int | None) -> np.ndarray:
    """``scale * q + bias`` in float32, the scale and bias running along ``axis`` when there are several."""
    shape = [1] * indices.ndim
    if len(scale) > 1 and axis is not None:
        shape[axis] = len(scale)
    return indices.astype(np.float32) * scale.reshape(shape) + bias.reshape(shape)
