"""How much each quantization option costs one weight: bytes, weight error, output divergence.

Step 2 of the mixed-precision search described in :mod:`.mixed`: the probes' divergences are
measured, every other option's is estimated from its weight error (or, with calibration
statistics, the output error they predict) through a power law fitted to the probes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs
import numpy as np

from .._progress import Progress
from ..calibrate import Calibration, InputStatistics
from ..evaluate import Evaluator
from ..formats import Model
from ..quantize import LayerSelector, Quantizer
from ..quantize.calibrated import corrected_biases
from ..weights import QuantizedWeights

__all__ = ["WeightSensitivity", "load_sensitivities", "measure_sensitivities"]


@attrs.frozen
class WeightSensitivity:
    """What each option costs one weight: bytes, weight error, and output divergence."""

    weight: str
    """The weight's name (``layer.field``)."""
    options: tuple[str, ...]
    """Option names, the weight's current storage (keep it, usually ``float32``) first."""
    nbytes: tuple[int, ...]
    """Bytes the weight takes in the file under each option."""
    error: tuple[float, ...]
    """Squared weight error under each option."""
    divergence: tuple[float, ...]
    """Mean KL divergence from the float model's probabilities (measured at the probes, estimated elsewhere)."""
    measured: tuple[bool, ...]
    """Which divergences were measured rather than estimated."""


def _error(values: np.ndarray, quantized: np.ndarray, stats: InputStatistics | None) -> float:
    """The squared weight error, or with input statistics the output error ``sum (w - q)^T E[x x^T] (w - q)``."""
    difference = quantized.astype(np.float64) - values
    if stats is None or difference.ndim == 0 or len(difference) % stats.groups:
        return float(np.sum(difference**2))
    rows = difference.reshape(len(difference), -1)
    groups = stats.group_of_rows(len(rows))
    if stats.second_moment is None:
        return float(np.sum(rows**2 * stats.diagonal[groups]))
    return float(sum(np.einsum("rd,de,re->", rows[groups == g], stats.second_moment[g], rows[groups == g])
                     for g in range(stats.groups)))


def measure_sensitivities(
    model: Model, select: LayerSelector, check: Evaluator, options: list[Quantizer], probes: list[Quantizer],
    probe_inputs: int, calibration: Calibration | None, report: Progress,
) -> list[WeightSensitivity]:
    """Measure each selected weight at the probes; estimate every option from its weight (or output) error."""
    inputs = check.inputs(model).inputs[:probe_inputs]
    backend = check.backend
    reference = _probabilities(backend.predict(model, inputs))
    layers = [w for w in model.weights if select(w)]
    result = []
    for done, weight in enumerate(layers):
        report("measuring sensitivity", done, len(layers))
        values = model.read(weight)
        bound = {q.name: q.for_weight(weight) for q in (*options, *probes)}
        quantized = {name: q.quantize(values, channel_axis=weight.channel_axis, storage=model.storage)
                     for name, q in bound.items()}
        if any(model.storage_problem(weight, q) for q in quantized.values()):
            continue  # the format keeps this weight as it is (an updatable layer's): nothing to choose
        stats = calibration.get(weight.name) if calibration is not None else None
        errors = {name: _error(values, q.dequantize(), stats) for name, q in quantized.items()}
        measured = {}
        for probe in probes:
            new: dict[int, QuantizedWeights | np.ndarray] = {weight.index: quantized[probe.name]}
            new.update(corrected_biases(model, {weight.index: bound[probe.name]}, new))
            scores = _probabilities(backend.predict(model.replace(new), inputs))
            measured[probe.name] = (errors[probe.name], _kl(reference, scores))
        fit = _power_law(*measured.values())
        names = [o.name for o in options]
        result.append(WeightSensitivity(
            weight=weight.name,
            options=(weight.storage, *names),
            nbytes=(weight.nbytes, *(quantized[n].nbytes for n in names)),
            error=(0.0, *(errors[n] for n in names)),
            divergence=(0.0, *(measured[n][1] if n in measured else fit(errors[n]) for n in names)),
            measured=(True, *(n in measured for n in names)),
        ))
    report("measuring sensitivity", len(layers), len(layers))
    return result


def load_sensitivities(stored: object) -> list[WeightSensitivity] | None:
    """Sensitivities from the cache, or None if there are none (or they are damaged)."""
    if not isinstance(stored, list):
        return None
    try:
        return [
            WeightSensitivity(str(item["weight"]), tuple(item["options"]), tuple(item["nbytes"]), tuple(item["error"]),
                             tuple(item["divergence"]), tuple(item["measured"]))
            for item in stored
        ]
    except (TypeError, KeyError):
        return None


def _probabilities(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if np.all(scores >= 0) and np.allclose(scores.sum(axis=1), 1.0, atol=1e-3):
        return np.clip(scores, 1e-12, 1.0)
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return np.clip(shifted / shifted.sum(axis=1, keepdims=True), 1e-12, 1.0)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1)))


def _power_law(first: tuple[float, float], second: tuple[float, float]) -> Callable[[float], float]:
    """``divergence(error)`` through two measured (error, divergence) points, in log-log space."""
    (e1, d1), (e2, d2) = sorted([first, second])
    if d2 <= 0 or e2 <= 0:
        return lambda error: 0.0
    if d1 <= 0 or e1 <= 0 or e1 == e2:
        return lambda error: d2 * error / e2
    exponent = min(3.0, max(0.5, math.log(d2 / d1) / math.log(e2 / e1)))
    return lambda error: 0.0 if error <= 0 else d2 * (error / e2) ** exponent
