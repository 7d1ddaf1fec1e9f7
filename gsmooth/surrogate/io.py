"""Surrogate checkpoints: save, load, read."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import torch

from ..io.checkpoints import FORMAT as CLASSIFIER_FORMAT
from ..io.checkpoints import SURROGATE_FORMAT, check_weights_only_safe, gsmooth_version, load_state_strict, atomic_torch_save, check_map_location
from ..io.checkpoints import check_version_and_keys, torch_load_plain
from ..errors import CheckpointError, InvalidParameterError
from ..core.ranges import parse_range
from .evaluate import SurrogateEvaluation
from .model import SurrogateModel


#: Value of the ``format`` key of a surrogate checkpoint.
FORMAT = SURROGATE_FORMAT
#: Current surrogate checkpoint layout; :func:`load_surrogate` reads ``1..VERSION``.
VERSION = 1

PathLike = Union[str, "os.PathLike[str]"]

# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------

_REQUIRED = ("transform", "param_dim", "param_range", "input_shape", "arch", "state_dict")


def save_surrogate(
    path: PathLike,
    surrogate: SurrogateModel,
    *,
    heldout: Optional[SurrogateEvaluation] = None,
    extra: Optional[Mapping[str, Any]] = None,
) -> Path:
    """Write a self-describing surrogate checkpoint atomically (``<path>.tmp`` then rename).

    The file is a ``torch.save``'d dict of plain values and tensors (loadable with
    ``weights_only=True``)::

        {"format": "gsmooth-surrogate", "version": 1,
         "transform": "rotational_blur", "transform_params": {...}, "transform_kind": "empirical",
         "param_units": "degrees", "param_dim": 1, "param_range": [[0.0, 10.0]],
         "dataset": "fashion-mnist", "input_shape": [1, 28, 28],
         "arch": {"name": "gsmooth-surrogate-unet", "width": 16, "encoder_width": 16, ...},
         "state_dict": {...}, "training": {"epochs": …, "history": [...], ...},
         "heldout": {"bins": [{"lo", "hi", "n", "l1", "psnr", "l1_identity", "psnr_identity"}, ...],
                     "overall": {...}, ...} | None,
         "extra": {...}, "torch_version": "...", "gsmooth_version": "...", "created": "<ISO time>"}

    ``heldout`` defaults to ``surrogate.heldout``.

    Raises:
        InvalidParameterError: not a :class:`SurrogateModel`, missing metadata, or non-plain values.
    """
    if not isinstance(surrogate, SurrogateModel):
        raise InvalidParameterError(f"save_surrogate: expected a SurrogateModel, got {type(surrogate).__name__}")
    if not surrogate.transform_name or not surrogate.param_range:
        raise InvalidParameterError(
            "save_surrogate: expected a surrogate with transform_name and param_range set (train_surrogate sets them), got none"
        )
    heldout = heldout if heldout is not None else surrogate.heldout
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "transform": surrogate.transform_name,
        "transform_params": dict(surrogate.transform_params),
        "transform_kind": surrogate.transform_kind,
        "param_units": surrogate.param_units,
        "param_dim": surrogate.param_dim,
        "param_range": [list(p) for p in surrogate.param_range],
        "dataset": surrogate.dataset,
        "input_shape": list(surrogate.input_shape),
        "arch": surrogate.arch(),
        "state_dict": {k: v.detach().cpu() for k, v in surrogate.state_dict().items()},
        "training": dict(surrogate.training_info),
        "heldout": heldout.to_dict() if heldout is not None else None,
        "extra": dict(extra) if extra is not None else {},
        "resume": _to_cpu(surrogate.resume_state) if getattr(surrogate, "resume_state", None) else None,
        "torch_version": str(torch.__version__),
        "gsmooth_version": gsmooth_version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    for key in ("transform_params", "training", "heldout", "extra", "resume"):
        check_weights_only_safe(payload[key], f"save_surrogate {key}")
    return atomic_torch_save(payload, path)


def _to_cpu(value):
    """Tensors moved to the CPU inside plain containers (a file that loads anywhere)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, Mapping):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def load_surrogate(path: PathLike, *, map_location="cpu") -> SurrogateModel:
    """Read a checkpoint written by :func:`save_surrogate` (safely: ``weights_only=True``).

    Returns:
        the :class:`SurrogateModel` in eval mode with its metadata (``heldout`` included).

    Raises:
        CheckpointError: missing file, not a torch file, not a surrogate (e.g. a classifier
            checkpoint — the message says so), a newer version, missing keys, or weights that do
            not match the recorded architecture.
    """
    return _read_surrogate(path, map_location=map_location)[0]


def _read_surrogate(path: PathLike, *, map_location="cpu") -> tuple[SurrogateModel, dict]:
    """:func:`load_surrogate`, also returning the file's raw dict (its ``"resume"`` state)."""
    check_map_location(map_location, what="load_surrogate: map_location")
    path = Path(path)
    where = repr(str(path))
    if not path.exists():
        raise CheckpointError(f"surrogate: expected an existing file, got {where} (no such file)")
    if not path.is_file():
        raise CheckpointError(f"surrogate: expected a file, got the directory {where}")
    obj = torch_load_plain(
        path, map_location=map_location, where=where, what="a surrogate checkpoint", trust_option=False
    )
    if not isinstance(obj, Mapping) or obj.get("format") != FORMAT:
        if isinstance(obj, Mapping) and obj.get("format") == CLASSIFIER_FORMAT:
            got = "a gsmooth classifier checkpoint (format 'gsmooth-checkpoint'); pass that as the model, and a file from `gsmooth surrogate train` as the surrogate"
        elif isinstance(obj, Mapping):
            got = f"a dict without format={FORMAT!r} (keys {', '.join(repr(k) for k in list(obj)[:6])})"
        else:
            got = f"a {type(obj).__qualname__}"
        raise CheckpointError(f"{where}: expected a gsmooth surrogate (format={FORMAT!r}), got {got}")
    check_version_and_keys(obj, where=where, what="surrogate checkpoint", version=VERSION, required=_REQUIRED)
    try:
        arch = dict(obj["arch"])
        model = SurrogateModel(
            input_shape=obj["input_shape"],
            param_dim=int(obj["param_dim"]),
            width=int(arch.get("width", 16)),
            encoder_width=int(arch.get("encoder_width", 16)),
            groups=int(arch.get("groups", 8)),
        )
        pairs = parse_range(obj["param_range"], int(obj["param_dim"]), broadcast=False, what="param_range")
        heldout = SurrogateEvaluation.from_dict(obj["heldout"]) if obj.get("heldout") else None
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{where}: expected well-formed surrogate metadata, got {exc}") from exc
    if not isinstance(obj["state_dict"], Mapping):
        raise CheckpointError(f"{where}: expected 'state_dict' to be a dict of tensors, got {type(obj['state_dict']).__qualname__}")
    load_state_strict(model, obj["state_dict"], "gsmooth-surrogate-unet", path)
    model.transform_name = str(obj["transform"])
    model.transform_params = dict(obj.get("transform_params") or {})
    model.transform_kind = obj.get("transform_kind")
    model.param_units = str(obj.get("param_units") or "")
    model.param_range = pairs
    model.dataset = obj.get("dataset")
    model.training_info = dict(obj.get("training") or {})
    model.heldout = heldout
    model.checkpoint_path = path
    return model.eval(), obj
