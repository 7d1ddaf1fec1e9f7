"""Hook specifications of the gsmooth plugin system (pluggy, project name ``"gsmooth"``).

A plugin is any module or object with functions decorated by :data:`hookimpl`. Built-in plugins
(``gsmooth_plugins.*``) are registered exactly like third-party ones, which are found through the
entry-point group ``gsmooth``::

    # pyproject.toml of a third-party distribution gsmooth-mynoise
    [project.entry-points.gsmooth]
    mynoise = "gsmooth_mynoise"

    # gsmooth_mynoise/__init__.py
    import gsmooth

    class MyNoise(gsmooth.Noise):
        name = "mynoise"
        ...

    @gsmooth.hookimpl
    def register_noises():
        return [MyNoise]
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "gsmooth"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_noises() -> list:
    """Return the :class:`gsmooth.Noise` subclasses this plugin provides.

    Each class must define a unique ``name`` class attribute (the key users type, e.g.
    ``--noise gaussian``), a ``norm`` attribute (``"l2"``, ``"l1"``, ``"linf"`` or ``"param"``),
    keyword-only hyper-parameters with ``sigma`` as the scale, ``sample(shape, *, generator,
    device, dtype)``, and either a closed-form ``radius(p_lower)`` or the 1-D ``pdf``/``ppf`` from
    which the engine integrates the radius numerically. Check it with
    :func:`gsmooth.testing.check_noise`.

    Returns:
        A list of classes (not instances). An empty list is allowed.
    """


@hookspec
def register_transforms() -> list:
    """Return the :class:`gsmooth.Transform` subclasses this plugin provides.

    Each class must define a unique ``name``, ``param_dim`` (length of θ, or ``None`` for
    image-shaped θ as in additive noise), ``kind`` (``"exact"``, ``"surrogate"`` or
    ``"empirical"``: what the certificate means) and ``forward(x, theta)`` mapping
    ``x (B,C,H,W)`` and ``theta (B, param_dim)`` to ``(B,C,H,W)``. Check it with
    :func:`gsmooth.testing.check_transform`.

    Returns:
        A list of classes (not instances). An empty list is allowed.
    """
