"""The path-deviation penalty of surrogate training (gsmooth.surrogate.train.path_penalty,
``train_surrogate(path_weight=…)``, ``gsmooth surrogate train --path-weight``) and the held-out G of
``gsmooth surrogate eval``.

The penalty is ‖F2(τ(α, x)) − F2(τ(α', x)) − W(α − α')‖² / m / max(‖(α − α')/width‖², eps): zero
exactly when F2 is affine along the path with slope W, and it is what drives G (and so M*) down.
"""

from __future__ import annotations

import math
import re

import pytest
import torch

import gsmooth
from gsmooth.errors import CheckpointError, InvalidParameterError
from gsmooth.surrogate.evaluate import heldout_G
from gsmooth.surrogate.io import load_surrogate
from gsmooth.surrogate.lipschitz import estimate_G
from gsmooth.surrogate.model import SurrogateModel
from gsmooth.surrogate.train import DEFAULT_PATH_WEIGHT, PATH_EPS, path_penalty, read_training_state, train_surrogate

SHAPE = (1, 6, 6)
M = 36


def _directions(d: int, seed: int = 0) -> torch.Tensor:
    return torch.randn((d, *SHAPE), generator=torch.Generator().manual_seed(seed))


class AlongDirections(gsmooth.Transform):
    """τ(θ, x) = x + Σ_j θ_j v_j: a straight path whose velocity v is the same for every image."""

    name = "test_along_directions"
    kind = "empirical"

    def __init__(self, v: torch.Tensor):
        super().__init__()
        self.param_dim = v.shape[0]
        self.register_buffer("v", v)

    def forward(self, x, theta):
        return x + torch.einsum("bd,dchw->bchw", theta.to(x.dtype).reshape(x.shape[0], -1), self.v)


class Darken(gsmooth.Transform):
    """τ(θ, x) = x · (1 − θ/2): the velocity −x/2 depends on the image, so no single W fits."""

    name = "test_pp_darken"
    param_dim = 1
    kind = "empirical"

    def __init__(self):
        super().__init__()

    def forward(self, x, theta):
        return x * (1 - 0.5 * theta.to(x.dtype).reshape(-1, 1, 1, 1))


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand((n, *SHAPE), generator=torch.Generator().manual_seed(seed))


def _linear_surrogate(v: torch.Tensor) -> SurrogateModel:
    """F2 = identity (its last convolution starts at zero) and W = [vec v_1 … vec v_d]: the latent
    path F2(τ(α, x)) = x + Σ α_j v_j is exactly F2(x) + Wα."""
    sur = SurrogateModel(input_shape=SHAPE, param_dim=v.shape[0], width=4, encoder_width=4)
    with torch.no_grad():
        sur.f1.weight.copy_(v.reshape(v.shape[0], -1).t())
    return sur


def _pairs(n: int, pairs, seed: int):
    g = torch.Generator().manual_seed(seed)
    lo = torch.tensor([p[0] for p in pairs])
    hi = torch.tensor([p[1] for p in pairs])
    return lo + (hi - lo) * torch.rand((n, len(pairs)), generator=g), lo + (hi - lo) * torch.rand((n, len(pairs)), generator=g)


# --------------------------------------------------------------------------------------------
# the penalty itself
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pairs", [((0.0, 2.0),), ((-1.0, 1.0), (0.0, 5.0))])
def test_penalty_is_zero_for_a_surrogate_linear_along_the_path(pairs):
    v = _directions(len(pairs))
    sur, tr, x = _linear_surrogate(v), AlongDirections(v), _images(8)
    a, a2 = _pairs(8, pairs, seed=1)
    pen = path_penalty(sur, tr, x, a, a2, param_range=pairs)
    assert pen.ndim == 0 and pen.item() < 1e-10
    # estimate_G agrees (by autograd; float32 finite differences would add rounding noise): G = 0
    assert estimate_G(sur, tr, x[0], param_range=pairs, grid=3, fd_check=False).G < 1e-6


