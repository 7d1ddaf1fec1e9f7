"""Property-based fuzzing of every ``gsmooth`` command: nothing lost, nothing misleading.

Each example builds an argv for one command (``certify``, ``predict`` on a dataset and on files,
``train``, ``surrogate train/eval/lipschitz``, ``attack``, ``analyze``, ``corrupt``, ``plugins``)
inside a fresh temporary folder (made with :mod:`tempfile` per example: pytest's function-scoped
fixtures are not reset between hypothesis examples; it is also the working directory, where the
embedded defaults write), runs ``gsmooth.cli.main(argv)`` in-process and checks **the property**:

- the call returns (an uncaught exception is a traceback a user would see: a failure);
- exit 0, and the output is well-formed (a results file :func:`gsmooth.io.results.read_results`
  reads, with one row per image of the command's selection; JSON lines, one per selected input; a
  checkpoint or surrogate that loads; a PNG; corrupted arrays that load), **or** exit 2 with one
  error line on stderr, ``gsmooth CMD: error: …`` (for ``surrogate``: ``gsmooth surrogate[ SUB]:
  error:``). Lines before it may only be gsmooth's own warnings (``gsmooth: warning: …``, one line
  each) or the ``resuming …`` note. **argparse's usage errors** (a bad number, a missing or
  unknown option) print argparse's usage block — ``usage: gsmooth CMD …`` and its indented
  continuation lines (argparse wraps a long usage) — and then exactly one ``gsmooth CMD: error:``
  line (``gsmooth: error: unrecognized arguments: …`` for words no sub-command knows: argparse
  reports those from the top-level parser), and exit through ``SystemExit(2)``: we count that as
  exit 2 with one error line (the usage block is argparse's standard reminder of the syntax, not a
  second error). ``Traceback`` never appears;
- every file that existed before the call (in the example's folder, the shared input files —
  checkpoints, surrogate, images, results —, and the embedded models) is byte-identical afterwards.
  The changes allowed are what the product promises: a results file gsmooth wrote for the same
  configuration may be *resumed*, i.e. rows appended (its old bytes are a prefix of the new ones),
  and gsmooth's own sidecar of a results file that was deleted (an orphan) may be replaced; the
  Fashion-MNIST files are read from a copy among the shared inputs (``GSMOOTH_FASHION_MNIST_DIR``),
  so a command writing into the folder it reads its dataset from is caught as well;
- no temporary file (``.*.tmp``, a writability probe) is left anywhere, and a run that exits 2
  leaves no new file (no header-only results, no half checkpoint, no stray sidecar).

Strategies. Every command has a table of options, each with *good* values (small, valid, or left
out) and *bad* ones: numbers at and past their bounds (``0``, ``-1``, ``nan``, ``inf``, ``-inf``,
``1.5``, ``1e3``, hex, empty, words) and, for options whose size does not scale the work
(``--seed``, ``--start``, ``--skip``, ``--batch``, ``--sigma``…), huge values (2**63, 2**64, 30
digits, 1e308); names with typos, newlines and blanks; paths of every odd kind (:class:`Workspace`):
an existing file of another kind, the command's own input as ``--out``, a results file whose
``.json`` sidecar name is taken by a user's JSON, a folder, a path in a missing folder, a place
even root cannot write (``/sys/…``, ``/proc/…``), an empty path, a dangling symbolic link, and
files of every supported extension with wrong contents (``.pt`` of random bytes, of JSON, of a
dict; ``.npy`` of the wrong shape/dtype, NaN, out of range, empty, pickled objects; ``.png``
truncated or of odd modes and sizes; a ``.tsv`` of the wrong kind; a surrogate file given as
``--model``, a checkpoint given as ``--surrogate``). An example first draws which (at most two)
options are *faulty*; the others get good values, so that successful runs are fuzzed as well and a
failure shrinks to the one option that matters. Options that scale the work (``--n``, ``--epochs``,
``--grid``, ``--max`` …) get only small good values and their invalid ones (a huge ``--n`` is a
long run, not a bug). ``--download`` is never drawn (no network in tests) and ``--no-progress``
always is (a progress bar is not an error line).

Sizes are tiny (``--n 10 --n0 5 --max 2``, a 1-epoch ``--max-train 50`` training): with the API
fuzzer, the ``ci`` profile adds ≈ 80 s to the suite on 2 CPU cores (``tests/conftest.py``); ``HYPOTHESIS_PROFILE=long`` runs
many more examples by hand. A falsifying example prints its argv (``note``) with the example's
folder shown as ``$TMP``, the shared inputs as ``$ASSETS`` and the embedded files as ``$EMBEDDED``;
an uncaught exception is reported as the traceback text the user would see. The module runs under
a memory limit (:func:`fuzz_support.bounded_memory`: an example that would take the machine's memory
fails with torch's allocation error instead), and ``GSMOOTH_FUZZ_TRACE=FILE`` appends every argv to
FILE before it runs (to find an example that hangs).

Failures found in modules other sessions own were kept as strict xfails at the end of the file
(``test_known_*``, with the minimal argv; the strategies left their values out, ``without``)
until their owners fixed them; they are regression tests now (``test_found_*``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import event, given, note, settings
from hypothesis import strategies as st
from PIL import Image

import gsmooth.embedded
from fuzz_support import bounded_memory, fuzz_examples
from gsmooth.io.checkpoints import load_checkpoint, save_checkpoint
from gsmooth.cli import main
from gsmooth.data.datasets import dataset_info
from gsmooth.models.architectures import build_model
from gsmooth.io.results import read_results

EMBEDDED = Path(gsmooth.embedded.__file__).resolve().parent
FM_TEST_SIZE = 10_000  # Fashion-MNIST test split
SAMPLE_SIZE = gsmooth.embedded.SAMPLE_SIZE

# ------------------------------------------------------------------------------------------------
# values
# ------------------------------------------------------------------------------------------------

HUGE_INTS = ["9223372036854775807", "9223372036854775808", "18446744073709551616", "9" * 30]
BAD_INTS = ["0", "-1", "nan", "inf", "-inf", "1.5", "1e3", "0x10", "", " ", "abc", "1,2", "-0"]
BAD_POS_FLOATS = ["0", "-1", "nan", "inf", "-inf", "-0", "", "abc", "1e-400", "0x1p3", "1/2"]
HUGE_FLOATS = ["1e308", "1.7976931348623157e308", "1e30", "1e-300", "5e-324"]
BAD_PROBABILITIES = ["0", "1", "-0.5", "1.5", "nan", "inf", "", "abc", "5e-324", "1e-400"]
ODD_NAMES = ["", " ", "gausian", "GAUSSIAN", "gaussian\nx", "a\tb", "../gaussian", "gaussian ", "é", "none"]
RANGE_BAD = ["", "nan:1", "1:0", "-inf:inf", "0:1:2", "a:b", "0:1,0:1,0:1", "0:1,", ",", ":", "1e308:1e309",
             "-100:100", "0:0", "-0.2:0.2,-0.2:0.2"]
DEVICE_BAD = ["meta", "cuda", "cuda:7", "nonsense", "", "cpu:1", "mps", "xpu", "cuda:-1", "-1", "CPU", "cpu "]


#: Values that hit a known failure left to another module's owner (a strict xfail test_known_* at
#: the end of the file) are left out of the strategies concerned, with ``without``, until it is
#: fixed (the failures fixed since are the test_found_* regression tests).
KNOWN_FAILURES: dict[str, set] = {}


def without(values: tuple[list, list], known: set) -> tuple[list, list]:
    """(good, bad) with the known failures left out of bad."""
    good, bad = values
    return good, [v for v in bad if v not in known]


def ints(good: list, *, huge: bool) -> tuple[list, list]:
    return good, BAD_INTS + (HUGE_INTS if huge else [])


def floats(good: list, *, huge: bool) -> tuple[list, list]:
    return good, BAD_POS_FLOATS + (HUGE_FLOATS if huge else [])


def transforms_bad() -> list[str]:
    return ODD_NAMES + ["rotation", "translation", "contrast", "gaussian_blur", "quantized_additive", "pixelate"]


# ------------------------------------------------------------------------------------------------
# the shared inputs (built once) and the per-example folder
# ------------------------------------------------------------------------------------------------


@dataclass
class Assets:
    root: Path
    model: Path  # a small_cnn Fashion-MNIST checkpoint, random weights, gaussian sigma 0.25
    surrogate: Path  # a tiny rotational_blur surrogate (width 4)
    certify_tsv: Path  # a results file `gsmooth certify --model model --max 2` wrote (+ sidecar)
    predict_tsv: Path  # a results file `gsmooth predict --model model --max 2` wrote (+ sidecar)
    images: Path  # a folder: a.png (gray), b.jpg (RGB), notes.txt
    npy: Path  # (3, 28, 28) uint8
    pt: Path  # (2, 1, 28, 28) float in [0, 1]
    corrupt_dir: Path  # a folder `gsmooth corrupt --corruptions gaussian_noise --max 2` wrote
    fashion_dir: Path  # a copy of the Fashion-MNIST files, read through $GSMOOTH_FASHION_MNIST_DIR (an input)
    pristine: Path  # copies of root and of the embedded folder: a damaged input is restored after its example

    def restore(self) -> None:
        """Put the shared inputs back as they were (an example that damaged one has failed; the next
        examples, e.g. while shrinking, must see the real inputs again)."""
        for source, target in ((self.pristine / "assets", self.root), (self.pristine / "embedded", EMBEDDED)):
            for dirpath, dirs, files in os.walk(target, topdown=False):
                for name in files:
                    p = Path(dirpath) / name
                    if not (source / p.relative_to(target)).exists():
                        p.unlink()
                for name in dirs:
                    p = Path(dirpath) / name
                    if not (source / p.relative_to(target)).exists():
                        shutil.rmtree(p, ignore_errors=True)
            shutil.copytree(source, target, dirs_exist_ok=True)


SMALL_CERTIFY = ["--n", "10", "--n0", "5", "--max", "2", "--batch", "20", "--no-progress"]


def _quiet_main(argv) -> int:
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
        return main([str(a) for a in argv])


@pytest.fixture(scope="module", autouse=True)
def _bounded_memory():
    """An example that would take all the machine's memory fails instead (see fuzz_support)."""
    with bounded_memory():
        yield


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-assets")
    # the dataset is an input like any other: a copy among the assets, so that a command writing
    # into the folder it reads the dataset from is seen (and the system's copy is never at risk)
    from gsmooth.data.datasets import DEBIAN_FASHION_MNIST_DIR

    fashion_dir = root / "fashion-mnist"
    shutil.copytree(os.environ.get("GSMOOTH_FASHION_MNIST_DIR") or DEBIAN_FASHION_MNIST_DIR, fashion_dir)
    saved = os.environ.get("GSMOOTH_FASHION_MNIST_DIR")
    os.environ["GSMOOTH_FASHION_MNIST_DIR"] = str(fashion_dir)
    try:
        yield _build_assets(root, fashion_dir, tmp_path_factory)
    finally:
        if saved is None:
            os.environ.pop("GSMOOTH_FASHION_MNIST_DIR", None)
        else:
            os.environ["GSMOOTH_FASHION_MNIST_DIR"] = saved


