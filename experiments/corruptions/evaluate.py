"""Table (e): empirical accuracy per corruption (CIFAR-10-C layout) — AugMix baseline, TSS-style
(resolvable) smoothing and GSmooth — in the GSmooth paper's shape, plus a plot.

For every corruption and severity 1–5 (the first IMAGES images of each severity block):
- ``vanilla``, ``augmix``: the plain model's argmax (no smoothing);
- ``tss``: the smoothed prediction (Cohen's PREDICT, n samples, α; abstain = wrong) of the model
  trained with the *resolvable* transform's smoothing named in TSS_MODEL (a TSS-style model: noise on
  the parameter of an exactly-certifiable transform);
- ``gsmooth``: the same with the GSmooth model of GSMOOTH_MODEL (a surrogate-backed transform
  where one matches the corruption; the exact transform otherwise, as in the GSmooth paper, which
  handles resolvable transforms the same way).
Models come from experiments/transforms/run.sh (``--models-dir``) and run.sh of this folder (AugMix,
vanilla). Rows are appended to ``--out``/results.tsv (resumable: existing (method, corruption,
severity) rows are kept), then the table is printed and written with a plot.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import torch

from gsmooth.io.checkpoints import load_checkpoint
from gsmooth.data.cifar_c import available_corruptions, load_corrupted
from gsmooth import Smoother

#: corruption -> the resolvable-transform model used for the TSS-style column (ours; see README).
TSS_MODEL = {
    "gaussian_blur": "gaussian_blur", "defocus_blur": "gaussian_blur", "zoom_blur": "gaussian_blur",
    "motion_blur": "gaussian_blur", "glass_blur": "gaussian_blur", "pixelate": "gaussian_blur",
    "brightness": "brightness", "contrast": "brightness", "fog": "brightness", "saturate": "brightness",
}
#: corruption -> the GSmooth model (surrogate-backed transform of the same name where we have one).
GSMOOTH_MODEL = {
    "gaussian_blur": "gaussian_blur", "defocus_blur": "defocus_blur", "zoom_blur": "zoom_blur",
    "motion_blur": "motion_blur", "pixelate": "pixelate", "brightness": "brightness", "glass_blur": "defocus_blur",
    "contrast": "brightness", "fog": "brightness", "saturate": "brightness",
}
#: GSmooth paper, CIFAR-10-C subsets: AugMix / TSS / GSmooth empirical accuracy (%).
PAPER = {
    "gaussian_blur": (67.4, 75.8, 76.0), "brightness": (82.4, 71.8, 72.1), "defocus_blur": (72.2, 75.6, 76.8),
    "zoom_blur": (70.8, 75.2, 77.1), "motion_blur": (68.6, 70.2, 70.5), "pixelate": (50.9, 76.0, 76.7),
}
PAPER_SET = ["gaussian_blur", "brightness", "defocus_blur", "zoom_blur", "motion_blur", "pixelate"]
FIELDS = ["method", "corruption", "severity", "model", "images", "correct", "abstained", "accuracy", "n", "seconds"]


def smoother_for(path: Path, device: str):
    """The checkpoint's smoother as it was trained (noise, σ, transform, surrogate recorded in it)."""
    return Smoother.from_checkpoint(path, device=device)


def plain_model(path: Path, device: str):
    return load_checkpoint(path, map_location=device).build_model(device=device)


