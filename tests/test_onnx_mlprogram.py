"""The ML Program translation to ONNX: its coverage, its errors, every operation against the reference
runtime, fp16 precision, and the food model converted to an ML Program (plain and palettized).

The layer tests of the reference runtime (``test_mlruntime_*``) also run through the translation
(``tests/conftest.py``); this module holds what they do not cover.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlquant.errors import SettingsError, UnsupportedLayerError
from mlquant.runtime import MILProgram
from mlquant.runtime.onnx import OnnxProgram

from . import _mil, _networks, _twin

pytest.importorskip("onnxruntime")


def _rand(rng, *shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, size=shape).astype(np.float32)


def _both(model, feeds, precision=("float32", "float32")):
    """The reference runtime's and the translation's results for the same feeds."""
    reference = MILProgram(model, precision=precision[0]).run(feeds)
    translated = OnnxProgram(model, precision=precision[1]).run(feeds)
    assert list(reference) == list(translated)
    return reference, translated


def _assert_same(reference, translated, rtol=1e-5):
    for name, want in reference.items():
        got = translated[name]
        assert got.shape == want.shape, name
        assert got.dtype == want.dtype, name
        if want.dtype.kind in "biU":
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(1.0, float(np.abs(want).max())))


class TestCoverage:
    def test_every_reference_operation_has_a_translator(self):
        """The translation covers exactly the operation types the reference runtime runs."""
        from mlquant.runtime.mlprogram.registry import KERNELS
        from mlquant.runtime.onnx.mlprogram.registry import TRANSLATORS

        assert set(TRANSLATORS) == set(KERNELS)


class TestErrors:
    def test_untranslated_operation_names_it_and_the_reference_backend(self, tmp_path, monkeypatch):
        """An operation type without a translator fails at construction, naming the op, its type and the way out."""
        from mlquant.runtime.onnx.mlprogram import registry

        monkeypatch.delitem(registry.TRANSLATORS, "softmax")
        x = np.ones((1, 4), np.float32)
        model = _mil.one_op(tmp_path, lambda mb, a: mb.softmax(x=a), [x])
        with pytest.raises(UnsupportedLayerError, match=r"operation 'softmax_0' \(softmax\).*--backend reference"):
            OnnxProgram(model)

    def test_unknown_precision_is_a_settings_error(self, tmp_path):
        """The translation takes precision 'model' or 'float32' only."""
        from mlquant.runtime.onnx.mlprogram import translate

        model = _mil.one_op(tmp_path, lambda mb, a: mb.relu(x=a), [np.ones((1, 2), np.float32)])
        with pytest.raises(SettingsError, match="precision"):
            translate(model, precision="program")


#: One-op programs of the operation types the test_mlruntime_* tests do not build, and of batch
#: cases only the reference's run-time check catches: id -> (make(mb, *inputs), inputs).
_R = np.random.default_rng(0)
OPERATIONS = {
    **{
        name: (lambda mb, a, name=name: getattr(mb, name)(x=a), [_rand(_R, 1, 3, 4, low=-0.9, high=0.9)])
        for name in ("acos", "asin", "atan", "atanh", "cosh", "sinh", "tan", "exp2", "square")
    },
    "round": (lambda mb, a: mb.round(x=mb.mul(x=a, y=np.float32(2.0))), [np.float32([[[0.25, 0.75, -1.25, 2.5]]])]),
    "logical": (
        lambda mb, a, b: mb.logical_xor(
            x=mb.logical_not(x=mb.greater(x=a, y=np.float32(0))),
            y=mb.logical_or(x=mb.not_equal(x=a, y=b), y=mb.less(x=b, y=np.float32(0))),
        ),
        [np.float32([[1, -1, 2, 0]]), np.float32([[1, 2, -2, 0]])],
    ),
    "clamped_relu": (lambda mb, a: mb.clamped_relu(x=a, alpha=0.1, beta=1.5), [_rand(_R, 1, 3, 5)]),
    "linear_activation": (lambda mb, a: mb.linear_activation(x=a, alpha=0.5, beta=-0.25), [_rand(_R, 1, 3, 5)]),
    "scaled_tanh": (lambda mb, a: mb.scaled_tanh(x=a, alpha=1.7, beta=0.6), [_rand(_R, 1, 3, 5)]),
    "softplus_parametric": (
        lambda mb, a: mb.softplus_parametric(x=a, alpha=np.float32([0.5, 1, 2]), beta=np.float32([1, 2, 3])),
        [_rand(_R, 1, 3, 4, 4)],
    ),
    "threshold": (lambda mb, a: mb.threshold(x=a, alpha=0.3), [_rand(_R, 1, 6)]),
    "flatten2d": (lambda mb, a: mb.flatten2d(x=a, axis=2), [_rand(_R, 1, 2, 3, 4)]),
    "l2_pool": (
        lambda mb, a: mb.l2_pool(x=a, kernel_sizes=[3, 3], strides=[2, 2], pad_type="same"),
        [_rand(_R, 1, 2, 7, 7)],
    ),
    "reduce_argmin": (lambda mb, a: mb.reduce_argmin(x=a, axis=1, keep_dims=True), [_rand(_R, 1, 5, 3)]),
    "reduce_log_sum": (
        lambda mb, a: mb.reduce_log_sum(x=a, axes=[2], keep_dims=False),
        [_rand(_R, 1, 3, 4, low=0.1, high=2.0)],
    ),
    "resize_nearest_neighbor": (
        lambda mb, a: mb.resize_nearest_neighbor(x=a, target_size_height=5, target_size_width=7),
        [_rand(_R, 1, 2, 3, 4)],
    ),
    "gather_from_a_constant": (
        lambda mb, i: mb.gather(x=np.arange(15, dtype=np.float32).reshape(1, 5, 3), indices=i, axis=1),
        [np.int32([[4, 1]])],
    ),
    "range_1d": (
        lambda mb, a: mb.range_1d(start=np.int32(1), end=mb.reduce_max(x=a, keep_dims=False), step=np.int32(2)),
        [np.int32([[9, 4]])],
    ),
}


class TestEveryOperation:
    @pytest.mark.parametrize("name", list(OPERATIONS))
    def test_translation_computes_what_the_reference_computes(self, tmp_path, name):
        """Each operation gives the reference runtime's results (values, shape, dtype) on a batch of three."""
        make, inputs = OPERATIONS[name]
        model = _mil.one_op(tmp_path, make, inputs)
        rng = np.random.default_rng(1)
        feeds = {
            f"x{i}": np.concatenate([x, x[:, ::-1] if x.dtype == np.int32 else x * rng.uniform(0.5, 1.0), x])
            for i, x in enumerate(inputs)
        }
        _assert_same(*_both(model, feeds))


