"""Typed descriptions of a certify / predict / attack run: what the CLI turns its arguments into, once.

One frozen dataclass per command (:class:`CertifyConfig`, :class:`PredictConfig`,
:class:`AttackConfig`), sharing the fields of :class:`RunConfig` (checkpoint, data, smoothing
overrides, sampling, image selection, output). Every number field is checked on construction against
the number kinds of :mod:`gsmooth.validation` (``SEED``, ``BATCH``, ``PROBABILITY``…; the CLI's
argparse types come from the same table), so a bad value is an
:class:`gsmooth.errors.InvalidParameterError` naming the field, whoever builds the configuration.
Library code takes these objects, never an :class:`argparse.Namespace`.

Example:
    >>> from gsmooth.run import CertifyConfig
    >>> cfg = CertifyConfig(model="fm.pt", out="fm.tsv", n=10_000, max=100)
    >>> cfg.n0, cfg.alpha, cfg.batch_size, cfg.seed
    (100, 0.001, 1000, 0)
    >>> cfg.smoothing_overrides()["sigma"] is None
    True
    >>> CertifyConfig(model="fm.pt", out="fm.tsv", n=0)
    Traceback (most recent call last):
    ...
    gsmooth.errors.InvalidParameterError: CertifyConfig: parameter 'n' expected an integer in [1, inf], got 0
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from ..core.smoother import PRECISIONS
from ..errors import InvalidParameterError
from ..validation import (
    BATCH, NONNEG_INT, POSITIVE, POSITIVE_INT, PROBABILITY, SEED, Options, validate_params,
)

__all__ = ["RunConfig", "CertifyConfig", "PredictConfig", "AttackConfig", "VerifyConfig"]

_OPTIONAL = Options((None,))


class _Bool:
    """A rule of :func:`gsmooth.validation.validate_params`: exactly ``True`` or ``False`` (not 1, not "yes")."""

    def contains(self, value) -> bool:
        return isinstance(value, bool)

    def __str__(self) -> str:
        return "a bool (True or False)"


_FLAG = _Bool()


class _Backend:
    """A rule of :func:`gsmooth.validation.validate_params`: ``False`` (eager), ``True`` (inductor) or a
    :func:`torch.compile` backend name."""

    def contains(self, value) -> bool:
        return isinstance(value, bool) or (isinstance(value, str) and bool(value.strip()))

    def __str__(self) -> str:
        return "True, False or a torch.compile backend name (e.g. 'inductor')"


#: The constraints of :class:`RunConfig`'s fields (subclasses add theirs).
_RUN_CONSTRAINTS = {
    "split": [Options(("test", "train"))],
    "download": [_FLAG],
    "sigma": [POSITIVE, _OPTIONAL],
    "latent_sigma": [POSITIVE, _OPTIONAL],
    "n": [POSITIVE_INT],
    "alpha": [PROBABILITY],
    "batch_size": [BATCH],
    "seed": [SEED],
    "start": [NONNEG_INT],
    "skip": [POSITIVE_INT],
    "max": [POSITIVE_INT, _OPTIONAL],
    "progress": [_FLAG],
    "precision": [Options(PRECISIONS)],
    "channels_last": [_FLAG],
    "compile": [_Backend()],
}
_PATHS = ("model", "out", "surrogate", "data_dir", "input", "denoiser")
_NAMES = ("dataset", "noise", "transform", "device")


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """The fields every evaluation run shares.

    Attributes:
        model: checkpoint written by ``gsmooth train`` (``None`` only while a caller fills in a default,
            as ``gsmooth predict --input`` does with the embedded model).
        out: results file (TSV; its configuration in ``out + ".json"``); None where a command has none.
        dataset: dataset to evaluate on (None: the checkpoint's); split: ``"test"`` or ``"train"``.
        data_dir: dataset root (None: ``$GSMOOTH_DATA_DIR`` or the cache); download: let torchvision download.
        device: torch device name.
        noise, sigma, transform, surrogate, latent_sigma: smoothing overrides (None: the checkpoint's,
            then the transform's defaults; see :meth:`gsmooth.Smoother.from_checkpoint`).
        n: Monte Carlo samples; alpha: failure probability; batch_size: samples per forward pass;
            seed: base seed (the same seed gives the same results).
        start, skip, max: the images evaluated, ``range(start, len, skip)[:max]``.
        progress: show progress bars.
        precision: ``"fp32"`` (default), ``"bf16"`` or ``"fp16"``: the base model's forward pass under
            autocast (votes are the argmax of its output at that precision: that classifier is the
            one certified; CPU: fp32 or bf16). Recorded in the results file, which then resumes only
            at the same precision.
        channels_last: channels-last memory format for the model and its inputs.
        compile: :func:`torch.compile` the base model for the sampling loop (``True``: inductor, or
            a backend name). ``channels_last`` and ``compile`` are recorded in the results file too.
        denoiser: a denoiser checkpoint (``gsmooth train-denoiser``): denoised smoothing of
            ``model ∘ denoiser`` (:class:`gsmooth.denoising.DenoisedClassifier`); its SHA-256 is recorded
            in the results file, which then resumes only with the same denoiser.
    """

    model: str | None
    out: str | None = None
    dataset: str | None = None
    split: str = "test"
    data_dir: str | None = None
    download: bool = False
    device: str = "cpu"
    noise: str | None = None
    sigma: float | None = None
    transform: str | None = None
    surrogate: str | None = None
    latent_sigma: float | None = None
    n: int = 100_000
    alpha: float = 0.001
    batch_size: int = 1000
    seed: int = 0
    start: int = 0
    skip: int = 1
    max: int | None = None
    progress: bool = True
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool | str = False
    denoiser: str | None = None

    #: Extra field constraints of a subclass.
    _constraints = {}

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _PATHS and value is not None and not isinstance(value, (str, os.PathLike)):
                raise InvalidParameterError(f"{owner}: parameter {f.name!r} expected a file path or None, got {value!r}")
            if f.name in _NAMES and value is not None and not isinstance(value, str):
                raise InvalidParameterError(f"{owner}: parameter {f.name!r} expected a name (str) or None, got {value!r}")
        constraints = {**_RUN_CONSTRAINTS, **self._constraints}
        validate_params(owner, {k: getattr(self, k) for k in constraints if hasattr(self, k)}, constraints)

    def smoothing_overrides(self) -> dict:
        """The keyword arguments of :meth:`gsmooth.Smoother.from_checkpoint` this run gives."""
        return {"noise": self.noise, "sigma": self.sigma, "transform": self.transform, "surrogate": self.surrogate,
                "latent_sigma": self.latent_sigma, "denoiser": self.denoiser}

    def engine_options(self) -> dict:
        """The keyword arguments of :class:`gsmooth.Smoother` (and :meth:`gsmooth.run.SmootherSetup.load`)
        saying how the base model runs: ``precision``, ``channels_last``, ``compile``.

        >>> CertifyConfig(model="m.pt", precision="bf16").engine_options()
        {'precision': 'bf16', 'channels_last': False, 'compile': False}
        """
        return {"precision": self.precision, "channels_last": self.channels_last, "compile": self.compile}

    def selected(self, size: int) -> list[int]:
        """The indices of the images evaluated among ``size`` (``range(start, size, skip)[:max]``).

        >>> CertifyConfig(model="m.pt", start=1, skip=2, max=3).selected(10)
        [1, 3, 5]
        """
        idx = list(range(self.start, size, self.skip))
        return idx if self.max is None else idx[: self.max]


def _check_range(owner: str, text) -> None:
    from ..core.ranges import parse_range

    if text is None or text == "default":
        return
    if not isinstance(text, str):
        raise InvalidParameterError(f"{owner}: parameter 'range' expected 'lo:hi', 'default' or None, got {text!r}")
    try:
        parse_range(text)
    except InvalidParameterError as exc:  # "range: expected lo:hi …, got …"
        raise InvalidParameterError(f"{owner}: {exc}") from None


def _checked_radii(owner: str, radii) -> tuple:
    """Target radii sorted and checked (:func:`gsmooth.core.smoother.check_target_radii`), errors naming ``owner``."""
    from ..core.smoother import check_target_radii

    try:
        return check_target_radii(radii)
    except InvalidParameterError as exc:
        raise InvalidParameterError(f"{owner}: {exc}") from None


@dataclass(frozen=True, kw_only=True)
class CertifyConfig(RunConfig):
    """A ``gsmooth certify`` run: CERTIFY every selected image (see :class:`RunConfig` for the shared fields).

    Attributes:
        n0: samples to select the top class.
        range: ``"lo:hi[,lo:hi]"`` for an interval certificate, ``"default"`` for the transform's
            default range, None for a radius around θ = 0.
        slices: slices per parameter of an interval certificate (None: the transform's default).
        require_sound: refuse certificates whose M* is a grid estimate.
        sequential: interval certificates (``range``) certified sequentially
            (:mod:`gsmooth.core.sequential`): ``n`` is then the per-slice maximum.
        radii: target radii of a sequential point certificate (no ``range``): ``n`` is then the
            per-image maximum; stored sorted. The rows gain a ``samples`` column with either.
        refine: adaptive slicing depth of an interval certificate (0: uniform slices); rows then
            gain a ``leaves`` column (the final slices, ``lo:hi:class`` separated by ``;``).
    """

    n0: int = 100
    range: str | None = None
    slices: int | None = None
    require_sound: bool = False
    sequential: bool = False
    radii: tuple | None = None
    refine: int = 0

    _constraints = {
        "n0": [POSITIVE_INT], "slices": [POSITIVE_INT, _OPTIONAL], "require_sound": [_FLAG], "sequential": [_FLAG],
        "refine": [NONNEG_INT],
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_range(type(self).__name__, self.range)
        owner = type(self).__name__
        if self.radii is not None:
            object.__setattr__(self, "radii", _checked_radii(owner, self.radii))
            if self.range is not None:
                raise InvalidParameterError(
                    f"{owner}: radii are targets of a point certificate; an interval certificate's slices have their "
                    f"own requirement, so expected sequential=True with range {self.range!r}, got radii {list(self.radii)}"
                )
        if self.refine and self.range is None:
            raise InvalidParameterError(
                f"{owner}: refine splits the slices of an interval certificate; expected a range with it, got refine="
                f"{self.refine} and no range"
            )
        if self.sequential and self.range is None and self.radii is None:
            raise InvalidParameterError(
                f"{owner}: a sequential point certificate stops at target radii; expected radii (or a range), got "
                "sequential=True with neither"
            )

    @property
    def is_sequential(self) -> bool:
        """Whether the run certifies sequentially (rows then carry the draws used, ``samples``)."""
        return bool(self.sequential or self.radii is not None)


@dataclass(frozen=True, kw_only=True)
class PredictConfig(RunConfig):
    """A ``gsmooth predict`` run: PREDICT on dataset images, or on your own files (``input``).

    Attributes:
        n: samples per image (default 10,000).
        input: a folder of images, an image, a ``.npy`` or ``.pt`` file (None: dataset mode).
        certify: with ``input``, CERTIFY each file instead of PREDICT.
        n0: with ``certify``, samples to select the top class (None: 100).
        resize: with ``input``, resize images of another size to the model's.
        radii: with ``certify``, target radii of a sequential point certificate (as
            :class:`CertifyConfig`'s): ``n`` is then the per-image maximum, lines gain ``samples``.
    """

    n: int = 10_000
    input: str | None = None
    certify: bool = False
    n0: int | None = None
    resize: bool = False
    radii: tuple | None = None

    _constraints = {"n0": [POSITIVE_INT, _OPTIONAL], "certify": [_FLAG], "resize": [_FLAG]}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.radii is not None:
            owner = type(self).__name__
            object.__setattr__(self, "radii", _checked_radii(owner, self.radii))
            if not (self.certify and self.input is not None):
                raise InvalidParameterError(
                    f"{owner}: radii are targets of a point certificate of your files; expected certify=True with an "
                    f"input, got radii {list(self.radii)} with certify={self.certify}, input={self.input!r}"
                )


@dataclass(frozen=True, kw_only=True)
class AttackConfig(RunConfig):
    """A ``gsmooth attack`` run: search a parameter range for values that change the prediction.

    Attributes:
        range: the range searched (``"lo:hi[,lo:hi]"``; ``"default"``: the transform's default range).
        grid, steps, restarts, eot, candidates: the search (see :func:`gsmooth.evaluation.attack.attack`).
        n: Monte Carlo votes per smoothed evaluation (default 1000).
    """

    n: int = 1000
    range: str = "default"
    grid: int = 21
    steps: int = 10
    restarts: int = 3
    eot: int = 8
    candidates: int = 3

    _constraints = {
        "grid": [POSITIVE_INT], "steps": [NONNEG_INT], "restarts": [POSITIVE_INT], "eot": [POSITIVE_INT],
        "candidates": [POSITIVE_INT],
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_range(type(self).__name__, self.range)


_INF = float("inf")

#: ``gsmooth verify --radius-search`` defaults per norm: the bracket's top (pixel space, [0, 1] images).
DEFAULT_EPS_MAX = {"linf": 0.5, "l2": 4.0}
#: ``--radius-tol``'s default: the bisection stops when the bracket is this narrow.
DEFAULT_RADIUS_TOL = 1e-3
#: ``--time-limit``'s default: seconds per LP / MILP verification (one image at one eps).
DEFAULT_TIME_LIMIT = 60.0


def _finite(value, *, minimum: float, strict: bool) -> bool:
    import math
    from numbers import Real

    return (isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
            and (value > minimum if strict else value >= minimum))


@dataclass(frozen=True, kw_only=True)
class VerifyConfig:
    """A ``gsmooth verify`` run: deterministic verification of the checkpoint's model itself (no
    smoothing) on every selected image (:func:`gsmooth.run.verify`).

    Exactly one of ``eps`` (the radii to verify) and ``radius_search`` (the largest certified radius
    by bisection, :func:`gsmooth.verification.largest_certified_radius`).

    Attributes:
        model: checkpoint written by ``gsmooth train``; out: results file (TSV; configuration in ``out + ".json"``).
        dataset, split, data_dir, download, device: as :class:`RunConfig` (the model's forward
            passes run on ``device``; the verification itself is float64 numpy/scipy on the CPU).
        method: ``"ibp"``, ``"crown"``, ``"lp"`` or ``"milp"``; norm: ``"linf"`` or ``"l2"``.
        eps: the radii, stored sorted without repeats; None with ``radius_search``.
        radius_search: search the largest radius up to ``eps_max`` to within ``radius_tol`` (filled
            in from :data:`DEFAULT_EPS_MAX` / :data:`DEFAULT_RADIUS_TOL` when None).
        domain: ``(low, high)`` of every pixel, or None for the whole ball.
        time_limit: seconds per LP / MILP verification (None: no limit); tolerance: a margin bound
            must exceed it for YES.
        save_adversarial: a folder for each NO's adversarial input (``idx<idx>_eps<eps>.pt``), or None.
        every_eps: with ``eps``, verify every radius even after one was answered MAYBE (by default
            the larger radii of an image are then skipped: status ``skipped``, answer MAYBE). A NO
            is never re-solved at a larger radius: its counterexample lies in every larger ball.
        start, skip, max: the images, ``range(start, len, skip)[:max]``; progress: show a progress bar.

    Example:
        >>> cfg = VerifyConfig(model="fm.pt", out="v.tsv", method="milp", norm="linf", eps=[0.02, 0.01, 0.02])
        >>> cfg.eps, cfg.domain, cfg.time_limit
        ((0.01, 0.02), (0.0, 1.0), 60.0)
        >>> VerifyConfig(model="fm.pt", out="v.tsv", method="crown", norm="l2", radius_search=True).eps_max
        4.0
        >>> VerifyConfig(model="fm.pt", out="v.tsv", method="lp", norm="linf")
        Traceback (most recent call last):
        ...
        gsmooth.errors.InvalidParameterError: VerifyConfig: expected eps (the radii) or radius_search=True, got neither
    """

    model: str
    out: str | None = None
    dataset: str | None = None
    split: str = "test"
    data_dir: str | None = None
    download: bool = False
    device: str = "cpu"
    method: str
    norm: str
    eps: tuple | None = None
    radius_search: bool = False
    eps_max: float | None = None
    radius_tol: float | None = None
    domain: tuple | None = (0.0, 1.0)
    time_limit: float | None = DEFAULT_TIME_LIMIT
    tolerance: float = 1e-6
    save_adversarial: str | None = None
    every_eps: bool = False
    start: int = 0
    skip: int = 1
    max: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        from ..verification.region import NORMS
        from ..verification.verify import METHODS

        owner = type(self).__name__
        for name in ("model", "out", "data_dir", "save_adversarial"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, (str, os.PathLike)):
                raise InvalidParameterError(f"{owner}: parameter {name!r} expected a file path or None, got {value!r}")
        for name in ("dataset", "device"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InvalidParameterError(f"{owner}: parameter {name!r} expected a name (str) or None, got {value!r}")
        validate_params(owner, {k: getattr(self, k) for k in ("split", "download", "radius_search", "start", "skip",
                                                               "max", "progress", "every_eps")}, {
            "split": [Options(("test", "train"))], "download": [_FLAG], "radius_search": [_FLAG], "every_eps": [_FLAG],
            "start": [NONNEG_INT], "skip": [POSITIVE_INT], "max": [POSITIVE_INT, _OPTIONAL], "progress": [_FLAG],
        })
        if self.method not in METHODS:
            raise InvalidParameterError(f"{owner}: expected method one of {', '.join(METHODS)}, got {self.method!r}")
        if self.norm not in NORMS:
            raise InvalidParameterError(f"{owner}: expected norm one of {', '.join(NORMS)}, got {self.norm!r}")
        if (self.eps is None) == (not self.radius_search):
            got = "both" if self.eps is not None else "neither"
            raise InvalidParameterError(f"{owner}: expected eps (the radii) or radius_search=True, got {got}")
        if self.eps is not None:
            values = [self.eps] if isinstance(self.eps, (int, float)) else self.eps
            try:
                values = list(values)
            except TypeError:
                values = [self.eps]
            if not values or not all(_finite(e, minimum=0.0, strict=False) for e in values):
                raise InvalidParameterError(f"{owner}: expected eps one or more finite numbers >= 0, got {self.eps!r}")
            object.__setattr__(self, "eps", tuple(sorted({float(e) for e in values})))
        if not self.radius_search:
            for name in ("eps_max", "radius_tol"):
                if getattr(self, name) is not None:
                    raise InvalidParameterError(f"{owner}: expected {name} only with radius_search=True, got {name}="
                                                f"{getattr(self, name)!r} with a list of eps")
        else:
            if self.eps_max is None:
                object.__setattr__(self, "eps_max", DEFAULT_EPS_MAX[self.norm])
            if self.radius_tol is None:
                object.__setattr__(self, "radius_tol", DEFAULT_RADIUS_TOL)
            for name in ("eps_max", "radius_tol"):
                if not _finite(getattr(self, name), minimum=0.0, strict=True):
                    raise InvalidParameterError(f"{owner}: expected {name} a positive finite number, got {getattr(self, name)!r}")
            object.__setattr__(self, "eps_max", float(self.eps_max))
            object.__setattr__(self, "radius_tol", float(self.radius_tol))
        if self.domain is not None:
            try:
                lo, hi = self.domain
                ok = _finite(lo, minimum=-_INF, strict=False) and _finite(hi, minimum=-_INF, strict=False) and lo <= hi
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise InvalidParameterError(f"{owner}: expected domain (low, high) with finite low <= high, or None, got {self.domain!r}")
            object.__setattr__(self, "domain", (float(lo), float(hi)))
        if self.time_limit is not None and not _finite(self.time_limit, minimum=0.0, strict=True):
            raise InvalidParameterError(f"{owner}: expected time_limit a positive finite number of seconds or None, got {self.time_limit!r}")
        if not _finite(self.tolerance, minimum=0.0, strict=False):
            raise InvalidParameterError(f"{owner}: expected tolerance a finite number >= 0, got {self.tolerance!r}")

    def selected(self, size: int) -> list[int]:
        """The indices of the images evaluated among ``size`` (``range(start, size, skip)[:max]``)."""
        idx = list(range(self.start, size, self.skip))
        return idx if self.max is None else idx[: self.max]