def test_penalty_is_the_normalised_slope_deviation_otherwise():
    """W = 0 along a straight path of velocity v: each pair scores (Δα)²‖v‖²/m / (Δα/width)² =
    width²‖v‖²/m exactly (for |Δα| ≥ 1 % of the width), i.e. (G·width)²/m with G = ‖v‖."""
    pairs = ((0.0, 2.0),)
    v = _directions(1)
    sur, tr, x = _linear_surrogate(v), AlongDirections(v), _images(8)
    with torch.no_grad():
        sur.f1.weight.zero_()
    a = torch.tensor([[0.0], [0.5], [2.0], [1.0]])
    a2 = torch.tensor([[1.0], [1.5], [0.0], [0.1]])
    pen = path_penalty(sur, tr, x[:4], a, a2, param_range=pairs)
    with torch.no_grad():  # the latent's variance over the batch's images, the penalty's unit
        spread = float(sur.encode(tr(x[:4], a)).flatten(1).var(dim=0, unbiased=False).mean())
    expected = 2.0 ** 2 * float(v.pow(2).sum()) / M / spread
    assert pen.item() == pytest.approx(expected, rel=1e-5)
    # a pair closer than the floor is scored as if it were sqrt(eps) range widths apart (a batch
    # of one: no spread to divide by)
    expected = 2.0 ** 2 * float(v.pow(2).sum()) / M
    close = path_penalty(sur, tr, x[:1], torch.tensor([[1.0]]), torch.tensor([[1.0 + 1e-3]]), param_range=pairs)
    u2 = (1e-3 / 2.0) ** 2
    assert close.item() == pytest.approx(expected * u2 / PATH_EPS, rel=1e-3)


def test_penalty_is_positive_for_a_path_no_line_fits_and_has_gradients():
    sur, tr, x = SurrogateModel(input_shape=SHAPE, param_dim=1, width=4, encoder_width=4), Darken(), _images(8)
    a, a2 = _pairs(8, ((0.0, 1.0),), seed=2)
    pen = path_penalty(sur, tr, x, a, a2, param_range=((0.0, 1.0),))
    assert pen.item() > 1e-3
    pen.backward()
    assert sur.f1.weight.grad is not None and float(sur.f1.weight.grad.abs().sum()) > 0
    assert float(sur.f2.conv3.weight.grad.abs().sum()) > 0
    assert all(p.grad is None for p in sur.h.parameters())  # H is not part of the path


# --------------------------------------------------------------------------------------------
# training with it
# --------------------------------------------------------------------------------------------

TINY = dict(param_range=(0.0, 1.0), epochs=4, batch_size=16, seed=0, width=4, encoder_width=4, dataset_name="synthetic")


@pytest.fixture(scope="module")
def pair_of_surrogates():
    x = _images(96, seed=3)
    plain = train_surrogate(Darken(), x, path_weight=0.0, lr=3e-3, **TINY)
    penalised = train_surrogate(Darken(), x, path_weight=30.0, lr=3e-3, **TINY)
    return plain, penalised


def _mean_G(sur) -> float:
    held = _images(6, seed=99)
    return sum(estimate_G(sur, Darken(), held[i], param_range=(0.0, 1.0), grid=5).G for i in range(6)) / 6


def test_training_with_the_penalty_lowers_G_at_the_same_seed(pair_of_surrogates):
    plain, penalised = pair_of_surrogates
    g0, g1 = _mean_G(plain), _mean_G(penalised)
    assert g1 < 0.8 * g0, (g0, g1)
    h0, h1 = plain.training_info["history"], penalised.training_info["history"]
    assert h1[-1]["path"] < h0[-1]["path"]  # the logged penalty shows it too
    assert all(r["path"] >= 0 and math.isfinite(r["path"]) for r in h0 + h1)


def test_the_penalty_is_recorded(pair_of_surrogates, tmp_path):
    plain, penalised = pair_of_surrogates
    assert plain.training_info["path_weight"] == 0.0 and plain.training_info["loss"] == "l1"
    assert penalised.training_info["path_weight"] == 30.0 and penalised.training_info["loss"] == "l1+path"
    assert penalised.resume_state["config"]["path_weight"] == 30.0
    assert len(penalised.training_info["history"]) == TINY["epochs"]


