"""``gsmooth certify``: CERTIFY every selected test image; one TSV row per image, resumable.

Additive noise (the default): Cohen's radius in pixel space, columns as always. A transform with a
parameter (``--transform brightness``, …): the radius is in the transform's parameter units around
θ = 0, or, with ``--range lo:hi``, an interval certificate for the whole range (K slices at α/K each,
see :mod:`gsmooth.interval.engine`); rows then carry the transform's extra columns.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings

from ..evaluation.analysis import summarize
from ..embedded import QUICKSTART_TIME
from ..errors import InvalidParameterError
from ..core.ranges import format_range, parse_range
from ..interval.engine import check_interval_support
from ..io.results import read_results
from ..core.defaults import DEFAULT_SLICES, defaults_of
from .common import (
    HelpFormatter,
    add_model_args,
    add_sampling_args,
    add_smoothing_args,
    apply_embedded_default,
    base_config,
    check_results_out,
    results_interrupted,
    inner_progress,
    parse_range_arg,
    positive_int,
    run_config_fields,
    setup_smoother,
    write_rows,
)
from ..run.config import CertifyConfig

COLUMNS = ["p_lower", "count", "n0", "n", "alpha", "noise", "transform", "kind", "norm", "mstar", "guarantee"]
#: Extra columns of rows for a transform with a parameter (radius around θ = 0, or an interval).
TRANSFORM_COLUMNS = COLUMNS + [
    "certificate",  # "radius" (around θ = 0) or "interval"
    "range",  # the certified range lo:hi[,lo:hi] (for a surrogate in radius mode: the range G was taken over)
    "slices",  # slices per parameter, e.g. 10 or 5x5
    "family_alpha",  # family-wise failure probability (= alpha)
    "slice_alpha",  # alpha / K per slice (Bonferroni)
    "requirement",  # radius each slice had to exceed
    "margin",  # min over slices of (radius - requirement); > 0 needed
    "units",  # what the radius / range measure
    "slice_predictions",  # class of every slice
]


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
        "--require-sound", action="store_true",
        help="refuse certificates whose M* is a grid estimate rather than a proven bound (surrogate transforms "
        "without a proven path speed bound, or with several parameters); exact transforms always pass",
    )
    add_sampling_args(p, n_default=100_000, certify=True, embedded=True)
    p.add_argument("--out", metavar="TSV", help="results file (TSV; configuration in TSV.json); needed with --model; "
                   "without --model: gsmooth-certify-<transform>.tsv in the current folder")
    p.set_defaults(func=run)


def _row(c) -> dict:
    return {
        "radius": c.radius,
        "p_lower": c.p_lower,
        "count": c.count,
        "n0": c.n0,
        "n": c.n,
        "alpha": c.alpha,
        "noise": c.noise,
        "transform": c.transform,
        "kind": c.kind,
        "norm": c.norm,
        "mstar": c.lipschitz,
        "guarantee": c.guarantee,  # exact | sound | estimate (what M* rests on)
    }


def check_certifiable(setup) -> None:
    """Refuse transforms whose radius would not be a certificate about transformed images."""
    transform, name = setup.smoother.transform, setup.transform_name
    if transform.kind == "empirical":
        raise InvalidParameterError(
            f"transform {name!r} is of kind 'empirical': a radius in its parameter would not certify transformed "
            f"images, so nothing is certified. Train a surrogate first (`gsmooth surrogate train --transform {name} "
            f"--dataset {setup.dataset_name} --out {name}_surrogate.pt`), then pass --surrogate {name}_surrogate.pt "
            f"(and train the base model on it: `gsmooth train --transform {name} --surrogate …`)"
        )
    check_interval_support(transform, setup.smoother.noise)  # e.g. contrast with a non-Gaussian noise: a clear refusal


def resolve_range(spec: str | None, setup) -> tuple[tuple[float, float], ...] | None:
    """The pairs of a range ``spec`` (``"lo:hi[,lo:hi]"``; ``None``: no range, i.e. without --range);
    ``"default"`` (``--range`` alone) takes the transform's default range."""
    if spec is None:
        return None
    d = setup.smoother.center_dim
    if spec != "default":
        return parse_range(spec, d)
    table = defaults_of(setup.transform_name)
    if table is not None and table.range is not None:
        return parse_range(list(table.range), d)
    own = setup.smoother.transform.point_certificate_range()  # a surrogate's path range
    if own:
        return parse_range(list(own), d)
    raise InvalidParameterError(
        f"no default range for transform {setup.transform_name!r}; expected --range LO:HI, got --range without a value"
    )


