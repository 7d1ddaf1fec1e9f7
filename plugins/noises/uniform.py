"""Uniform noise U[−λ, λ]^d: certifies the ℓ1 norm (Yang et al. 2020, "all shapes and sizes")."""

import numpy as np
import torch
from scipy import stats

import gsmooth


class UniformNoise(gsmooth.Noise):
    """θ_i ~ U[−λ, λ] i.i.d. with half-width λ = ``sigma``.  Radius ``2λ(p_lower − 1/2)`` in ℓ1."""

    name = "uniform"
    norm = "l1"

    def __init__(self, *, sigma: float = 0.5):
        self.sigma = sigma
        self.validate_params()

    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        return torch.empty(shape, device=device, dtype=dtype).uniform_(-self.sigma, self.sigma, generator=generator)

    def support(self):
        return (-float(self.sigma), float(self.sigma))

    def pdf(self, x):
        return stats.uniform.pdf(x, loc=-self.sigma, scale=2.0 * self.sigma)

    def ppf(self, p):
        return stats.uniform.ppf(p, loc=-self.sigma, scale=2.0 * self.sigma)

    def logpdf(self, x):
        inside = np.abs(np.asarray(x, dtype=np.float64)) <= self.sigma
        return np.where(inside, -np.log(2.0 * self.sigma), -np.inf)

    def radius(self, p_lower):
        return self._out(self.sigma * (2.0 * (self._p(p_lower) - 0.5)))  # sigma last: 2 * 1e308 * 0 would be NaN
