"""The perturbation set a verifier reasons about: an ℓ∞ or ℓ2 ball around an input, intersected
with the input domain (by default the pixel box ``[0, 1]^d``, as in Tjeng et al. 2019).

Example:
    >>> import numpy as np
    >>> r = input_region(np.array([0.2, 0.9]), eps=0.25, norm="linf")
    >>> [v.tolist() for v in r.box()]
    [[0.0, 0.65], [0.45, 1.0]]
    >>> r.minimize_linear(np.array([[1.0, -1.0]]), np.array([0.0])).tolist()   # min x0 - x1
    [-1.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import Optional

import numpy as np

from ..errors import InvalidParameterError

__all__ = ["InputRegion", "input_region", "NORMS"]

#: The norms of the perturbation balls verifiers support.
NORMS = ("linf", "l2")


@dataclass(frozen=True, eq=False)
class InputRegion:
    """``{x : ‖x − center‖ ≤ eps, lower ≤ x ≤ upper}`` (flattened inputs, float64).

    Build it with :func:`input_region`, which validates the arguments.
    """

    center: np.ndarray
    eps: float
    norm: str
    lower: np.ndarray
    upper: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.center.shape[0])

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        """The smallest box holding the region (for ℓ2, the box of the ℓ∞ ball of the same radius
        clipped to the domain)."""
        return np.maximum(self.center - self.eps, self.lower), np.minimum(self.center + self.eps, self.upper)

    def minimize_linear(self, a: np.ndarray, c: np.ndarray) -> np.ndarray:
        """A lower bound of ``a_j · x + c_j`` over the region for each row ``j`` of ``a`` ``(m, d)``:
        exact for ℓ∞ (the minimum over the box); for ℓ2 the larger of the ball's
        ``a·center − eps ‖a‖₂`` and the box's minimum (both hold on ball ∩ domain)."""
        a = np.atleast_2d(np.asarray(a, dtype=np.float64))
        lo, hi = self.box()
        box_min = np.minimum(a * lo, a * hi).sum(axis=1) + c
        if self.norm == "linf":
            return box_min
        ball_min = a @ self.center - self.eps * np.linalg.norm(a, axis=1) + c
        return np.maximum(ball_min, box_min)

    def maximize_linear(self, a: np.ndarray, c: np.ndarray) -> np.ndarray:
        """An upper bound of ``a_j · x + c_j`` over the region (``−minimize_linear(−a, −c)``)."""
        return -self.minimize_linear(-np.atleast_2d(np.asarray(a, dtype=np.float64)), -np.asarray(c, dtype=np.float64))

    def distance(self, x: np.ndarray) -> float:
        """``‖x − center‖`` in the region's norm."""
        d = np.asarray(x, dtype=np.float64).reshape(-1) - self.center
        return float(np.max(np.abs(d))) if self.norm == "linf" else float(np.linalg.norm(d))

    def contains(self, x: np.ndarray, *, tol: float = 0.0) -> bool:
        """Whether ``x`` lies in the region, up to ``tol`` on the norm and on the domain."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        return bool(
            self.distance(x) <= self.eps + tol and np.all(x >= self.lower - tol) and np.all(x <= self.upper + tol)
        )

    def project(self, x: np.ndarray) -> np.ndarray:
        """A point of the region near ``x``: onto the ball, then clipped to the domain (clipping
        moves no coordinate away from the center, which lies in the domain, so the result stays
        in the ball)."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        d = x - self.center
        if self.norm == "linf":
            d = np.clip(d, -self.eps, self.eps)
        else:
            n = float(np.linalg.norm(d))
            if n > self.eps:
                d = d * (self.eps / n)
        return np.clip(self.center + d, self.lower, self.upper)


def _bound(value, d: int, name: str) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (d,)).copy() if np.ndim(value) == 0 else np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.shape != (d,):
        raise InvalidParameterError(f"input_region: expected {name} as one number or {d} values, got shape {np.shape(value)}")
    return arr


def input_region(
    center,
    *,
    eps: float,
    norm: str,
    domain: Optional[tuple[float, float]] = (0.0, 1.0),
) -> InputRegion:
    """The region ``ball(center, eps) ∩ domain``.

    Args:
        center: the clean input, any shape (flattened in C order).
        eps: the radius, ≥ 0.
        norm: ``"linf"`` or ``"l2"``.
        domain: ``(low, high)`` bounds of every input coordinate, or ``None`` for no domain
            (the whole ball, as randomized smoothing certifies it).

    Raises:
        InvalidParameterError: bad ``eps``, ``norm`` or ``domain``, or a center outside the domain.
    """
    c = np.asarray(center, dtype=np.float64).reshape(-1)
    if c.size == 0 or not np.all(np.isfinite(c)):
        raise InvalidParameterError(f"input_region: expected a non-empty finite center, got {c.size} values")
    if not isinstance(eps, Real) or isinstance(eps, bool) or not np.isfinite(eps) or eps < 0:
        raise InvalidParameterError(f"input_region: expected eps a finite number >= 0, got {eps!r}")
    if norm not in NORMS:
        raise InvalidParameterError(f"input_region: expected norm one of {', '.join(NORMS)}, got {norm!r}")
    if domain is None:
        lo, hi = np.full(c.shape, -np.inf), np.full(c.shape, np.inf)
    else:
        if len(domain) != 2:
            raise InvalidParameterError(f"input_region: expected domain (low, high) or None, got {domain!r}")
        lo, hi = _bound(domain[0], c.size, "domain low"), _bound(domain[1], c.size, "domain high")
        if np.any(lo > hi):
            raise InvalidParameterError(f"input_region: expected domain low <= high, got {domain!r}")
        if np.any(c < lo) or np.any(c > hi):
            raise InvalidParameterError(
                f"input_region: expected the center inside the domain {tuple(domain)}, got values in "
                f"[{c.min():g}, {c.max():g}]"
            )
    return InputRegion(center=c, eps=float(eps), norm=norm, lower=lo, upper=hi)
