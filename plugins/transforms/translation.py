"""Cyclic whole-pixel translation (TSS / GSmooth code): resolvable on the integer lattice, ``kind="exact"``."""

from __future__ import annotations

import torch

import gsmooth

from ._common import check_image, params

__all__ = ["translation", "Translation"]


def translation(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Shift each image cyclically by whole pixels: ``torch.roll(x[i], (dy, dx), dims=(1, 2))`` per image.

    Args:
        x: ``(B, C, H, W)`` images.
        theta: ``(B, 2)`` shifts ``(dx, dy)`` in pixels: ``dx`` to the right (along W), ``dy`` down
            (along H). They are rounded to integers half-up, ``floor(θ + 1/2)`` (not half-to-even:
            with half-up, ``round(θ) + δ = round(θ + δ)`` for every integer δ, ties included).

    Returns:
        ``(B, C, H, W)``, a permutation of each image's pixels (exact in every dtype, half included).

    Certificate: smoothing over continuous θ with rounding is smoothing over the integer lattice;
    for an integer shift δ, ``τ(δ, τ(θ, x)) = τ(θ + δ, x)`` exactly, so a radius certifies every
    integer shift within it (a certificate on the rounded lattice, as in TSS). The composition law
    does not hold for two arbitrary real θ's (rounding twice ≠ rounding once).

    Not differentiable in θ: the output is piecewise constant in θ (the gradient is zero almost
    everywhere and undefined at the jumps), so no autograd path to θ is built.

    Example:
        >>> x = torch.arange(4.0).reshape(1, 1, 1, 4)
        >>> translation(x, torch.tensor([[1.0, 0.0]]))
        tensor([[[[3., 0., 1., 2.]]]])
    """
    check_image("translation", x)
    b, c, h, w = x.shape
    t = params("translation", theta, x, 2, torch.float64 if x.dtype == torch.float64 else torch.float32)
    t = torch.floor(t.detach() + 0.5)
    dx = torch.remainder(t[:, 0], w).long()  # (B,)
    dy = torch.remainder(t[:, 1], h).long()
    rows = torch.remainder(torch.arange(h, device=x.device)[None, :] - dy[:, None], h)  # (B, H)
    cols = torch.remainder(torch.arange(w, device=x.device)[None, :] - dx[:, None], w)  # (B, W)
    out = torch.gather(x, 2, rows[:, None, :, None].expand(b, c, h, w))
    return torch.gather(out, 3, cols[:, None, None, :].expand(b, c, h, w))


class Translation(gsmooth.Transform):
    """Thin module over :func:`translation`: θ = (dx, dy) in pixels, rounded; param_dim 2.

    Exact on the integer lattice (see :func:`translation`); not differentiable in θ.
    ``check_transform`` must be called with ``exact=False`` (it composes real θ's, for which the
    double rounding differs); the lattice law is tested separately.

    Example:
        >>> t = gsmooth.transform("translation")
        >>> x = torch.rand(2, 3, 8, 8)
        >>> torch.equal(t(x, torch.tensor([[2.0, -1.0], [0.0, 0.0]]))[0], torch.roll(x[0], (-1, 2), dims=(1, 2)))
        True
    """

    name = "translation"
    param_dim = 2
    kind = "exact"
    param_units = "pixels (dx, dy), rounded"
    #: Default noise, σ, range and slices (see :mod:`gsmooth.core.defaults` for the table and the sources).
    defaults = gsmooth.TransformDefaults(
        noise="gaussian", sigma=10.0, range=((-20.0, 20.0), (-20.0, 20.0)), slices=5,
        source="TSS ≤ 20 px (P, a box containing their disc); σ = 10 from the TSS code (C); 5×5 boxes (O)",
        range_label="≤ 20 px (box)",
    )
    identity_at_zero = True
    #: the composition law holds for integer shifts: certificates are for integer shifts
    param_lattice = 1.0

    def __init__(self):
        super().__init__()

    def forward(self, x, theta):
        return translation(x, theta)
