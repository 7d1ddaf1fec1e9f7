"""Built-in noises: conformance, DESIGN §4 test vectors, closed forms, numerical route, Neyman–Pearson."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

import gsmooth
from gsmooth.errors import InvalidParameterError
from gsmooth.core.noise import Noise
from gsmooth.core.radius import integrated_radius
from gsmooth.core.stats import clopper_pearson_lower
from gsmooth.testing import check_noise, parametrize_with_checks
from gsmooth_plugins.noises import (
    ExponentialNoise,
    FoldedGaussianNoise,
    GaussianNoise,
    LaplaceNoise,
    OneSidedUniformNoise,
    UniformNoise,
)

BUILTIN_NOISES = [GaussianNoise, LaplaceNoise, UniformNoise, ExponentialNoise, FoldedGaussianNoise, OneSidedUniformNoise]
P_CP = 0.99993092  # Clopper–Pearson bound for alpha=0.001, n=nA=100000 (DESIGN §4)
P_GRID = np.array([0.5, 0.5000001, 0.501, 0.55, 0.6, 0.75, 0.9, 0.99, 0.999, P_CP, 0.9999999])
Phi_inv = stats.norm.ppf

#: DESIGN §4, written out independently of the plugins (p = p_lower, pB = 1 − p).
DESIGN_FORMULAS = {
    "gaussian": lambda s, p: s * Phi_inv(p),
    "laplace": lambda s, p: -s * np.log(2 * (1 - p)),
    "uniform": lambda s, p: 2 * s * (p - 0.5),
    "exponential": lambda s, p: -s * np.log(2 * (1 - p)),
    "one_sided_uniform": lambda s, p: s * (p - 0.5),
    "folded_gaussian": lambda s, p: s * (Phi_inv((1 + p) / 2) - Phi_inv(0.75)),
}


# -- conformance ----------------------------------------------------------------------------------
@parametrize_with_checks(BUILTIN_NOISES)  # classes, built with their default sigma
def test_builtin_noise_conformance(component, check):
    check(component)


@pytest.mark.parametrize("noise, sigma", [(UniformNoise(sigma=0.25), 1.7), (ExponentialNoise(sigma=2.0), None)])
def test_check_noise_accepts_instances(noise, sigma):
    check_noise(noise, sigma=sigma)


def test_builtins_are_the_registered_ones():
    assert {c.name for c in BUILTIN_NOISES} <= set(gsmooth.available_noises())
    for cls in BUILTIN_NOISES:
        assert type(gsmooth.noise(cls.name, sigma=0.5)) is cls


# -- DESIGN §4 test vectors -----------------------------------------------------------------------
def test_clopper_pearson_vector():
    assert clopper_pearson_lower(100_000, 100_000, 0.001) == pytest.approx(P_CP, abs=1e-8)


@pytest.mark.parametrize("n_a, expected", [(100_000, 3.8115), (99_000, 2.2900), (60_000, 0.2409)])
@pytest.mark.parametrize("sigma", [0.12, 0.25, 0.5, 1.0])
def test_gaussian_radius_vectors(n_a, expected, sigma):
    p = clopper_pearson_lower(n_a, 100_000, 0.001)
    r = GaussianNoise(sigma=sigma).radius(p)
    assert isinstance(r, float)
    assert round(r / sigma, 4) == pytest.approx(expected, abs=1e-12)  # as printed in DESIGN §4
    assert r == pytest.approx(expected * sigma, abs=1e-4 * sigma)


# -- closed forms -----------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", BUILTIN_NOISES, ids=lambda c: c.name)
@pytest.mark.parametrize("sigma", [0.12, 0.5, 2.0])
def test_closed_form_matches_design(cls, sigma):
    noise = cls(sigma=sigma)
    expected = DESIGN_FORMULAS[cls.name](sigma, P_GRID)
    got = noise.radius(P_GRID)
    assert isinstance(got, np.ndarray) and got.shape == P_GRID.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    for p, e in zip(P_GRID, expected):
        assert noise.radius(float(p)) == pytest.approx(e, rel=1e-12, abs=1e-15)
    assert noise.radius(0.5) == 0.0


@pytest.mark.parametrize(
    "cls, norm, one_sided",
    [
        (GaussianNoise, "l2", False),
        (LaplaceNoise, "l1", False),
        (UniformNoise, "l1", False),
        (ExponentialNoise, "param", True),
        (FoldedGaussianNoise, "param", True),
        (OneSidedUniformNoise, "param", True),
    ],
)
def test_norms_and_sidedness(cls, norm, one_sided):
    assert cls.norm == norm and cls.one_sided is one_sided


# -- numerical route (GSmooth eq. 3) ----------------------------------------------------------------
P_NUMERIC = np.array([0.5000001, 0.51, 0.6, 0.75, 0.9, 0.99, 0.999, P_CP])


@pytest.mark.parametrize(
    "cls, sigma",
    [(GaussianNoise, 0.25), (LaplaceNoise, 1.0), (UniformNoise, 0.25), (UniformNoise, 1.0)],
    ids=lambda v: getattr(v, "name", v),
)
def test_numerical_route_reproduces_closed_form(cls, sigma):
    noise = cls(sigma=sigma)
    numeric = noise.numerical_radius(P_NUMERIC)
    np.testing.assert_allclose(numeric, noise.radius(P_NUMERIC), rtol=0, atol=1e-8)


def test_integrated_radius_with_scipy_distributions():
    # the engine function itself, from bare scipy pdf/ppf, and with a Lipschitz factor M*
    r = integrated_radius(P_CP, pdf=stats.norm.pdf, ppf=stats.norm.ppf, lipschitz=2.0)
    assert r == pytest.approx(Phi_inv(P_CP) / 2.0, abs=1e-8)
    assert integrated_radius(0.5, pdf=stats.norm.pdf, ppf=stats.norm.ppf) == 0.0


def test_numerical_route_at_p_equal_one():
    # unbounded support: infinite; bounded support (uniform): the finite Neyman–Pearson value λ
    assert GaussianNoise(sigma=0.5).numerical_radius(1.0) == math.inf
    assert LaplaceNoise(sigma=0.5).numerical_radius(1.0) == math.inf
    assert UniformNoise(sigma=0.5).numerical_radius(1.0) == pytest.approx(0.5, abs=1e-12)
    assert UniformNoise(sigma=0.5).radius(1.0) == pytest.approx(0.5, abs=1e-12)


# -- Neyman–Pearson, computed independently ---------------------------------------------------------
def _worst_case_shifted_mass(cdf, edges, m0, p, delta):
    """P_{θ+δ}(A*) for the worst-case set A* of P_θ-mass p (NP lemma, on a grid of cells).

    A* is filled with the cells of smallest likelihood ratio (shifted mass / original mass) first;
    the last cell is taken fractionally.
    """
    m1 = np.diff(cdf(edges - delta))
    keep = m0 > 0  # cells of zero original mass never help the adversary
    a0, a1 = m0[keep], m1[keep]
    order = np.argsort(a1 / a0, kind="stable")
    a0, a1 = a0[order], a1[order]
    c0 = np.cumsum(a0)
    k = int(np.searchsorted(c0, p))
    before = c0[k - 1] if k > 0 else 0.0
    return a1[:k].sum() + (p - before) / a0[k] * a1[k]


def neyman_pearson_radius(dist, p, lo, hi, *, cells=1 << 14, iters=34):
    """Largest shift δ ≥ 0 of the 1-D law ``dist`` for which the worst-case set of probability ``p``
    keeps shifted probability > 1/2 (bisection on δ ∈ [0, hi − lo])."""
    edges = np.linspace(lo, hi, cells + 1)
    m0 = np.diff(dist.cdf(edges))
    a, b = 0.0, hi - lo
    for _ in range(iters):
        mid = 0.5 * (a + b)
        if _worst_case_shifted_mass(dist.cdf, edges, m0, p, mid) > 0.5:
            a = mid
        else:
            b = mid
    return 0.5 * (a + b)


# (noise class, sigma, scipy law of θ independent of the plugin code, grid covering the support)
NP_CASES = [
    (ExponentialNoise, 0.7, stats.expon(scale=0.7), 0.0, 40 * 0.7),
    (OneSidedUniformNoise, 2.0, stats.uniform(0.0, 2.0), 0.0, 2.0),
    (FoldedGaussianNoise, 0.5, stats.halfnorm(scale=0.5), 0.0, 9 * 0.5),
    # controls: the procedure recovers the symmetric closed forms too
    (GaussianNoise, 0.25, stats.norm(scale=0.25), -9 * 0.25, 9 * 0.25),
    (UniformNoise, 0.5, stats.uniform(-0.5, 1.0), -0.5, 0.5),
]


@pytest.mark.parametrize("cls, sigma, law, lo, hi", NP_CASES, ids=lambda v: getattr(v, "name", None))
def test_closed_form_equals_neyman_pearson(cls, sigma, law, lo, hi):
    noise = cls(sigma=sigma)
    # the scipy law is the plugin's law: its draws pass a KS test against it
    draws = noise.sample((4000,), generator=torch.Generator().manual_seed(3), dtype=torch.float64).numpy()
    assert stats.kstest(draws, law.cdf).pvalue > 1e-4
    for p in (0.6, 0.9, 0.99, P_CP):
        closed = noise.radius(p)
        np_value = neyman_pearson_radius(law, p, lo, hi)
        # measured agreement is ~1e-7 relative; a conservative or wrong closed form would show here
        assert closed == pytest.approx(np_value, rel=1e-3), (cls.name, p, closed, np_value)


def test_one_sided_numerical_route_is_not_valid():
    # documents why one-sided noises must override radius(): eq. 3 is the symmetric NP radius
    noise = ExponentialNoise(sigma=1.0)
    assert abs(noise.numerical_radius(0.9) - noise.radius(0.9)) > 0.1


# -- errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", BUILTIN_NOISES, ids=lambda c: c.name)
@pytest.mark.parametrize("bad", [0, 0.0, -0.25, float("nan"), float("inf"), "0.5", None, True])
def test_invalid_sigma_is_a_typed_error(cls, bad):
    with pytest.raises(InvalidParameterError, match="expected") as info:
        cls(sigma=bad)
    assert isinstance(info.value, ValueError) and isinstance(info.value, gsmooth.GsmoothError)
    assert "sigma" in str(info.value)


def test_invalid_sigma_through_the_facade():
    with pytest.raises(ValueError, match="expected"):
        gsmooth.noise("gaussian", sigma=-1)


def test_hyperparameters_are_keyword_only():
    with pytest.raises(TypeError):
        GaussianNoise(0.5)  # type: ignore[misc]


@pytest.mark.parametrize("cls", BUILTIN_NOISES, ids=lambda c: c.name)
@pytest.mark.parametrize("p", [0.4999, 0.0, -0.1, 1.0001, 2.0, float("nan"), float("inf")])
def test_radius_outside_half_one_errors(cls, p):
    with pytest.raises(InvalidParameterError, match="expected p_lower"):
        cls(sigma=0.5).radius(p)
    with pytest.raises(InvalidParameterError):
        cls(sigma=0.5).radius(np.array([0.9, p]))


def test_radius_at_one():
    assert GaussianNoise(sigma=0.25).radius(1.0) == math.inf
    assert LaplaceNoise(sigma=0.25).radius(1.0) == math.inf
    assert ExponentialNoise(sigma=0.25).radius(1.0) == math.inf
    assert FoldedGaussianNoise(sigma=0.25).radius(1.0) == math.inf
    assert OneSidedUniformNoise(sigma=0.25).radius(1.0) == pytest.approx(0.125)


# -- sampling -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls, mean, std",
    [
        (GaussianNoise, 0.0, 1.0),
        (LaplaceNoise, 0.0, math.sqrt(2.0)),
        (UniformNoise, 0.0, 1 / math.sqrt(3.0)),
        (ExponentialNoise, 1.0, 1.0),
        (FoldedGaussianNoise, math.sqrt(2 / math.pi), math.sqrt(1 - 2 / math.pi)),
        (OneSidedUniformNoise, 0.5, math.sqrt(1 / 12)),
    ],
)
def test_sample_moments_in_units_of_sigma(cls, mean, std):
    sigma = 0.3
    x = cls(sigma=sigma).sample((200_000,), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float(x.mean()) == pytest.approx(mean * sigma, abs=0.01 * sigma)
    assert float(x.std()) == pytest.approx(std * sigma, rel=0.01)


def test_noise_equality_and_repr():
    assert GaussianNoise(sigma=0.25) == gsmooth.noise("gaussian", sigma=0.25)
    assert GaussianNoise(sigma=0.25) != GaussianNoise(sigma=0.5)
    assert GaussianNoise(sigma=0.25) != LaplaceNoise(sigma=0.25)
    assert len({GaussianNoise(sigma=0.25), GaussianNoise(sigma=0.25)}) == 1
    assert repr(LaplaceNoise(sigma=0.5)) == "LaplaceNoise(sigma=0.5)"
    assert GaussianNoise(sigma=0.25).describe() == "gaussian(sigma=0.25)"
    assert isinstance(GaussianNoise(sigma=1), Noise)
