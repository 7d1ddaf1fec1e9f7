"""``gsmooth certify``: CERTIFY every selected test image; one TSV row per image, resumable.

Additive noise (the default): Cohen's radius in pixel space, columns as always. A transform with a
parameter (``--transform brightness``, …): the radius is in the transform's parameter units around
θ = 0, or, with ``--range lo:hi``, an interval certificate for the whole range (K slices at α/K each,
see :mod:`gsmooth.interval.engine`); rows then carry the transform's extra columns.
"""

from __future__ import annotations


from ..evaluation.analysis import summarize
from ..embedded import QUICKSTART_TIME
from ..io.results import read_results
from ..core.defaults import DEFAULT_SLICES
from ..run import runner
from ..run.runner import radius_meaning as _radius_meaning
from .common import (
    CLI_NAMES,
    HelpFormatter,
    add_launch_args,
    add_model_args,
    add_sampling_args,
    add_smoothing_args,
    apply_embedded_default,
    check_results_out,
    results_interrupted,
    parse_range_arg,
    positive_int,
    radii_arg,
    run_config_fields,
    setup_smoother,
    target_radii,
)
from ..run.config import CertifyConfig

#: The columns of the rows (:data:`gsmooth.run.runner.CERTIFY_COLUMNS`).
COLUMNS = runner.CERTIFY_COLUMNS
#: Extra columns of rows for a transform with a parameter (radius around θ = 0, or an interval).
TRANSFORM_COLUMNS = runner.CERTIFY_TRANSFORM_COLUMNS


def add_parser(sub) -> None:
    p = sub.add_parser(
        "certify",
        help="certify test images: prediction + certified radius per image",
        description=(
            "Certify each selected test image with Cohen et al.'s CERTIFY: n0 noisy samples pick the top "
            "class, n fresh samples bound its probability from below (Clopper-Pearson, level alpha); the "
            "image gets that class and a radius R (l2 for gaussian, l1 for laplace/uniform, parameter units "
            "for transforms), or abstains (predict = -1). With --transform T --range lo:hi the image is "
            "certified for every parameter in the range: the range is cut into K slices, each certified at "
            "level alpha/K (Bonferroni; alpha is then the family-wise level, printed), and the row's predict "
            "is the class if every slice agrees with a radius covering it, else -1. Transforms of kind "
            "empirical need a GSmooth surrogate (--surrogate, see `gsmooth surrogate train`). One row per "
            "image is appended to --out as soon as it is computed; re-running the same command resumes."
        ),
        epilog=(
            f"examples: gsmooth certify --transform rotational_blur (the embedded model, offline, {QUICKSTART_TIME}); "
            "gsmooth certify --model fm_sigma025.pt --n 10000 --max 200 --out results.tsv; "
            "gsmooth certify --model fm_bright.pt --transform brightness --range -0.2:0.2 --out bright.tsv "
            "(--range alone: the transform's default range; noise, sigma and slices default per transform, "
            "see gsmooth.core.defaults)"
        ),
        formatter_class=HelpFormatter,
    )
    add_model_args(p, embedded=True)
    add_smoothing_args(p)
    g = p.add_argument_group("interval certificates (transforms with a parameter)")
    g.add_argument(
        "--range", nargs="?", const="default", default=None, type=parse_range_arg, metavar="LO:HI",
        help="certify every parameter in [LO, HI] (LO1:HI1,LO2:HI2 for two parameters); without a value: the "
        "transform's default range; without --range: a radius around theta = 0",
    )
    g.add_argument("--slices", type=positive_int, default=None,
                   help=f"slices per parameter (default: per transform, usually {DEFAULT_SLICES})")
    g.add_argument(
        "--refine", type=_depth_arg, default=0, metavar="D",
        help="adaptive slicing (one parameter): split a slice that is not covered into halves, up to D times; alpha "
        "is allocated to the whole refinement tree in advance (family-wise alpha unchanged); rows gain a leaves column",
    )
    g.add_argument(
        "--require-sound", action="store_true",
        help="refuse certificates whose M* is a grid estimate rather than a proven bound (surrogate transforms "
        "without a proven path speed bound, or with several parameters); exact transforms always pass",
    )
    q = p.add_argument_group(
        "sequential certification (n becomes a maximum; rows gain a samples column)",
        "Each test's requirement is known before sampling, so its draws are counted at looks 100, 200, 400, ... "
        "with alpha split across the looks (90 % at the last one) and stop once the answer is sure. The "
        "statement and its alpha are unchanged (gsmooth.core.sequential).",
    )
    q.add_argument(
        "--sequential", action="store_true",
        help="with --range: stop each slice once its bound covers it or surely cannot, and an image at its first "
        "slice that surely fails",
    )
    q.add_argument(
        "--radii", type=radii_arg, default=None, metavar="R[,R...]",
        help="point certificates at target radii: stop each image once its radius reaches the largest target it "
        "can reach (the radius reported is the bound's own, at least the targets reached)",
    )
    q.add_argument("--target", type=radii_arg, default=None, metavar="R", help="one target radius (= --radii R)")
    add_sampling_args(p, n_default=100_000, certify=True, embedded=True)
    add_launch_args(p)
    p.add_argument("--out", metavar="TSV", help="results file (TSV; configuration in TSV.json); needed with --model; "
                   "without --model: gsmooth-certify-<transform>.tsv in the current folder")
    p.set_defaults(func=run)


