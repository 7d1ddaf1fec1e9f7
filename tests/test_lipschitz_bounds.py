"""Proven Lipschitz bounds (gsmooth.surrogate.lipschitz_bounds) against exact or adversarially measured values.

Each bound must be ≥ the truth (soundness) and, where the truth is known exactly, not vacuous.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gsmooth.errors import InvalidParameterError
from gsmooth.surrogate.lipschitz_bounds import (
    SAFETY_FACTOR,
    conv2d_operator_norm_bound,
    encoder_lipschitz_bound,
    linear_operator_norm,
    silu_lipschitz,
)
from gsmooth.surrogate.model import ResidualEncoder

F64 = torch.float64


def _exact_conv_norm(w: torch.Tensor, size, padding, stride=1) -> float:
    """Spectral norm of the materialised matrix of the zero-padded conv (applied to the identity basis)."""
    c_in, (h, wd) = w.shape[1], size
    eye = torch.eye(c_in * h * wd, dtype=F64).reshape(-1, c_in, h, wd)
    cols = F.conv2d(eye, w.to(F64), padding=padding, stride=stride).reshape(c_in * h * wd, -1)
    return float(torch.linalg.matrix_norm(cols, 2))


CONV_CASES = [
    # (c_out, c_in, kernel, padding, (H, W))
    (3, 2, 3, 1, (5, 5)),
    (3, 2, 3, 0, (5, 5)),
    (3, 2, 3, 2, (5, 5)),
    (2, 3, 5, 2, (5, 6)),
    (2, 2, 3, 1, (7, 4)),
    (1, 1, 3, 1, (5, 5)),
    (3, 2, 3, 1, (2, 2)),  # tiny inputs: a circular conv on the H×W grid itself would alias here
    (2, 2, 5, 2, (3, 3)),
    (2, 2, 3, 1, (1, 6)),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_bound_is_sound_and_tight(case):
    c_out, c_in, k, p, size = case
    gen = torch.Generator().manual_seed(hash(case) % 2**31)
    for trial in range(4):
        w = torch.randn(c_out, c_in, k, k, generator=gen, dtype=F64)
        exact = _exact_conv_norm(w, size, p)
        bound = conv2d_operator_norm_bound(w, size, padding=p)
        assert bound >= exact, (case, trial, bound, exact)
        if min(size) >= 5:
            assert bound <= 1.5 * exact, (case, trial, bound / exact)


def test_conv_bound_catches_aliasing_kernels():
    """An antisymmetric kernel whose taps cancel on a 2-periodic grid: a circular conv on the
    un-enlarged 2×2 grid has norm 0, the zero-padded conv does not."""
    w = torch.zeros(1, 1, 3, 3, dtype=F64)
    w[0, 0, 1, 0], w[0, 0, 1, 2] = 1.0, -1.0
    exact = _exact_conv_norm(w, (2, 2), 1)
    assert exact == pytest.approx(1.0)
    assert exact <= conv2d_operator_norm_bound(w, (2, 2)) <= 2.0 * exact  # √3 here: a 3×3 grid


def test_conv_bound_exact_for_channel_mixing_and_strides():
    """A 1×1 kernel is M ⊗ I: the bound is ‖M‖₂ (× the safety factor), with nearly equal top
    singular values (slow for a power iteration); a stride keeps a subset of the outputs."""
    q1, _ = torch.linalg.qr(torch.randn(4, 4, dtype=F64, generator=torch.Generator().manual_seed(1)))
    q2, _ = torch.linalg.qr(torch.randn(3, 3, dtype=F64, generator=torch.Generator().manual_seed(2)))
    m = q1[:, :3] @ torch.diag(torch.tensor([2.0, 1.999, 0.5], dtype=F64)) @ q2.T
    w = m[:, :, None, None]
    exact = _exact_conv_norm(w, (4, 5), 0)
    assert exact == pytest.approx(2.0, rel=1e-12)
    assert exact <= conv2d_operator_norm_bound(w, (4, 5), padding=0) <= exact * (1 + 1e-8)
    gen = torch.Generator().manual_seed(3)
    for size in [(5, 5), (6, 7)]:
        w = torch.randn(3, 2, 3, 3, generator=gen, dtype=F64)
        assert conv2d_operator_norm_bound(w, size, padding=1, stride=2) >= _exact_conv_norm(w, size, 1, stride=2)


def test_conv_bound_dtype_device_and_errors():
    w = torch.randn(2, 2, 3, 3)
    assert conv2d_operator_norm_bound(w, 5) == conv2d_operator_norm_bound(w.double(), (5, 5))
    with pytest.raises(InvalidParameterError, match="expected"):
        conv2d_operator_norm_bound(torch.randn(2, 3, 3), (5, 5))
    with pytest.raises(InvalidParameterError, match="expected"):
        conv2d_operator_norm_bound(w, (5, 0))
    with pytest.raises(InvalidParameterError, match="expected"):
        conv2d_operator_norm_bound(w, (5, 5), padding=-1)
    with pytest.raises(InvalidParameterError, match="expected"):
        conv2d_operator_norm_bound(torch.full((1, 1, 3, 3), math.nan), (5, 5))
    with pytest.raises(InvalidParameterError, match="fits"):
        conv2d_operator_norm_bound(torch.randn(1, 1, 5, 5), (2, 2), padding=0)


def test_silu_lipschitz_value():
    x = torch.linspace(-12, 12, 400001, dtype=F64).requires_grad_(True)
    (g,) = torch.autograd.grad(F.silu(x).sum(), x)
    sampled = float(g.abs().max())
    lip = silu_lipschitz()
    assert sampled <= lip <= sampled * (1 + 1e-8)
    assert lip == pytest.approx(1.0998393201285, rel=2e-9)


def _random_encoder(c: int, width: int, seed: int, scale: float = 1.0) -> ResidualEncoder:
    torch.manual_seed(seed)
    enc = ResidualEncoder(c, width).double()
    with torch.no_grad():  # "trained-looking": conv3 no longer zero, weights of a few times the init
        for conv in (enc.conv1, enc.conv2, enc.conv3):
            conv.weight.copy_(torch.randn_like(conv.weight) * scale / math.sqrt(conv.weight[0].numel()))
            conv.bias.copy_(torch.randn_like(conv.bias) * 0.3)
    return enc


def _ascend_ratio(enc: nn.Module, shape, *, steps: int, seed: int, starts: int = 8) -> float:
    """max ‖F2(x) − F2(y)‖/‖x − y‖ over pairs by gradient ascent (Adam) from random starts."""
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(starts, *shape, generator=gen, dtype=F64) * 4 - 2).requires_grad_(True)
    d = (torch.randn(starts, *shape, generator=gen, dtype=F64) * 0.3).requires_grad_(True)
    opt = torch.optim.Adam([x, d], lr=0.05)
    best = 0.0
    for _ in range(steps):
        ratio = (enc(x + d) - enc(x)).flatten(1).norm(dim=1) / d.flatten(1).norm(dim=1)
        best = max(best, float(ratio.detach().max()))
        opt.zero_grad()
        (-ratio.sum()).backward()
        opt.step()
    return best


@pytest.mark.parametrize("seed", [0, 1])
def test_encoder_bound_dominates_gradient_ascent(seed):
    enc = _random_encoder(3, 8, seed, scale=2.0)
    bound = encoder_lipschitz_bound(enc, (6, 6))
    measured = _ascend_ratio(enc, (3, 6, 6), steps=300, seed=seed)
    assert measured > 1.0
    assert bound >= measured, (bound, measured)


def test_encoder_bound_is_tight_on_a_worst_case_encoder():
    """Centre-tap (pointwise) convs a, b, c with biases putting both pre-activations at the argmax
    x* of silu': on a constant image the Jacobian is (1 + abc·silu'(x*)²)·I, i.e. the bound."""
    from scipy.optimize import brentq

    xs = brentq(lambda t: 2.0 - t * math.tanh(t / 2.0), 2.0, 3.0, xtol=1e-15)
    a, b, c = 2.0, 1.5, 2.5
    enc = ResidualEncoder(1, 1).double()
    with torch.no_grad():
        for conv, g, bias in ((enc.conv1, a, 0.0), (enc.conv2, b, xs - b * F.silu(torch.tensor(xs)).item()), (enc.conv3, c, 0.0)):
            conv.weight.zero_()
            conv.weight[0, 0, 1, 1] = g
            conv.bias.fill_(bias)
    x0 = torch.full((1, 1, 5, 5), xs / a, dtype=F64)  # conv1(x0) = x*, conv2(silu(x*)) = x*
    eps = 1e-6
    d = torch.randn(1, 1, 5, 5, dtype=F64, generator=torch.Generator().manual_seed(0))
    d = d / d.norm() * eps
    with torch.no_grad():
        measured = float((enc(x0 + d) - enc(x0)).norm() / eps)
    bound = encoder_lipschitz_bound(enc, (5, 5))
    assert bound == pytest.approx(1 + a * b * c * silu_lipschitz() ** 2, rel=1e-8)
    assert bound >= measured >= bound * (1 - 1e-5)
    assert _ascend_ratio(enc, (1, 5, 5), steps=100, seed=1) <= bound


def test_encoder_bound_identity_at_init_and_device_dtype():
    enc = ResidualEncoder(3, 4)
    assert encoder_lipschitz_bound(enc, (8, 8)) == 1.0
    enc32 = _random_encoder(2, 4, 5).float()
    assert encoder_lipschitz_bound(enc32, (6, 6)) == pytest.approx(encoder_lipschitz_bound(enc32.double(), (6, 6)), rel=1e-12)


def test_encoder_bound_refuses_other_structures():
    with pytest.raises(InvalidParameterError, match="ResidualEncoder"):
        encoder_lipschitz_bound(nn.Sequential(nn.Conv2d(3, 3, 3, padding=1)), (8, 8))

    class Sub(ResidualEncoder):
        def forward(self, x):
            return 10 * super().forward(x)

    with pytest.raises(InvalidParameterError, match="ResidualEncoder"):
        encoder_lipschitz_bound(Sub(3, 4), (8, 8))
    enc = ResidualEncoder(3, 4)
    enc.conv2 = nn.Conv2d(4, 4, 3, padding=1, stride=2)
    with pytest.raises(InvalidParameterError, match="stride"):
        encoder_lipschitz_bound(enc, (8, 8))
    enc = ResidualEncoder(3, 4)
    enc.conv2 = nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect")
    with pytest.raises(InvalidParameterError, match="padding"):
        encoder_lipschitz_bound(enc, (8, 8))
    enc = ResidualEncoder(3, 4)
    enc.conv1 = nn.Conv2d(3, 4, 5, padding=1)
    with pytest.raises(InvalidParameterError, match="size-preserving"):
        encoder_lipschitz_bound(enc, (8, 8))
    enc = ResidualEncoder(3, 4)
    enc.extra = nn.ReLU()
    with pytest.raises(InvalidParameterError, match="children"):
        encoder_lipschitz_bound(enc, (8, 8))
    enc = ResidualEncoder(3, 4)
    enc.conv1.register_forward_hook(lambda m, i, o: 5 * o)
    with pytest.raises(InvalidParameterError, match="hooks"):
        encoder_lipschitz_bound(enc, (8, 8))


def test_linear_operator_norm():
    assert 5.0 <= linear_operator_norm(torch.tensor([[3.0], [4.0]])) <= 5.0 * (1 + 2e-9)
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(50, 3, generator=gen, dtype=F64)
    exact = float(torch.linalg.matrix_norm(w, 2))
    assert exact <= linear_operator_norm(w) <= exact * SAFETY_FACTOR * (1 + 1e-14)
    lin = nn.Linear(3, 50, bias=False)
    assert linear_operator_norm(lin) == pytest.approx(float(torch.linalg.matrix_norm(lin.weight.detach().double(), 2)), rel=1e-8)
    with pytest.raises(InvalidParameterError, match="bias"):
        linear_operator_norm(nn.Linear(3, 5))
    with pytest.raises(InvalidParameterError, match="expected"):
        linear_operator_norm(torch.ones(3))
    assert linear_operator_norm(torch.zeros(4, 1)) == 0.0
