"""GSmooth surrogates: certify a non-resolvable transformation τ through a learned model of it.

GSmooth (Hao et al., ICML 2022) replaces a transformation that does not compose in its parameter
(rotational/defocus/zoom/motion blur, pixelate, …) by a surrogate

    τ̃(θ, x) = H(F2(x) + F1(θ) + ξ)

- **F1**: bias-free linear map θ ∈ R^d → an image-shaped latent (C·H·W = m numbers); its matrix is W.
- **F2**: residual encoder ``F2(x) = x + conv(act(conv(act(conv(x)))))`` (three 3×3 convolutions),
  so the latent has the image's shape.
- **H**: a small U-Net decoder (two down/up levels, GroupNorm) whose output ``H(z)`` is concatenated
  with ``z`` and mixed by a final 3×3 convolution.
- **ξ** ~ N(0, σ_ξ² I_m): noise on the latent; θ ~ N(0, σ_θ² I_d) is the parameter noise.

The surrogate is trained to reproduce ``τ(θ, x)`` (L1 loss, Adam, a fresh θ ~ U[range] for every
sample at every step). The smoothed classifier then classifies surrogate outputs, and
:mod:`gsmooth.lipschitz` gives the radius ``Φ⁻¹(p_lower) / sqrt(σ_θ⁻² + G² σ_ξ⁻²)`` with
``G = max_α ‖∂F2(τ(α, x))/∂α − W‖₂`` over the certified range (a grid *estimate*). The
certificate is of kind ``surrogate``: it holds for the smoothed classifier built on the surrogate,
applied to truly transformed inputs ``τ(α, x)`` (F2 sees the true transform), for α in the range G
was taken over and ``‖α‖₂ < R``.

How it plugs into the engine unchanged: :class:`SurrogateTransform` is a :class:`gsmooth.Transform`
of kind ``"surrogate"`` with ``param_shape = (d + m,)``. The engine draws ``θ_full ~ N(0, σ_θ² I)``;
``forward`` splits it into θ (first d) and ``ξ = (σ_ξ/σ_θ) · θ_full[d:]`` (``sigma_ratio``), and
``lipschitz_factor(x) = sqrt(1 + G(x)² / sigma_ratio²)``, so the engine's
``σ_θ Φ⁻¹(p_lower) / M*`` is exactly GSmooth's radius. It is **not registered by name**: it needs a
trained surrogate, so it is built from one (``SurrogateTransform(surrogate=…)``) or from a file
(:meth:`SurrogateTransform.from_checkpoint`). It is valid for Gaussian noise only
(``requires_noise = "gaussian"``, :meth:`SurrogateTransform.check_noise`).

What a certificate covers (one parameter, :mod:`gsmooth.path_bounds`). A point certificate for
the input x is the largest R such that the *path shift* of x — √(|α|² + ‖F2(τ(α, x)) − F2(x) −
Wα‖²/r²), bounded over the whole segment (``sound`` with proven speed and Lipschitz bounds, else a
grid ``estimate``) — stays below σ_θ Φ⁻¹(p_lower) for every |α| < R in the range: then
``g(τ(α, x)) = g(x)`` there. It needs τ(0, x) = x and 0 in the range (else refused). An interval
certificate over [a, b] certifies each slice on ``x_k = τ(c_k, x)`` against the bound of x's path
over that slice (:func:`gsmooth.interval.certify_interval`), with a Bonferroni α/K per slice. The
θ-noise centre ``theta_center`` only selects which smoothed classifier is certified (W is
constant, so the shifts do not depend on it). Several parameters (d > 1) keep the older
whole-range grid estimate of G (``lipschitz_factor``, ``path_from``), labelled ``estimate``.

Choices of ours, not taken from the paper's code (see also :mod:`gsmooth.lipschitz`):

- activations are SiLU (smooth), so F2 adds no kinks of its own to ``α ↦ F2(τ(α, x))`` (the
  true transforms still have some: bilinear resampling and soft disks are piecewise smooth in α);
  F2 has no normalisation layer, so each image is encoded independently of its batch;
- F1 and the last encoder convolution start at zero and the final convolution starts as the
  identity on ``z``: the untrained surrogate is ``τ̃(θ, x) = x`` (in a short CPU comparison this
  learned faster than a random start of the final convolution);
- the U-Net is small (base width 16, two levels, up-convolutions at the coarse resolution) to
  train on a CPU in minutes at 28×28/32×32; use ``width=32`` or more on a GPU / for CIFAR;
- latent noise during training is optional (``latent_sigma``, default 0: a surrogate of τ itself);
- the held-out evaluation reports L1 and PSNR per θ bin against the true transform, next to the
  "identity" baseline (``x`` vs ``τ(θ, x)``), and is stored in the checkpoint.

Example:
    >>> import gsmooth, torch
    >>> from gsmooth.surrogate import SurrogateModel
    >>> net = SurrogateModel(input_shape=(1, 28, 28), param_dim=1)
    >>> net(torch.rand(2, 1, 28, 28), torch.rand(2, 1)).shape
    torch.Size([2, 1, 28, 28])
"""

from __future__ import annotations

import contextlib
import inspect
import datetime as _dt
import math
import os
import time
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import FORMAT as CLASSIFIER_FORMAT
from .checkpoint import SURROGATE_FORMAT, _check_safe, _gsmooth_version, _load_strict, atomic_torch_save, check_map_location
from .checkpoint import check_version_and_keys, nonfinite_tensors, torch_load_plain
from .errors import CheckpointError, InputError, InvalidParameterError, TrainingDivergedError, UnknownComponentError
from .lipschitz import GEstimate, estimate_G, normalize_param_range
from .seeding import derive_seed
from .transform import Transform
from .validation import Interval, Options, validate_params

__all__ = [
    "FORMAT",
    "VERSION",
    "DEFAULT_RANGES",
    "default_range",
    "SurrogateModel",
    "BinStats",
    "SurrogateEvaluation",
    "train_surrogate",
    "read_training_state",
    "saved_surrogate_progress",
    "evaluate_surrogate",
    "save_surrogate",
    "load_surrogate",
    "SurrogateTransform",
]

#: Value of the ``format`` key of a surrogate checkpoint.
FORMAT = SURROGATE_FORMAT
#: Current surrogate checkpoint layout; :func:`load_surrogate` reads ``1..VERSION``.
VERSION = 1

#: Default certified/training parameter ranges (in the transform's own units), from the GSmooth
#: paper where it states one: rotational blur ‖α‖ < 10°, defocus blur < 5 (disk radius, pixels),
#: zoom blur < 0.5, pixelate < 0.5. Motion blur has no certified range in the paper (only CIFAR-10-C
#: empirical accuracy): we pick 0–5 pixels of line length, which covers Hendrycks' CIFAR severities
#: 1–2 (radius 6 kernel, σ 1–1.5). Rotation ±10° as in GSmooth/TSS CIFAR tables, scaling ±0.3 (TSS's
#: ±30 %) — those assume the plugin's parameter means what their names say; check ``param_units``.
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "rotational_blur": (0.0, 10.0),
    "defocus_blur": (0.0, 5.0),
    "zoom_blur": (0.0, 0.5),
    "pixelate": (0.0, 0.5),
    "motion_blur": (0.0, 5.0),
    "rotation": (-10.0, 10.0),
    "scaling": (-0.3, 0.3),
}

PathLike = Union[str, "os.PathLike[str]"]


def default_range(transform_name: str) -> tuple[float, float]:
    """The default parameter range for a transform name (see :data:`DEFAULT_RANGES`).

    Raises:
        InvalidParameterError: no default is known (pass ``param_range`` / ``--range lo:hi``).
    """
    try:
        return DEFAULT_RANGES[transform_name]
    except KeyError:
        raise InvalidParameterError(
            f"surrogate: no default parameter range for transform {transform_name!r} (known: "
            f"{', '.join(f'{k} {lo:g}:{hi:g}' for k, (lo, hi) in DEFAULT_RANGES.items())}); expected an "
            "explicit range (param_range=(lo, hi), or --range lo:hi), got none"
        ) from None


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------


def _group_norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(groups, channels), channels)


class _Block(nn.Sequential):
    """conv3×3 → GroupNorm → SiLU, twice."""

    def __init__(self, cin: int, cout: int, groups: int):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1),
            _group_norm(cout, groups),
            nn.SiLU(),
            nn.Conv2d(cout, cout, 3, padding=1),
            _group_norm(cout, groups),
            nn.SiLU(),
        )


