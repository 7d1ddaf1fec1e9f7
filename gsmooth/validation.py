"""Validation helpers, public for plugin authors: every message reads "expected …, got …" and every
error is a typed :mod:`gsmooth.errors` error (a :class:`~gsmooth.errors.GsmoothError` *and* the
matching built-in), which the CLI prints as one line with exit code 2.

Hyper-parameters come from one table (scikit-learn's ``_parameter_constraints`` idea): a component
declares ``_parameter_constraints = {"sigma": [Interval(Real, 0, None, closed="neither")]}`` and
calls ``self.validate_params()`` (:meth:`gsmooth.Noise.validate_params`, which runs
:func:`validate_params`) once at the end of ``__init__``. Inputs of ``forward`` go through
:func:`check_images` and :func:`check_theta`.

Example:
    >>> import torch
    >>> from gsmooth.validation import check_images, check_theta
    >>> x = check_images(torch.rand(2, 1, 4, 4), owner="mine")
    >>> check_theta(0.5, batch=2, param_dim=1, owner="mine").shape
    torch.Size([2, 1])
    >>> check_images(torch.rand(1, 4, 4), owner="mine")
    Traceback (most recent call last):
    ...
    gsmooth.errors.InputError: mine: expected x of shape (B, C, H, W), got (1, 4, 4)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Mapping

from .errors import InputError, InputTypeError, InvalidParameterError

__all__ = ["Interval", "Options", "validate_params", "check_images", "check_theta", "check_probability",
           "check_positive_int", "check_device", "check_input_shape", "check_path"]


@dataclass(frozen=True)
class Interval:
    """A numeric interval; ``None`` bounds are unbounded. ``closed`` in {"both","left","right","neither"}.

    Booleans are refused, and so are NaN, ±inf and numbers too large for a float; integers of
    any size are in an ``Integral`` interval. ``Interval(Real, None, None)`` is any finite number.

    Example:
        >>> Interval(Integral, 2, None).contains(10**400), Interval(Real, 0, None).contains(10**400)
        (True, False)
        >>> str(Interval(Real, None, None)), str(Interval(Integral, 1, 65536))
        ('a finite number', 'an integer in [1, 65536]')
    """

    type: type
    left: float | None
    right: float | None
    closed: str = "both"

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, self.type):
            return False
        # an integer is finite whatever its size (float() of 10**400 would overflow); a number in
        # a Real interval must be finite as a float (10**400 is not: it would compute as inf)
        if isinstance(value, Real) and not (self.type is Integral and isinstance(value, Integral)):
            try:
                if not math.isfinite(float(value)):
                    return False
            except OverflowError:
                return False
        lo_ok = self.left is None or (
            value >= self.left if self.closed in ("both", "left") else value > self.left
        )
        hi_ok = self.right is None or (
            value <= self.right if self.closed in ("both", "right") else value < self.right
        )
        return lo_ok and hi_ok

    def __str__(self) -> str:
        kind = "an integer" if self.type is Integral else "a finite number"
        if self.left is None and self.right is None:
            return kind  # no bounds: "a finite number", not "a finite number in [-inf, inf]"
        lb = "[" if self.closed in ("both", "left") else "("
        rb = "]" if self.closed in ("both", "right") else ")"
        lo = "-inf" if self.left is None else f"{self.left:g}"
        hi = "inf" if self.right is None else f"{self.right:g}"
        return f"{kind} in {lb}{lo}, {hi}{rb}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (compared with ``==``; a value whose comparison is not a plain
    bool, e.g. a NumPy array, is not one of them)."""

    values: tuple

    def contains(self, value: Any) -> bool:
        try:
            return bool(value in self.values)
        except (TypeError, ValueError, RuntimeError):  # np.array([1, 2]) == "zeros" has no truth value
            return False

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


#: Largest seed: torch's generators take a signed 64-bit seed.
MAX_SEED = 2**63 - 1
#: Largest batch size: torch's samplers and index tensors take a signed 32-bit count.
MAX_BATCH = 2**31 - 1
#: Largest learning rate / weight decay: a float32 parameter update must stay representable.
MAX_FLOAT32 = 3.4028234663852886e38

