"""The ML Program runtime's convolution and pooling kernels, against one-node onnxruntime graphs."""

from __future__ import annotations

import numpy as np
import pytest

from . import _mil
from ._runtime_onnx import run_node

TOLERANCE = {"rtol": 1e-5, "atol": 2e-5}


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _matches_onnx(tmp_path, make, x, op, attributes, constants=None):
    """The one-op program ``make(mb, x)`` gives ONNX ``op``'s result on ``x``; returns the program's output."""
    model = _mil.one_op(tmp_path, make, [x])
    (got,) = _mil.run(model, [x])
    want = run_node(op, {"x": x}, attributes, constants=constants)[0]
    np.testing.assert_allclose(got, want, **TOLERANCE)
    return got


def _onnx_pads(pads):
    """MIL ``pad`` (before, after per spatial axis) as ONNX ``pads`` (all befores, then all afters)."""
    return list(pads[0::2]) + list(pads[1::2])


class TestConv:
    @pytest.mark.parametrize(
        ("shape", "kernel", "stride", "dilation", "groups", "pad_type", "pads"),
        [
            ((1, 3, 9, 8), (3, 3), (1, 1), (1, 1), 1, "valid", None),
            ((1, 3, 9, 8), (3, 2), (2, 1), (1, 1), 1, "custom", (1, 0, 2, 1)),
            ((1, 4, 7, 7), (3, 3), (2, 2), (2, 1), 2, "custom", (2, 2, 1, 1)),
            ((1, 6, 8, 8), (3, 3), (1, 1), (1, 1), 6, "custom", (1, 1, 1, 1)),
            ((1, 4, 9, 9), (5, 5), (2, 2), (1, 1), 4, "custom", (2, 2, 2, 2)),
            ((1, 5, 6, 6), (1, 1), (1, 1), (1, 1), 1, "valid", None),
            ((1, 5, 6, 6), (1, 1), (2, 2), (1, 1), 1, "valid", None),
            ((1, 1, 5, 5), (3, 3), (1, 1), (1, 1), 1, "valid", None),
            ((1, 3, 1, 1), (1, 1), (1, 1), (1, 1), 1, "valid", None),
            ((1, 3, 1, 1), (3, 3), (1, 1), (1, 1), 1, "custom", (1, 1, 1, 1)),
        ],
    )
    def test_matches_onnx_conv(self, tmp_path, shape, kernel, stride, dilation, groups, pad_type, pads):
        """conv with strides, dilations, groups (depthwise included), valid and custom padding equals ONNX Conv."""
        rng = np.random.default_rng(0)
        x = _rand(rng, *shape)
        cout = 2 * groups if groups > 1 else 4
        w = _rand(rng, cout, shape[1] // groups, *kernel)
        b = _rand(rng, cout)
        params = {"strides": list(stride), "dilations": list(dilation), "groups": groups, "pad_type": pad_type}
        if pads is not None:
            params["pad"] = list(pads)
        attributes = {"strides": list(stride), "dilations": list(dilation), "group": groups}
        attributes["pads"] = _onnx_pads(pads) if pads is not None else [0, 0, 0, 0]
        _matches_onnx(tmp_path, lambda mb, a: mb.conv(x=a, weight=w, bias=b, **params), x, "Conv", attributes,
                      {"w": w, "b": b})

    @pytest.mark.parametrize(("pad_type", "auto_pad"), [("same", "SAME_UPPER"), ("same_lower", "SAME_LOWER")])
    @pytest.mark.parametrize(("size", "kernel", "stride"), [((7, 8), (3, 3), (2, 2)), ((6, 5), (2, 4), (1, 3))])
    def test_same_padding_matches_onnx_auto_pad(self, tmp_path, pad_type, auto_pad, size, kernel, stride):
        """same pads the extra row and column after the input, same_lower before it, as ONNX's auto_pad does."""
        rng = np.random.default_rng(1)
        x = _rand(rng, 1, 3, *size)
        w = _rand(rng, 4, 3, *kernel)
        _matches_onnx(tmp_path, lambda mb, a: mb.conv(x=a, weight=w, strides=list(stride), pad_type=pad_type), x,
                      "Conv", {"strides": list(stride), "auto_pad": auto_pad}, {"w": w})

    def test_one_dimensional_conv_matches_onnx(self, tmp_path):
        """A 1-D conv (rank-3 input) runs as a 2-D one of height 1 and equals ONNX's 1-D Conv."""
        rng = np.random.default_rng(2)
        x, w = _rand(rng, 1, 3, 11), _rand(rng, 5, 3, 3)
        _matches_onnx(tmp_path, lambda mb, a: mb.conv(x=a, weight=w, strides=[2], pad_type="custom", pad=[1, 2]), x,
                      "Conv", {"strides": [2], "pads": [1, 2]}, {"w": w})


class TestConvTranspose:
    @pytest.mark.parametrize(
        ("stride", "dilation", "groups", "pads", "kernel"),
        [
            ((2, 2), (1, 1), 1, (0, 0, 0, 0), (3, 3)),
            ((2, 1), (1, 1), 1, (1, 1, 0, 1), (3, 2)),
            ((2, 2), (2, 1), 2, (1, 0, 1, 0), (3, 3)),
            ((1, 1), (1, 1), 1, (0, 0, 0, 0), (1, 1)),
        ],
    )
    def test_matches_onnx_conv_transpose(self, tmp_path, stride, dilation, groups, pads, kernel):
        """conv_transpose with strides, dilations, groups and custom padding equals ONNX ConvTranspose."""
        rng = np.random.default_rng(3)
        x = _rand(rng, 1, 4, 5, 4)
        w = _rand(rng, 4, 6 // groups, *kernel)
        b = _rand(rng, 6)
        attributes = {"strides": list(stride), "dilations": list(dilation), "group": groups, "pads": _onnx_pads(pads)}
        _matches_onnx(
            tmp_path,
            lambda mb, a: mb.conv_transpose(
                x=a, weight=w, bias=b, strides=list(stride), dilations=list(dilation), groups=groups,
                pad_type="custom", pad=list(pads),
            ),
            x, "ConvTranspose", attributes, {"w": w, "b": b},
        )

    def test_output_shape_extends_the_output(self, tmp_path):
        """An output_shape one larger than the scatter covers equals ONNX's output_padding of 1."""
        rng = np.random.default_rng(4)
        x, w = _rand(rng, 1, 2, 4, 4), _rand(rng, 2, 3, 3, 3)
        attributes = {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]}
        _matches_onnx(
            tmp_path,
            lambda mb, a: mb.conv_transpose(
                x=a, weight=w, strides=[2, 2], pad_type="custom", pad=[1, 1, 1, 1], output_shape=[1, 3, 8, 8]
            ),
            x, "ConvTranspose", attributes, {"w": w},
        )

    def test_same_padding_matches_onnx_same_upper(self, tmp_path):
        """conv_transpose with pad_type same gives input * stride outputs, cropping as ONNX's SAME_UPPER."""
        rng = np.random.default_rng(11)
        x, w = _rand(rng, 1, 2, 3, 4), _rand(rng, 2, 3, 4, 3)
        got = _matches_onnx(tmp_path, lambda mb, a: mb.conv_transpose(x=a, weight=w, strides=[2, 2], pad_type="same"),
                            x, "ConvTranspose", {"strides": [2, 2], "auto_pad": "SAME_UPPER"}, {"w": w})
        assert got.shape == (1, 3, 6, 8)

    def test_one_dimensional_conv_transpose_matches_onnx(self, tmp_path):
        """A 1-D conv_transpose equals ONNX's 1-D ConvTranspose."""
        rng = np.random.default_rng(12)
        x, w = _rand(rng, 1, 3, 5), _rand(rng, 3, 2, 3)
        _matches_onnx(
            tmp_path, lambda mb, a: mb.conv_transpose(x=a, weight=w, strides=[2], pad_type="custom", pad=[1, 0]), x,
            "ConvTranspose", {"strides": [2], "pads": [1, 0]}, {"w": w},
        )


class TestPool:
    @pytest.mark.parametrize("kind", ["max", "avg"])
    @pytest.mark.parametrize(
        ("size", "kernel", "stride", "pads", "ceil"),
        [
            ((8, 8), (2, 2), (2, 2), None, False),
            ((7, 9), (3, 3), (2, 2), (1, 1, 1, 1), False),
            ((7, 9), (3, 2), (2, 2), (1, 1, 0, 0), True),
            ((6, 6), (3, 3), (2, 2), None, True),
            ((1, 1), (1, 1), (1, 1), None, False),
        ],
    )
    def test_matches_onnx_pooling(self, tmp_path, kind, size, kernel, stride, pads, ceil):
        """max_pool and avg_pool (padding counted) with custom padding and ceil mode equal ONNX pooling."""
        rng = np.random.default_rng(5)
        x = _rand(rng, 1, 3, *size)
        params = {"kernel_sizes": list(kernel), "strides": list(stride), "ceil_mode": ceil}
        params |= {"pad_type": "custom", "pad": list(pads)} if pads else {"pad_type": "valid"}
        op = "max_pool" if kind == "max" else "avg_pool"
        extra = {} if kind == "max" else {"exclude_padding_from_average": False}
        attributes = {"kernel_shape": list(kernel), "strides": list(stride), "ceil_mode": int(ceil)}
        attributes["pads"] = _onnx_pads(pads) if pads else [0, 0, 0, 0]
        if kind == "avg":
            attributes["count_include_pad"] = 1
        _matches_onnx(tmp_path, lambda mb, a: getattr(mb, op)(x=a, **params, **extra), x,
                      "MaxPool" if kind == "max" else "AveragePool", attributes)

    def test_average_excluding_padding_matches_onnx(self, tmp_path):
        """exclude_padding_from_average divides by the cells inside the input, as count_include_pad=0 does."""
        rng = np.random.default_rng(6)
        x = _rand(rng, 1, 2, 5, 6)
        attributes = {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 0}
        _matches_onnx(
            tmp_path,
            lambda mb, a: mb.avg_pool(
                x=a, kernel_sizes=[3, 3], strides=[2, 2], pad_type="custom", pad=[1, 1, 1, 1],
                exclude_padding_from_average=True,
            ),
            x, "AveragePool", attributes,
        )

    @pytest.mark.parametrize(("pad_type", "auto_pad"), [("same", "SAME_UPPER"), ("same_lower", "SAME_LOWER")])
    def test_same_padding_max_pool_matches_onnx(self, tmp_path, pad_type, auto_pad):
        """max_pool with same and same_lower padding equals ONNX's auto_pad."""
        rng = np.random.default_rng(7)
        x = _rand(rng, 1, 2, 7, 6)
        _matches_onnx(
            tmp_path, lambda mb, a: mb.max_pool(x=a, kernel_sizes=[2, 3], strides=[2, 2], pad_type=pad_type), x,
            "MaxPool", {"kernel_shape": [2, 3], "strides": [2, 2], "auto_pad": auto_pad},
        )

    def test_one_dimensional_pooling_matches_onnx(self, tmp_path):
        """avg_pool over a rank-3 input equals ONNX's 1-D AveragePool."""
        rng = np.random.default_rng(8)
        x = _rand(rng, 1, 3, 10)
        _matches_onnx(
            tmp_path, lambda mb, a: mb.avg_pool(x=a, kernel_sizes=[3], strides=[2], pad_type="valid"), x,
            "AveragePool", {"kernel_shape": [3], "strides": [2]},
        )
