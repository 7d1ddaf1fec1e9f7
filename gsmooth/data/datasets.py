"""Image classification datasets: MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100.

Every dataset returned by :func:`load_dataset` yields ``(image, label)`` with ``image`` a float
tensor of shape ``(C, H, W)`` in ``[0, 1]`` (raw pixel space: normalization lives inside the model,
see :mod:`gsmooth.models.architectures`) and ``label`` a Python ``int``. :func:`dataset_info` gives the constants
a model needs (number of classes, input shape, per-channel mean/std, class names) without touching
the disk.

Where the files come from:

- ``mnist``, ``cifar10``, ``cifar100``: torchvision's loaders under ``root`` (default: the
  ``GSMOOTH_DATA_DIR`` environment variable, else ``~/.cache/gsmooth/data``), in torchvision's
  layout (``root/MNIST/raw/…``, ``root/cifar-10-batches-py/…``, ``root/cifar-100-python/…``).
  Nothing is downloaded unless ``download=True``.
- ``fashion-mnist`` (alias ``fashion_mnist``): with ``root=None`` it is read offline from Debian's
  ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``, IDX ``.gz`` files;
  ``GSMOOTH_FASHION_MNIST_DIR`` overrides the directory), falling back to torchvision's layout under
  the default root; with ``root`` given it is torchvision's ``FashionMNIST(root)``.

Example:
    >>> from gsmooth.data.datasets import load_dataset, dataset_info
    >>> ds = load_dataset("fashion-mnist", split="test")
    >>> x, y = ds[0]
    >>> x.shape, x.dtype, y
    (torch.Size([1, 28, 28]), torch.float32, 9)
    >>> dataset_info("cifar10").mean
    (0.4914, 0.4822, 0.4465)
"""

from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DatasetFormatError, DatasetNotFoundError, GsmoothError, InvalidParameterError, UnknownComponentError, suggest
from ..validation import Options, validate_params

__all__ = [
    "DatasetInfo",
    "ImageTensorDataset",
    "available_datasets",
    "DatasetSpec",
    "get_dataset",
    "list_datasets",
    "BUILTIN_DATASETS",
    "dataset_info",
    "default_data_root",
    "load_dataset",
    "dataset_files",
    "read_idx",
    "DEBIAN_FASHION_MNIST_DIR",
]

#: Where Debian's ``dataset-fashion-mnist`` package installs the IDX files.
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

PathLike = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------------------------
# Dataset constants
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetInfo:
    """Constants of a dataset, known without reading it.

    Attributes:
        name: canonical name (``"mnist"``, ``"fashion-mnist"``, ``"cifar10"``, ``"cifar100"``).
        num_classes: number of classes ``k``.
        input_shape: ``(C, H, W)`` of one image.
        mean: per-channel mean of the training pixels in ``[0, 1]``, length ``C``.
        std: per-channel standard deviation, length ``C``.
        classes: class names, length ``num_classes``, in label order.
    """

    name: str
    num_classes: int
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]