# The table of gsmooth's number kinds: one source for each bound. The run configurations
# (:mod:`gsmooth.run.config`) validate their fields against these, and the CLI's argparse types
# (``seed_int``, ``batch_int``, ``float32_positive`` … in :mod:`gsmooth.cli.common`) are built from them.

#: Sample counts, slices, ``--skip``, ``--max``: an integer >= 1.
POSITIVE_INT = Interval(Integral, 1, None)
#: ``--start``, gradient steps: an integer >= 0.
NONNEG_INT = Interval(Integral, 0, None)
#: Seeds: what torch's generators take.
SEED = Interval(Integral, 0, MAX_SEED)
#: Batch sizes: what torch's samplers and index tensors take.
BATCH = Interval(Integral, 1, MAX_BATCH)
#: Failure probabilities (alpha): strictly inside (0, 1).
PROBABILITY = Interval(Real, 0, 1, closed="neither")
#: Noise scales (sigma, sigma_xi): a positive finite number.
POSITIVE = Interval(Real, 0, None, closed="neither")
#: A non-negative finite number (gradient clipping).
NONNEG = Interval(Real, 0, None)
#: Learning rates: positive and representable in float32.
FLOAT32_POSITIVE = Interval(Real, 0, MAX_FLOAT32, closed="right")
#: Weight decay: non-negative and representable in float32.
FLOAT32_NONNEG = Interval(Real, 0, MAX_FLOAT32)

__all__ += ["MAX_SEED", "MAX_BATCH", "MAX_FLOAT32", "POSITIVE_INT", "NONNEG_INT", "SEED", "BATCH", "PROBABILITY", "POSITIVE",
            "NONNEG", "FLOAT32_POSITIVE", "FLOAT32_NONNEG"]


def validate_params(owner: str, params: Mapping[str, Any], constraints: Mapping[str, list]) -> None:
    """Check ``params`` against ``constraints``; raise :class:`InvalidParameterError` on the first miss.

    Args:
        owner: who is checking, the prefix of the message (``"MyNoise('mine')"``).
        params: name → value; names without a constraint are not checked.
        constraints: name → list of rules (:class:`Interval`, :class:`Options`); a value passes
            when any rule contains it.

    Raises:
        InvalidParameterError: ``"<owner>: parameter 'sigma' expected …, got …"``.

    Example:
        >>> validate_params("mine", {"sigma": 0.5}, {"sigma": [Interval(Real, 0, None, closed="neither")]})
        >>> validate_params("mine", {"sigma": -1}, {"sigma": [Interval(Real, 0, None, closed="neither")]})
        Traceback (most recent call last):
        ...
        gsmooth.errors.InvalidParameterError: mine: parameter 'sigma' expected a finite number in (0, inf), got -1
    """
    for name, value in params.items():
        rules = constraints.get(name)
        if rules is None:
            continue
        if not any(rule.contains(value) for rule in rules):
            expected = " or ".join(str(r) for r in rules)
            raise InvalidParameterError(
                f"{owner}: parameter {name!r} expected {expected}, got {value!r}"
            )


