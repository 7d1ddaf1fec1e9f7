"""``gsmooth surrogate``: train and evaluate GSmooth surrogates of non-resolvable transforms.

Sub-commands:

- ``gsmooth surrogate train --transform T --dataset D [--range lo:hi] … --out surrogate.pt``: train
  ``τ̃(θ, x) = H(F2(x) + F1(θ))`` on the training split (L1, Adam, fresh θ ~ U[range] per sample),
  print the per-epoch loss, evaluate on the test split and print the held-out table (L1 / PSNR per
  θ bin), and save a self-describing checkpoint with the table in it.
- ``gsmooth surrogate eval --surrogate surrogate.pt``: the same held-out table for a saved surrogate,
  then held-out G (mean/max of the grid estimate over ``--g-images`` test images) and M*.
- ``gsmooth surrogate lipschitz --surrogate surrogate.pt``: per test image, the grid estimate of
  G = max_α ‖∂F2(τ(α, x))/∂α − W_F1‖₂, M* = sqrt(1 + G²/r²) (r = σ_ξ/σ_θ) and the time it took.
"""

from __future__ import annotations

import argparse
import ast
import time
import warnings


from ..data.datasets import list_datasets, load_dataset
from ..errors import InvalidParameterError
from ..core.ranges import parse_range
from ..surrogate.lipschitz import LipschitzWarning
from ..surrogate.train import (
    DEFAULT_PATH_WEIGHT, check_continuable, read_training_state, saved_surrogate_progress, train_surrogate,
)
from ..surrogate.evaluate import evaluate_surrogate, heldout_G
from ..surrogate.io import load_surrogate, save_surrogate
from ..surrogate.transform import SurrogateTransform
from ..training.trainer import check_checkpoint_out, dataset_inputs
from ..validation import check_device
from .common import (
    HelpFormatter, batch_int, component_name, float32_positive, nonneg_float, nonneg_int, positive_float, positive_int,
    seed_int,
)




