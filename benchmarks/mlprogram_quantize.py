"""ML Program k-means palettization: mlquant beside coremltools.optimize, in one run.

For every width (1, 2, 3, 4, 6, 8 bits) and granularity (one table per tensor, one per group
of 16 output channels), quantizes the same tensors with mlquant's ``KMeansLUTQuantizer`` (for
an ML Program: ``storage=MLPROGRAM_STORAGE``) and with the function
``coremltools.optimize.coreml.palettize_weights`` calls for every weight in ``kmeans`` mode
(``palettize_weights.grouped_channelwise_compress``, one worker, its default; scikit-learn's
OpenMP threads limited to ``--threads``, 1 by default, as mlquant uses one), in float32 and
in float16 (ML Programs store float16 weights; coremltools hands them to k-means as float16).

The tensors: about 25 MB of random convolution-shaped float32 weights (heavy-tailed, like
trained ones), plus the food model's weights (``../shared/food/food.mlmodel``, read with
``mlquant.load``). Tensors whose output channels 16 does not divide are skipped by both tools
for the grouped runs, as ``palettize_weights`` skips them.

Prints, per setting, both tools' seconds and total squared error, their ratios and the worst
tensor's error ratio; then the whole grid's time ratio (target: mlquant at least 3x faster).

Usage: python benchmarks/mlprogram_quantize.py [--scale 0.1] [--threads 1] [--dtypes float16]

coremltools clusters float16 tensors of 10,000 values or more with the ``kmeans1d`` it bundles
(the distinct values weighted by their counts, its fast path) and the others with scikit-learn;
the header says which it did.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from pathlib import Path

import numpy as np

import mlquant
from mlquant.formats.mlprogram.storage import MLPROGRAM_STORAGE

FOOD = Path(__file__).resolve().parents[2] / "shared" / "food" / "food.mlmodel"
WIDTHS = (1, 2, 3, 4, 6, 8)
GROUPS = (0, 16)  # 0: one table per tensor
#: Convolution-shaped tensors, about 25 MB in float32 together.
SHAPES = ((512, 512, 3, 3), (256, 256, 3, 3), (512, 256, 3, 3), (128, 128, 3, 3), (64, 64, 3, 3),
          (1024, 512, 1, 1), (256, 1024, 1, 1), (1000, 1024), (32, 3, 3, 3))


def tensors(scale: float) -> list[tuple[str, np.ndarray, int]]:
    """``(name, float32 values, output-channel axis)`` for the random set and the food model."""
    rng = np.random.default_rng(0)
    chosen = []
    for shape in SHAPES:
        first = max(16, round(shape[0] * scale / 16) * 16) if scale < 1 else shape[0]
        sized = (first, *shape[1:])
        values = (rng.standard_t(4, size=sized) * np.sqrt(2.0 / np.prod(sized[1:]))).astype(np.float32)
        chosen.append((f"random {sized}", values, 0))
    if FOOD.exists():
        model = mlquant.load(FOOD)
        for weight in model.weights:
            if not weight.is_bias and weight.channel_axis is not None and weight.count >= 2048:
                chosen.append((f"food {weight.name}", np.array(model.read(weight)), weight.channel_axis))
    return chosen


def run_mlquant(values: np.ndarray, axis: int, nbits: int, group: int) -> np.ndarray:
    granularity = mlquant.PerGroupedChannel(group) if group else mlquant.PerTensor()
    quantizer = mlquant.KMeansLUTQuantizer(nbits, granularity)
    return quantizer.quantize(values, channel_axis=axis, storage=MLPROGRAM_STORAGE).dequantize()


def run_coremltools(values: np.ndarray, axis: int, nbits: int, group: int) -> np.ndarray:
    from coremltools.optimize import _utils as utils
    from coremltools.optimize.coreml._quantization_passes import palettize_weights

    params = palettize_weights.grouped_channelwise_compress(values, "KMEANS", nbits, axis, group)
    return utils.lut_to_dense(params.indices, params.lut, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="shrink the random tensors' first axis (quick runs)")
    parser.add_argument("--threads", type=int, default=1,
                        help="OpenMP/BLAS threads for scikit-learn's KMeans (default 1: one worker each, "
                             "steady on a shared machine)")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float16"], choices=["float32", "float16"],
                        help="weight types to run (default both)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    import coremltools  # noqa: F401  (import before timing)
    from coremltools._deps import _HAS_KMEANS1D

    if _HAS_KMEANS1D:
        kmeans1d_note = ("coremltools clusters float16 tensors of >= 10,000 values with its bundled kmeans1d "
                         "(distinct values weighted by their counts), the others with scikit-learn KMeans")
    else:
        kmeans1d_note = "coremltools clusters every tensor with scikit-learn KMeans (its kmeans1d is missing)"
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(args.threads)
    threads = max((pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"), default=1)
    chosen = tensors(args.scale)
    megabytes = sum(v.nbytes for _, v, _ in chosen) / 1e6
    print(f"{len(chosen)} tensors, {megabytes:.1f} MB in float32 ({sum(1 for n, _, _ in chosen if n.startswith('food'))} from "
          f"the food model); workers: mlquant 1 process, 1 thread; coremltools 1 process (num_kmeans_workers default), its "
          f"scikit-learn KMeans using {threads} OpenMP threads;\n{kmeans1d_note}\n")
    print(f"{'dtype':<8}{'nbits':>5}{'tables':>9}{'tensors':>8}{'mlquant s':>11}{'ct s':>9}{'speed-up':>9}"
          f"{'mlquant SSE':>13}{'ct SSE':>12}{'ratio':>7}{'worst':>7}")
    totals = {"mlquant": 0.0, "coremltools": 0.0}
    for dtype in (np.dtype(name).type for name in args.dtypes):
        for group in GROUPS:
            for nbits in WIDTHS:
                seconds = {"mlquant": 0.0, "coremltools": 0.0}
                errors: dict[str, list[float]] = {"mlquant": [], "coremltools": []}
                used = 0
                for _, values, axis in chosen:
                    if group and values.shape[axis] % group:
                        continue
                    used += 1
                    typed = values.astype(dtype)
                    exact = typed.astype(np.float64)
                    for tool, run in (("mlquant", run_mlquant), ("coremltools", run_coremltools)):
                        start = time.perf_counter()
                        restored = run(typed, axis, nbits, group)
                        seconds[tool] += time.perf_counter() - start
                        errors[tool].append(float(np.sum((restored.astype(np.float64) - exact) ** 2)))
                for tool in totals:
                    totals[tool] += seconds[tool]
                ours, theirs = sum(errors["mlquant"]), sum(errors["coremltools"])
                worst = max(m / c if c > 0 else (1.0 if m == 0 else float("inf"))
                            for m, c in zip(errors["mlquant"], errors["coremltools"]))
                label = f"g{group}" if group else "tensor"
                print(f"{np.dtype(dtype).name:<8}{nbits:>5}{label:>9}{used:>8}{seconds['mlquant']:>11.3f}"
                      f"{seconds['coremltools']:>9.3f}{seconds['coremltools'] / seconds['mlquant']:>8.1f}x"
                      f"{ours:>13.5g}{theirs:>12.5g}{ours / theirs:>7.3f}{worst:>7.3f}", flush=True)
    print(f"\nwhole k-means grid (6 widths x 2 granularities x {'/'.join(args.dtypes)}): mlquant {totals['mlquant']:.2f} s, "
          f"coremltools {totals['coremltools']:.2f} s, speed-up {totals['coremltools'] / totals['mlquant']:.1f}x (target 3x)")


if __name__ == "__main__":
    main()
