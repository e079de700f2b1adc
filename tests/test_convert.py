"""NeuralNetwork -> ML Program conversion: the same function in both formats.

The oracle is the NeuralNetwork reference runtime (itself checked against onnxruntime): the
converted program, run by the ML Program runtime in float32, must give the same outputs on the
same inputs, and the written package must load in coremltools.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlquant
from mlquant import _coreml

from ._public_models import grayscale_valid_cnn
from ._runtime_models import builder


def _outputs(model: mlquant.Model, x: np.ndarray) -> np.ndarray:
    return mlquant.ReferenceBackend().predict(model, x)


def _every_layer_network(rng: np.random.Generator) -> Any:
    """Every translated layer type, on a (3, 9, 9) input, ending in a 6-way softmax."""
    normal = lambda *shape: rng.normal(scale=0.5, size=shape).astype(np.float32)
    b = builder({"x": (3, 9, 9)}, ["out"])
    b.add_convolution("same", 3, 4, 3, 3, 1, 1, "same", 1, normal(3, 3, 3, 4), normal(4), True,
                      input_name="x", output_name="c1")
    b.add_convolution("valid_pad", 2, 4, 3, 3, 2, 2, "valid", 2, normal(3, 3, 2, 4), None, False,
                      input_name="c1", output_name="c2", padding_top=1, padding_bottom=0,
                      padding_left=2, padding_right=1)
    b.add_convolution("dilated", 4, 4, 2, 2, 1, 1, "valid", 1, normal(2, 2, 4, 4), normal(4), True,
                      input_name="c1", output_name="c3", dilation_factors=[2, 2])
    b.add_batchnorm("bn", 4, np.abs(normal(4)) + 0.5, normal(4), normal(4), np.abs(normal(4)) + 0.5,
                    input_name="c3", output_name="bn", epsilon=1e-3)
    b.add_scale("scale", normal(4), normal(4), True, input_name="bn", output_name="sc", shape_scale=[4], shape_bias=[4])
    b.add_bias("bias", normal(4), input_name="sc", output_name="bi", shape_bias=[4])
    for i, (kind, params) in enumerate([("LEAKYRELU", [0.1]), ("ELU", 0.7), ("SIGMOID_HARD", [0.2, 0.5]),
                                        ("LINEAR", [0.5, 0.1]), ("TANH", None), ("SOFTPLUS", None),
                                        ("THRESHOLDEDRELU", 0.1), ("SCALED_TANH", [1.2, 0.8]),
                                        ("PRELU", normal(4)), ("SIGMOID", None), ("RELU", None)]):
        b.add_activation(f"act{i}", kind, "bi" if i == 0 else f"a{i - 1}", f"a{i}", params=params)
    b.add_pooling("maxpool", 3, 3, 2, 2, "MAX", "INCLUDE_LAST_PIXEL", "a10", "p1")
    b.add_pooling("avgpool", 2, 2, 1, 1, "AVERAGE", "SAME", "c2", "p2", exclude_pad_area=False)
    b.add_padding("pad", left=0, right=1, top=1, bottom=0, value=0.5, input_name="p2", output_name="pd")
    b.add_upsample("up", 2, 2, "pd", "up", mode="NN")
    b.add_elementwise("add", ["p1", "p1"], "sum", mode="ADD")
    b.add_elementwise("mul", ["sum", "p1"], "prod", mode="MULTIPLY")
    b.add_elementwise("max", ["prod", "sum"], "mx", mode="MAX")
    b.add_elementwise("concat", ["mx", "p1"], "cat", mode="CONCAT")
    b.add_pooling("global", 1, 1, 1, 1, "AVERAGE", "VALID", "up", "g", is_global=True)
    b.add_flatten("flat", 0, "cat", "f")
    b.add_inner_product("fc", normal(6, 8 * 3 * 3), normal(6), 8 * 3 * 3, 6, True, "f", "logits")
    b.add_inner_product("fc_global", normal(6, 4), None, 4, 6, False, "g", "from_global")
    b.add_elementwise("sum_logits", ["logits", "from_global"], "both", mode="ADD")
    b.add_elementwise("shift", ["both"], "shifted", mode="ADD", alpha=0.25)
    b.add_softmax("softmax", "shifted", "out")
    return b.spec


@pytest.fixture(scope="module")
def every_layer(tmp_path_factory: pytest.TempPathFactory) -> tuple[mlquant.Model, mlquant.Model]:
    model = mlquant.Model(_every_layer_network(np.random.default_rng(3)))
    program = mlquant.convert(model, tmp_path_factory.mktemp("convert") / "every.mlpackage")
    return model, program


def test_every_translated_layer_computes_what_the_neuralnetwork_computes(every_layer: Any) -> None:
    model, program = every_layer
    x = np.random.default_rng(4).uniform(-2, 2, size=(5, 3, 9, 9)).astype(np.float32)
    expected, got = _outputs(model, x), _outputs(program, x)
    assert got.shape == expected.shape == (5, 6)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_converted_weights_are_the_neuralnetwork_weights(every_layer: Any) -> None:
    model, program = every_layer
    converted = [program.read(w).ravel() for w in program.weights]
    # A scale or bias layer becomes a mul or add by a constant, which an ML Program does not count
    # among its weights; every other weight must come through unchanged.
    for weight in (w for w in model.weights if w.layer_type not in {"scale", "bias"}):
        values = model.read(weight).ravel()
        assert any(c.shape == values.shape and np.array_equal(c, values) for c in converted), weight.name


def test_written_package_loads_in_coremltools(every_layer: Any) -> None:
    _, program = every_layer
    ct = _coreml.coremltools()
    loaded = ct.models.MLModel(str(program.path), skip_model_load=True)
    assert loaded.get_spec().WhichOneof("Type") == "mlProgram"


@pytest.mark.parametrize("scale", [1.0, 1 / 255])
def test_grayscale_image_classifier_keeps_labels_and_predictions(tmp_path: Path, scale: float) -> None:
    rng = np.random.default_rng(5)
    spec = grayscale_valid_cnn(rng.normal(size=(4, 1, 3, 3)).astype(np.float32), rng.normal(size=4).astype(np.float32),
                               rng.normal(size=(10, 144)).astype(np.float32) * 0.1, rng.normal(size=10).astype(np.float32),
                               scale)
    model = mlquant.Model(spec)
    program = mlquant.convert(model, tmp_path / "digits.mlpackage")
    assert program.class_labels == model.class_labels
    description = program.spec.description
    assert description.input[0].type.imageType.colorSpace == 10
    assert description.predictedProbabilitiesName == spec.description.predictedProbabilitiesName
    pixels = rng.integers(0, 256, size=(6, 1, 8, 8)).astype(np.uint8)
    np.testing.assert_allclose(_outputs(program, pixels), _outputs(model, pixels), rtol=1e-5, atol=1e-7)


def test_unsupported_layer_is_named_before_anything_is_written(tmp_path: Path) -> None:
    b = builder({"x": (4,)}, ["out"])
    b.add_embedding("lookup", np.ones((3, 4), np.float32), None, 4, 3, False, "x", "out")
    with pytest.raises(mlquant.UnsupportedLayerError, match="'lookup' \\(embedding\\)"):
        mlquant.convert(mlquant.Model(b.spec), tmp_path / "x.mlpackage")
    assert not (tmp_path / "x.mlpackage").exists()


def test_refuses_to_replace_a_package_unless_forced(every_layer: Any, tmp_path: Path) -> None:
    model, _ = every_layer
    target = tmp_path / "m.mlpackage"
    mlquant.convert(model, target)
    with pytest.raises(mlquant.OverwriteError):
        mlquant.convert(model, target)
    mlquant.convert(model, target, overwrite=True, precision="float16")
    with pytest.raises(mlquant.SettingsError, match="precision"):
        mlquant.convert(model, tmp_path / "n.mlpackage", precision="float8")
    with pytest.raises(mlquant.SettingsError, match=".mlpackage"):
        mlquant.convert(model, tmp_path / "n.mlmodel")


def test_float16_program_stays_close(every_layer: Any, tmp_path: Path) -> None:
    model, _ = every_layer
    half = mlquant.convert(model, tmp_path / "half.mlpackage", precision="float16")
    x = np.random.default_rng(4).uniform(-2, 2, size=(5, 3, 9, 9)).astype(np.float32)
    np.testing.assert_allclose(_outputs(half, x), _outputs(model, x), atol=2e-2)


def test_cli_convert(tmp_path: Path, every_layer: Any) -> None:
    model, _ = every_layer
    source = tmp_path / "every.mlmodel"
    model.save(source)
    done = subprocess.run([sys.executable, "-m", "mlquant", "convert", str(source)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and (tmp_path / "every.mlpackage").is_dir()
    again = subprocess.run([sys.executable, "-m", "mlquant", "convert", str(source)], capture_output=True, text=True)
    assert again.returncode == 2 and "exists" in again.stderr
