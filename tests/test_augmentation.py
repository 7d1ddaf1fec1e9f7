"""Baselines for the attack and corruption tables: AugMix training and vanilla (noise-free) models."""

from __future__ import annotations

import torch

from gsmooth.training.augmentation import SeededAugMix
from gsmooth.io.checkpoints import load_checkpoint, save_checkpoint
from gsmooth.cli import main


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_seeded_augmix_is_a_function_of_seed_epoch_and_call():
    img = (torch.arange(28 * 28).reshape(1, 28, 28) % 251).to(torch.uint8)
    a, b = SeededAugMix(seed=3), SeededAugMix(seed=3)
    a.set_epoch(1), b.set_epoch(1)
    outs_a = [a(img) for _ in range(4)]
    outs_b = [b(img) for _ in range(4)]
    assert all(torch.equal(x, y) for x, y in zip(outs_a, outs_b))
    assert all(x.shape == img.shape and x.dtype == torch.uint8 for x in outs_a)
    assert any(not torch.equal(x, img) for x in outs_a)  # it augments
    assert len({x.numpy().tobytes() for x in outs_a}) > 1  # successive calls differ
    c = SeededAugMix(seed=4)
    c.set_epoch(1)
    assert any(not torch.equal(x, c(img)) for x in outs_a)
    state = torch.random.get_rng_state()
    a(img)
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's global RNG is untouched


TRAIN = ["train", "--dataset", "fashion-mnist", "--max-train", "128", "--max-eval", "32", "--batch", "64",
         "--epochs", "1", "--no-progress"]


def test_augmix_training_is_recorded_and_reproducible(tmp_path, capsys):
    for name in ("a.pt", "b.pt"):
        code, _, err = run_cli(capsys, *TRAIN, "--augment", "augmix", "--out", tmp_path / name)
        assert code == 0, err
    a, b = load_checkpoint(tmp_path / "a.pt"), load_checkpoint(tmp_path / "b.pt")
    assert a.extra["train_config"]["augment"] == "augmix"
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    code, _, _ = run_cli(capsys, *TRAIN, "--out", tmp_path / "plain.pt")
    plain = load_checkpoint(tmp_path / "plain.pt").state_dict
    assert not all(torch.equal(a.state_dict[k], plain[k]) for k in plain)  # AugMix changed the training


def test_vanilla_model_records_no_smoothing_and_refuses_noise_options(tmp_path, capsys):
    code, _, err = run_cli(capsys, *TRAIN, "--no-noise", "--out", tmp_path / "v.pt")
    assert code == 0, err
    ck = load_checkpoint(tmp_path / "v.pt")
    assert ck.smoothing == {} and ck.extra["train_config"]["vanilla"] is True
    code, _, err = run_cli(capsys, *TRAIN, "--no-noise", "--sigma", "0.5", "--out", tmp_path / "w.pt")
    assert code == 2 and "--no-noise" in err and "sigma=0.5" in err


def test_checkpoints_from_before_the_new_options_still_resume(tmp_path, capsys):
    path = tmp_path / "old.pt"
    assert run_cli(capsys, *TRAIN, "--sigma", "0.25", "--out", path)[0] == 0
    ck = load_checkpoint(path)
    cfg = dict(ck.extra["train_config"])
    del cfg["augment"], cfg["vanilla"]  # as written before these options existed
    model = ck.build_model(train=True)
    save_checkpoint(path, model=model, arch=ck.arch, dataset=ck.dataset, num_classes=ck.num_classes,
                    input_shape=ck.input_shape, mean=ck.mean, std=ck.std, smoothing=ck.smoothing, epoch=1,
                    extra={**ck.extra, "train_config": cfg})
    code, out, err = run_cli(capsys, *[a if a != "1" else "2" for a in TRAIN], "--sigma", "0.25", "--resume",
                             "--out", path)
    assert code == 0, err
    assert "epoch 2/2" in out
