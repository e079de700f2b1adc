"""The onnxruntime backend: NeuralNetwork translation, the backend, the command line, and the food model.

Every layer of the reference runtime is also checked through the translation by the
``test_runtime_*`` modules, which run once per engine (``tests/conftest.py``); this module checks
what is the translation's own: its coverage, its errors, the backend around it, and whole-model
agreement with the reference backend on the real food model and quantized versions of it.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

import mlquant
from mlquant.runtime.neuralnetwork.registry import KERNELS
from mlquant.runtime.onnx import OnnxProgram
from mlquant.runtime.onnx.neuralnetwork import TRANSLATORS

from . import _runtime_models as rm
from .test_cli import run_cli

RNG = np.random.default_rng(0)


def pooled_spec(flexible: bool = False):
    """A convolution, a ReLU and a 2x2 max pooling over a [3, 8, 8] input (of any size when ``flexible``)."""
    b = rm.builder({"x": (3, 8, 8)})
    b.add_convolution("conv", 3, 4, 3, 3, 1, 1, "same", 1, rm.normal(RNG, 3, 3, 3, 4), None, False,
                      input_name="x", output_name="c")
    b.add_activation("relu", "RELU", "c", "r")
    b.add_pooling("pool", 2, 2, 2, 2, "MAX", "VALID", "r", "out")
    if flexible:
        ranges = b.spec.description.input[0].type.multiArrayType.shapeRange.sizeRanges
        for size in (3, 8, 8):
            ranges.add(lowerBound=size, upperBound=size if size == 3 else -1)
    return b.spec


class TestTranslation:
    """The translation covers the reference runtime and says clearly what it cannot do."""

    def test_every_reference_layer_type(self):
        """Every layer type the reference runtime runs has a translator, and no other."""
        assert set(TRANSLATORS) == set(KERNELS)

    def test_missing_translator_names_the_layer(self, monkeypatch):
        """A layer type without a translator fails at construction, naming the layer and the reference backend."""
        monkeypatch.delitem(TRANSLATORS, "pooling")
        with pytest.raises(mlquant.UnsupportedLayerError, match=r"'pool' \(pooling\).*--backend reference"):
            OnnxProgram(mlquant.Model(pooled_spec()))

    def test_untranslated_option_names_the_layer(self):
        """Windowed pooling of an input of flexible size, which the reference runtime runs, names the layer."""
        model = mlquant.Model(pooled_spec(flexible=True))
        x = rm.normal(RNG, 2, 3, 8, 8)
        mlquant.runtime.Network(model).run({"x": x})
        with pytest.raises(mlquant.UnsupportedLayerError,
                           match=r"'pool' \(pooling\).*unknown size; use the reference backend \(--backend reference\)"):
            OnnxProgram(model)

    def test_reference_errors_kept(self):
        """A layer option that neither engine supports fails with the reference runtime's own error."""
        b = rm.builder({"x": (3, 4, 5)})
        b.add_activation("act", "RELU", "x", "out")
        b.spec.neuralNetwork.layers[0].activation.ClearField("NonlinearityType")
        with pytest.raises(mlquant.InvalidModelError, match=r"'act' \(activation\): no nonlinearity"):
            OnnxProgram(mlquant.Model(b.spec))

    def test_precision(self):
        """float32 and model precision give the same float32 results; float16 is not a precision here."""
        model = mlquant.Model(pooled_spec())
        x = rm.normal(RNG, 2, 3, 8, 8)
        results = [OnnxProgram(model, precision=p).run({"x": x})["out"] for p in ("model", "float32")]
        np.testing.assert_array_equal(*results)
        with pytest.raises(mlquant.SettingsError, match="precision"):
            OnnxProgram(model, precision="float16")  # type: ignore[arg-type]

    def test_valid_onnx(self):
        """The translated graph passes onnx's checker with full type and shape inference."""
        import onnx

        onnx.checker.check_model(OnnxProgram(mlquant.Model(pooled_spec())).onnx_model, full_check=True)

    def test_relu_follows_convolution(self):
        """A ReLU after a convolution becomes a Relu right after the Conv, for onnxruntime to fuse."""
        ops = [node.op_type for node in OnnxProgram(mlquant.Model(pooled_spec())).onnx_model.graph.node]
        assert ops[ops.index("Conv") + 1] == "Relu"


