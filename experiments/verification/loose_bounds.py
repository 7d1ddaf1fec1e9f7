"""Loose vs tight smoothing bounds (issue 14, point 4): Cohen et al.'s radius against PixelDP's and Li et al.'s.

Writes, under ``experiments/results/verification/``:

* ``loose_bounds.md`` — (1) the three radii at σ = 1 for p_A = 0.6 … 0.999 (p_B = 1 − p_A);
  (2) the radius as a function of (p_A, p_B) for a few p_B; (3) the check Cohen ≥ Li ≥ 0 and
  Cohen ≥ PixelDP ≥ 0 on a grid; (4) a committed results file of Gaussian ℓ2 certificates
  (``experiments/results/fashion_mnist_additive``) re-scored with each bound (``gsmooth analyze --bound``'s
  code): certified accuracy at the standard radii;
* ``loose_bounds.png`` — Cohen et al.'s figure: radius against p_A for the three bounds (σ = 1), and
  the same for a fixed p_B.

Usage (≈ 10 s on one core)::

    python experiments/verification/loose_bounds.py [--out experiments/results/verification]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

from gsmooth.core.loose_bounds import BOUND_TITLES, cohen_radius, li_radius, pixeldp_radius  # noqa: E402
from gsmooth.evaluation.analysis import summarize_rescored  # noqa: E402
from gsmooth.io.results import read_results  # noqa: E402

BOUNDS = {"cohen": cohen_radius, "pixeldp": pixeldp_radius, "li": li_radius}
P_A = (0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999)
P_B = (0.01, 0.05, 0.1, 0.2, 0.3)
P_A_2D = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
RESULTS = (
    "experiments/results/fashion_mnist_additive/certify_sigma025.tsv",
    "experiments/results/fashion_mnist_additive/certify_sigma050.tsv",
)
RADII = (0.0, 0.25, 0.5, 0.75, 1.0)


def _table(header, rows) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def radius_table(sigma: float) -> str:
    rows = []
    for p in P_A:
        c, pdp, li = (float(BOUNDS[b](p, sigma=sigma)) for b in ("cohen", "pixeldp", "li"))
        rows.append([f"{p:g}", f"{c:.4f}", f"{pdp:.4f}", f"{li:.4f}", f"{pdp / c:.3f}", f"{li / c:.3f}"])
    return _table(["p_A", "Cohen", "PixelDP", "Li", "PixelDP / Cohen", "Li / Cohen"], rows)


def pair_table(sigma: float) -> str:
    rows = []
    for p_a in P_A_2D:
        cells = [f"{p_a:g}"]
        for p_b in P_B:
            if p_a + p_b > 1:
                cells.append("—")
                continue
            c, pdp, li = (float(BOUNDS[b](p_a, p_b, sigma=sigma)) for b in ("cohen", "pixeldp", "li"))
            cells.append(f"{c:.3f} / {pdp:.3f} / {li:.3f}")
        rows.append(cells)
    return _table(["p_A \\ p_B"] + [f"{p:g}" for p in P_B], rows)


def dominance(sigma: float) -> tuple[int, bool, bool, float, float]:
    """Cohen ≥ Li ≥ 0 and Cohen ≥ PixelDP ≥ 0 on a grid of valid (p_A, p_B), p_A + p_B ≤ 1."""
    grid = np.linspace(0.0, 1.0, 41)
    p_a, p_b = (g.reshape(-1) for g in np.meshgrid(grid, grid, indexing="ij"))
    keep = p_a + p_b <= 1.0
    p_a, p_b = p_a[keep], p_b[keep]
    c, pdp, li = (BOUNDS[b](p_a, p_b, sigma=sigma) for b in ("cohen", "pixeldp", "li"))
    finite = np.isfinite(c)
    li_ok = bool(np.all((li >= 0) & ((c >= li) | ~finite)))
    pdp_ok = bool(np.all((pdp >= 0) & (c >= pdp)))
    live = (p_a > p_b) & finite
    return int(p_a.size), li_ok, pdp_ok, float(np.max(pdp[live] / c[live])), float(np.max(li[live] / c[live]))


def figure(path: Path, sigma: float) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.5, 4.2), dpi=120)
    FigureCanvasAgg(fig)
    p = np.linspace(0.5, 0.9999, 600)
    styles = {"cohen": "-", "pixeldp": "--", "li": "-."}
    ax = fig.add_subplot(1, 2, 1)
    for name, fn in BOUNDS.items():
        ax.plot(p, fn(p, sigma=sigma), styles[name], label=f"{name}: {BOUND_TITLES[name]}")
    ax.set_xlabel("p_A (p_B = 1 − p_A)")
    ax.set_ylabel(f"certified l2 radius (σ = {sigma:g})")
    ax.set_title("radius against p_A (Cohen et al. 2019's comparison)", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax = fig.add_subplot(1, 2, 2)
    for p_b, colour in ((0.01, "C0"), (0.1, "C1"), (0.3, "C2")):
        q = np.linspace(p_b, 1.0 - p_b, 400)
        for name, fn in BOUNDS.items():
            ax.plot(q, fn(q, p_b, sigma=sigma), styles[name], color=colour,
                    label=f"{name}, p_B = {p_b:g}" if name == "cohen" or p_b == 0.01 else None)
    ax.set_xlabel("p_A (fixed p_B; solid Cohen, dashed PixelDP, dash-dot Li)")
    ax.set_ylabel(f"certified l2 radius (σ = {sigma:g})")
    ax.set_title("radius as a function of (p_A, p_B)", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)


def rescored(files) -> tuple[str, list[str]]:
    sections, checks = [], []
    for f in files:
        original = read_results(ROOT / f)
        summaries = []
        for name in BOUNDS:
            s = summarize_rescored(ROOT / f, name, RADII, name=f"{name} ({BOUND_TITLES[name]})")
            summaries.append(s)
            if name == "cohen":
                same = bool(np.array_equal(s.table.radius, original.radius))
                checks.append(f"`--bound cohen` reproduces the radius column of {f} bit for bit: {same}")
                if not same:
                    raise SystemExit(f"{f}: the cohen re-score differs from the file's radius column")
        sigma = summaries[0].table.config["rescore"]["sigma"]
        rows = [[s.name, s.n_points] + [f"{a:.3f}" for a in s.certified_accuracy] + [f"{s.acr:.3f}", f"{s.abstain_rate:.3f}"]
                for s in summaries]
        header = ["bound", "n"] + [f"r={r:.2f}" for r in RADII] + ["ACR", "abstain"]
        sections.append(f"#### {f} (σ = {sigma:g}, {len(original)} images)\n\n" + _table(header, rows))
    return "\n\n".join(sections), checks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "experiments/results/verification"))
    parser.add_argument("--sigma", type=float, default=1.0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    n_grid, li_ok, pdp_ok, pdp_ratio, li_ratio = dominance(args.sigma)
    rescore_text, checks = rescored(RESULTS)
    figure(out / "loose_bounds.png", args.sigma)
    elapsed = time.perf_counter() - start
    text = f"""# Loose vs tight smoothing bounds (issue 14, point 4)

