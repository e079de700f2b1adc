"""Folding an activation into the convolution before it, so it runs on each block while in cache."""

from __future__ import annotations

import attrs

from ._context import Binding, OpContext

#: Activations a convolution can apply to each block of its output while it is in cache.
_FOLDABLE = frozenset({"relu", "relu6", "clip"})


def fold_activations(
    pending: list[tuple[OpContext, dict[str, tuple[Binding, ...]]]], keep: set[str]
) -> list[tuple[OpContext, dict[str, tuple[Binding, ...]]]]:
    """Fold each relu, relu6 or constant clip into the conv before it, when nothing else reads the conv.

    The folded conv takes the activation's output (name and declared dtype); rounding to fp16
    after the clip equals clipping the rounded value, as the bounds are the program's own constants.
    """
    readers: dict[str, int] = {}
    for ctx, _ in pending:
        for bound in ctx.variables.values():
            for name in bound:
                if name is not None:
                    readers[name] = readers.get(name, 0) + 1
    producer = {ctx.outputs[0].name: index for index, (ctx, _) in enumerate(pending) if ctx.type == "conv"}
    result = list(pending)
    dropped = set()
    for index, (ctx, _) in enumerate(pending):
        source = ctx.variables.get("x", (None,))[0]
        if ctx.type not in _FOLDABLE or source not in producer or readers.get(source) != 1 or source in keep:
            continue
        if ctx.type == "clip" and not (ctx.is_constant("alpha") and ctx.is_constant("beta")):
            continue
        low, high = {"relu": (0.0, float("inf")), "relu6": (0.0, 6.0)}.get(ctx.type) or (
            float(ctx.scalar("alpha")),
            float(ctx.scalar("beta")),
        )
        conv_index = producer[source]
        conv, conv_params = result[conv_index]
        if conv.clip is not None:
            continue
        result[conv_index] = (attrs.evolve(conv, outputs=ctx.outputs, clip=(low, high)), conv_params)
        dropped.add(index)
    return [item for index, item in enumerate(result) if index not in dropped]
