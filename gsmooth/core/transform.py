"""The :class:`Transform` base class: the deterministic map τ(θ, x) a smoothed classifier averages over."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from ._params import ParamsMixin
from .defaults import TransformDefaults

__all__ = ["Transform", "KINDS"]

#: What a certificate over a transform means.
#: ``exact``: the radius holds for the true transformation (resolvable transforms, additive noise);
#: ``surrogate``: it holds for the learned surrogate τ̃ of the transformation (GSmooth Theorem 2);
#: ``empirical``: no guarantee, an estimate only.
KINDS = ("exact", "surrogate", "empirical")


class Transform(ParamsMixin, nn.Module):
    """A batched, deterministic transformation ``τ(θ, x)``.

    Subclasses set ``name``, ``param_dim`` (θ's length; ``None`` means θ has the image's shape, as
    for additive noise), ``kind`` (one of :data:`KINDS`), ``param_units`` (e.g. ``"degrees"``), and
    implement ``forward(x, theta)``:

    - ``x``: ``(B, C, H, W)`` images in [0, 1];
    - ``theta``: ``(B, param_dim)`` (or ``(B, C, H, W)`` when ``param_dim is None``), one θ per image;
    - returns ``(B, C, H, W)`` on ``x``'s device and dtype.

    ``identity_at_zero`` (default True) declares ``τ(0, x) = x``; set it to False when θ = 0 is not
    the identity (e.g. a contrast factor θ with identity at θ = 1). :func:`gsmooth.testing.check_transform`
    checks the declaration.

    ``composes_additively`` (default True) declares ``τ(a, τ(b, x)) = τ(a + b, x)`` for a transform
    of kind ``exact`` (what interval certificates rely on); a resolvable transform whose θ's compose
    by another law sets it to False, names the law in ``composition`` (a label, e.g. ``"contrast"``
    for TSS's ``(k1, b1)∘(k2, b2) = (k1 + k2, b2 + e^{−k2} b1)``) and supplies the certification of
    its law by overriding :meth:`slice_strategy`; without one, interval certificates refuse it.

    Capabilities the engine asks for (each with a default; the engine never reads a name):

    - :attr:`center_dim` — how many numbers a smoothing centre has (default ``param_dim``);
    - :meth:`true_transform_module` — the true transform behind this one (default: itself; a
      GSmooth surrogate returns the transform it learned);
    - :meth:`domain` — the parameter domain;
    - :meth:`lipschitz_factor` ``(x, *, path_origin=None, param_range=None)`` — the factor M* that
      divides the noise radius (``R = radius(p_lower) / M*``), computed from its arguments only:
      1 for additive and resolvable transforms;
    - :meth:`slice_strategy` — how one slice of an interval certificate is certified
      (:class:`gsmooth.interval.SliceStrategy`; default additive composition).

    ``defaults`` (default ``None``) is a :class:`gsmooth.TransformDefaults`: the noise, σ, certified
    range and slices the CLI uses when the command line does not say (``gsmooth certify --transform
    NAME --range`` without values); ``gsmooth plugins`` shows it. Read it with
    :func:`gsmooth.core.defaults.defaults_of`.

    ``check_noise(noise)`` (default: accept) lets a transform refuse a noise its certificate does
    not hold for; the :class:`gsmooth.Smoother` asks it on construction.

    ``param_domain`` (default ``None``: every real θ) declares where θ may go, one closed
    ``(lo, hi)`` per parameter (``((0.0, math.inf),)`` for a blur variance). The engine refuses,
    before sampling, any noise, centre or range whose support leaves it (a two-sided noise on a
    variance, say): clamping θ to the domain inside ``forward`` breaks the composition law the
    certificate relies on. :meth:`domain` returns it with the default filled in.

    ``path_speed_bound(x, low, high)`` (optional; default ``None`` = not provided) returns a
    **proven** bound L on the speed of the path α ↦ τ(α, x) of one image over ``[low, high]``
    (one parameter): ``‖τ(α, x) − τ(β, x)‖₂ ≤ L·|α − β|`` for all α, β in the interval, ℓ2 over all
    C·H·W pixels. The GSmooth surrogate route uses it to turn a grid of path evaluations into a
    bound on the whole path (certificates labelled ``sound``); without it they are labelled
    ``estimate``. ``kink_points(low, high, *, image_size=None)`` (default none) lists the α where τ
    is not differentiable, which the surrogate route adds to its grid (pass the image size: some
    transforms' kinks depend on it).

    Example:
        >>> import gsmooth, torch
        >>> t = gsmooth.transform("additive")
        >>> x = torch.zeros(2, 1, 4, 4)
        >>> t(x, torch.ones(2, 1, 4, 4)).mean().item()
        1.0
    """

    param_dim: ClassVar[int | None] = None
    kind: ClassVar[str] = "exact"
    param_units: ClassVar[str] = ""
    #: True when θ = 0 leaves the image unchanged (additive noise, rotation by 0°, blur of width 0).
    identity_at_zero: ClassVar[bool] = True
    #: True when θ's add under composition (kind ``exact``); see the class docs.
    composes_additively: ClassVar[bool] = True
    #: The composition law's name when ``composes_additively`` is False (``"contrast"``), else None.
    composition: ClassVar[str | None] = None
    #: Where θ may go: one closed ``(lo, hi)`` per parameter, or None for every real θ.
    param_domain: ClassVar[tuple[tuple[float, float], ...] | None] = None
    #: The lattice spacing an exact transform's composition law holds on (translation: integer
    #: shifts, 1.0), or None for every real θ. Interval certificates round ranges inwards to it and
    #: say that the statement holds on the lattice.
    param_lattice: ClassVar[float | None] = None
    #: Default noise, σ, range and slices (a :class:`gsmooth.TransformDefaults`), or None; see the class docs.
    defaults: ClassVar[TransformDefaults | None] = None
    #: True when the engine may run :meth:`forward` under the smoother's autocast
    #: (``Smoother(precision="bf16")``, ``--precision``): a learned surrogate, whose decoder is part of
    #: the function votes are taken of. False (default) for every transform that computes the image a
    #: certificate is about (additive, resolvable): it always runs at the image's own precision.
    autocast_forward: ClassVar[bool] = False

    def __init__(self) -> None:
        nn.Module.__init__(self)

    def param_shape(self, image_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one θ for an image of ``image_shape`` ``(C, H, W)``."""
        if self.param_dim is None:
            return tuple(image_shape)
        return (int(self.param_dim),)

    def forward(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def domain(self) -> tuple[tuple[float, float], ...] | None:
        """:attr:`param_domain` with the default (``(-inf, inf)`` per parameter) filled in; ``None``
        for additive pixel noise (``param_dim is None``: θ has the image's shape, no domain)."""
        if self.param_dim is None:
            return None
        if self.param_domain is None:
            return ((-math.inf, math.inf),) * int(self.param_dim)
        return tuple((float(lo), float(hi)) for lo, hi in self.param_domain)

    def path_speed_bound(self, x: torch.Tensor, low: float, high: float) -> float | None:
        """A proven L with ``‖τ(α, x) − τ(β, x)‖₂ ≤ L·|α − β|`` for α, β in ``[low, high]``
        (one parameter; x ``(C, H, W)``), or ``None`` when the transform provides none (default).

        Must be a bound, not an estimate (no power iteration, no sampled maximum): certificates of
        kind ``surrogate`` built on it are labelled ``sound``. Compute it in float64 and round up.
        """
        return None

    def kink_points(self, low: float, high: float, *, image_size=None) -> tuple[float, ...]:
        """The α in ``[low, high]`` where τ(α, x) is not differentiable in α (default: none).

        ``image_size`` (``(H, W)`` or ``(C, H, W)``, e.g. ``x.shape[-3:]``) is for transforms whose
        kinks depend on it (pixelate's block boundaries meet pixel edges at θ = 1 − k/m,
        m ≤ max(H, W)); such a transform refuses to answer without it rather than list too few.
        """
        return ()

    @property
    def center_dim(self) -> int | None:
        """How many numbers a smoothing centre has (:meth:`gsmooth.Smoother.certify`'s ``center``,
        an interval's slice centres): default ``param_dim`` (``None`` for additive pixel noise: no
        centre). A transform whose θ carries extra coordinates that are never centred (a GSmooth
        surrogate's latent ξ) returns the leading part's length."""
        return None if self.param_dim is None else int(self.param_dim)

    def true_transform_module(self) -> "Transform":
        """The true transformation τ behind this transform: what an interval certificate's
        statement is about and what an attack applies. Default: the transform itself; a GSmooth
        surrogate returns the transform it was trained on."""
        return self

    def lipschitz_factor(self, x: torch.Tensor, *, path_origin: torch.Tensor | None = None, param_range=None) -> float:
        """M* for image ``x`` ``(C, H, W)``: 1.0 unless the certificate goes through a surrogate.

        Args:
            x: the image smoothed.
            path_origin: the image whose path α ↦ τ(α, ·) M* is taken over (default ``x``).
            param_range: the parameter range M* holds over (default the transform's own).

        Computed from the arguments only: no state is set before and restored after a call.
        """
        return 1.0

    def point_certificate_range(self) -> tuple[tuple[float, float], ...] | None:
        """The parameter range a point certificate's radius is bounded over, one ``(lo, hi)`` per
        parameter (results files record it), or ``None`` (default): the radius needs no range. A
        GSmooth surrogate returns the range its path bound is taken over."""
        return None

    def slice_strategy(self):
        """How one slice of an interval certificate over this transform is certified: a
        :class:`gsmooth.interval.SliceStrategy` (see :mod:`gsmooth.interval.strategy`, "How a slice
        is certified"). Default: :class:`gsmooth.interval.AdditiveComposition` when
        ``composes_additively`` is True; otherwise a strategy that refuses (override this method
        to certify your own composition law)."""
        from ..interval.strategy import AdditiveComposition, NoCompositionLaw

        return AdditiveComposition() if self.composes_additively else NoCompositionLaw()

    def certified_radius(self, x: torch.Tensor, p_lower: float, noise) -> tuple[float, float, str]:
        """``(radius, M*, guarantee)`` of a point certificate at image ``x`` ``(C, H, W)`` whose
        top-class probability is at least ``p_lower`` (> 1/2) under ``noise``.

        Default: ``noise.radius(p_lower) / M*`` with ``M* = lipschitz_factor(x)`` and
        :attr:`guarantee`. The GSmooth surrogate overrides it (the radius there comes from a bound
        on the transformation path). The engine calls :meth:`check_point_certificate` first.
        """
        m_star = float(self.lipschitz_factor(x))
        return float(noise.radius(p_lower)) / m_star, m_star, self.guarantee

    @property
    def guarantee(self) -> str:
        """What this transform's certificates rest on: ``exact`` for kind ``exact``, ``none`` for kind
        ``empirical``, ``estimate`` otherwise (a surrogate says ``sound`` when its bounds are proven)."""
        return {"exact": "exact", "empirical": "none"}.get(self.kind, "estimate")

    def check_point_certificate(self) -> None:
        """Raise :class:`gsmooth.InvalidParameterError` when a radius around θ = 0 would not be a
        certificate about the input image. Called before any sampling. Default: refused for an
        ``exact`` transform whose θ's do not add under composition (``composes_additively = False``,
        e.g. contrast): Cohen's radius there is a statement about the centred classifier g_δ(x) in
        parameter space, not about g(τ(δ, x)) — certify a range (its law's requirement) instead."""
        if self.kind == "exact" and self.param_dim is not None and self.composes_additively is False:
            from ..errors import InvalidParameterError

            raise InvalidParameterError(
                f"transform {self.name!r}: its parameters do not add under composition (law "
                f"{self.composition!r}), so a radius around theta = 0 is not a certificate about tau(delta, x); "
                "expected an interval certificate (certify_interval / --range), got a point certificate"
            )
        return None

    def check_noise(self, noise) -> None:
        """Raise :class:`gsmooth.InvalidParameterError` when ``noise`` cannot certify this transform.

        :class:`gsmooth.Smoother` calls it on construction. The default accepts every noise; a
        transform whose radius holds for one noise family only (e.g. a GSmooth surrogate, Gaussian
        only) overrides it.
        """
        return None

    def describe(self) -> str:
        params = self.get_params()
        if not params:
            return self.name
        return f"{self.name}(" + ",".join(f"{k}={v}" for k, v in params.items()) + ")"

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
