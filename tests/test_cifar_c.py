"""Tests of gsmooth.data.cifar_c (the CIFAR-10-C layout: write, read, malformed files) and `gsmooth corrupt`."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from gsmooth.data.cifar_c import (
    INFO_FILE,
    LABELS_FILE,
    available_corruptions,
    corruption_seed,
    load_corrupted,
    write_corrupted,
)
from gsmooth.cli import main
from gsmooth.data.corruptions import CORRUPTIONS, corrupt
from gsmooth.data.datasets import ImageTensorDataset
from gsmooth.errors import DatasetFormatError
from gsmooth.errors import DatasetNotFoundError, InputError, InvalidParameterError, UnknownComponentError

N = 12
NAMES = ["gaussian_noise", "pixelate"]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    monkeypatch.delenv("GSMOOTH_FASHION_MNIST_DIR", raising=False)
    monkeypatch.setenv("GSMOOTH_DATA_DIR", str(tmp_path / "default-root"))


def tiny(c: int = 1, n: int = N, h: int = 10, w: int = 9, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, c, h, w), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.int64)
    return torch.from_numpy(images), torch.from_numpy(labels)


def expected_rows(images: torch.Tensor, name: str, severity: int, seed: int = 0) -> torch.Tensor:
    """What the layout must hold: corrupt() run directly with the documented generator, rounded."""
    g = torch.Generator().manual_seed(corruption_seed(seed, name, severity))
    y = corrupt(images.float() / 255, name, severity, generator=g)
    return torch.round(y * 255).to(torch.uint8)


# ---------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("c", [1, 3])
def test_write_then_load_round_trips(tmp_path, c):
    images, labels = tiny(c)
    info = write_corrupted(tmp_path, images, labels, corruptions=NAMES, seed=0, source="fashion-mnist" if c == 1 else None)
    for name in NAMES:
        arr = np.load(tmp_path / f"{name}.npy")
        assert arr.dtype == np.uint8 and arr.shape == (5 * N, 10, 9, c)
    lab = np.load(tmp_path / LABELS_FILE)
    assert lab.dtype == np.uint8 and lab.tolist() == labels.tolist() * 5
    assert available_corruptions(tmp_path) == NAMES
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*(f"{n}.npy" for n in NAMES), LABELS_FILE, INFO_FILE])
    on_disk = json.loads((tmp_path / INFO_FILE).read_text())
    assert on_disk == info
    assert on_disk["corruptions"] == NAMES and on_disk["seed"] == 0 and on_disk["num_images"] == N
    assert on_disk["image_shape"] == [10, 9, c] and on_disk["gsmooth_version"]
    for name in NAMES:
        for s in range(1, 6):
            ds = load_corrupted(tmp_path, name, s)
            assert isinstance(ds, ImageTensorDataset) and len(ds) == N
            assert ds.data.shape == (N, c, 10, 9) and ds.data.dtype == torch.uint8
            assert torch.equal(ds.data, expected_rows(images, name, s))
            assert ds.targets.tolist() == labels.tolist()
            assert (ds.corruption, ds.severity, ds.split) == (name, s, "test")
            x0, y0 = ds[0]
            assert x0.dtype == torch.float32 and y0 == int(labels[0])
    if c == 1:
        assert ds.name == "fashion-mnist" and len(ds.classes) == 10
    small = load_corrupted(tmp_path, "pixelate", 2, max_images=5)
    assert torch.equal(small.data, expected_rows(images, "pixelate", 2)[:5])


def test_batches_and_float_input_and_regenerating_one_corruption(tmp_path):
    images, labels = tiny(3, seed=1)
    write_corrupted(tmp_path / "a", images, labels, corruptions=NAMES, seed=7, batch_size=5)
    # the same recipe, fed as float images, one corruption alone: identical file
    write_corrupted(tmp_path / "b", images.float() / 255, labels, corruptions=["pixelate"], seed=7, batch_size=5)
    assert (tmp_path / "a" / "pixelate.npy").read_bytes() == (tmp_path / "b" / "pixelate.npy").read_bytes()
    # batches of 5 with one generator per (corruption, severity)
    g = torch.Generator().manual_seed(corruption_seed(7, "gaussian_noise", 3))
    parts = [corrupt(images[i : i + 5].float() / 255, "gaussian_noise", 3, generator=g) for i in range(0, N, 5)]
    ref = torch.round(torch.cat(parts) * 255).to(torch.uint8)
    assert torch.equal(load_corrupted(tmp_path / "a", "gaussian_noise", 3).data, ref)
    # adding a corruption to a folder merges the list; another seed is refused
    write_corrupted(tmp_path / "b", images, labels, corruptions=["gaussian_noise"], seed=7, batch_size=5)
    assert json.loads((tmp_path / "b" / INFO_FILE).read_text())["corruptions"] == NAMES
    assert (tmp_path / "a" / "gaussian_noise.npy").read_bytes() == (tmp_path / "b" / "gaussian_noise.npy").read_bytes()
    with pytest.raises(InvalidParameterError, match="seed = 7.*got 8"):
        write_corrupted(tmp_path / "b", images, labels, corruptions=["fog"], seed=8, batch_size=5)
    assert not any(".tmp" in p.name for p in (tmp_path / "b").iterdir())


def test_a_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    images, labels = tiny(1)
    import gsmooth.data.cifar_c as cc

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(cc, "corrupt", boom)
    with pytest.raises(RuntimeError):
        write_corrupted(tmp_path, images, labels, corruptions=["fog"])
    assert not (tmp_path / "fog.npy").exists()
    assert not any(".tmp" in p.name for p in tmp_path.iterdir())
    assert json.loads((tmp_path / INFO_FILE).read_text())["corruptions"] == []


def test_write_rejects_bad_input(tmp_path):
    images, labels = tiny(1)
    with pytest.raises(UnknownComponentError, match="Did you mean 'fog'"):
        write_corrupted(tmp_path, images, labels, corruptions=["fgo"])
    with pytest.raises(InputError, match="expected shape"):
        write_corrupted(tmp_path, images[:, 0], labels)
    with pytest.raises(InputError, match=r"labels: expected shape \(12,\)"):
        write_corrupted(tmp_path, images, labels[:3])
    with pytest.raises(InputError, match="0..255"):
        write_corrupted(tmp_path, images, labels + 300)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        write_corrupted(tmp_path, images.float(), labels)
    with pytest.raises(InvalidParameterError, match="batch_size"):
        write_corrupted(tmp_path, images, labels, batch_size=0)


# ---------------------------------------------------------------------------- reading the Hendrycks layout


def _write_layout(root: Path, arr: np.ndarray, labels: np.ndarray, name: str = "fog") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / f"{name}.npy", arr)
    np.save(root / LABELS_FILE, labels)
    return root


@pytest.mark.parametrize("shape", [(10, 8, 8, 3), (10, 8, 8, 1), (10, 8, 8)])
def test_reads_hwc_grayscale_and_2d_layouts(tmp_path, shape):
    arr = np.arange(np.prod(shape), dtype=np.int64).reshape(shape).astype(np.uint8)
    labels = np.tile(np.array([3, 7], dtype=np.uint8), 5)
    _write_layout(tmp_path, arr, labels)
    ds = load_corrupted(tmp_path, "fog", 4)
    c = shape[3] if len(shape) == 4 else 1
    assert ds.data.shape == (2, c, 8, 8)
    hwc = arr[6:8] if len(shape) == 4 else arr[6:8, :, :, None]
    assert np.array_equal(ds.data.numpy(), hwc.transpose(0, 3, 1, 2))
    assert ds.targets.tolist() == [3, 7]


def test_cifar_shaped_arrays_get_cifar_classes(tmp_path):
    arr = np.zeros((10, 32, 32, 3), dtype=np.uint8)
    _write_layout(tmp_path / "c10", arr, np.tile(np.array([1, 9], dtype=np.uint8), 5))
    _write_layout(tmp_path / "c100", arr, np.tile(np.array([1, 42], dtype=np.uint8), 5))
    assert load_corrupted(tmp_path / "c10", "fog", 1).name == "cifar10"
    assert load_corrupted(tmp_path / "c100", "fog", 1).name == "cifar100"
    assert load_corrupted(tmp_path / "c100", "fog", 1, dataset="cifar100").classes[42] == "leopard"


@pytest.mark.parametrize(
    "arr, labels, match",
    [
        (np.zeros((10, 8, 8, 3), np.float32), np.zeros(10, np.uint8), "expected dtype uint8, got float32"),
        (np.zeros((10, 64), np.uint8), np.zeros(10, np.uint8), r"expected an array of shape \(5N, H, W\)"),
        (np.zeros((10, 8, 8, 4), np.uint8), np.zeros(10, np.uint8), r"got shape \(10, 8, 8, 4\)"),
        (np.zeros((12, 8, 8, 3), np.uint8), np.zeros(12, np.uint8), "divisible by 5.*got 12"),
        (np.zeros((10, 8, 8, 3), np.uint8), np.zeros(15, np.uint8), "expected 10 labels.*got 15"),
        (np.zeros((10, 8, 8, 3), np.uint8), np.zeros((10, 1), np.uint8), "expected a 1-D integer array"),
        (np.zeros((10, 8, 8, 3), np.uint8), np.zeros(10, np.float32), "expected a 1-D integer array"),
    ],
)
def test_malformed_files(tmp_path, arr, labels, match):
    _write_layout(tmp_path, arr, labels)
    with pytest.raises(DatasetFormatError, match=match) as exc:
        load_corrupted(tmp_path, "fog", 1)
    assert "\n" not in str(exc.value) and isinstance(exc.value, ValueError)


def test_not_an_npy_file(tmp_path):
    _write_layout(tmp_path, np.zeros((10, 8, 8), np.uint8), np.zeros(10, np.uint8))
    (tmp_path / "fog.npy").write_bytes(b"this is not numpy")
    with pytest.raises(DatasetFormatError, match="expected a readable .npy array"):
        load_corrupted(tmp_path, "fog", 1)


def test_missing_folder_or_file_says_where_and_how(tmp_path):
    with pytest.raises(DatasetNotFoundError) as exc:
        load_corrupted(tmp_path / "CIFAR-10-C", "fog", 1)
    msg = str(exc.value)
    assert "CIFAR-10-C" in msg and "fog.npy" in msg and "2535967" in msg and "gsmooth corrupt" in msg
    assert isinstance(exc.value, FileNotFoundError)
    _write_layout(tmp_path / "d", np.zeros((10, 8, 8), np.uint8), np.zeros(10, np.uint8), name="snow")
    with pytest.raises(DatasetNotFoundError, match=r"expected fog\.npy under .*present: snow"):
        load_corrupted(tmp_path / "d", "fog", 1)
    (tmp_path / "d" / LABELS_FILE).unlink()
    with pytest.raises(DatasetNotFoundError, match="expected labels.npy"):
        load_corrupted(tmp_path / "d", "snow", 1)
    assert available_corruptions(tmp_path / "nowhere") == []


def test_load_argument_errors(tmp_path):
    _write_layout(tmp_path, np.zeros((10, 8, 8), np.uint8), np.zeros(10, np.uint8))
    with pytest.raises(UnknownComponentError, match="Did you mean 'fog'"):
        load_corrupted(tmp_path, "foog", 1)
    with pytest.raises(InvalidParameterError, match=r"expected severity 1\.\.5, got 6"):
        load_corrupted(tmp_path, "fog", 6)
    with pytest.raises(InvalidParameterError, match="max_images"):
        load_corrupted(tmp_path, "fog", 1, max_images=0)


def test_corruption_seed_is_stable():
    assert corruption_seed(0, "fog", 1) == corruption_seed(0, "fog", 1)
    seeds = {corruption_seed(s, n, v) for s in (0, 1) for n in CORRUPTIONS for v in range(1, 6)}
    assert len(seeds) == 2 * 19 * 5 and all(0 <= s < 2**63 for s in seeds)


# ---------------------------------------------------------------------------- CLI


def _fake_fashion_mnist(directory: Path, n: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Debian-style IDX .gz files for a tiny Fashion-MNIST."""
    rng = np.random.default_rng(0)
    data = {}
    for prefix, count in (("train", 6), ("t10k", n)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count).astype(np.uint8)
        for stem, arr in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
            directory.mkdir(parents=True, exist_ok=True)
            (directory / f"{stem}.gz").write_bytes(gzip.compress(header + arr.tobytes()))
        data[prefix] = (images, labels)
    return data["t10k"]


