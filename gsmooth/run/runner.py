"""Whole runs from Python: what ``gsmooth certify`` / ``predict`` / ``attack`` / ``verify`` do, given a configuration.

:func:`certify`, :func:`predict` (dataset mode) and :func:`attack` load the evaluation dataset,
select the images (``config.selected``), resume the results file ``config.out`` (rows already there
for the same configuration are skipped; a file written for another configuration is refused with a
:class:`gsmooth.errors.ResultsFileError`), compute the images in groups and append one row per image,
with a progress bar when ``progress`` is on. They return a :class:`RunResult` (the indices this run
selected, the wall time, the path, the smoother's setup); the CLI only parses its arguments into the
configuration, calls them and prints the summary, so the results file (rows and sidecar JSON) is the
same byte for byte whoever runs it.

Messages name the configuration's fields (``start``, ``range``…); the CLI passes ``names=`` (its
flags, ``--start``, ``--range``…), as :meth:`gsmooth.run.SmootherSetup.load` takes for the overrides.

Example:
    The embedded model on 2 of the test images shipped in the package (rows in ``out``, its
    configuration in ``out + ".json"``; the same call again resumes, here with nothing left to do):

    >>> import os, tempfile
    >>> from gsmooth.embedded import SAMPLE_DATASET, embedded_default
    >>> from gsmooth.run import CertifyConfig, certify
    >>> out = os.path.join(tempfile.mkdtemp(), "fm.tsv")
    >>> config = CertifyConfig(model=embedded_default("additive").model_path, dataset=SAMPLE_DATASET,
    ...                        out=out, n0=20, n=100, max=2, progress=False)
    >>> result = certify(config)
    >>> result.indices, result.results().label.tolist()
    ([0, 1], [9, 2])
    >>> certify(config, log=print).indices
    resuming ...fm.tsv: 2 rows present, 0 to go
    [0, 1]
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..core.certificates import IntervalCertificate
from ..core.sequential import FIRST_LOOK
from ..errors import InvalidParameterError
from . import distributed
from .config import AttackConfig, CertifyConfig, PredictConfig, RunConfig, VerifyConfig
from .smoother_setup import OPTION_NAMES, SmootherSetup

__all__ = [
    "ATTACK_COLUMNS",
    "CERTIFY_COLUMNS",
    "CERTIFY_TRANSFORM_COLUMNS",
    "INNER_PROGRESS_PASSES",
    "PREDICT_COLUMNS",
    "RUN_NAMES",
    "RunResult",
    "attack",
    "base_config",
    "certify",
    "check_certifiable",
    "check_guarantee",
    "check_results_out",
    "collected_lipschitz_warnings",
    "engine_config",
    "image_batches",
    "input_paths",
    "inner_progress",
    "load_eval_dataset",
    "predict",
    "radius_meaning",
    "PRECISION_COLUMN",
    "resolve_range",
    "resolve_slices",
    "verify",
    "VERIFY_COLUMNS",
    "VERIFY_SEARCH_COLUMNS",
    "VerifySetup",
    "write_rows",
]

#: How messages name the configuration's fields (the CLI passes its flags instead, ``--start`` …).
RUN_NAMES = {
    **OPTION_NAMES, "device": "device", "out": "out", "model": "model", "input": "input", "start": "start",
    "skip": "skip", "max": "max", "range": "range", "slices": "slices", "require_sound": "require_sound",
    "transform": "transform", "precision": "precision", "radii": "radii", "sequential": "sequential",
    "refine": "refine",
}

#: The column rows gain when the base model runs at another precision than fp32 (fp32 rows are as
#: they always were): the precision their votes were counted at.
PRECISION_COLUMN = "precision"

#: The columns of ``gsmooth certify``'s rows (after idx, label, predict, correct, radius, time).
CERTIFY_COLUMNS = ["p_lower", "count", "n0", "n", "alpha", "noise", "transform", "kind", "norm", "mstar", "guarantee"]
#: Extra columns of rows for a transform with a parameter (radius around θ = 0, or an interval).
CERTIFY_TRANSFORM_COLUMNS = CERTIFY_COLUMNS + [
    "certificate",  # "radius" (around θ = 0) or "interval"
    "range",  # the certified range lo:hi[,lo:hi] (for a surrogate in radius mode: the range G was taken over)
    "slices",  # slices per parameter, e.g. 10 or 5x5
    "family_alpha",  # family-wise failure probability (= alpha)
    "slice_alpha",  # alpha / K per slice (Bonferroni)
    "requirement",  # radius each slice had to exceed
    "margin",  # min over slices of (radius - requirement); > 0 needed
    "units",  # what the radius / range measure
    "slice_predictions",  # class of every slice
]
#: The columns of ``gsmooth predict``'s rows (dataset mode).
PREDICT_COLUMNS = ["count", "runner_up", "runner_up_count", "p_value", "n", "alpha", "noise", "transform"]
#: The columns of ``gsmooth attack``'s rows.
ATTACK_COLUMNS = [
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

#: A step of the per-image progress bar (one image, or a group of images sharing forward batches)
#: that needs at least this many forward passes of ``batch_size`` samples gets a second bar over its
#: samples (and, for a surrogate's interval certificate, over its path bounds), cleared when the
#: step ends; shorter steps show the per-image bar only, so short runs are not flooded.
INNER_PROGRESS_PASSES = 20


@dataclass(frozen=True)
class RunResult:
    """What a run did.

    Attributes:
        path: the results file (TSV; its configuration in ``path + ".json"``).
        indices: the image indices this run selected, in order (rows resumed from the file included).
        elapsed: wall time in seconds.
        setup: the :class:`gsmooth.run.SmootherSetup` the run used.
        certificate: certify with a transform parameter: ``"radius"`` (around θ = 0) or ``"interval"``;
            otherwise None.
        range: the range certified or searched (``"lo:hi[,lo:hi]"``; a surrogate's path range in radius
            mode), else ``""``.
        slices: slices per parameter of an interval certificate, else None.
        pairs: the ``(lo, hi)`` pair of each parameter of the range certified or searched, else None.
        units: the transform's parameter units (``""`` if none are declared).
        notes: distinct :class:`gsmooth.surrogate.lipschitz.LipschitzWarning` messages collected
            while certifying (said once, not in the middle of the progress bar).
    """

    path: str
    indices: list
    elapsed: float
    setup: Any
    certificate: str | None = None
    range: str = ""
    slices: int | None = None
    pairs: tuple | None = None
    units: str = ""
    notes: tuple = field(default=())

    def results(self):
        """This run's rows (:class:`gsmooth.io.results.Results`), not every row in the file."""
        from ..io.results import read_results

        return read_results(self.path).select(self.indices)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _names(names: Mapping[str, str] | None) -> dict:
    return {**RUN_NAMES, **(names or {})}


