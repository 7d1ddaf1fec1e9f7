"""quantized_additive: additive smoothing of quantised images with no x-dependent float rounding
(Voráček & Hein, ICLR 2023). The plain ``additive`` transform in float32 leaks x through the
rounding of x + ε; these tests show the leak there and its absence here, down to the bits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

import gsmooth
from gsmooth.errors import InputError, InvalidParameterError
from gsmooth.testing import check_transform
from gsmooth_plugins.transforms import QuantizedAdditive
from gsmooth_plugins.transforms.additive import additive
from gsmooth_plugins.transforms.quantized_additive import NOISE_STEP, lattice_sum, quantized_additive

L = 255
SIGMA = 0.25


def _levels(shape, seed, lo=0, hi=L):
    return torch.randint(lo, hi + 1, shape, generator=torch.Generator().manual_seed(seed)).to(torch.float64)


def _noise(shape, seed, dtype=torch.float32):
    return gsmooth.noise("gaussian", sigma=SIGMA).sample(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _image(big_x, dtype=torch.float32):
    """The quantised image X/L as a loader gives it (uint8 / 255 in the image's dtype)."""
    return big_x.to(dtype) / L


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(torch.int32) if t.dtype == torch.float32 else t.view(torch.int64)


# -- (a) the defining property: the output is a function of the exact lattice sum X + R ---------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_output_depends_only_on_the_lattice_sum(dtype):
    shape = (8, 3, 16, 16)
    big_x = _levels(shape, 0)
    k = _levels(shape, 1, -4, 4)  # an integer shift per pixel, to another quantised image
    x, x_shifted = _image(big_x, dtype), _image(big_x + k, dtype)
    eps = _noise(shape, 2, dtype)
    s = lattice_sum(x, eps)
    assert s.dtype == dtype
    assert torch.equal(s, big_x.to(dtype) + torch.floor(eps * (L / NOISE_STEP) + 0.5) * NOISE_STEP)
    assert torch.equal(torch.remainder(s / NOISE_STEP, 1.0), torch.zeros_like(s))  # on the grid hℤ
    # same draws at x + k/L: exactly the lattice value shifted by k, bit for bit
    s_shifted = lattice_sum(x_shifted, eps)
    assert torch.equal(s_shifted, s + k.to(dtype))
    out_shifted = quantized_additive(x_shifted, eps)
    assert out_shifted.dtype == dtype
    assert torch.equal(_bits(out_shifted), _bits(((s.double() + k) / L).to(dtype)))
    # and another split of the same sum, X + R = X' + R', gives the same bits: here the noise
    # carries the shift instead of the image ((ε + k/L)·L in float64 rounds back onto the grid)
    out_moved = quantized_additive(x, eps.double() + k / L)
    assert torch.equal(_bits(out_moved), _bits(out_shifted))


def test_rounding_commutes_with_integer_shifts_on_ties():
    """A noise exactly half-way between two h-cells rounds the same way after any integer shift
    (round-half-up; round-half-to-even would not, for odd shifts when h = 1)."""
    big_x = torch.arange(0.0, 256.0, dtype=torch.float64).reshape(1, 1, 16, 16)
    half = (torch.arange(256, dtype=torch.float64).reshape(1, 1, 16, 16) - 128 + 0.5) * NOISE_STEP
    eps = half / L  # E = ε·L lands (up to the float64 product) on a tie of the h-grid
    s = lattice_sum(big_x / L, eps)
    r = s - big_x
    s0 = lattice_sum(torch.zeros_like(big_x), eps)
    assert torch.equal(r, s0)


# -- (b) the plain additive transform in float32 does not have it -------------------------------------------
def test_plain_additive_leaks_x_through_float32_rounding():
    """Quantised x, x' and one noise draw ε: the noise actually added, fl32(x + ε) − x (computed
    exactly in float64), differs between x and x' — so the sampled point is not x + (a noise
    independent of x). quantized_additive adds the same lattice noise R to both, bit for bit."""
    shape = (1, 3, 32, 32)
    big_x = _levels(shape, 3)
    big_x2 = torch.remainder(big_x + 1, L + 1)
    x, x2 = _image(big_x), _image(big_x2)
    eps = _noise(shape, 4)
    added = additive(x, eps).double() - x.double()
    added2 = additive(x2, eps).double() - x2.double()
    differ = added != added2
    assert int(differ.sum()) > 0.1 * differ.numel()  # ~20 % of the pixels: the rounding moves with x
    i = int(torch.nonzero(differ.flatten())[0])
    a, b = float(added.flatten()[i]), float(added2.flatten()[i])
    assert a != b  # e.g. fl32(x + ε) − x ≠ fl32(x' + ε) − x' for this pixel
    # the same check, on quantized_additive: identical lattice noise
    r, r2 = lattice_sum(x, eps) - big_x, lattice_sum(x2, eps) - big_x2
    assert torch.equal(r, r2)
    # and the defining property of (a) fails for the plain transform: moving k from the noise to
    # the image changes the output bits
    k = big_x2 - big_x
    naive_moved = additive(x2, (eps.double() - k / L).float())
    assert not torch.equal(_bits(naive_moved), _bits(additive(x, eps)))


def _lsb_even(y: torch.Tensor) -> torch.Tensor:
    """Per pixel: is the last mantissa bit of the float32 value 0? (A classifier may read it.)"""
    return (_bits(y) & 1) == 0


def _lsb_stat(fn, level: int, n: int, seed: int) -> float:
    eps = _noise((n,), seed)
    x = torch.full((n,), level / L, dtype=torch.float32)
    return float(_lsb_even(fn(x.view(1, 1, 1, n), eps.view(1, 1, 1, n))).double().mean())


def test_bit_statistic_respects_the_gaussian_bound_only_when_quantized():
    """One pixel, one grey level up: under N(0, σ²) no event's probability may move by more than
    TV = 2Φ(1/(2σL)) − 1 ≈ 0.0063. The event "last mantissa bit is 0" moves by ≈ 0.08 under the
    plain float32 transform between 31/255 and 32/255, and by Monte-Carlo noise only here."""
    n = 200_000
    tv = 2 * stats.norm.cdf(1 / (2 * SIGMA * L)) - 1
    slack = tv + 5 * math.sqrt(2 * 0.25 / n)
    naive = abs(_lsb_stat(additive, 32, n, 5) - _lsb_stat(additive, 31, n, 5))
    assert naive > 5 * slack, naive
    for level in (0, 31, 127, 254):
        jump = abs(_lsb_stat(quantized_additive, level + 1, n, 5) - _lsb_stat(quantized_additive, level, n, 5))
        assert jump < slack, (level, jump, slack)


def test_a_fine_noise_grid_would_leak(monkeypatch):
    """Why h is coarse: with h = 2⁻⁴⁰ (float64 arithmetic) the rounding does nothing, the float32
    grid of ε shows through, and 1 + ε (at 255/255) rounds with ties-to-even where 254/255 + ε
    never ties: the last-bit statistic jumps by ≈ 0.1 between neighbouring levels."""
    import gsmooth_plugins.transforms.quantized_additive as qa

    n = 200_000
    tv = 2 * stats.norm.cdf(1 / (2 * SIGMA * L)) - 1
    slack = tv + 5 * math.sqrt(2 * 0.25 / n)

    def via_float64(x, eps):  # float64 θ: computed in float64, output float32 like x
        return quantized_additive(x, eps.double())

    ok = abs(_lsb_stat(via_float64, 255, n, 6) - _lsb_stat(via_float64, 254, n, 6))
    assert ok < slack, ok
    monkeypatch.setattr(qa, "NOISE_STEP", 2.0**-40)
    monkeypatch.setattr(qa, "_STEP_BITS", 40)
    leak = abs(_lsb_stat(via_float64, 255, n, 6) - _lsb_stat(via_float64, 254, n, 6))
    assert leak > 5 * slack, leak


class ReadsLowBits(nn.Module):
    """A base classifier that reads the last mantissa bit of every pixel: class 1 when more than
    ``threshold`` of them are 0, else class 0 (Voráček & Hein's kind of adversary)."""

    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold

    def forward(self, z):
        frac = _lsb_even(z.float().contiguous()).flatten(1).double().mean(1)
        one = (frac > self.threshold).to(z.dtype)
        return torch.stack([1 - one, one], dim=1)


def test_false_certificate_with_plain_additive_not_with_quantized():
    """x = every pixel 32/255, x' = every pixel 31/255, ‖x − x'‖₂ = 32/255 ≈ 0.125. With the plain
    transform the bit-reading classifier is certified at x with a radius far above 0.125 and yet
    predicts another class at x' (a false certificate); with quantized_additive both points get
    the same class."""
    shape = (1, 1, 32, 32)
    x, x2 = torch.full(shape, 32 / L), torch.full(shape, 31 / L)
    gap = float((x - x2).norm())
    model = ReadsLowBits(threshold=0.695)
    plain = gsmooth.Smoother(model, noise="gaussian", sigma=SIGMA, num_classes=2)
    cert = plain.certify(x, n0=64, n=500, alpha=0.001, batch_size=500, seed=0)
    assert cert.prediction == 1 and cert.radius > 3 * gap
    assert plain.predict(x2, n=500, alpha=0.001, batch_size=500, seed=1).prediction == 0  # inside the ball
    sound = gsmooth.Smoother(model, noise="gaussian", sigma=SIGMA, transform="quantized_additive", num_classes=2)
    c1 = sound.certify(x, n0=64, n=500, alpha=0.001, batch_size=500, seed=0)
    c2 = sound.certify(x2, n0=64, n=500, alpha=0.001, batch_size=500, seed=1)
    assert c1.prediction == c2.prediction != -1


# -- (c) conformance, errors, registry -----------------------------------------------------------------------
def test_check_transform_passes():
    check_transform(QuantizedAdditive, image_shape=(3, 8, 8), input_levels=255, theta_range=(-1.0, 1.0))
    check_transform(QuantizedAdditive(levels=15), image_shape=(1, 5, 3), input_levels=15, theta_range=(-0.5, 0.5))


def test_registered_and_declared():
    t = gsmooth.transform("quantized_additive")
    assert isinstance(t, QuantizedAdditive) and t.get_params() == {"levels": 255}
    assert (t.kind, t.param_dim, t.composes_additively) == ("exact", None, False)
    smoother = gsmooth.Smoother(nn.Flatten(), noise="gaussian", sigma=0.25, transform="quantized_additive", num_classes=10)
    assert smoother.norm == "l2"


def test_refuses_images_off_the_grid():
    x = torch.full((1, 1, 2, 2), 0.5)  # 127.5/255
    with pytest.raises(InputError, match=r"expected images quantised to 1/levels \(levels=255.*got a pixel 0\.5"):
        quantized_additive(x, torch.zeros_like(x))
    for bad in (float("nan"), float("inf")):
        with pytest.raises(InputError, match="expected images quantised"):
            quantized_additive(torch.full((1, 1, 2, 2), bad), torch.zeros(1, 1, 2, 2))
    ok = _image(_levels((1, 1, 2, 2), 9)) + 1e-7  # float32 loader output, a little off: within 1e-6·levels
    quantized_additive(ok, torch.zeros_like(ok))
    with pytest.raises(InputError, match="expected images quantised to 1/levels \\(levels=15"):
        QuantizedAdditive(levels=15)(_image(_levels((1, 1, 2, 2), 9)), torch.zeros(1, 1, 2, 2))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "255"])
