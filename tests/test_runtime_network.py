"""The reference runtime's executor: construction checks, feeds, preprocessing, outputs and modes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mlquant
from mlquant import weights

from . import _runtime_models as rm

RNG = np.random.default_rng(0)


def identity_spec(shape=(3, 4, 5)):
    """A one-layer model passing ``x`` through a linear activation (alpha 1, beta 0)."""
    b = rm.builder({"x": shape})
    b.add_activation("same", "LINEAR", "x", "out", [1.0, 0.0])
    return b.spec


def as_image(spec, color_space, height, width):
    """Turn the model's first input into an image input of the given color space."""
    feature = spec.description.input[0]
    feature.type.imageType.colorSpace = color_space
    feature.type.imageType.height, feature.type.imageType.width = height, width
    return spec


class TestConstruction:
    """Construction builds every kernel and refuses what it cannot run, before any input."""

    def test_custom_layer(self):
        """A custom layer raises UnsupportedLayerError naming the layer, its type and class."""
        spec = identity_spec()
        layer = spec.neuralNetwork.layers.add()
        layer.name, layer.custom.className = "mystery", "MyLayer"
        layer.input.append("out")
        layer.output.append("more")
        with pytest.raises(mlquant.UnsupportedLayerError, match=r"'mystery' \(custom\).*MyLayer"):
            rm.network(spec)

    def test_control_flow_layer(self):
        """A branch layer raises UnsupportedLayerError, even where no output needs it."""
        spec = identity_spec()
        layer = spec.neuralNetwork.layers.add()
        layer.name = "choose"
        layer.input.append("x")
        inner = layer.branch.ifBranch.layers.add()
        inner.name = "inner"
        inner.activation.ReLU.SetInParent()
        with pytest.raises(mlquant.UnsupportedLayerError, match=r"'choose' \(branch\)"):
            rm.network(spec)

    def test_rank_n_layer(self):
        """A layer type the runtime lacks (here sin, from the rank-N set) is named in the error."""
        b = rm.builder({"x": (3, 4, 5)})
        b.add_sin("sine", "x", "out")
        with pytest.raises(mlquant.UnsupportedLayerError, match=r"'sine' \(sin\)"):
            rm.network(b.spec)

    def test_unsupported_parameters(self):
        """An unsupported option of a known layer also fails at construction, naming the layer."""
        b = rm.builder({"x": (3, 4, 5)})
        b.add_convolution(
            "conv",
            3,
            2,
            1,
            1,
            1,
            1,
            "valid",
            1,
            np.ones((1, 1, 3, 2), np.float32),
            None,
            False,
            input_name=["x", "x"],
            output_name="out",
        )
        with pytest.raises(mlquant.UnsupportedLayerError, match="'conv'"):
            rm.network(b.spec)

    def test_undefined_input(self):
        """A layer reading a blob nothing defines is an InvalidModelError."""
        b = rm.builder({"x": (3, 4, 5)})
        b.add_activation("relu", "RELU", "nowhere", "out")
        with pytest.raises(mlquant.InvalidModelError, match="'nowhere'"):
            rm.network(b.spec)

    def test_pipeline_with_one_network(self):
        """A pipeline holding exactly one neural network runs that network."""
        from coremltools.proto import Model_pb2

        inner = identity_spec()
        spec = Model_pb2.Model(specificationVersion=inner.specificationVersion)
        spec.description.CopyFrom(inner.description)
        spec.pipeline.models.add().CopyFrom(inner)
        x = rm.normal(RNG, 2, 3, 4, 5)
        np.testing.assert_array_equal(rm.run(spec, {"x": x})["out"], x)

    def test_pipeline_with_two_networks(self):
        """A pipeline holding two neural networks is an UnsupportedModelError."""
        from coremltools.proto import Model_pb2

        inner = identity_spec()
        spec = Model_pb2.Model(specificationVersion=inner.specificationVersion)
        spec.description.CopyFrom(inner.description)
        spec.pipeline.models.add().CopyFrom(inner)
        spec.pipeline.models.add().CopyFrom(inner)
        with pytest.raises(mlquant.UnsupportedModelError, match="exactly one"):
            rm.network(spec)

    def test_rank_2_multiarray_input(self):
        """Multi-array inputs other than [C] and [C, H, W] are refused."""
        spec = identity_spec()
        del spec.description.input[0].type.multiArrayType.shape[:]
        spec.description.input[0].type.multiArrayType.shape.extend([4, 5])
        with pytest.raises(mlquant.UnsupportedModelError, match="rank-2"):
            rm.network(spec)


