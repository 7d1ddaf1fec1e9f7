"""Falsifier of adaptive slicing (certify_interval(refine=D)) and of two sampling-loop speedups
(the surrogate's encode-once / channels-last decode, and the prefetching sampling loop).

Known-truth base classifiers: thresholds on the mean pixel under brightness τ(a, x) = x + a, whose
smoothed classifier g(τ(a, x)) is known in closed form, so every certificate can be judged; the
false-certificate rate over seeded trials is compared with the family-wise α (3-sigma tolerance)
and, where the boundary sits at a slice end of every depth, with the sum of the levels of the
tests that could be wrong (a tight bound). Planted bugs (source mutants of the engine) must be
caught by these checks.
"""

from __future__ import annotations

import inspect
import math
import textwrap
import threading

import numpy as np
import pytest
import torch
from scipy import optimize, stats
from torch import nn

import gsmooth
from gsmooth.errors import ModelOutputError
from gsmooth.interval import engine
from gsmooth.interval.engine import best_slice_radius, refinement_alphas
from toy_models import MeanBands as MeanBins  # 3 classes: 0 below t1, 1 up to t2, 2 above
from toy_models import MeanThreshold

TRIALS = 400


def _tolerance(rate: float, trials: int) -> float:
    return rate + 3.0 * math.sqrt(rate * (1.0 - rate) / trials)


# --------------------------------------------------------------------------------------------
# the truth: g(τ(a, x)) for a brightness shift a, as intervals of a
# --------------------------------------------------------------------------------------------


def _gaussian_bounds(ts, m, sigma):
    """Boundaries in a (ascending) between consecutive classes of thresholds ``ts`` on the mean m + a
    under Gaussian brightness noise σ (class j on (b_{j-1}, b_j); ties at b_j belong to no class)."""
    ts = list(ts)
    if len(ts) == 1:
        return [ts[0] - m]

    def probs(a):
        cdf = [stats.norm.cdf((t - m - a) / sigma) for t in ts]
        return [cdf[0]] + [cdf[i] - cdf[i - 1] for i in range(1, len(ts))] + [1.0 - cdf[-1]]

    out = []
    for j in range(len(ts)):  # P_j = P_{j+1} between the thresholds t_{j-1}... t_{j+1}
        lo, hi = ts[j] - m - 20 * sigma, ts[j] - m + 20 * sigma
        out.append(optimize.brentq(lambda a: probs(a)[j] - probs(a)[j + 1], lo, hi, xtol=1e-14))
    return out


def _exponential_bound(t, m, lam):
    """One-sided exponential brightness noise (scale λ): P(class 0 at a) = 1 − exp(−(t − m − a)/λ),
    so g is class 0 for a < t − m − λ ln 2 and class 1 above."""
    return [t - m - lam * math.log(2.0)]


def _true(cert, bounds) -> bool:
    """Is the certificate's statement (class y on the whole [low, high]) true?"""
    y = int(cert.prediction)
    lo, hi = float(cert.low[0]), float(cert.high[0])
    left = -math.inf if y == 0 else bounds[y - 1]
    right = math.inf if y == len(bounds) else bounds[y]
    return left < lo and hi < right


