"""The quantizer protocol every strategy implements, and the checks all of them share."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias

import attrs
import numpy as np

from ..errors import QuantizationError, SettingsError
from ..weights import QuantizedWeights
from ..weights.storage import StorageRules

if TYPE_CHECKING:
    from ..formats import WeightInfo

__all__ = ["Affine", "Quantizer", "bits", "granularity_of"]

#: Which affine flavour a format stores (see :attr:`StorageRules.affine`).
Affine: TypeAlias = Literal["bias", "zero_point"]


def bits(low: int, high: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator: an integer (not a bool) in ``low..high``."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            msg = f"{type(instance).__name__}: {attribute.name} must be an integer {low}-{high} (got {value!r})"
            raise SettingsError(msg)

    return check


def granularity_of(*kinds: type) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator: an instance of one of the granularity classes ``kinds``."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, kinds):
            names = ", ".join(f"{kind.__name__}()" for kind in kinds)
            msg = f"{type(instance).__name__}: granularity must be one of {names} (got {value!r})"
            raise SettingsError(msg)

    return check


class Quantizer(abc.ABC):
    """Turns one float weight array into the quantized form Core ML stores.

    Subclasses implement :meth:`_quantize`; :meth:`quantize` wraps it with the checks every
    strategy shares. To write a custom look-up table, subclass :class:`~mlquant.LUTQuantizer` instead.
    """

    #: Short name of the strategy, used in candidate names and reports.
    method: ClassVar[str] = "custom"

    @property
    @abc.abstractmethod
    def nbits(self) -> int:
        """Bits per stored value: 1-8, or 16 for float16."""

    @property
    def name(self) -> str:
        """A name for files and tables, e.g. ``kmeans_lut_6``, ``kmeans_lut_4_g16`` or ``float16``."""
        return f"{self.method}_{self.nbits}"

    def for_weight(self, weight: WeightInfo) -> Quantizer:
        """The quantizer to apply to ``weight`` of a model; ``self`` unless the strategy depends on it.

        :func:`mlquant.quantize` calls this before quantizing each weight, so a strategy that
        needs to know which weight it holds (a :class:`~mlquant.DataAware` quantizer looks up
        the weight's input statistics) can return one bound to it.
        """
        return self

    def unfit(self, shape: tuple[int, ...], channel_axis: int | None) -> str | None:
        """Why this strategy cannot quantize a tensor of ``shape``, or None if it can.

        A group or block size that does not divide the tensor is such a reason;
        :func:`mlquant.quantize` then keeps the weight as it is, with a warning, as
        ``coremltools.optimize`` skips it.
        """
        return None

    def quantize(
        self,
        values: np.ndarray,
        *,
        channel_axis: int | None = None,
        where: str = "weights",
        storage: StorageRules | None = None,
    ) -> QuantizedWeights:
        """Quantize one weight tensor.

        Args:
            values: The float weights, any shape (float16 values are quantized in float16
                arithmetic where the format's own tools do so).
            channel_axis: The output-channel axis, for strategies with per-channel parameters.
            where: Names the tensor in error messages, e.g. ``"layer 'conv1' weights"``.
            storage: The rules of the format the weights are for (``Model.storage``); they
                choose the affine flavour. None: NeuralNetwork's ``scale * q + bias``.

        Returns:
            The quantized weights, in the shape of ``values``.

        Raises:
            QuantizationError: ``values`` is empty or holds NaN or infinity, its shape does not
                suit the granularity, or the strategy produced something Core ML could not store.
        """
        array = np.asarray(values)
        if array.size == 0:
            msg = f"{where}: there are no values to quantize"
            raise QuantizationError(msg)
        if not np.issubdtype(array.dtype, np.floating):
            array = array.astype(np.float32)
        finite = np.isfinite(array)
        if not finite.all():
            msg = f"{where}: {int(array.size - finite.sum())} of {array.size} values are NaN or infinite; cannot quantize"
            raise QuantizationError(msg)
        problem = self.unfit(array.shape, channel_axis)
        if problem is not None:
            msg = f"{where}: {problem}"
            raise QuantizationError(msg)
        try:
            result = self._quantize(array, channel_axis, storage.affine if storage is not None else "bias")
        except QuantizationError as error:
            msg = f"{where}: {error}"
            raise QuantizationError(msg) from None
        if result.shape != array.shape or result.nbits != self.nbits:
            msg = (
                f"{where}: {type(self).__name__} returned {result.nbits}-bit weights of shape "
                f"{result.shape}; expected {self.nbits}-bit weights of shape {array.shape}"
            )
            raise QuantizationError(msg)
        return result

    @abc.abstractmethod
    def _quantize(self, values: np.ndarray, channel_axis: int | None, affine: Affine) -> QuantizedWeights:
        """Quantize finite, non-empty ``values`` for a format of the given affine flavour."""


def working_dtype(values: np.ndarray) -> type[np.floating[Any]]:
    """float16 for float16 input (Core ML's tools compute in it), float32 for anything else."""
    return np.float16 if values.dtype == np.float16 else np.float32
