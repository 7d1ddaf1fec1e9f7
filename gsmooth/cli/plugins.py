"""``gsmooth plugins``: every plugin, its noises and transforms (with their defaults), where each comes from, and failures."""

from __future__ import annotations

from ..core.defaults import defaults_of
from ..plugin.registry import get_registry


def add_parser(sub) -> None:
    p = sub.add_parser(
        "plugins",
        help="list plugins, their noises and transforms, and plugins that failed to load",
        description=(
            "List every registered plugin (built-in ones and third-party ones found through the entry-point "
            "group 'gsmooth'), with the noises and transforms each provides, and the plugins that failed to "
            "load with the reason. Set GSMOOTH_DISABLE_PLUGIN_AUTOLOAD=1 to load only the built-ins."
        ),
    )
    p.set_defaults(func=run)


def _defaults_text(cls) -> str:
    """A transform's declared defaults in one line (``none``: pass --noise/--sigma/--range)."""
    d = defaults_of(cls)
    return d.summary() if d is not None else "none (pass --noise/--sigma/--range)"


def run(args) -> int:
    reg = get_registry()
    for info in reg.plugins():
        print(f"{info.name}  [{info.source}]")
        for name in info.noises:
            cls = reg.noises[name].cls
            label = "parameter" if cls.norm == "param" else cls.norm
            print(f"    noise      {name:<20} {label:<10} {cls.__module__}.{cls.__qualname__}")
        for name in info.transforms:
            cls = reg.transforms[name].cls
            print(f"    transform  {name:<20} {cls.kind:<10} {cls.__module__}.{cls.__qualname__}")
            print(f"               {'':<20} defaults: {_defaults_text(cls)}")
        if not info.noises and not info.transforms:
            print("    (no components)")
    if reg.failures:
        print("\nfailed to load:")
        for f in reg.failures:
            print(f"    {f.name} = {f.target}  [{f.source}]: {f.error}")
    return 0
