"""Certification throughput against the bare model's forward throughput.

Prints noisy samples per second for (a) the bare model's forward pass on a fixed batch, and
(b) gsmooth's sampling loop (noise draws, transform, forward, vote counting) at the same batch
size, plus the overhead of (b) over (a) in per cent. Goal: ≤ 10 % on CPU for the small CNN with
Gaussian noise.

    python experiments/benchmark_throughput.py                      # small CNN, 28x28, CPU
    python experiments/benchmark_throughput.py --arch resnet20 --shape 3,32,32 --batch 500
    python experiments/benchmark_throughput.py --device cuda --batch 10000

Both measurements run interleaved for ``--repeats`` rounds and the median round is reported, so a
busy machine affects both alike.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

import gsmooth
from gsmooth.models.architectures import build_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="small_cnn")
    ap.add_argument("--shape", default="1,28,28", help="C,H,W")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--noise", default="gaussian")
    ap.add_argument("--sigma", type=float, default=0.25)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--batches", type=int, default=10, help="forward batches per round")
    ap.add_argument("--repeats", type=int, default=5, help="rounds (median reported)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    shape = tuple(int(s) for s in args.shape.split(","))
    model = build_model(args.arch, num_classes=args.classes, input_shape=shape, mean=0.5, std=0.25).to(device).eval()
    smoother = gsmooth.Smoother(model, noise=args.noise, sigma=args.sigma, num_classes=args.classes, device=device)
    image = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    batch = torch.rand((args.batch, *shape), generator=torch.Generator().manual_seed(1)).to(device)
    samples = args.batch * args.batches

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def bare() -> float:
        sync()
        t = time.perf_counter()
        with torch.inference_mode():
            for _ in range(args.batches):
                model(batch).argmax(1)
        sync()
        return samples / (time.perf_counter() - t)

    def smoothed() -> float:
        sync()
        t = time.perf_counter()
        smoother.count(image, samples, batch_size=args.batch, seed=0)
        sync()
        return samples / (time.perf_counter() - t)

    bare(), smoothed()  # warm-up
    rounds = [(bare(), smoothed()) for _ in range(args.repeats)]
    b = statistics.median(r[0] for r in rounds)
    s = statistics.median(r[1] for r in rounds)
    overhead = 100.0 * (b / s - 1.0)
    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"# throughput: {args.arch} {shape}, {args.noise} sigma={args.sigma}, batch {args.batch}, device {dev}, torch {torch.__version__}")
    print("| measurement | samples/s |")
    print("|---|---:|")
    print(f"| bare model forward (+argmax) | {b:,.0f} |")
    print(f"| gsmooth certification sampling | {s:,.0f} |")
    print(f"| overhead | {overhead:.1f} % |")


if __name__ == "__main__":
    main()