def _build_assets(root: Path, fashion_dir: Path, tmp_path_factory) -> Assets:
    info = dataset_info("fashion-mnist")
    torch.manual_seed(0)
    model = build_model("small_cnn", num_classes=10, input_shape=info.input_shape, mean=info.mean, std=info.std)
    ckpt = root / "fm.pt"
    save_checkpoint(
        ckpt, model=model, arch="small_cnn", dataset="fashion-mnist", num_classes=10, input_shape=info.input_shape,
        mean=info.mean, std=info.std, epoch=1,
        smoothing={"noise": "gaussian", "noise_params": {"sigma": 0.25}, "transform": "additive", "transform_params": {}},
    )
    sur = root / "rb_surrogate.pt"
    assert _quiet_main([
        "surrogate", "train", "--transform", "rotational_blur", "--dataset", "fashion-mnist", "--epochs", "1",
        "--max-train", "20", "--max-eval", "4", "--batch", "10", "--width", "4", "--encoder-width", "4", "--bins", "1",
        "--no-progress", "--out", sur,
    ]) == 0
    cert = root / "certify.tsv"
    assert _quiet_main(["certify", "--model", ckpt, *SMALL_CERTIFY, "--out", cert]) == 0
    pred = root / "predict.tsv"
    assert _quiet_main(["predict", "--model", ckpt, "--n", "10", "--max", "2", "--no-progress", "--out", pred]) == 0
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(images / "a.png")
    Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).save(images / "b.jpg", quality=90)
    (images / "notes.txt").write_text("not an image")
    npy = root / "x.npy"
    np.save(npy, rng.integers(0, 256, (3, 28, 28), dtype=np.uint8))
    pt = root / "x.pt"
    torch.save(torch.rand(2, 1, 28, 28), pt)
    corrupt_dir = root / "fm_c"
    assert _quiet_main([
        "corrupt", "--dataset", "fashion-mnist", "--max", "2", "--corruptions", "gaussian_noise", "--no-progress",
        "--out", corrupt_dir,
    ]) == 0
    pristine = tmp_path_factory.mktemp("fuzz-pristine")
    shutil.copytree(root, pristine / "assets")
    shutil.copytree(EMBEDDED, pristine / "embedded", ignore=shutil.ignore_patterns("__pycache__"))
    return Assets(root, ckpt, sur, cert, pred, images, npy, pt, corrupt_dir, fashion_dir, pristine)


_HASHES: dict = {}


