"""Planted bugs in the geometric speed bounds: does tests/test_speed_bounds_geometric.py catch them?

Not collected by pytest (run by hand; ~30 s per mutant on one core):

    PYTHONPATH=. python tests/mutants_speed_bounds.py [--end-to-end] [NAME ...]

Each mutant copies ``plugins/`` to a temporary directory, applies one textual change, and runs the
test file against the copy (as ``gsmooth_plugins``). "caught" = some test fails. ``--end-to-end``
runs only the tests that look at τ itself (bound vs measured speed, pairs), not the unit tests of
the boxes/speeds and of the padding fold.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
C = "transforms/_common.py"

#: name -> (file under plugins/, old text, new text, what the bug is)
MUTANTS = {
    "baseline": (C, "", "", "no change: must pass (else every 'catch' means nothing)"),
    "radians": (C, "rad = math.pi / 180.0", "rad = 1.0",
                "θ read as radians where it is in degrees (arc boxes and speed 57× too long)"),
    "radians-speed": (C, "speed = frac * rad * r  # |dq/dα|", "speed = frac * r  # |dq/dα|",
                      "speed per radian where θ is in degrees (57× too large; boxes right)"),
    "radians-box": (C, "t0, t1 = a * frac * rad + phi, b * frac * rad + phi",
                    "t0, t1 = a * frac * (rad * rad) + phi, b * frac * (rad * rad) + phi",
                    "degrees converted twice in the arc box (box too short)"),
    "radians-both": (C, "rad = math.pi / 180.0", "rad = (math.pi / 180.0) ** 2",
                     "degrees converted twice everywhere (speed 57× too small)"),
    "no-zero-padding": (C, 'ext, offset = fn.pad(x64, (1, 1, 1, 1), mode="constant", value=0.0), 2',
                        'ext, offset = fn.pad(x64[None], (1, 1, 1, 1), mode="replicate")[0], 2',
                        "zeros padding: the jump from the edge pixels to 0 forgotten"),
    "reflection-as-border": (C, "    period = 2 * top\n", "    return h0.clamp(0, top), h1.clamp(0, top)\n    period = 2 * top\n",
                             "reflection folded like border (clamped)"),
    "centre-face-only": (C, "        ku0, ku1 = _canonical_faces(hu0, hu1, w, padding_mode)",
                         "        hu0 = hu1 = (torch.floor((u_lo + u_hi) / 2) + torch.ceil((u_lo + u_hi) / 2)).to(torch.int64)\n"
                         "        hv0 = hv1 = (torch.floor((v_lo + v_hi) / 2) + torch.ceil((v_lo + v_hi) / 2)).to(torch.int64)\n"
                         "        ku0, ku1 = _canonical_faces(hu0, hu1, w, padding_mode)",
                         "only the face at the box centre (the gradient where the point is, not where it goes)"),
    "closed-cells-floor": (C, "hu1 = (torch.floor(u_hi) + torch.ceil(u_hi)).to(torch.int64)",
                           "hu1 = (2 * torch.floor(u_hi)).to(torch.int64)",
                           "face range ends at the grid line below u_hi (misses the last open cell)"),
    "one-row-per-cell": (C, "gu[:, 1::2, 1::2] = torch.maximum(du[:, :-1, :], du[:, 1:, :])",
                         "gu[:, 1::2, 1::2] = du[:, :-1, :]",
                         "in a cell, |∂I/∂u| bounded by the upper row's difference only"),
    "scale-1/s": (C, "rate = torch.where(1.0 + zb > m, frac / (fa * fa), torch.zeros_like(fa))",
                  "rate = torch.where(1.0 + zb > m, frac / fa, torch.zeros_like(fa))",
                  "scaling speed |d|/s instead of |d|/s²"),
    "scale-at-b": (C, "rate = torch.where(1.0 + zb > m, frac / (fa * fa), torch.zeros_like(fa))",
                   "rate = torch.where(1.0 + zb > m, frac / (fb * fb), torch.zeros_like(fa))",
                   "scaling speed taken at the piece's larger factor (its minimum, not its sup)"),
    "weights-squared": ("transforms/rotational_blur.py", "[1.0 / k] * (k - 1)", "[1.0 / k**2] * (k - 1)",
                        "rotational blur: mean taken twice"),
    "zoom-no-fraction-box": (C, "        za, zb = a * frac, b * frac\n", "        za, zb = a * frac.max(), b * frac.max()\n",
                             "zoom blur: every sample's box drawn for the largest factor"),
    "motion-swap": ("transforms/motion_blur.py", "velocities = [(-cu, -cv) for cu, cv in",
                    "velocities = [(-cv, -cu) for cu, cv in", "motion blur: u and v velocities swapped"),
    "centre-w/2": (C, "    cu, cv = (w - 1) / 2.0, (h - 1) / 2.0\n    du, dv = u - cu, v - cv  # exact",
                   "    cu, cv = w / 2.0, h / 2.0\n    du, dv = u - cu, v - cv  # exact",
                   "rotation centre W/2 (align_corners=False convention) instead of (W−1)/2"),
    "clockwise": (C, "r, phi = torch.hypot(du, dv), torch.atan2(dv, du)", "r, phi = torch.hypot(du, dv), torch.atan2(-dv, du)",
                  "rotation arc drawn the wrong way round"),
    "no-arc-extremes": (C, "u_max, u_min = _holds(t0, t1, 0.0), _holds(t0, t1, math.pi)",
                        "u_max, u_min = _holds(t0, t1, 0.0) & False, _holds(t0, t1, math.pi) & False",
                        "arc box from its end points only (misses the arc's bulge past u's extremes)"),
    "sin-at-mid": (C, "sup_sin = torch.where(v_max | v_min, one, torch.maximum(s0.abs(), s1.abs())) + trig_slack",
                   "sup_sin = torch.sin((t0 + t1) / 2).abs()",
                   "|sin t| at the piece midpoint instead of its sup"),
    "no-widening": (C, "_BOX_SLACK = 1e-9", "_BOX_SLACK = 0.0", "no widening of box ends for rounding"),
    "no-round-up": (C, "_ROUND_UP = 1.0 + 1e-9", "_ROUND_UP = 1.0", "no final round-up"),
}


END_TO_END = False


def run(name: str) -> bool:
    path, old, new, _ = MUTANTS[name]
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "plugins"
        shutil.copytree(ROOT / "plugins", copy, ignore=shutil.ignore_patterns("__pycache__"))
        f = copy / path
        text = f.read_text()
        if old and text.count(old) != 1:
            raise SystemExit(f"{name}: the text to mutate occurs {text.count(old)} times in {path}")
        f.write_text(text.replace(old, new))
        pp = Path(tmp) / "pp"
        pp.mkdir()
        (pp / "gsmooth_plugins").symlink_to(copy)
        env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{pp}", OMP_NUM_THREADS="1")
        cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
               str(ROOT / "tests" / "test_speed_bounds_geometric.py")]
        if END_TO_END:
            cmd += ["-k", "not boxes and not canonical and not model_is"]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp)
        lines = res.stdout.splitlines()
        failed = [ln.split("::", 1)[-1] for ln in lines if ln.startswith("FAILED")]
        why = [ln[1:].strip()[:110] for ln in lines if ln.startswith("E ")]
        verdict = ("FAILS" if res.returncode else "passes") if name == "baseline" else (
            "CAUGHT" if res.returncode else "missed")
        print(f"{name:22s} {verdict}  {failed[0] if failed else ''}", flush=True)
        if why:
            print(f"{'':24s}{why[0]}", flush=True)
        return res.returncode != 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--end-to-end" in args:
        END_TO_END = True
        args.remove("--end-to-end")
    names = args or list(MUTANTS)
    if "baseline" in names and run("baseline"):
        raise SystemExit("the unmutated code fails the tests")
    caught = [run(n) for n in names if n != "baseline"]
    print(f"{sum(caught)}/{len(caught)} caught")
