"""Tests of gsmooth.verification.verify (the YES / NO / MAYBE rules) and .search (the radius bisection).

Networks are built from numpy matrices and everything runs on the real code, except where a rule can
only be shown with a solver or encoder that misbehaves (a MILP returning a point outside the region,
a proof together with a counterexample, a time limit, a faulty encoding): there a small fake with the
specified signature replaces the module (``gsmooth.verification.<name>`` put in ``sys.modules``).
The real methods end to end: ``tests/test_verification_integration.py``.
"""

from __future__ import annotations

import importlib
import math
import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

from gsmooth.errors import GsmoothError, InputError, InvalidParameterError
from gsmooth.verification import AffineLayer, NetworkBounds, ReluNetwork, input_region, interval_bounds
from gsmooth.verification import largest_certified_radius, verify

VMOD = importlib.import_module("gsmooth.verification.verify")
METHODS = ("ibp", "crown", "lp", "milp")


def linear_net(w, b=None) -> ReluNetwork:
    w = np.asarray(w, dtype=np.float64)
    return ReluNetwork((AffineLayer(w, np.zeros(w.shape[0]) if b is None else np.asarray(b, float)),), input_shape=(w.shape[1],))


def random_net(seed: int, sizes=(4, 6, 3)) -> ReluNetwork:
    rng = np.random.default_rng(seed)
    layers = tuple(AffineLayer(rng.normal(size=(o, i)), rng.normal(size=o) * 0.1) for i, o in zip(sizes[:-1], sizes[1:]))
    return ReluNetwork(layers, input_shape=(sizes[0],))


# ------------------------------------------------------------------------------------------------
# fakes of the parallel modules (their specified signatures)
# ------------------------------------------------------------------------------------------------


class Calls(list):
    pass


def install(monkeypatch, name: str, **functions) -> types.ModuleType:
    module = types.ModuleType(f"gsmooth.verification.{name}")
    for key, fn in functions.items():
        setattr(module, key, fn)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def exact_linear_milp(monkeypatch, *, status="optimal", calls=None, adversarial=None):
    """An exact MILP for 0-hidden-layer nets under linf: the minimum of each output over the box,
    and its minimiser as the adversarial of the first output below ``stop_below``."""

    def milp_minimum(net, region, *, intermediate, time_limit=None, stop_below=0.0):
        if calls is not None:
            calls.append(dict(net=net, intermediate=intermediate, time_limit=time_limit, stop_below=stop_below))
        assert len(net.layers) == 1 and region.norm == "linf"
        w, c = net.layers[0].dense_weight(), net.layers[0].bias
        lo, hi = region.box()
        values = region.minimize_linear(w, c)
        adv, out = None, None
        for j in range(len(values)):
            if values[j] < stop_below:
                adv = np.where(w[j] > 0, lo, hi) if adversarial is None else adversarial(region)
                out = j
                break
        return types.SimpleNamespace(lower=values, value=values, status=tuple(status for _ in values), adversarial=adv,
                                     adversarial_output=out, time=0.0)

    install(monkeypatch, "milp", milp_minimum=milp_minimum)


# ------------------------------------------------------------------------------------------------
# the rules
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_misclassified_is_no_with_x_itself_whatever_the_method(monkeypatch, method):
    def refuse(*a, **k):
        raise AssertionError("a misclassified input needs no bound")

    for name, fn in (("crown", "crown_bounds"), ("lp", "lp_bounds"), ("milp", "milp_minimum")):
        install(monkeypatch, name, **{fn: refuse})
    net = random_net(0)
    x = np.array([0.3, 0.7, 0.1, 0.9])
    pred = int(np.argmax(net.forward(x)))
    wrong = (pred + 1) % 3
    v = verify(net, x, wrong, method=method, norm="linf", eps=0.05)
    assert (v.answer, v.status, v.prediction, v.adversarial_class) == ("NO", "misclassified", pred, pred)
    assert np.array_equal(v.adversarial, x) and v.adversarial.shape == net.input_shape
    # the margins are IBP's lower bounds: below the true margin at x itself
    z = net.forward(x)[0]
    assert set(v.margins) == {t for t in range(3) if t != wrong}
    assert all(v.margins[t] <= z[wrong] - z[t] + 1e-12 for t in v.margins) and v.margins[pred] < 0


