"""The reference runtime's data reorganization layers, against numpy, onnxruntime and the proto's examples."""

from __future__ import annotations

import numpy as np
import pytest

from . import _runtime_models as rm
from ._runtime_onnx import run_node

RNG = np.random.default_rng(0)
X = rm.normal(RNG, 2, 4, 3, 5)


def per_item(function, x=X):
    """Apply a function to each batch item and stack the results."""
    return np.stack([function(item) for item in x])


class TestConcat:
    """concat joins inputs along channels, or along the sequence axis."""

    def test_channels(self):
        """Three inputs join along C, in order."""
        y, z = rm.normal(RNG, 2, 2, 3, 5), rm.normal(RNG, 2, 1, 3, 5)
        got = rm.one_layer(
            lambda b: b.add_elementwise("cat", ["x", "y", "z"], "out", "CONCAT"), X, extra={"y": y, "z": z}
        )
        np.testing.assert_array_equal(got, np.concatenate([X, y, z], axis=1))

    def test_channels_last_and_first_inputs(self):
        """A convolution output (channels-last in memory) joins a plain input correctly."""
        w = rm.normal(RNG, 4, 3)

        def add(b):
            rm.add_convolution(b, w.reshape(1, 1, 4, 3))
            b.add_elementwise("cat", ["c", "x", "c"], "out", "CONCAT")

        got = rm.one_layer(add, X)
        conv = np.einsum("nchw,co->nohw", X, w)
        np.testing.assert_allclose(got, np.concatenate([conv, X, conv], axis=1), rtol=1e-5, atol=1e-6)

    def test_sequence(self):
        """sequenceConcat joins along the sequence axis (results are batch first: (B, S, C, H, W))."""

        def add(b):
            b.add_sequence_repeat("rep", 2, "x", "r")
            b.add_elementwise("cat", ["r", "x"], "out", "SEQUENCE_CONCAT")

        got = rm.one_layer(add, X)
        assert got.shape == (2, 3, 4, 3, 5)
        for s in range(3):
            np.testing.assert_array_equal(got[:, s], X)


class TestSplit:
    """split cuts the channels into equal parts, one per output."""

    def test_split(self):
        """Four channels split in two give channels 0-1 and 2-3."""
        got = rm.one_layer(lambda b: b.add_split("split", "x", ["a", "b"]), X, outputs=("a", "b"))
        np.testing.assert_array_equal(got["a"], X[:, :2])
        np.testing.assert_array_equal(got["b"], X[:, 2:])


class TestFlattenAndReshape:
    """flatten and reshape reorder values in channel-first or channel-last order."""

    @pytest.mark.parametrize(("mode", "order"), [(0, (0, 1, 2)), (1, (1, 2, 0))])
    def test_flatten(self, mode, order):
        """CHANNEL_FIRST flattens in C, H, W order; CHANNEL_LAST in H, W, C order."""
        got = rm.one_layer(lambda b: b.add_flatten("flat", mode, "x", "out"), X)
        assert got.shape == (2, 60, 1, 1)
        np.testing.assert_array_equal(got[:, :, 0, 0], per_item(lambda v: v.transpose(order).ravel()))

    def test_flatten_channels_last_memory(self):
        """Flattening a convolution output (channels-last in memory) still uses C, H, W order."""
        w = rm.normal(RNG, 4, 3)

        def add(b):
            rm.add_convolution(b, w.reshape(1, 1, 4, 3))
            b.add_flatten("flat", 0, "c", "out")

        got = rm.one_layer(add, X)
        np.testing.assert_allclose(
            got[:, :, 0, 0], np.einsum("nchw,co->nohw", X, w).reshape(2, -1), rtol=1e-5, atol=1e-6
        )

    @pytest.mark.parametrize("target", [(6, 2, 5), (1, 60, 1, 1), (15, 4, 1), (3, 2, 5, 2)])
    def test_reshape_channel_first(self, target):
        """CHANNEL_FIRST reshape keeps the values' C, H, W order; a 4-value target sets the sequence length."""
        got = rm.one_layer(lambda b: b.add_reshape("r", "x", "out", target, 0), X)
        shape = target if len(target) == 3 else target if target[0] > 1 else target[1:]
        np.testing.assert_array_equal(got, per_item(lambda v: v.reshape(shape)))

    @pytest.mark.parametrize("target", [(6, 2, 5), (2, 3, 2, 5)])
    def test_reshape_channel_last(self, target):
        """CHANNEL_LAST reshape reads values in H, W, C order and writes them in H_out, W_out, C_out order."""
        got = rm.one_layer(lambda b: b.add_reshape("r", "x", "out", target, 1), X)
        seq, (c, h, w) = (1, target) if len(target) == 3 else (target[0], target[1:])

        def expected(item):
            values = item.transpose(1, 2, 0).ravel()  # H, W, C order
            out = values.reshape(seq, h, w, c).transpose(0, 3, 1, 2)
            return out[0] if seq == 1 else out

        np.testing.assert_array_equal(got, per_item(expected))