def _check_tree(cert, depth: int, k: int, *, sequential: bool, n0: int, n: int):
    """Leaves partition [low, high] exactly with slices of the dyadic tree; a certified image has
    every leaf covered with its class; samples account for every test of the tree."""
    lo, hi = float(cert.low[0]), float(cert.high[0])
    leaves = cert.leaves
    assert leaves, "refine > 0 reports its leaves"
    width = hi - lo
    assert leaves[0][0] == pytest.approx(lo, abs=1e-12) and leaves[-1][1] == pytest.approx(hi, abs=1e-12)
    for (l0, h0, *_), (l1, *_rest) in zip(leaves[:-1], leaves[1:]):
        assert l1 == pytest.approx(h0, abs=1e-12), leaves  # no gap, no overlap
    nodes = {}
    for low, high, d, pred, radius, req in leaves:
        assert 0 <= d <= depth
        w = width / (k * 2**d)
        assert high - low == pytest.approx(w, rel=1e-9, abs=1e-12)
        j = (low - lo) / w
        assert j == pytest.approx(round(j), abs=1e-6)  # on the depth-d grid
        nodes.setdefault(d, []).append(int(round(j)))
        expected = w if cert.one_sided else w / 2.0
        assert req == pytest.approx(expected, rel=1e-9)  # each depth halves the requirement
        if pred != -1:
            assert radius > req
    # an internal node at depth d is split in (2j, 2j+1) at depth d + 1: rebuild the tree bottom-up
    tested = {d: set(v) for d, v in nodes.items()}
    for d in range(depth, 0, -1):
        kids = tested.get(d, set())
        parents = {j // 2 for j in kids}
        assert all({2 * p, 2 * p + 1} <= kids for p in parents), (d, sorted(kids))
        assert not parents & set(nodes.get(d - 1, [])), "a split slice is not also a leaf"
        tested.setdefault(d - 1, set()).update(parents)
    assert tested[0] == set(range(k)), tested
    if cert.prediction != -1:
        assert all(leaf[3] == cert.prediction and leaf[4] > leaf[5] for leaf in leaves)
    else:  # not certified: some leaf is uncovered or two classes are covered
        assert any(leaf[3] == -1 for leaf in leaves) or len({leaf[3] for leaf in leaves}) > 1
    if not sequential:  # every tested slice draws n0 + n (all hopeful in these set-ups)
        total = sum(len(v) for v in tested.values())
        assert cert.samples == total * (n0 + n), (cert.samples, total)
    else:
        assert cert.samples >= len(leaves) * n0


def _run(model, *, noise, sigma, m, low, high, k, depth, sequential, alpha, bounds, trials=None, n0=20, n=500,
         num_classes=2, batch_size=20_000, seed=0):
    """(false-certificate rate, certificates) over ``trials`` seeded images (keys 0..trials−1)."""
    trials = trials or (TRIALS // 2 if sequential else TRIALS)  # sequential: slower looks, fewer trials
    smoother = gsmooth.Smoother(model, noise=noise, sigma=sigma, transform="brightness", num_classes=num_classes)
    x = torch.full((trials, 1, 1, 1), float(m))
    certs = smoother.certify_interval(x, low=low, high=high, slices=k, n0=n0, n=n, alpha=alpha, refine=depth,
                                      sequential=sequential, batch_size=batch_size, seed=seed)
    one_sided = bool(smoother.noise.one_sided)
    hopeful = all(  # every child can be covered, so every child is sampled
        best_slice_radius(smoother.noise, n, float(a)) > (high - low) / (k * 2**d) / (1.0 if one_sided else 2.0)
        for d, a in enumerate(refinement_alphas(alpha, k, depth))
    )
    false = 0
    for cert in certs:
        _check_tree(cert, depth, k, sequential=sequential or not hopeful, n0=n0, n=n)
        if cert.prediction != -1 and not _true(cert, bounds):
            false += 1
    return false / trials, certs


# --------------------------------------------------------------------------------------------
# false-certificate rates
# --------------------------------------------------------------------------------------------

SIGMA = 0.1


def _scenario(where: str, k: int, low=-0.3, high=0.3):
    """The class-0/1 boundary a* of a MeanThreshold(0.5) in the range: at the range end, inside the
    last slice (60% of its width), or at the upper end of the first slice (a slice edge)."""
    w = (high - low) / k
    return {"end": high, "inside": high - 0.4 * w, "edge": low + w}[where]


@pytest.mark.parametrize("where, k, depth, sequential", [
    pytest.param("end", 1, 3, False, marks=pytest.mark.slow), ("end", 2, 2, True),
    pytest.param("edge", 3, 1, False, marks=pytest.mark.slow), ("inside", 2, 2, False),
])
def test_gaussian_false_certificates_stay_below_alpha(where, k, depth, sequential):
    alpha = 0.3
    a_star = _scenario(where, k)
    rate, certs = _run(MeanThreshold(0.5), noise="gaussian", sigma=SIGMA, m=0.5 - a_star, low=-0.3, high=0.3, k=k,
                       depth=depth, sequential=sequential, alpha=alpha, bounds=[a_star])
    trials = len(certs)
    print(f"gaussian {where} K={k} D={depth} seq={sequential}: false rate {rate:.4f} over {trials}, "
          f"tight bound {float(refinement_alphas(alpha, k, depth).sum()):.4f}, alpha {alpha}")
    assert rate <= _tolerance(alpha, trials), (rate, alpha)
    if where == "end":  # one slice per depth ends at a*: the tight bound is the sum of their levels
        tight = float(refinement_alphas(alpha, k, depth).sum())
        assert rate <= _tolerance(tight, trials), (rate, tight)


@pytest.mark.parametrize("k, depth, sequential", [(1, 2, False), pytest.param(2, 3, True, marks=pytest.mark.slow)])
def test_one_sided_exponential_false_certificates_stay_below_alpha(k, depth, sequential):
    """θ ~ Exp(λ): slices certify increases from their lower ends; a* at the range end makes the
    last slice of every depth exactly at its requirement (its true radius a* − c equals its width)."""
    alpha, lam, low, high = 0.3, 0.1, 0.0, 0.3
    m = 0.5 - high - lam * math.log(2.0)  # a* = high
    rate, certs = _run(MeanThreshold(0.5), noise="exponential", sigma=lam, m=m, low=low, high=high, k=k,
                       depth=depth, sequential=sequential, alpha=alpha, bounds=_exponential_bound(0.5, m, lam))
    tight = float(refinement_alphas(alpha, k, depth).sum())
    print(f"exponential end K={k} D={depth} seq={sequential}: false rate {rate:.4f} over {len(certs)}, tight {tight:.4f}")
    assert rate <= _tolerance(tight, len(certs)), (rate, tight)
    assert all(c.one_sided for c in certs)
    # centres at the lower ends: a slice's leaf starts where its test's noise starts
    assert certs[0].centers[0][0] == pytest.approx(low)


@pytest.mark.parametrize("where, sequential", [("end", False), pytest.param("edge", True, marks=pytest.mark.slow)])
def test_three_classes_false_certificates_stay_below_alpha(where, sequential):
    """Class 1 in the middle: a certificate of class 1 over a range touching the 1/2 boundary."""
    alpha, k, depth = 0.3, 2, 2
    model = MeanBins(0.2, 0.8)
    m = 0.5
    bounds = _gaussian_bounds([0.2, 0.8], m, SIGMA)
    low, high = (bounds[0], bounds[0] + 0.5) if where == "end" else (bounds[0] - 0.25, bounds[0] + 0.25)
    rate, certs = _run(model, noise="gaussian", sigma=SIGMA, m=m, low=low, high=high, k=k, depth=depth,
                       sequential=sequential, alpha=alpha, bounds=bounds, num_classes=3)
    print(f"3 classes {where} seq={sequential}: false rate {rate:.4f} over {len(certs)}, "
          f"tight {float(refinement_alphas(alpha, k, depth).sum()):.4f}")
    assert rate <= _tolerance(float(refinement_alphas(alpha, k, depth).sum()), len(certs)), rate


def test_the_falsifier_sees_false_certificates_when_alpha_is_not_allocated(monkeypatch):
    """Sensitivity: children tested at α/K (the uniform level, no allocation to the tree) push the
    false rate at the range end above the tree's α."""
    alpha, k, depth = 0.3, 1, 3
    monkeypatch.setattr(engine, "refinement_alphas", lambda a, kk, d: np.full(d + 1, a / kk))
    rate, _ = _run(MeanThreshold(0.5), noise="gaussian", sigma=SIGMA, m=0.2, low=-0.3, high=0.3, k=k, depth=depth,
                   sequential=False, alpha=alpha, bounds=[0.3])
    assert rate > _tolerance(alpha, TRIALS), rate


# --------------------------------------------------------------------------------------------
# planted bugs (source mutants of the engine)
# --------------------------------------------------------------------------------------------


def _mutate(monkeypatch, name: str, old: str, new: str):
    """Replace ``old`` by ``new`` in engine.<name>'s source and install the mutant."""
    src = textwrap.dedent(inspect.getsource(getattr(engine, name)))
    assert old in src, f"mutation target {old!r} not found in engine.{name}"
    ns = dict(vars(engine))
    exec(compile(src.replace(old, new, 1), engine.__file__, "exec"), ns)
    monkeypatch.setattr(engine, name, ns[name])


def _range_end_rate(sequential=False, noise="gaussian", k=2, depth=2, alpha=0.3):
    if noise == "gaussian":
        m, low, high, bounds = 0.2, -0.3, 0.3, [0.3]
    else:
        lam = 0.1
        m, low, high = 0.5 - 0.3 - lam * math.log(2.0), 0.0, 0.3
        bounds = _exponential_bound(0.5, m, lam)
    smoother = gsmooth.Smoother(MeanThreshold(0.5), noise=noise, sigma=SIGMA, transform="brightness", num_classes=2)
    x = torch.full((TRIALS, 1, 1, 1), float(m))
    certs = smoother.certify_interval(x, low=low, high=high, slices=k, n0=20, n=500, alpha=alpha, refine=depth,
                                      sequential=sequential, batch_size=20_000)
    rate = float(np.mean([c.prediction != -1 and not _true(c, bounds) for c in certs]))
    return rate, float(refinement_alphas(alpha, k, depth).sum()), certs


def test_mutant_children_requirement_too_small_is_caught(monkeypatch):
    _mutate(monkeypatch, "_refine_image", "req = depth_req[depth][idx]",
            "req = depth_req[depth][idx] / 2")
    rate, tight, _ = _range_end_rate()
    assert rate > _tolerance(tight, TRIALS), (rate, tight)


def test_mutant_children_requirement_not_halved_loses_the_refinement(monkeypatch):
    """The conservative mutant (children keep the parent's requirement) certifies nothing new."""
    smoother = gsmooth.Smoother(MeanThreshold(0.9), noise="gaussian", sigma=0.1, transform="brightness", num_classes=2)
    x = torch.full((1, 1, 1, 1), 0.1)
    good = smoother.certify_interval(x, low=-0.6, high=0.6, slices=2, n0=50, n=500, refine=1)
    assert good.prediction[0] == 0
    _mutate(monkeypatch, "_refine_image", "req = depth_req[depth][idx]",
            "req = depth_req[depth][idx] * 2")
    bad = smoother.certify_interval(x, low=-0.6, high=0.6, slices=2, n0=50, n=500, refine=1)
    assert bad.prediction[0] == -1


def _edge_between_classes():
    """Boundary at the edge between two slices (each slice's p_A exactly at its requirement), small
    n and a large α so that both sides are sometimes covered, with different classes."""
    smoother = gsmooth.Smoother(MeanThreshold(0.5), noise="gaussian", sigma=0.05, transform="brightness", num_classes=2)
    x = torch.full((TRIALS, 1, 1, 1), 0.5)
    return smoother.certify_interval(x, low=-0.1, high=0.1, slices=2, n0=10, n=60, alpha=0.5, refine=1,
                                     batch_size=50_000)


def _mixed(certs):
    return [c for c in certs if {leaf[3] for leaf in c.leaves} == {0, 1}]


def test_two_covered_classes_are_never_certified():
    certs = _edge_between_classes()
    assert _mixed(certs), "the set-up covers both classes in some trials"
    assert all(c.prediction == -1 for c in _mixed(certs))
    for c in certs:
        _check_tree(c, 1, 2, sequential=True, n0=10, n=60)


def test_mutant_leaf_of_another_class_accepted_is_caught(monkeypatch):
    """A mutant that takes one class out of several certifies the mixed trials."""
    _mutate(monkeypatch, "certify_interval", "leaf_classes = {leaf.prediction for leaf in tree}",
            "leaf_classes = {min(leaf.prediction for leaf in tree)}")
    bad = _edge_between_classes()
    assert any(c.prediction != -1 for c in _mixed(bad))
    with pytest.raises(AssertionError):
        for c in bad:
            _check_tree(c, 1, 2, sequential=True, n0=10, n=60)


def test_mutant_wrong_children_indices_is_caught(monkeypatch):
    _mutate(monkeypatch, "_refine_image", "2 * leaf.index + h", "leaf.index + h")
    with pytest.raises(AssertionError):
        _, _, certs = _range_end_rate(k=2, depth=2)
        for c in certs:
            _check_tree(c, 2, 2, sequential=False, n0=20, n=500)


class MeanAbove(nn.Module):
    """Class 0 iff the mean pixel is above ``t`` (a one-sided noise pushes towards class 0)."""

    def __init__(self, t: float):
        super().__init__()
        self.t = float(t)

    def forward(self, x):
        m = x.flatten(1).mean(1)
        return torch.stack([m - self.t, self.t - m], 1)


def _one_sided_left_boundary_rate(trials=TRIALS, alpha=0.3, depth=2):
    """Exp(λ) brightness noise and class 0 iff mean > t: g is class 1 below a* = t − m − λ ln 2 and
    class 0 above. The range starts just below a*: only a slice certified from its *lower end*
    (one-sided) can see that; every certificate here is false."""
    lam, t, m = 0.1, 0.5, 0.2
    a_star = t - m - lam * math.log(2.0)
    smoother = gsmooth.Smoother(MeanAbove(t), noise="exponential", sigma=lam, transform="brightness", num_classes=2)
    x = torch.full((trials, 1, 1, 1), m)
    certs = smoother.certify_interval(x, low=a_star - 0.01, high=a_star + 0.3, slices=1, n0=20, n=500, alpha=alpha,
                                      refine=depth, batch_size=50_000)
    return float((certs.prediction != -1).mean()), certs


def test_one_sided_left_boundary_is_never_certified():
    rate, certs = _one_sided_left_boundary_rate()
    assert rate <= _tolerance(0.3, TRIALS), rate
    for c in certs:
        _check_tree(c, 2, 1, sequential=False, n0=20, n=500)


def test_mutant_one_sided_children_with_two_sided_requirement_is_caught(monkeypatch):
    """Finer plans built two-sided under a one-sided noise: centres mid-slice, requirement halved."""
    _mutate(monkeypatch, "certify_interval", "k_total * 2**dp, one_sided=one_sided", "k_total * 2**dp, one_sided=False")
    rate, _ = _one_sided_left_boundary_rate()
    assert rate > _tolerance(0.3, TRIALS), rate


def test_determinism_across_batch_size_and_calls():
    smoother = gsmooth.Smoother(MeanThreshold(0.5), noise="gaussian", sigma=SIGMA, transform="brightness", num_classes=2)
    x = torch.full((5, 1, 1, 1), 0.2)
    kw = dict(low=-0.3, high=0.3, slices=2, n0=20, n=300, alpha=0.3, refine=3)
    for sequential in (False, True):
        ref = smoother.certify_interval(x, batch_size=50_000, sequential=sequential, **kw)
        for bs in (1, 37, 300):
            other = smoother.certify_interval(x, batch_size=bs, sequential=sequential, **kw)
            assert [c.leaves for c in other] == [c.leaves for c in ref]
            assert other.samples.tolist() == ref.samples.tolist()
            assert other.prediction.tolist() == ref.prediction.tolist()
        single = smoother.certify_interval(x[3], keys=[3], sequential=sequential, **kw)
        assert single.leaves == ref[3].leaves  # an image's result does not depend on the batch it is in


# --------------------------------------------------------------------------------------------
# the surrogate's encode-once and channels-last decode
# --------------------------------------------------------------------------------------------


class _Shift(gsmooth.Transform):
    name = "test_refine_falsify_shift"
    param_dim = 1
    kind = "empirical"

    def forward(self, x, theta):
        return x + theta.to(x.dtype).reshape(-1, 1, 1, 1)


def _surrogate(channels=1, size=8, seed=0, decoder=None):
    from gsmooth.surrogate.model import SurrogateModel
    from gsmooth.surrogate.transform import SurrogateTransform

    torch.manual_seed(seed)
    sur = SurrogateModel(input_shape=(channels, size, size), param_dim=1, width=8, encoder_width=4)
    with torch.no_grad():  # non-trivial weights everywhere (a fresh surrogate is near the identity)
        for p in sur.parameters():
            p.add_(0.2 * torch.randn_like(p))
    if decoder is not None:
        sur.h = decoder
    sur.eval()
    return sur, SurrogateTransform(surrogate=sur, true_transform=_Shift(), sigma_ratio=0.7,
                                   certified_range=(0.0, 1.0))


def _plain(sur, tr, x, theta):
    """Per sample, contiguous, no sharing: H(F2(x_i) + F1(θ_i) + r·ξ_i)."""
    out = []
    d = 1
    for i in range(x.shape[0]):
        xi = x[i : i + 1].contiguous().clone()
        th = theta[i : i + 1]
        z = sur.f2(xi) + sur.f1(th[:, :d]).view(1, *sur.input_shape) + float(tr.sigma_ratio) * th[:, d:].reshape(
            1, *sur.input_shape)
        out.append(sur.h(z.contiguous()))
    return torch.cat(out)


def _inputs(kind, channels=1, size=8):
    g = torch.Generator().manual_seed(1)
    base = torch.rand(4, channels, size, size, generator=g)
    if kind == "expanded":
        return base[:1].expand(6, -1, -1, -1)
    if kind == "runs":  # runs of identical images, and a repeat that is not consecutive
        return base[[0, 0, 0, 1, 1, 2, 0, 3, 3]].clone()
    if kind == "distinct":
        return base.clone()
    if kind == "noncontiguous":  # a transposed view with runs
        t = base[[0, 0, 1, 1, 1]].transpose(2, 3).contiguous().transpose(2, 3)
        return t[:, :, :, :]
    if kind == "strided":
        big = torch.rand(10, channels, size, size * 2, generator=g)
        big[1] = big[0]
        return big[:, :, :, ::2]
    if kind == "single":
        return base[:1].clone()
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["expanded", "runs", "distinct", "noncontiguous", "strided", "single"])
@pytest.mark.parametrize("channels", [3])
def test_surrogate_forward_equals_the_plain_per_sample_computation(kind, channels):
    sur, tr = _surrogate(channels)
    x = _inputs(kind, channels)
    g = torch.Generator().manual_seed(2)
    theta = torch.randn(x.shape[0], 1 + sur.latent_dim, generator=g)
    with torch.no_grad():
        got = tr(x, theta)
        want = _plain(sur, tr, x, theta)
        again = tr(x, theta)  # after the decoder's conversion to channels-last
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again, got, rtol=0, atol=1e-6)


