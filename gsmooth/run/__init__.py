"""Preparing and describing runs: a smoother from a checkpoint, and the typed configuration of a
certify / predict / attack run.

- :class:`SmootherSetup` (:meth:`SmootherSetup.load`; :meth:`gsmooth.Smoother.from_checkpoint`
  returns its ``.smoother``): a checkpoint plus overrides → the smoother, and what it was built from.
- :class:`CertifyConfig`, :class:`PredictConfig`, :class:`AttackConfig`: frozen dataclasses validated
  on construction (:mod:`gsmooth.run.config`); the CLI builds one per command, once, from its
  arguments, and the code below the CLI takes them.

This layer sits above :mod:`gsmooth.core` (the engine), :mod:`gsmooth.io` and :mod:`gsmooth.surrogate`,
and below :mod:`gsmooth.cli`.

- :func:`certify`, :func:`predict`, :func:`attack`, :func:`verify` (:mod:`gsmooth.run.runner`): a whole run of
  ``gsmooth certify|predict|attack|verify`` from its configuration — rows appended to ``config.out``,
  resumable — returning a :class:`RunResult`.
- :mod:`gsmooth.run.distributed`: the same runs on several processes (torchrun, ``--nproc K``): each
  rank computes its share into ``<out>.rank<r>``, rank 0 merges them into ``out`` in index order
  (the rows of a single process).
"""

from .config import AttackConfig, CertifyConfig, PredictConfig, RunConfig, VerifyConfig
from .runner import RunResult, VerifySetup, attack, certify, predict, verify
from .smoother_setup import (
    SmootherSetup,
    SmoothingChoice,
    SmoothingMismatchWarning,
    build_surrogate_transform,
    recorded_path_near,
    resolve_smoothing,
    resolve_surrogate_path,
)

__all__ = [
    "SmootherSetup", "SmoothingChoice", "SmoothingMismatchWarning", "resolve_smoothing", "recorded_path_near",
    "resolve_surrogate_path", "build_surrogate_transform", "RunConfig", "CertifyConfig", "PredictConfig", "AttackConfig",
    "certify", "predict", "attack", "RunResult", "VerifyConfig", "VerifySetup", "verify",
]
