"""Where gsmooth writes: one policy for every file a command creates.

Every command that writes (``certify``, ``predict``, ``train``, ``surrogate train``, ``attack``,
``corrupt``, ``analyze --plot``) follows the same four rules, checked here **before any work**:

1. never overwrite or truncate a file gsmooth did not create for the same configuration (results
   files are resumed only when their sidecar holds the same configuration, checkpoints only with
   ``--resume``; any other existing file is refused);
2. never write to a path that is one of the command's inputs (the model, the surrogate, the
   images, the results files read), compared as files (:func:`os.path.samefile`: symbolic and hard
   links included), not as strings;
3. write through a temporary file in the same folder and an atomic :func:`os.replace`, so that a
   crash leaves the old file or the complete new one, never a torn one;
4. refuse with a typed error (:class:`gsmooth.errors.OutputFileError`, one line on the CLI,
   exit 2) that says which option, what was expected and what was given.

Writability is probed by creating (and removing) a temporary file in the target folder:
``os.access`` says yes to root on a read-only mount, and a training run must not learn after an
hour that its checkpoint cannot be written.

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> model = os.path.join(folder, "model.pt"); _ = open(model, "wb").write(b"weights")
>>> check_output_file(model, option="--out", inputs={"--model": model})
Traceback (most recent call last):
...
gsmooth.errors.OutputFileError: --out expected a path that is not an input, got ... which is the --model file
>>> out = check_output_file(os.path.join(folder, "plot.png"), option="--plot")
>>> with atomic_output(out, "w") as f:
...     _ = f.write("complete")
>>> open(out).read()
'complete'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator, Mapping, Optional, Union

from ..errors import InvalidParameterError, OutputFileError

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "same_file",
    "check_not_input",
    "check_output_file",
    "check_output_dir",
    "probe_writable",
    "atomic_output",
    "atomic_write",
    "fsync_directory",
]


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether ``a`` and ``b`` name the same file: the same inode when both exist (links included),
    else the same absolute, normalised path."""
    a, b = os.path.expanduser(os.fspath(a)), os.path.expanduser(os.fspath(b))
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_not_input(path: PathLike, inputs: Mapping[str, Optional[PathLike]], *, option: str) -> None:
    """Refuse ``path`` when it is one of ``inputs`` (``{"--model": path, …}``; ``None`` values are
    skipped), or lies inside an input folder that the command reads file by file."""
    for name, given in inputs.items():
        if given is None or given == "-":
            continue
        if same_file(path, given):
            raise OutputFileError(
                f"{option} expected a path that is not an input, got {os.fspath(path)!r} which is the {name} file"
            )


