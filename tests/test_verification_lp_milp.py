"""The triangle LP relaxation (lp_bounds) and the big-M MILP (milp_minimum) against brute force.

The exact minimum of an output of a tiny network over a region is computed independently of the
encodings: for every activation pattern of all hidden neurons the network is affine on the set of
inputs with that pattern, so one LP over {x in the box, the pattern's sign constraints} (ℓ∞), or
one convex problem with the ball constraint (ℓ2, scipy's SLSQP), gives the pattern's minimum; the
smallest over the feasible patterns is the exact minimum.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
from scipy.optimize import linprog, minimize

from gsmooth.errors import GsmoothError, InvalidParameterError
from gsmooth.verification import AffineLayer, NetworkBounds, ReluNetwork, input_region, interval_bounds
from gsmooth.verification.lp import LpOutcome, _dual_bound, _Encoding, lp_bounds
from gsmooth.verification.milp import DEFAULT_CUTOFF_MARGIN, MilpOutcome, milp_minimum

# (seed, inputs, hidden widths): 1–2 hidden layers of 3–6 ReLUs, at most 9 neurons (512 patterns)
TINY = [(0, 2, (4,)), (1, 3, (3, 3)), (2, 4, (5,)), (3, 5, (4, 3)), (4, 6, (6,)), (5, 3, (5, 4)), (6, 2, (3, 6))]
# ℓ2 needs a cut loop per output (and SLSQP per pattern for the truth): fewer nets
L2_TINY = TINY[:4]


def nets_for(norm: str):
    return TINY if norm == "linf" else L2_TINY


def tiny_net(seed: int, d: int, hidden: tuple[int, ...], k: int = 3) -> ReluNetwork:
    rng = np.random.default_rng(seed)
    sizes = (d, *hidden, k)
    return ReluNetwork(
        tuple(
            AffineLayer(rng.normal(size=(o, i)) / math.sqrt(i), rng.normal(size=o) * 0.3)
            for i, o in zip(sizes[:-1], sizes[1:])
        ),
        input_shape=(d,),
    )


def tiny_region(seed: int, d: int, norm: str, eps: float | None = None):
    rng = np.random.default_rng(1000 + seed)
    center = rng.uniform(0.1, 0.9, d)
    return input_region(center, eps=eps if eps is not None else (0.35 if norm == "linf" else 0.5), norm=norm)


def _pattern_affine(net: ReluNetwork, pattern: np.ndarray):
    """For a 0/1 pattern of all hidden neurons: the sign rows ``G x ≤ h`` where it holds and the
    outputs ``A x + e`` there."""
    d = net.num_inputs
    A, e = np.eye(d), np.zeros(d)
    G, h = [], []
    pos = 0
    for layer in net.layers[:-1]:
        w = layer.dense_weight()
        A, e = w @ A, w @ e + layer.bias
        s = pattern[pos : pos + layer.out_features]
        pos += layer.out_features
        # active: z ≥ 0  ⇔ −z ≤ 0 ; inactive: z ≤ 0
        sign = np.where(s == 1, -1.0, 1.0)
        G.append(sign[:, None] * A)
        h.append(-sign * e)
        A, e = A * s[:, None], e * s
    w = net.layers[-1].dense_weight()
    return np.vstack(G), np.concatenate(h), w @ A, w @ e + net.layers[-1].bias


def brute_force_minimum(net: ReluNetwork, region) -> np.ndarray:
    """The exact minimum of every output over the region, by enumerating activation patterns."""
    lo, hi = region.box()
    best = np.full(net.num_outputs, np.inf)
    for pattern in itertools.product((0, 1), repeat=net.num_relus):
        G, h, A, e = _pattern_affine(net, np.array(pattern))
        for j in range(net.num_outputs):
            if region.norm == "linf":
                res = linprog(A[j], A_ub=G, b_ub=h, bounds=np.column_stack([lo, hi]), method="highs")
                if res.status == 2:
                    break  # the pattern's region is empty: same for every output
                assert res.status == 0, res.message
                best[j] = min(best[j], res.fun + e[j])
            else:
                value = _ball_minimum(A[j], G, h, lo, hi, region)
                if value is None:
                    break
                best[j] = min(best[j], value + e[j])
    return best


def _ball_minimum(a, G, h, lo, hi, region):
    """min a·x over {G x ≤ h, lo ≤ x ≤ hi, ‖x − c‖₂ ≤ eps}, or None when empty (SLSQP from several
    starts; an outer LP first discards the patterns empty even on the box)."""
    outer = linprog(np.zeros(a.size), A_ub=G, b_ub=h, bounds=np.column_stack([lo, hi]), method="highs")
    if outer.status == 2:
        return None
    c, eps = region.center, region.eps
    cons = [
        {"type": "ineq", "fun": lambda x: h - G @ x, "jac": lambda x: -G},
        {"type": "ineq", "fun": lambda x: eps**2 - (x - c) @ (x - c), "jac": lambda x: -2 * (x - c)},
    ]
    best = None
    for start in (outer.x, c, region.project(outer.x)):
        res = minimize(lambda x: a @ x, start, jac=lambda x: a, bounds=list(zip(lo, hi)), constraints=cons,
                       method="SLSQP", options={"ftol": 1e-13, "maxiter": 500})
        x = res.x
        feasible = np.all(G @ x <= h + 1e-9) and np.linalg.norm(x - c) <= eps + 1e-9 and np.all(x >= lo - 1e-12) and np.all(x <= hi + 1e-12)
        if feasible and (best is None or a @ x < best):
            best = float(a @ x)
    return best


@functools.lru_cache(maxsize=None)
def case(index: int, norm: str):
    """``(net, region, IBP bounds, exact minima)`` of ``TINY[index]`` (computed once per session)."""
    seed, d, hidden = TINY[index]
    net = tiny_net(seed, d, hidden)
    region = tiny_region(seed, d, norm)
    return net, region, interval_bounds(net, region), brute_force_minimum(net, region)


@functools.lru_cache(maxsize=None)
def exact_milp(index: int, norm: str) -> MilpOutcome:
    """The full minimisation of every output of ``case(index, norm)`` (computed once)."""
    net, region, ibp, _ = case(index, norm)
    return milp_minimum(net, region, intermediate=ibp, exact=True, stop_below=-1e9, l2_rounds=200)


def samples(region, n: int = 4000, seed: int = 0) -> np.ndarray:
    """Points of the region: random directions at random radii, the box's corners projected."""
    rng = np.random.default_rng(seed)
    d = region.dim
    dirs = rng.normal(size=(n, d))
    if region.norm == "linf":
        pts = region.center + region.eps * np.clip(dirs, -1, 1) * rng.uniform(0.5, 1.0, (n, 1))
        pts = np.vstack([pts, region.center + region.eps * np.sign(dirs)])
    else:
        pts = region.center + region.eps * dirs / np.linalg.norm(dirs, axis=1, keepdims=True) * rng.uniform(0.5, 1.0, (n, 1))
    out = np.array([region.project(p) for p in pts])
    assert all(region.contains(p, tol=1e-12) for p in out[:50])
    return out


