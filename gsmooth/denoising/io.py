"""Denoiser checkpoints: a file kind of its own (``format: "gsmooth-denoiser"``, ``kind: "denoiser"``).

The file is a ``torch.save``'d dict of plain values and tensors (loadable with ``weights_only=True``)::

    {"format": "gsmooth-denoiser", "kind": "denoiser", "version": 1,
     "arch": "dncnn6x32", "dataset": "fashion-mnist", "input_shape": [1, 28, 28],
     "noise": "gaussian", "sigma": 0.25, "objective": "mse", "classifier_sha256": None | "<sha256>",
     "state_dict": {...}, "epoch": 3, "optimizer": {...}, "train_config": {...}, "history": [...],
     "torch_version": "...", "gsmooth_version": "...", "created": "<ISO time>"}

A classifier checkpoint given where a denoiser is expected (and a denoiser given as ``--model``, see
:func:`gsmooth.io.checkpoints.load_checkpoint`) is refused with one line saying what the file is.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from ..errors import CheckpointError
from ..io.checkpoints import (
    DENOISER_FORMAT, FORMAT as CLASSIFIER_FORMAT, SURROGATE_FORMAT, atomic_torch_save, check_map_location,
    check_version_and_keys, check_weights_only_safe, gsmooth_version, load_state_strict, torch_load_plain,
)

__all__ = ["FORMAT", "KIND", "VERSION", "save_denoiser", "load_denoiser", "read_denoiser_file"]

#: ``format`` and ``kind`` of a denoiser checkpoint.
FORMAT = DENOISER_FORMAT
KIND = "denoiser"
#: Current layout; :func:`load_denoiser` reads ``1..VERSION``.
VERSION = 1

PathLike = Union[str, "os.PathLike[str]"]
_REQUIRED = ("arch", "input_shape", "noise", "sigma", "state_dict")


def _unwrap(model: nn.Module) -> nn.Module:
    from ..io.checkpoints import _unwrap as unwrap

    return unwrap(model)


def save_denoiser(
    path: PathLike,
    *,
    denoiser: nn.Module,
    arch: str,
    dataset: str | None,
    input_shape: Sequence[int],
    sigma: float,
    noise: str = "gaussian",
    objective: str = "mse",
    classifier_sha256: str | None = None,
    epoch: int = 0,
    optimizer: Optional[torch.optim.Optimizer] = None,
    train_config: Optional[Mapping[str, Any]] = None,
    history: Optional[list] = None,
) -> Path:
    """Write a denoiser checkpoint atomically (a temporary file beside ``path``, then a rename).

    Raises:
        InvalidParameterError: non-plain values in ``train_config`` / ``history``.
        OutputFileError: the folder cannot be written.

    Example:
        >>> from gsmooth.denoising import build_denoiser, load_denoiser
        >>> den = build_denoiser("dncnn3x4", input_shape=(1, 8, 8))
        >>> _ = save_denoiser("/tmp/gsmooth_doc_den.pt", denoiser=den, arch="dncnn3x4", dataset=None,
        ...                   input_shape=(1, 8, 8), sigma=0.5)
        >>> load_denoiser("/tmp/gsmooth_doc_den.pt").sigma
        0.5
    """
    payload = {
        "format": FORMAT,
        "kind": KIND,
        "version": VERSION,
        "arch": str(arch),
        "dataset": dataset,
        "input_shape": [int(v) for v in input_shape],
        "noise": str(noise),
        "sigma": float(sigma),
        "objective": str(objective),
        "classifier_sha256": classifier_sha256,
        "state_dict": {k: v.detach().cpu() for k, v in _unwrap(denoiser).state_dict().items()},
        "epoch": int(epoch),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "train_config": dict(train_config or {}),
        "history": list(history or []),
        "torch_version": str(torch.__version__),
        "gsmooth_version": gsmooth_version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    for key in ("train_config", "history"):
        check_weights_only_safe(payload[key], f"save_denoiser {key}")
    return atomic_torch_save(payload, path)


def _what_it_is(obj: Any) -> str:
    if isinstance(obj, Mapping) and obj.get("format") == CLASSIFIER_FORMAT:
        return ("a gsmooth classifier checkpoint (format 'gsmooth-checkpoint', written by `gsmooth train`); pass it as "
                "--model, and as --denoiser a file from `gsmooth train-denoiser`")
    if isinstance(obj, Mapping) and obj.get("format") == SURROGATE_FORMAT:
        return "a gsmooth surrogate (format 'gsmooth-surrogate', written by `gsmooth surrogate train`); pass it as --surrogate"
    if isinstance(obj, Mapping):
        return f"a dict without format={FORMAT!r} (keys {', '.join(repr(k) for k in list(obj)[:6])})"
    return f"a {type(obj).__qualname__}"


def read_denoiser_file(path: PathLike, *, map_location="cpu") -> dict:
    """The raw dict of a denoiser checkpoint, its header checked (what resume reads).

    Raises:
        CheckpointError: missing file, not a torch file, not a denoiser (the message says what it is),
            a newer version, or missing keys.
    """
    check_map_location(map_location, what="load_denoiser: map_location")
    path = Path(os.path.expanduser(os.fspath(path)))
    where = repr(str(path))
    if not path.exists():
        raise CheckpointError(f"denoiser: expected an existing file, got {where} (no such file)")
    if not path.is_file():
        raise CheckpointError(f"denoiser: expected a file, got the directory {where}")
    obj = torch_load_plain(path, map_location=map_location, where=where, what="a denoiser checkpoint", trust_option=False)
    if not isinstance(obj, Mapping) or obj.get("format") != FORMAT or obj.get("kind") != KIND:
        raise CheckpointError(f"{where}: expected a gsmooth denoiser (format={FORMAT!r}, kind 'denoiser'), got {_what_it_is(obj)}")
    check_version_and_keys(obj, where=where, what="denoiser checkpoint", version=VERSION, required=_REQUIRED)
    if not isinstance(obj["state_dict"], Mapping):
        raise CheckpointError(f"{where}: expected 'state_dict' to be a dict of tensors, got {type(obj['state_dict']).__qualname__}")
    return dict(obj)


def load_denoiser(path: PathLike, *, map_location="cpu") -> nn.Module:
    """Read a denoiser written by :func:`save_denoiser` / ``gsmooth train-denoiser`` (safely: ``weights_only=True``).

    Args:
        path: the file.
        map_location: where the weights are loaded (``"cpu"``, ``"cuda"`` …).

    Returns:
        the denoiser (eval mode) with attributes ``arch``, ``input_shape`` (tuple), ``noise``, ``sigma``,
        ``objective``, ``dataset``, ``classifier_sha256`` and ``checkpoint_path``.

    Raises:
        CheckpointError: see :func:`read_denoiser_file`; or weights that do not match the architecture.
        UnknownComponentError: the recorded architecture is not registered (a plugin's, not installed).

    Example:
        >>> den = load_denoiser("denoiser.pt")  # doctest: +SKIP
        >>> den.sigma, den.input_shape  # doctest: +SKIP
        (0.25, (1, 28, 28))
    """
    from .model import build_denoiser

    obj = read_denoiser_file(path, map_location=map_location)
    path = Path(os.path.expanduser(os.fspath(path)))
    try:
        den = build_denoiser(str(obj["arch"]), input_shape=tuple(int(v) for v in obj["input_shape"]))
        sigma = float(obj["sigma"])
    except (TypeError, ValueError) as exc:  # InvalidParameterError is a ValueError
        raise CheckpointError(f"{str(path)!r}: expected well-formed denoiser metadata, got {exc}") from exc
    load_state_strict(den, obj["state_dict"], str(obj["arch"]), path)
    if map_location is not None and isinstance(map_location, (str, torch.device)):
        den.to(map_location)
    den.noise = str(obj["noise"])
    den.sigma = sigma
    den.objective = str(obj.get("objective") or "mse")
    den.dataset = obj.get("dataset")
    den.classifier_sha256 = obj.get("classifier_sha256")
    den.checkpoint_path = str(path)
    return den.eval()