def test_the_weight_changes_the_step_only():
    """The weight changes the step only: the first batch's L1 and penalty (same initial weights,
    same θ and θ', the penalty measured before the step) are the same whatever the weight."""
    x = _images(16, seed=3)
    kw = dict(TINY, epochs=1)
    a = train_surrogate(Darken(), x, path_weight=0.0, **kw)
    b = train_surrogate(Darken(), x, path_weight=5.0, **kw)
    assert a.training_info["history"][0]["l1"] == b.training_info["history"][0]["l1"]
    assert a.training_info["history"][0]["path"] == b.training_info["history"][0]["path"]
    assert DEFAULT_PATH_WEIGHT > 0


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), True, "1", None])
def test_bad_path_weight_is_a_typed_error(bad):
    with pytest.raises(InvalidParameterError, match="path_weight"):
        train_surrogate(Darken(), _images(4), path_weight=bad, **dict(TINY, epochs=1))


def test_resume_with_a_different_path_weight_is_refused(tmp_path):
    x = _images(16)
    path = tmp_path / "s.pt"
    kw = dict(TINY, epochs=1)
    train_surrogate(Darken(), x, path_weight=0.5, checkpoint=path, **kw)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"path_weight: expected 0\.5 \(in checkpoint\), got 2\.0"):
        train_surrogate(Darken(), x, path_weight=2.0, checkpoint=path, resume=True, **dict(kw, epochs=2))
    assert path.read_bytes() == before
    resumed = train_surrogate(Darken(), x, path_weight=0.5, checkpoint=path, resume=True, **dict(kw, epochs=2))
    assert len(resumed.training_info["history"]) == 2


def test_a_checkpoint_from_before_the_penalty_counts_as_path_weight_zero(tmp_path):
    x = _images(16)
    path = tmp_path / "old.pt"
    kw = dict(TINY, epochs=1)
    train_surrogate(Darken(), x, path_weight=0.0, checkpoint=path, **kw)
    raw = torch.load(path, weights_only=True)
    del raw["resume"]["config"]["path_weight"]
    del raw["training"]["path_weight"]
    torch.save(raw, path)
    assert read_training_state(path)[1]["config"].get("path_weight") is None  # as an older gsmooth wrote it
    with pytest.raises(CheckpointError, match=r"path_weight: expected 0\.0 \(in checkpoint\), got 1\.0"):
        train_surrogate(Darken(), x, path_weight=1.0, checkpoint=path, resume=True, **dict(kw, epochs=2))
    train_surrogate(Darken(), x, path_weight=0.0, checkpoint=path, resume=True, **dict(kw, epochs=2))


def test_time_limited_run_with_the_penalty_resumes_to_the_uninterrupted_one(tmp_path):
    x = _images(40)
    kw = dict(TINY, epochs=2, path_weight=3.0)
    full = train_surrogate(Darken(), x, checkpoint=tmp_path / "a.pt", **kw)
    path = tmp_path / "b.pt"
    train_surrogate(Darken(), x, checkpoint=path, time_limit=1e-9, **kw)  # stops after one batch
    resumed = train_surrogate(Darken(), x, checkpoint=path, resume=True, **kw)
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    assert [(r["l1"], r["path"]) for r in full.training_info["history"]] == \
        [(r["l1"], r["path"]) for r in resumed.training_info["history"]]


# --------------------------------------------------------------------------------------------
# held-out G
# --------------------------------------------------------------------------------------------


def test_heldout_G_is_estimate_G_per_image(pair_of_surrogates):
    _, sur = pair_of_surrogates
    held = _images(3, seed=7)
    hg = heldout_G(sur, held, transform=Darken(), images=3, grid=4)
    each = [estimate_G(sur, Darken(), held[i], param_range=(0.0, 1.0), grid=4).G for i in range(3)]
    assert hg.values.tolist() == pytest.approx(each)
    assert hg.mean == pytest.approx(sum(each) / 3) and hg.max == pytest.approx(max(each))
    mean, top = hg.mstar(2.0, 1.0)
    assert top == pytest.approx(math.sqrt(1 + (2.0 * max(each)) ** 2))
    with pytest.raises(InvalidParameterError, match="images"):
        heldout_G(sur, held, transform=Darken(), images=0)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _run(capsys, *argv):
    from gsmooth.cli import main

    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("bad", ["-1", "nan", "inf", "abc", ""])
