"""What an ML Program's weight operations multiply: their inputs, unfolded into the rows their weights meet.

The ML Program counterpart of :mod:`mlquant.runtime.neuralnetwork.observe`. A weight is read as a
matrix of one row per output channel, ``weight.reshape(C_out, -1)``; the operation's input,
unfolded, gives the columns that matrix meets:

* ``conv`` (constant weight ``(C_out, C_in/G, *K)``, 1-D or 2-D): one patch per output pixel,
  ``C_in/G * KH * KW`` values in the weight's ``(channel, row, column)`` order, per group, with
  the operation's own ``pad_type``/``pad`` (zeros), ``strides`` and ``dilations``;
* ``linear`` (weight ``(D_out, D_in)``): every ``D_in`` vector of the input's last axis;
* ``matmul`` with a constant rank-2 ``y`` and ``transpose_y`` (so ``y`` is ``(D_out, D_in)``
  like a ``linear`` weight) and no ``transpose_x``: the same. A constant ``y`` that is not
  transposed has its output channels on its last axis, which calibration does not pair.

:func:`unfolders` finds them among a built program's steps; :func:`watched` gives the steps
back with each observed kernel showing its input to an :data:`~mlquant.runtime._observing.Observer`
first, which :meth:`MILProgram.observe <mlquant.runtime.MILProgram.observe>` runs instead of the
plain ones. Keys are operation names, as :class:`~mlquant.formats.WeightInfo` ``layer`` gives them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
import numpy as np

from .._kernels.conv import ConvShape
from .._kernels.geometry import pad
from .._kernels.patches import patches
from .._observing import Observer
from ._build import Step
from ._context import Kernel, OpContext
from ._spatial import Padding, to_nhwc
from .conv import conv_parameters

__all__ = ["OBSERVED_TYPES", "Unfolder", "unfolders", "watched"]

#: Operation types whose weights :func:`unfolders` can pair with their inputs.
OBSERVED_TYPES = frozenset({"conv", "linear", "matmul"})


@attrs.frozen
class Unfolder:
    """Turns one operation's input into ``(groups, rows, depth)`` rows in its weight's column order."""

    layer: str
    """The operation's name."""
    groups: int
    """Groups of output channels, each with its own input columns."""
    depth: int
    """Columns per group: the values one output multiplies."""
    padding: Padding | None = attrs.field(default=None, repr=False, eq=False)
    """A convolution's ``pad_type`` and ``pad``; None for a dense product."""
    shape: ConvShape | None = attrs.field(default=None, repr=False)
    """A convolution's kernel, dilation and stride (a 1-D one as height 1)."""
    spatial: int = 2
    """A convolution's spatial dimensions (1 or 2)."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Unfold the operation's ``x`` (``(N, C, [H,] W)`` for a convolution); returns float32 ``(groups, rows, depth)``."""
        if self.padding is None or self.shape is None:
            return np.ascontiguousarray(x, dtype=np.float32).reshape(1, -1, self.depth)
        if self.spatial == 1:
            x = x[:, :, np.newaxis, :]
        (kh, kw), (dh, dw) = self.shape.kernel, self.shape.dilation
        effective = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
        win = self.padding.window((x.shape[2], x.shape[3]), effective, self.shape.stride)
        return patches(pad(to_nhwc(np.asarray(x, dtype=np.float32)), win, 0.0), win, self.shape, self.groups)


def unfolders(steps: Sequence[Step]) -> dict[str, Unfolder]:
    """The :class:`Unfolder` of every step whose weight it pairs with its input, by operation name."""
    found = {}
    for step in steps:
        if step.type in OBSERVED_TYPES and "x" in step.params and isinstance(step.params["x"][0], str):
            unfolder = _unfolder(_context(step))
            if unfolder is not None:
                found[step.name] = unfolder
    return found


def watched(steps: Sequence[Step], found: Mapping[str, Unfolder], observer: Observer) -> tuple[Step, ...]:
    """``steps`` with each one in ``found`` handing its unfolded input to ``observer`` before it computes."""
    return tuple(_watched(step, found[step.name], observer) if step.name in found else step for step in steps)


def _watched(step: Step, unfold: Unfolder, observer: Observer) -> Step:
    inner, name = step.kernel, step.name

    def kernel(args: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        observer(name, unfold(args["x"][0]))
        return inner(args)

    watching: Kernel = kernel
    return attrs.evolve(step, kernel=watching)


def _context(step: Step) -> OpContext:
    """The step's operation as a kernel builder saw it (constants and variables; no declared shapes)."""
    constants = {p: b for p, b in step.params.items() if all(isinstance(v, np.ndarray) for v in b)}
    variables = {p: tuple(v if isinstance(v, str) else None for v in b) for p, b in step.params.items()
                 if p not in constants}
    return OpContext(step.name, step.type, constants, variables, step.outputs)  # type: ignore[arg-type]


def _unfolder(ctx: OpContext) -> Unfolder | None:
    if ctx.type == "conv":
        if not ctx.is_constant("weight"):
            return None
        weight, spatial, groups, stride, dilation, _ = conv_parameters(ctx)
        _, kc, kh, kw = weight.shape
        shape = ConvShape((kh, kw), dilation, stride)
        return Unfolder(ctx.name, groups, kc * kh * kw, Padding(ctx, spatial), shape, spatial)
    if ctx.type == "linear":
        if not ctx.is_constant("weight"):
            return None
        weight = ctx.const("weight")
        return Unfolder(ctx.name, 1, int(np.shape(weight)[-1])) if np.ndim(weight) == 2 else None
    if not ctx.is_constant("y") or ctx.is_constant("x"):
        return None
    y = ctx.const("y")
    if np.ndim(y) != 2 or not ctx.scalar("transpose_y", False) or ctx.scalar("transpose_x", False):
        return None
    return Unfolder(ctx.name, 1, int(np.shape(y)[1]))
