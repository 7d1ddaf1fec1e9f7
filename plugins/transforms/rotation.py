"""Rotation by θ degrees (TSS / GSmooth), bilinear: interpolation-inexact, ``kind="empirical"`` for now."""

from __future__ import annotations

import torch
from kornia.geometry.transform import rotate

import gsmooth
from gsmooth.validation import validate_params

from ._common import (
    bilinear_path_speed,
    check_image,
    compute_dtype,
    PADDING_MODE,
    params,
    _bilinear_path_speed_bound,
    _rotation_pieces,
    _speed_interval,
)

__all__ = ["rotation", "Rotation"]


def rotation(x: torch.Tensor, theta: torch.Tensor, *, padding_mode: str = "zeros") -> torch.Tensor:
    """Rotate each image by its own angle about the image centre (``kornia.geometry.transform.rotate``).

    Args:
        x: ``(B, C, H, W)`` images.
        theta: ``(B, 1)`` (or ``(B,)``) angles in degrees, counter-clockwise as displayed (y axis
            down); 90° equals ``torch.rot90(x, 1, dims=(2, 3))`` on a square image.
        padding_mode: what fills the corners that come from outside the image: ``"zeros"`` (default,
            black corners, like torchvision's ``rotate`` default fill), ``"border"`` or ``"reflection"``.

    Returns:
        ``(B, C, H, W)`` on ``x``'s device and dtype; bilinear interpolation about the centre
        ``((W−1)/2, (H−1)/2)`` (``align_corners=True``). Differentiable in θ (reverse mode:
        ``torch.autograd.grad``, ``torch.func.jacrev``; forward-mode AD is not implemented for
        ``grid_sample`` in torch). Half precision is computed in float32 and cast back.

    Interpolation and zero padding make rotations compose only approximately, so the radius does
    not hold for the true transform: certify rotation through the surrogate route (or TSS's
    interpolation-error bound), not as ``exact``.

    Example:
        >>> x = torch.rand(1, 3, 8, 8, dtype=torch.float64)
        >>> torch.allclose(rotation(x, torch.tensor([[90.0]])), torch.rot90(x, 1, dims=(2, 3)))
        True
    """
    check_image("rotation", x)
    validate_params("rotation", {"padding_mode": padding_mode}, Rotation._parameter_constraints)
    dtype = compute_dtype(x)
    angle = params("rotation", theta, x, 1, dtype)[:, 0]
    return rotate(x.to(dtype), angle, padding_mode=padding_mode).to(x.dtype)


class Rotation(gsmooth.Transform):
    """Thin module over :func:`rotation`: θ = angle in degrees (counter-clockwise), param_dim 1.

    ``kind = "empirical"``: bilinear resampling is not exactly resolvable; the surrogate route
    (``gsmooth surrogate``) wraps it for certificates.

    Example:
        >>> t = gsmooth.transform("rotation", padding_mode="zeros")
        >>> t(torch.rand(2, 1, 8, 8), torch.tensor([[10.0], [-10.0]])).shape
        torch.Size([2, 1, 8, 8])
    """

    name = "rotation"
    param_dim = 1
    kind = "empirical"
    param_units = "degrees"
    #: Default noise, σ, range and slices (see :mod:`gsmooth.core.defaults` for the table and the sources).
    defaults = gsmooth.TransformDefaults(
        noise="gaussian", sigma=5.0, range=((-10.0, 10.0),), latent_sigma=1.0, surrogate=True,
        source="±10° (TSS/GSmooth, P); σ (O)", range_label="±10°",
    )
    identity_at_zero = True

    _parameter_constraints = {"padding_mode": PADDING_MODE}

    def __init__(self, *, padding_mode: str = "zeros"):
        super().__init__()
        self.padding_mode = padding_mode
        self.validate_params()

    def forward(self, x, theta):
        return rotation(x, theta, padding_mode=self.padding_mode)

    def path_speed_bound(self, x, low, high):
        """Proven L with ``‖τ(α, x) − τ(β, x)‖₂ ≤ L·|α − β|`` for α, β in ``[low, high]`` degrees.

        x is one image ``(C, H, W)``; returns a float (``None`` when H or W < 2, where kornia maps
        the singleton axis specially). Data-dependent, computed in float64 and rounded up by 1e-9
        relative; valid for the map in exact arithmetic (float32 evaluation adds ~1e-7 noise).

        Proof. kornia's ``rotate`` (``get_rotation_matrix2d`` + ``warp_affine``, bilinear,
        ``align_corners=True``, so pixel centres sit on the integers) gives output pixel
        p = (u, v) the value I(q(α)) at the source point q(α) = c + [[cos ψ, −sin ψ], [sin ψ, cos ψ]]·(p − c),
        ψ = απ/180, c = ((W − 1)/2, (H − 1)/2) — the inverse of kornia's matrix
        [[cos ψ, sin ψ], [−sin ψ, cos ψ]] (checked against kornia by the tests).
        Writing p − c = r(cos φ, sin φ): q(α) = c + r(cos t, sin t) with t = φ + απ/180, so
        |dq_u/dα| = (π/180)·r·|sin t| and |dq_v/dα| = (π/180)·r·|cos t| (pixels per degree).
        The interval is cut into pieces in which the fastest pixel (largest r) moves ≤ ¼ pixel; on
        a piece [a, b] the source point runs along an arc whose bounding box is exact (the min/max
        of cos t and sin t over [t_a, t_b], ±1 where the arc passes an axis) and su, sv use
        sup |sin t|, sup |cos t| over that arc; at α = 0 the source point is the lattice point p
        exactly (0 is always a piece edge). The shared argument
        (:func:`gsmooth_plugins.transforms._common._bilinear_path_speed_bound`: I is the bilinear
        interpolant of the lattice extended by ``padding_mode``; in an open cell |∂I/∂u|, |∂I/∂v|
        are at most the largest absolute difference along the cell's two rows, resp. columns, on an
        open edge the edge's own difference — padding values included; Gu, Gv = their maxima over
        the faces the box meets; ℓ2 over C·H·W; max over pieces) turns these into
        L = max_piece ‖Gu·su + Gv·sv‖₂. Looseness: the box is a little wider than the arc, and a box
        end that falls exactly on a grid line (e.g. 90° on a square image) is widened for rounding
        onto the faces beyond it.
        """
        return bilinear_path_speed("Rotation.path_speed_bound", self, x, low, high)

    def _speed_pieces(self, h, w, low, high):
        """``(edges, geometry, weights)`` of :meth:`path_speed_bound` (one sample, weight 1)."""
        return (*_rotation_pieces(h, w, low, high, [1.0]), [1.0])

    def kink_points(self, low, high):
        """α = 0 when it lies in ``[low, high]`` (else ``()``).

        Bilinear sampling is not differentiable in α where a source point crosses a grid line
        (u or v an integer; also where it crosses the image edge, an integer line too). At α = 0
        every source point sits on a lattice point, so τ has a kink there for a generic image. The
        other crossings (cx + r·cos t ∈ ℤ or cy + r·sin t ∈ ℤ for some pixel) depend on the image
        size, which this method is not given, so they are not listed; :meth:`path_speed_bound`
        does not need them (its proof holds across kinks).
        """
        low, high = _speed_interval("Rotation.kink_points", low, high)
        return (0.0,) if low <= 0.0 <= high else ()
