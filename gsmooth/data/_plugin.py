"""The built-in datasets as a plugin: registered from the registry's ``DEFAULT_PLUGINS`` through the
``register_datasets`` hook, exactly like a third-party plugin's."""

from __future__ import annotations

from ..plugin.hookspecs import hookimpl
from .datasets import BUILTIN_DATASETS


@hookimpl
def register_datasets():
    return list(BUILTIN_DATASETS)
