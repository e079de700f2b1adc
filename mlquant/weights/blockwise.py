"""Quantized forms whose parameters vary by part of the tensor: grouped look-up tables, blockwise affine.

Both are what ML Programs store (NeuralNetwork models hold neither):

* :class:`GroupedLUTWeights`: one look-up table per group of output channels
  (iOS18 ``constexpr_lut_to_dense`` with a per-grouped-channel table);
* :class:`AffineWeights`: integers with a scale and an integer zero point per tensor, per
  channel or per block, ``scale * (data - offset)`` (iOS16 ``constexpr_affine_dequantize``,
  iOS18 ``constexpr_blockwise_shift_scale``).

A parameter array's shape says how it spreads: :class:`AffineWeights` keeps its scale at the
data's rank, each dimension dividing the data's, so the block along dimension ``i`` is
``data.shape[i] // scale.shape[i]`` values long.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from ..errors import QuantizationError
from ._base import IndexedWeights, QuantizedWeights, check_finite, check_indices, readonly
from .packing import packed_size

__all__ = ["AffineWeights", "GroupedLUTWeights", "expand_blocks"]


def _tables(values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=np.float32)
    return readonly(array.reshape(1, -1) if array.ndim == 1 else array)


def _block_array(values: Any) -> np.ndarray:
    return readonly(np.asarray(values, dtype=np.float32))


@attrs.frozen(eq=False)
class GroupedLUTWeights(IndexedWeights):
    """n-bit indices into one look-up table per group of ``group_size`` channels along ``axis``.

    Channel ``c`` uses ``tables[c // group_size]``; the last group may hold fewer channels
    when ``group_size`` does not divide them.
    """

    tables: np.ndarray = attrs.field(converter=_tables)
    """float32 tables, shape ``(groups, 2**nbits)``, ``groups = ceil(channels / group_size)``."""
    axis: int
    """The channel axis the groups run along."""
    group_size: int
    """Consecutive channels that share one table."""

    def __attrs_post_init__(self) -> None:
        check_indices(self.indices, self.nbits)
        ndim = self.indices.ndim
        if isinstance(self.axis, bool) or not isinstance(self.axis, (int, np.integer)) or not 0 <= self.axis < ndim:
            msg = f"grouped look-up tables need a channel axis 0-{ndim - 1} for a rank-{ndim} tensor (got {self.axis!r})"
            raise QuantizationError(msg)
        if isinstance(self.group_size, bool) or not isinstance(self.group_size, (int, np.integer)) or self.group_size < 1:
            msg = f"grouped look-up tables need a group size >= 1 (got {self.group_size!r})"
            raise QuantizationError(msg)
        groups = -(-self.indices.shape[self.axis] // self.group_size)
        expected = (groups, 2**self.nbits)
        if self.tables.shape != expected:
            msg = (
                f"{self.indices.shape[self.axis]} channels in groups of {self.group_size} with "
                f"{self.nbits}-bit indices need tables of shape {expected} (got {self.tables.shape})"
            )
            raise QuantizationError(msg)
        check_finite(self.tables, "look-up tables")

    @property
    def groups(self) -> int:
        """How many tables there are."""
        return int(self.tables.shape[0])

    @property
    def _mapping_nbytes(self) -> int:
        return 4 * self.tables.size

    def dequantize(self) -> np.ndarray:
        channels = self.indices.shape[self.axis]
        group = np.arange(channels) // self.group_size
        shape = [1] * self.indices.ndim
        shape[self.axis] = channels
        return self.tables[group.reshape(shape), self.indices]


@attrs.frozen(eq=False)
class AffineWeights(QuantizedWeights):
    """n-bit integers with a scale and zero point per tensor, channel or block: ``scale * (data - offset)``.

    ``scale`` and ``offset`` have the data's rank and each of their dimensions divides the
    data's: an all-ones shape is one pair for the tensor, ``(C, 1, ...)`` one per output
    channel, ``(C, K // b, 1, ...)`` one per block of ``b`` input values in each channel.
    """

    nbits: int
    """Bits per stored integer, 1-8 (Core ML stores 4 and 8)."""
    data: np.ndarray = attrs.field(converter=readonly)
    """Integers in the tensor's shape: int8 in ``[-2**(n-1), 2**(n-1) - 1]`` when ``signed``,
    uint8 in ``[0, 2**n - 1]`` otherwise."""
    scale: np.ndarray = attrs.field(converter=_block_array)
    """float32 scales, the data's rank, each dimension dividing the data's."""
    offset: np.ndarray = attrs.field(converter=_block_array)
    """float32 zero points in ``scale``'s shape (whole numbers when made for an ML Program)."""
    signed: bool
    """Whether ``data`` holds signed integers."""

    def __attrs_post_init__(self) -> None:
        if isinstance(self.nbits, bool) or not isinstance(self.nbits, (int, np.integer)) or not 1 <= self.nbits <= 8:
            msg = f"affine weights need 1-8 bits (got {self.nbits!r})"
            raise QuantizationError(msg)
        if not np.issubdtype(self.data.dtype, np.integer):
            msg = f"affine weights need integer data (got {self.data.dtype})"
            raise QuantizationError(msg)
        low, high = (-(2 ** (self.nbits - 1)), 2 ** (self.nbits - 1) - 1) if self.signed else (0, 2**self.nbits - 1)
        if self.data.size and (int(self.data.min()) < low or int(self.data.max()) > high):
            kind = "signed" if self.signed else "unsigned"
            msg = (
                f"{self.nbits}-bit {kind} affine data must lie in {low}..{high} "
                f"(got {int(self.data.min())}..{int(self.data.max())})"
            )
            raise QuantizationError(msg)
        object.__setattr__(self, "data", readonly(self.data.astype(np.int8 if self.signed else np.uint8)))
        _check_blocks(self.data.shape, self.scale.shape, "scale")
        if self.offset.shape != self.scale.shape:
            msg = f"the affine offset must have the scale's shape {self.scale.shape} (got {self.offset.shape})"
            raise QuantizationError(msg)
        if not (np.all(np.isfinite(self.scale)) and np.all(np.isfinite(self.offset))):
            msg = "affine scales and offsets must be finite (got NaN or inf)"
            raise QuantizationError(msg)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def block_shape(self) -> tuple[int, ...]:
        """Values per block along each dimension (the data's shape for one pair per tensor)."""
        return tuple(d // s for d, s in zip(self.data.shape, self.scale.shape, strict=True))

    @property
    def nbytes(self) -> int:
        """Packed data, float32 scales, and zero points at the data's width."""
        return packed_size(self.data.size, self.nbits) + 4 * self.scale.size + packed_size(self.offset.size, self.nbits)

    def dequantize(self) -> np.ndarray:
        scale = expand_blocks(self.scale, self.data.shape)
        offset = expand_blocks(self.offset, self.data.shape)
        return (scale * (self.data.astype(np.float32) - offset)).astype(np.float32)


def _check_blocks(data_shape: tuple[int, ...], shape: tuple[int, ...], what: str) -> None:
    if len(shape) != len(data_shape) or any(s < 1 or d % s for d, s in zip(data_shape, shape, strict=True)):
        msg = (
            f"the affine {what} needs the data's rank {len(data_shape)} with each dimension dividing "
            f"the data's {data_shape} (got {what} shape {shape})"
        )
        raise QuantizationError(msg)


def expand_blocks(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Repeat each entry of a blockwise parameter array over its block, giving ``shape``.

    Args:
        values: One value per block, the rank of ``shape``, each dimension dividing it.
        shape: The full tensor's shape.

    Returns:
        An array of ``shape`` (a broadcast view where ``values`` has size-1 dimensions).
    """
    interleaved: list[int] = []
    for size, full in zip(values.shape, shape, strict=True):
        interleaved += [size, full // size]
    spread = values.reshape([n for pair in zip(values.shape, [1] * values.ndim) for n in pair])
    return np.broadcast_to(spread, interleaved).reshape(shape)