def load_eval_dataset(config: RunConfig, name: str):
    """The dataset ``name`` with the configuration's split, root and download choice."""
    from ..data.datasets import load_dataset

    return load_dataset(name, split=config.split, root=config.data_dir, download=config.download)


def image_batches(dataset, indices: list[int], group: int):
    """Yield (indices, images (G,C,H,W), labels) groups of at most ``group`` images."""
    for s in range(0, len(indices), group):
        chunk = indices[s : s + group]
        items = [dataset[i] for i in chunk]
        yield chunk, torch.stack([x for x, _ in items]), [int(y) for _, y in items]


def base_config(config: RunConfig, setup: SmootherSetup, command: str) -> dict:
    """What must be equal for a results file to be resumed (the sidecar's configuration)."""
    from ..io.checkpoints import file_sha256

    path = Path(config.model).resolve()
    config = {
        "command": command,
        "model_sha256": file_sha256(path),  # the key: a copied or moved checkpoint resumes
        "dataset": setup.dataset_name,
        "split": config.split,
        "noise": setup.smoother.noise.name,
        "noise_params": setup.noise_params,
        "transform": setup.transform_name,
        "transform_params": setup.transform_params,
        "n": config.n,
        "alpha": config.alpha,
        "seed": config.seed,
        "device_type": setup.smoother.device.type,
    }
    if setup.surrogate_path is not None:  # only then: additive/exact configurations stay as they were
        config["surrogate_sha256"] = setup.surrogate_sha256
        config["latent_sigma"] = setup.latent_sigma
    return config | denoiser_config(setup) | engine_config(setup.smoother)


def denoiser_config(setup: SmootherSetup) -> dict:
    """``{"denoiser_sha256": …}`` for a run of denoised smoothing (the key of its denoiser, as the
    model's: a file resumes only with the same denoiser), ``{}`` otherwise (configurations without a
    denoiser stay as they were)."""
    sha = getattr(setup, "denoiser_sha256", None)
    return {} if sha is None else {"denoiser_sha256": sha}


def engine_config(smoother) -> dict:
    """How the base model ran, for a results file's configuration: ``precision`` (other than fp32),
    ``channels_last`` (when on) and ``compile`` (the backend); the defaults add nothing, so the
    configuration of an fp32 eager run is what it always was, and a file resumes only with the same
    settings (a bf16 file refuses an fp32 run, and the reverse)."""
    out = {}
    if smoother.precision != "fp32":
        out["precision"] = smoother.precision
    if smoother.channels_last:
        out["channels_last"] = True
    if smoother.compile_backend is not None:
        out["compile"] = smoother.compile_backend
    return out


def _with_precision(columns, to_row, smoother):
    """``(columns, to_row)`` with the :data:`PRECISION_COLUMN` added at a precision other than fp32."""
    if smoother.precision == "fp32":
        return columns, to_row
    precision = smoother.precision
    return [*columns, PRECISION_COLUMN], lambda result: {**to_row(result), PRECISION_COLUMN: precision}


#: The column sequential certificates' rows gain: the noise draws used (selection + estimation, all slices).
SAMPLES_COLUMN = "samples"


#: The column rows of adaptively sliced interval certificates gain: the final slices.
LEAVES_COLUMN = "leaves"


def _leaves_text(cert) -> str:
    """``lo:hi:class`` per final slice, separated by ``;`` (class -1: not covered)."""
    return ";".join(f"{lo:.6g}:{hi:.6g}:{pred}" for lo, hi, _, pred, _, _ in cert.leaves)


def _with_leaves(columns, to_row, refined: bool):
    """``(columns, to_row)`` with the :data:`LEAVES_COLUMN` added for an adaptively sliced run."""
    if not refined:
        return columns, to_row
    return [*columns, LEAVES_COLUMN], lambda result: {**to_row(result), LEAVES_COLUMN: _leaves_text(result)}


def _with_samples(columns, to_row, sequential: bool):
    """``(columns, to_row)`` with the :data:`SAMPLES_COLUMN` added for a sequential run."""
    if not sequential:
        return columns, to_row
    return [*columns, SAMPLES_COLUMN], lambda result: {**to_row(result), SAMPLES_COLUMN: int(result.samples)}


def input_paths(config: RunConfig, names: Mapping[str, str] | None = None) -> dict:
    """The files a run reads, by name (``names``: how messages name them): an output may be none of them."""
    n = _names(names)
    return {n["model"]: config.model, n["surrogate"]: config.surrogate, n["input"]: getattr(config, "input", None),
            n["denoiser"]: getattr(config, "denoiser", None)}


