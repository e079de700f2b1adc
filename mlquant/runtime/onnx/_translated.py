"""What a format's translator hands the executor: the graph and how to feed and read it."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs
import numpy as np

from ._graph import Graph

__all__ = ["Feed", "Translated"]


@attrs.frozen
class Feed:
    """One input of the model, as :meth:`OnnxProgram.run` takes it and the graph declares it."""

    name: str
    """The model's input name (the feed's key, and the graph input's name)."""
    dtype: np.dtype = attrs.field(converter=np.dtype)
    """The element type the graph takes (feeds are converted to it)."""
    item_shape: tuple[int | None, ...]
    """The shape of one item, without the batch axis (None where any size goes)."""


@attrs.frozen
class Translated:
    """A model as an ONNX graph, with the model's input and output names.

    The graph takes every feed batch first, ``(B, *item_shape)``, and computes one graph output
    per name in ``outputs`` (or ``post`` derives some of them from the graph's outputs).
    """

    graph: Graph
    """The built graph."""
    feeds: tuple[Feed, ...]
    """The model's inputs, in the model's order."""
    outputs: tuple[str, ...]
    """The names :meth:`OnnxProgram.run` returns, in the model's order."""
    batched: bool = True
    """Whether the graph takes a whole batch; if not, the executor runs it item by item
    (``B`` = 1) and joins the results along axis 0."""
    post: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]] | None = None
    """Turns the graph's outputs into the model's (a classifier's labels, which ONNX cannot
    compute as strings here); None when they are already the same."""
