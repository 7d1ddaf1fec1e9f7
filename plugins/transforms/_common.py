"""Helpers shared by the built-in semantic transforms (private: not part of the plugin contract).

Conventions every transform here follows:

- ``x`` is a ``(B, C, H, W)`` floating tensor (pixels nominally in [0, 1]; nothing is clipped);
- ``theta`` is ``(B, param_dim)`` — one parameter vector per image — or, for ``param_dim == 1``,
  also ``(B,)``; it is cast to the computation dtype and moved to ``x``'s device;
- float16 / bfloat16 inputs are computed in float32 and cast back once at the end (the FFTs and
  ``grid_sample`` used here have no CPU half kernels, and bfloat16 sampling coordinates would be off
  by up to a quarter pixel on a 32-pixel image); float32 and float64 are computed natively.

Only the public ``gsmooth`` API is imported, as for a third-party plugin.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch

import gsmooth

__all__ = [
    "PADDING_MODES",
    "check_image",
    "compute_dtype",
    "params",
    "check_int",
    "check_real",
    "check_option",
    "path_args",
    "image_hw",
    "SAFETY_FACTOR",
]

#: Relative round-up of the proven path-speed bounds (``path_speed_bound``), for float64 rounding.
SAFETY_FACTOR = 1.0 + 1e-9

#: ``grid_sample`` padding modes accepted by the geometric transforms (kornia's names).
PADDING_MODES = ("zeros", "border", "reflection")


def check_image(fn: str, x: torch.Tensor) -> None:
    """Raise a clear error unless ``x`` is a floating ``(B, C, H, W)`` tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{fn}: expected x to be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{fn}: expected x of shape (B, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{fn}: expected a floating-point x (pixels in [0, 1]), got {x.dtype}")


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """float32 for half-precision inputs, else ``x.dtype`` (see the module docstring)."""
    return torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype


def params(fn: str, theta, x: torch.Tensor, dim: int, dtype: torch.dtype) -> torch.Tensor:
    """``theta`` as a ``(B, dim)`` tensor of ``dtype`` on ``x``'s device (a float is broadcast)."""
    b = x.shape[0]
    if not isinstance(theta, torch.Tensor):
        theta = torch.as_tensor(theta, dtype=dtype, device=x.device)
    theta = theta.to(device=x.device, dtype=dtype)
    if theta.dim() == 0:
        theta = theta.expand(b, dim)
    elif dim == 1 and theta.dim() == 1:
        theta = theta.reshape(-1, 1)
    if theta.dim() != 2 or theta.shape[1] != dim or theta.shape[0] not in (1, b):
        raise ValueError(
            f"{fn}: expected theta of shape (B, {dim}) with B = {b} (one parameter vector per image), "
            f"got {tuple(theta.shape)}"
        )
    return theta.expand(b, dim)


def _bad(owner: str, name: str, expected: str, value) -> gsmooth.InvalidParameterError:
    return gsmooth.InvalidParameterError(f"{owner}: parameter {name!r} expected {expected}, got {value!r}")


def check_int(owner: str, name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise _bad(owner, name, f"an integer >= {minimum}", value)


def check_real(owner: str, name: str, value, minimum: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise _bad(owner, name, "a finite number" + ("" if minimum is None else f" >= {minimum:g}"), value)
    if minimum is not None and value < minimum:
        raise _bad(owner, name, f"a finite number >= {minimum:g}", value)


def check_option(owner: str, name: str, value, options: tuple) -> None:
    if value not in options:
        raise _bad(owner, name, "one of " + ", ".join(repr(o) for o in options), value)


def path_args(owner: str, x, low, high) -> tuple[torch.Tensor, float, float]:
    """Validate the arguments of ``path_speed_bound(x, low, high)``: one finite floating image
    ``(C, H, W)`` (returned detached, float64, on the CPU) and finite ``low <= high``."""
    if not isinstance(x, torch.Tensor):
        raise gsmooth.InvalidParameterError(f"{owner}.path_speed_bound: expected x to be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 3 or min(x.shape) < 1:
        raise gsmooth.InvalidParameterError(
            f"{owner}.path_speed_bound: expected one image x of shape (C, H, W), got {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise gsmooth.InvalidParameterError(f"{owner}.path_speed_bound: expected a floating-point x, got {x.dtype}")
    x64 = x.detach().to(device="cpu", dtype=torch.float64)
    if not bool(torch.isfinite(x64).all()):
        raise gsmooth.InvalidParameterError(f"{owner}.path_speed_bound: expected finite pixels, got a non-finite value")
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(float(v)):
            raise gsmooth.InvalidParameterError(f"{owner}.path_speed_bound: {name} expected a finite number, got {v!r}")
    if float(low) > float(high):
        raise gsmooth.InvalidParameterError(f"{owner}.path_speed_bound: expected low <= high, got [{low!r}, {high!r}]")
    return x64, float(low), float(high)


def image_hw(owner: str, image_size) -> tuple[int, int]:
    """``(H, W)`` from ``image_size`` given as ``(H, W)`` or ``(C, H, W)`` (e.g. ``x.shape[-3:]``)."""
    try:
        dims = tuple(int(d) for d in image_size)
        ok = len(dims) in (2, 3) and all(int(d) == d and d >= 1 for d in image_size)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise gsmooth.InvalidParameterError(f"{owner}.kink_points: image_size expected (H, W) or (C, H, W), got {image_size!r}")
    return dims[-2], dims[-1]