def check_results_out(config: RunConfig, *, names: Mapping[str, str] | None = None) -> None:
    """Before any work: ``config.out`` (and its ``.json`` sidecar) may be written — not an input, in a
    writable folder; an existing file is left to :class:`gsmooth.io.results.ResultsWriter`, which
    resumes it only when gsmooth wrote it for the same configuration."""
    from ..io.output_files import check_output_file
    from ..io.results import sidecar_path

    option = _names(names)["out"]
    if config.out is None:
        raise InvalidParameterError(f"{option} expected a results file (TSV), got none")
    inputs = input_paths(config, names)
    check_output_file(config.out, option=option, inputs=inputs, exists_ok=True)
    check_output_file(sidecar_path(config.out), option=f"{option}'s sidecar", inputs=inputs, exists_ok=True)


def inner_progress(config: RunConfig, samples_per_step: int, *, progress: bool | None = None) -> bool:
    """Whether each step of the per-image bar also shows a bar over its ``samples_per_step`` noise
    samples (all phases, all slices): at least :data:`INNER_PROGRESS_PASSES` forward passes of
    ``batch_size``; never without progress (``progress``, default ``config.progress``)."""
    show = config.progress if progress is None else progress
    return show and samples_per_step >= INNER_PROGRESS_PASSES * config.batch_size and distributed.is_main_process()


def write_rows(
    run: RunConfig, setup: SmootherSetup, *, columns, config, compute, to_row, radius: bool, desc: str, group: int,
    with_labels: bool = False, progress: bool | None = None, names: Mapping[str, str] | None = None,
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """Evaluate the selected images in groups and append one results row per image.

    ``compute(images, keys)`` (``compute(images, keys, labels)`` with ``with_labels``) returns one
    result per image; ``to_row(result)`` gives the row's extra columns. Rows already in ``run.out``
    (same configuration) are skipped: this is the resume (said through ``log``, default standard
    error). The model's path is recorded in the sidecar's ``info`` (not compared: the configuration
    is keyed by the checkpoint's SHA-256). The caller has checked ``run.out`` with
    :func:`check_results_out` before any work. ``run`` is the run configuration; ``config`` the
    results file's (:func:`base_config`, plus the command's keys).

    In a distributed run (torchrun's environment, :mod:`gsmooth.run.distributed`) every rank computes
    its share of the images not yet done into ``<out>.rank<r>`` and rank 0 merges them into ``run.out``
    in index order: the rows a single process writes (``time`` aside).
    """
    from ..io.results import ResultsWriter

    n = _names(names)
    log = log or _stderr
    show = run.progress if progress is None else progress
    dataset = load_eval_dataset(run, setup.dataset_name)
    indices = run.selected(len(dataset))
    if not indices:
        raise InvalidParameterError(
            f"{n['start']}/{n['skip']}/{n['max']} expected to select at least one of the {len(dataset)} images of "
            f"{setup.dataset_name} ({run.split}), got {n['start']} {run.start} {n['skip']} {run.skip} {n['max']} {run.max}"
        )
    t_start = time.perf_counter()
    info = {"model": str(Path(run.model).resolve())}
    if getattr(setup, "denoiser_path", None) is not None:
        info["denoiser"] = setup.denoiser_path
    files = {"columns": columns, "config": config, "radius": radius, "info": info}
    ctx = distributed.context(setup.device)
    if ctx is None:
        if distributed.rank_files(run.out):  # a distributed run of this file was stopped: its rows first
            distributed.fold_rank_files(run.out, **files)
        with ResultsWriter(run.out, resume=True, **files) as writer:
            todo = [i for i in indices if i not in writer.done]
            if writer.done:
                log(f"resuming {run.out}: {len(writer.done)} rows present, {len(todo)} to go")
            _compute_rows(writer, dataset, todo, compute=compute, to_row=to_row, group=group, with_labels=with_labels,
                          show=show, desc=desc)
        return RunResult(os.fspath(run.out), indices, time.perf_counter() - t_start, setup)
    # torchrun / --nproc: same configuration everywhere; rank 0 folds what a stopped run left, every rank
    # writes its share to <out>.rank<r>; rank 0 merges them into <out> (gsmooth.run.distributed)
    ctx.check_same({"columns": columns, "config": config, "radius": radius, "out": os.fspath(run.out), "indices": indices, "group": group, "dataset_size": len(dataset)})
    done = ctx.on_main(lambda: distributed.fold_rank_files(run.out, **files))
    todo = [i for i in indices if i not in done]
    if done and ctx.is_main:
        log(f"resuming {run.out}: {len(done)} rows present, {len(todo)} to go")
    mine = distributed.shard(todo, group=group, rank=ctx.rank, world_size=ctx.world_size)
    counter = None
    if ctx.is_main:
        counter = distributed.RowCounter([distributed.rank_path(run.out, r) for r in range(ctx.world_size)])
    if mine:
        with ResultsWriter(distributed.rank_path(run.out, ctx.rank), resume=True, **files) as writer:
            _compute_rows(writer, dataset, mine, compute=compute, to_row=to_row, group=group, with_labels=with_labels,
                          show=show and ctx.is_main, desc=desc, total=len(todo), count=counter)
    ctx.barrier()
    ctx.on_main(lambda: distributed.fold_rank_files(run.out, **files))
    return RunResult(os.fspath(run.out), indices, time.perf_counter() - t_start, setup)


def _compute_rows(writer, dataset, todo, *, compute, to_row, group, with_labels, show, desc, total=None, count=None):
    """The rows of ``todo`` appended to ``writer``, groups of ``group`` images, with a progress bar when
    ``show`` (over ``total`` images, default ``len(todo)``; ``count()``: rows done over every rank)."""
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo) if total is None else total, unit="img", desc=desc)
    try:
        for chunk, images, labels in image_batches(dataset, todo, group):
            t0 = time.perf_counter()
            results = compute(images, chunk, labels) if with_labels else compute(images, chunk)
            per_image = (time.perf_counter() - t0) / len(chunk)
            for idx, label, res in zip(chunk, labels, results):
                writer.write({"idx": idx, "label": label, "predict": res.prediction, "time": per_image, **to_row(res)})
            if bar is not None:
                if count is None:
                    bar.update(len(chunk))
                else:
                    bar.update(count() - bar.n)
        while count is not None and bar is not None and bar.n < bar.total:  # the other ranks' last rows
            time.sleep(0.25)
            bar.update(count() - bar.n)
    finally:
        if bar is not None:
            bar.close()


