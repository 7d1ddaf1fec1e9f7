"""The training-methods table (see run.sh): per σ, one row per classifier (Gaussian augmentation,
consistency, SmoothAdv, MACER, the vanilla model bare and with two denoisers), certified accuracy at the
standard ℓ2 radii, ACR, abstentions, and the wall time of its training and certification read off the
logs; then gaussian_blur plain vs consistency; a plot per σ.

Usage: python experiments/training_methods/table.py experiments/results/training_methods
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from gsmooth.evaluation.analysis import plot_certified_accuracy, summarize

RADII = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]
BLUR_RADII = [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
ROWS = [  # (file stem, label, train-log label, training of the classifier)
    ("gaussian", "Gaussian augmentation (Cohen et al.)", "gaussian", "noise"),
    ("consistency", "consistency λ=10, m=2 (Jeong & Shin)", "consistency", "noise"),
    ("smoothadv", "SmoothAdv PGD-2 ε=σ, m=1 (Salman et al. 2019)", "smoothadv", "noise"),
    ("macer", "MACER λ=12 (σ .25) / 4 (σ .5), m=4, λ from epoch 2, clip 5 (Zhai et al.)", "macer", "noise"),
    ("vanilla", "vanilla (no noise), no denoiser", None, "none"),
    ("denoiser_mse", "vanilla + MSE denoiser (Salman et al. 2020)", "denoiser mse", "none"),
    ("denoiser_stab", "vanilla + Stab+MSE denoiser", "denoiser stab+mse", "none"),
]
TIME = re.compile(r"^(train|certify) (.+?): ([0-9.]+) s wall, ([0-9.]+) s user$")


def times(folder: Path) -> dict[str, float]:
    """``{"train gaussian sigma=0.25": CPU seconds, …}`` from every log in ``folder``: the user time of every run
    of that step added up (a resumed run adds what it did; a re-run of a finished step adds its few seconds)."""
    out: dict[str, float] = {}
    for log in sorted(folder.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            m = TIME.match(line.strip())
            if m:
                key = f"{m.group(1)} {m.group(2)}"
                out[key] = out.get(key, 0.0) + float(m.group(4))  # user CPU seconds
    return out


def fmt_s(value) -> str:
    return "—" if value is None else f"{value:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("folder", type=Path)
    args = ap.parse_args()
    folder = args.folder
    t = times(folder)
    lines = ["# Training methods and denoised smoothing — Fashion-MNIST, small CNN", "",
             "Made by `bash experiments/training_methods/run.sh` (its header lists every setting). "
             "Certified accuracy at ℓ2 radius r = fraction of all 200 test images correct with radius ≥ r "
             "(abstentions count as wrong); ACR = average certified radius; n0 100, n 10,000, α 0.001. "
             "Times: CPU seconds (user time, one torch thread; wall time was longer: other jobs shared the machine) (train: the classifier's own training; the denoiser rows: "
             "the denoiser's training, the vanilla model's 3 epochs not counted; certify: 200 images).", ""]
    for sigma in ("0.25", "0.50"):
        tag = sigma.replace(".", "")
        rows = [(stem, label, tl) for stem, label, tl, _ in ROWS if (folder / f"certify_{stem}_sigma{tag}.tsv").is_file()]
        if not rows:
            continue
        lines += [f"## σ = {sigma}", "",
                  "| classifier | " + " | ".join(f"r={r:g}" for r in RADII) + " | ACR | abstain | train CPU s | certify CPU s |",
                  "|---|" + "---:|" * (len(RADII) + 4)]
        sums, labels = [], []
        for stem, label, tl in rows:
            s = summarize(folder / f"certify_{stem}_sigma{tag}.tsv", RADII, name=label)
            sums.append(s)
            labels.append(stem)
            train = t.get(f"train {tl} sigma={sigma}") if tl else None
            cert_key = {"denoiser_mse": "vanilla+denoiser(mse)", "denoiser_stab": "vanilla+denoiser(stab+mse)"}.get(stem, stem)
            cert = t.get(f"certify {cert_key} sigma={sigma}")
            cells = [f"{s.at(r):.3f}" for r in RADII] + [f"{s.acr:.3f}", f"{s.abstain_rate:.3f}", fmt_s(train), fmt_s(cert)]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        plot = folder / f"certified_accuracy_sigma{tag}.png"
        plot.unlink(missing_ok=True)
        plot_certified_accuracy(sums, plot, labels=labels)
        lines += ["", f"![σ = {sigma}]({plot.name})", ""]
    blur = [(n, folder / f"certify_gaussian_blur_{n}.tsv") for n in ("plain", "consistency")]
    blur = [(n, f) for n, f in blur if f.is_file()]
    if blur:
        images = summarize(blur[0][1], BLUR_RADII).n_points
        lines += ["## gaussian_blur (point certificates, radius in blur units α = kernel σ²; exponential noise, scale 10)", "",
                  f"The first {images} test images; certified accuracy at blur radius r as above.", "",
                  "| training | " + " | ".join(f"r={r:g}" for r in BLUR_RADII) + " | ACR | abstain | train CPU s | certify CPU s |",
                  "|---|" + "---:|" * (len(BLUR_RADII) + 4)]
        for n, f in blur:
            s = summarize(f, BLUR_RADII, name=n)
            cells = [f"{s.at(r):.3f}" for r in BLUR_RADII] + [
                f"{s.acr:.3f}", f"{s.abstain_rate:.3f}", fmt_s(t.get(f"train gaussian_blur {n}")),
                fmt_s(t.get(f"certify gaussian_blur {n}"))]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        lines.append("")
    published = Path(__file__).with_name("published.md")
    if published.is_file():
        lines += [published.read_text().strip(), ""]
    (folder / "table.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
