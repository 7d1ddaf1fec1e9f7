"""Common corruptions with CIFAR-10-C's names and severities (Hendrycks & Dietterich, ICLR 2019).

Our own batched torch re-implementation of the 19 corruptions of CIFAR-10-C, for the "empirical
accuracy per corruption" tables: one pure function per corruption,
``name(x, severity, *, generator=None)``, with ``x`` of shape ``(B, C, H, W)``, floating point, in
``[0, 1]``, ``C`` = 1 or 3 and ``H, W ≥ 8``; the result has the same shape and dtype and lies in
``[0, 1]``. :func:`corrupt` dispatches by name and validates; :data:`CORRUPTIONS` maps every name to
its function; :data:`STANDARD` (the 15 of the benchmark) and :data:`EXTRA` (the 4 held-out ones) are
the name tuples. :mod:`gsmooth.data.cifar_c` writes and reads whole datasets in the CIFAR-10-C layout.

Randomness comes only from the ``generator`` argument (a :class:`torch.Generator`; ``None`` uses
torch's global generator). Random numbers are drawn on the generator's device (CPU for ``None``) and
then moved to ``x``'s device, so a seed gives the same corruption on CPU and GPU; the same generator
state gives the same output. Deterministic corruptions (defocus_blur, zoom_blur, gaussian_blur,
brightness, contrast, saturate, pixelate, jpeg_compression) ignore it.

Where the parameters come from: every severity table below is copied from Hendrycks' CIFAR
generation script ``ImageNet-C/create_c/make_cifar_c.py`` (github.com/hendrycks/robustness), the one
that produced CIFAR-10-C (Zenodo record 2535967). Their numbers are in pixels of a 32×32 image and
are used as such on other sizes (Fashion-MNIST is 28×28), except elastic_transform, whose table is
written as fractions of the image size (``IMSIZE * 0.08`` …) and is scaled with ``min(H, W)``.

How each one is computed, and where we deviate from their code (numpy/scikit-image/OpenCV/Wand on
one uint8 PIL image at a time):

- gaussian_noise ``x + N(0, c²)``; shot_noise ``Poisson(c·x)/c``; impulse_noise salt-and-pepper on
  a fraction c of the values (per channel, as ``skimage.util.random_noise(mode="s&p")``);
  speckle_noise ``x + x·N(0, c²)``. Same formulas and tables.
- gaussian_blur, glass_blur, and the Gaussian steps of spatter and elastic_transform: scipy's
  ``gaussian_filter`` semantics (kernel radius ``int(truncate·σ + 0.5)``, truncate 4, or 3 where
  they pass it; edge mode "nearest", "reflect" for the elastic field), re-implemented in torch.
- glass_blur: blur, quantise to uint8 (as they do), then their sequential local pixel swaps (offsets
  in ``[-d, d)``, scanning rows and columns from the bottom-right), batched over images, then blur.
- defocus_blur: their anti-aliased disk kernel (17×17 disk, 3×3 Gaussian with σ = alias_blur),
  cropped to its non-zero support (exact), correlated with reflect-101 borders as ``cv2.filter2D``.
- motion_blur (and the motion-blur step of snow): ImageMagick's ``MotionBlurImage`` (Wand) is
  re-implemented: a one-sided line of ``2·ceil(radius)+1`` taps with half-Gaussian weights
  ``exp(-i²/2σ²)`` at offsets ``round(i·(cos a, sin a))``, edge pixels replicated; the angle is
  drawn per image, uniform in ±45° (snow: in [-135°, -45°]). We skip their PNG round trips, and a
  grayscale image stays one channel (theirs became RGB).
- zoom_blur and the zoom of snow: ``scipy.ndimage.zoom(order=1)`` is bilinear interpolation with
  ``align_corners=True``; same crop-and-trim (``clipped_zoom``) per axis, same zoom factors
  (``np.arange(1, 1.06, 0.01)`` … including the factor 1).
- snow: their recipe (Gaussian snow layer, zoom, threshold, motion blur, ``x + layer + rot180(layer)``
  on a brightened image), with the Wand motion blur replaced as above.
- frost: **deviation.** They blend a random crop of one of six frost photographs
  (``c0·x + c1·frost``); we cannot ship those photographs, so the texture is procedural and seeded:
  ridged multi-octave value noise (thin bright "ice veins" on a hazy base, mean ≈ 0.5), tinted
  icy blue (RGB weights 0.82/0.91/1.0; its luminance on one channel). Same blend weights.
- fog: their diamond-square plasma fractal (batched torch port; map size the smallest power of two
  ≥ max(H, W), cropped), same ``(x + c0·plasma)·max/(max + c0)``.
- brightness and saturate act in HSV like their ``skimage.color.rgb2hsv``/``hsv2rgb`` round trip, in
  closed form: raising V to ``v' = min(v + c, 1)`` scales a pixel by ``v'/v``; changing S to ``s'``
  maps each channel to ``v − (s'/s)(v − x)`` (a gray pixel takes skimage's hue 0, red). On a
  grayscale image V is the intensity, so brightness is ``min(x + c, 1)``; S is 0 and has no hue, so
  **saturate is the identity on one channel**.
- contrast: ``(x − mean)·c + mean`` with the mean per image and channel, as theirs.
- elastic_transform: their random affine (3 points jittered by ±c2, reflect-101 borders) then the
  Gaussian-smoothed random displacement field (σ = c1, amplitude c0, half-sample "reflect" borders),
  each a bilinear ``grid_sample`` like ``cv2.warpAffine``/``map_coordinates(order=1)``.
- pixelate: PIL's BOX resize down to ``int(c·W) × int(c·H)`` and back, as exact resampling
  matrices computed from Pillow's ``precompute_coeffs`` (float coefficients; Pillow's uint8 path
  rounds its coefficients to fixed point, a difference below one grey level).
- jpeg_compression: Pillow JPEG at their qualities (80/65/58/50/40, default 4:2:0 subsampling for
  RGB; mode "L" for grayscale), on the image rounded to uint8.
- spatter: their liquid layer (Gaussian noise, blur, threshold). Water (severities 1–3): OpenCV's
  ``Canny(50, 150)`` → :func:`kornia.filters.canny` without pre-blur at thresholds 50/255 and 150/255
  (L2 instead of OpenCV's L1 gradient norm); ``distanceTransform`` → an exact Euclidean distance to the
  nearest edge (a missing edge gives the truncation value 20); ``equalizeHist`` (OpenCV's formula),
  the 3×3 emboss kernel (saturated to uint8) and 3×3 box blurs as theirs. Mud (4–5): as theirs.
  Colours (pale turquoise 175/238/238, mud 63/42/20) become their luminance on one channel.

Example:
    >>> import torch
    >>> from gsmooth.data.corruptions import corrupt, CORRUPTIONS, STANDARD
    >>> x = torch.rand(4, 3, 32, 32)
    >>> y = corrupt(x, "gaussian_noise", 3, generator=torch.Generator().manual_seed(0))
    >>> y.shape, bool(y.min() >= 0) and bool(y.max() <= 1)
    (torch.Size([4, 3, 32, 32]), True)
    >>> len(CORRUPTIONS), len(STANDARD)
    (19, 15)
"""

