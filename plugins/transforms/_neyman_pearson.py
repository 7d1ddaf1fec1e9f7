"""Neyman–Pearson bounds between two Gaussians that differ in one variance (for TSS's contrast).

Private to the contrast plugin (:mod:`gsmooth_plugins.transforms.contrast`), which supplies its
composition law to the interval engine (:mod:`gsmooth_plugins.transforms._contrast_law`).

Randomized smoothing certifies by comparing two distributions of the smoothing variable: P, what
the smoothed classifier sees at the certified input, and Q, what it sees at a perturbed one. If the
top class has probability ≥ p under P, the Neyman–Pearson lemma gives the smallest probability it
can have under Q, over *every* classifier::

    β(p) = inf { Q(A) : P(A) ≥ p },   attained by A_t = { log dQ/dP ≤ t } with P(A_t) = p.

For a pure mean shift this is Cohen's ``Φ(Φ⁻¹(p) − ‖δ‖/σ)``. TSS's contrast-and-brightness
transform ``x ↦ e^k (x + b)`` rescales the brightness noise by ``e^{−k}`` (see
:func:`gsmooth_plugins.transforms.contrast.contrast_compose`), so Q also changes one variance. In
whitened coordinates (u for k, v for b, both divided by σ)::

    P = N(0, I₂),      Q = N((a, m), diag(1, s²)),      a = δ_k/σ,  m = δ_b/σ,  s = e^{−δ_k}.

Then ``log dQ/dP = a u − a²/2 − ln s + v²/2 − (v − m)²/(2s²)``. Given u the set A_t is an interval,
the complement of one, or a half-line in v, whose P- and Q-probabilities are normal CDFs; the
remaining integral over u (a Gaussian) is a trapezoid rule on ``nodes`` points of [−8.5, 8.5]
(tail mass below 1e-16). :func:`required_probability` finds, by bisection on t, the smallest p with
β(p) ≥ target.

No closed form exists for s ≠ 1 (TSS's corollary bounds this case in closed form, more loosely);
scipy has no routine for it, hence this module. Accuracy is checked in the tests against Cohen's
closed form (s = 1), against a 20× finer rule, and against Monte Carlo.

Two facts used by :mod:`gsmooth_plugins.transforms._contrast_law`:

- β is symmetric in m and nonincreasing in |m| for fixed (a, s) (Danskin: the derivative of β in m
  is ``∫_{A_t} ∂_m q``; given u, A_t is an interval or its complement centred at
  ``v₀ = m/(1 − s²)``, on the far side of m from 0, or a half-line towards 0, so each slice
  contributes ≤ 0 for m ≥ 0);
- β(p; Q) ≥ β(p; Q') − TV(Q, Q') for any Q' (every set's Q-probability moves by at most the total
  variation), which lets a finite grid of Q's cover a continuum.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from gsmooth import InvalidParameterError

__all__ = ["tradeoff_point", "lower_bound", "required_probability", "DEFAULT_NODES"]

#: Quadrature nodes over u (accuracy ≈ 1e-7 on the probabilities; see the tests).
DEFAULT_NODES = 2001
_Z = 8.5
#: Largest slope (in Φ's argument per unit of v) integrated over v; steeper goes over u.
_STEEP = 20.0
#: Bisection bracket for the log-likelihood-ratio threshold t (|t| > 40 means probabilities beyond 1e-300).
_T = 40.0


def _nodes(nodes: int):
    z = np.linspace(-_Z, _Z, int(nodes))
    w = np.exp(-0.5 * z * z)
    w[0] *= 0.5
    w[-1] *= 0.5
    return z, w / w.sum()


def _region_probability(a2, b, c, mu, sd):
    """Probability under N(mu, sd²) of {v : a2 v² + b v + c ≤ 0} (arrays broadcast)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        disc = b * b - 4.0 * a2 * c
        sq = np.sqrt(np.maximum(disc, 0.0))
        qq = -0.5 * (b + np.where(b >= 0.0, 1.0, -1.0) * sq)  # stable roots qq/a2 and c/qq
        r1 = qq / a2
        r2 = c / qq
        lo = np.minimum(r1, r2)
        hi = np.maximum(r1, r2)
        inside = special.ndtr((hi - mu) / sd) - special.ndtr((lo - mu) / sd)
        # a2 == 0: the half-line b v + c ≤ 0
        root = -c / b
        line = np.where(
            b > 0.0, special.ndtr((root - mu) / sd),
            np.where(b < 0.0, special.ndtr((mu - root) / sd), (c <= 0.0).astype(float)),
        )
        quad = np.where(a2 > 0.0, np.where(disc > 0.0, inside, 0.0), np.where(disc > 0.0, 1.0 - inside, 1.0))
        return np.where(a2 == 0.0, line, quad)


