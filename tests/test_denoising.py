"""Denoised smoothing (gsmooth.denoising): objectives, training, checkpoints, ``--denoiser`` and the
model-owned noise protocol (``gsmooth_smoothing_noise``)."""

from __future__ import annotations

import importlib.metadata
import json
import math

import pytest
import torch
from torch import nn

import gsmooth
from gsmooth.cli import main
from gsmooth.data.datasets import dataset_info, load_dataset
from gsmooth.denoising import (
    DenoisedClassifier, DenoiserConfig, build_denoiser, load_denoiser, mse_objective, save_denoiser,
    stability_objective, train_denoiser,
)
from gsmooth.errors import CheckpointError, InvalidParameterError, UnsupportedNoiseError
from gsmooth.io.checkpoints import file_sha256, load_checkpoint, save_checkpoint
from gsmooth.io.results import read_results
from gsmooth.models.architectures import build_model
from gsmooth.plugin.registry import Registry, get_registry, reset_registry

SIGMA = 0.25
QUICK = dict(arch="dncnn3x8", dataset="fashion-mnist", sigma=SIGMA, batch_size=50, max_train=200, max_eval=50)


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def vanilla_checkpoint(path, *, seed=0):
    """A Fashion-MNIST mlp32 classifier recording no smoothing (what `gsmooth train --no-noise` writes)."""
    info = dataset_info("fashion-mnist")
    torch.manual_seed(seed)
    model = build_model("mlp32", num_classes=10, input_shape=info.input_shape, mean=info.mean, std=info.std)
    save_checkpoint(path, model=model, arch="mlp32", dataset="fashion-mnist", num_classes=10,
                    input_shape=info.input_shape, mean=info.mean, std=info.std, smoothing={}, epoch=1)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("den")
    clf = vanilla_checkpoint(d / "clf.pt")
    den = d / "den.pt"
    train_denoiser(DenoiserConfig(**QUICK, epochs=1), out=den, progress=False, log=lambda _: None)
    den2 = d / "den2.pt"
    train_denoiser(DenoiserConfig(**QUICK, epochs=1, seed=1), out=den2, progress=False, log=lambda _: None)
    return {"clf": clf, "den": den, "den2": den2, "dir": d}


# -- objectives ------------------------------------------------------------------------------------------


def _scale(factor: float) -> nn.Module:
    conv = nn.Conv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(factor)
    return conv


def test_mse_objective_hand_computed():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).view(1, 1, 2, 2)
    noisy = torch.tensor([[2.0, 2.0], [0.0, 0.0]]).view(1, 1, 2, 2)
    # D(noisy) = noisy / 2 = [[1, 1], [0, 0]]; errors (0, 1, 0, -1): mean square 2/4
    assert mse_objective(_scale(0.5), x, noisy).item() == pytest.approx(0.5)
    assert mse_objective(nn.Identity(), x, x).item() == 0.0


def test_stability_objective_hand_computed_uses_the_clean_label_and_leaves_the_classifier_alone():
    clf = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, bias=False))
    with torch.no_grad():
        clf[1].weight.copy_(torch.tensor([[1.0, 1, 1, 1], [-1, -1, -1, -1]]))
    clf.requires_grad_(False)
    x = torch.ones(1, 1, 2, 2)  # logits (4, -4): label 0
    noisy = -0.5 * torch.ones(1, 1, 2, 2)
    den = _scale(0.5)  # D(noisy) = -0.25: logits (-1, 1), CE against label 0 = 1 + log(e^-1 + e^1)
    loss = stability_objective(den, clf, x, noisy)
    assert loss.item() == pytest.approx(1 + math.log(math.exp(-1) + math.exp(1)), rel=1e-6)
    loss.backward()
    assert den.weight.grad is not None and den.weight.grad.abs().item() > 0
    assert clf[1].weight.grad is None
    # the label comes from x, not from the noisy image: with x = -1 (label 1) the same D(noisy) costs log(1 + e^-2)
    assert stability_objective(den, clf, -x, noisy).item() == pytest.approx(math.log1p(math.exp(-2)), rel=1e-6)


# -- architectures --------------------------------------------------------------------------------------


