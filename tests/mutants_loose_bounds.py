"""Planted bugs in the loose/tight smoothing bounds and ``analyze --bound``: does
tests/test_loose_bounds.py catch them?

Not collected by pytest (run by hand; ~10 s per mutant on one core)::

    OMP_NUM_THREADS=1 PYTHONPATH=.:.pp python tests/mutants_loose_bounds.py

Each mutant copies ``gsmooth/`` to a temporary directory, applies one textual change there (the tree is
never edited), and runs the test file from the copy's folder with the copy first on ``PYTHONPATH``. "caught" = some test fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: (file, old text, new text, what the bug is)
MUTANTS = [
 ("gsmooth/core/loose_bounds.py", "", "", "baseline: no change, must pass"),
 ("gsmooth/core/loose_bounds.py", "delta = (a - np.exp(2.0 * eps) * b) / (1.0 + np.exp(eps))\n    with", "delta = (a - np.exp(eps) * b) / (1.0 + np.exp(eps))\n    with", "pixeldp e^eps instead of e^2eps"),
 ("gsmooth/core/loose_bounds.py", "eps_max = np.minimum(1.0, 0.5 * np.log(a / b))", "eps_max = np.minimum(2.0, 0.5 * np.log(a / b))", "pixeldp eps <= 2"),
 ("gsmooth/core/loose_bounds.py", "return np.maximum(-(2.0 / alpha) * log_g, 0.0)", "return np.maximum(-(2.0 / (alpha - 0.2)) * log_g, 0.0)", "li wrong alpha factor"),
 ("gsmooth/core/loose_bounds.py", "np.log1p(-gap), np.log(rest + 2.0 * mean)", "np.log1p(-gap / 2), np.log(rest + 2.0 * mean)", "li log term halved"),
 ("gsmooth/core/loose_bounds.py", "radius = np.where(a > 0.5, sigma * special.ndtri(a), 0.0)", "radius = np.where(a > 0.5, sigma * np.sqrt(2.0) * special.erfinv(2 * a - 1), 0.0)", "cohen default via erfinv (not bit exact)"),
 ("gsmooth/core/loose_bounds.py", "        if -res.fun > out_value[i]:\n            out_value[i], out_eps[i]", "        if False:\n            out_value[i], out_eps[i]", "pixeldp no refinement"),
 ("gsmooth/core/loose_bounds.py", "        if -res.fun > out_value[i]:\n            out_value[i], out_alpha[i]", "        if False:\n            out_value[i], out_alpha[i]", "li no refinement"),
 ("gsmooth/core/loose_bounds.py", "radius = np.where(a > b, sigma / 2.0 *", "radius = np.where(a >= 0, sigma / 2.0 *", "cohen not 0 at p_a<=p_b"),
 ("gsmooth/evaluation/analysis.py", "    live = table.predict != -1\n    if \"p_lower\"", "    live = np.ones(len(table), bool)\n    if \"p_lower\"", "abstentions re-scored"),
 ("gsmooth/evaluation/analysis.py", "    if transform is not None and transform.split(\"(\", 1)[0].strip() != \"additive\":", "    if False:", "no transform refusal"),
 ("gsmooth/evaluation/analysis.py", "    if \"mstar\" in extra:", "    if False:", "no mstar refusal"),
 ("gsmooth/evaluation/analysis.py", "            raise _rescore_refusal(table, bound, f\"verification rows", "            pass  # (f\"verification rows", "no verification refusal"),
 ("gsmooth/evaluation/analysis.py", "    if values and sigma is not None and not math.isclose", "    if False and not math.isclose", "--sigma contradiction accepted"),
 ("gsmooth/evaluation/analysis.py", "        p = np.where(live, ndtr(np.asarray(table.radius, dtype=float) / s), 0.0)", "        p = np.where(live, ndtr(np.asarray(table.radius, dtype=float) / (2 * s)), 0.0)", "wrong p_A recovery"),
 ("gsmooth/evaluation/analysis.py", "    heading = f\"{unit.key}, re-scored with the {bound} bound ({BOUND_TITLES[bound]})\"", "    heading = unit.key", "heading does not name bound"),
]


def run(path: str, old: str, new: str) -> bool:
    """True when the test file passes with the mutant."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(ROOT / "gsmooth", Path(tmp) / "gsmooth", ignore=shutil.ignore_patterns("__pycache__"))
        target = Path(tmp) / path
        text = target.read_text()
        if old:
            assert text.count(old) == 1, f"mutant text not found once in {path}: {old!r}"
            target.write_text(text.replace(old, new))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([tmp, str(ROOT / ".pp"), str(ROOT / "tests/example_plugin")]))
        r = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", str(ROOT / "tests/test_loose_bounds.py")],
            capture_output=True, text=True, env=env, cwd=tmp,  # not ROOT: `python -m` puts the cwd first
        )
        return r.returncode == 0


def main() -> int:
    missed = 0
    for path, old, new, what in MUTANTS:
        passed = run(path, old, new)
        baseline = not old
        ok = passed if baseline else not passed
        missed += not ok
        print(f"{'ok    ' if ok else 'MISSED'} {what}" + (" (passes)" if baseline else " (caught)" if not passed else ""), flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
