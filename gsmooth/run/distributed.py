"""Distributed runs: the same certify / predict / attack job on several processes (torch.distributed).

A run started by ``torchrun`` (or by ``gsmooth certify --nproc K``, :func:`launch`) reads its place
from torchrun's environment — ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` — and joins the process group
(backend ``gloo`` on CPU, ``nccl`` for CUDA; ``--device cuda`` means this rank's GPU,
``cuda:LOCAL_RANK``). Nothing set (or ``WORLD_SIZE=1``): a plain single-process run, unchanged.

How a results file is shared (:func:`gsmooth.run.runner.write_rows`):

1. Every rank gathers every rank's configuration (:meth:`DistContext.check_same`); a mismatch is
   refused on every rank with the same one-line :class:`gsmooth.errors.DistributedConfigError`.
2. Rank 0 folds the rank files a killed run left (:func:`fold_rank_files`) into ``<out>`` and says
   which rows are done.
3. The selected images not yet done are cut into the groups a single process would form (images
   sharing forward batches) and the groups are dealt to the ranks in turn (:func:`shard`). Each rank
   appends its rows to its own ``<out>.rank<r>``, a :class:`gsmooth.io.results.ResultsWriter` with the
   run's configuration (fsync'd rows, resumable, locked).
4. A barrier; rank 0 merges every rank file into ``<out>`` in index order (atomic rewrite) and removes
   the rank files only once the merged file is on disk.

Rows depend only on the dataset index and the seed (the noise streams are keyed by index), so the
merged file holds the rows a single process writes, ``time`` aside. Any re-run — the same or another
world size, or a single process — first folds leftover rank files, then resumes.

Example:
    Outside torchrun there is no process group and :func:`env_context` says so; :func:`shard` deals
    groups of images to ranks:

    >>> env_context({}) is None
    True
    >>> ctx = env_context({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    >>> ctx.rank, ctx.world_size, ctx.is_main
    (1, 2, False)
    >>> shard([0, 1, 2, 3, 4, 5, 6], group=2, rank=1, world_size=2)
    [2, 3, 6]
    >>> rank_path("runs/r.tsv", 1)
    'runs/r.tsv.rank1'
"""

from __future__ import annotations

import atexit
import datetime
import glob
import json
import os
import re
import socket
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import DistributedConfigError, GsmoothError, InvalidParameterError

__all__ = [
    "DistContext",
    "RowCounter",
    "TIMEOUT",
    "context",
    "cpu_cores",
    "default_threads",
    "env_context",
    "fold_rank_files",
    "free_port",
    "is_main_process",
    "launch",
    "rank_device",
    "rank_files",
    "rank_path",
    "shard",
]

#: How long a rank waits for the others at a barrier (the fastest rank waits for the slowest one's
#: last images). A rank that dies is noticed by torchrun, which stops the others.
TIMEOUT = datetime.timedelta(days=7)

_RANK_SUFFIX = re.compile(r"\.rank(\d+)$")


def _env_int(env: Mapping[str, str], name: str, minimum: int) -> int:
    text = env.get(name)
    try:
        value = int(text)
    except (TypeError, ValueError):
        value = None
    if value is None or value < minimum:
        raise InvalidParameterError(
            f"torchrun's environment variable {name} expected an integer >= {minimum}, got {text!r}"
        )
    return value


