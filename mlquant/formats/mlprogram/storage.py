"""What an ML Program stores, and from which deployment target (``MIL.proto`` and the constexpr ops).

* ``const`` float16 values: iOS15 (specification 6);
* ``constexpr_lut_to_dense`` (iOS16 form): one look-up table for the tensor, 1, 2, 4, 6 or
  8-bit indices, from iOS16 (7);
* ``constexpr_lut_to_dense`` (iOS18 form): tables per group of channels, 1, 2, 3, 4, 6 or 8-bit
  indices (a single table is a group of all channels), from iOS18 (9);
* ``constexpr_affine_dequantize``: int8/uint8 with a scale and zero point per tensor or per
  channel, from iOS16 (7);
* ``constexpr_blockwise_shift_scale``: int4/uint4/int8/uint8 per tensor, channel or block, from
  iOS18 (9).

A float scale and bias (NeuralNetwork's :class:`~mlquant.LinearWeights`) has no ML Program
op; :class:`~mlquant.LinearQuantizer` makes zero-point :class:`~mlquant.AffineWeights` here,
as ``coremltools.optimize.coreml.linear_quantize_weights`` does.
"""

from __future__ import annotations

from ...weights import AffineWeights, Float16Weights, GroupedLUTWeights, LUTWeights
from ...weights.storage import TARGETS, Allowance, StorageRules

__all__ = ["MLPROGRAM_STORAGE"]

_IOS15, _IOS16, _IOS18 = TARGETS["iOS15"], TARGETS["iOS16"], TARGETS["iOS18"]

#: The ML Program format's storage rules.
MLPROGRAM_STORAGE = StorageRules(
    format="ML Program",
    affine="zero_point",
    allowances=(
        Allowance(Float16Weights, {16}, {"tensor"}, _IOS15),
        Allowance(LUTWeights, {1, 2, 4, 6, 8}, {"tensor"}, _IOS16),
        Allowance(LUTWeights, {1, 2, 3, 4, 6, 8}, {"tensor"}, _IOS18),
        Allowance(GroupedLUTWeights, {1, 2, 3, 4, 6, 8}, {"grouped_channel"}, _IOS18),
        Allowance(AffineWeights, {8}, {"tensor", "channel"}, _IOS16),
        Allowance(AffineWeights, {4, 8}, {"tensor", "channel", "block"}, _IOS18),
    ),
)
