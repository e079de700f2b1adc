"""Packing n-bit indices into bytes, in both bit orders Core ML uses.

* NeuralNetwork ``rawValue`` (``NeuralNetwork.proto``): most significant bit first, each
  value's bits high to low, the last byte zero-padded: 4-bit ``[1, 2, 3]`` is ``0x12 0x30``.
* ML Program blobs (``MILBlob``'s sub-byte types): least significant bit first, each value's
  bits low to high: 4-bit ``[1, 2, 3]`` is ``0x21 0x03``.

Both go through ``np.packbits``/``np.unpackbits``; no Python loop touches a bit.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["BitOrder", "pack_indices", "packed_size", "unpack_indices"]

#: ``big``: most significant bit first (NeuralNetwork); ``little``: least significant first (ML Program).
BitOrder = Literal["big", "little"]


def packed_size(count: int, nbits: int) -> int:
    """Bytes that ``count`` values of ``nbits`` bits take once packed: ``ceil(count * nbits / 8)``."""
    return -(-count * nbits // 8)


def pack_indices(indices: np.ndarray, nbits: int, order: BitOrder = "big") -> bytes:
    """Pack n-bit indices into bytes.

    Args:
        indices: Integer indices, each below ``2**nbits``; any shape, read in C order.
        nbits: Bits per index, 1-8.
        order: ``big`` for NeuralNetwork ``rawValue``, ``little`` for ML Program blobs.

    Returns:
        ``ceil(len * nbits / 8)`` bytes, zero-padded at the end.
    """
    flat = np.ascontiguousarray(indices, dtype=np.uint8).reshape(-1)
    if nbits == 8:
        return flat.tobytes()
    bits = np.unpackbits(flat[:, np.newaxis], axis=1, bitorder=order)
    bits = bits[:, 8 - nbits :] if order == "big" else bits[:, :nbits]
    return np.packbits(bits.reshape(-1), bitorder=order).tobytes()


def unpack_indices(data: bytes | np.ndarray, count: int, nbits: int, order: BitOrder = "big") -> np.ndarray:
    """Unpack ``count`` n-bit indices.

    Args:
        data: The packed bytes; at least ``ceil(count * nbits / 8)`` of them.
        count: How many indices to read.
        nbits: Bits per index, 1-8.
        order: ``big`` for NeuralNetwork ``rawValue``, ``little`` for ML Program blobs.

    Returns:
        A uint8 array of ``count`` indices.
    """
    raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if nbits == 8:
        return np.array(raw[:count], dtype=np.uint8)
    bits = np.unpackbits(raw, count=count * nbits, bitorder=order).reshape(count, nbits)
    widened = np.zeros((count, 8), dtype=np.uint8)
    if order == "big":
        widened[:, 8 - nbits :] = bits
    else:
        widened[:, :nbits] = bits
    return np.packbits(widened, axis=1, bitorder=order).reshape(count)
