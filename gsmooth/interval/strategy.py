"""Slice strategies: how one slice of an interval certificate is certified.

How a slice is certified
------------------------
:func:`gsmooth.interval.certify_interval` cuts the range ``[a, b]`` into K slices
(:func:`gsmooth.interval.slice_plan`) and runs one randomized-smoothing test per slice at level
α/K. *What* each test smooths and *what it must reach* depends on how the transform's parameters
compose, so the transform supplies it: :meth:`gsmooth.Transform.slice_strategy` returns a
:class:`SliceStrategy`. The engine itself never asks for a transform's or a noise's name.

A strategy answers, before any sample is drawn:

1. **which noises it can certify** — :meth:`SliceStrategy.check_support` raises
   :class:`gsmooth.errors.UnsupportedTransformError` for the rest (e.g. a law proven for
   isotropic Gaussian noise asks :attr:`gsmooth.Noise.isotropic_gaussian`, never the name);
2. **whether the range is allowed** — :meth:`SliceStrategy.check_plan` (parameter domain, …);
3. **what is smoothed** — :attr:`SliceStrategy.centering`: ``"parameter"`` smooths the image x
   with the noise centred at the slice centre c_k (``g_{c_k}(x)``); ``"image"`` smooths the
   truly transformed image ``τ(c_k, x)`` (:meth:`SliceStrategy.slice_images`) with the noise at 0;
4. **what each slice must reach** — a required radius ``r_k`` per slice
   (:meth:`SliceStrategy.required_radii`, the same for every image) and a factor ``M*_k ≥ 1`` per
   slice and image (:meth:`SliceStrategy.factors`). Slice k is certified iff its test's top class
   agrees with the other slices' and

       noise.radius(p_lower,k) / M*_k  >  r_k,

   which, the noise's radius being increasing in p, is the same as ``p_lower,k > p_required,k``
   with ``p_required,k = radius⁻¹(r_k · M*_k)`` (:meth:`SliceStrategy.p_required`): every slice's
   requirement is a probability known before sampling.

The built-in strategies:

- :class:`AdditiveComposition` (the default, for ``composes_additively = True``): parameter
  centring, ``r_k`` = the slice's half-width (its half-diagonal in the noise's norm; the full
  width for one-sided noise), ``M*_k = transform.lipschitz_factor(x)`` (1 for exact transforms);
- the contrast law (``gsmooth_plugins.transforms._contrast_law``): image centring, ``r_k`` from
  a Neyman–Pearson bound on the rescaled noise, ``M*_k = 1``;
- the GSmooth surrogate route (:class:`gsmooth.surrogate.transform.SurrogateSlices`): image
  centring on the true transform, ``r_k`` = half-width, ``M*_k`` from a bound on the path shift.

Writing one
-----------
Subclass :class:`SliceStrategy` (or :class:`AdditiveComposition`), set :attr:`~SliceStrategy.centering`,
override what differs, and return an instance from your transform's ``slice_strategy()``. The
statement the certificate makes is yours to prove: with probability ≥ 1 − α/K over the sampling,
``p_lower,k > p_required,k`` must imply that the smoothed classifier predicts the slice's class on
every τ(α, x), α in the slice. A sketch for a law given as a required probability per slice::

    class MyLaw(gsmooth.interval.SliceStrategy):
        centering = "image"
        reports_slice_requirements = True

        def check_support(self, transform, noise):
            if not noise.isotropic_gaussian:
                raise gsmooth.errors.UnsupportedTransformError("... expected --noise gaussian, got ...")

        def required_probabilities(self, transform, noise, plan):
            return np.array([...])                      # (K,), proven per slice

        def required_radii(self, transform, noise, plan):
            p = self.required_probabilities(transform, noise, plan)
            return np.array([noise.radius(v) if v < 1 else np.inf for v in p])

The example plugin's ``example_gain`` transform (tests/example_plugin) is a complete one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from scipy import optimize

from ..errors import UnsupportedTransformError

__all__ = ["SliceStrategy", "AdditiveComposition", "NoCompositionLaw", "SliceFactors", "radius_inverse"]


@dataclass(frozen=True)
class SliceFactors:
    """What one image's slices are divided by: ``R_k = noise.radius(p_lower,k) / mstar[k]``.

    Attributes:
        mstar: ``(K,)`` float64, each ≥ 1 (1 for exact transforms).
        guarantee: what the factors rest on: ``exact``, ``sound`` (a proven bound) or ``estimate``.
        per_slice: report ``mstar`` per slice (``IntervalCertificate.slice_mstar``); otherwise only
            its largest value is reported.
    """

    mstar: np.ndarray
    guarantee: str = "exact"
    per_slice: bool = False


def radius_inverse(noise, radius: float) -> float:
    """The p at which ``noise.radius(p)`` reaches ``radius``: the smallest p_lower whose radius
    exceeds ``radius`` is any p above it (1.0 when no p < 1 gets there; 0.5 for radius ≤ 0)."""
    radius = float(radius)
    if not radius > 0.0:
        return 0.5
    hi = 1.0 - 1e-15
    if not math.isfinite(radius) or not float(noise.radius(hi)) > radius:
        return 1.0
    return float(optimize.brentq(lambda p: float(noise.radius(p)) - radius, 0.5, hi, xtol=1e-15, rtol=1e-15))


class SliceStrategy:
    """How one slice of an interval certificate is certified (see the module docs).

    Class attributes:
        centering: ``"parameter"`` (smooth x with the noise centred at c_k) or ``"image"``
            (smooth :meth:`slice_images` with the noise at 0).
        per_image: :meth:`factors` depend on the image, so each image's slices are sampled
            separately right after its factors are computed; otherwise every image's slices of a
            call are sampled together.
        skip_hopeless: draw no sample for an image whose slices cannot be certified even by
            ``n`` successes out of ``n`` (``p_max = (α/K)^(1/n)``); the certificate is then marked
            ``skipped``.
        reports_slice_requirements: report ``r_k`` per slice (``IntervalCertificate.slice_requirements``).
    """

    centering: ClassVar[str] = "parameter"
    per_image: ClassVar[bool] = False
    skip_hopeless: ClassVar[bool] = True
    reports_slice_requirements: ClassVar[bool] = False

    def check_support(self, transform, noise) -> None:
        """Raise :class:`~gsmooth.errors.UnsupportedTransformError` for a noise this strategy cannot
        certify. Default: accept (the engine has refused additive pixel noise, kind ``empirical``
        and one-sided noise over several parameters already)."""
        return None

    def check_plan(self, transform, noise, plan) -> None:
        """Raise :class:`~gsmooth.errors.InvalidParameterError` when the range of ``plan`` (a
        :class:`gsmooth.interval.SlicePlan`) cannot be certified. Default: the range lies in the
        transform's :meth:`~gsmooth.Transform.domain`."""
        from ..core.smoother import check_range_in_domain

        check_range_in_domain(transform, plan.low, plan.high, owner="interval")

    def required_radii(self, transform, noise, plan) -> np.ndarray:
        """``(K,)`` radii each slice's ``noise.radius(p_lower) / M*`` must exceed. Default: the
        plan's requirement (half-width / half-diagonal; full width for one-sided noise)."""
        return np.full(plan.num_slices, float(plan.requirement))

    def factors(self, transform, noise, x: torch.Tensor, plan, *, progress: bool = False) -> SliceFactors:
        """The factors ``M*_k`` for image ``x`` ``(C, H, W)``. Default: ``transform.lipschitz_factor(x)``
        for every slice (1 for exact transforms), guarantee ``exact``."""
        m = float(transform.lipschitz_factor(x))
        return SliceFactors(np.full(plan.num_slices, m), "exact")

    def slice_images(self, transform, x: torch.Tensor, plan) -> torch.Tensor:
        """For ``centering = "image"``: ``τ(c_k, x_i)`` for every image and slice, ``(B·K, C, H, W)``
        (image-major), with τ the transform's :meth:`~gsmooth.Transform.true_transform_module`;
        not clipped (clipping would break a composition law)."""
        k = plan.num_slices
        true = transform.true_transform_module()
        centers = torch.as_tensor(np.tile(plan.centers, (x.shape[0], 1)), dtype=x.dtype, device=x.device)
        with torch.no_grad():
            return true(x.repeat_interleave(k, dim=0), centers)

    def p_required(self, noise, required: np.ndarray, mstar: np.ndarray) -> np.ndarray:
        """``(K,)``: slice k is certified iff ``p_lower,k > p_required,k`` (see the module docs).
        Default: :func:`radius_inverse` of ``r_k · M*_k``."""
        return np.array([radius_inverse(noise, float(r) * float(m)) for r, m in zip(required, mstar)])


