"""Per-transform defaults: the smoothing noise, σ, certified range and slices a transform declares.

Each :class:`gsmooth.Transform` may set the class attribute ``defaults`` to a
:class:`TransformDefaults`; the CLI and the library ask the class for them (:func:`defaults_of`)
so that the short commands work for any transform, built-in or third-party
(``gsmooth certify --model CKPT --transform brightness --range``, ``gsmooth train --transform
gaussian_blur …``). A checkpoint's own training noise always takes precedence over them (see
:func:`gsmooth.run.smoother_setup.resolve_smoothing`); a transform without ``defaults`` needs
``--noise``/``--sigma``/``--range`` on the command line.

Example, a third-party transform::

    class Shift(gsmooth.Transform):
        name, param_dim = "my_shift", 1
        defaults = gsmooth.TransformDefaults(noise="gaussian", sigma=0.1, range=((-0.2, 0.2),))

The built-in transforms' defaults, and where the numbers come from (P = published, C = the papers'
public code, O = our choice). "surrogate" marks a transform of kind ``empirical`` certified through
a GSmooth surrogate (``gsmooth surrogate train``): its θ noise is Gaussian with σ_θ = σ (a quarter of
the range's width: wide enough to smooth, narrow enough that θ stays mostly where the surrogate was
trained) and its latent noise has σ_ξ = ``latent_sigma`` = 1 (O; the latent of F2 has the image's
scale), i.e. ``sigma_ratio = σ_ξ / σ_θ``; its range is also the surrogate's default training range.
σ_ξ = 1 rather than Cohen's pixel-scale 0.25: M* = sqrt(1 + G²σ_θ²/σ_ξ²) is then about 4× smaller
(on Fashion-MNIST M* fell from 14–26 to 3.5–7.6 and rotation certified 28 % instead of 0 %,
experiments/results/transforms/fashion-mnist-latent1), at the price of a base model that must
classify H's outputs under that heavier latent noise. K = 10 slices per parameter unless stated (O; the GSmooth code
certifies 10 grid points over the range, without our Bonferroni correction). The table is generated
from the classes by :func:`defaults_table` (tests/test_defaults.py checks that it is current):

.. defaults-table

=============== =========== ===== ================= ====== ========= =============================================================================================
transform       noise       σ     range             slices surrogate source
=============== =========== ===== ================= ====== ========= =============================================================================================
additive        gaussian    0.25  —                 —      —         Cohen et al. 2019
brightness      gaussian    0.2   -0.4:0.4          10     —         TSS ±0.4 (P); σ from the TSS code (C)
contrast        gaussian    0.2   -0.2:0.2,-0.2:0.2 5      —         σ from the TSS code (C); range (log-contrast k and brightness b, each ±0.2) and 5×5 boxes (O)
gaussian_blur   exponential 10    0:16              10     —         TSS α ≤ 16 (P); λ = 10 from the TSS code (C)
translation     gaussian    10    -20:20,-20:20     5      —         TSS ≤ 20 px (P, a box containing their disc); σ = 10 from the TSS code (C); 5×5 boxes (O)
rotation        gaussian    5     -10:10            10     σ_ξ = 1   ±10° (TSS/GSmooth, P); σ (O)
scaling         gaussian    0.15  -0.3:0.3          10     σ_ξ = 1   ±30 % (TSS, P); σ (O)
rotational_blur gaussian    2.5   0:10              10     σ_ξ = 1   10° (GSmooth, P); σ (O)
defocus_blur    gaussian    1.25  0:5               10     σ_ξ = 1   5 px (GSmooth, P); σ (O)
zoom_blur       gaussian    0.125 0:0.5             10     σ_ξ = 1   0.5 (GSmooth, P); σ (O)
pixelate        gaussian    0.125 0:0.5             10     σ_ξ = 1   0.5 (GSmooth, P); σ (O)
motion_blur     gaussian    1.25  0:5               10     σ_ξ = 1   range and σ (O): the paper gives no certified range; 0–5 px covers CIFAR-10-C severities 1–2
=============== =========== ===== ================= ====== ========= =============================================================================================

.. end-defaults-table

(``additive``: pixel noise has no range, and the CLI takes its noise from the checkpoint or from
``--noise``/``--sigma``; the row documents Cohen et al.'s σ and is what ``gsmooth plugins`` shows.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

from ..errors import InvalidParameterError
from .ranges import format_range

__all__ = ["DEFAULT_TRANSFORM", "DEFAULT_NOISE", "TransformDefaults", "DEFAULT_SLICES", "defaults_of", "require_defaults", "defaults_table"]

#: Slices per parameter when nothing else is known.
DEFAULT_SLICES = 10

#: The transform and the noise used when none is named: ``Smoother(model, noise=…)``'s default
#: transform (DESIGN.md §3), ``gsmooth train``'s default, and what a checkpoint that records none was
#: trained with. The one place gsmooth's engine, CLI and training name a built-in component.
DEFAULT_TRANSFORM = "additive"
DEFAULT_NOISE = "gaussian"


def _positive(owner: str, field: str, value, *, integral: bool = False):
    kind = Integral if integral else Real
    if isinstance(value, bool) or not isinstance(value, kind) or not (0 < value < math.inf):
        what = "a positive integer" if integral else "a finite number > 0"
        raise InvalidParameterError(f"{owner}: expected {field} {what}, got {value!r}")
    return int(value) if integral else float(value)


def _pairs(owner: str, value) -> tuple[tuple[float, float], ...]:
    """``(lo, hi)`` or a sequence of them → a tuple of float pairs, lo < hi, all finite."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, Real) for v in value):
        value = (value,)  # one parameter, written as a bare pair
    if not isinstance(value, (list, tuple)) or not value:
        raise InvalidParameterError(f"{owner}: expected range as ((lo, hi), …) one pair per parameter, or None, got {value!r}")
    out = []
    for pair in value:
        ok = isinstance(pair, (list, tuple)) and len(pair) == 2 and all(
            isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v) for v in pair
        )
        if not ok or not pair[0] < pair[1]:
            raise InvalidParameterError(f"{owner}: expected each range pair (lo, hi) finite with lo < hi, got {pair!r}")
        out.append((float(pair[0]), float(pair[1])))
    return tuple(out)


