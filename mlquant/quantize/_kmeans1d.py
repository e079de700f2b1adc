"""Fast, near-optimal one-dimensional k-means for weight palettization.

In one dimension an optimal k-means clustering cuts the *sorted* values into k
contiguous runs, so clustering is a segmentation problem.  With prefix sums of the
counts, values and squared values over the sorted distinct values, the squared error
of any run costs O(1), and the optimal segmentation is a dynamic programme (DP) over
boundary positions: Wu 1991, "Optimal quantization by matrix searching",
J. Algorithms 12(4); Wang & Song 2011, "Ckmeans.1d.dp", The R Journal 3(2);
Gronlund et al. 2017, "Fast exact k-means, k-medians and Bregman divergence
clustering in 1D", arXiv:1701.07204.  Solved exactly over all n values, the DP needs
k sequential rows of O(n log n) work (divide and conquer) or O(n) (SMAWK), too slow in
numpy for n ~ 1e5 and k = 256, so this module combines exact DPs over small candidate
sets with a DP-based local search:

1. For k <= 16 the DP is solved exactly over a grid of <= 256 candidate boundaries
   (all positions if n <= 256, else count quantiles, value-uniform and index-uniform
   positions), one dense (min, +) product per row.
2. For k > 16 and few distinct values (k * (n - k + 1)**2 small) the DP is solved
   exactly by the banded DP of step 4 with windows spanning every position.
3. Larger k are grown from a solution for k / 4 (itself refined by one pass of
   step 4): the runs that gain most are split at their best sampled split points.
4. Refinement alternates a few Lloyd steps (O(k log n) each, via ``searchsorted`` of
   the midpoints between centres) with a *banded* DP: the exact DP over all
   boundaries jointly, each restricted to 2h + 1 samples of a window reaching a
   fraction of the way to its neighbours, first evenly spaced over the whole gaps,
   then packed near the current boundary over an eighth of them, while a pass gains
   >= 0.3 %.  A pass never increases the error and can shift many boundaries at
   once, which escapes the poor tail allocations where Lloyd stalls.
5. A final Lloyd loop reaches a fixed point: every centre is the mean of its values
   and every value is assigned to its nearest centre.

The result is deterministic.  On SqueezeNet's convolution weights and biases it is
within 0.01 % of the exact optimum for k <= 16 and 0.6 % for k <= 256, below
scikit-learn's k-means++ on every tensor, and over 10x faster.
"""

from __future__ import annotations

import operator

import numpy as np

__all__ = ["kmeans_1d"]

_MAX_DP_K = 16  # largest k solved by the exact grid DP (step 1) ...
_GRID = 256  # ... over this many candidate boundaries
_EXACT_BUDGET = 600_000  # larger k are solved exactly (step 2) if k * (n - k + 1)**2 <= this, ...
_GROWTH = 4  # ... else grown from k / _GROWTH clusters (step 3)
_SPLIT_SAMPLES = 32  # split points tried per cluster when growing
_HALF_WINDOW = 8  # a boundary's banded-DP window has at least 2 * _HALF_WINDOW + 1 samples ...
_SAMPLE_BUDGET = 30_000  # ... and about sqrt(_SAMPLE_BUDGET / k) in the final passes
# Final banded-DP passes: (reach as a fraction of the gaps to the neighbouring boundaries,
# power of the sample spacing: 1 = even, 2 = packed near the current boundary).
_SCALES = ((1.0, 1.0), (0.125, 2.0))
_MAX_PASSES = 5  # final passes per scale, ...
_MIN_GAIN = 3e-3  # ... which stop once a pass gains less than this fraction of the error
_LLOYD_STEPS = 5  # Lloyd steps before each banded-DP pass
_MAX_LLOYD_STEPS = 10_000  # cap of the final Lloyd loop

# Counts, sums and sums of squares of the (centred) values before each distinct value.
_Prefix = tuple[np.ndarray, np.ndarray, np.ndarray]


