"""Distributed runs (gsmooth.run.distributed): torchrun and `--nproc K` on gloo (CPU), rows equal to a
single process's (every column but time), a killed rank resumed, mismatched ranks refused, predict --input
sharded, interval certificates and attack sharded; plus the pieces in-process (sharding, folding rank files)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gsmooth.cli import main
from gsmooth.embedded import SAMPLE_DATASET, embedded_default
from gsmooth.errors import InvalidParameterError, ResultsFileError
from gsmooth.io.results import ResultsWriter, read_results
from gsmooth.run import CertifyConfig, certify
from gsmooth.run import distributed
from gsmooth.run.distributed import env_context, fold_rank_files, rank_files, rank_path, shard

ADDITIVE = str(embedded_default("additive").model_path)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def _gsmooth(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gsmooth", *map(str, args)], capture_output=True, text=True,
                          env=_env(), timeout=300, **kw)


def _torchrun(*args) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "gsmooth",
            "--", *map(str, args)]


def _rows_but_time(path) -> list[list[str]]:
    """Every field of the file but the ``time`` column (the only one that may differ)."""
    rows = [line.split("\t") for line in Path(path).read_text().splitlines()]
    at = rows[0].index("time")
    return [fields[:at] + fields[at + 1 :] for fields in rows]


def _assert_same_rows(got, want) -> None:
    """Header, every row and every column but time equal; the sidecars (configuration) equal."""
    assert _rows_but_time(got) == _rows_but_time(want)
    assert json.loads(Path(f"{got}.json").read_text()) == json.loads(Path(f"{want}.json").read_text())
    assert rank_files(got) == []


# ------------------------------------------------------------------------------------------------
# in-process pieces
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size,group,world", [(0, 1, 2), (7, 1, 2), (7, 2, 2), (12, 5, 3), (3, 4, 4), (10, 3, 1)])
def test_shard_deals_single_process_groups_and_covers_every_index_once(size, group, world):
    indices = list(range(3, 3 + 2 * size, 2))
    shares = [shard(indices, group=group, rank=r, world_size=world) for r in range(world)]
    assert sorted(i for s in shares for i in s) == indices
    single = [indices[s : s + group] for s in range(0, len(indices), group)]
    for share in shares:  # each share is made of whole single-process groups, in order
        groups = [share[s : s + group] for s in range(0, len(share), group)]
        assert all(g in single for g in groups)
    sizes = [len(s) for s in shares]
    assert max(sizes) - min(sizes) <= group


def test_env_context_reads_torchrun_variables_and_refuses_nonsense():
    assert env_context({}) is None and env_context({"WORLD_SIZE": "1", "RANK": "0"}) is None
    ctx = env_context({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.local_world_size, ctx.is_main) == (3, 4, 1, 2, False)
    for bad in ({"RANK": "x", "WORLD_SIZE": "2"}, {"RANK": "2", "WORLD_SIZE": "2"}, {"RANK": "0", "WORLD_SIZE": "-2"}):
        with pytest.raises(InvalidParameterError, match="expected"):
            env_context(bad)


def test_rank_device_is_this_ranks_gpu_only_for_plain_cuda(monkeypatch):
    assert distributed.rank_device("cuda") == "cuda"  # single process: as given
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.rank_device("cuda") == "cuda:1"
    assert distributed.rank_device("cuda:0") == "cuda:0" and distributed.rank_device("cpu") == "cpu"


def _config(out, **kw) -> CertifyConfig:
    return CertifyConfig(model=ADDITIVE, dataset=SAMPLE_DATASET, out=str(out), n0=20, n=100, max=8, progress=False, **kw)


def test_leftover_rank_files_are_folded_in_index_order_by_a_single_process_rerun(tmp_path):
    """What a killed distributed run leaves (rank files, a cut last row) is folded into <out> by a plain
    re-run, which computes the rest: the file equals an uninterrupted run's, each row once."""
    ref = tmp_path / "ref.tsv"
    certify(_config(ref))
    header, *rows = ref.read_text().splitlines(keepends=True)
    config = json.loads(Path(f"{ref}.json").read_text())
    out = tmp_path / "out.tsv"
    shares = {0: [0, 1, 4], 1: [2, 3, 5]}  # rows 6, 7 never computed
    for r, idx in shares.items():
        with ResultsWriter(rank_path(out, r), columns=config["columns"], config=config["config"],
                           info=config["info"]):
            pass  # an empty rank file: header and sidecar
        with open(rank_path(out, r), "a") as f:
            f.writelines(rows[i] for i in idx)
            f.write(rows[7][:12] if r == 1 else "")  # rank 1 was killed writing a row
    with open(f"{out}", "w") as f:  # an <out> holding one row already (merged before a crash), also in rank 0's file
        f.write(header + rows[0])
    Path(f"{out}.json").write_text(Path(f"{ref}.json").read_text())
    result = certify(_config(out))
    assert result.indices == list(range(8))
    _assert_same_rows(out, ref)
    assert not list(tmp_path.glob("out.tsv.rank*"))  # sidecars of the rank files gone too


