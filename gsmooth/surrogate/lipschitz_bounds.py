"""Proven Lipschitz bounds for the parts of a GSmooth surrogate (F2's convolutions, SiLU, F1's matrix).

:mod:`gsmooth.surrogate.lipschitz` *estimates* G on a grid of α; the sound surrogate route (DESIGN §6) adds
an interpolation margin ``(Lip(F2)·L_τ + ‖W‖₂)·|α − α_j|`` between grid points, which needs
**upper bounds by proof**. This module provides them, as pure functions (kornia style):

- :func:`conv2d_operator_norm_bound`: ℓ2 operator norm of a zero-padded ``conv2d`` (no bias),
  through the DFT block-diagonalisation of a circular convolution on an enlarged grid;
- :func:`silu_lipschitz`: ``sup |d/dx x·sigmoid(x)|`` ≈ 1.0998;
- :func:`encoder_lipschitz_bound`: Lip of :class:`gsmooth.surrogate.model.ResidualEncoder` in ℓ2;
- :func:`linear_operator_norm`: ``‖W‖₂`` of F1's matrix.

No power iteration and no sampled maximum: every value is an exact quantity (a maximum over a
finite set of singular values, a root of a smooth function), computed in float64 and then
multiplied by :data:`SAFETY_FACTOR` (``1 + 1e-9``), which covers the floating-point error of those
computations (backward-stable FFTs and SVDs have relative errors of order ``1e-16·log N·√c``, far
below ``1e-9`` for any size used here).

Example:
    >>> import torch
    >>> w = torch.zeros(1, 1, 3, 3); w[0, 0, 1, 1] = 2.0        # 2 · identity
    >>> round(conv2d_operator_norm_bound(w, (5, 5)), 6)
    2.0
    >>> round(silu_lipschitz(), 4)
    1.0998
"""

from __future__ import annotations

import math
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidParameterError

__all__ = [
    "SAFETY_FACTOR",
    "conv2d_operator_norm_bound",
    "silu_lipschitz",
    "encoder_lipschitz_bound",
    "linear_operator_norm",
]

#: Relative round-up applied to every bound (floating-point error of the float64 computation).
SAFETY_FACTOR = 1.0 + 1e-9


def _pair(fn: str, name: str, value, minimum: int) -> tuple[int, int]:
    vals = (value, value) if isinstance(value, Integral) and not isinstance(value, bool) else value
    try:
        a, b = vals
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{fn}: {name} expected an integer >= {minimum} or a pair of them, got {value!r}") from None
    for v in (a, b):
        if isinstance(v, bool) or not isinstance(v, Integral) or v < minimum:
            raise InvalidParameterError(
                f"{fn}: {name} expected an integer >= {minimum} or a pair of them, got {value!r}"
            )
    return int(a), int(b)


