"""The ML Program runtime's reorganization and indexing kernels, against numpy and onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from . import _mil
from ._runtime_onnx import run_node


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _one(tmp_path, make, *inputs):
    return _mil.run(_mil.one_op(tmp_path, make, list(inputs)), list(inputs))


@pytest.fixture
def x():
    return np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(1, 6, 4, 5)


class TestReorganize:
    @pytest.mark.parametrize("shape", [[1, 120], [1, -1], [0, 3, 0, -1], [1, 2, 3, 4, 5]])
    def test_reshape(self, tmp_path, x, shape):
        """reshape infers -1 and copies the input's dimension for 0."""
        (got,) = _one(tmp_path, lambda mb, a: mb.reshape(x=a, shape=shape), x)
        target = [x.shape[i] if n == 0 else n for i, n in enumerate(shape)]
        np.testing.assert_array_equal(got, x.reshape(target))

    def test_transpose_squeeze_expand_dims(self, tmp_path, x):
        """transpose permutes, squeeze drops the named size-1 axis, expand_dims adds axes."""

        def make(mb, a):
            t = mb.transpose(x=a, perm=[0, 2, 3, 1])
            e = mb.expand_dims(x=mb.squeeze(x=t, axes=[0]), axes=[1, -1])
            return mb.squeeze(x=e, axes=[1])

        (got,) = _one(tmp_path, make, x)
        np.testing.assert_array_equal(got, x.transpose(0, 2, 3, 1)[0, ..., np.newaxis])

    @pytest.mark.parametrize("interleave", [False, True])
    def test_concat(self, tmp_path, interleave):
        """concat joins along an axis; interleave alternates the inputs' slices."""
        rng = np.random.default_rng(0)
        a, b = _rand(rng, 1, 2, 3), _rand(rng, 1, 2, 3)
        (got,) = _one(tmp_path, lambda mb, p, q: mb.concat(values=[p, q], axis=1, interleave=interleave), a, b)
        want = np.stack([a, b], axis=2).reshape(1, 4, 3) if interleave else np.concatenate([a, b], axis=1)
        np.testing.assert_array_equal(got, want)

    def test_constant_class_token_joins_every_item_of_a_batch(self, tmp_path):
        """concat of a constant (1, 1, D) token with a (1, N, D) input repeats the token for each item of a batch."""
        token = np.float32([[[9.0, 8.0, 7.0, 6.0]]])
        x = np.zeros((1, 3, 4), np.float32)
        program = _mil.program(_mil.one_op(tmp_path, lambda mb, a: mb.concat(values=[token, a], axis=1), [x]))
        assert program.batched
        batch = np.random.default_rng(2).standard_normal((5, 3, 4)).astype(np.float32)
        (got,) = program.run({"x0": batch}).values()
        np.testing.assert_array_equal(got, np.concatenate([np.repeat(token, 5, axis=0), batch], axis=1))

    def test_split_and_stack(self, tmp_path, x):
        """split by sizes and by count; stack puts results on a new axis."""

        def make(mb, a):
            p, q = mb.split(x=a, split_sizes=[2, 4], axis=1)
            r, s = mb.split(x=q, num_splits=2, axis=1)
            return p, mb.stack(values=[r, s], axis=0)

        p, stacked = _one(tmp_path, make, x)
        np.testing.assert_array_equal(p, x[:, :2])
        np.testing.assert_array_equal(stacked, np.stack([x[:, 2:4], x[:, 4:]], axis=0))

    def test_tile_matches_onnx(self, tmp_path, x):
        """tile repeats along each axis as ONNX Tile does."""
        (got,) = _one(tmp_path, lambda mb, a: mb.tile(x=a, reps=[1, 2, 1, 3]), x)
        want = run_node("Tile", {"x": x}, constants={"reps": np.int64([1, 2, 1, 3])})[0]
        np.testing.assert_array_equal(got, want)

    def test_depth_to_space_round_trip(self, tmp_path):
        """space_to_depth then depth_to_space gives the input back; pixel_shuffle matches ONNX CRD."""
        x = np.arange(1 * 8 * 4 * 6, dtype=np.float32).reshape(1, 8, 4, 6)

        def make(mb, a):
            return mb.depth_to_space(x=mb.space_to_depth(x=a, block_size=2), block_size=2), mb.pixel_shuffle(
                x=a, upscale_factor=2
            )

        back, shuffled = _one(tmp_path, make, x)
        np.testing.assert_array_equal(back, x)
        want = run_node("DepthToSpace", {"x": x}, {"blocksize": 2, "mode": "CRD"})[0]
        np.testing.assert_array_equal(shuffled, want)


