"""Fixed-n against sequential certification, side by side: certified accuracy at the targets and
noise draws per image.

    python experiments/sequential/compare.py --radii 0.25,0.5 --pair "σ=0.25" FIXED.tsv SEQ.tsv [--pair …]
    python experiments/sequential/compare.py --interval --pair brightness FIXED.tsv SEQ.tsv

For point certificates (``--radii``) an image counts at radius r if it is correct with radius ≥ r;
for interval certificates (``--interval``) if it is certified for the whole range with the true
class. Draws per image: the ``samples`` column of a sequential file; for a fixed-n file
``n0 + n`` per test (× the slices of an interval). Only images present in both files are compared.
Prints a markdown table.
"""

from __future__ import annotations

import argparse

import numpy as np

from gsmooth.io.results import read_results


def _draws(table) -> np.ndarray:
    if "samples" in table.extra:
        return table.extra["samples"].astype(np.float64)
    n0, n = table.extra["n0"].astype(np.float64), table.extra["n"].astype(np.float64)
    slices = np.ones(len(table))
    if "slices" in table.extra:
        slices = np.array([np.prod([int(k) for k in str(s).split("x")]) if str(s) else 1 for s in table.extra["slices"]])
    return (n0 + n) * slices


def _seconds(table) -> float:
    return float(np.nansum(table.time)) / max(len(table), 1) if table.time is not None else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--radii", default=None, help="target radii, comma-separated (point certificates)")
    ap.add_argument("--interval", action="store_true", help="interval certificates (certified for the whole range)")
    ap.add_argument("--pair", nargs=3, action="append", metavar=("LABEL", "FIXED", "SEQUENTIAL"), required=True)
    args = ap.parse_args()
    radii = [float(r) for r in args.radii.split(",")] if args.radii else []
    if not radii and not args.interval:
        ap.error("expected --radii R,R or --interval, got neither")
    cols = ["certified (whole range)"] if args.interval else [f"r={r:g}" for r in radii]
    print("| setting | certificate | " + " | ".join(cols) + " | draws / image | s / image | draws saved |")
    print("|---|---|" + "---:|" * len(cols) + "---:|---:|---:|")
    for label, fixed_path, seq_path in args.pair:
        fixed, seq = read_results(fixed_path), read_results(seq_path)
        common = sorted(set(fixed.idx.tolist()) & set(seq.idx.tolist()))
        fixed, seq = fixed.select(common), seq.select(common)
        draws = {}
        for name, t in (("fixed n", fixed), ("sequential", seq)):
            ok = t.predict == t.label
            if args.interval:
                acc = [float((ok & (t.predict >= 0)).mean())]
            else:
                acc = [float((ok & (t.radius >= r)).mean()) for r in radii]
            draws[name] = float(_draws(t).mean())
            n = int(t.extra["n"][0])
            saved = "" if name == "fixed n" else f"{draws['fixed n'] / draws[name]:.1f}×"
            print(f"| {label} ({len(common)} images) | {name} {'≤ ' if name == 'sequential' else ''}{n:,} | "
                  + " | ".join(f"{a:.2f}" for a in acc) + f" | {draws[name]:,.0f} | {_seconds(t):.2f} | {saved} |")


if __name__ == "__main__":
    main()