def probe_writable(directory: PathLike, *, option: str, target: PathLike) -> None:
    """Create and remove a temporary file in ``directory``: the only honest writability test."""
    directory = os.fspath(directory)
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".gsmooth-probe-", suffix=".tmp")
    except OSError as exc:
        raise OutputFileError(
            f"{option} expected a writable location, got {os.fspath(target)!r} (folder {directory}: "
            f"{exc.strerror or exc})"
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _check_parent(path: Path, *, option: str, target: PathLike) -> None:
    parent = path.parent
    if not parent.exists():
        raise OutputFileError(
            f"{option} expected a path in an existing folder, got {os.fspath(target)!r} (folder {parent} does not exist)"
        )
    if not parent.is_dir():
        raise OutputFileError(f"{option} expected a path in a folder, got {os.fspath(target)!r} ({parent} is not a folder)")
    probe_writable(parent, option=option, target=target)


def check_output_file(
    path: PathLike,
    *,
    option: str = "--out",
    inputs: Mapping[str, Optional[PathLike]] | None = None,
    exists_ok: bool = False,
    advice: str = "choose another path or delete it",
) -> Path:
    """Check, before any work, that ``path`` may be written as a new file; returns it as a
    :class:`~pathlib.Path` (``~`` expanded).

    Refused (:class:`~gsmooth.errors.OutputFileError`): an empty path, a folder, a path in a
    missing or unwritable folder, a path that is one of ``inputs``, and an existing file unless
    ``exists_ok`` (the caller has checked that gsmooth wrote it for the same configuration, e.g. a
    results file to resume). ``advice`` ends the message for an existing file.
    """
    text = os.fspath(path)
    if not text or not text.strip():
        raise OutputFileError(f"{option} expected a file path, got an empty one")
    p = Path(os.path.expanduser(text))
    if p.is_dir():
        raise OutputFileError(f"{option} expected a file path, got {text!r} which is a folder")
    check_not_input(p, inputs or {}, option=option)
    _check_parent(p.absolute(), option=option, target=text)
    if p.exists() or p.is_symlink():
        if not p.is_file():
            raise OutputFileError(f"{option} expected a regular file path, got {text!r} which is not a regular file")
        if not exists_ok:
            raise OutputFileError(
                f"{option} expected a new file, got {text!r} which already exists (gsmooth never overwrites a file "
                f"it did not write for the same configuration); {advice}"
            )
    return p


def check_output_dir(
    path: PathLike,
    *,
    option: str = "--out",
    inputs: Mapping[str, Optional[PathLike]] | None = None,
    names: tuple[str, ...] = (),
) -> Path:
    """Check that folder ``path`` may receive new files ``names`` (created if missing; its parent
    must exist). An existing folder is accepted only when none of ``names`` exists in it and it is
    not an input."""
    text = os.fspath(path)
    if not text or not text.strip():
        raise OutputFileError(f"{option} expected a folder path, got an empty one")
    p = Path(os.path.expanduser(text))
    if p.is_symlink() and not p.exists():
        raise OutputFileError(f"{option} expected a folder, got {text!r} which is a dangling symbolic link")
    if p.exists() and not p.is_dir():
        raise OutputFileError(f"{option} expected a folder, got {text!r} which is a file")
    for name, given in (inputs or {}).items():
        if given is None:
            continue
        if same_file(p, given):
            raise OutputFileError(f"{option} expected a folder that is not an input, got {text!r} which is the {name} folder")
    if p.is_dir():
        probe_writable(p, option=option, target=text)
        present = [n for n in names if (p / n).exists()]
        if present:
            shown = ", ".join(present[:3]) + (f" and {len(present) - 3} more" if len(present) > 3 else "")
            raise OutputFileError(
                f"{option} expected a folder without the files this run writes, got {text!r} which already holds "
                f"{shown} (gsmooth never overwrites them); choose another folder or delete them"
            )
    else:
        _check_parent(p.absolute(), option=option, target=text)
    return p


def fsync_directory(directory: PathLike) -> None:
    """Make a rename in ``directory`` durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(os.fspath(directory), os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(path: PathLike, mode: str = "wb", *, keep_on_interrupt: bool = False) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on normal exit flush, fsync and :func:`os.replace` it
    onto ``path``. On an exception the temporary file is removed and ``path`` is untouched — except
    with ``keep_on_interrupt`` on :class:`KeyboardInterrupt` (Ctrl-C, SIGTERM in the CLI), where
    what was written so far (if anything) is renamed onto ``path`` (the caller says it is incomplete).

    ``mode`` is ``"wb"`` or ``"w"`` (UTF-8 text)."""
    if mode not in ("wb", "w"):
        raise InvalidParameterError(f"atomic_output expected mode 'wb' or 'w', got {mode!r}")
    target = Path(os.path.expanduser(os.fspath(path)))
    directory = target.absolute().parent
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputFileError(f"cannot write {os.fspath(path)!r}: {exc.strerror or exc}") from exc
    handle = os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {}))
    finished = False
    try:
        try:
            yield handle
        except KeyboardInterrupt:
            if keep_on_interrupt and handle.tell() > 0:  # nothing written yet: no empty file either
                _finish(handle, tmp, target)
                finished = True
            raise
        _finish(handle, tmp, target)
        finished = True
    finally:
        if not finished:
            with contextlib.suppress(OSError):
                handle.close()
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _finish(handle: IO, tmp: str, target: Path) -> None:
    try:
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputFileError(f"cannot write {os.fspath(target)!r}: {exc.strerror or exc}") from exc
    fsync_directory(target.absolute().parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: PathLike, data: Union[bytes, str]) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path, "w" if isinstance(data, str) else "wb") as f:
        f.write(data)
