"""Proven path-speed bounds (``Transform.path_speed_bound``) of the five bilinear-resampling transforms.

For rotation, scaling, rotational blur, zoom blur and motion blur, every padding mode, several images
(random pixels, a sharp-edged image, a constant image, a bright corner pixel) and several intervals
(tiny ones, the papers' ranges), the bound must be ≥ the largest ‖τ(a) − τ(b)‖₂/|a − b| over
neighbouring points of a dense float64 grid (soundness: the surrogate route's certificates rest on
it), finite, and within 50× of that measured speed (not vacuous). The coordinate model the proofs
use (a bilinear interpolant of the padded lattice sampled at q(α, p)) is checked against kornia.

``python tests/test_speed_bounds_geometric.py`` prints the bound/measured ratios.
"""

from __future__ import annotations

import math

import pytest
import torch

import gsmooth
from gsmooth_plugins.transforms import _common

PADS = ("zeros", "border", "reflection")
C, H, W = 2, 11, 14  # odd height (a centre row: exact-extremum pixels), even width, not square
K = 5  # samples of the blurs (kept small: 2 shared CPU cores)
EPS = torch.finfo(torch.float64).eps

# (name, hyper-parameters, intervals): the papers' ranges, tiny ones (at and away from the
# identity), one-sided ones, and a few stress ranges (large angles, near the scaling clamp).
CASES = [
    ("rotation", {}, [(-10.0, 10.0), (0.0, 10.0), (3.0, 3.02), (-1e-4, 1e-4), (80.0, 100.0), (-180.0, 180.0)]),
    ("scaling", {}, [(-0.3, 0.3), (0.0, 0.3), (-0.3, 0.0), (0.1, 0.1005), (-0.9, -0.81), (-0.99, -0.985), (-0.999, -0.95)]),
    ("rotational_blur", {"num_samples": K}, [(0.0, 10.0), (0.0, 1e-3), (5.0, 5.05), (-10.0, 0.0), (0.0, 90.0)]),
    ("zoom_blur", {"num_samples": K}, [(0.0, 0.5), (0.0, 0.01), (0.2, 0.2005), (-0.3, 0.0), (-0.95, -0.94), (-0.999, -0.9)]),
    ("motion_blur", {"num_samples": K}, [(0.0, 5.0), (0.0, 0.01), (2.0, 2.01), (-5.0, 5.0)]),
    ("motion_blur", {"num_samples": K, "angle": 30.0}, [(0.0, 5.0), (1.0, 1.01)]),
    ("motion_blur", {"num_samples": K, "angle": 90.0}, [(0.0, 5.0)]),
]


