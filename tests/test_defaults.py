"""Per-transform defaults are a capability of the transform class (``Transform.defaults``, a
:class:`gsmooth.TransformDefaults`), not a table keyed by built-in names: the built-ins declare
theirs, a third-party transform's are used by ``train``, ``certify`` and surrogate training like the
built-ins', and ``gsmooth plugins`` shows them."""

from __future__ import annotations

import importlib

import json
import math
import re
import shutil
from pathlib import Path

import pytest
import torch

import gsmooth
import gsmooth_plugins.noises
import gsmooth_plugins.transforms
from gsmooth.cli import main
from gsmooth.core import defaults as defaults_module
from gsmooth.core.defaults import DEFAULT_SLICES, TransformDefaults, defaults_of, defaults_table, require_defaults
from gsmooth.errors import InvalidParameterError, PluginError, UnknownComponentError
from gsmooth.io.checkpoints import load_checkpoint
from gsmooth.plugin.registry import DEFAULT_PLUGINS, Registry, get_registry, reset_registry
from gsmooth.testing import check_transform_defaults
from toy_models import fashion_mnist_checkpoint

ROOT = Path(__file__).resolve().parents[1]
BUILTIN = gsmooth_plugins.transforms.register_transforms()


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- the built-ins declare theirs ---------------------------------------------------------------------------
def test_module_table_is_generated_from_the_classes():
    doc = defaults_module.__doc__
    table = re.search(r"\.\. defaults-table\n\n(.*?)\n\n\.\. end-defaults-table", doc, re.S)
    assert table, "the table markers are missing from gsmooth/core/defaults.py"
    assert table.group(1) == defaults_table(BUILTIN), "regenerate the table with defaults_table(register_transforms())"
    listed = [line.split()[0] for line in table.group(1).splitlines()[3:-1]]
    assert listed == [cls.name for cls in BUILTIN if cls.defaults is not None]


def test_the_old_tables_are_gone():
    assert not hasattr(defaults_module, "DEFAULTS") and not hasattr(defaults_module, "defaults_for")
    assert not (ROOT / "gsmooth" / "surrogate" / "defaults.py").exists()
    import gsmooth.surrogate

    assert not {"DEFAULT_RANGES", "default_range"} & set(dir(gsmooth.surrogate))


@pytest.mark.parametrize("cls", [c for c in BUILTIN if c.defaults is not None], ids=lambda c: c.name)
def test_builtin_defaults_are_consistent_with_the_class(cls):
    # the public rules (a registered noise valid at σ, a range per centre dimension inside the domain,
    # latent σ only with surrogate=True, surrogate=True only for kind empirical) …
    check_transform_defaults(cls)
    # … and the built-ins' stricter ones: a source, a range for every parameter transform (written out,
    # not broadcast), surrogate-backed exactly when the raw transform gives no guarantee, with σ_ξ
    d = cls.defaults
    assert isinstance(d, TransformDefaults) and d.source
    if cls.param_dim is not None:
        assert d.range is not None and len(d.range) == cls.param_dim
    assert d.surrogate == (cls.kind == "empirical") == (d.latent_sigma is not None)


def test_a_transform_without_defaults_gets_none_and_a_clear_error():
    assert defaults_of("quantized_additive") is None
    with pytest.raises(InvalidParameterError, match="expected it on the command line, got none"):
        require_defaults("quantized_additive", "noise")
    assert require_defaults("brightness", "noise") is defaults_of("brightness")


# -- the dataclass ------------------------------------------------------------------------------------------
def test_transform_defaults_normalises_and_validates():
    d = TransformDefaults(noise="gaussian", sigma=1, range=[0, 5])
    assert d.range == ((0.0, 5.0),) and d.sigma == 1.0 and d.slices == DEFAULT_SLICES and d.sigma_ratio is None
    assert TransformDefaults("gaussian", 0.2, ((-1, 1), (0, 2))).range_text == "-1:1,0:2"
    with pytest.raises(AttributeError):
        d.sigma = 2.0  # frozen
    for kwargs, match in [
        (dict(sigma=0), "expected sigma a finite number > 0, got 0"),
        (dict(sigma=math.inf), "expected sigma"),
        (dict(sigma=0.1, range=((1, 0),)), "expected each range pair .* lo < hi, got \\(1, 0\\)"),
        (dict(sigma=0.1, range=((0, math.nan),)), "expected each range pair"),
        (dict(sigma=0.1, range=()), "expected range"),
        (dict(sigma=0.1, slices=0), "expected slices a positive integer, got 0"),
        (dict(sigma=0.1, slices=2.5), "expected slices a positive integer"),
        (dict(sigma=0.1, latent_sigma=-1), "expected latent_sigma"),
        (dict(sigma=0.1, surrogate="yes"), "expected surrogate True or False"),
    ]:
        with pytest.raises(InvalidParameterError, match=match):
            TransformDefaults(noise="gaussian", **kwargs)
    with pytest.raises(InvalidParameterError, match="expected noise"):
        TransformDefaults(noise="", sigma=0.1)
    assert issubclass(InvalidParameterError, ValueError)


def test_defaults_of_accepts_a_name_a_class_or_an_instance():
    cls = get_registry().transform_class("rotational_blur")
    assert defaults_of("rotational_blur") is defaults_of(cls) is defaults_of(cls()) is cls.defaults
    with pytest.raises(UnknownComponentError, match="brightnes"):
        defaults_of("brightnes")
    with pytest.raises(InvalidParameterError, match="expected a transform name"):
        defaults_of(3)