class TestPermute:
    """permute reorders (Sequence, C, H, W) and keeps the batch axis."""

    @pytest.mark.parametrize("axes", [(0, 1, 2, 3), (0, 3, 1, 2), (0, 2, 3, 1), (0, 3, 2, 1), (3, 1, 2, 0)])
    def test_permute(self, axes):
        """Each item's [Seq, C, H, W] array is transposed by ``axes``."""
        got = rm.one_layer(lambda b: b.add_permute("p", axes, "x", "out"), X)

        def expected(item):
            out = item[np.newaxis].transpose(axes)
            return out[0] if out.shape[0] == 1 else out

        np.testing.assert_array_equal(got, per_item(expected))


class TestSlice:
    """slice takes [start, end) with a stride along channel, height or width, negative indices counting back."""

    @pytest.mark.parametrize(("axis", "index"), [("channel", 1), ("height", 2), ("width", 3)])
    @pytest.mark.parametrize(("start", "end", "stride"), [(0, -1, 1), (1, 3, 1), (0, 5, 2), (-3, -1, 1)])
    def test_slice(self, axis, index, start, end, stride):
        """The result equals Python slicing on that axis."""
        b = rm.builder({"x": X.shape[1:]})
        b.add_slice("s", "x", "out", axis, max(start, 0), end, stride)
        b.spec.neuralNetwork.layers[0].slice.startIndex = start  # the builder refuses negative starts
        got = rm.run(b.spec, {"x": X})["out"]
        key = [slice(None)] * 4
        key[index] = slice(start, end, stride)
        np.testing.assert_array_equal(got, X[tuple(key)])


class TestSequenceRepeat:
    """sequenceRepeat repeats the whole sequence."""

    def test_repeat(self):
        """Three repetitions of a length-1 sequence give three copies."""
        got = rm.one_layer(lambda b: b.add_sequence_repeat("rep", 3, "x", "out"), X)
        np.testing.assert_array_equal(got, np.stack([X, X, X], axis=1))


PROTO_EXAMPLE = np.arange(1, 17, dtype=np.float32).reshape(1, 8, 1, 2)


class TestReorganizeData:
    """reorganizeData moves values between channels and space as the proto's examples and ONNX say."""

    def test_depth_to_space_example(self):
        """DEPTH_TO_SPACE on the proto's [8, 1, 2] example gives its [2, 2, 4] answer."""
        got = rm.one_layer(
            lambda b: b.add_reorganize_data("r", "x", "out", "DEPTH_TO_SPACE", 2), PROTO_EXAMPLE
        )
        expected = [[[1, 5, 2, 6], [9, 13, 10, 14]], [[3, 7, 4, 8], [11, 15, 12, 16]]]
        np.testing.assert_array_equal(got[0], expected)

    def test_pixel_shuffle_example(self):
        """PIXEL_SHUFFLE on the proto's example gives its answer."""
        got = rm.one_layer(
            lambda b: b.add_reorganize_data("r", "x", "out", "PIXEL_SHUFFLE", 2), PROTO_EXAMPLE
        )
        expected = [[[1, 3, 2, 4], [5, 7, 6, 8]], [[9, 11, 10, 12], [13, 15, 14, 16]]]
        np.testing.assert_array_equal(got[0], expected)

    @pytest.mark.parametrize(
        ("mode", "op", "attributes"),
        [
            ("DEPTH_TO_SPACE", "DepthToSpace", {"mode": "DCR"}),
            ("PIXEL_SHUFFLE", "DepthToSpace", {"mode": "CRD"}),
            ("SPACE_TO_DEPTH", "SpaceToDepth", {}),
        ],
    )
    def test_matches_onnx(self, mode, op, attributes):
        """The three modes equal ONNX DepthToSpace (DCR, CRD) and SpaceToDepth with block size 3."""
        x = rm.normal(RNG, 2, 18, 3, 6) if op == "DepthToSpace" else rm.normal(RNG, 2, 2, 6, 9)
        got = rm.one_layer(lambda b: b.add_reorganize_data("r", "x", "out", mode, 3), x)
        np.testing.assert_array_equal(got, run_node(op, {"x": x}, {"blocksize": 3, **attributes})[0])
