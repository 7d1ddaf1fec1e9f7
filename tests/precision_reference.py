"""The runs whose rows ``tests/test_precision.py`` compares with the files in
``tests/data/precision_reference/``: those files were written by the code *before* ``--precision`` /
``--channels-last`` / ``--compile`` existed (commit 1b35b2a), so the default (fp32, no channels_last,
no compile) is proven to leave every row and sidecar as it was.

``certify_surrogate`` was rewritten when the embedded rotational-blur model was rebuilt (issue 11): by
the code of commit 3702433 (before the sequential certificates, the prefetching loop, the surrogate's
encode-once and channels-last decoder) with the new embedded files copied in; the current code writes
the same rows, so those speedups are shown to change no vote.

Regenerate (only on purpose, from a tree whose rows are the reference)::

    OMP_NUM_THREADS=1 PYTHONPATH=.:.pp python tests/precision_reference.py tests/data/precision_reference
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gsmooth.embedded import SAMPLE_DATASET, embedded_default

ADDITIVE = str(embedded_default("additive").model_path)
ROTATIONAL_BLUR = str(embedded_default("rotational_blur").model_path)
_SMALL = {"model": ADDITIVE, "dataset": SAMPLE_DATASET, "progress": False, "seed": 3}

#: name -> (command, configuration fields): certify with several images per forward batch (n0, n
#: below the batch) and with several batches per image, an interval certificate (centred noise), a
#: surrogate (its decoder runs in the sampling loop), predict and attack.
RUNS = {
    "certify_packed": ("certify", {**_SMALL, "n0": 20, "n": 100, "batch_size": 250, "max": 4}),
    "certify_batches": ("certify", {**_SMALL, "n0": 30, "n": 200, "batch_size": 64, "max": 2}),
    "certify_interval": ("certify", {**_SMALL, "n0": 20, "n": 60, "batch_size": 100, "max": 2,
                                     "transform": "brightness", "range": "-0.1:0.1", "slices": 2}),
    "certify_surrogate": ("certify", {**_SMALL, "model": ROTATIONAL_BLUR, "n0": 10, "n": 60, "batch_size": 100,
                                      "max": 3, "transform": "rotational_blur"}),
    "predict": ("predict", {**_SMALL, "n": 150, "batch_size": 100, "max": 3}),
    "attack": ("attack", {**_SMALL, "n": 30, "batch_size": 100, "max": 1, "transform": "brightness",
                          "range": "-0.2:0.2", "grid": 5, "steps": 2, "restarts": 1, "eot": 4}),
}


def run(name: str, out: Path, **extra):
    """Run ``RUNS[name]`` (plus ``extra`` configuration fields) writing ``out``."""
    import gsmooth.run as R

    command, fields = RUNS[name]
    config = {"certify": R.CertifyConfig, "predict": R.PredictConfig, "attack": R.AttackConfig}[command]
    return getattr(R, command)(config(**fields, **extra, out=str(out)), log=lambda _: None, warn=lambda _: None)


def rows(path: Path) -> list[list[str]]:
    """The rows of a results file, header included, without the wall-time column."""
    lines = Path(path).read_text().splitlines()
    keep = [i for i, h in enumerate(lines[0].split("\t")) if h != "time"]
    return [[cells[i] for i in keep] for cells in (line.split("\t") for line in lines)]


def _close(a: str, b: str, rel: float) -> bool:
    """Equal cells, or two decimal numbers (not integers) within ``rel``: an attack's loss values come from float
    kernels whose last digits differ between CPUs (the same commit gave ...354 and ...627 in the 7th digit on two
    machines); votes, classes, counts and radii from counts compare exactly."""
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    decimal = any(c in a + b for c in ".eE")
    return decimal and abs(x - y) <= rel * max(abs(x), abs(y), 1e-12)


def rows_match(path: Path, reference: Path, *, rel: float = 1e-5) -> bool:
    """:func:`rows` of ``path`` equal those of ``reference``, decimal cells up to ``rel`` (see :func:`_close`)."""
    mine, theirs = rows(path), rows(reference)
    return len(mine) == len(theirs) and all(
        len(a) == len(b) and all(_close(x, y, rel) for x, y in zip(a, b)) for a, b in zip(mine, theirs))


def sidecar(path: Path) -> dict:
    """The sidecar without ``info`` (the model's absolute path)."""
    document = json.loads(Path(str(path) + ".json").read_text())
    document.pop("info", None)
    return document


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    for name in RUNS:
        out = folder / f"{name}.tsv"
        for p in (out, Path(str(out) + ".json")):
            p.unlink(missing_ok=True)
        run(name, out)
        print(name, len(rows(out)) - 1, "rows")
