"""The triangle LP relaxation of a ReLU network (Ehlers 2017; Wong & Kolter 2018), solved by HiGHS.

Variables are the input ``x``, and for every ReLU layer the pre-activations ``z`` and the
post-activations ``a`` of its neurons. With the intermediate bounds ``l ≤ z ≤ u`` of each neuron:

- every layer is an equality ``z = W a_prev + b`` (``a_prev = x`` for the first);
- a stable-inactive neuron (``u ≤ 0``) has ``a = 0``: it is eliminated (no variable);
- a stable-active neuron (``l ≥ 0``) has ``a = z``: one variable, bounded by ``[l, u]``;
- an unstable neuron (``l < 0 < u``) has the triangle ``a ≥ 0, a ≥ z, a ≤ u (z − l) / (u − l)``;
- ``x`` lies in the region's box (domain ∩ ℓ∞ ball). For ℓ2 the box is an outer approximation of
  the ball; the relaxation adds ``‖x − c‖₁ ≤ eps √d`` (auxiliary variables ``t ≥ |x − c|``) and then
  tangent cuts ``g · (x − c) ≤ eps ‖g‖`` at the direction ``g = x* − c`` of the solution, re-solving
  for a bounded number of rounds. Every polytope of the loop contains the ball, so every round's
  bound is sound; when the solution lies in the ball (to ``1e-6·eps + 2e-6``, HiGHS's feasibility
  tolerance) the LP is the one over the ball. While it is not, each round also evaluates the dual
  bound with the network rows' multipliers alone and the input part minimised over the ball itself
  (``c·x − eps‖r‖`` ∩ box, :meth:`~gsmooth.verification.region.InputRegion.minimize_linear`): also
  sound, and on 784 inputs much tighter than the outer polytope's (where one cut per round barely
  moves the solution).

The outputs of the network (callers pass the margin network,
:meth:`~gsmooth.verification.network.ReluNetwork.margin_network`) are linear in the last ReLU
layer's ``a``: one LP per output, same constraints, different objective.

**How the reported bound is made sound whatever the solver's accuracy.** The bound is *not* the
solver's primal objective (a point that is feasible only up to HiGHS's tolerances) but the
Lagrangian dual bound evaluated from the solver's multipliers: for any ``y_ub ≤ 0`` and any
``y_eq`` (``res.ineqlin.marginals``, ``res.eqlin.marginals``; those of the wrong sign clipped to 0),
every feasible ``v`` has ``c·v ≥ y_ub·b_ub + y_eq·b_eq + min_{lb ≤ v ≤ ub} r·v`` with the reduced
costs ``r = c − A_ubᵀ y_ub − A_eqᵀ y_eq``; the last term is evaluated exactly over the variable
bounds (all finite). Inaccurate multipliers only make the bound weaker, never wrong. The float64
evaluation is guarded by the standard rounding-error bound of the sums (``(n + 2)·2⁻⁵³·Σ|terms|``)
and the only rounded constraint (the triangle's upper face) is loosened by a relative ``1e-12``, so
the bound is one of the real-arithmetic network with the given float64 weights and intermediate
bounds. When the optimum is reached the dual bound equals the LP value to HiGHS's tolerances.

Example:
    >>> import numpy as np
    >>> from gsmooth.verification import AffineLayer, ReluNetwork, input_region, interval_bounds
    >>> net = ReluNetwork((AffineLayer(np.array([[1.0, -1.0], [1.0, 1.0]]), np.zeros(2)),
    ...                    AffineLayer(np.array([[1.0, 1.0]]), np.array([-0.5]))), input_shape=(2,))
    >>> region = input_region(np.array([0.5, 0.5]), eps=0.5, norm="linf")
    >>> ibp = interval_bounds(net, region)
    >>> out = lp_bounds(net, region, intermediate=ibp)
    >>> round(float(ibp.out_lower[0]), 6), round(float(out.lower[0]), 6), out.status
    (-0.5, -0.5, ('optimal',))
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass
from numbers import Real
from typing import Optional

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from ..errors import InvalidParameterError
from .bounds import NetworkBounds
from .network import ReluNetwork
from .region import InputRegion

__all__ = ["LpOutcome", "lp_bounds", "DEFAULT_L2_ROUNDS"]

#: How many solves the ℓ2 tangent-cut loop makes per output at most (each round is sound). Tiny
#: inputs converge in 10–40 rounds; on 784 inputs one cut per round barely moves the solution
#: (about 0.7 s per LP round on a 784-100-10 MLP: 10 rounds × 9 margins took 46–60 s, and the
#: bound comes mostly from the first round's dual bound over the ball), so the default keeps the
#: loop short; pass ``l2_rounds`` for more.
DEFAULT_L2_ROUNDS = 5

_UNIT = 2.0**-53
# Relative loosening of the triangle's upper face (its slope is rounded once in float64).
_FACE_SLACK = 1e-12
# A solution this close to the ℓ2 ball counts as in the ball and the cut loop stops: a relative
# 1e-6 of eps plus 2e-6 (HiGHS accepts cut violations up to its feasibility tolerance, 1e-6 for
# the MILP). Only the loop's status depends on it: the bound is sound whatever it is.
_BALL_TOL = 1e-6
_BALL_ABS = 2e-6


@dataclass(frozen=True, eq=False)
class LpOutcome:
    """What :func:`lp_bounds` proved.

    Attributes:
        lower: ``(k,)`` a proven lower bound on each output of the network over the region.
        status: one entry per output: ``"optimal"`` (the LP's optimum; for ℓ2 the cut loop
            converged, so it is the LP over the ball), ``"outer"`` (ℓ2: the cut rounds ran out; the
            bound is that of the last outer polytope, still sound), ``"time_limit"`` or
            ``"failed: <solver message>"`` (the bound is then the intermediate bound
            ``intermediate.out_lower``, still sound).
        time: seconds for the whole call.
    """

    lower: np.ndarray
    status: tuple[str, ...]
    time: float


# ----------------------------------------------------------------------------------------------
# the encoding shared with the MILP
# ----------------------------------------------------------------------------------------------


class _Encoding:
    """The constraint system of the relaxation (``integer=False``) or of the big-M MILP
    (``integer=True``), with the objective rows of the outputs. Rows and columns are built as
    COO triplets and converted to CSR once."""

    def __init__(self, net: ReluNetwork, region: InputRegion, bounds: NetworkBounds, *, integer: bool) -> None:
        d = net.num_inputs
        self.d = d
        lo_box, hi_box = region.box()
        self._lb: list[np.ndarray] = [lo_box]
        self._ub: list[np.ndarray] = [hi_box]
        self._int: list[np.ndarray] = [np.zeros(d)]
        self.n = d
        self.x_cols = np.arange(d)
        self.eq = _Rows()
        self.ub = _Rows()
        self.l2 = region.norm == "l2"
        self.region = region
        if self.l2:
            t_cols = self._add(np.zeros(d), np.full(d, region.eps), 0)
            ones = np.ones(d)
            # x − t ≤ c, −x − t ≤ −c, Σ t ≤ eps √d
            for sign in (1.0, -1.0):
                self.ub.add_block(np.arange(d), self.x_cols, sign * ones, sign * region.center)
                self.ub.add_block(self.ub.last_rows, t_cols, -ones)
            self.ub.add_row(t_cols, ones, region.eps * math.sqrt(d) * (1.0 + _FACE_SLACK))
        self.ball_rows = self.ub.count  # the first rows (ℓ1 outer approximation) and the cuts
        prev_cols = self.x_cols  # the variable of each neuron of the previous layer (−1: a = 0)
        for i, layer in enumerate(net.layers[:-1]):
            l, u = bounds.pre_lower[i], bounds.pre_upper[i]
            w = sp.csr_array(layer.weight) if layer.sparse else sp.csr_array(layer.dense_weight())
            keep = np.flatnonzero(prev_cols >= 0)
            w = sp.csr_array(w[:, keep])
            inactive, active = u <= 0.0, (l >= 0.0) & (u > 0.0)
            unstable = ~inactive & ~active
            cols = np.full(layer.out_features, -1)
            # active: a = z, one variable in [l, u]
            act = np.flatnonzero(active)
            cols[act] = self._add(l[act], u[act], 0)
            # unstable: z in [l, u], a in [0, u]
            uns = np.flatnonzero(unstable)
            z_cols = self._add(l[uns], u[uns], 0)
            a_cols = self._add(np.zeros(uns.size), u[uns], 0)
            cols[uns] = a_cols
            # equalities z_j − W_j a_prev = b_j for active and unstable neurons
            live = np.flatnonzero(~inactive)
            zc = np.full(layer.out_features, -1)
            zc[act], zc[uns] = cols[act], z_cols
            sub = sp.coo_array(w[live, :])
            rows0 = self.eq.count
            self.eq.add_triplets(rows0 + sub.row, prev_cols[keep][sub.col], -sub.data)
            self.eq.add_triplets(rows0 + np.arange(live.size), zc[live], np.ones(live.size))
            self.eq.extend_rhs(layer.bias[live])
            if uns.size:
                lu, uu = l[uns], u[uns]
                one = np.ones(uns.size)
                # z − a ≤ 0
                self.ub.add_block(np.arange(uns.size), z_cols, one, np.zeros(uns.size))
                self.ub.add_block(self.ub.last_rows, a_cols, -one)
                if integer:
                    dl = self._add(np.zeros(uns.size), one, 1)
                    # a − z − l δ ≤ −l   (a ≤ z − l (1 − δ))
                    self.ub.add_block(np.arange(uns.size), a_cols, one, -lu)
                    self.ub.add_block(self.ub.last_rows, z_cols, -one)
                    self.ub.add_block(self.ub.last_rows, dl, -lu)
                    # a − u δ ≤ 0
                    self.ub.add_block(np.arange(uns.size), a_cols, one, np.zeros(uns.size))
                    self.ub.add_block(self.ub.last_rows, dl, -uu)
                else:
                    s = uu / (uu - lu)
                    rhs = -s * lu
                    # a − s z ≤ −s l (loosened by a relative 1e-12 for the rounding of s)
                    self.ub.add_block(np.arange(uns.size), a_cols, one, rhs + _FACE_SLACK * (np.abs(rhs) + s * np.abs(uu) + 1.0))
                    self.ub.add_block(self.ub.last_rows, z_cols, -s)
            prev_cols = cols
        last = net.layers[-1]
        keep = np.flatnonzero(prev_cols >= 0)
        wl = last.dense_weight()[:, keep]
        self.objective = np.zeros((last.out_features, self.n))
        self.objective[:, prev_cols[keep]] = wl
        self.offset = last.bias.copy()
        self.lb = np.concatenate(self._lb)
        self.ub_var = np.concatenate(self._ub)
        self.integrality = np.concatenate(self._int)
        self.A_eq, self.b_eq = self.eq.matrix(self.n)
        self.A_ub, self.b_ub = self.ub.matrix(self.n)
        self.cuts_a: list[np.ndarray] = []
        self.cuts_b: list[float] = []

    def _add(self, lb: np.ndarray, ub: np.ndarray, integer: int) -> np.ndarray:
        cols = np.arange(self.n, self.n + lb.size)
        self._lb.append(np.asarray(lb, dtype=np.float64))
        self._ub.append(np.asarray(ub, dtype=np.float64))
        self._int.append(np.full(lb.size, float(integer)))
        self.n += lb.size
        return cols

    # -- ℓ2 tangent cuts (valid for every output: shared) --------------------------------------

    def in_ball(self, x: np.ndarray) -> bool:
        r = self.region
        return float(np.linalg.norm(x[: self.d] - r.center)) <= r.eps * (1.0 + _BALL_TOL) + _BALL_ABS

    def add_cut(self, x: np.ndarray) -> bool:
        """Add the tangent cut ``g·(x − c) ≤ eps ‖g‖`` at the direction ``g = x − c`` (valid on the
        ball); False if there is none (x = c)."""
        r = self.region
        g = x[: self.d] - r.center
        norm = float(np.linalg.norm(g))
        if not norm > 0.0:
            return False
        g = g / norm
        row = np.zeros(self.n)
        row[: self.d] = g
        rhs = float(g @ r.center) + r.eps * float(np.linalg.norm(g))
        self.cuts_a.append(row)
        self.cuts_b.append(rhs + _FACE_SLACK * (abs(rhs) + r.eps + float(np.abs(g) @ np.abs(r.center))) + 1e-15)
        return True

    def without_ball_rows(self, y_ub: np.ndarray) -> np.ndarray:
        """``y_ub`` with the multipliers of the ball's outer approximation (ℓ1 rows, cuts) zeroed."""
        y = np.array(y_ub, dtype=np.float64)
        y[: self.ball_rows] = 0.0
        y[self.A_ub.shape[0] :] = 0.0
        return y

    def inequalities(self) -> tuple[sp.csr_array, np.ndarray]:
        if not self.cuts_a:
            return self.A_ub, self.b_ub
        return (
            sp.csr_array(sp.vstack([self.A_ub, sp.csr_array(np.vstack(self.cuts_a))])),
            np.concatenate([self.b_ub, np.asarray(self.cuts_b)]),
        )


