"""The sweep on the built-in digits model: grid, deduplication, files, resuming, --fast."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import mlquant
from mlquant.errors import OutputError
from mlquant.evaluate.backends import ReferenceBackend
from mlquant.workflow.grid import default_grid
from mlquant.workflow.saved import read_sweep


@pytest.fixture(scope="module")
def full(demo, tmp_path_factory: pytest.TempPathFactory) -> mlquant.SweepResult:
    return mlquant.sweep(demo.model, demo.data, out_dir=tmp_path_factory.mktemp("full"), backend=ReferenceBackend())


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


class Interrupt(ReferenceBackend):
    """A backend that dies after a number of batches, like a sweep killed halfway."""

    def __init__(self, batches: int) -> None:
        super().__init__()
        self.left = batches

    def predict(self, model, inputs):  # type: ignore[no-untyped-def]
        self.left -= 1
        if self.left < 0:
            raise KeyboardInterrupt
        return super().predict(model, inputs)


class TestFullSweep:
    def test_every_candidate_and_file(self, full: mlquant.SweepResult, demo) -> None:
        """25 candidates (float16 once, as 16 bits means float16 for every method) are quantized, saved, evaluated and reported."""
        assert len(full.candidates) == 25 and len(default_grid()) == 25
        assert full.candidates[0].name == "float16" and "linear_16" not in [c.name for c in full.candidates]
        assert all(c.evaluation is not None and c.evaluation.complete for c in full.candidates)
        inputs = len(full.baseline.files)
        assert full.inputs_evaluated == inputs * (1 + 25)
        out = full.out_dir
        for name in ("results.csv", "results.json", "report.md", "size_vs_accuracy.png", "per_class_heatmap.png"):
            assert (out / name).is_file(), name
        assert len(list((out / "models").glob("*.mlmodel"))) == 25
        lines = (out / "results.csv").read_text().splitlines()
        assert lines[0].startswith("model,size,0,1,2,3,4,5,6,7,8,9,accuracy,")
        assert len(lines) == 1 + 1 + 25

    def test_choice_meets_the_tolerance(self, full: mlquant.SweepResult) -> None:
        """The chosen candidate is the smallest whose drops are inside the default tolerance."""
        chosen = next(r for r in full.table if r.status == "chosen")
        assert chosen.drop <= 1.0 and chosen.worst_drop <= 5.0
        smaller = [r for r in full.table if r.candidate.size_bytes < chosen.candidate.size_bytes]
        assert smaller and all(r.reasons for r in smaller)
        assert "**Chosen: " + chosen.candidate.name in (full.out_dir / "report.md").read_text()

    def test_saved_models_are_what_was_evaluated(self, full: mlquant.SweepResult) -> None:
        """Each saved candidate file reloads to the size and storage it was evaluated at."""
        for candidate in full.candidates[::5]:
            model = mlquant.load(candidate.path)
            assert model.size_bytes == candidate.size_bytes
            kind = "float16" if candidate.nbits == 16 else {"linear": "linear"}.get(candidate.method, "lut")
            assert model.weights[0].storage == kind

    def test_reselect_from_results(self, full: mlquant.SweepResult) -> None:
        """results.json holds enough to choose again under another tolerance, without running a model."""
        saved = read_sweep(full.out_dir / "results.json")
        baseline, candidates, selector = saved.baseline, saved.candidates, saved.selector
        assert selector == full.selection.selector
        again = selector.select(baseline, candidates)
        assert again.chosen.name == full.selection.chosen.name
        loose = mlquant.Selector(max_mean_drop=10, max_class_drop=50).select(baseline, candidates)
        assert loose.chosen.size_bytes < full.selection.chosen.size_bytes


class TestResume:
    def test_interrupted_sweep_resumes(self, demo, full: mlquant.SweepResult, tmp_path: Path) -> None:
        """A sweep killed halfway evaluates only what is missing and writes the same results.csv."""
        out = tmp_path / "resumed"
        with pytest.raises(KeyboardInterrupt):
            mlquant.sweep(demo.model, demo.data, out_dir=out, backend=Interrupt(batches=200))
        assert not (out / "results.csv").exists()
        resumed = mlquant.sweep(demo.model, demo.data, out_dir=out, backend=ReferenceBackend())
        assert 0 < resumed.inputs_evaluated < full.inputs_evaluated
        assert (out / "results.csv").read_bytes() == (full.out_dir / "results.csv").read_bytes()
        again = mlquant.sweep(demo.model, demo.data, out_dir=out, backend=ReferenceBackend())
        assert again.inputs_evaluated == 0

    def test_wider_grid_evaluates_only_new_candidates(self, demo, tmp_path: Path) -> None:
        """Adding a width to the grid evaluates just that candidate."""
        grid = lambda widths: default_grid(["linear"], widths)
        first = mlquant.sweep(demo.model, demo.data, out_dir=tmp_path, grid=grid([8, 4]), backend=ReferenceBackend())
        second = mlquant.sweep(demo.model, demo.data, out_dir=tmp_path, grid=grid([8, 6, 4]), backend=ReferenceBackend())
        assert first.inputs_evaluated == 3 * len(first.baseline.files)
        assert second.inputs_evaluated == len(first.baseline.files)


class TestFast:
    def test_same_choice_for_less_work(self, demo, full: mlquant.SweepResult, tmp_path: Path) -> None:
        """--fast chooses the full sweep's model while evaluating fewer inputs."""
        fast = mlquant.sweep(demo.model, demo.data, out_dir=tmp_path, fast=True, backend=ReferenceBackend())
        assert fast.selection.chosen.name == full.selection.chosen.name
        assert fast.inputs_evaluated < full.inputs_evaluated / 2
        statuses = {r.candidate.name: r.status for r in fast.table}
        assert "stopped early" in statuses.values() and "not evaluated" in statuses.values()
        chosen = next(c for c in fast.candidates if c.name == fast.selection.chosen.name)
        assert chosen.evaluation.complete and len(chosen.evaluation.files) == len(fast.baseline.files)


