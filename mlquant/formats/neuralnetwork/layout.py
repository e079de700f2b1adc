"""Where a NeuralNetwork model keeps its weights.

This is the one module that knows the layout of the NeuralNetwork protobuf format: which model
types hold a network (also inside pipelines), which layers carry ``WeightParams``, and each
weight's shape and output-channel axis, from the layer's own parameters as
``NeuralNetwork.proto`` defines them. Everything above it works on :class:`Slot` values.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import attrs

from ...errors import InvalidModelError, UnsupportedModelError

NETWORK_TYPES = ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor")
PIPELINE_TYPES = ("pipeline", "pipelineClassifier", "pipelineRegressor")

#: Layer types whose weights Core ML accepts in quantized form.
QUANTIZABLE_LAYER_TYPES = (
    "batchedMatmul",
    "batchnorm",
    "bias",
    "biDirectionalLSTM",
    "convolution",
    "embedding",
    "embeddingND",
    "gru",
    "innerProduct",
    "loadConstant",
    "loadConstantND",
    "scale",
    "simpleRecurrent",
    "uniDirectionalLSTM",
)

#: Core ML's minimum specification versions (iOS 11.2 for float16, iOS 12 for 1-8 bits).
MIN_VERSION_FLOAT16 = 2
MIN_VERSION_QUANTIZED = 3

_LSTM_MATRICES = ("inputGate", "forgetGate", "blockInput", "outputGate")
_GRU_MATRICES = ("updateGate", "resetGate", "outputGate")


@attrs.frozen
class Slot:
    """One ``WeightParams`` message in a model, with what its layer says about it."""

    network: int
    """Index of the network in the model (pipelines can hold several)."""
    layer: str
    """The layer's name."""
    layer_type: str
    """The layer's type, as named in ``NeuralNetwork.proto`` (``convolution``, ``gru``...)."""
    field: str
    """The weight's field in the layer, e.g. ``weights``, ``bias``, ``weightParams[1].inputGateBiasVector``."""
    shape: tuple[int, ...]
    """The tensor's shape, derived from the layer's parameters."""
    channel_axis: int | None
    """The axis per-output-channel linear parameters run along; None if the tensor has none."""
    is_bias: bool
    """Whether the weight is an additive bias vector of a larger layer."""
    updatable: bool
    """Whether the layer is trained on device (``isUpdatable`` on the layer and its model)."""
    params: Any = attrs.field(eq=False, repr=False)
    """The ``WeightParams`` message itself."""

    @property
    def count(self) -> int:
        """Number of values the layer expects."""
        return math.prod(self.shape)

    @property
    def where(self) -> str:
        """How error messages name this weight."""
        return f"layer '{self.layer}' ({self.layer_type}) {self.field}"


def models(spec: Any) -> Iterator[Any]:
    """Yield ``spec`` and every model inside its pipelines (depth first, in pipeline order)."""
    yield spec
    kind = spec.WhichOneof("Type")
    if kind in PIPELINE_TYPES:
        pipeline = spec.pipeline if kind == "pipeline" else getattr(spec, kind).pipeline
        for inner in pipeline.models:
            yield from models(inner)


def network_models(spec: Any) -> list[Any]:
    """Every model message in ``spec`` that holds a neural network, in pipeline order.

    Raises:
        UnsupportedModelError: The model (or a model in its pipeline) holds no neural network.
    """
    found = [model for model in models(spec) if model.WhichOneof("Type") in NETWORK_TYPES]
    if found:
        return found
    kind = spec.WhichOneof("Type")
    if kind in PIPELINE_TYPES:
        inner = ", ".join(m.WhichOneof("Type") or "empty" for m in list(models(spec))[1:]) or "none"
        msg = f"the {kind} holds no neural network (its models: {inner})"
    else:
        msg = (
            f"mlquant works on NeuralNetwork models ({', '.join(NETWORK_TYPES)}, or a pipeline "
            f"holding one); this model's type is {kind or 'empty'}"
        )
    raise UnsupportedModelError(msg)


def networks(spec: Any) -> list[Any]:
    """Every NeuralNetwork message in ``spec``, in pipeline order (see :func:`network_models`)."""
    return [getattr(model, model.WhichOneof("Type")) for model in network_models(spec)]


def layers(network: Any) -> Iterator[Any]:
    """Yield every layer of ``network``, descending into branch and loop bodies."""
    for layer in network.layers:
        yield layer
        kind = layer.WhichOneof("layer")
        if kind == "branch":
            yield from layers(layer.branch.ifBranch)
            yield from layers(layer.branch.elseBranch)
        elif kind == "loop":
            yield from layers(layer.loop.conditionNetwork)
            yield from layers(layer.loop.bodyNetwork)