def _load(config: RunConfig, setup, names, warn) -> SmootherSetup:
    """``setup``, or the configuration's smoother (:meth:`SmootherSetup.load`). A given ``setup`` must
    be of the configuration's checkpoint and dataset: the sidecar records them, and a results file
    must never describe rows computed by another model."""
    if setup is not None:
        from ..io.checkpoints import file_sha256
        from ..io.output_files import same_file

        ckpt = setup.checkpoint.path
        if not same_file(ckpt, config.model) and file_sha256(ckpt) != file_sha256(config.model):
            raise InvalidParameterError(
                f"setup expected the checkpoint of config.model ({os.fspath(config.model)}), got one of {os.fspath(ckpt)}"
            )
        if config.dataset is not None and config.dataset != setup.dataset_name:
            raise InvalidParameterError(
                f"setup expected the dataset of config.dataset ({config.dataset!r}), got {setup.dataset_name!r}"
            )
        given = getattr(config, "denoiser", None)
        have_den = getattr(setup, "denoiser_path", None)
        if (given is None) != (have_den is None) or (
                given is not None and not same_file(have_den, given) and file_sha256(have_den) != file_sha256(given)):
            raise InvalidParameterError(
                f"setup expected the denoiser of config.denoiser ({given}), got {have_den or 'none'}"
            )
        s = setup.smoother
        wanted = config.engine_options()
        have = {"precision": s.precision, "channels_last": s.channels_last, "compile": s.compile_backend or False}
        wanted["compile"] = "inductor" if wanted["compile"] is True else wanted["compile"]
        for key, value in wanted.items():
            if have[key] != value:
                raise InvalidParameterError(f"setup expected the {key} of config.{key} ({value!r}), got {have[key]!r}")
        return setup
    from ..validation import check_device

    n = _names(names)
    device = check_device(distributed.rank_device(config.device), what=n["device"])  # cuda: this rank's GPU
    return SmootherSetup.load(
        config.model, **config.smoothing_overrides(), device=device, dataset=config.dataset, warn=warn, names=n,
        **config.engine_options(),
    )


def _check_config(config, kind: type, owner: str) -> None:
    if not isinstance(config, kind):
        raise InvalidParameterError(f"{owner}: expected a {kind.__name__}, got {type(config).__name__}")
    if config.model is None:
        raise InvalidParameterError(f"{owner}: expected a checkpoint path in config.model, got None")


# ------------------------------------------------------------------------------------------------
# certify
# ------------------------------------------------------------------------------------------------


def _row(c) -> dict:
    return {
        "radius": c.radius,
        "p_lower": c.p_lower,
        "count": c.count,
        "n0": c.n0,
        "n": c.n,
        "alpha": c.alpha,
        "noise": c.noise,
        "transform": c.transform,
        "kind": c.kind,
        "norm": c.norm,
        "mstar": c.lipschitz,
        "guarantee": c.guarantee,  # exact | sound | estimate (what M* rests on)
    }


def radius_meaning(norm: str) -> str:
    """What a point certificate's radius claims, for one-sided (``param+``) and two-sided noises."""
    if norm.startswith("param+"):
        return "for increases of theta from 0 up to the radius"
    return "radius around theta=0"


def _transform_row(c, *, units: str, range_text: str) -> dict:
    row = _row(c)
    if isinstance(c, IntervalCertificate):
        row.update(
            certificate="interval",
            range=c.range,
            slices="x".join(str(k) for k in c.slices),
            family_alpha=c.family_alpha,
            slice_alpha=c.slice_alpha,
            requirement=c.requirement,
            margin=c.margin,
            units=units,
            slice_predictions=",".join(str(p) for p in c.slice_predictions),
        )
    else:
        row.update(
            certificate="radius",
            range=range_text,
            slices="",
            family_alpha=c.alpha,
            slice_alpha="",
            requirement="",
            margin="",
            units=f"{units or 'parameter units'} ({radius_meaning(c.norm)})",
            slice_predictions="",
        )
    return row


def check_certifiable(setup, *, names: Mapping[str, str] | None = None) -> None:
    """Refuse transforms whose radius would not be a certificate about transformed images."""
    from ..interval.engine import check_interval_support

    transform, name = setup.smoother.transform, setup.transform_name
    if transform.kind == "empirical":
        raise InvalidParameterError(
            f"transform {name!r} is of kind 'empirical': a radius in its parameter would not certify transformed "
            f"images, so nothing is certified. Train a surrogate first (`gsmooth surrogate train --transform {name} "
            f"--dataset {setup.dataset_name} --out {name}_surrogate.pt`), then pass {_names(names)['surrogate']} "
            f"{name}_surrogate.pt (and train the base model on it: `gsmooth train --transform {name} --surrogate …`)"
        )
    check_interval_support(transform, setup.smoother.noise)  # e.g. contrast with a non-Gaussian noise: a clear refusal


def resolve_range(spec: str | None, setup, *, names: Mapping[str, str] | None = None):
    """The pairs of a range ``spec`` (``"lo:hi[,lo:hi]"``; ``None``: no range); ``"default"`` takes the
    transform's default range (its defaults table, else a surrogate's path range)."""
    from ..core.defaults import defaults_of
    from ..core.ranges import parse_range

    if spec is None:
        return None
    d = setup.smoother.center_dim
    if spec != "default":
        return parse_range(spec, d)
    table = defaults_of(setup.transform_name)
    if table is not None and table.range is not None:
        return parse_range(list(table.range), d)
    own = setup.smoother.transform.point_certificate_range()  # a surrogate's path range
    if own:
        return parse_range(list(own), d)
    option = _names(names)["range"]
    raise InvalidParameterError(
        f"no default range for transform {setup.transform_name!r}; expected {option} LO:HI, got {option} without a value"
    )