class TestFeeds:
    """run checks its feeds and says what it expected."""

    @pytest.mark.parametrize(
        ("feeds", "match"),
        [
            ({}, "missing"),
            ({"x": np.zeros((1, 3, 4, 5)), "y": np.zeros(1)}, "unknown"),
            ({"x": np.zeros((1, 3, 4, 6))}, r"expected shape \(B, 3, 4, 5\)"),
            ({"x": np.zeros((3, 4, 5))}, r"expected shape \(B, 3, 4, 5\)"),
            ({"x": "pixels"}, "expected a float array"),
        ],
    )
    def test_bad_feeds(self, feeds, match):
        """Missing, unknown, misshapen or non-numeric feeds raise DataError."""
        with pytest.raises(mlquant.DataError, match=match):
            rm.network(identity_spec()).run(feeds)

    def test_batch_sizes_must_agree(self):
        """Two inputs with different batch sizes raise DataError."""
        b = rm.builder({"x": (3,), "y": (3,)})
        b.add_elementwise("add", ["x", "y"], "out", "ADD")
        with pytest.raises(mlquant.DataError, match="same batch size"):
            rm.network(b.spec).run({"x": np.zeros((2, 3)), "y": np.zeros((3, 3))})

    def test_names(self):
        """input_names and output_names list the model's inputs and computed outputs in order."""
        net = rm.network(identity_spec())
        assert (net.input_names, net.output_names) == (("x",), ("out",))

    def test_integer_feed(self):
        """Integer arrays are accepted and computed in float32."""
        x = np.arange(60).reshape(1, 3, 4, 5)
        out = rm.network(identity_spec()).run({"x": x})["out"]
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, x)


class TestImagePreprocessing:
    """Image inputs take raw pixels and the network applies the model's preprocessing."""

    @pytest.mark.parametrize(("space", "bias"), [(30, [1.0, 2.0, 3.0]), (20, [3.0, 2.0, 1.0])])
    def test_scaler_channel_order(self, space, bias):
        """The scaler adds blue, green and red biases in the channel order the image declares."""
        b = rm.builder({"x": (3, 4, 5)})
        b.add_activation("same", "LINEAR", "x", "out", [1.0, 0.0])
        b.set_pre_processing_parameters(
            image_input_names=["x"],
            is_bgr=space == 30,
            red_bias=3.0,
            green_bias=2.0,
            blue_bias=1.0,
            image_scale=0.5,
        )
        spec = as_image(b.spec, space, 4, 5)
        x = RNG.uniform(0, 255, (2, 3, 4, 5)).astype(np.float32)
        expected = 0.5 * x + np.array(bias, np.float32).reshape(3, 1, 1)
        np.testing.assert_allclose(rm.run(spec, {"x": x})["out"], expected, rtol=1e-6)

    def test_grayscale_scaler(self):
        """A grayscale image has one channel and gets the gray bias."""
        b = rm.builder({"x": (1, 4, 5)})
        b.add_activation("same", "LINEAR", "x", "out", [1.0, 0.0])
        b.set_pre_processing_parameters(image_input_names=["x"], gray_bias=-10.0, image_scale=2.0)
        spec = as_image(b.spec, 10, 4, 5)
        x = RNG.uniform(0, 255, (3, 1, 4, 5)).astype(np.float32)
        np.testing.assert_allclose(rm.run(spec, {"x": x})["out"], 2 * x - 10, rtol=1e-6)

    def test_mean_image(self):
        """A mean image is subtracted pixel by pixel."""
        spec = as_image(identity_spec(), 30, 4, 5)
        mean = RNG.uniform(0, 255, (3, 4, 5)).astype(np.float32)
        step = spec.neuralNetwork.preprocessing.add()
        step.featureName = "x"
        step.meanImage.meanImage.extend(mean.ravel())
        x = RNG.uniform(0, 255, (2, 3, 4, 5)).astype(np.float32)
        np.testing.assert_allclose(rm.run(spec, {"x": x})["out"], x - mean, rtol=1e-6)

    def test_mean_image_of_wrong_size(self):
        """A mean image of the wrong size is an InvalidModelError at construction."""
        spec = as_image(identity_spec(), 30, 4, 5)
        step = spec.neuralNetwork.preprocessing.add()
        step.featureName = "x"
        step.meanImage.meanImage.extend([1.0] * 7)
        with pytest.raises(mlquant.InvalidModelError, match="mean image"):
            rm.network(spec)


