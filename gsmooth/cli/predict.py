"""``gsmooth predict``: Cohen's PREDICT, on test images (one TSV row per image) or on your own files
(``--input``: one JSON line per image, optionally with a certificate, ``--certify``)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time

from ..data.datasets import dataset_info
from ..errors import InvalidParameterError, UnknownComponentError
from ..io.results import read_results
from .common import (
    CLI_NAMES, HelpFormatter, add_launch_args, add_model_args, add_sampling_args, add_smoothing_args, apply_embedded_default,
    check_results_out,
    results_interrupted,
    input_paths,
    positive_int, radii_arg, run_config_fields, setup_smoother, target_radii,
)
from ..run import runner
from ..run.runner import inner_progress
from ..run.config import PredictConfig

#: The columns of the rows in dataset mode (:data:`gsmooth.run.runner.PREDICT_COLUMNS`).
COLUMNS = runner.PREDICT_COLUMNS

#: --n0 when certifying files and none is given (as `gsmooth certify`).
DEFAULT_N0 = 100
#: --split's value in dataset mode when none is given (its default is unset so that file mode can
#: tell an explicit --split from the default).
DEFAULT_SPLIT = "test"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="smoothed predictions (class or abstain) for test images or your own image files",
        description=(
            "Predict each selected test image with Cohen et al.'s PREDICT: n noisy samples vote; the top "
            "class is returned only if a binomial test against the runner-up has p-value <= alpha "
            "(otherwise predict = -1), so a returned class differs from the smoothed classifier's with "
            "probability at most alpha. One row per image in --out; re-running resumes. "
            "With --input, predict your own images instead (a folder of PNG/JPEG files, one image, a .npy "
            "file or a .pt/.pth tensor): one JSON line per image on standard output or in --out; "
            "--certify adds a certified radius (Cohen's CERTIFY)."
        ),
        epilog=(
            "examples: gsmooth predict --model fm_sigma025.pt --n 1000 --max 500 --out predictions.tsv\n"
            "          gsmooth predict --model fm_sigma025.pt --input photos/ --resize --certify --out photos.jsonl"
        ),
        formatter_class=HelpFormatter,
    )
    add_model_args(p, embedded=True)
    add_smoothing_args(p)
    add_sampling_args(p, n_default=10_000, certify=False, embedded_max=True)
    p.set_defaults(split=None)  # default DEFAULT_SPLIT, applied in dataset mode (see module constant)
    g = p.add_argument_group(
        "your files (instead of a dataset; --start/--skip/--max select among the inputs, sorted by name)"
    )
    g.add_argument(
        "--input", metavar="PATH",
        help="a folder of .png/.jpg/.jpeg images (sorted by name, not recursive), one image file, a .npy file "
        "or a .pt/.pth file holding a tensor (uint8, or float in [0, 1]; (N,C,H,W), (N,H,W,C), (N,H,W) or one image)",
    )
    g.add_argument("--certify", action="store_true", help="with --input: certify each image (class, radius, p_lower) instead of PREDICT")
    g.add_argument("--n0", type=positive_int, default=None, help=f"with --certify: samples to select the top class (default: {DEFAULT_N0})")
    g.add_argument("--resize", action="store_true", help="with --input: resize images of another size to the model's (bilinear)")
    g.add_argument(
        "--radii", type=radii_arg, default=None, metavar="R[,R...]",
        help="with --certify: target radii; stop each image once its radius reaches the largest target it can reach "
        "(--n is then the maximum; lines gain 'samples', the draws used)",
    )
    g.add_argument("--target", type=radii_arg, default=None, metavar="R", help="with --certify: one target radius (= --radii R)")
    add_launch_args(p)
    p.add_argument(
        "--out", metavar="FILE",
        help="dataset: results file (TSV; configuration in TSV.json), required; with --input: JSON-lines file, "
        "'-' for standard output (default)",
    )
    p.set_defaults(func=run)


def interrupted(args) -> str:
    """After Ctrl-C / SIGTERM (see :func:`gsmooth.cli.interrupted_message`)."""
    note = getattr(args, "interrupted_note", None)
    if note:
        return note
    if getattr(args, "input", None) is None:
        return results_interrupted(args)
    return "nothing was written"


def run(args) -> int:
    if args.input is not None:
        return run_files(args)
    file_only = [
        flag for flag, given in (
            ("--certify", args.certify), ("--resize", args.resize), ("--n0", args.n0 is not None),
            ("--radii", args.radii is not None), ("--target", args.target is not None),
        ) if given
    ]
    if file_only:
        raise InvalidParameterError(
            f"{', '.join(file_only)} expected --input (your image files), got none; on a dataset use `gsmooth certify`"
            if "--certify" in file_only else f"{', '.join(file_only)} expected --input (your image files), got none"
        )
    if args.model is None:  # the embedded model on the embedded test images; default --out
        apply_embedded_default(args, "predict")
    if not args.out:
        raise InvalidParameterError(
            "--out expected a results file (TSV) to predict dataset images, got none (or pass --input PATH to predict your own images)"
        )
    if args.split is None:
        args.split = DEFAULT_SPLIT
    return run_dataset(args)


def predict_config(args) -> PredictConfig:
    """The run configuration of ``gsmooth predict``'s arguments (after the defaults of its mode)."""
    fields = run_config_fields(args) | {"split": args.split or DEFAULT_SPLIT}
    return PredictConfig(
        **fields, alpha=args.alpha, input=args.input, certify=args.certify, n0=args.n0, resize=args.resize,
        radii=target_radii(args),
    )


