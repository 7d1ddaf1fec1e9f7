"""``gsmooth attack``: search a transformation's parameter range for α that change the prediction.

Reports, per image, whether the base model and the smoothed classifier keep the label over the
whole range (grid + signed-gradient search with expectation over noise, see :mod:`gsmooth.evaluation.attack`),
and the empirical robust accuracy of both — an upper bound to set against ``gsmooth certify
--range``'s certified accuracy.
"""

from __future__ import annotations


import numpy as np

from ..io.results import read_results
from ..run import runner
from .common import (
    CLI_NAMES,
    HelpFormatter,
    add_launch_args,
    add_model_args,
    batch_int,
    seed_int,
    add_smoothing_args,
    nonneg_int,
    parse_range_arg,
    positive_int,
    check_results_out,
    results_interrupted,
    run_config_fields,
    setup_smoother,
)
from ..run.config import AttackConfig

#: The columns of the rows (:data:`gsmooth.run.runner.ATTACK_COLUMNS`).
COLUMNS = runner.ATTACK_COLUMNS


def add_parser(sub) -> None:
    p = sub.add_parser(
        "attack",
        help="attack a transformation's parameter range (empirical robust accuracy, base and smoothed)",
        description=(
            "For each selected test image, search the parameter range of --transform for a value that changes "
            "the prediction: a dense grid of --grid values per parameter, then (where the transform is "
            "differentiable in its parameter) --steps projected signed-gradient steps from the best grid points; "
            "for the smoothed classifier the loss is the cross-entropy of the soft smoothed prediction averaged "
            "over --eot noise draws, and the worst candidates are evaluated with --n Monte Carlo votes (majority "
            "class). Rows: idx label predict (smoothed majority at its worst alpha) correct (smoothed robust) "
            "time, then base_correct, smoothed_correct, worst_theta, … Re-running resumes."
        ),
        epilog="example: gsmooth attack --model fm_bright.pt --transform brightness --range -0.4:0.4 --max 100 --out attack.tsv",
        formatter_class=HelpFormatter,
    )
    add_model_args(p)
    add_smoothing_args(p)
    g = p.add_argument_group("search")
    g.add_argument("--range", type=parse_range_arg, default=None, metavar="LO:HI",
                   help="parameter range to search, LO1:HI1,LO2:HI2 for two parameters (None: the transform's default range)")
    g.add_argument("--grid", type=positive_int, default=21, help="grid values per parameter (ends included)")
    g.add_argument("--steps", type=nonneg_int, default=10, help="signed-gradient steps per restart (0: grid only)")
    g.add_argument("--restarts", type=positive_int, default=3, help="gradient searches from this many best grid points")
    g.add_argument("--eot", type=positive_int, default=8, help="noise draws per smoothed-loss evaluation (expectation over noise)")
    g.add_argument("--n", type=positive_int, default=1000, help="Monte Carlo votes per smoothed evaluation")
    g.add_argument("--candidates", type=positive_int, default=3, help="alphas at which the smoothed classifier is evaluated")
    g = p.add_argument_group("sampling")
    g.add_argument("--batch", type=batch_int, default=1000, help="samples per forward pass")
    g.add_argument("--seed", type=seed_int, default=0, help="base seed")
    g.add_argument("--skip", type=positive_int, default=1, help="evaluate every SKIP-th image of the split")
    g.add_argument("--start", type=nonneg_int, default=0, help="index of the first image")
    g.add_argument("--max", type=positive_int, default=None, help="attack at most MAX images (None: all)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_launch_args(p)
    p.add_argument("--out", required=True, metavar="TSV", help="results file (TSV; configuration in TSV.json)")
    p.set_defaults(func=run)


#: After Ctrl-C / SIGTERM (see :func:`gsmooth.cli.interrupted_message`).
interrupted = results_interrupted


def attack_config(args) -> AttackConfig:
    """The run configuration of ``gsmooth attack``'s arguments."""
    return AttackConfig(
        **run_config_fields(args), range="default" if args.range is None else args.range, grid=args.grid,
        steps=args.steps, restarts=args.restarts, eot=args.eot, candidates=args.candidates,
    )


def run(args) -> int:
    config = attack_config(args)
    check_results_out(config)  # before loading anything: the output may be written
    setup = setup_smoother(config)
    done = runner.attack(config, setup=setup, names=CLI_NAMES)
    range_text = done.range
    elapsed = done.elapsed
    t = read_results(config.out).select(done.indices)  # this command's selection, not every row in the file
    total = len(t)
    base = float(np.mean(t.extra["base_correct"])) if total else 0.0
    smoothed = float(np.mean(t.extra["smoothed_correct"])) if total else 0.0
    units = done.units or "parameter units"
    print(
        f"attacked {total} images ({setup.transform_name} over [{range_text}] {units}; grid {args.grid}, steps "
        f"{args.steps}, eot {args.eot}, n {args.n}) in {elapsed:.1f} s: empirical robust accuracy base {base:.3f}, "
        f"smoothed {smoothed:.3f} (upper bounds: the search may miss an alpha); rows in {args.out}"
    )
    return 0

