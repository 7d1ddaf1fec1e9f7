"""Summarise experiments/verification/run.sh: certified accuracy against l-inf and l2 radius and time per
image for MILP, LP, CROWN, IBP and Gaussian smoothing on the same models, and MILP time against width.

Usage: python experiments/verification/summary.py [OUTDIR]   (writes OUTDIR/summary.md and the plots)
"""

from __future__ import annotations

import functools
import math
import os
import sys

import numpy as np

from gsmooth.io.results import read_results

LINF = (0.005, 0.01, 0.02, 0.03, 0.05, 0.1)
L2 = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5)
METHODS = ("milp", "lp", "crown", "ibp")
DIM = 784  # Fashion-MNIST: ||d||_2 <= sqrt(784) ||d||_inf


def _cells(values):
    return " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in values)


@functools.lru_cache(maxsize=None)
def _read(path: str):
    """Each results file read once (the tables ask for it several times)."""
    return read_results(path)


def _table(path: str, keep):
    t = _read(path)
    return t if keep is None else t.select([i for i in t.idx.tolist() if i in keep])


def _verification_row(path: str, radii, keep=None) -> dict | None:
    if not os.path.exists(path):
        return None
    t = _table(path, keep)
    answers = [str(a).split(",") for a in t.extra["answers"]]
    eps = [float(e) for e in str(t.extra["eps"][0]).split(",")]
    certified = []
    for r in radii:
        if r not in eps:
            certified.append("–")
            continue
        j = eps.index(r)
        certified.append(float(np.mean([(c == 1) and a[j] == "YES" for c, a in zip(t.correct, answers)])))
    undecided = sum(a.count("MAYBE") for a in answers)
    timeouts = sum(str(s).count("time_limit") for s in t.extra["status"])
    return {
        "n": len(t),
        "clean": float(np.mean(t.correct)),
        "certified": certified,
        "time": float(np.mean(t.time)),
        "time_max": float(np.max(t.time)),
        "maybe": undecided,
        "timeouts": timeouts,
        "no": sum(a.count("NO") for a in answers),
    }


def _smoothing_row(path: str, radii, scale: float, keep=None) -> dict | None:
    if not os.path.exists(path):
        return None
    t = _table(path, keep)
    ok = (t.correct == 1) & (t.predict >= 0)
    return {
        "n": len(t),
        "clean": float(np.mean(ok)),
        "certified": [float(np.mean(ok & (t.radius / scale >= r))) for r in radii],
        "time": float(np.mean(t.time)),
        "time_max": float(np.max(t.time)),
        "maybe": int(np.sum(t.predict < 0)),
        "timeouts": 0,
        "no": 0,
    }


def main(out: str) -> None:
    lines = [
        "# Deterministic verification beside Gaussian smoothing (Fashion-MNIST test images)",
        "",
        "Made by `bash experiments/verification/run.sh` then `python experiments/verification/summary.py`.",
        "Certified accuracy = fraction of all images classified correctly AND proved robust at that radius",
        "(YES for the verifiers; smoothing: the smoothed classifier's certified radius, alpha 0.001, n 10,000 — a",
        "different classifier, the smoothed one, and a probabilistic guarantee). Smoothing's l-inf radius is its l2",
        "radius / sqrt(784). Verifiers: the perturbation ball intersected with the pixel box [0, 1]; smoothing",
        "certifies the whole ball. Time: seconds per image for all six radii of the row (CPU).",
        "",
    ]
    figures = []
    for tag in ("mlp100", "small_cnn"):
        for norm, radii in (("linf", LINF), ("l2", L2)):
            paths = {m: os.path.join(out, f"{tag}_{m}_{norm}.tsv") for m in METHODS}
            paths["smoothing σ=0.25"] = os.path.join(out, f"{tag}_smoothing.tsv")
            present = {m: p for m, p in paths.items() if os.path.exists(p) and len(_read(p)) > 0}
            if not present:
                continue
            # every method on the same images: those all of its files have
            common = set.intersection(*(set(_read(p).idx.tolist()) for p in present.values()))
            scale = math.sqrt(DIM) if norm == "linf" else 1.0
            for keep, what in ((common, f"the {len(common)} images every method ran on"), (None, "all images of each file")):
                rows = []
                for m, p in present.items():
                    if m.startswith("smoothing"):
                        rows.append((m, _smoothing_row(p, radii, scale, keep)))
                    else:
                        rows.append((m, _verification_row(p, radii, keep)))
                if keep is None and all(r["n"] == len(common) for _, r in rows):
                    continue  # the same table again
                lines += [f"## {tag}, {norm} ({what})", "",
                          f"| method | images | clean acc | {' | '.join(f'ε={r:g}' for r in radii)} | s/image (mean, max) | MAYBE | timeouts |",
                          "|---|---|---|" + "---|" * len(radii) + "---|---|---|"]
                for m, r in rows:
                    lines.append(f"| {m} | {r['n']} | {r['clean']:.2f} | {_cells(r['certified'])} | "
                                 f"{r['time']:.2f}, {r['time_max']:.2f} | {r['maybe']} | {r['timeouts']} |")
                lines.append("")
                if keep is common:
                    figures.append((tag, norm, radii, rows))
    scaling = []
    for h in (10, 20, 50, 100, 200):
        path = os.path.join(out, f"scaling_milp_h{h}.tsv")
        if os.path.exists(path):
            t = read_results(path)
            status = [str(s) for s in t.extra["status"]]
            scaling.append((h, len(t), float(np.median(t.time)), float(np.mean(t.time)), float(np.max(t.time)),
                            sum("time_limit" in s for s in status),
                            float(np.mean([a == "YES" for a in t.extra["answers"]]))))
    if scaling:
        lines += ["## `gsmooth verify --method milp` against hidden units (784-h-10 MLPs, l-inf ε = 0.02, 10 images, "
                  "30 s limit)", "",
                  "CROWN ∩ IBP proves most margins before the MILP runs, so this is the cost of the whole verify "
                  "pipeline; the cost of the MILP itself is in [milp_scaling.md](milp_scaling.md).", "",
                  "| hidden ReLUs | images | median s | mean s | max s | timeouts | YES |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {h} | {n} | {md:.2f} | {mn:.2f} | {mx:.2f} | {to} | {yes:.2f} |" for h, n, md, mn, mx, to, yes in scaling]
        lines.append("")
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    _plot(out, figures, scaling)


def _plot(out: str, figures, scaling) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if figures:
        fig, axes = plt.subplots(1, len(figures), figsize=(4.2 * len(figures), 3.6), squeeze=False)
        for ax, (tag, norm, radii, rows) in zip(axes[0], figures):
            for m, r in rows:
                xs = [x for x, y in zip(radii, r["certified"]) if isinstance(y, float)]
                ys = [y for y in r["certified"] if isinstance(y, float)]
                ax.plot(xs, ys, marker="o", label=m)
            ax.set_title(f"{tag}, {norm}")
            ax.set_xlabel(f"radius ({norm}, pixels)")
            ax.set_ylabel("certified accuracy")
            ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(out, "certified_accuracy.png"), dpi=120)
    if scaling:
        fig, ax = plt.subplots(figsize=(4.5, 3.5))
        ax.plot([s[0] for s in scaling], [s[3] for s in scaling], marker="o", label="mean")
        ax.plot([s[0] for s in scaling], [s[2] for s in scaling], marker="s", label="median")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("hidden ReLUs (784-h-10)")
        ax.set_ylabel("MILP seconds per image")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out, "milp_scaling.png"), dpi=120)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "experiments/results/verification")