def test_fold_refuses_a_rank_file_of_another_configuration_and_keeps_everything(tmp_path):
    out = tmp_path / "out.tsv"
    with ResultsWriter(rank_path(out, 0), columns=["p_lower"], config={"n": 100}) as w:
        w.write({"idx": 0, "label": 1, "predict": 1, "radius": 0.5, "time": 1.0, "p_lower": 0.9})
    with pytest.raises(ResultsFileError, match="different configuration"):
        fold_rank_files(out, columns=["p_lower"], config={"n": 200}, radius=True)
    assert not out.exists() and rank_files(out) == [rank_path(out, 0)]  # nothing created, nothing lost
    assert fold_rank_files(out, columns=["p_lower"], config={"n": 100}, radius=True) == {0}
    assert read_results(out).idx.tolist() == [0] and rank_files(out) == []


def test_a_leading_double_dash_is_dropped_and_nproc_refused_inside_torchrun(tmp_path, monkeypatch, capsys):
    assert main(["--", "certify", "--n0", "20", "--n", "100", "--max", "2", "--no-progress",
                 "--out", str(tmp_path / "a.tsv")]) == 0
    assert len(read_results(tmp_path / "a.tsv")) == 2
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    code = main(["certify", "--nproc", "2", "--max", "2", "--out", str(tmp_path / "b.tsv")])
    assert code == 2
    assert "--nproc expected a plain command" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# real processes on gloo
# ------------------------------------------------------------------------------------------------


def _children_with_rank(pid: int, rank: int) -> list[int]:
    """The processes below ``pid`` whose environment says RANK=rank (torchrun's workers)."""
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid != parent:
                    continue
                frontier.append(int(entry))
                if f"RANK={rank}".encode() in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                    found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def test_torchrun_two_ranks_killed_and_resumed_give_the_single_process_rows(tmp_path):
    args = ["certify", "--n0", "20", "--n", "3000", "--batch", "500", "--max", "12", "--no-progress"]
    ref = tmp_path / "ref.tsv"
    assert main([*args, "--out", str(ref)]) == 0
    out = tmp_path / "out.tsv"
    proc = subprocess.Popen(_torchrun(*args, "--out", out), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    part = Path(rank_path(out, 1))
    deadline = time.time() + 240
    while time.time() < deadline:
        if part.exists() and len(part.read_text().splitlines()) >= 2:  # header + a row
            break
        if proc.poll() is not None:
            pytest.fail(f"torchrun ended before a rank could be killed: {proc.communicate()[1].decode()}")
        time.sleep(0.02)
    workers = _children_with_rank(proc.pid, 1)
    assert workers, "rank 1's worker process not found"
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    proc.communicate(timeout=240)
    assert proc.returncode != 0
    kept = sum(len(read_results(p)) for p in rank_files(out))
    assert 1 <= kept < 12 and not out.exists()  # killed mid-run: rows in the rank files, nothing merged
    again = subprocess.run(_torchrun(*args, "--out", out), env=_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stderr and again.stdout.count("gsmooth certify: 12 images") == 1  # printed once
    assert read_results(out).idx.tolist() == list(range(12))
    _assert_same_rows(out, ref)


_RANGE = ["--model", ADDITIVE, "--dataset", SAMPLE_DATASET, "--transform", "brightness", "--range", "-0.1:0.1",
          "--max", "5", "--no-progress"]


@pytest.mark.parametrize("args", [
    ["certify", *_RANGE, "--slices", "2", "--n0", "20", "--n", "200"],  # an interval certificate (exact transform)
    ["attack", *_RANGE, "--grid", "5", "--steps", "2", "--eot", "2", "--n", "100"],
    ["predict", "--model", ADDITIVE, "--dataset", SAMPLE_DATASET, "--n", "200", "--max", "5", "--no-progress"],
], ids=["interval", "attack", "predict"])
def test_nproc_launcher_shards_interval_certificates_attack_and_predict(tmp_path, capsys, args):
    ref, out = tmp_path / "ref.tsv", tmp_path / "out.tsv"
    assert main([*args, "--out", str(ref)]) == 0
    run = _gsmooth(*args, "--nproc", "2", "--out", out)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    _assert_same_rows(out, ref)
    if args[0] == "certify":
        assert read_results(out).extra["certificate"].tolist() == ["interval"] * 5
    # the same command as a plain run (--nproc 1) resumes the merged file: nothing left to do, nothing changed
    before = out.read_bytes()
    capsys.readouterr()
    assert main([*args, "--nproc", "1", "--out", str(out)]) == 0
    assert "5 rows present, 0 to go" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_ranks_given_different_configurations_all_refuse_with_the_same_line(tmp_path):
    port = str(distributed.free_port())
    out = tmp_path / "mm.tsv"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gsmooth", "certify", "--n0", "20", "--n", str(100 + 50 * r), "--max", "4",
             "--no-progress", "--out", str(out)],
            env=_env(RANK=str(r), WORLD_SIZE="2", LOCAL_RANK=str(r), LOCAL_WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                     MASTER_PORT=port),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for r in (0, 1)
    ]
    results = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [2, 2]
    errors = [err.strip().splitlines() for _, err in results]
    assert errors[0] == errors[1] and len(errors[0]) == 1, errors
    assert "config.n expected 100 (rank 0), got 150 (rank 1)" in errors[0][0]
    assert not out.exists() and rank_files(out) == []  # refused before any work


