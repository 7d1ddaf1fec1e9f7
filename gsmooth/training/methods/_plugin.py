"""The built-in training methods as a plugin: registered from the registry's ``DEFAULT_PLUGINS`` through
the ``register_training_methods`` hook, exactly like a third-party plugin's."""

from __future__ import annotations

from ...plugin.hookspecs import hookimpl
from . import BUILTIN_TRAINING_METHODS


@hookimpl
def register_training_methods():
    return list(BUILTIN_TRAINING_METHODS)
