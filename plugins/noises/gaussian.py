"""Isotropic Gaussian noise N(0, σ²I): certifies the ℓ2 norm (Cohen et al. 2019)."""

import numpy as np
import torch
from scipy import stats

import gsmooth


class GaussianNoise(gsmooth.Noise):
    """θ ~ N(0, σ² I).  Radius ``σ·Φ⁻¹(p_lower)`` in ℓ2 (pixels in [0, 1]).

    Also a valid parameter noise for transformations (rotation angle, translation, …), where the
    radius is measured in the transform's parameter units.

    Example:
        >>> GaussianNoise(sigma=0.25).radius(0.99993092)  # doctest: +ELLIPSIS
        0.9528...
    """

    name = "gaussian"
    norm = "l2"
    #: θ ~ N(0, σ² I): what GSmooth's surrogate radius and the contrast law are proven for.
    isotropic_gaussian = True

    def __init__(self, *, sigma: float = 0.25):
        self.sigma = sigma
        self.validate_params()

    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        # one pass over memory (randn followed by mul_ would be two)
        return torch.empty(shape, device=device, dtype=dtype).normal_(0.0, self.sigma, generator=generator)

    def pdf(self, x):
        return stats.norm.pdf(x, scale=self.sigma)

    def ppf(self, p):
        return stats.norm.ppf(p, scale=self.sigma)

    def logpdf(self, x):
        x = np.asarray(x, dtype=np.float64) / self.sigma
        return -0.5 * x * x - np.log(self.sigma * np.sqrt(2.0 * np.pi))

    def radius(self, p_lower):
        return self._out(self.sigma * stats.norm.ppf(self._p(p_lower)))
