"""One markdown table (one dataset, every detail) from the outputs of experiments/transforms/run.sh.

Usage: python experiments/transforms/table.py [OUTDIR]
       (default experiments/results/transforms/fashion-mnist)

Per transform (a sub-folder of OUTDIR), from
- certify.tsv (+ .json): kind, noise/σ, range, slices, n0/n, certified accuracy over the range
  (fraction of ALL certified images whose interval certificate holds with the right class), M*;
- predict.tsv: smoothed "clean" accuracy (PREDICT at θ = 0, abstentions count as wrong);
- train.log: the base model's clean test accuracy (last epoch, first 2000 test images);
- attack.tsv: empirical robust accuracy of the base model and of the smoothed classifier
  (upper bounds: the search may miss a parameter); attack_vanilla.tsv: the same attack on the
  vanilla model (trained without noise), base column;
- surrogate.log: the surrogate's held-out PSNR (surrogate vs true transform; identity baseline);
- OUTDIR/times.tsv: wall seconds per step (summed over resumed runs).
Transforms with no certify.tsv are listed as "not run".
"""

from __future__ import annotations

import csv
import json
import math
import re
import sys
from collections import defaultdict
from pathlib import Path

from gsmooth.io.results import read_results

ORDER = [
    "brightness", "contrast", "gaussian_blur", "translation", "rotational_blur", "defocus_blur", "zoom_blur", "pixelate",
    "rotation", "scaling", "motion_blur",
]
#: GSmooth (Hao et al., ICML 2022) certified accuracy on **MNIST** (the paper has no Fashion-MNIST
#: table), same ranges: rotational blur <10°, defocus <5, zoom <0.5, pixelate <0.5.
PAPER_MNIST = {"rotational_blur": 95.9, "defocus_blur": 89.2, "zoom_blur": 93.9, "pixelate": 87.1}
#: For context only (CIFAR-10, GSmooth Table): not comparable to Fashion-MNIST.
PAPER_CIFAR10 = {
    "rotational_blur": 39.7, "defocus_blur": 25.0, "zoom_blur": 44.6, "pixelate": 45.3, "gaussian_blur": 67.4,
    "translation": 82.2, "brightness": 82.5, "rotation": 65.6,
}


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else math.nan


def _pct(x: float) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _read(path: Path):
    if not path.exists():
        return None
    t = read_results(path)
    return t if len(t) else None


def _times(out: Path) -> dict:
    acc: dict = defaultdict(lambda: defaultdict(float))
    f = out / "times.tsv"
    if f.exists():
        with open(f) as fh:
            for row in csv.reader(fh, delimiter="\t"):
                if len(row) != 3 or row[0] == "transform":
                    continue  # header, or a line /usr/bin/time wrote about a failed command
                try:
                    acc[row[0]][row[1]] += float(row[2])
                except ValueError:
                    continue
    return acc


def _train_clean(log: Path) -> str:
    if not log.exists():
        return "—"
    last = None
    for line in log.read_text().splitlines():
        m = re.search(r"test acc clean ([0-9.]+) / noisy ([0-9.]+)", line)
        if m:
            last = m
    return _pct(float(last.group(1))) if last else "—"


def _surrogate_psnr(log: Path) -> str:
    if not log.exists():
        return ""
    for line in log.read_text().splitlines():
        if line.startswith("overall"):
            parts = line.split()
            # overall  n  L1  PSNR  L1ident  PSNRident
            try:
                return f"{float(parts[3]):.1f} dB (identity {float(parts[5]):.1f})"
            except (IndexError, ValueError):
                return ""
    return ""


