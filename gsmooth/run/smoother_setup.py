"""A smoother built from a checkpoint: :meth:`gsmooth.Smoother.from_checkpoint` and :class:`SmootherSetup`.

What ``gsmooth certify/predict/attack --model CKPT`` do before the first image, as one library call:
read the checkpoint, choose the smoothing (the caller's overrides, then the checkpoint's recorded
training smoothing when it is for the same transform, then the transform's defaults), load the GSmooth
surrogate (an override, or the one recorded in the checkpoint, found near the checkpoint), put a
denoiser in front of the classifier when one is given (denoised smoothing, :mod:`gsmooth.denoising`)
and build the model on the device.

Why here, in :mod:`gsmooth.run`, and not in :mod:`gsmooth.core` or :mod:`gsmooth.io`: the engine in
``core`` knows noises, transforms and models only, never files; ``io`` reads and writes files but does
not choose components. Building a smoother from a checkpoint needs all of them (``io`` for the
checkpoint, the plugin registry and the defaults table for the choice, ``surrogate`` for the learned
transform), so it lives in the layer above them, the one that describes and prepares runs; the CLI and
the experiments call it, and :meth:`gsmooth.Smoother.from_checkpoint` imports it lazily so that ``core``
stays free of file formats.

Example:
    >>> import gsmooth
    >>> from gsmooth.embedded import embedded_default
    >>> path = embedded_default("additive").model_path
    >>> smoother = gsmooth.Smoother.from_checkpoint(path)              # the checkpoint's training noise
    >>> smoother.noise.describe()
    'gaussian(sigma=0.25)'
    >>> gsmooth.Smoother.from_checkpoint(path, sigma=0.5).noise.describe()  # doctest: +SKIP
    'gaussian(sigma=0.5)'                                                    # (warns: trained with 0.25)
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ..core.defaults import DEFAULT_NOISE, DEFAULT_TRANSFORM, defaults_of
from ..errors import InvalidParameterError, SmoothingMismatchWarning
from ..plugin.components import check_keywords
from ..validation import POSITIVE, Options, check_device, validate_params

__all__ = [
    "SmoothingChoice", "SmootherSetup", "SmoothingMismatchWarning", "resolve_smoothing", "recorded_path_near",
    "resolve_surrogate_path", "build_surrogate_transform", "OPTION_NAMES",
]


#: How messages name the overrides of :meth:`SmootherSetup.load` (the CLI passes its flags instead,
#: ``{"noise": "--noise", "sigma": "--sigma", …}``).
OPTION_NAMES = {"noise": "noise", "sigma": "sigma", "surrogate": "surrogate", "latent_sigma": "latent_sigma",
                "denoiser": "denoiser"}


@dataclass(frozen=True)
class SmoothingChoice:
    """Which transform, noise, σ and surrogate smooth: the overrides, then the checkpoint's training
    smoothing (when it is for the same transform), then the transform's defaults
    (:mod:`gsmooth.core.defaults`; transforms with a parameter only). See :func:`resolve_smoothing`.

    Attributes:
        transform_name: registered name of the (true) transform.
        transform_cls: its class.
        noise_name: registered name of the noise.
        noise_cls: its class.
        noise_params: the noise's keyword arguments (always with ``sigma``).
        transform_params: the transform's keyword arguments.
        surrogate: the surrogate checkpoint's path as given or recorded (not yet resolved), or None.
        surrogate_recorded: whether ``surrogate`` is the checkpoint's (found near it) rather than an override.
        latent_sigma: σ_ξ of the surrogate's latent noise (None: no default known).
        table: the transform's defaults (:class:`gsmooth.core.defaults.TransformDefaults`) or None.
        same: whether the checkpoint was trained for this transform.
    """

    transform_name: str
    transform_cls: type
    noise_name: str
    noise_cls: type
    noise_params: dict
    transform_params: dict
    surrogate: str | None
    surrogate_recorded: bool
    latent_sigma: float | None
    table: Any
    same: bool


def _check_name(owner: str, what: str, value) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidParameterError(f"{owner}: {what} expected a registered name (str) or None, got {value!r}")
    if isinstance(value, str) and not value.strip():  # a blank name would silently mean the default
        raise InvalidParameterError(f"{owner}: {what} expected a registered name (str) or None, got an empty one")


def _check_overrides(owner: str, *, noise, sigma, transform, transform_params, surrogate, latent_sigma) -> None:
    _check_name(owner, "noise", noise)
    _check_name(owner, "transform", transform)
    validate_params(owner, {"sigma": sigma, "latent_sigma": latent_sigma},
                    {"sigma": [POSITIVE, Options((None,))], "latent_sigma": [POSITIVE, Options((None,))]})
    if transform_params is not None and not isinstance(transform_params, Mapping):
        raise InvalidParameterError(
            f"{owner}: transform_params expected a dict of the transform's keyword arguments or None, got {transform_params!r}"
        )
    if surrogate is not None and not isinstance(surrogate, (str, os.PathLike)):
        raise InvalidParameterError(f"{owner}: surrogate expected a file path or None, got {surrogate!r}")


def _load_denoiser(path, *, ckpt, device, names) -> tuple:
    """``(denoiser, absolute path, sha256)`` of ``path``, checked to be for the checkpoint's images."""
    from ..denoising.io import load_denoiser
    from ..io.checkpoints import file_sha256

    if not isinstance(path, (str, os.PathLike)):
        raise InvalidParameterError(f"{names['denoiser']} expected a denoiser checkpoint path or None, got {path!r}")
    den = load_denoiser(path, map_location=device)
    if tuple(den.input_shape) != tuple(ckpt.input_shape):
        raise InvalidParameterError(
            f"{names['denoiser']} {os.fspath(path)}: expected a denoiser for the model's images {tuple(ckpt.input_shape)}, "
            f"got one for {tuple(den.input_shape)}"
        )
    p = Path(os.path.expanduser(os.fspath(path))).resolve()
    return den, str(p), file_sha256(p)


