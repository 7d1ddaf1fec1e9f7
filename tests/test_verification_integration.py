"""Integration tests of the merged verifier (issue 14) on the real code paths: the torch encoder,
IBP, CROWN, the triangle LP and the big-M MILP through :func:`gsmooth.verification.verify`,
:func:`~gsmooth.verification.largest_certified_radius` and ``gsmooth verify`` / ``gsmooth analyze``.
No fakes: every number comes from the solvers.

Independent truths the answers are checked against:

- closed forms (a linear classifier: the ℓ∞ radius is ``margin / ‖w_y − w_t‖₁``, the ℓ2 radius
  ``margin / ‖w_y − w_t‖₂``, minimised over ``t``);
- brute force over activation patterns on tiny nets (``tests/test_verification_lp_milp.py``'s);
- attacks: PGD with restarts on the torch model (float64 and float32) and random corners of the
  ℓ∞ box: a YES must survive them, a NO's counterexample must be one.

What holds for ℓ2 (tested below): IBP ≤ CROWN ≤ LP ≤ every margin attained in the ball, and the
MILP's lower bound ≤ the value it attains; but the ℓ2 MILP encodes an outer polytope of the ball
(box, ℓ1 ball, a few tangent cuts), so its bound is exact only when the cut loop converges
(status ``"optimal"``), and LP ≤ MILP-lower is asserted only there.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import gsmooth.embedded
from gsmooth.cli import main
from gsmooth.io.checkpoints import load_checkpoint
from gsmooth.io.results import read_results
from gsmooth.verification import (
    AffineLayer,
    ReluNetwork,
    crown_bounds,
    input_region,
    interval_bounds,
    largest_certified_radius,
    lp_bounds,
    milp_minimum,
    relu_network,
    verify,
)
from test_verification_lp_milp import brute_force_minimum, tiny_net, tiny_region

TOLERANCE = 1e-6  # verify's default: a YES needs every margin bound above it


# ------------------------------------------------------------------------------------------------
# models and attacks
# ------------------------------------------------------------------------------------------------


def seeded_mlp(sizes, seed: int) -> nn.Sequential:
    """``Flatten`` then Linear/ReLU layers of ``sizes`` with seeded weights ``N(0, 1/in)``, biases ``N(0, 0.09)``."""
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(n_in, n_out)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(n_out, n_in, generator=g) / math.sqrt(n_in))
            lin.bias.copy_(torch.randn(n_out, generator=g) * 0.3)
        layers += [lin, nn.ReLU()] if i < len(sizes) - 2 else [lin]
    return nn.Sequential(*layers).eval()


def seeded_input(seed: int, shape=(1, 4, 5)) -> torch.Tensor:
    g = torch.Generator().manual_seed(1000 + seed)
    return (0.1 + 0.8 * torch.rand(shape, generator=g)).float()


def margins_of(logits, label: int) -> np.ndarray:
    """``z_label − max_{t ≠ label} z_t`` per row of ``logits`` ``(B, k)``."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1, np.shape(logits)[-1])
    return z[:, label] - np.max(np.delete(z, label, axis=1), axis=1)


def torch_margins(model, points: np.ndarray, shape, label: int, dtype=torch.float32) -> np.ndarray:
    """The torch model's margins at ``points`` ``(B, d)``, evaluated in ``dtype``."""
    m = model if dtype == torch.float32 else _double(model)
    with torch.no_grad():
        z = m(torch.as_tensor(points.reshape((-1, *shape)), dtype=dtype))
    return margins_of(z.double().numpy(), label)


_DOUBLES: dict = {}


def _double(model):
    import copy

    key = id(model)
    if key not in _DOUBLES:
        _DOUBLES[key] = (model, copy.deepcopy(model).double().eval())
    return _DOUBLES[key][1]


