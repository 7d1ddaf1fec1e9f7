"""MILP time against hidden units: the whole MILP (every margin, big-M constants from interval bound
propagation, as in Tjeng et al. 2019 and the courses' "MILP scales to ~100 hidden units"), without
gsmooth verify's CROWN pre-pass (which proves most margins before the MILP runs and so hides its cost).

For each 784-h-10 MLP of experiments/verification/run.sh (runs/verification/mlp<h>_sigma025.pt) and the
first IMAGES correctly classified Fashion-MNIST test images, two questions per image at l-inf eps:
the sign question (is every margin > 0? scipy HiGHS MILP, sign mode, what `verify --method milp` asks)
and the exact minimum of every margin (exact=True). Prints and writes a markdown table.

Usage: python experiments/verification/milp_scaling.py [--eps 0.03] [--images 8] [--time-limit 20]
           [--ckpts runs/verification] [--out experiments/results/verification/milp_scaling.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from gsmooth.data.datasets import load_dataset
from gsmooth.io.checkpoints import load_checkpoint
from gsmooth.verification import input_region, interval_bounds, relu_network
from gsmooth.verification.milp import milp_minimum

WIDTHS = (10, 20, 50, 100, 200)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eps", type=float, default=0.03)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--time-limit", type=float, default=20.0)
    ap.add_argument("--ckpts", default="runs/verification")
    ap.add_argument("--out", default="experiments/results/verification/milp_scaling.md")
    args = ap.parse_args()
    data = load_dataset("fashion-mnist", split="test")
    rows = []
    for h in WIDTHS:
        path = os.path.join(args.ckpts, f"mlp{h}_sigma025.pt")
        if not os.path.exists(path):
            print(f"skip h={h}: {path} missing (bash experiments/verification/run.sh trains it)")
            continue
        ckpt = load_checkpoint(path)
        model = ckpt.build_model()
        net = relu_network(model, input_shape=ckpt.input_shape)
        times = {"sign": [], "exact": []}
        limits = {"sign": 0, "exact": 0}
        unstable, answers = [], []
        i = taken = 0
        while taken < args.images:
            x, y = data[i]
            i += 1
            with torch.no_grad():
                if int(model(x[None]).argmax()) != y:
                    continue
            taken += 1
            margins, _ = net.margin_network(int(y))
            region = input_region(x.numpy(), eps=args.eps, norm="linf")
            ibp = interval_bounds(margins, region)
            unstable.append(int(sum(np.sum((lo < 0) & (hi > 0)) for lo, hi in zip(ibp.pre_lower, ibp.pre_upper))))
            for mode in ("sign", "exact"):
                t0 = time.perf_counter()
                out = milp_minimum(margins, region, intermediate=ibp, time_limit=args.time_limit, exact=mode == "exact")
                times[mode].append(time.perf_counter() - t0)
                limits[mode] += any("time_limit" in str(s) for s in out.status)
                if mode == "sign":
                    answers.append("NO" if out.adversarial is not None else
                                   "YES" if np.all(np.asarray(out.lower) > 0) else "MAYBE")
        rows.append((h, taken, statistics.median(unstable), times, limits, answers))
        print(f"h={h}: sign median {statistics.median(times['sign']):.2f} s, exact median "
              f"{statistics.median(times['exact']):.2f} s, unstable ReLUs median {statistics.median(unstable)}")
    lines = [
        "# MILP time against hidden units (784-h-10 MLPs, Fashion-MNIST)",
        "",
        f"Made by `python experiments/verification/milp_scaling.py --eps {args.eps:g} --images {args.images} "
        f"--time-limit {args.time_limit:g}` (one thread; CPU: see experiments/results/README.md).",
        f"l-inf eps = {args.eps:g} in the pixel box, the first {args.images} correctly classified test images; every margin",
        "in one MILP call, big-M constants from interval bound propagation (no CROWN pre-pass). sign: the decision",
        "question (is every margin > 0?, what `gsmooth verify --method milp` asks of the margins CROWN leaves open);",
        f"exact: the minimum of every margin. Time limit {args.time_limit:g} s per call (a call at the limit counts its limit).",
        "",
        "| hidden ReLUs | images | unstable ReLUs (median) | sign: median s | sign: max s | sign: at limit | exact: median s | exact: max s | exact: at limit | answers (sign) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for h, n, unst, times, limits, answers in rows:
        counts = ", ".join(f"{a} {answers.count(a)}" for a in ("YES", "NO", "MAYBE") if answers.count(a))
        lines.append(f"| {h} | {n} | {unst:g} | {statistics.median(times['sign']):.2f} | {max(times['sign']):.2f} | "
                     f"{limits['sign']} | {statistics.median(times['exact']):.2f} | {max(times['exact']):.2f} | "
                     f"{limits['exact']} | {counts} |")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(args.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
