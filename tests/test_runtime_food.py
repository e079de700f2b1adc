"""The whole food model in the reference runtime and in its ONNX translation, against a separate
hand-written translation to onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlquant.runtime import Network

from . import _runtime_models as rm
from ._runtime_onnx import food_to_onnx, session

IMAGES_PER_CLASS = 3


def load_images(folder: Path, per_class: int) -> tuple[np.ndarray, list[str]]:
    """The first ``per_class`` JPEGs of each class folder, as a (B, 3, 227, 227) BGR float batch."""
    from PIL import Image

    pixels, classes = [], []
    for directory in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(directory.glob("*.jpg"))[:per_class]:
            with Image.open(path) as image:
                rgb = np.asarray(image.convert("RGB").resize((227, 227), Image.BILINEAR), dtype=np.float32)
            pixels.append(rgb[:, :, ::-1].transpose(2, 0, 1))
            classes.append(directory.name)
    return np.stack(pixels), classes


@pytest.fixture(scope="module")
def food_onnx(food_model):
    """An onnxruntime session for the food model's ONNX translation."""
    return session(food_to_onnx(food_model.spec))


@pytest.fixture
def food_network(food_model, runtime_engine):
    """The food model in the engine under test (built once per engine)."""
    if runtime_engine not in _EXECUTORS:
        _EXECUTORS[runtime_engine] = rm.executor(food_model)
    return _EXECUTORS[runtime_engine]


#: The food model's executor per engine, built once per session.
_EXECUTORS: dict = {}


@pytest.fixture(scope="module")
def real_images(food_dir) -> tuple[np.ndarray, list[str]]:
    """A few real test images of every class."""
    return load_images(food_dir / "testing_data", IMAGES_PER_CLASS)


class TestFoodModel:
    """The food model's probabilities match onnxruntime's on random and real images."""

    def test_interface(self, food_network, food_model):
        """The network takes the 'data' image and returns 'prob' over the 101 labels."""
        assert food_network.input_names == ("data",)
        assert food_network.output_names == ("prob",)
        assert len(food_model.class_labels) == 101

    def test_random_inputs(self, food_network, food_onnx):
        """On random pixels the probabilities agree within 1e-4 and the top-1 class is identical."""
        x = np.random.default_rng(0).uniform(0, 255, (6, 3, 227, 227)).astype(np.float32)
        got = food_network.run({"data": x})["prob"]
        expected = food_onnx.run(None, {"data": x})[0]
        assert got.shape == (6, 101)
        np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)
        assert np.abs(got - expected).max() < 1e-4
        np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))

    def test_real_images(self, food_network, food_onnx, real_images):
        """On real photos the probabilities agree within 1e-4 and the top-1 class is identical."""
        x, _ = real_images
        got = food_network.run({"data": x})["prob"]
        expected = food_onnx.run(None, {"data": x})[0]
        assert np.abs(got - expected).max() < 1e-4
        np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))

    def test_predictions_make_sense(self, food_network, food_model, real_images):
        """Most real photos are classified as their folder's food (the labels are in label order)."""
        x, classes = real_images
        labels = food_model.class_labels
        predicted = [labels[i] for i in food_network.run({"data": x})["prob"].argmax(axis=1)]
        assert np.mean([p == c for p, c in zip(predicted, classes, strict=True)]) >= 0.5

    def test_batch_does_not_change_results(self, food_network, real_images):
        """Each image's probabilities are the same whether it runs alone or in a batch (byte for byte)."""
        x, _ = real_images
        together = food_network.run({"data": x[:4]})["prob"]
        alone = np.concatenate([food_network.run({"data": x[i : i + 1]})["prob"] for i in range(4)])
        np.testing.assert_array_equal(together, alone)
        np.testing.assert_array_equal(together, food_network.run({"data": x[:4]})["prob"])

    @pytest.mark.reference_only("float16 mode is the reference runtime's alone")
    def test_float16_mode(self, food_model, food_network, real_images):
        """Half-precision activations stay close to float32 and mostly keep the top-1 class."""
        x, _ = real_images
        full = food_network.run({"data": x})["prob"]
        half = Network(food_model, float16=True).run({"data": x})["prob"]
        assert np.abs(full - half).max() < 0.05
        assert np.mean(full.argmax(axis=1) == half.argmax(axis=1)) >= 0.9
