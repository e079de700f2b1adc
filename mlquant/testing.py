"""A conformance check any quantizer, built-in or your own, should pass.

    >>> from mlquant.testing import check_quantizer
    >>> check_quantizer(MyLUT(nbits=4))   # raises ContractError naming the first failure

It runs the quantizer over tensors shaped like real weights (convolution kernels with a
channel axis on 0 or 1, matrices, bias vectors, a single value, a constant tensor, a tensor
with fewer distinct values than table entries, float16 input) and checks the contract every
mlquant quantizer keeps: the declared width, the input's shape, finite float32 output within
the tensor's own scale of the input, determinism, an untouched input, and a clear error for
NaN. Tensors whose shape the quantizer's granularity does not fit (``Quantizer.unfit``) are
skipped. It checks the contract, not the accuracy: that is what the sweep measures.
"""

from __future__ import annotations

from typing import Any, cast

import attrs
import numpy as np

from .errors import ContractError, QuantizationError
from .quantize import Quantizer
from .weights import QuantizedWeights
from .weights.storage import StorageRules

__all__ = ["check_quantizer", "sample_tensors"]


def sample_tensors(seed: int = 0) -> list[tuple[str, np.ndarray, int | None]]:
    """Tensors shaped like real weights: ``(description, values, channel_axis)``."""
    rng = np.random.default_rng(seed)
    heavy_tails = rng.standard_t(3, size=(32, 16, 3, 3)).astype(np.float32) * 0.05
    return [
        ("convolution kernel", heavy_tails, 0),
        ("deconvolution kernel", rng.normal(size=(6, 4, 3, 3)).astype(np.float32), 1),
        ("inner product matrix", rng.normal(scale=0.1, size=(10, 40)).astype(np.float32), 0),
        ("bias vector", rng.normal(size=64).astype(np.float32), None),
        ("single value", np.array([0.75], dtype=np.float32), None),
        ("constant tensor", np.full((4, 5), -1.25, dtype=np.float32), 0),
        ("three distinct values", rng.choice([-0.5, 0.0, 2.0], size=(5, 7)).astype(np.float32), 0),
        ("float16 input", rng.normal(size=(8, 8)).astype(np.float16), 0),
        ("all negative", -np.abs(rng.normal(size=(3, 50))).astype(np.float32) - 1.0, 0),
    ]


def check_quantizer(quantizer: Quantizer, *, seed: int = 0, storage: StorageRules | None = None) -> None:
    """Check that ``quantizer`` keeps the contract of an mlquant quantizer.

    Args:
        quantizer: The quantizer to check.
        seed: Seed for the random sample tensors.
        storage: The storage rules of the format to quantize for (``Model.storage``, e.g. an ML
            Program's); None for NeuralNetwork's.

    Raises:
        ContractError: The first broken rule, naming the sample tensor (an ``AssertionError``
            too, so test frameworks report it as a failure; it is raised even under ``python -O``).
    """
    _require(isinstance(quantizer, Quantizer), f"{quantizer!r} is not an mlquant.Quantizer")
    nbits = quantizer.nbits
    _require(nbits == 16 or 1 <= nbits <= 8, f"nbits must be 1-8 or 16 (got {nbits})")
    _require(quantizer.name, "a quantizer needs a non-empty name")
    if attrs.has(type(quantizer)):
        _require(attrs.evolve(cast(Any, quantizer)) == quantizer, "attrs.evolve with no changes must give an equal quantizer")
    for description, values, axis in sample_tensors(seed):
        if quantizer.unfit(values.shape, axis) is None:  # a group or block size that does not divide it
            _check_one(quantizer, description, values, axis, storage)
    nan = np.array([[0.0, np.nan], [1.0, 2.0]], dtype=np.float32)
    try:
        quantizer.quantize(nan, channel_axis=0, storage=storage)
    except QuantizationError:
        pass
    else:
        raise ContractError("NaN weights must raise QuantizationError")


def _check_one(
    quantizer: Quantizer, description: str, values: np.ndarray, axis: int | None, storage: StorageRules | None
) -> None:
    before = values.copy()
    result = quantizer.quantize(values, channel_axis=axis, where=description, storage=storage)
    again = quantizer.quantize(values, channel_axis=axis, where=description, storage=storage)
    where = f"{description} {values.shape}"
    _require(np.array_equal(values, before), f"{where}: the input array was modified")
    _require(isinstance(result, QuantizedWeights), f"{where}: returned {type(result).__name__}, not QuantizedWeights")
    _require(result.nbits == quantizer.nbits, f"{where}: returned {result.nbits}-bit weights, declared {quantizer.nbits}")
    _require(result.shape == values.shape, f"{where}: returned shape {result.shape}, expected {values.shape}")
    restored = result.dequantize()
    _require(restored.dtype == np.float32, f"{where}: dequantize() gave {restored.dtype}, expected float32")
    _require(restored.shape == values.shape, f"{where}: dequantize() gave shape {restored.shape}")
    _require(np.all(np.isfinite(restored)), f"{where}: dequantize() gave NaN or infinity")
    _require(np.array_equal(restored, again.dequantize()), f"{where}: two runs on the same input differ")
    wide = values.astype(np.float64)
    largest = float(np.abs(wide).max())
    error = float(np.abs(restored - wide).max())
    tolerance = max(float(wide.max() - wide.min()), largest) + 1e-6
    _require(error <= tolerance, f"{where}: an error of {error:g} exceeds the tensor's own scale {tolerance:g}")


def _require(condition: object, message: str) -> None:
    """Raise :class:`~mlquant.errors.ContractError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ContractError(message)
