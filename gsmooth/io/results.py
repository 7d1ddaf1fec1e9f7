"""Crash-safe, resumable results files (one TSV row per image) and a reader for them.

A results file is a plain tab-separated file whose first columns are those of Cohen et al.'s
``certify.py`` — ``idx label predict radius correct time`` — followed by extra columns chosen by
the caller (``p_lower``, ``count``, ``noise``, ``sigma``, ``mstar``, …). Any tool that reads
Cohen's files reads ours. The run configuration lives next to it in a JSON *sidecar*
``<path>.json`` so that the TSV stays plain.

Crash safety: the header is created atomically (temporary file + rename), each row is one
``write`` of a complete line followed by ``fsync``, and re-opening truncates a partial last line.
A process killed at any moment (even SIGKILL) loses at most the row it was writing, and a re-run
with the same configuration resumes where it stopped:

>>> import os, tempfile
>>> out = os.path.join(tempfile.mkdtemp(), "results.tsv")
>>> config = {"dataset": "cifar10", "noise": "gaussian", "sigma": 0.25, "n": 100000}
>>> with ResultsWriter(out, columns=["p_lower"], config=config) as w:
...     for i in range(3):
...         if i not in w.done:
...             w.write({"idx": i, "label": 3, "predict": 3, "radius": 0.5, "time": 1.25,
...                      "p_lower": 0.97})
>>> with ResultsWriter(out, columns=["p_lower"], config=config) as w:
...     sorted(w.done)
[0, 1, 2]
>>> table = read_results(out)
>>> table.radius.tolist(), table.config["sigma"]
([0.5, 0.5, 0.5], 0.25)

:func:`read_results` also reads the files of `locuslab/smoothing` (``time`` written as
``0:00:02.345678``) and prediction-only files (no ``radius`` column).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any, Iterable, Mapping

import numpy as np

from ..errors import InvalidParameterError, ResultsFileError
from .output_files import atomic_write
from ..validation import check_path

try:  # advisory lock so that two runs never append to the same file (POSIX only)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "COHEN_COLUMNS",
    "ResultsWriter",
    "ResultsTable",
    "read_results",
    "sidecar_path",
]

#: The leading columns of every results file, in Cohen et al.'s order.
COHEN_COLUMNS: tuple[str, ...] = ("idx", "label", "predict", "radius", "correct", "time")
#: Cohen's predict.py layout: no radius.
PREDICT_COLUMNS: tuple[str, ...] = ("idx", "label", "predict", "correct", "time")

_SIDECAR_FORMAT = "gsmooth-results"
_SIDECAR_VERSION = 1
_REQUIRED_READ_COLUMNS = ("idx", "label", "predict", "correct")
_COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_TIMEDELTA = re.compile(r"^(?:(-?\d+) days?, )?(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$")


def sidecar_path(path: str | os.PathLike) -> str:
    """Path of the JSON sidecar holding the run configuration of results file ``path``.

    >>> sidecar_path("runs/cifar10_sigma0.25.tsv")
    'runs/cifar10_sigma0.25.tsv.json'
    """
    return os.fspath(path) + ".json"


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------


class ResultsWriter:
    """Append one row per image to a TSV results file, flushed and fsync'd as it is computed.

    Args:
        path: The TSV file. Its directory must exist. The configuration goes to ``<path>.json``.
        columns: Extra columns written after Cohen's ``idx label predict radius correct time``
            (which may be listed too; they are always first and in Cohen's order).
        config: JSON-serialisable dict describing the run (checkpoint path and hash, dataset, split,
            noise, sigma, n0, n, alpha, seed, transform, …). A re-run resumes only if it is equal.
        radius: ``False`` for prediction-only files in Cohen's ``predict.py`` layout
            ``idx label predict correct time`` (no radius column).
        resume: If ``True`` (default) and ``path`` exists with an equal configuration, continue it:
            :attr:`done` holds the ``idx`` values already written. If ``False``, an existing file is
            an error — results are never overwritten silently.

    Raises:
        ResultsFileError: The directory does not exist or is not writable; the file exists but was
            written by a different configuration, has no sidecar, has other columns, or is being
            written by another process; or ``resume=False`` and the file exists.
        InvalidParameterError: ``columns`` or ``config`` are malformed.

    Example:
        >>> import os, tempfile
        >>> out = os.path.join(tempfile.mkdtemp(), "run.tsv")
        >>> with ResultsWriter(out, columns=["p_lower", "noise"], config={"sigma": 0.5}) as w:
        ...     w.write({"idx": 0, "label": 1, "predict": -1, "radius": 0.0, "time": 0.8,
        ...              "p_lower": 0.42, "noise": "gaussian"})
        >>> open(out).read().splitlines()[0]
        'idx\\tlabel\\tpredict\\tradius\\tcorrect\\ttime\\tp_lower\\tnoise'
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        columns: Iterable[str] = (),
        config: Mapping[str, Any],
        resume: bool = True,
        radius: bool = True,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = check_path(path, what="ResultsWriter: path")
        self._base = COHEN_COLUMNS if radius else PREDICT_COLUMNS
        self.columns: tuple[str, ...] = _full_columns(columns, self._base)
        self.config: dict[str, Any] = _normalise_config(config)
        self.resume = bool(resume)
        self.done: set[int] = set()
        self._file: Any = None
        self._header = ("\t".join(self.columns) + "\n").encode("utf-8")
        self.info: dict[str, Any] = _normalise_config(info or {})
        #: this writer created the file (and its sidecar); a run that fails before its first row
        #: removes both, so that no header-only file is left to refuse the next configuration
        self.created = False
        self.rows_written = 0

        _check_writable_target(self.path)
        sidecar = sidecar_path(self.path)
        if os.path.exists(self.path):
            if not self.resume:
                raise ResultsFileError(
                    f"{self.path} already exists; expected a new results file because "
                    f"resume=False, got an existing one; use another --out or delete it"
                )
            self._check_sidecar(sidecar)
            self._open_existing()
        else:
            if os.path.lexists(sidecar):
                # an orphan sidecar (its TSV was deleted) describes nothing and is replaced; a file
                # gsmooth did not write (a user's JSON named like it) is refused
                if os.path.isdir(sidecar):
                    raise ResultsFileError(
                        f"cannot write the configuration sidecar {sidecar}: expected a file path, got a folder"
                    )
                _read_sidecar(sidecar, results=self.path)
            self._create(sidecar)

    # -- opening -----------------------------------------------------------------------------

    def _check_sidecar(self, sidecar: str) -> None:
        if not os.path.exists(sidecar):
            raise ResultsFileError(
                f"{self.path} exists but has no configuration sidecar {sidecar}; expected a results file "
                f"written by gsmooth, got a file gsmooth did not write (it is never overwritten); use "
                f"another --out or delete it"
            )
        if os.path.isdir(sidecar):
            raise ResultsFileError(f"cannot write the configuration sidecar {sidecar}: expected a file path, got a folder")
        stored = _read_sidecar(sidecar, results=self.path)
        # keys recorded as info (e.g. the model's path, keyed by its SHA-256 instead) are not compared,
        # also where an older file still holds them in its config
        stored_config = {k: v for k, v in stored["config"].items() if k not in self.info}
        differences = _config_differences(stored_config, {k: v for k, v in self.config.items() if k not in self.info})
        if differences:
            empty = ""
            try:
                with open(self.path, "rb") as handle:
                    if len(handle.read(len(self._header) + 1)) <= len(self._header):  # nothing after the header
                        empty = f" (it holds no rows yet: delete {self.path} and {sidecar} to use the path)"
            except OSError:
                pass
            raise ResultsFileError(
                f"{self.path} was written by a different configuration: "
                + "; ".join(differences)
                + f"; use another --out or delete it{empty}"
            )

    def _create(self, sidecar: str) -> None:
        # Sidecar first: a TSV never exists without its configuration.
        document = {
            "format": _SIDECAR_FORMAT,
            "version": _SIDECAR_VERSION,
            "columns": list(self.columns),
            "config": self.config,
        }
        if self.info:
            document["info"] = self.info  # recorded, not compared on resume (e.g. the model's path)
        payload = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")
        _atomic_write(sidecar, payload)
        try:
            _atomic_write(self.path, self._header)  # the TSV appears with its complete header
        except BaseException:  # e.g. Ctrl-C/SIGTERM between the two: no sidecar without its TSV
            _unlink_quietly(sidecar)
            raise
        self.created = True
        self._open_locked()

    def _open_existing(self) -> None:
        self._open_locked()
        try:
            self._file.seek(0)
            content = self._file.read()
            self._recover(content)
        except BaseException:
            self.close()
            raise

    def _open_locked(self) -> None:
        try:
            self._file = open(self.path, "a+b", buffering=0)
        except OSError as exc:
            raise ResultsFileError(
                f"cannot write results to {self.path}: {exc.strerror or exc}"
            ) from exc
        if fcntl is not None:
            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                self._file.close()
                self._file = None
                raise ResultsFileError(
                    f"{self.path} is being written by another process; expected it to be "
                    f"free, got it locked; wait for that run or use another --out"
                ) from exc

    def _recover(self, content: bytes) -> None:
        """Check the header, drop a partial last line, collect the ``idx`` values done."""
        newline = content.find(b"\n")
        if newline < 0:
            # No complete header line: empty file or a header cut short. Rewrite it.
            if self._header.startswith(content):
                self._truncate(0)
                self._append(self._header)
                return
            raise ResultsFileError(
                f"{self.path}: expected a header with columns {', '.join(self.columns)}; "
                f"got {_show(content)}"
            )
        header = content[: newline + 1]
        if header.rstrip(b"\r\n") != self._header.rstrip(b"\n"):
            got = header.decode("utf-8", "replace").rstrip("\r\n").split("\t")
            raise ResultsFileError(
                f"{self.path} has other columns than this run writes: expected "
                f"{', '.join(self.columns)}; got {', '.join(got)}; use another --out or "
                f"delete it"
            )
        last_newline = content.rfind(b"\n")
        if last_newline != len(content) - 1:  # killed mid-write: drop the partial row
            self._truncate(last_newline + 1)
            content = content[: last_newline + 1]
        body = content[newline + 1 :].decode("utf-8", "replace")
        n_fields = len(self.columns)
        for lineno, line in enumerate(body.split("\n")[:-1], start=2):
            if not line.strip():
                continue
            fields = line.rstrip("\r").split("\t")
            if len(fields) != n_fields:
                raise ResultsFileError(
                    f"{self.path} line {lineno}: expected {n_fields} tab-separated fields, "
                    f"got {len(fields)}"
                )
            try:
                self.done.add(int(fields[0]))
            except ValueError:
                raise ResultsFileError(
                    f"{self.path} line {lineno}: expected an integer idx, got {fields[0]!r}"
                ) from None

    def _truncate(self, size: int) -> None:
        self._file.truncate(size)
        os.fsync(self._file.fileno())

    def _append(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            view = view[written:]
        os.fsync(self._file.fileno())

    # -- writing -----------------------------------------------------------------------------

    def write(self, row: Mapping[str, Any]) -> None:
        """Append one row (a dict keyed by column name) and make it durable.

        ``correct`` may be omitted: it is ``predict == label`` (and ``predict != -1``).
        ``time`` is seconds (a number or a :class:`datetime.timedelta`); written with 4 decimals.
        ``radius`` is written at full precision. An ``idx`` already in the file is an error.
        """
        if self._file is None:
            raise ResultsFileError(f"cannot write to {self.path}: expected an open writer, got a closed one")
        line = self._format_row(row)
        try:
            self._append(line.encode("utf-8"))
        except OSError as exc:
            raise ResultsFileError(
                f"cannot write results to {self.path}: {exc.strerror or exc}"
            ) from exc
        self.done.add(int(row["idx"]))
        self.rows_written += 1

    def _format_row(self, row: Mapping[str, Any]) -> str:
        if not isinstance(row, Mapping):
            raise InvalidParameterError(
                f"results row expected a dict keyed by column name, got {type(row).__name__}"
            )
        known = set(self.columns)
        unknown = [key for key in row if key not in known]
        if unknown:
            raise InvalidParameterError(
                f"results row has unknown column(s) {', '.join(map(repr, unknown))}; expected "
                f"only the columns {', '.join(self.columns)} given at construction"
            )
        missing = [c for c in self.columns if c not in row and c != "correct"]
        if missing:
            raise InvalidParameterError(
                f"results row expected values for {', '.join(map(repr, missing))}, got none"
            )
        idx = _as_int("idx", row["idx"], minimum=0)
        if idx in self.done:
            raise InvalidParameterError(
                f"results row idx expected a new index, got {idx} which is already in "
                f"{self.path} (skip the indices in .done)"
            )
        label = _as_int("label", row["label"], minimum=0)
        predict = _as_int("predict", row["predict"], minimum=-1)
        radius = _as_float("radius", row["radius"]) if "radius" in self.columns else 0.0
        if math.isnan(radius) or radius < 0:
            raise InvalidParameterError(
                f"results row radius expected a number >= 0, got {radius!r}"
            )
        correct = int(predict == label and predict != -1)
        if "correct" in row and row["correct"] is not None:
            given = _as_int("correct", row["correct"], minimum=0)
            if given != correct:
                raise InvalidParameterError(
                    f"results row correct expected {correct} (predict={predict}, "
                    f"label={label}), got {given}"
                )
        seconds = row["time"]
        if isinstance(seconds, datetime.timedelta):
            seconds = seconds.total_seconds()
        seconds = _as_float("time", seconds)
        values = {
            "idx": str(idx),
            "label": str(label),
            "predict": str(predict),
            "radius": repr(radius),
            "correct": str(correct),
            "time": f"{seconds:.4f}",
        }
        for name in self.columns[len(self._base) :]:
            values[name] = _format_extra(name, row[name])
        return "\t".join(values[c] for c in self.columns) + "\n"

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (idempotent). Every written row is already on disk."""
        if self._file is not None:
            try:
                self._file.close()  # closing releases the flock
            finally:
                self._file = None

    def __enter__(self) -> "ResultsWriter":
        return self

    def discard_if_empty(self) -> bool:
        """Close and remove the file and its sidecar if this writer created them and wrote no row
        (a run that failed before its first result); returns whether it did."""
        self.close()
        if not (self.created and self.rows_written == 0):
            return False
        _unlink_quietly(self.path, sidecar_path(self.path))
        self.created = False
        return True

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        if exc_type is not None:
            self.discard_if_empty()
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._file is not None else "closed"
        return f"ResultsWriter({self.path!r}, {len(self.done)} rows, {state})"


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


@dataclass
class ResultsTable:
    """The rows of a results file as numpy arrays (one entry per evaluated image).

    ``radius`` is 0 where the file has no radius column (prediction-only files). ``time`` is
    seconds (NaN where the file has none). ``extra`` maps every further column to an array
    (integer, float, or string). ``config`` is the sidecar's configuration, or ``None``.

    >>> t = ResultsTable(idx=np.array([0]), label=np.array([2]), predict=np.array([2]),
    ...                  radius=np.array([0.7]), correct=np.array([1]))
    >>> len(t), t.has_radius
    (1, True)
    """

    idx: np.ndarray
    label: np.ndarray
    predict: np.ndarray
    radius: np.ndarray
    correct: np.ndarray
    time: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    path: str | None = None
    config: dict[str, Any] | None = None
    has_radius: bool = True

    def __len__(self) -> int:
        return int(np.asarray(self.idx).shape[0])

    def select(self, indices: Iterable[int]) -> "ResultsTable":
        """The rows whose ``idx`` is in ``indices`` (file order kept): what one run's selection
        covers in a file that holds more rows.

        >>> t = ResultsTable(idx=np.array([0, 1, 2]), label=np.array([1, 1, 1]), predict=np.array([1, 0, 1]),
        ...                  radius=np.array([0.5, 0.0, 0.2]), correct=np.array([1, 0, 1]))
        >>> t.select([0, 2]).radius.tolist()
        [0.5, 0.2]
        """
        wanted = np.fromiter((int(i) for i in indices), dtype=np.int64)
        mask = np.isin(np.asarray(self.idx), wanted)
        return ResultsTable(
            idx=self.idx[mask], label=self.label[mask], predict=self.predict[mask], radius=self.radius[mask],
            correct=self.correct[mask], time=None if self.time is None else self.time[mask],
            extra={k: np.asarray(v)[mask] for k, v in self.extra.items()}, path=self.path, config=self.config,
            has_radius=self.has_radius,
        )


def read_results(path: str | os.PathLike) -> ResultsTable:
    """Read a results file: ours, Cohen et al.'s ``certify.py``/``predict.py`` output, or any TSV
    with the columns ``idx label predict correct`` (``radius`` and ``time`` optional).

    A last line without a newline is a row being written (or cut by a kill): it is skipped for
    gsmooth files and kept for others when it has every field.

    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "cohen.tsv")
    >>> _ = open(p, "w").write("idx\\tlabel\\tpredict\\tradius\\tcorrect\\ttime\\n"
    ...                        "0\\t3\\t3\\t0.412\\t1\\t0:00:02.500000\\n")
    >>> t = read_results(p)
    >>> t.radius.tolist(), t.time.tolist()
    ([0.412], [2.5])
    """
    path = check_path(path, what="read_results: path")
    if not os.path.exists(path):
        raise ResultsFileError(f"cannot read results: expected a TSV file at {path}, got nothing there")
    if os.path.isdir(path):
        raise ResultsFileError(f"cannot read results: expected a TSV file at {path}, got a directory")
    sidecar = sidecar_path(path)
    config = _read_sidecar(sidecar)["config"] if os.path.exists(sidecar) else None
    try:
        with open(path, "r", encoding="utf-8", newline="") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise ResultsFileError(
            f"cannot read results {path}: expected UTF-8 tab-separated text, got binary data"
        ) from None
    except OSError as exc:
        raise ResultsFileError(f"cannot read results {path}: {exc.strerror or exc}") from exc

    parts = text.split("\n")  # not splitlines(): only "\n" ends a row
    lines = [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    if not lines:
        raise ResultsFileError(
            f"{path}: expected a header with columns {', '.join(COHEN_COLUMNS)}; got an empty file"
        )
    header_text = lines[0].rstrip("\r\n")
    header = [h.strip() for h in header_text.split("\t")]
    missing = [c for c in _REQUIRED_READ_COLUMNS if c not in header]
    if missing or len(set(header)) != len(header):
        raise ResultsFileError(
            f"{path}: expected a header with columns idx, label, predict, radius, correct "
            f"(radius and time optional); got {_show(header_text.encode())}"
        )
    position = {name: i for i, name in enumerate(header)}
    rows: list[list[str]] = []
    linenos: list[int] = []  # file line number of each row, for messages
    body = lines[1:]
    for offset, line in enumerate(body):
        lineno = offset + 2
        terminated = line.endswith("\n")
        stripped = line.rstrip("\r\n")
        if not stripped.strip():
            continue
        fields = stripped.split("\t")
        if not terminated and offset == len(body) - 1:
            if config is not None or len(fields) != len(header):
                continue  # a row cut short while being written
        if len(fields) != len(header):
            raise ResultsFileError(
                f"{path} line {lineno}: expected {len(header)} tab-separated fields, got {len(fields)}"
            )
        rows.append(fields)
        linenos.append(lineno)

    def column(name: str) -> list[str]:
        i = position[name]
        return [r[i].strip() for r in rows]

    idx = _parse_ints(path, linenos, "idx", column("idx"))
    label = _parse_ints(path, linenos, "label", column("label"))
    predict = _parse_ints(path, linenos, "predict", column("predict"))
    correct = _parse_ints(path, linenos, "correct", [_bool_word(v) for v in column("correct")])
    if "radius" in position:
        radius = _parse_floats(path, linenos, "radius", column("radius"))
        bad = np.flatnonzero(np.isnan(radius) | (radius < 0))
        if bad.size:
            raise ResultsFileError(
                f"{path} line {linenos[bad[0]]}: column radius expected a number >= 0, "
                f"got {column('radius')[bad[0]]!r}"
            )
    else:
        radius = np.zeros(len(rows), dtype=float)
    time = None
    if "time" in position:
        time = np.array(
            [_parse_time(path, n, v) for n, v in zip(linenos, column("time"))], dtype=float
        )

    expected_correct = ((predict == label) & (predict != -1)).astype(np.int64)
    bad = np.flatnonzero(correct != expected_correct)
    if bad.size:
        i = int(bad[0])
        raise ResultsFileError(
            f"{path} line {linenos[i]}: correct expected {expected_correct[i]} (predict={predict[i]}, "
            f"label={label[i]}), got {correct[i]}"
        )
    unique, counts = np.unique(idx, return_counts=True)
    if np.any(counts > 1):
        raise ResultsFileError(
            f"{path}: expected each idx once, got idx {int(unique[counts > 1][0])} "
            f"{int(counts[counts > 1][0])} times"
        )
    extra = {
        name: _parse_extra(column(name))
        for name in header
        if name not in COHEN_COLUMNS
    }
    return ResultsTable(
        idx=idx,
        label=label,
        predict=predict,
        radius=radius,
        correct=correct,
        time=time,
        extra=extra,
        path=path,
        config=config,
        has_radius="radius" in position,
    )


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _full_columns(columns: Iterable[str], base: tuple[str, ...] = COHEN_COLUMNS) -> tuple[str, ...]:
    if isinstance(columns, str):
        raise InvalidParameterError(
            f"columns expected a list of column names, got the string {columns!r}"
        )
    try:
        names = list(columns)
    except TypeError:
        raise InvalidParameterError(
            f"columns expected a list of column names, got {type(columns).__name__}"
        ) from None
    extra: list[str] = []
    for name in names:
        if not isinstance(name, str) or not _COLUMN_NAME.match(name):
            raise InvalidParameterError(
                f"columns expected names made of letters, digits, '_', '.', '-', got {name!r}"
            )
        if name in base:
            continue
        if name == "radius":
            raise InvalidParameterError("columns expected no 'radius' in a prediction-only file (radius=False), got one")
        if name in extra:
            raise InvalidParameterError(f"columns expected distinct names, got {name!r} twice")
        extra.append(name)
    return base + tuple(extra)


def _normalise_config(config: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise InvalidParameterError(
            f"config expected a JSON-serialisable dict, got {type(config).__name__}"
        )
    for key, value in config.items():
        if not isinstance(key, str):
            raise InvalidParameterError(f"config expected string keys, got {key!r}")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"config[{key!r}] expected a JSON-serialisable finite value (str, number, bool, "
                f"None, list, dict), got {value!r} of type {type(value).__name__}"
            ) from None
    # the JSON round trip makes tuples lists, so a dict compares equal to its stored copy
    return json.loads(json.dumps(dict(config), sort_keys=True))


def _config_differences(stored: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    missing = object()
    out = []
    for key in sorted(set(stored) | set(new)):
        old_value, new_value = stored.get(key, missing), new.get(key, missing)
        if old_value != new_value:
            old_text = "<absent>" if old_value is missing else json.dumps(old_value, sort_keys=True)
            new_text = "<absent>" if new_value is missing else json.dumps(new_value, sort_keys=True)
            out.append(f"{key} expected {old_text} (in file), got {new_text}")
    return out


def _read_sidecar(sidecar: str, *, results: str | None = None) -> dict[str, Any]:
    try:
        with open(sidecar, "r", encoding="utf-8") as handle:
            document = json.load(handle)
    except OSError as exc:
        raise ResultsFileError(f"cannot read {sidecar}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ResultsFileError(
            f"{sidecar}: expected a JSON gsmooth results sidecar, got invalid JSON ({exc})"
            + (f"; gsmooth never overwrites a file it did not write: use another --out than {results} or delete it" if results else "")
        ) from None
    if (
        not isinstance(document, dict)
        or document.get("format") != _SIDECAR_FORMAT
        or not isinstance(document.get("config"), dict)
    ):
        raise ResultsFileError(
            f"{sidecar}: expected a gsmooth results sidecar (an object with format "
            f"{_SIDECAR_FORMAT!r} and a config), got something else"
            + (f"; gsmooth never overwrites a file it did not write: use another --out than {results} or delete it" if results else "")
        )
    return document


def _check_writable_target(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(directory):
        raise ResultsFileError(
            f"cannot write results to {path}: directory {directory} does not exist"
        )
    if not os.path.isdir(directory):
        raise ResultsFileError(
            f"cannot write results to {path}: {directory} is not a directory"
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ResultsFileError(
            f"cannot write results to {path}: directory {directory} is not writable"
        )
    if os.path.isdir(path):
        raise ResultsFileError(
            f"cannot write results to {path}: expected a file path, got a directory"
        )


def _unlink_quietly(*paths: str) -> None:
    for p in paths:
        try:
            os.unlink(p)
        except OSError:
            pass


def _atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the complete new one
    (:func:`gsmooth.io.output_files.atomic_write`), failures as :class:`ResultsFileError`."""
    try:
        atomic_write(path, data)
    except OSError as exc:  # an OutputFileError chains the OSError behind it
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
        raise ResultsFileError(f"cannot write results to {path}: {cause.strerror or cause}") from exc


def _scalar(value: Any) -> Any:
    """Unwrap 0-d numpy arrays / tensors without importing their libraries."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    return value


def _as_int(name: str, value: Any, *, minimum: int) -> int:
    value = _scalar(value)
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, Integral) or value < minimum or value >= 2**63:  # read back as int64
        raise InvalidParameterError(
            f"results row {name} expected an integer >= {minimum} (64-bit), got {value!r}"
        )
    return int(value)


def _as_float(name: str, value: Any) -> float:
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InvalidParameterError(f"results row {name} expected a number, got {value!r}")
    return float(value)


def _format_extra(name: str, value: Any) -> str:
    value = _scalar(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        return repr(float(value))
    text = str(value)
    if any(ch in text for ch in "\t\n\r"):
        raise InvalidParameterError(
            f"results row {name} expected a value without tabs or newlines, got {text!r}"
        )
    return text


def _show(content: bytes, limit: int = 120) -> str:
    text = content.decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "…") if text else "an empty line"


def _bool_word(value: str) -> str:
    return {"true": "1", "false": "0"}.get(value.lower(), value)


def _parse_ints(path: str, linenos: list[int], name: str, values: list[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        try:
            out[i] = int(value)
        except (ValueError, OverflowError):  # not an integer, or beyond int64
            raise ResultsFileError(
                f"{path} line {linenos[i]}: column {name} expected an integer (64-bit), got {value!r}"
            ) from None
    return out


def _parse_floats(path: str, linenos: list[int], name: str, values: list[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=float)
    for i, value in enumerate(values):
        try:
            out[i] = float(value)
        except ValueError:
            raise ResultsFileError(
                f"{path} line {linenos[i]}: column {name} expected a number, got {value!r}"
            ) from None
    return out


def _parse_time(path: str, lineno: int, value: str) -> float:
    """Seconds from ``2.3456`` (ours) or ``0:00:02.345678`` / ``1 day, 0:00:01`` (Cohen's)."""
    if value == "":
        return math.nan
    try:
        return float(value)
    except ValueError:
        pass
    match = _TIMEDELTA.match(value)
    if match is None:
        raise ResultsFileError(
            f"{path} line {lineno}: column time expected seconds or H:MM:SS[.ffffff], got {value!r}"
        )
    days, hours, minutes, seconds = match.groups()
    return (
        int(days or 0) * 86400.0 + int(hours) * 3600.0 + int(minutes) * 60.0 + float(seconds)
    )


def _parse_extra(values: list[str]) -> np.ndarray:
    """An integer array if every value is an integer, else float if numeric, else strings."""
    nonempty = [v for v in values if v != ""]
    try:
        if nonempty and len(nonempty) == len(values):
            return np.array([int(v) for v in values], dtype=np.int64)
    except (ValueError, OverflowError):  # not integers, or beyond int64: numbers or text
        pass
    try:
        if nonempty:
            return np.array([float(v) if v != "" else math.nan for v in values], dtype=float)
    except ValueError:
        pass
    return np.array(values, dtype=str)
