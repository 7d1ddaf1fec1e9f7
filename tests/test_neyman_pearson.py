"""The Neyman–Pearson bound between N(0, I) and N((a, m), diag(1, s²)) (gsmooth_plugins.transforms._neyman_pearson)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from gsmooth_plugins.transforms._neyman_pearson import lower_bound, required_probability, tradeoff_point


def log_ratio(u, v, a, m, s):
    return a * u - a * a / 2 - np.log(s) + v * v / 2 - (v - m) ** 2 / (2 * s * s)


@pytest.mark.parametrize("a, m", [(0.3, 0.4), (0.0, 1.2), (0.5, 0.0), (1e-9, 0.7), (-0.8, -0.3)])
def test_equal_variances_give_cohen(a, m):
    r = np.hypot(a, m)
    assert required_probability(a, m, 1.0) == pytest.approx(norm.cdf(r), abs=1e-12)
    for p in (0.6, 0.9, 0.999):
        assert lower_bound(p, a, m, 1.0) == pytest.approx(norm.cdf(norm.ppf(p) - r), abs=1e-9)


def test_identity_needs_exactly_the_target():
    assert required_probability(0.0, 0.0, 1.0, 0.5) == 0.5
    assert required_probability(0.0, 0.0, 1.0, 0.7) == 0.7
    assert lower_bound(0.8, 0.0, 0.0, 1.0) == 0.8


CASES = [  # (t, a, m, s): shifts with the variance shrunk and grown, with and without a k-shift
    (0.1, 0.4, 0.6, np.exp(-0.4)),
    (-0.2, -0.4, 0.6, np.exp(0.4)),
    (0.0, 0.0, 0.8, 0.7),
    (0.05, 0.2, 0.0, 1.3),
    (0.3, 0.01, 0.3, np.exp(-0.002)),
    (-0.1, 2.0, 1.0, np.exp(-0.4)),
]


@pytest.mark.parametrize("t, a, m, s", CASES)
def test_tradeoff_point_matches_monte_carlo(t, a, m, s):
    rng = np.random.default_rng(7)
    n = 2_000_000
    u, v = rng.standard_normal(n), rng.standard_normal(n)
    p_mc = (log_ratio(u, v, a, m, s) <= t).mean()
    q_mc = (log_ratio(a + rng.standard_normal(n), m + s * rng.standard_normal(n), a, m, s) <= t).mean()
    p, q = tradeoff_point(t, a, m, s)
    sd = 0.5 / np.sqrt(n)
    assert abs(p - p_mc) < 5 * sd and abs(q - q_mc) < 5 * sd


def test_quadrature_is_accurate_where_contrast_uses_it():
    # the coupled family of TSS's contrast: a = δ/σ, s = e^{−δ}; a 10× finer rule agrees to 1e-7,
    # far inside gsmooth_plugins.transforms._contrast_law.NUMERICAL_MARGIN (1e-5)
    for sigma in (0.05, 0.2, 1.0):
        d = np.linspace(-0.5, 0.5, 21)
        mm = np.array([0.0, 0.3, 1.0, 2.0])
        dd, mg = np.meshgrid(d, mm)
        coarse = required_probability(dd / sigma, mg, np.exp(-dd))
        fine = required_probability(dd / sigma, mg, np.exp(-dd), nodes=20001)
        assert np.abs(coarse - fine).max() < 1e-7


def test_required_probability_inverts_lower_bound_and_is_monotone():
    a, m, s = 0.5, 0.7, np.exp(-0.1)
    for target in (0.5, 0.6, 0.9):
        p = required_probability(a, m, s, target)
        assert lower_bound(p, a, m, s) == pytest.approx(target, abs=1e-6)
        assert lower_bound(p, a, m, s) >= target - 1e-9
    ps = lower_bound(np.linspace(0.55, 0.99, 12), a, m, s)
    assert (np.diff(ps) > 0).all()  # β is increasing in p
    assert lower_bound(0.9, a, m, s) < 0.9  # a real shift costs probability


def test_bound_is_symmetric_and_nonincreasing_in_m():
    # the fact gsmooth_plugins.transforms._contrast_law relies on to take only |m| = M
    for a, s in [(0.0, 0.7), (0.3, np.exp(-0.06)), (-0.5, np.exp(0.1)), (1.0, 1.4)]:
        ms = np.linspace(0.0, 2.0, 21)
        req = required_probability(a, ms, s)
        assert (np.diff(req) >= -1e-9).all()
        np.testing.assert_allclose(required_probability(a, -ms, s), req, atol=1e-12)


def test_rescaled_variance_needs_more_than_the_mean_shift_alone():
    # the same whitened shift with the b-noise rescaled: never easier than Cohen's Φ(‖δ‖)
    for a, m, d in [(0.2, 0.5, 0.04), (-0.2, 0.5, -0.04), (0.0, 0.5, 0.3)]:
        assert required_probability(a, m, np.exp(-d)) > norm.cdf(np.hypot(a, m))


def test_out_of_reach_is_one_not_a_wrong_number():
    assert required_probability(0.0, 15.0, 0.9) == 1.0
    assert lower_bound(1e-30, 0.1, 0.1, 0.9) < 1e-20


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="s > 0"):
        required_probability(0.1, 0.1, 0.0)
    with pytest.raises(ValueError, match="0 < target < 1"):
        required_probability(0.1, 0.1, 1.0, 1.0)
