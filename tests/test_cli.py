"""End-to-end tests of the ``gsmooth`` command line, run as a user would (in-process for speed,
and as real subprocesses where process behaviour matters: exit codes, SIGKILL and resume)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gsmooth.io.checkpoints import load_checkpoint
from gsmooth.cli import main
from gsmooth.io.results import read_results
from toy_models import fashion_mnist_checkpoint


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A small CNN checkpoint for Fashion-MNIST (random weights: fast, and all the CLI needs)."""
    return fashion_mnist_checkpoint(tmp_path_factory.mktemp("ckpt") / "fm.pt")


SMALL = ["--n0", "20", "--n", "200", "--batch", "100", "--max", "4", "--no-progress"]


def test_help_for_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("certify", "predict", "train", "analyze", "plugins"):
        assert cmd in out
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0
        text = capsys.readouterr().out
        assert "example" in text.lower() or cmd == "plugins"
    with pytest.raises(SystemExit):
        main(["certify", "--help"])
    text = capsys.readouterr().out
    for flag in ("--noise", "--sigma", "--n0", "--n ", "--alpha", "--batch", "--seed", "--device", "--skip", "--max", "--out"):
        assert flag in text


def test_certify_writes_cohen_rows_and_resumes(ckpt, tmp_path, capsys):
    out = tmp_path / "r.tsv"
    code, stdout, _ = run_cli(capsys, "certify", "--model", ckpt, *SMALL, "--out", out)
    assert code == 0, stdout
    lines = out.read_text().splitlines()
    assert lines[0].split("\t")[:6] == ["idx", "label", "predict", "radius", "correct", "time"]
    assert len(lines) == 5
    t = read_results(out)
    assert list(t.idx) == [0, 1, 2, 3]
    assert "gsmooth certify: 4 images" in stdout and "certified accuracy" in stdout and str(out) in stdout
    # Resume with a larger --max: only the new rows are computed, nothing duplicated.
    code, _, err = run_cli(capsys, "certify", "--model", ckpt, *SMALL[:-3], "--max", "6", "--no-progress", "--out", out)
    assert code == 0
    assert "resuming" in err
    t2 = read_results(out)
    assert list(t2.idx) == [0, 1, 2, 3, 4, 5]
    assert list(t2.radius[:4]) == list(t.radius)


def test_certify_same_seed_same_certificates_whatever_batch(ckpt, tmp_path, capsys):
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    assert run_cli(capsys, "certify", "--model", ckpt, *SMALL, "--out", a)[0] == 0
    args = [x if x != "100" else "37" for x in SMALL]
    assert run_cli(capsys, "certify", "--model", ckpt, *args, "--out", b)[0] == 0
    ta, tb = read_results(a), read_results(b)
    assert list(ta.predict) == list(tb.predict)
    assert list(ta.radius) == list(tb.radius)
    assert list(ta.extra["count"]) == list(tb.extra["count"])


def test_certify_refuses_other_configuration_and_warns_on_sigma(ckpt, tmp_path, capsys):
    out = tmp_path / "r.tsv"
    assert run_cli(capsys, "certify", "--model", ckpt, *SMALL, "--out", out)[0] == 0
    before = out.read_bytes()
    code, _, err = run_cli(capsys, "certify", "--model", ckpt, "--sigma", "0.5", *SMALL, "--out", out)
    assert code == 2
    assert "trained with noise gaussian sigma=0.25" in err
    assert "different configuration" in err and "expected" in err
    assert out.read_bytes() == before


