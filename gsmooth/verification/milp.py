"""Exact verification of a ReLU network by mixed-integer linear programming (Tjeng, Xiao & Tedrake,
ICLR 2019), solved by HiGHS (:func:`scipy.optimize.milp`).

The encoding is the LP's (:mod:`gsmooth.verification.lp`: input box, equalities
``z = W a_prev + b``, stable neurons eliminated) with each unstable neuron (``l < 0 < u`` from
the intermediate bounds, which are the big-M constants) encoded exactly by a binary ``δ``:
``a ≥ z, a ≥ 0, a ≤ z − l (1 − δ), a ≤ u δ, δ ∈ {0, 1}``.

Two questions can be asked of each output (callers pass the margin network):

- ``exact=True``: its minimum over the region. ``lower`` is HiGHS's proven dual bound
  (``mip_dual_bound``, less a safety margin of ``1e-7 (1 + |bound|)`` for HiGHS's feasibility
  tolerances of 1e-7 / 1e-6), ``value`` the objective of the best point found, re-evaluated by
  ``net.forward`` at that point projected into the region (so it is achieved: ``lower ≤ min ≤ value``).
- ``exact=False`` (the default, faster for the YES/NO question; see *Speed* below): only whether
  the minimum is below ``stop_below``. HiGHS is asked for *any* point with objective
  ``≤ stop_below + cutoff_margin`` (objective 0: it stops at the first one). Infeasible proves the
  minimum is above ``stop_below + cutoff_margin``, which is the reported ``lower`` (status
  ``"cutoff"``); a point whose forward pass is below ``stop_below`` is a counterexample; a point
  found between the two (the solver's tolerances) makes that output fall back to the exact
  minimisation.

Outputs are solved in order and the call stops at the first output whose value is below
``stop_below`` at a point checked by ``net.forward`` after projecting it into the region (the caller
then answers NO); the outputs after it get the intermediate bound and status ``"not_reached"``.
The time limit is for the whole call: each output gets an equal share of what remains, and the
outputs that ran out of their share are tried once more with what is left at the end.

ℓ2 balls: HiGHS is linear only, so the MILP uses the LP's outer approximation (box, ``‖x − c‖₁ ≤
eps √d`` and tangent cuts at the solution's direction, re-solving for at most ``l2_rounds``
rounds). Every round's dual bound (or infeasibility) is sound because every polytope contains the
ball; a point is a counterexample only if it lies in the ball. **The ℓ2 MILP is exact only when the
cut loop converges** (the optimum lies in the ball, status ``"optimal"``); otherwise the status is
``"outer"`` and ``lower`` is the last round's sound bound.

Speed, measured on a 784-100-10 MLP (2 epochs on 20000 Fashion-MNIST images, 83 % test accuracy),
margin network, IBP big-M constants, ℓ∞, one CPU thread, time limit 30 s per image, first 12 test
images: eps 0.01 (1–9 unstable ReLUs) sign question median 0.03 s (max 0.23 s), full minimisation
median 1.4 s (max 3.1 s); eps 0.05 (11–66 unstable) sign question median 6.2 s (2 of 12 MAYBE at
the limit), full minimisation median 25 s (3 of 6 stopped at the limit). Proving the sign is much
cheaper than closing the gap of the minimum, so ``exact=False`` is the default; keep
``exact=True`` for margins. An output whose intermediate bound already exceeds ``stop_below`` is
not solved at all in the sign question.

Example:
    >>> import numpy as np
    >>> from gsmooth.verification import AffineLayer, ReluNetwork, input_region, interval_bounds
    >>> net = ReluNetwork((AffineLayer(np.array([[1.0, -1.0], [1.0, 1.0]]), np.zeros(2)),
    ...                    AffineLayer(np.array([[1.0, 1.0], [-1.0, 1.0]]), np.array([-0.5, 0.0]))),
    ...                   input_shape=(2,))
    >>> region = input_region(np.array([0.5, 0.5]), eps=0.5, norm="linf")
    >>> out = milp_minimum(net, region, intermediate=interval_bounds(net, region), exact=True,
    ...                    stop_below=-1.0)   # nothing is below -1
    >>> [round(float(v), 6) for v in out.value], out.status, out.adversarial is None
    ([-0.5, 0.0], ('optimal', 'optimal'), True)
    >>> out = milp_minimum(net, region, intermediate=interval_bounds(net, region), stop_below=0.25)
    >>> out.status[0], out.adversarial_output, float(net.forward(out.adversarial)[0, 0]) < 0.25
    ('counterexample', 0, True)
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass
from numbers import Real
from typing import Optional

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from ..errors import InvalidParameterError
from .bounds import NetworkBounds
from .lp import DEFAULT_L2_ROUNDS, _check_intermediate, _check_time_limit, _Encoding, _remaining
from .network import ReluNetwork
from .region import InputRegion

__all__ = ["MilpOutcome", "milp_minimum", "DEFAULT_MIP_REL_GAP", "DEFAULT_CUTOFF_MARGIN"]

#: HiGHS's relative MIP gap at which a minimisation stops (``mip_rel_gap``).
DEFAULT_MIP_REL_GAP = 1e-7
#: How far above ``stop_below`` the sign question's cut-off sits (the ``lower`` it proves).
DEFAULT_CUTOFF_MARGIN = 1e-5
_SAFETY = 1e-7


@dataclass(frozen=True, eq=False)
class MilpOutcome:
    """What :func:`milp_minimum` found.

    Attributes:
        lower: ``(k,)`` proven lower bounds of the outputs' minima (dual bound, the cut-off, or
            the intermediate bound where the solver did not finish).
        value: ``(k,)`` the best output value found at a point of the region (``nan`` if none).
        status: per output: ``"optimal"`` (minimised; ``lower`` and ``value`` agree to the gap),
            ``"cutoff"`` (sign question: proved ``≥ lower > stop_below``), ``"counterexample"``
            (a checked point below ``stop_below``), ``"time_limit"``, ``"outer"`` (ℓ2: the cut
            rounds ran out), ``"undecided"`` (the solver's optimum is below ``stop_below`` but its
            point is not once checked by ``net.forward`` in the region: nothing decided), ``"not_reached"`` (after a counterexample) or ``"failed: <message>"``.
        adversarial: the input ``(d,)`` (flattened) of the first output found below
            ``stop_below``, inside the region, or ``None``.
        adversarial_output: the index of that output, or ``None``.
        time: seconds for the whole call.
    """

    lower: np.ndarray
    value: np.ndarray
    status: tuple[str, ...]
    adversarial: Optional[np.ndarray]
    adversarial_output: Optional[int]
    time: float


def _check_real(value, name: str) -> float:
    if not isinstance(value, Real) or isinstance(value, bool) or not math.isfinite(value):
        raise InvalidParameterError(f"milp_minimum: expected {name} a finite number, got {value!r}")
    return float(value)


class _Solver:
    def __init__(self, net, region, enc: _Encoding, rel_gap: float) -> None:
        self.net, self.region, self.enc, self.rel_gap = net, region, enc, rel_gap
        self.bounds = Bounds(enc.lb, enc.ub_var)
        self.intermediate_lower = np.zeros(net.num_outputs)

    def solve(self, c: np.ndarray, share: Optional[float], extra=None):
        enc = self.enc
        A_ub, b_ub = enc.inequalities()
        constraints = [LinearConstraint(enc.A_eq, enc.b_eq, enc.b_eq)]
        if A_ub.shape[0]:
            constraints.append(LinearConstraint(A_ub, -np.inf, b_ub))
        if extra is not None:
            constraints.append(LinearConstraint(extra[0].reshape(1, -1), -np.inf, extra[1]))
        options = {"disp": False, "mip_rel_gap": self.rel_gap}
        if share is not None:
            options["time_limit"] = max(share, 1e-3)
        return milp(c, constraints=constraints, integrality=enc.integrality, bounds=self.bounds, options=options)

    def check(self, res, j: int):
        """``(point, forward value of output j)`` of the solver's solution projected into the
        region, or ``(None, nan)``; for ℓ2 also whether the solution was in the ball."""
        if res.x is None:
            return None, math.nan, False
        x = np.asarray(res.x, dtype=np.float64)
        inside = (not self.enc.l2) or self.enc.in_ball(x)
        point = self.region.project(x[: self.enc.d])
        if not self.region.contains(point, tol=1e-12):
            return None, math.nan, inside
        return point, float(self.net.forward(point)[0, j]), inside


def milp_minimum(
    net: ReluNetwork,
    region: InputRegion,
    *,
    intermediate: NetworkBounds,
    time_limit: Optional[float] = None,
    stop_below: float = 0.0,
    exact: bool = False,
    cutoff_margin: float = DEFAULT_CUTOFF_MARGIN,
    mip_rel_gap: float = DEFAULT_MIP_REL_GAP,
    l2_rounds: int = DEFAULT_L2_ROUNDS,
) -> MilpOutcome:
    """The minimum of each output of ``net`` over ``region`` (or its sign relative to ``stop_below``)
    by the big-M MILP; see the module docstring for the two modes and the ℓ2 caveat.

    Args:
        net: the network (pass the margin network); ``k`` outputs.
        region: the ℓ∞ or ℓ2 ball ∩ domain, ``d = net.num_inputs`` inputs.
        intermediate: sound bounds of every pre-activation (the big-M constants; tighter is
            faster), e.g. :func:`~gsmooth.verification.interval_bounds` or CROWN ∩ IBP;
            ``out_lower`` ``(k,)`` is the fallback bound.
        time_limit: seconds for the whole call, or ``None``.
        stop_below: stop at the first output with a checked point whose value is below it.
        exact: minimise every output (``True``) or only decide its sign (``False``).
        cutoff_margin: ``> 0``; the sign question proves ``min ≥ stop_below + cutoff_margin``.
        mip_rel_gap: HiGHS's relative gap for the minimisation.
        l2_rounds: most solves per output of the ℓ2 tangent-cut loop.

    Returns:
        :class:`MilpOutcome`.

    Raises:
        InvalidParameterError: a wrong network, region, bounds, time limit or option.
    """
    start = _time.perf_counter()
    _check_intermediate(net, region, intermediate, "milp_minimum")
    limit = _check_time_limit(time_limit, "milp_minimum")
    stop_below = _check_real(stop_below, "stop_below")
    cutoff_margin = _check_real(cutoff_margin, "cutoff_margin")
    mip_rel_gap = _check_real(mip_rel_gap, "mip_rel_gap")
    if cutoff_margin <= 0 or not 0 <= mip_rel_gap < 1:
        raise InvalidParameterError(
            f"milp_minimum: expected cutoff_margin > 0 and 0 <= mip_rel_gap < 1, got {cutoff_margin!r} and {mip_rel_gap!r}"
        )
    if not isinstance(exact, bool):
        raise InvalidParameterError(f"milp_minimum: expected exact True or False, got {exact!r}")
    if not isinstance(l2_rounds, int) or isinstance(l2_rounds, bool) or l2_rounds < 1:
        raise InvalidParameterError(f"milp_minimum: expected l2_rounds an integer >= 1, got {l2_rounds!r}")
    deadline = None if limit is None else start + limit
    enc = _Encoding(net, region, intermediate, integer=True)
    solver = _Solver(net, region, enc, mip_rel_gap)
    solver.intermediate_lower = np.asarray(intermediate.out_lower, dtype=np.float64)
    k = net.num_outputs
    lower = np.asarray(intermediate.out_lower, dtype=np.float64).copy()
    value = np.full(k, math.nan)
    status = ["not_reached"] * k
    adversarial, adversarial_output = None, None
    todo = list(range(k))
    for attempt in range(2):  # a second pass gives outputs that ran out of their share what is left
        for n, j in enumerate(todo):
            lo, val, state, point = _solve_output(solver, j, len(todo) - n, deadline, stop_below, exact, cutoff_margin, l2_rounds)
            lower[j] = max(lower[j], lo)
            value[j] = np.fmin(value[j], val)
            status[j] = state
            if point is not None:
                adversarial, adversarial_output = point, j
                break
        todo = [j for j in todo if status[j] == "time_limit"]
        if adversarial is not None or not todo or deadline is None or deadline - _time.perf_counter() < 0.05:
            break
    return MilpOutcome(
        lower=lower,
        value=value,
        status=tuple(status),
        adversarial=adversarial,
        adversarial_output=adversarial_output,
        time=_time.perf_counter() - start,
    )


def _solve_output(solver: _Solver, j: int, left: int, deadline, stop_below: float, exact: bool, margin: float, rounds: int):
    """``(lower, value, status, counterexample point or None)`` of output ``j``."""
    enc = solver.enc
    c, offset = enc.objective[j], float(enc.offset[j])
    lower, best = -math.inf, math.nan

    def seen(point, v):
        nonlocal best
        if point is not None and not (v >= best):  # best is nan or larger
            best = v
        if point is not None and v < stop_below:
            return point
        return None

    if not exact:
        if solver.intermediate_lower[j] > stop_below:  # already proved by the intermediate bound
            return -math.inf, best, "cutoff", None
        zero = np.zeros_like(c)
        for _ in range(rounds):
            share = _remaining(deadline, left)
            if share is not None and share <= 0.0:
                return lower, best, "time_limit", None
            res = solver.solve(zero, share, extra=(c, stop_below + margin - offset))
            if res.status == 2:  # infeasible: the minimum is above the cut-off
                return stop_below + margin, best, "cutoff", None
            if res.x is None:
                return lower, best, ("time_limit" if res.status == 1 else f"failed: {res.message}"), None
            point, v, inside = solver.check(res, j)
            found = seen(point, v)
            if found is not None:
                return lower, best, "counterexample", found
            if enc.l2 and not inside and enc.add_cut(res.x):
                continue
            break  # a point at the cut-off but not below stop_below: minimise
        else:
            return lower, best, "outer", None
    for _ in range(rounds if enc.l2 else 1):
        share = _remaining(deadline, left)
        if share is not None and share <= 0.0:
            return lower, best, "time_limit", None
        res = solver.solve(c, share)
        if res.status not in (0, 1):
            return lower, best, f"failed: {res.message}", None
        bound = getattr(res, "mip_dual_bound", None)
        if bound is not None and math.isfinite(bound):
            bound = float(bound) + offset
            lower = max(lower, bound - _SAFETY * (1.0 + abs(bound)))
        point, v, inside = solver.check(res, j)
        found = seen(point, v)
        if found is not None:
            return lower, best, "counterexample", found
        if res.status == 1:
            return lower, best, "time_limit", None
        if enc.l2 and not inside and res.x is not None and enc.add_cut(res.x):
            continue
        solver_below = res.fun is not None and float(res.fun) + offset < stop_below
        # the solver's point is below stop_below but not after the re-check: nothing decided
        return lower, best, ("optimal" if point is not None and not solver_below else "undecided"), None
    return lower, best, "outer", None
