"""Adaptive slicing (certify_interval(refine=D)): α is allocated to the whole refinement tree
before sampling, so the family-wise α holds whatever slices get split; it certifies what the
uniform slices cannot; the leaves partition the range."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import gsmooth
from gsmooth.errors import InvalidParameterError
from gsmooth.interval import engine
from gsmooth.interval.engine import refinement_alphas
from toy_models import MeanThreshold


def _tolerance(rate: float, trials: int) -> float:
    return rate + 3.0 * math.sqrt(rate * (1.0 - rate) / trials)


@pytest.mark.parametrize("k, depth", [(1, 0), (10, 0), (2, 1), (10, 3), (4, 8)])
def test_refinement_alphas_spend_alpha_over_every_possible_slice(k, depth):
    a = refinement_alphas(0.01, k, depth)
    total = sum(k * 2**d * a[d] for d in range(depth + 1))  # every slice the tree could test
    assert total == pytest.approx(0.01, rel=1e-12)
    assert (np.diff(a) < 0).all() or depth == 0


def test_refinement_certifies_what_uniform_slices_cannot_and_leaves_partition_the_range():
    """Range ±0.6 with σ = 0.1 and n = 500: a half-width 0.3 is beyond the best radius n/n can give
    (σΦ⁻¹((α/K)^(1/n)) ≈ 0.22), a half-width 0.15 is not."""
    smoother = gsmooth.Smoother(MeanThreshold(0.9), noise="gaussian", sigma=0.1, transform="brightness", num_classes=2)
    x = torch.tensor([0.0, 0.1, 0.25]).reshape(3, 1, 1, 1).expand(3, 1, 2, 2).contiguous()
    for sequential in (False, True):
        uniform = smoother.certify_interval(x, low=-0.6, high=0.6, slices=2, n0=50, n=500, sequential=sequential)
        refined = smoother.certify_interval(x, low=-0.6, high=0.6, slices=2, n0=50, n=500, sequential=sequential,
                                            refine=1)
        assert (uniform.prediction == -1).all()
        assert (refined.prediction == 0).all()
        for cert in refined:
            lows, highs = [leaf[0] for leaf in cert.leaves], [leaf[1] for leaf in cert.leaves]
            assert lows[0] == pytest.approx(-0.6) and highs[-1] == pytest.approx(0.6)
            assert np.allclose(lows[1:], highs[:-1])  # contiguous, no gap, no overlap
            assert all(leaf[3] == 0 and leaf[4] > leaf[5] for leaf in cert.leaves)
            assert cert.refine == 1 and cert.depth_alphas == tuple(refinement_alphas(0.001, 2, 1))
            assert cert.slice_alpha == pytest.approx(0.001 / 4)
        assert (refined.samples > uniform.samples).all()  # the halves were sampled too


def test_refine_zero_is_the_uniform_certificate():
    smoother = gsmooth.Smoother(MeanThreshold(0.9), noise="gaussian", sigma=0.2, transform="brightness", num_classes=2)
    x = torch.rand(4, 1, 2, 2) * 0.6
    a = smoother.certify_interval(x, low=-0.2, high=0.2, slices=4, n0=30, n=300)
    b = smoother.certify_interval(x, low=-0.2, high=0.2, slices=4, n0=30, n=300, refine=0)
    assert a == b


def _false_rate_at_the_boundary(trials=2000, alpha=0.1):
    """t = 0.7, x = 0.5, range ±0.2: the claim fails exactly at α = 0.2, and *every* slice ending at
    0.2 (depth 0, 1, 2) has p_A exactly at its requirement: refinement retries the boundary."""
    smoother = gsmooth.Smoother(MeanThreshold(0.7), noise="gaussian", sigma=0.2, transform="brightness", num_classes=2)
    x = torch.full((trials, 1, 1, 1), 0.5)
    certs = smoother.certify_interval(x, low=-0.2, high=0.2, slices=2, n0=20, n=1000, alpha=alpha, refine=2)
    a = refinement_alphas(alpha, 2, 2)
    boundary_tests = float(a.sum())  # one slice ending at 0.2 per depth
    return float((certs.prediction != -1).mean()), boundary_tests


def test_refinement_coverage_at_the_boundary():
    rate, bound = _false_rate_at_the_boundary()
    assert rate <= _tolerance(bound, 2000), (rate, bound)


def test_refinement_without_allocating_alpha_is_caught(monkeypatch):
    """A mutant that re-tests the halves at the uniform level α/K (no allocation to the tree)."""
    monkeypatch.setattr(engine, "refinement_alphas", lambda alpha, k, depth: np.full(depth + 1, alpha / k))
    rate, _ = _false_rate_at_the_boundary()
    assert rate > _tolerance(float(refinement_alphas(0.1, 2, 2).sum()), 2000), rate


@pytest.mark.parametrize("bad", [-1, 9, 1.5, True, "2"])
def test_refine_refuses_bad_depths(bad):
    smoother = gsmooth.Smoother(MeanThreshold(0.9), noise="gaussian", sigma=0.2, transform="brightness", num_classes=2)
    with pytest.raises(InvalidParameterError, match="refine expected an integer depth"):
        smoother.certify_interval(torch.zeros(1, 2, 2), low=-0.1, high=0.1, refine=bad)


def test_refine_refuses_several_parameters():
    model = MeanThreshold(0.9)
    smoother = gsmooth.Smoother(model, noise="gaussian", sigma=1.0, transform="translation", num_classes=2)
    with pytest.raises(InvalidParameterError, match="one-parameter range"):
        smoother.certify_interval(torch.zeros(1, 8, 8), low=(-2, -2), high=(2, 2), slices=2, refine=1)


def test_cli_refine_rows_carry_the_leaves(tmp_path, capsys):
    from gsmooth.cli import main
    from gsmooth.io.results import read_results
    from toy_models import fashion_mnist_checkpoint

    ckpt = fashion_mnist_checkpoint(tmp_path / "fm.pt")
    out = tmp_path / "r.tsv"
    code = main([str(a) for a in ["certify", "--model", ckpt, "--transform", "brightness", "--sigma", "0.1", "--range",
                                  "-0.6:0.6", "--slices", "2", "--refine", "1", "--sequential", "--n0", "20", "--n",
                                  "300", "--max", "2", "--no-progress", "--out", out]])
    stdout = capsys.readouterr().out
    assert code == 0 and "refinement tree (depth <= 1" in stdout
    table = read_results(out)
    assert table.config["refine"] == 1
    for text in table.extra["leaves"]:
        parts = [p.split(":") for p in str(text).split(";")]
        assert float(parts[0][0]) == -0.6 and float(parts[-1][1]) == 0.6 and 2 <= len(parts) <= 4


@pytest.mark.parametrize("argv, message", [
    (["--refine", "2"], "expected --range LO:HI with it"),
    (["--transform", "brightness", "--range", "-0.1:0.1", "--refine", "x"], "expected an integer depth"),
    (["--transform", "brightness", "--range", "-0.1:0.1", "--refine", "9"], "expected an integer depth"),
])
def test_cli_refine_refusals(tmp_path, capsys, argv, message):
    from gsmooth.cli import main
    from toy_models import fashion_mnist_checkpoint

    ckpt = fashion_mnist_checkpoint(tmp_path / "fm.pt")
    try:
        code = main([str(a) for a in ["certify", "--model", ckpt, *argv, "--max", "1", "--out", tmp_path / "x.tsv"]])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "x.tsv").exists()
