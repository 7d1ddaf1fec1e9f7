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
from gsmooth.errors import InputError, InputTypeError, InvalidParameterError
from gsmooth.validation import Interval, Options, check_images, check_theta

__all__ = [
    "PADDING_MODES",
    "PADDING_MODE",
    "NUM_SAMPLES",
    "FINITE",
    "check_image",
    "compute_dtype",
    "params",
    "path_args",
    "image_hw",
    "SAFETY_FACTOR",
]

#: Relative round-up of the proven path-speed bounds (``path_speed_bound``), for float64 rounding.
SAFETY_FACTOR = 1.0 + 1e-9

#: ``grid_sample`` padding modes accepted by the geometric transforms (kornia's names).
PADDING_MODES = ("zeros", "border", "reflection")

# Rules shared by the transforms' ``_parameter_constraints`` tables (:mod:`gsmooth.validation`);
# each class's table is the one source: its ``__init__`` and its pure function both check against it.

#: ``padding_mode`` of the resampling transforms: one of :data:`PADDING_MODES`.
PADDING_MODE = [Options(PADDING_MODES)]
#: ``num_samples`` of the blurs: K ≥ 2 samples along the path, both ends included.
NUM_SAMPLES = [Interval(Integral, 2, None)]
#: Any finite number (a bool or a number beyond float range is not one): ``low`` / ``high`` of the
#: speed-bound and kink methods.
FINITE = Interval(Real, None, None)


def check_image(fn: str, x: torch.Tensor) -> None:
    """:func:`gsmooth.validation.check_images` without the finiteness pass (the Smoother checks the
    image once; a transform's pure function propagates NaN like torch does)."""
    check_images(x, owner=fn, finite=False)


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """float32 for half-precision inputs, else ``x.dtype`` (see the module docstring)."""
    return torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype


def params(fn: str, theta, x: torch.Tensor, dim: int, dtype: torch.dtype) -> torch.Tensor:
    """``theta`` as a ``(B, dim)`` tensor of ``dtype`` on ``x``'s device (a float is broadcast):
    :func:`gsmooth.validation.check_theta` without the finiteness pass (θ come from the noise)."""
    return check_theta(theta, batch=x.shape[0], param_dim=dim, owner=fn, dtype=dtype, device=x.device, finite=False)


# Proven path-speed bounds for the bilinear-resampling transforms (``Transform.path_speed_bound``):
# the shared proof is the docstring of _bilinear_path_speed_bound below.

#: Target largest source-point displacement (pixels) within one piece of the interval.
_PIECE_PIXELS = 0.25
#: At most this many pieces per interval (the bound stays valid, only looser, when capped).
_MAX_PIECES = 256
#: Final relative round-up of the float64 computation.
_ROUND_UP = 1.0 + 1e-9
#: Widening of computed box ends (pixels, relative to 1 + |coordinate|); slack on sup |sin|, |cos|
#: (relative to 1 + |angle| in radians: the rounding of t = α·f·π/180 + φ grows with |t|).
_BOX_SLACK = 1e-9
_TRIG_SLACK = 1e-15
#: Elements (pieces × samples × H × W × C) per chunk of the computation.
_CHUNK = 1 << 20


