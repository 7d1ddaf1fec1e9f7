"""The per-slice path bounds of the GSmooth surrogate route on a real surrogate (the embedded
rotational-blur one): the bound used by a certificate is never below the path shift found by brute
force on a dense grid, and says honestly whether it is a proof (``sound``) or a grid maximum."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from gsmooth.data.datasets import load_dataset
from gsmooth.embedded import SAMPLE_DATASET, embedded_default
from gsmooth.surrogate.transform import SurrogateTransform

RATIO = 0.1  # sigma_xi / sigma_theta of the embedded default (0.25 / 2.5)


@pytest.fixture(scope="module")
def st():
    path = embedded_default("rotational_blur").model_path.parent / "rotational_blur_surrogate.pt"
    return SurrogateTransform.from_checkpoint(path, sigma_ratio=RATIO)


def brute_sup(st, x, lo, hi, c, points=801):
    enc = copy.deepcopy(st.surrogate.f2).double()
    true = st.true_transform_module()
    a = torch.linspace(lo, hi, points, dtype=torch.float64)
    x64 = x.double().unsqueeze(0)
    with torch.no_grad():
        e = enc(true(x64.expand(points, *x.shape), a[:, None])).reshape(points, -1)
        e0 = enc(true(x64, torch.tensor([[c]], dtype=torch.float64))).reshape(-1)
    w = st.surrogate.W.detach().double().reshape(-1)
    d = (e - e0 - (a - c)[:, None] * w).norm(dim=1)
    return float(torch.sqrt((a - c) ** 2 + (d / RATIO) ** 2).max())


@pytest.mark.parametrize("index", [0, 3])
def test_slice_bounds_are_never_below_the_brute_force_supremum(st, index):
    x, _ = load_dataset(SAMPLE_DATASET)[index]
    lows, highs = np.array([0.0, 4.0]), np.array([1.0, 5.0])
    centers = (lows + highs) / 2
    b = st.path_shift_bounds(x, lows, highs, centers)
    for k in range(2):
        sup = brute_sup(st, x, lows[k], highs[k], centers[k])
        assert b.lower[k] <= sup * (1 + 1e-9)  # evaluated values are values of the path
        if b.guarantee == "sound":
            assert b.upper[k] >= sup, (k, b.upper[k], sup)
        else:  # an estimate: a grid maximum, which the dense grid may exceed slightly
            assert b.upper[k] >= 0.9 * sup
    assert b.guarantee == st.guarantee


def test_progress_bars_over_slices_and_path_points_change_nothing(st, capsys):
    """With many slices the bounds take long before any sample is drawn: ``progress=True`` shows a
    bar over the slices' speed bounds (sound mode) and a counter of the path points evaluated, on
    stderr, and the bounds are the same."""
    x, _ = load_dataset(SAMPLE_DATASET)[0]
    lows = np.linspace(0.0, 4.0, 9)[:-1]
    highs, centers = lows + 0.5, lows + 0.25
    quiet = st.path_shift_bounds(x, lows, highs, centers)
    assert capsys.readouterr().err == ""
    loud = st.path_shift_bounds(x, lows, highs, centers, progress=True)
    err = capsys.readouterr().err
    assert "path bounds:" in err and "point" in err, err
    if quiet.guarantee == "sound":
        assert "path speed bounds:" in err and "0/8 " in err, err
    np.testing.assert_array_equal(loud.upper, quiet.upper)
    np.testing.assert_array_equal(loud.lower, quiet.lower)
    assert loud.guarantee == quiet.guarantee
