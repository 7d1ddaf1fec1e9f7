"""``example_timestep``: a tiny denoiser that owns its noise handling, registered through ``register_denoisers``.

It stands in for a diffusion model used as a denoiser (Carlini et al. 2023, "(Certified!!) adversarial
robustness for free"): such a model is not trained for one σ, it maps the smoothing σ to a diffusion
timestep. The engine tells it σ through the model-owned protocol: ``gsmooth.Smoother`` calls the base
model's ``gsmooth_smoothing_noise(noise, transform)`` before any sampling, and
:class:`gsmooth.denoising.DenoisedClassifier` hands that call to a denoiser defining it. This one picks
``timestep = round(σ · TIMESTEPS_PER_UNIT)`` and refuses non-Gaussian noise and σ above :data:`MAX_SIGMA`.
"""

from __future__ import annotations

import torch
from torch import nn

import gsmooth
from gsmooth.denoising import DenoiserArchitecture

#: Timesteps per unit of σ (a stand-in for a noise schedule), and the largest σ it has a timestep for.
TIMESTEPS_PER_UNIT = 1000
MAX_SIGMA = 1.0


class TimestepDenoiser(nn.Module):
    """``D(x̃) = x̃ − t/T_max · conv1x1(x̃)``: a 1×1 convolution scaled by the timestep chosen from σ.

    Attributes:
        timestep: ``None`` until a smoother tells it its noise, then ``round(σ · 1000)``.

    Shape:
        - Input: ``(B, C, H, W)``; Output: the same.

    Example:
        >>> den = TimestepDenoiser(channels=1)
        >>> den.gsmooth_smoothing_noise(gsmooth.noise("gaussian", sigma=0.25), gsmooth.transform("additive"))
        >>> den.timestep
        250
    """

    def __init__(self, *, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1, bias=False)
        nn.init.zeros_(self.conv.weight)
        self.timestep: int | None = None

    def gsmooth_smoothing_noise(self, noise, transform) -> None:
        if not getattr(noise, "isotropic_gaussian", False) or not 0 < float(noise.sigma) <= MAX_SIGMA:
            raise gsmooth.UnsupportedNoiseError(
                f"example_timestep: expected Gaussian noise with sigma in (0, {MAX_SIGMA:g}] (it has a timestep for "
                f"those), got {noise.describe()}"
            )
        self.timestep = round(float(noise.sigma) * TIMESTEPS_PER_UNIT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = 0 if self.timestep is None else self.timestep
        return x - (t / (MAX_SIGMA * TIMESTEPS_PER_UNIT)) * self.conv(x)


DENOISERS = [
    DenoiserArchitecture("example_timestep", lambda *, input_shape: TimestepDenoiser(channels=input_shape[0]),
                         "1x1 conv scaled by a timestep picked from sigma (the model-owned noise protocol)"),
]
