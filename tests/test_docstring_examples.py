"""Every docstring example in gsmooth and its built-in plugins runs and prints what it says.

The examples are the documentation users copy (kornia style); running them keeps them true. Modules
are imported under their installed names (``gsmooth.*``, ``gsmooth_plugins.*``), as a user would.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import gsmooth
import gsmooth_plugins

MODULES = sorted(
    m.name
    for pkg in (gsmooth, gsmooth_plugins)
    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")
    if not m.name.endswith("__main__")
)


def test_the_module_list_is_not_empty():
    assert "gsmooth_plugins.transforms._neyman_pearson" in MODULES and "gsmooth_plugins.transforms.contrast" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, capsys):
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    report = capsys.readouterr().out
    assert result.failed == 0, report
