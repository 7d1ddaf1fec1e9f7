"""Interval certificates: the smoothed prediction is constant over a whole parameter range.

What users ask is "is this image robust to rotational blur *up to 10°*?", i.e. to every parameter α
in a range [a, b], not "within radius R of θ = 0". Following TSS (Li et al., CCS 2021) and the
GSmooth code, the range is cut into K slices, each slice is certified by one randomized-smoothing
test whose radius must cover the slice, and the K tests share the failure probability
(Bonferroni): each runs at level α/K, so with probability ≥ 1 − α (the *family-wise* α) every
slice's statement holds at once, whatever the dependence between the tests.

The slices (:func:`slice_plan`)
-------------------------------
- one parameter, two-sided noise (Gaussian, Laplace, uniform): K slices of width w = (b − a)/K,
  centres at their midpoints ``c_k = a + (k + ½)w``; a slice is covered when its radius R_k > w/2.
- one parameter, **one-sided** noise (exponential, folded Gaussian, one-sided uniform; θ ≥ 0): such
  a noise certifies *increases* of the parameter only — ``g_c`` is constant on ``[c, c + R)``, not
  on ``(c − R, c)`` — so the centre sits at the slice's lower end ``c_k = a + k·w`` and the slice is
  covered when R_k > w (the full width). The upper end of slice k is the centre of slice k + 1;
  the range's upper end b is covered by the strict inequality of the last slice.
- d ≥ 2 parameters (e.g. translation (dx, dy)), two-sided noise: a grid of K_1 × … × K_d boxes
  (``slices`` per parameter), centres at the box centres; a box is covered when its radius exceeds
  the box's half-diagonal *in the noise's norm* — ℓ2 ``‖w/2‖₂`` for Gaussian, ℓ1 ``‖w/2‖₁`` for
  Laplace/uniform, ℓ∞ ``max w_i/2``. One-sided noises with d ≥ 2 are refused (their region is an
  orthant cone, not a ball; not implemented).
- The image is certified for the range iff every slice returns the same class with a radius
  strictly larger than its requirement; otherwise the answer is -1 (not certified). Radii are
  compared strictly because a radius R certifies the open ball ``‖δ‖ < R``.

What is certified (exact transforms: "parameter" centring)
----------------------------------------------------------
Slice k is certified with the *centred* smoothed classifier (:meth:`gsmooth.Smoother.certify` with
``center=c_k``)::

    G(φ) = argmax_y P_θ( f(τ(φ + θ, x)) = y ),       evaluated at φ = c_k,

and Cohen's theorem in parameter space gives ``G(c_k + δ) = y`` for ``‖δ‖ < R_k``. Hence, with
probability ≥ 1 − α over the Monte Carlo sampling: **G(α) = y for every α in the range**. For a
transform of kind ``exact`` whose parameters *add* under composition,
``τ(θ, τ(α, x)) = τ(θ + α, x)`` (brightness; Gaussian blur in its variance for α ≥ 0; translation
for integer shifts), ``G(α) = g(τ(α, x))`` where ``g`` is the smoother's own classifier (noise
centred at 0). So the statement is TSS's:

    the smoothed classifier g predicts y on every truly transformed image τ(α, x), α ∈ [a, b].

(translation rounds shifts, so it holds for the integer shifts in the range; the Gaussian blur
clamps α < 0 to 0, so use ranges with a ≥ 0.) A transform of kind ``exact`` that does *not*
compose additively declares ``composes_additively = False``; it is refused with a clear error
(rather than given a certificate about G that is not a statement about g(τ(α, x))) unless its
:meth:`~gsmooth.Transform.slice_strategy` certifies its law (:mod:`gsmooth.interval.strategy`,
"How a slice is certified": the engine runs whatever strategy the transform supplies and never
reads a component's name).

What is certified (TSS contrast + brightness: "image" centring, Neyman–Pearson requirement)
---------------------------------------------------------------------------------------------
``contrast`` (x ↦ e^k (x + b), its law supplied by the contrast plugin) rescales the brightness noise under
composition, so a slice's radius cannot be compared with a half-diagonal. Slice k is certified
on the truly transformed image ``x_k = τ(c_k, x)`` with the smoother's own classifier g (noise
centred at 0), and instead of "radius > half-diagonal" the slice needs its top-class lower bound
to reach the slice's Neyman–Pearson requirement (:func:`gsmooth_plugins.transforms._contrast_law.slice_requirement`:
the worst case over the slice of the p that keeps the class above 1/2 under the rescaled noise,
computed once per call from the slice geometry and σ). The statement is TSS's:

    the smoothed classifier g predicts y on every truly transformed image e^k (x + b), (k, b) in
    the range (no clipping; Gaussian σ on both k and b).

Radii and requirements are reported in parameter units: the slice radius is the usual ``σΦ⁻¹(p)``
and its requirement ``σΦ⁻¹(p_required)`` (for σ-whitened shifts without rescaling it would be the
half-diagonal ``‖(h_k, e^{c_k} h_b)‖``; the rescaling makes it slightly larger).

What is certified (surrogate transforms: "image" centring, GSmooth Theorem 2)
-----------------------------------------------------------------------------
For a :class:`gsmooth.surrogate.transform.SurrogateTransform` (kind ``surrogate``) the smoothed classifier is
``g(x') = argmax_y P_{θ,ξ}( f(H(F2(x') + F1(θ) + ξ)) = y )``. Slice k (centre c_k, half-width h) is
certified by evaluating g on the **truly transformed** image ``x_k = τ(c_k, x)`` (the surrogate's
true transform). For α in the slice, ``F2(τ(α, x)) = F2(x_k) + W(α − c_k) + Δ_k(α)``, so the latent
seen for τ(α, x) is that of x_k under the noise shifted by ``(α − c_k, Δ_k(α))``, and Cohen's
Gaussian argument in the joint space gives ``g(τ(α, x)) = g(x_k)`` whenever
``σ_θ Φ⁻¹(p_lower,k) > t_k(α) = √(|α − c_k|² + ‖Δ_k(α)‖² σ_θ²/σ_ξ²)``. The slice is certified iff
that holds for its bound ``T_k ≥ sup_α t_k(α)`` (:meth:`SurrogateTransform.path_shift_bounds`,
:mod:`gsmooth.surrogate.path_bounds`), reported as ``M*_k = T_k / h`` (slice radius σ_θΦ⁻¹(p)/M*_k > h). The
statement:

    the surrogate-smoothed classifier g predicts y on every truly transformed image τ(α, x),
    α ∈ [a, b] — ``guarantee = "sound"`` when T_k is a proven bound (the true transform's
    ``path_speed_bound`` and a proven Lip(F2)), ``"estimate"`` when it is a grid maximum.

Several parameters (d > 1) keep the whole-range grid estimate of G (``lipschitz_factor``, labelled
``estimate``). The range must lie in the true transform's parameter domain.

The surrogate's quality does not enter the statement (a poor surrogate gives small radii, not false
ones); M* is reported (the largest over slices) with every result.

Kind ``empirical`` (rotation, scaling, the blurs without a surrogate) is refused: the parameter
radius says nothing about the transformed images. Train a surrogate (``gsmooth surrogate train
--transform T``) and certify through it (``--surrogate PATH``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral
from typing import Sequence

import numpy as np
import torch

from ..core.certificates import ABSTAIN, IntervalCertificate, ResultBatch
from ..errors import InvalidParameterError, UnsupportedTransformError
from ..core.stats import clopper_pearson_lower
from ..core.seeding import derive_seed
from ..validation import check_positive_int, check_probability
from .strategy import SliceFactors, SliceStrategy

__all__ = [
    "IntervalCertificate",
    "SlicePlan",
    "slice_plan",
    "slice_key",
    "check_interval_support",
    "certify_interval",
    "best_slice_radius",
    "UnsupportedTransformError",
]

#: Mixed into the per-slice noise-stream keys so that slice streams never coincide with the
#: image's own (uncentred) stream.
_SLICE_TAG = 0x51_1CE5


# --------------------------------------------------------------------------------------------
# the plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlicePlan:
    """Where the slices sit and what each must certify.

    Attributes:
        low, high: the range, one entry per parameter.
        slices: slices per parameter (1 for a degenerate parameter lo == hi).
        centers: ``(K, d)`` centres c_k (float64 numpy array).
        widths: slice widths per parameter.
        requirement: the radius each slice must exceed (half-width / half-diagonal, or the full
            width for one-sided noise).
        one_sided: the noise certifies increases only (centres at the lower ends).
        norm: the norm the requirement is measured in.
    """

    low: tuple[float, ...]
    high: tuple[float, ...]
    slices: tuple[int, ...]
    centers: np.ndarray
    widths: tuple[float, ...]
    requirement: float
    one_sided: bool
    norm: str

    @property
    def num_slices(self) -> int:
        return int(self.centers.shape[0])


def slice_plan(low, high, slices=10, *, one_sided: bool = False, norm: str = "l2") -> SlicePlan:
    """Cut ``[low, high]`` (per parameter) into slices and give their centres and requirement.

    Args:
        low, high: numbers (one parameter) or sequences of d numbers.
        slices: slices per parameter (an int for all, or d ints).
        one_sided: centres at the slices' lower ends and requirement = full width (see the module
            docs); only for one parameter.
        norm: ``l2``, ``l1`` or ``linf`` — how a d-dimensional box's half-diagonal is measured (the
            noise's norm); ``param`` is accepted for one parameter only.

    Example:
        >>> p = slice_plan(0.0, 1.0, 4)
        >>> p.centers[:, 0].tolist(), p.requirement
        ([0.125, 0.375, 0.625, 0.875], 0.125)
        >>> slice_plan(0.0, 1.0, 4, one_sided=True).centers[:, 0].tolist()
        [0.0, 0.25, 0.5, 0.75]
    """
    lo = np.atleast_1d(np.asarray(low, dtype=np.float64))
    hi = np.atleast_1d(np.asarray(high, dtype=np.float64))
    if lo.ndim != 1 or lo.shape != hi.shape or lo.size == 0:
        raise InvalidParameterError(f"interval: expected low and high of the same length, got {low!r} and {high!r}")
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()) or (lo > hi).any():
        raise InvalidParameterError(f"interval: expected finite low <= high, got low={lo.tolist()} high={hi.tolist()}")
    with np.errstate(over="ignore", invalid="ignore"):
        width = hi - lo
    if not np.isfinite(width).all():
        raise InvalidParameterError(
            f"interval: expected a range whose width high - low is a finite number, got low={lo.tolist()} "
            f"high={hi.tolist()} (width overflows)"
        )
    d = lo.size
    if isinstance(slices, Integral) and not isinstance(slices, bool):
        ks = [int(slices)] * d
    else:
        if isinstance(slices, (str, bytes)) or not all(
            isinstance(k, Integral) and not isinstance(k, bool) for k in (slices if hasattr(slices, "__iter__") else [None])
        ):
            raise InvalidParameterError(f"interval: slices expected a positive integer or {d} of them, got {slices!r}")
        ks = [int(k) for k in slices]
        if len(ks) != d:
            raise InvalidParameterError(f"interval: slices expected a positive integer or {d} of them, got {slices!r}")
    if any(k < 1 for k in ks):
        raise InvalidParameterError(f"interval: slices expected positive integers, got {slices!r}")
    ks = [1 if lo[i] == hi[i] else ks[i] for i in range(d)]
    if one_sided and d > 1:
        raise UnsupportedTransformError(
            f"interval: a one-sided noise certifies increases of a single parameter; expected param_dim 1, got {d} "
            "(use a two-sided noise such as gaussian for several parameters)"
        )
    if norm not in ("l2", "l1", "linf") and d > 1:
        raise UnsupportedTransformError(
            f"interval: boxes of {d} parameters need a noise certifying an l2/l1/linf ball, got norm {norm!r}"
        )
    widths = (hi - lo) / np.asarray(ks, dtype=np.float64)
    axes = []
    for i in range(d):
        k = np.arange(ks[i], dtype=np.float64)
        axes.append(lo[i] + (k if one_sided else k + 0.5) * widths[i])
    grids = np.meshgrid(*axes, indexing="ij")
    centers = np.stack([g.reshape(-1) for g in grids], axis=1)
    if one_sided:
        requirement = float(widths[0])
    elif norm == "l1":
        requirement = float(np.sum(widths / 2.0))
    elif norm == "linf" or d == 1:
        requirement = float(np.max(widths / 2.0))
    else:
        requirement = float(np.sqrt(np.sum((widths / 2.0) ** 2)))
    return SlicePlan(
        low=tuple(float(v) for v in lo),
        high=tuple(float(v) for v in hi),
        slices=tuple(ks),
        centers=centers,
        widths=tuple(float(w) for w in widths),
        requirement=requirement,
        one_sided=bool(one_sided),
        norm=norm,
    )


def slice_key(key: int, k: int) -> int:
    """The noise-stream key of slice ``k`` of the image with key ``key`` (distinct per slice)."""
    return derive_seed(int(key), int(k), _SLICE_TAG)


# --------------------------------------------------------------------------------------------
# what can be certified
# --------------------------------------------------------------------------------------------


def check_interval_support(transform, noise) -> SliceStrategy:
    """Raise :class:`UnsupportedTransformError` unless an interval certificate means something;
    return the transform's :class:`~gsmooth.interval.SliceStrategy`.

    Refused here: additive pixel smoothing (no parameter), transforms of kind ``empirical`` (no
    guarantee — train a surrogate), and kinds other than ``exact``/``surrogate``. Then the
    transform's strategy refuses the noises it cannot certify (a non-additive law without a
    strategy, a law proven for Gaussian noise only, one-sided noise for a surrogate …).
    """
    name = getattr(transform, "name", type(transform).__name__)
    if transform.param_dim is None:
        raise UnsupportedTransformError(
            f"interval certificates are over a transformation parameter; transform {name!r} is additive pixel "
            "noise (no parameter): use certify for an l2/l1 radius instead"
        )
    kind = transform.kind
    if kind == "empirical":
        raise UnsupportedTransformError(
            f"transform {name!r} is of kind 'empirical' (not resolvable): a parameter radius would say nothing "
            f"about transformed images, so it is not certified. Train a surrogate (`gsmooth surrogate train "
            f"--transform {name}`) and certify through it (--surrogate PATH, or gsmooth.surrogate.transform.SurrogateTransform)"
        )
    if kind not in ("exact", "surrogate"):
        raise UnsupportedTransformError(f"transform {name!r}: expected kind 'exact' or 'surrogate', got {kind!r}")
    strategy = transform.slice_strategy()
    if not isinstance(strategy, SliceStrategy):
        raise UnsupportedTransformError(
            f"transform {name!r}: expected slice_strategy() to return a gsmooth.interval.SliceStrategy, got "
            f"{type(strategy).__name__}"
        )
    strategy.check_support(transform, noise)
    return strategy


# --------------------------------------------------------------------------------------------
# certification
# --------------------------------------------------------------------------------------------


def best_slice_radius(noise, n: int, slice_alpha: float) -> float:
    """The largest radius one slice test can return with ``n`` samples at level ``slice_alpha``:
    the noise's radius at ``p_max = clopper_pearson_lower(n, n, slice_alpha) = slice_alpha^(1/n)``
    (before dividing by M*); 0 when even that is not above 1/2."""
    p_max = float(clopper_pearson_lower(n, n, slice_alpha))
    return float(noise.radius(p_max)) if p_max > 0.5 else 0.0


def certify_interval(
    smoother,
    x,
    *,
    low,
    high,
    slices=10,
    n0: int = 100,
    n: int = 100_000,
    alpha: float = 0.001,
    batch_size: int = 1000,
    seed: int = 0,
    keys: Sequence[int] | None = None,
    progress: bool = False,
    sequential: bool = False,
    refine: int = 0,
) -> IntervalCertificate | ResultBatch:
    """Certify that ``smoother``'s prediction is constant for every parameter in ``[low, high]``.

    Args:
        smoother: a :class:`gsmooth.Smoother` over a parameter transform of kind ``exact`` or
            ``surrogate`` whose :meth:`~gsmooth.Transform.slice_strategy` certifies the noise.
        x: one image ``(C,H,W)`` or a batch ``(B,C,H,W)`` in [0, 1].
        low, high: the range (numbers for one parameter, sequences of d numbers otherwise).
        slices: K slices per parameter (int or d ints); the family has prod(K_i) slices.
        n0, n: selection / estimation samples **per slice**.
        alpha: the family-wise failure probability; each slice is tested at alpha / K.
        batch_size, seed: as for :meth:`gsmooth.Smoother.certify`.
        progress: tqdm bars (stderr) over the noise samples of the call (every slice, both phases),
            and for a surrogate over each image's path bounds (slices, path points).
        keys: one key per image naming its noise streams (slice k of image key uses
            :func:`slice_key` (key, k)); default 0..B−1.
        sequential: certify sequentially (:mod:`gsmooth.core.sequential`): each slice's requirement
            ``p_required,k`` is known before sampling, so its ``n`` estimation draws become a
            maximum, counted at looks 100, 200, 400, … with α/K split across the looks; a slice stops
            once its bound reaches ``p_required,k`` or surely cannot, and an image stops at its first
            slice that surely fails (or before estimation when its slices select different classes).
            The family-wise α is unchanged; ``samples`` reports the draws used.
        refine: adaptive slicing up to this depth (one parameter only; 0: the uniform K slices).
            A slice that is not covered is split in two halves (depth 1), each of which has half
            the requirement; a half that fails is split again, up to depth ``refine``. α is
            allocated to the whole refinement tree before sampling (:func:`refinement_alphas`:
            depth d gets a share ``w_d`` of α, split over its ``K·2^d`` possible slices), so the
            family-wise α holds whichever slices end up tested; the image is certified iff the
            certified leaves cover the range with one class. ``leaves`` reports them.

    Returns:
        an :class:`IntervalCertificate`, or a :class:`gsmooth.ResultBatch` of them.

    Raises:
        UnsupportedTransformError: additive and ``empirical`` transforms, non-additively composing
            ones without a strategy for their law, noises the transform's strategy cannot certify
            (contrast: Gaussian only), and one-sided noises with several parameters.
    """
    transform, noise = smoother.transform, smoother.noise
    strategy = check_interval_support(transform, noise)
    n0 = check_positive_int("n0", n0)
    n = check_positive_int("n", n)
    alpha = check_probability("alpha", alpha)
    batch_size = check_positive_int("batch_size", batch_size)
    if not isinstance(sequential, (bool, np.bool_)):
        raise InvalidParameterError(f"interval: sequential expected True or False, got {sequential!r}")
    seed = smoother._check_seed(seed)
    x, single = smoother._check_input(x)
    keys = smoother._check_keys(keys, x.shape[0])
    d = smoother.center_dim
    low_a = np.atleast_1d(np.asarray(low, dtype=np.float64))
    high_a = np.atleast_1d(np.asarray(high, dtype=np.float64))
    if low_a.size == 1 and d > 1:
        low_a = np.repeat(low_a, d)
    if high_a.size == 1 and d > 1:
        high_a = np.repeat(high_a, d)
    if low_a.size != d or high_a.size != d:
        raise InvalidParameterError(
            f"interval: expected low/high with {d} number(s) for transform {transform.name!r}, got {low!r} and {high!r}"
        )
    lattice = transform.param_lattice
    if lattice:  # the statement holds on the lattice only: round the range inwards to it
        low_a = np.ceil(low_a / lattice - 1e-9) * lattice
        high_a = np.floor(high_a / lattice + 1e-9) * lattice
        if np.any(low_a > high_a):
            raise InvalidParameterError(
                f"interval: transform {transform.name!r} is certified on multiples of {lattice:g}; expected a range "
                f"containing one, got {low!r}:{high!r}"
            )
    one_sided = bool(getattr(noise, "one_sided", False))
    plan = slice_plan(low_a, high_a, slices, one_sided=one_sided, norm=noise.norm)
    strategy.check_plan(transform, noise, plan)
    k_total = plan.num_slices
    refine = _check_refine(refine, plan, transform)
    depth_alphas = refinement_alphas(alpha, k_total, refine)  # the level of one slice test at each depth
    slice_alpha = float(depth_alphas[0])
    plans = [plan] + [
        slice_plan(low_a, high_a, k_total * 2**dp, one_sided=one_sided, norm=noise.norm) for dp in range(1, refine + 1)
    ]
    for finer in plans[1:]:
        strategy.check_plan(transform, noise, finer)
    b = x.shape[0]
    slice_req = tuple(float(r) for r in strategy.required_radii(transform, noise, plan))  # what R_k must exceed
    if len(slice_req) != k_total:
        raise InvalidParameterError(
            f"interval: expected {type(strategy).__name__}.required_radii to give one radius per slice ({k_total}), "
            f"got {len(slice_req)}"
        )
    best = best_slice_radius(noise, n, slice_alpha)

    factors: list[SliceFactors] = []
    skipped: dict[int, float] = {}  # image -> best possible slice radius, for images not sampled
    certs: list[list | None] = [None] * b

    def image_factors(i: int) -> SliceFactors:
        f = strategy.factors(transform, noise, x[i], plan, **({"progress": True} if progress else {}))
        m = np.asarray(f.mstar, dtype=np.float64).reshape(-1)
        if m.shape != (k_total,) or not (m > 0.0).all():
            raise InvalidParameterError(
                f"interval: expected {type(strategy).__name__}.factors to give {k_total} factors M* > 0, got {m.tolist()}"
            )
        f = SliceFactors(m, f.guarantee, f.per_slice)
        factors.append(f)
        if strategy.skip_hopeless and not refine and not all(best / float(mk) > r for mk, r in zip(m, slice_req)):
            skipped[i] = best / float(m.max())  # even n/n could not cover some slice: draw none
        return f

    def run(images: list[int]) -> None:
        """Sample the slices of ``images`` in one call and keep each image's slice certificates."""
        if not images:
            return
        if strategy.centering == "image":
            xs = strategy.slice_images(transform, x[images], plan).to(smoother.device)
            centers = None
        else:
            xs = x[images].repeat_interleave(k_total, dim=0)
            centers = smoother._check_center(
                np.tile(plan.centers, (len(images), 1)), xs.shape[0],
                transform.param_shape(tuple(x.shape[1:])), x.dtype,
            )
        skeys = [slice_key(keys[i], k) for i in images for k in range(k_total)]
        m = np.concatenate([factors_of[i].mstar for i in images])
        p_req = np.concatenate([
            np.asarray(strategy.p_required(noise, np.asarray(slice_req), factors_of[i].mstar), dtype=np.float64)
            for i in images
        ]) if sequential else None
        res = _sample_slices(
            smoother, xs, centers, skeys, m, [factors_of[i].guarantee for i in images for _ in range(k_total)],
            p_req, n0=n0, n=n, alpha=slice_alpha, batch_size=batch_size, seed=seed, progress=progress,
            # refinement: a failing slice does not fail its image (its halves may cover it)
            groups=None if refine else np.repeat(np.arange(len(images)), k_total),
        )
        for j, i in enumerate(images):
            certs[i] = res[j * k_total : (j + 1) * k_total]

    factors_of: dict[int, SliceFactors] = {}
    if strategy.per_image:  # factors depend on the image: each image's bounds, then its samples
        for i in range(b):
            factors_of[i] = image_factors(i)
            run([] if i in skipped else [i])
    else:
        for i in range(b):
            factors_of[i] = image_factors(i)
        run([i for i in range(b) if i not in skipped])

    leaves_of: dict[int, list] = {}
    refined_samples: dict[int, int] = {}
    if refine:
        # what a slice of each finer plan must reach: the same for every image, computed once
        depth_req = [np.asarray(slice_req, dtype=np.float64)] + [
            np.asarray(strategy.required_radii(transform, noise, finer), dtype=np.float64) for finer in plans[1:]
        ]
        for i in range(b):
            leaves_of[i], refined_samples[i] = _refine_image(
                smoother, strategy, x[i], keys[i], certs[i], depth_req, plans, depth_alphas, factors,
                n0=n0, n=n, batch_size=batch_size, seed=seed, sequential=sequential,
            )

    guarantee = _weakest(f.guarantee for f in factors)
    requirement = max(slice_req)
    units = getattr(transform, "param_units", "") or ""
    extent = float(max(max(abs(v) for v in plan.low), max(abs(v) for v in plan.high)))
    shared = dict(  # the same for every image of the call
        low=plan.low, high=plan.high, slices=plan.slices, num_slices=k_total, family_alpha=alpha,
        slice_alpha=slice_alpha, requirement=requirement, n0=n0, n=n, noise=noise.describe(),
        transform=transform.describe(), kind=transform.kind, norm=("one-sided " if one_sided else "") + noise.norm,
        units=units, one_sided=one_sided, centering=strategy.centering,
        centers=tuple(tuple(float(v) for v in c) for c in plan.centers),
        slice_requirements=slice_req if strategy.reports_slice_requirements else (),
        guarantee=guarantee, lattice=float(lattice) if lattice else None, sequential=bool(sequential),
        refine=refine, depth_alphas=tuple(float(a) for a in depth_alphas) if refine else (),
    )
    out = []
    for i in range(b):
        f = factors_of[i]
        slice_mstar = tuple(float(v) for v in f.mstar) if f.per_slice else ()
        mstar = float(f.mstar.max())
        cs = certs[i]
        if cs is None:  # not sampled: no outcome could have covered a slice
            out.append(IntervalCertificate(
                prediction=ABSTAIN, radius=0.0, p_lower=0.0, count=0, margin=float(skipped[i] - requirement),
                min_radius=0.0, mstar=mstar, slice_predictions=(ABSTAIN,) * k_total, slice_mstar=slice_mstar,
                slice_radii=(0.0,) * k_total, slice_p_lower=(0.0,) * k_total, skipped=True, **shared,
            ))
            continue
        preds = tuple(int(c.prediction) for c in cs)
        radii = tuple(float(c.radius) if c.prediction != ABSTAIN else 0.0 for c in cs)
        margin = float(min(r - q for r, q in zip(radii, slice_req)))
        agree = preds[0] != ABSTAIN and all(p == preds[0] for p in preds)
        certified = agree and margin > 0.0
        cls = preds[0]
        leaves, extra_samples = (), 0
        if refine:  # the final partition decides: every leaf covered, one class
            tree = leaves_of[i]
            leaves = tuple(leaf.record() for leaf in sorted(tree, key=lambda leaf: leaf.low))
            leaf_classes = {leaf.prediction for leaf in tree}
            margin = float(min(leaf.margin for leaf in tree))
            cls = next(iter(leaf_classes)) if len(leaf_classes) == 1 else ABSTAIN
            certified = cls != ABSTAIN and margin > 0.0
            extra_samples = refined_samples[i]
        worst = int(np.argmin([c.p_lower for c in cs]))
        out.append(IntervalCertificate(
            prediction=cls if certified else ABSTAIN,
            radius=extent if certified else 0.0,
            p_lower=float(cs[worst].p_lower),
            count=int(cs[worst].count),
            margin=margin,
            min_radius=float(min(radii)),
            mstar=mstar,
            slice_mstar=slice_mstar,
            slice_predictions=preds,
            slice_radii=radii,
            slice_p_lower=tuple(float(c.p_lower) for c in cs),
            samples=int(sum(c.samples for c in cs)) + extra_samples,
            leaves=leaves,
            **shared,
        ))
    return out[0] if single else ResultBatch(out)