class ResidualEncoder(nn.Module):
    """F2(x) = x + conv3(SiLU(conv2(SiLU(conv1(x))))), 3×3 convolutions, C → w → w → C.

    No normalisation layer: every image is encoded independently of the rest of its batch, which
    :func:`gsmooth.lipschitz.estimate_G` relies on (one batched pass over the α grid). The last
    convolution starts at zero (F2 = identity at initialisation).
    """

    def __init__(self, channels: int, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.conv3 = nn.Conv2d(width, channels, 3, padding=1)
        nn.init.zeros_(self.conv3.weight)
        nn.init.zeros_(self.conv3.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv3(F.silu(self.conv2(F.silu(self.conv1(x)))))


class UNetDecoder(nn.Module):
    """H: a two-level U-Net (widths w, 2w, 4w; GroupNorm; stride-2 convolutions down; up: a conv
    at the coarse resolution then bilinear upsampling; skip connections), then a final 3×3 conv on ``[U(z), z]`` → C channels.

    Works for any H×W (28×28 → 14 → 7, 32×32 → 16 → 8). The final conv starts as the identity on
    ``z`` and zero on ``U(z)``.
    """

    def __init__(self, channels: int, width: int = 32, groups: int = 8):
        super().__init__()
        w = width
        self.enc1 = _Block(channels, w, groups)
        self.down1 = nn.Conv2d(w, 2 * w, 3, stride=2, padding=1)
        self.enc2 = _Block(2 * w, 2 * w, groups)
        self.down2 = nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1)
        self.mid = _Block(4 * w, 4 * w, groups)
        self.up2 = nn.Conv2d(4 * w, 2 * w, 3, padding=1)
        self.dec2 = _Block(4 * w, 2 * w, groups)
        self.up1 = nn.Conv2d(2 * w, w, 3, padding=1)
        self.dec1 = _Block(2 * w, w, groups)
        self.out = nn.Conv2d(w, channels, 1)
        self.final = nn.Conv2d(2 * channels, channels, 3, padding=1)
        with torch.no_grad():
            self.final.weight.zero_()
            self.final.bias.zero_()
            for c in range(channels):
                self.final.weight[c, channels + c, 1, 1] = 1.0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(z)
        e2 = self.enc2(self.down1(e1))
        m = self.mid(self.down2(e2))
        # convolve at the coarse resolution, then upsample (4× cheaper than upsample-then-conv)
        u2 = F.interpolate(self.up2(m), size=e2.shape[-2:], mode="bilinear", align_corners=False)
        d2 = self.dec2(torch.cat([u2, e2], dim=1))
        u1 = F.interpolate(self.up1(d2), size=e1.shape[-2:], mode="bilinear", align_corners=False)
        d1 = self.dec1(torch.cat([u1, e1], dim=1))
        return self.final(torch.cat([self.out(d1), z], dim=1))


class SurrogateModel(nn.Module):
    """The surrogate ``τ̃(θ, x) = H(F2(x) + F1(θ) + ξ)`` of a transformation.

    Args:
        input_shape: ``(C, H, W)`` of the images.
        param_dim: d, the transform's number of parameters.
        width: base width of the U-Net H (2·width and 4·width below). Default 16 (≈ 180k
            parameters at 28×28; ≈ 125 images/s for a training step on 2 busy CPU cores).
        encoder_width: hidden width of the residual encoder F2. Default 16.
        groups: GroupNorm groups (reduced to divide the channel count). Default 8.

    Attributes (metadata, filled by :func:`train_surrogate` / :func:`load_surrogate`):
        transform_name, transform_params, transform_kind, param_units: the true transform.
        param_range: ``((lo, hi), …)`` the θ range it was trained on.
        dataset: the training dataset's name. training: hyper-parameters and per-epoch history.
        heldout: the :class:`SurrogateEvaluation` on held-out images, when known.

    Methods ``encode`` (F2), ``embed`` (F1, output image-shaped), ``decode`` (H) expose the parts
    (``estimate_G`` uses ``encode`` and ``embed``); ``forward(x, theta, xi=None)`` is the whole.
    """

    def __init__(
        self,
        *,
        input_shape: Sequence[int],
        param_dim: int,
        width: int = 16,
        encoder_width: int = 16,
        groups: int = 8,
    ) -> None:
        super().__init__()
        try:
            shape = tuple(int(s) for s in input_shape)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"SurrogateModel: input_shape expected (C, H, W), got {input_shape!r}") from None
        if len(shape) != 3 or min(shape) < 1:
            raise InvalidParameterError(f"SurrogateModel: input_shape expected (C, H, W), got {input_shape!r}")
        validate_params(
            "SurrogateModel",
            {"param_dim": param_dim, "width": width, "encoder_width": encoder_width, "groups": groups},
            {k: [Interval(Integral, 1, None)] for k in ("param_dim", "width", "encoder_width", "groups")},
        )
        self.input_shape = shape
        self.param_dim = int(param_dim)
        self.width, self.encoder_width, self.groups = int(width), int(encoder_width), int(groups)
        c, h, w = shape
        self.latent_dim = c * h * w
        self.f1 = nn.Linear(self.param_dim, self.latent_dim, bias=False)
        nn.init.zeros_(self.f1.weight)
        self.f2 = ResidualEncoder(c, self.encoder_width)
        self.h = UNetDecoder(c, self.width, self.groups)
        # metadata
        self.transform_name: Optional[str] = None
        self.transform_params: dict = {}
        self.transform_kind: Optional[str] = None
        self.param_units: str = ""
        self.param_range: tuple[tuple[float, float], ...] = ()
        self.dataset: Optional[str] = None
        self.training_info: dict = {}
        self.heldout: Optional[SurrogateEvaluation] = None
        #: what :func:`train_surrogate` needs to continue (written by :func:`save_surrogate` as
        #: ``"resume"``): configuration, completed epochs, position in a partial epoch, Adam's state
        self.resume_state: Optional[dict] = None

    # -- parts -----------------------------------------------------------------------------------
    def arch(self) -> dict:
        """Architecture sizes, as stored in checkpoints."""
        return {
            "name": "gsmooth-surrogate-unet",
            "input_shape": list(self.input_shape),
            "param_dim": self.param_dim,
            "width": self.width,
            "encoder_width": self.encoder_width,
            "groups": self.groups,
            "levels": 2,
            "activation": "silu",
        }

    @property
    def W(self) -> torch.Tensor:
        """The matrix of F1, ``(m, d)``."""
        return self.f1.weight

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """F2(x), image-shaped."""
        return self.f2(x)

    def embed(self, theta: torch.Tensor) -> torch.Tensor:
        """F1(θ) = Wθ reshaped to ``(B, C, H, W)``."""
        return self.f1(theta).view(theta.shape[0], *self.input_shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """H(z)."""
        return self.h(z)

    def forward(self, x: torch.Tensor, theta: torch.Tensor, xi: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``H(F2(x) + F1(θ) + ξ)``; x ``(B, C, H, W)``, theta ``(B, d)``, xi image-shaped or None."""
        z = self.encode(x) + self.embed(theta.reshape(x.shape[0], self.param_dim))
        if xi is not None:
            z = z + xi.reshape(z.shape)
        return self.decode(z)

    # -- the true transform ----------------------------------------------------------------------
    def true_transform(self) -> Transform:
        """Rebuild the true transform it was trained on from the registry (name + parameters)."""
        if not self.transform_name:
            raise InvalidParameterError(
                "surrogate: expected a surrogate that records its transform (trained by train_surrogate), "
                "got one without; pass the true transform explicitly"
            )
        from .components import transform as build

        try:
            return build(self.transform_name, **self.transform_params)
        except UnknownComponentError as exc:
            raise UnknownComponentError(
                f"surrogate: its true transform {self.transform_name!r} is not registered here ({exc}); "
                "install the plugin that provides it, or pass the transform explicitly"
            ) from None

    def describe(self) -> str:
        rng = ",".join(f"{lo:g}:{hi:g}" for lo, hi in self.param_range) or "?"
        return f"surrogate of {self.transform_name or '?'} on {rng} ({self.dataset or '?'}, {tuple(self.input_shape)})"


# --------------------------------------------------------------------------------------------
# Data helpers
# --------------------------------------------------------------------------------------------


class _Images:
    """Random access to a dataset's images as float batches in [0, 1] (uint8 kept as uint8)."""

    def __init__(self, dataset, limit: Optional[int], what: str):
        data = None
        if isinstance(dataset, torch.Tensor):
            data = dataset
        elif (
            isinstance(getattr(dataset, "data", None), torch.Tensor)
            and getattr(dataset, "transform", None) is None
            and dataset.data.dim() == 4
            and dataset.data.dtype == torch.uint8
        ):
            data = dataset.data  # gsmooth.data.ImageTensorDataset: fast path
        if data is not None:
            if data.dim() != 4 or not (data.is_floating_point() or data.dtype == torch.uint8):
                raise InputError(f"{what}: expected images (N, C, H, W) (float in [0, 1] or uint8), got {data.dtype} {tuple(data.shape)}")
            self.data = data if limit is None else data[:limit]
        else:
            try:
                n = len(dataset)
            except TypeError:
                raise InputError(f"{what}: expected a dataset of (image, label) or an image tensor, got {type(dataset).__name__}") from None
            n = n if limit is None else min(n, limit)
            items = []
            for i in range(n):
                item = dataset[i]
                img = item[0] if isinstance(item, (tuple, list)) else item
                items.append(torch.as_tensor(img))
            if not items:
                raise InputError(f"{what}: expected at least one image, got an empty dataset")
            self.data = torch.stack(items)
            if self.data.dim() != 4:
                raise InputError(f"{what}: expected images (C, H, W), got items of shape {tuple(self.data.shape[1:])}")
        if self.data.shape[0] == 0:
            raise InputError(f"{what}: expected at least one image, got an empty dataset")

    def __len__(self) -> int:
        return self.data.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape[1:])

    def batch(self, idx, device, dtype=torch.float32) -> torch.Tensor:
        xb = self.data[idx]
        if xb.dtype == torch.uint8:
            return xb.to(device=device, dtype=dtype).div_(255.0)
        return xb.to(device=device, dtype=dtype)


def _meta_str(dataset, attr: str) -> str:
    value = getattr(dataset, attr, None) if not isinstance(dataset, torch.Tensor) else None
    return value if isinstance(value, str) else ""


def _resolve_transform(transform) -> Transform:
    if isinstance(transform, str):
        from .components import transform as build

        return build(transform)
    if not isinstance(transform, nn.Module) or not callable(transform):
        raise InvalidParameterError(
            f"surrogate: expected a gsmooth.Transform or a registered transform name, got {type(transform).__name__}"
        )
    return transform


def _transform_param_dim(transform, param_range) -> int:
    d = getattr(transform, "param_dim", None)
    if d is None:
        raise InvalidParameterError(
            f"surrogate: expected a transform with a finite parameter vector (param_dim ≥ 1), got "
            f"{getattr(transform, 'name', type(transform).__name__)!r} with image-shaped θ (additive noise needs no surrogate)"
        )
    return int(d)


def _sample_uniform(pairs, n: int, gen: torch.Generator) -> torch.Tensor:
    lo = torch.tensor([p[0] for p in pairs], dtype=torch.float64)
    hi = torch.tensor([p[1] for p in pairs], dtype=torch.float64)
    return lo + (hi - lo) * torch.rand((n, len(pairs)), generator=gen, dtype=torch.float64)


def _check_device(device) -> torch.device:
    from .validation import check_device

    return check_device(device, what="surrogate: device")


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


#: What must be equal for ``train_surrogate(resume=True)`` to continue a checkpoint (``epochs``
#: may grow: it is not part of the configuration).
RESUME_KEYS = (
    "transform", "transform_params", "param_range", "dataset", "train_images", "max_train", "input_shape",
    "batch_size", "lr", "seed", "width", "encoder_width", "latent_sigma",
)


def read_training_state(path: PathLike, *, map_location="cpu") -> tuple[SurrogateModel, dict]:
    """The surrogate in ``path`` and its training state (``"resume"`` in the file: configuration,
    completed epochs, position inside a time-limited epoch, optimizer state), for
    ``train_surrogate(resume=True)``. A surrogate written without one (an older gsmooth, or
    :func:`save_surrogate` by hand) gets a state rebuilt from its metadata with ``optimizer``
    ``None``: it can be recognised as complete, not trained further. Refused
    (:class:`~gsmooth.errors.CheckpointError`) when ``path`` is not a surrogate."""
    try:
        model, obj = _read_surrogate(path, map_location=map_location)
    except CheckpointError as exc:
        raise CheckpointError(f"cannot resume {str(path)}: {exc}") from None
    state = obj.get("resume")
    if isinstance(state, Mapping) and isinstance(state.get("config"), Mapping) and "optimizer" in state:
        return model, dict(state)
    info = model.training_info or {}
    arch = obj.get("arch") or {}
    history = info.get("history") or []
    complete = bool(history) and all(int(r.get("samples", -1)) == int(info.get("train_images", -2)) for r in history)
    config = {
        "transform": model.transform_name,
        "transform_params": dict(model.transform_params),
        "param_range": [list(p) for p in model.param_range],
        "dataset": model.dataset,
        "train_images": info.get("train_images"),
        "max_train": info.get("max_train"),
        "input_shape": list(model.input_shape),
        "batch_size": info.get("batch_size"),
        "lr": info.get("lr"),
        "seed": info.get("seed"),
        "width": arch.get("width"),
        "encoder_width": arch.get("encoder_width"),
        "latent_sigma": info.get("latent_sigma"),
    }
    return model, {"config": config, "epoch": len(history) if complete else 0, "position": None, "optimizer": None,
                   "legacy": True}


def check_continuable(state: Mapping, epochs: int, path) -> None:
    """Refuse to train further a surrogate whose file has no optimizer state (an older gsmooth):
    it can only be recognised as complete (``state["epoch"] >= epochs``)."""
    if state.get("optimizer") is None and int(state.get("epoch", 0)) < epochs:
        raise CheckpointError(
            f"cannot resume {str(path)}: expected a surrogate written by `gsmooth surrogate train` with its training "
            f"state, got one without (written by an older gsmooth or by save_surrogate), so its "
            f"{int(state.get('epoch', 0))} epoch(s) cannot be continued to {epochs}; choose another --out"
        )


def saved_surrogate_progress(path: PathLike) -> Optional[dict]:
    """``{"epoch": completed epochs, "epochs": planned, "partial": bool, "heldout": bool}`` of the
    surrogate checkpoint in ``path``, or ``None`` when there is none (what an interrupted run kept)."""
    try:
        if not Path(path).is_file():
            return None
        obj = torch.load(path, map_location="cpu", weights_only=True)
        state = obj.get("resume") or {}
        info = obj.get("training") or {}
        return {
            "epoch": int(state.get("epoch", info.get("epochs_done", 0))),
            "epochs": int(info.get("epochs", 0)),
            "partial": state.get("position") is not None,
            "heldout": obj.get("heldout") is not None,
        }
    except Exception:  # noqa: BLE001 - any unreadable file: nothing we can describe
        return None


def train_surrogate(
    transform,
    dataset,
    *,
    param_range=None,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    device="cpu",
    max_train: Optional[int] = None,
    width: int = 16,
    encoder_width: int = 16,
    latent_sigma: float = 0.0,
    dataset_name: Optional[str] = None,
    time_limit: Optional[float] = None,
    progress: bool = False,
    log: Optional[Callable[[str], None]] = None,
    checkpoint: Optional[PathLike] = None,
    resume: bool = False,
) -> SurrogateModel:
    """Train a surrogate ``H(F2(x) + F1(θ))`` of ``transform`` with L1 loss and Adam.

    Every sample of every step gets a fresh ``θ ~ U[param_range]`` (independently per parameter);
    the target ``τ(θ, x)`` is computed on the fly by the true transform.

    Args:
        transform: a :class:`gsmooth.Transform` with ``param_dim ≥ 1`` or a registered name.
        dataset: training images: a dataset of ``(image, label)`` (e.g. ``gsmooth.data.load_dataset(…,
            split="train")``) or a tensor ``(N, C, H, W)`` in [0, 1] (or uint8).
        param_range: ``(lo, hi)`` / ``"lo:hi"`` / d pairs; default :data:`DEFAULT_RANGES` by name.
        epochs, batch_size: passes over the (first ``max_train``) images and batch size.
        lr: Adam learning rate (1e-3 as in the GSmooth code).
        seed: seeds initialisation, shuffling and θ (the global RNG is left untouched); each
            epoch draws from its own generator seeded from ``(seed, epoch)``.
        device: where to train.
        max_train: use only the first N images.
        width, encoder_width: sizes of H and F2 (see :class:`SurrogateModel`).
        latent_sigma: std of latent noise ξ added while training (0: a surrogate of τ itself; > 0
            also teaches H to denoise the latent, which the smoothed classifier's samples carry).
        dataset_name: recorded in the checkpoint (default: ``dataset.name`` if it has one).
        time_limit: stop after the batch during which this many seconds of training have passed
            in this call (the last epoch in ``history`` is then partial: see its ``samples``).
            With ``checkpoint``, the position inside that epoch is saved, so ``resume=True``
            continues exactly there.
        progress: tqdm bar over batches. log: called with one line per epoch.
        checkpoint: a file rewritten atomically after every epoch (and at a time-limit stop) with
            the surrogate as :func:`save_surrogate` writes it plus its training state (Adam's
            state, completed epochs, the position inside a partial epoch): a run killed at any
            moment keeps its last completed epoch. Checked before any work: an existing file is
            refused unless ``resume``.
        resume: continue the run saved in ``checkpoint`` (same configuration, else
            :class:`~gsmooth.errors.CheckpointError` listing the differences; ``epochs`` may
            grow); the result equals an uninterrupted run's. A missing checkpoint starts afresh.

    Returns:
        the trained :class:`SurrogateModel` in eval mode, its metadata filled (``history`` in
        ``training_info``; ``resume_state`` holds what the checkpoint stores to continue).

    Raises:
        TrainingDivergedError: the L1 loss or a weight became NaN/inf; ``checkpoint`` then keeps
            the last finite epoch (nothing of the diverged one is written).
    """
    validate_params(
        "train_surrogate",
        {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "latent_sigma": latent_sigma},
        {
            "epochs": [Interval(Integral, 1, None)],
            "batch_size": [Interval(Integral, 1, None)],
            "lr": [Interval(Real, 0, None, closed="neither")],
            "seed": [Interval(Integral, 0, None)],
            "latent_sigma": [Interval(Real, 0, None)],
        },
    )
    if max_train is not None:
        validate_params("train_surrogate", {"max_train": max_train}, {"max_train": [Interval(Integral, 1, None)]})
    if time_limit is not None:
        validate_params("train_surrogate", {"time_limit": time_limit}, {"time_limit": [Interval(Real, 0, None, closed="neither")]})
    device = _check_device(device)
    existing = None
    if checkpoint is not None:
        from .output_files import check_output_file

        checkpoint = check_output_file(
            checkpoint, option="train_surrogate: checkpoint", exists_ok=resume,
            advice="pass resume=True to continue that run (same configuration), or choose another path",
        )
        if resume and checkpoint.exists():
            existing = read_training_state(checkpoint, map_location=device)
    tr = _resolve_transform(transform)
    name = getattr(tr, "name", "") or type(tr).__name__
    d = _transform_param_dim(tr, param_range)
    pairs = normalize_param_range(param_range if param_range is not None else default_range(name), d)
    images = _Images(dataset, max_train, "train_surrogate")
    shape = images.shape
    n = len(images)
    dataset_label = dataset_name or _meta_str(dataset, "name") or "custom"
    config = {
        "transform": name,
        "transform_params": dict(tr.get_params()) if hasattr(tr, "get_params") else {},
        "param_range": [list(p) for p in pairs],
        "dataset": dataset_label,
        "train_images": n,
        "max_train": max_train,
        "input_shape": list(shape),
        "batch_size": batch_size,
        "lr": float(lr),
        "seed": seed,
        "width": width,
        "encoder_width": encoder_width,
        "latent_sigma": float(latent_sigma),
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = SurrogateModel(input_shape=shape, param_dim=d, width=width, encoder_width=encoder_width)
    model.to(device)
    tr.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[dict] = []
    done = 0  # completed epochs
    position = None  # where a time-limited epoch stopped: {"epoch", "offset", "generator", "total", "count"}
    seconds_before = 0.0
    if existing is not None:
        saved_model, state = existing
        theirs = dict(state["config"])
        legacy = bool(state.get("legacy"))  # an older file: compare what its metadata records
        diff = {k: (theirs.get(k), config.get(k)) for k in RESUME_KEYS
                if not (legacy and theirs.get(k) is None) and not _plain_eq(theirs.get(k), config.get(k))}
        if diff:
            details = "; ".join(f"{k}: expected {a!r} (in checkpoint), got {b!r}" for k, (a, b) in diff.items())
            raise CheckpointError(f"cannot resume {checkpoint}: it was trained with a different configuration: {details}")
        if int(state.get("epoch", 0)) >= epochs:
            # nothing to train: the file is returned as it is (its held-out table included), so a
            # complete surrogate is never rewritten (its SHA-256 is what models trained on it record)
            if log is not None:
                log(f"resuming {checkpoint}: all {int(state.get('epoch', 0))} epoch(s) done, nothing to train")
            saved_model.resume_state = None if legacy else dict(state)
            return saved_model.eval()
        check_continuable(state, epochs, checkpoint)
        model.load_state_dict(saved_model.state_dict())
        opt.load_state_dict(state["optimizer"])
        done = int(state.get("epoch", 0))
        position = state.get("position")
        history = [dict(r) for r in saved_model.training_info.get("history", [])]
        seconds_before = float(saved_model.training_info.get("seconds", 0.0))
        if log is not None:
            where = f" and {position['count']}/{n} images of epoch {done + 1}" if position else ""
            log(f"resuming {checkpoint} after epoch {done}/{epochs}{where}")
    kept = _held(done, epochs, position, n) if existing is not None else None  # what the checkpoint on disk holds

    def fill_metadata(seconds: float) -> None:
        model.transform_name = name
        model.transform_params = dict(config["transform_params"])
        model.transform_kind = getattr(tr, "kind", None)
        model.param_units = getattr(tr, "param_units", "") or ""
        model.param_range = pairs
        model.dataset = dataset_label
        model.training_info = {
            "epochs": epochs,
            "epochs_done": len(history),
            "batch_size": batch_size,
            "lr": lr,
            "optimizer": "adam",
            "loss": "l1",
            "seed": seed,
            "max_train": max_train,
            "train_images": n,
            "latent_sigma": float(latent_sigma),
            "seconds": seconds,
            "history": [dict(r) for r in history],
        }
        model.resume_state = {
            "config": dict(config),
            "epoch": done,
            "position": position,
            "optimizer": opt.state_dict(),
        }

    def save(seconds: float, epoch: int) -> None:
        bad = nonfinite_tensors(model)
        if bad:  # a finite loss whose step overflowed the weights: never written
            raise TrainingDivergedError(_diverged(
                f"weight {bad[0]}", "not finite", epoch=epoch, epochs=epochs, lr=lr, kept=kept, out=checkpoint))
        fill_metadata(seconds)
        if checkpoint is not None:
            save_surrogate(checkpoint, model, heldout=None)

    remaining = sum(math.ceil(n / batch_size) for _ in range(done + 1, epochs + 1))
    if position is not None:
        remaining -= math.ceil(position["offset"] / batch_size)
    bar = None
    if progress and remaining > 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=remaining, unit="batch", leave=False, desc="surrogate")
    start = time.perf_counter()
    out_of_time = False
    try:
        for epoch in range(done + 1, epochs + 1):
            gen = torch.Generator().manual_seed(derive_seed(seed, epoch))
            perm = torch.randperm(n, generator=gen)
            model.train()
            total, count, first, t0 = 0.0, 0, 0, time.perf_counter()
            if position is not None and int(position["epoch"]) == epoch:
                # continue a time-limited epoch where it stopped: same permutation, same generator state
                gen.set_state(position["generator"])
                total, count, first = float(position["total"]), int(position["count"]), int(position["offset"])
                t0 -= float(position.get("seconds", 0.0))
                if history and history[-1].get("epoch") == epoch:
                    history.pop()  # its partial row is completed below
            position = None
            for s in range(first, n, batch_size):
                idx = perm[s : s + batch_size]
                xb = images.batch(idx, device)
                theta = _sample_uniform(pairs, len(idx), gen).to(device=device, dtype=xb.dtype)
                with torch.no_grad():
                    target = tr(xb, theta)
                xi = None
                if latent_sigma > 0:
                    xi = torch.randn(xb.shape, generator=gen, dtype=xb.dtype).to(device) * latent_sigma
                loss = (model(xb, theta, xi) - target).abs().mean()
                value = loss.item()
                if not math.isfinite(value):  # checked before the step: no NaN reaches the weights
                    raise TrainingDivergedError(_diverged(
                        "the L1 loss", value, epoch=epoch, epochs=epochs, lr=lr, kept=kept, out=checkpoint))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += value * len(idx)
                count += len(idx)
                if bar is not None:
                    bar.update(1)
                if time_limit is not None and time.perf_counter() - start >= time_limit and s + batch_size < n:
                    out_of_time = True
                    position = {
                        "epoch": epoch, "offset": s + batch_size, "generator": gen.get_state(),
                        "total": total, "count": count, "seconds": time.perf_counter() - t0,
                    }
                    break
            row = {"epoch": epoch, "l1": total / count, "seconds": time.perf_counter() - t0, "samples": count}
            history.append(row)
            if not out_of_time:
                done = epoch
            save(seconds_before + time.perf_counter() - start, epoch)
            kept = _held(done, epochs, position, n) if checkpoint is not None else None
            if log is not None:
                part = f", partial: {count}/{n}" if count < n else ""
                log(f"epoch {epoch}/{epochs}  train L1 {row['l1']:.5f}  ({row['seconds']:.1f} s, {count} images{part})"
                    + (f"  -> {checkpoint}" if checkpoint is not None else ""))
            if out_of_time:
                if log is not None:
                    log(f"time limit of {time_limit:g} s reached during epoch {epoch}; stopping")
                break
            if time_limit is not None and time.perf_counter() - start >= time_limit and epoch < epochs:
                out_of_time = True
                if log is not None:
                    log(f"time limit of {time_limit:g} s reached at the end of epoch {epoch}; stopping")
                break
    finally:
        if bar is not None:
            bar.close()
    fill_metadata(seconds_before + time.perf_counter() - start)
    return model.eval()


def _plain_eq(a, b) -> bool:
    """Configuration values compared as plain data (tuples and lists alike)."""
    def norm(v):
        if isinstance(v, (list, tuple)):
            return [norm(x) for x in v]
        if isinstance(v, Mapping):
            return {k: norm(x) for k, x in v.items()}
        return v

    return norm(a) == norm(b)


def _held(done: int, epochs: int, position: Optional[Mapping], n: int) -> str:
    """What a surrogate checkpoint holds, in words."""
    if position is None:
        return f"epoch {done}/{epochs}"
    return f"epoch {done}/{epochs} and {int(position['count'])}/{n} images of epoch {int(position['epoch'])}"


def _diverged(what: str, value, *, epoch: int, epochs: int, lr: float, kept: Optional[str], out) -> str:
    if out is None:
        keep = "no checkpoint was requested"
    elif kept:
        keep = f"{out} keeps {kept}, the last finite state (nothing of epoch {epoch} was written)"
    else:
        keep = f"nothing was saved ({out} is written after each finite epoch)"
    return (
        f"surrogate training diverged in epoch {epoch}/{epochs}: {what} is {value}; expected finite values. {keep}; "
        f"try a lower --lr (got {lr:g}, e.g. --lr {lr / 10:g})"
    )


# --------------------------------------------------------------------------------------------
# Held-out evaluation
# --------------------------------------------------------------------------------------------


@dataclass
class BinStats:
    """Errors of the surrogate on one θ bin (or overall): mean per-image L1 and PSNR (dB, peak 1)
    against the true transform, and the same for the identity (``x`` vs ``τ(θ, x)``) as a baseline."""

    lo: float
    hi: float
    n: int
    l1: float
    psnr: float
    l1_identity: float
    psnr_identity: float

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("lo", "hi", "n", "l1", "psnr", "l1_identity", "psnr_identity")}


