"""Error-compensating rounding (OBQ/GPTQ) onto a fixed grid of representable values.

Rounding each weight to its nearest representable value minimises the weights' squared error,
not the layer's output error ``E||(W - Q) x||^2 = sum_rows (w - q)^T H (w - q)`` with
``H = E[x x^T]``. Optimal Brain Quantization (Frantar & Alistarh 2022) and GPTQ (Frantar et
al. 2023) round one input column at a time and move the error it leaves onto the columns not
yet rounded, in the proportions that minimise the output error, which the inverse of ``H``
gives. With ``U`` the upper Cholesky factor of ``H^-1``, after rounding column ``j``

    err = (w_j - q_j) / U[j, j];   w_{j+1:} -= err * U[j, j+1:]

for every row at once. Columns go in order of decreasing ``H[j, j]`` ("act order"), in blocks
whose updates to later columns are one matrix product. ``H`` is damped by a fraction of its
mean diagonal; columns whose input is always zero get a unit diagonal (their weight does not
matter). If ``H`` still cannot be factored, :func:`compensated` returns None and the caller
keeps round-to-nearest.

The grid is whatever the storage can represent, fixed before rounding: a look-up table shared
by the rows (:class:`Table`), one per row or group of rows (:class:`RowTables`, for grouped-channel
tables), an affine grid per row (:class:`Affine`, NeuralNetwork's ``scale * q + bias``), or an
integer grid per value (:class:`IntegerGrid`, ML Program's ``scale * (q - zero_point)`` per tensor,
channel or block of input values, its parameters spread over the values they cover).
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

__all__ = ["Affine", "Grid", "IntegerGrid", "RowTables", "Table", "compensated"]

_BLOCK = 128  # columns per block of lazy updates
_RETRIES = 4  # tenfold damping increases tried before giving up
_controller: Any = None  # threadpoolctl's view of the BLAS libraries, found once


class Grid(abc.ABC):
    """The values a row's weights can take, and the nearest of them to any value."""

    @abc.abstractmethod
    def nearest(self, values: np.ndarray, rows: np.ndarray, column: int) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, represented values)`` nearest to ``values``, one per row of ``rows``, in input column ``column``."""


class Table(Grid):
    """One look-up table for every row."""

    def __init__(self, table: np.ndarray) -> None:
        table = np.asarray(table, dtype=np.float64)
        self._order = np.argsort(table, kind="stable")
        self._sorted = table[self._order]
        self._mids = 0.5 * (self._sorted[1:] + self._sorted[:-1])

    def nearest(self, values: np.ndarray, rows: np.ndarray, column: int) -> tuple[np.ndarray, np.ndarray]:
        position = np.searchsorted(self._mids, values)
        return self._order[position], self._sorted[position]


class RowTables(Grid):
    """A look-up table per row (one per group of output channels, repeated for each of its rows)."""

    def __init__(self, tables: np.ndarray) -> None:
        self._tables = np.asarray(tables, dtype=np.float64)

    def nearest(self, values: np.ndarray, rows: np.ndarray, column: int) -> tuple[np.ndarray, np.ndarray]:
        tables = self._tables[rows]
        index = np.abs(tables - values[:, np.newaxis]).argmin(axis=1)
        return index, tables[np.arange(len(rows)), index]


class Affine(Grid):
    """``scale * q + bias`` for ``q`` in ``0 .. levels - 1``, with a scale and bias per row."""

    def __init__(self, scale: np.ndarray, bias: np.ndarray, levels: int) -> None:
        self._scale = np.asarray(scale, dtype=np.float64)
        self._bias = np.asarray(bias, dtype=np.float64)
        self._top = levels - 1

    def nearest(self, values: np.ndarray, rows: np.ndarray, column: int) -> tuple[np.ndarray, np.ndarray]:
        scale, bias = self._scale[rows], self._bias[rows]
        steps = np.divide(values - bias, scale, out=np.zeros_like(values), where=scale > 0)
        q = np.clip(np.rint(steps), 0, self._top)
        return q.astype(np.intp), q * scale + bias


class IntegerGrid(Grid):
    """``scale * (q - offset)`` for whole ``q`` in ``low .. high``, with a scale and offset for every value.

    The index of a value is its integer ``q`` itself (negative for signed data).
    """

    def __init__(self, scale: np.ndarray, offset: np.ndarray, low: int, high: int) -> None:
        self._scale = np.asarray(scale, dtype=np.float64)
        self._offset = np.asarray(offset, dtype=np.float64)
        self._low, self._high = low, high

    def nearest(self, values: np.ndarray, rows: np.ndarray, column: int) -> tuple[np.ndarray, np.ndarray]:
        scale, offset = self._scale[rows, column], self._offset[rows, column]
        steps = np.divide(values, scale, out=np.zeros_like(values), where=scale > 0) + offset
        q = np.clip(np.rint(steps), self._low, self._high)
        return q.astype(np.intp), scale * (q - offset)


def compensated(
    weights: np.ndarray, grid: Grid, rows: np.ndarray, second_moment: np.ndarray, damping: float = 0.01
) -> np.ndarray | None:
    """Indices of ``weights`` on ``grid``, rounded column by column with error compensation.

    Args:
        weights: ``(R, D)`` float weights, one row per output channel.
        grid: The representable values.
        rows: The ``R`` rows' numbers in the grid (for per-row grids).
        second_moment: ``(D, D)`` ``E[x x^T]`` of the inputs the rows multiply.
        damping: Fraction of the mean diagonal added to the diagonal before inverting.

    Returns:
        ``(R, D)`` indices, or None if the matrix could not be factored even with more damping.
    """
    with _one_blas_thread():
        return _compensated(weights, grid, rows, second_moment, damping)


def _one_blas_thread() -> Any:
    """Keep BLAS on one thread: the products here are small, and BLAS threads competing for busy
    cores made them several times slower on a loaded machine."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController().select(user_api="blas")
    return _controller.limit(limits=1)


