"""The executor: a NeuralNetwork spec as a list of numpy kernels, run in layer order."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import InvalidModelError, MlquantError, UnsupportedLayerError, UnsupportedModelError
from ...formats.neuralnetwork import codec, layout
from .._failures import as_internal
from .._feeds import check_feeds
from .._kernels.parallel import map_chunks
from .._observing import Observer
from ._base import LayerContext
from ._io import InputPlan, OutputPlan, input_plans, output_plans
from ._plan import Step, mixes_batch, plan
from .observe import Unfolder, unfolder
from .registry import KERNELS

if TYPE_CHECKING:
    from ...formats import Model

__all__ = ["Network", "Observer"]

#: Feed bytes per chunk: a batch runs through the whole network a few items at a time, so each
#: layer's output is still in cache when the next layer reads it.
_CHUNK_BYTES = 1 << 20


class Network:
    """A numpy executor of a Core ML NeuralNetwork model: Core ML's arithmetic on any platform.

    Construction reads every layer once and builds one kernel per layer, so a model the
    runtime cannot run fails here, before any input is processed. Weights come from
    :meth:`mlquant.Model.read`, so a quantized model runs with its dequantized weights.

    Args:
        model: The model to run: a neural network, or a pipeline holding exactly one.
        float16: Round every layer's output (and the preprocessed inputs) to half precision,
            approximating Core ML on the GPU or Neural Engine.

    Raises:
        UnsupportedLayerError: A layer the runtime cannot execute (custom, control flow,
            recurrent, rank-N layers...); the message names the layer and its type.
        UnsupportedModelError: A pipeline without exactly one neural network, or an input
            that is neither an image nor a rank-1 or rank-3 multi-array.
        InvalidModelError: Layers that read blobs no earlier layer or input defines, or
            parameters that contradict the format.
    """

    def __init__(self, model: Model, float16: bool = False) -> None:
        spec = _network_model(model.spec)
        kind = spec.WhichOneof("Type")
        network = getattr(spec, kind)
        self._float16 = bool(float16)
        self._inputs: tuple[InputPlan, ...] = input_plans(spec.description, network)
        contexts = _contexts(network, _reader(model))
        produced = [name for ctx in contexts for name in ctx.outputs]
        self._outputs: tuple[OutputPlan, ...] = output_plans(spec.description, network, kind, produced)
        self._steps = plan(contexts, [p.name for p in self._inputs], [o.blob for o in self._outputs])
        self._chunked = not any(mixes_batch(ctx) for ctx in contexts)
        running = {step.name for step in self._steps}
        found = (unfolder(ctx) for ctx in contexts if ctx.name in running)
        self._unfolders = {u.layer: u for u in found if u is not None}

    def __repr__(self) -> str:
        precision = "float16" if self._float16 else "float32"
        return (
            f"<Network {len(self._steps)} layers, {precision}, inputs {list(self.input_names)}, "
            f"outputs {list(self.output_names)}>"
        )

    @property
    def input_names(self) -> tuple[str, ...]:
        """The names :meth:`run` expects in its feeds, in the model's order."""
        return tuple(plan.name for plan in self._inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        """The names of the results :meth:`run` returns, in the model's order."""
        return tuple(plan.name for plan in self._outputs)

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the network on a batch.

        Args:
            feeds: One batch-first array per input: ``(B, C, H, W)`` raw pixel values (0-255,
                in the declared channel order) for an image input, ``(B, *shape)`` for a
                multi-array input. The network applies the model's preprocessing itself.

        Returns:
            One float32 array per name in :attr:`output_names`, batch first: a classifier's
            probabilities as ``(B, classes)`` in label order, other outputs as
            ``(B, *declared shape)`` or ``(B, C, H, W)``.

        Raises:
            DataError: Feeds missing, unknown, of the wrong shape, or of different batch sizes.
        """
        return self._run(feeds, None)

    @property
    def observed(self) -> dict[str, Unfolder]:
        """The weight layers :meth:`observe` reports, by name, with their groups and depth."""
        return dict(self._unfolders)

    def observe(self, feeds: Mapping[str, np.ndarray], observer: Observer) -> dict[str, np.ndarray]:
        """Run the network like :meth:`run`, handing each weight layer's input to ``observer`` first.

        For every layer in :attr:`observed` (convolutions and inner products), ``observer`` gets
        the layer's name and its input unfolded into the rows its weight matrix meets, float32
        ``(groups, rows, depth)`` in the weight's column order (see :mod:`.observe`). It is called
        from one thread, chunk after chunk in batch order, so what it accumulates does not depend
        on timing; it must not keep the array.

        Returns:
            What :meth:`run` returns.
        """
        return self._run(feeds, observer)

    def _run(self, feeds: Mapping[str, np.ndarray], observer: Observer | None) -> dict[str, np.ndarray]:
        checked = self._check(feeds)
        batch = next(iter(checked.values())).shape[0] if checked else 1
        size = batch if not self._chunked else max(1, min(batch, self._chunk_items(checked)))
        chunks = [
            {name: x[start : start + size] for name, x in checked.items()} for start in range(0, batch, size)
        ]
        parts = map_chunks(functools.partial(self._execute, observer=observer), chunks, threads=observer is None)
        if len(parts) == 1:
            return parts[0]
        return {name: np.concatenate([part[name] for part in parts]) for name in self.output_names}

    def _chunk_items(self, checked: Mapping[str, np.ndarray]) -> int:
        """Items per chunk: as many as keep each chunk's feeds within ``_CHUNK_BYTES``."""
        per_item = sum(x[0].nbytes for x in checked.values())
        return _CHUNK_BYTES // max(1, per_item)

    def _execute(self, feeds: Mapping[str, np.ndarray], observer: Observer | None = None) -> dict[str, np.ndarray]:
        """Run every step on one chunk of checked feeds (showing weight layers' inputs to ``observer``)."""
        env = {plan.name: plan.prepare(feeds[plan.name], self._float16) for plan in self._inputs}
        for step in self._steps:
            args = [env[name] for name in step.inputs]
            if observer is not None and step.name in self._unfolders:
                observer(step.name, self._unfolders[step.name](args[0]))
            try:
                results = step.kernel(args)
            except MlquantError:
                raise
            except Exception as error:  # a kernel bug: say which step, keep the cause
                raise as_internal(error, _failed_on(step, args)) from error
            for name, value in zip(step.outputs, results, strict=True):
                env[name] = value.astype(np.float16).astype(np.float32) if self._float16 else value
            for name in step.release:
                del env[name]
        return {plan.name: plan.format(env[plan.blob]) for plan in self._outputs}

    def _check(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        plans = {plan.name: plan for plan in self._inputs}
        return check_feeds(feeds, self.input_names, lambda name, feed: plans[name].check(feed))


def _network_model(spec: Any) -> Any:
    """The model spec holding the network: ``spec`` itself, or the one network of a pipeline."""
    found = layout.network_models(spec)
    if len(found) == 1:
        return found[0]
    msg = f"the reference runtime runs pipelines holding exactly one neural network (this one holds {len(found)})"
    raise UnsupportedModelError(msg)


def _reader(model: Model):
    """A weight reader: listed weights through ``model.read``, others decoded directly."""
    listed = {(info.layer, info.field): info for info in model.weights if info.network == 0}

    def read(layer: str, layer_type: str, field: str, wp: Any, shape: tuple[int, ...]) -> np.ndarray:
        info = listed.get((layer, field))
        if info is None:
            values = codec.decode(wp, shape, None, f"layer '{layer}' ({layer_type}) {field}")
            values.setflags(write=False)
            return values
        values = model.read(info)
        if values.shape != shape:
            if values.size != int(np.prod(shape)):
                msg = f"layer '{layer}' ({layer_type}) {field}: expected shape {shape} (got {values.shape})"
                raise InvalidModelError(msg)
            values = values.reshape(shape)
        return values

    return read


def _contexts(network: Any, read: Any) -> list[LayerContext]:
    """Every layer's build context, in order; a layer type without a kernel fails here."""
    built = []
    for layer in network.layers:
        kind = layer.WhichOneof("layer")
        if kind not in KERNELS:
            detail = f" (class {layer.custom.className})" if kind == "custom" else ""
            known = ", ".join(sorted(KERNELS))
            msg = (
                f"layer '{layer.name}' ({kind or 'no type'}){detail}: the reference runtime cannot "
                f"run this layer type (it runs {known})"
            )
            raise UnsupportedLayerError(msg)
        ctx = LayerContext(
            name=layer.name,
            type=kind,
            params=getattr(layer, kind),
            inputs=tuple(layer.input),
            outputs=tuple(layer.output),
            read=functools.partial(read, layer.name, kind),
        )
        built.append(ctx)
    return built


def _failed_on(step: Step, args: list[np.ndarray]) -> str:
    """How an unexpected failure of ``step`` on ``args`` is described."""
    shapes = ", ".join(str(a.shape) for a in args)
    return f"layer '{step.name}' ({step.type}) failed on inputs of shape {shapes}"
