"""The built-in transforms validate their hyper-parameters from one table each.

Every built-in transform declares ``_parameter_constraints`` for every keyword of ``__init__``;
``__init__`` ends with ``self.validate_params()``, which checks the stored attributes against the
table, so a value set after construction is refused too; the pure-function twins
(``motion_blur(x, θ, num_samples=…)`` …) check against the same table.
"""

from __future__ import annotations

import math
import re
from numbers import Integral, Real

import numpy as np
import pytest
import torch

import gsmooth
from gsmooth import InvalidParameterError
from gsmooth.validation import Interval
from gsmooth_plugins.transforms.defocus_blur import defocus_blur, defocus_kink_points, defocus_path_speed_bound
from gsmooth_plugins.transforms.motion_blur import motion_blur
from gsmooth_plugins.transforms.pixelate import pixelate_kink_points
from gsmooth_plugins.transforms.quantized_additive import lattice_sum, quantized_additive
from gsmooth_plugins.transforms.rotation import rotation
from gsmooth_plugins.transforms.rotational_blur import rotational_blur
from gsmooth_plugins.transforms.scaling import scaling
from gsmooth_plugins.transforms.zoom_blur import zoom_blur

#: Every built-in transform class (the plugins shipped in gsmooth_plugins), by registry name.
BUILTINS = {
    name: type(gsmooth.transform(name))
    for name in gsmooth.available_transforms()
    if type(gsmooth.transform(name)).__module__.startswith("gsmooth_plugins.")
}

#: Values each hyper-parameter must refuse; a new hyper-parameter needs an entry here (and in its
#: class's table: test_every_hyper_parameter_has_a_rule).
BAD = {
    "num_samples": [1, 0, -3, 2.0, 16.0, True, "16", None],
    "padding_mode": ["wrap", "Zeros", "", None, 0, np.array(["zeros", "border"]), torch.tensor([1.0, 2.0])],
    "angle": [math.nan, math.inf, -math.inf, "0", None, True, 10**400],
    "alias_sigma": [-0.1, -1, math.nan, math.inf, "0", None, True, 10**400],
    "levels": [0, -1, 2**16 + 1, 2.5, 255.0, True, "255", None],
}
#: Valid non-default values: accepted, stored verbatim.
GOOD = {
    "num_samples": [2, 3, 10**30],
    "padding_mode": ["zeros", "border", "reflection"],
    "angle": [-720.0, 0, 45, 1e300],
    "alias_sigma": [0, 0.0, 0.5, 3],
    "levels": [1, 15, 2**16],
}

CASES = [
    (cls, param, bad)
    for cls in BUILTINS.values()
    for param in cls.param_names()
    for bad in BAD.get(param, ())  # a missing entry fails test_every_hyper_parameter_has_a_rule
]


def _id(value) -> str:
    return value.name if isinstance(value, type) else repr(value)[:24]


def test_the_builtins_are_found_and_some_have_hyper_parameters():
    assert {"rotation", "motion_blur", "defocus_blur", "quantized_additive", "brightness"} <= set(BUILTINS)
    assert sum(len(cls.param_names()) for cls in BUILTINS.values()) >= 9


@pytest.mark.parametrize("cls", BUILTINS.values(), ids=lambda c: c.name)
def test_every_hyper_parameter_has_a_rule(cls):
    assert set(cls._parameter_constraints) == set(cls.param_names())
    for param in cls.param_names():
        assert param in BAD and param in GOOD, f"{cls.__name__}.{param}: add its bad and good values to this test"


@pytest.mark.parametrize("cls, param, bad", CASES, ids=_id)
def test_validate_params_refuses_a_bad_value_set_after_construction(cls, param, bad):
    t = cls()
    t.validate_params()  # the defaults pass
    with pytest.raises(InvalidParameterError, match=rf"^{cls.__name__}\('{cls.name}'\): parameter '{param}' expected .+, got "):
        setattr(t, param, bad)  # DefocusBlur.alias_sigma is checked when set (it keeps identity_at_zero in step)
        t.validate_params()


@pytest.mark.parametrize("cls, param, bad", CASES, ids=_id)
def test_the_constructor_refuses_it_too(cls, param, bad):
    with pytest.raises(InvalidParameterError, match=rf"parameter '{param}' expected .+, got {re_repr(bad)}$"):
        cls(**{param: bad})


def re_repr(value) -> str:
    return re.escape(repr(value))


