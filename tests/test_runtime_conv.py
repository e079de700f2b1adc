"""The reference runtime's convolution, deconvolution and inner product, against onnxruntime and numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from . import _runtime_models as rm
from ._geometry import PADS, SEEDS, geometry, pairs
from ._runtime_onnx import run_node

TOLERANCE = {"rtol": 1e-5, "atol": 2e-5}


def conv_model(
    x,
    weights,
    *,
    stride=(1, 1),
    mode="valid",
    pads=(0, 0, 0, 0),
    groups=1,
    bias=None,
    dilation=(1, 1),
    asymmetry="BOTTOM_RIGHT_HEAVY",
    relu=False,
):
    """Run one convolution (weights in ONNX layout ``(C_out, C_in/groups, KH, KW)``) in the runtime."""
    cout, kc, kh, kw = weights.shape

    def add(b):
        b.add_convolution("conv", kc, cout, kh, kw, *stride, mode, groups, weights.transpose(2, 3, 1, 0), bias,
                          bias is not None, input_name="x", output_name="c" if relu else "out",
                          dilation_factors=list(dilation), same_padding_asymmetry_mode=asymmetry,
                          **rm.padding_amounts(pads))
        if relu:
            b.add_activation("relu", "RELU", "c", "out")

    return rm.one_layer(add, x)


def conv_onnx(
    x, weights, *, stride=(1, 1), pads=(0, 0, 0, 0), groups=1, bias=None, dilation=(1, 1), auto_pad=None
):
    """The same convolution in onnxruntime (``pads`` as top, bottom, left, right)."""
    constants = {"w": weights} | ({"b": bias} if bias is not None else {})
    attributes = {
        "strides": list(stride),
        "group": groups,
        "dilations": list(dilation),
        "kernel_shape": list(weights.shape[2:]),
    }
    if auto_pad:
        attributes["auto_pad"] = auto_pad
    else:
        top, bottom, left, right = pads
        attributes["pads"] = [top, left, bottom, right]
    return run_node("Conv", {"x": x}, attributes, constants=constants)[0]


class TestConvolution:
    """Convolution matches onnxruntime's Conv for every padding mode and shape option."""

    @pytest.mark.parametrize(
        ("size", "kernel", "stride", "pads"),
        [
            ((9, 9), (3, 3), (1, 1), (0, 0, 0, 0)),
            ((11, 8), (3, 3), (2, 2), (1, 2, 0, 1)),
            ((10, 13), (5, 3), (2, 1), (2, 2, 1, 1)),
            ((7, 7), (1, 1), (2, 2), (0, 0, 0, 0)),
            ((6, 5), (1, 1), (1, 1), (0, 0, 0, 0)),
            ((8, 8), (2, 2), (3, 3), (1, 0, 1, 0)),
        ],
    )
    def test_valid_padding(self, size, kernel, stride, pads):
        """Valid convolution with paddingAmounts (asymmetric, odd sizes, strides) equals ONNX Conv with pads."""
        rng = np.random.default_rng(1)
        x, w, b = rm.normal(rng, 2, 4, *size), rm.normal(rng, 6, 4, *kernel), rm.normal(rng, 6)
        got = conv_model(x, w, stride=stride, pads=pads, bias=b)
        np.testing.assert_allclose(got, conv_onnx(x, w, stride=stride, pads=pads, bias=b), **TOLERANCE)

    @pytest.mark.parametrize("size", [(8, 8), (9, 7), (5, 6)])
    @pytest.mark.parametrize("stride", [(1, 1), (2, 2), (3, 2)])
    @pytest.mark.parametrize(
        ("asymmetry", "auto_pad"), [("BOTTOM_RIGHT_HEAVY", "SAME_UPPER"), ("TOP_LEFT_HEAVY", "SAME_LOWER")]
    )
    def test_same_padding(self, size, stride, asymmetry, auto_pad):
        """Same padding puts the odd row and column after (bottom-right heavy) or before (top-left heavy)."""
        rng = np.random.default_rng(2)
        x, w = rm.normal(rng, 1, 3, *size), rm.normal(rng, 5, 3, 4, 3)
        got = conv_model(x, w, stride=stride, mode="same", asymmetry=asymmetry)
        expected = conv_onnx(x, w, stride=stride, auto_pad=auto_pad)
        assert got.shape == expected.shape == (1, 5, -(-size[0] // stride[0]), -(-size[1] // stride[1]))
        np.testing.assert_allclose(got, expected, **TOLERANCE)

    @pytest.mark.parametrize("dilation", [(2, 2), (1, 3), (3, 1)])
    def test_dilation(self, dilation):
        """Dilated kernels (also dilated along the width only) match ONNX, with same padding too."""
        rng = np.random.default_rng(3)
        x, w = rm.normal(rng, 2, 3, 12, 11), rm.normal(rng, 4, 3, 3, 3)
        got = conv_model(x, w, dilation=dilation, pads=(1, 2, 2, 1))
        np.testing.assert_allclose(got, conv_onnx(x, w, dilation=dilation, pads=(1, 2, 2, 1)), **TOLERANCE)
        got = conv_model(x, w, dilation=dilation, mode="same")
        pads = []
        for size, d in zip((12, 11), dilation, strict=True):
            total = max(0, (size - 1) + (2 * d + 1) - size)  # NeuralNetwork.proto's SamePadding, stride 1
            pads += [total // 2, total - total // 2]
        np.testing.assert_allclose(got, conv_onnx(x, w, dilation=dilation, pads=pads), **TOLERANCE)

    @pytest.mark.parametrize(("groups", "cin", "cout"), [(2, 6, 4), (3, 6, 9), (4, 4, 4), (4, 4, 8)])
    def test_groups_and_depthwise(self, groups, cin, cout):
        """Grouped and depthwise (one channel per group, with a channel multiplier) convolutions match ONNX."""
        rng = np.random.default_rng(4)
        x, w, b = (
            rm.normal(rng, 2, cin, 9, 8),
            rm.normal(rng, cout, cin // groups, 3, 3),
            rm.normal(rng, cout),
        )
        got = conv_model(x, w, groups=groups, stride=(2, 1), pads=(1, 1, 1, 1), bias=b)
        expected = conv_onnx(x, w, groups=groups, stride=(2, 1), pads=(1, 1, 1, 1), bias=b)
        np.testing.assert_allclose(got, expected, **TOLERANCE)

    @pytest.mark.parametrize(
        ("channels", "multiplier", "width", "dilation"),
        [(32, 1, 70, (1, 1)), (48, 2, 45, (1, 1)), (700, 1, 9, (2, 3)), (3, 1, 1000, (1, 2))],
    )
    def test_depthwise_in_runs_of_pixels(self, channels, multiplier, width, dilation):
        """Depthwise layers read in runs of several pixels (the width not a multiple of a run) match ONNX."""
        rng = np.random.default_rng(7)
        x = rm.normal(rng, 2, channels, 5, width)
        w, b = rm.normal(rng, channels * multiplier, 1, 3, 3), rm.normal(rng, channels * multiplier)
        options = {"groups": channels, "pads": (1, 2, 2, 1), "bias": b, "dilation": dilation}
        np.testing.assert_allclose(conv_model(x, w, **options), conv_onnx(x, w, **options), **TOLERANCE)

    def test_large_input_in_blocks(self):
        """An input larger than one unfolding block (several row bands and images) gives ONNX's result."""
        rng = np.random.default_rng(5)
        x, w, b = rm.normal(rng, 3, 64, 40, 37), rm.normal(rng, 64, 64, 3, 3, scale=0.1), rm.normal(rng, 64)
        got = conv_model(x, w, pads=(1, 1, 1, 1), bias=b)
        np.testing.assert_allclose(got, conv_onnx(x, w, pads=(1, 1, 1, 1), bias=b), rtol=1e-4, atol=1e-4)
        x = rm.normal(rng, 300, 64, 6, 6)
        got = conv_model(x, w[:, :, :1, :1].copy(), bias=b)
        np.testing.assert_allclose(got, conv_onnx(x, w[:, :, :1, :1].copy(), bias=b), rtol=1e-4, atol=1e-4)

    def test_folded_relu(self):
        """A ReLU after a convolution (folded into it by the executor) equals ONNX Conv followed by Relu."""
        rng = np.random.default_rng(6)
        x, w, b = rm.normal(rng, 2, 3, 9, 9), rm.normal(rng, 5, 3, 3, 3), rm.normal(rng, 5)
        got = conv_model(x, w, pads=(1, 1, 1, 1), bias=b, relu=True)
        expected = np.maximum(conv_onnx(x, w, pads=(1, 1, 1, 1), bias=b), 0)
        np.testing.assert_allclose(got, expected, **TOLERANCE)

    def test_output_read_twice_is_not_clipped(self):
        """When a convolution's output feeds a ReLU and is also an output, the output keeps its negatives."""
        rng = np.random.default_rng(7)
        x, w = rm.normal(rng, 1, 2, 5, 5), rm.normal(rng, 3, 2, 3, 3)

        def add(b):
            rm.add_convolution(b, w.transpose(2, 3, 1, 0))
            b.add_activation("relu", "RELU", "c", "r")
            b.add_elementwise("sum", ["c", "r"], "out", "ADD")

        got = rm.one_layer(add, x, outputs=("out", "c"))
        raw = conv_onnx(x, w)
        np.testing.assert_allclose(got["c"], raw, **TOLERANCE)
        np.testing.assert_allclose(got["out"], raw + np.maximum(raw, 0), **TOLERANCE)


class TestConvolutionGeometry:
    """Any kernel, stride, dilation and padding that fit give ONNX Conv's result (property test)."""

    @geometry(max_examples=40)
    @given(size=pairs(3, 12), kernel=pairs(1, 4), stride=pairs(1, 3), dilation=pairs(1, 2), pads=PADS,
           groups=st.sampled_from([1, 2]), seed=SEEDS)
    def test_valid_geometry(self, size, kernel, stride, dilation, pads, groups, seed):
        """Valid convolution with random geometry equals ONNX Conv with the same pads."""
        span = [size[i] + pads[2 * i] + pads[2 * i + 1] - ((kernel[i] - 1) * dilation[i] + 1) for i in (0, 1)]
        if min(span) < 0:
            return
        rng = np.random.default_rng(seed)
        x, w = rm.normal(rng, 2, 4, *size), rm.normal(rng, 4, 4 // groups, *kernel)
        got = conv_model(x, w, stride=stride, pads=pads, groups=groups, dilation=dilation)
        expected = conv_onnx(x, w, stride=stride, pads=pads, groups=groups, dilation=dilation)
        np.testing.assert_allclose(got, expected, **TOLERANCE)


def deconv_model(
    x,
    weights,
    *,
    stride,
    mode="valid",
    pads=(0, 0, 0, 0),
    groups=1,
    bias=None,
    output_shape=None,
    asymmetry="BOTTOM_RIGHT_HEAVY",
):
    """Run one deconvolution (weights in ONNX layout ``(C_in, C_out/groups, KH, KW)``) in the runtime."""
    cin, per_group, kh, kw = weights.shape

    def add(b):
        b.add_convolution("deconv", cin, per_group * groups, kh, kw, *stride, mode, groups,
                          weights.transpose(2, 3, 0, 1), bias, bias is not None, is_deconv=True,
                          output_shape=output_shape, input_name="x", output_name="out",
                          same_padding_asymmetry_mode=asymmetry, **rm.padding_amounts(pads))

    return rm.one_layer(add, x)


def deconv_onnx(x, weights, *, stride, pads=(0, 0, 0, 0), groups=1, bias=None, output_padding=(0, 0)):
    """ONNX ConvTranspose with explicit pads (top, bottom, left, right) and output padding."""
    top, bottom, left, right = pads
    constants = {"w": weights} | ({"b": bias} if bias is not None else {})
    attributes = {
        "strides": list(stride),
        "group": groups,
        "pads": [top, left, bottom, right],
        "output_padding": list(output_padding),
        "kernel_shape": list(weights.shape[2:]),
    }
    return run_node("ConvTranspose", {"x": x}, attributes, constants=constants)[0]


class TestDeconvolution:
    """Deconvolution matches onnxruntime's ConvTranspose, cropping as the padding and outputShape say."""

    @pytest.mark.parametrize(
        ("stride", "kernel", "pads"),
        [
            ((2, 2), (3, 3), (0, 0, 0, 0)),
            ((2, 2), (3, 3), (2, 3, 2, 3)),
            ((3, 2), (4, 3), (1, 0, 0, 2)),
            ((1, 1), (3, 3), (1, 1, 1, 1)),
        ],
    )
    def test_valid_padding(self, stride, kernel, pads):
        """Valid deconvolution gives ``(H - 1) * stride + K`` minus the padding amounts, as ONNX does."""
        rng = np.random.default_rng(8)
        x, w, b = rm.normal(rng, 2, 4, 5, 6), rm.normal(rng, 4, 3, *kernel), rm.normal(rng, 3)
        got = deconv_model(x, w, stride=stride, pads=pads, bias=b)
        np.testing.assert_allclose(got, deconv_onnx(x, w, stride=stride, pads=pads, bias=b), **TOLERANCE)

    @pytest.mark.parametrize(
        ("kernel", "asymmetry", "pads"),
        [
            ((3, 3), "BOTTOM_RIGHT_HEAVY", (0, 1, 0, 1)),
            ((3, 3), "TOP_LEFT_HEAVY", (1, 0, 1, 0)),
            ((4, 4), "BOTTOM_RIGHT_HEAVY", (1, 1, 1, 1)),
            ((5, 4), "BOTTOM_RIGHT_HEAVY", (1, 2, 1, 1)),
        ],
    )
    def test_same_padding(self, kernel, asymmetry, pads):
        """Same deconvolution gives ``H * stride``, cropping the larger half at the heavy side."""
        rng = np.random.default_rng(9)
        x, w = rm.normal(rng, 1, 2, 4, 5), rm.normal(rng, 2, 3, *kernel)
        got = deconv_model(x, w, stride=(2, 2), mode="same", asymmetry=asymmetry)
        assert got.shape == (1, 3, 8, 10)
        np.testing.assert_allclose(got, deconv_onnx(x, w, stride=(2, 2), pads=pads), **TOLERANCE)

    def test_output_shape(self):
        """outputShape sets the size after the top-left crop, zero-extended (bias only) past the end."""
        rng = np.random.default_rng(10)
        x, w, b = rm.normal(rng, 2, 3, 4, 4), rm.normal(rng, 3, 2, 3, 3), rm.normal(rng, 2)
        got = deconv_model(x, w, stride=(2, 2), pads=(1, 0, 1, 0), output_shape=(8, 8), bias=b)
        np.testing.assert_allclose(
            got, deconv_onnx(x, w, stride=(2, 2), pads=(1, 0, 1, 0), bias=b), **TOLERANCE
        )
        got = deconv_model(x, w, stride=(2, 2), output_shape=(10, 10), bias=b)
        expected = deconv_onnx(x, w, stride=(2, 2), bias=b, output_padding=(1, 1))
        np.testing.assert_allclose(got, expected, **TOLERANCE)

    def test_groups(self):
        """Grouped deconvolution (weights ``(C_in, C_out / groups, KH, KW)``) matches ONNX."""
        rng = np.random.default_rng(11)
        x, w, b = rm.normal(rng, 2, 6, 5, 4), rm.normal(rng, 6, 2, 3, 3), rm.normal(rng, 4)
        got = deconv_model(x, w, stride=(2, 2), groups=2, pads=(1, 1, 0, 1), bias=b)
        expected = deconv_onnx(x, w, stride=(2, 2), groups=2, pads=(1, 1, 0, 1), bias=b)
        np.testing.assert_allclose(got, expected, **TOLERANCE)


class TestDeconvolutionGeometry:
    """Any kernel, stride and padding amounts give ONNX ConvTranspose's result (property test)."""

    @geometry(max_examples=30)
    @given(size=pairs(1, 6), kernel=pairs(1, 4), stride=pairs(1, 3), pads=PADS, seed=SEEDS)
    def test_valid_geometry(self, size, kernel, stride, pads, seed):
        """Valid deconvolution with random geometry equals ONNX ConvTranspose with the same pads."""
        full = [(size[i] - 1) * stride[i] + kernel[i] for i in (0, 1)]
        if full[0] - pads[0] - pads[1] < 1 or full[1] - pads[2] - pads[3] < 1:
            return
        rng = np.random.default_rng(seed)
        x, w = rm.normal(rng, 2, 3, *size), rm.normal(rng, 3, 2, *kernel)
        got = deconv_model(x, w, stride=stride, pads=pads)
        np.testing.assert_allclose(got, deconv_onnx(x, w, stride=stride, pads=pads), **TOLERANCE)


class TestInnerProduct:
    """Inner product multiplies each item's C*H*W values by the weight matrix and adds the bias."""

    def test_vector_input(self):
        """A rank-1 input of C values gives ``W @ x + b`` for every item."""
        rng = np.random.default_rng(12)
        x, w, b = rm.normal(rng, 3, 7), rm.normal(rng, 5, 7), rm.normal(rng, 5)
        got = rm.one_layer(lambda m: m.add_inner_product("fc", w, b, 7, 5, True, "x", "out"), x)
        expected = np.array(
            [[sum(w[o, i] * x[n, i] for i in range(7)) + b[o] for o in range(5)] for n in range(3)]
        )
        np.testing.assert_allclose(got.reshape(3, 5), expected, rtol=1e-5, atol=1e-5)

    def test_image_input_is_flattened_channel_first(self):
        """A (C, H, W) input is flattened in C, H, W order; the output is (C_out, 1, 1) per item."""
        rng = np.random.default_rng(13)
        x, w = rm.normal(rng, 2, 2, 3, 2), rm.normal(rng, 4, 12)
        got = rm.one_layer(lambda m: m.add_inner_product("fc", w, None, 12, 4, False, "x", "out"), x)
        assert got.shape == (2, 4, 1, 1)
        np.testing.assert_allclose(got[:, :, 0, 0], x.reshape(2, 12) @ w.T, rtol=1e-5, atol=1e-5)
