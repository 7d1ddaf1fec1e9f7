"""The surrogate network: ``H(F2(x) + F1(θ) + ξ)`` with a residual encoder F2, a linear F1 and a U-Net decoder H."""

from __future__ import annotations

from typing import TYPE_CHECKING

import math
from numbers import Integral
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..core.ranges import format_range
from ..errors import InvalidParameterError, UnknownComponentError
from ..core.transform import Transform
from ..validation import Interval, validate_params

if TYPE_CHECKING:  # evaluate imports this module
    from .evaluate import SurrogateEvaluation


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------


def _group_norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(groups, channels), channels)


class _Block(nn.Sequential):
    """conv3×3 → GroupNorm → SiLU, twice."""

    def __init__(self, cin: int, cout: int, groups: int):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1),
            _group_norm(cout, groups),
            nn.SiLU(),
            nn.Conv2d(cout, cout, 3, padding=1),
            _group_norm(cout, groups),
            nn.SiLU(),
        )


class ResidualEncoder(nn.Module):
    """F2(x) = x + conv3(SiLU(conv2(SiLU(conv1(x))))), 3×3 convolutions, C → w → w → C.

    No normalisation layer: every image is encoded independently of the rest of its batch, which
    :func:`gsmooth.surrogate.lipschitz.estimate_G` relies on (one batched pass over the α grid). The last
    convolution starts at zero (F2 = identity at initialisation).
    """

    def __init__(self, channels: int, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.conv3 = nn.Conv2d(width, channels, 3, padding=1)
        nn.init.zeros_(self.conv3.weight)
        nn.init.zeros_(self.conv3.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv3(F.silu(self.conv2(F.silu(self.conv1(x)))))


class UNetDecoder(nn.Module):
    """H: a two-level U-Net (widths w, 2w, 4w; GroupNorm; stride-2 convolutions down; up: a conv
    at the coarse resolution then bilinear upsampling; skip connections), then a final 3×3 conv on ``[U(z), z]`` → C channels.

    Works for any H×W (28×28 → 14 → 7, 32×32 → 16 → 8). The final conv starts as the identity on
    ``z`` and zero on ``U(z)``.
    """

    def __init__(self, channels: int, width: int = 32, groups: int = 8):
        super().__init__()
        w = width
        self.enc1 = _Block(channels, w, groups)
        self.down1 = nn.Conv2d(w, 2 * w, 3, stride=2, padding=1)
        self.enc2 = _Block(2 * w, 2 * w, groups)
        self.down2 = nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1)
        self.mid = _Block(4 * w, 4 * w, groups)
        self.up2 = nn.Conv2d(4 * w, 2 * w, 3, padding=1)
        self.dec2 = _Block(4 * w, 2 * w, groups)
        self.up1 = nn.Conv2d(2 * w, w, 3, padding=1)
        self.dec1 = _Block(2 * w, w, groups)
        self.out = nn.Conv2d(w, channels, 1)
        self.final = nn.Conv2d(2 * channels, channels, 3, padding=1)
        with torch.no_grad():
            self.final.weight.zero_()
            self.final.bias.zero_()
            for c in range(channels):
                self.final.weight[c, channels + c, 1, 1] = 1.0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(z)
        e2 = self.enc2(self.down1(e1))
        m = self.mid(self.down2(e2))
        # convolve at the coarse resolution, then upsample (4× cheaper than upsample-then-conv)
        u2 = F.interpolate(self.up2(m), size=e2.shape[-2:], mode="bilinear", align_corners=False)
        d2 = self.dec2(torch.cat([u2, e2], dim=1))
        u1 = F.interpolate(self.up1(d2), size=e1.shape[-2:], mode="bilinear", align_corners=False)
        d1 = self.dec1(torch.cat([u1, e1], dim=1))
        return self.final(torch.cat([self.out(d1), z], dim=1))


class SurrogateModel(nn.Module):
    """The surrogate ``τ̃(θ, x) = H(F2(x) + F1(θ) + ξ)`` of a transformation.

    Args:
        input_shape: ``(C, H, W)`` of the images.
        param_dim: d, the transform's number of parameters.
        width: base width of the U-Net H (2·width and 4·width below). Default 16 (≈ 180k
            parameters at 28×28; ≈ 125 images/s for a training step on 2 busy CPU cores).
        encoder_width: hidden width of the residual encoder F2. Default 16.
        groups: GroupNorm groups (reduced to divide the channel count). Default 8.

    Attributes (metadata, filled by :func:`train_surrogate` / :func:`load_surrogate`):
        transform_name, transform_params, transform_kind, param_units: the true transform.
        param_range: ``((lo, hi), …)`` the θ range it was trained on.
        dataset: the training dataset's name. training: hyper-parameters and per-epoch history.
        heldout: the :class:`SurrogateEvaluation` on held-out images, when known.

    Methods ``encode`` (F2), ``embed`` (F1, output image-shaped), ``decode`` (H) expose the parts
    (``estimate_G`` uses ``encode`` and ``embed``); ``forward(x, theta, xi=None)`` is the whole.
    """

    def __init__(
        self,
        *,
        input_shape: Sequence[int],
        param_dim: int,
        width: int = 16,
        encoder_width: int = 16,
        groups: int = 8,
    ) -> None:
        super().__init__()
        try:
            shape = tuple(int(s) for s in input_shape)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"SurrogateModel: input_shape expected (C, H, W), got {input_shape!r}") from None
        if len(shape) != 3 or min(shape) < 1:
            raise InvalidParameterError(f"SurrogateModel: input_shape expected (C, H, W), got {input_shape!r}")
        validate_params(
            "SurrogateModel",
            {"param_dim": param_dim, "width": width, "encoder_width": encoder_width, "groups": groups},
            {k: [Interval(Integral, 1, None)] for k in ("param_dim", "width", "encoder_width", "groups")},
        )
        self.input_shape = shape
        self.param_dim = int(param_dim)
        self.width, self.encoder_width, self.groups = int(width), int(encoder_width), int(groups)
        c, h, w = shape
        self.latent_dim = c * h * w
        self.f1 = nn.Linear(self.param_dim, self.latent_dim, bias=False)
        nn.init.zeros_(self.f1.weight)
        self.f2 = ResidualEncoder(c, self.encoder_width)
        self.h = UNetDecoder(c, self.width, self.groups)
        # metadata
        self.transform_name: Optional[str] = None
        self.transform_params: dict = {}
        self.transform_kind: Optional[str] = None
        self.param_units: str = ""
        self.param_range: tuple[tuple[float, float], ...] = ()
        self.dataset: Optional[str] = None
        self.training_info: dict = {}
        self.heldout: Optional[SurrogateEvaluation] = None
        #: what :func:`train_surrogate` needs to continue (written by :func:`save_surrogate` as
        #: ``"resume"``): configuration, completed epochs, position in a partial epoch, Adam's state
        self.resume_state: Optional[dict] = None

    # -- parts -----------------------------------------------------------------------------------
    def arch(self) -> dict:
        """Architecture sizes, as stored in checkpoints."""
        return {
            "name": "gsmooth-surrogate-unet",
            "input_shape": list(self.input_shape),
            "param_dim": self.param_dim,
            "width": self.width,
            "encoder_width": self.encoder_width,
            "groups": self.groups,
            "levels": 2,
            "activation": "silu",
        }

    @property
    def W(self) -> torch.Tensor:
        """The matrix of F1, ``(m, d)``."""
        return self.f1.weight

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """F2(x), image-shaped."""
        return self.f2(x)

    def embed(self, theta: torch.Tensor) -> torch.Tensor:
        """F1(θ) = Wθ reshaped to ``(B, C, H, W)``."""
        return self.f1(theta).view(theta.shape[0], *self.input_shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """H(z)."""
        return self.h(z)

    def forward(self, x: torch.Tensor, theta: torch.Tensor, xi: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``H(F2(x) + F1(θ) + ξ)``; x ``(B, C, H, W)``, theta ``(B, d)``, xi image-shaped or None."""
        z = self.encode(x) + self.embed(theta.reshape(x.shape[0], self.param_dim))
        if xi is not None:
            z = z + xi.reshape(z.shape)
        return self.decode(z)

    # -- the true transform ----------------------------------------------------------------------
    def true_transform(self) -> Transform:
        """Rebuild the true transform it was trained on from the registry (name + parameters)."""
        if not self.transform_name:
            raise InvalidParameterError(
                "surrogate: expected a surrogate that records its transform (trained by train_surrogate), "
                "got one without; pass the true transform explicitly"
            )
        from ..plugin.components import transform as build

        try:
            return build(self.transform_name, **self.transform_params)
        except UnknownComponentError as exc:
            raise UnknownComponentError(
                f"surrogate: its true transform {self.transform_name!r} is not registered here ({exc}); "
                "install the plugin that provides it, or pass the transform explicitly"
            ) from None

    def describe(self) -> str:
        rng = format_range(self.param_range) or "?"
        return f"surrogate of {self.transform_name or '?'} on {rng} ({self.dataset or '?'}, {tuple(self.input_shape)})"