def test_cli_corrupt_end_to_end(tmp_path, monkeypatch, capsys):
    images, labels = _fake_fashion_mnist(tmp_path / "fm")
    monkeypatch.setenv("GSMOOTH_FASHION_MNIST_DIR", str(tmp_path / "fm"))
    out = tmp_path / "fm_c"
    code = main(["corrupt", "--dataset", "fashion-mnist", "--out", str(out), "--max", "20",
                 "--corruptions", "gaussian_noise,pixelate", "--seed", "3", "--no-progress"])  # fmt: skip
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    lines = stdout.strip().splitlines()
    assert len(lines) == 1 and "20 images × 2 corruptions × 5 severities" in lines[0] and str(out) in lines[0]
    assert available_corruptions(out) == ["gaussian_noise", "pixelate"]
    info = json.loads((out / INFO_FILE).read_text())
    assert info["source"] == "fashion-mnist" and info["seed"] == 3 and info["num_images"] == 20
    ds = load_corrupted(out, "gaussian_noise", 5)
    assert ds.data.shape == (20, 1, 28, 28) and ds.targets.tolist() == labels[:20].tolist()
    assert torch.equal(ds.data, expected_rows(torch.from_numpy(images[:20, None]), "gaussian_noise", 5, seed=3))


def test_cli_rejects_unknown_corruption_with_one_line(tmp_path, capsys):
    code = main(["corrupt", "--dataset", "fashion-mnist", "--out", str(tmp_path / "x"),
                 "--corruptions", "gaussian_noise,gausian_blur", "--no-progress"])  # fmt: skip
    stdout, stderr = capsys.readouterr()
    assert code == 2 and stdout == ""
    assert len(stderr.strip().splitlines()) == 1
    assert stderr.startswith("gsmooth corrupt: error: unknown corruption") and "Did you mean 'gaussian_blur'?" in stderr
    assert not (tmp_path / "x").exists()


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["corrupt", "--help"])
    assert exc.value.code == 0
    assert "--corruptions" in capsys.readouterr().out
