"""TSS contrast + brightness: the slice requirement (gsmooth_plugins.transforms._contrast_law) and the interval
certificate built on it (gsmooth.interval.engine), checked against brute force, Monte Carlo through the
real transform, and a coverage experiment with the worst-case classifier."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import binom, norm
from torch import nn

import gsmooth
from gsmooth.errors import UnsupportedTransformError
from gsmooth.interval.engine import certify_interval
from gsmooth_plugins.transforms._contrast_law import NUMERICAL_MARGIN, _cell_width, cell_slack, slice_requirement
from gsmooth_plugins.transforms._neyman_pearson import required_probability, tradeoff_point

SIGMA = 0.2
REF = (0.2, 0.5)  # the clean "image": two pixels, so (k, b) can be read back from any transform of it
CENTER = (0.2, 0.05)  # a slice centre with c_k ≠ 0 (the brightness shift is rescaled by e^{c_k})
HALF = (0.1, 0.1)


def t_for_p(p, a, m, s):
    """The threshold t of the likelihood-ratio set with P-probability p."""
    lo, hi = -40.0, 40.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if tradeoff_point(mid, a, m, s)[0] >= p:
            hi = mid
        else:
            lo = mid
    return hi


def worst_node(center_k, half_k, half_b, sigma):
    """Recompute, independently of slice_requirement's max, where in δ_k the slice is hardest."""
    cells, eps = _cell_width(half_k, sigma, 1e-3)
    delta = -half_k + (np.arange(cells) + 0.5) * 2 * eps
    big_m = math.exp(center_k) * half_b / sigma
    req = required_probability(delta / sigma, big_m, np.exp(-delta))
    j = int(np.argmax(req))
    return float(delta[j]), big_m


class LikelihoodRatioRule(nn.Module):
    """Class 1 iff the whitened smoothing draw (u, v) at x_c lies in {log dQ/dP ≤ t}: the classifier
    that makes the Neyman–Pearson bound tight. It reads (k, b) back from the image (first principles:
    τ((k, b), REF) = e^k (REF + b)) and whitens around the slice centre as seen from x_c:
    u = (k − c_k)/σ, v = e^{c_k} (b − c_b)/σ."""

    def __init__(self, a, m, s, t, center=CENTER, sigma=SIGMA):
        super().__init__()
        self.a, self.m, self.s, self.t, self.c, self.sigma = a, m, s, t, center, sigma

    def forward(self, y):
        y = y.double().reshape(y.shape[0], -1)
        ek = (y[:, 1] - y[:, 0]) / (REF[1] - REF[0])
        k = torch.log(ek)
        b = y[:, 0] / ek - REF[0]
        u = (k - self.c[0]) / self.sigma
        v = math.exp(self.c[0]) * (b - self.c[1]) / self.sigma
        a, m, s = self.a, self.m, self.s
        lr = a * u - a * a / 2 - math.log(s) + v * v / 2 - (v - m) ** 2 / (2 * s * s)
        inside = (lr <= self.t).float()
        return torch.stack([1 - inside, inside], dim=1) * 10


def ref_image():
    return torch.tensor(REF, dtype=torch.float64).reshape(1, 1, 2)


def contrast_of(theta, x=None):
    x = ref_image() if x is None else x
    return gsmooth.transform("contrast")(x.unsqueeze(0), torch.tensor([theta], dtype=torch.float64))[0]


def smoother(model, sigma=SIGMA, noise="gaussian"):
    return gsmooth.Smoother(model, noise=noise, sigma=sigma, transform="contrast", num_classes=2)


# --------------------------------------------------------------------------------------------
# the requirement
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("c_k", [-0.3, 0.0, 0.25])
def test_brightness_only_slice_is_cohen(c_k):
    # no k-range: s = 1, the requirement is Cohen's Φ(e^{c_k} h_b / σ) (plus the numerical margin)
    p = slice_requirement(c_k, 0.0, 0.08, SIGMA)
    expected = norm.cdf(math.exp(c_k) * 0.08 / SIGMA)
    assert expected < p <= expected + 3 * NUMERICAL_MARGIN


def test_requirement_is_sound_and_tight_against_brute_force():
    c_k, h_k, h_b = 0.25, 0.05, 0.06
    p = slice_requirement(c_k, h_k, h_b, SIGMA)
    # every (δ_k, δ_b) of the slice, on a dense grid, with |m| anywhere in [0, M] (not only the edge)
    d = np.linspace(-h_k, h_k, 161)
    m = np.linspace(0.0, math.exp(c_k) * h_b / SIGMA, 9)
    dd, mm = np.meshgrid(d, m)
    brute = required_probability(dd / SIGMA, mm, np.exp(-dd)).max()
    assert brute <= p  # sound: never asks less than the true worst case
    assert p - brute < 2e-3  # tight: the grid's TV slack (≤ 1e-3 in Q) costs little in p
    # and the requirement grows with the slice and with c_k (the brightness shift scales by e^{c_k})
    assert slice_requirement(c_k, h_k, 2 * h_b, SIGMA) > p
    assert slice_requirement(c_k + 0.2, h_k, h_b, SIGMA) > p
    assert slice_requirement(c_k, 2 * h_k, h_b, SIGMA) > p


