"""The embedded default: models, surrogate and test images shipped in the package, used by
`gsmooth certify` without --model (offline, out of the box)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from gsmooth.io.checkpoints import load_checkpoint
from gsmooth.cli import main
from gsmooth.run.smoother_setup import recorded_path_near
from gsmooth.data.datasets import DEBIAN_FASHION_MNIST_DIR, load_dataset
from gsmooth.embedded import (
    DEFAULTS_FILE, EMBEDDED, EMBEDDED_DIR, SAMPLE_FILE, SAMPLE_SIZE, EmbeddedDefault, embedded_default, manifest,
    read_defaults,
)
from gsmooth.errors import InvalidParameterError
from gsmooth.io.results import read_results


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_files_are_shipped_small_and_match_the_manifest():
    m = manifest()
    assert m["command"] == "bash experiments/embedded/build.sh"
    names = {e.model for e in EMBEDDED.values()} | {SAMPLE_FILE, "rotational_blur_surrogate.pt"}
    assert names <= set(m["files"])
    total = 0
    for name, entry in m["files"].items():
        data = (EMBEDDED_DIR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        total += len(data)
    assert total == m["total_bytes"] <= 10 * 1024 * 1024


def test_embedded_defaults_are_data_beside_the_models(tmp_path):
    """Which transforms have an embedded model (and their sample sizes) is embedded.json, packaged
    from experiments/embedded/embedded.json, not a table in the code."""
    source = Path(__file__).resolve().parents[1] / "experiments" / "embedded" / DEFAULTS_FILE
    assert (EMBEDDED_DIR / DEFAULTS_FILE).read_bytes() == source.read_bytes()  # package.py copies it
    entries = json.loads(source.read_text())["defaults"]
    assert list(EMBEDDED) == [e["transform"] for e in entries]
    assert all(EMBEDDED[e["transform"]] == EmbeddedDefault(**e) for e in entries)
    assert {"additive", "rotational_blur"} <= set(EMBEDDED) and EMBEDDED["rotational_blur"].interval
    assert DEFAULTS_FILE in manifest()["files"]
    # another entry is just another line of data
    path = tmp_path / DEFAULTS_FILE
    path.write_text(json.dumps({"defaults": entries + [
        {"transform": "zoom_blur", "model": "zoom_blur.pt", "n0": 5, "n": 50, "max_images": 2, "interval": True}]}))
    assert read_defaults(path)["zoom_blur"].model_path == EMBEDDED_DIR / "zoom_blur.pt"
    assert read_defaults(tmp_path / "absent.json") == {}
    for bad, match in [
        ({"defaults": [{"transform": "a", "model": "a.pt", "n0": 0, "n": 5, "max_images": 1}]}, "expected n0 a positive integer, got 0"),
        ({"defaults": [{"transform": "a", "model": "a.pt", "n": 5, "max_images": 1}]}, "expected an entry with keys"),
        ({"defaults": [{"transform": "a", "model": "a.pt", "n0": 1, "n": 5, "max_images": 1, "interval": "yes"}]}, "expected interval"),
        ({"defaults": [entries[0], entries[0]]}, "expected one entry per transform"),
        ([], "expected an object with a list 'defaults'"),
    ]:
        path.write_text(json.dumps(bad))
        with pytest.raises(InvalidParameterError, match=match):
            read_defaults(path)


def test_embedded_checkpoints_describe_their_smoothing():
    add = load_checkpoint(embedded_default("additive").model_path)
    assert add.dataset == "fashion-mnist" and add.smoothing["noise"] == "gaussian"
    assert add.optimizer_state is None  # weights only
    rb = load_checkpoint(embedded_default("rotational_blur").model_path)
    assert rb.smoothing["transform"] == "rotational_blur"
    assert rb.smoothing["surrogate"] == "rotational_blur_surrogate.pt"  # relative: found beside the checkpoint
    digest = hashlib.sha256((EMBEDDED_DIR / "rotational_blur_surrogate.pt").read_bytes()).hexdigest()
    assert rb.smoothing["surrogate_sha256"] == digest


def test_sample_dataset_is_the_first_test_images():
    ds = load_dataset("fashion-mnist-sample")
    assert len(ds) == SAMPLE_SIZE and ds.data.shape[1:] == (1, 28, 28) and ds.classes[0] == "T-shirt/top"
    if Path(DEBIAN_FASHION_MNIST_DIR).is_dir():  # CI installs the Debian package: the very same pixels
        full = load_dataset("fashion-mnist")
        assert torch.equal(ds.data, full.data[:SAMPLE_SIZE]) and torch.equal(ds.targets, full.targets[:SAMPLE_SIZE])
    with pytest.raises(InvalidParameterError, match="expected split 'test'"):
        load_dataset("fashion-mnist-sample", split="train")


def test_certify_without_model_uses_the_embedded_additive_default(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "certify", "--max", "3", "--n0", "20", "--n", "200", "--no-progress")
    assert code == 0, err
    rows = read_results(tmp_path / "gsmooth-certify-additive.tsv")
    assert list(rows.idx) == [0, 1, 2]
    config = json.loads((tmp_path / "gsmooth-certify-additive.tsv.json").read_text())["config"]
    assert config["dataset"] == "fashion-mnist-sample" and config["n"] == 200
    assert "certified accuracy" in out and "embedded default" in out and "gsmooth-certify-additive.tsv" in out
    # the same model, given explicitly, on the same images gives the same rows
    code, _, err = run_cli(
        capsys, "certify", "--model", embedded_default("additive").model_path, "--dataset", "fashion-mnist-sample",
        "--max", "3", "--n0", "20", "--n", "200", "--no-progress", "--out", tmp_path / "explicit.tsv",
    )
    assert code == 0, err
    assert list(read_results(tmp_path / "explicit.tsv").radius) == list(rows.radius)


def test_certify_rotational_blur_without_model_gives_interval_rows(tmp_path, capsys):
    out_file = tmp_path / "rb.tsv"
    code, out, err = run_cli(
        capsys, "certify", "--transform", "rotational_blur", "--max", "1", "--n0", "10", "--n", "50",
        "--no-progress", "--require-sound", "--out", out_file,
    )
    assert code == 0, err
    t = read_results(out_file)
    assert len(t) == 1
    text = out_file.read_text().splitlines()
    head, row = text[0].split("\t"), text[1].split("\t")
    rec = dict(zip(head, row))
    assert rec["kind"] == "surrogate" and rec["certificate"] == "interval" and rec["range"] == "0:10"
    assert float(rec["mstar"]) >= 1.0
    # rotational blur has a proven path speed bound and F2 a proven Lipschitz constant: sound
    assert rec["guarantee"] == "sound" and "guarantee sound" in out
    assert "over the whole range [0:10]" in out and "family-wise alpha" in out


def test_require_sound_refuses_an_estimate_before_any_work(monkeypatch, tmp_path, capsys):
    """A true transform without a proven speed bound gives an ``estimate``: --require-sound exits 2."""
    from gsmooth.core.transform import Transform
    from gsmooth_plugins.transforms.rotational_blur import RotationalBlur

    monkeypatch.setattr(RotationalBlur, "path_speed_bound", Transform.path_speed_bound)
    out_file = tmp_path / "rb.tsv"
    code, out, err = run_cli(
        capsys, "certify", "--transform", "rotational_blur", "--max", "1", "--n0", "10", "--n", "50",
        "--no-progress", "--require-sound", "--out", out_file,
    )
    assert code == 2 and "--require-sound: expected a certificate resting on a proven bound, got guarantee 'estimate'" in err
    assert len(err.strip().splitlines()) == 1 and not out_file.exists()
    code, out, err = run_cli(
        capsys, "certify", "--transform", "rotational_blur", "--max", "1", "--n0", "10", "--n", "50",
        "--no-progress", "--out", out_file,
    )
    assert code == 0 and "guarantee ESTIMATE" in out
    rec = dict(zip(*[line.split("\t") for line in out_file.read_text().splitlines()[:2]]))
    assert rec["guarantee"] == "estimate"


def test_no_embedded_default_for_other_transforms(capsys, tmp_path):
    code, _, err = run_cli(capsys, "certify", "--transform", "zoom_blur", "--out", tmp_path / "z.tsv")
    assert code == 2 and "no embedded default model for transform 'zoom_blur'" in err and "--model" in err
    assert "Traceback" not in err


def test_model_without_out_is_refused(capsys):
    code, _, err = run_cli(capsys, "certify", "--model", embedded_default("additive").model_path)
    assert code == 2 and "expected --out" in err


def test_recorded_surrogate_path_is_relative_to_the_checkpoint(tmp_path):
    (tmp_path / "s.pt").write_bytes(b"x")
    ck = tmp_path / "m.pt"
    assert recorded_path_near("s.pt", ck) == str(tmp_path.resolve() / "s.pt")
    # an absolute path that moved: the same name beside the checkpoint
    assert recorded_path_near("/nowhere/at/all/s.pt", ck) == str(tmp_path.resolve() / "s.pt")
    assert recorded_path_near("/nowhere/at/all/t.pt", ck) == "/nowhere/at/all/t.pt"
