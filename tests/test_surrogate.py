"""gsmooth.surrogate: the GSmooth surrogate network, its training, held-out evaluation, checkpoints,
and SurrogateTransform through the unchanged engine (radius = σ Φ⁻¹(p_lower) / M*)."""

from __future__ import annotations

import math
import warnings

import pytest
import numpy as np
import torch
from scipy import stats
from torch import nn

import gsmooth
from gsmooth.io.checkpoints import save_checkpoint
from gsmooth.errors import CheckpointError, InputError, InvalidParameterError
from gsmooth.surrogate.lipschitz import estimate_G, radius_from_G
from gsmooth.surrogate.io import FORMAT, load_surrogate, save_surrogate
from gsmooth.surrogate.evaluate import SurrogateEvaluation, evaluate_surrogate
from gsmooth.surrogate.model import SurrogateModel
from gsmooth.surrogate.transform import SurrogateTransform
from gsmooth.core.defaults import defaults_of
from gsmooth.surrogate.train import train_surrogate

SHAPE = (1, 8, 8)


class Brightness(gsmooth.Transform):
    """τ(θ, x) = x + θ (a brightness shift), defined here so the tests need no plugin."""

    name = "test_brightness"
    param_dim = 1
    kind = "exact"
    param_units = "intensity"

    def __init__(self):
        super().__init__()

    def forward(self, x, theta):
        return x + theta.to(x.dtype).reshape(-1, 1, 1, 1)


class Darken(gsmooth.Transform):
    """τ(θ, x) = x · (1 − θ/2): multiplicative, image-dependent Jacobian ∂τ/∂θ = −x/2."""

    name = "test_darken"
    param_dim = 1
    kind = "empirical"

    def __init__(self):
        super().__init__()

    def forward(self, x, theta):
        return x * (1 - 0.5 * theta.to(x.dtype).reshape(-1, 1, 1, 1))


def images(n=32, shape=SHAPE, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, *shape), generator=g)


@pytest.fixture(scope="module")
def trained():
    """A tiny surrogate of Darken on 8×8 images (a few seconds)."""
    return train_surrogate(
        Darken(), images(64), param_range=(0.0, 1.0), epochs=6, batch_size=16, seed=0, width=8, encoder_width=4,
        dataset_name="synthetic",
    )


# --------------------------------------------------------------------------------------------
# the network
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 9, 11)])
def test_shapes(shape):
    net = SurrogateModel(input_shape=shape, param_dim=2, width=8, encoder_width=4)
    x, th = torch.rand(3, *shape), torch.rand(3, 2)
    assert net(x, th).shape == (3, *shape)
    assert net.encode(x).shape == (3, *shape)
    assert net.embed(th).shape == (3, *shape)
    assert net.W.shape == (math.prod(shape), 2) and net.latent_dim == math.prod(shape)
    assert net(x, th, xi=torch.randn(3, *shape)).shape == (3, *shape)
    assert any(isinstance(m, nn.GroupNorm) for m in net.h.modules())
    assert net.f1.bias is None


def test_untrained_surrogate_is_identity():
    net = SurrogateModel(input_shape=SHAPE, param_dim=1)
    x = images(4)
    assert torch.allclose(net(x, torch.rand(4, 1)), x, atol=1e-6)


def test_default_model_size_is_cpu_friendly():
    net = SurrogateModel(input_shape=(1, 28, 28), param_dim=1)
    assert sum(p.numel() for p in net.parameters()) < 250_000


def test_bad_model_arguments():
    with pytest.raises(InvalidParameterError):
        SurrogateModel(input_shape=(28, 28), param_dim=1)
    with pytest.raises(InvalidParameterError):
        SurrogateModel(input_shape=SHAPE, param_dim=0)


# --------------------------------------------------------------------------------------------
# training and evaluation
# --------------------------------------------------------------------------------------------


