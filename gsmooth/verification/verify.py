"""``verify``: is every input within ``eps`` of ``x`` classified as ``label``? YES, NO or MAYBE.

One call answers the question for one input, one radius and one method:

- ``"ibp"``: interval bound propagation (:func:`~gsmooth.verification.bounds.interval_bounds`);
- ``"crown"``: CROWN's backward linear bounds (:func:`~gsmooth.verification.crown.crown_bounds`),
  intersected with IBP's;
- ``"lp"``: the triangle LP relaxation (:func:`~gsmooth.verification.lp.lp_bounds`) with the
  CROWN ∩ IBP bounds as its intermediate (pre-activation) bounds;
- ``"milp"``: the exact big-M MILP (:func:`~gsmooth.verification.milp.milp_minimum`) with the same
  intermediate bounds, on the margins CROWN ∩ IBP could not prove already, asked to prove each above
  ``2 · tolerance`` or find a point below it (:data:`MILP_STOP_FACTOR`).

Every method bounds the margins ``z_label − z_t`` (``t ≠ label``) of the network from below over the
region ``{x' : ‖x' − x‖ ≤ eps} ∩ domain`` (:func:`~gsmooth.verification.region.input_region`).
The rules, soundness first:

- the clean input misclassified (by the torch model when one is given, else by the network) → NO,
  with ``adversarial = x`` (status ``"misclassified"``), whatever the method;
- YES (status ``"proved"``) only if every margin's lower bound is ``> tolerance``: a certificate of
  the real-arithmetic network with the model's weights (float32 weights read exactly in float64);
  the tolerance absorbs the solvers' feasibility tolerances. It does not cover the float32 model's
  own rounding: measured on Fashion-MNIST MLPs, float32 logit margins differ from the float64
  network's by up to 2e-5 (tests/test_verification_integration.py), so a margin proved just above
  1e-6 may be crossed by the float32 model; ask for ``tolerance=1e-4`` (``--tolerance``) to keep
  YES clear of that;
- NO (status ``"counterexample"``) only with an adversarial input that lies in the region (distance
  ≤ ``eps + 1e-9``, inside the domain; a solver's point a hair outside is projected and re-checked),
  that is exactly representable in the torch model's dtype, and that both the float64 network and
  the torch model (in its own dtype, on its device) classify as another class than ``label`` (a
  class scoring strictly more than ``label``, whatever the tie rule); only ``"milp"`` searches for
  one;
- otherwise MAYBE: ``"undecided"`` (a relaxation could not decide, or the MILP's point failed the
  checks), ``"time_limit"`` (the LP or MILP stopped at ``time_limit`` first).

A torch model is encoded once per model object and input shape
(:func:`~gsmooth.verification.extract.relu_network`); the encoding is recomputed when its parameters
or buffers change (in place or replaced).

Example:
    A linear classifier (no hidden layer) on two inputs: the margin ``z_0 − z_1 = x_0 − x_1`` at
    ``x = (0.8, 0.2)`` is 0.6, and ``‖(1, −1)‖₁ = 2``, so every ℓ∞ ball of radius below 0.3 is
    certified and none above:

    >>> import numpy as np
    >>> from gsmooth.verification import AffineLayer, ReluNetwork
    >>> net = ReluNetwork((AffineLayer(np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2)),), input_shape=(2,))
    >>> v = verify(net, np.array([0.8, 0.2]), 0, method="ibp", norm="linf", eps=0.25, domain=None)
    >>> v.answer, v.status, round(v.margins[1], 6)
    ('YES', 'proved', 0.1)
    >>> verify(net, np.array([0.8, 0.2]), 0, method="ibp", norm="linf", eps=0.35, domain=None).answer
    'MAYBE'
    >>> v = verify(net, np.array([0.8, 0.2]), 1, method="ibp", norm="linf", eps=0.1)
    >>> v.answer, v.status, v.prediction, v.adversarial_class, v.adversarial.tolist()
    ('NO', 'misclassified', 0, 0, [0.8, 0.2])
"""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Optional

import numpy as np

