"""Tests of gsmooth.data.corruptions: the 19 CIFAR-10-C corruptions as batched pure functions.

Independent references where they are cheap: the formulas of Hendrycks' make_cifar_c.py on simple
images, scipy.ndimage (gaussian_filter, zoom, distance_transform_edt), Pillow (BOX resize, JPEG)
and kornia's HSV conversion.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from gsmooth.data import corruptions as C
from gsmooth.data.corruptions import CORRUPTIONS, EXTRA, STANDARD, corrupt
from gsmooth.errors import GsmoothError, InputError, InvalidParameterError, UnknownComponentError

DETERMINISTIC = {
    "defocus_blur", "zoom_blur", "gaussian_blur", "brightness", "contrast", "saturate", "pixelate", "jpeg_compression",
}  # fmt: skip
RANDOM = [n for n in CORRUPTIONS if n not in DETERMINISTIC]


def structured(c: int, h: int = 16, w: int = 16, b: int = 2, dtype=torch.float32) -> torch.Tensor:
    """Smooth waves plus a bright block, values in about [0.2, 0.9], channels differing."""
    yy, xx = torch.meshgrid(torch.arange(h, dtype=dtype), torch.arange(w, dtype=dtype), indexing="ij")
    base = 0.45 + 0.25 * torch.sin(xx * 1.3) * torch.cos(yy * 0.9)
    base = base + 0.2 * ((xx > w / 3) & (xx < 2 * w / 3) & (yy > h / 4)).to(dtype)
    chans = [base, base.flip(0) * 0.9 + 0.05, base.flip(1) * 0.8 + 0.1][:c]
    return torch.stack(chans)[None].repeat(b, 1, 1, 1).clamp(0, 1)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------- table and contract


def test_names_and_table():
    assert len(STANDARD) == 15 and len(EXTRA) == 4
    assert tuple(CORRUPTIONS) == STANDARD + EXTRA
    assert set(DETERMINISTIC) <= set(CORRUPTIONS)
    for name, fn in CORRUPTIONS.items():
        assert fn.__name__ == name and fn.__doc__


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_shape_dtype_range_every_severity(name, c):
    x = structured(c, 12, 12)
    x[0, :, 0, 0] = 0.0  # a black and a white pixel
    x[0, :, 1, 1] = 1.0
    for s in range(1, 6):
        y = corrupt(x, name, s, generator=gen(s))
        assert y.shape == x.shape and y.dtype == x.dtype
        assert torch.isfinite(y).all()
        assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_non_square_float64_and_input_untouched(name):
    x = structured(3, 10, 13, dtype=torch.float64)
    before = x.clone()
    y = corrupt(x, name, 3, generator=gen(0))
    assert y.shape == (2, 3, 10, 13) and y.dtype == torch.float64
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert torch.equal(x, before)
    # float32 and float64 agree (same random draws), except where uint8 rounding steps can flip
    y32 = corrupt(x.float(), name, 3, generator=gen(0))
    if name not in ("glass_blur", "spatter", "jpeg_compression"):
        torch.testing.assert_close(y32.double(), y, atol=1e-4, rtol=0)


def test_half_precision_input_keeps_dtype():
    x = structured(1, 12, 12).half()
    y = corrupt(x, "gaussian_blur", 2)
    assert y.dtype == torch.float16 and y.shape == x.shape


# ---------------------------------------------------------------------------- randomness


@pytest.mark.parametrize("name", RANDOM)
def test_seeded_generator_is_deterministic_and_seeds_differ(name):
    x = structured(3, 16, 16)
    a = corrupt(x, name, 4, generator=gen(1))
    b = corrupt(x, name, 4, generator=gen(1))
    c = corrupt(x, name, 4, generator=gen(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # the two images of the batch get different draws
    assert not torch.equal(a[0], a[1])


@pytest.mark.parametrize("name", sorted(DETERMINISTIC))
def test_deterministic_ones_ignore_the_generator(name):
    x = structured(3, 16, 16)
    g = gen(5)
    state = g.get_state()
    a = corrupt(x, name, 3, generator=g)
    assert torch.equal(a, corrupt(x, name, 3, generator=gen(6)))
    assert torch.equal(a, corrupt(x, name, 3))
    assert torch.equal(g.get_state(), state)


def test_global_generator_when_none():
    x = structured(1, 12, 12)
    torch.manual_seed(3)
    a = corrupt(x, "gaussian_noise", 2)
    torch.manual_seed(3)
    assert torch.equal(a, corrupt(x, "gaussian_noise", 2))


# ---------------------------------------------------------------------------- severity


STRICTLY_MONOTONE = [
    "gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise",
    "gaussian_blur", "defocus_blur", "zoom_blur", "contrast", "pixelate", "brightness", "fog",
]  # fmt: skip


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("name", STRICTLY_MONOTONE + ["motion_blur"])
def test_severity_increases_the_change(name, c):
    x = structured(c, 16, 16, b=4)
    d = [float((corrupt(x, name, s, generator=gen(0)) - x).abs().mean()) for s in range(1, 6)]
    if name == "motion_blur":  # (6, σ=2) and (8, σ=2) differ only in negligible tail taps
        assert all(a <= b + 1e-4 for a, b in zip(d, d[1:])) and d[0] < d[-1], d
    else:
        assert all(a < b for a, b in zip(d, d[1:])), d
    assert d[0] > 0


# ---------------------------------------------------------------------------- references


@pytest.mark.parametrize("v", [0.0, 0.3, 0.8])
def test_brightness_and_contrast_on_a_constant_image(v):
    for c_ in (1, 3):
        x = torch.full((2, c_, 9, 9), v, dtype=torch.float64)
        for s, add in enumerate((0.05, 0.1, 0.15, 0.2, 0.3), start=1):
            torch.testing.assert_close(C.brightness(x, s), torch.full_like(x, min(v + add, 1.0)))
            torch.testing.assert_close(C.contrast(x, s), x)


def test_contrast_formula():
    x = structured(3, 12, 12, dtype=torch.float64)
    arr = x.numpy()
    for s, c_ in enumerate((0.75, 0.5, 0.4, 0.3, 0.15), start=1):
        means = arr.mean(axis=(2, 3), keepdims=True)  # make_cifar_c: mean over H, W per channel
        ref = np.clip((arr - means) * c_ + means, 0, 1)
        np.testing.assert_allclose(C.contrast(x, s).numpy(), ref, atol=1e-12)


def test_brightness_and_saturate_match_an_hsv_round_trip():
    import kornia

    x = torch.rand(3, 3, 10, 10, generator=gen(0), dtype=torch.float64) * 0.98 + 0.01  # colourful pixels
    hsv = kornia.color.rgb_to_hsv(x)
    for s in range(1, 6):
        h2 = hsv.clone()
        h2[:, 2] = (hsv[:, 2] + C._BRIGHTNESS[s - 1]).clamp(0, 1)
        torch.testing.assert_close(C.brightness(x, s), kornia.color.hsv_to_rgb(h2).clamp(0, 1), atol=1e-6, rtol=0)
        a, b = C._SATURATE[s - 1]
        h2 = hsv.clone()
        h2[:, 1] = (hsv[:, 1] * a + b).clamp(0, 1)
        torch.testing.assert_close(C.saturate(x, s), kornia.color.hsv_to_rgb(h2).clamp(0, 1), atol=1e-6, rtol=0)


def test_saturate_gray_pixels_and_one_channel():
    gray = torch.full((1, 3, 8, 8), 0.6)
    # S 0 -> 0.1 with hue 0 (scikit-image): (v, v(1-s'), v(1-s'))
    torch.testing.assert_close(C.saturate(gray, 4)[0, :, 0, 0], torch.tensor([0.6, 0.54, 0.54]))
    torch.testing.assert_close(C.saturate(gray, 1), gray)
    one = structured(1, 12, 12)
    for s in range(1, 6):
        assert torch.equal(C.saturate(one, s), one)


def test_gaussian_blur_matches_scipy():
    x = structured(3, 12, 15, dtype=torch.float64)
    for s, sigma in enumerate((0.4, 0.6, 0.7, 0.8, 1.0), start=1):
        ref = np.stack([[ndi.gaussian_filter(ch, sigma, mode="nearest", truncate=4.0) for ch in img] for img in x.numpy()])
        np.testing.assert_allclose(C.gaussian_blur(x, s).numpy(), np.clip(ref, 0, 1), atol=1e-12)


@pytest.mark.parametrize("mode", ["nearest", "reflect", "mirror"])
def test_gaussian_filter_border_modes_match_scipy_even_beyond_the_image(mode):
    a = np.random.default_rng(0).random((9, 8))
    for sigma, truncate in ((0.7, 4.0), (3.0, 3.0)):  # the second kernel is wider than the image
        got = C._gaussian_filter(torch.from_numpy(a)[None, None], sigma, truncate=truncate, mode=mode)[0, 0].numpy()
        np.testing.assert_allclose(got, ndi.gaussian_filter(a, sigma, mode=mode, truncate=truncate), atol=1e-12)


def test_zoom_blur_matches_hendrycks_recipe_with_scipy_zoom():
    x = structured(1, 14, 14, b=1, dtype=torch.float64)
    img = x[0].numpy().transpose(1, 2, 0)

    def clipped_zoom(im, z):  # make_cifar_c.py's helper
        h = im.shape[0]
        ch = int(np.ceil(h / z))
        top = (h - ch) // 2
        im = ndi.zoom(im[top : top + ch, top : top + ch], (z, z, 1), order=1)
        t = (im.shape[0] - h) // 2
        return im[t : t + h, t : t + h]

    for s, end in enumerate((1.06, 1.11, 1.16, 1.21, 1.26), start=1):
        factors = np.arange(1, end, 0.01)
        ref = (img + sum(clipped_zoom(img, z) for z in factors)) / (len(factors) + 1)
        np.testing.assert_allclose(C.zoom_blur(x, s)[0].numpy().transpose(1, 2, 0), np.clip(ref, 0, 1), atol=1e-12)


def test_defocus_kernel_severity_1_and_normalisation():
    # radius 0.3: the disk is the centre pixel; a 3x3 Gaussian (σ = 0.4) of it is the outer product
    g = np.exp(-np.array([1.0, 0.0, 1.0]) / (2 * 0.4**2))
    g /= g.sum()
    np.testing.assert_allclose(C._disk_kernel(0.3, 0.4).numpy(), np.outer(g, g), atol=1e-12)
    for radius, alias in C._DEFOCUS_BLUR:
        k = C._disk_kernel(radius, alias)
        assert abs(float(k.sum()) - 1.0) < 1e-12 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    const = torch.full((1, 3, 8, 8), 0.4)
    torch.testing.assert_close(C.defocus_blur(const, 5), const)


def test_pixelate_matches_pillow_box_resize():
    from PIL import Image

    rng = np.random.default_rng(1)
    for n in (32, 28):
        img = rng.random((n, n)).astype(np.float32)
        for s, c_ in enumerate((0.95, 0.9, 0.85, 0.75, 0.65), start=1):
            m = int(n * c_)
            ref = np.asarray(Image.fromarray(img, "F").resize((m, m), Image.BOX).resize((n, n), Image.BOX))
            got = C.pixelate(torch.from_numpy(img)[None, None], s)[0, 0].numpy()
            np.testing.assert_allclose(got, ref, atol=1e-6)


def test_jpeg_matches_pillow():
    from PIL import Image

    x = structured(3, 16, 16, b=1)
    arr = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="JPEG", quality=50)
    ref = np.asarray(Image.open(io.BytesIO(buf.getvalue()))).astype(np.float32) / 255
    np.testing.assert_allclose(C.jpeg_compression(x, 4)[0].permute(1, 2, 0).numpy(), ref, atol=1e-6)
    assert C.jpeg_compression(structured(1, 16, 16), 5).shape == (2, 1, 16, 16)


def test_noise_statistics():
    x = torch.full((4, 3, 64, 64), 0.5)
    for s, c_ in enumerate((0.04, 0.06, 0.08, 0.09, 0.10), start=1):
        d = C.gaussian_noise(x, s, generator=gen(s)) - x
        assert abs(float(d.std()) - c_) < 0.05 * c_ and abs(float(d.mean())) < 0.01
    for s, c_ in enumerate((0.06, 0.1, 0.12, 0.16, 0.2), start=1):
        d = C.speckle_noise(x, s, generator=gen(s)) - x
        assert abs(float(d.std()) - 0.5 * c_) < 0.05 * 0.5 * c_
    for s, lam in enumerate((500, 250, 100, 75, 50), start=1):
        y = C.shot_noise(x, s, generator=gen(s))
        assert abs(float(y.var()) - 0.5 / lam) < 0.1 * 0.5 / lam  # Poisson: Var = x / c
        assert torch.allclose(y * lam, (y * lam).round(), atol=1e-3)
    for s, amount in enumerate((0.01, 0.02, 0.03, 0.05, 0.07), start=1):
        y = C.impulse_noise(x, s, generator=gen(s))
        flipped = y != 0.5
        assert abs(float(flipped.float().mean()) - amount) < 0.15 * amount
        assert abs(float((y[flipped] == 1).float().mean()) - 0.5) < 0.1
        assert set(y.unique().tolist()) <= {0.0, 0.5, 1.0}


def test_motion_blur_kernel_is_imagemagicks_one_sided_line():
    x = torch.zeros(2, 1, 25, 25, dtype=torch.float64)
    x[:, :, 20, 20] = 1.0
    y = C._motion_blur_core(x, 6, 2.0, torch.tensor([0.0, 90.0]))
    i = np.arange(13)  # 2·ceil(6) + 1 taps, weights exp(-i²/2σ²)
    w = np.exp(-(i**2) / 8.0)
    w /= w.sum()
    # output (row, col) reads input (row + round(i sin a), col + round(i cos a)): the streak trails left / up
    np.testing.assert_allclose(y[0, 0, 20, 8:21].numpy(), w[::-1], atol=1e-12)
    np.testing.assert_allclose(y[1, 0, 8:21, 20].numpy(), w[::-1], atol=1e-12)
    assert abs(float(y.sum()) - 2.0) < 1e-9


def test_distance_transform_and_equalize_helpers():
    rng = np.random.default_rng(2)
    mask = rng.random((3, 11, 9)) < 0.05
    mask[2] = False  # no edge: the cap
    ref = np.stack([np.minimum(ndi.distance_transform_edt(~m), 20) if m.any() else np.full(m.shape, 20.0) for m in mask])
    np.testing.assert_allclose(C._distance_to_mask(torch.from_numpy(mask), 20.0).numpy(), ref, atol=1e-5)
    v = torch.tensor([[[0.0, 0.0, 5.0, 5.0, 5.0, 20.0]]])
    # cv2.equalizeHist: lut[k] = round((cdf[k] - cdf_min) * 255 / (total - cdf_min))
    assert C._equalize_hist_u8(v).tolist() == [[[0.0, 0.0, 191.0, 191.0, 191.0, 255.0]]]
    assert C._equalize_hist_u8(torch.full((1, 2, 2), 7.0)).unique().tolist() == [7.0]


def test_fog_and_frost_keep_a_constant_black_image_dark_and_add_structure():
    x = torch.zeros(2, 3, 16, 16)
    y = C.fog(x, 5, generator=gen(0))
    assert float(y.max()) == 0.0  # x · max/(max + c) with max = 0, as theirs
    f = C.frost(x, 5, generator=gen(0))
    assert 0.1 < float(f.mean()) < 0.4 and float(f.std()) > 0.02
    assert (f[:, 2] >= f[:, 0]).all()  # icy blue tint


# ---------------------------------------------------------------------------- errors


def test_unknown_name_is_a_keyerror_listing_names_with_suggestion():
    x = structured(1, 8, 8)
    with pytest.raises(UnknownComponentError) as exc:
        corrupt(x, "gausian_noise", 1)
    assert isinstance(exc.value, KeyError) and isinstance(exc.value, GsmoothError)
    msg = str(exc.value)
    assert "Did you mean 'gaussian_noise'?" in msg and "saturate" in msg and "expected one of" in msg
    with pytest.raises(KeyError):
        corrupt(x, 3, 1)


@pytest.mark.parametrize("severity", [0, 6, -1, 2.0, True, "3", None])
def test_bad_severity(severity):
    with pytest.raises(InvalidParameterError, match=r"expected severity 1\.\.5, got") as exc:
        corrupt(structured(1, 8, 8), "fog", severity)
    assert isinstance(exc.value, ValueError)
    with pytest.raises(ValueError, match="expected severity 1..5"):
        C.gaussian_noise(structured(1, 8, 8), severity)


def test_numpy_integer_severity_is_accepted():
    assert corrupt(structured(1, 8, 8), "contrast", np.int64(2)).shape == (2, 1, 8, 8)


@pytest.mark.parametrize(
    "x",
    [
        torch.rand(1, 8, 8),  # 3-D
        torch.rand(1, 2, 8, 8),  # 2 channels
        torch.rand(1, 3, 7, 8),  # too small
        torch.randint(0, 255, (1, 3, 8, 8), dtype=torch.uint8),  # not floating
        torch.full((1, 3, 8, 8), 1.5),  # out of range
        torch.full((1, 1, 8, 8), float("nan")),
    ],
)
def test_bad_images_raise_input_error(x):
    with pytest.raises(InputError, match="expected"):
        corrupt(x, "gaussian_blur", 1)
