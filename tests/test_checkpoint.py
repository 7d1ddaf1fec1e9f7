"""Tests of gsmooth.io.checkpoints: round trip, atomic writes, every error path."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from gsmooth.io.checkpoints import FORMAT, Checkpoint, load_checkpoint, save_checkpoint
from gsmooth.errors import CheckpointError, InvalidParameterError
from gsmooth.models.architectures import build_model

SMOOTHING = {
    "noise": "gaussian",
    "noise_params": {"sigma": 0.25},
    "transform": "additive",
    "transform_params": {},
}
META = dict(
    arch="resnet20",
    dataset="cifar10",
    num_classes=10,
    input_shape=(3, 32, 32),
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
)


def _model(arch="resnet20", **overrides):
    meta = {**META, "arch": arch, **overrides}
    torch.manual_seed(0)
    return build_model(
        meta["arch"],
        num_classes=meta["num_classes"],
        input_shape=meta["input_shape"],
        mean=meta["mean"],
        std=meta["std"],
    )


def _trained(model):
    """One SGD step so BatchNorm running stats and weights differ from a fresh build."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 5])
    loss = model(torch.rand(4, 3, 32, 32)).logsumexp(1).mean()
    loss.backward()
    opt.step()
    sched.step()
    return opt, sched


def test_round_trip(tmp_path):
    model = _model()
    opt, sched = _trained(model)
    rng = torch.get_rng_state()
    path = save_checkpoint(
        tmp_path / "ckpt" / "model.pt",
        model=model,
        **META,
        smoothing=SMOOTHING,
        epoch=7,
        optimizer=opt,
        scheduler=sched,
        extra={"rng": rng, "best_acc": 0.5},
    )
    assert path.is_file()
    ckpt = load_checkpoint(path)
    assert isinstance(ckpt, Checkpoint)
    assert (ckpt.arch, ckpt.dataset, ckpt.num_classes, ckpt.epoch) == ("resnet20", "cifar10", 10, 7)
    assert ckpt.input_shape == (3, 32, 32) and ckpt.mean == META["mean"] and ckpt.std == META["std"]
    assert ckpt.smoothing == SMOOTHING and ckpt.version == 1
    assert ckpt.torch_version == torch.__version__ and ckpt.created
    assert ckpt.extra["best_acc"] == 0.5 and torch.equal(ckpt.extra["rng"], rng)

    rebuilt = ckpt.build_model()
    assert not rebuilt.training  # eval mode by default, ready to certify
    assert (rebuilt.arch, rebuilt.num_classes, rebuilt.input_shape) == ("resnet20", 10, (3, 32, 32))
    model.eval()
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), rebuilt(x))
    assert ckpt.build_model(train=True).training

    # Optimizer and scheduler resume exactly (the MultiStepLR milestones Counter survives).
    opt2 = torch.optim.SGD(rebuilt.parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(ckpt.optimizer_state)
    sched2 = torch.optim.lr_scheduler.MultiStepLR(opt2, milestones=[1])
    sched2.load_state_dict(ckpt.scheduler_state)
    assert sched2.milestones == sched.milestones and sched2.last_epoch == 1
    assert opt2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]


def test_atomic_write_leaves_no_tmp_and_overwrites(tmp_path):
    path = tmp_path / "model.pt"
    model = _model("small_cnn", input_shape=(1, 28, 28), mean=(0.286,), std=(0.353,))
    meta = {**META, "arch": "small_cnn", "input_shape": (1, 28, 28), "mean": (0.286,), "std": (0.353,)}
    save_checkpoint(path, model=model, **meta, smoothing=SMOOTHING, epoch=1)
    save_checkpoint(str(path), model=model, **meta, smoothing=None, epoch=2)
    assert sorted(os.listdir(tmp_path)) == ["model.pt"]
    ckpt = load_checkpoint(str(path))
    assert ckpt.epoch == 2 and ckpt.smoothing == {} and ckpt.optimizer_state is None


def test_failed_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    model = _model()
    save_checkpoint(path, model=model, **META, smoothing=SMOOTHING, epoch=1)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # simulate a job killed while writing

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model=model, **META, smoothing=SMOOTHING, epoch=2)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["model.pt"]
    assert load_checkpoint(path).epoch == 1


def test_unwraps_dataparallel(tmp_path):
    model = _model()
    path = save_checkpoint(tmp_path / "m.pt", model=torch.nn.DataParallel(model), **META, smoothing={}, epoch=0)
    assert all(k.startswith(("normalize.", "net.")) for k in load_checkpoint(path).state_dict)


