"""Statistical soundness of CERTIFY and PREDICT, against truths known in closed form.

Every test here draws many independent trials with fixed seeds and compares the measured rate of
*violations* (a non-abstained answer that is the wrong class, or whose radius exceeds the true
robust radius of the smoothed classifier g) with

* the level α plus binomial slack (the guarantee of Cohen et al. 2019), and
* the *exact* expected rate, computed here by summing binomial probabilities over every possible
  count (so a wrong noise scale, a wrong bound or a wrong radius formula is caught even when it
  stays under α), and
* a lower bound where the true rate is close to α, so that a test that can never fail (a bound that
  always abstains, a radius that is always 0) is caught too.

The base classifiers are chosen so that g and its true robust radius are known exactly:

* Gaussian σ, ℓ2 — a 2-class linear model ``f(x) = [0, w·(x − c)]``: g = f, ``p_A = Φ(|m|/σ)`` for
  the margin ``m = w·(x − c)`` (‖w‖ = 1), and the true ℓ2 radius of g is ``|m| = σΦ⁻¹(p_A)``.
* Laplace λ, ℓ1 — a threshold on one pixel ``f(x) = 1[x_j > t]``: ``p_A = 1 − ½exp(−|x_j − t|/λ)``,
  g = f (the noise has median 0), and the true ℓ1 radius is ``|x_j − t| = −λ ln(2(1 − p_A))``:
  the Laplace certificate is tight here, so a violation is exactly ``p_lower > p_A``.
* Uniform U[−λ, λ], ℓ1 — the same threshold: ``p_A = ½ + |x_j − t|/(2λ)`` and the true radius
  ``|x_j − t| = 2λ(p_A − ½)``, again tight.

* Several classes with known probabilities — ``toy_models.NoiseCategorical`` turns each Gaussian
  draw into a class, so votes are exactly multinomial — for the cases two classes cannot show: a
  tie at p_A = ½, a three-class near tie (0.45, 0.44, 0.11) where choosing ĉ from the counted
  samples inflates p_lower, PREDICT with n_A + n_B < n. Each statistic is checked to reject a
  planted mutant (selection from the same samples; a binomial test over n instead of n_A + n_B).

The same helpers drive ``experiments/statistics_report.py`` at larger scale. Run with ``-s`` to see
the measured rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

import gsmooth
from gsmooth.core.smoother import PHASE_ESTIMATION, PHASE_SELECTION
from gsmooth.core.stats import clopper_pearson_lower

from toy_models import NoiseCategorical

SHAPE = (1, 4, 4)
DIM = 16
N0 = 100
BATCH = 20_000  # noisy samples per forward pass: tiny images, so large batches are cheap
Z = 4.0  # binomial slack in standard deviations (a false alarm has probability ~6e-5 per check)


# -- models whose smoothed classifier is known ------------------------------------------------------
class LinearModel(nn.Module):
    """Logits ``[0, w·(x − c)]`` on flattened images: class 1 iff ``w·(x − c) > 0``."""

    def __init__(self, w: torch.Tensor, c: torch.Tensor):
        super().__init__()
        self.register_buffer("w", w.flatten().float())
        self.register_buffer("c", c.flatten().float())

    def forward(self, x):
        z = (x.flatten(1) - self.c) @ self.w
        return torch.stack([torch.zeros_like(z), z], dim=1)


class ThresholdModel(nn.Module):
    """Logits ``[0, K·(x_j − t)]``: class 1 iff pixel ``j`` exceeds ``t``; other pixels are ignored."""

    def __init__(self, j: int, t: float, scale: float = 1000.0):
        super().__init__()
        self.j = int(j)
        self.scale = float(scale)
        self.register_buffer("t", torch.tensor(float(t)))

    def forward(self, x):
        z = (x.flatten(1)[:, self.j] - self.t) * self.scale
        return torch.stack([torch.zeros_like(z), z], dim=1)


@dataclass
class Case:
    """One image with its smoothed classifier's true top class, p_A and robust radius."""

    noise: str
    sigma: float
    model: nn.Module
    x: torch.Tensor  # (C, H, W) in [0, 1]
    true_class: int
    p_a: float
    true_radius: float
    radius_fn: Callable  # the noise's closed-form certificate, p_lower → radius

    @property
    def label(self) -> str:
        return f"{self.noise}(σ={self.sigma:g}) p_A={self.p_a:.4g} class={self.true_class} R*={self.true_radius:.4f}"


