"""How many quantization parameter sets a tensor gets: granularity as a type, not a flag.

In the manner of torchao's ``PerTensor``/``PerAxis``/``PerGroup``:

* :class:`PerTensor`: one scale (or one look-up table) for the whole tensor;
* :class:`PerChannel`: one per output channel;
* :class:`PerGroupedChannel`: one per group of ``group_size`` consecutive output channels;
* :class:`PerBlock`: one per block of ``block_size`` consecutive values along the input axis,
  within each output channel.

``axis=None`` means the weight's own output-channel axis (``WeightInfo.channel_axis``). What
each model format can store is declared beside the format, not here.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import attrs

from ..errors import SettingsError

__all__ = ["Granularity", "PerBlock", "PerChannel", "PerGroupedChannel", "PerTensor", "resolve_axis"]


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"{type(instance).__name__}: {attribute.name} must be a whole number >= 1 (got {value!r})"
        raise SettingsError(msg)


def _optional_axis(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        msg = f"{type(instance).__name__}: {attribute.name} must be an axis number or None (got {value!r})"
        raise SettingsError(msg)


@attrs.frozen
class PerTensor:
    """One set of parameters for the whole tensor."""

    @property
    def suffix(self) -> str:
        """What this granularity adds to a quantizer's name: nothing."""
        return ""


@attrs.frozen
class PerChannel:
    """One set of parameters per output channel."""

    axis: int | None = attrs.field(default=None, validator=_optional_axis)
    """The channel axis; None for the weight's output-channel axis."""

    @property
    def suffix(self) -> str:
        """What this granularity adds to a quantizer's name: nothing (it is the linear default)."""
        return ""


@attrs.frozen
class PerGroupedChannel:
    """One set of parameters per group of ``group_size`` consecutive output channels."""

    group_size: int = attrs.field(validator=_positive)
    """Channels per group; the last group may be smaller when it does not divide the channels."""
    axis: int | None = attrs.field(default=None, validator=_optional_axis)
    """The channel axis; None for the weight's output-channel axis."""

    @property
    def suffix(self) -> str:
        """What this granularity adds to a quantizer's name, e.g. ``_g16``."""
        return f"_g{self.group_size}"


@attrs.frozen
class PerBlock:
    """One set of parameters per block of ``block_size`` values along the input axis, per output channel."""

    block_size: int = attrs.field(validator=_positive)
    """Values per block along the input axis."""
    axis: int | None = attrs.field(default=None, validator=_optional_axis)
    """The output-channel axis; None for the weight's own. Blocks run along the next axis."""

    @property
    def suffix(self) -> str:
        """What this granularity adds to a quantizer's name, e.g. ``_b32``."""
        return f"_b{self.block_size}"


#: Any of the granularity types.
Granularity: TypeAlias = PerTensor | PerChannel | PerGroupedChannel | PerBlock


def resolve_axis(granularity: Granularity, channel_axis: int | None, ndim: int) -> int | None:
    """The concrete channel axis a granularity runs along for a tensor of rank ``ndim``.

    Returns None for :class:`PerTensor`, and for the others when neither the granularity nor
    the weight names an axis (a tensor without output channels is then one channel).
    """
    if isinstance(granularity, PerTensor):
        return None
    axis = granularity.axis if granularity.axis is not None else channel_axis
    if axis is None:
        return None
    if not -ndim <= axis < ndim:
        msg = f"{type(granularity).__name__}: axis {axis} does not exist in a rank-{ndim} tensor"
        raise SettingsError(msg)
    return axis % ndim
