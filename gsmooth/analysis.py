"""Certified accuracy, average certified radius, summary tables and plots of results files.

Definitions (Cohen et al. 2019; Zhai et al. 2020):

* a point is *correct* when ``predict == label`` and ``predict != -1`` (not an abstention);
* certified accuracy at radius r = (# correct points with ``radius >= r``) / (# ALL points) —
  abstentions and wrong predictions stay in the denominator;
* ACR = mean over all points of ``radius · correct``;
* abstention rate = fraction of points with ``predict == -1``.

Every function takes a :class:`~gsmooth.results.ResultsTable`, a path to a results file, or a
mapping with ``label``, ``predict`` and ``radius`` arrays:

>>> data = {"label": [0, 1, 2, 3], "predict": [0, 1, -1, 0], "radius": [0.3, 1.0, 0.0, 2.0]}
>>> certified_accuracy(data, [0.0, 0.5]).tolist()
[0.5, 0.25]
>>> float(average_certified_radius(data)), float(abstention_rate(data))
(0.325, 0.25)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np

from .errors import InputError, InvalidParameterError, ResultsFileError
from .results import ResultsTable, read_results

__all__ = [
    "DEFAULT_RADII",
    "Summary",
    "certified_accuracy",
    "average_certified_radius",
    "abstention_rate",
    "summarize",
    "markdown_table",
    "plot_certified_accuracy",
]

#: Radii reported when none are given (Cohen et al.'s CIFAR-10 table, plus r = 0).
DEFAULT_RADII: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)

ResultsLike = Union[ResultsTable, Mapping[str, Any], str, os.PathLike]


@dataclass(frozen=True)
class _Points:
    """Validated per-point arrays: ``correct`` (bool) and ``radius`` (float)."""

    correct: np.ndarray
    radius: np.ndarray
    abstain: np.ndarray

    @property
    def n(self) -> int:
        return int(self.radius.shape[0])


def _points(source: ResultsLike) -> _Points:
    if isinstance(source, (str, os.PathLike)):
        source = read_results(source)
    if isinstance(source, Mapping):
        try:
            label, predict, radius = source["label"], source["predict"], source["radius"]
        except KeyError as exc:
            raise InputError(
                f"results expected a mapping with 'label', 'predict' and 'radius', "
                f"got one without {exc.args[0]!r}"
            ) from None
    elif all(hasattr(source, a) for a in ("label", "predict", "radius")):
        label, predict, radius = source.label, source.predict, source.radius
    else:
        raise InputError(
            f"results expected a ResultsTable, a path to a results file, or a mapping of "
            f"label/predict/radius arrays, got {type(source).__name__}"
        )
    label = np.asarray(label)
    predict = np.asarray(predict)
    radius = np.asarray(radius, dtype=float)
    for name, array in (("label", label), ("predict", predict), ("radius", radius)):
        if array.ndim != 1:
            raise InputError(f"results {name} expected a 1-D array, got shape {array.shape}")
    if not (label.shape == predict.shape == radius.shape):
        raise InputError(
            f"results expected label, predict and radius of one length, got "
            f"{label.shape[0]}, {predict.shape[0]}, {radius.shape[0]}"
        )
    if radius.shape[0] == 0:
        raise InputError("results expected at least one evaluated point, got none")
    if np.any(np.isnan(radius)):
        raise InputError("results radius expected numbers, got NaN")
    abstain = predict == -1
    correct = (predict == label) & ~abstain
    return _Points(correct=correct, radius=radius, abstain=abstain)


def _radii_array(radii: Any) -> np.ndarray:
    try:
        r = np.asarray(radii, dtype=float)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"radii expected numbers, got {radii!r}") from None
    if np.any(np.isnan(r)):
        raise InvalidParameterError(f"radii expected numbers, got NaN in {radii!r}")
    return r


def _certified_accuracy(points: _Points, radii: np.ndarray) -> np.ndarray:
    certified = np.sort(points.radius[points.correct])
    # number of correct points with radius >= r  ==  n_correct - #(radius < r)
    counts = certified.size - np.searchsorted(certified, radii, side="left")
    return counts / points.n


def certified_accuracy(results: ResultsLike, radii: Any) -> np.ndarray:
    """Fraction of ALL evaluated points that are correct with certified radius ``>= r``.

    ``radii`` is a number or an array; the result has its shape.

    >>> certified_accuracy({"label": [1, 1], "predict": [1, -1], "radius": [0.5, 0.0]}, [0, 0.5, 0.6])
    array([0.5, 0.5, 0. ])
    """
    return _certified_accuracy(_points(results), _radii_array(radii))


def average_certified_radius(results: ResultsLike) -> float:
    """ACR (Zhai et al. 2020): mean over all points of ``radius`` if correct, else 0.

    >>> average_certified_radius({"label": [1, 1], "predict": [1, 0], "radius": [0.5, 9.0]})
    0.25
    """
    points = _points(results)
    return float(np.where(points.correct, points.radius, 0.0).mean())


def abstention_rate(results: ResultsLike) -> float:
    """Fraction of points where the smoothed classifier abstained (``predict == -1``).

    >>> abstention_rate({"label": [1, 1], "predict": [1, -1], "radius": [0.5, 0.0]})
    0.5
    """
    return float(_points(results).abstain.mean())


@dataclass(frozen=True)
class Summary:
    """Headline numbers of one results file.

    ``clean_accuracy`` is the smoothed classifier's accuracy (certified accuracy at r = 0);
    ``certified_accuracy[i]`` belongs to ``radii[i]``. ``table`` keeps the source rows (for
    plots and other radii) when they came from a file or a :class:`ResultsTable`.

    >>> s = summarize({"label": [1, 2], "predict": [1, 2], "radius": [0.3, 0.8]}, [0.5], name="demo")
    >>> s.n_points, s.clean_accuracy, s.certified_accuracy, s.acr
    (2, 1.0, (0.5,), 0.55)
    """

    name: str
    n_points: int
    clean_accuracy: float
    radii: tuple[float, ...]
    certified_accuracy: tuple[float, ...]
    acr: float
    abstain_rate: float
    table: Any = field(default=None, repr=False, compare=False)

    def at(self, radius: float) -> float:
        """Certified accuracy at ``radius`` (recomputed from the rows if not among ``radii``)."""
        for r, acc in zip(self.radii, self.certified_accuracy):
            if r == radius:
                return acc
        if self.table is None:
            raise InvalidParameterError(
                f"radius expected one of {list(self.radii)} for summary {self.name!r} "
                f"(it keeps no rows), got {radius!r}"
            )
        return float(certified_accuracy(self.table, radius))


def summarize(
    results: ResultsLike,
    radii: Any = DEFAULT_RADII,
    *,
    name: str | None = None,
) -> Summary:
    """Summarise one results file (or table): n, clean accuracy, certified accuracy at ``radii``,
    ACR and abstention rate. ``name`` defaults to the file's path.

    >>> summarize({"label": [0, 0, 0], "predict": [0, -1, 1], "radius": [1.0, 0.0, 0.4]}).certified_accuracy
    (0.3333333333333333, 0.3333333333333333, 0.3333333333333333, 0.3333333333333333, 0.3333333333333333)
    """
    if isinstance(results, (str, os.PathLike)):
        results = read_results(results)
    points = _points(results)
    r = _radii_array(radii).reshape(-1)
    accuracy = _certified_accuracy(points, r)
    if name is None:
        name = getattr(results, "path", None) or "results"
    return Summary(
        name=str(name),
        n_points=points.n,
        clean_accuracy=float(_certified_accuracy(points, np.asarray(0.0))),
        radii=tuple(float(x) for x in r),
        certified_accuracy=tuple(float(x) for x in accuracy),
        acr=math.nan if is_interval_results(results) else float(np.where(points.correct, points.radius, 0.0).mean()),
        abstain_rate=float(points.abstain.mean()),
        table=results,
    )


def is_interval_results(table: Any) -> bool:
    """True for rows of interval certificates (``certificate`` column ``interval``): their radius
    column holds the range's extent when certified, so an average radius (ACR) means nothing."""
    extra = getattr(table, "extra", None) or {}
    kinds = extra.get("certificate") if isinstance(extra, Mapping) else None
    return kinds is not None and len(kinds) > 0 and all(str(k) == "interval" for k in kinds)


