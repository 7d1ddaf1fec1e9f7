"""Training methods of `gsmooth train` (gsmooth.training.methods): consistency, SmoothAdv, MACER.

Each loss against the formula computed independently here (numpy / scipy), the SmoothAdv attack
against what an l2 attack must do, bit-reproducible training for every method, the default method
bit for bit the training loop as it was, resume with the same method only, the refusals (MACER
without Gaussian noise, SmoothAdv on a transform without a gradient in theta) and the CLI flags.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.nn import functional as F

import gsmooth
from gsmooth.cli import main
from gsmooth.core.transform import Transform
from gsmooth.errors import CheckpointError, InvalidParameterError, UnknownComponentError
from gsmooth.io.checkpoints import load_checkpoint
from gsmooth.training import trainer as trainer_mod
from gsmooth.training.methods import (
    ConsistencyTraining, MacerTraining, NoiseAugmentation, SmoothAdvTraining, consistency_loss, macer_loss,
    smoothadv_attack,
)
from gsmooth.training.trainer import TrainConfig, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _np_softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _tiny_cfg(**kw) -> TrainConfig:
    base = dict(arch="small_cnn", dataset="fashion-mnist", epochs=1, max_train=64, max_eval=16, batch_size=32,
                clip_grad=5.0, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def _train_state(tmp_path, name, **kw) -> dict:
    out = tmp_path / f"{name}.pt"
    train(_tiny_cfg(**kw), out=out, progress=False, log=lambda line: None)
    return load_checkpoint(out).state_dict


# --------------------------------------------------------------------------------------------
# 1. the losses against their formulas, computed by hand
# --------------------------------------------------------------------------------------------


def test_consistency_loss_matches_the_formula():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 4, 5, generator=g, dtype=torch.float64) * 2  # m = 3 copies, B = 4, K = 5
    y = torch.tensor([0, 3, 1, 4])
    lam, eta = 7.0, 0.3
    z, yy = logits.numpy(), y.numpy()
    q = _np_softmax(z)  # (m, B, K)
    p_hat = q.mean(0)
    ce = np.mean([-np.log(q[i, b, yy[b]]) for i in range(3) for b in range(4)])
    kl = np.mean([np.sum(p_hat[b] * np.log(p_hat[b] / q[i, b])) for i in range(3) for b in range(4)])
    ent = np.mean([-np.sum(p_hat[b] * np.log(p_hat[b])) for b in range(4)])
    expected = ce + lam * kl + eta * ent
    got = consistency_loss(logits, y, lam=lam, eta=eta).item()
    assert got == pytest.approx(expected, rel=1e-10)
    # each term counts: other λ, η give other values (and η = 0 drops the entropy exactly)
    assert consistency_loss(logits, y, lam=lam, eta=0.0).item() == pytest.approx(ce + lam * kl, rel=1e-10)
    assert consistency_loss(logits, y, lam=1.0, eta=eta).item() == pytest.approx(ce + kl + eta * ent, rel=1e-10)


def test_consistency_loss_of_identical_copies_is_cross_entropy_plus_entropy():
    row = torch.tensor([[1.0, -0.5, 0.25]], dtype=torch.float64)
    logits = row.expand(2, 1, 3)
    p = _np_softmax(row.numpy())[0]
    expected = -math.log(p[2]) + 0.5 * -(p * np.log(p)).sum()  # KL of equal copies is 0
    assert consistency_loss(logits, torch.tensor([2]), lam=100.0, eta=0.5).item() == pytest.approx(expected, rel=1e-10)


def _macer_by_hand(z, y, *, sigma, lam, gamma, beta):
    """The authors' MACER loss, with numpy and scipy.stats.norm.ppf. z: (B, m, K)."""
    b = z.shape[0]
    p = _np_softmax(z).mean(1)
    cls = -sum(math.log(p[i, y[i]] + 1e-10) for i in range(b))
    pb = _np_softmax(beta * z).mean(1)
    rob, used = 0.0, []
    for i in range(b):
        order = np.argsort(-pb[i])
        if order[0] != y[i]:
            continue
        xi = stats.norm.ppf(pb[i, order[0]]) - stats.norm.ppf(pb[i, order[1]])
        if np.isfinite(xi) and xi <= gamma:
            rob += gamma - xi
            used.append(i)
    return (cls + lam * rob * sigma / 2) / b, used


