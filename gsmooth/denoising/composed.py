"""``classifier ∘ denoiser``: the base model of denoised smoothing (Salman et al., 2020).

Randomized smoothing of ``f ∘ D`` certifies ``f ∘ D`` like any base model: the certificate holds
whatever ``D`` is. ``D`` only makes the votes of an off-the-shelf classifier ``f`` (trained without
noise) useful under Gaussian noise, and it does so for the noise it was trained for: the model owns
that rule through the engine's protocol ``gsmooth_smoothing_noise(noise, transform)`` (see
:class:`gsmooth.Smoother`), so a σ the denoiser was not trained for is refused before any sampling.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import InvalidParameterError, UnsupportedNoiseError

__all__ = ["DenoisedClassifier"]


def _hook(module):
    hook = getattr(module, "gsmooth_smoothing_noise", None)
    return hook if callable(hook) else None


def _describe(noise) -> str:
    sigma = getattr(noise, "sigma", None)
    return f"{noise.name} sigma {sigma:g}" if isinstance(sigma, (int, float)) else noise.describe()


class DenoisedClassifier(nn.Module):
    """The base model ``x ↦ classifier(denoiser(x))``.

    Both modules are kept as they are (``.classifier``, ``.denoiser``); put them in eval mode for
    certification (loaded checkpoints are). The model records ``input_shape`` (the classifier's, else
    the denoiser's; both must agree), ``num_classes`` and ``checkpoint_path`` of the classifier when
    it has them, so :class:`gsmooth.Smoother` checks inputs as for the classifier alone.

    The smoothing it accepts (:meth:`gsmooth_smoothing_noise`, called by :class:`gsmooth.Smoother`):
    when the denoiser defines ``gsmooth_smoothing_noise`` itself (a diffusion denoiser that maps σ to
    a timestep), the denoiser decides; otherwise the additive transform with Gaussian noise of exactly
    the denoiser's ``sigma`` (a denoiser without ``sigma`` accepts any additive noise). A classifier
    that defines the hook is asked too.

    Args:
        classifier: ``f``, ``(B, C, H, W) → (B, k)`` logits.
        denoiser: ``D``, ``(B, C, H, W) → (B, C, H, W)`` (e.g. :func:`gsmooth.denoising.load_denoiser`).

    Shape:
        - Input: ``(B, C, H, W)`` noisy images in pixel space
        - Output: ``(B, k)`` logits

    Raises:
        InvalidParameterError: the two modules record different input shapes.

    Example:
        >>> import gsmooth
        >>> from gsmooth.denoising import build_denoiser
        >>> den = build_denoiser("dncnn4x8", input_shape=(1, 28, 28)).eval()
        >>> den.sigma = 0.25
        >>> clf = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
        >>> model = DenoisedClassifier(clf, den)
        >>> model(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 10])
        >>> s = gsmooth.Smoother(model, noise="gaussian", sigma=0.25, num_classes=10)  # accepted
        >>> gsmooth.Smoother(model, noise="gaussian", sigma=0.5, num_classes=10)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        gsmooth.errors.UnsupportedNoiseError: denoiser dncnn4x8 was trained for gaussian sigma 0.25; expected that noise, got gaussian sigma 0.5
    """

    def __init__(self, classifier: nn.Module, denoiser: nn.Module) -> None:
        super().__init__()
        for what, m in (("classifier", classifier), ("denoiser", denoiser)):
            if not isinstance(m, nn.Module):
                raise InvalidParameterError(f"DenoisedClassifier: expected the {what} to be an nn.Module, got {type(m).__name__}")
        self.classifier = classifier
        self.denoiser = denoiser
        c_shape = getattr(classifier, "input_shape", None)
        d_shape = getattr(denoiser, "input_shape", None)
        if c_shape is not None and d_shape is not None and tuple(c_shape) != tuple(d_shape):
            raise InvalidParameterError(
                f"DenoisedClassifier: expected a denoiser for the classifier's images {tuple(c_shape)}, got one for "
                f"{tuple(d_shape)} ({self.denoiser_name})"
            )
        shape = c_shape if c_shape is not None else d_shape
        if shape is not None:
            self.input_shape = tuple(int(v) for v in shape)
        for attr in ("num_classes", "checkpoint_path"):
            if getattr(classifier, attr, None) is not None:
                setattr(self, attr, getattr(classifier, attr))

    @property
    def denoiser_name(self) -> str:
        """How messages name the denoiser: its checkpoint path, else its architecture, else its class."""
        d = self.denoiser
        return str(getattr(d, "checkpoint_path", None) or getattr(d, "arch", None) or type(d).__name__)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.denoiser(x))

    def gsmooth_smoothing_noise(self, noise, transform) -> None:
        """The engine's protocol (see :class:`gsmooth.Smoother`): accept ``noise``/``transform`` or raise.

        Raises:
            UnsupportedNoiseError: a transform other than ``additive`` (a denoiser removes pixel noise);
                or (denoiser without its own hook) a noise other than Gaussian with the denoiser's σ.
        """
        own = _hook(self.denoiser)
        if transform.name != "additive":
            raise UnsupportedNoiseError(
                f"denoiser {self.denoiser_name} removes additive pixel noise; expected transform additive, got "
                f"{transform.name!r}"
            )
        if own is not None:
            own(noise, transform)
        else:
            sigma = getattr(self.denoiser, "sigma", None)
            trained = getattr(self.denoiser, "noise", "gaussian")
            if sigma is not None:
                ok = bool(getattr(noise, "isotropic_gaussian", False)) and math.isclose(
                    float(getattr(noise, "sigma", float("nan"))), float(sigma), rel_tol=1e-9, abs_tol=0.0)
                if not ok:
                    raise UnsupportedNoiseError(
                        f"denoiser {self.denoiser_name} was trained for {trained} sigma {float(sigma):g}; expected "
                        f"that noise, got {_describe(noise)}"
                    )
        clf = _hook(self.classifier)
        if clf is not None:
            clf(noise, transform)