def run_dataset(args) -> int:
    """Dataset mode: one resumable TSV row per selected test image."""
    config = predict_config(args)
    check_results_out(config)  # before loading anything: the output may be written
    setup = setup_smoother(config)
    done = runner.predict(config, setup=setup, names=CLI_NAMES)
    elapsed = done.elapsed
    t = read_results(config.out).select(done.indices)  # this command's selection, not every row in the file
    total = len(t)
    accuracy = float(t.correct.mean()) if total else 0.0
    abstained = float((t.predict == -1).mean()) if total else 0.0
    print(f"predicted {total} images in {elapsed:.1f} s: accuracy {accuracy:.3f}, abstained {abstained:.3f}; rows in {config.out}")
    return 0


# ------------------------------------------------------------------------------------------------
# file mode (--input): JSON lines
# ------------------------------------------------------------------------------------------------


def _check_file_mode_args(args) -> None:
    dataset_only = [
        flag for flag, given in (
            ("--dataset", args.dataset is not None),
            ("--split", args.split is not None),
            ("--data-dir", args.data_dir is not None),
            ("--download", bool(args.download)),
        ) if given
    ]
    if dataset_only:
        raise InvalidParameterError(
            f"--input expected no dataset options, got {', '.join(dataset_only)} (they choose dataset images; "
            "--start/--skip/--max select among the input files)"
        )
    if args.n0 is not None and not args.certify:
        raise InvalidParameterError(f"--n0 expected --certify (PREDICT uses --n only), got --n0 {args.n0} without it")
    radii = target_radii(args)
    if radii is not None and not args.certify:
        flag = "--target" if args.target is not None else "--radii"
        raise InvalidParameterError(
            f"{flag} expected --certify (target radii of a certificate; PREDICT has none), got {flag} "
            f"{','.join(f'{r:g}' for r in radii)} without it"
        )


def class_names(ckpt) -> tuple[str, ...] | None:
    """The class names of the checkpoint's dataset, or None (unknown dataset, other class count)."""
    try:
        names = dataset_info(ckpt.dataset).classes
    except UnknownComponentError:
        return None
    return tuple(names) if len(names) == ckpt.num_classes else None


def _class_fields(name: str, result, names) -> dict:
    """The fields every JSON line starts with: file, class, class name, abstained."""
    cls = int(result.prediction)
    return {
        "file": name,
        "class": cls,
        "class_name": names[cls] if names is not None and cls >= 0 else None,
        "abstained": cls == -1,
    }


def prediction_line(name: str, pr, names) -> dict:
    """One JSON object for a :class:`gsmooth.Prediction`."""
    return {
        **_class_fields(name, pr, names),
        "count": int(pr.count),
        "n": int(pr.n),
        "p_value": float(pr.p_value),
        "alpha": float(pr.alpha),
    }


