"""Default smoothing noise, σ, certified range and slices for each built-in transform — one table.

The CLI uses it so that the short commands work (``gsmooth certify --model CKPT --transform
brightness --range``, ``gsmooth train --transform gaussian_blur …``); a checkpoint's own training
noise always takes precedence over the table (see :func:`gsmooth.cli.common.setup_smoother`).

Where the numbers come from (P = published, C = the papers' public code, O = our choice):

============== ============= ======== =============== ============ =========================================
transform      noise         σ        range           slices       source
============== ============= ======== =============== ============ =========================================
additive       gaussian      0.25     —               —            Cohen et al. (P)
brightness     gaussian      0.2      −0.4 : 0.4      10           range TSS ±0.4 (P); σ 0.2 TSS code (C)
contrast       gaussian      0.2      −0.2 : 0.2 (k) 5 per axis   σ TSS code (C); range and 5×5 boxes (O):
                                        −0.2 : 0.2 (b)              contrast ×0.82…1.22, brightness ±0.2
gaussian_blur  exponential   λ = 10   0 : 16          10           α ≤ 16 TSS (P); λ 10 TSS code (C)
translation    gaussian      10 px    −20 : 20 (each) 5 per axis   ≤ 20 px TSS (P, a box ⊇ their disc);
                                                                   σ 10 TSS code (C); 5×5 boxes (O)
rotation       gaussian+sur. 5°       −10 : 10        10           ±10° TSS/GSmooth (P); σ (O)
scaling        gaussian+sur. 0.15     −0.3 : 0.3      10           ±30 % TSS (P); σ (O)
rotational_bl. gaussian+sur. 2.5°     0 : 10          10           10° GSmooth (P); σ (O)
defocus_blur   gaussian+sur. 1.25 px  0 : 5           10           5 GSmooth (P); σ (O)
zoom_blur      gaussian+sur. 0.125    0 : 0.5         10           0.5 GSmooth (P); σ (O)
pixelate       gaussian+sur. 0.125    0 : 0.5         10           0.5 GSmooth (P); σ (O)
motion_blur    gaussian+sur. 1.25 px  0 : 5           10           range: gsmooth.surrogate (O); σ (O)
============== ============= ======== =============== ============ =========================================

"+sur." means the transform is of kind ``empirical`` and is certified through a GSmooth surrogate
(``gsmooth surrogate train``); its θ noise is Gaussian with σ_θ = the σ above (a quarter of the
range's width: wide enough to smooth, narrow enough that θ stays mostly where the surrogate was
trained) and its latent noise has ``latent_sigma`` σ_ξ = 0.25 (Cohen's usual pixel-scale σ; the
latent of F2 has the image's scale), i.e. ``sigma_ratio = σ_ξ / σ_θ``. K = 10 slices everywhere
(O; the GSmooth code certifies 10 grid points over the range, without our Bonferroni correction).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidParameterError

__all__ = ["TransformDefaults", "DEFAULTS", "defaults_for", "DEFAULT_SLICES"]

#: Slices per parameter when nothing else is known.
DEFAULT_SLICES = 10


@dataclass(frozen=True)
class TransformDefaults:
    """Defaults for one transform (see the module table).

    Attributes:
        noise, sigma: smoothing noise name and scale (σ_θ for surrogate-backed transforms).
        range: default certified range, one ``(lo, hi)`` per parameter, or ``None`` (no interval).
        slices: slices per parameter.
        latent_sigma: σ_ξ of the surrogate's latent noise (surrogate-backed transforms only).
        surrogate: the transform is certified through a GSmooth surrogate.
        source: where the numbers come from.
    """

    noise: str
    sigma: float
    range: tuple | None = None
    slices: int = DEFAULT_SLICES
    latent_sigma: float | None = None
    surrogate: bool = False
    source: str = ""

    @property
    def sigma_ratio(self) -> float | None:
        """σ_ξ / σ_θ for :class:`gsmooth.surrogate.transform.SurrogateTransform` (None when not surrogate-backed)."""
        return None if self.latent_sigma is None else self.latent_sigma / self.sigma

    @property
    def range_text(self) -> str:
        return "" if self.range is None else ",".join(f"{lo:g}:{hi:g}" for lo, hi in self.range)


_LATENT = 0.25

DEFAULTS: dict[str, TransformDefaults] = {
    "additive": TransformDefaults("gaussian", 0.25, None, source="Cohen et al. 2019"),
    "brightness": TransformDefaults("gaussian", 0.2, ((-0.4, 0.4),), source="TSS ±0.4; σ from the TSS code"),
    "contrast": TransformDefaults(
        "gaussian", 0.2, ((-0.2, 0.2), (-0.2, 0.2)), slices=5,
        source="σ from the TSS code; range (log-contrast k and brightness b, each ±0.2) and 5×5 boxes ours",
    ),
    "gaussian_blur": TransformDefaults("exponential", 10.0, ((0.0, 16.0),), source="TSS α ≤ 16; λ = 10 from the TSS code"),
    "translation": TransformDefaults(
        "gaussian", 10.0, ((-20.0, 20.0), (-20.0, 20.0)), slices=5,
        source="TSS ≤ 20 px (a box containing their disc); σ = 10 from the TSS code; 5×5 boxes ours",
    ),
    "rotation": TransformDefaults("gaussian", 5.0, ((-10.0, 10.0),), latent_sigma=_LATENT, surrogate=True,
                                  source="±10° (TSS/GSmooth); σ ours"),
    "scaling": TransformDefaults("gaussian", 0.15, ((-0.3, 0.3),), latent_sigma=_LATENT, surrogate=True,
                                 source="±30 % (TSS); σ ours"),
    "rotational_blur": TransformDefaults("gaussian", 2.5, ((0.0, 10.0),), latent_sigma=_LATENT, surrogate=True,
                                         source="10° (GSmooth); σ ours"),
    "defocus_blur": TransformDefaults("gaussian", 1.25, ((0.0, 5.0),), latent_sigma=_LATENT, surrogate=True,
                                      source="5 px (GSmooth); σ ours"),
    "zoom_blur": TransformDefaults("gaussian", 0.125, ((0.0, 0.5),), latent_sigma=_LATENT, surrogate=True,
                                   source="0.5 (GSmooth); σ ours"),
    "pixelate": TransformDefaults("gaussian", 0.125, ((0.0, 0.5),), latent_sigma=_LATENT, surrogate=True,
                                  source="0.5 (GSmooth); σ ours"),
    "motion_blur": TransformDefaults("gaussian", 1.25, ((0.0, 5.0),), latent_sigma=_LATENT, surrogate=True,
                                     source="range and σ ours (the paper gives no certified range)"),
}


def defaults_for(transform_name: str) -> TransformDefaults | None:
    """The defaults for ``transform_name``, or ``None`` for a transform the table does not know
    (third-party plugins: pass ``--noise``/``--sigma``/``--range`` explicitly)."""
    return DEFAULTS.get(transform_name)


def require_defaults(transform_name: str, what: str) -> TransformDefaults:
    """Like :func:`defaults_for`, but an unknown transform is an error naming the missing option."""
    d = defaults_for(transform_name)
    if d is None:
        raise InvalidParameterError(
            f"no default {what} for transform {transform_name!r} (defaults exist for {', '.join(sorted(DEFAULTS))}); "
            f"expected it on the command line, got none"
        )
    return d
