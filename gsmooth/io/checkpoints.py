"""Self-describing checkpoints: weights plus everything needed to rebuild and certify the model.

A gsmooth checkpoint is a ``torch.save``'d dict::

    {"format": "gsmooth-checkpoint", "version": 1,
     "arch": "resnet110", "dataset": "cifar10", "num_classes": 10, "input_shape": [3, 32, 32],
     "mean": [...], "std": [...],
     "smoothing": {"noise": "gaussian", "noise_params": {"sigma": 0.25},
                   "transform": "additive", "transform_params": {}},
     "epoch": 90, "state_dict": {...}, "optimizer": {...} | None, "scheduler": {...} | None,
     "extra": {...}, "torch_version": "...", "gsmooth_version": "...", "created": "<ISO time>"}

so ``gsmooth certify --checkpoint model.pt`` needs no other flag to rebuild the model, and the
training noise is on record.

Safety: a checkpoint holds only tensors and plain Python values (numbers, strings, lists, tuples,
dicts, sets, ``None``), which :func:`save_checkpoint` checks. :func:`load_checkpoint` therefore
reads it with ``torch.load(weights_only=True)``, which never runs code from the file. Only with
``trusted=True`` (a file you made yourself, holding e.g. numpy arrays) does it fall back to full
unpickling (``weights_only=False``), which can execute arbitrary code from a malicious file.

Writes are atomic: the dict goes to a fresh temporary file beside ``<path>``, is flushed to disk,
then renamed over ``<path>`` with :func:`os.replace`, so a killed job leaves the previous
checkpoint intact.

Example:
    >>> from gsmooth.models.architectures import build_model
    >>> m = build_model("small_cnn", num_classes=10, input_shape=(1, 28, 28), mean=0.286, std=0.353)
    >>> save_checkpoint("model.pt", model=m, arch="small_cnn", dataset="fashion-mnist",
    ...                 num_classes=10, input_shape=(1, 28, 28), mean=(0.286,), std=(0.353,),
    ...                 smoothing={"noise": "gaussian", "noise_params": {"sigma": 0.25},
    ...                            "transform": "additive", "transform_params": {}}, epoch=10)  # doctest: +SKIP
    >>> ckpt = load_checkpoint("model.pt")  # doctest: +SKIP
    >>> model = ckpt.build_model()          # eval mode, weights loaded  # doctest: +SKIP
    >>> ckpt.smoothing["noise_params"]["sigma"]  # doctest: +SKIP
    0.25
"""

from __future__ import annotations

import collections
import datetime as _dt
import hashlib
import os
import pickle
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from ..errors import CheckpointError, InvalidParameterError
from ..validation import Interval, validate_params

__all__ = [
    "FORMAT", "VERSION", "Checkpoint", "save_checkpoint", "load_checkpoint", "file_sha256",
    # shared with the surrogate checkpoints (gsmooth.surrogate.io):
    "gsmooth_version", "check_weights_only_safe", "load_state_strict",
]

#: Value of the ``format`` key that marks a gsmooth checkpoint.
FORMAT = "gsmooth-checkpoint"
#: Current checkpoint layout version; :func:`load_checkpoint` reads versions ``1..VERSION``.
VERSION = 1

_REQUIRED = ("arch", "dataset", "num_classes", "input_shape", "mean", "std", "state_dict")

PathLike = Union[str, "os.PathLike[str]"]

# Types torch.load(weights_only=True) accepts (checked on torch 2.x); save_checkpoint refuses others.
_SAFE_SCALARS = (type(None), bool, int, float, complex, str, bytes, torch.dtype, torch.device, torch.Size)
_SAFE_MAPPINGS = (dict, collections.OrderedDict, collections.Counter)
_SAFE_SEQUENCES = (list, tuple, set)


