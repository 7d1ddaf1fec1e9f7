"""Motion blur along a fixed direction with a variable path length (GSmooth; CIFAR-10-C).

Non-resolvable: certified through ``gsmooth surrogate`` (kind surrogate); the raw transform here is
``kind="empirical"``.
"""

from __future__ import annotations

import math
from numbers import Real

import torch
from kornia.geometry.transform import translate

import gsmooth
from gsmooth.validation import Interval, validate_params

from ._common import (
    bilinear_path_speed,
    check_image,
    compute_dtype,
    NUM_SAMPLES,
    PADDING_MODE,
    params,
    _bilinear_path_speed_bound,
    _speed_interval,
    _translation_pieces,
)

#: kink_points refuses intervals with more grid crossings than this (the list would be huge).
_MAX_KINKS = 1_000_000


def _coefficients(angle: float, num_samples: int) -> list[tuple[float, float]]:
    """Per sample k, the shift per unit length ``t_k·(cos φ, −sin φ)``, t_k = k/(K−1) − 1/2, in the
    floating-point values :func:`motion_blur` uses (float64 here)."""
    phi = math.radians(float(angle))
    du, dv = math.cos(phi), -math.sin(phi)
    ts = [k / (num_samples - 1) - 0.5 for k in range(num_samples)]
    return [(t * du, t * dv) for t in ts]

__all__ = ["motion_blur", "MotionBlur"]


def motion_blur(
    x: torch.Tensor,
    theta: torch.Tensor,
    *,
    angle: float = 0.0,
    num_samples: int = 16,
    padding_mode: str = "reflection",
) -> torch.Tensor:
    """Blur each image along a line segment of length θ pixels centred on each pixel.

    Args:
        x: ``(B, C, H, W)`` images.
        theta: ``(B, 1)`` (or ``(B,)``) path length L in pixels (the sign is irrelevant: the segment
            is centred, so L and −L give the same blur).
        angle: direction of motion in degrees, counter-clockwise from the +x axis as displayed
            (0 = horizontal). Fixed per transform (a hyper-parameter, not smoothed).
        num_samples: K ≥ 2 positions along the segment, ``t_k = L·(k/(K−1) − 1/2)``; keep the
            spacing L/(K−1) ≲ 1 pixel (the default 16 covers L ≤ 15) or the kernel becomes dotted.
        padding_mode: ``"reflection"`` (default: blurring must not darken the borders),
            ``"border"`` or ``"zeros"``.

    Returns:
        ``(B, C, H, W)`` on ``x``'s device and dtype: the mean of K bilinear sub-pixel translations
        of the image along the direction (``kornia.geometry.transform.translate``). This equals a
        convolution with the segment rendered by bilinear ("tent") splatting — an anti-aliased line
        kernel whose length varies continuously, so the blur is differentiable in L (reverse mode),
        which ``kornia.filters.motion_blur`` (an odd integer ``kernel_size`` shared by the batch) is
        not. Its variance along the direction is mean_k[t_k² + f_k(1 − f_k)] (f_k the fractional part
        of t_k), ≈ L²/12 + 1/6. L = 0 is the identity. Half precision in float32.

    Differences from CIFAR-10-C: ImageMagick's motion blur there is one-sided (the segment starts at
    the pixel) with Gaussian weights (radius, σ) and a random angle in ±45°; here the segment is
    centred, uniformly weighted, and the angle is fixed.

    Example:
        >>> x = torch.zeros(1, 1, 9, 9, dtype=torch.float64)
        >>> x[0, 0, 4, 4] = 1.0
        >>> out = motion_blur(x, torch.tensor([[2.0]]), num_samples=3)   # shifts −1, 0, 1
        >>> out[0, 0, 4, 3:6]
        tensor([0.3333, 0.3333, 0.3333], dtype=torch.float64)
    """
    check_image("motion_blur", x)
    validate_params(
        "motion_blur", {"angle": angle, "num_samples": num_samples, "padding_mode": padding_mode},
        MotionBlur._parameter_constraints,
    )
    dtype = compute_dtype(x)
    length = params("motion_blur", theta, x, 1, dtype)  # (B, 1)
    phi = math.radians(float(angle))
    direction = torch.tensor([math.cos(phi), -math.sin(phi)], dtype=dtype, device=x.device)  # image y is down
    xc = x.to(dtype)
    acc = torch.zeros_like(xc)
    for k in range(num_samples):
        shift = length * (k / (num_samples - 1) - 0.5) * direction  # (B, 2) = (dx, dy)
        acc = acc + translate(xc, shift, padding_mode=padding_mode)
    return (acc / num_samples).to(x.dtype)


