"""Helpers shared by the fuzz suites (``tests/test_fuzz_cli.py``, ``tests/test_fuzz_api.py``).

See ``tests/conftest.py`` for the hypothesis profiles (``ci`` by default, ``long`` by hand).
"""

from __future__ import annotations

from hypothesis import settings


def fuzz_examples(weight: float) -> int:
    """Examples for one fuzz test: ``weight`` times the loaded profile's ``max_examples`` (at least
    1), so that a cheap test (``analyze``) runs more examples than an expensive one (``train``) in
    every profile."""
    return max(1, round(settings.default.max_examples * weight))