def file_sha256(path: PathLike) -> str:
    """The SHA-256 of a file's bytes as 64 hex digits, read in 1 MiB chunks: the identity of a
    checkpoint or surrogate in results files and training configurations (a copied or moved file
    keeps it).

    Args:
        path: the file.

    Returns:
        The hex digest, e.g. ``"e3b0c442…"`` for an empty file.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def gsmooth_version() -> str:
    """The installed gsmooth version (recorded in every checkpoint; ``"unknown"`` if unavailable)."""
    try:
        from .. import __version__

        return str(__version__)
    except ImportError:
        try:
            from importlib.metadata import version

            return version("gsmooth")
        except Exception:  # noqa: BLE001 - version is informational only
            return "unknown"


def check_weights_only_safe(value: Any, where: str) -> None:
    """Raise if ``value`` holds an object ``torch.load(weights_only=True)`` would refuse."""
    if isinstance(value, torch.Tensor):
        if type(value) not in (torch.Tensor, nn.Parameter):
            raise InvalidParameterError(
                f"save_checkpoint: {where} expected a plain torch.Tensor, got {type(value).__qualname__}"
            )
        return
    tp = type(value)
    if tp in _SAFE_SCALARS:
        return
    if tp in _SAFE_MAPPINGS:
        for k, v in value.items():
            check_weights_only_safe(k, f"{where} key {k!r}")
            check_weights_only_safe(v, f"{where}[{k!r}]")
        return
    if tp in _SAFE_SEQUENCES:
        for i, v in enumerate(value):
            check_weights_only_safe(v, f"{where}[{i}]")
        return
    raise InvalidParameterError(
        f"save_checkpoint: {where} expected tensors, numbers, strings, None or lists/tuples/dicts "
        f"of them, got {tp.__module__}.{tp.__qualname__} (convert it, e.g. numpy arrays with "
        "torch.from_numpy, so the checkpoint loads without unpickling arbitrary objects)"
    )


def _unwrap(model: nn.Module) -> nn.Module:
    """Strip DataParallel / DistributedDataParallel / torch.compile wrappers."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


