"""Arguments and helpers shared by the CLI commands."""

from __future__ import annotations

import argparse
import os
import sys


from ..embedded import QUICKSTART_TIME
from ..errors import InvalidParameterError
from .. import validation as V
from ..validation import check_device
from ..run.config import RunConfig
from ..run.smoother_setup import SmootherSetup
from ..run import runner as _runner
from ..run.distributed import rank_device


def _parsed(text: str, convert, expected: str):
    """``convert(text)``, or argparse's error "expected <expected>, got '<text>'"."""
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def _within(value, ok: bool, expected: str, shown: str | None = None):
    """``value`` if ``ok``, else argparse's error "expected <expected>, got <value>"."""
    if not ok:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value if shown is None else shown}")
    return value


def _number_type(name: str, convert, expected: str, *checks, doc: str = ""):
    """An argparse type: ``convert`` the text (else "expected <expected>, got '<text>'"), then each
    ``(interval, expected, shown)`` of ``checks`` in turn, an :class:`gsmooth.validation.Interval`
    of the validation table (the one source of the bound) with the words of its message;
    ``shown(value, text)`` writes the rejected value (default: the value)."""

    def parse(text: str):
        value = _parsed(text, convert, expected)
        for interval, words, shown in checks:
            _within(value, interval.contains(value), words, None if shown is None else shown(value, text))
        return value

    parse.__name__ = parse.__qualname__ = name
    parse.__doc__ = doc
    return parse


#: Re-exported from :mod:`gsmooth.validation` (the table's bounds).
MAX_SEED, MAX_BATCH, MAX_FLOAT32 = V.MAX_SEED, V.MAX_BATCH, V.MAX_FLOAT32


def _g(value, text) -> str:
    return f"{value:g}"


positive_int = _number_type("positive_int", int, "a positive integer", (V.POSITIVE_INT, "a positive integer", None))
nonneg_int = _number_type("nonneg_int", int, "a non-negative integer", (V.NONNEG_INT, "a non-negative integer", None))
seed_int = _number_type(
    "seed_int", int, "a non-negative integer", (V.NONNEG_INT, "a non-negative integer", None),
    (V.SEED, "a seed in [0, 2**63 - 1]", None),
    doc="``--seed``: an integer in [0, 2**63 - 1] (what torch's generators take).",
)
batch_int = _number_type(
    "batch_int", int, "a positive integer", (V.POSITIVE_INT, "a positive integer", None),
    (V.BATCH, "a batch size in [1, 2**31 - 1]", None), doc="``--batch``: a positive integer up to 2**31 - 1.",
)
probability = _number_type("probability", float, "a number in (0, 1)", (V.PROBABILITY, "a number in (0, 1)", None))
positive_float = _number_type("positive_float", float, "a positive number", (V.POSITIVE, "a positive finite number", None))
float32_positive = _number_type(
    "float32_positive", float, "a positive number", (V.POSITIVE, "a positive finite number", None),
    (V.FLOAT32_POSITIVE, "a positive number up to 3.4e38 (float32)", _g),
    doc="A positive number a float32 tensor can hold (learning rates).",
)
float32_nonneg = _number_type(
    "float32_nonneg", float, "a non-negative number", (V.FLOAT32_NONNEG, "a number in [0, 3.4e38] (float32)", _g),
    doc="A non-negative number a float32 tensor can hold (weight decay).",
)
nonneg_float = _number_type(
    "nonneg_float", float, "a non-negative number", (V.NONNEG, "a non-negative finite number", lambda v, t: repr(t)),
    doc="A non-negative finite number (``--clip-grad``).",
)


