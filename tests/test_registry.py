"""The plugin registry: built-ins, entry points (fake third-party plugins), failures, errors."""

from __future__ import annotations

import importlib.metadata
import sys
import types
from types import SimpleNamespace

import pytest
import torch

import gsmooth
from gsmooth.plugin import registry as registry_mod
from gsmooth.errors import DuplicateComponentError, PluginError, UnknownComponentError
from gsmooth.plugin.registry import DEFAULT_PLUGINS, DISABLE_AUTOLOAD_ENV, Registry, get_registry, reset_registry

BUILTIN_TRANSFORMS = {
    "additive", "quantized_additive", "brightness", "contrast", "gaussian_blur", "translation", "rotation",
    "scaling", "rotational_blur", "defocus_blur", "zoom_blur", "pixelate", "motion_blur",
}

BUILTIN_NOISES = {"gaussian", "laplace", "uniform", "exponential", "folded_gaussian", "one_sided_uniform"}

BUILTIN_ARCHITECTURES = {"small_cnn", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet<6n+2>", "mlp<widths>",
                         "tv:<model>"}
BUILTIN_DATASETS = {"mnist", "fashion-mnist", "fashion-mnist-sample", "cifar10", "cifar100"}
BUILTIN_COMMANDS = ("certify", "predict", "train", "train-denoiser", "surrogate", "attack", "verify", "analyze", "corrupt", "plugins")


@pytest.fixture(autouse=True)
def _restore_global_registry(monkeypatch):
    """Each test may replace the process-wide registry; put the original back afterwards."""
    saved = registry_mod._REGISTRY
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    yield
    reset_registry(saved)


# -- a third-party plugin, as a distribution would ship it ------------------------------------------------
class TentNoise(gsmooth.Noise):
    name = "fake_tent"
    norm = "l1"

    def __init__(self, *, sigma: float = 1.0):
        self.sigma = sigma
        self.validate_params()

    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        u = torch.rand((2, *shape), generator=generator, device=device, dtype=dtype)
        return (u[0] - u[1]) * self.sigma


class Brightness(gsmooth.Transform):
    name = "fake_brightness"
    param_dim = 1
    kind = "exact"

    def forward(self, x, theta):
        return x + theta.view(-1, 1, 1, 1).to(x.dtype)


def _plugin_module(modname: str, noises=(), transforms=()) -> types.ModuleType:
    mod = types.ModuleType(modname)

    @gsmooth.hookimpl
    def register_noises():
        return list(noises)

    @gsmooth.hookimpl
    def register_transforms():
        return list(transforms)

    mod.register_noises = register_noises
    mod.register_transforms = register_transforms
    return mod


class FakeEntryPoint:
    """What ``importlib.metadata.entry_points()`` yields: name, value, dist and load()."""

    def __init__(self, name, target, *, dist_name="gsmooth-fake", version="1.2.3", error=None):
        self.name, self.value, self.group = name, f"{name}_module", "gsmooth"
        self.dist = SimpleNamespace(metadata={"Name": dist_name}, version=version) if dist_name else None
        self._target, self._error = target, error

    def load(self):
        if self._error is not None:
            raise self._error
        return self._target


def _fake_registry(*eps) -> Registry:
    return Registry(entry_points=list(eps))


