"""Soak test: ``gsmooth certify`` killed at random points (SIGKILL, SIGINT, SIGTERM) and resumed
until complete gives exactly the rows of an uninterrupted run — nothing lost, nothing duplicated,
nothing misleading on the way (exit codes, messages, every row present at any moment right).

Design. Starting ``python -m gsmooth`` costs seconds of torch import, far too much for dozens of
kills, so the commands run in children forked from a warm server (tests/cli_fork_server.py): each
child runs ``gsmooth.cli.main`` as ``python -m gsmooth`` does once imported. SIGINT and SIGTERM
are sent only once the child is past startup (``main`` has installed its SIGTERM handler; before
that a real process is still importing and could not handle them); SIGKILL at any moment. The
delays are seeded and random, spread over what is left of the run (startup, the rows still to
write, the summary), so that the signals land everywhere from the file's creation to its last row. The real process
(``python -m gsmooth``) is exercised by test_cli.py (SIGKILL) and by the SIGTERM tests here.

Profiles: the default suite sends 30 signals (10 of each, shuffled); ``pytest -m slow`` runs a
longer soak (90 signals, other seeds). ``GSMOOTH_SOAK_KILLS`` / ``GSMOOTH_SOAK_SEED`` override.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gsmooth
from toy_models import fashion_mnist_checkpoint

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the fork server reads /proc to tell when a child is past startup"
)

HERE = Path(__file__).resolve().parent
IMAGES = 24
ARGS = ["--n0", "10", "--n", "200", "--batch", "210", "--max", str(IMAGES)]
EXIT = {"INT": 130, "TERM": 143, "KILL": -signal.SIGKILL}
MESSAGE = {"INT": "gsmooth certify: interrupted", "TERM": "gsmooth certify: terminated (SIGTERM)"}


def _env() -> dict:
    """The environment of the test, with the tested gsmooth first on the path."""
    env = dict(os.environ)
    root = str(Path(gsmooth.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


class Server:
    """The test's side of tests/cli_fork_server.py."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "cli_fork_server.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env=_env(),
        )
        assert self._read() == {"ready": True}

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the fork server ended (exit code {self.proc.wait()})")
        return json.loads(line)

    def run(self, argv, cwd: Path, *, signal_name=None, delay=0.0, fault=None, timeout=300.0) -> dict:
        """Run ``gsmooth ARGV`` in a fresh child; the answer has ``status``, ``signalled``, ``stdout``, ``stderr``."""
        out, err = cwd / ".soak_stdout", cwd / ".soak_stderr"
        req = {"argv": [str(a) for a in argv], "cwd": str(cwd), "stdout": str(out), "stderr": str(err),
               "signal": signal_name, "delay": delay, "fault": fault, "timeout": timeout}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        self._read()  # {"pid": …}
        res = self._read()
        assert not res["timed_out"], f"gsmooth {' '.join(req['argv'])} ran past {timeout} s"
        res["stdout"], res["stderr"] = out.read_text(errors="replace"), err.read_text(errors="replace")
        out.unlink()
        err.unlink()
        return res

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A small CNN checkpoint for Fashion-MNIST (random weights: fast; the rows are what matters)."""
    return fashion_mnist_checkpoint(tmp_path_factory.mktemp("soak_ckpt") / "fm.pt")


def certify_argv(ckpt, out: str, *, progress: bool = False) -> list:
    return ["certify", "--model", ckpt, *ARGS, "--out", out, *([] if progress else ["--no-progress"])]


def read_rows(path: Path) -> tuple[str, list[tuple], bool]:
    """``(header, complete rows without the time column, whether a partial last line follows)``."""
    data = path.read_bytes().decode("utf-8")
    lines = data.split("\n")
    partial = lines[-1] != ""
    header, body = lines[0], lines[1:-1]
    columns = header.split("\t")
    t = columns.index("time")
    rows = []
    for line in body:
        fields = line.split("\t")
        assert len(fields) == len(columns), f"{path}: a complete line with {len(fields)} fields: {line!r}"
        rows.append(tuple(f for i, f in enumerate(fields) if i != t))
    return header, rows, partial


@pytest.fixture(scope="module")
def reference(server, ckpt, tmp_path_factory):
    """An uninterrupted run: header, {idx: row}, sidecar config, wall time."""
    work = tmp_path_factory.mktemp("soak_reference")
    res = server.run(certify_argv(ckpt, "clean.tsv"), work)
    assert res["status"] == 0, res["stderr"]
    header, rows, partial = read_rows(work / "clean.tsv")
    assert not partial and sorted(int(r[0]) for r in rows) == list(range(IMAGES))
    config = json.loads((work / "clean.tsv.json").read_text())["config"]
    again = server.run(certify_argv(ckpt, "clean.tsv"), work)  # nothing to do: the cost of starting
    assert again["status"] == 0 and "0 to go" in again["stderr"], again["stderr"]
    return {"header": header, "rows": {int(r[0]): r for r in rows}, "config": config, "elapsed": res["elapsed"],
            "setup": again["elapsed"], "per_row": max(0.0, res["elapsed"] - again["elapsed"]) / IMAGES}


def check_state(out: Path, reference: dict, *, may_be_partial: bool) -> int:
    """Whatever is in ``out`` now is right: the reference header, only complete rows that equal the
    uninterrupted run's row of their idx, no idx twice; a partial last line only after SIGKILL (the
    next run drops it). Returns the number of rows."""
    if not out.exists():
        return 0
    header, rows, partial = read_rows(out)
    assert header == reference["header"]
    assert not partial or may_be_partial, f"{out}: a partial last line after a signal Python handles"
    idx = [int(r[0]) for r in rows]
    assert len(idx) == len(set(idx)), f"{out}: idx written twice: {sorted(i for i in idx if idx.count(i) > 1)}"
    for r in rows:
        assert r == reference["rows"][int(r[0])], f"{out}: row {r[0]} differs from the uninterrupted run's"
    return len(rows)


def check_attempt(res: dict, sig: str | None, out: Path) -> None:
    """Exit code and messages of one (possibly signalled) run."""
    err = res["stderr"]
    if not res["signalled"] or res["status"] == 0:  # it finished before the signal was due or took effect
        assert res["status"] == 0, f"exit {res['status']}: {err}"
        assert "Traceback" not in err, err
        assert res["ready"], "gsmooth's main never installed its SIGTERM handler"
        return
    assert res["status"] == EXIT[sig], f"{sig}: expected exit {EXIT[sig]}, got {res['status']}: {err[-2000:]}"
    if sig == "KILL":
        return
    assert "Traceback" not in err, err
    assert MESSAGE[sig] in err, err[-2000:]
    last = err.rstrip().splitlines()[-1]
    if out.exists():
        assert f"the rows written so far are in {out.name}; run the same command again to resume" in last, last
    else:
        assert "nothing was written" in last, last


def soak(server, ckpt, reference, work: Path, *, kills: int, seed: int) -> dict:
    """Send ``kills`` signals (a shuffled third of each) to runs of one command, resuming after each;
    a new results file is started whenever one completes. Every file completed must equal the
    uninterrupted run (rows as a set, every idx once)."""
    rng = random.Random(seed)
    plan = [("KILL", "INT", "TERM")[i % 3] for i in range(kills)]
    rng.shuffle(plan)
    stats = {"signalled": {"KILL": 0, "INT": 0, "TERM": 0}, "runs": 0, "files": 0, "finished_early": 0,
             "landed": {"no row yet": 0, "between rows": 0, "after the last row": 0}}
    campaign, attempts = 0, 0
    out = work / f"run{campaign}.tsv"
    while True:
        attempts += 1
        assert attempts <= 20 * kills + 20, "the soak does not converge"
        sig = plan[0] if plan else None
        # a delay anywhere in what is left of the run: its start, the rows still to write, its end
        left = IMAGES - check_state(out, reference, may_be_partial=True)
        span = 1.1 * (reference["setup"] + left * reference["per_row"]) + 0.05
        delay = rng.uniform(0.0, span) if sig else 0.0
        res = server.run(certify_argv(ckpt, out.name, progress=rng.random() < 0.5), work, signal_name=sig, delay=delay)
        stats["runs"] += 1
        check_attempt(res, sig, out)
        present = check_state(out, reference, may_be_partial=sig == "KILL")
        if res["signalled"] and res["status"] != 0:
            stats["signalled"][sig] += 1
            where = "no row yet" if present == 0 else "after the last row" if present == IMAGES else "between rows"
            stats["landed"][where] += 1
            plan.pop(0)
            continue
        if sig is not None:
            stats["finished_early"] += 1
        # complete: the same rows as the uninterrupted run, in any order, each idx exactly once
        header, rows, partial = read_rows(out)
        assert not partial and header == reference["header"]
        idx = sorted(int(r[0]) for r in rows)
        assert idx == list(range(IMAGES)), f"{out}: idx missing or duplicated: {idx}"
        assert set(rows) == set(reference["rows"].values())
        stored = json.loads(Path(str(out) + ".json").read_text())["config"]
        assert stored == reference["config"]
        stats["files"] += 1
        if not plan:
            break
        campaign += 1
        out = work / f"run{campaign}.tsv"
    assert sum(stats["signalled"].values()) == kills
    return stats


def _profile(default_kills: int, default_seed: int) -> tuple[int, int]:
    return int(os.environ.get("GSMOOTH_SOAK_KILLS", default_kills)), int(os.environ.get("GSMOOTH_SOAK_SEED", default_seed))


def test_soak_30_random_kills_resume_to_the_uninterrupted_rows(server, ckpt, reference, tmp_path):
    kills, seed = _profile(30, 20240)
    t0 = time.monotonic()
    stats = soak(server, ckpt, reference, tmp_path, kills=kills, seed=seed)
    print(f"soak: {kills} signals {stats} in {time.monotonic() - t0:.1f} s (reference run {reference['elapsed']:.2f} s, "
          f"start {reference['setup']:.2f} s)")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_soak_long(server, ckpt, reference, tmp_path, seed):
    kills, _ = _profile(30, 0)
    soak(server, ckpt, reference, tmp_path, kills=kills, seed=seed)


# -- a kill while the results file is being created ------------------------------------------------

CREATION_FAULTS = [
    # (fault, expected exit, files left besides hidden temporary files)
    ({"at": "replace", "nth": 1, "signal": "KILL"}, -9, set()),  # the sidecar's temporary file written
    ({"at": "replace", "nth": 2, "signal": "KILL"}, -9, {"r.tsv.json"}),  # sidecar in place, TSV not yet
    ({"at": "row", "nth": 0, "fraction": 0.0, "signal": "KILL"}, -9, {"r.tsv", "r.tsv.json"}),  # header only
    ({"at": "row", "nth": 0, "fraction": 0.5, "signal": "KILL"}, -9, {"r.tsv", "r.tsv.json"}),  # half a first row
    ({"at": "row", "nth": 3, "fraction": 0.8, "signal": "KILL"}, -9, {"r.tsv", "r.tsv.json"}),  # a later row cut
    ({"at": "replace", "nth": 1, "signal": "INT"}, 130, set()),
    ({"at": "replace", "nth": 2, "signal": "TERM"}, 143, set()),  # the sidecar just written is removed again
    ({"at": "row", "nth": 0, "fraction": 0.0, "signal": "TERM"}, 143, set()),  # no header-only file is left
]


@pytest.mark.parametrize("fault,status,left", CREATION_FAULTS, ids=lambda v: json.dumps(v) if isinstance(v, dict) else None)
def test_kill_while_the_results_file_is_created_leaves_a_resumable_state(server, ckpt, reference, tmp_path, fault, status, left):
    res = server.run(certify_argv(ckpt, "r.tsv"), tmp_path, fault=fault)
    assert res["status"] == status, res["stderr"]
    if status != -9:
        assert "Traceback" not in res["stderr"] and "nothing was written" in res["stderr"], res["stderr"]
    visible = {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")}
    assert visible == left
    check_state(tmp_path / "r.tsv", reference, may_be_partial=True)
    again = server.run(certify_argv(ckpt, "r.tsv"), tmp_path)
    assert again["status"] == 0 and "Traceback" not in again["stderr"], again["stderr"]
    header, rows, partial = read_rows(tmp_path / "r.tsv")
    assert not partial and sorted(int(r[0]) for r in rows) == list(range(IMAGES))
    assert set(rows) == set(reference["rows"].values())
    # what a SIGKILL may leave besides: the hidden temporary file of the interrupted atomic write
    litter = {p.name for p in tmp_path.iterdir() if p.name.startswith(".")}
    assert all(n.endswith(".tmp") for n in litter), litter
    if fault["at"] != "replace" or status != -9:
        assert not litter, litter
