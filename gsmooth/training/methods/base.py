"""What every training method owes the trainer: :class:`TrainingMethod` and its result :class:`MethodLoss`.

A training method turns one batch ``(x, y)`` into the loss the optimizer minimises. The noise always comes
from the :class:`gsmooth.Smoother` that certifies: θ is drawn by ``smoother.noise.sample(...)`` and applied by
``smoother.transform(x, θ)``, exactly as :meth:`gsmooth.Smoother.perturb` does (for a surrogate-backed
transform that is the :class:`~gsmooth.surrogate.transform.SurrogateTransform`), so a model is trained for
the distribution it is certified under. Methods are components like noises and transforms: keyword-only
hyper-parameters validated from one table (``_parameter_constraints``), registered through the
``register_training_methods`` hook, built by name with :func:`gsmooth.training_method`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ...core._params import ParamsMixin

__all__ = ["MethodLoss", "TrainingMethod", "noisy_copies"]


@dataclass
class MethodLoss:
    """What :meth:`TrainingMethod.loss` returns.

    Attributes:
        loss: the scalar the optimizer minimises (a 0-dim tensor with a graph to the weights).
        logits: ``(B, K)``, one row per image of the batch, whose ``argmax`` the trainer counts against
            the labels for the training accuracy (the mean over copies for multi-copy methods).
    """

    loss: torch.Tensor
    logits: torch.Tensor


def noisy_copies(smoother, x: torch.Tensor, copies: int, *, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """θ for ``copies`` noisy copies of every image, and the images they give, through ``smoother``.

    Args:
        smoother: the :class:`gsmooth.Smoother` whose noise and transform are used.
        x: images ``(B, C, H, W)``.
        copies: m, the number of copies per image.
        generator: the noise stream (on ``x``'s device).

    Returns:
        ``(theta, noisy)``: θ of shape ``(m, B, *param_shape)`` drawn in one call of
        ``smoother.noise.sample`` (copy-major), and ``noisy = τ(x, θ)`` of shape ``(m·B, C, H, W)``, the
        copies of one draw next to each other (``noisy.view(m, B, C, H, W)[i]`` is copy ``i``), computed
        without a graph. With ``m = 1`` this consumes ``generator`` exactly as ``smoother.perturb(x)``.

    Example:
        >>> import gsmooth, torch
        >>> s = gsmooth.Smoother(torch.nn.Flatten(), noise="gaussian", sigma=0.25, num_classes=16)
        >>> theta, noisy = noisy_copies(s, torch.zeros(3, 1, 4, 4), 2, generator=torch.Generator().manual_seed(0))
        >>> theta.shape, noisy.shape
        (torch.Size([2, 3, 1, 4, 4]), torch.Size([6, 1, 4, 4]))
    """
    b = x.shape[0]
    shape = smoother.transform.param_shape(tuple(x.shape[1:]))
    theta = smoother.noise.sample((copies * b, *shape), generator=generator, device=x.device, dtype=x.dtype)
    with torch.no_grad():  # no graph through the transform (a surrogate network, say)
        noisy = smoother.transform(x.repeat(copies, *([1] * (x.dim() - 1))), theta)
    return theta.view(copies, b, *shape), noisy


class TrainingMethod(ParamsMixin):
    """Base class of the training methods of ``gsmooth train`` (``--consistency``, ``--smoothadv``, ``--macer``).

    Subclasses set ``name`` (what :class:`~gsmooth.training.trainer.TrainConfig` ``.method`` names),
    keyword-only hyper-parameters in ``__init__`` checked against ``_parameter_constraints`` by
    :meth:`validate_params`, and implement :meth:`loss`. Optional: :meth:`check` (refuse a smoother the
    method cannot train with, before any training) and :meth:`set_epoch` (called by the trainer at the
    start of every epoch, 0-based; SmoothAdv's ε warm-up uses it).

    Attributes:
        name: the registry key.
        copies: m, noisy copies per image (m forward/backward passes per image: the cost of a batch).

    Example:
        >>> import gsmooth
        >>> method = gsmooth.training_method("consistency", lam=10.0)
        >>> method, method.copies
        (ConsistencyTraining(lam=10.0, eta=0.5, copies=2), 2)
    """

    name: ClassVar[str] = ""
    copies: int = 1

    def check(self, smoother) -> None:
        """Refuse, with a typed error, a smoother this method cannot train with (default: accept)."""

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer at the start of each epoch (0-based); default: nothing."""

    def loss(self, model, smoother, x: torch.Tensor, y: torch.Tensor, *, generator: torch.Generator | None) -> MethodLoss:
        """The training loss of one batch.

        Args:
            model: the classifier being trained (in train mode), images ``(N, C, H, W)`` → logits ``(N, K)``.
            smoother: the :class:`gsmooth.Smoother` that certifies (its noise and transform).
            x: images ``(B, C, H, W)``; y: labels ``(B,)``.
            generator: the epoch's noise stream (on ``x``'s device): the only randomness.

        Returns:
            A :class:`MethodLoss`.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return self._params_repr()
