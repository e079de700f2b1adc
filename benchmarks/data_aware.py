"""Data-aware quantization against plain, side by side, judged on images it never saw.

Splits the food model's 700 images into two halves, stratified per class (seed 0). Calibrates
on (up to 256 of) the first half, then judges on the second half, in one run: the float model,
the default grid's 25 plain candidates and their 24 data-aware twins (float16 has none). Then a
mixed-precision search over data-aware options, run on the first half only (it splits that half
again for its own search and check), judged on the second half like the rest: once with the
search's default ``min_agreement=0.99`` and once with 0.97.

Targets (issue 12), all on the judged half, default tolerance (mean drop 1 point, worst class 5):

* 4-bit k-means LUT: mean class accuracy drop at most 2.0 points;
* 4-bit linear (per channel): at most 2.0 points;
* 3-bit k-means LUT: at most half of plain's drop;
* smallest uniform candidate within tolerance (plain and data-aware) at most 0.8x the size of the
  plain grid's choice; the mixed plan over data-aware options at most 0.6x;
* calibration plus one data-aware 4-bit k-means model: under 60 s.

With ``--format mlprogram`` it converts the model to an ML Program (float32, in a temporary folder)
and compares, on the same halves, plain and data-aware 4-bit k-means LUT, 4-bit per-channel linear
(integer zero points) and 4-bit k-means tables per group of 16 output channels (iOS18), giving each
one's mean class accuracy drop and top-1 disagreement with the float program.

Usage: python benchmarks/data_aware.py [model.mlmodel data_folder] [--format mlprogram]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import mlquant
from mlquant.evaluate import EvaluationCache
from mlquant.select import Candidate

FOOD = Path(__file__).resolve().parents[2] / "shared" / "food"
TOLERANCE = mlquant.Selector()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=str(FOOD / "food.mlmodel"))
    parser.add_argument("data", nargs="?", default=str(FOOD / "testing_data"))
    parser.add_argument("--format", choices=("neuralnetwork", "mlprogram"), default="neuralnetwork")
    arguments = parser.parse_args()
    data = mlquant.ImageFolder(arguments.data)
    if arguments.format == "mlprogram":
        with tempfile.TemporaryDirectory() as folder:
            mlprogram_section(Path(arguments.model), data, Path(folder))
        return
    model_path = Path(arguments.model)
    model = mlquant.load(model_path)
    backend = mlquant.ReferenceBackend()
    part, judged = data.split(0.5, seed=0)

    start = time.perf_counter()
    calibration = mlquant.calibrate(model, part, inputs=256, seed=0)
    calibrated = time.perf_counter() - start
    mlquant.quantize(model, mlquant.DataAware(mlquant.KMeansLUTQuantizer(nbits=4), calibration))
    first_model = time.perf_counter() - start

    evaluator = mlquant.Evaluator(judged, backend=backend)
    base = evaluator.evaluate(model, name="float")
    plain, aware = [], []
    seconds = 0.0
    for entry in mlquant.default_grid():
        small = mlquant.quantize(model, entry.quantizer)
        plain.append(Candidate(entry.name, small.size_bytes, evaluator.evaluate(small, reference=base, name=entry.name),
                               entry.method, entry.nbits))
        if isinstance(entry.quantizer, mlquant.Float16Quantizer):
            continue
        twin = mlquant.DataAware(entry.quantizer, calibration)
        began = time.perf_counter()
        small = mlquant.quantize(model, twin)
        seconds += time.perf_counter() - began
        aware.append(Candidate(twin.name, small.size_bytes, evaluator.evaluate(small, reference=base, name=twin.name),
                               f"{entry.method}_data", entry.nbits))

    store = EvaluationCache(tempfile.mkdtemp(prefix="mlquant-bench-"))  # the second search reuses the sensitivities
    plans, mixed_rows = {}, []
    for name, agreement in (("mixed_data", 0.99), ("mixed_data_0.97", 0.97)):
        plans[name] = mlquant.search_mixed_precision(model, part, seed=0, backend=backend, calibration=calibration,
                                                     min_agreement=agreement, cache=store)
        mixed_model = mlquant.quantize(model, plans[name])
        mixed_rows.append(Candidate(name, mixed_model.size_bytes,
                                    evaluator.evaluate(mixed_model, reference=base, name=name), "mixed"))

    print(f"model: {model_path} ({model.size_bytes:,} bytes); calibrated on {len(calibration.files)} of "
          f"{len(part.samples)} images, judged on the other {len(judged.samples)}")
    print(f"float model on the judged half: mean class accuracy {100 * base.mean_class_accuracy:.2f}%\n")
    rows = {r.candidate.name: r for r in TOLERANCE.select(base, [*plain, *aware, *mixed_rows]).rows}
    print(f"{'candidate':<16}{'bytes':>11}{'drop':>7}{'worst':>7} | {'data-aware':<18}{'drop':>7}{'worst':>7}")
    for candidate in plain:
        left = rows[candidate.name]
        twin_row = rows.get(f"{candidate.name}_data")
        right = "" if twin_row is None else f"{twin_row.candidate.name:<18}{twin_row.drop:>7.2f}{twin_row.worst_drop:>7.1f}"
        print(f"{candidate.name:<16}{candidate.size_bytes:>11,}{left.drop:>7.2f}{left.worst_drop:>7.1f} | {right}")
    for mixed in mixed_rows:
        row = rows[mixed.name]
        print(f"{mixed.name:<16}{mixed.size_bytes:>11,}{row.drop:>7.2f}{row.worst_drop:>7.1f} (searched on the "
              f"calibration half in {plans[mixed.name].seconds:.0f} s, min_agreement "
              f"{'0.99' if mixed.name == 'mixed_data' else '0.97'})")
    print()

    def drop(name: str) -> float:
        return float(rows[name].drop or 0.0)

    plain_choice = TOLERANCE.select(base, plain).chosen
    both_choice = TOLERANCE.select(base, [*plain, *aware]).chosen
    print("targets:")
    print(f"  4-bit k-means LUT drop: plain {drop('kmeans_lut_4'):.2f}, data-aware {drop('kmeans_lut_4_data'):.2f} (target <= 2.0)")
    print(f"  4-bit linear drop: plain {drop('linear_4'):.2f}, data-aware {drop('linear_4_data'):.2f} (target <= 2.0)")
    print(f"  3-bit k-means LUT drop: plain {drop('kmeans_lut_3'):.2f}, data-aware {drop('kmeans_lut_3_data'):.2f} "
          f"(target <= {drop('kmeans_lut_3') / 2:.2f})")
    if plain_choice is None or both_choice is None:
        print("  no uniform candidate meets the tolerance")
    else:
        print(f"  smallest within tolerance: plain grid {plain_choice.name} {plain_choice.size_bytes:,} bytes; with "
              f"data-aware {both_choice.name} {both_choice.size_bytes:,} bytes: "
              f"{both_choice.size_bytes / plain_choice.size_bytes:.3f}x (target <= 0.8)")
        for mixed in mixed_rows:
            ok = TOLERANCE.select(base, [mixed]).chosen is not None
            print(f"  {mixed.name} (mixed over data-aware options): {mixed.size_bytes:,} bytes, "
                  f"{'meets' if ok else 'MISSES'} the tolerance on the judged half: "
                  f"{mixed.size_bytes / plain_choice.size_bytes:.3f}x (target <= 0.6)")
    print(f"  calibration {calibrated:.1f} s + one data-aware 4-bit k-means model: {first_model:.1f} s (target < 60); "
          f"all {len(aware)} data-aware models quantized in {seconds:.0f} s")


def mlprogram_section(model_path: Path, data: mlquant.ImageFolder, folder: Path) -> None:
    """Plain against data-aware on the model converted to an ML Program: 4-bit tables, linear and grouped tables."""
    start = time.perf_counter()
    program = mlquant.convert(mlquant.load(model_path), folder / f"{model_path.stem}.mlpackage")
    converted = time.perf_counter() - start
    part, judged = data.split(0.5, seed=0)
    start = time.perf_counter()
    calibration = mlquant.calibrate(program, part, inputs=256, seed=0)
    calibrated = time.perf_counter() - start
    evaluator = mlquant.Evaluator(judged, backend=mlquant.ReferenceBackend())
    base = evaluator.evaluate(program, name="float")
    print(f"model: {model_path} as an ML Program ({program.size_bytes:,} bytes, converted in {converted:.1f} s); "
          f"calibrated on {len(calibration.files)} of {len(part.samples)} images in {calibrated:.1f} s "
          f"({len(calibration.statistics)} weights), judged on the other {len(judged.samples)}")
    print(f"float program on the judged half: mean class accuracy {100 * base.mean_class_accuracy:.2f}%\n")
    print(f"{'candidate':<22}{'bytes':>11}{'drop':>7}{'worst':>7}{'disagree':>10}{'quantize s':>12}")
    grid = (mlquant.KMeansLUTQuantizer(nbits=4), mlquant.LinearQuantizer(nbits=4),
            mlquant.KMeansLUTQuantizer(nbits=4, granularity=mlquant.PerGroupedChannel(16)))
    for plain in grid:
        for quantizer in (plain, mlquant.DataAware(plain, calibration)):
            start = time.perf_counter()
            small = mlquant.quantize(program, quantizer)
            seconds = time.perf_counter() - start
            result = evaluator.evaluate(small, reference=base, name=quantizer.name)
            row = TOLERANCE.select(base, [Candidate(quantizer.name, small.size_bytes, result, quantizer.method,
                                                    quantizer.nbits)]).rows[0]
            print(f"{quantizer.name:<22}{small.size_bytes:>11,}{row.drop:>7.2f}{row.worst_drop:>7.1f}"
                  f"{100 * (1 - result.top1_agreement):>9.1f}%{seconds:>12.1f}  ({small.details()['deployment target']})")


if __name__ == "__main__":
    main()
