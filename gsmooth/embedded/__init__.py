"""Embedded defaults: small trained models, a surrogate and real test images shipped in the package.

They make the first minute work offline: ``gsmooth certify`` (additive Gaussian noise) and
``gsmooth certify --transform rotational_blur`` need no checkpoint, no dataset and no download.
Without ``--model`` the command takes the embedded model for the transform, the embedded slice of
the Fashion-MNIST test set (dataset ``fashion-mnist-sample``: the first :data:`SAMPLE_SIZE` test
images, in test-set order) and the sample sizes chosen so that a run takes :data:`QUICKSTART_TIME`
(the one figure the README and ``--help`` quote). Every other option still applies (``--n``,
``--max``, ``--range``, ``--device`` …), and ``--model`` switches the embedded default off entirely.

Which transforms have an embedded model, and with which sample sizes, is data, not code: the file
``embedded.json`` in this folder (:data:`DEFAULTS_FILE`), one entry per transform::

    {"defaults": [{"transform": "additive", "model": "additive.pt", "n0": 100, "n": 1000,
                   "max_images": 100, "interval": false}, …]}

(today: ``additive``, an ℓ2 radius with σ = 0.25, and ``rotational_blur``, an interval certificate
over its default range through the surrogate beside its model), read into :data:`EMBEDDED`.

The files are produced by ``bash experiments/embedded/build.sh`` (training commands, then
``experiments/embedded/package.py``, which strips the optimizer state, copies
``experiments/embedded/embedded.json`` here and writes ``manifest.json`` with every file's sha256,
size and the commands). The sample sizes are scaled down from the papers' (n = 100,000): the radii
are smaller than a full run's and the printed summary says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from ..errors import InvalidParameterError, suggest

__all__ = [
    "EmbeddedDefault", "EMBEDDED", "EMBEDDED_DIR", "DEFAULTS_FILE", "read_defaults", "QUICKSTART_TIME", "SAMPLE_DATASET", "SAMPLE_FILE", "SAMPLE_SIZE", "embedded_default", "manifest",
]

#: How long the embedded runs take, measured with ``bash experiments/embedded/time_quickstart.sh``
#: (README and ``--help`` quote this text; tests/test_readme.py checks that they do).
QUICKSTART_TIME = "55–110 s on 2 CPU cores (the additive one: 15 s)"
#: Folder holding the embedded files (package data).
EMBEDDED_DIR = Path(__file__).resolve().parent
#: Dataset name of the embedded test slice (see :func:`gsmooth.data.datasets.load_dataset`).
SAMPLE_DATASET = "fashion-mnist-sample"
#: File of the embedded test slice: ``{"images": uint8 (N,1,28,28), "labels": int64 (N,), ...}``.
SAMPLE_FILE = "fashion_mnist_test_sample.pt"
#: Number of test images in the embedded slice.
SAMPLE_SIZE = 500
#: File (in :data:`EMBEDDED_DIR`) describing the embedded defaults, one entry per transform.
DEFAULTS_FILE = "embedded.json"


@dataclass(frozen=True)
class EmbeddedDefault:
    """What ``gsmooth certify`` uses for a transform when no ``--model`` is given.

    Attributes:
        transform: registered transform name (``"additive"`` for pixel noise).
        model: checkpoint file name in :data:`EMBEDDED_DIR` (its surrogate, if any, sits beside it
            and is named in the checkpoint by a path relative to the checkpoint's folder).
        n0, n: selection / estimation samples per test (per slice for interval certificates).
        max_images: how many images of the embedded slice are certified.
        interval: certify the transform's default range (K slices) instead of a radius at θ = 0.
        sequential: certify the interval sequentially (``--sequential``: ``n`` is then the
            per-slice maximum, and most slices stop long before it).
    """

    transform: str
    model: str
    n0: int
    n: int
    max_images: int
    interval: bool = False
    sequential: bool = False

    @property
    def model_path(self) -> Path:
        return EMBEDDED_DIR / self.model

    @classmethod
    def from_dict(cls, entry, *, where: str = DEFAULTS_FILE) -> "EmbeddedDefault":
        """One entry of :data:`DEFAULTS_FILE`, checked (a typed error naming the bad field)."""
        names = [f.name for f in fields(cls)]
        if not isinstance(entry, dict) or not set(names[:5]) <= set(entry) <= set(names):
            got = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
            raise InvalidParameterError(f"{where}: expected an entry with keys {names} (interval, sequential optional), got {got}")
        for key in ("transform", "model"):
            if not isinstance(entry[key], str) or not entry[key]:
                raise InvalidParameterError(f"{where}: expected {key} a non-empty string, got {entry[key]!r}")
        for key in ("n0", "n", "max_images"):
            if type(entry[key]) is not int or entry[key] < 1:
                raise InvalidParameterError(f"{where}: expected {key} a positive integer, got {entry[key]!r}")
        for key in ("interval", "sequential"):
            if not isinstance(entry.get(key, False), bool):
                raise InvalidParameterError(f"{where}: expected {key} true or false, got {entry[key]!r}")
        if entry.get("sequential", False) and not entry.get("interval", False):
            raise InvalidParameterError(f"{where}: expected sequential only with interval true (its slices have known "
                                        f"requirements), got sequential true for a point certificate")
        return cls(**entry)


def read_defaults(path: Path | str | None = None) -> Mapping[str, EmbeddedDefault]:
    """The embedded defaults described in ``path`` (default: :data:`DEFAULTS_FILE` here), keyed by
    transform name, in file order; empty when the file is absent (a source checkout without it).

    Raises:
        InvalidParameterError: the file is malformed (the message names the field).
    """
    path = Path(path) if path is not None else EMBEDDED_DIR / DEFAULTS_FILE
    if not path.is_file():
        return MappingProxyType({})
    data = json.loads(path.read_text())
    entries = data.get("defaults") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise InvalidParameterError(f"{path}: expected an object with a list 'defaults', got {type(data).__name__}")
    out: dict[str, EmbeddedDefault] = {}
    for entry in entries:
        emb = EmbeddedDefault.from_dict(entry, where=str(path))
        if emb.transform in out:
            raise InvalidParameterError(f"{path}: expected one entry per transform, got {emb.transform!r} twice")
        out[emb.transform] = emb
    return MappingProxyType(out)


#: transform name -> its :class:`EmbeddedDefault`, as described in :data:`DEFAULTS_FILE` (read-only).
EMBEDDED: Mapping[str, EmbeddedDefault] = read_defaults()


def _shell_word(text: str) -> str:
    """``text`` as one shell word on one line (a name with a newline or a blank is quoted)."""
    import shlex

    return shlex.quote(text) if text.isprintable() else repr(text)


def embedded_default(transform: str | None) -> EmbeddedDefault:
    """The embedded default for ``transform`` (``None``: additive), or a clear error.

    Raises:
        InvalidParameterError: no embedded model for that transform, or its file is missing (a
            source checkout where ``experiments/embedded/build.sh`` has not been run).

    Example:
        >>> embedded_default("rotational_blur").interval
        True
    """
    name = transform or "additive"
    if name not in EMBEDDED:
        hint = suggest(name, EMBEDDED)
        raise InvalidParameterError(
            f"no embedded default model for transform {name!r}: expected --model CKPT (train one with `gsmooth train "
            f"--transform {_shell_word(name)} …`), or one of the embedded transforms {', '.join(sorted(EMBEDDED))}.{hint}"
        )
    emb = EMBEDDED[name]
    if not emb.model_path.is_file():
        raise InvalidParameterError(
            f"embedded model for {name!r}: expected the file {emb.model_path}, got nothing there (a source checkout "
            f"without the package data? rebuild it with `bash experiments/embedded/build.sh`)"
        )
    return emb


def manifest() -> dict:
    """The build record ``manifest.json`` (files, sha256, sizes, commands), or ``{}`` when absent."""
    path = EMBEDDED_DIR / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else {}