@dataclass(frozen=True)
class DistContext:
    """This process's place in a distributed run.

    Attributes:
        rank: global rank, 0 … world_size - 1 (rank 0 merges and prints).
        world_size: number of processes (> 1).
        local_rank: rank on this machine (its GPU: ``cuda:local_rank``).
        local_world_size: processes on this machine.
    """

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int

    @property
    def is_main(self) -> bool:
        """Rank 0: it merges the rank files, shows the progress bar and prints the summary."""
        return self.rank == 0

    # -- collectives (the process group must be up: :func:`context`) ------------------------------

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()

    def all_gather(self, obj: Any) -> list:
        """Every rank's ``obj`` (picklable), in rank order, on every rank."""
        import torch.distributed as dist

        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def on_main(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` on rank 0, its result (or its exception, raised again) on every rank."""
        import torch.distributed as dist

        box: list = [None]
        failure: BaseException | None = None
        if self.is_main:
            try:
                box[0] = ("ok", fn())
            except Exception as exc:  # said on every rank, then raised here as it was
                failure = exc
                box[0] = ("error", _portable(exc))
        dist.broadcast_object_list(box, src=0)
        if failure is not None:
            raise failure
        kind, value = box[0]
        if kind == "error":
            raise value
        return value

    def check_same(self, what: Mapping[str, Any]) -> None:
        """Refuse a run whose ranks were given different configurations (``what``: JSON-serialisable),
        with the same :class:`gsmooth.errors.DistributedConfigError` on every rank, before any work."""
        gathered = self.all_gather(_flat(json.loads(json.dumps(dict(what), sort_keys=True))))
        reference = gathered[0]
        for rank, other in enumerate(gathered[1:], start=1):
            if other != reference:
                keys = sorted(set(reference) | set(other))
                diffs = "; ".join(
                    f"{k} expected {json.dumps(reference.get(k), sort_keys=True)} (rank 0), got "
                    f"{json.dumps(other.get(k), sort_keys=True)} (rank {rank})"
                    for k in keys if reference.get(k) != other.get(k)
                )
                raise DistributedConfigError(
                    f"the ranks of a distributed run expected the same configuration, got {diffs}; start every "
                    f"rank with the same command"
                )


def _flat(what: Mapping[str, Any]) -> dict:
    """One level of nested dicts spread out (``config.n``), so a mismatch names the field that differs."""
    out = {}
    for key, value in what.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def _portable(exc: Exception) -> Exception:
    """``exc`` if it pickles (gsmooth's errors do), else a :class:`gsmooth.errors.GsmoothError` with its text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return GsmoothError(f"rank 0: {type(exc).__name__}: {exc}")


def env_context(env: Mapping[str, str] | None = None) -> DistContext | None:
    """The distributed run described by torchrun's environment (``os.environ`` by default), or None
    for a single process (``WORLD_SIZE`` unset or 1)."""
    env = os.environ if env is None else env
    if env.get("WORLD_SIZE") in (None, "", "1"):
        return None
    world = _env_int(env, "WORLD_SIZE", 1)
    rank = _env_int(env, "RANK", 0)
    if rank >= world:
        raise InvalidParameterError(f"torchrun's environment variable RANK expected a rank below WORLD_SIZE {world}, got {rank}")
    local_rank = _env_int(env, "LOCAL_RANK", 0) if "LOCAL_RANK" in env else 0
    local_world = _env_int(env, "LOCAL_WORLD_SIZE", 1) if "LOCAL_WORLD_SIZE" in env else world
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, local_world_size=local_world)


def is_main_process() -> bool:
    """True outside a distributed run and on rank 0."""
    ctx = env_context()
    return ctx is None or ctx.is_main


def rank_device(device: str) -> str:
    """The device of this rank: ``cuda`` means ``cuda:LOCAL_RANK`` in a distributed run; any other
    name (``cpu``, ``cuda:1``) is taken as given."""
    ctx = env_context()
    if ctx is not None and isinstance(device, str) and device.strip() == "cuda":
        return f"cuda:{ctx.local_rank}"
    return device


def context(device=None) -> DistContext | None:
    """This process's :class:`DistContext` with its process group up (started once: gloo for a CPU
    ``device``, nccl for CUDA), or None for a single process."""
    ctx = env_context()
    if ctx is None:
        return None
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dev = torch.device(device) if device is not None else torch.device("cpu")
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        for name in ("MASTER_ADDR", "MASTER_PORT"):
            if not os.environ.get(name):
                raise InvalidParameterError(
                    f"a distributed run (WORLD_SIZE {ctx.world_size}) expected {name} in the environment (torchrun sets "
                    f"it), got none"
                )
        dist.init_process_group(backend=backend, rank=ctx.rank, world_size=ctx.world_size, timeout=TIMEOUT)
        atexit.register(_shutdown)
    return ctx


def _shutdown() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception:  # pragma: no cover - the peers may be gone at exit
            pass


def shard(indices: Sequence[int], *, group: int, rank: int, world_size: int) -> list[int]:
    """The indices rank ``rank`` computes: ``indices`` cut into the groups of ``group`` a single process
    would form (images sharing forward batches), dealt to the ranks in turn — every index exactly once
    over all ranks, each group as a single process computes it."""
    group = max(1, int(group))
    groups = [list(indices[s : s + group]) for s in range(0, len(indices), group)]
    return [i for g in groups[rank::world_size] for i in g]


def rank_path(out, rank: int) -> str:
    """The rows file of rank ``rank`` for results file ``out``: ``<out>.rank<r>`` (sidecar ``.json`` beside it)."""
    return f"{os.fspath(out)}.rank{int(rank)}"


def rank_files(out) -> list[str]:
    """The rank files of ``out`` on disk (any world size), by rank."""
    base = os.fspath(out)
    found = []
    for path in glob.glob(glob.escape(base) + ".rank*"):
        m = _RANK_SUFFIX.search(path)
        if m is not None and path[: m.start()] == base and os.path.isfile(path):
            found.append((int(m.group(1)), path))
    return [p for _, p in sorted(found)]


def _lines(path: str) -> tuple[bytes, list[bytes]]:
    with open(path, "rb") as handle:
        content = handle.read()
    head, _, body = content.partition(b"\n")
    return head + b"\n", [line + b"\n" for line in body.split(b"\n")[:-1] if line.strip()]


def fold_rank_files(out, *, columns, config, radius: bool, info: Mapping[str, Any] | None = None) -> set[int]:
    """Merge the rank files of ``out`` (:func:`rank_files`) into ``out`` and return the ``idx`` done.

    Every file is opened as a :class:`gsmooth.io.results.ResultsWriter` with this configuration
    (so a file of another configuration is refused, a partial last row dropped, a file in use
    refused); ``out`` is rewritten atomically with every row once, in index order (rows already in
    ``out`` first: a row found twice is the same row), and the rank files are removed only after.
    Without rank files ``out`` is not touched (created neither). Without ``out`` nor rank files:
    nothing is done.
    """
    from ..io.output_files import atomic_write
    from ..io.results import ResultsWriter, sidecar_path

    parts = rank_files(out)
    if not parts:
        if not os.path.exists(out):
            return set()
        with ResultsWriter(out, columns=columns, config=config, resume=True, radius=radius, info=info) as writer:
            return set(writer.done)
    writers = []
    try:
        main = ResultsWriter(out, columns=columns, config=config, resume=True, radius=radius, info=info)
        writers.append(main)
        for path in parts:
            writers.append(ResultsWriter(path, columns=columns, config=config, resume=True, radius=radius, info=info))
        header, _ = _lines(main.path)
        rows: dict[int, bytes] = {}
        for w in writers:  # out first: a row merged before a crash and still in a rank file is kept once
            for line in _lines(w.path)[1]:
                rows.setdefault(int(line.split(b"\t", 1)[0]), line)
        atomic_write(main.path, header + b"".join(rows[i] for i in sorted(rows)))
    except BaseException:
        if writers:
            writers[0].discard_if_empty()  # a header-only out this call created: not left behind
        raise
    finally:
        for w in writers:
            w.close()
    for path in parts:  # only now: every row is in the merged file on disk
        for p in (path, sidecar_path(path)):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
    return set(rows)


class RowCounter:
    """Rows written so far to a set of row files (read incrementally: each call reads only what was
    appended since the last): rank 0's progress bar counts every rank's rows with it."""

    def __init__(self, paths: Sequence[str]):
        self._offsets = {p: 0 for p in paths}
        self._counts = {p: 0 for p in paths}

    def __call__(self) -> int:
        for path, offset in self._offsets.items():
            try:
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    data = handle.read()
            except OSError:
                continue
            if offset == 0 and data:
                newline = data.find(b"\n")
                if newline < 0:
                    continue
                data, offset = data[newline + 1 :], newline + 1  # the header is no row
            end = data.rfind(b"\n") + 1  # a row being written counts once complete
            self._counts[path] += data[:end].count(b"\n")
            self._offsets[path] = offset + end
        return sum(self._counts.values())


# ------------------------------------------------------------------------------------------------
# launching K local workers (gsmooth COMMAND --nproc K)
# ------------------------------------------------------------------------------------------------


def cpu_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_threads(local_world_size: int) -> int:
    """Torch threads of each CPU worker: the cores shared out, at least 1."""
    return max(1, cpu_cores() // max(1, int(local_world_size)))


def free_port() -> int:
    """A TCP port free on localhost now (for the launcher's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(argv: Sequence[str], *, nproc: int, threads: int | None, command: str) -> int:
    """Run ``gsmooth ARGV`` on ``nproc`` local workers with torch.distributed's elastic launch API
    (:class:`torch.distributed.launcher.api.LaunchConfig`, rendezvous on localhost at a free port, no
    restarts): what ``torchrun --nproc_per_node NPROC -m gsmooth -- ARGV`` does. ``--nproc`` is taken
    overridden (``--nproc 1`` for each worker); CPU workers get ``threads`` torch threads each (``--threads-per-proc``; default
    :func:`default_threads`). Returns the exit code: 0, or the first failed rank's (a worker's
    error is printed by the worker itself, once per rank)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if threads is None:
        threads = default_threads(nproc)
    # the last occurrence of an option wins: the workers run the command as one rank each, with threads
    args = [*argv, "--nproc", "1", "--threads-per-proc", str(threads)]
    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"gsmooth-{uuid.uuid4().hex[:12]}",
        rdzv_backend="c10d", rdzv_endpoint=f"127.0.0.1:{free_port()}", max_restarts=0, monitor_interval=0.1,
        start_method="spawn",
    )
    previous = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)  # the workers' OpenMP pools, from their start
    _quiet_elastic_logs()
    try:
        elastic_launch(config, sys.executable)("-m", "gsmooth", "--", *args)
    except ChildFailedError as exc:
        failures = exc.failures
        # the worker that failed first by itself (an exit code), not one the agent stopped afterwards (a signal)
        rank = min(failures, key=lambda r: (failures[r].exitcode <= 0, failures[r].timestamp, r))
        code = failures[rank].exitcode
        if code < 0:  # killed by a signal: as a shell reports it
            code = 128 - code
        if code != 2:  # 2: the worker printed its one-line error
            print(f"gsmooth {command}: error: worker rank {rank} exited with code {failures[rank].exitcode}; the rows "
                  f"written so far are kept, run the same command again to resume", file=sys.stderr)
        return code
    finally:
        if previous is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous
    return 0


def _quiet_elastic_logs() -> None:
    """The elastic agent's log (its run id, its rendezvous, "failed (exitcode: 2)") is nothing a gsmooth
    user acts on: a failed worker has said why itself, and :func:`launch` says which one failed."""
    import logging

    for name in list(logging.root.manager.loggerDict):  # torch gives each module its own logger and level
        if name.startswith(("torch.distributed.elastic", "torch.distributed.launcher")):
            logging.getLogger(name).setLevel(logging.CRITICAL)