def test_macer_loss_matches_the_formula_and_its_hinge_mask():
    # image 0: correct, small margin (in the hinge); image 1: wrongly classified; image 2: correct with
    # a margin xi > gamma; image 3: correct, in the hinge
    z = np.array([
        [[1.0, 0.2, 0.0], [0.6, 0.5, 0.1]],
        [[0.0, 1.5, 0.1], [0.2, 1.0, 0.0]],
        [[3.0, 0.0, 0.0], [2.5, 0.0, 0.1]],
        [[0.1, 0.0, 0.9], [0.0, 0.3, 0.4]],
    ])
    y = np.array([0, 0, 0, 2])
    kw = dict(sigma=0.5, lam=3.0, gamma=1.0, beta=2.0)
    expected, used = _macer_by_hand(z, y, **kw)
    assert used == [0, 3]  # the test's own check of its cases: 1 is wrong, 2 has xi > gamma
    pb2 = _np_softmax(kw["beta"] * z[2]).mean(0)
    assert stats.norm.ppf(np.sort(pb2)[-1]) - stats.norm.ppf(np.sort(pb2)[-2]) > kw["gamma"]
    got = macer_loss(torch.tensor(z), torch.tensor(y), **kw).item()
    assert got == pytest.approx(expected, rel=1e-9)
    # images 1 and 2 add nothing to the robustness term: changing λ moves the loss by exactly the
    # hinge of images 0 and 3
    pb = _np_softmax(kw["beta"] * z).mean(1)
    hinge = sum(kw["gamma"] - (stats.norm.ppf(np.sort(pb[i])[-1]) - stats.norm.ppf(np.sort(pb[i])[-2])) for i in (0, 3))
    other = macer_loss(torch.tensor(z), torch.tensor(y), **{**kw, "lam": 0.0}).item()
    assert got - other == pytest.approx(kw["lam"] * hinge * kw["sigma"] / 2 / 4, rel=1e-9)


def test_macer_loss_gradient_flows_through_both_terms():
    z = torch.tensor([[[1.0, 0.2], [0.6, 0.5]]], requires_grad=True)
    macer_loss(z, torch.tensor([0]), sigma=0.25, lam=0.0, gamma=8.0, beta=16.0).backward()
    g0 = z.grad.clone()
    z.grad = None
    macer_loss(z, torch.tensor([0]), sigma=0.25, lam=12.0, gamma=8.0, beta=16.0).backward()
    assert torch.isfinite(z.grad).all() and not torch.allclose(z.grad, g0)


# --------------------------------------------------------------------------------------------
# 2. the default method is the loop as it was
# --------------------------------------------------------------------------------------------


def _old_three_lines(model, smoother, x, y, generator):
    """`gsmooth train`'s batch step before training methods existed (trainer.py at ef49518)."""
    with torch.no_grad():
        noisy = smoother.perturb(x, generator=generator)
    logits = model(noisy)
    loss = torch.nn.CrossEntropyLoss()(logits, y)
    return loss, logits


@pytest.mark.parametrize("transform,noise,sigma", [("additive", "gaussian", 0.25), ("brightness", "laplace", 0.2)])
def test_noise_method_is_the_old_batch_step(transform, noise, sigma):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    s = gsmooth.Smoother(model, noise=noise, sigma=sigma, transform=transform, num_classes=3)
    x, y = torch.rand(5, 1, 4, 4, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1, 2, 0, 1])
    g_old, g_new = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    for _ in range(3):
        loss, logits = _old_three_lines(model, s, x, y, g_old)
        out = NoiseAugmentation().loss(model, s, x, y, generator=g_new)
        assert torch.equal(out.loss, loss) and torch.equal(out.logits, logits)
    assert torch.equal(g_old.get_state(), g_new.get_state())  # the noise stream consumed exactly as before


def test_default_training_is_bit_for_bit_the_old_loop(tmp_path, monkeypatch):
    new = _train_state(tmp_path, "new", epochs=2)

    def old(self, model, smoother, x, y, *, generator=None):
        loss, logits = _old_three_lines(model, smoother, x, y, generator)
        return gsmooth.training.methods.MethodLoss(loss, logits)

    monkeypatch.setattr(NoiseAugmentation, "loss", old)
    assert _state_equal(new, _train_state(tmp_path, "old", epochs=2))