def pgd_min_margin(model, x: torch.Tensor, label: int, eps: float, norm: str, *, restarts: int = 10, steps: int = 60,
                   seed: int = 0, dtype=torch.float64, domain=(0.0, 1.0)):
    """The smallest margin ``z_label − max_t z_t`` PGD finds in the ball ∩ domain (random starts,
    signed (ℓ∞) or normalised (ℓ2) gradient steps, projection), and the point ``(d,)`` (float64)."""
    m = model if dtype == torch.float32 else _double(model)
    g = torch.Generator().manual_seed(seed)
    x0 = x.to(dtype)[None]
    lo, hi = domain if domain is not None else (-math.inf, math.inf)
    best, best_point = math.inf, None

    def project(p):
        d = p - x0
        if norm == "linf":
            d = d.clamp(-eps, eps)
        else:
            n = float(d.norm())
            d = d * (eps / n) if n > eps else d
        return (x0 + d).clamp(lo, hi)

    for _ in range(restarts):
        d = torch.rand(x0.shape, generator=g, dtype=dtype) * 2 - 1
        d = d * eps if norm == "linf" else d / d.norm() * eps * float(torch.rand(1, generator=g))
        p = project(x0 + d)
        step = eps / 8 if norm == "linf" else eps / 4
        for s in range(steps + 1):
            p = p.detach().requires_grad_(True)
            z = m(p)[0]
            margin = z[label] - torch.cat([z[:label], z[label + 1:]]).max()
            if float(margin.detach()) < best:
                best, best_point = float(margin.detach()), p.detach().double().reshape(-1).numpy().copy()
            if s == steps:
                break
            (grad,) = torch.autograd.grad(margin, p)
            with torch.no_grad():
                step_s = step * (0.97 ** s)
                p = project(p - step_s * (grad.sign() if norm == "linf" else grad / (grad.norm() + 1e-30)))
    return best, best_point


def box_corners(region, n: int, seed: int) -> np.ndarray:
    """``n`` random corners of the ℓ∞ region's box ``(n, d)``."""
    rng = np.random.default_rng(seed)
    lo, hi = region.box()
    return np.where(rng.random((n, region.dim)) < 0.5, lo, hi)


def crown_ibp(margin_net, region):
    ibp = interval_bounds(margin_net, region)
    return ibp, crown_bounds(margin_net, region, intermediate=ibp).intersect(ibp, method="crown")


@pytest.fixture(scope="module")
def mlp16(tmp_path_factory):
    """``gsmooth train --arch mlp16``: a 784-16-10 MLP, 2 epochs on 2000 Fashion-MNIST images
    (about 70 % test accuracy); ``(checkpoint path, model, test images)``."""
    from gsmooth.data.datasets import load_dataset

    path = tmp_path_factory.mktemp("mlp16") / "mlp16.pt"
    assert main(["train", "--dataset", "fashion-mnist", "--arch", "mlp16", "--no-noise", "--epochs", "2", "--max-train",
                 "2000", "--max-eval", "100", "--no-progress", "--out", str(path)]) == 0
    model = load_checkpoint(path).build_model().eval()
    data = load_dataset("fashion-mnist", split="test")
    return path, model, [data[i] for i in range(12)]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------------------------
# closed forms: a linear classifier, every method exact
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("method", ["ibp", "crown", "lp", "milp"])
def test_linear_classifier_radius_is_the_closed_form_for_every_method(method, norm):
    order = 1 if norm == "linf" else 2
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        w, b = rng.normal(size=(4, 6)), rng.normal(size=4) * 0.1
        x = rng.uniform(size=6)
        label = int(np.argmax(w @ x + b))
        dual = [np.linalg.norm(w[label] - w[t], ord=order) for t in range(4) if t != label]
        margins = [(w[label] - w[t]) @ x + b[label] - b[t] for t in range(4) if t != label]
        exact = min(m / n for m, n in zip(margins, dual))
        net = ReluNetwork((AffineLayer(w, b),), input_shape=(6,))
        tol = 1e-4
        r = largest_certified_radius(net, x, label, method=method, norm=norm, eps_max=3 * exact, tol=tol, domain=None)
        slack = TOLERANCE / min(dual)  # a YES needs the margin bound above the tolerance
        assert exact - tol - slack <= r.radius <= exact, (method, norm, r.radius, exact)
        for v in r.steps:  # every YES within the radius, every other answer beyond it (up to the tolerance)
            assert (v.eps <= exact) if v.answer == "YES" else (v.eps >= exact - slack), (v.eps, v.answer)
        if method == "milp" and norm == "linf":  # exact: the smallest NO is the upper end of the bracket
            assert exact < r.upper <= r.radius + tol
            nos = [v for v in r.steps if v.answer == "NO"]
            assert nos and all(np.argmax(net.forward(v.adversarial)) != label for v in nos)
        if method != "milp":
            assert {v.answer for v in r.steps[1:]} <= {"YES", "MAYBE"}  # relaxations never answer NO


