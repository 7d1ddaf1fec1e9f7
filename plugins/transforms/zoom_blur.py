"""Zoom blur (Hendrycks & Dietterich; GSmooth): the mean of the image zoomed by factors in [1, 1 + z].

Non-resolvable: certified through ``gsmooth surrogate`` (kind surrogate); the raw transform here is
``kind="empirical"``.
"""

from __future__ import annotations

import math
import torch
from kornia.geometry.transform import scale

import gsmooth
from gsmooth.validation import validate_params

from ._common import (
    bilinear_path_speed,
    check_image,
    compute_dtype,
    NUM_SAMPLES,
    PADDING_MODE,
    params,
    _bilinear_path_speed_bound,
    _scale_pieces,
    _speed_interval,
)

#: Smallest zoom factor used by :func:`zoom_blur` (smaller ones are clamped).
_MIN_FACTOR = 1e-3

__all__ = ["zoom_blur", "ZoomBlur"]


def zoom_blur(
    x: torch.Tensor, theta: torch.Tensor, *, num_samples: int = 16, padding_mode: str = "zeros"
) -> torch.Tensor:
    """Average of each image zoomed (centre crop) by ``K = num_samples`` factors ``1 + z·k/(K−1)``.

    Args:
        x: ``(B, C, H, W)`` images.
        theta: ``(B, 1)`` (or ``(B,)``) zoom extent z (dimensionless): the largest factor is 1 + z.
            CIFAR-10-C severities 1–5 use factors up to 1.06/1.11/1.16/1.21/1.26, i.e.
            z = 0.06/0.11/0.16/0.21/0.26; GSmooth certifies z < 0.5. z < 0 zooms out (border filled
            by ``padding_mode``).
        num_samples: K ≥ 2 factors, both ends included, each once.
        padding_mode: only used when z < 0 (``"zeros"`` default).

    Returns:
        ``(B, C, H, W)`` on ``x``'s device and dtype; each zoom is a bilinear scaling about the centre
        (``kornia.geometry.transform.scale``: output pixel p samples ``x(c + (p − c)/f)``).
        Differentiable in z (reverse mode). z = 0 is the identity. Half precision in float32.

    Differences from Hendrycks's code: it zooms with scipy's spline resize then crops, steps the
    factor by 0.01 (so K grows with the severity) and averages x twice ((x + Σ zooms)/(n + 1) with
    the first zoom = 1); here K is fixed and the factors cover [1, 1 + z] evenly, each once.

    Example:
        >>> ramp = torch.arange(8.0, dtype=torch.float64).expand(1, 1, 8, 8)
        >>> zoom_blur(ramp, torch.tensor([[0.0]]))[0, 0, 0, :3]
        tensor([0., 1., 2.], dtype=torch.float64)
    """
    check_image("zoom_blur", x)
    validate_params("zoom_blur", {"num_samples": num_samples, "padding_mode": padding_mode}, ZoomBlur._parameter_constraints)
    dtype = compute_dtype(x)
    z = params("zoom_blur", theta, x, 1, dtype)[:, 0]
    xc = x.to(dtype)
    acc = xc.clone()  # k = 0: factor 1, exactly the identity
    for k in range(1, num_samples):
        factor = (1.0 + z * (k / (num_samples - 1))).clamp(min=_MIN_FACTOR)
        acc = acc + scale(xc, factor, padding_mode=padding_mode)
    return (acc / num_samples).to(x.dtype)