from ..errors import InputError, InputTypeError, InvalidParameterError
from .bounds import NetworkBounds, interval_bounds
from .network import AffineLayer, ReluNetwork
from .region import NORMS, InputRegion, input_region

__all__ = ["Verdict", "verify", "METHODS", "ANSWERS", "STATUSES", "DEFAULT_TOLERANCE", "network_of"]

#: The verification methods, cheapest first.
METHODS = ("ibp", "crown", "lp", "milp")
#: The answers of a :class:`Verdict`.
ANSWERS = ("YES", "NO", "MAYBE")
#: The statuses of a :class:`Verdict`.
STATUSES = ("proved", "counterexample", "undecided", "time_limit", "misclassified")
#: A margin bound must exceed this for YES (solver feasibility tolerances; not float32 rounding of
#: the model, which is ~1e-5 on small MLPs: pass a larger ``tolerance`` for that).
DEFAULT_TOLERANCE = 1e-6
#: How far outside the region (norm and domain) a solver's point may be before it is projected.
REGION_SLACK = 1e-9
#: The MILP is asked to prove every margin above ``MILP_STOP_FACTOR · tolerance`` (so that a proof
#: "≥ its threshold" is a proof "> tolerance") or to find a point below it.
MILP_STOP_FACTOR = 2.0


@dataclass(frozen=True)
class Verdict:
    """The answer of :func:`verify` for one input, one radius and one method.

    Attributes:
        answer: ``"YES"`` (every input of the region is classified ``label``: proved), ``"NO"``
            (``adversarial`` is a checked counterexample) or ``"MAYBE"``.
        method: ``"ibp"``, ``"crown"``, ``"lp"`` or ``"milp"``.
        norm: ``"linf"`` or ``"l2"``.
        eps: the radius of the region.
        prediction: the class of the clean input (the torch model's when one was given).
        margins: target ``t`` → a proven lower bound of ``z_label − z_t`` over the region (for
            ``"milp"`` the MILP's dual bound where it ran, exact when solved to optimality; for a
            misclassified input IBP's bounds, whatever the method).
        adversarial: NO only: an input of the region (shape of the network's input, e.g.
            ``(C, H, W)``), classified ``adversarial_class ≠ label`` by the float64 network and the
            torch model; its values are exactly representable in the model's dtype.
        adversarial_class: the torch model's class at ``adversarial`` (the network's without a
            torch model); None unless NO.
        status: ``"proved"``, ``"counterexample"``, ``"undecided"``, ``"time_limit"`` or
            ``"misclassified"``.
        time: seconds spent verifying (the encoding of a torch model not included).
    """

    answer: str
    method: str
    norm: str
    eps: float
    prediction: int
    margins: dict
    adversarial: Optional[np.ndarray]
    adversarial_class: Optional[int]
    status: str
    time: float

    @property
    def min_margin(self) -> float:
        """The smallest margin bound (``inf`` for a network with no other class to beat)."""
        return min(self.margins.values()) if self.margins else math.inf


# ------------------------------------------------------------------------------------------------
# the network of a torch model (cached per model object)
# ------------------------------------------------------------------------------------------------

_ENCODED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _fingerprint(model) -> tuple:
    """Changes whenever a parameter or buffer is modified in place (its version counter), replaced
    (its storage) or moved."""
    return tuple(
        (name, t.data_ptr(), t._version, tuple(t.shape), str(t.dtype), str(t.device))
        for name, t in list(model.named_parameters()) + list(model.named_buffers())
    )


def network_of(model_or_net, input_shape: tuple[int, ...]) -> ReluNetwork:
    """The :class:`ReluNetwork` of a torch model for inputs of ``input_shape`` (encoded by
    :func:`~gsmooth.verification.extract.relu_network` once per model object, shape and weights), or
    ``model_or_net`` itself when it is a network.

    Raises:
        UnsupportedModelError: the model is not a feed-forward chain of supported layers.
        InputTypeError: neither a ``torch.nn.Module`` nor a :class:`ReluNetwork`.
    """
    if isinstance(model_or_net, ReluNetwork):
        return model_or_net
    import torch

    if not isinstance(model_or_net, torch.nn.Module):
        raise InputTypeError(
            f"verify: expected a torch.nn.Module or a ReluNetwork, got {type(model_or_net).__name__}"
        )
    shape = tuple(int(v) for v in input_shape)
    key = (shape, _fingerprint(model_or_net))
    cached = _ENCODED.get(model_or_net)
    if cached is not None and cached[0] == key:
        return cached[1]
    from .extract import relu_network

    net = relu_network(model_or_net, input_shape=shape)
    _ENCODED[model_or_net] = (key, net)
    return net


