"""Pixelation (Hendrycks & Dietterich; GSmooth): box-downsample by a factor c, then upsample back.

Non-resolvable: certified through ``gsmooth surrogate`` (kind surrogate); the raw transform here is
``kind="empirical"``.
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch

import gsmooth

from ._common import FINITE, SAFETY_FACTOR, check_image, compute_dtype, image_hw, params, path_args

__all__ = ["pixelate", "pixelate_matrix", "pixelate_path_speed_bound", "pixelate_kink_points", "Pixelate"]


def _overlap(a0, a1, b0, b1):
    """Length of [a0, a1) ∩ [b0, b1) (broadcasting), differentiable in the end points."""
    return (torch.minimum(a1, b1) - torch.maximum(a0, b0)).clamp(min=0.0)


def pixelate_matrix(block: torch.Tensor, n: int) -> torch.Tensor:
    """The ``(B, n, n)`` linear map of one image axis of length n for block widths ``block`` ``(B,)`` ≥ 1.

    The axis [0, n) (pixel i covering [i, i + 1)) is cut into blocks ``[k·p, (k+1)·p) ∩ [0, n)``,
    starting at the top/left edge like PIL's resize (the last block may be partial). Downsampling
    takes each block's area average (the box filter); upsampling gives each output pixel the
    area-weighted mean of the blocks it overlaps. With both steps area-based the matrix is a
    continuous, piecewise-smooth function of p: where a block boundary falls inside a pixel, that
    pixel blends the two blocks. For integer p it is exact blocks; for p = 1 the identity.

    Example:
        >>> pixelate_matrix(torch.tensor([2.0]), 4)
        tensor([[[0.5000, 0.5000, 0.0000, 0.0000],
                 [0.5000, 0.5000, 0.0000, 0.0000],
                 [0.0000, 0.0000, 0.5000, 0.5000],
                 [0.0000, 0.0000, 0.5000, 0.5000]]])
    """
    p = block.reshape(-1, 1, 1)
    dtype, device = block.dtype, block.device
    idx = torch.arange(n, device=device, dtype=dtype)
    pix0, pix1 = idx.reshape(1, n, 1), (idx + 1).reshape(1, n, 1)  # pixels along dim 1
    k = idx.reshape(1, 1, n)  # at most n blocks since p ≥ 1
    blk0 = k * p
    blk1 = torch.minimum((k + 1) * p, torch.full_like(blk0, float(n)))
    cover = _overlap(pix0, pix1, blk0, blk1)  # (B, n pixels, n blocks)
    size = (blk1 - blk0).clamp(min=0.0)  # (B, 1, n blocks)
    down = cover / size.clamp(min=1e-12)  # block k's average: weights over pixels (0 for empty blocks)
    return cover @ down.transpose(1, 2)  # up (pixel j ← block k) times down (block k ← pixel i)


def pixelate(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Pixelate each image with block width ``p = 1/c`` pixels, ``c = 1 − θ``.

    Args:
        x: ``(B, C, H, W)`` images.
        theta: ``(B, 1)`` (or ``(B,)``) pixelation strength θ = 1 − c (dimensionless), where c is the
            resize factor of Hendrycks's code (image resized to c·W × c·H and back). θ = 0 is the
            identity; CIFAR-10-C severities c = .95/.9/.85/.75/.65 are θ = .05/.1/.15/.25/.35;
            GSmooth certifies θ < 0.5 (blocks up to 2 pixels). θ ≤ 0 is the identity; as θ → 1 the
            blocks grow to the whole image (its mean).

    Returns:
        ``(B, C, H, W)`` on ``x``'s device and dtype: ``A_H(p) · x · A_W(p)ᵀ`` with the matrices of
        :func:`pixelate_matrix`. Continuous and differentiable (reverse and forward mode) in θ almost
        everywhere, with a non-zero gradient wherever a block boundary falls inside a pixel; the
        one-sided derivatives differ wherever a block boundary k·p meets a pixel edge m, i.e. at
        p = m/k (θ = 1 − k/m), not only at integer block widths (:func:`pixelate_kink_points`);
        there autograd may return neither of them (ties in ``torch.minimum``/``maximum``).

    Differences from Hendrycks's code (PIL ``resize`` with ``Image.BOX`` down to ``int(32·c)`` pixels,
    then back up): there the number of blocks is an integer, so the output jumps with c and has no
    gradient; here the block width 1/c is continuous and the upsampling is area-weighted instead of
    nearest, which blends the two blocks in a pixel that a block boundary cuts. When 1/c is an
    integer both agree. Cost O(B·C·(H²W + HW²)), fine for CIFAR/ImageNet-sized batches.
    Half precision is computed in float32.

    Example:
        >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> pixelate(x, torch.tensor([[0.5]]))[0, 0]   # c = 1/2: 2×2 blocks hold their means
        tensor([[ 2.5000,  2.5000,  4.5000,  4.5000],
                [ 2.5000,  2.5000,  4.5000,  4.5000],
                [10.5000, 10.5000, 12.5000, 12.5000],
                [10.5000, 10.5000, 12.5000, 12.5000]])
    """
    check_image("pixelate", x)
    dtype = compute_dtype(x)
    t = params("pixelate", theta, x, 1, dtype)[:, 0]
    block = 1.0 / (1.0 - t).clamp(min=1e-6, max=1.0)  # p ≥ 1
    _, _, h, w = x.shape
    a_h = pixelate_matrix(block, h)
    a_w = a_h if w == h else pixelate_matrix(block, w)
    out = torch.einsum("bij,bcjk,blk->bcil", a_h, x.to(dtype), a_w)
    return out.to(x.dtype)


