"""Applying a quantizer or a :class:`~.plan.QuantizationPlan` to a model, and undoing it.

:func:`quantize` applies a quantizer or a plan to a :class:`~mlquant.Model` of any format and
returns a new one; :func:`dequantize` turns any model back into float32.

What a format cannot store is never written. A form the format cannot store at all (one look-up
table per group of channels in a NeuralNetwork model), or only from a later deployment target
than ``max_target``, is a :class:`~mlquant.errors.SettingsError` naming the format and target
that would store it (the format's ``Model.storage`` rules decide). A weight the model says cannot
hold the quantized form (an updatable layer's weights, float16 in an updatable model), or whose
shape the granularity does not divide, keeps its storage, with a
:class:`~mlquant.errors.MlquantWarning` saying so; so does a quantized model that is not smaller
than its input, and re-quantizing weights that were already quantized. Weights stored as
float16 are quantized from their float16 values, as coremltools does.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import attrs
import numpy as np

from ..errors import MlquantWarning, QuantizationError, SettingsError
from ..formats import Model, WeightInfo
from ..formats.storage import STORAGE_RULES
from ..weights import QuantizedWeights
from ..weights.storage import spec_version, target_name
from .calibrated import corrected_biases
from .plan import LayerSelector, QuantizationPlan, as_plan
from .quantizers import Quantizer

__all__ = ["Notes", "dequantize", "quantize", "quantize_with_notes", "storage_problem"]

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