def _depth_arg(text: str) -> int:
    """A refinement depth: an integer in [0, MAX_REFINE]."""
    import argparse

    from ..interval.engine import MAX_REFINE

    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_REFINE:
        raise argparse.ArgumentTypeError(f"expected an integer depth in [0, {MAX_REFINE}], got {text!r}")
    return value


def check_certifiable(setup) -> None:
    """Refuse transforms whose radius would not be a certificate about transformed images
    (:func:`gsmooth.run.runner.check_certifiable`, messages naming the flags)."""
    runner.check_certifiable(setup, names=CLI_NAMES)


def resolve_range(spec: str | None, setup) -> tuple[tuple[float, float], ...] | None:
    """The pairs of a range ``spec`` (:func:`gsmooth.run.runner.resolve_range`, messages naming the flags)."""
    return runner.resolve_range(spec, setup, names=CLI_NAMES)


def print_summary(args, setup, elapsed: float, s, *, lines: list[str]) -> None:
    """A short readable summary of a certify run on standard output."""
    from ..embedded import SAMPLE_DATASET

    smoother = setup.smoother
    data = setup.dataset_name + (" (the test images shipped in the package)" if setup.dataset_name == SAMPLE_DATASET else "")
    print(f"gsmooth certify: {s.n_points} images of {data}, {elapsed:.1f} s")
    print(f"  model      {args.model}")
    seq = getattr(args, "sequential", False) or getattr(args, "radii", None) or getattr(args, "target", None)
    n_text = f"n<={args.n} (sequential)" if seq else f"n={args.n}"
    print(f"  smoothing  {smoother.noise.describe()} on {smoother.transform.describe()}; n0={args.n0}, {n_text}, "
          f"alpha={args.alpha:g}, seed={args.seed}")
    for line in lines:
        print(f"  {line}")
    table = read_results(args.out).select(getattr(args, "_indices", ())) if seq else None
    if table is not None and "samples" in table.extra and len(table):
        used = table.extra["samples"].astype(float)
        per_test = (args.n0 + args.n) * getattr(args, "_tests_per_image", 1)
        tail = " without refinement" if getattr(args, "refine", 0) else ""
        print(f"  samples    {used.mean():,.0f} per image on average (max {used.max():,.0f}; fixed n would draw "
              f"{per_test:,}{tail}: {per_test / max(used.mean(), 1.0):.1f}x fewer)")
    if getattr(args, "embedded", None) is not None:
        print(f"  note       embedded default: small model, {s.n_points} images, n={args.n} samples per test (papers: "
              f"n=100,000) -> smaller radii than a full run; pass --model CKPT for your own")
    print(f"  rows       {args.out}  (one row per image; configuration in {args.out}.json; the summary covers the "
          f"{s.n_points} images selected by this command)")


#: After Ctrl-C / SIGTERM (see :func:`gsmooth.cli.interrupted_message`).
interrupted = results_interrupted


