"""gsmooth.verification.crown: CROWN bounds are sound, within IBP's, and tight where they should be.

Soundness is checked on points of the region — uniform samples, its corners / extreme points and
PGD points pushing every neuron up and down — for seeded random networks, ℓ∞ and ℓ2 regions, with
and without the pixel domain. Exact values come from hand computation and from brute force over
activation patterns (one LP per pattern).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

import gsmooth.embedded
from gsmooth.errors import InvalidParameterError
from gsmooth.io.checkpoints import load_checkpoint
from gsmooth.verification import (
    AffineLayer,
    NetworkBounds,
    ReluNetwork,
    crown_bounds,
    input_region,
    interval_bounds,
    relu_network,
)

TOL = 1e-9


def _random_net(seed: int, sizes) -> ReluNetwork:
    rng = np.random.default_rng(seed)
    layers = tuple(
        AffineLayer(rng.normal(size=(n_out, n_in)) / np.sqrt(n_in), rng.normal(scale=0.3, size=n_out))
        for n_in, n_out in zip(sizes[:-1], sizes[1:])
    )
    return ReluNetwork(layers, (sizes[0],))


def _values(net: ReluNetwork, x: np.ndarray) -> list[np.ndarray]:
    """The pre-activations of every ReLU layer and the outputs, ``(B, n_i)`` each."""
    out, h = [], np.asarray(x, dtype=np.float64)
    for i, layer in enumerate(net.layers):
        z = layer.apply(h)
        out.append(z)
        h = np.maximum(z, 0.0)
    return out


def _bounds_list(b: NetworkBounds):
    return list(zip(b.pre_lower + (b.out_lower,), b.pre_upper + (b.out_upper,)))


def _region_points(region, rng, n: int = 400) -> np.ndarray:
    """Uniform points of the region and its extreme points (corners of the box for ℓ∞; ±eps along
    each axis and random points of the sphere for ℓ2; clipped to the domain)."""
    d, c, eps = region.dim, region.center, region.eps
    lo, hi = region.box()
    if region.norm == "linf":
        pts = [lo + (hi - lo) * rng.random((n, d))]
        if d <= 10:
            pts.append(np.array([np.where(bits, hi, lo) for bits in itertools.product([0, 1], repeat=d)]))
    else:
        g = rng.normal(size=(n, d))
        g /= np.linalg.norm(g, axis=1, keepdims=True)
        pts = [c + g * eps * rng.random((n, 1)) ** (1.0 / d), c + g * eps,
               c + eps * np.eye(d), c - eps * np.eye(d)]
    x = np.clip(np.concatenate(pts), region.lower, region.upper)
    assert all(region.contains(p, tol=1e-12) for p in x)
    return x


def _pgd_points(net: ReluNetwork, region, *, steps: int = 40, starts: int = 3, seed: int = 0) -> np.ndarray:
    """PGD iterates maximizing and minimizing every neuron of every layer (all iterates returned)."""
    weights = [torch.from_numpy(layer.dense_weight()) for layer in net.layers]
    biases = [torch.from_numpy(layer.bias) for layer in net.layers]
    targets = [(k, j, s) for k, layer in enumerate(net.layers) for j in range(layer.out_features) for s in (1.0, -1.0)]
    rows = np.repeat(np.arange(len(targets)), starts)
    layer_of = torch.tensor([targets[r][0] for r in rows])
    neuron_of = torch.tensor([targets[r][1] for r in rows])
    sign_of = torch.tensor([targets[r][2] for r in rows], dtype=torch.float64)
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(_region_points(region, rng, n=len(rows))[: len(rows)])
    center = torch.from_numpy(region.center)
    lower, upper = torch.from_numpy(region.lower), torch.from_numpy(region.upper)
    step = 2.5 * region.eps / steps
    seen = [x.numpy().copy()]
    for _ in range(steps):
        x = x.detach().requires_grad_(True)
        h, objective = x, torch.zeros(len(rows), dtype=torch.float64)
        for k, (w, b) in enumerate(zip(weights, biases)):
            z = h @ w.T + b
            pick = z.gather(1, neuron_of.clamp(max=z.shape[1] - 1).view(-1, 1)).view(-1)
            objective = torch.where(layer_of == k, sign_of * pick, objective)
            h = torch.relu(z)
        (grad,) = torch.autograd.grad(objective.sum(), x)
        with torch.no_grad():
            if region.norm == "linf":
                x = torch.minimum(torch.maximum(x + step * grad.sign(), center - region.eps), center + region.eps)
            else:
                x = x + step * grad / grad.norm(dim=1, keepdim=True).clamp(min=1e-12)
                d = x - center
                x = center + d * (region.eps / d.norm(dim=1, keepdim=True).clamp(min=region.eps))
            x = torch.minimum(torch.maximum(x, lower), upper)
        seen.append(x.detach().numpy().copy())
    return np.concatenate(seen)


def _assert_contains(bounds: NetworkBounds, net: ReluNetwork, x: np.ndarray) -> None:
    for k, (values, (lo, hi)) in enumerate(zip(_values(net, x), _bounds_list(bounds))):
        assert np.all(values >= lo - TOL), f"{bounds.method}: layer {k} below its lower bound by {np.max(lo - values):.3g}"
        assert np.all(values <= hi + TOL), f"{bounds.method}: layer {k} above its upper bound by {np.max(values - hi):.3g}"


def _assert_within(inner: NetworkBounds, outer: NetworkBounds) -> None:
    for (lo, hi), (olo, ohi) in zip(_bounds_list(inner), _bounds_list(outer)):
        assert np.all(lo >= olo) and np.all(hi <= ohi)


CASES = [(seed, norm, domain) for seed in (0, 1, 2) for norm in ("linf", "l2") for domain in ((0.0, 1.0), None)]


@pytest.mark.parametrize("seed,norm,domain", CASES)
def test_ibp_and_crown_bounds_hold_on_samples_extreme_and_pgd_points(seed, norm, domain):
    net = _random_net(seed, (5, 8, 8, 6, 3))
    rng = np.random.default_rng(100 + seed)
    center = rng.random(5)
    region = input_region(center, eps=0.35 if norm == "linf" else 0.6, norm=norm, domain=domain)
    points = np.concatenate([_region_points(region, rng), _pgd_points(net, region, seed=seed)])
    ibp = interval_bounds(net, region)
    crown = crown_bounds(net, region)
    assert crown.method == "crown"
    _assert_contains(ibp, net, points)
    _assert_contains(crown, net, points)
    _assert_within(crown, ibp)  # intersected with IBP, layer by layer
    # and CROWN is doing work: some bound strictly tighter than IBP's
    assert any(np.any(lo > olo + 1e-6) or np.any(hi < ohi - 1e-6) for (lo, hi), (olo, ohi) in zip(_bounds_list(crown), _bounds_list(ibp)))
    # intermediate bounds that hold (CROWN's own) keep everything sound and within them
    again = crown_bounds(net, region, intermediate=crown)
    _assert_within(again, crown)
    _assert_contains(again, net, points)


def test_a_convolutional_network_with_sparse_layers():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3, stride=2, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(3, 4, 3, padding=1, groups=1),
        torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3),
    )
    net = relu_network(model, input_shape=(1, 8, 8))
    assert net.layers[0].sparse and net.layers[1].sparse
    rng = np.random.default_rng(7)
    for norm, eps in (("linf", 0.05), ("l2", 0.3)):
        region = input_region(rng.random(64), eps=eps, norm=norm)
        points = np.concatenate([_region_points(region, rng), _pgd_points(net, region, steps=20, starts=1)])
        crown = crown_bounds(net, region)
        _assert_contains(crown, net, points)
        _assert_within(crown, interval_bounds(net, region))


def test_one_hidden_layer_equals_the_hand_computed_bounds():
    # y = relu(x1 + x2 + 3) − relu(x1 + x2 + 0.2), x ∈ [−1, 1]²: t = x1 + x2 ∈ [−2, 2].
    # h1 is stably active (z1 ∈ [1, 5]); z2 ∈ [−1.8, 2.2] is unstable: chord slope 2.2/4 = 0.55,
    # intercept 0.55·1.8 = 0.99; lower slope α = 1 since u = 2.2 > 1.8 = −l.
    # lower: y ≥ z1 − (0.55 z2 + 0.99) = 0.45 t + 1.9 ≥ 1.0 at t = −2;
    # upper: y ≤ z1 − z2 = 2.8. Both are the true extremes; IBP gives [1 − 2.2, 5 − 0] = [−1.2, 5].
    net = ReluNetwork((AffineLayer(np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([3.0, 0.2])),
                       AffineLayer(np.array([[1.0, -1.0]]), np.zeros(1))), input_shape=(2,))
    region = input_region(np.zeros(2), eps=1.0, norm="linf", domain=None)
    crown = crown_bounds(net, region)
    np.testing.assert_allclose([crown.out_lower[0], crown.out_upper[0]], [1.0, 2.8], rtol=0, atol=1e-12)
    np.testing.assert_allclose([crown.pre_lower[0], crown.pre_upper[0]], [[1.0, -1.8], [5.0, 2.2]], rtol=0, atol=1e-12)
    ibp = interval_bounds(net, region)
    np.testing.assert_allclose([ibp.out_lower[0], ibp.out_upper[0]], [-1.2, 5.0], rtol=0, atol=1e-12)


def test_a_layer_where_crown_is_looser_than_ibp_takes_ibp_before_the_next_layer():
    # z = relu(x1 + x2 + 0.5) − relu(x1 − 2 x2) over [−1, 1]²: z1 ∈ [−1.5, 2.5], z2 ∈ [−3, 3].
    # CROWN's lower bound of z: α = 1 for z1 (2.5 > 1.5), the chord 0.5 z2 + 1.5 for z2:
    # z ≥ z1 − 0.5 z2 − 1.5 = 0.5 x1 + 2 x2 − 1 ≥ −3.5, looser than IBP's 0 − 3 = −3.
    # Upper: chord 0.625 z1 + 0.9375 and α = 0 for z2 (3 > 3 is false): z ≤ 2.5 (IBP: 2.5 too).
    # The output relu(z) then has z ∈ [−3, 2.5] (not [−3.5, 2.5]) and bounds [0, 2.5].
    net = ReluNetwork((AffineLayer(np.array([[1.0, 1.0], [1.0, -2.0]]), np.array([0.5, 0.0])),
                       AffineLayer(np.array([[1.0, -1.0]]), np.zeros(1)),
                       AffineLayer(np.array([[1.0]]), np.zeros(1))), input_shape=(2,))
    region = input_region(np.zeros(2), eps=1.0, norm="linf", domain=None)
    crown = crown_bounds(net, region)
    np.testing.assert_allclose([crown.pre_lower[1][0], crown.pre_upper[1][0]], [-3.0, 2.5], rtol=0, atol=1e-12)
    np.testing.assert_allclose([crown.out_lower[0], crown.out_upper[0]], [0.0, 2.5], rtol=0, atol=1e-12)


def _exact_layer_bounds(net: ReluNetwork, k: int, region) -> tuple[np.ndarray, np.ndarray]:
    """Exact bounds of the outputs of affine layer ``k`` over an ℓ∞ region, by brute force: for
    every activation pattern of the ReLU layers below, an LP over the inputs where it holds."""
    lo_box, hi_box = region.box()
    widths = net.hidden_sizes[:k]
    n = net.layers[k].out_features
    best_lo, best_hi = np.full(n, np.inf), np.full(n, -np.inf)
    for pattern in itertools.product([0.0, 1.0], repeat=sum(widths)):
        masks = np.split(np.array(pattern), np.cumsum(widths)[:-1]) if widths else []
        a, c = np.eye(net.num_inputs), np.zeros(net.num_inputs)  # h = a x + c under the pattern
        rows, rhs = [], []
        for layer, mask in zip(net.layers[:k], masks):
            za, zc = layer.dense_weight() @ a, layer.dense_weight() @ c + layer.bias
            sign = np.where(mask > 0, -1.0, 1.0)  # active: z ≥ 0 ⇔ −z ≤ 0; inactive: z ≤ 0
            rows.append(sign[:, None] * za)
            rhs.append(-sign * zc)
            a, c = mask[:, None] * za, mask * zc
        out_a = net.layers[k].dense_weight() @ a
        out_c = net.layers[k].dense_weight() @ c + net.layers[k].bias
        a_ub = np.concatenate(rows) if rows else None
        b_ub = np.concatenate(rhs) if rhs else None
        for j in range(n):
            for s in (1.0, -1.0):
                res = linprog(s * out_a[j], A_ub=a_ub, b_ub=b_ub, bounds=list(zip(lo_box, hi_box)), method="highs")
                if res.status == 0:
                    value = s * res.fun + out_c[j]
                    best_lo[j], best_hi[j] = (min(best_lo[j], value), best_hi[j]) if s > 0 else (best_lo[j], max(best_hi[j], value))
    return best_lo, best_hi


def test_intermediate_bounds_are_used_by_the_later_layers():
    net = _random_net(6, (2, 3, 3, 2))
    region = input_region(np.array([0.4, 0.6]), eps=1.0, norm="linf", domain=None)
    plain = crown_bounds(net, region)
    exact = [_exact_layer_bounds(net, k, region) for k in range(3)]
    for (lo, hi), (plo, phi) in zip(exact, _bounds_list(plain)):  # CROWN contains the exact ranges
        assert np.all(plo <= lo + TOL) and np.all(phi >= hi - TOL)
    # the exact hidden bounds as `intermediate`, nothing known about the outputs
    inf = np.full(2, np.inf)
    given = NetworkBounds(tuple(e[0] for e in exact[:2]), tuple(e[1] for e in exact[:2]), -inf, inf, "exact")
    tight = crown_bounds(net, region, intermediate=given)
    for k in range(2):
        np.testing.assert_allclose(tight.pre_lower[k], exact[k][0], atol=1e-9)
        np.testing.assert_allclose(tight.pre_upper[k], exact[k][1], atol=1e-9)
    # the outputs improve because the relaxations of the layers below used the tighter bounds
    assert np.all(tight.out_lower >= plain.out_lower - TOL) and np.all(tight.out_upper <= plain.out_upper + TOL)
    assert np.sum(plain.out_upper - plain.out_lower) - np.sum(tight.out_upper - tight.out_lower) > 0.5
    assert np.all(tight.out_lower <= exact[2][0] + TOL) and np.all(tight.out_upper >= exact[2][1] - TOL)


def test_crown_is_much_tighter_than_ibp_on_a_typical_random_net():
    net = _random_net(11, (10, 32, 32, 32, 5))
    region = input_region(np.random.default_rng(11).random(10), eps=0.05, norm="linf")
    ibp, crown = interval_bounds(net, region), crown_bounds(net, region)
    width = lambda lo, hi: float(np.mean(hi - lo))  # noqa: E731
    assert width(crown.out_lower, crown.out_upper) < 0.5 * width(ibp.out_lower, ibp.out_upper)
    assert width(crown.pre_lower[-1], crown.pre_upper[-1]) < 0.7 * width(ibp.pre_lower[-1], ibp.pre_upper[-1])


def test_embedded_small_cnn_bounds_hold_and_beat_ibp():
    ck = load_checkpoint(Path(gsmooth.embedded.__file__).parent / "additive.pt")
    model = ck.build_model()
    net = relu_network(model, input_shape=ck.input_shape)
    sample = torch.load(Path(gsmooth.embedded.__file__).parent / "fashion_mnist_test_sample.pt")
    x = sample["images"][0].numpy().astype(np.float64).reshape(-1) / 255.0
    region = input_region(x, eps=0.01, norm="linf")
    ibp, crown = interval_bounds(net, region), crown_bounds(net, region)
    _assert_within(crown, ibp)
    rng = np.random.default_rng(0)
    points = _region_points(region, rng, n=64)
    # PGD on the outputs of the float64 model (cheaper than every neuron)
    m64 = model.double()
    for k in range(net.num_outputs):
        for s in (1.0, -1.0):
            p = torch.from_numpy(points[:4].copy())
            for _ in range(10):
                p.requires_grad_(True)
                (g,) = torch.autograd.grad((s * m64(p.view(-1, *ck.input_shape))[:, k]).sum(), p)
                with torch.no_grad():
                    p = torch.from_numpy(np.clip(np.clip((p + 0.004 * g.sign()).numpy(), x - 0.01, x + 0.01), 0, 1))
            points = np.concatenate([points, p.detach().numpy()])
    _assert_contains(crown, net, points)
    assert np.mean(crown.out_upper - crown.out_lower) < 0.1 * np.mean(ibp.out_upper - ibp.out_lower)


def test_zero_radius_and_a_single_affine_layer_are_exact():
    net = _random_net(5, (4, 6, 6, 2))
    x = np.random.default_rng(5).random(4)
    crown = crown_bounds(net, input_region(x, eps=0.0, norm="l2"))
    for values, (lo, hi) in zip(_values(net, x[None]), _bounds_list(crown)):
        np.testing.assert_allclose(lo, values[0], atol=1e-12)
        np.testing.assert_allclose(hi, values[0], atol=1e-12)
    single = _random_net(6, (4, 3))
    region = input_region(x, eps=0.2, norm="linf")
    b = crown_bounds(single, region)
    w, c = single.layers[0].weight, single.layers[0].bias
    np.testing.assert_allclose(b.out_lower, region.minimize_linear(w, c), atol=1e-12)
    np.testing.assert_allclose(b.out_upper, region.maximize_linear(w, c), atol=1e-12)
    assert b.pre_lower == ()


def test_bad_arguments_raise_typed_errors():
    net = _random_net(0, (3, 4, 2))
    region = input_region(np.full(3, 0.5), eps=0.1, norm="linf")
    with pytest.raises(InvalidParameterError, match="expected an InputRegion of 3 dimensions, got 2 dimensions"):
        crown_bounds(net, input_region(np.full(2, 0.5), eps=0.1, norm="linf"))
    with pytest.raises(InvalidParameterError, match="expected a ReluNetwork, got list"):
        crown_bounds([], region)
    other = interval_bounds(_random_net(0, (3, 5, 2)), region)
    with pytest.raises(InvalidParameterError, match=r"expected intermediate bounds of layer widths \(4, 2\), got \(5, 2\)"):
        crown_bounds(net, region, intermediate=other)
    far = interval_bounds(net, input_region(np.full(3, 0.5), eps=0.0, norm="linf"))
    shifted = NetworkBounds(tuple(v + 10.0 for v in far.pre_lower), tuple(v + 10.0 for v in far.pre_upper),
                            far.out_lower, far.out_upper)
    with pytest.raises(InvalidParameterError, match="expected intermediate bounds that hold over the region, got lower"):
        crown_bounds(net, region, intermediate=shifted)
