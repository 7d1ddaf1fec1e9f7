"""Package the embedded models (step 4 of ``experiments/embedded/build.sh``).

Copies ``additive.pt``, ``rotational_blur.pt`` (optimizer/scheduler state stripped: the package needs
weights, not a resumable training state) and ``rotational_blur_surrogate.pt`` from ``--runs`` into
``--out`` (``gsmooth/embedded``); the model's recorded surrogate path becomes the bare file name
(relative to the checkpoint's folder, see ``gsmooth.run.smoother_setup.recorded_path_near``), its sha256 is
kept. Which models those are, and the quickstart's sample sizes, come from ``--defaults``
(``experiments/embedded/embedded.json``, one entry per transform; checked, then copied into ``--out``
as ``embedded.json``, which ``gsmooth.embedded`` reads). Writes the first 500 Fashion-MNIST test
images (``fashion_mnist_test_sample.pt``) and ``manifest.json`` (sha256, size of every file, the
build commands and the training logs' summaries).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch

import gsmooth
from gsmooth.io.checkpoints import file_sha256 as sha256, load_checkpoint, save_checkpoint
from gsmooth.data.datasets import load_dataset
from gsmooth.core.defaults import defaults_of
from gsmooth.embedded import DEFAULTS_FILE, SAMPLE_FILE, SAMPLE_SIZE, read_defaults

LIMIT_BYTES = 10 * 1024 * 1024


def strip(ck, dst: Path, surrogate_name: str | None) -> None:
    """Write checkpoint ``ck`` (loaded) to ``dst`` without optimizer/scheduler state."""
    smoothing = dict(ck.smoothing or {})
    if surrogate_name is not None:
        smoothing["surrogate"] = surrogate_name
    save_checkpoint(
        dst, model=ck.build_model(), arch=ck.arch, dataset=ck.dataset, num_classes=ck.num_classes,
        input_shape=ck.input_shape, mean=ck.mean, std=ck.std, smoothing=smoothing, epoch=ck.epoch,
        extra=ck.extra,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--build-log", type=Path, default=None)
    ap.add_argument("--defaults", type=Path, default=Path(__file__).resolve().parent / DEFAULTS_FILE,
                    help="the embedded defaults to package (default: embedded.json beside this script)")
    args = ap.parse_args()
    embedded = read_defaults(args.defaults)
    if not embedded:
        raise SystemExit(f"expected embedded defaults in {args.defaults}, got none")
    for emb in embedded.values():  # a registered transform; an interval certificate needs its default range
        declared = defaults_of(emb.transform)
        if emb.interval and (declared is None or declared.range is None):
            raise SystemExit(f"{args.defaults}: {emb.transform!r} has interval true, expected it to declare a default range")
    args.out.mkdir(parents=True, exist_ok=True)
    files = []
    for emb in embedded.values():
        ck = load_checkpoint(args.runs / emb.model)
        sur = (ck.smoothing or {}).get("surrogate")
        sur_name = None
        if sur:
            sur_name = Path(sur).name
            shutil.copyfile(sur, args.out / sur_name)
            files.append(sur_name)
        strip(ck, args.out / emb.model, sur_name)
        files.append(emb.model)
    test = load_dataset("fashion-mnist", split="test")
    torch.save(
        {"images": test.data[:SAMPLE_SIZE].clone(), "labels": test.targets[:SAMPLE_SIZE].clone(),
         "source": f"Fashion-MNIST test set, images 0..{SAMPLE_SIZE - 1} in test-set order"},
        args.out / SAMPLE_FILE,
    )
    files.append(SAMPLE_FILE)
    shutil.copyfile(args.defaults, args.out / DEFAULTS_FILE)
    files.append(DEFAULTS_FILE)
    entries = {f: {"sha256": sha256(args.out / f), "bytes": (args.out / f).stat().st_size} for f in files}
    total = sum(e["bytes"] for e in entries.values())
    if total > LIMIT_BYTES:
        raise SystemExit(f"embedded files take {total} bytes, expected at most {LIMIT_BYTES}")
    manifest = {
        "built_with": {"gsmooth": gsmooth.__version__, "torch": torch.__version__},
        "command": "bash experiments/embedded/build.sh",
        "files": entries,
        "total_bytes": total,
        "build_log": args.build_log.read_text() if args.build_log and args.build_log.is_file() else None,
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"packaged {len(files)} files, {total / 1e6:.2f} MB, into {args.out}")


if __name__ == "__main__":
    main()