# ------------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------------


def _is_module(obj) -> bool:
    import torch

    return isinstance(obj, torch.nn.Module)


def _as_input(x) -> np.ndarray:
    """``x`` (a tensor or array) as a float64 array of its own shape; its values unchanged."""
    try:
        import torch

        if isinstance(x, torch.Tensor):
            if x.is_complex() or x.dtype == torch.bool:
                raise InputTypeError(f"verify: expected x of real numbers, got a {x.dtype} tensor")
            return x.detach().to("cpu", torch.float64).numpy()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputTypeError(f"verify: expected x a tensor or array of numbers, got {type(x).__name__}") from None
    return arr


def _check_number(name: str, value, *, minimum: float, strict: bool = False, allow_none: bool = False) -> Optional[float]:
    if value is None and allow_none:
        return None
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > minimum if strict else value >= minimum)
    if not ok:
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise InvalidParameterError(
            f"verify: expected {name} a finite number {bound}{' or None' if allow_none else ''}, got {value!r}"
        )
    return float(value)


def _check_domain(domain) -> Optional[tuple[float, float]]:
    if domain is None:
        return None
    try:
        lo, hi = domain
        ok = all(isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v) for v in (lo, hi)) and lo <= hi
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InvalidParameterError(f"verify: expected domain (low, high) with finite low <= high, or None, got {domain!r}")
    return float(lo), float(hi)


# ------------------------------------------------------------------------------------------------
# the torch model's view
# ------------------------------------------------------------------------------------------------