def _key_value(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key.strip(), value


def add_parser(sub) -> None:
    p = sub.add_parser(
        "surrogate",
        help="train/evaluate GSmooth surrogates of non-resolvable transforms",
        description=(
            "GSmooth (Hao et al., ICML 2022) certifies transformations that do not compose in their parameter "
            "(rotational/defocus/zoom/motion blur, pixelate, …) through a learned surrogate "
            "H(F2(x) + F1(theta) + xi). Train one per transform and dataset, check its held-out error, and "
            "estimate its Lipschitz factor M* per image."
        ),
    )
    ssub = p.add_subparsers(dest="surrogate_command", metavar="SUBCOMMAND", required=True)

    t = ssub.add_parser(
        "train",
        help="train a surrogate and print its held-out error table",
        description=(
            "Train tau~(theta, x) = H(F2(x) + F1(theta)) to reproduce the transform (L1 loss plus --path-weight "
            "times the path-deviation penalty, Adam, a fresh theta ~ U[range] for every sample at every step) on "
            "the training split; then evaluate it on the "
            "test split (L1 and PSNR per theta bin) and save a self-describing checkpoint. The checkpoint "
            "(weights, Adam state, epoch) is rewritten after every epoch; --resume continues an interrupted run "
            "and gives the same surrogate as an uninterrupted one."
        ),
        epilog=(
            "default range: the one the transform declares in its defaults (`gsmooth plugins` lists them; the "
            "GSmooth paper's where it gives one). example: gsmooth surrogate train --transform rotational_blur "
            "--dataset fashion-mnist --max-train 6000 --epochs 2 --out rb_fm.pt"
        ),
        formatter_class=HelpFormatter,
    )
    t.add_argument("--transform", type=component_name, required=True, help="the true transform (a registered name with param_dim >= 1)")
    t.add_argument("--transform-param", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter of the transform (repeatable), e.g. num_samples=16")
    t.add_argument("--dataset", required=True, help=f"one of {', '.join(list_datasets())} (see `gsmooth plugins`)")
    t.add_argument("--range", dest="param_range", default=None, metavar="LO:HI",
                   help="training parameter range (default: the transform's default range, see below)")
    t.add_argument("--epochs", type=positive_int, default=5)
    t.add_argument("--batch", type=batch_int, default=128, help="batch size")
    t.add_argument("--lr", type=float32_positive, default=1e-3, help="Adam learning rate")
    t.add_argument("--max-train", type=positive_int, default=None, help="use only the first N training images")
    t.add_argument("--max-eval", type=positive_int, default=1000, help="held-out test images for the table")
    t.add_argument("--bins", type=positive_int, default=5, help="theta bins of the held-out table")
    t.add_argument("--width", type=positive_int, default=16, help="U-Net base width (32+ for CIFAR on a GPU)")
    t.add_argument("--encoder-width", type=positive_int, default=16, help="hidden width of the encoder F2")
    t.add_argument("--latent-sigma", type=nonneg_float, default=0.0,
                   help="latent noise xi while training (0: a surrogate of the transform itself)")
    t.add_argument("--path-weight", type=nonneg_float, default=DEFAULT_PATH_WEIGHT, metavar="W",
                   help="weight of the path-deviation penalty added to the L1 loss: on truly transformed images, "
                   "||F2(tau(a,x)) - F2(tau(a',x)) - W(a - a')||^2 per latent coordinate over |a - a'|^2 (a, a' in "
                   "range units), which keeps G, and so M*, small (0: L1 alone; see "
                   "gsmooth.surrogate.train.path_penalty)")
    t.add_argument("--time-limit", type=positive_float, default=None, metavar="SECONDS",
                   help="(no default: --epochs alone decides the training, the same surrogate on any machine) stop "
                   "after the batch during which this much training time has passed (in this call); the surrogate "
                   "is evaluated and saved, and --resume later continues from that very batch")
    t.add_argument("--seed", type=seed_int, default=0)
    t.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    t.add_argument("--data-dir", metavar="DIR", help="dataset root in torchvision's layout")
    t.add_argument("--download", action="store_true", help="let torchvision download a missing dataset")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("--resume", action="store_true",
                   help="continue the run saved in --out (same configuration; --epochs may grow)")
    t.add_argument("--out", required=True, metavar="PATH",
                   help="surrogate checkpoint to write; rewritten after every epoch, so an interrupted run keeps its "
                   "last completed epoch (--resume continues it)")
    t.set_defaults(func=run_train)

    e = ssub.add_parser(
        "eval",
        help="print a saved surrogate's held-out error table and held-out G / M*",
        description=(
            "Held-out L1 and PSNR of a saved surrogate against the true transform, per theta bin and overall; "
            "then held-out G (the grid estimate of max over alpha in the range of ||dF2(tau(alpha, x))/dalpha - "
            "W_F1||_2, per test image; mean and max over --g-images images) and the resulting "
            "M* = sqrt(1 + G^2 sigma_theta^2 / sigma_xi^2)."
        ),
        formatter_class=HelpFormatter,
    )
    _common_surrogate_args(e)
    e.add_argument("--max-eval", type=positive_int, default=1000, help="test images")
    e.add_argument("--bins", type=positive_int, default=5, help="theta bins")
    e.add_argument("--latent-sigma", type=nonneg_float, default=0.0, help="evaluate with latent noise xi ~ N(0, s^2)")
    e.add_argument("--seed", type=seed_int, default=0)
    e.add_argument("--g-images", type=nonneg_int, default=10, metavar="N",
                   help="test images for held-out G (0: no G)")
    e.add_argument("--grid", type=positive_int, default=10, help="grid points per parameter for G")
    e.add_argument("--sigma-theta", type=positive_float, default=None,
                   help="sigma_theta of M* (default: the transform's defaults)")
    e.add_argument("--sigma-xi", type=positive_float, default=None,
                   help="sigma_xi of M* (default: the transform's defaults, latent_sigma)")
    e.set_defaults(func=run_eval)

    lp = ssub.add_parser(
        "lipschitz",
        help="estimate G and M* per image for a saved surrogate",
        description=(
            "For each test image x: G = max over a grid of alpha in the certified range of "
            "||dF2(tau(alpha, x))/dalpha - W_F1||_2 (an estimate: the maximum over the continuous range may be "
            "larger), and M* = sqrt(1 + G^2 / r^2) with r = sigma_xi / sigma_theta; the certified radius in theta "
            "is sigma_theta * Phi^-1(p_lower) / M*."
        ),
        formatter_class=HelpFormatter,
    )
    _common_surrogate_args(lp)
    lp.add_argument("--max", type=positive_int, default=20, help="number of test images")
    lp.add_argument("--start", type=nonneg_int, default=0, help="index of the first image")
    lp.add_argument("--grid", type=positive_int, default=10, help="grid points per parameter")
    lp.add_argument("--iters", type=positive_int, default=50, help="power iterations (d > 16 only)")
    lp.add_argument(
        "--sigma-ratio", type=positive_float, default=None,
        help="r = sigma_xi / sigma_theta (default: the transform's defaults, latent_sigma / sigma from "
        "gsmooth.core.defaults, the ratio `gsmooth certify` uses for a model trained with them; 1 for a "
        "transform without defaults)",
    )
    lp.add_argument("--method", choices=("auto", "exact", "power", "fd"), default="auto",
                    help="Jacobian method (auto: autograd cross-checked by finite differences)")
    lp.add_argument("--no-fd-check", action="store_true",
                    help="do not cross-check autograd with finite differences (faster; see gsmooth.surrogate.lipschitz)")
    lp.set_defaults(func=run_lipschitz)


def _common_surrogate_args(p) -> None:
    p.add_argument("--surrogate", required=True, metavar="PATH", help="file written by `gsmooth surrogate train`")
    p.add_argument("--dataset", default=None, help="default: the surrogate's training dataset")
    p.add_argument("--split", choices=("test", "train"), default="test")
    p.add_argument("--range", dest="param_range", default=None, metavar="LO:HI",
                   help="parameter range (default: the surrogate's training range)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    p.add_argument("--data-dir", metavar="DIR", help="dataset root in torchvision's layout")
    p.add_argument("--download", action="store_true", help="let torchvision download a missing dataset")


def _describe(sur) -> str:
    rng = ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in sur.param_range)
    units = f" {sur.param_units}" if sur.param_units else ""
    info = sur.training_info or {}
    params = ", ".join(f"{k}={v!r}" for k, v in (sur.transform_params or {}).items())
    return (
        f"surrogate of {sur.transform_name}({params}) on {rng}{units}; trained on {sur.dataset} "
        f"({info.get('train_images', '?')} images, {info.get('epochs_done', '?')} epoch(s), "
        f"final train L1 {info['history'][-1]['l1']:.5f}, path weight {info.get('path_weight', 0.0):g}); "
        f"U-Net width {sur.width}, encoder width {sur.encoder_width}"
        if info.get("history")
        else f"surrogate of {sur.transform_name}({params}) on {rng}{units} (dataset {sur.dataset})"
    )


def interrupted(args) -> str:
    """After Ctrl-C / SIGTERM (see :func:`gsmooth.cli.interrupted_message`): for ``surrogate train``,
    what the checkpoint on disk holds and the exact way to continue; eval/lipschitz write nothing."""
    if getattr(args, "surrogate_command", None) != "train":
        return ""
    out = args.out
    state = saved_surrogate_progress(out)
    if not state or (state["epoch"] == 0 and not state["partial"]):
        return f"nothing was saved (no epoch was completed; {out} is written after each one)"
    again = "run the same command again" if args.resume else "add --resume to the same command"
    if state["epoch"] >= args.epochs:
        if state["heldout"]:
            return f"the surrogate in {out} is complete (all {args.epochs} epochs and its held-out table)"
        return (f"all {args.epochs} epochs are saved in {out}, the held-out table is not; {again} to evaluate it "
                f"(nothing is trained again)")
    if not state["partial"]:
        return f"the last completed epoch, {state['epoch']}/{args.epochs}, is saved in {out}; {again} to continue"
    return f"{_progress(state['epoch'], True, args.epochs)} (where a time limit stopped) is saved in {out}; {again} to continue"


def _progress(epoch: int, partial: bool, epochs: int) -> str:
    """``epoch 2/5``, ``epoch 2/5 and part of epoch 3``, ``part of epoch 1``."""
    if not partial:
        return f"epoch {epoch}/{epochs}"
    return f"epoch {epoch}/{epochs} and part of epoch {epoch + 1}" if epoch else f"part of epoch 1/{epochs}"


def run_train(args) -> int:
    device = check_device(args.device, what="--device")
    # Before any work: --out may be written (not a dataset file, writable folder), and is new unless
    # --resume names a surrogate of `gsmooth surrogate train` (configuration compared in train_surrogate).
    out = check_checkpoint_out(args.out, resume=args.resume, inputs=dataset_inputs(args.dataset, args.data_dir))
    if args.resume and out.exists():
        check_continuable(read_training_state(out)[1], args.epochs, out)
    from ..plugin.components import transform as build

    tr = build(args.transform, **dict(args.transform_param))
    pairs = parse_range(args.param_range, getattr(tr, "param_dim", None), broadcast=False, what="param_range") if args.param_range else None
    train_ds = load_dataset(args.dataset, split="train", root=args.data_dir, download=args.download)
    test_ds = load_dataset(args.dataset, split="test", root=args.data_dir, download=args.download)
    print(
        f"training a surrogate of {tr.describe()} on {args.dataset} "
        f"({min(len(train_ds), args.max_train or len(train_ds))} images, {args.epochs} epoch(s), batch {args.batch}, "
        f"Adam lr {args.lr:g}, L1 + {args.path_weight:g} x path penalty, device {device})",
        flush=True,
    )
    start = time.perf_counter()
    sur = train_surrogate(
        tr,
        train_ds,
        param_range=pairs,
        epochs=args.epochs,
        batch_size=args.batch,
        lr=args.lr,
        seed=args.seed,
        device=device,
        max_train=args.max_train,
        width=args.width,
        encoder_width=args.encoder_width,
        latent_sigma=args.latent_sigma,
        path_weight=args.path_weight,
        dataset_name=args.dataset,
        time_limit=args.time_limit,
        progress=not args.no_progress,
        log=lambda line: print(line, flush=True),
        checkpoint=out,
        resume=args.resume,
    )
    train_s = time.perf_counter() - start
    if sur.heldout is not None:  # --resume of a complete surrogate: left as it is (its SHA-256 unchanged)
        print(f"\nheld-out error of the surrogate of {tr.describe()} (as stored in {args.out}; "
              f"`gsmooth surrogate eval` evaluates it again):")
        print(sur.heldout.format_table(sur.param_units))
        print(f"nothing to do: {args.out} is complete")
        return 0
    ev = evaluate_surrogate(sur, test_ds, transform=tr, bins=args.bins, max_eval=args.max_eval, seed=args.seed, device=device)
    sur.heldout = ev
    save_surrogate(out, sur)
    print(f"\nheld-out error of the surrogate of {tr.describe()} (trained {train_s:.0f} s):")
    print(ev.format_table(sur.param_units))
    state = sur.resume_state or {}
    if state.get("position") is not None or state.get("epoch", args.epochs) < args.epochs:
        print(f"saved {args.out} (usable; trained {_progress(state.get('epoch', 0), state.get('position') is not None, args.epochs)} "
              f"before the time limit: add --resume to the same command to continue)")
    else:
        print(f"saved {args.out}")
    return 0


def _load_for_eval(args):
    device = check_device(args.device, what="--device")
    sur = load_surrogate(args.surrogate, map_location=device)
    name = args.dataset or sur.dataset
    if not name or name == "custom":
        raise InvalidParameterError(
            f"expected --dataset (the surrogate {args.surrogate!r} records no named dataset), got none"
        )
    ds = load_dataset(name, split=args.split, root=args.data_dir, download=args.download)
    pairs = parse_range(args.param_range, sur.param_dim, broadcast=False, what="param_range") if args.param_range else None
    return device, sur, ds, pairs


def run_eval(args) -> int:
    device, sur, ds, pairs = _load_for_eval(args)
    print(_describe(sur))
    ev = evaluate_surrogate(
        sur, ds, param_range=pairs, bins=args.bins, max_eval=args.max_eval, seed=args.seed, device=device,
        latent_sigma=args.latent_sigma,
    )
    print(ev.format_table(sur.param_units))
    if args.g_images:
        hg = heldout_G(sur, ds, param_range=pairs, images=args.g_images, grid=args.grid, device=device)
        rng = ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in hg.param_range)
        print(f"held-out G over {len(hg.values)} {ds_label(ds, args)} image(s) (grid of {hg.grid} point(s) per parameter "
              f"in {rng}): mean {hg.mean:.5g}, max {hg.max:.5g}  (estimates: grid maxima; {hg.method})")
        sigma_theta, sigma_xi = _mstar_sigmas(sur, args)
        if sigma_theta is not None and sigma_xi is not None:
            mean, top = hg.mstar(sigma_theta, sigma_xi)
            print(f"M* = sqrt(1 + G^2 sigma_theta^2/sigma_xi^2) at sigma_theta {sigma_theta:g}, sigma_xi {sigma_xi:g}: "
                  f"mean {mean:.5g}, max {top:.5g}")
        else:
            print("M*: not computed (the transform declares no default sigma/latent_sigma; pass --sigma-theta and "
                  "--sigma-xi)")
    return 0


def ds_label(ds, args) -> str:
    """``fashion-mnist test`` for the output."""
    return f"{getattr(ds, 'name', None) or args.dataset or ''} {args.split}".strip()


def _mstar_sigmas(sur, args):
    """(σ_θ, σ_ξ) for M*: the options, else the transform's defaults (None where neither)."""
    from ..core.defaults import defaults_of
    from ..errors import UnknownComponentError

    try:
        table = defaults_of(sur.transform_name)
    except UnknownComponentError:
        table = None
    sigma_theta = args.sigma_theta if args.sigma_theta is not None else (table.sigma if table is not None else None)
    sigma_xi = args.sigma_xi if args.sigma_xi is not None else (table.latent_sigma if table is not None else None)
    return sigma_theta, sigma_xi


def run_lipschitz(args) -> int:
    device, sur, ds, pairs = _load_for_eval(args)
    if args.sigma_ratio is None:  # as `gsmooth certify` for a model trained with the transform's defaults
        from ..core.defaults import defaults_of

        table = defaults_of(sur.transform_name)
        args.sigma_ratio = table.sigma_ratio if table is not None and table.sigma_ratio is not None else 1.0
    st = SurrogateTransform(
        surrogate=sur, sigma_ratio=args.sigma_ratio, certified_range=pairs, grid=args.grid, iters=args.iters,
        method=args.method, fd_check=not args.no_fd_check,
    )
    st.to(device)
    print(_describe(sur))
    rng = ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in st.range_pairs())
    print(f"G per image over a grid of {args.grid} point(s) per parameter in {rng}; M* = sqrt(1 + G^2/{args.sigma_ratio:g}^2)")
    print(f"{'idx':>6}  {'label':>5}  {'G':>10}  {'argmax α':>10}  {'M*':>10}  {'ms':>8}")
    ms, mstars = [], []
    notes = set()
    stop = min(len(ds), args.start + args.max)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LipschitzWarning)  # collected from the estimates below
        if args.start < stop:  # untimed warm-up (first-call library set-up), then forget it
            st.lipschitz_factor(ds[args.start][0].to(device))
            st.clear_cache()
        for i in range(args.start, stop):
            x, y = ds[i]
            t0 = time.perf_counter()
            est = st.lipschitz_estimate(x.to(device))
            m_star = st.lipschitz_factor(x.to(device))  # from the estimate just cached
            dt = (time.perf_counter() - t0) * 1000
            notes.update(n.split(", first at")[0] for n in est.notes)
            ms.append(dt)
            mstars.append(m_star)
            arg = ",".join(f"{v:g}" for v in est.argmax.tolist())
            print(f"{i:>6}  {y:>5}  {est.G:>10.5g}  {arg:>10}  {m_star:>10.5g}  {dt:>8.1f}", flush=True)
    if not mstars:
        raise InvalidParameterError(f"expected at least one image from --start {args.start}, got none (split has {len(ds)})")
    n = len(mstars)
    mean = sum(mstars) / n
    print(
        f"M* over {n} image(s): mean {mean:.5g}, max {max(mstars):.5g}, min {min(mstars):.5g}; "
        f"cost {sum(ms) / n:.1f} ms/image on {device} after one untimed warm-up ({est.method})"
    )
    print(
        "note: G is an estimate (maximum over the grid points, not the continuous range), so this M* is a "
        "diagnostic; `gsmooth certify` bounds each slice's path instead (gsmooth.surrogate.path_bounds; rows say whether "
        "the bound is sound or an estimate in their guarantee column)."
    )
    for note in sorted(notes):
        print(f"note: {note} (in some images)")
    return 0
