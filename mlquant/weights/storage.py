"""What a model format can store: which quantized forms, at which widths and layouts, from which target.

Each format declares its :class:`StorageRules` once, beside its code
(``mlquant/formats/neuralnetwork/storage.py``, ``mlquant/formats/mlprogram/storage.py``), as a
tuple of :class:`Allowance` rows; :class:`~mlquant.Model` subclasses expose them as
``Model.storage``. :func:`mlquant.quantize` asks the rules of the model it quantizes:

* :attr:`StorageRules.affine` tells :class:`~mlquant.LinearQuantizer` which flavour of affine
  weights to produce (``bias``: NeuralNetwork ``scale * q + bias``; ``zero_point``: ML Program
  integers with integer zero points, as ``coremltools.optimize.coreml`` makes them);
* :meth:`StorageRules.minimum_target` gives the lowest specification version that stores a
  form (None when the format never can), and :meth:`StorageRules.explain` says so in words.

Targets are Core ML specification versions; :data:`TARGETS` names them (``iOS18`` is 9).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, TypeAlias

import attrs

from ..errors import SettingsError
from ._base import QuantizedWeights
from .blockwise import AffineWeights, GroupedLUTWeights
from .forms import Float16Weights, LinearWeights, LUTWeights

__all__ = ["TARGETS", "Allowance", "Layout", "StorageRules", "describe", "layout_of", "spec_version", "target_name"]

#: How a form's parameters spread over the tensor.
Layout: TypeAlias = Literal["tensor", "channel", "grouped_channel", "block"]

#: Deployment targets by name, each the Core ML specification version it introduced.
TARGETS: dict[str, int] = {
    "iOS11": 1,
    "iOS11.2": 2,
    "iOS12": 3,
    "iOS13": 4,
    "iOS14": 5,
    "iOS15": 6,
    "iOS16": 7,
    "iOS17": 8,
    "iOS18": 9,
}

_FORM_WORDS: dict[type[QuantizedWeights], str] = {
    Float16Weights: "float16 values",
    LinearWeights: "linear indices with a float scale and bias",
    LUTWeights: "look-up table",
    GroupedLUTWeights: "look-up tables",
    AffineWeights: "affine integers with a scale and zero point",
}

_LAYOUT_WORDS: dict[str, str] = {
    "tensor": "per tensor",
    "channel": "per channel",
    "grouped_channel": "per grouped channel",
    "block": "per block",
}


def target_name(version: int) -> str:
    """``9`` -> ``iOS18 (specification 9)``: a specification version as people name it."""
    names = [name for name, number in TARGETS.items() if number == version]
    return f"{names[0]} (specification {version})" if names else f"specification {version}"


def spec_version(target: str | int) -> int:
    """The specification version of a target given by name (``"iOS17"``) or number.

    Raises:
        SettingsError: An unknown name, or a number that is not a specification version.
    """
    if isinstance(target, int) and not isinstance(target, bool) and target >= 1:
        return target
    if isinstance(target, str):
        for name, number in TARGETS.items():
            if name.lower() == target.strip().lower():
                return number
    msg = f"unknown deployment target {target!r}; known targets: {', '.join(TARGETS)} (or a specification version >= 1)"
    raise SettingsError(msg)


def layout_of(form: QuantizedWeights) -> Layout | None:
    """How ``form``'s parameters spread: ``tensor``, ``channel``, ``grouped_channel`` or ``block``.

    Returns None for a layout no format stores: grouped tables whose group size does not
    divide the channels, or blocks that do not tile the tensor evenly in a single way.
    """
    if isinstance(form, LinearWeights):
        return "tensor" if len(form.scale) == 1 else "channel"
    if isinstance(form, GroupedLUTWeights):
        return "grouped_channel" if form.shape[form.axis] % form.group_size == 0 else None
    if isinstance(form, AffineWeights):
        spread = [i for i, n in enumerate(form.scale.shape) if n > 1]
        if not spread:
            return "tensor"
        if len(spread) == 1 and form.block_shape[spread[0]] == 1:
            return "channel"
        return "block"
    return "tensor"


def describe(form: QuantizedWeights) -> str:
    """``form`` in words for messages: ``3-bit look-up tables per group of 16 channels``."""
    words = _FORM_WORDS.get(type(form), type(form).__name__)
    if isinstance(form, Float16Weights):
        return words
    layout = layout_of(form)
    if isinstance(form, GroupedLUTWeights):
        where = f"one per group of {form.group_size} channels along axis {form.axis}"
        if layout is None:
            where += f" (which does not divide the {form.shape[form.axis]} channels)"
    elif isinstance(form, AffineWeights) and layout == "block":
        split = [axis for axis, size in enumerate(form.block_shape) if size > 1 and form.scale.shape[axis] > 1]
        runs = [f"{form.block_shape[axis]} values along axis {axis}" for axis in split]
        where = "per block of " + (" and ".join(runs) or "one value")
    else:
        where = _LAYOUT_WORDS.get(layout or "", "with an uneven layout")
    return f"{form.nbits}-bit {words} {where}"


def _widths(values: Iterable[int]) -> frozenset[int]:
    return frozenset(values)


def _layouts(values: Iterable[Layout]) -> frozenset[Layout]:
    return frozenset(values)


@attrs.frozen
class Allowance:
    """One kind of quantized weights a format stores, and the target from which it can."""

    form: type[QuantizedWeights]
    """The form's class."""
    nbits: frozenset[int] = attrs.field(converter=_widths)
    """The widths it stores."""
    layouts: frozenset[Layout] = attrs.field(converter=_layouts)
    """The layouts it stores (see :func:`layout_of`)."""
    target: int
    """The lowest specification version that stores it."""

    def admits(self, form: QuantizedWeights) -> bool:
        """Whether ``form`` is of this kind."""
        return type(form) is self.form and form.nbits in self.nbits and layout_of(form) in self.layouts

    def summary(self) -> str:
        """This allowance in words: ``4- and 8-bit affine integers ... per tensor or per block from iOS18``."""
        widths = ", ".join(map(str, sorted(self.nbits)))
        where = " or ".join(_LAYOUT_WORDS[layout] for layout in _LAYOUT_WORDS if layout in self.layouts)
        words = _FORM_WORDS.get(self.form, self.form.__name__)
        bits = "" if self.form is Float16Weights else f"{widths}-bit "
        return f"{bits}{words} {where} from {target_name(self.target)}"


