"""Quantizers and plans: which weights get which strategy, and a new model from them.

* :mod:`.quantizers`: the strategy classes (one float array in, a
  :class:`~mlquant.weights.QuantizedWeights` out), linear ones in :mod:`.affine`, look-up
  tables in :mod:`.tables`, the protocol in :mod:`._base`;
* :mod:`.plan`: :class:`LayerSelector` and :class:`QuantizationPlan`, which weights get
  which strategy;
* :mod:`.apply`: :func:`quantize` and :func:`dequantize`, which apply a strategy or a plan to
  a :class:`~mlquant.Model` of any format;
* :mod:`.calibrated`: :class:`DataAware`, any strategy steered by calibration data.
"""

from .apply import dequantize, quantize, storage_problem
from .calibrated import DataAware
from .plan import LayerSelector, QuantizationPlan, as_plan
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