def test_dncnn_family_and_residual_form():
    den = build_denoiser("dncnn", input_shape=(3, 8, 8))
    assert (den.depth, den.width, den.channels) == (17, 64, 3)
    small = build_denoiser("dncnn6x32", input_shape=(1, 8, 8))
    convs = [m for m in small.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 6 and convs[0].out_channels == 32 and convs[-1].out_channels == 1
    assert sum(isinstance(m, nn.BatchNorm2d) for m in small.modules()) == 4
    with torch.no_grad():  # a zero last layer is the identity: D(x) = x - 0
        convs[-1].weight.zero_()
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(small.eval()(x), x)
    with pytest.raises(gsmooth.UnknownComponentError, match="dncnn"):
        build_denoiser("dncn", input_shape=(1, 8, 8))
    with pytest.raises(InvalidParameterError, match="depth"):
        build_denoiser("dncnn1x8", input_shape=(1, 8, 8))


# -- training ---------------------------------------------------------------------------------------------


def test_training_reduces_the_test_mse_below_the_noisy_input(tmp_path):
    lines = []
    stats = train_denoiser(DenoiserConfig(**{**QUICK, "max_train": 300}, epochs=2), out=tmp_path / "d.pt",
                           progress=False, log=lines.append)
    assert len(stats) == 2 and stats[-1].test_mse < stats[-1].noisy_mse
    assert stats[-1].test_psnr > stats[-1].noisy_psnr
    # noisy MSE of Gaussian noise with σ = 0.25 (no clipping): about σ² = 0.0625
    assert stats[-1].noisy_mse == pytest.approx(SIGMA**2, rel=0.1)
    assert "psnr" in lines[-1] and "test mse" in lines[-1]
    den = load_denoiser(tmp_path / "d.pt")
    assert (den.sigma, den.noise, den.input_shape, den.arch, den.objective) == (SIGMA, "gaussian", (1, 28, 28), "dncnn3x8", "mse")


def _state(path):
    return torch.load(path, weights_only=True)["state_dict"]


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_training_is_reproducible_and_resume_continues_it(tmp_path):
    quiet = dict(progress=False, log=lambda _: None)
    train_denoiser(DenoiserConfig(**QUICK, epochs=2), out=tmp_path / "a.pt", **quiet)
    train_denoiser(DenoiserConfig(**QUICK, epochs=2), out=tmp_path / "b.pt", **quiet)
    assert _same(_state(tmp_path / "a.pt"), _state(tmp_path / "b.pt"))  # same seed: bit for bit
    train_denoiser(DenoiserConfig(**QUICK, epochs=1), out=tmp_path / "c.pt", **quiet)
    assert not _same(_state(tmp_path / "a.pt"), _state(tmp_path / "c.pt"))
    lines = []
    more = train_denoiser(DenoiserConfig(**QUICK, epochs=2), out=tmp_path / "c.pt", resume=True, progress=False,
                          log=lines.append)
    assert len(more) == 1 and lines[0].startswith("resuming")
    assert _same(_state(tmp_path / "a.pt"), _state(tmp_path / "c.pt"))  # resumed = uninterrupted
    before = (tmp_path / "c.pt").read_bytes()
    with pytest.raises(CheckpointError, match="different configuration.*lr"):
        train_denoiser(DenoiserConfig(**QUICK, epochs=3, lr=0.01), out=tmp_path / "c.pt", resume=True, **quiet)
    with pytest.raises(gsmooth.OutputFileError):  # no --resume: an existing file is never overwritten
        train_denoiser(DenoiserConfig(**QUICK, epochs=2), out=tmp_path / "c.pt", **quiet)
    assert (tmp_path / "c.pt").read_bytes() == before


def test_stability_training_freezes_and_records_the_classifier(files, tmp_path):
    cfg = DenoiserConfig(**{**QUICK, "max_train": 100}, epochs=1, objective="stability", classifier=str(files["clf"]),
                         init=str(files["den"]))
    before = load_checkpoint(files["clf"]).state_dict
    train_denoiser(cfg, out=tmp_path / "stab.pt", progress=False, log=lambda _: None)
    den = load_denoiser(tmp_path / "stab.pt")
    assert den.objective == "stability" and den.classifier_sha256 == file_sha256(files["clf"])
    assert _same(before, load_checkpoint(files["clf"]).state_dict)
    with pytest.raises(InvalidParameterError, match="classifier"):
        DenoiserConfig(**QUICK, objective="stability").validate()


def test_cli_train_denoiser(files, tmp_path, capsys):
    out = tmp_path / "cli.pt"
    code, stdout, err = run_cli(capsys, "train-denoiser", "--dataset", "fashion-mnist", "--sigma", "0.5", "--arch",
                                "dncnn3x4", "--epochs", "1", "--max-train", "60", "--max-eval", "20", "--batch", "30",
                                "--no-progress", "--out", out)
    assert code == 0, err
    assert "psnr" in stdout and load_denoiser(out).sigma == 0.5
    code, _, err = run_cli(capsys, "train-denoiser", "--dataset", "fashion-mnist", "--sigma", "0.5", "--objective",
                           "stability", "--out", tmp_path / "x.pt")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--classifier" in err
    assert not (tmp_path / "x.pt").exists()


# -- certification ----------------------------------------------------------------------------------------

SMALL = ["--n0", "10", "--n", "100", "--batch", "100", "--max", "3", "--no-progress"]


def test_certify_with_denoiser_end_to_end(files, tmp_path, capsys, one_torch_thread):
    out = tmp_path / "c.tsv"
    code, _, err = run_cli(capsys, "certify", "--model", files["clf"], "--denoiser", files["den"], *SMALL, "--out", out)
    assert code == 0, err
    assert "warning" not in err  # a --no-noise model with a denoiser: the denoiser's smoothing, no mismatch
    side = json.loads((tmp_path / "c.tsv.json").read_text())
    assert side["config"]["denoiser_sha256"] == file_sha256(files["den"])
    assert side["info"]["denoiser"] == str(files["den"].resolve())
    assert side["config"]["noise_params"] == {"sigma": SIGMA}
    t = read_results(out)
    assert list(t.idx) == [0, 1, 2]
    model = DenoisedClassifier(load_checkpoint(files["clf"]).build_model(), load_denoiser(files["den"]))
    smoother = gsmooth.Smoother(model, noise="gaussian", sigma=SIGMA, num_classes=10)
    data = load_dataset("fashion-mnist", split="test")
    x = torch.stack([data[i][0] for i in range(3)])
    certs = smoother.certify(x, n0=10, n=100, alpha=0.001, batch_size=100, seed=0, keys=[0, 1, 2])
    assert [c.prediction for c in certs] == [int(p) for p in t.predict]
    assert [c.radius for c in certs] == pytest.approx([float(r) for r in t.radius], abs=1e-12)
    assert [c.count for c in certs] == [int(c) for c in t.extra["count"]]
    # without the denoiser the same classifier gives other votes (the denoiser is really in the loop)
    plain = gsmooth.Smoother(load_checkpoint(files["clf"]).build_model(), noise="gaussian", sigma=SIGMA, num_classes=10)
    counts = [c.count for c in plain.certify(x, n0=10, n=100, alpha=0.001, batch_size=100, seed=0, keys=[0, 1, 2])]
    assert counts != [c.count for c in certs]


@pytest.fixture(scope="module")
def small_denoiser(tmp_path_factory):
    path = tmp_path_factory.mktemp("den8") / "den8.pt"
    save_denoiser(path, denoiser=build_denoiser("dncnn3x4", input_shape=(1, 8, 8)), arch="dncnn3x4", dataset=None,
                  input_shape=(1, 8, 8), sigma=SIGMA)
    return path


@pytest.mark.parametrize("case", ["sigma", "laplace", "transform", "classifier_as_denoiser", "denoiser_as_model", "shape"])
def test_refusals_are_one_line_exit_2_and_write_nothing(case, files, small_denoiser, tmp_path, capsys):
    model, den, extra = files["clf"], files["den"], []
    expect = {
        "sigma": "trained for gaussian sigma 0.25; expected that noise, got gaussian sigma 0.5",
        "laplace": "trained for gaussian sigma 0.25; expected that noise, got laplace sigma 0.25",
        "transform": "expected transform additive, got 'brightness'",
        "classifier_as_denoiser": "got a gsmooth classifier checkpoint",
        "denoiser_as_model": "got a gsmooth denoiser",
        "shape": "expected a denoiser for the model's images (1, 28, 28), got one for (1, 8, 8)",
    }[case]
    if case == "sigma":
        extra = ["--sigma", "0.5"]
    elif case == "laplace":
        extra = ["--noise", "laplace", "--sigma", "0.25"]
    elif case == "transform":
        extra = ["--transform", "brightness"]
    elif case == "classifier_as_denoiser":
        den = files["clf"]
    elif case == "denoiser_as_model":
        model = files["den"]
    else:
        den = small_denoiser
    out = tmp_path / "r.tsv"
    code, _, err = run_cli(capsys, "certify", "--model", model, "--denoiser", den, *extra, *SMALL, "--out", out)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and expect in err, err
    assert not out.exists() and not (tmp_path / "r.tsv.json").exists()


def test_resume_with_another_denoiser_is_refused(files, tmp_path, capsys):
    out = tmp_path / "c.tsv"
    args = ["certify", "--model", files["clf"], *SMALL, "--max", "1", "--out", out]
    code, _, err = run_cli(capsys, *args, "--denoiser", files["den"])
    assert code == 0, err
    before = out.read_bytes(), (tmp_path / "c.tsv.json").read_bytes()
    code, _, err = run_cli(capsys, *args[:-2], "--max", "2", "--out", out, "--denoiser", files["den2"])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "denoiser_sha256" in err, err
    code, _, err = run_cli(capsys, *args[:-2], "--max", "2", "--out", out)  # nor without one
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert (out.read_bytes(), (tmp_path / "c.tsv.json").read_bytes()) == before


def test_python_api_refusals(files):
    den = load_denoiser(files["den"])
    clf = load_checkpoint(files["clf"]).build_model()
    model = DenoisedClassifier(clf, den)
    with pytest.raises(UnsupportedNoiseError, match=r"den\.pt was trained for gaussian sigma 0\.25; expected that noise, "
                                                    r"got laplace sigma 0\.5"):
        gsmooth.Smoother(model, noise="laplace", sigma=0.5, num_classes=10)
    assert isinstance(UnsupportedNoiseError("x"), ValueError)
    with pytest.raises(InvalidParameterError, match=r"\(1, 8, 8\)"):
        DenoisedClassifier(clf, build_denoiser("dncnn3x4", input_shape=(1, 8, 8)))
    with pytest.raises(CheckpointError, match="gsmooth classifier checkpoint"):
        load_denoiser(files["clf"])
    s = gsmooth.Smoother.from_checkpoint(files["clf"], denoiser=files["den"])
    assert isinstance(s.model, DenoisedClassifier) and s.noise.describe() == "gaussian(sigma=0.25)"


# -- the model-owned noise protocol -------------------------------------------------------------------------


class Recorder(nn.Module):
    """A base model that records what the engine tells it, and can refuse a noise."""

    def __init__(self, refuse_above=None):
        super().__init__()
        self.lin = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
        self.told = []
        self.forwards = 0
        self.refuse_above = refuse_above

    def gsmooth_smoothing_noise(self, noise, transform):
        if self.refuse_above is not None and noise.sigma > self.refuse_above:
            raise UnsupportedNoiseError(f"expected sigma <= {self.refuse_above}, got {noise.sigma}")
        self.told.append((noise, transform))

    def forward(self, x):
        self.forwards += 1
        return self.lin(x)


def test_protocol_called_at_construction_and_for_each_noise():
    model = Recorder()
    noise = gsmooth.noise("gaussian", sigma=0.3)
    s = gsmooth.Smoother(model, noise=noise, num_classes=3)
    assert len(model.told) == 1 and model.told[0][0] is noise and model.told[0][1] is s.transform
    assert model.forwards == 0  # before any sampling
    gsmooth.Smoother(model, noise="laplace", sigma=0.7, num_classes=3)  # another noise: told again
    assert [(n.name, n.sigma) for n, _ in model.told] == [("gaussian", 0.3), ("laplace", 0.7)]
    wrapped = nn.DataParallel(Recorder())  # told through the wrapper
    gsmooth.Smoother(wrapped, noise="gaussian", sigma=0.2, num_classes=3, device="cpu")
    assert wrapped.module.told[0][0].sigma == 0.2


def test_protocol_error_stops_construction():
    model = Recorder(refuse_above=0.5)
    with pytest.raises(UnsupportedNoiseError, match="expected sigma <= 0.5, got 1.0"):
        gsmooth.Smoother(model, noise="gaussian", sigma=1.0, num_classes=3)
    assert model.told == [] and model.forwards == 0


def test_example_plugin_denoiser_is_told_sigma():
    ep = importlib.metadata.EntryPoint(name="example", value="gsmooth_example", group="gsmooth")
    saved = get_registry()
    try:
        reset_registry(Registry(entry_points=[ep]))
        den = build_denoiser("example_timestep", input_shape=(1, 4, 4)).eval()
        clf = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
        model = DenoisedClassifier(clf, den)
        gsmooth.Smoother(model, noise="gaussian", sigma=0.25, num_classes=3)
        assert den.timestep == 250
        s = gsmooth.Smoother(model, noise="gaussian", sigma=0.5, num_classes=3)  # no fixed σ: it adapts
        assert den.timestep == 500
        assert s.certify(torch.rand(1, 4, 4), n0=10, n=50, alpha=0.01).n == 50
        with pytest.raises(UnsupportedNoiseError, match="example_timestep: expected Gaussian"):
            gsmooth.Smoother(model, noise="laplace", sigma=0.5, num_classes=3)
        assert "example_timestep" in get_registry().denoisers
    finally:
        reset_registry(saved)


def test_divergence_stops_the_run_and_writes_nothing(tmp_path):
    out = tmp_path / "nan.pt"
    with pytest.raises(gsmooth.TrainingDivergedError, match=r"epoch 1/1.*nothing was saved"):
        train_denoiser(DenoiserConfig(**QUICK, epochs=1, lr=1e36), out=out, progress=False, log=lambda _: None)
    assert not out.exists()


def test_predict_with_denoiser(files, tmp_path, capsys):
    out = tmp_path / "p.tsv"
    code, _, err = run_cli(capsys, "predict", "--model", files["clf"], "--denoiser", files["den"], "--n", "50",
                           "--batch", "50", "--max", "2", "--no-progress", "--out", out)
    assert code == 0, err
    assert len(read_results(out)) == 2
    assert json.loads((tmp_path / "p.tsv.json").read_text())["config"]["denoiser_sha256"] == file_sha256(files["den"])
