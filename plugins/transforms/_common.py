"""Helpers shared by the built-in semantic transforms (private: not part of the plugin contract).

Conventions every transform here follows:

- ``x`` is a ``(B, C, H, W)`` floating tensor (pixels nominally in [0, 1]; nothing is clipped);
- ``theta`` is ``(B, param_dim)`` — one parameter vector per image — or, for ``param_dim == 1``,
  also ``(B,)``; it is cast to the computation dtype and moved to ``x``'s device;
- float16 / bfloat16 inputs are computed in float32 and cast back once at the end (the FFTs and
  ``grid_sample`` used here have no CPU half kernels, and bfloat16 sampling coordinates would be off
  by up to a quarter pixel on a 32-pixel image); float32 and float64 are computed natively.

Only the public ``gsmooth`` API is imported, as for a third-party plugin.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch

import gsmooth

__all__ = [
    "PADDING_MODES",
    "check_image",
    "compute_dtype",
    "params",
    "check_int",
    "check_real",
    "check_option",
    "path_args",
    "image_hw",
    "SAFETY_FACTOR",
]

#: Relative round-up of the proven path-speed bounds (``path_speed_bound``), for float64 rounding.
SAFETY_FACTOR = 1.0 + 1e-9

#: ``grid_sample`` padding modes accepted by the geometric transforms (kornia's names).
PADDING_MODES = ("zeros", "border", "reflection")


def check_image(fn: str, x: torch.Tensor) -> None:
    """Raise a clear error unless ``x`` is a floating ``(B, C, H, W)`` tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{fn}: expected x to be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{fn}: expected x of shape (B, C, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{fn}: expected a floating-point x (pixels in [0, 1]), got {x.dtype}")


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """float32 for half-precision inputs, else ``x.dtype`` (see the module docstring)."""
    return torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype


def params(fn: str, theta, x: torch.Tensor, dim: int, dtype: torch.dtype) -> torch.Tensor:
    """``theta`` as a ``(B, dim)`` tensor of ``dtype`` on ``x``'s device (a float is broadcast)."""
    b = x.shape[0]
    if not isinstance(theta, torch.Tensor):
        theta = torch.as_tensor(theta, dtype=dtype, device=x.device)
    theta = theta.to(device=x.device, dtype=dtype)
    if theta.dim() == 0:
        theta = theta.expand(b, dim)
    elif dim == 1 and theta.dim() == 1:
        theta = theta.reshape(-1, 1)
    if theta.dim() != 2 or theta.shape[1] != dim or theta.shape[0] not in (1, b):
        raise ValueError(
            f"{fn}: expected theta of shape (B, {dim}) with B = {b} (one parameter vector per image), "
            f"got {tuple(theta.shape)}"
        )
    return theta.expand(b, dim)


def _bad(owner: str, name: str, expected: str, value) -> gsmooth.InvalidParameterError:
    return gsmooth.InvalidParameterError(f"{owner}: parameter {name!r} expected {expected}, got {value!r}")


def check_int(owner: str, name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise _bad(owner, name, f"an integer >= {minimum}", value)


def check_real(owner: str, name: str, value, minimum: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise _bad(owner, name, "a finite number" + ("" if minimum is None else f" >= {minimum:g}"), value)
    if minimum is not None and value < minimum:
        raise _bad(owner, name, f"a finite number >= {minimum:g}", value)


def check_option(owner: str, name: str, value, options: tuple) -> None:
    if value not in options:
        raise _bad(owner, name, "one of " + ", ".join(repr(o) for o in options), value)


# Proven path-speed bounds for the bilinear-resampling transforms (``Transform.path_speed_bound``):
# the shared proof is the docstring of _bilinear_path_speed_bound below.

#: Target largest source-point displacement (pixels) within one piece of the interval.
_PIECE_PIXELS = 0.25
#: At most this many pieces per interval (the bound stays valid, only looser, when capped).
_MAX_PIECES = 256
#: Final relative round-up of the float64 computation.
_ROUND_UP = 1.0 + 1e-9
#: Relative widening of the boxes (pixels) and absolute slack on sup |sin|, sup |cos|.
_BOX_SLACK = 1e-9
_TRIG_SLACK = 1e-15
#: Elements (pieces × samples × C × H × W) per gather chunk.
_CHUNK = 1 << 20


def _speed_image(owner: str, x) -> torch.Tensor | None:
    """``x`` ``(C, H, W)`` as a float64 CPU tensor, or None when H or W < 2 (no bound offered:
    kornia maps a singleton axis specially). Raises on a wrong shape or non-finite pixels."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{owner}: expected x to be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 3:
        raise ValueError(f"{owner}: expected one image x of shape (C, H, W), got {tuple(x.shape)}")
    if not (x.is_floating_point() or x.dtype in (torch.uint8, torch.int32, torch.int64)):
        raise TypeError(f"{owner}: expected a real x, got {x.dtype}")
    x64 = x.detach().to(device="cpu", dtype=torch.float64)
    if not bool(torch.isfinite(x64).all()):
        raise ValueError(f"{owner}: x has non-finite pixels; no finite speed bound exists")
    if x64.shape[1] < 2 or x64.shape[2] < 2:
        return None
    return x64


def _speed_interval(owner: str, low, high) -> tuple[float, float]:
    """``(low, high)`` as finite floats with low ≤ high."""
    low, high = float(low), float(high)
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"{owner}: expected finite low <= high, got [{low!r}, {high!r}]")
    return low, high


def _pixel_offsets(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(du, dv)``, each ``(H, W)`` float64: pixel centre minus kornia's image centre
    ``((W − 1)/2, (H − 1)/2)`` (u = column, v = row)."""
    v, u = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    return u - (w - 1) / 2.0, v - (h - 1) / 2.0


def _cos_range(t0: torch.Tensor, t1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact ``(min, max)`` of cos over ``[t0, t1]`` (elementwise, t0 ≤ t1): ±1 when the interval
    holds a multiple of 2π (resp. an odd multiple of π), else the endpoint values (cos is monotone
    between its extrema)."""
    two_pi = 2.0 * math.pi
    c0, c1 = torch.cos(t0), torch.cos(t1)
    has_max = torch.ceil(t0 / two_pi) <= torch.floor(t1 / two_pi)
    has_min = torch.ceil((t0 - math.pi) / two_pi) <= torch.floor((t1 - math.pi) / two_pi)
    hi = torch.where(has_max, torch.ones_like(c0), torch.maximum(c0, c1))
    lo = torch.where(has_min, -torch.ones_like(c0), torch.minimum(c0, c1))
    return lo, hi


def _cell_tables(x64: torch.Tensor, padding_mode: str) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Per-cell bounds ``(Gu, Gv, offset)`` on the canonical cells of the padded lattice.

    ``Gu[c, j, i]`` = max |horizontal difference| of cell (i − offset, j − offset)'s two rows,
    ``Gv`` the vertical one over its two columns (step 2 of the shared argument), padding values
    included. Every cell of the infinite lattice has the (Gu, Gv) of the canonical cell that
    :func:`_canonical_cells` maps it to: zeros pads 2 zeros per side (cells −2 … n: beyond them all
    differences vanish), border 1 replicated pixel (cells −1 … n − 1: beyond them the lattice repeats
    them), reflection none (cells 0 … n − 2; the rest are mirror images).
    """
    fn = torch.nn.functional
    if padding_mode == "zeros":
        ext, offset = fn.pad(x64, (2, 2, 2, 2), mode="constant", value=0.0), 2
    elif padding_mode == "border":
        ext, offset = fn.pad(x64[None], (1, 1, 1, 1), mode="replicate")[0], 1
    elif padding_mode == "reflection":
        ext, offset = x64, 0
    else:  # pragma: no cover - checked by the transforms
        raise ValueError(f"unknown padding_mode {padding_mode!r}")
    du = (ext[:, :, 1:] - ext[:, :, :-1]).abs()  # (C, He, We − 1)
    dv = (ext[:, 1:, :] - ext[:, :-1, :]).abs()  # (C, He − 1, We)
    gu = torch.maximum(du[:, :-1, :], du[:, 1:, :])  # (C, He − 1, We − 1)
    gv = torch.maximum(dv[:, :, :-1], dv[:, :, 1:])
    return gu, gv, offset


def _canonical_cells(i0: torch.Tensor, i1: torch.Tensor, n: int, padding_mode: str):
    """Map the cell-index range ``[i0, i1]`` (int64, one axis of length n) to the canonical range
    ``[k0, k1]`` (0-based table indices) whose cells carry exactly the same (Gu, Gv) values.

    zeros / border: clamping (all cells beyond the clamp carry the clamp cell's values).
    reflection: cell i is canonical cell m = i mod 2(n − 1) if m ≤ n − 2, else 2(n − 1) − 1 − m —
    a triangle wave in i that moves by 0 or ±1 per step, so a range maps onto a range: [0, n − 2]
    when it holds an index ≡ 2n − 3 or 0 (the bottom turn; the min is then 0) and one ≡ n − 2 or
    n − 1 (the top turn; the max is then n − 2), else the min/max of its two endpoints' images.
    """
    if padding_mode == "zeros":
        return i0.clamp(-2, n) + 2, i1.clamp(-2, n) + 2
    if padding_mode == "border":
        return i0.clamp(-1, n - 1) + 1, i1.clamp(-1, n - 1) + 1
    period = 2 * (n - 1)
    width = i1 - i0

    def image(i):
        m = torch.remainder(i, period)
        return torch.where(m <= n - 2, m, period - 1 - m)

    def holds(residue):  # some t in [i0, i1] with t ≡ residue (mod period)
        return torch.remainder(residue - i0, period) <= width

    k0, k1 = image(i0), image(i1)
    lo = torch.where(holds(period - 1) | holds(0), torch.zeros_like(k0), torch.minimum(k0, k1))
    hi = torch.where(holds(n - 2) | holds(n - 1), torch.full_like(k0, n - 2), torch.maximum(k0, k1))
    return lo, hi


def _floor_log2_table(n: int) -> torch.Tensor:
    t = torch.zeros(n + 1, dtype=torch.int64)
    for k in range(2, n + 1):
        t[k] = t[k // 2] + 1
    return t


class _RangeMax:
    """Exact maxima of a ``(C, Hc, Wc)`` table over axis-aligned boxes (2-D sparse table, levels
    built as needed): the max over rows j0..j1, columns i0..i1 is the max of four overlapping
    power-of-two blocks."""

    def __init__(self, g: torch.Tensor):
        self.g = g
        self.C, self.Hc, self.Wc = g.shape
        self.levels: dict[tuple[int, int], torch.Tensor] = {(0, 0): g}
        self.log2 = _floor_log2_table(max(self.Hc, self.Wc))

    def _level(self, a: int, b: int) -> torch.Tensor:
        if (a, b) not in self.levels:
            if b > 0:
                prev, s = self._level(a, b - 1), 1 << (b - 1)
                t = torch.maximum(prev[:, :, :-s], prev[:, :, s:])
            else:
                prev, s = self._level(a - 1, 0), 1 << (a - 1)
                t = torch.maximum(prev[:, :-s, :], prev[:, s:, :])
            self.levels[(a, b)] = t
        return self.levels[(a, b)]

    def query(self, j0, j1, i0, i1) -> torch.Tensor:
        """Maxima over the boxes given by int64 tensors of one shape S (inclusive, 0-based table
        indices, j0 ≤ j1, i0 ≤ i1); returns shape ``(*S, C)``."""
        la = self.log2[(j1 - j0 + 1)]
        lb = self.log2[(i1 - i0 + 1)]
        out = torch.full(j0.shape + (self.C,), -math.inf, dtype=self.g.dtype)
        for a in torch.unique(la).tolist():
            for b in torch.unique(lb[la == a]).tolist():
                sel = (la == a) & (lb == b)
                t = self._level(a, b)  # (C, Hc − 2^a + 1, Wc − 2^b + 1)
                hh, ww = t.shape[1], t.shape[2]
                flat = t.reshape(self.C, -1)
                ja, jb = j0[sel], j1[sel] - (1 << a) + 1
                ia, ib = i0[sel], i1[sel] - (1 << b) + 1
                m = None
                for jj in (ja, jb):
                    for ii in (ia, ib):
                        v = flat[:, jj * ww + ii]  # (C, n_sel)
                        m = v if m is None else torch.maximum(m, v)
                out[sel] = m.T
        return out


def _bilinear_path_speed_bound(x64, padding_mode, edges, geometry, weights) -> float:
    """``max_piece ‖Σ_k w_k (Gu_k·su_k + Gv_k·sv_k)‖₂``: a proven Lipschitz constant of α ↦ τ(α, x).

    Proof (shared by rotation, scaling, rotational/zoom/motion blur; each transform's
    ``path_speed_bound`` docstring adds its coordinate map q(α, p) and the speeds of q):

    1. Sampling model. kornia's ``rotate`` / ``scale`` / ``translate`` call ``grid_sample`` (bilinear,
       ``align_corners=True``), so output pixel p = (u, v) (u the column, v the row, pixel centres on
       the integers) of channel c is I_c(q(α, p)): the bilinear interpolant I_c of the image *extended
       to the whole integer lattice by the padding* — zeros: 0 outside; border: the nearest edge pixel
       (grid_sample clamps the coordinate, which is the same function); reflection: mirrored about the
       pixel centres 0 and n − 1, period 2(n − 1) (grid_sample reflects the coordinate, the same
       function again). I_c is continuous and bilinear on every closed unit cell [i, i+1]×[j, j+1].
    2. One cell. On cell (i, j), ∂I/∂u = (1 − t)·D_u(j) + t·D_u(j + 1) (t = v − j ∈ [0, 1], D_u(row)
       the difference of the cell's two pixels in that row), so |∂I/∂u| ≤ Gu(i, j) = max |D_u| over
       the cell's two rows; likewise |∂I/∂v| ≤ Gv(i, j) over its two columns — padding values included.
    3. One piece of the interval. Let the source point of p stay in an axis-aligned box B while α runs
       over a piece [a, b], with |dq_u/dα| ≤ su and |dq_v/dα| ≤ sv there. For α, β in the piece, the
       segment from q(α) to q(β) lies in B (convex); cut it where it crosses grid lines: each part lies
       in one closed cell meeting B, and the mean-value theorem on it gives |ΔI| ≤ Gu|Δu| + Gv|Δv|
       with Gu, Gv the maxima over the cells meeting B; the parts' |Δu| add up to |u(β) − u(α)| (a
       segment is monotone), so |I(q(β)) − I(q(α))| ≤ (Gu·su + Gv·sv)·|β − α|.
    4. Averages. τ = Σ_k w_k·(sample k) (w_k ≥ 0): per pixel the bound is Σ_k w_k·(Gu_k su_k + Gv_k sv_k)
       (triangle inequality), and ‖τ(β) − τ(α)‖₂ ≤ L_piece·|β − α| with L_piece the ℓ2 norm of these
       per-pixel constants over all C·H·W outputs (summing per pixel first is never looser than the
       mean of per-sample ℓ2 bounds, by Minkowski).
    5. Whole interval. [low, high] is cut into pieces; for α < β in different pieces, split [α, β] at
       the piece edges and add up: ‖τ(β) − τ(α)‖₂ ≤ max_piece L_piece·|β − α|. Pieces are sized so the
       fastest source point moves ≲ _PIECE_PIXELS pixels in one (at most _MAX_PIECES pieces; more
       would only tighten the bound, never change its validity), so each box meets 1–4 cells.
    6. Floating point. Everything is computed in float64 on the CPU; boxes are widened by
       1e-9·(1 + |coordinate|) pixels, sup |sin|, sup |cos| get 1e-15, and the result is multiplied by
       1 + 1e-9 (the few roundings of a float64 sum of ≤ 10⁷ terms are far below that). The bound is
       for the map in exact arithmetic: the transform evaluated in floating point differs from it by
       rounding noise (~1e-16 relative in float64, ~1e-7 in float32) that no Lipschitz constant covers
       for |α − β| → 0.

    Args:
        x64: ``(C, H, W)`` float64 image.
        padding_mode: the transform's grid_sample padding.
        edges: 1-D float64 tensor, ``low = e_0 ≤ … ≤ e_n = high``: the pieces ``[e_i, e_{i+1}]``.
        geometry: ``geometry(a, b)`` for piece ends ``a, b`` (each ``(P,)``) returns
            ``(u_lo, u_hi, v_lo, v_hi, su, sv)``, each broadcastable to ``(P, K, H, W)``: a box holding
            the source point of sample k and pixel p over the piece, and bounds on |dq_u/dα|, |dq_v/dα|
            there (pixels per unit α).
        weights: ``(K,)`` non-negative sample weights.
    """
    c, h, w = x64.shape
    gu, gv, _ = _cell_tables(x64, padding_mode)
    rmu, rmv = _RangeMax(gu), _RangeMax(gv)
    weights = torch.as_tensor(weights, dtype=torch.float64)
    k = weights.numel()
    a_all, b_all = edges[:-1], edges[1:]
    chunk = max(1, _CHUNK // max(1, k * c * h * w))
    best = 0.0
    for s in range(0, a_all.numel(), chunk):
        a, b = a_all[s : s + chunk], b_all[s : s + chunk]
        p = a.numel()
        u_lo, u_hi, v_lo, v_hi, su, sv = (
            torch.as_tensor(t, dtype=torch.float64).expand(p, k, h, w) for t in geometry(a, b)
        )
        slack_u = _BOX_SLACK * (1.0 + torch.maximum(u_lo.abs(), u_hi.abs()))
        slack_v = _BOX_SLACK * (1.0 + torch.maximum(v_lo.abs(), v_hi.abs()))
        # cells [i, i+1] covering [u_lo, u_hi]: i = floor(u_lo) … floor(u_hi)
        i0 = torch.floor(u_lo - slack_u).to(torch.int64)
        i1 = torch.floor(u_hi + slack_u).to(torch.int64)
        j0 = torch.floor(v_lo - slack_v).to(torch.int64)
        j1 = torch.floor(v_hi + slack_v).to(torch.int64)
        ki0, ki1 = _canonical_cells(i0, i1, w, padding_mode)
        kj0, kj1 = _canonical_cells(j0, j1, h, padding_mode)
        g_u = rmu.query(kj0, kj1, ki0, ki1)  # (P, K, H, W, C)
        g_v = rmv.query(kj0, kj1, ki0, ki1)
        per = g_u * su[..., None] + g_v * sv[..., None]
        per = (per * weights.view(1, k, 1, 1, 1)).sum(dim=1)  # (P, H, W, C)
        norms = per.reshape(p, -1).norm(dim=1)
        best = max(best, float(norms.max()))
    return best * _ROUND_UP


def _partition(low: float, high: float, n: int) -> torch.Tensor:
    """``n`` equal pieces of ``[low, high]`` (ends exact)."""
    n = int(min(max(n, 1), _MAX_PIECES))
    e = torch.linspace(low, high, n + 1, dtype=torch.float64)
    e[0], e[-1] = low, high
    return e


def _pieces_for(displacement: float) -> int:
    """Pieces needed so that a point moving ``displacement`` pixels moves ≤ _PIECE_PIXELS per piece."""
    if not math.isfinite(displacement):
        return _MAX_PIECES
    return int(min(_MAX_PIECES, max(1, math.ceil(displacement / _PIECE_PIXELS))))


def _rotation_speed_bound(x64, padding_mode, low, high, fractions, weights) -> float:
    """Speed bound for ``Σ_k w_k·rotate(x, f_k·α)`` (α in degrees, f_k ≥ 0): see
    :meth:`gsmooth_plugins.transforms.rotation.Rotation.path_speed_bound` for the coordinate map."""
    c, h, w = x64.shape
    du, dv = _pixel_offsets(h, w)
    r, phi = torch.hypot(du, dv), torch.atan2(dv, du)
    cu, cv = (w - 1) / 2.0, (h - 1) / 2.0
    frac = torch.as_tensor(fractions, dtype=torch.float64).view(1, -1, 1, 1)
    rad = math.pi / 180.0
    edges = _partition(low, high, _pieces_for(float(r.max()) * float(frac.max()) * (high - low) * rad))

    def geometry(a, b):
        t0 = a.view(-1, 1, 1, 1) * frac * rad + phi  # polar angle of q − c at the piece ends
        t1 = b.view(-1, 1, 1, 1) * frac * rad + phi
        clo, chi = _cos_range(t0, t1)
        slo, shi = _cos_range(t0 - math.pi / 2, t1 - math.pi / 2)  # sin t = cos(t − π/2)
        sup_sin = torch.maximum(-slo, shi) + _TRIG_SLACK
        sup_cos = torch.maximum(-clo, chi) + _TRIG_SLACK
        speed = frac * rad * r  # |dq/dα| in pixels per degree
        return cu + r * clo, cu + r * chi, cv + r * slo, cv + r * shi, speed * sup_sin, speed * sup_cos

    return _bilinear_path_speed_bound(x64, padding_mode, edges, geometry, weights)


def _scale_speed_bound(x64, padding_mode, low, high, fractions, weights, min_factor) -> float:
    """Speed bound for ``Σ_k w_k·scale(x, max(1 + f_k·θ, m))`` (f_k ≥ 0): see
    :meth:`gsmooth_plugins.transforms.scaling.Scaling.path_speed_bound` for the coordinate map."""
    c, h, w = x64.shape
    du, dv = _pixel_offsets(h, w)
    cu, cv = (w - 1) / 2.0, (h - 1) / 2.0
    frac = torch.as_tensor(fractions, dtype=torch.float64).view(1, -1, 1, 1)
    m = float(min_factor)
    # pieces equally spaced in 1/factor of the fastest sample (the source point is linear in it)
    fmax = float(frac.max())
    start = max(low, (m - 1.0) / fmax)  # below it the fastest sample is clamped (constant)
    if start >= high:
        edges = torch.tensor([low, high], dtype=torch.float64)
    else:
        g0, g1 = 1.0 / max(1.0 + fmax * start, m), 1.0 / max(1.0 + fmax * high, m)
        n = _pieces_for(float(torch.hypot(du, dv).max()) * abs(g0 - g1))
        g = torch.linspace(g0, g1, n + 1, dtype=torch.float64)
        e = (1.0 / g - 1.0) / fmax
        e[0], e[-1] = start, high
        e = torch.cummax(e, dim=0).values.clamp(max=high)  # monotone despite rounding
        edges = torch.cat([torch.tensor([low], dtype=torch.float64), e]) if low < start else e

    def geometry(a, b):
        za, zb = a.view(-1, 1, 1, 1) * frac, b.view(-1, 1, 1, 1) * frac
        fa, fb = (1.0 + za).clamp(min=m), (1.0 + zb).clamp(min=m)
        ua, ub, va, vb = cu + du / fa, cu + du / fb, cv + dv / fa, cv + dv / fb
        # |d/dθ (c + d/f)| = |d|·f_k/f² where unclamped (f ≥ fa there), 0 where clamped
        rate = torch.where(1.0 + zb > m, frac / (fa * fa), torch.zeros_like(fa))
        return (
            torch.minimum(ua, ub), torch.maximum(ua, ub), torch.minimum(va, vb), torch.maximum(va, vb),
            du.abs() * rate, dv.abs() * rate,
        )

    return _bilinear_path_speed_bound(x64, padding_mode, edges, geometry, weights)


def _translation_speed_bound(x64, padding_mode, low, high, velocities, weights) -> float:
    """Speed bound for ``Σ_k w_k·(x sampled at p + θ·v_k)`` with constant source velocities
    ``v_k = (v_u, v_v)`` (pixels per unit θ): see
    :meth:`gsmooth_plugins.transforms.motion_blur.MotionBlur.path_speed_bound`."""
    c, h, w = x64.shape
    vel = torch.as_tensor(velocities, dtype=torch.float64).reshape(-1, 2)
    vu, vv = vel[:, 0].view(1, -1, 1, 1), vel[:, 1].view(1, -1, 1, 1)
    v, u = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    edges = _partition(low, high, _pieces_for(float(torch.hypot(vel[:, 0], vel[:, 1]).max()) * (high - low)))

    def geometry(a, b):
        a, b = a.view(-1, 1, 1, 1), b.view(-1, 1, 1, 1)
        ua, ub, va, vb = u + a * vu, u + b * vu, v + a * vv, v + b * vv
        return (
            torch.minimum(ua, ub), torch.maximum(ua, ub), torch.minimum(va, vb), torch.maximum(va, vb),
            vu.abs(), vv.abs(),
        )

    return _bilinear_path_speed_bound(x64, padding_mode, edges, geometry, weights)


def path_args(owner: str, x, low, high) -> tuple[torch.Tensor, float, float]:
    """Validate the arguments of ``path_speed_bound(x, low, high)``: one finite floating image
    ``(C, H, W)`` (returned detached, float64, on the CPU) and finite ``low <= high``."""
    if not isinstance(x, torch.Tensor):
        raise gsmooth.InvalidParameterError(f"{owner}.path_speed_bound: expected x to be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 3 or min(x.shape) < 1:
        raise gsmooth.InvalidParameterError(
            f"{owner}.path_speed_bound: expected one image x of shape (C, H, W), got {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise gsmooth.InvalidParameterError(f"{owner}.path_speed_bound: expected a floating-point x, got {x.dtype}")
    x64 = x.detach().to(device="cpu", dtype=torch.float64)
    if not bool(torch.isfinite(x64).all()):
        raise gsmooth.InvalidParameterError(f"{owner}.path_speed_bound: expected finite pixels, got a non-finite value")
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(float(v)):
            raise gsmooth.InvalidParameterError(f"{owner}.path_speed_bound: {name} expected a finite number, got {v!r}")
    if float(low) > float(high):
        raise gsmooth.InvalidParameterError(f"{owner}.path_speed_bound: expected low <= high, got [{low!r}, {high!r}]")
    return x64, float(low), float(high)


def image_hw(owner: str, image_size) -> tuple[int, int]:
    """``(H, W)`` from ``image_size`` given as ``(H, W)`` or ``(C, H, W)`` (e.g. ``x.shape[-3:]``)."""
    try:
        dims = tuple(int(d) for d in image_size)
        ok = len(dims) in (2, 3) and all(int(d) == d and d >= 1 for d in image_size)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise gsmooth.InvalidParameterError(f"{owner}.kink_points: image_size expected (H, W) or (C, H, W), got {image_size!r}")
    return dims[-2], dims[-1]
