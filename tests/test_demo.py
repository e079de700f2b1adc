"""Tests for the built-in demo: the digits classifier and its held-out images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mlquant
from mlquant.workflow.demo import DemoFiles, build_digits_demo

LABELS = [str(d) for d in range(10)]
ALLOWED_LAYERS = {"flatten", "innerProduct", "activation", "softmax", "convolution", "pooling"}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _images(data: Path) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Every PNG under ``data``: pixels (N, 8, 8), label per image, and load_digits index per image."""
    pixels, labels, indices = [], [], []
    for path in sorted(data.glob("*/*.png")):
        with Image.open(path) as image:
            assert image.mode == "L"
            pixels.append(np.asarray(image))
        labels.append(int(path.parent.name))
        indices.append(int(path.stem))
    return np.stack(pixels), np.array(labels), indices


class TestModel:
    def test_loads_as_a_classifier_with_digit_labels(self, demo: DemoFiles) -> None:
        """The model loads with mlquant.load as a neuralNetworkClassifier labelled "0" to "9"."""
        model = mlquant.load(demo.model)
        assert demo.model.name == "digits.mlmodel"
        assert model.type == "neuralNetworkClassifier"
        assert model.class_labels == tuple(LABELS)
        description = model.spec.description
        assert description.predictedFeatureName == "classLabel"
        assert description.predictedProbabilitiesName == "classProbability"
        assert description.metadata.author and description.metadata.shortDescription

    def test_input_is_an_8x8_grayscale_image_scaled_to_the_training_range(self, demo: DemoFiles) -> None:
        """The one input is an 8x8 GRAYSCALE image named "image" whose scaler multiplies pixels by 16/255."""
        spec = mlquant.load(demo.model).spec
        (feature,) = spec.description.input
        assert feature.name == "image"
        assert feature.type.WhichOneof("Type") == "imageType"
        image = feature.type.imageType
        assert (image.width, image.height) == (8, 8)
        assert image.colorSpace == type(image).ColorSpace.Value("GRAYSCALE")
        (pre,) = spec.neuralNetworkClassifier.preprocessing
        assert pre.featureName == "image"
        assert pre.scaler.channelScale == pytest.approx(16 / 255, rel=1e-6)
        assert pre.scaler.grayBias == 0

    def test_uses_only_layers_the_reference_runtime_supports(self, demo: DemoFiles) -> None:
        """Every layer is flatten, innerProduct, activation (ReLU), softmax, convolution or pooling."""
        layers = mlquant.load(demo.model).spec.neuralNetworkClassifier.layers
        kinds = [layer.WhichOneof("layer") for layer in layers]
        assert set(kinds) <= ALLOWED_LAYERS
        assert kinds.count("innerProduct") >= 2
        for layer in layers:
            if layer.WhichOneof("layer") == "activation":
                assert layer.activation.WhichOneof("NonlinearityType") == "ReLU"

    def test_has_enough_weights_for_quantization_to_matter(self, demo: DemoFiles) -> None:
        """The network holds over 10,000 float32 weight values."""
        model = mlquant.load(demo.model)
        assert sum(w.count for w in model.weights) > 10_000
        assert {w.storage for w in model.weights} == {"float32"}


class TestData:
    def test_holds_out_30_percent_of_each_class(self, demo: DemoFiles) -> None:
        """The data folder has one subfolder per digit holding 30% of that digit's samples, rounded."""
        from sklearn.datasets import load_digits

        counts = np.bincount(load_digits().target, minlength=10)
        assert sorted(p.name for p in demo.data.iterdir()) == LABELS
        for label in LABELS:
            found = len(list((demo.data / label).glob("*.png")))
            assert found == (counts[int(label)] * 3 + 5) // 10, label
        assert len(list(demo.data.rglob("*"))) == 10 + sum((n * 3 + 5) // 10 for n in counts)

    def test_pngs_hold_the_rounded_digits_of_their_class(self, demo: DemoFiles) -> None:
        """Each PNG is the 8x8 digit its name indexes, as round(value * 255 / 16), in its label's folder."""
        from sklearn.datasets import load_digits

        digits = load_digits()
        pixels, labels, indices = _images(demo.data)
        assert pixels.shape[1:] == (8, 8) and pixels.dtype == np.uint8
        expected = np.rint(digits.data[indices] * 255 / 16).reshape(-1, 8, 8)
        np.testing.assert_array_equal(pixels, expected)
        np.testing.assert_array_equal(labels, digits.target[indices])

    def test_reaches_95_percent_on_held_out_digits(self, demo: DemoFiles) -> None:
        """The reported held-out accuracy is at least 95% and the training accuracy no lower."""
        assert demo.test_accuracy >= 0.95
        assert demo.train_accuracy >= demo.test_accuracy


class TestDeterminism:
    def test_two_builds_write_identical_bytes(self, demo: DemoFiles, tmp_path: Path) -> None:
        """A second build into another folder writes byte-identical model and PNG files."""
        again = build_digits_demo(tmp_path / "again")
        assert _files(tmp_path / "again") == _files(demo.model.parent)
        assert (again.train_accuracy, again.test_accuracy) == (demo.train_accuracy, demo.test_accuracy)

    def test_rebuild_overwrites_and_removes_stale_images(self, tmp_path: Path) -> None:
        """Building over another seed's output leaves exactly the files of a fresh build."""
        build_digits_demo(tmp_path / "reused", seed=1)
        build_digits_demo(tmp_path / "reused", seed=2)
        build_digits_demo(tmp_path / "fresh", seed=2)
        assert _files(tmp_path / "reused") == _files(tmp_path / "fresh")

    def test_seed_changes_the_split(self, demo: DemoFiles, tmp_path: Path) -> None:
        """Another seed holds out other digits and trains other weights."""
        other = build_digits_demo(tmp_path / "other", seed=1)
        assert other.test_accuracy >= 0.95
        assert _images(other.data)[2] != _images(demo.data)[2]
        assert other.model.read_bytes() != demo.model.read_bytes()


class TestIndependentCheck:
    def test_hand_written_forward_pass_reproduces_test_accuracy(self, demo: DemoFiles) -> None:
        """A numpy forward pass over the PNGs with the weights read from the file gives test_accuracy."""
        model = mlquant.load(demo.model)
        pixels, labels, _ = _images(demo.data)
        h = pixels.reshape(len(pixels), 64).astype(np.float64) * 16 / 255
        dense = [w.layer for w in model.weights if w.field == "weights"]
        assert [model.read(f"{name}.weights").shape for name in dense] == [(128, 64), (64, 128), (10, 64)]
        for i, name in enumerate(dense):
            h = h @ model.read(f"{name}.weights").astype(np.float64).T + model.read(f"{name}.bias")
            if i < len(dense) - 1:
                h = np.maximum(h, 0.0)
        probabilities = np.exp(h - h.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        assert np.mean(probabilities.argmax(axis=1) == labels) == demo.test_accuracy

    def test_reference_runtime_agrees_with_test_accuracy(self, demo: DemoFiles) -> None:
        """mlquant's reference backend, reading the PNGs through the scaler, gets the same accuracy."""
        from mlquant.evaluate import Evaluator
        from mlquant.evaluate.backends import ReferenceBackend

        evaluation = Evaluator(demo.data, backend=ReferenceBackend()).evaluate(mlquant.load(demo.model))
        assert evaluation.accuracy == demo.test_accuracy
