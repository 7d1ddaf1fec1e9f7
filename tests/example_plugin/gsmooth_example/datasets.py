"""``example_bars``: a synthetic dataset made in code (no files, no download), registered through the
``register_datasets`` hook.

28x28 grayscale images of one bright bar on a dark, slightly noisy background; class 0 = horizontal
bar, class 1 = vertical bar. Each split is generated from its own fixed seed, so it is the same on
every machine: 2000 training and 500 test images.
"""

from __future__ import annotations

import torch

from gsmooth.data import DatasetInfo, DatasetSpec, ImageTensorDataset

CLASSES = ("horizontal", "vertical")
SIZE = 28
SPLIT_SIZES = {"train": 2000, "test": 500}
SEEDS = {"train": 20_260_601, "test": 20_260_602}

INFO = DatasetInfo("example_bars", len(CLASSES), (1, SIZE, SIZE), (0.204,), (0.298,), CLASSES)  # mean, std of the train split


def make_bars(n: int, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` bar images and their labels, from ``seed``.

    Returns:
        ``uint8`` images ``(n, 1, 28, 28)`` and ``int64`` labels ``(n,)`` (0 horizontal, 1 vertical).

    Example:
        >>> images, labels = make_bars(4, seed=0)
        >>> images.shape, images.dtype, labels.tolist() == make_bars(4, seed=0)[1].tolist()
        (torch.Size([4, 1, 28, 28]), torch.uint8, True)
    """
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    start = torch.randint(2, SIZE - 8, (n,), generator=g)
    width = torch.randint(3, 7, (n,), generator=g)
    images = torch.rand(n, SIZE, SIZE, generator=g) * 0.15
    idx = torch.arange(SIZE)
    band = (idx >= start[:, None]) & (idx < (start + width)[:, None])  # (n, 28): rows / columns lit
    lit = torch.where(labels[:, None, None] == 0, band[:, :, None], band[:, None, :])
    images = torch.where(lit, 0.75 + 0.25 * torch.rand(n, SIZE, SIZE, generator=g), images)
    return (images * 255).round().to(torch.uint8).unsqueeze(1), labels


def load(split: str, *, root=None, download: bool = False) -> ImageTensorDataset:
    """The ``split`` ("train" or "test"); ``root`` and ``download`` are ignored (nothing on disk)."""
    images, labels = make_bars(SPLIT_SIZES[split], seed=SEEDS[split])
    return ImageTensorDataset(images, labels, classes=CLASSES)


DATASETS = [DatasetSpec(INFO, load, description="synthetic horizontal/vertical bars, made in code")]