@pytest.mark.parametrize("cls", [c for c in BUILTINS.values() if c.param_names()], ids=lambda c: c.name)
def test_good_values_pass_and_are_stored_verbatim(cls):
    for param in cls.param_names():
        for good in GOOD[param]:
            t = cls(**{param: good})
            assert getattr(t, param) is good
            t.validate_params()


def test_a_valid_value_set_later_passes_and_a_bad_one_names_itself():
    t = gsmooth.transform("motion_blur")
    t.num_samples, t.angle = 3, 30.0
    t.validate_params()
    t.padding_mode = "wrap"
    with pytest.raises(InvalidParameterError, match=r"'padding_mode' expected one of 'zeros', 'border', 'reflection', got 'wrap'"):
        t.validate_params()


# -- the pure functions check against the class's table ----------------------------------------------------
_X = torch.zeros(1, 1, 4, 4)
FUNCTIONS = {
    "rotation": lambda **kw: rotation(_X, torch.zeros(1, 1), **kw),
    "scaling": lambda **kw: scaling(_X, torch.zeros(1, 1), **kw),
    "rotational_blur": lambda **kw: rotational_blur(_X, torch.zeros(1, 1), **kw),
    "zoom_blur": lambda **kw: zoom_blur(_X, torch.zeros(1, 1), **kw),
    "motion_blur": lambda **kw: motion_blur(_X, torch.zeros(1, 1), **kw),
    "defocus_blur": lambda **kw: defocus_blur(_X, torch.zeros(1, 1), **kw),
    "defocus_path_speed_bound": lambda **kw: defocus_path_speed_bound(_X[0], 0.0, 1.0, **kw),
    "quantized_additive": lambda **kw: quantized_additive(_X, torch.zeros_like(_X), **kw),
    "lattice_sum": lambda **kw: lattice_sum(_X, torch.zeros_like(_X), **kw),
}
_TWIN = {"defocus_path_speed_bound": "defocus_blur", "lattice_sum": "quantized_additive"}
FUNCTION_CASES = [
    (fn, param, bad)
    for fn in FUNCTIONS
    for param in BUILTINS[_TWIN.get(fn, fn)].param_names()
    for bad in BAD.get(param, ())  # a missing entry fails test_every_hyper_parameter_has_a_rule
]


@pytest.mark.parametrize("fn, param, bad", FUNCTION_CASES, ids=_id)
def test_pure_functions_refuse_what_the_table_refuses(fn, param, bad):
    owner = _TWIN.get(fn, fn)  # the owner in the message: the function's transform name
    with pytest.raises(InvalidParameterError, match=rf"^{owner}: parameter '{param}' expected .+, got "):
        FUNCTIONS[fn](**{param: bad})


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_pure_functions_accept_the_good_values(fn):
    for param in BUILTINS[_TWIN.get(fn, fn)].param_names():
        for good in GOOD[param]:
            if param == "num_samples" and good > 100:
                continue  # valid, but K = 10**30 rotations would never finish
            FUNCTIONS[fn](**{param: good})


# -- the validation table's number rules --------------------------------------------------------------------
def test_interval_sizes_of_integers():
    """An integer of any size is an integer (float() of it would overflow); a number beyond float
    range is not a finite number."""
    assert Interval(Integral, 2, None).contains(10**400)
    assert not Interval(Integral, 2, 2**16).contains(10**400)
    assert not Interval(Real, None, None).contains(10**400)
    assert not Interval(Real, 0, None).contains(-(10**400))
    assert Interval(Real, None, None).contains(10**300) and Interval(Real, None, None).contains(-5)
    assert str(Interval(Real, None, None)) == "a finite number" and str(Interval(Integral, None, None)) == "an integer"


@pytest.mark.parametrize(
    "call",
    [
        lambda: gsmooth.transform("defocus_blur").path_speed_bound(torch.rand(1, 4, 4), 0.0, 10**400),
        lambda: defocus_kink_points(-(10**400), 1.0),
        lambda: pixelate_kink_points(0.0, 10**400, (4, 4)),
        lambda: gsmooth.noise("gaussian", sigma=10**400),
        lambda: gsmooth.transform("defocus_blur", alias_sigma=10**400),
    ],
)
def test_numbers_beyond_float_range_are_a_typed_error(call):
    with pytest.raises(InvalidParameterError, match="expected .*finite number"):
        call()
