"""The default training method: Gaussian (or any registered) noise augmentation (Cohen et al., ICML 2019).

One noisy copy ``smoother.perturb(x)`` per image, cross-entropy. This is ``gsmooth train`` as it always was:
the noise stream is consumed exactly as before, so existing runs train bit for bit the same model.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .base import MethodLoss, TrainingMethod

__all__ = ["NoiseAugmentation"]


class NoiseAugmentation(TrainingMethod):
    """Cross-entropy on one noisy copy per image, ``CE(f(τ(x, θ)), y)`` with θ ~ the smoother's noise.

    No hyper-parameters; ``copies`` is 1.

    Example:
        >>> import gsmooth, torch
        >>> s = gsmooth.Smoother(torch.nn.Flatten(), noise="gaussian", sigma=0.25, num_classes=16)
        >>> out = NoiseAugmentation().loss(s.model, s, torch.zeros(2, 1, 4, 4), torch.tensor([0, 1]),
        ...                                generator=torch.Generator().manual_seed(0))
        >>> out.loss.shape, out.logits.shape
        (torch.Size([]), torch.Size([2, 16]))
    """

    name = "noise"
    _parameter_constraints: dict = {}

    def __init__(self) -> None:
        self.validate_params()

    def loss(self, model, smoother, x, y, *, generator=None) -> MethodLoss:
        with torch.no_grad():  # no graph through the transform (a surrogate network, say)
            noisy = smoother.perturb(x, generator=generator)
        logits = model(noisy)
        return MethodLoss(F.cross_entropy(logits, y), logits)