def _block_width(theta: Fraction, n_max: int) -> Fraction:
    """The exact block width of :func:`pixelate` at θ, capped at ``n_max`` (wider blocks are one
    block on every axis of length ≤ n_max: the same map)."""
    if theta <= 0:
        return Fraction(1)
    if theta >= 1 - Fraction(1, n_max):
        return Fraction(n_max)
    return 1 / (1 - theta)


def _width_kinks(n: int, p_lo: Fraction, p_hi: Fraction) -> set[Fraction]:
    """Block widths p = m/k in the open (p_lo, p_hi) where block boundary k (at k·p) crosses the
    pixel edge m ≤ n of an axis of length n (m = n: block k empties)."""
    out = set()
    for k in range(1, n + 1):
        m_lo = max(k, math.floor(k * p_lo) + 1)
        m_hi = min(n, math.ceil(k * p_hi) - 1)
        out.update(Fraction(m, k) for m in range(m_lo, m_hi + 1))
    return out


def _block_means(f: torch.Tensor, prefix: torch.Tensor, p: float, nblocks: int) -> torch.Tensor:
    """``(nblocks, S)`` block means of the columns of ``f`` ``(n, S)`` at block width p (float64),
    through the antiderivative ``F(t) = prefix[⌊t⌋] + (t − ⌊t⌋)·f[⌊t⌋]`` of the pixel function."""
    n = f.shape[0]
    k = torch.arange(nblocks, dtype=f.dtype)
    left, right = k * p, torch.clamp((k + 1) * p, max=float(n))

    def antiderivative(t):
        i = torch.floor(t).long().clamp(0, n - 1)
        return prefix[i] + (t - i.to(t.dtype))[:, None] * f[i]

    return (antiderivative(right) - antiderivative(left)) / (right - left)[:, None]


