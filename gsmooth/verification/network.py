"""Feed-forward ReLU networks as a chain of affine maps, the object every verifier works on.

A :class:`ReluNetwork` is ``x ↦ A_L(relu(A_{L-1}(… relu(A_1 x) …)))`` with affine layers
``A_i(x) = W_i x + b_i`` in float64: a ReLU between consecutive layers and none after the last.
Convolutions, normalization and flattening become affine layers when a torch model is encoded
(:func:`gsmooth.verification.relu_network`). Weights are dense :class:`numpy.ndarray` or
:class:`scipy.sparse.csr_array` (convolutions are sparse).

Example:
    >>> import numpy as np
    >>> net = ReluNetwork((AffineLayer(np.array([[1.0, -1.0], [0.5, 2.0]]), np.zeros(2)),
    ...                    AffineLayer(np.array([[1.0, 1.0], [-1.0, 0.0]]), np.array([0.0, 1.0]))),
    ...                   input_shape=(2,))
    >>> net.forward(np.array([1.0, 0.0])).tolist()
    [[1.5, 0.0]]
    >>> margins, targets = net.margin_network(0)
    >>> targets, margins.forward(np.array([1.0, 0.0])).tolist()
    ((1,), [[1.5]])
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import Union

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidParameterError

__all__ = ["AffineLayer", "ReluNetwork", "Matrix"]

Matrix = Union[np.ndarray, sp.csr_array]


def _as_matrix(weight) -> Matrix:
    if sp.issparse(weight):
        return sp.csr_array(weight, dtype=np.float64)
    return np.asarray(weight, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class AffineLayer:
    """``y = W x + b``.

    Args:
        weight: ``W``, shape ``(out, in)``, dense or scipy sparse (stored as float64).
        bias: ``b``, shape ``(out,)``.
    """

    weight: Matrix
    bias: np.ndarray

    def __post_init__(self) -> None:
        w = _as_matrix(self.weight)
        b = np.asarray(self.bias, dtype=np.float64).reshape(-1)
        if w.ndim != 2 or b.shape != (w.shape[0],):
            raise InvalidParameterError(
                f"AffineLayer: expected weight (out, in) and bias (out,), got {tuple(w.shape)} and {tuple(b.shape)}"
            )
        data = w.data if sp.issparse(w) else w
        if not (np.all(np.isfinite(data)) and np.all(np.isfinite(b))):
            raise InvalidParameterError("AffineLayer: expected finite weights and bias, got NaN or inf")
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", b)

    @property
    def in_features(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])

    @property
    def sparse(self) -> bool:
        return sp.issparse(self.weight)

    def dense_weight(self) -> np.ndarray:
        """``W`` as a dense array ``(out, in)``."""
        return self.weight.toarray() if self.sparse else self.weight

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``(B, in) → (B, out)``: ``x W^T + b``."""
        x = np.asarray(x, dtype=np.float64)
        return np.asarray((self.weight @ x.T).T) + self.bias


@dataclass(frozen=True, eq=False)
class ReluNetwork:
    """An affine–ReLU chain: a ReLU after every layer but the last.

    Args:
        layers: the affine layers, ``layers[i].in_features == layers[i-1].out_features``.
        input_shape: shape of one input before flattening (e.g. ``(1, 28, 28)``); inputs of
            :meth:`forward` are flattened in C order.
    """

    layers: tuple[AffineLayer, ...]
    input_shape: tuple[int, ...]

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        if not layers or not all(isinstance(layer, AffineLayer) for layer in layers):
            raise InvalidParameterError(f"ReluNetwork: expected one or more AffineLayer, got {self.layers!r}")
        for i in range(1, len(layers)):
            if layers[i].in_features != layers[i - 1].out_features:
                raise InvalidParameterError(
                    f"ReluNetwork: layer {i} expected {layers[i - 1].out_features} inputs (the outputs of layer "
                    f"{i - 1}), got {layers[i].in_features}"
                )
        shape = tuple(int(v) for v in self.input_shape)
        if int(np.prod(shape)) != layers[0].in_features:
            raise InvalidParameterError(
                f"ReluNetwork: expected input_shape with {layers[0].in_features} elements, got {shape}"
            )
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "input_shape", shape)

    @property
    def num_inputs(self) -> int:
        return self.layers[0].in_features

    @property
    def num_outputs(self) -> int:
        return self.layers[-1].out_features

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """Width of each ReLU layer (the outputs of every affine layer but the last)."""
        return tuple(layer.out_features for layer in self.layers[:-1])

    @property
    def num_relus(self) -> int:
        return int(sum(self.hidden_sizes))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Outputs ``(B, k)`` of inputs ``(B, d)``, ``(d,)`` or ``(B, *input_shape)`` (float64)."""
        x = np.asarray(x, dtype=np.float64)
        x = x.reshape(1, -1) if x.ndim == 1 else x.reshape(x.shape[0], -1)
        if x.shape[1] != self.num_inputs:
            raise InvalidParameterError(f"ReluNetwork.forward: expected {self.num_inputs} inputs per row, got {x.shape[1]}")
        for i, layer in enumerate(self.layers):
            x = layer.apply(x)
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        return x

    def margin_network(self, label: int) -> tuple["ReluNetwork", tuple[int, ...]]:
        """The network whose outputs are the margins ``z_label − z_t`` for every ``t ≠ label``.

        Its last layer is ``C W_L, C b_L`` with ``C`` the ``(k−1, k)`` specification matrix, so
        verifiers bound the margins directly (tighter than bounding ``z`` and subtracting).

        Returns:
            ``(network, targets)``: ``targets[j]`` is the class ``t`` of output ``j``.
        """
        k = self.num_outputs
        if not isinstance(label, Integral) or isinstance(label, bool) or not 0 <= int(label) < k:
            raise InvalidParameterError(f"margin_network: expected a label in 0..{k - 1}, got {label!r}")
        if k < 2:
            raise InvalidParameterError(f"margin_network: expected a network with 2 or more outputs, got {k}")
        label = int(label)
        targets = tuple(t for t in range(k) if t != label)
        spec = np.zeros((k - 1, k))
        spec[:, label] = 1.0
        spec[np.arange(k - 1), targets] = -1.0
        last = self.layers[-1]
        layer = AffineLayer(np.asarray(spec @ last.dense_weight()), spec @ last.bias)
        return ReluNetwork(self.layers[:-1] + (layer,), self.input_shape), targets