def gaussian_case(p_a: float, sigma: float = 0.5, true_class: int = 1) -> Case:
    """Linear model, image at signed margin ±σΦ⁻¹(p_A) from the hyperplane (p_A = 0.5: on it)."""
    w = torch.ones(DIM) / math.sqrt(DIM)
    c = torch.full((DIM,), 0.5)
    sign = 1.0 if true_class == 1 else -1.0
    m = sigma * stats.norm.ppf(p_a)
    x = (c + sign * m * w).view(SHAPE).float()
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    # The truth of the image actually certified (float32), not of the float64 intent.
    margin = float(((x.flatten().double() - c.double()) @ w.double()))
    true_radius = abs(margin)
    p_true = float(stats.norm.cdf(true_radius / sigma))
    return Case(
        "gaussian", sigma, LinearModel(w, c), x, true_class, p_true, true_radius,
        lambda p: sigma * stats.norm.ppf(p),
    )


def _threshold_image(r: float, true_class: int, j: int = 5):
    sign = 1.0 if true_class == 1 else -1.0
    x = torch.full((DIM,), 0.5)
    x[j] = 0.5 + sign * r / 2
    t = torch.tensor(0.5 - sign * r / 2, dtype=torch.float32)
    x = x.view(SHAPE).float()
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    true_radius = abs(float(x.flatten()[j]) - float(t))
    return x, ThresholdModel(j, float(t)), true_radius


def laplace_case(p_a: float, lam: float = 0.1, true_class: int = 1) -> Case:
    x, model, r = _threshold_image(-lam * math.log(2 * (1 - p_a)), true_class)
    p_true = 1 - 0.5 * math.exp(-r / lam)
    return Case(
        "laplace", lam, model, x, true_class, p_true, r,
        lambda p: -lam * np.log(2 * (1 - np.asarray(p, dtype=np.float64))),
    )


def uniform_case(p_a: float, lam: float = 0.5, true_class: int = 1) -> Case:
    assert 0.5 <= p_a < 1.0
    x, model, r = _threshold_image(2 * lam * (p_a - 0.5), true_class)
    p_true = 0.5 + r / (2 * lam)
    return Case(
        "uniform", lam, model, x, true_class, p_true, r,
        lambda p: 2 * lam * (np.asarray(p, dtype=np.float64) - 0.5),
    )


MAKE_CASE = {"gaussian": gaussian_case, "laplace": laplace_case, "uniform": uniform_case}


def smoother(case: Case) -> gsmooth.Smoother:
    return gsmooth.Smoother(case.model, noise=case.noise, sigma=case.sigma, num_classes=2, input_shape=SHAPE)


# -- exact expectations ------------------------------------------------------------------------------
def tolerance(expected: float, trials: int) -> float:
    """Z binomial standard deviations around an exact rate, plus 2 events for rates near 0 or 1."""
    return Z * math.sqrt(max(expected * (1 - expected), 0.0) / trials) + 2.0 / trials


def cp_exceed_prob(p: float, n: int, alpha: float) -> float:
    """Exact P(clopper_pearson_lower(N, n, α) > p) for N ~ Bin(n, p)."""
    k = np.arange(n + 1)
    return float(stats.binom.pmf(k, n, p)[clopper_pearson_lower(k, n, alpha) > p].sum())


def selection_correct_prob(case: Case, n0: int) -> float:
    """P(ĉ = true class) from n0 votes; argmax breaks a tie towards class 0."""
    p1 = case.p_a if case.true_class == 1 else 1 - case.p_a  # P(vote for class 1)
    half = n0 // 2
    if case.true_class == 1:
        return float(stats.binom.sf(half, n0, p1))  # N1 > n0/2 (N1 = n0/2 is a tie → class 0)
    return float(stats.binom.cdf(half, n0, p1))