def _as_summary(item: Any, radii: Any = DEFAULT_RADII) -> Summary:
    return item if isinstance(item, Summary) else summarize(item, radii)


def _as_list(items: Any) -> list:
    if isinstance(items, (Summary, ResultsTable, str, os.PathLike, Mapping)):
        return [items]
    return list(items)


def _radius_label(r: float) -> str:
    text = f"{r:.2f}"
    return text if float(text) == r else f"{r:g}"


def markdown_table(summaries: Iterable[Any], radii: Any = None) -> str:
    """A Markdown table with one row per results file:
    ``| file | n | r=0.00 | r=0.25 | … | ACR | abstain |``, values to 3 decimals.

    ``summaries`` holds :class:`Summary` objects, tables or paths. ``radii`` defaults to the
    radii of the first summary.

    >>> s = summarize({"label": [1, 2], "predict": [1, -1], "radius": [0.3, 0.0]}, [0, 0.25], name="a.tsv")
    >>> print(markdown_table([s]))
    | file | n | r=0.00 | r=0.25 | ACR | abstain |
    |---|---:|---:|---:|---:|---:|
    | a.tsv | 2 | 0.500 | 0.500 | 0.150 | 0.500 |
    """
    items = _as_list(summaries)
    if not items:
        raise InvalidParameterError("summaries expected at least one summary, got none")
    if radii is None:
        first = items[0]
        radii = first.radii if isinstance(first, Summary) else DEFAULT_RADII
    r = tuple(float(x) for x in _radii_array(radii).reshape(-1))
    rows = [_as_summary(item, r) for item in items]
    header = ["file", "n"] + [f"r={_radius_label(x)}" for x in r] + ["ACR", "abstain"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
    ]
    for s in rows:
        cells = [s.name.replace("|", "\\|"), str(s.n_points)]
        cells += [f"{s.at(x):.3f}" for x in r]
        cells += ["n/a" if math.isnan(s.acr) else f"{s.acr:.3f}", f"{s.abstain_rate:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _norm_of(table: Any) -> str | None:
    """The norm the radii are measured in, if the file says (``norm`` column or config key)."""
    extra = getattr(table, "extra", None) or {}
    if "norm" in extra and len(extra["norm"]):
        values = {str(v) for v in np.asarray(extra["norm"]).tolist()}
        if len(values) == 1:
            return values.pop()
    config = getattr(table, "config", None) or {}
    norm = config.get("norm")
    return str(norm) if norm is not None else None


def plot_certified_accuracy(
    summaries_or_tables: Any,
    path: str | os.PathLike,
    *,
    labels: Sequence[str] | None = None,
    max_radius: float | None = None,
    title: str | None = None,
) -> str:
    """Plot certified accuracy against radius, one exact step curve per results file.

    Items are :class:`Summary` objects (made from rows), :class:`ResultsTable` objects or paths.
    The curve is evaluated on a fine radius grid plus every certified radius, so its steps are
    exact. Saved with matplotlib's Agg canvas (no pyplot, no GUI, the user's backend untouched)
    in the format of ``path``'s suffix (PNG by default). Returns ``path``.

    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "ca.png")
    >>> data = {"label": [1, 1, 1], "predict": [1, 1, 0], "radius": [0.2, 0.9, 0.0]}
    >>> plot_certified_accuracy([data], out, labels=["sigma=0.25"]) == out
    True
    """
    items = _as_list(summaries_or_tables)
    if not items:
        raise InvalidParameterError("summaries_or_tables expected at least one item, got none")
    sources, names = [], []
    for item in items:
        if isinstance(item, Summary):
            if item.table is None:
                raise InvalidParameterError(
                    f"summary {item.name!r} expected to keep its rows (made by summarize), got none"
                )
            sources.append(item.table)
            names.append(item.name)
        else:
            table = read_results(item) if isinstance(item, (str, os.PathLike)) else item
            sources.append(table)
            names.append(str(getattr(table, "path", None) or f"results {len(names) + 1}"))
    if labels is not None:
        labels = [str(x) for x in labels]
        if len(labels) != len(sources):
            raise InvalidParameterError(
                f"labels expected {len(sources)} entries (one per file), got {len(labels)}"
            )
        names = labels
    points = [_points(s) for s in sources]

    if max_radius is None:
        finite = np.concatenate([p.radius[p.correct & np.isfinite(p.radius)] for p in points])
        top = float(finite.max()) if finite.size else 0.0
        max_radius = top * 1.05 if top > 0 else 1.0
    elif not (isinstance(max_radius, (int, float)) and np.isfinite(max_radius) and max_radius > 0):
        raise InvalidParameterError(f"max_radius expected a finite number > 0, got {max_radius!r}")

    out = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(directory):
        raise ResultsFileError(f"cannot write plot to {out}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ResultsFileError(f"cannot write plot to {out}: directory {directory} is not writable")
    suffix = os.path.splitext(out)[1].lower().lstrip(".")
    fmt = suffix if suffix in ("png", "pdf", "svg", "eps", "ps") else "png"

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.0, 4.0), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    fine = np.linspace(0.0, float(max_radius), 1001)
    for p, name in zip(points, names):
        steps = p.radius[p.correct]
        steps = steps[(steps >= 0) & (steps <= max_radius)]
        grid = np.union1d(fine, steps)
        # accuracy(r) counts radius >= r: constant on (r_i-1, r_i], hence drawstyle "steps-pre"
        axes.plot(grid, _certified_accuracy(p, grid), drawstyle="steps-pre", label=name)
    norm = {_norm_of(s) for s in sources}
    norm_text = norm.pop() if len(norm) == 1 else None
    axes.set_xlabel(f"radius ({norm_text})" if norm_text else "radius")
    axes.set_ylabel("certified accuracy")
    axes.set_xlim(0.0, float(max_radius))
    axes.set_ylim(0.0, 1.0)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper right")
    if title:
        axes.set_title(title)
    figure.tight_layout()
    try:
        figure.savefig(out, format=fmt)
    except OSError as exc:
        raise ResultsFileError(f"cannot write plot to {out}: {exc.strerror or exc}") from exc
    return out
