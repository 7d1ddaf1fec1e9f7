"""Jacobian spectral norms and the GSmooth Lipschitz factor M* of a surrogate-backed transform.

GSmooth (Hao et al., ICML 2022, Theorem 2) certifies a non-resolvable transformation τ through a
learned surrogate ``τ̃(θ, x) = H(F2(x) + F1(θ) + ξ)``: the smoothed classifier is

    g(x') = argmax_c P_{θ ~ N(0, σ_θ² I_d), ξ ~ N(0, σ_ξ² I_m)} ( f(H(F2(x') + F1(c0 + θ) + ξ)) = c )

(``c0`` a fixed centre, 0 by default). For the truly transformed input ``x' = τ(α, x)``,
``F2(τ(α, x)) = F2(x) + ∫₀^α J(s) ds`` with ``J(s) = ∂F2(τ(s, x))/∂s`` (m × d), so the latent seen
under noise (θ, ξ) is the latent of ``x`` under the *shifted* noise ``(θ + α, ξ + ∫₀^α (J(s) − W) ds)``,
W the matrix of the linear map F1. The shift has norm² ≤ ‖α‖²/σ_θ² + G²‖α‖²/σ_ξ² with

    G = max_{s on the segment [0, α]} ‖J(s) − W‖₂            (spectral norm of an m × d matrix),

so Cohen's Gaussian argument in the joint space (θ, ξ) ∈ R^{d+m} gives the certified radius in θ

    R = Φ⁻¹(p_lower) / sqrt(σ_θ⁻² + G² σ_ξ⁻²)  =  σ_θ Φ⁻¹(p_lower) / M*,   M* = sqrt(1 + G² σ_θ²/σ_ξ²),

which is ``σ Φ⁻¹(p_lower) / sqrt(1 + G²)`` when σ_θ = σ_ξ = σ. The guarantee holds for inputs
``τ(α, x)`` with ``α`` in the range over which G was taken and ``‖α‖₂ < R``.

**G is an estimate.** :func:`estimate_G` takes the maximum over a finite grid of α in the certified
range (``grid=10`` points per parameter, as in the GSmooth code), not over the continuum; the true
maximum can be larger between grid points, so the radius is an estimate too. Output that reports
it must say so (:attr:`GEstimate.is_estimate` is always True).

How the spectral norm is computed (:func:`jacobian_spectral_norm`), all with :mod:`torch.func`:

- ``"exact"``: J by ``d`` Jacobian-vector products ``J e_j`` (one per parameter, each over the whole
  α grid at once), then ``torch.linalg.matrix_norm(J, 2)``. Cheapest for small d (the usual d = 1:
  one product). ``"auto"`` picks it for d ≤ 16.
- ``"power"``: power iteration on JᵀJ with ``u = J v`` and ``Jᵀu`` (a vjp); J (m × d) is never
  materialised, for large d.
- ``"fd"``: second-order finite differences (step ``fd_step``; central inside the range, one-sided
  at its ends), then the exact norm; for transforms autograd cannot differentiate.

``J v`` is a forward-mode ``torch.func.jvp`` when every op has a forward-mode formula; otherwise
(``grid_sample``, used by rotation, zoom, motion and rotational blur, has none in torch 2.x) it is
computed reverse-over-reverse: the vjp of the linear map ``u ↦ Jᵀu`` with cotangent v.

Choices of ours (the paper's code is not available to us in detail): ``estimate_G`` by default
cross-checks autograd against finite differences and keeps the larger value per grid point, so a
transform that silently cuts θ out of the autograd graph (e.g. ``float(theta)`` inside), or the
derivative autograd picks at a kink (``|θ|`` at 0, bilinear sampling exactly on pixel centres),
cannot make G too small; the grid includes both end points (``linspace``).

Example:
    >>> import torch
    >>> v = torch.tensor([3.0, 4.0])
    >>> jacobian_spectral_norm(lambda a: a * v, torch.tensor([0.5]))   # J = v, ‖v‖ = 5
    5.0
    >>> lipschitz_factor_from_G(0.75, 0.25, 0.25)                     # sqrt(1 + G²)
    1.25
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Callable, Iterator

import torch
from torch import nn

from ..core.ranges import param_grid, parse_range  # one parser and one grid helper for the package
from ..errors import InputError, InvalidParameterError, LipschitzWarning
from ..validation import Interval, Options, validate_params

__all__ = [
    "METHODS",
    "GEstimate",
    "jacobian_spectral_norm",
    "jacobian_matrix",
    "estimate_G",
    "lipschitz_factor_from_G",
    "radius_from_G",
    "LipschitzWarning",
]

#: Ways to compute the spectral norm of a Jacobian.
METHODS = ("auto", "exact", "power", "fd")
_EXACT_MAX_DIM = 16




# --------------------------------------------------------------------------------------------
# Spectral norm of a Jacobian
# --------------------------------------------------------------------------------------------


def _flat_batched(fn: Callable, batched: bool) -> Callable:
    if batched:
        return lambda a: fn(a).reshape(a.shape[0], -1)
    return lambda a: fn(a[0]).reshape(1, -1)


class _Linearized:
    """Jacobian-vector products of ``f`` at ``a`` without materialising J.

    ``jvp(v) = J v``: forward mode (``torch.func.jvp``) when every op supports it, else — e.g.
    ``grid_sample`` has no forward-mode formula — reverse over reverse ("double vjp": ``J v`` is the
    vjp of the linear map ``u ↦ Jᵀu`` with cotangent v). ``vjp(u) = Jᵀu``: reverse mode, the forward
    graph is built once and reused.
    """

    def __init__(self, f: Callable, a: torch.Tensor, ad_mode: str = "auto"):
        self.f, self.a, self.mode = f, a, ad_mode
        self._out = self._vjp_fn = self._vjp_of_vjp = None

    def _ensure_vjp(self) -> None:
        if self._vjp_fn is None:
            self._out, self._vjp_fn = torch.func.vjp(self.f, self.a)

    def vjp(self, u: torch.Tensor) -> torch.Tensor:
        self._ensure_vjp()
        return self._vjp_fn(u)[0]

    def jvp(self, v: torch.Tensor) -> torch.Tensor:
        if self.mode in ("auto", "forward"):
            try:
                return torch.func.jvp(self.f, (self.a,), (v,))[1]
            except (NotImplementedError, RuntimeError):
                if self.mode == "forward":
                    raise
                self.mode = "reverse"
        if self._vjp_of_vjp is None:
            self._ensure_vjp()
            u0 = torch.zeros_like(self._out)
            _, self._vjp_of_vjp = torch.func.vjp(lambda u: self._vjp_fn(u)[0], u0)
        return self._vjp_of_vjp(v)[0]

    @property
    def label(self) -> str:
        return "forward-mode" if self.mode in ("auto", "forward") else "reverse-mode"


# Second-order finite-difference stencils: (offsets in steps, weights); one-sided at range ends.
_CENTRAL = ((-1.0, 0.0, 1.0), (-0.5, 0.0, 0.5))
_FORWARD = ((0.0, 1.0, 2.0), (-1.5, 2.0, -0.5))
_BACKWARD = ((-2.0, -1.0, 0.0), (0.5, -2.0, 1.5))


def _fd_column(f: Callable, a: torch.Tensor, j: int, h: float, bounds) -> torch.Tensor:
    """∂f/∂α_j by second-order differences that never leave ``bounds[j]`` (central inside,
    one-sided within 2h of an end, so a one-sided transform is never evaluated below its range)."""
    k = a.shape[0]
    lo, hi = bounds[j] if bounds is not None else (-math.inf, math.inf)
    aj = a[:, j].double()
    fwd = (aj - h < lo) & (hi - lo >= 2 * h)
    bwd = (aj + h > hi) & ~fwd & (hi - lo >= 2 * h)
    offsets = torch.tensor(_CENTRAL[0], dtype=torch.float64).repeat(k, 1)
    weights = torch.tensor(_CENTRAL[1], dtype=torch.float64).repeat(k, 1)
    for mask, (off, wts) in ((fwd, _FORWARD), (bwd, _BACKWARD)):
        offsets[mask] = torch.tensor(off, dtype=torch.float64)
        weights[mask] = torch.tensor(wts, dtype=torch.float64)
    col = 0.0
    with torch.no_grad():
        for i in range(3):
            shifted = a.clone()
            shifted[:, j] = (aj + h * offsets[:, i]).to(device=a.device, dtype=a.dtype)
            w = weights[:, i].to(device=a.device, dtype=a.dtype)[:, None]
            if bool((weights[:, i] != 0).any()):
                col = col + w * f(shifted)
    return col / h


def _jacobian(f: Callable, a: torch.Tensor, method: str, fd_step: float, ad_mode: str,
              bounds=None) -> tuple[torch.Tensor, str]:
    """(K, m, d) Jacobians of the row-wise ``f`` at the rows of ``a``, and how they were computed."""
    cols = []
    with torch.inference_mode(False), torch.enable_grad():
        lin = _Linearized(f, a, ad_mode) if method == "exact" else None
        for j in range(a.shape[1]):
            if lin is not None:
                e = torch.zeros_like(a)
                e[:, j] = 1.0
                col = lin.jvp(e)
            else:
                col = _fd_column(f, a, j, fd_step, bounds)
            cols.append(col.detach())
    label = f"exact({lin.label})" if lin is not None else f"fd(step={fd_step:g})"
    return torch.stack(cols, dim=-1), label


def jacobian_matrix(fn: Callable, alpha, *, batched: bool = False, method: str = "exact",
                    fd_step: float = 1e-3) -> torch.Tensor:
    """The Jacobian ``∂ vec(fn(α)) / ∂α``: ``(m, d)``, or ``(K, m, d)`` with ``batched=True``.

    ``method="exact"``: one Jacobian-vector product per parameter (d in all, each over the whole
    batch; forward mode, or reverse-over-reverse when an op lacks a forward-mode formula);
    ``"fd"``: central second-order differences with step ``fd_step``. With ``batched=True``, ``alpha`` is
    ``(K, d)`` and ``fn`` must act row by row (row k of the output depends on row k of α only).
    """
    validate_params("jacobian_matrix", {"method": method}, {"method": [Options(("exact", "fd"))]})
    a = _prepare_alpha(alpha, batched)
    jac, _ = _jacobian(_flat_batched(fn, batched), a, method, fd_step, "auto")
    return jac if batched else jac[0]


def _prepare_alpha(alpha, batched: bool) -> torch.Tensor:
    if not isinstance(alpha, torch.Tensor):
        alpha = torch.as_tensor(alpha, dtype=torch.get_default_dtype())
    if not alpha.is_floating_point():
        alpha = alpha.to(torch.get_default_dtype())
    if alpha.ndim == 0:
        alpha = alpha.reshape(1)
    want = 2 if batched else 1
    if alpha.ndim != want:
        shape = "(K, d)" if batched else "(d,)"
        raise InputError(f"jacobian_spectral_norm: expected alpha of shape {shape}, got {tuple(alpha.shape)}")
    with torch.inference_mode(False):
        a = alpha.detach().clone()
    return a if batched else a[None]


def jacobian_spectral_norm(
    fn: Callable[[torch.Tensor], torch.Tensor],
    alpha,
    *,
    iters: int = 50,
    method: str = "power",
    tol: float = 1e-6,
    batched: bool = False,
    fd_step: float = 1e-3,
    seed: int = 0,
):
    """Spectral norm ``‖∂ vec(fn(α)) / ∂α‖₂`` of the m × d Jacobian of ``fn`` at ``alpha``.

    Args:
        fn: ``α ↦ tensor`` (any output shape; flattened to m). Tensors it closes over must not be
            inference tensors (clone them outside ``torch.inference_mode``).
        alpha: ``(d,)`` (or a scalar), or ``(K, d)`` with ``batched=True``.
        iters: maximum power iterations (``method="power"``); stops earlier when the estimate
            changes by less than ``tol`` (relative). d = 1 needs exactly one.
        method: ``"power"`` (power iteration on JᵀJ with ``Jv`` and ``Jᵀu`` products; J is never
            materialised), ``"exact"`` (J by d Jacobian-vector products, then
            ``torch.linalg.matrix_norm(J, 2)``), ``"fd"`` (central finite differences with step
            ``fd_step``, then the exact norm), or ``"auto"`` (``exact`` for d ≤ 16, else ``power``).
            ``Jv`` uses forward mode, or reverse-over-reverse when an op (e.g. ``grid_sample``)
            has no forward-mode formula.
        batched: ``alpha`` is ``(K, d)`` and ``fn`` maps it row by row to ``(K, …)``; one norm per
            row, all computed in the same passes.
        seed: seeds the power iteration's random start vector.

    Returns:
        a float, or a ``(K,)`` float64 CPU tensor with ``batched=True``.

    Example:
        >>> M = torch.tensor([[3.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
        >>> round(jacobian_spectral_norm(lambda a: M @ a, torch.zeros(2)), 6)
        3.0
    """
    norms, _ = _spectral_norms(fn, alpha, iters=iters, method=method, tol=tol, batched=batched,
                               fd_step=fd_step, seed=seed)
    return norms if batched else float(norms[0])


def _spectral_norms(fn, alpha, *, iters, method, tol, batched, fd_step, seed, ad_mode="auto", bounds=None):
    validate_params(
        "jacobian_spectral_norm",
        {"iters": iters, "method": method, "tol": tol, "fd_step": fd_step},
        {
            "iters": [Interval(Integral, 1, None)],
            "method": [Options(METHODS)],
            "tol": [Interval(Real, 0, None)],
            "fd_step": [Interval(Real, 0, None, closed="neither")],
        },
    )
    a = _prepare_alpha(alpha, batched)
    f = _flat_batched(fn, batched)
    if method == "auto":
        method = "exact" if a.shape[1] <= _EXACT_MAX_DIM else "power"
    if method in ("exact", "fd"):
        jac, label = _jacobian(f, a, method, fd_step, ad_mode, bounds)
        return torch.linalg.matrix_norm(jac.double(), ord=2).cpu(), label
    return _power_iteration(f, a, iters=iters, tol=tol, seed=seed, ad_mode=ad_mode)


def _power_iteration(f: Callable, a: torch.Tensor, *, iters: int, tol: float, seed: int, ad_mode: str):
    """σ_max(J_k) per row k by power iteration on J_kᵀJ_k; ‖J v‖ with ‖v‖ = 1 is a lower bound
    that increases monotonically to σ_max."""
    k, d = a.shape
    gen = torch.Generator().manual_seed(int(seed))
    v = torch.randn((k, d), generator=gen, dtype=torch.float64).to(device=a.device, dtype=a.dtype)
    v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-30)
    sigma = torch.zeros(k, dtype=torch.float64)
    with torch.inference_mode(False), torch.enable_grad():
        lin = _Linearized(f, a, ad_mode)
        for it in range(iters):
            u = lin.jvp(v).detach()
            new = u.double().norm(dim=1).cpu()
            w = lin.vjp(u).detach()
            wn = w.norm(dim=1, keepdim=True)
            done = d == 1 or bool(((new - sigma).abs() <= tol * new.clamp_min(1e-30)).all())
            sigma = torch.maximum(sigma, new)
            if done or bool((wn == 0).all()):
                break
            v = torch.where(wn > 0, w / wn.clamp_min(1e-30), v)
    return sigma, f"power({lin.label}, {it + 1} it)"


# --------------------------------------------------------------------------------------------
# G for a surrogate and a true transform
# --------------------------------------------------------------------------------------------


@dataclass
class GEstimate:
    """Result of :func:`estimate_G`; unpacks as ``G, argmax, values = estimate_G(…)``.

    Attributes:
        G: ``max_k ‖∂F2(τ(α_k, x))/∂α − W_F1‖₂`` over the grid — an *estimate* of the maximum over
            the continuous range (:attr:`is_estimate` is always True).
        argmax: the grid point α_k attaining it, ``(d,)`` float64.
        values: the norm at every grid point, ``(K,)`` float64 (same order as :attr:`alphas`).
        alphas: the grid, ``(K, d)`` float64 (= :func:`param_grid` of the range).
        method: how the Jacobians were computed (``exact``, ``power``, ``fd``, with ``+fd-check``
            when autograd was cross-checked against finite differences).
        seconds: wall time of the estimate.
        param_range: the range the grid covers.
        notes: what went wrong or was corrected (autograd fallback, autograd/finite-difference
            disagreements), for the output.
    """

    G: float
    argmax: torch.Tensor
    values: torch.Tensor
    alphas: torch.Tensor
    method: str
    seconds: float
    param_range: tuple[tuple[float, float], ...]
    notes: tuple[str, ...] = ()
    is_estimate: bool = field(default=True, init=False)

    def __iter__(self) -> Iterator:
        return iter((self.G, self.argmax, self.values))

    def describe(self) -> str:
        rng = ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in self.param_range)
        arg = ", ".join(f"{v:g}" for v in self.argmax.tolist())
        return (
            f"G ≈ {self.G:.6g} (estimate: max over {len(self.values)} grid points of {rng}, at α = {arg}; "
            f"the maximum over the continuous range may be larger; {self.method})"
        )


def _as_image(x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[0] != 1):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"estimate_G: expected one image (C, H, W) or (1, C, H, W), got {shape}")
    return x if x.ndim == 4 else x[None]


def estimate_G(
    surrogate: nn.Module,
    transform: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    param_range,
    grid: int = 10,
    iters: int = 50,
    method: str = "auto",
    fd_check: bool = True,
    fd_step: float | None = None,
    chunk: int | None = None,
) -> GEstimate:
    """Estimate ``G = max_α ‖∂F2(τ(α, x))/∂α − W_F1‖₂`` over a grid of α in ``param_range``.

    Args:
        surrogate: a :class:`gsmooth.surrogate.model.SurrogateModel` (anything with ``encode(x)`` = F2 and
            ``embed(θ)`` = F1, linear and bias-free, so that ``∂F1(α)/∂α = W_F1``).
        transform: the true transform τ, ``(B, C, H, W), (B, d) → (B, C, H, W)``, differentiable in
            θ (else use ``method="fd"``).
        x: the image ``(C, H, W)`` whose transformation path ``α ↦ τ(α, x)`` is certified.
        param_range: ``(lo, hi)`` (or d pairs): the certified parameter range.
        grid: points per parameter (``linspace``, end points included; default 10 as in GSmooth).
        iters: power iterations (``method="power"`` only).
        method: see :func:`jacobian_spectral_norm`; ``"auto"`` falls back to finite differences
            (with a :class:`LipschitzWarning`) when forward-mode autograd fails on the transform.
        fd_check: with an autograd method, also compute central finite differences and keep the
            larger norm per grid point (warns when they disagree by more than 5 % and more than
            1e-3 of the largest value), so a transform
            that is not differentiable in θ by autograd cannot make G too small. Costs 2·d forward
            passes over the grid.
        fd_step: finite-difference step in θ units (default ``1e-3 · (hi − lo)``, per parameter the
            smallest; ``1e-3`` for a degenerate range). Differences are second order, central
            inside the range and one-sided within two steps of its ends, so τ is never evaluated
            outside ``param_range`` (a one-sided blur is not asked for a negative width).
        chunk: grid points per forward pass (default: all at once).

    Returns:
        a :class:`GEstimate` (unpacks as ``(G, argmax, values)``).
    """
    validate_params(
        "estimate_G",
        {"grid": grid, "iters": iters, "method": method},
        {"grid": [Interval(Integral, 1, None)], "iters": [Interval(Integral, 1, None)], "method": [Options(METHODS)]},
    )
    start = time.perf_counter()
    x = _as_image(x)
    param = next(iter(surrogate.parameters()), None)
    device = param.device if param is not None else x.device
    dtype = param.dtype if param is not None else x.dtype
    d = int(getattr(surrogate, "param_dim", 0) or 0) or None
    pairs = parse_range(param_range, d, broadcast=False, what="param_range")
    d = len(pairs)
    if fd_step is None:
        widths = [hi - lo for lo, hi in pairs if hi > lo]
        fd_step = 1e-3 * min(widths) if widths else 1e-3
    alphas = param_grid(pairs, grid)
    with torch.inference_mode(False):
        x = x.detach().to(device=device, dtype=dtype).clone()

    def fn(a: torch.Tensor) -> torch.Tensor:
        xb = x.expand(a.shape[0], *x.shape[1:])
        out = surrogate.encode(transform(xb, a)) - surrogate.embed(a)
        return out.reshape(a.shape[0], -1)

    used = method if method != "auto" else ("exact" if d <= _EXACT_MAX_DIM else "power")
    kw = dict(iters=iters, batched=True, fd_step=fd_step, tol=1e-6, seed=0, bounds=pairs)
    chunks = [alphas] if chunk is None else list(alphas.split(int(chunk)))
    was_training = surrogate.training
    surrogate.eval()
    labels = set()
    notes: list[str] = []
    tname = getattr(transform, "name", type(transform).__name__)
    try:
        values = []
        for a in chunks:
            a = a.to(device=device, dtype=dtype)
            try:
                vals, label = _spectral_norms(fn, a, method=used, **kw)
            except (RuntimeError, NotImplementedError) as exc:
                if method != "auto" or used == "fd":
                    raise
                notes.append(f"autograd failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
                warnings.warn(
                    LipschitzWarning(
                        f"autograd failed on transform {tname!r}; M* uses finite differences",
                        api_hint=" (estimate_G; see GEstimate.notes)",
                    ),
                    stacklevel=2,
                )
                used = "fd"
                vals, label = _spectral_norms(fn, a, method="fd", **kw)
            if fd_check and used != "fd":
                fd_vals, _ = _spectral_norms(fn, a, method="fd", **kw)
                big = torch.maximum(fd_vals, vals)
                gap = ((fd_vals - vals).abs() > 0.05 * big) & ((fd_vals - vals).abs() > 1e-3 * float(big.max()) + 1e-9)
                if bool(gap.any()):
                    k = int(torch.nonzero(gap)[0])
                    notes.append(
                        f"autograd and finite differences disagree at {int(gap.sum())} grid point(s), first at "
                        f"α = {[round(v, 6) for v in a[k].double().tolist()]} ({float(vals[k]):.4g} vs "
                        f"{float(fd_vals[k]):.4g}); kept the larger"
                    )
                    warnings.warn(
                        LipschitzWarning(
                            f"autograd and finite differences disagree on transform {tname!r} at some grid points "
                            "(it may not be differentiable in θ by autograd, e.g. θ converted to a Python float or "
                            "|θ| at 0, or not smooth there); M* keeps the larger value",
                            api_hint=" (estimate_G; see GEstimate.notes)",
                        ),
                        stacklevel=2,
                    )
                vals = torch.maximum(vals, fd_vals)
                label += "+fd-check"
            labels.add(label)
            values.append(vals)
    finally:
        surrogate.train(was_training)
    values = torch.cat(values).double()
    k = int(values.argmax())
    label = "; ".join(sorted(labels))
    return GEstimate(
        G=float(values[k]),
        argmax=alphas[k].clone(),
        values=values,
        alphas=alphas,
        method=label,
        seconds=time.perf_counter() - start,
        param_range=pairs,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------------
# From G to M* and to the radius
# --------------------------------------------------------------------------------------------


def _check_sigmas(sigma_theta, sigma_xi) -> None:
    validate_params(
        "gsmooth.surrogate.lipschitz",
        {"sigma_theta": sigma_theta, "sigma_xi": sigma_xi},
        {
            "sigma_theta": [Interval(Real, 0, None, closed="neither")],
            "sigma_xi": [Interval(Real, 0, None, closed="neither")],
        },
    )


def lipschitz_factor_from_G(G: float, sigma_theta: float, sigma_xi: float) -> float:
    """``M* = sqrt(1 + G² σ_θ² / σ_ξ²)``, so that ``σ_θ Φ⁻¹(p) / M* = Φ⁻¹(p) / sqrt(σ_θ⁻² + G² σ_ξ⁻²)``.

    With σ_θ = σ_ξ it is ``sqrt(1 + G²)``; always ≥ 1.

    Example:
        >>> lipschitz_factor_from_G(0.0, 1.0, 0.5)
        1.0
    """
    _check_sigmas(sigma_theta, sigma_xi)
    validate_params("lipschitz_factor_from_G", {"G": G}, {"G": [Interval(Real, 0, None)]})
    return math.hypot(1.0, float(G) * float(sigma_theta) / float(sigma_xi))


def radius_from_G(p_lower: float, G: float, sigma_theta: float, sigma_xi: float) -> float:
    """GSmooth's radius ``Φ⁻¹(p_lower) / sqrt(σ_θ⁻² + G² σ_ξ⁻²)`` (0 when ``p_lower ≤ 1/2``).

    Example:
        >>> round(radius_from_G(0.99, 0.0, 0.5, 0.5), 4)   # = σ Φ⁻¹(p) when G = 0
        1.1632
    """
    from scipy.stats import norm

    _check_sigmas(sigma_theta, sigma_xi)
    if not 0.0 <= float(p_lower) <= 1.0:
        raise InvalidParameterError(f"radius_from_G: expected p_lower in [0, 1], got {p_lower!r}")
    if p_lower <= 0.5:
        return 0.0
    return float(norm.ppf(p_lower)) / math.sqrt(sigma_theta ** -2 + (float(G) / sigma_xi) ** 2)
