"""``gsmooth train``: train a base classifier under the smoothing noise it will be certified with."""

from __future__ import annotations

import argparse  # noqa: F401

from ..errors import InvalidParameterError
from ..training.trainer import TrainConfig, check_checkpoint_out, dataset_inputs, read_resumable, saved_epoch, train
from ..core.defaults import DEFAULT_TRANSFORM
from ..validation import check_device
from ..data.datasets import list_datasets
from ..models.architectures import list_architectures
from .common import (
    HelpFormatter, batch_int, component_name, float32_nonneg, float32_positive, positive_float, positive_int,
    seed_int,
)
from .common import nonneg_float
from ..training.smoothing import resolve_training_smoothing


#: Default gradient-norm clipping of a new run (see README "Training"): SGD at lr 0.1 on the
#: BatchNorm-free small_cnn meets early gradient spikes (measured: max/median step norm ~20-90x in
#: the first epoch, with Gaussian and Laplace noise alike) that can kill the ReLUs (loss stuck at
#: ln 10) or diverge; clipping at 5 leaves typical steps (norm ~0.3-5) untouched and bounds those.
DEFAULT_CLIP_GRAD = 5.0


#: ``--clip-grad``: a non-negative finite number (:data:`gsmooth.validation.NONNEG`).
_nonneg_float = nonneg_float


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a base classifier with noise augmentation",
        description=(
            "Train a base classifier whose inputs are perturbed by the same noise/transform the certifier "
            "uses (Cohen et al.: Gaussian data augmentation). The checkpoint is rewritten after every epoch "
            "and records architecture, dataset, classes, normalization and smoothing, so `gsmooth certify "
            "--model CKPT` needs nothing else. --resume continues an interrupted run."
        ),
        epilog="example: gsmooth train --dataset fashion-mnist --arch small_cnn --sigma 0.25 --epochs 5 --out fm_025.pt",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--dataset", required=True, help=f"one of {', '.join(list_datasets())} (see `gsmooth plugins`)")
    p.add_argument("--arch", default="small_cnn", help=f"one of {', '.join(list_architectures())} (default: small_cnn, for 28x28)")
    p.add_argument("--noise", type=component_name, default=None,
                   help="noise used for augmentation (see `gsmooth plugins`; default: gaussian, or the transform's default)")
    p.add_argument("--sigma", type=positive_float, default=None,
                   help="noise scale (default: 0.25 for additive noise, else the transform's default)")
    p.add_argument("--transform", type=component_name, default=DEFAULT_TRANSFORM, help="transform the noise drives (default: additive pixel noise)")
    p.add_argument("--surrogate", metavar="PATH", default=None,
                   help="GSmooth surrogate of --transform (`gsmooth surrogate train`): the model trains on surrogate "
                   "outputs with noise on theta and on the latent; needed for transforms of kind empirical "
                   "(default with --resume: the one the checkpoint was trained with)")
    p.add_argument("--latent-sigma", type=positive_float, default=None, metavar="SIGMA_XI",
                   help="std of the surrogate's latent noise (default: the transform's default, 0.25)")
    p.add_argument("--no-noise", action="store_true",
                   help="train a vanilla model without smoothing noise: a baseline for attack and corruption tables "
                   "(its checkpoint records no smoothing: certify it with --noise/--sigma, or with --denoiser for denoised smoothing)")
    p.add_argument("--augment", choices=("none", "augmix"), default="none",
                   help="extra data augmentation: augmix = torchvision's AugMix on every training image (plain "
                   "cross-entropy, no Jensen-Shannon loss); CIFAR also gets random crop + flip")
    m = p.add_argument_group(
        "training method (at most one; default: plain noise augmentation, one noisy copy per image; "
        "see README \"Training methods\")")
    m.add_argument("--consistency", metavar="LAMBDA", default=None,
                   help="consistency regularization (Jeong & Shin 2020) with KL weight LAMBDA > 0")
    m.add_argument("--consistency-eta", metavar="ETA", default=None,
                   help="entropy weight of --consistency, >= 0 (default 0.5)")
    m.add_argument("--smoothadv", metavar="EPS,STEPS", default=None,
                   help="SmoothAdv (Salman et al. 2019): PGD with STEPS steps in an L2 ball of radius EPS in the "
                   "transform's parameter space (pixels for additive noise) on the smoothed classifier")
    m.add_argument("--smoothadv-warmup", metavar="EPOCHS", default=None,
                   help="ramp --smoothadv's EPS up linearly over EPOCHS epochs (default 0: no warm-up)")
    m.add_argument("--macer", metavar="LAMBDA", default=None,
                   help="MACER (Zhai et al. 2020) with robustness weight LAMBDA >= 0 (the paper: 12); needs Gaussian noise")
    m.add_argument("--macer-gamma", metavar="G", default=None, help="hinge margin of --macer, > 0 (default 8)")
    m.add_argument("--macer-beta", metavar="B", default=None, help="inverse temperature of --macer, > 0 (default 16)")
    m.add_argument("--macer-warmup", metavar="EPOCHS", default=None,
                   help="train the first EPOCHS epochs with --macer's classification loss only (lambda 0), then add the "
                   "robustness loss (default 0: from the start)")
    m.add_argument("--copies", metavar="M", default=None,
                   help="noisy copies per image for the method (default: consistency 2, smoothadv 1, macer 16); "
                   "a batch costs M forward/backward passes per image")
    p.add_argument("--epochs", type=positive_int, default=10, help="passes over the training set")
    p.add_argument("--batch", type=batch_int, default=128, help="training batch size")
    p.add_argument("--lr", type=float32_positive, default=None, help="learning rate (default: 0.1 for sgd, 1e-3 for adam)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd", help="SGD with momentum 0.9, or Adam")
    p.add_argument("--schedule", choices=("cosine", "step", "constant"), default="cosine", help="learning-rate schedule over the epochs")
    p.add_argument("--weight-decay", type=float32_nonneg, default=5e-4, help="L2 weight decay")
    p.add_argument("--clip-grad", type=_nonneg_float, default=None, metavar="MAX_NORM",
                   help=f"clip the gradient's global L2 norm to MAX_NORM at every step; 0 turns clipping off (default: "
                   f"{DEFAULT_CLIP_GRAD:g} for a new run, whatever noise; with --resume: what the checkpoint was "
                   "trained with). Bounds the rare early gradient spikes of SGD at lr 0.1, which otherwise can leave "
                   "the model at chance or diverge")
    p.add_argument("--seed", type=seed_int, default=0, help="seeds data order, noise and initialisation")
    p.add_argument("--max-train", type=positive_int, default=None, help="use only the first N training images (quick runs)")
    p.add_argument("--max-eval", type=positive_int, default=2000, help="test images for the per-epoch accuracy")
    p.add_argument("--data-dir", metavar="DIR", help="dataset root in torchvision's layout")
    p.add_argument("--download", action="store_true", help="let torchvision download a missing dataset")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (one line per epoch only)")
    p.add_argument("--out", required=True, metavar="CKPT", help="checkpoint path")
    p.set_defaults(func=run)