def certify_truth(case: Case, n: int, n0: int, alpha: float) -> dict:
    """Exact violation / abstention rates and radius moments of CERTIFY on ``case``."""
    k = np.arange(n + 1)
    pl = clopper_pearson_lower(k, n, alpha)
    ok = pl > 0.5
    radius = np.zeros(n + 1)
    radius[ok] = case.radius_fn(pl[ok])
    s = selection_correct_prob(case, n0)
    right = stats.binom.pmf(k, n, case.p_a)  # votes for ĉ when ĉ is the true class
    wrong = stats.binom.pmf(k, n, 1 - case.p_a)  # ... when ĉ is the other class
    mean = s * (right * radius).sum() + (1 - s) * (wrong * radius).sum()
    second = s * (right * radius**2).sum() + (1 - s) * (wrong * radius**2).sum()
    return {
        # right class: a radius above the truth ⇔ p_lower > p_A (the certificates are tight here)
        "violation": float(s * right[pl > case.p_a].sum() + (1 - s) * wrong[ok].sum()),
        "abstain": float(s * right[~ok].sum() + (1 - s) * wrong[~ok].sum()),
        "mean_radius": float(mean),
        "sd_radius": float(math.sqrt(max(second - mean**2, 0.0))),
    }


def predict_truth(p1: float, n: int, alpha: float, true_class: int = 1) -> dict:
    """Exact rates of PREDICT with 2 classes, P(vote for class 1) = p1.

    The two-sided binomial test at 1/2 of the top count ``a`` out of ``n`` has p-value
    ``min(1, 2·P(Bin(n, ½) ≥ a))`` (the distribution is symmetric), computed independently here.
    """
    k = np.arange(n + 1)  # votes for class 1
    top = np.maximum(k, n - k)
    pval = np.minimum(1.0, 2.0 * stats.binom.sf(top - 1, n, 0.5))
    answered = pval <= alpha
    pmf = stats.binom.pmf(k, n, p1)
    says_1, says_0 = answered & (k > n - k), answered & (k < n - k)
    wrong = says_0 if true_class == 1 else says_1
    return {"answer": float(pmf[answered].sum()), "wrong": float(pmf[wrong].sum())}


# -- running the engine ------------------------------------------------------------------------------
def run_certify(case: Case, *, trials: int, n: int, alpha: float, seed: int, n0: int = N0) -> dict:
    """Certify ``trials`` copies of ``case.x`` (independent noise streams) in one call."""
    batch = case.x.unsqueeze(0).expand(trials, *SHAPE)
    res = smoother(case).certify(batch, n0=n0, n=n, alpha=alpha, batch_size=BATCH, seed=seed)
    pred, radius = np.asarray(res.prediction), np.asarray(res.radius)
    answered = pred != -1
    violation = answered & ((pred != case.true_class) | (radius > case.true_radius))
    return {
        "violation": float(violation.mean()),
        "abstain": float((~answered).mean()),
        "wrong_class": float((answered & (pred != case.true_class)).mean()),
        "mean_radius": float(radius.mean()),
        "max_radius": float(radius.max()),
    }


def run_predict(case: Case, *, trials: int, n: int, alpha: float, seed: int) -> dict:
    batch = case.x.unsqueeze(0).expand(trials, *SHAPE)
    res = smoother(case).predict(batch, n=n, alpha=alpha, batch_size=BATCH, seed=seed)
    pred = np.asarray(res.prediction)
    answered = pred != -1
    return {
        "answer": float(answered.mean()),
        "wrong": float((answered & (pred != case.true_class)).mean()),
    }


# ==================================================================================================
# 1. Clopper–Pearson coverage
# ==================================================================================================
CP_TRIALS = 20_000
CP_PS = (0.5, 0.9, 0.99, 0.999)
CP_NS = (50, 1000)
CP_ALPHAS = (0.01, 0.05, 0.1)


def test_clopper_pearson_inverts_the_binomial_tail():
    """p_lower is the p at which P(Bin(n, p) ≥ count) = α — the definition, checked independently of Beta."""
    for n, count, alpha in [(50, 40, 0.05), (1000, 990, 0.01), (1000, 500, 0.1), (100_000, 99_000, 0.001)]:
        pl = clopper_pearson_lower(count, n, alpha)
        tail = stats.binom.sf(count - 1, n, pl)
        assert tail == pytest.approx(alpha, rel=1e-6), (n, count, alpha, pl, tail)
    assert clopper_pearson_lower(0, 10, 0.05) == 0.0