# -- built-ins ---------------------------------------------------------------------------------------------
def test_builtins_registered_from_default_plugins():
    assert DEFAULT_PLUGINS == ("gsmooth_plugins.noises", "gsmooth_plugins.transforms", "gsmooth.models._plugin",
                               "gsmooth.data._plugin", "gsmooth.denoising._plugin", "gsmooth.plugin._cli_commands",
                               "gsmooth.training.methods._plugin")
    reg = Registry(autoload=False)
    assert set(reg.noises) == BUILTIN_NOISES
    assert set(reg.transforms) == BUILTIN_TRANSFORMS
    for info in list(reg.noises.values()) + list(reg.transforms.values()):
        assert info.source == "builtin"
        assert info.plugin in DEFAULT_PLUGINS
        assert info.cls.__module__.startswith("gsmooth_plugins.")
    assert set(reg.architectures) == BUILTIN_ARCHITECTURES
    assert set(reg.datasets) == BUILTIN_DATASETS
    assert list(reg.commands) == list(BUILTIN_COMMANDS)
    for info in list(reg.architectures.values()) + list(reg.datasets.values()) + list(reg.commands.values()):
        assert info.source == "builtin" and info.plugin in DEFAULT_PLUGINS
    plugins = {p.name: p for p in reg.plugins()}
    assert set(plugins) == set(DEFAULT_PLUGINS)
    assert set(plugins["gsmooth_plugins.noises"].noises) == BUILTIN_NOISES
    assert set(plugins["gsmooth_plugins.transforms"].transforms) == BUILTIN_TRANSFORMS
    assert set(plugins["gsmooth.models._plugin"].architectures) == BUILTIN_ARCHITECTURES
    assert set(plugins["gsmooth.data._plugin"].datasets) == BUILTIN_DATASETS
    assert set(reg.denoisers) == set(plugins["gsmooth.denoising._plugin"].denoisers) == {"dncnn", "dncnn<D>x<W>"}
    assert plugins["gsmooth.plugin._cli_commands"].commands == list(BUILTIN_COMMANDS)
    assert plugins["gsmooth.training.methods._plugin"].training_methods == ["noise", "consistency", "smoothadv", "macer"]
    for info in reg.training_methods.values():
        assert info.source == "builtin" and info.plugin in DEFAULT_PLUGINS
    assert reg.failures == []


def test_facade_builds_components():
    assert gsmooth.noise("gaussian", sigma=0.25).sigma == 0.25
    assert gsmooth.transform("additive").name == "additive"
    assert BUILTIN_NOISES <= set(gsmooth.available_noises())
    assert "additive" in gsmooth.available_transforms()


def test_core_does_not_import_builtin_plugins_directly():
    # DESIGN §2: gsmooth/ reaches gsmooth_plugins only through DEFAULT_PLUGINS
    import pathlib

    root = pathlib.Path(gsmooth.__file__).parent
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "import gsmooth_plugins" in p.read_text() or "from gsmooth_plugins" in p.read_text()
    ]
    assert offenders == []


# -- unknown names -----------------------------------------------------------------------------------------
def test_unknown_noise_suggests_and_lists():
    with pytest.raises(UnknownComponentError) as info:
        gsmooth.noise("gausian", sigma=0.25)
    err = info.value
    assert isinstance(err, KeyError) and isinstance(err, gsmooth.GsmoothError)
    msg = str(err)
    assert "Did you mean 'gaussian'" in msg
    for name in BUILTIN_NOISES:
        assert name in msg
    assert "expected one of" in msg.lower()


def test_unknown_transform_lists_names():
    with pytest.raises(UnknownComponentError, match="additive") as info:
        gsmooth.transform("rotate_nonexistent")
    assert "Did you mean" not in str(info.value)
    with pytest.raises(UnknownComponentError, match="Did you mean 'additive'"):
        Registry(autoload=False).transform_class("addtive")


# -- third-party entry points ----------------------------------------------------------------------------
def test_fake_entry_point_registers_noise_and_transform():
    mod = _plugin_module("gsmooth_fake", noises=[TentNoise], transforms=[Brightness])
    reg = _fake_registry(FakeEntryPoint("fake", mod))
    assert reg.noise_class("fake_tent") is TentNoise
    assert reg.transform_class("fake_brightness") is Brightness
    assert reg.noises["fake_tent"].source == "gsmooth-fake 1.2.3"
    assert reg.noises["fake_tent"].plugin == "fake"
    assert BUILTIN_NOISES <= set(reg.noises)  # built-ins still there
    info = {p.name: p for p in reg.plugins()}["fake"]
    assert info.source == "gsmooth-fake 1.2.3" and info.noises == ["fake_tent"] and info.transforms == ["fake_brightness"]
    # and usable through the facade once this registry is the process-wide one
    reset_registry(reg)
    noise = gsmooth.noise("fake_tent", sigma=0.5)
    x = noise.sample((10,), generator=torch.Generator().manual_seed(0))
    assert float(x.abs().max()) <= 0.5
    out = gsmooth.transform("fake_brightness")(torch.zeros(2, 1, 2, 2), torch.tensor([[0.1], [0.2]]))
    assert torch.allclose(out[1], torch.full((1, 2, 2), 0.2))