def row_for(out: Path, name: str, times: dict) -> list[str] | None:
    d = out / name
    cert = _read(d / "certify.tsv")
    if cert is None:
        return None
    cfg = cert.config or {}
    extra = cert.extra
    kind = str(extra["kind"][0]) if "kind" in extra else cfg.get("transform", "")
    sigma = (cfg.get("noise_params") or {}).get("sigma")
    noise = cfg.get("noise", "")
    sig = f"{noise} {sigma:g}" if sigma is not None else noise
    if cfg.get("latent_sigma") is not None:
        sig += f", σ_ξ {cfg['latent_sigma']:g}"
    rng = str(extra["range"][0]) if "range" in extra else cfg.get("range", "")
    units = str(extra["units"][0]) if "units" in extra else ""
    slices = str(extra["slices"][0]) if "slices" in extra else ""
    n_img = len(cert)
    certified = float(cert.correct.mean())
    abst = float((cert.predict == -1).mean())
    pred = _read(d / "predict.tsv")
    smoothed_clean = float(pred.correct.mean()) if pred is not None else math.nan
    atk = _read(d / "attack.tsv")
    atk_base = float(atk.extra["base_correct"].mean()) if atk is not None else math.nan
    atk_sm = float(atk.extra["smoothed_correct"].mean()) if atk is not None else math.nan
    van = _read(d / "attack_vanilla.tsv")
    atk_van = float(van.extra["base_correct"].mean()) if van is not None else math.nan
    mstar = ""
    if kind == "surrogate" and "mstar" in extra:
        m = [float(v) for v in extra["mstar"]]
        mstar = f"{_mean(m):.2f} / {max(m):.2f}"
    tm = times.get(name, {})
    parts = []
    for step, label in (("surrogate", "sur"), ("lipschitz", "M*-diag"), ("train", "train"), ("predict", "pred"), ("certify", "cert"), ("attack", "atk")):
        if step in tm:
            per = f" ({tm[step] / n_img:.1f} s/img)" if step == "certify" and n_img else ""
            parts.append(f"{label} {tm[step]:.0f} s{per}")
    paper = f"{PAPER_MNIST[name]:.1f} (MNIST)" if name in PAPER_MNIST else ""
    counts = [n_img, len(pred) if pred is not None else 0, len(atk) if atk is not None else 0]
    images = str(n_img) if len(set(counts)) == 1 else f"{counts[0]} cert / {counts[1]} pred / {counts[2]} atk"
    sequential = bool(cfg.get("sequential"))
    samples = f"n0 {cfg.get('n0', '?')}, n {'≤ ' if sequential else ''}{cfg.get('n', '?')}, K {slices}"
    draws = _draws_per_image(cert)
    fixed = _read(d / "certify_fixed.tsv")
    versus = "—"
    if fixed is not None:
        common = sorted(set(fixed.idx.tolist()) & set(cert.idx.tolist()))
        f, c = fixed.select(common), cert.select(common)
        fd, cd = _draws_per_image(f), _draws_per_image(c)
        versus = (f"n {int(f.extra['n'][0]):,}: {_pct(float(f.correct.mean()))} vs {_pct(float(c.correct.mean()))}, "
                  f"{fd:,.0f} vs {cd:,.0f} draws ({fd / cd:.1f}× fewer; {len(common)} images)")
    return [
        name, kind, sig, f"{rng} {units}".strip(), samples,
        f"{_train_clean(d / 'train.log')} / {_pct(smoothed_clean)}",
        f"{_pct(certified)} (abst. {_pct(abst)})", _pct(atk_van), _pct(atk_base), _pct(atk_sm), mstar or "1 (exact)",
        _surrogate_psnr(d / "surrogate.log"), f"{draws:,.0f}", versus, paper, images, ", ".join(parts),
    ]


def _draws_per_image(table) -> float:
    """Mean noise draws per image: the ``samples`` column of a sequential run, else (n0 + n) × slices."""
    if "samples" in table.extra:
        return float(table.extra["samples"].astype(float).mean())
    k = [math.prod(int(v) for v in str(s).split("x")) for s in table.extra.get("slices", ["1"] * len(table))]
    n0, n = table.extra["n0"].astype(float), table.extra["n"].astype(float)
    return float(((n0 + n) * k).mean())


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path("experiments/results/transforms/fashion-mnist")
    times = _times(out)
    names = [n for n in ORDER if (out / n).is_dir()] + sorted(
        p.name for p in out.iterdir() if p.is_dir() and p.name not in ORDER
    ) if out.is_dir() else []
    head = [
        "transform", "kind", "noise σ", "range (units)", "samples per slice", "clean acc % base / smoothed",
        "certified acc % (interval)", "attack acc % vanilla model", "attack acc % base", "attack acc % smoothed",
        "M* mean / max",
        "surrogate PSNR", "draws / image", "fixed n: certified % fixed vs this, draws", "GSmooth paper % (MNIST)",
        "images", "wall times",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    missing = []
    for name in ORDER + [n for n in names if n not in ORDER]:
        r = row_for(out, name, times)
        if r is None:
            missing.append(name)
            continue
        print("| " + " | ".join(r) + " |")
    print()
    print(
        "clean acc: base = the base model on clean test images (training log, first 2000 test images); smoothed = "
        "PREDICT with the training smoothing at θ = 0 on the certified images (abstentions count as wrong). "
        "certified acc: fraction of all images whose interval certificate over the whole range holds with the true "
        "class (family-wise α over K slices, Bonferroni). attack acc: empirical robust accuracy over the same range "
        "(upper bounds); vanilla model = the same architecture trained without noise, attacked without smoothing. M*: the surrogate's Lipschitz factor, a grid estimate (not a bound). GSmooth's numbers are "
        "for MNIST (the paper has no Fashion-MNIST table) with n = 100,000 and α = 0.01 without Bonferroni; CIFAR-10 "
        "for context: " + ", ".join(f"{k} {v}" for k, v in PAPER_CIFAR10.items()) + "."
    )
    if missing:
        print(f"\nnot run yet (no certify.tsv): {', '.join(missing)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