# ------------------------------------------------------------------------------------------------
# the bound order: IBP ≤ CROWN ≤ LP ≤ MILP (exact) per target
# ------------------------------------------------------------------------------------------------


def _order_cases(mlp16):
    """(model, x, label, eps list): seeded 20-12-8-3 nets at 2 points each, and the trained 784-16-10."""
    cases = []
    for seed in (0, 1):
        model = seeded_mlp((20, 12, 8, 3), seed)
        for j in (0, 1):
            x = seeded_input(10 * seed + j)
            cases.append((model, x, int(model(x[None]).argmax()), (0.02, 0.05, 0.1)))
    _, model, images = mlp16
    for x, y in images[:3]:
        cases.append((model, x, int(model(x[None]).argmax()), (0.005, 0.02)))
    return cases


def test_linf_bound_order_ibp_crown_lp_milp_per_target(mlp16):
    strict = {"crown>ibp": 0, "lp>crown": 0, "milp>lp": 0}
    for model, x, label, epss in _order_cases(mlp16):
        net = relu_network(model, input_shape=tuple(x.shape))
        margin_net, targets = net.margin_network(label)
        flat = x.double().numpy().reshape(-1)
        for eps in epss:
            v = {m: verify(model, x, label, method=m, norm="linf", eps=eps) for m in ("ibp", "crown", "lp")}
            ibp, crown, lp = (np.array([v[m].margins[t] for t in targets]) for m in ("ibp", "crown", "lp"))
            region = input_region(flat, eps=eps, norm="linf")
            _, bounds = crown_ibp(margin_net, region)
            raw_lp = lp_bounds(margin_net, region, intermediate=bounds)
            exact = milp_minimum(margin_net, region, intermediate=bounds, exact=True, stop_below=-1e9)
            assert set(exact.status) == {"optimal"}, exact.status
            assert np.all(ibp <= crown) and np.all(crown <= lp)
            # the triangle LP dominates CROWN on its own (CROWN's relaxation is a dual point of the LP),
            # not only through verify's max(LP, CROWN)
            assert np.all(np.asarray(raw_lp.lower) >= crown - 1e-7), (raw_lp.lower, crown)
            assert np.all(lp <= exact.lower + 1e-6), (lp, exact.lower)  # the LP relaxes the MILP
            # lower ≤ the value attained (up to float64 rounding: CROWN's bound, exact without unstable
            # neurons, exceeds the forward pass by up to ~3e-14 here) and closes the gap
            assert np.all(exact.lower <= exact.value + 1e-12 * (1 + np.abs(exact.value)))
            assert np.all(exact.value - exact.lower <= 1e-5 * (1 + np.abs(exact.value)))
            # the exact minimum is attained: no point of the region (corners, PGD) goes below it
            z = margin_net.forward(np.vstack([box_corners(region, 200, seed=1), flat]))
            assert np.all(z.min(axis=0) >= exact.lower - 1e-9)
            strict["crown>ibp"] += int(np.any(crown > ibp + 1e-6))
            strict["lp>crown"] += int(np.any(np.asarray(raw_lp.lower) > crown + 1e-6))
            strict["milp>lp"] += int(np.any(exact.lower > lp + 1e-6))
    assert all(n > 0 for n in strict.values()), strict  # each inequality is strict somewhere: the order is not vacuous


