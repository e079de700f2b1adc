"""The search behind :func:`~._kmeans1d.kmeans_1d`: where to cut sorted values into k runs.

Steps 1-4 of the algorithm described in :mod:`._kmeans1d` (the exact grid DP, the exact DP for
few distinct values, growing large k by splitting runs, and refinement by Lloyd steps and
banded DPs), and the Lloyd loop of step 5, all over the prefix sums of the sorted distinct
values: a run's squared error costs O(1), whatever the number of values in it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_LLOYD_STEPS", "Prefix", "lloyd_bounds", "solve"]

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
MAX_LLOYD_STEPS = 10_000  # cap of the final Lloyd loop

# Counts, sums and sums of squares of the (centred) values before each distinct value.
Prefix = tuple[np.ndarray, np.ndarray, np.ndarray]


def solve(x: np.ndarray, prefix: Prefix, k: int, final: bool) -> np.ndarray:
    """Boundaries 0 = b_0 < ... < b_k = x.size of a near-optimal clustering of x into k runs."""
    n = x.size
    if k <= _MAX_DP_K:
        bounds = _grid_dp(prefix, _grid(x, prefix[0]), k)
    elif k * (n - k + 1) ** 2 <= _EXACT_BUDGET:
        inner = np.arange(1, k)  # the windows [m, n - k + m] hold every feasible position of b_m
        start = np.concatenate(([0], inner + (n - k) // 2, [n]))
        return _banded_dp(prefix, start, inner, inner + n - k, (n - k) // 2 + 1, 1.0)[0]
    else:
        bounds = _split(prefix, solve(x, prefix, max(k // _GROWTH, _MAX_DP_K), final=False), k)
    if not final:
        bounds = _refine(x, prefix, bounds, _SCALES[:1], 1, _HALF_WINDOW)
        return _lloyd(x, prefix, bounds, _LLOYD_STEPS)
    half_window = max(_HALF_WINDOW, int(np.sqrt(_SAMPLE_BUDGET / k)) // 2)
    bounds = _refine(x, prefix, bounds, _SCALES, _MAX_PASSES, half_window)
    return _lloyd(x, prefix, bounds, MAX_LLOYD_STEPS)


def _cost(prefix: Prefix, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
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


def _grid_dp(prefix: Prefix, grid: np.ndarray, k: int) -> np.ndarray:
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


def _split(prefix: Prefix, bounds: np.ndarray, k: int) -> np.ndarray:
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
    prefix: Prefix,
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
    prefix: Prefix, bounds: np.ndarray, lo: np.ndarray, hi: np.ndarray, half_window: int, power: float
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


def _lloyd(x: np.ndarray, prefix: Prefix, bounds: np.ndarray, steps: int) -> np.ndarray:
    """Lloyd steps on the runs; stops at a fixed point or before a run would empty."""
    count, total, _ = prefix
    for _ in range(steps):
        means = (total[bounds[1:]] - total[bounds[:-1]]) / (count[bounds[1:]] - count[bounds[:-1]])
        moved = lloyd_bounds(x, bounds, means)
        if moved is None:
            break
        bounds = moved
    return bounds


def lloyd_bounds(x: np.ndarray, bounds: np.ndarray, means: np.ndarray) -> np.ndarray | None:
    """The boundaries of one Lloyd step: every value of ``x`` (sorted) goes to its nearest mean.

    Returns:
        The moved boundaries, or None at a fixed point or where a run would empty.
    """
    moved = bounds.copy()
    moved[1:-1] = np.searchsorted(x, 0.5 * (means[1:] + means[:-1]), side="right")
    if np.array_equal(moved, bounds) or np.any(moved[1:] <= moved[:-1]):
        return None
    return moved
