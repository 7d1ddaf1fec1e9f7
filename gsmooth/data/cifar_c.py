"""Corrupted test sets in the CIFAR-10-C layout (Hendrycks & Dietterich, ICLR 2019): read and write.

The layout (a folder ``root``), the same for Hendrycks' CIFAR-10-C / CIFAR-100-C downloads and for
the sets :func:`write_corrupted` (``gsmooth corrupt``) generates from any test split:

- ``<corruption>.npy``: ``uint8`` array ``(5N, H, W, C)`` (channels last; ``(5N, H, W)`` and
  ``(5N, H, W, 1)`` are read as grayscale), one file per corruption named as in
  :data:`gsmooth.data.corruptions.CORRUPTIONS`. Rows ``[(s − 1)·N, s·N)`` hold severity ``s`` = 1..5, in
  test-set order. CIFAR-10-C: ``(50000, 32, 32, 3)``, 600 MB for the 19 files.
- ``labels.npy``: ``(5N,)`` ``uint8``, the test labels repeated 5 times.
- ``info.json`` (ours only): source dataset, seed, batch size, corruptions, shapes, versions.

Files are opened with ``np.load(mmap_mode="r")``: loading one severity reads only its rows.

Reproducibility of :func:`write_corrupted`: the rows of one (corruption, severity) are corrupted in
consecutive batches of ``batch_size`` images with one CPU :class:`torch.Generator` seeded by
:func:`corruption_seed` ``(seed, corruption, severity)``. Each (corruption, severity) has its own
stream, so one corruption can be regenerated alone, or added to an existing folder, and comes out
identical for the same ``(seed, batch_size)`` (both are recorded in ``info.json``). Pixel values are
rounded to the nearest ``uint8`` (Hendrycks' script truncates with ``np.uint8``).

Example:
    >>> from gsmooth.data.cifar_c import load_corrupted, available_corruptions
    >>> ds = load_corrupted("CIFAR-10-C", "fog", 3, max_images=100)  # doctest: +SKIP
    >>> x, y = ds[0]; x.shape  # doctest: +SKIP
    torch.Size([3, 32, 32])
"""

from __future__ import annotations

import hashlib
import json
import os
from numbers import Integral
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch

from .. import __version__
from .corruptions import CORRUPTIONS, SEVERITIES, check_corruption_name, check_severity, corrupt
from .datasets import DatasetInfo, ImageTensorDataset, dataset_info
from ..errors import DatasetFormatError, DatasetNotFoundError, InputError, InvalidParameterError, OutputFileError, UnknownComponentError
from ..io.output_files import atomic_output, atomic_write, check_output_dir
from ..validation import check_path

__all__ = [
    "available_corruptions",
    "corruption_seed",
    "load_corrupted",
    "write_corrupted",
    "INFO_FILE",
    "LABELS_FILE",
    "ZENODO_CIFAR10_C",
]

PathLike = Union[str, "os.PathLike[str]"]

#: Metadata written by :func:`write_corrupted`.
INFO_FILE = "info.json"
#: Labels file of the layout.
LABELS_FILE = "labels.npy"
#: Where Hendrycks' CIFAR-10-C is published (CIFAR-100-C: record 3555552).
ZENODO_CIFAR10_C = "https://zenodo.org/records/2535967"

_HOW_TO_GET = (
    f"To get CIFAR-10-C, download CIFAR-10-C.tar from Zenodo record 2535967 ({ZENODO_CIFAR10_C}) and pass "
    "the extracted folder that holds the .npy files; or generate a set with "
    "`gsmooth corrupt --dataset fashion-mnist --out DIR` (gsmooth.data.cifar_c.write_corrupted)"
)


def corruption_seed(seed: int, corruption: str, severity: int) -> int:
    """The 63-bit seed of the generator used for one (corruption, severity) by :func:`write_corrupted`.

    Derived by SHA-256 from ``(seed, corruption, severity)``, so it does not depend on which other
    corruptions are written, nor on Python's hash randomisation.

    Example:
        >>> corruption_seed(0, "fog", 1) == corruption_seed(0, "fog", 1) != corruption_seed(0, "fog", 2)
        True
    """
    text = f"gsmooth-corrupt:{int(seed)}:{corruption}:{int(severity)}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") & ((1 << 63) - 1)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def available_corruptions(root: PathLike) -> list[str]:
    """Names of the corruptions whose ``<name>.npy`` is in ``root``, in :data:`CORRUPTIONS` order.

    A missing folder gives an empty list.

    Example:
        >>> available_corruptions("/nonexistent")
        []
    """
    root = Path(os.path.expanduser(root))
    return [name for name in CORRUPTIONS if (root / f"{name}.npy").is_file()]