@pytest.mark.parametrize("bound, answer", [(1.001e-3, "YES"), (1e-3, "MAYBE"), (0.999e-3, "MAYBE"), (-1.0, "MAYBE")])
def test_yes_only_when_every_margin_bound_exceeds_the_tolerance(monkeypatch, bound, answer):
    net = linear_net([[1.0, 0.0], [0.0, 1.0], [0.0, 0.5]])
    x = np.array([0.8, 0.2])

    def fake_ibp(margin_net, region):
        k = margin_net.num_outputs
        return NetworkBounds((), (), np.array([5.0] * (k - 1) + [bound]), np.full(k, 9.0), "ibp")

    monkeypatch.setattr(VMOD, "interval_bounds", fake_ibp)
    v = verify(net, x, 0, method="ibp", norm="linf", eps=0.01, tolerance=1e-3)
    assert v.answer == answer and v.status == ("proved" if answer == "YES" else "undecided")
    assert v.margins == {1: 5.0, 2: bound} and v.adversarial is None and v.adversarial_class is None
    # crown is CROWN ∩ IBP: the fake IBP's bound decides even when CROWN's is looser
    def loose_crown(margin_net, region, *, intermediate=None):
        k = margin_net.num_outputs
        return NetworkBounds((), (), np.full(k, -7.0), np.full(k, 9.0), "crown")

    install(monkeypatch, "crown", crown_bounds=loose_crown)
    assert verify(net, x, 0, method="crown", norm="linf", eps=0.01, tolerance=1e-3).answer == answer


def test_linear_margins_are_exact_and_answers_follow_them():
    net = linear_net([[2.0, -1.0], [0.5, 1.0]], [0.1, 0.0])
    x = np.array([0.6, 0.3])
    margin = (2.0 * 0.6 - 0.3 + 0.1) - (0.5 * 0.6 + 0.3)  # 0.4
    for norm, dual in (("linf", 1.5 + 2.0), ("l2", math.hypot(1.5, 2.0))):
        v = verify(net, x, 0, method="ibp", norm=norm, eps=0.1, domain=None)
        assert v.answer == "YES" and v.margins[1] == pytest.approx(margin - 0.1 * dual, abs=1e-12)
        assert verify(net, x, 0, method="ibp", norm=norm, eps=margin / dual + 1e-4, domain=None).answer == "MAYBE"


def test_milp_no_needs_a_checked_adversarial_in_the_region(monkeypatch):
    net = linear_net([[1.0, 0.0], [0.0, 1.0]])
    x = np.array([0.8, 0.2])  # margin 0.6, linf radius 0.3 (domain [0, 1] does not bind)
    v = verify(net, x, 0, method="milp", norm="linf", eps=0.35)  # the real MILP
    assert (v.answer, v.status, v.adversarial_class) == ("NO", "counterexample", 1)
    assert np.max(np.abs(v.adversarial - x)) <= 0.35 + 1e-12 and np.all((0 <= v.adversarial) & (v.adversarial <= 1))
    z = net.forward(v.adversarial)[0]
    assert z[1] > z[0] and v.margins[1] == pytest.approx(-0.1)
    # a point far outside the region (and the domain), misclassified there; projected onto the region it
    # is classified 0 (the projection is (1.0, 0.55), margin 0.45): not a NO
    far = np.array([1.0, 1.5])
    assert np.argmax(net.forward(far)) == 1
    exact_linear_milp(monkeypatch, adversarial=lambda region: far)
    v = verify(net, x, 0, method="milp", norm="linf", eps=0.35)
    assert (v.answer, v.status, v.adversarial, v.adversarial_class) == ("MAYBE", "undecided", None, None)
    # a MILP claiming a proof together with a checked counterexample: the counterexample wins (never a false YES)
    def contradictory_milp(net_, region, *, intermediate, time_limit=None, stop_below=0.0):
        k = net_.num_outputs
        return types.SimpleNamespace(lower=np.full(k, 1.0), value=np.full(k, 1.0), status=("optimal",) * k,
                                     adversarial=np.array([0.45, 0.55]), adversarial_output=0, time=0.0)

    install(monkeypatch, "milp", milp_minimum=contradictory_milp)
    assert verify(net, x, 0, method="milp", norm="linf", eps=0.35).answer == "NO"
    # a point a hair outside (1e-7 beyond eps), misclassified after projection: a NO inside the region
    hair = np.array([0.8 - 0.35 - 1e-7, 0.2 + 0.35 + 1e-7])
    exact_linear_milp(monkeypatch, adversarial=lambda region: hair)
    v = verify(net, x, 0, method="milp", norm="linf", eps=0.35)
    assert v.answer == "NO" and np.max(np.abs(v.adversarial - x)) <= 0.35 + 1e-12


