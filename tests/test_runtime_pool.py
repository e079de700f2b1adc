"""The reference runtime's pooling, against onnxruntime and a hand-written Caffe-style loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from . import _runtime_models as rm
from ._geometry import SEEDS, geometry, pairs
from ._runtime_onnx import run_node

TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


def pool_model(
    x,
    kind,
    kernel,
    stride,
    padding="VALID",
    pads=(0, 0, 0, 0),
    exclude=True,
    is_global=False,
    asymmetry="BOTTOM_RIGHT_HEAVY",
):
    """Run one pooling layer in the runtime (``pads`` as top, bottom, left, right)."""

    def add(b):
        b.add_pooling("pool", *kernel, *stride, kind, padding, "x", "out", exclude_pad_area=exclude,
                      is_global=is_global, same_padding_asymmetry_mode=asymmetry, **rm.padding_amounts(pads))

    return rm.one_layer(add, x)


def pool_onnx(op, x, kernel, stride, pads=(0, 0, 0, 0), **attributes):
    """onnxruntime's ``op`` pooling of ``kernel`` windows (``pads`` as top, bottom, left, right)."""
    top, bottom, left, right = pads
    attributes |= {"kernel_shape": list(kernel), "strides": list(stride), "pads": [top, left, bottom, right]}
    return run_node(op, {"x": x}, attributes)[0]


def caffe_pool(x, kind, k, s, p, exclude):
    """Caffe's ceil-mode pooling, written out with loops (the includeLastPixel semantics)."""
    n, c, h, w = x.shape

    def size(length):
        out = math.ceil((length + 2 * p - k) / s) + 1
        return out - 1 if (out - 1) * s >= length + p else out  # no window starting past the end

    oh, ow = size(h), size(w)
    out = np.zeros((n, c, oh, ow), np.float32)
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * s - p, j * s - p
            he, we = min(hs + k, h + p), min(ws + k, w + p)
            area = (he - hs) * (we - ws)
            region = x[:, :, max(hs, 0) : min(he, h), max(ws, 0) : min(we, w)]
            if kind == "MAX":
                out[:, :, i, j] = region.max(axis=(2, 3))
            else:
                count = region.shape[2] * region.shape[3] if exclude else area
                out[:, :, i, j] = region.sum(axis=(2, 3)) / count
    return out


class TestWindowedPooling:
    """Max, average and L2 pooling match onnxruntime for valid and same padding."""

    @pytest.mark.parametrize("size", [(9, 9), (10, 7), (6, 11)])
    @pytest.mark.parametrize(
        ("kernel", "stride", "pads"),
        [
            ((3, 3), (2, 2), (0, 0, 0, 0)),
            ((2, 2), (2, 2), (0, 0, 0, 0)),
            ((3, 2), (1, 2), (1, 2, 0, 1)),
            ((3, 3), (2, 2), (1, 1, 1, 1)),
        ],
    )
    def test_max_valid(self, size, kernel, stride, pads):
        """Max pooling over valid windows (with padding amounts, which never win) equals ONNX MaxPool."""
        x = rm.normal(np.random.default_rng(1), 2, 3, *size) - 5.0  # all negative: padding must not win
        got = pool_model(x, "MAX", kernel, stride, pads=pads)
        np.testing.assert_array_equal(got, pool_onnx("MaxPool", x, kernel, stride, pads))

    @pytest.mark.parametrize("exclude", [True, False])
    @pytest.mark.parametrize(
        ("kernel", "stride", "pads"),
        [((3, 3), (2, 2), (1, 1, 1, 1)), ((2, 3), (1, 2), (1, 0, 2, 1)), ((3, 3), (3, 3), (0, 0, 0, 0))],
    )
    def test_average_valid(self, exclude, kernel, stride, pads):
        """Average pooling divides by the whole window, or by its cells inside the input (avgPoolExcludePadding)."""
        x = rm.normal(np.random.default_rng(2), 2, 3, 8, 9)
        got = pool_model(x, "AVERAGE", kernel, stride, pads=pads, exclude=exclude)
        expected = pool_onnx("AveragePool", x, kernel, stride, pads, count_include_pad=int(not exclude))
        np.testing.assert_allclose(got, expected, **TOLERANCE)

    @pytest.mark.parametrize("kind", ["MAX", "AVERAGE"])
    @pytest.mark.parametrize("size", [(8, 8), (7, 9)])
    @pytest.mark.parametrize(
        ("asymmetry", "auto_pad"), [("BOTTOM_RIGHT_HEAVY", "SAME_UPPER"), ("TOP_LEFT_HEAVY", "SAME_LOWER")]
    )
    def test_same(self, kind, size, asymmetry, auto_pad):
        """Same pooling gives ceil(H / stride) outputs with the odd padding row after or before."""
        x = rm.normal(np.random.default_rng(3), 1, 4, *size)
        got = pool_model(x, kind, (3, 2), (2, 2), padding="SAME", exclude=False, asymmetry=asymmetry)
        attributes = {"kernel_shape": [3, 2], "strides": [2, 2], "auto_pad": auto_pad}
        if kind == "AVERAGE":
            attributes["count_include_pad"] = 1
        expected = run_node(f"{kind.title()}Pool", {"x": x}, attributes)[0]
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, **TOLERANCE)

    @pytest.mark.parametrize(
        ("kernel", "stride", "pads"), [((2, 2), (2, 2), (0, 0, 0, 0)), ((3, 3), (1, 2), (1, 1, 0, 2))]
    )
    def test_l2(self, kernel, stride, pads):
        """L2 pooling is the square root of the sum of squares in each window (ONNX LpPool, p=2)."""
        x = rm.normal(np.random.default_rng(4), 2, 3, 7, 8)
        got = pool_model(x, "L2", kernel, stride, pads=pads)
        np.testing.assert_allclose(got, pool_onnx("LpPool", x, kernel, stride, pads, p=2), **TOLERANCE)