@pytest.mark.parametrize("n", CP_NS)
@pytest.mark.parametrize("p", CP_PS)
def test_clopper_pearson_coverage(p, n):
    rng = np.random.default_rng([20250101, n, int(round(p * 1000))])
    counts = rng.binomial(n, p, size=CP_TRIALS)
    values, inverse = np.unique(counts, return_inverse=True)
    for alpha in CP_ALPHAS:
        pl = np.asarray(clopper_pearson_lower(values, n, alpha))[inverse]
        rate = float((pl > p).mean())
        exact = cp_exceed_prob(p, n, alpha)
        bound = alpha + Z * math.sqrt(alpha * (1 - alpha) / CP_TRIALS)
        msg = f"CP p={p} n={n} α={alpha}: P(p_lower > p) measured {rate:.4f}, exact {exact:.4f}, bound {bound:.4f}"
        print(msg)
        assert exact <= alpha + 1e-12, msg  # the guarantee itself, with no sampling error
        assert rate <= bound, msg
        assert abs(rate - exact) <= tolerance(exact, CP_TRIALS), msg


def test_clopper_pearson_is_not_absurdly_conservative():
    """Where the binomial is nearly continuous, CP's miss rate is close to α (exact: 0.0974, 0.0919)."""
    alpha = 0.1
    for p, n in [(0.5, 1000), (0.9, 1000)]:
        rng = np.random.default_rng([7, n, int(p * 1000)])
        counts = rng.binomial(n, p, size=CP_TRIALS)
        rate = float((np.asarray(clopper_pearson_lower(counts, n, alpha)) > p).mean())
        exact = cp_exceed_prob(p, n, alpha)
        msg = f"CP p={p} n={n} α={alpha}: miss rate {rate:.4f} (exact {exact:.4f}); expected ≥ 0.8α"
        print(msg)
        assert exact >= 0.8 * alpha, msg
        assert rate >= 0.8 * alpha, msg


# ==================================================================================================
# 2.–3., 5. CERTIFY coverage: Gaussian/ℓ2, Laplace/ℓ1, uniform/ℓ1
# ==================================================================================================
COVER_TRIALS = 2000
COVER_N = 1000
COVER_ALPHA = 0.1

COVER_CASES = [
    ("gaussian", 0.8, 1),
    ("gaussian", 0.95, 0),
    ("gaussian", 0.99, 1),
    ("gaussian", 0.999, 1),
    ("laplace", 0.8, 1),
    ("laplace", 0.95, 0),
    ("uniform", 0.8, 1),
    ("uniform", 0.95, 0),
]


@pytest.mark.parametrize("noise,p_a,true_class", COVER_CASES)
def test_certify_coverage(noise, p_a, true_class):
    case = MAKE_CASE[noise](p_a, true_class=true_class)
    seed = 1000 + COVER_CASES.index((noise, p_a, true_class))
    got = run_certify(case, trials=COVER_TRIALS, n=COVER_N, alpha=COVER_ALPHA, seed=seed)
    truth = certify_truth(case, COVER_N, N0, COVER_ALPHA)
    bound = COVER_ALPHA + Z * math.sqrt(COVER_ALPHA * (1 - COVER_ALPHA) / COVER_TRIALS)
    msg = (
        f"{case.label} n={COVER_N} α={COVER_ALPHA} T={COVER_TRIALS}: violation {got['violation']:.4f} "
        f"(exact {truth['violation']:.4f}, bound {bound:.4f}); abstain {got['abstain']:.4f} "
        f"(exact {truth['abstain']:.4f}); wrong class {got['wrong_class']:.4f}; "
        f"mean radius {got['mean_radius']:.4f} (exact {truth['mean_radius']:.4f})"
    )
    print(msg)
    assert got["violation"] <= bound, msg
    assert abs(got["violation"] - truth["violation"]) <= tolerance(truth["violation"], COVER_TRIALS), msg
    assert abs(got["abstain"] - truth["abstain"]) <= tolerance(truth["abstain"], COVER_TRIALS), msg
    sd_mean = truth["sd_radius"] / math.sqrt(COVER_TRIALS)
    assert abs(got["mean_radius"] - truth["mean_radius"]) <= Z * sd_mean + 1e-9, msg
    if p_a == 0.8:
        # Non-vacuous: the exact rate is ≈ 0.095 here, so a conservative or broken engine fails.
        assert got["violation"] >= COVER_ALPHA / 2, msg