def test_requirement_accounts_for_the_rescaled_brightness_noise():
    # σ = 1 and a wide k-range, where e^{−δ_k} rescaling costs ≈ 5e-4 in p over the mean shift alone;
    # a fine grid (tolerance 1e-4) makes that visible: ignoring the rescaling would fall below brute force
    h_k, h_b, sigma = 0.3, 1.0, 1.0
    p = slice_requirement(0.0, h_k, h_b, sigma, tolerance=1e-4, nodes=401)
    d = np.linspace(-h_k, h_k, 61)
    brute = required_probability(d / sigma, h_b / sigma, np.exp(-d)).max()
    shift_only = norm.cdf(math.hypot(h_k, h_b) / sigma)
    assert brute - shift_only > 3e-4
    assert brute <= p < brute + 3e-4


@pytest.mark.parametrize("eps", [0.002, 0.01, 0.05])
def test_cell_slack_bounds_the_total_variation(eps):
    # TV between N((a, M), diag(1, s²)) at a grid point and at δ_k ± eps, on a fine 2-D grid
    delta0 = 0.03
    u = np.linspace(-9, 9, 1801)
    v = np.linspace(-9, 9, 1801)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    du, dv = u[1] - u[0], v[1] - v[0]

    def dens(delta):
        a, s = delta / SIGMA, math.exp(-delta)
        return norm.pdf(uu - a) * norm.pdf(vv, loc=0.7, scale=s)

    q0 = dens(delta0)
    for other in (delta0 - eps, delta0 + eps):
        tv = 0.5 * np.abs(q0 - dens(other)).sum() * du * dv
        assert tv <= cell_slack(eps, SIGMA) + 1e-6
    assert cell_slack(0.0, SIGMA) == 0.0


# --------------------------------------------------------------------------------------------
# the certificate, through the real transform and smoother
# --------------------------------------------------------------------------------------------


def test_worst_case_classifier_through_the_real_transform():
    """The NP-worst classifier at the requirement's level: probability p at x_c, just above 1/2 at
    the slice's hardest corner, measured by Monte Carlo with the smoother (so the composition law,
    the image centring, e^{c_k} and the whitening are all checked against the real transform)."""
    p_req = slice_requirement(CENTER[0], HALF[0], HALF[1], SIGMA)
    delta, big_m = worst_node(CENTER[0], HALF[0], HALF[1], SIGMA)
    a, s = delta / SIGMA, math.exp(-delta)
    t = t_for_p(p_req, a, big_m, s)
    sm = smoother(LikelihoodRatioRule(a, big_m, s, t))
    num = 400_000
    x_c = contrast_of(CENTER)
    corner = contrast_of((CENTER[0] + delta, CENTER[1] + HALF[1]))
    counts = sm.count(torch.stack([x_c, corner]), num, batch_size=50_000, seed=3)
    p_mc, q_mc = (counts[:, 1].double() / num).tolist()
    sd = 0.5 / math.sqrt(num)
    assert abs(p_mc - p_req) < 4 * sd
    assert q_mc > 0.5 - 4 * sd  # the certificate's promise at the hardest point
    assert q_mc < 0.5 + 2e-3 + 4 * sd  # and it is tight there
    # the naive reading (Cohen with the brightness shift not rescaled) would be wrong here
    assert norm.cdf(math.hypot(HALF[0], HALF[1]) / SIGMA) < p_req


def _coverage_setup(level_shift):
    # the level is set from the test's own worst case (not from slice_requirement), so a requirement
    # that asks too little shows up as false certificates
    delta, big_m = worst_node(CENTER[0], HALF[0], HALF[1], SIGMA)
    a, s = delta / SIGMA, math.exp(-delta)
    p_true = float(required_probability(a, big_m, s))
    t = t_for_p(p_true + level_shift, a, big_m, s)
    q_corner = float(tradeoff_point(t, a, big_m, s)[1])
    model = LikelihoodRatioRule(a, big_m, s, t)
    low = (CENTER[0] - HALF[0], CENTER[1] - HALF[1])
    high = (CENTER[0] + HALF[0], CENTER[1] + HALF[1])
    return smoother(model), low, high, q_corner


