"""``example_mlp``: a tiny perceptron, registered through the ``register_architectures`` hook.

``gsmooth train --arch example_mlp`` builds it (behind gsmooth's normalization layer), the checkpoint
records ``arch = "example_mlp"``, and ``gsmooth certify`` rebuilds it from there, while this plugin
is installed.
"""

from __future__ import annotations

import math

from torch import nn

from gsmooth.models import Architecture

#: Hidden units of :func:`example_mlp`.
HIDDEN = 64


def example_mlp(*, input_shape, num_classes: int) -> nn.Module:
    """Flatten → Linear(C·H·W, 64) → ReLU → Linear(64, k).

    Args:
        input_shape: ``(C, H, W)`` of one image.
        num_classes: ``k``.

    Shape:
        - Input: ``(B, C, H, W)`` (normalized)
        - Output: ``(B, k)`` logits

    Example:
        >>> import torch
        >>> example_mlp(input_shape=(1, 28, 28), num_classes=10)(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(math.prod(input_shape), HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, num_classes),
    )


ARCHITECTURES = [Architecture("example_mlp", example_mlp, description=f"flatten, {HIDDEN} ReLU units, linear")]