def test_cli_bad_path_weight_is_one_clear_line(bad, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        _run(capsys, "surrogate", "train", "--transform", "rotation", "--dataset", "fashion-mnist",
             "--path-weight", bad, "--out", tmp_path / "s.pt")
    err = capsys.readouterr().err
    assert exc.value.code == 2
    last = err.strip().splitlines()[-1]
    assert re.fullmatch(rf"gsmooth surrogate train: error: argument --path-weight: expected a non-negative "
                        rf"(finite )?number, got {re.escape(repr(bad))}", last), last
    assert not (tmp_path / "s.pt").exists()


def _needs_fashion_mnist():
    from gsmooth.data.datasets import load_dataset

    try:
        load_dataset("fashion-mnist", split="test")
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"Fashion-MNIST is needed (Debian dataset-fashion-mnist): {exc}")


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_cli_train_records_the_weight_and_eval_prints_heldout_G(capsys, tmp_path):
    _needs_fashion_mnist()
    out = tmp_path / "s.pt"
    code, stdout, err = _run(capsys, "surrogate", "train", "--transform", "rotation", "--dataset", "fashion-mnist",
                             "--max-train", "32", "--max-eval", "8", "--batch", "16", "--epochs", "1", "--width", "4",
                             "--encoder-width", "4", "--path-weight", "2.5", "--no-progress", "--out", out)
    assert code == 0, err
    assert "L1 + 2.5 x path penalty" in stdout and "path " in stdout and "(weight 2.5)" in stdout
    sur = load_surrogate(out)
    assert sur.training_info["path_weight"] == 2.5 and "path" in sur.training_info["history"][0]
    code, stdout, err = _run(capsys, "surrogate", "eval", "--surrogate", out, "--max-eval", "4", "--g-images", "2",
                             "--grid", "3")
    assert code == 0, err
    line = next(li for li in stdout.splitlines() if li.startswith("held-out G over 2 "))
    from gsmooth.data.datasets import load_dataset

    hg = heldout_G(sur, load_dataset("fashion-mnist", split="test"), images=2, grid=3)
    assert f"mean {hg.mean:.5g}, max {hg.max:.5g}" in line
    mline = next(li for li in stdout.splitlines() if li.startswith("M* = "))
    mean, top = hg.mstar(5.0, 1.0)  # rotation's default sigma_theta and sigma_xi
    assert "sigma_theta 5, sigma_xi 1:" in mline and f"mean {mean:.5g}, max {top:.5g}" in mline
    code, stdout, _ = _run(capsys, "surrogate", "eval", "--surrogate", out, "--max-eval", "4", "--g-images", "0")
    assert code == 0 and "held-out G" not in stdout and "overall" in stdout


def test_penalty_does_not_reward_shrinking_the_latent():
    """Scaling the latent (F2 and W by c, H by 1/c: the same surrogate) leaves the penalty unchanged;
    unnormalised it would fall by c², and training would shrink the latent under the noise σ_ξ."""
    sur, tr, x = SurrogateModel(input_shape=SHAPE, param_dim=1, width=4, encoder_width=4), Darken(), _images(8)
    a, a2 = _pairs(8, ((0.0, 1.0),), seed=2)
    base = path_penalty(sur, tr, x, a, a2, param_range=((0.0, 1.0),)).item()

    class Scaled(torch.nn.Module):
        def __init__(self, inner, c):
            super().__init__()
            self.inner, self.c = inner, c

        @property
        def W(self):
            return self.inner.W * self.c

        @property
        def param_dim(self):
            return self.inner.param_dim

        def encode(self, t):
            return self.inner.encode(t) * self.c

    for c in (0.1, 10.0):
        assert path_penalty(Scaled(sur, c), tr, x, a, a2, param_range=((0.0, 1.0),)).item() == pytest.approx(base, rel=1e-4)
