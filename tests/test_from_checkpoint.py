"""The library builds a smoother from a checkpoint (``Smoother.from_checkpoint`` /
``gsmooth.run.SmootherSetup.load``) exactly as ``gsmooth certify --model`` does, and the typed run
configurations (``gsmooth.run.CertifyConfig`` …) refuse bad values naming the field."""

from __future__ import annotations

import argparse
import dataclasses
import re
import shutil
import warnings

import numpy as np
import pytest
import torch

import gsmooth
from gsmooth import validation as V
from gsmooth.cli import common, main
from gsmooth.data.datasets import load_dataset
from gsmooth.embedded import SAMPLE_DATASET, embedded_default
from gsmooth.errors import CheckpointError, InvalidParameterError, UnknownComponentError
from gsmooth.io.checkpoints import file_sha256
from gsmooth.io.results import read_results
from gsmooth.run import AttackConfig, CertifyConfig, PredictConfig, SmootherSetup, SmoothingMismatchWarning

from toy_models import fashion_mnist_checkpoint

ADDITIVE = embedded_default("additive").model_path
ROT_BLUR = embedded_default("rotational_blur").model_path
SURROGATE = ROT_BLUR.parent / "rotational_blur_surrogate.pt"


def _images(indices):
    data = load_dataset(SAMPLE_DATASET)
    return torch.stack([data[i][0] for i in indices])


def _cli_rows(tmp_path, capsys, *args):
    out = tmp_path / "cli.tsv"
    code = main(["certify", *map(str, args), "--dataset", SAMPLE_DATASET, "--no-progress", "--out", str(out)])
    capsys.readouterr()
    assert code == 0
    return read_results(out)


@pytest.mark.parametrize(
    "model, extra, certify_kw",
    [
        (ADDITIVE, [], {}),
        (ADDITIVE, ["--sigma", "0.5"], {"sigma": 0.5}),
        (ROT_BLUR, [], {}),  # the surrogate recorded in the checkpoint, found beside it
    ],
    ids=["additive", "additive-sigma-override", "rotational_blur-surrogate"],
)
def test_same_certificates_as_the_cli_for_a_seed(tmp_path, capsys, model, extra, certify_kw):
    keys = [0, 1, 2]
    rows = _cli_rows(tmp_path, capsys, "--model", model, "--n0", 20, "--n", 60, "--max", len(keys), "--seed", 7, *extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmoothingMismatchWarning)
        smoother = gsmooth.Smoother.from_checkpoint(model, **certify_kw)
    batch = smoother.certify(_images(keys), n0=20, n=60, alpha=0.001, batch_size=1000, seed=7, keys=keys)
    assert list(rows.idx) == keys
    np.testing.assert_array_equal(rows.predict, batch.prediction)
    np.testing.assert_array_equal(rows.radius, batch.radius)  # full precision in the TSV
    np.testing.assert_array_equal(rows.extra["count"].astype(int), batch.count)


def test_defaults_are_the_checkpoints_training_smoothing_and_nothing_warns():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would fail the test
        setup = SmootherSetup.load(ROT_BLUR)
    assert setup.transform_name == "rotational_blur" and setup.smoother.transform.kind == "surrogate"
    trained = setup.checkpoint.smoothing
    assert setup.noise_params == trained["noise_params"] and setup.latent_sigma == trained["latent_sigma"]
    assert setup.surrogate_path == str(SURROGATE.resolve()) and setup.surrogate_sha256 == file_sha256(SURROGATE)
    assert setup.dataset_name == setup.checkpoint.dataset and setup.warnings == ()
    assert setup.smoother.transform.sigma_ratio == pytest.approx(trained["latent_sigma"] / trained["noise_params"]["sigma"])


