"""Noisy samples per second of CERTIFY's sampling: the bare model, gsmooth, and locuslab/smoothing's loop.

For each model × precision × batch size, three measurements on the same model (random weights), the
same device and the same forward pass (autocast at ``--precision``, ``--channels-last``, ``--compile``):

(a) **bare forward**: the model (+ argmax) on a fixed batch of random inputs, ``batch`` at a time —
    the ceiling any smoothing loop can reach;
(b) **gsmooth**: :meth:`gsmooth.Smoother.certify` (``n0`` selection + ``n`` estimation samples per
    image: seeded noise blocks drawn on the device, several images per forward batch when n < batch,
    votes counted on the device);
(c) **locuslab**: the core of locuslab/smoothing's ``Smooth.certify`` re-implemented here
    (``Smooth._sample_noise``: per batch ``batch = x.repeat((this_batch_size, 1, 1, 1))``,
    ``noise = torch.randn_like(batch) * sigma``, ``predictions = f(batch + noise).argmax(1)``,
    ``counts += bincount`` on the host), ``n0`` then ``n`` samples per image, on the same forward pass.

Models: ``resnet110`` (gsmooth's CIFAR ResNet-110, 3×32×32, 10 classes) and ``tv:resnet50``
(torchvision's ResNet-50 at 3×224×224, 1000 classes), as in Cohen et al.'s CIFAR-10 / ImageNet tables
(~15 s / ~150 s per image at n = 100,000 on one 2019 GPU with their code).

    python experiments/benchmark_gpu.py --models resnet110 --batch 100 --n0 20 --n 400      # CPU, small
    python experiments/benchmark_gpu.py --device cuda --batch 400,1000,2000,4000 --precision fp32,bf16,fp16 \\
        --n 10000 --out gpu_sweep.md
    python experiments/benchmark_gpu.py --device cuda --batch 1000 --precision fp32,bf16 --n 100000 --images 3

Rounds are interleaved ((a), (b), (c), then (b), (c), (a), …) ``--repeats`` times and the median is
reported, so a busy machine affects all three alike (``--clock process`` times the process's CPU time instead of the wall:
for a CPU run on a shared machine). ``s/image`` is the time of one image's CERTIFY
(``n0 + n`` samples) measured in (b) and (c); for (a) the same sample count at the bare rate.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time

import numpy as np
import torch

import gsmooth
from gsmooth.models.architectures import build_model

#: (input shape, classes, mean, std) per model name.
MODELS = {
    "resnet110": ((3, 32, 32), 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "tv:resnet50": ((3, 224, 224), 1000, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def _list(text: str, kind=str) -> list:
    return [kind(t) for t in text.split(",") if t.strip()]


def locuslab_sample_noise(forward, x: torch.Tensor, num: int, batch_size: int, sigma: float, num_classes: int):
    """locuslab/smoothing ``Smooth._sample_noise`` (core/core.py), with ``base_classifier`` = ``forward``."""
    with torch.no_grad():
        counts = np.zeros(num_classes, dtype=int)
        for _ in range(math.ceil(num / batch_size)):
            this_batch_size = min(batch_size, num)
            num -= this_batch_size
            batch = x.repeat((this_batch_size, 1, 1, 1))
            noise = torch.randn_like(batch, device=x.device) * sigma
            predictions = forward(batch + noise).argmax(1)
            counts += np.bincount(predictions.cpu().numpy(), minlength=num_classes)[:num_classes]
        return counts


def measure(arch: str, *, device, precision: str, batch: int, n0: int, n: int, images: int, sigma: float,
            channels_last: bool, compile_backend, repeats: int, clock=time.perf_counter) -> dict:
    shape, classes, mean, std = MODELS[arch]
    torch.manual_seed(0)
    model = build_model(arch, num_classes=classes, input_shape=shape, mean=mean, std=std).eval()
    smoother = gsmooth.Smoother(model, noise="gaussian", sigma=sigma, num_classes=classes, device=device,
                                precision=precision, channels_last=channels_last, compile=compile_backend or False)
    forward = smoother._forward  # the forward pass all three use: autocast, channels_last, compiled
    gen = torch.Generator().manual_seed(1)
    xs = torch.rand((images, *shape), generator=gen).to(device)
    fixed = torch.rand((batch, *shape), generator=gen).to(device)
    per_image = n0 + n
    bare_batches = math.ceil(per_image * images / batch)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def bare() -> float:
        sync()
        t = clock()
        with torch.inference_mode():
            for _ in range(bare_batches):
                forward(fixed).argmax(1)
        sync()
        return bare_batches * batch / (clock() - t)

    def ours() -> float:
        sync()
        t = clock()
        smoother.certify(xs, n0=n0, n=n, alpha=0.001, batch_size=batch, seed=0)
        sync()
        return images * per_image / (clock() - t)

    def theirs() -> float:
        sync()
        t = clock()
        for i in range(images):
            locuslab_sample_noise(forward, xs[i : i + 1], n0, batch, sigma, classes)
            locuslab_sample_noise(forward, xs[i : i + 1], n, batch, sigma, classes)
        sync()
        return images * per_image / (clock() - t)

    with torch.inference_mode():  # warm-up: compilation, cuDNN plans, allocator
        forward(fixed).argmax(1)
        forward(fixed[: max(1, batch // 3)]).argmax(1)
    smoother.certify(xs[:1], n0=min(n0, batch), n=min(n, batch), alpha=0.001, batch_size=batch, seed=1)
    rates = ([], [], [])
    for r in range(repeats):  # the order rotates from round to round: none is always first (or last)
        for j in (r % 3, (r + 1) % 3, (r + 2) % 3):
            rates[j].append((bare, ours, theirs)[j]())
    a, b, c = (statistics.median(x) for x in rates)
    return {"model": arch, "input": "x".join(map(str, shape)), "precision": precision, "batch": batch,
            "bare": a, "gsmooth": b, "locuslab": c, "s_bare": per_image / a, "s_gsmooth": per_image / b,
            "s_locuslab": per_image / c}


def profile_once(arch: str, *, device, precision: str, batch: int, n0: int, n: int, images: int, sigma: float,
                 channels_last: bool, compile_backend) -> str:
    """One gsmooth CERTIFY under :mod:`torch.profiler` (CPU and, on cuda, CUDA activity): the top operators,
    the number of forward passes, and the host↔device copies and synchronisations of the call — what
    shows that noise is drawn on the device, images share forward batches and nothing is read back
    per batch."""
    from torch.profiler import ProfilerActivity, profile

    shape, classes, mean, std = MODELS[arch]
    torch.manual_seed(0)
    model = build_model(arch, num_classes=classes, input_shape=shape, mean=mean, std=std).eval()
    smoother = gsmooth.Smoother(model, noise="gaussian", sigma=sigma, num_classes=classes, device=device,
                                precision=precision, channels_last=channels_last, compile=compile_backend or False)
    xs = torch.rand((images, *shape), generator=torch.Generator().manual_seed(1)).to(device)
    forwards = []
    model.register_forward_pre_hook(lambda m, i: forwards.append(i[0].shape[0]))
    smoother.certify(xs, n0=n0, n=n, alpha=0.001, batch_size=batch, seed=1)  # warm-up
    forwards.clear()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        smoother.certify(xs, n0=n0, n=n, alpha=0.001, batch_size=batch, seed=0)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    events = prof.key_averages()
    names = {e.key: e.count for e in events}
    copies = {k: v for k, v in names.items() if "Memcpy" in k or k in ("aten::_local_scalar_dense", "aten::item",
                                                                          "cudaStreamSynchronize", "cudaDeviceSynchronize")}
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return (f"## profile: {arch} {precision} batch {batch}, {images} image(s), n0={n0}, n={n}\n"
            f"forward passes: {len(forwards)} (batch sizes {forwards[:8]}{' …' if len(forwards) > 8 else ''}); "
            f"noise kernels (aten::normal_): {names.get('aten::normal_', 0)}; copies and syncs: {copies or 'none'}\n\n"
            + events.table(sort_by=sort, row_limit=15) + "\n")


def table(rows: list[dict], header: str) -> str:
    lines = [header, "",
             "| model | input | precision | batch | bare forward samples/s | gsmooth samples/s | locuslab samples/s "
             "| gsmooth / bare | gsmooth / locuslab | s/image bare | s/image gsmooth | s/image locuslab |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    def rate(v: float) -> str:
        return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"

    for r in rows:
        lines.append(
            f"| {r['model']} | {r['input']} | {r['precision']} | {r['batch']} | {rate(r['bare'])} | {rate(r['gsmooth'])} | "
            f"{rate(r['locuslab'])} | {r['gsmooth'] / r['bare']:.2f} | {r['gsmooth'] / r['locuslab']:.2f} | "
            f"{r['s_bare']:.3g} | {r['s_gsmooth']:.3g} | {r['s_locuslab']:.3g} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="resnet110,tv:resnet50", help="comma list of: " + ", ".join(MODELS))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", help="comma list of fp32, bf16, fp16 (fp16: cuda only)")
    ap.add_argument("--batch", default="400", help="comma list of batch sizes (noisy samples per forward pass)")
    ap.add_argument("--n0", type=int, default=100, help="selection samples per image (default: 100, as Cohen et al.)")
    ap.add_argument("--n", type=int, default=100_000, help="estimation samples per image (default: 100,000)")
    ap.add_argument("--images", type=int, default=1, help="images certified per measurement (default: 1)")
    ap.add_argument("--sigma", type=float, default=0.25)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--compile", nargs="?", const="inductor", default=None, metavar="BACKEND")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds, median reported (default: 3)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--out", help="also write the table (markdown) to this file")
    ap.add_argument("--clock", choices=("wall", "process"), default="wall",
                    help="wall time (default), or the process's CPU time (a CPU run on a machine shared with other "
                    "jobs: what the computation itself took; meaningless on cuda)")
    ap.add_argument("--profile", action="store_true",
                    help="after each measurement, profile one gsmooth CERTIFY (forward passes, noise kernels, copies)")
    ap.add_argument("--sync-debug", action="store_true",
                    help="cuda: torch.cuda.set_sync_debug_mode('warn') around gsmooth's loop (expect one sync per "
                    "selection/estimation phase: the counts' copy to the host)")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        dev = f"{torch.cuda.get_device_name(device)}"
    else:
        dev = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    extras = "".join((", channels_last" if args.channels_last else "", f", compile={args.compile}" if args.compile else ""))
    header = (f"# samples/s: device {args.device} ({dev}), torch {torch.__version__}, gaussian sigma={args.sigma}, "
              f"n0={args.n0}, n={args.n} per image, {args.images} image(s), median of {args.repeats}{extras}"
              + (", clock: process CPU time" if args.clock == "process" else ""))
    print(header, flush=True)
    rows = []
    for arch in _list(args.models):
        for precision in _list(args.precision):
            for batch in _list(args.batch, int):
                t = time.perf_counter()
                r = measure(arch, device=device, precision=precision, batch=batch, n0=args.n0, n=args.n,
                            images=args.images, sigma=args.sigma, channels_last=args.channels_last,
                            compile_backend=args.compile, repeats=args.repeats,
                            clock=time.process_time if args.clock == "process" else time.perf_counter)
                rows.append(r)
                print(table([r], "").splitlines()[-1] + f"  ({time.perf_counter() - t:.0f} s)", flush=True)
                kw = dict(device=device, precision=precision, batch=batch, n0=args.n0, n=args.n, images=args.images,
                          sigma=args.sigma, channels_last=args.channels_last, compile_backend=args.compile)
                if args.profile:
                    print(profile_once(arch, **kw), flush=True)
                if args.sync_debug and device.type == "cuda":
                    import warnings

                    smoother_kw = {k: kw[k] for k in ("device", "precision", "channels_last")}
                    shape, classes, mean, std = MODELS[arch]
                    model = build_model(arch, num_classes=classes, input_shape=shape, mean=mean, std=std).eval()
                    s = gsmooth.Smoother(model, noise="gaussian", sigma=args.sigma, num_classes=classes, **smoother_kw)
                    x1 = torch.rand((1, *shape)).to(device)
                    s.certify(x1, n0=args.n0, n=min(args.n, 10 * batch), batch_size=batch)
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        torch.cuda.set_sync_debug_mode("warn")
                        try:
                            s.certify(x1, n0=args.n0, n=min(args.n, 10 * batch), batch_size=batch)
                        finally:
                            torch.cuda.set_sync_debug_mode("default")
                    print(f"sync-debug: {len(caught)} synchronizing call(s) in one CERTIFY of "
                          f"{math.ceil(args.n0 / batch) + math.ceil(min(args.n, 10 * batch) / batch)} forward passes",
                          flush=True)
                    for w in caught[:6]:
                        print("   ", str(w.message).splitlines()[0][:160])
    text = table(rows, header)
    print()
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
