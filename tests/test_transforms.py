"""The built-in semantic transforms (plugins/transforms): conformance, composition, hand-computed values,
half precision, gradients in θ, batching. Small images throughout (2 shared CPU cores)."""

from __future__ import annotations

import math

import pytest
import torch

import gsmooth
from gsmooth.testing import check_transform, parametrize_with_checks
from gsmooth_plugins.transforms import (
    Brightness,
    Contrast,
    DefocusBlur,
    GaussianBlur,
    MotionBlur,
    Pixelate,
    Rotation,
    RotationalBlur,
    Scaling,
    Translation,
    ZoomBlur,
)
from gsmooth_plugins.transforms.brightness import brightness
from gsmooth_plugins.transforms.contrast import contrast, contrast_compose
from gsmooth_plugins.transforms.defocus_blur import defocus_blur, defocus_kernel
from gsmooth_plugins.transforms.gaussian_blur import gaussian_blur
from gsmooth_plugins.transforms.motion_blur import motion_blur
from gsmooth_plugins.transforms.pixelate import pixelate, pixelate_matrix
from gsmooth_plugins.transforms.rotation import rotation
from gsmooth_plugins.transforms.rotational_blur import rotational_blur
from gsmooth_plugins.transforms.scaling import scaling
from gsmooth_plugins.transforms.translation import translation
from gsmooth_plugins.transforms.zoom_blur import zoom_blur

F64 = torch.float64

# name -> (class, kind, param_dim, theta_range for check_transform, exact check, a typical θ)
SPECS = {
    "brightness": (Brightness, "exact", 1, (-1.0, 1.0), True, [0.3]),
    "contrast": (Contrast, "exact", 2, (-0.5, 0.5), False, [0.2, -0.1]),
    "gaussian_blur": (GaussianBlur, "exact", 1, (0.0, 4.0), True, [2.0]),
    "translation": (Translation, "exact", 2, (-20.0, 20.0), False, [3.0, -2.0]),
    "rotation": (Rotation, "empirical", 1, (-30.0, 30.0), False, [12.0]),
    "scaling": (Scaling, "empirical", 1, (-0.3, 0.3), False, [0.2]),
    "rotational_blur": (RotationalBlur, "empirical", 1, (-10.0, 10.0), False, [10.0]),
    "defocus_blur": (DefocusBlur, "empirical", 1, (0.0, 5.0), False, [2.3]),
    "zoom_blur": (ZoomBlur, "empirical", 1, (0.0, 0.5), False, [0.3]),
    "pixelate": (Pixelate, "empirical", 1, (0.0, 0.6), False, [0.3]),
    "motion_blur": (MotionBlur, "empirical", 1, (0.0, 6.0), False, [4.3]),
}
NAMES = list(SPECS)
#: differentiable in θ (translation is piecewise constant: no gradient path)
DIFFERENTIABLE = [n for n in NAMES if n != "translation"]


def _rand(*shape, seed=0, dtype=torch.float32):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _theta(name, batch=2, dtype=torch.float32):
    return torch.tensor(SPECS[name][5], dtype=dtype).expand(batch, -1).clone()


# -- registration and conformance ----------------------------------------------------------------------------
def test_all_registered_with_their_attributes():
    assert set(NAMES) | {"additive"} <= set(gsmooth.available_transforms())
    for name, (cls, kind, dim, *_rest) in SPECS.items():
        t = gsmooth.transform(name)
        assert type(t) is cls and t.name == name
        assert cls.kind == kind and cls.param_dim == dim and cls.identity_at_zero is True
        assert isinstance(cls.param_units, str) and cls.param_units
        assert cls.__module__ == f"gsmooth_plugins.transforms.{name}"
    assert Contrast.composes_additively is False
    assert gsmooth.transform("rotational_blur", num_samples=4).num_samples == 4


def test_gsmooth_plugins_lists_them(capsys):
    from gsmooth.cli import main

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert name in out


def _conformance_case(name):
    cls, _, _, theta_range, exact, _ = SPECS[name]
    image_shape = (3, 12, 12) if name in ("gaussian_blur", "defocus_blur") else (3, 8, 8)
    # default `exact` (from kind and composes_additively) where the additive law holds for real θ's;
    # translation composes only on the integer lattice (tested below)
    return cls(), {"image_shape": image_shape, "theta_range": theta_range, "exact": None if exact else False}


@parametrize_with_checks([_conformance_case(name) for name in NAMES])
def test_builtin_transform_conformance(component, check):
    check(component)


