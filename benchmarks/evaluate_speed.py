"""End-to-end speed of ``Evaluator.evaluate`` with the reference runtime against onnxruntime.

The user's path: the food model evaluated on the 700 food test images through
``Evaluator(data, backend=ReferenceBackend()).evaluate(model)``, the images already decoded
(the evaluator keeps them), so the time is the runtime's plus the evaluator's own work (per-batch
staging, ranking the scores). onnxruntime runs the same network (the food spec translated to
ONNX, ``tests/_runtime_onnx.py``) over the same decoded images in the same batches of 32, each
batch converted to float32 as the reference backend does. The ratio is onnxruntime's time over
the evaluator's (the floor is 0.6).

    python benchmarks/evaluate_speed.py [--repeats 5] [--data ../shared/food/testing_data] [--profile]

Both engines' passes alternate, with a pause between (onnxruntime's threads spin a while after
each call), and the best of ``--repeats`` passes of each is reported, so background load on a
shared machine distorts the ratio as little as possible. ``--profile`` also prints the time of
one evaluation split by layer type and what lies outside the layers.
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _timing import blas  # noqa: E402

import mlquant  # noqa: E402
from mlquant.evaluate import Evaluator, ReferenceBackend  # noqa: E402
from tests._runtime_onnx import food_to_onnx, session  # noqa: E402

FOOD = ROOT.parent / "shared" / "food"
BATCH = 32


def onnx_pass(onnx: object, images: np.ndarray) -> float:
    """Seconds for onnxruntime over ``images`` in batches of ``BATCH`` (float32 staging included)."""
    start = time.perf_counter()
    for first in range(0, len(images), BATCH):
        onnx.run(None, {"data": images[first : first + BATCH].astype(np.float32)})
    return time.perf_counter() - start


def evaluate_pass(evaluator: Evaluator, model: mlquant.Model) -> float:
    """Seconds for one ``evaluator.evaluate(model)`` (inputs already decoded)."""
    start = time.perf_counter()
    evaluator.evaluate(model)
    return time.perf_counter() - start


def profile(evaluator: Evaluator, model: mlquant.Model) -> None:
    """Print one evaluation's time by layer type (summed over threads) and its wall time."""
    backend = evaluator.backend
    network = backend._executor(model)  # private: benchmark only
    spent: dict[str, float] = collections.defaultdict(float)
    steps = network._steps
    originals = [step.kernel for step in steps]

    def timed(kind, kernel):
        def run(args):
            start = time.perf_counter()
            result = kernel(args)
            spent[kind] += time.perf_counter() - start
            return result

        return run

    for step in steps:
        object.__setattr__(step, "kernel", timed(step.type, step.kernel))
    try:
        wall = evaluate_pass(evaluator, model)
    finally:
        for step, kernel in zip(steps, originals, strict=True):
            object.__setattr__(step, "kernel", kernel)
    total = sum(spent.values())
    print(f"profile: one evaluation {wall:.2f} s wall; layer kernels {total:.2f} s summed over threads")
    for kind, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  {kind:16s} {seconds:6.2f} s  {seconds / total:5.1%}")


def main() -> int:
    """Run the benchmark and print its report."""
    import onnxruntime

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=FOOD / "food.mlmodel")
    parser.add_argument("--data", type=Path, default=FOOD / "testing_data")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    model = mlquant.load(args.model)
    evaluator = Evaluator(args.data, backend=ReferenceBackend(), batch_size=BATCH)
    images = evaluator.inputs(model).inputs
    onnx = session(food_to_onnx(model.spec))
    load = os.getloadavg()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}, "
        f"onnxruntime {onnxruntime.__version__}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(blas())
    print(f"{len(images)} decoded images {images.shape[1:]} {images.dtype}, batches of {BATCH}")
    base = evaluator.evaluate(model)
    print(f"evaluation: {base}")

    onnx_pass(onnx, images[:BATCH])  # warm up
    ours, theirs = [], []
    for _ in range(args.repeats):
        time.sleep(0.1)
        ours.append(evaluate_pass(evaluator, model))
        time.sleep(0.1)
        theirs.append(onnx_pass(onnx, images))
    print("evaluate (reference): " + " ".join(f"{t:.2f}" for t in ours) + f" s, best {min(ours):.2f} s")
    print("onnxruntime:          " + " ".join(f"{t:.2f}" for t in theirs) + f" s, best {min(theirs):.2f} s")
    print(f"ratio onnxruntime / reference (best of {args.repeats}): {min(theirs) / min(ours):.2f} (floor 0.60)")
    if args.profile:
        profile(evaluator, model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
