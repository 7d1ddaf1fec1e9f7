"""Scaling by the factor 1 + θ about the image centre (TSS): interpolation-inexact, ``kind="empirical"``."""

from __future__ import annotations

import math
import torch
from kornia.geometry.transform import scale

import gsmooth

from ._common import PADDING_MODES, check_image, check_option, compute_dtype, params

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
    check_option("scaling", "padding_mode", padding_mode, PADDING_MODES)
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
    identity_at_zero = True
    #: s = 1 + θ ≥ MIN_SCALE (smaller factors are clamped)
    param_domain = ((MIN_SCALE - 1.0, math.inf),)

    def __init__(self, *, padding_mode: str = "zeros"):
        super().__init__()
        self.padding_mode = padding_mode
        check_option(type(self).__name__, "padding_mode", padding_mode, PADDING_MODES)

    def forward(self, x, theta):
        return scaling(x, theta, padding_mode=self.padding_mode)
