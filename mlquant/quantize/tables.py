"""Look-up-table quantization: one table per tensor, or one per group of output channels.

* :class:`LinearLUTQuantizer`: a uniform table over ``[min, max]``;
* :class:`KMeansLUTQuantizer`: the table of near-optimal 1-D k-means;
* :class:`LUTQuantizer`: the base for custom tables (override :meth:`~LUTQuantizer.lut`, or
  pass a function, as coremltools' ``custom_lut`` mode takes a ``lut_function``).

With :class:`~mlquant.PerGroupedChannel` each group of ``group_size`` output channels gets its
own table (``lut()`` is called once per group), which only ML Programs store (iOS18).
"""

from __future__ import annotations

import abc
import inspect
import re
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
import numpy as np

from ..errors import QuantizationError, SettingsError
from ..weights import GroupedLUTWeights, LUTWeights, PerGroupedChannel, PerTensor, QuantizedWeights
from ..weights.granularity import resolve_axis
from ._base import Affine, Quantizer, bits, granularity_of, working_dtype
from ._kmeans1d import kmeans_1d
from .affine import affine_rows

__all__ = ["KMeansLUTQuantizer", "LUTQuantizer", "LinearLUTQuantizer", "TableQuantizer"]

_TABLE_GRANULARITY = granularity_of(PerTensor, PerGroupedChannel)


