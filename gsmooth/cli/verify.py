"""``gsmooth verify``: deterministic verification of the base model itself (no smoothing): for each
selected test image and each radius, YES (proved), NO (a counterexample, checked by a forward pass)
or MAYBE; or the largest certified radius by bisection. One TSV row per image, resumable; ``gsmooth
analyze`` reads the rows (certified accuracy against eps, one table per norm).

Everything happens in :func:`gsmooth.run.verify`; this module parses the arguments and prints.
"""

from __future__ import annotations

import argparse
import math

from ..run import runner
from ..run.config import DEFAULT_EPS_MAX, DEFAULT_RADIUS_TOL, DEFAULT_TIME_LIMIT, VerifyConfig
from .common import CLI_NAMES, HelpFormatter, add_launch_args, add_model_args, nonneg_int, positive_float, positive_int, results_interrupted

#: How messages name the configuration's fields on the command line.
NAMES = {**CLI_NAMES, "save_adversarial": "--save-adversarial", "dataset": "--dataset"}


def eps_list(text: str) -> tuple[float, ...]:
    """``--eps``: comma-separated radii, each a finite number >= 0."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated radii like 0.01,0.02, got {text!r}") from None
    if not values or not all(math.isfinite(v) and v >= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected radii that are finite numbers >= 0, got {text!r}")
    return tuple(values)


def domain_arg(text: str):
    """``--domain``: ``LOW:HIGH`` (finite, LOW <= HIGH) or ``none``."""
    if text.strip().lower() == "none":
        return None
    parts = text.split(":")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        lo = hi = math.nan
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise argparse.ArgumentTypeError(f"expected LOW:HIGH with finite LOW <= HIGH (e.g. 0:1) or none, got {text!r}")
    return (lo, hi)


def time_limit_arg(text: str):
    """``--time-limit``: a positive number of seconds, or ``none``."""
    if text.strip().lower() == "none":
        return None
    return positive_float(text)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "verify",
        help="verify the base model itself: YES / NO / MAYBE per radius (MILP, LP, IBP, CROWN)",
        description=(
            "Deterministic verification of the checkpoint's model (no smoothing): is every input within eps of "
            "the image (linf or l2 ball, intersected with --domain) classified as the label? milp: exact (big-M "
            "mixed-integer program, scipy/HiGHS): YES, NO with a counterexample checked by a forward pass of the "
            "model, or MAYBE at the time limit; lp: the triangle LP relaxation; crown, ibp: bound propagation "
            "(fast, YES or MAYBE). A misclassified image is NO at every radius. YES is a proof for the "
            "real-arithmetic network with the model's weights (margins must exceed --tolerance, 1e-6). The model "
            "must be a feed-forward ReLU chain (Linear, Conv2d, ReLU, Flatten, BatchNorm/Dropout in eval, "
            "AvgPool); others are refused before any work. One row per image is appended to --out; re-running the "
            "same command resumes; `gsmooth analyze` reads the file."
        ),
        epilog=(
            "examples: gsmooth verify --model fm_mlp100.pt --method milp --norm linf --eps 0.01,0.02,0.05 --max 100 "
            "--out milp.tsv; gsmooth verify --model fm_mlp100.pt --method crown --norm l2 --radius-search --out crown.tsv"
        ),
        formatter_class=HelpFormatter,
    )
    add_model_args(p, engine=False)  # no smoother: --precision/--channels-last/--compile mean nothing here
    g = p.add_argument_group("verification")
    g.add_argument("--method", required=True, choices=("milp", "lp", "ibp", "crown"),
                   help="milp (exact), lp (triangle relaxation), crown or ibp (bound propagation)")
    g.add_argument("--norm", required=True, choices=("linf", "l2"), help="the norm of the perturbation ball (pixel space)")
    which = g.add_mutually_exclusive_group(required=True)
    which.add_argument("--eps", type=eps_list, metavar="E[,E2,...]", help="the radii to verify (sorted, repeats dropped)")
    which.add_argument("--radius-search", action="store_true",
                       help="the largest certified radius by bisection (from eps = 0 and --eps-max)")
    g.add_argument("--eps-max", type=positive_float, default=None, metavar="E",
                   help=f"with --radius-search: the top of the bracket (default: {DEFAULT_EPS_MAX['linf']:g} for linf, "
                   f"{DEFAULT_EPS_MAX['l2']:g} for l2)")
    g.add_argument("--radius-tol", type=positive_float, default=None, metavar="T",
                   help=f"with --radius-search: stop when the bracket is narrower (default: {DEFAULT_RADIUS_TOL:g})")
    g.add_argument("--domain", type=domain_arg, default=(0.0, 1.0), metavar="LOW:HIGH|none",
                   help="bounds of every pixel, intersected with the ball (default: 0:1); none: the whole ball, as "
                   "randomized smoothing certifies it")
    g.add_argument("--time-limit", type=time_limit_arg, default=DEFAULT_TIME_LIMIT, metavar="S|none",
                   help=f"seconds per LP / MILP verification, one image at one eps (default: {DEFAULT_TIME_LIMIT:g}); a "
                   "verification stopped there is MAYBE (status time_limit); ibp and crown ignore it")
    g.add_argument("--tolerance", type=positive_float, default=1e-6, metavar="T",
                   help="YES needs every margin's proven lower bound above T (default: 1e-6, the solvers' tolerances; "
                   "the float32 model's own rounding is ~1e-5 on small MLPs: 1e-4 keeps YES clear of it)")
    g.add_argument("--every-eps", action="store_true",
                   help="with --eps: verify every radius even after one was answered MAYBE (default: the larger radii "
                   "of that image are skipped, status skipped; a NO is never re-solved at a larger radius, its "
                   "counterexample lies in every larger ball)")
    g.add_argument("--save-adversarial", metavar="DIR",
                   help="write each NO's adversarial input as a (C,H,W) tensor DIR/idx<idx>_eps<eps>.pt")
    s = p.add_argument_group("images")
    s.add_argument("--skip", type=positive_int, default=1, help="evaluate every SKIP-th image of the split (default: 1)")
    s.add_argument("--start", type=nonneg_int, default=0, help="index of the first image (default: 0)")
    s.add_argument("--max", type=positive_int, default=None, help="evaluate at most MAX images (default: all)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_launch_args(p)
    p.add_argument("--out", required=True, metavar="TSV", help="results file (TSV; configuration in TSV.json)")
    p.set_defaults(func=run)


#: After Ctrl-C / SIGTERM (see :func:`gsmooth.cli.interrupted_message`).
interrupted = results_interrupted


def verify_config(args) -> VerifyConfig:
    """The run configuration of ``gsmooth verify``'s arguments."""
    from ..errors import InvalidParameterError

    if args.radius_search and args.every_eps:
        raise InvalidParameterError("--every-eps expected --eps with it, got --radius-search")
    if not args.radius_search:
        for flag, value in (("--eps-max", args.eps_max), ("--radius-tol", args.radius_tol)):
            if value is not None:
                raise InvalidParameterError(f"{flag} expected --radius-search with it, got --eps {','.join(map(repr, args.eps))}")
    return VerifyConfig(
        model=args.model, out=args.out, dataset=args.dataset, split=args.split, data_dir=args.data_dir,
        download=args.download, device=args.device, method=args.method, norm=args.norm,
        eps=None if args.radius_search else args.eps, radius_search=args.radius_search, eps_max=args.eps_max,
        radius_tol=args.radius_tol, domain=args.domain, time_limit=args.time_limit,
        save_adversarial=args.save_adversarial, every_eps=args.every_eps, tolerance=args.tolerance, start=args.start, skip=args.skip, max=args.max,
        progress=not args.no_progress,
    )


