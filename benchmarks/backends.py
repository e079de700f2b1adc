"""The reference backend against the onnxruntime backend on the food model, side by side.

    python benchmarks/backends.py [path/to/food folder]    # default: ../shared/food

Four measurements, each printed with its ratio and the issue's floor:

(a) ``Evaluator.evaluate`` of the float model on the 700 images, inputs decoded beforehand
    (best of 3 per backend, calls alternating): onnxruntime should be at least 2x faster;
(b) onnxruntime alone on the same translated graph (``session.run`` on 700 inputs in batches of
    32) against the reference evaluation: the reference runtime's speed as a share of
    onnxruntime's (floor 0.6);
(c) the full food sweep, ``mlquant.sweep(..., cache=False)``, and the same with ``fast=True``,
    with each backend (floors for onnxruntime: under 60 s, and under 30 s with ``fast``);
(d) every candidate of the full sweeps: per-class accuracy identical between the backends, and
    top-1 agreement between them of at least 99.9%.

The machine's load average is printed before and after: other work on a shared machine slows
whichever backend runs beside it.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mlquant  # noqa: E402
from mlquant.runtime.onnx import OnnxProgram  # noqa: E402

DEFAULT_FOOD = ROOT.parent / "shared" / "food"
BATCH = 32
REPEATS = 3


def best_of(runs: dict[str, Callable[[], object]], repeats: int = REPEATS) -> dict[str, float]:
    """Each callable's best time over ``repeats`` calls, calls alternating (after one warm-up call each)."""
    for run in runs.values():
        run()
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, run in runs.items():
            time.sleep(0.1)  # let the other engine's worker threads go quiet
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def timed_sweep(model: Path, data: Path, backend: mlquant.Backend, fast: bool) -> tuple[float, mlquant.SweepResult]:
    """Wall time and result of one uncached sweep into a fresh folder."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = mlquant.sweep(model, data, out_dir=out, cache=False, backend=backend, fast=fast)
        return time.perf_counter() - start, result


def main(argv: list[str]) -> int:
    """Run the four measurements and print the report."""
    import onnxruntime

    food = Path(argv[1]) if len(argv) > 1 else DEFAULT_FOOD
    model_path, data = food / "food.mlmodel", food / "testing_data"
    model = mlquant.load(model_path)
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}, "
          f"onnxruntime {onnxruntime.__version__}; load average {load()}")

    folder = mlquant.ImageFolder(data)
    reference, fast = mlquant.ReferenceBackend(), mlquant.OnnxRuntimeBackend()
    evaluators = {b.name: mlquant.Evaluator(folder, backend=b, batch_size=BATCH) for b in (reference, fast)}
    inputs = evaluators["reference"].inputs(model).inputs  # decoded once, shared by both evaluators
    print(f"(a) Evaluator.evaluate, float model, {len(inputs)} decoded images, best of {REPEATS}:")
    times = best_of({name: (lambda e=e: e.evaluate(model)) for name, e in evaluators.items()})
    ratio = times["reference"] / times["onnxruntime"]
    print(f"    reference {times['reference']:.2f} s, onnxruntime {times['onnxruntime']:.2f} s: "
          f"onnxruntime {ratio:.2f}x faster (floor 2x) {'ok' if ratio >= 2 else 'BELOW FLOOR'}")

    program = OnnxProgram(model)
    session = program._session
    feeds = np.ascontiguousarray(inputs, dtype=np.float32)

    def raw() -> None:
        for start in range(0, len(feeds), BATCH):
            session.run(None, {"data": feeds[start : start + BATCH]})

    raw_time = best_of({"raw": raw})["raw"]
    share = raw_time / times["reference"]
    print(f"(b) onnxruntime session.run alone, same graph, {len(feeds)} inputs in batches of {BATCH}: "
          f"{raw_time:.2f} s; reference runtime at {share:.2f} of onnxruntime end to end (floor 0.6) "
          f"{'ok' if share >= 0.6 else 'BELOW FLOOR'}")

    print(f"(c) full food sweep, cache off (load average {load()}):")
    sweeps = {}
    for fast_mode in (False, True):
        for backend in (reference, mlquant.OnnxRuntimeBackend()):
            seconds, result = timed_sweep(model_path, data, backend, fast_mode)
            sweeps[backend.name, fast_mode] = result
            floor = (30 if fast_mode else 60) if backend.name == "onnxruntime" else None
            verdict = "" if floor is None else f" (floor < {floor} s) {'ok' if seconds < floor else 'ABOVE FLOOR'}"
            print(f"    {'--fast' if fast_mode else 'full  '} {backend.name:11s} {seconds:6.1f} s, "
                  f"{len(result.candidates)} candidates, chose {result.selection.chosen.name if result.selection.chosen else None}"
                  f"{verdict}")

    print("(d) every candidate of the full sweep, onnxruntime against reference:")
    base, other = sweeps["reference", False], sweeps["onnxruntime", False]
    pairs = [(base.baseline, other.baseline)]
    pairs += [(a.evaluation, b.evaluation) for a, b in zip(base.candidates, other.candidates, strict=True)]
    failures = 0
    for a, b in pairs:
        if a is None or b is None:
            continue
        agreement = float(np.mean(a.predictions == b.predictions))
        same = a.per_class == b.per_class
        ok = same and agreement >= 0.999
        failures += not ok
        print(f"    {a.name:24s} per-class accuracy {'identical' if same else 'DIFFERENT'}, "
              f"top-1 agreement {agreement:.2%} {'ok' if ok else 'FAIL'}")
    print(f"load average at the end {load()}; {len(pairs)} models compared, {failures} failing")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
