"""gsmooth.surrogate.lipschitz: Jacobian spectral norms, the grid estimate of G, and M* / the GSmooth radius.

Truths used: closed-form Jacobians (F2 = identity and τ(α, x) = x + α·v, so ∂F2(τ)/∂α − W = v − w;
a d = 2 linear case; a nonlinear τ = x·e^α), finite differences in float64, and the exact matrix
2-norm of a materialised Jacobian.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from scipy import stats
from torch import nn

import gsmooth
from gsmooth.errors import InputError, InvalidParameterError
from gsmooth.surrogate.lipschitz import (
    GEstimate,
    LipschitzWarning,
    estimate_G,
    jacobian_matrix,
    jacobian_spectral_norm,
    lipschitz_factor_from_G,
    radius_from_G,
)
from gsmooth.core.ranges import param_grid, parse_range
from gsmooth.surrogate.model import SurrogateModel

SHAPE = (1, 6, 6)
M = 36


class LinearShift(nn.Module):
    """τ(α, x) = x + V α, V of shape (m, d) (image-shaped columns): ∂τ/∂α = V exactly."""

    name = "linear_shift"

    def __init__(self, V: torch.Tensor):
        super().__init__()
        self.register_buffer("V", V)

    def forward(self, x, theta):
        return x + (theta.to(x.dtype) @ self.V.to(x.dtype).T).view(x.shape)


class ExpScale(nn.Module):
    """τ(α, x) = x·e^α: ∂τ/∂α = x·e^α."""

    name = "exp_scale"

    def forward(self, x, theta):
        return x * torch.exp(theta.to(x.dtype)).view(-1, 1, 1, 1)


class SoftBlur(nn.Module):
    """A differentiable blur: 5-tap separable Gaussian with width s = α + 0.3 (α ≥ 0)."""

    name = "soft_blur"

    def forward(self, x, theta):
        s = theta.to(x.dtype).reshape(-1, 1) + 0.3
        k = torch.arange(-2, 3, dtype=x.dtype, device=x.device)
        w = torch.exp(-(k[None] ** 2) / (2 * s**2))
        w = w / w.sum(1, keepdim=True)  # (B, 5)
        b, c, h, wd = x.shape
        pad = nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
        rows = sum(w[:, i].view(b, 1, 1, 1) * pad[:, :, :, i : i + wd] for i in range(5))
        return sum(w[:, i].view(b, 1, 1, 1) * rows[:, :, i : i + h, :] for i in range(5))


class FloatCut(nn.Module):
    """x + float(α)·v: the float() cuts α out of the autograd graph (autograd sees ∂τ/∂α = 0)."""

    name = "float_cut"

    def __init__(self, v):
        super().__init__()
        self.v = v

    def forward(self, x, theta):
        return torch.stack([x[i] + float(theta[i, 0]) * self.v for i in range(x.shape[0])])


def identity_surrogate(W: torch.Tensor, dtype=torch.float32) -> SurrogateModel:
    """A surrogate with F2 = identity (its last conv is zero at init) and F1's matrix = W (m, d)."""
    sur = SurrogateModel(input_shape=SHAPE, param_dim=W.shape[1], width=8, encoder_width=4).to(dtype)
    with torch.no_grad():
        sur.f1.weight.copy_(W)
    return sur


def random_conv_surrogate(d: int = 1, seed: int = 0, dtype=torch.float64) -> SurrogateModel:
    torch.manual_seed(seed)
    sur = SurrogateModel(input_shape=SHAPE, param_dim=d, width=8, encoder_width=4)
    with torch.no_grad():
        nn.init.normal_(sur.f2.conv3.weight, std=0.3)
        nn.init.normal_(sur.f1.weight, std=0.2)
    return sur.to(dtype)


def image(seed=1, dtype=torch.float32):
    return torch.rand(SHAPE, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --------------------------------------------------------------------------------------------
# closed forms
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["auto", "exact", "power", "fd"])
def test_G_equals_norm_of_v_minus_w(method):
    g = torch.Generator().manual_seed(0)
    v, w = torch.randn(M, 1, generator=g), torch.randn(M, 1, generator=g)
    est = estimate_G(identity_surrogate(w), LinearShift(v), image(), param_range=(0.0, 2.0), method=method)
    expected = float((v - w).norm())
    assert est.G == pytest.approx(expected, rel=1e-4)
    assert torch.allclose(est.values, torch.full((10,), expected, dtype=torch.float64), rtol=1e-4)
    assert est.is_estimate and len(est.alphas) == 10


