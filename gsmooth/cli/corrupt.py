"""``gsmooth corrupt``: write CIFAR-10-C-style corrupted copies of a test set (19 corruptions × 5 severities)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..data.datasets import list_datasets
from ..errors import InvalidParameterError, OutputFileError
from .common import HelpFormatter, batch_int, positive_int, seed_int


def add_parser(sub) -> None:
    p = sub.add_parser(
        "corrupt",
        help="write corrupted copies of a test set in the CIFAR-10-C layout",
        description=(
            "Corrupt the test split of a dataset with the corruptions of CIFAR-10-C (Hendrycks & Dietterich "
            "2019: 15 standard + 4 extra, severities 1-5, gsmooth.data.corruptions) and write the CIFAR-10-C layout: "
            "OUT/<corruption>.npy uint8 (5N, H, W, C), rows [(s-1)N, sN) = severity s, OUT/labels.npy, "
            "and OUT/info.json. Seeded per (corruption, severity): the same seed and --batch give the same "
            "files, and one corruption can be regenerated alone. Read them with gsmooth.data.cifar_c.load_corrupted."
        ),
        epilog="example: gsmooth corrupt --dataset fashion-mnist --out fmnist_c --corruptions gaussian_noise,fog",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--dataset", required=True, help=f"clean dataset whose test split is corrupted ({', '.join(list_datasets())})")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--corruptions", default=None, metavar="A,B,...", help="comma-separated corruption names (default: all 19)"
    )
    p.add_argument("--max", type=positive_int, default=None, help="corrupt only the first MAX test images (default: all)")
    p.add_argument("--seed", type=seed_int, default=0, help="base seed")
    p.add_argument("--batch", type=batch_int, default=1000, help="images per corruption call (memory; part of the random recipe)")
    p.add_argument("--data-dir", default=None, metavar="D", help="dataset root (default: see gsmooth.data.datasets.load_dataset)")
    p.add_argument("--download", action="store_true", help="let torchvision download the dataset if missing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _parse_names(text: str | None) -> list[str] | None:
    from ..data.corruptions import check_corruption_name

    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise InvalidParameterError(f"--corruptions expected comma-separated corruption names, got {text!r}")
    return [check_corruption_name(n) for n in names]


def _check_out_folder(args, names: list[str]) -> None:
    """``--out``: a folder gsmooth corrupt wrote with the same recipe (its info.json is checked when the
    data is known), or one holding none of the files this run writes; never the dataset folder."""
    from ..data.cifar_c import INFO_FILE, LABELS_FILE
    from ..io.output_files import check_not_input, check_output_dir, probe_writable

    from ..data.datasets import dataset_files

    if not args.out.strip():  # Path("") would be the current folder
        raise OutputFileError("--out expected a folder path, got an empty one")
    out = Path(os.path.expanduser(args.out))
    # the folders the clean dataset is read from (the Debian Fashion-MNIST folder, torchvision's
    # root, the package's embedded sample) are inputs too, --data-dir given or not
    inputs = {"--data-dir": args.data_dir}
    for folder in sorted({f.parent for f in dataset_files(args.dataset, root=args.data_dir)}):
        inputs[f"--dataset {args.dataset} ({folder})"] = folder
    if out.is_dir() and (out / INFO_FILE).is_file():  # written by gsmooth corrupt: write_corrupted checks its recipe
        check_not_input(out, inputs, option="--out")
        probe_writable(out, option="--out", target=args.out)
        return
    check_output_dir(out, option="--out", inputs=inputs, names=(INFO_FILE, LABELS_FILE, *(f"{n}.npy" for n in names)))


def run(args) -> int:
    from ..data.cifar_c import write_corrupted
    from ..data.corruptions import CORRUPTIONS
    from ..data.datasets import load_dataset

    names = _parse_names(args.corruptions)  # fail fast, before loading the data
    _check_out_folder(args, names if names is not None else list(CORRUPTIONS))
    ds = load_dataset(args.dataset, split="test", root=args.data_dir, download=args.download)
    n = len(ds) if args.max is None else min(args.max, len(ds))
    t0 = time.perf_counter()
    write_corrupted(
        args.out, ds.data[:n], ds.targets[:n], corruptions=names, seed=args.seed, batch_size=args.batch,
        progress=not args.no_progress, source=ds.name,
    )
    elapsed = time.perf_counter() - t0
    k = len(names) if names is not None else len(CORRUPTIONS)
    print(
        f"corrupted {n} images × {k} corruptions × 5 severities ({n * k * 5} images) of {ds.name} "
        f"in {elapsed:.1f} s; wrote {args.out}"
    )
    return 0