def resolve_slices(slices: int | None, setup) -> int:
    """``slices`` per parameter, else the transform's default."""
    from ..core.defaults import DEFAULT_SLICES, defaults_of

    if slices is not None:
        return slices
    table = defaults_of(setup.transform_name)
    return table.slices if table is not None else DEFAULT_SLICES


def _surrogate_range_text(transform) -> str:
    from ..core.ranges import format_range

    pairs = transform.point_certificate_range()  # a surrogate's path range; None for other transforms
    return format_range(pairs) if pairs else ""


def check_guarantee(require_sound: bool, transform, *, names: Mapping[str, str] | None = None) -> None:
    """``require_sound``: refuse, before any work, a certificate whose M* would be an estimate."""
    if not require_sound or transform.kind == "exact":
        return
    label = transform.guarantee
    if label != "sound":
        flag = _names(names)["require_sound"]
        raise InvalidParameterError(
            f"{flag}: expected a certificate resting on a proven bound, got guarantee {label!r} for "
            f"{transform.describe()} (its true transform provides no proven path speed bound, or it has several "
            f"parameters, so M* would be a grid estimate); drop {flag} to accept certificates labelled "
            "'estimate'"
        )


@contextlib.contextmanager
def collected_lipschitz_warnings():
    """Collect :class:`gsmooth.surrogate.lipschitz.LipschitzWarning` messages (distinct ones, in order) instead of
    showing them while rows are computed; every other warning is shown as usual."""
    from ..surrogate.lipschitz import LipschitzWarning

    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield notes
        finally:
            for w in caught:
                if issubclass(w.category, LipschitzWarning):
                    text = getattr(w.message, "summary", str(w.message))  # without the pointer into the API
                    if text not in notes:
                        notes.append(text)
    for w in caught:
        if not issubclass(w.category, LipschitzWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def certify(
    config: CertifyConfig, *, setup: SmootherSetup | None = None, progress: bool | None = None,
    names: Mapping[str, str] | None = None, log: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> RunResult:
    """CERTIFY every selected image of the configuration and append one row per image to ``config.out``,
    exactly as ``gsmooth certify`` does (same rows, same sidecar; resumable).

    Additive noise: Cohen's radius in pixel space. A transform with a parameter: a radius in its
    parameter units around θ = 0, or with ``config.range`` an interval certificate for the whole range
    (``slices`` per parameter at α/K each, :meth:`gsmooth.Smoother.certify_interval`). A transform whose
    parameters do not compose additively (contrast) is certified over its default range (said via ``log``).

    Args:
        config: the run (:class:`gsmooth.run.CertifyConfig`; ``config.out`` required).
        setup: the smoother to use (default: :meth:`SmootherSetup.load` of the configuration's
            checkpoint and overrides).
        progress: show progress bars (default ``config.progress``).
        names: how messages name the configuration's fields (:data:`RUN_NAMES`; the CLI passes its flags).
        log: called with each note (resuming, a default range taken); default: print to standard error.
        warn: given to :meth:`SmootherSetup.load` for a smoothing other than the training one.

    Returns:
        A :class:`RunResult` (:meth:`RunResult.results` reads this run's rows).

    Raises:
        InvalidParameterError: a configuration the transform cannot certify, no image selected.
        OutputFileError: ``config.out`` cannot be written (an input, a folder, an unwritable folder).
        ResultsFileError: ``config.out`` holds rows of another configuration (never overwritten).
    """
    from ..core.ranges import format_range

    _check_config(config, CertifyConfig, "gsmooth.run.certify")
    n = _names(names)
    log = log or _stderr
    check_results_out(config, names=names)  # before loading anything: the output may be written
    setup = _load(config, setup, names, warn)
    smoother = setup.smoother
    transform = smoother.transform
    results_config = base_config(config, setup, "certify") | {"n0": config.n0}
    if config.is_sequential:  # recorded only when used: fixed-n results files resume as they always did
        from ..core.sequential import describe_rule

        results_config |= {"sequential": True, "sequential_rule": describe_rule()} | (
            {"radii": list(config.radii)} if config.radii is not None else {}
        )
    if config.refine:
        results_config |= {"refine": config.refine}
    common = {"progress": progress, "names": names, "log": log, "radius": True, "desc": "certify"}

    def point(group):
        progress_inside = inner_progress(config, group * (config.n0 + config.n), progress=progress)

        def compute(images, keys):
            return smoother.certify(
                images, n0=config.n0, n=config.n, alpha=config.alpha, batch_size=config.batch_size, seed=config.seed,
                keys=keys, progress=progress_inside, radii=config.radii,
            )
        return compute

    # Images share a forward batch while their sample counts are small compared to batch_size; with
    # n >= batch_size each image is certified (and written) on its own. Sequential runs pack images by
    # their first look (most stop there), so small looks still fill a batch.
    per_image = min(config.n, FIRST_LOOK) if config.is_sequential else config.n
    group = max(1, config.batch_size // max(per_image, config.n0))
    if transform.param_dim is None:
        if config.range is not None or config.slices is not None:
            raise InvalidParameterError(
                f"{n['range']}/{n['slices']} certify a transformation parameter; expected a transform with a parameter "
                f"({n['transform']} brightness, gaussian_blur, …), got {setup.transform_name!r} (additive pixel noise)"
            )
        columns, to_row = _with_samples(*_with_precision(CERTIFY_COLUMNS, _row, smoother), config.is_sequential)
        return write_rows(
            config, setup, columns=columns, config=results_config, compute=point(group), to_row=to_row,
            group=group, **common,
        )

    check_certifiable(setup, names=names)
    check_guarantee(config.require_sound, transform, names=names)
    pairs = resolve_range(config.range, setup, names=names)
    if pairs is None and getattr(transform, "composes_additively", True) is False and config.radii is not None:
        raise InvalidParameterError(
            f"{n['radii']}: transform {setup.transform_name!r} is certified over a range (its parameters do "
            f"not add under composition, so it has no radius around theta = 0 to target); expected {n['range']} with "
            f"{n['sequential']}, got target radii {', '.join(f'{r:g}' for r in config.radii)}"
        )
    if pairs is None and getattr(transform, "composes_additively", True) is False:
        # contrast: θ's do not add, so no radius around θ = 0 is a certificate; its range is
        pairs = resolve_range("default", setup, names=names)
        log(
            f"gsmooth certify: transform {setup.transform_name!r} is certified over a range (its parameters do not add "
            f"under composition, so a radius around theta = 0 would mean nothing); certifying its default range "
            f"{format_range(*zip(*pairs))} ({n['range']} LO:HI,LO:HI to choose)"
        )
    units = getattr(transform, "param_units", "") or ""
    slices = None
    if pairs is None:
        if config.slices is not None:
            raise InvalidParameterError(
                f"{n['slices']} cuts a {n['range']} into slices; expected {n['range']} LO:HI with it, got none"
            )
        transform.check_point_certificate()  # e.g. a surrogate whose path does not start at x: refused now
        range_text = _surrogate_range_text(transform)
        results_config |= {"certificate": "radius", "range": range_text or None}
        compute = point(group)
    else:
        slices = resolve_slices(config.slices, setup)
        low, high = [p[0] for p in pairs], [p[1] for p in pairs]
        range_text = format_range(low, high)
        results_config |= {"certificate": "interval", "range": range_text, "slices": slices}
        k_total = slices ** len(pairs)
        group = max(1, config.batch_size // (max(per_image, config.n0) * k_total))
        # every slice is sampled: an image with many slices is long even when n is small
        progress_inside = inner_progress(config, group * k_total * (config.n0 + config.n), progress=progress)

        def compute(images, keys):
            return smoother.certify_interval(
                images, low=low, high=high, slices=slices, n0=config.n0, n=config.n, alpha=config.alpha,
                batch_size=config.batch_size, seed=config.seed, keys=keys, progress=progress_inside,
                sequential=config.sequential, refine=config.refine,
            )

    columns, to_row = _with_samples(*_with_precision(
        CERTIFY_TRANSFORM_COLUMNS, lambda c: _transform_row(c, units=units, range_text=range_text), smoother
    ), config.is_sequential)
    columns, to_row = _with_leaves(columns, to_row, bool(config.refine))
    with collected_lipschitz_warnings() as notes:  # said once by the caller, not mid-progress-bar
        done = write_rows(
            config, setup, columns=columns, config=results_config, compute=compute, to_row=to_row, group=group,
            **common,
        )
    return RunResult(
        done.path, done.indices, done.elapsed, setup, certificate="radius" if pairs is None else "interval",
        range=range_text, slices=slices, pairs=None if pairs is None else tuple(pairs), units=units,
        notes=tuple(notes),
    )


# ------------------------------------------------------------------------------------------------
# predict (dataset mode)
# ------------------------------------------------------------------------------------------------


def _predict_row(pr) -> dict:
    return {
        "count": pr.count,
        "runner_up": pr.runner_up,
        "runner_up_count": pr.runner_up_count,
        "p_value": pr.p_value,
        "n": pr.n,
        "alpha": pr.alpha,
        "noise": pr.noise,
        "transform": pr.transform,
    }


def predict(
    config: PredictConfig, *, setup: SmootherSetup | None = None, progress: bool | None = None,
    names: Mapping[str, str] | None = None, log: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> RunResult:
    """PREDICT every selected dataset image and append one row per image to ``config.out``, exactly as
    ``gsmooth predict`` does in dataset mode (same rows, same sidecar; resumable). The arguments are
    those of :func:`certify`; ``config.input`` must be None (your own files: ``gsmooth predict --input``).

    Raises:
        InvalidParameterError: ``config.input`` given, no image selected.
        OutputFileError, ResultsFileError: as :func:`certify`.
    """
    _check_config(config, PredictConfig, "gsmooth.run.predict")
    if config.input is not None:
        raise InvalidParameterError(
            f"gsmooth.run.predict: expected config.input None (dataset mode), got {config.input!r} "
            "(your own files: `gsmooth predict --input`)"
        )
    check_results_out(config, names=names)  # before loading anything: the output may be written
    setup = _load(config, setup, names, warn)
    smoother = setup.smoother
    group = max(1, config.batch_size // config.n)
    progress_inside = inner_progress(config, group * config.n, progress=progress)

    def compute(images, keys):
        return smoother.predict(images, n=config.n, alpha=config.alpha, batch_size=config.batch_size, seed=config.seed,
                                keys=keys, progress=progress_inside)

    columns, to_row = _with_precision(PREDICT_COLUMNS, _predict_row, smoother)
    return write_rows(
        config, setup, columns=columns, config=base_config(config, setup, "predict"), compute=compute,
        to_row=to_row, radius=False, desc="predict", group=group, progress=progress, names=names, log=log,
    )


# ------------------------------------------------------------------------------------------------
# attack
# ------------------------------------------------------------------------------------------------


def _theta(t) -> str:
    return ",".join(f"{v:.6g}" for v in t)


def attack(
    config: AttackConfig, *, setup: SmootherSetup | None = None, progress: bool | None = None,
    names: Mapping[str, str] | None = None, log: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> RunResult:
    """Search the parameter range of every selected image for values that change the prediction (base
    model and smoothed classifier, :func:`gsmooth.evaluation.attack.attack`) and append one row per image
    to ``config.out``, exactly as ``gsmooth attack`` does (same rows, same sidecar; resumable). The
    arguments are those of :func:`certify`.

    Raises:
        InvalidParameterError: a transform without a parameter, no image selected.
        OutputFileError, ResultsFileError: as :func:`certify`.
    """
    from ..core.ranges import format_range
    from ..evaluation.attack import attack as attack_images
    from ..io.checkpoints import file_sha256

    _check_config(config, AttackConfig, "gsmooth.run.attack")
    n = _names(names)
    check_results_out(config, names=names)  # before loading anything: the output may be written
    setup = _load(config, setup, names, warn)
    smoother = setup.smoother
    transform = smoother.transform
    if transform.param_dim is None:
        raise InvalidParameterError(
            f"attack searches a transformation parameter; expected {n['transform']} with a parameter (brightness, "
            f"gaussian_blur, …), got {setup.transform_name!r} (additive pixel noise)"
        )
    pairs = resolve_range(config.range, setup, names=names)
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
    results_config |= denoiser_config(setup) | engine_config(smoother)

    def compute(images, keys, labels):
        return attack_images(
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

    columns, to_row = _with_precision(ATTACK_COLUMNS, to_row, smoother)
    done = write_rows(
        config, setup, columns=columns, config=results_config, compute=compute, to_row=to_row, radius=False,
        desc="attack", group=1, with_labels=True, progress=progress, names=names, log=log,
    )
    return RunResult(done.path, done.indices, done.elapsed, setup, range=range_text, pairs=tuple(pairs),
                     units=getattr(transform, "param_units", "") or "")


# ------------------------------------------------------------------------------------------------
# verify (deterministic verification of the base model, no smoothing)
# ------------------------------------------------------------------------------------------------

#: The columns of ``gsmooth verify``'s rows (after idx, label, predict, radius, correct, time):
#: ``eps``, ``answers``, ``min_margin`` and ``status`` are comma-separated and aligned (one entry per
#: radius verified, in order: the list, or the search's steps).
VERIFY_COLUMNS = [
    "norm",  # linf | l2 (gsmooth analyze groups files by it)
    "method",  # ibp | crown | lp | milp
    "certificate",  # "verification": deterministic, of the base model itself
    "eps",  # the radii verified
    "answers",  # YES | NO | MAYBE per eps
    "min_margin",  # the smallest proven lower bound of z_label - z_t per eps
    "margins",  # t:bound for every target t, at the largest eps verified
    "adversarial_class",  # the class of the counterexample at the smallest eps answered NO
    "adversarial_distance",  # its distance from the image (0 for a misclassified image)
    "status",  # proved | counterexample | undecided | time_limit | misclassified per eps
]
#: With ``radius_search``: also the search's upper end (milp: the smallest eps answered NO).
VERIFY_SEARCH_COLUMNS = VERIFY_COLUMNS + ["radius_upper"]


@dataclass(frozen=True)
class VerifySetup:
    """What ``gsmooth verify`` works on: the checkpoint, its model (eval mode, on the device), the
    model's :class:`gsmooth.verification.ReluNetwork` and the dataset evaluated."""

    checkpoint: Any
    model: Any
    network: Any
    dataset_name: str

    @property
    def device(self) -> torch.device:
        """Where the model's forward passes run (the verification itself is numpy on the CPU)."""
        return next((p.device for p in self.model.parameters()), torch.device("cpu"))


@dataclass(frozen=True)
class _Verified:
    prediction: int
    row: dict


def _adversarial_name(idx: int, eps: float) -> str:
    return f"idx{idx}_eps{eps!r}.pt"


def _save_adversarial(folder: str, idx: int, verdict, dtype) -> None:
    """Write a NO's adversarial input ``(C, H, W)`` atomically; an identical file already there (a
    resumed row) is kept, a different one is never overwritten."""
    from ..errors import OutputFileError
    from ..io.checkpoints import atomic_torch_save

    path = Path(folder).expanduser() / _adversarial_name(idx, verdict.eps)
    tensor = torch.as_tensor(verdict.adversarial, dtype=dtype).contiguous()
    if path.exists():
        try:
            old = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - any unreadable file is "different"
            old = None
        if isinstance(old, torch.Tensor) and old.dtype == tensor.dtype and torch.equal(old, tensor):
            return
        raise OutputFileError(
            f"--save-adversarial expected no other file at {os.fspath(path)}, got one with other content (gsmooth never "
            "overwrites it); choose another folder or delete it"
        )
    atomic_torch_save(tensor, path)


def _distance(a, b, norm: str) -> float:
    import numpy as np

    d = np.asarray(a, dtype=np.float64).reshape(-1) - np.asarray(b, dtype=np.float64).reshape(-1)
    return float(np.max(np.abs(d))) if norm == "linf" else float(np.linalg.norm(d))


def _verify_radii(model, image, label, config: VerifyConfig, common: dict, verify_one) -> list:
    """The verdicts at ``config.eps`` (ascending). A NO carries to every larger radius with the same
    counterexample (it lies in every larger ball; the margins there are IBP's, sound and cheap);
    after a MAYBE the larger radii are skipped (answer MAYBE, status ``skipped``) unless
    ``config.every_eps``."""
    import dataclasses

    steps: list = []
    for e in config.eps:
        prev = steps[-1] if steps else None
        if prev is not None and prev.answer == "NO":
            bound = verify_one(model, image, label, eps=e, **{**common, "method": "ibp"})
            steps.append(dataclasses.replace(prev, eps=e, margins=bound.margins, time=bound.time))
        elif prev is not None and prev.answer == "MAYBE" and not config.every_eps:
            steps.append(dataclasses.replace(prev, eps=e, margins={}, status="skipped", time=0.0))
        else:
            steps.append(verify_one(model, image, label, eps=e, **common))
    return steps


def _verify_row(config: VerifyConfig, steps, x, *, radius: float, upper: float | None) -> dict:
    largest = max((v for v in steps if v.status != "skipped"), key=lambda v: v.eps)
    nos = sorted((v for v in steps if v.answer == "NO"), key=lambda v: v.eps)
    row = {
        "radius": radius,
        "norm": config.norm,
        "method": config.method,
        "certificate": "verification",
        "eps": ",".join(repr(float(v.eps)) for v in steps),
        "answers": ",".join(v.answer for v in steps),
        "min_margin": ",".join("nan" if v.status == "skipped" else repr(float(v.min_margin)) for v in steps),
        "margins": ",".join(f"{t}:{m!r}" for t, m in sorted(largest.margins.items())),
        "adversarial_class": nos[0].adversarial_class if nos else None,
        "adversarial_distance": _distance(nos[0].adversarial, x, config.norm) if nos else None,
        "status": ",".join(v.status for v in steps),
    }
    if upper is not None:
        row["radius_upper"] = upper
    return row


def verify(
    config: VerifyConfig, *, progress: bool | None = None, names: Mapping[str, str] | None = None,
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """Verify every selected image of the configuration with :func:`gsmooth.verification.verify` (or
    search its largest certified radius, :func:`gsmooth.verification.largest_certified_radius`) and
    append one row per image to ``config.out``, exactly as ``gsmooth verify`` does (same rows, same
    sidecar; resumable).

    Rows: Cohen's leading columns (``predict`` = the model's class, ``radius`` = the largest eps
    answered YES, or the searched radius; 0 if none), then :data:`VERIFY_COLUMNS`
    (:data:`VERIFY_SEARCH_COLUMNS` with ``radius_search``).

    Args:
        config: the run (:class:`gsmooth.run.VerifyConfig`; ``config.out`` required).
        progress: show a progress bar (default ``config.progress``).
        names: how messages name the configuration's fields (the CLI passes its flags).
        log: called with each note (resuming); default: print to standard error.

    Returns:
        A :class:`RunResult` (its ``setup`` a :class:`VerifySetup`).

    Raises:
        UnsupportedModelError: the model is not a feed-forward ReLU chain verification can encode
            (raised before any image is verified).
        CheckpointError, InvalidParameterError: as :func:`certify`.
        OutputFileError, ResultsFileError: ``config.out`` or ``config.save_adversarial`` cannot be
            written, or ``config.out`` holds rows of another configuration.
    """
    from ..io.checkpoints import file_sha256, load_checkpoint
    from ..io.output_files import check_output_dir, check_output_file
    from ..io.results import sidecar_path
    from ..validation import check_device
    from ..verification.search import largest_certified_radius
    from ..verification.verify import network_of, verify as verify_one

    if not isinstance(config, VerifyConfig):
        raise InvalidParameterError(f"gsmooth.run.verify: expected a VerifyConfig, got {type(config).__name__}")
    n = _names(names)
    option = n["out"]
    if config.out is None:
        raise InvalidParameterError(f"{option} expected a results file (TSV), got none")
    inputs = {n["model"]: config.model}
    check_output_file(config.out, option=option, inputs=inputs, exists_ok=True)
    check_output_file(sidecar_path(config.out), option=f"{option}'s sidecar", inputs=inputs, exists_ok=True)
    if config.save_adversarial is not None:
        folder = check_output_dir(config.save_adversarial, option=n.get("save_adversarial", "save_adversarial"),
                                  inputs=inputs)
        folder.mkdir(exist_ok=True)
    device = check_device(config.device, what=n["device"])
    ckpt = load_checkpoint(config.model, map_location=device)
    model = ckpt.build_model(device=device)  # eval mode
    network = network_of(model, ckpt.input_shape)  # refused here, before any image, if it cannot be encoded
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    setup = VerifySetup(ckpt, model, network, config.dataset or ckpt.dataset)
    if config.dataset is not None:
        from ..data.datasets import dataset_info

        shape = tuple(dataset_info(config.dataset).input_shape)
        if shape != tuple(ckpt.input_shape):
            raise InvalidParameterError(
                f"{n.get('dataset', 'dataset')} expected a dataset of {tuple(ckpt.input_shape)} images "
                f"(the model's), got {config.dataset!r} with {shape}"
            )
    results_config = {
        "command": "verify",
        "model_sha256": file_sha256(Path(config.model).resolve()),
        "dataset": setup.dataset_name,
        "split": config.split,
        "method": config.method,
        "norm": config.norm,
        "eps": None if config.eps is None else list(config.eps),
        "radius_search": config.radius_search,
        "every_eps": config.every_eps if not config.radius_search else None,
        "eps_max": config.eps_max,
        "radius_tol": config.radius_tol,
        "domain": None if config.domain is None else list(config.domain),
        "time_limit": config.time_limit if config.method in ("lp", "milp") else None,  # ibp/crown: not used
        "tolerance": config.tolerance,
        "device_type": torch.device(device).type,
    }
    common = dict(method=config.method, norm=config.norm, domain=config.domain, time_limit=config.time_limit,
                  tolerance=config.tolerance)

    def compute(images, keys, labels):
        out = []
        for image, idx, label in zip(images, keys, labels):
            if config.radius_search:
                found = largest_certified_radius(model, image, label, eps_max=config.eps_max, tol=config.radius_tol,
                                                 **common)
                steps, radius, upper = found.steps, found.radius, found.upper
            else:
                steps = _verify_radii(model, image, label, config, common, verify_one)
                radius = max([v.eps for v in steps if v.answer == "YES"], default=0.0)
                upper = None
            if config.save_adversarial is not None:
                for v in steps:
                    if v.answer == "NO":
                        _save_adversarial(config.save_adversarial, idx, v, dtype)
            out.append(_Verified(steps[0].prediction, _verify_row(config, steps, image, radius=radius, upper=upper)))
        return out

    columns = VERIFY_SEARCH_COLUMNS if config.radius_search else VERIFY_COLUMNS
    done = write_rows(
        config, setup, columns=columns, config=results_config, compute=compute, to_row=lambda r: r.row, radius=True,
        desc="verify", group=1, with_labels=True, progress=progress, names=names, log=log,
    )
    return done
