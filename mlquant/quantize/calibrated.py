"""Data-aware quantization: any quantizer, steered by what the user's data feeds each weight.

    >>> calibration = mlquant.calibrate(model, "calibration_images")
    >>> small = mlquant.quantize(model, mlquant.DataAware(mlquant.KMeansLUTQuantizer(nbits=4), calibration))

:class:`DataAware` wraps a quantizer (a built-in one or a user's subclass) and a
:class:`~mlquant.calibrate.Calibration`. For every weight the calibration has statistics for:

1. **Importance-weighted table**: a look-up-table quantizer gets each value's importance, the
   second moment of the input it multiplies, so that the table minimises the error the output
   sees (:class:`~mlquant.KMeansLUTQuantizer` solves the weighted 1-D k-means; a custom
   ``lut(values, importance=None)`` may use it; one without the argument is called as before).
2. **Error-compensating rounding**: with the grid fixed (the table or tables, the per-channel
   linear grid, or an ML Program's integers with their scales and zero points per tensor,
   channel or block), the indices are chosen column by column in the GPTQ manner
   (:mod:`._gptq`), where the full second-moment matrix was kept.
3. **Bias correction**: the layer's float bias absorbs the mean output shift (:mod:`._bias_correction`).

Weights without statistics (layers the calibration does not pair with inputs: batch norms,
scales, embeddings, deconvolutions) are quantized by the wrapped quantizer as they would be
without data. A plan applies all of this through :meth:`Quantizer.for_weight` and
:func:`corrected_biases`; called directly on an array, a :class:`DataAware` quantizer does not
know which weight it holds and quantizes like its wrapped quantizer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import numpy as np

from ..calibrate.statistics import Calibration, InputStatistics
from ..errors import SettingsError
from ..formats import Model, WeightInfo
from ..weights import AffineWeights, GroupedLUTWeights, LinearWeights, LUTWeights, QuantizedWeights
from ..weights.blockwise import expand_blocks
from ._base import Affine as AffineFlavour
from ._base import Quantizer
from ._bias_correction import output_shift
from ._gptq import Affine, Grid, IntegerGrid, RowTables, Table, compensated
from .tables import TableQuantizer

__all__ = ["DataAware", "corrected_biases"]


def _plain_quantizer(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, Quantizer) or isinstance(value, DataAware):
        msg = f"DataAware: quantizer must be a Quantizer that is not already data-aware (got {value!r})"
        raise SettingsError(msg)


def _calibration(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, Calibration):
        msg = f"DataAware: calibration must come from mlquant.calibrate(...) (got {type(value).__name__})"
        raise SettingsError(msg)


def _damping(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        msg = f"DataAware: damping must be a fraction in (0, 1] (got {value!r})"
        raise SettingsError(msg)


@attrs.frozen
class DataAware(Quantizer):
    """A quantizer made data-aware: tables, roundings and biases chosen for the layer's outputs.

    Example::

        calibration = mlquant.calibrate(model, calibration_images)
        four_bit = mlquant.DataAware(mlquant.KMeansLUTQuantizer(nbits=4), calibration)
        small = mlquant.quantize(model, four_bit)

    It stores what its wrapped quantizer stores, at the same size; only the values differ.
    """

    method: ClassVar[str] = "data_aware"

    quantizer: Quantizer = attrs.field(validator=_plain_quantizer)
    """The strategy that decides the storage (and, without statistics, everything)."""
    calibration: Calibration = attrs.field(validator=_calibration, repr=False)
    """Input statistics of the model's weights, from :func:`mlquant.calibrate`."""
    weighted_table: bool = attrs.field(default=True, converter=bool, kw_only=True)
    """Give a look-up table each value's importance (its input's second moment)."""
    rounding: bool = attrs.field(default=True, converter=bool, kw_only=True)
    """Choose indices with error compensation (GPTQ) where the full second-moment matrix is known."""
    bias_correction: bool = attrs.field(default=True, converter=bool, kw_only=True)
    """Correct the layer's float bias for the mean output shift."""
    damping: float = attrs.field(default=0.01, validator=_damping, kw_only=True)
    """Fraction of the mean input second moment added to the matrix's diagonal before inverting it."""

    @property
    def nbits(self) -> int:
        return self.quantizer.nbits

    @property
    def name(self) -> str:
        """The wrapped quantizer's name with ``_data``, e.g. ``kmeans_lut_4_data``."""
        return f"{self.quantizer.name}_data"

    def for_weight(self, weight: WeightInfo) -> Quantizer:
        """The quantizer for ``weight``: data-aware where the calibration has its statistics."""
        statistics = self.calibration.get(weight.name)
        if statistics is None:
            return self.quantizer.for_weight(weight)
        where = f"layer '{weight.layer}' ({weight.layer_type}) {weight.field}"
        statistics.check(weight.shape, where)
        return _ForWeight(self, statistics, self.quantizer.for_weight(weight))

    def unfit(self, shape: tuple[int, ...], channel_axis: int | None) -> str | None:
        return self.quantizer.unfit(shape, channel_axis)

    def _quantize(self, values: np.ndarray, channel_axis: int | None, affine: AffineFlavour) -> QuantizedWeights:
        return self.quantizer._quantize(values, channel_axis, affine)