def test_l2_bounds_ibp_crown_lp_below_every_attained_margin_and_milp_consistent():
    for seed, eps in ((0, 0.1), (1, 0.2), (2, 0.15)):
        model = seeded_mlp((20, 12, 8, 3), seed)
        x = seeded_input(seed)
        label = int(model(x[None]).argmax())
        net = relu_network(model, input_shape=tuple(x.shape))
        margin_net, targets = net.margin_network(label)
        v = {m: verify(model, x, label, method=m, norm="l2", eps=eps) for m in ("ibp", "crown", "lp", "milp")}
        ibp, crown, lp, milp = (np.array([v[m].margins[t] for t in targets]) for m in ("ibp", "crown", "lp", "milp"))
        assert np.all(ibp <= crown) and np.all(crown <= lp) and np.all(crown <= milp)
        # every bound is below the margin at any point of the ball: PGD per target (float64)
        best, point = pgd_min_margin(model, x, label, eps, "l2", restarts=6, steps=40, seed=seed)
        attained = margin_net.forward(point)[0]
        assert np.all(lp <= attained + 1e-9) and np.all(milp <= attained + 1e-9)
        region = input_region(x.double().numpy().reshape(-1), eps=eps, norm="l2")
        assert region.contains(point, tol=1e-9)
        _, bounds = crown_ibp(margin_net, region)
        exact = milp_minimum(margin_net, region, intermediate=bounds, exact=True, stop_below=-1e9, l2_rounds=3)
        assert np.all(exact.lower <= exact.value + 1e-9)  # a sound bound below a value attained in the ball
        assert np.all(lp <= exact.value + 1e-9)
        for j, s in enumerate(exact.status):
            if s == "optimal":  # the cut loop converged: the MILP over the ball, exact
                assert lp[j] <= exact.lower[j] + 1e-6
        if v["milp"].answer == "YES":
            assert best > 0
        if v["milp"].answer == "NO":
            assert region.contains(v["milp"].adversarial, tol=1e-9) and margins_of(net.forward(v["milp"].adversarial), label)[0] < 0


# ------------------------------------------------------------------------------------------------
# MILP: exact against brute force, NOs are counterexamples, YESes survive attacks
# ------------------------------------------------------------------------------------------------


TINY_NETS = [(0, 2, (4,)), (1, 3, (3, 3)), (2, 4, (5,)), (3, 5, (4, 3)), (5, 3, (5, 4))]


def test_milp_answers_match_brute_force_on_tiny_nets():
    answers = []
    for seed, d, hidden in TINY_NETS:
        answers += _milp_against_brute_force(seed, d, hidden, (0.02, 0.08, 0.2, 0.4))
    assert answers.count("YES") >= 4 and answers.count("NO") >= 4, answers  # both answers, several times


def _milp_against_brute_force(seed, d, hidden, epss):
    net = tiny_net(seed, d, hidden)
    center = tiny_region(seed, d, "linf").center
    label = int(np.argmax(net.forward(center)))
    margin_net, targets = net.margin_network(label)
    answers = []
    for eps in epss:
        region = input_region(center, eps=eps, norm="linf")
        truth = brute_force_minimum(margin_net, region)  # exact minimum of every margin
        v = verify(net, center, label, method="milp", norm="linf", eps=eps)
        answers.append(v.answer)
        if truth.min() > 2e-5:  # clearly robust: proved (the sign question's cut-off is 1.2e-5)
            assert v.answer == "YES"
        elif truth.min() < 0:  # clearly not: a counterexample
            assert v.answer == "NO"
        assert v.answer != "MAYBE"
        for j, t in enumerate(targets):  # every margin bound is sound
            assert v.margins[t] <= truth[j] + 1e-9
        if v.answer == "NO":
            assert region.contains(v.adversarial, tol=1e-9)
            assert margins_of(net.forward(v.adversarial), label)[0] < 0
            assert np.argmax(net.forward(v.adversarial)) == v.adversarial_class != label
        # exact=True minimisation equals the brute force
        _, bounds = crown_ibp(margin_net, region)
        exact = milp_minimum(margin_net, region, intermediate=bounds, exact=True, stop_below=-1e9)
        assert exact.value == pytest.approx(truth, abs=1e-6) and np.all(exact.lower <= truth + 1e-9)
    return answers


def _check_no(v, model, x, label, eps, norm):
    """A NO's adversarial: in the ball ∩ [0, 1], float32-exact, misclassified by the torch model (float32)
    and the float64 network."""
    assert v.answer == "NO" and v.status == "counterexample" and v.adversarial.shape == tuple(x.shape)
    adv = np.asarray(v.adversarial, dtype=np.float64)
    region = input_region(x.double().numpy().reshape(-1), eps=eps, norm=norm)
    assert region.contains(adv.reshape(-1), tol=1e-9)
    assert np.array_equal(adv.astype(np.float32).astype(np.float64), adv)
    with torch.no_grad():
        z = model(torch.as_tensor(adv, dtype=torch.float32)[None])[0]
    assert int(z.argmax()) == v.adversarial_class != label and float(z[v.adversarial_class]) > float(z[label])
    net = relu_network(model, input_shape=tuple(x.shape))
    assert margins_of(net.forward(adv), label)[0] < 0


