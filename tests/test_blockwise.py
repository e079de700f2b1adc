"""The blockwise quantized forms: grouped look-up tables and affine weights with zero points."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mlquant
from mlquant.errors import QuantizationError
from mlquant.weights import AffineWeights, GroupedLUTWeights
from mlquant.weights.blockwise import expand_blocks


class TestGroupedLUTWeights:
    def test_each_group_of_channels_reads_its_own_table(self) -> None:
        """Channels 0-1 read table 0 and channel 2 reads table 1 when groups hold two channels."""
        weights = GroupedLUTWeights(2, np.array([[0, 1], [2, 3], [3, 0]]), [[0, 1, 2, 3], [10, 11, 12, 13]], 0, 2)
        expected = np.array([[0, 1], [2, 3], [13, 10]], dtype=np.float32)
        np.testing.assert_array_equal(weights.dequantize(), expected)
        assert weights.dequantize().dtype == np.float32
        assert weights.groups == 2

    def test_groups_along_a_later_axis(self) -> None:
        """With axis 1, column c reads table c // group_size."""
        weights = GroupedLUTWeights(1, np.array([[0, 1, 1], [1, 0, 0]]), [[-1, 1], [-2, 2], [-3, 3]], 1, 1)
        np.testing.assert_array_equal(weights.dequantize(), [[-1, 2, 3], [1, -2, -3]])

    def test_nbytes_counts_packed_indices_and_float32_tables(self) -> None:
        """Twelve 4-bit indices take 6 bytes and two 16-entry tables 128."""
        weights = GroupedLUTWeights(4, np.zeros((4, 3), np.uint8), np.zeros((2, 16)), 0, 2)
        assert weights.nbytes == 6 + 128

    def test_table_count_must_match_the_groups(self) -> None:
        """Four channels in groups of two need two tables, and the message says so."""
        with pytest.raises(QuantizationError, match=r"need tables of shape \(2, 4\) \(got \(3, 4\)\)"):
            GroupedLUTWeights(2, np.zeros((4, 2), np.uint8), np.zeros((3, 4)), 0, 2)

    def test_indices_must_fit_the_width(self) -> None:
        """An index of 4 is out of range for 2 bits."""
        with pytest.raises(QuantizationError, match="below 4"):
            GroupedLUTWeights(2, np.array([[4]]), np.zeros((1, 4)), 0, 1)

    def test_axis_must_exist(self) -> None:
        """A rank-2 tensor has no axis 2."""
        with pytest.raises(QuantizationError, match="channel axis 0-1"):
            GroupedLUTWeights(2, np.zeros((2, 2), np.uint8), np.zeros((1, 4)), 2, 2)

    def test_tables_must_be_finite(self) -> None:
        """NaN in a table is refused."""
        with pytest.raises(QuantizationError, match="finite"):
            GroupedLUTWeights(1, np.zeros((1, 2), np.uint8), [[0, np.nan]], 0, 1)

    def test_arrays_are_read_only(self) -> None:
        """Neither the indices nor the tables can be changed after the fact."""
        weights = GroupedLUTWeights(1, np.zeros((2, 2), np.uint8), np.zeros((1, 2)), 0, 2)
        with pytest.raises(ValueError, match="read-only"):
            weights.tables[0, 0] = 1
        with pytest.raises(ValueError, match="read-only"):
            weights.indices[0, 0] = 1


