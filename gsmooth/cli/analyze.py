"""``gsmooth analyze``: certified accuracy per radius, ACR and abstention rate; optional plot."""

from __future__ import annotations

import argparse

from ..analysis import markdown_table, plot_certified_accuracy, summarize
from ..errors import InvalidParameterError
from .common import HelpFormatter


def _radii(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated radii like 0,0.25,0.5, got {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected non-negative radii, got {text!r}")
    return values


def add_parser(sub) -> None:
    p = sub.add_parser(
        "analyze",
        help="certified accuracy table (markdown) and curve from results files",
        description=(
            "Summarise results files from `gsmooth certify` (or locuslab/smoothing's Cohen-format TSVs): "
            "certified accuracy at each radius = fraction of ALL rows that are correct with radius >= r "
            "(abstentions count as wrong), the average certified radius (ACR) and the abstention rate."
        ),
        epilog="example: gsmooth analyze a.tsv b.tsv --radii 0,0.25,0.5,0.75,1 --plot curve.png",
        formatter_class=HelpFormatter,
    )
    p.add_argument("files", nargs="+", metavar="TSV", help="results files")
    p.add_argument("--radii", type=_radii, default=[0.0, 0.25, 0.5, 0.75, 1.0], help="comma-separated radii")
    p.add_argument("--labels", help="comma-separated curve/table labels, one per file (default: file names)")
    p.add_argument("--plot", metavar="PNG", help="draw certified accuracy against radius, one curve per file")
    p.set_defaults(func=run)


def run(args) -> int:
    labels = args.labels.split(",") if args.labels else None
    if labels is not None and len(labels) != len(args.files):
        raise InvalidParameterError(f"--labels expected {len(args.files)} labels (one per file), got {len(labels)}")
    summaries = [
        summarize(f, args.radii, name=labels[i] if labels else None) for i, f in enumerate(args.files)
    ]
    print(markdown_table(summaries, args.radii))
    from ..analysis import is_interval_results

    interval = [s.name for s in summaries if is_interval_results(s.table)]
    if interval:
        print(
            f"\nACR n/a for {', '.join(interval)}: interval certificates (one range per row; the radius column is the "
            "range's extent when certified), so certified accuracy at r <= extent is the fraction certified over the "
            "whole range and an average radius means nothing"
        )
    if args.plot:
        path = plot_certified_accuracy(summaries, args.plot, labels=labels)
        print(f"\nplot written to {path}")
    return 0
