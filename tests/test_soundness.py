"""Findings of the issue "No false certificates": each test builds what made a certificate false
(or misleading) and checks that gsmooth now refuses it or states it correctly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import gsmooth
from gsmooth.errors import InvalidParameterError
from gsmooth.surrogate.path_bounds import slice_shift_bounds
from toy_models import PdfOnlyLaplace


class Const(nn.Module):
    """Always class 0 (a model the engine accepts; the tests are about refusals and labels)."""

    input_shape = (1, 6, 6)

    def forward(self, x):
        return torch.stack([torch.ones(x.shape[0]), torch.zeros(x.shape[0])], dim=1)


def img(v=0.5):
    return torch.full((1, 6, 6), v)


# -- finding 1: parameter domains ------------------------------------------------------------


@pytest.mark.parametrize("noise", ["gaussian", "laplace", "uniform"])
def test_two_sided_noise_on_a_blur_variance_is_refused(noise):
    """gaussian_blur clamps α < 0 to 0, so two-sided noise measures blur(max(α + θ, 0)) while the proof
    needs blur(α + max(θ, 0)): the composition law fails (a false interval certificate was issued)."""
    with pytest.raises(InvalidParameterError, match=r"domain \[0, inf\]"):
        gsmooth.Smoother(Const(), noise=noise, sigma=0.5, transform="gaussian_blur", num_classes=2)


def test_one_sided_noise_on_a_blur_variance_is_accepted_inside_the_domain():
    s = gsmooth.Smoother(Const(), noise="exponential", sigma=1.0, transform="gaussian_blur", num_classes=2)
    assert s.certify_interval(img(), low=0.0, high=2.0, slices=2, n0=10, n=20).num_slices == 2
    with pytest.raises(InvalidParameterError, match="domain"):  # a range reaching below 0
        s.certify_interval(img(), low=-1.0, high=2.0, slices=2, n0=10, n=20)
    with pytest.raises(InvalidParameterError, match="domain"):  # a centre below 0
        s.certify(img(), n0=10, n=20, center=-0.5)


def test_every_builtin_transform_domain_is_well_formed():
    reg = gsmooth.plugin.registry.get_registry()
    for name in reg.transforms:
        t = reg.transform_class(name)()
        dom = t.domain()
        if t.param_dim is None:
            assert dom is None
            continue
        assert len(dom) == t.param_dim and all(lo < hi for lo, hi in dom)
        assert all(lo <= 0.0 <= hi for lo, hi in dom), f"{name}: θ = 0 must lie in the domain"


# -- finding 2: a radius is valid only in the norm its proof gives --------------------------


def test_numerical_route_noise_without_a_declared_norm_is_not_a_pixel_noise():
    """Before: the base class's norm was 'l2', so this Laplace certified an l2 radius for pixels that a
    perturbation at 0.9 x the radius breaks. Now the default is a 1-D parameter radius."""
    noise = PdfOnlyLaplace(sigma=0.5)
    assert noise.norm == "param"
    with pytest.raises(InvalidParameterError, match="1-D parameter radius"):
        gsmooth.Smoother(Const(), noise=noise, transform="additive", num_classes=2)
    with pytest.raises(InvalidParameterError, match="2 parameters"):  # a ball over two parameters needs a norm
        gsmooth.Smoother(Const(), noise=noise, transform="translation", num_classes=2)
    # one parameter: the 1-D Neyman–Pearson radius is exactly what it proves
    s = gsmooth.Smoother(Const(), noise=noise, transform="brightness", num_classes=2)
    c = s.certify(img(), n0=20, n=200, alpha=0.01)
    assert c.radius == pytest.approx(-0.5 * math.log(2 * (1 - c.p_lower)), rel=1e-6)


def test_the_declared_norm_labels_multi_parameter_radii():
    s = gsmooth.Smoother(Const(), noise="laplace", sigma=1.0, transform="translation", num_classes=2)
    assert s.norm.startswith("l1 param")


# -- finding 5: one-sided noises certify increases only -------------------------------------


def test_one_sided_noise_radius_is_labelled_as_increases():
    s = gsmooth.Smoother(Const(), noise="exponential", sigma=1.0, transform="gaussian_blur", num_classes=2)
    assert s.norm.startswith("param+")
    assert s.certify(img(), n0=10, n=50).norm.startswith("param+")
    two = gsmooth.Smoother(Const(), noise="gaussian", sigma=0.2, transform="brightness", num_classes=2)
    assert two.norm.startswith("param ") or two.norm == "param"


@pytest.mark.parametrize("noise", ["exponential", "folded_gaussian", "one_sided_uniform"])
def test_one_sided_noise_over_two_parameters_is_refused(noise):
    with pytest.raises(InvalidParameterError, match="one-sided"):
        gsmooth.Smoother(Const(), noise=noise, sigma=1.0, transform="translation", num_classes=2)


# -- finding 6: translation ranges round inwards to integer shifts ---------------------------


def test_translation_range_rounds_inwards_and_says_integer_shifts():
    s = gsmooth.Smoother(Const(), noise="gaussian", sigma=5.0, transform="translation", num_classes=2)
    c = s.certify_interval(img(), low=(-2.5, -1.2), high=(2.5, 3.9), slices=2, n0=10, n=100, alpha=0.01)
    assert c.low == (-2.0, -1.0) and c.high == (2.0, 3.0) and c.lattice == 1.0
    assert "integer shifts" in c.statement()
    with pytest.raises(InvalidParameterError, match="multiples of 1"):
        s.certify_interval(img(), low=0.2, high=0.4, slices=1, n0=10, n=20)


# -- finding 4: per-slice path bounds (gsmooth.surrogate.path_bounds) ----------------------------------


def _soft_disk_path(a: torch.Tensor) -> torch.Tensor:
    """A path with a narrow kinked bump between grid points (like the soft disk's rim), peak at α = 0.7."""
    return torch.stack([a, 8.0 * torch.relu(0.04 - (a - 0.7).abs())], dim=1)


def test_sound_bound_covers_a_kink_that_a_grid_misses():
    W = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    lows, highs = np.array([0.0, 0.5]), np.array([0.5, 1.0])
    centers = (lows + highs) / 2
    sound = slice_shift_bounds(_soft_disk_path, W, lows=lows, highs=highs, centers=centers, ratio=0.25,
                               lipschitz=1.0 + 8.0 + 1.0)
    coarse = slice_shift_bounds(_soft_disk_path, W, lows=lows, highs=highs, centers=centers, ratio=0.25,
                                estimate_points=3)  # the old 10-point-grid style: ends and centre only
    for k in range(2):
        a = torch.linspace(lows[k], highs[k], 100_001, dtype=torch.float64)
        v = _soft_disk_path(a).numpy()
        ref = _soft_disk_path(torch.tensor([centers[k]], dtype=torch.float64)).numpy()[0]
        d = np.linalg.norm(v - ref - np.outer(a.numpy() - centers[k], [1.0, 0.0]), axis=1)
        true_sup = np.sqrt((a.numpy() - centers[k]) ** 2 + (d / 0.25) ** 2).max()
        assert sound.upper[k] >= true_sup and sound.upper[k] <= 1.05 * true_sup
        assert sound.lower[k] <= true_sup * (1 + 1e-12)
    assert sound.guarantee == "sound" and coarse.guarantee == "estimate"
    # the coarse grid underestimates the slice holding the kink (a planted "grid maximum" bug)
    assert coarse.upper[1] < 0.9 * sound.lower[1]


def test_a_too_small_lipschitz_constant_would_be_caught():
    """Planted bug: a Lipschitz constant below the path's true one gives a bound below the true sup."""
    W = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    b = slice_shift_bounds(_soft_disk_path, W, lows=[0.5], highs=[1.0], centers=[0.75], ratio=0.25,
                           lipschitz=0.5, max_points=9)
    a = torch.linspace(0.5, 1.0, 100_001, dtype=torch.float64)
    v = _soft_disk_path(a).numpy()
    ref = _soft_disk_path(torch.tensor([0.75], dtype=torch.float64)).numpy()[0]
    d = np.linalg.norm(v - ref - np.outer(a.numpy() - 0.75, [1.0, 0.0]), axis=1)
    true_sup = np.sqrt((a.numpy() - 0.75) ** 2 + (d / 0.25) ** 2).max()
    sound = slice_shift_bounds(_soft_disk_path, W, lows=[0.5], highs=[1.0], centers=[0.75], ratio=0.25,
                               lipschitz=10.0, max_points=9)
    assert sound.upper[0] >= true_sup  # the valid constant bounds it even on 9 points
    assert b.upper[0] < true_sup  # the planted one does not: the bound is only as good as its constant