class _Rows:
    """COO triplets of a constraint block, with its right-hand side."""

    def __init__(self) -> None:
        self.r: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.rhs: list[np.ndarray] = []
        self.count = 0
        self.last_rows = np.zeros(0, dtype=int)

    def add_triplets(self, rows, cols, vals) -> None:
        self.r.append(np.asarray(rows, dtype=np.int64))
        self.c.append(np.asarray(cols, dtype=np.int64))
        self.v.append(np.asarray(vals, dtype=np.float64))

    def extend_rhs(self, rhs) -> None:
        rhs = np.asarray(rhs, dtype=np.float64)
        self.rhs.append(rhs)
        self.count += rhs.size

    def add_block(self, local_rows, cols, vals, rhs=None) -> None:
        """Entries ``vals`` at ``cols`` of new rows (``rhs`` given) or of the rows just added."""
        local_rows = np.asarray(local_rows, dtype=np.int64)
        if rhs is not None:
            self.last_rows = self.count + local_rows
            self.add_triplets(self.last_rows, cols, vals)
            self.extend_rhs(rhs)
        else:
            self.add_triplets(local_rows, cols, vals)

    def add_row(self, cols, vals, rhs: float) -> None:
        self.add_block(np.zeros(len(cols), dtype=np.int64), cols, vals, np.array([rhs]))

    def matrix(self, n: int) -> tuple[sp.csr_array, np.ndarray]:
        if not self.r:
            return sp.csr_array((0, n)), np.zeros(0)
        m = sp.coo_array((np.concatenate(self.v), (np.concatenate(self.r), np.concatenate(self.c))), shape=(self.count, n))
        return sp.csr_array(m), np.concatenate(self.rhs)


