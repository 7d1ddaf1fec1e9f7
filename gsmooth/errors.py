"""Typed errors of gsmooth.

Every error gsmooth raises on bad input derives from :class:`GsmoothError` *and* from the built-in
exception a Python user would expect (``ValueError``, ``KeyError``, ``FileNotFoundError`` …), in
the scikit-learn manner: ``except ValueError`` keeps working, and ``except gsmooth.GsmoothError``
catches everything the toolkit reports on purpose. Messages follow "expected …, got …".

The CLI turns any :class:`GsmoothError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

__all__ = [
    "GsmoothError",
    "InvalidParameterError",
    "InputError",
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
]


class GsmoothError(Exception):
    """Base class of every error gsmooth raises on purpose."""


class InvalidParameterError(GsmoothError, ValueError):
    """A hyper-parameter or argument is outside its valid range or of the wrong type."""


class InputError(GsmoothError, ValueError):
    """An input tensor has the wrong shape, channel count, dtype or non-finite values."""


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
    """The transform/noise pair cannot be given an interval certificate (the message says why)."""
