"""The Evaluator and Evaluation: figures, agreement, early stop, files, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mlquant
from mlquant import _coreml
from mlquant.errors import DataError, UnsupportedLayerError
from mlquant.evaluate import Evaluator
from mlquant.evaluate.backends import ReferenceBackend
from mlquant.evaluate.data import ImageFolder
from mlquant.evaluate.results import read_csv, read_json, row_of, write_csv, write_json
from mlquant.evaluate.signature import signature

LABELS = ["cat", "dog", "hot dog", "pizza"]


def image_classifier(labels: list[str] = LABELS, size: int = 4):
    """A tiny RGB image classifier (innerProduct over pixels) built with coremltools."""
    _coreml.coremltools()
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    builder = NeuralNetworkBuilder([("image", datatypes.Array(3, size, size))], [("probs", None)], mode="classifier")
    builder.add_flatten("flat", 0, "image", "flat")
    weights = np.random.default_rng(0).normal(size=(len(labels), 3 * size * size)).astype(np.float32)
    builder.add_inner_product("fc", weights, None, 3 * size * size, len(labels), False, "flat", "logits")
    builder.add_softmax("softmax", "logits", "probs")
    builder.set_class_labels(labels, predicted_feature_name="label", prediction_blob="probs")
    builder.set_input(["image"], [(3, size, size)])
    spec = builder.spec
    spec.description.input[0].type.imageType.width = size
    spec.description.input[0].type.imageType.height = size
    spec.description.input[0].type.imageType.colorSpace = 20  # RGB
    return mlquant.Model(spec)


class ByRed(mlquant.Backend):
    """A test double: predicts label (red value // 64), so the folders decide accuracy."""

    name = "by-red"

    def predict(self, model: mlquant.Model, inputs: np.ndarray) -> np.ndarray:
        scores = np.zeros((len(inputs), len(model.class_labels)), dtype=np.float32)
        scores[np.arange(len(inputs)), inputs[:, 0, 0, 0] // 64] = 1.0
        scores += np.linspace(0.0, 0.1, scores.shape[1])  # a fixed order for the rest of the top 5
        return scores


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """cat: 3 images (2 predicted right); hot_dog: 2 images (1 right)."""
    for label, reds in {"cat": [0, 10, 70], "hot_dog": [130, 250]}.items():
        (tmp_path / label).mkdir()
        for i, red in enumerate(reds):
            Image.new("RGB", (4, 4), (red, 0, 0)).save(tmp_path / label / f"{i}.png")
    return tmp_path


class TestFigures:
    def test_hand_computed(self, folder: Path) -> None:
        """Per-class accuracy, means, counts and confusion match a hand count."""
        result = Evaluator(folder, backend=ByRed()).evaluate(image_classifier())
        assert result.classes == ("cat", "hot dog")
        assert result.counts == {"cat": (2, 3), "hot dog": (1, 2)}
        assert result.per_class == pytest.approx({"cat": 2 / 3, "hot dog": 1 / 2})
        assert result.accuracy == pytest.approx(3 / 5)
        assert result.mean_class_accuracy == pytest.approx((2 / 3 + 1 / 2) / 2)
        np.testing.assert_array_equal(result.confusion.matrix, [[2, 0, 1], [0, 1, 1]])
        assert result.measured["backend"] == "by-red" and result.complete

    def test_agreement_with_a_reference(self, folder: Path) -> None:
        """Top-1 and top-5 agreement compare with the reference's top-1, input by input."""
        ev = Evaluator(folder, backend=ByRed())
        base = ev.evaluate(image_classifier())
        assert ev.evaluate(image_classifier(), reference=base).top1_agreement == 1.0

        class Shifted(ByRed):
            def predict(self, model, inputs):
                return np.roll(super().predict(model, inputs), 1, axis=1)

        moved = Evaluator(folder, backend=Shifted()).evaluate(image_classifier(), reference=base)
        assert moved.top1_agreement == 0.0 and moved.top5_agreement == 1.0

    def test_early_stop(self, folder: Path) -> None:
        """stop() sees partial results after each batch and can end the evaluation."""
        seen = []
        result = Evaluator(folder, backend=ByRed(), batch_size=2).evaluate(
            image_classifier(), stop=lambda partial: seen.append(len(partial.files)) or len(partial.files) >= 4)
        assert seen == [2, 4] and len(result.files) == 4 and not result.complete

    def test_unlabelled_folder_measures_agreement_only(self, folder: Path, tmp_path: Path) -> None:
        """A flat folder gives no accuracy, but agreement with a reference."""
        flat = tmp_path / "flat"
        flat.mkdir()
        for i, red in enumerate([0, 70, 250]):
            Image.new("RGB", (4, 4), (red, 0, 0)).save(flat / f"{i}.png")
        ev = Evaluator(flat, backend=ByRed())
        base = ev.evaluate(image_classifier())
        result = ev.evaluate(image_classifier(), reference=base)
        assert result.accuracy is None and result.per_class == {} and result.top1_agreement == 1.0


class TestFiles:
    def test_json_round_trip(self, folder: Path, tmp_path: Path) -> None:
        """JSON keeps every prediction, so every figure survives a round trip."""
        result = Evaluator(folder, backend=ByRed()).evaluate(image_classifier(), name="tiny")
        again = read_json(write_json([result], tmp_path / "r.json"))[0]
        assert (again.name, again.per_class, again.accuracy, again.files) == (
            "tiny", result.per_class, result.accuracy, result.files)
        np.testing.assert_array_equal(again.top5, result.top5)

    def test_csv_layout(self, folder: Path, tmp_path: Path) -> None:
        """The CSV has one model per row: model,size,<class>...,accuracy,..."""
        result = Evaluator(folder, backend=ByRed()).evaluate(image_classifier(), name="tiny")
        path = write_csv([row_of(result, drop=0.5)], tmp_path / "r.csv")
        lines = path.read_text().splitlines()
        assert lines[0] == "model,size,cat,hot dog,accuracy,mean_class_accuracy,top1_agreement,top5_agreement,drop"
        assert lines[1].startswith(f"tiny,{result.size_bytes},0.6667,0.5000,0.6000,0.5833,,,0.5")
        row = read_csv(path)[0]
        assert row.per_class == {"cat": 0.6667, "hot dog": 0.5} and row.figures["drop"] == 0.5


class TestBadInput:
    def test_folder_matching_no_label(self, folder: Path) -> None:
        """A class folder that is not a label stops evaluation before any image is decoded."""
        (folder / "sandwich").mkdir()
        Image.new("RGB", (4, 4)).save(folder / "sandwich" / "s.png")
        with pytest.raises(DataError, match="'sandwich' matches none of the model's 4 labels"):
            Evaluator(folder, backend=ByRed()).evaluate(image_classifier())

    def test_unsupported_layer_before_any_image(self, folder: Path) -> None:
        """A layer the runtime cannot run is reported, naming it, before inputs are decoded."""
        model = image_classifier()
        spec = model.copy_spec()
        custom = spec.neuralNetworkClassifier.layers[1]
        custom.custom.className = "MyMagic"
        data = ImageFolder(folder)
        with pytest.raises(UnsupportedLayerError, match="fc"):
            Evaluator(data).evaluate(mlquant.Model(spec))
        assert data._cache == {}

    def test_array_model_given_images(self, folder: Path) -> None:
        """A multi-array model given a folder of images is a clear DataError."""
        from tests._models import mlp_classifier

        data = ImageFolder(folder, label_map={"cat": "a", "hot_dog": "c"})
        with pytest.raises(DataError, match="multi-array of shape \\(12,\\); .* holds no .npy files"):
            Evaluator(data, backend=ByRed()).evaluate(mlquant.Model(mlp_classifier()))


def linear_classifier(size: int, channels: int, color_space: int, preprocessing: dict) -> tuple[mlquant.Model, np.ndarray]:
    """flatten -> innerProduct -> softmax over an image input; returns the model and its weights."""
    _coreml.coremltools()
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    inputs = channels * size * size
    weights = np.random.default_rng(channels + color_space).normal(scale=0.05, size=(3, inputs)).astype(np.float32)
    builder = NeuralNetworkBuilder([("image", datatypes.Array(channels, size, size))], [("probs", None)], mode="classifier")
    builder.add_flatten("flat", 0, "image", "flat")
    builder.add_inner_product("fc", weights, None, inputs, 3, False, "flat", "logits")
    builder.add_softmax("softmax", "logits", "probs")
    builder.set_class_labels(["x", "y", "z"], prediction_blob="probs")
    spec = builder.spec
    image = spec.description.input[0].type.imageType
    image.width, image.height, image.colorSpace = size, size, color_space
    step = spec.neuralNetworkClassifier.preprocessing.add()
    step.featureName = "image"
    if "mean" in preprocessing:
        step.meanImage.meanImage.extend(preprocessing["mean"].ravel())
    else:
        for key, value in preprocessing.items():
            setattr(step.scaler, key, value)
    return mlquant.Model(spec), weights


class TestHandComputedForwardPass:
    @pytest.mark.parametrize(
        ("channels", "space", "preprocessing"),
        [
            (3, 20, {"channelScale": 1 / 255, "redBias": -0.5, "greenBias": 0.25, "blueBias": 0.1}),
            (3, 30, {"mean": np.arange(3 * 5 * 5, dtype=np.float32).reshape(3, 5, 5)}),
            (1, 10, {"channelScale": 2 / 255, "grayBias": -1.0}),
        ],
        ids=["rgb-scaler", "bgr-mean-image", "grayscale-scaler"],
    )
    def test_image_models(self, tmp_path: Path, channels: int, space: int, preprocessing: dict) -> None:
        """Image models score what a hand-written forward pass over the image files' pixels gives."""
        model, weights = linear_classifier(5, channels, space, preprocessing)
        rng = np.random.default_rng(9)
        (tmp_path / "x").mkdir()
        rgb = rng.integers(0, 256, size=(6, 5, 5, 3), dtype=np.uint8)
        for i, pixels in enumerate(rgb):
            Image.fromarray(pixels, "RGB").save(tmp_path / "x" / f"{i}.png")
        result = Evaluator(tmp_path, backend=ReferenceBackend()).evaluate(model)
        for i, pixels in enumerate(rgb):
            if channels == 1:
                planes = np.asarray(Image.fromarray(pixels, "RGB").convert("L"), np.float64)[None]
            else:
                planes = pixels.transpose(2, 0, 1).astype(np.float64)[::-1 if space == 30 else 1]
            if "mean" in preprocessing:
                x = planes - preprocessing["mean"]
            elif channels == 1:
                x = planes * preprocessing["channelScale"] + preprocessing["grayBias"]
            else:
                bias = np.array([preprocessing["redBias"], preprocessing["greenBias"], preprocessing["blueBias"]])
                x = planes * preprocessing["channelScale"] + bias[:, None, None]
            logits = weights.astype(np.float64) @ x.ravel()
            probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
            row = result.files.index(f"x/{i}.png")
            assert result.predictions[row] == probs.argmax()
            assert result.confidence[row] == pytest.approx(probs.max(), rel=1e-5)

    def test_multiarray_model_reads_npy(self, tmp_path: Path) -> None:
        """A multi-array model scores .npy inputs as a hand-written forward pass does."""
        from tests._models import mlp_classifier

        spec = mlp_classifier()
        model = mlquant.Model(spec)
        layers = spec.neuralNetworkClassifier.layers
        w1 = np.array(layers[0].innerProduct.weights.floatValue, np.float64).reshape(16, 12)
        b1 = np.array(layers[0].innerProduct.bias.floatValue, np.float64)
        w2 = np.array(layers[2].innerProduct.weights.floatValue, np.float64).reshape(4, 16)
        b2 = np.array(layers[2].innerProduct.bias.floatValue, np.float64)
        (tmp_path / "a").mkdir()
        vectors = np.random.default_rng(4).normal(size=(5, 12))
        for i, vector in enumerate(vectors):
            np.save(tmp_path / "a" / f"{i}.npy", vector)
        result = Evaluator(tmp_path, backend=ReferenceBackend()).evaluate(model)
        for i, vector in enumerate(vectors):
            logits = w2 @ np.maximum(w1 @ vector + b1, 0) + b2
            probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
            row = result.files.index(f"a/{i}.npy")
            assert result.predictions[row] == probs.argmax()
            assert result.confidence[row] == pytest.approx(probs.max(), rel=1e-5)

    def test_multiarray_program_reads_npy_as_its_neuralnetwork_does(self, tmp_path: Path) -> None:
        """An ML Program declaring its batch's leading 1 takes the same .npy inputs as the .mlmodel it came from."""
        from tests._models import mlp_classifier

        model = mlquant.Model(mlp_classifier())
        program = mlquant.convert(model, tmp_path / "mlp.mlpackage")
        assert signature(program).input.shape == signature(model).input.shape == (12,)
        assert signature(program).input.declared == (1, 12)
        data = tmp_path / "data"
        (data / "a").mkdir(parents=True)
        for i, vector in enumerate(np.random.default_rng(5).normal(size=(9, 12))):
            np.save(data / "a" / f"{i}.npy", vector)
        evaluator = Evaluator(data, backend=ReferenceBackend(), batch_size=4)
        expected, got = evaluator.evaluate(model), evaluator.evaluate(program)
        assert got.files == expected.files
        np.testing.assert_array_equal(got.predictions, expected.predictions)
        np.testing.assert_allclose(got.confidence, expected.confidence, rtol=1e-5)