class TestOutputs:
    """Outputs are batch first; a classifier's probabilities come in label order."""

    def test_classifier_probabilities(self):
        """The probability output is (B, classes) under its name; the predicted label is not a result."""
        w = rm.normal(RNG, 3, 4)
        b = rm.builder({"x": (4,)}, outputs=("probs",), mode="classifier")
        b.add_inner_product("fc", w, None, 4, 3, False, "x", "scores")
        b.add_softmax("probs", "scores", "probs")
        b.set_class_labels(["cat", "dog", "eel"], predicted_feature_name="label", prediction_blob="probs")
        x = rm.normal(RNG, 5, 4)
        net = rm.network(b.spec)
        assert net.output_names == ("probs",)
        got = net.run({"x": x})["probs"]
        scores = x.astype(np.float64) @ w.T
        expected = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(got, expected, rtol=1e-5)

    def test_declared_vector_shape(self):
        """An output declared as a [C] multi-array comes back as (B, C)."""
        b = rm.builder({"x": (4,)})
        b.add_activation("same", "LINEAR", "x", "out", [2.0, 0.0])
        b.spec.description.output[0].type.multiArrayType.shape.append(4)
        x = rm.normal(RNG, 3, 4)
        np.testing.assert_array_equal(rm.run(b.spec, {"x": x})["out"], 2 * x)


class TestWeights:
    """The runtime computes with the weights Model.read returns, whatever their storage."""

    @pytest.mark.parametrize("storage", ["lut", "float16", "linear"])
    def test_quantized_weights(self, storage):
        """A quantized convolution gives exactly what a float model with the dequantized weights gives."""
        w = rm.normal(RNG, 3, 3, 4, 6)
        b = rm.builder({"x": (4, 7, 7)})
        b.add_convolution(
            "conv", 4, 6, 3, 3, 1, 1, "same", 1, w, rm.normal(RNG, 6), True, input_name="x", output_name="out"
        )
        model = mlquant.Model(b.spec)
        shape = model.weights[0].shape
        indices = RNG.integers(0, 4, size=shape).astype(np.uint8)
        stored = {
            "lut": weights.LUTWeights(nbits=2, indices=indices, table=[-0.5, -0.1, 0.2, 0.7]),
            "float16": weights.Float16Weights(rm.normal(RNG, *shape)),
            "linear": weights.LinearWeights(nbits=2, indices=indices, scale=[0.25], bias=[-0.3]),
        }[storage]
        quantized = model.replace({0: stored})
        assert quantized.weights[0].storage == storage
        float_model = model.replace({0: stored.dequantize()})
        x = rm.normal(RNG, 2, 4, 7, 7)
        np.testing.assert_array_equal(
            rm.executor(quantized).run({"x": x})["out"], rm.executor(float_model).run({"x": x})["out"]
        )