def _axis_speed(f: torch.Tensor, prefix: torch.Tensor, pa: Fraction, pb: Fraction, delta: float) -> torch.Tensor:
    """Per-signal bound ``B`` ≥ ``sup_{p ∈ (pa, pb)} ‖∂_p A(p) f‖₂`` for the columns of ``f``
    ``(n, S)``, on a piece (pa, pb) free of the axis's kinks (see :func:`pixelate_path_speed_bound`);
    ``delta`` bounds the float64 error of a computed block mean."""
    n = f.shape[0]
    # blocks 0..K nonempty on the piece (k·pa < n), boundaries 1..K move with speed k
    big_k = (n * pa.denominator - 1) // pa.numerator  # largest k with k·pa < n
    if big_k == 0:
        return torch.zeros(f.shape[1], dtype=f.dtype)
    a, b = pa.numerator, pa.denominator  # exact integer arithmetic: ⌊k·pa⌋ = (k·a) // b
    first = [(k * a) // b for k in range(big_k + 1)]
    last = [((k + 1) * a) // b if (k + 1) * a < n * b else n - 1 for k in range(big_k + 1)]
    first_t, last_t = torch.tensor(first), torch.tensor(last)
    span = max(b - a for a, b in zip(first, last)) + 1
    idx = torch.minimum(first_t[:, None] + torch.arange(span)[None, :], last_t[:, None])  # (K+1, span)
    vals = f[idx]  # (K+1, span, S)
    bmax, bmin = vals.amax(dim=1), vals.amin(dim=1)  # (K+1, S)
    f_first, f_last = f[first_t], f[last_t]
    # block means at both ends of the piece (monotone in p in between); a block inside one pixel
    # (only the last one can be) has the mean f of that pixel
    single = (first_t == last_t)[:, None]
    m_a = torch.where(single, f_first, _block_means(f, prefix, float(pa), big_k + 1))
    m_b = torch.where(single, f_first, _block_means(f, prefix, float(pb), big_k + 1))
    m_lo, m_hi = torch.minimum(m_a, m_b) - delta, torch.maximum(m_a, m_b) + delta
    # T1: the jump m_{l−1} − m_l carried by boundary l at speed l. For l < K both blocks have
    # size p and m_{l−1} − m_l = α/p + β is monotone: its sup is at an end; for l = K an interval
    # bound; both capped by the range of f over the two blocks.
    osc = torch.maximum(bmax[:-1], bmax[1:]) - torch.minimum(bmin[:-1], bmin[1:])
    jump_ends = torch.maximum((m_a[:-1] - m_a[1:]).abs(), (m_b[:-1] - m_b[1:]).abs()) + 2 * delta
    jump_box = torch.maximum(m_hi[:-1] - m_lo[1:], m_hi[1:] - m_lo[:-1])
    jump = torch.cat([jump_ends[:-1], jump_box[-1:]]) if big_k > 1 else jump_box
    jump = torch.minimum(jump, osc)
    speed = torch.arange(1, big_k + 1, dtype=f.dtype)[:, None]
    t1 = ((speed * jump) ** 2).sum(dim=0)
    # T2: Σ_k D_k μ_k, μ_k = v_{k+1}(f(b_{k+1}) − m_k) − v_k(f(b_k) − m_k) is affine in the monotone
    # m_k, so |μ_k| peaks at an end of the piece
    v = torch.arange(0, big_k + 2, dtype=f.dtype)
    v[-1] = 0.0  # boundary K+1 is the static right end n
    vr, vl = v[1:, None], v[:-1, None]

    def mu(m):
        return (vr * (f_last - m) - vl * (f_first - m)).abs()

    mu_sup = torch.maximum(mu(m_a), mu(m_b)) + (vr + vl) * delta
    e_left = torch.maximum(f_first - bmin, bmax - f_first)
    e_right = torch.maximum(f_last - bmin, bmax - f_last)
    mu_sup = torch.minimum(mu_sup, vr * e_right + vl * e_left)  # the range bound (0 inside one pixel)
    rho = 1 / pa  # 1/s_k for interior blocks (s_k = p ≥ pa)
    if last[-1] > first[-1]:  # the last block spans ≥ 2 pixels: s_K = n − K·p ≥ n − K·pb ≥ 1
        rho = max(rho, 1 / max(n - big_k * pb, Fraction(1)))
    rho = min(rho, Fraction(1))
    t2 = float(rho) * SAFETY_FACTOR * (mu_sup ** 2).sum(dim=0)
    return t1.sqrt() + t2.sqrt()


def pixelate_path_speed_bound(x: torch.Tensor, low: float, high: float) -> float:
    r"""A proven L with ``‖pixelate(x, α) − pixelate(x, β)‖₂ ≤ L·|α − β|`` for all θ = α, β in
    ``[low, high]`` (one image ``x`` ``(C, H, W)``, ℓ2 over all C·H·W pixels); data-dependent.

    Proof. ``τ = A_H(p) X_c A_W(p)ᵀ`` per channel (:func:`pixelate`), ``p = 1/(1 − θ)``
    (``dp/dθ = p²``; p = 1 for θ ≤ 0; for p ≥ max(H, W) the map is the image mean, constant).
    *1-D.* For a signal f on [0, n) (pixel i = [i, i+1)), blocks ``B_k = [b_k, b_{k+1})``,
    ``b_k = min(kp, n)``, block means ``m_k``: ``(A f)_j = Σ_k c_jk m_k``, ``c_jk = |pixel j ∩ B_k|``
    (``A = C·S⁻¹·Cᵀ`` of :func:`pixelate_matrix`, s_k = |B_k|). A is symmetric, ≥ 0 with unit row
    sums, so ``‖A‖₂ ≤ √(‖A‖₁‖A‖_∞) = 1`` for every p. Kinks are where a moving boundary
    ``b_k = kp`` (speed k) meets a pixel edge m ≤ n: ``p = m/k`` (θ = 1 − k/m, not only integer
    widths). On a kink-free piece (pa, pb) each b_k stays inside one pixel and each block touches
    a fixed set of pixels, and differentiating gives
    ``∂_p(A f)_j = Σ_{l: b_l ∈ pixel j} l·(m_{l−1} − m_l) + Σ_k (c_jk/s_k)·μ_k`` with
    ``μ_k = v_{k+1}(f(b_{k+1}) − m_k) − v_k(f(b_k) − m_k)``, v_k = k for a moving boundary
    (``kp < n``), 0 for b_0 = 0 and the end b = n. Distinct boundaries lie in distinct pixels (p > 1),
    so the first sum has norm ``√Σ_l l²(m_{l−1} − m_l)² ≤ √Σ_l l²·osc_l²``, osc_l the range of f
    over the pixels blocks l−1, l touch (m's are averages of those). For the second, by
    Cauchy–Schwarz and ``Σ_j c_jk/s_k = 1``: ``‖Σ_k D_k μ_k‖² ≤ ρ·Σ_k μ_k²``,
    ``ρ = max_j Σ_k c_jk/s_k ≤ max_k 1/s_k`` over the blocks with μ_k ≠ 0 (a block inside one pixel
    has μ_k = 0; the others have s_k = p ≥ pa, or for the last block ``s_K ≥ n − K·pb ≥ 1``), and
    ``|f(b) − m_k| ≤`` the largest distance from f(b) to the block's min or max. This gives
    ``B(f) ≥ sup_{p ∈ piece} ‖∂_p A(p) f‖``. *2-D.* ``∂_θτ_c = p²(A_H' X_c A_Wᵀ + A_H X_c A_W'ᵀ)`` and
    ``‖A_H' X A_Wᵀ‖_F ≤ ‖A_H' X‖_F·‖A_W‖₂ ≤ √Σ_columns B_H(col)²`` (likewise with rows), so on a
    piece ``‖∂_θτ‖ ≤ pb²·√Σ_c (T_H,c + T_W,c)²``. τ is continuous in θ (a block appears with size 0),
    hence ``‖τ(α) − τ(β)‖ ≤ ∫‖∂_θτ‖ ≤ L|α − β|`` with L the maximum over the pieces between the
    kinks of both axes inside ``[p(low), p(high)]``.

    Floating point: the pieces and pixel indices are exact rational arithmetic (``fractions``;
    low and high are converted exactly), so no boundary is misplaced; the data terms are maxima,
    minima, differences, squares and sums of float64 pixels (relative error ≤ ~1e-13 for any
    image size used here), and the result is multiplied by ``1 + 1e-9``. The bound is for the
    exact-arithmetic path (the float implementation also clamps block sizes at 1e-12).
    Cost: one pass per piece; ~300 pieces for θ ∈ [0, 0.5] on 32×32.

    Example:
        >>> x = torch.zeros(1, 8, 8, dtype=torch.float64); x[0, :, 3:] = 1.0   # a vertical edge
        >>> pixelate_path_speed_bound(x, -0.5, 0.0)       # θ ≤ 0: the identity, speed 0
        0.0
        >>> L = pixelate_path_speed_bound(x, 0.1, 0.3)
        >>> a, b = pixelate(x[None], torch.tensor([[0.2]], dtype=torch.float64)), pixelate(x[None], torch.tensor([[0.25]], dtype=torch.float64))
        >>> bool((a - b).norm() <= L * 0.05)
        True
    """
    x64, lo, hi = path_args("pixelate", x, low, high)
    c, h, w = x64.shape
    n_max = max(h, w)
    p_lo, p_hi = _block_width(Fraction(lo), n_max), _block_width(Fraction(hi), n_max)
    if p_lo == p_hi:
        return 0.0
    cuts = _width_kinks(h, p_lo, p_hi) | _width_kinks(w, p_lo, p_hi)
    ends = [p_lo, *sorted(cuts), p_hi]
    cols_h = x64.permute(1, 0, 2).reshape(h, c * w)  # signals along H: one per (channel, column)
    cols_w = x64.permute(2, 0, 1).reshape(w, c * h)  # signals along W: one per (channel, row)
    zero = torch.zeros(1, dtype=torch.float64)
    pre_h, pre_w = torch.cat([zero.expand(1, c * w), cols_h.cumsum(0)]), torch.cat([zero.expand(1, c * h), cols_w.cumsum(0)])
    # float64 error of a block mean (prefix sums of ≤ n terms, a few more flops, a division by a
    # block size ≥ 1): ≤ ~(n + 8)·2⁻⁵³·n·max|f|; allowed 1e-13·(n + 8)²·max|f| (≥ 100× that)
    top = float(x64.abs().max())
    d_h, d_w = 1e-13 * (h + 8) ** 2 * top, 1e-13 * (w + 8) ** 2 * top
    best = 0.0
    for pa, pb in zip(ends[:-1], ends[1:]):
        t_h = _axis_speed(cols_h, pre_h, pa, pb, d_h).reshape(c, w).square().sum(dim=1).sqrt()
        t_w = _axis_speed(cols_w, pre_w, pa, pb, d_w).reshape(c, h).square().sum(dim=1).sqrt()
        bound = float(pb) ** 2 * float((t_h + t_w).square().sum().sqrt())
        best = max(best, bound)
    return best * SAFETY_FACTOR


def pixelate_kink_points(low: float, high: float, image_size) -> tuple[float, ...]:
    """The θ in ``[low, high]`` where :func:`pixelate` is not differentiable: a block boundary k·p
    meets a pixel edge m, ``θ = 1 − k/m`` for ``1 ≤ k ≤ m ≤ n`` and n ∈ {H, W} (θ = 0 and the
    integer widths θ = 1 − 1/m among them). They depend on the image size, which is required.

    Example:
        >>> pixelate_kink_points(0.0, 0.5, (4, 4))      # p = 1, 4/3, 3/2, 2
        (0.0, 0.25, 0.3333333333333333, 0.5)
    """
    owner = "pixelate"
    if image_size is None:
        raise gsmooth.InvalidParameterError(
            f"{owner}.kink_points: expected image_size=(H, W) (the kinks θ = 1 − k/m, 1 ≤ k ≤ m ≤ max(H, W), "
            "depend on it), got None"
        )
    h, w = image_hw(owner, image_size)
    for name, v in (("low", low), ("high", high)):
        if not FINITE.contains(v):  # also 10**400: no finite float
            raise gsmooth.InvalidParameterError(f"{owner}.kink_points: {name} expected a finite number, got {v!r}")
    lo, hi = Fraction(float(low)), Fraction(float(high))
    if lo > hi:
        return ()
    n_max = max(h, w)
    p_lo, p_hi = _block_width(lo, n_max), _block_width(hi, n_max)
    eps = Fraction(1, 10 ** 30)  # the open interval of _width_kinks, widened to keep end points
    ps = _width_kinks(h, p_lo - eps, p_hi + eps) | _width_kinks(w, p_lo - eps, p_hi + eps)
    thetas = sorted({1 - 1 / p for p in ps if p >= 1})
    return tuple(float(t) for t in thetas if lo <= t <= hi)


class Pixelate(gsmooth.Transform):
    """Thin module over :func:`pixelate`: θ = 1 − c (resize factor c = 1/block width), param_dim 1.

    Certified through ``gsmooth surrogate`` (kind surrogate); the raw transform is ``kind="empirical"``.

    Example:
        >>> t = gsmooth.transform("pixelate")
        >>> t(torch.rand(2, 3, 8, 8), torch.tensor([[0.3], [0.0]])).shape
        torch.Size([2, 3, 8, 8])
    """

    name = "pixelate"
    param_dim = 1
    kind = "empirical"
    param_units = "1 − resize factor c (block width 1/c pixels)"
    #: Default noise, σ, range and slices (see :mod:`gsmooth.core.defaults` for the table and the sources).
    defaults = gsmooth.TransformDefaults(
        noise="gaussian", sigma=0.125, range=((0.0, 0.5),), latent_sigma=1.0, surrogate=True,
        source="0.5 (GSmooth, P); σ (O)", range_label="≤ 0.5",
    )
    identity_at_zero = True
    #: θ = 1 − c < 1 (c > 0 a resize factor)
    param_domain = ((-math.inf, 1.0),)

    def __init__(self):
        super().__init__()

    def forward(self, x, theta):
        return pixelate(x, theta)

    def path_speed_bound(self, x: torch.Tensor, low: float, high: float) -> float:
        """Proven speed bound of θ ↦ τ(θ, x) on ``[low, high]``: :func:`pixelate_path_speed_bound`
        (whose docstring is the proof)."""
        return pixelate_path_speed_bound(x, low, high)

    def kink_points(self, low: float, high: float, *, image_size=None) -> tuple[float, ...]:
        """:func:`pixelate_kink_points`; ``image_size=(H, W)`` is required (the kinks depend on it)."""
        return pixelate_kink_points(low, high, image_size)