def test_save_rejects_non_plain_values(tmp_path):
    with pytest.raises(InvalidParameterError, match=r"extra\['np'\].*numpy.ndarray"):
        save_checkpoint(tmp_path / "m.pt", model=_model(), **META, smoothing={}, epoch=0, extra={"np": np.zeros(2)})
    with pytest.raises(InvalidParameterError, match="epoch"):
        save_checkpoint(tmp_path / "m.pt", model=_model(), **META, smoothing={}, epoch=-1)
    with pytest.raises(InvalidParameterError, match="smoothing expected a dict"):
        save_checkpoint(tmp_path / "m.pt", model=_model(), **META, smoothing="gaussian", epoch=0)
    with pytest.raises(InvalidParameterError, match="arch expected to match the model's \\('resnet20'\\), got 'resnet32'"):
        save_checkpoint(tmp_path / "m.pt", model=_model(), **{**META, "arch": "resnet32"}, smoothing={}, epoch=0)
    with pytest.raises(InvalidParameterError, match="mean and std of length C=3"):
        save_checkpoint(tmp_path / "m.pt", model=_model(), **{**META, "mean": (0.5,)}, smoothing={}, epoch=0)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------- load errors


def test_missing_file(tmp_path):
    path = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match="expected an existing file") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and isinstance(info.value, ValueError)
    with pytest.raises(CheckpointError, match="directory"):
        load_checkpoint(tmp_path)


def test_not_a_torch_file(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("these are not weights\n")
    with pytest.raises(CheckpointError, match="expected a file written by torch.save") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="torch.save"):
        load_checkpoint(empty)


def test_bare_state_dict(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(_model().net.state_dict(), path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert f"expected a gsmooth checkpoint (format={FORMAT!r})" in msg
    assert "bare state_dict" in msg and "save_checkpoint" in msg and "model.net.load_state_dict" in msg


def test_foreign_training_checkpoint(tmp_path):
    path = tmp_path / "cohen.pth.tar"
    torch.save({"arch": "cifar_resnet110", "state_dict": {}, "epoch": 90}, path)
    with pytest.raises(CheckpointError, match="without format='gsmooth-checkpoint'.*'arch'"):
        load_checkpoint(path)


def test_newer_version(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", model=_model(), **META, smoothing={}, epoch=0)
    obj = torch.load(path, weights_only=True)
    obj["version"] = 99
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match="expected checkpoint version 1..1, got 99; upgrade"):
        load_checkpoint(path)


def test_malformed_metadata(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", model=_model(), **META, smoothing={}, epoch=0)
    obj = torch.load(path, weights_only=True)
    del obj["state_dict"]
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match="none for \\['state_dict'\\]"):
        load_checkpoint(path)
    obj = torch.load(save_checkpoint(path, model=_model(), **META, smoothing={}, epoch=0), weights_only=True)
    obj["input_shape"] = None
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match="well-formed"):
        load_checkpoint(path)


def test_state_dict_not_matching_architecture(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", model=_model(), **META, smoothing={}, epoch=0)
    obj = torch.load(path, weights_only=True)
    obj["arch"] = "resnet32"  # deeper: layer1.3 … missing from the file
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match=r"matching architecture 'resnet32'.*missing keys: net\.layer1\.3\."):
        load_checkpoint(path).build_model()

    obj["arch"], obj["num_classes"] = "resnet20", 100  # same layers, wrong head size
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match=r"shape mismatch: net\.fc\.weight \(expected \(100, 64\), got \(10, 64\)\)"):
        load_checkpoint(path).build_model()

    obj["num_classes"] = 10
    obj["state_dict"]["net.extra_head.weight"] = torch.zeros(1)
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match=r"unexpected keys: net\.extra_head\.weight"):
        load_checkpoint(path).build_model()


def test_unsafe_objects_need_trusted(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", model=_model(), **META, smoothing={}, epoch=3)
    obj = torch.load(path, weights_only=True)
    obj["extra"] = {"np_state": np.arange(3)}  # written by some other code, bypassing the check
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match="trusted=True"):
        load_checkpoint(path)
    ckpt = load_checkpoint(path, trusted=True)
    assert ckpt.epoch == 3 and list(ckpt.extra["np_state"]) == [0, 1, 2]
