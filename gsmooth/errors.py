"""Typed errors of gsmooth.

Every error gsmooth raises on bad input derives from :class:`GsmoothError` *and* from the built-in
exception a Python user would expect (``ValueError``, ``KeyError``, ``FileNotFoundError`` …), in
the scikit-learn manner: ``except ValueError`` keeps working, and ``except gsmooth.GsmoothError``
catches everything the toolkit reports on purpose. Messages follow "expected …, got …".

The CLI turns any :class:`GsmoothError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

import difflib
from typing import Callable, Iterable

__all__ = [
    "GsmoothError",
    "InvalidParameterError",
    "InputError",
    "InputTypeError",
    "UnknownComponentError",
    "DuplicateComponentError",
    "PluginError",
    "CheckpointError",
    "DatasetNotFoundError",
    "OutputFileError",
    "ResultsFileError",
    "ModelOutputError",
    "TrainingDivergedError",
    "UnsupportedTransformError",
    "UnsupportedModelError",
    "UnsupportedNoiseError",
    "DistributedConfigError",
    "CompileError",
    "GsmoothWarning",
    "LipschitzWarning",
    "SmoothingMismatchWarning",
    "DatasetFormatError",
    "ImageFileError",
    "ImagePathError",
    "suggest",
]


class GsmoothError(Exception):
    """Base class of every error gsmooth raises on purpose."""


class InvalidParameterError(GsmoothError, ValueError):
    """A hyper-parameter or argument is outside its valid range or of the wrong type."""


class InputError(GsmoothError, ValueError):
    """An input tensor has the wrong shape, channel count, dtype or non-finite values."""


class InputTypeError(InputError, TypeError):
    """An input is of the wrong type (a list where a tensor is expected) or dtype (integer pixels):
    both a ``ValueError`` (an :class:`InputError`) and a ``TypeError``."""


class UnknownComponentError(GsmoothError, KeyError):
    """A noise/transform/architecture/dataset name is not registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class DuplicateComponentError(GsmoothError, ValueError):
    """Two plugins register a component under the same name."""


class PluginError(GsmoothError, TypeError):
    """A plugin returned something that is not a valid component."""


class CheckpointError(GsmoothError, ValueError):
    """A checkpoint is missing, unreadable, not a gsmooth checkpoint, or does not match."""


class DatasetNotFoundError(GsmoothError, FileNotFoundError):
    """A dataset is not on disk; the message says how to get it."""


class OutputFileError(GsmoothError, OSError):
    """An output path cannot be written: it exists and gsmooth did not write it for the same
    configuration, it is one of the command's inputs, or its folder is missing or not writable
    (see :mod:`gsmooth.io.output_files`)."""


class ResultsFileError(OutputFileError):
    """A results file cannot be written, or belongs to a different configuration."""


class ModelOutputError(InputError):
    """The base model returned something that cannot be counted as votes (NaN/inf logits, a wrong
    shape): an error naming the model, never a confident answer."""


class TrainingDivergedError(InvalidParameterError):
    """Training stopped because the loss (or a weight) became NaN/inf: the checkpoint on disk is
    the last finite epoch, never the diverged one; the message names the epoch and what to lower
    (usually the learning rate)."""


class UnsupportedTransformError(InvalidParameterError):
    """The transform/noise pair cannot be given an interval certificate (the message says why;
    raised by :mod:`gsmooth.interval`)."""


class UnsupportedModelError(InputError):
    """The model is not a network :mod:`gsmooth.verification` can encode (a feed-forward chain of
    affine layers and ReLUs); the message names the first layer it cannot encode."""


class UnsupportedNoiseError(InvalidParameterError):
    """The base model refuses the smoothing noise or transform it is given (its
    ``gsmooth_smoothing_noise(noise, transform)`` hook, called by :class:`gsmooth.Smoother` before any
    sampling): e.g. a denoiser trained for Gaussian σ = 0.25 given Laplace noise or σ = 0.5."""


class DistributedConfigError(InvalidParameterError):
    """The ranks of a distributed run (torchrun, ``--nproc``) were given different configurations
    (:mod:`gsmooth.run.distributed`): refused on every rank before any work."""


class CompileError(GsmoothError, RuntimeError):
    """``torch.compile`` could not compile the base model (``Smoother(compile=True)``,
    ``--compile``) although the model runs eagerly: never silently replaced by the eager model,
    whose numbers the results would then not be recorded with."""


class DatasetFormatError(GsmoothError, ValueError):
    """A dataset file exists but is corrupted or not in the expected format (:mod:`gsmooth.data`)."""


class ImageFileError(InputError):
    """An input image or array file is unreadable, of the wrong kind, shape, size or value range
    (:mod:`gsmooth.io.image_files`)."""


class ImagePathError(GsmoothError, FileNotFoundError):
    """The input path does not exist or holds no images (:mod:`gsmooth.io.image_files`)."""


def suggest(
    name: object,
    choices: Iterable[str],
    *,
    cutoff: float = 0.6,
    show: Callable[[str], str] | None = None,
) -> str:
    """The "did you mean" tail of an unknown-name error: `` Did you mean 'x'?`` for the closest of
    ``choices`` (:func:`difflib.get_close_matches`), or an empty string when none is close.

    Args:
        name: what the user typed (compared as ``str(name)``).
        choices: the valid names.
        cutoff: similarity in [0, 1] a choice needs to be suggested.
        show: how to print the match (e.g. add a prefix or map an alias to its canonical name);
            default: as is.

    Returns:
        ``" Did you mean 'x'?"`` or ``""``.

    Example:
        >>> suggest("gausian", ["gaussian", "laplace"])
        " Did you mean 'gaussian'?"
        >>> suggest("zzz", ["gaussian", "laplace"])
        ''
    """
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=cutoff)
    if not close:
        return ""
    return f" Did you mean {(show(close[0]) if show is not None else close[0])!r}?"


# --------------------------------------------------------------------------------------------
# warnings (the certificate stays valid; the user should know)
# --------------------------------------------------------------------------------------------


class GsmoothWarning(UserWarning):
    """Base class of the warnings gsmooth issues (``warnings.simplefilter("error", GsmoothWarning)``
    turns them all into errors)."""


class LipschitzWarning(GsmoothWarning):
    """The Lipschitz estimate had to fall back or found autograd and finite differences disagreeing.

    ``summary`` is the message without its pointer into the API (``GEstimate.notes``): what the
    command line shows its users."""

    def __init__(self, message: str, *, api_hint: str = "") -> None:
        super().__init__(message + api_hint)
        self.summary = message


class SmoothingMismatchWarning(GsmoothWarning):
    """The smoothing a model is certified with is not the one it was trained with (another noise, σ,
    transform, surrogate or σ_ξ): the certificates stay valid but will be weak."""
