"""Classifier architectures, with input normalization as the first layer.

Every model built by :func:`build_model` is ``nn.Sequential(normalize=Normalize(mean, std),
net=<architecture>)``: it takes raw images in ``[0, 1]`` pixel space, so smoothing noise is added
and certified radii are measured in pixel space, as in Cohen et al. (2019).

Architectures (``available_architectures()``):

- ``small_cnn``: two conv layers (32, 64 channels, 3x3, each followed by 2x2 max-pooling), a
  128-unit hidden layer; for 28x28 inputs (any size and channel count works). Fast on CPU.
- ``resnet20``, ``resnet32``, ``resnet44``, ``resnet56``, ``resnet110`` and generally
  ``resnet<depth>`` with ``depth = 6n + 2``: the CIFAR ResNets of He et al. (2016), as used by
  Cohen et al. (2019).
- ``mlp<widths>``: a fully connected ReLU network, e.g. ``mlp100`` (one hidden layer of 100 units)
  or ``mlp256x128`` (two): flatten, ``Linear + ReLU`` per width, a linear layer to the ``k``
  classes. Small ones are what deterministic verification (:mod:`gsmooth.verification`) decides exactly.
- ``tv:<name>``: any torchvision classification model, e.g. ``tv:resnet18``, built with
  ``torchvision.models.get_model(name, weights=None, num_classes=k)``; weights are never downloaded.

Example:
    >>> from gsmooth.models.architectures import build_model
    >>> model = build_model("resnet20", num_classes=10, input_shape=(3, 32, 32),
    ...                     mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616))
    >>> model(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    >>> model.arch, model.num_classes, model.input_shape
    ('resnet20', 10, (3, 32, 32))
"""

from __future__ import annotations

import functools
import math
import re
from collections import OrderedDict
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Callable, Optional, Sequence, Union

import torch
from torch import nn

from ..errors import InputError, InvalidParameterError, UnknownComponentError, suggest
from ..validation import Interval, validate_params

__all__ = [
    "Normalize",
    "SmallCNN",
    "BasicBlock",
    "CifarResNet",
    "small_cnn",
    "resnet",
    "resnet20",
    "resnet110",
    "mlp",
    "torchvision_model",
    "build_model",
    "available_architectures",
    "Architecture",
    "get_architecture",
    "list_architectures",
    "BUILTIN_ARCHITECTURES",
]

TV_PREFIX = "tv:"


