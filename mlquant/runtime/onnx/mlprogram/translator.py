"""An ML Program's main function as one ONNX graph: the reference runtime's reading, op by op.

:func:`translate` reads the program exactly as :class:`~mlquant.runtime.MILProgram` does
(:func:`~mlquant.runtime.mlprogram._build.build`: constants from ``model.const_value``, so
``constexpr_*`` weights arrive decompressed; operations on constants folded; relu and clip
folded into the convolution before them; the batch decision), then hands each remaining
operation to its translator in :data:`~.registry.TRANSLATORS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from ....errors import SettingsError, UnsupportedLayerError
from ..._failures import unexpected_as_internal
from ...mlprogram._build import EXACT, Interface, build, compute_dtype, interface, releases
from ...mlprogram.misc import class_labels, predicted
from .._graph import Graph
from .._translated import Feed, Translated
from ._op import Op, Unbatchable
from .registry import TRANSLATORS

__all__ = ["translate"]

_HINT = "use the reference backend (--backend reference)"


@attrs.frozen
class _Labels:
    """Derives each ``classify`` operation's labels from its probabilities, as the reference kernel does."""

    classifiers: Mapping[str, tuple[str, np.ndarray]] = attrs.field(repr=False)
    """Label output name -> (probabilities output name, the class labels)."""

    def __call__(self, results: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = dict(results)
        for name, (probabilities, labels) in self.classifiers.items():
            out[name] = predicted(labels, results[probabilities])
        return out


def translate(model: Any, *, precision: str = "model") -> Translated:
    """Translate an ML Program's main function into an ONNX graph taking feeds batch first.

    Args:
        model: An ML Program (``program``, ``function_name``, ``const_value``).
        precision: ``"model"`` rounds every result the program declares as fp16 (and fp16
            inputs) to half precision, as ``MILProgram(precision="program")`` does;
            ``"float32"`` computes everything in float32.

    Returns:
        The graph, its feeds and outputs (named and shaped as ``MILProgram.run`` returns them);
        ``batched`` is False where the reference runtime runs the program item by item.

    Raises:
        UnsupportedLayerError: An operation the translation (or the reference runtime) does not cover.
        SettingsError: An unknown precision.
    """
    if precision not in ("model", "float32"):
        msg = f"translate: precision must be 'model' or 'float32' (got {precision!r})"
        raise SettingsError(msg)
    read = interface(model)
    try:
        return _translate(model, read, precision == "model", read.layout == "one")
    except Unbatchable:  # as the reference runtime, when a result shows the batch left axis 0
        return _translate(model, read, precision == "model", False)


def _translate(model: Any, read: Interface, round16: bool, batch_ones: bool) -> Translated:
    """The translation, taking the declared leading 1 for the batch if ``batch_ones``."""
    outputs = tuple(read.block.outputs)
    shapes = {name: shape for name, (_, shape) in read.inputs.items()}
    built = build(read.block, model, shapes, round16, batch_ones, set(outputs))
    steps = releases(built.steps, set(outputs))
    batched = read.layout == "native" or (batch_ones and built.batch_reason is None)
    stack = read.layout == "stack"
    graph = Graph(f"mlquant {model.function_name}")
    env: dict[str, tuple[str, np.dtype]] = {}
    feeds = []
    for name, (dtype, shape) in read.inputs.items():
        kept = np.dtype(compute_dtype(dtype) or dtype)
        item = tuple(shape) if stack else tuple(shape[1:])
        value = graph.input(name, kept, ["B", *item])
        if stack:
            value = graph.one("Squeeze", [value, graph.constant([0], np.int64)])
        if round16 and dtype == np.float16:
            value = graph.round_fp16(value)
        env[name] = (value, kept)
        feeds.append(Feed(name, kept, item))
    batch = _Batch(graph, feeds[0].name if feeds else "")
    classifiers: dict[str, tuple[str, np.ndarray]] = {}
    for step in steps:
        translator = TRANSLATORS.get(step.type)
        where = f"operation '{step.name}' ({step.type})"
        if translator is None:
            msg = f"{where}: the ONNX translation does not cover this operation type; {_HINT}"
            raise UnsupportedLayerError(msg)
        op = Op(graph, step, env, batch)
        try:
            with unexpected_as_internal(f"{where}: translating it failed", passing=(Unbatchable,)):
                results = translator(op)
        except UnsupportedLayerError as error:
            msg = f"{error}; {_HINT}"
            raise UnsupportedLayerError(msg) from None
        if step.type == "classify":
            assert step.context is not None
            labels: np.ndarray = np.asarray(class_labels(step.context))
            classifiers[step.outputs[0].name] = (step.outputs[1].name, labels)
        for out, value in zip(step.outputs, results, strict=True):
            if not value:
                continue
            if round16 and out.dtype == np.float16 and step.type not in EXACT:
                value = graph.round_fp16(value)
            env[out.name] = (value, op.out_dtype(step.outputs.index(out)))
    declared: dict[str, tuple[str, tuple[int | None, ...] | None]] = {
        o.name: (s.type, o.shape) for s in steps for o in s.outputs
    }
    wanted = list(outputs)
    for label, (probabilities, _) in classifiers.items():
        if label in outputs and probabilities not in outputs:
            wanted.append(probabilities)  # post reads the labels from them
    for name in wanted:
        if name in classifiers:
            continue
        if name in env:
            value, dtype = env[name]
        else:
            value, dtype = _constant_output(graph, built.constants[name], batch)
        kind, declared_shape = declared.get(name, ("const", None))  # a constant output has no step
        leading = (declared_shape or (0,))[0]
        if stack or (not batched and kind != "classify" and name in declared and leading != 1):
            value = graph.one("Unsqueeze", [value, graph.constant([0], np.int64)])
        graph.one("Identity", [value], name)
        graph.output(name, dtype)
    return Translated(graph, tuple(feeds), outputs, batched, _Labels(classifiers) if classifiers else None)


class _Batch:
    """The batch size of a run, as a one-element int64 value (one ``Shape`` node, built when first asked)."""

    def __init__(self, graph: Graph, feed: str) -> None:
        self._graph, self._feed, self._value = graph, feed, ""

    def __call__(self) -> str:
        if not self._value:
            self._value = self._graph.one("Shape", [self._feed], start=0, end=1)
        return self._value


def _constant_output(graph: Graph, value: np.ndarray, batch: _Batch) -> tuple[str, np.dtype]:
    """An output that does not depend on the inputs (repeated for each item when it leads with a 1)."""
    array = np.asarray(value)
    name = graph.constant(array)
    if array.ndim and array.shape[0] == 1:
        rest = graph.constant(np.asarray(array.shape[1:], dtype=np.int64).reshape(-1), np.int64)
        name = graph.one("Expand", [name, graph.one("Concat", [batch(), rest], axis=0)])
    return name, array.dtype