def test_predict_and_analyze(ckpt, tmp_path, capsys):
    out = tmp_path / "p.tsv"
    code, stdout, _ = run_cli(capsys, "predict", "--model", ckpt, "--n", "100", "--max", "3", "--no-progress", "--out", out)
    assert code == 0
    t = read_results(out)
    assert len(t) == 3 and not t.has_radius
    assert set(t.predict) <= set(range(-1, 10))
    cert = tmp_path / "c.tsv"
    assert run_cli(capsys, "certify", "--model", ckpt, *SMALL, "--out", cert)[0] == 0
    png = tmp_path / "curve.png"
    code, stdout, _ = run_cli(capsys, "analyze", cert, cert, "--labels", "a,b", "--radii", "0,0.5", "--plot", png)
    assert code == 0
    assert "| a |" in stdout and "r=0.50" in stdout and "ACR" in stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plugins_lists_builtins(capsys):
    code, out, _ = run_cli(capsys, "plugins")
    assert code == 0
    for name in ("gaussian", "laplace", "uniform", "exponential", "folded_gaussian", "one_sided_uniform", "additive"):
        assert name in out
    assert "builtin" in out


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--sigma", "0"], "expected a positive"),
        (["--sigma", "-1"], "expected a positive"),
        (["--alpha", "1.5"], "expected a number in (0, 1)"),
        (["--alpha", "0"], "expected a number in (0, 1)"),
        (["--n", "0"], "expected a positive integer"),
        (["--n0", "-3"], "expected a positive integer"),
    ],
)
def test_bad_arguments_exit_2_with_expected(ckpt, tmp_path, capsys, extra, expected):
    with pytest.raises(SystemExit) as exc:
        main(["certify", "--model", str(ckpt), *SMALL, *extra, "--out", str(tmp_path / "r.tsv")])
    assert exc.value.code == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "r.tsv").exists()


def test_errors_are_one_line_exit_2(ckpt, tmp_path, capsys):
    out = tmp_path / "r.tsv"
    cases = [
        (["certify", "--model", ckpt, "--noise", "gausian", *SMALL, "--out", out], "Did you mean 'gaussian'"),
        (["certify", "--model", ckpt, "--transform", "adittive", *SMALL, "--out", out], "Did you mean 'additive'"),
        (["certify", "--model", tmp_path / "missing.pt", *SMALL, "--out", out], "missing.pt"),
        (["certify", "--model", ckpt, *SMALL, "--out", tmp_path / "no" / "such" / "dir" / "r.tsv"], "does not exist"),
        (["certify", "--model", ckpt, "--dataset", "cifar10", "--data-dir", tmp_path, *SMALL, "--out", out], "--download"),
        (["certify", "--model", ckpt, "--noise", "exponential", "--sigma", "1", *SMALL, "--out", out], "expected a noise"),
        (["certify", "--model", ckpt, "--device", "cuda:7" if not torch.cuda.is_available() else "nonsense", *SMALL, "--out", out], "expected"),
        (["train", "--dataset", "fashion-mnist", "--arch", "resnet21", "--out", tmp_path / "m.pt"], "resnet"),
    ]
    if os.geteuid() == 0:  # an output directory even root cannot write to
        cases.append((["certify", "--model", ckpt, *SMALL, "--out", "/sys/gsmooth-r.tsv"], "expected a writable location"))
    for argv, needle in cases:
        code, _, err = run_cli(capsys, *argv)
        assert code == 2, (argv, err)
        assert needle in err, (argv, err)
        assert len(err.strip().splitlines()) <= 2, err  # one error line (plus at most one warning)
        assert "Traceback" not in err
    assert not out.exists()


def test_wrong_checkpoint_content(tmp_path, capsys):
    bogus = tmp_path / "bogus.pt"
    torch.save({"weight": torch.zeros(3)}, bogus)
    code, _, err = run_cli(capsys, "certify", "--model", bogus, *SMALL, "--out", tmp_path / "r.tsv")
    assert code == 2 and "checkpoint" in err
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint")
    code, _, err = run_cli(capsys, "certify", "--model", text, *SMALL, "--out", tmp_path / "r.tsv")
    assert code == 2 and "Traceback" not in err


