"""Build registered components by name: ``gsmooth.noise("gaussian", sigma=0.25)``."""

from __future__ import annotations

import inspect

from ..errors import InvalidParameterError
from ..core.noise import Noise
from .registry import get_registry
from ..core.transform import Transform

__all__ = ["noise", "transform", "training_method", "available_noises", "available_transforms",
           "available_training_methods", "check_keywords"]


def check_keywords(what: str, name: str, cls: type, params: dict) -> None:
    """Refuse, with an :class:`~gsmooth.errors.InvalidParameterError` naming the component and its
    parameters, keyword arguments that ``cls(**params)`` would reject with a bare ``TypeError``
    (an unknown name, a missing required one)."""
    try:
        inspect.signature(cls).bind(**params)
    except TypeError as exc:
        names = cls.param_names() if hasattr(cls, "param_names") else []
        raise InvalidParameterError(
            f"{what} {name!r}: expected keyword parameters among ({', '.join(names) or 'none'}), got "
            f"{', '.join(f'{k}={v!r}' for k, v in params.items()) or 'none'} ({exc})"
        ) from None
    except ValueError:  # no signature to inspect (a builtin): let the call decide
        return


def noise(name: str, **params) -> Noise:
    """Instantiate the registered noise ``name`` with keyword hyper-parameters (``sigma`` …).

    Example:
        >>> import gsmooth
        >>> gsmooth.noise("laplace", sigma=0.5)
        LaplaceNoise(sigma=0.5)
    """
    cls = get_registry().noise_class(name)
    check_keywords("noise", name, cls, params)
    return cls(**params)


def transform(name: str, **params) -> Transform:
    """Instantiate the registered transform ``name`` with keyword hyper-parameters."""
    cls = get_registry().transform_class(name)
    check_keywords("transform", name, cls, params)
    return cls(**params)


def training_method(name: str, **params):
    """Instantiate the registered training method ``name`` (``"noise"``, ``"consistency"``, ``"smoothadv"``,
    ``"macer"`` …) with keyword hyper-parameters: what ``gsmooth train`` calls once per batch
    (:class:`gsmooth.training.methods.TrainingMethod`).

    Raises:
        UnknownComponentError: no method of that name (the message lists the registered ones).
        InvalidParameterError: an unknown, missing or out-of-range parameter.

    Example:
        >>> import gsmooth
        >>> gsmooth.training_method("macer", lam=6.0, copies=8)
        MacerTraining(lam=6.0, gamma=8.0, beta=16.0, copies=8, warmup=0)
    """
    cls = get_registry().training_method_class(name)
    check_keywords("training method", name, cls, params)
    return cls(**params)


def available_training_methods() -> list[str]:
    return sorted(get_registry().training_methods)


def available_noises() -> list[str]:
    return sorted(get_registry().noises)


def available_transforms() -> list[str]:
    return sorted(get_registry().transforms)