def _hash(path: Path) -> str:
    """sha256 of a file, cached by (path, size, mtime, inode): the shared inputs (30 MB of dataset)
    are not re-read for every example, and any write changes the key."""
    st_ = path.stat()
    key = (str(path), st_.st_size, st_.st_mtime_ns, st_.st_ino, st_.st_ctime_ns)
    if key not in _HASHES:
        _HASHES[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _HASHES[key]


def snapshot(*roots: Path) -> dict[Path, str]:
    """sha256 of every file under ``roots`` (hidden ones included; links not followed)."""
    out = {}
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                p = Path(dirpath) / name
                if p.is_file() and not p.is_symlink():
                    out[p] = _hash(p)
    return out


def all_names(*roots: Path) -> set[Path]:
    out = set()
    for root in roots:
        for dirpath, dirs, files in os.walk(root):
            out.update(Path(dirpath) / n for n in (*dirs, *files))
    return out


@dataclass
class Workspace:
    """The example's temporary folder and the odd files an example asks for (realised on demand
    from symbolic kinds, so that a falsifying example reads as ``--out folder``)."""

    root: Path
    assets: Assets
    draw: object
    counter: int = 0
    resumable: dict = field(default_factory=dict)  # results files gsmooth wrote -> size (may be appended)
    orphans: set = field(default_factory=set)  # sidecars gsmooth wrote whose TSV is gone (may be replaced)

    def _name(self, ext: str) -> Path:
        self.counter += 1
        return self.root / f"f{self.counter}{ext}"

    # -- outputs -----------------------------------------------------------------------------
    def out(self, kind: str, ext: str, *, model: str | None = None, input_path: str | None = None) -> str:
        """An output path of ``kind``."""
        if kind == "new":
            return str(self._name(ext))
        if kind == "new_relative":
            self.counter += 1
            return f"r{self.counter}{ext}"  # relative to the working directory (the example's folder)
        if kind == "missing_dir":
            return str(self.root / "no" / "such" / f"x{ext}")
        if kind in ("folder", "folder_slash"):
            d = self._name("")
            d.mkdir()
            return str(d) + (os.sep if kind == "folder_slash" else "")
        if kind == "file_as_dir":
            f = self._name(".txt")
            f.write_text("a user's file")
            return str(f / f"x{ext}")
        if kind == "foreign":
            f = self._name(ext)
            f.write_bytes(self.draw(st.binary(min_size=0, max_size=40), label="foreign bytes"))
            return str(f)
        if kind == "sidecar_taken":
            f = self._name(ext)
            Path(str(f) + ".json").write_text(json.dumps({"mine": [1, 2, 3]}))
            return str(f)
        if kind == "sidecar_folder":
            f = self._name(ext)
            Path(str(f) + ".json").mkdir()
            return str(f)
        if kind == "sys":
            return f"/sys/gsmooth-fuzz{ext}"
        if kind == "proc":
            return f"/proc/gsmooth-fuzz{ext}"
        if kind == "empty":
            return ""
        if kind == "tilde_unknown_user":
            return f"~gsmooth-no-such-user/x{ext}"
        if kind == "dangling_link":
            f = self._name(ext)
            os.symlink(self.root / "nowhere" / "target", f)
            return str(f)
        if kind == "link_to_model":
            f = self._name(ext)
            os.symlink(self.assets.model, f)
            return str(f)
        if kind == "model":
            return model if model else str(self.assets.model)
        if kind == "input":
            return input_path if input_path else str(self.assets.images)
        if kind in ("certify_results", "predict_results"):
            src = self.assets.certify_tsv if kind == "certify_results" else self.assets.predict_tsv
            f = self._name(".tsv")
            shutil.copy(src, f)
            shutil.copy(str(src) + ".json", str(f) + ".json")
            self.resumable[f] = f.stat().st_size
            return str(f)
        if kind == "sidecar_only":  # an orphan sidecar gsmooth wrote (its TSV deleted)
            f = self._name(".tsv")
            shutil.copy(str(self.assets.certify_tsv) + ".json", str(f) + ".json")
            self.orphans.add(Path(str(f) + ".json"))
            return str(f)
        if kind == "checkpoint_copy":
            f = self._name(".pt")
            shutil.copy(self.assets.model, f)
            return str(f)
        if kind == "surrogate_copy":
            f = self._name(".pt")
            shutil.copy(self.assets.surrogate, f)
            return str(f)
        if kind == "corrupt_copy":
            d = self._name("")
            shutil.copytree(self.assets.corrupt_dir, d)
            return str(d)
        raise AssertionError(kind)

    # -- inputs ------------------------------------------------------------------------------
    def file(self, kind: str) -> str:
        """An input file of ``kind`` (good ones are the shared assets; bad ones are made here)."""
        a = self.assets
        good = {
            "model": a.model, "surrogate": a.surrogate, "images": a.images, "npy": a.npy, "pt": a.pt,
            "png": a.images / "a.png", "jpg": a.images / "b.jpg", "certify_tsv": a.certify_tsv,
            "predict_tsv": a.predict_tsv, "embedded_surrogate": EMBEDDED / "rotational_blur_surrogate.pt",
            "embedded_model": EMBEDDED / "additive.pt", "sample": EMBEDDED / gsmooth.embedded.SAMPLE_FILE,
        }
        if kind in good:
            return str(good[kind])
        if kind == "missing":
            return str(self.root / "missing.pt")
        if kind == "folder":
            d = self._name("")
            d.mkdir()
            return str(d)
        if kind == "empty_folder_images":
            d = self._name("")
            d.mkdir()
            (d / "readme.txt").write_text("no images here")
            return str(d)
        if kind == "empty":
            return ""
        if kind == "tilde_unknown_user":
            return "~gsmooth-no-such-user/x.pt"
        if kind == "dangling_link":
            f = self._name(".pt")
            os.symlink(self.root / "nowhere.pt", f)
            return str(f)
        ext = self.draw(st.sampled_from([".pt", ".pth", ".npy", ".png", ".jpg", ".jpeg", ".tsv", ".json", ".txt"]),
                        label=f"{kind} extension")
        f = self._name(ext)
        if kind == "random_bytes":
            f.write_bytes(self.draw(st.binary(min_size=0, max_size=200), label="bytes"))
        elif kind == "empty_file":
            f.write_bytes(b"")
        elif kind == "json":
            f.write_text(json.dumps(self.draw(st.one_of(
                st.dictionaries(st.text(max_size=5), st.integers(), max_size=3), st.lists(st.integers(), max_size=3),
                st.just({"format": "gsmooth-checkpoint", "version": 1}),
            ), label="json")))
        elif kind == "pt_dict":
            fmt = self.draw(st.sampled_from(["x", "gsmooth-checkpoint", "gsmooth-surrogate"]), label="format")
            torch.save({"weight": torch.zeros(3), "format": fmt, "version": 1}, f)
        elif kind == "pt_tensor":
            torch.save(self._array(as_tensor=True), f)
        elif kind == "npy_array":
            np.save(f, self._array(as_tensor=False), allow_pickle=True)
            if f.suffix != ".npy":
                os.replace(str(f) + ".npy", f)
        elif kind == "png_truncated":
            buf = (a.images / "a.png").read_bytes()
            f.write_bytes(buf[: self.draw(st.integers(0, len(buf) - 1), label="cut at")])
        elif kind == "png_odd":
            mode, shape = self.draw(st.sampled_from([
                ("L", (28, 28)), ("RGB", (5, 3, 3)), ("RGBA", (28, 28, 4)), ("I;16", (28, 28)), ("1", (28, 28)),
                ("L", (1, 1)), ("L", (28, 29)), ("P", (28, 28)), ("LA", (28, 28)),
            ]), label="png mode")
            arr = np.random.default_rng(1).integers(0, 255, shape, dtype=np.uint16 if mode == "I;16" else np.uint8)
            img = Image.fromarray(arr)
            if mode in ("1", "P", "LA"):
                img = img.convert(mode)
            img.save(f, format="PNG")
        elif kind == "tsv_wrong":
            f.write_text(self.draw(st.sampled_from([
                "a\tb\n1\t2\n",
                "idx\tlabel\tpredict\tradius\tcorrect\ttime\n0\t1\t1\tnan\t1\t0.1\n",
                "idx\tlabel\tpredict\tradius\tcorrect\ttime\n0\t1\t1\t-1\t1\t0.1\n",
                "idx\tlabel\tpredict\tcorrect\ttime\n0\t1\tx\t1\t0.1\n",
                "idx\tlabel\tpredict\tradius\tcorrect\ttime\n",
                "",
                "idx label predict radius correct time\n0 1 1 0.5 1 0:00:01\n",
                "idx\tlabel\tpredict\tradius\tcorrect\ttime\n0\t1\t1\t0.5\t1\t0.1\n0\t1\t1\t0.5\t1\t0.1\n",
                "idx\tlabel\tpredict\tradius\tcorrect\ttime\n0\t1\t1\tinf\t1\t0.1\n",
                "\x00\x01\x02",
            ]), label="tsv"))
        elif kind == "text":
            f.write_text(self.draw(st.text(max_size=30), label="text"))
        else:
            raise AssertionError(kind)
        return str(f)

    def _array(self, *, as_tensor: bool):
        shape = self.draw(st.sampled_from([
            (28, 28), (1, 28, 28), (2, 28, 28), (2, 1, 28, 28), (2, 28, 28, 3), (2, 3, 28, 28), (0, 28, 28),
            (28,), (), (2, 2, 28, 28), (1, 28, 27), (2, 1, 1, 28, 28), (4, 5, 6), (2, 28, 28, 2),
        ]), label="array shape")
        dtype = self.draw(st.sampled_from(
            ["uint8", "float32", "float64", "float16", "int64", "bool", "complex64", "object", "int8"]), label="dtype")
        fill = self.draw(st.sampled_from(["ok", "nan", "big", "neg"]), label="values")
        if dtype == "object":
            if as_tensor:
                return {"not": "a tensor"}
            arr = np.empty(shape, dtype=object)
            arr[...] = "x"
            return arr
        arr = np.asarray(np.random.default_rng(2).random(shape))
        if fill == "nan" and arr.size:
            arr.flat[0] = np.nan
        elif fill == "big":
            arr = arr * 300
        elif fill == "neg":
            arr = arr - 1
        if dtype in ("uint8", "int64", "int8"):
            arr = np.nan_to_num(arr * (255 if fill == "ok" else 1)).astype(dtype)
        elif dtype == "bool":
            arr = arr > 0.5
        else:
            arr = arr.astype(dtype)
        return torch.from_numpy(np.ascontiguousarray(arr)) if as_tensor else arr


# ------------------------------------------------------------------------------------------------
# running one example and checking the property
# ------------------------------------------------------------------------------------------------

ERROR_LINE = re.compile(r"^gsmooth [a-z]+( [a-z]+)?: error: \S")
#: argparse reports arguments no sub-parser knows at the top level: ``gsmooth: error: unrecognized arguments``
ARGPARSE_TOP_ERROR = re.compile(r"^gsmooth: error: \S")
ALLOWED_BEFORE_ERROR = (re.compile(r"^gsmooth: warning: "), re.compile(r"^gsmooth: [A-Za-z]*Warning: "),
                        re.compile(r"^resuming "))


@dataclass
class Outcome:
    rc: int
    out: str
    err: str


def _shown(argv, ws: Workspace) -> list[str]:
    return [a.replace(str(ws.root), "$TMP").replace(str(ws.assets.root), "$ASSETS").replace(str(EMBEDDED), "$EMBEDDED")
            for a in argv]


@contextlib.contextmanager
def workspace(assets: Assets, draw):
    base = assets.root.parent / "fuzz-examples"
    base.mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(dir=base))
    try:
        yield Workspace(root, assets, draw)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def check_error_output(err: str, command: str) -> None:
    """Exit 2: one error line ``gsmooth COMMAND[ SUB]: error: …`` (after argparse's usage block, or
    after gsmooth's own one-line warnings)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "exit 2 without an error message"
    if lines[0].startswith("usage: "):  # argparse: its usage block, then one error line
        i = 1
        while i < len(lines) and lines[i].startswith(" "):
            i += 1
        rest = lines[i:]
        assert len(rest) == 1, err
        assert (ERROR_LINE.match(rest[0]) and rest[0].startswith(f"gsmooth {command}")) or ARGPARSE_TOP_ERROR.match(rest[0]), err
        return
    *first, last = lines
    assert ERROR_LINE.match(last) and last.startswith(f"gsmooth {command}"), err
    for line in first:
        assert any(p.match(line) for p in ALLOWED_BEFORE_ERROR), f"unexpected stderr line {line!r} in {err!r}"


def run_checked(ws: Workspace, argv: list, capsys, *, command: str) -> Outcome:
    """Run ``gsmooth argv`` in ``ws.root`` and check the property (see the module docstring)."""
    argv = [str(a) for a in argv]
    shown = " ".join(repr(a) if (not a or " " in a or "\n" in a or "\t" in a) else a for a in _shown(argv, ws))
    note(f"argv: gsmooth {shown}")
    trace = os.environ.get("GSMOOTH_FUZZ_TRACE")  # a file: every argv before it runs (to find a hang)
    if trace:
        with open(trace, "a") as f:
            f.write(f"gsmooth {shown}\n")
    roots = (ws.root, ws.assets.root, EMBEDDED)
    before = snapshot(*roots)
    names_before = all_names(ws.root, ws.assets.root)
    capsys.readouterr()
    cwd = os.getcwd()
    os.chdir(ws.root)
    crash = None
    try:
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse
            rc = exc.code
        except Exception as exc:  # noqa: BLE001 - the user would see this traceback
            # keep the text, drop the frames: a stored traceback would hold the example's datasets
            # and models alive while hypothesis shrinks (gigabytes over hundreds of examples)
            crash = "".join(traceback.format_exception(exc))
            del exc
    finally:
        os.chdir(cwd)
    out, err = capsys.readouterr()
    if crash is not None:
        pytest.fail(f"uncaught exception (a traceback for the user):\n{crash}", pytrace=False)
    note(f"rc={rc}\nstderr: {err!r}")
    event(f"exit {rc}")  # pytest --hypothesis-show-statistics: how many examples succeed
    assert "Traceback" not in err and "Traceback" not in out
    assert rc in (0, 2), f"exit {rc}: {err}"
    if rc == 2:
        check_error_output(err, command)
    after = snapshot(*roots)
    names_after = all_names(ws.root, ws.assets.root)
    damaged = [p for p in before if after.get(p) != before[p] and p not in ws.resumable and p not in ws.orphans]
    damaged += [p for p in names_after - names_before if ws.assets.root in p.parents]
    if any(ws.assets.root in p.parents or EMBEDDED in p.parents for p in damaged):
        ws.assets.restore()
    for path, digest in before.items():
        assert path in after, f"{path} was deleted (exit {rc})"
        if after[path] != digest:
            if path in ws.resumable and rc == 0:  # a resumed results file: old rows kept, new ones appended
                assert hashlib.sha256(path.read_bytes()[: ws.resumable[path]]).hexdigest() == digest, \
                    f"{path} changed, not only appended"
            elif path in ws.orphans and rc == 0:  # gsmooth's own sidecar of a deleted results file
                pass
            else:
                pytest.fail(f"{path} changed (exit {rc})")
    inside_inputs = [str(p) for p in names_after - names_before if ws.assets.root in p.parents]
    assert not inside_inputs, f"files written among the shared inputs: {inside_inputs}"
    stray = [str(p) for p in names_after if p.name.endswith(".tmp") or p.name.startswith(".gsmooth-probe")]
    assert not stray, f"temporary files left: {stray}"
    if rc == 2:
        new = sorted(str(p) for p in names_after - names_before)
        assert not new, f"a failed run left new files: {new}"
    return Outcome(rc, out, err)


# ------------------------------------------------------------------------------------------------
# drawing argv: a table of options, at most two of them faulty
# ------------------------------------------------------------------------------------------------


class Draw:
    """Draws one command's options: ``faults`` (at most ``max_faults`` option names) get a bad
    value, the others a good one (``None`` = option left out, ``True`` = a flag given)."""

    def __init__(self, draw, names, *, max_faults: int = 2):
        self.draw = draw
        self.faults = draw(st.sets(st.sampled_from(sorted(names)), max_size=max_faults), label="faulty options")

    def value(self, flag: str, good: list, bad: list):
        if flag in self.faults and bad:
            return self.draw(st.sampled_from(bad), label=flag)
        return self.draw(st.sampled_from(good), label=flag)

    def add(self, argv: list, flag: str, good: list, bad: list) -> None:
        v = self.value(flag, good, bad)
        if v is True:
            argv.append(flag)
        elif v is not None and v is not False:
            argv += [flag, v]


OUT_BAD_KINDS = [
    "missing_dir", "folder", "folder_slash", "file_as_dir", "foreign", "sidecar_taken", "sidecar_folder", "sys",
    "proc", "empty", "dangling_link", "link_to_model", "model", "checkpoint_copy", "surrogate_copy",
    "tilde_unknown_user",
]
MODEL_BAD_KINDS = ["missing", "folder", "empty", "random_bytes", "empty_file", "json", "pt_dict", "pt_tensor",
                   "text", "surrogate", "certify_tsv", "png", "npy", "dangling_link", "embedded_surrogate", "sample",
                   "tilde_unknown_user"]
SURROGATE_BAD_KINDS = ["missing", "folder", "empty", "random_bytes", "empty_file", "json", "pt_dict", "pt_tensor",
                       "model", "embedded_model", "png", "sample", "tilde_unknown_user"]


def flags_of(argv: list) -> dict:
    return {a: b for a, b in zip(argv, argv[1:]) if a.startswith("--")}


def _certify_like(d: Draw, ws: Workspace, argv: list, *, command: str) -> dict:
    """The options certify and predict (dataset mode) share; returns what the checks need."""
    model_kind = d.value("--model", ["model", "embedded"], MODEL_BAD_KINDS)
    model = None
    if model_kind != "embedded":
        model = ws.file(model_kind)
        argv += ["--model", model]
    d.add(argv, "--dataset", [None, "fashion-mnist"] if model is not None else [None],
          ["mnist", "cifar10", "fashion-mnist-sample", "fashion_mnist", "cifar", "", "fashion-mnist\n"])
    d.add(argv, "--split", [None, "test"], ["train", "validation", ""])
    d.add(argv, "--data-dir", [None], [ws.file("folder"), ws.file("missing"), ws.file("png"), ""])
    d.add(argv, "--device", [None, "cpu"], DEVICE_BAD)
    d.add(argv, "--noise", [None, "gaussian"], ODD_NAMES + ["laplace", "uniform", "exponential", "folded_gaussian"])
    d.add(argv, "--sigma", *floats([None, "0.25", "0.5"], huge=True))
    d.add(argv, "--transform", [None, "additive"] + (["brightness"] if command == "certify" else []),
          transforms_bad() + ["brightness", "rotational_blur"])
    sur_kind = d.value("--surrogate", [None], ["surrogate"] + SURROGATE_BAD_KINDS)
    if sur_kind is not None:
        argv += ["--surrogate", ws.file(sur_kind)]
    d.add(argv, "--latent-sigma", *floats([None], huge=True))
    if command == "certify":
        d.add(argv, "--n0", *ints(["5"], huge=False))
    d.add(argv, "--n", *ints(["10", "20"], huge=False))
    d.add(argv, "--alpha", [None, "0.001", "0.1"], BAD_PROBABILITIES)
    d.add(argv, "--batch", *ints([None, "20", "7", "1"], huge=True))
    d.add(argv, "--seed", *ints([None, "0", "3"], huge=True))
    d.add(argv, "--skip", *ints([None, "1", "3"], huge=True))
    d.add(argv, "--start", *ints([None, "0", "5"], huge=True))
    d.add(argv, "--max", ["1", "2"], BAD_INTS)
    if command == "certify":
        interval = flags_of(argv).get("--transform") == "brightness"  # a transform with a parameter
        d.add(argv, "--range", [None, "default", "-0.1:0.1"] if interval else [None], RANGE_BAD + ["default"])
        d.add(argv, "--slices", *ints([None, "2"], huge=False))
        d.add(argv, "--require-sound", [None], [True])
    argv.append("--no-progress")
    return {"model": model, "embedded": model is None}


def _results_out(d: Draw, ws: Workspace, argv: list, *, model, default_ok: bool) -> str | None:
    kind = d.value("--out", ["new", "new_relative"] + (["default"] if default_ok else []),
                   OUT_BAD_KINDS + ["certify_results", "predict_results", "sidecar_only", "default"])
    if kind == "default":
        return None
    out = ws.out(kind, ".tsv", model=model)
    argv += ["--out", out]
    return out


def check_results(ws: Workspace, path: str, argv: list, *, size: int, radius: bool) -> None:
    """A results file holding a row for every image of the selection (--start/--skip/--max)."""
    p = Path(path)
    if not p.is_absolute():
        p = ws.root / p
    t = read_results(p)
    flags = flags_of(argv)
    start, skip, count = int(flags.get("--start", 0)), int(flags.get("--skip", 1)), int(flags["--max"])
    want = list(range(start, size, skip))[:count]
    got = [int(i) for i in t.idx]
    assert set(want) <= set(got), (want, got)
    assert len(got) == len(set(got)), f"duplicate rows {got}"
    assert t.has_radius == radius


@pytest.mark.parametrize("command", ["certify", "predict"])
@settings(max_examples=fuzz_examples(2.0))
@given(data=st.data())
def test_fuzz_certify_and_predict_on_a_dataset(assets, capsys, data, command):
    names = ["--model", "--dataset", "--split", "--data-dir", "--device", "--noise", "--sigma", "--transform",
             "--surrogate", "--latent-sigma", "--n", "--alpha", "--batch", "--seed", "--skip", "--start", "--max",
             "--out"] + (["--n0", "--range", "--slices", "--require-sound"] if command == "certify" else [])
    with workspace(assets, data.draw) as ws:
        d = Draw(data.draw, names)
        argv = [command]
        info = _certify_like(d, ws, argv, command=command)
        out = _results_out(d, ws, argv, model=info["model"], default_ok=command == "certify")
        r = run_checked(ws, argv, capsys, command=command)
        if r.rc == 0:
            flags = flags_of(argv)
            if out is None:
                out = f"gsmooth-{command}-{flags.get('--transform', 'additive')}.tsv"
            embedded = info["embedded"] or flags.get("--dataset") == "fashion-mnist-sample"
            check_results(ws, out, argv, size=SAMPLE_SIZE if embedded else FM_TEST_SIZE, radius=command == "certify")


INPUT_GOOD = ["images", "png", "jpg", "npy", "pt"]
INPUT_BAD = ["missing", "folder", "empty_folder_images", "empty", "random_bytes", "empty_file", "json", "pt_dict",
             "pt_tensor", "npy_array", "png_truncated", "png_odd", "tsv_wrong", "text", "model", "surrogate",
             "dangling_link", "certify_tsv", "tilde_unknown_user"]


@settings(max_examples=fuzz_examples(2.0))
@given(data=st.data())
def test_fuzz_predict_files(assets, capsys, data):
    names = ["--model", "--input", "--certify", "--n0", "--resize", "--out", "--dataset", "--device", "--noise",
             "--sigma", "--transform", "--n", "--alpha", "--batch", "--seed", "--skip", "--start", "--max",
             "--surrogate"]
    with workspace(assets, data.draw) as ws:
        d = Draw(data.draw, names)
        argv = ["predict"]
        model_kind = d.value("--model", ["model", "embedded"], MODEL_BAD_KINDS)
        model = None
        if model_kind != "embedded":
            model = ws.file(model_kind)
            argv += ["--model", model]
        inp = ws.file(d.value("--input", INPUT_GOOD, INPUT_BAD))
        argv += ["--input", inp]
        certify = d.value("--certify", [False, True], [])
        if certify:
            argv.append("--certify")
        d.add(argv, "--n0", [None, "5"] if certify else [None], BAD_INTS + ([] if certify else ["5"]))
        d.add(argv, "--resize", [None, True], [])
        d.add(argv, "--dataset", [None], ["fashion-mnist", ""])
        d.add(argv, "--device", [None, "cpu"], DEVICE_BAD)
        d.add(argv, "--noise", [None], ODD_NAMES + ["laplace"])
        d.add(argv, "--sigma", *floats([None, "0.25"], huge=True))
        d.add(argv, "--transform", [None], transforms_bad() + ["brightness", "rotational_blur"])
        sur_kind = d.value("--surrogate", [None], ["surrogate"] + SURROGATE_BAD_KINDS)
        if sur_kind is not None:
            argv += ["--surrogate", ws.file(sur_kind)]
        d.add(argv, "--n", *ints(["10", "20"], huge=False))
        d.add(argv, "--alpha", [None, "0.1"], BAD_PROBABILITIES)
        d.add(argv, "--batch", *ints([None, "16", "1"], huge=True))
        d.add(argv, "--seed", *ints([None, "1"], huge=True))
        d.add(argv, "--skip", *ints([None, "2"], huge=True))
        d.add(argv, "--start", *ints([None, "1"], huge=True))
        d.add(argv, "--max", *ints([None, "1", "2"], huge=True))
        out_kind = d.value("--out", ["stdout", "dash", "new"], OUT_BAD_KINDS + ["input", "certify_results"])
        out = None
        if out_kind == "dash":
            argv += ["--out", "-"]
        elif out_kind != "stdout":
            out = ws.out(out_kind, ".jsonl", model=model, input_path=inp)
            argv += ["--out", out]
        argv.append("--no-progress")
        r = run_checked(ws, argv, capsys, command="predict")
        if r.rc == 0:
            text = r.out if out is None else Path(out).read_text()
            lines = [json.loads(line) for line in text.splitlines() if line.strip()]
            assert lines, "exit 0 without a JSON line"
            for line in lines:
                assert {"file", "class", "abstained", "n"} <= set(line)
                assert ("radius" in line) == bool(certify)


@settings(max_examples=fuzz_examples(1.0))
@given(data=st.data())
def test_fuzz_train(assets, capsys, data):
    names = ["--dataset", "--arch", "--noise", "--sigma", "--transform", "--surrogate", "--latent-sigma", "--no-noise",
             "--augment", "--epochs", "--batch", "--lr", "--optimizer", "--schedule", "--weight-decay", "--seed",
             "--max-train", "--max-eval", "--data-dir", "--device", "--resume", "--out"]
    with workspace(assets, data.draw) as ws:
        d = Draw(data.draw, names)
        argv = ["train"]
        d.add(argv, "--dataset", ["fashion-mnist"], ["mnist", "cifar10", "", "fashion-mnist-sample", "imagenet"])
        d.add(argv, "--arch", [None, "small_cnn"], ["resnet21", "resnet2", "tv:nonexistent", "tv:", "", "small cnn",
                                                    "resnet-4", "resnet8000000000000000000000", "resnet" + "9" * 5000])
        d.add(argv, "--noise", [None, "gaussian", "laplace"], ODD_NAMES + ["exponential"])
        d.add(argv, "--sigma", *floats([None, "0.25"], huge=True))
        d.add(argv, "--transform", [None, "additive"], transforms_bad() + ["brightness", "rotational_blur"])
        sur_kind = d.value("--surrogate", [None], ["surrogate"] + SURROGATE_BAD_KINDS)
        if sur_kind is not None:
            argv += ["--surrogate", ws.file(sur_kind)]
        d.add(argv, "--latent-sigma", *floats([None], huge=True))
        d.add(argv, "--no-noise", [None], [True])
        d.add(argv, "--augment", [None, "none"], ["augmix", "bogus"])
        d.add(argv, "--epochs", *ints(["1"], huge=False))
        d.add(argv, "--batch", *ints(["25", "50"], huge=True))
        d.add(argv, "--lr", *floats([None, "0.01"], huge=True))
        d.add(argv, "--optimizer", [None, "adam", "sgd"], ["SGD", "rmsprop", ""])
        d.add(argv, "--schedule", [None, "step", "constant"], ["linear", ""])
        d.add(argv, "--weight-decay", [None, "0", "1e-4"], ["-1", "nan", "inf", "-inf", "abc", "", "1e38", "1e308"])
        d.add(argv, "--seed", *ints([None, "1"], huge=True))
        d.add(argv, "--max-train", ["50"], BAD_INTS)
        d.add(argv, "--max-eval", ["10"], BAD_INTS)
        d.add(argv, "--data-dir", [None], [ws.file("folder"), ws.file("missing"), ws.file("png"), ""])
        d.add(argv, "--device", [None, "cpu"], DEVICE_BAD)
        d.add(argv, "--resume", [None], [True])
        out = ws.out(d.value("--out", ["new", "new_relative"], OUT_BAD_KINDS + ["predict_results"]), ".pt")
        argv += ["--out", out, "--no-progress"]
        r = run_checked(ws, argv, capsys, command="train")
        if r.rc == 0:
            c = load_checkpoint(Path(out) if Path(out).is_absolute() else ws.root / out)
            assert c.epoch == 1 and c.dataset == "fashion-mnist"


@settings(max_examples=fuzz_examples(1.0))
@given(data=st.data())
def test_fuzz_surrogate_train(assets, capsys, data):
    names = ["--transform", "--transform-param", "--dataset", "--range", "--epochs", "--batch", "--lr", "--max-train",
             "--max-eval", "--bins", "--width", "--encoder-width", "--latent-sigma", "--path-weight", "--time-limit",
             "--seed", "--device", "--data-dir", "--out"]
    with workspace(assets, data.draw) as ws:
        d = Draw(data.draw, names)
        argv = ["surrogate", "train"]
        d.add(argv, "--transform", ["rotational_blur", "brightness"], transforms_bad() + ["additive", "contrast"])
        d.add(argv, "--transform-param", [None, "num_samples=4"],
              ["num_samples=0", "num_samples=-1", "num_samples=abc", "bogus=1", "=1", "noequals", "num_samples=1e9",
               "num_samples=[1]", "padding_mode=nope", "num_samples=nan"])
        d.add(argv, "--dataset", ["fashion-mnist"], ["mnist", "cifar10", "", "nope"])
        d.add(argv, "--range", [None, "0:5"], RANGE_BAD)
        d.add(argv, "--epochs", *ints(["1"], huge=False))
        d.add(argv, "--batch", *ints(["10", "20"], huge=True))
        d.add(argv, "--lr", *floats([None, "0.001"], huge=True))
        d.add(argv, "--max-train", ["20"], BAD_INTS)
        d.add(argv, "--max-eval", ["4"], BAD_INTS)
        d.add(argv, "--bins", *ints(["1", "2"], huge=False))
        d.add(argv, "--width", *ints(["4"], huge=False))
        d.add(argv, "--encoder-width", *ints(["4"], huge=False))
        d.add(argv, "--latent-sigma", [None, "0", "0.1"], ["-1", "nan", "inf", "", "abc", "1e308"])
        d.add(argv, "--path-weight", [None, "0", "2"], ["-1", "nan", "inf", "", "abc", "1e308", "-0.5"])
        d.add(argv, "--time-limit", *floats([None, "100"], huge=True))
        d.add(argv, "--seed", *ints([None, "2"], huge=True))
        d.add(argv, "--device", [None, "cpu"], DEVICE_BAD)
        d.add(argv, "--data-dir", [None], [ws.file("folder"), ws.file("missing"), ""])
        out = ws.out(d.value("--out", ["new"], OUT_BAD_KINDS), ".pt")
        argv += ["--out", out, "--no-progress"]
        r = run_checked(ws, argv, capsys, command="surrogate")
        if r.rc == 0:
            from gsmooth.surrogate.io import load_surrogate

            load_surrogate(out)
            assert " nan " not in r.out, f"a surrogate whose held-out error is NaN was saved:\n{r.out}"


@pytest.mark.parametrize("sub", ["eval", "lipschitz"])
@settings(max_examples=fuzz_examples(1.0))
@given(data=st.data())
def test_fuzz_surrogate_eval_and_lipschitz(assets, capsys, data, sub):
    names = ["--surrogate", "--dataset", "--split", "--range", "--device", "--data-dir"] + (
        ["--max-eval", "--bins", "--latent-sigma", "--seed", "--g-images", "--grid", "--sigma-theta", "--sigma-xi"]
        if sub == "eval"
        else ["--max", "--start", "--grid", "--iters", "--sigma-ratio", "--method", "--no-fd-check"])
    with workspace(assets, data.draw) as ws:
        d = Draw(data.draw, names)
        argv = ["surrogate", sub, "--surrogate", ws.file(d.value("--surrogate", ["surrogate"], SURROGATE_BAD_KINDS))]
        d.add(argv, "--dataset", [None, "fashion-mnist-sample"], ["mnist", "cifar10", "", "nope", "custom"])
        d.add(argv, "--split", [None, "test"], ["train", "dev"])
        d.add(argv, "--range", [None, "1:3"], RANGE_BAD)
        d.add(argv, "--device", [None, "cpu"], DEVICE_BAD)
        d.add(argv, "--data-dir", [None], [ws.file("folder"), ws.file("missing"), ""])
        if sub == "eval":
            d.add(argv, "--max-eval", ["2", "3"], BAD_INTS)
            d.add(argv, "--bins", *ints(["1", "2"], huge=False))
            d.add(argv, "--latent-sigma", [None, "0", "0.1"], ["-1", "nan", "inf", "", "abc", "1e308"])
            d.add(argv, "--seed", *ints([None, "1"], huge=True))
            d.add(argv, "--g-images", ["0", "1"], ["-1", "nan", "1.5", "", "abc"])
            d.add(argv, "--grid", *ints([None, "2"], huge=False))
            d.add(argv, "--sigma-theta", *floats([None, "2"], huge=True))
            d.add(argv, "--sigma-xi", *floats([None, "0.5"], huge=True))
        else:
            d.add(argv, "--max", ["1"], BAD_INTS)
            d.add(argv, "--start", *ints([None, "3"], huge=True))
            d.add(argv, "--grid", *ints(["2", "3"], huge=False))
            d.add(argv, "--iters", *ints([None, "3"], huge=False))
            d.add(argv, "--sigma-ratio", *floats([None, "0.1"], huge=True))
            d.add(argv, "--method", [None, "exact", "fd"], ["power", "auto", "bogus"])
            d.add(argv, "--no-fd-check", [None, True], [])
        r = run_checked(ws, argv, capsys, command="surrogate")
        if r.rc == 0:
            assert r.out.strip()


@settings(max_examples=fuzz_examples(1.0))
@given(data=st.data())
def test_fuzz_attack(assets, capsys, data):
    names = ["--model", "--dataset", "--device", "--noise", "--sigma", "--transform", "--surrogate", "--range",
             "--grid", "--steps", "--restarts", "--eot", "--n", "--candidates", "--batch", "--seed", "--skip",
             "--start", "--max", "--out"]
    with workspace(assets, data.draw) as ws:
        d = Draw(data.draw, names)
        model = ws.file(d.value("--model", ["model"], MODEL_BAD_KINDS))
        argv = ["attack", "--model", model]
        d.add(argv, "--dataset", [None], ["mnist", "cifar10", "", "fashion-mnist-sample"])
        d.add(argv, "--device", [None], DEVICE_BAD)
        d.add(argv, "--noise", [None], ODD_NAMES + ["laplace", "exponential"])
        d.add(argv, "--sigma", *floats([None, "0.2"], huge=True))
        d.add(argv, "--transform", ["brightness", "gaussian_blur"], transforms_bad() + ["additive", "rotational_blur"])
        sur_kind = d.value("--surrogate", [None], ["surrogate"] + SURROGATE_BAD_KINDS)
        if sur_kind is not None:
            argv += ["--surrogate", ws.file(sur_kind)]
        d.add(argv, "--range", [None, "-0.2:0.2"], RANGE_BAD)
        d.add(argv, "--grid", *ints(["2", "3"], huge=False))
        d.add(argv, "--steps", ["0", "1"], ["-1", "nan", "abc", "", "1.5"])
        d.add(argv, "--restarts", *ints(["1"], huge=False))
        d.add(argv, "--eot", *ints(["2"], huge=False))
        d.add(argv, "--n", *ints(["10"], huge=False))
        d.add(argv, "--candidates", *ints(["1", "2"], huge=False))
        d.add(argv, "--batch", *ints([None, "10"], huge=True))
        d.add(argv, "--seed", *ints([None, "1"], huge=True))
        d.add(argv, "--skip", *ints([None, "2"], huge=True))
        d.add(argv, "--start", *ints([None, "4"], huge=True))
        d.add(argv, "--max", ["1"], BAD_INTS)
        out = _results_out(d, ws, argv, model=model, default_ok=False)
        argv.append("--no-progress")
        r = run_checked(ws, argv, capsys, command="attack")
        if r.rc == 0:
            check_results(ws, out, argv, size=FM_TEST_SIZE, radius=False)


ANALYZE_GOOD = ["certify_tsv"]
ANALYZE_BAD = ["missing", "folder", "empty", "random_bytes", "empty_file", "json", "tsv_wrong", "text", "model",
               "png", "npy", "predict_tsv", "tilde_unknown_user"]


@settings(max_examples=fuzz_examples(2.0))
@given(data=st.data())
def test_fuzz_analyze(assets, capsys, data):
    with workspace(assets, data.draw) as ws:
        d = Draw(data.draw, ["files", "--radii", "--labels", "--plot", "--bound", "--sigma"])
        count = data.draw(st.integers(1, 3), label="how many files")
        files = [ws.file(d.value("files", ANALYZE_GOOD, ANALYZE_BAD)) for _ in range(count)]
        argv = ["analyze", *files]
        d.add(argv, "--radii", [None, "0,0.5", "0", "0.25,1"],
              ["", ",", "-1", "nan", "inf", "0,nan", "a", "1e308", "0,-0.5", "1;2", "0,,1", " 0 "])
        d.add(argv, "--labels", [None, ",".join("abc"[:count])], ["", ",", "a,b,c,d", "a\nb", "a,,b"])
        d.add(argv, "--bound", [None, "cohen", "pixeldp", "li"], ["", "tight", "Li"])
        d.add(argv, "--sigma", [None, "0.25"], ["", "0", "-1", "nan", "inf", "1e-320", "0.5", "a"])
        plot_kind = d.value("--plot", [None, "new"], OUT_BAD_KINDS + ["certify_results"])
        plot = None
        if plot_kind is not None:
            plot = ws.out(plot_kind, ".png", model=files[0])
            argv += ["--plot", plot]
        r = run_checked(ws, argv, capsys, command="analyze")
        if r.rc == 0:
            assert "|" in r.out
            if plot:
                assert Path(plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@settings(max_examples=fuzz_examples(1.5))
@given(data=st.data())
def test_fuzz_corrupt(assets, capsys, data):
    from gsmooth.data.cifar_c import load_corrupted

    names = ["--dataset", "--out", "--corruptions", "--max", "--seed", "--batch", "--data-dir"]
    with workspace(assets, data.draw) as ws:
        d = Draw(data.draw, names)
        argv = ["corrupt"]
        d.add(argv, "--dataset", ["fashion-mnist"], ["mnist", "cifar10", "", "nope", "fashion-mnist-sample"])
        d.add(argv, "--corruptions", ["gaussian_noise", "fog,brightness"],
              ["", ",", "gausian_noise", "gaussian_noise,gaussian_noise", "fog\n", "all", " , "])
        d.add(argv, "--max", ["2", "3"], BAD_INTS)
        d.add(argv, "--seed", *ints([None, "1"], huge=True))
        d.add(argv, "--batch", *ints([None, "1", "2"], huge=True))
        d.add(argv, "--data-dir", [None], [ws.file("folder"), ws.file("missing"), ws.file("png"), ""])
        out_kind = d.value("--out", ["new", "folder"],
                           [k for k in OUT_BAD_KINDS if k != "folder"] + ["corrupt_copy", "input"])
        out = ws.out(out_kind, "", input_path=str(assets.fashion_dir))  # "input": the dataset's folder
        argv += ["--out", out, "--no-progress"]
        r = run_checked(ws, argv, capsys, command="corrupt")
        if r.rc == 0:
            for name in flags_of(argv)["--corruptions"].split(","):
                ds = load_corrupted(out, name.strip(), 1)
                assert len(ds) == int(flags_of(argv)["--max"]) and ds.data.dtype == torch.uint8


def _run_bare(capsys, argv) -> tuple[int, str, str]:
    capsys.readouterr()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            try:
                rc = main(list(argv))
            except SystemExit as exc:
                rc = exc.code
        finally:
            os.chdir(cwd)
        left = os.listdir(tmp)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if rc == 2:
        assert not left, f"a failed run left {left}"
    return rc, out, err


@settings(max_examples=fuzz_examples(0.5))
@given(extra=st.lists(st.sampled_from(["-v", "--all", "x", "--help-me", "", "gaussian"]), max_size=2))
def test_fuzz_plugins(capsys, extra):
    rc, out, err = _run_bare(capsys, ["plugins", *extra])
    assert rc in (0, 2), err
    if rc == 0:
        assert "gaussian" in out
    else:
        check_error_output(err, "plugins")


WORDS = ["certify", "predict", "train", "surrogate", "attack", "analyze", "corrupt", "plugins", "eval", "lipschitz",
         "--out", "--n", "-1", "--model", "", "x", "--range", "-0.4:0.4", "--range=", "-", "--", "--max", "--version"]


@settings(max_examples=fuzz_examples(1.0))
@given(argv=st.lists(st.sampled_from(WORDS), max_size=4))
def test_fuzz_argv_shapes(capsys, argv):
    """Any sequence of words: argparse's usage errors (exit 2), or a typed error; never a traceback.
    No word names a real file, so nothing heavy runs — except certify/predict without --model (the
    embedded default: a real run, fuzzed above with tiny sizes), skipped here."""
    if argv and argv[0] in ("certify", "predict") and "--model" not in argv:
        return
    rc, _, err = _run_bare(capsys, argv)
    assert rc in (0, 2), (rc, err)
    if rc == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines and (lines[0].startswith("usage: ") or ERROR_LINE.match(lines[-1])), err


# ------------------------------------------------------------------------------------------------
# Found by the fuzzer in modules other sessions were editing: first strict xfails with the minimal
# argv (a new one goes here as ``test_known_*``, its values in KNOWN_FAILURES), fixed by their
# owners since: regression tests.
# ------------------------------------------------------------------------------------------------

TRAIN_TINY = ["train", "--dataset", "fashion-mnist", "--epochs", "1", "--max-train", "50", "--max-eval", "10",
              "--batch", "25", "--no-progress"]
SURROGATE_TINY = ["surrogate", "train", "--transform", "rotational_blur", "--dataset", "fashion-mnist", "--epochs", "1",
                  "--max-train", "20", "--max-eval", "4", "--batch", "10", "--width", "4", "--encoder-width", "4",
                  "--bins", "1", "--no-progress"]


def _one_line_or_ok(argv, tmp_path, capsys, command) -> tuple[int, str]:
    capsys.readouterr()
    try:
        rc = main([*argv, "--out", str(tmp_path / "out.pt")])
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    if rc == 2:
        check_error_output(err, command)
    assert rc in (0, 2), err
    return rc, out


# found by the fuzzer, fixed since (--seed/--batch/--lr/--weight-decay bounded by what torch takes): regression tests
@pytest.mark.parametrize("extra", [
    ["--seed", "18446744073709551616"],  # ValueError: Overflow when unpacking long long (torch.manual_seed)
    ["--batch", "9223372036854775808"],  # ValueError from torch's BatchSampler (islice stop > sys.maxsize)
    ["--lr", "1e308"],  # RuntimeError: value cannot be converted to type float without overflow (SGD step)
    ["--weight-decay", "1e308"],  # the same RuntimeError
], ids=["seed-2**64", "batch-2**63", "lr-1e308", "weight-decay-1e308"])
def test_found_train_overflow_is_one_line(extra, tmp_path, capsys):
    rc, _ = _one_line_or_ok([*TRAIN_TINY, *extra], tmp_path, capsys, "train")
    assert rc == 2


# found by the fuzzer (a ValueError traceback from torch.manual_seed), fixed since: a regression test
def test_found_surrogate_train_seed_overflow_is_one_line(tmp_path, capsys):
    rc, _ = _one_line_or_ok([*SURROGATE_TINY, "--seed", "18446744073709551616"], tmp_path, capsys, "surrogate")
    assert rc == 2


# found by the fuzzer, fixed in gsmooth/surrogate.py since (a NaN loss stops the training): a regression test
@pytest.mark.parametrize("extra", [["--lr", "1e308"], ["--latent-sigma", "1e308"]], ids=["lr", "latent-sigma"])
def test_found_surrogate_train_divergence_is_an_error(extra, tmp_path, capsys):
    rc, out = _one_line_or_ok([*SURROGATE_TINY, *extra], tmp_path, capsys, "surrogate")
    assert rc == 2 and not (tmp_path / "out.pt").exists(), out


# found by the fuzzer: `gsmooth train --noise ''` silently trained with the default noise; fixed since
@pytest.mark.parametrize("option", ["--noise", "--transform"])
def test_found_train_empty_component_name(option, tmp_path, capsys):
    rc, _ = _one_line_or_ok([*TRAIN_TINY, option, ""], tmp_path, capsys, "train")
    assert rc == 2 and not (tmp_path / "out.pt").exists()