def test_real_importlib_entry_point(monkeypatch):
    mod = _plugin_module("gsmooth_fake_ep_mod", noises=[TentNoise])
    monkeypatch.setitem(sys.modules, "gsmooth_fake_ep_mod", mod)
    ep = importlib.metadata.EntryPoint(name="fake_ep", value="gsmooth_fake_ep_mod", group="gsmooth")
    reg = _fake_registry(ep)
    assert reg.noise_class("fake_tent") is TentNoise
    assert reg.noises["fake_tent"].source == "entry point"  # no distribution metadata


def test_failing_entry_point_is_recorded_not_raised():
    good = FakeEntryPoint("good", _plugin_module("gsmooth_good", noises=[TentNoise]))
    broken = FakeEntryPoint("broken", None, dist_name="gsmooth-broken", version="0.0.1",
                            error=ImportError("No module named 'torch_nonexistent'"))
    missing = importlib.metadata.EntryPoint(name="missing", value="gsmooth_no_such_module_xyz", group="gsmooth")
    reg = _fake_registry(broken, missing, good)
    assert [f.name for f in reg.failures] == ["broken", "missing"]
    first = reg.failures[0]
    assert first.source == "gsmooth-broken 0.0.1"
    assert first.target == "broken_module"
    assert first.error == "ImportError: No module named 'torch_nonexistent'"
    assert reg.failures[1].error.startswith("ModuleNotFoundError")
    # the registry still works, with the good plugin and the built-ins
    assert reg.noise_class("fake_tent") is TentNoise
    assert reg.noise_class("gaussian").name == "gaussian"
    assert "broken" not in {p.name for p in reg.plugins()}


def test_duplicate_name_names_both_providers():
    class OtherGaussian(TentNoise):
        name = "gaussian"

    ep = FakeEntryPoint("dupe", _plugin_module("gsmooth_dupe", noises=[OtherGaussian]), dist_name="gsmooth-dupe")
    with pytest.raises(DuplicateComponentError) as info:
        _fake_registry(ep)
    msg = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "'gaussian'" in msg
    assert "gsmooth_plugins.noises" in msg and "builtin" in msg  # first provider
    assert "'dupe'" in msg and "gsmooth-dupe 1.2.3" in msg and "OtherGaussian" in msg  # second provider


def test_duplicate_between_two_third_party_plugins():
    a = FakeEntryPoint("a", _plugin_module("gsmooth_a", transforms=[Brightness]), dist_name="gsmooth-a")
    b = FakeEntryPoint("b", _plugin_module("gsmooth_b", transforms=[Brightness]), dist_name="gsmooth-b")
    with pytest.raises(DuplicateComponentError, match="fake_brightness") as info:
        _fake_registry(a, b)
    assert "gsmooth-a 1.2.3" in str(info.value) and "gsmooth-b 1.2.3" in str(info.value)


class _NotAComponent:
    name = "nope"


class _BadNorm(TentNoise):
    name = "bad_norm"
    norm = "l7"


class _BadKind(Brightness):
    name = "bad_kind"
    kind = "certified-ish"


class _Nameless(TentNoise):
    name = ""