def test_training_lowers_l1(trained):
    hist = trained.training_info["history"]
    assert len(hist) == 6
    assert hist[-1]["l1"] < 0.7 * hist[0]["l1"]
    assert trained.transform_name == "test_darken" and trained.param_range == ((0.0, 1.0),)
    assert trained.dataset == "synthetic" and not trained.training


def test_training_is_seeded_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    kw = dict(param_range=(0, 1), epochs=1, batch_size=8, seed=3, width=8, encoder_width=4)
    a = train_surrogate(Brightness(), images(16), **kw)
    assert torch.equal(state, torch.random.get_rng_state())
    b = train_surrogate(Brightness(), images(16), **kw)
    for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(va, vb), k


def test_evaluate_reports_per_bin_l1_and_psnr(trained):
    ev = evaluate_surrogate(trained, images(20, seed=9), transform=Darken(), bins=5)
    assert len(ev.bins) == 5 and ev.images == 20 and ev.overall.n == 100
    edges = [(b.lo, b.hi) for b in ev.bins]
    assert edges[0][0] == 0.0 and edges[-1][1] == 1.0
    for b in ev.bins + [ev.overall]:
        assert 0 <= b.l1 < 1 and math.isfinite(b.psnr) and b.n > 0
    # the identity baseline grows with θ (darkening by θ/2); the trained surrogate beats it overall
    ident = [b.l1_identity for b in ev.bins]
    assert ident == sorted(ident)
    assert ev.overall.l1 < ev.overall.l1_identity
    text = ev.format_table("θ units")
    assert "PSNR" in text and "overall" in text and text.count("\n") >= 6


def test_evaluate_identity_baseline_is_exact_for_brightness():
    """For τ = x + θ, |x − τ(θ, x)| = θ: each bin's identity L1 lies inside the bin."""
    net = SurrogateModel(input_shape=SHAPE, param_dim=1, width=8, encoder_width=4)
    net.param_range = ((0.0, 0.5),)
    ev = evaluate_surrogate(net, images(10), transform=Brightness(), bins=5)
    for b in ev.bins:
        assert b.lo <= b.l1_identity <= b.hi
        assert b.l1 == pytest.approx(b.l1_identity, abs=1e-6)  # untrained surrogate = identity


def test_training_errors():
    with pytest.raises(InvalidParameterError, match="param_range"):
        train_surrogate(Brightness(), images(4), param_range=(1, 0), epochs=1)
    with pytest.raises(InvalidParameterError, match="no default"):
        train_surrogate(Brightness(), images(4), epochs=1)
    with pytest.raises(InvalidParameterError, match="param_dim"):
        train_surrogate("additive", images(4), param_range=(0, 1), epochs=1)
    with pytest.raises(InvalidParameterError):
        train_surrogate(Brightness(), images(4), param_range=(0, 1), epochs=0)
    assert defaults_of("rotational_blur").range == ((0.0, 10.0),)  # what train_surrogate uses without param_range


# --------------------------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------------------------


def test_save_load_round_trip(trained, tmp_path):
    ev = evaluate_surrogate(trained, images(8, seed=5), transform=Darken(), bins=3)
    path = save_surrogate(tmp_path / "s.pt", trained, heldout=ev)
    assert not (tmp_path / "s.pt.tmp").exists()
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT and raw["version"] == 1
    assert raw["transform"] == "test_darken" and raw["param_range"] == [[0.0, 1.0]]
    assert raw["input_shape"] == list(SHAPE) and raw["arch"]["width"] == 8 and raw["dataset"] == "synthetic"
    assert raw["heldout"]["overall"]["l1"] == pytest.approx(ev.overall.l1)

    loaded = load_surrogate(path)
    x, th = images(5, seed=7), torch.rand(5, 1)
    xi = torch.randn(5, *SHAPE)
    with torch.no_grad():
        assert torch.equal(loaded(x, th, xi), trained(x, th, xi))
    assert loaded.param_range == trained.param_range and loaded.transform_name == "test_darken"
    assert isinstance(loaded.heldout, SurrogateEvaluation)
    assert loaded.heldout.format_table() == ev.format_table()
    assert loaded.training_info["history"] == trained.training_info["history"]