#: How much a guarantee label promises, strongest first (the call reports its weakest).
_GUARANTEES = ("exact", "sound", "estimate")


def _weakest(labels) -> str:
    labels = list(labels)
    rank = {g: i for i, g in enumerate(_GUARANTEES)}
    return max(labels, key=lambda g: rank.get(g, len(_GUARANTEES))) if labels else "exact"


def _sample_slices(smoother, xs, centers, keys, mstar, guarantees, p_req, *, n0, n, alpha, batch_size, seed, progress,
                   groups) -> list:
    """One slice certificate per row of ``xs`` (slice images, or the image with ``centers``): Cohen's
    fixed ``n`` when ``p_req`` is None, else sequential against ``p_req`` (stopping a group at its
    first slice that surely fails); radius ``noise.radius(p_lower) / mstar``."""
    noise = smoother.noise
    sample = dict(n0=n0, n=n, alpha=alpha, batch_size=batch_size, seed=seed, progress=progress)
    if p_req is not None:
        c_hat, n_a, p_low, drawn = smoother._sequential_select_and_bound(
            xs, keys=keys, centers=centers, **sample,
            level=lambda idx, p: (np.asarray(p) > p_req[idx]).astype(np.int64), groups=groups,
        )
        used = n0 + drawn
    else:
        c_hat, n_a, p_low = smoother._select_and_bound(xs, keys=keys, centers=centers, **sample)
        used = np.full(len(keys), n0 + n, dtype=np.int64)
    return smoother._certificates(
        c_hat, n_a, p_low, n0=n0, n=n, alpha=alpha,
        bound=lambda j, p: (float(noise.radius(p)) / float(mstar[j]), float(mstar[j]), guarantees[j]), samples=used,
    )


