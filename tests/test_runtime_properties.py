"""Property tests over the runtime's spatial kernels: any input memory layout, any small shape.

Each example builds one layer with coremltools' ``NeuralNetworkBuilder``, builds its kernel
through the runtime's registry and runs it on the same values held in several memory layouts
(contiguous, channels-last as convolutions leave it, strided and offset views of a larger
array, read-only). The results must be identical to the contiguous run, and equal to a
one-node onnxruntime graph, through the whole network too, for the batch at once and for each
item alone. Shapes include single-channel and single-pixel inputs, ``valid`` and ``same``
padding: the shapes public grayscale CNNs have (issue 8).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlquant.formats.neuralnetwork.codec import decode
from mlquant.runtime.neuralnetwork._base import LayerContext
from mlquant.runtime.neuralnetwork.registry import KERNELS

from . import _runtime_models as rm
from ._runtime_onnx import run_node

LAYOUTS = ("contiguous", "channels_last", "strided", "offset", "readonly")
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
#: Each test runs once per engine (``tests/conftest.py``), each time on a new instance of its class.
PROPERTY = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors]
)

#: A kernel's or a factor's height and width.
ONE_TO_THREE = st.tuples(st.integers(1, 3), st.integers(1, 3))


def _view(x: np.ndarray, layout: str) -> np.ndarray:
    """The rank-5 array ``x`` with the same values in another memory layout."""
    if layout == "channels_last":
        return np.ascontiguousarray(x.transpose(0, 1, 3, 4, 2)).transpose(0, 1, 4, 2, 3)
    if layout == "strided":
        wide = np.zeros((*x.shape[:4], 2 * x.shape[4]), dtype=np.float32)
        wide[..., ::2] = x
        return wide[..., ::2]
    if layout == "offset":
        s, b, c, h, w = x.shape
        big = np.full((s, b, c + 1, h + 2, w + 2), np.nan, dtype=np.float32)
        big[:, :, 1:, 1:-1, 1:-1] = x
        return big[:, :, 1:, 1:-1, 1:-1]
    if layout == "readonly":
        frozen = x.copy()
        frozen.setflags(write=False)
        return frozen
    return np.ascontiguousarray(x)


def _kernel(spec: Any) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    """The runtime's kernel for the one layer of ``spec``."""
    layer = spec.neuralNetwork.layers[0]
    kind = layer.WhichOneof("layer")
    ctx = LayerContext(
        name=layer.name,
        type=kind,
        params=getattr(layer, kind),
        inputs=tuple(layer.input),
        outputs=tuple(layer.output),
        read=lambda field, wp, shape: decode(wp, shape, None, field),
    )
    return KERNELS[kind](ctx)


def check(
    add: Callable[[Any], None],
    x: np.ndarray,
    op: str,
    attributes: dict[str, Any] | None = None,
    **node: Any,
) -> None:
    """``add`` builds one layer reading ``x`` and writing ``out``; check it in every layout and batch
    against onnxruntime's ``op`` node (``attributes`` and ``node``, as :func:`run_node` takes them)."""
    expected = run_node(op, {"x": x}, attributes, **node)[0]
    b = rm.builder({"x": x.shape[1:]})
    add(b)
    kernel = _kernel(b.spec)
    rank5 = x[np.newaxis]
    reference = kernel([rank5.copy()])[0]
    for layout in LAYOUTS:
        got = kernel([_view(rank5, layout)])[0]
        np.testing.assert_array_equal(got, reference, err_msg=f"{layout} input")
    np.testing.assert_allclose(reference[0], expected, **TOLERANCE)
    whole = rm.run(b.spec, {"x": x})["out"]
    singles = np.concatenate([rm.run(b.spec, {"x": x[i : i + 1]})["out"] for i in range(len(x))])
    np.testing.assert_allclose(whole, expected, **TOLERANCE)
    np.testing.assert_allclose(singles, expected, **TOLERANCE)


