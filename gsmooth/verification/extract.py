"""Encode a torch model as a :class:`~gsmooth.verification.network.ReluNetwork`.

:func:`relu_network` traces the model with :mod:`torch.fx` (one module at a time, so every layer
keeps its qualified name), accepts a feed-forward *chain* — every operation consumes the previous
one's output and nothing else — and folds the affine operations between two ReLUs into one
:class:`~gsmooth.verification.network.AffineLayer`:

- gsmooth's :class:`~gsmooth.models.architectures.Normalize`, ``nn.BatchNorm1d``/``2d`` in eval
  mode (running statistics): diagonal scalings, stored sparse;
- ``nn.Linear``: dense; ``nn.Conv2d`` (any stride, zero padding, dilation, groups): the exact
  sparse matrix, built by index arithmetic (float64 ``scipy.sparse.csr_array``);
- ``nn.AvgPool2d``: the sparse matrix obtained by pushing the identity basis through it;
- ``nn.Flatten``, ``torch.flatten``, ``.view``/``.reshape`` keeping the batch dimension,
  ``nn.Identity``, ``nn.Dropout`` (eval): the identity on the flattened (C-order) input;
- ``nn.ReLU`` / ``F.relu`` / ``torch.relu`` / ``.relu()``: the nonlinearity between layers.

Consecutive affine maps are multiplied together (sparse @ sparse stays sparse), so
``Normalize`` and the first convolution become one layer. Anything else — max-pooling, residual
connections, branches, sigmoid/tanh/GELU, BatchNorm or Dropout in training mode — is an
:class:`~gsmooth.errors.UnsupportedModelError` naming the layer. Finally the encoding is run
against a float64 copy of the model on random inputs in ``[0, 1]``; a mismatch (an operation
torch.fx cannot see, such as a forward hook) is an :class:`~gsmooth.errors.UnsupportedModelError`
too. The model itself is never modified (a CPU float64 copy is encoded).

Example:
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
    ...                       nn.Linear(4 * 4 * 4, 3))
    >>> net = relu_network(model, input_shape=(1, 8, 8))
    >>> net.hidden_sizes, net.layers[0].sparse, net.layers[1].sparse
    ((64,), True, False)
    >>> x = torch.rand(2, 1, 8, 8)
    >>> bool(abs(net.forward(x.numpy()) - model(x).detach().numpy()).max() < 1e-5)
    True
    >>> relu_network(nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.Sigmoid(), nn.Linear(8, 2)),
    ...              input_shape=(1, 8, 8))
    Traceback (most recent call last):
        ...
    gsmooth.errors.UnsupportedModelError: relu_network: expected a feed-forward chain of Linear/Conv2d/ReLU/… layers, got Sigmoid at 2
"""

from __future__ import annotations

import copy
import math
from numbers import Integral
from typing import Any, Optional, Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import fx, nn
from torch.nn import functional as F

from ..errors import InputTypeError, InvalidParameterError, UnsupportedModelError
from ..models.architectures import Normalize
from .network import AffineLayer, ReluNetwork

__all__ = ["relu_network"]

#: Relative tolerance of the final check of the encoding against the model (float64 both).
CHECK_TOLERANCE = 1e-9
#: Number of random inputs of that check.
CHECK_INPUTS = 4
_DUMMY_BATCH = 3  # batch of the shape-probing runs (≠ 1 so that batch-merging reshapes show)
_CHUNK_ELEMENTS = 1 << 22  # dense elements per chunk when materializing a linear map

_EXPECTED = "relu_network: expected a feed-forward chain of Linear/Conv2d/ReLU/… layers"
_RELU_FUNCTIONS = (F.relu, torch.relu, torch.relu_)
_RESHAPE_METHODS = ("view", "reshape", "flatten", "contiguous")
_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def _unsupported(what: str, where: str, detail: str = "") -> UnsupportedModelError:
    return UnsupportedModelError(f"{_EXPECTED}, got {what} at {where or '(the model itself)'}{detail}")


def _is(module: nn.Module, base) -> bool:
    """``module`` is a ``base`` whose forward is ``base``'s own (a subclass overriding forward is not)."""
    bases = base if isinstance(base, tuple) else (base,)
    return any(isinstance(module, b) and type(module).forward is b.forward for b in bases)