# --------------------------------------------------------------------------------------------
# adaptive slicing
# --------------------------------------------------------------------------------------------

#: Mixed into the noise-stream keys of refined slices (distinct from every depth-0 slice's).
_REFINE_TAG = 0x5EF1_AE


def refinement_alphas(alpha: float, k: int, depth: int) -> np.ndarray:
    """The level of one slice test at each depth 0..``depth`` of the refinement tree.

    Depth d holds at most ``k·2^d`` slices and gets a share ``w_d`` of α: ``w_d = 2^-(d+1)`` for
    d < depth and ``w_depth = 2^-depth`` (so Σ w_d = 1), split evenly over its slices. Every test
    that could be run is counted, so by the union bound the family-wise α holds whatever slices the
    data lead to. ``depth = 0`` is the uniform plan's α/K.

    Example:
        >>> refinement_alphas(0.01, 10, 0).tolist()
        [0.001]
        >>> [float(round(a, 8)) for a in refinement_alphas(0.01, 10, 2)]
        [0.0005, 0.000125, 6.25e-05]
    """
    if depth == 0:
        return np.array([float(alpha) / k])
    w = np.array([2.0 ** -(d + 1) for d in range(depth)] + [2.0 ** -depth])
    return np.array([float(alpha) * w[d] / (k * 2**d) for d in range(depth + 1)])


