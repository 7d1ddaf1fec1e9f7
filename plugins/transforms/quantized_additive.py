"""Additive noise for quantised images, sound in floating point: τ(ε, x) = (X + round_h(ε·L)) / L.

Why: in float32, ``x + ε`` is rounded, and the rounding depends on x. The sampled point is then
not exactly x + (a noise independent of x), and a base classifier that reads low-order bits can
tell neighbouring images apart far better than the Gaussian allows, so a certificate can be false
(Voráček & Hein, "Sound randomized smoothing in floating-point arithmetic", ICLR 2023). Example,
σ = 0.25, float32: the fraction of pixels of ``x + ε`` whose last mantissa bit is 0 is 0.654 for
pixels at 31/255 and 0.736 at 32/255. A one-level shift of a pixel may change the probability of
any event by at most 2Φ(1/(2·0.25·255)) − 1 ≈ 0.006 under Gaussian noise: summed over the pixels
of an image, such a bit statistic separates x from an image well inside its certified ℓ2 ball.
"""

from __future__ import annotations

import math

import torch

import gsmooth

from ._common import check_image, check_int

__all__ = ["quantized_additive", "lattice_sum", "QuantizedAdditive", "NOISE_STEP"]

#: The dyadic grid h = 2⁻⁴ (in units of 1/levels, i.e. 1/16 of a grey level) the scaled noise is
#: rounded to. h divides 1, so rounding commutes with integer shifts (the proof below). h is
#: coarse next to the sampler's own float grid (float32 ε·255 has spacing ≤ 255·2⁻²³·|ε|, 4e-5
#: at |ε| = 1), so each h-cell holds thousands of sampler values and the law of round_h(ε·L) is
#: the discretised Gaussian up to the sampler's approximation; with a far finer h (say 2⁻⁴⁰)
#: rounding would do nothing and the float grid of ε would show through (see the class notes).
NOISE_STEP = 2.0**-4
#: |X + R| must stay below this for float64 to add exactly (53 bits, 4 of them below the unit).
_EXACT_BOUND = 2.0 ** (53 - 4)


def _on_grid(fn: str, x: torch.Tensor, levels: int) -> torch.Tensor:
    """X = round(x·levels) in float64 (exact integers), refusing pixels off the grid i/levels."""
    scaled = x.to(torch.float64) * levels
    grid = torch.round(scaled)
    off = (scaled - grid).abs()
    bad = ~(off <= 1e-6 * levels)  # NaN and inf count as off the grid
    if bool(bad.any()):
        i = int(torch.nonzero(bad.flatten())[0])
        raise gsmooth.InputError(
            f"{fn}: expected images quantised to 1/levels (levels={levels}: pixels i/{levels} for integers i, "
            f"within 1e-6·levels), got a pixel {float(x.flatten()[i])!r} (x·levels = {float(scaled.flatten()[i])!r}); "
            f"quantise first, e.g. torch.round(x * {levels}) / {levels}, or use transform 'additive'"
        )
    return grid


def lattice_sum(x: torch.Tensor, theta: torch.Tensor, *, levels: int = 255) -> torch.Tensor:
    """X + R in float64, the exact sum the output is a function of (see :func:`quantized_additive`):
    X = round(x·levels) (integers), R = round_h(θ·levels) with h = :data:`NOISE_STEP`."""
    check_image("quantized_additive", x)
    big_x = _on_grid("quantized_additive", x, levels)
    e = theta.reshape(x.shape).to(device=x.device, dtype=torch.float64) * levels
    # floor(E/h + 1/2)·h: E/h and ·h are exact (powers of two), + 1/2 is exact while |E/h| < 2⁵²;
    # round-half-up (not half-even) so that a tie rounds the same way after any integer shift
    r = torch.floor(e / NOISE_STEP + 0.5) * NOISE_STEP
    s = big_x + r
    if not bool(torch.isfinite(s).all()) or bool((s.abs() >= _EXACT_BOUND).any()):
        raise gsmooth.InputError(
            f"quantized_additive: expected finite noise with |x·levels + θ·levels| < 2^49 (exact in float64), got "
            f"max {float(s.abs().max())!r}"
        )
    return s


