"""Tests of gsmooth.io.results: crash-safe, resumable TSV results and the reader."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from gsmooth.errors import InvalidParameterError, ResultsFileError
from gsmooth.io.results import COHEN_COLUMNS, ResultsWriter, read_results, sidecar_path

REPO = Path(__file__).resolve().parents[1]
EXTRA = ["p_lower", "count", "noise", "sigma"]
CONFIG = {"checkpoint": "ckpt.pt", "sha256": "ab12", "dataset": "cifar10", "sigma": 0.25,
          "n0": 100, "n": 100000, "alpha": 0.001, "seed": 0, "transform": "additive"}


def row(i: int, **over):
    r = {"idx": i, "label": i % 10, "predict": i % 10, "radius": 0.1 * i + 1e-12, "time": 1.23456,
         "p_lower": 0.9, "count": 99000, "noise": "gaussian", "sigma": 0.25}
    r.update(over)
    return r


def test_write_format_and_sidecar(tmp_path):
    out = tmp_path / "results.tsv"
    with ResultsWriter(out, columns=EXTRA, config=CONFIG) as w:
        assert w.done == set()
        w.write(row(0))
        w.write(row(1, predict=-1, radius=0.0))
        w.write(row(2, predict=7, radius=1 / 3))
        # every row is on disk as soon as write() returns
        assert out.read_text().count("\n") == 4
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == list(COHEN_COLUMNS) + EXTRA
    first = lines[1].split("\t")
    assert first[:6] == ["0", "0", "0", repr(1e-12), "1", "1.2346"]
    assert first[6:] == ["0.9", "99000", "gaussian", "0.25"]
    assert lines[2].split("\t")[2:5] == ["-1", "0.0", "0"]  # abstain: not correct
    assert lines[3].split("\t")[4] == "0"  # wrong prediction
    # radius kept at full precision (bit-exact round trip)
    assert read_results(out).radius.tolist() == [1e-12, 0.0, 1 / 3]
    document = json.loads(Path(sidecar_path(out)).read_text())
    assert document["config"] == CONFIG
    assert document["columns"] == list(COHEN_COLUMNS) + EXTRA


def test_cohen_columns_may_be_listed_and_are_first(tmp_path):
    out = tmp_path / "r.tsv"
    with ResultsWriter(out, columns=["idx", "p_lower", "radius"], config={}) as w:
        assert w.columns == COHEN_COLUMNS + ("p_lower",)


def test_resume_continues_with_same_config(tmp_path):
    out = tmp_path / "results.tsv"
    with ResultsWriter(out, columns=EXTRA, config=CONFIG) as w:
        for i in range(3):
            w.write(row(i))
    # tuples vs lists and key order do not matter: same JSON configuration
    config = dict(reversed(list(CONFIG.items())))
    with ResultsWriter(out, columns=EXTRA, config=config) as w:
        assert w.done == {0, 1, 2}
        for i in range(5):
            if i not in w.done:
                w.write(row(i))
        with pytest.raises(InvalidParameterError, match="already in"):
            w.write(row(1))
    table = read_results(out)
    assert table.idx.tolist() == [0, 1, 2, 3, 4]
    assert table.config == CONFIG


def test_refuses_different_config_listing_keys(tmp_path):
    out = tmp_path / "results.tsv"
    with ResultsWriter(out, columns=EXTRA, config=CONFIG) as w:
        w.write(row(0))
    before = out.read_bytes()
    changed = dict(CONFIG, sigma=0.5, seed=3)
    with pytest.raises(ResultsFileError) as info:
        ResultsWriter(out, columns=EXTRA, config=changed)
    message = str(info.value)
    assert "results.tsv was written by a different configuration" in message
    assert "sigma expected 0.25 (in file), got 0.5" in message
    assert "seed expected 0 (in file), got 3" in message
    assert "dataset" not in message
    assert "use another --out or delete it" in message
    assert out.read_bytes() == before
    # an added key is a difference too
    with pytest.raises(ResultsFileError, match="split expected <absent> \\(in file\\), got \"test\""):
        ResultsWriter(out, columns=EXTRA, config=dict(CONFIG, split="test"))


def test_refuses_existing_tsv_without_sidecar(tmp_path):
    out = tmp_path / "results.tsv"
    out.write_text("\t".join(COHEN_COLUMNS) + "\n0\t1\t1\t0.5\t1\t0:00:01\n")
    with pytest.raises(ResultsFileError, match="no configuration sidecar"):
        ResultsWriter(out, columns=[], config={})
    assert out.read_text().count("\n") == 2


def test_refuses_existing_file_without_resume(tmp_path):
    out = tmp_path / "results.tsv"
    with ResultsWriter(out, columns=EXTRA, config=CONFIG) as w:
        w.write(row(0))
    before = out.read_bytes()
    with pytest.raises(ResultsFileError, match="resume=False"):
        ResultsWriter(out, columns=EXTRA, config=CONFIG, resume=False)
    assert out.read_bytes() == before


def test_refuses_other_columns(tmp_path):
    out = tmp_path / "results.tsv"
    with ResultsWriter(out, columns=EXTRA, config=CONFIG):
        pass
    with pytest.raises(ResultsFileError, match="other columns"):
        ResultsWriter(out, columns=["p_lower"], config=CONFIG)


def test_partial_last_line_is_truncated_on_resume(tmp_path):
    out = tmp_path / "results.tsv"
    with ResultsWriter(out, columns=EXTRA, config=CONFIG) as w:
        w.write(row(0))
        w.write(row(1))
    complete = out.read_bytes()
    with open(out, "ab") as handle:  # a row cut short by a kill, no trailing newline
        handle.write(b"2\t2\t2\t0.2000")
    assert read_results(out).idx.tolist() == [0, 1]  # the reader skips it too
    with ResultsWriter(out, columns=EXTRA, config=CONFIG) as w:
        assert w.done == {0, 1}
        assert out.read_bytes() == complete
        w.write(row(2))
    assert read_results(out).idx.tolist() == [0, 1, 2]


def test_empty_or_cut_header_is_rewritten(tmp_path):
    out = tmp_path / "results.tsv"
    with ResultsWriter(out, columns=EXTRA, config=CONFIG):
        pass
    out.write_bytes(b"idx\tlab")
    with ResultsWriter(out, columns=EXTRA, config=CONFIG) as w:
        w.write(row(0))
    assert read_results(out).idx.tolist() == [0]


def test_missing_tsv_with_leftover_sidecar_starts_fresh(tmp_path):
    out = tmp_path / "results.tsv"
    with ResultsWriter(out, columns=EXTRA, config=CONFIG) as w:
        w.write(row(0))
    out.unlink()  # the user deleted the TSV but not its sidecar
    with ResultsWriter(out, columns=EXTRA, config=dict(CONFIG, sigma=0.5)) as w:
        assert w.done == set()
    assert read_results(out).config["sigma"] == 0.5


def test_unwritable_or_missing_directory(tmp_path):
    with pytest.raises(ResultsFileError, match="directory .*missing.* does not exist"):
        ResultsWriter(tmp_path / "missing" / "r.tsv", columns=[], config={})
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ResultsFileError, match="not a directory"):
        ResultsWriter(afile / "r.tsv", columns=[], config={})
    assert not (tmp_path / "missing").exists()


def test_read_only_directory(tmp_path):
    """A directory the process really cannot write to. Root ignores permission bits, so as root
    the target is sysfs (where even root cannot create files); otherwise a chmod 555 directory."""
    if os.geteuid() == 0:
        target = Path("/sys/gsmooth-results.tsv")
        with pytest.raises(ResultsFileError, match="cannot write results to /sys/"):
            ResultsWriter(target, columns=[], config={})
        assert not target.exists()
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(ResultsFileError, match="is not writable"):
            ResultsWriter(locked / "r.tsv", columns=[], config={})
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_not_writable_message(tmp_path, monkeypatch):
    # root bypasses permission bits, so simulate what os.access reports to an ordinary user
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(ResultsFileError, match=r"cannot write results to .*r.tsv: directory .* is not writable"):
        ResultsWriter(tmp_path / "r.tsv", columns=[], config={})
    assert list(tmp_path.iterdir()) == []


def test_second_writer_on_same_file_is_refused(tmp_path):
    out = tmp_path / "results.tsv"
    with ResultsWriter(out, columns=[], config={}):
        with pytest.raises(ResultsFileError, match="another process"):
            ResultsWriter(out, columns=[], config={})
    ResultsWriter(out, columns=[], config={}).close()  # free again once closed


def test_bad_rows_and_arguments(tmp_path):
    with ResultsWriter(tmp_path / "r.tsv", columns=["note"], config={}) as w:
        with pytest.raises(InvalidParameterError, match="unknown column"):
            w.write(dict(idx=0, label=1, predict=1, radius=0.1, time=0.0, note="", extra=1))
        with pytest.raises(InvalidParameterError, match="expected values for 'note'"):
            w.write(dict(idx=0, label=1, predict=1, radius=0.1, time=0.0))
        with pytest.raises(InvalidParameterError, match="correct expected 1"):
            w.write(dict(idx=0, label=1, predict=1, radius=0.1, correct=0, time=0.0, note=""))
        with pytest.raises(InvalidParameterError, match="without tabs"):
            w.write(dict(idx=0, label=1, predict=1, radius=0.1, time=0.0, note="a\tb"))
        with pytest.raises(InvalidParameterError, match="radius expected a number >= 0"):
            w.write(dict(idx=0, label=1, predict=1, radius=float("nan"), time=0.0, note=""))
        with pytest.raises(InvalidParameterError, match="predict expected an integer >= -1"):
            w.write(dict(idx=0, label=1, predict=-2, radius=0.0, time=0.0, note=""))
        # numpy scalars are accepted
        w.write(dict(idx=np.int64(0), label=np.int64(1), predict=np.int64(1),
                     radius=np.float32(0.5), time=np.float64(2.0), note="ok"))
    assert read_results(tmp_path / "r.tsv").extra["note"].tolist() == ["ok"]
    with pytest.raises(InvalidParameterError, match="JSON-serialisable"):
        ResultsWriter(tmp_path / "s.tsv", columns=[], config={"path": Path("x")})
    with pytest.raises(InvalidParameterError, match="distinct"):
        ResultsWriter(tmp_path / "s.tsv", columns=["a", "a"], config={})
    with pytest.raises(InvalidParameterError, match="columns expected a list"):
        ResultsWriter(tmp_path / "s.tsv", columns="p_lower", config={})
    assert not (tmp_path / "s.tsv").exists()


_KILLED_WRITER = textwrap.dedent(
    """
    import sys, types
    # load gsmooth.io.results without the package facade (which imports torch: slow to start)
    package = types.ModuleType("gsmooth")
    package.__path__ = [sys.argv[2]]
    sys.modules["gsmooth"] = package
    from gsmooth.io.results import ResultsWriter
    out = sys.argv[1]
    config = {"sigma": 0.25, "n": 1000}
    with ResultsWriter(out, columns=["p_lower", "note"], config=config) as w:
        i = 0
        while True:
            if i not in w.done:
                w.write({"idx": i, "label": i % 10, "predict": i % 10, "radius": i / 7,
                         "time": 0.01, "p_lower": 0.75, "note": "x" * 2000})
            i += 1
    """
)


def test_sigkill_loses_at_most_the_row_being_written(tmp_path):
    out = tmp_path / "results.tsv"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(out), str(REPO / "gsmooth")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (out.exists() and out.stat().st_size > 20 * 2000):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "writer subprocess made no progress"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    # resume: every complete row kept, a partial one gone, the run continues
    with ResultsWriter(out, columns=["p_lower", "note"], config={"sigma": 0.25, "n": 1000}) as w:
        done = set(w.done)
        assert len(done) >= 20
        assert done == set(range(len(done)))  # contiguous from 0: nothing lost in between
        assert out.read_bytes().endswith(b"\n")
        k = len(done)
        w.write({"idx": k, "label": 0, "predict": 0, "radius": 1.0, "time": 0.01,
                 "p_lower": 0.75, "note": "after"})
    table = read_results(out)
    assert table.idx.tolist() == list(range(k + 1))
    assert np.array_equal(table.radius[:k], np.arange(k) / 7)  # full precision round trip
    assert table.extra["note"][-1] == "after"
    assert all(len(line.split("\t")) == 8 for line in out.read_text().splitlines())


# ------------------------------------------------------------------------------- reading


def test_read_cohen_format(tmp_path):
    # exactly what locuslab/smoothing certify.py writes: radius "{:.3}", time str(timedelta)
    path = tmp_path / "cohen_sigma_0.25.tsv"
    path.write_text(
        "idx\tlabel\tpredict\tradius\tcorrect\ttime\n"
        "0\t3\t3\t0.412\t1\t0:00:02.345678\n"
        "20\t8\t-1\t0.0\t0\t0:00:02.100000\n"
        "40\t0\t6\t0.233\t0\t1 day, 0:00:01\n"
        "60\t1\t1\t1.27\t1\t0:01:00\n"
    )
    t = read_results(path)
    assert t.idx.tolist() == [0, 20, 40, 60]
    assert t.label.tolist() == [3, 8, 0, 1]
    assert t.predict.tolist() == [3, -1, 6, 1]
    assert t.radius.tolist() == [0.412, 0.0, 0.233, 1.27]
    assert t.correct.tolist() == [1, 0, 0, 1]
    assert t.time.tolist() == pytest.approx([2.345678, 2.1, 86401.0, 60.0])
    assert t.extra == {} and t.config is None and t.has_radius
    assert len(t) == 4


def test_read_predict_only_file(tmp_path):
    # locuslab/smoothing predict.py: no radius column
    path = tmp_path / "predict.tsv"
    path.write_text("idx\tlabel\tpredict\tcorrect\ttime\n0\t1\t1\t1\t0:00:00.5\n1\t2\t-1\t0\t0:00:00.5\n")
    t = read_results(path)
    assert not t.has_radius
    assert t.radius.tolist() == [0.0, 0.0]
    assert t.correct.tolist() == [1, 0]


def test_read_extra_columns_types(tmp_path):
    path = tmp_path / "r.tsv"
    with ResultsWriter(path, columns=["count", "p_lower", "noise", "mstar"], config={"a": 1}) as w:
        w.write(dict(idx=0, label=0, predict=0, radius=0.5, time=1.0, count=990,
                     p_lower=0.99, noise="gaussian", mstar=None))
        w.write(dict(idx=1, label=0, predict=0, radius=0.5, time=1.0, count=991,
                     p_lower=0.98, noise="laplace", mstar=1.5))
    t = read_results(path)
    assert t.extra["count"].dtype == np.int64 and t.extra["count"].tolist() == [990, 991]
    assert t.extra["p_lower"].tolist() == [0.99, 0.98]
    assert t.extra["noise"].tolist() == ["gaussian", "laplace"]
    assert np.isnan(t.extra["mstar"][0]) and t.extra["mstar"][1] == 1.5
    assert t.time.tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    "content, match",
    [
        ("", "got an empty file"),
        ("a\tb\tc\n1\t2\t3\n", "expected a header with columns idx, label, predict, radius, correct"),
        ("idx\tlabel\tpredict\tradius\tcorrect\n0\t1\t1\t0.5\n", "line 2: expected 5 tab-separated fields, got 4"),
        ("idx\tlabel\tpredict\tradius\tcorrect\n0\t1\tcat\t0.5\t1\n", "column predict expected an integer"),
        ("idx\tlabel\tpredict\tradius\tcorrect\n0\t1\t1\tnan\t1\n", "radius expected a number >= 0"),
        ("idx\tlabel\tpredict\tradius\tcorrect\n0\t1\t2\t0.5\t1\n", "correct expected 0"),
        ("idx\tlabel\tpredict\tradius\tcorrect\n0\t1\t1\t0.5\t1\n0\t1\t1\t0.5\t1\n", "each idx once"),
        ("idx\tlabel\tpredict\tcorrect\ttime\n0\t1\t1\t1\tyesterday\n", "column time expected seconds"),
    ],
)
def test_read_bad_files(tmp_path, content, match):
    path = tmp_path / "bad.tsv"
    path.write_text(content)
    with pytest.raises(ResultsFileError, match=match) as info:
        read_results(path)
    assert str(path) in str(info.value)


def test_read_missing_file_and_directory(tmp_path):
    with pytest.raises(ResultsFileError, match="expected a TSV file at .*nope.tsv"):
        read_results(tmp_path / "nope.tsv")
    with pytest.raises(ResultsFileError, match="got a directory"):
        read_results(tmp_path)
    (tmp_path / "bin.tsv").write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ResultsFileError, match="UTF-8"):
        read_results(tmp_path / "bin.tsv")
    (tmp_path / "x.tsv").write_text("idx\tlabel\tpredict\tradius\tcorrect\n")
    (tmp_path / "x.tsv.json").write_text("{not json")
    with pytest.raises(ResultsFileError, match="invalid JSON"):
        read_results(tmp_path / "x.tsv")


def test_prediction_only_file_has_cohen_predict_layout(tmp_path):
    out = tmp_path / "pred.tsv"
    with ResultsWriter(out, columns=["count"], config={"n": 10}, radius=False) as w:
        w.write({"idx": 0, "label": 2, "predict": 2, "time": 0.5, "count": 9})
        w.write({"idx": 1, "label": 2, "predict": -1, "time": 0.5, "count": 4})
    assert out.read_text().splitlines()[0].split("\t") == ["idx", "label", "predict", "correct", "time", "count"]
    t = read_results(out)
    assert not t.has_radius and list(t.correct) == [1, 0] and list(t.radius) == [0.0, 0.0]
    with pytest.raises(InvalidParameterError):
        ResultsWriter(tmp_path / "bad.tsv", columns=["radius"], config={}, radius=False)
