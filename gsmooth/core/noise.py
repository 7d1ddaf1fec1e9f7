"""The :class:`Noise` base class: the only place randomness enters a smoothed classifier."""

from __future__ import annotations

import math
from numbers import Real
from typing import ClassVar

import numpy as np
import torch

from ._params import ParamsMixin
from .radius import check_p_lower, integrated_radius
from ..validation import Interval, Options, validate_params

__all__ = ["Noise", "NORMS"]

NORMS = ("l2", "l1", "linf", "param")


class Noise(ParamsMixin):
    """A smoothing distribution over θ, with the certified radius that goes with it.

    Subclasses set:

    - ``name`` — registry key (``gsmooth.noise(name, sigma=…)``, ``--noise name``);
    - ``norm`` — the norm the radius is proven in: ``"l2"``/``"l1"``/``"linf"`` (valid for additive
      noise on pixels and for several transformation parameters), or ``"param"`` (the default: a
      1-D parameter radius only). The numerical route's radius (Ψ⁻¹(p_A) − Ψ⁻¹(p_B))/2 is the exact
      Neyman–Pearson radius of a shift of **one** coordinate; it is an ℓ2 radius in d dimensions
      only for isotropic Gaussian noise and an ℓ1 radius only for Laplace/uniform product noise.
      A noise that declares ``l2``/``l1``/``linf`` must pass :func:`gsmooth.testing.check_noise`,
      which attacks the declared norm in d dimensions with the Neyman–Pearson worst case;
    - ``one_sided`` — True when θ ≥ 0 only (transform parameters such as a blur width);
    - ``isotropic_gaussian`` — True declares that every coordinate is drawn i.i.d. from
      N(0, σ²) with σ = ``self.sigma`` (the Gaussian noise plugin sets it). Anything whose proof
      needs Gaussian noise (a GSmooth surrogate, a Neyman–Pearson law such as contrast's) asks this
      capability, never the noise's name;
    - ``sample(shape, *, generator, device, dtype)`` — i.i.d. draws, using *only* ``generator``;
    - either ``radius(p_lower)`` in closed form, or ``pdf``/``ppf`` of one coordinate so the
      numerical route of :func:`gsmooth.core.radius.integrated_radius` applies (valid for symmetric
      log-concave densities); optionally ``logpdf`` (default ``log(pdf)``), which the norm check
      of :func:`gsmooth.testing.check_noise` uses.

    Every noise takes ``sigma`` as its scale (Gaussian std, Laplace scale λ, uniform half-width…).

    Example:
        >>> import gsmooth, torch
        >>> noise = gsmooth.noise("gaussian", sigma=0.5)
        >>> g = torch.Generator().manual_seed(0)
        >>> noise.sample((4, 1, 28, 28), generator=g).shape
        torch.Size([4, 1, 28, 28])
        >>> round(noise.radius(0.99), 4)
        1.1632
    """

    norm: ClassVar[str] = "param"
    one_sided: ClassVar[bool] = False
    #: True when the draws are i.i.d. N(0, sigma²) in every coordinate (see the class docs).
    isotropic_gaussian: ClassVar[bool] = False
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "sigma": [Interval(Real, 0, None, closed="neither")]
    }

    def __init__(self, *, sigma: float):
        self.sigma = sigma
        self.validate_params()

    # -- sampling -------------------------------------------------------------------------------
    def sample(
        self,
        shape: tuple[int, ...],
        *,
        generator: torch.Generator | None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Draw a tensor of i.i.d. noise of ``shape`` on ``device``.

        The default implementation maps uniforms through :meth:`ppf_torch`; override for speed.
        """
        u = torch.rand(shape, generator=generator, device=device, dtype=dtype)
        return self.ppf_torch(u)

    def ppf_torch(self, u: torch.Tensor) -> torch.Tensor:  # pragma: no cover - optional
        raise NotImplementedError(f"{type(self).__name__} must implement sample() or ppf_torch()")

    def support(self) -> tuple[float, float]:
        """The closed interval one coordinate's draws lie in: ``(0, inf)`` for a one-sided noise,
        ``(-inf, inf)`` otherwise (override for bounded noises, e.g. uniform ``(-σ, σ)``). The
        engine checks ``centre + support`` against the transform's :meth:`~gsmooth.Transform.domain`."""
        return (0.0, math.inf) if self.one_sided else (-math.inf, math.inf)

    # -- one coordinate, for the numerical radius ------------------------------------------------
    def pdf(self, x: float) -> float:
        """Density ψ of one coordinate (scipy/numpy floats)."""
        raise NotImplementedError(f"{type(self).__name__} defines neither radius() nor pdf()/ppf()")

    def ppf(self, p: float) -> float:
        """Quantile function Ψ⁻¹ of one coordinate."""
        raise NotImplementedError(f"{type(self).__name__} defines neither radius() nor pdf()/ppf()")

    def logpdf(self, x):
        """Log-density log ψ of one coordinate, elementwise on numpy arrays (``-inf`` off the support).

        Optional: the default is ``log(pdf(x))``. Override it with a closed form when ``pdf``
        underflows in the tails (a Gaussian's beyond ~38σ) or is slow;
        :func:`gsmooth.testing.check_noise` sums it over d coordinates to attack the declared norm.
        """
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(self.pdf(x), dtype=np.float64))

    # -- certificate -----------------------------------------------------------------------------
    def radius(self, p_lower):
        """Certified radius for a lower bound ``p_lower ∈ [1/2, 1]`` on the top-class probability.

        Default: the numerical route (GSmooth eq. 3) from :meth:`pdf` and :meth:`ppf`.
        Scalars give a float, arrays an array.
        """
        return integrated_radius(p_lower, pdf=self.pdf, ppf=self.ppf)

    def numerical_radius(self, p_lower):
        """The numerical route, even when a closed form exists (used by tests and check_noise)."""
        return integrated_radius(p_lower, pdf=self.pdf, ppf=self.ppf)

    @staticmethod
    def _p(p_lower) -> np.ndarray:
        return check_p_lower(p_lower)

    @staticmethod
    def _out(value: np.ndarray):
        return float(value) if np.ndim(value) == 0 else value

    def describe(self) -> str:
        """Short label such as ``gaussian(sigma=0.25)``."""
        args = ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.get_params().items())
        return f"{self.name}({args})"

    def __repr__(self) -> str:
        return self._params_repr()

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.get_params() == other.get_params()

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self.get_params().items()))))


def check_norm(cls) -> None:
    """Refuse a noise class whose declared ``norm`` is not one of ``l2``, ``l1``, ``linf``, ``param``
    (the registry checks every registered noise)."""
    validate_params(cls.__name__, {"norm": cls.norm}, {"norm": [Options(NORMS)]})