# --------------------------------------------------------------------------------------------
# Normalization layer
# --------------------------------------------------------------------------------------------


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std``, the first layer of every gsmooth model.

    ``mean`` and ``std`` are buffers (saved in the state dict, moved by ``.to(device)``).

    Args:
        mean: per-channel means, length ``C``.
        std: per-channel standard deviations (> 0), length ``C``.

    Shape:
        - Input: ``(B, C, H, W)``
        - Output: ``(B, C, H, W)``

    Example:
        >>> norm = Normalize(mean=(0.5,), std=(0.25,))
        >>> norm(torch.ones(1, 1, 2, 2))[0, 0, 0, 0].item()
        2.0
    """

    def __init__(self, *, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        mean_t = torch.as_tensor(mean, dtype=torch.float32).flatten()
        std_t = torch.as_tensor(std, dtype=torch.float32).flatten()
        if mean_t.numel() == 0 or mean_t.shape != std_t.shape:
            raise InvalidParameterError(
                f"Normalize: expected mean and std of the same non-zero length, "
                f"got {mean_t.numel()} and {std_t.numel()}"
            )
        if not bool(torch.isfinite(mean_t).all()) or not bool((std_t > 0).all()):
            raise InvalidParameterError(
                f"Normalize: expected finite mean and std > 0, got mean={mean_t.tolist()}, "
                f"std={std_t.tolist()}"
            )
        self.register_buffer("mean", mean_t.view(-1, 1, 1))
        self.register_buffer("std", std_t.view(-1, 1, 1))

    @property
    def num_channels(self) -> int:
        return self.mean.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3 or x.shape[-3] != self.mean.shape[0]:
            raise InputError(
                f"Normalize: expected input (B, {self.mean.shape[0]}, H, W), got {tuple(x.shape)}"
            )
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        fmt = lambda t: "(" + ", ".join(f"{v:.4g}" for v in t.flatten().tolist()) + ")"  # noqa: E731
        return f"mean={fmt(self.mean)}, std={fmt(self.std)}"


# --------------------------------------------------------------------------------------------
# Small CNN (MNIST / Fashion-MNIST)
# --------------------------------------------------------------------------------------------


class SmallCNN(nn.Module):
    """conv5x5/2(32)-ReLU → conv3x3/2(64)-ReLU → conv3x3(64)-ReLU → FC(128)-ReLU-[dropout] → FC(k).

    Strided convolutions instead of conv+max-pool: on a 2-core CPU the first full-resolution
    32-channel activation map of a conv+pool design is memory-bound and made the network ~3.5x
    slower (1.4k vs 4.9k images/s at batch 1000) for no accuracy gain on 28x28 data. About
    6 MFLOPs per 28x28 image, ~460k parameters.

    Args:
        in_channels: ``C``.
        num_classes: ``k``.
        input_size: ``(H, W)``, both ≥ 4 (fixes the size of the first linear layer).
        dropout: dropout probability before the last layer (0 disables it).

    Shape:
        - Input: ``(B, C, H, W)`` (already normalized)
        - Output: ``(B, k)`` logits

    Example:
        >>> SmallCNN(in_channels=1, num_classes=10)(torch.rand(4, 1, 28, 28)).shape
        torch.Size([4, 10])
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        num_classes: int = 10,
        input_size: tuple[int, int] = (28, 28),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        h, w = input_size
        if h < 4 or w < 4:
            raise InvalidParameterError(
                f"small_cnn: expected an input size of at least 4x4, got {h}x{w}"
            )
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, kernel_size=5, stride=2, padding=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, kernel_size=3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
        )
        fh, fw = (h + 1) // 2, (w + 1) // 2
        fh, fw = (fh + 1) // 2, (fw + 1) // 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * fh * fw, 128),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def small_cnn(*, num_classes: int, in_channels: int = 1, input_size=(28, 28), dropout: float = 0.0) -> SmallCNN:
    """Build a :class:`SmallCNN` (see there)."""
    return SmallCNN(
        in_channels=in_channels, num_classes=num_classes, input_size=tuple(input_size), dropout=dropout
    )


# --------------------------------------------------------------------------------------------
# CIFAR ResNets (He et al. 2016, section 4.2)
# --------------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection.

    When the shape changes, the shortcut is a 1x1 conv + BN projection (as in the CIFAR ResNet of
    Cohen et al.'s code, which the published randomized-smoothing tables use).
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.downsample(x))


class CifarResNet(nn.Module):
    """ResNet for 32x32 images: 3 stages of ``n`` BasicBlocks with 16/32/64 channels.

    ``depth = 6n + 2`` counts the weighted layers on the main path: the stem conv, ``6n`` convs in
    the blocks and the final linear layer (the 1x1 projection shortcuts are not counted).
    Global average pooling makes it work for any input size (e.g. 28x28).

    Args:
        depth: ``6n + 2`` with ``n ≥ 1`` (20, 32, 44, 56, 110, …).
        num_classes: ``k``.
        in_channels: ``C``.

    Shape:
        - Input: ``(B, C, H, W)`` (already normalized)
        - Output: ``(B, k)`` logits

    Example:
        >>> CifarResNet(depth=20, num_classes=10)(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, *, depth: int, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        if (isinstance(depth, bool) or not isinstance(depth, Integral) or depth < 8 or (depth - 2) % 6
                or depth > MAX_RESNET_DEPTH):
            raise InvalidParameterError(
                f"resnet: expected depth = 6n + 2 with n ≥ 1 (8, 14, 20, 32, 44, 56, 110, …) up to {MAX_RESNET_DEPTH}, "
                f"got {depth!r}"
            )
        n = (int(depth) - 2) // 6
        self.depth = int(depth)
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._stage(16, 16, n, stride=1)
        self.layer2 = self._stage(16, 32, n, stride=2)
        self.layer3 = self._stage(32, 64, n, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @staticmethod
    def _stage(in_planes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = [BasicBlock(in_planes, planes, stride)]
        layers += [BasicBlock(planes, planes, 1) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet(depth: int, *, num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """CIFAR ResNet of the given ``depth = 6n + 2`` (see :class:`CifarResNet`)."""
    return CifarResNet(depth=depth, num_classes=num_classes, in_channels=in_channels)


def resnet20(*, num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """CIFAR ResNet-20 (n = 3, 0.27 M parameters)."""
    return resnet(20, num_classes=num_classes, in_channels=in_channels)


def resnet110(*, num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """CIFAR ResNet-110 (n = 18, 1.7 M parameters), the model of Cohen et al.'s CIFAR-10 tables."""
    return resnet(110, num_classes=num_classes, in_channels=in_channels)


