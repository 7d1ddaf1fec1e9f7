"""Stand-ins for the verification modules written in parallel (issue 14), with their specified
signatures, used by the tests of ``verify`` / ``gsmooth verify`` where the real one is missing.

:func:`use_relu_network` keeps the real :func:`gsmooth.verification.extract.relu_network` when it is
there (after the merge every test runs on it) and otherwise installs :func:`simple_relu_network`,
which encodes the chains these tests build: gsmooth's ``Normalize``, ``Flatten``, ``Linear``,
``ReLU``, ``Identity`` and nested ``Sequential``s.
"""

from __future__ import annotations

import importlib
import sys
import types

import numpy as np
from torch import nn

from gsmooth.errors import UnsupportedModelError
from gsmooth.models.architectures import Normalize
from gsmooth.verification import AffineLayer, ReluNetwork


def _leaves(module: nn.Module, prefix: str = ""):
    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            yield from _leaves(child, f"{prefix}.{name}" if prefix else name)
    else:
        yield prefix or type(module).__name__, module


def simple_relu_network(model: nn.Module, *, input_shape) -> ReluNetwork:
    """Normalize / Flatten / Linear / ReLU / Identity chains as a :class:`ReluNetwork` (float64)."""
    shape = tuple(int(v) for v in input_shape)
    d = int(np.prod(shape))
    w, b = np.eye(d), np.zeros(d)  # the affine map since the last ReLU
    layers: list[AffineLayer] = []
    for name, m in _leaves(model):
        if isinstance(m, (nn.Flatten, nn.Identity)):
            continue
        if isinstance(m, Normalize):
            mean = m.mean.detach().double().numpy().reshape(-1)
            std = m.std.detach().double().numpy().reshape(-1)
            per = np.repeat(np.arange(shape[0]), d // shape[0])
            w, b = w / std[per][:, None], (b - mean[per]) / std[per]
        elif isinstance(m, nn.Linear):
            lw = m.weight.detach().double().numpy()
            lb = m.bias.detach().double().numpy() if m.bias is not None else np.zeros(lw.shape[0])
            w, b = lw @ w, lw @ b + lb
        elif isinstance(m, nn.ReLU):
            layers.append(AffineLayer(w, b))
            w, b = np.eye(w.shape[0]), np.zeros(w.shape[0])
        else:
            raise UnsupportedModelError(
                f"expected a feed-forward chain of Linear/Conv2d/ReLU/… layers, got {type(m).__name__} at {name}"
            )
    layers.append(AffineLayer(w, b))
    return ReluNetwork(tuple(layers), input_shape=shape)


def use_relu_network(monkeypatch) -> str:
    """The real encoder when it exists, else :func:`simple_relu_network`; returns which."""
    try:
        importlib.import_module("gsmooth.verification.extract")
        return "real"
    except ImportError:
        module = types.ModuleType("gsmooth.verification.extract")
        module.relu_network = simple_relu_network
        monkeypatch.setitem(sys.modules, module.__name__, module)
        return "fake"
