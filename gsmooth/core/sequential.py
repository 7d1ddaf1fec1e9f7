"""Sequential, target-aware certification: stop sampling as soon as the answer is known.

A test of CERTIFY asks one question about the top-class probability p_A of the selected class ĉ:
does its lower confidence bound reach a requirement that is known *before* sampling? An interval
slice must reach ``p_required,k`` (:meth:`gsmooth.interval.SliceStrategy.p_required`), a point
certificate at a target radius r must reach the p whose radius is r. Drawing the full ``n`` for an
image whose slices are covered after 300 draws, or that surely fails after 200, is waste.

The rule (a fixed look schedule with α split across the looks)
-----------------------------------------------------------------
The estimation draws are counted at fixed looks ``n_1 < n_2 < … < n_L = n`` (:func:`look_schedule`:
100, 200, 400, … doubling, then ``n``; the same for every image, chosen before sampling). At look l
the one-sided Clopper–Pearson bound is taken at level ``α_l`` with ``Σ_l α_l = α``
(:func:`look_alphas`: 90 % of α at the last look, the other 10 % split evenly over the earlier
ones). By the union bound,

    P( p_A < p_lower,l for some look l ) ≤ Σ_l α_l = α,

so *every* look's bound holds at once with probability ≥ 1 − α, and whichever look the sampling
stops at — a data-dependent choice — its bound is a valid (1 − α) bound. That is all a certificate
needs: the statement of CERTIFY (and, with α/K per slice, the family-wise α of an interval
certificate) is unchanged. The cost is the level: at a look the bound is at ``α_l`` (α/(10(L−1))
at an early look, 0.9 α at the last one) instead of α. At the last look that changes nothing
measurable (tests that run to ``n`` certify as a fixed-``n`` run would); early looks only serve
tests far from their requirement, where a smaller α costs little (their bound is
``α_l^{1/n_l}`` for all-successes). Measured on the Cohen table (σ = 0.25, 100 images, targets
0.25 … 1.5): a final share of 0.9 matches the fixed-n certified accuracy at every radius with 4 %
more draws than a share of 0.5, which lost 2 points at the radius nearest the sample capacity.

When to stop is any function of the data (it only chooses the look): a test stops

- **covered** when its lower bound already reaches the largest target it could reach
  (``level(p_lower) == level(p_upper)`` below);
- **surely not** when an upper bound on p_A says no more draws can lift it to the next target:
  ``p_upper = min(clopper_pearson_upper(nA, n_l, α_l), clopper_pearson_lower(nA + (n − n_l), n, α_L))``
  — the second term is the best final bound even if every remaining draw were a success;
- at the last look, always.

An interval certificate stops a whole image at its first slice that surely fails (and before any
estimation draw when the selection draws of its slices disagree on the class: the image cannot be
certified then).

What this is not: peeking at a fixed-n bound (testing ``clopper_pearson_lower(nA, n_l, α)`` at
every look without splitting α), which is what a loop "sample until certified" does by default —
its failure probability grows with the number of looks (tests/test_sequential.py measures it).

References: the fixed-schedule union bound is the simplest valid group-sequential design (e.g.
Jennison & Turnbull, *Group Sequential Methods*, ch. 2); Horváth et al. (ICLR 2022) and Input-
Specific Sampling (Chen et al., AAAI 2022) report large sample savings for a preset radius.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np

from ..errors import InvalidParameterError
from .stats import clopper_pearson_lower, clopper_pearson_upper

__all__ = ["look_schedule", "look_alphas", "SequentialPlan", "sequential_bounds", "describe_rule", "FIRST_LOOK", "FINAL_SHARE"]

#: The first look of :func:`look_schedule` (a multiple of the noise streams' block size).
FIRST_LOOK = 100


def look_schedule(n: int, *, first: int = FIRST_LOOK, growth: float = 2.0) -> tuple[int, ...]:
    """The cumulative draw counts at which a sequential test looks: ``first``, ``first·growth``,
    … (rounded up to integers, strictly increasing) while below ``n``, then ``n``.

    Example:
        >>> look_schedule(1000)
        (100, 200, 400, 800, 1000)
        >>> look_schedule(250)
        (100, 200, 250)
        >>> look_schedule(50)
        (50,)
    """
    if not isinstance(n, Integral) or isinstance(n, bool) or n < 1:
        raise InvalidParameterError(f"look_schedule: n expected a positive integer, got {n!r}")
    if not isinstance(first, Integral) or isinstance(first, bool) or first < 1:
        raise InvalidParameterError(f"look_schedule: first expected a positive integer, got {first!r}")
    if not float(growth) > 1.0:
        raise InvalidParameterError(f"look_schedule: growth expected a number > 1, got {growth!r}")
    looks: list[int] = []
    at = float(first)
    while int(np.ceil(at)) < n:
        v = int(np.ceil(at))
        if not looks or v > looks[-1]:
            looks.append(v)
        at *= float(growth)
    looks.append(int(n))
    return tuple(looks)


#: The share of a test's α spent at its last look (:func:`look_alphas`).
FINAL_SHARE = 0.9


def look_alphas(alpha: float, num_looks: int, final_share: float | None = None) -> np.ndarray:
    """How α is split over ``num_looks`` looks: ``α`` for one look; else ``final_share · α`` (default
    :data:`FINAL_SHARE`, 90 %) at the last look and the rest split evenly over the earlier ones. The
    levels sum to α (the union bound of the module docs).

    Example:
        >>> [float(round(a, 6)) for a in look_alphas(0.01, 3)]
        [0.0005, 0.0005, 0.009]
        >>> [float(round(a, 6)) for a in look_alphas(0.01, 3, final_share=0.5)]
        [0.0025, 0.0025, 0.005]
        >>> float(look_alphas(0.01, 1)[0])
        0.01
    """
    final_share = FINAL_SHARE if final_share is None else final_share
    if num_looks < 1:
        raise InvalidParameterError(f"look_alphas: expected at least one look, got {num_looks!r}")
    if not 0.0 < float(final_share) < 1.0:
        raise InvalidParameterError(f"look_alphas: final_share expected a number in (0, 1), got {final_share!r}")
    if num_looks == 1:
        return np.array([float(alpha)])
    early = float(alpha) * (1.0 - final_share) / (num_looks - 1)
    return np.array([early] * (num_looks - 1) + [float(alpha) * final_share])


@dataclass(frozen=True)
class SequentialPlan:
    """The looks of a sequential test with at most ``n`` estimation draws at level ``alpha``.

    Attributes:
        looks: cumulative draw counts (:func:`look_schedule`), the last one ``n``.
        alphas: the level of each look's bound (:func:`look_alphas`), summing to ``alpha``.

    Example:
        >>> plan = SequentialPlan.for_budget(1000, 0.001)
        >>> plan.looks, round(float(plan.alphas.sum()), 12)
        ((100, 200, 400, 800, 1000), 0.001)
    """

    looks: tuple[int, ...]
    alphas: np.ndarray

    @classmethod
    def for_budget(cls, n: int, alpha: float, *, first: int = FIRST_LOOK, growth: float = 2.0) -> "SequentialPlan":
        looks = look_schedule(n, first=first, growth=growth)
        return cls(looks, look_alphas(alpha, len(looks)))

    @property
    def n(self) -> int:
        return self.looks[-1]

    @property
    def final_alpha(self) -> float:
        return float(self.alphas[-1])


def describe_rule() -> str:
    """The sequential rule in one line (recorded in results files: a file certified under another
    rule is another configuration and does not resume).

    Example:
        >>> describe_rule()
        'looks at 100, 200, 400, ... then n; 0.9 of alpha at the last look, the rest split evenly'
    """
    return (f"looks at {FIRST_LOOK}, {2 * FIRST_LOOK}, {4 * FIRST_LOOK}, ... then n; {FINAL_SHARE:g} of alpha at the "
            "last look, the rest split evenly")


def sequential_bounds(count, drawn, look: int, plan: SequentialPlan):
    """``(p_lower, p_upper)`` after ``drawn`` draws (= ``plan.looks[look]``) with ``count`` successes.

    ``p_lower`` is the look's Clopper–Pearson lower bound at ``plan.alphas[look]`` (a valid bound
    whatever look the test stops at); ``p_upper`` is what the final lower bound could at most reach:
    the smaller of the look's upper bound and the final bound were every remaining draw a success.
    Only ``p_lower`` enters a certificate; ``p_upper`` only decides when to stop.
    """
    a = float(plan.alphas[look])
    count = np.asarray(count, dtype=np.float64)
    drawn = np.asarray(drawn, dtype=np.float64)
    lower = np.atleast_1d(clopper_pearson_lower(count, drawn, a))
    if look == len(plan.looks) - 1:
        return lower, lower.copy()
    upper = np.atleast_1d(clopper_pearson_upper(count, drawn, a))
    best = np.atleast_1d(clopper_pearson_lower(count + (plan.n - drawn), plan.n, plan.final_alpha))
    return lower, np.minimum(upper, best)
