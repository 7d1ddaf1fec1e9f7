"""The error contract: every exception lives in gsmooth.errors (a GsmoothError *and* the matching
built-in), bad input raises a typed error saying "expected …, got …", the public validation helpers
for plugin authors, the one suggestion helper, and bad input for every built-in plugin through the
CLI is one line on stderr with exit code 2."""

from __future__ import annotations

import ast
import builtins
import hashlib
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
import torch

import gsmooth
import gsmooth.errors as errors
import gsmooth_plugins
from gsmooth.cli import main
from gsmooth.errors import GsmoothError, InputError, InputTypeError, InvalidParameterError, suggest
from gsmooth.io.checkpoints import file_sha256
from gsmooth.plugin.registry import get_registry
from gsmooth.validation import check_images, check_theta

from toy_models import fashion_mnist_checkpoint

ROOT = Path(__file__).resolve().parents[1]
BUILTIN_EXCEPTIONS = {
    name for name in dir(builtins)
    if isinstance(getattr(builtins, name), type) and issubclass(getattr(builtins, name), BaseException)
}


# -- one place for every exception ----------------------------------------------------------------------------
def _exception_classes():
    return [obj for name in errors.__all__ if isinstance(obj := getattr(errors, name), type) and not issubclass(obj, Warning)]


@pytest.mark.parametrize("cls", _exception_classes(), ids=lambda c: c.__name__)
def test_every_error_is_a_gsmooth_error_and_a_builtin(cls):
    assert issubclass(cls, GsmoothError)
    builtin_bases = [b for b in cls.__mro__ if b.__module__ == "builtins" and b not in (BaseException, Exception, object)]
    assert cls is GsmoothError or builtin_bases, f"{cls.__name__} subclasses no specific built-in exception"
    assert cls.__module__ == "gsmooth.errors"


def test_the_facade_exports_the_errors_it_always_did():
    for name in ("GsmoothError", "InvalidParameterError", "InputError", "UnknownComponentError", "CheckpointError",
                 "DatasetNotFoundError", "OutputFileError", "ResultsFileError", "ModelOutputError",
                 "TrainingDivergedError", "DuplicateComponentError", "PluginError"):
        assert getattr(gsmooth, name) is getattr(errors, name)


def _modules(package):
    yield package
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not info.name.endswith(".__main__"):  # runs the CLI on import
            yield importlib.import_module(info.name)


def test_no_exception_class_outside_gsmooth_errors():
    """Terminated (the CLI's SIGTERM as a KeyboardInterrupt) is control flow, not an error."""
    strays = []
    for package in (gsmooth, gsmooth_plugins):
        for module in _modules(package):
            if module.__name__ == "gsmooth.errors":
                continue
            for _, obj in inspect.getmembers(module, inspect.isclass):
                if (obj.__module__ == module.__name__ and issubclass(obj, BaseException)
                        and not issubclass(obj, KeyboardInterrupt)):
                    strays.append(f"{module.__name__}.{obj.__name__}")
    assert not strays, f"exception or warning classes outside gsmooth/errors.py: {strays}"


def test_every_warning_is_a_gsmooth_warning():
    """One filter silences or escalates all of them: ``warnings.simplefilter("error", GsmoothWarning)``."""
    warnings_ = [obj for _, obj in inspect.getmembers(gsmooth.errors, inspect.isclass)
                 if issubclass(obj, Warning) and obj.__module__ == "gsmooth.errors"]
    assert {w.__name__ for w in warnings_} >= {"GsmoothWarning", "LipschitzWarning", "SmoothingMismatchWarning"}
    assert all(issubclass(w, gsmooth.errors.GsmoothWarning) and issubclass(w, UserWarning) for w in warnings_)


#: Built-in exceptions gsmooth may raise itself, and why: abstract methods, the conformance checks'
#: AssertionError (their contract), the attribute protocol, and two internal sites (a TypeError caught
#: on the next line of Smoother._check_keys; an unreachable branch of the corruption padding).
ALLOWED = {"NotImplementedError", "AttributeError"}
ALLOWED_AT = {
    ("gsmooth/testing.py", "AssertionError"),
    ("gsmooth/evaluation/falsification.py", "AssertionError"),
    ("gsmooth/core/smoother.py", "TypeError"),
    ("gsmooth/data/corruptions.py", "ValueError"),
}


def _builtin_raises(root: Path):
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                func = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(func, ast.Name) and func.id in BUILTIN_EXCEPTIONS:
                    yield rel, func.id, node.lineno


