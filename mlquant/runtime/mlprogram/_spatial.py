"""Shared reading of MIL window parameters: ``pad_type``/``pad`` to a window, 1-D as 2-D, NCHW views."""

from __future__ import annotations

import numpy as np

from ...errors import DataError
from .._kernels.geometry import Window, same_amounts
from ._context import OpContext

_PAD_TYPES = ("valid", "same", "same_lower", "custom")


def to_nhwc(x: np.ndarray) -> np.ndarray:
    """An ``(N, C, H, W)`` array as C-contiguous ``(N, H, W, C)`` (no copy when its memory already is)."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def from_nhwc(y: np.ndarray) -> np.ndarray:
    """An ``(N, H, W, C)`` array viewed as ``(N, C, H, W)`` without copying."""
    return y.transpose(0, 3, 1, 2)


def spatial_rank(ctx: OpContext, kernel_rank: int | None = None) -> int:
    """The number of spatial dimensions (1 or 2), from the input's rank or the kernel's.

    Raises:
        UnsupportedLayerError: Three spatial dimensions (or none).
    """
    rank = ctx.rank("x")
    spatial = rank - 2 if rank is not None else kernel_rank
    if spatial not in (1, 2):
        raise ctx.unsupported(f"{spatial} spatial dimensions (the runtime runs 1-D and 2-D windows)")
    return spatial


def as_2d(values: tuple[int, ...], spatial: int, fill: int) -> tuple[int, int]:
    """A per-spatial-dimension pair for 2-D, with ``fill`` for the height of a 1-D op."""
    return (fill, values[0]) if spatial == 1 else (values[0], values[1])


class Padding:
    """An op's ``pad_type`` and ``pad``: places its windows on an input size."""

    def __init__(self, ctx: OpContext, spatial: int, ceil_mode: bool = False) -> None:
        self.kind = str(ctx.scalar("pad_type", "valid")).lower()
        if self.kind not in _PAD_TYPES:
            raise ctx.invalid(f"pad_type must be one of {', '.join(_PAD_TYPES)} (got {self.kind!r})")
        pad = ctx.ints("pad", (0,) * (2 * spatial)) if self.kind == "custom" else (0,) * (2 * spatial)
        if len(pad) != 2 * spatial:
            raise ctx.invalid(f"pad needs {2 * spatial} values (got {list(pad)})")
        self.pad = (0, 0, *pad) if spatial == 1 else tuple(pad)
        self.ceil_mode = ceil_mode
        self.where = f"operation '{ctx.name}' ({ctx.type})"

    def window(self, size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int]) -> Window:
        """The window for an input of ``size`` (``kernel`` with dilation already applied).

        Raises:
            DataError: The input is smaller than one window.
        """
        if self.kind in ("same", "same_lower"):
            lower = self.kind == "same_lower"
            oh, top, bottom = same_amounts(size[0], kernel[0], stride[0], lower)
            ow, left, right = same_amounts(size[1], kernel[1], stride[1], lower)
            return Window(oh, ow, top, bottom, left, right, bottom, right)
        top, bottom, left, right = self.pad
        oh, end_h = self._axis(size[0], kernel[0], stride[0], top, bottom)
        ow, end_w = self._axis(size[1], kernel[1], stride[1], left, right)
        return Window(oh, ow, top, end_h, left, end_w, bottom, right)

    def _axis(self, size: int, kernel: int, stride: int, before: int, after: int) -> tuple[int, int]:
        """``(output size, padding after up to the end of the last window)`` along one axis."""
        span = size + before + after - kernel
        if span < 0:
            msg = f"{self.where}: a {kernel}-wide window does not fit an input of {size} padded by {before}+{after}"
            raise DataError(msg)
        if not self.ceil_mode:
            return span // stride + 1, after
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + before and (before > 0 or after > 0):
            out -= 1
        return out, max(after, (out - 1) * stride + kernel - size - before)