# ------------------------------------------------------------------------------------------------
# exactness of the MILP
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(TINY)))
def test_milp_minimum_is_the_brute_force_minimum_linf(index):
    net, region, ibp, truth = case(index, "linf")
    out = exact_milp(index, "linf")
    assert isinstance(out, MilpOutcome) and out.status == ("optimal",) * 3
    assert np.allclose(out.value, truth, atol=1e-6), (out.value, truth)
    assert np.all(out.lower <= truth + 1e-9) and np.allclose(out.lower, truth, atol=1e-6)
    assert out.adversarial is None and out.adversarial_output is None


@pytest.mark.parametrize("index", range(len(L2_TINY)))
def test_milp_minimum_is_the_brute_force_minimum_l2(index):
    """On tiny nets the tangent-cut loop converges: the ℓ2 MILP is exact there (status optimal)."""
    net, region, ibp, truth = case(index, "l2")
    out = exact_milp(index, "l2")
    assert out.status == ("optimal",) * 3, out.status
    assert np.all(out.lower <= truth + 1e-9), (out.lower, truth)
    assert np.allclose(out.value, truth, atol=1e-5), (out.value, truth)
    assert np.allclose(out.lower, truth, atol=1e-5), (out.lower, truth)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_milp_with_few_cut_rounds_stays_sound(norm):
    """ℓ2 with one round only (the outer polytope): never above the truth, status says 'outer'."""
    seed, d, hidden = TINY[2]
    net = tiny_net(seed, d, hidden)
    region = tiny_region(seed, d, norm)
    truth = net.forward(samples(region)).min(axis=0)
    out = milp_minimum(net, region, intermediate=interval_bounds(net, region), exact=True, stop_below=-1e9, l2_rounds=1)
    assert np.all(out.lower <= truth + 1e-9)
    assert set(out.status) == ({"optimal"} if norm == "linf" else {"outer"})


