"""Property-based fuzzing of the public API: a correct result or a typed error, nothing else.

Entry points: :class:`gsmooth.Smoother` (construction, ``certify``, ``predict``,
``certify_interval``), :func:`gsmooth.noise` / :func:`gsmooth.transform` (and a noise's
``radius``), :class:`gsmooth.io.results.ResultsWriter` / :func:`gsmooth.io.results.read_results`,
:func:`gsmooth.io.checkpoints.load_checkpoint`, :func:`gsmooth.io.image_files.open_images` /
``load_images``, :func:`gsmooth.data.cifar_c.write_corrupted` / ``load_corrupted`` and
:func:`gsmooth.evaluation.analysis.summarize`.

Strategies: tensors of random shapes (0 to 5 dimensions, empty ones included), of every torch
dtype (bool, the integers, float16/bfloat16/32/64, complex64/128), on the ``meta`` device (and CUDA
when there is one), with NaN/inf/out-of-range values; numpy arrays (non-native byte order, negative
strides, object dtype), Python lists, scalars, strings and ``None`` where a tensor is expected;
hyper-parameters at and past their bounds (``n``/``n0``/``batch_size`` 0, -1, 1.5, ``True``, huge
batch sizes and seeds, ``alpha`` 0, 1, NaN, tiny, numpy scalars; ``keys`` of the wrong length or
type; ``sigma`` 0, negative, NaN, inf, huge; devices that are not there); base models that return
NaN, the wrong shape, a tuple, complex or integer logits, or raise.

The property, for every call: it returns a well-formed result (a certificate's class is -1 or a
class index, its radius >= 0 and 0 when it abstains, its counts within n …) **or** raises a
:class:`gsmooth.GsmoothError` with a non-empty message; a bare ``RuntimeError``/``ValueError``/
``TypeError``/``IndexError`` from torch or numpy internals fails the test. Where validity is
decidable up front (an image's dtype, shape, range; each hyper-parameter's type and bounds), a
result for an invalid argument fails too (nothing accepted silently), and for the certify/predict
calls an all-valid, moderate call must succeed (no valid input refused).

Profiles: see ``tests/conftest.py`` (``ci`` by default: a few seconds per test;
``HYPOTHESIS_PROFILE=long`` by hand).
"""

from __future__ import annotations

import math
import operator
import os
import tempfile
import traceback
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import event, given, note, settings
from hypothesis import strategies as st
from torch import nn

import gsmooth
from fuzz_support import bounded_memory, fuzz_examples
from gsmooth import GsmoothError

SHAPE = (1, 4, 4)
K = 3

DTYPES = [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16, torch.bfloat16,
          torch.float32, torch.float64, torch.complex64, torch.complex128]
