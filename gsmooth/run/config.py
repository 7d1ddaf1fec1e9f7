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

__all__ = ["RunConfig", "CertifyConfig", "PredictConfig", "AttackConfig"]

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
_PATHS = ("model", "out", "surrogate", "data_dir", "input")
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
                "latent_sigma": self.latent_sigma}

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


@dataclass(frozen=True, kw_only=True)
class CertifyConfig(RunConfig):
    """A ``gsmooth certify`` run: CERTIFY every selected image (see :class:`RunConfig` for the shared fields).

    Attributes:
        n0: samples to select the top class.
        range: ``"lo:hi[,lo:hi]"`` for an interval certificate, ``"default"`` for the transform's
            default range, None for a radius around θ = 0.
        slices: slices per parameter of an interval certificate (None: the transform's default).
        require_sound: refuse certificates whose M* is a grid estimate.
    """

    n0: int = 100
    range: str | None = None
    slices: int | None = None
    require_sound: bool = False

    _constraints = {"n0": [POSITIVE_INT], "slices": [POSITIVE_INT, _OPTIONAL], "require_sound": [_FLAG]}

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_range(type(self).__name__, self.range)


@dataclass(frozen=True, kw_only=True)
class PredictConfig(RunConfig):
    """A ``gsmooth predict`` run: PREDICT on dataset images, or on your own files (``input``).

    Attributes:
        n: samples per image (default 10,000).
        input: a folder of images, an image, a ``.npy`` or ``.pt`` file (None: dataset mode).
        certify: with ``input``, CERTIFY each file instead of PREDICT.
        n0: with ``certify``, samples to select the top class (None: 100).
        resize: with ``input``, resize images of another size to the model's.
    """

    n: int = 10_000
    input: str | None = None
    certify: bool = False
    n0: int | None = None
    resize: bool = False

    _constraints = {"n0": [POSITIVE_INT, _OPTIONAL], "certify": [_FLAG], "resize": [_FLAG]}


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
