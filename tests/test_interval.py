"""Interval certificates (gsmooth.interval.engine) and the engine's centred smoothing (Smoother(center=…)).

Models here are functions of the mean pixel value, so the smoothed probabilities under brightness
noise are Gaussian CDFs we can reason about exactly.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import gsmooth
from gsmooth.errors import InvalidParameterError, UnsupportedTransformError
from gsmooth.interval.engine import (
    IntervalCertificate,
    certify_interval,
    slice_plan,
)
from gsmooth.core.ranges import parse_range

from toy_models import Bands


class Constant(nn.Module):
    def __init__(self, k=3, cls=1):
        super().__init__()
        self.k, self.cls = k, cls

    def forward(self, x):
        out = torch.zeros(x.shape[0], self.k, dtype=x.dtype)
        out[:, self.cls] = 1.0
        return out


def img(mean, shape=(1, 4, 4)):
    return torch.full(shape, float(mean))


SMALL = dict(n0=64, n=1000, alpha=0.01, batch_size=1000)


# --------------------------------------------------------------------------------------------
# the engine: centred smoothing, the noise hook
# --------------------------------------------------------------------------------------------


def test_center_none_and_zero_are_today_s_smoother():
    s = gsmooth.Smoother(Bands(), noise="gaussian", sigma=0.1, transform="brightness", num_classes=3)
    x = torch.stack([img(0.3), img(0.5)])
    ref = s.certify(x, n0=20, n=300, alpha=0.01, seed=4)
    same = s.certify(x, n0=20, n=300, alpha=0.01, seed=4, center=None)
    zero = s.certify(x, n0=20, n=300, alpha=0.01, seed=4, center=[0.0])
    assert list(ref.count) == list(same.count) == list(zero.count)
    assert list(ref.radius) == list(zero.radius)


def test_center_shifts_the_noise_draws():
    # brightness: g_c(x) = g_0(x + c); with the same draws the votes agree exactly (away from ties)
    s = gsmooth.Smoother(Bands(), noise="gaussian", sigma=0.1, transform="brightness", num_classes=3)
    x = img(0.4)
    shifted = s.count(x, 500, seed=1, center=0.15)
    moved = s.count(img(0.55), 500, seed=1)
    assert torch.equal(shifted, moved)
    per_image = s.count(torch.stack([x, x]), 200, seed=1, center=[[0.0], [0.15]], keys=[0, 0])
    assert torch.equal(per_image[0], s.count(x, 200, seed=1, keys=[0])[0])
    assert torch.equal(per_image[1], s.count(x, 200, seed=1, keys=[0], center=0.15)[0])
    with pytest.raises(InvalidParameterError, match="center"):
        s.count(x, 10, center=[0.1, 0.2])
    additive = gsmooth.Smoother(Bands(), noise="gaussian", sigma=0.1, num_classes=3)
    with pytest.raises(InvalidParameterError, match="additive"):
        additive.count(x, 10, center=0.1)


def test_transform_check_noise_hook_is_called():
    class PickyTransform(gsmooth.Transform):
        name = "picky"
        param_dim = 1

        def __init__(self):
            super().__init__()

        def forward(self, x, theta):
            return x

        def check_noise(self, noise):
            if noise.name != "gaussian":
                raise InvalidParameterError("picky: expected gaussian")

    gsmooth.Smoother(Bands(), noise="gaussian", sigma=0.1, transform=PickyTransform(), num_classes=3)
    with pytest.raises(InvalidParameterError, match="picky"):
        gsmooth.Smoother(Bands(), noise="laplace", sigma=0.1, transform=PickyTransform(), num_classes=3)
    assert gsmooth.transform("brightness").check_noise(gsmooth.noise("laplace", sigma=1.0)) is None


# --------------------------------------------------------------------------------------------
# the plan
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lo, hi, k", [(-0.4, 0.4, 10), (0.0, 16.0, 7), (2.0, 3.0, 1)])
def test_two_sided_slices_cover_the_range(lo, hi, k):
    p = slice_plan(lo, hi, k)
    c = p.centers[:, 0]
    assert p.num_slices == k and p.requirement == pytest.approx((hi - lo) / k / 2)
    pts = np.linspace(lo, hi, 1001)
    dist = np.abs(pts[:, None] - c[None, :]).min(1)
    assert (dist <= p.requirement + 1e-12).all()
    assert c.min() - p.requirement == pytest.approx(lo) and c.max() + p.requirement == pytest.approx(hi)


def test_one_sided_slices_start_at_lower_ends_and_need_the_full_width():
    p = slice_plan(0.0, 16.0, 8, one_sided=True)
    assert p.centers[:, 0].tolist() == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0]
    assert p.requirement == 2.0 and p.one_sided
    pts = np.linspace(0, 16, 1001)
    # every point is reached by an *increase* of at most the requirement from some centre
    inc = pts[:, None] - p.centers[None, :, 0]
    assert (np.where(inc >= 0, inc, np.inf).min(1) <= p.requirement + 1e-12).all()


@pytest.mark.parametrize("norm, half", [("l2", math.hypot(2, 2)), ("l1", 4.0), ("linf", 2.0)])
def test_boxes_for_two_parameters(norm, half):
    p = slice_plan([-20, -20], [20, 20], 10, norm=norm)
    assert p.num_slices == 100 and p.slices == (10, 10) and p.requirement == pytest.approx(half)
    g = np.stack(np.meshgrid(np.linspace(-20, 20, 41), np.linspace(-20, 20, 41)), -1).reshape(-1, 2)
    diff = g[:, None, :] - p.centers[None, :, :]
    ord_ = {"l2": 2, "l1": 1, "linf": np.inf}[norm]
    assert (np.linalg.norm(diff, ord=ord_, axis=2).min(1) <= p.requirement + 1e-9).all()
    with pytest.raises(UnsupportedTransformError, match="one-sided"):
        slice_plan([0, 0], [1, 1], 2, one_sided=True)


def test_parse_range():
    assert parse_range("-0.2:0.2") == ((-0.2, 0.2),)
    assert parse_range("-20:20", 2) == ((-20.0, 20.0), (-20.0, 20.0))
    assert parse_range("0:1,2:3") == ((0.0, 1.0), (2.0, 3.0))
    for bad in ("1:0", "a:b", "0:1:2", "0:inf", ""):
        with pytest.raises(InvalidParameterError, match="lo:hi"):
            parse_range(bad)
    with pytest.raises(InvalidParameterError):
        parse_range("0:1,0:1,0:1", 2)


# --------------------------------------------------------------------------------------------
# certificates
# --------------------------------------------------------------------------------------------


def test_bonferroni_alpha_is_recorded():
    s = gsmooth.Smoother(Constant(), noise="gaussian", sigma=0.1, transform="brightness", num_classes=3)
    c = s.certify_interval(img(0.5), low=-0.2, high=0.2, slices=8, **SMALL)
    assert isinstance(c, IntervalCertificate)
    assert c.family_alpha == 0.01 and c.num_slices == 8 and c.slice_alpha == pytest.approx(0.01 / 8)
    assert c.requirement == pytest.approx(0.025) and c.range == "-0.2:0.2" and c.kind == "exact"
    assert c.mstar == 1.0 and c.centering == "parameter" and len(c.slice_radii) == 8
    # the per-slice p_lower is the Clopper–Pearson bound at alpha/K (all n votes for the class)
    assert c.p_lower == pytest.approx((0.01 / 8) ** (1 / 1000), rel=1e-9)
    t = gsmooth.Smoother(Constant(), noise="gaussian", sigma=3.0, transform="translation", num_classes=3)
    c2 = t.certify_interval(img(0.5), low=-4, high=4, slices=(2, 3), **SMALL)
    assert c2.num_slices == 6 and c2.slices == (2, 3) and c2.slice_alpha == pytest.approx(0.01 / 6)
    assert c2.requirement == pytest.approx(math.hypot(2, 8 / 6))


def test_constant_model_is_certified_and_a_flip_is_not():
    s = gsmooth.Smoother(Constant(cls=2), noise="gaussian", sigma=0.1, transform="brightness", num_classes=3)
    c = s.certify_interval(img(0.5), low=-0.2, high=0.2, slices=10, **SMALL)
    assert c.prediction == 2 and c.certified and c.margin > 0 and c.radius == pytest.approx(0.2)
    assert set(c.slice_predictions) == {2} and "predicts 2" in c.statement()
    b = gsmooth.Smoother(Bands(), noise="gaussian", sigma=0.05, transform="brightness", num_classes=3)
    inside = b.certify_interval(img(0.5), low=-0.1, high=0.1, slices=10, **SMALL)
    assert inside.prediction == 1, inside.slice_predictions  # boundaries at 0.35/0.65: far away
    flips = b.certify_interval(img(0.3), low=-0.1, high=0.1, slices=10, **SMALL)  # crosses 0.35 at α=0.05
    assert flips.prediction == gsmooth.ABSTAIN and flips.radius == 0.0 and flips.margin < 0
    assert 0 in flips.slice_predictions and 1 in flips.slice_predictions
    assert "not certified" in flips.statement()
    batch = b.certify_interval(torch.stack([img(0.5), img(0.3)]), low=-0.1, high=0.1, slices=10, **SMALL)
    assert list(batch.prediction) == [1, -1]
    assert list(batch.margin) == [inside.margin, flips.margin]  # key = position: same streams


def test_too_few_slices_fail_the_radius_requirement():
    # a constant model reaches p_lower = (alpha/K)^(1/n); with sigma tiny the radius cannot cover wide slices
    s = gsmooth.Smoother(Constant(), noise="gaussian", sigma=0.01, transform="brightness", num_classes=3)
    c = s.certify_interval(img(0.5), low=-0.4, high=0.4, slices=2, **SMALL)
    assert c.prediction == gsmooth.ABSTAIN and set(c.slice_predictions) == {1}
    assert c.min_radius < c.requirement and c.margin == pytest.approx(c.min_radius - 0.2)


def test_one_sided_noise_certifies_increases_from_lower_ends():
    # gaussian_blur of a constant image leaves it unchanged: a mean-based model is constant
    s = gsmooth.Smoother(Bands(), noise="exponential", sigma=10.0, transform="gaussian_blur", num_classes=3)
    c = s.certify_interval(img(0.5), low=0.0, high=16.0, slices=8, **SMALL)
    assert c.one_sided and c.norm.startswith("one-sided")
    assert [cc[0] for cc in c.centers] == [0, 2, 4, 6, 8, 10, 12, 14] and c.requirement == 2.0
    assert c.prediction == 1 and c.margin > 0
    # the exponential radius −λ ln(2(1 − p)) at p = (α/K)^(1/n)
    p = (0.01 / 8) ** (1 / 1000)
    assert c.min_radius == pytest.approx(-10 * math.log(2 * (1 - p)), rel=1e-6)
    # with λ small the radius cannot reach the full slice width
    weak = gsmooth.Smoother(Bands(), noise="exponential", sigma=0.1, transform="gaussian_blur", num_classes=3)
    assert weak.certify_interval(img(0.5), low=0.0, high=16.0, slices=8, **SMALL).prediction == -1
    # one-sided noise over two parameters: refused when the smoother is built (no radius, no interval)
    with pytest.raises(gsmooth.InvalidParameterError, match="one-sided"):
        gsmooth.Smoother(Bands(), noise="exponential", sigma=1.0, transform="translation", num_classes=3)


@pytest.mark.parametrize("name", ["rotation", "rotational_blur"])
def test_empirical_without_surrogate_is_refused(name):
    s = gsmooth.Smoother(Bands(), noise="gaussian", sigma=2.0, transform=name, num_classes=3)
    with pytest.raises(UnsupportedTransformError, match=f"gsmooth surrogate train --transform {name}"):
        s.certify_interval(img(0.5), low=0, high=10, **SMALL)


def test_additive_is_refused():
    s = gsmooth.Smoother(Bands(), noise="gaussian", sigma=0.2, num_classes=3)
    with pytest.raises(UnsupportedTransformError, match="no parameter"):
        certify_interval(s, img(0.5), low=0, high=1)


def test_surrogate_interval_certifies_the_true_transform_on_shifted_images():
    from gsmooth.surrogate.model import SurrogateModel
    from gsmooth.surrogate.transform import SurrogateTransform

    torch.manual_seed(0)
    net = SurrogateModel(input_shape=(1, 8, 8), param_dim=1, width=8, encoder_width=4)  # untrained: τ̃ = x
    net.transform_name, net.param_range = "brightness", ((-0.2, 0.2),)
    st = SurrogateTransform(surrogate=net, sigma_ratio=1.0, grid=5)
    s = gsmooth.Smoother(Constant(cls=0), noise="gaussian", sigma=0.5, transform=st, num_classes=3)
    with pytest.raises(InvalidParameterError, match="Gaussian"):
        gsmooth.Smoother(Constant(), noise="laplace", sigma=0.5, transform=st, num_classes=3)
    x = img(0.5, (1, 8, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = s.certify_interval(x, low=-0.1, high=0.1, slices=2, **SMALL)
    # the untrained surrogate: F2 = id, W = 0, so G = ‖∂(x + α)/∂α‖₂ = sqrt(64) = 8
    assert c.kind == "surrogate" and c.centering == "image"
    assert c.mstar == pytest.approx(math.sqrt(1 + 64), rel=1e-2)  # G is a (numerical) grid estimate
    p = (0.01 / 2) ** (1 / 1000)
    from scipy import stats

    assert c.min_radius == pytest.approx(0.5 * stats.norm.ppf(p) / c.mstar, rel=1e-6)
    assert c.prediction == 0 and c.margin > 0 and "estimate" in c.statement()
    assert st.certified_range is None  # the range is passed to the surrogate, never set on it


class CountingConstant(Constant):
    def __init__(self, cls=0):
        super().__init__(cls=cls)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return super().forward(x)


def test_surrogate_interval_draws_nothing_when_no_outcome_can_cover_a_slice():
    """Early exit: R_max = σΦ⁻¹((α/K)^(1/n)) / M* ≤ requirement → not certified, no model call."""
    from scipy import stats

    from gsmooth.surrogate.model import SurrogateModel
    from gsmooth.surrogate.transform import SurrogateTransform

    torch.manual_seed(0)
    net = SurrogateModel(input_shape=(1, 8, 8), param_dim=1, width=8, encoder_width=4)
    net.transform_name, net.param_range = "brightness", ((-0.4, 0.4),)
    st = SurrogateTransform(surrogate=net, sigma_ratio=1.0, grid=5)  # M* = sqrt(65) ≈ 8.06 (see above)
    model = CountingConstant(cls=0)
    s = gsmooth.Smoother(model, noise="gaussian", sigma=0.1, transform=st, num_classes=3)
    x = img(0.5, (1, 8, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = s.certify_interval(x, low=-0.4, high=0.4, slices=2, n0=10, n=100, alpha=0.01)
    best = 0.1 * stats.norm.ppf((0.01 / 2) ** (1 / 100)) / c.mstar  # ≈ 0.025 < requirement 0.2
    assert model.calls == 0
    assert c.skipped and not c.certified and c.count == 0 and c.slice_predictions == (-1, -1)
    assert c.margin == pytest.approx(best - 0.2, rel=1e-6)
    # the same image with a wide enough σ is sampled and certified: the exit is not taken by mistake
    s2 = gsmooth.Smoother(model, noise="gaussian", sigma=0.5, transform=st, num_classes=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c2 = s2.certify_interval(x, low=-0.1, high=0.1, slices=2, n0=10, n=1000, alpha=0.01)
    assert model.calls > 0 and not c2.skipped and c2.certified


# --------------------------------------------------------------------------------------------
# capabilities, not names: what the engine asks a transform and a noise
# --------------------------------------------------------------------------------------------


def test_transform_capability_defaults():
    from gsmooth.interval import AdditiveComposition

    b, a = gsmooth.transform("brightness"), gsmooth.transform("additive")
    assert b.center_dim == 1 and a.center_dim is None and gsmooth.transform("translation").center_dim == 2
    assert b.true_transform_module() is b and a.true_transform_module() is a
    assert b.lipschitz_factor(img(0.5), path_origin=img(0.2), param_range=((0.0, 1.0),)) == 1.0
    assert isinstance(b.slice_strategy(), AdditiveComposition) and b.point_certificate_range() is None
    assert gsmooth.Smoother(Bands(), noise="gaussian", sigma=0.1, transform=b, num_classes=3).center_dim == 1


def _surrogate(param_range=((-0.2, 0.2),)):
    from gsmooth.surrogate.model import SurrogateModel
    from gsmooth.surrogate.transform import SurrogateTransform

    torch.manual_seed(0)
    net = SurrogateModel(input_shape=(1, 8, 8), param_dim=1, width=8, encoder_width=4)
    net.transform_name, net.param_range = "brightness", param_range
    return SurrogateTransform(surrogate=net, sigma_ratio=1.0, grid=5)


def test_surrogate_capabilities_come_from_the_surrogate_transform():
    from gsmooth.surrogate.transform import SurrogateSlices

    st = _surrogate()
    assert st.center_dim == 1 and st.param_dim == 1 + 64  # θ_full = (θ, ξ): only θ is centred
    assert st.true_transform_module().name == "brightness" and st.true_transform_module() is st.true_transform_module()
    assert isinstance(st.slice_strategy(), SurrogateSlices) and st.point_certificate_range() == ((-0.2, 0.2),)
    s = gsmooth.Smoother(Constant(cls=0), noise="gaussian", sigma=0.5, transform=st, num_classes=3)
    assert s.center_dim == 1


class RenamedGaussian(gsmooth.Noise):
    """A Gaussian under another name: what the engine needs is the capability, not the name."""

    name = "not_called_gaussian"
    norm = "l2"
    isotropic_gaussian = True

    def __init__(self, *, sigma: float = 0.2):
        self.sigma = sigma
        self._validate_params()

    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        return torch.empty(shape, device=device, dtype=dtype).normal_(0.0, self.sigma, generator=generator)

    def radius(self, p_lower):
        from scipy import stats

        return self._out(self.sigma * stats.norm.ppf(self._p(p_lower)))


class GaussianNamedButNotDeclared(RenamedGaussian):
    name = "gaussian_lookalike"
    isotropic_gaussian = False


def test_gaussian_is_a_capability_of_the_noise_not_its_name():
    x = img(0.8)
    for transform in ("contrast", _surrogate()):
        shape = (1, 8, 8) if not isinstance(transform, str) else (1, 4, 4)
        sm = gsmooth.Smoother(Constant(cls=1), noise=RenamedGaussian(sigma=0.2), transform=transform, num_classes=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            low, high = ((-0.1, -0.1), (0.1, 0.1)) if isinstance(transform, str) else (-0.1, 0.1)
            c = sm.certify_interval(img(0.8, shape), low=low, high=high, slices=2, n0=20, n=300, alpha=0.01)
        assert c.prediction == 1
    sm = gsmooth.Smoother(Constant(cls=1), noise=GaussianNamedButNotDeclared(sigma=0.2), transform="contrast",
                          num_classes=3)
    with pytest.raises(UnsupportedTransformError, match="expected --noise gaussian"):
        sm.certify_interval(x, low=(-0.1, -0.1), high=(0.1, 0.1), slices=2, n0=20, n=300)
    with pytest.raises(InvalidParameterError, match="isotropic Gaussian"):
        gsmooth.Smoother(Constant(), noise=GaussianNamedButNotDeclared(sigma=0.2), transform=_surrogate(), num_classes=3)


@pytest.mark.parametrize("noise", [("gaussian", 0.3), ("laplace", 0.3), ("uniform", 0.5)])
def test_each_slice_requirement_is_a_probability_known_before_sampling(noise):
    """Certified iff noise.radius(p) / M* > r  ⇔  p > p_required = radius⁻¹(r·M*): the decision the engine
    makes in radius units is the test p_lower > p_required (what a sequential test of p_A needs)."""
    from gsmooth.interval import AdditiveComposition, radius_inverse

    nz = gsmooth.noise(noise[0], sigma=noise[1])
    plan = slice_plan(-0.2, 0.2, 4)
    r = AdditiveComposition().required_radii(gsmooth.transform("brightness"), nz, plan)
    m = np.array([1.0, 1.5, 2.0, 3.0])
    p_req = AdditiveComposition().p_required(nz, r, m)
    for rk, mk, pk in zip(r, m, p_req):
        assert 0.5 < pk < 1.0
        assert nz.radius(pk) == pytest.approx(rk * mk, rel=1e-9)
        assert nz.radius(min(pk + 1e-6, 1.0)) / mk > rk and not nz.radius(pk - 1e-6) / mk > rk
    assert radius_inverse(nz, 0.0) == 0.5 and radius_inverse(nz, math.inf) == 1.0


def test_contrast_requirement_as_a_probability_is_its_neyman_pearson_p():
    from gsmooth_plugins.transforms._contrast_law import ContrastLaw, slice_requirements

    nz, t = gsmooth.noise("gaussian", sigma=0.2), gsmooth.transform("contrast")
    plan = slice_plan((-0.2, -0.2), (0.2, 0.2), 2)
    law = ContrastLaw()
    r = law.required_radii(t, nz, plan)
    np.testing.assert_allclose(law.p_required(nz, r, np.ones(plan.num_slices)), slice_requirements(plan, 0.2),
                               rtol=0, atol=1e-9)


def test_a_third_party_strategy_is_run_as_given():
    """A transform supplying its own strategy: the engine samples what it says and compares with its
    requirement (here: a law demanding more than the additive one, on τ(c_k, x))."""
    from gsmooth.interval import SliceStrategy

    class Strict(SliceStrategy):
        centering = "image"
        reports_slice_requirements = True
        seen = []

        def required_radii(self, transform, noise, plan):
            return np.full(plan.num_slices, 2.0 * plan.requirement)

        def slice_images(self, transform, x, plan):
            Strict.seen.append(plan.centers[:, 0].tolist())
            return super().slice_images(transform, x, plan)

    class Shift(gsmooth.Transform):
        name = "test_shift"
        param_dim = 1
        composes_additively = False

        def forward(self, x, theta):
            return x + theta.reshape(-1, 1, 1, 1)

        def slice_strategy(self):
            return Strict()

    sm = gsmooth.Smoother(Constant(cls=2), noise="gaussian", sigma=0.3, transform=Shift(), num_classes=3)
    c = sm.certify_interval(img(0.5), low=-0.2, high=0.2, slices=4, n0=20, n=500, alpha=0.01)
    assert len(Strict.seen) == 1 and np.allclose(Strict.seen[0], [-0.15, -0.05, 0.05, 0.15]) and c.centering == "image"
    assert c.slice_requirements == pytest.approx((0.1,) * 4) and c.requirement == pytest.approx(0.1)
    assert c.prediction == 2 and c.margin == pytest.approx(min(c.slice_radii) - c.requirement)

    class Broken(Shift):
        def slice_strategy(self):
            return object()

    with pytest.raises(UnsupportedTransformError, match="SliceStrategy"):
        gsmooth.Smoother(Constant(), noise="gaussian", sigma=0.3, transform=Broken(), num_classes=3).certify_interval(
            img(0.5), low=-0.2, high=0.2, slices=2, n0=10, n=100)