def test_levels_validated(bad):
    with pytest.raises(InvalidParameterError, match="levels"):
        QuantizedAdditive(levels=bad)


def test_noise_step_is_dyadic_and_coarse_next_to_the_float32_sampler():
    k = -math.log2(NOISE_STEP)
    assert k == int(k) and k >= 1  # h = 2^-k divides 1 (the proof, step 2)
    # each h-cell collects many float32 draws of ε·L (for |ε| ≤ 1: spacing ≤ 255·2^-23)
    assert NOISE_STEP / (L * 2.0**-23) > 1000


def test_values_and_radius_units():
    x = torch.tensor([[[[0.0, 128 / 255], [1.0, 3 / 255]]]])
    out = quantized_additive(x, torch.full((1, 1, 2, 2), 0.1))
    assert torch.allclose(out * 255, torch.tensor([[[[25.5, 153.5], [280.5, 28.5]]]]), atol=1e-4)
    big = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    xq = _image(_levels((4, 3, 8, 8), 0))
    assert (quantized_additive(xq, big) - (xq + big)).abs().max() <= NOISE_STEP / L  # ≈ additive, to 1/16 level


def test_cli_accepts_the_transform(capsys, tmp_path):
    """``--transform quantized_additive`` on the command line (any registered transform is accepted):
    the embedded additive model, certified on the shipped quantised Fashion-MNIST sample."""
    from gsmooth.cli import main
    from gsmooth.embedded import embedded_default
    from gsmooth.io.results import read_results

    out = tmp_path / "q.tsv"
    argv = ["certify", "--model", embedded_default("additive").model_path, "--dataset", "fashion-mnist-sample",
            "--transform", "quantized_additive", "--n0", "20", "--n", "100", "--max", "2", "--no-progress",
            "--out", out]
    assert main([str(a) for a in argv]) == 0
    capsys.readouterr()
    rows = read_results(out)
    assert len(rows) == 2
    assert set(rows.extra["transform"]) == {"quantized_additive(levels=255)"} and set(rows.extra["norm"]) == {"l2"}
