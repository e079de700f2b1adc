"""Layer selection, per-layer plans, quantize() and dequantize()."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mlquant
from mlquant.errors import QuantizationError, SettingsError

from . import _models


@pytest.fixture
def mixed() -> mlquant.Model:
    return mlquant.Model(_models.every_weight_layer())


class TestLayerSelector:
    def test_default_skips_only_biases(self, mixed: mlquant.Model) -> None:
        """By default every weight but the bias vectors is quantized."""
        small = mlquant.quantize(mixed, mlquant.LinearQuantizer(nbits=8))
        for before, after in zip(mixed.weights, small.weights):
            assert after.storage == ("float32" if before.is_bias else "linear"), before.name

    def test_by_type_name_and_size(self, mixed: mlquant.Model) -> None:
        """Type, name pattern, exclusion and minimum size each narrow the selection, for every layer type."""
        cases = {
            mlquant.LayerSelector(layer_types={"innerProduct", "gru"}): {"fc", "gru"},
            mlquant.LayerSelector(names=["*lstm"]): {"lstm", "bilstm"},
            mlquant.LayerSelector(exclude=["*lstm", "gru", "rnn"], min_count=100): {"conv", "bias", "fc"},
            mlquant.LayerSelector(layer_types="innerProduct", min_count=10_000): set(),
        }
        for selector, layers in cases.items():
            chosen = {w.layer for w in mixed.weights if selector(w)}
            assert chosen == layers, selector

    def test_biases_on_request(self, mixed: mlquant.Model) -> None:
        """biases=True quantizes bias vectors too."""
        small = mlquant.quantize(mixed, mlquant.Float16Quantizer(), select=mlquant.LayerSelector(biases=True))
        assert {w.storage for w in small.weights} == {"float16"}

    def test_unknown_layer_type(self) -> None:
        """A misspelt layer type lists the real ones."""
        with pytest.raises(SettingsError, match="unknown layer type 'convolutoin'; layer types with weights are"):
            mlquant.LayerSelector(layer_types=["convolutoin"])


class TestPlan:
    def test_per_layer_overrides(self, mixed: mlquant.Model) -> None:
        """Overrides pick another quantizer or keep a layer float; the rest get the default."""
        plan = mlquant.QuantizationPlan(
            default=mlquant.KMeansLUTQuantizer(nbits=4),
            per_layer={"conv": mlquant.Float16Quantizer(), "*lstm": None},
        )
        small = mlquant.quantize(mixed, plan)
        storage = {(w.layer, w.field): (w.storage, w.nbits) for w in small.weights}
        assert storage[("conv", "weights")] == ("float16", 16)
        assert storage[("conv", "bias")] == ("float32", 32)
        assert storage[("lstm", "weightParams.inputGateWeightMatrix")] == ("float32", 32)
        assert storage[("fc", "weights")] == ("lut", 4)

    def test_plan_validates_its_quantizers(self) -> None:
        """A plan refuses anything that is not a quantizer or None."""
        with pytest.raises(SettingsError, match="layer 'conv' maps to 8"):
            mlquant.QuantizationPlan(per_layer={"conv": 8})  # type: ignore[dict-item]


class TestQuantize:
    def test_input_is_untouched(self, mixed: mlquant.Model) -> None:
        """quantize() returns a new model and leaves its input's bytes alone."""
        before = mixed.to_bytes()
        mlquant.quantize(mixed, mlquant.KMeansLUTQuantizer(nbits=2))
        assert mixed.to_bytes() == before

    def test_specification_versions(self, mixed: mlquant.Model) -> None:
        """float16 needs specification version 2 and n-bit weights version 3."""
        mixed.spec.specificationVersion = 1
        assert mlquant.quantize(mixed, mlquant.Float16Quantizer()).spec.specificationVersion == 2
        assert mlquant.quantize(mixed, mlquant.LinearQuantizer(nbits=8)).spec.specificationVersion == 3

    def test_nan_weight_names_the_layer(self) -> None:
        """A NaN in a weight stops quantization with the layer's name."""
        spec = _models.mlp_classifier()
        spec.neuralNetworkClassifier.layers[2].innerProduct.weights.floatValue[5] = float("nan")
        with pytest.raises(QuantizationError, match=r"layer 'fc2' \(innerProduct\) weights: 1 of 64 values are NaN"):
            mlquant.quantize(mlquant.Model(spec), mlquant.LinearQuantizer(nbits=8))

    def test_float16_and_mixed_inputs(self) -> None:
        """Float16 or mixed float16/float32 models quantize like their float32 equivalents."""
        model = mlquant.Model(_models.mlp_classifier())
        half = mlquant.quantize(model, mlquant.Float16Quantizer(), select=mlquant.LayerSelector(names=["fc1"]))
        assert [w.storage for w in half.weights] == ["float16", "float32", "float32", "float32"]
        from_half = mlquant.quantize(half, mlquant.LinearQuantizer(nbits=4))
        rounded = mlquant.Model(half.spec)
        for weight in from_half.weights:
            if not weight.is_bias:
                expected = mlquant.LinearQuantizer(nbits=4).quantize(rounded.read(weight), channel_axis=0)
                np.testing.assert_array_equal(from_half.read(weight), expected.dequantize())

    def test_dequantize(self, mixed: mlquant.Model) -> None:
        """dequantize() stores every weight as float32 with exactly the values Core ML used."""
        small = mlquant.quantize(mixed, mlquant.LinearLUTQuantizer(nbits=3))
        back = mlquant.dequantize(small)
        assert {w.storage for w in back.weights} == {"float32"}
        for weight in small.weights:
            np.testing.assert_array_equal(back.read(weight), small.read(weight))

    def test_every_written_file_is_valid(self, mixed: mlquant.Model, tmp_path: Path) -> None:
        """Every strategy writes a file that passes the validator and loads back with coremltools."""
        ct = mlquant._coreml.coremltools()
        for quantizer in (mlquant.Float16Quantizer(), mlquant.LinearQuantizer(nbits=3),
                          mlquant.LinearQuantizer(nbits=8, symmetric=True), mlquant.LinearLUTQuantizer(nbits=1),
                          mlquant.KMeansLUTQuantizer(nbits=5)):
            path = mlquant.quantize(mixed, quantizer, select=mlquant.LayerSelector(biases=True)).save(
                tmp_path / f"{quantizer.name}.mlmodel")
            spec = ct.utils.load_spec(str(path))
            assert mlquant.problems(spec) == []
            assert mlquant.load(path).weights[0].nbits == quantizer.nbits


