"""The shapes of public models that broke mlquant (issue 8), rebuilt and checked end to end."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import mlquant
from mlquant.evaluate.backends import ReferenceBackend
from mlquant.evaluate.signature import signature

from . import _public_models as pm
from ._runtime_onnx import session


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[mlquant.Model, Path]:
    """A grayscale valid-padded CNN fitted to scikit-learn's digits, and a folder of held-out PNGs."""
    from PIL import Image
    from sklearn.datasets import load_digits

    data = load_digits()
    pixels = np.rint(data.images * 255 / 16).astype(np.uint8)
    labels = data.target
    rng = np.random.default_rng(0)
    order = rng.permutation(len(labels))
    train, test = order[:1200], order[1200:]
    scale = 1 / 255
    conv = rng.normal(scale=0.5, size=(8, 1, 3, 3)).astype(np.float32)
    conv_bias = rng.normal(scale=0.1, size=8).astype(np.float32)
    features = _features(pixels[train].astype(np.float32) * scale, conv, conv_bias)
    targets = np.eye(10)[labels[train]]
    gram = features.T @ features + 1e-2 * np.eye(features.shape[1])
    dense = np.linalg.solve(gram, features.T @ targets).T.astype(np.float32)
    model = mlquant.Model(pm.grayscale_valid_cnn(conv, conv_bias, dense, np.zeros(10, np.float32), scale))
    folder = tmp_path_factory.mktemp("digits")
    for index in test:
        target = folder / str(labels[index]) / f"{index:04d}.png"
        target.parent.mkdir(exist_ok=True)
        Image.fromarray(pixels[index], "L").save(target)
    return model, folder


def _features(x: np.ndarray, conv: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """ReLU of a valid 3x3 convolution of ``(N, 8, 8)`` images, flattened channel first."""
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))  # (N, 6, 6, 3, 3)
    out = np.einsum("nhwij,cij->nchw", windows, conv[:, 0]) + bias[:, None, None]
    return np.maximum(out, 0).reshape(len(x), -1)