def test_nproc_launcher_a_bad_input_exits_2_with_the_workers_line_only(tmp_path):
    run = _gsmooth("certify", "--nproc", "2", "--model", tmp_path / "missing.pt", "--out", tmp_path / "r.tsv")
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert lines and all(line == lines[0] for line in lines) and "expected an existing file" in lines[0], lines
    assert not list(tmp_path.iterdir())


def test_predict_input_files_sharded_over_two_processes_equal_one(tmp_path, capsys):
    from gsmooth.data.datasets import load_dataset

    data = load_dataset(SAMPLE_DATASET, split="test")
    torch.save(torch.stack([data[i][0] for i in range(7)]), tmp_path / "imgs.pt")  # 7: shares of unequal size
    args = ["predict", "--input", tmp_path / "imgs.pt", "--n", "300", "--batch", "600", "--no-progress"]
    assert main([*map(str, args), "--out", str(tmp_path / "one.jsonl")]) == 0
    two = _gsmooth(*args, "--nproc", "2", "--out", tmp_path / "two.jsonl")
    assert two.returncode == 0, two.stderr
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert len((tmp_path / "two.jsonl").read_text().splitlines()) == 7
    assert not list(tmp_path.glob("two.jsonl.rank*"))
    # certificates to standard output, in input order, printed once
    capsys.readouterr()
    assert main([*map(str, args), "--certify"]) == 0
    one = capsys.readouterr().out
    two = _gsmooth(*args, "--certify", "--nproc", "2")
    assert two.returncode == 0, two.stderr
    assert two.stdout == one and len(one.splitlines()) == 7


def test_verify_on_two_processes_gives_the_rows_of_one(tmp_path):
    """`gsmooth verify --nproc 2` goes through the same sharded loop: the rows of a single process."""
    job = ["verify", "--model", ADDITIVE, "--method", "ibp", "--norm", "linf", "--eps", "0.001,0.01", "--max", "4",
           "--no-progress"]
    one, two = tmp_path / "one.tsv", tmp_path / "two.tsv"
    assert _gsmooth(*job, "--out", one).returncode == 0
    done = _gsmooth(*job, "--nproc", "2", "--out", two)
    assert done.returncode == 0, done.stderr
    _assert_same_rows(two, one)
    assert len(read_results(two)) == 4
