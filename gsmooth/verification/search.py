"""The largest certified radius of one input, by bisection over :func:`~gsmooth.verification.verify.verify`.

A YES at radius ``r`` certifies every smaller ball too (the regions are nested: same centre, same
domain), so the radius returned — the largest ``eps`` answered YES — is proved whatever the
method. The search:

1. ``eps = 0``: the clean input alone. Misclassified (NO), or a margin within the tolerance (not
   YES): radius 0, upper 0.
2. The bracket's top, ``eps = eps_max``: YES → radius ``eps_max`` (the search does not look
   further), upper ``inf``.
3. Bisection of ``[lo, hi]`` (``lo`` answered YES, ``hi`` not) until ``hi − lo ≤ tol``: the
   midpoint becomes ``lo`` on YES, ``hi`` otherwise (NO or MAYBE).

For ``"milp"`` a NO is a checked counterexample: no ball of radius ≥ that ``eps`` is robust, so
``upper`` is the smallest ``eps`` answered NO (the true robust radius lies in ``[radius, upper]``
when the MILP never timed out); for the relaxations ``upper`` is only the smallest ``eps`` tried
that was not proved (a relaxation's MAYBE says nothing about the true radius). A relaxation's
answers need not be monotone in ``eps`` (CROWN's adaptive slopes), so the bisection may stop below
the method's own best radius; it never returns an unproved one.

Example:
    A linear classifier: margin ``x_0 − x_1 = 0.6`` at ``(0.8, 0.2)``, ``‖(1, −1)‖₁ = 2``, so the
    exact ℓ∞ radius (no domain) is 0.3:

    >>> import numpy as np
    >>> from gsmooth.verification import AffineLayer, ReluNetwork
    >>> net = ReluNetwork((AffineLayer(np.eye(2), np.zeros(2)),), input_shape=(2,))
    >>> r = largest_certified_radius(net, np.array([0.8, 0.2]), 0, method="ibp", norm="linf", eps_max=1.0,
    ...                              tol=1e-3, domain=None)
    >>> 0.299 <= r.radius <= 0.3 < r.upper <= r.radius + 1e-3, [v.eps for v in r.steps[:3]]
    (True, [0.0, 1.0, 0.5])
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Optional

from ..errors import InvalidParameterError
from .verify import DEFAULT_TOLERANCE, Verdict, verify

__all__ = ["RadiusResult", "largest_certified_radius", "MAX_STEPS"]

#: The most verifications one search runs (bisection from eps_max down to tol takes
#: log2(eps_max / tol) + 2 of them).
MAX_STEPS = 64


@dataclass(frozen=True)
class RadiusResult:
    """What :func:`largest_certified_radius` found.

    Attributes:
        radius: the largest ``eps`` answered YES (0 when none but the clean input was proved).
        upper: ``"milp"``: the smallest ``eps`` answered NO (a counterexample), else the smallest
            ``eps`` tried that was not YES; ``inf`` if there is none (0 for a misclassified input).
        steps: every :class:`Verdict`, in the order tried.
        time: seconds for the whole search.
    """

    radius: float
    upper: float
    steps: list = field(default_factory=list)
    time: float = 0.0

    @property
    def eps(self) -> list:
        """The ``eps`` of every step, in order."""
        return [v.eps for v in self.steps]


def largest_certified_radius(
    model_or_net,
    x,
    label: int,
    *,
    method: str,
    norm: str,
    eps_max: float,
    tol: float,
    domain: Optional[tuple[float, float]] = (0.0, 1.0),
    time_limit: Optional[float] = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> RadiusResult:
    """The largest radius ``method`` proves around ``x``, to within ``tol``, up to ``eps_max``.

    Args:
        model_or_net, x, label, method, norm, domain, tolerance: as :func:`~gsmooth.verification.verify.verify`.
        eps_max: the top of the bracket (> 0): a YES there ends the search.
        tol: the bisection stops when the bracket is at most this wide (> 0).
        time_limit: seconds each verification (one ``eps``) may take (LP, MILP).

    Returns:
        A :class:`RadiusResult`.

    Raises:
        InvalidParameterError: ``eps_max`` or ``tol`` not a positive finite number, ``tol`` so small
            that the bisection would need more than :data:`MAX_STEPS` verifications, or an
            argument :func:`verify` refuses.
    """
    for name, value in (("eps_max", eps_max), ("tol", tol)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise InvalidParameterError(f"largest_certified_radius: expected {name} a positive finite number, got {value!r}")
    eps_max, tol = float(eps_max), float(tol)
    if math.log2(max(eps_max / tol, 1.0)) + 2 > MAX_STEPS:
        raise InvalidParameterError(
            f"largest_certified_radius: expected tol >= eps_max / 2**{MAX_STEPS - 2} (at most {MAX_STEPS} "
            f"verifications), got tol {tol!r} for eps_max {eps_max!r}"
        )
    t0 = time.perf_counter()
    steps: list[Verdict] = []

    def run(eps: float) -> Verdict:
        v = verify(model_or_net, x, label, method=method, norm=norm, eps=eps, domain=domain, time_limit=time_limit,
                   tolerance=tolerance)
        steps.append(v)
        return v

    def done(radius: float, upper: float) -> RadiusResult:
        return RadiusResult(radius=radius, upper=upper, steps=steps, time=time.perf_counter() - t0)

    first = run(0.0)
    if first.answer != "YES":
        return done(0.0, 0.0)
    top = run(eps_max)
    if top.answer == "YES":
        return done(eps_max, math.inf)
    lo, hi = 0.0, eps_max
    upper = eps_max if method != "milp" or top.answer == "NO" else math.inf
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if not lo < mid < hi:  # float resolution reached
            break
        v = run(mid)
        if v.answer == "YES":
            lo = mid
        else:
            hi = mid
            if method != "milp" or v.answer == "NO":
                upper = min(upper, mid)
    return done(lo, upper)