# --------------------------------------------------------------------------------------------
# 3. SmoothAdv's attack
# --------------------------------------------------------------------------------------------


class _Add(Transform):
    name = "test_add"
    kind = "exact"

    def forward(self, x, theta):
        return x + theta


def _smoothed_loss(model, x, y, theta, delta):
    m, b = theta.shape[:2]
    with torch.no_grad():
        logits = model((x.unsqueeze(0) + delta.unsqueeze(0) + theta).flatten(0, 1)).view(m, b, -1)
        return -torch.log(F.softmax(logits, -1).mean(0).gather(1, y.view(-1, 1))).squeeze(1)


def test_smoothadv_attack_increases_the_smoothed_loss_within_eps():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    g = torch.Generator().manual_seed(2)
    x, y = torch.rand(4, 1, 4, 4, generator=g), torch.tensor([0, 1, 2, 1])
    theta = 0.25 * torch.randn(3, 4, 1, 4, 4, generator=g)
    eps = 0.4
    model.train()
    delta = smoothadv_attack(model, _Add(), x, y, theta, eps=eps, steps=5)
    assert delta.shape == (4, 1, 4, 4)
    assert (delta.flatten(1).norm(dim=1) <= eps * (1 + 1e-5)).all()
    assert (_smoothed_loss(model, x, y, theta, delta) > _smoothed_loss(model, x, y, theta, torch.zeros_like(delta))).all()
    assert model.training  # back to train mode
    assert all(p.grad is None for p in model.parameters())  # nothing accumulated into the weights


def test_smoothadv_attack_on_a_linear_model_goes_along_the_known_direction():
    # two classes, f(x) = Wx + b: the loss -log(mean_i softmax_y) grows fastest along w_other - w_y
    # whatever the noise draws, so every l2-normalised step points there and delta = eps * that unit vector
    lin = torch.nn.Linear(6, 2).double()
    model = torch.nn.Sequential(torch.nn.Flatten(), lin)
    g = torch.Generator().manual_seed(4)
    x = torch.rand(3, 1, 2, 3, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 1])
    theta = 0.3 * torch.randn(4, 3, 1, 2, 3, generator=g, dtype=torch.float64)
    eps = 0.7
    delta = smoothadv_attack(model, _Add(), x, y, theta, eps=eps, steps=4)
    w = lin.weight.detach()
    for b in range(3):
        direction = (w[1 - y[b]] - w[y[b]]).reshape(1, 2, 3)
        assert torch.allclose(delta[b], eps * direction / direction.norm(), atol=1e-10)


def test_smoothadv_warmup_ramps_eps():
    method = SmoothAdvTraining(eps=1.0, steps=1, warmup=4)
    seen = []
    for epoch in range(6):
        method.set_epoch(epoch)
        seen.append(method.current_eps)
    assert seen == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert SmoothAdvTraining(eps=1.0, steps=1).current_eps == 1.0


class _Detached(Transform):
    """A plugin-style transform whose forward detaches theta (no gradient in theta)."""

    name = "test_detached"
    param_dim = 1
    kind = "exact"

    def forward(self, x, theta):
        return x + theta.detach().view(-1, 1, 1, 1)


def test_smoothadv_refuses_a_transform_without_a_gradient_in_theta():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    for transform in (_Detached(), gsmooth.transform("translation")):
        s = gsmooth.Smoother(model, noise="gaussian", sigma=0.5, transform=transform, num_classes=2,
                             input_shape=(1, 4, 4))
        with pytest.raises(InvalidParameterError, match="differentiable in theta"):
            SmoothAdvTraining(eps=0.1, steps=1).check(s)
    s = gsmooth.Smoother(model, noise="gaussian", sigma=0.2, transform="brightness", num_classes=2, input_shape=(1, 4, 4))
    SmoothAdvTraining(eps=0.1, steps=1).check(s)  # brightness has one


def test_macer_refuses_non_gaussian_noise():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    with pytest.raises(InvalidParameterError, match="isotropic Gaussian noise.*'laplace'"):
        MacerTraining().check(gsmooth.Smoother(model, noise="laplace", sigma=0.5, num_classes=2))
    MacerTraining().check(gsmooth.Smoother(model, noise="gaussian", sigma=0.5, num_classes=2))


# --------------------------------------------------------------------------------------------
# 4. components: parameters, registry, facade
# --------------------------------------------------------------------------------------------


