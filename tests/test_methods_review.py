"""Independent review of the training methods and denoised smoothing (task h4).

Each test here was written against a bug planted in the library that tests/test_training_methods.py
and tests/test_denoising.py did not catch (the mutation table is in the h4 report): the methods'
``loss`` wiring (λ, σ, which copies belong to which image, θ shared by attack and training step,
the attack in eval mode, MACER's exclusion of misclassified images), a resumed certify run whose
denoiser file changed in place, soundness of denoised certificates against PREDICT, and training
methods on a GSmooth surrogate transform.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn
from torch.nn import functional as F

import gsmooth
from gsmooth.cli import main
from gsmooth.core.transform import Transform
from gsmooth.training.methods import ConsistencyTraining, MacerTraining, SmoothAdvTraining, macer_loss, smoothadv_attack

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _np_softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


class _Ignore(Transform):
    """τ(x, θ) = x: every noisy copy of an image is the clean image (θ still drawn from the noise)."""

    name = "test_ignore"
    kind = "exact"

    def forward(self, x, theta):
        return x + 0.0 * theta


class _Add(Transform):
    name = "test_add_review"
    kind = "exact"

    def forward(self, x, theta):
        return x + theta


def _linear(k=3, d=16, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, k)).double()


def _images(b=4, seed=1):
    return torch.rand(b, 1, 4, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# -- consistency ---------------------------------------------------------------------------------------------


def test_consistency_method_compares_copies_of_the_same_image_only():
    # identical copies of each image (the transform ignores θ): the KL term is 0 whatever λ, so the loss is
    # the clean cross-entropy + η·entropy of each image's own prediction; copies grouped with other images'
    # copies would give a positive KL
    model = _linear()
    s = gsmooth.Smoother(model, noise="gaussian", sigma=0.5, transform=_Ignore(), num_classes=3)
    x, y = _images(), torch.tensor([0, 1, 2, 1])
    q = _np_softmax(model(x).detach().numpy())
    ce = np.mean(-np.log(q[np.arange(4), y.numpy()]))
    ent = np.mean(-(q * np.log(q)).sum(-1))
    for lam in (1.0, 50.0):
        out = ConsistencyTraining(lam=lam, eta=0.3, copies=3).loss(model, s, x, y, generator=torch.Generator().manual_seed(0))
        assert out.loss.item() == pytest.approx(ce + 0.3 * ent, rel=1e-10)
        assert torch.allclose(out.logits, model(x).detach())


def test_consistency_method_uses_its_lambda():
    # with real noise the KL term is positive; the same draws (same seed) make the loss affine in λ
    model = _linear()
    s = gsmooth.Smoother(model, noise="gaussian", sigma=0.5, transform=_Add(), num_classes=3)
    x, y = _images(), torch.tensor([0, 1, 2, 1])

    def loss(lam):
        return ConsistencyTraining(lam=lam, eta=0.0).loss(model, s, x, y, generator=torch.Generator().manual_seed(5)).loss.item()

    l1, l2, l5 = loss(1.0), loss(2.0), loss(5.0)
    assert l2 - l1 > 1e-6  # the KL of the noisy copies counts
    assert l5 - l1 == pytest.approx(4 * (l2 - l1), rel=1e-8)


# -- MACER -----------------------------------------------------------------------------------------------------


def _macer_by_hand(z, y, *, sigma, lam, gamma, beta):
    """MACER's loss with numpy/scipy; z: (B, m, K)."""
    b = z.shape[0]
    p = _np_softmax(z).mean(1)
    cls = -sum(math.log(p[i, y[i]] + 1e-10) for i in range(b))
    pb = _np_softmax(beta * z).mean(1)
    rob = 0.0
    for i in range(b):
        order = np.argsort(-pb[i])
        if order[0] != y[i]:
            continue
        xi = stats.norm.ppf(pb[i, order[0]]) - stats.norm.ppf(pb[i, order[1]])
        if np.isfinite(xi) and xi <= gamma:
            rob += gamma - xi
    return (cls + lam * rob * sigma / 2) / b


