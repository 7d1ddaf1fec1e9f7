"""End-to-end tests of ``gsmooth verify`` (and ``gsmooth train --arch mlp<widths>``, ``gsmooth analyze``
on its rows), run in-process as a user would.

The checkpoint is a small MLP trained here on 1000 Fashion-MNIST images (a few seconds); everything
runs on the real code (the torch encoder, IBP). The other methods through the CLI:
``tests/test_verification_integration.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gsmooth.cli import main
from gsmooth.io.checkpoints import load_checkpoint, save_checkpoint
from gsmooth.io.results import read_results


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def mlp_ckpt(tmp_path_factory) -> Path:
    """``gsmooth train --arch mlp24`` on 1000 images, one epoch, no noise."""
    path = tmp_path_factory.mktemp("mlp") / "mlp.pt"
    code = main(["train", "--dataset", "fashion-mnist", "--arch", "mlp24", "--no-noise", "--epochs", "1", "--max-train",
                 "1000", "--max-eval", "100", "--no-progress", "--out", str(path)])
    assert code == 0
    return path


def dataset_images(indices):
    from gsmooth.data.datasets import load_dataset

    data = load_dataset("fashion-mnist", split="test")
    return [data[i] for i in indices]


EPS = "0.002,0.02,0.01"  # sorted by the command: 0.002, 0.01, 0.02


def test_train_mlp_arch_and_verify_rows(mlp_ckpt, tmp_path, capsys):
    ckpt = load_checkpoint(mlp_ckpt)
    assert ckpt.arch == "mlp24"
    model = ckpt.build_model()
    assert [m.out_features for m in model.net if isinstance(m, torch.nn.Linear)] == [24, 10]
    out = tmp_path / "v.tsv"
    code, stdout, err = run_cli(capsys, "verify", "--model", mlp_ckpt, "--method", "ibp", "--norm", "linf", "--eps", EPS,
                                "--max", "12", "--no-progress", "--out", out)
    assert code == 0, err
    assert "gsmooth verify: 12 images of fashion-mnist" in stdout and "784-24-10, 24 ReLUs" in stdout
    header = out.read_text().splitlines()[0].split("\t")
    assert header == ["idx", "label", "predict", "radius", "correct", "time", "norm", "method", "certificate", "eps",
                      "answers", "min_margin", "margins", "adversarial_class", "adversarial_distance", "status"]
    t = read_results(out)
    assert t.idx.tolist() == list(range(12)) and t.config["command"] == "verify" and t.config["eps"] == [0.002, 0.01, 0.02]
    from gsmooth.verification import verify

    answers_seen = set()
    for i, (x, y) in enumerate(dataset_images(range(12))):
        with torch.no_grad():
            pred = int(model(x[None]).argmax())
        assert t.predict[i] == pred and t.label[i] == y and t.correct[i] == int(pred == y)
        assert t.extra["eps"][i] == "0.002,0.01,0.02" and t.extra["norm"][i] == "linf"
        assert t.extra["method"][i] == "ibp" and t.extra["certificate"][i] == "verification"
        answers = t.extra["answers"][i].split(",")
        answers_seen |= set(answers)
        mins = [float(v) for v in t.extra["min_margin"][i].split(",")]
        assert len(answers) == len(mins) == len(t.extra["status"][i].split(",")) == 3
        yes = [e for e, a in zip((0.002, 0.01, 0.02), answers) if a == "YES"]
        assert t.radius[i] == (max(yes) if yes else 0.0)
        margins = dict(pair.split(":") for pair in t.extra["margins"][i].split(","))
        assert sorted(int(k) for k in margins) == [c for c in range(10) if c != y]
        statuses = t.extra["status"][i].split(",")
        examined = [j for j, st in enumerate(statuses) if st != "skipped"]
        # the radii after the first MAYBE are skipped (answer MAYBE, no margin); a NO carries upwards
        first_maybe = answers.index("MAYBE") if "MAYBE" in answers else 3
        assert examined == list(range(min(first_maybe + 1, 3)))
        assert all(answers[j] == "MAYBE" and math.isnan(mins[j]) for j in range(first_maybe + 1, 3))
        if "NO" in answers:
            assert answers[answers.index("NO"):] == ["NO"] * (3 - answers.index("NO"))
        assert min(float(v) for v in margins.values()) == pytest.approx(mins[examined[-1]])  # at the largest examined
        for j in examined:  # the library gives the same answer where the radius was examined
            e, a, m = (0.002, 0.01, 0.02)[j], answers[j], mins[j]
            v = verify(model, x, y, method="ibp", norm="linf", eps=e)
            assert (v.answer, v.min_margin) == (a, pytest.approx(m, rel=1e-12, abs=1e-12))
        if pred != y:
            assert answers == ["NO"] * 3 and t.extra["adversarial_class"][i] == pred
            assert float(t.extra["adversarial_distance"][i]) == 0.0
        else:
            assert "NO" not in answers and math.isnan(float(t.extra["adversarial_distance"][i]))
    assert {"YES", "NO"} <= answers_seen  # the model is neither perfect nor useless on these images
    # gsmooth analyze reads the rows: one linf group, certified accuracy = fraction answered YES at eps
    code, report, err = run_cli(capsys, "analyze", out, "--radii", "0,0.002,0.01,0.02")
    assert code == 0, err
    assert "### linf (pixels)" in report
    row = next(line for line in report.splitlines() if line.startswith(f"| {out}"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    expected = [np.mean([a.split(",")[j] == "YES" for a in t.extra["answers"]]) for j in range(3)]
    assert [float(c) for c in cells[3:6]] == pytest.approx(expected, abs=1e-3)
    assert float(cells[2]) == pytest.approx(t.correct.mean(), abs=1e-3)


def test_resume_after_a_partial_file_and_refusal_of_another_configuration(mlp_ckpt, tmp_path, capsys):
    out = tmp_path / "v.tsv"
    args = ["verify", "--model", mlp_ckpt, "--method", "ibp", "--norm", "l2", "--eps", "0.05,0.2", "--no-progress",
            "--out", out]
    assert run_cli(capsys, *args, "--max", "6")[0] == 0
    full = out.read_text().splitlines(keepends=True)
    out.write_text("".join(full[:3]) + full[3][:17])  # killed while writing the third row
    code, _, err = run_cli(capsys, *args, "--max", "8")
    assert code == 0 and "resuming" in err and "2 rows present, 6 to go" in err
    again = out.read_text().splitlines(keepends=True)

    def no_time(line):  # the time column differs from run to run
        cells = line.split("\t")
        return cells[:5] + cells[6:]

    assert [no_time(r) for r in again[:7]] == [no_time(r) for r in full[:7]] and len(again) == 9
    code, _, err = run_cli(capsys, "verify", "--model", mlp_ckpt, "--method", "ibp", "--norm", "l2", "--eps", "0.05",
                           "--no-progress", "--max", "8", "--out", out)
    assert code == 2 and "different configuration" in err and "eps" in err and len(err.strip().splitlines()) == 1
    assert len(out.read_text().splitlines()) == 9  # untouched


def test_radius_search_rows_and_saved_adversarials(mlp_ckpt, tmp_path, capsys):
    out, adv = tmp_path / "s.tsv", tmp_path / "adv"
    code, stdout, err = run_cli(capsys, "verify", "--model", mlp_ckpt, "--method", "ibp", "--norm", "linf",
                                "--radius-search", "--eps-max", "0.1", "--radius-tol", "0.002", "--max", "12",
                                "--no-progress", "--save-adversarial", adv, "--out", out)
    assert code == 0, err
    assert "mean certified radius (ACR)" in stdout
    t = read_results(out)
    assert "radius_upper" in t.extra and t.config["radius_search"] is True and t.config["eps_max"] == 0.1
    model = load_checkpoint(mlp_ckpt).build_model()
    images = dataset_images(range(12))
    from gsmooth.verification import verify

    for i in range(12):
        eps = [float(v) for v in t.extra["eps"][i].split(",")]
        answers = t.extra["answers"][i].split(",")
        assert len(eps) == len(answers) and eps[0] == 0.0
        upper = float(t.extra["radius_upper"][i])
        if t.correct[i]:
            assert eps[1] == 0.1 and answers[0] == "YES"
            assert t.radius[i] in [e for e, a in zip(eps, answers) if a == "YES"]
            assert upper == math.inf or t.radius[i] < upper <= t.radius[i] + 0.002
            x, y = images[i]  # the radius is proved (again, by the library)
            assert verify(model, x, y, method="ibp", norm="linf", eps=float(t.radius[i])).answer == "YES"
        else:
            assert (t.radius[i], upper, answers) == (0.0, 0.0, ["NO"])
    wrong = [int(i) for i in t.idx[t.correct == 0]]
    assert wrong, "the 12 images include a misclassified one"
    assert sorted(p.name for p in adv.iterdir()) == sorted(f"idx{i}_eps0.0.pt" for i in wrong)
    for i in wrong:  # each saved input (C, H, W) is the image, classified as the row says
        saved = torch.load(adv / f"idx{i}_eps0.0.pt", weights_only=True)
        x, y = images[i]
        assert saved.shape == (1, 28, 28) and saved.dtype == torch.float32 and torch.equal(saved, x)
        with torch.no_grad():
            assert int(model(saved[None]).argmax()) == int(t.extra["adversarial_class"][list(t.idx).index(i)]) != y
    # never overwritten: a different file under a name this run writes stops it with one line
    torch.save(torch.zeros(3), adv / f"idx{wrong[0]}_eps0.0.pt")
    code, _, err = run_cli(capsys, "verify", "--model", mlp_ckpt, "--method", "ibp", "--norm", "linf", "--radius-search",
                           "--eps-max", "0.1", "--radius-tol", "0.002", "--max", "12", "--no-progress",
                           "--save-adversarial", adv, "--out", tmp_path / "s3.tsv")
    assert code == 2 and "never overwrites" in err and len(err.strip().splitlines()) == 1
    assert torch.equal(torch.load(adv / f"idx{wrong[0]}_eps0.0.pt", weights_only=True), torch.zeros(3))


def test_unsupported_model_is_refused_before_any_work(tmp_path, capsys):
    from gsmooth.data.datasets import dataset_info
    from gsmooth.models.architectures import build_model

    info = dataset_info("fashion-mnist")
    model = build_model("resnet8", num_classes=10, input_shape=info.input_shape, mean=info.mean, std=info.std)
    ckpt = tmp_path / "resnet.pt"
    save_checkpoint(ckpt, model=model, arch="resnet8", dataset="fashion-mnist", num_classes=10,
                    input_shape=info.input_shape, mean=info.mean, std=info.std, epoch=1, smoothing={})
    out = tmp_path / "r.tsv"
    code, _, err = run_cli(capsys, "verify", "--model", ckpt, "--method", "crown", "--norm", "l2", "--eps", "0.1",
                           "--out", out)
    assert code == 2 and "expected a feed-forward chain" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and not out.exists() and not Path(str(out) + ".json").exists()


@pytest.mark.parametrize("extra, needle", [
    (["--eps", "-0.1"], "expected radii that are finite numbers >= 0, got '-0.1'"),
    (["--eps", "0.1,abc"], "expected comma-separated radii like 0.01,0.02, got '0.1,abc'"),
    (["--eps", "0.1", "--domain", "1:0"], "expected LOW:HIGH with finite LOW <= HIGH (e.g. 0:1) or none, got '1:0'"),
    (["--eps", "0.1", "--time-limit", "0"], "expected a positive"),
    (["--eps", "0.1", "--radius-search"], "not allowed with argument"),
    ([], "one of the arguments --eps --radius-search is required"),
])
def test_bad_arguments_exit_2(mlp_ckpt, tmp_path, capsys, extra, needle):
    with pytest.raises(SystemExit) as exc:
        main(["verify", "--model", str(mlp_ckpt), "--method", "ibp", "--norm", "linf", *extra, "--out", str(tmp_path / "r.tsv")])
    assert exc.value.code == 2 and needle in capsys.readouterr().err
    assert not (tmp_path / "r.tsv").exists()


def test_errors_are_one_line_exit_2(mlp_ckpt, tmp_path, capsys):
    out = tmp_path / "r.tsv"
    base = ["verify", "--method", "ibp", "--norm", "linf"]
    cases = [
        ([*base, "--model", mlp_ckpt, "--eps", "0.1", "--eps-max", "0.5", "--out", out], "--eps-max expected --radius-search"),
        ([*base, "--model", tmp_path / "missing.pt", "--eps", "0.1", "--out", out], "missing.pt"),
        ([*base, "--model", mlp_ckpt, "--eps", "0.1", "--out", tmp_path / "no" / "dir" / "r.tsv"], "does not exist"),
        ([*base, "--model", mlp_ckpt, "--eps", "0.1", "--out", mlp_ckpt], "expected"),
        ([*base, "--model", mlp_ckpt, "--eps", "0.1", "--start", "20000", "--out", out], "expected to select at least one"),
        ([*base, "--model", mlp_ckpt, "--eps", "0.1", "--save-adversarial", mlp_ckpt, "--out", out], "which is a file"),
        ([*base, "--model", mlp_ckpt, "--eps", "0.1", "--dataset", "cifar10", "--out", out],
         "--dataset expected a dataset of (1, 28, 28) images (the model's), got 'cifar10' with (3, 32, 32)"),
    ]
    for argv, needle in cases:
        code, _, err = run_cli(capsys, *argv)
        assert code == 2, (argv, err)
        assert needle in err and "Traceback" not in err, (argv, err)
        assert len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.parametrize("kwargs, words", [
    (dict(eps=[0.1], radius_search=True), "expected eps (the radii) or radius_search=True, got both"),
    (dict(), "expected eps (the radii) or radius_search=True, got neither"),
    (dict(eps=[0.1], eps_max=0.5), "expected eps_max only with radius_search=True"),
    (dict(eps=[-0.1]), "expected eps one or more finite numbers >= 0, got [-0.1]"),
    (dict(eps=[]), "expected eps one or more finite numbers >= 0, got []"),
    (dict(eps=[0.1], method="pgd"), "expected method one of ibp, crown, lp, milp, got 'pgd'"),
    (dict(eps=[0.1], norm="l1"), "expected norm one of linf, l2, got 'l1'"),
    (dict(radius_search=True, radius_tol=0.0), "expected radius_tol a positive finite number, got 0.0"),
    (dict(eps=[0.1], domain=(0.0,)), "expected domain (low, high) with finite low <= high, or None, got (0.0,)"),
    (dict(eps=[0.1], time_limit=-1), "expected time_limit a positive finite number of seconds or None, got -1"),
    (dict(eps=[0.1], max=0), "parameter 'max' expected"),
])
def test_verify_config_refuses_bad_fields(kwargs, words):
    from gsmooth.errors import InvalidParameterError
    from gsmooth.run import VerifyConfig

    args = dict(model="m.pt", out="v.tsv", method="ibp", norm="linf") | kwargs
    with pytest.raises(InvalidParameterError) as exc:
        VerifyConfig(**args)
    assert words in str(exc.value) and "got" in str(exc.value)


def test_library_run_writes_the_rows_the_cli_writes(mlp_ckpt, tmp_path, capsys):
    from gsmooth.run import VerifyConfig, verify

    args = ["verify", "--model", mlp_ckpt, "--method", "ibp", "--norm", "l2", "--eps", "0.1,0.3", "--max", "4",
            "--no-progress"]
    assert run_cli(capsys, *args, "--out", tmp_path / "cli.tsv")[0] == 0
    done = verify(VerifyConfig(model=str(mlp_ckpt), out=str(tmp_path / "lib.tsv"), method="ibp", norm="l2",
                               eps=(0.3, 0.1), max=4, progress=False))
    assert done.indices == [0, 1, 2, 3] and done.setup.network.hidden_sizes == (24,)

    def rows(name):
        return [line.split("\t")[:5] + line.split("\t")[6:] for line in (tmp_path / name).read_text().splitlines()]

    assert rows("lib.tsv") == rows("cli.tsv")
    import json

    assert json.loads((tmp_path / "lib.tsv.json").read_text())["config"] == json.loads(
        (tmp_path / "cli.tsv.json").read_text())["config"]
