"""Sequential, target-aware certification (gsmooth.core.sequential): the α spent over the looks is
valid (coverage over many seeded trials on models whose truth is known in closed form, at p exactly
at the requirement, where peeking hurts most), a peeking mutant is caught, the draws are a prefix of
a fixed-n run's, and it saves samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

import gsmooth
from gsmooth.core import sequential
from gsmooth.core.sequential import SequentialPlan, look_alphas, look_schedule, sequential_bounds
from gsmooth.core.stats import clopper_pearson_lower, clopper_pearson_upper
from gsmooth.errors import InvalidParameterError
from toy_models import MeanThreshold


def _tolerance(rate: float, trials: int) -> float:
    return rate + 3.0 * math.sqrt(rate * (1.0 - rate) / trials)


# --------------------------------------------------------------------------------------------
# the schedule and the bounds
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 99, 100, 101, 250, 1000, 100_000])
def test_look_schedule_is_increasing_and_ends_at_n(n):
    looks = look_schedule(n)
    assert looks[-1] == n
    assert all(a < b for a, b in zip(looks, looks[1:]))
    assert looks[0] == min(n, 100)


@pytest.mark.parametrize("looks", [1, 2, 5, 11])
def test_look_alphas_sum_to_alpha(looks):
    a = look_alphas(0.003, looks)
    assert a.shape == (looks,)
    assert (a > 0).all()
    assert a.sum() == pytest.approx(0.003, rel=1e-12)
    assert a[-1] == pytest.approx(0.003 if looks == 1 else 0.0027)  # 90 % at the last look


@pytest.mark.parametrize("bad", [dict(n=0), dict(n=10, first=0), dict(n=10, growth=1.0), dict(n=2.5)])
def test_look_schedule_refuses_bad_input(bad):
    with pytest.raises(InvalidParameterError, match="expected"):
        look_schedule(**bad)


def test_clopper_pearson_upper_mirrors_lower_and_covers():
    counts = np.arange(0, 51)
    up = clopper_pearson_upper(counts, 50, 0.05)
    assert np.allclose(up, 1.0 - clopper_pearson_lower(50 - counts, 50, 0.05))
    assert up[-1] == 1.0 and (np.diff(up) > 0).all()
    # coverage: P(p > upper) <= alpha, exactly over the binomial law
    for p in (0.1, 0.5, 0.83, 0.97):
        miss = stats.binom.pmf(counts, 50, p)[up < p].sum()
        assert miss <= 0.05


def test_sequential_bounds_at_the_last_look_are_the_final_bound():
    plan = SequentialPlan.for_budget(400, 0.01)
    lower, upper = sequential_bounds(np.array([390]), 400, len(plan.looks) - 1, plan)
    assert lower[0] == upper[0] == pytest.approx(clopper_pearson_lower(390, 400, 0.009))
    lower, upper = sequential_bounds(np.array([100]), 100, 0, plan)
    # all 100 successes: the best final bound is 400/400 at the last look's 0.9 alpha
    assert upper[0] == pytest.approx(min(1.0, clopper_pearson_lower(400, 400, 0.009)))
    assert lower[0] == pytest.approx(clopper_pearson_lower(100, 100, plan.alphas[0]))


# --------------------------------------------------------------------------------------------
# coverage with known truth
# --------------------------------------------------------------------------------------------

TRIALS = 2000


def _point_false_rate(alpha: float, *, seed: int = 0) -> tuple[float, float]:
    """Additive Gaussian on one pixel x = 0.5, f = [x + δ < t]: p_A = Φ((t − 0.5)/σ) and the true
    radius of g is t − 0.5. The target is exactly the true radius (p_required = p_A): a certificate
    is false iff its p_lower exceeds p_A. Returns (false rate, mean estimation draws)."""
    sigma, p_true = 0.25, 0.8
    r_true = sigma * float(stats.norm.ppf(p_true))
    smoother = gsmooth.Smoother(MeanThreshold(0.5 + r_true), noise="gaussian", sigma=sigma, num_classes=2)
    x = torch.full((TRIALS, 1, 1, 1), 0.5)
    certs = smoother.certify(x, n0=20, n=3200, alpha=alpha, seed=seed, radii=[r_true])
    wrong = (certs.prediction == 0) & (certs.p_lower > p_true)
    wrong |= certs.prediction == 1  # class 1 is never g(x)
    return float(wrong.mean()), float((certs.samples - 20).mean())


def test_point_sequential_coverage_at_the_requirement():
    rate, drawn = _point_false_rate(0.05)
    assert rate <= _tolerance(0.05, TRIALS), rate
    assert drawn < 3200  # some trials stopped early (futility)


def test_peeking_mutant_is_caught(monkeypatch):
    """Testing each look at the full α (no split) — "sample until certified", as TSS's code does
    for its sampling loop — breaks the α: the same test must fail on it."""
    monkeypatch.setattr(sequential, "look_alphas", lambda alpha, looks: np.full(looks, float(alpha)))
    rate, _ = _point_false_rate(0.05)
    assert rate > _tolerance(0.05, TRIALS), rate


def test_interval_sequential_coverage_at_the_range_end():
    """Brightness with f = [mean < t], t = 0.7, range [-0.2, 0.2], K = 2: g(τ(α, x)) = 0 iff
    0.5 + α < 0.7, so the claim "0 on the whole range" fails exactly at α = 0.2, and the last
    slice's p_A equals its requirement. False certificates must stay within that slice's α/K."""
    alpha, k = 0.1, 2
    smoother = gsmooth.Smoother(MeanThreshold(0.7), noise="gaussian", sigma=0.2, transform="brightness", num_classes=2)
    x = torch.full((TRIALS, 1, 1, 1), 0.5)
    certs = smoother.certify_interval(x, low=-0.2, high=0.2, slices=k, n0=20, n=3200, alpha=alpha, sequential=True)
    false = float((certs.prediction != -1).mean())  # every certificate here is false (the claim fails at 0.2)
    assert false <= _tolerance(alpha / k, TRIALS), false
    assert (certs.samples < k * 3220).mean() > 0.5  # most trials stopped early


def test_interval_sequential_coverage_catches_the_peeking_mutant(monkeypatch):
    monkeypatch.setattr(sequential, "look_alphas", lambda alpha, looks: np.full(looks, float(alpha)))
    alpha, k = 0.1, 2
    smoother = gsmooth.Smoother(MeanThreshold(0.7), noise="gaussian", sigma=0.2, transform="brightness", num_classes=2)
    x = torch.full((TRIALS, 1, 1, 1), 0.5)
    certs = smoother.certify_interval(x, low=-0.2, high=0.2, slices=k, n0=20, n=3200, alpha=alpha, sequential=True)
    assert float((certs.prediction != -1).mean()) > _tolerance(alpha / k, TRIALS)


# --------------------------------------------------------------------------------------------
# the draws, the stopping, the savings
# --------------------------------------------------------------------------------------------


def _brightness_smoother():
    return gsmooth.Smoother(MeanThreshold(0.9), noise="gaussian", sigma=0.2, transform="brightness", num_classes=2)


def test_draws_are_a_prefix_of_the_fixed_n_run():
    """A unit that never stops early counts exactly the fixed-n votes: the looks continue one stream."""
    smoother = gsmooth.Smoother(MeanThreshold(0.6), noise="gaussian", sigma=0.25, num_classes=2)
    x = torch.rand(3, 1, 4, 4) * 0.2 + 0.45
    calls = []

    def never_resolved(idx, p):  # the lower bound's level 0, the upper one's 1: keep sampling
        calls.append(1)
        return np.full(len(idx), 0 if len(calls) % 2 else 1)

    c_hat, n_a, p_low, drawn = smoother._sequential_select_and_bound(
        x, n0=30, n=1000, alpha=0.01, batch_size=256, seed=3, keys=[0, 1, 2], progress=False, level=never_resolved,
    )
    fixed = smoother.certify(x, n0=30, n=1000, alpha=0.01, batch_size=300, seed=3)
    assert (drawn == 1000).all()
    assert n_a.tolist() == fixed.count.tolist()
    assert np.allclose(p_low, clopper_pearson_lower(n_a, 1000, 0.009))  # the last look's share: 0.9 alpha
    assert len(calls) == 2 * (len(look_schedule(1000)))


def test_point_sequential_stops_early_far_from_the_target_and_reports_its_samples():
    smoother = gsmooth.Smoother(MeanThreshold(0.9), noise="gaussian", sigma=0.25, num_classes=2)
    x = torch.stack([torch.full((1, 2, 2), 0.0), torch.full((1, 2, 2), 0.88)])
    seq = smoother.certify(x, n0=50, n=5000, alpha=0.001, radii=0.1)
    fixed = smoother.certify(x, n0=50, n=5000, alpha=0.001)
    assert seq.samples[0] == 150  # far inside: covered at the first look
    assert fixed.samples.tolist() == [5050, 5050]
    assert seq.n.tolist() == [5000, 5000]  # n is the maximum
    assert seq.radius[0] >= 0.1 and fixed.radius[0] >= 0.1
    assert seq.radius[1] < 0.1 and fixed.radius[1] < 0.1  # the same answer at the target
    assert seq.samples[1] < 5050  # close to the boundary of class 0: surely fails before n


def test_interval_stops_an_image_whose_slices_select_different_classes():
    x = torch.full((1, 1, 2, 2), 0.85)  # brightness +0.2 crosses t = 0.9
    cert = _brightness_smoother().certify_interval(x, low=-0.2, high=0.2, slices=4, n0=50, n=5000, sequential=True)
    assert cert.prediction == -1
    assert cert.samples == 4 * 50  # selection only
    assert cert.sequential and cert.n == 5000


def test_interval_sequential_agrees_with_fixed_n_and_saves_samples():
    x = torch.cat([torch.full((3, 1, 2, 2), 0.3), torch.full((2, 1, 2, 2), 0.62)])
    smoother = _brightness_smoother()
    fixed = smoother.certify_interval(x, low=-0.2, high=0.2, slices=4, n0=50, n=5000)
    seq = smoother.certify_interval(x, low=-0.2, high=0.2, slices=4, n0=50, n=5000, sequential=True)
    assert seq.prediction.tolist() == fixed.prediction.tolist()
    assert (fixed.samples == 4 * 5050).all()
    assert seq.samples.sum() * 5 < fixed.samples.sum()


def test_sequential_argument_checks():
    smoother = _brightness_smoother()
    x = torch.full((1, 2, 2), 0.3)
    with pytest.raises(InvalidParameterError, match="sequential expected True or False"):
        smoother.certify_interval(x, low=-0.2, high=0.2, sequential="yes")
    for bad in ([], [0.1, -1.0], "0.5", [float("nan")], True):
        with pytest.raises(InvalidParameterError, match="radii expected positive finite"):
            smoother.certify(x, radii=bad)


# --------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------


def _cli(capsys, *argv):
    from gsmooth.cli import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_sequential_interval_rows_record_samples_and_resume(tmp_path, capsys):
    from gsmooth.io.results import read_results
    from toy_models import fashion_mnist_checkpoint

    ckpt = fashion_mnist_checkpoint(tmp_path / "fm.pt")
    out = tmp_path / "seq.tsv"
    args = ["certify", "--model", ckpt, "--transform", "brightness", "--range", "-0.1:0.1", "--slices", "4",
            "--sequential", "--n0", "20", "--n", "400", "--max", "3", "--no-progress", "--out", out]
    code, stdout, _ = _cli(capsys, *args)
    assert code == 0, stdout
    table = read_results(out)
    used = table.extra["samples"]
    assert len(table) == 3 and ((used >= 4 * 20) & (used <= 4 * 420)).all()
    assert "samples" in stdout and "n<=400 (sequential)" in stdout
    # the same command resumes (nothing new); the fixed-n command is another configuration: refused
    assert _cli(capsys, *args)[0] == 0
    assert len(read_results(out)) == 3
    code, _, err = _cli(capsys, *[a for a in args if a != "--sequential"])
    assert code == 2 and "sequential" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--sequential"], "expected --range LO:HI"),
        (["--radii", "0.1", "--target", "0.2"], "expected one of them"),
        (["--radii", "0.1,-2"], "expected positive numbers"),
        (["--target", "0.1,0.2"], "expected one radius"),
        (["--transform", "brightness", "--range", "-0.1:0.1", "--radii", "0.1"], "expected --sequential, got --radii"),
    ],
)
def test_cli_sequential_refuses_bad_combinations(tmp_path, capsys, extra, message):
    from toy_models import fashion_mnist_checkpoint

    ckpt = fashion_mnist_checkpoint(tmp_path / "fm.pt")
    code, _, err = _cli(capsys, "certify", "--model", ckpt, *extra, "--max", "1", "--out", tmp_path / "x.tsv")
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()[-1]) > 0
    assert not (tmp_path / "x.tsv").exists()


def test_cli_point_radii_same_certified_accuracy_fewer_samples(tmp_path, capsys):
    from gsmooth.io.results import read_results
    from toy_models import fashion_mnist_checkpoint

    ckpt = fashion_mnist_checkpoint(tmp_path / "fm.pt")
    common = ["certify", "--model", ckpt, "--n0", "20", "--n", "1000", "--max", "4", "--no-progress"]
    assert _cli(capsys, *common, "--out", tmp_path / "fixed.tsv")[0] == 0
    assert _cli(capsys, *common, "--target", "0.05", "--out", tmp_path / "seq.tsv")[0] == 0
    fixed, seq = read_results(tmp_path / "fixed.tsv"), read_results(tmp_path / "seq.tsv")
    assert (seq.extra["samples"] <= 1020).all() and "samples" not in fixed.extra
    reached = lambda t: ((t.predict == t.label) & (t.radius >= 0.05)).tolist()  # noqa: E731
    assert reached(seq) == reached(fixed)  # the same answer at the target (this seed)
    assert seq.config["radii"] == [0.05] and seq.config["sequential"] is True


def test_embedded_defaults_accept_sequential_only_for_intervals():
    from gsmooth.embedded import EmbeddedDefault, embedded_default

    entry = {"transform": "rotational_blur", "model": "m.pt", "n0": 20, "n": 1000, "max_images": 4, "interval": True,
             "sequential": True}
    assert EmbeddedDefault.from_dict(entry).sequential is True
    with pytest.raises(InvalidParameterError, match="sequential only with interval true"):
        EmbeddedDefault.from_dict({**entry, "interval": False})
    with pytest.raises(InvalidParameterError, match="expected sequential true or false"):
        EmbeddedDefault.from_dict({**entry, "sequential": "yes"})
    assert embedded_default("additive").sequential is False


def test_embedded_interval_default_certifies_sequentially(tmp_path, capsys, monkeypatch):
    """Without --model the embedded rotational-blur default certifies its range sequentially when its entry says so."""
    import dataclasses

    from gsmooth import embedded
    from gsmooth.io.results import read_results

    emb = embedded.embedded_default("rotational_blur")
    patched = dataclasses.replace(emb, sequential=True, max_images=1, n=200)
    monkeypatch.setattr(embedded, "embedded_default", lambda name: patched if name == "rotational_blur" else emb)
    out = tmp_path / "rb.tsv"
    code, stdout, _ = _cli(capsys, "certify", "--transform", "rotational_blur", "--no-progress", "--out", out)
    assert code == 0 and "(sequential)" in stdout
    table = read_results(out)
    assert table.config["sequential"] is True and "samples" in table.extra