def _counts(column, position: int | None = None) -> dict:
    """``{answer: count}`` over the rows (entry ``position`` of each row's list, or all entries)."""
    out: dict = {}
    for text in column:
        items = str(text).split(",")
        for item in (items if position is None else [items[position]]):
            out[item] = out.get(item, 0) + 1
    return out


def print_summary(config: VerifyConfig, done, table) -> None:
    net = done.setup.network
    sizes = "-".join(str(v) for v in (net.num_inputs, *net.hidden_sizes, net.num_outputs))
    domain = "no domain (the whole ball)" if config.domain is None else f"domain [{config.domain[0]:g}, {config.domain[1]:g}]"
    limit = "no time limit" if config.time_limit is None else f"time limit {config.time_limit:g} s per verification"
    n = len(table)
    print(f"gsmooth verify: {n} images of {done.setup.dataset_name} ({config.split}), {done.elapsed:.1f} s")
    print(f"  model      {config.model} ({done.setup.checkpoint.arch}; ReLU network {sizes}, {net.num_relus} ReLUs)")
    print(f"  method     {config.method}, {config.norm} ball intersected with {domain}; "
          f"{limit if config.method in ('lp', 'milp') else 'no solver, no time limit'}")
    statuses = _counts(table.extra["status"])
    if config.radius_search:
        s_acc = table.radius[table.correct.astype(bool)]
        acr = float(s_acc.sum() / n)
        print(f"  search     eps in [0, {config.eps_max:g}] to within {config.radius_tol:g}; mean certified radius (ACR) "
              f"{acr:.4g}; median over correct images {float(_median(s_acc)):.4g}")
    else:
        answers = table.extra["answers"]
        print("  eps        " + "  ".join(f"{e:>8g}" for e in config.eps))
        for word in ("YES", "NO", "MAYBE"):
            counts = [_counts(answers, i).get(word, 0) for i in range(len(config.eps))]
            print(f"  {word:<9}  " + "  ".join(f"{c:>8d}" for c in counts))
        print("  certified accuracy (fraction of all images answered YES at eps): "
              + "  ".join(f"{e:g}: {_counts(answers, i).get('YES', 0) / n:.3f}" for i, e in enumerate(config.eps)))
    timeouts = statuses.get("time_limit", 0)
    if timeouts:
        print(f"  timeouts   {timeouts} verification(s) reached the time limit (answered MAYBE)")
    print(f"  accuracy   {float(table.correct.mean()):.3f} of the images classified correctly (misclassified: NO at every eps)")
    print(f"  rows       {config.out}  (one row per image; configuration in {config.out}.json; `gsmooth analyze "
          f"{config.out}` gives certified accuracy against eps)")


def _median(values):
    import numpy as np

    return np.median(values) if len(values) else math.nan


def run(args) -> int:
    config = verify_config(args)
    done = runner.verify(config, names=NAMES)
    print_summary(config, done, done.results())
    return 0