def test_milp_time_limit_is_maybe_and_only_open_margins_reach_the_milp(monkeypatch):
    milp_calls = Calls()
    exact_linear_milp(monkeypatch, status="time_limit", calls=milp_calls, adversarial=lambda region: None)
    # margins: z0 - z1 = x0 - x1 (0.6: proved by IBP at eps 0.35? no: 0.6 - 0.7 < 0), z0 - z2 = x0 + 5 (always proved)
    net = linear_net([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], [0.0, 0.0, -5.0])
    x = np.array([0.8, 0.2])
    v = verify(net, x, 0, method="milp", norm="linf", eps=0.35, time_limit=7.5)
    assert (v.answer, v.status) == ("MAYBE", "time_limit")
    (call,) = milp_calls
    assert call["net"].num_outputs == 1 and call["time_limit"] == 7.5 and call["stop_below"] > 1e-6
    assert np.allclose(call["net"].layers[-1].dense_weight(), [[1.0, -1.0]])  # only target 1 is open
    assert call["intermediate"].out_lower.shape == (1,)
    assert set(v.margins) == {1, 2} and v.margins[2] > 5
    # everything proved by CROWN ∩ IBP: no MILP at all
    milp_calls.clear()
    assert verify(net, x, 0, method="milp", norm="linf", eps=0.1).answer == "YES" and not milp_calls


def test_lp_takes_crown_ibp_intermediates_and_keeps_the_tighter_bound(monkeypatch):
    from gsmooth.verification import crown_bounds

    seen = Calls()

    def lp_bounds(net, region, *, intermediate, time_limit=None):
        seen.append(intermediate)
        k = net.num_outputs
        lower = np.full(k, -100.0)
        lower[0] = np.nan  # no bound at all for that output (NaN never replaces a sound one)
        return types.SimpleNamespace(lower=lower, status=("time_limit",) * k, time=0.0)

    install(monkeypatch, "lp", lp_bounds=lp_bounds)
    net = random_net(1)
    x = np.array([0.5, 0.5, 0.5, 0.5])
    label = int(np.argmax(net.forward(x)))
    margin_net, region = net.margin_network(label)[0], input_region(x, eps=0.5, norm="linf")
    ibp = interval_bounds(margin_net, region)
    crown = crown_bounds(margin_net, region, intermediate=ibp).intersect(ibp)
    assert not np.all(crown.out_lower > 0)  # CROWN ∩ IBP alone does not decide
    v = verify(net, x, label, method="lp", norm="linf", eps=0.5)
    assert seen[0].method == "crown" and np.allclose(seen[0].pre_lower[0], crown.pre_lower[0])
    assert np.array_equal(seen[0].out_lower, crown.out_lower)
    assert list(v.margins.values()) == pytest.approx(crown.out_lower.tolist())  # max(LP, CROWN ∩ IBP)
    assert v.answer == "MAYBE" and v.status == "time_limit"