CONV_NS = ((100, 1000), (1000, 200), (10_000, 50))  # (n, trials): fewer trials at large n
CONV_ALPHA = 0.001
CONV_P = {"gaussian": 0.99, "laplace": 0.99, "uniform": 0.9}


@pytest.mark.parametrize("noise", sorted(CONV_P))
def test_certified_radius_converges_from_below(noise):
    case = MAKE_CASE[noise](CONV_P[noise])
    means, gaps = [], []
    for i, (n, trials) in enumerate(CONV_NS):
        got = run_certify(case, trials=trials, n=n, alpha=CONV_ALPHA, seed=77 + i)
        truth = certify_truth(case, n, N0, CONV_ALPHA)
        msg = (
            f"{case.label} α={CONV_ALPHA} n={n} T={trials}: mean radius {got['mean_radius']:.4f} "
            f"(exact {truth['mean_radius']:.4f}), ratio to truth {got['mean_radius'] / case.true_radius:.4f}, "
            f"violation {got['violation']:.4f}, max radius {got['max_radius']:.4f}"
        )
        print(msg)
        assert abs(got["mean_radius"] - truth["mean_radius"]) <= Z * truth["sd_radius"] / math.sqrt(trials) + 1e-9, msg
        assert got["mean_radius"] < case.true_radius, msg
        means.append(got["mean_radius"])
        gaps.append(case.true_radius - got["mean_radius"])
    assert means[0] < means[1] < means[2], means
    assert gaps[2] < gaps[0] / 2, gaps


# ==================================================================================================
# 4. PREDICT
# ==================================================================================================
PRED_N = 200
PRED_ALPHA = 0.1


@pytest.mark.parametrize("p_a,trials", [(0.5, 4000), (0.55, 1000), (0.6, 1000)])
def test_predict_error_rate(p_a, trials):
    case = gaussian_case(p_a)
    got = run_predict(case, trials=trials, n=PRED_N, alpha=PRED_ALPHA, seed=int(p_a * 1000))
    truth = predict_truth(case.p_a, PRED_N, PRED_ALPHA)
    bound = PRED_ALPHA + Z * math.sqrt(PRED_ALPHA * (1 - PRED_ALPHA) / trials)
    if p_a == 0.5:
        # On the hyperplane both classes tie: any answer is an error.
        err, err_exact = got["answer"], truth["answer"]
    else:
        err, err_exact = got["wrong"], truth["wrong"]
    msg = (
        f"PREDICT {case.label} n={PRED_N} α={PRED_ALPHA} T={trials}: error {err:.4f} (exact {err_exact:.4g}, "
        f"bound {bound:.4f}); answered {got['answer']:.4f} (exact {truth['answer']:.4f})"
    )
    print(msg)
    assert err_exact <= PRED_ALPHA, msg
    assert err <= bound, msg
    assert abs(err - err_exact) <= tolerance(err_exact, trials), msg
    assert abs(got["answer"] - truth["answer"]) <= tolerance(truth["answer"], trials), msg
    if p_a == 0.5:
        assert err >= PRED_ALPHA / 2, msg  # non-vacuous: the test is not conservative to the point of silence


# ==================================================================================================
# 6. Toy models that draw the class from a known distribution: ties, near-ties, several classes
# ==================================================================================================
# ``NoiseCategorical`` turns each Gaussian draw into a class with known probabilities, so the votes
# are exactly Multinomial(n, p) and every rate below has an exact value. Each statistic is a function
# that raises AssertionError; the real engine passes it and a planted mutant fails it (tested).
TOY_SHAPE = (1, 1, 1)
TOY_X = torch.full(TOY_SHAPE, 0.5)
#: a per-test false-alarm level: a sound engine exceeds the Binomial quantile with probability ≤ this
QUANTILE_LEVEL = 1e-4


def toy_smoother(probs, cls=gsmooth.Smoother) -> gsmooth.Smoother:
    model = NoiseCategorical(TOY_X, 1.0, probs)
    return cls(model, noise="gaussian", sigma=1.0, num_classes=len(probs), input_shape=TOY_SHAPE)


