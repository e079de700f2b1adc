"""A network's inputs and outputs in the graph: the reference runtime's plans, as operators.

Inputs and outputs are read by the reference runtime's own plans
(:func:`~mlquant.runtime.neuralnetwork._io.input_plans` and ``output_plans``), so both engines
agree on what a model takes and gives. An image input's scaler and mean image become a ``Mul``,
an ``Add`` and a ``Sub`` in the reference runtime's order; every output leaves the graph as the
reference runtime's rank-5 blob, and :meth:`OutputPlan.format` (a classifier's probabilities in
label order, declared shapes) turns it into the result on the way out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ...neuralnetwork._io import InputPlan, OutputPlan
from .._graph import Graph
from .._translated import Feed
from ._base import Blob, floats, ints, to_rank5


def feed(plan: InputPlan) -> Feed:
    """What :class:`~mlquant.runtime.onnx.OnnxProgram` checks of one feed: float32, the plan's shape."""
    return Feed(plan.name, np.float32, tuple(None if n < 0 else n for n in plan.shape))


def input_blob(g: Graph, plan: InputPlan) -> Blob:
    """Declare one input, batch first, and preprocess it as :meth:`InputPlan.prepare` does."""
    item = feed(plan).item_shape
    name = g.input(plan.name, np.float32, ["B", *item])
    if len(item) == 1:
        return Blob(g.one("Unsqueeze", [name, ints(g, [2, 3])]), (item[0], 1, 1))
    if plan.scale is not None:
        name = g.one("Mul", [name, floats(g, plan.scale)])
        name = g.one("Add", [name, floats(g, plan.bias)])
    if plan.mean is not None:
        name = g.one("Sub", [name, floats(g, plan.mean)])
    return Blob(name, item)


def output(g: Graph, plan: OutputPlan, blob: Blob) -> None:
    """Make one blob a graph output, named like the result, as a rank-5 ``(S, B, C, H, W)`` tensor."""
    g.output(g.one("Identity", [to_rank5(g, blob).name], plan.name), np.float32, [None] * 5)


def formatter(plans: Sequence[OutputPlan]) -> Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]:
    """The executor's ``post``: every rank-5 graph output through its plan's ``format``."""
    chosen = tuple(plans)

    def post(raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {plan.name: plan.format(raw[plan.name]) for plan in chosen}

    return post
