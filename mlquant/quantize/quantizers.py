"""Quantizer strategies: one float weight array in, :class:`~mlquant.weights.QuantizedWeights` out.

Each strategy is its own frozen attrs class whose fields are validated when it is built:

* :class:`Float16Quantizer`: IEEE half floats (coremltools' ``nbits=16``);
* :class:`LinearQuantizer`: per-output-channel affine indices, the mapping of coremltools'
  ``linear`` (and, with ``symmetric=True``, ``linear_symmetric``) mode;
* :class:`LinearLUTQuantizer`: a uniform look-up table over ``[min, max]`` (``linear_lut``);
* :class:`KMeansLUTQuantizer`: the look-up table of near-optimal 1-D k-means (``kmeans_lut``);
* :class:`LUTQuantizer`: the base for custom tables; subclass it and override :meth:`~LUTQuantizer.lut`,
  or pass a function, as coremltools' ``custom_lut`` mode takes a ``lut_function``.

Every strategy inherits :meth:`Quantizer.quantize`, which refuses NaN, infinite and empty
input and checks what the strategy returns, so a custom table of the wrong length or with
out-of-range indices is an error that names the weight, never a corrupt file.
"""

from __future__ import annotations

import abc
import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import numpy as np

from ..errors import QuantizationError, SettingsError
from ..weights import Float16Weights, LinearWeights, LUTWeights, QuantizedWeights
from ._kmeans1d import kmeans_1d

if TYPE_CHECKING:
    from ..formats import WeightInfo

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