def test_train_checkpoint_metadata_resume_and_refusal(tmp_path, capsys):
    ckpt = tmp_path / "m.pt"
    base = ["train", "--dataset", "fashion-mnist", "--sigma", "0.5", "--max-train", "256", "--max-eval", "64",
            "--batch", "64", "--no-progress", "--out", ckpt]
    code, out, _ = run_cli(capsys, *base, "--epochs", "1")
    assert code == 0 and "epoch 1/1" in out
    c = load_checkpoint(ckpt)
    assert (c.arch, c.dataset, c.num_classes, c.input_shape, c.epoch) == ("small_cnn", "fashion-mnist", 10, (1, 28, 28), 1)
    assert c.smoothing["noise"] == "gaussian" and c.smoothing["noise_params"] == {"sigma": 0.5}
    # Same path without --resume: refused, checkpoint untouched.
    before = ckpt.read_bytes()
    code, _, err = run_cli(capsys, *base, "--epochs", "2")
    assert code == 2 and "--resume" in err
    assert ckpt.read_bytes() == before
    # --resume continues at epoch 2 and keeps the history of epoch 1.
    code, out, err = run_cli(capsys, *base, "--epochs", "2", "--resume")
    lines = out.splitlines()
    assert code == 0 and any(l.startswith("epoch 2/2") for l in lines)
    assert not any(l.startswith("epoch 1/2") for l in lines)  # epoch 1 is not trained again
    c2 = load_checkpoint(ckpt)
    assert c2.epoch == 2 and len(c2.extra["history"]) == 2
    # Resuming with a different sigma is refused.
    code, _, err = run_cli(capsys, *[a if a != "0.5" else "0.25" for a in base], "--epochs", "3", "--resume")
    assert code == 2 and "different configuration" in err
    # certify needs no re-typing: sigma comes from the checkpoint.
    code, out, _ = run_cli(capsys, "certify", "--model", ckpt, *SMALL, "--out", tmp_path / "r.tsv")
    assert code == 0 and "sigma=0.5" in out


def _gsmooth_cmd() -> list[str]:
    return [sys.executable, "-m", "gsmooth"]