class MotionBlur(gsmooth.Transform):
    """Thin module over :func:`motion_blur`: θ = path length in pixels, param_dim 1; ``angle`` fixed.

    Certified through ``gsmooth surrogate`` (kind surrogate); the raw transform is ``kind="empirical"``.

    Example:
        >>> t = gsmooth.transform("motion_blur", angle=45.0)
        >>> t(torch.rand(2, 3, 8, 8), torch.tensor([[3.0], [0.0]])).shape
        torch.Size([2, 3, 8, 8])
    """

    name = "motion_blur"
    param_dim = 1
    kind = "empirical"
    param_units = "pixels (path length)"
    #: Default noise, σ, range and slices (see :mod:`gsmooth.core.defaults` for the table and the sources).
    defaults = gsmooth.TransformDefaults(
        noise="gaussian", sigma=1.25, range=((0.0, 5.0),), latent_sigma=1.0, surrogate=True,
        source="range and σ (O): the paper gives no certified range; 0–5 px covers CIFAR-10-C severities 1–2",
        range_label="≤ 5 px",
    )
    identity_at_zero = True
    _parameter_constraints = {
        "angle": [Interval(Real, None, None)],  # degrees, any finite direction
        "num_samples": NUM_SAMPLES,
        "padding_mode": PADDING_MODE,
    }

    def __init__(self, *, angle: float = 0.0, num_samples: int = 16, padding_mode: str = "reflection"):
        super().__init__()
        self.angle = angle
        self.num_samples = num_samples
        self.padding_mode = padding_mode
        self.validate_params()

    def forward(self, x, theta):
        return motion_blur(
            x, theta, angle=self.angle, num_samples=self.num_samples, padding_mode=self.padding_mode
        )

    def path_speed_bound(self, x, low, high):
        """Proven L with ``‖τ(ℓ, x) − τ(ℓ', x)‖₂ ≤ L·|ℓ − ℓ'|`` for lengths ℓ, ℓ' in ``[low, high]``.

        x is one image ``(C, H, W)``; returns a float (``None`` when H or W < 2). Data-dependent,
        float64, rounded up by 1e-9 relative; valid for the map in exact arithmetic.

        Proof. τ(ℓ) = (1/K)·Σ_k translate(x, ℓ·t_k·d) with t_k = k/(K − 1) − 1/2 and
        d = (cos φ, −sin φ) (image y down). kornia's ``translate`` (``warp_affine`` with the matrix
        [[1, 0, s_u], [0, 1, s_v]], bilinear, ``align_corners=True``) samples x at q_k(ℓ) = p − ℓ·t_k·d
        (checked against kornia by the tests): a straight line at the constant speed
        |dq_u/dℓ| = |t_k cos φ|, |dq_v/dℓ| = |t_k sin φ|, whose box over a piece [a, b] is spanned by
        q_k(a) and q_k(b). The shared argument
        (:func:`gsmooth_plugins.transforms._common._bilinear_path_speed_bound`) bounds each pixel of
        each sample by Gu·su + Gv·sv (Gu, Gv: the largest absolute differences of the padded
        lattice over the faces — open cells, open edges — its box meets); the mean over the K
        samples (weights 1/K) is bounded per pixel by the mean of these, then ℓ2 over C·H·W, max
        over pieces (≤ ¼ pixel of motion each; 0 is a piece edge, where q = p exactly, and a
        coordinate the motion does not use — v for φ = 0 — is exact: its path lies on a grid line,
        so only that line's differences count).
        """
        return bilinear_path_speed("MotionBlur.path_speed_bound", self, x, low, high)

    def _speed_pieces(self, h, w, low, high):
        """``(edges, geometry, weights)`` of :meth:`path_speed_bound`: K samples, velocities
        −t_k·(cos φ, −sin φ), weights 1/K."""
        k = self.num_samples
        velocities = [(-cu, -cv) for cu, cv in _coefficients(self.angle, k)]
        return (*_translation_pieces(h, w, low, high, velocities), [1.0 / k] * k)

    def kink_points(self, low, high):
        """Every ℓ in ``[low, high]`` where some sample's source point crosses a grid line: ℓ = m/γ
        for integers m and γ = t_k·cos φ or t_k·sin φ (γ ≠ 0), sorted, ℓ = 0 included.

        Sample k samples x at p − ℓ·t_k·d with p on the integer lattice, so its coordinates are
        integers exactly when ℓ·γ ∈ ℤ; bilinear sampling — and the border clamp or reflection, at the
        integer lines 0 and n − 1 — is smooth in ℓ between those values, so this list holds every
        kink, whatever the image size (to the floating-point rounding of ``motion_blur``'s shifts).
        Raises :class:`gsmooth.InvalidParameterError` (a ValueError) when the interval holds more than 10⁶ of them.
        """
        low, high = _speed_interval("MotionBlur.kink_points", low, high)
        gammas = [g for pair in _coefficients(self.angle, self.num_samples) for g in pair if g != 0.0]
        bounds = []
        for g in gammas:
            m_lo, m_hi = math.ceil(min(low * g, high * g)), math.floor(max(low * g, high * g))
            bounds.append((g, m_lo, m_hi))
        if sum(max(0, b - a + 1) for _, a, b in bounds) > _MAX_KINKS:
            raise gsmooth.InvalidParameterError(
                f"MotionBlur.kink_points: expected an interval with at most {_MAX_KINKS} kinks, got [{low}, {high}]"
            )
        points = {m / g + 0.0 for g, a, b in bounds for m in range(a, b + 1)}  # + 0.0: no −0.0
        return tuple(p for p in sorted(points) if low <= p <= high)