@pytest.mark.parametrize(
    "noises, transforms, match",
    [
        ([TentNoise(sigma=1.0)], [], "expected a subclass of gsmooth.Noise"),  # an instance, not a class
        ([_NotAComponent], [], "expected a subclass of gsmooth.Noise"),
        ([Brightness], [], "expected a subclass of gsmooth.Noise"),  # a transform returned as a noise
        ([], [TentNoise], "expected a subclass of gsmooth.Transform"),
        ([], ["additive"], "expected a subclass of gsmooth.Transform"),
        ([_BadNorm], [], "norm"),
        ([], [_BadKind], "kind"),
        ([_Nameless], [], "name"),
    ],
)
def test_plugin_returning_invalid_components(noises, transforms, match):
    ep = FakeEntryPoint("bad", _plugin_module("gsmooth_bad", noises=noises, transforms=transforms))
    with pytest.raises(PluginError, match=match) as info:
        _fake_registry(ep)
    assert "'bad'" in str(info.value)
    assert isinstance(info.value, TypeError)


def test_plugin_returning_a_non_list():
    class Plugin:
        @gsmooth.hookimpl
        def register_noises(self):
            return TentNoise  # forgot the list

    with pytest.raises(PluginError, match="expected a list"):
        _fake_registry(FakeEntryPoint("bad", Plugin()))


def test_plugin_returning_none_is_empty():
    class Plugin:
        @gsmooth.hookimpl
        def register_transforms(self):
            return None

    reg = _fake_registry(FakeEntryPoint("quiet", Plugin()))
    assert set(reg.transforms) == BUILTIN_TRANSFORMS


def test_unknown_hook_is_rejected():
    class Plugin:
        @gsmooth.hookimpl
        def register_noisez(self):  # typo: pluggy's check_pending() catches it
            return [TentNoise]

    with pytest.raises(Exception, match="register_noisez"):
        _fake_registry(FakeEntryPoint("typo", Plugin()))


# -- autoload switch, reset -------------------------------------------------------------------------------
def test_disable_autoload_env(monkeypatch):
    ep = FakeEntryPoint("fake", _plugin_module("gsmooth_fake", noises=[TentNoise]))
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    reg = _fake_registry(ep)
    assert "fake_tent" not in reg.noises
    assert set(reg.noises) == BUILTIN_NOISES
    assert {p.name for p in reg.plugins()} == set(DEFAULT_PLUGINS)
    # the process-wide registry honours it too: only built-ins, whatever is installed
    reset_registry()
    assert set(get_registry().noises) == BUILTIN_NOISES
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV)
    assert "fake_tent" in _fake_registry(ep).noises


def test_autoload_false_argument():
    ep = FakeEntryPoint("fake", _plugin_module("gsmooth_fake", noises=[TentNoise]))
    assert "fake_tent" not in Registry(autoload=False, entry_points=[ep]).noises


def test_reset_registry_restores():
    original = get_registry()
    assert get_registry() is original  # built once, cached
    custom = _fake_registry(FakeEntryPoint("fake", _plugin_module("gsmooth_fake", noises=[TentNoise])))
    reset_registry(custom)
    assert get_registry() is custom
    assert gsmooth.noise("fake_tent", sigma=1.0).name == "fake_tent"
    reset_registry()
    fresh = get_registry()
    assert fresh is not custom and fresh is not original
    with pytest.raises(UnknownComponentError):
        gsmooth.noise("fake_tent", sigma=1.0)
    assert gsmooth.noise("gaussian", sigma=1.0).name == "gaussian"


def test_explicit_plugins_argument():
    mod = _plugin_module("gsmooth_only", noises=[TentNoise])
    reg = Registry(plugins=[mod], autoload=False)
    assert set(reg.noises) == {"fake_tent"}
    assert reg.noises["fake_tent"].source == "builtin"


# -- architectures, datasets and commands (hooks register_architectures / _datasets / _commands) ------------
def _tiny_net(*, input_shape, num_classes):
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(input_shape[0] * input_shape[1] * input_shape[2], num_classes))


def _zeros(split, *, root=None, download=False):
    from gsmooth.data import ImageTensorDataset

    n = 6 if split == "train" else 4
    return ImageTensorDataset(torch.zeros(n, 1, 4, 4, dtype=torch.uint8), torch.arange(n) % 2)


def _zeros_spec(name="fake_zeros", aliases=()):
    from gsmooth.data import DatasetInfo, DatasetSpec

    return DatasetSpec(DatasetInfo(name, 2, (1, 4, 4), (0.5,), (0.5,), ("a", "b")), _zeros, aliases=aliases)


