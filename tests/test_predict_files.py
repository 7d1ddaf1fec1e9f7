"""``gsmooth predict --input``: the user's own image files in, one JSON line per image out; and
:mod:`gsmooth.io.image_files`, which reads them (formats, channel conversion, resizing, errors)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gsmooth
from gsmooth.io.checkpoints import load_checkpoint, save_checkpoint
from gsmooth.cli import main
from gsmooth.data.datasets import dataset_info
from gsmooth.errors import InputError
from gsmooth.errors import ImageFileError, ImagePathError
from gsmooth.io.image_files import load_images
from gsmooth.models.architectures import build_model

SIZE = 12  # tiny models: 12x12 inputs
SIGMA = 0.25
FAST = ["--n", "60", "--alpha", "0.01", "--batch", "64", "--no-progress"]
PREDICT_KEYS = ["file", "class", "class_name", "abstained", "count", "n", "p_value", "alpha"]
CERTIFY_KEYS = [
    "file", "class", "class_name", "abstained", "radius", "norm", "p_lower", "count", "n0", "n", "alpha", "noise",
    "transform", "kind", "guarantee",
]


def _checkpoint(path: Path, *, channels: int, dataset: str, confident_class: int | None = None) -> Path:
    """A small_cnn checkpoint with random weights; ``confident_class`` gets a large logit bias, so
    the smoothed classifier returns it (with a positive radius) on every input."""
    torch.manual_seed(0)
    shape = (channels, SIZE, SIZE)
    mean, std = (0.5,) * channels, (0.25,) * channels
    model = build_model("small_cnn", num_classes=10, input_shape=shape, mean=mean, std=std)
    if confident_class is not None:
        last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        with torch.no_grad():
            last.bias[confident_class] += 100.0
    save_checkpoint(
        path, model=model, arch="small_cnn", dataset=dataset, num_classes=10, input_shape=shape, mean=mean, std=std,
        epoch=1,
        smoothing={"noise": "gaussian", "noise_params": {"sigma": SIGMA}, "transform": "additive", "transform_params": {}},
    )
    return path


@pytest.fixture(scope="module")
def gray_ckpt(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("ckpt") / "gray.pt", channels=1, dataset="fashion-mnist")


@pytest.fixture(scope="module")
def rgb_ckpt(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("ckpt") / "rgb.pt", channels=3, dataset="cifar10")


@pytest.fixture(scope="module")
def confident_ckpt(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("ckpt") / "conf.pt", channels=1, dataset="fashion-mnist", confident_class=3)


def _pixels(seed: int, shape) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def folder(tmp_path) -> Path:
    """a.png (gray), b.JPG (RGB), c.jpeg (RGB), plus files that are not read."""
    d = tmp_path / "images"
    d.mkdir()
    Image.fromarray(_pixels(1, (SIZE, SIZE))).save(d / "a.png")
    Image.fromarray(_pixels(2, (SIZE, SIZE, 3))).save(d / "b.JPG", quality=95)
    Image.fromarray(_pixels(3, (SIZE, SIZE, 3))).save(d / "c.jpeg", quality=95)
    (d / "notes.txt").write_text("not an image")
    (d / "sub").mkdir()
    Image.fromarray(_pixels(4, (SIZE, SIZE))).save(d / "sub" / "d.png")  # not recursive
    return d


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _smoother(ckpt_path: Path) -> gsmooth.Smoother:
    ckpt = load_checkpoint(ckpt_path)
    return gsmooth.Smoother(
        ckpt.build_model(), noise="gaussian", sigma=SIGMA, num_classes=ckpt.num_classes, input_shape=ckpt.input_shape
    )


# ------------------------------------------------------------------------------------------------
# the command
# ------------------------------------------------------------------------------------------------


def test_folder_gives_one_json_line_per_image_sorted_by_name(gray_ckpt, folder, capsys):
    code, out, err = run_cli(capsys, "predict", "--model", gray_ckpt, "--input", folder, *FAST)
    assert code == 0, err
    lines = json_lines(out)
    assert [r["file"] for r in lines] == ["a.png", "b.JPG", "c.jpeg"]
    classes = dataset_info("fashion-mnist").classes
    for r in lines:
        assert list(r) == PREDICT_KEYS
        assert r["class"] in range(-1, 10)
        assert r["abstained"] == (r["class"] == -1)
        assert r["class_name"] == (None if r["abstained"] else classes[r["class"]])
        assert r["n"] == 60 and r["alpha"] == 0.01 and 0 <= r["count"] <= 60 and 0.0 <= r["p_value"] <= 1.0
    assert len(err.strip().splitlines()) == 1  # the summary
    assert "predicted 3 images" in err and "abstained" in err and "standard output" in err


def test_lines_equal_smoother_predict_and_certify_on_the_same_tensor(rgb_ckpt, tmp_path, capsys):
    x = np.random.default_rng(5).random((5, 3, SIZE, SIZE)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    smoother = _smoother(rgb_ckpt)
    xt = torch.from_numpy(x)

    code, out, _ = run_cli(capsys, "predict", "--model", rgb_ckpt, "--input", tmp_path / "x.npy", "--seed", "4", *FAST)
    assert code == 0
    expected = smoother.predict(xt, n=60, alpha=0.01, batch_size=64, seed=4)
    lines = json_lines(out)
    assert [r["file"] for r in lines] == [f"x.npy[{i}]" for i in range(5)]
    assert [r["class"] for r in lines] == list(expected.prediction)
    assert [r["count"] for r in lines] == list(expected.count)
    assert [r["p_value"] for r in lines] == pytest.approx(list(expected.p_value), rel=1e-12)

    code, out, _ = run_cli(
        capsys, "predict", "--model", rgb_ckpt, "--input", tmp_path / "x.npy", "--certify", "--n0", "20", "--seed", "4", *FAST
    )
    assert code == 0
    expected = smoother.certify(xt, n0=20, n=60, alpha=0.01, batch_size=64, seed=4)
    lines = json_lines(out)
    assert [list(r) for r in lines] == [CERTIFY_KEYS] * 5
    assert [r["class"] for r in lines] == list(expected.prediction)
    assert [r["radius"] for r in lines] == pytest.approx(list(expected.radius), rel=1e-12)
    assert [r["p_lower"] for r in lines] == pytest.approx(list(expected.p_lower), rel=1e-12)
    names = dataset_info("cifar10").classes
    for r in lines:
        assert r["class_name"] == (None if r["class"] == -1 else names[r["class"]])
        assert r["abstained"] == (r["class"] == -1) and (r["radius"] > 0) == (not r["abstained"])


def test_certify_lines_carry_a_positive_radius(confident_ckpt, folder, tmp_path, capsys):
    out_file = tmp_path / "cert.jsonl"
    code, out, err = run_cli(
        capsys, "predict", "--model", confident_ckpt, "--input", folder, "--certify", "--n0", "10", *FAST,
        "--out", out_file,
    )
    assert code == 0 and out == ""
    assert "certified 3 images" in err and str(out_file) in err
    lines = json_lines(out_file.read_text())
    assert len(lines) == 3
    for r in lines:
        assert list(r) == CERTIFY_KEYS
        assert r["class"] == 3 and r["class_name"] == "Dress" and not r["abstained"]
        assert r["radius"] > 0 and r["p_lower"] > 0.5
        assert (r["norm"], r["kind"], r["transform"], r["n0"], r["n"]) == ("l2", "exact", "additive", 10, 60)
        assert r["noise"] == "gaussian(sigma=0.25)"


def test_same_seed_same_lines_whatever_batch_and_selection(gray_ckpt, tmp_path, capsys):
    np.save(tmp_path / "u8.npy", _pixels(7, (6, SIZE, SIZE)))
    args = ["predict", "--model", gray_ckpt, "--input", tmp_path / "u8.npy", *FAST]
    first = run_cli(capsys, *args)[1]
    assert run_cli(capsys, *args)[1] == first
    assert run_cli(capsys, *args, "--batch", "17")[1] == first
    # --start/--skip/--max select among the inputs, and give the full run's lines for them
    sub = json_lines(run_cli(capsys, *args, "--start", "1", "--skip", "2", "--max", "2")[1])
    assert sub == [json_lines(first)[1], json_lines(first)[3]]


def test_uint8_float_npy_and_pt_give_the_same_images_and_lines(gray_ckpt, tmp_path, capsys):
    u8 = _pixels(8, (4, SIZE, SIZE, 1))  # (N,H,W,C) uint8
    f32 = (u8.astype(np.float32) / 255.0).transpose(0, 3, 1, 2)  # (N,C,H,W) float
    np.save(tmp_path / "u8.npy", u8)
    np.save(tmp_path / "f32.npy", f32)
    torch.save(torch.from_numpy(f32.copy()), tmp_path / "t.pt")
    torch.save(torch.from_numpy(u8.copy()), tmp_path / "t8.pth")
    shape = (1, SIZE, SIZE)
    ref = torch.from_numpy(f32)
    for name in ("u8.npy", "f32.npy", "t.pt", "t8.pth"):
        names, x = load_images(tmp_path / name, shape)
        assert names == [f"{name}[{i}]" for i in range(4)]
        assert x.dtype == torch.float32 and x.shape == (4, 1, SIZE, SIZE)
        torch.testing.assert_close(x, ref, rtol=0, atol=1e-6)
    outs = []
    for name in ("u8.npy", "t.pt"):
        code, out, _ = run_cli(capsys, "predict", "--model", gray_ckpt, "--input", tmp_path / name, *FAST)
        assert code == 0
        outs.append([{k: v for k, v in r.items() if k != "file"} for r in json_lines(out)])
    assert outs[0] == outs[1]


def test_single_images_and_array_layouts(tmp_path):
    gray, rgb = (1, SIZE, SIZE), (3, SIZE, SIZE)
    img = _pixels(9, (SIZE, SIZE))
    np.save(tmp_path / "hw.npy", img)
    names, x = load_images(tmp_path / "hw.npy", gray)
    assert names == ["hw.npy[0]"] and x.shape == (1, 1, SIZE, SIZE)
    Image.fromarray(img).save(tmp_path / "one.PNG")
    names, y = load_images(tmp_path / "one.PNG", gray)
    assert names == ["one.PNG"]
    torch.testing.assert_close(x, y)
    # (3,H,W): three grayscale images for a 1-channel model, one RGB image for a 3-channel one
    np.save(tmp_path / "three.npy", _pixels(10, (3, SIZE, SIZE)))
    assert load_images(tmp_path / "three.npy", gray)[1].shape == (3, 1, SIZE, SIZE)
    assert load_images(tmp_path / "three.npy", rgb)[1].shape == (1, 3, SIZE, SIZE)
    hwc = _pixels(11, (SIZE, SIZE, 3))
    np.save(tmp_path / "hwc.npy", hwc)
    _, z = load_images(tmp_path / "hwc.npy", rgb)
    torch.testing.assert_close(z[0], torch.from_numpy(hwc).permute(2, 0, 1).float() / 255)


def test_gray_to_rgb_and_rgb_to_gray_conversion(tmp_path):
    gray_img, rgb_img = _pixels(12, (SIZE, SIZE)), _pixels(13, (SIZE, SIZE, 3))
    Image.fromarray(gray_img).save(tmp_path / "g.png")
    Image.fromarray(rgb_img).save(tmp_path / "c.png")
    _, x = load_images(tmp_path / "g.png", (3, SIZE, SIZE))
    assert x.shape == (1, 3, SIZE, SIZE)
    expected = torch.from_numpy(gray_img).float() / 255
    for ch in range(3):
        torch.testing.assert_close(x[0, ch], expected)
    _, y = load_images(tmp_path / "c.png", (1, SIZE, SIZE))
    pil_gray = np.asarray(Image.fromarray(rgb_img).convert("L"), dtype=np.float32) / 255
    torch.testing.assert_close(y[0, 0], torch.from_numpy(pil_gray))
    # arrays follow the same rule (PIL's luma weights; PIL rounds to 8 bits)
    np.save(tmp_path / "c.npy", rgb_img)
    _, z = load_images(tmp_path / "c.npy", (1, SIZE, SIZE))
    torch.testing.assert_close(z[0, 0], torch.from_numpy(pil_gray), rtol=0, atol=1 / 255 + 1e-6)
    np.save(tmp_path / "g.npy", gray_img)
    _, w = load_images(tmp_path / "g.npy", (3, SIZE, SIZE))
    torch.testing.assert_close(w, x)


def test_16bit_png_keeps_its_precision(tmp_path):
    img = (np.arange(SIZE * SIZE).reshape(SIZE, SIZE) * 300).astype(np.uint16)
    Image.fromarray(img).save(tmp_path / "deep.png")
    _, x = load_images(tmp_path / "deep.png", (1, SIZE, SIZE))
    torch.testing.assert_close(x[0, 0], torch.from_numpy(img.astype(np.float32) / 65535))


def test_resize(rgb_ckpt, tmp_path, capsys):
    big = _pixels(14, (20, 24, 3))
    Image.fromarray(big).save(tmp_path / "big.png")
    _, x = load_images(tmp_path / "big.png", (3, SIZE, SIZE), resize=True)
    pil = np.asarray(Image.fromarray(big).resize((SIZE, SIZE), Image.BILINEAR), dtype=np.float32) / 255
    torch.testing.assert_close(x[0], torch.from_numpy(pil).permute(2, 0, 1))
    np.save(tmp_path / "big.npy", big[None].astype(np.float32) / 255)
    _, y = load_images(tmp_path / "big.npy", (3, SIZE, SIZE), resize=True)
    assert y.shape == (1, 3, SIZE, SIZE) and 0 <= float(y.min()) and float(y.max()) <= 1
    assert float((y - x).abs().mean()) < 0.05  # PIL and torch antialiased bilinear agree roughly
    code, out, err = run_cli(capsys, "predict", "--model", rgb_ckpt, "--input", tmp_path / "big.png", "--resize", *FAST)
    assert code == 0, err
    assert [r["file"] for r in json_lines(out)] == ["big.png"]


# ------------------------------------------------------------------------------------------------
# errors: exit code 2, one line on stderr, no traceback
# ------------------------------------------------------------------------------------------------


def _error_inputs(tmp_path: Path) -> dict[str, Path]:
    Image.fromarray(_pixels(15, (20, 20))).save(tmp_path / "big.png")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    (tmp_path / "corrupt.png").write_bytes(b"this is not a PNG")
    good = tmp_path / "good.png"
    Image.fromarray(_pixels(16, (SIZE, SIZE))).save(good)
    (tmp_path / "truncated.png").write_bytes(good.read_bytes()[:60])
    np.save(tmp_path / "range.npy", np.linspace(-0.5, 1.5, 2 * SIZE * SIZE, dtype=np.float32).reshape(2, 1, SIZE, SIZE))
    np.save(tmp_path / "nan.npy", np.full((1, SIZE, SIZE), np.nan, dtype=np.float32))
    np.save(tmp_path / "ndim5.npy", np.zeros((1, 1, 1, SIZE, SIZE), dtype=np.float32))
    np.save(tmp_path / "ndim1.npy", np.zeros(SIZE, dtype=np.float32))
    np.save(tmp_path / "int64.npy", np.zeros((1, SIZE, SIZE), dtype=np.int64))
    np.save(tmp_path / "channels.npy", np.zeros((2, 5, SIZE, SIZE), dtype=np.float32))
    torch.save({"x": torch.zeros(1, SIZE, SIZE)}, tmp_path / "dict.pt")
    (tmp_path / "garbage.pt").write_bytes(b"garbage")
    (tmp_path / "notes.txt").write_text("x")
    return {p.name: p for p in tmp_path.iterdir()}


ERROR_CASES = [
    ("big.png", [], "expected 12x12 images for this model, got 20x20 in big.png; pass --resize to resize them"),
    ("empty", [], "expected a folder with .png/.jpg/.jpeg images"),
    ("corrupt.png", [], "corrupt.png: expected a PNG or JPEG image"),
    ("truncated.png", [], "truncated.png: expected a readable image"),
    ("range.npy", [], "expected float pixels in [0, 1] (or uint8 0..255), got values in [-0.5, 1.5]"),
    ("nan.npy", [], "NaN"),
    ("ndim5.npy", [], "expected an array of shape (N,C,H,W), (N,H,W,C), (N,H,W), (C,H,W), (H,W,C) or (H,W), got shape (1, 1, 1, 12, 12)"),
    ("ndim1.npy", [], "got shape (12,)"),
    ("int64.npy", [], "got dtype int64"),
    ("channels.npy", [], "with C in [1, 3], got shape (2, 5, 12, 12)"),
    ("dict.pt", [], "expected a file holding one tensor, got a dict"),
    ("garbage.pt", [], "garbage.pt: expected a file written by torch.save"),
    ("notes.txt", [], "got 'notes.txt'"),
    ("missing.png", [], "does not exist"),
    ("good.png", ["--split", "train"], "--input expected no dataset options, got --split"),
    ("good.png", ["--dataset", "mnist"], "got --dataset"),
    ("good.png", ["--n0", "10"], "--n0 expected --certify"),
    ("good.png", ["--start", "5"], "--start expected an index below the 1 input images, got 5"),
]


@pytest.mark.parametrize("name, extra, needle", ERROR_CASES, ids=[f"{c[0]}{''.join(c[1][:1])}" for c in ERROR_CASES])
def test_bad_inputs_exit_2_with_one_line(gray_ckpt, tmp_path, capsys, name, extra, needle):
    paths = _error_inputs(tmp_path)
    out_file = tmp_path / "out.jsonl"
    target = paths.get(name, tmp_path / name)
    code, out, err = run_cli(capsys, "predict", "--model", gray_ckpt, "--input", target, *extra, *FAST, "--out", out_file)
    assert code == 2, err
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("gsmooth predict: error: ")
    assert needle in err, err
    assert "Traceback" not in err
    assert not out_file.exists()  # a failed run leaves no output behind
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.jsonl")]  # nor a temporary file


def test_errors_are_typed(tmp_path):
    paths = _error_inputs(tmp_path)
    with pytest.raises(ImagePathError) as exc:
        load_images(paths["empty"], (1, SIZE, SIZE))
    assert isinstance(exc.value, FileNotFoundError)
    with pytest.raises(ImageFileError) as exc:
        load_images(paths["corrupt.png"], (1, SIZE, SIZE))
    assert isinstance(exc.value, InputError) and isinstance(exc.value, ValueError)
    with pytest.raises(ValueError):
        load_images(paths["range.npy"], (1, SIZE, SIZE))


def test_dataset_mode_options(gray_ckpt, tmp_path, capsys):
    code, out, err = run_cli(capsys, "predict", "--model", gray_ckpt, *FAST)
    assert code == 2 and "--out expected a results file (TSV)" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli(capsys, "predict", "--model", gray_ckpt, "--certify", *FAST, "--out", tmp_path / "r.tsv")
    assert code == 2 and "--certify expected --input" in err and "gsmooth certify" in err
    assert not (tmp_path / "r.tsv").exists()


def test_certify_at_target_radii_equals_the_smoother_and_draws_fewer(confident_ckpt, tmp_path, capsys):
    """--radii on your files: the lines are Smoother.certify(radii=…)'s, with the draws used; a confident
    model reaches a small target long before --n, so it draws far fewer than n0 + n."""
    x = np.random.default_rng(2).random((4, 1, SIZE, SIZE)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    args = ["predict", "--model", confident_ckpt, "--input", tmp_path / "x.npy", "--certify", "--n0", "20",
            "--seed", "3", "--n", "2000", "--alpha", "0.01", "--batch", "64", "--no-progress"]
    for flags, radii in ((["--radii", "0.1,0.05"], [0.05, 0.1]), (["--target", "0.1"], [0.1])):
        code, out, _ = run_cli(capsys, *args, *flags)
        assert code == 0
        expected = _smoother(confident_ckpt).certify(
            torch.from_numpy(x), n0=20, n=2000, alpha=0.01, batch_size=64, seed=3, radii=radii
        )
        lines = json_lines(out)
        assert [list(r) for r in lines] == [[*CERTIFY_KEYS, "samples", "radii"]] * 4
        assert [r["radius"] for r in lines] == pytest.approx(list(expected.radius), rel=1e-12)
        assert [r["samples"] for r in lines] == [int(s) for s in expected.samples]
        for r in lines:
            assert r["radii"] == radii and r["radius"] >= max(radii) and r["samples"] < 20 + 2000


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--radii", "0.1"], "--radii expected --certify"),
        (["--target", "0.1"], "--target expected --certify"),
        (["--certify", "--radii", "0.1", "--target", "0.2"], "expected one of them"),
    ],
)
def test_target_radii_refusals_are_one_line(confident_ckpt, folder, tmp_path, capsys, flags, expected):
    out_file = tmp_path / "never.jsonl"
    code, out, err = run_cli(capsys, "predict", "--model", confident_ckpt, "--input", folder, *flags, *FAST, "--out", out_file)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1
    assert not out_file.exists()


def test_malformed_radii_exit_2_naming_the_value(confident_ckpt, folder, capsys):
    with pytest.raises(SystemExit) as exc:  # argparse: usage, then its one error line
        main(["predict", "--model", str(confident_ckpt), "--input", str(folder), "--certify", "--radii", "0,-1", *FAST])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "expected positive numbers" in err.strip().splitlines()[-1] and "'0,-1'" in err


def test_radii_without_input_is_refused(confident_ckpt, tmp_path, capsys):
    code, _, err = run_cli(capsys, "predict", "--model", confident_ckpt, "--radii", "0.1", *FAST, "--out", tmp_path / "r.tsv")
    assert code == 2 and "--radii expected --input" in err and len(err.strip().splitlines()) == 1
