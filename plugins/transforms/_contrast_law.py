"""The contrast plugin's composition law: what a slice of TSS's contrast-and-brightness range needs.

Private to :mod:`gsmooth_plugins.transforms.contrast`, whose :meth:`~Contrast.slice_strategy`
returns :class:`ContrastLaw` (a :class:`gsmooth.interval.SliceStrategy`, see
:mod:`gsmooth.interval.strategy`): gsmooth itself knows nothing of this law.

The transform ``τ((k, b), x) = e^k (x + b)`` composes as ``τ(θ, τ(α, x)) = τ((α_k + θ_k,
α_b + e^{−α_k} θ_b), x)``, so smoothing ``τ(α, x)`` with θ ~ N(0, σ² I) is smoothing x with the
parameter distributed as ``N(α, diag(σ², e^{−2α_k} σ²))``: the brightness noise is rescaled and
Cohen's radius does not apply. :func:`gsmooth.interval.certify_interval` therefore certifies each
slice (centre c, half-widths h_k, h_b) on the truly transformed image ``x_c = τ(c, x)``: for α in
the slice, ``τ(α, x) = τ(δ, x_c)`` with ``δ = (α_k − c_k, e^{c_k}(α_b − c_b))``, and g sees at
``τ(α, x)`` the whitened distribution (see :mod:`gsmooth_plugins.transforms._neyman_pearson`)::

    Q_δ = N((a, m), diag(1, s²)),  a = δ_k/σ ∈ [−h_k, h_k]/σ,  |m| ≤ M = e^{c_k} h_b/σ,  s = e^{−δ_k},

against P = N(0, I) at x_c. The slice is certified if the top class's lower bound at x_c is at
least :func:`slice_requirement`: the largest, over the slice, of the p that the Neyman–Pearson
lemma needs for Q-probability > 1/2. How the continuum of δ is covered, soundly:

- in m: the bound is nonincreasing in |m| (module docs of :mod:`gsmooth_plugins.transforms._neyman_pearson`), so only
  |m| = M matters;
- in δ_k: a grid of cells of half-width ε ≤ h_k; inside a cell Q moves by at most
  ``TV ≤ (2Φ(ε/(2σ)) − 1) + sqrt(max_{r = e^{±ε}} (r²/2 − ln r − 1/2) / 2)`` (the k-shift exactly,
  the rescaled b-noise by Pinsker), and the grid point is solved for ``1/2 + TV + 10⁻⁵`` (the
  last term covers quadrature error, measured below 10⁻⁷ here) — ε is chosen so that the TV term
  stays at ``tolerance`` (the grid point's target uses the cell's actual TV bound, so the
  certificate does not depend on how exactly ε was solved).

The requirement depends only on the slice's geometry and σ, never on the image, so it is computed
once per slice row (slices sharing c_k share it) and per call.

Compared with TSS: their contrast corollary is a closed-form sufficient condition around θ = 0;
this is the exact Neyman–Pearson worst case over each slice (never weaker than any valid bound for
the same slice), with the range cut into slices like every other interval certificate.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import optimize, special

import gsmooth.interval
from gsmooth import InvalidParameterError

from ._neyman_pearson import DEFAULT_NODES, required_probability

__all__ = [
    "ContrastLaw", "cell_slack", "slice_requirement", "slice_requirements", "NUMERICAL_MARGIN", "DEFAULT_TOLERANCE",
]

#: Added to the target Q-probability and to the returned p: covers quadrature error.
NUMERICAL_MARGIN = 1e-5
#: Largest total-variation slack spent on covering a slice's δ_k-range by a grid.
DEFAULT_TOLERANCE = 1e-3


def cell_slack(eps: float, sigma: float) -> float:
    """Total variation between Q at a grid point and Q anywhere within ``eps`` of it in δ_k (same m).

    Example:
        >>> round(cell_slack(0.001, 0.2), 6)
        0.002702
    """
    if eps <= 0.0:
        return 0.0
    tv_k = 2.0 * float(special.ndtr(eps / (2.0 * sigma))) - 1.0

    def kl(r):
        return 0.5 * r * r - math.log(r) - 0.5

    tv_b = math.sqrt(0.5 * max(kl(math.exp(eps)), kl(math.exp(-eps))))
    return tv_k + tv_b


def _cell_width(h_k: float, sigma: float, tolerance: float) -> tuple[int, float]:
    """Cells over [−h_k, h_k] whose half-width ε keeps :func:`cell_slack` ≤ tolerance."""
    if h_k <= 0.0:
        return 1, 0.0
    eps_max = h_k
    if cell_slack(h_k, sigma) > tolerance:  # cell_slack increases with ε: solve cell_slack(ε) = tolerance
        eps_max = optimize.brentq(lambda e: cell_slack(e, sigma) - tolerance, 0.0, h_k, xtol=1e-15)
    cells = max(1, math.ceil(h_k / eps_max))
    return cells, h_k / cells


@lru_cache(maxsize=256)
def slice_requirement(
    center_k: float, half_k: float, half_b: float, sigma: float, *,
    tolerance: float = DEFAULT_TOLERANCE, nodes: int = DEFAULT_NODES,
) -> float:
    """The smallest top-class lower bound at ``x_c`` that certifies the whole slice (module docs).

    Args:
        center_k: the slice centre's log-contrast c_k.
        half_k, half_b: the slice's half-widths in k and b (parameter units, ≥ 0).
        sigma: the Gaussian smoothing σ (on both k and b).
        tolerance: the total-variation slack allowed for covering δ_k by a grid.

    Returns:
        a probability in (1/2, 1]; 1 means no estimate could certify the slice.

    Example:
        >>> from scipy.stats import norm
        >>> p = slice_requirement(0.0, 0.0, 0.1, 0.2)   # brightness only: Cohen's Φ(h_b/σ), + 1e-5
        >>> bool(abs(p - norm.cdf(0.5)) < 3e-5)
        True
    """
    if not (sigma > 0 and half_k >= 0 and half_b >= 0 and math.isfinite(center_k)):
        raise InvalidParameterError(
            f"slice_requirement: expected sigma > 0, half-widths >= 0 and a finite centre, got "
            f"sigma={sigma}, half_k={half_k}, half_b={half_b}, center_k={center_k}"
        )
    cells, eps = _cell_width(half_k, sigma, tolerance)
    delta = -half_k + (np.arange(cells) + 0.5) * (2.0 * eps) if half_k > 0 else np.zeros(1)
    big_m = math.exp(center_k) * half_b / sigma
    target = 0.5 + cell_slack(eps, sigma) + NUMERICAL_MARGIN
    if target >= 1.0:
        return 1.0
    p = required_probability(delta / sigma, big_m, np.exp(-delta), target, nodes=nodes)
    return float(min(1.0, np.max(p) + NUMERICAL_MARGIN))


def slice_requirements(plan, sigma: float, *, tolerance: float = DEFAULT_TOLERANCE) -> np.ndarray:
    """:func:`slice_requirement` for every slice of a 2-parameter :class:`gsmooth.interval.SlicePlan`
    over (k, b) — one computation per distinct c_k.

    Returns:
        ``(K,)`` float64 array, in the plan's slice order.
    """
    half_k, half_b = plan.widths[0] / 2.0, plan.widths[1] / 2.0
    out = np.empty(plan.num_slices)
    for i, c_k in enumerate(plan.centers[:, 0]):
        out[i] = slice_requirement(float(c_k), half_k, half_b, float(sigma), tolerance=tolerance)
    return out


class ContrastLaw(gsmooth.interval.SliceStrategy):
    """How a slice of contrast + brightness ``e^k (x + b)`` is certified (module docs): g on the
    truly transformed image ``τ(c_k, x)`` (image centring), its top-class lower bound compared with
    the slice's Neyman–Pearson requirement :func:`slice_requirements` (reported in radius units,
    ``σΦ⁻¹(p_required)``; ``inf`` where no p < 1 suffices). Isotropic Gaussian noise on the two
    parameters only."""

    centering = "image"
    reports_slice_requirements = True

    def check_support(self, transform, noise) -> None:
        if not getattr(noise, "isotropic_gaussian", False) or transform.param_dim != 2:
            law = getattr(transform, "composition", None)
            raise gsmooth.interval.UnsupportedTransformError(
                f"transform {transform.name!r} (composition law {law!r}) is certified with Gaussian noise on its 2 "
                f"parameters (the Neyman–Pearson bound of gsmooth_plugins.transforms._contrast_law); expected --noise "
                f"gaussian, got {getattr(noise, 'name', noise)!r}"
            )

    def required_probabilities(self, transform, noise, plan) -> np.ndarray:
        """``(K,)``: the p each slice's top-class lower bound must exceed (:func:`slice_requirements`)."""
        return slice_requirements(plan, float(noise.sigma))

    def required_radii(self, transform, noise, plan) -> np.ndarray:
        p = self.required_probabilities(transform, noise, plan)
        return np.array([float(noise.radius(v)) if v < 1.0 else math.inf for v in p])

    def factors(self, transform, noise, x, plan, *, progress=False):
        return gsmooth.interval.SliceFactors(np.ones(plan.num_slices), "exact")
