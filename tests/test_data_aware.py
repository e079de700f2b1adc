"""Data-aware quantization: weighted k-means, calibration, error-compensating rounding, bias correction."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import mlquant
from mlquant.calibrate import Calibration, InputStatistics
from mlquant.quantize._bias_correction import output_shift
from mlquant.quantize._gptq import Affine, RowTables, Table, compensated
from mlquant.quantize._kmeans1d import kmeans_1d
from mlquant.runtime import Network
from tests._runtime_models import builder, normal

from ._calibrated import assert_data_aware_loses_less


def _brute_force(x: np.ndarray, w: np.ndarray, k: int) -> float:
    """The least weighted squared error over every assignment of the values to k clusters."""
    best = np.inf
    for labels in itertools.product(range(k), repeat=len(x)):
        assigned = np.array(labels)
        error = 0.0
        for cluster in range(k):
            members = assigned == cluster
            if members.any():
                centre = np.dot(w[members], x[members]) / w[members].sum()
                error += float(np.dot(w[members], (x[members] - centre) ** 2))
        best = min(best, error)
    return best


class TestWeightedKMeans:
    @pytest.mark.parametrize("seed", range(12))
    def test_matches_brute_force(self, seed: int) -> None:
        """On small inputs the weighted table's error equals the best of every possible clustering."""
        rng = np.random.default_rng(seed)
        n, k = int(rng.integers(3, 8)), int(rng.integers(1, 4))
        x, w = rng.normal(size=n), rng.exponential(size=n)
        table, indices = kmeans_1d(x, k, weights=w)
        error = float(np.dot(w, (x - table[indices]) ** 2))
        assert error == pytest.approx(_brute_force(x, w, k), rel=1e-9, abs=1e-12)

    def test_equal_weights_give_the_unweighted_table(self) -> None:
        """Weighting every value the same changes nothing."""
        x = np.random.default_rng(0).normal(size=3000).astype(np.float32)
        plain, _ = kmeans_1d(x, 16)
        weighted, _ = kmeans_1d(x, 16, weights=np.full(x.size, 3.0))
        np.testing.assert_allclose(weighted, plain, rtol=1e-9, atol=1e-12)

    def test_heavy_values_get_their_own_entries(self) -> None:
        """A value weighted far above the rest is represented exactly, as the weighted objective demands."""
        x = np.array([0.0, 0.1, 0.2, 0.3, 0.37, 1.0])
        w = np.array([1.0, 1.0, 1.0, 1.0, 1e6, 1.0])
        table, indices = kmeans_1d(x, 2, weights=w)
        assert table[indices[4]] == pytest.approx(0.37, abs=1e-6)

    def test_refuses_bad_weights(self) -> None:
        """Weights of the wrong size, negative or NaN are errors."""
        x = np.arange(5.0)
        for bad in (np.ones(4), -np.ones(5), np.full(5, np.nan)):
            with pytest.raises(ValueError):
                kmeans_1d(x, 2, weights=bad)

    def test_all_zero_weights_count_as_none(self) -> None:
        """All-zero importance falls back to the plain table."""
        x = np.random.default_rng(1).normal(size=100)
        np.testing.assert_array_equal(kmeans_1d(x, 4, weights=np.zeros(100))[0], kmeans_1d(x, 4)[0])