def test_overrides_take_precedence_over_the_checkpoint_then_the_transform_defaults(tmp_path):
    ck = fashion_mnist_checkpoint(tmp_path / "b.pt", smoothing={
        "noise": "gaussian", "noise_params": {"sigma": 0.3}, "transform": "brightness", "transform_params": {},
    })
    quiet = {"warn": lambda message: None}
    assert SmootherSetup.load(ck, **quiet).noise_params == {"sigma": 0.3}  # the checkpoint's
    assert SmootherSetup.load(ck, sigma=0.1, **quiet).noise_params == {"sigma": 0.1}  # the override
    other = SmootherSetup.load(ck, transform="gaussian_blur", **quiet)  # another transform: its defaults
    assert (other.smoother.noise.name, other.noise_params) == ("exponential", {"sigma": 10.0})
    laplace = SmootherSetup.load(ck, noise="laplace", sigma=0.2, **quiet)
    assert (laplace.smoother.noise.name, laplace.noise_params, laplace.transform_name) == ("laplace", {"sigma": 0.2}, "brightness")
    q = SmootherSetup.load(ck, transform="quantized_additive", transform_params={"levels": 15}, sigma=0.25, **quiet)
    assert q.transform_params == {"levels": 15} and q.smoother.transform.levels == 15
    rb = SmootherSetup.load(ROT_BLUR, latent_sigma=0.5, **quiet)
    assert rb.latent_sigma == 0.5 and rb.smoother.transform.sigma_ratio == pytest.approx(0.5 / rb.noise_params["sigma"])


def test_a_recorded_relative_surrogate_is_found_beside_the_checkpoint(tmp_path):
    folder = tmp_path / "moved"
    folder.mkdir()
    shutil.copyfile(SURROGATE, folder / "s.pt")
    smoothing = dict(SmootherSetup.load(ROT_BLUR).checkpoint.smoothing, surrogate="s.pt")
    ck = fashion_mnist_checkpoint(folder / "m.pt", smoothing=smoothing)
    setup = SmootherSetup.load(ck, warn=lambda message: None)
    assert setup.surrogate_path == str((folder / "s.pt").resolve())


def test_mismatch_warnings_are_warnings_or_go_to_the_callback_with_the_callers_names():
    with pytest.warns(SmoothingMismatchWarning, match=r"trained with noise gaussian sigma=0.25 .* sigma=0.5"):
        gsmooth.Smoother.from_checkpoint(ADDITIVE, sigma=0.5)
    said: list[str] = []
    setup = SmootherSetup.load(ROT_BLUR, latent_sigma=0.5, warn=said.append)
    assert said == list(setup.warnings) and len(said) == 1 and "latent sigma" in said[0]
    with pytest.raises(InvalidParameterError, match=r"expected --sigma \(the checkpoint records no sigma"):
        SmootherSetup.load(ADDITIVE, noise="laplace", names=common.CLI_NAMES)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"noise": "nosuch"}, UnknownComponentError, "nosuch"),
        ({"transform": "nosuch"}, UnknownComponentError, "nosuch"),
        ({"noise": 3}, InvalidParameterError, r"noise expected a registered name \(str\) or None, got 3"),
        ({"transform": " "}, InvalidParameterError, r"transform expected a registered name \(str\) or None, got an empty one"),
        ({"sigma": -1.0}, InvalidParameterError, r"parameter 'sigma' expected .*, got -1.0"),
        ({"latent_sigma": 0}, InvalidParameterError, r"parameter 'latent_sigma' expected .*, got 0"),
        ({"transform_params": 5}, InvalidParameterError, r"transform_params expected a dict"),
        ({"noise": "laplace"}, InvalidParameterError, r"expected sigma \(the checkpoint records no sigma for noise 'laplace'\)"),
        ({"surrogate": "/nowhere/s.pt"}, InvalidParameterError, r"surrogate: expected a surrogate checkpoint file, got '/nowhere/s.pt'"),
        ({"device": "nonsense"}, InvalidParameterError, r"device expected cpu, cuda or cuda:N, got 'nonsense'"),
    ],
)
def test_bad_overrides_are_typed_errors(kwargs, error, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmoothingMismatchWarning)
        with pytest.raises(error, match=match):
            gsmooth.Smoother.from_checkpoint(ADDITIVE, **kwargs)