class ZoomBlur(gsmooth.Transform):
    """Thin module over :func:`zoom_blur`: θ = z, zoom factors in [1, 1 + z], param_dim 1.

    Certified through ``gsmooth surrogate`` (kind surrogate); the raw transform is ``kind="empirical"``.

    Example:
        >>> t = gsmooth.transform("zoom_blur")
        >>> t(torch.rand(2, 3, 8, 8), torch.tensor([[0.2], [0.0]])).shape
        torch.Size([2, 3, 8, 8])
    """

    name = "zoom_blur"
    param_dim = 1
    kind = "empirical"
    param_units = "zoom extent z (factors 1 … 1 + z)"
    #: Default noise, σ, range and slices (see :mod:`gsmooth.core.defaults` for the table and the sources).
    defaults = gsmooth.TransformDefaults(
        noise="gaussian", sigma=0.125, range=((0.0, 0.5),), latent_sigma=1.0, surrogate=True,
        source="0.5 (GSmooth, P); σ (O)", range_label="≤ 0.5",
    )
    identity_at_zero = True
    #: factors 1 + z·k/(K−1) ≥ 1e-3 (smaller ones are clamped)
    param_domain = ((_MIN_FACTOR - 1.0, math.inf),)

    _parameter_constraints = {"num_samples": NUM_SAMPLES, "padding_mode": PADDING_MODE}

    def __init__(self, *, num_samples: int = 16, padding_mode: str = "zeros"):
        super().__init__()
        self.num_samples = num_samples
        self.padding_mode = padding_mode
        self.validate_params()

    def forward(self, x, theta):
        return zoom_blur(x, theta, num_samples=self.num_samples, padding_mode=self.padding_mode)

    def path_speed_bound(self, x, low, high):
        """Proven L with ``‖τ(z, x) − τ(z', x)‖₂ ≤ L·|z − z'|`` for z, z' in ``[low, high]``.

        x is one image ``(C, H, W)``; returns a float (``None`` when H or W < 2). Data-dependent,
        float64, rounded up by 1e-9 relative; valid for the map in exact arithmetic.

        Proof. τ(z) = (1/K)·Σ_k scale(x, f_k(z)) with f_k(z) = max(1 + z·k/(K − 1), 1e-3), the
        k = 0 term x itself (speed 0). Sample k samples x at q_k(z) = c + (p − c)/f_k(z)
        (kornia's ``scale``, bilinear, ``align_corners=True``, c = ((W − 1)/2, (H − 1)/2)); q_k is
        monotone in z, so on a piece [a, b] it stays in the box spanned by q_k(a) and q_k(b), and
        where unclamped |dq_k/dz| = |p − c|·(k/(K − 1))/f_k², at most |u − cx|·(k/(K − 1))/f_k(a)²
        (resp. |v − cy|·…) on the piece; clamped, q_k is constant. The shared argument
        (:func:`gsmooth_plugins.transforms._common._bilinear_path_speed_bound`) bounds each pixel of
        each sample by Gu·su + Gv·sv (Gu, Gv: the largest absolute differences of the padded
        lattice over the faces — open cells, open edges — its box meets); the mean over samples is
        bounded per pixel by the mean of these (weights 1/K for k = 1 … K − 1), then ℓ2 over
        C·H·W, max over pieces (equally spaced in 1/f of the largest factor, ≤ ¼ pixel of motion
        each; 0 is a piece edge, where q_k = p exactly, so zooming in from z = 0 never counts the
        padding beyond the image edge). A box end exactly on a grid line is widened for rounding
        onto the faces beyond it.
        """
        return bilinear_path_speed("ZoomBlur.path_speed_bound", self, x, low, high)

    def _speed_pieces(self, h, w, low, high):
        """``(edges, geometry, weights)`` of :meth:`path_speed_bound`: samples k = 1 … K − 1 (k = 0
        is x itself), fractions k/(K − 1), weights 1/K."""
        k = self.num_samples
        fractions = [i / (k - 1) for i in range(1, k)]
        return (*_scale_pieces(h, w, low, high, fractions, _MIN_FACTOR), [1.0 / k] * (k - 1))

    def kink_points(self, low, high):
        """z = 0 and the clamp points (1e-3 − 1)·(K − 1)/k, k = 1 … K − 1, those in ``[low, high]``.

        At z = 0 every sample's source points sit on lattice points (a bilinear kink for a generic
        image); at a clamp point one factor stops moving (only k = K − 1's, the domain's end, can be
        inside the domain). Kinks where a source point crosses a grid line depend on the image size,
        which this method is not given; :meth:`path_speed_bound` does not need them.
        """
        low, high = _speed_interval("ZoomBlur.kink_points", low, high)
        k = self.num_samples
        points = {0.0} | {(_MIN_FACTOR - 1.0) * (k - 1) / i for i in range(1, k)}
        return tuple(p for p in sorted(points) if low <= p <= high)