_MNIST_CLASSES = tuple(
    f"{i} - {w}"
    for i, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
)
_FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
_CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
# Fine label names in label order, as stored in CIFAR-100's ``meta`` file.
_CIFAR100_CLASSES = tuple(
    """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
    butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab
    crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard
    lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom
    oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine
    possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake
    spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor
    train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split()
)

_INFOS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", 10, (1, 28, 28), (0.1307,), (0.3081,), _MNIST_CLASSES),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist", 10, (1, 28, 28), (0.2860,), (0.3530,), _FASHION_CLASSES
    ),
    # the first 500 Fashion-MNIST test images, shipped in the package (gsmooth.embedded): offline
    # out of the box; the test split only
    "fashion-mnist-sample": DatasetInfo(
        "fashion-mnist-sample", 10, (1, 28, 28), (0.2860,), (0.3530,), _FASHION_CLASSES
    ),
    "cifar10": DatasetInfo(
        "cifar10", 10, (3, 32, 32), (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
        _CIFAR10_CLASSES,
    ),
    "cifar100": DatasetInfo(
        "cifar100", 100, (3, 32, 32), (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762),
        _CIFAR100_CLASSES,
    ),
}
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist"}


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset users select by name (``--dataset NAME``), as a plugin registers it.

    Plugins return these from the ``register_datasets`` hook (the built-ins too, from
    ``gsmooth.data._plugin``); :func:`get_dataset` finds one by name (or alias), :func:`load_dataset`
    loads a split through it and checks what it returns, and every command that takes
    ``--dataset`` accepts the name.

    Args:
        info: the constants (:class:`DatasetInfo`: name, classes, input shape, mean/std), known
            without reading any file.
        load: ``load(split, *, root, download) -> ImageTensorDataset``: ``split`` is ``"train"`` or
            ``"test"``, ``root`` the user's ``--data-dir`` (or ``None``), ``download`` whether
            fetching is allowed. Images ``uint8`` ``(N, C, H, W)`` of ``info.input_shape``, labels
            ``(N,)`` in ``0..num_classes-1``. Raise :class:`gsmooth.DatasetNotFoundError` when the files
            are missing (say where you looked and how to get them) and :class:`DatasetFormatError`
            when they are corrupted.
        files: ``files(root) -> list[Path]``: the files ``load`` may read (both splits), which a
            command refuses to overwrite with its output; default: none.
        augmentation: a zero-argument factory of the training-time transform of one ``uint8``
            ``(C, H, W)`` image (e.g. random crop and flip); ``train`` uses it when there is one.
        aliases: other names accepted for it (matched like the name, case-insensitively).
        description: one line for ``gsmooth plugins``.

    Example:
        >>> info = DatasetInfo("zeros", 2, (1, 4, 4), (0.5,), (0.5,), ("a", "b"))
        >>> spec = DatasetSpec(info, lambda split, *, root=None, download=False: ImageTensorDataset(
        ...     torch.zeros(3, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1, 0])))
        >>> spec.name, len(spec.load("test", root=None, download=False))
        ('zeros', 3)
    """

    info: DatasetInfo
    load: Callable[..., "ImageTensorDataset"]
    files: Optional[Callable[[Optional[PathLike]], Sequence[Path]]] = None
    augmentation: Optional[Callable[[], Callable[[torch.Tensor], torch.Tensor]]] = None
    aliases: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        info = self.info
        if not isinstance(info, DatasetInfo):
            raise InvalidParameterError(f"DatasetSpec: expected info to be a gsmooth.data.DatasetInfo, got {info!r}")
        where = f"DatasetSpec {info.name!r}"
        if not isinstance(info.name, str) or not info.name.strip():
            raise InvalidParameterError(f"DatasetSpec: expected a non-empty name string, got {info.name!r}")
        shape = info.input_shape
        if not (isinstance(shape, tuple) and len(shape) == 3
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape)):
            raise InvalidParameterError(f"{where}: expected input_shape (C, H, W) of three positive ints, got {shape!r}")
        if isinstance(info.num_classes, bool) or not isinstance(info.num_classes, int) or info.num_classes < 1:
            raise InvalidParameterError(f"{where}: expected num_classes an int ≥ 1, got {info.num_classes!r}")
        if len(info.classes) != info.num_classes:
            raise InvalidParameterError(
                f"{where}: expected {info.num_classes} class names, got {len(info.classes)}")
        if len(info.mean) != shape[0] or len(info.std) != shape[0] or not all(s > 0 for s in info.std):
            raise InvalidParameterError(
                f"{where}: expected mean and std with {shape[0]} value(s) each and std > 0, "
                f"got mean={info.mean!r}, std={info.std!r}")
        for field_name in ("load", "files", "augmentation"):
            value = getattr(self, field_name)
            if (value is not None or field_name == "load") and not callable(value):
                raise InvalidParameterError(f"{where}: expected {field_name} to be callable, got {value!r}")
        if isinstance(self.aliases, str) or not all(isinstance(a, str) and a for a in self.aliases):
            raise InvalidParameterError(f"{where}: expected aliases as a tuple of names, got {self.aliases!r}")

    @property
    def name(self) -> str:
        return self.info.name


def _datasets() -> dict:
    from ..plugin.registry import get_registry

    return get_registry().datasets