def _extension_module(modname, *, architectures=None, datasets=None, commands=None):
    mod = types.ModuleType(modname)
    if architectures is not None:
        mod.register_architectures = gsmooth.hookimpl(lambda: architectures)
    if datasets is not None:
        mod.register_datasets = gsmooth.hookimpl(lambda: datasets)
    if commands is not None:
        def register_commands(subparsers):
            commands(subparsers)

        mod.register_commands = gsmooth.hookimpl(register_commands)
    return mod


def _hello_command(name="fake-hello", func=True):
    def add(subparsers):
        p = subparsers.add_parser(name, help="say hello")
        p.add_argument("--who", default="world")
        if func:
            p.set_defaults(func=lambda args: print(f"hello, {args.who}") or 3,
                           interrupted=lambda args: f"nothing kept for {args.who}")
    return add


def test_plugin_architecture_dataset_and_command_are_registered_and_used():
    from gsmooth.cli import build_parser, interrupted_message, main
    from gsmooth.data import get_dataset, list_datasets, load_dataset
    from gsmooth.models import Architecture, build_model, get_architecture, list_architectures

    arch = Architecture("fake_tiny", _tiny_net, description="one linear layer")
    mod = _extension_module("gsmooth_fake_ext", architectures=[arch], datasets=[_zeros_spec()], commands=_hello_command())
    reg = _fake_registry(FakeEntryPoint("ext", mod, dist_name="gsmooth-ext"))
    assert reg.architectures["fake_tiny"].spec is arch and reg.architectures["fake_tiny"].source == "gsmooth-ext 1.2.3"
    assert reg.datasets["fake_zeros"].plugin == "ext"
    assert "small_cnn" in reg.architectures and "mnist" in reg.datasets  # built-ins still there
    info = {p.name: p for p in reg.plugins()}["ext"]
    assert (info.architectures, info.datasets, info.commands) == (["fake_tiny"], ["fake_zeros"], ["fake-hello"])
    assert reg.commands["fake-hello"].help == "say hello" and reg.commands["certify"].plugin == "gsmooth.plugin._cli_commands"
    reset_registry(reg)
    assert "fake_tiny" in list_architectures() and "fake_zeros" in list_datasets()
    assert get_architecture("FAKE-tiny") is arch  # case-insensitive, '-' read as '_', as for the built-ins
    model = build_model("fake_tiny", num_classes=2, input_shape=(1, 4, 4), mean=0.5, std=0.5)
    assert model.arch == "fake_tiny" and model(torch.rand(3, 1, 4, 4)).shape == (3, 2)
    ds = load_dataset("fake_zeros", split="train")
    assert len(ds) == 6 and ds.name == "fake_zeros" and ds.split == "train" and ds.classes == ["a", "b"]
    assert get_dataset("Fake_Zeros").info.num_classes == 2
    # the command: in the parser after the built-ins, run by main, its Ctrl-C hint found
    parser = build_parser()
    names = list(parser._subparsers._group_actions[0].choices)
    assert names[:3] == ["certify", "predict", "train"] and names[-1] == "fake-hello"
    assert main(["fake-hello", "--who", "you"]) == 3
    assert interrupted_message(parser.parse_args(["fake-hello", "--who", "you"])) == "nothing kept for you"


def test_unknown_architecture_and_dataset_suggest_from_the_registry():
    from gsmooth.data import get_dataset
    from gsmooth.models import Architecture, get_architecture

    mod = _extension_module("gsmooth_fake_ext2", architectures=[Architecture("fake_tiny", _tiny_net)],
                            datasets=[_zeros_spec()])
    reset_registry(_fake_registry(FakeEntryPoint("ext2", mod)))
    with pytest.raises(UnknownComponentError, match="Did you mean 'fake_tiny'") as info:
        get_architecture("fake_tiyn")
    assert "small_cnn" in str(info.value) and "gsmooth plugins" in str(info.value)
    with pytest.raises(UnknownComponentError, match="Did you mean 'fake_zeros'") as info:
        get_dataset("fake_zero")
    assert "mnist" in str(info.value) and isinstance(info.value, KeyError)


