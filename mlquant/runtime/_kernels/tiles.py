"""In-place per-channel additions and clipping over long contiguous runs (fast numpy loops)."""

from __future__ import annotations

import numpy as np

#: Values per row of the tiles :func:`add_tiled` and :func:`relu_inplace` use: long enough
#: for numpy's vectorised loops (a short broadcast row, or a scalar operand, is several times slower).
_TILE = 16384


def tile_vector(vector: np.ndarray, row: int | None = None) -> np.ndarray:
    """Repeat a per-channel vector into a tile of about ``_TILE`` values for :func:`add_tiled`."""
    row = len(vector) if row is None else row
    return np.tile(np.asarray(vector, dtype=np.float32), max(1, -(-_TILE // row)))


def add_tiled(block: np.ndarray, tile: np.ndarray) -> None:
    """Add a tiled per-channel vector to a ``(rows, channels)`` block, in place (fast when contiguous)."""
    if not block.flags.c_contiguous:
        np.add(block, tile[: block.shape[-1]], out=block)
        return
    flat = block.reshape(-1)
    body = flat.size - flat.size % tile.size
    rows = flat[:body].reshape(-1, tile.size)
    np.add(rows, tile, out=rows)
    if body < flat.size:
        np.add(flat[body:], tile[: flat.size - body], out=flat[body:])


_ZEROS = np.zeros(_TILE, dtype=np.float32)
_ZEROS.setflags(write=False)


def relu_inplace(x: np.ndarray) -> np.ndarray:
    """Clip ``x`` at zero in place; fast when its memory is contiguous in some axis order."""
    if x.flags.c_contiguous:
        flat = x.reshape(-1)
    else:
        ordered = x.transpose(np.argsort([-abs(s) for s in x.strides], kind="stable"))
        if not ordered.flags.c_contiguous:
            return np.maximum(x, np.float32(0), out=x)
        flat = ordered.reshape(-1)
    body = flat.size - flat.size % _TILE
    rows = flat[:body].reshape(-1, _TILE)
    np.maximum(rows, _ZEROS, out=rows)
    np.maximum(flat[body:], _ZEROS[: flat.size - body], out=flat[body:])
    return x
