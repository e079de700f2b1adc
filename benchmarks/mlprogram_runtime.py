"""Speed of the ML Program runtime against onnxruntime on ResNet-18- and MobileNetV2-sized networks.

Each network is built twice from the same random weights (``tests/_twin.py``): as a MIL program
converted by ``ct.convert`` (float32, iOS16, the default graph passes) and as an ONNX graph.
The script prints images per second of ``MILProgram(model, precision="float32")`` and of
onnxruntime at batch 32, and their ratio, the best of several alternating calls.

    python benchmarks/mlprogram_runtime.py [--batch 32] [--seconds 20] [--item-by-item]

``--item-by-item`` also times the runtime forced to run one image at a time, the fallback for
programs whose operations mix the batch axis, to show what one pass over the batch gains.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _timing import best_rates, blas  # noqa: E402

from mlquant.runtime import MILProgram  # noqa: E402
from tests import _mil, _networks, _twin  # noqa: E402
from tests._runtime_onnx import session  # noqa: E402

NETWORKS = {"ResNet-18": _networks.resnet18, "MobileNetV2": _networks.mobilenet_v2}
SHAPE = (1, 3, 224, 224)


def measure(name: str, net, seed: int, args: argparse.Namespace, folder: Path) -> None:
    """Convert one network, check both engines agree, print their throughput and ratio."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _mil.convert(_twin.mil_program(net, SHAPE, seed), folder)
    onnx = session(_twin.onnx_model(net, SHAPE, seed))
    program = MILProgram(model, precision="float32")
    feed = program.input_names[0]
    x = np.random.default_rng(seed).standard_normal((args.batch, *SHAPE[1:])).astype(np.float32)
    (mine,) = program.run({feed: x}).values()
    (want,) = onnx.run(["y"], {"x": x})
    error = np.abs(mine - want).max() / np.abs(want).max()
    engines = {"runtime": lambda: program.run({feed: x}), "onnxruntime": lambda: onnx.run(None, {"x": x})}
    if args.item_by_item:
        single = MILProgram(model, precision="float32")
        single._batched = False  # the item-by-item fallback, forced (private: benchmark only)
        engines["runtime, item by item"] = lambda: single.run({feed: x})
    rates = best_rates(engines, args.batch, args.seconds)
    function = model.program.functions[model.function_name]
    count = len(function.block_specializations[function.opset].operations)
    print(f"{name}: {count} operations ({len(program._steps)} steps), max relative difference {error:.1e}")
    for engine, rate in rates.items():
        print(f"  {engine:24s} {rate:8.1f} images/s")
    print(f"  ratio runtime / onnxruntime: {rates['runtime'] / rates['onnxruntime']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--item-by-item", action="store_true")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}")
    print(blas())
    with tempfile.TemporaryDirectory() as folder:
        for seed, (name, net) in enumerate(NETWORKS.items()):
            measure(name, net, seed, args, Path(folder))


if __name__ == "__main__":
    main()
