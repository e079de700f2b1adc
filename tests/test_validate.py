"""The structural validator catches what Core ML would refuse."""

from __future__ import annotations

import numpy as np

import mlquant

from . import _models


def _fc1(spec):
    return spec.neuralNetworkClassifier.layers[0].innerProduct.weights


class TestValidator:
    def test_clean_model(self) -> None:
        """A float model and its quantized versions have no problems."""
        model = mlquant.Model(_models.mlp_classifier())
        assert mlquant.problems(model.spec) == []
        assert mlquant.problems(mlquant.quantize(model, mlquant.LinearQuantizer(nbits=5)).spec) == []

    def test_each_rule(self) -> None:
        """Bit width, table length, scale and bias counts, byte count and double storage are each reported."""
        base = mlquant.quantize(mlquant.Model(_models.mlp_classifier()), mlquant.LinearLUTQuantizer(nbits=4)).copy_spec()
        linear = mlquant.quantize(mlquant.Model(_models.mlp_classifier()), mlquant.LinearQuantizer(nbits=4)).copy_spec()

        def problems_after(spec, change):
            spec = type(spec).FromString(spec.SerializeToString())
            change(_fc1(spec))
            return mlquant.problems(spec)

        cases = [
            (base, lambda wp: setattr(wp.quantization, "numberOfBits", 9), "need 1-8 bits (got 9)"),
            (base, lambda wp: wp.quantization.lookupTableQuantization.floatValue.append(0.0), "exactly 16 entries (got 17)"),
            (base, lambda wp: setattr(wp, "rawValue", wp.rawValue[:-1]), "need 96 rawValue bytes (got 95)"),
            (base, lambda wp: wp.floatValue.append(1.0), "more than one storage"),
            (linear, lambda wp: wp.quantization.linearQuantization.scale.append(1.0), "1 or 16 scale values (got 17)"),
            (linear, lambda wp: wp.quantization.linearQuantization.bias.pop(), "0 or 16 bias values"),
        ]
        for spec, change, message in cases:
            found = problems_after(spec, change)
            assert len(found) == 1 and "layer 'fc1' (innerProduct) weights" in found[0] and message in found[0], found

    def test_loading_a_broken_quantized_model_fails_clearly(self, tmp_path) -> None:
        """load() refuses a model the validator finds broken."""
        spec = mlquant.quantize(mlquant.Model(_models.mlp_classifier()), mlquant.LinearLUTQuantizer(nbits=2)).copy_spec()
        _fc1(spec).quantization.lookupTableQuantization.floatValue[:] = np.zeros(3, np.float32)
        path = tmp_path / "broken.mlmodel"
        path.write_bytes(spec.SerializeToString())
        try:
            mlquant.load(path)
        except mlquant.InvalidModelError as error:
            assert "broken.mlmodel: layer 'fc1'" in str(error) and "exactly 4 entries (got 3)" in str(error)
        else:
            raise AssertionError("a 3-entry 2-bit table must be refused")
