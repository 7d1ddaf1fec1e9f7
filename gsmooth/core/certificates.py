"""Structured results: :meth:`gsmooth.Smoother.certify`, :meth:`gsmooth.Smoother.predict` and
:meth:`gsmooth.Smoother.certify_interval`.

Every certificate type lives here, the interval one included, so a reader looking for "what does
a certificate say" finds them side by side (:mod:`gsmooth.interval` re-exports
:class:`IntervalCertificate` beside the engine that computes it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from .ranges import format_range

__all__ = ["Certificate", "Prediction", "IntervalCertificate", "ResultBatch", "ABSTAIN"]

#: Class index meaning "the smoothed classifier abstains".
ABSTAIN = -1


@dataclass(frozen=True)
class Certificate:
    """One image's certificate: ``prediction`` is robust within ``radius`` with prob. ≥ 1 − alpha.

    Attributes:
        prediction: class index, or -1 (:data:`ABSTAIN`).
        radius: certified radius (0.0 when abstaining), in ``norm`` (pixel ℓ2/ℓ1 in [0, 1] space,
            or the transform's parameter units), already divided by ``lipschitz``.
        p_lower: one-sided Clopper–Pearson lower bound on the top-class probability.
        count: votes for the selected class among the ``n`` estimation samples.
        n0, n, alpha: sample sizes and significance level used.
        noise, transform: descriptions such as ``gaussian(sigma=0.25)`` and ``additive``.
        kind: ``exact``/``surrogate``/``empirical`` — what the radius holds for.
        norm: what the radius measures.
        lipschitz: the factor M* the noise radius was divided by (1 for additive noise).
        guarantee: what M* rests on: ``exact`` (resolvable or additive: M* = 1), ``sound`` (a proven
            bound on the surrogate path, :mod:`gsmooth.surrogate.path_bounds`), ``estimate`` (a grid maximum:
            not a proof), ``none`` (kind ``empirical``).
        samples: noise draws used (selection + estimation): ``n0 + n`` for Cohen's fixed n; fewer
            for a sequential certificate (:mod:`gsmooth.core.sequential`), where ``n`` is the maximum
            and ``count`` is out of ``samples − n0`` estimation draws.
    """

    prediction: int
    radius: float
    p_lower: float
    count: int
    n0: int
    n: int
    alpha: float
    noise: str
    transform: str
    kind: str
    norm: str
    lipschitz: float = 1.0
    guarantee: str = "exact"
    samples: int = 0

    @property
    def abstained(self) -> bool:
        return self.prediction == ABSTAIN

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Prediction:
    """One image's smoothed prediction (Cohen's PREDICT): ``prediction`` is -1 when abstaining.

    ``p_value`` is the two-sided binomial test of ``count`` against ``runner_up_count``; the class is
    returned only when ``p_value ≤ alpha``, so a wrong non-abstained answer has probability ≤ alpha.
    """

    prediction: int
    count: int
    runner_up: int
    runner_up_count: int
    p_value: float
    n: int
    alpha: float
    noise: str
    transform: str

    @property
    def abstained(self) -> bool:
        return self.prediction == ABSTAIN

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class IntervalCertificate:
    """One image's certificate for a whole parameter range (:mod:`gsmooth.interval.engine` says what it states).

    Defined here, beside :class:`Certificate` and :class:`Prediction`, because this module is where a
    reader looks for what a result says; :mod:`gsmooth.interval` re-exports it with its engine.

    Attributes:
        prediction: the class predicted on the whole range, or -1 (not certified: some slice
            abstained, predicted another class, or had too small a radius).
        radius: for results files: the range's extent ``max |α_i|`` over the range (parameter
            units) when certified, else 0 — so ``gsmooth analyze``'s certified accuracy at any
            r ≤ extent is the fraction certified for the range.
        p_lower, count: the smallest over the slices (of the slice's own top class).
        low, high: the range, per parameter. slices: slices per parameter; num_slices: K.
        family_alpha: the family-wise failure probability (the ``alpha`` asked for);
            slice_alpha: α/K used by each slice (Bonferroni).
        requirement: the radius each slice had to exceed (same units).
        margin: ``min_k (R_k − requirement)`` over slices (R_k = 0 for abstaining slices); > 0 is
            needed (with all slices agreeing) for a certificate.
        min_radius: smallest slice radius.
        n0, n: samples per slice.
        noise, transform, kind, norm, units: descriptions; ``kind`` is ``exact`` or ``surrogate``.
        mstar: the Lipschitz factor M* (largest over slices; 1 for exact transforms).
        guarantee: what M* rests on — ``exact`` (resolvable transforms), ``sound`` (a proven bound
            on the surrogate path over each slice, :mod:`gsmooth.surrogate.path_bounds`) or ``estimate`` (a
            grid maximum, not a proof).
        slice_mstar: per-slice M*_k = T_k / requirement (surrogate route), empty otherwise.
        lattice: the parameter lattice the statement holds on (translation: integer shifts,
            ``1.0``; the range is rounded inwards to it), ``None`` for every real α.
        one_sided: whether the noise certifies increases only (centres at the lower ends).
        centering: ``parameter`` (exact: g_c) or ``image`` (surrogate: g on τ(c_k, x)).
        centers, slice_predictions, slice_radii, slice_p_lower: per-slice details.
        skipped: no sample was drawn because no outcome could certify the range (surrogate route:
            even ``n`` successes out of ``n`` give a slice radius ``R_max = radius(p_max) / M*`` not
            above the requirement, ``p_max = (α/K)^(1/n)``; contrast: ``p_max`` below a slice's
            required p); then ``count = 0``, ``p_lower = 0``, every slice prediction is -1 and
            ``margin = R_max − requirement`` (≤ 0) says by how much.
        slice_requirements: per-slice requirements when they differ between slices (contrast:
            ``σΦ⁻¹(p_required)`` per slice; ``requirement`` is then their largest); empty otherwise.
        samples: noise draws used over all slices (selection + estimation; 0 when skipped).
        sequential: certified sequentially (:mod:`gsmooth.core.sequential`): ``n`` is then the
            per-slice maximum and each slice's bound is at its stopping look's share of α/K.
        refine: the largest refinement depth allowed (adaptive slicing; 0: the uniform slices);
            depth_alphas: the level of one slice test at each depth (``slice_alpha`` is depth 0's);
            leaves: with refine > 0, the final partition of the range, one
            ``(low, high, depth, prediction, radius, requirement)`` per slice (prediction -1: not
            covered); the image is certified iff every leaf is covered with one class.
    """

    prediction: int
    radius: float
    p_lower: float
    count: int
    low: tuple
    high: tuple
    slices: tuple
    num_slices: int
    family_alpha: float
    slice_alpha: float
    requirement: float
    margin: float
    min_radius: float
    n0: int
    n: int
    noise: str
    transform: str
    kind: str
    norm: str
    units: str
    mstar: float
    one_sided: bool
    centering: str
    centers: tuple
    slice_predictions: tuple
    slice_radii: tuple
    slice_p_lower: tuple
    skipped: bool = False
    slice_requirements: tuple = ()
    guarantee: str = "exact"
    slice_mstar: tuple = ()
    lattice: float | None = None
    samples: int = 0
    sequential: bool = False
    refine: int = 0
    depth_alphas: tuple = ()
    leaves: tuple = ()

    @property
    def abstained(self) -> bool:
        return self.prediction == ABSTAIN

    @property
    def certified(self) -> bool:
        return self.prediction != ABSTAIN

    @property
    def range(self) -> str:
        """The range as ``lo:hi[,lo:hi]``."""
        return format_range(self.low, self.high)

    @property
    def alpha(self) -> float:
        return self.family_alpha

    @property
    def lipschitz(self) -> float:
        return self.mstar

    def statement(self) -> str:
        """One sentence saying what was certified (or not)."""
        every = "every" if not self.lattice else f"every multiple of {self.lattice:g} (integer shifts)"
        what = f"for {every} α in [{self.range}] ({self.units or 'parameter units'})"
        if not self.certified:
            return f"not certified {what} (margin {self.margin:.4g})"
        if self.kind == "surrogate":
            if self.guarantee == "sound":
                return (
                    f"the surrogate-smoothed classifier predicts {self.prediction} on τ(α, x) {what}, with probability "
                    f">= {1 - self.family_alpha:g} (M* up to {self.mstar:.4g}: a proven bound on the path)"
                )
            return (
                f"the surrogate-smoothed classifier predicts {self.prediction} on τ(α, x) {what}, with probability "
                f">= {1 - self.family_alpha:g}, assuming M* = {self.mstar:.4g} (a grid estimate, not a bound) is not "
                "underestimated"
            )
        return (
            f"the smoothed classifier predicts {self.prediction} on τ(α, x) {what}, with probability "
            f">= {1 - self.family_alpha:g}"
        )

    def to_dict(self) -> dict:
        return asdict(self)


class ResultBatch(tuple):
    """A tuple of :class:`Certificate` or :class:`Prediction` whose fields read as numpy arrays.

    Example:
        >>> batch.prediction  # doctest: +SKIP
        array([ 3, -1,  7])
    """

    def __getattr__(self, name: str):
        if not self:
            raise AttributeError(name)
        names = {f.name for f in fields(self[0])}
        if name in names:
            return np.array([getattr(item, name) for item in self])
        if name == "abstained":
            return np.array([item.abstained for item in self])
        raise AttributeError(f"{type(self[0]).__name__} results have no field {name!r}")

    # ``count`` is a field of both result types; without this, tuple's ``count()`` method would
    # shadow it (``__getattr__`` only sees names the class does not define).
    @property
    def count(self):  # type: ignore[override]
        """Votes of the returned class for each image, as an int array."""
        return self.__getattr__("count")