def test_bad_checkpoints(trained, tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_surrogate(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="directory"):
        load_surrogate(tmp_path)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file at all")
    with pytest.raises(CheckpointError, match="expected a file written by torch.save, got a text file"):
        load_surrogate(garbage)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match="gsmooth surrogate"):
        load_surrogate(other)
    clf = tmp_path / "clf.pt"
    from gsmooth.models.architectures import build_model

    model = build_model("small_cnn", num_classes=10, input_shape=(1, 28, 28), mean=(0.5,), std=(0.5,))
    save_checkpoint(clf, model=model, arch="small_cnn", dataset="fashion-mnist", num_classes=10,
                    input_shape=(1, 28, 28), mean=(0.5,), std=(0.5,), smoothing=None, epoch=0)
    with pytest.raises(CheckpointError, match="classifier checkpoint"):
        load_surrogate(clf)

    good = save_surrogate(tmp_path / "good.pt", trained)
    raw = torch.load(good, weights_only=True)
    for mutate, match in [
        (lambda r: r.update(version=99), "upgrade gsmooth"),
        (lambda r: r.pop("state_dict"), "expected keys"),
        (lambda r: r["state_dict"].pop("f1.weight"), "missing keys"),
        (lambda r: r["arch"].update(width=16), "shape mismatch"),
        (lambda r: r.update(param_range=[[1.0, 0.0]]), "metadata"),
    ]:
        bad = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
        mutate(bad)
        p = tmp_path / "bad.pt"
        torch.save(bad, p)
        with pytest.raises(CheckpointError, match=match):
            load_surrogate(p)


def test_save_refuses_non_plain_metadata(trained, tmp_path):
    with pytest.raises(InvalidParameterError):
        save_surrogate(tmp_path / "x.pt", trained, extra={"obj": object()})
    with pytest.raises(InvalidParameterError):
        save_surrogate(tmp_path / "x.pt", SurrogateModel(input_shape=SHAPE, param_dim=1))  # no metadata
    assert not (tmp_path / "x.pt").exists()


# --------------------------------------------------------------------------------------------
# SurrogateTransform through the engine
# --------------------------------------------------------------------------------------------


class MeanVote(nn.Module):
    """Class 1 if the image's mean exceeds 0.2, else class 0 (depends on its input)."""

    input_shape = SHAPE

    def forward(self, x):
        m = x.flatten(1).mean(1)
        return torch.stack([0.2 - m, m - 0.2], dim=1) * 50


