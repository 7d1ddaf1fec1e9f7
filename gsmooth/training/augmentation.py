"""Data augmentation baselines for training: AugMix (Hendrycks et al., ICLR 2020) through torchvision.

The corruption table (CIFAR-10-C, and our corrupted Fashion-MNIST) compares smoothing against an
AugMix-trained model, as the GSmooth paper does. We use torchvision's :class:`~torchvision.transforms.v2.AugMix`
(severity 3, mixture width 3, chain depth 1–3, α = 1: the paper's defaults) as the augmentation
and train with plain cross-entropy — the paper's Jensen–Shannon consistency loss is *not* used
(say so when quoting numbers).

torchvision draws its random choices from torch's global generator. :class:`SeededAugMix` makes
them a function of ``(seed, epoch, call number)`` instead, without touching the caller's global
RNG state, so the same training command gives the same model (data loading runs in the main
process, so the calls come in a fixed order).
"""

from __future__ import annotations

import torch

from ..core.seeding import derive_seed

__all__ = ["SeededAugMix"]


class SeededAugMix:
    """torchvision's AugMix on a ``uint8`` image ``(C, H, W)``, with seeded randomness.

    Args:
        seed: base seed (the training run's).
        **augmix_kwargs: passed to :class:`torchvision.transforms.v2.AugMix` (defaults: severity 3,
            mixture_width 3, chain_depth -1 (1–3), alpha 1.0, all_ops True).

    Call :meth:`set_epoch` at the start of each epoch.

    Example:
        >>> aug = SeededAugMix(seed=0); aug.set_epoch(0)
        >>> out = aug(torch.zeros(1, 28, 28, dtype=torch.uint8)); out.shape, out.dtype
        (torch.Size([1, 28, 28]), torch.uint8)
    """

    def __init__(self, *, seed: int = 0, **augmix_kwargs) -> None:
        from torchvision.transforms import v2

        self.seed = int(seed)
        self.op = v2.AugMix(**augmix_kwargs)
        self.epoch = 0
        self.calls = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.calls = int(epoch), 0

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        s = derive_seed(self.seed, self.epoch, 3, self.calls)
        self.calls += 1
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s)
            return self.op(img)

    def __repr__(self) -> str:
        return f"SeededAugMix(seed={self.seed}, {self.op!r})"