def _multipliers(y_ub, y_eq) -> tuple[np.ndarray, np.ndarray]:
    """The solver's multipliers as usable ones: ``y_ub ≤ 0`` (the wrong sign clipped), NaN → 0."""
    y_ub = np.minimum(np.nan_to_num(np.asarray(y_ub, dtype=np.float64), nan=0.0), 0.0)
    return y_ub, np.nan_to_num(np.asarray(y_eq, dtype=np.float64), nan=0.0)


def _dual_bound(c, A_ub, b_ub, A_eq, b_eq, lb, ub, y_ub, y_eq, *, ball: Optional[InputRegion] = None) -> float:
    """``y_ub·b_ub + y_eq·b_eq + min_{lb ≤ v ≤ ub} (c − A_ubᵀ y_ub − A_eqᵀ y_eq)·v`` for any
    ``y_ub ≤ 0`` (entries of the wrong sign are clipped), any ``y_eq``: a lower bound of ``c·v``
    over ``{A_ub v ≤ b_ub, A_eq v = b_eq, lb ≤ v ≤ ub}``, minus the rounding-error bound of its
    float64 evaluation. ``-inf`` when a variable with a non-zero reduced cost is unbounded.

    With ``ball`` (an ℓ2 region whose ``d`` inputs are the first ``d`` variables) the input part
    of the minimum is taken over the region itself (:meth:`InputRegion.minimize_linear`) instead
    of its box: a lower bound over ``{… , x in ball}`` (the rows may then omit the ball's outer
    approximation)."""
    y_ub, y_eq = _multipliers(y_ub, y_eq)
    r = c - A_ub.T @ y_ub - A_eq.T @ y_eq
    r_abs = np.abs(c) + abs(A_ub).T @ np.abs(y_ub) + abs(A_eq).T @ np.abs(y_eq)
    with np.errstate(invalid="ignore"):
        box = np.where(r > 0, r * lb, r * ub)
    box = np.where(r == 0, 0.0, box)
    if ball is not None:
        d = ball.dim
        box = box.copy()
        box[:d] = 0.0
        box[0] = float(ball.minimize_linear(r[None, :d], np.zeros(1))[0])
    if not np.all(np.isfinite(box)):
        return -math.inf
    terms = [y_ub * b_ub, y_eq * b_eq, box]
    value = float(sum(float(np.sum(t)) for t in terms))
    mag = float(sum(float(np.sum(np.abs(t))) for t in terms)) + float(r_abs @ np.maximum(np.abs(lb), np.abs(ub)))
    longest = max(A_ub.shape[0], A_eq.shape[0], c.size) + 4
    return value - (longest + 2) * _UNIT * mag * 2.0 - 1e-300


