"""A structural validator for NeuralNetwork weights.

It checks what Core ML's own validator checks of every weight before it runs a model
(``QuantizationValidationUtils.cpp`` and the per-layer checks in coremltools' ``mlmodel``
sources): exactly one storage, the value count the layer's shape needs, 1-8 bits, a look-up
table of exactly ``2**nbits`` entries, one or one-per-channel scale and bias values, and
enough ``rawValue`` bytes for ``count * nbits`` bits. :class:`~mlquant.Model` runs it on every
model it builds, read or written, so a model mlquant saves passes it.
"""

from __future__ import annotations

import math
from typing import Any

from . import layout

__all__ = ["problems"]


def problems(spec: Any) -> list[str]:
    """Return what is structurally wrong with the weights of ``spec`` (empty if nothing).

    Args:
        spec: A ``CoreML.Specification.Model`` holding a neural network.

    Returns:
        One message per problem, each naming the layer and field.
    """
    return slot_problems(layout.slots(spec))


def slot_problems(slots: list[layout.Slot]) -> list[str]:
    """:func:`problems` for weights already enumerated."""
    found: list[str] = []
    for slot in slots:
        problem = _problem(slot)
        if problem:
            found.append(f"{slot.where}: {problem}")
    return found


def _problem(slot: layout.Slot) -> str | None:
    wp = slot.params
    stored = [
        name
        for name, present in (
            ("floatValue", len(wp.floatValue)),
            ("float16Value", len(wp.float16Value)),
            ("rawValue", len(wp.rawValue)),
            ("int8RawValue", len(wp.int8RawValue)),
        )
        if present
    ]
    if len(stored) > 1:
        return f"holds more than one storage ({', '.join(stored)}); expected exactly one"
    count = slot.count
    if stored == ["floatValue"] and len(wp.floatValue) != count:
        return f"the layer's shape {slot.shape} needs {count} values (got {len(wp.floatValue)})"
    if stored == ["float16Value"] and len(wp.float16Value) != 2 * count:
        return f"the layer's shape {slot.shape} needs {2 * count} float16 bytes (got {len(wp.float16Value)})"
    if stored == ["int8RawValue"]:
        if len(wp.int8RawValue) != count:
            return f"int8 storage needs {count} bytes (got {len(wp.int8RawValue)})"
        return _linear_problem(wp.quantization.linearQuantization, _channels(slot))
    if stored == ["rawValue"]:
        return _quantized_problem(wp, slot)
    return None


def _channels(slot: layout.Slot) -> int:
    if slot.channel_axis is not None:
        return int(slot.shape[slot.channel_axis])
    return slot.count if len(slot.shape) == 1 else 1


def _quantized_problem(wp: Any, slot: layout.Slot) -> str | None:
    quant = wp.quantization
    kind = quant.WhichOneof("QuantizationType")
    if kind is None:
        return "has rawValue bytes but no linear or look-up-table quantization parameters"
    nbits = int(quant.numberOfBits)
    if not 1 <= nbits <= 8:
        return f"quantized weights need 1-8 bits (got {nbits})"
    needed = math.ceil(slot.count * nbits / 8)
    if len(wp.rawValue) < needed:
        return f"{slot.count} {nbits}-bit values need {needed} rawValue bytes (got {len(wp.rawValue)})"
    if kind == "lookupTableQuantization":
        entries = len(quant.lookupTableQuantization.floatValue)
        if entries != 2**nbits:
            return f"a {nbits}-bit look-up table needs exactly {2**nbits} entries (got {entries})"
        return None
    return _linear_problem(quant.linearQuantization, _channels(slot))


def _linear_problem(linear: Any, channels: int) -> str | None:
    scales, biases = len(linear.scale), len(linear.bias)
    if scales not in {1, channels}:
        return f"linear quantization needs 1 or {channels} scale values (got {scales})"
    if biases not in {0, scales}:
        return f"linear quantization needs 0 or {scales} bias values to match its scales (got {biases})"
    return None