def test_architecture_family_pattern_passes_its_groups():
    from gsmooth.models import Architecture, get_architecture

    seen = {}

    def wide(*, input_shape, num_classes, width):
        seen["width"] = width
        return _tiny_net(input_shape=input_shape, num_classes=num_classes)

    family = Architecture("fake_wide<k>", wide, pattern=r"fake_wide(?P<width>\d+)")
    reset_registry(_fake_registry(FakeEntryPoint("fam", _extension_module("gsmooth_fam", architectures=[family]))))
    bound = get_architecture("fake_wide12")
    assert bound.name == "fake_wide12"
    bound.build(input_shape=(1, 2, 2), num_classes=3)
    assert seen == {"width": "12"}
    with pytest.raises(UnknownComponentError):
        get_architecture("fake_wide<k>")  # the display name is not a name


@pytest.mark.parametrize("kind", ["architecture", "dataset", "dataset alias", "command"])
def test_duplicate_extension_names_name_both_providers(kind):
    from gsmooth.cli import build_parser
    from gsmooth.models import Architecture

    ext = {
        "architecture": dict(architectures=[Architecture("small_cnn", _tiny_net)]),
        "dataset": dict(datasets=[_zeros_spec("mnist")]),
        "dataset alias": dict(datasets=[_zeros_spec("fake_zeros", aliases=("Fashion_MNIST",))]),
        "command": dict(commands=_hello_command("certify")),
    }[kind]
    ep = FakeEntryPoint("dupe", _extension_module("gsmooth_dupe_ext", **ext), dist_name="gsmooth-dupe")
    with pytest.raises(DuplicateComponentError) as info:
        reg = _fake_registry(ep)
        reset_registry(reg)
        build_parser()
    msg = str(info.value)
    first = {"architecture": "gsmooth.models._plugin", "command": "gsmooth.plugin._cli_commands"}.get(kind, "gsmooth.data._plugin")
    assert first in msg and "builtin" in msg and "'dupe'" in msg and "gsmooth-dupe 1.2.3" in msg, msg


