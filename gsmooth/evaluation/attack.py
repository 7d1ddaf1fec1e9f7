"""Empirical attacks over a transformation's parameter range — to keep certificates honest.

A certificate says "no α in [a, b] changes the prediction"; an attack looks for an α that does.
For each image, :func:`attack` searches the range

1. on a **dense grid** of ``grid`` values per parameter (both ends included), and
2. where the transform is differentiable in α (probed with ``torch.autograd`` on the image), with
   ``steps`` **projected signed-gradient steps** (PGD in α, step size half a grid cell decaying
   linearly, projected back onto the range) from the ``restarts`` best grid points,

against two classifiers:

- the **base model** f on the truly transformed image ``τ(α, x)``: robust iff every α tried keeps
  the correct class; loss = cross-entropy of f;
- the **smoothed classifier** g of the smoother on ``τ(α, x)`` — ``g(x') = argmax_y P_ε(f(τ_s(ε, x')))``
  with τ_s the smoother's transform (the transform itself, or its GSmooth surrogate): the search
  maximises the cross-entropy of the *soft* smoothed prediction ``mean_ε softmax f(τ_s(ε, τ(α, x)))``
  estimated with ``eot`` noise draws (expectation over transformation: every gradient step draws
  fresh noise and differentiates the average). The ``candidates`` α with the highest estimated loss
  are then evaluated like PREDICT without abstention: ``n`` Monte Carlo votes, majority class. The
  smoothed classifier is robust iff the majority is the label at every evaluated α.

``τ`` is always the *true* transform (a surrogate's own true transform for kind ``surrogate``), so
the attack tests the statement the certificate makes (see :mod:`gsmooth.interval.engine`).

The empirical robust accuracy (fraction of images robust) is an **upper bound** on the true robust
accuracy (the search may miss an α) and should be ≥ the certified accuracy for the same range; an
image certified for a range but broken by the attack inside it is a bug or a Monte Carlo error.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from numbers import Integral
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError, InvalidParameterError
from ..core.ranges import param_grid
from ..core.seeding import derive_seed
from ..validation import check_positive_int

__all__ = ["AttackResult", "attack", "is_differentiable", "true_transform_of", "smoothed_votes"]

_ATTACK_TAG = 0xA77AC


@dataclass(frozen=True)
class AttackResult:
    """One image's attack outcome.

    Attributes:
        label: the class the attack tries to change.
        base_correct: the base model kept ``label`` at every α tried.
        smoothed_correct: the smoothed classifier's majority was ``label`` at every α evaluated.
        prediction: the smoothed majority at ``worst_theta_smoothed``.
        base_prediction: the base model's class at ``worst_theta``.
        worst_theta: the α with the highest base loss (a misclassified one if any was found).
        worst_theta_smoothed: the evaluated α with the smallest vote for ``label``.
        smoothed_vote: fraction of the ``n`` votes for ``label`` at ``worst_theta_smoothed``.
        base_loss, smoothed_loss: the largest losses found (cross-entropy; soft smoothed for the latter).
        tried: α's tried on the base model (grid + gradient iterates).
        evaluated: α's at which the smoothed classifier was evaluated with n votes.
        differentiable: whether gradient steps were taken.
        grid, steps, eot, n: the search's settings. low, high: the range searched.
    """

    label: int
    base_correct: bool
    smoothed_correct: bool
    prediction: int
    base_prediction: int
    worst_theta: tuple
    worst_theta_smoothed: tuple
    smoothed_vote: float
    base_loss: float
    smoothed_loss: float
    tried: int
    evaluated: int
    differentiable: bool
    grid: int
    steps: int
    eot: int
    n: int
    low: tuple
    high: tuple

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def true_transform_of(transform):
    """The transform an attacker applies: the transform's
    :meth:`~gsmooth.Transform.true_transform_module` (itself, or a surrogate's true transform)."""
    return transform.true_transform_module()


def is_differentiable(transform, x: torch.Tensor, theta: torch.Tensor) -> bool:
    """Whether ``transform(x, θ)`` has a finite autograd gradient in θ at ``theta`` (a probe).

    ``x``: ``(1, C, H, W)``; ``theta``: ``(1, d)``. A transform that rounds or detaches θ
    (translation) has no graph to θ and is reported as not differentiable.
    """
    with torch.enable_grad():
        th = theta.detach().clone().requires_grad_(True)
        try:
            out = transform(x, th)
        except (RuntimeError, TypeError, ValueError):
            return False
        if not isinstance(out, torch.Tensor) or not out.requires_grad:
            return False
        try:
            (g,) = torch.autograd.grad(out.sum(), th, allow_unused=True)
        except RuntimeError:
            return False
    return g is not None and bool(torch.isfinite(g).all())


def _model_eval(model):
    was = getattr(model, "training", False)
    if isinstance(model, nn.Module):
        model.eval()
    return was


@torch.no_grad()
def smoothed_votes(smoother, x_t: torch.Tensor, n: int, *, generator: torch.Generator, batch_size: int = 1000) -> torch.Tensor:
    """Votes ``(num_classes,)`` of ``f(τ_s(ε, x_t))`` over ``n`` fresh noise draws (x_t: ``(C,H,W)``,
    any pixel range: it is the *transformed* image). No abstention: the caller takes the majority."""
    counts = torch.zeros(smoother.num_classes, dtype=torch.int64, device=smoother.device)
    shape = smoother.transform.param_shape(tuple(x_t.shape))
    left = n
    while left > 0:
        b = min(batch_size, left)
        eps = smoother.noise.sample((b, *shape), generator=generator, device=smoother.device, dtype=x_t.dtype)
        logits = smoother.base_forward(smoother.transform(x_t.unsqueeze(0).expand(b, *x_t.shape), eps))
        counts += torch.bincount(logits.argmax(1), minlength=smoother.num_classes)
        left -= b
    return counts.cpu()


class _Search:
    """The state of one image's search (keeps every α tried and its loss)."""

    def __init__(self, low, high):
        self.low = torch.tensor(low, dtype=torch.float64)
        self.high = torch.tensor(high, dtype=torch.float64)
        self.thetas: list[torch.Tensor] = []
        self.losses: list[torch.Tensor] = []
        self.preds: list[torch.Tensor] = []

    def add(self, theta, loss, pred=None) -> None:
        self.thetas.append(theta.detach().double().cpu())
        self.losses.append(loss.detach().double().cpu())
        if pred is not None:
            self.preds.append(pred.detach().cpu())

    def all(self):
        t = torch.cat(self.thetas)
        l = torch.cat(self.losses)
        p = torch.cat(self.preds) if self.preds else None
        return t, l, p

    def project(self, theta: torch.Tensor) -> torch.Tensor:
        lo = self.low.to(theta.device, theta.dtype)
        hi = self.high.to(theta.device, theta.dtype)
        return torch.maximum(torch.minimum(theta, hi), lo)


# --------------------------------------------------------------------------------------------
# the attack
# --------------------------------------------------------------------------------------------


def attack(
    smoother,
    x,
    labels,
    *,
    low,
    high,
    grid: int = 21,
    steps: int = 10,
    eot: int = 8,
    n: int = 1000,
    restarts: int = 3,
    candidates: int = 3,
    batch_size: int = 1000,
    seed: int = 0,
    keys: Sequence[int] | None = None,
) -> list[AttackResult]:
    """Search ``[low, high]`` for parameters that change the base and the smoothed prediction.

    Args:
        smoother: a :class:`gsmooth.Smoother` over a parameter transform (any kind; for a surrogate
            the attack applies the surrogate's true transform, and the smoothed classifier is the
            surrogate-smoothed one).
        x: one image ``(C,H,W)`` or a batch ``(B,C,H,W)`` in [0, 1].
        labels: the class(es) to keep (an int or one per image) — the true labels, or the
            certified classes when checking certificates.
        low, high: the range (numbers for one parameter, d numbers otherwise).
        grid: grid values per parameter (ends included).
        steps: signed-gradient steps per restart (0: grid only); skipped when the transform is
            not differentiable in θ.
        eot: noise draws averaged per smoothed-loss evaluation (grid and every gradient step).
        n: Monte Carlo votes for each smoothed evaluation.
        restarts: gradient searches start from this many best grid points.
        candidates: the smoothed classifier is evaluated (n votes) at this many α with the highest
            estimated smoothed loss.
        batch_size: forward-pass batch size.
        seed, keys: seed the noise (image key ``keys[i]``, default its position).

    Returns:
        one :class:`AttackResult` per image (a list, also for a single image).
    """
    transform = smoother.transform
    if transform.param_dim is None:
        raise InvalidParameterError(
            "attack: expected a transform with a parameter range (brightness, gaussian_blur, …), got additive pixel noise"
        )
    grid = check_positive_int("grid", grid)
    eot = check_positive_int("eot", eot)
    n = check_positive_int("n", n)
    restarts = check_positive_int("restarts", restarts)
    candidates = check_positive_int("candidates", candidates)
    batch_size = check_positive_int("batch_size", batch_size)
    if not isinstance(steps, Integral) or isinstance(steps, bool) or steps < 0:
        raise InvalidParameterError(f"attack: steps expected an integer >= 0, got {steps!r}")
    x, single = smoother._check_input(x)
    b = x.shape[0]
    if isinstance(labels, Integral):
        labels = [int(labels)] * b
    labels = [int(v) for v in (labels.tolist() if isinstance(labels, torch.Tensor) else labels)]
    if len(labels) != b:
        raise InvalidParameterError(f"attack: expected one label per image ({b}), got {len(labels)}")
    keys = smoother._check_keys(keys, b)
    d = smoother.center_dim
    low_a = np.atleast_1d(np.asarray(low, dtype=np.float64))
    high_a = np.atleast_1d(np.asarray(high, dtype=np.float64))
    if low_a.size == 1 and d > 1:
        low_a, high_a = np.repeat(low_a, d), np.repeat(high_a, d)
    if low_a.size != d or high_a.size != d or (low_a > high_a).any() or not np.isfinite(np.r_[low_a, high_a]).all():
        raise InvalidParameterError(
            f"attack: expected a finite range with low <= high and {d} number(s) each, got low={low!r} high={high!r}"
        )
    low_t, high_t = tuple(float(v) for v in low_a), tuple(float(v) for v in high_a)
    true = true_transform_of(transform)
    model = smoother.model
    was_training = _model_eval(model)
    try:
        out = [
            _attack_one(
                smoother, true, x[i], labels[i], low_t, high_t, grid=grid, steps=int(steps), eot=eot, n=n,
                restarts=restarts, candidates=candidates, batch_size=batch_size,
                seed=derive_seed(seed, keys[i], _ATTACK_TAG),
            )
            for i in range(b)
        ]
    finally:
        if was_training:
            model.train()
    return out


def _attack_one(smoother, true, x0, label, low, high, *, grid, steps, eot, n, restarts, candidates, batch_size, seed):
    device, dtype = smoother.device, x0.dtype
    model = smoother.base_forward  # the base model at the smoother's precision (and memory format)
    k = smoother.num_classes
    if not 0 <= label < k:
        raise InvalidParameterError(f"attack: label expected in [0, {k}), got {label}")
    thetas = param_grid([(float(lo), float(hi)) for lo, hi in zip(low, high)], grid)
    d = thetas.shape[1]
    cell = torch.tensor(
        [(hi - lo) / max(grid - 1, 1) if hi > lo else 0.0 for lo, hi in zip(low, high)], dtype=torch.float64
    )
    y = torch.tensor([label], device=device)
    xb = x0.unsqueeze(0)

    def apply(theta: torch.Tensor) -> torch.Tensor:
        return true(xb.expand(theta.shape[0], *x0.shape), theta.to(device=device, dtype=dtype))

    # ---------------- base model: grid ----------------
    base = _Search(low, high)
    with torch.no_grad():
        for s in range(0, thetas.shape[0], batch_size):
            th = thetas[s : s + batch_size]
            logits = model(apply(th))
            _check_logits(logits, k)
            base.add(th, F.cross_entropy(logits, y.expand(th.shape[0]), reduction="none"), logits.argmax(1))
    probe = thetas[len(thetas) // 2 : len(thetas) // 2 + 1].to(device=device, dtype=dtype)
    differentiable = steps > 0 and is_differentiable(true, xb, probe)

    # ---------------- base model: gradient steps ----------------
    if differentiable:
        _, losses, _ = base.all()
        start = thetas[torch.topk(losses, min(restarts, len(losses))).indices]
        th = start.to(device=device, dtype=dtype)
        step0 = cell.to(device=device, dtype=dtype) / 2
        for t in range(steps):
            with torch.enable_grad():
                th = th.detach().requires_grad_(True)
                logits = model(true(xb.expand(th.shape[0], *x0.shape), th))
                loss = F.cross_entropy(logits, y.expand(th.shape[0]), reduction="sum")
                (g,) = torch.autograd.grad(loss, th)
            eta = step0 * (1.0 - t / steps)
            th = base.project(th.detach() + eta * torch.sign(g))
            with torch.no_grad():
                logits = model(apply(th))
                base.add(th, F.cross_entropy(logits, y.expand(th.shape[0]), reduction="none"), logits.argmax(1))
    all_t, all_l, all_p = base.all()
    wrong = all_p != label
    if bool(wrong.any()):
        idx = int(torch.nonzero(wrong)[torch.argmax(all_l[wrong])])
    else:
        idx = int(torch.argmax(all_l))
    base_correct = not bool(wrong.any())
    worst_theta = tuple(float(v) for v in all_t[idx])
    base_prediction = int(all_p[idx])
    base_loss = float(all_l[idx])

    # ---------------- smoothed classifier: soft loss on the grid (common noise) ----------------
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    pshape = smoother.transform.param_shape(tuple(x0.shape))
    eps = smoother.noise.sample((eot, *pshape), generator=gen, device=device, dtype=dtype)

    def soft_loss(theta: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """−log mean_e softmax(f(τ_s(ε_e, τ(θ, x))))_y for each θ: ``(T,)``."""
        xt = true(xb.expand(theta.shape[0], *x0.shape), theta)  # (T, C, H, W)
        t_count, e_count = theta.shape[0], noise.shape[0]
        xr = xt.repeat_interleave(e_count, dim=0)
        er = noise.repeat(t_count, *([1] * (noise.ndim - 1)))
        probs = F.softmax(smoother.base_forward(smoother.transform(xr, er)), dim=1).view(t_count, e_count, -1).mean(1)
        return -torch.log(probs[:, label].clamp_min(1e-12))

    smooth = _Search(low, high)
    per = max(1, batch_size // eot)
    with torch.no_grad():
        for s in range(0, thetas.shape[0], per):
            th = thetas[s : s + per]
            smooth.add(th, soft_loss(th.to(device=device, dtype=dtype), eps))
    if differentiable:
        _, losses, _ = smooth.all()
        th = thetas[torch.topk(losses, min(restarts, len(losses))).indices].to(device=device, dtype=dtype)
        step0 = cell.to(device=device, dtype=dtype) / 2
        for t in range(steps):
            fresh = smoother.noise.sample((eot, *pshape), generator=gen, device=device, dtype=dtype)
            with torch.enable_grad():
                th = th.detach().requires_grad_(True)
                loss = soft_loss(th, fresh)
                (g,) = torch.autograd.grad(loss.sum(), th)
            eta = step0 * (1.0 - t / steps)
            th = smooth.project(th.detach() + eta * torch.sign(g))
            with torch.no_grad():
                smooth.add(th, soft_loss(th, eps))
    s_t, s_l, _ = smooth.all()
    order = torch.argsort(s_l, descending=True)
    picked: list[torch.Tensor] = []
    for j in order.tolist():
        cand = s_t[j]
        if all(not torch.allclose(cand, p, rtol=0, atol=1e-12) for p in picked):
            picked.append(cand)
        if len(picked) == candidates:
            break
    # the base model's worst α is a natural candidate for the smoothed classifier too
    wt = torch.tensor(worst_theta, dtype=torch.float64)
    if all(not torch.allclose(wt, p, rtol=0, atol=1e-12) for p in picked):
        picked.append(wt)
    votes_gen = torch.Generator(device=device)
    votes_gen.manual_seed(derive_seed(seed, 1))
    # the worst candidate: a misclassified one if any (then the smallest vote for the label among those)
    worst_key, worst_vote, worst_j, worst_pred = (math.inf, math.inf), math.inf, 0, label
    smoothed_correct = True
    with torch.no_grad():
        for j, cand in enumerate(picked):
            xt = true(xb, cand.reshape(1, d).to(device=device, dtype=dtype))[0]
            votes = smoothed_votes(smoother, xt, n, generator=votes_gen, batch_size=batch_size)
            majority = int(torch.argmax(votes))
            vote = float(votes[label]) / n
            if majority != label:
                smoothed_correct = False
            key = (0 if majority != label else 1, vote)
            if key < worst_key:
                worst_key, worst_vote, worst_j, worst_pred = key, vote, j, majority
    return AttackResult(
        label=label,
        base_correct=base_correct,
        smoothed_correct=smoothed_correct,
        prediction=worst_pred,
        base_prediction=base_prediction,
        worst_theta=worst_theta,
        worst_theta_smoothed=tuple(float(v) for v in picked[worst_j]),
        smoothed_vote=float(worst_vote),
        base_loss=base_loss,
        smoothed_loss=float(s_l.max()),
        tried=int(all_t.shape[0]),
        evaluated=len(picked),
        differentiable=differentiable,
        grid=grid,
        steps=int(steps) if differentiable else 0,
        eot=eot,
        n=n,
        low=tuple(low),
        high=tuple(high),
    )


def _check_logits(logits, k: int) -> None:
    if logits.ndim != 2 or logits.shape[1] != k:
        raise InputError(f"expected the model to return logits of shape (N, num_classes={k}), got {tuple(logits.shape)}")
