"""Structured results of :meth:`gsmooth.Smoother.certify` and :meth:`gsmooth.Smoother.predict`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

__all__ = ["Certificate", "Prediction", "ResultBatch", "ABSTAIN"]

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