@dataclass(frozen=True)
class TransformDefaults:
    """What a transform is smoothed and certified with when the command line does not say.

    Set it as the class attribute ``defaults`` of a :class:`gsmooth.Transform` (see the module docs).

    Attributes:
        noise: registered smoothing noise name (``"gaussian"``).
        sigma: its scale (σ_θ for surrogate-backed transforms), a finite number > 0.
        range: default certified range, one ``(lo, hi)`` per parameter (a bare ``(lo, hi)`` is read
            as one parameter), or ``None`` (no interval); for surrogate-backed transforms also the
            surrogate's default training range.
        slices: slices per parameter of an interval certificate.
        latent_sigma: σ_ξ of the surrogate's latent noise (surrogate-backed transforms only).
        surrogate: the transform is certified through a GSmooth surrogate.
        source: where the numbers come from (shown by ``gsmooth plugins``).
        range_label: the range as papers write it (``"±10°"``), for tables; default: :attr:`range_text`.

    Raises:
        InvalidParameterError: a field outside its domain (e.g. ``sigma <= 0``, ``lo >= hi``).

    Example:
        >>> d = TransformDefaults(noise="gaussian", sigma=2.5, range=(0, 10), latent_sigma=1.0, surrogate=True)
        >>> d.range, d.range_text, d.sigma_ratio
        (((0.0, 10.0),), '0:10', 0.4)
    """

    noise: str
    sigma: float
    range: tuple | None = None
    slices: int = DEFAULT_SLICES
    latent_sigma: float | None = None
    surrogate: bool = False
    source: str = ""
    range_label: str = ""

    def __post_init__(self) -> None:
        owner = "TransformDefaults"
        if not isinstance(self.noise, str) or not self.noise:
            raise InvalidParameterError(f"{owner}: expected noise a registered noise name, got {self.noise!r}")
        object.__setattr__(self, "sigma", _positive(owner, "sigma", self.sigma))
        object.__setattr__(self, "slices", _positive(owner, "slices", self.slices, integral=True))
        if self.range is not None:
            object.__setattr__(self, "range", _pairs(owner, self.range))
        if self.latent_sigma is not None:
            object.__setattr__(self, "latent_sigma", _positive(owner, "latent_sigma", self.latent_sigma))
        for field in ("source", "range_label"):
            if not isinstance(getattr(self, field), str):
                raise InvalidParameterError(f"{owner}: expected {field} a string, got {getattr(self, field)!r}")
        if not isinstance(self.surrogate, bool):
            raise InvalidParameterError(f"{owner}: expected surrogate True or False, got {self.surrogate!r}")

    @property
    def sigma_ratio(self) -> float | None:
        """σ_ξ / σ_θ for :class:`gsmooth.surrogate.transform.SurrogateTransform` (None when not surrogate-backed)."""
        return None if self.latent_sigma is None else self.latent_sigma / self.sigma

    @property
    def range_text(self) -> str:
        """The range as the CLI writes it (``"-0.4:0.4"``, ``"0:16"``; ``""`` without a range)."""
        return "" if self.range is None else format_range(self.range)

    def summary(self) -> str:
        """One compact line (what ``gsmooth plugins`` prints).

        Example:
            >>> TransformDefaults(noise="gaussian", sigma=0.2, range=(-0.4, 0.4)).summary()
            'gaussian sigma=0.2, range -0.4:0.4, 10 slices'
        """
        text = f"{self.noise} sigma={self.sigma:g}"
        if self.surrogate:
            text += " (surrogate" + (f", latent sigma={self.latent_sigma:g}" if self.latent_sigma is not None else "") + ")"
        elif self.latent_sigma is not None:
            text += f", latent sigma={self.latent_sigma:g}"
        if self.range is not None:
            text += f", range {self.range_text}, {self.slices} slices"
        return text