def _torch_logits(model, points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The torch model's logits ``(B, k)`` (float64 copy) at ``points`` ``(B, d)``, evaluated in the
    model's dtype on its device."""
    import torch

    ref = next(iter(model.parameters()), None)
    if ref is None:
        ref = next(iter(model.buffers()), None)
    dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.float32
    device = ref.device if ref is not None else torch.device("cpu")
    batch = torch.as_tensor(points.reshape((points.shape[0],) + shape), dtype=dtype).to(device)
    with torch.no_grad():
        out = model(batch)
    return out.detach().to("cpu", torch.float64).numpy().reshape(points.shape[0], -1)


def _model_dtype(model):
    """numpy dtype of the model's floating parameters (float32 for most models)."""
    import torch

    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            return {torch.float16: np.float16, torch.float64: np.float64, torch.bfloat16: np.float32}.get(t.dtype, np.float32)
    return np.float32


def _beaten(logits: np.ndarray, label: int) -> Optional[int]:
    """The class scoring strictly more than ``label`` (the highest such), or None."""
    row = np.asarray(logits, dtype=np.float64).reshape(-1)
    best = int(np.argmax(row))
    return best if row[best] > row[label] else None


def _toward_center(point: np.ndarray, center: np.ndarray, dtype) -> np.ndarray:
    """``point`` rounded to ``dtype`` coordinate by coordinate without moving away from ``center``
    (when ``center`` is representable the result is no farther from it in any norm, and stays
    between ``point`` and ``center``, hence in the domain); returned as float64."""
    if np.dtype(dtype) == np.float64:
        return point.copy()
    q = point.astype(dtype)
    c = center.astype(dtype)
    away = np.abs(q.astype(np.float64) - center) > np.abs(point - center)
    q[away] = np.nextafter(q[away], c[away])
    return q.astype(np.float64)


def _check_counterexample(
    candidate, region: InputRegion, net: ReluNetwork, model, label: int
) -> tuple[Optional[np.ndarray], Optional[int]]:
    """The checked counterexample (flat, float64) and its class, or ``(None, None)``."""
    p = np.asarray(candidate, dtype=np.float64).reshape(-1)
    if p.shape != (region.dim,) or not np.all(np.isfinite(p)):
        return None, None
    if not region.contains(p):  # a solver's point a hair outside (or farther): onto the region
        p = region.project(p)
    if model is not None:
        p = _toward_center(p, region.center, _model_dtype(model))
    if not region.contains(p, tol=REGION_SLACK):
        return None, None
    cls = _beaten(net.forward(p), label)
    if cls is None:
        return None, None
    if model is not None:
        cls = _beaten(_torch_logits(model, p[None, :], net.input_shape), label)
        if cls is None:
            return None, None
    return p, cls


# ------------------------------------------------------------------------------------------------
# the methods
# ------------------------------------------------------------------------------------------------


def _crown_ibp(margin_net: ReluNetwork, region: InputRegion, ibp: NetworkBounds) -> NetworkBounds:
    from .crown import crown_bounds

    return crown_bounds(margin_net, region, intermediate=ibp).intersect(ibp, method="crown")


def _rows(net: ReluNetwork, keep: np.ndarray) -> ReluNetwork:
    """``net`` with only the outputs ``keep`` (indices) of its last layer."""
    last = net.layers[-1]
    layer = AffineLayer(np.asarray(last.dense_weight()[keep]), last.bias[keep])
    return ReluNetwork(net.layers[:-1] + (layer,), net.input_shape)


def _timed_out(statuses) -> bool:
    return any("time" in str(s).lower() for s in statuses)


def verify(
    model_or_net,
    x,
    label: int,
    *,
    method: str,
    norm: str,
    eps: float,
    domain: Optional[tuple[float, float]] = (0.0, 1.0),
    time_limit: Optional[float] = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Verdict:
    """Verify that every input within ``eps`` of ``x`` (in ``norm``, inside ``domain``) is
    classified ``label`` (rules: the module docstring).

    Args:
        model_or_net: a torch model (encoded with :func:`~gsmooth.verification.extract.relu_network`
            for inputs of ``x``'s shape, cached per model object) or a :class:`ReluNetwork`.
        x: the clean input, a tensor or array of the network's input shape (``(C, H, W)`` for a
            torch model; a network takes any shape with its number of inputs).
        label: the class every input of the region must get.
        method: ``"ibp"``, ``"crown"``, ``"lp"`` or ``"milp"``.
        norm: ``"linf"`` or ``"l2"``.
        eps: the radius, ≥ 0.
        domain: ``(low, high)`` bounds of every input coordinate (default the pixel box ``[0, 1]``),
            or None for the whole ball (what randomized smoothing certifies).
        time_limit: seconds the LP / MILP may take (None: no limit); ``"ibp"`` and ``"crown"`` ignore it.
        tolerance: a margin bound must exceed it for YES.

    Returns:
        A :class:`Verdict`.

    Raises:
        InvalidParameterError: an unknown method or norm, a bad eps, label, domain, time limit or
            tolerance, ``x`` outside the domain.
        InputError: ``x`` not of the network's input shape, or not finite.
        UnsupportedModelError: a torch model that is not a feed-forward ReLU chain of supported layers.
    """
    if method not in METHODS:
        raise InvalidParameterError(f"verify: expected method one of {', '.join(METHODS)}, got {method!r}")
    if norm not in NORMS:
        raise InvalidParameterError(f"verify: expected norm one of {', '.join(NORMS)}, got {norm!r}")
    eps = _check_number("eps", eps, minimum=0.0)
    tolerance = _check_number("tolerance", tolerance, minimum=0.0)
    time_limit = _check_number("time_limit", time_limit, minimum=0.0, strict=True, allow_none=True)
    domain = _check_domain(domain)
    arr = _as_input(x)
    model = None if isinstance(model_or_net, ReluNetwork) else model_or_net
    if model is not None and not _is_module(model):
        raise InputTypeError(f"verify: expected a torch.nn.Module or a ReluNetwork, got {type(model).__name__}")
    if model is not None and arr.ndim != 3:
        raise InputError(f"verify: expected x of shape (C, H, W) for a torch model, got shape {arr.shape}")
    net = network_of(model_or_net, arr.shape)
    if arr.size != net.num_inputs:
        raise InputError(
            f"verify: expected x with {net.num_inputs} values (input shape {net.input_shape}), got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise InputError("verify: expected a finite x, got NaN or inf values")
    k = net.num_outputs
    if not isinstance(label, Integral) or isinstance(label, bool) or not 0 <= int(label) < k:
        raise InvalidParameterError(f"verify: expected a label in 0..{k - 1}, got {label!r}")
    label = int(label)
    t0 = time.perf_counter()
    flat = arr.reshape(-1)
    region = input_region(flat, eps=eps, norm=norm, domain=domain)  # x outside the domain: its error

    def verdict(answer, margins, status, adversarial=None, adversarial_class=None) -> Verdict:
        return Verdict(
            answer=answer, method=method, norm=norm, eps=eps, prediction=prediction,
            margins={int(t): float(v) for t, v in margins.items()},
            adversarial=None if adversarial is None else adversarial.reshape(net.input_shape),
            adversarial_class=adversarial_class, status=status, time=time.perf_counter() - t0,
        )

    if model is not None:
        prediction = int(np.argmax(_torch_logits(model, flat[None, :], net.input_shape)[0]))
    else:
        prediction = int(np.argmax(net.forward(flat)[0]))
    margin_net, targets = net.margin_network(label) if k > 1 else (None, ())
    ibp = interval_bounds(margin_net, region) if margin_net is not None else None

    def margins_of(lower) -> dict:
        return dict(zip(targets, np.asarray(lower, dtype=np.float64).reshape(-1)))

    if prediction != label:
        # the clean input is its own counterexample (distance 0, in the domain by construction)
        return verdict("NO", margins_of(ibp.out_lower), "misclassified", flat.copy(), prediction)
    if margin_net is None:  # one class: nothing to beat
        return verdict("YES", {}, "proved")

    def decided(lower) -> bool:
        return bool(np.all(np.asarray(lower) > tolerance))

    if method == "ibp":
        lower = ibp.out_lower
        return verdict("YES" if decided(lower) else "MAYBE", margins_of(lower), "proved" if decided(lower) else "undecided")
    bounds = _crown_ibp(margin_net, region, ibp)
    if method == "crown":
        lower = bounds.out_lower
        return verdict("YES" if decided(lower) else "MAYBE", margins_of(lower), "proved" if decided(lower) else "undecided")
    if method == "lp":
        from .lp import lp_bounds

        outcome = lp_bounds(margin_net, region, intermediate=bounds, time_limit=time_limit)
        lower = np.fmax(np.asarray(outcome.lower, dtype=np.float64).reshape(-1), bounds.out_lower)  # NaN: not a bound
        if decided(lower):
            return verdict("YES", margins_of(lower), "proved")
        return verdict("MAYBE", margins_of(lower), "time_limit" if _timed_out(outcome.status) else "undecided")

    # milp: only the margins CROWN ∩ IBP did not prove
    from .milp import milp_minimum

    lower = bounds.out_lower.copy()
    open_ = np.flatnonzero(~(lower > tolerance))
    if open_.size == 0:
        return verdict("YES", margins_of(lower), "proved")
    sub = _rows(margin_net, open_)
    sub_bounds = NetworkBounds(bounds.pre_lower, bounds.pre_upper, bounds.out_lower[open_], bounds.out_upper[open_], bounds.method)
    outcome = milp_minimum(
        sub, region, intermediate=sub_bounds, time_limit=time_limit, stop_below=MILP_STOP_FACTOR * tolerance,
    )
    lower[open_] = np.fmax(lower[open_], np.asarray(outcome.lower, dtype=np.float64).reshape(-1))
    if outcome.adversarial is not None:  # a checked counterexample outranks any bound (a solver's bug)
        point, cls = _check_counterexample(outcome.adversarial, region, net, model, label)
        if point is not None:
            return verdict("NO", margins_of(lower), "counterexample", point, cls)
    if decided(lower):
        return verdict("YES", margins_of(lower), "proved")
    return verdict("MAYBE", margins_of(lower), "time_limit" if _timed_out(outcome.status) else "undecided")