class TestBackend:
    """OnnxRuntimeBackend scores as the reference backend does, prepares early and pickles."""

    def test_names_and_settings(self):
        """The name says onnxruntime (and float32 when asked); unknown precisions and providers are refused."""
        assert mlquant.OnnxRuntimeBackend().name == "onnxruntime"
        assert mlquant.OnnxRuntimeBackend(precision="float32").name == "onnxruntime-float32"
        with pytest.raises(mlquant.SettingsError, match="precision"):
            mlquant.OnnxRuntimeBackend(precision="float16")
        backend = mlquant.OnnxRuntimeBackend(providers=["NoSuchExecutionProvider"])
        with pytest.raises(mlquant.SettingsError, match="NoSuchExecutionProvider"):
            backend.prepare(mlquant.Model(pooled_spec()))

    def test_same_evaluation_as_reference(self, demo):
        """On the demo model the per-class accuracy is the reference backend's and every top-1 agrees."""
        folder = mlquant.ImageFolder(demo.data)
        model = mlquant.load(demo.model)
        base = mlquant.Evaluator(folder, backend=mlquant.ReferenceBackend()).evaluate(model)
        fast = mlquant.Evaluator(folder, backend=mlquant.OnnxRuntimeBackend()).evaluate(model, reference=base)
        assert fast.per_class == base.per_class
        assert fast.top1_agreement == 1.0
        assert fast.measured["backend"] == "onnxruntime"

    def test_unsupported_layer_before_any_input(self, demo, monkeypatch):
        """A layer the translation lacks fails in prepare, before the evaluator decodes a single input."""
        monkeypatch.delitem(TRANSLATORS, "innerProduct")
        folder = mlquant.ImageFolder(demo.data)

        def no_decoding(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise AssertionError("inputs were decoded")

        monkeypatch.setattr(folder, "batch", no_decoding)
        evaluator = mlquant.Evaluator(folder, backend=mlquant.OnnxRuntimeBackend())
        with pytest.raises(mlquant.UnsupportedLayerError, match=r"\(innerProduct\).*--backend reference"):
            evaluator.evaluate(mlquant.load(demo.model))

    def test_pickles_without_its_session(self, demo):
        """A prepared backend pickles (its session left behind) and the copy scores the same."""
        model = mlquant.load(demo.model)
        backend = mlquant.OnnxRuntimeBackend(threads=1)
        backend.prepare(model)
        copy = pickle.loads(pickle.dumps(backend))
        assert copy.name == backend.name and copy.threads == 1
        x = RNG.uniform(0, 255, (4, *mlquant.Evaluator(demo.data).inputs(model).inputs.shape[1:])).astype(np.uint8)
        np.testing.assert_array_equal(copy.predict(model, x), backend.predict(model, x))


class TestCommandLine:
    """mlquant evaluate --backend onnxruntime gives the reference backend's figures."""

    def test_evaluate(self, demo):
        """The JSON results of both backends have the same per-class accuracy; --providers picks the CPU."""
        common = ["evaluate", str(demo.model), "--data", str(demo.data), "--json"]
        fast = run_cli(*common, "--backend", "onnxruntime", "--providers", "CPUExecutionProvider")
        base = run_cli(*common, "--backend", "reference")
        assert fast.returncode == 0, fast.stderr
        assert json.loads(fast.stdout)[0]["per_class"] == json.loads(base.stdout)[0]["per_class"]

    @pytest.mark.parametrize(("extra", "message"), [
        (["--backend", "reference", "--providers", "CPUExecutionProvider"], "--providers"),
        (["--backend", "onnxruntime", "--float16"], "--float16"),
        (["--backend", "onnxruntime", "--providers", "NoSuchExecutionProvider"], "NoSuchExecutionProvider"),
    ])
    def test_refused_options(self, demo, extra, message):
        """Options onnxruntime cannot honour end with exit code 2 and a one-line message."""
        result = run_cli("evaluate", str(demo.model), "--data", str(demo.data), *extra)
        assert result.returncode == 2
        assert message in result.stderr and "Traceback" not in result.stderr


FOOD_CANDIDATES = {
    "kmeans_lut_4": mlquant.KMeansLUTQuantizer(nbits=4),
    "linear_lut_2": mlquant.LinearLUTQuantizer(nbits=2),
}


@pytest.fixture(scope="module")
def food_folder(food_dir: Path) -> mlquant.ImageFolder:
    """The 700 food images, decoded once for every evaluation in this module."""
    return mlquant.ImageFolder(food_dir / "testing_data")


@pytest.fixture(scope="module")
def food_evaluations(food_model, food_folder):
    """Reference and onnxruntime evaluations of the float food model and two quantized candidates."""
    models = {"float": food_model} | {name: mlquant.quantize(food_model, q) for name, q in FOOD_CANDIDATES.items()}
    found = {}
    for engine, backend in (("reference", mlquant.ReferenceBackend()), ("onnx", mlquant.OnnxRuntimeBackend())):
        evaluator = mlquant.Evaluator(food_folder, backend=backend)
        for name, model in models.items():
            found[engine, name] = evaluator.evaluate(model, name=name)
    return found


class TestFood:
    """On the real food model the two backends agree on every class and nearly every image."""

    @pytest.mark.parametrize("name", ["float", *FOOD_CANDIDATES])
    def test_same_per_class_accuracy(self, food_evaluations, name):
        """Per-class accuracy is identical and at least 99.9% of top-1 predictions agree."""
        base, fast = food_evaluations["reference", name], food_evaluations["onnx", name]
        assert len(fast.files) == len(base.files) == 700
        assert fast.per_class == base.per_class
        assert np.mean(fast.predictions == base.predictions) >= 0.999


W = rm.normal(np.random.default_rng(1), 3, 3, 4, 5)  # a 3x3 convolution's weights, builder layout (KH, KW, Cin, Cout)
SEQUENCE_LAYERS = {
    "convolution": lambda b: b.add_convolution("l", 4, 5, 3, 3, 2, 1, "same", 1, W, None, False,
                                               input_name="r", output_name="out"),
    "deconvolution": lambda b: b.add_convolution("l", 4, 5, 3, 3, 2, 2, "valid", 1, W.transpose(0, 1, 3, 2), None,
                                                 False, is_deconv=True, input_name="r", output_name="out"),
    "pooling": lambda b: b.add_pooling("l", 3, 3, 2, 2, "AVERAGE", "INCLUDE_LAST_PIXEL", "r", "out",
                                       padding_top=1, padding_bottom=1, padding_left=1, padding_right=1),
    "global pooling": lambda b: b.add_pooling("l", 0, 0, 1, 1, "L2", "VALID", "r", "out", is_global=True),
    "lrn": lambda b: b.add_lrn("l", "r", "out", alpha=0.3, beta=0.75, local_size=3, k=2.0),
    "lrn, even window": lambda b: b.add_lrn("l", "r", "out", alpha=0.3, beta=0.75, local_size=2, k=2.0),
    "upsample": lambda b: b.add_upsample("l", 2, 3, "r", "out", "BILINEAR", "ALIGN_CORNERS_FALSE"),
    "reorganizeData": lambda b: b.add_reorganize_data("l", "r", "out", "SPACE_TO_DEPTH", 2),
    "innerProduct": lambda b: b.add_inner_product("l", rm.normal(np.random.default_rng(2), 3, 192), None, 192, 3,
                                                  False, "r", "out"),
    "flatten": lambda b: b.add_flatten("l", 1, "r", "out"),
    "reshape": lambda b: b.add_reshape("l", "r", "out", (8, 4, 6), 1),
    "batchnorm": lambda b: b.add_batchnorm("l", 4, np.ones(4), np.zeros(4), None, None, "r", "out",
                                           compute_mean_var=True, instance_normalization=True),
    "softmax": lambda b: b.add_softmax("l", "r", "out"),
    "reduce": lambda b: b.add_reduce("l", "r", "out", "HW", "L2"),
    "split": lambda b: b.add_split("l", "r", ["out", "other"]),
    "concat": lambda b: b.add_elementwise("l", ["r", "r"], "out", "CONCAT"),
    "add with a length-1 sequence": lambda b: b.add_elementwise("l", ["r", "x"], "out", "ADD"),
    "padding": lambda b: b.add_padding("l", 1, 0, 2, 1, 0.0, "r", "out", "reflection"),
    "crop": lambda b: b.add_crop("l", 1, 0, 0, 1, [], ["r"], "out"),
    "mvn": lambda b: b.add_mvn("l", "r", "out", True, True, 1e-3),
    "permute back to length 1": lambda b: b.add_permute("l", (1, 0, 2, 3), "r", "out"),
}


class TestSequences:
    """Layers after a sequence longer than 1 (rank-5 tensors in the graph) give the reference runtime's results."""

    @pytest.mark.parametrize("layer", list(SEQUENCE_LAYERS))
    def test_after_sequence_repeat(self, layer):
        """The layer reads a sequence of 2 (the input repeated) and matches the reference runtime."""
        b = rm.builder({"x": (4, 6, 8)})
        b.add_sequence_repeat("rep", 2, "x", "r")
        SEQUENCE_LAYERS[layer](b)
        model = mlquant.Model(b.spec)
        x = rm.normal(RNG, 3, 4, 6, 8)
        expected = mlquant.runtime.Network(model).run({"x": x})
        got = OnnxProgram(model).run({"x": x})
        assert got.keys() == expected.keys()
        for name in expected:
            assert got[name].shape == expected[name].shape
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-5)
