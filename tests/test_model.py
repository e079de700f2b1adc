"""Reading, describing and saving models; every kind of bad model file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import mlquant
from mlquant import _coreml
from mlquant.errors import InvalidModelError, ModelNotFoundError, OverwriteError, UnsupportedModelError

from . import _models


class TestFoodModel:
    def test_weights(self, food_model: mlquant.Model) -> None:
        """The food model's 26 convolutions give 52 float32 tensors with their layers' shapes."""
        weights = food_model.weights
        assert len(weights) == 52
        first = weights[0]
        assert (first.layer, first.layer_type, first.field, first.shape, first.channel_axis) == (
            "conv1", "convolution", "weights", (64, 3, 3, 3), 0)
        assert weights[1].is_bias and weights[1].shape == (64,)
        assert sum(w.count for w in weights) == 771_264 + 3_045
        assert {w.storage for w in weights} == {"float32"}

    def test_read_matches_the_protobuf(self, food_model: mlquant.Model) -> None:
        """read() gives the floatValue array in the layer's shape, read-only."""
        layer = food_model.spec.neuralNetworkClassifier.layers[0]
        expected = np.array(layer.convolution.weights.floatValue, dtype=np.float32).reshape(64, 3, 3, 3)
        values = food_model.read("conv1.weights")
        np.testing.assert_array_equal(values, expected)
        assert not values.flags.writeable

    def test_size_and_labels(self, food_model: mlquant.Model, food_dir: Path) -> None:
        """size_bytes is the file's size; class labels are the 101 dishes."""
        assert food_model.size_bytes == (food_dir / "food.mlmodel").stat().st_size
        labels = food_model.class_labels
        assert labels is not None and len(labels) == 101 and "french fries" in labels

    def test_layer_summary(self, food_model: mlquant.Model) -> None:
        """One summary row per weighted layer, weights and bias counted together."""
        rows = food_model.layer_summary()
        assert len(rows) == 26
        assert (rows[0].layer, rows[0].count, rows[0].storage, rows[0].nbits, rows[0].nbytes) == (
            "conv1", 1792, "float32", 32, 1792 * 4)


class TestWeightLayout:
    def test_every_weight_layer_type(self) -> None:
        """Every weight-carrying layer type is enumerated, with output-channel axis 0 (1 for deconvolution)."""
        model = mlquant.Model(_models.every_weight_layer())
        types = {w.layer_type for w in model.weights}
        assert types == {"convolution", "batchnorm", "scale", "bias", "innerProduct", "embedding",
                         "loadConstant", "simpleRecurrent", "gru", "uniDirectionalLSTM", "biDirectionalLSTM"}
        deconv = next(w for w in model.weights if w.layer == "deconv" and w.field == "weights")
        assert (deconv.shape, deconv.channel_axis) == ((6, 4, 2, 2), 1)
        lstm = [w for w in model.weights if w.layer == "bilstm"]
        assert len(lstm) == 2 * 12 and lstm[12].field == "weightParams[1].inputGateWeightMatrix"

    def test_nd_layers(self) -> None:
        """batchedMatmul, embeddingND and loadConstantND weights are found with their shapes."""
        model = mlquant.Model(_models.nd_weight_layers())
        shapes = {(w.layer, w.field): w.shape for w in model.weights}
        assert shapes[("matmul", "weights")] == (4, 6)
        assert shapes[("embed_nd", "weights")] == (3, 9)
        assert shapes[("const_nd", "data")] == (2, 3)

    def test_pipeline(self, tmp_path: Path) -> None:
        """A network nested in a pipeline classifier is found and quantized."""
        spec = _coreml.new_spec()
        spec.specificationVersion = 1
        inner = _models.mlp_classifier()
        spec.description.CopyFrom(inner.description)
        spec.pipelineClassifier.pipeline.models.add().CopyFrom(inner)
        model = mlquant.Model(spec)
        assert model.type == "pipelineClassifier" and len(model.weights) == 4
        small = mlquant.quantize(model, mlquant.LinearQuantizer(nbits=4))
        assert small.spec.specificationVersion >= 3
        assert small.spec.pipelineClassifier.pipeline.models[0].specificationVersion >= 3
        assert mlquant.load(small.save(tmp_path / "p.mlmodel")).weights[0].storage == "linear"