def save_checkpoint(
    path: PathLike,
    *,
    model: nn.Module,
    arch: str,
    dataset: str,
    num_classes: int,
    input_shape: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    smoothing: Optional[Mapping[str, Any]],
    epoch: int,
    optimizer: Optional[torch.optim.Optimizer] = None,
    scheduler: Optional[Any] = None,
    extra: Optional[Mapping[str, Any]] = None,
) -> Path:
    """Write a self-describing checkpoint atomically.

    Args:
        path: destination file (parent directories are created).
        model: the model built by :func:`gsmooth.models.architectures.build_model` (``DataParallel`` /
            ``torch.compile`` wrappers are stripped).
        arch, num_classes, input_shape, mean, std: the arguments of ``build_model``.
        dataset: dataset name the model was trained on (e.g. ``"cifar10"``).
        smoothing: plain dict describing the training noise, e.g. ``{"noise": "gaussian",
            "noise_params": {"sigma": 0.25}, "transform": "additive", "transform_params": {}}``;
            ``None`` or ``{}`` for a model trained without noise.
        epoch: number of completed epochs (≥ 0).
        optimizer, scheduler: saved via their ``state_dict()`` when given, to resume training.
        extra: any further plain data (tensors, numbers, strings, containers of them), e.g.
            RNG states or metrics.

    Returns:
        The path written.

    Raises:
        InvalidParameterError: a bad argument, or a value that is not plain data.
    """
    validate_params(
        "save_checkpoint",
        {"num_classes": num_classes, "epoch": epoch},
        {"num_classes": [Interval(Integral, 1, None)], "epoch": [Interval(Integral, 0, None)]},
    )
    if not isinstance(model, nn.Module):
        raise InvalidParameterError(
            f"save_checkpoint: model expected a torch.nn.Module, got {type(model).__qualname__}"
        )
    for name, value in (("arch", arch), ("dataset", dataset)):
        if not isinstance(value, str) or not value:
            raise InvalidParameterError(f"save_checkpoint: {name} expected a non-empty str, got {value!r}")
    if smoothing is None:
        smoothing = {}
    if not isinstance(smoothing, Mapping):
        raise InvalidParameterError(
            f"save_checkpoint: smoothing expected a dict such as {{'noise': 'gaussian', "
            f"'noise_params': {{'sigma': 0.25}}, ...}}, got {type(smoothing).__qualname__}"
        )
    if extra is not None and not isinstance(extra, Mapping):
        raise InvalidParameterError(
            f"save_checkpoint: extra expected a dict or None, got {type(extra).__qualname__}"
        )
    try:
        shape = [int(v) for v in input_shape]
        mean_l, std_l = [float(v) for v in mean], [float(v) for v in std]
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"save_checkpoint: expected input_shape (C, H, W) and per-channel mean/std sequences, "
            f"got input_shape={input_shape!r}, mean={mean!r}, std={std!r}"
        ) from exc
    if len(shape) != 3:
        raise InvalidParameterError(f"save_checkpoint: input_shape expected (C, H, W), got {input_shape!r}")
    if not len(mean_l) == len(std_l) == shape[0]:
        raise InvalidParameterError(
            f"save_checkpoint: expected mean and std of length C={shape[0]}, "
            f"got {len(mean_l)} and {len(std_l)}"
        )
    # A model from build_model records how it was built: catch a mismatch now, not at load time.
    inner = _unwrap(model)
    for name, given in (("arch", arch), ("num_classes", int(num_classes)), ("input_shape", tuple(shape))):
        recorded = getattr(inner, name, None)
        if recorded is not None and recorded != given:
            raise InvalidParameterError(
                f"save_checkpoint: {name} expected to match the model's ({recorded!r}), got {given!r}"
            )

    payload = {
        "format": FORMAT,
        "version": VERSION,
        "arch": arch,
        "dataset": dataset,
        "num_classes": int(num_classes),
        "input_shape": shape,
        "mean": mean_l,
        "std": std_l,
        "smoothing": _plain(smoothing),
        "epoch": int(epoch),
        "state_dict": inner.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "extra": _plain(extra) if extra is not None else {},
        "torch_version": str(torch.__version__),
        "gsmooth_version": gsmooth_version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    for key in ("smoothing", "optimizer", "scheduler", "extra"):
        check_weights_only_safe(payload[key], key)

    return atomic_torch_save(payload, path)


def atomic_torch_save(payload: Any, path: PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path`` (a fresh name, so no other file is ever
    clobbered), fsync, ``os.replace`` onto ``path``, fsync the directory
    (:func:`gsmooth.io.output_files.atomic_output`).

    A kill at any moment leaves either the previous file or the new one, never a torn one; an
    unwritable folder is an :class:`~gsmooth.errors.OutputFileError`.
    """
    from .output_files import atomic_output

    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        from ..errors import OutputFileError

        raise OutputFileError(f"cannot write {str(path)!r}: it is a folder")
    with atomic_output(path, "wb") as f:
        torch.save(payload, f)
    return path


def nonfinite_tensors(module: nn.Module) -> list[str]:
    """Names of the floating-point parameters and buffers of ``module`` holding NaN or inf: a
    training loop checks them before it writes a checkpoint (a diverged model is never saved)."""
    return [name for name, t in list(module.named_parameters()) + list(module.named_buffers())
            if t.is_floating_point() and not bool(torch.isfinite(t).all())]


def describe_unreadable(path: PathLike) -> str:
    """What a file that ``torch.load`` cannot read looks like, from its first bytes: an empty
    file, text (JSON, …), a NumPy array, a plain pickle, or unknown binary data."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError as exc:
        return f"a file that cannot be read ({exc.strerror or exc})"
    if not head:
        return "an empty file"
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy file"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive that is not a complete torch.save file"
    if head[:1] == b"\x80":
        return "a Python pickle that is not a torch.save file"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data of another format"
    stripped = text.lstrip()
    kind = "a JSON/text file" if stripped[:1] in ("{", "[") else "a text file"
    first = stripped.splitlines()[0][:40] if stripped else ""
    return f"{kind} (it begins {first!r})" if first else kind


def _unsupported_global(exc: BaseException) -> Optional[str]:
    """The "Unsupported global: …" line of torch's weights-only refusal, if that is the reason (a
    real torch/pickle file holding Python objects), else ``None`` (the file is not a pickle)."""
    for line in str(exc).splitlines():
        if "Unsupported global" in line:
            return line.strip().split(". Please use")[0].split("WeightsUnpickler error:")[-1].strip()
    return None


def check_map_location(map_location: Any, *, what: str) -> None:
    """A device given as ``map_location`` exists here (a wrong device is not a broken checkpoint)."""
    if isinstance(map_location, (str, torch.device)):
        from ..validation import check_device

        check_device(map_location, what=what)


def torch_load_plain(
    path: Path, *, map_location: Any, where: str, what: str, trusted: bool = False, trust_option: bool = True
) -> Any:
    """``torch.load(weights_only=True)`` with gsmooth's messages: a file torch cannot read is
    described (:func:`describe_unreadable`); ``trusted=True`` is suggested only for a real torch file
    that safe loading refuses because it holds Python objects (and only where the caller has that
    option: ``trust_option``); a checkpoint saved on a device that is missing here is blamed on the
    device."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = _unsupported_global(exc)
        if detail is None:
            raise CheckpointError(
                f"{where}: expected a file written by torch.save, got {describe_unreadable(path)}"
            ) from None
        if not trusted:
            advice = (
                " If you made this file yourself and trust it, pass trusted=True (full unpickling can run code "
                "from the file)." if trust_option else " Save it again from tensors and plain values."
            )
            raise CheckpointError(
                f"{where}: expected {what} of tensors and plain Python values, got one holding other Python "
                f"objects, which safe loading refuses ({detail}).{advice}"
            ) from exc
        try:
            # Full unpickling, only on the caller's explicit word that the file is trusted.
            return torch.load(path, map_location=map_location, weights_only=False)
        except Exception as exc2:  # noqa: BLE001 - any unpickling failure means "not readable"
            raise CheckpointError(
                f"{where}: expected a file written by torch.save, got unreadable data ({exc2})"
            ) from exc2
    except Exception as exc:  # noqa: BLE001 - torch raises many types on garbage (IndexError, RuntimeError, EOFError, …)
        text = str(exc)
        if "deserialize object on a CUDA device" in text or "deserialize object on device" in text:
            raise InvalidParameterError(
                f"{where}: its tensors were saved on a device that is not available here; expected "
                f"map_location (--device) to name an available device, got {map_location!r}"
            ) from None
        seen = describe_unreadable(path)
        if seen.startswith(("binary", "a zip")):
            seen += f" ({type(exc).__name__}: {text.splitlines()[0] if text else 'unreadable'})"
        raise CheckpointError(f"{where}: expected a file written by torch.save, got {seen}") from None


def check_version_and_keys(obj: Mapping, *, where: str, what: str, version: int, required) -> None:
    """The header checks every gsmooth file format shares: a supported ``version`` and the keys."""
    found = obj.get("version")
    if type(found) is not int or not 1 <= found <= version:
        raise CheckpointError(
            f"{where}: expected {what} version 1..{version}, got {found!r}"
            + ("; upgrade gsmooth to read it" if isinstance(found, int) and found > version else "")
        )
    missing = [k for k in required if k not in obj]
    if missing:
        raise CheckpointError(f"{where}: expected keys {list(required)}, got none for {missing}")


def _plain(mapping: Mapping[str, Any]) -> dict:
    """Shallow copy into a plain dict (nested mappings too), so later edits do not leak in."""
    return {k: _plain(v) if isinstance(v, Mapping) and not isinstance(v, collections.Counter) else v
            for k, v in mapping.items()}


@dataclass
class Checkpoint:
    """A loaded gsmooth checkpoint (see :func:`load_checkpoint`).

    Attributes:
        path: the file it was read from.
        arch, dataset, num_classes, input_shape, mean, std: model and data description.
        smoothing: the training noise description (plain dict, possibly empty).
        epoch: completed epochs.
        state_dict: model weights (keys ``normalize.*`` and ``net.*``).
        optimizer_state, scheduler_state: raw ``state_dict()`` of the optimizer / scheduler,
            or ``None``; pass them to ``optimizer.load_state_dict`` to resume.
        extra: the ``extra`` dict given at save time.
        version: checkpoint layout version; torch_version, gsmooth_version, created: provenance.
    """

    path: Path
    arch: str
    dataset: str
    num_classes: int
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    smoothing: dict
    epoch: int
    state_dict: Mapping[str, torch.Tensor] = field(repr=False)
    optimizer_state: Optional[dict] = field(default=None, repr=False)
    scheduler_state: Optional[dict] = field(default=None, repr=False)
    extra: dict = field(default_factory=dict, repr=False)
    version: int = VERSION
    torch_version: Optional[str] = None
    gsmooth_version: Optional[str] = None
    created: Optional[str] = None

    def build_model(self, *, device: Union[str, torch.device, None] = None, train: bool = False) -> nn.Sequential:
        """Rebuild the model with :func:`gsmooth.models.architectures.build_model` and load the weights.

        Args:
            device: move the model there (default: stay on CPU).
            train: return it in training mode (to resume training); default eval mode, which is
                what certification needs (BatchNorm running statistics, no dropout).

        Raises:
            CheckpointError: the state dict does not match the architecture (names the keys).
        """
        from ..models.architectures import build_model
        from ..validation import check_device

        if device is not None:
            device = check_device(device, what="build_model: device")
        model = build_model(
            self.arch,
            num_classes=self.num_classes,
            input_shape=self.input_shape,
            mean=self.mean,
            std=self.std,
        )
        load_state_strict(model, self.state_dict, self.arch, self.path)
        if device is not None:
            model = model.to(device)
        model.checkpoint_path = str(self.path)  # named in errors about the model's outputs
        return model.train(train)


def _fmt_keys(keys: Sequence[str], limit: int = 5) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f", … ({len(keys) - limit} more)" if len(keys) > limit else "")


def load_state_strict(model: nn.Module, state: Mapping[str, Any], arch: str, path: Path) -> None:
    """``model.load_state_dict(state)`` with every missing, unexpected or mis-shaped key named in one
    :class:`~gsmooth.errors.CheckpointError` (``arch`` and ``path`` say whose checkpoint it was)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k} (expected {tuple(own[k].shape)}, got {tuple(state[k].shape)})"
        for k in own
        if k in state and isinstance(state[k], torch.Tensor) and own[k].shape != state[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_fmt_keys(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_fmt_keys(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatch: {_fmt_keys(mismatched, 3)}")
    if problems:
        raise CheckpointError(
            f"{str(path)!r}: expected a state dict matching architecture {arch!r}, got "
            + "; ".join(problems)
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # e.g. a non-tensor value where a tensor was expected
        raise CheckpointError(
            f"{str(path)!r}: expected a state dict matching architecture {arch!r}, got: {exc}"
        ) from exc


#: ``format`` of a surrogate file (:mod:`gsmooth.surrogate`; spelled here to avoid the import).
SURROGATE_FORMAT = "gsmooth-surrogate"
#: ``format`` of a denoiser file (:mod:`gsmooth.denoising`).
DENOISER_FORMAT = "gsmooth-denoiser"


def _describe_foreign(obj: Any) -> str:
    if isinstance(obj, Mapping) and obj.get("format") == DENOISER_FORMAT:
        return (
            f"a gsmooth denoiser (format {DENOISER_FORMAT!r}, written by `gsmooth train-denoiser`), not a classifier: "
            "pass it with --denoiser (gsmooth.denoising.load_denoiser in Python), and as --model a classifier"
        )
    if isinstance(obj, Mapping) and obj.get("format") == SURROGATE_FORMAT:
        return (
            f"a gsmooth surrogate (format {SURROGATE_FORMAT!r}, written by `gsmooth surrogate train`), not a "
            "classifier: pass it with --surrogate (SurrogateTransform.from_checkpoint in Python), and as --model a "
            "classifier trained by `gsmooth train`"
        )
    if isinstance(obj, Mapping):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return (
                f"a bare state_dict ({len(obj)} tensors, first key {next(iter(obj))!r}). Wrap it: "
                "model = gsmooth.models.architectures.build_model(arch, num_classes=…, input_shape=…, mean=…, std=…); "
                "model.net.load_state_dict(state_dict) (or model.load_state_dict if it already has "
                "'normalize.*' keys); then gsmooth.io.checkpoints.save_checkpoint(path, model=model, …)"
            )
        keys = ", ".join(repr(k) for k in list(obj)[:6])
        return (
            f"a dict without format={FORMAT!r} (keys {keys}…), e.g. another tool's training "
            "checkpoint. Load its weights into gsmooth.models.architectures.build_model(…).net and save them "
            "with gsmooth.io.checkpoints.save_checkpoint"
        )
    if isinstance(obj, nn.Module):
        return (
            f"a pickled whole model ({type(obj).__qualname__}). Save it with "
            "gsmooth.io.checkpoints.save_checkpoint(path, model=…, arch=…, …) instead"
        )
    return f"a {type(obj).__qualname__}"


def load_checkpoint(
    path: PathLike,
    *,
    map_location: Union[str, torch.device, None] = "cpu",
    trusted: bool = False,
) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the file.
        map_location: where tensors are loaded (default CPU).
        trusted: allow full unpickling (``torch.load(weights_only=False)``) when safe loading
            refuses the file. Only for files you trust: unpickling can run arbitrary code.

    Returns:
        A :class:`Checkpoint`; ``.build_model()`` gives the model with its weights.

    Raises:
        CheckpointError: the file is missing, not a torch file, not a gsmooth checkpoint (e.g. a
            bare state dict; the message says how to wrap it), of a newer version, or incomplete.
    """
    from ..validation import check_path

    check_map_location(map_location, what="load_checkpoint: map_location")
    path = Path(os.path.expanduser(check_path(path, what="checkpoint")))
    if not path.exists():
        raise CheckpointError(f"checkpoint: expected an existing file, got {str(path)!r} (no such file)")
    if not path.is_file():
        raise CheckpointError(f"checkpoint: expected a file, got the directory {str(path)!r}")

    obj = torch_load_plain(path, map_location=map_location, where=repr(str(path)), what="a checkpoint", trusted=trusted)

    if not isinstance(obj, Mapping) or obj.get("format") != FORMAT:
        raise CheckpointError(
            f"{str(path)!r}: expected a gsmooth checkpoint (format={FORMAT!r}), got "
            + _describe_foreign(obj)
        )
    check_version_and_keys(obj, where=repr(str(path)), what="checkpoint", version=VERSION, required=_REQUIRED)
    if not isinstance(obj["state_dict"], Mapping):
        raise CheckpointError(
            f"{str(path)!r}: expected 'state_dict' to be a dict of tensors, got {type(obj['state_dict']).__qualname__}"
        )

    try:
        return _to_checkpoint(path, obj, obj["version"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{str(path)!r}: expected well-formed gsmooth checkpoint metadata, got {exc}"
        ) from exc


def _to_checkpoint(path: Path, obj: Mapping[str, Any], version: int) -> Checkpoint:
    return Checkpoint(
        path=path,
        arch=str(obj["arch"]),
        dataset=str(obj["dataset"]),
        num_classes=int(obj["num_classes"]),
        input_shape=tuple(int(v) for v in obj["input_shape"]),
        mean=tuple(float(v) for v in obj["mean"]),
        std=tuple(float(v) for v in obj["std"]),
        smoothing=dict(obj.get("smoothing") or {}),
        epoch=int(obj.get("epoch", 0)),
        state_dict=obj["state_dict"],
        optimizer_state=obj.get("optimizer"),
        scheduler_state=obj.get("scheduler"),
        extra=dict(obj.get("extra") or {}),
        version=version,
        torch_version=obj.get("torch_version"),
        gsmooth_version=obj.get("gsmooth_version"),
        created=obj.get("created"),
    )