def list_datasets() -> list[str]:
    """Every registered dataset name, sorted (torchvision's ``list_models`` style).

    Example:
        >>> {"mnist", "fashion-mnist", "cifar10", "cifar100"} <= set(list_datasets())
        True
    """
    return sorted(_datasets())


def available_datasets() -> list[str]:
    """Canonical names accepted by :func:`load_dataset` and :func:`dataset_info` (same as
    :func:`list_datasets`)."""
    return list_datasets()


def _canonical_name(name: str) -> str:
    table = _datasets()
    if not isinstance(name, str):
        raise UnknownComponentError(
            f"dataset name: expected one of {sorted(table)}, got {name!r}"
        )
    aliases = {alias.lower(): n for n, info in table.items() for alias in info.spec.aliases}
    lowered = {n.lower(): n for n in table}
    for key in dict.fromkeys((name, name.strip(), name.strip().lower())):
        if key in table:
            return key
        if key in lowered:
            return lowered[key]
        if key in aliases:
            return aliases[key]
    candidates = list(table) + list(aliases)
    hint = suggest(name.strip().lower(), candidates, cutoff=0.5, show=lambda c: aliases.get(c, c))
    raise UnknownComponentError(
        f"unknown dataset: expected one of {', '.join(sorted(table)) or '(none)'}, got {name!r}.{hint}"
        " (see `gsmooth plugins`)"
    )


def get_dataset(name: str) -> DatasetSpec:
    """The registered :class:`DatasetSpec` called ``name`` (or one of its aliases, any case).

    Raises:
        UnknownComponentError: no such dataset (with a close-match suggestion).

    Example:
        >>> get_dataset("Fashion_MNIST").info.input_shape
        (1, 28, 28)
    """
    return _datasets()[_canonical_name(name)].spec


def dataset_info(name: str) -> DatasetInfo:
    """Return the :class:`DatasetInfo` of ``name`` (no disk access).

    Example:
        >>> dataset_info("mnist").input_shape
        (1, 28, 28)
    """
    return get_dataset(name).info


def default_data_root() -> Path:
    """Root of torchvision-layout datasets: ``$GSMOOTH_DATA_DIR`` or ``~/.cache/gsmooth/data``."""
    env = os.environ.get("GSMOOTH_DATA_DIR")
    return Path(os.path.expanduser(env)) if env else Path(os.path.expanduser("~/.cache/gsmooth/data"))


# --------------------------------------------------------------------------------------------
# In-memory dataset
# --------------------------------------------------------------------------------------------


