"""Defocus blur (Hendrycks & Dietterich; GSmooth): convolution with a normalised disk of radius r pixels.

Non-resolvable: certified through ``gsmooth surrogate`` (kind surrogate); the raw transform here is
``kind="empirical"``.
"""

from __future__ import annotations

import math
import torch
from kornia.filters import fft_conv, gaussian_blur2d

import gsmooth

from ._common import check_image, check_real, compute_dtype, params

__all__ = ["defocus_blur", "defocus_kernel", "DefocusBlur"]


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
    hy, hx = half_size
    r = radius.clamp(min=0.0).reshape(-1, 1, 1)
    oy = torch.arange(-hy, hy + 1, device=radius.device, dtype=radius.dtype)
    ox = torch.arange(-hx, hx + 1, device=radius.device, dtype=radius.dtype)
    dist = torch.sqrt(oy[:, None] ** 2 + ox[None, :] ** 2)  # (2hy+1, 2hx+1)
    disk = (r + 0.5 - dist).clamp(0.0, 1.0)  # the centre (d = 0) always has weight ≥ 1/2
    if alias_sigma > 0:
        disk = gaussian_blur2d(disk[:, None], (3, 3), (float(alias_sigma), float(alias_sigma)), border_type="constant")[:, 0]
    return disk / disk.sum(dim=(-2, -1), keepdim=True)


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
    check_real("defocus_blur", "alias_sigma", alias_sigma, 0.0)
    dtype = compute_dtype(x)
    r = params("defocus_blur", theta, x, 1, dtype)[:, 0]
    _, _, h, w = x.shape
    kernel = defocus_kernel(r, (h - 1, w - 1), alias_sigma=alias_sigma)
    return fft_conv(x.to(dtype), kernel, border_type="reflect").to(x.dtype)


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
    identity_at_zero = True
    #: a disk radius: negative radii would be clamped to 0
    param_domain = ((0.0, math.inf),)

    def __init__(self, *, alias_sigma: float = 0.0):
        super().__init__()
        self.alias_sigma = alias_sigma
        check_real(type(self).__name__, "alias_sigma", alias_sigma, 0.0)
        if alias_sigma > 0:
            self.identity_at_zero = False  # the anti-aliasing blur applies at r = 0 too

    def forward(self, x, theta):
        return defocus_blur(x, theta, alias_sigma=self.alias_sigma)
