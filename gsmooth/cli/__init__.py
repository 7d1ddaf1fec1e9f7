"""The ``gsmooth`` command line: ``certify``, ``predict``, ``train``, ``surrogate``, ``attack``, ``verify``, ``analyze``, ``corrupt``, ``plugins``, and the commands plugins add (hook ``register_commands``).

Every command turns a :class:`gsmooth.GsmoothError` into one line on stderr and exit code 2
(argparse's own usage errors exit 2 as well); Ctrl-C exits 130 and SIGTERM 143, after saying what
was kept and how to continue (each command's ``interrupted(args)``).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import os
import signal
import sys
import threading

from .. import __version__
from ..errors import GsmoothError
from ..plugin.registry import get_registry
from ..run.distributed import is_main_process
from .common import launch_or_prepare
from . import analyze, attack, certify, corrupt, plugins, predict, surrogate, train, verify  # noqa: F401 - registered by gsmooth.plugin._cli_commands


def build_parser() -> argparse.ArgumentParser:
    """The ``gsmooth`` parser; its commands come from every plugin's ``register_commands`` hook (the
    built-in ones from ``gsmooth.plugin._cli_commands``)."""
    parser = argparse.ArgumentParser(
        prog="gsmooth",
        description=(
            "Certified robustness by randomized smoothing. Train a base classifier under noise, then "
            "certify: each prediction comes with a radius R such that, with probability at least "
            "1 - alpha, no perturbation within R changes it."
        ),
        epilog="Run `gsmooth COMMAND --help` for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"gsmooth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    get_registry().add_commands(sub)
    return parser


#: Options whose value may start with a minus sign (``--range -0.4:0.4``); argparse would take
#: ``-0.4:0.4`` for an option (it only recognises plain negative numbers), so such pairs are
#: rewritten as ``--range=-0.4:0.4`` before parsing.
_NEGATIVE_VALUE_OPTIONS = ("--range",)
_NEGATIVE_VALUE = re.compile(r"^-[0-9.]")


def _join_negative_values(argv: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in _NEGATIVE_VALUE_OPTIONS and i + 1 < len(argv) and _NEGATIVE_VALUE.match(argv[i + 1]):
            out.append(f"{a}={argv[i + 1]}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings on the command line: one line each, no source excerpt."""
    return f"gsmooth: {category.__name__}: {message}\n"


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a batch scheduler's time limit), raised where the program is so that it
    stops the way Ctrl-C does: rows written so far kept, a partial output finished or removed, one
    line on stderr; exit code 143 (128 + SIGTERM)."""


def _raise_terminated(signum, frame):  # pragma: no cover - exercised in a subprocess by the tests
    raise Terminated()


def interrupted_message(args) -> str:
    """What the user is told after Ctrl-C / SIGTERM: the command's own ``interrupted(args)`` when it
    has one (set as the parser default ``interrupted``: what was kept, and the exact way to
    continue), else nothing more."""
    hint = getattr(args, "interrupted", None)
    return hint(args) if callable(hint) else ""


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.formatwarning = _one_line_warning
    # torch's own deprecation notice, raised inside torch.func when forward-mode AD first loads its
    # decompositions (the M* Jacobians): nothing a gsmooth user can act on
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
    try:
        parser = build_parser()
    except GsmoothError as exc:  # a broken plugin (duplicate command, failing hook): one line, not a traceback
        print(f"gsmooth: error: {exc}", file=sys.stderr)
        return 2
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    if argv[:1] == ["--"]:  # `torchrun … -m gsmooth -- certify …`: the `--` that keeps torchrun off our options
        argv = argv[1:]
    args = parser.parse_args(_join_negative_values(argv))
    func = getattr(args, "func", None)
    if not callable(func):
        print(f"gsmooth {args.command}: error: the plugin command {args.command!r} expected a run function "
              f"(parser.set_defaults(func=run)), got {func!r}", file=sys.stderr)
        return 2
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        launched = launch_or_prepare(args, argv)  # --nproc K: the workers run the command
        if launched is not None:
            return launched
        if is_main_process():
            return int(func(args) or 0)
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # the summary: rank 0's only
            return int(func(args) or 0)
    except GsmoothError as exc:
        print(f"gsmooth {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        hint = interrupted_message(args)
        print(f"\ngsmooth {args.command}: {what}{'; ' + hint if hint else ''}", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except BrokenPipeError:  # `gsmooth plugins | head`: the reader left; no traceback (Python docs, "SIGPIPE")
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # stdout is not a real file (a test's capture)
            pass
        return 141  # 128 + SIGPIPE, as a shell reports it
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