class TestPrecision:
    def test_model_precision_rounds_as_the_reference_program_precision(self, tmp_path):
        """An fp16 program computes within one fp16 step of MILProgram(precision='program'), every value fp16."""
        import coremltools as ct

        program = _twin.mil_program(_networks.separable_net, (1, 3, 16, 16), 0, target=ct.target.iOS16)
        model = _mil.convert(program, tmp_path, precision="float16")
        x = np.random.default_rng(2).standard_normal((4, 3, 16, 16)).astype(np.float32)
        reference, translated = _both(model, {"x": x}, ("program", "model"))
        for name, want in reference.items():
            got = translated[name]
            np.testing.assert_array_equal(got, got.astype(np.float16).astype(np.float32))
            np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3 * np.abs(want).max())
            np.testing.assert_array_equal(got.argmax(axis=-1), want.argmax(axis=-1))


@pytest.fixture(scope="module")
def food_program(food_model, tmp_path_factory):
    """The food model converted to a float32 ML Program."""
    import mlquant

    return mlquant.convert(food_model, tmp_path_factory.mktemp("food-program") / "food.mlpackage")


@pytest.fixture(scope="module")
def food_images(food_dir):
    """One real test image of every class."""
    from .test_runtime_food import load_images

    return load_images(food_dir / "testing_data", 1)


class TestFoodProgram:
    def test_real_images_give_the_reference_results(self, food_program, food_images):
        """On real images the translated food program gives the reference's probabilities and identical top-1."""
        pixels, _ = food_images
        reference, translated = _both(food_program, {"data": pixels})
        np.testing.assert_array_equal(translated["classLabel"], reference["classLabel"])
        np.testing.assert_allclose(translated["prob"], reference["prob"], rtol=1e-4, atol=1e-6)

    def test_palettized_weights_run_as_the_reference_decompresses_them(self, food_program, food_images):
        """A 4-bit k-means palettized food program (constexpr weights) gives the reference's results."""
        import mlquant

        palettized = mlquant.quantize(food_program, mlquant.KMeansLUTQuantizer(nbits=4))
        assert "constexpr_lut_to_dense" in _mil.op_types(palettized)
        pixels, _ = food_images
        reference, translated = _both(palettized, {"data": pixels[:16]})
        np.testing.assert_array_equal(translated["classLabel"], reference["classLabel"])
        np.testing.assert_allclose(translated["prob"], reference["prob"], rtol=1e-4, atol=1e-6)


class TestConvertedNetwork:
    @pytest.mark.parametrize("precision", ["float32", "float16"])
    def test_every_converted_layer_gives_the_reference_results(self, tmp_path, precision):
        """The every-layer NeuralNetwork of the converter's tests, converted to an ML Program, gives the
        reference's results in both precisions (and runs item by item, as the reference does)."""
        import mlquant

        from .test_convert import _every_layer_network

        network = mlquant.Model(_every_layer_network(np.random.default_rng(3)))
        program = mlquant.convert(network, tmp_path / "every.mlpackage", precision=precision)
        x = np.random.default_rng(0).normal(size=(5, 3, 9, 9)).astype(np.float32)
        for pair in (("program", "model"), ("float32", "float32")):
            reference, translated = _both(program, {"x": x}, pair)
            _assert_same(reference, translated, rtol=1e-5)
        assert not OnnxProgram(program).batched