def resolve_slices(slices: int | None, setup) -> int:
    """``slices`` per parameter (``--slices``), else the transform's default."""
    if slices is not None:
        return slices
    table = defaults_of(setup.transform_name)
    return table.slices if table is not None else DEFAULT_SLICES


def surrogate_range_text(transform) -> str:
    pairs = transform.point_certificate_range()  # a surrogate's path range; None for other transforms
    return format_range(pairs) if pairs else ""


def _radius_meaning(norm: str) -> str:
    """What a point certificate's radius claims, for one-sided (``param+``) and two-sided noises."""
    if norm.startswith("param+"):
        return "for increases of theta from 0 up to the radius"
    return "radius around theta=0"


def check_guarantee(require_sound: bool, transform) -> None:
    """``--require-sound``: refuse, before any work, a certificate whose M* would be an estimate."""
    if not require_sound or transform.kind == "exact":
        return
    label = transform.guarantee
    if label != "sound":
        raise InvalidParameterError(
            f"--require-sound: expected a certificate resting on a proven bound, got guarantee {label!r} for "
            f"{transform.describe()} (its true transform provides no proven path speed bound, or it has several "
            "parameters, so M* would be a grid estimate); drop --require-sound to accept certificates labelled "
            "'estimate'"
        )


def _transform_row(c, *, units: str, range_text: str) -> dict:
    row = _row(c)
    if hasattr(c, "num_slices"):  # an IntervalCertificate
        row.update(
            certificate="interval",
            range=c.range,
            slices="x".join(str(k) for k in c.slices),
            family_alpha=c.family_alpha,
            slice_alpha=c.slice_alpha,
            requirement=c.requirement,
            margin=c.margin,
            units=units,
            slice_predictions=",".join(str(p) for p in c.slice_predictions),
        )
    else:
        row.update(
            certificate="radius",
            range=range_text,
            slices="",
            family_alpha=c.alpha,
            slice_alpha="",
            requirement="",
            margin="",
            units=f"{units or 'parameter units'} ({_radius_meaning(c.norm)})",
            slice_predictions="",
        )
    return row


