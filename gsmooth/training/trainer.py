"""Training a base classifier for smoothing: Gaussian (or any registered) noise augmentation.

The augmentation is drawn from the *same* :class:`gsmooth.Smoother` object that certifies
(``smoother.perturb``), so a model is trained for exactly the distribution it is certified under.
For a transform certified through a GSmooth surrogate (``TrainConfig.surrogate``), that object's
transform is the :class:`gsmooth.surrogate.transform.SurrogateTransform`: the model trains on surrogate
outputs ``H(F2(x) + F1(θ) + ξ)`` with both noises (θ ~ N(0, σ²), ξ ~ N(0, σ_ξ²)), exactly what it
is certified on; the checkpoint records the surrogate's path and SHA-256 so ``gsmooth certify``
picks the same surrogate up.
Checkpoints (one per epoch, written atomically) record architecture, dataset, number of classes,
normalization and smoothing, and carry optimizer/scheduler state for ``resume``. Data order and
noise are seeded per epoch, so a resumed run sees the same batches as an uninterrupted one.
A NaN/inf loss (checked before the step) or weight (checked before the save) stops the run with a
:class:`~gsmooth.errors.TrainingDivergedError` naming the epoch; the checkpoint on disk stays the
last finite epoch. ``TrainConfig.clip_grad`` clips the gradient's global norm (``gsmooth train``
defaults it to 5 for a new run; the library default ``None`` keeps older configurations as they were).
``TrainConfig.method`` / ``method_params`` choose the training method (:mod:`gsmooth.training.methods`:
``noise`` — the augmentation above, the default —, ``consistency``, ``smoothadv``, ``macer``): its
``check(smoother)`` runs before training, its ``loss`` once per batch, drawing its noise only from the
epoch's noise stream; all its parameters are stored in the checkpoint, so a resume uses the same method.
"""

from __future__ import annotations

import math
import time
from dataclasses import MISSING, dataclass, field, fields
from numbers import Integral, Real
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from ..io.checkpoints import file_sha256, load_checkpoint, nonfinite_tensors, save_checkpoint
from ..data.datasets import dataset_files, dataset_info, get_dataset, load_dataset
from ..errors import CheckpointError, GsmoothError, InvalidParameterError, TrainingDivergedError
from ..io.output_files import check_output_file
from ..models.architectures import build_model
from ..plugin.registry import get_registry
from ..core.seeding import derive_seed
from ..core.smoother import Smoother
from ..validation import Interval, Options, validate_params
from ..core.defaults import DEFAULT_NOISE, DEFAULT_TRANSFORM

__all__ = ["TrainConfig", "EpochStats", "train", "evaluate", "check_checkpoint_out", "read_resumable", "saved_epoch"]

