"""TSS contrast + brightness x ↦ e^k (x + b): resolvable with its own composition law."""

from __future__ import annotations

import torch

import gsmooth

from ._common import check_image, params

__all__ = ["contrast", "contrast_compose", "Contrast"]


def contrast(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """TSS's contrast-and-brightness transform ``e^k · (x + b)``.

    Args:
        x: ``(B, C, H, W)`` images, pixels in [0, 1].
        theta: ``(B, 2)``, one ``(k, b)`` per image: ``k`` the log-contrast factor (dimensionless;
            contrast factor ``e^k``, so k = 0 keeps the contrast), ``b`` the brightness offset in
            intensity units, added *before* scaling (TSS's order).

    Returns:
        ``(B, C, H, W)`` on ``x``'s device and dtype; not clipped (clipping breaks the composition
        law). Differentiable in both k and b. Half precision is computed natively.

    Composition is not plain addition of θ's:
    ``τ((k1, b1), τ((k2, b2), x)) = τ((k1 + k2, b2 + e^{−k2}·b1), x)`` — see
    :func:`contrast_compose`.

    Example:
        >>> x = torch.full((1, 1, 2, 2), 0.5)
        >>> contrast(x, torch.tensor([[0.0, 0.25]]))[0, 0, 0, 0].item()
        0.75
        >>> round(contrast(x, torch.tensor([[float(torch.log(torch.tensor(2.0))), 0.0]]))[0, 0, 0, 0].item(), 6)
        1.0
    """
    check_image("contrast", x)
    t = params("contrast", theta, x, 2, x.dtype)
    k, b = t[:, 0].reshape(-1, 1, 1, 1), t[:, 1].reshape(-1, 1, 1, 1)
    return torch.exp(k) * (x + b)


def contrast_compose(outer: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
    """The θ of ``τ(outer, τ(inner, ·))``: ``(k1 + k2, b2 + e^{−k2}·b1)`` for outer = (k1, b1), inner = (k2, b2).

    Shapes ``(..., 2)`` broadcast.

    Example:
        >>> contrast_compose(torch.tensor([0.0, 0.1]), torch.tensor([0.0, 0.2]))
        tensor([0.0000, 0.3000])
    """
    k1, b1 = outer[..., 0], outer[..., 1]
    k2, b2 = inner[..., 0], inner[..., 1]
    return torch.stack([k1 + k2, b2 + torch.exp(-k2) * b1], dim=-1)


class Contrast(gsmooth.Transform):
    """Thin module over :func:`contrast`: θ = (k, b), param_dim 2, x ↦ e^k (x + b) (TSS).

    ``kind = "exact"`` in TSS's sense: the transform is resolvable, but its θ's do not simply add
    (``composes_additively = False``; the law is :func:`contrast_compose`, labelled
    ``composition = "contrast"``). Composition rescales the brightness noise by ``e^{−k}``, so an
    interval certificate compares each slice's estimate with a Neyman–Pearson requirement instead
    of a radius with a half-diagonal: :meth:`slice_strategy` supplies that law to the engine
    (:class:`~gsmooth_plugins.transforms._contrast_law.ContrastLaw`, a
    :class:`gsmooth.interval.SliceStrategy`), so gsmooth itself keeps no code for it.
    :func:`gsmooth.testing.check_transform` skips the additive composition check for it (its own
    law is tested with the plugin).

    Example:
        >>> t = gsmooth.transform("contrast")
        >>> t(torch.ones(1, 1, 1, 1), torch.tensor([[0.0, -0.5]])).item()
        0.5
    """

    name = "contrast"
    param_dim = 2
    kind = "exact"
    param_units = "(log-contrast k, brightness b in intensity)"
    #: Default noise, σ, range and slices (see :mod:`gsmooth.core.defaults` for the table and the sources).
    defaults = gsmooth.TransformDefaults(
        noise="gaussian", sigma=0.2, range=((-0.2, 0.2), (-0.2, 0.2)), slices=5,
        source="σ from the TSS code (C); range (log-contrast k and brightness b, each ±0.2) and 5×5 boxes (O)",
        range_label="k, b ±0.2",
    )
    identity_at_zero = True
    #: θ's do not add under composition (see :func:`contrast_compose`) ...
    composes_additively = False
    #: ... but by this law, certified by :meth:`slice_strategy`.
    composition = "contrast"

    def __init__(self):
        super().__init__()

    def forward(self, x, theta):
        return contrast(x, theta)

    def slice_strategy(self):
        """The contrast law (:class:`~gsmooth_plugins.transforms._contrast_law.ContrastLaw`)."""
        from ._contrast_law import ContrastLaw

        return ContrastLaw()