def images(c: int = C, h: int = H, w: int = W) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    rnd = torch.rand(c, h, w, generator=g, dtype=torch.float64)
    edge = torch.zeros(c, h, w, dtype=torch.float64)
    edge[:, :, : w // 2 - 1] = 1.0  # a vertical step ...
    edge[:, h // 3 :, :] = 1.0 - edge[:, h // 3 :, :]  # ... and a horizontal one
    const = torch.full((c, h, w), 0.7, dtype=torch.float64)
    corner = torch.zeros(c, h, w, dtype=torch.float64)
    corner[:, 0, 0] = 1.0
    stripes = torch.zeros(c, h, w, dtype=torch.float64)
    stripes[:, :, ::2] = 1.0  # varies along u only: catches u/v mix-ups
    return {"random": rnd, "edge": edge, "constant": const, "corner": corner, "stripes": stripes}


IMAGES = images()


def evaluate(t, x: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """τ(α, x) for every α, flattened: ``(len(alphas), C·H·W)``."""
    out = []
    for s in range(0, alphas.numel(), 512):
        a = alphas[s : s + 512]
        out.append(t(x[None].expand(a.numel(), *x.shape), a[:, None]).reshape(a.numel(), -1))
    return torch.cat(out)


def grid(name: str, low: float, high: float, h: int = H, w: int = W) -> tuple[torch.Tensor, bool]:
    """A grid over [low, high] fine enough that no source point moves more than ~0.1 pixel per step
    (uniform in the angle / length, or in 1/factor for the zooms, where the source point is affine),
    at most 4000 steps; and whether it resolves the motion (≤ 0.25 pixel per step) — where it does
    not (near the scaling clamp) the measured speed is a loose average and only soundness is tested."""
    r = math.hypot((w - 1) / 2, (h - 1) / 2)
    if name in ("scaling", "zoom_blur"):
        g0, g1 = 1.0 / max(1.0 + low, 1e-3), 1.0 / max(1.0 + high, 1e-3)
        disp = r * abs(g0 - g1)
    elif name in ("rotation", "rotational_blur"):
        disp = r * (high - low) * math.pi / 180
    else:
        disp = 0.5 * (high - low)
    n = int(min(4000, max(400, math.ceil(disp / 0.1))))
    if name in ("scaling", "zoom_blur") and disp > 0:
        start = max(low, 1e-3 - 1.0)
        g = torch.linspace(1.0 / max(1.0 + start, 1e-3), g1, n + 1, dtype=torch.float64)
        alphas = (1.0 / g - 1.0).clamp(start, high)
        alphas[0], alphas[-1] = start, high
        if low < start:
            alphas = torch.cat([torch.tensor([low], dtype=torch.float64), alphas])
    else:
        alphas = torch.linspace(low, high, n + 1, dtype=torch.float64)
    return alphas, disp / n <= 0.25


def measured_speed(t, x: torch.Tensor, alphas: torch.Tensor) -> tuple[float, float]:
    """``(speed, certain)``: the largest ‖τ(a_{i+1}) − τ(a_i)‖/|a_{i+1} − a_i| over the grid, and the
    largest such quotient minus its step's allowance for float64 rounding of τ (64 ulps per pixel):
    a speed the exact map certainly reaches."""
    assert bool((alphas[1:] > alphas[:-1]).all())
    y = evaluate(t, x, alphas)
    steps = alphas[1:] - alphas[:-1]
    speed = (y[1:] - y[:-1]).norm(dim=1) / steps
    noise = 64 * EPS * max(1.0, float(x.abs().max())) * math.sqrt(x.numel()) / steps
    return float(speed.max()), float((speed - noise).max())


# ---------------------------------------------------------------------------------------------------
# the sampling model the proofs rely on


def _lattice(x: torch.Tensor, j: torch.Tensor, i: torch.Tensor, pad: str) -> torch.Tensor:
    """The padded lattice value X(j, i) (integer tensors of any shape) of every channel."""
    h, w = x.shape[-2:]

    def fold(k, n):
        if pad == "border":
            return k.clamp(0, n - 1), torch.ones_like(k, dtype=torch.bool)
        if pad == "zeros":
            return k.clamp(0, n - 1), (k >= 0) & (k <= n - 1)
        m = torch.remainder(k, 2 * (n - 1))
        return torch.where(m <= n - 1, m, 2 * (n - 1) - m), torch.ones_like(k, dtype=torch.bool)

    jj, mj = fold(j, h)
    ii, mi = fold(i, w)
    return x[:, jj, ii] * (mj & mi)


def bilinear(x: torch.Tensor, qu: torch.Tensor, qv: torch.Tensor, pad: str) -> torch.Tensor:
    """The bilinear interpolant of the padded lattice at the source points (qu, qv)."""
    i0, j0 = torch.floor(qu).long(), torch.floor(qv).long()
    tu, tv = qu - i0, qv - j0
    out = torch.zeros(x.shape[0], *qu.shape, dtype=torch.float64)
    for di, wu in ((0, 1 - tu), (1, tu)):
        for dj, wv in ((0, 1 - tv), (1, tv)):
            out = out + _lattice(x, j0 + dj, i0 + di, pad) * (wu * wv)
    return out


def source_points(name: str, kw: dict, alphas: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The proofs' source points q_k(α, p), ``(qu, qv)`` each ``(N, S, h, w)`` for N parameters and
    S samples: every sample of rotation/scaling/motion blur; rotational and zoom blur without their
    k = 0 term (x itself)."""
    u, v = _common._pixel_grid(h, w)
    cu, cv = (w - 1) / 2, (h - 1) / 2
    k = kw.get("num_samples", 16)
    a = alphas.reshape(-1, 1, 1, 1).to(torch.float64)
    if name in ("rotation", "rotational_blur"):
        fr = torch.tensor([1.0] if name == "rotation" else [i / (k - 1) for i in range(1, k)], dtype=torch.float64)
        psi = a * fr.view(1, -1, 1, 1) * (math.pi / 180)
        return (cu + torch.cos(psi) * (u - cu) - torch.sin(psi) * (v - cv),
                cv + torch.sin(psi) * (u - cu) + torch.cos(psi) * (v - cv))
    if name in ("scaling", "zoom_blur"):
        fr = torch.tensor([1.0] if name == "scaling" else [i / (k - 1) for i in range(1, k)], dtype=torch.float64)
        f = (1 + a * fr.view(1, -1, 1, 1)).clamp(min=1e-3)
        return cu + (u - cu) / f, cv + (v - cv) / f
    phi = math.radians(kw.get("angle", 0.0))
    tk = torch.tensor([i / (k - 1) - 0.5 for i in range(k)], dtype=torch.float64).view(1, -1, 1, 1)
    return u - a * tk * math.cos(phi), v + a * tk * math.sin(phi)


def model(name: str, kw: dict, x: torch.Tensor, alpha: float, pad: str) -> torch.Tensor:
    """τ(α, x) as the proofs describe it: mean over samples of bilinear(x, q_k(α, p))."""
    _, h, w = x.shape
    qu, qv = source_points(name, kw, torch.tensor([alpha], dtype=torch.float64), h, w)
    out = sum(bilinear(x, qu[0, s], qv[0, s], pad) for s in range(qu.shape[1]))
    if name in ("rotational_blur", "zoom_blur"):
        out = out + x  # the k = 0 term
    return out / kw.get("num_samples", 16) if name not in ("rotation", "scaling") else out


@pytest.mark.parametrize("pad", PADS)
@pytest.mark.parametrize("name,kw,intervals", CASES[:6], ids=lambda v: v if isinstance(v, str) else "")
def test_the_proofs_sampling_model_is_kornias(name, kw, intervals, pad):
    t = gsmooth.transform(name, padding_mode=pad, **kw)
    x = IMAGES["random"]
    for low, high in intervals:
        for alpha in (low, 0.37 * low + 0.63 * high, high):
            got = t(x[None], torch.tensor([[alpha]], dtype=torch.float64))[0]
            assert torch.allclose(got, model(name, kw, x, alpha, pad), atol=1e-10, rtol=0), (alpha, pad)


@pytest.mark.parametrize("name,kw,intervals", CASES, ids=lambda v: v if isinstance(v, str) else "")
def test_boxes_hold_the_path_and_speeds_bound_its_velocity(name, kw, intervals):
    """Step 3's hypotheses, directly: on every piece, the source points of a dense sub-grid lie in
    the box geometry returns (the exact-arithmetic path, up to the model's ~1e-15 rounding, which the
    1e-9 widening covers), and their difference quotients are at most su, sv."""
    t = gsmooth.transform(name, **kw)
    for low, high in intervals:
        edges, geometry, weights = t._speed_pieces(H, W, low, high)
        assert float(edges[0]) == low and float(edges[-1]) == high and bool((edges[1:] >= edges[:-1]).all())
        a, b = edges[:-1], edges[1:]
        u_lo, u_hi, v_lo, v_hi, su, sv = (torch.as_tensor(g).expand(a.numel(), len(weights), H, W)
                                          for g in geometry(a, b))
        j = torch.linspace(0.0, 1.0, 17, dtype=torch.float64)
        alphas = (a[:, None] + (b - a)[:, None] * j[None, :]).clamp(max=b[:, None])  # (P, 17)
        qu, qv = source_points(name, kw, alphas.reshape(-1), H, W)
        qu, qv = qu.reshape(a.numel(), 17, *qu.shape[1:]), qv.reshape(a.numel(), 17, *qv.shape[1:])
        assert bool((qu >= u_lo[:, None]).all() and (qu <= u_hi[:, None]).all()), (low, high)
        assert bool((qv >= v_lo[:, None]).all() and (qv <= v_hi[:, None]).all()), (low, high)
        step = (alphas[:, 1:] - alphas[:, :-1]).reshape(a.numel(), 16, 1, 1, 1)
        ok = step > 0
        slack = 1e-13 * (1 + qu.abs().amax()) / step.clamp(min=1e-300)
        vel_u = (qu[:, 1:] - qu[:, :-1]).abs() / step.clamp(min=1e-300)
        vel_v = (qv[:, 1:] - qv[:, :-1]).abs() / step.clamp(min=1e-300)
        assert bool(((vel_u <= su[:, None] * (1 + 1e-9) + slack) | ~ok).all()), (low, high)
        assert bool(((vel_v <= sv[:, None] * (1 + 1e-9) + slack) | ~ok).all()), (low, high)


# ---------------------------------------------------------------------------------------------------
# soundness and tightness


def _cases():
    for name, kw, intervals in CASES:
        for pad in PADS:
            for low, high in intervals:
                tag = f"{name}{'-' + str(kw['angle']) if 'angle' in kw else ''}-{pad}-[{low:g},{high:g}]"
                yield pytest.param(name, kw, pad, low, high, id=tag)


@pytest.mark.parametrize("name,kw,pad,low,high", list(_cases()))
def test_bound_covers_the_measured_speed_and_is_not_vacuous(name, kw, pad, low, high):
    t = gsmooth.transform(name, padding_mode=pad, **kw)
    alphas, resolved = grid(name, low, high)
    for label, x in IMAGES.items():
        bound = t.path_speed_bound(x, low, high)
        assert isinstance(bound, float) and math.isfinite(bound) and bound >= 0.0
        speed, certain = measured_speed(t, x, alphas)
        assert bound >= certain, f"{label}: bound {bound} < measured {speed}"
        if resolved:
            assert bound <= 50.0 * speed + 1e-9, f"{label}: bound {bound} vacuous against measured {speed}"


@pytest.mark.parametrize("name,kw", [(n, kw) for n, kw, _ in CASES[:5]])
def test_bound_holds_for_pairs_far_apart(name, kw):
    """Not only neighbours: random pairs over the whole interval (the bound is a Lipschitz constant)."""
    low, high = dict((n, iv[0]) for n, _, iv in CASES)[name]
    g = torch.Generator().manual_seed(1)
    for pad in PADS:
        t = gsmooth.transform(name, padding_mode=pad, **kw)
        x = IMAGES["random"]
        bound = t.path_speed_bound(x, low, high)
        a = low + (high - low) * torch.rand(64, generator=g, dtype=torch.float64)
        b = low + (high - low) * torch.rand(64, generator=g, dtype=torch.float64)
        d = (evaluate(t, x, a) - evaluate(t, x, b)).norm(dim=1)
        assert bool((d <= bound * (a - b).abs() + 1e-12).all())


@pytest.mark.parametrize("name,kw", [(n, kw) for n, kw, _ in CASES[:5]])
def test_bound_is_homogeneous_and_computed_in_float64(name, kw):
    t = gsmooth.transform(name, **kw)
    x = IMAGES["random"]
    low, high = dict((n, iv[0]) for n, _, iv in CASES)[name]
    bound = t.path_speed_bound(x, low, high)
    assert t.path_speed_bound(2.0 * x, low, high) == pytest.approx(2.0 * bound, rel=1e-12)
    if t.padding_mode != "zeros":  # only differences count: an offset changes nothing
        assert t.path_speed_bound(x + 5.0, low, high) == pytest.approx(bound, rel=1e-12)
    x32 = x.float()
    assert t.path_speed_bound(x32, low, high) == t.path_speed_bound(x32.double(), low, high)


@pytest.mark.parametrize("name,kw", [(n, kw) for n, kw, _ in CASES[:5]])
def test_constant_image_without_zero_padding_does_not_move(name, kw):
    for pad in ("border", "reflection"):
        t = gsmooth.transform(name, padding_mode=pad, **kw)
        assert t.path_speed_bound(IMAGES["constant"], -0.5, 0.5) == 0.0


def test_zoom_in_never_sees_the_zero_padding():
    """Zooming in (factors ≥ 1) keeps every source point inside the image: a constant image gives 0,
    also with zero padding (the identity end of [0, z] is handled exactly, not widened outwards)."""
    for name in ("zoom_blur", "scaling"):
        t = gsmooth.transform(name, padding_mode="zeros")
        assert t.path_speed_bound(IMAGES["constant"], 0.0, 0.5) == 0.0
        assert t.path_speed_bound(IMAGES["constant"], -0.1, 0.0) > 0.0  # zooming out does


def test_bound_is_tight_for_a_ramp():
    """A ramp I = u (border padding) has exact per-cell bounds (Gu = 1, Gv = 0): over a tiny interval
    the bound is ‖(π/180)·r·|sin t|‖₂ over the pixels, the true speed but for the edge pixels whose
    source points leave the image (clamped there)."""
    h, w = 9, 9
    u = torch.arange(w, dtype=torch.float64).expand(1, h, w).clone()
    t = gsmooth.transform("rotation", padding_mode="border")
    bound = t.path_speed_bound(u, 0.0, 1e-6)
    speed, certain = measured_speed(t, u, torch.linspace(0.0, 1e-6, 5, dtype=torch.float64))
    assert certain <= bound <= 1.5 * speed


def test_non_finite_shapes_and_degenerate_images():
    t = gsmooth.transform("rotation")
    x = IMAGES["random"]
    with pytest.raises(ValueError):
        t.path_speed_bound(x[None], 0.0, 1.0)  # a batch, not one image
    with pytest.raises(ValueError):
        t.path_speed_bound(x, 1.0, 0.0)
    with pytest.raises(ValueError):
        t.path_speed_bound(x, 0.0, math.inf)
    bad = x.clone()
    bad[0, 0, 0] = math.nan
    with pytest.raises(ValueError):
        t.path_speed_bound(bad, 0.0, 1.0)
    assert t.path_speed_bound(x[:, :1, :], 0.0, 1.0) is None  # a single row: kornia maps it specially
    assert t.path_speed_bound(x, 2.0, 2.0) >= 0.0


def test_large_interval_is_capped_but_still_sound():
    t = gsmooth.transform("scaling", padding_mode="zeros")
    x = IMAGES["random"]
    bound = t.path_speed_bound(x, -0.999, 1.0)  # speed 1/s² over three decades: capped pieces
    speed, certain = measured_speed(t, x, grid("scaling", -0.999, 1.0)[0])
    assert math.isfinite(bound) and bound >= certain


def test_a_path_ending_on_a_grid_line_counts_both_sides():
    """Known looseness (sound): at s = 0.2 the source point of an output pixel lands exactly on the
    line u = −1, the edge of the bright corner pixel's support; the box end is widened for rounding,
    so the cells on both sides count although the path stays on the dark side (true speed 0)."""
    t = gsmooth.transform("scaling", padding_mode="zeros")
    x = IMAGES["corner"]
    speed, certain = measured_speed(t, x, grid("scaling", -0.9, -0.8)[0])
    assert certain <= 0.0 and 0.0 < t.path_speed_bound(x, -0.9, -0.8) < math.inf
    assert t.path_speed_bound(x, -0.9, -0.81) == 0.0


# ---------------------------------------------------------------------------------------------------
# the padded-lattice machinery against brute force


@pytest.mark.parametrize("pad", PADS)
def test_canonical_faces_and_range_max_match_a_brute_force_lattice(pad):
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 5, 6, generator=g, dtype=torch.float64)
    gu, gv, offset = _common._face_tables(x, pad)
    rm = _common._RangeMax(gu)
    _, h, w = x.shape
    # explicit lattice far out: faces hv, hu in [-40, 40]
    span = torch.arange(-40, 41)
    jj, ii = torch.meshgrid(span, span, indexing="ij")

    def face_gu(hv, hu):  # Gu of face (hv, hu) straight from the definition
        if hu % 2 == 0:
            return torch.zeros(x.shape[0], dtype=torch.float64)
        i = (hu - 1) // 2
        rows = [hv // 2] if hv % 2 == 0 else [(hv - 1) // 2, (hv + 1) // 2]
        vals = [(_lattice(x, torch.tensor(r), torch.tensor(i + 1), pad) - _lattice(x, torch.tensor(r), torch.tensor(i), pad)).abs() for r in rows]
        return torch.stack(vals).max(dim=0).values

    brute = {(hv, hu): face_gu(hv, hu) for hv in range(-14, 15) for hu in range(-16, 17)}
    for _ in range(300):
        hv0, hu0 = int(torch.randint(-14, 15, (1,), generator=g)), int(torch.randint(-16, 17, (1,), generator=g))
        hv1 = min(14, hv0 + int(torch.randint(0, 14, (1,), generator=g)))
        hu1 = min(16, hu0 + int(torch.randint(0, 14, (1,), generator=g)))
        want = torch.stack([brute[(a, b)] for a in range(hv0, hv1 + 1) for b in range(hu0, hu1 + 1)]).max(dim=0).values
        kv0, kv1 = _common._canonical_faces(torch.tensor([hv0]), torch.tensor([hv1]), h, pad)
        ku0, ku1 = _common._canonical_faces(torch.tensor([hu0]), torch.tensor([hu1]), w, pad)
        got = rm.query(kv0, kv1, ku0, ku1)[0]
        assert torch.equal(got, want), ((hv0, hv1, hu0, hu1), got, want)


# ---------------------------------------------------------------------------------------------------
# kink points


def test_kink_points_values():
    assert gsmooth.transform("rotation").kink_points(-10, 10) == (0.0,)
    assert gsmooth.transform("rotation").kink_points(1, 10) == ()
    assert gsmooth.transform("rotational_blur").kink_points(0, 10) == (0.0,)
    assert gsmooth.transform("scaling").kink_points(-0.3, 0.3) == (0.0,)
    assert gsmooth.transform("scaling").kink_points(-1.0, -0.5) == (1e-3 - 1.0,)
    assert gsmooth.transform("zoom_blur", num_samples=3).kink_points(-3.0, 0.5) == pytest.approx(
        (-0.999 * 2, -0.999, 0.0)
    )
    assert gsmooth.transform("motion_blur", num_samples=3).kink_points(0.0, 5.0) == (0.0, 2.0, 4.0)
    ks = gsmooth.transform("motion_blur", num_samples=5, angle=30.0).kink_points(-1.0, 3.0)
    assert ks == tuple(sorted(set(ks))) and 0.0 in ks and all(-1.0 <= k <= 3.0 for k in ks)
    assert math.copysign(1.0, ks[ks.index(0.0)]) == 1.0  # never −0.0
    with pytest.raises(ValueError):
        gsmooth.transform("motion_blur").kink_points(0.0, 1e9)


def _derivative_jumps(t, x, low, high, n):
    """Grid cells [a_i, a_{i+1}] where the one-sided slopes on either side disagree (second
    differences far above rounding): there must be a kink in [a_{i−1}, a_{i+1}]."""
    alphas = torch.linspace(low, high, n + 1, dtype=torch.float64)
    y = evaluate(t, x, alphas)
    slope = (y[1:] - y[:-1]) / (alphas[1] - alphas[0])
    jump = (slope[1:] - slope[:-1]).abs().max(dim=1).values
    return alphas[1:-1][jump > 1e-3]


@pytest.mark.parametrize("angle", [0.0, 30.0])
def test_motion_blur_kink_points_are_complete(angle):
    t = gsmooth.transform("motion_blur", num_samples=4, angle=angle)
    x = IMAGES["random"]
    low, high, n = 0.05, 4.0, 3001
    kinks = torch.tensor(t.kink_points(low, high), dtype=torch.float64)
    step = (high - low) / n
    for a in _derivative_jumps(t, x, low, high, n):
        assert float((kinks - a).abs().min()) <= 1.01 * step, float(a)
    # and they are real kinks: the slope changes across each listed point
    for k in kinks.tolist():
        h = 1e-4
        y = evaluate(t, x, torch.tensor([k - h, k, k + h], dtype=torch.float64))
        assert float(((y[2] - y[1]) - (y[1] - y[0])).abs().max()) / h > 1e-3


def test_rotation_has_a_kink_at_the_identity():
    t = gsmooth.transform("rotation")
    h = 1e-4
    y = evaluate(t, IMAGES["random"], torch.tensor([-h, 0.0, h], dtype=torch.float64))
    assert float(((y[2] - y[1]) - (y[1] - y[0])).abs().max()) / h > 1e-3


# ---------------------------------------------------------------------------------------------------


def ratio_table(c: int = 3, h: int = 32, w: int = 32) -> None:  # pragma: no cover - a report
    """Print bound / measured for the papers' ranges on (c, h, w) images, K = 16 samples."""
    ranges = [
        ("rotation", {}, (-10.0, 10.0)),
        ("scaling", {}, (-0.3, 0.3)),
        ("rotational_blur", {}, (0.0, 10.0)),
        ("zoom_blur", {}, (0.0, 0.5)),
        ("motion_blur", {}, (0.0, 5.0)),
    ]
    ims = images(c, h, w)
    print(f"{'transform':16s} {'padding':10s} " + " ".join(f"{k:>9s}" for k in ims))
    for name, kw, (low, high) in ranges:
        for pad in PADS:
            t = gsmooth.transform(name, padding_mode=pad, **kw)
            row = []
            alphas = grid(name, low, high, h, w)[0]
            for x in ims.values():
                bound = t.path_speed_bound(x, low, high)
                speed, certain = measured_speed(t, x, alphas)
                row.append("0/0" if certain <= 0.0 and bound == 0.0 else f"{bound / speed:9.3f}")
            print(f"{name:16s} {pad:10s} " + " ".join(f"{r:>9s}" for r in row))


if __name__ == "__main__":  # pragma: no cover
    ratio_table()
