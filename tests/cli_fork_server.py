"""A warm ``gsmooth`` command line for tests that start many processes (tests/test_soak.py).

``python -m gsmooth`` spends seconds importing torch before it does anything; a test that kills
and restarts the command dozens of times cannot pay that each time. This server imports gsmooth
once, then **forks** one child per request; the child runs :func:`gsmooth.cli.main` exactly as
``python -m gsmooth`` does once its imports are done — same signal dispositions (Python's own
SIGINT handler, SIGTERM at its default until ``main`` installs its handler), stdout and stderr on
files, stdin from /dev/null — and exits with ``main``'s return code, as ``sys.exit(main())``
would: an exception escaping ``main`` prints a traceback and exits 1, an escaping
KeyboardInterrupt prints a traceback and ends the process by SIGINT (what CPython does). The
server never runs torch code itself, so forking it is safe.

Protocol: one JSON request per line on stdin, two JSON answers per request on stdout::

    {"argv": [...], "cwd": DIR, "stdout": FILE, "stderr": FILE,
     "signal": "KILL" | "INT" | "TERM" | null, "delay": SECONDS, "timeout": SECONDS,
     "fault": {...} | null}
    -> {"pid": PID}
    -> {"status": CODE, "signalled": BOOL, "ready": BOOL, "elapsed": SECONDS, "timed_out": BOOL}

``status`` is the exit code, or ``-N`` for a process ended by signal N (as ``subprocess``).
``signal`` is sent ``delay`` seconds after the fork, but INT and TERM only once the child is
*ready*: ``main`` has installed its SIGTERM handler (read from /proc/PID/status, so Linux only);
before that point a real process is still starting up, where neither signal can be handled.
``signalled`` is false when the child ended before the signal was due. The server signals only
its own child, and only while it has not reaped it (so never a reused process id).

``fault`` makes the child stop itself at a chosen point of writing its results file (see
:func:`_install_fault`): ``{"at": "replace", "nth": K, "signal": S}`` — just before the K-th
atomic rename (1: the JSON sidecar, 2: the TSV with its header); ``{"at": "row", "nth": R,
"fraction": F, "signal": "KILL"}`` — after writing the first fraction F of the bytes of row R
(0-based, this process's rows), fsync'd, as a power cut or SIGKILL inside a multi-block write
would leave it (F = 0: just before row R).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback

SIGNALS = {"KILL": signal.SIGKILL, "INT": signal.SIGINT, "TERM": signal.SIGTERM}


def sigterm_caught(pid: int) -> bool:
    """Whether process ``pid`` has a handler for SIGTERM (gsmooth's ``main`` installs one)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    except OSError:
        pass
    return False


def _install_fault(fault: dict) -> None:
    import gsmooth.io.results as results

    sig = SIGNALS[fault.get("signal", "KILL")]
    nth = int(fault["nth"])
    calls = {"n": 0}

    def stop() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), sig)  # SIGKILL: gone here; INT/TERM: the handler raises right after

    if fault["at"] == "replace":
        real_replace = os.replace

        def replace(src, dst, *a, **k):
            calls["n"] += 1
            if calls["n"] == nth:
                stop()
            return real_replace(src, dst, *a, **k)

        os.replace = replace
    elif fault["at"] == "row":
        fraction = float(fault.get("fraction", 0.5))
        real_write = results.ResultsWriter.write

        def write(self, row):
            if calls["n"] == nth:
                line = self._format_row(row).encode("utf-8")
                if fraction > 0:
                    self._file.write(line[: max(1, int(len(line) * fraction))])
                    os.fsync(self._file.fileno())
                stop()
            calls["n"] += 1
            return real_write(self, row)

        results.ResultsWriter.write = write
    else:  # pragma: no cover - a mistake in a test
        raise ValueError(f"unknown fault {fault!r}")


_CHANNEL = None  # the server's answer stream (closed in the children)


def _child(req: dict) -> None:
    code = 1
    try:
        try:
            if _CHANNEL is not None:
                os.close(_CHANNEL.fileno())
            os.chdir(req["cwd"])
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            for fd, key in ((1, "stdout"), (2, "stderr")):
                f = os.open(req[key], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(f, fd)
                os.close(f)
            # Python's own SIGINT handler, as `python -m gsmooth` has when started from a terminal; a parent
            # that ignores SIGINT (a shell's background job: `cmd &`) would pass SIG_IGN down to every child,
            # and then no INT could ever land (the soak never converged under `bash .ci/run &`).
            signal.signal(signal.SIGINT, signal.default_int_handler)
            if req.get("fault"):
                _install_fault(req["fault"])
            from gsmooth.cli import main

            code = main(list(req["argv"]))
            code = 0 if code is None else int(code)
        except SystemExit as exc:  # argparse's --help / usage errors
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except KeyboardInterrupt:  # escaped main: CPython prints it and dies by SIGINT
            traceback.print_exc()
            sys.stderr.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
    finally:
        os._exit(code)


def _serve_one(req: dict, answer) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(req)
    answer({"pid": pid})
    t0 = time.monotonic()
    sig = SIGNALS.get(req.get("signal") or "")
    delay = float(req.get("delay", 0.0))
    timeout = float(req.get("timeout", 300.0))
    signalled = ready = timed_out = False
    status = None
    while True:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(raw)
            break
        now = time.monotonic() - t0
        if not ready:
            ready = sigterm_caught(pid)
        if sig is not None and not signalled and now >= delay and (ready or sig == signal.SIGKILL):
            os.kill(pid, sig)  # not reaped yet: the id is still our child's
            signalled = True
        if now > timeout:
            os.kill(pid, signal.SIGKILL)
            timed_out = True
            status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            break
        time.sleep(0.005)
    answer({"status": status, "signalled": signalled, "ready": ready, "elapsed": time.monotonic() - t0,
            "timed_out": timed_out})


def serve() -> None:
    import gsmooth.cli  # noqa: F401  the imports every child would otherwise pay for
    import gsmooth.data.datasets  # noqa: F401
    import gsmooth.io.results  # noqa: F401
    from gsmooth.plugin.registry import get_registry

    get_registry()  # imports the installed plugins (kornia, …): more import time, the same registry

    global _CHANNEL
    _CHANNEL = os.fdopen(os.dup(1), "w")  # the answers; the children's fd 1 is their own file
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)

    def answer(obj: dict) -> None:
        _CHANNEL.write(json.dumps(obj) + "\n")
        _CHANNEL.flush()

    answer({"ready": True})
    for line in sys.stdin:
        if line.strip():
            _serve_one(json.loads(line), answer)


if __name__ == "__main__":
    serve()
