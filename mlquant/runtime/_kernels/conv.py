"""The numeric core of convolution, shared by both executors.

Convolution runs channels-last: the input is viewed as ``(N, H, W, C)`` (``N = S * B``), padded
with zeros, and unfolded (im2col) into ``(N * H_out * W_out, KH * KW * C)`` rows that a matrix
product with the ``(KH * KW * C, C_out)`` weights turns into the output; a 1x1 convolution needs
no unfolding at all. The unfolding and the product go a cache-sized block of rows at a time,
the bias rides along in the product (a column of ones), and a folded ReLU clips each block while
it is still in cache. The output stays channels-last in memory, so the next convolution reads it
without a transpose.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np

from .geometry import Window
from .tiles import add_tiled, relu_inplace, tile_vector

#: Rough size in bytes of the unfolded-input block handed to one matrix product (fits in L2).
_BLOCK_BYTES = 1 << 20

#: Longest run of values a depthwise product's inner loop covers (several pixels' channels).
_RUN = 2048


@attrs.frozen
class ConvShape:
    """A convolution's kernel, dilation and stride, each ``(H, W)``."""

    kernel: tuple[int, int]
    """Kernel height and width."""
    dilation: tuple[int, int]
    """Dilation factors."""
    stride: tuple[int, int]
    """Strides."""


