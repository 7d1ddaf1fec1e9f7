"""Defocus blur (Hendrycks & Dietterich; GSmooth): convolution with a normalised disk of radius r pixels.

Non-resolvable: certified through ``gsmooth surrogate`` (kind surrogate); the raw transform here is
``kind="empirical"``.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import torch
from kornia.filters import fft_conv, gaussian_blur2d

import gsmooth
from gsmooth.validation import Interval, validate_params

from ._common import FINITE, SAFETY_FACTOR, check_image, compute_dtype, image_hw, params, path_args

__all__ = ["defocus_blur", "defocus_kernel", "defocus_path_speed_bound", "defocus_kink_points", "DefocusBlur"]


def defocus_kernel(
    radius: torch.Tensor, half_size: tuple[int, int], *, alias_sigma: float = 0.0
) -> torch.Tensor:
    """Per-sample normalised soft disks ``(B, 2·hy + 1, 2·hx + 1)`` for radii ``(B,)`` (pixels).

    The weight of the pixel at distance d from the centre is ``clamp(r + 1/2 − d, 0, 1)`` — the
    area-coverage approximation of a disk of radius r (1 inside, 0 outside, linear across the
    one-pixel-wide rim), so the kernel varies continuously (and differentiably) with r, unlike
    Hendrycks's hard disk ``d ≤ r``. For r ≤ 1/2 only the centre pixel is covered: the kernel is a
    delta (as Hendrycks's disk for r < 1). Negative radii count as 0. With ``alias_sigma > 0`` the
    disk is then smoothed with a 3×3 Gaussian of that σ (Hendrycks's anti-aliasing step). Each
    kernel sums to 1.

    Example:
        >>> k = defocus_kernel(torch.tensor([1.0]), (2, 2))
        >>> round(float(k.sum()), 6), k.shape
        (1.0, torch.Size([1, 5, 5]))
    """
    r = radius.clamp(min=0.0).reshape(-1, 1, 1)
    dist = _offset_distances(half_size, radius.device, radius.dtype)
    disk = _antialias((r + 0.5 - dist).clamp(0.0, 1.0), alias_sigma)  # the centre always has weight ≥ 1/2
    return disk / disk.sum(dim=(-2, -1), keepdim=True)


def _offset_distances(half_size: tuple[int, int], device, dtype) -> torch.Tensor:
    """``(2hy+1, 2hx+1)`` distances of the kernel offsets from the centre."""
    hy, hx = half_size
    oy = torch.arange(-hy, hy + 1, device=device, dtype=dtype)
    ox = torch.arange(-hx, hx + 1, device=device, dtype=dtype)
    return torch.sqrt(oy[:, None] ** 2 + ox[None, :] ** 2)


def _antialias(disk: torch.Tensor, alias_sigma: float) -> torch.Tensor:
    """Hendrycks's 3×3 Gaussian smoothing of ``(B, kh, kw)`` kernels (identity for σ = 0); linear."""
    if alias_sigma > 0:
        s = float(alias_sigma)
        return gaussian_blur2d(disk[:, None], (3, 3), (s, s), border_type="constant")[:, 0]
    return disk


def defocus_blur(x: torch.Tensor, theta: torch.Tensor, *, alias_sigma: float = 0.0) -> torch.Tensor:
    """Convolve each image with its own normalised disk of radius θ pixels (:func:`defocus_kernel`).

    Args:
        x: ``(B, C, H, W)`` images.
        theta: ``(B, 1)`` (or ``(B,)``) disk radius r in pixels (r ≤ 1/2 is the identity when
            ``alias_sigma == 0``; disks larger than the image are truncated to it).
            CIFAR-10-C severities: (r, alias σ) = (0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2),
            (1.5, 0.1); GSmooth certifies r < 5.
        alias_sigma: σ of Hendrycks's 3×3 Gaussian anti-aliasing of the disk; 0 (default) keeps
            θ = 0 the identity — the soft rim already anti-aliases the disk. With ``alias_sigma > 0``
            θ = 0 is a slight blur (the transform then reports ``identity_at_zero = False``).

    Returns:
        ``(B, C, H, W)`` on ``x``'s device and dtype, with reflect-101 borders (OpenCV's default, as
        in Hendrycks's ``cv2.filter2D``). Differentiable in r (reverse and forward mode) wherever the
        rim crosses a pixel centre, i.e. for r > 1/2; flat (zero gradient) on [0, 1/2].
        Half precision is computed in float32.

    Implementation: the per-sample kernels are built on a fixed ``(2H−1) × (2W−1)`` grid (every
    offset inside the image) and applied with ``kornia.filters.fft_conv``. A kernel size taken from
    the largest radius in the batch would need a host sync (``.item()``), would break
    ``torch.func`` transforms, and would make an image's output depend on the other images of its
    batch (through the float summation order); the fixed grid avoids all three, and the FFT makes
    its cost independent of the radius.

    Example:
        >>> x = torch.full((2, 3, 8, 8), 0.25, dtype=torch.float64)
        >>> torch.allclose(defocus_blur(x, torch.tensor([[1.5], [3.0]])), x)   # constants stay constant
        True
    """
    check_image("defocus_blur", x)
    validate_params("defocus_blur", {"alias_sigma": alias_sigma}, DefocusBlur._parameter_constraints)
    dtype = compute_dtype(x)
    r = params("defocus_blur", theta, x, 1, dtype)[:, 0]
    _, _, h, w = x.shape
    kernel = defocus_kernel(r, (h - 1, w - 1), alias_sigma=alias_sigma)
    return fft_conv(x.to(dtype), kernel, border_type="reflect").to(x.dtype)


#: Relative size of the float64 FFT error allowance in :func:`defocus_path_speed_bound` (see there).
_FFT_SLACK = 1e-11


def defocus_path_speed_bound(x: torch.Tensor, low: float, high: float, *, alias_sigma: float = 0.0) -> float:
    r"""A proven L with ``‖defocus_blur(x, α) − defocus_blur(x, β)‖₂ ≤ L·|α − β|`` for all radii
    α, β in ``[low, high]`` (one image ``x`` ``(C, H, W)``, ℓ2 over all C·H·W pixels).

    It is (up to float64 rounding, rounded up) the *exact* Lipschitz constant of the path, i.e.
    its largest speed ``sup ‖∂τ/∂r‖`` on the interval.

    Proof. τ(r, x) = Conv(x, K_r), where ``Conv`` is the map of :func:`defocus_blur` —
    ``kornia.filters.fft_conv`` with ``border_type="reflect"``: ``F.pad(·, (H−1, W−1) each side,
    mode="reflect")`` (reflect-101, no edge duplication), then the correlation with the
    ``(2H−1) × (2W−1)`` kernel, kept on the valid ``H × W`` window. ``Conv`` is linear in the
    kernel, so ``∂τ/∂r = Conv(x, ∂K/∂r)`` wherever K is differentiable — whatever the border
    handling, which is therefore taken into account exactly (the bound applies ``Conv`` itself).
    K_r = u(r)/S(r) with ``u(r) = G(w(r))``, ``w_k(r) = clamp(r + 1/2 − d_k, 0, 1)`` on the kernel
    offsets k at distance d_k, G the identity or (``alias_sigma > 0``) the 3×3 Gaussian smoothing,
    linear with non-negative weights, and ``S = Σ_k u_k``. Between consecutive *kinks*
    ``r ∈ {d_k ± 1/2}`` the rim ``R = {k: 0 < r + 1/2 − d_k < 1}`` is fixed and ``w`` is affine:
    ``w(r) = w(a) + (r − a)·1_R`` on a piece ``[a, b]``, so ``u(r) = u(a) + (r − a)u'`` with
    ``u' = G(1_R) ≥ 0`` and ``S(r) = S(a) + (r − a)s'``, ``s' = Σ u' ≥ 0``. Then

        ∂K/∂r = (u'·S − u·s')/S² = (u'·S(a) − u(a)·s')/S(r)² = V/S(r)²    (the (r − a) terms cancel),

    a fixed kernel V over the piece, so ``‖∂τ/∂r‖ = ‖Conv(x, V)‖/S(r)² ≤ ‖Conv(x, V)‖/S(a)²``
    (S is non-decreasing), with equality at r = a. τ is continuous in r (K is), hence absolutely
    continuous, and ``‖τ(α) − τ(β)‖ ≤ ∫_β^α ‖∂τ/∂r‖ dr ≤ L·|α − β|`` with L the maximum of the
    piece bounds. Radii below 0 are clamped to 0 by the transform (a constant path, speed 0); on
    ``[0, 1/2)`` only the centre is covered (K is a delta, V = 0).

    Floating point: the pieces are taken on ``[low − tol, high + tol]``, ``tol = 1e-9·(1 + |high|)``
    (a larger interval: any float64 misplacement of a kink ``√n ± 1/2`` is far below tol, so no
    true piece overlapping ``[low, high]`` is missed). ``Conv(x, V)`` is computed in float64 by
    the same FFT; its error is at most ``c·u·log₂N·‖x_pad‖·(‖V‖₁ + √N‖V‖₂)`` (backward-stable FFTs,
    u = 2⁻⁵³, N the padded grid size, c a small constant), and ``1e-11·3‖x‖·(‖V‖₁ + √N‖V‖₂)/S(a)²``
    is added to each piece (``‖x_pad‖ ≤ 3‖x‖``: reflect padding by less than the image repeats each
    pixel at most three times per axis) — hundreds of times that error and ~1e-9 of a typical bound.
    The maximum is multiplied by ``1 + 1e-9``.

    Args:
        x: ``(C, H, W)`` image (any device, floating dtype; used in float64 on the CPU).
        low, high: the radius interval (pixels), ``low <= high``.
        alias_sigma: as in :func:`defocus_blur`.

    Example:
        >>> x = torch.zeros(1, 9, 9, dtype=torch.float64); x[0, :, 4:] = 1.0   # a vertical edge
        >>> defocus_path_speed_bound(x, 0.0, 0.4)          # r < 1/2: the identity, speed 0
        0.0
        >>> L = defocus_path_speed_bound(x, 1.0, 2.0)
        >>> a, b = defocus_blur(x[None], torch.tensor([[1.2]], dtype=torch.float64)), defocus_blur(x[None], torch.tensor([[1.3]], dtype=torch.float64))
        >>> bool((a - b).norm() <= L * 0.1)
        True
    """
    owner = "defocus_blur"
    x64, lo, hi = path_args(owner, x, low, high)
    validate_params(owner, {"alias_sigma": alias_sigma}, DefocusBlur._parameter_constraints)
    if lo == hi or hi < 0:
        return 0.0  # a point, or radii that all clamp to 0: ‖τ(α) − τ(β)‖ = 0
    _, h, w = x64.shape
    dist = _offset_distances((h - 1, w - 1), "cpu", torch.float64)
    tol = 1e-9 * (1.0 + abs(hi))
    a, b = max(lo - tol, 0.0), hi + tol
    d = np.unique(dist.numpy())
    kinks = np.concatenate([d - 0.5, d + 0.5])
    kinks = np.unique(kinks[(kinks > a) & (kinks < b)])
    ends = np.concatenate([[a], kinks, [b]])
    starts, mids = ends[:-1], (ends[:-1] + ends[1:]) / 2
    rim = [(m + 0.5 - dist > 0) & (m + 0.5 - dist < 1) for m in mids]
    keep = [i for i, rm in enumerate(rim) if bool(rm.any())]  # an empty rim: K constant on the piece
    if not keep:
        return 0.0
    du = _antialias(torch.stack([rim[i] for i in keep]).to(torch.float64), alias_sigma)
    r0 = torch.tensor(starts[keep], dtype=torch.float64).reshape(-1, 1, 1)
    u0 = _antialias((r0 + 0.5 - dist).clamp(0.0, 1.0), alias_sigma)
    s0, s1 = u0.sum(dim=(-2, -1)), du.sum(dim=(-2, -1))
    v = s0[:, None, None] * du - s1[:, None, None] * u0  # (P, 2H−1, 2W−1), Σ v = 0
    n_pad = (3 * h - 2) * (3 * w - 2)
    x_norm = float(x64.norm())
    best = 0.0
    for i in range(0, v.shape[0], 32):  # chunks bound the memory of the batched FFT
        vc = v[i:i + 32]
        speed = fft_conv(x64[None].expand(vc.shape[0], -1, -1, -1), vc, border_type="reflect").flatten(1).norm(dim=1)
        slack = _FFT_SLACK * 3.0 * x_norm * (vc.abs().sum(dim=(-2, -1)) + math.sqrt(n_pad) * vc.flatten(1).norm(dim=1))
        best = max(best, float(((speed + slack) / s0[i:i + 32] ** 2).max()))
    return best * SAFETY_FACTOR


def defocus_kink_points(low: float, high: float, image_size=None) -> tuple[float, ...]:
    """The radii in ``[low, high]`` where :func:`defocus_blur` is not differentiable in r: the rim
    of the soft disk reaches or leaves a kernel offset, ``r = d ± 1/2`` for the offset distances
    ``d = √(a² + b²)`` (``|a| ≤ H − 1``, ``|b| ≤ W − 1``), restricted to r ≥ 0 (r = 1/2 among them).

    Without ``image_size`` every lattice distance is used (a superset: the extra points are smooth
    points of the path on a small image); ``high`` must then be finite and at most 4096.

    Example:
        >>> defocus_kink_points(0.0, 1.6)
        (0.5, 0.9142135623730951, 1.5)
    """
    owner = "defocus_blur"
    for name, v in (("low", low), ("high", high)):
        if not FINITE.contains(v):  # also 10**400: no finite float
            raise gsmooth.InvalidParameterError(f"{owner}.kink_points: {name} expected a finite number, got {v!r}")
    lo, hi = max(float(low), 0.0), float(high)
    if lo > hi:
        return ()
    reach = int(math.floor(hi + 0.5))  # offsets beyond distance r + 1/2 never matter
    if image_size is None:
        if hi > 4096:
            raise gsmooth.InvalidParameterError(
                f"{owner}.kink_points: expected high <= 4096 without image_size, got {high!r}; pass image_size=(H, W)"
            )
        ry = rx = reach
    else:
        hh, ww = image_hw(owner, image_size)
        ry, rx = min(reach, hh - 1), min(reach, ww - 1)
    ay = np.arange(0, ry + 1, dtype=np.int64)[:, None] ** 2
    ax = np.arange(0, rx + 1, dtype=np.int64)[None, :] ** 2
    d = np.sqrt(np.unique(ay + ax).astype(np.float64))
    k = np.unique(np.concatenate([d - 0.5, d + 0.5]))
    return tuple(float(t) for t in k[(k >= lo) & (k <= hi)])


class DefocusBlur(gsmooth.Transform):
    """Thin module over :func:`defocus_blur`: θ = disk radius r in pixels, param_dim 1.

    Certified through ``gsmooth surrogate`` (kind surrogate); the raw transform is ``kind="empirical"``.
    ``identity_at_zero`` is True for the default ``alias_sigma=0`` and False (set on the instance)
    otherwise.

    Example:
        >>> t = gsmooth.transform("defocus_blur")
        >>> t(torch.rand(2, 3, 8, 8), torch.tensor([[2.0], [0.0]])).shape
        torch.Size([2, 3, 8, 8])
    """

    name = "defocus_blur"
    param_dim = 1
    kind = "empirical"
    param_units = "pixels (disk radius)"
    #: Default noise, σ, range and slices (see :mod:`gsmooth.core.defaults` for the table and the sources).
    defaults = gsmooth.TransformDefaults(
        noise="gaussian", sigma=1.25, range=((0.0, 5.0),), latent_sigma=1.0, surrogate=True,
        source="5 px (GSmooth, P); σ (O)", range_label="≤ 5",
    )
    identity_at_zero = True
    #: a disk radius: negative radii would be clamped to 0
    param_domain = ((0.0, math.inf),)
    _parameter_constraints = {"alias_sigma": [Interval(Real, 0, None)]}

    def __init__(self, *, alias_sigma: float = 0.0):
        super().__init__()
        self.alias_sigma = alias_sigma
        self.validate_params()

    @property
    def alias_sigma(self) -> float:
        return self._alias_sigma

    @alias_sigma.setter
    def alias_sigma(self, value: float) -> None:
        # validated (from the table, as validate_params does), and identity_at_zero kept in step,
        # whenever it is set, not only in __init__: the anti-aliasing blur applies at r = 0 too,
        # so τ(0, x) ≠ x when alias_sigma > 0
        validate_params(f"{type(self).__name__}({self.name!r})", {"alias_sigma": value}, self._parameter_constraints)
        self._alias_sigma = value
        self.identity_at_zero = not value > 0

    def forward(self, x, theta):
        return defocus_blur(x, theta, alias_sigma=self.alias_sigma)

    def path_speed_bound(self, x: torch.Tensor, low: float, high: float) -> float:
        """Proven speed bound of r ↦ τ(r, x) on ``[low, high]``: :func:`defocus_path_speed_bound`
        (whose docstring is the proof); exact up to rounding."""
        return defocus_path_speed_bound(x, low, high, alias_sigma=self.alias_sigma)

    def kink_points(self, low: float, high: float, *, image_size=None) -> tuple[float, ...]:
        """:func:`defocus_kink_points` (``r = d ± 1/2``; pass ``image_size=(H, W)`` for the exact set,
        otherwise a superset)."""
        return defocus_kink_points(low, high, image_size)