# ------------------------------------------------------------------------------------------------
# the LP relaxation: IBP ≤ LP ≤ MILP, sound on samples, the dual bound
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_lp_lies_between_ibp_and_the_exact_minimum(norm):
    gains = []
    for index in range(len(nets_for(norm))):
        net, region, ibp, truth = case(index, norm)
        lp = lp_bounds(net, region, intermediate=ibp)
        milp = exact_milp(index, norm)
        assert isinstance(lp, LpOutcome) and lp.lower.shape == (3,) and len(lp.status) == 3
        assert set(lp.status) <= {"optimal", "outer"}
        assert np.all(ibp.out_lower <= lp.lower + 1e-9), (ibp.out_lower, lp.lower)
        assert np.all(lp.lower <= milp.lower + 1e-6) and np.all(lp.lower <= truth + 1e-9), (lp.lower, milp.lower, truth)
        gains.append(np.max(lp.lower - ibp.out_lower))
    assert max(gains) > 1e-3  # the LP is tighter than IBP somewhere (not IBP in disguise)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_lp_bound_holds_on_sampled_points_of_wider_nets(norm):
    rng = np.random.default_rng(7)
    sizes = (8, 12, 10, 4)
    net = ReluNetwork(tuple(AffineLayer(rng.normal(size=(o, i)), rng.normal(size=o)) for i, o in zip(sizes[:-1], sizes[1:])), input_shape=(8,))
    region = input_region(rng.uniform(0, 1, 8), eps=0.2 if norm == "linf" else 0.4, norm=norm)
    ibp = interval_bounds(net, region)
    lp = lp_bounds(net, region, intermediate=ibp)
    values = net.forward(samples(region, 20000))
    assert np.all(lp.lower <= values.min(axis=0) + 1e-9)
    assert np.all(lp.lower >= ibp.out_lower - 1e-9) and np.any(lp.lower > ibp.out_lower + 1e-3)


def test_sparse_weights_give_the_same_bounds():
    """Convolutions arrive as scipy.sparse weights: the encodings read them like dense ones."""
    import scipy.sparse as sp

    net, region, ibp, truth = case(3, "linf")
    sparse = ReluNetwork(tuple(AffineLayer(sp.csr_array(layer.weight), layer.bias) for layer in net.layers), net.input_shape)
    assert all(layer.sparse for layer in sparse.layers)
    assert np.allclose(lp_bounds(sparse, region, intermediate=ibp).lower, lp_bounds(net, region, intermediate=ibp).lower, atol=1e-9)
    out = milp_minimum(sparse, region, intermediate=ibp, exact=True, stop_below=-1e9)
    assert np.allclose(out.value, truth, atol=1e-6)


def test_lp_is_exact_without_unstable_neurons():
    """A linear network (one affine layer): the LP's bound is the exact minimum over the box."""
    rng = np.random.default_rng(3)
    net = ReluNetwork((AffineLayer(rng.normal(size=(3, 5)), rng.normal(size=3)),), input_shape=(5,))
    region = input_region(rng.uniform(0, 1, 5), eps=0.3, norm="linf")
    out = lp_bounds(net, region, intermediate=interval_bounds(net, region))
    exact = region.minimize_linear(net.layers[0].weight, net.layers[0].bias)
    assert out.status == ("optimal",) * 3 and np.allclose(out.lower, exact, atol=1e-9) and np.all(out.lower <= exact + 1e-12)


