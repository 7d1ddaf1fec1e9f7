"""Helpers shared by the fuzz suites (``tests/test_fuzz_cli.py``, ``tests/test_fuzz_api.py``).

See ``tests/conftest.py`` for the hypothesis profiles (``ci`` by default, ``long`` by hand).
"""

from __future__ import annotations

import contextlib
import os

from hypothesis import settings


def fuzz_examples(weight: float) -> int:
    """Examples for one fuzz test: ``weight`` times the loaded profile's ``max_examples`` (at least
    1), so that a cheap test (``analyze``) runs more examples than an expensive one (``train``) in
    every profile."""
    return max(1, round(settings.default.max_examples * weight))


#: Memory a fuzz module may add to the process (address space): an example that would take all the
#: machine's memory (a ResNet of depth 8·10^21, say) fails with torch's allocation error instead —
#: a bare RuntimeError, so the property reports it — and the machine, shared with others, survives.
FUZZ_MEMORY_HEADROOM = 6 << 30


def _address_space() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@contextlib.contextmanager
def bounded_memory(headroom: int = FUZZ_MEMORY_HEADROOM):
    """Lower the soft RLIMIT_AS to the current address space plus ``headroom`` for the duration
    (Linux; a no-op elsewhere, and with CUDA, whose driver reserves address space by the terabyte)."""
    try:
        import resource

        import torch
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    used = _address_space()
    if used is None or torch.cuda.is_available() or os.environ.get("GSMOOTH_FUZZ_NO_MEMORY_LIMIT"):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = used + headroom
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
