"""The smoothing a training run uses: the caller's choices, then (for a resumed run) the saved
training configuration, then the transform's defaults — the training counterpart of
:func:`gsmooth.run.smoother_setup.resolve_smoothing`, in the library so that ``gsmooth train`` only
parses its arguments and :class:`gsmooth.training.trainer.TrainConfig` gets resolved values."""

from __future__ import annotations

from typing import Mapping

from ..errors import InvalidParameterError
from ..run.smoother_setup import OPTION_NAMES  # how messages name the choices (the CLI passes its flags)

__all__ = ["resolve_training_smoothing"]

#: σ (and σ_ξ) of a training run when neither the flags, the resumed checkpoint nor the transform's
#: ``defaults`` give one (pixel noise, whose table the CLI does not consult, and transforms that declare
#: no defaults): ``gsmooth train``'s documented ``--sigma`` default.
UNDECLARED_SIGMA = 0.25


def resolve_training_smoothing(
    transform: str,
    *,
    noise: str | None = None,
    sigma: float | None = None,
    surrogate: str | None = None,
    latent_sigma: float | None = None,
    dataset: str = "DATASET",
    saved: Mapping | None = None,
    names: Mapping[str, str] = OPTION_NAMES,
) -> dict:
    """Noise, σ, surrogate and σ_ξ of a training run on ``transform``.

    Args:
        transform: registered transform name.
        noise, sigma, surrogate, latent_sigma: the caller's choices (None: not given).
        dataset: the dataset trained on (named in the hint to train a surrogate).
        saved: the training configuration of the checkpoint a run resumes (``{}``: a new run).
        names: how messages name the choices (the CLI passes ``--sigma``, ``--surrogate PATH``).

    Returns:
        ``{"noise": name, "sigma": σ, "surrogate": path or None, "latent_sigma": σ_ξ or None}``:
        the choices, then ``saved`` (surrogate and σ_ξ, for the same transform), then the transform's
        defaults (:mod:`gsmooth.core.defaults`; additive: Gaussian σ = 0.25; σ_ξ 0.25).

    Raises:
        UnknownComponentError: an unknown transform or noise name.
        InvalidParameterError: no σ known for the noise, or a transform of kind ``empirical``
            without a surrogate.

    Example:
        >>> resolve_training_smoothing("additive")
        {'noise': 'gaussian', 'sigma': 0.25, 'surrogate': None, 'latent_sigma': None}
        >>> resolve_training_smoothing("brightness")["sigma"]
        0.2
    """
    from ..core.defaults import DEFAULT_NOISE, defaults_of
    from ..plugin.registry import get_registry

    saved = saved or {}
    reg = get_registry()
    transform_cls = reg.transform_class(transform)
    table = defaults_of(transform_cls) if transform_cls.param_dim is not None else None
    noise = noise or (table.noise if table is not None else DEFAULT_NOISE)
    reg.noise_class(noise)
    if sigma is not None:
        pass
    elif table is not None and table.noise == noise:
        sigma = table.sigma
    elif table is None:
        sigma = UNDECLARED_SIGMA
    else:
        raise InvalidParameterError(f"expected {names['sigma']} for noise {noise!r} with transform {transform!r}, got none")
    if surrogate is None and saved.get("transform") == transform:
        surrogate = saved.get("surrogate")
    if surrogate is not None:
        if latent_sigma is None and saved.get("transform") == transform:
            latent_sigma = saved.get("latent_sigma")
        if latent_sigma is None and table is not None:
            latent_sigma = table.latent_sigma
        if latent_sigma is None:
            latent_sigma = UNDECLARED_SIGMA
    else:
        latent_sigma = None
        if transform_cls.kind == "empirical":
            raise InvalidParameterError(
                f"transform {transform!r} is of kind 'empirical': it is certified through a GSmooth surrogate, and the "
                f"base model must be trained on that surrogate's outputs. Expected {names['surrogate']} (train one with "
                f"`gsmooth surrogate train --transform {transform} --dataset {dataset} --out "
                f"{transform}_surrogate.pt`), got none"
            )
    return {"noise": noise, "sigma": sigma, "surrogate": surrogate, "latent_sigma": latent_sigma}