_CONSTRAINTS = {
    "epochs": [Interval(Integral, 1, None)],
    "batch_size": [Interval(Integral, 1, None)],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "momentum": [Interval(Real, 0, 1, closed="left")],
    "weight_decay": [Interval(Real, 0, None)],
    "optimizer": [Options(("sgd", "adam"))],
    "schedule": [Options(("cosine", "step", "constant"))],
    "seed": [Interval(Integral, 0, None)],
    "augment": [Options(("none", "augmix"))],
    "vanilla": [Options((True, False))],
    "clip_grad": [Interval(Real, 0, None, closed="neither"), Options((None,))],
}


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in the checkpoint)."""

    arch: str
    dataset: str
    noise: str = DEFAULT_NOISE
    noise_params: dict = field(default_factory=lambda: {"sigma": 0.25})
    transform: str = DEFAULT_TRANSFORM
    transform_params: dict = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    optimizer: str = "sgd"
    schedule: str = "cosine"
    seed: int = 0
    max_train: int | None = None  # use only the first N training images (quick runs)
    max_eval: int | None = 2000  # test images used for the per-epoch accuracy
    surrogate: str | None = None  # GSmooth surrogate checkpoint (surrogate-backed transforms)
    surrogate_sha256: str | None = None  # its SHA-256 (filled in by train(); checked on resume)
    latent_sigma: float | None = None  # σ_ξ of the surrogate's latent noise
    augment: str = "none"  # "augmix": torchvision's AugMix on every training image (gsmooth.training.augmentation)
    vanilla: bool = False  # no smoothing noise at all (a baseline; the checkpoint records no smoothing)
    clip_grad: float | None = None  # clip the gradient's global L2 norm to this (None: no clipping)
    method: str = "noise"  # the training method (gsmooth.training.methods): noise, consistency, smoothadv, macer
    method_params: dict = field(default_factory=dict)  # its keyword parameters (train() stores all of them)

    def validate(self) -> None:
        validate_params("train", {k: getattr(self, k) for k in _CONSTRAINTS}, _CONSTRAINTS)
        self.build_method()

    def build_method(self):
        """The :class:`~gsmooth.training.methods.TrainingMethod` ``method`` with ``method_params``.

        Raises:
            UnknownComponentError: an unknown method name.
            InvalidParameterError: parameters the method refuses, a non-dict ``method_params``, or a
                method other than ``noise`` with ``vanilla`` (a vanilla run has no noise to train with).
        """
        from ..plugin.components import check_keywords

        if not isinstance(self.method_params, dict):
            raise InvalidParameterError(
                f"train: method_params expected a dict of keyword parameters, got {type(self.method_params).__name__}"
            )
        if self.vanilla and self.method != "noise":
            raise InvalidParameterError(
                f"train: a vanilla run (no smoothing noise) expected the default method 'noise', got {self.method!r}"
            )
        cls = get_registry().training_method_class(self.method)
        check_keywords("train: training method", self.method, cls, self.method_params)
        return cls(**self.method_params)

    @property
    def smoothing(self) -> dict:
        if self.vanilla:
            return {}
        out = {
            "noise": self.noise,
            "noise_params": dict(self.noise_params),
            "transform": self.transform,
            "transform_params": dict(self.transform_params),
        }
        if self.surrogate is not None:
            out.update(surrogate=self.surrogate, surrogate_sha256=self.surrogate_sha256, latent_sigma=self.latent_sigma)
        return out


@dataclass
class EpochStats:
    epoch: int
    train_loss: float
    train_acc: float
    clean_acc: float
    noisy_acc: float
    seconds: float


def _check_surrogate(cfg: TrainConfig) -> None:
    """Resolve ``cfg.surrogate`` to an absolute path and fill in (or check) its SHA-256."""
    if cfg.surrogate is None:
        return
    path = Path(cfg.surrogate).expanduser()
    if not path.is_file():
        raise InvalidParameterError(f"train: surrogate expected an existing surrogate checkpoint, got {cfg.surrogate!r}")
    cfg.surrogate = str(path.resolve())
    digest = file_sha256(path)
    if cfg.surrogate_sha256 is None:
        cfg.surrogate_sha256 = digest
    elif cfg.surrogate_sha256 != digest:
        raise CheckpointError(
            f"train: surrogate {cfg.surrogate} changed: expected sha256 {cfg.surrogate_sha256}, got {digest}"
        )
    if cfg.latent_sigma is None:
        raise InvalidParameterError("train: latent_sigma expected a positive number with a surrogate, got None")
    if not get_registry().noise_class(cfg.noise).isotropic_gaussian:
        raise InvalidParameterError(f"train: a GSmooth surrogate needs Gaussian noise, got {cfg.noise!r}")


def _smoother(model, cfg: TrainConfig, num_classes: int, device) -> Smoother:
    reg = get_registry()
    noise = reg.noise_class(cfg.noise)(**cfg.noise_params)
    if cfg.surrogate is not None:  # the one builder certify uses too (gsmooth.run.smoother_setup)
        from ..run.smoother_setup import build_surrogate_transform

        transform = build_surrogate_transform(
            cfg.surrogate, transform_name=cfg.transform, sigma=cfg.noise_params["sigma"], latent_sigma=cfg.latent_sigma,
            device=device, what=f"train: surrogate {cfg.surrogate}",
        )
    else:
        transform = reg.transform_class(cfg.transform)(**cfg.transform_params)
    return Smoother(model, noise=noise, transform=transform, num_classes=num_classes, device=device)


@torch.no_grad()
def evaluate(smoother: Smoother, loader, *, seed: int = 0) -> tuple[float, float]:
    """(clean accuracy, accuracy under one noise draw per image) of the base model."""
    model = smoother.model
    model.eval()
    g = torch.Generator(device=smoother.device).manual_seed(seed)
    correct = noisy = total = 0
    for x, y in loader:
        x, y = x.to(smoother.device), y.to(smoother.device)
        correct += int((model(x).argmax(1) == y).sum())
        noisy += int((model(smoother.perturb(x, generator=g)).argmax(1) == y).sum())
        total += len(y)
    return correct / max(total, 1), noisy / max(total, 1)


#: How an existing output is refused without --resume (train and surrogate train).
RESUME_ADVICE = "add --resume to continue that run (same configuration), or choose another path"


def check_checkpoint_out(out, *, resume: bool, inputs=None, option: str = "--out") -> Path:
    """Before any work: the checkpoint ``out`` may be written (:func:`gsmooth.io.output_files.check_output_file`):
    not one of ``inputs`` (``{"--surrogate": path, …}``), in an existing writable folder (probed),
    and new unless ``resume`` (the caller then checks that it is a run of the same configuration)."""
    return check_output_file(out, option=option, inputs=inputs or {}, exists_ok=resume, advice=RESUME_ADVICE)


def dataset_inputs(name: str, root=None) -> dict:
    """``{"--dataset NAME": file, …}``: the dataset files an output may not be."""
    return {f"--dataset {name} ({p.name})": p for p in dataset_files(name, root=root)}


def saved_epoch(path) -> int | None:
    """Completed epochs recorded in the checkpoint ``path``, or ``None`` when there is none
    (missing or unreadable): what an interrupted run has kept."""
    try:
        if path is None or not Path(path).is_file():
            return None
        return int(load_checkpoint(path).epoch)
    except (GsmoothError, OSError, ValueError, RuntimeError):
        return None


def diverged_message(what: str, *, epoch: int, epochs: int, value, lr: float, kept: int | None, out) -> str:
    """One line for a run stopped on a NaN/inf: where, what is kept on disk, what to lower."""
    if kept:
        keep = f"{out} keeps epoch {kept}/{epochs}, the last finite one (nothing of epoch {epoch} was written)"
    else:
        keep = f"nothing was saved ({out} is written after each finite epoch)"
    return (
        f"training diverged in epoch {epoch}/{epochs}: {what} is {value}; expected finite values. {keep}; "
        f"try a lower --lr (got {lr:g}, e.g. --lr {lr / 10:g})"
    )


def check_same_config(saved: dict, cfg, *, out) -> None:
    """Refuse (:class:`~gsmooth.errors.CheckpointError`) to resume ``out`` when the dataclass ``cfg`` differs from the
    configuration ``saved`` in its checkpoint in anything but ``epochs``; options added after a checkpoint was written
    count as their defaults. Used by :func:`train` and :func:`gsmooth.denoising.train.train_denoiser`."""
    defaults = {f.name: (f.default if f.default is not MISSING else f.default_factory()) for f in fields(type(cfg))
                if f.default is not MISSING or f.default_factory is not MISSING}
    mine = {k: v for k, v in cfg.__dict__.items() if k != "epochs"}
    theirs = {k: saved.get(k, defaults.get(k)) for k in mine}
    diff = {k: (theirs.get(k), mine.get(k)) for k in mine if theirs.get(k) != mine.get(k)}
    if diff:
        details = "; ".join(f"{k}: expected {a!r} (in checkpoint), got {b!r}" for k, (a, b) in diff.items())
        raise CheckpointError(f"cannot resume {out}: it was trained with a different configuration: {details}")


def read_resumable(out, *, map_location="cpu"):
    """The checkpoint in ``out`` as a run ``train`` can continue: a gsmooth classifier checkpoint
    written by :func:`train` (it records ``train_config``); anything else is refused with what it is."""
    try:
        ckpt = load_checkpoint(out, map_location=map_location)
    except CheckpointError as exc:
        raise CheckpointError(f"cannot resume {out}: {exc}") from None
    if not (ckpt.extra or {}).get("train_config"):
        raise CheckpointError(
            f"cannot resume {out}: expected a checkpoint written by `gsmooth train` (it records its training "
            "configuration), got a gsmooth checkpoint without one; choose another --out"
        )
    return ckpt


def train(
    cfg: TrainConfig,
    *,
    out: str | Path,
    device: str | torch.device = "cpu",
    resume: bool = False,
    data_root: str | Path | None = None,
    download: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[EpochStats]:
    """Train ``cfg.arch`` on ``cfg.dataset`` with smoothing augmentation; checkpoint every epoch.

    Args:
        cfg: the run's :class:`TrainConfig`.
        out: checkpoint path (rewritten atomically after every epoch).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` …
        resume: continue from ``out`` if it exists (its configuration must match ``cfg``;
            ``epochs`` may grow). Without it an existing ``out`` is refused before any work, as is
            an ``out`` that is an input (the surrogate, a dataset file) or in an unwritable folder.
        data_root, download: passed to :func:`gsmooth.data.datasets.load_dataset`.
        progress: tqdm bar per epoch.
        log: where one line per epoch goes.

    Returns:
        the per-epoch statistics of the epochs run in this call.

    Raises:
        OutputFileError: ``out`` cannot be written (see ``resume``).
        CheckpointError: ``resume`` of a file that is not a checkpoint of :func:`train`, or of a
            different configuration (the differences are listed).
        TrainingDivergedError: the loss or a weight became NaN/inf (``out`` keeps the last finite epoch).

    Example:
        >>> cfg = TrainConfig(arch="small_cnn", dataset="fashion-mnist", epochs=1, max_train=512)
        >>> stats = train(cfg, out="/tmp/fm.pt")  # doctest: +SKIP
    """
    from ..validation import check_device

    cfg.validate()
    method = cfg.build_method()
    cfg.method_params = dict(method.get_params())  # every parameter, defaults included: what resume compares
    device = check_device(device, what="train: device")
    info = dataset_info(cfg.dataset)
    inputs = {"surrogate": cfg.surrogate, **dataset_inputs(cfg.dataset, data_root)}
    out = check_checkpoint_out(out, resume=resume, inputs=inputs, option="train: out")
    existing = None
    if resume and out.exists():
        existing = read_resumable(out, map_location=device)  # refused now, before any work, if it is not ours
    _check_surrogate(cfg)
    # Initial weights from the run's seed (the global RNG is restored afterwards), so the same
    # command trains the same model.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(cfg.seed, 2**32))
        model = build_model(cfg.arch, num_classes=info.num_classes, input_shape=info.input_shape, mean=info.mean, std=info.std)
    smoother = _smoother(model, cfg, info.num_classes, device)  # validates noise/transform early
    model.to(device)
    if not cfg.vanilla:
        method.check(smoother)  # refuses a noise or transform the method cannot train with, before any work

    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    elif cfg.schedule == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, cfg.epochs // 3), gamma=0.1)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)

    start_epoch = 0
    earlier: list[dict] = []  # epochs of an interrupted run, kept in the checkpoint's history
    if existing is not None:
        ckpt = existing
        saved = ckpt.extra.get("train_config", {})
        check_same_config(saved, cfg, out=out)
        model.load_state_dict(ckpt.state_dict)
        if ckpt.optimizer_state is not None:
            opt.load_state_dict(ckpt.optimizer_state)
        if ckpt.scheduler_state is not None:
            sched.load_state_dict(ckpt.scheduler_state)
        start_epoch = ckpt.epoch
        earlier = list(ckpt.extra.get("history", [])) if ckpt.extra else []
        log(f"resuming {out} after epoch {start_epoch}/{cfg.epochs}")
        if start_epoch >= cfg.epochs:
            log("nothing to do: all epochs done")
            return []
    kept = start_epoch or None  # the epoch the checkpoint on disk holds (None: no checkpoint yet)

    augment = get_dataset(cfg.dataset).augmentation is not None  # the dataset's own (CIFAR: crop+flip)
    train_set = load_dataset(cfg.dataset, split="train", root=data_root, download=download, augment=augment)
    test_set = load_dataset(cfg.dataset, split="test", root=data_root, download=download)
    augmix = None
    if cfg.augment == "augmix":
        from torchvision.transforms import v2

        from .augmentation import SeededAugMix

        augmix = SeededAugMix(seed=cfg.seed)
        train_set.transform = augmix if train_set.transform is None else v2.Compose([train_set.transform, augmix])
    if cfg.max_train is not None:
        train_set = Subset(train_set, range(min(cfg.max_train, len(train_set))))
    if cfg.max_eval is not None:
        test_set = Subset(test_set, range(min(cfg.max_eval, len(test_set))))
    test_loader = DataLoader(test_set, batch_size=512, shuffle=False)
    loss_fn = nn.CrossEntropyLoss()
    history: list[EpochStats] = []

    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        model.train()
        method.set_epoch(epoch)
        if augmix is not None:
            augmix.set_epoch(epoch)
        order = torch.Generator().manual_seed(derive_seed(cfg.seed, epoch, 0))
        noise_gen = torch.Generator(device=device).manual_seed(derive_seed(cfg.seed, epoch, 1))
        loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=order, drop_last=False)
        total_loss = correct = seen = 0
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, unit="batch")
        for x, y in bar if bar is not None else loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if cfg.vanilla:
                logits = model(x)
                loss = loss_fn(logits, y)
            else:  # the method draws its noise from noise_gen only (gsmooth.training.methods)
                result = method.loss(model, smoother, x, y, generator=noise_gen)
                loss, logits = result.loss, result.logits
            value = loss.item()
            if not math.isfinite(value):  # checked before the step: no NaN reaches the weights
                if bar is not None:
                    bar.close()
                raise TrainingDivergedError(diverged_message(
                    "the training loss", epoch=epoch + 1, epochs=cfg.epochs, value=value, lr=cfg.lr, kept=kept, out=out))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_grad is not None:
                grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.clip_grad)
            else:
                grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
            if not bool(torch.isfinite(grad_norm)):  # a finite loss with a NaN/inf gradient: never stepped into the weights
                if bar is not None:
                    bar.close()
                raise TrainingDivergedError(diverged_message(
                    "the gradient of the training loss", epoch=epoch + 1, epochs=cfg.epochs, value=float(grad_norm),
                    lr=cfg.lr, kept=kept, out=out))
            opt.step()
            total_loss += value * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        sched.step()
        bad = nonfinite_tensors(model)
        if bad:  # a finite loss whose step overflowed the weights: never written
            raise TrainingDivergedError(diverged_message(
                f"weight {bad[0]}" + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""), epoch=epoch + 1,
                epochs=cfg.epochs, value="not finite", lr=cfg.lr, kept=kept, out=out))
        clean, noisy = evaluate(smoother, test_loader, seed=cfg.seed)
        stats = EpochStats(epoch + 1, total_loss / seen, correct / seen, clean, noisy, time.perf_counter() - t0)
        history.append(stats)
        save_checkpoint(
            out,
            model=model,
            arch=cfg.arch,
            dataset=info.name,
            num_classes=info.num_classes,
            input_shape=info.input_shape,
            mean=info.mean,
            std=info.std,
            smoothing=cfg.smoothing,
            epoch=epoch + 1,
            optimizer=opt,
            scheduler=sched,
            extra={"train_config": dict(cfg.__dict__), "history": earlier + [s.__dict__ for s in history]},
        )
        kept = epoch + 1
        log(
            f"epoch {stats.epoch}/{cfg.epochs}  loss {stats.train_loss:.4f}  train acc {stats.train_acc:.4f}  "
            f"test acc clean {stats.clean_acc:.4f} / noisy {stats.noisy_acc:.4f}  ({stats.seconds:.1f} s)  -> {out}"
        )
    return history
