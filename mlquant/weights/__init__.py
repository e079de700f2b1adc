"""What every format and every quantizer share: the quantized-weights family, bit packing, granularity.

This is the vocabulary between the quantizers (``mlquant.quantize``) and the model formats
(``mlquant.formats``): a quantizer returns a :class:`QuantizedWeights`, and each format writes
the forms and granularities it declares it can store.
"""

from .forms import (
    AffineWeights,
    Float16Weights,
    GroupedLUTWeights,
    LinearWeights,
    LUTWeights,
    QuantizedWeights,
)
from .granularity import Granularity, PerBlock, PerChannel, PerGroupedChannel, PerTensor
from .packing import pack_indices, unpack_indices

__all__ = [
    "AffineWeights",
    "Float16Weights",
    "Granularity",
    "GroupedLUTWeights",
    "LUTWeights",
    "LinearWeights",
    "PerBlock",
    "PerChannel",
    "PerGroupedChannel",
    "PerTensor",
    "QuantizedWeights",
    "pack_indices",
    "unpack_indices",
]