@contextlib.contextmanager
def collected_lipschitz_warnings():
    """Collect :class:`gsmooth.surrogate.lipschitz.LipschitzWarning` messages (distinct ones, in order) instead of
    printing them while rows are computed; every other warning is shown as usual."""
    from ..surrogate.lipschitz import LipschitzWarning

    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield notes
        finally:
            for w in caught:
                if issubclass(w.category, LipschitzWarning):
                    text = getattr(w.message, "summary", str(w.message))  # without the pointer into the API
                    if text not in notes:
                        notes.append(text)
    for w in caught:
        if not issubclass(w.category, LipschitzWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def print_summary(args, setup, elapsed: float, s, *, lines: list[str]) -> None:
    """A short readable summary of a certify run on standard output."""
    from ..embedded import SAMPLE_DATASET

    smoother = setup.smoother
    data = setup.dataset_name + (" (the test images shipped in the package)" if setup.dataset_name == SAMPLE_DATASET else "")
    print(f"gsmooth certify: {s.n_points} images of {data}, {elapsed:.1f} s")
    print(f"  model      {args.model}")
    print(f"  smoothing  {smoother.noise.describe()} on {smoother.transform.describe()}; n0={args.n0}, n={args.n}, "
          f"alpha={args.alpha:g}, seed={args.seed}")
    for line in lines:
        print(f"  {line}")
    if getattr(args, "embedded", None) is not None:
        print(f"  note       embedded default: small model, {s.n_points} images, n={args.n} samples per test (papers: "
              f"n=100,000) -> smaller radii than a full run; pass --model CKPT for your own")
    print(f"  rows       {args.out}  (one row per image; configuration in {args.out}.json; the summary covers the "
          f"{s.n_points} images selected by this command)")


#: After Ctrl-C / SIGTERM (see :func:`gsmooth.cli.interrupted_message`).
interrupted = results_interrupted


def certify_config(args) -> CertifyConfig:
    """The run configuration of ``gsmooth certify``'s arguments (after the embedded defaults)."""
    return CertifyConfig(
        **run_config_fields(args), n0=args.n0, alpha=args.alpha, range=args.range, slices=args.slices,
        require_sound=args.require_sound,
    )


def run(args) -> int:
    args.embedded = apply_embedded_default(args, "certify")
    config = certify_config(args)
    check_results_out(config)  # before loading anything: the output may be written
    setup = setup_smoother(config)
    smoother = setup.smoother

    if smoother.transform.param_dim is None:
        if config.range is not None or config.slices is not None:
            raise InvalidParameterError(
                f"--range/--slices certify a transformation parameter; expected a transform with a parameter "
                f"(--transform brightness, gaussian_blur, …), got {setup.transform_name!r} (additive pixel noise)"
            )

        # Images share a forward batch while their sample counts are small compared to --batch; with
        # n >= batch each image is certified (and written) on its own.
        group = max(1, config.batch_size // max(config.n, config.n0))
        progress_inside = inner_progress(config, group * (config.n0 + config.n))

        def compute(images, keys):
            return smoother.certify(
                images, n0=config.n0, n=config.n, alpha=config.alpha, batch_size=config.batch_size, seed=config.seed,
                keys=keys, progress=progress_inside,
            )

        done = write_rows(
            config, setup, columns=COLUMNS, config=base_config(config, setup, "certify") | {"n0": config.n0},
            compute=compute, to_row=_row, radius=True, desc="certify", group=group,
        )
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
    return _run_transform(args, config, setup)


def _run_transform(args, config: CertifyConfig, setup) -> int:
    smoother = setup.smoother
    transform = smoother.transform
    check_certifiable(setup)
    check_guarantee(config.require_sound, transform)
    pairs = resolve_range(config.range, setup)
    if pairs is None and getattr(transform, "composes_additively", True) is False:
        # contrast: θ's do not add, so no radius around θ = 0 is a certificate; its range is
        pairs = resolve_range("default", setup)
        print(
            f"gsmooth certify: transform {setup.transform_name!r} is certified over a range (its parameters do not add "
            f"under composition, so a radius around theta = 0 would mean nothing); certifying its default range "
            f"{format_range(*zip(*pairs))} (--range LO:HI,LO:HI to choose)",
            file=sys.stderr,
        )
    units = getattr(transform, "param_units", "") or ""
    results_config = base_config(config, setup, "certify") | {"n0": config.n0}
    if pairs is None:
        if config.slices is not None:
            raise InvalidParameterError("--slices cuts a --range into slices; expected --range LO:HI with it, got none")
        transform.check_point_certificate()  # e.g. a surrogate whose path does not start at x: refused now
        range_text = surrogate_range_text(transform)
        results_config |= {"certificate": "radius", "range": range_text or None}
        group = max(1, config.batch_size // max(config.n, config.n0))
        progress_inside = inner_progress(config, group * (config.n0 + config.n))

        def compute(images, keys):
            return smoother.certify(
                images, n0=config.n0, n=config.n, alpha=config.alpha, batch_size=config.batch_size, seed=config.seed,
                keys=keys, progress=progress_inside,
            )
    else:
        slices = resolve_slices(config.slices, setup)
        low, high = [p[0] for p in pairs], [p[1] for p in pairs]
        range_text = format_range(low, high)
        results_config |= {"certificate": "interval", "range": range_text, "slices": slices}
        k_total = slices ** len(pairs)
        group = max(1, config.batch_size // (max(config.n, config.n0) * k_total))
        # every slice is sampled: an image with many slices is long even when n is small
        progress_inside = inner_progress(config, group * k_total * (config.n0 + config.n))

        def compute(images, keys):
            return smoother.certify_interval(
                images, low=low, high=high, slices=slices, n0=config.n0, n=config.n, alpha=config.alpha,
                batch_size=config.batch_size, seed=config.seed, keys=keys, progress=progress_inside,
            )

    with collected_lipschitz_warnings() as lipschitz_notes:  # said once in the summary, not mid-progress-bar
        done = write_rows(
            config, setup, columns=TRANSFORM_COLUMNS, config=results_config, compute=compute,
            to_row=lambda c: _transform_row(c, units=units, range_text=range_text), radius=True, desc="certify",
            group=group,
        )
    s = summarize(read_results(config.out).select(done.indices), [0.0], name=config.out)
    if pairs is None:
        meaning = _radius_meaning(smoother.norm).replace("theta=0", "theta = 0")
        lines = [
            f"certified accuracy at theta = 0 {s.clean_accuracy:.3f}; ACR {s.acr:.4g} {units or 'parameter units'} "
            f"({meaning}, alpha {args.alpha:g} per image); abstained {s.abstain_rate:.1%}",
        ]
    else:
        k_total = slices ** len(pairs)
        lines = [
            f"certified accuracy over the whole range [{range_text}] {units}: {s.clean_accuracy:.3f}  "
            f"(not certified: {s.abstain_rate:.1%})",
            f"family-wise alpha {args.alpha:g}: {k_total} slices at alpha/{k_total} = {args.alpha / k_total:.3g} each "
            f"(Bonferroni)",
        ]
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
    lines += [f"M* note: {m}" for m in lipschitz_notes]
    print_summary(args, setup, done.elapsed, s, lines=lines)
    return 0
