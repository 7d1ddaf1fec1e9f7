"""The built-in architectures as a plugin: registered from the registry's ``DEFAULT_PLUGINS``
through the ``register_architectures`` hook, exactly like a third-party plugin's."""

from __future__ import annotations

from ..plugin.hookspecs import hookimpl
from .architectures import BUILTIN_ARCHITECTURES


@hookimpl
def register_architectures():
    return list(BUILTIN_ARCHITECTURES)