DEVICES = ["cpu", "meta"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module", autouse=True)
def _bounded_memory():
    """An example that would take all the machine's memory fails instead (see fuzz_support)."""
    with bounded_memory():
        yield


@pytest.fixture(autouse=True)
def _in_a_scratch_folder(tmp_path, monkeypatch):
    """Run each fuzz test in an empty folder: a call that writes to the working directory by
    mistake (an empty path taken as ".") must not write into the repository, and is seen."""
    monkeypatch.chdir(tmp_path)
    yield
    left = os.listdir(tmp_path)
    assert not left, f"files written to the working directory: {left}"


def typed(fn, *args, **kwargs):
    """``("ok", result)`` or ``("error", exc)`` for a GsmoothError; anything else propagates (fails)."""
    crash = None
    try:
        return "ok", fn(*args, **kwargs)
    except GsmoothError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        event(f"{type(exc).__name__}")
        exc.__traceback__ = None  # the frames would keep the example's tensors alive
        return "error", exc
    except Exception as exc:  # noqa: BLE001 - not a typed error: the property fails
        crash = "".join(traceback.format_exception(exc))
        del exc
    pytest.fail(f"{getattr(fn, '__qualname__', fn)} raised an untyped error:\n{crash}", pytrace=False)


# ------------------------------------------------------------------------------------------------
# models
# ------------------------------------------------------------------------------------------------


class Linear(nn.Module):
    def __init__(self, dtype=torch.float32):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(16, K).to(dtype)

    def forward(self, x):
        return self.fc(x.flatten(1)) * 20


class Odd(nn.Module):
    """A model that misbehaves in one way."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        b = x.shape[0]
        if self.how == "nan":
            return torch.full((b, K), float("nan"))
        if self.how == "inf":
            return torch.full((b, K), float("inf"))
        if self.how == "wrong_classes":
            return torch.zeros(b, K + 2)
        if self.how == "one_dim":
            return torch.zeros(b)
        if self.how == "three_dim":
            return torch.zeros(b, K, 1)
        if self.how == "wrong_batch":
            return torch.zeros(b + 1, K)
        if self.how == "tuple":
            return (torch.zeros(b, K),)
        if self.how == "numpy":
            return np.zeros((b, K))
        if self.how == "complex":
            return torch.zeros(b, K, dtype=torch.complex64)
        if self.how == "int":
            return torch.zeros(b, K, dtype=torch.int64)
        if self.how == "bool":
            return torch.zeros(b, K, dtype=torch.bool)
        if self.how == "raises":
            raise ValueError("a model bug")
        if self.how == "index":
            return torch.zeros(b, K)[:, [0, 1, 5]]
        if self.how == "none":
            return None
        if self.how == "meta":
            return torch.zeros(b, K, device="meta")
        raise AssertionError(self.how)


ODD_MODELS = ["nan", "inf", "wrong_classes", "one_dim", "three_dim", "wrong_batch", "tuple", "numpy", "complex", "int",
              "bool", "raises", "index", "none", "meta"]


# ------------------------------------------------------------------------------------------------
# values with their validity
# ------------------------------------------------------------------------------------------------


def _is_int(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def counts(*, huge: bool) -> st.SearchStrategy:
    """Values for n / n0 / batch_size (huge only where it costs nothing: batch_size)."""
    values = [1, 2, 5, 10, np.int64(7), 0, -1, 1.5, 2.0, True, None, "10", float("nan"), float("inf"), torch.tensor(5)]
    if huge:
        values += [2**62, 2**63, 2**100]
    return st.sampled_from(values)


def count_ok(v) -> bool:
    return _is_int(v) and v >= 1


ALPHAS = [0.001, 0.1, 0.5, np.float32(0.05), 0.0, 1.0, -0.1, 1.5, float("nan"), float("inf"), 5e-324, 1e-300, True,
          None, "0.1", torch.tensor(0.1)]


def alpha_ok(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(float(v)) and 0 < float(v) < 1


SEEDS = [0, 1, 2**63, 2**64, 2**200, -1, 1.5, None, True, "0", np.uint64(2**64 - 1), np.int8(-3), float("inf")]


def seed_ok(v) -> bool:
    return _is_int(v) and v >= 0


def BAD_KEYS(batch: int) -> list:
    """keys that are not one integer per image of a batch of ``batch``."""
    return [5, "ab", [None] * max(batch, 1), [1.5] * max(batch, 1), [float("nan")] * max(batch, 1),
            ["a"] * max(batch, 1), list(range(batch + 1)), list(range(batch - 1)) if batch > 1 else [], {0: 1},
            torch.arange(batch + 1), [object()] * max(batch, 1)]


def keys_ok(v, batch: int) -> bool:
    if v is None:
        return True
    if isinstance(v, (str, bytes, dict)) or not hasattr(v, "__len__"):
        return False
    items = list(v)
    if len(items) != batch:
        return False
    for k in items:
        if isinstance(k, float):
            return False  # a float is not a key
        try:
            operator.index(k)
        except TypeError:
            return False
    return True


FLOAT_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
IMAGE_FAULTS = [None] * 6 + ["shape", "dtype", "values", "device", "container", "empty"]


@st.composite
def images(draw, fault=None):
    """``(value, valid, batch)``: an image argument, whether it is a valid input for a model of input
    shape SHAPE, and its batch size. ``fault`` (drawn from IMAGE_FAULTS when not given) says what is
    wrong with it: nothing, its shape, dtype, values, device, container, or an empty dimension. Valid
    images come in every accepted form: (C,H,W) or (B,C,H,W), float16/bfloat16/32/64, numpy arrays
    (also big-endian, negatively strided, float16), non-contiguous, requiring grad."""
    if fault is None:
        fault = draw(st.sampled_from(IMAGE_FAULTS), label="image fault")
    if fault == "container":
        value = draw(st.sampled_from(["list", None, "image.png", 0.5, 1, True, "object", "strings", "bytes"]))
        if value == "list":
            return torch.rand(1, *SHAPE).tolist(), False, 1
        if value in ("object", "strings", "bytes"):
            a = np.full((1, *SHAPE), 0.5)
            if value == "object":
                obj = np.empty(a.shape, dtype=object)
                obj[...] = 0.5
                return obj, False, 1
            return a.astype(str if value == "strings" else bytes), False, 1
        return value, False, 0
    if fault == "shape":
        shape = draw(st.lists(st.integers(1, 4), min_size=0, max_size=5).map(tuple), label="shape")
    elif fault == "empty":
        shape = draw(st.sampled_from([(0, *SHAPE), (1, 0, 4, 4), (1, 1, 0, 4), (0, 4, 4), (2, 1, 4, 0)]), label="shape")
    else:
        shape = draw(st.sampled_from([SHAPE, (1, *SHAPE), (2, *SHAPE), (3, *SHAPE)]), label="shape")
    g = torch.Generator().manual_seed(draw(st.integers(0, 9), label="pixels"))
    t = torch.rand(shape, generator=g, dtype=torch.float64)
    if fault == "values" and t.numel():
        how = draw(st.sampled_from(["nan", "inf", "-inf", "big", "neg", "just_above"]), label="values")
        if how == "nan":
            t.view(-1)[0] = float("nan")
        elif how == "inf":
            t.view(-1)[-1] = float("inf")
        elif how == "-inf":
            t.view(-1)[0] = -float("inf")
        elif how == "big":
            t = t * 300 + 2
        elif how == "neg":
            t = t - 2
        else:
            t = t * 0 + 1.01
    elif fault is None:
        how = draw(st.sampled_from(["unit", "unit", "zero", "one", "edge"]), label="values")
        if how == "zero":
            t = torch.zeros_like(t)
        elif how == "one":
            t = torch.ones_like(t)
        elif how == "edge":
            t = t * 0 + 1 + 5e-5  # within the 1e-4 tolerance
    dtype = draw(st.sampled_from([d for d in DTYPES if not d.is_floating_point] if fault == "dtype" else FLOAT_DTYPES),
                 label="dtype")
    if dtype == torch.bool:
        x = t > 0.5
    elif dtype.is_complex:
        x = t.to(dtype)
    elif not dtype.is_floating_point:
        info = torch.iinfo(dtype)
        x = torch.nan_to_num(t * 255, posinf=info.max, neginf=info.min).clamp(info.min, info.max).to(dtype)
    else:
        x = t.to(dtype)
    valid = fault is None
    if fault == "shape":  # a drawn shape may happen to be a valid one
        valid = len(shape) in (3, 4) and tuple(shape[-3:]) == SHAPE
    batch = 1 if len(shape) == 3 else (shape[0] if shape else 0)
    if fault == "device":
        return x.to("meta"), False, batch
    form = draw(st.sampled_from(["tensor", "tensor", "numpy", "big_endian", "reversed", "noncontiguous", "grad",
                                 "device"]), label="form")
    if form in ("numpy", "big_endian", "reversed"):
        if dtype == torch.bfloat16:
            x = x.float()
        a = x.numpy()
        if form == "big_endian":
            a = a.astype(a.dtype.newbyteorder(">"))
        elif form == "reversed" and a.ndim:
            a = np.flip(a, axis=-1)
        return a, valid, batch
    if form == "noncontiguous" and x.ndim >= 2:
        x = x.transpose(-1, -2).contiguous().transpose(-1, -2)
    elif form == "grad" and (x.is_floating_point() or x.is_complex()):
        x = x.requires_grad_(True)
    elif form == "device":
        x = x.to(draw(st.sampled_from(DEVICES[:1] + DEVICES[2:]), label="device"))
    return x, valid, batch


def check_certificate(c, *, n: int, n0: int | None = None) -> None:
    assert c.prediction == -1 or 0 <= c.prediction < K
    assert c.radius >= 0 and not math.isnan(c.radius)
    if c.prediction == -1:
        assert c.radius == 0
    assert 0 <= c.count <= n and 0.0 <= c.p_lower <= 1.0
    assert c.n == n and (n0 is None or c.n0 == n0)


def check_prediction(p, *, n: int) -> None:
    assert p.prediction == -1 or 0 <= p.prediction < K
    assert 0 <= p.runner_up_count <= p.count <= n and 0.0 <= p.p_value <= 1.0


def _results(out, method: str, batch: int, single: bool, n: int, n0: int | None):
    items = [out] if single else list(out)
    assert len(items) == batch
    for r in items:
        if method == "predict":
            check_prediction(r, n=n)
        else:
            check_certificate(r, n=n, n0=n0)


# ------------------------------------------------------------------------------------------------
# Smoother
# ------------------------------------------------------------------------------------------------


GOOD = {"n": [1, 5, 10, np.int64(7)], "n0": [1, 5, np.int64(3)], "alpha": [0.001, 0.1, 0.5, np.float32(0.05), 1e-300],
        "batch_size": [1, 3, 1000, 2**62, 2**100], "seed": [0, 1, 2**64, 2**200, np.uint64(2**64 - 1)]}
BAD = {"n": [0, -1, 1.5, 2.0, True, None, "10", float("nan"), float("inf"), torch.tensor(5)],
       "alpha": [0.0, 1.0, -0.1, 1.5, float("nan"), float("inf"), True, None, "0.1", torch.tensor(0.1)],
       "seed": [-1, 1.5, None, True, "0", np.int8(-3), float("inf")]}
BAD["n0"] = BAD["batch_size"] = BAD["n"]


@settings(max_examples=fuzz_examples(8.0))
@given(data=st.data())
def test_fuzz_certify_and_predict(data):
    method = data.draw(st.sampled_from(["certify", "predict"]), label="method")
    with_shape = data.draw(st.booleans(), label="input_shape given")
    model_dtype = data.draw(st.sampled_from([torch.float32, torch.float64]), label="model dtype")
    smoother = gsmooth.Smoother(Linear(model_dtype), noise="gaussian", sigma=0.25, num_classes=K,
                                input_shape=SHAPE if with_shape else None)
    x, x_ok, batch = data.draw(images(), label="x")
    names = ["n", "alpha", "batch_size", "seed", "keys", "center"] + (["n0"] if method == "certify" else [])
    fault = data.draw(st.sampled_from([None] * len(names) + names), label="faulty parameter")
    kw = {}
    for name in names:
        if name == "keys":
            if fault == "keys":
                kw["keys"] = data.draw(st.sampled_from(BAD_KEYS(batch)), label="keys")
            else:
                kw["keys"] = data.draw(st.sampled_from([None, list(range(batch)), [2**70 + i for i in range(batch)],
                                                        np.arange(batch), torch.arange(batch), range(batch),
                                                        [-5 - i for i in range(batch)]]), label="keys")
        elif name == "center":
            kw["center"] = data.draw(st.sampled_from([0.0, [0.1], torch.zeros(1), "0"]), label="center") \
                if fault == "center" else None
        else:
            kw[name] = data.draw(st.sampled_from(BAD[name] if fault == name else GOOD[name]), label=name)
    # a (C,H,W)/(B,C,H,W) image of another shape is an error only when the model's input shape is
    # known; otherwise the model decides (a ModelOutputError, or a result)
    shape_known = with_shape or not isinstance(x, (torch.Tensor, np.ndarray)) or x.ndim not in (3, 4)
    status, out = typed(getattr(smoother, method), x, **kw)
    note(f"status={status} x_ok={x_ok} fault={fault} out={out!r}")
    event(f"{method}: {status}")
    if status == "ok":
        assert fault is None, f"an invalid {fault} was accepted"
        assert x_ok or not shape_known, "an invalid image was accepted"
        single = isinstance(x, (torch.Tensor, np.ndarray)) and x.ndim == 3
        _results(out, method, 1 if single else batch, single, int(kw["n"]),
                 int(kw["n0"]) if method == "certify" else None)
    elif x_ok and fault is None:
        pytest.fail(f"a valid call was refused: {out}")


@settings(max_examples=fuzz_examples(4.0))
@given(data=st.data())
def test_fuzz_models_that_misbehave(data):
    how = data.draw(st.sampled_from(ODD_MODELS), label="model")
    smoother = gsmooth.Smoother(Odd(how), noise="gaussian", sigma=0.25, num_classes=K, input_shape=SHAPE)
    method = data.draw(st.sampled_from(["certify", "predict"]), label="method")
    batch = data.draw(st.integers(1, 3), label="batch")
    x = torch.rand(batch, *SHAPE)
    kw = dict(n=data.draw(st.sampled_from([1, 5, 20])), batch_size=data.draw(st.sampled_from([1, 4, 100])))
    status, out = typed(getattr(smoother, method), x, **kw)
    note(f"status={status} out={out!r}")
    if how not in ("int",):  # integer logits are votes like any other
        assert status == "error", f"a misbehaving model ({how}) gave a result"
    if status == "ok":
        _results(out, method, batch, False, kw["n"], 100 if method == "certify" else None)


class _NotANoise:
    sigma = 0.25


CONSTRUCTION = {  # (good values, bad values)
    "model": (["linear", "linear64", "function"], [None, "string", 5]),
    "noise": (["gaussian", "laplace", "uniform", "obj"], ["exponential", "nope", "", None, 5, "obj_other_sigma",
                                                         _NotANoise()]),
    "sigma": ([0.25, np.float64(0.3), 1e-3], [0.0, -1.0, float("nan"), float("inf"), "0.25", True]),
    "transform": (["additive", "obj"], ["brightness", "rotation", "contrast", "translation", "nope", None, 5]),
    "num_classes": ([K, np.int64(K)], [2, 1, 0, -1, 2.0, True, None, "3", 10**6]),
    "device": ([None, "cpu", torch.device("cpu")], ["meta", "cuda:7", "nonsense", "", -1, "mps", "xpu", 1.5, True]
               + ([] if torch.cuda.is_available() else ["cuda", 0])),
    "input_shape": ([None, SHAPE, list(SHAPE), torch.Size(SHAPE), np.array(SHAPE)],
                    [(1, 4), (0, 4, 4), (-1, 4, 4), (1.5, 4, 4), "abc", 5, (1, 4, 4, 1), (True, 4, 4)]),
}


@settings(max_examples=fuzz_examples(4.0))
@given(data=st.data())
def test_fuzz_smoother_construction(data):
    """Smoother(...) with at most one odd argument: a Smoother whose certify/predict work on an
    ordinary image (a num_classes that does not match the model: a ModelOutputError there), or a
    typed error at construction."""
    fault = data.draw(st.sampled_from([None] * 3 + list(CONSTRUCTION)), label="faulty argument")
    args = {name: data.draw(st.sampled_from(bad if name == fault else good), label=name)
            for name, (good, bad) in CONSTRUCTION.items()}
    model = {"linear": Linear(), "linear64": Linear(torch.float64), "function": Linear(),
             None: None, "string": "model.pt", 5: 5}[args.pop("model")]
    if isinstance(model, Linear) and model.fc.weight.dtype == torch.float32 and data.draw(st.booleans(),
                                                                                          label="plain function"):
        # (a plain function's dtype is unknown: images stay float32, so only a float32 model fits)
        module = model
        model = lambda x: module(x)  # noqa: E731 - a plain callable, not an nn.Module
    if args["noise"] == "obj":
        args["noise"] = gsmooth.noise("gaussian", sigma=args["sigma"] if fault != "sigma" else 0.25)
    elif args["noise"] == "obj_other_sigma":
        args["noise"] = gsmooth.noise("gaussian", sigma=0.5)
    if args["transform"] == "obj":
        args["transform"] = gsmooth.transform("additive")
    status, smoother = typed(gsmooth.Smoother, model, **args)
    note(f"status={status} {smoother!r}")
    if status != "ok":
        assert fault is not None, f"valid arguments refused: {smoother}"
        return
    if fault is not None and fault not in ("num_classes", "transform"):
        # a num_classes the model does not return is found at the first forward pass; an exact
        # transform with a parameter is a valid smoother too
        pytest.fail(f"an invalid {fault} was accepted: {args[fault]!r}")
    status, out = typed(smoother.certify, torch.rand(*SHAPE), n0=5, n=10)
    note(f"certify: {status} {out!r}")
    if fault is None:
        assert status == "ok", out
        check_certificate(out, n=10, n0=5)
    status, out = typed(smoother.predict, torch.rand(2, *SHAPE), n=10)
    note(f"predict: {status} {out!r}")
    if fault is None:
        assert status == "ok", out


INTERVAL = {  # (good values, bad values); low/high are drawn as a pair
    "slices": ([1, 2, 3, np.int64(2)], [0, -1, 1.5, None, True, float("nan"), "2", "x"]),
    "n0": (GOOD["n0"], BAD["n0"]),
    "n": ([5, 10], BAD["n"]),
    "alpha": (GOOD["alpha"], BAD["alpha"]),
    "batch_size": (GOOD["batch_size"], BAD["batch_size"]),
    "seed": (GOOD["seed"], BAD["seed"]),
}
RANGES_GOOD = [(-0.2, 0.2), (0.0, 0.1), (0.1, 0.1), (np.float32(-0.1), np.float32(0.1)), (torch.tensor(-0.1), 0.1),
               ([-0.1], [0.1])]
RANGES_BAD = [(0.2, -0.2), (float("nan"), 0.1), (-float("inf"), 0.1), (-1e308, 1e308), ("0", "1"), (None, 0.1),
              (True, 0.2), ((0.0, 0.1), (0.2, 0.3)), ([], []), ([-0.1, -0.1, -0.1], [0.1, 0.1, 0.1])]


@settings(max_examples=fuzz_examples(3.0))
@given(data=st.data())
def test_fuzz_certify_interval(data):
    transform = data.draw(st.sampled_from(["brightness", "gaussian_blur", "translation", "contrast"]), label="transform")
    noise = data.draw(st.sampled_from(["gaussian", "gaussian", "laplace", "exponential"]), label="noise")
    status, smoother = typed(gsmooth.Smoother, Linear(), noise=noise, sigma=0.2, transform=transform, num_classes=K,
                             input_shape=SHAPE)
    if status != "ok":
        return
    fault = data.draw(st.sampled_from([None] * 4 + ["range", "image"] + list(INTERVAL)), label="faulty argument")
    low, high = data.draw(st.sampled_from(RANGES_BAD if fault == "range" else RANGES_GOOD), label="low, high")
    x, _x_ok, _batch = data.draw(images(fault="values" if fault == "image" else None), label="x")
    kw = {name: data.draw(st.sampled_from(bad if fault == name else good), label=name)
          for name, (good, bad) in INTERVAL.items()}
    status, out = typed(smoother.certify_interval, x, low=low, high=high, **kw)
    note(f"status={status} {out!r}")
    if status == "ok":
        assert fault not in INTERVAL and fault != "image", f"an invalid {fault} was accepted"
        for c in ([out] if not isinstance(out, gsmooth.ResultBatch) else list(out)):
            assert c.prediction == -1 or 0 <= c.prediction < K
            assert c.margin == c.margin or c.prediction == -1


# ------------------------------------------------------------------------------------------------
# components
# ------------------------------------------------------------------------------------------------

PARAM_VALUES = [0.25, 0.0, -1.0, float("nan"), float("inf"), 1e308, 5e-324, 3, True, None, "0.25", [0.25],
                torch.tensor(0.25), np.float64(0.25), 2**70]


@settings(max_examples=fuzz_examples(4.0))
@given(data=st.data())
def test_fuzz_noise_and_transform_factories(data):
    kind = data.draw(st.sampled_from(["noise", "transform"]), label="kind")
    names = gsmooth.available_noises() if kind == "noise" else gsmooth.available_transforms()
    name = data.draw(st.one_of(st.sampled_from(names), st.sampled_from(["", "nope", "Gaussian", " gaussian", None, 5,
                                                                         "gaussian\n", b"gaussian"])), label="name")
    keys = ["sigma", "num_samples", "padding_mode", "kernel_size", "x", "max_shift", "mode"]
    params = data.draw(st.dictionaries(st.sampled_from(keys), st.sampled_from(PARAM_VALUES), max_size=2),
                       label="params")
    factory = gsmooth.noise if kind == "noise" else gsmooth.transform
    status, obj = typed(factory, name, **params)
    note(f"status={status} {obj!r}")
    if status != "ok":
        return
    assert obj.describe()
    if kind == "noise":
        p = data.draw(st.sampled_from([0.5, 0.9, 0.999, 1.0, 0.49, 0.0, -1, 2, float("nan"), [0.6, 0.7],
                                       np.array([0.6, 0.99]), "0.9", None, []]), label="p_lower")
        status, r = typed(obj.radius, p)
        note(f"radius: {status} {r!r}")
        if status == "ok":
            assert np.all(np.asarray(r, dtype=np.float64) >= 0)


# ------------------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------------------

GOOD_COLUMNS = ["p_lower", "noise", "count", "ok_name", "idx"]  # idx: Cohen's, listed again
BAD_COLUMNS = ["", "a b", "x\ty", "x\ny", "1abc", None, 5, "é"]
GOOD_CELLS = [0, 1, -1, 0.5, float("nan"), float("inf"), "text", "", True, 2**70, np.float32(0.5), np.int64(3), None,
              torch.tensor(1.0), [1, 2]]  # any other value is written as its str()
BAD_CELLS = ["a\tb", "a\nb", "a\rb"]
GOOD_CONFIG = [0.25, "a", None, [1], {"k": 1}, 2**70, True, {1: 2}]  # nested keys are written as JSON strings
BAD_CONFIG = [float("nan"), torch.tensor(1.0), object(), b"x", float("inf")]
ROW_GOOD = {"idx": [0, 1, 2, 2**40, 2**63 - 1, np.int64(5)], "label": [0, 3, 9], "predict": [0, 3, -1],
            "time": [0.1, 0.0, 12.5, np.float64(1.0)], "radius": [0.0, 0.5, 1e-9, float("inf"), 3]}
ROW_BAD = {"idx": [-1, 1.5, "3", None, 2**63, 2**70], "label": [-1, 1.5, "a", None], "predict": [-2, 2.5, None, "x"],
           "time": [-1.0, float("nan"), "1", None], "radius": [-0.5, float("nan"), "x", None]}


@settings(max_examples=fuzz_examples(4.0))
@given(data=st.data())
def test_fuzz_results_writer_round_trip(data):
    """What ResultsWriter accepts, read_results reads back (same idx, same radii); what it
    refuses is a typed error that leaves no file behind."""
    from gsmooth.io.results import ResultsWriter, read_results

    fault = data.draw(st.sampled_from([None] * 3 + ["columns", "config", "row", "cell"]), label="fault")
    columns = data.draw(st.lists(st.sampled_from(GOOD_COLUMNS), max_size=3, unique=True), label="columns")
    if fault == "columns":
        columns.append(data.draw(st.sampled_from(BAD_COLUMNS), label="bad column"))
    config = {"sigma": data.draw(st.sampled_from(BAD_CONFIG if fault == "config" else GOOD_CONFIG), label="config")}
    radius = data.draw(st.booleans(), label="radius")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.tsv")
        status, writer = typed(ResultsWriter, path, columns=columns, config=config, radius=radius)
        note(f"writer: {status} {writer!r}")
        if status != "ok":
            assert fault in ("columns", "config"), f"valid arguments refused: {writer}"
            assert not os.path.exists(path) and not os.path.exists(path + ".json")
            return
        assert fault not in ("columns", "config"), f"an invalid {fault} was accepted"
        written = []
        with writer:
            for i in range(data.draw(st.integers(1, 3), label="rows")):
                row = {}
                bad_key = data.draw(st.sampled_from(sorted(ROW_GOOD)), label="bad field") if fault == "row" else None
                for key in ("idx", "label", "predict", "time") + (("radius",) if radius else ()):
                    row[key] = data.draw(st.sampled_from(ROW_BAD[key] if key == bad_key else ROW_GOOD[key]), label=key)
                if bad_key is None and fault != "row":
                    row["idx"] = 100 + i if i else row["idx"]  # distinct idx
                for c in writer.columns:
                    if c not in row and c != "correct":
                        row[c] = data.draw(st.sampled_from(BAD_CELLS if fault == "cell" else GOOD_CELLS), label=c)
                status, _ = typed(writer.write, row)
                note(f"write {row!r}: {status}")
                if status == "ok":
                    written.append(row)
                elif fault is None:
                    pytest.fail(f"a valid row was refused: {_}")
        status, table = typed(read_results, path)
        note(f"read: {status} {table!r}")
        if written:
            assert status == "ok", f"gsmooth wrote a results file it cannot read back: {table}"
            assert [int(i) for i in table.idx] == [int(r["idx"]) for r in written]
            if radius:
                assert [float(r) for r in table.radius] == [float(r["radius"]) for r in written]


FILE_CONTENTS = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"", b"idx\tlabel\tpredict\tcorrect\n0\t1\t1\t1\n", b"idx\tlabel\tpredict\tcorrect\n0\t1\tx\t1\n",
                     b"idx\tlabel\tpredict\tradius\tcorrect\n0\t1\t1\tnan\t1\n", b"\xff\xfe\x00", b"{}",
                     b"idx\tidx\tlabel\tpredict\tcorrect\n0\t0\t1\t1\t1\n", b"PK\x03\x04", b"\x80\x02}q\x00."]),
)


@settings(max_examples=fuzz_examples(4.0))
@given(data=st.data())
def test_fuzz_file_readers(data):
    """read_results, load_checkpoint, load_images and summarize on any bytes, any path type, any options."""
    from gsmooth.evaluation.analysis import summarize
    from gsmooth.io.checkpoints import load_checkpoint
    from gsmooth.io.image_files import load_images
    from gsmooth.io.results import read_results

    reader = data.draw(st.sampled_from(["read_results", "load_checkpoint", "load_images", "summarize"]), label="reader")
    with tempfile.TemporaryDirectory() as tmp:
        ext = data.draw(st.sampled_from([".tsv", ".pt", ".npy", ".png", ".jpg", ".pth", ""]), label="ext")
        f = Path(tmp) / f"file{ext}"
        content = data.draw(FILE_CONTENTS, label="content")
        f.write_bytes(content)
        path = data.draw(st.sampled_from(["file", "str", "folder", "missing", None, 5, b"bytes-path", "", "~nouser/x",
                                          "nul"]),
                         label="path")
        arg = {"file": f, "str": str(f), "folder": tmp, "missing": os.path.join(tmp, "nope"), None: None, 5: 5,
               b"bytes-path": os.fsencode(str(f)), "": "", "~nouser/x": "~nouser/x", "nul": str(f) + "\x00"}[path]
        if reader == "read_results":
            status, out = typed(read_results, arg)
        elif reader == "load_checkpoint":
            where = data.draw(st.sampled_from(["cpu", None, "meta", "nonsense", 5, torch.device("cpu")]), label="map")
            status, out = typed(load_checkpoint, arg, map_location=where)
        elif reader == "load_images":
            shape = data.draw(st.sampled_from([(1, 28, 28), (3, 8, 8), (0, 4, 4), (1, 4), "abc", None, (2, 4, 4)]),
                              label="input_shape")
            status, out = typed(load_images, arg, shape, resize=data.draw(st.booleans(), label="resize"))
        else:
            radii = data.draw(st.sampled_from([[0.0, 0.5], [], [-1.0], [float("nan")], "0.5", None, 0.5]), label="radii")
            status, out = typed(summarize, arg, radii)
        note(f"{reader}: {status} {out!r}")


CIFAR_C = {  # (good values, bad values)
    "labels": (["range", "numpy", "torch"], ["longer", "list", "negative", "big", "float", None, "ab"]),
    "corruptions": ([["gaussian_noise"], ["fog"], ["brightness", "contrast"], ["fog", "fog"]],  # repeats: once
                    [[], ["nope"], "fog", [5]]),
    "seed": (GOOD["seed"], BAD["seed"]),
    "batch_size": ([1, 2, 1000, 2**62], BAD["batch_size"]),
    "root": (["new", "existing_empty", "missing_parent"], ["file", "", None, 5]),
    "severity": ([1, 5, np.int64(2)], [0, 6, -1, 1.5, "1", None, True]),
    "max_images": ([None, 1, 10**9], [0, -1, 1.5, "1", True]),
    "corruption": (["written"], ["nope", "", None, 5, "fog_unwritten"]),
}


@settings(max_examples=fuzz_examples(3.0))
@given(data=st.data())
def test_fuzz_cifar_c(data):
    """write_corrupted then load_corrupted, one odd argument at a time (images included)."""
    from gsmooth.data.cifar_c import load_corrupted, write_corrupted

    fault = data.draw(st.sampled_from([None] * 3 + ["images"] + list(CIFAR_C)), label="fault")
    args = {name: data.draw(st.sampled_from(bad if fault == name else good), label=name)
            for name, (good, bad) in CIFAR_C.items()}
    if fault == "images":
        shape, dtype = data.draw(st.sampled_from([
            ((0, 1, 8, 8), "uint8"), ((2, 1, 4, 4), "uint8"), ((2, 2, 8, 8), "uint8"), ((8, 8), "uint8"),
            ((2, 8, 8, 1), "uint8"), ((2, 1, 8, 8), "int64"), ((2, 1, 8, 8), "bool"), ((2, 1, 8, 8), "float_big"),
            ((2, 1, 8, 8), "float_nan"), ((2, 1, 8, 8), "complex"),
        ]), label="images")
    else:
        shape = data.draw(st.sampled_from([(2, 1, 8, 8), (2, 3, 8, 8), (1, 1, 8, 8)]), label="images shape")
        dtype = data.draw(st.sampled_from(["uint8", "float32", "float64"]), label="images dtype")
    x = np.random.default_rng(0).random(shape)
    if dtype in ("uint8", "int64"):
        x = (x * 255).astype(dtype)
    elif dtype == "bool":
        x = x > 0.5
    elif dtype == "float_big":
        x = x * 2
    elif dtype == "float_nan":
        x.flat[0] = np.nan
    elif dtype == "complex":
        x = x.astype(np.complex64)
    elif dtype == "float32":
        x = x.astype(np.float32)
    images = torch.from_numpy(np.ascontiguousarray(x)) if data.draw(st.booleans(), label="as torch") else x
    n = shape[0] if len(shape) == 4 else 1
    labels = {"range": np.arange(n) % 10, "numpy": np.zeros(n, dtype=np.int64), "torch": torch.zeros(n, dtype=torch.int64),
              "longer": np.zeros(n + 1, dtype=np.int64), "list": list(range(n)), "negative": np.full(n, -1),
              "big": np.full(n, 300), "float": np.full(n, 0.5)}.get(args["labels"], args["labels"])
    with tempfile.TemporaryDirectory() as tmp:
        target = {"new": os.path.join(tmp, "out"), "existing_empty": tmp, "file": os.path.join(tmp, "file"),
                  "missing_parent": os.path.join(tmp, "a", "b", "c"), "": "", None: None, 5: 5}[args["root"]]
        if args["root"] == "file":
            Path(target).write_text("a user's file")
        status, info = typed(write_corrupted, target, images, labels, corruptions=args["corruptions"],
                             seed=args["seed"], batch_size=args["batch_size"])
        note(f"write: {status} {info!r}")
        if args["root"] == "file":
            assert Path(target).read_text() == "a user's file"
        if status != "ok":
            assert fault in ("images", "labels", "corruptions", "seed", "batch_size", "root"), f"refused: {info}"
            return
        assert fault not in ("images", "labels", "corruptions", "seed", "batch_size", "root"), \
            f"an invalid {fault} was accepted"
        corruption = args["corruptions"][0] if args["corruption"] == "written" else args["corruption"]
        status, ds = typed(load_corrupted, target, corruption, args["severity"], max_images=args["max_images"])
        note(f"load: {status} {ds!r}")
        if status == "ok":
            assert fault not in ("severity", "max_images", "corruption"), f"an invalid {fault} was accepted"
            assert len(ds) == (n if args["max_images"] is None else min(n, args["max_images"]))
        else:
            assert fault in ("severity", "max_images", "corruption"), f"refused: {ds}"


SUMMARY_GOOD = {"label": [[1, 2], np.array([0, 3]), [np.int64(1), 2]], "predict": [[1, -1], np.array([0, 3]), [2, 2]],
                "radius": [[0.5, 0.0], np.array([0.1, 2.0]), [float("inf"), 0.0], [1, 0]]}
SUMMARY_BAD = {"label": [["a", "b"], [1.5, 2], [None, 1], [1], [1, 2, 3]],
               "predict": [["a", "b"], [1.5, 1], [None, 1], [-2, 1], [1]],
               "radius": [["x", "y"], [float("nan"), 0.0], [-0.5, 0.0], [None, 0.1], [0.1]]}
RADII_GOOD = [[0.0, 0.5], [0.25], np.array([0.0, 1.0]), (0.5,), [float("inf")]]
RADII_BAD = [[float("nan")], None, ["a"], 0.5j, [[0.1]], [-1.0]]


@settings(max_examples=fuzz_examples(3.0))
@given(data=st.data())
def test_fuzz_summarize(data):
    """summarize() on label/predict/radius columns and radii, one odd value at a time."""
    from gsmooth.evaluation.analysis import summarize

    fault = data.draw(st.sampled_from([None] * 3 + ["label", "predict", "radius", "radii"]), label="fault")
    rows = {k: data.draw(st.sampled_from(SUMMARY_BAD[k] if k == fault else SUMMARY_GOOD[k]), label=k)
            for k in SUMMARY_GOOD}
    radii = data.draw(st.sampled_from(RADII_BAD if fault == "radii" else RADII_GOOD), label="radii")
    status, out = typed(summarize, rows, radii)
    note(f"status={status} {out!r}")
    if status == "ok":
        assert fault is None, f"an invalid {fault} was accepted"
        assert 0.0 <= out.clean_accuracy <= 1.0 and all(0.0 <= a <= 1.0 for a in out.certified_accuracy)
    else:
        assert fault is not None, f"valid rows refused: {out}"


# ------------------------------------------------------------------------------------------------
# Found by the fuzzers in modules other sessions were editing (interval.py, checkpoint.py,
# analysis.py): first strict xfails with the minimal call (a new one goes here as test_known_*,
# its values left out of the strategy), fixed by their owners since: regression tests.
# ------------------------------------------------------------------------------------------------


# found by the fuzzer: certify_interval(slices="22") was read as 2 x 2 slices, "x" a bare ValueError; fixed since
@pytest.mark.parametrize("slices", ["2", "x", "22", 2.0, [2.5], [True]])
def test_found_interval_slices_text(slices):
    smoother = gsmooth.Smoother(Linear(), noise="gaussian", sigma=0.2, transform="brightness", num_classes=K,
                                input_shape=SHAPE)
    with pytest.raises(GsmoothError):
        smoother.certify_interval(torch.rand(*SHAPE), low=-0.1, high=0.1, slices=slices, n0=1, n=5)


# found by the fuzzer: low=-1e308, high=1e308 was refused as 'center: expected finite numbers' (a centre the
# user never gave) after an overflow warning; fixed since: the range is blamed
def test_found_interval_range_too_wide_blames_the_range():
    smoother = gsmooth.Smoother(Linear(), noise="gaussian", sigma=0.2, transform="brightness", num_classes=K,
                                input_shape=SHAPE)
    with pytest.raises(GsmoothError, match="range"):
        smoother.certify_interval(torch.rand(*SHAPE), low=-1e308, high=1e308, slices=2, n0=1, n=5)



EMBEDDED_MODEL = Path(gsmooth.__file__).resolve().parent / "embedded" / "additive.pt"


@pytest.mark.parametrize("path", [None, 5], ids=["None", "int"])
def test_found_load_checkpoint_path_of_another_type(path):
    from gsmooth.io.checkpoints import load_checkpoint

    with pytest.raises(GsmoothError):
        load_checkpoint(path)
    assert load_checkpoint(os.fsencode(str(EMBEDDED_MODEL))).arch  # a bytes path is a path


def test_found_build_model_on_an_unknown_device():
    from gsmooth.io.checkpoints import load_checkpoint

    with pytest.raises(GsmoothError):
        load_checkpoint(EMBEDDED_MODEL).build_model(device="nonsense")


def test_found_load_checkpoint_on_meta_is_one_line():
    from gsmooth.io.checkpoints import load_checkpoint

    with pytest.raises(GsmoothError) as info:
        load_checkpoint(EMBEDDED_MODEL, map_location="meta").build_model()
    assert len(str(info.value).splitlines()) == 1, str(info.value)


def test_found_summarize_radius_text_is_a_typed_error():
    from gsmooth.evaluation.analysis import summarize

    with pytest.raises(GsmoothError):
        summarize({"label": [1, 2], "predict": [1, -1], "radius": ["x", "y"]}, [0.5])


@pytest.mark.parametrize("rows", [
    {"label": [1], "predict": ["a"], "radius": [0.5]},
    {"label": ["a"], "predict": [1], "radius": [0.5]},
    {"label": [1.5], "predict": [1], "radius": [0.5]},
    {"label": [None], "predict": [1], "radius": [0.5]},
    {"label": [1], "predict": [-2], "radius": [0.5]},
    {"label": [1], "predict": [1], "radius": [-0.5]},
], ids=["predict-text", "label-text", "label-1.5", "label-None", "predict--2", "radius--0.5"])
def test_found_summarize_rows(rows):
    from gsmooth.evaluation.analysis import summarize

    with pytest.raises(GsmoothError):
        summarize(rows, [0.5])


@pytest.mark.parametrize("radii", [[-1.0], [[0.1]]], ids=["negative", "nested"])
def test_found_summarize_radii(radii):
    from gsmooth.evaluation.analysis import summarize

    with pytest.raises(GsmoothError):
        summarize({"label": [1], "predict": [1], "radius": [0.5]}, radii)
