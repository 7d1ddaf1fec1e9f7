"""``example_gain``: a gain x ↦ (1 + g)·x whose parameter does not add, with its own slice strategy.

A third-party transform of kind ``exact`` that gsmooth knows nothing about: the certification of
its composition law is supplied through the public API (:class:`gsmooth.interval.SliceStrategy`,
see "How a slice is certified" in :mod:`gsmooth.interval.strategy`), without editing gsmooth.

The law. ``τ(g, x) = (1 + g)·x`` (no clipping) composes as
``τ(g1, τ(g2, x)) = τ(g1 + g2 + g1·g2, x)`` (:func:`gain_compose`), not additively, so a radius
around a slice centre in parameter space says nothing about ``g(τ(α, x))`` by itself.

The certificate (one parameter, isotropic Gaussian noise θ ~ N(0, σ²)). Slice k (centre c,
half-width h, the range above −1) is tested on the truly transformed image ``x_c = τ(c, x)``. For
α in the slice, ``τ(α, x) = (1 + δ)·x_c`` with ``δ = (α − c)/(1 + c) ∈ [−μ, μ]``, ``μ = h/(1 + c)``,
so the smoothed classifier ``g`` at ``τ(α, x)`` sees ``f(τ(θ', x_c))`` with
``θ' = δ + (1 + δ)θ ~ Q_δ = N(δ, (1 + δ)²σ²)`` where at ``x_c`` it sees ``P = N(0, σ²)``. For the
set A of θ's that ``f`` maps to class y, ``Q_δ(A) ≥ P(A) − TV(P, Q_δ)``, and by Pinsker
``TV ≤ sqrt(KL(P‖Q_δ)/2)`` with::

    KL(P‖Q_δ) = ln(1 + δ) + (1 + δ²/σ²) / (2(1 + δ)²) − 1/2.

Its derivative in δ is ``δ(2 + δ + 1/σ²)/(1 + δ)³``: the sign of δ (for δ > −1), so over the
slice the KL is largest at an end, ``δ = ±μ``. Hence the slice is certified iff

    p_lower(x_c)  >  p_required = 1/2 + sqrt(max(KL(−μ), KL(μ)) / 2) (+ 1e-9 for rounding),

which gives ``Q_δ(A) > 1/2``, i.e. ``g(τ(α, x)) = y``, for every α of the slice (with
probability ≥ 1 − α/K over the sampling). Sound, simple, and looser than an exact
Neyman–Pearson bound (a total-variation argument never needs p above 1/2 + TV).

The argument is in exact arithmetic: in floating point ``(1 + θ)·fl((1 + δ)·x_c)`` is not exactly
``(1 + θ')·x_c``, and a classifier that reads the last bits of its input can tell them apart
(README, "Floating-point soundness"; an independent falsifier did so). Ordinary networks do not.

Example:
    >>> import torch
    >>> round(gain(torch.full((1, 1, 1, 1), 0.5), torch.tensor([[0.2]])).item(), 6)
    0.6
    >>> round(float(gain_compose(torch.tensor(0.1), torch.tensor(0.2))), 6)  # 1.1 · 1.2 = 1 + 0.32
    0.32
"""

from __future__ import annotations

import math

import numpy as np
import torch

import gsmooth
import gsmooth.interval

__all__ = ["Gain", "GainLaw", "gain", "gain_compose", "kl_gain", "slice_p_required"]

#: Added to the required probability: covers floating-point rounding in the KL.
MARGIN = 1e-9


def gain(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """The pure-function twin: ``(1 + g)·x`` per image; x ``(B, C, H, W)``, θ ``(B, 1)``; no clipping."""
    return x * (1.0 + theta.reshape(-1, 1, 1, 1).to(x.dtype))


def gain_compose(outer: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
    """The g of ``τ(outer, τ(inner, ·))``: ``outer + inner + outer·inner``."""
    return outer + inner + outer * inner


def kl_gain(delta: float, sigma: float) -> float:
    """``KL(N(0, σ²) ‖ N(δ, (1 + δ)²σ²))`` for ``δ > −1``."""
    s = 1.0 + delta
    return math.log(s) + (1.0 + (delta / sigma) ** 2) / (2.0 * s * s) - 0.5


def slice_p_required(center: float, half: float, sigma: float) -> float:
    """The p a slice's top-class lower bound must exceed (module docs); 1.0 when none suffices."""
    mu = half / (1.0 + center)
    kl = max(kl_gain(-mu, sigma), kl_gain(mu, sigma)) if mu < 1.0 else math.inf
    return min(1.0, 0.5 + math.sqrt(kl / 2.0) + MARGIN)


class GainLaw(gsmooth.interval.SliceStrategy):
    """Certifies a slice of ``example_gain`` on ``τ(c_k, x)`` against :func:`slice_p_required`
    (image centring; isotropic Gaussian noise on the one parameter; ranges above −1)."""

    centering = "image"
    reports_slice_requirements = True

    def check_support(self, transform, noise) -> None:
        if not noise.isotropic_gaussian:
            raise gsmooth.interval.UnsupportedTransformError(
                f"transform {transform.name!r}: its gain law is proven for isotropic Gaussian noise; expected "
                f"--noise gaussian, got {noise.name!r}"
            )

    def check_plan(self, transform, noise, plan) -> None:
        super().check_plan(transform, noise, plan)
        if not min(plan.low) > -1.0:
            raise gsmooth.InvalidParameterError(
                f"transform {transform.name!r}: expected a range above -1 (a gain 1 + g > 0), got low {min(plan.low):g}"
            )

    def required_probabilities(self, transform, noise, plan) -> np.ndarray:
        half = plan.widths[0] / 2.0
        return np.array([slice_p_required(float(c), half, float(noise.sigma)) for c in plan.centers[:, 0]])

    def required_radii(self, transform, noise, plan) -> np.ndarray:
        p = self.required_probabilities(transform, noise, plan)
        return np.array([float(noise.radius(v)) if v < 1.0 else math.inf for v in p])

    def factors(self, transform, noise, x, plan, *, progress=False):
        return gsmooth.interval.SliceFactors(np.ones(plan.num_slices), "exact")


class Gain(gsmooth.Transform):
    """``x ↦ (1 + g)·x`` (θ = g, relative gain); kind ``exact`` with its own composition law
    (:func:`gain_compose`), certified by :class:`GainLaw` (its :meth:`slice_strategy`)."""

    name = "example_gain"
    param_dim = 1
    kind = "exact"
    param_units = "relative gain"
    identity_at_zero = True
    composes_additively = False
    composition = "gain"
    #: Its own defaults, so ``gsmooth certify --transform example_gain --range`` needs no other flag:
    #: Gaussian noise σ = 0.1 on g, the darkening range [−0.3, 0] (every τ(g, x) stays in [0, 1]), 4 slices.
    defaults = gsmooth.TransformDefaults(
        noise="gaussian", sigma=0.1, range=((-0.3, 0.0),), slices=4, source="gsmooth-example: ours",
    )

    def __init__(self):
        super().__init__()

    def forward(self, x, theta):
        return gain(x, theta)

    def slice_strategy(self):
        return GainLaw()
