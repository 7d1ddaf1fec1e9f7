"""CROWN bounds (Zhang et al., NeurIPS 2018, "Efficient Neural Network Robustness Certification
with General Activation Functions") on a :class:`~gsmooth.verification.network.ReluNetwork`.

For each layer in turn, the bounds of its neurons are obtained by a backward pass: the neuron is
written as a linear function of the previous ReLU outputs, each ReLU ``h = relu(z)`` with
pre-activation bounds ``l ≤ z ≤ u`` is replaced by a linear relaxation, and the resulting linear
function of the input is minimized over the region
(:meth:`~gsmooth.verification.region.InputRegion.minimize_linear`: exact over the box for ℓ∞,
the dual norm and the box for ℓ2). The relaxations:

- stable neurons are exact: ``h = z`` when ``l ≥ 0``, ``h = 0`` when ``u ≤ 0``;
- unstable ones (``l < 0 < u``): the chord ``h ≤ u/(u − l) · (z − l)`` above, and ``h ≥ α z``
  below with the adaptive slope ``α = 1`` if ``u > −l``, else ``0``;
- a positive coefficient takes the lower relaxation, a negative one the upper.

Each layer's bounds are intersected with interval bound propagation's
(:func:`~gsmooth.verification.bounds.interval_bounds`) and with ``intermediate`` when given,
*before* the later layers use them; the outputs too. So the returned bounds are never looser than
IBP's (neuron by neuron) and hold wherever both hold. All arithmetic is float64 (dense numpy
backward matrices, sparse @ dense through convolutions, processed in blocks of rows to bound
memory): bounds of the real-arithmetic network up to float64 rounding.

Example:
    >>> import numpy as np
    >>> from gsmooth.verification.network import AffineLayer, ReluNetwork
    >>> from gsmooth.verification.region import input_region
    >>> from gsmooth.verification.bounds import interval_bounds
    >>> # y = relu(x1 + x2 + 3) - relu(x1 + x2 + 0.2) over x in [-1, 1]^2: truly 1 <= y <= 2.8
    >>> net = ReluNetwork((AffineLayer(np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([3.0, 0.2])),
    ...                    AffineLayer(np.array([[1.0, -1.0]]), np.zeros(1))), input_shape=(2,))
    >>> region = input_region(np.zeros(2), eps=1.0, norm="linf", domain=None)
    >>> b = crown_bounds(net, region)
    >>> [round(float(v), 9) for v in (b.out_lower[0], b.out_upper[0])]
    [1.0, 2.8]
    >>> ibp = interval_bounds(net, region)
    >>> [round(float(v), 9) for v in (ibp.out_lower[0], ibp.out_upper[0])]
    [-1.2, 5.0]
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidParameterError
from .bounds import NetworkBounds, interval_bounds
from .network import ReluNetwork
from .region import InputRegion

__all__ = ["crown_bounds"]

#: Dense float64 elements of one block of backward rows (×8 bytes; a few such arrays are live).
BLOCK_ELEMENTS = 1 << 22
#: How far an intermediate lower bound may exceed the upper one (float rounding) before the
#: bounds are refused as not holding over the region.
CROSSING_TOLERANCE = 1e-9


def _relaxation(lower: np.ndarray, upper: np.ndarray):
    """Per neuron: the lower slope ``a`` (``h ≥ a z``) and the upper line ``h ≤ s z + t``."""
    active, unstable = lower >= 0.0, (lower < 0.0) & (upper > 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        chord = np.where(unstable, upper / (upper - lower), 0.0)
    s = np.where(active, 1.0, chord)
    t = np.where(unstable, -chord * lower, 0.0)
    a = np.where(active, 1.0, np.where(unstable & (upper > -lower), 1.0, 0.0))
    return a, s, t


class _Backward:
    """The relaxed layers below the one being bounded, with the weights restricted to the
    neurons that can be non-zero (``u > 0``): inactive ReLUs contribute nothing."""

    def __init__(self, net: ReluNetwork) -> None:
        self.net = net
        self.relax: list[tuple] = []  # per ReLU layer i: (a, s, t, keep, rows `keep` of W_i (sparse: transposed))

    def add(self, lower: np.ndarray, upper: np.ndarray) -> None:
        """The bounds of the next ReLU layer (the outputs of affine layer ``len(self.relax)``)."""
        layer = self.net.layers[len(self.relax)]
        a, s, t = _relaxation(lower, upper)
        keep = np.flatnonzero(upper > 0.0)
        w = sp.csr_array(layer.weight[keep].T) if layer.sparse else layer.weight[keep]
        self.relax.append((a, s, t, keep, w))

    def concretize(self, k: int, rows: np.ndarray, region: InputRegion) -> np.ndarray:
        """Lower bounds of ``rows · h_k + 0`` over the region, where ``h_k`` is the output of ReLU
        layer ``k`` (``rows``: ``(m, n_k)``; ``k = -1`` means the input itself)."""
        lam = np.asarray(rows, dtype=np.float64)
        const = np.zeros(lam.shape[0])
        for i in range(k, -1, -1):
            a, s, t, keep, w = self.relax[i]
            neg = np.minimum(lam, 0.0)
            const += neg @ t
            m = np.maximum(lam, 0.0) * a + neg * s  # h_i relaxed: the coefficients on z_i
            del neg, lam
            const += m @ self.net.layers[i].bias  # z_i = W_i h_{i-1} + b_i
            m = m[:, keep]
            lam = np.asarray((w @ m.T).T) if sp.issparse(w) else m @ w
        return region.minimize_linear(lam, const)


def _layer_bounds(back: _Backward, k: int, region: InputRegion):
    """Lower and upper bounds of the outputs of affine layer ``k ≥ 1`` by CROWN, in row blocks."""
    layer = back.net.layers[k]
    n_out, width = layer.out_features, max(layer.in_features, back.net.num_inputs, *back.net.hidden_sizes)
    block = max(1, BLOCK_ELEMENTS // (2 * width))
    lower, upper = np.empty(n_out), np.empty(n_out)
    for start in range(0, n_out, block):
        stop = min(n_out, start + block)
        w = layer.weight[start:stop]
        w = w.toarray() if sp.issparse(w) else np.asarray(w)
        b = layer.bias[start:stop]
        values = back.concretize(k - 1, np.concatenate([w, -w]), region)
        lower[start:stop] = values[: stop - start] + b
        upper[start:stop] = -values[stop - start :] + b
    return lower, upper


def _check_intermediate(net: ReluNetwork, intermediate: Optional[NetworkBounds]) -> None:
    if intermediate is None:
        return
    if not isinstance(intermediate, NetworkBounds):
        raise InvalidParameterError(f"crown_bounds: expected intermediate a NetworkBounds or None, got {type(intermediate).__name__}")
    expected = net.hidden_sizes + (net.num_outputs,)
    got = tuple(len(np.ravel(v)) for v in intermediate.pre_lower) + (len(np.ravel(intermediate.out_lower)),)
    got_upper = tuple(len(np.ravel(v)) for v in intermediate.pre_upper) + (len(np.ravel(intermediate.out_upper)),)
    if got != expected or got_upper != expected:
        raise InvalidParameterError(
            f"crown_bounds: expected intermediate bounds of layer widths {expected}, got {got} (lower) and {got_upper} (upper)"
        )


def _tighten(lower, upper, *others, what: str):
    for other_lower, other_upper in others:
        lower = np.maximum(lower, np.asarray(other_lower, dtype=np.float64).reshape(-1))
        upper = np.minimum(upper, np.asarray(other_upper, dtype=np.float64).reshape(-1))
    gap = lower - upper
    if gap.size and np.max(gap) > CROSSING_TOLERANCE * (1.0 + np.max(np.abs(np.concatenate([lower, upper])))):
        j = int(np.argmax(gap))
        raise InvalidParameterError(
            f"crown_bounds: expected intermediate bounds that hold over the region, got lower {lower[j]:.6g} > upper "
            f"{upper[j]:.6g} for neuron {j} of {what} after intersecting them with IBP's and CROWN's"
        )
    return lower, np.maximum(upper, lower)


def crown_bounds(
    net: ReluNetwork, region: InputRegion, *, intermediate: Optional[NetworkBounds] = None
) -> NetworkBounds:
    """CROWN bounds of every pre-activation and output of ``net`` over ``region``.

    Args:
        net: the network.
        region: the input region, of ``net.num_inputs`` dimensions.
        intermediate: bounds known to hold over ``region`` (e.g. from an LP); intersected with
            CROWN's layer by layer, so they tighten the relaxations of the later layers.

    Returns:
        :class:`~gsmooth.verification.bounds.NetworkBounds` (``method="crown"``), each bound
        intersected with IBP's and ``intermediate``'s: never looser than either.

    Raises:
        InvalidParameterError: a region of another dimension, ``intermediate`` of other layer
            widths, or ``intermediate`` bounds that cannot hold over the region (lower > upper).
    """
    if not isinstance(net, ReluNetwork):
        raise InvalidParameterError(f"crown_bounds: expected a ReluNetwork, got {type(net).__name__}")
    if not isinstance(region, InputRegion) or region.dim != net.num_inputs:
        got = f"{region.dim} dimensions" if isinstance(region, InputRegion) else type(region).__name__
        raise InvalidParameterError(f"crown_bounds: expected an InputRegion of {net.num_inputs} dimensions, got {got}")
    _check_intermediate(net, intermediate)
    ibp = interval_bounds(net, region)

    def known(i: int):
        if i < len(net.hidden_sizes):
            pairs = [(ibp.pre_lower[i], ibp.pre_upper[i])]
            if intermediate is not None:
                pairs.append((intermediate.pre_lower[i], intermediate.pre_upper[i]))
            return pairs
        pairs = [(ibp.out_lower, ibp.out_upper)]
        if intermediate is not None:
            pairs.append((intermediate.out_lower, intermediate.out_upper))
        return pairs

    back = _Backward(net)
    pre_lower, pre_upper = [], []
    for k in range(len(net.layers)):
        if k == 0:  # the first layer is exact: IBP's bounds are region.minimize_linear's
            lo, hi = (ibp.pre_lower[0], ibp.pre_upper[0]) if net.hidden_sizes else (ibp.out_lower, ibp.out_upper)
        else:
            lo, hi = _layer_bounds(back, k, region)
        what = f"layer {k}" if k < len(net.layers) - 1 else "the outputs"
        lo, hi = _tighten(lo, hi, *known(k), what=what)
        if k < len(net.layers) - 1:
            pre_lower.append(lo)
            pre_upper.append(hi)
            back.add(lo, hi)
    return NetworkBounds(tuple(pre_lower), tuple(pre_upper), lo, hi, "crown")
