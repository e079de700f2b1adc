"""The little statistics the selector needs, in plain Python and numpy (no SciPy)."""

from __future__ import annotations

import functools
import math

import numpy as np

#: Two-sided 95% normal quantile.
Z95 = 1.959963984540054


@functools.cache
def _log_factorials(n: int) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k >= n or p <= 0.0:
        return 1.0
    if k < 0 or p >= 1.0:
        return 0.0
    logs = _log_factorials(n)
    i = np.arange(k + 1)
    terms = logs[n] - logs[i] - logs[n - i] + i * math.log(p) + (n - i) * math.log1p(-p)
    return float(min(1.0, np.exp(terms).sum()))


def upper_bound(successes: int, trials: int, alpha: float) -> float:
    """One-sided Clopper-Pearson upper confidence bound for a proportion, at level ``1 - alpha``."""
    if trials == 0 or successes >= trials:
        return 1.0
    low, high = successes / trials, 1.0
    for _ in range(40):
        middle = (low + high) / 2
        if binomial_cdf(successes, trials, middle) > alpha:
            low = middle
        else:
            high = middle
    return high


def lower_bound(successes: int, trials: int, alpha: float) -> float:
    """One-sided Clopper-Pearson lower confidence bound for a proportion, at level ``1 - alpha``."""
    if successes == 0:
        return 0.0
    return 1.0 - upper_bound(trials - successes, trials, alpha)


def population_upper(observed: int, sampled: int, population: int, alpha: float) -> int:
    """The largest count of marked items a finite population can hold, at level ``1 - alpha``.

    ``observed`` of ``sampled`` items drawn without replacement from ``population`` items are
    marked. Returns the largest total ``K`` for which seeing ``observed`` or fewer is still
    more likely than ``alpha`` (an exact one-sided hypergeometric bound).
    """
    unseen = population - sampled
    if unseen <= 0:
        return observed
    logs = _log_factorials(population)
    totals = np.arange(observed, observed + unseen + 1)[:, np.newaxis]
    x = np.arange(observed + 1)[np.newaxis, :]
    valid = (x <= totals) & (sampled - x <= population - totals)
    safe_x = np.minimum(x, totals)
    log_p = (
        logs[totals] - logs[safe_x] - logs[np.maximum(totals - x, 0)]
        + logs[population - totals] - logs[np.clip(sampled - x, 0, None)]
        - logs[np.clip(population - totals - sampled + x, 0, None)]
        - (logs[population] - logs[sampled] - logs[population - sampled])
    )
    cdf = np.where(valid, np.exp(log_p), 0.0).sum(axis=1)
    plausible = totals[:, 0][cdf > alpha]
    return int(plausible.max()) if plausible.size else observed


def population_lower(observed: int, sampled: int, population: int, alpha: float) -> int:
    """The smallest count of marked items a finite population can hold, at level ``1 - alpha``."""
    return population - population_upper(sampled - observed, sampled, population, alpha)


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion."""
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def mcnemar_p(a_right: np.ndarray, b_right: np.ndarray) -> float:
    """Exact two-sided McNemar p-value: do two classifiers differ on the same inputs?"""
    only_a = int(np.sum(a_right & ~b_right))
    only_b = int(np.sum(b_right & ~a_right))
    n = only_a + only_b
    if n == 0:
        return 1.0
    return min(1.0, 2 * binomial_cdf(min(only_a, only_b), n, 0.5))