def test_torch_model_must_agree_for_a_no_and_encoding_is_cached(monkeypatch):
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.eye(2))
        model[1].bias.zero_()
    encoded = Calls()
    shift = {"bias": 0.0}

    def relu_network(m, *, input_shape):
        encoded.append(input_shape)
        w = m[1].weight.detach().double().numpy()
        b = m[1].bias.detach().double().numpy() + np.array([0.0, shift["bias"]])
        return ReluNetwork((AffineLayer(w, b),), input_shape=input_shape)

    install(monkeypatch, "extract", relu_network=relu_network)
    x = torch.tensor([[[0.8, 0.2]]])  # (C, H, W) = (1, 1, 2)
    v = verify(model, x, 0, method="milp", norm="linf", eps=0.35)
    assert v.answer == "NO" and v.adversarial.shape == (1, 1, 2) and v.adversarial_class == 1
    assert np.array_equal(v.adversarial.astype(np.float32).astype(np.float64), v.adversarial)  # float32 exact
    assert int(model(torch.as_tensor(v.adversarial, dtype=torch.float32)[None]).argmax()) == 1
    verify(model, x, 0, method="ibp", norm="linf", eps=0.1)
    assert encoded == [(1, 1, 2)]  # once per model
    # the network says class 1 at a point where the torch model still says 0: not a NO
    with torch.no_grad():
        model[1].bias.copy_(torch.tensor([0.0, -0.2]))  # in place: re-encoded
    shift["bias"] = 0.2  # (a faulty encoding, the net's bias back at 0)
    point = np.array([0.46, 0.54])  # torch: 0.46 vs 0.34 → 0; net: 0.46 vs 0.54 → 1
    exact_linear_milp(monkeypatch, adversarial=lambda region: point)
    v = verify(model, x, 0, method="milp", norm="linf", eps=0.35)
    assert len(encoded) == 2 and (v.answer, v.status) == ("MAYBE", "undecided")


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(method="pgd"), InvalidParameterError, "method one of ibp, crown, lp, milp, got 'pgd'"),
    (dict(norm="l1"), InvalidParameterError, "norm one of linf, l2, got 'l1'"),
    (dict(eps=-0.1), InvalidParameterError, "eps a finite number >= 0, got -0.1"),
    (dict(eps=float("nan")), InvalidParameterError, "eps a finite number >= 0, got nan"),
    (dict(eps=True), InvalidParameterError, "eps a finite number >= 0, got True"),
    (dict(label=3), InvalidParameterError, "a label in 0..2, got 3"),
    (dict(label=1.0), InvalidParameterError, "a label in 0..2, got 1.0"),
    (dict(x=np.zeros(3)), InputError, "expected x with 4 values (input shape (4,)), got shape (3,)"),
    (dict(x=np.array([0.5, 0.5, 0.5, 1.5])), InvalidParameterError, "expected the center inside the domain"),
    (dict(x=np.array([0.5, np.nan, 0.5, 0.5]), domain=None), InputError, "expected a finite x, got NaN"),
    (dict(domain=(1.0, 0.0)), InvalidParameterError, "domain (low, high) with finite low <= high, or None, got (1.0, 0.0)"),
    (dict(time_limit=0), InvalidParameterError, "time_limit a finite number > 0 or None, got 0"),
    (dict(tolerance=-1e-9), InvalidParameterError, "tolerance a finite number >= 0, got -1e-09"),
    (dict(model_or_net="net.pt"), TypeError, "a torch.nn.Module or a ReluNetwork, got str"),
    (dict(x="abc"), TypeError, "x a tensor or array of numbers, got str"),
])
def test_bad_input_is_a_typed_error_saying_expected_got(kwargs, error, words):
    args = dict(model_or_net=random_net(0), x=np.full(4, 0.5), label=0, method="ibp", norm="linf", eps=0.1)
    args.update(kwargs)
    with pytest.raises(error) as exc:
        verify(args.pop("model_or_net"), args.pop("x"), args.pop("label"), **args)
    assert isinstance(exc.value, GsmoothError) and "expected" in str(exc.value) and words in str(exc.value)


def test_torch_model_needs_an_image_shaped_input():
    with pytest.raises(InputError, match=r"expected x of shape \(C, H, W\) for a torch model, got shape \(4,\)"):
        verify(nn.Linear(4, 2), torch.zeros(4), 0, method="ibp", norm="linf", eps=0.1)


# ------------------------------------------------------------------------------------------------
# the radius search
# ------------------------------------------------------------------------------------------------