Made by `python experiments/verification/loose_bounds.py` ({elapsed:.1f} s on one CPU core); code in
`gsmooth/core/loose_bounds.py`; figure `loose_bounds.png`. σ = {args.sigma:g} in the first two tables
(every radius scales linearly with σ).

- **Cohen** (Cohen et al., ICML 2019, Theorem 1, tight): σ/2 · (Φ⁻¹(p_A) − Φ⁻¹(p_B)).
- **PixelDP** (Lecuyer et al., IEEE S&P 2019; Gaussian mechanism, ε ≤ 1): the largest
  L = σ ε / √(2 ln(1.25/δ)) with p_A > e^{{2ε}} p_B + (1 + e^ε) δ.
- **Li** (Li et al., NeurIPS 2019, Rényi divergence): sup over α > 1 of
  √(−(2σ²/α) · log(1 − p_A − p_B + 2((p_A^{{1−α}} + p_B^{{1−α}})/2)^{{1/(1−α)}})).

## 1. Radius against p_A (p_B = 1 − p_A)

{radius_table(args.sigma)}

PixelDP's radius is capped (ε ≤ 1, δ ≤ 1/(1 + e)): at p_A → 1 it tends to σ/√(2 ln(1.25(1 + e))) ≈ 0.5705 σ,
while Cohen's and Li's grow without bound.

## 2. Radius as a function of (p_A, p_B): Cohen / PixelDP / Li

{pair_table(args.sigma)}

(— : p_A + p_B > 1, not two probabilities of different classes; 0 wherever p_A ≤ p_B.)

## 3. Dominance

On a grid of {n_grid} pairs (p_A, p_B) with p_A, p_B ∈ {{0, 0.025, …, 1}}, p_A + p_B ≤ 1:
Cohen ≥ Li ≥ 0: **{li_ok}**; Cohen ≥ PixelDP ≥ 0: **{pdp_ok}**. Largest ratio to Cohen's radius
(p_A > p_B, Cohen finite): PixelDP {pdp_ratio:.3f}, Li {li_ratio:.3f}. Cohen's bound is tight, so it
dominates every bound computed from the same (p_A, p_B).

## 4. A committed results file re-scored with each bound

`gsmooth analyze FILE --bound cohen|pixeldp|li` re-scores each row from its `p_lower`
(p_B = 1 − p_A, σ from the file); certified accuracy = fraction of all images correct with radius ≥ r.
The files are the Fashion-MNIST runs of `experiments/fashion_mnist_additive` (small CNN, n = 10,000, α = 0.001).

{rescore_text}

{chr(10).join("- " + c for c in checks)}
"""
    (out / "loose_bounds.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {out / 'loose_bounds.md'} and {out / 'loose_bounds.png'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