class TestModes:
    """float16 mode rounds every layer's output; every run is deterministic."""

    @pytest.mark.reference_only("float16 mode is the reference runtime's alone")
    def test_float16_rounds_inputs_and_outputs(self):
        """Inputs and each layer's output are rounded to half precision."""
        b = rm.builder({"x": (3, 4, 5)})
        b.add_activation("third", "LINEAR", "x", "a", [1 / 3, 0.0])
        b.add_activation("double", "LINEAR", "a", "out", [2.0, 0.0])
        x = rm.normal(RNG, 2, 3, 4, 5) * 100

        def half(v):
            return v.astype(np.float16).astype(np.float32)

        expected = half(half(half(x) * np.float32(1 / 3)) * np.float32(2.0))
        np.testing.assert_array_equal(rm.run(b.spec, {"x": x}, float16=True)["out"], expected)
        assert not np.array_equal(rm.run(b.spec, {"x": x})["out"], expected)

    def test_repeatable(self):
        """Two runs of the same network on the same feeds give byte-identical outputs."""
        b = rm.builder({"x": (3, 9, 9)})
        b.add_convolution(
            "conv",
            3,
            4,
            3,
            3,
            1,
            1,
            "same",
            1,
            rm.normal(RNG, 3, 3, 3, 4),
            None,
            False,
            input_name="x",
            output_name="c",
        )
        b.add_pooling("pool", 2, 2, 2, 2, "MAX", "VALID", "c", "out")
        net = rm.network(b.spec)
        x = rm.normal(RNG, 40, 3, 9, 9)
        first, second = net.run({"x": x})["out"], net.run({"x": x})["out"]
        assert first.tobytes() == second.tobytes()


class TestMemorySafety:
    """Kernels never write into memory another layer still reads."""

    def test_view_then_in_place_activation(self):
        """An activation on a view (flatten) of a blob that a later layer reads leaves that blob intact."""
        x = rm.normal(RNG, 2, 3, 4, 5)

        def add(b):
            b.add_activation("copy", "LINEAR", "x", "c", [1.0, 0.0])
            b.add_flatten("flat", 0, "c", "f")
            b.add_activation("neg", "LINEAR", "f", "n", [-1.0, 0.0])
            b.add_activation("relu", "RELU", "n", "r")
            b.add_elementwise("twice", ["c", "c"], "out", "ADD")

        got = rm.one_layer(add, x, outputs=("out", "r"))
        np.testing.assert_array_equal(got["out"], 2 * x)
        np.testing.assert_array_equal(got["r"], np.maximum(-x, 0).reshape(2, 60, 1, 1))

    @pytest.mark.reference_only("numpy's BLAS threads are the reference runtime's")
    def test_blas_threads_restored(self):
        """After run, numpy's BLAS has the thread count it had before."""
        from threadpoolctl import threadpool_info

        before = [pool["num_threads"] for pool in threadpool_info()]
        rm.network(identity_spec()).run({"x": rm.normal(RNG, 64, 3, 4, 5)})
        assert [pool["num_threads"] for pool in threadpool_info()] == before


@pytest.mark.reference_only("imports, runs no model")
class TestImport:
    """Importing the runtime stays cheap."""

    def test_no_heavy_imports(self):
        """import mlquant.runtime pulls in neither onnx, onnxruntime, coremltools nor threadpoolctl."""
        code = (
            "import sys, mlquant; before = set(sys.modules); import mlquant.runtime; "
            "print(sorted(m for m in set(sys.modules) - before "
            "if m.split('.')[0] in {'onnx', 'onnxruntime', 'coremltools', 'threadpoolctl'}))"
        )
        root = Path(mlquant.__file__).resolve().parents[1]
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
        )
        assert result.stdout.strip() == "[]"