def resolve_smoothing(
    trained: Mapping | None,
    *,
    noise: str | None = None,
    sigma: float | None = None,
    transform: str | None = None,
    transform_params: Mapping | None = None,
    surrogate: str | None = None,
    latent_sigma: float | None = None,
    names: Mapping[str, str] = OPTION_NAMES,
) -> SmoothingChoice:
    """Which transform / noise / σ / surrogate to use: the overrides, then the checkpoint's training
    smoothing ``trained`` (when it is for the same transform), then the transform's defaults.

    Args:
        trained: the checkpoint's ``smoothing`` dict (``{}`` or None for a vanilla model).
        noise, sigma, transform, transform_params, surrogate, latent_sigma: overrides (None: not given).
        names: how messages name the overrides (:data:`OPTION_NAMES`; the CLI passes its flags).

    Returns:
        The :class:`SmoothingChoice`.

    Raises:
        UnknownComponentError: an unknown transform or noise name (with a close-match suggestion).
        InvalidParameterError: no σ is known for the chosen noise.

    Example:
        >>> ch = resolve_smoothing({"noise": "gaussian", "noise_params": {"sigma": 0.25}, "transform": "additive"})
        >>> ch.noise_name, ch.noise_params, ch.transform_name
        ('gaussian', {'sigma': 0.25}, 'additive')
        >>> resolve_smoothing({}, transform="brightness").noise_params  # the transform's default σ
        {'sigma': 0.2}
    """
    from ..plugin.registry import get_registry

    trained = trained or {}
    reg = get_registry()
    trained_transform = (trained.get("transform") or DEFAULT_TRANSFORM) if trained else None
    transform_name = transform or trained_transform or DEFAULT_TRANSFORM
    transform_cls = reg.transform_class(transform_name)  # unknown names fail first, with a suggestion
    same = trained_transform == transform_name
    table = defaults_of(transform_cls) if transform_cls.param_dim is not None else None
    if noise:
        noise_name = noise
    elif trained.get("noise") and same:
        noise_name = trained["noise"]
    elif table is not None:
        noise_name = table.noise
    else:
        noise_name = trained.get("noise") or DEFAULT_NOISE
    noise_cls = reg.noise_class(noise_name)
    if noise_name == trained.get("noise") and (same or table is None):
        noise_params = dict(trained.get("noise_params") or {})
    else:
        noise_params = {}
    if sigma is not None:
        noise_params["sigma"] = sigma
    if "sigma" not in noise_params and table is not None and table.noise == noise_name:
        noise_params["sigma"] = table.sigma
    if "sigma" not in noise_params:
        raise InvalidParameterError(
            f"expected {names['sigma']} (the checkpoint records no sigma for noise {noise_name!r}), got none"
        )
    if transform_params is not None:
        chosen_params = dict(transform_params)
    else:
        chosen_params = dict(trained.get("transform_params") or {}) if same else {}
    recorded = bool(not surrogate and same and trained.get("surrogate"))
    chosen_surrogate = surrogate or (trained.get("surrogate") if same else None)
    if latent_sigma is None and same:
        latent_sigma = trained.get("latent_sigma")
    if latent_sigma is None and table is not None:
        latent_sigma = table.latent_sigma
    return SmoothingChoice(
        transform_name=transform_name,
        transform_cls=transform_cls,
        noise_name=noise_name,
        noise_cls=noise_cls,
        noise_params=noise_params,
        transform_params=chosen_params,
        surrogate=None if chosen_surrogate is None else os.fspath(chosen_surrogate),
        surrogate_recorded=recorded,
        latent_sigma=latent_sigma,
        table=table,
        same=same,
    )