@dataclass
class SurrogateEvaluation:
    """Held-out errors of a surrogate across its parameter range (see :func:`evaluate_surrogate`)."""

    bins: list[BinStats]
    overall: BinStats
    dataset: str = ""
    split: str = ""
    images: int = 0
    param_range: tuple = ()
    latent_sigma: float = 0.0
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "bins": [b.to_dict() for b in self.bins],
            "overall": self.overall.to_dict(),
            "dataset": self.dataset,
            "split": self.split,
            "images": self.images,
            "param_range": [list(p) for p in self.param_range],
            "latent_sigma": self.latent_sigma,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "SurrogateEvaluation":
        return cls(
            bins=[BinStats(**{k: b[k] for k in BinStats.__dataclass_fields__}) for b in data["bins"]],
            overall=BinStats(**{k: data["overall"][k] for k in BinStats.__dataclass_fields__}),
            dataset=str(data.get("dataset", "")),
            split=str(data.get("split", "")),
            images=int(data.get("images", 0)),
            param_range=tuple(tuple(p) for p in data.get("param_range", ())),
            latent_sigma=float(data.get("latent_sigma", 0.0)),
            seed=int(data.get("seed", 0)),
        )

    def format_table(self, units: str = "") -> str:
        """A fixed-width text table: one row per θ bin, then the overall row."""
        head = f"θ bin{f' [{units}]' if units else ''}"
        rows = [(f"[{b.lo:.4g}, {b.hi:.4g}{']' if i == len(self.bins) - 1 else ')'}", b) for i, b in enumerate(self.bins)]
        rows.append(("overall", self.overall))
        w = max(len(head), *(len(r[0]) for r in rows))
        lines = [
            f"{head:<{w}}  {'n':>6}  {'L1':>9}  {'PSNR dB':>8}  {'L1 ident':>9}  {'PSNR ident':>10}",
        ]
        for label, b in rows:
            lines.append(
                f"{label:<{w}}  {b.n:>6d}  {b.l1:>9.5f}  {b.psnr:>8.2f}  {b.l1_identity:>9.5f}  {b.psnr_identity:>10.2f}"
            )
        src = f"{self.dataset} {self.split}".strip()
        lines.append(
            f"(held-out{(' ' + src) if src else ''}, {self.images} images, one θ per image per bin; "
            f"L1 = mean |τ̃(θ,x) − τ(θ,x)| per pixel, PSNR with peak 1; 'ident' = x vs τ(θ,x) baseline"
            + (f"; latent noise σ_ξ = {self.latent_sigma:g}" if self.latent_sigma else "")
            + ")"
        )
        return "\n".join(lines)


