"""What a weight layer multiplies: its input, unfolded into the rows its weight matrix meets.

Data-aware quantization needs, for each weight, the vectors its rows are multiplied with. A
weight is read as a matrix of one row per output channel, ``weight.reshape(C_out, -1)``; its
layer's input, unfolded, gives the columns that matrix meets:

* ``innerProduct``: the input vector, ``C*H*W`` values per item;
* ``convolution`` (not deconvolution): one patch per output pixel, ``C_in/G * KH * KW``
  values in the weight's ``(channel, row, column)`` order, per group of ``G`` groups, with the
  layer's own padding (zeros), stride and dilation.

:class:`Unfolder` does this for one layer (the patches come from the kernel both executors
share, :mod:`mlquant.runtime._kernels.patches`); :class:`~mlquant.runtime.Network` hands each to
a callback during :meth:`~mlquant.runtime.Network.observe`, leaving its plain runs untouched.
"""

from __future__ import annotations

import attrs
import numpy as np

from .._kernels.conv import ConvShape
from .._kernels.geometry import pad
from .._kernels.patches import patches
from ._base import LayerContext, pair, to_nhwc
from ._geometry import window

__all__ = ["OBSERVED_TYPES", "Unfolder", "unfolder"]

#: Layer types whose weights :func:`unfolder` can pair with their inputs.
OBSERVED_TYPES = frozenset({"convolution", "innerProduct"})


@attrs.frozen
class Unfolder:
    """Turns one layer's input blob into ``(groups, rows, depth)`` rows in its weight's column order."""

    layer: str
    """The layer's name."""
    groups: int
    """Groups of output channels, each with its own input columns."""
    depth: int
    """Columns per group: the values one output multiplies."""
    kind: str = attrs.field(repr=False)
    """The padding oneof of a convolution (``valid``, ``same``...), or ``dense``."""
    padding: object = attrs.field(default=None, repr=False, eq=False)
    """The padding message of a convolution."""
    shape: ConvShape | None = attrs.field(default=None, repr=False)
    """A convolution's kernel, dilation and stride."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Unfold a rank-5 ``(S, B, C, H, W)`` input blob; returns float32 ``(groups, rows, depth)``."""
        if self.shape is None:
            return np.ascontiguousarray(x, dtype=np.float32).reshape(1, -1, self.depth)
        (kh, kw), (dh, dw), stride = self.shape.kernel, self.shape.dilation, self.shape.stride
        h, w = x.shape[3:]
        effective = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
        where = f"layer '{self.layer}' (convolution)"
        win = window(self.kind if self.kind != "none" else None, self.padding, (h, w), effective, stride, where)
        return patches(pad(to_nhwc(x), win, 0.0), win, self.shape, self.groups)


def unfolder(ctx: LayerContext) -> Unfolder | None:
    """The :class:`Unfolder` of a layer, or None for a layer whose weights it does not pair with inputs."""
    p = ctx.params
    if ctx.type == "innerProduct":
        return Unfolder(ctx.name, 1, int(p.inputChannels), "dense")
    if ctx.type != "convolution" or p.isDeconvolution or len(ctx.inputs) != 1:
        return None
    kh, kw = pair(p.kernelSize, (3, 3))
    groups = int(p.nGroups) or 1
    kind = p.WhichOneof("ConvolutionPaddingType")
    shape = ConvShape((kh, kw), pair(p.dilationFactor, (1, 1)), pair(p.stride, (1, 1)))
    return Unfolder(ctx.name, groups, int(p.kernelChannels) * kh * kw, kind or "none",
                    getattr(p, kind) if kind else None, shape)
