"""The statistics the selector needs, on ``scipy.stats`` (imported when first used).

SciPy gives the distributions; what it lacks, and lives here, is the finite-population bound
the early stop uses: the largest (or smallest) number of marked items a population can hold
given what a sample without replacement showed.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Z95", "best_hits", "mcnemar_p", "population_lower", "population_upper"]

#: Two-sided 95% normal quantile (``scipy.stats.norm.ppf(0.975)``).
Z95 = 1.959963984540054


def mcnemar_p(a_right: np.ndarray, b_right: np.ndarray) -> float:
    """Exact two-sided McNemar p-value: do two classifiers differ on the same inputs?"""
    from scipy import stats

    only_a = int(np.sum(a_right & ~b_right))
    only_b = int(np.sum(b_right & ~a_right))
    if only_a + only_b == 0:
        return 1.0
    return float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)


def population_upper(observed: int, sampled: int, population: int, alpha: float) -> int:
    """The largest count of marked items a finite population can hold, at level ``1 - alpha``.

    ``observed`` of ``sampled`` items drawn without replacement from ``population`` items are
    marked. Returns the largest total ``K`` for which seeing ``observed`` or fewer is still
    more likely than ``alpha``: an exact one-sided bound from the hypergeometric distribution.
    """
    from scipy import stats

    unseen = population - sampled
    if unseen <= 0:
        return observed
    totals = np.arange(observed, observed + unseen + 1)
    plausible = totals[stats.hypergeom.cdf(observed, population, totals, sampled) > alpha]
    return int(plausible.max()) if plausible.size else observed


def population_lower(observed: int, sampled: int, population: int, alpha: float) -> int:
    """The smallest count of marked items a finite population can hold, at level ``1 - alpha``."""
    return population - population_upper(sampled - observed, sampled, population, alpha)


def best_hits(base_hits: np.ndarray, hits: np.ndarray, seen: np.ndarray, members: np.ndarray, level: float) -> int:
    """An upper bound on a candidate's final hits among ``members``, each of two bounds at ``1 - level``.

    The inputs still to come are what they are: the rest of a finite population of which the
    seen inputs are a sample. So the bounds are exact hypergeometric ones, on the candidate's
    gains (right where the float model is wrong) and losses (wrong where it is right) among
    the inputs still to come, around the float model's known hits there.
    """
    gains = int((hits & ~base_hits & members).sum())
    losses = int((~hits & base_hits & members & seen).sum())
    wrong = ~base_hits & members
    right = base_hits & members
    more_gains = population_upper(gains, int((wrong & seen).sum()), int(wrong.sum()), level) - gains
    more_losses = population_lower(losses, int((right & seen).sum()), int(right.sum()), level) - losses
    return int(right.sum()) - losses + gains + more_gains - more_losses