def test_lp_is_exact_where_the_triangle_is_the_convex_hull():
    """One input, one hidden layer, one unstable neuron: the triangle is the convex hull of the
    ReLU's graph, so the LP's bound is the exact minimum (a missing face of the triangle shows)."""
    w1 = np.array([[1.0], [1.0], [-1.0], [2.0]])
    b1 = np.array([-0.4, 1.0, -1.5, 0.5])  # unstable, active, inactive, active on [0, 1]
    w2 = np.array([[-1.0, 1.0, 0.7, 0.0], [2.0, -1.0, 0.0, 0.3], [-3.0, 0.0, 1.0, 1.0], [1.0, 0.5, 0.0, -0.5]])
    net = ReluNetwork((AffineLayer(w1, b1), AffineLayer(w2, np.zeros(4))), input_shape=(1,))
    region = input_region(np.array([0.5]), eps=0.5, norm="linf")
    ibp = interval_bounds(net, region)
    assert [int(((lo < 0) & (hi > 0)).sum()) for lo, hi in zip(ibp.pre_lower, ibp.pre_upper)] == [1]
    out = lp_bounds(net, region, intermediate=ibp)
    truth = brute_force_minimum(net, region)
    assert np.allclose(out.lower, truth, atol=1e-7) and np.all(out.lower <= truth + 1e-12), (out.lower, truth)


def test_dual_bound_is_a_lower_bound_for_any_multipliers():
    """The reported LP bound is evaluated from the multipliers: any multipliers (here HiGHS's,
    perturbed) give a bound never above the LP's optimum, and HiGHS's own give the optimum."""
    seed, d, hidden = TINY[1]
    net = tiny_net(seed, d, hidden)
    region = tiny_region(seed, d, "linf")
    ibp = interval_bounds(net, region)
    enc = _Encoding(net, region, ibp, integer=False)
    bounds = np.column_stack([enc.lb, enc.ub_var])
    rng = np.random.default_rng(0)
    for j in range(net.num_outputs):
        c = enc.objective[j]
        res = linprog(c, A_ub=enc.A_ub, b_ub=enc.b_ub, A_eq=enc.A_eq, b_eq=enc.b_eq, bounds=bounds, method="highs")
        assert res.status == 0
        exact = _dual_bound(c, enc.A_ub, enc.b_ub, enc.A_eq, enc.b_eq, enc.lb, enc.ub_var, res.ineqlin.marginals, res.eqlin.marginals)
        assert exact <= res.fun + 1e-12 and abs(exact - res.fun) < 1e-7
        for _ in range(50):
            y_ub = res.ineqlin.marginals + rng.normal(size=res.ineqlin.marginals.size) * 0.3
            y_eq = res.eqlin.marginals + rng.normal(size=res.eqlin.marginals.size) * 0.3
            assert _dual_bound(c, enc.A_ub, enc.b_ub, enc.A_eq, enc.b_eq, enc.lb, enc.ub_var, y_ub, y_eq) <= res.fun + 1e-12


def test_dual_bound_over_the_ball_is_sound_for_any_multipliers():
    """ℓ2: the network rows' multipliers with the input part minimised over the ball: never above
    the exact minimum over the ball, and never below the box version for the same multipliers."""
    net, region, ibp, truth = case(1, "l2")
    enc = _Encoding(net, region, ibp, integer=False)
    bounds = np.column_stack([enc.lb, enc.ub_var])
    rng = np.random.default_rng(1)
    for j in range(net.num_outputs):
        c = enc.objective[j]
        res = linprog(c, A_ub=enc.A_ub, b_ub=enc.b_ub, A_eq=enc.A_eq, b_eq=enc.b_eq, bounds=bounds, method="highs")
        for t in range(30):
            noise = 0.0 if t == 0 else 0.2
            y_ub = enc.without_ball_rows(res.ineqlin.marginals + noise * rng.normal(size=res.ineqlin.marginals.size))
            y_eq = res.eqlin.marginals + noise * rng.normal(size=res.eqlin.marginals.size)
            args = (c, enc.A_ub, enc.b_ub, enc.A_eq, enc.b_eq, enc.lb, enc.ub_var, y_ub, y_eq)
            on_ball = _dual_bound(*args, ball=region) + enc.offset[j]
            assert on_ball <= truth[j] + 1e-9
            assert on_ball >= _dual_bound(*args) + enc.offset[j] - 1e-9