def test_check_transform_contrast_default_exact():
    check_transform(Contrast(), theta_range=SPECS["contrast"][3])  # composes_additively=False skips the additive law


def test_check_transform_non_default_hyperparameters():
    check_transform(RotationalBlur(num_samples=3, padding_mode="reflection"), theta_range=(-20, 20))
    check_transform(MotionBlur(angle=30.0, num_samples=5, padding_mode="zeros"), theta_range=(0, 4))
    check_transform(ZoomBlur(num_samples=2, padding_mode="border"), theta_range=(-0.2, 0.2))
    aliased = DefocusBlur(alias_sigma=0.5)
    assert aliased.identity_at_zero is False and DefocusBlur.identity_at_zero is True
    check_transform(aliased, theta_range=(0, 3))


@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: RotationalBlur(num_samples=1), "num_samples"),
        (lambda: ZoomBlur(num_samples=2.0), "num_samples"),
        (lambda: MotionBlur(angle=float("nan")), "angle"),
        (lambda: Rotation(padding_mode="wrap"), "padding_mode"),
        (lambda: DefocusBlur(alias_sigma=-0.1), "alias_sigma"),
    ],
)
def test_invalid_hyperparameters(factory, match):
    with pytest.raises(gsmooth.InvalidParameterError, match=f"{match}.*expected"):
        factory()


def test_bad_theta_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expected theta of shape \(B, 2\)"):
        contrast(torch.zeros(3, 1, 4, 4), torch.zeros(3, 1))
    with pytest.raises(ValueError, match=r"expected x of shape \(B, C, H, W\)"):
        brightness(torch.zeros(1, 4, 4), torch.zeros(1, 1))


# -- exact (resolvable) transforms: composition -----------------------------------------------------------------
def test_brightness_adds_theta_and_composes():
    x = _rand(3, 2, 5, 5, dtype=F64)
    a, b = torch.tensor([[0.1], [-0.3], [0.0]], dtype=F64), torch.tensor([[0.2], [0.05], [-1.0]], dtype=F64)
    assert torch.allclose(brightness(x, a) - x, a.view(3, 1, 1, 1).expand_as(x), atol=1e-15)
    assert torch.allclose(brightness(brightness(x, b), a), brightness(x, a + b), atol=1e-15)
    assert float(brightness(torch.ones(1, 1, 1, 1), torch.tensor([[0.5]]))) == 1.5  # no clipping


def test_contrast_value_and_composition_law():
    x = _rand(3, 2, 5, 5, dtype=F64)
    t1 = torch.tensor([[0.3, 0.1], [-0.2, -0.4], [0.0, 0.0]], dtype=F64)
    t2 = torch.tensor([[-0.1, 0.2], [0.5, 0.3], [0.7, -0.2]], dtype=F64)
    expected = torch.exp(t1[:, 0]).view(3, 1, 1, 1) * (x + t1[:, 1].view(3, 1, 1, 1))
    assert torch.allclose(contrast(x, t1), expected, atol=1e-15)
    twice = contrast(contrast(x, t2), t1)
    assert torch.allclose(twice, contrast(x, contrast_compose(t1, t2)), atol=1e-14)
    assert not torch.allclose(twice, contrast(x, t1 + t2), atol=1e-3)  # hence composes_additively = False


@pytest.mark.parametrize("a, b", [(0.3, 0.5), (2.0, 6.0), (16.0, 16.0)])
def test_gaussian_blur_composes_to_float_precision(a, b):
    x = _rand(2, 3, 32, 32, dtype=F64)
    ta, tb = torch.full((2, 1), a, dtype=F64), torch.full((2, 1), b, dtype=F64)
    err64 = (gaussian_blur(gaussian_blur(x, tb), ta) - gaussian_blur(x, ta + tb)).abs().max()
    assert err64 < 1e-12  # measured ~7e-16: the multipliers exp(−α(2 − cos ω_y − cos ω_x)) multiply
    x32, ta32, tb32 = x.float(), ta.float(), tb.float()
    err32 = (gaussian_blur(gaussian_blur(x32, tb32), ta32) - gaussian_blur(x32, ta32 + tb32)).abs().max()
    assert err32 < 5e-6  # float32 FFT round-off (measured ~4e-7)