def onnx_pads(mode: str, size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int]) -> list[int]:
    """ONNX ``pads`` (top, left, bottom, right) for ``valid`` or ``same`` padding, the extra row or column at the end.

    Written out rather than ``auto_pad``: onnxruntime rejects the negative total that ``SAME_UPPER``
    gives a kernel smaller than its stride, where Core ML pads nothing.
    """
    if mode.lower() == "valid":
        return [0, 0, 0, 0]
    totals = [max(0, (-(-n // s) - 1) * s + k - n) for n, k, s in zip(size, kernel, stride)]
    return [totals[0] // 2, totals[1] // 2, totals[0] - totals[0] // 2, totals[1] - totals[1] // 2]


@st.composite
def images(draw: Any, min_size: int = 1) -> np.ndarray:
    """``(B, C, H, W)`` inputs: batch 1 or 3, one to three channels, one to seven pixels a side."""
    batch = draw(st.sampled_from([1, 3]))
    channels = draw(st.integers(1, 3))
    height = draw(st.integers(min_size, 7))
    width = draw(st.integers(min_size, 7))
    seed = draw(st.integers(0, 2**16))
    return rm.normal(np.random.default_rng(seed), batch, channels, height, width)


def window(data: Any, size: tuple[int, int], modes: tuple[str, str]) -> tuple[str, int, int]:
    """A padding mode of ``modes`` (valid, same) and a kernel that fits it: up to the input for valid, 3 for same."""
    mode = data.draw(st.sampled_from(modes))
    limits = size if mode == modes[0] else (3, 3)
    return mode, data.draw(st.integers(1, limits[0])), data.draw(st.integers(1, limits[1]))


class TestConvolution:
    @PROPERTY
    @given(x=images(), data=st.data())
    def test_any_layout_and_shape(self, x: np.ndarray, data: Any) -> None:
        """Convolution (plain or depthwise, valid or same, stride 1-2) equals onnxruntime in every layout."""
        _, c, h, w = x.shape
        mode, kh, kw = window(data, (h, w), ("valid", "same"))
        stride = data.draw(st.sampled_from([(1, 1), (2, 2), (1, 2)]))
        groups = data.draw(st.sampled_from([1, c]))
        cout = c if groups > 1 else data.draw(st.integers(1, 3))
        rng = np.random.default_rng(kh * 7 + kw)
        weights = rm.normal(rng, cout, c // groups, kh, kw)
        bias = rm.normal(rng, cout)

        def add(b: Any) -> None:
            b.add_convolution("conv", c // groups, cout, kh, kw, *stride, mode, groups, weights.transpose(2, 3, 1, 0),
                              bias, True, input_name="x", output_name="out")

        attributes = {"strides": list(stride), "group": groups, "kernel_shape": [kh, kw],
                      "pads": onnx_pads(mode, (h, w), (kh, kw), stride)}
        check(add, x, "Conv", attributes, constants={"w": weights, "b": bias})


class TestDeconvolution:
    @PROPERTY
    @given(x=images(), data=st.data())
    def test_any_layout_and_shape(self, x: np.ndarray, data: Any) -> None:
        """Deconvolution (valid, stride 1-2) equals onnxruntime's ConvTranspose in every layout."""
        c = x.shape[1]
        kh, kw = data.draw(ONE_TO_THREE)
        stride = data.draw(st.sampled_from([(1, 1), (2, 2)]))
        cout = data.draw(st.integers(1, 3))
        rng = np.random.default_rng(kh + 5 * kw)
        weights = rm.normal(rng, c, cout, kh, kw)

        def add(b: Any) -> None:
            b.add_convolution("deconv", c, cout, kh, kw, *stride, "valid", 1, weights.transpose(2, 3, 0, 1), None, False,
                              is_deconv=True, input_name="x", output_name="out")

        attributes = {"strides": list(stride), "kernel_shape": [kh, kw], "pads": [0, 0, 0, 0]}
        check(add, x, "ConvTranspose", attributes, constants={"w": weights})


class TestPooling:
    @PROPERTY
    @given(x=images(), data=st.data())
    def test_any_layout_and_shape(self, x: np.ndarray, data: Any) -> None:
        """Max and average pooling, valid or same, equal onnxruntime in every layout."""
        _, _, h, w = x.shape
        kind = data.draw(st.sampled_from(["MAX", "AVERAGE"]))
        mode, kh, kw = window(data, (h, w), ("VALID", "SAME"))
        stride = data.draw(st.sampled_from([(1, 1), (2, 2), (2, 1)]))

        def add(b: Any) -> None:
            b.add_pooling("pool", kh, kw, *stride, kind, mode, "x", "out", exclude_pad_area=True)

        attributes = {"kernel_shape": [kh, kw], "strides": list(stride), "pads": onnx_pads(mode, (h, w), (kh, kw), stride)}
        check(add, x, "MaxPool" if kind == "MAX" else "AveragePool", attributes)


class TestPadding:
    @PROPERTY
    @given(x=images(min_size=2), data=st.data())
    def test_any_layout_and_shape(self, x: np.ndarray, data: Any) -> None:
        """Constant, reflection and replication padding equal onnxruntime's Pad in every layout."""
        _, _, h, w = x.shape
        kind, mode = data.draw(st.sampled_from([("constant", "constant"), ("reflection", "reflect"),
                                                ("replication", "edge")]))
        top, bottom = data.draw(st.integers(0, h - 1)), data.draw(st.integers(0, h - 1))
        left, right = data.draw(st.integers(0, w - 1)), data.draw(st.integers(0, w - 1))

        def add(b: Any) -> None:
            b.add_padding("pad", left, right, top, bottom, 0.0, "x", "out", kind)

        pads = np.array([0, 0, top, left, 0, 0, bottom, right], dtype=np.int64)
        check(add, x, "Pad", {"mode": mode}, constants={"pads": pads})


class TestCrop:
    @PROPERTY
    @given(x=images(), data=st.data())
    def test_any_layout_and_shape(self, x: np.ndarray, data: Any) -> None:
        """Cropping by amounts equals onnxruntime's Slice in every layout."""
        _, _, h, w = x.shape
        top = data.draw(st.integers(0, h - 1))
        bottom = data.draw(st.integers(0, h - 1 - top))
        left = data.draw(st.integers(0, w - 1))
        right = data.draw(st.integers(0, w - 1 - left))

        def add(b: Any) -> None:
            b.add_crop("crop", left, right, top, bottom, 0, ["x"], "out")

        constants = {"starts": np.array([top, left], np.int64), "ends": np.array([h - bottom, w - right], np.int64),
                     "axes": np.array([2, 3], np.int64)}
        check(add, x, "Slice", constants=constants)


class TestUpsample:
    @PROPERTY
    @given(x=images(), data=st.data())
    def test_any_layout_and_shape(self, x: np.ndarray, data: Any) -> None:
        """Nearest and align-corners bilinear upsampling equal onnxruntime's Resize in every layout."""
        _, _, h, w = x.shape
        fh, fw = data.draw(ONE_TO_THREE)
        mode, linear, onnx_mode, transform = data.draw(st.sampled_from([
            ("NN", "DEFAULT", "nearest", "asymmetric"),
            ("BILINEAR", "ALIGN_CORNERS_TRUE", "linear", "align_corners"),
        ]))

        def add(b: Any) -> None:
            b.add_upsample("up", fh, fw, "x", "out", mode, linear)

        attributes = {"mode": onnx_mode, "coordinate_transformation_mode": transform}
        attributes |= {"nearest_mode": "floor"} if onnx_mode == "nearest" else {}
        sizes = np.array([*x.shape[:2], h * fh, w * fw], dtype=np.int64)
        check(add, x, "Resize", attributes, constants={"sizes": sizes}, order=["x", "", "", "sizes"])


class TestReorganize:
    @PROPERTY
    @given(data=st.data())
    def test_any_layout_and_shape(self, data: Any) -> None:
        """Space-to-depth and depth-to-space equal onnxruntime in every layout, single pixels included."""
        block = data.draw(st.integers(2, 3))
        mode, op, attributes = data.draw(st.sampled_from([
            ("SPACE_TO_DEPTH", "SpaceToDepth", {}),
            ("DEPTH_TO_SPACE", "DepthToSpace", {"mode": "DCR"}),
        ]))
        batch, channels = data.draw(st.sampled_from([1, 3])), data.draw(st.integers(1, 2))
        h, w = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
        rng = np.random.default_rng(block)
        if mode == "SPACE_TO_DEPTH":
            x = rm.normal(rng, batch, channels, h * block, w * block)
        else:
            x = rm.normal(rng, batch, channels * block * block, h, w)

        def add(b: Any) -> None:
            b.add_reorganize_data("r", "x", "out", mode, block)

        check(add, x, op, {"blocksize": block, **attributes})


class TestGrayscaleValidNetwork:
    def test_runs_at_every_batch_size(self) -> None:
        """A grayscale 28x28 image through a valid 3x3 convolution runs, batch 1 or 5 (the public MNIST shape)."""
        rng = np.random.default_rng(0)
        weights = rm.normal(rng, 4, 1, 3, 3)
        x = rng.integers(0, 256, size=(5, 1, 28, 28)).astype(np.float32)

        def add(b: Any) -> None:
            b.add_convolution("conv2d_1", 1, 4, 3, 3, 1, 1, "valid", 1, weights.transpose(2, 3, 1, 0), None, False,
                              input_name="x", output_name="out")

        expected = run_node("Conv", {"x": x}, {"kernel_shape": [3, 3], "pads": [0, 0, 0, 0]}, constants={"w": weights})[0]
        np.testing.assert_allclose(rm.one_layer(add, x), expected, rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(rm.one_layer(add, x[:1]), expected[:1], rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_views_hold_the_same_values(layout: str) -> None:
    """Every layout the properties use holds exactly the contiguous array's values."""
    x = rm.normal(np.random.default_rng(1), 1, 2, 3, 4, 5)
    np.testing.assert_array_equal(_view(x, layout), x)