def test_methods_are_components():
    assert {"noise", "consistency", "smoothadv", "macer"} <= set(gsmooth.available_training_methods())
    m = gsmooth.training_method("consistency", lam=2.0, copies=3)
    assert isinstance(m, ConsistencyTraining) and m.get_params() == {"lam": 2.0, "eta": 0.5, "copies": 3}
    assert MacerTraining().get_params() == {"lam": 12.0, "gamma": 8.0, "beta": 16.0, "copies": 16, "warmup": 0}
    with pytest.raises(UnknownComponentError, match="unknown training method 'macr'.*Did you mean 'macer'.*consistency"):
        gsmooth.training_method("macr")
    for name, params in [("consistency", {"lam": 0.0}), ("consistency", {"lam": 1.0, "copies": 1}),
                         ("consistency", {"lam": 1.0, "eta": -1}), ("smoothadv", {"eps": 0.0, "steps": 1}),
                         ("smoothadv", {"eps": 1.0, "steps": 0}), ("smoothadv", {"eps": 1.0, "steps": 1, "warmup": -1}),
                         ("macer", {"gamma": 0.0}), ("macer", {"lam": -1.0}), ("macer", {"beta": math.inf}),
                         ("macer", {"copies": 0}), ("consistency", {}), ("noise", {"lam": 1.0})]:
        with pytest.raises(InvalidParameterError, match="expected"):
            gsmooth.training_method(name, **params)
    # TrainConfig validates its method; a vanilla run (no noise) takes none
    with pytest.raises(InvalidParameterError, match="vanilla run .* expected the default method 'noise', got 'macer'"):
        _tiny_cfg(vanilla=True, method="macer").validate()
    with pytest.raises(InvalidParameterError, match="parameter 'lam'"):
        _tiny_cfg(method="consistency", method_params={"lam": -1.0}).validate()
    with pytest.raises(UnknownComponentError, match="unknown training method"):
        _tiny_cfg(method="nope").validate()
    _tiny_cfg(vanilla=True).validate()


def test_a_plugin_adds_a_method_through_the_hook():
    from gsmooth.errors import DuplicateComponentError, PluginError
    from gsmooth.plugin.registry import Registry
    from gsmooth.training.methods import MethodLoss, TrainingMethod

    class CleanToo(TrainingMethod):
        name = "clean_too"

        def __init__(self):
            self.validate_params()

        def loss(self, model, smoother, x, y, *, generator=None):
            logits = model(smoother.perturb(x, generator=generator))
            return MethodLoss(F.cross_entropy(logits, y) + F.cross_entropy(model(x), y), logits)

    class Good:
        @gsmooth.hookimpl
        def register_training_methods(self):
            return [CleanToo]

    class Bad:
        @gsmooth.hookimpl
        def register_training_methods(self):
            return [int]

    class Twice:
        @gsmooth.hookimpl
        def register_training_methods(self):
            return [NoiseAugmentation]

    reg = Registry(plugins=[Good()], autoload=False)
    assert reg.training_method_class("clean_too") is CleanToo
    with pytest.raises(UnknownComponentError, match="Expected one of: clean_too"):
        reg.training_method_class("noise")
    with pytest.raises(PluginError, match="expected a subclass of gsmooth.training.methods.TrainingMethod"):
        Registry(plugins=[Bad()], autoload=False)
    with pytest.raises(DuplicateComponentError, match="training method name 'noise' is registered twice"):
        Registry(plugins=[gsmooth.training.methods._plugin, Twice()], autoload=False)


def test_plugins_lists_the_methods(capsys):
    code, out, _ = run_cli(capsys, "plugins")
    assert code == 0
    for name in ("noise", "consistency", "smoothadv", "macer"):
        assert f"method     {name} " in out


# --------------------------------------------------------------------------------------------
# 5. training: reproducible, every noise/transform the method allows, resume
# --------------------------------------------------------------------------------------------

METHODS = [
    ("consistency", {"lam": 5.0}),
    ("smoothadv", {"eps": 0.25, "steps": 2, "copies": 2}),
    ("macer", {"lam": 12.0, "copies": 4}),
]


