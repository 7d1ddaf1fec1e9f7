"""Confidence bounds and tests used by CERTIFY and PREDICT (Cohen et al. 2019, Algorithms 1–2).

Both are thin wrappers over :mod:`scipy.stats` so the statistics are those of a well-kept library.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

__all__ = ["clopper_pearson_lower", "clopper_pearson_upper", "binomial_p_value"]


def clopper_pearson_lower(count, n, alpha):
    """One-sided (1 − α) Clopper–Pearson lower bound on a binomial proportion.

    ``p_lower = Beta.ppf(α; count, n − count + 1)`` and 0 when ``count == 0``. This equals
    ``statsmodels.proportion_confint(count, n, alpha=2α, method="beta")[0]``, which is what
    locuslab/smoothing uses.

    Args:
        count: successes, int or integer array.
        n: trials (≥ count).
        alpha: significance level in (0, 1).

    Example:
        >>> round(float(clopper_pearson_lower(100000, 100000, 0.001)), 8)
        0.99993092
    """
    count = np.asarray(count, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        # boost's "root finding evaluation exceeded" for extreme alphas: the NaN it comes with is handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        lower = stats.beta.ppf(alpha, count, n - count + 1.0)
    lower = np.where(count <= 0, 0.0, lower)
    # scipy's root finder gives up (NaN) for extreme alphas (alpha=1e-300, count = n - 1 small): the
    # true bound is then astronomically small, and 0 is a valid, conservative lower bound; a NaN
    # p_lower would be carried into certificates and results files
    lower = np.where(np.isnan(lower), 0.0, np.clip(lower, 0.0, 1.0))
    return float(lower) if lower.ndim == 0 else lower


def clopper_pearson_upper(count, n, alpha):
    """One-sided (1 − α) Clopper–Pearson upper bound on a binomial proportion.

    ``p_upper = Beta.ppf(1 − α; count + 1, n − count)`` and 1 when ``count == n`` (the mirror of
    :func:`clopper_pearson_lower`: ``clopper_pearson_upper(c, n, α) == 1 − clopper_pearson_lower(n − c, n, α)``).
    Sequential certification (:mod:`gsmooth.core.sequential`) uses it to stop sampling a test that
    surely cannot reach its requirement.

    Example:
        >>> round(float(clopper_pearson_upper(0, 100, 0.05)), 6)
        0.029513
    """
    count = np.asarray(count, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    upper = 1.0 - np.asarray(clopper_pearson_lower(n - count, n, alpha), dtype=np.float64)  # already in [0, 1]
    return float(upper) if upper.ndim == 0 else upper


def binomial_p_value(count_a: int, count_b: int) -> float:
    """Two-sided p-value of ``count_a`` successes in ``count_a + count_b`` fair-coin trials.

    PREDICT abstains unless this is ≤ α (``scipy.stats.binomtest``; ``binom_test`` was removed).
    """
    total = int(count_a) + int(count_b)
    if total == 0:
        return 1.0
    return float(stats.binomtest(int(count_a), total, 0.5).pvalue)