class SameSampleSelection(gsmooth.Smoother):
    """MUTANT CERTIFY: ĉ is the top class of the very n samples it then counts (no separate n0 draw)."""

    def _certify_checked(self, x, *, n, **kw):
        self._mutant_n = n
        return super()._certify_checked(x, n=n, **kw)

    def _count(self, x, num, *, phase, **kw):
        if phase == PHASE_SELECTION:  # the estimation stream itself, with n draws: the same samples
            num, phase = self._mutant_n, PHASE_ESTIMATION
        return super()._count(x, num, phase=phase, **kw)


def _multinomial_grid(probs, n):
    """Every (N_0, N_1, N_2) of Multinomial(n, probs) (3 classes) with its probability."""
    p = np.asarray(probs, dtype=np.float64)
    a = np.arange(n + 1)[:, None]
    b = np.arange(n + 1)[None, :]
    c = n - a - b
    ok = c >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        pmf = stats.binom.pmf(a, n, p[0]) * stats.binom.pmf(b, n - np.minimum(a, n), p[1] / (1 - p[0]))
    pmf = np.where(ok, pmf, 0.0)
    counts = np.stack(np.broadcast_arrays(a, b, np.where(ok, c, -1)), -1)
    return counts[ok], pmf[ok]


def selection_probs(probs, n0: int) -> np.ndarray:
    """P(ĉ = c) from n0 votes (argmax: ties go to the lowest index)."""
    if len(probs) == 2:
        k = np.arange(n0 + 1)  # votes for class 1
        pmf = stats.binom.pmf(k, n0, probs[1])
        return np.array([pmf[k <= n0 - k].sum(), pmf[k > n0 - k].sum()])
    counts, pmf = _multinomial_grid(probs, n0)
    win = np.argmax(counts, axis=1)  # first maximum: the lowest index, as torch.argmax on ties
    return np.array([pmf[win == c].sum() for c in range(len(probs))])


def certify_exceed_truth(probs, n, n0, alpha, *, same_sample=False) -> float:
    """Exact P(p_lower > max_c p_c) for CERTIFY (real: ĉ from n0 separate votes; mutant: from the n)."""
    p_max = max(probs)
    k = np.arange(n + 1)
    bad = clopper_pearson_lower(k, n, alpha) > p_max
    if not same_sample:
        sel = selection_probs(probs, n0)
        return float(sum(sel[c] * stats.binom.pmf(k, n, probs[c])[bad].sum() for c in range(len(probs))))
    if len(probs) == 2:
        pmf = stats.binom.pmf(k, n, probs[1])
        top = np.maximum(k, n - k)
        return float(pmf[bad[top]].sum())
    counts, pmf = _multinomial_grid(probs, n)
    return float(pmf[bad[counts.max(axis=1)]].sum())


def check_certify_bound(smoother, probs, *, trials, n, n0, alpha, seed, exact) -> dict:
    """The statistic: how often CERTIFY's p_lower exceeds the largest true class probability — a
    bound that is wrong whichever class was selected (and, when max p ≤ 1/2 and p_lower > 1/2, a
    false certificate). Must stay ≤ the Binomial(trials, α) upper quantile, and match the exact rate."""
    batch = TOY_X.unsqueeze(0).expand(trials, *TOY_SHAPE)
    res = smoother.certify(batch, n0=n0, n=n, alpha=alpha, batch_size=BATCH, seed=seed)
    p_lower, pred = np.asarray(res.p_lower), np.asarray(res.prediction)
    exceed = int((p_lower > max(probs)).sum())
    issued = int((pred != -1).sum())
    limit = int(stats.binom.ppf(1 - QUANTILE_LEVEL, trials, alpha))
    msg = (f"CERTIFY p={probs} n={n} n0={n0} α={alpha} T={trials}: p_lower > max p in {exceed} trials "
           f"(Binomial(T, α) {1 - QUANTILE_LEVEL:g}-quantile {limit}; exact rate {exact:.4f} → "
           f"{exact * trials:.1f} expected); certificates issued {issued}")
    print(msg)
    assert exceed <= limit, msg
    assert abs(exceed / trials - exact) <= tolerance(exact, trials), msg
    return {"exceed": exceed, "issued": issued, "limit": limit}


HALF_TRIALS, HALF_N, HALF_N0, HALF_ALPHA = 3000, 100, 100, 0.1


