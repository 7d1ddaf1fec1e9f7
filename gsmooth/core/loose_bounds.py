"""Certified ℓ2 radii of Gaussian smoothing from (p_A, p_B): Cohen et al.'s tight bound and the
earlier, looser ones of PixelDP (Lecuyer et al.) and Li et al. (Rényi divergence).

All three take a lower bound ``p_A`` on the top class's probability under N(x, σ²I) and an upper
bound ``p_B`` on the runner-up's (default ``1 − p_A``, Cohen's choice in CERTIFY), and return the
radius R such that the smoothed classifier is constant on the open ℓ2 ball ‖δ‖ < R:

* :func:`cohen_radius` — Cohen, Rosenfeld & Kolter, *Certified Adversarial Robustness via Randomized
  Smoothing*, ICML 2019, Theorem 1: ``R = σ/2 · (Φ⁻¹(p_A) − Φ⁻¹(p_B))``; tight (their Theorem 2), so it
  dominates every other bound computed from the same (p_A, p_B).
* :func:`pixeldp_radius` — Lecuyer et al., *Certified Robustness to Adversarial Examples with
  Differential Privacy*, IEEE S&P 2019 (expected-output stability and the robustness condition,
  with the Gaussian mechanism):
  N(0, σ²I) noise is (ε, δ)-DP for ℓ2 changes up to ``L = σ ε / √(2 ln(1.25/δ))`` when ε ≤ 1
  (Dwork & Roth 2014, Theorem A.1), and the prediction is robust within L if
  ``p_A > e^{2ε} p_B + (1 + e^ε) δ``. The radius is the largest L over admissible (ε, δ) — the form
  in which Cohen et al. (2019, appendix "comparison to prior bounds" and its figure of the three
  radii against p_A) compare it with theirs.
* :func:`li_radius` — Li, Chen, Wang & Carin, *Certified Adversarial Robustness with Additive Noise*,
  NeurIPS 2019 (arXiv:1809.03113), the robustness bound for Gaussian noise (Rényi divergence):
  ``R = sup_{α>1} √( −(2σ²/α) · log(1 − p_A − p_B + 2 ((p_A^{1−α} + p_B^{1−α})/2)^{1/(1−α)}) )``.

The papers' own text could not be retrieved here, so the two loose statements (as the issue and
Cohen et al.'s comparison give them) were checked rather than copied: PixelDP's condition follows from the
DP inequality P(x+δ ∈ S) ≤ e^ε P(x ∈ S) + δ applied to class A (from x+δ back to x) and to class B,
``(p_A − δ) e^{−ε} > e^ε p_B + δ``. Li's bound is α‖δ‖²/(2σ²) = D_α(N(x+δ,σ²I) ‖ N(x,σ²I)) below the
smallest Rényi divergence D_α(Q ‖ P) from P = (p_A, p_B, rest) to a Q whose top class is not A, which
is ``−log(1 − p_A − p_B + 2 M_{1−α}(p_A, p_B))`` (M_r the power mean); tests/test_loose_bounds.py
checks that minimum by brute force over Q, and every bound against a brute grid over its parameters.

Both loose radii are maxima over a parameter (ε for PixelDP — δ is then the largest admissible one —,
α for Li): a vectorised grid, then scipy's bounded scalar search between the grid neighbours of the
best grid point. The returned radius is the value at a parameter the search evaluated (or the grid's
best), so it never exceeds the true supremum by more than rounding; it is a radius of the open ball.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Callable

import numpy as np
from scipy import optimize, special

from ..errors import InvalidParameterError

__all__ = ["BOUNDS", "BOUND_TITLES", "cohen_radius", "pixeldp_radius", "li_radius", "bound_radius"]

#: Number of grid points of the first, vectorised pass over the loose bounds' parameter.
_GRID = 257
#: Li et al.'s α − 1 is searched on a log grid between these (the optimum is near α ≈ 1.3–1.5;
#: both ends of the range are far from it and the bound tends to 0 as α → ∞).
_LOG_ALPHA_M1 = (math.log(1e-8), math.log(1e8))
#: Rows per chunk of the grid pass (a chunk holds _CHUNK × _GRID floats).
_CHUNK = 2048
#: Probabilities may overshoot 1 by rounding (p_A + p_B computed in floating point).
_SUM_TOLERANCE = 1e-12


# ------------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------------


def _check_sigma(sigma, owner: str) -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, Real) or not (math.isfinite(sigma) and sigma > 0):
        raise InvalidParameterError(f"{owner}: expected sigma a finite number > 0, got {sigma!r}")
    return float(sigma)


def _check_probabilities(p_a, p_b, owner: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``p_a`` and ``p_b`` (or None) as broadcast float64 arrays in [0, 1] with p_a + p_b ≤ 1."""

    def as_array(name, value):
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"{owner}: expected {name} probabilities in [0, 1], got {value!r}") from None
        if not np.all(np.isfinite(array)) or np.any(array < 0) or np.any(array > 1):
            raise InvalidParameterError(f"{owner}: expected {name} probabilities in [0, 1], got {value!r}")
        return array

    a = as_array("p_a", p_a)
    if p_b is None:
        return a, None
    b = as_array("p_b", p_b)
    try:
        a, b = np.broadcast_arrays(a, b)
    except ValueError:
        raise InvalidParameterError(
            f"{owner}: expected p_a and p_b of broadcastable shapes, got {a.shape} and {b.shape}"
        ) from None
    if np.any(a + b > 1 + _SUM_TOLERANCE):
        i = np.unravel_index(np.argmax(a + b), a.shape)
        raise InvalidParameterError(
            f"{owner}: expected p_a + p_b <= 1 (probabilities of two different classes), got p_a={a[i]!r} and "
            f"p_b={b[i]!r}"
        )
    return a, b


