"""Brightness shift τ(θ, x) = x + θ (TSS / GSmooth "brightness"): resolvable, ``kind="exact"``."""

from __future__ import annotations

import torch

import gsmooth

from ._common import check_image, params

__all__ = ["brightness", "Brightness"]


def brightness(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Add θ to every pixel (and channel) of each image.

    Args:
        x: ``(B, C, H, W)`` images, pixels in [0, 1].
        theta: ``(B, 1)`` (or ``(B,)``) brightness offsets in intensity units (the [0, 1] pixel scale).

    Returns:
        ``(B, C, H, W)`` ``x + θ`` on ``x``'s device and dtype, **not clipped** to [0, 1]: clipping
        would break the composition law ``τ(a, τ(b, x)) = τ(a + b, x)`` that makes the certificate
        exact (a model that expects [0, 1] inputs may clip itself). Differentiable in θ (∂/∂θ = 1).
        Half precision is computed natively (one addition).

    Note: TSS/GSmooth shift the RGB values the same way; CIFAR-10-C "brightness" instead shifts the V
    channel of HSV and clips, which is not this transform.

    Example:
        >>> x = torch.zeros(2, 3, 4, 4)
        >>> brightness(x, torch.tensor([[0.1], [-0.2]]))[:, 0, 0, 0]
        tensor([ 0.1000, -0.2000])
    """
    check_image("brightness", x)
    t = params("brightness", theta, x, 1, x.dtype)
    return x + t.reshape(-1, 1, 1, 1)


class Brightness(gsmooth.Transform):
    """Thin module over :func:`brightness`: θ = additive brightness offset, param_dim 1.

    Exact (resolvable): offsets add, so a radius in θ certifies the true transform.

    Example:
        >>> t = gsmooth.transform("brightness")
        >>> t(torch.full((1, 1, 2, 2), 0.5), torch.tensor([[0.25]])).flatten().tolist()
        [0.75, 0.75, 0.75, 0.75]
    """

    name = "brightness"
    param_dim = 1
    kind = "exact"
    param_units = "intensity"
    #: Default noise, σ, range and slices (see :mod:`gsmooth.core.defaults` for the table and the sources).
    defaults = gsmooth.TransformDefaults(
        noise="gaussian", sigma=0.2, range=((-0.4, 0.4),), source="TSS ±0.4 (P); σ from the TSS code (C)",
        range_label="±0.4",
    )
    identity_at_zero = True

    def __init__(self):
        super().__init__()

    def forward(self, x, theta):
        return brightness(x, theta)