@attrs.frozen
class _ForWeight(Quantizer):
    """A :class:`DataAware` quantizer bound to one weight's input statistics."""

    owner: DataAware
    """The settings."""
    statistics: InputStatistics = attrs.field(repr=False)
    """The weight's input statistics."""
    base: Quantizer
    """The wrapped quantizer, as it applies to this weight."""

    method: ClassVar[str] = "data_aware"

    @property
    def nbits(self) -> int:
        return self.owner.nbits

    @property
    def name(self) -> str:
        return self.owner.name

    def unfit(self, shape: tuple[int, ...], channel_axis: int | None) -> str | None:
        return self.base.unfit(shape, channel_axis)

    def _quantize(self, values: np.ndarray, channel_axis: int | None, affine: AffineFlavour) -> QuantizedWeights:
        owner, stats, base = self.owner, self.statistics, self.base
        if owner.weighted_table and isinstance(base, TableQuantizer):
            form = base.weighted(values, channel_axis, affine, stats.importance(values.shape))
        else:
            form = base._quantize(values, channel_axis, affine)
        if not owner.rounding or stats.second_moment is None:
            return form
        return _compensate(form, values, stats, stats.second_moment, owner.damping)


def _grid(form: QuantizedWeights, rows: int) -> Grid | None:
    """The values ``form`` can represent in each of ``rows`` output channels; None for other forms."""
    if isinstance(form, AffineWeights):
        scale = expand_blocks(form.scale, form.shape).reshape(rows, -1)
        offset = expand_blocks(form.offset, form.shape).reshape(rows, -1)
        half = 2 ** (form.nbits - 1)
        return IntegerGrid(scale, offset, *((-half, half - 1) if form.signed else (0, 2 * half - 1)))
    if isinstance(form, LUTWeights) and form.table.ndim == 1:
        return Table(form.table)
    if isinstance(form, GroupedLUTWeights) and form.axis == 0:
        return RowTables(form.tables[np.arange(rows) // form.group_size])
    if isinstance(form, LinearWeights) and (len(form.scale) == 1 or (form.axis == 0 and len(form.scale) == rows)):
        scale = np.broadcast_to(form.scale.astype(np.float64), (rows,)) if len(form.scale) == 1 else form.scale
        bias = np.broadcast_to(form.bias.astype(np.float64), (rows,)) if len(form.bias) == 1 else form.bias
        return Affine(scale, bias, 2**form.nbits)
    return None


def _compensate(
    form: QuantizedWeights, values: np.ndarray, stats: InputStatistics, second_moment: np.ndarray, damping: float
) -> QuantizedWeights:
    """``form`` with its indices chosen by error-compensating rounding, group by group."""
    rows = values.shape[0]
    grid = _grid(form, rows)
    if grid is None or not isinstance(form, (LUTWeights, GroupedLUTWeights, LinearWeights, AffineWeights)):
        return form
    stored = form.data if isinstance(form, AffineWeights) else form.indices
    indices = np.array(stored).reshape(rows, -1).astype(np.intp)
    matrix = values.reshape(rows, -1)
    per_group = rows // stats.groups
    for group in range(stats.groups):
        members = np.arange(group * per_group, (group + 1) * per_group)
        found = compensated(matrix[members], grid, members, second_moment[group], damping)
        if found is not None:  # else keep round-to-nearest for this group
            indices[members] = found
    if isinstance(form, AffineWeights):
        return attrs.evolve(form, data=indices.reshape(values.shape))
    return attrs.evolve(form, indices=indices.reshape(values.shape))


def corrected_biases(
    model: Model, chosen: Mapping[int, Quantizer], new: Mapping[int, QuantizedWeights | np.ndarray]
) -> dict[int, np.ndarray]:
    """New float biases for the layers whose weights a data-aware quantizer with bias correction made.

    Args:
        model: The model being quantized.
        chosen: Weight index to the quantizer (as :meth:`Quantizer.for_weight` returned it).
        new: Weight index to its new content.

    Returns:
        Bias weight index to its corrected float32 values; biases that ``new`` replaces anyway,
        and layers without a bias, are left out.
    """
    corrected: dict[int, np.ndarray] = {}
    for index, quantizer in chosen.items():
        form = new.get(index)
        if not isinstance(quantizer, _ForWeight) or not quantizer.owner.bias_correction:
            continue
        if not isinstance(form, QuantizedWeights):
            continue
        weight = model.weights[index]
        bias = next((w for w in model.weights if w.is_bias and w.layer == weight.layer and w.network == weight.network
                     and w.count == weight.shape[0]), None)
        if bias is None or bias.index in new:
            continue
        shift = output_shift(model.read(weight), form.dequantize(), quantizer.statistics)
        corrected[bias.index] = (model.read(bias).astype(np.float64) + shift).astype(np.float32)
    return corrected
