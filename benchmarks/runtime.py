"""Speed of the reference runtime against onnxruntime on the food model.

The food model's Core ML spec is translated layer by layer into an ONNX graph (the same
translation the tests check the runtime against), both engines run the same random images,
and the script prints images per second for each and their ratio at batch 1 and batch 32,
then the time of one pass over 700 images in batches of 32.

    python benchmarks/runtime.py [path/to/food.mlmodel]

Throughput is the best of many calls, the two engines' calls alternating after a warm-up, so
background load on a shared machine distorts the ratio as little as possible. The 700-image
passes run once each, one engine after the other, so they are more exposed to such load.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _timing import best_rates, blas  # noqa: E402

import mlquant  # noqa: E402
from mlquant.runtime import Network  # noqa: E402
from tests._runtime_onnx import food_to_onnx, session  # noqa: E402

DEFAULT_MODEL = ROOT.parent / "shared" / "food" / "food.mlmodel"
PASS_IMAGES = 700
PASS_BATCH = 32


def compare(batch: int, reference: Network, onnx: object, seconds: float) -> tuple[float, float]:
    """Images per second of both engines at ``batch``: the best call of each, calls alternating.

    Alternating single calls lets both engines see the same background load (with a pause
    between, as onnxruntime's threads spin a while after each call); the best call is the least
    disturbed one.
    """
    x = np.random.default_rng(batch).uniform(0, 255, (batch, 3, 227, 227)).astype(np.float32)
    engines = {
        "reference": lambda: reference.run({"data": x}),
        "onnxruntime": lambda: onnx.run(None, {"data": x}),
    }
    rates = best_rates(engines, batch, seconds)
    return rates["reference"], rates["onnxruntime"]


def one_pass(run: Callable[[np.ndarray], object]) -> float:
    """Seconds for one forward pass over ``PASS_IMAGES`` random images in batches of ``PASS_BATCH``."""
    images = np.random.default_rng(700).uniform(0, 255, (PASS_IMAGES, 3, 227, 227)).astype(np.float32)
    start = time.perf_counter()
    for first in range(0, PASS_IMAGES, PASS_BATCH):
        run(images[first : first + PASS_BATCH])
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    """Run the benchmark and print its report."""
    import onnxruntime

    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_MODEL
    model = mlquant.load(path)
    reference = Network(model)
    onnx = session(food_to_onnx(model.spec))
    print(f"model: {path} ({len(model.weights)} weight tensors, {len(model.class_labels or ())} classes)")
    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}, "
        f"onnxruntime {onnxruntime.__version__} (default session options)"
    )
    print(blas())

    x = np.random.default_rng(0).uniform(0, 255, (PASS_BATCH, 3, 227, 227)).astype(np.float32)
    ours, theirs = reference.run({"data": x})["prob"], onnx.run(None, {"data": x})[0]
    same = int((ours.argmax(axis=1) == theirs.argmax(axis=1)).sum())
    print(
        f"agreement on {PASS_BATCH} random images: max |p_reference - p_onnxruntime| = "
        f"{np.abs(ours - theirs).max():.2e}, same top-1 for {same}/{PASS_BATCH}"
    )

    for batch, seconds in ((1, 4.0), (32, 12.0)):
        ours_rate, theirs_rate = compare(batch, reference, onnx, seconds)
        print(
            f"batch {batch:2d}: reference {ours_rate:7.1f} images/s   onnxruntime {theirs_rate:7.1f} images/s"
            f"   ratio {ours_rate / theirs_rate:.2f}"
        )

    ours_time = one_pass(lambda images: reference.run({"data": images}))
    theirs_time = one_pass(lambda images: onnx.run(None, {"data": images}))
    print(
        f"one pass over {PASS_IMAGES} images (batches of {PASS_BATCH}): reference {ours_time:.2f} s, "
        f"onnxruntime {theirs_time:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
