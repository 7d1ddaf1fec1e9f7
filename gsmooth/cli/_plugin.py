"""The built-in commands as a plugin: registered from the registry's ``DEFAULT_PLUGINS`` through the
``register_commands`` hook, exactly like a third-party plugin's commands.

The command modules are imported when the hook runs (when the ``gsmooth`` parser is built), not when
the registry loads this module, so library users who never build the parser do not import the CLI.
"""

from __future__ import annotations

from ..plugin.hookspecs import hookimpl

#: The built-in commands, in the order ``gsmooth --help`` lists them (module names under gsmooth.cli).
BUILTIN_COMMANDS = ("certify", "predict", "train", "surrogate", "attack", "analyze", "corrupt", "plugins")


@hookimpl
def register_commands(subparsers):
    import importlib

    for name in BUILTIN_COMMANDS:
        module = importlib.import_module(f"{__package__}.{name}")
        module.add_parser(subparsers)
        hint = getattr(module, "interrupted", None)
        if hint is not None:
            subparsers.choices[name].set_defaults(interrupted=hint)