def _psnr(mse: torch.Tensor) -> torch.Tensor:
    return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-10))


@torch.no_grad()
def evaluate_surrogate(
    surrogate: SurrogateModel,
    dataset,
    *,
    transform=None,
    param_range=None,
    bins: int = 5,
    max_eval: Optional[int] = 1000,
    batch_size: int = 256,
    seed: int = 0,
    device=None,
    latent_sigma: float = 0.0,
) -> SurrogateEvaluation:
    """Held-out L1 and PSNR of ``surrogate`` against the true transform, per θ bin and overall.

    The range of the first parameter is cut into ``bins`` equal bins; every image gets one θ in
    every bin (uniform inside it; other parameters uniform over their range), so each bin is
    measured on the same images. Per image: L1 = mean absolute error per pixel, PSNR = 10·log10(1/MSE)
    (peak 1, MSE floored at 1e-10); a bin reports the means over its images, ``overall`` the mean
    over all (image, bin) pairs. The identity columns compare ``x`` with ``τ(θ, x)``: what a
    surrogate that ignores θ would score.

    Args:
        surrogate: a trained :class:`SurrogateModel`.
        dataset: held-out images (e.g. the test split), as for :func:`train_surrogate`.
        transform: the true transform; default: rebuilt from the surrogate's metadata.
        param_range: default: the surrogate's training range.
        bins: number of θ bins. max_eval: first N images (None: all).
        seed: seeds θ. latent_sigma: evaluate with latent noise ξ ~ N(0, latent_sigma²) (default 0).
    """
    validate_params(
        "evaluate_surrogate",
        {"bins": bins, "batch_size": batch_size, "seed": seed, "latent_sigma": latent_sigma},
        {
            "bins": [Interval(Integral, 1, None)],
            "batch_size": [Interval(Integral, 1, None)],
            "seed": [Interval(Integral, 0, None)],
            "latent_sigma": [Interval(Real, 0, None)],
        },
    )
    if max_eval is not None:
        validate_params("evaluate_surrogate", {"max_eval": max_eval}, {"max_eval": [Interval(Integral, 1, None)]})
    tr = surrogate.true_transform() if transform is None else _resolve_transform(transform)
    d = surrogate.param_dim
    pairs = normalize_param_range(param_range if param_range is not None else surrogate.param_range, d)
    param = next(surrogate.parameters())
    dev = param.device if device is None else _check_device(device)
    surrogate.to(dev).eval()
    tr.to(dev)
    images = _Images(dataset, max_eval, "evaluate_surrogate")
    if images.shape != tuple(surrogate.input_shape):
        raise InputError(
            f"evaluate_surrogate: expected images of shape {tuple(surrogate.input_shape)} (the surrogate's), got {images.shape}"
        )
    n = len(images)
    lo0, hi0 = pairs[0]
    edges = torch.linspace(lo0, hi0, bins + 1, dtype=torch.float64)
    gen = torch.Generator().manual_seed(derive_seed(seed, 0x5E7A))
    sums = torch.zeros(bins, 4, dtype=torch.float64)  # l1, psnr, l1_id, psnr_id
    for s in range(0, n, batch_size):
        idx = torch.arange(s, min(n, s + batch_size))
        xb = images.batch(idx, dev)
        for b in range(bins):
            theta = _sample_uniform(pairs, len(idx), gen)
            u = torch.rand(len(idx), generator=gen, dtype=torch.float64)
            theta[:, 0] = edges[b] + (edges[b + 1] - edges[b]) * u
            theta = theta.to(device=dev, dtype=xb.dtype)
            target = tr(xb, theta)
            xi = None
            if latent_sigma > 0:
                xi = torch.randn(xb.shape, generator=gen, dtype=xb.dtype).to(dev) * latent_sigma
            out = surrogate(xb, theta, xi)
            err = (out - target).flatten(1)
            ident = (xb - target).flatten(1)
            sums[b, 0] += float(err.abs().mean(1).double().sum())
            sums[b, 1] += float(_psnr(err.double().pow(2).mean(1)).sum())
            sums[b, 2] += float(ident.abs().mean(1).double().sum())
            sums[b, 3] += float(_psnr(ident.double().pow(2).mean(1)).sum())
    rows = [
        BinStats(float(edges[b]), float(edges[b + 1]), n, *(float(v) for v in sums[b] / n)) for b in range(bins)
    ]
    overall = BinStats(lo0, hi0, n * bins, *(float(v) for v in sums.sum(0) / (n * bins)))
    return SurrogateEvaluation(
        bins=rows,
        overall=overall,
        dataset=_meta_str(dataset, "name"),
        split=_meta_str(dataset, "split"),
        images=n,
        param_range=pairs,
        latent_sigma=float(latent_sigma),
        seed=int(seed),
    )


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
        "gsmooth_version": _gsmooth_version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    for key in ("transform_params", "training", "heldout", "extra", "resume"):
        _check_safe(payload[key], f"save_surrogate {key}")
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
        pairs = normalize_param_range(obj["param_range"], int(obj["param_dim"]))
        heldout = SurrogateEvaluation.from_dict(obj["heldout"]) if obj.get("heldout") else None
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{where}: expected well-formed surrogate metadata, got {exc}") from exc
    if not isinstance(obj["state_dict"], Mapping):
        raise CheckpointError(f"{where}: expected 'state_dict' to be a dict of tensors, got {type(obj['state_dict']).__qualname__}")
    _load_strict(model, obj["state_dict"], "gsmooth-surrogate-unet", path)
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