def products(
    weights: np.ndarray,
    bias: np.ndarray | None,
    groups: int,
    shape: ConvShape,
    relu: bool = False,
    clip: tuple[float, float] | None = None,
) -> Callable[[np.ndarray, Window], np.ndarray]:
    """The product for one convolution: ``(padded NHWC input, window) -> NHWC output``.

    Args:
        weights: ``(C_out, C_in / groups, KH, KW)`` float32.
        bias: ``(C_out,)`` or None.
        groups: Channel groups (``C_in / groups`` channels each; depthwise when that is 1).
        shape: Kernel, dilation and stride.
        relu: Clip the output at zero while each block is still in cache.
        clip: Clip the output to ``[low, high]`` instead (a folded relu6 or clip).
    """
    cout, kc, kh, kw = weights.shape
    if groups > 1 and kc == 1:
        taps = weights.reshape(groups, cout // groups, kh * kw).transpose(2, 0, 1).copy()
        return _depthwise(taps, shape, _finisher(bias, relu, clip))
    # (G, C_out/G, Cg, KH, KW) -> (G, KH * KW * Cg, C_out/G): rows follow the unfolding order
    matrix = weights.reshape(groups, cout // groups, kc, kh, kw).transpose(0, 3, 4, 2, 1)
    matrix = np.ascontiguousarray(matrix.reshape(groups, kh * kw * kc, cout // groups), dtype=np.float32)
    if groups > 1:
        return _grouped(matrix, shape, _finisher(bias, relu, clip))
    if kh == kw == 1 and shape.stride == (1, 1):
        return _pointwise(matrix[0], _finisher(bias, relu, clip))
    return _unfolded(matrix[0], bias, shape, _finisher(None, relu, clip))


def _blocks(n: int, rows: int, row_bytes: int):
    """Yield ``(first image, last image, first row, last row)`` blocks of about ``_BLOCK_BYTES``."""
    band = max(1, _BLOCK_BYTES // max(1, row_bytes))
    if band >= rows:
        images = band // rows
        for start in range(0, n, images):
            yield start, min(n, start + images), 0, rows
    else:
        for image in range(n):
            for top in range(0, rows, band):
                yield image, image + 1, top, min(rows, top + band)


def _finisher(bias: np.ndarray | None, relu: bool, clip: tuple[float, float] | None = None):
    """What follows each block's matrix product: add the bias, clip at zero or to a range (in place)."""
    tile = tile_vector(bias) if bias is not None else None
    low, high = (np.float32(clip[0]), np.float32(clip[1])) if clip is not None else (None, None)

    def finish(block: np.ndarray) -> None:
        if tile is not None:
            add_tiled(block, tile)
        if relu:
            relu_inplace(block)
        elif low is not None:
            np.clip(block, low, high, out=block)

    return finish


def _unfold(
    x: np.ndarray, block: tuple[int, int, int, int], shape: ConvShape, out_w: int, buffer: np.ndarray
) -> None:
    """Copy the im2col rows of one block of a padded ``(N, H, W, C)`` input into ``buffer``.

    ``buffer`` is C-contiguous ``(rows, width)``; the rows fill its first ``KH * KW * C``
    columns (a bias column may follow). Without width dilation a window row is one contiguous
    run of ``KW * C`` values, so one strided view covers the whole block and one copy unfolds
    it; otherwise each kernel tap is copied in turn. The views are built with ``np.ndarray``
    on the arrays' own memory, which bounds-checks them; ``x`` is made C-contiguous first.
    """
    i0, i1, r0, r1 = block
    (kh, kw), (dh, dw), (sh, sw) = shape.kernel, shape.dilation, shape.stride
    x = np.ascontiguousarray(x)
    _, h, w, c = x.shape
    item = x.itemsize
    # C-order strides from the shape, not x.strides: numpy leaves the stride of a length-1 axis
    # (one channel, one row) at any value, and the views below step through memory with these.
    s3, s2, s1, s0 = item, c * item, w * c * item, h * w * c * item
    row = buffer.strides[0]
    dims = (i1 - i0, r1 - r0, out_w, kh, kw, c)
    cols = np.ndarray(
        dims,
        np.float32,
        buffer,
        0,
        ((r1 - r0) * out_w * row, out_w * row, row, kw * c * item, c * item, item),
    )
    start = i0 * s0 + r0 * sh * s1
    if dw == 1:
        view = np.ndarray((*dims[:4], kw * c), np.float32, x, start, (s0, s1 * sh, s2 * sw, s1 * dh, s3))
        cols.reshape(view.shape)[...] = view
        return
    source = x[i0:i1, r0 * sh :]
    for i in range(kh):
        rows = slice(i * dh, i * dh + (r1 - r0 - 1) * sh + 1, sh)
        for j in range(kw):
            cols[:, :, :, i, j, :] = source[:, rows, j * dw : j * dw + (out_w - 1) * sw + 1 : sw, :]


def _pointwise(matrix: np.ndarray, finish):
    """A 1x1, stride-1 convolution: one matrix product over all pixels, in cache-sized blocks."""
    depth, cout = matrix.shape

    def product(x: np.ndarray, win: Window) -> np.ndarray:
        out = np.empty((*x.shape[:3], cout), dtype=np.float32)
        rows, flat = x.reshape(-1, depth), out.reshape(-1, cout)
        step = max(1, _BLOCK_BYTES // (4 * (depth + cout)))
        for start in range(0, len(rows), step):
            np.matmul(rows[start : start + step], matrix, out=flat[start : start + step])
            finish(flat[start : start + step])
        return out

    return product


def _unfolded(matrix: np.ndarray, bias: np.ndarray | None, shape: ConvShape, finish):
    """The im2col product: ``(padded NHWC input, window) -> (N, H_out, W_out, C_out)``.

    The bias is folded into the product: the unfolded rows end with a column of ones and the
    weight matrix with the bias row.
    """
    depth, cout = matrix.shape
    if bias is not None:
        matrix = np.vstack([matrix, bias[np.newaxis]]).astype(np.float32)
    width = len(matrix)

    def product(x: np.ndarray, win: Window) -> np.ndarray:
        n, oh, ow = x.shape[0], win.out_h, win.out_w
        out = np.empty((n, oh, ow, cout), dtype=np.float32)
        buffer = None
        for block in _blocks(n, oh, ow * (width + cout) * 4):
            i0, i1, r0, r1 = block
            rows = (i1 - i0) * (r1 - r0) * ow
            if buffer is None:
                buffer = np.empty((rows, width), dtype=np.float32)
                buffer[:, depth:] = 1.0
            cols = buffer[:rows]
            _unfold(x, block, shape, ow, cols)
            target = out[i0:i1, r0:r1].reshape(-1, cout)
            np.matmul(cols, matrix, out=target)
            finish(target)
        return out

    return product


def _grouped(matrix: np.ndarray, shape: ConvShape, finish):
    """Grouped convolution: im2col, then one batched matrix product over the groups."""
    groups, depth, per_group = matrix.shape
    (kh, kw), cout = shape.kernel, groups * per_group

    def product(x: np.ndarray, win: Window) -> np.ndarray:
        n, c, oh, ow = x.shape[0], x.shape[3], win.out_h, win.out_w
        out = np.empty((n, oh, ow, cout), dtype=np.float32)
        for block in _blocks(n, oh, ow * (depth * groups + cout) * 4):
            i0, i1, r0, r1 = block
            cols = np.empty(((i1 - i0) * (r1 - r0) * ow, kh * kw * c), dtype=np.float32)
            _unfold(x, block, shape, ow, cols)
            grouped = cols.reshape(-1, kh * kw, groups, c // groups).transpose(2, 0, 1, 3)
            result = np.matmul(grouped.reshape(groups, -1, depth), matrix)  # (G, M, C_out/G)
            target = out[i0:i1, r0:r1].reshape(-1, cout)
            target[...] = result.transpose(1, 0, 2).reshape(target.shape)
            finish(target)
        return out

    return product


def _depthwise(taps: np.ndarray, shape: ConvShape, finish):
    """Depthwise product (one input channel per group): a weighted sum of shifted inputs.

    The windows are a strided view of the padded input (no copy), reduced against the taps by
    ``numpy.einsum``, whose sum-of-products loop is about twice as fast as a multiply and an add
    per tap. Its inner loop runs along the view's last axis; with one channel per window that
    axis is as short as the channel count, and the loop's start-up cost dominates for narrow
    layers. At stride 1 along the width, ``group`` neighbouring output pixels read ``group``
    neighbouring input pixels for each tap, one contiguous run of ``group * C`` values, so the
    view is ``(N, H_out, W_out / group, KH, KW, group * C)`` against the taps tiled ``group``
    times: the same products summed in the same order, with inner loops up to ``_RUN`` long.
    """
    _, groups, multiplier = taps.shape
    (kh, kw), (dh, dw), (sh, sw) = shape.kernel, shape.dilation, shape.stride
    channels = groups * multiplier
    weights = np.ascontiguousarray(taps.reshape(kh, kw, channels))
    tiled: dict[int, np.ndarray] = {}  # the taps tiled for each group size seen

    def reduce(x: np.ndarray, out: np.ndarray, first: int, count: int, group: int) -> None:
        """Output columns ``first`` to ``first + count * group`` of ``out``, ``group`` at a time."""
        n, oh, ow, c = out.shape
        _, h, w, _ = x.shape
        item = x.itemsize
        s2, s1, s0 = c * item, w * c * item, h * w * c * item
        dims = (n, oh, count, kh, kw, group * c)
        view = np.ndarray(dims, np.float32, x, first * sw * s2, (s0, s1 * sh, s2 * sw * group, s1 * dh, s2 * dw, item))
        target = np.ndarray(dims[:3] + dims[5:], np.float32, out, first * s2, (oh * ow * s2, ow * s2, group * s2, item))
        if group not in tiled:
            tiled[group] = np.tile(weights, (1, 1, group))
        np.einsum("nhvijk,ijk->nhvk", view, tiled[group], out=target)

    def product(x: np.ndarray, win: Window) -> np.ndarray:
        n, oh, ow = x.shape[0], win.out_h, win.out_w
        if multiplier > 1:
            x = np.repeat(x, multiplier, axis=3)
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = np.empty((n, oh, ow, channels), dtype=np.float32)
        group = max(1, min(ow, _RUN // channels)) if sw == 1 else 1
        whole = ow // group
        reduce(x, out, 0, whole, group)
        if whole * group < ow:
            reduce(x, out, whole * group, 1, ow - whole * group)
        finish(out.reshape(-1, channels))
        return out

    return product
