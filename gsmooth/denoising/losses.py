"""The training objectives of a denoiser (Salman et al., 2020): pure functions of the modules and tensors.

- :func:`mse_objective`: ``mean ‖D(x + δ) − x‖²`` over every pixel (the "MSE" objective);
- :func:`stability_objective`: ``CE(f(D(x + δ)), argmax f(x))`` with the classifier ``f`` frozen
  (the "Stab" objective: the classifier should give the denoised noisy image the label it gives the
  clean one). Salman et al.'s "Stab+MSE" is the stability objective started from an MSE denoiser.

Neither function draws noise: the caller passes ``noisy`` (``train_denoiser`` draws it from a seeded
generator), so both are deterministic given their inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["mse_objective", "stability_objective"]


def mse_objective(denoiser: nn.Module, x: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the denoised noisy images against the clean ones.

    Args:
        denoiser: ``D``, mapping ``(B, C, H, W)`` to ``(B, C, H, W)``.
        x: clean images ``(B, C, H, W)``.
        noisy: the same images with noise, ``(B, C, H, W)``.

    Returns:
        a scalar tensor, ``mean((D(noisy) − x)²)`` over all ``B·C·H·W`` values (differentiable in ``D``).

    Example:
        >>> x = torch.zeros(2, 1, 2, 2)
        >>> mse_objective(torch.nn.Identity(), x, x + 0.5).item()
        0.25
    """
    return F.mse_loss(denoiser(noisy), x)


def stability_objective(denoiser: nn.Module, classifier: nn.Module, x: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the classifier on the denoised noisy images against its own labels of the clean images.

    The target ``argmax classifier(x)`` is computed without gradient; gradients flow through the
    classifier into the denoiser only in the sense that the classifier's parameters are never updated
    by the caller (``train_denoiser`` freezes them: ``requires_grad_(False)``, eval mode).

    Args:
        denoiser: ``D``, ``(B, C, H, W) → (B, C, H, W)``.
        classifier: ``f``, ``(B, C, H, W) → (B, k)`` logits.
        x: clean images ``(B, C, H, W)``.
        noisy: the same images with noise, ``(B, C, H, W)``.

    Returns:
        a scalar tensor, ``mean_i CE(f(D(noisy_i)), argmax f(x_i))``.

    Example:
        >>> f = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2, bias=False))
        >>> with torch.no_grad():
        ...     _ = f[1].weight.copy_(torch.tensor([[1.0, 1, 1, 1], [-1, -1, -1, -1]]))
        >>> x = torch.ones(1, 1, 2, 2)
        >>> round(stability_objective(torch.nn.Identity(), f, x, x).item(), 6)  # CE of logits (4, -4), label 0
        0.000335
    """
    with torch.no_grad():
        target = classifier(x).argmax(dim=1)
    return F.cross_entropy(classifier(denoiser(noisy)), target)
