"""The built-in commands (``gsmooth.cli.*``) as a plugin: registered from the registry's
``DEFAULT_PLUGINS`` through the ``register_commands`` hook, exactly like a third-party plugin's.

This module lives outside ``gsmooth.cli`` and imports the command modules only when the hook runs
(when the ``gsmooth`` parser is built): building the registry for library use (``gsmooth.noise``,
``Smoother``) never imports the command line.
"""

from __future__ import annotations

from .hookspecs import hookimpl

#: The built-in commands, in the order ``gsmooth --help`` lists them (module names under gsmooth.cli, ``-`` read as ``_``).
BUILTIN_COMMANDS = ("certify", "predict", "train", "train-denoiser", "surrogate", "attack", "verify", "analyze", "corrupt", "plugins")


@hookimpl
def register_commands(subparsers):
    import importlib

    for name in BUILTIN_COMMANDS:
        module = importlib.import_module(f"gsmooth.cli.{name.replace('-', '_')}")
        module.add_parser(subparsers)
        hint = getattr(module, "interrupted", None)
        if hint is not None:
            subparsers.choices[name].set_defaults(interrupted=hint)
