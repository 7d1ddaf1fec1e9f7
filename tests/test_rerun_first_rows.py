"""The comparison of experiments/rerun_first_rows.py: a changed cell is found, timings are not.

The tool proves that the committed experiments re-run identical on their first rows (issue 12);
these tests prove its comparison, on a results file written here by gsmooth's own writer.
"""

from __future__ import annotations

import doctest
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

from gsmooth.io.results import ResultsWriter

ROOT = Path(__file__).resolve().parents[1]


def _load_tool():
    path = ROOT / "experiments" / "rerun_first_rows.py"
    spec = importlib.util.spec_from_file_location("gsmooth_rerun_first_rows", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


tool = _load_tool()

CONFIG = {"command": "certify", "dataset": "fashion-mnist", "n0": 100, "n": 1000, "alpha": 0.001, "seed": 0,
          "noise": "gaussian", "noise_params": {"sigma": 0.25}, "device_type": "cpu"}


def _write(path: Path, rows: int = 5) -> Path:
    with ResultsWriter(path, columns=["p_lower", "count", "noise"], config=CONFIG) as writer:
        for i in range(rows):
            writer.write({"idx": 2 * i, "label": i % 10, "predict": i % 10, "radius": 0.125 * (i + 1),
                          "time": 0.5 + i, "p_lower": 0.5 + 0.0625 * i, "count": 900 + i, "noise": "gaussian(sigma=0.25)"})
    return path


def _edit(path: Path, row: int, column: str, value: str) -> None:
    """Replace one cell (row 0 = first data row) in place."""
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    cells = lines[1 + row].split("\t")
    cells[header.index(column)] = value
    lines[1 + row] = "\t".join(cells)
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def files(tmp_path):
    committed = _write(tmp_path / "committed.tsv")
    rerun = tmp_path / "rerun.tsv"
    shutil.copy(committed, rerun)
    return committed, rerun


def test_identical_rows_are_ok(files):
    committed, rerun = files
    result = tool.compare_rows(committed, rerun, rows=3)
    assert (result.status, result.column, result.rows) == ("OK", None, 3)
    assert "time" in result.detail  # says what was left out


def test_one_changed_cell_is_different_with_that_column(files):
    committed, rerun = files
    _edit(rerun, 1, "p_lower", "0.5625000001")
    result = tool.compare_rows(committed, rerun, rows=3)
    assert (result.status, result.column) == ("DIFFERENT", "p_lower")
    assert "idx=2" in result.detail and "0.5625000001" in result.detail


def test_the_first_differing_column_is_reported(files):
    committed, rerun = files
    _edit(rerun, 2, "radius", "0.4")
    _edit(rerun, 2, "count", "1")
    _edit(rerun, 1, "noise", "laplace(sigma=0.25)")
    result = tool.compare_rows(committed, rerun, rows=3)
    assert (result.status, result.column) == ("DIFFERENT", "noise")  # row idx=2 comes before row idx=4
    _edit(rerun, 1, "p_lower", "0.1")
    _edit(rerun, 1, "radius", "0.1")
    result = tool.compare_rows(committed, rerun, rows=3)
    assert result.column == "radius"  # within a row: the committed column order


def test_a_changed_timing_column_is_ok(files):
    committed, rerun = files
    for row in range(3):
        _edit(rerun, row, "time", "123.4567")
    assert tool.compare_rows(committed, rerun, rows=3).status == "OK"
    assert "time" in tool.IGNORED_COLUMNS


def test_only_the_first_rows_are_compared(files):
    committed, rerun = files
    _edit(rerun, 3, "radius", "9.0")  # row 4: beyond K = 3
    assert tool.compare_rows(committed, rerun, rows=3).status == "OK"
    assert tool.compare_rows(committed, rerun, rows=4).column == "radius"


def test_missing_rows_or_columns_are_different(files, tmp_path):
    committed, _ = files
    short = _write(tmp_path / "short.tsv", rows=2)
    result = tool.compare_rows(committed, short, rows=3)
    assert result.status == "DIFFERENT" and "2 rows" in result.detail
    narrow = tmp_path / "narrow.tsv"
    with ResultsWriter(narrow, columns=["p_lower", "count"], config=CONFIG) as writer:
        for i in range(3):
            writer.write({"idx": 2 * i, "label": 0, "predict": 0, "radius": 0.1, "time": 1.0, "p_lower": 0.5, "count": 1})
    result = tool.compare_rows(committed, narrow, rows=3)
    assert (result.status, result.column) == ("DIFFERENT", "noise")


def test_a_column_only_in_the_rerun_is_a_note_not_a_difference(files, tmp_path):
    committed, _ = files
    wider = tmp_path / "wider.tsv"
    text = committed.read_text().splitlines()
    wider.write_text("\n".join([text[0] + "\tguarantee"] + [line + "\tsound" for line in text[1:]]) + "\n")
    result = tool.compare_rows(committed, wider, rows=3)
    assert result.status == "OK" and any("guarantee" in note for note in result.notes)


def test_rows_are_matched_by_index(files):
    committed, rerun = files
    _edit(rerun, 0, "idx", "1")
    assert tool.compare_rows(committed, rerun, rows=2).column == "idx"


def test_compare_configs_ignores_host_facts_only(tmp_path):
    committed = json.loads((_write(tmp_path / "c.tsv").parent / "c.tsv.json").read_text())["config"]
    assert tool.compare_configs(committed, {**committed, "device_type": "cuda", "model": "/elsewhere.pt"}) is None
    assert tool.compare_configs(committed, {**committed, "n": 2000}) == "n: committed 1000, rerun 2000"


def test_rows_outside_2_to_5_are_refused(capsys):
    with pytest.raises(SystemExit):
        tool.main(["--rows", "6", "--list"])
    assert "--rows expected 2..5, got 6" in capsys.readouterr().err


def test_the_docstring_examples_run():
    finder, runner = doctest.DocTestFinder(exclude_empty=True), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(tool, tool.__name__):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_known_differences_are_applied_exactly(files, tmp_path):
    committed, rerun = files
    _edit(rerun, 0, "radius", "0.2")
    known = {"why": "test", "cells": {"0": {"radius": ("0.125", "0.2")}}}
    patched = tool.apply_known_differences(committed, known, tmp_path / "patched.tsv")
    assert tool.compare_rows(patched, rerun, rows=3).status == "OK"
    _edit(rerun, 0, "radius", "0.3")  # not the recorded re-run value
    assert tool.compare_rows(patched, rerun, rows=3).column == "radius"
    with pytest.raises(ValueError, match="stale"):
        tool.apply_known_differences(committed, {"why": "x", "cells": {"0": {"radius": ("9", "1")}}}, tmp_path / "p2.tsv")


REPORT = """## report

### 1. Rates (n=5)

| p | n | rate |  |
|---:|---:|---:|---:|
| 0.5 | 50 | 0.0595 | ok |
| 0.9 | 50 | 0.0333 | ok |

### 2. Other (x)

| p_A | error |
|---:|---:|
| 0.5 | 0.0780 |

total 207s.
"""


def test_markdown_tables_are_matched_by_measurement(tmp_path):
    committed, rerun = tmp_path / "c.md", tmp_path / "r.md"
    committed.write_text(REPORT)
    keys = {"1. Rates": 2, "2. Other": 1}
    rerun.write_text(REPORT.replace("| 0.5 | 50 | 0.0595 | ok |\n", "").replace("207s", "99s"))  # a subset
    assert tool.compare_markdown_tables(committed, rerun, keys).status == "OK"
    rerun.write_text(REPORT.replace("0.0333 | ok", "0.0334 | ok"))
    result = tool.compare_markdown_tables(committed, rerun, keys)
    assert (result.status, result.column) == ("DIFFERENT", "rate") and "('0.9', '50')" in result.detail
    rerun.write_text(REPORT.replace("| 0.9 | 50 |", "| 0.9 | 60 |"))
    assert tool.compare_markdown_tables(committed, rerun, keys).status == "DIFFERENT"  # not a committed row
    rerun.write_text(REPORT.split("### 2.")[0])
    assert "missing" in tool.compare_markdown_tables(committed, rerun, keys).detail
