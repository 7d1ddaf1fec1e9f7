"""GSmooth tables (c) and (d) in the paper's shape, from every dataset run by run.sh, plus plots.

(c) certified accuracy (%) per transform (rows) and dataset (columns: ours, and the published number
    beside it where the GSmooth / TSS papers report one);
(d) empirical accuracy (%) under our adaptive attack (grid + signed-gradient with EOT) over the same
    range: vanilla model (trained without noise) vs the smoothed classifier.

Usage: python experiments/transforms/summary.py [RESULTS_ROOT]     (default experiments/results/transforms)
Writes RESULTS_ROOT/summary.md, certified_accuracy.png, attack_accuracy.png and prints the markdown.
"""

from __future__ import annotations

import sys
from pathlib import Path

from table import PAPER_CIFAR10, PAPER_MNIST, _pct, _read  # this folder's per-dataset table (same readers)

from gsmooth.core.defaults import defaults_of
from gsmooth.plugin.registry import get_registry


def _ranged() -> dict[str, str]:
    """Every registered transform that declares a default range, in registration order, with the
    range as its defaults label it (``range_label``, else ``lo:hi``): the rows of both tables."""
    out = {}
    for name in get_registry().transforms:
        d = defaults_of(name)
        if d is not None and d.range is not None:
            out[name] = d.range_label or d.range_text
    return out


#: transform -> its default certified range (the range every run certifies), from the classes.
RANGE = _ranged()
ORDER = list(RANGE)
DATASETS = ["mnist", "fashion-mnist", "cifar10", "cifar100"]
#: Published certified accuracy (%): GSmooth (ICML 2022) where it has the cell, else TSS (CCS 2021, marked †).
PAPER = {
    "cifar10": {**{k: f"{v:.1f}" for k, v in PAPER_CIFAR10.items()}, "scaling": "58.8†", "contrast": "82.4†"},
    "mnist": {k: f"{v:.1f}" for k, v in PAPER_MNIST.items()},
    "cifar100": {"rotational_blur": "27.2", "defocus_blur": "13.1", "zoom_blur": "14.2", "pixelate": "30.2"},
}


def collect(root: Path) -> dict:
    data: dict = {}
    for ds in DATASETS + sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in DATASETS):
        d = root / ds
        if not d.is_dir():
            continue
        for t in ORDER:
            cert, atk, van = (_read(d / t / f) for f in ("certify.tsv", "attack.tsv", "attack_vanilla.tsv"))
            if cert is None and atk is None:
                continue
            data.setdefault(ds, {})[t] = {
                "certified": float(cert.correct.mean()) if cert is not None else None,
                "images": len(cert) if cert is not None else 0,
                "n": (cert.config or {}).get("n") if cert is not None else None,
                "attack_smoothed": float(atk.extra["smoothed_correct"].mean()) if atk is not None else None,
                "attack_base": float(atk.extra["base_correct"].mean()) if atk is not None else None,
                "attack_vanilla": float(van.extra["base_correct"].mean()) if van is not None else None,
            }
    return data


def rows(data: dict) -> list[str]:
    """The transforms of :data:`ORDER` that have a result or a published number (an installed
    third-party transform that was never run adds no empty row)."""
    return [t for t in ORDER if any(t in data[ds] for ds in data) or any(t in PAPER[ds] for ds in PAPER)]


def tables(data: dict) -> str:
    sets = list(data)
    order = rows(data)
    lines = ["## (c) Certified accuracy (%) over the whole range, family-wise α = 0.001", ""]
    head = ["transform", "range"]
    for ds in sets:
        head += [f"{ds} (ours)"] + ([f"{ds} (paper)"] if ds in PAPER else [])
    for ds in PAPER:
        if ds not in sets:
            head.append(f"{ds} (paper; not run)")
    lines += ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for t in order:
        row = [t, RANGE[t]]
        for ds in sets:
            row.append(_pct((data[ds].get(t) or {}).get("certified")))
            if ds in PAPER:
                row.append(PAPER[ds].get(t, "—"))
        for ds in PAPER:
            if ds not in sets:
                row.append(PAPER[ds].get(t, "—"))
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "## (d) Empirical accuracy (%) under adaptive attack over the same range", ""]
    head = ["transform", "range"]
    for ds in sets:
        head += [f"{ds} vanilla model", f"{ds} base (noise-trained)", f"{ds} smoothed"]
    lines += ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for t in order:
        row = [t, RANGE[t]]
        for ds in sets:
            e = data[ds].get(t) or {}
            row += [_pct(e.get("attack_vanilla")), _pct(e.get("attack_base")), _pct(e.get("attack_smoothed"))]
        lines.append("| " + " | ".join(row) + " |")
    sizes = {ds: sorted({(e["images"], e["n"]) for e in data[ds].values() if e["images"]}) for ds in sets}
    lines += [
        "",
        "Ours: " + "; ".join(f"{ds}: " + ", ".join(f"{i} images at n = {n} per slice" for i, n in sizes[ds])
                             for ds in sets) + ". "
        "Papers: GSmooth n = 100,000, α = 0.01 per grid point without Bonferroni (TSS for the † cell). "
        "Attack accuracies are upper bounds (a search can miss); `—` = not run.",
    ]
    return "\n".join(lines)


def plots(data: dict, root: Path) -> list[Path]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = []
    order = rows(data)
    for key, fname, title, series in (
        ("certified", "certified_accuracy.png", "Certified accuracy over the range", [("certified", "ours")]),
        ("attack", "attack_accuracy.png", "Accuracy under attack",
         [("attack_vanilla", "vanilla"), ("attack_base", "base"), ("attack_smoothed", "smoothed")]),
    ):
        fig = Figure(figsize=(10, 4))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(111)
        labels = []
        bars = []
        for ds in data:
            for field, name in series:
                labels.append(f"{ds} {name}")
                bars.append([100 * (data[ds].get(t, {}).get(field) or 0.0) for t in order])
        width = 0.8 / max(len(bars), 1)
        for i, (lab, vals) in enumerate(zip(labels, bars)):
            ax.bar([j + i * width for j in range(len(order))], vals, width, label=lab)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(order))])
        ax.set_xticklabels(order, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("%")
        ax.set_ylim(0, 100)
        ax.set_title(title)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(root / fname, dpi=120)
        out.append(root / fname)
    return out


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path("experiments/results/transforms")
    data = collect(root)
    if not data:
        print(f"summary.py: no results under {root} (expected {root}/<dataset>/<transform>/certify.tsv)", file=sys.stderr)
        return 2
    text = tables(data)
    (root / "summary.md").write_text(text + "\n")
    print(text)
    for p in plots(data, root):
        print(f"\nplot: {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