# --------------------------------------------------------------------------------------------
# The engine's view: a Transform of kind "surrogate"
# --------------------------------------------------------------------------------------------


class SurrogateTransform(Transform):
    """GSmooth's smoothing over a learned surrogate, as a :class:`gsmooth.Transform` the engine uses unchanged.

    ``param_shape(image_shape) = (d + m,)``. With ``θ_full`` drawn i.i.d. ``N(0, σ_θ²)`` by the engine:

        forward(x, θ_full) = H(F2(x) + F1(theta_center + θ_full[:, :d]) + sigma_ratio · θ_full[:, d:])

    i.e. θ ~ N(theta_center, σ_θ² I_d) and ξ ~ N(0, σ_ξ² I_m) with ``σ_ξ = sigma_ratio · σ_θ``; and

        lipschitz_factor(x) = M* = sqrt(1 + G(x)² / sigma_ratio²),  G(x) = max over the α grid of
        ‖∂F2(τ(α, x))/∂α − W_F1‖₂ on ``certified_range`` (:func:`gsmooth.lipschitz.estimate_G`),

    so the engine's radius ``σ_θ Φ⁻¹(p_lower) / M*`` equals ``Φ⁻¹(p_lower) / sqrt(σ_θ⁻² + G² σ_ξ⁻²)``.

    What the certificate says (kind ``surrogate``): for the smoothed classifier on the surrogate,
    ``g(τ(α, x)) = g(x)`` for every α in ``certified_range`` with ``‖α‖₂ < R`` — F2 sees the truly
    transformed image, so the statement is about the true transform, through the surrogate
    classifier. ``G`` is a grid **estimate** (:attr:`last_estimate` says how it was obtained).

    Only valid with Gaussian noise: :attr:`requires_noise` is ``"gaussian"`` and
    :meth:`check_noise` raises for any other noise (call it, or let the engine call it, see the
    module docs).

    Args (keyword-only):
        surrogate: a trained :class:`SurrogateModel`.
        true_transform: the true τ used for G; default rebuilt from the surrogate's metadata
            (lazily, at the first ``lipschitz_factor``).
        sigma_ratio: σ_ξ / σ_θ (default 1: the same σ on θ and on the latent).
        certified_range: α range of the grid for G (default: the surrogate's training range).
        grid: grid points per parameter (default 10, as in the GSmooth code).
        iters: power iterations (only for d > 16).
        method: Jacobian method for :func:`estimate_G` (``auto``, ``exact``, ``power``, ``fd``).
        fd_check: cross-check autograd with finite differences, keeping the larger (default True;
            about 1.8× the cost of autograd alone).
        theta_center: the centre of the θ noise (float, or d numbers; default 0). Changes which
            smoothed classifier is certified, not G (W is constant); settable later.

    ``path_from(x0)`` (d > 1 only, the grid-estimate route): within the block ``lipschitz_factor``
    takes G from ``x0``'s path whatever image it is given. With one parameter it has no effect on
    certificates: :meth:`certified_radius` always bounds the path of the image actually smoothed,
    and interval certificates bound each slice of the clean image's path themselves.

    Example:
        >>> st = SurrogateTransform.from_checkpoint("surrogate.pt")  # doctest: +SKIP
        >>> smoother = gsmooth.Smoother(model, noise="gaussian", sigma=0.25, transform=st, num_classes=10)  # doctest: +SKIP
        >>> st.check_noise(smoother.noise)  # doctest: +SKIP
        >>> cert = smoother.certify(x, n0=100, n=10_000, alpha=0.001)  # cert.lipschitz = M*  # doctest: +SKIP
        >>> st.last_estimate.describe()  # "G ≈ … (estimate: max over 10 grid points …)"  # doctest: +SKIP
    """

    name = "surrogate"
    kind = "surrogate"
    identity_at_zero = False
    #: The only noise the GSmooth radius holds for (isotropic Gaussian on θ_full).
    requires_noise = "gaussian"

    def __init__(
        self,
        *,
        surrogate: SurrogateModel,
        true_transform: Optional[Transform] = None,
        sigma_ratio: float = 1.0,
        certified_range=None,
        grid: int = 10,
        iters: int = 50,
        method: str = "auto",
        fd_check: bool = True,
        theta_center=0.0,
    ) -> None:
        super().__init__()
        if not isinstance(surrogate, SurrogateModel):
            raise InvalidParameterError(
                f"SurrogateTransform: surrogate expected a SurrogateModel (see train_surrogate / load_surrogate), got {type(surrogate).__name__}"
            )
        validate_params(
            "SurrogateTransform",
            {"sigma_ratio": sigma_ratio, "grid": grid, "iters": iters, "method": method},
            {
                "sigma_ratio": [Interval(Real, 0, None, closed="neither")],
                "grid": [Interval(Integral, 1, None)],
                "iters": [Interval(Integral, 1, None)],
                "method": [Options(("auto", "exact", "power", "fd"))],
                "fd_check": [Options((True, False))],
            },
        )
        self.surrogate = surrogate
        self.true_transform = true_transform
        self.sigma_ratio = sigma_ratio
        self.certified_range = certified_range
        self.grid = grid
        self.iters = iters
        self.method = method
        self.fd_check = fd_check
        self.theta_center = theta_center
        self.param_dim = surrogate.param_dim + surrogate.latent_dim  # instance-level: d + m
        self.param_units = surrogate.param_units
        self.last_estimate: Optional[GEstimate] = None
        self.path_origin: Optional[torch.Tensor] = None
        self._cache: Optional[tuple] = None
        self._center_tensor()  # validate now
        self._pairs()

    @classmethod
    def from_checkpoint(
        cls,
        path: PathLike,
        sigma_ratio: float = 1.0,
        *,
        true_transform: Optional[Transform] = None,
        certified_range=None,
        grid: int = 10,
        iters: int = 50,
        method: str = "auto",
        fd_check: bool = True,
        theta_center=0.0,
        map_location="cpu",
    ) -> "SurrogateTransform":
        """Build from a file written by :func:`save_surrogate` / ``gsmooth surrogate train``."""
        return cls(
            surrogate=load_surrogate(path, map_location=map_location),
            true_transform=true_transform,
            sigma_ratio=sigma_ratio,
            certified_range=certified_range,
            grid=grid,
            iters=iters,
            method=method,
            fd_check=fd_check,
            theta_center=theta_center,
        )

    # -- description -----------------------------------------------------------------------------
    @property
    def d(self) -> int:
        return self.surrogate.param_dim

    def _pairs(self) -> tuple[tuple[float, float], ...]:
        rng = self.certified_range if self.certified_range is not None else self.surrogate.param_range
        if not rng:
            raise InvalidParameterError(
                "SurrogateTransform: expected certified_range=(lo, hi) (the surrogate records no training range), got none"
            )
        return normalize_param_range(rng, self.d)

    def _center_tensor(self, device=None, dtype=torch.float32) -> torch.Tensor:
        c = torch.as_tensor(self.theta_center, dtype=torch.float64).reshape(-1)
        if c.numel() == 1:
            c = c.expand(self.d)
        if c.numel() != self.d or not bool(torch.isfinite(c).all()):
            raise InvalidParameterError(
                f"SurrogateTransform: theta_center expected a finite number or {self.d} numbers, got {self.theta_center!r}"
            )
        return c.to(device=device, dtype=dtype)

    def describe(self) -> str:
        rng = ",".join(f"{lo:g}:{hi:g}" for lo, hi in self._pairs())
        center = self._center_tensor()
        parts = [self.surrogate.transform_name or "?", f"range={rng}", f"sigma_ratio={float(self.sigma_ratio):g}", f"grid={self.grid}"]
        if bool((center != 0).any()):
            parts.append("center=" + ",".join(f"{v:g}" for v in center.tolist()))
        return f"surrogate({','.join(parts)})"

    def extra_repr(self) -> str:
        return self.describe()

    # -- the engine's interface ------------------------------------------------------------------
    def param_shape(self, image_shape: tuple[int, ...]) -> tuple[int, ...]:
        if tuple(int(s) for s in image_shape) != tuple(self.surrogate.input_shape):
            raise InputError(
                f"SurrogateTransform: expected images of shape {tuple(self.surrogate.input_shape)} "
                f"(the surrogate's), got {tuple(image_shape)}"
            )
        return (self.d + self.surrogate.latent_dim,)

    def check_noise(self, noise) -> None:
        """Raise :class:`InvalidParameterError` unless ``noise`` is the Gaussian noise the radius needs."""
        name = getattr(noise, "name", noise)
        if name != self.requires_noise:
            raise InvalidParameterError(
                f"SurrogateTransform: GSmooth's radius Φ⁻¹(p)/sqrt(σ_θ⁻² + G²σ_ξ⁻²) holds for Gaussian noise "
                f"on (θ, ξ) only; expected noise {self.requires_noise!r}, got {name!r}"
            )

    def forward(self, x: torch.Tensor, theta: torch.Tensor, center=None) -> torch.Tensor:
        """``H(F2(x) + F1(center + θ_full[:, :d]) + sigma_ratio · θ_full[:, d:])``.

        Args:
            x: ``(B, C, H, W)``; an expanded single image (batch stride 0, as the engine passes)
                is encoded once.
            theta: ``(B, d + m)``.
            center: overrides :attr:`theta_center` for this call.
        """
        if x.ndim != 4 or tuple(x.shape[1:]) != tuple(self.surrogate.input_shape):
            raise InputError(
                f"SurrogateTransform: expected x of shape (B, {', '.join(map(str, self.surrogate.input_shape))}), got {tuple(x.shape)}"
            )
        b, d, m = x.shape[0], self.d, self.surrogate.latent_dim
        theta = theta.reshape(b, -1)
        if theta.shape[1] != d + m:
            raise InputError(f"SurrogateTransform: expected theta of shape (B, d + m) = ({b}, {d + m}), got {tuple(theta.shape)}")
        param = next(self.surrogate.parameters())
        dtype, device = param.dtype, param.device
        if center is not None:
            old, self.theta_center = self.theta_center, center
            try:
                c = self._center_tensor(device, dtype)
            finally:
                self.theta_center = old
        else:
            c = self._center_tensor(device, dtype)
        xs = x.to(device=device, dtype=dtype)
        if b > 1 and xs.stride(0) == 0:
            z = self.surrogate.encode(xs[:1]).expand(b, *xs.shape[1:])
        else:
            z = self.surrogate.encode(xs)
        th = theta.to(device=device, dtype=dtype)
        z = z + self.surrogate.embed(th[:, :d] + c) + float(self.sigma_ratio) * th[:, d:].reshape(z.shape)
        return self.surrogate.decode(z).to(x.dtype)

    # -- M* ----------------------------------------------------------------------------------------
    def _true(self) -> Transform:
        if self.true_transform is None:
            self.true_transform = self.surrogate.true_transform()
            param = next(self.surrogate.parameters())
            self.true_transform.to(param.device)
        return self.true_transform

    @contextlib.contextmanager
    def path_from(self, x0: torch.Tensor):
        """Within the block, ``lipschitz_factor`` uses the clean image ``x0``'s path (see class docs)."""
        old = self.path_origin
        self.path_origin = x0.detach()
        try:
            yield self
        finally:
            self.path_origin = old

    def lipschitz_estimate(self, x: torch.Tensor) -> GEstimate:
        """G for image ``x`` (or :attr:`path_origin` when set) over ``certified_range`` (cached)."""
        base = self.path_origin if self.path_origin is not None else x
        base = base if base.ndim == 3 else base.reshape(base.shape[-3:])
        key = (self._pairs(), int(self.grid), int(self.iters), self.method, bool(self.fd_check))
        if self._cache is not None:
            cached_x, cached_key, est = self._cache
            if cached_key == key and cached_x.shape == base.shape and torch.equal(cached_x, base.to(cached_x.device, cached_x.dtype)):
                self.last_estimate = est
                return est
        with torch.inference_mode(False):
            base_c = base.detach().clone()
        est = estimate_G(
            self.surrogate, self._true(), base_c, param_range=key[0], grid=self.grid, iters=self.iters,
            method=self.method, fd_check=bool(self.fd_check),
        )
        self._cache = (base_c, key, est)
        self.last_estimate = est
        return est

    def clear_cache(self) -> None:
        """Forget the cached G of the grid estimate (keyed by image, range, grid, iters and method)."""
        self._cache = None

    # -- sound bounds on the path (gsmooth.path_bounds) --------------------------------------------
    def true_transform_module(self) -> Transform:
        """The true transform τ behind the surrogate (rebuilt from its metadata on first use)."""
        return self._true()

    @property
    def guarantee(self) -> str:
        """``sound`` when certificates rest on a proven bound of the path — one parameter, a true
        transform with :meth:`~gsmooth.Transform.path_speed_bound`, and a proven Lip(F2) — else
        ``estimate`` (a grid maximum; see :mod:`gsmooth.path_bounds`)."""
        return "sound" if self.d == 1 and self._sound_parts(self._lip_f2()) else "estimate"

    def _sound_parts(self, lip_f2: Optional[float]) -> bool:
        """Both proofs are there: a proven Lip(F2), and a true transform that overrides
        :meth:`~gsmooth.Transform.path_speed_bound`."""
        return lip_f2 is not None and type(self._true()).path_speed_bound is not Transform.path_speed_bound

    def _lip_f2(self) -> Optional[float]:
        """A proven Lipschitz constant of the encoder F2 (ℓ2 → ℓ2), or None if none is available."""
        return self._encoder_caches()[1]

    def _encoder64(self):
        """A float64 copy of the encoder F2 (the path bounds are computed in float64)."""
        return self._encoder_caches()[0]

    def _encoder_caches(self) -> tuple:
        """``(float64 encoder copy, proven Lip(F2) or None)`` for the encoder's **current** weights,
        rebuilt together whenever they change. Weights are compared by value: a write through
        ``.data`` or a numpy view changes no version counter, so nothing cheaper is safe. Stored as
        plain attributes, not registered submodules (a cache, not part of the transform)."""
        weights = torch.cat([p.detach().reshape(-1).double().cpu() for p in self.surrogate.f2.parameters()])
        cached = self.__dict__.get("_enc_cache")
        if cached is None or cached[0].shape != weights.shape or not torch.equal(cached[0], weights):
            import copy

            from .lipschitz_bounds import encoder_lipschitz_bound

            enc = copy.deepcopy(self.surrogate.f2).double().eval()
            for prm in enc.parameters():
                prm.requires_grad_(False)
            try:
                lip = float(encoder_lipschitz_bound(self.surrogate.f2, tuple(self.surrogate.input_shape[1:])))
            except InvalidParameterError:  # not the provable ResidualEncoder structure
                lip = None
            cached = (weights, enc, lip)
            object.__setattr__(self, "_enc_cache", cached)
        return cached[1], cached[2]

    def check_range(self, low, high) -> None:
        """Raise :class:`InvalidParameterError` unless ``[low, high]`` lies in the true transform's
        parameter domain (the path τ(α, x) must be the transform itself, not a clamped copy)."""
        from .smoothing import check_range_in_domain

        check_range_in_domain(self._true(), low, high, owner=f"surrogate({self.surrogate.transform_name})")

    def path_shift_bounds(self, x0: torch.Tensor, lows, highs, centers, *, progress: bool = False):
        """Per-slice bounds ``T_k`` on the path shift of image ``x0`` ``(C, H, W)`` (one parameter):
        see :func:`gsmooth.path_bounds.slice_shift_bounds`. ``sound`` when :attr:`guarantee` is.
        ``progress``: tqdm bars (stderr) over the slices' speed bounds and the path points evaluated
        (with many slices this takes long before any sample is drawn)."""
        from .path_bounds import slice_shift_bounds
        from .progress import progress_bar

        if self.d != 1:
            raise InvalidParameterError(
                f"SurrogateTransform.path_shift_bounds: expected a one-parameter surrogate, got d = {self.d}"
            )
        true = self._true()
        param = next(self.surrogate.parameters())
        enc, lip_f2 = self._encoder_caches()
        x64 = x0.detach().reshape(self.surrogate.input_shape).to(device=param.device, dtype=torch.float64)
        enc.to(param.device)

        def path(a: torch.Tensor) -> torch.Tensor:
            a = a.to(device=param.device, dtype=torch.float64)
            return enc(true(x64.unsqueeze(0).expand(a.shape[0], *x64.shape), a[:, None]))

        lows, highs = np.atleast_1d(np.asarray(lows, float)), np.atleast_1d(np.asarray(highs, float))
        W = self.surrogate.W.detach().double()
        lipschitz = None
        if self._sound_parts(lip_f2):
            from .lipschitz_bounds import linear_operator_norm

            w_norm = float(linear_operator_norm(W))
            x_cpu = x0.detach().reshape(self.surrogate.input_shape).double().cpu()
            bar = progress_bar(len(lows), unit="slice", desc="path speed bounds") if progress else None
            try:
                speeds = []
                for a, b in zip(lows, highs):
                    speeds.append(true.path_speed_bound(x_cpu, float(a), float(b)))
                    if bar is not None:
                        bar.update(1)
            finally:
                if bar is not None:
                    bar.close()
            if all(v is not None and math.isfinite(float(v)) for v in speeds):
                lipschitz = [(lip_f2 * float(v) + w_norm) * (1.0 + 1e-9) for v in speeds]
        span = (float(lows.min()), float(highs.max()))
        # transforms whose kinks depend on the image size take it (pixelate's block edges); a plugin
        # may still implement the two-argument form
        takes_size = "image_size" in inspect.signature(true.kink_points).parameters
        kinks = true.kink_points(*span, image_size=tuple(x64.shape)) if takes_size else true.kink_points(*span)
        return slice_shift_bounds(
            path, W, lows=lows, highs=highs, centers=centers, ratio=float(self.sigma_ratio), lipschitz=lipschitz,
            kinks=kinks, progress=progress,
        )

    def check_point_certificate(self) -> None:
        """A radius around θ = 0 is a statement about ``x`` only if the path starts at ``x``:
        ``τ(0, x) = x`` (the true transform's ``identity_at_zero``) and 0 lies in the range the
        path is bounded over. Otherwise refuse (certify a range instead: an interval certificate
        is a statement about τ(α, x) for every α in the range, wherever the path starts)."""
        true = self._true()
        pairs = self._pairs()
        if not true.identity_at_zero:
            raise InvalidParameterError(
                f"surrogate({self.surrogate.transform_name}): a radius around theta = 0 certifies the path starting at "
                f"tau(0, x), but this transform has tau(0, x) != x (identity_at_zero is False, e.g. defocus_blur with "
                f"alias_sigma > 0); expected an interval certificate (--range LO:HI / certify_interval), got a point "
                f"certificate"
            )
        lows, highs = zip(*pairs)
        self.check_range(lows, highs)
        if not all(lo <= 0.0 <= hi for lo, hi in pairs):
            raise InvalidParameterError(
                f"surrogate({self.surrogate.transform_name}): a radius around theta = 0 needs 0 inside the range the "
                f"path is bounded over, got range {','.join(f'{lo:g}:{hi:g}' for lo, hi in pairs)}; expected a range "
                f"containing 0 (certified_range / --range), or an interval certificate over the range"
            )

    def certified_radius(self, x: torch.Tensor, p_lower: float, noise) -> tuple[float, float, str]:
        """The largest R such that the path shift of ``x`` stays below ``noise.radius(p_lower)``
        for every ``|α| < R`` in the range: ``(R, M* = noise.radius(p_lower) / R, guarantee)``.

        The range is cut into 32 segments on each side of 0, each bounded by
        :meth:`path_shift_bounds` (reference point 0); R is the inner end of the first segment
        (going outwards from 0, on either side) whose bound reaches the noise radius — or the
        range's extent if none does (nothing beyond the range is claimed). d > 1: the grid
        estimate of G (``lipschitz_factor``), guarantee ``estimate``. The engine has called
        :meth:`check_point_certificate` before sampling.
        """
        target = float(noise.radius(p_lower))
        if self.d != 1:
            m_star = self.lipschitz_factor(x)
            return target / m_star, m_star, "estimate"
        # the path of the image actually smoothed (never path_origin: p_lower was estimated at x);
        # recomputed on every call — nothing it depends on (weights, sigma_ratio, range, the true
        # transform) can go stale
        base = x.detach().reshape(self.surrogate.input_shape)
        (lo, hi), = self._pairs()
        segments = []
        for a, b in ((0.0, hi), (0.0, lo)):  # outwards on each side
            if b == a:
                continue
            ends = np.linspace(a, b, 33)
            inner, outer = ends[:-1], ends[1:]
            bounds = self.path_shift_bounds(base, np.minimum(inner, outer), np.maximum(inner, outer), np.zeros(32))
            segments.append((np.abs(inner), bounds.upper, bounds.guarantee))
        radius = max(abs(lo), abs(hi))  # nothing beyond the range is claimed
        for inner, upper, _ in segments:
            fail = np.nonzero(upper >= target)[0]
            if fail.size:
                radius = min(radius, float(inner[fail[0]]))
        guarantee = "sound" if self.guarantee == "sound" and all(g == "sound" for _, _, g in segments) else "estimate"
        m_star = target / radius if radius > 0 else math.inf
        return float(radius), float(m_star), guarantee

    def lipschitz_factor(self, x: torch.Tensor) -> float:
        """M* = sqrt(1 + G(x)² / sigma_ratio²) ≥ 1, with G a grid estimate (see :attr:`last_estimate`)."""
        est = self.lipschitz_estimate(x)
        return math.hypot(1.0, est.G / float(self.sigma_ratio))
