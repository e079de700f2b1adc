"""weight.bin and MIL values: mlquant's codec writes the bytes coremltools' MILBlob writer writes."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlquant.errors import InvalidModelError
from mlquant.formats.mlprogram.blob import BlobFile, BlobWriter
from mlquant.formats.mlprogram.values import (
    by_name,
    decode_elements,
    encode_elements,
    immediate_value,
    tensor_value,
)

#: MIL types the blob file holds, with coremltools' writer method for each.
BLOB_TYPES = ["fp16", "fp32", "uint8", "int8", "int16", "uint16", "int32", "uint32", "int4", "uint1", "uint2",
              "uint3", "uint4", "uint6"]


def _values(name: str, count: int, seed: int) -> np.ndarray:
    kind = by_name(name)
    rng = np.random.default_rng(seed)
    if kind.dtype.kind == "f":
        return rng.standard_normal(count).astype(kind.dtype)
    if kind.sub_byte:
        low, high = (-(2 ** (kind.nbits - 1)), 2 ** (kind.nbits - 1)) if kind.signed else (0, 2**kind.nbits)
    else:
        info = np.iinfo(kind.dtype)
        low, high = max(int(info.min), -1000), min(int(info.max), 1000)
    return rng.integers(low, high, count).astype(kind.dtype)


def _coremltools_file(path: Path, arrays: list[tuple[np.ndarray, str]]) -> tuple[bytes, list[int]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from coremltools import libmilstoragepython as storage
    writer = storage._BlobStorageWriter(str(path), truncate_file=True)
    offsets = []
    for array, name in arrays:
        data = array.view(np.uint16) if name == "fp16" else array
        offsets.append(getattr(writer, f"write_{'float' if name == 'fp32' else name}_data")(np.ascontiguousarray(data)))
    del writer
    return path.read_bytes(), offsets


class TestBlobFile:
    def test_same_bytes_as_coremltools(self, tmp_path) -> None:
        """A file of every type, odd lengths included, is byte-identical to coremltools' MILBlob writer's."""
        arrays = [(_values(name, count, i), name) for i, name in enumerate(BLOB_TYPES) for count in (1, 7, 100)]
        expected, offsets = _coremltools_file(tmp_path / "w.bin", arrays)
        writer = BlobWriter()
        ours = [writer.add(array, by_name(name)) for array, name in arrays]
        assert ours == offsets
        assert writer.to_bytes() == expected

    def test_reads_what_coremltools_wrote(self, tmp_path) -> None:
        """Every blob coremltools writes reads back as the values written, and offsets() walks them all."""
        arrays = [(_values(name, 13, i), name) for i, name in enumerate(BLOB_TYPES)]
        data, offsets = _coremltools_file(tmp_path / "w.bin", arrays)
        blob = BlobFile(data)
        assert blob.offsets() == offsets and blob.count == len(arrays)
        for (array, name), offset in zip(arrays, offsets):
            assert np.array_equal(blob.read(offset, by_name(name), array.size), array)

    def test_sub_byte_values_are_packed_lsb_first(self) -> None:
        """4-bit [1, 2, 3] is 0x21 0x03 (MILBlob order, the opposite of NeuralNetwork rawValue)."""
        assert encode_elements(np.array([1, 2, 3], np.uint8), by_name("uint4")) == b"\x21\x03"
        assert encode_elements(np.array([-1, 2], np.int8), by_name("int4")) == b"\x2f"

    @pytest.mark.parametrize(("change", "message"), [
        (lambda d: d.__setitem__(slice(64, 68), b"\0\0\0\0"), "sentinel"),
        (lambda d: d.__setitem__(slice(80, 88), (10**6).to_bytes(8, "little")), "outside the file"),
    ])
    def test_broken_records_are_refused(self, change, message) -> None:
        """A record without its sentinel, or whose data runs past the file, is an InvalidModelError."""
        writer = BlobWriter()
        offset = writer.add(np.arange(20, dtype=np.float32), by_name("fp32"))
        data = bytearray(writer.to_bytes())
        change(data)
        with pytest.raises(InvalidModelError, match=message):
            BlobFile(bytes(data)).read(offset, by_name("fp32"), 20)

    def test_a_wrong_type_or_count_is_refused(self) -> None:
        """Reading a blob as another type or length is an error, never a reinterpretation."""
        writer = BlobWriter()
        offset = writer.add(np.arange(20, dtype=np.float32), by_name("fp32"))
        blob = BlobFile(writer.to_bytes())
        with pytest.raises(InvalidModelError, match="blob holds fp32"):
            blob.read(offset, by_name("fp16"), 40)
        with pytest.raises(InvalidModelError, match="expected 21"):
            blob.read(offset, by_name("fp32"), 21)


class TestValues:
    @settings(max_examples=60, deadline=None)
    @given(name=st.sampled_from(BLOB_TYPES), count=st.integers(0, 70), seed=st.integers(0, 2**16))
    def test_elements_round_trip(self, name, count, seed) -> None:
        """encode then decode gives the values back, for every type and length."""
        kind, values = by_name(name), _values(name, count, seed)
        assert np.array_equal(decode_elements(encode_elements(values, kind), kind, count), values)

    @settings(max_examples=40, deadline=None)
    @given(name=st.sampled_from([*BLOB_TYPES, "int64", "bool"]), shape=st.lists(st.integers(1, 4), max_size=3),
           seed=st.integers(0, 2**16))
    def test_immediate_values_round_trip(self, name, shape, seed) -> None:
        """An immediate tensor value reads back in its shape and dtype."""
        from coremltools.proto import MIL_pb2

        kind = by_name(name)
        count = int(np.prod(shape))
        values = (np.random.default_rng(seed).integers(0, 2, count).astype(bool) if name == "bool"
                  else _values("int32", count, seed).astype(np.int64) if name == "int64" else _values(name, count, seed))
        value = immediate_value(MIL_pb2.Value(), values.reshape(shape), kind)
        back = tensor_value(value, None)
        assert back.dtype == kind.dtype and back.shape == tuple(shape) and np.array_equal(back, values.reshape(shape))

    def test_immediate_fp16_uses_the_bytes_field_as_coremltools_does(self) -> None:
        """float16 and int8 immediates go to TensorValue.bytes, as coremltools' serializer writes them."""
        from coremltools.converters.mil.backend.mil.helper import create_tensor_value
        from coremltools.proto import MIL_pb2

        for name in ("fp16", "int8", "uint8", "fp32", "int32"):
            values = _values(name, 12, 3).reshape(3, 4)
            assert immediate_value(MIL_pb2.Value(), values, by_name(name)) == create_tensor_value(values)
