"""The built-in denoiser architectures as a plugin: registered from the registry's ``DEFAULT_PLUGINS``
through the ``register_denoisers`` hook, exactly like a third-party plugin's."""

from __future__ import annotations

from ..plugin.hookspecs import hookimpl
from .model import BUILTIN_DENOISERS


@hookimpl
def register_denoisers():
    return list(BUILTIN_DENOISERS)