def _check_intermediate(net: ReluNetwork, region: InputRegion, intermediate, who: str) -> None:
    if not isinstance(net, ReluNetwork):
        raise InvalidParameterError(f"{who}: expected a ReluNetwork, got {type(net).__name__}")
    if not isinstance(region, InputRegion):
        raise InvalidParameterError(f"{who}: expected an InputRegion, got {type(region).__name__}")
    if region.dim != net.num_inputs:
        raise InvalidParameterError(f"{who}: expected a region of {net.num_inputs} inputs, got {region.dim}")
    if not isinstance(intermediate, NetworkBounds):
        raise InvalidParameterError(f"{who}: expected intermediate NetworkBounds, got {type(intermediate).__name__}")
    sizes = net.hidden_sizes
    got = tuple(np.shape(v) for v in intermediate.pre_lower)
    if len(intermediate.pre_lower) != len(sizes) or len(intermediate.pre_upper) != len(sizes) or any(
        np.shape(lo) != (s,) or np.shape(hi) != (s,) for lo, hi, s in zip(intermediate.pre_lower, intermediate.pre_upper, sizes)
    ):
        raise InvalidParameterError(f"{who}: expected intermediate bounds of the hidden layers {sizes}, got {got}")
    for lo, hi in zip(intermediate.pre_lower, intermediate.pre_upper):
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo <= hi)):
            raise InvalidParameterError(f"{who}: expected finite intermediate bounds with lower <= upper, got otherwise")
    if np.shape(intermediate.out_lower) != (net.num_outputs,):
        raise InvalidParameterError(
            f"{who}: expected intermediate output bounds of {net.num_outputs} outputs, got shape {np.shape(intermediate.out_lower)}"
        )