@pytest.mark.parametrize("method,params", METHODS)
def test_each_method_trains_bit_reproducibly(tmp_path, method, params):
    a = _train_state(tmp_path, "a", method=method, method_params=params)
    b = _train_state(tmp_path, "b", method=method, method_params=params)
    assert _state_equal(a, b)
    assert not _state_equal(a, _train_state(tmp_path, "plain"))  # the method changed the training
    ckpt = load_checkpoint(tmp_path / "a.pt")
    saved = ckpt.extra["train_config"]
    assert saved["method"] == method
    assert saved["method_params"] == gsmooth.training_method(method, **params).get_params()  # defaults filled in


@pytest.mark.parametrize("method,params,transform,noise,sigma", [
    ("consistency", {"lam": 5.0}, "brightness", "gaussian", 0.2),
    ("consistency", {"lam": 5.0}, "additive", "laplace", 0.25),
    ("consistency", {"lam": 5.0}, "rotation", "gaussian", 10.0),
    ("smoothadv", {"eps": 0.1, "steps": 1}, "brightness", "gaussian", 0.2),
    ("smoothadv", {"eps": 0.1, "steps": 1}, "additive", "laplace", 0.25),
    ("macer", {"copies": 2}, "brightness", "gaussian", 0.2),
])
def test_methods_train_with_transforms_and_other_noises(tmp_path, method, params, transform, noise, sigma):
    out = tmp_path / "m.pt"
    hist = train(_tiny_cfg(method=method, method_params=params, transform=transform, noise=noise,
                           noise_params={"sigma": sigma}, max_train=32), out=out, progress=False, log=lambda line: None)
    assert len(hist) == 1 and math.isfinite(hist[0].train_loss)
    assert load_checkpoint(out).smoothing["transform"] == transform


def test_macer_with_laplace_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    with pytest.raises(InvalidParameterError, match="isotropic Gaussian"):
        train(_tiny_cfg(method="macer", noise="laplace"), out=tmp_path / "m.pt", progress=False)
    _no_work(monkeypatch)
    code, _, err = run_cli(capsys, *TRAIN, "--noise", "laplace", "--macer", "12", "--out", tmp_path / "m.pt")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "isotropic Gaussian" in err
    assert not (tmp_path / "m.pt").exists()


def test_resume_keeps_the_method_and_refuses_another(tmp_path, capsys):
    out = tmp_path / "c.pt"
    params = {"lam": 5.0, "copies": 2}
    train(_tiny_cfg(method="consistency", method_params=params), out=out, progress=False, log=lambda line: None)
    with pytest.raises(CheckpointError, match="method: expected 'consistency'"):
        train(_tiny_cfg(epochs=2, method="macer"), out=out, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="method_params"):
        train(_tiny_cfg(epochs=2, method="consistency", method_params={"lam": 6.0}), out=out, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="method: expected 'consistency'"):
        train(_tiny_cfg(epochs=2), out=out, resume=True, progress=False)  # the default method is another one
    assert load_checkpoint(out).epoch == 1  # the refusals wrote nothing
    # the same method (its defaults spelled or not) continues
    hist = train(_tiny_cfg(epochs=2, method="consistency", method_params={**params, "eta": 0.5}), out=out, resume=True,
                 progress=False, log=lambda line: None)
    assert [h.epoch for h in hist] == [2] and load_checkpoint(out).epoch == 2


def test_old_checkpoints_resume_as_the_noise_method(tmp_path):
    out = tmp_path / "old.pt"
    train(_tiny_cfg(), out=out, progress=False, log=lambda line: None)
    ckpt = torch.load(out, map_location="cpu", weights_only=False)
    cfg = ckpt["extra"]["train_config"] if "extra" in ckpt else None
    if cfg is None:  # not the layout this test knows: say so instead of testing nothing
        pytest.fail(f"unexpected checkpoint layout: {sorted(ckpt)}")
    del cfg["method"], cfg["method_params"]
    torch.save(ckpt, out)
    train(_tiny_cfg(epochs=2), out=out, resume=True, progress=False, log=lambda line: None)
    with pytest.raises(CheckpointError, match="method"):
        train(_tiny_cfg(epochs=3, method="consistency", method_params={"lam": 1.0}), out=out, resume=True, progress=False)


# --------------------------------------------------------------------------------------------
# 6. the command line
# --------------------------------------------------------------------------------------------

TRAIN = ["train", "--dataset", "fashion-mnist", "--max-train", "32", "--max-eval", "16", "--batch", "16",
         "--no-progress", "--epochs", "1"]


