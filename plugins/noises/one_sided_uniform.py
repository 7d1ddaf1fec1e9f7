"""One-sided uniform noise U[0, a) on a transformation parameter (TSS, GSmooth)."""

import torch
from scipy import stats

import gsmooth


class OneSidedUniformNoise(gsmooth.Noise):
    """θ ~ U[0, a) with a = ``sigma``.  Radius ``a(p_lower − 1/2)`` in the parameter's units."""

    name = "one_sided_uniform"
    norm = "param"
    one_sided = True

    def __init__(self, *, sigma: float = 1.0):
        self.sigma = sigma
        self.validate_params()

    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        return torch.rand(shape, generator=generator, device=device, dtype=dtype).mul_(self.sigma)

    def support(self):
        return (0.0, float(self.sigma))

    def pdf(self, x):
        return stats.uniform.pdf(x, loc=0.0, scale=self.sigma)

    def ppf(self, p):
        return stats.uniform.ppf(p, loc=0.0, scale=self.sigma)

    def radius(self, p_lower):
        return self._out(self.sigma * (self._p(p_lower) - 0.5))