def _check_time_limit(time_limit, who: str) -> Optional[float]:
    if time_limit is None:
        return None
    if not isinstance(time_limit, Real) or isinstance(time_limit, bool) or not time_limit > 0:
        raise InvalidParameterError(f"{who}: expected time_limit a number > 0 (seconds) or None, got {time_limit!r}")
    return float(time_limit)


def _remaining(deadline: Optional[float], outputs_left: int) -> Optional[float]:
    """This output's share of what remains of the call's time limit."""
    if deadline is None:
        return None
    return max(deadline - _time.perf_counter(), 0.0) / max(outputs_left, 1)


def lp_bounds(
    net: ReluNetwork,
    region: InputRegion,
    *,
    intermediate: NetworkBounds,
    time_limit: Optional[float] = None,
    l2_rounds: int = DEFAULT_L2_ROUNDS,
) -> LpOutcome:
    """A lower bound on each output of ``net`` over ``region`` by the triangle LP relaxation.

    Args:
        net: the network (pass the margin network to bound margins); ``k`` outputs.
        region: the input region (ℓ∞ or ℓ2 ball ∩ domain), ``d = net.num_inputs`` inputs.
        intermediate: sound bounds of every pre-activation (``pre_lower[i]``, ``pre_upper[i]``
            of shape ``(hidden_sizes[i],)``), e.g. :func:`~gsmooth.verification.interval_bounds`;
            ``out_lower`` ``(k,)`` is the fallback bound of an output whose LP did not finish.
        time_limit: seconds for the whole call (split evenly across the outputs still to solve),
            or ``None``.
        l2_rounds: most LP solves per output of the ℓ2 tangent-cut loop.

    Returns:
        :class:`LpOutcome`: ``lower`` ``(k,)`` (dual-based: see the module docstring), one status
        per output, the time.

    Raises:
        InvalidParameterError: a wrong network, region, intermediate bounds or time limit.
    """
    start = _time.perf_counter()
    _check_intermediate(net, region, intermediate, "lp_bounds")
    limit = _check_time_limit(time_limit, "lp_bounds")
    if not isinstance(l2_rounds, int) or isinstance(l2_rounds, bool) or l2_rounds < 1:
        raise InvalidParameterError(f"lp_bounds: expected l2_rounds an integer >= 1, got {l2_rounds!r}")
    deadline = None if limit is None else start + limit
    enc = _Encoding(net, region, intermediate, integer=False)
    k = net.num_outputs
    lower = np.asarray(intermediate.out_lower, dtype=np.float64).copy()
    status: list[str] = []
    bounds = np.column_stack([enc.lb, enc.ub_var])
    for j in range(k):
        c = enc.objective[j]
        best = -math.inf
        state = "outer"
        for _ in range(l2_rounds if enc.l2 else 1):
            share = _remaining(deadline, k - j)
            if share is not None and share <= 0.0:
                state = "time_limit"
                break
            A_ub, b_ub = enc.inequalities()
            options = {"presolve": True} if share is None else {"presolve": True, "time_limit": share}
            res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=enc.A_eq, b_eq=enc.b_eq, bounds=bounds, method="highs", options=options)
            if res.status != 0:
                state = "time_limit" if res.status == 1 else f"failed: {res.message}"
                break
            y_eq = res.eqlin.marginals if enc.A_eq.shape[0] else np.zeros(0)
            y_ub = res.ineqlin.marginals if A_ub.shape[0] else np.zeros(0)
            best = max(best, _dual_bound(c, A_ub, b_ub, enc.A_eq, enc.b_eq, enc.lb, enc.ub_var, y_ub, y_eq))
            if not enc.l2 or enc.in_ball(res.x):
                state = "optimal"
                break
            # the network's multipliers with the input part minimised over the ball itself
            y_net, y_eq_ok = _multipliers(enc.without_ball_rows(y_ub), y_eq)
            best = max(best, _dual_bound(c, A_ub, b_ub, enc.A_eq, enc.b_eq, enc.lb, enc.ub_var, y_net, y_eq_ok, ball=region))
            if not enc.add_cut(res.x):
                state = "optimal"
                break
        if math.isfinite(best) and state in ("optimal", "outer"):
            lower[j] = best + enc.offset[j]
        elif math.isfinite(best):  # a later round stopped early: the earlier rounds' bound holds
            lower[j] = max(best + enc.offset[j], lower[j])
        status.append(state)
    return LpOutcome(lower=lower, status=tuple(status), time=_time.perf_counter() - start)