class TestPlanKeys:
    def test_per_weight_beats_per_layer(self, mixed: mlquant.Model) -> None:
        """A per-weight entry overrides the layer's entry for that weight only."""
        plan = mlquant.QuantizationPlan(
            default=mlquant.LinearQuantizer(nbits=8),
            per_layer={"gru": mlquant.KMeansLUTQuantizer(nbits=2)},
            per_weight={"gru.updateGateWeightMatrix": mlquant.Float16Quantizer()},
        )
        small = mlquant.quantize(mixed, plan)
        storage = {w.name: (w.storage, w.nbits) for w in small.weights}
        assert storage["gru.updateGateWeightMatrix"] == ("float16", 16)
        assert storage["gru.resetGateWeightMatrix"] == ("lut", 2)
        assert storage["conv.weights"] == ("linear", 8)

    def test_exact_names_are_not_patterns(self) -> None:
        """A layer literally named conv[1] is addressed by its name, which as a glob would not match it."""
        spec = _models.mlp_classifier()
        spec.neuralNetworkClassifier.layers[0].name = "conv[1]"
        model = mlquant.Model(spec)
        plan = mlquant.QuantizationPlan(default=mlquant.LinearQuantizer(nbits=8), per_layer={"conv[1]": None})
        storage = {w.layer: w.storage for w in mlquant.quantize(model, plan).weights if not w.is_bias}
        assert storage == {"conv[1]": "float32", "fc2": "linear"}
        chosen = mlquant.LayerSelector(names=["conv[1]"])
        assert [w.layer for w in model.weights if chosen(w)] == ["conv[1]"]

    def test_plans_are_hashable_values(self) -> None:
        """Equal plans are equal and hash alike, so they can key a dict; their overrides cannot be changed."""
        make = lambda: mlquant.QuantizationPlan(default=mlquant.KMeansLUTQuantizer(nbits=4),
                                                per_layer={"fc1": None}, per_weight={"fc2.weights": mlquant.Float16Quantizer()})
        first, second = make(), make()
        assert first == second and hash(first) == hash(second)
        assert {first: "x"}[second] == "x"
        with pytest.raises(TypeError):
            first.per_layer["fc1"] = mlquant.Float16Quantizer()  # type: ignore[index]

    def test_names_that_address_nothing(self, mixed: mlquant.Model) -> None:
        """An override naming no weight or layer, or a selection matching nothing, is an error before any work."""
        with pytest.raises(SettingsError, match="names weight 'conv.weight'"):
            mlquant.quantize(mixed, mlquant.QuantizationPlan(per_weight={"conv.weight": None}))
        with pytest.raises(SettingsError, match="layer entry 'zzz\\*' matches none"):
            mlquant.quantize(mixed, mlquant.QuantizationPlan(per_layer={"zzz*": None}))
        with pytest.raises(SettingsError, match="only 'zzz\\*'\\) matches none of the model's"):
            mlquant.quantize(mixed, mlquant.LinearQuantizer(nbits=8), select=mlquant.LayerSelector(names=["zzz*"]))

    def test_description_names_each_override(self) -> None:
        """describe() lists the per-weight entries, then the per-layer ones, float32 for None."""
        plan = mlquant.QuantizationPlan(per_layer={"fc*": None}, per_weight={"fc2.weights": mlquant.Float16Quantizer()})
        assert plan.describe() == "fc2.weights: float16, fc*: float32"
