"""``gsmooth attack``: search a transformation's parameter range for α that change the prediction.

Reports, per image, whether the base model and the smoothed classifier keep the label over the
whole range (grid + signed-gradient search with expectation over noise, see :mod:`gsmooth.evaluation.attack`),
and the empirical robust accuracy of both — an upper bound to set against ``gsmooth certify
--range``'s certified accuracy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..evaluation.attack import attack
from ..errors import InvalidParameterError
from ..core.ranges import format_range
from ..io.results import read_results
from .certify import resolve_range
from .common import (
    HelpFormatter,
    add_model_args,
    batch_int,
    seed_int,
    add_smoothing_args,
    file_sha256,
    nonneg_int,
    parse_range_arg,
    positive_int,
    check_results_out,
    results_interrupted,
    run_config_fields,
    setup_smoother,
    write_rows,
)
from ..run.config import AttackConfig

COLUMNS = [
    "base_correct",  # the base model kept the label at every alpha tried
    "smoothed_correct",  # the smoothed classifier's majority was the label at every alpha evaluated
    "base_prediction",  # base class at worst_theta
    "worst_theta",  # base model's worst alpha (comma-separated per parameter)
    "worst_theta_smoothed",  # smoothed classifier's worst alpha
    "smoothed_vote",  # fraction of votes for the label there
    "base_loss",
    "smoothed_loss",
    "tried",
    "evaluated",
    "differentiable",
    "transform",
    "kind",
    "range",
    "grid",
    "steps",
    "eot",
    "n",
]


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
    p.add_argument("--out", required=True, metavar="TSV", help="results file (TSV; configuration in TSV.json)")
    p.set_defaults(func=run)


def _theta(t) -> str:
    return ",".join(f"{v:.6g}" for v in t)


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
    smoother = setup.smoother
    transform = smoother.transform
    if transform.param_dim is None:
        raise InvalidParameterError(
            f"attack searches a transformation parameter; expected --transform with a parameter (brightness, "
            f"gaussian_blur, …), got {setup.transform_name!r} (additive pixel noise)"
        )
    pairs = resolve_range(config.range, setup)
    low, high = [p[0] for p in pairs], [p[1] for p in pairs]
    range_text = format_range(low, high)
    model_path = Path(config.model).resolve()
    results_config = {
        "command": "attack",
        "model_sha256": file_sha256(model_path),  # the key: a copied or moved checkpoint resumes
        "dataset": setup.dataset_name,
        "split": config.split,
        "noise": smoother.noise.name,
        "noise_params": setup.noise_params,
        "transform": setup.transform_name,
        "transform_params": setup.transform_params,
        "range": range_text,
        "grid": config.grid,
        "steps": config.steps,
        "restarts": config.restarts,
        "eot": config.eot,
        "n": config.n,
        "candidates": config.candidates,
        "seed": config.seed,
        "device_type": smoother.device.type,
    }
    if setup.surrogate_path is not None:
        results_config["surrogate_sha256"] = setup.surrogate_sha256
        results_config["latent_sigma"] = setup.latent_sigma

    def compute(images, keys, labels):
        return attack(
            smoother, images, labels, low=low, high=high, grid=config.grid, steps=config.steps, eot=config.eot,
            n=config.n, restarts=config.restarts, candidates=config.candidates, batch_size=config.batch_size,
            seed=config.seed, keys=keys,
        )

    def to_row(r) -> dict:
        return {
            "base_correct": int(r.base_correct),
            "smoothed_correct": int(r.smoothed_correct),
            "base_prediction": r.base_prediction,
            "worst_theta": _theta(r.worst_theta),
            "worst_theta_smoothed": _theta(r.worst_theta_smoothed),
            "smoothed_vote": r.smoothed_vote,
            "base_loss": r.base_loss,
            "smoothed_loss": r.smoothed_loss,
            "tried": r.tried,
            "evaluated": r.evaluated,
            "differentiable": int(r.differentiable),
            "transform": transform.describe(),
            "kind": transform.kind,
            "range": range_text,
            "grid": r.grid,
            "steps": r.steps,
            "eot": r.eot,
            "n": r.n,
        }

    done = write_rows(
        config, setup, columns=COLUMNS, config=results_config, compute=compute, to_row=to_row, radius=False, desc="attack",
        group=1, with_labels=True,
    )
    elapsed = done.elapsed
    t = read_results(config.out).select(done.indices)  # this command's selection, not every row in the file
    total = len(t)
    base = float(np.mean(t.extra["base_correct"])) if total else 0.0
    smoothed = float(np.mean(t.extra["smoothed_correct"])) if total else 0.0
    units = getattr(transform, "param_units", "") or "parameter units"
    print(
        f"attacked {total} images ({setup.transform_name} over [{range_text}] {units}; grid {args.grid}, steps "
        f"{args.steps}, eot {args.eot}, n {args.n}) in {elapsed:.1f} s: empirical robust accuracy base {base:.3f}, "
        f"smoothed {smoothed:.3f} (upper bounds: the search may miss an alpha); rows in {args.out}"
    )
    return 0