def _out(value: np.ndarray):
    return float(value) if np.ndim(value) == 0 else value


def _pairs(p_a, p_b, owner):
    """Flattened (p_A, p_B, rest) with rest = 1 − p_A − p_B ≥ 0 (exactly 0 for the default p_B)."""
    a, b = _check_probabilities(p_a, p_b, owner)
    shape = a.shape
    a = a.reshape(-1)
    if b is None:
        b, rest = 1.0 - a, np.zeros_like(a)
    else:
        b = b.reshape(-1)
        rest = np.maximum(1.0 - a - b, 0.0)
    return shape, a, b, rest


# ------------------------------------------------------------------------------------------------
# Cohen et al. (tight)
# ------------------------------------------------------------------------------------------------


def cohen_radius(p_a, p_b=None, *, sigma: float):
    """Cohen et al.'s tight ℓ2 radius ``σ/2 · (Φ⁻¹(p_A) − Φ⁻¹(p_B))`` (ICML 2019, Theorem 1).

    With the default ``p_B = 1 − p_A`` it is ``σ · Φ⁻¹(p_A)``, computed exactly as the Gaussian noise
    plugin's :meth:`~gsmooth.Noise.radius` computes it (``σ · ndtri(p_A)``), so re-scoring a gsmooth
    certify file with this bound reproduces its radius column bit for bit.

    Args:
        p_a: lower bound on the top class's probability, scalar or array ``(...)`` in [0, 1].
        p_b: upper bound on the runner-up's probability, broadcastable with ``p_a``; default ``1 − p_A``.
            ``p_A + p_B ≤ 1``.
        sigma: the Gaussian noise's standard deviation σ > 0.

    Returns:
        The radius, shape of the broadcast inputs (a float for scalars): 0 where ``p_A ≤ p_B``,
        ``inf`` at ``p_A = 1, p_B = 0``.

    Raises:
        InvalidParameterError: a probability outside [0, 1], ``p_A + p_B > 1``, or σ not > 0.

    Example:
        >>> round(cohen_radius(0.99, sigma=0.5), 6)  # 0.5 · Φ⁻¹(0.99)
        1.163174
        >>> cohen_radius([0.9, 0.4], [0.05, 0.3], sigma=1.0).round(4).tolist()
        [1.4632, 0.1355]
    """
    sigma = _check_sigma(sigma, "cohen_radius")
    a, b = _check_probabilities(p_a, p_b, "cohen_radius")
    with np.errstate(invalid="ignore"):
        if b is None:
            radius = np.where(a > 0.5, sigma * special.ndtri(a), 0.0)
        else:
            radius = np.where(a > b, sigma / 2.0 * (special.ndtri(a) - special.ndtri(b)), 0.0)
    return _out(radius)