@pytest.mark.parametrize("method", ["exact", "power", "fd"])
def test_G_two_parameters_known_matrix(method):
    g = torch.Generator().manual_seed(3)
    V, W = torch.randn(M, 2, generator=g), torch.randn(M, 2, generator=g)
    est = estimate_G(identity_surrogate(W), LinearShift(V), image(), param_range=[(0, 1), (-1, 1)], grid=3,
                     method=method, iters=500)
    expected = float(torch.linalg.svdvals((V - W).double())[0])
    assert est.G == pytest.approx(expected, rel=1e-4)
    assert est.alphas.shape == (9, 2) and est.values.shape == (9,)


def test_G_nonlinear_transform_max_over_grid():
    x = image()
    w = torch.randn(M, 1, generator=torch.Generator().manual_seed(5))
    est = estimate_G(identity_surrogate(w), ExpScale(), x, param_range=(0.0, 1.0), grid=5, method="exact")
    alphas = torch.linspace(0, 1, 5)
    truth = torch.stack([(x.flatten() * math.exp(a) - w[:, 0]).norm() for a in alphas.tolist()]).double()
    assert torch.allclose(est.values, truth, rtol=1e-5)
    G, argmax, values = est  # unpacks as a triple
    assert G == pytest.approx(float(truth.max()), rel=1e-5)
    assert float(argmax[0]) == pytest.approx(float(alphas[int(truth.argmax())]))


# --------------------------------------------------------------------------------------------
# against finite differences and the exact matrix norm
# --------------------------------------------------------------------------------------------


def _fd_G(sur, tr, x, alphas, h=1e-5):
    vals = []
    for a in alphas.tolist():
        def fn(t):
            t = torch.tensor([[t]], dtype=torch.float64)
            return (sur.encode(tr(x[None], t)) - sur.embed(t)).flatten()

        with torch.no_grad():
            vals.append(float(((fn(a + h) - fn(a - h)) / (2 * h)).norm()))
    return torch.tensor(vals, dtype=torch.float64)


@pytest.mark.parametrize("transform", [SoftBlur(), ExpScale()], ids=["soft_blur", "exp_scale"])
def test_G_matches_finite_differences_random_conv_encoder(transform):
    sur = random_conv_surrogate()
    x = image(dtype=torch.float64)
    est = estimate_G(sur, transform, x, param_range=(0.1, 1.5), grid=4, method="exact", fd_check=False)
    assert est.method.startswith("exact")
    truth = _fd_G(sur, transform, x, torch.linspace(0.1, 1.5, 4, dtype=torch.float64))
    assert torch.allclose(est.values, truth, rtol=1e-6)
    assert est.G > float((sur.W.detach().norm())) * 0  # finite, non-negative
    assert est.seconds >= 0


def test_power_iteration_matches_exact_matrix_norm():
    g = torch.Generator().manual_seed(7)
    A = torch.randn(40, 6, generator=g, dtype=torch.float64)
    b = torch.randn(40, generator=g, dtype=torch.float64)

    def fn(a):
        return torch.tanh(A @ a + b) * 2.0

    alpha = torch.randn(6, generator=g, dtype=torch.float64)
    J = torch.func.jacrev(fn)(alpha)
    exact = float(torch.linalg.matrix_norm(J, 2))
    assert jacobian_spectral_norm(fn, alpha, method="exact") == pytest.approx(exact, rel=1e-10)
    assert jacobian_spectral_norm(fn, alpha, method="power", iters=500, tol=1e-12) == pytest.approx(exact, rel=1e-6)
    assert jacobian_spectral_norm(fn, alpha, method="fd", fd_step=1e-6) == pytest.approx(exact, rel=1e-6)
    assert torch.allclose(jacobian_matrix(fn, alpha), J)