def slots(spec: Any) -> list[Slot]:
    """Return every non-empty weight in ``spec`` in a fixed order (the same for any copy)."""
    found = []
    for index, model in enumerate(network_models(spec)):
        network = getattr(model, model.WhichOneof("Type"))
        for layer in layers(network):
            kind = layer.WhichOneof("layer")
            if kind is None:
                msg = f"layer {layer.name!r} has no layer type (an empty or corrupted layer)"
                raise InvalidModelError(msg)
            for field, wp, shape, axis, is_bias in _fields(kind, getattr(layer, kind)):
                if _is_empty(wp):
                    continue
                updatable = bool(model.isUpdatable and layer.isUpdatable)
                found.append(Slot(index, layer.name, kind, field, shape, axis, is_bias, updatable, wp))
    return found


def _is_empty(wp: Any) -> bool:
    return not (len(wp.floatValue) or wp.float16Value or wp.rawValue or wp.int8RawValue)


_Field = tuple[str, Any, tuple[int, ...], int | None, bool]


def _fields(kind: str | None, p: Any) -> Iterator[_Field]:
    """Yield ``(field, WeightParams, shape, channel_axis, is_bias)`` for one layer's weights."""
    if kind == "convolution":
        kh, kw = list(p.kernelSize) or [3, 3]
        groups = p.nGroups or 1
        if p.isDeconvolution:
            shape = (p.kernelChannels, p.outputChannels // groups, kh, kw)
            yield "weights", p.weights, shape, (1 if groups == 1 else None), False
        else:
            yield "weights", p.weights, (p.outputChannels, p.kernelChannels, kh, kw), 0, False
        if p.hasBias:
            yield "bias", p.bias, (p.outputChannels,), None, True
    elif kind == "innerProduct":
        yield "weights", p.weights, (p.outputChannels, p.inputChannels), 0, False
        if p.hasBias:
            yield "bias", p.bias, (p.outputChannels,), None, True
    elif kind == "batchedMatmul":
        rows, cols = p.weightMatrixSecondDimension, p.weightMatrixFirstDimension
        yield "weights", p.weights, (rows, cols), 0, False
        if p.hasBias:
            yield "bias", p.bias, (rows,), None, True
    elif kind == "embedding":
        yield "weights", p.weights, (p.outputChannels, p.inputDim), 0, False
        if p.hasBias:
            yield "bias", p.bias, (p.outputChannels,), None, True
    elif kind == "embeddingND":
        yield "weights", p.weights, (p.embeddingSize, p.vocabSize), 0, False
        if p.hasBias:
            yield "bias", p.bias, (p.embeddingSize,), None, True
    elif kind == "batchnorm":
        for name in ("gamma", "beta", "mean", "variance"):
            yield name, getattr(p, name), (p.channels,), None, False
    elif kind == "scale":
        yield "scale", p.scale, tuple(p.shapeScale) or (1,), None, False
        if p.hasBias:
            yield "bias", p.bias, tuple(p.shapeBias) or (1,), None, True
    elif kind == "bias":
        yield "bias", p.bias, tuple(p.shape) or (1,), None, False
    elif kind in {"loadConstant", "loadConstantND"}:
        yield "data", p.data, tuple(p.shape), None, False
    elif kind == "simpleRecurrent":
        i, o = p.inputVectorSize, p.outputVectorSize
        yield "weightMatrix", p.weightMatrix, (o, i), 0, False
        yield "recursionMatrix", p.recursionMatrix, (o, o), 0, False
        if p.hasBiasVector:
            yield "biasVector", p.biasVector, (o,), None, True
    elif kind == "gru":
        i, o = p.inputVectorSize, p.outputVectorSize
        for gate in _GRU_MATRICES:
            yield f"{gate}WeightMatrix", getattr(p, f"{gate}WeightMatrix"), (o, i), 0, False
            yield f"{gate}RecursionMatrix", getattr(p, f"{gate}RecursionMatrix"), (o, o), 0, False
        if p.hasBiasVectors:
            for gate in _GRU_MATRICES:
                yield f"{gate}BiasVector", getattr(p, f"{gate}BiasVector"), (o,), None, True
    elif kind == "uniDirectionalLSTM":
        yield from _lstm_fields("weightParams", p.weightParams, p)
    elif kind == "biDirectionalLSTM":
        for index, wp in enumerate(p.weightParams):
            yield from _lstm_fields(f"weightParams[{index}]", wp, p)


def _lstm_fields(prefix: str, w: Any, p: Any) -> Iterator[_Field]:
    i, o = p.inputVectorSize, p.outputVectorSize
    for gate in _LSTM_MATRICES:
        yield f"{prefix}.{gate}WeightMatrix", getattr(w, f"{gate}WeightMatrix"), (o, i), 0, False
        yield f"{prefix}.{gate}RecursionMatrix", getattr(w, f"{gate}RecursionMatrix"), (o, o), 0, False
    if p.params.hasBiasVectors:
        for gate in _LSTM_MATRICES:
            yield f"{prefix}.{gate}BiasVector", getattr(w, f"{gate}BiasVector"), (o,), None, True
    if p.params.hasPeepholeVectors:
        for gate in ("inputGate", "forgetGate", "outputGate"):
            yield f"{prefix}.{gate}PeepholeVector", getattr(w, f"{gate}PeepholeVector"), (o,), None, False
