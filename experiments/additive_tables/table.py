"""Paper-shaped markdown for the additive tables (see run.sh): one row per noise scale, a
"best scale per radius" row (Cohen et al.'s Table 1 reports the best σ per radius), the published
row where REFERENCES.md has one, and a plot of certified accuracy against radius."""

from __future__ import annotations

import argparse

from gsmooth.evaluation.analysis import plot_certified_accuracy, summarize

RADII = {"cohen": [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5], "laplace": [0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0]}
NORM = {"cohen": "ℓ2", "laplace": "ℓ1"}
SCALE = {"cohen": "σ (Gaussian std)", "laplace": "λ (Laplace scale)"}
#: Cohen et al. 2019, CIFAR-10, ResNet-110, N = 100,000, α = 0.001, 500 images: best σ per radius.
PUBLISHED = {"cohen": {"cifar10": {0.25: (0.60, "0.25"), 0.5: (0.43, "0.25"), 0.75: (0.32, "0.5"),
                                   1.0: (0.23, "0.5"), 1.25: (0.17, "1.0"), 1.5: (0.14, "1.0")}}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("table", choices=sorted(RADII))
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--arch", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--sigmas", nargs="+", required=True)
    ap.add_argument("--files", nargs="+", required=True)
    ap.add_argument("--plot")
    args = ap.parse_args()
    radii = RADII[args.table]
    sums = [summarize(f, radii, name=f"{args.table} {s}") for s, f in zip(args.sigmas, args.files)]
    images = sums[0].n_points
    print(f"### {args.table}: certified accuracy vs {NORM[args.table]} radius — {args.dataset}, {args.arch}, "
          f"{images} test images, n = {args.n:,}, α = 0.001\n")
    head = [SCALE[args.table]] + [f"r={r:g}" for r in radii] + ["ACR", "abstain"]
    print("| " + " | ".join(head) + " |")
    print("|---|" + "---:|" * (len(head) - 1))
    for s, summ in zip(args.sigmas, sums):
        cells = [s] + [f"{summ.at(r):.3f}" for r in radii] + [f"{summ.acr:.3f}", f"{summ.abstain_rate:.3f}"]
        print("| " + " | ".join(cells) + " |")
    best = []
    for r in radii:
        a, s = max((summ.at(r), s) for s, summ in zip(args.sigmas, sums))
        best.append(f"{a:.3f} ({s})")
    print("| **best (scale)** | " + " | ".join(best) + " | | |")
    ref = PUBLISHED.get(args.table, {}).get(args.dataset)
    if ref:
        cells = [f"{ref[r][0]:.2f} ({ref[r][1]})" if r in ref else "—" for r in radii]
        print("| Cohen et al. 2019, CIFAR-10 ResNet-110, n=100,000 (best σ) | " + " | ".join(cells) + " | | |")
    elif args.table == "cohen":
        print(f"\nPublished (CIFAR-10, ResNet-110, n = 100,000, best σ): 0.60 / 0.43 / 0.32 / 0.23 / 0.17 / 0.14 at "
              f"r = 0.25 … 1.5 — another dataset than this {args.dataset} run: compare the shape, not the values.")
    else:
        print("\nNo published Laplace numbers are recorded in REFERENCES.md; compare with rs4a (Yang et al. 2020).")
    if args.plot:
        plot_certified_accuracy(sums, args.plot, labels=[f"{SCALE[args.table].split()[0]}={s}" for s in args.sigmas])
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
