"""Rotational blur (GSmooth): the mean of the image rotated by angles spread over [0, θ] degrees.

Non-resolvable: certified through ``gsmooth surrogate`` (kind surrogate); the raw transform here is
``kind="empirical"``.
"""

from __future__ import annotations

import torch
from kornia.geometry.transform import rotate

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
    _rotation_pieces,
    _speed_interval,
)

__all__ = ["rotational_blur", "RotationalBlur"]


def rotational_blur(
    x: torch.Tensor, theta: torch.Tensor, *, num_samples: int = 16, padding_mode: str = "zeros"
) -> torch.Tensor:
    """Average of ``num_samples`` rotations of each image at angles ``θ·k/(K−1)``, k = 0 … K−1.

    Args:
        x: ``(B, C, H, W)`` images.
        theta: ``(B, 1)`` (or ``(B,)``) blur extent in degrees; the angles run from 0 to θ inclusive,
            counter-clockwise for θ > 0 (clockwise for θ < 0).
        num_samples: K ≥ 2 equally spaced angles including both ends (quadrature of the continuous
            average over [0, θ]; the spacing θ/(K−1) should stay around a degree or two for a smooth
            blur of a 32-pixel image).
        padding_mode: fill for the corners rotated in from outside (``"zeros"`` default, as
            :func:`rotation`).

    Returns:
        ``(B, C, H, W)`` on ``x``'s device and dtype, differentiable in θ (reverse mode). θ = 0 is the
        identity (up to float rounding of the identity warp, ~1e-7 in float32). Half precision is
        computed in float32.

    Difference from the GSmooth code: it averages x with 10 rotations at i·θ/10, i = 0…9, counting
    x twice and stopping at 0.9θ; here the K angles cover [0, θ] evenly, both ends once.
    Cost: K rotations (a loop over K, never over the batch; memory of one batch).

    Example:
        >>> yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
        >>> radial = torch.exp(-((xx - 7.5) ** 2 + (yy - 7.5) ** 2) / 20).expand(1, 1, 16, 16)
        >>> bool((rotational_blur(radial, torch.tensor([[30.0]])) - radial).abs().max() < 0.02)
        True
    """
    check_image("rotational_blur", x)
    validate_params("rotational_blur", {"num_samples": num_samples, "padding_mode": padding_mode}, RotationalBlur._parameter_constraints)
    dtype = compute_dtype(x)
    angle = params("rotational_blur", theta, x, 1, dtype)[:, 0]
    xc = x.to(dtype)
    acc = xc.clone()  # k = 0: the identity rotation, exactly
    for k in range(1, num_samples):
        acc = acc + rotate(xc, angle * (k / (num_samples - 1)), padding_mode=padding_mode)
    return (acc / num_samples).to(x.dtype)


class RotationalBlur(gsmooth.Transform):
    """Thin module over :func:`rotational_blur`: θ = blur extent in degrees, param_dim 1.

    Certified through ``gsmooth surrogate`` (kind surrogate); the raw transform is ``kind="empirical"``.

    Example:
        >>> t = gsmooth.transform("rotational_blur", num_samples=8)
        >>> t(torch.rand(2, 3, 8, 8), torch.tensor([[10.0], [5.0]])).shape
        torch.Size([2, 3, 8, 8])
    """

    name = "rotational_blur"
    param_dim = 1
    kind = "empirical"
    param_units = "degrees"
    #: Default noise, σ, range and slices (see :mod:`gsmooth.core.defaults` for the table and the sources).
    defaults = gsmooth.TransformDefaults(
        noise="gaussian", sigma=2.5, range=((0.0, 10.0),), latent_sigma=1.0, surrogate=True,
        source="10° (GSmooth, P); σ (O)", range_label="≤ 10°",
    )
    identity_at_zero = True

    _parameter_constraints = {"num_samples": NUM_SAMPLES, "padding_mode": PADDING_MODE}

    def __init__(self, *, num_samples: int = 16, padding_mode: str = "zeros"):
        super().__init__()
        self.num_samples = num_samples
        self.padding_mode = padding_mode
        self.validate_params()

    def forward(self, x, theta):
        return rotational_blur(x, theta, num_samples=self.num_samples, padding_mode=self.padding_mode)

    def path_speed_bound(self, x, low, high):
        """Proven L with ``‖τ(θ, x) − τ(θ', x)‖₂ ≤ L·|θ − θ'|`` for θ, θ' in ``[low, high]`` degrees.

        x is one image ``(C, H, W)``; returns a float (``None`` when H or W < 2). Data-dependent,
        float64, rounded up by 1e-9 relative; valid for the map in exact arithmetic.

        Proof. τ(θ) = (1/K)·Σ_k rot(x, f_k·θ) with f_k = k/(K − 1), the k = 0 term x itself (speed
        0). Sample k is a rotation path whose source point q_k(θ) = c + r(cos t, sin t),
        t = φ + f_k·θ·π/180 (see :meth:`gsmooth_plugins.transforms.rotation.Rotation.path_speed_bound`),
        so |dq_u/dθ| = f_k(π/180)·r·|sin t| and |dq_v/dθ| = f_k(π/180)·r·|cos t|, with exact arc
        boxes on each piece. The shared argument
        (:func:`gsmooth_plugins.transforms._common._bilinear_path_speed_bound`) bounds each pixel of
        each sample by Gu·su + Gv·sv (Gu, Gv: the largest absolute differences of the padded
        lattice over the faces — open cells, open edges — its box meets); the mean over samples is
        bounded per pixel by the mean of these (triangle inequality, weights 1/K for
        k = 1 … K − 1), then ℓ2 over C·H·W, max over pieces (≤ ¼ pixel of motion each; 0 is a
        piece edge, where every q_k = p exactly).
        """
        return bilinear_path_speed("RotationalBlur.path_speed_bound", self, x, low, high)

    def _speed_pieces(self, h, w, low, high):
        """``(edges, geometry, weights)`` of :meth:`path_speed_bound`: samples k = 1 … K − 1 (k = 0
        is x itself), fractions k/(K − 1), weights 1/K."""
        k = self.num_samples
        fractions = [i / (k - 1) for i in range(1, k)]
        return (*_rotation_pieces(h, w, low, high, fractions), [1.0 / k] * (k - 1))

    def kink_points(self, low, high):
        """θ = 0 when it lies in ``[low, high]`` (else ``()``): there every sample's source points
        sit on lattice points (a bilinear kink for a generic image). The kinks where one sample's
        source point crosses a grid line depend on the image size, which this method is not given;
        :meth:`path_speed_bound` does not need them."""
        low, high = _speed_interval("RotationalBlur.kink_points", low, high)
        return (0.0,) if low <= 0.0 <= high else ()