def test_macer_loss_leaves_out_a_misclassified_image_with_a_small_margin():
    # image 0 is misclassified (top class 1, label 0) with a margin inside the hinge: it must add nothing
    z = np.array([[[0.0, 0.3, 0.1], [0.1, 0.35, 0.0]], [[1.0, 0.2, 0.0], [0.6, 0.5, 0.1]]])
    y = np.array([0, 0])
    kw = dict(sigma=0.5, lam=3.0, gamma=8.0, beta=1.0)
    pb0 = np.sort(_np_softmax(z[0]).mean(0))
    assert stats.norm.ppf(pb0[-1]) - stats.norm.ppf(pb0[-2]) < kw["gamma"]  # the case is what it says
    got = macer_loss(torch.tensor(z), torch.tensor(y), **kw).item()
    assert got == pytest.approx(_macer_by_hand(z, y, **kw), rel=1e-9)


def test_macer_loss_gradient_is_finite_when_the_soft_classifier_saturates():
    # REAL BUG found in review: an image whose β-softmax saturates (p1 = 1 in float32) has ξ = ∞ and is
    # left out of the hinge, but Φ⁻¹'s infinite derivative at 1 made its gradient 0·∞ = NaN, and one such
    # image turned every weight into NaN (MACER on the rotational_blur surrogate diverged in epoch 1)
    z = torch.tensor([[[30.0, 0.0, 0.0], [30.0, 0.0, 0.0]], [[1.0, 0.2, 0.0], [0.6, 0.5, 0.1]]], requires_grad=True)
    y = torch.tensor([0, 0])
    loss = macer_loss(z, y, sigma=0.25, lam=12.0, gamma=8.0, beta=16.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    # the value is still the formula (image 0 in the classification term only)
    assert loss.item() == pytest.approx(_macer_by_hand(z.detach().double().numpy(), y.numpy(), sigma=0.25, lam=12.0,
                                                       gamma=8.0, beta=16.0), rel=1e-5)
    # and the saturated image's gradient is the classification term's alone
    z1 = z.detach()[:1].clone().requires_grad_(True)
    macer_loss(z1, y[:1], sigma=0.25, lam=0.0, gamma=8.0, beta=16.0).backward()
    assert torch.allclose(z.grad[0], z1.grad[0] / 2)  # the loss divides by B = 2 instead of 1


def test_macer_method_uses_the_smoothers_sigma_and_groups_copies_by_image():
    # identical copies (the transform ignores θ): the loss is MACER's formula on the clean logits repeated
    # m times, with σ of the smoother's noise
    model = _linear()
    x, y = _images(), torch.tensor([0, 1, 2, 1])
    z = np.repeat(model(x).detach().numpy()[:, None, :], 4, axis=1)
    for sigma in (0.25, 0.8):
        s = gsmooth.Smoother(model, noise="gaussian", sigma=sigma, transform=_Ignore(), num_classes=3)
        method = MacerTraining(lam=12.0, gamma=8.0, beta=2.0, copies=4)
        out = method.loss(model, s, x, y, generator=torch.Generator().manual_seed(0))
        expected = _macer_by_hand(z, y.numpy(), sigma=sigma, lam=12.0, gamma=8.0, beta=2.0)
        assert out.loss.item() == pytest.approx(expected, rel=1e-9)
    # with real noise, a bigger batch of distinct images: grouping copies across images changes the value
    s = gsmooth.Smoother(model, noise="gaussian", sigma=0.5, transform=_Add(), num_classes=3)
    method = MacerTraining(lam=12.0, gamma=8.0, beta=2.0, copies=3)
    g = torch.Generator().manual_seed(3)
    theta = s.noise.sample((3 * 4, 1, 4, 4), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    out = method.loss(model, s, x, y, generator=g)
    # copy i of image b is x_b + θ[i·B + b] (one draw, copy-major: noisy_copies' documented layout)
    noisy = x.unsqueeze(0) + theta.view(3, 4, 1, 4, 4)
    zz = model(noisy.flatten(0, 1)).detach().view(3, 4, 3).transpose(0, 1).numpy()
    assert out.loss.item() == pytest.approx(_macer_by_hand(zz, y.numpy(), sigma=0.5, lam=12.0, gamma=8.0, beta=2.0), rel=1e-9)


# -- SmoothAdv -----------------------------------------------------------------------------------------------


def test_smoothadv_trains_on_the_attacked_draws():
    # the training step uses the same θ_i as the attack: its loss is mean_i CE(f(x + δ* + θ_i), y) with
    # θ the one draw of the epoch stream and δ* = smoothadv_attack(...) for those θ
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    s = gsmooth.Smoother(model, noise="gaussian", sigma=0.5, transform=_Add(), num_classes=3)
    x, y = _images(), torch.tensor([0, 1, 2, 1])
    m = 3
    theta = s.noise.sample((m * 4, 1, 4, 4), generator=torch.Generator().manual_seed(9), dtype=torch.float64).view(m, 4, 1, 4, 4)
    delta = smoothadv_attack(model, _Add(), x, y, theta, eps=0.5, steps=3)
    expected = F.cross_entropy(model((x + delta).unsqueeze(0).add(theta).flatten(0, 1)), y.repeat(m)).item()
    out = SmoothAdvTraining(eps=0.5, steps=3, copies=m).loss(model, s, x, y, generator=torch.Generator().manual_seed(9))
    assert out.loss.item() == pytest.approx(expected, rel=1e-10)


def test_smoothadv_attack_runs_the_model_in_eval_mode():
    # a model with dropout: in train mode every forward pass draws a dropout mask (the global RNG), so the
    # attack would be random; in eval mode it is a function of its inputs, equal to the attack on model.eval()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 16), nn.Dropout(0.5), nn.Linear(16, 3)).double()
    x, y = _images(), torch.tensor([0, 1, 2, 1])
    theta = 0.3 * torch.randn(2, 4, 1, 4, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    model.eval()
    reference = smoothadv_attack(model, _Add(), x, y, theta, eps=0.5, steps=3)
    model.train()
    for _ in range(3):
        assert torch.equal(smoothadv_attack(model, _Add(), x, y, theta, eps=0.5, steps=3), reference)
    assert model.training


# -- denoised smoothing ----------------------------------------------------------------------------------------

SIGMA = 0.25


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def denoised(tmp_path_factory):
    """A tiny vanilla Fashion-MNIST classifier (trained without noise) and two MSE denoisers for σ = 0.25."""
    from gsmooth.denoising import DenoiserConfig, train_denoiser
    from gsmooth.training.trainer import TrainConfig, train

    d = tmp_path_factory.mktemp("review_den")
    quiet = dict(progress=False, log=lambda _: None)
    train(TrainConfig(arch="mlp32", dataset="fashion-mnist", epochs=1, max_train=300, max_eval=16, batch_size=50,
                      vanilla=True, seed=0), out=d / "clf.pt", **quiet)
    cfg = dict(arch="dncnn3x8", dataset="fashion-mnist", sigma=SIGMA, batch_size=50, max_train=200, max_eval=50, epochs=1)
    train_denoiser(DenoiserConfig(**cfg), out=d / "den.pt", **quiet)
    train_denoiser(DenoiserConfig(**cfg, seed=1), out=d / "den_other.pt", **quiet)
    return d


def test_resume_with_the_denoiser_file_changed_in_place_is_refused(denoised, tmp_path, capsys):
    # same --denoiser path, other content: the file's SHA-256, not its name, keys the run
    den = tmp_path / "den.pt"
    den.write_bytes((denoised / "den.pt").read_bytes())
    out = tmp_path / "c.tsv"
    args = ["certify", "--model", denoised / "clf.pt", "--denoiser", den, "--n0", "10", "--n", "50", "--batch", "50",
            "--no-progress", "--out", out]
    code, _, err = run_cli(capsys, *args, "--max", "1")
    assert code == 0, err
    before = out.read_bytes(), (tmp_path / "c.tsv.json").read_bytes()
    den.write_bytes((denoised / "den_other.pt").read_bytes())
    code, _, err = run_cli(capsys, *args, "--max", "2")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "denoiser_sha256" in err, err
    assert (out.read_bytes(), (tmp_path / "c.tsv.json").read_bytes()) == before
    den.write_bytes((denoised / "den.pt").read_bytes())  # the original content back: the run continues
    code, _, err = run_cli(capsys, *args, "--max", "2")
    assert code == 0, err


def test_denoised_certificates_hold_under_predict_inside_the_ball(denoised):
    # Cohen certificates of f∘D: at points x0 + 0.9·R·u inside a certified ball (u: the direction that
    # lowers the base model's top logit margin at x0 most, and a random one) PREDICT at high n must not
    # return another class (a sound engine fails this with probability ≤ alpha + attack_alpha per point)
    from gsmooth.data.datasets import load_dataset
    from gsmooth.denoising import DenoisedClassifier, load_denoiser
    from gsmooth.io.checkpoints import load_checkpoint

    model = DenoisedClassifier(load_checkpoint(denoised / "clf.pt").build_model(), load_denoiser(denoised / "den.pt")).eval()
    smoother = gsmooth.Smoother(model, noise="gaussian", sigma=SIGMA, num_classes=10)
    data = load_dataset("fashion-mnist", split="test")
    x = torch.stack([data[i][0] for i in range(6)])
    certs = smoother.certify(x, n0=50, n=1000, alpha=0.001, batch_size=500, seed=0, keys=list(range(6)))
    certified = [(i, c) for i, c in enumerate(certs) if c.prediction >= 0 and c.radius > 0]
    assert len(certified) >= 3, [c.radius for c in certs]  # not vacuous
    g = torch.Generator().manual_seed(1)
    checked = 0
    for i, c in certified:
        x0 = x[i:i + 1].clone().requires_grad_(True)
        logits = model(x0)[0]
        other = torch.cat([logits[:c.prediction], logits[c.prediction + 1:]]).max()
        (grad,) = torch.autograd.grad(other - logits[c.prediction], [x0])
        for u in (grad, torch.randn(x0.shape, generator=g)):
            u = u / u.norm()
            # clamped to [0, 1]: the projection onto a convex set holding x0 is no farther from x0
            point = (x[i:i + 1] + 0.9 * c.radius * u).detach().clamp(0, 1)
            assert (point - x[i:i + 1]).norm() < c.radius
            pred = smoother.predict(point, n=2000, alpha=1e-4, batch_size=1000, seed=100 + i)
            pred = pred[0] if isinstance(pred, (list, tuple)) else pred
            label = getattr(pred, "prediction", pred)
            assert int(label) in (c.prediction, -1), (i, c, label)
            checked += 1
    assert checked == 2 * len(certified)


# -- training methods on a GSmooth surrogate transform ------------------------------------------------------


@pytest.mark.parametrize("flags", [["--consistency", "5"], ["--macer", "12", "--copies", "2"]])
def test_methods_train_on_the_embedded_surrogate_and_certify(flags, tmp_path, capsys):
    from importlib.resources import files

    from gsmooth.io.checkpoints import load_checkpoint
    from gsmooth.io.results import read_results

    surrogate = files("gsmooth.embedded") / "rotational_blur_surrogate.pt"
    out = tmp_path / "m.pt"
    code, stdout, err = run_cli(capsys, "train", "--dataset", "fashion-mnist", "--transform", "rotational_blur",
                                "--surrogate", surrogate, "--max-train", "128", "--max-eval", "16", "--batch", "32",
                                "--epochs", "1", "--no-progress", *flags, "--out", out)
    assert code == 0, err
    ckpt = load_checkpoint(out)
    assert ckpt.extra["train_config"]["method"] == flags[0][2:]
    assert ckpt.smoothing["transform"] == "rotational_blur" and ckpt.smoothing.get("surrogate")
    res = tmp_path / "c.tsv"
    code, _, err = run_cli(capsys, "certify", "--model", out, "--n0", "10", "--n", "50", "--batch", "50", "--max", "2",
                           "--no-progress", "--out", res)
    assert code == 0, err
    assert "trained with noise" not in err  # certify picked up the training smoothing (no mismatch warning)
    assert len(read_results(res)) == 2


def test_a_loaded_denoiser_gives_each_image_the_same_output_in_any_batch(denoised):
    # load_denoiser's module is ready to certify: its output for an image does not depend on the other
    # images of the batch (BatchNorm in train mode would normalise by the batch's statistics, and the
    # smoothed classifier's samples would no longer be independent draws of one fixed f∘D)
    from gsmooth.denoising import load_denoiser

    den = load_denoiser(denoised / "den.pt")
    assert any(isinstance(m, nn.BatchNorm2d) for m in den.modules())  # the case matters for this architecture
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        together = den(x)
        alone = torch.cat([den(x[i:i + 1]) for i in range(6)])
        shifted = den(torch.cat([x[:3], 3 * x[3:]]))[:3]
    assert torch.allclose(together, alone, atol=1e-5) and torch.allclose(together[:3], shifted, atol=1e-5)