def test_batched_rows_are_independent():
    V = torch.randn(M, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x = image(dtype=torch.float64)

    def fn(a):
        return x.flatten()[None] * torch.exp(a) + a @ V.T

    alphas = torch.tensor([[0.0], [0.5], [1.0]], dtype=torch.float64)
    batched = jacobian_spectral_norm(fn, alphas, batched=True, method="power")
    singles = [jacobian_spectral_norm(lambda a: fn(a[None])[0], a, method="exact") for a in alphas]
    assert batched.shape == (3,)
    assert torch.allclose(batched, torch.tensor(singles, dtype=torch.float64), rtol=1e-10)


def test_reverse_mode_fallback_for_ops_without_forward_ad():
    """grid_sample has no forward-mode AD formula: the exact path falls back to reverse over reverse."""
    x = image()
    w = torch.zeros(M, 1)

    class Shift(nn.Module):
        name = "grid_shift"

        def forward(self, x, theta):
            b = x.shape[0]
            grid = nn.functional.affine_grid(
                torch.cat([torch.eye(2).expand(b, 2, 2), theta.to(x.dtype).view(b, 1, 1).expand(b, 2, 1) * 0.1], 2),
                x.shape, align_corners=False,
            )
            return nn.functional.grid_sample(x, grid, align_corners=False, padding_mode="border")

    est = estimate_G(identity_surrogate(w), Shift(), x, param_range=(0.0, 1.0), grid=3, method="exact")
    fd = estimate_G(identity_surrogate(w), Shift(), x, param_range=(0.0, 1.0), grid=3, method="fd")
    assert "reverse-mode" in est.method
    assert torch.allclose(est.values, fd.values, rtol=1e-2)


def test_fd_check_catches_transform_cut_from_autograd():
    v = torch.randn(SHAPE, generator=torch.Generator().manual_seed(4))
    w = torch.zeros(M, 1)
    with pytest.warns(LipschitzWarning, match="disagree"):
        est = estimate_G(identity_surrogate(w), FloatCut(v), image(), param_range=(0.0, 1.0), grid=3)
    assert est.G == pytest.approx(float(v.norm()), rel=1e-3)  # autograd alone would give 0
    assert est.notes and "fd-check" in est.method


def test_fd_stays_inside_one_sided_range():
    seen = []

    class OneSided(nn.Module):
        name = "one_sided"

        def forward(self, x, theta):
            seen.append(float(theta.min()))
            return x * (1 + theta.to(x.dtype).view(-1, 1, 1, 1) ** 2)

    estimate_G(identity_surrogate(torch.zeros(M, 1)), OneSided(), image(), param_range=(0.0, 1.0), method="fd")
    assert min(seen) >= 0.0


def test_estimate_inside_inference_mode():
    sur, tr = identity_surrogate(torch.zeros(M, 1)), LinearShift(torch.ones(M, 1))
    with torch.inference_mode():
        x = image()  # an inference tensor, as the engine's images are
        est = estimate_G(sur, tr, x, param_range=(0, 1), grid=2)
    assert est.G == pytest.approx(6.0, rel=1e-6) and not est.notes


# --------------------------------------------------------------------------------------------
# M* and the radius
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("G", [0.0, 0.3, 1.0, 7.5])
def test_M_star_equal_sigmas_reduces_to_sqrt_1_plus_G2(G):
    assert lipschitz_factor_from_G(G, 0.25, 0.25) == pytest.approx(math.sqrt(1 + G**2), rel=1e-14)
    assert lipschitz_factor_from_G(G, 0.25, 0.25) >= 1.0


@pytest.mark.parametrize("p", [0.6, 0.9, 0.99993092])
@pytest.mark.parametrize("G,st,sx", [(0.0, 0.5, 0.5), (0.8, 0.25, 0.25), (2.0, 1.5, 0.25), (0.1, 0.1, 1.0)])
def test_radius_identity(p, G, st, sx):
    direct = stats.norm.ppf(p) / math.sqrt(st**-2 + G**2 * sx**-2)
    via_engine = st * stats.norm.ppf(p) / lipschitz_factor_from_G(G, st, sx)
    assert radius_from_G(p, G, st, sx) == pytest.approx(direct, rel=1e-12)
    assert via_engine == pytest.approx(direct, rel=1e-12)
    if G == 0.0:
        assert direct == pytest.approx(gsmooth.noise("gaussian", sigma=st).radius(p), rel=1e-12)


def test_radius_abstain_and_bad_sigmas():
    assert radius_from_G(0.5, 1.0, 0.25, 0.25) == 0.0
    with pytest.raises(InvalidParameterError):
        lipschitz_factor_from_G(1.0, 0.0, 0.25)
    with pytest.raises(InvalidParameterError):
        lipschitz_factor_from_G(-1.0, 0.25, 0.25)


# --------------------------------------------------------------------------------------------
# ranges, grids and argument errors
# --------------------------------------------------------------------------------------------


def test_param_ranges_and_grid():
    assert parse_range("0:10", broadcast=False) == ((0.0, 10.0),)
    assert parse_range((0, 1), broadcast=False) == ((0.0, 1.0),)
    assert parse_range([(0, 1), (-2, 2)], 2, broadcast=False) == ((0.0, 1.0), (-2.0, 2.0))
    assert param_grid((0, 10), 10).squeeze(1).tolist() == torch.linspace(0, 10, 10, dtype=torch.float64).tolist()
    assert param_grid((3, 3), 10).tolist() == [[3.0]]
    for bad in ["1", "a:b", (2, 1), (0, float("nan")), [(0, 1, 2)], ()]:
        with pytest.raises(InvalidParameterError):
            parse_range(bad, broadcast=False)
    with pytest.raises(InvalidParameterError, match="param_dim=2"):
        parse_range((0, 1), 2, broadcast=False)


def test_argument_errors():
    sur = identity_surrogate(torch.zeros(M, 1))
    with pytest.raises(InvalidParameterError):
        estimate_G(sur, ExpScale(), image(), param_range=(0, 1), grid=0)
    with pytest.raises(InvalidParameterError):
        estimate_G(sur, ExpScale(), image(), param_range=(0, 1), method="magic")
    with pytest.raises(InputError):
        estimate_G(sur, ExpScale(), torch.rand(2, *SHAPE), param_range=(0, 1))
    with pytest.raises(InputError):
        jacobian_spectral_norm(lambda a: a, torch.zeros(2, 2))


def test_describe_says_estimate():
    est = estimate_G(identity_surrogate(torch.zeros(M, 1)), ExpScale(), image(), param_range=(0, 1), grid=3)
    assert isinstance(est, GEstimate)
    text = est.describe()
    assert "estimate" in text and "grid" in text


REAL = ["rotational_blur", "defocus_blur", "zoom_blur", "motion_blur", "rotation"]


@pytest.mark.parametrize("name", REAL)
def test_real_transforms_autograd_agrees_with_fd_inside_range(name):
    """The built-in non-resolvable transforms are differentiable in θ (grid_sample included): at
    interior grid points autograd matches finite differences."""
    try:
        tr = gsmooth.transform(name)
    except gsmooth.UnknownComponentError:
        pytest.skip(f"{name} not registered")
    from gsmooth.core.defaults import defaults_of

    (lo, hi), = defaults_of(name).range
    sur = SurrogateModel(input_shape=(1, 12, 12), param_dim=1, width=8, encoder_width=4)
    x = torch.rand(1, 12, 12, generator=torch.Generator().manual_seed(0))
    # Bilinear resampling and the soft disk make these transforms piecewise smooth in θ, with kinks
    # where sample positions cross pixel centres (every pixel at once at rotation 0 or at integer
    # motion-blur lengths; at r = d ± 1/2 for the defocus disk): compare between kinks.
    rng = (1.05, 1.25) if name == "defocus_blur" else (lo + 0.23 * (hi - lo), lo + 0.71 * (hi - lo))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ad = estimate_G(sur, tr, x, param_range=rng, grid=3, method="exact", fd_check=False)
        fd = estimate_G(sur, tr, x, param_range=rng, grid=3, method="fd")
    assert torch.allclose(ad.values, fd.values, rtol=2e-2, atol=1e-3), (ad.values, fd.values)
