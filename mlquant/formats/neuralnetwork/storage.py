"""What a NeuralNetwork model stores: float16, and per-tensor tables or per-channel linear indices at 1-8 bits.

``NeuralNetwork.proto``'s ``WeightParams`` holds float16 values (specification 2) or a
``QuantizationParams`` (specification 3) with 1-8 bit indices and either one look-up table
for the whole tensor or a ``linearQuantization`` scale and bias, one pair or one per output
channel. It has no grouped tables, no blocks and no integer zero points.
"""

from __future__ import annotations

from ...weights import Float16Weights, LinearWeights, LUTWeights
from ...weights.storage import Allowance, StorageRules
from .layout import MIN_VERSION_FLOAT16, MIN_VERSION_QUANTIZED

__all__ = ["NEURALNETWORK_STORAGE"]

_WIDTHS = range(1, 9)

#: The NeuralNetwork format's storage rules.
NEURALNETWORK_STORAGE = StorageRules(
    format="NeuralNetwork",
    affine="bias",
    allowances=(
        Allowance(Float16Weights, {16}, {"tensor"}, MIN_VERSION_FLOAT16),
        Allowance(LinearWeights, _WIDTHS, {"tensor", "channel"}, MIN_VERSION_QUANTIZED),
        Allowance(LUTWeights, _WIDTHS, {"tensor"}, MIN_VERSION_QUANTIZED),
    ),
)
