"""Peak memory of the two quickstarts, and a check that their results do not change.

Runs ``gsmooth certify --transform T --out T.tsv --no-progress`` (the embedded model and images,
no download) for each transform in a fresh subprocess and prints its peak resident set size
(``ru_maxrss`` of that child, from ``os.wait4``), the peak of ``python -c "import torch"`` (the
floor any run pays) and the difference. Then it compares the rows written, every column except
``time``, with a reference: the first ``--tree`` of the same invocation, or the TSVs of a saved
run (``--reference DIR``, written by an earlier ``--save DIR``).

    python experiments/benchmark_certify_memory.py                       # both quickstarts, this tree
    python experiments/benchmark_certify_memory.py --save /tmp/ref       # keep the TSVs as a reference
    python experiments/benchmark_certify_memory.py --reference /tmp/ref  # same rows as then?
    # two source trees side by side (PYTHONPATH of each), e.g. before and after a change:
    python experiments/benchmark_certify_memory.py --tree before=/tmp/old --tree after=/path/to/repo

Each child runs with ``OMP_NUM_THREADS`` = ``--threads`` (default 1) and the environment of this
script otherwise (``--tree LABEL=PATH`` replaces its ``PYTHONPATH``). Exit status 1 when rows
differ from the reference. Memory only: the wall times printed are for orientation (a busy
machine changes them, not the peaks).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUICKSTARTS = ("additive", "rotational_blur")


def run_child(argv: list[str], env: dict, cwd: Path) -> tuple[int, float, int, str]:
    """``(exit status, wall seconds, peak RSS in KiB, stderr tail)`` of one child process."""
    with open(cwd / "stdout.txt", "wb") as out, open(cwd / "stderr.txt", "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not all children's
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
    tail = (cwd / "stderr.txt").read_text(errors="replace")[-2000:]
    return proc.returncode, wall, int(usage.ru_maxrss), tail  # ru_maxrss is in KiB on Linux


def rows_without_time(path: Path) -> list[tuple[str, ...]]:
    """The TSV's header and rows with the ``time`` column removed (every other cell as written)."""
    with open(path, newline="") as f:
        table = list(csv.reader(f, delimiter="\t"))
    drop = table[0].index("time") if table and "time" in table[0] else None
    return [tuple(c for i, c in enumerate(row) if i != drop) for row in table]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transforms", nargs="+", default=list(QUICKSTARTS), choices=QUICKSTARTS,
                    help="quickstarts to run (default: both)")
    ap.add_argument("--tree", action="append", default=[], metavar="LABEL=PYTHONPATH",
                    help="a source tree to run (its PYTHONPATH); repeatable, the first is the rows' reference "
                         "(default: this environment, label 'current')")
    ap.add_argument("--reference", type=Path, default=None, metavar="DIR",
                    help="compare rows with DIR/<transform>.tsv (from an earlier --save)")
    ap.add_argument("--save", type=Path, default=None, metavar="DIR",
                    help="copy the first tree's TSVs to DIR/<transform>.tsv")
    ap.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the children (default 1)")
    ap.add_argument("--python", default=sys.executable, help="interpreter of the children (default: this one)")
    args = ap.parse_args()

    trees: list[tuple[str, str | None]] = []
    for spec in args.tree:
        label, sep, path = spec.partition("=")
        if not sep or not label or not path:
            ap.error(f"--tree expected LABEL=PYTHONPATH, got {spec!r}")
        trees.append((label, path))
    if not trees:
        trees = [("current", None)]

    def env_for(pythonpath: str | None) -> dict:
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        if pythonpath is not None:
            env["PYTHONPATH"] = pythonpath
        return env

    results = []  # (tree, transform, rc, wall, peak KiB, floor KiB, rows)
    with tempfile.TemporaryDirectory(prefix="gsmooth-memory-") as tmp:
        for t_i, (label, pythonpath) in enumerate(trees):
            env = env_for(pythonpath)
            where = subprocess.run([args.python, "-c", "import gsmooth; print(gsmooth.__file__)"], env=env,
                                   capture_output=True, text=True).stdout.strip()
            floor_dir = Path(tmp) / f"{t_i}-torch"
            floor_dir.mkdir()
            rc, _, floor, tail = run_child([args.python, "-c", "import torch"], env, floor_dir)
            if rc != 0:
                print(f"import torch failed in tree {label!r}:\n{tail}", file=sys.stderr)
                return 2
            print(f"# tree {label}: gsmooth from {where or '?'}; import torch peaks at {floor / 1024:.0f} MiB",
                  flush=True)
            for name in args.transforms:
                cwd = Path(tmp) / f"{t_i}-{name}"
                cwd.mkdir()
                argv = [args.python, "-m", "gsmooth", "certify", "--transform", name, "--out", f"{name}.tsv",
                        "--no-progress"]
                rc, wall, peak, tail = run_child(argv, env, cwd)
                if rc != 0:
                    print(f"{' '.join(argv[1:])} failed in tree {label!r} (exit {rc}):\n{tail}", file=sys.stderr)
                    return 2
                rows = rows_without_time(cwd / f"{name}.tsv")
                if args.save is not None and t_i == 0:
                    args.save.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(cwd / f"{name}.tsv", args.save / f"{name}.tsv")
                results.append((label, name, wall, peak, floor, rows))
                print(f"  {name}: peak {peak / 1024:.0f} MiB, wall {wall:.0f} s", flush=True)

    import torch  # only for the header line: the children measured above

    print(f"\n# gsmooth certify quickstarts: OMP_NUM_THREADS={args.threads}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}")
    print("| tree | transform | peak RSS (MiB) | above `import torch` (MiB) | wall (s) | rows vs reference |")
    print("|---|---|---:|---:|---:|---|")
    failed = False
    first = {name: rows for label, name, _, _, _, rows in results if label == trees[0][0]}
    for label, name, wall, peak, floor, rows in results:
        if args.reference is not None:
            ref, what = rows_without_time(args.reference / f"{name}.tsv"), f"{args.reference}"
        elif label != trees[0][0]:
            ref, what = first[name], trees[0][0]
        else:
            ref, what = None, None
        if ref is None:
            verdict = f"reference ({len(rows) - 1} rows)"
        elif rows == ref:
            verdict = f"identical to {what} ({len(rows) - 1} rows, all columns but time)"
        else:
            failed = True
            diff = sum(a != b for a, b in zip(rows, ref)) + abs(len(rows) - len(ref))
            verdict = f"**DIFFER** from {what} ({diff} of {max(len(rows), len(ref)) - 1} rows)"
        print(f"| {label} | {name} | {peak / 1024:,.0f} | {(peak - floor) / 1024:,.0f} | {wall:.0f} | {verdict} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