def test_sigkill_loses_at_most_the_current_row_and_resume_matches(ckpt, tmp_path):
    """Kill a real `gsmooth certify` process mid-run; the re-run completes and equals an uninterrupted run."""
    args = ["certify", "--model", str(ckpt), "--n0", "20", "--n", "3000", "--batch", "500", "--max", "12", "--no-progress"]
    killed = tmp_path / "killed.tsv"
    proc = subprocess.Popen([*_gsmooth_cmd(), *args, "--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        if killed.exists() and len(killed.read_text().splitlines()) >= 3:  # header + 2 rows
            break
        if proc.poll() is not None:
            pytest.fail(f"certify ended before it could be killed: {proc.stderr.read().decode()}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rows_at_kill = len(read_results(killed))
    assert 2 <= rows_at_kill < 12
    resumed = subprocess.run([*_gsmooth_cmd(), *args, "--out", str(killed)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    clean = tmp_path / "clean.tsv"
    full = subprocess.run([*_gsmooth_cmd(), *args, "--out", str(clean)], capture_output=True, text=True)
    assert full.returncode == 0, full.stderr
    a, b = read_results(killed), read_results(clean)
    assert list(a.idx) == list(range(12)) == list(b.idx)
    assert list(a.radius) == list(b.radius) and list(a.predict) == list(b.predict)


def test_cli_subprocess_error_has_no_traceback(tmp_path):
    r = subprocess.run([*_gsmooth_cmd(), "certify", "--model", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "r.tsv")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "nope.pt" in r.stderr


def test_training_is_reproducible_from_the_seed(tmp_path, capsys):
    """The same command trains the same weights (initialisation, data order and noise are seeded)."""
    base = ["train", "--dataset", "fashion-mnist", "--sigma", "0.25", "--max-train", "128", "--max-eval", "32",
            "--batch", "64", "--epochs", "1", "--no-progress"]
    for name in ("a.pt", "b.pt"):
        assert run_cli(capsys, *base, "--out", tmp_path / name)[0] == 0
    a, b = load_checkpoint(tmp_path / "a.pt").state_dict, load_checkpoint(tmp_path / "b.pt").state_dict
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert run_cli(capsys, *base, "--seed", "1", "--out", tmp_path / "c.pt")[0] == 0
    c = load_checkpoint(tmp_path / "c.pt").state_dict
    assert not all(torch.equal(a[k], c[k]) for k in a)


# -- SIGTERM: a clean stop of a real process, rows kept ---------------------------------------------


def _wait_for_lines(proc, path: Path, lines: int, what: str) -> None:
    deadline = time.time() + 180
    while time.time() < deadline:
        if path.exists() and len(path.read_bytes().splitlines()) >= lines:
            return
        if proc.poll() is not None:
            pytest.fail(f"{what} ended before it could be terminated: {proc.stderr.read().decode()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{what}: no {lines} lines in {path} after 180 s")


def test_sigterm_stops_certify_and_predict_cleanly_exit_143_rows_kept(ckpt, tmp_path, capsys):
    """`kill PID` (a batch scheduler's time limit) on real `gsmooth` processes once rows exist: exit 143,
    one line saying what was kept and how to go on, no traceback; every row kept is complete and the
    results files resume. The three commands run side by side (each start costs seconds of imports)."""
    import json

    import numpy as np

    sampling = ["--n", "3000", "--batch", "500", "--no-progress"]
    rng = np.random.default_rng(0)
    np.save(tmp_path / "imgs.npy", rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8))
    runs = {
        "certify": (["certify", "--model", str(ckpt), "--n0", "20", *sampling, "--max", "12", "--out", "c.tsv"], "c.tsv", 3),
        "predict": (["predict", "--model", str(ckpt), *sampling, "--max", "12", "--out", "p.tsv"], "p.tsv", 3),
        "predict --input": (["predict", "--model", str(ckpt), "--input", "imgs.npy", *sampling, "--max", "10",
                             "--out", "f.jsonl"], None, 2),
    }
    procs = {
        name: subprocess.Popen([*_gsmooth_cmd(), *argv], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for name, (argv, _, _) in runs.items()
    }
    try:
        for name, (argv, out, lines) in runs.items():
            if out is None:  # file mode writes to a hidden temporary file until it ends
                deadline = time.time() + 180
                while time.time() < deadline and not any(
                    len(p.read_bytes().splitlines()) >= lines for p in tmp_path.glob(".f.jsonl.*.tmp")
                ):
                    assert procs[name].poll() is None, procs[name].stderr.read().decode()
                    time.sleep(0.05)
            else:
                _wait_for_lines(procs[name], tmp_path / out, lines, name)
            procs[name].send_signal(signal.SIGTERM)
        results = {name: (p.wait(timeout=120), p.stderr.read().decode()) for name, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    for name, (code, err) in results.items():
        assert code == 143, f"{name}: exit {code}: {err}"
        assert "Traceback" not in err, f"{name}: {err}"
    for name in ("certify", "predict"):
        err = results[name][1].rstrip().splitlines()[-1]
        out = runs[name][1]
        assert err == (f"gsmooth {name}: terminated (SIGTERM); the rows written so far are in {out}; run the same "
                       "command again to resume"), err
        kept = read_results(tmp_path / out)
        assert 2 <= len(kept) < 12 and list(kept.idx) == list(range(len(kept)))
        # the same command resumes from the rows kept (in-process: no second start-up)
        cwd = os.getcwd()
        os.chdir(tmp_path)
        try:
            code, _, err = run_cli(capsys, *runs[name][0])
        finally:
            os.chdir(cwd)
        assert code == 0 and f"resuming {out}: {len(kept)} rows present" in err, err
        assert list(read_results(tmp_path / out).idx) == list(range(12))
    err = results["predict --input"][1].rstrip().splitlines()[-1]
    lines = [json.loads(line) for line in (tmp_path / "f.jsonl").read_text().splitlines()]  # every line complete
    written = len(lines)
    assert 2 <= written < 10 and [d["file"] for d in lines] == [f"imgs.npy[{i}]" for i in range(written)]
    assert err == (f"gsmooth predict: terminated (SIGTERM); f.jsonl holds the first {written} of 10 lines "
                   f"(incomplete); for the rest run the same command with --start {written} --max {10 - written} and "
                   "another --out"), err
    assert not list(tmp_path.glob(".f.jsonl.*")), "no temporary file is left"


# -- progress: every long run shows it, short ones are not flooded -----------------------------------

_BAR = re.compile(r"(?P<desc>[\w ]+):\s+(?:\d+%\|[^|]*\|\s*)?(?P<n>[\d.]+)(?P<nu>[kMG]?)(?:/(?P<t>[\d.]+)(?P<tu>[kMG]?))?")
_SCALE = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}


def bar_counts(err: str, desc: str) -> list[tuple[float, float | None]]:
    """``(count, total)`` of every rendering of tqdm bar ``desc`` in captured stderr."""
    out = []
    for piece in re.split(r"[\r\n]", err):
        m = _BAR.search(piece.replace("\x1b[A", ""))
        if m and m["desc"].strip() == desc:
            total = float(m["t"]) * _SCALE[m["tu"]] if m["t"] else None
            out.append((float(m["n"]) * _SCALE[m["nu"]], total))
    return out


def assert_advancing(err: str, desc: str, total: float) -> None:
    counts = bar_counts(err, desc)
    assert counts, f"no {desc!r} bar in: {err[-1500:]!r}"
    assert all(t is not None and abs(t - total) <= 0.01 * total for _, t in counts), counts
    ns = [n for n, _ in counts]
    assert ns[0] == 0 and any(0 < n < total for n in ns), ns  # it moved while the image was computed
    assert ns == sorted(ns), ns


@pytest.fixture(scope="module")
def brightness_ckpt(tmp_path_factory) -> Path:
    return fashion_mnist_checkpoint(
        tmp_path_factory.mktemp("ckpt_b") / "fm_bright.pt",
        smoothing={"noise": "gaussian", "noise_params": {"sigma": 0.2}, "transform": "brightness", "transform_params": {}},
    )


#: (argv, samples per image): configurations with many forward passes per image
LONG_IMAGES = {
    # n0 + n = 10020 samples: 101 forward passes of 100, one bar over both phases
    "certify": (["certify", "--n0", "20", "--n", "10000", "--batch", "100"], 10020),
    # before: no bar inside an image at all
    "predict": (["predict", "--n", "10000", "--batch", "100"], 10000),
    # 200 slices of n0 + n = 60 samples: 120 forward passes of 100 for one image; before: no bar (n < 20 batch)
    "interval": (["certify", "--transform", "brightness", "--range", "-0.2:0.2", "--slices", "200", "--n0", "10",
                  "--n", "50", "--batch", "100"], 200 * 60),
}


@pytest.mark.parametrize("case", list(LONG_IMAGES))
def test_progress_inside_long_images(ckpt, brightness_ckpt, tmp_path, capsys, case):
    """An image needing many forward passes shows a bar over its samples (both phases, every slice)
    that advances while it is computed; the per-image bar is there too; --no-progress shows neither."""
    argv, samples = LONG_IMAGES[case]
    model = brightness_ckpt if case == "interval" else ckpt
    code, _, err = run_cli(capsys, *argv, "--model", model, "--max", "1", "--out", tmp_path / "a.tsv")
    assert code == 0, err
    assert_advancing(err, "sampling", samples)
    assert bar_counts(err, argv[0])[-1] == (1, 1)
    code, _, err = run_cli(capsys, *argv, "--model", model, "--max", "1", "--out", tmp_path / "b.tsv", "--no-progress")
    assert code == 0, err
    assert not bar_counts(err, "sampling") and not bar_counts(err, argv[0]) and "%|" not in err, err


def test_short_runs_show_the_per_image_bar_only(ckpt, tmp_path, capsys):
    code, _, err = run_cli(capsys, "certify", "--model", ckpt, "--n0", "20", "--n", "200", "--batch", "100",
                           "--max", "3", "--out", tmp_path / "c.tsv")
    assert code == 0
    assert not bar_counts(err, "sampling"), err  # 3 forward passes per image: no bar inside
    assert bar_counts(err, "certify")[-1] == (3, 3)
    code, _, err = run_cli(capsys, "predict", "--model", ckpt, "--n", "200", "--batch", "100", "--max", "3",
                           "--out", tmp_path / "p.tsv")
    assert code == 0
    assert not bar_counts(err, "sampling") and bar_counts(err, "predict")[-1] == (3, 3), err



def test_output_closed_by_the_reader_is_not_a_traceback(monkeypatch, capsys):
    """``gsmooth plugins | head -1``: before, a BrokenPipeError traceback on standard error."""
    import io

    class ClosedAfterOneLine(io.StringIO):
        def write(self, s):
            if "\n" in self.getvalue():
                raise BrokenPipeError(32, "Broken pipe")
            return super().write(s)

    monkeypatch.setattr(sys, "stdout", ClosedAfterOneLine())
    assert main(["plugins"]) == 141
    assert "Traceback" not in capsys.readouterr().err
