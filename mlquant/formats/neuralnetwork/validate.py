"""A structural validator for NeuralNetwork weights.

It checks what Core ML's own validator checks of every weight before it runs a model
(``QuantizationValidationUtils.cpp`` and the per-layer checks in coremltools' ``mlmodel``
sources): exactly one storage, the value count the layer's shape needs, 1-8 bits, a look-up
table of exactly ``2**nbits`` entries, one or one-per-channel scale and bias values, and
enough ``rawValue`` bytes for ``count * nbits`` bits; and, for updatable models, the rules of
Core ML's ``UpdatableNeuralNetworkValidator`` (:func:`updatable_problems`).
:class:`~mlquant.formats.neuralnetwork.NeuralNetworkModel` refuses a model whose weights fail the
structural checks; the updatable rules are reported by :func:`problems` (a model that breaks them
still loads, so that it can be repaired).
"""

from __future__ import annotations

import math
from typing import Any

from . import layout

__all__ = ["MIN_VERSION_UPDATABLE", "UPDATABLE_LAYER_TYPES", "problems", "slot_problems", "updatable_problems"]


def problems(spec: Any) -> list[str]:
    """Return what Core ML's validator would reject in ``spec``'s weights (empty if nothing).

    Args:
        spec: A ``CoreML.Specification.Model`` holding a neural network.

    Returns:
        One message per problem, each naming the layer and field: the structural checks of every
        weight (:func:`slot_problems`), then the updatable-model rules (:func:`updatable_problems`).
    """
    return slot_problems(layout.slots(spec)) + updatable_problems(spec)


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


#: Core ML's first specification version for updatable models (iOS 13).
MIN_VERSION_UPDATABLE = 4
#: The only layer types Core ML can update on device.
UPDATABLE_LAYER_TYPES = ("convolution", "innerProduct")


def updatable_problems(spec: Any) -> list[str]:
    """What Core ML's updatable-model validator rejects in ``spec`` (empty if nothing).

    These are the checks of Core ML's ``UpdatableNeuralNetworkValidator`` and
    ``PipelineValidator`` that concern a model's layers, weights and structure: only the last
    model of a pipeline may be updatable; an updatable network needs specification version 4,
    at least one updatable layer, only convolution and innerProduct layers updatable, their
    weights and biases marked updatable and never quantized, no float16 weights anywhere
    (coremltools refuses them: Core ML would run such a model in float16, which it cannot
    update), one loss layer of a known kind with a target from outside the network, an
    optimizer with its parameters, and a number of epochs. The back-propagation check (no
    non-differentiable layer between an updatable layer and the loss) is not repeated.
    """
    found: list[str] = []
    for model in layout.models(spec):
        kind = model.WhichOneof("Type")
        if kind in layout.PIPELINE_TYPES:
            found += _pipeline_problems(model, kind)
        elif kind in layout.NETWORK_TYPES and model.isUpdatable:
            found += _network_problems(model, getattr(model, kind))
    return found


def _pipeline_problems(model: Any, kind: str) -> list[str]:
    inner = list((model.pipeline if kind == "pipeline" else getattr(model, kind).pipeline).models)
    marked = [i for i, m in enumerate(inner) if m.isUpdatable]
    if not model.isUpdatable:
        return [f"pipeline: model {i} is updatable inside a pipeline that is not" for i in marked]
    problems = [f"pipeline: only the last model may be updatable (model {i} is marked)" for i in marked if i != len(inner) - 1]
    if inner and not inner[-1].isUpdatable:
        problems.append("pipeline: the last model of an updatable pipeline must be marked updatable")
    return problems


def _network_problems(model: Any, network: Any) -> list[str]:
    problems = []
    if model.specificationVersion < MIN_VERSION_UPDATABLE:
        problems.append(f"an updatable model needs specification version {MIN_VERSION_UPDATABLE} or above "
                        f"(got {model.specificationVersion})")
    updatable = [layer for layer in network.layers if layer.isUpdatable]
    if not updatable:
        problems.append("the model is marked as updatable, but none of its layers is")
    for layer in updatable:
        kind = layer.WhichOneof("layer")
        if kind not in UPDATABLE_LAYER_TYPES:
            problems.append(f"layer '{layer.name}' ({kind}) is marked updatable; only convolution and "
                            "innerProduct layers can be")
            continue
        params = getattr(layer, kind)
        fields = [("weights", params.weights)] + ([("bias", params.bias)] if params.hasBias else [])
        if any(wp.HasField("quantization") for _, wp in fields):
            problems.append(f"an updatable layer, named '{layer.name}', has quantized weights/bias; Core ML "
                            "does not update quantized weights")
        if not all(wp.isUpdatable for _, wp in fields):
            problems.append(f"an updatable layer, named '{layer.name}', has a weight/bias not marked as updatable")
    half = [slot.where for slot in layout.slots(model) if len(slot.params.float16Value)]
    if half:
        problems.append(f"an updatable model cannot hold float16 weights ({half[0]}"
                        + (f" and {len(half) - 1} more" if len(half) > 1 else "") + ")")
    return problems + _training_problems(network)


def _training_problems(network: Any) -> list[str]:
    update = network.updateParams
    problems = []
    losses = list(update.lossLayers)
    if len(losses) != 1:
        problems.append(f"an updatable network needs exactly one loss layer (got {len(losses)})")
    produced = {name for layer in network.layers for name in layer.output}
    names = [layer.name for layer in network.layers] + [loss.name for loss in losses]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"the updatable model has more than one layer or loss layer named '{name}'")
    softmax_outputs = {layer.output[0] for layer in network.layers if layer.WhichOneof("layer") == "softmax"}
    for loss in losses:
        kind = loss.WhichOneof("LossLayerType")
        if kind == "categoricalCrossEntropyLossLayer":
            params = loss.categoricalCrossEntropyLossLayer
            if params.input not in softmax_outputs:
                problems.append(f"loss layer '{loss.name}': its input is not the output of a softmax layer")
        elif kind == "meanSquaredErrorLossLayer":
            params = loss.meanSquaredErrorLossLayer
            if params.input not in produced:
                problems.append(f"loss layer '{loss.name}': its input is not computed inside the network")
        else:
            problems.append(f"loss layer '{loss.name}': only cross-entropy and mean squared error losses are supported")
            continue
        if params.target in produced:
            problems.append(f"loss layer '{loss.name}': its target is computed inside the network")
    optimizer = update.optimizer.WhichOneof("OptimizerType")
    required = {"sgdOptimizer": ("learningRate", "miniBatchSize"),
                "adamOptimizer": ("learningRate", "miniBatchSize", "beta1", "beta2", "eps")}
    if optimizer not in required:
        problems.append("an updatable network needs an SGD or Adam optimizer")
    else:
        chosen = getattr(update.optimizer, optimizer)
        problems += [f"the optimizer needs a {name} parameter" for name in required[optimizer] if not chosen.HasField(name)]
        if chosen.HasField("miniBatchSize") and chosen.miniBatchSize.defaultValue <= 0:
            problems.append(f"miniBatchSize must be positive (got {chosen.miniBatchSize.defaultValue})")
    if not update.HasField("epochs") or update.epochs.defaultValue <= 0:
        problems.append("an updatable network needs a positive number of epochs")
    return problems
