"""M* before / after the per-slice path bounds, and what it does to certified accuracy.

For each surrogate-route transform and the first N Fashion-MNIST test images, on the **same**
Monte Carlo samples (the noise streams of ``gsmooth certify --range``: one per slice, keyed by the
dataset index), compare two ways of turning the slice counts into an interval certificate:

- **before** (gsmooth ≤ 0.1, the GSmooth code): one M* = sqrt(1 + G²/r²) for the whole range, G the
  largest ‖∂F2(τ(α, x))/∂α − W‖ over a 10-point α grid (autograd cross-checked with finite
  differences) — a grid estimate;
- **after**: per slice k, M*_k = T_k / h with T_k a bound on sup_{α ∈ slice} √(|α − c_k|² +
  ‖Δ(α)‖²/r²) (:mod:`gsmooth.surrogate.path_bounds`) — ``sound`` when the true transform gives a proven path
  speed bound and Lip(F2) is proven, else the maximum over a 33-point grid per slice (``estimate``).

``lower`` is the largest path shift actually evaluated (a true lower bound on the sup): ``lower/h``
above the old M* means the old grid M* was provably too small for that slice (a possibly false
certificate).

Usage:
    python experiments/transforms/mstar_before_after.py --transforms rotational_blur defocus_blur \\
        --images 30 --out experiments/results/transforms/mstar_bounds
(models and surrogates: ``runs/transforms/fashion-mnist/T.pt`` and ``T_surrogate.pt`` from
``bash experiments/transforms/train_for_bounds.sh``; rotational_blur uses the embedded ones.)
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

import gsmooth
from gsmooth.io.checkpoints import load_checkpoint
from gsmooth.data.datasets import load_dataset
from gsmooth.embedded import embedded_default
from gsmooth.interval.engine import slice_key, slice_plan
from gsmooth.core.smoother import PHASE_ESTIMATION, PHASE_SELECTION
from gsmooth.core.stats import clopper_pearson_lower
from gsmooth.surrogate.transform import SurrogateTransform
from gsmooth.core.defaults import defaults_of


def paths(t: str, ckpts: Path) -> tuple[str, str]:
    if t == "rotational_blur" and not (ckpts / f"{t}.pt").exists():
        e = embedded_default("rotational_blur").model_path
        return str(e), str(e.parent / "rotational_blur_surrogate.pt")
    return str(ckpts / f"{t}.pt"), str(ckpts / f"{t}_surrogate.pt")


def run(t: str, args) -> dict:
    model_path, sur_path = paths(t, Path(args.ckpts))
    defaults = defaults_of(t)
    ck = load_checkpoint(model_path)
    model = ck.build_model()
    latent = float(ck.smoothing.get("latent_sigma") or defaults.latent_sigma)
    (lo, hi), = defaults.range
    st = SurrogateTransform.from_checkpoint(sur_path, sigma_ratio=latent / defaults.sigma, certified_range=(lo, hi))
    smoother = gsmooth.Smoother(model, noise="gaussian", sigma=defaults.sigma, transform=st, num_classes=10)
    plan = slice_plan(lo, hi, defaults.slices)
    h = plan.requirement
    centers = plan.centers[:, 0]
    lows, highs = centers - h, centers + h
    true = st.true_transform_module()
    data = load_dataset("fashion-mnist", split="test")
    k_total, slice_alpha = plan.num_slices, args.alpha / plan.num_slices
    rows = []
    for idx in range(args.images):
        x0, label = data[idx]
        t0 = time.perf_counter()
        m_old = float(st.lipschitz_factor(x0, path_origin=x0))
        t_old = time.perf_counter() - t0
        t0 = time.perf_counter()
        bounds = st.path_shift_bounds(x0, lows, highs, centers)
        t_new = time.perf_counter() - t0
        m_new = np.maximum(bounds.upper / h, 1.0)
        with torch.no_grad():
            xs = true(x0.unsqueeze(0).expand(k_total, *x0.shape), torch.as_tensor(plan.centers, dtype=x0.dtype))
        keys = [slice_key(idx, k) for k in range(k_total)]
        c0 = smoother.count(xs, args.n0, batch_size=args.batch, seed=0, phase=PHASE_SELECTION, keys=keys)
        c_hat = c0.argmax(dim=1)
        counts = smoother.count(xs, args.n, batch_size=args.batch, seed=0, phase=PHASE_ESTIMATION, keys=keys)
        n_a = counts.gather(1, c_hat[:, None]).squeeze(1).numpy()
        p = np.atleast_1d(clopper_pearson_lower(n_a, args.n, slice_alpha))
        noise_r = np.where(p > 0.5, defaults.sigma * stats.norm.ppf(np.clip(p, 0.5, 1.0)), 0.0)
        agree = bool(np.all(p > 0.5) and np.all(c_hat.numpy() == int(c_hat[0])))
        old_cert = agree and bool(np.all(noise_r / m_old > h))
        new_cert = agree and bool(np.all(noise_r / m_new > h))
        pred = int(c_hat[0])
        rows.append(dict(
            idx=idx, label=int(label), mstar_old=m_old, mstar_new_max=float(m_new.max()),
            mstar_new_mean=float(m_new.mean()), lower_max=float((bounds.lower / h).max()),
            old_too_small=bool((bounds.lower / h > m_old).any()), guarantee=bounds.guarantee,
            points=int(bounds.points.sum()), old_certified=old_cert and pred == int(label),
            new_certified=new_cert and pred == int(label), seconds_old=t_old, seconds_new=t_new,
        ))
    out = Path(args.out) / t
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "per_image.tsv", "w") as f:
        f.write("\t".join(rows[0]) + "\n")
        for r in rows:
            f.write("\t".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in r.values()) + "\n")
    col = lambda k: np.array([r[k] for r in rows], dtype=float)  # noqa: E731
    summary = dict(
        transform=t, images=len(rows), range=f"{lo:g}:{hi:g}", slices=k_total, n0=args.n0, n=args.n,
        alpha=args.alpha, sigma=defaults.sigma, sigma_xi=latent,
        mstar_old_mean=float(col("mstar_old").mean()), mstar_old_max=float(col("mstar_old").max()),
        mstar_new_mean=float(col("mstar_new_max").mean()), mstar_new_max=float(col("mstar_new_max").max()),
        lower_mean=float(col("lower_max").mean()), old_too_small=int(col("old_too_small").sum()),
        guarantee=rows[0]["guarantee"], certified_old=float(col("old_certified").mean()),
        certified_new=float(col("new_certified").mean()), seconds_old=float(col("seconds_old").mean()),
        seconds_new=float(col("seconds_new").mean()), points_per_image=float(col("points").mean()),
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--transforms", nargs="+", default=["rotational_blur"])
    p.add_argument("--images", type=int, default=30)
    p.add_argument("--n0", type=int, default=30)
    p.add_argument("--n", type=int, default=250)
    p.add_argument("--alpha", type=float, default=0.001)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--ckpts", default="runs/transforms/fashion-mnist")
    p.add_argument("--out", default="experiments/results/transforms/mstar_bounds")
    p.add_argument("--table-only", action="store_true",
                   help="only rebuild OUT/table.md from the OUT/<transform>/summary.json files already there")
    args = p.parse_args()
    if args.table_only:
        order = ["rotational_blur", "defocus_blur", "zoom_blur", "pixelate", "rotation", "scaling", "motion_blur"]
        found = {f.parent.name: json.loads(f.read_text()) for f in Path(args.out).glob("*/summary.json")}
        write_table([found[t] for t in sorted(found, key=lambda t: order.index(t) if t in order else 99)], args.out,
                    merge=False)
        return
    summaries = []
    for t in args.transforms:
        if not Path(paths(t, Path(args.ckpts))[1]).exists():
            print(f"skip {t}: no surrogate (bash experiments/transforms/train_for_bounds.sh {t})")
            continue
        s = run(t, args)
        summaries.append(s)
        print(json.dumps(s))
    write_table(summaries, args.out)


def write_table(summaries: list, out_dir, *, merge: bool = True) -> None:
    lines = [
        "| transform (range) | guarantee after | M* before mean / max (grid G) | M* after mean / max (per-slice bound) "
        "| evaluated lower bound mean | images where the old M* was provably too small | certified % before / after "
        "| seconds per image before / after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        lines.append(
            f"| {s['transform']} ({s['range']}) | {s['guarantee']} | {s['mstar_old_mean']:.2f} / {s['mstar_old_max']:.2f} "
            f"| {s['mstar_new_mean']:.2f} / {s['mstar_new_max']:.2f} | {s['lower_mean']:.2f} | {s['old_too_small']} of "
            f"{s['images']} | {100 * s['certified_old']:.0f} / {100 * s['certified_new']:.0f} "
            f"| {s['seconds_old']:.2f} / {s['seconds_new']:.2f} |"
        )
    table = "\n".join(lines)
    print(table)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if summaries:
        old = (out / "table.md").read_text() if merge and (out / "table.md").exists() else ""
        keep = [ln for ln in old.splitlines()[2:] if ln.split("|")[1].split("(")[0].strip() not in
                {s["transform"] for s in summaries}] if old else []
        (out / "table.md").write_text("\n".join(lines[:2] + keep + lines[2:]) + "\n")


if __name__ == "__main__":
    main()