def test_dual_bound_ignores_multipliers_of_the_wrong_sign():
    """min v over 0 ≤ v ≤ 10, v ≤ 5 is 0; a positive multiplier on the ≤ row (wrong sign) would
    claim 5 if it were used."""
    import scipy.sparse as sp

    one = sp.csr_array(np.ones((1, 1)))
    none = sp.csr_array((0, 1))
    args = (np.array([1.0]), one, np.array([5.0]), none, np.zeros(0), np.array([0.0]), np.array([10.0]))
    assert _dual_bound(*args, np.array([1.0]), np.zeros(0)) <= 0.0
    assert _dual_bound(*args, np.array([0.0]), np.zeros(0)) == pytest.approx(0.0, abs=1e-12)


# ------------------------------------------------------------------------------------------------
# counterexamples, the sign question, stopping
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("exact", [True, False])
def test_counterexamples_are_in_the_region_and_below_stop_below(norm, exact):
    found = 0
    for index in range(len(nets_for(norm))):
        net, region, ibp, truth = case(index, norm)
        d = net.num_inputs
        stop = float(np.sort(truth)[1]) + 0.05  # at least two outputs have a minimum below it
        out = milp_minimum(net, region, intermediate=ibp, stop_below=stop, exact=exact, l2_rounds=200)
        first = int(np.flatnonzero(truth < stop)[0])
        assert out.adversarial_output == first, (out.status, truth, stop)
        x = out.adversarial
        assert x is not None and x.shape == (d,) and region.contains(x, tol=1e-12)
        assert net.forward(x)[0, first] < stop
        assert out.status[first] == "counterexample" and out.status[first + 1 :] == ("not_reached",) * (2 - first)
        assert np.all(out.lower[:first] > stop)
        found += 1
    assert found == len(nets_for(norm))


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_sign_question_proves_what_the_minimum_says(norm):
    solved = 0
    for index in range(len(nets_for(norm))):
        net, region, ibp, truth = case(index, norm)
        below = float(truth.min()) - 0.01  # every output is above: all proved
        out = milp_minimum(net, region, intermediate=ibp, stop_below=below, l2_rounds=200)
        assert out.adversarial is None and set(out.status) == {"cutoff"}, out.status
        assert np.all(out.lower >= below + DEFAULT_CUTOFF_MARGIN - 1e-15)
        assert np.all(out.lower <= truth + 1e-9)
        solved += int(np.sum(ibp.out_lower <= below))  # outputs IBP alone does not decide
    assert solved > 0


def test_sign_question_within_the_cutoff_margin_falls_back_to_the_minimum():
    """stop_below a hair under the minimum: the cut-off (stop_below + margin) is above the minimum,
    so the sign question finds a point that is not below stop_below and minimises instead; the
    bound it reports never exceeds the minimum."""
    net, region, ibp, truth = case(2, "linf")
    j = int(np.argmin(truth))
    stop = float(truth[j]) - DEFAULT_CUTOFF_MARGIN / 2
    out = milp_minimum(net, region, intermediate=ibp, stop_below=stop)
    assert out.adversarial is None
    assert out.status[j] == "optimal" and np.all(out.lower <= truth + 1e-9), (out.status, out.lower, truth)


@pytest.mark.parametrize("exact", [True, False])
def test_a_point_that_fails_the_recheck_is_no_counterexample(monkeypatch, exact):
    """The solver's point re-evaluated by the network is what counts: when the re-check says it
    is not below stop_below (here faked: +1), there is no adversarial and the output is undecided."""
    from gsmooth.verification import milp as milp_module

    net, region, ibp, truth = case(0, "linf")
    real = milp_module._Solver.check

    def fake(self, res, j):
        point, v, inside = real(self, res, j)
        return point, v + 1.0, inside

    monkeypatch.setattr(milp_module._Solver, "check", fake)
    out = milp_minimum(net, region, intermediate=ibp, stop_below=float(truth[0]) + 0.5, exact=exact)
    assert out.adversarial is None and out.adversarial_output is None
    assert out.status[0] == "undecided" and out.lower[0] <= truth[0] + 1e-9


