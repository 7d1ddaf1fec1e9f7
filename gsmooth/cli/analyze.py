"""``gsmooth analyze``: certified accuracy per radius, ACR and abstention rate; optional plot.

Files are grouped by what their radius measures (:func:`gsmooth.evaluation.analysis.radius_unit`, read from
each file's own ``norm``/``units``/``certificate``/``transform``/``range`` columns and sidecar):
an ℓ2 pixel radius, an ℓ1 one, a transform's parameter in its units, or an interval certificate
over one range. Each group gets its own table (a heading naming the unit, a legend line saying
what each column means) and its own plot panel; numbers are never put side by side across
groups. Cohen-format files (locuslab/smoothing, no ``norm`` column) are read as Gaussian ℓ2 pixel
radii, and the output says so.

``--radii`` applies to every radius group as given (0.25 means 0.25 of each group's own unit);
without it each group gets 0 and up to four round steps up to its largest certified radius.
Interval groups have no radius axis: they report the fraction certified over their whole range.

Files without a radius column (``gsmooth predict``/``attack`` output) are refused with one line,
and so is a ``--plot`` path that is an input file or already exists.

``--bound cohen|pixeldp|li`` re-scores files of Gaussian ℓ2 point certificates with that bound
(:func:`gsmooth.evaluation.analysis.rescore`: p_A = each row's ``p_lower``, p_B = 1 − p_A, σ from the
file; Cohen-format files without ``p_lower`` need ``--sigma``, p_A = Φ(radius/σ)); the heading says
which bound re-scored the table. Other files (Laplace ℓ1, transforms, interval certificates,
verification rows) and files of unknown σ are refused with one line.
"""

from __future__ import annotations

import argparse

from ..evaluation.analysis import group_by_unit, markdown_report, plot_certified_accuracy, summarize, summarize_rescored
from ..errors import InvalidParameterError
from ..io.results import sidecar_path
from .common import HelpFormatter


def _radii(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated radii like 0,0.25,0.5, got {text!r}") from None
    if not values or any(not v >= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected non-negative radii, got {text!r}")
    return values


def add_parser(sub) -> None:
    p = sub.add_parser(
        "analyze",
        help="certified accuracy table (markdown) and curve from results files",
        description=(
            "Summarise results files from `gsmooth certify` (or locuslab/smoothing's Cohen-format TSVs, read as "
            "Gaussian l2 radii in pixel space): certified accuracy at each radius = fraction of ALL rows that are "
            "correct with radius >= r (abstentions count as wrong), the average certified radius (ACR) and the "
            "abstention rate. Files are grouped by what their radius measures (l2 or l1 pixels, a transform's "
            "parameter in its units, an interval certificate over one range), read from each file's own columns: "
            "one table and one plot panel per group, never one axis for different units. Interval certificates "
            "report the fraction certified over the whole range (no radius, no ACR). Files without a radius "
            "column (gsmooth predict/attack output) are refused."
        ),
        epilog=(
            "example: gsmooth analyze a.tsv b.tsv --radii 0,0.25,0.5,0.75,1 --plot curve.png; "
            "loose vs tight bounds: gsmooth analyze a.tsv --bound pixeldp"
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("files", nargs="+", metavar="TSV", help="results files of `gsmooth certify` (or Cohen-format)")
    p.add_argument(
        "--radii", type=_radii, default=None,
        help="comma-separated radii, applied to every radius group as given, each in its own unit (default: per "
        "group, 0 and up to 4 round steps up to the group's largest certified radius); interval groups ignore it",
    )
    p.add_argument("--labels", help="comma-separated curve/table labels, one per file (default: file names)")
    p.add_argument(
        "--bound", choices=("cohen", "pixeldp", "li"), default=None,
        help="re-score Gaussian l2 point certificates from each row's p_lower (p_B = 1 - p_A) with Cohen et al.'s "
        "tight radius, PixelDP's (Lecuyer et al. 2019) or Li et al.'s Renyi bound (2019); other files are refused",
    )
    p.add_argument(
        "--sigma", type=float, default=None,
        help="with --bound: the Gaussian noise's sigma of files that do not record it (Cohen format: p_A is "
        "recovered as Phi(radius/sigma)); must agree with a file's own sigma",
    )
    p.add_argument(
        "--plot", metavar="PNG",
        help="draw certified accuracy against radius: one panel per unit group, one curve per file; the path must "
        "not exist yet and must not be an input",
    )
    p.set_defaults(func=run)


def _check_plot_path(plot: str, inputs: list[str]) -> None:
    """``--plot``: a new file (gsmooth never overwrites one it did not write), none of the inputs or
    their sidecars, in a writable folder, with a suffix matplotlib writes — before reading anything."""
    from ..evaluation.analysis import plot_format
    from ..io.output_files import check_output_file

    named = {f"input {name}": name for name in inputs} | {f"sidecar of {name}": sidecar_path(name) for name in inputs}
    check_output_file(plot, option="--plot", inputs=named, advice="choose another --plot or delete it")
    plot_format(plot)


def run(args) -> int:
    labels = args.labels.split(",") if args.labels else None
    if labels is not None and len(labels) != len(args.files):
        raise InvalidParameterError(f"--labels expected {len(args.files)} labels (one per file), got {len(labels)}")
    if args.plot:
        _check_plot_path(args.plot, args.files)
    if args.sigma is not None and args.bound is None:
        raise InvalidParameterError(f"--sigma expected together with --bound, got --sigma {args.sigma:g} alone")
    if args.bound is not None:
        summaries = [
            summarize_rescored(f, args.bound, [0.0], sigma=args.sigma, name=labels[i] if labels else None)
            for i, f in enumerate(args.files)
        ]
    else:
        summaries = [
            summarize(f, [0.0], name=labels[i] if labels else None) for i, f in enumerate(args.files)
        ]
    print(markdown_report(summaries, args.radii))
    if args.plot:
        path = plot_certified_accuracy(summaries, args.plot)
        panels = len(group_by_unit(summaries))
        print(f"\nplot written to {path} ({panels} panel{'s' if panels > 1 else ''}, one per unit group)")
    return 0
