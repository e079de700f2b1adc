"""Quantizers and plans: which weights get which strategy, and a new model from them.

* :mod:`.quantizers`: the strategy classes (one float array in, a
  :class:`~mlquant.weights.QuantizedWeights` out), linear ones in :mod:`.affine`, look-up
  tables in :mod:`.tables`, the protocol in :mod:`._base`;
* :mod:`.plan`: :class:`LayerSelector`, :class:`QuantizationPlan`, :func:`quantize` and
  :func:`dequantize`, which apply strategies to a :class:`~mlquant.Model` of any format;
* :mod:`.calibrated`: :class:`DataAware`, any strategy steered by calibration data.
"""

from .calibrated import DataAware
from .plan import LayerSelector, QuantizationPlan, as_plan, dequantize, quantize, storage_problem
from .quantizers import (
    BUILT_IN,
    Float16Quantizer,
    KMeansLUTQuantizer,
    LinearLUTQuantizer,
    LinearQuantizer,
    LUTQuantizer,
    Quantizer,
    from_name,
)

__all__ = [
    "BUILT_IN",
    "DataAware",
    "Float16Quantizer",
    "KMeansLUTQuantizer",
    "LUTQuantizer",
    "LayerSelector",
    "LinearLUTQuantizer",
    "LinearQuantizer",
    "QuantizationPlan",
    "Quantizer",
    "as_plan",
    "dequantize",
    "from_name",
    "quantize",
    "storage_problem",
]