def _conv_model(rng: np.random.Generator, groups: int = 2) -> mlquant.Model:
    """Input (4, 7, 6) -> grouped 3x3 convolution, stride 2, same padding, bias -> flatten -> inner product."""
    b = builder({"x": (4, 7, 6)}, ("out",))
    weights = normal(rng, 3, 3, 4 // groups, 6)  # (KH, KW, Cin/G, Cout), the builder's layout
    b.add_convolution("conv", 4 // groups, 6, 3, 3, 2, 2, "same", groups, weights, normal(rng, 6), True,
                      input_name="x", output_name="c")
    b.add_flatten("flat", 0, "c", "f")
    b.add_inner_product("dense", normal(rng, 3, 6 * 4 * 3), normal(rng, 3), 72, 3, True, "f", "out")
    return mlquant.Model(b.spec)


def _patches(x: np.ndarray, groups: int) -> np.ndarray:
    """Hand-unfolded 3x3 stride-2 'same' patches of (N, C, H, W): (G, rows, C/G*3*3) in (c, i, j) order."""
    n, c, h, w = x.shape
    oh, ow = -(-h // 2), -(-w // 2)
    pad_h, pad_w = max(0, (oh - 1) * 2 + 3 - h), max(0, (ow - 1) * 2 + 3 - w)
    padded = np.pad(x, ((0, 0), (0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2)))
    per = c // groups
    out = np.zeros((groups, n, oh, ow, per, 3, 3), np.float32)
    for g, i, j in itertools.product(range(groups), range(oh), range(ow)):
        out[g, :, i, j] = padded[:, g * per : (g + 1) * per, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3]
    return out.reshape(groups, n * oh * ow, per * 9)


class TestObserve:
    def test_convolution_and_dense_inputs_are_unfolded_as_their_weights_meet_them(self) -> None:
        """The observer sees each weight layer's input as hand-unfolded patches and vectors, and outputs are unchanged."""
        rng = np.random.default_rng(0)
        model = _conv_model(rng)
        x = normal(rng, 3, 4, 7, 6)
        seen: dict[str, list[np.ndarray]] = {}
        net = Network(model)
        out = net.observe({"x": x}, lambda name, rows: seen.setdefault(name, []).append(rows.copy()))
        np.testing.assert_array_equal(out["out"], net.run({"x": x})["out"])
        conv = np.concatenate(seen["conv"], axis=1)
        np.testing.assert_allclose(conv, _patches(x, 2), rtol=0, atol=0)
        c = net.run({"x": x})  # the dense layer's input is the convolution's output, flattened
        dense = np.concatenate(seen["dense"], axis=1)
        assert dense.shape == (1, 3, 72)
        weights = model.read("dense.weights")
        np.testing.assert_allclose(dense[0] @ weights.T + model.read("dense.bias"), c["out"].reshape(3, 3), rtol=1e-5,
                                   atol=1e-5)
        assert {n: (u.groups, u.depth) for n, u in net.observed.items()} == {"conv": (2, 18), "dense": (1, 72)}


#: The demo's first inner product, which reads the scaled image directly.
FIRST = "dense1"


@pytest.fixture(scope="module")
def digits(demo):  # type: ignore[no-untyped-def]
    """The demo's model and its images split in two stratified halves: (model, calibration part, judged part)."""
    data = mlquant.ImageFolder(demo.data)
    first, second = data.split(0.5, seed=0)
    return mlquant.load(demo.model), first, second


class TestCalibrate:
    def test_first_layer_moments_equal_those_of_the_scaled_pixels(self, digits) -> None:  # type: ignore[no-untyped-def]
        """The first inner product's input is the image times the scaler: its mean and E[x x^T] are the pixels'."""
        from PIL import Image

        from mlquant.workflow.demo import IMAGE_SCALE

        model, part, _ = digits
        calibration = mlquant.calibrate(model, part, inputs=10**6)
        root = Path(part.root)
        pixels = np.stack([np.asarray(Image.open(root / f), np.float64).reshape(-1) for f in calibration.files])
        x = pixels * np.float32(IMAGE_SCALE)
        stats = calibration.require(f"{FIRST}.weights")
        assert stats.count == len(calibration.files) == len(part.samples)
        np.testing.assert_allclose(stats.mean[0], x.mean(axis=0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stats.second_moment[0], x.T @ x / len(x), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(stats.diagonal[0], (x * x).mean(axis=0), rtol=1e-5, atol=1e-6)

    def test_sample_is_stratified_and_seeded(self, digits) -> None:  # type: ignore[no-untyped-def]
        """A sample takes the same share of every class, and the same seed gives the same files."""
        model, part, _ = digits
        one = mlquant.calibrate(model, part, inputs=50, seed=3)
        assert one.files == mlquant.calibrate(model, part, inputs=50, seed=3).files
        assert one.files != mlquant.calibrate(model, part, inputs=50, seed=4).files
        counts = np.unique([Path(f).parts[0] for f in one.files], return_counts=True)[1]
        assert len(counts) == 10 and counts.max() - counts.min() <= 1

    def test_memory_budget_keeps_only_diagonals(self, digits) -> None:  # type: ignore[no-untyped-def]
        """With no memory for matrices every weight keeps its diagonal and mean, and no full matrix."""
        model, part, _ = digits
        full = mlquant.calibrate(model, part, inputs=40)
        lean = mlquant.calibrate(model, part, inputs=40, memory=0)
        for name, stats in lean.statistics.items():
            assert stats.second_moment is None
            np.testing.assert_allclose(stats.diagonal, np.diagonal(full.require(name).second_moment, axis1=1, axis2=2),
                                       rtol=1e-5, atol=1e-6)

    def test_cache_returns_the_same_statistics(self, digits, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """A second run with the same cache folder reads the stored statistics back, unchanged."""
        model, part, _ = digits
        first = mlquant.calibrate(model, part, inputs=40, cache=tmp_path)
        second = mlquant.calibrate(model, part, inputs=40, cache=tmp_path)
        assert second.seconds == 0.0 and second.files == first.files and list(tmp_path.glob("calibration-*.npz"))
        for name, stats in first.statistics.items():
            np.testing.assert_array_equal(second.require(name).second_moment, stats.second_moment)
            np.testing.assert_array_equal(second.require(name).mean, stats.mean)

    def test_progress_counts_inputs(self, digits) -> None:  # type: ignore[no-untyped-def]
        """Progress reports ("calibrating", done, total) up to every input."""
        model, part, _ = digits
        calls: list[tuple[str, int, int]] = []
        result = mlquant.calibrate(model, part, inputs=40, batch_size=16, progress=lambda *a: calls.append(a))
        assert calls[0] == ("calibrating", 0, len(result.files)) and calls[-1][1] == calls[-1][2] == len(result.files)


def _output_error(x: np.ndarray, w: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum((x @ (w - q).T) ** 2))


class TestRounding:
    @pytest.mark.parametrize("seed", range(4))
    def test_lut_rounding_beats_nearest_on_the_calibration_inputs(self, seed: int) -> None:
        """With a fixed table, compensated indices leave an output error no larger than round-to-nearest's."""
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(400, 24)) @ rng.normal(size=(24, 24))  # correlated inputs
        w = rng.normal(size=(8, 24))
        table, nearest = kmeans_1d(w, 4)
        indices = compensated(w, Table(table), np.arange(8), x.T @ x / len(x))
        assert indices is not None
        direct = _output_error(x, w, table[nearest.reshape(w.shape)])
        assert _output_error(x, w, table[indices]) <= direct

    def test_linear_grid_rounding_beats_nearest(self) -> None:
        """The per-row affine grid: compensated indices stay on the grid and lower the output error."""
        rng = np.random.default_rng(7)
        x = rng.normal(size=(300, 16)) @ rng.normal(size=(16, 16))
        w = rng.normal(size=(5, 16))
        low, high = w.min(axis=1), w.max(axis=1)
        scale = (high - low) / 7
        grid = Affine(scale, low, 8)
        indices = compensated(w, grid, np.arange(5), x.T @ x / len(x))
        assert indices is not None and indices.min() >= 0 and indices.max() <= 7
        rounded = np.clip(np.rint((w - low[:, None]) / scale[:, None]), 0, 7)
        as_values = lambda q: q * scale[:, None] + low[:, None]
        assert _output_error(x, w, as_values(indices)) <= _output_error(x, w, as_values(rounded))

    def test_per_row_tables_agree_with_a_shared_table(self) -> None:
        """A table per row, all equal, rounds exactly as the shared table; different tables are each respected."""
        rng = np.random.default_rng(11)
        x = rng.normal(size=(200, 10)) @ rng.normal(size=(10, 10))
        w = rng.normal(size=(6, 10))
        h = x.T @ x / len(x)
        table = np.sort(rng.normal(size=8))
        shared = compensated(w, Table(table), np.arange(6), h)
        per_row = compensated(w, RowTables(np.tile(table, (6, 1))), np.arange(6), h)
        np.testing.assert_array_equal(per_row, shared)
        tables = np.sort(rng.normal(size=(6, 4)), axis=1)
        indices = compensated(w, RowTables(tables), np.arange(6), h)
        assert indices is not None and indices.max() < 4
        nearest = np.abs(tables[:, None, :] - w[:, :, None]).argmin(axis=2)
        as_values = np.take_along_axis(tables, indices, axis=1)
        assert _output_error(x, w, as_values) <= _output_error(x, w, np.take_along_axis(tables, nearest, axis=1))

    def test_dead_inputs_and_singular_matrices_are_handled(self) -> None:
        """Columns whose input is always zero are rounded to nearest; a matrix that cannot be factored gives None."""
        rng = np.random.default_rng(3)
        x = rng.normal(size=(50, 6))
        x[:, 2] = 0.0
        w = rng.normal(size=(3, 6))
        table = np.linspace(-2, 2, 8)
        indices = compensated(w, Table(table), np.arange(3), x.T @ x / 50)
        assert indices is not None and np.all(np.isfinite(table[indices]))
        assert compensated(w, Table(table), np.arange(3), np.full((6, 6), np.nan)) is None


class TestBiasCorrection:
    def test_hand_computed_shift(self) -> None:
        """(W - Q) E[x]: W = [[1, 2], [3, 4]], Q = [[1, 1], [3, 5]], E[x] = [2, -1] shifts by [-1, 1]."""
        stats = InputStatistics(1, np.array([[2.0, -1.0]]), np.ones((1, 2)))
        shift = output_shift(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 1.0], [3.0, 5.0]]), stats)
        np.testing.assert_allclose(shift, [-1.0, 1.0])

    def test_corrected_model_keeps_the_mean_output(self, digits) -> None:  # type: ignore[no-untyped-def]
        """For the first layer, the corrected bias makes the quantized layer's mean output the float one's."""
        model, part, _ = digits
        calibration = mlquant.calibrate(model, part, inputs=10**6)
        layer = FIRST
        name, stats = f"{layer}.weights", calibration.require(f"{layer}.weights")
        only_first = mlquant.LayerSelector(names=layer)
        small = mlquant.quantize(model, mlquant.DataAware(mlquant.KMeansLUTQuantizer(nbits=2), calibration,
                                                          rounding=False), select=only_first)
        w, q = model.read(name), small.read(name)
        b, corrected = model.read(f"{layer}.bias"), small.read(f"{layer}.bias")
        assert small.weights[model.index_of(f"{layer}.bias")].storage == "float32"
        mean = stats.mean[0]
        np.testing.assert_allclose(q.astype(np.float64) @ mean + corrected, w.astype(np.float64) @ mean + b,
                                   rtol=1e-5, atol=1e-4)


class TestDataAware:
    def test_same_storage_and_size_as_the_plain_quantizer(self, digits) -> None:  # type: ignore[no-untyped-def]
        """A data-aware model stores what the plain one stores, at the same size (biases stay float32)."""
        model, part, _ = digits
        calibration = mlquant.calibrate(model, part, inputs=60)
        for plain in (mlquant.KMeansLUTQuantizer(nbits=3), mlquant.LinearQuantizer(nbits=4)):
            aware = mlquant.DataAware(plain, calibration)
            assert aware.name == f"{plain.name}_data" and aware.nbits == plain.nbits
            a, p = mlquant.quantize(model, aware), mlquant.quantize(model, plain)
            assert [(w.storage, w.nbits) for w in a.weights] == [(w.storage, w.nbits) for w in p.weights]
            assert a.size_bytes == p.size_bytes

    def test_custom_tables_receive_the_importance_only_when_they_ask(self, digits) -> None:  # type: ignore[no-untyped-def]
        """A lut(values) override is called as before; lut(values, importance) gets the inputs' second moments."""
        model, part, _ = digits
        calibration = mlquant.calibrate(model, part, inputs=60)
        received: list[np.ndarray | None] = []

        class Old(mlquant.LUTQuantizer):
            def lut(self, values):  # type: ignore[no-untyped-def, override]
                return np.linspace(values.min(), values.max(), 4), np.zeros(values.size, np.uint8)

        class New(mlquant.LUTQuantizer):
            def lut(self, values, importance=None):  # type: ignore[no-untyped-def, override]
                received.append(importance)
                return np.linspace(values.min(), values.max(), 4), np.zeros(values.size, np.uint8)

        mlquant.quantize(model, mlquant.DataAware(Old(nbits=2), calibration))
        mlquant.quantize(model, mlquant.DataAware(New(nbits=2), calibration))
        stats = calibration.require(f"{FIRST}.weights")
        shape = model.read(f"{FIRST}.weights").shape
        first = received[0]
        assert first is not None and first.shape == shape
        np.testing.assert_allclose(first, np.broadcast_to(stats.diagonal[0], shape))

    def test_weights_without_statistics_are_quantized_plainly(self) -> None:
        """With an empty calibration the data-aware model equals the plain one."""
        rng = np.random.default_rng(0)
        model = _conv_model(rng)
        plain = mlquant.quantize(model, mlquant.KMeansLUTQuantizer(nbits=4))
        aware = mlquant.quantize(model, mlquant.DataAware(mlquant.KMeansLUTQuantizer(nbits=4), Calibration({})))
        for w in model.weights:
            np.testing.assert_array_equal(aware.read(w), plain.read(w))

    def test_statistics_of_another_model_are_refused(self) -> None:
        """Statistics whose depth does not fit the weight are a SettingsError naming the layer."""
        model = _conv_model(np.random.default_rng(0))
        wrong = Calibration({"dense.weights": InputStatistics(1, np.zeros((1, 5)), np.ones((1, 5)))})
        with pytest.raises(mlquant.SettingsError, match="dense"):
            mlquant.quantize(model, mlquant.DataAware(mlquant.LinearQuantizer(nbits=4), wrong))

    def test_passes_the_conformance_check(self) -> None:
        """Applied to a bare array (no weight to look up), the wrapper keeps every quantizer's contract."""
        from mlquant.testing import check_quantizer

        check_quantizer(mlquant.DataAware(mlquant.KMeansLUTQuantizer(nbits=4), Calibration({})))

    def test_settings_are_validated(self) -> None:
        """Wrapping a data-aware quantizer, a non-calibration or a bad damping is refused."""
        calibration = Calibration({})
        aware = mlquant.DataAware(mlquant.LinearQuantizer(nbits=4), calibration)
        for args, kwargs in (((aware, calibration), {}), ((mlquant.LinearQuantizer(nbits=4), {}), {}),
                             ((mlquant.LinearQuantizer(nbits=4), calibration), {"damping": 0.0})):
            with pytest.raises(mlquant.SettingsError):
                mlquant.DataAware(*args, **kwargs)


class TestDigitsDemo:
    @pytest.mark.parametrize("nbits", [2, 3])
    def test_calibrated_model_loses_less_than_plain(self, digits, nbits: int) -> None:  # type: ignore[no-untyped-def]
        """Calibrated on one half, judged on the other, data-aware k-means and linear keep more of the float model."""
        model, part, judged = digits
        assert_data_aware_loses_less(model, part, judged,
                                     [mlquant.KMeansLUTQuantizer(nbits=nbits), mlquant.LinearQuantizer(nbits=nbits)])


class TestSweep:
    def test_data_aware_sweep_judges_on_images_it_did_not_calibrate_on(self, demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """The sweep adds a `_data` twin per quantizer, calibrates on one stratified half and judges on the other."""
        grid = [mlquant.KMeansLUTQuantizer(nbits=2), mlquant.LinearQuantizer(nbits=3)]
        result = mlquant.sweep(demo.model, demo.data, grid=grid, data_aware=True, out_dir=tmp_path / "sweep")
        names = [c.name for c in result.candidates]
        assert names == ["kmeans_lut_2", "linear_3", "kmeans_lut_2_data", "linear_3_data"]
        assert result.calibration is not None
        judged = set(result.baseline.files)
        calibrated = set(result.calibration.files)
        assert judged and calibrated and not judged & calibrated
        everything = mlquant.ImageFolder(demo.data)
        assert len(judged) + len(result.calibration_baseline.files) == len(everything.samples)
        assert "## Data-aware candidates" in (tmp_path / "sweep" / "report.md").read_text()

    def test_cli_quantize_with_calibration_data(self, demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """`mlquant quantize --calibration-data DIR` writes the data-aware model, equal to the library's."""
        from mlquant.cli import main

        out = tmp_path / "digits_data.mlmodel"
        assert main(["quantize", str(demo.model), "--method", "linear", "--nbits", "3", "--calibration-data",
                     str(demo.data), "-o", str(out), "--json"]) == 0
        model = mlquant.load(demo.model)
        expected = mlquant.quantize(model, mlquant.DataAware(mlquant.LinearQuantizer(nbits=3),
                                                             mlquant.calibrate(model, demo.data)))
        written = mlquant.load(out)
        for weight in model.weights:
            np.testing.assert_array_equal(written.read(weight), expected.read(weight))

    def test_cli_flag(self, demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """`mlquant sweep --data-aware` adds the data-aware candidates to the results."""
        import json

        from mlquant.cli import main

        out = tmp_path / "cli"
        code = main(["sweep", str(demo.model), "--data", str(demo.data), "--out", str(out), "--methods", "kmeans_lut",
                     "--nbits", "2", "--data-aware", "--quiet"])
        assert code in (0, 1)
        saved = json.loads((out / "results.json").read_text())
        assert "kmeans_lut_2_data" in json.dumps(saved)


class TestMixed:
    def test_search_chooses_among_data_aware_options(self, demo) -> None:  # type: ignore[no-untyped-def]
        """With data_aware=True every quantized weight of the plan gets a data-aware option, calibrated on the search part."""
        plan = mlquant.search_mixed_precision(demo.model, demo.data, max_mean_drop=1.0, max_class_drop=5.0,
                                              data_aware=True, backend=mlquant.ReferenceBackend())
        chosen = [q for q in plan.per_weight.values() if q is not None]
        assert chosen and all(isinstance(q, (mlquant.DataAware, mlquant.Float16Quantizer)) for q in chosen)
        assert all(name.endswith("_data") for s in plan.sensitivity for name in s.options[1:] if name != "float16")
        calibration = next(q.calibration for q in chosen if isinstance(q, mlquant.DataAware))
        searched, _ = mlquant.ImageFolder(demo.data).split(0.5, seed=0)
        assert set(calibration.files) <= {str(s.path.relative_to(searched.root)) for s in searched.samples}
        assert plan.validation is not None and plan.validation.files


class TestEndToEnd:
    def test_grouped_convolution_model_outputs_stay_closer_to_float(self, tmp_path: Path) -> None:
        """On a grouped convolution and a dense layer, data-aware 2-bit outputs are nearer the float outputs than plain ones."""
        rng = np.random.default_rng(5)
        model = _conv_model(rng)
        inputs = (normal(rng, 64, 4, 7, 6) + 0.5 * normal(rng, 64, 1, 7, 6)).astype(np.float32)  # correlated channels
        for i, x in enumerate(inputs):
            np.save(tmp_path / f"{i:03d}.npy", x)
        calibration = mlquant.calibrate(model, tmp_path, inputs=64)
        assert {name: (s.groups, s.depth) for name, s in calibration.statistics.items()} == {
            "conv.weights": (2, 18), "dense.weights": (1, 72)}
        reference = Network(model).run({"x": inputs})["out"]
        errors = {}
        for quantizer in (mlquant.LinearQuantizer(nbits=2), mlquant.DataAware(mlquant.LinearQuantizer(nbits=2), calibration)):
            out = Network(mlquant.quantize(model, quantizer)).run({"x": inputs})["out"]
            errors[quantizer.name] = float(np.mean((out - reference) ** 2))
        assert errors["linear_2_data"] < errors["linear_2"], errors


class TestGroupedTables:
    def test_grouped_channel_tables_are_weighted_and_compensated(self) -> None:
        """With a table per group of channels, each group's table gets its rows' importance and rounding lowers the output error."""
        from mlquant.formats import WeightInfo
        from mlquant.weights import GroupedLUTWeights

        rng = np.random.default_rng(4)
        x = rng.normal(size=(500, 12)) @ rng.normal(size=(12, 12))
        w = rng.normal(size=(8, 12))
        stats = InputStatistics(len(x), x.mean(axis=0)[None], (x * x).mean(axis=0)[None], (x.T @ x / len(x))[None])
        info = WeightInfo(0, "fc", "innerProduct", "weights", (8, 12), 0, False, False, "float32", 32, 384)
        plain = mlquant.KMeansLUTQuantizer(nbits=2, granularity=mlquant.PerGroupedChannel(4))
        bound = mlquant.DataAware(plain, Calibration({"fc.weights": stats})).for_weight(info)
        aware, alone = bound.quantize(w, channel_axis=0), plain.quantize(w, channel_axis=0)
        assert isinstance(aware, GroupedLUTWeights) and aware.tables.shape == (2, 4)
        assert _output_error(x, w, aware.dequantize()) < _output_error(x, w, alone.dequantize())