def _transform_class(transform):
    from .transform import Transform

    if isinstance(transform, str):
        from ..plugin.registry import get_registry

        return get_registry().transform_class(transform)  # unknown names fail here, with a suggestion
    if isinstance(transform, Transform):
        return type(transform)
    if isinstance(transform, type) and issubclass(transform, Transform):
        return transform
    raise InvalidParameterError(
        f"defaults_of: expected a transform name, a gsmooth.Transform subclass or instance, got {type(transform).__name__}"
    )


def defaults_of(transform) -> TransformDefaults | None:
    """The defaults a transform declares (its class attribute ``defaults``), or ``None``.

    Args:
        transform: a registered transform name, a :class:`gsmooth.Transform` subclass, or an instance.

    Returns:
        its :class:`TransformDefaults`, or ``None`` when it declares none (pass ``--noise``/``--sigma``/
        ``--range`` explicitly).

    Raises:
        UnknownComponentError: no transform of that name is registered.
        PluginError: ``defaults`` is set to something other than a :class:`TransformDefaults`.

    Example:
        >>> defaults_of("brightness").range
        ((-0.4, 0.4),)
    """
    cls = _transform_class(transform)
    d = getattr(cls, "defaults", None)
    if d is not None and not isinstance(d, TransformDefaults):
        from ..errors import PluginError

        raise PluginError(
            f"transform {getattr(cls, 'name', cls.__name__)!r}: expected {cls.__qualname__}.defaults a "
            f"gsmooth.TransformDefaults or None, got {type(d).__name__}"
        )
    return d


def require_defaults(transform, what: str) -> TransformDefaults:
    """Like :func:`defaults_of`, but a transform without defaults is an error naming the missing option."""
    d = defaults_of(transform)
    if d is None:
        name = transform if isinstance(transform, str) else getattr(transform, "name", repr(transform))
        raise InvalidParameterError(
            f"no default {what} for transform {name!r} (its class declares no `defaults`); "
            f"expected it on the command line, got none"
        )
    return d


def defaults_table(transforms) -> str:
    """An RST simple table of the defaults of ``transforms`` (classes, in order; those with
    ``defaults`` only), as in this module's docs."""
    rows = [("transform", "noise", "σ", "range", "slices", "surrogate", "source")]
    for cls in transforms:
        d = defaults_of(cls)
        if d is None:
            continue
        sur = "—" if not d.surrogate else (f"σ_ξ = {d.latent_sigma:g}" if d.latent_sigma is not None else "yes")
        rows.append((
            cls.name, d.noise, f"{d.sigma:g}", d.range_text or "—", str(d.slices) if d.range else "—", sur, d.source,
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    rule = " ".join("=" * w for w in widths)

    def line(r):
        return " ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()

    return "\n".join([rule, line(rows[0]), rule, *(line(r) for r in rows[1:]), rule])