# --------------------------------------------------------------------------------------------
# Fully connected ReLU networks (the ``mlp<widths>`` family)
# --------------------------------------------------------------------------------------------

#: The widest hidden layer of an ``mlp<widths>`` name, and the most hidden layers (a typo such as
#: ``mlp1000000000`` would not fit in memory).
MAX_MLP_WIDTH = 65536
MAX_MLP_LAYERS = 16


def mlp(widths: Sequence[int], *, num_classes: int, input_shape: Sequence[int]) -> nn.Sequential:
    """``Flatten → [Linear(·, w) → ReLU] for w in widths → Linear(·, k)``.

    Args:
        widths: the hidden layer widths, each in ``[1, 65536]``, at most 16 of them (none: a
            linear classifier).
        num_classes: ``k``.
        input_shape: ``(C, H, W)`` of one image (``C·H·W`` inputs).

    Shape:
        - Input: ``(B, C, H, W)`` (already normalized)
        - Output: ``(B, k)`` logits

    Example:
        >>> net = mlp([256, 128], num_classes=10, input_shape=(1, 28, 28))
        >>> net(torch.rand(2, 1, 28, 28)).shape, sum(p.numel() for p in net.parameters())
        (torch.Size([2, 10]), 235146)
    """
    widths = list(widths)
    if len(widths) > MAX_MLP_LAYERS or not all(
        isinstance(w, Integral) and not isinstance(w, bool) and 1 <= w <= MAX_MLP_WIDTH for w in widths
    ):
        raise InvalidParameterError(
            f"mlp: expected at most {MAX_MLP_LAYERS} hidden widths, each an integer in [1, {MAX_MLP_WIDTH}], got {widths!r}"
        )
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = math.prod(int(v) for v in input_shape)
    for w in widths:
        layers += [nn.Linear(fan_in, int(w)), nn.ReLU()]
        fan_in = int(w)
    layers.append(nn.Linear(fan_in, int(num_classes)))
    return nn.Sequential(*layers)


def _mlp_family(*, input_shape, num_classes: int, widths: str) -> nn.Module:
    """The ``mlp<widths>`` family: ``mlp100``, ``mlp256x128``, … (widths separated by ``x``)."""
    parts = widths.split("x")
    if len(parts) > MAX_MLP_LAYERS or any(len(p) > 6 or not 1 <= int(p) <= MAX_MLP_WIDTH for p in parts):
        shown = widths if len(widths) <= 40 else widths[:40] + "…"
        raise InvalidParameterError(
            f"architecture 'mlp{shown}': expected up to {MAX_MLP_LAYERS} hidden widths in [1, {MAX_MLP_WIDTH}] "
            f"separated by 'x' (mlp100, mlp256x128), got {shown}"
        )
    return mlp([int(p) for p in parts], num_classes=num_classes, input_shape=input_shape)


# --------------------------------------------------------------------------------------------
# torchvision models
# --------------------------------------------------------------------------------------------


