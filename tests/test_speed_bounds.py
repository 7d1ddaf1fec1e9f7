"""Proven path-speed bounds and kink points of defocus_blur and pixelate (Transform.path_speed_bound,
Transform.kink_points) against dense finite differences and autograd in float64.

The bound L must dominate every measured speed ‖τ(a) − τ(b)‖/|a − b| (soundness; up to the float64
noise of evaluating τ itself) and must not be vacuous (a small multiple of the measured maximum).
"""

from __future__ import annotations

import math

import pytest
import torch

import gsmooth
from gsmooth.errors import InvalidParameterError
from gsmooth_plugins.transforms.defocus_blur import defocus_blur, defocus_kink_points, defocus_path_speed_bound
from gsmooth_plugins.transforms.pixelate import pixelate, pixelate_kink_points, pixelate_path_speed_bound

F64 = torch.float64


def _images(shape):
    c, h, w = shape
    gen = torch.Generator().manual_seed(0)
    rnd = torch.rand(shape, generator=gen, dtype=F64)
    edges = torch.zeros(shape, dtype=F64)  # a real-looking image: flat regions, sharp edges, a line
    edges[:, h // 4: 3 * h // 4, w // 6: w // 2 + 1] = 1.0
    edges[min(1, c - 1), :, 2 * w // 3:] = 0.7
    edges[c - 1, h // 2, :] = 1.0
    const = torch.full(shape, 0.4, dtype=F64)
    return {"random": rnd, "edges": edges, "const": const}


def _fd_speed(fn, x, lo, hi, points):
    """max over neighbouring points of a dense grid of ‖τ(a) − τ(b)‖/|a − b|, and the grid step."""
    a = torch.linspace(lo, hi, points, dtype=F64)
    out = torch.cat([fn(x[None].expand(len(t), -1, -1, -1), t[:, None]) for t in a.split(512)])
    ratios = (out[1:] - out[:-1]).flatten(1).norm(dim=1) / (a[1:] - a[:-1])
    return float(ratios.max()), float(a[1] - a[0])


def _jvp_speed(fn, x, thetas):
    """max ‖∂τ/∂θ‖ by forward-mode autograd at the given θ."""
    best = 0.0
    for t in thetas:
        theta = torch.tensor([[t]], dtype=F64)
        _, tangent = torch.func.jvp(lambda th: fn(x[None], th), (theta,), (torch.ones_like(theta),))
        best = max(best, float(tangent.norm()))
    return best


def _noise_allowance(x, step):
    """The float64 noise of ‖τ(a) − τ(b)‖/|a − b| itself (evaluation roundoff over a step)."""
    return 1e-12 * (1.0 + float(x.norm())) / step


def _check(fn, bound_fn, x, lo, hi, *, points, tight=None, ratios=None):
    bound = bound_fn(x, lo, hi)
    assert math.isfinite(bound) and bound >= 0.0
    fd, step = _fd_speed(fn, x, lo, hi, points)
    assert bound >= fd - _noise_allowance(x, step), (lo, hi, bound, fd)
    if hi - lo > 1e-3:  # autograd at random interior points: at a kink autograd returns no derivative
        inner = (lo + (hi - lo) * torch.rand(11, generator=torch.Generator().manual_seed(5), dtype=F64)).tolist()
        assert bound >= _jvp_speed(fn, x, inner) - 1e-12 * (1.0 + float(x.norm())), (lo, hi)
    if fd > 1e-6:
        ratio = bound / fd
        assert ratio <= 50.0, (lo, hi, ratio)
        if tight is not None:
            assert ratio <= tight, (lo, hi, ratio)
        if ratios is not None:
            ratios.append(ratio)
    else:  # a constant path (constant image, or θ in a flat region): the bound must say so
        assert bound <= 1e-6 * (1.0 + float(x.norm())), (lo, hi, bound)
    return bound


# ----------------------------------------------------------------------------------------- defocus

DEFOCUS_INTERVALS = [
    (0.0, 0.4),  # r < 1/2: the identity (flat)
    (-1.0, 0.45),  # radii below 0 clamp to 0
    (0.3, 1.7),  # kinks at 1/2, √2 − 1/2, 3/2
    (1.2, 1.2001),  # tiny
    (1.5 - 1e-5, 1.5 + 1e-5),  # tiny, around a kink
    (math.sqrt(5) - 0.5 - 1e-4, math.sqrt(5) - 0.5 + 1e-4),
    (2.0, 5.0),
    (0.0, 14.0),  # beyond the image: the kernel grid truncates the disk
]


@pytest.mark.parametrize("alias_sigma", [0.0, 0.5])
@pytest.mark.parametrize("image", ["random", "edges", "const"])
def test_defocus_speed_bound_is_sound_and_exact(image, alias_sigma):
    x = _images((3, 10, 11))[image]

    def fn(xb, t):
        return defocus_blur(xb, t, alias_sigma=alias_sigma)

    def bound_fn(x_, lo, hi):
        return defocus_path_speed_bound(x_, lo, hi, alias_sigma=alias_sigma)

    for lo, hi in DEFOCUS_INTERVALS:
        # the bound is the exact sup of the speed: a dense grid gets within a few percent
        _check(fn, bound_fn, x, lo, hi, points=1501, tight=1.1)


def test_defocus_speed_bound_on_non_square_and_thin_images():
    gen = torch.Generator().manual_seed(1)
    for shape in [(1, 1, 7), (2, 5, 3), (1, 1, 1)]:
        x = torch.rand(shape, generator=gen, dtype=F64)
        for lo, hi in [(0.0, 3.0), (0.6, 0.61)]:
            _check(defocus_blur, defocus_path_speed_bound, x, lo, hi, points=1201, tight=1.1)


def test_defocus_transform_methods_and_kinks():
    t = gsmooth.transform("defocus_blur", alias_sigma=0.5)
    x = _images((3, 8, 8))["random"]
    assert t.path_speed_bound(x, 0.5, 2.0) == defocus_path_speed_bound(x, 0.5, 2.0, alias_sigma=0.5)
    assert t.path_speed_bound(x.float(), 0.5, 2.0) == pytest.approx(defocus_path_speed_bound(x.float().double(), 0.5, 2.0, alias_sigma=0.5))
    assert t.path_speed_bound(x, 1.0, 1.0) == 0.0
    assert defocus_kink_points(0.0, 2.0) == pytest.approx((0.5, math.sqrt(2) - 0.5, 1.5, math.sqrt(5) - 0.5, math.sqrt(2) + 0.5))
    # with the image size: only offsets inside the (2H−1)×(2W−1) kernel grid
    assert t.kink_points(0.0, 3.0, image_size=(1, 2)) == (0.5, 1.5)
    assert set(t.kink_points(0.0, 6.0, image_size=(3, 8, 8))) <= set(t.kink_points(0.0, 6.0))
    x = _images((1, 9, 9))["random"]
    for k in defocus_kink_points(0.6, 3.0, (9, 9)):  # each is a true kink: one-sided derivatives differ
        h = 1e-6
        f = [defocus_blur(x[None], torch.tensor([[k + s * h]], dtype=F64)) for s in (-1, 0, 1)]
        assert float(((f[2] - f[1]) - (f[1] - f[0])).norm() / h) > 1e-3, k
    with pytest.raises(InvalidParameterError, match="expected"):
        t.path_speed_bound(x[None], 0.0, 1.0)
    with pytest.raises(InvalidParameterError, match="low <= high"):
        t.path_speed_bound(x, 2.0, 1.0)
    with pytest.raises(InvalidParameterError, match="finite"):
        t.path_speed_bound(x, 0.0, math.inf)
    with pytest.raises(InvalidParameterError, match="finite"):
        t.path_speed_bound(torch.full((1, 4, 4), math.nan), 0.0, 1.0)


# ---------------------------------------------------------------------------------------- pixelate

PIXELATE_INTERVALS = [
    (-0.3, 0.0),  # θ ≤ 0: the identity (flat)
    (-0.3, 0.1),
    (0.0, 0.5),
    (0.1, 0.35),
    (0.2, 0.2001),  # tiny
    (0.5 - 1e-5, 0.5 + 1e-5),  # tiny, around the integer width p = 2
    (1 / 3 - 1e-5, 1 / 3 + 1e-5),  # tiny, around p = 3/2 (boundary 2 meets pixel edge 3)
    (0.4, 0.9),
    (0.9, 0.99),
    (0.95, 1.0),  # blocks reach the whole image: flat beyond θ = 1 − 1/max(H, W)
]


@pytest.mark.parametrize("shape", [(3, 12, 12), (2, 7, 10)])
@pytest.mark.parametrize("image", ["random", "edges", "const"])
def test_pixelate_speed_bound_is_sound_and_not_vacuous(image, shape):
    x = _images(shape)[image]
    ratios = []
    for lo, hi in PIXELATE_INTERVALS:
        _check(pixelate, pixelate_path_speed_bound, x, lo, hi, points=3001, ratios=ratios)
    if image != "const":
        assert max(ratios) <= 8.0, ratios  # measured: 1.7–5.5 (see the report in the commit)


def test_pixelate_speed_bound_on_thin_images():
    gen = torch.Generator().manual_seed(2)
    for shape in [(1, 1, 9), (1, 3, 1), (1, 1, 1)]:
        x = torch.rand(shape, generator=gen, dtype=F64)
        for lo, hi in [(0.0, 0.7), (0.3, 0.3001)]:
            _check(pixelate, pixelate_path_speed_bound, x, lo, hi, points=2001)


def test_pixelate_transform_methods_and_kinks():
    t = gsmooth.transform("pixelate")
    x = _images((3, 6, 6))["random"]
    assert t.path_speed_bound(x, 0.1, 0.4) == pixelate_path_speed_bound(x, 0.1, 0.4)
    assert t.path_speed_bound(x, 0.3, 0.3) == 0.0
    # kinks θ = 1 − k/m, 1 ≤ k ≤ m ≤ n: p = 1, 4/3, 3/2, 2 for n = 4 (not only integer widths)
    assert t.kink_points(0.0, 0.5, image_size=(4, 4)) == pytest.approx((0.0, 0.25, 1 / 3, 0.5))
    assert t.kink_points(0.0, 0.5, image_size=(3, 4, 3)) == pytest.approx((0.0, 0.25, 1 / 3, 0.5))
    assert t.kink_points(0.6, 1.0, image_size=(3, 3)) == pytest.approx((2 / 3,))
    assert t.kink_points(0.7, 1.0, image_size=(3, 3)) == ()
    with pytest.raises(InvalidParameterError, match="image_size"):
        t.kink_points(0.0, 0.5)
    kinks = pixelate_kink_points(0.05, 0.6, (6, 6))
    for k in kinks:  # each is a true kink
        h = 1e-7
        f = [pixelate(x[None], torch.tensor([[k + s * h]], dtype=F64)) for s in (-1, 0, 1)]
        assert float(((f[2] - f[1]) - (f[1] - f[0])).norm() / h) > 1e-3, k
    mids = [(a + b) / 2 for a, b in zip(kinks[:-1], kinks[1:])]
    for m in mids:  # and the path is smooth between them
        h = 1e-6
        f = [pixelate(x[None], torch.tensor([[m + s * h]], dtype=F64)) for s in (-1, 0, 1)]
        assert float(((f[2] - f[1]) - (f[1] - f[0])).norm() / h) < 1e-3, m
    import numpy as np

    assert t.path_speed_bound(x.float(), np.float32(0.1), 0.4) == pytest.approx(
        pixelate_path_speed_bound(x.float().double(), float(np.float32(0.1)), 0.4)
    )
    with pytest.raises(InvalidParameterError, match="expected"):
        t.path_speed_bound(torch.ones(4, 4), 0.0, 0.5)
    with pytest.raises(InvalidParameterError, match="floating"):
        t.path_speed_bound(torch.ones(1, 4, 4, dtype=torch.int64), 0.0, 0.5)
