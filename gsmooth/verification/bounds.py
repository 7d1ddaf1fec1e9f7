"""Bounds on every neuron of a :class:`~gsmooth.verification.network.ReluNetwork` over an
:class:`~gsmooth.verification.region.InputRegion`.

:func:`interval_bounds` is interval bound propagation (IBP; Gowal et al. 2018): each affine layer
maps a box to the box ``W⁺ l + W⁻ u + b ≤ y ≤ W⁺ u + W⁻ l + b``. It is sound, cheap and loose;
its bounds also serve as the intermediate (pre-activation) bounds of the LP and the big-M
constants of the MILP.

Example:
    >>> import numpy as np
    >>> from gsmooth.verification.network import AffineLayer, ReluNetwork
    >>> from gsmooth.verification.region import input_region
    >>> net = ReluNetwork((AffineLayer(np.array([[1.0, -1.0]]), np.zeros(1)),
    ...                    AffineLayer(np.array([[2.0]]), np.array([-1.0]))), input_shape=(2,))
    >>> b = interval_bounds(net, input_region(np.array([0.5, 0.5]), eps=0.1, norm="linf"))
    >>> [round(float(v), 6) for v in (b.pre_lower[0][0], b.pre_upper[0][0], b.out_lower[0], b.out_upper[0])]
    [-0.2, 0.2, -1.0, -0.6]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .network import AffineLayer, ReluNetwork
from .region import InputRegion

__all__ = ["NetworkBounds", "interval_bounds", "affine_box"]


@dataclass(frozen=True, eq=False)
class NetworkBounds:
    """Lower and upper bounds of every pre-activation and of the outputs.

    Attributes:
        pre_lower, pre_upper: one array per ReLU layer: bounds of its inputs (the outputs of
            affine layer ``i`` for ``i < L − 1``).
        out_lower, out_upper: bounds of the network's outputs ``(k,)``.
        method: what produced them (``"ibp"``, ``"crown"``, ``"lp"``, …).
    """

    pre_lower: tuple[np.ndarray, ...]
    pre_upper: tuple[np.ndarray, ...]
    out_lower: np.ndarray
    out_upper: np.ndarray
    method: str = "ibp"

    def intersect(self, other: "NetworkBounds", *, method: str | None = None) -> "NetworkBounds":
        """The tighter of the two bounds, neuron by neuron (both must hold: both are sound)."""
        return NetworkBounds(
            tuple(np.maximum(a, b) for a, b in zip(self.pre_lower, other.pre_lower)),
            tuple(np.minimum(a, b) for a, b in zip(self.pre_upper, other.pre_upper)),
            np.maximum(self.out_lower, other.out_lower),
            np.minimum(self.out_upper, other.out_upper),
            method or self.method,
        )


def _split(weight):
    if sp.issparse(weight):
        return weight.maximum(0), weight.minimum(0)
    return np.maximum(weight, 0.0), np.minimum(weight, 0.0)


def affine_box(layer: AffineLayer, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The box ``[W⁺l + W⁻u + b, W⁺u + W⁻l + b]`` holding ``W x + b`` for ``l ≤ x ≤ u``."""
    pos, neg = _split(layer.weight)
    lo = np.asarray(pos @ lower + neg @ upper).reshape(-1) + layer.bias
    hi = np.asarray(pos @ upper + neg @ lower).reshape(-1) + layer.bias
    return lo, hi


def interval_bounds(net: ReluNetwork, region: InputRegion) -> NetworkBounds:
    """Interval bound propagation through ``net`` over ``region``.

    The first layer is bounded row by row with :meth:`InputRegion.minimize_linear` (exact for
    ℓ∞, the dual norm for ℓ2), the others by :func:`affine_box`.
    """
    first = net.layers[0]
    w = first.dense_weight()
    lo, hi = region.minimize_linear(w, first.bias), region.maximize_linear(w, first.bias)
    pre_lower, pre_upper = [], []
    for layer in net.layers[1:]:
        pre_lower.append(lo)
        pre_upper.append(hi)
        lo, hi = affine_box(layer, np.maximum(lo, 0.0), np.maximum(hi, 0.0))
    return NetworkBounds(tuple(pre_lower), tuple(pre_upper), lo, hi, "ibp")