#: The deepest refinement allowed (K·2^8 slices at the last depth).
MAX_REFINE = 8


def _check_refine(refine, plan: SlicePlan, transform) -> int:
    if isinstance(refine, bool) or not isinstance(refine, Integral) or not 0 <= int(refine) <= MAX_REFINE:
        raise InvalidParameterError(f"interval: refine expected an integer depth in [0, {MAX_REFINE}], got {refine!r}")
    refine = int(refine)
    if refine and len(plan.low) != 1:
        raise InvalidParameterError(
            f"interval: adaptive slicing (refine) splits slices of one parameter; expected a one-parameter range, got "
            f"{len(plan.low)} parameters for transform {getattr(transform, 'name', transform)!r} (use more slices instead)"
        )
    if refine and plan.slices[0] == 1 and plan.low[0] == plan.high[0]:
        return 0  # a degenerate range has nothing to split
    return refine


@dataclass
class _Leaf:
    """One tested slice of the refinement tree."""

    depth: int
    index: int
    low: float
    high: float
    prediction: int
    radius: float
    requirement: float
    samples: int
    covered: bool

    @property
    def margin(self) -> float:
        return float(self.radius - self.requirement)

    def record(self) -> tuple:
        """``(low, high, depth, prediction, radius, requirement)`` as reported in ``leaves``."""
        return (float(self.low), float(self.high), int(self.depth), int(self.prediction), float(self.radius),
                float(self.requirement))


