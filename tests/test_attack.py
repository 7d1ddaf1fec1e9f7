"""gsmooth.evaluation.attack: the parameter-range attack keeps interval certificates honest.

1. No image certified for a range is broken inside it: for every certified image the smoothed
   classifier is evaluated (Monte Carlo, n votes) at a dense grid of α in the range and at the
   attack's worst α; the certified class must keep a vote share > 1/2 everywhere. Why 1/2: the
   interval certificate gives p_y(α) ≥ Φ(Φ⁻¹(p_lower) − ‖α − c_k‖/σ) > 1/2 at every α of every
   slice, so only Monte Carlo error can push the estimate below 1/2. Tolerance: 4 standard errors
   of a proportion near 1/2, 4·sqrt(0.25/n) (≈ 0.032 for n = 4000) — a false alarm has probability
   < 1e-4 per evaluation.
2. The attack is not vacuous: it breaks a deliberately fragile base model (a failure window
   narrower than the grid spacing is found by the gradient steps, not by the grid), and breaks the
   smoothed classifier of an image whose class flips inside the range.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import gsmooth
from gsmooth.evaluation.attack import attack, is_differentiable, smoothed_votes

from toy_models import Bands


class Window(nn.Module):
    """Class 1 only when the mean is within ``w`` of ``c`` — a narrow failure window for class 0."""

    def __init__(self, c=0.55, w=0.02):
        super().__init__()
        self.c, self.w = c, w

    def forward(self, x):
        m = x.flatten(1).mean(1)
        z = (self.w - (m - self.c).abs()) * 200
        return torch.stack([-z, z], 1)


def img(mean, shape=(1, 4, 4)):
    return torch.full(shape, float(mean))


N_CHECK = 4000
TOL = 4 * math.sqrt(0.25 / N_CHECK)


def test_no_certified_image_is_broken_inside_its_range():
    smoother = gsmooth.Smoother(Bands(), noise="gaussian", sigma=0.1, transform="brightness", num_classes=3)
    means = [0.2, 0.3, 0.42, 0.5, 0.58, 0.75]
    x = torch.stack([img(m) for m in means])
    low, high = -0.1, 0.1
    certs = smoother.certify_interval(x, low=low, high=high, slices=10, n0=100, n=3000, alpha=0.01, seed=0)
    certified = [i for i, c in enumerate(certs) if c.certified]
    assert 0 < len(certified) < len(means), list(certs.slice_predictions)  # both outcomes occur
    gen = torch.Generator().manual_seed(123)
    for i in certified:
        y = certs[i].prediction
        res = attack(smoother, x[i], y, low=low, high=high, grid=21, steps=5, eot=16, n=N_CHECK, seed=1)[0]
        assert res.smoothed_vote > 0.5 - TOL, (means[i], res)
        for a in torch.linspace(low, high, 41):
            votes = smoothed_votes(smoother, x[i] + a, N_CHECK, generator=gen)
            assert float(votes[y]) / N_CHECK > 0.5 - TOL, (means[i], float(a), votes.tolist())
    # an image whose class flips inside the range (0.42 − 0.1 < 0.35) is not certified, and the
    # attack breaks its smoothed classifier there
    flip = means.index(0.42)
    assert flip not in certified
    res = attack(smoother, x[flip], 1, low=low, high=high, grid=21, steps=5, eot=16, n=2000, seed=1)[0]
    assert not res.smoothed_correct and res.prediction == 0 and res.worst_theta_smoothed[0] < -0.05
    assert not res.base_correct


def test_no_certified_image_is_broken_inside_its_contrast_range():
    # contrast + brightness e^k (x + b), one slice for the whole range, so the certificate rests on
    # the slice's Neyman–Pearson requirement alone (with several slices a flip would also show as
    # disagreeing slices); checked on the true transform at a dense (k, b) grid and by the attack
    smoother = gsmooth.Smoother(Bands(), noise="gaussian", sigma=0.1, transform="contrast", num_classes=3)
    means = [0.2, 0.5, 0.55]
    x = torch.stack([img(m) for m in means])
    low, high = (-0.1, -0.05), (0.1, 0.05)
    certs = smoother.certify_interval(x, low=low, high=high, slices=1, n0=100, n=3000, alpha=0.01, seed=0)
    certified = [i for i, c in enumerate(certs) if c.certified]
    assert 0 < len(certified) < len(means), list(certs.slice_p_lower)
    tau = smoother.transform
    gen = torch.Generator().manual_seed(5)
    for i in certified:
        y = certs[i].prediction
        res = attack(smoother, x[i], y, low=low, high=high, grid=9, steps=5, eot=16, n=N_CHECK, seed=1)[0]
        assert res.smoothed_vote > 0.5 - TOL, (means[i], res)
        for k in torch.linspace(low[0], high[0], 9):
            for b in torch.linspace(low[1], high[1], 9):
                x_t = tau(x[i][None], torch.tensor([[float(k), float(b)]]))[0]
                votes = smoothed_votes(smoother, x_t, N_CHECK, generator=gen)
                assert float(votes[y]) / N_CHECK > 0.5 - TOL, (means[i], float(k), float(b), votes.tolist())
    # 0.55 is class 1 at the centre (p ≈ 0.81) but crosses the boundary 0.65 at the corner
    # (e^0.1 · 0.60 ≈ 0.66): not certified, and the attack breaks it there
    flip = means.index(0.55)
    assert flip not in certified
    res = attack(smoother, x[flip], 1, low=low, high=high, grid=9, steps=5, eot=16, n=2000, seed=1)[0]
    assert not res.smoothed_correct and res.prediction == 2


def test_attack_breaks_a_fragile_base_model_with_gradient_steps():
    # failure window [0.53, 0.57] in mean brightness; grid points 0.5 + {-0.2, -0.1, 0, 0.1, 0.2} all miss it
    smoother = gsmooth.Smoother(Window(), noise="gaussian", sigma=0.1, transform="brightness", num_classes=2)
    x = img(0.5)
    grid_only = attack(smoother, x, 0, low=-0.2, high=0.2, grid=5, steps=0, eot=4, n=200)[0]
    assert grid_only.base_correct and grid_only.tried == 5 and not grid_only.differentiable
    res = attack(smoother, x, 0, low=-0.2, high=0.2, grid=5, steps=10, eot=4, n=200)[0]
    assert res.differentiable and res.tried > 5
    assert not res.base_correct and res.base_prediction == 1
    assert abs(0.5 + res.worst_theta[0] - 0.55) < 0.02
    # the smoothed classifier (sigma 0.1 ≫ window width) is not fooled: smoothing helps here
    assert res.smoothed_correct and res.prediction == 0
    # a dense grid alone finds a wide failure region
    wide = gsmooth.Smoother(Window(0.6, 0.05), noise="gaussian", sigma=0.1, transform="brightness", num_classes=2)
    assert not attack(wide, x, 0, low=-0.2, high=0.2, grid=21, steps=0, n=100)[0].base_correct


def test_not_differentiable_transform_uses_the_grid_only():
    smoother = gsmooth.Smoother(Bands(), noise="gaussian", sigma=3.0, transform="translation", num_classes=3)
    x = torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(0))
    assert not is_differentiable(smoother.transform, x[None], torch.zeros(1, 2))
    assert is_differentiable(gsmooth.transform("brightness"), x[None], torch.zeros(1, 1))
    res = attack(smoother, x, 1, low=-2, high=2, grid=5, steps=5, eot=2, n=50)[0]
    assert not res.differentiable and res.steps == 0 and res.tried == 25 and len(res.worst_theta) == 2


def test_attack_arguments():
    smoother = gsmooth.Smoother(Bands(), noise="gaussian", sigma=0.1, transform="brightness", num_classes=3)
    with pytest.raises(gsmooth.InvalidParameterError):
        attack(smoother, img(0.5), 0, low=0.2, high=-0.2)
    with pytest.raises(gsmooth.InvalidParameterError):
        attack(smoother, img(0.5), 5, low=-0.2, high=0.2)
    with pytest.raises(gsmooth.InvalidParameterError):
        attack(smoother, torch.stack([img(0.5), img(0.4)]), [0], low=-0.2, high=0.2)
    additive = gsmooth.Smoother(Bands(), noise="gaussian", sigma=0.1, num_classes=3)
    with pytest.raises(gsmooth.InvalidParameterError, match="additive"):
        attack(additive, img(0.5), 0, low=0, high=1)