class _NoParams(nn.Module):
    def forward(self, z):
        return torch.tanh(z) * 0.5 + 0.25


@pytest.mark.parametrize("decoder", [_NoParams(), nn.Identity()])
def test_surrogate_with_a_parameter_free_decoder(decoder):
    sur, tr = _surrogate(3, decoder=decoder)
    x = _inputs("runs", 3)
    theta = torch.randn(x.shape[0], 1 + sur.latent_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(tr(x, theta), _plain(sur, tr, x, theta), rtol=1e-5, atol=1e-5)


class _FlattenByView(nn.Module):
    """A base classifier that flattens with .view (as many MLPs do): it needs a contiguous input."""

    def __init__(self, features):
        super().__init__()
        torch.manual_seed(5)
        self.lin = nn.Linear(features, 3)

    def forward(self, x):
        return self.lin(x.view(x.shape[0], -1))


def test_votes_through_a_surrogate_reach_a_view_flattening_model():
    """The decoder's channels-last output is what the base model receives: a model written for
    contiguous images must still work (3 channels, where channels-last is not contiguous)."""
    sur, tr = _surrogate(3)
    smoother = gsmooth.Smoother(_FlattenByView(3 * 64), noise="gaussian", sigma=0.2, transform=tr, num_classes=3)
    counts = smoother.count(_inputs("distinct", 3)[:2], 50, batch_size=64, seed=0)
    assert counts.sum().item() == 100


# --------------------------------------------------------------------------------------------
# Smoother.count through a surrogate: batch size, packing, prefetch
# --------------------------------------------------------------------------------------------


def _vote_smoother(channels=1):
    """A 3-class mean-threshold model whose thresholds split the surrogate's outputs (so votes vary)."""
    sur, tr = _surrogate(channels)
    x = _inputs("distinct", channels)
    theta = 0.3 * torch.randn(400, 1 + sur.latent_dim, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        means = tr(x.repeat_interleave(100, dim=0), theta).flatten(1).mean(1)
    t1, t2 = torch.quantile(means, torch.tensor([0.33, 0.66])).tolist()
    return gsmooth.Smoother(MeanBins(t1, t2), noise="gaussian", sigma=0.3, transform=tr, num_classes=3)


def test_surrogate_votes_do_not_depend_on_batch_size_packing_or_prefetch():
    smoother = _vote_smoother()
    x = _inputs("distinct")
    ref = smoother.count(x, 300, batch_size=10_000, seed=4)
    assert (ref.sum(1) == 300).all() and (ref > 0).sum() > 4  # the votes are not all one class
    for bs in (1, 7, 300, 301, 450):
        assert torch.equal(smoother.count(x, 300, batch_size=bs, seed=4), ref), bs
    for i in range(x.shape[0]):  # alone, with its own key: the same votes as packed with others
        assert torch.equal(smoother.count(x[i : i + 1], 300, batch_size=128, seed=4, keys=[i]), ref[i : i + 1])
    smoother._prefetch = False
    for bs in (7, 450, 10_000):
        assert torch.equal(smoother.count(x, 300, batch_size=bs, seed=4), ref), bs


def _threads():
    return sum(1 for t in threading.enumerate() if t.name.startswith("gsmooth-prefetch"))


def test_an_error_in_the_producer_reaches_the_caller(monkeypatch):
    smoother = gsmooth.Smoother(MeanThreshold(0.5), noise="gaussian", sigma=0.2, transform="brightness", num_classes=2)
    from gsmooth.core import seeding

    calls = {"n": 0}
    take = seeding.NoiseStream.take

    def failing(self, k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("planted producer failure")
        return take(self, k)

    monkeypatch.setattr(seeding.NoiseStream, "take", failing)
    with pytest.raises(RuntimeError, match="planted producer failure"):
        smoother.count(torch.full((1, 1, 2, 2), 0.3), 100, batch_size=10, seed=0)
    assert _threads() == 0
    monkeypatch.setattr(seeding.NoiseStream, "take", take)
    assert smoother.count(torch.full((1, 1, 2, 2), 0.3), 100, batch_size=10, seed=0).sum() == 100


class _NaNAfter(nn.Module):
    def __init__(self, after):
        super().__init__()
        self.after, self.calls = after, 0

    def forward(self, x):
        self.calls += 1
        out = torch.zeros(x.shape[0], 2)
        if self.calls > self.after:
            out[0, 0] = float("nan")
        return out


@pytest.mark.parametrize("prefetch", [True, False])
def test_a_consumer_error_neither_deadlocks_nor_leaks_the_worker(prefetch):
    model = _NaNAfter(2)
    smoother = gsmooth.Smoother(model, noise="gaussian", sigma=0.2, transform="brightness", num_classes=2)
    smoother._prefetch = prefetch
    result = {}

    def work():
        try:
            smoother.count(torch.zeros(3, 1, 2, 2), 200, batch_size=50, seed=0)
        except ModelOutputError as exc:
            result["error"] = exc

    t = threading.Thread(target=work)
    t.start()
    t.join(timeout=20)
    assert not t.is_alive(), "count() hung after the model's error"
    assert isinstance(result.get("error"), ModelOutputError)
    assert _threads() == 0


# --------------------------------------------------------------------------------------------
# the surrogate route: factors computed on a sub-plan of selected centres
# --------------------------------------------------------------------------------------------


def test_surrogate_factors_on_a_sub_plan_are_the_full_plans_at_those_slices():
    """_refine_image computes M* on ``replace(plan_d, centers=plan_d.centers[idx])``: each selected
    slice must get the factor it has in the full finer plan (its own ends, its own half-width)."""
    import dataclasses

    from gsmooth.interval.engine import slice_plan
    from gsmooth.surrogate.transform import SurrogateSlices

    sur, tr = _surrogate(1)
    noise = gsmooth.noise("gaussian", sigma=0.3)
    x = _inputs("distinct")[0]
    strategy = SurrogateSlices()
    full = slice_plan(0.1, 0.9, 8)
    idx = [1, 2, 5, 6]
    sub = dataclasses.replace(full, centers=full.centers[idx])
    whole = strategy.factors(tr, noise, x, full).mstar
    part = strategy.factors(tr, noise, x, sub).mstar
    np.testing.assert_allclose(part, whole[idx], rtol=1e-9)
    np.testing.assert_allclose(strategy.required_radii(tr, noise, sub), full.requirement)


def test_surrogate_refined_certificate_tree():
    sur, tr = _surrogate(1)
    smoother = _vote_smoother()
    x = _inputs("distinct")[:2]
    certs = smoother.certify_interval(x, low=0.1, high=0.5, slices=1, n0=20, n=300, alpha=0.3, refine=2,
                                      batch_size=2000)
    for c in certs:
        _check_tree(c, 2, 1, sequential=True, n0=20, n=300)
