"""Data helpers shared by surrogate training and evaluation."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..errors import InputError, InvalidParameterError
from ..core.transform import Transform



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
            data = dataset.data  # gsmooth.data.datasets.ImageTensorDataset: fast path
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
        from ..plugin.components import transform as build

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

