"""``gsmooth train-denoiser``: train a denoiser for denoised smoothing (``certify --denoiser``)."""

from __future__ import annotations

from ..data.datasets import list_datasets
from ..denoising.model import list_denoiser_architectures
from ..denoising.train import DenoiserConfig, train_denoiser
from ..errors import InvalidParameterError
from ..training.trainer import check_checkpoint_out, dataset_inputs
from ..validation import check_device
from .common import HelpFormatter, batch_int, float32_positive, positive_float, positive_int, seed_int


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train-denoiser",
        help="train a denoiser for denoised smoothing (certify --denoiser)",
        description=(
            "Train a DnCNN-style denoiser D for Gaussian noise of --sigma (Salman et al. 2020, denoised smoothing): "
            "objective mse (||D(x+d) - x||^2) or stability (cross-entropy of a frozen --classifier on D(x+d) against "
            "its label of x; --init starts from an MSE denoiser: Stab+MSE). Then `gsmooth certify --model CLF "
            "--denoiser OUT` certifies CLF after D, also a CLF trained without noise (`gsmooth train --no-noise`). "
            "The checkpoint is rewritten after every epoch; --resume continues an interrupted run."
        ),
        epilog="example: gsmooth train-denoiser --dataset fashion-mnist --sigma 0.25 --arch dncnn6x32 --epochs 5 --out den_025.pt",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--dataset", required=True, help=f"one of {', '.join(list_datasets())} (see `gsmooth plugins`)")
    p.add_argument("--sigma", type=positive_float, required=True, help="std of the Gaussian noise the denoiser removes")
    p.add_argument("--arch", default="dncnn",
                   help=f"one of {', '.join(list_denoiser_architectures())} (default: dncnn, depth 17 width 64; "
                   "dncnn6x32 for a quick CPU run)")
    p.add_argument("--objective", choices=("mse", "stability"), default="mse", help="training objective")
    p.add_argument("--classifier", metavar="CKPT", default=None,
                   help="classifier checkpoint for --objective stability (kept frozen; its sha256 is recorded)")
    p.add_argument("--init", metavar="DENOISER", default=None,
                   help="start from this denoiser (same --arch and images), e.g. an MSE one for Stab+MSE")
    p.add_argument("--epochs", type=positive_int, default=10, help="passes over the training set")
    p.add_argument("--batch", type=batch_int, default=128, help="training batch size")
    p.add_argument("--lr", type=float32_positive, default=1e-3, help="Adam learning rate")
    p.add_argument("--seed", type=seed_int, default=0, help="seeds data order, noise and initialisation")
    p.add_argument("--max-train", type=positive_int, default=None, help="use only the first N training images (quick runs)")
    p.add_argument("--max-eval", type=positive_int, default=1000, help="test images for the per-epoch MSE / PSNR")
    p.add_argument("--data-dir", metavar="DIR", help="dataset root in torchvision's layout")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (one line per epoch only)")
    p.add_argument("--out", required=True, metavar="DENOISER.pt", help="denoiser checkpoint path")
    p.set_defaults(func=run)


def interrupted(args) -> str:
    """After Ctrl-C / SIGTERM: what the denoiser on disk holds."""
    from ..denoising.io import read_denoiser_file

    out = getattr(args, "out", None)
    try:
        epoch = int(read_denoiser_file(out).get("epoch", 0)) if out else 0
    except Exception:  # noqa: BLE001 - nothing readable was saved
        epoch = 0
    if not epoch:
        return f"nothing was saved (no epoch was completed; {out} is written after each one)"
    again = "run the same command again to continue" if getattr(args, "resume", False) else \
        "add --resume to the same command to continue"
    return f"the last completed epoch, {epoch}/{getattr(args, 'epochs', '?')}, is saved in {out}; {again}"


def run(args) -> int:
    device = check_device(args.device, what="--device")
    if args.objective == "stability" and args.classifier is None:
        raise InvalidParameterError("--objective stability expected --classifier CKPT (the frozen classifier), got none")
    if args.objective == "mse" and args.classifier is not None:
        raise InvalidParameterError(
            f"--classifier is used by --objective stability only; expected it with that objective, got --objective mse"
        )
    inputs = {"--classifier": args.classifier, "--init": args.init, **dataset_inputs(args.dataset, args.data_dir)}
    check_checkpoint_out(args.out, resume=args.resume, inputs=inputs)  # before any work
    cfg = DenoiserConfig(
        arch=args.arch, dataset=args.dataset, sigma=args.sigma, objective=args.objective, classifier=args.classifier,
        init=args.init, epochs=args.epochs, batch_size=args.batch, lr=args.lr, seed=args.seed,
        max_train=args.max_train, max_eval=args.max_eval,
    )
    history = train_denoiser(
        cfg, out=args.out, device=device, resume=args.resume, data_root=args.data_dir,
        progress=not args.no_progress, log=lambda line: print(line, flush=True),
    )
    if history:
        last = history[-1]
        print(f"saved {args.out}: test mse {last.test_mse:.5f} (noisy {last.noisy_mse:.5f}), psnr {last.test_psnr:.2f} dB; "
              f"certify with `gsmooth certify --model CLF --denoiser {args.out}`")
    return 0