class ImageTensorDataset(Dataset):
    """A dataset held in memory as a ``uint8`` tensor, served as float images in ``[0, 1]``.

    Every loader returns this class, whichever reader parsed the files (torchvision or the offline
    IDX reader). It is written here rather than using torchvision's datasets directly because
    those go through PIL for every item (``uint8 tensor -> PIL -> ToTensor``); indexing the tensor
    gives identical values several times faster, which matters for CPU training and certification.

    Args:
        images: ``uint8`` tensor of shape ``(N, C, H, W)``.
        targets: integer tensor of shape ``(N,)``.
        classes: class names, in label order.
        transform: optional callable applied to the ``uint8`` ``(C, H, W)`` image before it is
            scaled to ``[0, 1]`` (e.g. torchvision's random crop and flip).
        info: the :class:`DatasetInfo` it was loaded as (``.info``, ``.name``), if any.
        split: ``"train"`` or ``"test"`` (``.split``), if known.

    Returns (per item):
        ``(image, label)``: float32 tensor ``(C, H, W)`` in ``[0, 1]`` and an ``int``.

    Example:
        >>> ds = ImageTensorDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1]))
        >>> ds[1][0].shape, ds[1][1]
        (torch.Size([1, 4, 4]), 1)
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        *,
        classes: Sequence[str] = (),
        transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
        info: Optional[DatasetInfo] = None,
        split: Optional[str] = None,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise DatasetFormatError(
                f"images: expected a uint8 tensor of shape (N, C, H, W), "
                f"got {images.dtype} of shape {tuple(images.shape)}"
            )
        if targets.dim() != 1 or targets.shape[0] != images.shape[0]:
            raise DatasetFormatError(
                f"targets: expected shape ({images.shape[0]},), got {tuple(targets.shape)}"
            )
        self.data = images
        self.targets = targets.long()
        self.classes = list(classes)
        self.transform = transform
        self.info = info
        self.name = info.name if info is not None else None
        self.split = split

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        img = self.data[index]
        if self.transform is not None:
            img = self.transform(img)
        return img.float().div_(255.0), int(self.targets[index])

    def __repr__(self) -> str:
        c, h, w = self.data.shape[1:]
        return f"{type(self).__name__}(n={len(self)}, shape=({c}, {h}, {w}), classes={len(self.classes)})"


# --------------------------------------------------------------------------------------------
# IDX reader (offline Fashion-MNIST)
# --------------------------------------------------------------------------------------------

# IDX type codes (third magic byte) -> big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: PathLike, *, expected_ndim: Optional[int] = None) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or not.

    Written here (about 30 lines of numpy) instead of using torchvision's reader because that one
    only reads uncompressed files inside torchvision's directory layout and reports a corrupted file
    with a bare ``assert``; Debian ships the ``.gz`` files directly.

    Layout: 4 magic bytes ``00 00 <type> <ndim>``, ``ndim`` big-endian uint32 sizes, then the data
    in C order.

    Args:
        path: the file; gzip is detected from its first bytes, not its name.
        expected_ndim: if given, the number of dimensions the file must have (3 for images,
            1 for labels).

    Returns:
        A numpy array of the stored dtype (native byte order) and shape.

    Raises:
        DatasetNotFoundError: the file does not exist.
        DatasetFormatError: bad magic number, truncated or corrupted file.

    Example:
        >>> read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").shape
        (10000,)
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"IDX file: expected an existing file, got {str(path)!r}")
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetFormatError(
            f"{str(path)!r}: expected a readable (gzip-compressed) IDX file, got {exc}"
        ) from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise DatasetFormatError(
            f"{str(path)!r}: expected an IDX magic number 00 00 <type in "
            f"{sorted(_IDX_DTYPES)}> <ndim ≥ 1>, got {raw[:4].hex(' ') or 'an empty file'}; "
            "the file is corrupted or not an IDX file"
        )
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    if expected_ndim is not None and ndim != expected_ndim:
        raise DatasetFormatError(
            f"{str(path)!r}: expected an IDX file with {expected_ndim} dimension(s), got {ndim}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetFormatError(f"{str(path)!r}: expected a {header}-byte header, got {len(raw)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected_bytes:
        raise DatasetFormatError(
            f"{str(path)!r}: expected {expected_bytes} data bytes for shape {shape}, "
            f"got {len(raw) - header}; the file is truncated or corrupted"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def _find_idx(directory: Path, stem: str) -> Optional[Path]:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def _idx_stems(split: str) -> tuple[str, str]:
    prefix = "train" if split == "train" else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _load_idx_dir(directory: Path, split: str, info: DatasetInfo) -> ImageTensorDataset:
    img_stem, lbl_stem = _idx_stems(split)
    img_path, lbl_path = _find_idx(directory, img_stem), _find_idx(directory, lbl_stem)
    assert img_path is not None and lbl_path is not None  # checked by the caller
    images = read_idx(img_path, expected_ndim=3)
    labels = read_idx(lbl_path, expected_ndim=1)
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise DatasetFormatError(
            f"{str(directory)!r}: expected uint8 images and labels, got {images.dtype} and {labels.dtype}"
        )
    if images.shape[0] != labels.shape[0]:
        raise DatasetFormatError(
            f"{str(directory)!r}: expected as many labels as images ({images.shape[0]}), "
            f"got {labels.shape[0]}"
        )
    if images.shape[1:] != info.input_shape[1:]:
        raise DatasetFormatError(
            f"{str(img_path)!r}: expected images of size {info.input_shape[1:]}, got {images.shape[1:]}"
        )
    if labels.size and int(labels.max()) >= info.num_classes:
        raise DatasetFormatError(
            f"{str(lbl_path)!r}: expected labels in 0..{info.num_classes - 1}, got {int(labels.max())}"
        )
    return ImageTensorDataset(
        torch.from_numpy(images).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        classes=info.classes,
    )


def _fashion_mnist_dir() -> Path:
    return Path(os.environ.get("GSMOOTH_FASHION_MNIST_DIR") or DEBIAN_FASHION_MNIST_DIR)


# --------------------------------------------------------------------------------------------
# torchvision-backed loaders
# --------------------------------------------------------------------------------------------


def _tv_class(name: str):
    from torchvision import datasets

    return {
        "mnist": datasets.MNIST,
        "fashion-mnist": datasets.FashionMNIST,
        "cifar10": datasets.CIFAR10,
        "cifar100": datasets.CIFAR100,
    }[name]


def _tv_location(name: str, root: Path) -> Path:
    sub = {
        "mnist": "MNIST/raw",
        "fashion-mnist": "FashionMNIST/raw",
        "cifar10": "cifar-10-batches-py",
        "cifar100": "cifar-100-python",
    }[name]
    return root / sub


def _how_to_get(name: str) -> str:
    how = (
        "pass --download (download=True) to fetch it with torchvision, or set GSMOOTH_DATA_DIR "
        "(or root=) to a directory that already holds it"
    )
    if name == "fashion-mnist":
        how += (
            f"; offline, `apt-get install dataset-fashion-mnist` provides it in "
            f"{DEBIAN_FASHION_MNIST_DIR}"
        )
    return how


def _load_torchvision(name: str, root: Path, split: str, download: bool, info: DatasetInfo):
    cls = _tv_class(name)
    where = _tv_location(name, root)
    try:
        ds = cls(str(root), train=(split == "train"), download=download)
    except RuntimeError as exc:
        if "not found" in str(exc).lower() or "corrupted" in str(exc).lower():
            raise DatasetNotFoundError(
                f"dataset {name!r} ({split} split) not found: expected torchvision's files in "
                f"{str(where)!r}, got {'missing or corrupted files' if where.exists() else 'no such directory'}"
                f". To get it, {_how_to_get(name)}."
            ) from exc
        raise DatasetNotFoundError(
            f"dataset {name!r}: could not download it to {str(where)!r} ({exc}). "
            f"To get it, {_how_to_get(name)}."
        ) from exc
    except OSError as exc:  # urllib's URLError when download=True on an offline machine
        if isinstance(exc, FileNotFoundError) and not download:
            raise DatasetNotFoundError(
                f"dataset {name!r} ({split} split) not found in {str(where)!r}: {exc}. "
                f"To get it, {_how_to_get(name)}."
            ) from exc
        raise DatasetNotFoundError(
            f"dataset {name!r}: could not download it to {str(where)!r} ({exc}). "
            f"To get it, {_how_to_get(name)}."
        ) from exc
    except (AssertionError, ValueError, TypeError, EOFError, pickle.UnpicklingError, KeyError) as exc:
        raise DatasetFormatError(
            f"dataset {name!r}: expected valid torchvision files in {str(where)!r}, got a "
            f"corrupted file ({type(exc).__name__}: {exc}); delete the directory and download again"
        ) from exc

    data = ds.data
    if isinstance(data, np.ndarray):  # CIFAR: (N, H, W, C) uint8 numpy
        images = torch.from_numpy(np.ascontiguousarray(data.transpose(0, 3, 1, 2)))
    else:  # MNIST family: (N, H, W) uint8 tensor
        images = data.unsqueeze(1)
    targets = torch.as_tensor(ds.targets, dtype=torch.long)
    classes = list(getattr(ds, "classes", info.classes))
    return images.contiguous(), targets, classes


def _cifar_augmentation(info: DatasetInfo):
    from torchvision.transforms import v2

    return v2.Compose(
        [v2.RandomCrop(info.input_shape[1:], padding=4), v2.RandomHorizontalFlip(p=0.5)]
    )


def _load_embedded_sample(split: str, info: DatasetInfo) -> ImageTensorDataset:
    """The Fashion-MNIST test slice shipped in :mod:`gsmooth.embedded` (test split only)."""
    from ..embedded import EMBEDDED_DIR, SAMPLE_FILE

    if split != "test":
        raise InvalidParameterError(
            f"dataset 'fashion-mnist-sample' is a slice of the test set: expected split 'test', got {split!r}"
        )
    path = EMBEDDED_DIR / SAMPLE_FILE
    if not path.is_file():
        raise DatasetNotFoundError(
            f"dataset 'fashion-mnist-sample': expected the embedded file {path}, got nothing there "
            f"(rebuild it with `bash experiments/embedded/build.sh`)"
        )
    blob = torch.load(path, map_location="cpu", weights_only=True)
    return ImageTensorDataset(blob["images"], blob["labels"], classes=info.classes, info=info, split="test")


def _tv_files(key: str):
    def files(root: Optional[PathLike]) -> list[Path]:
        folders: list[Path] = []
        if key == "fashion-mnist" and root is None:
            folders.append(_fashion_mnist_dir())
        tv_root = Path(os.path.expanduser(root)) if root is not None else default_data_root()
        folders.append(_tv_location(key, tv_root))
        out: list[Path] = []
        for folder in folders:
            try:
                out += sorted(p for p in folder.iterdir() if p.is_file())
            except OSError:
                continue
        return out

    return files


def _embedded_files(root: Optional[PathLike]) -> list[Path]:
    from ..embedded import EMBEDDED_DIR, SAMPLE_FILE

    return [p for p in (EMBEDDED_DIR / SAMPLE_FILE,) if p.is_file()]


def _tv_loader(key: str):
    def load(split: str, *, root: Optional[PathLike] = None, download: bool = False) -> ImageTensorDataset:
        info = _INFOS[key]
        tv_root = Path(os.path.expanduser(root)) if root is not None else default_data_root()
        images, targets, classes = _load_torchvision(key, tv_root, split, download, info)
        return ImageTensorDataset(images, targets, classes=classes)

    return load


def _load_fashion_mnist(split: str, *, root: Optional[PathLike] = None, download: bool = False) -> ImageTensorDataset:
    """Debian's IDX files first (``root=None``), else torchvision's layout."""
    key, info = "fashion-mnist", _INFOS["fashion-mnist"]
    looked: list[str] = []
    if root is None:
        directory = _fashion_mnist_dir()
        stems = _idx_stems(split)
        if all(_find_idx(directory, s) is not None for s in stems):
            return _load_idx_dir(directory, split, info)
        looked.append(
            f"{str(directory)!r} (expected {stems[0]}.gz and {stems[1]}.gz, got "
            f"{'no such directory' if not directory.is_dir() else 'missing files'})"
        )
    tv_root = Path(os.path.expanduser(root)) if root is not None else default_data_root()
    try:
        images, targets, classes = _load_torchvision(key, tv_root, split, download, info)
    except DatasetNotFoundError as exc:
        if not looked:
            raise
        raise DatasetNotFoundError(
            f"dataset {key!r} ({split} split) not found: looked in {looked[0]} and in "
            f"{str(_tv_location(key, tv_root))!r} (torchvision layout). To get it, "
            f"{_how_to_get(key)}."
        ) from exc
    return ImageTensorDataset(images, targets, classes=classes)


#: The built-in datasets, registered by ``gsmooth.data._plugin`` through the ``register_datasets``
#: hook like any plugin's.
BUILTIN_DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec(_INFOS["mnist"], _tv_loader("mnist"), _tv_files("mnist"), description="torchvision MNIST"),
    DatasetSpec(_INFOS["fashion-mnist"], _load_fashion_mnist, _tv_files("fashion-mnist"),
                aliases=tuple(_ALIASES), description="Debian's IDX files offline, else torchvision"),
    DatasetSpec(_INFOS["fashion-mnist-sample"],
                lambda split, *, root=None, download=False: _load_embedded_sample(split, _INFOS["fashion-mnist-sample"]),
                _embedded_files, description="first 500 Fashion-MNIST test images, shipped in the package"),
    DatasetSpec(_INFOS["cifar10"], _tv_loader("cifar10"), _tv_files("cifar10"),
                augmentation=lambda: _cifar_augmentation(_INFOS["cifar10"]), description="torchvision CIFAR-10"),
    DatasetSpec(_INFOS["cifar100"], _tv_loader("cifar100"), _tv_files("cifar100"),
                augmentation=lambda: _cifar_augmentation(_INFOS["cifar100"]), description="torchvision CIFAR-100"),
)


def dataset_files(name: str, *, root: Optional[PathLike] = None) -> list[Path]:
    """The files on disk that :func:`load_dataset` may read for ``name`` (both splits), so that a
    command can refuse to write over one of them (:func:`gsmooth.io.output_files.check_not_input`).
    Unknown names give ``[]`` (the loader reports them)."""
    try:
        spec = get_dataset(name)
    except GsmoothError:
        return []
    if spec.files is None:
        return []
    return [Path(p) for p in spec.files(root)]


def load_dataset(
    name: str,
    *,
    split: str = "test",
    root: Optional[PathLike] = None,
    download: bool = False,
    augment: bool = False,
) -> ImageTensorDataset:
    """Load a dataset split; items are ``(float image (C, H, W) in [0, 1], int label)``.

    Args:
        name: ``"mnist"``, ``"fashion-mnist"`` (or ``"fashion_mnist"``), ``"cifar10"``,
            ``"cifar100"``, ``"fashion-mnist-sample"`` (the first 500 Fashion-MNIST test images,
            shipped in the package: always offline, test split only), or any dataset a plugin
            registers (:func:`list_datasets`).
        split: ``"test"`` or ``"train"``.
        root: directory in torchvision's layout. Default: ``$GSMOOTH_DATA_DIR`` or
            ``~/.cache/gsmooth/data``; for Fashion-MNIST, ``None`` first tries the Debian IDX files
            (``$GSMOOTH_FASHION_MNIST_DIR`` or ``/usr/share/datasets/fashion-mnist``).
        download: let torchvision fetch missing files (needs internet). Default ``False``.
        augment: apply the dataset's training augmentation (:attr:`DatasetSpec.augmentation`;
            CIFAR: random crop (padding 4) and horizontal flip) on every access. Default ``False``.

    Returns:
        An :class:`ImageTensorDataset` with ``.data`` (``uint8`` ``(N, C, H, W)``), ``.targets``
        (``(N,)``), ``.classes``, ``.info`` (the :class:`DatasetInfo`), ``.name`` and ``.split``.
        A batch of float images is ``ds.data[i:j].float() / 255``.

    Raises:
        UnknownComponentError: unknown ``name`` (with a close-match suggestion).
        InvalidParameterError: bad ``split``, or ``augment=True`` for a dataset without augmentation.
        DatasetNotFoundError: files missing; the message says where it looked and how to get them.
        DatasetFormatError: files present but corrupted (or a plugin's loader returned images of
            another shape or labels out of range).

    Example:
        >>> train = load_dataset("cifar10", split="train", augment=True, download=True)  # doctest: +SKIP
        >>> x, y = train[0]; x.shape  # doctest: +SKIP
        torch.Size([3, 32, 32])
    """
    key = _canonical_name(name)
    spec = _datasets()[key].spec
    info = spec.info
    validate_params(
        "load_dataset",
        {"split": split, "download": download, "augment": augment},
        {
            "split": [Options(("test", "train"))],
            "download": [Options((True, False))],
            "augment": [Options((True, False))],
        },
    )
    if augment and spec.augmentation is None:
        with_aug = sorted(n for n, i in _datasets().items() if i.spec.augmentation is not None)
        raise InvalidParameterError(
            f"load_dataset: augment=True expected a dataset with a training augmentation "
            f"({', '.join(with_aug) or 'none registered'}), got {key!r}"
        )
    ds = spec.load(split, root=root, download=download)
    if not isinstance(ds, ImageTensorDataset):
        raise DatasetFormatError(
            f"dataset {key!r}: expected its loader to return a gsmooth.data.ImageTensorDataset, "
            f"got {type(ds).__name__}"
        )
    images, targets = ds.data, ds.targets
    if tuple(images.shape[1:]) != info.input_shape:
        raise DatasetFormatError(
            f"dataset {key!r}: expected images of shape {info.input_shape}, "
            f"got {tuple(images.shape[1:])}"
        )
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= info.num_classes):
        raise DatasetFormatError(
            f"dataset {key!r}: expected labels in 0..{info.num_classes - 1}, "
            f"got {int(targets.min())}..{int(targets.max())}"
        )
    return ImageTensorDataset(
        images,
        targets,
        classes=ds.classes or info.classes,
        transform=spec.augmentation() if augment else None,
        info=info,
        split=split,
    )
