"""Additive noise for quantised images, sound in floating point: τ(ε, x) = (X + round_h(ε·L)) / L.

Why: in float32, ``x + ε`` is rounded, and the rounding depends on x. The sampled point is then
not exactly x + (a noise independent of x), and a base classifier that reads low-order bits can
tell neighbouring images apart far better than the Gaussian allows, so a certificate can be false
(Voráček & Hein, "Sound randomized smoothing in floating-point arithmetic", ICLR 2023). Measured,
σ = 0.25, float32 (2·10⁵ draws): the fraction of pixels of ``x + ε`` whose last mantissa bit is 0
is 0.654 at 31/255 and 0.736 at 32/255, whereas a one-level shift of one pixel may move the
probability of any event by at most 2Φ(1/(2·0.25·255)) − 1 ≈ 0.006 under Gaussian noise. Summed
over the pixels of an image, such a bit statistic tells x from an image well inside its certified
ℓ2 ball (``tests/test_quantized_additive.py`` builds that false certificate through
:class:`gsmooth.Smoother`).
"""

from __future__ import annotations

from numbers import Integral

import torch

import gsmooth
from gsmooth.validation import Interval, validate_params

from ._common import check_image

__all__ = ["quantized_additive", "lattice_sum", "QuantizedAdditive", "NOISE_STEP"]

#: The dyadic grid h = 2⁻⁴, in grey levels (units of 1/levels), that the scaled noise is rounded
#: to. It divides 1, so rounding to it commutes with integer shifts (step 2 of the proof). It is
#: coarse next to the float grid of the sampled noise (float32 ε·255 has spacing ≤ 255·2⁻²³·|ε|,
#: 3e-5 at |ε| = 1): each h-cell collects > 2000 float values of ε·L, so the law of the rounded
#: noise is the discretised Gaussian's up to where the sampler's grid meets the cell edges. A
#: much finer h (2⁻⁴⁰, say) would round nothing: the float grid of ε would show through, and the
#: last-bit statistic above would again tell 254/255 (0.511) from 255/255 (0.608).
NOISE_STEP = 2.0**-4
_STEP_BITS = 4


def _compute_dtype(x: torch.Tensor, theta: torch.Tensor) -> torch.dtype:
    return torch.float64 if torch.float64 in (x.dtype, theta.dtype) else torch.float32


def _exact_bound(dtype: torch.dtype) -> float:
    """|X + R| below this keeps the sum exact: R has 4 bits below the unit; 24 (53) bit significands."""
    return 2.0 ** ((24 if dtype == torch.float32 else 53) - _STEP_BITS)


def _grid_levels(x: torch.Tensor, levels: int, dtype: torch.dtype) -> torch.Tensor:
    """X = round(x·levels) (exact integers in ``dtype``), refusing pixels off the grid i/levels.

    A batch that repeats one image by ``expand`` (stride 0, as the engine builds it) is checked once.
    """
    base = x[:1] if x.dim() > 0 and x.shape[0] > 1 and x.stride(0) == 0 else x
    scaled = base.to(dtype) * levels
    big_x = torch.round(scaled)
    off = (scaled - big_x).abs_().max() if scaled.numel() else scaled.new_zeros(())
    # fl(x·levels) is within ulp(levels)/2 (≤ 1e-5 for levels ≤ 255 in float32) of x·levels, far
    # inside the tolerance 1e-6·levels, so the float check decides as an exact one would
    if not bool(off <= 1e-6 * levels):  # NaN and inf are off the grid
        bad = ~((scaled - torch.round(scaled)).abs() <= 1e-6 * levels)
        i = int(torch.nonzero(bad.flatten())[0])
        raise gsmooth.InputError(
            f"quantized_additive: expected images quantised to 1/levels (levels={levels}: pixels i/{levels} for "
            f"integers i, within 1e-6·levels), got a pixel {float(base.flatten()[i])!r} (x·levels = "
            f"{float(scaled.flatten()[i])!r}); quantise first, e.g. torch.round(x * {levels}) / {levels}, or use "
            "transform 'additive'"
        )
    return big_x


