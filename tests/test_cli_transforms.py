"""End-to-end CLI tests for semantic transforms: ``certify --transform T [--range lo:hi]``, the
per-transform defaults, resume / configuration checks, surrogate-backed train → certify → attack,
and ``gsmooth attack``. In-process (``gsmooth.cli.main``), tiny random-weight checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gsmooth.io.checkpoints import load_checkpoint, save_checkpoint
from gsmooth.cli import main
from gsmooth.cli.certify import TRANSFORM_COLUMNS
from gsmooth.data.datasets import dataset_info
from gsmooth.models.architectures import build_model
from gsmooth.io.results import COHEN_COLUMNS, read_results
from gsmooth.surrogate.model import SurrogateModel
from gsmooth.surrogate.io import save_surrogate


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _checkpoint(path: Path, smoothing: dict) -> Path:
    info = dataset_info("fashion-mnist")
    torch.manual_seed(0)
    model = build_model("small_cnn", num_classes=10, input_shape=info.input_shape, mean=info.mean, std=info.std)
    save_checkpoint(
        path, model=model, arch="small_cnn", dataset="fashion-mnist", num_classes=10, input_shape=info.input_shape,
        mean=info.mean, std=info.std, epoch=1, smoothing=smoothing,
    )
    return path


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpts")
    additive = _checkpoint(d / "add.pt", {"noise": "gaussian", "noise_params": {"sigma": 0.25}, "transform": "additive",
                                          "transform_params": {}})
    bright = _checkpoint(d / "bright.pt", {"noise": "gaussian", "noise_params": {"sigma": 0.2}, "transform": "brightness",
                                           "transform_params": {}})
    torch.manual_seed(0)
    net = SurrogateModel(input_shape=(1, 28, 28), param_dim=1, width=8, encoder_width=4)
    net.transform_name, net.transform_params = "rotational_blur", {"num_samples": 3}
    net.transform_kind, net.param_units = "empirical", "degrees"
    net.param_range, net.dataset = ((0.0, 10.0),), "fashion-mnist"
    sur = save_surrogate(d / "rb_surrogate.pt", net)
    return {"additive": additive, "bright": bright, "surrogate": sur, "dir": d}


SMALL = ["--n0", "10", "--n", "100", "--batch", "1000", "--no-progress"]


def test_certify_brightness_range_end_to_end(ckpts, tmp_path, capsys):
    out = tmp_path / "b.tsv"
    code, stdout, err = run_cli(capsys, "certify", "--model", ckpts["additive"], "--transform", "brightness",
                                "--range", "-0.2:0.2", "--slices", "4", *SMALL, "--max", "3", "--out", out)
    assert code == 0, err
    header = out.read_text().splitlines()[0].split("\t")
    assert header == list(COHEN_COLUMNS) + TRANSFORM_COLUMNS
    t = read_results(out)
    assert len(t) == 3
    assert set(t.extra["certificate"]) == {"interval"} and set(t.extra["range"]) == {"-0.2:0.2"}
    assert list(t.extra["slices"]) == [4, 4, 4] and list(t.extra["family_alpha"]) == [0.001] * 3
    assert list(t.extra["slice_alpha"]) == [0.00025] * 3 and list(t.extra["requirement"]) == [0.05] * 3
    assert set(t.extra["kind"]) == {"exact"} and set(t.extra["mstar"]) == {1.0}
    assert set(t.extra["units"]) == {"intensity"} and set(t.extra["transform"]) == {"brightness"}
    for pred, radius, margin, slices in zip(t.predict, t.radius, t.extra["margin"], t.extra["slice_predictions"]):
        assert len(slices.split(",")) == 4
        assert (radius == pytest.approx(0.2) and margin > 0) if pred != -1 else radius == 0.0
    assert "family-wise alpha 0.001" in stdout and "4 slices at alpha/4" in stdout
    cfg = json.loads(Path(str(out) + ".json").read_text())["config"]
    assert cfg["transform"] == "brightness" and cfg["range"] == "-0.2:0.2" and cfg["slices"] == 4
    assert cfg["certificate"] == "interval" and cfg["noise_params"] == {"sigma": 0.2}  # table default for brightness
    assert "trained with noise gaussian sigma=0.25 transform additive" in err


def test_defaults_make_the_short_commands_work(ckpts, tmp_path, capsys):
    out = tmp_path / "short.tsv"
    code, stdout, err = run_cli(capsys, "certify", "--model", ckpts["bright"], "--range", *SMALL, "--max", "1", "--out", out)
    assert code == 0, err
    assert "warning" not in err  # the checkpoint's own noise (gaussian 0.2) and transform
    cfg = json.loads(Path(str(out) + ".json").read_text())["config"]
    assert (cfg["noise"], cfg["noise_params"], cfg["range"], cfg["slices"]) == ("gaussian", {"sigma": 0.2}, "-0.4:0.4", 10)
    out2 = tmp_path / "blur.tsv"
    code, stdout, err = run_cli(capsys, "certify", "--model", ckpts["additive"], "--transform", "gaussian_blur", "--range",
                                "--slices", "2", *SMALL, "--max", "1", "--out", out2)
    assert code == 0, err
    cfg = json.loads(Path(str(out2) + ".json").read_text())["config"]
    assert (cfg["noise"], cfg["noise_params"], cfg["range"]) == ("exponential", {"sigma": 10.0}, "0:16")
    t = read_results(out2)
    assert t.extra["norm"][0] == "one-sided param" and t.extra["requirement"][0] == 8.0  # full width, one-sided


def test_contrast_is_certified_over_its_range(ckpts, tmp_path, capsys):
    out = tmp_path / "c.tsv"
    # no --range: contrast has no radius around theta = 0, so its default range is certified (and said)
    code, stdout, err = run_cli(capsys, "certify", "--model", ckpts["additive"], "--transform", "contrast",
                                "--slices", "2", *SMALL, "--max", "2", "--out", out)
    assert code == 0, err
    assert "certifying its default range -0.2:0.2,-0.2:0.2" in err
    cfg = json.loads(Path(str(out) + ".json").read_text())["config"]
    assert (cfg["certificate"], cfg["range"], cfg["slices"]) == ("interval", "-0.2:0.2,-0.2:0.2", 2)
    assert cfg["noise_params"] == {"sigma": 0.2}
    t = read_results(out)
    assert len(t) == 2 and set(t.extra["slices"]) == {"2x2"} and set(t.extra["kind"]) == {"exact"}
    # the requirement is the hardest slice's (c_k = +0.1): a little more than its half-diagonal
    # ‖(0.1, e^{0.1}·0.1)‖ because the brightness shift is rescaled by e^{c_k} and its noise by e^{−δ_k}
    naive = float(np.hypot(0.1, np.exp(0.1) * 0.1))
    assert all(naive < r < naive + 0.01 for r in t.extra["requirement"])
    assert "4 slices at alpha/4" in stdout
    code, _, err = run_cli(capsys, "certify", "--model", ckpts["additive"], "--transform", "contrast", "--range",
                           "-0.1:0.1,0:0.2", "--slices", "2", *SMALL, "--max", "1", "--out", tmp_path / "c2.tsv")
    assert code == 0, err and "default range" not in err
    assert read_results(tmp_path / "c2.tsv").extra["range"][0] == "-0.1:0.1,0:0.2"


def test_radius_mode_rows_say_so(ckpts, tmp_path, capsys):
    out = tmp_path / "r.tsv"
    code, stdout, err = run_cli(capsys, "certify", "--model", ckpts["bright"], *SMALL, "--max", "2", "--out", out)
    assert code == 0, err
    t = read_results(out)
    assert set(t.extra["certificate"]) == {"radius"}
    assert set(t.extra["units"]) == {"intensity (radius around theta=0)"}
    assert "around theta = 0" in stdout


def test_resume_and_configuration_mismatch(ckpts, tmp_path, capsys):
    out = tmp_path / "res.tsv"
    args = ["certify", "--model", ckpts["bright"], "--range", "-0.1:0.1", "--slices", "3", *SMALL]
    assert run_cli(capsys, *args, "--max", "2", "--out", out)[0] == 0
    first = read_results(out)
    code, _, err = run_cli(capsys, *args, "--max", "3", "--out", out)
    assert code == 0 and "resuming" in err
    t = read_results(out)
    assert list(t.idx) == [0, 1, 2] and list(t.radius[:2]) == list(first.radius)
    assert list(t.extra["margin"][:2]) == list(first.extra["margin"])
    before = out.read_bytes()
    for change in (["--range", "-0.2:0.2", "--slices", "3"], ["--range", "-0.1:0.1", "--slices", "4"]):
        code, _, err = run_cli(capsys, "certify", "--model", ckpts["bright"], *change, *SMALL, "--max", "3", "--out", out)
        assert code == 2 and "different configuration" in err
        assert ("range" in err) or ("slices" in err)
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--transform", "rotation"], "gsmooth surrogate train --transform rotation"),
        (["--transform", "rotational_blur", "--range"], "kind 'empirical'"),
        (["--transform", "contrast", "--noise", "laplace", "--sigma", "0.2", "--range"], "expected --noise gaussian, got 'laplace'"),
        (["--range", "0:1"], "--range/--slices certify a transformation parameter"),
        (["--transform", "brightness", "--slices", "3"], "expected --range"),
    ],
)
def test_refusals_are_one_line_exit_2(ckpts, tmp_path, capsys, argv, expected):
    out = tmp_path / "x.tsv"
    code, _, err = run_cli(capsys, "certify", "--model", ckpts["additive"], *argv, *SMALL, "--max", "1", "--out", out)
    assert code == 2, err
    assert expected in err
    assert not out.exists()


def test_train_with_transform_defaults_and_refusal(ckpts, tmp_path, capsys):
    out = tmp_path / "tb.pt"
    tiny = ["--dataset", "fashion-mnist", "--epochs", "1", "--max-train", "32", "--max-eval", "16", "--batch", "16", "--no-progress"]
    code, stdout, err = run_cli(capsys, "train", "--transform", "brightness", *tiny, "--out", out)
    assert code == 0, err
    sm = load_checkpoint(out).smoothing
    assert sm == {"noise": "gaussian", "noise_params": {"sigma": 0.2}, "transform": "brightness", "transform_params": {}}
    code, _, err = run_cli(capsys, "train", "--transform", "rotation", *tiny, "--out", tmp_path / "rot.pt")
    assert code == 2 and "--surrogate" in err and "gsmooth surrogate train --transform rotation" in err


@pytest.mark.filterwarnings("ignore::UserWarning")  # G's autograd/finite-difference cross-check notes on a random surrogate
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_surrogate_train_certify_attack(ckpts, tmp_path, capsys):
    model = tmp_path / "rb.pt"
    tiny = ["--dataset", "fashion-mnist", "--max-train", "16", "--max-eval", "8", "--batch", "16", "--no-progress"]
    code, stdout, err = run_cli(capsys, "train", "--transform", "rotational_blur", "--surrogate", ckpts["surrogate"],
                                "--epochs", "1", *tiny, "--out", model)
    assert code == 0, err
    sm = load_checkpoint(model).smoothing
    assert sm["surrogate"] == str(Path(ckpts["surrogate"]).resolve()) and len(sm["surrogate_sha256"]) == 64
    assert (sm["noise"], sm["noise_params"], sm["latent_sigma"]) == ("gaussian", {"sigma": 2.5}, 1.0)  # rotational_blur's default sigma_xi
    # resume picks the surrogate up from the checkpoint
    code, _, err = run_cli(capsys, "train", "--transform", "rotational_blur", "--epochs", "2", *tiny, "--resume",
                           "--out", model)
    assert code == 0, err
    assert load_checkpoint(model).epoch == 2
    # the short command: transform, noise, sigma, surrogate all from the checkpoint
    out = tmp_path / "c.tsv"
    code, stdout, err = run_cli(capsys, "certify", "--model", model, *SMALL, "--max", "1", "--out", out)
    assert code == 0, err
    t = read_results(out)
    assert t.extra["kind"][0] == "surrogate" and t.extra["mstar"][0] >= 1.0
    assert t.extra["transform"][0].startswith("surrogate(rotational_blur") and t.extra["range"][0] == "0:10"
    assert t.extra["guarantee"][0] == "sound" and "guarantee sound" in stdout  # rotational blur: proven bounds
    cfg = json.loads(Path(str(out) + ".json").read_text())["config"]
    assert cfg["surrogate_sha256"] == sm["surrogate_sha256"] and cfg["transform"] == "rotational_blur"
    out2 = tmp_path / "ci.tsv"
    code, stdout, err = run_cli(capsys, "certify", "--model", model, "--range", "0:4", "--slices", "2", *SMALL,
                                "--max", "1", "--out", out2)
    assert code == 0, err
    t = read_results(out2)
    assert t.extra["certificate"][0] == "interval" and t.extra["kind"][0] == "surrogate"
    assert t.extra["slice_alpha"][0] == pytest.approx(0.0005)
    out3 = tmp_path / "a.tsv"
    code, stdout, err = run_cli(capsys, "attack", "--model", model, "--range", "0:4", "--grid", "3", "--steps", "1",
                                "--eot", "2", "--n", "20", "--candidates", "1", "--max", "1", "--no-progress", "--out", out3)
    assert code == 0, err
    t = read_results(out3)
    assert len(t) == 1 and t.extra["kind"][0] == "surrogate" and "empirical robust accuracy" in stdout


def test_attack_cli_rows_and_resume(ckpts, tmp_path, capsys):
    out = tmp_path / "att.tsv"
    args = ["attack", "--model", ckpts["bright"], "--range", "-0.2:0.2", "--grid", "5", "--steps", "1", "--eot", "2",
            "--n", "20", "--candidates", "2", "--no-progress"]
    code, stdout, err = run_cli(capsys, *args, "--max", "1", "--out", out)
    assert code == 0, err
    header = out.read_text().splitlines()[0].split("\t")
    assert header[:5] == ["idx", "label", "predict", "correct", "time"]
    assert header[5:9] == ["base_correct", "smoothed_correct", "base_prediction", "worst_theta"]
    t = read_results(out)
    assert len(t) == 1 and set(t.extra["range"]) == {"-0.2:0.2"}
    assert list(t.correct) == list(t.extra["smoothed_correct"])
    for w in t.extra["worst_theta"]:
        assert -0.2 - 1e-6 <= float(w) <= 0.2 + 1e-6
    assert "empirical robust accuracy base" in stdout
    code, _, err = run_cli(capsys, *args, "--max", "2", "--out", out)
    assert code == 0 and "resuming" in err and len(read_results(out)) == 2
    code, _, err = run_cli(capsys, "attack", "--model", ckpts["additive"], "--max", "1", "--out", tmp_path / "z.tsv")
    assert code == 2 and "additive" in err


def test_help_mentions_the_new_options(capsys):
    for cmd, flags in (("certify", ("--range", "--slices", "--surrogate", "--latent-sigma")),
                       ("attack", ("--range", "--grid", "--steps", "--eot", "--n ", "--max", "--out")),
                       ("train", ("--transform", "--surrogate", "--latent-sigma"))):
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0
        text = capsys.readouterr().out
        assert "example" in text.lower()
        for flag in flags:
            assert flag in text, (cmd, flag)