def test_milp_yes_survives_attacks_and_no_is_a_counterexample_at_the_certified_radius():
    """The MILP's largest certified radius is tight: at the radius, PGD (float64 and float32, restarts)
    and 4000 random corners find no misclassified point; one bisection step above it the MILP answers
    NO with a working counterexample."""
    smallest = math.inf
    for seed in (0, 1, 3):
        model = seeded_mlp((20, 12, 8, 3), seed)
        net = relu_network(model, input_shape=(1, 4, 5))
        x = seeded_input(seed)
        label = int(model(x[None]).argmax())
        r = largest_certified_radius(model, x, label, method="milp", norm="linf", eps_max=0.3, tol=5e-4)
        assert 0 < r.radius < r.upper <= r.radius + 5e-4, (r.radius, r.upper)
        region = input_region(x.double().numpy().reshape(-1), eps=r.radius, norm="linf")
        for dtype in (torch.float64, torch.float32):
            best, point = pgd_min_margin(model, x, label, r.radius, "linf", restarts=8, steps=60, seed=seed, dtype=dtype)
            assert region.contains(point, tol=1e-7) and best > 0, (seed, dtype, best)
            smallest = min(smallest, best)
        corners = box_corners(region, 4000, seed)
        assert margins_of(net.forward(corners), label).min() > 0
        assert torch_margins(model, corners, (1, 4, 5), label).min() > 0
        no = next(v for v in r.steps if v.answer == "NO" and v.eps == r.upper)
        _check_no(no, model, x, label, r.upper, "linf")
    assert smallest < 0.05  # the attacks get close to the boundary: the radii are tight, the test has teeth


def test_milp_nos_on_the_trained_mlp_are_counterexamples(mlp16):
    _, model, images = mlp16
    nos = 0
    for x, y in images[:6]:
        if int(model(x[None]).argmax()) != y:
            continue
        v = verify(model, x, y, method="milp", norm="linf", eps=0.03, time_limit=20)
        if v.answer == "NO":
            _check_no(v, model, x, y, 0.03, "linf")
            nos += 1
        elif v.answer == "YES":  # and a YES survives PGD on the float32 model
            best, _ = pgd_min_margin(model, x, y, 0.03, "linf", restarts=4, steps=40, dtype=torch.float32)
            assert best > 0
    assert nos >= 1


def test_milp_time_limit_is_maybe_with_sound_margins():
    model = seeded_mlp((20, 60, 60, 3), 0)
    x = seeded_input(0)
    label = int(model(x[None]).argmax())
    v = verify(model, x, label, method="milp", norm="linf", eps=0.2, time_limit=0.3)
    assert (v.answer, v.status, v.adversarial) == ("MAYBE", "time_limit", None)
    assert v.time < 0.3 + 3.0  # the limit is honoured (plus the bounds and the encoding)
    crown = verify(model, x, label, method="crown", norm="linf", eps=0.2)
    assert crown.answer == "MAYBE" and all(v.margins[t] >= crown.margins[t] for t in crown.margins)
    best, point = pgd_min_margin(model, x, label, 0.2, "linf", restarts=3, steps=30)
    net = relu_network(model, input_shape=(1, 4, 5))
    attained = net.margin_network(label)[0].forward(point)[0]
    assert all(v.margins[t] <= a + 1e-9 for t, a in zip(sorted(v.margins), attained))


# ------------------------------------------------------------------------------------------------
# float32 (the torch model) against float64 (the network the certificate is about)
# ------------------------------------------------------------------------------------------------