def test_translation_is_torch_roll_and_composes_on_the_lattice():
    x = _rand(3, 2, 6, 7)
    theta = torch.tensor([[2.0, -1.0], [-9.4, 13.6], [0.49, -0.5]])
    out = translation(x, theta)
    for i, (dx, dy) in enumerate([(2, -1), (-9, 14), (0, 0)]):  # half-up rounding: −0.5 → 0
        assert torch.equal(out[i], torch.roll(x[i], shifts=(dy, dx), dims=(1, 2)))
    # τ(δ, τ(θ, x)) = τ(θ + δ, x) for every integer shift δ and real θ (ties included)
    b = torch.tensor([[0.5, -1.5], [2.3, 0.7], [-3.5, 2.5]])
    delta = torch.tensor([[1.0, -4.0], [-2.0, 3.0], [5.0, 1.0]])
    assert torch.equal(translation(translation(x, b), delta), translation(x, b + delta))
    assert torch.equal(translation(x.half(), theta).float(), out.half().float())  # a permutation: exact in half


# -- θ = 0 identity ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_identity_at_zero(name):
    t = gsmooth.transform(name)
    for dtype, tol in ((torch.float32, 1e-5), (F64, 1e-12)):
        x = _rand(2, 3, 10, 10, dtype=dtype)
        out = t(x, torch.zeros(2, t.param_dim, dtype=dtype))
        assert (out - x).abs().max() < tol, name


# -- hand-computed values ----------------------------------------------------------------------------------------
def test_rotation_by_90_is_rot90():
    x = _rand(2, 3, 9, 9, dtype=F64)
    out = rotation(x, torch.tensor([[90.0], [-90.0]]))
    assert torch.allclose(out[0], torch.rot90(x[0], 1, dims=(1, 2)), atol=1e-12)
    assert torch.allclose(out[1], torch.rot90(x[1], -1, dims=(1, 2)), atol=1e-12)
    # non-square: the overlap of the rotated and the original frame, away from the borders
    y = _rand(1, 1, 6, 10, dtype=F64)
    r = rotation(y, torch.tensor([[180.0]]))
    assert torch.allclose(r, torch.rot90(y, 2, dims=(2, 3)), atol=1e-12)


def test_scaling_of_a_ramp():
    ramp = torch.arange(9.0, dtype=F64).expand(1, 1, 9, 9)
    c = 4.0
    for s in (1.5, 2.0):
        out = scaling(ramp, torch.tensor([[s - 1.0]]))
        expected = c + (torch.arange(9.0, dtype=F64) - c) / s  # bilinear reproduces a linear ramp
        assert torch.allclose(out[0, 0, 4], expected, atol=1e-12)


