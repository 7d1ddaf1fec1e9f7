"""The plugin registry: one pluggy ``PluginManager`` that knows every noise, transform, architecture,
dataset, denoiser architecture and command.

Order of registration (pytest's model): the built-in plugins listed in :data:`DEFAULT_PLUGINS`,
then every entry point of the group ``gsmooth`` (unless the environment variable
``GSMOOTH_DISABLE_PLUGIN_AUTOLOAD`` is set), then ``check_pending()``. Built-ins and third-party
plugins go through the same code path.

A plugin that fails to import is *recorded* (see :attr:`Registry.failures` and ``gsmooth
plugins``) instead of breaking every command. A plugin that returns something that is not a
component, or two plugins that claim one name, fail loudly: that is a bug a user must see.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from dataclasses import dataclass, field
from typing import Iterable

import pluggy

from . import hookspecs
from ..errors import DuplicateComponentError, GsmoothError, InvalidParameterError, PluginError, UnknownComponentError, suggest
from ..core.noise import Noise, check_norm
from ..core.defaults import TransformDefaults
from ..core.transform import KINDS, Transform
from ..training.methods.base import TrainingMethod

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "Registry",
    "ComponentInfo",
    "ExtensionInfo",
    "CommandInfo",
    "PluginInfo",
    "PluginFailure",
    "get_registry",
    "reset_registry",
    "suggest",
]

#: Built-in plugins, imported by module name and registered like any third-party plugin.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "gsmooth_plugins.noises",
    "gsmooth_plugins.transforms",
    "gsmooth.models._plugin",
    "gsmooth.data._plugin",
    "gsmooth.denoising._plugin",
    "gsmooth.plugin._cli_commands",
    "gsmooth.training.methods._plugin",
)
ENTRY_POINT_GROUP = "gsmooth"
DISABLE_AUTOLOAD_ENV = "GSMOOTH_DISABLE_PLUGIN_AUTOLOAD"


@dataclass(frozen=True)
class ComponentInfo:
    """A registered noise, transform or training-method class and who provided it."""

    name: str
    cls: type
    plugin: str  # plugin name in the plugin manager
    source: str  # "builtin" or "<distribution> <version>"


@dataclass(frozen=True)
class ExtensionInfo:
    """A registered architecture or dataset spec (``gsmooth.models.Architecture``,
    ``gsmooth.data.DatasetSpec``) and who provided it."""

    name: str
    spec: object
    plugin: str
    source: str


@dataclass(frozen=True)
class CommandInfo:
    """A ``gsmooth`` subcommand added by a plugin's ``register_commands`` hook."""

    name: str
    help: str
    plugin: str
    source: str


@dataclass
class PluginInfo:
    name: str
    source: str
    noises: list[str] = field(default_factory=list)
    transforms: list[str] = field(default_factory=list)
    architectures: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    denoisers: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    training_methods: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PluginFailure:
    name: str
    target: str  # entry point value or module
    source: str
    error: str


def _unknown(kind: str, name: str, choices: Iterable[str]) -> UnknownComponentError:
    choices = sorted(choices)
    return UnknownComponentError(
        f"unknown {kind} {name!r}.{suggest(name, choices)} Expected one of: {', '.join(choices) or '(none)'}"
        " (see `gsmooth plugins`)."
    )