def recorded_path_near(recorded: str, checkpoint_path) -> str:
    """Where a file named inside a checkpoint (its surrogate) is: a relative path is relative to the
    checkpoint's folder (so a folder of checkpoints can be moved, and the embedded model finds its
    surrogate); an absolute path that no longer exists falls back to the same file name beside
    the checkpoint. The sha256 recorded at training time is still checked by the caller.

    Example:
        >>> recorded_path_near("s.pt", "/data/runs/model.pt")
        '/data/runs/s.pt'
    """
    p = Path(os.path.expanduser(recorded))
    here = Path(checkpoint_path).resolve().parent
    if not p.is_absolute():
        return str(here / p)
    if not p.exists() and (here / p.name).is_file():
        return str(here / p.name)
    return str(p)


def resolve_surrogate_path(path: str, *, what: str) -> tuple[str, str]:
    """``(absolute path, sha256)`` of a surrogate checkpoint, or an :class:`InvalidParameterError`
    naming ``what`` when it is missing."""
    from ..io.checkpoints import file_sha256

    p = Path(os.path.expanduser(path))
    if not p.is_file():
        raise InvalidParameterError(f"{what}: expected a surrogate checkpoint file, got {path!r} which does not exist")
    p = p.resolve()
    return str(p), file_sha256(p)


def build_surrogate_transform(path, *, transform_name: str, sigma: float, latent_sigma: float, device, what: str | None = None):
    """A :class:`gsmooth.surrogate.transform.SurrogateTransform` over the surrogate in ``path``, checked
    to be a surrogate of ``transform_name``, with ``sigma_ratio = latent_sigma / sigma``: the one
    builder used by :class:`SmootherSetup` (certify, predict, attack) and by training.

    Args:
        path: the surrogate checkpoint (``gsmooth surrogate train``).
        transform_name: the transform it must be a surrogate of.
        sigma: σ_θ of the parameter noise; latent_sigma: σ_ξ of the latent noise.
        device: where it is loaded.
        what: how the error names the surrogate (default ``"surrogate <path>"``).

    Raises:
        InvalidParameterError: the surrogate is one of another transform.
    """
    from ..surrogate.transform import SurrogateTransform

    st = SurrogateTransform.from_checkpoint(path, sigma_ratio=float(latent_sigma) / float(sigma), map_location=device)
    recorded = getattr(st.surrogate, "transform_name", None)
    if recorded and recorded != transform_name:
        raise InvalidParameterError(
            f"{what or f'surrogate {path}'}: expected a surrogate of transform {transform_name!r}, got one of {recorded!r}"
        )
    return st


def _warn(message: str) -> None:
    warnings.warn(message, SmoothingMismatchWarning, stacklevel=4)


