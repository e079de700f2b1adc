"""Planning a network's execution: which layers run, in what order, and what each may reuse.

:func:`plan` turns the layers' build contexts into :class:`Step` objects: it drops layers no
output needs, folds each ReLU into the convolution before it, marks which kernels may write
into their input, and lists the blobs to drop after each step so a run holds only live arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from ...errors import InvalidModelError
from ._base import Kernel, LayerContext
from .registry import KERNELS, VIEW_KERNELS


@attrs.frozen
class Step:
    """One layer, ready to run."""

    name: str
    """The layer's name."""
    type: str
    """The layer's type."""
    inputs: tuple[str, ...]
    """The blobs its kernel reads, in order."""
    outputs: tuple[str, ...]
    """The blobs its kernel's results become, in order."""
    kernel: Kernel = attrs.field(eq=False, repr=False)
    """The computation."""
    release: tuple[str, ...] = ()
    """Blobs nothing reads after this step, dropped to free memory."""


def needed_layers(contexts: list[LayerContext], feeds: list[str], outputs: list[str]) -> list[LayerContext]:
    """The layers the outputs need, in order, after checking that every blob a layer reads is
    defined before it (by a feed or an earlier layer).

    Raises:
        InvalidModelError: A layer reads a blob nothing defines before it.
    """
    defined = set(feeds)
    for ctx in contexts:
        for name in ctx.inputs:
            if name not in defined:
                msg = f"layer '{ctx.name}' ({ctx.type}) reads '{name}', which no input or earlier layer defines"
                raise InvalidModelError(msg)
        defined.update(ctx.outputs)
    needed, kept = set(outputs), []
    for ctx in reversed(contexts):
        if needed.intersection(ctx.outputs):
            kept.append(ctx)
            needed.update(ctx.inputs)
    kept.reverse()
    return kept


def plan(contexts: list[LayerContext], feeds: list[str], outputs: list[str]) -> tuple[Step, ...]:
    """Build every kernel and order the steps the outputs need, with in-place and release marks.

    A kernel may overwrite its first input when nothing else reads that memory afterwards: no
    later layer reads the blob or any view of it (see ``VIEW_KERNELS``), and it is neither a
    feed, an output, nor a constant. A ReLU whose input is a convolution's output that nothing
    else reads is folded into the convolution (and passes its input through).
    """
    kept = needed_layers(contexts, feeds, outputs)
    pinned = set(feeds) | set(outputs)
    folded = _folded_relus(kept, pinned)
    group: dict[str, str] = {}

    def root(name: str) -> str:
        while group.get(name, name) != name:
            name = group[name]
        return name

    for ctx in kept:
        if ctx.type in VIEW_KERNELS or id(ctx) in folded:
            for name in ctx.outputs:
                if ctx.inputs:
                    group[root(name)] = root(ctx.inputs[0])
                else:
                    pinned.add(name)
    pinned_roots = {root(name) for name in pinned}
    last: dict[str, int] = {}
    last_group: dict[str, int] = {}
    for index, ctx in enumerate(kept):
        for name in ctx.inputs:
            last[name] = last_group[root(name)] = index
    position = {id(ctx): index for index, ctx in enumerate(kept)}
    steps = []
    for ctx in contexts:
        index = position.get(id(ctx), -1)
        overwrite = index >= 0 and _may_overwrite(ctx, index, root, pinned_roots, last_group)
        built = attrs.evolve(ctx, overwrite=overwrite, relu=id(ctx) in folded.values())
        kernel = _passthrough if id(ctx) in folded else KERNELS[ctx.type](built)
        if index < 0:
            continue
        release = [n for n in ctx.inputs if last[n] == index and n not in pinned]
        release += [n for n in ctx.outputs if n not in last and n not in pinned]
        steps.append(Step(ctx.name, ctx.type, ctx.inputs, ctx.outputs, kernel, tuple(dict.fromkeys(release))))
    return tuple(steps)


def _passthrough(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """A ReLU folded into the convolution before it: its input is already its output."""
    return [inputs[0]]


def _folded_relus(kept: list[LayerContext], pinned: set[str]) -> dict[int, int]:
    """ReLU layers to fold into the convolution that feeds them: ``{id(relu): id(convolution)}``."""
    readers: dict[str, int] = {}
    for ctx in kept:
        for name in ctx.inputs:
            readers[name] = readers.get(name, 0) + 1
    producer = {name: ctx for ctx in kept for name in ctx.outputs}
    folded = {}
    for ctx in kept:
        if ctx.type != "activation" or ctx.params.WhichOneof("NonlinearityType") != "ReLU":
            continue
        if len(ctx.inputs) != 1 or len(ctx.outputs) != 1:
            continue
        source = ctx.inputs[0]
        conv = producer.get(source)
        if (
            conv is not None
            and conv.type == "convolution"
            and not conv.params.isDeconvolution
            and len(conv.outputs) == 1
            and readers[source] == 1
            and source not in pinned
        ):
            folded[id(ctx)] = id(conv)
    return folded


def _may_overwrite(ctx: LayerContext, index: int, root: Any, pinned: set[str], last: dict[str, int]) -> bool:
    if not ctx.inputs:
        return False
    first = root(ctx.inputs[0])
    others = [root(name) for name in ctx.inputs[1:]]
    return first not in pinned and first not in others and last.get(first, -1) == index


def mixes_batch(ctx: LayerContext) -> bool:
    """Whether a layer's result for one item depends on the other items of the batch."""
    return ctx.type == "batchnorm" and ctx.params.computeMeanVar and not ctx.params.instanceNormalization
