"""The weight codec: bit packing, storage decoding and quantized weight values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlquant import _coreml
from mlquant.errors import InvalidModelError, QuantizationError
from mlquant.formats.neuralnetwork.codec import decode, encode, storage_of
from mlquant.weights import Float16Weights, LinearWeights, LUTWeights, pack_indices, unpack_indices


def _weight_params():
    from coremltools.proto import NeuralNetwork_pb2

    _coreml.coremltools()
    return NeuralNetwork_pb2.WeightParams()


class TestPacking:
    def test_known_answer_from_the_format(self) -> None:
        """4-bit [1, 2, 3] packs to 0x12 0x30, most significant bit first, zero-padded."""
        assert pack_indices(np.array([1, 2, 3]), 4) == b"\x12\x30"

    def test_one_bit_fills_bytes_high_to_low(self) -> None:
        """1-bit [1,0,1,1,0,0,0,0,1] packs to 0xB0 0x80."""
        assert pack_indices(np.array([1, 0, 1, 1, 0, 0, 0, 0, 1]), 1) == b"\xb0\x80"

    @pytest.mark.parametrize("nbits", range(1, 9))
    def test_matches_coremltools_packing(self, nbits: int) -> None:
        """Packing equals coremltools' own _convert_array_to_nbit_quantized_bytes at every width."""
        _coreml.coremltools()
        from coremltools.models.neural_network.quantization_utils import (
            _convert_array_to_nbit_quantized_bytes,
        )

        rng = np.random.default_rng(nbits)
        for count in (1, 7, 8, 9, 1001):
            values = rng.integers(0, 2**nbits, size=count).astype(np.uint8)
            expected = _convert_array_to_nbit_quantized_bytes(values, nbits).tobytes()
            if nbits == 8:
                expected = values.tobytes()
            assert pack_indices(values, nbits) == expected

    @given(st.integers(1, 8).flatmap(lambda n: st.tuples(st.just(n), arrays(np.uint8, st.integers(0, 300), elements=st.integers(0, 2**n - 1)))))
    def test_round_trip(self, case: tuple[int, np.ndarray]) -> None:
        """Unpacking what was packed gives the same indices back, for every width and length."""
        nbits, values = case
        packed = pack_indices(values, nbits)
        assert len(packed) == math.ceil(values.size * nbits / 8)
        np.testing.assert_array_equal(unpack_indices(packed, values.size, nbits), values)


class TestDecode:
    def test_float32_and_float16(self) -> None:
        """float32 values read as they are; float16 bytes read as half floats."""
        wp = _weight_params()
        wp.floatValue.extend([1.5, -2.0, 3.25, 0.0])
        np.testing.assert_array_equal(decode(wp, (2, 2), 0, "w"), [[1.5, -2.0], [3.25, 0.0]])
        wp = _weight_params()
        wp.float16Value = np.array([1.5, -2.0, 65504.0], dtype="<f2").tobytes()
        np.testing.assert_array_equal(decode(wp, (3,), None, "w"), [1.5, -2.0, 65504.0])
        assert storage_of(wp).kind == "float16"

    def test_per_channel_linear(self) -> None:
        """Per-channel linear weights dequantize as scale[c] * q + bias[c] along the channel axis."""
        wp = _weight_params()
        q = np.array([[0, 1, 2], [3, 2, 1]], dtype=np.uint8)
        wp.quantization.numberOfBits = 2
        wp.quantization.linearQuantization.scale.extend([0.5, 2.0])
        wp.quantization.linearQuantization.bias.extend([1.0, -1.0])
        wp.rawValue = pack_indices(q, 2)
        np.testing.assert_array_equal(decode(wp, (2, 3), 0, "w"), [[1.0, 1.5, 2.0], [5.0, 3.0, 1.0]])
        # the same indices along axis 1 of a (3, 2) deconvolution-style tensor
        np.testing.assert_array_equal(decode(wp, (3, 2), 1, "w"), [[1.0, 1.0], [2.0, 5.0], [2.0, 1.0]])

    def test_lookup_table(self) -> None:
        """Look-up-table weights read table[q]."""
        wp = _weight_params()
        wp.quantization.numberOfBits = 1
        wp.quantization.lookupTableQuantization.floatValue.extend([-0.25, 4.0])
        wp.rawValue = pack_indices(np.array([1, 0, 0, 1, 1]), 1)
        np.testing.assert_array_equal(decode(wp, (5,), None, "w"), [4.0, -0.25, -0.25, 4.0, 4.0])

    def test_wrong_count_names_the_weight(self) -> None:
        """A weight with too few values is an InvalidModelError that names it and both counts."""
        wp = _weight_params()
        wp.floatValue.extend([1.0, 2.0, 3.0])
        with pytest.raises(InvalidModelError, match=r"layer 'x' weights: the layer's shape \(2, 2\) needs 4 values \(got 3\)"):
            decode(wp, (2, 2), 0, "layer 'x' weights")

    def test_short_raw_value(self) -> None:
        """rawValue shorter than ceil(count * nbits / 8) is refused."""
        wp = _weight_params()
        wp.quantization.numberOfBits = 4
        wp.quantization.lookupTableQuantization.floatValue.extend(range(16))
        wp.rawValue = b"\x12"
        with pytest.raises(InvalidModelError, match="need 2 bytes"):
            decode(wp, (4,), None, "w")

    def test_empty_storage(self) -> None:
        """An empty WeightParams is an error, not an empty array."""
        with pytest.raises(InvalidModelError, match="empty storage"):
            decode(_weight_params(), (1,), None, "w")


class TestQuantizedWeights:
    def test_encode_decode_round_trip(self) -> None:
        """Every form decodes from its message to exactly what dequantize() gives."""
        rng = np.random.default_rng(0)
        forms = [
            Float16Weights(rng.normal(size=(4, 3))),
            LinearWeights(3, rng.integers(0, 8, (4, 3)), [0.1, 0.2, 0.3, 0.4], [0.0, -1.0, 1.0, 2.0], axis=0),
            LUTWeights(2, rng.integers(0, 4, (4, 3)), [-1.0, 0.0, 0.5, 2.0]),
        ]
        for weights in forms:
            wp = _weight_params()
            encode(wp, weights)
            np.testing.assert_array_equal(decode(wp, (4, 3), 0, "w"), weights.dequantize())

    def test_table_length_must_be_a_power_of_two(self) -> None:
        """A 2-bit table with 3 entries is refused."""
        with pytest.raises(QuantizationError, match="exactly 4 entries"):
            LUTWeights(2, np.zeros(5, np.uint8), [0.0, 1.0, 2.0])

    def test_indices_must_fit_the_width(self) -> None:
        """An index of 4 in 2-bit weights is refused."""
        with pytest.raises(QuantizationError, match="below 4"):
            LUTWeights(2, np.array([0, 4]), [0.0, 1.0, 2.0, 3.0])

    def test_arrays_are_read_only(self) -> None:
        """Quantized weights are frozen values: their arrays cannot be written."""
        weights = LUTWeights(1, np.array([0, 1]), [0.0, 1.0])
        with pytest.raises(ValueError):
            weights.indices[0] = 1
