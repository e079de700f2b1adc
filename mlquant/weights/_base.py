"""The root of the quantized-weights family, the base of its index forms, and the array checks they share."""

from __future__ import annotations

import abc
from typing import Any

import attrs
import numpy as np

from ..errors import QuantizationError
from .packing import packed_size

__all__ = [
    "IndexedWeights",
    "QuantizedWeights",
    "as_float32",
    "as_indices",
    "check_finite",
    "check_indices",
    "readonly",
]


class QuantizedWeights(abc.ABC):
    """One weight tensor in the form Core ML stores it, as a quantizer produced it.

    The concrete forms (:mod:`mlquant.weights.forms`) are frozen and hold read-only arrays.
    """

    @property
    @abc.abstractmethod
    def nbits(self) -> int:
        """Bits per stored value: 1-8, or 16 for float16."""

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, ...]:
        """The shape of the float tensor these weights stand for."""

    @property
    @abc.abstractmethod
    def nbytes(self) -> int:
        """Bytes the stored values and their tables take in the file (protobuf framing aside)."""

    @abc.abstractmethod
    def dequantize(self) -> np.ndarray:
        """Return the float32 tensor Core ML computes with."""


def readonly(array: Any) -> np.ndarray:
    """A read-only copy of ``array``."""
    copy = np.array(array, copy=True)
    copy.setflags(write=False)
    return copy


def as_float32(values: Any) -> np.ndarray:
    """A read-only flat float32 copy of ``values``."""
    return readonly(np.asarray(values, dtype=np.float32).reshape(-1))


def as_indices(values: Any) -> np.ndarray:
    """A read-only uint8 copy of ``values``, shape kept."""
    return readonly(np.asarray(values, dtype=np.uint8))


def check_indices(indices: np.ndarray, bits: int) -> None:
    """Raise :class:`QuantizationError` unless ``bits`` is 1-8 and every index is below ``2**bits``."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 8:
        msg = f"quantized indices need 1-8 bits (got {bits!r})"
        raise QuantizationError(msg)
    if indices.size and int(indices.max()) >= 2**bits:
        msg = f"{bits}-bit indices must be below {2**bits} (got {int(indices.max())})"
        raise QuantizationError(msg)


def check_finite(values: np.ndarray, what: str) -> None:
    """Raise :class:`QuantizationError` unless every value is finite; ``what`` names the values."""
    if not np.all(np.isfinite(values)):
        msg = f"{what} must hold finite values (got NaN or inf)"
        raise QuantizationError(msg)


@attrs.frozen(eq=False)
class IndexedWeights(QuantizedWeights):
    """n-bit indices in the tensor's shape, and what maps them to values (a scale and bias, tables).

    The file holds the indices bit-packed, then that mapping: :attr:`nbytes` is their sum.
    """

    nbits: int
    """Bits per index, 1-8."""
    indices: np.ndarray = attrs.field(converter=as_indices)
    """Unsigned indices in the tensor's shape, each below ``2**nbits``."""

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.indices.shape)

    @property
    def nbytes(self) -> int:
        return packed_size(self.indices.size, self.nbits) + self._mapping_nbytes

    @property
    @abc.abstractmethod
    def _mapping_nbytes(self) -> int:
        """Bytes of what maps the indices to values."""
