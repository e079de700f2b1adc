"""The reference runtime's padding, crop and upsample layers, against onnxruntime and the proto's examples."""

from __future__ import annotations

import numpy as np
import pytest

from . import _runtime_models as rm
from ._runtime_onnx import run_node

RNG = np.random.default_rng(0)
X = rm.normal(RNG, 2, 3, 4, 5)
PROTO_INPUT = np.arange(1, 13, dtype=np.float32).reshape(1, 1, 3, 4)
#: NeuralNetwork.proto's answers for padding its 3x4 example by two rows on top and two columns on the left.
PROTO_ANSWERS = {
    "constant": [[0] * 6, [0] * 6, [0, 0, 1, 2, 3, 4], [0, 0, 5, 6, 7, 8], [0, 0, 9, 10, 11, 12]],
    "reflection": [[11, 10, 9, 10, 11, 12], [7, 6, 5, 6, 7, 8], [3, 2, 1, 2, 3, 4], [7, 6, 5, 6, 7, 8],
                   [11, 10, 9, 10, 11, 12]],
    "replication": [[1, 1, 1, 2, 3, 4]] * 3 + [[5, 5, 5, 6, 7, 8], [9, 9, 9, 10, 11, 12]],
}


def padding(x, kind, top=0, bottom=0, left=0, right=0, value=0.0):
    """Run one padding layer."""
    return rm.one_layer(lambda b: b.add_padding("pad", left, right, top, bottom, value, "x", "out", kind), x)


class TestPadding:
    """padding fills, reflects or replicates the border of height and width."""

    @pytest.mark.parametrize("kind", sorted(PROTO_ANSWERS))
    def test_proto_examples(self, kind):
        """Padding top=2, left=2 of the proto's 3x4 example gives its three documented answers."""
        np.testing.assert_array_equal(padding(PROTO_INPUT, kind, top=2, left=2)[0, 0], PROTO_ANSWERS[kind])

    @pytest.mark.parametrize(
        ("kind", "mode"), [("constant", "constant"), ("reflection", "reflect"), ("replication", "edge")]
    )
    def test_matches_onnx(self, kind, mode):
        """Asymmetric padding on every side matches ONNX Pad."""
        got = padding(X, kind, top=1, bottom=2, left=3, right=1, value=-1.5)
        pads = np.array([0, 0, 1, 3, 0, 0, 2, 1], dtype=np.int64)
        constants = {"pads": pads} | ({"value": np.float32(-1.5)} if kind == "constant" else {})
        expected = run_node("Pad", {"x": X}, {"mode": mode}, constants=constants)[0]
        np.testing.assert_array_equal(got, expected)


class TestCrop:
    """crop cuts amounts off the borders, or a window the size of a second input at an offset."""

    def test_amounts(self):
        """One input: top, bottom, left and right amounts are cut off."""
        got = rm.one_layer(lambda b: b.add_crop("crop", 1, 2, 1, 0, [], ["x"], "out"), X)
        np.testing.assert_array_equal(got, X[:, :, 1:4, 1:3])

    def test_reference_input(self):
        """Two inputs: the first is cut to the second's height and width, starting at offset [H, W]."""
        reference = np.zeros((2, 3, 2, 3), np.float32)
        got = rm.one_layer(
            lambda b: b.add_crop("crop", 0, 0, 0, 0, [1, 2], ["x", "ref"], "out"), X, extra={"ref": reference}
        )
        np.testing.assert_array_equal(got, X[:, :, 1:3, 2:5])


def upsample(x, fh, fw, mode="NN", linear="DEFAULT"):
    """Run one upsample layer."""
    return rm.one_layer(lambda b: b.add_upsample("up", fh, fw, "x", "out", mode, linear), x)


def resize(x, sizes, mode, transform):
    """ONNX Resize to ``sizes`` (H, W)."""
    attributes = {"mode": mode, "coordinate_transformation_mode": transform}
    if mode == "nearest":
        attributes["nearest_mode"] = "floor"
    constants = {"sizes": np.array([*x.shape[:2], *sizes], dtype=np.int64)}
    return run_node("Resize", {"x": x}, attributes, constants=constants, order=["x", "", "", "sizes"])[0]


class TestUpsample:
    """upsample repeats pixels or interpolates them bilinearly on the grid its mode gives."""

    def test_nearest(self):
        """Nearest neighbour repeats each pixel factor times along each axis."""
        got = upsample(X, 2, 3)
        np.testing.assert_array_equal(got, X.repeat(2, axis=2).repeat(3, axis=3))
        np.testing.assert_array_equal(got, resize(X, (8, 15), "nearest", "asymmetric"))

    def test_bilinear_coremltools_example(self):
        """coremltools' own example: [1, 2, 3] upsampled 3x along width."""
        got = upsample(np.array([[[[1.0, 2.0, 3.0]]]], np.float32), 2, 3, "BILINEAR")
        row = [1, 4 / 3, 5 / 3, 2, 7 / 3, 8 / 3, 3, 3, 3]
        np.testing.assert_allclose(got[0, 0], [row, row], rtol=1e-6)

    @pytest.mark.parametrize(
        ("linear", "transform"),
        [
            ("DEFAULT", "asymmetric"),
            ("ALIGN_CORNERS_TRUE", "align_corners"),
            ("ALIGN_CORNERS_FALSE", "half_pixel"),
        ],
    )
    def test_bilinear_modes(self, linear, transform):
        """DEFAULT, ALIGN_CORNERS_TRUE and ALIGN_CORNERS_FALSE match ONNX Resize's asymmetric, align_corners
        and half_pixel coordinate transforms."""
        got = upsample(X, 3, 2, "BILINEAR", linear)
        np.testing.assert_allclose(got, resize(X, (12, 10), "linear", transform), rtol=1e-5, atol=1e-6)

    @pytest.mark.parametrize(
        ("linear", "transform"),
        [("ALIGN_CORNERS_TRUE", "align_corners"), ("ALIGN_CORNERS_FALSE", "half_pixel")],
    )
    def test_fractional_factors(self, linear, transform):
        """Fractional factors give floor(size * factor) outputs, sampled like ONNX Resize to that size."""
        got = upsample(X, 1.5, 2.5, "BILINEAR", linear)
        assert got.shape == (2, 3, 6, 12)
        np.testing.assert_allclose(got, resize(X, (6, 12), "linear", transform), rtol=1e-5, atol=1e-6)