# ------------------------------------------------------------------------------------------------
# PixelDP (Lecuyer et al.)
# ------------------------------------------------------------------------------------------------


def _grid_argmax(values_of: Callable[[slice], np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the index and value of the largest grid value; ``values_of(rows)`` gives the
    ``(rows, grid)`` values of a slice of rows, evaluated in chunks to bound memory."""
    best = np.empty(n, dtype=np.intp)
    value = np.empty(n, dtype=np.float64)
    for start in range(0, n, _CHUNK):
        rows = slice(start, min(start + _CHUNK, n))
        chunk = values_of(rows)
        best[rows] = np.argmax(chunk, axis=1)
        value[rows] = chunk[np.arange(chunk.shape[0]), best[rows]]
    return best, value


def _pixeldp_value(eps: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """L/σ at ε with the largest admissible δ = (p_A − e^{2ε} p_B)/(1 + e^ε) (0 where δ ≤ 0)."""
    delta = (a - np.exp(2.0 * eps) * b) / (1.0 + np.exp(eps))
    with np.errstate(divide="ignore", invalid="ignore"):
        value = eps / np.sqrt(2.0 * np.log(1.25 / delta))
    return np.where((delta > 0) & (eps > 0), value, 0.0)


def _pixeldp_optimum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For 1-D arrays with p_A > p_B: (L/σ, ε, δ) at the best ε in (0, min(1, ln(p_A/p_B)/2))."""
    with np.errstate(divide="ignore"):
        eps_max = np.minimum(1.0, 0.5 * np.log(a / b))  # p_B = 0: ln(inf) = inf -> 1
    u = np.linspace(0.0, 1.0, _GRID)[1:]  # ε = u · ε_max
    best, out_value = _grid_argmax(lambda i: _pixeldp_value(u[None, :] * eps_max[i, None], a[i, None], b[i, None]), a.size)
    out_eps = u[best] * eps_max
    for i in range(a.size):
        k = best[i]
        lo = u[k - 1] if k > 0 else 0.0
        hi = u[min(k + 1, u.size - 1)]
        res = optimize.minimize_scalar(
            lambda t: -float(_pixeldp_value(np.asarray(t * eps_max[i]), a[i], b[i])),
            bounds=(lo, hi), method="bounded", options={"xatol": 1e-12},
        )
        if -res.fun > out_value[i]:
            out_value[i], out_eps[i] = -res.fun, res.x * eps_max[i]
    delta = (a - np.exp(2.0 * out_eps) * b) / (1.0 + np.exp(out_eps))
    return out_value, out_eps, delta


def pixeldp_radius(p_a, p_b=None, *, sigma: float):
    """PixelDP's ℓ2 radius (Lecuyer et al., IEEE S&P 2019) for Gaussian noise of std σ.

    Lecuyer et al.'s Gaussian mechanism gives (ε, δ)-differential privacy with respect to ℓ2 changes
    of size ``L`` of the input when ``σ = √(2 ln(1.25/δ)) · L / ε`` and ``ε ≤ 1`` (Dwork & Roth 2014,
    Theorem A.1); their robustness condition (in terms of the class probabilities, as in Cohen et
    al. 2019's appendix) certifies radius L when ``p_A > e^{2ε} p_B + (1 + e^ε) δ``. So

    .. math::  R = \\sup_{0 < ε ≤ 1,\\ 0 < δ:\\ p_A > e^{2ε} p_B + (1 + e^ε) δ}
               \\frac{σ ε}{\\sqrt{2 \\ln(1.25/δ)}}.

    For a fixed ε the bound grows with δ, so δ is the largest admissible one,
    ``(p_A − e^{2ε} p_B)/(1 + e^ε)``, and the supremum is over ε ∈ (0, min(1, ln(p_A/p_B)/2)): a
    grid of 256 values, then scipy's bounded scalar search around the best. Unlike Cohen's radius it
    stays finite at p_A = 1: ε ≤ 1 and δ ≤ 1/(1+e) cap it at σ/√(2 ln(1.25(1+e))) ≈ 0.5705 σ.

    Args:
        p_a: lower bound on the top class's probability, scalar or array ``(...)`` in [0, 1].
        p_b: upper bound on the runner-up's probability (broadcastable); default ``1 − p_A``.
        sigma: the Gaussian noise's standard deviation σ > 0.

    Returns:
        The radius (a float for scalars, else an array of the broadcast shape); 0 where p_A ≤ p_B.

    Raises:
        InvalidParameterError: a probability outside [0, 1], ``p_A + p_B > 1``, or σ not > 0.

    Example:
        >>> round(pixeldp_radius(0.99, sigma=1.0), 4)
        0.5549
        >>> bool(pixeldp_radius(0.99, sigma=1.0) < cohen_radius(0.99, sigma=1.0))
        True
        >>> pixeldp_radius([0.5, 0.3], [0.5, 0.3], sigma=1.0).tolist()
        [0.0, 0.0]
    """
    sigma = _check_sigma(sigma, "pixeldp_radius")
    shape, a, b, _ = _pairs(p_a, p_b, "pixeldp_radius")
    out = np.zeros(a.shape)
    live = a > b
    if np.any(live):
        pairs, inverse = np.unique(np.stack([a[live], b[live]], axis=1), axis=0, return_inverse=True)
        value, _, _ = _pixeldp_optimum(pairs[:, 0], pairs[:, 1])
        out[live] = sigma * value[inverse.reshape(-1)]
    return _out(out.reshape(shape))


# ------------------------------------------------------------------------------------------------
# Li et al. (Rényi divergence)
# ------------------------------------------------------------------------------------------------


def _li_value(alpha: np.ndarray, a: np.ndarray, b: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """``−(2/α) · log(1 − p_A − p_B + 2 M_{1−α}(p_A, p_B))`` (the squared radius over σ²), in logs:
    ``log M_r = (logaddexp(r log p_A, r log p_B) − log 2)/r`` never overflows for large α."""
    r = 1.0 - alpha
    with np.errstate(divide="ignore", invalid="ignore"):
        log_mean = (np.logaddexp(r * np.log(a), r * np.log(b)) - math.log(2.0)) / r
        mean = np.exp(log_mean)
        gap = np.maximum(a + b - 2.0 * mean, 0.0)  # ≥ 0: the power mean of order r < 1 is ≤ the arithmetic one
        log_g = np.where(gap < 0.5, np.log1p(-gap), np.log(rest + 2.0 * mean))
    return np.maximum(-(2.0 / alpha) * log_g, 0.0)


def _li_optimum(a: np.ndarray, b: np.ndarray, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For 1-D arrays with p_A > p_B: (R²/σ², α) at the best α > 1 (grid over log(α − 1), then refined)."""
    t = np.linspace(*_LOG_ALPHA_M1, _GRID)
    alpha = 1.0 + np.exp(t)
    best, out_value = _grid_argmax(lambda i: _li_value(alpha[None, :], a[i, None], b[i, None], rest[i, None]), a.size)
    out_alpha = alpha[best]
    for i in range(a.size):
        if not np.isfinite(out_value[i]):  # p_A = 1, p_B = 0: infinite for every α
            continue
        k = best[i]
        lo, hi = t[max(k - 1, 0)], t[min(k + 1, t.size - 1)]
        res = optimize.minimize_scalar(
            lambda s: -float(_li_value(np.asarray(1.0 + math.exp(s)), a[i], b[i], rest[i])),
            bounds=(lo, hi), method="bounded", options={"xatol": 1e-10},
        )
        if -res.fun > out_value[i]:
            out_value[i], out_alpha[i] = -res.fun, 1.0 + math.exp(res.x)
    return out_value, out_alpha


def li_radius(p_a, p_b=None, *, sigma: float):
    """Li et al.'s Rényi-divergence ℓ2 radius (NeurIPS 2019) for Gaussian noise of std σ.

    .. math::  R = \\sup_{α > 1} \\sqrt{ -\\frac{2σ^2}{α} \\log\\Big(1 − p_A − p_B
               + 2\\big(\\tfrac{1}{2}(p_A^{1−α} + p_B^{1−α})\\big)^{1/(1−α)}\\Big) }

    (α‖δ‖²/(2σ²) is the Rényi divergence of order α between N(x+δ, σ²I) and N(x, σ²I); the log
    term is minus the smallest divergence to a distribution whose top class is not A.) The
    supremum is searched over log(α − 1) ∈ [log 1e-8, log 1e8] on a grid of 257 points, then by
    scipy's bounded scalar search around the best; the optimum is near α ≈ 1.3–1.5.

    Args:
        p_a: lower bound on the top class's probability, scalar or array ``(...)`` in [0, 1].
        p_b: upper bound on the runner-up's probability (broadcastable); default ``1 − p_A``.
        sigma: the Gaussian noise's standard deviation σ > 0.

    Returns:
        The radius (a float for scalars, else an array of the broadcast shape); 0 where p_A ≤ p_B,
        ``inf`` at ``p_A = 1, p_B = 0``.

    Raises:
        InvalidParameterError: a probability outside [0, 1], ``p_A + p_B > 1``, or σ not > 0.

    Example:
        >>> round(li_radius(0.99, sigma=1.0), 4)
        1.908
        >>> bool(li_radius(0.99, sigma=1.0) < cohen_radius(0.99, sigma=1.0))
        True
        >>> li_radius([0.9, 0.6], [0.05, 0.3], sigma=0.5).round(4).tolist()
        [0.6247, 0.1628]
    """
    sigma = _check_sigma(sigma, "li_radius")
    shape, a, b, rest = _pairs(p_a, p_b, "li_radius")
    out = np.zeros(a.shape)
    live = a > b
    if np.any(live):
        triples, inverse = np.unique(np.stack([a[live], b[live], rest[live]], axis=1), axis=0, return_inverse=True)
        value, _ = _li_optimum(triples[:, 0], triples[:, 1], triples[:, 2])
        out[live] = sigma * np.sqrt(value[inverse.reshape(-1)])
    return _out(out.reshape(shape))


# ------------------------------------------------------------------------------------------------
# by name
# ------------------------------------------------------------------------------------------------

#: The bounds by the name ``gsmooth analyze --bound`` takes.
BOUNDS: dict[str, Callable] = {"cohen": cohen_radius, "pixeldp": pixeldp_radius, "li": li_radius}
#: What each bound is, for table headings and plot legends.
BOUND_TITLES: dict[str, str] = {
    "cohen": "Cohen et al. 2019, tight",
    "pixeldp": "PixelDP, Lecuyer et al. 2019",
    "li": "Rényi divergence, Li et al. 2019",
}


def bound_radius(bound: str, p_a, p_b=None, *, sigma: float):
    """The radius of the bound named ``bound`` (``"cohen"``, ``"pixeldp"`` or ``"li"``).

    Example:
        >>> [round(bound_radius(name, 0.9, sigma=1.0), 3) for name in ("cohen", "li", "pixeldp")]
        [1.282, 1.032, 0.39]
    """
    if bound not in BOUNDS:
        raise InvalidParameterError(f"bound: expected one of {', '.join(BOUNDS)}, got {bound!r}")
    return BOUNDS[bound](p_a, p_b, sigma=sigma)