class _RepeatChannels(nn.Module):
    """Repeat a 1-channel input to ``channels`` channels (grayscale into an RGB torchvision model)."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, self.channels, -1, -1)

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


def torchvision_model(name: str, *, num_classes: int, in_channels: int = 3) -> nn.Module:
    """A torchvision classification model with random weights (never downloads).

    Grayscale inputs (``in_channels=1``) are repeated to 3 channels in front of the model.

    Example:
        >>> torchvision_model("resnet18", num_classes=10)(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    from torchvision import models as tvm

    known = tvm.list_models(module=tvm)
    if name not in known:
        hint = suggest(name, known, show=lambda c: TV_PREFIX + c)
        raise UnknownComponentError(
            f"unknown torchvision architecture: expected a name from "
            f"torchvision.models.list_models() (e.g. 'tv:resnet18'), got {TV_PREFIX + name!r}.{hint}"
        )
    if in_channels not in (1, 3):
        raise InvalidParameterError(
            f"{TV_PREFIX}{name}: expected 1 or 3 input channels, got {in_channels}"
        )
    try:
        net = tvm.get_model(name, weights=None, num_classes=num_classes)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"{TV_PREFIX}{name}: expected it to build with num_classes={num_classes}, got {exc}"
        ) from exc
    if in_channels == 1:
        net = nn.Sequential(OrderedDict(expand=_RepeatChannels(3), model=net))
    return net


# --------------------------------------------------------------------------------------------
# Architectures by name: the register/get API (registered through the `register_architectures` hook)
# --------------------------------------------------------------------------------------------

#: The deepest CIFAR ResNet built (He et al.'s ResNet-1202): a deeper one would not fit in memory
#: (``resnet8000000000000000000000`` is 6n + 2 too).
MAX_RESNET_DEPTH = 1202


@dataclass(frozen=True)
class Architecture:
    """A classifier architecture users select by name (``gsmooth train --arch NAME``).

    Plugins return these from the ``register_architectures`` hook (the built-ins too, from
    ``gsmooth.models._plugin``); :func:`get_architecture` finds one by name and :func:`build_model`
    builds it behind the normalization layer. A checkpoint records the name, so the same
    architecture rebuilds the model at load time.

    Args:
        name: the key users type and checkpoints record (for a family: its display name, e.g.
            ``"resnet<6n+2>"``).
        build: ``build(*, input_shape, num_classes, **groups) -> nn.Module``: the network for
            ``input_shape = (C, H, W)`` and ``num_classes = k``, mapping normalized ``(B, C, H, W)``
            images to ``(B, k)`` logits; ``groups`` are the named groups of ``pattern``.
        description: one line for ``gsmooth plugins``.
        pattern: a regular expression making this a *family* of names, matched in full against a
            requested name that is not registered itself; its named groups are passed to ``build``.

    Example:
        >>> tiny = Architecture("tiny_linear", lambda *, input_shape, num_classes: nn.Sequential(
        ...     nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes)))
        >>> tiny.build(input_shape=(1, 4, 4), num_classes=3)(torch.rand(2, 1, 4, 4)).shape
        torch.Size([2, 3])
    """

    name: str
    build: Callable[..., nn.Module]
    description: str = ""
    pattern: Optional[str] = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidParameterError(f"Architecture: expected a non-empty name string, got {self.name!r}")
        if not callable(self.build):
            raise InvalidParameterError(
                f"Architecture {self.name!r}: expected a callable build(*, input_shape, num_classes), "
                f"got {self.build!r}"
            )
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except (re.error, TypeError) as exc:
                raise InvalidParameterError(
                    f"Architecture {self.name!r}: expected pattern to be a regular expression, "
                    f"got {self.pattern!r} ({exc})"
                ) from None

    def match(self, name: str) -> Optional[dict]:
        """The keyword arguments ``name`` gives :attr:`build` (the pattern's named groups), or
        ``None`` when it is not this architecture."""
        if self.pattern is None:
            return {} if name == self.name else None
        m = re.fullmatch(self.pattern, name)
        return m.groupdict() if m else None


def _architectures() -> dict:
    from ..plugin.registry import get_registry

    return get_registry().architectures


def list_architectures() -> list[str]:
    """Every registered architecture name, sorted (families by their display name, e.g.
    ``"resnet<6n+2>"``, ``"tv:<model>"``), like ``torchvision.models.list_models()``.

    Example:
        >>> {"small_cnn", "resnet20", "resnet110"} <= set(list_architectures())
        True
    """
    return sorted(_architectures())


