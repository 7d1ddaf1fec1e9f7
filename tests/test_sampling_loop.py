"""The sampling loop's speedups change nothing but the speed: the next batch prefetched on a worker
thread, the surrogate's encoder run once per run of identical images, its decoder channels-last."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import gsmooth
from gsmooth.errors import ModelOutputError
from gsmooth.surrogate.model import SurrogateModel
from gsmooth.surrogate.transform import SurrogateTransform, _encode_distinct


class Linear(nn.Module):
    def __init__(self, pixels: int, classes: int = 3):
        super().__init__()
        torch.manual_seed(1)
        self.fc = nn.Linear(pixels, classes)

    def forward(self, x):
        return self.fc(x.flatten(1))


def _surrogate():
    torch.manual_seed(0)
    net = SurrogateModel(input_shape=(1, 8, 8), param_dim=1, width=8, encoder_width=4)
    for p in net.parameters():  # a non-trivial encoder and decoder
        p.data.add_(0.05 * torch.randn_like(p))
    net.transform_name, net.param_range = "brightness", ((-0.2, 0.2),)
    return net


def test_encode_distinct_equals_encoding_every_sample():
    net = _surrogate().eval()
    a, c = torch.rand(2, 1, 1, 8, 8).unbind(0)
    b = a.clone()
    b[..., 3, 5] += 0.1  # differs from a in one pixel only
    packed = torch.cat([a.expand(5, 1, 8, 8), b.expand(1, 1, 8, 8), c.expand(7, 1, 8, 8), a.expand(2, 1, 8, 8)])
    with torch.no_grad():
        fast = _encode_distinct(net, packed)
        plain = torch.cat([net.encode(row[None]) for row in packed])
        distinct = _encode_distinct(net, torch.rand(6, 1, 8, 8))
    assert torch.allclose(fast, plain, atol=1e-6)
    assert distinct.shape == (6, 1, 8, 8)
    with torch.no_grad():
        one = _encode_distinct(net, a)
    assert torch.allclose(one, net.encode(a), atol=1e-6)


def test_surrogate_votes_do_not_depend_on_packing_or_prefetch():
    st = SurrogateTransform(surrogate=_surrogate(), sigma_ratio=1.0, grid=5)
    smoother = gsmooth.Smoother(Linear(64), noise="gaussian", sigma=0.5, transform=st, num_classes=3)
    x = torch.rand(4, 1, 8, 8) * 0.8
    x[1] = x[0]
    x[1, 0, 2, 2] += 0.2  # neighbours that differ in one pixel
    reference = smoother.count(x, 250, batch_size=1000, seed=2)  # all four images in one batch
    for batch in (1, 7, 100, 250):
        for prefetch in (True, False):
            smoother._prefetch = prefetch
            assert torch.equal(smoother.count(x, 250, batch_size=batch, seed=2), reference), (batch, prefetch)


def test_decoder_channels_last_keeps_the_decoded_images():
    net = _surrogate().eval()
    st = SurrogateTransform(surrogate=net, sigma_ratio=1.0, grid=5)
    x = torch.rand(6, 1, 8, 8)
    theta = torch.randn(6, 1 + 64)
    with torch.no_grad():
        z = net.encode(x) + net.embed(theta[:, :1]) + theta[:, 1:].reshape(6, 1, 8, 8)
        plain = net.decode(z.contiguous())
        out = st(x, theta)
    assert torch.allclose(out, plain, atol=1e-5)


class NaNAfter(nn.Module):
    """Finite logits for the first ``k`` calls, then NaN: the consumer raises while the producer runs."""

    def __init__(self, k: int):
        super().__init__()
        self.k, self.calls = k, 0

    def forward(self, x):
        self.calls += 1
        out = torch.zeros(x.shape[0], 2)
        return out * float("nan") if self.calls > self.k else out


@pytest.mark.parametrize("prefetch", [True, False])
def test_an_error_in_the_loop_propagates_without_hanging(prefetch):
    smoother = gsmooth.Smoother(NaNAfter(2), noise="gaussian", sigma=0.25, num_classes=2)
    smoother._prefetch = prefetch
    with pytest.raises(ModelOutputError):
        smoother.count(torch.rand(1, 4, 4), 1000, batch_size=100)
    assert smoother.model.calls == 3  # stopped at the first bad batch


def test_an_error_in_the_noise_producer_propagates(monkeypatch):
    smoother = gsmooth.Smoother(Linear(16, 2), noise="gaussian", sigma=0.25, num_classes=2)
    from gsmooth.core import seeding

    calls = {"n": 0}
    original = seeding.NoiseStream.take

    def failing(self, k):
        calls["n"] += 1
        if calls["n"] > 3:
            raise RuntimeError("noise source failed")
        return original(self, k)

    monkeypatch.setattr(seeding.NoiseStream, "take", failing)
    with pytest.raises(RuntimeError, match="noise source failed"):
        smoother.count(torch.rand(1, 4, 4), 1000, batch_size=100)
