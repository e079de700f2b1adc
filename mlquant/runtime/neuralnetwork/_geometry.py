"""Output sizes and padding amounts of windowed layers (convolution, deconvolution, pooling).

The formulas are those of ``NeuralNetwork.proto`` (``ValidPadding``, ``SamePadding``,
``PoolingLayerParams.ValidCompletePadding``), in one place so convolution and pooling agree.
"""

from __future__ import annotations

from typing import Any

from ...errors import DataError, InvalidModelError
from .._kernels.geometry import Window, same_amounts
from ._base import borders


def _valid_axis(size: int, kernel: int, stride: int, before: int, after: int, where: str) -> int:
    span = size + before + after - kernel
    if span < 0:
        msg = f"{where}: a {kernel}-wide window does not fit an input of {size} padded by {before}+{after}"
        raise DataError(msg)
    return span // stride + 1


def window(
    kind: str | None,
    padding: Any,
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    where: str,
) -> Window:
    """Place a window for ``valid``, ``same`` or ``includeLastPixel`` padding.

    Args:
        kind: Which padding oneof is set (``valid``, ``same``, ``includeLastPixel`` or None
            for none, taken as unpadded ``valid``).
        padding: The padding message of that kind, or None.
        size: Input ``(H, W)``.
        kernel: Effective kernel ``(KH, KW)`` (dilation applied).
        stride: ``(SH, SW)``.
        where: Names the layer in error messages.

    Returns:
        The output size and the padding on each side. For ``includeLastPixel`` the padding
        after the input reaches the end of the last window, beyond the declared amount if
        the window overhangs (the overhang is not padding: pooling leaves it out).

    Raises:
        DataError: The input is smaller than one window.
    """
    (h, w), (kh, kw), (sh, sw) = size, kernel, stride
    if kind == "same":
        heavy = int(padding.asymmetryMode) == 1
        oh, top, bottom = same_amounts(h, kh, sh, heavy)
        ow, left, right = same_amounts(w, kw, sw, heavy)
        return Window(oh, ow, top, bottom, left, right, bottom, right)
    if kind == "includeLastPixel":
        amounts = list(padding.paddingAmounts) or [0, 0]
        if len(amounts) != 2:
            msg = f"{where}: includeLastPixel paddingAmounts needs 2 values [H, W] (got {amounts})"
            raise InvalidModelError(msg)
        ph, pw = (int(v) for v in amounts)
        oh, bottom = _complete_axis(h, kh, sh, ph, where)
        ow, right = _complete_axis(w, kw, sw, pw, where)
        return Window(oh, ow, ph, bottom, pw, right, ph, pw)
    top, bottom, left, right = borders(padding.paddingAmounts) if kind == "valid" else (0, 0, 0, 0)
    oh = _valid_axis(h, kh, sh, top, bottom, where)
    ow = _valid_axis(w, kw, sw, left, right, where)
    return Window(oh, ow, top, bottom, left, right, bottom, right)


def _complete_axis(size: int, kernel: int, stride: int, amount: int, where: str) -> tuple[int, int]:
    """``(output, after)`` for ``includeLastPixel``: Caffe's ceil-mode pooling.

    NeuralNetwork.proto drops a last window that starts past the padded input when there is
    padding; without padding such a window would be empty (a kernel smaller than the stride),
    and it is dropped too, as ONNX and PyTorch do.
    """
    span = size + 2 * amount - kernel
    if span < 0:
        msg = f"{where}: a {kernel}-wide window does not fit an input of {size} padded by {amount} each side"
        raise DataError(msg)
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + amount:  # the last window would start past the padded input
        out -= 1
    after = max(amount, (out - 1) * stride + kernel - size - amount)
    return out, after
