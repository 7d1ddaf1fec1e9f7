"""gsmooth.run.certify / predict / attack: a whole CLI run from Python, the same rows as the CLI."""

from __future__ import annotations

import json

import pytest

import gsmooth.run as run
from gsmooth.cli import main
from gsmooth.embedded import SAMPLE_DATASET, embedded_default
from gsmooth.errors import GsmoothError, InvalidParameterError, OutputFileError, ResultsFileError

ADDITIVE = str(embedded_default("additive").model_path)
#: brightness/contrast on the additive model: certified, with a mismatch warning (not what is tested here)
pytestmark = pytest.mark.filterwarnings("ignore::gsmooth.run.SmoothingMismatchWarning")

SMALL = {"model": ADDITIVE, "dataset": SAMPLE_DATASET, "n": 60, "max": 3, "progress": False}


def _rows(path) -> list[list[str]]:
    """The rows of a results file without the wall-time column (the only one that varies)."""
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    keep = [i for i, name in enumerate(header) if name != "time"]
    return [[cells[i] for i in keep] for cells in (line.split("\t") for line in lines)]


def test_certify_writes_the_rows_and_sidecar_of_the_cli(tmp_path, capsys):
    cli, lib = tmp_path / "cli.tsv", tmp_path / "lib.tsv"
    assert main(["certify", "--model", ADDITIVE, "--dataset", SAMPLE_DATASET, "--n0", "20", "--n", "60", "--max", "3",
                 "--seed", "7", "--no-progress", "--out", str(cli)]) == 0
    capsys.readouterr()
    result = run.certify(run.CertifyConfig(**SMALL, n0=20, seed=7, out=str(lib)))
    assert _rows(lib) == _rows(cli) and len(_rows(lib)) == 4
    assert json.loads(lib.with_suffix(".tsv.json").read_text()) == json.loads(cli.with_suffix(".tsv.json").read_text())
    assert result.path == str(lib) and result.indices == [0, 1, 2] and result.elapsed > 0
    assert result.certificate is None and result.setup.transform_name == "additive"
    assert list(result.results().idx) == [0, 1, 2]
    assert capsys.readouterr().out == ""  # the library prints no summary


def test_interval_certificate_and_predict_match_the_cli(tmp_path, capsys):
    cli, lib = tmp_path / "cli.tsv", tmp_path / "lib.tsv"
    args = ["--model", ADDITIVE, "--dataset", SAMPLE_DATASET, "--n", "40", "--max", "2", "--no-progress"]
    assert main(["certify", *args, "--n0", "20", "--transform", "brightness", "--range", "-0.1:0.1", "--slices", "2",
                 "--out", str(cli)]) == 0
    capsys.readouterr()
    result = run.certify(run.CertifyConfig(**{**SMALL, "n": 40, "max": 2}, n0=20, transform="brightness",
                                           range="-0.1:0.1", slices=2, out=str(lib)))
    assert _rows(lib) == _rows(cli)
    assert (result.certificate, result.range, result.slices, result.pairs) == ("interval", "-0.1:0.1", 2, ((-0.1, 0.1),))
    cli_p, lib_p = tmp_path / "cli_p.tsv", tmp_path / "lib_p.tsv"
    assert main(["predict", *args, "--out", str(cli_p)]) == 0
    run.predict(run.PredictConfig(**{**SMALL, "n": 40, "max": 2}, out=str(lib_p)))
    assert _rows(lib_p) == _rows(cli_p)


def test_attack_matches_the_cli(tmp_path, capsys):
    cli, lib = tmp_path / "cli.tsv", tmp_path / "lib.tsv"
    search = dict(grid=3, steps=1, restarts=1, eot=2, candidates=1)
    assert main(["attack", "--model", ADDITIVE, "--dataset", SAMPLE_DATASET, "--transform", "brightness", "--range",
                 "-0.2:0.2", "--n", "30", "--max", "1", "--grid", "3", "--steps", "1", "--restarts", "1", "--eot", "2",
                 "--candidates", "1", "--no-progress", "--out", str(cli)]) == 0
    result = run.attack(run.AttackConfig(**{**SMALL, "n": 30, "max": 1}, transform="brightness", range="-0.2:0.2",
                                         **search, out=str(lib)))
    assert _rows(lib) == _rows(cli) and result.range == "-0.2:0.2"