class TestIncludeLastPixel:
    """includeLastPixel is Caffe's ceil-mode pooling: the last window may overhang the input."""

    @pytest.mark.parametrize("size", [(13, 13), (14, 11), (113, 113), (56, 55)])
    @pytest.mark.parametrize("padding", [0, 1])
    def test_max_matches_ceil_mode(self, size, padding):
        """Max pooling with includeLastPixel equals ONNX MaxPool with ceil_mode and symmetric pads."""
        x = rm.normal(np.random.default_rng(5), 1, 3, *size)
        got = pool_model(x, "MAX", (3, 3), (2, 2), padding="INCLUDE_LAST_PIXEL", pads=(padding,) * 4)
        np.testing.assert_array_equal(got, pool_onnx("MaxPool", x, (3, 3), (2, 2), (padding,) * 4, ceil_mode=1))
        np.testing.assert_array_equal(got, caffe_pool(x, "MAX", 3, 2, padding, True))

    @pytest.mark.parametrize("size", [(12, 12), (9, 10)])
    @pytest.mark.parametrize(("kernel", "stride", "padding"), [(3, 2, 0), (3, 2, 1), (4, 3, 2), (2, 2, 1)])
    @pytest.mark.parametrize("exclude", [True, False])
    def test_average_matches_caffe(self, size, kernel, stride, padding, exclude):
        """Average pooling divides by the window's cells inside the padded input (or the input itself)."""
        x = rm.normal(np.random.default_rng(6), 2, 2, *size)
        got = pool_model(
            x,
            "AVERAGE",
            (kernel, kernel),
            (stride, stride),
            padding="INCLUDE_LAST_PIXEL",
            pads=(padding,) * 4,
            exclude=exclude,
        )
        np.testing.assert_allclose(
            got, caffe_pool(x, "AVERAGE", kernel, stride, padding, exclude), **TOLERANCE
        )

    def test_without_padding_matches_onnx_average(self):
        """Without padding amounts, ceil-mode average pooling equals ONNX's (overhang cells not counted)."""
        x = rm.normal(np.random.default_rng(7), 1, 3, 10, 11)
        got = pool_model(x, "AVERAGE", (3, 3), (2, 2), padding="INCLUDE_LAST_PIXEL")
        expected = run_node(
            "AveragePool", {"x": x}, {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}
        )[0]
        np.testing.assert_allclose(got, expected, **TOLERANCE)


class TestPoolingGeometry:
    """Any window, stride and padding give onnxruntime's result (property test)."""

    @geometry(max_examples=40)
    @given(size=pairs(2, 12), kernel=pairs(1, 4), stride=pairs(1, 3), padding=st.integers(0, 1),
           kind=st.sampled_from(["MAX", "AVERAGE"]), seed=SEEDS)
    def test_include_last_pixel_geometry(self, size, kernel, stride, padding, kind, seed):
        """includeLastPixel pooling matches the Caffe loop (and ONNX ceil-mode MaxPool) for random geometry."""
        if (
            padding >= min(kernel)
            or min(size[0] + 2 * padding - kernel[0], size[1] + 2 * padding - kernel[1]) < 0
        ):
            return
        x = rm.normal(np.random.default_rng(seed), 1, 2, *size)
        top = (padding,) * 4
        got = pool_model(x, kind, kernel, stride, padding="INCLUDE_LAST_PIXEL", pads=top, exclude=False)
        if kernel[0] == kernel[1] and stride[0] == stride[1]:
            np.testing.assert_allclose(
                got, caffe_pool(x, kind, kernel[0], stride[0], padding, False), **TOLERANCE
            )
        if kind == "MAX":
            np.testing.assert_array_equal(got, pool_onnx("MaxPool", x, kernel, stride, top, ceil_mode=1))


class TestGlobalPooling:
    """Global pooling reduces all of height and width to one value per channel."""

    @pytest.mark.parametrize(
        ("kind", "op"), [("MAX", "GlobalMaxPool"), ("AVERAGE", "GlobalAveragePool"), ("L2", "GlobalLpPool")]
    )
    def test_global(self, kind, op):
        """Global MAX, AVERAGE and L2 pooling match ONNX's global pooling operators."""
        x = rm.normal(np.random.default_rng(8), 3, 5, 13, 6)
        got = pool_model(x, kind, (0, 0), (1, 1), is_global=True)
        assert got.shape == (3, 5, 1, 1)
        np.testing.assert_allclose(got, run_node(op, {"x": x})[0], **TOLERANCE)

    def test_global_after_convolution_layout(self):
        """Global pooling of a channels-last convolution output equals the plain per-channel mean."""
        rng = np.random.default_rng(9)
        x, w = rm.normal(rng, 2, 3, 6, 6), rm.normal(rng, 3, 4)

        def add(b):
            rm.add_convolution(b, w.reshape(1, 1, 3, 4))
            b.add_pooling("pool", 0, 0, 1, 1, "AVERAGE", "VALID", "c", "out", is_global=True)

        got = rm.one_layer(add, x)
        expected = np.einsum("nchw,co->no", x, w) / 36
        np.testing.assert_allclose(got[:, :, 0, 0], expected, rtol=1e-5, atol=1e-5)
