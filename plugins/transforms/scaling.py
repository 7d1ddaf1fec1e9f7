"""Scaling by the factor 1 + θ about the image centre (TSS): interpolation-inexact, ``kind="empirical"``."""

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
    PADDING_MODE,
    params,
    _bilinear_path_speed_bound,
    _scale_pieces,
    _speed_interval,
)

__all__ = ["scaling", "Scaling", "MIN_SCALE"]

#: Smallest scale factor used; θ ≤ MIN_SCALE − 1 is clamped to it (a factor ≤ 0 is not a scaling).
MIN_SCALE = 1e-3


def scaling(x: torch.Tensor, theta: torch.Tensor, *, padding_mode: str = "zeros") -> torch.Tensor:
    """Scale each image by ``s = 1 + θ`` about its centre (``kornia.geometry.transform.scale``).

    Args:
        x: ``(B, C, H, W)`` images.
        theta: ``(B, 1)`` (or ``(B,)``) relative scale change (dimensionless): ``s = 1 + θ``, so
            θ = 0.3 enlarges the content by 30 % (a centre crop of the zoomed image) and θ = −0.3
            shrinks it to 70 % (the border filled by ``padding_mode``). This is the linear
            parameterisation of TSS's "scaling ±30 %" (θ ∈ [−0.3, 0.3]), not a log-scale; scale
            factors are clamped to ≥ ``MIN_SCALE``.
        padding_mode: ``"zeros"`` (default), ``"border"`` or ``"reflection"`` for shrunk images.

    Returns:
        ``(B, C, H, W)`` on ``x``'s device and dtype; bilinear, ``align_corners=True``, so the output
        at pixel p is ``x(c + (p − c)/s)`` with c the centre. Differentiable in θ (reverse mode; see
        :func:`gsmooth_plugins.transforms.rotation.rotation`). Half precision computed in float32.

    Example:
        >>> ramp = torch.arange(8.0, dtype=torch.float64).expand(1, 1, 8, 8)
        >>> scaling(ramp, torch.tensor([[1.0]]))[0, 0, 0, :3]    # 3.5 + (j − 3.5)/2
        tensor([1.7500, 2.2500, 2.7500], dtype=torch.float64)
    """
    check_image("scaling", x)
    validate_params("scaling", {"padding_mode": padding_mode}, Scaling._parameter_constraints)
    dtype = compute_dtype(x)
    s = (1.0 + params("scaling", theta, x, 1, dtype)[:, 0]).clamp(min=MIN_SCALE)
    return scale(x.to(dtype), s, padding_mode=padding_mode).to(x.dtype)


class Scaling(gsmooth.Transform):
    """Thin module over :func:`scaling`: θ = scale factor − 1 (dimensionless), param_dim 1.

    ``kind = "empirical"``: resampling is not exactly resolvable (and a linear θ would not compose
    additively even in the continuum); the surrogate route wraps it for certificates.

    Example:
        >>> t = gsmooth.transform("scaling")
        >>> t(torch.rand(2, 3, 8, 8), torch.tensor([[0.3], [-0.3]])).shape
        torch.Size([2, 3, 8, 8])
    """

    name = "scaling"
    param_dim = 1
    kind = "empirical"
    param_units = "relative scale change (s = 1 + θ)"
    #: Default noise, σ, range and slices (see :mod:`gsmooth.core.defaults` for the table and the sources).
    defaults = gsmooth.TransformDefaults(
        noise="gaussian", sigma=0.15, range=((-0.3, 0.3),), latent_sigma=1.0, surrogate=True,
        source="±30 % (TSS, P); σ (O)", range_label="±30 %",
    )
    identity_at_zero = True
    #: s = 1 + θ ≥ MIN_SCALE (smaller factors are clamped)
    param_domain = ((MIN_SCALE - 1.0, math.inf),)

    _parameter_constraints = {"padding_mode": PADDING_MODE}

    def __init__(self, *, padding_mode: str = "zeros"):
        super().__init__()
        self.padding_mode = padding_mode
        self.validate_params()

    def forward(self, x, theta):
        return scaling(x, theta, padding_mode=self.padding_mode)

    def path_speed_bound(self, x, low, high):
        """Proven L with ``‖τ(θ, x) − τ(θ', x)‖₂ ≤ L·|θ − θ'|`` for θ, θ' in ``[low, high]``.

        x is one image ``(C, H, W)``; returns a float (``None`` when H or W < 2). Data-dependent,
        float64, rounded up by 1e-9 relative; valid for the map in exact arithmetic.

        Proof. kornia's ``scale`` (``get_rotation_matrix2d`` with angle 0 + ``warp_affine``,
        bilinear, ``align_corners=True``) gives output pixel p the value I(q(θ)) at
        q(θ) = c + (p − c)/s(θ), c = ((W − 1)/2, (H − 1)/2), s(θ) = max(1 + θ, MIN_SCALE) (the clamp
        of :func:`scaling`; checked against kornia by the tests). q is monotone in θ (s is
        non-decreasing), so over a piece [a, b] the source point stays in the box spanned by
        q(a) and q(b). Where 1 + θ > MIN_SCALE, dq/dθ = −(p − c)/s², so |dq_u/dθ| ≤ |u − cx|/s(a)²
        and |dq_v/dθ| ≤ |v − cy|/s(a)² on the piece (s ≥ s(a)); where the clamp acts q is constant
        (speed 0; q stays continuous, so the bound holds across the clamp). The pieces are equally
        spaced in 1/s (q is affine in 1/s), the fastest pixel moving ≤ ¼ pixel per piece, and 0 is
        a piece edge (there q = p exactly, as is the centre row/column's coordinate throughout). The
        shared argument (:func:`gsmooth_plugins.transforms._common._bilinear_path_speed_bound`:
        bilinear interpolant of the lattice extended by ``padding_mode``; in an open cell |∂I/∂u|,
        |∂I/∂v| at most the largest absolute difference along its two rows, resp. columns, on an
        open edge that edge's difference — padding values included; Gu, Gv = their maxima over the
        faces the box meets; ℓ2 over C·H·W; max over pieces) gives L = max_piece ‖Gu·su + Gv·sv‖₂.
        The speed grows like 1/s², so intervals reaching down to MIN_SCALE − 1 get very large (still
        finite and valid) bounds; a box end exactly on a grid line (s = 1/2 on an odd-sized image,
        say) is widened for rounding onto the faces beyond it.
        """
        return bilinear_path_speed("Scaling.path_speed_bound", self, x, low, high)

    def _speed_pieces(self, h, w, low, high):
        """``(edges, geometry, weights)`` of :meth:`path_speed_bound` (one sample, weight 1)."""
        return (*_scale_pieces(h, w, low, high, [1.0], MIN_SCALE), [1.0])

    def kink_points(self, low, high):
        """θ = 0 and θ = MIN_SCALE − 1 (the clamp), those in ``[low, high]``.

        At θ = 0 every source point sits on a lattice point, where bilinear sampling has a kink for
        a generic image; at MIN_SCALE − 1 (the domain's end) the clamp of s stops the motion. The
        other kinks, where a source point c + (p − c)/s crosses a grid line, depend on the image
        size, which this method is not given; :meth:`path_speed_bound` does not need them.
        """
        low, high = _speed_interval("Scaling.kink_points", low, high)
        return tuple(k for k in sorted({MIN_SCALE - 1.0, 0.0}) if low <= k <= high)