def _open_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetFormatError(f"{str(path)!r}: expected a readable .npy array, got {exc}") from exc


def _read_info(root: Path) -> Optional[dict]:
    path = root / INFO_FILE
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetFormatError(f"{str(path)!r}: expected a JSON object, got {exc}") from exc
    if not isinstance(info, dict):
        raise DatasetFormatError(f"{str(path)!r}: expected a JSON object, got {type(info).__name__}")
    return info


def _guess_info(dataset: Optional[str], info_json: Optional[dict], shape_hwc: tuple, max_label: int) -> Optional[DatasetInfo]:
    """The clean dataset's :class:`DatasetInfo`: ``dataset`` if given, else info.json's source, else
    CIFAR-10/100 when the images are 32×32×3 (by the label range), else ``None``."""
    if dataset is not None:
        return dataset_info(dataset)
    source = (info_json or {}).get("source")
    if isinstance(source, str):
        try:
            return dataset_info(source)
        except UnknownComponentError:
            return None
    if shape_hwc == (32, 32, 3):
        if max_label < 10:
            return dataset_info("cifar10")
        if max_label < 100:
            return dataset_info("cifar100")
    return None


def load_corrupted(
    root: PathLike,
    corruption: str,
    severity: int,
    *,
    max_images: Optional[int] = None,
    dataset: Optional[str] = None,
) -> ImageTensorDataset:
    """One (corruption, severity) of a CIFAR-10-C-layout folder as an in-memory dataset.

    Args:
        root: the folder holding ``<corruption>.npy`` and ``labels.npy``.
        corruption: a name of :data:`gsmooth.data.corruptions.CORRUPTIONS` (``"gaussian_noise"`` …).
        severity: 1..5.
        max_images: keep the first ``max_images`` images of that severity (default: all N).
        dataset: name of the clean dataset, for ``.classes`` and ``.info`` (default: ``info.json``'s
            source; 32×32×3 images are taken for CIFAR-10, or CIFAR-100 if a label is ≥ 10).

    Returns:
        :class:`gsmooth.data.datasets.ImageTensorDataset` with ``.data`` ``uint8`` ``(n, C, H, W)``,
        ``.targets`` ``(n,)``, ``split="test"``, plus ``.corruption`` and ``.severity``. Items are
        ``(float image (C, H, W) in [0, 1], int label)``.

    Raises:
        UnknownComponentError: unknown corruption name (with a suggestion).
        InvalidParameterError: severity not in 1..5, or ``max_images`` not a positive integer.
        DatasetNotFoundError: missing folder or file; the message says which file under which root,
            and how to get CIFAR-10-C or generate a set.
        DatasetFormatError: malformed file (dtype, number of dimensions, channels, row count not a
            multiple of 5, labels of another length).

    Example:
        >>> ds = load_corrupted("fmnist_c", "gaussian_noise", 5, max_images=500)  # doctest: +SKIP
        >>> ds.data.shape  # doctest: +SKIP
        torch.Size([500, 1, 28, 28])
    """
    name = check_corruption_name(corruption)
    s = check_severity(severity)
    if max_images is not None and (
        isinstance(max_images, bool) or not isinstance(max_images, Integral) or max_images < 1
    ):
        raise InvalidParameterError(f"max_images: expected a positive integer or None, got {max_images!r}")
    root = Path(os.path.expanduser(root))
    path = root / f"{name}.npy"
    labels_path = root / LABELS_FILE
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"corrupted dataset: expected {name}.npy and {LABELS_FILE} under {str(root)!r}, got no such directory. "
            f"{_HOW_TO_GET}."
        )
    for p in (path, labels_path):
        if not p.is_file():
            present = available_corruptions(root)
            raise DatasetNotFoundError(
                f"corrupted dataset: expected {p.name} under {str(root)!r}, got no such file "
                f"(corruptions present: {', '.join(present) if present else 'none'}). {_HOW_TO_GET}."
            )
    arr = _open_npy(path)
    if arr.dtype != np.uint8:
        raise DatasetFormatError(f"{str(path)!r}: expected dtype uint8, got {arr.dtype}")
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[3] not in (1, 3)):
        raise DatasetFormatError(
            f"{str(path)!r}: expected an array of shape (5N, H, W), (5N, H, W, 1) or (5N, H, W, 3), "
            f"got shape {arr.shape}"
        )
    rows = arr.shape[0]
    if rows == 0 or rows % 5:
        raise DatasetFormatError(
            f"{str(path)!r}: expected a positive number of rows divisible by 5 (5 severities), got {rows}"
        )
    labels = _open_npy(labels_path)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetFormatError(
            f"{str(labels_path)!r}: expected a 1-D integer array, got {labels.dtype} of shape {labels.shape}"
        )
    if labels.shape[0] != rows:
        raise DatasetFormatError(
            f"{str(labels_path)!r}: expected {rows} labels (the rows of {name}.npy), got {labels.shape[0]}"
        )
    n = rows // 5
    k = n if max_images is None else min(n, int(max_images))
    start = (s - 1) * n
    block = np.array(arr[start : start + k], copy=True, order="C")  # read just these rows into memory
    images = torch.from_numpy(block)
    images = images.unsqueeze(1) if block.ndim == 3 else images.permute(0, 3, 1, 2).contiguous()
    lab = np.asarray(labels[start : start + k]).astype(np.int64)
    if lab.size and lab.min() < 0:
        raise DatasetFormatError(f"{str(labels_path)!r}: expected non-negative labels, got {int(lab.min())}")
    hwc = tuple(arr.shape[1:3]) + ((arr.shape[3],) if arr.ndim == 4 else (1,))
    info = _guess_info(dataset, _read_info(root), hwc, int(np.max(labels)) if labels.size else 0)
    ds = ImageTensorDataset(
        images, torch.from_numpy(lab), classes=info.classes if info is not None else (), info=info, split="test"
    )
    ds.corruption = name
    ds.severity = s
    return ds


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _as_tensor(value, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.asarray(value))
    raise InputError(f"{what}: expected a torch.Tensor or numpy array, got {type(value).__name__}")


