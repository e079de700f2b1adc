"""Mixed precision: the exact mean-image rewrite and the per-layer search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mlquant
from mlquant import _coreml
from mlquant.errors import SettingsError
from mlquant.evaluate.backends import ReferenceBackend
from mlquant.runtime import Network


def mean_image_model() -> mlquant.Model:
    """A tiny BGR image classifier trained Caffe-style, with a mean image."""
    _coreml.coremltools()
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    rng = np.random.default_rng(5)
    builder = NeuralNetworkBuilder([("data", datatypes.Array(3, 6, 6))], [("prob", None)], mode="classifier")
    builder.add_convolution("conv", 3, 4, 3, 3, 1, 1, "valid", 1, rng.normal(size=(3, 3, 3, 4)).astype(np.float32) * 0.01,
                            rng.normal(size=4).astype(np.float32), True, input_name="data", output_name="c")
    builder.add_flatten("flat", 0, "c", "f")
    builder.add_inner_product("fc", rng.normal(size=(3, 64)).astype(np.float32), None, 64, 3, False, "f", "z")
    builder.add_softmax("softmax", "z", "prob")
    builder.set_class_labels(["a", "b", "c"], prediction_blob="prob")
    spec = builder.spec
    image = spec.description.input[0].type.imageType
    image.width, image.height, image.colorSpace = 6, 6, 30  # BGR
    pre = spec.neuralNetworkClassifier.preprocessing.add()
    pre.featureName = "data"
    pre.meanImage.meanImage.extend(rng.integers(90, 140, size=3 * 6 * 6).astype(np.float32))
    return mlquant.Model(spec)


class TestMeanImageRewrite:
    def test_same_outputs_bit_for_bit(self) -> None:
        """The rewritten model computes exactly what the original does, with no mean image left."""
        model = mean_image_model()
        moved = model.with_preprocessing_as_weights()
        network = moved.spec.neuralNetworkClassifier
        assert not any(p.HasField("meanImage") for p in network.preprocessing)
        assert network.layers[0].WhichOneof("layer") == "bias" and list(network.layers[0].bias.shape) == [3, 6, 6]
        assert network.layers[1].input[0] == "data__minus_mean_image"
        pixels = np.random.default_rng(0).integers(0, 256, size=(8, 3, 6, 6)).astype(np.float32)
        before = Network(model).run({"data": pixels})["prob"]
        after = Network(moved).run({"data": pixels})["prob"]
        np.testing.assert_array_equal(before, after)

    def test_plan_quantizes_the_mean_image(self) -> None:
        """With move_mean_image a plan stores the mean image as a look-up table, exactly for integer means."""
        model = mean_image_model()
        plan = mlquant.QuantizationPlan(per_layer={"mlquant_mean_image_data": mlquant.KMeansLUTQuantizer(nbits=6)},
                                        move_mean_image=True)
        small = mlquant.quantize(model, plan)
        mean = small.weights[0]
        assert (mean.layer, mean.storage, mean.nbits) == ("mlquant_mean_image_data", "lut", 6)
        original = np.asarray(model.spec.neuralNetworkClassifier.preprocessing[0].meanImage.meanImage)
        np.testing.assert_array_equal(-small.read(mean).ravel(), original)
        assert small.size_bytes < model.size_bytes

    def test_models_without_a_mean_image_are_unchanged(self) -> None:
        """A model with no mean image comes back as it is."""
        from tests._models import mlp_classifier

        model = mlquant.Model(mlp_classifier())
        assert model.with_preprocessing_as_weights() is model

    def test_food_scores_unchanged_on_real_images(self, food_model: mlquant.Model, food_dir: Path) -> None:
        """On the real food images the rewrite gives the same scores as the original."""
        evaluator = mlquant.Evaluator(food_dir / "testing_data", backend=ReferenceBackend())
        pixels = evaluator.inputs(food_model).inputs[:48].astype(np.float32)
        moved = food_model.with_preprocessing_as_weights()
        assert moved.size_bytes - food_model.size_bytes < 200  # the same floats, in a layer now
        np.testing.assert_array_equal(Network(food_model).run({"data": pixels})["prob"],
                                      Network(moved).run({"data": pixels})["prob"])


class TestSearch:
    def test_plan_on_the_demo(self, demo) -> None:
        """The search returns a plan for every layer that meets the tolerance on calibration, reported on validation."""
        model = mlquant.load(demo.model)
        plan = mlquant.search_mixed_precision(model, demo.data, max_mean_drop=1.0, max_class_drop=5.0,
                                              backend=ReferenceBackend())
        assert isinstance(plan, mlquant.QuantizationPlan)
        assert set(plan.per_weight) == {w.name for w in model.weights if not w.is_bias}
        small = mlquant.quantize(model, plan)
        assert small.size_bytes == plan.size_bytes < model.size_bytes
        assert plan.calibration.top1_agreement >= 0.99
        assert len(plan.calibration.files) + len(plan.validation.files) == len(mlquant.ImageFolder(demo.data).samples)
        assert all(len(s.options) == len(s.divergence) == len(s.nbytes) for s in plan.sensitivity)
        again = mlquant.search_mixed_precision(model, demo.data, max_mean_drop=1.0, max_class_drop=5.0,
                                               backend=ReferenceBackend())
        assert again.per_weight == plan.per_weight

    def test_settings(self, demo) -> None:
        """An agreement outside 0-1 is refused."""
        with pytest.raises(SettingsError, match="min_agreement must be 0-1"):
            mlquant.search_mixed_precision(demo.model, demo.data, min_agreement=1.5)

    def test_sweep_adds_the_mixed_candidate(self, demo, tmp_path: Path) -> None:
        """sweep(mixed=True) evaluates the plan beside the grid and reports it with its per-layer plan."""
        result = mlquant.sweep(demo.model, demo.data, out_dir=tmp_path, mixed=True, backend=ReferenceBackend(),
                               grid=mlquant.default_grid(["kmeans_lut"], [8, 4]))
        mixed = next(c for c in result.candidates if c.name == "mixed")
        assert mixed.evaluation.complete and mixed.plan and (tmp_path / "models" / "mixed.mlmodel").is_file()
        csv_text = (tmp_path / "results.csv").read_text()
        assert "\nmixed," in csv_text and ",plan" in csv_text.splitlines()[0]
        report = (tmp_path / "report.md").read_text()
        assert "## Mixed precision" in report and "| validation |" in report

    def test_rerun_uses_the_cache(self, demo, tmp_path: Path) -> None:
        """With a cache, searching again runs no model and finds the same plan."""
        from mlquant.evaluate.cache import EvaluationCache

        class Counting(ReferenceBackend):
            calls = 0

            def predict(self, model, inputs):  # type: ignore[no-untyped-def]
                Counting.calls += 1
                return super().predict(model, inputs)

        cache = EvaluationCache(tmp_path / "cache")
        first = mlquant.search_mixed_precision(demo.model, demo.data, backend=Counting(), cache=cache)
        assert Counting.calls > 0
        Counting.calls = 0
        second = mlquant.search_mixed_precision(demo.model, demo.data, backend=Counting(), cache=cache)
        assert Counting.calls == 0 and second.per_weight == first.per_weight


class WeightSensitive(mlquant.Backend):
    """A test double for models the runtime cannot run (recurrent layers): scores follow the weights."""

    name = "weight-sensitive"

    def predict(self, model: mlquant.Model, inputs: np.ndarray) -> np.ndarray:
        x = inputs.reshape(len(inputs), -1).astype(np.float64)
        pull = [float(np.sum(model.read(w).astype(np.float64) ** 2)) for w in model.weights]
        logits = np.stack([x[:, 0], x[:, 1] + 1e-3 * sum(pull), x[:, 2] + 1e-3 * sum(pull[::2])], axis=1)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def every_weight(tmp_path_factory: pytest.TempPathFactory) -> tuple[mlquant.Model, Path]:
    """The classifier holding every weight layer type, and a folder of labelled .npy inputs for it."""
    from . import _public_models as pm

    folder = tmp_path_factory.mktemp("every-weight")
    rng = np.random.default_rng(3)
    for label in ("p", "q", "r"):
        (folder / label).mkdir()
        for i in range(12):
            np.save(folder / label / f"{i}.npy", rng.normal(size=(8, 1, 1)).astype(np.float32))
    return mlquant.Model(pm.every_weight_classifier()), folder


class TestEveryWeightLayer:
    def test_applied_bytes_equal_priced_bytes(self, every_weight: tuple[mlquant.Model, Path]) -> None:
        """On batchnorm, GRU, LSTM and RNN layers each weight gets its own option, and the bytes priced are the bytes written."""
        from mlquant.workflow.mixed import _plan

        model, folder = every_weight
        plan = mlquant.search_mixed_precision(model, folder, max_mean_drop=None, max_class_drop=None,
                                              min_agreement=0.0, backend=WeightSensitive(), mean_image=False)
        searched = {s.weight for s in plan.sensitivity}
        assert searched == {w.name for w in model.weights if not w.is_bias}
        small = mlquant.quantize(model, plan)
        assert sum(w.nbytes for w in small.weights if w.name in searched) == plan.weight_bytes
        # every option in turn, different for neighbouring weights of one layer
        options = list(mlquant.workflow.mixed.DEFAULT_OPTIONS)
        sensitivity = list(plan.sensitivity)
        choice = tuple(i % (len(options) + 1) for i in range(len(sensitivity)))
        forced = _plan(sensitivity, choice, options, False)
        applied = mlquant.quantize(model, forced)
        by_name = {w.name: w for w in applied.weights}
        for s, i in zip(sensitivity, choice):
            weight = by_name[s.weight]
            assert weight.nbytes == s.nbytes[i], s.weight
            expected = "float32" if i == 0 else ("float16" if options[i - 1].nbits == 16 else "lut")
            assert weight.storage == expected, s.weight
        assert sum(by_name[s.weight].nbytes for s in sensitivity) == sum(s.nbytes[i] for s, i in zip(sensitivity, choice))

    def test_selection_limits_the_search(self, every_weight: tuple[mlquant.Model, Path]) -> None:
        """Weights the layer selection leaves out are neither searched nor changed."""
        model, folder = every_weight
        select = mlquant.LayerSelector(names=["gru", "lstm"])
        plan = mlquant.search_mixed_precision(model, folder, max_mean_drop=None, max_class_drop=None,
                                              min_agreement=0.0, select=select, backend=WeightSensitive(),
                                              mean_image=False)
        assert {s.weight.split(".")[0] for s in plan.sensitivity} == {"gru", "lstm"}
        small = mlquant.quantize(model, plan)
        untouched = [w for w in small.weights if w.layer not in {"gru", "lstm"}]
        assert {w.storage for w in untouched} == {"float32"}

    def test_sweep_passes_the_selection_on(self, every_weight: tuple[mlquant.Model, Path], tmp_path: Path) -> None:
        """sweep(mixed=True) searches only the weights its layer selection picks."""
        model, folder = every_weight
        result = mlquant.sweep(model, folder, out_dir=tmp_path, mixed=True, backend=WeightSensitive(),
                               selector=mlquant.Selector(max_mean_drop=None, max_class_drop=None),
                               select=mlquant.LayerSelector(names=["bn", "scale"]),
                               grid=mlquant.default_grid(["kmeans_lut"], [4]))
        assert result.mixed is not None
        assert {s.weight.split(".")[0] for s in result.mixed.sensitivity} == {"bn", "scale"}

    def test_one_default_tolerance(self) -> None:
        """search_mixed_precision, Selector and the command line share one default tolerance."""
        import inspect

        from mlquant.cli import build_parser

        defaults = inspect.signature(mlquant.search_mixed_precision).parameters
        selector = mlquant.Selector()
        assert defaults["max_mean_drop"].default == selector.max_mean_drop
        assert defaults["max_class_drop"].default == selector.max_class_drop
        args = build_parser().parse_args(["select", "results.json"])
        assert (args.max_drop, args.max_class_drop) == (selector.max_mean_drop, selector.max_class_drop)
