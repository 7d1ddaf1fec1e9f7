"""gsmooth — certified robustness by randomized smoothing, for additive noise and semantic transforms.

Three lines from a classifier to a certificate::

    import gsmooth
    smoother = gsmooth.Smoother(model, noise="gaussian", sigma=0.25, num_classes=10)
    cert = smoother.certify(image, n0=100, n=10_000, alpha=0.001)   # cert.prediction, cert.radius

Public facade (stable names; plugins, notebooks and scripts rely on them): :class:`Noise`,
:class:`Transform`, :class:`TransformDefaults`, :data:`hookimpl`, :data:`hookspec`, :func:`noise`,
:func:`transform`, :func:`training_method`, :class:`Smoother`, the result types and the typed errors.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .core.certificates import ABSTAIN, Certificate, Prediction, ResultBatch
from .errors import (
    CheckpointError,
    DatasetNotFoundError,
    DuplicateComponentError,
    GsmoothError,
    InputError,
    InvalidParameterError,
    ModelOutputError,
    OutputFileError,
    PluginError,
    ResultsFileError,
    TrainingDivergedError,
    UnknownComponentError,
    UnsupportedNoiseError,
)
from .plugin.hookspecs import hookimpl, hookspec
from .core.noise import Noise
from .core.transform import Transform
from .core.defaults import TransformDefaults
from .plugin.components import (
    available_noises, available_training_methods, available_transforms, noise, training_method, transform,
)
from .core.smoother import Smoother

__all__ = [
    "__version__",
    "Noise",
    "Transform",
    "TransformDefaults",
    "hookimpl",
    "hookspec",
    "noise",
    "transform",
    "available_noises",
    "available_transforms",
    "training_method",
    "available_training_methods",
    "Smoother",
    "Certificate",
    "Prediction",
    "ResultBatch",
    "ABSTAIN",
    "GsmoothError",
    "InvalidParameterError",
    "InputError",
    "UnknownComponentError",
    "DuplicateComponentError",
    "PluginError",
    "CheckpointError",
    "DatasetNotFoundError",
    "OutputFileError",
    "ResultsFileError",
    "ModelOutputError",
    "TrainingDivergedError",
    "UnsupportedNoiseError",
]