class TestBadFiles:
    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is a ModelNotFoundError (also a FileNotFoundError) naming the path."""
        with pytest.raises(ModelNotFoundError, match="no model file at .*nope.mlmodel"):
            mlquant.load(tmp_path / "nope.mlmodel")
        with pytest.raises(FileNotFoundError):
            mlquant.load(tmp_path / "nope.mlmodel")

    def test_not_a_model(self, tmp_path: Path) -> None:
        """Text or an image is not a Core ML model."""
        for name, data in (("notes.mlmodel", b"hello, this is text\n"), ("img.mlmodel", b"\x89PNG\r\n\x1a\n" + bytes(64))):
            path = tmp_path / name
            path.write_bytes(data)
            with pytest.raises(InvalidModelError, match=f"{name} is not a"):
                mlquant.load(path)

    def test_empty_file(self, tmp_path: Path) -> None:
        """An empty file is not a model."""
        path = tmp_path / "empty.mlmodel"
        path.write_bytes(b"")
        with pytest.raises(InvalidModelError, match="not a Core ML model"):
            mlquant.load(path)

    @pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
    def test_truncated(self, food_dir: Path, tmp_path: Path, keep: float) -> None:
        """A truncated download is an InvalidModelError, never a protobuf traceback."""
        data = (food_dir / "food.mlmodel").read_bytes()
        path = tmp_path / "cut.mlmodel"
        path.write_bytes(data[: int(len(data) * keep)])
        with pytest.raises(InvalidModelError, match="cut.mlmodel"):
            mlquant.load(path)

    def test_corrupted_weights(self, tmp_path: Path) -> None:
        """A weight whose value count does not match its layer's shape names the layer."""
        spec = _models.mlp_classifier()
        del spec.neuralNetworkClassifier.layers[0].innerProduct.weights.floatValue[-1]
        path = tmp_path / "bad.mlmodel"
        path.write_bytes(spec.SerializeToString())
        with pytest.raises(InvalidModelError, match=r"layer 'fc1' \(innerProduct\) weights: the layer's shape \(16, 12\) needs 192 values \(got 191\)"):
            mlquant.load(path)

    def test_unsupported_model_type(self, tmp_path: Path) -> None:
        """A GLM classifier is refused with its type in the message."""
        spec = _coreml.new_spec()
        spec.specificationVersion = 1
        spec.description.input.add().name = "x"
        spec.glmClassifier.offset.append(0.0)
        path = tmp_path / "glm.mlmodel"
        path.write_bytes(spec.SerializeToString())
        with pytest.raises(UnsupportedModelError, match="this model's type is glmClassifier"):
            mlquant.load(path)

    def test_broken_package_manifest(self, tmp_path: Path) -> None:
        """An .mlpackage folder whose manifest names no model gets a clear error naming the manifest."""
        package = tmp_path / "model.mlpackage"
        package.mkdir()
        (package / "Manifest.json").write_text("{}")
        with pytest.raises(mlquant.InvalidModelError, match="Manifest.json is not a readable package manifest"):
            mlquant.load(package)


class TestSave:
    def test_refuses_to_overwrite_the_source(self, tmp_path: Path) -> None:
        """Saving over the loaded file needs overwrite=True, and the file is untouched without it."""
        path = tmp_path / "m.mlmodel"
        path.write_bytes(_models.mlp_classifier().SerializeToString())
        before = path.read_bytes()
        model = mlquant.load(path)
        small = mlquant.quantize(model, mlquant.LinearQuantizer(nbits=2))
        assert small.source == path and small.path is None
        with pytest.raises(OverwriteError, match="refusing to overwrite"):
            small.save(path)
        assert path.read_bytes() == before
        small.save(path, overwrite=True)
        assert mlquant.load(path).weights[0].storage == "linear"

    def test_atomic_write_leaves_no_temporary_files(self, tmp_path: Path) -> None:
        """A save writes exactly the target file and nothing beside it."""
        model = mlquant.Model(_models.mlp_classifier())
        model.save(tmp_path / "out" / "m.mlmodel")
        assert os.listdir(tmp_path / "out") == ["m.mlmodel"]

    def test_deterministic_bytes(self, tmp_path: Path) -> None:
        """Quantizing the same model twice writes byte-identical files."""
        model = mlquant.Model(_models.mlp_classifier())
        a = mlquant.quantize(model, mlquant.KMeansLUTQuantizer(nbits=3)).save(tmp_path / "a.mlmodel")
        b = mlquant.quantize(model, mlquant.KMeansLUTQuantizer(nbits=3)).save(tmp_path / "b.mlmodel")
        assert a.read_bytes() == b.read_bytes()


class TestEmptyLayer:
    def test_layer_without_a_type(self) -> None:
        """A layer whose type is unset is an InvalidModelError naming it, not a TypeError."""
        spec = _models.mlp_classifier()
        spec.neuralNetworkClassifier.layers.add().name = "ghost"
        with pytest.raises(InvalidModelError, match="layer 'ghost' has no layer type"):
            mlquant.Model(spec)


class TestLookups:
    def test_unknown_weight_is_a_settings_error(self) -> None:
        """Reading a weight that does not exist is an MlquantError naming what exists, not a bare KeyError."""
        model = mlquant.Model(_models.mlp_classifier())
        with pytest.raises(mlquant.SettingsError, match="no weight named 'fc9.weights'.*fc1.weights"):
            model.read("fc9.weights")
        with pytest.raises(mlquant.SettingsError, match="no weight number 99"):
            model.read(99)
