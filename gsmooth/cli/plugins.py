"""``gsmooth plugins``: every plugin, its noises, transforms, training methods, architectures, datasets and commands,
where each comes from, and failures."""

from __future__ import annotations

from ..core.defaults import defaults_of
from ..plugin.registry import get_registry


def add_parser(sub) -> None:
    p = sub.add_parser(
        "plugins",
        help="list plugins, their noises, transforms, training methods, architectures, datasets and commands, and plugins that failed to load",
        description=(
            "List every registered plugin (built-in ones and third-party ones found through the entry-point "
            "group 'gsmooth'), with the noises, transforms, training methods, architectures, datasets and commands each provides, "
            "and the plugins that failed to "
            "load with the reason. Set GSMOOTH_DISABLE_PLUGIN_AUTOLOAD=1 to load only the built-ins."
        ),
    )
    p.set_defaults(func=run)


def _defaults_text(cls) -> str:
    """A transform's declared defaults in one line (``none``: pass --noise/--sigma/--range)."""
    d = defaults_of(cls)
    return d.summary() if d is not None else "none (pass --noise/--sigma/--range)"


def _print_extensions(reg, info) -> None:
    """The architectures, datasets, denoisers and commands a plugin provides (hooks register_architectures,
    register_datasets, register_denoisers, register_commands)."""
    for name in info.architectures:
        spec = reg.architectures[name].spec
        builder = getattr(spec.build, "__qualname__", type(spec.build).__qualname__)
        where = f"{getattr(spec.build, '__module__', '?')}.{builder}"
        print(f"    arch       {name:<20} {'family' if spec.pattern else '':<10} {spec.description or where}")
    for name in info.datasets:
        spec = reg.datasets[name].spec
        shape = "x".join(str(v) for v in spec.info.input_shape)
        extra = f"{spec.info.num_classes} classes" + (f"; {spec.description}" if spec.description else "")
        print(f"    dataset    {name:<20} {shape:<10} {extra}")
    for name in info.denoisers:
        spec = reg.denoisers[name].spec
        print(f"    denoiser   {name:<20} {'family' if spec.pattern else '':<10} {spec.description}")
    for name in info.commands:
        print(f"    command    {name:<20} {'':<10} {reg.commands[name].help}")


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
        for name in info.training_methods:
            cls = reg.training_methods[name].cls
            params = ", ".join(cls.param_names()) or "no parameters"
            print(f"    method     {name:<20} {'training':<10} {cls.__module__}.{cls.__qualname__} ({params})")
        _print_extensions(reg, info)
        if not (info.noises or info.transforms or info.training_methods or info.architectures or info.datasets
                or info.denoisers or info.commands):
            print("    (no components)")
    if reg.failures:
        print("\nfailed to load:")
        for f in reg.failures:
            print(f"    {f.name} = {f.target}  [{f.source}]: {f.error}")
    return 0