class TestSafety:
    def test_never_writes_into_the_data(self, demo, tmp_path: Path) -> None:
        """An output folder inside the data folder is refused and the data stays byte-identical."""
        before = tree_digest(demo.data)
        with pytest.raises(OutputError, match="lies inside the data folder"):
            mlquant.sweep(demo.model, demo.data, out_dir=demo.data / "out", grid=default_grid(["linear"], [8]))
        assert tree_digest(demo.data) == before

    def test_custom_quantizer_in_the_grid(self, demo, tmp_path: Path) -> None:
        """User subclasses sweep like built-ins, under their own names."""

        class Sign(mlquant.LUTQuantizer):
            def lut(self, values):
                scale = float(np.abs(values).mean())
                return np.array([-scale, scale]), (values.reshape(-1) >= 0).astype(np.uint8)

        result = mlquant.sweep(demo.model, demo.data, grid=[Sign(nbits=1), mlquant.Float16Quantizer()],
                               backend=ReferenceBackend())
        assert [c.name for c in result.candidates] == ["sign_1", "float16"]
        assert result.selection.chosen.name == "float16"


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[mlquant.Model, Path]:
    """A tiny NeuralNetwork classifier of 12 values and a folder of three random inputs for each of its 4 labels."""
    from . import _models

    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    for label in "abcd":
        (data / label).mkdir(parents=True)
        for i in range(3):
            np.save(data / label / f"{i}.npy", rng.normal(size=12).astype(np.float32))
    return mlquant.Model(_models.mlp_classifier()), data


class TestNotSmaller:
    def test_candidates_larger_than_the_input_are_skipped(
        self, tiny: tuple[mlquant.Model, Path], tmp_path: Path
    ) -> None:
        """On a tiny model the 8-bit tables outweigh the weights: those candidates are skipped, not written."""
        model, data = tiny
        out = tmp_path / "out"
        result = mlquant.sweep(model, data, out_dir=out, backend=ReferenceBackend(),
                               grid=default_grid(["linear_lut", "kmeans_lut"], [16, 8, 2]))
        skipped = dict(result.skipped)
        assert set(skipped) == {"linear_lut_8", "kmeans_lut_8"}
        assert all("not smaller than the input" in why for why in skipped.values())
        assert sorted(p.stem for p in (out / "models").iterdir()) == sorted(c.name for c in result.candidates)
        assert "linear_lut_8" in (out / "report.md").read_text()

    def test_forms_the_format_cannot_store_are_skipped(self, tiny: tuple[mlquant.Model, Path]) -> None:
        """A grid entry the model's format cannot store (grouped tables in a NeuralNetwork) is skipped with the reason."""
        model, data = tiny
        grouped = mlquant.KMeansLUTQuantizer(2, mlquant.PerGroupedChannel(1))
        result = mlquant.sweep(model, data, backend=ReferenceBackend(), grid=[grouped, mlquant.Float16Quantizer()])
        skipped = dict(result.skipped)
        assert set(skipped) == {"kmeans_lut_2_g1"}
        assert "NeuralNetwork format cannot store" in skipped["kmeans_lut_2_g1"]
        assert [c.name for c in result.candidates] == ["float16"]


class TestFiles:
    def test_csv_names_its_units(self, full: mlquant.SweepResult) -> None:
        """Per-class columns are fractions 0-1; drop columns say they are in percentage points."""
        header, float_row, *_ = (full.out_dir / "results.csv").read_text().splitlines()
        columns = header.split(",")
        assert "mean_drop_points" in columns and "worst_class_drop_points" in columns and "drop" not in columns
        assert all(0 <= float(v) <= 1 for v in float_row.split(",")[2:12])

    def test_resweeping_leaves_only_the_new_candidates(self, demo, tmp_path: Path) -> None:
        """A second sweep into the same folder with another grid removes the first grid's model files."""
        mlquant.sweep(demo.model, demo.data, out_dir=tmp_path, grid=default_grid(["linear"], [8, 6]),
                      backend=ReferenceBackend())
        again = mlquant.sweep(demo.model, demo.data, out_dir=tmp_path, grid=default_grid(["kmeans_lut"], [4]),
                              backend=ReferenceBackend())
        listed = {line.split(",")[0] for line in (tmp_path / "results.csv").read_text().splitlines()[1:]} - {"float"}
        assert sorted(p.stem for p in (tmp_path / "models").iterdir()) == sorted(listed) == ["kmeans_lut_4"]
        assert again.reused == 1  # the float model's evaluation came from the cache
