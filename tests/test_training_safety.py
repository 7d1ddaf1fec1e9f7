"""`gsmooth train` and `gsmooth surrogate train`: nothing lost, nothing misleading.

Outputs are checked before any work (not an input, writable folder, new unless --resume); after
Ctrl-C / SIGTERM the advice is exactly right and the advised command works; an interrupted and
resumed run equals an uninterrupted one; a NaN/inf stops the run with one line while the checkpoint
on disk stays the last finite epoch; messages about wrong files and devices blame the right thing.
"""

from __future__ import annotations

import json
import os

import pytest
import torch

import gsmooth
from gsmooth.io.checkpoints import load_checkpoint, save_checkpoint
from gsmooth.cli import main
from gsmooth.errors import CheckpointError, InvalidParameterError, OutputFileError, TrainingDivergedError
from gsmooth.models.architectures import build_model
from gsmooth.surrogate.transform import SurrogateTransform
from gsmooth.surrogate.io import load_surrogate, save_surrogate
from gsmooth.surrogate.train import saved_surrogate_progress, train_surrogate

FM_TRAIN = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def _needs_fashion_mnist():
    try:
        gsmooth.data.datasets.load_dataset("fashion-mnist", split="test")
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"needs offline Fashion-MNIST: {exc}")


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


TRAIN = ["train", "--dataset", "fashion-mnist", "--max-train", "200", "--max-eval", "50", "--batch", "100",
         "--no-progress"]
SURROGATE = ["surrogate", "train", "--transform", "brightness", "--dataset", "fashion-mnist", "--range", "0:0.3",
             "--max-train", "32", "--batch", "16", "--max-eval", "8", "--bins", "2", "--width", "4",
             "--encoder-width", "4", "--latent-sigma", "0.1", "--no-progress"]


def _state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _tiny_surrogate_file(path):
    sur = train_surrogate("brightness", torch.rand(8, 1, 28, 28), param_range=(0.0, 0.3), epochs=1, batch_size=8,
                          width=4, encoder_width=4, dataset_name="fashion-mnist")
    save_surrogate(path, sur)
    return path


def _no_work(monkeypatch):
    """Make loading a dataset fail loudly: the refusals below must come before any work."""
    def boom(*args, **kwargs):
        raise AssertionError("work started before the output was checked")

    monkeypatch.setattr(gsmooth.training.trainer, "load_dataset", boom)
    monkeypatch.setattr(gsmooth.cli.surrogate, "load_dataset", boom)


# --------------------------------------------------------------------------------------------
# 1. outputs checked before any work
# --------------------------------------------------------------------------------------------


