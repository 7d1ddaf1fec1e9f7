"""Laplace noise with scale λ (density ∝ exp(−|x|/λ)): certifies the ℓ1 norm (Teng et al. 2020)."""

import numpy as np
import torch
from scipy import stats

import gsmooth


class LaplaceNoise(gsmooth.Noise):
    """θ_i ~ Laplace(0, λ) i.i.d. with λ = ``sigma``.  Radius ``−λ·ln(2(1 − p_lower))`` in ℓ1.

    Sampled as λ·(E₁ − E₂) with E₁, E₂ ~ Exp(1), which needs only ``Tensor.exponential_`` and
    is exact (no clamping of a uniform at its ends).
    """

    name = "laplace"
    norm = "l1"

    def __init__(self, *, sigma: float = 0.25):
        self.sigma = sigma
        self.validate_params()

    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        e1 = torch.empty(shape, device=device, dtype=dtype).exponential_(generator=generator)
        e2 = torch.empty(shape, device=device, dtype=dtype).exponential_(generator=generator)
        return e1.sub_(e2).mul_(self.sigma)

    def pdf(self, x):
        return stats.laplace.pdf(x, scale=self.sigma)

    def ppf(self, p):
        return stats.laplace.ppf(p, scale=self.sigma)

    def logpdf(self, x):
        return -np.abs(np.asarray(x, dtype=np.float64)) / self.sigma - np.log(2.0 * self.sigma)

    def radius(self, p_lower):
        p = self._p(p_lower)
        with np.errstate(divide="ignore"):
            return self._out(-self.sigma * np.log(2.0 * (1.0 - p)))
