"""gsmooth.verification.extract: torch models encoded as affine–ReLU chains.

Every accepted model is checked here by its own forward pass against the float64 model (not only by
``relu_network``'s internal check); convolution matrices are compared entry by entry with the
matrix obtained by pushing the identity basis through ``nn.Conv2d``; refused models must raise the
typed error naming the layer.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F

import gsmooth.embedded
from gsmooth.errors import GsmoothError, InputTypeError, InvalidParameterError, UnsupportedModelError
from gsmooth.io.checkpoints import load_checkpoint
from gsmooth.models.architectures import Normalize, build_model
from gsmooth.verification import relu_network
from gsmooth.verification.extract import conv2d_matrix, linear_map_matrix

EXPECTED = "expected a feed-forward chain of Linear/Conv2d/ReLU/… layers, got "


def _assert_same(model: nn.Module, net, input_shape, *, n: int = 6, seed: int = 1, tol: float = 1e-9) -> None:
    """``net.forward`` equals the float64 model on random inputs in [0, 1] (and on 0 and 1)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.cat([torch.rand((n,) + tuple(input_shape), generator=gen, dtype=torch.float64),
                   torch.zeros((1,) + tuple(input_shape), dtype=torch.float64),
                   torch.ones((1,) + tuple(input_shape), dtype=torch.float64)])
    with torch.no_grad():
        ref = copy.deepcopy(model).double()(x).reshape(x.shape[0], -1).numpy()
    got = net.forward(x.numpy())
    assert got.shape == ref.shape
    assert np.max(np.abs(got - ref)) <= tol * max(1.0, np.max(np.abs(ref)))


def _seeded(model: nn.Module, seed: int = 0) -> nn.Module:
    """Re-initialize every parameter and BatchNorm statistic from ``seed`` (non-trivial values)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    return model


# ---------------------------------------------------------------------------------------------
# Models that must encode
# ---------------------------------------------------------------------------------------------


def test_small_cnn_encodes_with_normalize_merged_into_the_first_convolution():
    model = build_model("small_cnn", num_classes=10, input_shape=(1, 28, 28), mean=0.286, std=0.353)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    net = relu_network(model, input_shape=(1, 28, 28))
    assert net.hidden_sizes == (6272, 3136, 3136, 128) and net.num_outputs == 10
    assert [layer.sparse for layer in net.layers] == [True, True, True, False, False]
    _assert_same(model, net, (1, 28, 28))
    # the model is untouched: same dtype, mode and values
    assert model.training and next(model.parameters()).dtype == torch.float32
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("name", ["additive.pt", "rotational_blur.pt"])
def test_embedded_models_encode(name):
    ck = load_checkpoint(Path(gsmooth.embedded.__file__).parent / name)
    model = ck.build_model()
    net = relu_network(model, input_shape=ck.input_shape)
    _assert_same(model, net, ck.input_shape)
    x = torch.rand((4,) + tuple(ck.input_shape), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():  # and agrees with the float32 model to float32 precision
        assert np.allclose(net.forward(x.numpy()), model(x).numpy(), atol=1e-4, rtol=1e-4)


def test_example_plugin_mlp_and_plain_sequential_mlps_encode():
    model = build_model("example_mlp", num_classes=2, input_shape=(1, 28, 28), mean=0.5, std=0.5)
    net = relu_network(model, input_shape=(1, 28, 28))
    assert net.hidden_sizes == (64,) and not net.layers[0].sparse  # Normalize folded into the Linear
    _assert_same(model, net, (1, 28, 28))

    mlp = _seeded(nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 4), nn.ReLU(inplace=True), nn.Linear(4, 3)))
    net = relu_network(mlp, input_shape=(5,))
    assert net.hidden_sizes == (7, 4)
    np.testing.assert_array_equal(net.layers[1].weight, mlp[2].weight.detach().double().numpy())
    _assert_same(mlp, net, (5,))


CONVS = [
    dict(in_channels=2, out_channels=3, kernel_size=3),
    dict(in_channels=2, out_channels=3, kernel_size=3, stride=2, padding=1),
    dict(in_channels=2, out_channels=4, kernel_size=(3, 2), stride=(2, 1), padding=(2, 0), dilation=(1, 2)),
    dict(in_channels=4, out_channels=6, kernel_size=3, padding=1, groups=2),
    dict(in_channels=4, out_channels=4, kernel_size=3, padding=2, dilation=2, groups=4, bias=False),
    dict(in_channels=2, out_channels=3, kernel_size=4, padding="same"),
    dict(in_channels=2, out_channels=3, kernel_size=(2, 3), padding="valid", stride=3),
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("kwargs", CONVS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_conv_matrix_equals_the_identity_basis_pushed_through_the_conv(kwargs):
    conv = _seeded(nn.Conv2d(**kwargs)).double()
    shape = (kwargs["in_channels"], 7, 8)
    matrix, bias = conv2d_matrix(conv, shape)
    reference, ref_bias = linear_map_matrix(conv, shape)
    assert isinstance(matrix, sp.csr_array) and matrix.shape == reference.shape
    np.testing.assert_allclose(matrix.toarray(), reference.toarray(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(bias, ref_bias, rtol=0, atol=1e-12)
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(matrix.shape[0], 2))
    _assert_same(model, relu_network(_seeded(model, 1), input_shape=shape), shape)


def test_batchnorm_in_eval_mode_and_avgpool_encode():
    model = _seeded(nn.Sequential(
        Normalize(mean=(0.1, 0.2), std=(0.3, 0.4)),
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.AvgPool2d(2), nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.ReLU(),
        nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False, ceil_mode=True),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(4 * 3 * 3, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Identity(),
        nn.Linear(6, 3),
    )).eval()
    net = relu_network(model, input_shape=(2, 10, 10))
    # normalize+conv+BN | avgpool+conv | avgpool+flatten+dropout+linear+BN | linear
    assert net.hidden_sizes == (400, 100, 6)
    assert [layer.sparse for layer in net.layers] == [True, True, False, False]
    _assert_same(model, net, (2, 10, 10))


class _Functional(nn.Module):
    """Functional ReLUs and reshapes in a custom forward, a nested ModuleList."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, stride=2)
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(27, 8), nn.ReLU()), nn.Linear(8, 8)])
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        x = F.relu(self.conv(x))
        x = x.view(x.size(0), -1)
        for block in self.blocks:
            x = block(x)
        x = torch.relu(x).reshape(x.shape[0], 2, 4)
        x = torch.flatten(x, 1).relu()
        return self.head(x)


