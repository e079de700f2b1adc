"""1-D k-means: optimal on small inputs (brute force), and a Lloyd fixed point on any input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlquant.quantize._kmeans1d import kmeans_1d


def brute_force(values: np.ndarray, k: int) -> float:
    """The exact optimum: try every way to cut the sorted distinct values into k runs."""
    ordered = np.sort(values.astype(np.float64))
    distinct = np.unique(ordered)
    if distinct.size <= k:
        return 0.0
    position = np.searchsorted(distinct, ordered)
    best = np.inf
    for cuts in itertools.combinations(range(1, distinct.size), k - 1):
        bounds = (0, *cuts, distinct.size)
        error = 0.0
        for start, end in itertools.pairwise(bounds):
            run = ordered[(position >= start) & (position < end)]
            error += float(((run - run.mean()) ** 2).sum())
        best = min(best, error)
    return best


def squared_error(values: np.ndarray, table: np.ndarray, indices: np.ndarray) -> float:
    return float(np.sum((values.astype(np.float64).ravel() - table[indices]) ** 2))


small_inputs = arrays(np.float64, st.integers(2, 11), elements=st.floats(-100, 100, allow_nan=False, width=32))


class TestOptimality:
    @settings(max_examples=150, deadline=None)
    @given(small_inputs, st.integers(2, 4))
    def test_matches_brute_force(self, values: np.ndarray, k: int) -> None:
        """On small inputs the squared error equals the exact optimum."""
        table, indices = kmeans_1d(values, k)
        assert squared_error(values, table, indices) <= brute_force(values, k) * (1 + 1e-9) + 1e-9

    def test_heavy_tails(self) -> None:
        """Outliers get their own entries instead of dragging a cluster (where Lloyd stalls)."""
        values = np.concatenate([np.random.default_rng(0).normal(size=2000), [40.0, 41.0, -39.0]])
        table, _ = kmeans_1d(values, 4)
        assert np.sum(table > 30) >= 1 and np.sum(table < -30) >= 1


class TestInvariants:
    @settings(max_examples=60, deadline=None)
    @given(
        arrays(np.float32, st.integers(1, 3000), elements=st.floats(-10, 10, width=32)),
        st.sampled_from([1, 2, 3, 8, 16, 17, 64, 256]),
    )
    def test_lloyd_fixed_point(self, values: np.ndarray, k: int) -> None:
        """Every value maps to its nearest entry, every used entry is its values' mean, the rest pads."""
        table, indices = kmeans_1d(values, k)
        wide = values.astype(np.float64)
        used = int(indices.max()) + 1
        assert table.shape == (k,) and indices.dtype == np.uint8 and indices.shape == (values.size,)
        assert used == min(k, np.unique(wide).size)
        assert np.all(np.diff(table[:used]) > 0) and np.all(table[used:] == table[used - 1])
        distance = np.abs(wide[:, None] - table[None, :used])
        assert np.all(distance[np.arange(values.size), indices] <= distance.min(axis=1) * (1 + 1e-12) + 1e-300)
        means = np.bincount(indices, weights=wide, minlength=used) / np.bincount(indices, minlength=used)
        np.testing.assert_allclose(table[:used], means, rtol=1e-9, atol=1e-12)

    def test_deterministic(self) -> None:
        """The same input gives the same table and indices, bit for bit."""
        values = np.random.default_rng(1).laplace(size=50_000).astype(np.float32)
        first, second = kmeans_1d(values, 64), kmeans_1d(values.copy(), 64)
        assert first[0].tobytes() == second[0].tobytes() and first[1].tobytes() == second[1].tobytes()

    @pytest.mark.parametrize("k", [0, 257])
    def test_k_out_of_range(self, k: int) -> None:
        """k outside 1-256 is refused."""
        with pytest.raises(ValueError):
            kmeans_1d(np.ones(4), k)
