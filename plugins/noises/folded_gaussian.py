"""Folded (half-normal) Gaussian noise |N(0, σ²)| on a transformation parameter (TSS)."""

import torch
from scipy import stats

import gsmooth


class FoldedGaussianNoise(gsmooth.Noise):
    """θ = |ε|, ε ~ N(0, σ²), θ ≥ 0.  Radius ``σ(Φ⁻¹((1 + p)/2) − Φ⁻¹(3/4))`` (TSS)."""

    name = "folded_gaussian"
    norm = "param"
    one_sided = True

    def __init__(self, *, sigma: float = 1.0):
        self.sigma = sigma
        self.validate_params()

    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        return torch.randn(shape, generator=generator, device=device, dtype=dtype).abs_().mul_(self.sigma)

    def pdf(self, x):
        return stats.halfnorm.pdf(x, scale=self.sigma)

    def ppf(self, p):
        return stats.halfnorm.ppf(p, scale=self.sigma)

    def radius(self, p_lower):
        p = self._p(p_lower)
        return self._out(self.sigma * (stats.norm.ppf((1.0 + p) / 2.0) - stats.norm.ppf(0.75)))
