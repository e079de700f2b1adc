"""Which weights get which quantizer, and the functions that apply it to a model.

A :class:`LayerSelector` picks weights by layer type, layer-name pattern and size; a
:class:`QuantizationPlan` gives the selected weights a default quantizer and lets single
layers override it (another quantizer, or ``None`` to keep float), which is how mixed
precision is written down. :func:`quantize` applies a quantizer or a plan to a
:class:`~mlquant.Model` and returns a new one; :func:`dequantize` turns any model back into
float32.

Biases are kept in float32 unless ``LayerSelector(biases=True)``: a bias vector is a few
hundred values, so quantizing it saves almost nothing, while coremltools' habit of squeezing
it into the weights' small look-up table (or one 1-bit linear range) costs accuracy.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import numpy as np

from ..errors import SettingsError
from ..formats import Model, WeightInfo, weight_layer_types
from ..weights import QuantizedWeights
from .quantizers import Quantizer

__all__ = ["LayerSelector", "QuantizationPlan", "dequantize", "quantize"]


def _layer_types(value: Iterable[str] | str | None) -> frozenset[str] | None:
    if value is None:
        return None
    names = frozenset([value] if isinstance(value, str) else value)
    known = weight_layer_types()
    unknown = sorted(names - set(known))
    if unknown:
        msg = (
            f"LayerSelector: unknown layer type {', '.join(map(repr, unknown))}; "
            f"layer types with weights are {', '.join(known)}"
        )
        raise SettingsError(msg)
    return names


def _patterns(value: Iterable[str] | str) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _non_negative(instance: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"{type(instance).__name__}: {attribute.name} must be a whole number >= 0 (got {value!r})"
        raise SettingsError(msg)


@attrs.frozen
class LayerSelector:
    """Chooses which weights a quantizer touches; the rest keep their storage.

    Unlike coremltools' ``AdvancedQuantizedLayerSelector``, every criterion applies to every
    layer type (its ``innerProduct or batchedMatmul`` test lets every layer through).
    """

    layer_types: frozenset[str] | None = attrs.field(default=None, converter=_layer_types)
    """Only layers of these types (``convolution``, ``innerProduct``...); None for every type."""
    names: tuple[str, ...] = attrs.field(default=(), converter=_patterns)
    """Only layers whose name matches one of these glob patterns (``fire*/expand*``); empty for all."""
    exclude: tuple[str, ...] = attrs.field(default=(), converter=_patterns)
    """Skip layers whose name matches one of these glob patterns."""
    min_count: int = attrs.field(default=0, validator=_non_negative)
    """Skip weights with fewer values than this."""
    biases: bool = attrs.field(default=False, converter=bool)
    """Quantize bias vectors too (by default they stay float32, exactly)."""

    def __call__(self, weight: WeightInfo) -> bool:
        """Whether ``weight`` is selected for quantization."""
        if weight.is_bias and not self.biases:
            return False
        if self.layer_types is not None and weight.layer_type not in self.layer_types:
            return False
        if self.names and not _matches(weight.layer, self.names):
            return False
        if _matches(weight.layer, self.exclude):
            return False
        return weight.count >= self.min_count


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _per_layer(value: Mapping[str, Quantizer | None]) -> Mapping[str, Quantizer | None]:
    for layer, quantizer in value.items():
        if quantizer is not None and not isinstance(quantizer, Quantizer):
            msg = f"QuantizationPlan: layer {layer!r} maps to {quantizer!r}; expected a Quantizer or None (keep float)"
            raise SettingsError(msg)
    return dict(value)


def _optional_quantizer(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, Quantizer):
        msg = f"QuantizationPlan: {attribute.name} must be a Quantizer or None (got {value!r})"
        raise SettingsError(msg)


@attrs.frozen
class QuantizationPlan:
    """A quantizer for every weight: a default, per-layer overrides, and a selector.

    Example::

        plan = QuantizationPlan(
            default=KMeansLUTQuantizer(nbits=4),
            per_layer={"conv1": Float16Quantizer(), "conv10*": None},
        )
    """

    default: Quantizer | None = attrs.field(default=None, validator=_optional_quantizer)
    """The quantizer for selected weights that no override names; None leaves them alone."""
    per_layer: Mapping[str, Quantizer | None] = attrs.field(factory=dict, converter=_per_layer)
    """Layer name (or glob pattern) to its quantizer, or to None to keep the layer float.
    An override applies to the layer's weights whatever the selector's type, name and size
    criteria say; its biases still follow ``select.biases``. The first matching entry wins."""
    select: LayerSelector = attrs.field(factory=LayerSelector)
    """Which weights the default quantizer applies to."""
    move_mean_image: bool = attrs.field(default=False, converter=bool)
    """First move the model's mean image into a bias layer named ``mlquant_mean_image_<input>``
    (an exact rewrite, see :mod:`mlquant.rewrite`), so that the plan can quantize it."""

    def quantizer_for(self, weight: WeightInfo) -> Quantizer | None:
        """The quantizer ``weight`` gets under this plan, or None if it keeps its storage."""
        if weight.is_bias and not self.select.biases:
            return None
        for pattern, quantizer in self.per_layer.items():
            if fnmatch.fnmatchcase(weight.layer, pattern):
                return quantizer
        return self.default if self.select(weight) else None


def as_plan(quantizer: Quantizer | QuantizationPlan, select: LayerSelector | None = None) -> QuantizationPlan:
    """Turn a quantizer (with an optional selector) or a plan into a plan."""
    if isinstance(quantizer, QuantizationPlan):
        return quantizer if select is None else attrs.evolve(quantizer, select=select)
    if isinstance(quantizer, Quantizer):
        return QuantizationPlan(default=quantizer, select=select or LayerSelector())
    msg = f"expected a Quantizer or a QuantizationPlan (got {type(quantizer).__name__})"
    raise SettingsError(msg)


def quantize(
    model: Model,
    quantizer: Quantizer | QuantizationPlan,
    *,
    select: LayerSelector | None = None,
    on_weight: Callable[[WeightInfo], None] | None = None,
) -> Model:
    """Return a copy of ``model`` with its weights quantized; ``model`` is unchanged.

    Args:
        model: The model to quantize; quantized weights are read back as float first.
        quantizer: One quantizer for every selected weight, or a :class:`QuantizationPlan`.
        select: Which weights to quantize (overrides the plan's selector). By default every
            weight except bias vectors.
        on_weight: Called with each weight before it is quantized, for progress reports.

    Returns:
        The quantized model, its specification version raised as Core ML requires.

    Raises:
        QuantizationError: A weight holds NaN or infinity, or a quantizer returned an
            invalid table or indices; the message names the layer.
    """
    plan = as_plan(quantizer, select)
    if plan.move_mean_image:
        model = model.with_preprocessing_as_weights()
    new: dict[int, QuantizedWeights | np.ndarray] = {}
    for weight in model.weights:
        chosen = plan.quantizer_for(weight)
        if chosen is None:
            continue
        if on_weight is not None:
            on_weight(weight)
        where = f"layer '{weight.layer}' ({weight.layer_type}) {weight.field}"
        new[weight.index] = chosen.quantize(model.read(weight), channel_axis=weight.channel_axis, where=where)
    return model.replace(new)


def dequantize(model: Model) -> Model:
    """Return a copy of ``model`` with every weight stored as float32."""
    stored = {w.index: model.read(w) for w in model.weights if w.storage != "float32"}
    return model.replace(stored)
