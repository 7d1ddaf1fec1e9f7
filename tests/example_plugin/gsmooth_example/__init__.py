"""gsmooth-example: a minimal third-party gsmooth plugin (and a template for writing one).

It provides

- ``example_triangular`` — symmetric triangular ("tent") noise on [−σ, σ], σ = half-width, for a
  one-dimensional transformation parameter (``norm = "param"``). It gives only its 1-D density and
  quantile, no closed-form radius: gsmooth certifies it by the numerical route (GSmooth eq. 3),
  ``R = ½ ∫_{1−p}^{p} dp / ψ(Ψ⁻¹(p))``. The tent density is symmetric and log-concave, so this is
  the exact Neyman–Pearson radius for a shift of the one parameter. (It is *not* declared as an ℓ1
  pixel noise: for i.i.d. coordinates other than Laplace/uniform the 1-D radius is not a proven ℓ1
  certificate in d dimensions.)
- ``example_shift`` — brightness shift τ(θ, x) = x + θ of every pixel (one parameter, ``kind="exact"``:
  shifts compose, τ(a, τ(b, x)) = τ(a + b, x), so a radius in θ certifies the true transform). Pixels
  are deliberately not clipped to [0, 1]: clipping would break the composition law. It declares its
  own defaults (``defaults = gsmooth.TransformDefaults(…)``: tent noise σ = 0.2, range ±0.1 in 4
  slices), so ``gsmooth certify --model M --transform example_shift --range`` needs nothing else.
- ``example_mlp`` — a tiny perceptron architecture (``gsmooth train --arch example_mlp``;
  :mod:`gsmooth_example.models`, hook ``register_architectures``).
- ``example_bars`` — a synthetic dataset of horizontal/vertical bars made in code
  (``--dataset example_bars``; :mod:`gsmooth_example.datasets`, hook ``register_datasets``).
- ``example_timestep`` — a tiny denoiser (:mod:`gsmooth_example.denoisers`, hook ``register_denoisers``)
  that owns its noise handling: the engine tells it the smoothing σ (``gsmooth_smoothing_noise``)
  and it maps σ to a "timestep", as diffusion denoised smoothing does.
- ``gsmooth example-count-params`` — a CLI subcommand counting a model's parameters
  (:mod:`gsmooth_example.commands`, hook ``register_commands``).
- ``example_gain`` — a gain τ(g, x) = (1 + g)·x (:mod:`gsmooth_example.gain`): kind ``exact``, but
  its parameters do not add (g1 ∘ g2 = g1 + g2 + g1·g2), so it supplies its own slice strategy
  for interval certificates through the public ``gsmooth.interval.SliceStrategy``.

It imports only the public ``gsmooth`` API and is registered through the entry point declared in
its ``pyproject.toml``::

    [project.entry-points.gsmooth]
    example = "gsmooth_example"

Usage once installed (``pip install -e tests/example_plugin``)::

    import gsmooth
    smoother = gsmooth.Smoother(model, noise=gsmooth.noise("example_triangular", sigma=0.3),
                                transform="example_shift", num_classes=10)
    cert = smoother.certify(image, n0=100, n=10_000, alpha=0.001)   # radius in brightness units
"""

from __future__ import annotations

import numpy as np
import torch

import gsmooth

from .gain import Gain

__all__ = ["TriangularNoise", "BrightnessShift", "brightness_shift", "Gain", "register_noises", "register_transforms"]
__version__ = "0.1.0"


class TriangularNoise(gsmooth.Noise):
    """θ_i i.i.d. with density ψ(t) = (1 − |t|/σ)/σ on [−σ, σ]; ``sigma`` is the half-width.

    Variance σ²/6. No ``radius`` override: the engine integrates it from :meth:`pdf` and
    :meth:`ppf` (at p_lower = p it equals Ψ⁻¹(p) = σ(1 − √(2(1 − p))), at most σ).
    """

    name = "example_triangular"
    norm = "param"
    one_sided = False

    def __init__(self, *, sigma: float = 0.5):
        self.sigma = sigma
        self.validate_params()

    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        # the difference of two independent U[0, 1) is triangular on (−1, 1)
        u = torch.rand((2, *shape), generator=generator, device=device, dtype=dtype)
        return (u[0] - u[1]).mul_(self.sigma)

    def pdf(self, x):
        x = np.asarray(x, dtype=np.float64)
        out = np.clip(1.0 - np.abs(x) / self.sigma, 0.0, None) / self.sigma
        return float(out) if out.ndim == 0 else out

    def ppf(self, p):
        p = np.asarray(p, dtype=np.float64)
        lower = np.sqrt(2.0 * np.clip(p, 0.0, 0.5)) - 1.0
        upper = 1.0 - np.sqrt(2.0 * np.clip(1.0 - p, 0.0, 0.5))
        out = self.sigma * np.where(p <= 0.5, lower, upper)
        return float(out) if out.ndim == 0 else out


def brightness_shift(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """The pure-function twin: ``x + θ`` per image, x ``(B,C,H,W)``, θ ``(B, 1)``; no clipping.

    Example:
        >>> brightness_shift(torch.zeros(2, 1, 2, 2), torch.tensor([[0.1], [0.2]]))[:, 0, 0, 0]
        tensor([0.1000, 0.2000])
    """
    return x + theta.reshape(-1, 1, 1, 1).to(x.dtype)


class BrightnessShift(gsmooth.Transform):
    """Adds θ to every pixel of each image (θ in pixel-intensity units)."""

    name = "example_shift"
    param_dim = 1
    kind = "exact"
    param_units = "intensity"
    identity_at_zero = True
    #: what the CLI uses when the command line does not say (``gsmooth plugins`` shows it)
    defaults = gsmooth.TransformDefaults(
        noise="example_triangular", sigma=0.2, range=((-0.1, 0.1),), slices=4,
        source="example: tent noise as wide as the CI run's; a range the tent's radius (at most σ) covers",
    )

    def __init__(self):
        super().__init__()

    def forward(self, x, theta):
        return brightness_shift(x, theta)


@gsmooth.hookimpl
def register_noises():
    return [TriangularNoise]


@gsmooth.hookimpl
def register_transforms():
    return [BrightnessShift, Gain]


# -- architectures, datasets and CLI commands (hooks register_architectures / _datasets / _commands) -------


@gsmooth.hookimpl
def register_architectures():
    from .models import ARCHITECTURES

    return ARCHITECTURES


@gsmooth.hookimpl
def register_datasets():
    from .datasets import DATASETS

    return DATASETS


@gsmooth.hookimpl
def register_denoisers():
    from .denoisers import DENOISERS

    return DENOISERS


@gsmooth.hookimpl
def register_commands(subparsers):
    from .commands import add_parser

    add_parser(subparsers)
