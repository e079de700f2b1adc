"""Quantizer strategies: one float weight array in, :class:`~mlquant.weights.QuantizedWeights` out.

Each strategy is its own frozen attrs class whose fields are validated when it is built:

* :class:`Float16Quantizer`: IEEE half floats (coremltools' ``nbits=16``);
* :class:`LinearQuantizer` (:mod:`.affine`): affine indices per tensor, per output channel or
  per block, the mapping of coremltools' ``linear`` (and, with ``symmetric=True``,
  ``linear_symmetric``) mode;
* :class:`LinearLUTQuantizer` (:mod:`.tables`): a uniform look-up table over ``[min, max]``;
* :class:`KMeansLUTQuantizer`: the look-up table of near-optimal 1-D k-means (``kmeans_lut``);
* :class:`LUTQuantizer`: the base for custom tables; subclass it and override :meth:`~LUTQuantizer.lut`,
  or pass a function, as coremltools' ``custom_lut`` mode takes a ``lut_function``.

Granularity is a typed value (:class:`~mlquant.PerTensor`, :class:`~mlquant.PerChannel`,
:class:`~mlquant.PerGroupedChannel`, :class:`~mlquant.PerBlock`) and shows in the name
(``kmeans_lut_4_g16``, ``linear_4_b32``). Every strategy inherits :meth:`Quantizer.quantize`,
which refuses NaN, infinite and empty input and checks what the strategy returns, so a custom
table of the wrong length or with out-of-range indices is an error that names the weight,
never a corrupt file.
"""

from __future__ import annotations

from typing import ClassVar

import attrs
import numpy as np

from ..errors import QuantizationError, SettingsError
from ..weights import Float16Weights, QuantizedWeights
from ._base import Affine, Quantizer
from .affine import LinearQuantizer
from .tables import KMeansLUTQuantizer, LinearLUTQuantizer, LUTQuantizer

__all__ = [
    "BUILT_IN",
    "Float16Quantizer",
    "KMeansLUTQuantizer",
    "LUTQuantizer",
    "LinearLUTQuantizer",
    "LinearQuantizer",
    "Quantizer",
    "from_name",
]

_FLOAT16_MAX = float(np.finfo(np.float16).max)


@attrs.frozen
class Float16Quantizer(Quantizer):
    """Store weights as IEEE half floats: half the size, about three significant digits."""

    method: ClassVar[str] = "float16"

    @property
    def nbits(self) -> int:
        return 16

    @property
    def name(self) -> str:
        return "float16"

    def _quantize(self, values: np.ndarray, channel_axis: int | None, affine: Affine) -> QuantizedWeights:
        largest = float(np.abs(values).max())
        if largest > _FLOAT16_MAX:
            msg = f"float16 holds magnitudes up to {_FLOAT16_MAX:g} (got {largest:g})"
            raise QuantizationError(msg)
        return Float16Weights(values.astype(np.float16))


#: The built-in strategies by method name, as the command line and the sweep grid name them.
BUILT_IN: dict[str, type[Quantizer]] = {
    "linear": LinearQuantizer,
    "linear_lut": LinearLUTQuantizer,
    "kmeans_lut": KMeansLUTQuantizer,
    "float16": Float16Quantizer,
}


def from_name(method: str, nbits: int) -> Quantizer:
    """Build a built-in quantizer the way coremltools' ``quantize_weights`` names them.

    Args:
        method: ``linear``, ``linear_symmetric``, ``linear_lut``, ``kmeans_lut`` or ``float16``.
        nbits: 1-8, or 16, which means float16 whatever the method (as in coremltools).

    Returns:
        The quantizer.

    Raises:
        SettingsError: An unknown method, or a width outside 1-8 and 16.
    """
    known = (*BUILT_IN, "linear_symmetric")
    if method not in known:
        msg = f"unknown quantization method {method!r}; known methods: {', '.join(known)}"
        raise SettingsError(msg)
    if nbits == 16 or method == "float16":
        if nbits != 16:
            msg = f"float16 stores 16 bits (got nbits={nbits})"
            raise SettingsError(msg)
        return Float16Quantizer()
    if isinstance(nbits, bool) or not isinstance(nbits, int) or not 1 <= nbits <= 8:
        msg = f"nbits must be 1-8 or 16 (got {nbits!r})"
        raise SettingsError(msg)
    if method == "linear_symmetric":
        return LinearQuantizer(nbits=nbits, symmetric=True)
    return BUILT_IN[method](nbits=nbits)  # type: ignore[call-arg]
