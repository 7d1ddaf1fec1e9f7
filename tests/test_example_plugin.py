"""The example third-party plugin in tests/example_plugin (distribution gsmooth-example).

The first tests import it from its source directory, so they run without installing it. The
``installed_plugin`` test checks discovery through the real entry point: it needs
``pip install -e tests/example_plugin``. A plain ``pytest`` run skips it (with the reason in the
``-ra`` summary) when the distribution is missing; ``pytest -m installed_plugin`` (what CI runs
after installing it) fails instead.
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import gsmooth
from gsmooth.plugin.registry import DISABLE_AUTOLOAD_ENV, Registry, get_registry, reset_registry
from gsmooth.testing import check_certificates, check_noise, check_transform, parametrize_with_checks

PLUGIN_DIR = Path(__file__).resolve().parent / "example_plugin"
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))

import gsmooth_example  # noqa: E402
import gsmooth_example.gain  # noqa: E402
from gsmooth_example import BrightnessShift, Gain, TriangularNoise, brightness_shift  # noqa: E402
from gsmooth_example.gain import GainLaw, gain, gain_compose, kl_gain, slice_p_required  # noqa: E402

DIST = "gsmooth-example"


# -- conformance, from source -------------------------------------------------------------------------------
@pytest.mark.parametrize("sigma", [None, 2.0])
def test_triangular_passes_check_noise(sigma):
    check_noise(TriangularNoise, sigma=sigma)


def test_shift_passes_check_transform():
    check_transform(BrightnessShift)


# what a plugin's own test suite writes: one test per (component, check)
@parametrize_with_checks([
    TriangularNoise(sigma=0.1),
    (BrightnessShift(), {"image_shape": (1, 28, 28), "theta_range": (-1.0, 1.0)}),
])
def test_example_conformance(component, check):
    check(component)


def test_plugin_uses_only_the_public_api():
    source = Path(gsmooth_example.__file__).read_text()
    imports = [line.strip() for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert not [line for line in imports if "gsmooth." in line or "gsmooth_plugins" in line], imports
    assert TriangularNoise.radius is gsmooth.Noise.radius  # no closed form: the numerical route
    # the gain law: the facade and the public strategy API of gsmooth.interval, nothing else
    source = Path(gsmooth_example.gain.__file__).read_text()
    imports = [line.strip() for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert [line for line in imports if "gsmooth" in line] == ["import gsmooth", "import gsmooth.interval"], imports


def test_triangular_numerical_radius_is_the_analytic_quantile():
    sigma = 0.4
    noise = TriangularNoise(sigma=sigma)
    p = np.array([0.5, 0.5001, 0.6, 0.75, 0.9, 0.99, 0.999, 0.99993092])
    analytic = sigma * (1.0 - np.sqrt(2.0 * (1.0 - p)))  # Ψ⁻¹(p) for p ≥ 1/2
    np.testing.assert_allclose(noise.radius(p), analytic, rtol=0, atol=1e-10)
    assert noise.radius(1.0) == pytest.approx(sigma)  # bounded support: finite at p = 1
    x = noise.sample((100_000,), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float(x.abs().max()) <= sigma
    assert float(x.var()) == pytest.approx(sigma**2 / 6, rel=0.02)


def test_brightness_shift_function_and_module_agree():
    x = torch.rand(3, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    theta = torch.tensor([[0.1], [-0.2], [0.0]])
    out = BrightnessShift()(x, theta)
    assert torch.equal(out, brightness_shift(x, theta))
    assert torch.allclose(out - x, theta.view(3, 1, 1, 1).expand_as(x))


class MeanThreshold(nn.Module):
    """Class 1 when the mean brightness exceeds 0.5, else class 0."""

    input_shape = (1, 4, 4)

    def forward(self, x):
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([0.5 - m, m - 0.5], dim=1)


def test_engine_certifies_with_the_plugin():
    sigma, n, alpha = 0.3, 2000, 0.001
    smoother = gsmooth.Smoother(MeanThreshold(), noise=TriangularNoise(sigma=sigma), transform=BrightnessShift(),
                                num_classes=2)
    assert smoother.norm == "param [intensity]"
    # mean 0.6: the smoothed class flips once the brightness drops by 0.1, so any sound radius is < 0.1
    x = torch.full((1, 4, 4), 0.6)
    cert = smoother.certify(x, n0=100, n=n, alpha=alpha, seed=0)
    assert cert.prediction == 1
    assert cert.transform == "example_shift" and cert.noise == "example_triangular(sigma=0.3)"
    assert cert.radius == pytest.approx(sigma * (1 - np.sqrt(2 * (1 - cert.p_lower))), abs=1e-10)
    assert 0.0 < cert.radius < 0.1
    # far from the threshold every vote agrees: p_lower = alpha^(1/n)
    far = smoother.certify(torch.full((1, 4, 4), 0.95), n0=10, n=n, alpha=alpha)
    assert far.count == n and far.p_lower == pytest.approx(alpha ** (1 / n))
    # a parameter noise is refused as additive pixel noise (no proven l1 certificate in d dims)
    with pytest.raises(gsmooth.InvalidParameterError, match="expected a noise"):
        gsmooth.Smoother(MeanThreshold(), noise=TriangularNoise(sigma=sigma), num_classes=2)


# -- a third-party composition law: example_gain --------------------------------------------------------
def test_gain_passes_check_transform_and_composes_by_its_law():
    check_transform(Gain)
    x = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    a, b = torch.tensor([[0.1], [-0.3], [0.5]]), torch.tensor([[0.2], [0.4], [-0.25]])
    assert torch.equal(Gain()(x, a), gain(x, a))
    assert torch.allclose(gain(gain(x, b), a), gain(x, gain_compose(a, b)), atol=1e-6)
    assert not torch.allclose(gain(gain(x, b), a), gain(x, a + b), atol=1e-3)  # not additive: its own law
    assert Gain.composes_additively is False and isinstance(Gain().slice_strategy(), GainLaw)


def test_gain_kl_is_largest_at_the_slice_ends():
    # the fact the law's proof uses: d KL / d delta has the sign of delta, so the ends bound the slice
    for sigma in (0.02, 0.1, 0.5):
        d = np.linspace(-0.4, 0.4, 801)
        kl = np.array([kl_gain(v, sigma) for v in d])
        assert kl.min() == pytest.approx(0.0, abs=1e-15) and kl[400] == pytest.approx(0.0, abs=1e-15)
        assert (np.diff(kl[400:]) > 0).all() and (np.diff(kl[:401]) < 0).all()
        # Monte Carlo: KL(P || Q) = E_P[log p/q] for P = N(0, s^2), Q = N(delta, (1 + delta)^2 s^2)
        z = np.random.default_rng(0).normal(0.0, sigma, 400_000)
        delta = 0.3 * sigma
        log_p = -0.5 * (z / sigma) ** 2 - np.log(sigma)
        log_q = -0.5 * ((z - delta) / ((1 + delta) * sigma)) ** 2 - np.log((1 + delta) * sigma)
        assert kl_gain(delta, sigma) == pytest.approx(float(np.mean(log_p - log_q)), abs=2e-3)


def _predict_everywhere(smoother, x, cert, *, n, points=17):
    """PREDICT at high n on τ(α, x) for α on a grid of the certified range and at every slice edge;
    the classes it returns (an abstention is no contradiction, another class is)."""
    lo, hi = cert.low[0], cert.high[0]
    w = (hi - lo) / cert.num_slices
    alphas = np.unique(np.r_[np.linspace(lo, hi, points), lo + w * np.arange(cert.num_slices + 1)])
    with torch.no_grad():
        xs = gain(x.unsqueeze(0).expand(len(alphas), *x.shape), torch.as_tensor(alphas, dtype=x.dtype)[:, None])
    res = smoother.predict(xs, n=n, alpha=0.001, seed=7)
    return {float(a): int(r.prediction) for a, r in zip(alphas, res)}


def test_gain_certificates_hold_under_predict_and_fail_across_the_flip():
    """Class 1 iff the mean brightness exceeds 1/2: for x = 0.6 the class flips at g = 0.5/0.6 − 1 ≈ −0.1667.
    A range inside (−0.12, 0.2) is certified and PREDICT agrees at every point of it; a range whose first
    slice straddles the flip (its centre above it, so p at the centre is above 1/2) must not be certified."""
    sigma = 0.02
    sm = gsmooth.Smoother(MeanThreshold(), noise="gaussian", sigma=sigma, transform=Gain(), num_classes=2)
    x = torch.full((1, 4, 4), 0.6)
    inside = sm.certify_interval(x, low=-0.12, high=0.2, slices=16, n0=100, n=2000, alpha=0.001)
    assert inside.prediction == 1 and inside.centering == "image" and len(inside.slice_requirements) == 16
    assert set(_predict_everywhere(sm, x, inside, n=20_000).values()) <= {1, -1}
    # the requirement is a probability known before sampling: certified iff every p_lower exceeds it
    plan = gsmooth.interval.slice_plan(-0.12, 0.2, 16)
    p_req = GainLaw().required_probabilities(Gain(), sm.noise, plan)
    assert (np.asarray(inside.slice_p_lower) > p_req).all()
    np.testing.assert_allclose(GainLaw().p_required(sm.noise, np.asarray(inside.slice_requirements), np.ones(16)),
                               p_req, rtol=0, atol=1e-9)
    across = sm.certify_interval(x, low=-0.175, high=0.1, slices=8, n0=100, n=2000, alpha=0.001)
    seen = _predict_everywhere(sm, x, across, n=20_000)
    assert seen[-0.175] == 0  # the class does flip inside the range ...
    if across.prediction != -1:  # ... so a certificate here is contradicted by PREDICT (an unsound law)
        assert set(seen.values()) <= {1, -1}, seen
    assert across.prediction == -1 and across.margin < 0  # ... and a sound law certifies nothing


def test_gain_refuses_what_its_law_does_not_cover():
    with pytest.raises(gsmooth.InvalidParameterError, match="expected an interval certificate"):
        gsmooth.Smoother(MeanThreshold(), noise="gaussian", sigma=0.1, transform=Gain(), num_classes=2).certify(
            torch.full((1, 4, 4), 0.6), n0=10, n=100)
    sm = gsmooth.Smoother(MeanThreshold(), noise="laplace", sigma=0.1, transform=Gain(), num_classes=2)
    with pytest.raises(gsmooth.interval.UnsupportedTransformError, match="expected --noise gaussian, got 'laplace'"):
        sm.certify_interval(torch.full((1, 4, 4), 0.6), low=-0.1, high=0.1, slices=2, n0=10, n=100)
    sm = gsmooth.Smoother(MeanThreshold(), noise="gaussian", sigma=0.1, transform=Gain(), num_classes=2)
    with pytest.raises(gsmooth.InvalidParameterError, match="above -1"):
        sm.certify_interval(torch.full((1, 4, 4), 0.6), low=-1.5, high=0.1, slices=2, n0=10, n=100)
    assert slice_p_required(0.0, 2.0, 0.1) == 1.0  # a slice reaching g = -1: nothing certifies it


def test_gain_certified_through_the_cli_holds_under_predict(tmp_path, capsys):
    """``gsmooth certify --transform example_gain --range`` (the CLI's main, with
    the plugin registered through its entry point), then PREDICT at high n inside every certified range
    (darkening only, g ≤ 0, so that every τ(g, x) is an image in [0, 1] that PREDICT accepts)."""
    from gsmooth.cli import main
    from gsmooth.data.datasets import load_dataset
    from gsmooth.io.checkpoints import load_checkpoint
    from gsmooth.io.results import read_results
    from toy_models import fashion_mnist_checkpoint

    ckpt = fashion_mnist_checkpoint(tmp_path / "m.pt", seed=3)
    out = tmp_path / "gain.tsv"
    saved = get_registry()
    ep = importlib.metadata.EntryPoint(name="example", value="gsmooth_example", group="gsmooth")
    try:
        reset_registry(Registry(entry_points=[ep]))
        # --range alone: the noise, σ, range and slices all come from Gain.defaults (its own law and its own defaults)
        code = main([str(a) for a in ("certify", "--model", ckpt, "--transform", "example_gain", "--range",
                                      "--n0", "20", "--n", "300", "--max", "4", "--no-progress", "--out", out)])
        _, err = capsys.readouterr()
        assert code == 0, err
        t = read_results(out)
        assert len(t) == 4 and set(t.extra["transform"]) == {"example_gain"} and set(t.extra["range"]) == {"-0.3:0"}
        assert set(t.extra["certificate"]) == {"interval"} and set(int(v) for v in t.extra["slices"]) == {4}
        assert set(t.extra["noise"]) == {"gaussian(sigma=0.1)"}
        model = load_checkpoint(ckpt).build_model()
        sm = gsmooth.Smoother(model, noise="gaussian", sigma=0.1, transform="example_gain", num_classes=10)
        data = load_dataset("fashion-mnist", split="test")
        certified = [(int(i), int(p)) for i, p in zip(t.idx, t.predict) if p != -1]
        assert certified, "nothing certified: the check below would be empty"
        for idx, pred in certified:
            x = data[idx][0]
            cert = sm.certify_interval(x, low=-0.3, high=0.0, slices=4, n0=20, n=300, keys=[idx])
            assert cert.prediction == pred  # the library gives the CLI's row (same seed, same keys)
            seen = _predict_everywhere(sm, x, cert, n=4000, points=9)
            assert set(seen.values()) <= {pred, -1}, (idx, pred, seen)
    finally:
        reset_registry(saved)


#: the falsification suite's quick profile (a second or two on 2 CPU cores)
FALSIFY = dict(image_shape=(1, 4, 4), n0=50, n=1000, attack_n=4000, threshold_samples=4000)


def test_plugin_certificates_survive_the_falsification_suite():
    # adversarial classifiers reading θ off the image, certified (radius and interval), then attacked
    report = check_certificates(TriangularNoise(sigma=0.2), BrightnessShift(), **FALSIFY)
    assert report.certified >= 5 and not report.refusals, report.summary()


def test_registry_from_a_fake_entry_point_to_the_source_module():
    # the same registration path as an installed distribution, without installing it
    ep = importlib.metadata.EntryPoint(name="example", value="gsmooth_example", group="gsmooth")
    reg = Registry(entry_points=[ep])
    assert reg.noise_class("example_triangular") is TriangularNoise
    assert reg.transform_class("example_shift") is BrightnessShift


def test_example_shift_defaults_drive_the_cli(tmp_path, capsys):
    """``gsmooth certify --model M --transform example_shift --range``: noise, σ, range and slices are
    the ones the plugin's class declares (the model was trained for additive noise, so none come from
    it), through the same registration path as an installed distribution."""
    import json

    from gsmooth.cli import main
    from toy_models import fashion_mnist_checkpoint

    d = BrightnessShift.defaults
    assert isinstance(d, gsmooth.TransformDefaults) and d.range is not None
    model = fashion_mnist_checkpoint(tmp_path / "additive.pt")
    ep = importlib.metadata.EntryPoint(name="example", value="gsmooth_example", group="gsmooth")
    saved = get_registry()
    try:
        reset_registry(Registry(entry_points=[ep]))
        out = tmp_path / "shift.tsv"
        code = main(["certify", "--model", str(model), "--transform", "example_shift", "--range", "--n0", "10",
                     "--n", "100", "--max", "2", "--no-progress", "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 0, err
        cfg = json.loads(Path(str(out) + ".json").read_text())["config"]
        assert (cfg["noise"], cfg["noise_params"], cfg["range"], cfg["slices"], cfg["certificate"]) == (
            d.noise, {"sigma": d.sigma}, d.range_text, d.slices, "interval")
        assert main(["plugins"]) == 0
        assert f"defaults: {d.summary()}" in capsys.readouterr().out
    finally:
        reset_registry(saved)


# -- discovery of the installed distribution ---------------------------------------------------------------
def _installed_version() -> str | None:
    try:
        return importlib.metadata.version(DIST)
    except importlib.metadata.PackageNotFoundError:
        return None


@pytest.mark.installed_plugin
def test_installed_plugin_is_discovered(request, monkeypatch):
    version = _installed_version()
    if version is None:
        message = f"{DIST} is not installed: run `pip install -e tests/example_plugin`"
        markexpr = request.config.getoption("markexpr", default="") or ""
        if "installed_plugin" in markexpr and "not installed_plugin" not in markexpr:
            pytest.fail(message + " (selected with -m installed_plugin, so this is an error)")
        pytest.skip(message)
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    eps = [ep for ep in importlib.metadata.entry_points(group="gsmooth") if ep.name == "example"]
    assert len(eps) == 1 and eps[0].value == "gsmooth_example"
    reg = Registry()  # the real thing: built-ins, then every installed entry point
    assert reg.failures == []
    info = reg.noises["example_triangular"]
    assert info.source == f"{DIST} 0.1.0" == f"{DIST} {version}"
    assert info.plugin == "example"
    assert info.cls.__module__ == "gsmooth_example" and info.cls.__name__ == "TriangularNoise"
    assert reg.transforms["example_shift"].source == f"{DIST} 0.1.0"
    assert {"gaussian", "additive"} <= set(reg.noises) | set(reg.transforms)  # built-ins still there
    saved = get_registry()
    try:
        reset_registry()
        assert gsmooth.noise("example_triangular", sigma=0.2).sigma == 0.2
        assert "example_shift" in gsmooth.available_transforms()
        # the installed components, by name, pass the falsification suite
        report = check_certificates("example_triangular", "example_shift", sigma=0.2, **FALSIFY)
        assert report.certified >= 5, report.summary()
    finally:
        reset_registry(saved)


# -- architecture, dataset and command of the example plugin (hooks register_architectures / _datasets / _commands)
def _example_registry() -> Registry:
    ep = importlib.metadata.EntryPoint(name="example", value="gsmooth_example", group="gsmooth")
    return Registry(entry_points=[ep])


def test_extension_modules_use_only_public_modules():
    allowed = {"gsmooth", "gsmooth.models", "gsmooth.data", "gsmooth.io.checkpoints"}
    for module in ("models", "datasets", "commands"):
        source = (PLUGIN_DIR / "gsmooth_example" / f"{module}.py").read_text()
        used = {line.split()[1] for line in source.splitlines()
                if line.strip().startswith(("import gsmooth", "from gsmooth"))}
        assert used and used <= allowed, (module, used)


def test_example_architecture_dataset_and_command_register():
    from gsmooth_example.datasets import make_bars

    reg = _example_registry()
    assert reg.architectures["example_mlp"].plugin == "example"
    assert reg.datasets["example_bars"].spec.info.input_shape == (1, 28, 28)
    assert reg.commands["example-count-params"].plugin == "example"
    assert {"small_cnn", "fashion-mnist", "certify"} <= set(reg.architectures) | set(reg.datasets) | set(reg.commands)
    # the synthetic dataset: the same on every call, both classes, a horizontal bar is a transposed vertical one
    a, la = make_bars(64, seed=3)
    b, lb = make_bars(64, seed=3)
    assert torch.equal(a, b) and torch.equal(la, lb) and set(la.tolist()) == {0, 1}
    rows_lit = (a[:, 0].float().mean(dim=2) > 127).sum(dim=1)  # rows that are mostly bright
    assert bool(((rows_lit >= 3) == (la == 0)).all())


def _main(capsys, *argv):
    from gsmooth.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_example_architecture_trains_certifies_and_counts_through_the_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    saved = get_registry()
    reset_registry(_example_registry())
    try:
        ckpt, out = tmp_path / "mlp.pt", tmp_path / "mlp.tsv"
        _main(capsys, "train", "--dataset", "fashion-mnist", "--arch", "example_mlp", "--sigma", "0.25", "--epochs", "1",
              "--max-train", "300", "--max-eval", "100", "--no-progress", "--out", ckpt)
        from gsmooth.io.checkpoints import load_checkpoint

        assert load_checkpoint(ckpt).arch == "example_mlp"
        _main(capsys, "certify", "--model", ckpt, "--n0", "20", "--n", "200", "--max", "3", "--no-progress", "--out", out)
        assert len(out.read_text().splitlines()) == 4
        text = _main(capsys, "example-count-params", "--model", ckpt)
        assert text == "example_mlp for fashion-mnist (1x28x28, 10 classes): 50,890 parameters\n"  # 784·64+64 + 64·10+10
        text = _main(capsys, "example-count-params", "--arch", "example_mlp", "--dataset", "example_bars")
        assert "(1x28x28, 2 classes): 50,370 parameters" in text  # 784·64+64 + 64·2+2
        # the plugin's dataset trains and certifies like a built-in one
        bars = tmp_path / "bars.pt"
        _main(capsys, "train", "--dataset", "example_bars", "--arch", "example_mlp", "--sigma", "0.25", "--epochs", "1",
              "--no-progress", "--out", bars)
        _main(capsys, "certify", "--model", bars, "--n0", "20", "--n", "200", "--max", "4", "--no-progress",
              "--out", tmp_path / "bars.tsv")
        rows = (tmp_path / "bars.tsv").read_text().splitlines()[1:]
        assert len(rows) == 4 and sum(int(r.split("\t")[4]) for r in rows) >= 3  # the bars are easy
        listing = _main(capsys, "plugins")
        for line in ("arch       example_mlp", "dataset    example_bars         1x28x28", "command    example-count-params"):
            assert line in listing
    finally:
        reset_registry(saved)


@pytest.mark.installed_plugin
def test_installed_plugin_provides_architecture_dataset_and_command(request, monkeypatch):
    if _installed_version() is None:
        test_installed_plugin_is_discovered(request, monkeypatch)  # fails or skips with the reason
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    reg = Registry()  # built-ins, then every installed entry point
    assert reg.failures == []
    for table, name in ((reg.architectures, "example_mlp"), (reg.datasets, "example_bars"),
                        (reg.commands, "example-count-params")):
        assert table[name].source == f"{DIST} 0.1.0" and table[name].plugin == "example"


@pytest.mark.parametrize("module", ["gsmooth_example.models", "gsmooth_example.datasets", "gsmooth_example.commands"])
def test_extension_module_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0 and result.failed == 0