def test_coverage_with_the_worst_case_classifier():
    """Where the truth is a counterexample (class 1 has probability < 1/2 at a corner of the range),
    certificates for class 1 may appear only with probability ≤ α. 150 trials, fixed seeds."""
    alpha, trials = 0.05, 150
    x = ref_image().unsqueeze(0).expand(trials, 1, 1, 2).float()
    sm, low, high, q_corner = _coverage_setup(-0.01)
    assert q_corner < 0.5  # the range really contains a point where class 1 loses
    res = certify_interval(sm, x, low=low, high=high, slices=1, n0=100, n=3000, alpha=alpha, seed=11)
    false = sum(c.prediction == 1 for c in res)
    assert false <= binom.ppf(0.999, trials, alpha)
    # positive control: slightly above the requirement, the truth holds and certificates do appear
    sm, low, high, q_corner = _coverage_setup(+0.04)
    assert q_corner > 0.5
    res = certify_interval(sm, x, low=low, high=high, slices=1, n0=100, n=3000, alpha=alpha, seed=11)
    assert sum(c.prediction == 1 for c in res) > 0.8 * trials


class Mean(nn.Module):
    """Class 1 iff the mean pixel exceeds a threshold (a benign model)."""

    def __init__(self, threshold=0.2):
        super().__init__()
        self.threshold = threshold

    def forward(self, x):
        m = x.mean(dim=(1, 2, 3)) - self.threshold
        return torch.stack([-m, m], 1) * 50


def test_interval_fields_and_per_slice_requirements():
    sm = smoother(Mean())
    x = torch.full((1, 4, 4), 0.8)
    c = certify_interval(sm, x, low=(-0.2, -0.2), high=(0.2, 0.2), slices=(4, 2), n0=50, n=2000, alpha=0.01)
    assert c.certified and c.prediction == 1 and c.kind == "exact" and c.centering == "image"
    assert c.num_slices == 8 and len(c.slice_requirements) == 8
    req = np.array(c.slice_requirements)
    centers = np.array(c.centers)
    # larger c_k rescales the brightness shift up: more is required
    order = np.argsort(centers[:, 0])
    assert (np.diff(req[order]) >= -1e-12).all() and req[order][-1] > req[order][0]
    assert c.requirement == pytest.approx(req.max())
    expected = [SIGMA * norm.ppf(slice_requirement(ck, 0.05, 0.1, SIGMA)) for ck in centers[:, 0]]
    np.testing.assert_allclose(req, expected, rtol=1e-12)
    assert c.margin == pytest.approx(min(r - q for r, q in zip(c.slice_radii, req)))
    assert "for every α in [-0.2:0.2,-0.2:0.2]" in c.statement()
    # a model that changes its answer inside the range is not certified
    dark = certify_interval(smoother(Mean(0.75)), x, low=(-0.2, -0.2), high=(0.2, 0.2), slices=2, n0=50, n=500,
                            alpha=0.01)
    assert dark.prediction == -1


def test_hopeless_sample_sizes_draw_nothing():
    calls = []

    class Counting(Mean):
        def forward(self, x):
            calls.append(x.shape[0])
            return super().forward(x)

    sm = smoother(Counting())
    c = certify_interval(sm, torch.full((1, 4, 4), 0.8), low=(-0.4, -0.4), high=(0.4, 0.4), slices=1, n0=5, n=5,
                         alpha=0.001)
    assert c.skipped and c.count == 0 and c.prediction == -1 and c.margin < 0
    assert calls == []


def test_only_gaussian_noise_is_accepted():
    sm = smoother(Mean(), noise="laplace")
    with pytest.raises(UnsupportedTransformError, match="expected --noise gaussian, got 'laplace'"):
        certify_interval(sm, torch.full((1, 4, 4), 0.8), low=-0.1, high=0.1, slices=2, n0=10, n=100)


def test_a_law_without_a_strategy_is_refused():
    from gsmooth_plugins.transforms.contrast import contrast

    class Odd(gsmooth.Transform):  # contrast's forward, but no slice_strategy() for its law
        name = "odd"
        param_dim = 2
        composes_additively = False
        composition = "mystery"

        def forward(self, x, theta):
            return contrast(x, theta)

    sm = gsmooth.Smoother(Mean(), noise="gaussian", sigma=0.2, transform=Odd(), num_classes=2)
    with pytest.raises(UnsupportedTransformError, match="got 'mystery'"):
        certify_interval(sm, torch.full((1, 4, 4), 0.8), low=-0.1, high=0.1, slices=2, n0=10, n=100)


def test_bad_slice_geometry_is_a_typed_error():
    from gsmooth.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="expected sigma > 0"):
        slice_requirement(0.0, 0.1, 0.1, 0.0)
    with pytest.raises(ValueError, match="half-widths >= 0"):
        slice_requirement(0.0, -0.1, 0.1, 0.2)