def _as_float64_cpu(fn: str, name: str, t, dim: int, shape_doc: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise InvalidParameterError(f"{fn}: {name} expected a torch.Tensor of shape {shape_doc}, got {type(t).__name__}")
    if t.dim() != dim:
        raise InvalidParameterError(f"{fn}: {name} expected shape {shape_doc}, got {tuple(t.shape)}")
    if t.is_complex() or not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise InvalidParameterError(f"{fn}: {name} expected a real tensor, got dtype {t.dtype}")
    t = t.detach().to(device="cpu", dtype=torch.float64)
    if not bool(torch.isfinite(t).all()):
        raise InvalidParameterError(f"{fn}: {name} expected finite entries, got a non-finite value")
    return t


def conv2d_operator_norm_bound(weight: torch.Tensor, input_size, *, padding=1, stride=1) -> float:
    r"""A proven upper bound on the ℓ2 operator norm of ``F.conv2d(·, weight, padding=padding,
    stride=stride)`` (zero padding, no bias, ``groups=1``, no dilation) on ``(c_in, H, W)`` inputs.

    Args:
        weight: ``(c_out, c_in, kh, kw)`` real kernel (any device and dtype; used in float64).
        input_size: ``(H, W)`` (or one int for a square input) of the input images.
        padding: zero padding ``P`` (an int, or ``(Ph, Pw)``), as ``conv2d``'s ``padding``.
        stride: ``conv2d``'s stride (int or pair; ≥ 1).

    Returns:
        ``max_ω σ_max(K̂(ω)) · SAFETY_FACTOR`` over the DFT frequencies ω of an ``N_h × N_w`` grid,
        ``N_h = max(H + P_h, H_out)``, ``N_w = max(W + P_w, W_out)`` (``H_out = H + 2P_h − kh + 1``).

    Proof. Along one axis the stride-1 zero-padded correlation is
    ``y[o] = Σ_t w[t]·x[o + t − P]`` for ``0 ≤ o < H_out``, with ``x[i] = 0`` outside ``[0, H)``.
    It reads ``x`` at indices ``i ∈ [−P, H + P − 1]``. Embed ``x`` into a grid of length
    ``N ≥ H + P`` (zeros at ``[H, N)``): then every such ``i`` and ``i mod N`` name the same value
    (``i ∈ [H, H+P−1]`` lies in ``[H, N)``, and ``i ∈ [−P, −1]`` wraps to ``[N−P, N−1] ⊂ [H, N)``),
    so ``y`` is the first ``H_out ≤ N`` outputs of the *circular* correlation on the grid. Hence
    ``conv = Crop ∘ Circ ∘ Embed`` with ``‖Embed‖ = 1`` (an isometry) and ``‖Crop‖ ≤ 1`` (a
    coordinate projection), so ``‖conv‖ ≤ ‖Circ‖``. The 2-D DFT (unitary up to scale, applied per
    channel) block-diagonalises a multi-channel circular correlation: frequency ω maps
    ``x̂(ω) ↦ K̂(ω)^* x̂(ω)``-type ``c_out × c_in`` blocks (a conjugation and a phase for the shift
    ``−P`` leave singular values unchanged), so ``‖Circ‖ = max_ω σ_max(K̂(ω))`` exactly, with
    ``K̂ = fft2`` of the kernel zero-padded to the grid. A real kernel has ``K̂(−ω) = conj K̂(ω)``,
    so half the frequencies (``rfft2``) suffice. A stride ``s > 1`` keeps the outputs
    ``o = 0, s, 2s, …`` of the stride-1 map (a coordinate projection, norm ≤ 1), so the same bound
    holds. The maximum is taken over a finite set of exactly defined singular values computed by
    backward-stable float64 FFT/SVD; :data:`SAFETY_FACTOR` covers their rounding.

    Example:
        >>> import torch
        >>> w = torch.ones(1, 1, 3, 3) / 9                       # 3×3 box filter
        >>> b = conv2d_operator_norm_bound(w, (8, 8))           # ≤ 1: an average
        >>> 0.9 < b <= 1.0 + 1e-8
        True
    """
    fn = "conv2d_operator_norm_bound"
    w = _as_float64_cpu(fn, "weight", weight, 4, "(c_out, c_in, kh, kw)")
    c_out, c_in, kh, kw = w.shape
    if min(c_out, c_in, kh, kw) < 1:
        raise InvalidParameterError(f"{fn}: weight expected a non-empty (c_out, c_in, kh, kw), got {tuple(w.shape)}")
    h, wd = _pair(fn, "input_size", input_size, 1)
    ph, pw = _pair(fn, "padding", padding, 0)
    _pair(fn, "stride", stride, 1)  # validated only: a stride keeps a subset of the outputs
    h_out, w_out = h + 2 * ph - kh + 1, wd + 2 * pw - kw + 1
    if h_out < 1 or w_out < 1:
        raise InvalidParameterError(
            f"{fn}: expected a kernel that fits the padded input, got kernel {kh}×{kw} on input "
            f"{h}×{wd} with padding ({ph}, {pw})"
        )
    n_h, n_w = max(h + ph, h_out, kh), max(wd + pw, w_out, kw)
    spec = torch.fft.rfft2(w, s=(n_h, n_w))  # (c_out, c_in, n_h, n_w // 2 + 1), complex128
    blocks = spec.permute(2, 3, 0, 1).reshape(-1, c_out, c_in)
    sigma = torch.linalg.svdvals(blocks)[:, 0]
    return float(sigma.max()) * SAFETY_FACTOR


def _silu_prime(x: float) -> float:
    s = 1.0 / (1.0 + math.exp(-x))
    return s * (1.0 + x * (1.0 - s))


def silu_lipschitz() -> float:
    r"""``sup_x |d/dx (x·sigmoid(x))|`` (≈ 1.0998), the ℓ2 Lipschitz constant of elementwise SiLU,
    rounded up.

    Proof. With ``s = sigmoid(x)``: ``silu'(x) = s(1 + x(1 − s))`` and
    ``silu''(x) = s(1 − s)·h(x)``, ``h(x) = 2 − x·tanh(x/2)`` (using ``1 − 2s = −tanh(x/2)``).
    ``h`` is even and strictly decreasing on ``x > 0`` (``x·tanh(x/2)`` is increasing there), with
    ``h(0) = 2 > 0 > h(3)``, so ``silu''`` has exactly the two roots ``±x*``, ``x* ∈ (2, 3)``:
    ``silu'`` increases on ``[−x*, x*]`` and decreases outside, with limits 0 (x → −∞) and 1
    (x → ∞). So ``max silu' = silu'(x*)`` and ``min silu' = silu'(−x*) = 1 − silu'(x*)``
    (``silu'(−x) = 1 − silu'(x)``), and ``sup |silu'| = silu'(x*)``. ``x*`` is found by
    ``scipy.optimize.brentq`` on h (to 1e-15); at a maximum the value is insensitive to the root's
    error to first order, and the result is multiplied by :data:`SAFETY_FACTOR`.

    Example:
        >>> 1.0998 < silu_lipschitz() < 1.0999
        True
    """
    from scipy.optimize import brentq

    root = brentq(lambda x: 2.0 - x * math.tanh(x / 2.0), 2.0, 3.0, xtol=1e-15)
    return _silu_prime(root) * SAFETY_FACTOR


def _check_conv(fn: str, name: str, conv, c_in: int) -> tuple[int, int]:
    if type(conv) is not nn.Conv2d:
        raise InvalidParameterError(f"{fn}: {name} expected exactly a torch.nn.Conv2d, got {type(conv).__name__}")
    if conv._forward_hooks or conv._forward_pre_hooks:
        raise InvalidParameterError(f"{fn}: {name} expected a Conv2d without forward hooks, got hooks {list(conv._forward_hooks) + list(conv._forward_pre_hooks)}")
    if conv.groups != 1 or tuple(conv.dilation) != (1, 1) or tuple(conv.stride) != (1, 1):
        raise InvalidParameterError(
            f"{fn}: {name} expected groups=1, dilation=1, stride=1, got groups={conv.groups}, "
            f"dilation={tuple(conv.dilation)}, stride={tuple(conv.stride)}"
        )
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise InvalidParameterError(
            f"{fn}: {name} expected numeric zero padding, got padding={conv.padding!r}, padding_mode={conv.padding_mode!r}"
        )
    kh, kw = conv.kernel_size
    ph, pw = conv.padding
    if (kh, kw) != (2 * ph + 1, 2 * pw + 1):
        raise InvalidParameterError(
            f"{fn}: {name} expected a size-preserving kernel (k = 2·padding + 1), got kernel {(kh, kw)} with padding {(ph, pw)}"
        )
    if conv.in_channels != c_in:
        raise InvalidParameterError(f"{fn}: {name} expected {c_in} input channels, got {conv.in_channels}")
    return conv.in_channels, conv.out_channels


def encoder_lipschitz_bound(encoder, input_size) -> float:
    r"""A proven ℓ2 Lipschitz bound of F2 = :class:`gsmooth.surrogate.model.ResidualEncoder` on
    ``(C, H, W)`` images: ``1 + L_silu²·‖conv1‖·‖conv2‖·‖conv3‖`` (rounded up).

    Args:
        encoder: a :class:`~gsmooth.surrogate.model.ResidualEncoder` (exactly that class and forward,
            three plain size-preserving ``nn.Conv2d`` layers C → w → w → C, no hooks); anything
            else is refused with :class:`~gsmooth.errors.InvalidParameterError` rather than bounded
            as if it were one.
        input_size: ``(H, W)`` of the images.

    Proof. ``F2(x) = x + g(x)``, ``g = conv3 ∘ SiLU ∘ conv2 ∘ SiLU ∘ conv1``. Each conv is affine
    (the bias cancels in ``g(x) − g(y)``), so it is Lipschitz with the operator norm of its linear
    part, bounded by :func:`conv2d_operator_norm_bound` (all three keep the size H×W); elementwise
    SiLU is ℓ2-Lipschitz with ``L_silu = sup|silu'|`` (:func:`silu_lipschitz`). Composition
    multiplies the constants and ``‖F2(x) − F2(y)‖ ≤ ‖x − y‖ + ‖g(x) − g(y)‖``. The product of the
    rounded-up factors is rounded up once more.

    Example:
        >>> from gsmooth.surrogate.model import ResidualEncoder
        >>> encoder_lipschitz_bound(ResidualEncoder(3, 8), (8, 8))   # conv3 starts at zero: F2 = id
        1.0
    """
    fn = "encoder_lipschitz_bound"
    from .model import ResidualEncoder

    if type(encoder) is not ResidualEncoder:
        raise InvalidParameterError(
            f"{fn}: expected a gsmooth.surrogate.model.ResidualEncoder (exactly; a subclass may change forward), "
            f"got {type(encoder).__name__}"
        )
    if encoder._forward_hooks or encoder._forward_pre_hooks or nn.modules.module._global_forward_hooks \
            or nn.modules.module._global_forward_pre_hooks:
        raise InvalidParameterError(f"{fn}: expected an encoder without forward hooks, got some")
    children = dict(encoder.named_children())
    if set(children) != {"conv1", "conv2", "conv3"}:
        raise InvalidParameterError(f"{fn}: expected the children conv1, conv2, conv3, got {sorted(children)}")
    size = _pair(fn, "input_size", input_size, 1)
    c = encoder.conv1.in_channels
    _, width = _check_conv(fn, "conv1", encoder.conv1, c)
    _, width2 = _check_conv(fn, "conv2", encoder.conv2, width)
    _, c_back = _check_conv(fn, "conv3", encoder.conv3, width2)
    if c_back != c:
        raise InvalidParameterError(f"{fn}: conv3 expected {c} output channels (the residual), got {c_back}")
    prod = 1.0
    for conv in (encoder.conv1, encoder.conv2, encoder.conv3):
        prod *= conv2d_operator_norm_bound(conv.weight, size, padding=tuple(conv.padding))
    if prod == 0.0:
        return 1.0
    return (1.0 + silu_lipschitz() ** 2 * prod) * SAFETY_FACTOR


def linear_operator_norm(W) -> float:
    r"""``‖W‖₂`` (largest singular value) of F1's ``(m, d)`` matrix, exact via float64
    ``torch.linalg.svdvals``, times :data:`SAFETY_FACTOR`.

    Args:
        W: a ``(m, d)`` tensor, or an ``nn.Linear`` without bias (its ``weight``, ``(out, in)``).

    Example:
        >>> import torch
        >>> round(linear_operator_norm(torch.tensor([[3.0], [4.0]])), 6)   # ‖(3, 4)‖ = 5
        5.0
    """
    fn = "linear_operator_norm"
    if isinstance(W, nn.Linear):
        if W.bias is not None:
            raise InvalidParameterError(f"{fn}: expected a bias-free nn.Linear (F1 is linear), got one with a bias")
        W = W.weight
    w = _as_float64_cpu(fn, "W", W, 2, "(m, d)")
    if w.numel() == 0:
        return 0.0
    return float(torch.linalg.svdvals(w)[0]) * SAFETY_FACTOR
