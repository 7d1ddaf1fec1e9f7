"""Read user images for deployment: a folder of PNG/JPEG files, one image file, or an array file.

:func:`load_images` turns what a user has on disk into the ``(N, C, H, W)`` float32 tensor in
``[0, 1]`` that :class:`gsmooth.Smoother` takes, converted to the model's channels and checked
against its size; :func:`open_images` does the same lazily (:meth:`ImageSource.groups` reads a
few images at a time, so memory stays proportional to the group, not to the number of images).

Accepted inputs (``path``):

- a folder: its ``.png``, ``.jpg`` and ``.jpeg`` files (any case), sorted by name, not
  recursive; other files are ignored; a folder without images is an error;
- one image file (``.png``, ``.jpg``, ``.jpeg``);
- a ``.npy`` file, or a ``.pt``/``.pth`` file holding one tensor (read with
  ``torch.load(weights_only=True)``, which runs no code from the file). Pixels are ``uint8``
  (divided by 255) or floating point in ``[0, 1]``. Shapes: a batch ``(N,C,H,W)`` or
  ``(N,H,W,C)`` with C in {1, 3} (or the model's C), a grayscale batch ``(N,H,W)``, or one image
  ``(C,H,W)``, ``(H,W,C)`` or ``(H,W)``. When a shape reads several ways, the reading that fits the
  model's ``(C,H,W)`` wins (a ``(3,28,28)`` array is three grayscale images for a 1-channel
  28×28 model, one RGB image for a 3-channel one).

Channels follow the model: image files are converted with PIL (``"L"`` for C = 1, ``"RGB"`` for
C = 3; 16-bit PNGs keep their precision); arrays are converted the same way (gray replicated
to RGB; RGB to gray with PIL's ITU-R 601-2 luma weights). A size other than the model's H×W is an
error unless ``resize=True`` (PIL bilinear for files, ``torch`` antialiased bilinear for arrays).

Names: the file name for image files, ``"file.npy[i]"`` for the i-th image of an array file
(``"file.npy[0]"`` for a single-image array).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ImageFileError, ImagePathError, InputError
from ..validation import check_path

__all__ = [
    "IMAGE_SUFFIXES",
    "ARRAY_SUFFIXES",
    "ImageSource",
    "open_images",
    "load_images",
]

#: Image file suffixes read from a folder (compared case-insensitively).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: Array file suffixes: numpy ``.npy``, torch ``.pt``/``.pth`` holding one tensor.
ARRAY_SUFFIXES = (".npy", ".pt", ".pth")
#: PIL's luma weights for RGB → L (ITU-R 601-2), used for arrays so they match image files.
_LUMA = (0.299, 0.587, 0.114)
#: Images per chunk when scanning an array file's value range (bounds memory on big .npy files).
_SCAN_CHUNK = 256

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class ImageSource:
    """Images found at a path, read on demand.

    Attributes:
        names: one name per image (file name, or ``"file.npy[i]"``).
        input_shape: the ``(C, H, W)`` every loaded image has.
    """

    names: list[str]
    input_shape: tuple[int, int, int]
    _load: Callable[[Sequence[int]], torch.Tensor]

    def __len__(self) -> int:
        return len(self.names)

    def load(self, indices: Sequence[int]) -> torch.Tensor:
        """The images at ``indices`` as a ``(len(indices), C, H, W)`` float32 tensor in [0, 1]."""
        indices = list(indices)
        if not indices:
            return torch.empty((0, *self.input_shape), dtype=torch.float32)
        return self._load(indices)

    def groups(self, size: int, indices: Sequence[int] | None = None) -> Iterator[tuple[list[int], torch.Tensor]]:
        """Yield ``(indices, images)`` for consecutive groups of at most ``size`` images."""
        if size < 1:
            raise InputError(f"expected a group size >= 1, got {size}")
        indices = list(range(len(self)) if indices is None else indices)
        for s in range(0, len(indices), size):
            chunk = indices[s : s + size]
            yield chunk, self.load(chunk)


def load_images(path: PathLike, input_shape: Sequence[int], *, resize: bool = False) -> tuple[list[str], torch.Tensor]:
    """All images at ``path`` as ``(names, images)``: images ``(N, C, H, W)`` float32 in [0, 1].

    Args:
        path: a folder of PNG/JPEG files, one image file, a ``.npy`` file or a ``.pt``/``.pth``
            file holding a tensor (see the module docstring for the accepted shapes and dtypes).
        input_shape: the model's ``(C, H, W)``; images are converted to C channels.
        resize: resize images of another H×W (default: such images are an error).

    Raises:
        ImagePathError: ``path`` does not exist, or is a folder without PNG/JPEG files.
        ImageFileError: an unreadable file, an unsupported suffix, dtype or shape, float values
            outside [0, 1], or a size other than the model's without ``resize``.

    Example:
        >>> names, x = load_images("photos/", (3, 32, 32), resize=True)  # doctest: +SKIP
        >>> smoother.predict(x, n=1000)  # doctest: +SKIP
    """
    source = open_images(path, input_shape, resize=resize)
    return list(source.names), source.load(range(len(source)))


def open_images(path: PathLike, input_shape: Sequence[int], *, resize: bool = False) -> ImageSource:
    """Check every image at ``path`` now (readable, size, value range) and return an
    :class:`ImageSource` that reads them on demand. Arguments and errors as :func:`load_images`."""
    shape = _check_input_shape(input_shape)
    p = Path(os.path.expanduser(check_path(path, what="--input")))
    if not p.exists():
        raise ImagePathError(f"--input expected an image folder, an image file or a .npy/.pt file, got {str(path)!r} which does not exist")
    if p.is_dir():
        files = sorted((f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES), key=lambda f: f.name)
        if not files:
            raise ImagePathError(
                f"--input expected a folder with .png/.jpg/.jpeg images, got {str(path)!r} with none"
            )
        return _image_files_source(files, shape, resize)
    suffix = p.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return _image_files_source([p], shape, resize)
    if suffix in ARRAY_SUFFIXES:
        return _array_source(p, shape, resize)
    raise ImageFileError(
        f"--input expected a folder, a {'/'.join(IMAGE_SUFFIXES)} image or a {'/'.join(ARRAY_SUFFIXES)} "
        f"array file, got {p.name!r}"
    )


def _check_input_shape(input_shape) -> tuple[int, int, int]:
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise InputError(f"input_shape expected (C, H, W), got {input_shape!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"input_shape expected (C, H, W) of positive sizes, got {input_shape!r}")
    return shape  # type: ignore[return-value]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _size_error(h: int, w: int, shape: tuple[int, int, int], where: str) -> ImageFileError:
    return ImageFileError(
        f"expected {shape[1]}x{shape[2]} images for this model, got {h}x{w} in {where}; pass --resize to resize them"
    )


# ------------------------------------------------------------------------------------------------
# image files (PIL)
# ------------------------------------------------------------------------------------------------


def _image_files_source(files: list[Path], shape: tuple[int, int, int], resize: bool) -> ImageSource:
    if shape[0] not in (1, 3):
        raise ImageFileError(f"expected a model with 1 or 3 input channels to read image files, got {shape[0]}")
    for f in files:  # fail before any result is computed: decode every file once, keep nothing
        _read_image(f, shape, resize)

    def load(indices: Sequence[int]) -> torch.Tensor:
        return torch.stack([_read_image(files[i], shape, resize) for i in indices])

    return ImageSource([f.name for f in files], shape, load)


def _read_image(path: Path, shape: tuple[int, int, int], resize: bool) -> torch.Tensor:
    """One image file as a ``(C, H, W)`` float32 tensor in [0, 1]."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    c, h, w = shape
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)  # photos: upright as a viewer shows them
            img.load()
    except UnidentifiedImageError:
        raise ImageFileError(f"{path.name}: expected a PNG or JPEG image, got a file PIL cannot identify") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:  # corrupt data, decoder errors
        raise ImageFileError(f"{path.name}: expected a readable image, got a corrupt file ({_first_line(exc)})") from None
    if (img.height, img.width) != (h, w) and not resize:
        raise _size_error(img.height, img.width, shape, path.name)
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):  # 16-bit PNG: keep the precision
        img, scale = img.convert("F"), 65535.0
    else:
        img, scale = img.convert("L" if c == 1 else "RGB"), 255.0
    if (img.height, img.width) != (h, w):
        img = img.resize((w, h), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / scale
    x = torch.from_numpy(np.ascontiguousarray(arr))
    x = x.unsqueeze(0) if x.ndim == 2 else x.permute(2, 0, 1)
    if x.shape[0] != c:  # 16-bit gray read as F, model wants RGB
        x = x.expand(c, h, w)
    return x.clamp(0.0, 1.0).contiguous()


# ------------------------------------------------------------------------------------------------
# array files (.npy, .pt/.pth)
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """How an array's axes read: ``batch`` axis or None (one image), channel axis or None (gray)."""

    batched: bool
    channels_last: bool | None  # None: no channel axis
    what: str

    def hwc(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        dims = shape[1:] if self.batched else shape
        if self.channels_last is None:
            return dims[0], dims[1], 1
        return (dims[0], dims[1], dims[2]) if self.channels_last else (dims[1], dims[2], dims[0])


_SHAPES_HELP = "(N,C,H,W), (N,H,W,C), (N,H,W), (C,H,W), (H,W,C) or (H,W)"


def _layout(shape: tuple[int, ...], model: tuple[int, int, int], name: str) -> _Layout:
    """Pick the reading of ``shape`` that fits the model best (size, then channels, then order)."""
    c_ok = {1, 3, model[0]}
    if len(shape) == 4:
        candidates = [_Layout(True, False, "(N,C,H,W)"), _Layout(True, True, "(N,H,W,C)")]
    elif len(shape) == 3:
        candidates = [_Layout(False, False, "(C,H,W)"), _Layout(False, True, "(H,W,C)"), _Layout(True, None, "(N,H,W)")]
    elif len(shape) == 2:
        candidates = [_Layout(False, None, "(H,W)")]
    else:
        raise ImageFileError(f"{name}: expected an array of shape {_SHAPES_HELP}, got shape {tuple(shape)}")
    candidates = [lay for lay in candidates if lay.hwc(shape)[2] in c_ok]
    if not candidates:
        raise ImageFileError(
            f"{name}: expected an array of shape {_SHAPES_HELP} with C in {sorted(c_ok)}, got shape {tuple(shape)}"
        )

    def score(i_lay):
        i, lay = i_lay
        h, w, c = lay.hwc(shape)
        return ((h, w) != model[1:], c != model[0], i)

    return min(enumerate(candidates), key=score)[1]


def _read_array(path: Path):
    """The array in ``path``: a numpy array (memory-mapped for .npy) or a CPU tensor."""
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - numpy raises ValueError, OSError, EOFError, BadZipFile (a "PK" header)…
            raise ImageFileError(f"{path.name}: expected a .npy array file, got unreadable data ({_first_line(exc)})") from None
        if not isinstance(arr, np.ndarray):  # an .npz archive named .npy
            with contextlib.suppress(Exception):
                arr.close()
            raise ImageFileError(f"{path.name}: expected a .npy file holding one array, got an .npz archive")
        return arr
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types on garbage
        raise ImageFileError(
            f"{path.name}: expected a file written by torch.save holding one tensor, got unreadable data "
            f"({type(exc).__name__}: {_first_line(exc)})"
        ) from None
    if not isinstance(obj, torch.Tensor):
        what = f"a dict with keys {list(obj)[:5]}" if isinstance(obj, dict) else f"a {type(obj).__name__}"
        raise ImageFileError(f"{path.name}: expected a file holding one tensor, got {what}")
    return obj


def _kind(arr) -> str:
    """``"uint8"``, ``"float"`` or the dtype's name (refused)."""
    dtype = arr.dtype
    if isinstance(arr, torch.Tensor):
        if dtype == torch.uint8:
            return "uint8"
        return "float" if dtype.is_floating_point else str(dtype).replace("torch.", "")
    if dtype == np.uint8:
        return "uint8"
    return "float" if np.issubdtype(dtype, np.floating) else str(dtype)


def _to_float(chunk, kind: str) -> torch.Tensor:
    """Pixels as float32 (uint8 divided by 255); copies, so a memory-mapped file stays untouched."""
    if isinstance(chunk, np.ndarray):
        t = torch.from_numpy(np.array(chunk, dtype=np.float32))  # also native byte order
    else:
        t = chunk.to(torch.float32)
    return t / 255.0 if kind == "uint8" else t


def _array_source(path: Path, shape: tuple[int, int, int], resize: bool) -> ImageSource:
    arr = _read_array(path)
    name = path.name
    kind = _kind(arr)
    if kind not in ("uint8", "float"):
        raise ImageFileError(f"{name}: expected uint8 pixels (0..255) or float pixels in [0, 1], got dtype {kind}")
    ashape = tuple(int(s) for s in arr.shape)
    lay = _layout(ashape, shape, name)
    h, w, c = lay.hwc(ashape)
    if (h, w) != shape[1:] and not resize:
        raise _size_error(h, w, shape, name)
    if c != shape[0] and {c, shape[0]} != {1, 3}:
        raise ImageFileError(f"{name}: expected images with {shape[0]} channels for this model, got {c}")
    count = ashape[0] if lay.batched else 1
    if count == 0:
        raise ImagePathError(f"--input expected at least one image, got an empty array of shape {ashape} in {name}")

    def raw(indices: Sequence[int]):
        if not lay.batched:
            return arr[None]
        if isinstance(arr, np.ndarray):
            return arr[np.asarray(indices)]
        return arr[torch.as_tensor(list(indices))]

    if kind == "float":  # check the range now, a chunk at a time (a .npy stays memory-mapped)
        lo, hi = float("inf"), float("-inf")
        for s in range(0, count, _SCAN_CHUNK):
            x = _to_float(raw(range(s, min(count, s + _SCAN_CHUNK))), kind)
            if not bool(torch.isfinite(x).all()):
                raise ImageFileError(f"{name}: expected finite pixel values in [0, 1], got NaN or inf")
            lo, hi = min(lo, float(x.min())), max(hi, float(x.max()))
        if lo < 0.0 or hi > 1.0:
            raise ImageFileError(
                f"{name}: expected float pixels in [0, 1] (or uint8 0..255), got values in [{lo:.4g}, {hi:.4g}]"
            )

    def load(indices: Sequence[int]) -> torch.Tensor:
        x = _to_float(raw(indices), kind)
        if lay.channels_last is None:
            x = x.unsqueeze(-3)
        elif lay.channels_last:
            x = x.permute(0, 3, 1, 2)
        x = _convert_channels(x, shape[0])
        if tuple(x.shape[-2:]) != shape[1:]:
            x = F.interpolate(x, size=shape[1:], mode="bilinear", align_corners=False, antialias=True).clamp(0.0, 1.0)
        return x.contiguous()

    names = [f"{name}[{i}]" for i in range(count)]
    return ImageSource(names, shape, load)


def _convert_channels(x: torch.Tensor, c: int) -> torch.Tensor:
    """(B, c0, H, W) → (B, c, H, W): gray replicated to RGB, RGB to gray with PIL's luma weights."""
    c0 = x.shape[1]
    if c0 == c:
        return x
    if c0 == 1:
        return x.expand(-1, c, -1, -1)
    weights = torch.tensor(_LUMA, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)