class TableQuantizer(Quantizer):
    """A strategy that stores look-up tables and one index per weight."""

    method: ClassVar[str] = "lut"
    granularity: PerTensor | PerGroupedChannel

    @property
    def name(self) -> str:
        return f"{self.method}_{self.nbits}{self.granularity.suffix}"

    @abc.abstractmethod
    def lut(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(table, indices)``: ``2**nbits`` floats and one index per value of ``values``."""

    def unfit(self, shape: tuple[int, ...], channel_axis: int | None) -> str | None:
        axis = resolve_axis(self.granularity, channel_axis, len(shape))
        if axis is None or not isinstance(self.granularity, PerGroupedChannel):
            return None
        size = min(self.granularity.group_size, shape[axis])
        if shape[axis] % size:
            return f"group size {size} does not divide the {shape[axis]} channels along axis {axis}"
        return None

    def _quantize(self, values: np.ndarray, channel_axis: int | None, affine: Affine) -> QuantizedWeights:
        return self.weighted(values, channel_axis, affine, None)

    def weighted(
        self, values: np.ndarray, channel_axis: int | None, affine: Affine, importance: np.ndarray | None
    ) -> QuantizedWeights:
        """:meth:`_quantize`, each value's squared error weighted by ``importance`` (its shape) when given."""
        axis = resolve_axis(self.granularity, channel_axis, values.ndim)
        if axis is None or not isinstance(self.granularity, PerGroupedChannel):
            whole_importance = None if importance is None else importance.reshape(1, -1)
            tables, indices = self._tables(values.reshape(1, -1), affine, whole=values, importance=whole_importance)
            return LUTWeights(self.nbits, indices.reshape(values.shape), tables[0])
        channels = values.shape[axis]
        size = min(self.granularity.group_size, channels)
        moved = np.moveaxis(values, axis, 0)
        grouped = None if importance is None else np.moveaxis(importance, axis, 0).reshape(channels // size, -1)
        tables, indices = self._tables(moved.reshape(channels // size, -1), affine, importance=grouped)
        shaped = np.moveaxis(indices.reshape(moved.shape), 0, axis)
        return GroupedLUTWeights(self.nbits, shaped, tables, axis, size)

    def _tables(
        self, groups: np.ndarray, affine: Affine, whole: np.ndarray | None = None, importance: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One table per row of ``groups``: ``(tables, indices)`` of shapes ``(G, 2**nbits)`` and ``groups.shape``.

        The default calls :meth:`lut` once per row (with ``whole``, the tensor in its own shape,
        for a single table) and checks what it returns; ``importance`` (rows like ``groups``) is
        passed to a ``lut`` that declares an ``importance`` argument.
        """
        asks = importance is not None and _accepts(self.lut, "importance")

        def table(i: int, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            values = whole if whole is not None else row
            if asks and importance is not None:
                return self.lut(values, importance=importance[i].reshape(values.shape))  # type: ignore[call-arg]
            return self.lut(values)

        results = [self._checked(*table(i, row), row.size) for i, row in enumerate(groups)]
        tables = np.stack([table for table, _ in results])
        indices = np.stack([index for _, index in results])
        if affine == "zero_point" and groups.dtype == np.float16:
            tables = tables.astype(np.float16).astype(np.float64)
        return tables, indices

    def _checked(self, table: np.ndarray, indices: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``(table, indices)`` as float64 and a flat integer array, or a QuantizationError saying what is wrong."""
        table = np.asarray(table, dtype=np.float64).reshape(-1)
        indices = np.asarray(indices)
        if len(table) != 2**self.nbits:
            msg = f"a {self.nbits}-bit look-up table needs exactly {2**self.nbits} entries (got {len(table)})"
            raise QuantizationError(msg)
        if indices.size != count or not np.issubdtype(indices.dtype, np.integer):
            msg = f"expected {count} integer indices (got {indices.size} of {indices.dtype})"
            raise QuantizationError(msg)
        if indices.min() < 0 or indices.max() >= 2**self.nbits:
            msg = f"indices must lie in 0..{2**self.nbits - 1} (got {int(indices.min())}..{int(indices.max())})"
            raise QuantizationError(msg)
        return table, indices.reshape(-1)


@attrs.frozen
class LinearLUTQuantizer(TableQuantizer):
    """A uniform look-up table of ``2**nbits`` steps over each tensor's (or group's) ``[min, max]``.

    For a NeuralNetwork model, the table and indices of coremltools' ``linear_lut`` mode; for an
    ML Program, those of ``coremltools.optimize.coreml.palettize_weights`` ``uniform`` mode
    (which rounds ``(w - min) / (max - min) * (2**n - 1)`` in the weights' own float type).
    """

    method: ClassVar[str] = "linear_lut"

    nbits: int = attrs.field(validator=bits(1, 8))
    """Bits per index, 1-8."""
    granularity: PerTensor | PerGroupedChannel = attrs.field(factory=PerTensor, validator=_TABLE_GRANULARITY)
    """One table for the tensor, or one per group of output channels."""

    def lut(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tables, indices = self._tables(np.asarray(values).reshape(1, -1), "bias")
        return tables[0], indices.reshape(np.shape(values))

    def _tables(
        self, groups: np.ndarray, affine: Affine, whole: np.ndarray | None = None, importance: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        steps = 2**self.nbits
        if affine == "bias":
            indices, scale, bias = affine_rows(groups.astype(np.float32), self.nbits, symmetric=False)
            return np.arange(steps, dtype=np.float64) * scale[:, None] + bias[:, None], indices
        rows = groups.astype(working_dtype(groups), copy=False)
        low = rows.min(axis=1, keepdims=True)
        high = rows.max(axis=1, keepdims=True)
        scale = (high - low) / (steps - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            position = np.round(((rows - low) / (high - low)) * (steps - 1))
        indices = np.where(high > low, position, 0).astype(np.uint8)
        tables = (np.arange(steps)[None, :] * scale + low).astype(rows.dtype)
        return tables.astype(np.float64), indices


@attrs.frozen
class KMeansLUTQuantizer(TableQuantizer):
    """The look-up table that (nearly) minimises the squared error: 1-D k-means.

    Weights are scalars, so the table comes from k-means over the sorted distinct values
    (weighted by their counts), solved by dynamic programming and polished with Lloyd steps
    on prefix sums (see ``docs/algorithms.md``, which says exactly when the table is the
    global optimum). It is deterministic; on every tensor of the food model it beat the
    scikit-learn k-means++ call coremltools' ``kmeans_lut`` mode makes. For float16 ML Program
    weights the table is rounded to float16, as stored, and each weight takes its nearest entry.
    """

    method: ClassVar[str] = "kmeans_lut"

    nbits: int = attrs.field(validator=bits(1, 8))
    """Bits per index, 1-8."""
    granularity: PerTensor | PerGroupedChannel = attrs.field(factory=PerTensor, validator=_TABLE_GRANULARITY)
    """One table for the tensor, or one per group of output channels."""

    def lut(self, values: np.ndarray, importance: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k-means table of ``values``, weighted by each value's ``importance`` when given."""
        table, indices = kmeans_1d(values, 2**self.nbits, weights=importance)
        return table, indices.reshape(np.shape(values))

    def _tables(
        self, groups: np.ndarray, affine: Affine, whole: np.ndarray | None = None, importance: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        half = affine == "zero_point" and groups.dtype == np.float16
        tables = np.empty((len(groups), 2**self.nbits))
        indices = np.empty(groups.shape, np.uint8)
        for row, values in enumerate(groups):
            table, index = kmeans_1d(values, 2**self.nbits, weights=None if importance is None else importance[row])
            if half:
                table = table.astype(np.float16).astype(np.float64)
                index = np.searchsorted(0.5 * (table[1:] + table[:-1]), values.astype(np.float64)).astype(np.uint8)
            tables[row], indices[row] = table, index
        return tables, indices


@attrs.frozen
class LUTQuantizer(TableQuantizer):
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

    Data-aware quantization (:class:`~mlquant.DataAware`) passes each value's importance as
    ``importance=`` to a ``lut`` (or a ``function``) that declares that argument; others are
    called without it. The table must have exactly ``2**nbits`` entries and every index must lie below it. With
    ``granularity=PerGroupedChannel(n)`` it is called once per group of ``n`` channels, with
    that group's values.
    """

    nbits: int = attrs.field(validator=bits(1, 8))
    """Bits per index, 1-8."""
    granularity: PerTensor | PerGroupedChannel = attrs.field(factory=PerTensor, validator=_TABLE_GRANULARITY)
    """One table for the tensor, or one per group of output channels."""
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
        return f"{label}_{self.nbits}{self.granularity.suffix}"

    def lut(self, values: np.ndarray, importance: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(table, indices)`` for ``values``; override this in a subclass.

        Args:
            values: The finite float weights of one tensor (or of one group of its channels).
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
