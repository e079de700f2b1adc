"""The 27-model quantization grid: mlquant beside coremltools, in one run.

Quantizes the food model (``../shared/food/food.mlmodel``) with linear, linear look-up table
and k-means look-up table at 16, 8, 7 ... 1 bits, with mlquant and with coremltools'
``quantize_weights`` machinery, writes every model to disk, and prints per-model times,
weight errors, sizes and their ratios.

coremltools 9's ``kmeans_lut`` mode crashes on current numpy and protobuf (it passes a 2-D
table to the protobuf field), so for k-means the reference is the call it makes,
``sklearn.cluster.KMeans(n_clusters=2**nbits, init="k-means++", tol=1e-2, n_init=1,
random_state=0)``, on every weight tensor (weights and biases), timed and scored the same way.

Floors (issue 2): the 18 linear and linear-LUT models at least 20x faster than coremltools in
total; k-means: total squared error no larger than scikit-learn's at every width, no tensor
more than 2% worse, the k-means grid at least 5x faster; the whole 27-model grid written to
disk in under 10 seconds.

Usage: python benchmarks/quantize_grid.py [path/to/model.mlmodel]
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import mlquant
from mlquant import _coreml
from mlquant.formats.neuralnetwork import layout as _nn
from mlquant.formats.neuralnetwork.codec import decode
from mlquant.quantize import from_name

FOOD = Path(__file__).resolve().parents[2] / "shared" / "food" / "food.mlmodel"
WIDTHS = (16, 8, 7, 6, 5, 4, 3, 2, 1)


def squared_error(reference: mlquant.Model, spec) -> float:  # type: ignore[no-untyped-def]
    """Total squared error of the non-bias weights of ``spec`` against ``reference``."""
    total = 0.0
    for weight, slot in zip(reference.weights, _nn.slots(spec)):
        if not weight.is_bias:
            values = decode(slot.params, slot.shape, slot.channel_axis, slot.where)
            total += float(np.sum((values.astype(np.float64) - reference.read(weight)) ** 2))
    return total


def coremltools_grid(model: mlquant.Model, out: Path) -> dict[tuple[str, int], tuple[float, int, float]]:
    """coremltools' linear and linear-LUT models: (seconds, bytes, squared error) each."""
    ct = _coreml.coremltools()
    from coremltools.models.neural_network.quantization_utils import _quantize_spec_weights

    modes = {"linear": ct.models._QUANTIZATION_MODE_LINEAR_QUANTIZATION,
             "linear_lut": ct.models._QUANTIZATION_MODE_LOOKUP_TABLE_LINEAR}
    results = {}
    for method, mode in modes.items():
        for nbits in WIDTHS:
            spec = type(model.spec).FromString(model.to_bytes())
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                quantized = _quantize_spec_weights(spec, nbits, mode)
            ct.utils.save_spec(quantized, str(out / f"ct_{method}_{nbits}.mlmodel"))
            seconds = time.perf_counter() - start
            results[(method, nbits)] = (seconds, quantized.ByteSize(), squared_error(model, quantized))
    return results


def sklearn_kmeans(model: mlquant.Model) -> dict[int, tuple[float, list[float]]]:
    """The k-means call coremltools makes, per width: (seconds, squared error per tensor)."""
    from sklearn.cluster import KMeans

    results = {}
    for nbits in range(1, 9):
        errors = []
        start = time.perf_counter()
        for weight in model.weights:
            values = model.read(weight).reshape(-1, 1)
            fit = KMeans(min(2**nbits, len(values)), init="k-means++", tol=1e-2, n_init=1, random_state=0).fit(values)
            restored = fit.cluster_centers_.astype(np.float32)[fit.labels_]
            errors.append(float(np.sum((restored.astype(np.float64) - values) ** 2)))
        results[nbits] = (time.perf_counter() - start, errors)
    return results