def evaluate(method, model_or_smoother, images, labels, *, n, alpha, seed, batch) -> tuple[int, int]:
    if method in ("vanilla", "augmix"):
        with torch.no_grad():
            pred = torch.cat([model_or_smoother(images[i : i + 500]).argmax(1) for i in range(0, len(images), 500)])
        return int((pred == labels).sum()), 0
    res = model_or_smoother.predict(images, n=n, alpha=alpha, batch_size=batch, seed=seed,
                                    keys=list(range(len(images))))
    pred = torch.as_tensor(res.prediction)
    return int((pred == labels).sum()), int((pred == -1).sum())


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def table(rows: list[dict], corruptions: list[str], methods: list[str], severities=(1, 2, 3, 4, 5)) -> str:
    acc: dict = {}
    for r in rows:
        if int(r["severity"]) not in severities:
            continue
        acc.setdefault((r["method"], r["corruption"]), []).append(float(r["accuracy"]))
    head = ["corruption"] + [f"{m} (ours)" for m in methods] + ["paper AugMix / TSS / GSmooth (CIFAR-10-C)"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for c in corruptions:
        cells = [c]
        for m in methods:
            v = acc.get((m, c))
            cells.append(f"{100 * sum(v) / len(v):.1f}" + ("" if len(v) == 5 else f" ({len(v)} sev.)") if v else "—")
        p = PAPER.get(c)
        cells.append(" / ".join(f"{x:.1f}" for x in p) if p else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows, corruptions, methods, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    width = 0.8 / len(methods)
    for i, m in enumerate(methods):
        vals = []
        for c in corruptions:
            v = [float(r["accuracy"]) for r in rows if r["method"] == m and r["corruption"] == c]
            vals.append(100 * sum(v) / len(v) if v else 0.0)
        ax.bar([j + i * width for j in range(len(corruptions))], vals, width, label=m)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(corruptions))])
    ax.set_xticklabels(corruptions, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("accuracy % (mean over severities 1-5)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", "--c-dir", dest="c_dir", type=Path, required=True,
                    help="corrupted test set in the CIFAR-10-C layout (<corruption>.npy + labels.npy), e.g. the "
                    "untarred CIFAR-10-C / CIFAR-100-C release or `gsmooth corrupt --out DIR`")
    ap.add_argument("--severities", default="1,2,3,4,5", help="comma-separated severities 1-5 (default: all five)")
    ap.add_argument("--models-dir", type=Path, required=True, help="experiments/transforms/run.sh checkpoints")
    ap.add_argument("--augmix", type=Path, required=True, help="AugMix-trained checkpoint")
    ap.add_argument("--vanilla", type=Path, default=None, help="vanilla checkpoint (optional extra column)")
    ap.add_argument("--corruptions", default=",".join(PAPER_SET), help="comma-separated, or 'all' (default: the paper's six)")
    ap.add_argument("--images", type=int, default=100, help="images per severity (first of each block)")
    ap.add_argument("--n", type=int, default=100, help="samples per smoothed prediction")
    ap.add_argument("--alpha", type=float, default=0.001)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    try:
        severities = sorted({int(v) for v in args.severities.split(",")})
    except ValueError:
        severities = []
    if not severities or any(v not in range(1, 6) for v in severities):
        print(f"evaluate.py: --severities expected numbers in 1..5, got {args.severities!r}", file=sys.stderr)
        return 2
    present = available_corruptions(args.c_dir)
    wanted = present if args.corruptions == "all" else args.corruptions.split(",")
    missing = [c for c in wanted if c not in present]
    if missing:
        print(f"evaluate.py: expected {', '.join(missing)} under {args.c_dir}, got only {', '.join(present) or 'nothing'}",
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.tsv"
    rows = read_rows(results)
    done = {(r["method"], r["corruption"], int(r["severity"])) for r in rows}
    new = not results.exists()
    fh = open(results, "a", newline="")
    w = csv.DictWriter(fh, fieldnames=FIELDS, delimiter="\t")
    if new:
        w.writeheader()
    methods = (["vanilla"] if args.vanilla else []) + ["augmix", "tss", "gsmooth"]
    cache: dict = {}

    def get(method, corruption):
        if method == "vanilla":
            path = args.vanilla
        elif method == "augmix":
            path = args.augmix
        else:
            table_ = TSS_MODEL if method == "tss" else GSMOOTH_MODEL
            if corruption not in table_:
                return None, None
            path = args.models_dir / f"{table_[corruption]}.pt"
        if not path.is_file():
            return path, None
        key = (method in ("vanilla", "augmix"), str(path))
        if key not in cache:
            cache[key] = plain_model(path, args.device) if key[0] else smoother_for(path, args.device)
        return path, cache[key]

    for c in wanted:
        for s in severities:
            ds = load_corrupted(args.c_dir, c, s, max_images=args.images)
            images = torch.stack([ds[i][0] for i in range(len(ds))]).to(args.device)
            labels = ds.targets[: len(ds)].to(args.device)
            for m in methods:
                if (m, c, s) in done:
                    continue
                path, obj = get(m, c)
                if obj is None:
                    if path is not None:
                        print(f"skip {m} {c}: no model {path}", file=sys.stderr)
                    continue
                t0 = time.perf_counter()
                correct, abst = evaluate(m, obj, images, labels, n=args.n, alpha=args.alpha, seed=args.seed,
                                         batch=args.batch)
                row = {"method": m, "corruption": c, "severity": s, "model": path.name, "images": len(images),
                       "correct": correct, "abstained": abst, "accuracy": correct / len(images),
                       "n": args.n if m in ("tss", "gsmooth") else "", "seconds": round(time.perf_counter() - t0, 2)}
                w.writerow(row)
                fh.flush()
                rows.append({k: str(v) for k, v in row.items()})
                print(f"{m:8s} {c:16s} s{s}: {100 * correct / len(images):5.1f} % ({row['seconds']} s)", flush=True)
    fh.close()
    text = table(rows, wanted, methods, severities)
    text = f"Mean accuracy (%) over severities {','.join(map(str, severities))}, {args.images} images each\n\n" + text
    (args.out / "table.md").write_text(text + "\n")
    print(text)
    plot(rows, wanted, methods, args.out / "accuracy.png")
    print(f"\nplot: {args.out / 'accuracy.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
