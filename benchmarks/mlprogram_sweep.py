"""The food network in both formats, side by side: the same sweep on the .mlmodel and on the .mlpackage.

Converts ``../shared/food/food.mlmodel`` to ML Programs with ``mlquant convert`` (float32 and
float16 compute), then, each as a separate ``mlquant`` process as a user would run it (no cache):

1. ``mlquant evaluate`` of the float models: per-class accuracy of the .mlmodel, the float32
   program (must be identical: the same prediction on every image) and the float16 program
   (must be within one image per class);
2. ``mlquant sweep`` of the .mlmodel and of the float32 .mlpackage on one grid both formats
   store (k-means and linear look-up tables at 1, 2, 4, 6, 8 bits, and float16), and each
   format's default grid.

Floor (issue 11): the ML Program sweep takes no more than 1.3x the .mlmodel sweep's time.

Usage: python benchmarks/mlprogram_sweep.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FOOD = Path(__file__).resolve().parents[2] / "shared" / "food"
COMMON_GRID = ["--methods", "kmeans_lut,linear_lut", "--nbits", "1,2,4,6,8,16"]


def mlquant(*arguments: str) -> tuple[float, dict | list]:
    """Run the command line; return (seconds, its JSON output)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mlquant", *arguments], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"mlquant {' '.join(arguments)} failed:\n{done.stderr}")
    return seconds, json.loads(done.stdout)


def main() -> None:
    data = str(FOOD / "testing_data")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        nn = str(FOOD / "food.mlmodel")
        p32, p16 = str(work / "food.mlpackage"), str(work / "food16.mlpackage")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mlquant", "convert", nn, p32], check=True, capture_output=True)
        convert_seconds = time.perf_counter() - start
        subprocess.run([sys.executable, "-m", "mlquant", "convert", nn, p16, "--precision", "float16"],
                       check=True, capture_output=True)

        rows = {}
        for name, path in (("food.mlmodel", nn), ("food.mlpackage float32", p32), ("food.mlpackage float16", p16)):
            seconds, payload = mlquant("evaluate", path, "--data", data, "--quiet", "--json")
            rows[name] = (seconds, payload[0] if isinstance(payload, list) else payload)
        print(f"convert food.mlmodel -> food.mlpackage: {convert_seconds:.1f} s\n")
        print(f"{'float model':<26}{'seconds':>8}{'mean':>8}  per class (correct of 100)")
        reference = rows["food.mlmodel"][1]["per_class"]
        for name, (seconds, result) in rows.items():
            per_class = result["per_class"]
            counts = " ".join(f"{round(per_class[c] * 100):>3}" for c in sorted(per_class))
            worst = max(abs(round(per_class[c] * 100) - round(reference[c] * 100)) for c in per_class)
            print(f"{name:<26}{seconds:>8.1f}{result['accuracy'] * 100:>7.1f}%  {counts}  (max {worst} image(s) "
                  "from the .mlmodel in a class)")

        print(f"\n{'sweep':<40}{'seconds':>8}{'candidates':>12}  chosen")
        timings = {}
        for label, path, grid in (
            ("food.mlmodel, common grid", nn, COMMON_GRID),
            ("food.mlpackage, common grid", p32, COMMON_GRID),
            ("food.mlmodel, default grid", nn, []),
            ("food.mlpackage, default grid", p32, []),
        ):
            out = str(work / label.replace(" ", "_").replace(",", ""))
            seconds, payload = mlquant("sweep", path, "--data", data, "--no-cache", "--quiet", "--json", "--out", out,
                                       *grid)
            assert isinstance(payload, dict)
            timings[label] = seconds
            print(f"{label:<40}{seconds:>8.1f}{len(payload['rows']):>12}  {payload['chosen']}")
        ratio = timings["food.mlpackage, common grid"] / timings["food.mlmodel, common grid"]
        print(f"\nML Program / NeuralNetwork sweep time on the common grid: {ratio:.2f}x (floor 1.3x)")


if __name__ == "__main__":
    main()
