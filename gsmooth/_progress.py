"""Progress bars (tqdm, on standard error) for the long loops inside one computation.

The command line shows one bar over images; a step of it that is long (an image needing many
forward passes, an interval certificate with many slices) gets a second bar over the work inside
it — noise samples, slices, path points — cleared when the step ends (``leave=False``). Nothing
is shown unless the caller asks (``progress=True``); ``--no-progress`` asks for none.
"""

from __future__ import annotations

__all__ = ["progress_bar"]


def progress_bar(total: int | None, *, unit: str, desc: str):
    """A tqdm bar on stderr over ``total`` ``unit`` s (``None``: a counter), cleared when closed;
    large totals in k/M/G (``1.2M/100M``), small ones as integers (``3/8``)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, unit_scale=total is not None and total >= 10_000, leave=False, desc=desc)