class TestIndexing:
    @pytest.mark.parametrize(
        ("begin", "end", "stride", "begin_mask", "end_mask", "squeeze_mask"),
        [
            ([0, 1, 0, 1], [1, 5, 4, 5], [1, 2, 1, 1], None, None, None),
            ([0, 0, 1, 0], [1, 6, 3, 5], [1, 1, 1, 2], [True, True, False, True], [True, False, False, True], None),
            ([0, 5, 0, 4], [1, 0, 4, 0], [1, -2, 1, -1], None, [False, True, False, True], None),
            ([0, 2, 0, 0], [1, 3, 4, 5], None, None, None, [False, True, False, False]),
            ([0, -3, 0, -2], [1, -1, 4, 5], None, None, None, None),
        ],
    )
    def test_slice_by_index(self, tmp_path, x, begin, end, stride, begin_mask, end_mask, squeeze_mask):
        """slice_by_index is numpy slicing with begin/end masks and squeeze_mask indexing."""
        params = {"begin": np.int32(begin), "end": np.int32(end)}
        for name, value in [("stride", stride), ("begin_mask", begin_mask), ("end_mask", end_mask), ("squeeze_mask", squeeze_mask)]:
            if value is not None:
                params[name] = np.asarray(value, dtype=np.int32 if name == "stride" else bool)
        (got,) = _one(tmp_path, lambda mb, a: mb.slice_by_index(x=a, **params), x)
        index = []
        for i in range(4):
            if squeeze_mask and squeeze_mask[i]:
                index.append(begin[i])
                continue
            start = None if begin_mask and begin_mask[i] else begin[i]
            stop = None if end_mask and end_mask[i] else end[i]
            index.append(slice(start, stop, stride[i] if stride else 1))
        np.testing.assert_array_equal(got, x[tuple(index)])

    def test_slice_by_size(self, tmp_path, x):
        """slice_by_size takes size values from begin, -1 meaning to the end."""
        (got,) = _one(tmp_path, lambda mb, a: mb.slice_by_size(x=a, begin=[0, 1, 2, 0], size=[1, 3, -1, 2]), x)
        np.testing.assert_array_equal(got, x[:, 1:4, 2:, 0:2])

    @pytest.mark.parametrize("axis", [1, -1])
    def test_gather_matches_onnx(self, tmp_path, x, axis):
        """gather with negative indices along an axis equals ONNX Gather."""
        indices = np.int32([[0, -1], [2, 1]])
        (got,) = _one(tmp_path, lambda mb, a: mb.gather(x=a, indices=indices, axis=axis), x)
        want = run_node("Gather", {"x": x}, {"axis": axis}, constants={"i": indices.astype(np.int64)})[0]
        np.testing.assert_array_equal(got, want)

    def test_gather_along_axis(self, tmp_path, x):
        """gather_along_axis equals numpy's take_along_axis."""
        indices = np.random.default_rng(1).integers(0, 4, size=(1, 6, 2, 5)).astype(np.int32)
        (got,) = _one(tmp_path, lambda mb, a: mb.gather_along_axis(x=a, indices=indices, axis=2), x)
        np.testing.assert_array_equal(got, np.take_along_axis(x, indices, axis=2))

    @pytest.mark.parametrize(("mode", "onnx_mode"), [("constant", "constant"), ("reflect", "reflect"), ("replicate", "edge")])
    def test_pad_matches_onnx(self, tmp_path, x, mode, onnx_mode):
        """pad pads the last axes in every mode as ONNX Pad does."""
        amounts = [1, 2, 2, 1]
        extra = {"constant_val": np.float32(-3.0)} if mode == "constant" else {}
        (got,) = _one(tmp_path, lambda mb, a: mb.pad(x=a, pad=np.int32(amounts), mode=mode, **extra), x)
        pads = np.int64([0, 0, 1, 2, 0, 0, 2, 1])
        constants = {"pads": pads} | ({"value": np.float32(-3.0)} if mode == "constant" else {})
        want = run_node("Pad", {"x": x}, {"mode": onnx_mode}, constants=constants)[0]
        np.testing.assert_array_equal(got, want)