def kmeans_1d(values: np.ndarray, k: int, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Clusters values into a look-up table of k entries.

    Args:
        values: Array of any shape of finite floats (float16, float32 or float64).
        k: Number of table entries, 1 <= k <= 256.
        weights: Optional non-negative importance of each value (same size as ``values``):
            the table then minimises ``sum(weights * (values - table[indices])**2)``, solved
            by the same programmes over weighted prefix sums (exact where the unweighted one
            is), and each used entry is the weighted mean of its values. Weights below
            1e-12 of the largest count as that (so every value still has a nearest entry);
            all zero counts as no weights.

    Returns:
        ``(table, indices)``: ``table`` is a float64 array of length k, ascending over
        the entries in use; with fewer than k distinct values the unused tail repeats
        the last centre and no index points at it.  ``indices`` is a uint8 array with
        one entry per value in C order: the index of the value's nearest table entry.
        Each used entry is the (weighted) mean of the values assigned to it.

    Raises:
        ValueError: If k is outside [1, 256], a value is not finite, or the weights do not
            match the values or are negative or not finite.
    """
    k = operator.index(k)
    if not 1 <= k <= 256:
        raise ValueError(f"k must be in [1, 256], got {k}")
    flat = np.asarray(values).ravel()
    narrow = flat.dtype.kind == "f" and flat.dtype.itemsize <= 4
    flat = flat.astype(np.float32 if narrow else np.float64, copy=False)
    if flat.size == 0:
        return np.zeros(k), np.zeros(0, np.uint8)
    importance = _importance(weights, flat.size)
    if importance is not None:
        return _weighted(flat, importance, k)
    ordered = np.sort(flat)
    if not np.isfinite(ordered[[0, -1]]).all():
        raise ValueError("values must be finite")
    distinct, count = _distinct(ordered)
    if distinct.size <= k:
        centres = distinct.astype(np.float64)
    else:
        x, prefix = _prefix_sums(ordered, ordered.mean(dtype=np.float64), count)
        bounds = _solve(x, prefix, k, final=True)
        centres = _exact_means(ordered, distinct, count, bounds)
    table = np.concatenate((centres, np.full(k - centres.size, centres[-1])))
    indices = _assign(flat, 0.5 * (centres[1:] + centres[:-1]))
    return table, indices.astype(np.uint8)


def _importance(weights: np.ndarray | None, size: int) -> np.ndarray | None:
    """The checked weights as float64, floored at 1e-12 of the largest; None for none (or all zero)."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size != size:
        raise ValueError(f"expected {size} weights, one per value (got {w.size})")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and non-negative")
    largest = float(w.max())
    return None if largest <= 0 else np.maximum(w, 1e-12 * largest)


def _weighted(flat: np.ndarray, weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`kmeans_1d` with weights: prefix sums of ``w``, ``w x`` and ``w x^2`` instead of counts."""
    order = np.argsort(flat, kind="stable")
    ordered, w = flat[order], weights[order]
    if not np.isfinite(ordered[[0, -1]]).all():
        raise ValueError("values must be finite")
    distinct, positions = _distinct(ordered)
    if distinct.size <= k:
        centres = distinct.astype(np.float64)
    else:
        mass = np.concatenate(([0.0], np.cumsum(w)))
        centred = np.subtract(ordered, np.dot(w, ordered) / mass[-1], dtype=np.float64)
        total = np.concatenate(([0.0], np.cumsum(w * centred)))
        squares = np.concatenate(([0.0], np.cumsum(w * centred * centred)))
        runs = positions.astype(np.intp)
        prefix = (mass[runs], total[runs], squares[runs])
        bounds = _solve(centred[runs[:-1]], prefix, k, final=True)
        centres = _exact_means(ordered, distinct, positions, bounds, w)
    table = np.concatenate((centres, np.full(k - centres.size, centres[-1])))
    indices = _assign(flat, 0.5 * (centres[1:] + centres[:-1]))
    return table, indices.astype(np.uint8)


def _distinct(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array, and the number of values before each (and in all)."""
    new = np.empty(ordered.size, bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    if new.all():
        return ordered, np.arange(ordered.size + 1, dtype=np.float64)
    starts = np.flatnonzero(new)
    return ordered[starts], np.append(starts, ordered.size).astype(np.float64)


def _prefix_sums(ordered: np.ndarray, shift: float, count: np.ndarray) -> tuple[np.ndarray, _Prefix]:
    """Centred distinct values, and the prefix sums at each distinct value."""
    centred = np.subtract(ordered, shift, dtype=np.float64)
    total = np.empty(centred.size + 1)
    squares = np.empty(centred.size + 1)
    total[0] = squares[0] = 0.0
    np.cumsum(centred, out=total[1:])
    np.square(centred, out=squares[1:])
    np.cumsum(squares[1:], out=squares[1:])
    if count.size == total.size:
        return centred, (count, total, squares)
    runs = count.astype(np.intp)
    return centred[runs[:-1]], (count, total[runs], squares[runs])


def _cost(prefix: _Prefix, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Squared error of the runs [lo, hi) of distinct values (broadcast); inf for empty runs."""
    count, total, squares = prefix
    n = count[hi] - count[lo]
    s = total[hi] - total[lo]
    err = squares[hi] - squares[lo]
    s *= s
    with np.errstate(divide="ignore", invalid="ignore"):
        s /= n
    err -= s
    np.copyto(err, np.inf, where=n <= 0)
    return err


def _solve(x: np.ndarray, prefix: _Prefix, k: int, final: bool) -> np.ndarray:
    """Boundaries 0 = b_0 < ... < b_k = x.size of a near-optimal clustering of x into k runs."""
    n = x.size
    if k <= _MAX_DP_K:
        bounds = _grid_dp(prefix, _grid(x, prefix[0]), k)
    elif k * (n - k + 1) ** 2 <= _EXACT_BUDGET:
        inner = np.arange(1, k)  # the windows [m, n - k + m] hold every feasible position of b_m
        start = np.concatenate(([0], inner + (n - k) // 2, [n]))
        return _banded_dp(prefix, start, inner, inner + n - k, (n - k) // 2 + 1, 1.0)[0]
    else:
        bounds = _split(prefix, _solve(x, prefix, max(k // _GROWTH, _MAX_DP_K), final=False), k)
    if not final:
        bounds = _refine(x, prefix, bounds, _SCALES[:1], 1, _HALF_WINDOW)
        return _lloyd(x, prefix, bounds, _LLOYD_STEPS)
    half_window = max(_HALF_WINDOW, int(np.sqrt(_SAMPLE_BUDGET / k)) // 2)
    bounds = _refine(x, prefix, bounds, _SCALES, _MAX_PASSES, half_window)
    return _lloyd(x, prefix, bounds, _MAX_LLOYD_STEPS)


def _grid(x: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Candidate boundaries: count quantiles, value-uniform and index-uniform positions."""
    n = x.size
    if n <= _GRID:
        return np.arange(n + 1)
    third = _GRID // 3
    quantiles = np.searchsorted(count, np.linspace(0.0, count[-1], third + 1))
    uniform = np.searchsorted(x, np.linspace(x[0], x[-1], third + 1))
    spread = np.linspace(0, n, third + 1).astype(np.intp)
    return np.unique(np.concatenate((quantiles, uniform, spread, [n])))


def _grid_dp(prefix: _Prefix, grid: np.ndarray, k: int) -> np.ndarray:
    """Exact optimal k-segmentation with boundaries restricted to grid (Wu 1991)."""
    cost = _cost(prefix, grid[None, :], grid[:, None])  # [q, p]: run from grid[p] to grid[q]
    best = cost[:, 0]
    rows = np.arange(grid.size)
    total = np.empty_like(cost)
    choices = []
    for _ in range(k - 1):
        np.add(cost, best, out=total)
        choice = total.argmin(axis=1)
        best = total[rows, choice]
        choices.append(choice)
    path = [grid.size - 1]
    for choice in reversed(choices):
        path.append(choice[path[-1]])
    path.append(0)
    return grid[path[::-1]]


def _split(prefix: _Prefix, bounds: np.ndarray, k: int) -> np.ndarray:
    """Adds boundaries until there are k runs, splitting the runs that gain most."""
    fractions = np.arange(1, _SPLIT_SAMPLES + 1) / (_SPLIT_SAMPLES + 1)
    while bounds.size <= k:
        lo, hi = bounds[:-1, None], bounds[1:, None]
        points = np.rint(lo + (hi - lo) * fractions).astype(np.intp)
        points = np.clip(points, lo + 1, np.maximum(hi - 1, lo + 1))
        errors = _cost(prefix, lo, points) + _cost(prefix, points, hi)
        pick = errors.argmin(axis=1)
        gains = _cost(prefix, lo[:, 0], hi[:, 0]) - errors[np.arange(pick.size), pick]
        order = np.argsort(-gains, kind="stable")[: k + 1 - bounds.size]
        order = order[np.isfinite(gains[order])]  # runs of one distinct value cannot split
        bounds = np.sort(np.concatenate((bounds, points[order, pick[order]])))
    return bounds


def _refine(
    x: np.ndarray,
    prefix: _Prefix,
    bounds: np.ndarray,
    scales: tuple[tuple[float, float], ...],
    max_passes: int,
    half_window: int,
) -> np.ndarray:
    """Alternates Lloyd steps and banded-DP passes, at each scale while the passes gain."""
    k = bounds.size - 1
    lowest, highest = np.arange(1, k), x.size - k + np.arange(1, k)
    for reach, power in scales:
        for _ in range(max_passes):
            bounds = _lloyd(x, prefix, bounds, _LLOYD_STEPS)
            inner = bounds[1:-1]
            lo = np.maximum(inner - np.floor(reach * (inner - bounds[:-2])).astype(np.intp), lowest)
            hi = np.minimum(inner + np.floor(reach * (bounds[2:] - inner)).astype(np.intp), highest)
            before = _cost(prefix, bounds[:-1], bounds[1:]).sum()
            bounds, after = _banded_dp(prefix, bounds, lo, hi, half_window, power)
            if after >= before * (1.0 - _MIN_GAIN):
                break
    return bounds


def _banded_dp(
    prefix: _Prefix, bounds: np.ndarray, lo: np.ndarray, hi: np.ndarray, half_window: int, power: float
) -> tuple[np.ndarray, float]:
    """Exact DP over all boundaries jointly, each limited to samples of its window [lo, hi].

    Boundary b_m gets half_window + 1 samples of [lo_m, b_m] and half_window of
    (b_m, hi_m], at distances growing like (i / half_window) ** power.  The samples
    include the current boundaries, so the error never increases.

    Returns:
        The improved boundaries and their total squared error.
    """
    k, h = bounds.size - 1, half_window
    inner = bounds[1:-1, None]
    steps = np.linspace(0.0, 1.0, h + 1) ** power
    cand = np.empty((k + 1, 2 * h + 1), np.intp)
    cand[0], cand[-1] = 0, bounds[-1]
    cand[1:-1, : h + 1] = np.rint(inner - (inner - lo[:, None]) * steps[::-1])
    cand[1:-1, h + 1 :] = np.rint(inner + (hi[:, None] - inner) * steps[1:])
    # cost[m, q, p]: error of the run from sample p of b_m to sample q of b_m+1
    cost = _cost(prefix, cand[:-1, None, :], cand[1:, :, None])
    best = cost[0, :, 0]
    for row in cost[1:]:
        row += best
        best = np.minimum.reduce(row, axis=1)
    choice = cost[1:].argmin(axis=2).tolist()
    picks, q = [0] * (k - 1), 0
    for m in range(k - 2, -1, -1):
        q = picks[m] = choice[m][q]
    improved = bounds.copy()
    improved[1:-1] = cand[np.arange(1, k), picks]
    return improved, float(best[0])


def _lloyd(x: np.ndarray, prefix: _Prefix, bounds: np.ndarray, steps: int) -> np.ndarray:
    """Lloyd steps on the runs; stops at a fixed point or before a run would empty."""
    count, total, _ = prefix
    for _ in range(steps):
        means = (total[bounds[1:]] - total[bounds[:-1]]) / (count[bounds[1:]] - count[bounds[:-1]])
        moved = bounds.copy()
        moved[1:-1] = np.searchsorted(x, 0.5 * (means[1:] + means[:-1]), side="right")
        if np.array_equal(moved, bounds) or np.any(moved[1:] <= moved[:-1]):
            break
        bounds = moved
    return bounds


def _exact_means(
    ordered: np.ndarray, distinct: np.ndarray, count: np.ndarray, bounds: np.ndarray, w: np.ndarray | None = None
) -> np.ndarray:
    """Run means summed directly (not from prefix sums), with Lloyd steps until a fixed point.

    ``count`` holds the positions in ``ordered`` where each distinct value starts (and the end);
    with weights ``w`` (aligned with ``ordered``) the means are weighted.
    """
    distinct = distinct.astype(np.float64, copy=False)
    weighted = None if w is None else ordered * w
    for _ in range(_MAX_LLOYD_STEPS):
        runs = count[bounds].astype(np.intp)
        if w is None or weighted is None:
            means = np.add.reduceat(ordered, runs[:-1], dtype=np.float64) / np.diff(runs)
        else:
            means = np.add.reduceat(weighted, runs[:-1]) / np.add.reduceat(w, runs[:-1])
        moved = bounds.copy()
        moved[1:-1] = np.searchsorted(distinct, 0.5 * (means[1:] + means[:-1]), side="right")
        if np.array_equal(moved, bounds) or np.any(moved[1:] <= moved[:-1]):
            break
        bounds = moved
    return means


def _assign(values: np.ndarray, mids: np.ndarray) -> np.ndarray:
    """Number of midpoints below each value, i.e. ``np.searchsorted(mids, values)``, but faster.

    A uniform look-up table over [mids[0], mids[-1]] gives a lower bound that a few
    vectorised steps raise to the exact count; the binary search is the fallback.
    """
    cells = 4 * mids.size
    width = (mids[-1] - mids[0]) / cells if mids.size > 1 else 0.0
    if not width > 0:
        return np.searchsorted(mids, values)
    below = np.searchsorted(mids, mids[0] + width * np.arange(-1, cells))  # midpoints below cell c - 1
    cell = np.subtract(values, mids[0], dtype=np.float64)
    cell *= 1.0 / width
    idx = below[np.clip(cell, 0, cells - 1).astype(np.intp)]
    padded = np.append(mids, np.inf)
    for _ in range(8):
        up = values > padded[idx]
        if not up.any():
            return idx
        idx += up
    return np.searchsorted(mids, values)
