"""Additive noise as a transform: τ(θ, x) = x + θ — classic randomized smoothing (Cohen et al.)."""

import torch

import gsmooth


def additive(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``x + θ`` with θ image-shaped: x ``(B,C,H,W)``, θ ``(B,C,H,W)`` or ``(B, C·H·W)``.

    Example:
        >>> additive(torch.zeros(1, 1, 2, 2), torch.ones(1, 4)).sum().item()
        4.0
    """
    return x + theta.reshape(x.shape).to(x.dtype)


class Additive(gsmooth.Transform):
    """Thin module over :func:`additive`. Exact (resolvable): θ's of two steps add."""

    name = "additive"
    param_dim = None
    kind = "exact"
    param_units = "pixel intensity"
    #: Default noise, σ, range and slices (see :mod:`gsmooth.core.defaults` for the table and the sources).
    defaults = gsmooth.TransformDefaults(
        noise="gaussian", sigma=0.25, source="Cohen et al. 2019",
    )

    def __init__(self):
        super().__init__()

    def forward(self, x, theta):
        return additive(x, theta)
