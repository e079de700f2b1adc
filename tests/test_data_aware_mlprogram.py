"""Data-aware quantization of ML Programs: observation, calibration, DataAware, sweep.

Oracles: hand-unfolded numpy patches for what the runtime observes; the same network as a
NeuralNetwork ``.mlmodel`` (converted to the ML Program with :func:`mlquant.convert`), whose
calibration the NeuralNetwork runtime computes, for the statistics and the quantized weights;
coremltools' loader for every written package.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlquant
from mlquant import _coreml
from mlquant.calibrate import InputStatistics
from mlquant.runtime import MILProgram
from mlquant.weights import AffineWeights, GroupedLUTWeights

from ._calibrated import assert_data_aware_loses_less

RNG = np.random.default_rng


def _hand_patches(x: np.ndarray, groups: int, kernel: tuple[int, int], stride: tuple[int, int],
                  dilation: tuple[int, int], pads: tuple[int, int, int, int]) -> np.ndarray:
    """(N, C, H, W) unfolded by loops: (G, N * OH * OW, C/G * KH * KW) in the weight's (c, i, j) order."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw), (top, bottom, left, right) = kernel, stride, dilation, pads
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    oh = (h + top + bottom - (kh - 1) * dh - 1) // sh + 1
    ow = (w + left + right - (kw - 1) * dw - 1) // sw + 1
    per = c // groups
    out = np.zeros((groups, n, oh, ow, per, kh, kw), np.float32)
    for g, i, j, a, b in itertools.product(range(groups), range(oh), range(ow), range(kh), range(kw)):
        out[g, :, i, j, :, a, b] = padded[:, g * per : (g + 1) * per, i * sh + a * dh, j * sw + b * dw]
    return out.reshape(groups, n * oh * ow, per * kh * kw)


def _program(folder: Path, body: Any, shape: tuple[int, ...]) -> mlquant.Model:
    """A float32 program of ``body(mb, x)``, saved without graph passes (the ops stay as built)."""
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb

    from tests._mil import _program as program
    from tests._mil import convert

    built = program([mb.TensorSpec(shape=shape)], ct.target.iOS16, lambda x: body(mb, x))
    return convert(built, folder, pass_pipeline=ct.PassPipeline.EMPTY)


class Weights:
    """The constants of the hand-checked program: grouped conv, linear, transposed-y matmul."""

    rng = RNG(0)
    conv = rng.normal(size=(6, 2, 3, 3)).astype(np.float32)
    bias = rng.normal(size=6).astype(np.float32)
    dense = rng.normal(size=(5, 90)).astype(np.float32)
    head = rng.normal(size=(3, 5)).astype(np.float32)


def _three_ops(mb: Any, x: Any) -> Any:
    c = mb.conv(x=x, weight=Weights.conv, bias=Weights.bias, strides=[2, 1], dilations=[1, 2], groups=2,
                pad_type="custom", pad=[1, 0, 2, 1], name="conv")
    flat = mb.reshape(x=mb.relu(x=c, name="relu"), shape=[-1, 90], name="flat")
    dense = mb.linear(x=flat, weight=Weights.dense, name="dense")
    return mb.matmul(x=dense, y=Weights.head, transpose_y=True, name="head")


