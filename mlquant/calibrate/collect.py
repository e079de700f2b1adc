"""Running a model over a sample of the user's data and keeping its weight layers' input moments.

    >>> calibration = mlquant.calibrate(model, "testing_data", inputs=256)

:func:`calibrate` takes a stratified, seeded sample of the data (the same share of every
class), runs it once through the reference runtime's executor of the model's format (any
executor that keeps the observation contract of :mod:`mlquant.runtime._observing`), and accumulates for every weight layer
``sum x``, ``sum x^2`` and, within a memory budget, ``sum x x^T`` over the rows its weight
meets, one batch at a time, so memory does not grow with the number of inputs. Results are
cached by content (the model's weights, the sampled files' bytes and the settings) as ``.npz``
files in a cache folder, like evaluations.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from .._files import atomic_write
from .._progress import Progress, silent
from .._version import __version__
from ..errors import SettingsError, UnsupportedModelError
from ..evaluate import ImageFolder, Preprocessing, data_fingerprint
from ..evaluate.signature import signature
from ..formats import Model, WeightInfo, load
from .statistics import Calibration, InputStatistics

if TYPE_CHECKING:
    from ..runtime._observing import Observed, Observing

__all__ = ["DEFAULT_MEMORY", "calibrate"]

#: Bytes of full second-moment matrices kept by default (float64); larger weights keep the diagonal.
DEFAULT_MEMORY = 256 * 2**20


def calibrate(
    model: Model | str | os.PathLike[str],
    data: ImageFolder | str | os.PathLike[str],
    inputs: int = 256,
    seed: int = 0,
    progress: Progress | None = None,
    *,
    preprocessing: Preprocessing = Preprocessing(),
    batch_size: int = 32,
    memory: int = DEFAULT_MEMORY,
    cache: str | os.PathLike[str] | None = None,
) -> Calibration:
    """Measure what every convolution and dense weight of ``model`` multiplies, on sample data.

    NeuralNetwork ``convolution`` and ``innerProduct`` layers, ML Program ``conv`` and ``linear``
    operations (and ``matmul`` with a constant transposed ``y``) are observed; an ML Program is
    computed in float32 whatever its precision.

    Args:
        model: The float model (a NeuralNetwork model or an ML Program), or its path.
        data: Labelled class folders (or a flat folder) of the model's inputs; pass the part
            of the data you will not judge the quantized model on.
        inputs: About how many inputs to run: the same share of every class (rounded per
            class), chosen with ``seed``; all of them if there are fewer.
        seed: Seeds the sample.
        progress: Called with ``("calibrating", done, total)`` after every batch.
        preprocessing: How images are scaled and cropped (as for evaluation).
        batch_size: Inputs per run of the network.
        memory: Bytes the full second-moment matrices may take together; the smallest weights
            get theirs first, the rest keep only the diagonal.
        cache: A folder to keep results in, reused when model, sample and settings are the same.

    Returns:
        The statistics of every weight the runtime pairs with its inputs.

    Raises:
        SettingsError: ``inputs``, ``batch_size`` or ``memory`` out of range.
        DataError: The data cannot be used.
        UnsupportedModelError: A model format the reference runtime cannot observe.
        UnsupportedLayerError: The reference runtime cannot run a layer of the model.
    """
    for name, value, low in (("inputs", inputs, 1), ("batch_size", batch_size, 1), ("memory", memory, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            msg = f"calibrate: {name} must be a whole number >= {low} (got {value!r})"
            raise SettingsError(msg)
    report = progress or silent
    model = model if isinstance(model, Model) else load(model)
    data = data if isinstance(data, ImageFolder) else ImageFolder(data)
    sample = data if inputs >= len(data.samples) else data.split(inputs / len(data.samples), seed=seed)[0]
    fingerprint = model.content_fingerprint()
    recipe: dict[str, Any] = {"model": fingerprint, "preprocessing": attrs.asdict(preprocessing),
              "memory": memory, "mlquant": __version__}
    key = ""
    if cache is not None:
        recipe["data"] = data_fingerprint(sample)
        key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:32]
        stored = _load(Path(cache) / f"calibration-{key}.npz")
        if stored is not None:
            return stored
    started = time.perf_counter()
    network = _observing(model)
    target = signature(model).input
    batch = sample.batch(target, preprocessing)
    pairs = _pairs(model, network.observed)
    sums = _Sums({layer: shape for layer, (_, shape) in pairs.items()}, memory)
    total = len(batch.inputs)
    report("calibrating", 0, total)
    for start in range(0, total, batch_size):
        chunk = batch.inputs[start : start + batch_size].astype(np.float32)
        network.observe({target.name: chunk}, sums.add)
        report("calibrating", min(total, start + batch_size), total)
    statistics = {weight.name: sums.result(layer) for layer, (weight, _) in pairs.items() if sums.seen(layer)}
    files = tuple(str(s.path.relative_to(sample.root)) for s in batch.samples)
    result = Calibration(statistics, files, fingerprint, time.perf_counter() - started)
    if key:
        _save(Path(str(cache)) / f"calibration-{key}.npz", result)
    return result


def _network(model: Model) -> Observing:
    from ..runtime import Network

    return Network(model)


def _program(model: Model) -> Observing:
    from ..runtime import MILProgram

    return MILProgram(model, precision="float32")


#: The executor that observes each format's weight layers, by :attr:`Model.format`. Both compute
#: in float32 (an fp16 ML Program's activations are not rounded to half precision here).
_OBSERVERS: dict[str, Callable[[Model], Observing]] = {"neuralnetwork": _network, "mlprogram": _program}


def _observing(model: Model) -> Observing:
    """An executor of ``model`` that shows each weight layer's inputs (see :mod:`mlquant.runtime._observing`).

    Raises:
        UnsupportedModelError: No runtime of ``model``'s format can observe its layers.
    """
    make = _OBSERVERS.get(model.format)
    if make is None:
        msg = f"calibration runs {' and '.join(sorted(_OBSERVERS))} models (this model is a {model.format} model)"
        raise UnsupportedModelError(msg)
    return make(model)


def _pairs(model: Model, observed: Mapping[str, Observed]) -> dict[str, tuple[WeightInfo, tuple[int, int]]]:
    """Layer name to its main weight and ``(groups, depth)``, for the layers the runtime observes."""
    pairs = {}
    for weight in model.weights:
        found = observed.get(weight.layer)
        if found is None or weight.is_bias or weight.network != 0 or weight.channel_axis != 0:
            continue
        rows, depth = weight.shape[0], int(np.prod(weight.shape[1:]))
        if rows % found.groups == 0 and depth == found.depth and weight.layer not in pairs:
            pairs[weight.layer] = (weight, (found.groups, found.depth))
    return pairs


class _Sums:
    """Running sums per layer, added to in batch order (the executors call observers from one thread)."""

    def __init__(self, shapes: dict[str, tuple[int, int]], memory: int) -> None:
        self._lock = threading.Lock()
        self._count = dict.fromkeys(shapes, 0)
        self._sum = {layer: np.zeros(shape) for layer, shape in shapes.items()}
        self._squares = {layer: np.zeros(shape) for layer, shape in shapes.items()}
        self._products: dict[str, np.ndarray] = {}
        left = memory
        for layer, (groups, depth) in sorted(shapes.items(), key=lambda item: item[1][0] * item[1][1] ** 2):
            size = 8 * groups * depth * depth
            if size <= left:
                self._products[layer] = np.zeros((groups, depth, depth))
                left -= size

    def add(self, layer: str, rows: np.ndarray) -> None:
        """Add one chunk's unfolded rows ``(groups, n, depth)`` of ``layer``."""
        if layer not in self._count:
            return
        total = rows.sum(axis=1, dtype=np.float64)
        squares = np.einsum("gnd,gnd->gd", rows, rows, dtype=np.float64)
        product = np.matmul(rows.transpose(0, 2, 1), rows) if layer in self._products else None
        with self._lock:
            self._count[layer] += rows.shape[1]
            self._sum[layer] += total
            self._squares[layer] += squares
            if product is not None:
                self._products[layer] += product

    def seen(self, layer: str) -> bool:
        return self._count[layer] > 0

    def result(self, layer: str) -> InputStatistics:
        n = self._count[layer]
        product = self._products.get(layer)
        return InputStatistics(n, self._sum[layer] / n, self._squares[layer] / n,
                               None if product is None else product / n)


def _save(path: Path, calibration: Calibration) -> None:
    arrays: dict[str, np.ndarray] = {}
    names = list(calibration.statistics)
    for i, name in enumerate(names):
        stats = calibration.statistics[name]
        arrays[f"mean{i}"], arrays[f"diagonal{i}"] = stats.mean, stats.diagonal
        if stats.second_moment is not None:
            arrays[f"second{i}"] = stats.second_moment
    meta = {"names": names, "counts": [calibration.statistics[n].count for n in names],
            "files": list(calibration.files), "model": calibration.model}
    buffer = io.BytesIO()
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    atomic_write(path, buffer.getvalue())


def _load(path: Path) -> Calibration | None:
    """A cached calibration, or None if there is none (or it is damaged)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            statistics = {
                name: InputStatistics(int(count), stored[f"mean{i}"], stored[f"diagonal{i}"],
                                      stored[f"second{i}"] if f"second{i}" in stored.files else None)
                for i, (name, count) in enumerate(zip(meta["names"], meta["counts"], strict=True))
            }
            return Calibration(statistics, tuple(meta["files"]), str(meta["model"]), 0.0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