def _onnx_probabilities(model: mlquant.Model, pixels: np.ndarray) -> np.ndarray:
    """The same network as an onnxruntime graph, weights read from the model."""
    from onnx import TensorProto, helper, numpy_helper

    conv, conv_bias = model.read("conv2d_1.weights"), model.read("conv2d_1.bias")
    dense, dense_bias = model.read("dense_1.weights"), model.read("dense_1.bias")
    scale = np.array(model.spec.neuralNetworkClassifier.preprocessing[0].scaler.channelScale, np.float32)
    nodes = [
        helper.make_node("Mul", ["image", "scale"], ["scaled"]),
        helper.make_node("Conv", ["scaled", "w", "b"], ["c"], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"]),
        helper.make_node("Gemm", ["f", "d", "db"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"]),
    ]
    constants = {"scale": scale, "w": conv, "b": conv_bias, "d": dense, "db": dense_bias}
    graph = helper.make_graph(
        nodes, "cnn", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 1, 8, 8])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in constants.items()],
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    return session(onnx_model).run(["probs"], {"image": pixels.astype(np.float32)})[0]


class TestGrayscaleValidCNN:
    def test_per_class_accuracy_equals_onnxruntime(self, digits: tuple[mlquant.Model, Path]) -> None:
        """The reference runtime's per-class accuracy on the digits equals an onnxruntime run of the same network."""
        model, folder = digits
        data = mlquant.ImageFolder(folder)
        ours = mlquant.Evaluator(data, backend=ReferenceBackend(), batch_size=7).evaluate(model)
        batch = data.batch(signature(model).input)
        predicted = _onnx_probabilities(model, batch.inputs).argmax(axis=1)
        truth = np.array([int(s.folder) for s in batch.samples])
        theirs = {str(c): float(np.mean(predicted[truth == c] == c)) for c in range(10)}
        assert ours.per_class == theirs
        assert ours.mean_class_accuracy > 0.8

    def test_sweep_runs_on_it(self, digits: tuple[mlquant.Model, Path], tmp_path: Path) -> None:
        """A sweep over the grayscale CNN evaluates every candidate (the public models crashed here)."""
        model, folder = digits
        result = mlquant.sweep(model, folder, out_dir=tmp_path / "sweep", backend=ReferenceBackend(),
                               grid=mlquant.default_grid(["kmeans_lut"], [8, 2]))
        assert all(c.evaluation is not None and c.evaluation.complete for c in result.candidates)


class TestUpdatableNetwork:
    def test_updatable_layers_stay_float(self) -> None:
        """Quantizing keeps an updatable layer's weights float32 with a note, and the result passes Core ML's rules."""
        model = mlquant.Model(pm.updatable_classifier())
        with pytest.warns(mlquant.MlquantWarning, match="layer 'dense1' is updatable"):
            small = mlquant.quantize(model, mlquant.KMeansLUTQuantizer(nbits=4))
        storage = {w.name: w.storage for w in small.weights}
        assert storage["frozen.weights"] == "lut"
        assert storage["dense1.weights"] == storage["dense2.weights"] == "float32"
        assert small.spec.isUpdatable and mlquant.problems(small) == []

    def test_made_non_updatable(self) -> None:
        """With make_non_updatable every layer is quantized, and the model no longer trains on device."""
        model = mlquant.Model(pm.updatable_classifier())
        with warnings.catch_warnings():
            warnings.simplefilter("error", mlquant.MlquantWarning)
            small = mlquant.quantize(model, mlquant.QuantizationPlan(default=mlquant.KMeansLUTQuantizer(nbits=4),
                                                                     make_non_updatable=True))
        assert {w.storage for w in small.weights if not w.is_bias} == {"lut"}
        assert not small.spec.isUpdatable and mlquant.problems(small) == []

    def test_float16_is_refused_in_an_updatable_model(self) -> None:
        """float16 anywhere in an updatable model is kept back, as coremltools refuses it."""
        model = mlquant.Model(pm.updatable_classifier())
        with pytest.warns(mlquant.MlquantWarning, match="cannot update a model holding float16"):
            small = mlquant.quantize(model, mlquant.Float16Quantizer())
        assert {w.storage for w in small.weights} == {"float32"} and mlquant.problems(small) == []

    def test_an_input_already_broken_is_flagged(self, tmp_path: Path) -> None:
        """An updatable layer holding quantized weights is reported with Core ML's rule."""
        spec = pm.updatable_classifier()
        quantized = mlquant.quantize(mlquant.Model(spec).without_updates(), mlquant.KMeansLUTQuantizer(nbits=4))
        layer = next(x for x in spec.neuralNetworkClassifier.layers if x.name == "dense1")
        source = next(x for x in quantized.spec.neuralNetworkClassifier.layers if x.name == "dense1")
        layer.innerProduct.weights.CopyFrom(source.innerProduct.weights)
        layer.innerProduct.weights.isUpdatable = True
        path = tmp_path / "broken.mlmodel"
        path.write_bytes(spec.SerializeToString())
        found = mlquant.problems(mlquant.load(path))
        assert any("updatable layer, named 'dense1', has quantized weights/bias" in p for p in found)
        from mlquant.cli import main

        assert main(["inspect", str(path)]) == 0


class TestEveryWeightLayer:
    def test_quantizes_every_kind(self) -> None:
        """Every recurrent and normalisation layer's weights quantize, and the file passes the validator."""
        model = mlquant.Model(pm.every_weight_classifier())
        small = mlquant.quantize(model, mlquant.KMeansLUTQuantizer(nbits=4), select=mlquant.LayerSelector(biases=True))
        assert {w.storage for w in small.weights} == {"lut"}
        assert mlquant.problems(small) == []


class TestAlreadyQuantized:
    def test_requantizing_says_so(self) -> None:
        """Quantizing a model already stored as an 8-bit table warns, naming the storage."""
        model = mlquant.Model(pm.lut_quantized(pm.every_weight_classifier()))
        with pytest.warns(mlquant.MlquantWarning, match=r"already stored quantized \(8-bit lut\)"):
            mlquant.quantize(model, mlquant.KMeansLUTQuantizer(nbits=4))

    def test_a_larger_result_says_so(self) -> None:
        """float16 of an 8-bit model is larger than its input, and quantize() says so."""
        model = mlquant.Model(pm.lut_quantized(pm.wide_classifier()))
        with pytest.warns(mlquant.MlquantWarning, match="not smaller than its input"):
            bigger = mlquant.quantize(model, mlquant.Float16Quantizer())
        assert bigger.size_bytes > model.size_bytes