def exact_radius(w, b, x, label, norm) -> float:
    z = w @ x + b
    order = 1 if norm == "linf" else 2
    return min((z[label] - z[t]) / np.linalg.norm(w[label] - w[t], ord=order) for t in range(len(z)) if t != label)


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_radius_search_brackets_and_bisects_to_the_closed_form(norm, seed):
    rng = np.random.default_rng(seed)
    w, b = rng.normal(size=(3, 5)), rng.normal(size=3) * 0.1
    x = rng.uniform(size=5)
    label = int(np.argmax(w @ x + b))
    exact = exact_radius(w, b, x, label, norm)
    tol = 1e-4
    r = largest_certified_radius(linear_net(w, b), x, label, method="ibp", norm=norm, eps_max=4 * exact + 0.1, tol=tol,
                                 domain=None)
    slack = 1e-6 / min(np.linalg.norm(w[label] - w[t], ord=1 if norm == "linf" else 2) for t in range(3) if t != label)
    assert exact - tol - slack <= r.radius <= exact, (r.radius, exact)
    assert exact - slack <= r.upper <= r.radius + tol
    assert r.eps[:2] == [0.0, 4 * exact + 0.1] and len(r.steps) <= 2 + math.ceil(math.log2((4 * exact + 0.1) / tol))
    for v in r.steps:  # every YES inside the true radius, every other answer beyond it
        assert (v.eps <= exact) if v.answer == "YES" else (v.eps >= exact - slack)
        assert v.answer in ("YES", "MAYBE")
    assert r.radius in [v.eps for v in r.steps if v.answer == "YES"]
    assert r.time >= sum(v.time for v in r.steps)


def test_radius_search_edges_and_arguments():
    net = linear_net([[1.0, 0.0], [0.0, 1.0]])
    x = np.array([0.8, 0.2])
    r = largest_certified_radius(net, x, 0, method="ibp", norm="linf", eps_max=0.1, tol=1e-3, domain=None)
    assert (r.radius, r.upper, r.eps) == (0.1, math.inf, [0.0, 0.1])  # proved at the bracket's top
    r = largest_certified_radius(net, x, 1, method="ibp", norm="linf", eps_max=0.5, tol=1e-3)
    assert (r.radius, r.upper, [v.status for v in r.steps]) == (0.0, 0.0, ["misclassified"])
    for bad in (dict(eps_max=0.0), dict(tol=-1.0), dict(tol=float("inf")), dict(tol=1e-30)):
        args = dict(eps_max=0.5, tol=1e-3) | bad
        with pytest.raises(InvalidParameterError, match="expected .*got"):
            largest_certified_radius(net, x, 0, method="ibp", norm="linf", **args)


def test_radius_search_on_a_relu_net_returns_a_proved_radius():
    net = random_net(3, sizes=(4, 8, 8, 3))
    x = np.array([0.2, 0.4, 0.6, 0.8])
    label = int(np.argmax(net.forward(x)))
    r = largest_certified_radius(net, x, label, method="ibp", norm="l2", eps_max=1.0, tol=1e-3)
    assert 0 < r.radius < r.upper <= r.radius + 1e-3
    for eps in np.linspace(0, r.radius, 5):  # a YES at r certifies every smaller ball (IBP: monotone too)
        assert verify(net, x, label, method="ibp", norm="l2", eps=float(eps)).answer == "YES"
    rng = np.random.default_rng(0)  # and no sampled point of the certified ball is misclassified
    d = rng.normal(size=(2000, 4))
    pts = np.clip(x + d / np.linalg.norm(d, axis=1, keepdims=True) * r.radius * rng.uniform(size=(2000, 1)), 0, 1)
    assert np.all(np.argmax(net.forward(pts), axis=1) == label)


def test_milp_search_upper_is_the_smallest_counterexample(monkeypatch):
    net = linear_net([[1.0, 0.0], [0.0, 1.0]])
    x = np.array([0.8, 0.2])  # exact radius 0.3
    r = largest_certified_radius(net, x, 0, method="milp", norm="linf", eps_max=0.5, tol=1e-3)
    assert 0.3 - 1e-3 <= r.radius <= 0.3 < r.upper <= r.radius + 1e-3
    nos = [v for v in r.steps if v.answer == "NO"]
    assert nos and r.upper == min(v.eps for v in nos)
    for v in nos:
        assert np.max(np.abs(v.adversarial - x)) <= v.eps and np.argmax(net.forward(v.adversarial)) == 1
    # a MILP that never finds a point: MAYBE is no upper bound
    exact_linear_milp(monkeypatch, status="time_limit", adversarial=lambda region: None)
    r = largest_certified_radius(net, x, 0, method="milp", norm="linf", eps_max=0.5, tol=1e-3)
    assert r.upper == math.inf and 0.3 - 1e-3 <= r.radius <= 0.3
    assert {v.status for v in r.steps if v.answer != "YES"} == {"time_limit"}
