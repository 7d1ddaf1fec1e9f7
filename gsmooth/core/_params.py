"""What noises and transforms share: a registry ``name``, keyword-only hyper-parameters stored
verbatim and validated from one table (scikit-learn's ``get_params`` convention)."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from .. import validation

__all__ = ["ParamsMixin"]


class ParamsMixin:
    """Hyper-parameters = the keyword-only arguments of ``__init__``, stored under the same names.

    Subclasses write ``__init__(self, *, sigma=0.25, ...)``, assign each argument to ``self``
    unchanged, then call ``self.validate_params()`` which checks them against the class's
    ``_parameter_constraints`` table. The call is explicit (no ``__init_subclass__`` or post-init
    hook): a subclass that derives more state in ``__init__`` validates first, then derives.
    """

    name: ClassVar[str] = ""
    _parameter_constraints: ClassVar[dict[str, list]] = {}

    @classmethod
    def param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters as given, e.g. ``{"sigma": 0.25}``."""
        return {k: getattr(self, k) for k in self.param_names()}

    def validate_params(self) -> None:
        """Check :meth:`get_params` against the class's ``_parameter_constraints`` table
        (:func:`gsmooth.validation.validate_params`).

        Raises:
            gsmooth.InvalidParameterError: ``"MyNoise('mine'): parameter 'sigma' expected …, got …"``.

        Example:
            >>> import gsmooth
            >>> noise = gsmooth.noise("gaussian", sigma=0.25)
            >>> noise.sigma = -1.0
            >>> noise.validate_params()
            Traceback (most recent call last):
            ...
            gsmooth.errors.InvalidParameterError: GaussianNoise('gaussian'): parameter 'sigma' expected a finite number in (0, inf), got -1.0
        """
        validation.validate_params(f"{type(self).__name__}({self.name!r})", self.get_params(), self._parameter_constraints)

    #: The name before :meth:`validate_params` was public, kept for plugins written against it.
    _validate_params = validate_params

    def _params_repr(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