def _delta(n=33, dtype=F64):
    x = torch.zeros(1, 1, n, n, dtype=dtype)
    x[0, 0, n // 2, n // 2] = 1.0
    return x


def _moments(img):
    n = img.shape[-1]
    off = torch.arange(n, dtype=img.dtype) - n // 2
    px, py = img.sum(0), img.sum(1)  # marginals along x (columns) and y (rows)
    return float(img.sum()), float((px * off**2).sum()), float((py * off**2).sum())


@pytest.mark.parametrize("alpha", [0.25, 1.0, 4.0, 9.0])
def test_gaussian_blur_of_a_delta_has_variance_alpha(alpha):
    out = gaussian_blur(_delta(65), torch.tensor([[alpha]], dtype=F64))[0, 0]  # far from the borders
    mass, var_x, var_y = _moments(out)
    assert mass == pytest.approx(1.0, abs=1e-12)
    assert var_x == pytest.approx(alpha, abs=1e-9) and var_y == pytest.approx(alpha, abs=1e-9)
    assert float(out.min()) > -1e-15  # the discrete Gaussian is non-negative


def test_gaussian_blur_is_kornias_discrete_gaussian():
    from kornia.filters import gaussian_blur2d, get_gaussian_discrete_kernel1d

    alpha = 2.0
    k = get_gaussian_discrete_kernel1d(21, math.sqrt(alpha), dtype=F64)[0]  # e^{−α} I_n(α), window 21
    out = gaussian_blur(_delta(), torch.tensor([[alpha]], dtype=F64))[0, 0, 6:27, 6:27]
    assert torch.allclose(out, k[:, None] * k[None, :], atol=1e-12)
    # close to kornia's sampled Gaussian for σ ≳ 1 (it is the same up to discretisation)
    x = _rand(1, 3, 24, 24, dtype=F64)
    sampled = gaussian_blur2d(x, (13, 13), (2.0, 2.0), border_type="reflect")
    assert (gaussian_blur(x, torch.tensor([[4.0]])) - sampled).abs().max() < 1e-2


def test_defocus_kernel_and_constant_image():
    k = defocus_kernel(torch.tensor([0.0, 0.3, 1.0, 2.5, 4.0], dtype=F64), (6, 6))
    assert torch.allclose(k.sum(dim=(1, 2)), torch.ones(5, dtype=F64), atol=1e-14)
    assert torch.equal(k[0], k[1]) and float(k[0, 6, 6]) == 1.0  # sub-pixel disk: a delta
    # r = 1: weights clamp(1.5 − d, 0, 1): 1 at the centre, 1/2 at d = 1, 1.5 − √2 at d = √2
    w = torch.tensor([[1.5 - math.sqrt(2), 0.5, 1.5 - math.sqrt(2)], [0.5, 1.0, 0.5], [1.5 - math.sqrt(2), 0.5, 1.5 - math.sqrt(2)]], dtype=F64)
    assert torch.allclose(k[2, 5:8, 5:8], w / w.sum(), atol=1e-14)
    assert float(k[2].sum() - k[2, 5:8, 5:8].sum()) < 1e-15  # nothing beyond d = 1.5
    const = torch.full((3, 2, 10, 10), 0.3, dtype=F64)
    assert torch.allclose(defocus_blur(const, torch.tensor([[0.7], [2.0], [12.0]])), const, atol=1e-12)
    out = defocus_blur(_delta(21), torch.tensor([[1.0]], dtype=F64))[0, 0, 9:12, 9:12]
    assert torch.allclose(out, w / w.sum(), atol=1e-12)  # a delta image returns the kernel


def test_pixelate_blocks():
    x = _rand(1, 2, 8, 8, dtype=F64)
    out = pixelate(x, torch.tensor([[0.75]]))  # c = 1/4: 4×4 blocks holding their means
    blocks = torch.nn.functional.avg_pool2d(x, 4)
    assert torch.allclose(out, blocks.repeat_interleave(4, 2).repeat_interleave(4, 3), atol=1e-12)
    whole = pixelate(x, torch.tensor([[0.999999]]))  # one block: the image mean
    assert torch.allclose(whole, x.mean(dim=(2, 3), keepdim=True).expand_as(x), atol=1e-12)
    # fractional block width 1.5 on 3 pixels: blocks [0, 1.5), [1.5, 3); the middle pixel blends them
    a = pixelate_matrix(torch.tensor([1.5], dtype=F64), 3)[0]
    expected = torch.tensor([[2, 1, 0], [1, 1, 1], [0, 1, 2]], dtype=F64) / 3
    assert torch.allclose(a, expected, atol=1e-14)
    assert torch.allclose(pixelate_matrix(torch.tensor([1.7, 3.2]), 7).sum(-1), torch.ones(2, 7), atol=1e-6)


def test_rotational_blur_values():
    n = 17
    yy, xx = torch.meshgrid(torch.arange(n, dtype=F64), torch.arange(n, dtype=F64), indexing="ij")
    radial = torch.exp(-((xx - 8) ** 2 + (yy - 8) ** 2) / 12.0).expand(1, 2, n, n)
    out = rotational_blur(radial, torch.tensor([[40.0]]))
    assert (out - radial).abs().max() < 0.02  # rotation-invariant image: only bilinear error
    x = _rand(1, 3, 9, 9, dtype=F64)
    two = rotational_blur(x, torch.tensor([[90.0]]), num_samples=2)  # angles 0 and 90, once each
    assert torch.allclose(two, (x + torch.rot90(x, 1, dims=(2, 3))) / 2, atol=1e-12)
    three = rotational_blur(x, torch.tensor([[180.0]]), num_samples=3)
    expected = (x + torch.rot90(x, 1, dims=(2, 3)) + torch.rot90(x, 2, dims=(2, 3))) / 3
    assert torch.allclose(three, expected, atol=1e-12)


def test_zoom_blur_values():
    n, c, z, k = 9, 4.0, 0.5, 6
    ramp = torch.arange(n, dtype=F64).expand(1, 1, n, n)
    out = zoom_blur(ramp, torch.tensor([[z]]), num_samples=k)
    inv = torch.stack([1 / (1 + z * i / (k - 1)) for i in torch.arange(k, dtype=F64)]).mean()
    assert torch.allclose(out[0, 0, 4], c + (torch.arange(n, dtype=F64) - c) * inv, atol=1e-12)
    const = torch.full((2, 3, 8, 8), 0.6, dtype=F64)  # zooming in never samples outside
    assert torch.allclose(zoom_blur(const, torch.tensor([[0.3], [0.5]])), const, atol=1e-12)


@pytest.mark.parametrize("length, angle", [(4.0, 0.0), (6.5, 0.0), (5.0, 90.0)])
def test_motion_blur_of_a_delta(length, angle):
    k = 9
    out = motion_blur(_delta(21), torch.tensor([[length]], dtype=F64), angle=angle, num_samples=k)[0, 0]
    mass, var_x, var_y = _moments(out)
    t = length * (torch.arange(k, dtype=F64) / (k - 1) - 0.5)
    frac = t - torch.floor(t)
    expected = float((t**2 + frac * (1 - frac)).mean())  # bilinear splats of the k points
    along, across = (var_x, var_y) if angle == 0.0 else (var_y, var_x)
    assert mass == pytest.approx(1.0, abs=1e-12)
    assert along == pytest.approx(expected, abs=1e-9) and across == pytest.approx(0.0, abs=1e-9)


# -- precision, gradients, batching -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_half_precision_matches_float32(name):
    t = gsmooth.transform(name)
    x, theta = _rand(2, 3, 12, 12), _theta(name)
    ref = t(x, theta)
    for dtype, tol in ((torch.bfloat16, 3e-2), (torch.float16, 4e-3)):
        out = t(x.to(dtype), theta)
        assert out.dtype == dtype and out.shape == x.shape
        assert (out.float() - ref).abs().max() < tol, (name, dtype)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_gradient_in_theta_is_finite_and_nonzero(name):
    t = gsmooth.transform(name)
    x = _rand(2, 3, 12, 12, dtype=F64)
    theta = _theta(name, dtype=F64).requires_grad_(True)
    weights = _rand(2, 3, 12, 12, seed=1, dtype=F64)
    (grad,) = torch.autograd.grad((t(x, theta) * weights).sum(), theta)
    assert grad.shape == theta.shape and bool(torch.isfinite(grad).all())
    assert bool((grad.abs().sum(dim=1) > 1e-6).all()), (name, grad)
    # torch.func (what the M* estimate uses): reverse mode works for every differentiable transform
    jac = torch.func.jacrev(lambda th: (t(x[:1], th) * weights[:1]).sum())(theta[:1].detach())
    assert torch.allclose(jac, grad[:1], rtol=1e-10, atol=1e-12)


def test_gaussian_blur_gradient_matches_finite_differences():
    x = _rand(1, 1, 12, 12, dtype=F64)
    w = _rand(1, 1, 12, 12, seed=3, dtype=F64)
    theta = torch.tensor([[1.3]], dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad((gaussian_blur(x, theta) * w).sum(), theta)
    eps = 1e-6
    fd = ((gaussian_blur(x, theta.detach() + eps) - gaussian_blur(x, theta.detach() - eps)) * w).sum() / (2 * eps)
    assert float(grad) == pytest.approx(float(fd), rel=1e-6)


def test_translation_has_no_gradient_path():
    theta = torch.tensor([[1.2, -0.4]], requires_grad=True)
    assert not translation(_rand(1, 1, 4, 4), theta).requires_grad


@pytest.mark.parametrize("name", NAMES)
def test_batch_equals_loop(name):
    t = gsmooth.transform(name)
    x = _rand(3, 2, 11, 11, dtype=F64)
    theta = torch.cat([_theta(name, 1, F64), torch.zeros(1, t.param_dim, dtype=F64), -0.5 * _theta(name, 1, F64)])
    out = t(x, theta)
    for i in range(3):
        assert torch.allclose(out[i : i + 1], t(x[i : i + 1], theta[i : i + 1]), atol=1e-12), (name, i)


def test_defocus_identity_at_zero_follows_alias_sigma_when_set_later():
    """Setting alias_sigma on an existing instance must update identity_at_zero (a point certificate
    through a surrogate is refused when τ(0, x) ≠ x)."""
    t = gsmooth.transform("defocus_blur")
    assert t.identity_at_zero
    t.alias_sigma = 0.5
    assert not t.identity_at_zero and t.get_params() == {"alias_sigma": 0.5}
    x = torch.rand(1, 1, 8, 8)
    assert not torch.allclose(t(x, torch.zeros(1, 1)), x)
    with pytest.raises(gsmooth.InvalidParameterError):
        t.alias_sigma = -1.0