def _speed_image(owner: str, x) -> torch.Tensor | None:
    """``x`` ``(C, H, W)`` as a float64 CPU tensor, or None when H or W < 2 (no bound offered:
    kornia maps a singleton axis specially). Raises on a wrong shape or non-finite pixels."""
    if not isinstance(x, torch.Tensor):
        raise InputTypeError(f"{owner}: expected x to be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 3:
        raise InputError(f"{owner}: expected one image x of shape (C, H, W), got {tuple(x.shape)}")
    if x.is_complex() or x.dtype == torch.bool:
        raise InputTypeError(f"{owner}: expected a real x, got {x.dtype}")
    x64 = x.detach().to(device="cpu", dtype=torch.float64)
    if not bool(torch.isfinite(x64).all()):
        raise InputError(f"{owner}: expected finite pixels (no finite speed bound exists otherwise), got NaN/inf")
    if x64.shape[1] < 2 or x64.shape[2] < 2:
        return None
    return x64


def _speed_interval(owner: str, low, high) -> tuple[float, float]:
    """``(low, high)`` as finite floats with low ≤ high."""
    low, high = float(low), float(high)
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise InvalidParameterError(f"{owner}: expected finite low <= high, got [{low!r}, {high!r}]")
    return low, high


def _pixel_grid(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(u, v)``, each ``(H, W)`` float64: the column and row of every pixel centre."""
    v, u = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    return u, v


def _lower(t: torch.Tensor, exact=None, scale=0.0) -> torch.Tensor:
    """A float ≤ the exact value that ``t`` approximates, computed with intermediates of magnitude
    ≲ ``scale`` (widening 1e-9·(1 + |t| + scale) ≫ their roundings); ``exact``: where ``t`` is
    known to be exact (no widening)."""
    out = t - _BOX_SLACK * (1.0 + t.abs() + scale)
    return out if exact is None else torch.where(exact, t, out)


def _upper(t: torch.Tensor, exact=None, scale=0.0) -> torch.Tensor:
    """A float ≥ the exact value that ``t`` approximates (see :func:`_lower`)."""
    out = t + _BOX_SLACK * (1.0 + t.abs() + scale)
    return out if exact is None else torch.where(exact, t, out)


def _holds(t0: torch.Tensor, t1: torch.Tensor, phase: float) -> torch.Tensor:
    """Whether ``[t0, t1]`` holds a point ≡ ``phase`` (mod 2π), elementwise (t0 ≤ t1)."""
    two_pi = 2.0 * math.pi
    return torch.ceil((t0 - phase) / two_pi) <= torch.floor((t1 - phase) / two_pi)


def _face_tables(x64: torch.Tensor, padding_mode: str) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(Gu, Gv, offset)``: bounds on |∂I/∂u|, |∂I/∂v| on every *face* of the padded lattice.

    Faces are indexed by half-integers, doubled: along an axis, index 2i is the grid line at i and
    2i + 1 the open unit interval (i, i + 1); a face is a pair (row index, column index) — an open
    cell, an open edge or a vertex. With D_u(j, i) = X(j, i+1) − X(j, i), D_v(j, i) = X(j+1, i) − X(j, i)
    on the padded lattice X:

    - open cell (2j+1, 2i+1): Gu = max(|D_u(j, i)|, |D_u(j+1, i)|), Gv = max(|D_v(j, i)|, |D_v(j, i+1)|)
      (∂I/∂u there is a convex combination of D_u(j, i) and D_u(j+1, i));
    - open horizontal edge (2j, 2i+1): Gu = |D_u(j, i)| (I is linear there), Gv = 0 (no motion in
      v within the edge); open vertical edge (2j+1, 2i): Gu = 0, Gv = |D_v(j, i)|;
    - vertex (2j, 2i): 0, 0.

    Table index = face index + ``offset``. zeros pads one zero pixel per side (faces −2 … 2n: every
    face beyond involves zero pixels only); border and reflection need no padding (faces 0 … 2(n−1);
    :func:`_canonical_faces` maps the rest onto these).
    """
    fn = torch.nn.functional
    if padding_mode == "zeros":
        ext, offset = fn.pad(x64, (1, 1, 1, 1), mode="constant", value=0.0), 2
    elif padding_mode in ("border", "reflection"):
        ext, offset = x64, 0
    else:  # pragma: no cover - checked by the transforms
        raise InvalidParameterError(f"padding_mode expected one of {PADDING_MODES}, got {padding_mode!r}")
    c, hh, ww = ext.shape
    du = (ext[:, :, 1:] - ext[:, :, :-1]).abs()  # (C, hh, ww − 1)
    dv = (ext[:, 1:, :] - ext[:, :-1, :]).abs()  # (C, hh − 1, ww)
    gu = torch.zeros(c, 2 * hh - 1, 2 * ww - 1, dtype=torch.float64)
    gv = torch.zeros_like(gu)
    gu[:, 0::2, 1::2] = du
    gu[:, 1::2, 1::2] = torch.maximum(du[:, :-1, :], du[:, 1:, :])
    gv[:, 1::2, 0::2] = dv
    gv[:, 1::2, 1::2] = torch.maximum(dv[:, :, :-1], dv[:, :, 1:])
    return gu, gv, offset


def _canonical_faces(h0: torch.Tensor, h1: torch.Tensor, n: int, padding_mode: str):
    """Map the face-index range ``[h0, h1]`` (int64, one axis of n pixels) to a range ``[k0, k1]`` of
    table indices whose faces carry exactly the same (Gu, Gv) values as the original faces.

    zeros: clamp to [−2, 2n] (faces beyond involve zero pixels only, like faces −2 and 2n);
    border: clamp to [0, 2(n − 1)] (faces beyond see the edge pixels repeated: the same values as the
    edge line); reflection: the padded lattice is mirrored about the lines 0 and n − 1, so face h has
    the values of face m = h mod 4(n − 1) if m ≤ 2(n − 1), else 4(n − 1) − m — a triangle wave with
    steps ±1, so a range maps onto the range [min, max] of its image: 0 when it holds an index
    ≡ 0, 2(n − 1) when it holds one ≡ 2(n − 1), else the endpoints' images.
    """
    if padding_mode == "zeros":
        return h0.clamp(-2, 2 * n) + 2, h1.clamp(-2, 2 * n) + 2
    top = 2 * (n - 1)
    if padding_mode == "border":
        return h0.clamp(0, top), h1.clamp(0, top)
    period = 2 * top
    width = h1 - h0

    def image(h):
        m = torch.remainder(h, period)
        return torch.where(m <= top, m, period - m)

    def holds(residue):  # some h in [h0, h1] with h ≡ residue (mod period)
        return torch.remainder(residue - h0, period) <= width

    k0, k1 = image(h0), image(h1)
    lo = torch.where(holds(0), torch.zeros_like(k0), torch.minimum(k0, k1))
    hi = torch.where(holds(top), torch.full_like(k0, top), torch.maximum(k0, k1))
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
        self.C = g.shape[0]
        self.levels: dict[tuple[int, int], torch.Tensor] = {(0, 0): g}
        self.log2 = _floor_log2_table(max(g.shape[1], g.shape[2]))

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
        la = self.log2[j1 - j0 + 1]
        lb = self.log2[i1 - i0 + 1]
        out = torch.empty(j0.shape + (self.C,), dtype=self.g.dtype)
        for a in torch.unique(la).tolist():
            for b in torch.unique(lb[la == a]).tolist():
                sel = (la == a) & (lb == b)
                t = self._level(a, b)
                flat, ww = t.reshape(self.C, -1), t.shape[2]
                ja, jb = j0[sel], j1[sel] - (1 << a) + 1
                ia, ib = i0[sel], i1[sel] - (1 << b) + 1
                m = torch.maximum(
                    torch.maximum(flat[:, ja * ww + ia], flat[:, ja * ww + ib]),
                    torch.maximum(flat[:, jb * ww + ia], flat[:, jb * ww + ib]),
                )
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
       pixel centres 0 and n − 1, period 2(n − 1) (grid_sample reflects the coordinate: the same
       function again). I_c is continuous, and bilinear on every closed unit cell. (The tests check
       this model against kornia's output to 1e-10, rounding at far-out source points included.)
    2. Faces. The grid lines cut the plane into open cells, open edges and vertices. In the open
       cell (i, i+1)×(j, j+1), ∂I/∂u = (1 − t)·D_u(j, i) + t·D_u(j+1, i) (t = v − j, D_u the
       difference of horizontally adjacent lattice values), so |∂I/∂u| ≤ Gu = max of the two |D_u|;
       likewise |∂I/∂v| ≤ Gv = max of the cell's two |D_v|. On an open edge v = j, I is linear in u
       with slope D_u(j, i) and v does not move (Gu = |D_u(j, i)|, Gv = 0), and symmetrically
       (:func:`_face_tables`). Padding values are part of the lattice, so their differences count.
    3. One piece of the interval. Let the source point of p stay in an axis-aligned box B (computed
       so that it provably holds the exact path, rounding included) while α runs over a piece
       [a, b], with |dq_u/dα| ≤ su and |dq_v/dα| ≤ sv there. For α, β in the piece, the segment from
       q(α) to q(β) lies in B (convex). Its crossings with grid lines cut it into finitely many open
       parts (or it lies in one line), each inside one face meeting B; on each part |ΔI| ≤ Gu|Δu| +
       Gv|Δv| (mean-value theorem; continuity at the cut points), with Gu, Gv the maxima over the
       faces meeting B (:class:`_RangeMax`); the parts' |Δu| add up to |u(β) − u(α)| (a segment is
       monotone), so |I(q(β)) − I(q(α))| ≤ (Gu·su + Gv·sv)·|β − α| (mean-value theorem on u(·), v(·)).
    4. Averages. τ = Σ_k w_k·(sample k) (w_k ≥ 0): per pixel the bound is Σ_k w_k·(Gu_k su_k + Gv_k sv_k)
       (triangle inequality), and ‖τ(β) − τ(α)‖₂ ≤ L_piece·|β − α| with L_piece the ℓ2 norm of these
       per-pixel constants over all C·H·W outputs (summing per pixel first is never looser than the
       mean of per-sample ℓ2 bounds, by Minkowski).
    5. Whole interval. [low, high] is cut into pieces; for α < β in different pieces, split [α, β] at
       the piece edges and add up: ‖τ(β) − τ(α)‖₂ ≤ max_piece L_piece·|β − α|. Pieces are sized so the
       fastest source point moves ≲ _PIECE_PIXELS pixels in one (at most _MAX_PIECES pieces; more
       would only tighten the bound, never change its validity), and α = 0 (the identity, where all
       source points are lattice points) is a piece edge.
    6. Floating point. Everything is computed in float64 on the CPU; computed box ends are widened
       by 1e-9·(1 + |coordinate| + |intermediates|) pixels — ≥ 10⁴ times their rounding errors —
       except where they are exact (the lattice point p at the identity, a coordinate that does not
       move); sup |sin|, sup |cos| get 1e-15·(1 + |angle|); the result is multiplied by 1 + 1e-9
       (the roundings of the speeds and of a float64 sum of ≤ 10⁷ terms are far below that). The
       bound is for the map in exact arithmetic: the transform evaluated in floating point differs
       from it by rounding noise (~1e-16 relative in float64, ~1e-7 in float32) that no Lipschitz
       constant covers as |α − β| → 0.

    Args:
        x64: ``(C, H, W)`` float64 image.
        padding_mode: the transform's grid_sample padding.
        edges: 1-D float64 tensor, ``low = e_0 ≤ … ≤ e_n = high``: the pieces ``[e_i, e_{i+1}]``.
        geometry: ``geometry(a, b)`` for piece ends ``a, b`` (each ``(P,)``) returns
            ``(u_lo, u_hi, v_lo, v_hi, su, sv)``, each broadcastable to ``(P, K, H, W)``: a box that
            provably holds the source point of sample k and pixel p over the piece (already widened
            for rounding: see :func:`_lower`, :func:`_upper`), and bounds on |dq_u/dα|, |dq_v/dα| there
            (pixels per unit α).
        weights: ``(K,)`` non-negative sample weights.
    """
    c, h, w = x64.shape
    gu, gv, _ = _face_tables(x64, padding_mode)
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
        # faces met by [lo, hi]: from floor(lo) + ceil(lo) to floor(hi) + ceil(hi) (doubled indices)
        hu0 = (torch.floor(u_lo) + torch.ceil(u_lo)).to(torch.int64)
        hu1 = (torch.floor(u_hi) + torch.ceil(u_hi)).to(torch.int64)
        hv0 = (torch.floor(v_lo) + torch.ceil(v_lo)).to(torch.int64)
        hv1 = (torch.floor(v_hi) + torch.ceil(v_hi)).to(torch.int64)
        ku0, ku1 = _canonical_faces(hu0, hu1, w, padding_mode)
        kv0, kv1 = _canonical_faces(hv0, hv1, h, padding_mode)
        g_u = rmu.query(kv0, kv1, ku0, ku1)  # (P, K, H, W, C)
        g_v = rmv.query(kv0, kv1, ku0, ku1)
        per = g_u * su[..., None] + g_v * sv[..., None]
        per = (per * weights.view(1, k, 1, 1, 1)).sum(dim=1)  # (P, H, W, C)
        best = max(best, float(per.reshape(p, -1).norm(dim=1).max()))
    return best * _ROUND_UP


def _pieces_for(displacement: float) -> int:
    """Pieces needed so that a point moving ``displacement`` pixels moves ≤ _PIECE_PIXELS per piece."""
    if not math.isfinite(displacement):
        return _MAX_PIECES
    return int(min(_MAX_PIECES, max(1, math.ceil(displacement / _PIECE_PIXELS))))


def _edges(low: float, high: float, points: torch.Tensor) -> torch.Tensor:
    """Sorted piece edges: ``points`` (clipped to the interval) with low, high and, inside, 0 (the
    identity); points within 1e-9 of the interval's length from those three snap onto them (a
    linspace's rounded 1e-16 next to 0 would leave a piece that misses the exact identity end)."""
    special = [low, high] + ([0.0] if low < 0.0 < high else [])
    e = points.clamp(low, high)
    tol = 1e-9 * (high - low)
    for s in special:
        e = torch.where((e - s).abs() <= tol, torch.full_like(e, s), e)
    return torch.unique(torch.cat([e, torch.tensor(special, dtype=torch.float64)]))  # sorted


def _uniform_edges(low: float, high: float, displacement: float) -> torch.Tensor:
    return _edges(low, high, torch.linspace(low, high, _pieces_for(displacement) + 1, dtype=torch.float64))


def _rotation_pieces(h: int, w: int, low: float, high: float, fractions):
    """``(edges, geometry)`` for ``rotate(x, f_k·α)``, k = 1 … K (α in degrees, f_k ≥ 0) on an
    (h, w) image: see :meth:`gsmooth_plugins.transforms.rotation.Rotation.path_speed_bound` for the
    coordinate map, :func:`_bilinear_path_speed_bound` for what geometry returns."""
    u, v = _pixel_grid(h, w)
    cu, cv = (w - 1) / 2.0, (h - 1) / 2.0
    du, dv = u - cu, v - cv  # exact (half-)integers
    r, phi = torch.hypot(du, dv), torch.atan2(dv, du)
    frac = torch.as_tensor(fractions, dtype=torch.float64).view(1, -1, 1, 1)
    rad = math.pi / 180.0
    edges = _uniform_edges(low, high, float(r.max()) * float(frac.max()) * (high - low) * rad)
    half_pi = math.pi / 2.0

    def geometry(a, b):
        a, b = a.view(-1, 1, 1, 1), b.view(-1, 1, 1, 1)
        t0, t1 = a * frac * rad + phi, b * frac * rad + phi  # polar angle of q − c at the piece ends
        c0, c1, s0, s1 = torch.cos(t0), torch.cos(t1), torch.sin(t0), torch.sin(t1)
        ex0, ex1 = (a == 0.0).expand_as(t0), (b == 0.0).expand_as(t1)  # q = p exactly there
        ua, ub, va, vb = cu + r * c0, cu + r * c1, cv + r * s0, cv + r * s1
        ua, ub = torch.where(ex0, u, ua), torch.where(ex1, u, ub)
        va, vb = torch.where(ex0, v, va), torch.where(ex1, v, vb)
        # cos t is off by ≲ 1e-16·(1 + |t|) (t's rounding), so r·cos t by r times that: widen by
        # 1e-9·big = 1e-12·r·(1 + |t|) more
        tmax = torch.maximum(t0.abs(), t1.abs())
        big = r * (1.0 + tmax) * 1e-3
        u_lo = torch.minimum(_lower(ua, ex0, big), _lower(ub, ex1, big))
        u_hi = torch.maximum(_upper(ua, ex0, big), _upper(ub, ex1, big))
        v_lo = torch.minimum(_lower(va, ex0, big), _lower(vb, ex1, big))
        v_hi = torch.maximum(_upper(va, ex0, big), _upper(vb, ex1, big))
        # the arc's extreme points, where it passes one: cos t = ±1, sin t = ±1
        u_max, u_min = _holds(t0, t1, 0.0), _holds(t0, t1, math.pi)
        v_max, v_min = _holds(t0, t1, half_pi), _holds(t0, t1, -half_pi)
        u_hi = torch.where(u_max, torch.maximum(u_hi, _upper(cu + r)), u_hi)
        u_lo = torch.where(u_min, torch.minimum(u_lo, _lower(cu - r)), u_lo)
        v_hi = torch.where(v_max, torch.maximum(v_hi, _upper(cv + r)), v_hi)
        v_lo = torch.where(v_min, torch.minimum(v_lo, _lower(cv - r)), v_lo)
        one, trig_slack = torch.ones_like(t0), _TRIG_SLACK * (1.0 + tmax)
        sup_sin = torch.where(v_max | v_min, one, torch.maximum(s0.abs(), s1.abs())) + trig_slack
        sup_cos = torch.where(u_max | u_min, one, torch.maximum(c0.abs(), c1.abs())) + trig_slack
        speed = frac * rad * r  # |dq/dα| in pixels per degree (r rounded: covered by _ROUND_UP)
        return u_lo, u_hi, v_lo, v_hi, speed * sup_sin, speed * sup_cos

    return edges, geometry


def _scale_pieces(h: int, w: int, low: float, high: float, fractions, min_factor):
    """``(edges, geometry)`` for ``scale(x, max(1 + f_k·θ, m))``, k = 1 … K (f_k ≥ 0): see
    :meth:`gsmooth_plugins.transforms.scaling.Scaling.path_speed_bound` for the coordinate map."""
    u, v = _pixel_grid(h, w)
    cu, cv = (w - 1) / 2.0, (h - 1) / 2.0
    du, dv = u - cu, v - cv
    frac = torch.as_tensor(fractions, dtype=torch.float64).view(1, -1, 1, 1)
    m = float(min_factor)
    # pieces equally spaced in 1/factor of the fastest sample (its source point is affine in it)
    fmax = float(frac.max())
    start = max(low, (m - 1.0) / fmax)  # below it the fastest sample is clamped (constant)
    points = torch.tensor([low, high], dtype=torch.float64)
    if start < high:
        g0, g1 = 1.0 / max(1.0 + fmax * start, m), 1.0 / max(1.0 + fmax * high, m)
        n = _pieces_for(float(torch.hypot(du, dv).max()) * abs(g0 - g1))
        g = torch.linspace(g0, g1, n + 1, dtype=torch.float64)
        points = torch.cat([points, (1.0 / g - 1.0) / fmax, torch.tensor([start], dtype=torch.float64)])
    edges = _edges(low, high, points)
    still_u, still_v = du == 0.0, dv == 0.0  # the centre column / row never moves: exact

    def geometry(a, b):
        a, b = a.view(-1, 1, 1, 1), b.view(-1, 1, 1, 1)
        za, zb = a * frac, b * frac
        fa, fb = (1.0 + za).clamp(min=m), (1.0 + zb).clamp(min=m)
        ex0, ex1 = (a == 0.0).expand_as(fa), (b == 0.0).expand_as(fb)  # factor 1: q = p exactly
        ua, ub, va, vb = cu + du / fa, cu + du / fb, cv + dv / fa, cv + dv / fb
        eu0, eu1, ev0, ev1 = ex0 | still_u, ex1 | still_u, ex0 | still_v, ex1 | still_v
        # |d/dθ (c + d/f)| = |d|·f_k/f² where unclamped (f ≥ fa there), 0 where clamped
        rate = torch.where(1.0 + zb > m, frac / (fa * fa), torch.zeros_like(fa))
        return (
            torch.minimum(_lower(ua, eu0), _lower(ub, eu1)),
            torch.maximum(_upper(ua, eu0), _upper(ub, eu1)),
            torch.minimum(_lower(va, ev0), _lower(vb, ev1)),
            torch.maximum(_upper(va, ev0), _upper(vb, ev1)),
            du.abs() * rate,
            dv.abs() * rate,
        )

    return edges, geometry


def _translation_pieces(h: int, w: int, low: float, high: float, velocities):
    """``(edges, geometry)`` for x sampled at p + θ·v_k with constant source velocities
    ``v_k = (v_u, v_v)`` (pixels per unit θ): see
    :meth:`gsmooth_plugins.transforms.motion_blur.MotionBlur.path_speed_bound`."""
    vel = torch.as_tensor(velocities, dtype=torch.float64).reshape(-1, 2)
    vu, vv = vel[:, 0].view(1, -1, 1, 1), vel[:, 1].view(1, -1, 1, 1)
    u, v = _pixel_grid(h, w)
    edges = _uniform_edges(low, high, float(torch.hypot(vel[:, 0], vel[:, 1]).max()) * (high - low))

    def geometry(a, b):
        a, b = a.view(-1, 1, 1, 1), b.view(-1, 1, 1, 1)
        ua, ub, va, vb = u + a * vu, u + b * vu, v + a * vv, v + b * vv
        # exact where the shift is 0: at θ = 0, or along an axis the motion does not use
        eu0, eu1 = ((a == 0.0) | (vu == 0.0)).expand_as(ua), ((b == 0.0) | (vu == 0.0)).expand_as(ub)
        ev0, ev1 = ((a == 0.0) | (vv == 0.0)).expand_as(va), ((b == 0.0) | (vv == 0.0)).expand_as(vb)
        sa_u, sb_u, sa_v, sb_v = (a * vu).abs(), (b * vu).abs(), (a * vv).abs(), (b * vv).abs()
        return (
            torch.minimum(_lower(ua, eu0, sa_u), _lower(ub, eu1, sb_u)),
            torch.maximum(_upper(ua, eu0, sa_u), _upper(ub, eu1, sb_u)),
            torch.minimum(_lower(va, ev0, sa_v), _lower(vb, ev1, sb_v)),
            torch.maximum(_upper(va, ev0, sa_v), _upper(vb, ev1, sb_v)),
            vu.abs(),
            vv.abs(),
        )

    return edges, geometry


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
        if not FINITE.contains(v):  # also 10**400: no finite float
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


def bilinear_path_speed(owner: str, transform, x, low, high):
    """``path_speed_bound`` of a bilinear-resampling transform: validate, then bound the path with
    :func:`_bilinear_path_speed_bound` over the transform's ``_speed_pieces`` (None for H or W < 2)."""
    x64 = _speed_image(owner, x)
    low, high = _speed_interval(owner, low, high)
    if x64 is None:
        return None
    pieces = transform._speed_pieces(x64.shape[1], x64.shape[2], low, high)
    return _bilinear_path_speed_bound(x64, transform.padding_mode, *pieces)
