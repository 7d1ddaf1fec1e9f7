"""Tests of gsmooth.evaluation.analysis: certified accuracy, ACR, abstention, tables and plots."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from gsmooth.evaluation.analysis import (
    RadiusUnit,
    Summary,
    abstention_rate,
    average_certified_radius,
    certified_accuracy,
    certified_accuracy_figure,
    default_radii,
    group_by_unit,
    markdown_report,
    markdown_table,
    plot_certified_accuracy,
    radius_unit,
    summarize,
)
from gsmooth.errors import OutputFileError, InputError, InvalidParameterError, ResultsFileError
from gsmooth.io.results import ResultsWriter, read_results

# A hand-made evaluation of 17 points: (label, predict, radius).
CORRECT = [(1, 1, 0.0), (2, 2, 0.1), (3, 3, 0.25), (4, 4, 0.25), (5, 5, 0.5), (6, 6, 0.75),
           (7, 7, 1.0), (8, 8, 2.0)]                         # 8 correct
WRONG = [(0, 1, 3.0), (1, 2, 0.4), (2, 3, 5.0), (3, 4, 0.0)]  # 4 wrong (radius irrelevant)
ABSTAIN = [(0, -1, 0.0), (1, -1, 0.0), (2, -1, 0.0), (3, -1, 0.0), (4, -1, 0.0)]  # 5 abstain
ROWS = CORRECT + WRONG + ABSTAIN
RADII = [0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5]


def as_arrays(rows):
    label, predict, radius = zip(*rows)
    return {"label": np.array(label), "predict": np.array(predict), "radius": np.array(radius)}


def by_definition(rows, r):
    """Certified accuracy straight from the definition, one point at a time."""
    hits = sum(1 for label, predict, radius in rows if predict == label and predict != -1 and radius >= r)
    return hits / len(rows)


def write_file(path, rows, config=None):
    with ResultsWriter(path, columns=["norm"], config=config or {"sigma": 0.25}) as w:
        for i, (label, predict, radius) in enumerate(rows):
            w.write({"idx": i, "label": label, "predict": predict, "radius": radius,
                     "time": 0.5, "norm": "l2"})
    return path


def test_certified_accuracy_matches_definition():
    got = certified_accuracy(as_arrays(ROWS), RADII)
    assert got.tolist() == [by_definition(ROWS, r) for r in RADII]
    # and by hand: at r = 0.25 the correct points with radius >= 0.25 are
    # 0.25, 0.25, 0.5, 0.75, 1.0, 2.0 -> 6 of ALL 17 points (abstentions count in the denominator)
    assert got[1] == 6 / 17
    assert got[0] == 8 / 17  # r = 0: every correct point, even radius 0
    assert got[-1] == 0.0     # wrong predictions with radius 3.0 and 5.0 never count
    assert got[RADII.index(2.0)] == 1 / 17  # radius == r counts (>=)


def test_certified_accuracy_is_non_increasing_and_shape_follows_radii():
    data = as_arrays(ROWS)
    grid = np.linspace(0, 3, 301)
    curve = certified_accuracy(data, grid)
    assert curve.shape == grid.shape
    assert np.all(np.diff(curve) <= 0)
    assert certified_accuracy(data, 0.5).shape == ()
    assert float(certified_accuracy(data, 0.5)) == by_definition(ROWS, 0.5)


def test_abstentions_stay_in_denominator():
    only_correct = as_arrays(CORRECT)
    with_abstentions = as_arrays(CORRECT + ABSTAIN)
    assert certified_accuracy(only_correct, 0.0) == 1.0
    assert certified_accuracy(with_abstentions, 0.0) == len(CORRECT) / (len(CORRECT) + len(ABSTAIN))
    assert abstention_rate(with_abstentions) == len(ABSTAIN) / (len(CORRECT) + len(ABSTAIN))
    assert abstention_rate(as_arrays(ROWS)) == 5 / 17


def test_average_certified_radius():
    expected = sum(r for _, _, r in CORRECT) / len(ROWS)  # wrong and abstained count as 0
    assert average_certified_radius(as_arrays(ROWS)) == pytest.approx(expected, abs=1e-15)
    assert average_certified_radius(as_arrays(ROWS)) == pytest.approx(4.85 / 17)


def test_same_numbers_from_a_file_and_from_a_table(tmp_path):
    path = write_file(tmp_path / "run.tsv", ROWS)
    table = read_results(path)
    for source in (path, str(path), table):
        assert certified_accuracy(source, RADII).tolist() == [by_definition(ROWS, r) for r in RADII]
    s = summarize(path, RADII)
    assert isinstance(s, Summary)
    assert s.name == str(path)
    assert s.n_points == 17
    assert s.clean_accuracy == 8 / 17
    assert s.radii == tuple(RADII)
    assert s.certified_accuracy == tuple(by_definition(ROWS, r) for r in RADII)
    assert s.acr == pytest.approx(4.85 / 17)
    assert s.abstain_rate == 5 / 17
    assert s.at(0.1) == by_definition(ROWS, 0.1)  # not among RADII: recomputed from rows


def test_cohen_file_summary(tmp_path):
    path = tmp_path / "cohen.tsv"
    path.write_text(
        "idx\tlabel\tpredict\tradius\tcorrect\ttime\n"
        "0\t3\t3\t0.412\t1\t0:00:02.345678\n"
        "20\t8\t-1\t0.0\t0\t0:00:02.100000\n"
        "40\t0\t6\t0.233\t0\t0:00:02.000000\n"
        "60\t1\t1\t1.27\t1\t0:00:02.000000\n"
    )
    s = summarize(path, [0.0, 0.5, 1.0, 1.5])
    assert s.certified_accuracy == (0.5, 0.25, 0.25, 0.0)
    assert s.acr == pytest.approx((0.412 + 1.27) / 4)
    assert s.abstain_rate == 0.25


def test_predict_only_file_is_refused_not_read_as_radius_zero(tmp_path):
    # it used to read as radius 0 everywhere: certified accuracy 0.5 at r = 0, then 0 at any r > 0
    path = tmp_path / "predict.tsv"
    path.write_text("idx\tlabel\tpredict\tcorrect\ttime\n0\t1\t1\t1\t0:00:01\n1\t2\t-1\t0\t0:00:01\n")
    for call in (lambda: certified_accuracy(path, [0.0, 0.01]), lambda: summarize(path),
                 lambda: average_certified_radius(path), lambda: radius_unit(path),
                 lambda: markdown_report([path]), lambda: certified_accuracy_figure([path])):
        with pytest.raises(ResultsFileError, match="expected a certify results file with a radius column, got a "
                                                   "prediction-only file without one"):
            call()
    gsmooth_predict = tmp_path / "p.tsv"
    with ResultsWriter(gsmooth_predict, columns=["count"], config={"command": "predict"}, radius=False) as w:
        w.write({"idx": 0, "label": 1, "predict": 1, "time": 0.1, "count": 7})
    with pytest.raises(ResultsFileError) as exc:
        summarize(gsmooth_predict)
    message = str(exc.value)
    assert "\n" not in message
    assert "got a predict file without one (columns idx, label, predict, correct, time, count)" in message
    assert "gsmooth certify" in message


def test_markdown_table(tmp_path):
    a = write_file(tmp_path / "a.tsv", ROWS)
    b = write_file(tmp_path / "b.tsv", CORRECT)
    radii = [0.0, 0.25, 0.5]
    text = markdown_table([summarize(a, radii, name="a.tsv"), summarize(b, radii, name="b.tsv")])
    lines = text.splitlines()
    assert lines[0] == "| file | n | r=0.00 | r=0.25 | r=0.50 | ACR | abstain |"
    assert lines[1] == "|---|---:|---:|---:|---:|---:|---:|"
    assert lines[2] == (
        f"| a.tsv | 17 | {8 / 17:.3f} | {6 / 17:.3f} | {4 / 17:.3f} | {4.85 / 17:.3f} | {5 / 17:.3f} |"
    )
    assert lines[2] == "| a.tsv | 17 | 0.471 | 0.353 | 0.235 | 0.285 | 0.294 |"
    assert lines[3] == "| b.tsv | 8 | 1.000 | 0.750 | 0.500 | 0.606 | 0.000 |"
    assert len(lines) == 4
    # paths and other radii work too (recomputed from the rows); odd radii keep their digits
    other = markdown_table([a], radii=[0.125, 1])
    assert other.splitlines()[0] == "| file | n | r=0.125 | r=1.00 | ACR | abstain |"
    assert str(a) in other


def test_plot_is_a_real_png(tmp_path):
    a = write_file(tmp_path / "a.tsv", ROWS)
    b = summarize(write_file(tmp_path / "b.tsv", CORRECT), name="b")
    out = tmp_path / "plots" / "ca.png"
    out.parent.mkdir()
    result = plot_certified_accuracy([a, b], out, labels=["sigma=0.25", "sigma=0.50"])
    assert result == str(out)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 400 and height >= 300
    assert len(data) > 10_000  # axes, two curves, labels and legend were drawn

    import matplotlib.image

    pixels = matplotlib.image.imread(str(out))
    assert pixels.shape[:2] == (height, width)
    assert pixels[..., :3].std() > 0.05  # not a blank canvas


def test_plot_single_table_and_max_radius(tmp_path):
    out = plot_certified_accuracy(as_arrays(ROWS), tmp_path / "one.png", max_radius=1.0)
    assert (tmp_path / "one.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out == str(tmp_path / "one.png")


def test_plot_errors(tmp_path):
    with pytest.raises(OutputFileError, match="expected a path in an existing folder.*does not exist"):
        plot_certified_accuracy([as_arrays(ROWS)], tmp_path / "nope" / "ca.png")
    with pytest.raises(InvalidParameterError, match="labels expected 1 entries"):
        plot_certified_accuracy([as_arrays(ROWS)], tmp_path / "ca.png", labels=["a", "b"])
    with pytest.raises(InvalidParameterError, match="max_radius expected"):
        plot_certified_accuracy([as_arrays(ROWS)], tmp_path / "ca.png", max_radius=-1)
    with pytest.raises(ResultsFileError, match="expected a TSV file"):
        plot_certified_accuracy([tmp_path / "missing.tsv"], tmp_path / "ca.png")
    assert not (tmp_path / "ca.png").exists()


def test_input_errors():
    with pytest.raises(InputError, match="at least one evaluated point"):
        certified_accuracy({"label": [], "predict": [], "radius": []}, 0.0)
    with pytest.raises(InputError, match="one length"):
        certified_accuracy({"label": [1, 2], "predict": [1], "radius": [0.1]}, 0.0)
    with pytest.raises(InputError, match="without 'radius'"):
        average_certified_radius({"label": [1], "predict": [1]})
    with pytest.raises(InputError, match="expected a ResultsTable"):
        abstention_rate(42)
    with pytest.raises(InvalidParameterError, match="radii expected numbers"):
        certified_accuracy(as_arrays(ROWS), ["a"])


# -- units: files whose radii measure different things ------------------------------------------------

COHEN_TEXT = (
    "idx\tlabel\tpredict\tradius\tcorrect\ttime\n"
    "0\t3\t3\t0.412\t1\t0:00:02.345678\n"
    "20\t8\t-1\t0.0\t0\t0:00:02.100000\n"
)
#: the columns `gsmooth certify` writes for each kind of run (values as its rows carry them)
KINDS = {
    "l2": ({"transform": "additive", "noise": "gaussian"}, {"norm": "l2", "transform": "additive"}),
    "l1": ({"transform": "additive", "noise": "laplace"}, {"norm": "l1", "transform": "additive"}),
    "rotation": (
        {"transform": "rotation", "certificate": "radius"},
        {"norm": "param [degrees]", "transform": "rotation(padding_mode=zeros)", "certificate": "radius",
         "units": "degrees (radius around theta=0)", "range": ""},
    ),
    "blur": (
        {"transform": "gaussian_blur", "certificate": "radius"},
        {"norm": "param+ [pixels² (kernel variance σ²)]", "transform": "gaussian_blur", "certificate": "radius",
         "units": "pixels² (kernel variance σ²) (for increases of theta from 0 up to the radius)", "range": ""},
    ),
    "interval": (
        {"transform": "brightness", "certificate": "interval", "range": "-0.2:0.2"},
        {"norm": "l2", "transform": "brightness", "certificate": "interval", "units": "intensity",
         "range": "-0.2:0.2"},
    ),
}


def write_kind(path, rows, kind):
    config, columns = KINDS[kind]
    with ResultsWriter(path, columns=list(columns), config=config) as w:
        for i, (label, predict, radius) in enumerate(rows):
            w.write({"idx": i, "label": label, "predict": predict, "radius": radius, "time": 0.5, **columns})
    return path


def test_units_come_from_the_files_own_columns(tmp_path):
    keys = {kind: radius_unit(write_kind(tmp_path / f"{kind}.tsv", CORRECT, kind)).key for kind in KINDS}
    assert keys == {
        "l2": "l2 (pixels)",
        "l1": "l1 (pixels)",
        "rotation": "rotation parameter: degrees (radius around theta=0)",
        "blur": "gaussian_blur parameter: pixels² (kernel variance σ²) (for increases of theta from 0 up to the radius)",
        "interval": "brightness parameter: interval certificate over -0.2:0.2 (intensity)",
    }
    # an interval file's norm column is the noise's (l2 here): it must not join the l2 pixel group
    assert radius_unit(tmp_path / "interval.tsv").interval and not radius_unit(tmp_path / "l2.tsv").interval
    cohen = tmp_path / "cohen.tsv"
    cohen.write_text(COHEN_TEXT)
    unit = radius_unit(cohen)
    assert unit == radius_unit(tmp_path / "l2.tsv")  # Cohen's files are Gaussian l2 pixel radii ...
    assert "no norm column" in unit.note and "l2" in unit.note  # ... and the report says it assumed so
    assert radius_unit(tmp_path / "l2.tsv").note is None
    # several parameters under one ball norm, and a name not among the built-in transforms
    other = {"label": [1], "predict": [1], "radius": [2.0], "norm": ["l2 param [pixels (dx, dy)]"],
             "transform": ["my_shift(k=3)"]}
    assert radius_unit(other).key == "my_shift parameter: pixels (dx, dy), l2 norm over the parameters"
    assert radius_unit(other).axis == "certified l2 radius, my_shift parameter (pixels (dx, dy))"


def test_rows_that_measure_different_things_are_refused(tmp_path):
    path = tmp_path / "mixed.tsv"
    with ResultsWriter(path, columns=["norm"], config={"sigma": 0.25}) as w:
        w.write({"idx": 0, "label": 1, "predict": 1, "radius": 0.5, "time": 0.1, "norm": "l2"})
        w.write({"idx": 1, "label": 1, "predict": 1, "radius": 0.5, "time": 0.1, "norm": "l1"})
    with pytest.raises(ResultsFileError, match="expected one norm for every row .*got 'l1', 'l2'"):
        summarize(path)


def test_mixed_unit_files_form_separate_groups_and_tables(tmp_path):
    cohen = tmp_path / "cohen.tsv"
    cohen.write_text(COHEN_TEXT)
    files = [write_kind(tmp_path / f"{kind}.tsv", ROWS, kind) for kind in ("l2", "l1", "rotation", "interval")]
    items = [files[0], files[1], cohen, files[2], files[3]]
    groups = group_by_unit(items)
    assert [(unit.key, [s.name for s in members]) for unit, members in groups] == [
        ("l2 (pixels)", [str(files[0]), str(cohen)]),
        ("l1 (pixels)", [str(files[1])]),
        ("rotation parameter: degrees (radius around theta=0)", [str(files[2])]),
        ("brightness parameter: interval certificate over -0.2:0.2 (intensity)", [str(files[3])]),
    ]
    assert all(isinstance(unit, RadiusUnit) for unit, _ in groups)

    report = markdown_report([summarize(f, name=name) for f, name in
                              zip(items, ["l2.tsv", "l1.tsv", "cohen.tsv", "rot.tsv", "bright.tsv"])], radii=[0, 0.5])
    sections = report.split("\n### ")
    assert sections[0].startswith("4 groups of results whose radii measure different things")
    heads = [section.splitlines()[0] for section in sections[1:]]
    assert heads == ["l2 (pixels)", "l1 (pixels)", "rotation parameter: degrees (radius around theta=0)",
                     "brightness parameter: interval certificate over -0.2:0.2 (intensity)"]
    l2, l1, rot, interval = sections[1:]
    # each file in its own group's table only
    assert "| l2.tsv |" in l2 and "| cohen.tsv |" in l2 and "| l1.tsv |" not in l2 and "| rot.tsv |" not in l2
    assert "| l1.tsv |" in l1 and "| rot.tsv |" in rot and "| bright.tsv |" in interval
    assert "note: cohen.tsv: no norm column (locuslab/smoothing's Cohen format)" in l2 and "note:" not in l1
    for section in (l2, l1, rot):  # the legend line says what the columns mean
        assert "| file | n | r=0.00 | r=0.50 | ACR | abstain |" in section
        assert "fraction of ALL rows that are correct with certified radius >= x" in section and "ACR:" in section
    # interval certificates: no radius columns, no ACR, the fraction certified over the whole range
    assert "| file | n | certified (whole range) | abstain |" in interval and "r=0.50" not in interval
    assert f"| bright.tsv | 17 | {8 / 17:.3f} | {5 / 17:.3f} |" in interval
    assert "no radius columns and no ACR" in interval

    with pytest.raises(InvalidParameterError, match="radii measure one thing.*'l2 \\(pixels\\)'.*'l1 \\(pixels\\)'"):
        markdown_table([files[0], files[1]])


def test_report_radii_default_per_group(tmp_path):
    l2 = write_kind(tmp_path / "l2.tsv", [(1, 1, 0.3), (2, 2, 0.93), (3, 3, 0.0)], "l2")
    rot = write_kind(tmp_path / "rot.tsv", [(1, 1, 12.0), (2, 2, 31.0), (3, -1, 0.0)], "rotation")
    assert default_radii([l2]) == (0.0, 0.25, 0.5, 0.75)
    assert default_radii([rot]) == (0.0, 10.0, 20.0, 30.0)
    assert default_radii([{"label": [1], "predict": [2], "radius": [3.0]}]) == (0.0,)  # nothing certified
    report = markdown_report([l2, rot])
    assert "| file | n | r=0.00 | r=0.25 | r=0.50 | r=0.75 | ACR | abstain |" in report
    assert "| file | n | r=0.00 | r=10.00 | r=20.00 | r=30.00 | ACR | abstain |" in report
    given = markdown_report([l2, rot], radii=[0, 1])  # given radii apply to every group as given
    assert given.count("| file | n | r=0.00 | r=1.00 | ACR | abstain |") == 2


def test_figure_has_one_panel_per_unit_group(tmp_path):
    cohen = tmp_path / "cohen.tsv"
    cohen.write_text(COHEN_TEXT)
    l2, l1, rot, interval = (write_kind(tmp_path / f"{k}.tsv", ROWS, k) for k in ("l2", "l1", "rotation", "interval"))
    figure = certified_accuracy_figure([l2, l1, cohen, rot, interval], labels=["a", "b", "c", "d", "e"])
    axes = figure.axes
    assert [ax.get_xlabel() for ax in axes] == [
        "certified radius (l2 norm, pixel space)",
        "certified radius (l1 norm, pixel space)",
        "certified radius, rotation parameter (degrees)",
        "brightness parameter over the whole range -0.2:0.2\n(intensity)",
    ]
    assert all(ax.get_ylabel() for ax in axes)
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in axes]
    assert legends == [["a", "c (read as l2)"], ["b"], ["d"], ["e"]]
    assert [len(ax.get_lines()) for ax in axes[:3]] == [2, 1, 1]
    bars = axes[3].patches
    assert len(bars) == 1 and bars[0].get_height() == pytest.approx(8 / 17)
    assert axes[2].get_xlim()[1] == pytest.approx(2.0 * 1.05)  # each panel's own radii, not the others'
    # one unit: one panel, as before
    single = certified_accuracy_figure([l2, cohen])
    assert len(single.axes) == 1


def test_plot_of_mixed_units_writes_one_png(tmp_path):
    l2, rot = write_kind(tmp_path / "l2.tsv", ROWS, "l2"), write_kind(tmp_path / "rot.tsv", ROWS, "rotation")
    out = plot_certified_accuracy([l2, rot], tmp_path / "mixed.png", max_radius=1.0)
    data = (tmp_path / "mixed.png").read_bytes()
    assert out == str(tmp_path / "mixed.png") and data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width > height  # two panels side by side