from __future__ import annotations

import io
import math
from numbers import Integral
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError, InvalidParameterError, UnknownComponentError, suggest

__all__ = [
    "CORRUPTIONS",
    "STANDARD",
    "EXTRA",
    "SEVERITIES",
    "corrupt",
    "check_corruption_name",
    "check_severity",
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
    "speckle_noise",
    "gaussian_blur",
    "spatter",
    "saturate",
]

#: The 15 corruptions of the CIFAR-10-C / ImageNet-C benchmark, in the paper's order.
STANDARD: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)  # fmt: skip
#: The 4 extra (held-out) corruptions shipped with CIFAR-10-C.
EXTRA: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
#: Valid severities.
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)

# --------------------------------------------------------------------------------------------
# Severity tables (make_cifar_c.py, hendrycks/robustness)
# --------------------------------------------------------------------------------------------

_GAUSSIAN_NOISE = (0.04, 0.06, 0.08, 0.09, 0.10)
_SHOT_NOISE = (500, 250, 100, 75, 50)
_IMPULSE_NOISE = (0.01, 0.02, 0.03, 0.05, 0.07)
_SPECKLE_NOISE = (0.06, 0.1, 0.12, 0.16, 0.2)
_GAUSSIAN_BLUR = (0.4, 0.6, 0.7, 0.8, 1.0)
_GLASS_BLUR = ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))  # sigma, max_delta, iterations
_DEFOCUS_BLUR = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1))  # radius, alias_blur
_MOTION_BLUR = ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5))  # radius, sigma
_ZOOM_BLUR_END = (1.06, 1.11, 1.16, 1.21, 1.26)  # np.arange(1, end, 0.01)
_FOG = ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75))  # amount, wibbledecay
_FROST = ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45))  # image weight, frost weight
_SNOW = (
    (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
    (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
    (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
    (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
    (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
)  # loc, scale, zoom, threshold, blur radius, blur sigma, image weight
_SPATTER = (
    (0.62, 0.1, 0.7, 0.7, 0.5, 0),
    (0.65, 0.1, 0.8, 0.7, 0.5, 0),
    (0.65, 0.3, 1, 0.69, 0.5, 0),
    (0.65, 0.1, 0.7, 0.69, 0.6, 1),
    (0.65, 0.1, 0.5, 0.68, 0.6, 1),
)  # loc, scale, sigma, threshold, intensity (water) / mud sigma, mud?
_CONTRAST = (0.75, 0.5, 0.4, 0.3, 0.15)
_BRIGHTNESS = (0.05, 0.1, 0.15, 0.2, 0.3)
_SATURATE = ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2))  # S ↦ S·a + b
_JPEG_QUALITY = (80, 65, 58, 50, 40)
_PIXELATE = (0.95, 0.9, 0.85, 0.75, 0.65)
_ELASTIC = ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03))  # × IMSIZE

_RGB_TO_GRAY = (0.299, 0.587, 0.114)  # cv2.COLOR_RGB2GRAY


# --------------------------------------------------------------------------------------------
# Validation and random numbers
# --------------------------------------------------------------------------------------------


def check_corruption_name(name: str) -> str:
    """Return ``name`` if it is one of the 19 corruptions, else raise a ``KeyError`` subclass.

    Raises:
        UnknownComponentError: unknown name; the message lists the valid names and suggests the
            closest one.

    Example:
        >>> check_corruption_name("fog")
        'fog'
    """
    if isinstance(name, str) and name in CORRUPTIONS:
        return name
    hint = suggest(str(name).strip().lower(), CORRUPTIONS, cutoff=0.5)
    raise UnknownComponentError(
        f"unknown corruption: expected one of {', '.join(CORRUPTIONS)}, got {name!r}.{hint}"
    )


def check_severity(severity) -> int:
    """Return ``severity`` as an ``int`` if it is an integer in 1..5, else raise.

    Raises:
        InvalidParameterError: (a ``ValueError``) "expected severity 1..5, got …".
    """
    if isinstance(severity, bool) or not isinstance(severity, Integral) or not 1 <= int(severity) <= 5:
        raise InvalidParameterError(f"expected severity 1..5, got {severity!r}")
    return int(severity)


def _prepare(x, severity, name: str):
    """Validate ``(x, severity)``; return ``(x in the working dtype, original dtype, severity)``."""
    s = check_severity(severity)
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name}: expected a torch.Tensor of shape (B, C, H, W), got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] not in (1, 3) or x.shape[2] < 8 or x.shape[3] < 8:
        raise InputError(
            f"{name}: expected images of shape (B, C, H, W) with C = 1 or 3 and H, W ≥ 8, got {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise InputError(f"{name}: expected a floating-point tensor in [0, 1], got dtype {x.dtype}")
    if x.numel():
        lo, hi = float(x.min()), float(x.max())
        if not (lo >= 0.0 and hi <= 1.0):  # also rejects NaN
            raise InputError(f"{name}: expected values in [0, 1], got min {lo:g} and max {hi:g}")
    dtype = x.dtype
    work = x if dtype in (torch.float32, torch.float64) else x.float()
    return work, dtype, s


def _finish(y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return y.clamp(0.0, 1.0).to(dtype)


def _gen_device(generator: Optional[torch.Generator]) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def _rand(shape, generator, like: torch.Tensor) -> torch.Tensor:
    """Uniform [0, 1) drawn on the generator's device, returned on ``like``'s device and dtype."""
    r = torch.rand(shape, generator=generator, device=_gen_device(generator))
    return r.to(device=like.device, dtype=like.dtype)


def _randn(shape, generator, like: torch.Tensor) -> torch.Tensor:
    r = torch.randn(shape, generator=generator, device=_gen_device(generator))
    return r.to(device=like.device, dtype=like.dtype)


def _uniform(shape, low: float, high: float, generator, like: torch.Tensor) -> torch.Tensor:
    return _rand(shape, generator, like) * (high - low) + low


# --------------------------------------------------------------------------------------------
# Filtering helpers (any image size ≥ 1, any padding width)
# --------------------------------------------------------------------------------------------


def _border_index(n: int, pad: int, mode: str, device) -> torch.Tensor:
    """Source indices of a padded axis of length n + 2·pad, for scipy/OpenCV border modes.

    ``nearest`` (aaa|abcd|ddd, torch "replicate"), ``mirror`` (cb|abcd|cb, OpenCV reflect-101, torch
    "reflect"), ``reflect`` (ba|abcd|dc, scipy "reflect", half-sample symmetric).
    """
    idx = torch.arange(-pad, n + pad, device=device)
    if mode == "nearest" or n == 1:
        return idx.clamp(0, n - 1)
    if mode == "mirror":
        period = 2 * n - 2
        m = idx.remainder(period)
        return torch.where(m >= n, period - m, m)
    if mode == "reflect":
        period = 2 * n
        m = idx.remainder(period)
        return torch.where(m >= n, period - 1 - m, m)
    raise ValueError(mode)  # pragma: no cover - internal


def _pad(x: torch.Tensor, ph: int, pw: int, mode: str) -> torch.Tensor:
    if ph:
        x = x.index_select(-2, _border_index(x.shape[-2], ph, mode, x.device))
    if pw:
        x = x.index_select(-1, _border_index(x.shape[-1], pw, mode, x.device))
    return x


def _correlate(x: torch.Tensor, kernel: torch.Tensor, mode: str) -> torch.Tensor:
    """Correlate every channel of ``x`` (B, C, H, W) with one odd-sized 2-D ``kernel`` (kh, kw)."""
    b, c, h, w = x.shape
    kh, kw = kernel.shape
    xp = _pad(x.reshape(b * c, 1, h, w), kh // 2, kw // 2, mode)
    y = F.conv2d(xp, kernel.to(x.dtype).reshape(1, 1, kh, kw))
    return y.reshape(b, c, h, w)


def _gaussian_kernel1d(sigma: float, truncate: float, dtype) -> torch.Tensor:
    radius = int(truncate * float(sigma) + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * t**2 / float(sigma) ** 2)
    return (k / k.sum()).to(dtype)


def _gaussian_filter(x: torch.Tensor, sigma: float, *, truncate: float = 4.0, mode: str = "nearest") -> torch.Tensor:
    """``scipy.ndimage.gaussian_filter`` (``skimage.filters.gaussian``) over H and W of every channel."""
    if sigma < 1e-15:  # scipy skips such axes
        return x
    k = _gaussian_kernel1d(sigma, truncate, x.dtype).to(x.device)
    r = k.numel() // 2
    if r == 0:
        return x
    b, c, h, w = x.shape
    y = x.reshape(b * c, 1, h, w)
    y = F.conv2d(_pad(y, r, 0, mode), k.reshape(1, 1, -1, 1))
    y = F.conv2d(_pad(y, 0, r, mode), k.reshape(1, 1, 1, -1))
    return y.reshape(b, c, h, w)


def _box_blur3(x: torch.Tensor) -> torch.Tensor:
    """``cv2.blur(x, (3, 3))``: 3×3 mean, reflect-101 borders."""
    return _correlate(x, torch.full((3, 3), 1.0 / 9.0, dtype=x.dtype, device=x.device), "mirror")


def _shift_gather(xp: torch.Tensor, pad: int, dy: torch.Tensor, dx: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """From padded images ``xp`` (B, C, h+2p, w+2p), the (B, C, h, w) windows shifted by (dy, dx) (B,)."""
    b, c = xp.shape[:2]
    rows = (pad + dy).reshape(b, 1) + torch.arange(h, device=xp.device)  # (B, h)
    cols = (pad + dx).reshape(b, 1) + torch.arange(w, device=xp.device)  # (B, w)
    y = xp.gather(2, rows.reshape(b, 1, h, 1).expand(b, c, h, xp.shape[3]))
    return y.gather(3, cols.reshape(b, 1, 1, w).expand(b, c, h, w))


def _motion_blur_core(x: torch.Tensor, radius: float, sigma: float, angle_deg: torch.Tensor) -> torch.Tensor:
    """ImageMagick's ``MotionBlurImage(radius, sigma, angle)`` with one angle (degrees) per image."""
    b, c, h, w = x.shape
    width = int(2 * math.ceil(radius) + 1)  # GetOptimalKernelWidth1D for radius > 0
    i = torch.arange(width, dtype=torch.float64)
    weights = torch.exp(-(i**2) / (2.0 * sigma * sigma))
    weights = (weights / weights.sum()).tolist()
    a = torch.deg2rad(angle_deg.double()).cpu()
    ox = torch.ceil(i.reshape(1, -1) * torch.cos(a).reshape(-1, 1) - 0.5).long().to(x.device)  # (B, width)
    oy = torch.ceil(i.reshape(1, -1) * torch.sin(a).reshape(-1, 1) - 0.5).long().to(x.device)
    pad = width - 1
    xp = _pad(x, pad, pad, "nearest")
    out = torch.zeros_like(x)
    for k in range(width):
        out = out + weights[k] * _shift_gather(xp, pad, oy[:, k], ox[:, k], h, w)
    return out


def _clipped_zoom(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Their ``clipped_zoom``: centre crop of ``ceil(n / z)``, ``scipy.ndimage.zoom(order=1)``, trim."""
    h, w = x.shape[-2:]
    ch, cw = int(math.ceil(h / factor)), int(math.ceil(w / factor))
    if ch == h and cw == w and abs(factor - 1.0) < 1e-12:
        return x
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = x[..., top : top + ch, left : left + cw]
    oh, ow = int(round(ch * factor)), int(round(cw * factor))
    z = F.interpolate(crop, size=(oh, ow), mode="bilinear", align_corners=True)
    th, tw = (oh - h) // 2, (ow - w) // 2
    return z[..., th : th + h, tw : tw + w]


def _gray(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) luminance (``cv2.COLOR_RGB2GRAY`` weights); a 1-channel image is returned as is."""
    if x.shape[1] == 1:
        return x
    r, g, b = _RGB_TO_GRAY
    return r * x[:, 0:1] + g * x[:, 1:2] + b * x[:, 2:3]


def _colour(rgb: tuple[float, float, float], c: int, like: torch.Tensor) -> torch.Tensor:
    """A (1, C, 1, 1) colour in [0, 1]: the RGB triple, or its luminance for one channel."""
    if c == 1:
        v = [sum(w * v for w, v in zip(_RGB_TO_GRAY, rgb))]
    else:
        v = list(rgb)
    return torch.tensor(v, dtype=like.dtype, device=like.device).reshape(1, c, 1, 1)


def _quantise(x: torch.Tensor) -> torch.Tensor:
    """``np.uint8(x * 255) / 255`` (truncation, as their intermediate conversions)."""
    return torch.floor(x.clamp(0.0, 1.0) * 255.0) / 255.0


# --------------------------------------------------------------------------------------------
# Noise
# --------------------------------------------------------------------------------------------


def gaussian_noise(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Additive Gaussian noise ``x + N(0, c²)``, c = .04/.06/.08/.09/.10 by severity.

    Args:
        x: ``(B, C, H, W)`` floating images in ``[0, 1]`` (C = 1 or 3, H, W ≥ 8).
        severity: 1..5.
        generator: source of randomness (``None``: torch's global generator).

    Returns:
        ``(B, C, H, W)``, same dtype, clipped to ``[0, 1]``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> gaussian_noise(torch.full((1, 1, 8, 8), 0.5), 5, generator=g).std().item() > 0.05
        True
    """
    x, dtype, s = _prepare(x, severity, "gaussian_noise")
    c = _GAUSSIAN_NOISE[s - 1]
    return _finish(x + c * _randn(x.shape, generator, x), dtype)


def shot_noise(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Poisson (shot) noise ``Poisson(c·x)/c``, photon count c = 500/250/100/75/50 by severity.

    Shapes as :func:`gaussian_noise`.

    Example:
        >>> shot_noise(torch.zeros(1, 3, 8, 8), 1, generator=torch.Generator().manual_seed(0)).max().item()
        0.0
    """
    x, dtype, s = _prepare(x, severity, "shot_noise")
    c = float(_SHOT_NOISE[s - 1])
    rate = (x * c).to(device=_gen_device(generator), dtype=torch.float64)
    counts = torch.poisson(rate, generator=generator).to(device=x.device, dtype=x.dtype)
    return _finish(counts / c, dtype)


def impulse_noise(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Salt-and-pepper noise: a fraction c = .01/.02/.03/.05/.07 of the values (each channel
    independently) set to 0 or 1 with equal probability (``skimage.util.random_noise(mode="s&p")``).

    Shapes as :func:`gaussian_noise`.

    Example:
        >>> y = impulse_noise(torch.full((2, 3, 16, 16), 0.5), 5, generator=torch.Generator().manual_seed(0))
        >>> sorted(set(y.unique().tolist()))
        [0.0, 0.5, 1.0]
    """
    x, dtype, s = _prepare(x, severity, "impulse_noise")
    c = _IMPULSE_NOISE[s - 1]
    flipped = _rand(x.shape, generator, x) < c
    salted = (_rand(x.shape, generator, x) < 0.5).to(x.dtype)
    return _finish(torch.where(flipped, salted, x), dtype)


def speckle_noise(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Multiplicative Gaussian noise ``x + x·N(0, c²)``, c = .06/.1/.12/.16/.2 by severity.

    Shapes as :func:`gaussian_noise`.

    Example:
        >>> speckle_noise(torch.zeros(1, 1, 8, 8), 5, generator=torch.Generator().manual_seed(0)).abs().max().item()
        0.0
    """
    x, dtype, s = _prepare(x, severity, "speckle_noise")
    c = _SPECKLE_NOISE[s - 1]
    return _finish(x + x * c * _randn(x.shape, generator, x), dtype)


# --------------------------------------------------------------------------------------------
# Blur
# --------------------------------------------------------------------------------------------


def gaussian_blur(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Gaussian blur of std σ = .4/.6/.7/.8/1 pixels (``skimage.filters.gaussian``: truncate 4,
    edge mode "nearest"). Deterministic (``generator`` is ignored).

    Shapes as :func:`gaussian_noise`.

    Example:
        >>> gaussian_blur(torch.full((1, 3, 8, 8), 0.25), 5).sub(0.25).abs().max().item() < 1e-6
        True
    """
    x, dtype, s = _prepare(x, severity, "gaussian_blur")
    return _finish(_gaussian_filter(x, _GAUSSIAN_BLUR[s - 1]), dtype)


def glass_blur(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Glass blur: Gaussian blur (σ), uint8 quantisation, local pixel swaps, Gaussian blur again.

    (σ, max offset d, iterations) = (.05,1,1), (.25,1,1), (.4,1,1), (.25,1,2), (.4,1,2). Each
    iteration visits the pixels (h, w) for h from H−d down to d+1 and w from W−d down to d+1 and
    swaps the pixel (all channels) with (h+dy, w+dx), dx, dy uniform integers in [−d, d), drawn per
    image; the swaps are sequential, as in their loop.

    Shapes as :func:`gaussian_noise`.
    """
    x, dtype, s = _prepare(x, severity, "glass_blur")
    sigma, d, iterations = _GLASS_BLUR[s - 1]
    b, c, h, w = x.shape
    y = _quantise(_gaussian_filter(x, sigma))
    hs = list(range(h - d, d, -1))
    ws = list(range(w - d, d, -1))
    n_pos = len(hs) * len(ws)
    if n_pos and b:
        offsets = torch.randint(-d, d, (iterations, n_pos, 2, b), generator=generator, device=_gen_device(generator))
        offsets = offsets.to(x.device)
        delta = offsets[:, :, 1] * w + offsets[:, :, 0]  # dy·W + dx, (iterations, n_pos, B)
        positions = [hh * w + ww for hh in hs for ww in ws]
        t = y.permute(2, 3, 0, 1).reshape(h * w, b, c).contiguous()  # pixel-major: t[p] is (B, C)
        ar = torch.arange(b, device=x.device)
        for it in range(iterations):
            dq = delta[it]
            for k, p in enumerate(positions):
                q = dq[k] + p
                a = t[p].clone()
                t[p] = t[q, ar]
                t[q, ar] = a
        y = t.reshape(h, w, b, c).permute(2, 3, 0, 1)
    return _finish(_gaussian_filter(y.contiguous(), sigma), dtype)


def _disk_kernel(radius: float, alias_blur: float) -> torch.Tensor:
    """Their ``disk``: a normalised aliased disk on a 17×17 grid, blurred by a 3×3 Gaussian
    (``cv2.GaussianBlur(ksize=(3, 3), sigmaX=alias_blur)``), cropped to its non-zero support."""
    L = np.arange(-8, 9)
    X, Y = np.meshgrid(L, L)
    disk = ((X**2 + Y**2) <= radius**2).astype(np.float64)
    disk /= disk.sum()
    g = np.exp(-np.arange(-1, 2) ** 2 / (2.0 * alias_blur**2))
    g /= g.sum()
    padded = np.pad(disk, 1)
    k = sum(g[i] * g[j] * padded[i : i + 17, j : j + 17] for i in range(3) for j in range(3))
    nz_r, nz_c = np.nonzero(np.abs(k) > 0)
    rr = max(abs(nz_r - 8).max(), abs(nz_c - 8).max())
    return torch.from_numpy(k[8 - rr : 9 + rr, 8 - rr : 9 + rr].copy())


def defocus_blur(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Defocus blur: correlation with their anti-aliased disk, (radius, alias σ) =
    (.3,.4), (.4,.5), (.5,.6), (1,.2), (1.5,.1); reflect-101 borders. Deterministic.

    Shapes as :func:`gaussian_noise`.

    Example:
        >>> defocus_blur(torch.full((1, 1, 8, 8), 0.5), 5).sub(0.5).abs().max().item() < 1e-6
        True
    """
    x, dtype, s = _prepare(x, severity, "defocus_blur")
    kernel = _disk_kernel(*_DEFOCUS_BLUR[s - 1]).to(device=x.device, dtype=x.dtype)
    return _finish(_correlate(x, kernel, "mirror"), dtype)


def motion_blur(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Motion blur (ImageMagick's, as through Wand): (radius, σ) = (6,1), (6,1.5), (6,2), (8,2),
    (9,2.5); the direction is drawn per image, uniform in [−45°, 45°].

    Shapes as :func:`gaussian_noise`.
    """
    x, dtype, s = _prepare(x, severity, "motion_blur")
    radius, sigma = _MOTION_BLUR[s - 1]
    angle = _uniform((x.shape[0],), -45.0, 45.0, generator, torch.empty(0, dtype=torch.float64))
    return _finish(_motion_blur_core(x, radius, sigma, angle), dtype)


def zoom_blur(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Zoom blur: the mean of x and x zoomed (centre, bilinear) by every factor in
    ``np.arange(1, end, 0.01)``, end = 1.06/1.11/1.16/1.21/1.26. Deterministic.

    Shapes as :func:`gaussian_noise`.
    """
    x, dtype, s = _prepare(x, severity, "zoom_blur")
    factors = np.arange(1, _ZOOM_BLUR_END[s - 1], 0.01)
    out = x.clone()
    for z in factors:
        out = out + _clipped_zoom(x, float(z))
    return _finish(out / (len(factors) + 1), dtype)


# --------------------------------------------------------------------------------------------
# Weather
# --------------------------------------------------------------------------------------------


def snow(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Snow: a thresholded, zoomed Gaussian snow layer streaked by a motion blur (angle uniform in
    [−135°, −45°] per image), added twice (once rotated by 180°) to the image brightened towards
    ``1.5·gray + 0.5``. Their 7-parameter table per severity.

    Shapes as :func:`gaussian_noise`.
    """
    x, dtype, s = _prepare(x, severity, "snow")
    loc, scale, zoom, threshold, radius, sigma, weight = _SNOW[s - 1]
    b, c, h, w = x.shape
    layer = _randn((b, 1, h, w), generator, x) * scale + loc
    layer = _clipped_zoom(layer, zoom)
    layer = torch.where(layer < threshold, torch.zeros_like(layer), layer).clamp(0.0, 1.0)
    angle = _uniform((b,), -135.0, -45.0, generator, torch.empty(0, dtype=torch.float64))
    layer = _motion_blur_core(layer, radius, sigma, angle)
    x = weight * x + (1 - weight) * torch.maximum(x, _gray(x) * 1.5 + 0.5)
    return _finish(x + layer + torch.flip(layer, dims=(-2, -1)), dtype)


def _frost_texture(b: int, c: int, h: int, w: int, generator, like: torch.Tensor) -> torch.Tensor:
    """A procedural frost texture in [0, 1], (B, C, H, W): ridged multi-octave value noise."""
    veins = torch.zeros(b, 1, h, w, dtype=like.dtype, device=like.device)
    total = 0.0
    for grid, amp in ((3, 1.0), (5, 0.7), (9, 0.5), (17, 0.35)):
        noise = _rand((b, 1, grid, grid), generator, like)
        noise = F.interpolate(noise, size=(h, w), mode="bicubic", align_corners=False).clamp(0.0, 1.0)
        veins = veins + amp * (1.0 - (2.0 * noise - 1.0).abs()) ** 6  # thin bright ridges where noise ≈ 1/2
        total += amp
    veins = veins / total
    lo = veins.amin(dim=(1, 2, 3), keepdim=True)
    hi = veins.amax(dim=(1, 2, 3), keepdim=True)
    veins = (veins - lo) / (hi - lo).clamp(min=1e-12)
    haze = F.interpolate(_rand((b, 1, 4, 4), generator, like), size=(h, w), mode="bilinear", align_corners=False)
    grain = _rand((b, 1, h, w), generator, like)
    tex = (0.3 + 0.25 * haze + 0.55 * veins + 0.1 * (grain - 0.5)).clamp(0.0, 1.0)
    tint = _colour((0.82, 0.91, 1.0), c, like)
    return tex * tint


def frost(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Frost: ``c0·x + c1·texture`` with (c0, c1) = (1,.2), (1,.3), (.9,.4), (.85,.4), (.75,.45).

    Deviation: Hendrycks crops one of six frost photographs; we blend a procedural, seeded texture
    (ridged multi-octave value noise, icy-blue tint; see the module docstring).

    Shapes as :func:`gaussian_noise`.
    """
    x, dtype, s = _prepare(x, severity, "frost")
    a, bw = _FROST[s - 1]
    b, c, h, w = x.shape
    return _finish(a * x + bw * _frost_texture(b, c, h, w, generator, x), dtype)


def _plasma_fractal(b: int, mapsize: int, wibbledecay: float, generator, like: torch.Tensor) -> torch.Tensor:
    """Their diamond-square ``plasma_fractal``, batched: (B, mapsize, mapsize) in [0, 1]."""
    m = torch.zeros(b, mapsize, mapsize, dtype=torch.float64, device=like.device)
    stepsize = mapsize
    wibble = 100.0

    def wibbledmean(arr: torch.Tensor) -> torch.Tensor:
        u = _rand(arr.shape, generator, arr) * (2 * wibble) - wibble
        return arr / 4 + wibble * u

    while stepsize >= 2:
        half = stepsize // 2
        corner = m[:, 0:mapsize:stepsize, 0:mapsize:stepsize]
        square = corner + torch.roll(corner, -1, dims=1)
        square = square + torch.roll(square, -1, dims=2)
        m[:, half:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(square)
        dr = m[:, half:mapsize:stepsize, half:mapsize:stepsize]
        ul = m[:, 0:mapsize:stepsize, 0:mapsize:stepsize]
        lt = dr + torch.roll(dr, 1, dims=1) + ul + torch.roll(ul, -1, dims=2)
        m[:, 0:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(lt)
        tt = dr + torch.roll(dr, 1, dims=2) + ul + torch.roll(ul, -1, dims=1)
        m[:, half:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(tt)
        stepsize //= 2
        wibble /= wibbledecay
    m = m - m.amin(dim=(1, 2), keepdim=True)
    return m / m.amax(dim=(1, 2), keepdim=True).clamp(min=1e-300)


def fog(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Fog: ``(x + c0·plasma)·max(x)/(max(x) + c0)`` with a diamond-square plasma fractal per image,
    (c0, wibble decay) = (.2,3), (.5,3), (.75,2.5), (1,2), (1.5,1.75).

    Shapes as :func:`gaussian_noise`.
    """
    x, dtype, s = _prepare(x, severity, "fog")
    amount, decay = _FOG[s - 1]
    b, c, h, w = x.shape
    mapsize = 1 << max(1, math.ceil(math.log2(max(h, w))))
    plasma = _plasma_fractal(b, mapsize, decay, generator, x)[:, :h, :w].to(x.dtype).unsqueeze(1)
    max_val = x.amax(dim=(1, 2, 3), keepdim=True)
    y = x + amount * plasma
    return _finish(y * max_val / (max_val + amount), dtype)


def brightness(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Brightness: V of HSV raised by c = .05/.1/.15/.2/.3 (clipped to 1). Deterministic.

    In closed form: each pixel is scaled by ``v'/v`` with ``v = max_c x``, ``v' = min(v + c, 1)``
    (a black pixel becomes gray ``v'``); on one channel ``min(x + c, 1)``.

    Shapes as :func:`gaussian_noise`.

    Example:
        >>> brightness(torch.full((1, 3, 8, 8), 0.5), 5).unique().tolist()
        [0.800000011920929]
    """
    x, dtype, s = _prepare(x, severity, "brightness")
    c = _BRIGHTNESS[s - 1]
    v = x.amax(dim=1, keepdim=True)
    v_new = (v + c).clamp(max=1.0)
    y = torch.where(v > 0, x * (v_new / v.clamp(min=1e-30)), v_new.expand_as(x))
    return _finish(y, dtype)


def contrast(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Contrast: ``(x − m)·c + m``, m the mean of each image and channel, c = .75/.5/.4/.3/.15.
    Deterministic.

    Shapes as :func:`gaussian_noise`.

    Example:
        >>> x = torch.zeros(1, 1, 8, 8); x[..., :4] = 1.0
        >>> contrast(x, 2)[0, 0, 0, :5].tolist()
        [0.75, 0.75, 0.75, 0.75, 0.25]
    """
    x, dtype, s = _prepare(x, severity, "contrast")
    c = _CONTRAST[s - 1]
    m = x.mean(dim=(2, 3), keepdim=True)
    return _finish((x - m) * c + m, dtype)


def saturate(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Saturation: S of HSV mapped to ``clip(S·a + b, 0, 1)``, (a, b) = (.3,0), (.1,0), (1.5,0),
    (2,.1), (2.5,.2). Deterministic. The identity on one-channel images (no hue).

    In closed form: ``x ↦ v − (s'/s)(v − x)`` per channel (V and hue kept); a gray pixel (s = 0)
    takes hue 0 like scikit-image, i.e. ``(v, v(1 − s'), v(1 − s'))``.

    Shapes as :func:`gaussian_noise`.
    """
    x, dtype, s = _prepare(x, severity, "saturate")
    if x.shape[1] == 1:
        return _finish(x.clone(), dtype)
    a, b0 = _SATURATE[s - 1]
    v = x.amax(dim=1, keepdim=True)
    delta = v - x.amin(dim=1, keepdim=True)
    sat = torch.where(v > 0, delta / v.clamp(min=1e-30), torch.zeros_like(v))
    sat_new = (sat * a + b0).clamp(0.0, 1.0)
    scaled = v - (sat_new / sat.clamp(min=1e-30)) * (v - x)
    red = torch.tensor([0.0, 1.0, 1.0], dtype=x.dtype, device=x.device).reshape(1, 3, 1, 1)
    grey = v - sat_new * v * red
    return _finish(torch.where(sat > 0, scaled, grey), dtype)


# --------------------------------------------------------------------------------------------
# Digital
# --------------------------------------------------------------------------------------------


def _affine_grid_from_points(src_pts: torch.Tensor, dst_pts: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Sampling grid (B, H, W, 2) in pixel coordinates (x, y) of ``cv2.warpAffine(getAffineTransform)``:
    output pixel q reads the input at ``M⁻¹ q`` where ``M`` maps ``src_pts`` (3, 2) to ``dst_pts`` (B, 3, 2)."""
    b = dst_pts.shape[0]
    dev = dst_pts.device
    P = torch.cat([src_pts, torch.ones(3, 1, dtype=src_pts.dtype, device=dev)], dim=1)  # (3, 3) rows [x y 1]
    Mt = torch.linalg.solve(P.expand(b, 3, 3), dst_pts)  # (B, 3, 2): [x y 1] @ Mt = dst
    A = Mt[:, :2, :].transpose(1, 2)  # (B, 2, 2)
    t = Mt[:, 2, :]  # (B, 2)
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=src_pts.dtype, device=dev), torch.arange(w, dtype=src_pts.dtype, device=dev), indexing="ij"
    )
    q = torch.stack([xs, ys], dim=-1).reshape(1, h * w, 2) - t.reshape(b, 1, 2)
    src = torch.linalg.solve(A, q.transpose(1, 2)).transpose(1, 2)  # (B, HW, 2)
    return src.reshape(b, h, w, 2)


def elastic_transform(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Elastic transform: a random affine warp (three points jittered uniformly by ±c2) followed by
    a Gaussian-smoothed random displacement field (σ = c1, amplitude c0), bilinear.

    (c0, c1, c2) = S·(0, 0, .08), S·(.05, .2, .07), S·(.08, .06, .06), S·(.1, .04, .05),
    S·(.1, .03, .03) with S = min(H, W) (their IMSIZE = 32).

    Shapes as :func:`gaussian_noise`.
    """
    x, dtype, s = _prepare(x, severity, "elastic_transform")
    b, c, h, w = x.shape
    size = float(min(h, w))
    alpha, sigma, jitter = (size * v for v in _ELASTIC[s - 1])
    f64 = torch.empty(0, dtype=torch.float64, device=x.device)
    # random affine, cv2.warpAffine(..., borderMode=BORDER_REFLECT_101), bilinear
    center = torch.tensor([float(w // 2), float(h // 2)], dtype=torch.float64, device=x.device)
    sq = float(min(h, w) // 3)
    src_pts = torch.stack([center + sq, center + torch.tensor([sq, -sq], dtype=torch.float64, device=x.device), center - sq])
    dst_pts = src_pts + _uniform((b, 3, 2), -jitter, jitter, generator, f64)
    src = _affine_grid_from_points(src_pts, dst_pts, h, w)
    grid = torch.stack([2 * src[..., 0] / (w - 1) - 1, 2 * src[..., 1] / (h - 1) - 1], dim=-1)
    y = F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="reflection", align_corners=True)
    # displacement field, scipy map_coordinates(order=1, mode="reflect")
    field = _uniform((b, 2, h, w), -1.0, 1.0, generator, x)
    field = _gaussian_filter(field, sigma, truncate=3.0, mode="reflect") * alpha if sigma > 0 else field * 0.0
    dx, dy = field[:, 0], field[:, 1]
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=x.dtype, device=x.device), torch.arange(w, dtype=x.dtype, device=x.device), indexing="ij"
    )
    gx = (2 * (xs + dx) + 1) / w - 1
    gy = (2 * (ys + dy) + 1) / h - 1
    y = F.grid_sample(y, torch.stack([gx, gy], dim=-1), mode="bilinear", padding_mode="reflection", align_corners=False)
    return _finish(y, dtype)


def _pil_box_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) resampling matrix of Pillow's BOX filter (``precompute_coeffs`` in Resample.c)."""
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = 0.5 * filterscale
    mat = np.zeros((n_out, n_in), dtype=np.float64)
    for xx in range(n_out):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), n_in)
        for xi in range(xmin, xmax):
            u = (xi - center + 0.5) / filterscale
            if -0.5 < u <= 0.5:
                mat[xx, xi] = 1.0
        total = mat[xx].sum()
        if total:
            mat[xx] /= total
    return torch.from_numpy(mat)


def pixelate(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Pixelate: PIL BOX resize to ``int(c·W) × int(c·H)`` and back, c = .95/.9/.85/.75/.65.
    Deterministic.

    Shapes as :func:`gaussian_noise`.

    Example:
        >>> pixelate(torch.full((1, 3, 32, 32), 0.5), 5).sub(0.5).abs().max().item() < 1e-6
        True
    """
    x, dtype, s = _prepare(x, severity, "pixelate")
    c = _PIXELATE[s - 1]
    h, w = x.shape[-2:]
    sh, sw = max(1, int(h * c)), max(1, int(w * c))
    ry = (_pil_box_matrix(sh, h) @ _pil_box_matrix(h, sh)).to(device=x.device, dtype=x.dtype)  # (H, H)
    rx = (_pil_box_matrix(sw, w) @ _pil_box_matrix(w, sw)).to(device=x.device, dtype=x.dtype)  # (W, W)
    return _finish(ry @ x @ rx.T, dtype)


def jpeg_compression(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """JPEG compression with Pillow at quality 80/65/58/50/40 (default 4:2:0 chroma subsampling;
    mode "L" for one channel), on the image rounded to uint8. Deterministic; runs on the CPU.

    Shapes as :func:`gaussian_noise`.
    """
    from PIL import Image

    x, dtype, s = _prepare(x, severity, "jpeg_compression")
    quality = _JPEG_QUALITY[s - 1]
    arr = torch.round(x.detach() * 255.0).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = np.empty_like(arr)
    mode = "L" if arr.shape[-1] == 1 else "RGB"
    for i in range(arr.shape[0]):
        img = Image.fromarray(arr[i, :, :, 0] if mode == "L" else arr[i], mode=mode)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        dec = np.asarray(Image.open(buf).convert(mode))
        out[i] = dec.reshape(out.shape[1:])
    y = torch.from_numpy(out).permute(0, 3, 1, 2).to(device=x.device, dtype=x.dtype) / 255.0
    return _finish(y, dtype)


# --------------------------------------------------------------------------------------------
# Spatter
# --------------------------------------------------------------------------------------------


def _distance_to_mask(mask: torch.Tensor, cap: float) -> torch.Tensor:
    """Exact Euclidean distance of every pixel to the nearest ``True`` of ``mask`` (B, H, W),
    capped at ``cap`` (also where the mask is empty). Separable min-plus, O(B·H·W·(H+W))."""
    b, h, w = mask.shape
    big = float(cap * cap + h * h + w * w + 1)
    dt = torch.float32
    ar_h = torch.arange(h, device=mask.device, dtype=dt)
    ar_w = torch.arange(w, device=mask.device, dtype=dt)
    f = torch.where(mask, torch.zeros((), dtype=dt, device=mask.device), torch.full((), big, dtype=dt, device=mask.device))
    # along rows (y): g[b, y, x] = min_{y'} f[b, y', x] + (y - y')²
    dy2 = (ar_h.reshape(h, 1) - ar_h.reshape(1, h)) ** 2  # (y, y')
    g = (f.unsqueeze(1) + dy2.reshape(1, h, h, 1)).amin(dim=2)  # (B, y, x)
    dx2 = (ar_w.reshape(w, 1) - ar_w.reshape(1, w)) ** 2  # (x, x')
    d2 = (g.unsqueeze(2) + dx2.reshape(1, 1, w, w)).amin(dim=3)  # (B, y, x)
    return d2.clamp(max=cap * cap).sqrt()


def _equalize_hist_u8(v: torch.Tensor) -> torch.Tensor:
    """``cv2.equalizeHist`` of integer-valued images v (B, H, W) with values in 0..255 (float)."""
    b = v.shape[0]
    idx = v.reshape(b, -1).long()
    hist = torch.zeros(b, 256, dtype=torch.float64, device=v.device).scatter_add_(
        1, idx, torch.ones_like(idx, dtype=torch.float64)
    )
    total = float(idx.shape[1])
    cdf = hist.cumsum(dim=1)
    first = (hist > 0).float().argmax(dim=1, keepdim=True)  # first non-empty bin
    cdf_min = hist.gather(1, first)
    denom = (total - cdf_min).clamp(min=1.0)
    lut = torch.round((cdf - cdf_min) * 255.0 / denom).clamp(0, 255)
    constant = cdf_min.squeeze(1) == total
    lut = torch.where(constant.reshape(b, 1), first.to(lut.dtype).expand_as(lut), lut)
    return lut.gather(1, idx).reshape(v.shape).to(v.dtype)


def spatter(x: torch.Tensor, severity: int, *, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Spatter: water drops (severities 1–3: turquoise tint along embossed drop edges) or mud
    (4–5: brown blobs) from a thresholded, blurred Gaussian liquid layer. Their 6-parameter table;
    the OpenCV steps are replaced as described in the module docstring.

    Shapes as :func:`gaussian_noise`.
    """
    import kornia

    x, dtype, s = _prepare(x, severity, "spatter")
    loc, scale, sigma, threshold, intensity, mud = _SPATTER[s - 1]
    b, c, h, w = x.shape
    liquid = _randn((b, 1, h, w), generator, x) * scale + loc
    liquid = _gaussian_filter(liquid, sigma)
    liquid = torch.where(liquid < threshold, torch.zeros_like(liquid), liquid)
    if mud == 0:
        liquid_u8 = torch.floor(liquid.clamp(0.0, 1.0) * 255.0)  # (liquid * 255).astype(uint8)
        _, edges = kornia.filters.canny(liquid_u8 / 255.0, 50.0 / 255.0, 150.0 / 255.0, kernel_size=1)
        dist = _distance_to_mask(edges[:, 0] > 0, 20.0).unsqueeze(1).to(x.dtype)  # distanceTransform, THRESH_TRUNC 20
        dist = torch.floor(_box_blur3(dist))  # cv2.blur, then astype(uint8)
        dist = _equalize_hist_u8(dist[:, 0]).unsqueeze(1)
        ker = torch.tensor([[-2.0, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.0, 1.0, 2.0]], dtype=x.dtype, device=x.device)
        dist = torch.round(_correlate(dist, ker, "mirror")).clamp(0.0, 255.0)  # filter2D to CV_8U saturates
        dist = _box_blur3(dist)
        m = liquid_u8 * dist
        m_max = m.amax(dim=(1, 2, 3), keepdim=True)
        m = torch.where(m_max > 0, m / m_max.clamp(min=1e-30), torch.zeros_like(m)) * intensity
        colour = _colour((175 / 255.0, 238 / 255.0, 238 / 255.0), c, x)
        return _finish(x + m * colour, dtype)
    m = (liquid > threshold).to(x.dtype)
    m = _gaussian_filter(m, intensity)
    m = torch.where(m < 0.8, torch.zeros_like(m), m)
    colour = _colour((63 / 255.0, 42 / 255.0, 20 / 255.0), c, x)
    return _finish(x * (1 - m) + colour * m, dtype)


# --------------------------------------------------------------------------------------------
# Table and dispatcher
# --------------------------------------------------------------------------------------------

#: Every corruption by name (the 15 standard ones, then the 4 extra), CIFAR-10-C's file stems.
CORRUPTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "defocus_blur": defocus_blur,
    "glass_blur": glass_blur,
    "motion_blur": motion_blur,
    "zoom_blur": zoom_blur,
    "snow": snow,
    "frost": frost,
    "fog": fog,
    "brightness": brightness,
    "contrast": contrast,
    "elastic_transform": elastic_transform,
    "pixelate": pixelate,
    "jpeg_compression": jpeg_compression,
    "speckle_noise": speckle_noise,
    "gaussian_blur": gaussian_blur,
    "spatter": spatter,
    "saturate": saturate,
}
assert tuple(CORRUPTIONS) == STANDARD + EXTRA


def corrupt(
    x: torch.Tensor, name: str, severity: int, *, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """Apply the corruption ``name`` at ``severity`` (1..5) to a batch of images.

    Args:
        x: ``(B, C, H, W)`` floating images in ``[0, 1]``, C = 1 or 3, H, W ≥ 8.
        name: one of :data:`CORRUPTIONS` (``"gaussian_noise"`` … ``"saturate"``).
        severity: integer 1..5.
        generator: the only source of randomness (``None``: torch's global generator); the same
            generator state gives the same output.

    Returns:
        ``(B, C, H, W)`` tensor of ``x``'s dtype and device, in ``[0, 1]``.

    Raises:
        UnknownComponentError: (a ``KeyError``) unknown ``name``, with the valid names and a "did you mean".
        InvalidParameterError: (a ``ValueError``) severity not an integer in 1..5.
        InputError: (a ``ValueError``) ``x`` of the wrong shape, dtype or range.

    Example:
        >>> x = torch.rand(2, 1, 28, 28)
        >>> corrupt(x, "pixelate", 5).shape
        torch.Size([2, 1, 28, 28])
    """
    fn = CORRUPTIONS[check_corruption_name(name)]
    return fn(x, check_severity(severity), generator=generator)
