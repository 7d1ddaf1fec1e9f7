"""Statistical soundness report: the measurements of ``tests/test_statistics.py`` at larger scale.

For base classifiers whose smoothed classifier and true robust radius are known in closed form
(a linear model under Gaussian noise, ℓ2; a one-pixel threshold under Laplace and uniform noise,
ℓ1 — tight certificates), it certifies many independent copies of one image and prints markdown
tables of

1. Clopper–Pearson miss rates P(p_lower > p) (seeded numpy draws) vs α, with the exact rate;
2. CERTIFY violation rates (non-abstained and wrong class or radius > true radius) vs α, with the
   exact rate summed over all counts and the α + 4·sd acceptance bound;
3. mean certified radius / true radius by n (convergence from below);
4. PREDICT error rates (wrong class; at p_A = ½ any answer) vs α.

The helpers (models, exact truths, engine calls) are imported from the test module so the report
and the tests measure the same thing.

Usage::

    python experiments/statistics_report.py                 # defaults: ~2–3 min on 2 CPU cores
    python experiments/statistics_report.py --trials 10000 --alphas 0.1 0.05 0.01
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _load_helpers():
    path = ROOT / "tests" / "test_statistics.py"
    if str(path.parent) not in sys.path:  # the test module imports its neighbour toy_models, as under pytest
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("gsmooth_test_statistics", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


T = _load_helpers()


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _seed(args, *tags) -> int:
    """An engine seed for one measurement, derived from --seed and the measurement's tags.

    SeedSequence mixing keeps these streams apart from each other and from the small literal seeds
    the test module uses, so the report is an independent replication, not a rerun of the tests.
    """
    return int(np.random.SeedSequence([args.seed, *tags]).generate_state(1)[0])


def _flag(ok: bool) -> str:
    return "ok" if ok else "**FAIL**"


def clopper_pearson_section(args) -> str:
    rows = []
    for n in args.cp_ns:
        for p in args.cp_ps:
            rng = np.random.default_rng(_seed(args, 1, n, int(round(p * 1e4))))
            counts = rng.binomial(n, p, size=args.cp_trials)
            values, inverse = np.unique(counts, return_inverse=True)
            for alpha in args.alphas:
                rate = float((np.asarray(T.clopper_pearson_lower(values, n, alpha))[inverse] > p).mean())
                exact = T.cp_exceed_prob(p, n, alpha)
                bound = alpha + T.Z * math.sqrt(alpha * (1 - alpha) / args.cp_trials)
                ok = exact <= alpha and rate <= bound and abs(rate - exact) <= T.tolerance(exact, args.cp_trials)
                rows.append([p, n, alpha, f"{rate:.4f}", f"{exact:.4f}", f"{bound:.4f}", _flag(ok)])
    return "### 1. Clopper–Pearson: P(p_lower > p)\n\n" + _table(
        ["p", "n", "α", "measured", "exact", "α + 4sd", ""], rows
    ) + f"\n\n{args.cp_trials} binomial draws per (p, n)."


def certify_section(args) -> str:
    rows = []
    for noise in args.noises:
        for i, p_a in enumerate(args.p_as):
            # alternate the true class so both classes are exercised
            case = T.MAKE_CASE[noise](p_a, true_class=1 if i % 2 == 0 else 0)
            for alpha in args.alphas:
                t0 = time.time()
                seed = _seed(args, 2, args.noises.index(noise), i, args.alphas.index(alpha))
                got = T.run_certify(case, trials=args.trials, n=args.n, alpha=alpha, seed=seed, n0=args.n0)
                truth = T.certify_truth(case, args.n, args.n0, alpha)
                bound = alpha + T.Z * math.sqrt(alpha * (1 - alpha) / args.trials)
                ok = got["violation"] <= bound and abs(got["violation"] - truth["violation"]) <= T.tolerance(
                    truth["violation"], args.trials
                )
                rows.append([
                    noise, f"{case.p_a:.4g}", case.true_class, f"{case.true_radius:.4f}", alpha,
                    f"{got['violation']:.4f}", f"{truth['violation']:.4f}", f"{bound:.4f}",
                    f"{got['abstain']:.4f}", f"{got['wrong_class']:.4f}",
                    f"{got['mean_radius'] / case.true_radius:.4f}", f"{truth['mean_radius'] / case.true_radius:.4f}",
                    _flag(ok),
                ])
                _log(f"  certify {case.label} α={alpha}: {time.time() - t0:.1f}s")
    return (
        f"### 2. CERTIFY violation rate (n0={args.n0}, n={args.n}, {args.trials} trials each)\n\n"
        "violation = non-abstained and (wrong class or radius > true radius); the certificates are tight "
        "here, so for the right class a violation is exactly p_lower > p_A.\n\n"
        + _table(
            ["noise", "p_A", "class", "R*", "α", "violation", "exact", "α + 4sd", "abstain", "wrong class",
             "mean R / R*", "exact mean R / R*", ""],
            rows,
        )
    )


def convergence_section(args) -> str:
    rows = []
    p_of = {"gaussian": args.conv_p, "laplace": args.conv_p, "uniform": args.conv_p_uniform}
    for noise in args.noises:
        case = T.MAKE_CASE[noise](p_of[noise])
        prev = -math.inf
        for j, (n, trials) in enumerate(zip(args.conv_ns, args.conv_trials)):
            t0 = time.time()
            got = T.run_certify(case, trials=trials, n=n, alpha=args.conv_alpha, seed=_seed(args, 3, args.noises.index(noise), j), n0=args.n0)
            truth = T.certify_truth(case, n, args.n0, args.conv_alpha)
            sd = truth["sd_radius"] / math.sqrt(trials)
            ok = (abs(got["mean_radius"] - truth["mean_radius"]) <= T.Z * sd + 1e-9
                  and got["mean_radius"] < case.true_radius and got["mean_radius"] > prev)
            prev = got["mean_radius"]
            rows.append([
                noise, f"{case.p_a:.4g}", f"{case.true_radius:.4f}", n, trials,
                f"{got['mean_radius']:.4f}", f"{got['mean_radius'] / case.true_radius:.4f}",
                f"{truth['mean_radius'] / case.true_radius:.4f}", f"{got['max_radius'] / case.true_radius:.4f}",
                f"{got['violation']:.4f}", _flag(ok),
            ])
            _log(f"  convergence {case.label} n={n}: {time.time() - t0:.1f}s")
    return (
        f"### 3. Mean certified radius / true radius by n (α={args.conv_alpha}, n0={args.n0})\n\n"
        + _table(["noise", "p_A", "R*", "n", "trials", "mean R", "mean R / R*", "exact", "max R / R*",
                  "violation", ""], rows)
    )


def predict_section(args) -> str:
    rows = []
    for p_a in args.pred_ps:
        case = T.gaussian_case(p_a)
        for alpha in args.alphas:
            t0 = time.time()
            got = T.run_predict(case, trials=args.pred_trials, n=args.pred_n, alpha=alpha,
                                seed=_seed(args, 4, args.pred_ps.index(p_a), args.alphas.index(alpha)))
            truth = T.predict_truth(case.p_a, args.pred_n, alpha)
            tie = abs(p_a - 0.5) < 1e-12
            err, exact = (got["answer"], truth["answer"]) if tie else (got["wrong"], truth["wrong"])
            bound = alpha + T.Z * math.sqrt(alpha * (1 - alpha) / args.pred_trials)
            ok = err <= bound and abs(err - exact) <= T.tolerance(exact, args.pred_trials)
            rows.append([
                f"{p_a:g}", alpha, f"{err:.4f}", f"{exact:.3g}", f"{bound:.4f}",
                f"{got['answer']:.4f}", f"{truth['answer']:.4f}", _flag(ok),
            ])
            _log(f"  predict p_A={p_a} α={alpha}: {time.time() - t0:.1f}s")
    return (
        f"### 4. PREDICT error rate (Gaussian σ=0.5 linear model, n={args.pred_n}, {args.pred_trials} trials)\n\n"
        "error = a wrong class; at p_A = 0.5 (a tie) any answer.\n\n"
        + _table(["p_A", "α", "error", "exact", "α + 4sd", "answered", "exact answered", ""], rows)
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.1, 0.01])
    ap.add_argument("--noises", nargs="+", default=["gaussian", "laplace", "uniform"],
                    choices=["gaussian", "laplace", "uniform"])
    ap.add_argument("--cp-trials", type=int, default=200_000)
    ap.add_argument("--cp-ns", type=int, nargs="+", default=[50, 1000, 10_000])
    ap.add_argument("--cp-ps", type=float, nargs="+", default=[0.5, 0.9, 0.99, 0.999])
    ap.add_argument("--trials", type=int, default=2000, help="certified copies per (noise, p_A, α)")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--n0", type=int, default=100)
    ap.add_argument("--p-as", type=float, nargs="+", default=[0.8, 0.95, 0.99])
    ap.add_argument("--conv-alpha", type=float, default=0.001)
    ap.add_argument("--conv-p", type=float, default=0.99, help="p_A for Gaussian and Laplace convergence")
    ap.add_argument("--conv-p-uniform", type=float, default=0.9)
    ap.add_argument("--conv-ns", type=int, nargs="+", default=[100, 1000, 10_000, 100_000])
    ap.add_argument("--conv-trials", type=int, nargs="+", default=[2000, 500, 100, 10])
    ap.add_argument("--pred-ps", type=float, nargs="+", default=[0.5, 0.55, 0.6])
    ap.add_argument("--pred-n", type=int, default=200)
    ap.add_argument("--pred-trials", type=int, default=4000)
    args = ap.parse_args(argv)
    if len(args.conv_ns) != len(args.conv_trials):
        ap.error("--conv-ns and --conv-trials need the same length")

    start = time.time()
    sections = []
    for name, fn in [("Clopper–Pearson", clopper_pearson_section), ("CERTIFY", certify_section),
                     ("convergence", convergence_section), ("PREDICT", predict_section)]:
        _log(f"{name} ...")
        sections.append(fn(args))
    print("## gsmooth statistical soundness report\n")
    print("\n\n".join(sections))
    print(f"\nseed={args.seed}; acceptance: measured ≤ α + 4sd and within 4sd (+2/trials) of the exact rate; "
          f"total {time.time() - start:.0f}s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
