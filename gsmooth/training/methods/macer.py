"""MACER (Zhai et al., "MACER: Attack-free and Scalable Robust Training via Maximizing Certified Radius",
ICLR 2020), as in the authors' code.

m noisy copies per image, outputs ``(B, m, K)``. The classification loss is the NLL of the smoothed soft
classifier, ``−log(mean_i softmax f(x_i)_y)``; the robustness loss is a hinge on the soft certified radius:
with the β-scaled soft classifier ``p̃ = mean_i softmax(β f(x_i))`` and its top-2 scores (p1, p2) on the
images it classifies correctly, ``ξ = Φ⁻¹(p1) − Φ⁻¹(p2)``, and every image with a finite ξ ≤ γ adds
``(γ − ξ) · σ/2``. The loss is ``(classification + λ · robustness) / B``. Needs isotropic Gaussian noise
(the radius σ/2 (Φ⁻¹(p1) − Φ⁻¹(p2)) is Cohen et al.'s). Cost: m forward/backward passes per image.
"""

from __future__ import annotations

from numbers import Integral, Real

import torch
from torch.nn import functional as F

from ...errors import InvalidParameterError
from ...validation import Interval
from .base import MethodLoss, TrainingMethod, noisy_copies

__all__ = ["macer_loss", "MacerTraining"]

#: Added to the mean softmax before the log of the classification loss (the authors' 1e-10).
LOG_EPS = 1e-10


def macer_loss(logits: torch.Tensor, y: torch.Tensor, *, sigma: float, lam: float = 12.0, gamma: float = 8.0,
               beta: float = 16.0) -> torch.Tensor:
    """MACER's loss of m copies' logits (the authors' ``macer_train`` loss).

    Args:
        logits: ``(B, m, K)``, copy i of image b in ``logits[b, i]``.
        y: labels ``(B,)``.
        sigma: σ of the Gaussian noise (θ units).
        lam: λ ≥ 0, the weight of the robustness loss.
        gamma: γ > 0, the hinge's margin on ξ.
        beta: β > 0, the inverse temperature of the soft classifier the radius is taken of.

    Returns:
        The scalar ``(Σ_b −log(mean_i softmax(logits[b,i])_{y_b} + 1e-10) + λ · σ/2 · Σ_{b ∈ S} (γ − ξ_b)) / B``,
        S = the correctly classified images (top-1 of the β-softmax mean is y_b) with finite ξ_b ≤ γ.

    Example:
        >>> logits = torch.tensor([[[1.0, 0.0], [0.5, 0.0]]])  # one image, two copies, two classes
        >>> round(macer_loss(logits, torch.tensor([0]), sigma=0.25, lam=1.0, gamma=8.0, beta=1.0).item(), 4)
        1.2758
    """
    b = logits.shape[0]
    p = F.softmax(logits, dim=2).mean(1)  # (B, K)
    classification = F.nll_loss(torch.log(p + LOG_EPS), y, reduction="sum")
    p_beta = F.softmax(beta * logits, dim=2).mean(1)
    top, idx = torch.topk(p_beta, 2, dim=1)
    correct = idx[:, 0] == y
    normal = torch.distributions.Normal(torch.zeros((), dtype=logits.dtype, device=logits.device),
                                        torch.ones((), dtype=logits.dtype, device=logits.device))
    p1, p2 = top[correct, 0], top[correct, 1]
    with torch.no_grad():  # which images count: a saturated p1 = 1 (or p2 = 0) gives an infinite ξ, left out
        xi_all = normal.icdf(p1) - normal.icdf(p2)
        keep = torch.isfinite(xi_all) & (xi_all <= gamma)
    # Φ⁻¹ only of the kept scores: Φ⁻¹'s derivative at 1 (or 0) is infinite, and masking an infinite ξ after
    # the fact would still send 0 · ∞ = NaN into the weights' gradient
    xi = normal.icdf(p1[keep]) - normal.icdf(p2[keep])
    robustness = (gamma - xi).sum() * float(sigma) / 2
    return (classification + lam * robustness) / b


class MacerTraining(TrainingMethod):
    """Training with :func:`macer_loss` on ``copies`` Gaussian-noise copies per image.

    Args:
        lam: λ ≥ 0, the weight of the robustness loss (default 12, the authors' CIFAR-10 value).
        gamma: γ > 0, the hinge margin (default 8).
        beta: β > 0, the soft classifier's inverse temperature (default 16).
        copies: m ≥ 1 noisy copies per image (default 16; cost: m forward/backward passes per image).

    :meth:`check` refuses noise that is not isotropic Gaussian (``Noise.isotropic_gaussian``).

    Example:
        >>> import gsmooth, torch
        >>> s = gsmooth.Smoother(torch.nn.Flatten(), noise="gaussian", sigma=0.25, num_classes=16)
        >>> method = MacerTraining(copies=4)
        >>> method.check(s)
        >>> out = method.loss(s.model, s, torch.zeros(2, 1, 4, 4), torch.tensor([0, 1]),
        ...                   generator=torch.Generator().manual_seed(0))
        >>> out.logits.shape
        torch.Size([2, 16])
    """

    name = "macer"
    _parameter_constraints = {
        "lam": [Interval(Real, 0, None)],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "beta": [Interval(Real, 0, None, closed="neither")],
        "copies": [Interval(Integral, 1, None)],
    }

    def __init__(self, *, lam: float = 12.0, gamma: float = 8.0, beta: float = 16.0, copies: int = 16) -> None:
        self.lam = lam
        self.gamma = gamma
        self.beta = beta
        self.copies = copies
        self.validate_params()

    def check(self, smoother) -> None:
        noise = smoother.noise
        if not getattr(noise, "isotropic_gaussian", False):
            raise InvalidParameterError(
                f"train: method 'macer' expected isotropic Gaussian noise (its robustness loss is the Gaussian "
                f"radius), got {getattr(noise, 'name', type(noise).__name__)!r}"
            )

    def loss(self, model, smoother, x, y, *, generator=None) -> MethodLoss:
        m, b = self.copies, x.shape[0]
        _, noisy = noisy_copies(smoother, x, m, generator=generator)
        logits = model(noisy).view(m, b, -1).transpose(0, 1)  # (B, m, K)
        loss = macer_loss(logits, y, sigma=float(smoother.noise.sigma), lam=self.lam, gamma=self.gamma, beta=self.beta)
        return MethodLoss(loss, logits.detach().mean(1))
