"""Built-in transform plugins.

Each module holds a pure function (the tested truth, kornia style) and a thin
:class:`gsmooth.Transform` over it:

- resolvable, ``kind="exact"``: ``additive``, ``quantized_additive`` (additive noise on quantised
  images, computed so that float rounding cannot leak x: see its module), ``brightness``,
  ``contrast`` (TSS contrast+brightness, its own composition law), ``gaussian_blur`` (α = σ²),
  ``translation`` (cyclic, whole pixels);
- interpolation-inexact, ``kind="empirical"`` (the surrogate route wraps them): ``rotation``,
  ``scaling``;
- non-resolvable, ``kind="empirical"`` here and certified through ``gsmooth surrogate`` (kind
  surrogate): ``rotational_blur``, ``defocus_blur``, ``zoom_blur``, ``pixelate``, ``motion_blur``.
"""

import gsmooth

from .additive import Additive
from .brightness import Brightness
from .contrast import Contrast
from .defocus_blur import DefocusBlur
from .gaussian_blur import GaussianBlur
from .motion_blur import MotionBlur
from .pixelate import Pixelate
from .quantized_additive import QuantizedAdditive
from .rotation import Rotation
from .rotational_blur import RotationalBlur
from .scaling import Scaling
from .translation import Translation
from .zoom_blur import ZoomBlur

__all__ = [
    "Additive",
    "QuantizedAdditive",
    "Brightness",
    "Contrast",
    "GaussianBlur",
    "Translation",
    "Rotation",
    "Scaling",
    "RotationalBlur",
    "DefocusBlur",
    "ZoomBlur",
    "Pixelate",
    "MotionBlur",
]


@gsmooth.hookimpl
def register_transforms():
    return [
        Additive,
        QuantizedAdditive,
        Brightness,
        Contrast,
        GaussianBlur,
        Translation,
        Rotation,
        Scaling,
        RotationalBlur,
        DefocusBlur,
        ZoomBlur,
        Pixelate,
        MotionBlur,
    ]
