"""Training methods of ``gsmooth train``: how one batch becomes a loss.

- ``noise`` (:class:`NoiseAugmentation`, the default): one noisy copy, cross-entropy (Cohen et al., 2019);
- ``consistency`` (:class:`ConsistencyTraining`): Jeong & Shin (NeurIPS 2020);
- ``smoothadv`` (:class:`SmoothAdvTraining`): Salman et al. (NeurIPS 2019), PGD, multi-noise;
- ``macer`` (:class:`MacerTraining`): Zhai et al. (ICLR 2020).

Each is registered through the ``register_training_methods`` hook (the built-ins by :mod:`._plugin`) and
built by name with :func:`gsmooth.training_method`.
"""

from .base import MethodLoss, TrainingMethod, noisy_copies
from .consistency import ConsistencyTraining, consistency_loss
from .macer import MacerTraining, macer_loss
from .noise_augmentation import NoiseAugmentation
from .smoothadv import SmoothAdvTraining, check_differentiable_transform, smoothadv_attack

__all__ = [
    "TrainingMethod", "MethodLoss", "noisy_copies", "NoiseAugmentation", "ConsistencyTraining", "consistency_loss",
    "SmoothAdvTraining", "smoothadv_attack", "check_differentiable_transform", "MacerTraining", "macer_loss",
    "BUILTIN_TRAINING_METHODS",
]

#: The built-in methods, in the order ``gsmooth plugins`` lists them.
BUILTIN_TRAINING_METHODS = (NoiseAugmentation, ConsistencyTraining, SmoothAdvTraining, MacerTraining)