class AdditiveComposition(SliceStrategy):
    """The default strategy, for transforms whose parameters add under composition,
    ``τ(θ, τ(α, x)) = τ(θ + α, x)``: slice k is certified with the centred smoothed classifier
    ``g_{c_k}(x) = g(τ(c_k, x))``, whose Cohen radius must exceed the slice's half-width
    (half-diagonal in the noise's norm, full width for one-sided noise). Every slice is sampled,
    even when no outcome could cover it (``skip_hopeless = False``)."""

    centering = "parameter"
    skip_hopeless = False

    def check_plan(self, transform, noise, plan) -> None:
        """The range and every ``c_k + noise support`` lie in the transform's domain."""
        from ..core.smoother import check_domain

        super().check_plan(transform, noise, plan)
        check_domain(transform, noise, plan.centers, what="slice centres")


class NoCompositionLaw(SliceStrategy):
    """What :meth:`gsmooth.Transform.slice_strategy` returns for an exact transform whose
    parameters do not add and which supplies no strategy of its own: refuses every noise."""

    def check_support(self, transform, noise) -> None:
        name = getattr(transform, "name", type(transform).__name__)
        raise UnsupportedTransformError(
            f"interval certificates for transform {name!r} are not supported: its parameters do not add under "
            f"composition and it supplies no slice strategy for its law (expected slice_strategy() to return one "
            f"certifying its composition law, got {getattr(transform, 'composition', None)!r} without one), so a "
            "parameter-space radius would not be a certificate for τ(α, x)"
        )