def component_name(text: str) -> str:
    """``--noise`` / ``--transform``: a name, never a blank one (an empty name would silently mean
    the default)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a registered name (see `gsmooth plugins`), got an empty one")
    return text


def add_model_args(p: argparse.ArgumentParser, *, embedded: bool = False, engine: bool = True) -> None:
    """``--model`` and the data options; with ``embedded`` ``--model`` may be left out (then
    :func:`apply_embedded_default` picks the model shipped in the package); with ``engine`` the
    options of how the smoother runs the base model (:func:`add_engine_args`)."""
    g = p.add_argument_group("model and data")
    if embedded:
        g.add_argument(
            "--model", metavar="CKPT",
            help="checkpoint written by `gsmooth train`; default: the small model shipped in the package for "
            "--transform (additive or rotational_blur), certified on 'fashion-mnist-sample' (500 real test images) "
            f"with small sample sizes, offline in {QUICKSTART_TIME} (see gsmooth.embedded)",
        )
    else:
        g.add_argument("--model", required=True, metavar="CKPT", help="checkpoint written by `gsmooth train`")
    g.add_argument("--dataset", help="dataset to evaluate on (default: the checkpoint's)")
    g.add_argument("--split", default="test", choices=("test", "train"), help="dataset split (default: test)")
    g.add_argument("--data-dir", metavar="DIR", help="dataset root in torchvision's layout (default: $GSMOOTH_DATA_DIR or ~/.cache/gsmooth/data; Fashion-MNIST: the Debian files)")
    g.add_argument("--download", action="store_true", help="let torchvision download a missing dataset (needs internet)")
    g.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1 … (default: cpu)")
    if engine:
        add_engine_args(p)


def add_engine_args(p: argparse.ArgumentParser) -> None:
    """``--precision``, ``--channels-last``, ``--compile``: how the base model runs (recorded in the
    results file; see :class:`gsmooth.Smoother`)."""
    g = p.add_argument_group("base model speed (GPU fast path; recorded in the results file, which resumes only with the same)")
    g.add_argument(
        "--precision", default="fp32", choices=("fp32", "bf16", "fp16"),
        help="precision of the base model's forward pass (torch.autocast; cuda: bf16 or fp16, cpu: bf16). Votes are "
        "the argmax of the model's output at this precision: that classifier is the one certified (default: fp32, "
        "the model as it is)",
    )
    g.add_argument("--channels-last", action="store_true",
                   help="channels-last memory format for the model and its inputs (faster convolutions on GPUs)")
    g.add_argument(
        "--compile", nargs="?", const="inductor", default=False, metavar="BACKEND",
        help="torch.compile the base model for the sampling loop (BACKEND default: inductor); compiled at the first "
        "batch (slow on a CPU); a model that fails to compile is an error, never run eagerly instead",
    )


def add_smoothing_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "smoothing (default: what the checkpoint was trained with; for another transform, its defaults "
        "from gsmooth.core.defaults)"
    )
    g.add_argument("--noise", type=component_name, help="noise name (see `gsmooth plugins`), e.g. gaussian (l2), laplace (l1), uniform (l1)")
    g.add_argument("--sigma", type=positive_float, help="noise scale: Gaussian std, Laplace scale, uniform half-width…")
    g.add_argument("--transform", type=component_name, help="transform name (default: the checkpoint's, usually 'additive')")
    g.add_argument(
        "--surrogate", metavar="PATH",
        help="GSmooth surrogate of the transform (`gsmooth surrogate train`); default: the one the checkpoint was "
        "trained with. Needed to certify transforms of kind empirical (rotation, scaling, the blurs, pixelate)",
    )
    g.add_argument(
        "--latent-sigma", type=positive_float, metavar="SIGMA_XI",
        help="std of the surrogate's latent noise xi (default: the checkpoint's, else the transform's default)",
    )
    g.add_argument(
        "--denoiser", metavar="PATH",
        help="denoiser checkpoint (`gsmooth train-denoiser`): denoised smoothing certifies --model after this denoiser "
        "(a classifier trained without noise works); the noise defaults to the denoiser's Gaussian sigma, and another "
        "noise, sigma or transform than additive is refused",
    )


def parse_range_arg(text: str) -> str:
    """argparse type of --range: keeps the text (validated against the transform later)."""
    from ..core.ranges import parse_range

    if text == "default":  # --range without a value
        return text
    try:
        parse_range(text)
    except InvalidParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


#: --n0 default (Cohen et al.).
N0_DEFAULT = 100


def add_sampling_args(
    p: argparse.ArgumentParser, *, n_default: int, certify: bool, embedded: bool = False, embedded_max: bool = False,
) -> None:
    """Sampling options. With ``embedded`` the defaults of --n0/--n/--max are left as ``None`` and
    filled by :func:`apply_embedded_default` (the embedded model's smaller sizes) or
    :func:`fill_sampling_defaults`; with ``embedded_max`` only --max says so (``predict`` keeps its
    --n without --model)."""
    g = p.add_argument_group("sampling")
    later = "; without --model: the embedded default's, see gsmooth.embedded" if embedded else ""
    later_max = "; without --model: the embedded default's, see gsmooth.embedded" if embedded or embedded_max else ""
    if certify:
        g.add_argument("--n0", type=positive_int, default=None if embedded else N0_DEFAULT,
                       help=f"samples to select the top class (default: {N0_DEFAULT}{later})")
    g.add_argument("--n", type=positive_int, default=None if embedded else n_default,
                   help=f"samples to estimate/test it (default: {n_default}{later})")
    p.set_defaults(n_default=n_default)
    g.add_argument("--alpha", type=probability, default=0.001, help="failure probability of each certificate (default: 0.001)")
    g.add_argument("--batch", type=batch_int, default=1000, help="noisy samples per forward pass (default: 1000); results do not depend on it")
    g.add_argument("--seed", type=seed_int, default=0, help="base seed: the same seed gives the same results (default: 0)")
    g.add_argument("--skip", type=positive_int, default=1, help="evaluate every SKIP-th image of the split (default: 1)")
    g.add_argument("--start", type=nonneg_int, default=0, help="index of the first image (default: 0)")
    g.add_argument("--max", type=positive_int, default=None,
                   help=f"evaluate at most MAX images (default: all{later_max})")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def apply_embedded_default(args, command: str):
    """Without ``--model``: take the embedded model of ``--transform`` (:mod:`gsmooth.embedded`), the
    embedded test slice, its sample sizes (unless given), its default range (interval
    certificates) and a default ``--out`` (``gsmooth-<command>-<transform>.tsv`` in the current
    folder). Returns the :class:`gsmooth.embedded.EmbeddedDefault`, or ``None`` when ``--model``
    was given (then only the usual defaults are filled in)."""
    from ..embedded import SAMPLE_DATASET, embedded_default

    if args.model is not None:
        fill_sampling_defaults(args)
        if getattr(args, "out", "") is None:
            raise InvalidParameterError("expected --out TSV (the results file) with --model, got none")
        return None
    emb = embedded_default(args.transform)
    args.model = str(emb.model_path)
    if args.dataset is None:
        args.dataset = SAMPLE_DATASET
    if getattr(args, "n0", 0) is None:
        args.n0 = emb.n0
    if args.n is None:
        args.n = emb.n
    if args.max is None:
        args.max = emb.max_images
    if emb.interval and getattr(args, "range", "") is None:
        args.range = "default"
        if emb.sequential and hasattr(args, "sequential"):
            args.sequential = True
    if getattr(args, "out", "") is None:
        args.out = f"gsmooth-{command}-{emb.transform}.tsv"
    return emb


def fill_sampling_defaults(args) -> None:
    """The usual --n0 / --n defaults where :func:`add_sampling_args` left ``None`` (embedded mode)."""
    if getattr(args, "n0", 0) is None:
        args.n0 = N0_DEFAULT
    if getattr(args, "n", 0) is None:
        args.n = args.n_default


def add_launch_args(p: argparse.ArgumentParser) -> None:
    """``--nproc`` / ``--threads-per-proc``: the same run on several local processes
    (:func:`gsmooth.run.distributed.launch`; under torchrun each process is one of its ranks)."""
    g = p.add_argument_group("several processes (torch.distributed; see README, Certifying at scale)")
    g.add_argument(
        "--nproc", type=positive_int, default=None, metavar="K",
        help="run on K local worker processes (torch.distributed's elastic launch, as torchrun --nproc_per_node K "
        "-m gsmooth -- COMMAND …): one results file, rows equal to a single process's; with --device cuda each "
        "worker takes its own GPU; 1: a plain run",
    )
    g.add_argument(
        "--threads-per-proc", type=positive_int, default=None, metavar="T",
        help="torch threads of each CPU worker (default: the CPU cores // the workers on this machine)",
    )


def launch_or_prepare(args, argv: list[str]) -> int | None:
    """``--nproc K`` (K > 1): start K workers running the same command and return the exit code;
    otherwise (a plain run, or one rank of a torchrun / --nproc run) set this process's torch threads
    (``--threads-per-proc``; a CPU rank's default: its share of the cores) and return None."""
    from ..run import distributed

    nproc = getattr(args, "nproc", None)
    ctx = distributed.env_context()
    if nproc is not None and nproc > 1:
        if ctx is not None:
            raise InvalidParameterError(
                f"--nproc expected a plain command (it starts the workers itself), got --nproc {nproc} inside a "
                f"distributed run of {ctx.world_size} processes (torchrun); drop --nproc"
            )
        return distributed.launch(argv, nproc=nproc, threads=args.threads_per_proc, command=args.command)
    if not hasattr(args, "threads_per_proc"):
        return None
    threads = args.threads_per_proc
    if threads is None and ctx is not None and str(getattr(args, "device", "cpu")).startswith("cpu"):
        threads = distributed.default_threads(ctx.local_world_size)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return None


#: How the library's messages name the smoothing overrides and the run's fields on the command line.
CLI_NAMES = {
    "noise": "--noise", "sigma": "--sigma", "surrogate": "--surrogate", "latent_sigma": "--latent-sigma",
    "device": "--device", "out": "--out", "model": "--model", "input": "--input", "start": "--start", "skip": "--skip",
    "max": "--max", "range": "--range", "slices": "--slices", "require_sound": "--require-sound",
    "transform": "--transform", "precision": "--precision", "denoiser": "--denoiser",
    "radii": "--radii/--target", "sequential": "--sequential", "refine": "--refine",
}


def warn(msg: str) -> None:
    print(f"gsmooth: warning: {msg}", file=sys.stderr)


def run_config_fields(args) -> dict:
    """The :class:`gsmooth.run.RunConfig` fields of the options every evaluation command has
    (``add_model_args``, ``add_smoothing_args``, the sampling and selection options): the one place
    the argument names meet the configuration's."""
    return dict(
        model=args.model, out=args.out, dataset=args.dataset, split=args.split, data_dir=args.data_dir,
        download=args.download, device=args.device, noise=args.noise, sigma=args.sigma, transform=args.transform,
        surrogate=args.surrogate, latent_sigma=args.latent_sigma, n=args.n, batch_size=args.batch, seed=args.seed,
        start=args.start, skip=args.skip, max=args.max, progress=not args.no_progress,
        precision=args.precision, channels_last=args.channels_last, compile=args.compile,
        denoiser=getattr(args, "denoiser", None),
    )


def setup_smoother(config: RunConfig) -> SmootherSetup:
    """Load the checkpoint and build the smoother (:meth:`gsmooth.run.SmootherSetup.load`); the
    configuration's smoothing overrides the checkpoint's, mismatch warnings go to standard error and
    messages name the command-line flags."""
    device = check_device(rank_device(config.device), what="--device")  # cuda under torchrun: this rank's GPU
    return SmootherSetup.load(
        config.model, **config.smoothing_overrides(), device=device, dataset=config.dataset, warn=warn, names=CLI_NAMES,
        **config.engine_options(),
    )


def selected_indices(config: RunConfig, size: int) -> list[int]:
    return config.selected(size)


def input_paths(config: RunConfig) -> dict:
    """The files a command reads, by option: an output may be none of them."""
    return _runner.input_paths(config, CLI_NAMES)


def check_results_out(config: RunConfig) -> None:
    """Before any work: ``--out`` (and its ``.json`` sidecar) may be written
    (:func:`gsmooth.run.runner.check_results_out`, messages naming the flags)."""
    _runner.check_results_out(config, names=CLI_NAMES)


def results_interrupted(args) -> str:
    """The hint after Ctrl-C / SIGTERM of a command writing a results file (certify, predict,
    attack): where the rows are and that the same command resumes — or that nothing was written."""
    from ..run.distributed import rank_files

    if getattr(args, "out", None) and rank_files(args.out):  # a distributed run: each rank's rows in its file
        return (f"the rows written so far are in {args.out}.rank<r> (merged into {args.out} by the next run); run the "
                "same command again to resume")
    if getattr(args, "out", None) and os.path.exists(args.out):
        return f"the rows written so far are in {args.out}; run the same command again to resume"
    return "nothing was written"


class HelpFormatter(argparse.HelpFormatter):
    """Adds ``(default: X)`` to an option's help unless the help already says it or X is empty."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default in (None, False, argparse.SUPPRESS)
            or default == []
            or action.option_strings == []
        ):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


def radii_arg(text: str) -> tuple[float, ...]:
    """``R[,R...]``: positive finite target radii (checked by :func:`gsmooth.core.smoother.check_target_radii`)."""
    import argparse

    from ..core.smoother import check_target_radii

    try:
        return check_target_radii([float(v) for v in text.split(",")])
    except (ValueError, InvalidParameterError):
        raise argparse.ArgumentTypeError(
            f"expected positive numbers separated by commas (e.g. 0.25,0.5), got {text!r}"
        ) from None


def target_radii(args) -> tuple[float, ...] | None:
    """The target radii of ``--radii R[,R...]`` or ``--target R`` (one of them), or None."""
    radii, target = getattr(args, "radii", None), getattr(args, "target", None)
    if radii is not None and target is not None:
        raise InvalidParameterError(f"--target R is --radii R; expected one of them, got --radii {','.join(map(str, radii))} "
                                    f"and --target {target[0]:g}")
    if target is not None and len(target) != 1:
        raise InvalidParameterError(f"--target expected one radius, got {len(target)} (use --radii for several)")
    return radii if radii is not None else target
