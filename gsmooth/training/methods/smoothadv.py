"""SmoothAdv (Salman et al., "Provably Robust Deep Learning via Adversarially Trained Smoothed Classifiers",
NeurIPS 2019): adversarial training of the *smoothed* classifier, PGD variant with several noise draws.

For each image, m noise parameters θ_i are drawn and kept fixed; a perturbation δ in the transform's
parameter space (pixels for additive noise, θ-units for a transform), ‖δ‖₂ ≤ ε per image, is found by
``steps`` steps of ℓ2-normalised gradient ascent on the smoothed soft classifier's loss

    −log( mean_i softmax f(τ(x, δ + θ_i))_y ),

step size 2ε/steps, projected onto the ε-ball, starting at δ = 0, with the model in eval mode (no gradient
reaches the weights). The model is then trained on ``mean_i CE(f(τ(x, δ* + θ_i)), y)`` with the same θ_i.
Cost: (steps + 1) · m forward passes and steps · m + m backward passes per image.
"""

from __future__ import annotations

from numbers import Integral, Real

import torch
from torch.nn import functional as F

from ...errors import InvalidParameterError
from ...validation import Interval
from .base import MethodLoss, TrainingMethod

__all__ = ["smoothadv_attack", "SmoothAdvTraining", "check_differentiable_transform"]


def _per_image_norm(t: torch.Tensor) -> torch.Tensor:
    """ℓ2 norm of every image's slice ``t[b]``, shaped to broadcast against ``t``."""
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))


