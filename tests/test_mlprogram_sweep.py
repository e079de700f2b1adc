"""The Goldilocks workflow on an ML Program: the demo's digits network as an .mlpackage.

Oracles: the NeuralNetwork model the package was converted from (run by the NeuralNetwork
runtime, itself checked against onnxruntime) for the float baseline; the ML Program storage
rules as coremltools' op definitions state them (tests/test_granularity.py checks those against
coremltools) for the grid; coremltools' loader for every written package.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import mlquant
from mlquant import _coreml
from mlquant.workflow.grid import default_grid, sweep_target


@pytest.fixture(scope="module")
def digits(demo, tmp_path_factory: pytest.TempPathFactory) -> tuple[mlquant.Model, mlquant.Model]:
    """The demo's digits classifier and the same network as an ML Program (float32)."""
    model = mlquant.load(demo.model)
    return model, mlquant.convert(model, tmp_path_factory.mktemp("digits") / "digits.mlpackage")


def test_default_grid_holds_what_an_ml_program_stores(digits) -> None:
    _, program = digits
    names = {e.name for e in default_grid(model=program, max_target=sweep_target(program, None))}
    # iOS16 forms: tables at 1, 2, 4, 6, 8 bits; 8-bit linear (integer zero points); float16.
    assert names == {"float16", "linear_8", *(f"{m}_{n}" for m in ("linear_lut", "kmeans_lut") for n in (1, 2, 4, 6, 8))}
    ios18 = {e.name for e in default_grid(model=program, max_target=sweep_target(program, "iOS18"))}
    assert ios18 - names == {"linear_4", "linear_lut_3", "kmeans_lut_3", "kmeans_lut_4_g16", "kmeans_lut_3_g16",
                             "kmeans_lut_2_g16", "linear_4_b32"}
    nn_model, _ = digits
    assert len(default_grid(model=nn_model, max_target=sweep_target(nn_model, None))) == 25


def test_sweep_of_a_package_end_to_end(digits, demo, tmp_path: Path) -> None:
    model, program = digits
    out = tmp_path / "sweep"
    result = mlquant.sweep(program, demo.data, out_dir=out, target="iOS18", fast=True)
    reference = mlquant.Evaluator(demo.data).evaluate(model)
    assert result.baseline.per_class == reference.per_class  # the float package predicts what the .mlmodel does
    assert result.selection.chosen is not None
    written = sorted((out / "models").iterdir())
    assert [p.name for p in written] == sorted(f"{c.name}.mlpackage" for c in result.candidates)
    ct = _coreml.coremltools()
    chosen = mlquant.load(out / "models" / f"{result.selection.chosen.name}.mlpackage")
    assert chosen.size_bytes == result.selection.chosen.size_bytes
    assert ct.models.MLModel(str(chosen.path), skip_model_load=True).get_spec().WhichOneof("Type") == "mlProgram"
    for name in ("results.csv", "results.json", "report.md", "size_vs_accuracy.png", "per_class_heatmap.png"):
        assert (out / name).is_file()


def test_an_entry_the_format_cannot_store_is_skipped_with_why(digits, demo) -> None:
    _, program = digits
    grid = [mlquant.KMeansLUTQuantizer(nbits=5), mlquant.KMeansLUTQuantizer(nbits=4)]
    result = mlquant.sweep(program, demo.data, grid=grid)
    assert [c.name for c in result.candidates] == ["kmeans_lut_4"]
    (name, why), = result.skipped
    assert name == "kmeans_lut_5" and "5-bit" in why and "ML Program" in why
    with pytest.raises(mlquant.SettingsError, match="stores none"):
        mlquant.sweep(program, demo.data, grid=[mlquant.LinearQuantizer(nbits=6)])


def test_mixed_precision_on_a_package_uses_only_storable_options(digits, demo) -> None:
    _, program = digits
    plan = mlquant.search_mixed_precision(program, demo.data, max_mean_drop=2.0, max_class_drop=10.0)
    chosen = {q.nbits for q in plan.per_weight.values() if q is not None}
    assert chosen <= {16, 8, 6, 4, 2}
    small = mlquant.quantize(program, plan)
    assert small.format == "mlprogram" and small.size_bytes < program.size_bytes
    with pytest.raises(mlquant.SettingsError, match="7-bit"):
        mlquant.search_mixed_precision(program, demo.data, options=[mlquant.KMeansLUTQuantizer(nbits=7)])


def test_demo_as_an_ml_program(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "mlquant", "demo", "--format", "mlprogram", "--fast", "--out",
                           str(tmp_path / "demo")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "digits.mlpackage" in done.stdout and "chosen:" in done.stdout
    assert any(p.suffix == ".mlpackage" for p in (tmp_path / "demo" / "sweep" / "models").iterdir())


def test_quantize_command_takes_a_granularity(digits, tmp_path: Path) -> None:
    _, program = digits
    out = tmp_path / "g16.mlpackage"
    done = subprocess.run([sys.executable, "-m", "mlquant", "quantize", str(program.path), "--method", "kmeans_lut",
                           "--nbits", "4", "--group-size", "16", "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    small = mlquant.load(out)
    assert small.deployment_target == "iOS18" and "lut" in {w.storage for w in small.weights}
    wrong = subprocess.run([sys.executable, "-m", "mlquant", "quantize", str(program.path), "--method", "linear",
                            "--nbits", "4", "--group-size", "16", "-o", str(tmp_path / "x.mlpackage")],
                           capture_output=True, text=True)
    assert wrong.returncode == 2 and "--group-size applies to look-up tables" in wrong.stderr
    assert not (tmp_path / "x.mlpackage").exists()