def test_transform_shapes_and_split(trained):
    st = SurrogateTransform(surrogate=trained, true_transform=Darken())
    d, m = 1, math.prod(SHAPE)
    assert st.param_shape(SHAPE) == (d + m,) and st.param_dim == d + m and st.kind == "surrogate"
    x = images(1).expand(4, *SHAPE)
    theta = torch.randn(4, d + m, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = st(x, theta)
        manual = trained(x.contiguous(), theta[:, :1], theta[:, 1:].reshape(4, *SHAPE))
        assert torch.allclose(out, manual, atol=1e-6)  # expanded input encoded once, same result
        st.sigma_ratio = 2.0
        assert torch.allclose(st(x, theta), trained(x.contiguous(), theta[:, :1], 2 * theta[:, 1:].reshape(4, *SHAPE)), atol=1e-6)
        st.theta_center = 0.5
        assert torch.allclose(st(x, theta), trained(x.contiguous(), theta[:, :1] + 0.5, 2 * theta[:, 1:].reshape(4, *SHAPE)), atol=1e-6)
        assert torch.allclose(st(x, theta, center=0.0), trained(x.contiguous(), theta[:, :1], 2 * theta[:, 1:].reshape(4, *SHAPE)), atol=1e-6)
    assert "center=0.5" in st.describe() and "test_darken" in st.describe()
    with pytest.raises(InputError):
        st.param_shape((1, 9, 9))
    with pytest.raises(InputError):
        st(x, theta[:, :10])
    with pytest.raises(InvalidParameterError):
        SurrogateTransform(surrogate=trained, theta_center=[1.0, 2.0])


def test_lipschitz_factor_matches_estimate(trained):
    st = SurrogateTransform(surrogate=trained, true_transform=Darken(), sigma_ratio=0.5, grid=4)
    x = images(1, seed=3)[0]
    m_star = st.lipschitz_factor(x)
    G = estimate_G(trained, Darken(), x, param_range=(0, 1), grid=4).G
    assert st.last_estimate.G == pytest.approx(G)
    assert m_star == pytest.approx(math.sqrt(1 + (G / 0.5) ** 2)) and m_star >= 1
    assert st.lipschitz_factor(x) == m_star  # cached
    other = images(1, seed=4)[0]
    assert st.lipschitz_factor(x, path_origin=other) != pytest.approx(m_star)  # uses the path origin instead
    assert st.lipschitz_factor(x) == m_star  # explicit arguments: nothing was left behind
    assert st.lipschitz_factor(x, path_origin=other) == st.lipschitz_factor(other)
    assert st.last_estimate.param_range == ((0.0, 1.0),)
    st.lipschitz_factor(x, param_range=(0.0, 0.5))
    assert st.last_estimate.param_range == ((0.0, 0.5),) and st.certified_range is None
    st.certified_range = (0.0, 0.5)
    st.lipschitz_factor(x)
    assert st.last_estimate.param_range == ((0.0, 0.5),)


def _path_shift(trained, true, x, alphas, ratio, center=0.0):
    """t(α) = sqrt(|α − c|² + ‖F2(τ(α, x)) − F2(τ(c, x)) − W(α − c)‖² / ratio²), brute force in float64."""
    import copy

    enc = copy.deepcopy(trained.f2).double()
    a = torch.as_tensor(alphas, dtype=torch.float64)
    x64 = x.double().unsqueeze(0)
    with torch.no_grad():
        e = enc(true(x64.expand(len(a), *x.shape), a[:, None])).reshape(len(a), -1)
        e0 = enc(true(x64, torch.tensor([[center]], dtype=torch.float64))).reshape(-1)
    w = trained.W.detach().double().reshape(-1)
    delta = (e - e0 - (a - center)[:, None] * w).norm(dim=1)
    return torch.sqrt((a - center) ** 2 + (delta / ratio) ** 2).numpy()


@pytest.mark.parametrize("ratio,sigma", [(1.0, 0.25), (0.4, 0.5)])
def test_certify_radius_covers_only_where_the_path_shift_is_below_the_noise_radius(trained, ratio, sigma):
    """Point certificate through a surrogate: R is such that every α in [0, R) (inside the range)
    moves the joint noise by less than σ_θ Φ⁻¹(p_lower) — checked by brute force on the path."""
    st = SurrogateTransform(surrogate=trained, true_transform=Darken(), sigma_ratio=ratio, grid=5)
    smoother = gsmooth.Smoother(MeanVote(), noise="gaussian", sigma=sigma, transform=st, num_classes=2)
    x = images(3, seed=11)
    certs = smoother.certify(x, n0=50, n=400, alpha=0.01, batch_size=200, seed=0)
    certified = [c for c in certs if c.prediction != gsmooth.ABSTAIN]
    assert certified, [c.p_lower for c in certs]
    for i, c in enumerate(certs):
        if c.prediction == gsmooth.ABSTAIN:
            continue
        target = sigma * stats.norm.ppf(c.p_lower)
        assert c.kind == "surrogate" and c.lipschitz >= 1.0 and c.guarantee in ("sound", "estimate")
        assert c.radius == pytest.approx(target / c.lipschitz, rel=1e-12)
        assert 0.0 <= c.radius <= target + 1e-12
        inside = np.linspace(0.0, min(c.radius, 1.0), 2001)[:-1]  # the range is [0, 1]
        assert _path_shift(trained, Darken(), x[i], inside, ratio).max() < target
        if c.radius < 1.0:  # not the range's end: one segment further the bound reached the target
            beyond = np.linspace(c.radius, min(1.0, c.radius + 1.0 / 32 + 1e-9), 200)
            assert _path_shift(trained, Darken(), x[i], beyond, ratio).max() > 0.9 * target


def test_gaussian_only(trained):
    st = SurrogateTransform(surrogate=trained, true_transform=Darken())
    assert gsmooth.noise("gaussian", sigma=0.5).isotropic_gaussian and not gsmooth.noise("laplace", sigma=0.5).isotropic_gaussian
    st.check_noise(gsmooth.noise("gaussian", sigma=0.5))
    with pytest.raises(InvalidParameterError, match="Gaussian"):
        st.check_noise(gsmooth.noise("laplace", sigma=0.5))


def test_from_checkpoint(trained, tmp_path):
    path = save_surrogate(tmp_path / "s.pt", trained)
    st = SurrogateTransform.from_checkpoint(path, 0.5, true_transform=Darken(), grid=3)
    assert st.sigma_ratio == 0.5 and st.grid == 3
    x, theta = images(2), torch.randn(2, 1 + math.prod(SHAPE))
    ref = SurrogateTransform(surrogate=trained, sigma_ratio=0.5)
    with torch.no_grad():
        assert torch.equal(st(x, theta), ref(x, theta))
    # without an explicit true transform, the registry must know the recorded name
    st2 = SurrogateTransform.from_checkpoint(path)
    with pytest.raises(gsmooth.UnknownComponentError, match="test_darken"):
        st2.lipschitz_factor(x[0])


def test_with_a_real_plugin_transform():
    try:
        tr = gsmooth.transform("rotational_blur", num_samples=4)
    except (gsmooth.UnknownComponentError, gsmooth.InvalidParameterError):
        pytest.skip("rotational_blur not available")
    sur = train_surrogate(tr, images(16, shape=(1, 12, 12)), epochs=1, batch_size=8, width=8, encoder_width=4)
    assert sur.param_range == ((0.0, 10.0),) and sur.transform_params == {"num_samples": 4, "padding_mode": "zeros"}
    st = SurrogateTransform(surrogate=sur, grid=3)  # true transform rebuilt from the registry
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m_star = st.lipschitz_factor(images(1, shape=(1, 12, 12))[0])
    assert math.isfinite(m_star) and m_star >= 1.0


# --------------------------------------------------------------------------------------------
# CLI: gsmooth surrogate train / eval / lipschitz
# --------------------------------------------------------------------------------------------


def test_cli_train_eval_lipschitz(tmp_path, capsys):
    from gsmooth.cli import main

    try:
        gsmooth.transform("brightness")
        from gsmooth.data.datasets import load_dataset

        load_dataset("fashion-mnist", split="test")
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"needs the brightness plugin and offline Fashion-MNIST: {exc}")
    out = tmp_path / "s.pt"
    rc = main(["surrogate", "train", "--transform", "brightness", "--dataset", "fashion-mnist", "--range", "0:0.3",
               "--max-train", "32", "--batch", "16", "--epochs", "2", "--max-eval", "8", "--bins", "3",
               "--width", "4", "--encoder-width", "4", "--no-progress", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and out.exists()
    assert "epoch 1/2" in text and "epoch 2/2" in text and "PSNR" in text and "overall" in text
    assert load_surrogate(out).heldout.images == 8

    assert main(["surrogate", "eval", "--surrogate", str(out), "--max-eval", "8", "--bins", "2"]) == 0
    text = capsys.readouterr().out
    assert "surrogate of brightness" in text and "overall" in text
    assert sum(line.startswith("[") for line in text.splitlines()) == 2  # one row per θ bin

    assert main(["surrogate", "lipschitz", "--surrogate", str(out), "--max", "2", "--grid", "3"]) == 0
    text = capsys.readouterr().out
    assert "M* over 2 image(s)" in text and "estimate" in text and "ms/image" in text


def test_cli_errors_are_one_line(tmp_path, capsys):
    from gsmooth.cli import main

    assert main(["surrogate", "eval", "--surrogate", str(tmp_path / "none.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gsmooth surrogate: error:") and "\n" not in err
    assert main(["surrogate", "train", "--transform", "no_such", "--dataset", "fashion-mnist",
                 "--out", str(tmp_path / "x.pt")]) == 2
    assert "unknown transform" in capsys.readouterr().err
    assert main(["surrogate", "train", "--transform", "rotational_blur", "--dataset", "fashion-mnist",
                 "--range", "5:1", "--out", str(tmp_path / "x.pt")]) == 2
    assert "param_range" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# finding 3 (issue "No false certificates"): a point certificate through a surrogate is about x
# only if the path starts at x and 0 is in the range the path is bounded over
# --------------------------------------------------------------------------------------------


class OffsetDarken(Darken):
    """τ(0, x) = 0.8·x ≠ x: the path does not start at the input (like defocus with alias_sigma > 0)."""

    name = "test_offset_darken"
    identity_at_zero = False

    def forward(self, x, theta):
        return 0.8 * super().forward(x, theta)


def test_point_certificate_refused_when_the_path_does_not_start_at_x(trained):
    st = SurrogateTransform(surrogate=trained, true_transform=OffsetDarken())
    smoother = gsmooth.Smoother(MeanVote(), noise="gaussian", sigma=0.25, transform=st, num_classes=2)
    with pytest.raises(InvalidParameterError, match=r"tau\(0, x\) != x"):
        smoother.certify(images(1)[0], n0=10, n=20, alpha=0.01)
    # an interval certificate is a statement about τ(α, x) for α in the range: allowed
    cert = smoother.certify_interval(images(1)[0], low=0.0, high=0.5, slices=2, n0=10, n=50, alpha=0.01)
    assert cert.kind == "surrogate" and cert.guarantee in ("sound", "estimate")


def test_point_certificate_refused_when_zero_is_outside_the_range(trained):
    st = SurrogateTransform(surrogate=trained, true_transform=Darken(), certified_range=(0.2, 1.0))
    smoother = gsmooth.Smoother(MeanVote(), noise="gaussian", sigma=0.25, transform=st, num_classes=2)
    with pytest.raises(InvalidParameterError, match="0 inside the range"):
        smoother.certify(images(1)[0], n0=10, n=20, alpha=0.01)


class BoundedDarken(Darken):
    """Darken with its proven path speed: ‖τ(α, x) − τ(β, x)‖ = |α − β|·‖x‖/2 exactly."""

    name = "test_bounded_darken"

    def path_speed_bound(self, x, low, high):
        return 0.5 * float(x.double().norm()) * (1 + 1e-9)


def test_interval_slices_are_bounded_by_their_own_path_shift(trained):
    """Each slice's M*_k · half-width bounds sup over the slice of the path shift t(α) (checked by
    brute force on a dense grid): the per-slice statement the proof needs, labelled sound."""
    st = SurrogateTransform(surrogate=trained, true_transform=BoundedDarken(), sigma_ratio=0.5)
    assert st.guarantee == "sound"
    smoother = gsmooth.Smoother(MeanVote(), noise="gaussian", sigma=0.25, transform=st, num_classes=2)
    x = images(1, seed=5)[0]
    cert = smoother.certify_interval(x, low=0.0, high=1.0, slices=4, n0=20, n=100, alpha=0.01)
    assert cert.guarantee == "sound" and len(cert.slice_mstar) == 4 and cert.mstar == pytest.approx(max(cert.slice_mstar))
    centres = np.array([c[0] for c in cert.centers])
    sound = st.path_shift_bounds(x, centres - 0.125, centres + 0.125, centres)
    assert sound.guarantee == "sound" and sound.upper.min() > sound.lower.min()  # a margin was added
    # the certificate uses the proven upper bound, never the evaluated maximum (a lower bound)
    assert cert.slice_mstar == pytest.approx(tuple(np.maximum(sound.upper / cert.requirement, 1.0)), rel=1e-12)
    for k, c in enumerate(cert.centers):
        a = np.linspace(c[0] - 0.125, c[0] + 0.125, 4001)
        true_sup = _path_shift(trained, Darken(), x, a, 0.5, center=c[0]).max()
        assert cert.slice_mstar[k] * cert.requirement >= true_sup * (1 - 1e-9)


# --------------------------------------------------------------------------------------------
# nothing cached can go stale (independent review: stale Lip(F2), a radius cache that ignored
# sigma_ratio, another image's path applied to a point certificate)
# --------------------------------------------------------------------------------------------


def test_changed_encoder_weights_recompute_the_proven_lipschitz_constant(trained):
    import copy

    st = SurrogateTransform(surrogate=copy.deepcopy(trained), true_transform=BoundedDarken())
    before = st._lip_f2()
    with torch.no_grad():
        st.surrogate.f2.conv1.weight.mul_(10.0)  # an in-place change (fine-tuning, load_state_dict)
    assert st._lip_f2() > 5 * (before - 1.0) + 1.0


def test_point_radius_follows_sigma_ratio_changes(trained):
    st = SurrogateTransform(surrogate=trained, true_transform=BoundedDarken(), sigma_ratio=1.0)
    noise = gsmooth.noise("gaussian", sigma=0.25)
    x = images(1, seed=2)[0]
    wide = st.certified_radius(x, 0.999, noise)[0]
    st.sigma_ratio = 0.05  # a much smaller latent noise: the path shift grows, the radius shrinks
    narrow = st.certified_radius(x, 0.999, noise)[0]
    assert narrow < wide
    assert narrow == pytest.approx(SurrogateTransform(surrogate=trained, true_transform=BoundedDarken(),
                                                      sigma_ratio=0.05).certified_radius(x, 0.999, noise)[0])


def test_a_point_certificate_bounds_the_path_of_the_image_smoothed(trained):
    st = SurrogateTransform(surrogate=trained, true_transform=BoundedDarken())
    noise = gsmooth.noise("gaussian", sigma=0.25)
    x0, x1 = images(2, seed=3)
    plain = st.certified_radius(x1, 0.99, noise)
    st.lipschitz_factor(x0)  # another image's grid estimate, cached: changes nothing for x1
    assert st.certified_radius(x1, 0.99, noise) == plain


def test_weights_written_through_data_recompute_the_bounds(trained):
    """A write through ``.data`` changes no version counter: the bounds compare weights by value."""
    import copy

    st = SurrogateTransform(surrogate=copy.deepcopy(trained), true_transform=BoundedDarken())
    before = st._lip_f2()
    st._encoder64()
    st.surrogate.f2.conv1.weight.data.mul_(10.0)
    assert st._lip_f2() > 5 * (before - 1.0) + 1.0
    assert torch.equal(st._encoder64().conv1.weight, st.surrogate.f2.conv1.weight.double())
    assert "_enc64" not in dict(st.named_modules())  # a cache, not a submodule


def test_a_smoothers_noise_and_transform_cannot_be_swapped(trained):
    """The pair is checked once, on construction: swapping it afterwards would bypass the checks."""
    sm = gsmooth.Smoother(MeanVote(), noise="gaussian", sigma=0.5, transform=Darken(), num_classes=2)
    with pytest.raises(AttributeError, match="read-only"):
        sm.noise = gsmooth.noise("laplace", sigma=0.5)
    with pytest.raises(AttributeError, match="read-only"):
        sm.transform = gsmooth.transform("gaussian_blur")