def _apply(transform, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """``τ(x, params[i])`` for every copy i: ``params (m, B, *P)`` → images ``(m·B, C, H, W)``."""
    m = params.shape[0]
    return transform(x.repeat(m, *([1] * (x.dim() - 1))), params.flatten(0, 1))


def smoothadv_attack(model, transform, x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor, *, eps: float,
                     steps: int) -> torch.Tensor:
    """SmoothAdv's PGD attack on the smoothed soft classifier: the δ* that the training step uses.

    Args:
        model: the classifier ``(N, C, H, W) → (N, K)``; run in eval mode here, restored afterwards.
        transform: the smoother's transform τ (``transform(x, θ)``), differentiable in θ.
        x: images ``(B, C, H, W)``; y: labels ``(B,)``.
        theta: the fixed noise draws ``(m, B, *param_shape)`` (``param_shape`` = ``(C, H, W)`` for additive noise).
        eps: ε > 0, the ℓ2 radius of δ per image.
        steps: number of PGD steps (≥ 1), each of length 2ε/steps along the ℓ2-normalised gradient.

    Returns:
        δ* of shape ``(B, *param_shape)``, detached, with ``‖δ*[b]‖₂ ≤ ε`` for every image b. No gradient
        is accumulated into the model's parameters.

    Example:
        >>> import torch
        >>> from gsmooth.core.transform import Transform
        >>> class Add(Transform):
        ...     def forward(self, x, theta): return x + theta
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> x, y = torch.zeros(3, 1, 2, 2), torch.tensor([0, 1, 0])
        >>> delta = smoothadv_attack(model, Add(), x, y, torch.zeros(2, 3, 1, 2, 2), eps=0.5, steps=3)
        >>> delta.shape, bool((delta.flatten(1).norm(dim=1) <= 0.5 + 1e-6).all())
        (torch.Size([3, 1, 2, 2]), True)
    """
    m, b = theta.shape[0], theta.shape[1]
    theta = theta.detach()
    delta = torch.zeros_like(theta[0])
    step = 2.0 * float(eps) / int(steps)
    was_training = model.training
    model.eval()
    try:
        for _ in range(int(steps)):
            delta.requires_grad_(True)
            logits = model(_apply(transform, x, delta.unsqueeze(0) + theta)).view(m, b, -1)
            p = F.softmax(logits, dim=-1).mean(0).gather(1, y.view(-1, 1)).squeeze(1)  # (B,)
            loss = -torch.log(p.clamp_min(torch.finfo(p.dtype).tiny)).sum()  # images are independent
            (grad,) = torch.autograd.grad(loss, [delta])
            with torch.no_grad():
                norm = _per_image_norm(grad)
                grad = torch.where(norm > 0, grad / norm.clamp_min(torch.finfo(grad.dtype).tiny), torch.zeros_like(grad))
                delta = delta.detach() + step * grad
                scale = (float(eps) / _per_image_norm(delta).clamp_min(torch.finfo(delta.dtype).tiny)).clamp(max=1.0)
                delta = delta * scale
    finally:
        model.train(was_training)
    return delta.detach()


def check_differentiable_transform(smoother, *, owner: str) -> None:
    """Refuse (:class:`~gsmooth.errors.InvalidParameterError`) a transform whose output has no non-zero,
    finite gradient in θ, probed on one tiny input (a 0/1 checkerboard of the smoother's ``input_shape``,
    or 1×8×8: valid for quantised transforms, and unclipped whatever θ's sign, and a fixed draw of its
    noise): a gradient attack in θ would go nowhere."""
    shape = tuple(smoother.input_shape or (1, 8, 8))
    h, w = torch.arange(shape[1]).view(-1, 1), torch.arange(shape[2]).view(1, -1)
    x = ((h + w) % 2).to(torch.get_default_dtype()).expand(1, shape[0], -1, -1).contiguous().to(smoother.device)
    pshape = smoother.transform.param_shape(tuple(shape))
    theta = smoother.noise.sample((1, *pshape), generator=torch.Generator(device=smoother.device).manual_seed(0),
                                  device=smoother.device, dtype=x.dtype).requires_grad_(True)
    name = getattr(smoother.transform, "name", type(smoother.transform).__name__)
    grad = None
    try:
        out = smoother.transform(x, theta)
        if out.requires_grad:
            (grad,) = torch.autograd.grad(out.sum() + (out * out).sum(), [theta], allow_unused=True)
    except RuntimeError as exc:  # an op without a derivative
        raise InvalidParameterError(
            f"{owner}: expected a transform differentiable in theta, got {name!r} ({str(exc).splitlines()[0]})"
        ) from None
    if grad is None or not bool(torch.isfinite(grad).all()) or not bool((grad != 0).any()):
        raise InvalidParameterError(
            f"{owner}: expected a transform differentiable in theta (the attack follows its gradient), got {name!r} "
            "whose output has no gradient in theta"
        )


class SmoothAdvTraining(TrainingMethod):
    """SmoothAdv: training on :func:`smoothadv_attack`'s adversarial points of the smoothed classifier.

    Args:
        eps: ε > 0, the attack's ℓ2 radius in the transform's parameter space (pixels for additive noise).
        steps: PGD steps ≥ 1 (step size 2ε/steps).
        copies: m ≥ 1 noise draws per image, shared by the attack and the training step (default 1).
        warmup: epochs over which ε ramps up linearly (epoch e, 0-based, attacks with ε·min(1, (e+1)/warmup));
            default 0: no warm-up.

    Example:
        >>> import gsmooth, torch
        >>> s = gsmooth.Smoother(torch.nn.Flatten(), noise="gaussian", sigma=0.25, num_classes=16)
        >>> method = SmoothAdvTraining(eps=0.5, steps=2)
        >>> method.check(s)
        >>> out = method.loss(s.model, s, torch.zeros(2, 1, 4, 4), torch.tensor([0, 1]),
        ...                   generator=torch.Generator().manual_seed(0))
        >>> out.logits.shape
        torch.Size([2, 16])
    """

    name = "smoothadv"
    _parameter_constraints = {
        "eps": [Interval(Real, 0, None, closed="neither")],
        "steps": [Interval(Integral, 1, None)],
        "copies": [Interval(Integral, 1, None)],
        "warmup": [Interval(Integral, 0, None)],
    }

    def __init__(self, *, eps: float, steps: int, copies: int = 1, warmup: int = 0) -> None:
        self.eps = eps
        self.steps = steps
        self.copies = copies
        self.warmup = warmup
        self.validate_params()
        self.epoch = 0

    def check(self, smoother) -> None:
        check_differentiable_transform(smoother, owner="train: method 'smoothadv'")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @property
    def current_eps(self) -> float:
        """ε of the current epoch (the warm-up ramp, or ``eps``)."""
        if self.warmup:
            return float(self.eps) * min(1.0, (self.epoch + 1) / int(self.warmup))
        return float(self.eps)

    def loss(self, model, smoother, x, y, *, generator=None) -> MethodLoss:
        m, b = self.copies, x.shape[0]
        shape = smoother.transform.param_shape(tuple(x.shape[1:]))
        theta = smoother.noise.sample((m * b, *shape), generator=generator, device=x.device, dtype=x.dtype)
        theta = theta.view(m, b, *shape)
        delta = smoothadv_attack(model, smoother.transform, x, y, theta, eps=self.current_eps, steps=self.steps)
        with torch.no_grad():
            noisy = _apply(smoother.transform, x, delta.unsqueeze(0) + theta)
        logits = model(noisy)
        loss = F.cross_entropy(logits, y.repeat(m))
        return MethodLoss(loss, logits.detach().view(m, b, -1).mean(0))