def certify_config(args) -> CertifyConfig:
    """The run configuration of ``gsmooth certify``'s arguments (after the embedded defaults)."""
    from ..errors import InvalidParameterError

    radii = target_radii(args)
    sequential = bool(getattr(args, "sequential", False))
    if radii is not None and args.range is not None:
        emb = getattr(args, "embedded", None)
        where = (f"the embedded default for {emb.transform!r} certifies its default range (an interval certificate), "
                 if emb is not None and emb.interval else "with --range ")
        raise InvalidParameterError(
            f"--radii/--target are targets of a point certificate; {where}each slice has its own requirement: "
            "expected --sequential, got --radii"
        )
    if args.refine and args.range is None:
        raise InvalidParameterError(f"--refine splits the slices of an interval certificate; expected --range LO:HI with "
                                    f"it, got --refine {args.refine} without --range")
    if sequential and args.range is None and radii is None:
        raise InvalidParameterError(
            "--sequential stops a test once its requirement is surely met or missed; expected --range LO:HI (interval "
            "certificates) or --radii R[,R...] (point certificates at target radii), got neither"
        )
    return CertifyConfig(
        **run_config_fields(args), n0=args.n0, alpha=args.alpha, range=args.range, slices=args.slices,
        require_sound=args.require_sound, sequential=sequential and args.range is not None, radii=radii,
        refine=args.refine,
    )


def run(args) -> int:
    args.embedded = apply_embedded_default(args, "certify")
    config = certify_config(args)
    check_results_out(config)  # before loading anything: the output may be written
    setup = setup_smoother(config)
    done = runner.certify(config, setup=setup, names=CLI_NAMES)
    args._indices = done.indices
    args._tests_per_image = done.slices ** len(done.pairs) if done.certificate == "interval" else 1
    smoother = setup.smoother
    transform = smoother.transform
    if done.certificate is None:  # additive pixel noise: Cohen's radius
        sigma = float(setup.noise_params.get("sigma", 0.25))
        radii = [0.0] + [round(f * sigma, 6) for f in (0.5, 1.0, 1.5, 2.0)]
        s = summarize(read_results(config.out).select(done.indices), radii, name=config.out)
        acc = "  ".join(f"r={r:g}: {a:.3f}" for r, a in zip(s.radii, s.certified_accuracy))
        print_summary(
            args, setup, done.elapsed, s,
            lines=[
                f"certified accuracy ({smoother.norm} radius)  {acc}",
                f"ACR {s.acr:.3f}   abstained {s.abstain_rate:.1%}   (certified accuracy at r = fraction of all images "
                f"correct with radius >= r)",
            ],
        )
        return 0
    units, range_text = done.units, done.range
    s = summarize(read_results(config.out).select(done.indices), [0.0], name=config.out)
    if done.certificate == "radius":
        meaning = _radius_meaning(smoother.norm).replace("theta=0", "theta = 0")
        lines = [
            f"certified accuracy at theta = 0 {s.clean_accuracy:.3f}; ACR {s.acr:.4g} {units or 'parameter units'} "
            f"({meaning}, alpha {args.alpha:g} per image); abstained {s.abstain_rate:.1%}",
        ]
    else:
        k_total = done.slices ** len(done.pairs)
        lines = [
            f"certified accuracy over the whole range [{range_text}] {units}: {s.clean_accuracy:.3f}  "
            f"(not certified: {s.abstain_rate:.1%})",
            f"family-wise alpha {args.alpha:g}: {k_total} slices at alpha/{k_total} = {args.alpha / k_total:.3g} each "
            f"(Bonferroni)",
        ]
        if args.refine:
            from ..interval.engine import refinement_alphas

            levels = ", ".join(f"{a:.3g}" for a in refinement_alphas(args.alpha, k_total, args.refine))
            lines[1] = (
                f"family-wise alpha {args.alpha:g} over the refinement tree (depth <= {args.refine}, slices halved where "
                f"not covered): one slice test at depth 0, 1, ... at alpha {levels}"
            )
    if transform.kind == "surrogate":
        if transform.guarantee == "sound":
            lines.append(
                "kind surrogate, guarantee sound: the certificate is for the surrogate-smoothed classifier on truly "
                "transformed images; M* (column mstar) is a proven bound on each slice's path (gsmooth.surrogate.path_bounds)"
            )
        else:
            lines.append(
                "kind surrogate, guarantee ESTIMATE: the certificate is for the surrogate-smoothed classifier on truly "
                "transformed images and relies on M* (column mstar), a grid estimate of the path's shift: an "
                "estimate, not a bound (--require-sound refuses it)"
            )
    lines += [f"M* note: {m}" for m in done.notes]
    print_summary(args, setup, done.elapsed, s, lines=lines)
    return 0