def test_certify_at_p_half_almost_never_certifies():
    """p_A = ½ exactly (2 classes): any certificate is false; their number must stay below the
    Binomial(trials, α) quantile (exact rate 0.0967 at n = 100, α = 0.1)."""
    probs = (0.5, 0.5)
    exact = certify_exceed_truth(probs, HALF_N, HALF_N0, HALF_ALPHA)
    got = check_certify_bound(toy_smoother(probs), probs, trials=HALF_TRIALS, n=HALF_N, n0=HALF_N0,
                              alpha=HALF_ALPHA, seed=601, exact=exact)
    assert got["issued"] == got["exceed"]  # with p = ½ every certificate has p_lower > ½ = max p
    assert got["issued"] >= exact * HALF_TRIALS / 3  # non-vacuous: the test sees certificates at all


def test_certify_at_p_half_statistic_rejects_the_same_sample_mutant():
    probs = (0.5, 0.5)
    exact = certify_exceed_truth(probs, HALF_N, HALF_N0, HALF_ALPHA)  # the real engine's rate
    mutant = certify_exceed_truth(probs, HALF_N, HALF_N0, HALF_ALPHA, same_sample=True)
    assert mutant > 1.5 * HALF_ALPHA > exact  # exact: 0.19 vs 0.097
    with pytest.raises(AssertionError, match="p_lower > max p"):
        check_certify_bound(toy_smoother(probs, SameSampleSelection), probs, trials=HALF_TRIALS, n=HALF_N,
                            n0=HALF_N0, alpha=HALF_ALPHA, seed=601, exact=exact)


TIE3 = (0.45, 0.44, 0.11)
TIE3_TRIALS, TIE3_N, TIE3_N0, TIE3_ALPHA = 3000, 100, 100, 0.1


def test_certify_three_class_near_tie_bound_holds():
    """p = (0.45, 0.44, 0.11): ĉ is A or B about evenly; P(p_lower > 0.45) is 0.083 exactly with ĉ
    from separate n0 draws, ≤ α = 0.1 (the Clopper–Pearson guarantee for the selected class)."""
    exact = certify_exceed_truth(TIE3, TIE3_N, TIE3_N0, TIE3_ALPHA)
    assert exact <= TIE3_ALPHA
    got = check_certify_bound(toy_smoother(TIE3), TIE3, trials=TIE3_TRIALS, n=TIE3_N, n0=TIE3_N0,
                              alpha=TIE3_ALPHA, seed=602, exact=exact)
    # no class has p > ½: every certificate issued is false, and counted (p_lower > ½ > max p)
    assert got["issued"] <= got["exceed"]
    assert got["exceed"] >= exact * TIE3_TRIALS / 2  # non-vacuous


def test_certify_three_class_near_tie_statistic_rejects_the_same_sample_mutant():
    """Selecting ĉ from the counted samples picks max(N_A, N_B): exact P(p_lower > 0.45) = 0.162 > α."""
    exact = certify_exceed_truth(TIE3, TIE3_N, TIE3_N0, TIE3_ALPHA)
    mutant = certify_exceed_truth(TIE3, TIE3_N, TIE3_N0, TIE3_ALPHA, same_sample=True)
    limit = stats.binom.ppf(1 - QUANTILE_LEVEL, TIE3_TRIALS, TIE3_ALPHA) / TIE3_TRIALS
    assert mutant > limit + 4 * math.sqrt(mutant * (1 - mutant) / TIE3_TRIALS), (mutant, limit)
    with pytest.raises(AssertionError, match="p_lower > max p"):
        check_certify_bound(toy_smoother(TIE3, SameSampleSelection), TIE3, trials=TIE3_TRIALS, n=TIE3_N,
                            n0=TIE3_N0, alpha=TIE3_ALPHA, seed=602, exact=exact)


# -- PREDICT with three classes (n_A + n_B < n) -------------------------------------------------------------
def predict_truth3(probs, n, alpha, truth, *, use_n=False) -> dict:
    """Exact answer / error rates of PREDICT over Multinomial(n, probs), 3 classes (``truth=None``: a
    tie at the top, any answer is an error). The two-sided binomial p-value of the top count k out of
    m = n_A + n_B (mutant: m = n) is ``P(|Bin(m, ½) − m/2| ≥ |k − m/2|)``, computed independently here."""
    counts, pmf = _multinomial_grid(probs, n)
    order = np.argsort(-counts, axis=1, kind="stable")  # ties: the lowest index first, as torch.topk
    top = np.take_along_axis(counts, order[:, :1], 1)[:, 0]
    second = np.take_along_axis(counts, order[:, 1:2], 1)[:, 0]
    m = np.full_like(top, n) if use_n else top + second
    lo = np.minimum(top, m - top)
    pval = np.minimum(1.0, 2.0 * stats.binom.cdf(lo, m, 0.5))
    pval = np.where(2 * top == m, 1.0, pval)
    answered = pval <= alpha
    wrong = answered if truth is None else answered & (order[:, 0] != truth)
    return {"answer": float(pmf[answered].sum()), "wrong": float(pmf[wrong].sum())}


