"""Tiny base classifiers whose smoothed behaviour is known by construction (shared by tests)."""

from __future__ import annotations

import torch
from scipy import stats
from torch import nn

import gsmooth


class Bands(nn.Module):
    """Class k when the mean pixel value is closest to centres[k] (sharp logits): with the default
    centres, boundaries at 0.35 and 0.65."""

    def __init__(self, centres=(0.2, 0.5, 0.8)):
        super().__init__()
        self.register_buffer("c", torch.tensor(centres))

    def forward(self, x):
        m = x.flatten(1).mean(1, keepdim=True)
        return -((m - self.c) ** 2) * 2000


class MeanThreshold(nn.Module):
    """Class 0 iff the image's mean pixel is below ``t``: under additive Gaussian noise on one pixel
    (or Gaussian brightness noise) its smoothed probabilities are Φ of a distance, in closed form."""

    def __init__(self, t: float):
        super().__init__()
        self.t = float(t)

    def forward(self, x):
        m = x.flatten(1).mean(1)
        return torch.stack([self.t - m, m - self.t], 1)


class MeanBands(nn.Module):
    """Three classes by the mean pixel s: 0 if s < t1, 1 if t1 ≤ s < t2, 2 if s ≥ t2."""

    def __init__(self, t1: float, t2: float):
        super().__init__()
        self.t1, self.t2 = float(t1), float(t2)

    def forward(self, x):
        s = x.flatten(1).mean(1)
        return torch.stack([self.t1 - s, torch.minimum(s - self.t1, self.t2 - s), s - self.t2], 1)


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


class PdfOnlyLaplace(gsmooth.Noise):
    """A third-party Laplace noise that gives only pdf/ppf: its radius is the numerical route, the
    1-D Neyman–Pearson radius −λ ln(2(1 − p)) (an ℓ1 radius for Laplace, never an ℓ2 one in d dims).
    It declares no norm, so it inherits the base class's 1-D ``param``."""

    name = "t_pdf_laplace"

    def __init__(self, *, sigma: float = 0.05):
        self.sigma = sigma
        self.validate_params()

    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        e1 = torch.empty(shape, device=device, dtype=dtype).exponential_(generator=generator)
        e2 = torch.empty(shape, device=device, dtype=dtype).exponential_(generator=generator)
        return (e1 - e2) * self.sigma

    def pdf(self, x):
        return stats.laplace.pdf(x, scale=self.sigma)

    def ppf(self, p):
        return stats.laplace.ppf(p, scale=self.sigma)


#: The smoothing a test checkpoint records unless told otherwise: Gaussian σ = 0.25, additive.
ADDITIVE_SMOOTHING = {"noise": "gaussian", "noise_params": {"sigma": 0.25}, "transform": "additive", "transform_params": {}}


def fashion_mnist_checkpoint(path, *, smoothing=None, model=None, seed: int = 0):
    """Write a small-CNN Fashion-MNIST checkpoint to ``path`` (random weights from ``seed`` unless
    ``model`` is given: fast, and all the CLI needs) recording ``smoothing``; returns ``path``."""
    from gsmooth.io.checkpoints import save_checkpoint
    from gsmooth.data.datasets import dataset_info
    from gsmooth.models.architectures import build_model

    info = dataset_info("fashion-mnist")
    if model is None:
        torch.manual_seed(seed)
        model = build_model("small_cnn", num_classes=10, input_shape=info.input_shape, mean=info.mean, std=info.std)
    save_checkpoint(
        path, model=model, arch="small_cnn", dataset="fashion-mnist", num_classes=10, input_shape=info.input_shape,
        mean=info.mean, std=info.std, epoch=1, smoothing=dict(smoothing or ADDITIVE_SMOOTHING),
    )
    return path