def mlquant_kmeans(model: mlquant.Model) -> dict[int, tuple[float, list[float]]]:
    """mlquant's k-means on the same tensors, per width: (seconds, squared error per tensor)."""
    results = {}
    for nbits in range(1, 9):
        quantizer = mlquant.KMeansLUTQuantizer(nbits=nbits)
        errors = []
        start = time.perf_counter()
        for weight in model.weights:
            values = model.read(weight)
            restored = quantizer.quantize(values).dequantize()
            errors.append(float(np.sum((restored.astype(np.float64) - values) ** 2)))
        results[nbits] = (time.perf_counter() - start, errors)
    return results


def main() -> None:
    warnings.filterwarnings("ignore", message="Number of distinct clusters")  # scikit-learn on tiny biases
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else FOOD
    model = mlquant.load(path)
    print(f"model: {path} ({model.size_bytes:,} bytes, {len(model.weights)} weight tensors)\n")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        ours = {}
        grid_start = time.perf_counter()
        for method in ("linear", "linear_lut", "kmeans_lut"):
            for nbits in WIDTHS:
                start = time.perf_counter()
                small = mlquant.quantize(model, from_name(method, nbits))
                small.save(out / f"{method}_{nbits}.mlmodel")
                ours[(method, nbits)] = (time.perf_counter() - start, small.size_bytes, squared_error(model, small.spec))
        grid_seconds = time.perf_counter() - grid_start
        theirs = coremltools_grid(model, out)

    print("linear and linear look-up table: mlquant against coremltools quantize_weights")
    print(f"{'model':<16}{'mlquant s':>10}{'ct s':>9}{'speed-up':>9}{'mlquant B':>11}{'ct B':>10}{'size':>8}{'mlq err':>11}{'ct err':>11}")
    for key, (c_seconds, c_bytes, c_error) in theirs.items():
        o_seconds, o_bytes, o_error = ours[key]
        print(f"{key[0] + '_' + str(key[1]):<16}{o_seconds:>10.3f}{c_seconds:>9.3f}{c_seconds / o_seconds:>8.0f}x"
              f"{o_bytes:>11,}{c_bytes:>10,}{o_bytes / c_bytes:>8.3f}{o_error:>11.4g}{c_error:>11.4g}")
    total_ours = sum(ours[k][0] for k in theirs)
    total_theirs = sum(v[0] for v in theirs.values())
    worst_size = max(ours[k][1] / theirs[k][1] for k in theirs)
    print(f"18 linear/LUT models: mlquant {total_ours:.2f} s, coremltools {total_theirs:.2f} s, "
          f"speed-up {total_theirs / total_ours:.0f}x (floor 20x); largest size ratio {worst_size:.4f} (floor 1.02)\n")

    print("k-means look-up table: mlquant against scikit-learn's KMeans as coremltools calls it, all tensors")
    reference = sklearn_kmeans(model)
    mine = mlquant_kmeans(model)
    print(f"{'nbits':>5}{'mlquant s':>11}{'sklearn s':>11}{'speed-up':>10}{'mlquant SSE':>14}{'sklearn SSE':>14}{'ratio':>8}{'worst tensor':>14}")
    for nbits in range(1, 9):
        (m_seconds, m_errors), (s_seconds, s_errors) = mine[nbits], reference[nbits]
        worst = max(m / s if s > 0 else (1.0 if m == 0 else float("inf")) for m, s in zip(m_errors, s_errors))
        print(f"{nbits:>5}{m_seconds:>11.3f}{s_seconds:>11.3f}{s_seconds / m_seconds:>9.1f}x{sum(m_errors):>14.6g}"
              f"{sum(s_errors):>14.6g}{sum(m_errors) / sum(s_errors):>8.4f}{worst:>14.4f}")
    m_total = sum(v[0] for v in mine.values())
    s_total = sum(v[0] for v in reference.values())
    print(f"k-means grid (8 widths x {len(model.weights)} tensors): mlquant {m_total:.2f} s, scikit-learn {s_total:.2f} s, "
          f"speed-up {s_total / m_total:.1f}x (floor 5x)\n")
    print(f"whole 27-model grid with mlquant, quantized and written to disk: {grid_seconds:.2f} s (floor 10 s)")


if __name__ == "__main__":
    main()
