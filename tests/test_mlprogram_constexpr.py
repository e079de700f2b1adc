"""Constexpr decoding beyond what coremltools.optimize writes: random tables, groups, vectors and blocks,
against the ops' own ``decompress`` functions in coremltools."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mlquant.formats.mlprogram.constexpr import lut_lookup, shift_scale


@st.composite
def _lut_case(draw):  # type: ignore[no-untyped-def]
    rank = draw(st.integers(1, 3))
    groups = [draw(st.integers(1, 3)) for _ in range(rank)]
    sizes = [g * draw(st.integers(1, 3)) for g in groups]
    nbits = draw(st.sampled_from([1, 2, 3, 4]))
    vector = draw(st.sampled_from([1, 1, 2, 3]))
    axis = draw(st.integers(0, rank - 1)) if vector > 1 else None
    seed = draw(st.integers(0, 2**16))
    dtype = draw(st.sampled_from([np.float16, np.float32, np.int8]))
    return sizes, groups, nbits, vector, axis, seed, dtype


@st.composite
def _block_case(draw):  # type: ignore[no-untyped-def]
    rank = draw(st.integers(1, 3))
    blocks = [draw(st.integers(1, 3)) for _ in range(rank)]
    shape = [b * draw(st.integers(1, 3)) for b in blocks]
    scale_shape = [n // b for n, b in zip(shape, blocks)]
    data_dtype = draw(st.sampled_from([np.int8, np.uint8]))
    scale_dtype = draw(st.sampled_from([np.float16, np.float32]))
    offset = draw(st.sampled_from(["none", "int", "float"]))
    return shape, scale_shape, data_dtype, scale_dtype, offset, draw(st.integers(0, 2**16))


class TestAgainstCoremltoolsDecompress:
    @settings(max_examples=80, deadline=None)
    @given(case=_lut_case())
    def test_lut_to_dense_ios18(self, case) -> None:
        """Per-block tables of scalars or vectors give what iOS18 constexpr_lut_to_dense.decompress gives."""
        from coremltools.converters.mil.mil.ops.defs.iOS18.compression import constexpr_lut_to_dense

        sizes, groups, nbits, vector, axis, seed, dtype = case
        rng = np.random.default_rng(seed)
        indices = rng.integers(0, 2**nbits, sizes).astype(np.uint8)
        lut = (rng.standard_normal([*groups, 2**nbits, vector]) * 50).astype(dtype)
        expected = constexpr_lut_to_dense.decompress(indices, lut, None if axis is None else np.int32(axis))
        ours = lut_lookup(indices, lut, axis)
        assert ours.dtype == expected.dtype and np.array_equal(ours, expected)

    @settings(max_examples=80, deadline=None)
    @given(case=_block_case())
    def test_blockwise_shift_scale(self, case) -> None:
        """Blockwise scales and offsets give what constexpr_blockwise_shift_scale.decompress gives, dtype included."""
        from coremltools.converters.mil.mil.ops.defs.iOS18.compression import constexpr_blockwise_shift_scale

        shape, scale_shape, data_dtype, scale_dtype, kind, seed = case
        rng = np.random.default_rng(seed)
        info = np.iinfo(data_dtype)
        data = rng.integers(int(info.min), int(info.max) + 1, shape).astype(data_dtype)
        scale = (rng.random(scale_shape) + 0.01).astype(scale_dtype)
        offset = None
        if kind == "int":
            offset = rng.integers(int(info.min), int(info.max) + 1, scale_shape).astype(data_dtype)
        elif kind == "float":
            offset = rng.standard_normal(scale_shape).astype(scale_dtype)
        expected = constexpr_blockwise_shift_scale.decompress(data, scale, offset)
        ours = shift_scale(data, scale, offset)
        assert ours.dtype == expected.dtype and np.array_equal(ours, expected)
