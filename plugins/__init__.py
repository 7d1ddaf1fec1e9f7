"""Built-in gsmooth plugins (installed as the package ``gsmooth_plugins``).

They import only the public ``gsmooth`` API and register through the same hooks as third-party
plugins; the registry lists them in ``gsmooth.plugin.registry.DEFAULT_PLUGINS``.
"""
