"""Denoiser architectures: a DnCNN-style residual denoiser and a register/get API like the classifiers'.

A denoiser maps noisy images ``x + δ`` (pixel space, ``(B, C, H, W)``) to estimates of ``x`` of the
same shape. The built-in :class:`DnCNN` (Zhang et al., 2017) predicts the noise and subtracts it:
``D(x̃) = x̃ − net(x̃)`` with ``net = conv3x3+ReLU, (depth−2)×(conv3x3+BN+ReLU), conv3x3``.

Architectures by name (``list_denoiser_architectures()``), registered through the
``register_denoisers`` hook (the built-ins by ``gsmooth.denoising._plugin``, like any plugin's):

- ``dncnn``: depth 17, width 64 (the paper's, and Salman et al.'s for CIFAR-10);
- ``dncnn<D>`` / ``dncnn<D>x<W>``: depth ``D`` (2..64), width ``W`` (default 64, at most 1024), e.g.
  ``dncnn6x32`` for a quick CPU run.

Example:
    >>> den = build_denoiser("dncnn6x32", input_shape=(1, 28, 28))
    >>> den(torch.rand(2, 1, 28, 28)).shape
    torch.Size([2, 1, 28, 28])
    >>> den.arch, den.input_shape
    ('dncnn6x32', (1, 28, 28))
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from numbers import Integral
from typing import Callable, Optional, Sequence

import torch
from torch import nn

from ..errors import InvalidParameterError, UnknownComponentError, suggest
from ..validation import Interval, validate_params

__all__ = [
    "DnCNN",
    "DenoiserArchitecture",
    "get_denoiser_architecture",
    "list_denoiser_architectures",
    "build_denoiser",
    "BUILTIN_DENOISERS",
    "MAX_DEPTH",
    "MAX_WIDTH",
]

#: The deepest and the widest DnCNN a name builds (a typo such as ``dncnn100000`` would not fit in memory).
MAX_DEPTH = 64
MAX_WIDTH = 1024

_DNCNN_CONSTRAINTS = {
    "channels": [Interval(Integral, 1, None)],
    "depth": [Interval(Integral, 2, MAX_DEPTH)],
    "width": [Interval(Integral, 1, MAX_WIDTH)],
}


class DnCNN(nn.Module):
    """Residual denoiser of Zhang et al. (2017): ``D(x̃) = x̃ − net(x̃)``.

    ``net`` is ``conv3x3(C→W) + ReLU``, then ``depth − 2`` blocks ``conv3x3(W→W) + BatchNorm + ReLU``,
    then ``conv3x3(W→C)``; every convolution keeps the spatial size (padding 1).

    Args:
        channels: ``C``, the image channels.
        depth: number of convolutions (≥ 2; the paper's 17).
        width: feature channels ``W`` (the paper's 64).

    Shape:
        - Input: ``(B, C, H, W)`` noisy images in pixel space
        - Output: ``(B, C, H, W)`` denoised images (not clamped)

    Example:
        >>> den = DnCNN(channels=1, depth=4, width=8)
        >>> den(torch.rand(3, 1, 12, 12)).shape
        torch.Size([3, 1, 12, 12])
        >>> sum(isinstance(m, nn.BatchNorm2d) for m in den.modules())
        2
    """

    def __init__(self, *, channels: int, depth: int = 17, width: int = 64) -> None:
        super().__init__()
        validate_params("DnCNN", {"channels": channels, "depth": depth, "width": width}, _DNCNN_CONSTRAINTS)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1, bias=True), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, channels, 3, padding=1, bias=False))
        self.net = nn.Sequential(*layers)
        self.channels, self.depth, self.width = int(channels), int(depth), int(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.net(x)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, depth={self.depth}, width={self.width}"


@dataclass(frozen=True)
class DenoiserArchitecture:
    """A denoiser architecture users select by name (``gsmooth train-denoiser --arch NAME``), the
    look of :class:`gsmooth.models.Architecture`.

    Plugins return these from the ``register_denoisers`` hook (the built-ins too, from
    ``gsmooth.denoising._plugin``); a denoiser checkpoint records the name, so the same architecture
    rebuilds it at load time.

    Args:
        name: the key users type and checkpoints record (a family: its display name, ``"dncnn<D>x<W>"``).
        build: ``build(*, input_shape, **groups) -> nn.Module``: the denoiser for ``input_shape = (C, H, W)``,
            mapping ``(B, C, H, W)`` noisy pixel images to ``(B, C, H, W)`` denoised ones; ``groups`` are
            the named groups of ``pattern``. The module may define ``gsmooth_smoothing_noise(noise, transform)``
            (see :class:`gsmooth.denoising.DenoisedClassifier`).
        description: one line for ``gsmooth plugins``.
        pattern: a regular expression making this a family of names (matched in full; named groups
            go to ``build``).

    Example:
        >>> ident = DenoiserArchitecture("identity", lambda *, input_shape: nn.Identity())
        >>> ident.build(input_shape=(1, 4, 4))(torch.ones(1, 1, 4, 4)).sum().item()
        16.0
    """

    name: str
    build: Callable[..., nn.Module]
    description: str = ""
    pattern: Optional[str] = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidParameterError(f"DenoiserArchitecture: expected a non-empty name string, got {self.name!r}")
        if not callable(self.build):
            raise InvalidParameterError(
                f"DenoiserArchitecture {self.name!r}: expected a callable build(*, input_shape), got {self.build!r}"
            )
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except (re.error, TypeError) as exc:
                raise InvalidParameterError(
                    f"DenoiserArchitecture {self.name!r}: expected pattern to be a regular expression, "
                    f"got {self.pattern!r} ({exc})"
                ) from None

    def match(self, name: str) -> Optional[dict]:
        """The keyword arguments ``name`` gives :attr:`build`, or ``None`` when it is not this architecture."""
        if self.pattern is None:
            return {} if name == self.name else None
        m = re.fullmatch(self.pattern, name)
        return {k: v for k, v in m.groupdict().items() if v is not None} if m else None


def _table() -> dict:
    from ..plugin.registry import get_registry

    return get_registry().denoisers


def list_denoiser_architectures() -> list[str]:
    """Every registered denoiser architecture name, sorted (families by their display name).

    Example:
        >>> {"dncnn", "dncnn<D>x<W>"} <= set(list_denoiser_architectures())
        True
    """
    return sorted(_table())


def get_denoiser_architecture(name: str) -> DenoiserArchitecture:
    """The registered :class:`DenoiserArchitecture` called ``name`` (exact names first, then families,
    as :func:`gsmooth.models.get_architecture`).

    Raises:
        UnknownComponentError: no denoiser architecture has that name (with a close-match suggestion).

    Example:
        >>> get_denoiser_architecture("dncnn8x16").name
        'dncnn8x16'
    """
    table = _table()
    exact = {n: info.spec for n, info in table.items() if info.spec.pattern is None}
    if isinstance(name, str) and name in exact:
        return exact[name]
    if isinstance(name, str) and name:
        for info in table.values():
            groups = info.spec.match(name) if info.spec.pattern is not None else None
            if groups is not None:
                return DenoiserArchitecture(name, functools.partial(info.spec.build, **groups), info.spec.description)
    families = [f"{n!r}" for n in sorted(table) if table[n].spec.pattern is not None]
    raise UnknownComponentError(
        f"unknown denoiser architecture: expected one of {', '.join(sorted(exact)) or '(none)'}"
        f"{', ' + ' or '.join(families) if families else ''}, got {name!r}.{suggest(name, exact)} (see `gsmooth plugins`)"
    )


def _check_shape(input_shape) -> tuple[int, int, int]:
    ok = (
        isinstance(input_shape, (tuple, list, torch.Size))
        and len(input_shape) == 3
        and all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in input_shape)
    )
    if not ok:
        raise InvalidParameterError(f"build_denoiser: expected input_shape (C, H, W) of three positive ints, got {input_shape!r}")
    return tuple(int(v) for v in input_shape)


def build_denoiser(arch: str, *, input_shape: Sequence[int]) -> nn.Module:
    """Build the denoiser ``arch`` for images of ``input_shape = (C, H, W)``.

    Returns:
        the module (training mode) with attributes ``arch`` and ``input_shape`` (tuple).

    Raises:
        UnknownComponentError: unknown ``arch``; InvalidParameterError: bad shape or depth/width.

    Example:
        >>> build_denoiser("dncnn", input_shape=(3, 32, 32)).depth
        17
    """
    shape = _check_shape(input_shape)
    den = get_denoiser_architecture(arch).build(input_shape=shape)
    if not isinstance(den, nn.Module):
        raise InvalidParameterError(f"denoiser architecture {arch!r}: expected build() to return an nn.Module, got {den!r}")
    den.arch = arch
    den.input_shape = shape
    return den


def _dncnn_family(*, input_shape, depth: str, width: str = "64") -> nn.Module:
    """The ``dncnn<D>`` / ``dncnn<D>x<W>`` family."""
    d = int(depth) if len(depth) <= 6 else MAX_DEPTH + 1
    w = int(width) if len(width) <= 6 else MAX_WIDTH + 1
    if not (2 <= d <= MAX_DEPTH and 1 <= w <= MAX_WIDTH):
        raise InvalidParameterError(
            f"denoiser architecture 'dncnn{depth}x{width}': expected depth in [2, {MAX_DEPTH}] and width in "
            f"[1, {MAX_WIDTH}] (dncnn17, dncnn6x32), got depth {depth} width {width}"
        )
    return DnCNN(channels=input_shape[0], depth=d, width=w)


#: The built-in denoiser architectures, registered by ``gsmooth.denoising._plugin`` through the
#: ``register_denoisers`` hook like any plugin's.
BUILTIN_DENOISERS: tuple[DenoiserArchitecture, ...] = (
    DenoiserArchitecture("dncnn", lambda *, input_shape: DnCNN(channels=input_shape[0]),
                         "DnCNN of Zhang et al. 2017: depth 17, width 64 (Salman et al.'s denoiser)"),
    DenoiserArchitecture("dncnn<D>x<W>", _dncnn_family, f"DnCNN of depth D (2..{MAX_DEPTH}) and width W (default 64)",
                         pattern=r"dncnn(?P<depth>\d+)(?:x(?P<width>\d+))?"),
)
