"""Training a denoiser for denoised smoothing (Salman et al., 2020), structured like
:mod:`gsmooth.training.trainer`.

Objectives (:mod:`gsmooth.denoising.losses`): ``"mse"`` (``‖D(x + δ) − x‖²``) or ``"stability"``
(``CE(f(D(x + δ)), argmax f(x))`` for a frozen classifier ``f``, whose file's SHA-256 is recorded);
``init`` starts from an MSE denoiser (Salman's Stab+MSE fine-tuning). Noise ``δ ~ N(0, σ²I)`` is
drawn from the registered ``gaussian`` noise, the one certification uses.

Seeded like the classifier trainer: initial weights from ``derive_seed(seed, 2**32)``, per epoch the
data order from ``derive_seed(seed, epoch, 0)`` and the noise from ``derive_seed(seed, epoch, 1)``,
so the same configuration gives the same denoiser, bit for bit, and a resumed run sees the batches
of an uninterrupted one. The checkpoint (:mod:`gsmooth.denoising.io`) is rewritten atomically after
every epoch; ``resume`` continues it with the same configuration only (``epochs`` may grow). A
NaN/inf loss or weight stops the run with a :class:`~gsmooth.errors.TrainingDivergedError`; the
file on disk stays the last finite epoch. Each epoch logs the test MSE and PSNR of the denoised
images and of the noisy ones (the same noise draw, from ``derive_seed(seed, 3)``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import DataLoader, Subset

from ..core.seeding import derive_seed
from ..errors import CheckpointError, InvalidParameterError, TrainingDivergedError
from ..validation import Interval, Options, validate_params
from .losses import mse_objective, stability_objective

__all__ = ["DenoiserConfig", "DenoiserEpochStats", "train_denoiser", "evaluate_denoiser", "psnr"]

_CONSTRAINTS = {
    "noise": [Options(("gaussian",))],
    "sigma": [Interval(Real, 0, None, closed="neither")],
    "objective": [Options(("mse", "stability"))],
    "epochs": [Interval(Integral, 1, None)],
    "batch_size": [Interval(Integral, 1, None)],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "seed": [Interval(Integral, 0, None)],
    "max_train": [Interval(Integral, 1, None), Options((None,))],
    "max_eval": [Interval(Integral, 1, None), Options((None,))],
}


@dataclass
class DenoiserConfig:
    """Everything that defines a denoiser training run (stored in the checkpoint; ``resume`` compares it).

    Attributes:
        arch: a registered denoiser architecture (``dncnn``, ``dncnn6x32``, a plugin's).
        dataset: registered dataset name (its input shape gives the channels).
        noise: ``"gaussian"`` (the only one); sigma: its standard deviation.
        objective: ``"mse"`` or ``"stability"`` (needs ``classifier``).
        classifier: classifier checkpoint for the stability objective (frozen); its SHA-256 is filled in.
        init: a denoiser checkpoint to start from (same architecture and image shape); its SHA-256 is filled in.
        epochs, batch_size, lr (Adam), seed, max_train (first N training images), max_eval (test images per epoch).
    """

    arch: str
    dataset: str
    sigma: float = 0.25
    noise: str = "gaussian"
    objective: str = "mse"
    classifier: str | None = None
    classifier_sha256: str | None = None
    init: str | None = None
    init_sha256: str | None = None
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    max_train: int | None = None
    max_eval: int | None = 1000

    def validate(self) -> None:
        validate_params("train_denoiser", {k: getattr(self, k) for k in _CONSTRAINTS}, _CONSTRAINTS)
        if self.objective == "stability" and self.classifier is None:
            raise InvalidParameterError(
                "train_denoiser: objective 'stability' expected a classifier checkpoint (classifier=…, --classifier), got none"
            )
        if self.objective == "mse" and self.classifier is not None:
            raise InvalidParameterError(
                f"train_denoiser: objective 'mse' uses no classifier; expected classifier=None, got {self.classifier!r} "
                "(did you mean objective 'stability'?)"
            )


@dataclass
class DenoiserEpochStats:
    epoch: int
    train_loss: float
    test_mse: float  # denoised vs clean
    noisy_mse: float  # noisy vs clean (the same draw)
    test_psnr: float
    noisy_psnr: float
    seconds: float


def psnr(mse: float) -> float:
    """PSNR in dB of images in [0, 1]: ``10·log10(1 / mse)`` (inf for 0).

    Example:
        >>> psnr(0.01)
        20.0
    """
    return float("inf") if mse <= 0 else 10.0 * math.log10(1.0 / mse)


def _sample(noise, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return x + noise.sample(tuple(x.shape), generator=generator, device=x.device, dtype=x.dtype)


@torch.no_grad()
def evaluate_denoiser(denoiser, loader, *, noise, seed: int, device) -> tuple[float, float]:
    """``(MSE of D(x + δ) vs x, MSE of x + δ vs x)`` over ``loader``, one seeded noise draw per image."""
    was = denoiser.training
    denoiser.eval()
    g = torch.Generator(device=device).manual_seed(derive_seed(seed, 3))
    den_sq = noisy_sq = 0.0
    count = 0
    for x, _ in loader:
        x = x.to(device)
        noisy = _sample(noise, x, g)
        den_sq += float(((denoiser(noisy) - x) ** 2).sum())
        noisy_sq += float(((noisy - x) ** 2).sum())
        count += x.numel()
    denoiser.train(was)
    return den_sq / max(count, 1), noisy_sq / max(count, 1)


def _resolve_file(cfg: DenoiserConfig, key: str) -> None:
    from ..io.checkpoints import file_sha256

    value = getattr(cfg, key)
    if value is None:
        return
    path = Path(value).expanduser()
    if not path.is_file():
        raise InvalidParameterError(f"train_denoiser: {key} expected an existing checkpoint file, got {value!r}")
    setattr(cfg, key, str(path.resolve()))
    digest = file_sha256(path)
    recorded = getattr(cfg, f"{key}_sha256")
    if recorded is None:
        setattr(cfg, f"{key}_sha256", digest)
    elif recorded != digest:
        raise CheckpointError(f"train_denoiser: {key} {getattr(cfg, key)} changed: expected sha256 {recorded}, got {digest}")



def train_denoiser(
    cfg: DenoiserConfig,
    *,
    out: str | Path,
    device: str | torch.device = "cpu",
    resume: bool = False,
    data_root: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[DenoiserEpochStats]:
    """Train the denoiser ``cfg.arch`` on ``cfg.dataset`` under Gaussian noise σ; checkpoint every epoch.

    Args:
        cfg: the run's :class:`DenoiserConfig`.
        out: the denoiser checkpoint (rewritten atomically after every epoch).
        device: ``"cpu"``, ``"cuda"`` …
        resume: continue from ``out`` if it exists (a denoiser of the same configuration; ``epochs``
            may grow). Without it an existing ``out`` is refused before any work, as is an ``out`` that
            is an input (the classifier, the init denoiser, a dataset file) or in an unwritable folder.
        data_root: dataset root (:func:`gsmooth.data.datasets.load_dataset`).
        progress: tqdm bar per epoch.
        log: where one line per epoch goes.

    Returns:
        the per-epoch statistics of the epochs run in this call.

    Raises:
        OutputFileError: ``out`` cannot be written (see ``resume``).
        CheckpointError: ``resume`` of a file that is not a denoiser of :func:`train_denoiser` or of
            another configuration (the differences are listed); a classifier or init file that is not
            what it should be; an init denoiser of another architecture or image shape.
        InvalidParameterError: a bad configuration; a classifier for other images than the dataset's.
        TrainingDivergedError: the loss or a weight became NaN/inf (``out`` keeps the last finite epoch).

    Example:
        >>> cfg = DenoiserConfig(arch="dncnn6x32", dataset="fashion-mnist", sigma=0.25, epochs=1, max_train=512)
        >>> stats = train_denoiser(cfg, out="/tmp/den.pt")  # doctest: +SKIP
        >>> stats[-1].test_mse < stats[-1].noisy_mse  # doctest: +SKIP
        True
    """
    from ..data.datasets import dataset_info, load_dataset
    from ..io.checkpoints import load_checkpoint, nonfinite_tensors
    from ..plugin.registry import get_registry
    from ..training.trainer import check_checkpoint_out, check_same_config, dataset_inputs, diverged_message
    from ..validation import check_device
    from .io import load_denoiser, read_denoiser_file, save_denoiser
    from .model import build_denoiser, get_denoiser_architecture

    cfg.validate()
    device = check_device(device, what="train_denoiser: device")
    info = dataset_info(cfg.dataset)
    get_denoiser_architecture(cfg.arch)  # an unknown name fails before any file is touched
    inputs = {"classifier": cfg.classifier, "init": cfg.init, **dataset_inputs(cfg.dataset, data_root)}
    out = check_checkpoint_out(out, resume=resume, inputs=inputs, option="train_denoiser: out")
    existing = None
    if resume and out.exists():
        try:
            existing = read_denoiser_file(out, map_location=device)
        except CheckpointError as exc:
            raise CheckpointError(f"cannot resume {out}: {exc}") from None
        if not existing.get("train_config"):
            raise CheckpointError(
                f"cannot resume {out}: expected a denoiser written by `gsmooth train-denoiser` (it records its training "
                "configuration), got one without; choose another --out"
            )
    _resolve_file(cfg, "classifier")
    _resolve_file(cfg, "init")
    if existing is not None:
        check_same_config(existing["train_config"], cfg, out=out)
    classifier = None
    if cfg.classifier is not None:
        ckpt = load_checkpoint(cfg.classifier, map_location=device)
        if tuple(ckpt.input_shape) != tuple(info.input_shape):
            raise InvalidParameterError(
                f"train_denoiser: classifier expected a model for {cfg.dataset}'s images {tuple(info.input_shape)}, got one "
                f"for {tuple(ckpt.input_shape)} ({cfg.classifier})"
            )
        classifier = ckpt.build_model(device=device).eval()
        classifier.requires_grad_(False)  # frozen: only the denoiser learns
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(cfg.seed, 2**32))
        denoiser = build_denoiser(cfg.arch, input_shape=info.input_shape)
    if cfg.init is not None and existing is None:
        start = load_denoiser(cfg.init, map_location="cpu")
        if start.arch != cfg.arch or tuple(start.input_shape) != tuple(info.input_shape):
            raise CheckpointError(
                f"train_denoiser: init expected a denoiser {cfg.arch!r} for images {tuple(info.input_shape)}, got "
                f"{start.arch!r} for {tuple(start.input_shape)} ({cfg.init})"
            )
        denoiser.load_state_dict(start.state_dict())
    denoiser.to(device)
    noise = get_registry().noise_class(cfg.noise)(sigma=cfg.sigma)
    opt = torch.optim.Adam(denoiser.parameters(), lr=cfg.lr)

    start_epoch = 0
    earlier: list[dict] = []
    if existing is not None:
        from ..io.checkpoints import load_state_strict

        load_state_strict(denoiser, existing["state_dict"], cfg.arch, out)
        if existing.get("optimizer") is not None:
            opt.load_state_dict(existing["optimizer"])
        start_epoch = int(existing.get("epoch", 0))
        earlier = list(existing.get("history") or [])
        log(f"resuming {out} after epoch {start_epoch}/{cfg.epochs}")
        if start_epoch >= cfg.epochs:
            log("nothing to do: all epochs done")
            return []
    kept = start_epoch or None

    train_set = load_dataset(cfg.dataset, split="train", root=data_root)
    test_set = load_dataset(cfg.dataset, split="test", root=data_root)
    if cfg.max_train is not None:
        train_set = Subset(train_set, range(min(cfg.max_train, len(train_set))))
    if cfg.max_eval is not None:
        test_set = Subset(test_set, range(min(cfg.max_eval, len(test_set))))
    test_loader = DataLoader(test_set, batch_size=256, shuffle=False)
    history: list[DenoiserEpochStats] = []

    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        denoiser.train()
        order = torch.Generator().manual_seed(derive_seed(cfg.seed, epoch, 0))
        noise_gen = torch.Generator(device=device).manual_seed(derive_seed(cfg.seed, epoch, 1))
        loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=order, drop_last=False)
        total = 0.0
        seen = 0
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, unit="batch")
        for x, _ in bar if bar is not None else loader:
            x = x.to(device, non_blocking=True)
            noisy = _sample(noise, x, noise_gen)
            if cfg.objective == "mse":
                loss = mse_objective(denoiser, x, noisy)
            else:
                loss = stability_objective(denoiser, classifier, x, noisy)
            value = loss.item()
            if not math.isfinite(value):
                if bar is not None:
                    bar.close()
                raise TrainingDivergedError(diverged_message(
                    "the training loss", epoch=epoch + 1, epochs=cfg.epochs, value=value, lr=cfg.lr, kept=kept, out=out))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.get_total_norm([p.grad for p in denoiser.parameters() if p.grad is not None])
            if not bool(torch.isfinite(grad_norm)):  # a finite loss with a NaN/inf gradient: never stepped into the weights
                if bar is not None:
                    bar.close()
                raise TrainingDivergedError(diverged_message(
                    "the gradient of the training loss", epoch=epoch + 1, epochs=cfg.epochs, value=float(grad_norm),
                    lr=cfg.lr, kept=kept, out=out))
            opt.step()
            total += value * len(x)
            seen += len(x)
        bad = nonfinite_tensors(denoiser)
        if bad:
            raise TrainingDivergedError(diverged_message(
                f"weight {bad[0]}" + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""), epoch=epoch + 1,
                epochs=cfg.epochs, value="not finite", lr=cfg.lr, kept=kept, out=out))
        test_mse, noisy_mse = evaluate_denoiser(denoiser, test_loader, noise=noise, seed=cfg.seed, device=device)
        stats = DenoiserEpochStats(epoch + 1, total / max(seen, 1), test_mse, noisy_mse, psnr(test_mse), psnr(noisy_mse),
                                   time.perf_counter() - t0)
        history.append(stats)
        save_denoiser(
            out, denoiser=denoiser, arch=cfg.arch, dataset=info.name, input_shape=info.input_shape, sigma=cfg.sigma,
            noise=cfg.noise, objective=cfg.objective, classifier_sha256=cfg.classifier_sha256, epoch=epoch + 1,
            optimizer=opt, train_config=dict(cfg.__dict__), history=earlier + [s.__dict__ for s in history],
        )
        kept = epoch + 1
        log(
            f"epoch {stats.epoch}/{cfg.epochs}  loss {stats.train_loss:.5f}  test mse {stats.test_mse:.5f} "
            f"(noisy {stats.noisy_mse:.5f})  psnr {stats.test_psnr:.2f} dB (noisy {stats.noisy_psnr:.2f} dB)  "
            f"({stats.seconds:.1f} s)  -> {out}"
        )
    return history
