"""Classifier architectures, with a register/get API like torchvision's.

``get_architecture(name)`` and ``list_architectures()`` see every architecture registered through
the ``register_architectures`` hook: the built-ins (``small_cnn``, the CIFAR ResNets,
``tv:<torchvision model>``, registered by ``gsmooth.models._plugin``) and any plugin's.
``build_model(arch, …)`` builds one behind the input-normalization layer.
"""

from .architectures import Architecture, build_model, get_architecture, list_architectures

__all__ = ["Architecture", "build_model", "get_architecture", "list_architectures"]