class TestShapeOps:
    def test_shape_fill_and_cast(self, tmp_path, x):
        """shape gives int32 dimensions, fill a tensor of them, cast converts the dtype, identity passes x."""

        def make(mb, a):
            s = mb.shape(x=a)
            cast = mb.cast(x=mb.mul(x=a, y=np.float32(0.5)), dtype="int32")
            return s, mb.fill(shape=s, value=2.5), cast, mb.identity(x=a)

        s, filled, cast, same = _one(tmp_path, make, x)
        np.testing.assert_array_equal(same, x)
        np.testing.assert_array_equal(s, np.int32(x.shape))
        assert s.dtype == np.int32
        np.testing.assert_array_equal(filled, np.full(x.shape, 2.5, np.float32))
        assert cast.dtype == np.int32
        np.testing.assert_array_equal(cast, (x * 0.5).astype(np.int32))


class TestOrdering:
    @pytest.mark.parametrize("ascending", [False, True])
    def test_topk_and_argsort(self, tmp_path, ascending):
        """topk gives the k largest (or smallest) values and indices, sorted; argsort orders the axis."""
        x = np.random.default_rng(3).permutation(24).astype(np.float32).reshape(1, 4, 6)

        def make(mb, a):
            values, indices = mb.topk(x=a, k=3, axis=-1, ascending=ascending)
            return values, indices, mb.argsort(x=a, axis=1, ascending=ascending)

        values, indices, order = _one(tmp_path, make, x)
        ranked = np.argsort(x if ascending else -x, axis=-1)[..., :3]
        np.testing.assert_array_equal(indices, ranked)
        np.testing.assert_array_equal(values, np.take_along_axis(x, ranked, axis=-1))
        np.testing.assert_array_equal(order, np.argsort(x if ascending else -x, axis=1))

    @pytest.mark.parametrize(("exclusive", "reverse"), [(False, False), (True, False), (False, True), (True, True)])
    def test_cumsum(self, tmp_path, exclusive, reverse):
        """cumsum along an axis, exclusive and reversed, as ONNX CumSum computes it."""
        x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
        (got,) = _one(tmp_path, lambda mb, a: mb.cumsum(x=a, axis=2, exclusive=exclusive, reverse=reverse), x)
        want = run_node(
            "CumSum", {"x": x}, {"exclusive": int(exclusive), "reverse": int(reverse)}, constants={"axis": np.int64(2)}
        )[0]
        np.testing.assert_array_equal(got, want)

    def test_reverse_band_part_fill_like(self, tmp_path):
        """reverse flips the named axes, band_part keeps a band of the last two axes, fill_like copies a shape."""
        x = np.arange(1 * 4 * 5, dtype=np.float32).reshape(1, 4, 5)

        def make(mb, a):
            return mb.reverse(x=a, axes=[-1]), mb.band_part(x=a, lower=1, upper=0), mb.fill_like(ref_tensor=a, value=3.0)

        flipped, band, filled = _one(tmp_path, make, x)
        np.testing.assert_array_equal(flipped, x[..., ::-1])
        np.testing.assert_array_equal(band, np.tril(x) - np.tril(x, -2))
        np.testing.assert_array_equal(filled, np.full_like(x, 3.0))