# --------------------------------------------------------------------------------------------
# Matrices of the affine operations (float64, flattened C-order per-sample coordinates)
# --------------------------------------------------------------------------------------------


def _numpy(t: Optional[torch.Tensor], n: int, fill: float = 0.0) -> np.ndarray:
    if t is None:
        return np.full(n, fill)
    return t.detach().to("cpu", torch.float64).numpy().reshape(-1).copy()


def _diagonal(scale: np.ndarray, shift: np.ndarray, shape: tuple[int, ...]):
    """``x ↦ scale ⊙ x + shift`` with per-channel ``scale``/``shift`` (channel = first axis)."""
    c = shape[0]
    view = (c,) + (1,) * (len(shape) - 1)
    s = np.broadcast_to(scale.reshape(view), shape).reshape(-1)
    b = np.broadcast_to(shift.reshape(view), shape).reshape(-1)
    return sp.csr_array(sp.diags_array(s, format="csr")), b.copy()


def _conv_padding(conv: nn.Conv2d) -> tuple[int, int]:
    """The top and left zero padding of ``conv`` (``"same"``: PyTorch pads the extra row/column
    at the bottom/right)."""
    if isinstance(conv.padding, str):
        if conv.padding == "valid":
            return 0, 0
        return tuple((d * (k - 1)) // 2 for d, k in zip(conv.dilation, conv.kernel_size))  # "same"
    return tuple(int(p) for p in conv.padding)


def conv2d_matrix(conv: nn.Conv2d, input_shape: Sequence[int]):
    """The exact matrix and bias of a zero-padded ``nn.Conv2d`` on inputs ``(C, H, W)``.

    Index arithmetic: output ``(o, i, j)`` takes input ``(g·C/g + c, i·s − p + k·d, j·s − p + k'·d)``
    with weight ``w[o, c, k, k']``, ``g = o // (O/groups)``; taps in the padding are dropped.

    Returns:
        ``(matrix, bias)``: ``scipy.sparse.csr_array`` ``(O·H'·W', C·H·W)`` float64 and ``(O·H'·W',)``.
    """
    c_in, h, w = (int(v) for v in input_shape)
    weight = conv.weight.detach().to("cpu", torch.float64).numpy()
    c_out, c_group, kh, kw = weight.shape
    (sh, sw), (dh, dw), groups = conv.stride, conv.dilation, conv.groups
    pt, pl = _conv_padding(conv)
    if isinstance(conv.padding, str) and conv.padding == "same":
        ho, wo = h, w
    else:
        ho = (h + 2 * pt - dh * (kh - 1) - 1) // sh + 1
        wo = (w + 2 * pl - dw * (kw - 1) - 1) // sw + 1
    per_group = c_out // groups
    oh = np.arange(ho).reshape(1, ho, 1, 1, 1, 1)
    ow = np.arange(wo).reshape(1, 1, wo, 1, 1, 1)
    cl = np.arange(c_group).reshape(1, 1, 1, c_group, 1, 1)
    ki = np.arange(kh).reshape(1, 1, 1, 1, kh, 1)
    kj = np.arange(kw).reshape(1, 1, 1, 1, 1, kw)
    ih, iw = oh * sh - pt + ki * dh, ow * sw - pl + kj * dw
    rows, cols, vals = [], [], []
    block = max(1, _CHUNK_ELEMENTS // max(1, ho * wo * c_group * kh * kw))
    for start in range(0, c_out, block):
        co = np.arange(start, min(c_out, start + block)).reshape(-1, 1, 1, 1, 1, 1)
        full = (co.shape[0], ho, wo, c_group, kh, kw)
        valid = np.broadcast_to((ih >= 0) & (ih < h) & (iw >= 0) & (iw < w), full)
        ci = (co // per_group) * c_group + cl
        rows.append(np.broadcast_to((co * ho + oh) * wo + ow, full)[valid])
        cols.append(np.broadcast_to((ci * h + ih) * w + iw, full)[valid])
        vals.append(np.broadcast_to(weight[co, cl, ki, kj], full)[valid])
    shape = (c_out * ho * wo, c_in * h * w)
    matrix = sp.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape)
    bias = np.repeat(_numpy(conv.bias, c_out), ho * wo)
    return matrix, bias


def linear_map_matrix(fn, input_shape: Sequence[int]):
    """The matrix and offset of an affine map ``fn`` (torch, float64, batched) by pushing the
    identity basis through it in chunks; zeros are not stored.

    Returns:
        ``(matrix, bias)``: ``scipy.sparse.csr_array`` ``(out, in)`` and ``(out,)``.
    """
    shape = tuple(int(v) for v in input_shape)
    d = math.prod(shape)
    with torch.no_grad():
        offset = fn(torch.zeros((1,) + shape, dtype=torch.float64)).reshape(-1)
        out = offset.numel()
        chunk = max(1, _CHUNK_ELEMENTS // max(d, out))
        rows, cols, vals = [], [], []
        for start in range(0, d, chunk):
            m = min(chunk, d - start)
            basis = torch.zeros((m, d), dtype=torch.float64)
            basis[torch.arange(m), start + torch.arange(m)] = 1.0
            y = (fn(basis.reshape((m,) + shape)).reshape(m, out) - offset).numpy()
            col, row = np.nonzero(y)
            rows.append(row)
            cols.append(col + start)
            vals.append(y[col, row])
    matrix = sp.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(out, d))
    return matrix, offset.numpy().copy()


# --------------------------------------------------------------------------------------------
# Tracing: the chain of operations of a module
# --------------------------------------------------------------------------------------------


class _OneLevelTracer(fx.Tracer):
    """Every submodule call stays one ``call_module`` node: modules are encoded one at a time."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:  # noqa: D102
        return True


class _Values(fx.Interpreter):
    """Runs the graph once on a dummy batch and keeps every node's value (for shapes)."""

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.values: dict[fx.Node, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        value = super().run_node(n)
        self.values[n] = value
        return value


def _has_tensor(value: Any) -> bool:
    return any(isinstance(v, torch.Tensor) for v in torch.utils._pytree.tree_leaves(value))


def _function_name(target) -> str:
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", repr(target))
    return f"{module}.{name}" if module else name


class _Encoder:
    """Collects the operations of the chain: ``("affine", matrix, bias)`` and ``("relu",)``."""

    def __init__(self) -> None:
        self.ops: list[tuple] = []

    # one module ---------------------------------------------------------------------------
    def module(self, m: nn.Module, qual: str, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Append the operations of ``m`` applied to per-sample inputs of ``shape``; return the
        per-sample output shape."""
        kind = type(m).__name__
        if _is(m, (nn.ReLU,)):
            self.ops.append(("relu",))
            return shape
        if _is(m, (nn.Identity,)):
            return shape
        if _is(m, _DROPOUTS):
            if m.training and m.p > 0:
                raise _unsupported(f"{kind} in training mode (p={m.p:g})", qual, " (call model.eval() first)")
            return shape
        if _is(m, (nn.Flatten,)):
            return self._reshape(lambda t: m(t), kind, qual, shape)
        if _is(m, (Normalize,)):
            if len(shape) != 3 or shape[0] != m.num_channels:
                raise _unsupported(f"{kind} on inputs of shape {shape}", qual, f" (expected ({m.num_channels}, H, W))")
            std, mean = _numpy(m.std, m.num_channels), _numpy(m.mean, m.num_channels)
            self.ops.append(("affine",) + _diagonal(1.0 / std, -mean / std, shape))
            return shape
        if _is(m, _BATCHNORMS):
            return self._batchnorm(m, qual, shape)
        if _is(m, (nn.Linear,)):
            if len(shape) != 1 or shape[0] != m.in_features:
                raise _unsupported(
                    f"{kind} on inputs of shape {shape}", qual, f" (expected flattened inputs of {m.in_features} features)"
                )
            self.ops.append(("affine", _numpy(m.weight, 0).reshape(m.out_features, m.in_features), _numpy(m.bias, m.out_features)))
            return (m.out_features,)
        if _is(m, (nn.Conv2d,)):
            if m.padding_mode != "zeros":
                raise _unsupported(f"{kind} with padding_mode={m.padding_mode!r}", qual, " (only zero padding is affine here)")
            if len(shape) != 3 or shape[0] != m.in_channels:
                raise _unsupported(f"{kind} on inputs of shape {shape}", qual, f" (expected ({m.in_channels}, H, W))")
            matrix, bias = conv2d_matrix(m, shape)
            self.ops.append(("affine", matrix, bias))
            return self._probe(m, qual, shape)
        if _is(m, (nn.AvgPool2d,)):
            if len(shape) != 3:
                raise _unsupported(f"{kind} on inputs of shape {shape}", qual, " (expected (C, H, W))")
            matrix, bias = linear_map_matrix(m, shape)
            self.ops.append(("affine", matrix, bias))
            return self._probe(m, qual, shape)
        if type(m).__module__.startswith("torch.nn.") and not isinstance(m, nn.Sequential):
            raise _unsupported(kind, qual)
        return self._traced(m, qual, shape)

    def _probe(self, m, qual: str, shape: tuple[int, ...]) -> tuple[int, ...]:
        with torch.no_grad():
            out = m(torch.zeros((_DUMMY_BATCH,) + shape, dtype=torch.float64))
        return tuple(out.shape[1:])

    def _reshape(self, fn, what: str, where: str, shape: tuple[int, ...]) -> tuple[int, ...]:
        with torch.no_grad():
            out = fn(torch.zeros((_DUMMY_BATCH,) + shape, dtype=torch.float64))
        return self._reshaped(out, what, where)

    @staticmethod
    def _reshaped(out: torch.Tensor, what: str, where: str) -> tuple[int, ...]:
        if out.dim() < 1 or out.shape[0] != _DUMMY_BATCH:
            raise _unsupported(f"{what} changing the batch dimension", where, f" (a batch of {_DUMMY_BATCH} became {tuple(out.shape)})")
        return tuple(out.shape[1:])

    def _batchnorm(self, m, qual: str, shape: tuple[int, ...]) -> tuple[int, ...]:
        kind = type(m).__name__
        if m.training or m.running_mean is None or m.running_var is None:
            raise _unsupported(
                f"{kind} in training mode" if m.training else f"{kind} without running statistics",
                qual,
                " (call model.eval() first: in training mode it normalizes by the batch's statistics)" if m.training else "",
            )
        if len(shape) not in (1, 2, 3) or shape[0] != m.num_features:
            raise _unsupported(f"{kind} on inputs of shape {shape}", qual, f" (expected {m.num_features} channels first)")
        n = m.num_features
        scale = _numpy(m.weight, n, 1.0) / np.sqrt(_numpy(m.running_var, n) + m.eps)
        shift = _numpy(m.bias, n, 0.0) - _numpy(m.running_mean, n) * scale
        self.ops.append(("affine",) + _diagonal(scale, shift, shape))
        return shape

    # a traced forward ---------------------------------------------------------------------
    def _traced(self, m: nn.Module, qual: str, shape: tuple[int, ...]) -> tuple[int, ...]:
        kind = type(m).__name__
        try:
            graph = _OneLevelTracer().trace(m)
        except Exception as exc:  # torch.fx cannot trace data-dependent control flow and more
            if isinstance(m, nn.Sequential):
                for name, child in m.named_children():
                    shape = self.module(child, f"{qual}.{name}" if qual else name, shape)
                return shape
            raise _unsupported(kind, qual, f" (torch.fx could not trace its forward: {type(exc).__name__}: {exc})") from exc
        gm = fx.GraphModule(m, graph)
        runner = _Values(gm)
        failure: Optional[Exception] = None
        try:
            with torch.no_grad():
                runner.run(torch.zeros((_DUMMY_BATCH,) + shape, dtype=torch.float64))
        except Exception as exc:  # e.g. a reshape to a fixed batch size: not a per-input function
            failure = exc  # the node that failed is the first without a value: reported below
        values = runner.values
        where = f"{qual}.forward" if qual else "the model's forward"
        current: Optional[fx.Node] = None
        for node in graph.nodes:
            value = values.get(node)
            if node.op == "placeholder":
                if current is None:
                    current = node
                elif _has_tensor(value):
                    raise _unsupported(kind, qual, f" (its forward takes more than one tensor: {node.name})")
                continue
            if node.op == "output":
                if node.args[0] is not current or not isinstance(value, torch.Tensor):
                    raise _unsupported(kind, qual, " (its forward does not return the last layer's output as one tensor)")
                continue
            failed = failure is not None and node not in values
            if node.op == "get_attr" or not (failed or _has_tensor(value)):
                continue  # parameters (their use is refused below) and shape arithmetic
            inputs = [n for n in node.all_input_nodes if _has_tensor(values.get(n)) or n.op == "get_attr"]
            if inputs != [current]:
                raise _unsupported(
                    kind,
                    qual,
                    f" (its forward combines the outputs of several layers in {self._describe(node)}: a residual "
                    "connection or branches)",
                )
            if failed:
                if node.op == "call_module":  # the layer itself says what is wrong, if it can
                    sub = m.get_submodule(node.target)
                    self.module(sub, f"{qual}.{node.target}" if qual else str(node.target), shape)
                message = str(failure).strip().splitlines()[0] if str(failure).strip() else ""
                raise _unsupported(
                    kind,
                    qual,
                    f" (its forward fails on a batch of {_DUMMY_BATCH} in {self._describe(node)}: "
                    f"{type(failure).__name__}: {message})",
                ) from failure
            if not isinstance(value, torch.Tensor):
                raise _unsupported(kind, qual, f" (its forward calls {self._describe(node)}, which returns several tensors)")
            if node.op == "call_module":
                sub = m.get_submodule(node.target)
                shape = self.module(sub, f"{qual}.{node.target}" if qual else str(node.target), shape)
            elif node.op == "call_function" and node.target in _RELU_FUNCTIONS:
                self.ops.append(("relu",))
            elif node.op == "call_function" and node.target is torch.flatten:
                shape = self._reshaped(value, "torch.flatten", where)
            elif node.op == "call_method" and node.target in ("relu", "relu_"):
                self.ops.append(("relu",))
            elif node.op == "call_method" and node.target in _RESHAPE_METHODS:
                shape = self._reshaped(value, f".{node.target}()", where)
            else:
                raise _unsupported(kind, qual, f" (its forward calls {self._describe(node)})")
            if tuple(value.shape[1:]) != shape:  # the encoding's shape bookkeeping and torch agree
                raise _unsupported(kind, qual, f" (unexpected shape {tuple(value.shape)} after {node.name})")
            current = node
        return shape

    @staticmethod
    def _describe(node: fx.Node) -> str:
        if node.op == "call_function":
            return _function_name(node.target)
        if node.op == "call_method":
            return f".{node.target}()"
        return f"the layer {node.target}" if node.op == "call_module" else f"{node.op} {node.target}"


# --------------------------------------------------------------------------------------------
# Assembly: merge the affine maps between ReLUs
# --------------------------------------------------------------------------------------------


def _compose(a, c, w, b):
    """``(a, c) ∘ (w, b)``: the matrix ``a @ w`` (sparse only when both are) and ``a @ b + c``."""
    if sp.issparse(a) and sp.issparse(w):
        matrix = sp.csr_array(a @ w)
    elif sp.issparse(w):
        matrix = np.asarray((w.T @ np.asarray(a).T).T)
    else:
        matrix = np.asarray(a @ w)
    return matrix, np.asarray(a @ b).reshape(-1) + c


def _identity(n: int):
    return sp.csr_array(sp.eye_array(n, format="csr", dtype=np.float64)), np.zeros(n)


def _assemble(ops: list[tuple], input_size: int, input_shape: tuple[int, ...]) -> ReluNetwork:
    layers: list[AffineLayer] = []
    pending = None  # the affine map since the last ReLU (None: the identity)
    width = input_size
    for op in ops:
        if op[0] == "affine":
            _, matrix, bias = op
            pending = (matrix, bias) if pending is None else _compose(matrix, bias, *pending)
            width = matrix.shape[0]
        elif pending is None and layers:
            continue  # relu(relu(z)) = relu(z)
        else:
            layers.append(AffineLayer(*(pending if pending is not None else _identity(width))))
            pending = None
    layers.append(AffineLayer(*(pending if pending is not None else _identity(width))))
    return ReluNetwork(tuple(layers), input_shape)


# --------------------------------------------------------------------------------------------
# The public function
# --------------------------------------------------------------------------------------------


def _check_shape(input_shape) -> tuple[int, ...]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if (
        not shape
        or not all(isinstance(v, Integral) and not isinstance(v, bool) and v > 0 for v in shape)
    ):
        raise InvalidParameterError(
            f"relu_network: expected input_shape a non-empty tuple of positive ints (one input, e.g. (1, 28, 28)), "
            f"got {input_shape!r}"
        )
    return tuple(int(v) for v in shape)


def relu_network(model: nn.Module, *, input_shape: Sequence[int]) -> ReluNetwork:
    """The affine–ReLU chain computing what ``model`` computes, in float64.

    Args:
        model: a feed-forward torch model (any device and dtype, any mode; it is not modified:
            a CPU float64 copy is encoded). BatchNorm and Dropout must be in eval mode.
        input_shape: the shape of one input, e.g. ``(1, 28, 28)`` (without the batch dimension).

    Returns:
        A :class:`~gsmooth.verification.network.ReluNetwork` whose ``forward`` on inputs
        ``(B, *input_shape)`` (flattened in C order) equals ``model`` on them, outputs ``(B, k)``;
        convolutions, normalizations and pooling are ``scipy.sparse.csr_array`` layers.

    Raises:
        InputTypeError: ``model`` is not an ``nn.Module``.
        InvalidParameterError: a bad ``input_shape``, or the model fails on inputs of that shape.
        UnsupportedModelError: the model is not such a chain (the message names the first layer
            that is not), does not output ``(B, k)``, or its encoding differs from ``model(x)``
            by more than ``1e-6`` (relative) on random inputs in ``[0, 1]``.
    """
    if not isinstance(model, nn.Module):
        raise InputTypeError(f"relu_network: expected a torch.nn.Module, got {type(model).__name__}")
    shape = _check_shape(input_shape)
    try:
        model64 = copy.deepcopy(model).to("cpu", torch.float64)
    except Exception as exc:
        raise UnsupportedModelError(f"relu_network: expected a model that can be copied to the CPU, got {type(exc).__name__}: {exc}") from exc
    rng = np.random.default_rng(0)
    inputs = torch.from_numpy(rng.random((CHECK_INPUTS,) + shape))
    try:
        with torch.no_grad():
            reference = model64(inputs)
    except Exception as exc:
        raise InvalidParameterError(
            f"relu_network: expected input_shape {shape} to fit the model, got {type(exc).__name__} from model(x) "
            f"on inputs {tuple(inputs.shape)}: {exc}"
        ) from exc
    if not isinstance(reference, torch.Tensor) or reference.dim() != 2 or reference.shape[0] != CHECK_INPUTS:
        got = tuple(reference.shape) if isinstance(reference, torch.Tensor) else type(reference).__name__
        raise UnsupportedModelError(f"relu_network: expected the model to output (B, k) scores, got {got}")
    encoder = _Encoder()
    out_shape = encoder.module(model64, "", shape)
    if len(out_shape) != 1:
        raise UnsupportedModelError(f"relu_network: expected the chain to end with (B, k) scores, got (B, {out_shape})")
    net = _assemble(encoder.ops, math.prod(shape), shape)
    ref = reference.numpy()
    got = net.forward(inputs.numpy())
    diff = float(np.max(np.abs(got - ref))) if got.shape == ref.shape else math.inf
    if not diff <= CHECK_TOLERANCE * max(1.0, float(np.max(np.abs(ref)))):
        raise UnsupportedModelError(
            f"relu_network: expected the encoding to reproduce model(x) within {CHECK_TOLERANCE:g} (relative), got a "
            f"difference of {diff:.3g} on random inputs in [0, 1] (the model uses an operation torch.fx cannot see: "
            "a forward hook, a functional call inside a supported layer's subclass, …)"
        )
    return net