def _bits(low: int, high: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            msg = f"{type(instance).__name__}: {attribute.name} must be an integer {low}-{high} (got {value!r})"
            raise SettingsError(msg)

    return check


class Quantizer(abc.ABC):
    """Turns one float weight array into the quantized form Core ML stores.

    Subclasses implement :meth:`_quantize`; :meth:`quantize` wraps it with the checks every
    strategy shares. To write a custom look-up table, subclass :class:`LUTQuantizer` instead.
    """

    #: Short name of the strategy, used in candidate names and reports.
    method: ClassVar[str] = "custom"

    @property
    @abc.abstractmethod
    def nbits(self) -> int:
        """Bits per stored value: 1-8, or 16 for float16."""

    @property
    def name(self) -> str:
        """A name for files and tables, e.g. ``kmeans_lut_6`` or ``float16``."""
        return f"{self.method}_{self.nbits}"

    def for_weight(self, weight: WeightInfo) -> Quantizer:
        """The quantizer to apply to ``weight`` of a model; ``self`` unless the strategy depends on it.

        :func:`mlquant.quantize` calls this before quantizing each weight, so a strategy that
        needs to know which weight it holds (a :class:`~mlquant.DataAware` quantizer looks up
        the weight's input statistics) can return one bound to it.
        """
        return self

    def quantize(
        self, values: np.ndarray, *, channel_axis: int | None = None, where: str = "weights"
    ) -> QuantizedWeights:
        """Quantize one weight tensor.

        Args:
            values: The float weights, any shape.
            channel_axis: The output-channel axis, for strategies with per-channel parameters.
            where: Names the tensor in error messages, e.g. ``"layer 'conv1' weights"``.

        Returns:
            The quantized weights, in the shape of ``values``.

        Raises:
            QuantizationError: ``values`` is empty or holds NaN or infinity, or the strategy
                produced something Core ML could not store.
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
        try:
            result = self._quantize(array, channel_axis)
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
    def _quantize(self, values: np.ndarray, channel_axis: int | None) -> QuantizedWeights:
        """Quantize finite, non-empty ``values``."""


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

    def _quantize(self, values: np.ndarray, channel_axis: int | None) -> QuantizedWeights:
        largest = float(np.abs(values).max())
        if largest > _FLOAT16_MAX:
            msg = f"float16 holds magnitudes up to {_FLOAT16_MAX:g} (got {largest:g})"
            raise QuantizationError(msg)
        return Float16Weights(values.astype(np.float16))


@attrs.frozen
class LinearQuantizer(Quantizer):
    """Affine n-bit indices with a scale and bias per output channel.

    Asymmetric (the default) maps each channel's ``[min, max]`` onto ``0 .. 2**nbits - 1``:
    ``scale = (max - min) / (2**nbits - 1)``, ``bias = min``, ``q = round((w - min) / scale)``.
    Symmetric maps ``[-r, r]`` with ``r = max |w|``: ``scale = r / (2**(nbits-1) - 1)``,
    ``bias = -2**(nbits-1) * scale``, so zero is exactly representable. Both are the mappings
    of coremltools' ``linear`` and ``linear_symmetric`` modes, computed the same way in
    float32, except that a channel whose step is below 1e-6 is still quantized rather than
    collapsed onto its minimum.
    """

    method: ClassVar[str] = "linear"

    nbits: int = attrs.field(validator=_bits(1, 8))
    """Bits per index, 1-8."""
    symmetric: bool = attrs.field(default=False, converter=bool)
    """Map ``[-max|w|, max|w|]`` instead of ``[min, max]`` (needs 2 bits or more)."""

    def __attrs_post_init__(self) -> None:
        if self.symmetric and self.nbits < 2:
            msg = "LinearQuantizer: symmetric mode needs nbits 2-8 (got 1)"
            raise SettingsError(msg)

    @property
    def name(self) -> str:
        return f"linear{'_symmetric' if self.symmetric else ''}_{self.nbits}"

    def _quantize(self, values: np.ndarray, channel_axis: int | None) -> QuantizedWeights:
        rows = _channel_rows(values, channel_axis)
        indices, scale, bias = _affine(rows, self.nbits, self.symmetric)
        shaped = _from_channel_rows(indices, values.shape, channel_axis)
        axis = channel_axis if len(scale) > 1 else None
        return LinearWeights(self.nbits, shaped, scale, bias, axis)


class _TableQuantizer(Quantizer):
    """A strategy that stores a look-up table and one index per weight."""

    method: ClassVar[str] = "lut"

    @abc.abstractmethod
    def lut(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(table, indices)``: ``2**nbits`` floats and one index per value of ``values``."""

    def _quantize(self, values: np.ndarray, channel_axis: int | None) -> QuantizedWeights:
        table, indices = self.lut(values)
        table = np.asarray(table, dtype=np.float64).reshape(-1)
        indices = np.asarray(indices)
        if len(table) != 2**self.nbits:
            msg = f"a {self.nbits}-bit look-up table needs exactly {2**self.nbits} entries (got {len(table)})"
            raise QuantizationError(msg)
        if indices.size != values.size or not np.issubdtype(indices.dtype, np.integer):
            msg = f"expected {values.size} integer indices (got {indices.size} of {indices.dtype})"
            raise QuantizationError(msg)
        if indices.min() < 0 or indices.max() >= 2**self.nbits:
            msg = (
                f"indices must lie in 0..{2**self.nbits - 1} "
                f"(got {int(indices.min())}..{int(indices.max())})"
            )
            raise QuantizationError(msg)
        return LUTWeights(self.nbits, indices.reshape(values.shape), table)


@attrs.frozen
class LinearLUTQuantizer(_TableQuantizer):
    """A uniform look-up table of ``2**nbits`` steps over the tensor's ``[min, max]``.

    The same table and indices as coremltools' ``linear_lut`` mode.
    """

    method: ClassVar[str] = "linear_lut"

    nbits: int = attrs.field(validator=_bits(1, 8))
    """Bits per index, 1-8."""

    def lut(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        indices, scale, bias = _affine(values.reshape(1, -1), self.nbits, symmetric=False)
        table = np.arange(2**self.nbits, dtype=np.float64) * scale[0] + bias[0]
        return table, indices.reshape(values.shape)


@attrs.frozen
class KMeansLUTQuantizer(_TableQuantizer):
    """The look-up table that (nearly) minimises the squared error: 1-D k-means.

    Weights are scalars, so the table comes from k-means over the sorted values, solved by
    dynamic programming and polished with Lloyd steps on prefix sums (see
    ``docs/algorithms.md``, which says exactly when the table is the global optimum). It is
    deterministic; on every tensor of the food model it beat the scikit-learn k-means++ call
    coremltools' ``kmeans_lut`` mode makes.
    """

    method: ClassVar[str] = "kmeans_lut"

    nbits: int = attrs.field(validator=_bits(1, 8))
    """Bits per index, 1-8."""

    def lut(self, values: np.ndarray, importance: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k-means table of ``values``, weighted by each value's ``importance`` when given."""
        table, indices = kmeans_1d(values, 2**self.nbits, weights=importance)
        return table, indices.reshape(values.shape)


@attrs.frozen
class LUTQuantizer(_TableQuantizer):
    """The base for custom look-up tables.

    Either subclass it and override :meth:`lut`::

        class PowerOfTwoLUT(mlquant.LUTQuantizer):
            def lut(self, values):
                ...
                return table, indices

        PowerOfTwoLUT(nbits=4)

    or pass a function with coremltools' ``lut_function`` signature,
    ``function(nbits, values) -> (table, indices)``::

        mlquant.LUTQuantizer(nbits=4, function=my_lut)

    The table must have exactly ``2**nbits`` entries and every index must lie below it.
    Data-aware quantization (:class:`~mlquant.DataAware`) passes each value's importance (how
    much its error weighs in the layer's output) as ``importance=`` to a ``lut`` (or a
    ``function``) that declares that argument; others are called without it.
    """

    nbits: int = attrs.field(validator=_bits(1, 8))
    """Bits per index, 1-8."""
    function: Callable[[int, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = attrs.field(
        default=None, kw_only=True
    )
    """Builds ``(table, indices)`` from ``(nbits, values)``; used when :meth:`lut` is not overridden."""

    @property
    def name(self) -> str:
        if self.function is not None:
            label = getattr(self.function, "__name__", "custom")
        else:
            label = _snake(type(self).__name__)
        return f"{label}_{self.nbits}"

    def lut(self, values: np.ndarray, importance: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(table, indices)`` for ``values``; override this in a subclass.

        Args:
            values: The finite float weights of one tensor.
            importance: Non-negative weight of each value's squared error, in the shape of
                ``values``, when quantizing with data (None otherwise). An override may leave
                this argument out; it is then never passed.

        Returns:
            A table of exactly ``2**nbits`` floats and an integer index below ``2**nbits``
            for every value (any shape with ``values.size`` elements).
        """
        if self.function is None:
            msg = "LUTQuantizer needs a function=..., or a subclass that overrides lut()"
            raise SettingsError(msg)
        if importance is not None and _accepts(self.function, "importance"):
            return self.function(self.nbits, values, importance=importance)  # type: ignore[call-arg]
        return self.function(self.nbits, values)


def _accepts(function: Callable[..., Any], name: str) -> bool:
    """Whether ``function`` takes a keyword argument ``name``."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def _snake(name: str) -> str:
    """``PowerOfTwoLUT`` -> ``power_of_two_lut``: words split at case changes, acronyms kept whole."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _channel_rows(values: np.ndarray, axis: int | None) -> np.ndarray:
    """View ``values`` as float32 rows, one per channel along ``axis`` (one row if None)."""
    narrow = values.astype(np.float32)
    if axis is None:
        return narrow.reshape(1, -1)
    return np.moveaxis(narrow, axis, 0).reshape(values.shape[axis], -1)


def _from_channel_rows(rows: np.ndarray, shape: tuple[int, ...], axis: int | None) -> np.ndarray:
    if axis is None:
        return rows.reshape(shape)
    moved = (shape[axis], *(n for i, n in enumerate(shape) if i != axis))
    return np.moveaxis(rows.reshape(moved), 0, axis)


def _affine(rows: np.ndarray, bits: int, symmetric: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantize each row of float32 ``rows`` affinely; return ``(indices, scale, bias)``.

    The arithmetic is float32, step for step as coremltools does it on the float32 arrays
    protobuf hands it, so indices, scales and biases come out bit-identical.
    """
    low, high = rows.min(axis=1), rows.max(axis=1)
    if symmetric:
        radius = np.maximum(np.abs(low), np.abs(high))
        scale = radius / np.float32(2 ** (bits - 1) - 1)
        bias = np.float32(-(2 ** (bits - 1))) * scale
        shifted = rows - bias[:, np.newaxis]
        divisor = scale[:, np.newaxis]
        steps = np.divide(shifted, divisor, out=np.zeros_like(shifted), where=divisor > 0)
    else:
        scale = (high - low) / np.float32(2**bits - 1)
        bias = low
        inverse = np.divide(np.float32(1), scale, out=np.zeros_like(scale), where=scale > 0)
        steps = (rows - low[:, np.newaxis]) * inverse[:, np.newaxis]
    indices = np.clip(np.rint(steps), 0, 2**bits - 1).astype(np.uint8)
    return indices, scale, bias


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