def test_duplicate_command_between_two_plugins_and_the_cli_says_it_in_one_line(capsys):
    from gsmooth.cli import main

    a = FakeEntryPoint("a", _extension_module("gsmooth_ca", commands=_hello_command()), dist_name="gsmooth-a")
    b = FakeEntryPoint("b", _extension_module("gsmooth_cb", commands=_hello_command()), dist_name="gsmooth-b")
    reset_registry(_fake_registry(a, b))
    assert main(["plugins"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'fake-hello' is registered twice" in err
    assert "gsmooth-a 1.2.3" in err and "gsmooth-b 1.2.3" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "ext, match",
    [
        (dict(architectures=[_tiny_net]), "expected gsmooth.models.Architecture objects"),
        (dict(architectures=_tiny_net), "expected a list of gsmooth.models.Architecture"),
        (dict(datasets=["mnist"]), "expected gsmooth.data.DatasetSpec objects"),
    ],
)
def test_plugin_returning_invalid_extensions(ext, match):
    with pytest.raises(PluginError, match=match) as info:
        _fake_registry(FakeEntryPoint("bad", _extension_module("gsmooth_bad_ext", **ext)))
    assert "'bad'" in str(info.value)


def test_invalid_specs_are_typed_errors():
    from gsmooth.data import DatasetInfo, DatasetSpec
    from gsmooth.models import Architecture

    with pytest.raises(gsmooth.InvalidParameterError, match="expected a callable build"):
        Architecture("x", build=None)
    with pytest.raises(gsmooth.InvalidParameterError, match="expected pattern to be a regular expression"):
        Architecture("x", _tiny_net, pattern="(")
    with pytest.raises(gsmooth.InvalidParameterError, match="expected 2 class names, got 1"):
        DatasetSpec(DatasetInfo("x", 2, (1, 4, 4), (0.5,), (0.5,), ("a",)), _zeros)
    with pytest.raises(gsmooth.InvalidParameterError, match=r"expected input_shape \(C, H, W\)"):
        DatasetSpec(DatasetInfo("x", 2, (4, 4), (0.5,), (0.5,), ("a", "b")), _zeros)
    with pytest.raises(gsmooth.InvalidParameterError, match="std > 0"):
        DatasetSpec(DatasetInfo("x", 2, (1, 4, 4), (0.5,), (0.0,), ("a", "b")), _zeros)


def test_failing_command_hook_is_a_plugin_error_in_one_line(capsys):
    from gsmooth.cli import main

    def broken(subparsers):
        raise RuntimeError("no luck")

    reset_registry(_fake_registry(FakeEntryPoint("brk", _extension_module("gsmooth_brk", commands=broken))))
    assert main(["plugins"]) == 2
    err = capsys.readouterr().err
    assert "plugin 'brk': register_commands() failed: RuntimeError: no luck" in err and "Traceback" not in err


def test_plugin_command_without_run_function(capsys):
    from gsmooth.cli import main

    reset_registry(_fake_registry(FakeEntryPoint("nf", _extension_module("gsmooth_nf", commands=_hello_command(func=False)))))
    assert main(["fake-hello"]) == 2
    assert "expected a run function (parser.set_defaults(func=run))" in capsys.readouterr().err


def test_plugin_dataset_loader_output_is_checked():
    from gsmooth.data import DatasetFormatError, DatasetInfo, DatasetSpec, ImageTensorDataset, load_dataset

    def wrong_shape(split, *, root=None, download=False):
        return ImageTensorDataset(torch.zeros(2, 1, 5, 5, dtype=torch.uint8), torch.tensor([0, 1]))

    def wrong_labels(split, *, root=None, download=False):
        return ImageTensorDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 2]))

    info = DatasetInfo("fake_bad", 2, (1, 4, 4), (0.5,), (0.5,), ("a", "b"))
    for load, match in ((wrong_shape, r"expected images of shape \(1, 4, 4\), got \(1, 5, 5\)"),
                        (wrong_labels, r"expected labels in 0..1, got 0..2"),
                        (lambda split, **kw: (torch.zeros(1), torch.zeros(1)), "expected its loader to return")):
        reset_registry(_fake_registry(FakeEntryPoint("bad", _extension_module("gsmooth_bad_ds", datasets=[DatasetSpec(info, load)]))))
        with pytest.raises(DatasetFormatError, match=match):
            load_dataset("fake_bad")


def test_builtin_commands_keep_their_interrupt_hints():
    from gsmooth.cli import build_parser, interrupted_message
    from gsmooth.cli import train as train_cli

    reset_registry(Registry(autoload=False))
    args = build_parser().parse_args(["train", "--dataset", "mnist", "--out", "never-written.pt"])
    assert interrupted_message(args) == train_cli.interrupted(args) != ""


def test_gsmooth_plugins_reports_a_broken_plugin_and_the_other_commands_still_work(capsys):
    from gsmooth.cli import main

    broken = FakeEntryPoint("broken", None, dist_name="gsmooth-broken", error=ImportError("No module named 'nope'"))
    good = FakeEntryPoint("ext", _extension_module("gsmooth_ok_ext", commands=_hello_command()))
    reset_registry(_fake_registry(broken, good))
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "failed to load:\n    broken = broken_module  [gsmooth-broken 1.2.3]: ImportError: No module named 'nope'" in out
    assert "command    fake-hello" in out and "command    certify" in out
    assert main(["fake-hello"]) == 3


def test_library_use_of_the_registry_does_not_import_the_cli():
    import subprocess

    code = ("import sys, gsmooth; gsmooth.noise('gaussian', sigma=1.0); gsmooth.models.get_architecture('small_cnn'); "
            "gsmooth.data.get_dataset('mnist'); print(sorted(m for m in sys.modules if m.startswith('gsmooth.cli')))")
    out = subprocess.run([sys.executable, "-c", "import gsmooth.models, gsmooth.data; " + code],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