def available_architectures() -> list[str]:
    """Registered architecture names (same as :func:`list_architectures`)."""
    return list_architectures()


def _normalized(arch: str) -> str:
    return arch.replace("-", "_").lower()


def _resolve(arch: str) -> tuple[Architecture, dict]:
    table = _architectures()
    exact = {name: info.spec for name, info in table.items() if info.spec.pattern is None}
    for key in dict.fromkeys((arch, _normalized(arch))):
        if key in exact:
            return exact[key], {}
    for key in dict.fromkeys((arch, _normalized(arch))):
        for info in table.values():
            groups = info.spec.match(key) if info.spec.pattern is not None else None
            if groups is not None:
                return info.spec, groups
    from ..plugin.registry import suggest

    families = [f"{name!r}" for name in sorted(table) if table[name].spec.pattern is not None]
    raise UnknownComponentError(
        f"unknown architecture: expected one of {', '.join(sorted(exact)) or '(none)'}"
        f"{', ' + ' or '.join(families) if families else ''}, got {arch!r}."
        f"{suggest(_normalized(arch), exact)} (see `gsmooth plugins`)"
    )


def get_architecture(name: str) -> Architecture:
    """The registered :class:`Architecture` called ``name`` (``torchvision.models.get_model_builder``
    style): a registered name (matched as given, then case-insensitively with ``-`` read as ``_``),
    or a name of a registered family (``resnet<6n+2>``, ``tv:<torchvision model>``), returned bound
    to that name.

    Raises:
        UnknownComponentError: no architecture has that name (with a close-match suggestion).

    Example:
        >>> get_architecture("small_cnn").build(input_shape=(1, 28, 28), num_classes=10)(
        ...     torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 10])
        >>> get_architecture("resnet32").name
        'resnet32'
    """
    if not isinstance(name, str) or not name:
        raise UnknownComponentError(
            f"architecture: expected one of {', '.join(list_architectures())}, got {name!r}"
        )
    spec, groups = _resolve(name)
    if spec.pattern is None:
        return spec
    return Architecture(name, functools.partial(spec.build, **groups), spec.description)


def _resnet_family(*, input_shape, num_classes: int, digits: str) -> nn.Module:
    """The ``resnet<6n+2>`` family: a CIFAR ResNet of any valid depth."""
    depth = int(digits) if len(digits) <= 6 else None  # (Python refuses int() of 4300+ digits)
    if depth is not None and 8 <= depth <= MAX_RESNET_DEPTH and (depth - 2) % 6 == 0:
        return resnet(depth, num_classes=num_classes, in_channels=input_shape[0])
    key = f"resnet{digits}"
    hint = f" For the ImageNet ResNet use 'tv:{key}'." if key in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152") else ""
    shown = digits if len(digits) <= 24 else f"{digits[:12]}…({len(digits)} digits)"
    raise InvalidParameterError(
        f"architecture 'resnet{shown}': CIFAR ResNets expected depth = 6n + 2 "
        f"(20, 32, 44, 56, 110, …) up to {MAX_RESNET_DEPTH}, got {shown}.{hint}"
    )


def _torchvision_family(*, input_shape, num_classes: int, model: str) -> nn.Module:
    """The ``tv:<name>`` family: any torchvision classification model (random weights)."""
    return torchvision_model(model, num_classes=num_classes, in_channels=input_shape[0])


#: The built-in architectures, registered by ``gsmooth.models._plugin`` through the
#: ``register_architectures`` hook like any plugin's.
BUILTIN_ARCHITECTURES: tuple[Architecture, ...] = (
    Architecture(
        "small_cnn",
        lambda *, input_shape, num_classes: small_cnn(
            num_classes=num_classes, in_channels=input_shape[0], input_size=input_shape[1:]),
        "3 strided convs + 128-unit FC, for 28x28 (any size)",
    ),
    *(
        Architecture(
            f"resnet{d}",
            (lambda d: lambda *, input_shape, num_classes: resnet(d, num_classes=num_classes, in_channels=input_shape[0]))(d),
            f"CIFAR ResNet-{d}",
        )
        for d in (20, 32, 44, 56, 110)
    ),
    Architecture("resnet<6n+2>", _resnet_family, f"CIFAR ResNet of depth 6n + 2 up to {MAX_RESNET_DEPTH}",
                 pattern=r"resnet(?P<digits>\d+)"),
    Architecture("mlp<widths>", _mlp_family,
                 "fully connected ReLU net: flatten, Linear+ReLU per width, Linear to k (mlp100, mlp256x128)",
                 pattern=r"mlp(?P<widths>\d+(?:x\d+)*)"),
    Architecture("tv:<model>", _torchvision_family,
                 "torchvision.models.get_model(name, weights=None)", pattern=r"tv:(?P<model>.+)"),
)