def tradeoff_point(t, a, m, s, *, nodes: int = DEFAULT_NODES, want_p: bool = True, want_q: bool = True):
    """``(P(A_t), Q(A_t))`` for the likelihood-ratio set ``A_t = {log dQ/dP ≤ t}`` (module notation).

    Three exact reductions leave one smooth 1-D integral: s = 1 is a half-plane (closed form);
    otherwise the set is integrated over v with u in closed form (given v, A_t is a half-line in u),
    unless |a| is so small that this half-line's edge is steep in v; then over u with v in closed
    form (given u, A_t is an interval, its complement or a half-line in v, whose edges move with
    speed ∝ |a| in u). Either way the integrand is smooth on the scale of the grid, so the
    trapezoid rule on ``nodes`` Gaussian-weighted points is accurate (see the tests).

    Args:
        t, a, m, s: arrays (or numbers) that broadcast together; ``s > 0``.
        nodes: quadrature nodes.
        want_p, want_q: compute P(A_t) / Q(A_t) (the other is returned as ``None`` when not wanted).

    Returns:
        two float64 arrays of the broadcast shape: the point ``(p, β(p))`` of the trade-off curve.

    Example:
        >>> p, q = tradeoff_point(0.0, 0.0, 1.0, 1.0)   # s = 1: Cohen, A = {v ≤ 1/2}
        >>> round(float(p), 6), round(float(q), 6)
        (0.691462, 0.308538)
    """
    t, a, m, s = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (t, a, m, s)))
    shape = t.shape
    t, a, m, s = (v.reshape(-1) for v in (t, a, m, s))
    z, w = _nodes(nodes)
    a2 = 0.5 * (1.0 - 1.0 / (s * s))
    b = m / (s * s)
    abs_a = np.abs(a)
    exact = a2 == 0.0
    # over v unless the edge in v would be too steep for the grid (its slope in Φ's argument per unit
    # of v is |2 a2 v + b| / |a|, taken at |v| = 3)
    over_v = ~exact & ((6.0 * np.abs(a2) + np.abs(b)) <= _STEEP * abs_a)
    over_u = ~exact & ~over_v
    p = np.empty_like(t) if want_p else None
    q = np.empty_like(t) if want_q else None
    with np.errstate(divide="ignore", invalid="ignore"):
        i = exact  # s = 1: A_t is the half-plane a u + m v ≤ t + ‖δ‖²/2
        if i.any():
            r = np.sqrt(a[i] ** 2 + m[i] ** 2)
            safe = np.where(r > 0, r, 1.0)
            step = (t[i] >= 0).astype(float)
            if want_p:
                p[i] = np.where(r > 0, special.ndtr((t[i] + 0.5 * r * r) / safe), step)
            if want_q:
                q[i] = np.where(r > 0, special.ndtr((t[i] - 0.5 * r * r) / safe), step)
        i = over_v  # L = a u + h(v); given v, P(a u ≤ t − h) is a normal CDF
        if i.any():
            ti, ai, mi, si, abs_ai = (v[i, None] for v in (t, a, m, s, abs_a))
            const = -0.5 * ai * ai - np.log(si)

            def h(v):
                return const + 0.5 * v * v - (v - mi) ** 2 / (2.0 * si * si)

            if want_p:
                p[i] = (special.ndtr((ti - h(z)) / abs_ai) * w).sum(-1)
            if want_q:
                q[i] = (special.ndtr((ti - h(mi + si * z) - ai * ai) / abs_ai) * w).sum(-1)
        i = over_u  # given u, the v-set of a quadratic inequality
        if i.any():
            ti, ai, mi, si, a2i, bi = (v[i, None] for v in (t, a, m, s, a2, b))
            c0 = -mi * mi / (2.0 * si * si) - np.log(si) - 0.5 * ai * ai - ti
            if want_p:
                p[i] = (_region_probability(a2i, bi, c0 + ai * z, 0.0, 1.0) * w).sum(-1)
            if want_q:
                q[i] = (_region_probability(a2i, bi, c0 + ai * ai + ai * z, mi, si) * w).sum(-1)
    out = tuple(None if v is None else np.clip(v, 0.0, 1.0).reshape(shape) for v in (p, q))
    return out