def test_surrogate_errors_are_typed(tmp_path):
    with pytest.raises(InvalidParameterError, match=r"Gaussian noise on \(theta, xi\) only; expected noise gaussian, got 'laplace'"):
        gsmooth.Smoother.from_checkpoint(ROT_BLUR, noise="laplace", sigma=1.0)
    with pytest.raises(InvalidParameterError, match=r"expected a surrogate of transform 'rotation', got one of 'rotational_blur'"):
        gsmooth.Smoother.from_checkpoint(ADDITIVE, transform="rotation", surrogate=SURROGATE)
    with pytest.raises(CheckpointError, match="no such file"):
        gsmooth.Smoother.from_checkpoint(tmp_path / "missing.pt")


# -- run configurations ---------------------------------------------------------------------------

BASE = {"model": "m.pt", "out": "r.tsv"}


@pytest.mark.parametrize(
    "cls, field, value",
    [
        (CertifyConfig, "n0", 0), (CertifyConfig, "n", 0), (CertifyConfig, "n", 2.5), (CertifyConfig, "alpha", 0.0),
        (CertifyConfig, "alpha", 1.0), (CertifyConfig, "batch_size", 0), (CertifyConfig, "batch_size", V.MAX_BATCH + 1),
        (CertifyConfig, "seed", -1), (CertifyConfig, "seed", V.MAX_SEED + 1), (CertifyConfig, "seed", True),
        (CertifyConfig, "start", -1), (CertifyConfig, "skip", 0), (CertifyConfig, "max", 0), (CertifyConfig, "slices", 0),
        (CertifyConfig, "split", "val"), (CertifyConfig, "sigma", 0.0), (CertifyConfig, "sigma", float("nan")),
        (CertifyConfig, "latent_sigma", -1.0), (CertifyConfig, "progress", "yes"), (CertifyConfig, "require_sound", 1),
        (CertifyConfig, "range", "x"), (CertifyConfig, "range", 3), (CertifyConfig, "model", 3), (CertifyConfig, "noise", 3),
        (PredictConfig, "n0", 0), (PredictConfig, "certify", None), (PredictConfig, "input", 1.5),
        (AttackConfig, "steps", -1), (AttackConfig, "grid", 0), (AttackConfig, "eot", 0), (AttackConfig, "range", "1:0"),
    ],
)
def test_config_bad_value_is_a_typed_error_naming_the_field(cls, field, value):
    with pytest.raises(InvalidParameterError, match=rf"^{cls.__name__}: (parameter '{field}'|{field}:)"):
        cls(**{**BASE, field: value})


