"""Speed of the ML Program runtime against onnxruntime on ResNet-18- and MobileNetV2-sized networks.

Each network is built twice from the same random weights (``tests/_twin.py``): as a MIL program
converted by ``ct.convert`` (float32, iOS16, the default graph passes) and as an ONNX graph.
The script prints images per second of ``MILProgram(model, precision="float32")`` and of
onnxruntime at batch 32, and their ratio, the best of several alternating calls.

    python benchmarks/mlprogram_runtime.py [--batch 32] [--seconds 20] [--item-by-item] [--no-own-blas]

``--item-by-item`` also times the runtime forced to run one image at a time, the fallback for
programs whose operations mix the batch axis, to show what one pass over the batch gains.

Two kernels that decide the ratios follow, each engine on one thread: a convolution's matrix
product (ResNet-18's second-stage 3x3 convolution unfolded, 784 x 1152 by 1152 x 128) and two of
MobileNetV2's depthwise convolutions, each as a one-operation program against one ONNX node.
When the environment sets ``OPENBLAS_CORETYPE`` (which forces numpy's OpenBLAS onto other
kernels than it would pick for this CPU; onnxruntime does not read it), the whole benchmark runs
a second time without it, in the same run, unless ``--no-own-blas``.
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

from _timing import best_rates, blas, with_own_blas_kernels  # noqa: E402

from mlquant.runtime import MILProgram  # noqa: E402
from tests import _mil, _networks, _twin  # noqa: E402
from tests._runtime_onnx import session  # noqa: E402

#: ``(input channels, output channels, groups, size, stride)`` of the 3x3 convolutions timed one by
#: one: ResNet-18's second-stage convolution and two of MobileNetV2's depthwise layers.
LAYERS = ((128, 128, 1, 28, 1), (96, 96, 96, 112, 2), (144, 144, 144, 56, 1))

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


def one_node(op: str, x: np.ndarray, constant: np.ndarray, **attributes) -> object:
    """A one-thread onnxruntime session of one node ``op(x, constant)``."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node(op, ["x", "c"], ["y"], **attributes)],
        op,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(constant, "c")],
    )
    return session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]), threads=1)


def conv_rates(
    cin: int, cout: int, groups: int, size: int, stride: int, seconds: float, folder: Path
) -> None:
    """Print both engines' rate on one 3x3 convolution (one image, one thread each).

    A dense convolution also gets the rate of its im2col matrix product alone (numpy's BLAS on
    the unfolded input): the part of the runtime's time no other numpy code can shorten.
    """
    from threadpoolctl import threadpool_limits

    depthwise = groups > 1
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, cin, size, size), dtype=np.float32)
    w = rng.standard_normal((cout, cin // groups, 3, 3), dtype=np.float32)
    options = {"strides": [stride] * 2, "pad_type": "custom", "pad": [1, 1, 1, 1], "groups": groups}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _mil.one_op(folder, lambda mb, v: mb.conv(x=v, weight=w, **options), [x])
    program = MILProgram(model, precision="float32")  # one image: one chunk, one thread
    feed = program.input_names[0]
    onnx = one_node("Conv", x, w, strides=[stride] * 2, pads=[1] * 4, group=groups)
    engines = {"runtime": lambda: program.run({feed: x}), "onnxruntime": lambda: onnx.run(None, {"x": x})}
    out_size = (size - 1) // stride + 1
    macs = out_size**2 * cout * 9 * cin // groups
    if not depthwise:
        unfolded = rng.standard_normal((out_size**2, 9 * cin), dtype=np.float32)
        matrix = rng.standard_normal((9 * cin, cout), dtype=np.float32)
        product = np.empty((out_size**2, cout), dtype=np.float32)
        engines["its matrix product alone"] = lambda: np.matmul(unfolded, matrix, out=product)
    with threadpool_limits(1):
        rates = {engine: rate * macs / 1e9 for engine, rate in best_rates(engines, 1, seconds).items()}
    kind = "depthwise" if depthwise else "dense"
    line = f"  {kind} 3x3, {cin}->{cout} channels, {size}x{size}, stride {stride}, GMAC/s: " + ", ".join(
        f"{engine} {rate:.1f}" for engine, rate in rates.items()
    )
    ratios = ", ".join(
        f"{rate / rates['onnxruntime']:.2f}" for engine, rate in rates.items() if engine != "onnxruntime"
    )
    print(f"{line}; ratio to onnxruntime {ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--item-by-item", action="store_true")
    parser.add_argument(
        "--no-own-blas", action="store_true", help="do not run again without OPENBLAS_CORETYPE"
    )
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}")
    print(blas())
    with tempfile.TemporaryDirectory() as folder:
        for seed, (name, net) in enumerate(NETWORKS.items()):
            measure(name, net, seed, args, Path(folder))
        print("Kernels, one thread each (onnxruntime: intra_op_num_threads=1):")
        for layer in LAYERS:
            conv_rates(*layer, args.seconds / 4, Path(folder))
    if not args.no_own_blas:
        with_own_blas_kernels(sys.argv[1:])


if __name__ == "__main__":
    main()