def _affine_flavour(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ("bias", "zero_point"):
        msg = f"StorageRules: affine must be 'bias' or 'zero_point' (got {value!r})"
        raise SettingsError(msg)


@attrs.frozen
class StorageRules:
    """What one model format can store, declared once beside the format.

    Example::

        rules.minimum_target(form)  # 9: an ML Program stores it from iOS18; None: never
        rules.explain(form)         # the same in words, with what the format does store
    """

    format: str
    """The format's name in messages: ``NeuralNetwork``, ``ML Program``."""
    affine: Literal["bias", "zero_point"] = attrs.field(validator=_affine_flavour)
    """Which affine flavour :class:`~mlquant.LinearQuantizer` produces for this format: ``bias``
    (:class:`~mlquant.LinearWeights`) or ``zero_point`` (:class:`~mlquant.AffineWeights`)."""
    allowances: tuple[Allowance, ...]
    """Every kind of quantized weights the format stores."""

    def minimum_target(self, form: QuantizedWeights) -> int | None:
        """The lowest specification version that stores ``form``; None if this format never can."""
        targets = [allowance.target for allowance in self.allowances if allowance.admits(form)]
        return min(targets) if targets else None

    def explain(self, form: QuantizedWeights) -> str:
        """Why this format can or cannot store ``form``, naming the target that allows it.

        Example: ``the ML Program format stores 3-bit look-up tables one per group of 16 channels from
        iOS18 (specification 9)``, or, for a form it cannot store, what it does store instead.
        """
        target = self.minimum_target(form)
        what = describe(form)
        if target is not None:
            return f"{self._article()} stores {what} from {target_name(target)}"
        relevant = [a.summary() for a in self.allowances if a.form is type(form)]
        instead = f"; it stores {'; '.join(relevant)}" if relevant else f"; it stores no {type(form).__name__} at all"
        return f"{self._article()} cannot store {what}{instead}"

    def _article(self) -> str:
        return f"the {self.format} format"

