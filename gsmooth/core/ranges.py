"""Parameter ranges: one parser, one formatter and one grid helper for every caller.

A range is one closed ``(lo, hi)`` pair per transformation parameter. It is written ``lo:hi`` on
the command line (``lo1:hi1,lo2:hi2`` for several parameters), held as a tuple of float pairs in
the library, and sampled on a grid by the Lipschitz estimate and the attacks.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Sequence

import torch

from ..errors import InvalidParameterError
from ..validation import Interval, validate_params

__all__ = ["parse_range", "format_range", "param_grid"]


def _real(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def parse_range(value, param_dim: int | None = None, *, broadcast: bool = True, what: str = "range") -> tuple[tuple[float, float], ...]:
    """A range as one ``(lo, hi)`` float pair per parameter.

    Args:
        value: ``"lo:hi"`` or ``"lo1:hi1,lo2:hi2"``; a pair ``(lo, hi)``; a sequence of pairs; or a
            ``(2,)`` / ``(d, 2)`` tensor. Every end must be a finite real number with ``lo <= hi``.
        param_dim: the number of parameters expected (``None``: any).
        broadcast: a single pair stands for every one of ``param_dim`` parameters (the CLI's
            ``--range -20:20`` for translation); ``False`` demands exactly ``param_dim`` pairs.
        what: the name used in error messages (``range``, ``param_range``…).

    Returns:
        ``((lo, hi), …)``, ``param_dim`` pairs when it is given.

    Raises:
        InvalidParameterError: malformed, non-finite, ``lo > hi``, or the wrong number of pairs.

    Example:
        >>> parse_range("-0.2:0.2")
        ((-0.2, 0.2),)
        >>> parse_range("-20:20", 2)
        ((-20.0, 20.0), (-20.0, 20.0))
        >>> parse_range([(0, 1), (-2, 2)], 2, broadcast=False)
        ((0.0, 1.0), (-2.0, 2.0))
    """
    def bad(why: str = "") -> InvalidParameterError:
        return InvalidParameterError(
            f"{what}: expected lo:hi (or lo1:hi1,lo2:hi2, one pair per parameter) with finite lo <= hi, got {value!r}{why}"
        )

    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        pairs = []
        for part in parts:
            ends = part.split(":")
            if len(ends) != 2:
                raise bad(" (write each pair as lo:hi)")
            try:
                pairs.append((float(ends[0]), float(ends[1])))
            except ValueError:
                raise bad() from None
    else:
        items = value.tolist() if isinstance(value, torch.Tensor) else value
        try:
            items = list(items)
        except TypeError:
            raise bad() from None
        if len(items) == 2 and all(_real(v) for v in items):
            pairs = [(items[0], items[1])]
        else:
            pairs = []
            for item in items:
                try:
                    pair = tuple(item)
                except TypeError:
                    raise bad() from None
                if len(pair) != 2 or not all(_real(v) for v in pair):
                    raise bad()
                pairs.append(pair)
        pairs = [(float(lo), float(hi)) for lo, hi in pairs]
    if not pairs:
        raise bad()
    for lo, hi in pairs:
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
            raise bad()
    if param_dim is not None:
        if broadcast and len(pairs) == 1 and param_dim > 1:
            pairs = pairs * param_dim
        if len(pairs) != param_dim:
            raise bad(f" ({len(pairs)} pair(s) for param_dim={param_dim})")
    return tuple(pairs)


def format_range(low, high: Sequence[float] | None = None) -> str:
    """``"lo:hi"`` per parameter, comma-separated (the CLI's ``--range`` syntax, ``%g`` numbers).

    Either ``format_range(pairs)`` with ``((lo, hi), …)``, or ``format_range(low, high)`` with one
    sequence of ends each.

    Example:
        >>> format_range(((0.0, 10.0),))
        '0:10'
        >>> format_range([-0.2, -0.2], [0.2, 0.2])
        '-0.2:0.2,-0.2:0.2'
    """
    pairs = low if high is None else zip(low, high)
    return ",".join(f"{float(lo):g}:{float(hi):g}" for lo, hi in pairs)


def param_grid(param_range, grid: int, *, dtype=torch.float64, device=None) -> torch.Tensor:
    """``grid`` values per parameter (``linspace(lo, hi, grid)``: both ends included; a single point
    when lo = hi), all combinations in row-major order: ``(grid**d, d)``.

    Args:
        param_range: anything :func:`parse_range` takes (pairs are not broadcast).
        grid: points per parameter (≥ 1).

    Example:
        >>> param_grid((0, 10), 3).squeeze(1).tolist()
        [0.0, 5.0, 10.0]
        >>> param_grid([(0, 1), (5, 5)], 2).tolist()
        [[0.0, 5.0], [1.0, 5.0]]
    """
    validate_params("param_grid", {"grid": grid}, {"grid": [Interval(Integral, 1, None)]})
    pairs = parse_range(param_range, broadcast=False, what="param_range")
    axes = [torch.linspace(lo, hi, grid if hi > lo else 1, dtype=dtype, device=device) for lo, hi in pairs]
    if len(axes) == 1:
        return axes[0][:, None]
    return torch.cartesian_prod(*axes)