def test_no_bare_builtin_errors_for_user_input():
    found = [(rel, name, line) for root in (ROOT / "gsmooth", ROOT / "plugins") for rel, name, line in _builtin_raises(root)
             if name not in ALLOWED and (rel, name) not in ALLOWED_AT]
    assert not found, f"bare built-in raises (use a gsmooth.errors class, 'expected …, got …'): {found}"


# -- public validation helpers ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "x, kwargs, error, match",
    [
        ([[0.0]], {}, InputTypeError, "expected x to be a torch.Tensor, got list"),
        (torch.zeros(3, 4, 4), {}, InputError, r"expected x of shape \(B, C, H, W\), got \(3, 4, 4\)"),
        (torch.zeros(1, 3, 4, 4, dtype=torch.int64), {}, InputTypeError, "expected a floating-point x"),
        (torch.zeros(1, 3, 4, 4), {"channels": 1}, InputError, r"expected x with 1 channel\(s\), got shape"),
        (torch.tensor([[[[0.0, float("nan")]]]]), {}, InputError, "expected finite pixels, got 1 NaN/inf"),
    ],
)
def test_check_images_refuses(x, kwargs, error, match):
    with pytest.raises(error, match="^mine: " + match) as info:
        check_images(x, owner="mine", **kwargs)
    assert isinstance(info.value, GsmoothError)
    assert isinstance(info.value, TypeError) == (error is InputTypeError)


def test_check_images_accepts_and_returns_the_tensor():
    x = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    assert check_images(x, owner="mine", channels=3) is x
    nan = torch.full((1, 1, 2, 2), float("nan"))
    assert check_images(nan, owner="mine", finite=False) is nan


def test_check_theta_broadcasts_and_casts():
    assert check_theta(0.5, batch=3, param_dim=2, owner="m").tolist() == [[0.5, 0.5]] * 3
    assert check_theta(torch.tensor([1.0, 2.0]), batch=2, param_dim=1, owner="m").tolist() == [[1.0], [2.0]]
    assert check_theta(torch.tensor([[1.0, 2.0]]), batch=3, param_dim=2, owner="m").shape == (3, 2)
    out = check_theta([[1, 2]], batch=1, param_dim=2, owner="m", dtype=torch.float64)
    assert out.dtype == torch.float64 and out.tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize(
    "theta, kwargs, error, match",
    [
        (torch.zeros(3, 1), {"param_dim": 2}, InputError, r"expected theta of shape \(B, 2\) with B = 3"),
        (torch.zeros(2), {"param_dim": 1}, InputError, r"expected theta of shape \(B, 1\) with B = 3"),
        ("abc", {"param_dim": 1}, InputTypeError, "expected theta to be a tensor or numbers, got str"),
        (torch.tensor([1.0, float("inf"), 0.0]), {"param_dim": 1}, InputError, "expected finite theta, got 1 NaN/inf"),
    ],
)
def test_check_theta_refuses(theta, kwargs, error, match):
    with pytest.raises(error, match="^m: " + match):
        check_theta(theta, batch=3, owner="m", **kwargs)


def test_builtin_transforms_raise_typed_input_errors():
    t = gsmooth.transform("rotation")
    with pytest.raises(InputError, match=r"^rotation: expected x of shape \(B, C, H, W\)"):
        t(torch.zeros(1, 8, 8), torch.zeros(1, 1))
    with pytest.raises(InputTypeError, match="^rotation: expected a floating-point x"):
        t(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), torch.zeros(1, 1))
    with pytest.raises(InputError, match=r"^rotation: expected theta of shape \(B, 1\) with B = 2"):
        t(torch.zeros(2, 1, 8, 8), torch.zeros(3, 1))
    with pytest.raises(InvalidParameterError, match="expected finite low <= high"):
        t.path_speed_bound(torch.rand(1, 8, 8), 1.0, 0.0)
    with pytest.raises(InvalidParameterError, match="expected an interval with at most"):
        gsmooth.transform("motion_blur").kink_points(0.0, 1e9)


def test_validate_params_is_public_on_every_component():
    noise = gsmooth.noise("gaussian", sigma=0.25)
    noise.validate_params()  # valid: silent
    noise.sigma = 0.0
    with pytest.raises(InvalidParameterError, match=r"^GaussianNoise\('gaussian'\): parameter 'sigma' expected"):
        noise.validate_params()
    gsmooth.transform("brightness").validate_params()  # transforms have it too (an empty table: silent)
    assert gsmooth.Noise._validate_params is gsmooth.Noise.validate_params  # the old name, for old plugins