def check_images(x: Any, *, owner: str, channels: int | None = None, finite: bool = True):
    """``x`` unchanged if it is a batch of images: a floating ``(B, C, H, W)`` :class:`torch.Tensor`
    (with ``channels`` channels when given, and only finite values when ``finite``).

    Args:
        x: the input of a transform's ``forward``.
        owner: the message prefix (the transform's name).
        channels: the required ``C``, or None for any.
        finite: also refuse NaN/inf pixels (one pass over ``x``). The built-in transforms pass
            ``False``: :class:`gsmooth.Smoother` checks the image once, before the noise batches.

    Returns:
        ``x`` (the same tensor).

    Raises:
        InputTypeError: not a tensor, or not floating point (also a ``TypeError``).
        InputError: another shape, another channel count, non-finite values.

    Example:
        >>> import torch
        >>> check_images(torch.zeros(2, 3, 8, 8), owner="mine", channels=3).shape
        torch.Size([2, 3, 8, 8])
        >>> check_images(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), owner="mine")
        Traceback (most recent call last):
        ...
        gsmooth.errors.InputTypeError: mine: expected a floating-point x (pixels in [0, 1]), got torch.uint8
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise InputTypeError(f"{owner}: expected x to be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise InputError(f"{owner}: expected x of shape (B, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputTypeError(f"{owner}: expected a floating-point x (pixels in [0, 1]), got {x.dtype}")
    if channels is not None and x.shape[1] != channels:
        raise InputError(f"{owner}: expected x with {channels} channel(s), got shape {tuple(x.shape)}")
    if finite and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise InputError(f"{owner}: expected finite pixels, got {bad} NaN/inf value(s)")
    return x


def check_theta(theta: Any, *, batch: int, param_dim: int, owner: str, dtype=None, device=None,
                finite: bool = True):
    """``theta`` as a ``(batch, param_dim)`` tensor: one parameter vector per image.

    Accepted, and broadcast: a number or 0-d tensor (the same θ for every image), ``(batch,)`` when
    ``param_dim == 1``, ``(1, param_dim)``; lists and arrays are converted. ``dtype`` / ``device``
    (default: kept, or torch's default dtype for non-tensors) cast the result, as ``forward`` needs.

    Args:
        theta: the parameters given to ``forward``.
        batch: ``B``, the number of images (``x.shape[0]``).
        param_dim: the transform's ``param_dim``.
        owner: the message prefix (the transform's name).
        dtype: the dtype of the result, or None.
        device: the device of the result (usually ``x.device``), or None.
        finite: also refuse NaN/inf values. The built-in transforms pass ``False``: their θ come from
            the noise.

    Returns:
        A ``(batch, param_dim)`` tensor (a broadcast view where θ was broadcast).

    Raises:
        InputTypeError: not convertible to a numeric tensor (also a ``TypeError``).
        InputError: another shape, or non-finite values.

    Example:
        >>> import torch
        >>> check_theta(torch.zeros(3), batch=3, param_dim=1, owner="mine").shape
        torch.Size([3, 1])
        >>> check_theta(torch.zeros(3, 1), batch=3, param_dim=2, owner="mine")
        Traceback (most recent call last):
        ...
        gsmooth.errors.InputError: mine: expected theta of shape (B, 2) with B = 3 (one parameter vector per image), got (3, 1)
    """
    import torch

    b, dim = int(batch), int(param_dim)
    if not isinstance(theta, torch.Tensor):
        try:
            theta = torch.as_tensor(theta, dtype=dtype, device=device)
        except (TypeError, ValueError, RuntimeError):
            raise InputTypeError(
                f"{owner}: expected theta to be a tensor or numbers, got {type(theta).__name__}"
            ) from None
    if dtype is not None or device is not None:
        theta = theta.to(device=device, dtype=dtype)
    if theta.dim() == 0:
        theta = theta.expand(b, dim)
    elif dim == 1 and theta.dim() == 1:
        theta = theta.reshape(-1, 1)
    if theta.dim() != 2 or theta.shape[1] != dim or theta.shape[0] not in (1, b):
        raise InputError(
            f"{owner}: expected theta of shape (B, {dim}) with B = {b} (one parameter vector per image), "
            f"got {tuple(theta.shape)}"
        )
    if finite and not bool(torch.isfinite(theta).all()):
        bad = int((~torch.isfinite(theta)).sum())
        raise InputError(f"{owner}: expected finite theta, got {bad} NaN/inf value(s)")
    return theta.expand(b, dim)


def check_probability(name: str, value: Any) -> float:
    """Validate a value strictly inside (0, 1), e.g. the significance level alpha."""
    validate_params("gsmooth", {name: value}, {name: [Interval(Real, 0, 1, closed="neither")]})
    return float(value)


def check_positive_int(name: str, value: Any) -> int:
    """Validate a strictly positive integer (sample counts, batch sizes)."""
    validate_params("gsmooth", {name: value}, {name: [Interval(Integral, 1, None)]})
    return int(value)


#: Device types gsmooth runs on, and how to ask whether one is present.
_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


def check_device(device: Any, *, what: str = "device"):
    """``device`` as a :class:`torch.device` that can hold tensors on this machine, else an
    :class:`InvalidParameterError` that names ``what`` (``"--device"``, ``"map_location"`` …):
    a wrong device is the device's fault, never reported as a broken checkpoint.

    Accepted: ``cpu``; ``cuda`` / ``cuda:N`` with CUDA available and N below the device count;
    ``mps`` / ``xpu`` where available — checked by allocating an empty tensor there. Refused:
    names torch does not know, other types, and ``meta`` (tensors without values: nothing can be
    counted). ``None`` is not a device (callers default it themselves).

    >>> check_device("cpu", what="--device")
    device(type='cpu')
    >>> check_device("nonsense", what="--device")
    Traceback (most recent call last):
    ...
    gsmooth.errors.InvalidParameterError: --device expected cpu, cuda or cuda:N, got 'nonsense'
    """
    import torch

    if isinstance(device, bool) or not isinstance(device, (str, torch.device, int)):
        raise InvalidParameterError(f"{what} expected cpu, cuda or cuda:N (a str or torch.device), got {device!r}")
    try:
        dev = device if isinstance(device, torch.device) else torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise InvalidParameterError(f"{what} expected cpu, cuda or cuda:N, got {device!r}") from None
    if dev.type == "meta":
        raise InvalidParameterError(
            f"{what} expected a device holding values (cpu, cuda), got {device!r} (meta tensors have no values to count)"
        )
    if dev.type not in _DEVICE_TYPES:
        raise InvalidParameterError(f"{what} expected cpu, cuda or cuda:N, got {device!r} (device type {dev.type!r})")
    if dev.type == "cpu":
        return dev
    backend = getattr(torch, dev.type, None) if dev.type != "mps" else getattr(torch.backends, "mps", None)
    available = bool(backend is not None and backend.is_available())
    if not available:
        raise InvalidParameterError(
            f"{what} expected an available device, got {device!r} but {dev.type.upper()} is not available here "
            f"(use cpu)"
        )
    if dev.index is not None and dev.type in ("cuda", "xpu"):
        count = getattr(torch, dev.type).device_count()
        if dev.index >= count:
            raise InvalidParameterError(
                f"{what} expected an available device, got {device!r} but this machine has {count} "
                f"{dev.type.upper()} device(s) ({dev.type}:0..{dev.type}:{count - 1})"
            )
    try:
        torch.empty(0, device=dev)
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError, AssertionError… for absent devices
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InvalidParameterError(f"{what} expected an available device, got {device!r} ({first})") from None
    return dev


def check_input_shape(shape: Any, *, owner: str = "input_shape") -> tuple[int, int, int]:
    """``(C, H, W)`` of positive integers (a tuple, list, :class:`torch.Size` or integer array), or
    an :class:`InvalidParameterError`."""
    import operator

    try:
        items = [operator.index(v) for v in shape if not isinstance(v, bool)]
        given = len(list(shape))
    except TypeError:
        raise InvalidParameterError(f"{owner} expected (C, H, W) of positive integers, got {shape!r}") from None
    if given != 3 or len(items) != 3 or min(items) < 1:
        raise InvalidParameterError(f"{owner} expected (C, H, W) of positive integers, got {shape!r}")
    return tuple(items)  # type: ignore[return-value]


def check_path(path: Any, *, what: str = "path") -> str:
    """A file-system path as ``str``: a ``str``, an :class:`os.PathLike` or ``bytes`` (decoded the
    way the OS does, :func:`os.fsdecode`); anything else (``None``, a number, a tensor) is an
    :class:`InvalidParameterError` naming ``what``, not a ``TypeError`` from deep inside ``open``."""
    import os

    if isinstance(path, (str, bytes, os.PathLike)):
        try:
            text = os.fsdecode(os.fspath(path))
        except TypeError:  # a PathLike whose __fspath__ returns something odd
            text = None
        if isinstance(text, str):
            if "\x00" in text:
                raise InvalidParameterError(f"{what} expected a file path, got {path!r} (it holds a NUL character)")
            return text
    raise InvalidParameterError(f"{what} expected a file path (str or os.PathLike), got {type(path).__name__} {path!r}")
