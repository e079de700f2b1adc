"""How a sweep's time grows with images, candidates and workers (docs/scaling.md).

Sweeps the food model (``../shared/food``) with the reference backend, nothing cached or
written, over a grid of linear quantizers (cheap to make, so the time is evaluation's),
varying one thing at a time around a middle point of 350 images, 4 candidates, 1 worker:

* images: 100, 350, 700 (a stratified prefix of the test images, as symlinks in a temp folder);
* candidates: 1, 4, 8 (linear at 8, 7 ... bits);
* workers: none (the serial sweep), 1 and 2 local processes (``executor=N``).

Each run's wall time is split, from the sweep's progress reports, into quantizing, the float
model's evaluation and the candidates'. A least-squares fit of the runs on workers gives

    time = quantizing + startup + per_candidate * candidates + per_image * images * (candidates + 1) / workers

fitted on the one-worker runs (a worker here is one process; the reference runtime in it runs a
batch's images on both cores), and the fit predicts a sweep of the default grid (25 candidates)
over 50,000 images on 1, 8 and 64 such workers. The two-worker run shows what a second process
adds on this machine, which has two cores only.

Usage: python benchmarks/scaling.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import mlquant
from mlquant.evaluate import ImageFolder, ReferenceBackend

FOOD = Path(__file__).resolve().parents[2] / "shared" / "food"
MIDDLE = (350, 4, 1)
RUNS = sorted({(n, MIDDLE[1], MIDDLE[2]) for n in (100, 350, 700)}
              | {(MIDDLE[0], c, MIDDLE[2]) for c in (1, 4, 8)}
              | {(MIDDLE[0], MIDDLE[1], w) for w in (0, 1, 2)})
PREDICT = (50_000, 25, (1, 8, 64))


def subset(source: ImageFolder, count: int, folder: Path) -> Path:
    """The first ``count`` inputs of ``source`` (a stratified sample) as symlinks under ``folder``."""
    root = folder / f"food{count}"
    for sample in source.samples[:count]:
        link = root / sample.path.relative_to(source.root)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(sample.path)
    return root


def timed_sweep(model: mlquant.Model, data: Path, candidates: int, workers: int) -> dict[str, float]:
    """One sweep's wall time, and its parts as the progress reports mark them."""
    marks: dict[str, float] = {}

    def progress(label: str, done: int, total: int) -> None:
        now = time.perf_counter()
        marks.setdefault(f"{label} first", now)
        marks[f"{label} last"] = now

    grid = [mlquant.LinearQuantizer(nbits=n) for n in range(8, 8 - candidates, -1)]
    start = time.perf_counter()
    mlquant.sweep(model, data, grid=grid, backend=ReferenceBackend(), cache=False, progress=progress,
                  executor=workers or None)
    end = time.perf_counter()
    quantized = marks["quantizing last"]
    return {"total": end - start, "quantize": quantized - start,
            "float": marks["candidates first"] - quantized, "candidates": end - marks["candidates first"]}


def fit(rows: list[tuple[int, int, int, dict[str, float]]]) -> np.ndarray:
    """Non-negative least squares of the one-worker runs' time but quantizing on (1, candidates, images * (candidates + 1))."""
    from scipy.optimize import nnls

    used = [row for row in rows if row[2] == 1]
    design = np.array([[1.0, c, n * (c + 1)] for n, c, _, _ in used])
    seconds = np.array([t["total"] - t["quantize"] for *_, t in used])
    return nnls(design, seconds)[0]


def default_grid_quantizing(model: mlquant.Model) -> float:
    """Seconds to make the default grid's candidates (the driver does this alone, before any evaluation)."""
    from mlquant.workflow.grid import default_grid

    start = time.perf_counter()
    for entry in default_grid(model=model):
        mlquant.quantize(model, entry.quantizer)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each point; the fastest is kept")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    model = mlquant.load(FOOD / "food.mlmodel")
    source = ImageFolder(FOOD / "testing_data")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        sets = {n: subset(source, n, Path(folder)) for n in {r[0] for r in RUNS}}
        print(f"{'images':>6} {'cands':>5} {'workers':>7} {'total s':>8} {'quantize':>8} {'float':>7} "
              f"{'cands s':>8} {'ms/image/model':>15}")
        for images, candidates, workers in RUNS:
            best = min((timed_sweep(model, sets[images], candidates, workers) for _ in range(args.repeat)),
                       key=lambda t: t["total"])
            rows.append((images, candidates, workers, best))
            per_image = 1000 * (best["float"] + best["candidates"]) / (images * (candidates + 1))
            print(f"{images:>6} {candidates:>5} {workers or 'serial':>7} {best['total']:>8.2f} {best['quantize']:>8.2f} "
                  f"{best['float']:>7.2f} {best['candidates']:>8.2f} {per_image:>15.2f}", flush=True)
    startup, per_candidate, per_image = fit(rows)
    print(f"\nfit over the one-worker runs: time = quantizing + {startup:.2f} s + {per_candidate:.3f} s x candidates "
          f"+ {1000 * per_image:.2f} ms x images x (candidates + 1) / workers")
    quantizing = default_grid_quantizing(model)
    images, candidates, workers = PREDICT
    print(f"quantizing the default grid ({candidates} candidates) on the driver: {quantizing:.1f} s")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for w in workers:
        seconds = quantizing + startup + per_candidate * candidates + per_image * images * (candidates + 1) / w
        print(f"predicted: {images:,} images, {candidates} candidates, {w} workers: {seconds / 60:.1f} min")


if __name__ == "__main__":
    main()
