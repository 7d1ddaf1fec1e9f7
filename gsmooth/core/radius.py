"""Certified radii from a lower bound on the top-class probability.

Closed forms live on each :class:`gsmooth.Noise` plugin. This module holds the *numerical route*
(GSmooth, Hao et al. 2022, eq. 3) for a noise that only provides its 1-D density ψ and quantile
Ψ⁻¹:

.. math::  R = \\frac{1}{2M^*} \\int_{p_B}^{p_A} \\frac{dp}{\\psi(\\Psi^{-1}(p))}

(the seed slides print ``1/Φ(p)`` — a typo). It equals ``(Ψ⁻¹(p_A) − Ψ⁻¹(p_B)) / (2M*)``, and is
the exact Neyman–Pearson radius for noises whose density is **symmetric and log-concave**
(Gaussian, Laplace, uniform): for those it reproduces the closed forms to 1e-8 (tested). It is not
valid for one-sided noises (exponential, one-sided uniform, folded Gaussian); those must override
``radius`` with their closed form.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import integrate

from ..errors import InvalidParameterError

__all__ = ["integrated_radius", "check_p_lower"]


def check_p_lower(p_lower) -> np.ndarray:
    """Validate p_lower ∈ [1/2, 1] (array-like) and return it as a float64 array."""
    p = np.asarray(p_lower, dtype=np.float64)
    if not np.all(np.isfinite(p)) or np.any(p < 0.5) or np.any(p > 1.0):
        raise InvalidParameterError(
            f"radius: expected p_lower in [0.5, 1] (the engine abstains below 1/2), got {p_lower!r}"
        )
    return p


def _inverse_density(pdf: Callable[[float], float], ppf: Callable[[float], float]) -> Callable[[float], float]:
    """``p ↦ 1 / ψ(Ψ⁻¹(p))`` in floating point: a density that underflows to 0 gives ``inf`` (then
    a typed error about the scale), never a ``ZeroDivisionError`` from Python's float division."""

    def integrand(p: float) -> float:
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            return float(np.float64(1.0) / np.float64(pdf(ppf(p))))

    return integrand


def integrated_radius(
    p_lower,
    *,
    pdf: Callable[[float], float],
    ppf: Callable[[float], float],
    p_b=None,
    lipschitz: float = 1.0,
) -> np.ndarray | float:
    """Radius ``1/(2M*) ∫_{p_B}^{p_A} dp / ψ(Ψ⁻¹(p))`` by adaptive quadrature (scipy ``quad``).

    Args:
        p_lower: lower bound p_A on the top-class probability, scalar or array, in [1/2, 1].
        pdf: 1-D density ψ of the noise (one coordinate).
        ppf: 1-D quantile function Ψ⁻¹ of the noise.
        p_b: upper bound on the runner-up probability; default ``1 − p_A`` (Cohen's choice).
        lipschitz: the factor M* of the transform (1 for additive noise).

    Returns:
        The radius, same shape as ``p_lower`` (a float for a scalar); at p_A = 1 it is
        ``Ψ⁻¹(1) − Ψ⁻¹(0)`` over 2M*: ``inf`` for unbounded support, finite for bounded support.

    Example:
        >>> from scipy.stats import norm
        >>> r = integrated_radius(0.99, pdf=norm.pdf, ppf=norm.ppf)
        >>> bool(abs(r - norm.ppf(0.99)) < 1e-8)
        True
    """
    p_a = check_p_lower(p_lower)
    p_b_arr = 1.0 - p_a if p_b is None else np.broadcast_to(np.asarray(p_b, dtype=np.float64), p_a.shape)
    out = np.empty(p_a.shape, dtype=np.float64)
    for i in np.ndindex(p_a.shape):
        a, b = float(p_a[i]), float(p_b_arr[i])
        if a <= b:
            out[i] = 0.0
            continue
        if a >= 1.0 or b <= 0.0:
            # Improper integral: by ψ(Ψ⁻¹(p)) = 1/(Ψ⁻¹)'(p) it equals Ψ⁻¹(p_A) − Ψ⁻¹(p_B), which is
            # infinite for unbounded support (Gaussian, Laplace) but finite for bounded support
            # (uniform: 2λ) — returning inf there would certify an unsound radius.
            span = float(ppf(a)) - float(ppf(b))
            out[i] = span / (2.0 * lipschitz) if np.isfinite(span) else np.inf
            continue
        # Split at the median: the integrand is steep at both ends and quad is most accurate on
        # each monotone half.
        pieces = [(b, min(0.5, a)), (max(0.5, b), a)] if b < 0.5 < a else [(b, a)]
        total = 0.0
        for lo, hi in pieces:
            val, _ = integrate.quad(_inverse_density(pdf, ppf), lo, hi, epsabs=1e-13, epsrel=1e-12, limit=500)
            total += val
        if not np.isfinite(total):  # a density that under/overflows at this scale (sigma=5e-324, 1e308)
            raise InvalidParameterError(
                f"radius: expected the noise's pdf/ppf to give a finite numerical radius at p_lower={a:g}, got "
                f"{total} (the density under- or overflows at this scale: choose a moderate sigma)"
            )
        out[i] = total / (2.0 * lipschitz)
    return float(out) if out.ndim == 0 else out
