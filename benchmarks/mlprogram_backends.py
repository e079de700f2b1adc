"""The food model as an ML Program: the reference runtime against its ONNX translation run by onnxruntime.

The food model is converted twice (``mlquant.convert``): to a float32 ML Program and to an fp16
one. Each runs through :class:`~mlquant.runtime.MILProgram` and through
:class:`~mlquant.runtime.onnx.OnnxProgram` on the 700 test images (or random 227 x 227 inputs),
in batches of 32. The script prints the seconds per pass over all images of each engine (the best
of ``--repeats`` passes), their ratio, and how often the two engines agree on the top-1 class:

* float32 program: ``MILProgram(precision="float32")`` and ``OnnxProgram(precision="float32")``;
* fp16 program: ``MILProgram(precision="program")`` and ``OnnxProgram(precision="model")``
  (every fp16 result rounded), and both engines' float32 precision.

    python benchmarks/mlprogram_backends.py [--random] [--batch 32] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mlquant  # noqa: E402
from mlquant.evaluate.signature import signature  # noqa: E402
from mlquant.runtime import MILProgram  # noqa: E402
from mlquant.runtime.onnx import OnnxProgram  # noqa: E402

FOOD = ROOT.parent / "shared" / "food"


def _pass(engine, pixels: np.ndarray, batch: int) -> np.ndarray:
    """The engine's probabilities for every image, run in batches."""
    feed = engine.input_names[0]
    return np.concatenate([engine.run({feed: pixels[i : i + batch]})["prob"] for i in range(0, len(pixels), batch)])


def _best(run: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    """The fastest of ``repeats`` passes (after one warm-up call) and the pass's result."""
    result = run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def compare(title: str, model, pairs: list[tuple[str, str]], pixels: np.ndarray, args: argparse.Namespace) -> None:
    """Time each (MILProgram precision, OnnxProgram precision) pair on one model and print the comparison."""
    print(title)
    for reference_precision, onnx_precision in pairs:
        start = time.perf_counter()
        onnx = OnnxProgram(model, precision=onnx_precision, threads=args.threads)  # type: ignore[arg-type]
        built = time.perf_counter() - start
        reference = MILProgram(model, precision=reference_precision)  # type: ignore[arg-type]
        slow, want = _best(lambda r=reference: _pass(r, pixels, args.batch), args.repeats)
        fast, got = _best(lambda o=onnx: _pass(o, pixels, args.batch), args.repeats)
        agree = float(np.mean(got.argmax(axis=1) == want.argmax(axis=1)))
        error = float(np.abs(got - want).max())
        print(
            f"  MILProgram({reference_precision!r}) {slow:7.2f} s | OnnxProgram({onnx_precision!r}) {fast:7.2f} s"
            f" (built in {built:.2f} s) | ratio {slow / fast:5.1f}x | top-1 agreement {agree:.2%}"
            f" | max |prob difference| {error:.1e}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", action="store_true", help="random 227 x 227 inputs instead of the test images")
    parser.add_argument("--images", type=int, default=700)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads per operator")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}")
    food = mlquant.load(FOOD / "food.mlmodel")
    if args.random:
        pixels = np.random.default_rng(0).integers(0, 256, (args.images, 3, 227, 227)).astype(np.float32)
    else:  # decoded as the evaluator decodes them for the model
        decoded = mlquant.ImageFolder(FOOD / "testing_data").batch(signature(food).input)
        pixels = decoded.inputs[: args.images].astype(np.float32)
    print(f"{len(pixels)} {'random inputs' if args.random else 'test images'}, batches of {args.batch}")
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = mlquant.convert(food, Path(folder) / "food.mlpackage")
        half = mlquant.convert(food, Path(folder) / "food16.mlpackage", precision="float16")
        compare("float32 ML Program", program, [("float32", "float32")], pixels, args)
        compare("fp16 ML Program", half, [("program", "model"), ("float32", "float32")], pixels, args)


if __name__ == "__main__":
    main()
