"""Shared pytest configuration: the hypothesis settings profiles of the fuzz suites
(``tests/test_fuzz_cli.py``, ``tests/test_fuzz_api.py``).

Two profiles, chosen with the ``HYPOTHESIS_PROFILE`` environment variable:

- ``ci`` (the default, what ``pytest`` and ``bash .ci/run`` use): ``max_examples=40``, scaled per
  test by its cost (:func:`fuzz_support.fuzz_examples`: 0.5x to 8x), ``derandomize=True`` (the same
  examples on every run: a CI failure reproduces by re-running it; no example database is read or
  written),
  ``deadline=None`` (one CLI call may take a second on a loaded 2-core machine; a deadline would make
  the suite flaky, not stricter). The two fuzz files add ≈ 80 s to ``pytest`` on 2 CPU cores.
- ``long``: 300 examples per test (≈ 8 minutes for both files), random (not derandomized) and
  remembered in ``.hypothesis/`` (so a failure found once is replayed first next time); run it by
  hand, as often as you like::

      HYPOTHESIS_PROFILE=long OMP_NUM_THREADS=1 pytest tests/test_fuzz_cli.py tests/test_fuzz_api.py

Health checks: ``too_slow`` is suppressed because an example's cost is dominated by the CLI call or
the Monte Carlo sampling it fuzzes, not by data generation; ``function_scoped_fixture`` because the
fuzz tests read ``capsys`` (and reset it) once per example and make their own temporary folder per
example instead of relying on ``tmp_path``; ``data_too_large`` because an interactive ``st.data()``
draw of many options may exceed the buffer on rare examples (hypothesis then simply discards them).
"""

from __future__ import annotations

import os

import pytest

from hypothesis import HealthCheck, settings

_SUPPRESSED = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=_SUPPRESSED,
)
settings.register_profile(
    "long",
    max_examples=300,
    deadline=None,
    derandomize=False,
    print_blob=True,
    suppress_health_check=_SUPPRESSED,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))



@pytest.fixture
def one_torch_thread():
    """Run the test's in-process work on one torch thread (restored after): rows compared bit for
    bit with reference files or with 1-thread worker processes (torch splits float reductions per
    thread, so an attack's losses differ in the last digits at another thread count)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
