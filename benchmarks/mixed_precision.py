"""Mixed precision against the best uniform model, on the same validation images.

Splits the food model's 700 images into calibration and validation halves (stratified per
class, seed 0), evaluates the 27 uniform candidates of the default grid on the validation
half, finds the smallest that meets the tolerance there (mean drop 1 point, worst class 3
points), runs the mixed-precision search on the calibration half, evaluates its plan on the
validation half, and prints both sizes, both accuracies, the ratio and the search's time.

Floors (issue 5): the mixed model is at most 0.75x the size of that uniform model, meets the
same tolerance on the same validation images, and the search takes under 5 minutes.

Usage: python benchmarks/mixed_precision.py [model.mlmodel data_folder]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import mlquant
from mlquant.select import Candidate

FOOD = Path(__file__).resolve().parents[2] / "shared" / "food"
TOLERANCE = mlquant.Selector(max_mean_drop=1.0, max_class_drop=3.0)


def main() -> None:
    model_path = Path(sys.argv[1]) if len(sys.argv) > 2 else FOOD / "food.mlmodel"
    data = mlquant.ImageFolder(sys.argv[2] if len(sys.argv) > 2 else FOOD / "testing_data")
    model = mlquant.load(model_path)
    backend = mlquant.ReferenceBackend()
    _, validation = data.split(0.5, seed=0)
    held_out = mlquant.Evaluator(validation, backend=backend)
    base = held_out.evaluate(model, name="float")

    start = time.perf_counter()
    uniform = []
    for entry in mlquant.default_grid():
        small = mlquant.quantize(model, entry.quantizer)
        uniform.append(Candidate(entry.name, small.size_bytes, held_out.evaluate(small, reference=base, name=entry.name),
                                 entry.method, entry.nbits))
    best = TOLERANCE.select(base, uniform)
    uniform_seconds = time.perf_counter() - start

    plan = mlquant.search_mixed_precision(model, data, max_mean_drop=1.0, max_class_drop=3.0, seed=0, backend=backend)
    mixed = Candidate("mixed", plan.size_bytes, plan.validation, "mixed")
    verdict = TOLERANCE.select(plan.baseline_validation, [mixed])
    mixed_row = verdict.rows[0]

    print(f"model: {model_path} ({model.size_bytes:,} bytes); validation: {len(validation.samples)} images, "
          f"calibration: {len(data.samples) - len(validation.samples)} images")
    print(f"float model on validation: mean class accuracy {100 * base.mean_class_accuracy:.2f}%\n")
    print(f"{'model':<16}{'bytes':>12}{'accuracy':>10}{'drop':>7}{'worst':>7}  status")
    for row in best.rows:
        print(f"{row.candidate.name:<16}{row.candidate.size_bytes:>12,}{row.value:>10.2f}{row.drop:>7.2f}{row.worst_drop:>7.1f}  {row.status}")
    print(f"(uniform grid evaluated in {uniform_seconds:.0f} s)\n")
    if best.chosen is None:
        print(f"no uniform candidate meets the tolerance on validation: {best.reason}")
        return
    chosen = next(r for r in best.rows if r.status == "chosen")
    print(f"smallest uniform model within tolerance: {chosen.candidate.name}, {chosen.candidate.size_bytes:,} bytes, "
          f"accuracy {chosen.value:.2f}% (drop {chosen.drop:.2f}, worst class {chosen.worst_drop:.1f})")
    print(f"mixed precision: {plan.size_bytes:,} bytes, validation accuracy {mixed_row.value:.2f}% "
          f"(drop {mixed_row.drop:.2f}, worst class {mixed_row.worst_drop:.1f}), "
          f"{'meets' if verdict.chosen else 'MISSES'} the tolerance on validation; calibration accuracy "
          f"{100 * plan.calibration.mean_class_accuracy:.2f}% vs float {100 * plan.baseline_calibration.mean_class_accuracy:.2f}%")
    print(f"size ratio mixed / uniform: {plan.size_bytes / chosen.candidate.size_bytes:.3f} (floor 0.75)")
    print(f"search time: {plan.seconds:.1f} s (floor 300 s), {plan.evaluations} plans verified")
    print(f"plan: {plan.describe()}")


if __name__ == "__main__":
    main()
