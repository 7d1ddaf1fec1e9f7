"""Per-slice bounds on the shift a transformation path causes in GSmooth's joint noise space.

GSmooth (Hao et al., ICML 2022, Theorem 2) smooths a surrogate ``τ̃(θ, x) = H(F2(x) + F1(θ) + ξ)``
with θ ~ N(0, σ_θ² I) and ξ ~ N(0, σ_ξ² I). Evaluated on the truly transformed image
``x_c = τ(c, x)``, the latent seen by H for the image ``τ(α, x)`` is that of ``x_c`` under the
noise shifted by ``(α − c, Δ(α))`` with

    Δ(α) = F2(τ(α, x)) − F2(τ(c, x)) − W (α − c)        (W the matrix of the linear F1),

so by Cohen's Gaussian argument in the joint space the smoothed prediction at ``τ(c, x)`` carries
over to ``τ(α, x)`` whenever ``Φ⁻¹(p_lower) > √(|α − c|²/σ_θ² + ‖Δ(α)‖²/σ_ξ²)``. A slice
``[lo, hi] ∋ c`` is therefore certified iff ``σ_θ Φ⁻¹(p_lower) > T = sup_{α ∈ slice} t(α)`` with the
*path shift in parameter units*

    t(α) = √(|α − c|² + ‖Δ(α)‖² / r²),        r = σ_ξ / σ_θ (``sigma_ratio``).

No Jacobian is needed. This module bounds T from above:

- **sound** — ``t`` is evaluated on points of the slice (its ends, an even grid, the transform's
  kink points) and between two neighbouring points a, b the interpolation margin of a proven
  Lipschitz constant ``m ≥ Lip(α ↦ Δ(α)) `` on the slice is added: ‖Δ(α)‖ ≤ min(‖Δ(a)‖ + m(α − a),
  ‖Δ(b)‖ + m(b − α)) ≤ (‖Δ(a)‖ + ‖Δ(b)‖ + m(b − a))/2, and |α − c| ≤ max(|a − c|, |b − c|). With
  ``m = Lip(F2)·L_τ + ‖W‖₂`` (L_τ from :meth:`gsmooth.Transform.path_speed_bound`, Lip(F2) from
  :mod:`gsmooth.surrogate.lipschitz_bounds`) every step is a proof. Sub-intervals whose bound exceeds the
  best evaluated value by more than ``rtol`` are bisected (branch and bound, batched over all
  slices) until the bound is within ``rtol`` of the evaluated maximum or ``max_points`` are spent;
- **estimate** — without a speed bound: the maximum of ``t`` over the (finer, even) grid. The sup
  between grid points may be larger; certificates built on it are labelled ``estimate``.

Everything is computed in float64 (the encoder is evaluated on a float64 copy).

Example:
    >>> import torch
    >>> W = torch.tensor([[1.0], [0.0]], dtype=torch.float64)          # F1(θ) = (θ, 0)
    >>> path = lambda a: torch.stack([a, a ** 2], dim=1)               # F2(τ(α, x)) = (α, α²)
    >>> b = slice_shift_bounds(path, W, lows=[0.0], highs=[1.0], centers=[0.5], ratio=1.0,
    ...                        lipschitz=2.0 + 1.0 + 1e-9)             # Lip(Δ) ≤ sup|2α| + ‖W‖
    >>> exact = (0.5 ** 2 + 0.75 ** 2) ** 0.5                         # t at α = 1: Δ = (0, α² − ¼)
    >>> bool(b.upper[0] >= exact and b.upper[0] <= 1.02 * exact), b.guarantee
    (True, 'sound')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..errors import InvalidParameterError

__all__ = ["PathShiftBounds", "slice_shift_bounds", "GUARANTEES"]

#: What a certificate's M* rests on: ``exact`` (a resolvable transform, M* = 1), ``sound`` (a proven
#: bound on the whole path) or ``estimate`` (a grid maximum).
GUARANTEES = ("exact", "sound", "estimate")


@dataclass(frozen=True)
class PathShiftBounds:
    """Bounds on ``T_k = sup_{α ∈ slice k} t(α)`` (parameter units; see the module docs).

    Attributes:
        upper: ``(K,)`` the bound T_k used by the certificate (a proof when ``guarantee == "sound"``).
        lower: ``(K,)`` the largest evaluated ``t`` — a true lower bound on T_k (``upper / lower``
            says how tight the bound is).
        guarantee: ``"sound"`` or ``"estimate"``.
        points: ``(K,)`` path points evaluated per slice.
        lipschitz: the constant m used for the margin (None for an estimate).
    """

    upper: np.ndarray
    lower: np.ndarray
    guarantee: str
    points: np.ndarray
    lipschitz: float | None = None


class _PathCache:
    """``α ↦ F2(τ(α, x))`` as float64 vectors, each α evaluated once (batched)."""

    def __init__(self, path: Callable[[torch.Tensor], torch.Tensor], chunk: int, bar=None):
        self.path, self.chunk, self.bar = path, int(chunk), bar
        self.values: dict[float, np.ndarray] = {}
        self.norms: dict[float, float] = {}  # ‖F2(τ(α, x))‖, for the float slack

    def fill(self, alphas) -> None:
        new = sorted({float(a) for a in alphas} - self.values.keys())
        for i in range(0, len(new), self.chunk):
            part = new[i : i + self.chunk]
            with torch.no_grad():
                out = self.path(torch.tensor(part, dtype=torch.float64))
            out = out.reshape(len(part), -1).double().cpu().numpy()
            if not np.all(np.isfinite(out)):
                raise InvalidParameterError(
                    "path bounds: expected finite encoder outputs F2(τ(α, x)) along the path, got NaN/inf "
                    f"at some α in [{part[0]:g}, {part[-1]:g}]"
                )
            for a, v, nv in zip(part, out, np.linalg.norm(out, axis=1)):
                self.values[a], self.norms[a] = v, float(nv)
            if self.bar is not None:
                self.bar.update(len(part))

    def __getitem__(self, a: float) -> np.ndarray:
        return self.values[float(a)]


def slice_shift_bounds(
    path: Callable[[torch.Tensor], torch.Tensor],
    W: torch.Tensor,
    *,
    lows: Sequence[float],
    highs: Sequence[float],
    centers: Sequence[float],
    ratio: float,
    lipschitz: float | Sequence[float] | None = None,
    kinks: Sequence[float] = (),
    initial: int = 8,
    estimate_points: int = 33,
    rtol: float = 0.02,
    max_points: int = 257,
    chunk: int = 256,
    fp_rtol: float = 1e-5,
    progress: bool = False,
) -> PathShiftBounds:
    """Upper bounds on ``T_k = sup_{α ∈ [lo_k, hi_k]} √(|α − c_k|² + ‖Δ_k(α)‖²/ratio²)`` per slice.

    Args:
        path: ``α (N,) float64 ↦ F2(τ(α, x)) (N, …)`` — the encoder along one image's path.
        W: ``(m, 1)`` the matrix of F1.
        lows, highs, centers: the K slices ``[lo_k, hi_k]`` and their reference points ``c_k`` (the
            point smoothed: usually the slice's centre; the point of a radius certificate, 0, may
            lie outside a segment).
        ratio: σ_ξ / σ_θ.
        lipschitz: a proven Lipschitz constant of ``α ↦ Δ(α)`` on each slice (one number, or K):
            ``Lip(F2)·L_τ + ‖W‖₂``; ``None`` gives an ``estimate`` (grid maximum, no margin).
        kinks: parameter values where the path is not differentiable (added to the grids).
        initial: sub-intervals per slice to start the branch and bound with (sound mode).
        estimate_points: grid points per slice in estimate mode (ends included).
        rtol: stop refining a slice once its bound is within ``rtol`` of its evaluated maximum.
        max_points: path evaluations per slice at most (sound mode); the bound is valid whenever
            it stops, only looser.
        chunk: path evaluations per batch.
        progress: a tqdm counter (stderr) of the path points evaluated.
        fp_rtol: sound mode: ‖Δ‖ is raised by ``fp_rtol·(‖F2(τ(α, x))‖ + ‖F2(τ(c, x))‖)`` to cover
            the sampler's float32 evaluation of the encoder and the transform (measured ≤ 5e-7
            relative on the embedded rotational-blur surrogate; the default keeps a 20× margin).

    Returns:
        a :class:`PathShiftBounds`.
    """
    bar = None
    if progress:
        from .._progress import progress_bar

        bar = progress_bar(None, unit="point", desc="path bounds")
    try:
        return _slice_shift_bounds(
            path, W, lows=lows, highs=highs, centers=centers, ratio=ratio, lipschitz=lipschitz, kinks=kinks,
            initial=initial, estimate_points=estimate_points, rtol=rtol, max_points=max_points, chunk=chunk,
            fp_rtol=fp_rtol, bar=bar,
        )
    finally:
        if bar is not None:
            bar.close()


def _slice_shift_bounds(
    path, W, *, lows, highs, centers, ratio, lipschitz, kinks, initial, estimate_points, rtol, max_points, chunk,
    fp_rtol, bar,
) -> PathShiftBounds:
    lo = np.asarray(lows, dtype=np.float64).reshape(-1)
    hi = np.asarray(highs, dtype=np.float64).reshape(-1)
    c = np.asarray(centers, dtype=np.float64).reshape(-1)
    k_total = lo.size
    if not (hi.size == k_total and c.size == k_total) or k_total == 0:
        raise InvalidParameterError(
            f"path bounds: expected lows, highs and centers of one common length, got {lo.size}, {hi.size}, {c.size}"
        )
    if not np.all(lo <= hi):
        raise InvalidParameterError("path bounds: expected lo <= hi for every slice")
    if not (isinstance(ratio, (int, float)) and ratio > 0 and math.isfinite(ratio)):
        raise InvalidParameterError(f"path bounds: expected a positive finite ratio sigma_xi/sigma_theta, got {ratio!r}")
    if lipschitz is not None:
        lip = np.broadcast_to(np.asarray(lipschitz, dtype=np.float64), (k_total,)).copy()
        if not np.all(np.isfinite(lip)) or np.any(lip < 0):
            raise InvalidParameterError(f"path bounds: expected finite Lipschitz constants >= 0, got {lipschitz!r}")
    W64 = W.detach().double().cpu().numpy().reshape(-1)
    cache = _PathCache(path, chunk, bar)
    kinks = np.asarray(sorted(float(v) for v in kinks), dtype=np.float64)

    def grid(k: int, count: int) -> list[float]:
        pts = set(np.linspace(lo[k], hi[k], max(2, count)).tolist()) if hi[k] > lo[k] else {float(lo[k])}
        pts |= {float(v) for v in kinks if lo[k] < v < hi[k]}
        pts.add(float(c[k]))
        return sorted(pts)

    deltas: list[dict[float, float]] = [{} for _ in range(k_total)]  # ‖Δ_k(α)‖, each computed once

    def shifts(k: int, pts: list[float]) -> tuple[np.ndarray, np.ndarray]:
        """(‖Δ_k(α)‖, t_k(α)) at the points."""
        known = deltas[k]
        new = [p for p in pts if p not in known]
        if new:
            a_new = np.asarray(new)
            vals = np.stack([cache[p] for p in new])
            norms = np.linalg.norm(vals - cache[c[k]][None, :] - np.outer(a_new - c[k], W64), axis=1)
            known.update(zip(new, norms.tolist()))
        a = np.asarray(pts)
        delta = np.array([known[p] for p in pts])
        return delta, np.sqrt((a - c[k]) ** 2 + (delta / ratio) ** 2)

    if lipschitz is None:
        grids = [grid(k, estimate_points) for k in range(k_total)]
        cache.fill([p for g in grids for p in g])
        lower = np.array([shifts(k, g)[1].max() for k, g in enumerate(grids)])
        return PathShiftBounds(upper=lower.copy(), lower=lower, guarantee="estimate",
                               points=np.array([len(g) for g in grids]), lipschitz=None)

    grids = [grid(k, initial + 1) for k in range(k_total)]
    upper = np.full(k_total, np.inf)
    lower = np.zeros(k_total)
    active = list(range(k_total))
    while True:
        cache.fill([p for k in active for p in grids[k]])
        split: dict[int, list[float]] = {}
        for k in active:
            pts = grids[k]
            delta, t = shifts(k, pts)
            lower[k] = float(t.max())
            if len(pts) == 1:
                upper[k] = lower[k]
                continue
            a = np.asarray(pts)
            length = np.diff(a)
            dist = np.maximum(np.abs(a[:-1] - c[k]), np.abs(a[1:] - c[k]))
            slack = fp_rtol * (max(cache.norms[p] for p in pts) + lip[k] * float(length.max()) + cache.norms[float(c[k])])
            d_up = 0.5 * (delta[:-1] + delta[1:] + lip[k] * length) + slack
            seg = np.sqrt(dist ** 2 + (d_up / ratio) ** 2)
            upper[k] = max(float(seg.max()), lower[k]) * (1.0 + 1e-12)  # float64 rounding of the norms
            target = lower[k] * (1.0 + rtol)
            if upper[k] <= target or len(pts) >= max_points:
                continue
            order = np.argsort(-seg)
            budget = max_points - len(pts)
            mids = [0.5 * (a[i] + a[i + 1]) for i in order[:budget] if seg[i] > target and length[i] > 1e-12 * max(1.0, abs(a[i]))]
            if mids:
                split[k] = mids
        if not split:
            break
        for k, mids in split.items():
            grids[k] = sorted(set(grids[k]) | set(mids))
        active = list(split)
    return PathShiftBounds(upper=upper, lower=lower, guarantee="sound",
                           points=np.array([len(g) for g in grids]),
                           lipschitz=float(lip.max()))
