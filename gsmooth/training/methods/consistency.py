"""Consistency regularization (Jeong & Shin, "Consistency Regularization for Certified Robustness of
Smoothed Classifiers", NeurIPS 2020).

m noisy copies of each image; besides their mean cross-entropy, the loss pulls every copy's prediction
towards the copies' mean prediction p̂ (a KL term, weight λ) and keeps p̂ confident (its entropy, weight η):

    L = mean_i CE(f(x_i), y) + λ · mean_i KL(p̂ ‖ softmax f(x_i)) + η · H(p̂),   p̂ = mean_i softmax f(x_i)

(averaged over the batch; as in the authors' code p̂ is not detached). Cost: m forward/backward passes per image.
"""

from __future__ import annotations

from numbers import Integral, Real

import torch
from torch.nn import functional as F

from ...validation import Interval
from .base import MethodLoss, TrainingMethod, noisy_copies

__all__ = ["consistency_loss", "ConsistencyTraining"]


def consistency_loss(logits: torch.Tensor, y: torch.Tensor, *, lam: float, eta: float = 0.5) -> torch.Tensor:
    """Jeong & Shin's consistency loss of m copies' logits.

    Args:
        logits: ``(m, B, K)``, copy i of image b in ``logits[i, b]``.
        y: labels ``(B,)``.
        lam: λ, the weight of the KL term.
        eta: η, the weight of the entropy of p̂.

    Returns:
        The scalar ``mean_b [mean_i CE(logits[i,b], y_b) + λ mean_i KL(p̂_b ‖ softmax logits[i,b]) + η H(p̂_b)]``,
        ``p̂_b = mean_i softmax logits[i,b]`` (``H(p) = -Σ p log p``, with ``0 log 0 = 0``).

    Example:
        >>> logits = torch.tensor([[[2.0, 0.0]], [[0.0, 2.0]]])  # two copies of one image that disagree
        >>> round(consistency_loss(logits, torch.tensor([0]), lam=1.0, eta=0.0).item(), 4)
        1.5607
    """
    m, b, k = logits.shape
    ce = F.cross_entropy(logits.reshape(m * b, k), y.repeat(m))
    log_q = F.log_softmax(logits, dim=-1)  # (m, B, K)
    p_hat = log_q.exp().mean(0)  # (B, K)
    log_p_hat = torch.log(p_hat.clamp_min(torch.finfo(p_hat.dtype).tiny))
    kl = (p_hat.unsqueeze(0) * (log_p_hat.unsqueeze(0) - log_q)).sum(-1).mean(0)  # (B,)
    entropy = -(p_hat * log_p_hat).sum(-1)  # (B,)
    return ce + (lam * kl + eta * entropy).mean()


class ConsistencyTraining(TrainingMethod):
    """Training with :func:`consistency_loss` on ``copies`` noisy copies per image.

    Args:
        lam: λ > 0, the weight of the consistency (KL) term (the paper uses 10 or 20 on CIFAR-10).
        eta: η ≥ 0, the weight of the entropy term (default 0.5, the paper's).
        copies: m ≥ 2 noisy copies per image (default 2; cost: m forward/backward passes per image).

    Example:
        >>> import gsmooth, torch
        >>> s = gsmooth.Smoother(torch.nn.Flatten(), noise="gaussian", sigma=0.25, num_classes=16)
        >>> out = ConsistencyTraining(lam=10.0).loss(s.model, s, torch.zeros(3, 1, 4, 4), torch.tensor([0, 1, 2]),
        ...                                          generator=torch.Generator().manual_seed(0))
        >>> out.loss.shape, out.logits.shape
        (torch.Size([]), torch.Size([3, 16]))
    """

    name = "consistency"
    _parameter_constraints = {
        "lam": [Interval(Real, 0, None, closed="neither")],
        "eta": [Interval(Real, 0, None)],
        "copies": [Interval(Integral, 2, None)],
    }

    def __init__(self, *, lam: float, eta: float = 0.5, copies: int = 2) -> None:
        self.lam = lam
        self.eta = eta
        self.copies = copies
        self.validate_params()

    def loss(self, model, smoother, x, y, *, generator=None) -> MethodLoss:
        _, noisy = noisy_copies(smoother, x, self.copies, generator=generator)
        logits = model(noisy).view(self.copies, x.shape[0], -1)
        loss = consistency_loss(logits, y, lam=self.lam, eta=self.eta)
        return MethodLoss(loss, logits.detach().mean(0))