def test_validate_params_table_applies_to_third_party_components():
    from numbers import Real

    from gsmooth.validation import Interval

    class Mine(gsmooth.Transform):
        name = "t_mine"
        param_dim = 1
        _parameter_constraints = {"strength": [Interval(Real, 0, 1)]}

        def __init__(self, *, strength: float = 0.5):
            super().__init__()
            self.strength = strength
            self.validate_params()

    assert Mine().strength == 0.5
    with pytest.raises(InvalidParameterError, match=r"Mine\('t_mine'\): parameter 'strength' expected .*\[0, 1\], got 2"):
        Mine(strength=2)


# -- one suggestion helper, one SHA-256 ------------------------------------------------------------------------
def test_suggest():
    assert suggest("gausian", ["gaussian", "laplace"]) == " Did you mean 'gaussian'?"
    assert suggest("zzz", ["gaussian"]) == ""
    assert suggest("resnet19", ["resnet18"], show=lambda c: "tv:" + c) == " Did you mean 'tv:resnet18'?"
    assert suggest("fo", ["fog"], cutoff=0.9) == ""
    assert suggest(5, ["5x"]) == " Did you mean '5x'?"  # not a string: compared as str(name)


@pytest.mark.parametrize(
    "lookup, hint",
    [
        (lambda: gsmooth.noise("gausian", sigma=1.0), "Did you mean 'gaussian'?"),
        (lambda: __import__("gsmooth.data.corruptions", fromlist=["x"]).check_corruption_name("Fogg"), "Did you mean 'fog'?"),
        (lambda: __import__("gsmooth.data.datasets", fromlist=["x"]).dataset_info("fashion-mnst"), "Did you mean 'fashion-mnist'?"),
        (lambda: __import__("gsmooth.models.architectures", fromlist=["x"]).build_model(
            "smal_cnn", num_classes=10, input_shape=(1, 28, 28), mean=(0.5,), std=(0.5,)),
         "Did you mean 'small_cnn'?"),
    ],
)
def test_every_unknown_name_goes_through_suggest(lookup, hint):
    with pytest.raises(errors.UnknownComponentError) as info:
        lookup()
    assert hint in str(info.value)


def test_file_sha256(tmp_path):
    path = tmp_path / "blob.bin"
    data = bytes(range(256)) * 5000  # > 1 MiB: several chunks
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert file_sha256(str(path)) == file_sha256(path)


# -- bad input for every built-in plugin through the CLI: one line, exit 2 ------------------------------------
def _builtin(table):
    return sorted(name for name, info in table.items() if info.cls.__module__.startswith("gsmooth_plugins."))


def _bad_params(cls) -> list[dict]:
    """An unknown keyword, and each hyper-parameter given a value of the wrong type (a string)."""
    return [{"bogus": 1}] + [{name: "nonsense"} for name in cls.param_names() if name != "sigma"]


REGISTRY = get_registry()
NOISE_CASES = [(name, {"sigma": -1.0}) for name in _builtin(REGISTRY.noises)] + [
    (name, {"sigma": 0.2, **bad}) for name in _builtin(REGISTRY.noises) for bad in _bad_params(REGISTRY.noise_class(name))
]
TRANSFORM_CASES = [(name, bad) for name in _builtin(REGISTRY.transforms) for bad in _bad_params(REGISTRY.transform_class(name))]


def _certify_fails_in_one_line(tmp_path, capsys, smoothing, *expected):
    model = fashion_mnist_checkpoint(tmp_path / "m.pt", smoothing=smoothing)
    out = tmp_path / "out.tsv"
    code = main(["certify", "--model", str(model), "--n0", "5", "--n", "10", "--max", "1", "--no-progress", "--out", str(out)])
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("gsmooth certify: error: "), err
    assert "expected" in lines[0] and "got" in lines[0], err
    for text in expected:
        assert text in lines[0], err
    assert not out.exists()


@pytest.mark.parametrize("name, params", NOISE_CASES, ids=lambda v: v if isinstance(v, str) else "-".join(v))
def test_bad_noise_parameters_through_the_cli(tmp_path, capsys, name, params):
    smoothing = {"noise": name, "noise_params": params, "transform": "additive", "transform_params": {}}
    _certify_fails_in_one_line(tmp_path, capsys, smoothing, next(k for k in reversed(params)))


@pytest.mark.parametrize("name, params", TRANSFORM_CASES, ids=lambda v: v if isinstance(v, str) else "-".join(v))
def test_bad_transform_parameters_through_the_cli(tmp_path, capsys, name, params):
    smoothing = {"noise": "gaussian", "noise_params": {"sigma": 0.2}, "transform": name, "transform_params": params}
    _certify_fails_in_one_line(tmp_path, capsys, smoothing, next(iter(params)))