def quantized_additive(x: torch.Tensor, theta: torch.Tensor, *, levels: int = 255) -> torch.Tensor:
    """``(X + round_h(θ·levels)) / levels`` for images on the grid ``i/levels``, computed exactly.

    Args:
        x: ``(B, C, H, W)`` images whose pixels are ``i/levels`` for integers i (as read from
            8-bit files for ``levels = 255``, within 1e-6·levels); anything else raises
            :class:`gsmooth.InputError` ("expected images quantised to 1/levels, got …").
        theta: the additive noise ε, ``(B, C, H, W)`` or ``(B, C·H·W)``, in pixel units.
        levels: the number of grey levels minus one (255 for 8-bit images).

    Returns:
        ``(B, C, H, W)`` of x's dtype: ``fl((X + R)/levels)`` with X = round(x·levels),
        R = round_h(ε·levels), h = :data:`NOISE_STEP`, computed in float64 and rounded once to
        x's dtype. Not clipped (clipping is the model's business, as for ``additive``).

    **Proof of soundness.** Write L = ``levels``, u = 1/L (one grey level), E = ε·L (the noise in
    grey levels), h = 2⁻⁴, round_h(t) = h·⌊t/h + 1/2⌋.

    1. *Exact arithmetic.* X = round(x·L) is an integer, exactly representable. E = ε·L is exact
       in float64 for float32 ε (24 + 8 bits); for float64 ε its rounding depends on ε alone.
       E/h, ⌊· + 1/2⌋ and ·h are exact (powers of two, |E/h| < 2⁵²), and X + R is exact while
       |X + R| < 2⁴⁹ (checked), because both lie on the grid hℤ. The one rounding left is the final
       division by L, and IEEE division is correctly rounded: fl((X + R)/L) depends only on the
       real number X + R.
    2. *Rounding commutes with the lattice.* h divides 1, so X/h is an integer and
       ⌊(X + E)/h + 1/2⌋ = X/h + ⌊E/h + 1/2⌋, i.e. X + round_h(E) = round_h(X + E). Hence the
       output is H(X + E) with one fixed function H(s) = fl(round_h(s)/L) that does not depend on x.
    3. *Cohen's theorem, exactly.* For continuous ε ~ N(0, σ²I), X + E ~ N(X, (σL)²I), and the
       smoothed classifier is g(x) = argmax_c P(f(H(X + E)) = c): Cohen's smoothed classifier of
       the fixed base classifier f∘H at the point X, noise std σL. If p_lower bounds the top-class
       probability, g is constant on the ℓ2 ball of radius σL·Φ⁻¹(p_lower) around X in grey-level
       units, i.e. of radius R = σΦ⁻¹(p_lower) in [0, 1] pixel units — the usual radius. Every
       quantised image x' = X'/L with ‖x' − x‖₂ < R (the point actually fed to the model being
       H(X' + E), with the same H) gets g(x') = g(x). Pixels of x' outside [0, 1] are allowed by
       the proof; images off the grid are refused, so the certificate is a statement about
       quantised perturbations.

    **What the proof does not cover: the sampler.** The engine draws ε in the input's dtype
    (float32 for float32 images, float64 for float64): a float approximation of the Gaussian, whose
    law is independent of x. It enters only through the law of the lattice noise
    N = round_h(ε·L) ∈ hℤ^d, which is the same for every x; ideally N is the discretised Gaussian
    round_h(N(0, (σL)²)). Since h is coarse next to the float grid of ε·L (h/(255·2⁻²³·|ε|) > 1500
    for |ε| ≤ 1 in float32), each cell of hℤ collects thousands of sampler values, and N's law
    differs from the ideal one only by where the sampler's grid meets the cell edges — a
    discretisation at ~1e-7 relative (float32; ~1e-16 in float64), the same for every x and far
    below the Monte-Carlo error of p_lower. This is the residual assumption; pass float64 images
    (``x.double()``, with a model that accepts them) to make it ~1e-16. No x-dependent rounding
    is left: that is what the plain ``additive`` transform cannot offer in float32.

    Example:
        >>> x = torch.tensor([[[[0.0, 128 / 255], [1.0, 3 / 255]]]])
        >>> out = quantized_additive(x, torch.full((1, 1, 2, 2), 0.1))
        >>> [round(v * 255, 4) for v in out.flatten().tolist()]
        [25.5, 153.5, 280.5, 28.5]
    """
    s = lattice_sum(x, theta, levels=levels)
    return (s / levels).to(x.dtype)


class QuantizedAdditive(gsmooth.Transform):
    """Additive smoothing of quantised images, sound in floating point (:func:`quantized_additive`).

    Use it instead of ``additive`` when the images are quantised (8-bit files) and the
    certificate must hold against a base classifier that may read low-order bits:
    ``gsmooth.Smoother(model, noise="gaussian", sigma=0.25, transform="quantized_additive",
    num_classes=10)``, or ``--transform quantized_additive`` on the command line. The radius is
    the noise's radius (ℓ2 for Gaussian, ℓ1 for Laplace/uniform: step 3 of the proof holds for
    any noise whose certificate is a statement about X + E for a fixed base classifier), in
    [0, 1] pixel units, for perturbed images that are quantised too.

    Kind ``exact`` (the radius holds for the true transform). ``composes_additively = False``:
    τ(b, x) is off the grid, so τ(a, τ(b, x)) is refused, and θ's compose only on the lattice
    (τ(ε, x + k/L) = τ(ε + k/L, x) for integer k, up to the rounding of ε + k/L); the engine never
    needs the law for pixel noise.

    Cost: two float64 passes over the batch (a few ms per 10⁴ CIFAR images on a GPU); nothing
    else changes (same noise, same radius, same number of samples).
    """

    name = "quantized_additive"
    param_dim = None
    kind = "exact"
    param_units = "pixel intensity"
    composes_additively = False

    def __init__(self, *, levels: int = 255):
        super().__init__()
        self.levels = levels
        check_int(type(self).__name__, "levels", levels, 1)

    def forward(self, x, theta):
        return quantized_additive(x, theta, levels=self.levels)