def _make_net(arch: str, num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    return get_architecture(arch).build(input_shape=input_shape, num_classes=num_classes)


def _check_shape(input_shape) -> tuple[int, int, int]:
    ok = (
        isinstance(input_shape, (tuple, list, torch.Size))
        and len(input_shape) == 3
        and all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 1 for v in input_shape)
    )
    if not ok:
        raise InvalidParameterError(
            f"build_model: expected input_shape (C, H, W) of three positive ints, got {input_shape!r}"
        )
    return tuple(int(v) for v in input_shape)


def _per_channel(name: str, value: Union[float, Sequence[float]], channels: int) -> tuple[float, ...]:
    if isinstance(value, Real) and not isinstance(value, bool):
        value = (float(value),) * channels
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        values = ()
    if len(values) == 1 and channels > 1:
        values = values * channels
    if len(values) != channels or not all(math.isfinite(v) for v in values):
        raise InvalidParameterError(
            f"build_model: expected {name} as {channels} finite per-channel value(s), got {value!r}"
        )
    return values


def build_model(
    arch: str,
    *,
    num_classes: int,
    input_shape: Sequence[int],
    mean: Union[float, Sequence[float]],
    std: Union[float, Sequence[float]],
) -> nn.Sequential:
    """Build ``nn.Sequential(normalize=Normalize(mean, std), net=<arch>)`` taking ``[0, 1]`` images.

    Args:
        arch: a name from :func:`available_architectures`, ``"resnet<6n+2>"`` or
            ``"tv:<torchvision model name>"``.
        num_classes: ``k`` (≥ 1).
        input_shape: ``(C, H, W)``.
        mean: per-channel mean (length ``C``, or one number for all channels).
        std: per-channel std (> 0).

    Returns:
        The model, in training mode, with attributes ``arch``, ``num_classes``, ``input_shape``
        (tuple), ``mean`` and ``std`` (tuples). ``model.normalize`` / ``model[0]`` is the
        :class:`Normalize` layer, ``model.net`` / ``model[1]`` the architecture.

    Shape:
        - Input: ``(B, C, H, W)`` in ``[0, 1]``
        - Output: ``(B, k)`` logits

    Raises:
        UnknownComponentError: unknown ``arch`` (with a close-match suggestion).
        InvalidParameterError: bad ``num_classes``, ``input_shape``, ``mean``/``std`` or depth.

    Example:
        >>> m = build_model("small_cnn", num_classes=10, input_shape=(1, 28, 28), mean=0.286, std=0.353)
        >>> m(torch.rand(8, 1, 28, 28)).shape
        torch.Size([8, 10])
    """
    if not isinstance(arch, str) or not arch:
        raise UnknownComponentError(
            f"architecture: expected one of {', '.join(available_architectures())}, got {arch!r}"
        )
    validate_params("build_model", {"num_classes": num_classes}, {"num_classes": [Interval(Integral, 1, None)]})
    shape = _check_shape(input_shape)
    mean_t = _per_channel("mean", mean, shape[0])
    std_t = _per_channel("std", std, shape[0])
    if any(s <= 0 for s in std_t):
        raise InvalidParameterError(f"build_model: expected std > 0, got {std_t}")
    net = _make_net(arch, int(num_classes), shape)
    model = nn.Sequential(OrderedDict(normalize=Normalize(mean=mean_t, std=std_t), net=net))
    model.arch = arch
    model.num_classes = int(num_classes)
    model.input_shape = shape
    model.mean = mean_t
    model.std = std_t
    return model