def lattice_sum(x: torch.Tensor, theta: torch.Tensor, *, levels: int = 255) -> torch.Tensor:
    """X + R, exactly: X = round(x·levels) (integers), R = h·⌊θ·levels/h + 1/2⌋, h = :data:`NOISE_STEP`.

    Computed in float32, or float64 when x or θ is float64; the result is exact in that dtype
    (checked: |X + R| < 2²⁰ in float32, 2⁴⁹ in float64). The output of :func:`quantized_additive`
    is ``fl(lattice_sum / levels)``.
    """
    check_image("quantized_additive", x)
    validate_params("quantized_additive", {"levels": levels}, QuantizedAdditive._parameter_constraints)
    dtype = _compute_dtype(x, theta)
    big_x = _grid_levels(x, levels, dtype)
    # m = ⌊θ·(levels/h) + 1/2⌋, an integer: levels/h = 16·levels is exact; the product (and, for
    # huge θ, the + 1/2) may round, but only as a function of θ alone (the noise), never of x
    m = theta.reshape(x.shape).to(device=x.device, dtype=dtype).mul(levels / NOISE_STEP).add_(0.5).floor_()
    s = torch.add(big_x, m, alpha=NOISE_STEP)  # X + m·h: m·h exact (a power of two), the sum exact below
    lo, hi = torch.aminmax(s) if s.numel() else (s.new_zeros(()), s.new_zeros(()))
    bound = _exact_bound(dtype)
    if not bool((hi < bound) & (lo > -bound)):  # also NaN/inf noise
        raise gsmooth.InputError(
            f"quantized_additive: expected finite noise with |x·levels + θ·levels| < {bound:g} (exact in {dtype}), "
            f"got a sum in [{float(lo)!r}, {float(hi)!r}]"
        )
    return s


