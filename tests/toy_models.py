"""Tiny base classifiers whose smoothed behaviour is known by construction (shared by tests)."""

from __future__ import annotations

import torch
from torch import nn


class Bands(nn.Module):
    """Class k when the mean pixel value is closest to centres[k] (sharp logits): with the default
    centres, boundaries at 0.35 and 0.65."""

    def __init__(self, centres=(0.2, 0.5, 0.8)):
        super().__init__()
        self.register_buffer("c", torch.tensor(centres))

    def forward(self, x):
        m = x.flatten(1).mean(1, keepdim=True)
        return -((m - self.c) ** 2) * 2000


class NoiseCategorical(nn.Module):
    """A class drawn from a *known* distribution by the noise itself: with z = x0 + θ and θ ~ N(0, σ²)
    per pixel, ``u = Φ((z − x0)_0 / σ)`` is uniform on (0, 1) and the class is the bucket of u in the
    cumulative probabilities, so the votes are exactly Multinomial(n, probs). One-hot logits."""

    def __init__(self, x0: torch.Tensor, sigma: float, probs):
        super().__init__()
        probs = torch.as_tensor(probs, dtype=torch.float64)
        assert torch.all(probs >= 0) and abs(float(probs.sum()) - 1.0) < 1e-12
        self.k = len(probs)
        self.sigma = float(sigma)
        self.register_buffer("x0", x0.flatten()[:1].clone().double())
        self.register_buffer("cum", torch.cumsum(probs, 0)[:-1].contiguous())

    def forward(self, z):
        u = torch.special.ndtr((z.flatten(1)[:, 0].double() - self.x0[0]) / self.sigma)
        cls = torch.bucketize(u, self.cum, right=True)
        return torch.nn.functional.one_hot(cls, self.k).to(z.dtype)