# -- a third-party transform gets its own ---------------------------------------------------------------------
class Darken(gsmooth.Transform):
    """x − θ per image; declares its own defaults (a stand-in for a third-party plugin's class)."""

    name = "test_darken"
    param_dim = 1
    kind = "exact"
    param_units = "intensity"
    defaults = TransformDefaults(noise="laplace", sigma=0.3, range=((-0.15, 0.05),), slices=3, source="test")

    def forward(self, x, theta):
        return x - theta.reshape(-1, 1, 1, 1).to(x.dtype)


class ThirdParty:
    """A plugin object, registered like an entry point's module."""

    @gsmooth.hookimpl
    def register_transforms(self):
        return [Darken]


@pytest.fixture
def third_party():
    saved = get_registry()
    builtins = [importlib.import_module(name) for name in DEFAULT_PLUGINS]  # noises, transforms, architectures, …
    reg = Registry(plugins=[*builtins, ThirdParty()], autoload=False)
    reset_registry(reg)
    try:
        yield reg
    finally:
        reset_registry(saved)


SMALL = ["--n0", "10", "--n", "100", "--batch", "1000", "--no-progress"]


def test_third_party_defaults_drive_certify(third_party, tmp_path, capsys):
    model = fashion_mnist_checkpoint(tmp_path / "add.pt")  # trained additive: the transform's defaults apply
    out = tmp_path / "d.tsv"
    code, _, err = run_cli(capsys, "certify", "--model", model, "--transform", "test_darken", "--range", *SMALL,
                           "--max", "1", "--out", out)
    assert code == 0, err
    cfg = json.loads(Path(str(out) + ".json").read_text())["config"]
    d = Darken.defaults
    assert (cfg["noise"], cfg["noise_params"], cfg["range"], cfg["slices"]) == (
        d.noise, {"sigma": d.sigma}, d.range_text, d.slices)


def test_third_party_defaults_drive_train(third_party, tmp_path, capsys):
    out = tmp_path / "dk.pt"
    tiny = ["--dataset", "fashion-mnist", "--epochs", "1", "--max-train", "32", "--max-eval", "16", "--batch", "16",
            "--no-progress"]
    code, _, err = run_cli(capsys, "train", "--transform", "test_darken", *tiny, "--out", out)
    assert code == 0, err
    sm = load_checkpoint(out).smoothing
    assert (sm["transform"], sm["noise"], sm["noise_params"]) == ("test_darken", "laplace", {"sigma": 0.3})


def test_third_party_defaults_give_the_surrogate_training_range():
    from gsmooth.surrogate import train_surrogate

    images = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    sur = train_surrogate(Darken(), images, epochs=1, batch_size=4, seed=0, width=4, encoder_width=2)
    assert tuple(map(tuple, sur.param_range)) == Darken.defaults.range

    class Plain(Darken):
        defaults = None

    with pytest.raises(InvalidParameterError, match="no default parameter range .* expected an explicit range"):
        train_surrogate(Plain(), images, epochs=1)


def test_plugins_command_prints_each_transforms_defaults(third_party, capsys):
    code, out, _ = run_cli(capsys, "plugins")
    assert code == 0
    lines = out.splitlines()
    for name in ("test_darken", "brightness", "rotational_blur", "quantized_additive"):
        at = next(i for i, line in enumerate(lines) if line.split()[:2] == ["transform", name])
        d = defaults_of(name)
        assert lines[at + 1].split("defaults: ")[1] == (d.summary() if d else "none (pass --noise/--sigma/--range)")
    assert "defaults: laplace sigma=0.3, range -0.15:0.05, 3 slices" in out
    assert "defaults: gaussian sigma=2.5 (surrogate, latent sigma=1), range 0:10, 10 slices" in out


def test_registry_refuses_malformed_defaults():
    class Bad(Darken):
        name = "test_bad_defaults"
        defaults = {"noise": "gaussian", "sigma": 0.1}

    class BadPlugin:
        @gsmooth.hookimpl
        def register_transforms(self):
            return [Bad]

    with pytest.raises(PluginError, match="Bad.defaults expected a gsmooth.TransformDefaults or None, got dict"):
        Registry(plugins=[gsmooth_plugins.noises, BadPlugin()], autoload=False)
    with pytest.raises(PluginError, match="expected .*defaults a gsmooth.TransformDefaults or None, got dict"):
        defaults_of(Bad)


# -- the experiment table reads them ---------------------------------------------------------------------------
def test_transforms_summary_reads_the_ranges_from_the_classes(tmp_path, monkeypatch):
    """experiments/transforms/summary.py rebuilds the committed summary.md byte for byte from the
    committed results, its range column now coming from the classes' defaults."""
    results = ROOT / "experiments" / "results" / "transforms"
    copy = tmp_path / "transforms"
    shutil.copytree(results, copy, ignore=shutil.ignore_patterns("*.png"))
    monkeypatch.syspath_prepend(str(ROOT / "experiments" / "transforms"))
    import summary

    assert summary.RANGE["rotational_blur"] == defaults_of("rotational_blur").range_label
    assert summary.main(["summary.py", str(copy)]) == 0
    assert (copy / "summary.md").read_text() == (results / "summary.md").read_text()
