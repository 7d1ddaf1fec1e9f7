"""Certification throughput against the bare model's forward throughput.

Prints noisy samples per second, side by side in one run, for

(a) the bare classifier's forward pass on a fixed batch;
(b) gsmooth's additive sampling loop (noise draws, transform, forward, vote counting) at the same
    batch size, with the next batch's noise drawn on a worker thread (prefetch, the default) and
    without (``Smoother._prefetch = False``);
(c) with ``--surrogate PATH`` (default: the embedded rotational-blur surrogate and model): the bare
    forward of ``f∘H`` on a fixed latent batch, and gsmooth's surrogate route — one image per batch
    (``count``) and ten images packed in each batch (what an interval certificate's slices or a
    sequential look do);

plus each loop's overhead over its bare forward in per cent. Goal (issue 11): ≤ 5 % for the
additive loop on CPU (2 threads).

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
    ap.add_argument("--surrogate", default="embedded", help="surrogate checkpoint for (c) ('none': skip; 'embedded': "
                    "the embedded rotational-blur surrogate and its model)")
    ap.add_argument("--surrogate-batches", type=int, default=3, help="forward batches per round for (c)")
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

    def smoothed(prefetch: bool) -> float:
        smoother._prefetch = prefetch
        sync()
        t = time.perf_counter()
        smoother.count(image, samples, batch_size=args.batch, seed=0)
        sync()
        return samples / (time.perf_counter() - t)

    measures = {
        "bare classifier forward (+argmax)": bare,
        "gsmooth additive, prefetch": lambda: smoothed(True),
        "gsmooth additive, no prefetch": lambda: smoothed(False),
    }
    relative = {"gsmooth additive, prefetch": "bare classifier forward (+argmax)",
                "gsmooth additive, no prefetch": "bare classifier forward (+argmax)"}
    if args.surrogate != "none":
        measures.update(_surrogate_measures(args, device, sync))
        relative.update({
            "gsmooth surrogate route, 1 image per batch": "bare f∘H forward (fixed latent)",
            "gsmooth surrogate route, 10 images per batch": "bare f∘H forward (fixed latent)",
        })
    for fn in measures.values():  # warm-up
        fn()
    rounds = {name: [] for name in measures}
    for _ in range(args.repeats):  # interleaved: a busy machine affects every measurement alike
        for name, fn in measures.items():
            rounds[name].append(fn())
    med = {name: statistics.median(v) for name, v in rounds.items()}
    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"# throughput: {args.arch} {shape}, {args.noise} sigma={args.sigma}, batch {args.batch}, device {dev}, "
          f"torch {torch.__version__}, median of {args.repeats} interleaved rounds")
    print("| measurement | samples/s | overhead over its bare forward |")
    print("|---|---:|---:|")
    for name, v in med.items():
        ref = relative.get(name)
        over = f"{100.0 * (med[ref] / v - 1.0):.1f} %" if ref else "—"
        print(f"| {name} | {v:,.0f} | {over} |")


def _surrogate_measures(args, device, sync) -> dict:
    """(c): f∘H on a fixed latent batch, and the surrogate route's sampling loop (1 and 10 images per batch)."""
    from gsmooth.embedded import embedded_default
    from gsmooth.surrogate.io import load_surrogate
    from gsmooth.surrogate.transform import SurrogateTransform

    if args.surrogate == "embedded":
        smoother = gsmooth.Smoother.from_checkpoint(embedded_default("rotational_blur").model_path, device=device)
    else:
        base = gsmooth.Smoother(build_model(args.arch, num_classes=args.classes, input_shape=(1, 28, 28), mean=0.5,
                                            std=0.25).to(device).eval(), noise="gaussian", sigma=2.5,
                                num_classes=args.classes, device=device)
        sur = load_surrogate(args.surrogate)
        smoother = gsmooth.Smoother(base.model, noise="gaussian", sigma=2.5, num_classes=args.classes, device=device,
                                    transform=SurrogateTransform(sur, sigma_ratio=1.0 / 2.5))
    transform, model = smoother.transform, smoother.model
    shape = tuple(transform.surrogate.input_shape)
    images = torch.rand((10, *shape), generator=torch.Generator().manual_seed(2)).to(device)
    samples = args.batch * args.surrogate_batches
    with torch.inference_mode():
        z = transform.surrogate.encode(images[:1]).expand(args.batch, *transform.surrogate.encode(images[:1]).shape[1:])
        z = z + 0.1 * torch.randn(z.shape, generator=torch.Generator().manual_seed(3)).to(device)

    def bare_fh() -> float:
        sync()
        t = time.perf_counter()
        with torch.inference_mode():
            for _ in range(args.surrogate_batches):
                model(transform.surrogate.decode(z)).argmax(1)
        sync()
        return samples / (time.perf_counter() - t)

    def route(per_batch: int):
        def run() -> float:
            sync()
            t = time.perf_counter()
            smoother.count(images[:per_batch], samples // per_batch, batch_size=args.batch, seed=0)
            sync()
            return samples / (time.perf_counter() - t)
        return run

    return {
        "bare f∘H forward (fixed latent)": bare_fh,
        "gsmooth surrogate route, 1 image per batch": route(1),
        "gsmooth surrogate route, 10 images per batch": route(10),
    }


if __name__ == "__main__":
    main()
