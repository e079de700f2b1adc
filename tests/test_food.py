"""End to end on the real food model and its 700 images (``../shared/food``)."""

from __future__ import annotations

from pathlib import Path

import pytest

import mlquant
from mlquant.evaluate.results import read_csv, write_csv


@pytest.fixture(scope="module")
def evaluator(readme_run) -> mlquant.Evaluator:
    """An evaluator over the 700 images like the README example's, its decoded images reused by every test here."""
    return readme_run[0]["ev"]


@pytest.fixture(scope="module")
def base(readme_run) -> mlquant.Evaluation:
    """The README example's evaluation of the float food model."""
    return readme_run[0]["base"]


@pytest.fixture(scope="module")
def food_model(readme_run) -> mlquant.Model:
    """The README example's food model."""
    return readme_run[0]["model"]


class TestFoodEvaluation:
    def test_per_class_accuracy_to_csv(self, base: mlquant.Evaluation, tmp_path: Path) -> None:
        """All 700 images are scored per class (the 8 .DS_Store files skipped) and written as CSV."""
        assert len(base.files) == 700 and len(base.skipped) == 8
        assert {s.reason for s in base.skipped} == {"hidden file"}
        assert base.classes == ("french fries", "hamburger", "hot dog", "pizza", "ramen", "steak", "sushi")
        assert all(total == 100 for _, total in base.counts.values())
        assert 0.5 < base.accuracy < 0.75  # a 101-dish SqueezeNet on 7 of its dishes
        row = read_csv(write_csv([base], tmp_path / "food.csv"))[0]
        assert row.model == "food" and row.per_class == pytest.approx(base.per_class, abs=1e-4)

    def test_four_bit_lookup_table_differs(self, evaluator, food_model, base) -> None:
        """A 4-bit linear look-up table changes the model's accuracy."""
        small = mlquant.quantize(food_model, mlquant.LinearLUTQuantizer(nbits=4))
        result = evaluator.evaluate(small, reference=base)
        assert result.per_class != base.per_class
        assert result.top1_agreement < 0.9

    def test_sixteen_bits_agree(self, evaluator, food_model, base) -> None:
        """A float16 model agrees with the float model on at least 99% of images."""
        half = mlquant.quantize(food_model, mlquant.Float16Quantizer())
        assert evaluator.evaluate(half, reference=base).top1_agreement >= 0.99


class TestFoodSweep:
    def test_full_sweep(self, readme_run, food_work: Path) -> None:
        """The README's sweep: all 25 candidates (float16 once) reported; collapsed low-bit models say so; the choice meets the tolerance."""
        result = readme_run[0]["result"]
        out = food_work / "food-sweep"
        assert len(result.candidates) == 25 and [c.name for c in result.candidates].count("float16") == 1
        for name in ("results.csv", "results.json", "report.md", "size_vs_accuracy.png", "per_class_heatmap.png"):
            assert (out / name).is_file()
        assert sorted(p.stem for p in (out / "models").iterdir()) == sorted(c.name for c in result.candidates)
        collapsed = [r for r in result.table if any(reason.startswith("collapsed") for reason in r.reasons)]
        assert collapsed and all(r.candidate.nbits <= 3 for r in collapsed)
        chosen = next(r for r in result.table if r.status == "chosen")
        assert chosen.drop <= 1.0 and chosen.worst_drop <= 5.0
        assert chosen.candidate.size_bytes < 0.5 * result.baseline.size_bytes


class TestFoodAsMLProgram:
    def test_float32_program_predicts_what_the_mlmodel_predicts(self, evaluator, food_model, base, tmp_path) -> None:
        """mlquant convert: the food network as an ML Program gives the same prediction on every image."""
        program = mlquant.convert(food_model, tmp_path / "food.mlpackage")
        assert program.format == "mlprogram" and program.class_labels == food_model.class_labels
        result = evaluator.evaluate(program, reference=base)
        assert result.top1_agreement == 1.0
        assert result.per_class == base.per_class