def certificate_line(name: str, cert, names) -> dict:
    """One JSON object for a :class:`gsmooth.Certificate`."""
    return {
        **_class_fields(name, cert, names),
        "radius": float(cert.radius),
        "norm": cert.norm,
        "p_lower": float(cert.p_lower),
        "count": int(cert.count),
        "n0": int(cert.n0),
        "n": int(cert.n),
        "alpha": float(cert.alpha),
        "noise": cert.noise,
        "transform": cert.transform,
        "kind": cert.kind,
        "guarantee": cert.guarantee,
    }


def _check_jsonl_out(config: PredictConfig) -> None:
    """``--out`` of file mode: a new file, not an input (``-``: standard output)."""
    if config.out is None or config.out == "-":
        return
    from ..io.output_files import check_output_file

    check_output_file(config.out, inputs=input_paths(config), advice="choose another --out, delete it, or use --out - (standard output)")


def run_files(args) -> int:
    """File mode: one JSON line per input image, written and flushed as it is computed."""
    from ..io.image_files import open_images

    _check_file_mode_args(args)
    config = predict_config(args)
    _check_jsonl_out(config)  # before loading anything
    if config.model is None:  # the embedded model of --transform (additive: Fashion-MNIST, sigma 0.25)
        from ..embedded import embedded_default

        config = dataclasses.replace(config, model=str(embedded_default(config.transform).model_path))
    setup = setup_smoother(config)
    smoother = setup.smoother
    source = open_images(config.input, setup.checkpoint.input_shape, resize=config.resize)
    indices = config.selected(len(source))
    if not indices:
        raise InvalidParameterError(f"--start expected an index below the {len(source)} input images, got {config.start}")
    names = class_names(setup.checkpoint)
    n0 = config.n0 if config.n0 is not None else DEFAULT_N0
    if config.certify:
        from .certify import check_certifiable

        if smoother.transform.param_dim is not None:  # as `gsmooth certify`: empirical transforms refused
            check_certifiable(setup)
        smoother.transform.check_point_certificate()
    group = max(1, config.batch_size // (max(config.n, n0) if config.certify else config.n))  # as write_rows: O(batch)
    progress_inside = inner_progress(config, group * ((n0 + config.n) if config.certify else config.n))
    if config.certify:
        def compute(images, keys):
            return smoother.certify(images, n0=n0, n=config.n, alpha=config.alpha, batch_size=config.batch_size,
                                    seed=config.seed, keys=keys, progress=progress_inside, radii=config.radii)

        verb = "certified"
        if config.radii is None:
            to_line = certificate_line
        else:  # sequential: the draws used (n is the maximum)
            def to_line(name, cert, names):
                return {**certificate_line(name, cert, names), "samples": int(cert.samples), "radii": list(config.radii)}
    else:
        def compute(images, keys):
            return smoother.predict(images, n=config.n, alpha=config.alpha, batch_size=config.batch_size,
                                    seed=config.seed, keys=keys, progress=progress_inside)

        to_line, verb = prediction_line, "predicted"
    from ..io.output_files import atomic_output
    from ..run import distributed

    ctx = distributed.context(smoother.device)
    if ctx is not None:  # torchrun / --nproc: each rank its share of the files, rank 0 merges in input order
        return _run_files_distributed(ctx, config, source, indices, group, compute, to_line, names, verb)
    to_stdout = (config.out or "-") == "-"
    where = "standard output" if to_stdout else config.out
    written = abstained = 0
    bar = None
    t_start = time.perf_counter()
    # a file appears complete (temporary file + rename) or, after Ctrl-C/SIGTERM, with the lines
    # computed so far (said below); an error leaves no file
    sink = contextlib.nullcontext(sys.stdout) if to_stdout else atomic_output(config.out, "w", keep_on_interrupt=True)
    try:
        with sink as out:
            if config.progress:
                from tqdm.auto import tqdm

                bar = tqdm(total=len(indices), unit="img", desc="certify" if config.certify else "predict")
            for chunk, images in source.groups(group, indices):
                # keys = positions in the full input list: a sub-selection reproduces the full run's lines
                for i, res in zip(chunk, compute(images, chunk)):
                    line = to_line(source.names[i], res, names)
                    if smoother.precision != "fp32":  # the classifier the answer is of (fp32 lines as before)
                        line["precision"] = smoother.precision
                    out.write(json.dumps(line) + "\n")
                    out.flush()
                    written += 1
                    abstained += int(res.prediction == -1)
                if bar is not None:
                    bar.update(len(chunk))
    except KeyboardInterrupt:
        more = f" --max {len(indices) - written}" if config.max is not None else ""  # not past the selection
        rest = (
            f"; for the rest run the same command with --start {indices[written]}{more} and another --out"
            if written < len(indices) else ""
        )
        args.interrupted_note = (
            f"{where} holds the first {written} of {len(indices)} lines (incomplete){rest}" if written or to_stdout
            else "nothing was written"
        )
        raise
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t_start
    print(
        f"{verb} {written} image{'' if written == 1 else 's'} in {elapsed:.1f} s: {abstained} abstained; "
        f"JSON lines in {where}",
        file=sys.stderr,
    )
    return 0


def _run_files_distributed(ctx, config: PredictConfig, source, indices, group, compute, to_line, names, verb) -> int:
    """File mode on every rank of a distributed run: the input files cut into the groups a single process
    forms, dealt to the ranks (:func:`gsmooth.run.distributed.shard`); each rank writes its lines to
    ``<out>.rank<r>`` (flushed as computed; standard output: kept in memory), then rank 0 writes every
    line in input order, as a single process does (atomically for a file), and removes the part files."""
    from ..io.output_files import atomic_output
    from ..run import distributed

    fields = {k: v for k, v in dataclasses.asdict(config).items() if k != "progress"}
    ctx.check_same({"config": json.loads(json.dumps(fields, default=str)), "files": list(source.names),
                    "indices": indices, "group": group})
    world = ctx.world_size
    mine = distributed.shard(indices, group=group, rank=ctx.rank, world_size=world)
    to_stdout = (config.out or "-") == "-"
    where = "standard output" if to_stdout else config.out
    part = None if to_stdout else distributed.rank_path(config.out, ctx.rank)
    lines: list[str] = []
    bar = None
    t_start = time.perf_counter()
    try:
        with (open(part, "w", encoding="utf-8") if part else contextlib.nullcontext()) as handle:
            if config.progress and ctx.is_main:
                from tqdm.auto import tqdm

                bar = tqdm(total=len(mine), unit="img", desc="certify" if config.certify else "predict")
            for chunk, images in source.groups(group, mine):
                for i, res in zip(chunk, compute(images, chunk)):  # keys: positions in the full input list
                    line = json.dumps(to_line(source.names[i], res, names)) + "\n"
                    lines.append(line)
                    if handle is not None:
                        handle.write(line)
                        handle.flush()
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    gathered = ctx.all_gather(lines) if to_stdout else None
    ctx.barrier()

    def merge() -> tuple[int, int]:
        parts = [distributed.rank_path(config.out, r) for r in range(world)] if not to_stdout else []
        per_rank = gathered
        if per_rank is None:
            per_rank = []
            for path in parts:
                with open(path, encoding="utf-8") as f:
                    per_rank.append(f.read().splitlines(keepends=True))
        by_position = {}
        for r in range(world):
            share = distributed.shard(indices, group=group, rank=r, world_size=world)
            if len(per_rank[r]) != len(share):
                raise InvalidParameterError(
                    f"rank {r} expected {len(share)} JSON lines, got {len(per_rank[r])}; run the command again"
                )
            by_position.update(zip(share, per_rank[r]))
        ordered = [by_position[i] for i in indices]
        if to_stdout:
            sys.stdout.writelines(ordered)
            sys.stdout.flush()
        else:
            with atomic_output(config.out, "w") as out:
                out.writelines(ordered)
            for path in parts:  # only now: every line is in the merged file on disk
                os.unlink(path)
        return len(ordered), sum(int(json.loads(line)["abstained"]) for line in ordered)

    written, abstained = ctx.on_main(merge)
    if ctx.is_main:
        print(
            f"{verb} {written} image{'' if written == 1 else 's'} in {time.perf_counter() - t_start:.1f} s on {world} "
            f"processes: {abstained} abstained; JSON lines in {where}",
            file=sys.stderr,
        )
    return 0
