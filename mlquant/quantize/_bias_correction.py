"""Bias correction: give back the mean output shift that quantizing a weight introduces.

A layer computes ``y = W x + b``. With quantized weights ``Q`` its output moves on average by
``E[y_q - y] = (Q - W) E[x]`` per output channel (Nagel et al. 2019, "Data-Free Quantization
Through Weight Equalization and Bias Correction", whose empirical variant this is: ``E[x]`` is
measured on calibration inputs). Adding ``(W - Q) E[x]`` to the float bias removes the shift;
the bias stays float.
"""

from __future__ import annotations

import numpy as np

from ..calibrate.statistics import InputStatistics

__all__ = ["output_shift"]


def output_shift(original: np.ndarray, quantized: np.ndarray, statistics: InputStatistics) -> np.ndarray:
    """``(W - Q) E[x]`` per output channel: what to add to the bias after quantizing ``W`` to ``Q``.

    Args:
        original: The float weight, output channel first.
        quantized: The quantized weight, dequantized, in the same shape.
        statistics: The inputs' statistics (their per-group mean is what is used).

    Returns:
        A float64 vector with one value per output channel.
    """
    rows = original.shape[0]
    difference = original.reshape(rows, -1).astype(np.float64) - quantized.reshape(rows, -1).astype(np.float64)
    means = statistics.mean[statistics.group_of_rows(rows)]
    return np.einsum("rd,rd->r", difference, means)
