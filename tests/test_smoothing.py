"""The smoothing engine: CERTIFY/PREDICT on tiny deterministic models, seeding, input validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

import gsmooth
from gsmooth import ABSTAIN, Certificate, Prediction, ResultBatch, Smoother
from gsmooth.errors import InputError, InvalidParameterError, UnknownComponentError

K = 10


class ConstantModel(nn.Module):
    """Always votes for ``label``, whatever the input."""

    def __init__(self, label: int = 3, num_classes: int = K, input_shape=(1, 4, 4)):
        super().__init__()
        self.label, self.num_classes, self.input_shape = label, num_classes, tuple(input_shape)

    def forward(self, x):
        out = torch.zeros(x.shape[0], self.num_classes, dtype=x.dtype, device=x.device)
        out[:, self.label] = 1.0
        return out


class PixelVote(nn.Module):
    """Logits = the first ``k`` pixels of the noisy image.

    Purely elementwise, so a row's vote cannot depend on what else shares its forward batch; with
    a constant image every class is equally likely, with a graded one the brightest pixel usually wins.
    """

    def __init__(self, k: int = K, input_shape=(1, 4, 4)):
        super().__init__()
        self.k, self.input_shape = k, tuple(input_shape)
        self.max_batch = 0
        self.calls = 0

    def forward(self, x):
        self.max_batch = max(self.max_batch, x.shape[0])
        self.calls += 1
        return x.flatten(1)[:, : self.k]


def graded_images() -> torch.Tensor:
    """Three (1,4,4) images whose brightest of the first 10 pixels is class 0, 4 and 9."""
    base = torch.full((3, 16), 0.1)
    base[0, 0], base[0, 1] = 1.0, 0.6
    base[1, 4], base[1, 5] = 0.95, 0.3
    base[2, 9], base[2, 2] = 1.0, 0.5
    return base.view(3, 1, 4, 4)


# -- CERTIFY ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 100, 1000])
def test_certify_constant_model(n):
    sigma, alpha = 0.25, 0.001
    smoother = Smoother(ConstantModel(), noise="gaussian", sigma=sigma, num_classes=K)
    cert = smoother.certify(torch.rand(1, 4, 4), n0=10, n=n, alpha=alpha, batch_size=64)
    assert isinstance(cert, Certificate)
    p_lower = alpha ** (1.0 / n)  # Clopper–Pearson with nA = n
    assert cert.count == n
    assert cert.p_lower == pytest.approx(p_lower, rel=1e-12)
    if p_lower > 0.5:
        assert cert.prediction == 3
        assert cert.radius == pytest.approx(sigma * stats.norm.ppf(p_lower), rel=1e-12)
    else:  # n=1: p_lower = 0.001, the engine must abstain even for a perfect model
        assert cert.prediction == ABSTAIN and cert.radius == 0.0
    assert (cert.n0, cert.n, cert.alpha) == (10, n, alpha)
    assert cert.noise == "gaussian(sigma=0.25)" and cert.transform == "additive"
    assert cert.kind == "exact" and cert.norm == "l2" and cert.lipschitz == 1.0
    assert set(cert.to_dict()) >= {"prediction", "radius", "p_lower", "count"}


def test_certify_matches_design_vector_for_perfect_model():
    # DESIGN §4: nA = n = 100000, alpha = 0.001 -> p_lower = 0.99993092, R = 3.8115 sigma
    smoother = Smoother(ConstantModel(), noise="gaussian", sigma=0.5, num_classes=K)
    cert = smoother.certify(torch.rand(1, 4, 4), n0=100, n=100_000, alpha=0.001, batch_size=20_000)
    assert cert.p_lower == pytest.approx(0.99993092, abs=1e-8)
    assert cert.radius / 0.5 == pytest.approx(3.8115, abs=1e-4)


def test_certify_uniform_random_votes_abstains():
    smoother = Smoother(PixelVote(), noise="gaussian", sigma=0.5, num_classes=K)
    cert = smoother.certify(torch.full((1, 4, 4), 0.5), n0=100, n=2000, alpha=0.001, batch_size=500)
    assert cert.prediction == ABSTAIN
    assert cert.radius == 0.0
    assert 0.05 < cert.count / 2000 < 0.16  # about 1/10 of the votes
    assert cert.p_lower < 0.5 and cert.abstained


def test_batch_returns_result_batch_with_array_fields():
    smoother = Smoother(PixelVote(), noise="gaussian", sigma=0.25, num_classes=K)
    batch = smoother.certify(graded_images(), n0=50, n=500, alpha=0.001, batch_size=300)
    assert isinstance(batch, ResultBatch) and len(batch) == 3
    assert all(isinstance(c, Certificate) for c in batch)
    assert isinstance(batch.prediction, np.ndarray) and batch.prediction.shape == (3,)
    assert batch.prediction.tolist() == [0, 4, 9]
    assert batch.radius.dtype == np.float64 and np.all(batch.radius > 0)
    assert batch.p_lower.shape == (3,) and batch.count.shape == (3,)
    assert batch.abstained.tolist() == [False, False, False]
    with pytest.raises(AttributeError):
        batch.not_a_field
    one = smoother.certify(graded_images()[:1], n0=50, n=500, alpha=0.001)
    assert isinstance(one, ResultBatch) and len(one) == 1  # a (1,C,H,W) batch stays a batch


def test_radius_is_noise_radius_of_p_lower():
    smoother = Smoother(PixelVote(), noise="gaussian", sigma=0.25, num_classes=K)
    batch = smoother.certify(graded_images(), n0=50, n=1000, alpha=0.01)
    for cert in batch:
        assert cert.p_lower == pytest.approx(float(stats.beta.ppf(0.01, cert.count, 1000 - cert.count + 1)), rel=1e-10)
        assert cert.radius == pytest.approx(0.25 * stats.norm.ppf(cert.p_lower), rel=1e-12)


@pytest.mark.parametrize("name, sigma", [("laplace", 0.3), ("uniform", 0.4)])
def test_laplace_and_uniform_through_the_engine(name, sigma):
    noise = gsmooth.noise(name, sigma=sigma)
    smoother = Smoother(ConstantModel(), noise=noise, num_classes=K)
    cert = smoother.certify(torch.rand(1, 4, 4), n0=10, n=1000, alpha=0.001)
    assert cert.prediction == 3 and cert.count == 1000
    assert cert.radius == pytest.approx(noise.radius(0.001 ** (1 / 1000)), rel=1e-12)
    assert cert.norm == "l1" and cert.noise == f"{name}(sigma={sigma:g})"
    graded = Smoother(PixelVote(), noise=noise, num_classes=K).certify(graded_images(), n0=50, n=500, alpha=0.001)
    assert graded.prediction.tolist() == [0, 4, 9]


def test_model_mode_is_restored():
    model = PixelVote()
    model.train()
    Smoother(model, noise="gaussian", sigma=0.25, num_classes=K).certify(graded_images()[0], n0=5, n=20)
    assert model.training


# -- PREDICT ----------------------------------------------------------------------------------------------
def test_predict():
    smoother = Smoother(ConstantModel(), noise="gaussian", sigma=0.25, num_classes=K)
    pred = smoother.predict(torch.rand(1, 4, 4), n=100, alpha=0.001)
    assert isinstance(pred, Prediction)
    assert pred.prediction == 3 and pred.count == 100 and pred.runner_up_count == 0
    assert pred.p_value == pytest.approx(2 * 0.5**100, rel=1e-6)
    noisy = Smoother(PixelVote(), noise="gaussian", sigma=0.5, num_classes=K)
    assert noisy.predict(torch.full((1, 4, 4), 0.5), n=1000, alpha=0.001).prediction == ABSTAIN
    batch = Smoother(PixelVote(), noise="gaussian", sigma=0.25, num_classes=K).predict(graded_images(), n=500)
    assert isinstance(batch, ResultBatch) and batch.prediction.tolist() == [0, 4, 9]
    assert np.all(batch.p_value <= 0.001)


# -- seeding -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference():
    smoother = Smoother(PixelVote(), noise="gaussian", sigma=0.5, num_classes=K)
    x = graded_images()
    return smoother, x, smoother.certify(x, n0=100, n=2000, alpha=0.001, batch_size=1000, seed=7)


@pytest.mark.parametrize("batch_size", [1, 37, 100, 5000])
def test_same_seed_same_certificates_whatever_batch_size(reference, batch_size):
    smoother, x, ref = reference
    assert 0 < ref.count.min() and ref.count.max() < 2000  # votes are genuinely random
    got = smoother.certify(x, n0=100, n=2000, alpha=0.001, batch_size=batch_size, seed=7)
    assert tuple(got) == tuple(ref)


def test_same_seed_same_certificates_alone_or_in_a_batch(reference):
    smoother, x, ref = reference
    alone = smoother.certify(x[1], n0=100, n=2000, alpha=0.001, batch_size=333, seed=7, keys=[1])
    assert alone == ref[1]
    reordered = smoother.certify(x[[2, 0]], n0=100, n=2000, alpha=0.001, batch_size=4000, seed=7, keys=[2, 0])
    assert tuple(reordered) == (ref[2], ref[0])


def test_different_seeds_differ(reference):
    smoother, x, ref = reference
    counts = {tuple(smoother.certify(x, n0=100, n=2000, alpha=0.001, seed=s).count) for s in (1, 2, 3)}
    counts.add(tuple(ref.count))
    assert len(counts) == 4


def test_predict_seeded_whatever_batch_size():
    smoother = Smoother(PixelVote(), noise="laplace", sigma=0.3, num_classes=K)
    x = graded_images()
    a = smoother.predict(x, n=700, batch_size=1000, seed=3)
    b = smoother.predict(x, n=700, batch_size=64, seed=3)
    assert tuple(a) == tuple(b)
    assert smoother.predict(x[2], n=700, batch_size=5, seed=3, keys=[2]) == a[2]


def test_count_memory_and_progress(capsys):
    model = PixelVote()
    smoother = Smoother(model, noise="gaussian", sigma=0.25, num_classes=K)
    counts = smoother.count(graded_images(), 5000, batch_size=128, seed=0, progress=True)
    assert counts.shape == (3, K) and counts.dtype == torch.int64
    assert counts.sum(dim=1).tolist() == [5000] * 3
    assert model.max_batch <= 128  # memory is O(batch_size), not O(n)
    cert = smoother.certify(graded_images()[0], n0=10, n=300, batch_size=64, progress=True)
    assert cert.prediction == 0
    # small n: several images share a forward batch
    model.calls = 0
    smoother.count(graded_images(), 10, batch_size=1000)
    assert model.calls == 1


class GradProbe(nn.Module):
    """A trainable model (weights with ``requires_grad``) that records whether autograd was on."""

    def __init__(self, k: int = K):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.k, self.grad_enabled = k, []

    def forward(self, x):
        self.grad_enabled.append(torch.is_grad_enabled())
        return self.scale * x.flatten(1)[:, : self.k]


def test_sampling_never_builds_an_autograd_graph():
    # every route to the sampling loop (not only count(), which enters inference mode itself): a
    # graph per batch would keep all activations alive — for a surrogate's U-Net, gigabytes
    model = GradProbe()
    smoother = Smoother(model, noise="gaussian", sigma=0.25, transform="brightness", num_classes=K)
    x = graded_images()
    smoother.count(x, 20)
    smoother.certify(x, n0=10, n=20)
    smoother.predict(x, n=20)
    smoother.certify_interval(x[0], low=-0.1, high=0.1, slices=2, n0=10, n=20)
    assert len(model.grad_enabled) >= 4 and not any(model.grad_enabled)
    assert torch.is_grad_enabled()  # and nothing leaks out


# -- perturb ------------------------------------------------------------------------------------------------
def test_perturb_is_x_plus_theta():
    sigma = 0.2
    smoother = Smoother(ConstantModel(input_shape=(1, 8, 8)), noise="gaussian", sigma=sigma, num_classes=K)
    x = torch.rand(400, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    out = smoother.perturb(x, generator=torch.Generator().manual_seed(1))
    theta = out - x
    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(theta.mean()) == pytest.approx(0.0, abs=0.01)
    assert float(theta.std()) == pytest.approx(sigma, rel=0.02)
    same = smoother.perturb(x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, same)
    expected = gsmooth.noise("gaussian", sigma=sigma).sample(x.shape, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(theta, expected, atol=1e-6)
    lap = Smoother(ConstantModel(input_shape=(1, 8, 8)), noise="laplace", sigma=sigma, num_classes=K)
    theta = lap.perturb(x, generator=torch.Generator().manual_seed(1)) - x
    assert float(theta.abs().mean()) == pytest.approx(sigma, rel=0.03)  # E|Laplace(λ)| = λ


# -- bad inputs ----------------------------------------------------------------------------------------------
def _smoother(**kw):
    kw.setdefault("noise", "gaussian")
    kw.setdefault("sigma", 0.25)
    kw.setdefault("num_classes", K)
    return Smoother(kw.pop("model", ConstantModel()), **kw)


@pytest.mark.parametrize("sigma", [0, 0.0, -0.5, float("nan"), float("inf")])
def test_bad_sigma(sigma):
    with pytest.raises(InvalidParameterError, match="expected"):
        _smoother(sigma=sigma)


def test_noise_by_name_needs_sigma():
    with pytest.raises(InvalidParameterError, match="expected sigma"):
        Smoother(ConstantModel(), noise="gaussian", num_classes=K)


@pytest.mark.parametrize("name, value", [("alpha", v) for v in (0, 1, -0.1, 1.5, float("nan"))]
                         + [("n0", 0), ("n0", -5), ("n", 0), ("n", -1), ("n", 2.5), ("batch_size", 0),
                            ("batch_size", -1), ("seed", -1), ("seed", 0.5)])
def test_bad_certify_arguments(name, value):
    smoother = _smoother()
    with pytest.raises(InvalidParameterError, match="expected") as info:
        smoother.certify(torch.rand(1, 4, 4), **{"n0": 10, "n": 100, name: value})
    assert name in str(info.value)
    if name != "n0":
        with pytest.raises(InvalidParameterError, match="expected"):
            smoother.predict(torch.rand(1, 4, 4), **{"n": 100, name: value})


def test_unknown_component_names():
    with pytest.raises(UnknownComponentError, match="(?i)expected one of.*gaussian"):
        Smoother(ConstantModel(), noise="gausian", sigma=0.25, num_classes=K)
    with pytest.raises(UnknownComponentError, match="(?i)expected one of.*additive"):
        Smoother(ConstantModel(), noise="gaussian", sigma=0.25, transform="rotation_xyz", num_classes=K)


@pytest.mark.parametrize(
    "x",
    [
        torch.rand(4, 4),  # 2-D
        torch.rand(1, 1, 1, 4, 4),  # 5-D
        torch.rand(3, 4, 4),  # wrong channels vs input_shape (1,4,4)
        torch.rand(2, 1, 5, 4),  # wrong height
        torch.zeros(0, 1, 4, 4),  # empty batch
        torch.full((1, 4, 4), float("nan")),
        torch.tensor([[[0.5, float("inf"), 0.2, 0.1]] * 4]),
        torch.zeros(1, 4, 4, dtype=torch.uint8),  # integer dtype
        torch.zeros(1, 4, 4, dtype=torch.int64),
        torch.full((1, 4, 4), 1.5),  # pixel range outside [0, 1]
        torch.full((1, 4, 4), -0.2),
        torch.full((1, 4, 4), 128.0),  # forgot / 255
        [[0.5]],  # not a tensor
    ],
    ids=["2d", "5d", "channels", "height", "empty", "nan", "inf", "uint8", "int64", "above1", "below0", "x255", "list"],
)
def test_bad_inputs(x):
    smoother = _smoother()
    with pytest.raises(InputError, match="expected"):
        smoother.certify(x, n0=10, n=100)
    with pytest.raises(InputError, match="expected"):
        smoother.predict(x, n=100)


def test_numpy_input_is_accepted():
    cert = _smoother().certify(np.random.default_rng(0).random((1, 4, 4), dtype=np.float32), n0=10, n=100)
    assert cert.prediction == 3


def test_model_with_wrong_number_of_logits():
    smoother = _smoother(model=ConstantModel(num_classes=5))  # but the Smoother says 10
    with pytest.raises(InputError, match=r"expected the model \(ConstantModel\) to return logits of shape \(\d+, num_classes=10\)"):
        smoother.certify(torch.rand(1, 4, 4), n0=10, n=100)


def test_one_sided_noise_with_additive_transform():
    with pytest.raises(InvalidParameterError, match="expected a noise whose radius is proven in a norm of the image"):
        _smoother(noise="exponential", sigma=1.0)
    with pytest.raises(InvalidParameterError, match="expected"):
        Smoother(ConstantModel(), noise=gsmooth.noise("one_sided_uniform", sigma=1.0), num_classes=K)


def test_bad_constructor_arguments():
    with pytest.raises(InvalidParameterError, match="expected"):
        _smoother(num_classes=1)
    with pytest.raises(InvalidParameterError, match="expected"):
        Smoother("not a model", noise="gaussian", sigma=0.25, num_classes=K)
    with pytest.raises(InvalidParameterError, match="expected"):
        Smoother(ConstantModel(), noise=object(), num_classes=K)
    with pytest.raises(InvalidParameterError, match="expected"):
        Smoother(ConstantModel(), noise="gaussian", sigma=0.25, transform=object(), num_classes=K)
    with pytest.raises(InvalidParameterError, match="conflicts"):
        Smoother(ConstantModel(), noise=gsmooth.noise("gaussian", sigma=0.5), sigma=0.25, num_classes=K)
    with pytest.raises(InvalidParameterError, match="expected one key per image"):
        _smoother().certify(torch.rand(2, 1, 4, 4), n0=10, n=100, keys=[0])


def test_input_shape_is_optional():
    model = ConstantModel()
    del model.input_shape
    cert = Smoother(model, noise="gaussian", sigma=0.25, num_classes=K).certify(torch.rand(3, 5, 5), n0=5, n=50)
    assert cert.prediction == 3
    explicit = Smoother(model, noise="gaussian", sigma=0.25, num_classes=K, input_shape=(3, 5, 5))
    with pytest.raises(InputError, match=r"\(3, 5, 5\)"):
        explicit.certify(torch.rand(1, 5, 5), n0=5, n=50)


def test_repr_and_norm():
    s = _smoother(noise="laplace", sigma=0.5)
    assert "LaplaceNoise(sigma=0.5)" in repr(s) and s.norm == "l1"
    assert not math.isnan(s.certify(torch.rand(1, 4, 4), n0=5, n=50).radius)


@pytest.mark.parametrize("threads", [1, 2])
def test_noise_blocks_identical_whatever_threads_and_inference_mode(threads):
    """Blocks are drawn on worker threads when torch uses several; values must not change, in or out
    of inference mode."""
    from gsmooth.core.seeding import BLOCK_SIZE, NoiseStream

    noise = gsmooth.noise("gaussian", sigma=0.5)
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        one_by_one = NoiseStream(noise, (1, 5, 5), (3, 7, 1), device="cpu", dtype=torch.float32)
        expected = torch.cat([one_by_one.take(BLOCK_SIZE) for _ in range(12)])
        for mode in (False, True):
            with torch.inference_mode(mode):
                stream = NoiseStream(noise, (1, 5, 5), (3, 7, 1), device="cpu", dtype=torch.float32)
                got = stream.take(12 * BLOCK_SIZE)
            assert torch.equal(got, expected)
    finally:
        torch.set_num_threads(old)


class NaNLogits(torch.nn.Module):
    """A broken model: NaN logits (argmax of NaN is class 0, which used to certify as class 0)."""

    def forward(self, x):
        return torch.full((x.shape[0], 3), float("nan"))


def test_non_finite_logits_are_an_error_naming_the_model_never_votes():
    sm = gsmooth.Smoother(NaNLogits(), noise="gaussian", sigma=0.25, num_classes=3)
    for call in (lambda: sm.certify(torch.rand(1, 4, 4), n0=10, n=20),
                 lambda: sm.predict(torch.rand(1, 4, 4), n=20)):
        with pytest.raises(gsmooth.ModelOutputError, match=r"expected finite logits from the model \(NaNLogits\)"):
            call()


def test_a_checkpoint_with_nan_weights_is_named_in_the_error(tmp_path):
    from gsmooth.io.checkpoints import load_checkpoint, save_checkpoint
    from gsmooth.data.datasets import dataset_info
    from gsmooth.models.architectures import build_model

    info = dataset_info("fashion-mnist")
    net = build_model("small_cnn", num_classes=10, input_shape=info.input_shape, mean=info.mean, std=info.std)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(float("nan"))
    path = tmp_path / "nan.pt"
    save_checkpoint(path, model=net, arch="small_cnn", dataset="fashion-mnist", num_classes=10,
                    input_shape=info.input_shape, mean=info.mean, std=info.std, epoch=1, smoothing={})
    model = load_checkpoint(path).build_model()
    sm = gsmooth.Smoother(model, noise="gaussian", sigma=0.25, num_classes=10)
    with pytest.raises(gsmooth.ModelOutputError, match="nan.pt"):
        sm.certify(torch.rand(1, 28, 28), n0=10, n=20)
