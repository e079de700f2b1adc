"""Known answers from coremltools' own quantize_weights, on the real model and on small ones."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import mlquant
from mlquant import _coreml
from mlquant.formats.neuralnetwork import layout as _nn
from mlquant.formats.neuralnetwork.codec import decode
from mlquant.quantize import from_name

from . import _models

MODES = ("linear", "linear_lut")


def coremltools_quantized(spec: Any, nbits: int, mode: str) -> Any:
    """Quantize a copy of ``spec`` with coremltools' quantize_weights machinery (quietly)."""
    ct = _coreml.coremltools()
    from coremltools.models.neural_network.quantization_utils import _quantize_spec_weights

    modes = {
        "linear": ct.models._QUANTIZATION_MODE_LINEAR_QUANTIZATION,
        "linear_lut": ct.models._QUANTIZATION_MODE_LOOKUP_TABLE_LINEAR,
        "linear_symmetric": ct.models._QUANTIZATION_MODE_LINEAR_SYMMETRIC,
    }
    copy = type(spec).FromString(spec.SerializeToString())
    with contextlib.redirect_stdout(io.StringIO()):
        return _quantize_spec_weights(copy, nbits, modes[mode])


def assert_same_weights(ours: mlquant.Model, theirs_spec: Any, *, step_tolerance: float) -> None:
    """Non-bias weights dequantize equally, but for at most ``step_tolerance`` of values off by one step."""
    theirs = _nn.slots(theirs_spec)
    for weight in ours.weights:
        if weight.is_bias:
            continue
        slot = theirs[weight.index]
        expected = decode(slot.params, slot.shape, slot.channel_axis, slot.where)
        actual = ours.read(weight)
        differ = actual != expected
        assert differ.mean() <= step_tolerance, f"{weight.name}: {differ.sum()} of {differ.size} values differ"
        if differ.any():
            scale = np.asarray(slot.params.quantization.linearQuantization.scale
                               or [np.diff(slot.params.quantization.lookupTableQuantization.floatValue[:2])[0]])
            assert np.all(np.abs(actual - expected)[differ] <= scale.max() * 1.0001), weight.name


@pytest.fixture(scope="module")
def food_grid(food_model: mlquant.Model) -> dict[tuple[str, int], Any]:
    """coremltools' linear and linear-LUT quantizations of the food model at widths 1-8."""
    return {(mode, n): coremltools_quantized(food_model.spec, n, mode) for mode in MODES for n in range(1, 9)}


@pytest.fixture(scope="module")
def food_ours(food_model: mlquant.Model) -> Callable[[str, int], mlquant.Model]:
    """mlquant's quantization of the food model in a mode at a width, made once for the tests that read it."""
    made: dict[tuple[str, int], mlquant.Model] = {}

    def quantized(mode: str, nbits: int) -> mlquant.Model:
        if (mode, nbits) not in made:
            made[mode, nbits] = mlquant.quantize(food_model, from_name(mode, nbits))
        return made[mode, nbits]

    return quantized


class TestFoodModelAgainstCoremltools:
    @pytest.mark.parametrize("nbits", range(1, 9))
    @pytest.mark.parametrize("mode", MODES)
    def test_dequantized_kernels_equal(self, food_ours, food_grid, mode: str, nbits: int) -> None:
        """Linear and linear-LUT kernels equal coremltools' at every width (float32/float64 ties aside)."""
        assert_same_weights(food_ours(mode, nbits), food_grid[(mode, nbits)], step_tolerance=1e-4)

    @pytest.mark.parametrize("nbits", range(1, 9))
    @pytest.mark.parametrize("mode", MODES)
    def test_file_size_within_two_percent(self, food_ours, food_grid, mode: str, nbits: int) -> None:
        """Files are no more than 2% larger than coremltools' (biases stay float32, exact)."""
        ours = food_ours(mode, nbits).size_bytes
        theirs = food_grid[(mode, nbits)].ByteSize()
        assert ours <= 1.02 * theirs, f"{ours} vs {theirs}"

    def test_symmetric_8_bit(self, food_model) -> None:
        """8-bit symmetric linear equals coremltools' linear_symmetric mode."""
        theirs = coremltools_quantized(food_model.spec, 8, "linear_symmetric")
        ours = mlquant.quantize(food_model, mlquant.LinearQuantizer(nbits=8, symmetric=True))
        assert_same_weights(ours, theirs, step_tolerance=1e-4)

    def test_float16(self, food_model) -> None:
        """16 bits gives exactly coremltools' half-precision weights."""
        ct = _coreml.coremltools()
        from coremltools.models.utils import _convert_neural_network_spec_weights_to_fp16

        with contextlib.redirect_stdout(io.StringIO()):
            theirs = _convert_neural_network_spec_weights_to_fp16(type(food_model.spec).FromString(food_model.to_bytes()))
        del ct
        ours = mlquant.quantize(food_model, mlquant.Float16Quantizer())
        assert_same_weights(ours, theirs, step_tolerance=0.0)


class TestSmallModelsAgainstCoremltools:
    @pytest.mark.parametrize("nbits", [1, 4, 7])
    def test_every_layer_type(self, nbits: int) -> None:
        """Per-channel axes (0, and 1 for deconvolution) agree with coremltools on every weight layer type."""
        spec = _models.every_weight_layer()
        model = mlquant.Model(spec)
        for mode in MODES:
            ours = mlquant.quantize(model, from_name(mode, nbits))
            assert_same_weights(ours, coremltools_quantized(spec, nbits, mode), step_tolerance=0.0)

    def test_coremltools_reads_our_files(self, tmp_path) -> None:
        """coremltools' own dequantizer reads our packed files back to our values."""
        ct = _coreml.coremltools()
        from coremltools.models.neural_network.quantization_utils import _dequantize_nn_spec

        model = mlquant.Model(_models.mlp_classifier())
        for quantizer in (mlquant.LinearQuantizer(nbits=3), mlquant.KMeansLUTQuantizer(nbits=5)):
            small = mlquant.quantize(model, quantizer)
            spec = ct.utils.load_spec(str(small.save(tmp_path / f"{quantizer.name}.mlmodel")))
            _dequantize_nn_spec(spec.neuralNetworkClassifier)
            for weight, slot in zip(small.weights, _nn.slots(spec)):
                theirs = np.array(slot.params.floatValue, dtype=np.float32).reshape(weight.shape)
                np.testing.assert_allclose(theirs, small.read(weight), rtol=1e-6, atol=1e-7)