def test_resume_computes_only_the_missing_rows(tmp_path):
    out = tmp_path / "r.tsv"
    config = run.CertifyConfig(**{**SMALL, "max": 2}, n0=20, out=str(out))
    run.certify(config)
    first = out.read_text()
    calls, notes = [], []
    setup = run.SmootherSetup.load(ADDITIVE, dataset=SAMPLE_DATASET)
    original = setup.smoother.certify

    def counting(images, **kw):
        calls.append(list(kw["keys"]))
        return original(images, **kw)

    setup.smoother.certify = counting
    longer = run.CertifyConfig(**{**SMALL, "max": 4}, n0=20, out=str(out))
    result = run.certify(longer, setup=setup, log=notes.append)
    assert calls == [[2, 3]]  # images 0 and 1 were in the file
    assert notes == [f"resuming {out}: 2 rows present, 2 to go"]
    assert out.read_text().startswith(first) and result.indices == [0, 1, 2, 3]
    fresh = tmp_path / "fresh.tsv"
    run.certify(run.CertifyConfig(**{**SMALL, "max": 4}, n0=20, out=str(fresh)))
    assert _rows(out) == _rows(fresh)  # resumed = computed at once (same seed)


def test_a_file_of_another_configuration_is_refused_and_kept(tmp_path):
    out = tmp_path / "r.tsv"
    run.certify(run.CertifyConfig(**{**SMALL, "max": 1}, n0=20, out=str(out)))
    before = out.read_bytes()
    with pytest.raises(ResultsFileError) as err:
        run.certify(run.CertifyConfig(**{**SMALL, "max": 1}, n0=20, seed=1, out=str(out)))
    assert isinstance(err.value, GsmoothError) and "seed" in str(err.value)
    with pytest.raises(ResultsFileError):  # a certify file is not a predict file
        run.predict(run.PredictConfig(**{**SMALL, "max": 1}, out=str(out)))
    assert out.read_bytes() == before


def test_bad_runs_get_typed_errors_naming_fields_or_flags(tmp_path):
    out = str(tmp_path / "x.tsv")
    with pytest.raises(InvalidParameterError, match=r"^start/skip/max expected to select at least one of the 500 "
                       r"images .*, got start 600 skip 1 max 3$"):
        run.certify(run.CertifyConfig(**SMALL, n0=20, start=600, out=out))
    flags = {"start": "--start", "skip": "--skip", "max": "--max"}
    with pytest.raises(InvalidParameterError, match=r"^--start/--skip/--max expected .*, got --start 600 --skip 1"):
        run.certify(run.CertifyConfig(**SMALL, n0=20, start=600, out=out), names=flags)
    with pytest.raises(InvalidParameterError, match="range/slices certify a transformation parameter; expected"):
        run.certify(run.CertifyConfig(**SMALL, n0=20, range="0:1", out=out))
    with pytest.raises(OutputFileError, match="out expected a path that is not an input"):
        run.certify(run.CertifyConfig(**SMALL, n0=20, out=ADDITIVE))
    with pytest.raises(InvalidParameterError, match="expected config.input None"):
        run.predict(run.PredictConfig(**SMALL, input=str(tmp_path), out=out))
    with pytest.raises(InvalidParameterError, match="expected a CertifyConfig, got PredictConfig"):
        run.certify(run.PredictConfig(**SMALL, out=out))
    rb = run.SmootherSetup.load(str(embedded_default("rotational_blur").model_path), dataset=SAMPLE_DATASET)
    with pytest.raises(InvalidParameterError, match="setup expected the checkpoint of config.model"):
        run.certify(run.CertifyConfig(**SMALL, n0=20, out=out), setup=rb)  # the sidecar would name another model
    with pytest.raises(InvalidParameterError, match="setup expected the dataset of config.dataset"):
        run.certify(run.CertifyConfig(**{**SMALL, "dataset": "fashion-mnist"}, n0=20, out=out),
                    setup=run.SmootherSetup.load(ADDITIVE, dataset=SAMPLE_DATASET))
    assert not (tmp_path / "x.tsv").exists()