def test_sign_mode_skips_nothing_it_has_not_proved():
    """stop_below above every minimum: the first output is a counterexample, even in sign mode."""
    net, region, ibp, truth = case(0, "linf")
    out = milp_minimum(net, region, intermediate=ibp, stop_below=float(truth.max()) + 1.0)
    assert out.adversarial_output == 0 and out.status == ("counterexample", "not_reached", "not_reached")


# ------------------------------------------------------------------------------------------------
# time limits
# ------------------------------------------------------------------------------------------------


def _hard_net():
    rng = np.random.default_rng(11)
    sizes = (40, 60, 60, 5)
    net = ReluNetwork(tuple(AffineLayer(rng.normal(size=(o, i)) / math.sqrt(i), rng.normal(size=o) * 0.1) for i, o in zip(sizes[:-1], sizes[1:])), input_shape=(40,))
    return net, input_region(rng.uniform(0.3, 0.7, 40), eps=0.3, norm="linf")


def test_milp_time_limit_is_honoured_and_the_bound_stays_sound():
    import time

    net, region = _hard_net()
    ibp = interval_bounds(net, region)
    start = time.perf_counter()
    out = milp_minimum(net, region, intermediate=ibp, exact=True, stop_below=-1e9, time_limit=2.0)
    elapsed = time.perf_counter() - start
    assert "time_limit" in out.status, out.status
    assert elapsed < 2.0 + 3.0 and out.time <= elapsed
    truth = net.forward(samples(region, 5000)).min(axis=0)
    assert np.all(out.lower <= truth + 1e-9) and np.all(out.lower >= ibp.out_lower)


def test_outputs_out_of_their_share_get_a_second_try(monkeypatch):
    """An output that ran out of its share of the time limit is solved again with what is left."""
    from gsmooth.verification import milp as milp_module

    net, region, ibp, truth = case(0, "linf")
    calls = []
    real = milp_module._solve_output

    def first_try_times_out(solver, j, left, deadline, *args):
        calls.append((j, left))
        if len(calls) == 1:
            return -math.inf, math.nan, "time_limit", None
        return real(solver, j, left, deadline, *args)

    monkeypatch.setattr(milp_module, "_solve_output", first_try_times_out)
    out = milp_minimum(net, region, intermediate=ibp, stop_below=float(truth.min()) - 0.01, time_limit=30.0)
    assert [j for j, _ in calls] == [0, 1, 2, 0] and calls[-1][1] == 1
    assert out.status == ("cutoff",) * 3


def test_lp_time_limit_falls_back_to_the_intermediate_bound():
    net, region = _hard_net()
    ibp = interval_bounds(net, region)
    out = lp_bounds(net, region, intermediate=ibp, time_limit=1e-6)
    assert out.status == ("time_limit",) * 5
    assert np.array_equal(out.lower, ibp.out_lower)


# ------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------


def test_bad_arguments_get_typed_errors():
    seed, d, hidden = TINY[0]
    net = tiny_net(seed, d, hidden)
    region = tiny_region(seed, d, "linf")
    ibp = interval_bounds(net, region)
    wrong = NetworkBounds(ibp.pre_lower + ibp.pre_lower, ibp.pre_upper + ibp.pre_upper, ibp.out_lower, ibp.out_upper)
    crossed = NetworkBounds(ibp.pre_upper, ibp.pre_lower, ibp.out_lower, ibp.out_upper)
    cases = [
        lambda: lp_bounds(net, region, intermediate=wrong),
        lambda: milp_minimum(net, region, intermediate=crossed),
        lambda: lp_bounds(net, region, intermediate=ibp, time_limit=0),
        lambda: milp_minimum(net, region, intermediate=ibp, time_limit=-1.0),
        lambda: milp_minimum(net, region, intermediate=ibp, stop_below=float("nan")),
        lambda: milp_minimum(net, tiny_region(1, 3, "linf"), intermediate=ibp),
        lambda: lp_bounds(net, region, intermediate=None),
        lambda: milp_minimum(net, region, intermediate=ibp, exact="yes"),
    ]
    for case in cases:
        with pytest.raises(InvalidParameterError, match="expected") as info:
            case()
        assert isinstance(info.value, (GsmoothError, ValueError))