def test_float32_margins_are_within_the_rounding_bound_of_the_float64_network(mlp16):
    """Over points of certified regions of the trained MLP, the torch model's float32 margins differ from
    the float64 network's by up to about 1e-5 (logits of size ~10 over 784 inputs) — more than the 1e-6
    tolerance — and always within the standard forward-error bound ``γ · Σ|W||h|`` of the float32
    evaluation. So a YES is a certificate of the real-arithmetic network (with the float32 weights), and
    of the float32 model only where the proven margin exceeds that rounding bound."""
    path, model, images = mlp16
    net = relu_network(model, input_shape=(1, 28, 28))
    worst = 0.0
    for x, y in images[:6]:
        if int(model(x[None]).argmax()) != y:
            continue
        flat = x.double().numpy().reshape(-1)
        region = input_region(flat, eps=0.01, norm="linf")
        points = np.vstack([box_corners(region, 500, seed=y), flat])
        points = points.astype(np.float32).astype(np.float64)  # what the float32 model reads
        f64 = margins_of(net.forward(points), y)
        f32 = torch_margins(model, points, (1, 28, 28), y)
        # the encoding is the torch model's own arithmetic in float64, to rounding (extract's own check
        # allows 1e-6 relative to the largest logit, ~1e-5 here: looser than the tolerance of a YES)
        assert np.max(np.abs(torch_margins(model, points, (1, 28, 28), y, dtype=torch.float64) - f64)) < 1e-10
        diff = np.abs(f32 - f64)
        # forward-error bound of the float32 evaluation: per layer n·u·(|W||h| + |b|), propagated by |W|
        u = 2.0**-24
        h, err = points, np.zeros((points.shape[0], net.num_inputs))
        for i, layer in enumerate(net.layers):
            w = np.abs(layer.dense_weight())
            err = err @ w.T + (layer.in_features + 2) * u * (np.abs(h) @ w.T + np.abs(layer.bias))
            h = layer.apply(h)
            if i < len(net.layers) - 1:
                h = np.maximum(h, 0.0)
        bound = 2 * err.max(axis=1)  # z_y − z_t: two outputs
        # the model's Normalize layer is folded into the first layer in float64: allow its own rounding
        assert np.all(diff <= bound + 1e-6), (diff.max(), bound.min())
        worst = max(worst, float(diff.max()))
    assert 1e-7 < worst < 1e-4, worst  # measured: about 1e-5 on this MLP


# ------------------------------------------------------------------------------------------------
# the CLI: milp with --save-adversarial, the embedded small CNN, gsmooth analyze
# ------------------------------------------------------------------------------------------------


def test_cli_milp_saved_adversarials_are_counterexamples(mlp16, tmp_path, capsys):
    path, model, images = mlp16
    out, adv = tmp_path / "milp.tsv", tmp_path / "adv"
    epss = (0.01, 0.02, 0.04)
    code, stdout, err = run_cli(capsys, "verify", "--model", path, "--method", "milp", "--norm", "linf", "--eps",
                                ",".join(map(str, epss)), "--max", "8", "--time-limit", "20", "--no-progress",
                                "--save-adversarial", adv, "--out", out)
    assert code == 0, err
    t = read_results(out)
    saved, carried = 0, 0
    for i, idx in enumerate(t.idx):
        x, y = images[int(idx)]
        answers, statuses = t.extra["answers"][i].split(","), t.extra["status"][i].split(",")
        assert "MAYBE" not in answers  # a 16-ReLU MILP decides within the limit
        for eps, answer in zip(epss, answers):
            f = adv / f"idx{int(idx)}_eps{eps!r}.pt"
            assert f.exists() == (answer == "NO"), (idx, eps, answer)
            if answer != "NO":
                continue
            saved += 1
            a = torch.load(f, weights_only=True)
            assert a.shape == (1, 28, 28) and a.dtype == torch.float32
            assert float((a.double() - x.double()).abs().max()) <= eps + 1e-9 and 0 <= float(a.min()) <= float(a.max()) <= 1
            with torch.no_grad():
                pred = int(model(a[None]).argmax())
            assert pred != y and pred == int(t.extra["adversarial_class"][i])
        if "NO" in answers:  # a NO carries to every larger radius: same counterexample, same status
            first = answers.index("NO")
            assert answers[first:] == ["NO"] * (3 - first) and len(set(statuses[first:])) == 1
            points = [torch.load(adv / f"idx{int(idx)}_eps{e!r}.pt", weights_only=True) for e in epss[first:]]
            assert all(torch.equal(p, points[0]) for p in points)
            assert float(t.extra["adversarial_distance"][i]) <= epss[first] + 1e-9
            carried += int(bool(t.correct[i]) and first < 2)
    assert saved == len(list(adv.iterdir())) and carried >= 1  # a correct image with a NO below the largest eps