def test_traced_custom_forward_with_functional_relu_and_reshapes():
    model = _seeded(_Functional())
    net = relu_network(model, input_shape=(1, 7, 7))
    assert net.hidden_sizes == (27, 8, 8)  # relu(relu(z)) is one ReLU
    _assert_same(model, net, (1, 7, 7))


def test_consecutive_affine_maps_are_merged_and_relu_at_either_end():
    a, b, c = (_seeded(nn.Linear(4, 5), 1), _seeded(nn.Linear(5, 3), 2), _seeded(nn.Linear(3, 2), 3))
    model = nn.Sequential(a, b, nn.ReLU(), c)
    net = relu_network(model, input_shape=(4,))
    assert len(net.layers) == 2
    w = lambda m: m.weight.detach().double().numpy()  # noqa: E731
    np.testing.assert_allclose(net.layers[0].weight, w(b) @ w(a), rtol=1e-12, atol=1e-12)
    _assert_same(model, net, (4,))
    # sparse @ sparse stays sparse: conv, BN, conv without a ReLU between them is one sparse layer
    convs = _seeded(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Conv2d(2, 2, 3), nn.ReLU(),
                                  nn.Flatten(), nn.Linear(2 * 2 * 2, 2))).eval()
    net = relu_network(convs, input_shape=(1, 6, 6))
    assert net.hidden_sizes == (8,) and net.layers[0].sparse
    _assert_same(convs, net, (1, 6, 6))
    # a ReLU first (on the input) or last (on the scores) is kept: identity layers around it
    ends = nn.Sequential(nn.ReLU(), _seeded(nn.Linear(3, 2)), nn.ReLU())
    net = relu_network(ends, input_shape=(3,))
    assert net.hidden_sizes == (3, 2)
    x = np.array([[-1.0, 0.5, 2.0], [0.3, -0.2, 0.1]])
    with torch.no_grad():
        np.testing.assert_allclose(net.forward(x), ends.double()(torch.from_numpy(x)).numpy(), atol=1e-12)


class _ControlFlowSequential(nn.Sequential):
    """A Sequential whose forward torch.fx cannot trace: encoded by walking its children."""

    def forward(self, x):
        if x.dim() < 2:
            raise ValueError("batched input expected")
        return super().forward(x)


def test_untraceable_sequential_falls_back_to_its_children():
    model = _seeded(_ControlFlowSequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)))
    net = relu_network(model, input_shape=(3,))
    assert net.hidden_sizes == (4,)
    _assert_same(model, net, (3,))


# ---------------------------------------------------------------------------------------------
# Models that must be refused, naming the layer
# ---------------------------------------------------------------------------------------------


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.relu(self.fc(x)) + x


class _Branches(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 2), nn.Linear(4, 2)

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], dim=1)