def check_predict_error_rate(smoother, probs, truth, *, trials, n, alpha, seed, exact) -> dict:
    """The statistic: PREDICT's error rate (a non-abstained wrong class; at a tie, any answer) must
    stay ≤ the Binomial(trials, α) quantile and match the exact rate of the n_A + n_B test."""
    batch = TOY_X.unsqueeze(0).expand(trials, *TOY_SHAPE)
    res = smoother.predict(batch, n=n, alpha=alpha, batch_size=BATCH, seed=seed)
    pred = np.asarray(res.prediction)
    answered = pred != -1
    wrong = int((answered if truth is None else answered & (pred != truth)).sum())
    limit = int(stats.binom.ppf(1 - QUANTILE_LEVEL, trials, alpha))
    msg = (f"PREDICT p={probs} n={n} α={alpha} T={trials}: {wrong} errors (Binomial(T, α) quantile {limit}; "
           f"exact {exact['wrong']:.4f} → {exact['wrong'] * trials:.1f}); answered {answered.mean():.4f} "
           f"(exact {exact['answer']:.4f})")
    print(msg)
    assert wrong <= limit, msg
    assert abs(wrong / trials - exact["wrong"]) <= tolerance(exact["wrong"], trials), msg
    assert abs(answered.mean() - exact["answer"]) <= tolerance(exact["answer"], trials), msg
    return {"wrong": wrong, "answered": float(answered.mean())}


PRED3_N, PRED3_ALPHA, PRED3_TRIALS = 200, 0.1, 1000
PRED3_MUTANT_TRIALS = 300  # the mutant errs in most trials: few suffice (PREDICT's binomtest costs ~2 ms each)
PRED3_CASES = [((0.35, 0.35, 0.30), None), ((0.40, 0.38, 0.22), 0)]


def _binomial_p_value_over_n(n):
    """MUTANT binomial test: the top count out of all n votes instead of n_A + n_B."""

    def p_value(count_a, count_b):
        return float(stats.binomtest(int(count_a), n, 0.5).pvalue)

    return p_value


@pytest.mark.parametrize("probs,truth", PRED3_CASES)
def test_predict_three_classes_tests_n_a_against_n_a_plus_n_b(probs, truth):
    exact = predict_truth3(probs, PRED3_N, PRED3_ALPHA, truth)
    assert exact["wrong"] <= PRED3_ALPHA
    got = check_predict_error_rate(toy_smoother(probs), probs, truth, trials=PRED3_TRIALS, n=PRED3_N,
                                   alpha=PRED3_ALPHA, seed=603, exact=exact)
    if truth is None:
        assert got["wrong"] >= exact["wrong"] * PRED3_TRIALS / 2  # non-vacuous (exact 0.050)


@pytest.mark.parametrize("probs,truth", PRED3_CASES)
def test_predict_three_classes_statistic_rejects_the_over_n_mutant(probs, truth, monkeypatch):
    exact = predict_truth3(probs, PRED3_N, PRED3_ALPHA, truth)
    mutant = predict_truth3(probs, PRED3_N, PRED3_ALPHA, truth, use_n=True)
    assert mutant["wrong"] > 2 * PRED3_ALPHA  # n_A ≈ 0.36–0.4 n is far from n/2: always "significant"
    monkeypatch.setattr(gsmooth.core.smoother, "binomial_p_value", _binomial_p_value_over_n(PRED3_N))
    with pytest.raises(AssertionError, match="errors"):
        check_predict_error_rate(toy_smoother(probs), probs, truth, trials=PRED3_MUTANT_TRIALS, n=PRED3_N,
                                 alpha=PRED3_ALPHA, seed=603, exact=exact)