def _no_work(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("work started before the flags were checked")

    monkeypatch.setattr(trainer_mod, "load_dataset", boom)


@pytest.mark.parametrize("flags,words", [
    (["--consistency", "1", "--macer", "2"], "at most one training method"),
    (["--smoothadv", "0.5,2", "--consistency", "1"], "at most one training method"),
    (["--copies", "4"], "--copies expected with"),
    (["--consistency-eta", "0.1"], "--consistency-eta expected with --consistency"),
    (["--macer", "1", "--consistency-eta", "0.1"], "--consistency-eta expected with --consistency"),
    (["--smoothadv-warmup", "2"], "--smoothadv-warmup expected with --smoothadv"),
    (["--macer-gamma", "2"], "--macer-gamma expected with --macer"),
    (["--consistency", "1", "--macer-beta", "2"], "--macer-beta expected with --macer"),
    (["--consistency", "0"], "--consistency: parameter 'lam' expected"),
    (["--consistency", "abc"], "--consistency expected a number, got 'abc'"),
    (["--consistency", "nan"], "--consistency: parameter 'lam' expected"),
    (["--consistency", "1", "--copies", "1"], "--copies: parameter 'copies' expected an integer in [2, inf]"),
    (["--consistency", "1", "--copies", "2.5"], "--copies expected an integer"),
    (["--consistency", "1", "--consistency-eta", "-1"], "parameter 'eta'"),
    (["--smoothadv", "0.5"], "--smoothadv expected EPS,STEPS"),
    (["--smoothadv", "0.5,2,3"], "--smoothadv expected EPS,STEPS"),
    (["--smoothadv", "0,2"], "parameter 'eps'"),
    (["--smoothadv", "0.5,0"], "parameter 'steps'"),
    (["--smoothadv", "0.5,1.5"], "--smoothadv expected an integer"),
    (["--smoothadv", "0.5,2", "--smoothadv-warmup", "-1"], "parameter 'warmup'"),
    (["--macer", "-1"], "parameter 'lam'"),
    (["--macer", "1", "--macer-gamma", "0"], "parameter 'gamma'"),
    (["--macer", "1", "--macer-beta", "inf"], "parameter 'beta'"),
    (["--macer", "1", "--copies", "0"], "parameter 'copies'"),
    (["--macer", "1", "--no-noise"], "--no-noise"),
    (["--smoothadv", "0.5,1", "--transform", "translation"], "differentiable in theta"),
])
def test_bad_method_flags_are_one_line_before_any_work(tmp_path, capsys, monkeypatch, flags, words):
    _no_work(monkeypatch)
    out = tmp_path / "m.pt"
    code, stdout, err = run_cli(capsys, *TRAIN, *flags, "--out", out)
    assert code == 2, (stdout, err)
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert not out.exists()


def test_cli_trains_with_a_method_and_resumes_with_it(tmp_path, capsys):
    out = tmp_path / "m.pt"
    code, stdout, err = run_cli(capsys, *TRAIN, "--consistency", "4", "--copies", "3", "--out", out)
    assert code == 0, err
    assert "method consistency (lam=4, eta=0.5, copies=3)" in stdout.strip().splitlines()[-1]
    # --resume without method flags: the saved method and parameters
    code, stdout, err = run_cli(capsys, *TRAIN[:-1], "2", "--resume", "--out", out)
    assert code == 0, err
    saved = load_checkpoint(out).extra["train_config"]
    assert saved["method"] == "consistency" and saved["method_params"] == {"lam": 4.0, "eta": 0.5, "copies": 3}
    assert load_checkpoint(out).epoch == 2
    # another method: refused with one line, the checkpoint untouched
    before = out.read_bytes()
    code, _, err = run_cli(capsys, *TRAIN[:-1], "3", "--resume", "--macer", "12", "--out", out)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "method: expected 'consistency'" in err, err
    assert out.read_bytes() == before


def _old_macer_masking(logits, y, *, sigma, lam, gamma, beta):
    """The mutant: Φ⁻¹ on every correct image, masked afterwards (0 · ∞ = NaN in the gradient)."""
    b = logits.shape[0]
    p = F.softmax(logits, dim=2).mean(1)
    classification = F.nll_loss(torch.log(p + 1e-10), y, reduction="sum")
    top, idx = torch.topk(F.softmax(beta * logits, dim=2).mean(1), 2, dim=1)
    correct = idx[:, 0] == y
    normal = torch.distributions.Normal(0.0, 1.0)
    xi = normal.icdf(top[correct, 0]) - normal.icdf(top[correct, 1])
    keep = torch.isfinite(xi) & (xi <= gamma)
    return (classification + lam * (gamma - xi[keep]).sum() * sigma / 2) / b


def test_macer_gradient_stays_finite_when_the_beta_softmax_saturates():
    # image 0: a margin of 10 in logits is 160 after beta = 16: its beta-softmax is exactly 1.0 in float32,
    # Φ⁻¹(1) = inf; image 1 stays in the hinge. A real small_cnn run reached this in its first epoch.
    logits = torch.tensor([[[10.0, 0.0, 0.0], [10.0, 0.0, 0.0]], [[0.3, 0.0, 0.1], [0.2, 0.1, 0.0]]], requires_grad=True)
    y = torch.tensor([0, 0])
    loss = macer_loss(logits, y, sigma=0.25, lam=12.0, gamma=8.0, beta=16.0)
    loss.backward()
    assert math.isfinite(loss.item()) and bool(torch.isfinite(logits.grad).all())
    assert bool((logits.grad[1] != 0).any())  # the kept image is trained by the hinge
    # the loss value equals the formula on image 1 only for the hinge, and the mutant's gradient is NaN
    mutant_logits = logits.detach().clone().requires_grad_(True)
    mutant = _old_macer_masking(mutant_logits, y, sigma=0.25, lam=12.0, gamma=8.0, beta=16.0)
    assert mutant.item() == pytest.approx(loss.item(), rel=1e-6)
    mutant.backward()
    assert not bool(torch.isfinite(mutant_logits.grad).all())


def test_a_nan_gradient_stops_training_before_the_step(tmp_path, monkeypatch):
    """A finite loss with a non-finite gradient is a TrainingDivergedError naming the gradient; nothing is saved."""
    from gsmooth.errors import TrainingDivergedError

    def nan_grad_loss(self, model, smoother, x, y, *, generator=None):
        logits = model(smoother.perturb(x, generator=generator))
        z = torch.zeros((), requires_grad=True) + logits.sum() * 0.0
        bad = torch.sqrt(z - z)  # value 0, derivative inf: d/dz sqrt(0) · 0 = NaN
        loss = F.cross_entropy(logits, y) + bad
        from gsmooth.training.methods.base import MethodLoss
        return MethodLoss(loss, logits.detach())

    monkeypatch.setattr(NoiseAugmentation, "loss", nan_grad_loss)
    out = tmp_path / "nan.pt"
    with pytest.raises(TrainingDivergedError, match="gradient of the training loss"):
        train(_tiny_cfg(clip_grad=None), out=out, progress=False, log=lambda line: None)
    assert not out.exists()


def test_macer_warmup_trains_without_the_robustness_loss_first():
    s = gsmooth.Smoother(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)), noise="gaussian", sigma=0.25,
                         num_classes=3)
    torch.manual_seed(0)
    x, y = torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 2, 0])

    def loss(method, epoch):
        method.set_epoch(epoch)
        return method.loss(s.model, s, x, y, generator=torch.Generator().manual_seed(7)).loss.item()

    warm = MacerTraining(lam=12.0, copies=3, warmup=1, beta=1.0)
    assert loss(warm, 0) == pytest.approx(loss(MacerTraining(lam=0.0, copies=3, beta=1.0), 0))
    assert loss(warm, 1) == pytest.approx(loss(MacerTraining(lam=12.0, copies=3, beta=1.0), 1))
    assert loss(warm, 1) != pytest.approx(loss(warm, 0))


def test_macer_warmup_flag_is_recorded(tmp_path, capsys):
    out = tmp_path / "m.pt"
    code, printed, err = run_cli(capsys, "train", "--dataset", "fashion-mnist", "--max-train", 64, "--max-eval", 16,
                                 "--epochs", 1, "--batch", 32, "--macer", 2, "--macer-warmup", 1, "--copies", 2,
                                 "--no-progress", "--out", out)
    assert code == 0, err
    saved = load_checkpoint(out).extra["train_config"]
    assert saved["method"] == "macer" and saved["method_params"]["warmup"] == 1
    assert "warmup=1" in printed