def _collect(program: MILProgram, x: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Observe one batch: (outputs, each observed op's rows joined along the row axis)."""
    seen: dict[str, list[np.ndarray]] = {}
    out = program.observe({program.input_names[0]: x}, lambda name, rows: seen.setdefault(name, []).append(rows.copy()))
    return out, {name: np.concatenate(parts, axis=1) for name, parts in seen.items()}


class TestObserve:
    def test_conv_linear_and_matmul_inputs_are_unfolded_as_their_weights_meet_them(self, tmp_path: Path) -> None:
        """Each weight op's observed rows equal hand-unfolded patches and vectors, and outputs are unchanged."""
        model = _program(tmp_path, _three_ops, (1, 4, 7, 6))
        program = MILProgram(model, precision="float32")
        assert {n: (u.groups, u.depth) for n, u in program.observed.items()} == {
            "conv": (2, 18), "dense": (1, 90), "head": (1, 5)}
        assert {w.layer for w in model.weights if not w.is_bias} == set(program.observed)
        x = RNG(1).normal(size=(3, 4, 7, 6)).astype(np.float32)
        out, seen = _collect(program, x)
        np.testing.assert_array_equal(out["head"], program.run({"x0": x})["head"])
        patches = _hand_patches(x, 2, (3, 3), (2, 1), (1, 2), (1, 0, 2, 1))
        assert seen["conv"].shape == (2, 3 * 3 * 5, 18)
        np.testing.assert_array_equal(seen["conv"], patches)
        # The conv's output by hand (per group, patches times weights), then relu and flatten.
        per_group = Weights.conv.reshape(2, 3, 18)
        conv = np.einsum("grd,gkd->rgk", patches.astype(np.float64), per_group).reshape(3, 3, 5, 6)
        flat = np.maximum(conv.transpose(0, 3, 1, 2) + Weights.bias[:, None, None], 0).reshape(3, 90)
        np.testing.assert_allclose(seen["dense"][0], flat, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(seen["head"][0], flat @ Weights.dense.T.astype(np.float64), rtol=1e-4, atol=1e-4)

    @pytest.mark.parametrize("pad_type", ["same", "same_lower", "valid"])
    def test_one_dimensional_conv_is_observed_as_height_one(self, tmp_path: Path, pad_type: str) -> None:
        """A 1-D conv's rows are its (channel, tap) patches, with 'same' padding split as MIL says."""
        weight = RNG(2).normal(size=(4, 3, 3)).astype(np.float32)
        model = _program(tmp_path, lambda mb, x: mb.conv(x=x, weight=weight, strides=[2], pad_type=pad_type,
                                                         name="conv1d"), (1, 3, 9))
        x = RNG(3).normal(size=(2, 3, 9)).astype(np.float32)
        _, seen = _collect(MILProgram(model, precision="float32"), x)
        total = {"same": 2, "same_lower": 2, "valid": 0}[pad_type]  # ceil(9 / 2) = 5 outputs need 11 inputs
        before = total - total // 2 if pad_type == "same_lower" else total // 2
        expected = _hand_patches(x[:, :, None, :], 1, (1, 3), (1, 2), (1, 1), (0, 0, before, total - before))
        np.testing.assert_array_equal(seen["conv1d"], expected)

    def test_a_batch_is_observed_once(self, tmp_path: Path) -> None:
        """Run in chunks on several threads, every item's rows reach the observer exactly once."""
        weight = RNG(4).normal(size=(5, 2, 1, 1)).astype(np.float32)
        model = _program(tmp_path, lambda mb, x: mb.conv(x=x, weight=weight, name="pointwise"), (1, 2, 3, 3))
        program = MILProgram(model, precision="float32")
        x = RNG(5).normal(size=(40, 2, 3, 3)).astype(np.float32)
        _, seen = _collect(program, x)
        expected = x.transpose(0, 2, 3, 1).reshape(1, -1, 2)
        assert seen["pointwise"].shape == expected.shape
        np.testing.assert_array_equal(np.sort(seen["pointwise"][0], axis=0), np.sort(expected[0], axis=0))


    def test_a_program_found_unbatchable_is_still_observed_once(self, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        """When a batch breaks an op only at run time, the executor goes item by item before observing anything."""
        import mlquant.runtime.mlprogram._build as build

        weight = RNG(6).normal(size=(3, 4)).astype(np.float32)
        model = _program(tmp_path, lambda mb, x: mb.reduce_sum(x=mb.linear(x=x, weight=weight, name="fc"), axes=[0],
                                                               keep_dims=True, name="total"), (1, 4))
        monkeypatch.setattr(build, "batch_safe", lambda ctx, derived: None)  # the build-time rules miss it
        program = MILProgram(model, precision="float32")
        assert program.batched
        x = RNG(7).normal(size=(40, 4)).astype(np.float32)
        out, seen = _collect(program, x)
        assert not program.batched and out["total"].shape[0] == 40
        np.testing.assert_array_equal(seen["fc"][0], x)


def _conv_digits_spec(seed: int = 0) -> Any:
    """A convolutional classifier of the demo's 8x8 digits (random weights): padded dilated conv, grouped
    strided 'same' conv, inner product, softmax."""
    _coreml.coremltools()
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

    from mlquant.workflow.demo import CLASS_LABELS, IMAGE_SCALE

    rng = RNG(seed)
    b = NeuralNetworkBuilder([("image", datatypes.Array(1, 8, 8))], [("probs", None)], mode="classifier")
    b.add_convolution("conv1", 1, 6, 3, 3, 1, 1, "valid", 1, rng.normal(size=(3, 3, 1, 6)), rng.normal(size=6), True,
                      input_name="image", output_name="c1", dilation_factors=[1, 2], padding_top=1, padding_left=2,
                      padding_right=1)
    b.add_activation("relu1", "RELU", "c1", "r1")
    b.add_convolution("conv2", 3, 4, 3, 3, 2, 2, "same", 2, 0.5 * rng.normal(size=(3, 3, 3, 4)), None, False,
                      input_name="r1", output_name="c2")
    b.add_activation("relu2", "RELU", "c2", "r2")
    b.add_flatten("flatten", 0, "r2", "flat")
    b.add_inner_product("dense", 0.3 * rng.normal(size=(10, 64)), rng.normal(size=10), 64, 10, True, "flat", "logits")
    b.add_softmax("softmax", "logits", "probs")
    b.set_class_labels(list(CLASS_LABELS), predicted_feature_name="label", prediction_blob="probs")
    b.set_pre_processing_parameters(image_input_names=["image"], image_scale=IMAGE_SCALE)
    return b.spec


#: NeuralNetwork weight name -> the converted program's (an inner product becomes ``<name>_linear``).
NAMES = {"conv1.weights": "conv1.weight", "conv1.bias": "conv1.bias", "conv2.weights": "conv2.weight",
         "dense.weights": "dense_linear.weight", "dense.bias": "dense_linear.bias"}


@pytest.fixture(scope="module")
def twins(demo, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """(NeuralNetwork conv model, its ML Program, calibration part of the digits, their two calibrations)."""
    network = mlquant.Model(_conv_digits_spec())
    program = mlquant.convert(network, tmp_path_factory.mktemp("twins") / "conv.mlpackage")
    part, _ = mlquant.ImageFolder(demo.data).split(0.5, seed=0)
    return network, program, part, mlquant.calibrate(network, part, inputs=200), mlquant.calibrate(program, part, inputs=200)


def _assert_same_statistics(ours: InputStatistics, theirs: InputStatistics) -> None:
    assert ours.count == theirs.count and (ours.groups, ours.depth) == (theirs.groups, theirs.depth)
    scale = float(np.abs(theirs.diagonal).max())
    for a, b in ((ours.mean, theirs.mean), (ours.diagonal, theirs.diagonal), (ours.second_moment, theirs.second_moment)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * scale)


class TestCalibrate:
    def test_statistics_equal_those_of_the_neuralnetwork_model(self, twins) -> None:  # type: ignore[no-untyped-def]
        """The program's per-weight moments are the .mlmodel's, which the NeuralNetwork runtime measured."""
        _, _, _, network_stats, program_stats = twins
        assert network_stats.files == program_stats.files and len(program_stats.files) == 200
        assert {NAMES[n] for n in network_stats.statistics} == set(program_stats.statistics)
        assert {n: (s.groups, s.depth) for n, s in program_stats.statistics.items()} == {
            "conv1.weight": (1, 9), "conv2.weight": (2, 27), "dense_linear.weight": (1, 64)}
        for name, stats in network_stats.statistics.items():
            _assert_same_statistics(program_stats.require(NAMES[name]), stats)

    def test_cache_budget_and_progress_work_as_for_neuralnetwork_models(self, twins, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """A cached run returns the same moments; no memory keeps only diagonals; progress counts inputs."""
        _, program, part, _, _ = twins
        calls: list[tuple[str, int, int]] = []
        first = mlquant.calibrate(program, part, inputs=40, cache=tmp_path, progress=lambda *a: calls.append(a))
        again = mlquant.calibrate(program, part, inputs=40, cache=tmp_path)
        lean = mlquant.calibrate(program, part, inputs=40, memory=0)
        assert again.seconds == 0.0 and calls[-1] == ("calibrating", 40, 40)
        for name, stats in first.statistics.items():
            np.testing.assert_array_equal(again.require(name).second_moment, stats.second_moment)
            assert lean.require(name).second_moment is None
            np.testing.assert_allclose(lean.require(name).diagonal, np.diagonal(stats.second_moment, axis1=1, axis2=2),
                                       rtol=1e-6, atol=1e-9)

    def test_a_float16_program_is_observed_in_float32(self, twins, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """A float16 program's first conv sees the pixels times its half-precision scale, not rounded to half precision."""
        from PIL import Image

        from mlquant.workflow.demo import IMAGE_SCALE

        network, _, part, _, _ = twins
        half = mlquant.convert(network, tmp_path / "half.mlpackage", precision="float16")
        stats = mlquant.calibrate(half, part, inputs=50)
        first = next(w for w in half.weights if w.layer.startswith("conv1") and not w.is_bias)
        assert first.storage == "float16"
        pixels = np.stack([np.asarray(Image.open(Path(part.root) / f), np.float32) for f in stats.files])[:, None]
        x = pixels * np.float32(np.float16(IMAGE_SCALE))
        rows = _hand_patches(x, 1, (3, 3), (1, 1), (1, 2), (1, 0, 2, 1))[0].astype(np.float64)
        found = stats.require(first.name)
        np.testing.assert_allclose(found.second_moment[0], rows.T @ rows / len(rows), rtol=1e-6)
        assert not np.allclose(rows, rows.astype(np.float16), rtol=1e-5, atol=0)  # half precision would differ


def _output_error(w: np.ndarray, q: np.ndarray, stats: InputStatistics) -> float:
    """``E||(W - Q) x||^2`` summed over output channels, from the inputs' second moments (per group)."""
    rows = w.shape[0]
    d = (w.astype(np.float64) - q.astype(np.float64)).reshape(rows, -1)
    groups = stats.group_of_rows(rows)
    return float(sum(d[r] @ stats.second_moment[groups[r]] @ d[r] for r in range(rows)))


def _forms(program: mlquant.Model, quantizer: mlquant.Quantizer, calibration: mlquant.Calibration) -> dict[str, Any]:
    """Each calibrated weight of ``program`` quantized by ``quantizer`` (plain) and data-aware: name -> (plain, aware)."""
    found = {}
    for info in program.weights:
        if info.name in calibration:
            values = program.read(info)
            bound = mlquant.DataAware(quantizer, calibration).for_weight(info)
            found[info.name] = tuple(q.quantize(values, channel_axis=0, storage=program.storage) for q in (quantizer, bound))
    return found


class TestDataAware:
    @pytest.mark.parametrize("quantizer", [mlquant.KMeansLUTQuantizer(nbits=2), mlquant.KMeansLUTQuantizer(nbits=4),
                                           mlquant.LinearQuantizer(nbits=4, symmetric=True)], ids=lambda q: q.name)
    def test_same_weights_and_biases_as_the_neuralnetwork_model(self, twins, quantizer) -> None:  # type: ignore[no-untyped-def]
        """Tables, symmetric linear grids (the same in both formats), rounding and corrected biases equal the .mlmodel's."""
        network, program, _, network_stats, program_stats = twins
        ours = mlquant.quantize(program, mlquant.DataAware(quantizer, program_stats))
        theirs = mlquant.quantize(network, mlquant.DataAware(quantizer, network_stats))
        assert [w.name for w in ours.weights] == [w.name for w in program.weights]  # conv2 gets no bias
        for name, twin in NAMES.items():  # a corrected bias sums 64 float32 products: a looser absolute bound
            np.testing.assert_allclose(ours.read(twin), theirs.read(name), rtol=1e-5, atol=1e-4 if "bias" in name else 1e-6)
        assert not np.allclose(ours.read("dense_linear.weight"), mlquant.quantize(program, quantizer).read(
            "dense_linear.weight"))  # the data changed something

    def test_asymmetric_linear_keeps_the_program_grid_and_lowers_the_output_error(self, twins) -> None:  # type: ignore[no-untyped-def]
        """With integer zero points (not NeuralNetwork's grid), rounding keeps scales and zero points and lowers the error."""
        _, program, _, network_stats, program_stats = twins
        for name, (plain, aware) in _forms(program, mlquant.LinearQuantizer(nbits=4), program_stats).items():
            assert isinstance(aware, AffineWeights) and aware.scale.shape == (aware.shape[0], *[1] * (len(aware.shape) - 1))
            np.testing.assert_array_equal(aware.scale, plain.scale)
            np.testing.assert_array_equal(aware.offset, plain.offset)
            stats = network_stats.require(next(n for n, t in NAMES.items() if t == name))
            w = program.read(name)
            assert _output_error(w, aware.dequantize(), stats) < _output_error(w, plain.dequantize(), stats), name

    @pytest.mark.parametrize("quantizer", [
        mlquant.KMeansLUTQuantizer(nbits=2, granularity=mlquant.PerGroupedChannel(2)),
        mlquant.LinearQuantizer(nbits=4, granularity=mlquant.PerBlock(16)),
    ], ids=lambda q: q.name)
    def test_grouped_tables_and_blocks_are_weighted_and_compensated(self, twins, quantizer) -> None:  # type: ignore[no-untyped-def]
        """Per-group tables and per-block integers of conv and linear weights leave less output error than plain ones."""
        _, program, _, network_stats, program_stats = twins
        forms = _forms(program, quantizer, program_stats)
        assert set(forms) == {"conv1.weight", "conv2.weight", "dense_linear.weight"}
        for name, (plain, aware) in forms.items():
            assert type(aware) is type(plain) and isinstance(aware, (GroupedLUTWeights, AffineWeights))
            if isinstance(aware, AffineWeights):
                assert aware.block_shape[1] == min(16, aware.shape[1])  # blocks of input values
                np.testing.assert_array_equal(aware.scale, plain.scale)
            stats = network_stats.require(next(n for n, t in NAMES.items() if t == name))
            w = program.read(name)
            assert _output_error(w, aware.dequantize(), stats) < _output_error(w, plain.dequantize(), stats), name

    def test_bias_correction_restores_the_mean_output(self, twins) -> None:  # type: ignore[no-untyped-def]
        """A conv's and a linear's corrected bias is b + (W - Q) E[x], E[x] from the .mlmodel's calibration."""
        _, program, _, network_stats, program_stats = twins
        quantizer = mlquant.KMeansLUTQuantizer(nbits=2, granularity=mlquant.PerGroupedChannel(2))
        small = mlquant.quantize(program, mlquant.DataAware(quantizer, program_stats))
        for layer, weight, bias in (("conv1", "conv1.weight", "conv1.bias"),
                                    ("dense", "dense_linear.weight", "dense_linear.bias")):
            stats = network_stats.require(f"{layer}.weights")
            w, q = program.read(weight), small.read(weight)
            rows = w.shape[0]
            shift = (w.astype(np.float64) - q).reshape(rows, -1) @ stats.mean[0]
            np.testing.assert_allclose(small.read(bias), program.read(bias) + shift, rtol=1e-5, atol=1e-5)
            assert small.weights[program.index_of(bias)].storage == "float32"

    def test_written_packages_load_in_coremltools(self, twins, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """Data-aware grouped tables and blocks are written as packages coremltools reads and mlquant validates."""
        ct = _coreml.coremltools()
        _, program, _, _, program_stats = twins
        for quantizer in (mlquant.KMeansLUTQuantizer(nbits=4, granularity=mlquant.PerGroupedChannel(2)),
                          mlquant.LinearQuantizer(nbits=4, granularity=mlquant.PerBlock(16)),
                          mlquant.KMeansLUTQuantizer(nbits=3)):
            path = tmp_path / f"{quantizer.name}.mlpackage"
            mlquant.quantize(program, mlquant.DataAware(quantizer, program_stats)).save(path)
            loaded = mlquant.load(path)
            assert loaded.problems() == [] and {w.storage for w in loaded.weights if not w.is_bias} <= {"lut", "affine"}
            assert ct.models.MLModel(str(path), skip_model_load=True).get_spec().WhichOneof("Type") == "mlProgram"


@pytest.fixture(scope="module")
def digits(demo, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The demo's trained digits classifier as an ML Program, and its images in two stratified halves."""
    program = mlquant.convert(mlquant.load(demo.model), tmp_path_factory.mktemp("digits") / "digits.mlpackage")
    first, second = mlquant.ImageFolder(demo.data).split(0.5, seed=0)
    return program, first, second


class TestDigitsDemo:
    @pytest.mark.parametrize("nbits", [2, 3])
    def test_calibrated_program_loses_less_than_plain(self, digits, nbits: int) -> None:  # type: ignore[no-untyped-def]
        """Calibrated on one half, judged on the other, data-aware tables (whole and per group) keep more of the float program."""
        program, part, judged = digits
        assert_data_aware_loses_less(program, part, judged, [
            mlquant.KMeansLUTQuantizer(nbits=nbits), mlquant.LinearLUTQuantizer(nbits=nbits),
            mlquant.KMeansLUTQuantizer(nbits=nbits, granularity=mlquant.PerGroupedChannel(2)),
        ])


class TestSweep:
    def test_data_aware_sweep_of_a_package(self, digits, demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """A sweep of an ML Program adds `_data` twins calibrated on the half it does not judge, written as packages."""
        program, _, _ = digits
        grid = [mlquant.KMeansLUTQuantizer(nbits=2), mlquant.LinearQuantizer(nbits=4, granularity=mlquant.PerBlock(16))]
        result = mlquant.sweep(program, demo.data, grid=grid, data_aware=True, target="iOS18", out_dir=tmp_path / "sweep")
        assert [c.name for c in result.candidates] == ["kmeans_lut_2", "linear_4_b16", "kmeans_lut_2_data",
                                                      "linear_4_b16_data"]
        assert result.calibration is not None and set(result.calibration.statistics) == {
            "dense1_linear.weight", "dense2_linear.weight", "dense3_linear.weight"}
        assert not set(result.baseline.files) & set(result.calibration.files)
        ct = _coreml.coremltools()
        for name in ("kmeans_lut_2_data", "linear_4_b16_data"):
            path = tmp_path / "sweep" / "models" / f"{name}.mlpackage"
            assert ct.models.MLModel(str(path), skip_model_load=True).get_spec().WhichOneof("Type") == "mlProgram"

    def test_mixed_search_chooses_among_data_aware_options_of_a_package(self, digits, demo) -> None:  # type: ignore[no-untyped-def]
        """search_mixed_precision(data_aware=True) on an ML Program plans data-aware options the package stores."""
        program, _, _ = digits
        plan = mlquant.search_mixed_precision(program, demo.data, max_mean_drop=1.0, max_class_drop=5.0, data_aware=True)
        chosen = [q for q in plan.per_weight.values() if q is not None]
        assert chosen and all(isinstance(q, mlquant.DataAware) for q in chosen if q.nbits < 16)
        small = mlquant.quantize(program, plan)
        assert small.format == "mlprogram" and small.size_bytes < program.size_bytes and small.problems() == []