def test_embedded_small_cnn_through_gsmooth_verify_crown_and_ibp(tmp_path, capsys):
    """The shipped small CNN (784-6272-3136-3136-128-10 once encoded): crown and ibp on 2 images at one
    eps (crown ≈ 4 s per image on one thread; lp on one image at eps 0.001 took 63 s, its LPs ran out of
    the 60 s time limit and it answered with CROWN's margins: not run here)."""
    model_path = Path(gsmooth.embedded.__file__).parent / "additive.pt"
    rows = {}
    for method in ("crown", "ibp"):
        out = tmp_path / f"{method}.tsv"
        code, stdout, err = run_cli(capsys, "verify", "--model", model_path, "--method", method, "--norm", "linf",
                                    "--eps", "0.002", "--max", "2", "--no-progress", "--out", out)
        assert code == 0, err
        assert "784-6272-3136-3136-128-10, 12672 ReLUs" in stdout
        rows[method] = read_results(out)
    c, i = rows["crown"], rows["ibp"]
    assert c.idx.tolist() == i.idx.tolist() == [0, 1] and c.predict.tolist() == i.predict.tolist()
    crown_min = [float(v) for v in c.extra["min_margin"]]
    ibp_min = [float(v) for v in i.extra["min_margin"]]
    assert all(cm >= im for cm, im in zip(crown_min, ibp_min)) and any(cm > im + 1e-3 for cm, im in zip(crown_min, ibp_min))
    assert all((a == "YES") == (m > TOLERANCE) for a, m in zip(c.extra["answers"], crown_min))
    assert list(c.extra["answers"]) == ["YES", "YES"]  # measured: both proved by CROWN, not by IBP
    # every bound holds at the clean image and at corners of the box (the float32 model)
    ck = load_checkpoint(model_path)
    model = ck.build_model().eval()
    from gsmooth.data.datasets import load_dataset

    data = load_dataset("fashion-mnist", split="test")
    for j in range(2):
        x, y = data[j]
        region = input_region(x.double().numpy().reshape(-1), eps=0.002, norm="linf")
        m = torch_margins(model, box_corners(region, 32, seed=j), ck.input_shape, y)
        assert m.min() >= crown_min[j] - 1e-4 and int(c.label[j]) == y


@pytest.mark.slow
def test_embedded_small_cnn_lp_on_one_image(tmp_path, capsys):
    """lp on the small CNN, one image, eps 0.001, a 20 s limit (20–40 s): YES (its LPs time out and the
    CROWN margins decide)."""
    model_path = Path(gsmooth.embedded.__file__).parent / "additive.pt"
    out = tmp_path / "lp.tsv"
    code, _, err = run_cli(capsys, "verify", "--model", model_path, "--method", "lp", "--norm", "linf", "--eps", "0.001",
                           "--max", "1", "--time-limit", "20", "--no-progress", "--out", out)
    assert code == 0, err
    t = read_results(out)
    assert t.extra["answers"][0] == "YES" and float(t.time[0]) < 20 + 15


def test_gsmooth_analyze_groups_verify_files_by_norm_and_bound_refuses_them(mlp16, tmp_path, capsys):
    path, _, _ = mlp16
    files = {}
    for norm, eps in (("linf", "0.005,0.02"), ("l2", "0.1,0.3")):
        files[norm] = tmp_path / f"{norm}.tsv"
        assert run_cli(capsys, "verify", "--model", path, "--method", "crown", "--norm", norm, "--eps", eps, "--max", "6",
                       "--no-progress", "--out", files[norm])[0] == 0
    code, report, err = run_cli(capsys, "analyze", files["linf"], files["l2"], "--radii", "0.005,0.1")
    assert code == 0, err
    assert "2 groups of results" in report and "### linf (pixels)" in report and "### l2 (pixels)" in report
    linf_part, l2_part = report.split("### l2 (pixels)")
    assert str(files["linf"]) in linf_part and str(files["l2"]) not in linf_part and str(files["l2"]) in l2_part
    for norm, part, (first, _) in (("linf", linf_part, (0.005, 0.02)), ("l2", l2_part, (0.1, 0.3))):
        t = read_results(files[norm])
        row = next(line for line in part.splitlines() if line.startswith(f"| {files[norm]}"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        column = 2 if norm == "linf" else 3  # r=0.005 then r=0.1
        expected = np.mean([a.split(",")[0] == "YES" for a in t.extra["answers"]])
        assert float(cells[column]) == pytest.approx(expected, abs=1e-3)
    for bound in ("cohen", "pixeldp", "li"):
        code, _, err = run_cli(capsys, "analyze", files["l2"], "--bound", bound)
        assert code == 2 and "got a verify file" in err and len(err.strip().splitlines()) == 1