def test_train_outputs_are_refused_before_any_work(tmp_path, capsys, monkeypatch):
    _needs_fashion_mnist()
    _no_work(monkeypatch)
    existing = tmp_path / "m.pt"
    existing.write_bytes(b"some file")
    sur = tmp_path / "sur.pt"
    sur.write_bytes(b"a surrogate")
    folder = tmp_path / "folder"
    folder.mkdir()
    cases = []
    if os.geteuid() == 0:  # as root only /sys is reliably unwritable (before: a traceback after training)
        cases.append(([*TRAIN, "--out", "/sys/gsmooth-m.pt"], "expected a writable location"))
    cases += [
        ([*TRAIN, "--out", existing], "already exists"),
        ([*TRAIN, "--out", existing], "add --resume"),
        ([*TRAIN, "--out", folder], "which is a folder"),
        ([*TRAIN, "--out", tmp_path / "missing" / "m.pt"], "does not exist"),
        ([*TRAIN, "--transform", "rotational_blur", "--surrogate", sur, "--out", sur], "which is the --surrogate file"),
        ([*TRAIN, "--resume", "--out", FM_TRAIN], "is not an input"),
    ]
    for argv, needle in cases:
        code, _, err = run_cli(capsys, *argv)
        assert code == 2, (argv, err)
        assert needle in err, (argv, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert existing.read_bytes() == b"some file" and sur.read_bytes() == b"a surrogate"


def test_surrogate_train_outputs_are_refused_before_any_work(tmp_path, capsys, monkeypatch):
    """Before: an unwritable --out failed after the whole run with a traceback, an existing one was
    overwritten, a folder gave IsADirectoryError."""
    _needs_fashion_mnist()
    _no_work(monkeypatch)
    existing = tmp_path / "s.pt"
    existing.write_bytes(b"not ours")
    folder = tmp_path / "folder"
    folder.mkdir()
    cases = []
    if os.geteuid() == 0:
        cases.append(([*SURROGATE, "--out", "/sys/gsmooth-s.pt"], "expected a writable location"))
    cases += [
        ([*SURROGATE, "--out", existing], "already exists"),
        ([*SURROGATE, "--out", folder], "which is a folder"),
        ([*SURROGATE, "--resume", "--out", FM_TRAIN], "is not an input"),
        ([*SURROGATE, "--resume", "--out", existing], "cannot resume"),
    ]
    for argv, needle in cases:
        code, _, err = run_cli(capsys, *argv)
        assert code == 2, (argv, err)
        assert needle in err, (argv, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert existing.read_bytes() == b"not ours"


def test_train_resume_refuses_files_that_are_not_its_checkpoints(tmp_path, capsys, monkeypatch):
    _needs_fashion_mnist()
    _no_work(monkeypatch)
    sur = _tiny_surrogate_file(tmp_path / "sur.pt")
    code, _, err = run_cli(capsys, *TRAIN, "--resume", "--out", sur)
    assert code == 2 and "gsmooth surrogate" in err and "--surrogate" in err and "another tool" not in err, err
    js = tmp_path / "config.json"
    js.write_text(json.dumps({"lr": 0.1}))
    code, _, err = run_cli(capsys, *TRAIN, "--resume", "--out", js)
    assert code == 2 and "JSON" in err and "trusted" not in err, err
    info = gsmooth.data.datasets.dataset_info("fashion-mnist")
    model = build_model("small_cnn", num_classes=10, input_shape=info.input_shape, mean=info.mean, std=info.std)
    bare = save_checkpoint(tmp_path / "bare.pt", model=model, arch="small_cnn", dataset="fashion-mnist", num_classes=10,
                           input_shape=info.input_shape, mean=info.mean, std=info.std, smoothing=None, epoch=3)
    code, _, err = run_cli(capsys, *TRAIN, "--resume", "--out", bare)
    assert code == 2 and "written by `gsmooth train`" in err, err


# --------------------------------------------------------------------------------------------
# 2. interrupted: exact advice, and the advised command works (and equals an uninterrupted run)
# --------------------------------------------------------------------------------------------


def _interrupt_evaluation_at(monkeypatch, call: int):
    """Ctrl-C during the per-epoch evaluation number ``call`` (epoch ``call`` is then not saved)."""
    real = gsmooth.training.trainer.evaluate
    calls = {"n": 0}

    def evaluate(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(gsmooth.training.trainer, "evaluate", evaluate)


def test_interrupted_train_advice_is_exact_and_the_advised_command_equals_an_uninterrupted_run(
    tmp_path, capsys, monkeypatch
):
    _needs_fashion_mnist()
    argv = [*TRAIN, "--epochs", "3", "--sigma", "0.25"]
    code, _, _ = run_cli(capsys, *argv, "--out", tmp_path / "full.pt")
    assert code == 0

    out = tmp_path / "m.pt"
    with monkeypatch.context() as m:
        _interrupt_evaluation_at(m, 1)  # in epoch 1: nothing saved
        code, _, err = run_cli(capsys, *argv, "--out", out)
    assert code == 130 and "nothing was saved" in err and not out.exists(), err
    with monkeypatch.context() as m:
        _interrupt_evaluation_at(m, 2)  # in epoch 2: epoch 1 saved
        code, _, err = run_cli(capsys, *argv, "--out", out)
    assert code == 130, err
    assert "epoch, 1/3, is saved in" in err and str(out) in err and "add --resume" in err, err
    # the old advice ("run the same command again") is refused: the file exists
    code, _, err2 = run_cli(capsys, *argv, "--out", out)
    assert code == 2 and "--resume" in err2
    # the advised command works, and the result equals the uninterrupted run
    code, stdout, err = run_cli(capsys, *argv, "--out", out, "--resume")
    assert code == 0, err
    assert "resuming" in stdout and "epoch 2/3" in stdout
    a, b = load_checkpoint(out), load_checkpoint(tmp_path / "full.pt")
    assert a.epoch == b.epoch == 3
    assert _state_equal(a.state_dict, b.state_dict)


def test_train_interrupted_after_resume_says_run_it_again(tmp_path, capsys, monkeypatch):
    _needs_fashion_mnist()
    out = tmp_path / "m.pt"
    argv = [*TRAIN, "--epochs", "3", "--out", out]
    with monkeypatch.context() as m:
        _interrupt_evaluation_at(m, 2)
        assert run_cli(capsys, *argv)[0] == 130
    with monkeypatch.context() as m:
        _interrupt_evaluation_at(m, 1)  # the first epoch of the resumed run (epoch 2)
        code, _, err = run_cli(capsys, *argv, "--resume")
    assert code == 130 and "1/3" in err and "run the same command again" in err, err


def _interrupt_surrogate_after_saves(monkeypatch, saves: int):
    """Ctrl-C right after the ``saves``-th per-epoch checkpoint of train_surrogate."""
    real = gsmooth.surrogate.io.save_surrogate
    calls = {"n": 0}

    def save(*args, **kwargs):
        path = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == saves:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(gsmooth.surrogate.train, "save_surrogate", save)


def test_interrupted_surrogate_train_resumes_to_the_uninterrupted_surrogate(tmp_path, capsys, monkeypatch):
    """Before: the advice named a file that did not exist, and there was no --resume at all."""
    _needs_fashion_mnist()
    argv = [*SURROGATE, "--epochs", "3"]
    full = tmp_path / "full.pt"
    assert run_cli(capsys, *argv, "--out", full)[0] == 0

    out = tmp_path / "s.pt"
    with monkeypatch.context() as m:
        _interrupt_surrogate_after_saves(m, 1)
        code, _, err = run_cli(capsys, *argv, "--out", out)
    assert code == 130 and "epoch, 1/3, is saved in" in err and str(out) in err and "add --resume" in err, err
    assert saved_surrogate_progress(out)["epoch"] == 1
    load_surrogate(out)  # the per-epoch file is already a loadable surrogate
    code, _, err2 = run_cli(capsys, *argv, "--out", out)
    assert code == 2 and "--resume" in err2
    code, stdout, err = run_cli(capsys, *argv, "--out", out, "--resume")
    assert code == 0, err
    lines = stdout.splitlines()
    assert any(line.startswith("resuming") for line in lines) and "overall" in stdout
    assert any(line.startswith("epoch 2/3") for line in lines)
    assert not any(line.startswith("epoch 1/3") for line in lines)  # epoch 1 is not trained again
    a, b = load_surrogate(out), load_surrogate(full)
    assert _state_equal(a.state_dict(), b.state_dict())
    assert [r["l1"] for r in a.training_info["history"]] == [r["l1"] for r in b.training_info["history"]]
    assert a.heldout is not None and a.heldout.format_table() == b.heldout.format_table()
    # what `gsmooth certify --surrogate` loads
    st = SurrogateTransform.from_checkpoint(out, sigma_ratio=1.0)
    assert st.surrogate.transform_name == "brightness"


def test_surrogate_interrupted_during_evaluation_is_evaluated_by_resume(tmp_path, capsys, monkeypatch):
    _needs_fashion_mnist()
    out = tmp_path / "s.pt"
    argv = [*SURROGATE, "--epochs", "2", "--out", out]

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(gsmooth.cli.surrogate, "evaluate_surrogate", killed)
        code, _, err = run_cli(capsys, *argv)
    assert code == 130 and "all 2 epochs are saved" in err and "held-out table is not" in err, err
    code, stdout, _ = run_cli(capsys, *argv, "--resume")
    assert code == 0 and "nothing to train" in stdout and "overall" in stdout
    assert load_surrogate(out).heldout is not None


def test_resume_of_a_complete_surrogate_leaves_the_file_as_it_is(tmp_path, capsys):
    """Models trained on a surrogate record its SHA-256: a --resume with nothing to do (e.g. a
    script re-run) must not rewrite it, also for a file of an older gsmooth (no training state)."""
    _needs_fashion_mnist()
    out = tmp_path / "s.pt"
    assert run_cli(capsys, *SURROGATE, "--epochs", "1", "--out", out)[0] == 0
    before = out.read_bytes()
    code, stdout, _ = run_cli(capsys, *SURROGATE, "--epochs", "1", "--resume", "--out", out)
    assert code == 0 and "nothing to do" in stdout and "overall" in stdout
    assert out.read_bytes() == before
    raw = torch.load(out, weights_only=True)
    raw.pop("resume")
    torch.save(raw, out)
    before = out.read_bytes()
    code, stdout, _ = run_cli(capsys, *SURROGATE, "--epochs", "1", "--resume", "--out", out)
    assert code == 0 and "nothing to do" in stdout and out.read_bytes() == before
    code, _, err = run_cli(capsys, *SURROGATE, "--epochs", "2", "--resume", "--out", out)
    assert code == 2 and "cannot be continued" in err and out.read_bytes() == before


def test_surrogate_resume_refuses_a_different_configuration(tmp_path, capsys):
    _needs_fashion_mnist()
    out = tmp_path / "s.pt"
    assert run_cli(capsys, *SURROGATE, "--epochs", "1", "--out", out)[0] == 0
    before = out.read_bytes()
    changed = [a if a != "16" else "8" for a in SURROGATE]  # --batch 16 -> 8
    code, _, err = run_cli(capsys, *changed, "--epochs", "2", "--lr", "0.01", "--resume", "--out", out)
    assert code == 2 and "different configuration" in err
    assert "batch_size: expected 16 (in checkpoint), got 8" in err and "lr: expected 0.001" in err, err
    assert out.read_bytes() == before


def test_surrogate_time_limit_stop_resumes_inside_the_epoch():
    """A time-limit stop saves the position inside the epoch (permutation, generator state): the
    resumed run reproduces the uninterrupted one exactly, L1 history included."""
    import tempfile

    x = torch.rand(40, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    kw = dict(param_range=(0.0, 0.3), epochs=2, batch_size=16, width=4, encoder_width=4, seed=1, latent_sigma=0.1)
    with tempfile.TemporaryDirectory() as d:
        full = train_surrogate("brightness", x, checkpoint=os.path.join(d, "a.pt"), **kw)
        path = os.path.join(d, "b.pt")
        stopped = train_surrogate("brightness", x, checkpoint=path, time_limit=1e-9, **kw)  # stops after one batch
        assert stopped.training_info["history"][-1]["samples"] == 16
        assert saved_surrogate_progress(path) == {"epoch": 0, "epochs": 2, "partial": True, "heldout": False}
        resumed = train_surrogate("brightness", x, checkpoint=path, resume=True, **kw)
        assert _state_equal(full.state_dict(), resumed.state_dict())
        assert [(r["l1"], r["samples"]) for r in full.training_info["history"]] == \
            [(r["l1"], r["samples"]) for r in resumed.training_info["history"]]
        with pytest.raises(OutputFileError, match="resume=True"):
            train_surrogate("brightness", x, checkpoint=path, **kw)


def test_old_surrogate_files_still_load_and_are_not_resumed(tmp_path):
    """A surrogate written without a training state (older gsmooth) loads as before; resume refuses it."""
    path = _tiny_surrogate_file(tmp_path / "old.pt")
    raw = torch.load(path, weights_only=True)
    raw.pop("resume", None)
    torch.save(raw, path)
    assert load_surrogate(path).transform_name == "brightness"
    with pytest.raises(CheckpointError, match="cannot be continued"):
        train_surrogate("brightness", torch.rand(8, 1, 28, 28), param_range=(0.0, 0.3), epochs=2, batch_size=8,
                        width=4, encoder_width=4, dataset_name="fashion-mnist", checkpoint=path, resume=True)


# --------------------------------------------------------------------------------------------
# 4. a NaN/inf stops the run; the checkpoint on disk is the last finite epoch
# --------------------------------------------------------------------------------------------


def overflow_weights_at_step(monkeypatch, optimizer_cls, at: int) -> None:
    """Make ``optimizer_cls.step`` fill the first parameter with inf after its ``at``-th call: a
    finite loss whose update overflows the weights."""
    real_step = optimizer_cls.step
    calls = {"n": 0}

    def step(self, *args, **kwargs):
        result = real_step(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == at:
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(float("inf"))
        return result

    monkeypatch.setattr(optimizer_cls, "step", step)


def test_train_weights_overflowing_in_epoch_2_keep_epoch_1(tmp_path, capsys, monkeypatch):
    """A finite loss whose step overflows the weights at the end of epoch 2: before, that NaN
    checkpoint was written (and certify would later refuse it); now epoch 1 stays on disk."""
    _needs_fashion_mnist()
    overflow_weights_at_step(monkeypatch, torch.optim.SGD, 4)  # the last step of epoch 2 (200 images, batch 100)
    out = tmp_path / "m.pt"
    code, _, err = run_cli(capsys, *TRAIN, "--epochs", "3", "--out", out)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1
    assert "diverged in epoch 2/3" in err and "keeps epoch 1/3" in err and "--lr" in err, err
    ckpt = load_checkpoint(out)
    assert ckpt.epoch == 1 and all(torch.isfinite(t).all() for t in ckpt.state_dict.values() if t.is_floating_point())


def test_train_clips_gradients_by_default_and_old_checkpoints_resume_as_they_were(tmp_path, capsys, monkeypatch):
    _needs_fashion_mnist()
    seen = []
    real = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *args, **kwargs):
        seen.append(max_norm)
        return real(params, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    out = tmp_path / "m.pt"
    argv = [*TRAIN, "--noise", "laplace", "--sigma", "0.25"]
    assert run_cli(capsys, *argv, "--epochs", "1", "--out", out)[0] == 0
    assert load_checkpoint(out).extra["train_config"]["clip_grad"] == 5.0 and seen == [5.0, 5.0]
    # a checkpoint from before --clip-grad (no such key) resumes the way it was trained: unclipped
    raw = torch.load(out, weights_only=True)
    del raw["extra"]["train_config"]["clip_grad"]
    torch.save(raw, out)
    seen.clear()
    code, _, err = run_cli(capsys, *argv, "--epochs", "2", "--resume", "--out", out)
    assert code == 0, err
    assert seen == [] and load_checkpoint(out).extra["train_config"]["clip_grad"] is None
    assert run_cli(capsys, *argv, "--epochs", "1", "--clip-grad", "0", "--out", tmp_path / "off.pt")[0] == 0
    assert load_checkpoint(tmp_path / "off.pt").extra["train_config"]["clip_grad"] is None and seen == []
    code, _, err = run_cli(capsys, *argv, "--epochs", "3", "--clip-grad", "1", "--resume", "--out", out)
    assert code == 2 and "clip_grad: expected None (in checkpoint), got 1.0" in err, err


def test_train_nan_loss_names_the_epoch_and_keeps_the_last_finite_checkpoint(tmp_path, capsys, monkeypatch):
    _needs_fashion_mnist()
    real_build = gsmooth.training.trainer.build_model
    calls = {"n": 0}

    def build(*args, **kwargs):
        model = real_build(*args, **kwargs)

        def hook(module, inputs, output):
            if module.training:
                calls["n"] += 1
                if calls["n"] > 2:  # epoch 2's first batch
                    return output * float("nan")
            return output

        model.register_forward_hook(hook)
        return model

    monkeypatch.setattr(gsmooth.training.trainer, "build_model", build)
    out = tmp_path / "m.pt"
    with pytest.raises(TrainingDivergedError, match="epoch 2/2.*keeps epoch 1/2"):
        gsmooth.training.trainer.train(gsmooth.training.trainer.TrainConfig(arch="small_cnn", dataset="fashion-mnist", epochs=2,
                                                            batch_size=100, max_train=200, max_eval=20),
                               out=out, progress=False, log=lambda line: None)
    assert load_checkpoint(out).epoch == 1


def test_surrogate_nan_loss_stops_with_the_last_finite_epoch_on_disk(tmp_path, capsys, monkeypatch):
    """Before: no check at all; the NaN surrogate was evaluated and saved, exit 0."""
    _needs_fashion_mnist()
    real_forward = gsmooth.surrogate.model.SurrogateModel.forward
    calls = {"n": 0}

    def forward(self, *args, **kwargs):
        y = real_forward(self, *args, **kwargs)
        if self.training:
            calls["n"] += 1
            if calls["n"] > 2:  # epoch 2 (32 images, batch 16)
                return y * float("nan")
        return y

    monkeypatch.setattr(gsmooth.surrogate.model.SurrogateModel, "forward", forward)
    out = tmp_path / "s.pt"
    code, _, err = run_cli(capsys, *SURROGATE, "--epochs", "3", "--out", out)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1
    assert "diverged in epoch 2/3" in err and "keeps epoch 1/3" in err and "--lr" in err, err
    assert saved_surrogate_progress(out)["epoch"] == 1
    sur = load_surrogate(out)
    assert all(torch.isfinite(t).all() for t in sur.state_dict().values() if t.is_floating_point())


def test_surrogate_nan_in_epoch_1_saves_nothing(tmp_path):
    x = torch.rand(16, 1, 8, 8)
    x[0, 0, 0, 0] = float("nan")
    out = tmp_path / "s.pt"
    with pytest.raises(TrainingDivergedError, match="epoch 1/2.*nothing was saved"):
        train_surrogate("brightness", x, param_range=(0.0, 0.3), epochs=2, batch_size=16, width=4, encoder_width=4,
                        checkpoint=out)
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# 3. messages that blame the right thing
# --------------------------------------------------------------------------------------------


def test_surrogate_given_as_model_is_named_as_a_surrogate(tmp_path, capsys):
    sur = _tiny_surrogate_file(tmp_path / "sur.pt")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(sur)
    msg = str(info.value)
    assert "gsmooth surrogate" in msg and "--surrogate" in msg and "another tool" not in msg
    code, _, err = run_cli(capsys, "certify", "--model", sur, "--n0", "10", "--n", "20", "--max", "1",
                           "--no-progress", "--out", tmp_path / "r.tsv")
    assert code == 2 and "gsmooth surrogate" in err and "--surrogate" in err and "another tool" not in err, err


def test_non_torch_files_never_suggest_trusted(tmp_path):
    import numpy as np

    js = tmp_path / "model.json"
    js.write_text('{"arch": "small_cnn"}')
    npy = tmp_path / "w.npy"
    np.save(npy, np.zeros(3))
    for path, needle in ((js, "JSON"), (npy, "NumPy")):
        for load in (load_checkpoint, load_surrogate):
            with pytest.raises(CheckpointError) as info:
                load(path)
            assert needle in str(info.value) and "trusted" not in str(info.value), str(info.value)


def test_a_wrong_device_is_blamed_on_the_device(tmp_path, capsys):
    sur = _tiny_surrogate_file(tmp_path / "sur.pt")
    info = gsmooth.data.datasets.dataset_info("fashion-mnist")
    model = build_model("small_cnn", num_classes=10, input_shape=info.input_shape, mean=info.mean, std=info.std)
    ckpt = save_checkpoint(tmp_path / "m.pt", model=model, arch="small_cnn", dataset="fashion-mnist", num_classes=10,
                           input_shape=info.input_shape, mean=info.mean, std=info.std, smoothing=None, epoch=0)
    missing = [d for d in ("cuda", "cuda:0") if not torch.cuda.is_available()]
    if torch.cuda.is_available():
        missing.append(f"cuda:{torch.cuda.device_count()}")
    for device in ("nonsense", "meta", *missing):
        for load in (load_checkpoint, load_surrogate):
            with pytest.raises(InvalidParameterError, match="map_location expected") as exc:
                load(ckpt if load is load_checkpoint else sur, map_location=device)
            assert not isinstance(exc.value, CheckpointError)
        code, _, err = run_cli(capsys, "certify", "--model", ckpt, "--device", device, "--max", "1", "--no-progress",
                               "--out", tmp_path / "r.tsv")
        assert code == 2 and "--device expected" in err and "checkpoint" not in err, err
        code, _, err = run_cli(capsys, *TRAIN, "--device", device, "--out", tmp_path / "t.pt")
        assert code == 2 and "--device expected" in err, err
        code, _, err = run_cli(capsys, "surrogate", "eval", "--surrogate", sur, "--device", device)
        assert code == 2 and "--device expected" in err, err


def test_surrogate_weights_overflowing_are_never_saved(tmp_path, monkeypatch):
    overflow_weights_at_step(monkeypatch, torch.optim.Adam, 2)  # the last step of epoch 2 (16 images, batch 16)
    out = tmp_path / "s.pt"
    with pytest.raises(TrainingDivergedError, match=r"epoch 2/3: weight .* keeps epoch 1/3"):
        train_surrogate("brightness", torch.rand(16, 1, 8, 8), param_range=(0.0, 0.3), epochs=3, batch_size=16,
                        width=4, encoder_width=4, checkpoint=out)
    assert saved_surrogate_progress(out)["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in load_surrogate(out).state_dict().values())


def test_sigterm_of_a_real_train_process_gives_the_exact_advice(tmp_path):
    """`kill` (a scheduler's time limit) of a real `gsmooth train`: exit 143, the message names the
    saved epoch and --resume, and that command continues from it."""
    import signal
    import subprocess
    import sys
    import time

    _needs_fashion_mnist()
    out = tmp_path / "m.pt"
    argv = [sys.executable, "-m", "gsmooth", *TRAIN[:3], "--max-train", "1000", "--max-eval", "20", "--batch", "100",
            "--no-progress", "--epochs", "40", "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while not out.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert out.exists(), proc.stderr.read() if proc.poll() is not None else "no checkpoint in time"
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 143, err
    epoch = load_checkpoint(out).epoch
    assert 1 <= epoch < 40
    assert f"the last completed epoch, {epoch}/40, is saved in {out}; add --resume" in err, err
    r = subprocess.run([*argv[:-4], "--epochs", str(epoch + 1), "--out", str(out), "--resume"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"resuming {out} after epoch {epoch}/{epoch + 1}" in r.stdout and load_checkpoint(out).epoch == epoch + 1
