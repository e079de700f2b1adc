"""Which weights get which quantizer: layer selectors and quantization plans.

A :class:`LayerSelector` picks weights by layer type, layer-name pattern and size; a
:class:`QuantizationPlan` gives the selected weights a default quantizer and lets single
weights or layers override it (another quantizer, or ``None`` to keep float), which is how
mixed precision is written down. :mod:`.apply` applies a plan to a model.

A name pattern matches a name equal to it, or, failing that, matching it as a glob
(``fire*/expand*``), so a layer literally named ``conv[1]`` can still be addressed.

Biases are kept in float32 unless ``LayerSelector(biases=True)``: a bias vector is a few
hundred values, so quantizing it saves almost nothing, while coremltools' habit of squeezing
it into the weights' small look-up table (or one 1-bit linear range) costs accuracy.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from ..errors import SettingsError
from ..formats import Model, WeightInfo, weight_layer_types
from .quantizers import Quantizer

__all__ = ["LayerSelector", "Overrides", "QuantizationPlan", "as_plan"]


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
    """Only layers whose name is, or matches as a glob, one of these (``fire*/expand*``); empty for all."""
    exclude: tuple[str, ...] = attrs.field(default=(), converter=_patterns)
    """Skip layers whose name is, or matches as a glob, one of these."""
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

    @property
    def is_default(self) -> bool:
        """Whether this selector is the default one (every weight but biases)."""
        return self == LayerSelector()

    def describe(self) -> str:
        """The criteria in words, for messages: ``only 'fc*', at least 1000 values``."""
        parts = []
        if self.layer_types is not None:
            parts.append(f"types {', '.join(sorted(self.layer_types))}")
        if self.names:
            parts.append(f"only {', '.join(map(repr, self.names))}")
        if self.exclude:
            parts.append(f"excluding {', '.join(map(repr, self.exclude))}")
        if self.min_count:
            parts.append(f"at least {self.min_count} values")
        return ", ".join(parts) or "every weight" + (" and bias" if self.biases else " but biases")


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(name == pattern or fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


class Overrides(Mapping[str, "Quantizer | None"]):
    """A read-only, hashable, ordered mapping of names to quantizers (or None: keep float).

    Args:
        items: The entries, in priority order.
        what: What the keys name, for error messages (``layer``, ``weight``).

    Raises:
        SettingsError: A value is neither a :class:`Quantizer` nor None.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Quantizer | None] | Iterable[tuple[str, Quantizer | None]] = (),
                 what: str = "entry") -> None:
        entries = dict(items.items() if isinstance(items, Mapping) else items)
        for name, quantizer in entries.items():
            if quantizer is not None and not isinstance(quantizer, Quantizer):
                msg = f"QuantizationPlan: {what} {name!r} maps to {quantizer!r}; expected a Quantizer or None (keep float)"
                raise SettingsError(msg)
        self._items = entries

    def __getitem__(self, key: str) -> Quantizer | None:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __repr__(self) -> str:
        return repr(self._items)


def _layer_overrides(value: Any) -> Overrides:
    return value if isinstance(value, Overrides) else Overrides(value, "layer")


def _weight_overrides(value: Any) -> Overrides:
    return value if isinstance(value, Overrides) else Overrides(value, "weight")


def _optional_quantizer(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, Quantizer):
        msg = f"QuantizationPlan: {attribute.name} must be a Quantizer or None (got {value!r})"
        raise SettingsError(msg)