def _identity(a, m, s):
    return (a == 0.0) & (m == 0.0) & (s == 1.0)


def _threshold(reached, shape, iterations: int):
    """Bisection on the log-likelihood-ratio threshold t ∈ [−40, 40] for the monotone test
    ``reached(t)``: ``(lo, hi)`` with ``reached(hi)`` true and ``reached(lo)`` false (unless the
    bracket's end already decides)."""
    lo = np.full(shape, -_T)
    hi = np.full(shape, _T)
    for _ in range(int(iterations)):
        mid = 0.5 * (lo + hi)
        ok = reached(mid)
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return lo, hi


def required_probability(a, m, s, target=0.5, *, nodes: int = DEFAULT_NODES, iterations: int = 48):
    """The smallest ``p`` with ``β(p) ≥ target`` (numerically: the p of a t with Q(A_t) ≥ target).

    If the top class has probability ≥ this p under P, it has probability ≥ ``target`` under Q.

    Args:
        a, m, s: whitened shift of k, shift of b, and the b-noise scale factor (module notation);
            arrays broadcast.
        target: the Q-probability to guarantee (1/2 for a certificate; more to absorb slack).

    Returns:
        float64 array of the broadcast shape (a float for scalar input).

    Example:
        >>> round(float(required_probability(0.3, 0.4, 1.0)), 6)   # Cohen: Φ(‖(0.3, 0.4)‖) = Φ(0.5)
        0.691462
    """
    a, m, s, target = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, m, s, target)))
    if not ((s > 0).all() and np.isfinite(s).all() and np.isfinite(a).all() and np.isfinite(m).all()):
        raise InvalidParameterError(f"required_probability: expected finite a, m and s > 0, got a={a}, m={m}, s={s}")
    if not ((target > 0) & (target < 1)).all():
        raise InvalidParameterError(f"required_probability: expected 0 < target < 1, got {target}")
    _, hi = _threshold(lambda t: tradeoff_point(t, a, m, s, nodes=nodes, want_p=False)[1] >= target, a.shape, iterations)
    p, q = tradeoff_point(hi, a, m, s, nodes=nodes)
    p = np.where(q >= target, p, 1.0)  # beyond the bracket: no p < 1 is known to be enough
    p = np.where(_identity(a, m, s), target, p)  # Q = P: β(p) = p (L is constant, needs randomisation)
    return float(p) if p.ndim == 0 else p


def lower_bound(p, a, m, s, *, nodes: int = DEFAULT_NODES, iterations: int = 48):
    """β(p): the smallest Q-probability of a set whose P-probability is at least ``p``.

    Example:
        >>> from scipy.stats import norm
        >>> round(float(lower_bound(0.9, 0.3, 0.4, 1.0)), 6) == round(float(norm.cdf(norm.ppf(0.9) - 0.5)), 6)
        True
    """
    p, a, m, s = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (p, a, m, s)))
    lo, _ = _threshold(lambda t: tradeoff_point(t, a, m, s, nodes=nodes, want_q=False)[0] >= p, p.shape, iterations)
    pm, q = tradeoff_point(lo, a, m, s, nodes=nodes)  # P(A_lo) < p, so β(p) ≥ β(P(A_lo)) = Q(A_lo)
    q = np.where(pm < p, q, 0.0)  # the bracket's lower end already reached p: nothing better than 0 is known
    q = np.where(_identity(a, m, s), p, q)
    return float(q) if q.ndim == 0 else q