class _Sigmoid(nn.Module):
    def forward(self, x):
        return torch.sigmoid(x)


class _DataDependent(nn.Module):
    def forward(self, x):
        return x if x.sum() > 0 else -x


class _BatchOfFour(nn.Module):
    def forward(self, x):
        return x.view(4, 8)


def _lin():
    return nn.Linear(4, 4)


REFUSED = [
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2, 2)), (1, 4, 4), "MaxPool2d at 1"),
    (lambda: nn.Sequential(_lin(), nn.Sigmoid(), _lin()), (4,), "Sigmoid at 1"),
    (lambda: nn.Sequential(_lin(), nn.Tanh(), _lin()), (4,), "Tanh at 1"),
    (lambda: nn.Sequential(_lin(), nn.Sequential(nn.ReLU(), nn.GELU()), _lin()), (4,), "GELU at 1.1"),
    (lambda: nn.Sequential(_lin(), _Residual()), (4,), "_Residual at 1 (its forward combines the outputs of several layers"),
    (lambda: nn.Sequential(_lin(), nn.ReLU(), _Branches()), (4,), "_Branches at 2 (its forward combines"),
    (lambda: nn.Sequential(_lin(), _Sigmoid()), (4,), "_Sigmoid at 1 (its forward calls torch.sigmoid)"),
    (lambda: nn.Sequential(_lin(), _DataDependent()), (4,), "_DataDependent at 1 (torch.fx could not trace its forward"),
    (lambda: nn.Sequential(_lin(), nn.BatchNorm1d(4), nn.ReLU(), _lin()).train(), (4,), "BatchNorm1d in training mode at 1"),
    (lambda: nn.Sequential(_lin(), nn.ReLU(), nn.Dropout(0.3), _lin()).train(), (4,), "Dropout in training mode (p=0.3) at 2"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"), nn.Flatten()), (1, 4, 4),
     "Conv2d with padding_mode='reflect' at 0"),
    (lambda: nn.Sequential(nn.Flatten(0), nn.Unflatten(0, (4, 8))), (2, 2, 2), "Flatten changing the batch dimension at 0"),
    (lambda: nn.Sequential(nn.Flatten(), _BatchOfFour()), (8,), "_BatchOfFour at 1 (its forward fails on a batch of 3"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(2, 2), nn.Flatten(), nn.Linear(8, 2)), (1, 4, 4), "Linear on inputs of shape (2, 2, 2) at 1"),
    (lambda: build_model("resnet20", num_classes=10, input_shape=(3, 32, 32), mean=0.5, std=0.25).eval(), (3, 32, 32),
     "BasicBlock at net.layer1.0 (its forward combines the outputs of several layers"),
    (lambda: build_model("resnet20", num_classes=10, input_shape=(3, 32, 32), mean=0.5, std=0.25), (3, 32, 32),
     "BatchNorm2d in training mode at net.bn1"),
]


@pytest.mark.parametrize("make,shape,named", REFUSED, ids=[r[2].split(" ")[0] + "-" + str(i) for i, r in enumerate(REFUSED)])
def test_unsupported_models_raise_the_typed_error_naming_the_layer(make, shape, named):
    with pytest.raises(UnsupportedModelError) as info:
        relu_network(make(), input_shape=shape)
    assert isinstance(info.value, GsmoothError) and isinstance(info.value, ValueError)
    assert EXPECTED + named in str(info.value)


def test_an_operation_fx_cannot_see_fails_the_forward_check():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model[0].register_forward_hook(lambda module, inputs, output: output * 2.0)
    with pytest.raises(UnsupportedModelError, match=r"expected the encoding to reproduce model\(x\) within 1e-09 .*got a difference"):
        relu_network(model, input_shape=(3,))


def test_bad_arguments_raise_typed_errors():
    with pytest.raises(InputTypeError, match="expected a torch.nn.Module, got list") as info:
        relu_network([nn.Linear(2, 2)], input_shape=(2,))
    assert isinstance(info.value, TypeError)
    for shape in [(), (0, 3), (2.0,), "abc", None]:
        with pytest.raises(InvalidParameterError, match="expected input_shape a non-empty tuple of positive ints"):
            relu_network(nn.Linear(2, 2), input_shape=shape)
    with pytest.raises(InvalidParameterError, match=r"expected input_shape \(3,\) to fit the model, got RuntimeError"):
        relu_network(nn.Linear(2, 2), input_shape=(3,))
    with pytest.raises(UnsupportedModelError, match=r"expected the model to output \(B, k\) scores, got \(4, 2, 3, 3\)"):
        relu_network(nn.Conv2d(1, 2, 2), input_shape=(1, 4, 4))
