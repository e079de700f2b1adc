"""Which weights get which quantizer, and the functions that apply it to a model.

A :class:`LayerSelector` picks weights by layer type, layer-name pattern and size; a
:class:`QuantizationPlan` gives the selected weights a default quantizer and lets single
weights or layers override it (another quantizer, or ``None`` to keep float), which is how
mixed precision is written down. :func:`quantize` applies a quantizer or a plan to a
:class:`~mlquant.Model` of any format and returns a new one; :func:`dequantize` turns any
model back into float32.

A name pattern matches a name equal to it, or, failing that, matching it as a glob
(``fire*/expand*``), so a layer literally named ``conv[1]`` can still be addressed.

What a format cannot store is never written. A form the format cannot store at all (one look-up
table per group of channels in a NeuralNetwork model), or only from a later deployment target
than ``max_target``, is a :class:`~mlquant.errors.SettingsError` naming the format and target
that would store it (the format's ``Model.storage`` rules decide). A weight the model says cannot
hold the quantized form (an updatable layer's weights, float16 in an updatable model), or whose
shape the granularity does not divide, keeps its storage, with a
:class:`~mlquant.errors.MlquantWarning` saying so; so does a quantized model that is not smaller
than its input, and re-quantizing weights that were already quantized. Weights stored as
float16 are quantized from their float16 values, as coremltools does.

Biases are kept in float32 unless ``LayerSelector(biases=True)``: a bias vector is a few
hundred values, so quantizing it saves almost nothing, while coremltools' habit of squeezing
it into the weights' small look-up table (or one 1-bit linear range) costs accuracy.
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs
import numpy as np

from ..errors import MlquantWarning, QuantizationError, SettingsError
from ..formats import Model, WeightInfo, weight_layer_types
from ..formats.storage import STORAGE_RULES
from ..weights import QuantizedWeights
from ..weights.storage import spec_version, target_name
from .calibrated import corrected_biases
from .quantizers import Quantizer

__all__ = ["LayerSelector", "Notes", "Overrides", "QuantizationPlan", "dequantize", "quantize", "quantize_with_notes"]


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


def quantize(
    model: Model,
    quantizer: Quantizer | QuantizationPlan,
    *,
    select: LayerSelector | None = None,
    on_weight: Callable[[WeightInfo], None] | None = None,
    max_target: str | int | None = None,
) -> Model:
    """Return a copy of ``model`` with its weights quantized; ``model`` is unchanged.

    Args:
        model: The model to quantize; quantized weights are read back as float first.
        quantizer: One quantizer for every selected weight, or a :class:`QuantizationPlan`.
        select: Which weights to quantize (overrides the plan's selector). By default every
            weight except bias vectors.
        on_weight: Called with each weight before it is quantized, for progress reports.
        max_target: The latest deployment target the result may need, by name (``"iOS17"``)
            or specification version; None lets the chosen forms raise it as far as they need.

    Returns:
        The quantized model, its specification version (deployment target) raised only as far
        as the forms it stores require.

    Raises:
        SettingsError: The plan names weights or layers the model does not have, or its
            selection matches no weight; or a quantizer makes a form the model's format cannot
            store (or not by ``max_target``): the message names the target and format that can.
        QuantizationError: A weight holds NaN or infinity, or a quantizer returned an
            invalid table or indices; the message names the layer.

    Warns:
        MlquantWarning: Weights the format cannot store quantized were kept; weights that were
            already quantized were quantized again; the result is not smaller than ``model``.
    """
    result, notes = quantize_with_notes(model, as_plan(quantizer, select), on_weight=on_weight, max_target=max_target)
    notes.warn()
    return result


@attrs.frozen
class Notes:
    """What a caller would not expect of a quantized model, gathered by :func:`quantize_with_notes`."""

    kept: tuple[str, ...] = ()
    """Weights the format cannot store in the quantized form, kept as they were, with why."""
    requantized: tuple[str, ...] = ()
    """Storages (``4-bit lut``...) of weights that were already quantized and were quantized again."""
    size_ratio: float = 0.0
    """The quantized model's size over its input's."""

    def warn(self) -> None:
        """Issue one :class:`~mlquant.errors.MlquantWarning` per kind of note."""
        if self.kept:
            more = f" (and {len(self.kept) - 1} more)" if len(self.kept) > 1 else ""
            hint = ("; switching off on-device training (make_non_updatable, --make-non-updatable) lets them "
                    "be quantized" if any("updat" in note for note in self.kept) else "")
            warnings.warn(f"kept {len(self.kept)} weight{'s' if len(self.kept) > 1 else ''} as they were: "
                          f"{self.kept[0]}{more}{hint}", MlquantWarning, stacklevel=3)
        if self.requantized:
            warnings.warn(f"weights already stored quantized ({', '.join(self.requantized)}) were quantized again "
                          "from their dequantized values", MlquantWarning, stacklevel=3)
        if self.size_ratio >= 1:
            warnings.warn(f"the quantized model is not smaller than its input ({self.size_ratio:.0%} of its size)",
                          MlquantWarning, stacklevel=3)


def quantize_with_notes(
    model: Model,
    plan: QuantizationPlan,
    *,
    on_weight: Callable[[WeightInfo], None] | None = None,
    max_target: str | int | None = None,
) -> tuple[Model, Notes]:
    """:func:`quantize`, returning its notes instead of warning (for callers that gather them)."""
    limit = None if max_target is None else spec_version(max_target)
    original = model
    if plan.make_non_updatable:
        model = model.without_updates()
    if plan.move_mean_image:
        model = model.with_preprocessing_as_weights()
    plan.check(model)
    new: dict[int, QuantizedWeights | np.ndarray] = {}
    bound: dict[int, Quantizer] = {}
    kept: list[str] = []
    again: list[str] = []
    for weight in model.weights:
        chosen = plan.quantizer_for(weight)
        if chosen is None:
            continue
        if on_weight is not None:
            on_weight(weight)
        chosen = chosen.for_weight(weight)
        where = f"layer '{weight.layer}' ({weight.layer_type}) {weight.field}"
        values = model.read(weight)
        if weight.storage == "float16":
            values = values.astype(np.float16)
        unfit = chosen.unfit(values.shape, weight.channel_axis)
        if unfit is not None:
            kept.append(f"{weight.name}: {chosen.name}: {unfit}")
            continue
        quantized = chosen.quantize(values, channel_axis=weight.channel_axis, where=where, storage=model.storage)
        _check_storable(model, quantized, limit, f"{where}: {chosen.name}")
        problem = model.storage_problem(weight, quantized)
        if problem is not None:
            kept.append(f"{weight.name}: {problem}")
            continue
        if weight.nbits < 16:
            again.append(f"{weight.nbits}-bit {weight.storage}")
        new[weight.index] = quantized
        bound[weight.index] = chosen
    new.update(corrected_biases(model, bound, new))
    result = model.replace(new)
    notes = Notes(tuple(kept), tuple(sorted(set(again))), result.size_bytes / max(1, original.size_bytes))
    return result, notes


def _check_storable(model: Model, form: QuantizedWeights, limit: int | None, where: str) -> None:
    """Raise :class:`SettingsError` unless ``model``'s format stores ``form`` (by ``limit``, if given)."""
    rules = model.storage
    target = rules.minimum_target(form)
    if target is not None and (limit is None or target <= limit):
        return
    if target is not None:
        msg = (f"{where}: {rules.explain(form)}, later than the maximum target {target_name(limit or 0)}; "
               f"raise the target to {target_name(target)} or choose another granularity or width")
        raise SettingsError(msg)
    others = [other.explain(form) for other in STORAGE_RULES if other is not rules and other.minimum_target(form) is not None]
    elsewhere = "".join(f"; {other}" for other in others)
    msg = f"{where}: {rules.explain(form)}{elsewhere}"
    raise SettingsError(msg)


def storage_problem(model: Model, quantizer: Quantizer, max_target: str | int | None = None) -> str | None:
    """Why ``model``'s format cannot store what ``quantizer`` makes (by ``max_target``), or None if it can.

    Decided on a small probe tensor, before any weight is quantized: a sweep uses it to leave out
    the candidates a format cannot hold (a 5-bit table in an ML Program, a grouped table in a
    NeuralNetwork model) rather than fail half way through.
    """
    probe = np.linspace(-1.0, 1.0, _PROBE_SHAPE[0] * _PROBE_SHAPE[1], dtype=np.float32).reshape(_PROBE_SHAPE)
    try:
        form = quantizer.quantize(probe, channel_axis=0, where=quantizer.name, storage=model.storage)
    except QuantizationError:
        return None  # the quantizer's own failure is reported when a real weight meets it
    try:
        _check_storable(model, form, None if max_target is None else spec_version(max_target), quantizer.name)
    except SettingsError as error:
        return str(error)
    return None


#: The probe :func:`storage_problem` quantizes: 32 channels of 64 values, which common group
#: and block sizes divide.
_PROBE_SHAPE = (32, 64)


def dequantize(model: Model) -> Model:
    """Return a copy of ``model`` with every weight stored as float32."""
    stored = {w.index: model.read(w) for w in model.weights if w.storage != "float32"}
    return model.replace(stored)