def interrupted(args) -> str:
    """After Ctrl-C / SIGTERM (see :func:`gsmooth.cli.interrupted_message`): what the checkpoint on
    disk holds, and the exact way to continue."""
    out = getattr(args, "out", None)
    epoch = saved_epoch(out)
    if not epoch:
        return f"nothing was saved (no epoch was completed; {out} is written after each one)"
    total = getattr(args, "epochs", None)
    if total is not None and epoch >= total:
        return f"all {total} epochs are saved in {out}"
    again = "run the same command again to continue" if getattr(args, "resume", False) else \
        "add --resume to the same command to continue"
    return f"the last completed epoch, {epoch}/{total}, is saved in {out}; {again}"


#: The flags of each method: (flag, parameter, number type); the first one is the method's own.
METHOD_FLAGS = {
    "consistency": (("--consistency", "lam", float), ("--consistency-eta", "eta", float), ("--copies", "copies", int)),
    "smoothadv": (("--smoothadv", None, None), ("--smoothadv-warmup", "warmup", int), ("--copies", "copies", int)),
    "macer": (("--macer", "lam", float), ("--macer-gamma", "gamma", float), ("--macer-beta", "beta", float),
              ("--macer-warmup", "warmup", int), ("--copies", "copies", int)),
}


def _attr(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _number(text: str, flag: str, kind) -> float | int:
    try:
        return kind(text)
    except (TypeError, ValueError):
        words = "an integer" if kind is int else "a number"
        raise InvalidParameterError(f"{flag} expected {words}, got {text!r}") from None


def method_choice(args) -> tuple[str, dict] | None:
    """``(method, params)`` from the method flags (None: no method flag given), validated from the method's
    own parameter table; one :class:`~gsmooth.errors.InvalidParameterError` line for two methods, a
    method's option without the method, a method with ``--no-noise`` or a bad value."""
    from ..plugin.registry import get_registry
    from ..validation import validate_params

    given = [name for name, flags in METHOD_FLAGS.items() if getattr(args, _attr(flags[0][0]), None) is not None]
    if len(given) > 1:
        raise InvalidParameterError(
            f"expected at most one training method, got {' and '.join(METHOD_FLAGS[n][0][0] for n in given)}")
    allowed = {flag for flag, _, _ in METHOD_FLAGS[given[0]]} if given else set()
    for flags in METHOD_FLAGS.values():
        for flag, _, _ in flags[1:]:
            if getattr(args, _attr(flag), None) is not None and flag not in allowed:
                owners = " or ".join(fl[0][0] for fl in METHOD_FLAGS.values() if flag in {f for f, _, _ in fl})
                raise InvalidParameterError(f"{flag} expected with {owners}, got it without")
    if not given:
        return None
    name = given[0]
    if args.no_noise:
        raise InvalidParameterError(
            f"--no-noise trains without smoothing noise; expected no training method with it, got {METHOD_FLAGS[name][0][0]}")
    table = get_registry().training_method_class(name)._parameter_constraints
    params: dict = {}
    for flag, param, kind in METHOD_FLAGS[name]:
        text = getattr(args, _attr(flag), None)
        if text is None:
            continue
        if param is None:  # --smoothadv EPS,STEPS
            parts = text.split(",")
            if len(parts) != 2:
                raise InvalidParameterError(f"{flag} expected EPS,STEPS (e.g. 0.5,2), got {text!r}")
            values = {"eps": _number(parts[0], flag, float), "steps": _number(parts[1], flag, int)}
        else:
            values = {param: _number(text, flag, kind)}
        validate_params(flag, values, table)
        params.update(values)
    return name, params


def run(args) -> int:
    device = check_device(args.device, what="--device")
    chosen = method_choice(args)  # before any work: bad method flags are one line
    if args.no_noise and (args.noise or args.sigma is not None or args.surrogate or args.transform != DEFAULT_TRANSFORM):
        raise InvalidParameterError(
            "--no-noise trains without smoothing noise; expected no --noise/--sigma/--surrogate/--transform with it, "
            f"got noise={args.noise!r} sigma={args.sigma!r} surrogate={args.surrogate!r} transform={args.transform!r}"
        )
    # Before any work: --out may be written (not an input, writable folder), and is new unless
    # --resume names a checkpoint of `gsmooth train` (its configuration is compared in train()).
    inputs = {"--surrogate": args.surrogate, **dataset_inputs(args.dataset, args.data_dir)}
    out = check_checkpoint_out(args.out, resume=args.resume, inputs=inputs)
    saved = dict(read_resumable(out).extra["train_config"]) if args.resume and out.exists() else {}
    lr = args.lr if args.lr is not None else (0.1 if args.optimizer == "sgd" else 1e-3)
    if args.clip_grad is not None:
        clip_grad = args.clip_grad or None
    elif saved:  # resuming: what the run was trained with (None for checkpoints from before the option)
        clip_grad = saved.get("clip_grad")
    else:
        clip_grad = DEFAULT_CLIP_GRAD
    choice = resolve_training_smoothing(
        args.transform, noise=args.noise, sigma=args.sigma, surrogate=args.surrogate, latent_sigma=args.latent_sigma,
        dataset=args.dataset, saved=saved, names={"sigma": "--sigma", "surrogate": "--surrogate PATH"},
    )
    if chosen is not None:
        method, method_params = chosen
    elif saved:  # resuming without method flags: what the run was trained with ("noise" before the option)
        method, method_params = saved.get("method", "noise"), dict(saved.get("method_params", {}))
    else:
        method, method_params = "noise", {}
    cfg = TrainConfig(
        arch=args.arch,
        dataset=args.dataset,
        noise=choice["noise"],
        noise_params={"sigma": choice["sigma"]},
        transform=args.transform,
        surrogate=choice["surrogate"],
        latent_sigma=choice["latent_sigma"],
        epochs=args.epochs,
        batch_size=args.batch,
        lr=lr,
        optimizer=args.optimizer,
        schedule=args.schedule,
        weight_decay=args.weight_decay,
        seed=args.seed,
        max_train=args.max_train,
        max_eval=args.max_eval,
        augment=args.augment,
        vanilla=args.no_noise,
        clip_grad=clip_grad,
        method=method,
        method_params=method_params,
    )
    cfg.validate()  # the method's parameters, before any work
    history = train(
        cfg,
        out=args.out,
        device=device,
        resume=args.resume,
        data_root=args.data_dir,
        download=args.download,
        progress=not args.no_progress,
        log=lambda line: print(line, flush=True),
    )
    if history:
        last = history[-1]
        used = ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v!r}" for k, v in cfg.method_params.items())
        trained = "no smoothing noise (vanilla)" if cfg.vanilla else f"method {cfg.method}" + (f" ({used})" if used else "")
        print(f"saved {args.out}: test accuracy clean {last.clean_acc:.4f}, under noise {last.noisy_acc:.4f}; {trained}")
        if cfg.surrogate is not None:
            print(f"trained on surrogate outputs of {cfg.surrogate} (sha256 {cfg.surrogate_sha256[:12]}…), "
                  f"sigma_theta {choice['sigma']:g}, sigma_xi {cfg.latent_sigma:g}; `gsmooth certify --model {args.out}` uses it")
    return 0
