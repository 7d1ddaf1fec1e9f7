"""Nothing lost: every command that writes checks its output before any work, never overwrites a
file gsmooth did not write for the same configuration, never writes onto one of its inputs, and
writes through a temporary file and an atomic rename (gsmooth.io.output_files)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import gsmooth
from gsmooth.cli import main
from gsmooth.data.datasets import dataset_info
from gsmooth.errors import OutputFileError, ResultsFileError
from gsmooth.models.architectures import build_model
from gsmooth.io.output_files import atomic_output, check_output_dir, check_output_file, same_file
from gsmooth.io.results import ResultsWriter, read_results, sidecar_path
from toy_models import fashion_mnist_checkpoint


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot(folder) -> dict:
    return {p.relative_to(folder): digest(p) for p in Path(folder).rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return fashion_mnist_checkpoint(tmp_path_factory.mktemp("ckpt") / "fm.pt")


@pytest.fixture(scope="module")
def nan_ckpt(tmp_path_factory) -> Path:
    info = dataset_info("fashion-mnist")
    model = build_model("small_cnn", num_classes=10, input_shape=info.input_shape, mean=info.mean, std=info.std)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    return fashion_mnist_checkpoint(tmp_path_factory.mktemp("nan") / "nan.pt", model=model)


SMALL = ["--n0", "10", "--n", "50", "--batch", "50", "--max", "3", "--no-progress"]


def assert_one_line_refusal(code, err, command, needle):
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"gsmooth {command}: error: ") and needle in lines[0], err
    assert "Traceback" not in err


# -- the policy itself ----------------------------------------------------------------------------------


def test_same_file_sees_links_not_strings(tmp_path):
    a = tmp_path / "a.pt"
    a.write_bytes(b"x")
    (tmp_path / "link.pt").symlink_to(a)
    os.link(a, tmp_path / "hard.pt")
    assert same_file(a, tmp_path / "link.pt") and same_file(a, tmp_path / "hard.pt")
    assert same_file(a, tmp_path / "sub" / ".." / "a.pt")
    assert not same_file(a, tmp_path / "b.pt")


def test_check_output_file_refusals(tmp_path):
    model = tmp_path / "m.pt"
    model.write_bytes(b"weights")
    with pytest.raises(OutputFileError, match="which is the --model file"):
        check_output_file(tmp_path / "." / "m.pt", inputs={"--model": model})
    with pytest.raises(OutputFileError, match="already exists"):
        check_output_file(model)
    with pytest.raises(OutputFileError, match="which is a folder"):
        check_output_file(tmp_path)
    with pytest.raises(OutputFileError, match="does not exist"):
        check_output_file(tmp_path / "missing" / "x.tsv")
    with pytest.raises(OutputFileError, match="expected a file path, got an empty one"):
        check_output_file("")
    if os.geteuid() == 0:  # root ignores permission bits; sysfs refuses even root
        with pytest.raises(OutputFileError, match="writable location"):
            check_output_file("/sys/gsmooth-x.tsv")
    assert isinstance(OutputFileError("x"), OSError) and issubclass(ResultsFileError, OutputFileError)
    assert check_output_file(model, exists_ok=True) == model


def test_atomic_output_keeps_the_old_file_on_error_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_output(target, "wb") as f:
            f.write(b"half of the new")
            raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(tmp_path / "part.txt", "w", keep_on_interrupt=True) as f:
            f.write("line 1\n")
            raise KeyboardInterrupt
    assert (tmp_path / "part.txt").read_text() == "line 1\n"
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(tmp_path / "gone.txt", "w") as f:
            f.write("x")
            raise KeyboardInterrupt
    assert not (tmp_path / "gone.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_check_output_dir_refuses_files_of_this_run_and_the_input_folder(tmp_path):
    (tmp_path / "fog.npy").write_bytes(b"user data")
    with pytest.raises(OutputFileError, match="already holds fog.npy"):
        check_output_dir(tmp_path, names=("fog.npy", "labels.npy"))
    with pytest.raises(OutputFileError, match="is the --data-dir folder"):
        check_output_dir(tmp_path, inputs={"--data-dir": tmp_path}, names=("x.npy",))
    assert check_output_dir(tmp_path / "new", names=("fog.npy",)) == tmp_path / "new"


# -- results files ----------------------------------------------------------------------------------------


def test_a_users_json_named_like_the_sidecar_is_never_overwritten(tmp_path):
    out = tmp_path / "r.tsv"
    Path(sidecar_path(out)).write_text('{"my": "settings"}\n')
    before = digest(sidecar_path(out))
    with pytest.raises(ResultsFileError, match="gsmooth never overwrites a file it did not write"):
        ResultsWriter(out, columns=[], config={"a": 1})
    assert digest(sidecar_path(out)) == before and not out.exists()


def test_a_run_failing_before_its_first_row_leaves_nothing(tmp_path):
    out = tmp_path / "r.tsv"
    with pytest.raises(RuntimeError):
        with ResultsWriter(out, columns=[], config={"a": 1}):
            raise RuntimeError("the model failed on the first batch")
    assert not out.exists() and not Path(sidecar_path(out)).exists()
    with ResultsWriter(out, columns=[], config={"a": 2}) as w:  # another configuration may now use the path
        w.write({"idx": 0, "label": 1, "predict": 1, "radius": 0.5, "time": 0.1})
    with pytest.raises(RuntimeError):  # rows written before a failure are kept
        with ResultsWriter(out, columns=[], config={"a": 2}) as w:
            raise RuntimeError("later failure")
    assert len(read_results(out)) == 1


def test_info_is_recorded_but_not_compared(tmp_path):
    out = tmp_path / "r.tsv"
    with ResultsWriter(out, columns=[], config={"sha": "abc"}, info={"model": "/a/m.pt"}) as w:
        w.write({"idx": 0, "label": 1, "predict": 1, "radius": 0.5, "time": 0.1})
    with ResultsWriter(out, columns=[], config={"sha": "abc"}, info={"model": "/b/copy.pt"}) as w:
        assert w.done == {0}
    assert json.loads(Path(sidecar_path(out)).read_text())["info"] == {"model": "/a/m.pt"}
    with pytest.raises(ResultsFileError, match="sha expected"):
        ResultsWriter(out, columns=[], config={"sha": "other"}, info={"model": "/a/m.pt"})


# -- commands -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["certify", "predict", "attack"])
def test_out_equal_to_the_model_is_refused_before_any_work(ckpt, tmp_path, capsys, command):
    model = tmp_path / "fm.pt"
    shutil.copy(ckpt, model)
    before = digest(model)
    extra = ["--transform", "brightness", "--range", "-0.1:0.1"] if command == "attack" else []
    for out in (model, tmp_path / "link.pt"):
        if out.name == "link.pt":
            out.symlink_to(model)
        code, _, err = run_cli(capsys, command, "--model", model, *extra, "--max", "1", "--no-progress", "--out", out)
        assert_one_line_refusal(code, err, command, "is the --model file")
    assert digest(model) == before


def test_out_sidecar_equal_to_an_input_is_refused(ckpt, tmp_path, capsys):
    model = tmp_path / "fm.json"  # a checkpoint whose name is the sidecar of --out fm
    shutil.copy(ckpt, model)
    code, _, err = run_cli(capsys, "certify", "--model", model, *SMALL, "--out", tmp_path / "fm")
    assert_one_line_refusal(code, err, "certify", "is the --model file")
    assert digest(model) == digest(ckpt)


def test_nan_model_leaves_no_header_only_file(nan_ckpt, ckpt, tmp_path, capsys):
    out = tmp_path / "r.tsv"
    code, _, err = run_cli(capsys, "certify", "--model", nan_ckpt, *SMALL, "--out", out)
    assert_one_line_refusal(code, err, "certify", "expected finite logits")
    assert not out.exists() and not Path(sidecar_path(out)).exists()
    code, _, err = run_cli(capsys, "certify", "--model", ckpt, *SMALL, "--out", out)  # the path is free again
    assert code == 0, err and len(read_results(out)) == 3


def test_a_copied_checkpoint_resumes(ckpt, tmp_path, capsys):
    out = tmp_path / "r.tsv"
    code, _, err = run_cli(capsys, "certify", "--model", ckpt, *SMALL, "--out", out)
    assert code == 0, err
    copy = tmp_path / "moved" / "fm.pt"
    copy.parent.mkdir()
    shutil.copy(ckpt, copy)
    code, _, err = run_cli(capsys, "certify", "--model", copy, *SMALL[:-3], "--max", "4", "--no-progress", "--out", out)
    assert code == 0, err
    assert "resuming" in err and "3 rows present, 1 to go" in err
    assert sorted(read_results(out).idx.tolist()) == [0, 1, 2, 3]


def test_summary_covers_the_selection_not_the_file(ckpt, tmp_path, capsys):
    out = tmp_path / "r.tsv"
    code, stdout, _ = run_cli(capsys, "certify", "--model", ckpt, *SMALL[:-3], "--max", "4", "--no-progress", "--out", out)
    assert code == 0 and "4 images" in stdout
    code, stdout, _ = run_cli(capsys, "certify", "--model", ckpt, *SMALL[:-3], "--max", "2", "--no-progress", "--out", out)
    assert code == 0 and "gsmooth certify: 2 images" in stdout, stdout
    code, stdout, _ = run_cli(capsys, "predict", "--model", ckpt, "--n", "20", "--max", "3", "--no-progress",
                              "--out", tmp_path / "p.tsv")
    code, stdout, _ = run_cli(capsys, "predict", "--model", ckpt, "--n", "20", "--start", "1", "--max", "1",
                              "--no-progress", "--out", tmp_path / "p.tsv")
    assert code == 0 and "predicted 1 images" in stdout, stdout


def test_empty_selection_is_refused(ckpt, tmp_path, capsys):
    code, _, err = run_cli(capsys, "certify", "--model", ckpt, *SMALL, "--start", "10000000", "--out", tmp_path / "r.tsv")
    assert_one_line_refusal(code, err, "certify", "expected to select at least one")
    assert not (tmp_path / "r.tsv").exists()


def test_predict_files_never_overwrite_or_write_onto_the_input(ckpt, tmp_path, capsys):
    images = tmp_path / "images.npy"
    np.save(images, np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32))
    existing = tmp_path / "old.jsonl"
    existing.write_text("previous results\n")
    before = snapshot(tmp_path)
    for out, needle in ((images, "is the --input file"), (existing, "already exists"), (ckpt, "is the --model file")):
        code, stdout, err = run_cli(capsys, "predict", "--model", ckpt, "--input", images, "--n", "10",
                                    "--no-progress", "--out", out)
        assert_one_line_refusal(code, err, "predict", needle)
        assert stdout == ""
    assert snapshot(tmp_path) == before
    out = tmp_path / "new.jsonl"
    code, _, err = run_cli(capsys, "predict", "--model", ckpt, "--input", images, "--n", "10", "--no-progress", "--out", out)
    assert code == 0, err
    assert [json.loads(line)["file"] for line in out.read_text().splitlines()] == ["images.npy[0]", "images.npy[1]"]
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # an ordinary file, not mkstemp's private mode


def test_corrupt_never_overwrites_a_folder_it_did_not_write(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "fog.npy").write_bytes(b"my own fog")
    before = snapshot(folder)
    code, _, err = run_cli(capsys, "corrupt", "--dataset", "fashion-mnist", "--corruptions", "fog", "--max", "2",
                           "--no-progress", "--out", folder)
    assert_one_line_refusal(code, err, "corrupt", "already holds fog.npy")
    assert snapshot(folder) == before
    # a folder it wrote itself takes more corruptions of the same recipe
    out = tmp_path / "c"
    for names in ("fog", "fog,contrast"):
        code, _, err = run_cli(capsys, "corrupt", "--dataset", "fashion-mnist", "--corruptions", names, "--max", "2",
                               "--no-progress", "--out", out)
        assert code == 0, err
    assert {"fog.npy", "contrast.npy", "labels.npy", "info.json"} <= {p.name for p in out.iterdir()}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_api_images_of_another_float_dtype_and_failing_models(ckpt):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    sm = gsmooth.Smoother(model, noise=gsmooth.noise("gaussian", sigma=0.25), num_classes=10)
    x = torch.rand(2, 1, 28, 28)
    a = sm.certify(x, n0=10, n=100, alpha=0.01, seed=3)
    b = sm.certify(x.double(), n0=10, n=100, alpha=0.01, seed=3)
    assert a.prediction.tolist() == b.prediction.tolist() and np.allclose(a.radius, b.radius)
    with pytest.raises(gsmooth.ModelOutputError, match=r"failed on a batch of shape \(\d+, 3, 28, 28\)") as exc:
        sm.predict(torch.rand(2, 3, 28, 28), n=10, alpha=0.01, seed=0)
    assert isinstance(exc.value.__cause__, RuntimeError)
    with pytest.raises(gsmooth.InputError, match="meta device"):
        sm.predict(x.to("meta"), n=10, alpha=0.01)


def test_interrupt_before_the_first_line_leaves_no_empty_file(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(tmp_path / "p.jsonl", "w", keep_on_interrupt=True):
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_header_only_file_of_another_configuration_says_it_holds_no_rows(tmp_path):
    out = tmp_path / "r.tsv"
    ResultsWriter(out, columns=[], config={"a": 1}).close()  # e.g. SIGKILL after the header
    with pytest.raises(ResultsFileError, match="it holds no rows yet"):
        ResultsWriter(out, columns=[], config={"a": 2})
    with ResultsWriter(out, columns=[], config={"a": 1}) as w:
        w.write({"idx": 0, "label": 1, "predict": 1, "radius": 0.5, "time": 0.1})
    with pytest.raises(ResultsFileError) as exc:
        ResultsWriter(out, columns=[], config={"a": 2})
    assert "no rows" not in str(exc.value)