def _slice_bounds(plan: SlicePlan, j: int) -> tuple[float, float]:
    """Slice ``j``'s ends (one parameter): ``low + j·w`` and ``low + (j + 1)·w``, the last one ``high``."""
    lo, w = float(plan.low[0]), float(plan.widths[0])
    return lo + j * w, (float(plan.high[0]) if j == plan.slices[0] - 1 else lo + (j + 1) * w)


def _refine_image(smoother, strategy, x, key, certs, depth_req, plans, depth_alphas, factors, *, n0, n, batch_size,
                  seed, sequential) -> tuple[list, int]:
    """Split the failing slices of one image ``x`` ``(C, H, W)`` depth by depth: ``(final leaves,
    draws of the refined tests)``."""
    import dataclasses

    transform, noise = smoother.transform, smoother.noise
    leaves = []
    for j, c in enumerate(certs):
        lo, hi = _slice_bounds(plans[0], j)
        covered = c.prediction != ABSTAIN and float(c.radius) > depth_req[0][j]
        leaves.append(_Leaf(0, j, lo, hi, int(c.prediction) if covered else ABSTAIN, float(c.radius) if covered else 0.0,
                            float(depth_req[0][j]), int(c.samples), covered))

    refined_draws = 0

    def classes(tree):
        return {leaf.prediction for leaf in tree if leaf.covered}

    for depth in range(1, len(plans)):
        if len(classes(leaves)) > 1:
            break  # two classes certified on parts of the range: it is not constant
        failing = [leaf for leaf in leaves if not leaf.covered]
        if not failing:
            break
        plan_d = plans[depth]
        idx = sorted(2 * leaf.index + h for leaf in failing for h in (0, 1))
        sub = dataclasses.replace(plan_d, centers=plan_d.centers[idx])
        req = depth_req[depth][idx]
        f = strategy.factors(transform, noise, x, sub)
        m = np.asarray(f.mstar, dtype=np.float64).reshape(-1)
        if m.shape != (len(idx),) or not (m > 0.0).all():
            raise InvalidParameterError(
                f"interval: expected {type(strategy).__name__}.factors to give {len(idx)} factors M* > 0, got {m.tolist()}"
            )
        factors.append(SliceFactors(m, f.guarantee, f.per_slice))
        a = float(depth_alphas[depth])
        best = best_slice_radius(noise, n, a)
        hopeful = [t for t in range(len(idx)) if best / float(m[t]) > req[t]]
        results: dict[int, object] = {}
        if hopeful:
            hsub = dataclasses.replace(plan_d, centers=plan_d.centers[[idx[t] for t in hopeful]])
            if strategy.centering == "image":
                xs = strategy.slice_images(transform, x.unsqueeze(0), hsub).to(smoother.device)
                centers = None
            else:
                xs = x.unsqueeze(0).expand(len(hopeful), *x.shape)
                centers = smoother._check_center(
                    hsub.centers, xs.shape[0], transform.param_shape(tuple(x.shape)), x.dtype,
                )
            skeys = [derive_seed(int(key), depth, int(idx[t]), _REFINE_TAG) for t in hopeful]
            mh = m[hopeful]
            p_req = np.asarray(strategy.p_required(noise, req[hopeful], mh), dtype=np.float64) if sequential else None
            res = _sample_slices(
                smoother, xs, centers, skeys, mh, [f.guarantee] * len(hopeful), p_req, n0=n0, n=n, alpha=a,
                batch_size=batch_size, seed=seed, progress=False, groups=None,
            )
            results = {t: r for t, r in zip(hopeful, res)}
        children = []
        for t, j in enumerate(idx):
            lo, hi = _slice_bounds(plan_d, j)
            c = results.get(t)
            covered = c is not None and c.prediction != ABSTAIN and float(c.radius) > req[t]
            children.append(_Leaf(
                depth, j, lo, hi, int(c.prediction) if covered else ABSTAIN, float(c.radius) if covered else 0.0,
                float(req[t]), int(c.samples) if c is not None else 0, covered,
            ))
        refined_draws += sum(child.samples for child in children)
        leaves = [leaf for leaf in leaves if leaf.covered] + children  # the failing slices, replaced by their halves
    return leaves, refined_draws