def _compensated(
    weights: np.ndarray, grid: Grid, rows: np.ndarray, second_moment: np.ndarray, damping: float
) -> np.ndarray | None:
    h = np.array(second_moment, dtype=np.float64)
    diagonal = np.diag(h).copy()
    dead = diagonal <= 0
    h[dead, :] = 0.0
    h[:, dead] = 0.0
    h[dead, dead] = 1.0
    order = np.argsort(-np.diag(h), kind="stable")
    h = h[np.ix_(order, order)]
    upper = _inverse_factor(h, damping)
    if upper is None:
        return None
    w = np.array(weights, dtype=np.float64)[:, order]
    count, depth = w.shape
    indices = np.empty((count, depth), dtype=np.intp)
    for start in range(0, depth, _BLOCK):
        stop = min(depth, start + _BLOCK)
        block = w[:, start:stop].copy()
        errors = np.empty_like(block)
        factor = upper[start:stop, start:stop]
        for j in range(stop - start):
            index, value = grid.nearest(block[:, j], rows, int(order[start + j]))
            indices[:, start + j] = index
            error = (block[:, j] - value) / factor[j, j]
            block[:, j:] -= np.outer(error, factor[j, j:])
            errors[:, j] = error
        w[:, stop:] -= errors @ upper[start:stop, stop:]
    result = np.empty_like(indices)
    result[:, order] = indices
    return result


def _inverse_factor(h: np.ndarray, damping: float) -> np.ndarray | None:
    """The upper Cholesky factor of the damped ``h``'s inverse, or None if it cannot be had."""
    mean = float(np.mean(np.diag(h)))
    identity = np.eye(len(h))
    for attempt in range(_RETRIES + 1):
        damped = h + (damping * 10**attempt) * mean * identity
        try:
            lower = np.linalg.cholesky(damped)
            inverse_lower = np.linalg.inv(lower)
            inverse = inverse_lower.T @ inverse_lower
            upper = np.linalg.cholesky(inverse).T
        except np.linalg.LinAlgError:
            continue
        if np.all(np.isfinite(upper)) and np.all(np.diag(upper) > 0):
            return upper
    return None