def quantized_additive(x: torch.Tensor, theta: torch.Tensor, *, levels: int = 255) -> torch.Tensor:
    """``(X + round_h(θ·levels)) / levels`` for images on the grid ``i/levels``, with exact arithmetic.

    Args:
        x: ``(B, C, H, W)`` images whose pixels are ``i/levels`` for integers i (as an 8-bit file
            reads for ``levels = 255``; within 1e-6·levels); anything else raises
            :class:`gsmooth.InputError` ("expected images quantised to 1/levels, got …").
        theta: the additive noise ε, ``(B, C, H, W)`` or ``(B, C·H·W)``, in pixel units.
        levels: grey levels minus one (255 for 8-bit images), an integer in [1, 65536].

    Returns:
        ``(B, C, H, W)`` of x's dtype: ``fl((X + R)/levels)``, X = round(x·levels),
        R = round_h(ε·levels), h = :data:`NOISE_STEP` (see :func:`lattice_sum`). Not clipped to
        [0, 1] (clipping is the model's business, as for ``additive``).

    **Proof of soundness.** L = ``levels``, E = ε·L the noise in grey levels, h = 2⁻⁴,
    round_h(t) = h·⌊t/h + 1/2⌋.

    1. *Exact arithmetic.* X = round(x·L) is an integer (exactly representable; the grid check
       decides as an exact one would: fl(x·L) is within ulp(L)/2 of x·L, 8e-6 for L = 255, far
       inside the tolerance). R = h·m with the integer m = ⌊fl(ε·L/h) + 1/2⌋: the product
       fl(ε·L/h) may round, but it is a function of ε alone.
       X + R lies on the grid hℤ and is computed exactly while |X + R| < 2^(p−4) (p = 24 in
       float32, 53 in float64; checked). The one rounding that involves x is the final division by
       L, and IEEE division is correctly rounded: fl((X + R)/L) depends on the real X + R only (in
       float64 then cast to float32 it is the same number: double rounding is innocuous for
       division, 53 ≥ 2·24 + 2).
    2. *Rounding commutes with the lattice.* The noise actually added, N = R ∈ hℤ^d, is a random
       variable whose law does not depend on x, and the output is H(X + N) with one fixed function
       H(s) = fl(s/L). For the ideal noise, N = round_h(E) with E ~ N(0, (σL)²I) continuous;
       since h divides 1, X/h is an integer and ⌊(X + E)/h + 1/2⌋ = X/h + ⌊E/h + 1/2⌋, i.e.
       X + round_h(E) = round_h(X + E). So the output is H(round_h(X + E)): a fixed function of
       the exact sum X + E.
    3. *Cohen's theorem, exactly.* Then g(x) = argmax_c P(f(H(round_h(X + E))) = c) is Cohen's
       smoothed classifier of the fixed base classifier f∘H∘round_h at the point X with noise std
       σL. If p_lower bounds its top-class probability, g is constant on the ℓ2 ball of radius
       σL·Φ⁻¹(p_lower) around X in grey levels, i.e. of radius r = σΦ⁻¹(p_lower) in [0, 1] pixel
       units — the radius the engine reports. Every quantised image x' = X'/L with
       ‖x' − x‖₂ < r (its sampled points being H(round_h(X' + E)), the same H) gets
       g(x') = g(x). Images off the grid are refused: the certificate is a statement about
       quantised perturbed images (pixels of x' outside [0, 1] are allowed by the proof). The same
       argument holds for Laplace/uniform noise and their ℓ1 radii.

    **What the proof does not cover: the sampler.** The engine draws ε in the input's dtype
    (float32 for float32 images) with torch's sampler: a float approximation of the Gaussian, not
    an exact one. It enters only through the law of the lattice noise N, and that law is the same
    for every x: no x-dependent rounding is left, unlike ``fl32(x + ε)``. N differs from the ideal
    round_h(E) only where E lies within the float error of ε·L (≈ 255·2⁻²⁴·|ε| in float32,
    255·2⁻⁵³·|ε| in float64) of an h-cell edge: per coordinate, a change of the order of 1e-4 in
    the law of N in float32 (1e-13 in float64), independent of x. A base classifier can exploit
    only how the sampler's law differs from the Gaussian, not where x lies on the float grid. This
    term is not bounded here; it is the residual assumption, as in every implementation that
    samples noise in floating point. To shrink it, pass float64 images (``x.double()``, with a
    model that accepts them): the noise is then drawn in float64.

    Example:
        >>> x = torch.tensor([[[[0.0, 128 / 255], [1.0, 3 / 255]]]])
        >>> out = quantized_additive(x, torch.full((1, 1, 2, 2), 0.1))
        >>> [round(v * 255, 4) for v in out.flatten().tolist()]
        [25.5, 153.5, 280.5, 28.5]
    """
    s = lattice_sum(x, theta, levels=levels)
    return s.div_(levels).to(x.dtype)


class QuantizedAdditive(gsmooth.Transform):
    """Additive smoothing of quantised images, sound in floating point (:func:`quantized_additive`).

    Use it instead of ``additive`` when the images are quantised (read from 8-bit files) and the
    certificate must hold even for a base classifier that reads low-order bits:
    ``gsmooth.Smoother(model, noise="gaussian", sigma=0.25, transform="quantized_additive",
    num_classes=10)``, or ``--transform quantized_additive`` on the command line. Same noise, same
    radius (ℓ2 for Gaussian, ℓ1 for Laplace/uniform, in [0, 1] pixel units), certified for every
    perturbed image that is quantised too.

    Kind ``exact``. ``composes_additively = False``: τ(b, x) is off the grid, so τ(a, τ(b, x)) is
    refused; θ's compose on the lattice only (τ(ε, x + k/L) = τ(ε + k/L, x) for integer k, up to
    the rounding of ε + k/L). Pixel noise never needs the law (interval certificates are for
    parameter transforms).
    """

    name = "quantized_additive"
    param_dim = None
    kind = "exact"
    param_units = "pixel intensity"
    composes_additively = False
    #: levels ≤ 2¹⁶ keeps X + noise exact in float32 (:func:`lattice_sum`: |X + R| < 2²⁰)
    _parameter_constraints = {"levels": [Interval(Integral, 1, 2**16)]}

    def __init__(self, *, levels: int = 255):
        super().__init__()
        self.levels = levels
        self.validate_params()

    def forward(self, x, theta):
        return quantized_additive(x, theta, levels=self.levels)