@dataclass(frozen=True)
class SmootherSetup:
    """A smoother built from a checkpoint, and what it was built from (see :meth:`load`).

    Attributes:
        checkpoint: the :class:`gsmooth.io.checkpoints.Checkpoint` read.
        smoother: the :class:`gsmooth.Smoother` (its model on the device).
        dataset_name: the dataset to evaluate on (the override, else the checkpoint's).
        noise_params: the noise's keyword arguments (``{"sigma": …}``).
        transform_params: the transform's keyword arguments.
        transform_name: registered name of the (true) transform; the smoother's transform is its
            surrogate when one is used.
        surrogate_path: the surrogate's absolute path (None: no surrogate).
        surrogate_sha256: its SHA-256.
        latent_sigma: σ_ξ of the surrogate's latent noise (None without a surrogate).
        choice: the :class:`SmoothingChoice` behind it.
        warnings: the mismatch warnings given (trained with another smoothing), in order.
        denoiser_path: the denoiser's absolute path (None: no denoiser); the smoother's model is then
            a :class:`gsmooth.denoising.DenoisedClassifier` of the checkpoint's classifier and it.
        denoiser_sha256: its SHA-256.
    """

    checkpoint: Any
    smoother: Any
    dataset_name: str
    noise_params: dict
    transform_params: dict
    transform_name: str = DEFAULT_TRANSFORM
    surrogate_path: str | None = None
    surrogate_sha256: str | None = None
    latent_sigma: float | None = None
    choice: SmoothingChoice | None = None
    warnings: tuple[str, ...] = field(default=())
    denoiser_path: str | None = None
    denoiser_sha256: str | None = None

    @property
    def ckpt(self):
        """Alias of :attr:`checkpoint`."""
        return self.checkpoint

    @property
    def device(self):
        """The smoother's device (where the run's model works; :func:`gsmooth.run.write_rows`)."""
        return self.smoother.device

    @classmethod
    def load(
        cls,
        path,
        *,
        noise: str | None = None,
        sigma: float | None = None,
        transform: str | None = None,
        transform_params: Mapping | None = None,
        surrogate: str | os.PathLike | None = None,
        latent_sigma: float | None = None,
        device=None,
        dataset: str | None = None,
        warn: Callable[[str], None] | None = None,
        names: Mapping[str, str] = OPTION_NAMES,
        precision: str = "fp32",
        channels_last: bool = False,
        compile: bool | str = False,
        denoiser: str | os.PathLike | None = None,
    ) -> "SmootherSetup":
        """Read the checkpoint at ``path`` and build its smoother; the overrides replace the
        checkpoint's recorded training smoothing (see :func:`resolve_smoothing` for the precedence).

        A surrogate (``surrogate``, or the one the checkpoint was trained with, found near the
        checkpoint by :func:`recorded_path_near`) makes the smoother's transform a
        :class:`gsmooth.surrogate.transform.SurrogateTransform` of kind ``surrogate``.

        Args:
            path: a checkpoint written by ``gsmooth train`` / :func:`gsmooth.io.checkpoints.save_checkpoint`.
            noise: noise name (default: the checkpoint's, else the transform's default).
            sigma: the noise's scale (default: the checkpoint's, else the transform's default).
            transform: transform name (default: the checkpoint's, usually ``"additive"``).
            transform_params: the transform's keyword arguments (default: the checkpoint's for its own transform).
            surrogate: GSmooth surrogate checkpoint (default: the one the checkpoint was trained with).
            latent_sigma: σ_ξ of the surrogate's latent noise (default: the checkpoint's, else the transform's).
            device: torch device (default ``"cpu"``).
            dataset: the dataset to evaluate on, recorded in :attr:`dataset_name` (default: the checkpoint's).
            warn: called with each mismatch warning (default: :func:`warnings.warn` with
                :class:`SmoothingMismatchWarning`).
            names: how messages name the overrides (:data:`OPTION_NAMES`).
            precision, channels_last, compile: how the base model runs (:class:`gsmooth.Smoother`;
                checked before the checkpoint is read).
            denoiser: a denoiser checkpoint (``gsmooth train-denoiser``): the base model becomes
                ``DenoisedClassifier(classifier, denoiser)`` (denoised smoothing). The smoothing then defaults
                to the denoiser's noise and σ (in place of the checkpoint's training smoothing: a
                ``gsmooth train --no-noise`` checkpoint records none), without a mismatch warning; the
                denoiser refuses another noise, σ or transform (:class:`~gsmooth.errors.UnsupportedNoiseError`)
                before any sampling.

        Returns:
            The :class:`SmootherSetup`.

        Raises:
            CheckpointError: ``path`` is not a readable gsmooth checkpoint.
            UnknownComponentError: an unknown noise or transform name.
            InvalidParameterError: a bad override, no σ known, a missing surrogate file, no σ_ξ
                known, a non-Gaussian noise with a surrogate, or a surrogate of another transform; a
                denoiser for other images than the checkpoint's.
            UnsupportedNoiseError: the denoiser refuses the noise, σ or transform.
        """
        from ..core.smoother import Smoother
        from ..io.checkpoints import load_checkpoint

        owner = "Smoother.from_checkpoint"
        _check_overrides(owner, noise=noise, sigma=sigma, transform=transform, transform_params=transform_params,
                         surrogate=surrogate, latent_sigma=latent_sigma)
        warn = warn or _warn
        given: list[str] = []

        def say(message: str) -> None:
            given.append(message)
            warn(message)

        device = check_device("cpu" if device is None else device, what=f"{owner}: device")
        from ..core.smoother import check_precision

        check_precision(precision, device, what=names.get("precision", "precision"))  # before any work
        names = {**OPTION_NAMES, **names}
        ckpt = load_checkpoint(path, map_location=device)
        model = ckpt.build_model(device=device)
        trained = ckpt.smoothing or {}
        den = denoiser_path = denoiser_sha = None
        if denoiser is not None:
            den, denoiser_path, denoiser_sha = _load_denoiser(denoiser, ckpt=ckpt, device=device, names=names)
            # denoised smoothing: what the denoiser was trained for is the smoothing the model is for
            trained = {"noise": den.noise, "noise_params": {"sigma": den.sigma}, "transform": DEFAULT_TRANSFORM}
        ch = resolve_smoothing(
            trained, noise=noise, sigma=sigma, transform=transform, transform_params=transform_params,
            surrogate=surrogate, latent_sigma=latent_sigma, names=names,
        )
        noise_name, noise_params = ch.noise_name, ch.noise_params
        transform_name, transform_params = ch.transform_name, ch.transform_params
        check_keywords("noise", noise_name, ch.noise_cls, noise_params)  # the checkpoint's, as recorded
        check_keywords("transform", transform_name, ch.transform_cls, transform_params)
        noise_obj = ch.noise_cls(**noise_params)
        surrogate_path = surrogate_sha = None
        chosen_latent = None
        if ch.surrogate:
            where = f"the surrogate recorded in {os.fspath(path)}" if ch.surrogate_recorded else names["surrogate"]
            file = recorded_path_near(ch.surrogate, ckpt.path) if ch.surrogate_recorded else ch.surrogate
            surrogate_path, surrogate_sha = resolve_surrogate_path(file, what=where)
            chosen_latent = ch.latent_sigma
            if chosen_latent is None:
                raise InvalidParameterError(
                    f"expected {names['latent_sigma']} (std of the surrogate's latent noise) for transform "
                    f"{transform_name!r}, got none"
                )
            if not ch.noise_cls.isotropic_gaussian:
                raise InvalidParameterError(
                    f"a GSmooth surrogate certifies with Gaussian noise on (theta, xi) only; expected "
                    f"{names['noise']} gaussian, got {noise_name!r}"
                )
            transform_obj = build_surrogate_transform(
                surrogate_path, transform_name=transform_name, sigma=noise_params["sigma"], latent_sigma=chosen_latent,
                device=device,
            )
            recorded = trained.get("surrogate_sha256") if ch.same else None
            if recorded and recorded != surrogate_sha:
                say(
                    f"the model was trained on another surrogate (sha256 {recorded[:12]}…) than {surrogate_path} "
                    f"({surrogate_sha[:12]}…): certificates stay valid but will be weak"
                )
        else:
            transform_obj = ch.transform_cls(**transform_params)
        if trained and den is None:  # a denoiser refuses another smoothing itself (no warning first)
            was = (trained.get("noise"), (trained.get("noise_params") or {}).get("sigma"), trained.get("transform", DEFAULT_TRANSFORM))
            now = (noise_name, noise_params.get("sigma"), transform_name)
            if was != now:
                say(
                    f"the model was trained with noise {was[0]} sigma={was[1]} transform {was[2]}, but is certified with "
                    f"noise {now[0]} sigma={now[1]} transform {now[2]}: certificates stay valid but will be weak"
                )
            elif surrogate_path and trained.get("latent_sigma") not in (None, chosen_latent):
                say(
                    f"the model was trained with latent sigma {trained.get('latent_sigma')}, but is certified with "
                    f"{chosen_latent}: certificates stay valid but will be weak"
                )
        if den is not None:
            from ..denoising.composed import DenoisedClassifier

            model = DenoisedClassifier(model, den)
        smoother = Smoother(
            model, noise=noise_obj, transform=transform_obj, num_classes=ckpt.num_classes, device=device,
            input_shape=ckpt.input_shape, precision=precision, channels_last=channels_last, compile=compile,
        )
        return cls(
            ckpt, smoother, dataset or ckpt.dataset, noise_params, transform_params,
            transform_name=transform_name, surrogate_path=surrogate_path, surrogate_sha256=surrogate_sha,
            latent_sigma=chosen_latent, choice=ch, warnings=tuple(given), denoiser_path=denoiser_path,
            denoiser_sha256=denoiser_sha,
        )
