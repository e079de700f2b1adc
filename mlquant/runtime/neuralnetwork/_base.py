"""What every kernel module shares: the build context, the kernel type and layout helpers.

A kernel builder takes a :class:`LayerContext` (one layer of the spec, a way to read its
weights, and whether it may write into its input) and returns a :data:`Kernel`, a function
from the layer's input arrays to its output arrays. Every array is rank 5,
``(Sequence, Batch, Channel, Height, Width)``, as ``NeuralNetwork.proto`` describes legacy
layers. Convolution and pooling keep their results channels-last in memory (a transposed
view of an ``(S*B, H, W, C)`` buffer) so consecutive convolutions need no transposes; the
helpers here move between the two views without copying when the memory already suits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from ...errors import InvalidModelError, UnsupportedLayerError

#: A layer's computation: its input arrays in, its output arrays out (all rank 5, float32).
Kernel = Callable[[Sequence[np.ndarray]], list[np.ndarray]]

#: Reads one weight: ``(field, WeightParams message, shape) -> float32 array`` (read-only).
WeightReader = Callable[[str, Any, tuple[int, ...]], np.ndarray]


@attrs.frozen
class LayerContext:
    """One layer of a spec, as a kernel builder sees it."""

    name: str
    """The layer's name."""
    type: str
    """The layer's type as ``NeuralNetwork.proto`` names it (``convolution``, ``pooling``...)."""
    params: Any = attrs.field(repr=False)
    """The layer's parameter message (``layer.convolution`` for a convolution...)."""
    inputs: tuple[str, ...]
    """Names of the layer's input blobs."""
    outputs: tuple[str, ...]
    """Names of the layer's output blobs."""
    overwrite: bool = False
    """Whether the kernel may write its result into its first input (nothing reads it later)."""
    relu: bool = False
    """Whether to clip the output at zero: the executor folded the following ReLU layer in."""
    read: WeightReader = attrs.field(default=None, repr=False, eq=False)
    """Reads a weight of this layer; see :meth:`weight`."""

    def weight(self, field: str, wp: Any, shape: tuple[int, ...]) -> np.ndarray:
        """Return one of the layer's weights as the float32 array Core ML computes with.

        Args:
            field: The weight's field name (``weights``, ``bias``, ``alpha``...).
            wp: The ``WeightParams`` message.
            shape: The shape the layer's parameters give it.

        Returns:
            A read-only float32 array of ``shape``.
        """
        return self.read(field, wp, tuple(int(n) for n in shape))

    def unsupported(self, what: str) -> UnsupportedLayerError:
        """An error naming this layer, for a feature the runtime does not implement."""
        return UnsupportedLayerError(f"layer '{self.name}' ({self.type}): {what}")

    def invalid(self, what: str) -> InvalidModelError:
        """An error naming this layer, for parameters that contradict the format."""
        return InvalidModelError(f"layer '{self.name}' ({self.type}): {what}")

    def expect_inputs(self, low: int, high: int | None = None) -> None:
        """Check the number of inputs is within ``[low, high]`` (``high`` defaults to ``low``).

        Raises:
            InvalidModelError: It is not.
        """
        high = low if high is None else high
        count = len(self.inputs)
        if not low <= count <= high:
            wanted = str(low) if low == high else f"{low} to {high}" if high < 99 else f"at least {low}"
            raise self.invalid(f"expected {wanted} inputs (got {count})")


def pair(values: Sequence[int], default: tuple[int, int]) -> tuple[int, int]:
    """Read an ``[H, W]`` repeated field, with the format's default when it is empty."""
    if len(values) == 0:
        return default
    if len(values) != 2:
        msg = f"expected 2 values [H, W] (got {list(values)})"
        raise InvalidModelError(msg)
    return int(values[0]), int(values[1])


def borders(amounts: Any) -> tuple[int, int, int, int]:
    """Read a ``BorderAmounts`` message as ``(top, bottom, left, right)``."""
    edges = list(amounts.borderAmounts)
    if not edges:
        return 0, 0, 0, 0
    if len(edges) != 2:
        msg = f"border amounts need 2 entries [H, W] (got {len(edges)})"
        raise InvalidModelError(msg)
    h, w = edges
    return int(h.startEdgeSize), int(h.endEdgeSize), int(w.startEdgeSize), int(w.endEdgeSize)


def is_channels_last(x: np.ndarray) -> bool:
    """Whether a rank-5 array's memory is ``(S*B, H, W, C)`` ordered (channels innermost)."""
    if x.shape[2] <= 1:
        return False
    return x.strides[2] == x.itemsize and x.strides[4] == x.itemsize * x.shape[2]


def to_nhwc(x: np.ndarray) -> np.ndarray:
    """View (or, when the memory is channels-first, copy) ``(S, B, C, H, W)`` as ``(S*B, H, W, C)``."""
    s, b, c, h, w = x.shape
    return np.ascontiguousarray(x.reshape(s * b, c, h, w).transpose(0, 2, 3, 1))


def from_nhwc(y: np.ndarray, s: int, b: int) -> np.ndarray:
    """View an ``(S*B, H, W, C)`` array as ``(S, B, C, H, W)`` without copying."""
    _, h, w, c = y.shape
    return y.transpose(0, 3, 1, 2).reshape(s, b, c, h, w)


def owned(x: np.ndarray, overwrite: bool) -> np.ndarray:
    """Return ``x`` itself when the kernel may overwrite it, else a fresh copy in the same layout."""
    return x if overwrite and x.flags.writeable else x.copy(order="K")
