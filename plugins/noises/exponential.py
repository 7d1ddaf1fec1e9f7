"""One-sided exponential noise on a transformation parameter (TSS, Li et al. 2021; GSmooth)."""

import numpy as np
import torch
from scipy import stats

import gsmooth


class ExponentialNoise(gsmooth.Noise):
    """θ ~ Exp(scale λ = ``sigma``), θ ≥ 0 — for parameters that only grow (blur width, zoom).

    Radius ``−λ·ln(2(1 − p_lower))`` in the parameter's units (Neyman–Pearson for a one-sided
    shift; TSS Theorem for exponential noise). The numerical route of GSmooth eq. 3 does not apply
    to one-sided densities, hence the closed form.
    """

    name = "exponential"
    norm = "param"
    one_sided = True

    def __init__(self, *, sigma: float = 1.0):
        self.sigma = sigma
        self.validate_params()

    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        return torch.empty(shape, device=device, dtype=dtype).exponential_(generator=generator).mul_(self.sigma)

    def pdf(self, x):
        return stats.expon.pdf(x, scale=self.sigma)

    def ppf(self, p):
        return stats.expon.ppf(p, scale=self.sigma)

    def radius(self, p_lower):
        p = self._p(p_lower)
        with np.errstate(divide="ignore"):
            return self._out(-self.sigma * np.log(2.0 * (1.0 - p)))
