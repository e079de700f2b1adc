"""NeuralNetwork layers as ONNX operators: the reference runtime's semantics, run by onnxruntime.

:func:`translate` reads the model exactly as :class:`~mlquant.runtime.Network` does (the same
input and output plans, the same layer contexts and weight reader, so a quantized model's
weights are dequantized as Core ML does) and hands each layer to its translator in
:mod:`.registry`, one module per layer family like the reference runtime's kernels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ....errors import MlquantError, SettingsError, UnsupportedLayerError
from ...neuralnetwork._base import LayerContext
from ...neuralnetwork._io import input_plans, output_plans
from ...neuralnetwork._plan import needed_layers
from ...neuralnetwork.network import _contexts, _network_model, _reader
from ...neuralnetwork.registry import KERNELS
from .._graph import Graph
from .._translated import Translated
from . import _io
from ._base import REFERENCE_HINT, Blob
from .registry import TRANSLATORS

if TYPE_CHECKING:
    from ....formats import Model

__all__ = ["TRANSLATORS", "translate"]


def translate(model: Model, *, precision: str = "model") -> Translated:
    """Translate a NeuralNetwork model (or a pipeline holding one) into an ONNX graph.

    The graph takes what :meth:`Network.run <mlquant.runtime.Network.run>` takes (raw pixels or
    arrays, batch first) and gives the same results under the same names.

    Args:
        model: The model.
        precision: ``"model"`` or ``"float32"``: both compute in float32, as Core ML's CPU
            runs a NeuralNetwork.

    Raises:
        UnsupportedLayerError: A layer (or an option of one) the translation does not cover,
            named with its type.
        SettingsError: Another precision.
    """
    if precision not in ("model", "float32"):
        msg = f"NeuralNetwork translation: precision must be 'model' or 'float32' (got {precision!r})"
        raise SettingsError(msg)
    spec = _network_model(model.spec)
    kind = spec.WhichOneof("Type")
    network = getattr(spec, kind)
    for layer in network.layers:
        which = layer.WhichOneof("layer")
        if which in KERNELS and which not in TRANSLATORS:
            msg = (f"layer '{layer.name}' ({which}): the onnxruntime backend cannot translate this "
                   f"layer type; {REFERENCE_HINT}")
            raise UnsupportedLayerError(msg)
    inputs = input_plans(spec.description, network)
    contexts = _contexts(network, _reader(model))
    produced = [name for ctx in contexts for name in ctx.outputs]
    outputs = output_plans(spec.description, network, kind, produced)
    kept = needed_layers(contexts, [p.name for p in inputs], [o.blob for o in outputs])
    g = Graph()
    blobs: dict[str, Blob] = {plan.name: _io.input_blob(g, plan) for plan in inputs}
    for ctx in kept:
        results = _layer(g, ctx, [blobs[name] for name in ctx.inputs])
        blobs.update(zip(ctx.outputs, results, strict=True))
    for plan in outputs:
        _io.output(g, plan, blobs[plan.blob])
    return Translated(
        graph=g,
        feeds=tuple(_io.feed(plan) for plan in inputs),
        outputs=tuple(plan.name for plan in outputs),
        post=_io.formatter(outputs),
    )


def _layer(g: Graph, ctx: LayerContext, inputs: list[Blob]) -> list[Blob]:
    """Translate one layer; an option left out here that the reference runtime also refuses
    fails with the reference runtime's own error."""
    try:
        results = TRANSLATORS[ctx.type](g, ctx, inputs)
    except UnsupportedLayerError:
        try:
            KERNELS[ctx.type](ctx)
        except MlquantError:
            raise
        raise
    if len(results) != len(ctx.outputs):
        raise ctx.invalid(f"a {ctx.type} layer here gives {len(results)} outputs (the layer names {len(ctx.outputs)})")
    return results
