"""Tests of gsmooth.models.architectures: shapes, Normalize, CIFAR ResNet depth, torchvision models, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gsmooth.errors import InputError, InvalidParameterError, UnknownComponentError
from gsmooth.models.architectures import (
    CifarResNet,
    Normalize,
    SmallCNN,
    available_architectures,
    build_model,
    resnet,
    resnet20,
    resnet110,
)

MNIST = dict(input_shape=(1, 28, 28), mean=(0.1307,), std=(0.3081,))
CIFAR = dict(input_shape=(3, 32, 32), mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616))


@pytest.mark.parametrize(
    "arch, data, k",
    [
        ("small_cnn", MNIST, 10),
        ("small_cnn", CIFAR, 100),
        ("resnet20", CIFAR, 10),
        ("resnet20", MNIST, 10),
        ("resnet110", CIFAR, 10),
        ("resnet8", CIFAR, 7),
        ("tv:resnet18", CIFAR, 10),
        ("tv:resnet18", MNIST, 10),
    ],
)
def test_output_shapes(arch, data, k):
    torch.manual_seed(0)
    model = build_model(arch, num_classes=k, **data)
    assert model.training  # built in training mode, like any nn.Module
    model.eval()
    x = torch.rand(2, *data["input_shape"])
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, k) and torch.isfinite(out).all()
    assert model.arch == arch and model.num_classes == k
    assert model.input_shape == data["input_shape"] and isinstance(model.input_shape, tuple)
    assert model.mean == tuple(data["mean"]) and model.std == tuple(data["std"])
    assert isinstance(model, nn.Sequential) and isinstance(model[0], Normalize)
    assert model[0] is model.normalize and model[1] is model.net


def test_normalize_is_first_layer_and_correct():
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    norm = Normalize(mean=mean, std=std)
    x = torch.rand(4, 3, 5, 6)
    expected = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(norm(x), expected)
    # Buffers: saved in the state dict, moved with the model, not trained.
    assert set(dict(norm.named_buffers())) == {"mean", "std"} and not list(norm.parameters())
    model = build_model("small_cnn", num_classes=10, input_shape=(3, 8, 8), mean=mean, std=std)
    assert {"normalize.mean", "normalize.std"} <= set(model.state_dict())
    assert torch.allclose(model.normalize(x), expected)
    # The network sees normalized input: model(x) == net(normalize(x)).
    model.eval()
    x8 = torch.rand(2, 3, 8, 8)
    assert torch.allclose(model(x8), model.net(norm(x8)))


def test_normalize_errors():
    with pytest.raises(InvalidParameterError, match="same non-zero length"):
        Normalize(mean=(0.1, 0.2), std=(0.3,))
    with pytest.raises(InvalidParameterError, match="std > 0"):
        Normalize(mean=(0.1,), std=(0.0,))
    with pytest.raises(InputError, match=r"expected input \(B, 3, H, W\), got \(2, 1, 4, 4\)"):
        Normalize(mean=(0.1, 0.2, 0.3), std=(1.0, 1.0, 1.0))(torch.rand(2, 1, 4, 4))


def test_scalar_mean_std_broadcast():
    model = build_model("small_cnn", num_classes=10, input_shape=(3, 28, 28), mean=0.5, std=0.25)
    assert model.mean == (0.5, 0.5, 0.5) and model.std == (0.25, 0.25, 0.25)
    assert model.normalize.mean.shape == (3, 1, 1)


def _count(model: nn.Module, kind, **attrs) -> int:
    return sum(
        isinstance(m, kind) and all(getattr(m, a) == v for a, v in attrs.items())
        for m in model.modules()
    )


@pytest.mark.parametrize("depth", [20, 110])
def test_resnet_depth(depth):
    net = resnet(depth, num_classes=10)
    n = (depth - 2) // 6
    # depth = stem conv + 2 convs per block x 3 stages x n blocks + final linear layer
    convs3 = _count(net, nn.Conv2d, kernel_size=(3, 3))
    assert convs3 == 1 + 6 * n
    assert convs3 + _count(net, nn.Linear) == depth
    assert _count(net, nn.Conv2d, kernel_size=(1, 1)) == 2  # projection shortcuts, stages 2 and 3
    assert [len(s) for s in (net.layer1, net.layer2, net.layer3)] == [n, n, n]
    assert net.layer3[-1].conv2.out_channels == 64 and net.fc.in_features == 64


def test_resnet_named_builders():
    assert resnet110().depth == 110 and resnet20(num_classes=5).fc.out_features == 5
    n_params = sum(p.numel() for p in resnet110().parameters())
    assert 1.6e6 < n_params < 1.8e6  # He et al.: 1.7M
    assert 0.26e6 < sum(p.numel() for p in resnet20().parameters()) < 0.28e6  # 0.27M
    with pytest.raises(InvalidParameterError, match="6n \\+ 2"):
        CifarResNet(depth=21)


def test_small_cnn_is_small():
    net = SmallCNN(in_channels=1, num_classes=10)
    assert sum(p.numel() for p in net.parameters()) < 500_000
    assert SmallCNN(in_channels=1, num_classes=10, dropout=0.5)(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_torchvision_model_by_name_never_downloads(monkeypatch):
    import torch.hub

    def no_download(*args, **kwargs):
        raise AssertionError("build_model tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    model = build_model("tv:resnet18", num_classes=7, **CIFAR)
    assert model.net.fc.out_features == 7
    with pytest.raises(UnknownComponentError, match="Did you mean 'tv:resnet18'"):
        build_model("tv:resnet81", num_classes=7, **CIFAR)


def test_unknown_architecture():
    with pytest.raises(UnknownComponentError) as info:
        build_model("resnt20", num_classes=10, **CIFAR)
    assert "Did you mean 'resnet20'" in str(info.value) and isinstance(info.value, KeyError)
    assert "small_cnn" in str(info.value) and "tv:" in str(info.value)
    with pytest.raises(InvalidParameterError, match="tv:resnet18"):
        build_model("resnet18", num_classes=10, **CIFAR)
    assert {"small_cnn", "resnet20", "resnet110"} <= set(available_architectures())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_classes=0), "num_classes"),
        (dict(input_shape=(28, 28)), "input_shape"),
        (dict(mean=(0.1, 0.2)), "mean"),
        (dict(std=(0.0,)), "std > 0"),
    ],
)
def test_build_model_validates(kwargs, match):
    args = dict(num_classes=10, **MNIST)
    args.update(kwargs)
    with pytest.raises(InvalidParameterError, match=match):
        build_model("small_cnn", **args)


# ---------------------------------------------------------------- register/get API (hook register_architectures)


def test_get_architecture_names_families_and_list():
    from gsmooth.models import get_architecture, list_architectures

    names = list_architectures()
    assert names == sorted(names) and {"small_cnn", "resnet20", "resnet110", "resnet<6n+2>", "tv:<model>"} <= set(names)
    assert get_architecture("resnet32").name == "resnet32" and get_architecture("Small-CNN").name == "small_cnn"
    deep = get_architecture("ResNet38").build(input_shape=(3, 32, 32), num_classes=4)  # a family member
    assert isinstance(deep, CifarResNet) and deep.depth == 38 and deep.fc.out_features == 4
    tv = get_architecture("tv:resnet18")
    assert tv.name == "tv:resnet18" and tv.build(input_shape=(1, 28, 28), num_classes=3)(torch.rand(2, 1, 28, 28)).shape == (2, 3)


@pytest.mark.parametrize("arch, direct", [
    ("small_cnn", lambda: SmallCNN(in_channels=1, num_classes=10, input_size=(28, 28))),
    ("resnet20", lambda: CifarResNet(depth=20, num_classes=10, in_channels=1)),
    ("resnet38", lambda: CifarResNet(depth=38, num_classes=10, in_channels=1)),
])
def test_registered_builders_build_what_checkpoints_expect(arch, direct):
    # checkpoints stay loadable and training stays reproducible: same modules, same initial weights
    torch.manual_seed(0)
    model = build_model(arch, num_classes=10, **MNIST)
    torch.manual_seed(0)
    expected = direct()
    got, want = model.net.state_dict(), expected.state_dict()
    assert list(got) == list(want) and all(torch.equal(got[k], want[k]) for k in want)


# ---------------------------------------------------------------- mlp<widths>


@pytest.mark.parametrize("arch, widths", [("mlp100", [100]), ("mlp256x128", [256, 128]), ("MLP7x5x3", [7, 5, 3])])
def test_mlp_family_layers_and_forward(arch, widths):
    from gsmooth.models import get_architecture

    torch.manual_seed(0)
    model = build_model(arch, num_classes=4, **MNIST).eval()
    layers = list(model.net)
    assert isinstance(layers[0], nn.Flatten) and isinstance(layers[-1], nn.Linear)
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == widths + [4] and linears[0].in_features == 28 * 28
    assert [type(m) for m in layers[1:-1]] == [nn.Linear, nn.ReLU] * len(widths)
    x = torch.rand(3, 1, 28, 28)
    h = ((x - 0.1307) / 0.3081).flatten(1)  # the same computation written out
    for m in linears[:-1]:
        h = torch.relu(m(h))
    assert torch.allclose(model(x), linears[-1](h), atol=1e-6)
    assert get_architecture(arch).name == arch


@pytest.mark.parametrize("arch", ["mlp0", "mlp100x0", "mlp1000000", "mlp" + "x".join(["4"] * 17)])
def test_mlp_family_refuses_bad_widths(arch):
    with pytest.raises(InvalidParameterError, match=r"expected up to 16 hidden widths in \[1, 65536\].*got"):
        build_model(arch, num_classes=10, **MNIST)