class Registry:
    """Collects components from plugins; look them up by name.

    Args:
        plugins: modules/objects to register first; default: import :data:`DEFAULT_PLUGINS`.
        autoload: load entry points of the group ``gsmooth`` (also disabled by the environment
            variable ``GSMOOTH_DISABLE_PLUGIN_AUTOLOAD``).
        entry_points: override the entry points to load (tests use fake ones).
    """

    def __init__(self, *, plugins=None, autoload: bool = True, entry_points=None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        self._sources: dict[str, str] = {}
        if plugins is None:
            for modname in DEFAULT_PLUGINS:
                self.register(importlib.import_module(modname), name=modname, source="builtin")
        else:
            for plugin in plugins:
                self.register(plugin, source="builtin")
        if autoload and not os.environ.get(DISABLE_AUTOLOAD_ENV):
            eps = entry_points if entry_points is not None else importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
            self._load_entry_points(eps)
        self.pm.check_pending()
        self.noises: dict[str, ComponentInfo] = {}
        self.transforms: dict[str, ComponentInfo] = {}
        self.training_methods: dict[str, ComponentInfo] = {}
        self._collect()
        self.architectures: dict[str, ExtensionInfo] = {}
        self.datasets: dict[str, ExtensionInfo] = {}
        self.denoisers: dict[str, ExtensionInfo] = {}
        self._collect_extensions()
        self._commands: dict[str, CommandInfo] | None = None

    # -- registration ----------------------------------------------------------------------------
    def register(self, plugin, *, name: str | None = None, source: str = "builtin") -> str:
        name = name or getattr(plugin, "__name__", None) or repr(plugin)
        registered = self.pm.register(plugin, name=name)
        self._sources[registered] = source
        return registered

    def _load_entry_points(self, eps) -> None:
        for ep in eps:
            dist = getattr(ep, "dist", None)
            source = f"{dist.metadata['Name']} {dist.version}" if dist is not None else "entry point"
            if self.pm.is_blocked(ep.name):
                continue
            if self.pm.has_plugin(ep.name):
                # pluggy keys plugins by name: a second distribution using the same entry-point
                # name would otherwise vanish without a word.
                self.failures.append(
                    PluginFailure(ep.name, ep.value, source,
                                  f"entry-point name {ep.name!r} is already used by plugin from "
                                  f"{self._sources.get(ep.name, '?')}; rename one of them")
                )
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001 - reported by `gsmooth plugins`
                self.failures.append(PluginFailure(ep.name, ep.value, source, f"{type(exc).__name__}: {exc}"))
                continue
            self.register(plugin, name=ep.name, source=source)

    def _collect(self) -> None:
        for hook, table, base, kind in (
            (self.pm.hook.register_noises, self.noises, Noise, "noise"),
            (self.pm.hook.register_transforms, self.transforms, Transform, "transform"),
            (self.pm.hook.register_training_methods, self.training_methods, TrainingMethod, "training method"),
        ):
            for impl in hook.get_hookimpls():
                classes = impl.function()
                if classes is None:
                    classes = []
                if not isinstance(classes, (list, tuple)):
                    raise PluginError(
                        f"plugin {impl.plugin_name!r}: {hook.name}() expected a list of {base.__name__} "
                        f"subclasses, got {type(classes).__name__}"
                    )
                for cls in classes:
                    self._add(table, cls, base, kind, impl.plugin_name)

    def _add(self, table, cls, base, kind, plugin_name) -> None:
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise PluginError(
                f"plugin {plugin_name!r}: expected a subclass of "
                f"{'gsmooth.training.methods' if base is TrainingMethod else 'gsmooth'}.{base.__name__}, got {cls!r}"
            )
        name = getattr(cls, "name", "")
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin_name!r}: {cls.__name__} expected a non-empty `name` string, got {name!r}")
        if base is Noise:
            try:
                check_norm(cls)
            except InvalidParameterError as exc:
                raise PluginError(f"plugin {plugin_name!r}: {exc}") from None
        elif base is TrainingMethod:
            pass  # its parameters are checked when it is built (TrainConfig.validate)
        elif cls.kind not in KINDS:
            raise PluginError(f"plugin {plugin_name!r}: {cls.__name__}.kind expected one of {KINDS}, got {cls.kind!r}")
        elif not (cls.defaults is None or isinstance(cls.defaults, TransformDefaults)):
            raise PluginError(
                f"plugin {plugin_name!r}: {cls.__name__}.defaults expected a gsmooth.TransformDefaults or None, "
                f"got {type(cls.defaults).__name__}"
            )
        info = ComponentInfo(name, cls, plugin_name, self._sources.get(plugin_name, "?"))
        if name in table:
            other = table[name]
            raise DuplicateComponentError(
                f"{kind} name {name!r} is registered twice: by plugin {other.plugin!r} ({other.source}, "
                f"{other.cls.__module__}.{other.cls.__qualname__}) and by plugin {plugin_name!r} "
                f"({info.source}, {cls.__module__}.{cls.__qualname__}); uninstall or rename one."
            )
        table[name] = info

    def _collect_extensions(self) -> None:
        from ..data.datasets import DatasetSpec
        from ..denoising.model import DenoiserArchitecture
        from ..models.architectures import Architecture

        for hook, table, base, kind in (
            (self.pm.hook.register_architectures, self.architectures, Architecture, "architecture"),
            (self.pm.hook.register_datasets, self.datasets, DatasetSpec, "dataset"),
            (self.pm.hook.register_denoisers, self.denoisers, DenoiserArchitecture, "denoiser architecture"),
        ):
            taken: dict[str, str] = {}  # every name and alias -> the name it belongs to
            for impl in hook.get_hookimpls():
                try:
                    specs = impl.function()
                except GsmoothError as exc:  # e.g. a spec that fails its own validation
                    raise PluginError(f"plugin {impl.plugin_name!r}: {hook.name}(): {exc}") from exc
                if specs is None:
                    specs = []
                if not isinstance(specs, (list, tuple)):
                    raise PluginError(
                        f"plugin {impl.plugin_name!r}: {hook.name}() expected a list of "
                        f"gsmooth.{base.__module__.split('.')[1]}.{base.__name__}, got {type(specs).__name__}"
                    )
                for spec in specs:
                    if not isinstance(spec, base):
                        raise PluginError(
                            f"plugin {impl.plugin_name!r}: {hook.name}() expected "
                            f"gsmooth.{base.__module__.split('.')[1]}.{base.__name__} objects, got {spec!r}"
                        )
                    info = ExtensionInfo(spec.name, spec, impl.plugin_name, self._sources.get(impl.plugin_name, "?"))
                    for key in (spec.name, *getattr(spec, "aliases", ())):
                        owner = taken.get(key.lower())
                        if owner is not None:
                            other = table[owner]
                            raise DuplicateComponentError(
                                f"{kind} name {key!r} is registered twice: by plugin {other.plugin!r} "
                                f"({other.source}, {other.name!r}) and by plugin {impl.plugin_name!r} "
                                f"({info.source}, {spec.name!r}); uninstall or rename one."
                            )
                    for key in (spec.name, *getattr(spec, "aliases", ())):
                        taken[key.lower()] = spec.name
                    table[spec.name] = info

    def add_commands(self, subparsers) -> dict[str, CommandInfo]:
        """Call every plugin's ``register_commands(subparsers)`` on the ``argparse`` sub-parsers
        action ``subparsers`` (built-ins first, in registration order).

        Returns:
            ``{command name: CommandInfo}`` for the commands added (aliases included).

        Raises:
            DuplicateComponentError: a plugin adds a command name already taken (both named).
            PluginError: a plugin's hook raised (the plugin is named).
        """
        added: dict[str, CommandInfo] = {}
        add_parser = subparsers.add_parser
        for impl in self.pm.hook.register_commands.get_hookimpls():
            source = self._sources.get(impl.plugin_name, "?")

            def checked(name, *args, _plugin=impl.plugin_name, _source=source, **kwargs):
                for key in (name, *kwargs.get("aliases", ())):
                    if key in added or key in subparsers.choices:
                        other = added.get(key)
                        by = f"plugin {other.plugin!r} ({other.source})" if other else "the parser itself"
                        raise DuplicateComponentError(
                            f"command name {key!r} is registered twice: by {by} and by plugin "
                            f"{_plugin!r} ({_source}); uninstall or rename one."
                        )
                parser = add_parser(name, *args, **kwargs)
                info = CommandInfo(name, kwargs.get("help") or "", _plugin, _source)
                for key in (name, *kwargs.get("aliases", ())):
                    added[key] = info
                return parser

            subparsers.add_parser = checked
            try:
                impl.function(**{arg: subparsers for arg in impl.argnames})
            except GsmoothError:
                raise
            except Exception as exc:  # noqa: BLE001 - name the plugin, one line
                raise PluginError(
                    f"plugin {impl.plugin_name!r}: register_commands() failed: {type(exc).__name__}: {exc}"
                ) from exc
            finally:
                del subparsers.add_parser
        self._commands = added
        return added

    @property
    def commands(self) -> dict[str, CommandInfo]:
        """``{command name: CommandInfo}``: the subcommands the plugins add (built on first use, on a
        throwaway parser, when no ``gsmooth`` parser was built with :meth:`add_commands`)."""
        if self._commands is None:
            import argparse

            self.add_commands(argparse.ArgumentParser(prog="gsmooth").add_subparsers())
        return self._commands

    # -- lookup ----------------------------------------------------------------------------------
    def noise_class(self, name: str) -> type[Noise]:
        try:
            return self.noises[name].cls
        except KeyError:
            raise _unknown("noise", name, self.noises) from None

    def transform_class(self, name: str) -> type[Transform]:
        try:
            return self.transforms[name].cls
        except KeyError:
            raise _unknown("transform", name, self.transforms) from None

    def training_method_class(self, name: str) -> type[TrainingMethod]:
        """The registered :class:`~gsmooth.training.methods.TrainingMethod` ``name`` (``"noise"``,
        ``"consistency"``, ``"smoothadv"``, ``"macer"``, or a plugin's)."""
        try:
            return self.training_methods[name].cls
        except (KeyError, TypeError):
            raise _unknown("training method", name, self.training_methods) from None

    def plugins(self) -> list[PluginInfo]:
        """Every registered plugin with the components it provides, in registration order."""
        out: dict[str, PluginInfo] = {}
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            out[name] = PluginInfo(name, self._sources.get(name, "?"))
        for info in self.noises.values():
            out[info.plugin].noises.append(info.name)
        for info in self.transforms.values():
            out[info.plugin].transforms.append(info.name)
        for info in self.training_methods.values():
            out[info.plugin].training_methods.append(info.name)
        for info in self.architectures.values():
            out[info.plugin].architectures.append(info.name)
        for info in self.datasets.values():
            out[info.plugin].datasets.append(info.name)
        for info in self.denoisers.values():
            out[info.plugin].denoisers.append(info.name)
        for name, cmd in self.commands.items():
            if name == cmd.name:  # aliases are listed with their command
                out[cmd.plugin].commands.append(name)
        return list(out.values())


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, built on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry()
    return _REGISTRY


def reset_registry(registry: Registry | None = None) -> None:
    """Replace (or forget) the process-wide registry; for tests and for hosts that add plugins."""
    global _REGISTRY
    _REGISTRY = registry