@attrs.frozen
class QuantizationPlan:
    """A quantizer for every weight: a default, per-weight and per-layer overrides, and a selector.

    Example::

        plan = QuantizationPlan(
            default=KMeansLUTQuantizer(nbits=4),
            per_layer={"conv1": Float16Quantizer(), "conv10*": None},
            per_weight={"bn.variance": None},
        )
    """

    default: Quantizer | None = attrs.field(default=None, validator=_optional_quantizer)
    """The quantizer for selected weights that no override names; None leaves them alone."""
    per_layer: Overrides = attrs.field(factory=Overrides, converter=_layer_overrides)
    """Layer name (or glob pattern) to its quantizer, or to None to keep the layer float. An
    override applies to the layer's weights whatever the selector's type, name and size
    criteria say; its biases still follow ``select.biases``. An entry equal to the layer's name
    wins; otherwise the first entry matching it as a glob."""
    per_weight: Overrides = attrs.field(factory=Overrides, converter=_weight_overrides)
    """Exact weight name (``layer.field``, see :attr:`WeightInfo.name`) to its quantizer, or None
    to keep it; takes precedence over ``per_layer`` and the selector, biases included."""
    select: LayerSelector = attrs.field(factory=LayerSelector)
    """Which weights the default quantizer applies to."""
    move_mean_image: bool = attrs.field(default=False, converter=bool)
    """First turn constants of the model's preprocessing into weights (an exact rewrite, see
    :meth:`Model.with_preprocessing_as_weights`: a NeuralNetwork mean image becomes a bias layer
    named ``mlquant_mean_image_<input>``), so that the plan can quantize them."""
    make_non_updatable: bool = attrs.field(default=False, converter=bool)
    """Switch off on-device training first, so that updatable layers can be quantized too.
    Without it their weights stay float32, as Core ML requires of weights it updates."""

    def quantizer_for(self, weight: WeightInfo) -> Quantizer | None:
        """The quantizer ``weight`` gets under this plan, or None if it keeps its storage."""
        if weight.name in self.per_weight:
            return self.per_weight[weight.name]
        if weight.is_bias and not self.select.biases:
            return None
        if weight.layer in self.per_layer:
            return self.per_layer[weight.layer]
        for pattern, quantizer in self.per_layer.items():
            if fnmatch.fnmatchcase(weight.layer, pattern):
                return quantizer
        return self.default if self.select(weight) else None

    def check(self, model: Model) -> None:
        """Check that every name in this plan addresses something in ``model``.

        Raises:
            SettingsError: An override names no weight or layer of the model, or the default
                quantizer's selector matches no weight.
        """
        names = {w.name for w in model.weights}
        layers = {w.layer for w in model.weights}
        example = ", ".join(sorted(layers)[:4])
        for name in self.per_weight:
            if name not in names:
                msg = f"the plan names weight {name!r}, which this model does not have (weights are named layer.field)"
                raise SettingsError(msg)
        for pattern in self.per_layer:
            if not _matches_any(pattern, layers):
                msg = f"the plan's layer entry {pattern!r} matches none of the model's layers (e.g. {example})"
                raise SettingsError(msg)
        if self.default is not None and not any(self.select(w) for w in model.weights):
            msg = (f"the layer selection ({self.select.describe()}) matches none of the model's "
                   f"{len(model.weights)} weights (layers include {example})")
            raise SettingsError(msg)

    def describe(self) -> str:
        """The overrides in one line: ``conv1.weights: kmeans_lut_8, fire2: float32, ...``."""
        entries = [*self.per_weight.items(), *self.per_layer.items()]
        return ", ".join(f"{name}: {q.name if q else 'float32'}" for name, q in entries)


def _matches_any(pattern: str, names: set[str]) -> bool:
    return pattern in names or any(fnmatch.fnmatchcase(name, pattern) for name in names)


def as_plan(quantizer: Quantizer | QuantizationPlan, select: LayerSelector | None = None) -> QuantizationPlan:
    """Turn a quantizer (with an optional selector) or a plan into a plan."""
    if isinstance(quantizer, QuantizationPlan):
        return quantizer if select is None else attrs.evolve(quantizer, select=select)
    if isinstance(quantizer, Quantizer):
        return QuantizationPlan(default=quantizer, select=select or LayerSelector())
    msg = f"expected a Quantizer or a QuantizationPlan (got {type(quantizer).__name__})"
    raise SettingsError(msg)