def test_configs_defaults_selection_and_frozen():
    cfg = CertifyConfig(**BASE, start=2, skip=3, max=2)
    assert (cfg.n0, cfg.n, cfg.alpha, cfg.batch_size, cfg.seed, cfg.range) == (100, 100_000, 0.001, 1000, 0, None)
    assert cfg.selected(20) == [2, 5] and PredictConfig(**BASE).n == 10_000 and AttackConfig(**BASE).range == "default"
    assert cfg.smoothing_overrides() == dict.fromkeys(("noise", "sigma", "transform", "surrogate", "latent_sigma", "denoiser"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n = 5  # type: ignore[misc]
    CertifyConfig(**BASE, seed=V.MAX_SEED, batch_size=V.MAX_BATCH, range="-0.2:0.2,0:1", slices=5)  # the bounds hold


def test_cli_builds_the_config_once_from_its_arguments():
    from gsmooth.cli import build_parser
    from gsmooth.cli.certify import certify_config

    args = build_parser().parse_args(
        ["certify", "--model", "m.pt", "--out", "r.tsv", "--batch", "7", "--seed", "3", "--no-progress", "--range", "0:1"]
    )
    common.apply_embedded_default(args, "certify")  # --model given: the usual --n0/--n defaults
    cfg = certify_config(args)
    assert (cfg.batch_size, cfg.seed, cfg.progress, cfg.range, cfg.n0, cfg.n) == (7, 3, False, "0:1", 100, 100_000)


#: (argparse type of gsmooth.cli.common, the configuration field checked against the same table entry)
PAIRS = [
    (common.positive_int, "n"), (common.nonneg_int, "start"), (common.seed_int, "seed"), (common.batch_int, "batch_size"),
    (common.probability, "alpha"), (common.positive_float, "sigma"),
]
EDGES = ["-1", "0", "1", "0.5", "1.0", "nan", "inf", "1e-300", str(V.MAX_BATCH), str(V.MAX_BATCH + 1),
         str(V.MAX_SEED), str(V.MAX_SEED + 1), "1e39"]


@pytest.mark.parametrize("parse, field", PAIRS, ids=[f for _, f in PAIRS])
def test_argparse_types_and_configs_accept_the_same_numbers(parse, field):
    """One source per bound: what the CLI's type accepts, the configuration accepts, and no more."""
    for text in EDGES:
        try:
            value = parse(text)
        except argparse.ArgumentTypeError:
            number = float(text) if field in ("alpha", "sigma") else (int(text) if text.lstrip("-").isdigit() else None)
            if number is not None:
                with pytest.raises(InvalidParameterError):
                    CertifyConfig(**BASE, **{field: number})
            continue
        CertifyConfig(**BASE, **{field: value})


def test_argparse_type_bounds_and_messages():
    assert common.seed_int(str(V.MAX_SEED)) == V.MAX_SEED and common.batch_int(str(V.MAX_BATCH)) == V.MAX_BATCH
    for parse, text, message in [
        (common.seed_int, str(V.MAX_SEED + 1), f"expected a seed in [0, 2**63 - 1], got {V.MAX_SEED + 1}"),
        (common.seed_int, "-1", "expected a non-negative integer, got -1"),
        (common.batch_int, str(V.MAX_BATCH + 1), f"expected a batch size in [1, 2**31 - 1], got {V.MAX_BATCH + 1}"),
        (common.float32_positive, "1e39", "expected a positive number up to 3.4e38 (float32), got 1e+39"),
        (common.float32_nonneg, "-1", "expected a number in [0, 3.4e38] (float32), got -1"),
        (common.positive_float, "x", "expected a positive number, got 'x'"),
        (common.nonneg_float, "inf", "expected a non-negative finite number, got 'inf'"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=f"^{re.escape(message)}$"):
            parse(text)


def test_training_smoothing_choices_then_the_resumed_run_then_the_defaults():
    from gsmooth.training.smoothing import resolve_training_smoothing

    assert resolve_training_smoothing("gaussian_blur") == {"noise": "exponential", "sigma": 10.0, "surrogate": None,
                                                           "latent_sigma": None}
    assert resolve_training_smoothing("brightness", sigma=0.1)["sigma"] == 0.1
    saved = {"transform": "rotational_blur", "surrogate": "/s.pt", "latent_sigma": 0.4}
    resumed = resolve_training_smoothing("rotational_blur", saved=saved)
    assert (resumed["surrogate"], resumed["latent_sigma"], resumed["sigma"]) == ("/s.pt", 0.4, 2.5)
    assert resolve_training_smoothing("rotational_blur", latent_sigma=0.3, saved=saved)["latent_sigma"] == 0.3
    with pytest.raises(InvalidParameterError, match=r"kind 'empirical'.*Expected surrogate \(train one with"):
        resolve_training_smoothing("rotational_blur", dataset="mnist")
    with pytest.raises(InvalidParameterError, match=r"expected --sigma for noise 'laplace' with transform 'brightness'"):
        resolve_training_smoothing("brightness", noise="laplace", names={"sigma": "--sigma", "surrogate": "--surrogate"})
    with pytest.raises(UnknownComponentError):
        resolve_training_smoothing("nosuch")