class TestAffineWeights:
    def test_per_channel_hand_computed(self) -> None:
        """scale * (data - offset), one pair per row: row 0 is 1*(q-1), row 1 is 0.5*(q-2)."""
        weights = AffineWeights(4, np.array([[0, 3], [15, 1]]), [[1.0], [0.5]], [[1.0], [2.0]], signed=False)
        np.testing.assert_array_equal(weights.dequantize(), np.array([[-1, 2], [6.5, -0.5]], np.float32))
        assert weights.block_shape == (1, 2)
        assert weights.data.dtype == np.uint8

    def test_per_block_hand_computed(self) -> None:
        """Blocks of two along the input axis each use their own scale."""
        data = np.array([[-4, -3, -2, -1], [0, 1, 2, 3]])
        weights = AffineWeights(4, data, [[1, 2], [3, 4]], [[0, 0], [1, -1]], signed=True)
        expected = np.array([[-4, -3, -4, -2], [-3, 0, 12, 16]], np.float32)
        np.testing.assert_array_equal(weights.dequantize(), expected)
        assert weights.data.dtype == np.int8
        assert weights.block_shape == (1, 2)

    def test_per_tensor(self) -> None:
        """An all-ones scale shape is one pair for the whole tensor."""
        weights = AffineWeights(8, np.full((2, 3, 1, 1), 130), np.full((1, 1, 1, 1), 0.25), np.full((1, 1, 1, 1), 128.0), signed=False)
        np.testing.assert_array_equal(weights.dequantize(), np.full((2, 3, 1, 1), 0.5, np.float32))

    def test_nbytes(self) -> None:
        """Eight 4-bit values (4 bytes), two float32 scales (8) and two 4-bit zero points (1)."""
        weights = AffineWeights(4, np.zeros((2, 4), np.uint8), np.ones((2, 1)), np.zeros((2, 1)), signed=False)
        assert weights.nbytes == 4 + 8 + 1

    @pytest.mark.parametrize(
        ("nbits", "signed", "data", "message"),
        [
            (4, True, [[8]], r"4-bit signed affine data must lie in -8..7 \(got 8..8\)"),
            (4, False, [[-1]], r"4-bit unsigned affine data must lie in 0..15"),
            (8, False, [[256]], r"0..255"),
            (9, False, [[0]], r"1-8 bits \(got 9\)"),
        ],
    )
    def test_data_range(self, nbits: int, signed: bool, data: list[list[int]], message: str) -> None:
        """Data outside the width's signed or unsigned range is refused with the range in the message."""
        with pytest.raises(QuantizationError, match=message):
            AffineWeights(nbits, np.array(data), np.ones((1, 1)), np.zeros((1, 1)), signed=signed)

    def test_float_data_refused(self) -> None:
        """The stored data must be integers."""
        with pytest.raises(QuantizationError, match="integer data"):
            AffineWeights(8, np.zeros((1, 1), np.float32), np.ones((1, 1)), np.zeros((1, 1)), signed=True)

    def test_scale_must_divide_the_data(self) -> None:
        """A scale dimension that does not divide the data's is refused, naming both shapes."""
        with pytest.raises(QuantizationError, match=r"\(2, 6\) \(got scale shape \(2, 4\)\)"):
            AffineWeights(4, np.zeros((2, 6), np.uint8), np.ones((2, 4)), np.zeros((2, 4)), signed=False)

    def test_scale_must_have_the_data_rank(self) -> None:
        """A flat per-channel scale is refused: the rank carries the layout."""
        with pytest.raises(QuantizationError, match="rank 2"):
            AffineWeights(4, np.zeros((2, 6), np.uint8), np.ones(2), np.zeros(2), signed=False)

    def test_offset_shape(self) -> None:
        """The offset must have the scale's shape."""
        with pytest.raises(QuantizationError, match="offset must have the scale's shape"):
            AffineWeights(4, np.zeros((2, 6), np.uint8), np.ones((2, 1)), np.zeros((1, 1)), signed=False)

    def test_arrays_are_read_only(self) -> None:
        """Data, scale and offset cannot be changed after the fact."""
        weights = AffineWeights(4, np.zeros((2, 2), np.uint8), np.ones((2, 1)), np.zeros((2, 1)), signed=False)
        for array in (weights.data, weights.scale, weights.offset):
            with pytest.raises(ValueError, match="read-only"):
                array[0, 0] = 1

    def test_exported_at_the_top(self) -> None:
        """Both new forms are public names of mlquant."""
        assert mlquant.AffineWeights is AffineWeights
        assert mlquant.GroupedLUTWeights is GroupedLUTWeights


class TestExpandBlocks:
    @given(
        st.lists(st.integers(1, 3), min_size=1, max_size=3),
        st.lists(st.integers(1, 3), min_size=3, max_size=3),
    )
    def test_matches_repeat(self, blocks: list[int], counts: list[int]) -> None:
        """Expanding equals np.repeat of every block parameter along every dimension."""
        shape = tuple(counts[: len(blocks)])
        values = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
        full = tuple(s * b for s, b in zip(shape, blocks, strict=True))
        expected = values
        for axis, block in enumerate(blocks):
            expected = np.repeat(expected, block, axis=axis)
        np.testing.assert_array_equal(expand_blocks(values, full), expected)
