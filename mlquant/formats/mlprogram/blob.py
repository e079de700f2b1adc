"""``weight.bin``: the blob file an ML Program keeps its large constants in.

The layout (``MILBlob/Blob/StorageFormat.hpp``), all little-endian and 64-byte aligned:

* a 64-byte storage header: ``uint32 count`` (number of blobs), ``uint32 version`` (2), reserved;
* per blob, at the offset a ``BlobFileValue`` names, a 64-byte metadata record: ``uint32
  sentinel`` (``0xDEADBEEF``), ``uint32 data type`` (``BlobDataType``), ``uint64 size in bytes``,
  ``uint64 data offset`` (where the data starts, 64-byte aligned, normally right after the
  record), ``uint64 padding bits`` (unused bits at the end of a sub-byte blob), four reserved
  ``uint64``;
* the data, sub-byte types packed least significant bit first.

:class:`BlobFile` reads one; :class:`BlobWriter` builds a new one, blob after blob.
"""

from __future__ import annotations

import attrs
import numpy as np

from ...errors import InvalidModelError
from .values import MilType, by_blob, decode_elements, encode_elements

__all__ = ["ALIGNMENT", "SENTINEL", "BlobFile", "BlobRecord", "BlobWriter"]

ALIGNMENT = 64
SENTINEL = 0xDEADBEEF
VERSION = 2
_HEADER = np.dtype([("count", "<u4"), ("version", "<u4"), ("reserved", "<u8", (7,))])
_RECORD = np.dtype(
    [("sentinel", "<u4"), ("dtype", "<u4"), ("size", "<u8"), ("offset", "<u8"), ("padding", "<u8"),
     ("reserved", "<u8", (4,))]
)


@attrs.frozen
class BlobRecord:
    """One blob's metadata record."""

    offset: int
    """Where the record starts (what a ``BlobFileValue`` names)."""
    kind: MilType
    """The element type of its data."""
    size: int
    """Bytes of data."""
    data_offset: int
    """Where the data starts."""
    padding_bits: int
    """Unused bits at the end of sub-byte data."""


class BlobFile:
    """A ``weight.bin`` file's bytes, read blob by blob.

    Args:
        data: The file's bytes.
        name: How messages name the file.

    Raises:
        InvalidModelError: The storage header is missing or not version 2.
    """

    def __init__(self, data: bytes, name: str = "weight.bin") -> None:
        self.data = data
        self.name = name
        if len(data) < _HEADER.itemsize:
            msg = f"{name} is {len(data)} bytes long; a blob file starts with a {_HEADER.itemsize}-byte header"
            raise InvalidModelError(msg)
        header = np.frombuffer(data, _HEADER, count=1)[0]
        if int(header["version"]) != VERSION:
            msg = f"{name}: expected blob storage version {VERSION} (got {int(header['version'])})"
            raise InvalidModelError(msg)
        self.count = int(header["count"])

    def record(self, offset: int) -> BlobRecord:
        """The metadata record at ``offset``.

        Raises:
            InvalidModelError: No valid record there (bad sentinel, data beyond the file's end).
        """
        where = f"{self.name} at offset {offset}"
        if offset % ALIGNMENT or offset < _HEADER.itemsize or offset + _RECORD.itemsize > len(self.data):
            msg = f"{where}: expected a 64-byte aligned blob record inside the file ({len(self.data)} bytes)"
            raise InvalidModelError(msg)
        raw = np.frombuffer(self.data, _RECORD, count=1, offset=offset)[0]
        if int(raw["sentinel"]) != SENTINEL:
            msg = f"{where}: expected the blob sentinel 0xDEADBEEF (got {int(raw['sentinel']):#x})"
            raise InvalidModelError(msg)
        start, size = int(raw["offset"]), int(raw["size"])
        if start % ALIGNMENT or start < offset + _RECORD.itemsize or start + size > len(self.data):
            msg = f"{where}: blob data at {start} ({size} bytes) lies outside the file or is not 64-byte aligned"
            raise InvalidModelError(msg)
        return BlobRecord(offset, by_blob(int(raw["dtype"])), size, start, int(raw["padding"]))

    def raw(self, offset: int) -> memoryview:
        """The data bytes of the blob whose record is at ``offset``."""
        rec = self.record(offset)
        return memoryview(self.data)[rec.data_offset : rec.data_offset + rec.size]

    def read(self, offset: int, kind: MilType, count: int) -> np.ndarray:
        """``count`` elements of ``kind`` from the blob at ``offset``, as a flat array.

        Raises:
            InvalidModelError: The blob holds another type or the wrong number of elements.
        """
        rec = self.record(offset)
        if rec.kind.blob != kind.blob:
            msg = f"{self.name} at offset {offset}: the program expects {kind.name} data, the blob holds {rec.kind.name}"
            raise InvalidModelError(msg)
        stored = (rec.size * 8 - rec.padding_bits) // kind.nbits
        if stored != count:
            msg = f"{self.name} at offset {offset}: expected {count} {kind.name} values (the blob holds {stored})"
            raise InvalidModelError(msg)
        view = memoryview(self.data)[rec.data_offset : rec.data_offset + rec.size]
        return decode_elements(view, kind, count)

    def offsets(self) -> list[int]:
        """Offsets of every record, walking the file from the header (each record's data follows it)."""
        found, offset = [], _HEADER.itemsize
        for _ in range(self.count):
            rec = self.record(offset)
            found.append(offset)
            offset = _aligned(rec.data_offset + rec.size)
        return found


class BlobWriter:
    """A new ``weight.bin``, built by appending blobs."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = _HEADER.itemsize
        self.count = 0

    def add(self, values: np.ndarray, kind: MilType) -> int:
        """Append ``values`` as a blob of ``kind``; return its record's offset."""
        data = encode_elements(values, kind)
        padding = len(data) * 8 - values.size * kind.nbits if kind.sub_byte else 0
        return self.add_raw(data, kind, padding)

    def add_raw(self, data: bytes | memoryview, kind: MilType, padding_bits: int = 0) -> int:
        """Append already encoded data as a blob of ``kind``; return its record's offset."""
        offset = _aligned(self._size)
        record = np.zeros(1, _RECORD)
        record["sentinel"], record["dtype"], record["size"] = SENTINEL, kind.blob, len(data)
        record["offset"], record["padding"] = offset + _RECORD.itemsize, padding_bits
        self._parts += [b"\0" * (offset - self._size), record.tobytes(), bytes(data)]
        self._size = offset + _RECORD.itemsize + len(data)
        self.count += 1
        return offset

    @property
    def size(self) -> int:
        """Bytes of the file so far."""
        return self._size

    def to_bytes(self) -> bytes:
        """The file's bytes: header, then every blob in the order added."""
        header = np.zeros(1, _HEADER)
        header["count"], header["version"] = self.count, VERSION
        return header.tobytes() + b"".join(self._parts)


def _aligned(offset: int) -> int:
    return -(-offset // ALIGNMENT) * ALIGNMENT
