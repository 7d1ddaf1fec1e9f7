"""``gsmooth analyze`` end to end (in-process through ``gsmooth.cli.main``): one table and one plot
panel per unit group, predict files and unsafe ``--plot`` paths refused with one line and exit 2."""

from __future__ import annotations

import pytest

from gsmooth.cli import main
from gsmooth.io.results import ResultsWriter

ROWS = [(1, 1, 0.3), (2, 2, 0.9), (3, -1, 0.0), (4, 5, 0.2)]
ROTATION = [(1, 1, 12.0), (2, 2, 31.0), (3, -1, 0.0)]
COHEN = (
    "idx\tlabel\tpredict\tradius\tcorrect\ttime\n"
    "0\t3\t3\t0.412\t1\t0:00:02.345678\n"
    "20\t8\t-1\t0.0\t0\t0:00:02.100000\n"
)


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write(path, rows, columns, config):
    with ResultsWriter(path, columns=list(columns), config=config) as w:
        for i, (label, predict, radius) in enumerate(rows):
            w.write({"idx": i, "label": label, "predict": predict, "radius": radius, "time": 0.1, **columns})
    return path


@pytest.fixture
def files(tmp_path):
    cohen = tmp_path / "cohen.tsv"
    cohen.write_text(COHEN)
    return {
        "l2": write(tmp_path / "l2.tsv", ROWS, {"norm": "l2", "transform": "additive"}, {"transform": "additive"}),
        "l1": write(tmp_path / "l1.tsv", ROWS, {"norm": "l1", "transform": "additive"}, {"transform": "additive"}),
        "rot": write(
            tmp_path / "rot.tsv", ROTATION,
            {"norm": "param [degrees]", "transform": "rotation(padding_mode=zeros)", "certificate": "radius",
             "units": "degrees (radius around theta=0)"},
            {"transform": "rotation", "certificate": "radius"},
        ),
        "cohen": cohen,
    }


def test_analyze_mixed_units_one_table_per_group(files, tmp_path, capsys):
    png = tmp_path / "curve.png"
    code, out, err = run_cli(capsys, "analyze", files["l2"], files["l1"], files["rot"], files["cohen"],
                             "--labels", "gauss,laplace,rot,cohen", "--plot", png)
    assert code == 0, err
    assert out.startswith("3 groups of results whose radii measure different things")
    sections = out.split("\n### ")[1:]
    assert [s.splitlines()[0] for s in sections] == [
        "l2 (pixels)", "l1 (pixels)", "rotation parameter: degrees (radius around theta=0)"]
    l2, l1, rot = sections
    assert "| gauss |" in l2 and "| cohen |" in l2 and "| laplace |" not in l2 and "| rot |" not in l2
    assert "note: cohen: no norm column" in l2
    # without --radii each group has its own radii: the rotation's are degrees, not 0.25 of them
    assert "| file | n | r=0.00 | r=0.25 | r=0.50 | r=0.75 | ACR | abstain |" in l2
    assert "| file | n | r=0.00 | r=10.00 | r=20.00 | r=30.00 | ACR | abstain |" in rot
    assert "| rot | 3 | 0.667 | 0.667 | 0.333 | 0.333 | 14.333 | 0.333 |" in rot
    assert "ACR: average certified radius" in l1
    assert "plot written to" in out and "3 panels, one per unit group" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_analyze_radii_apply_to_every_group(files, capsys):
    code, out, err = run_cli(capsys, "analyze", files["l2"], files["rot"], "--radii", "0,0.5")
    assert code == 0, err
    assert out.count("| file | n | r=0.00 | r=0.50 | ACR | abstain |") == 2


def test_analyze_refuses_a_predict_file(files, tmp_path, capsys):
    predict = tmp_path / "p.tsv"
    with ResultsWriter(predict, columns=["count", "noise"], config={"command": "predict"}, radius=False) as w:
        w.write({"idx": 0, "label": 1, "predict": 1, "time": 0.1, "count": 5, "noise": "gaussian"})
    code, out, err = run_cli(capsys, "analyze", files["l2"], predict)
    assert code == 2
    assert out == ""  # nothing half-printed
    assert err.count("\n") == 1
    assert err.startswith(f"gsmooth analyze: error: {predict}: expected a certify results file with a radius "
                          "column, got a predict file without one (columns idx, label, predict, correct, time, count, "
                          "noise)")
    assert "gsmooth certify" in err


def test_analyze_refuses_plot_over_an_input_or_an_existing_file(files, tmp_path, capsys):
    before = files["l2"].read_bytes()
    code, out, err = run_cli(capsys, "analyze", files["l2"], "--plot", files["l2"])
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "--plot expected a path that is not an input" in err and "which is the input" in err
    assert files["l2"].read_bytes() == before
    code, _, err = run_cli(capsys, "analyze", files["l2"], "--plot", str(files["l2"]) + ".json")
    assert code == 2 and "which is the sidecar of" in err
    existing = tmp_path / "old.png"
    existing.write_bytes(b"keep me")
    code, out, err = run_cli(capsys, "analyze", files["l2"], "--plot", existing)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "--plot expected a new file" in err and "already exists" in err
    assert existing.read_bytes() == b"keep me"
    code, out, err = run_cli(capsys, "analyze", files["l2"], "--plot", tmp_path / "curve.jpg")
    assert code == 2 and "expected a suffix among .png" in err and not (tmp_path / "curve.jpg").exists()


def test_analyze_still_reads_cohen_files(files, capsys):
    code, out, err = run_cli(capsys, "analyze", files["cohen"], "--radii", "0,0.4,0.5")
    assert code == 0, err
    assert out.startswith("### l2 (pixels)")
    assert f"| {files['cohen']} | 2 | 0.500 | 0.500 | 0.000 | 0.206 | 0.500 |" in out
    assert "no norm column (locuslab/smoothing's Cohen format): radii read as Gaussian smoothing's l2 radii" in out


def test_analyze_help_documents_units_and_radii(capsys):
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "applied to every radius group as given" in text
    assert "one table and one plot panel per group" in text
    assert "refused" in text