def _atomic_save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_output(path, "wb") as f:
        np.save(f, arr, allow_pickle=False)


def write_corrupted(
    root: PathLike,
    images,
    labels,
    *,
    corruptions: Optional[Sequence[str]] = None,
    seed: int = 0,
    batch_size: int = 1000,
    progress: bool = False,
    source: Optional[str] = None,
) -> dict:
    """Corrupt a test set with every (corruption, severity) and write the CIFAR-10-C layout.

    Args:
        root: output folder (created). Writing more corruptions into a folder written before with the
            same images, seed and batch size adds them; another seed or image set is refused.
        images: ``(N, C, H, W)`` (C = 1 or 3, H, W ≥ 8), ``uint8`` in 0..255 or floating in [0, 1];
            torch tensor or numpy array.
        labels: ``(N,)`` integers in 0..255.
        corruptions: names to write (default: all 19 of :data:`gsmooth.data.corruptions.CORRUPTIONS`).
        seed: base seed; see :func:`corruption_seed`.
        batch_size: images corrupted per call (memory; part of the random recipe, recorded).
        progress: show a tqdm bar.
        source: name of the clean dataset, recorded in ``info.json`` (``"fashion-mnist"`` …).

    Returns:
        The dict written to ``info.json``.

    Each ``<corruption>.npy`` is written to a temporary name then renamed (``os.replace``), so a file
    with the final name is always complete; ``info.json`` is updated after each corruption.

    Raises:
        InputError: images or labels of the wrong shape, dtype or range.
        InvalidParameterError: bad seed/batch size, or a folder written with another configuration.
        UnknownComponentError: unknown corruption name.

    Example:
        >>> import torch
        >>> x = torch.randint(0, 256, (12, 1, 28, 28), dtype=torch.uint8)
        >>> info = write_corrupted("out_c", x, torch.arange(12) % 10, corruptions=["fog"])  # doctest: +SKIP
        >>> load_corrupted("out_c", "fog", 2).data.shape  # doctest: +SKIP
        torch.Size([12, 1, 28, 28])
    """
    x = _as_tensor(images, "images")
    y = _as_tensor(labels, "labels")
    if x.dim() != 4 or x.shape[0] < 1 or x.shape[1] not in (1, 3) or x.shape[2] < 8 or x.shape[3] < 8:
        raise InputError(
            f"images: expected shape (N, C, H, W) with N ≥ 1, C = 1 or 3 and H, W ≥ 8, got {tuple(x.shape)}"
        )
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise InputError(f"images: expected uint8 or floating point, got {x.dtype}")
    if x.is_floating_point() and not (float(x.min()) >= 0.0 and float(x.max()) <= 1.0):
        raise InputError(f"images: expected floating values in [0, 1], got min {float(x.min()):g} and max {float(x.max()):g}")
    n, c, h, w = (int(v) for v in x.shape)
    if y.dim() != 1 or y.shape[0] != n:
        raise InputError(f"labels: expected shape ({n},), got {tuple(y.shape)}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise InputError(f"labels: expected integers in 0..255, got dtype {y.dtype}")
    if int(y.min()) < 0 or int(y.max()) > 255:
        raise InputError(f"labels: expected integers in 0..255 (stored as uint8), got range {int(y.min())}..{int(y.max())}")
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise InvalidParameterError(f"seed: expected a non-negative integer, got {seed!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1:
        raise InvalidParameterError(f"batch_size: expected a positive integer, got {batch_size!r}")
    names = list(CORRUPTIONS) if corruptions is None else [check_corruption_name(nm) for nm in corruptions]
    if not names:
        raise InvalidParameterError("corruptions: expected at least one name, got none")
    names = list(dict.fromkeys(names))

    text = check_path(root, what="write_corrupted: root")
    if not text.strip():
        raise InvalidParameterError("write_corrupted: root expected a folder path, got an empty one")
    root = Path(os.path.expanduser(text))
    if root.exists() and not root.is_dir():
        raise InvalidParameterError(f"write_corrupted: root expected a folder, got {str(root)!r} which is a file")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputFileError(f"write_corrupted: cannot create the folder {str(root)!r}: {exc.strerror or exc}") from None
    labels_u8 = np.tile(y.numpy().astype(np.uint8), 5)
    labels_sha = hashlib.sha256(labels_u8.tobytes()).hexdigest()
    info = {
        "format": "CIFAR-10-C layout (Hendrycks & Dietterich 2019)",
        "layout": "<corruption>.npy uint8 (5N, H, W, C), rows [(s-1)N, sN) = severity s in source order; "
        "labels.npy uint8 (5N,)",
        "source": source,
        "num_images": n,
        "image_shape": [h, w, c],
        "seed": int(seed),
        "batch_size": int(batch_size),
        "severities": list(SEVERITIES),
        "corruptions": [],
        "generator": "one CPU torch.Generator per (corruption, severity), seeded with "
        "gsmooth.data.cifar_c.corruption_seed(seed, corruption, severity); consecutive batches of batch_size images",
        "labels_sha256": labels_sha,
        "gsmooth_version": __version__,
        "torch_version": torch.__version__,
    }
    old = _read_info(root)
    if old is not None and old.get("format") != info["format"]:
        raise OutputFileError(
            f"{str(root / INFO_FILE)!r}: expected an info.json written by gsmooth corrupt, got another file "
            "(gsmooth never overwrites a file it did not write); use another folder"
        )
    if old is None:  # a folder gsmooth did not write: none of the files of this run may be there
        check_output_dir(root, option="out", names=(INFO_FILE, LABELS_FILE, *(f"{nm}.npy" for nm in names)))
    if old is not None:
        for key in ("num_images", "image_shape", "seed", "batch_size", "labels_sha256", "source"):
            if key in old and old[key] != info[key]:
                raise InvalidParameterError(
                    f"{str(root / INFO_FILE)!r}: this folder was written with {key} = {old[key]!r}; expected the same to "
                    f"add corruptions to it, got {info[key]!r} (use another folder)"
                )
        done = [nm for nm in old.get("corruptions", []) if nm in CORRUPTIONS and (root / f"{nm}.npy").is_file()]
    else:
        done = []

    def save_info() -> None:
        info["corruptions"] = [nm for nm in CORRUPTIONS if nm in done]
        atomic_write(root / INFO_FILE, json.dumps(info, indent=2) + "\n")

    _atomic_save_npy(root / LABELS_FILE, labels_u8)
    save_info()

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(names) * len(SEVERITIES) * n, unit="img", desc="corrupt")
    try:
        for name in names:
            if bar is not None:
                bar.set_description(name)
            final = root / f"{name}.npy"
            tmp = root / f".{name}.npy.tmp-{os.getpid()}"
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(5 * n, h, w, c))
            try:
                for s in SEVERITIES:
                    gen = torch.Generator().manual_seed(corruption_seed(seed, name, s))
                    for start in range(0, n, batch_size):
                        xb = x[start : start + batch_size]
                        xb = xb.float().div_(255.0) if xb.dtype == torch.uint8 else xb.float()
                        yb = corrupt(xb, name, s, generator=gen)
                        u8 = torch.round(yb * 255.0).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
                        row = (s - 1) * n + start
                        out[row : row + u8.shape[0]] = u8.numpy()
                        if bar is not None:
                            bar.update(u8.shape[0])
                out.flush()
                del out
                os.replace(tmp, final)
            except BaseException:
                try:
                    del out
                except NameError:
                    pass
                tmp.unlink(missing_ok=True)
                raise
            if name not in done:
                done.append(name)
            save_info()
    finally:
        if bar is not None:
            bar.close()
    return info
