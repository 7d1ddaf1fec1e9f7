"""Denoised smoothing (Salman et al., NeurIPS 2020): certify an off-the-shelf classifier ``f`` (trained
without noise) by smoothing ``f ∘ D``, with ``D`` a denoiser trained for Gaussian noise of σ.

- :mod:`~gsmooth.denoising.model`: :class:`DnCNN`, the denoiser architectures by name
  (:class:`DenoiserArchitecture`, hook ``register_denoisers``);
- :mod:`~gsmooth.denoising.losses`: :func:`mse_objective`, :func:`stability_objective`;
- :mod:`~gsmooth.denoising.train`: :class:`DenoiserConfig`, :func:`train_denoiser` (``gsmooth train-denoiser``);
- :mod:`~gsmooth.denoising.io`: the denoiser checkpoint (:func:`save_denoiser`, :func:`load_denoiser`);
- :mod:`~gsmooth.denoising.composed`: :class:`DenoisedClassifier`, the base model ``f ∘ D``
  (``gsmooth certify --model F --denoiser D.pt``).

Example:
    >>> import gsmooth, torch
    >>> from gsmooth.denoising import DenoisedClassifier, build_denoiser
    >>> den = build_denoiser("dncnn4x8", input_shape=(1, 28, 28)).eval()
    >>> den.sigma = 0.25
    >>> clf = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    >>> s = gsmooth.Smoother(DenoisedClassifier(clf, den), noise="gaussian", sigma=0.25, num_classes=10)
    >>> s.certify(torch.rand(1, 28, 28), n0=10, n=100, alpha=0.01).prediction in range(-1, 10)
    True
"""

from .composed import DenoisedClassifier
from .io import load_denoiser, save_denoiser
from .losses import mse_objective, stability_objective
from .model import (
    DenoiserArchitecture, DnCNN, build_denoiser, get_denoiser_architecture, list_denoiser_architectures,
)
from .train import DenoiserConfig, DenoiserEpochStats, train_denoiser

__all__ = [
    "DenoisedClassifier", "load_denoiser", "save_denoiser", "mse_objective", "stability_objective",
    "DenoiserArchitecture", "DnCNN", "build_denoiser", "get_denoiser_architecture", "list_denoiser_architectures",
    "DenoiserConfig", "DenoiserEpochStats", "train_denoiser",
]
