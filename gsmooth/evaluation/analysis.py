"""Certified accuracy, average certified radius, summary tables and plots of results files.

Definitions (Cohen et al. 2019; Zhai et al. 2020):

* a point is *correct* when ``predict == label`` and ``predict != -1`` (not an abstention);
* certified accuracy at radius r = (# correct points with ``radius >= r``) / (# ALL points) —
  abstentions and wrong predictions stay in the denominator;
* ACR = mean over all points of ``radius · correct``;
* abstention rate = fraction of points with ``predict == -1``.

Every function takes a :class:`~gsmooth.io.results.ResultsTable`, a path to a results file, or a
mapping with ``label``, ``predict`` and ``radius`` arrays:

>>> data = {"label": [0, 1, 2, 3], "predict": [0, 1, -1, 0], "radius": [0.3, 1.0, 0.0, 2.0]}
>>> certified_accuracy(data, [0.0, 0.5]).tolist()
[0.5, 0.25]
>>> float(average_certified_radius(data)), float(abstention_rate(data))
(0.325, 0.25)

**Units.** A radius means nothing without what it measures: an ℓ2 radius in pixel space, an ℓ1
one, degrees of rotation, pixels² of blur variance, or (interval certificates) no radius at all but
one certified range per row. :func:`radius_unit` reads it from the file's own ``norm``, ``units``,
``certificate``, ``transform`` and ``range`` columns (and its JSON sidecar), never from a table of
built-in names; a file without them (locuslab/smoothing's Cohen format) is read as Gaussian ℓ2
radii in pixel space, and :attr:`RadiusUnit.note` says so. :func:`markdown_report` writes one table
per unit group and :func:`plot_certified_accuracy` one panel per group; :func:`markdown_table` is
one table and refuses summaries of different units. Radii given explicitly apply to every radius
group as given; without them each group gets :func:`default_radii` from its own rows. Files
without a radius column (``gsmooth predict``/``attack`` output) are refused
(:class:`~gsmooth.errors.ResultsFileError`), not read as radius 0.
"""

from __future__ import annotations

import math
import os
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np

from ..errors import InputError, InvalidParameterError, ResultsFileError
from ..io.results import ResultsTable, read_results

__all__ = [
    "DEFAULT_RADII",
    "RadiusUnit",
    "Summary",
    "certified_accuracy",
    "average_certified_radius",
    "abstention_rate",
    "summarize",
    "radius_unit",
    "group_by_unit",
    "default_radii",
    "is_interval_results",
    "markdown_table",
    "markdown_report",
    "certified_accuracy_figure",
    "plot_certified_accuracy",
    "rescore",
    "summarize_rescored",
]

#: Radii of :func:`summarize` when none are given (Cohen et al.'s CIFAR-10 table, plus r = 0); the
#: report and the CLI derive each unit group's own defaults instead (:func:`default_radii`).
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


def _no_radius_message(table: Any) -> str:
    """One line refusing a file without a radius column (PREDICT or attack output)."""
    path = getattr(table, "path", None) or "results"
    config = getattr(table, "config", None) or {}
    command = config.get("command") if isinstance(config, Mapping) else None
    what = f"a {command} file" if command in ("predict", "attack") else "a prediction-only file"
    columns = ["idx", "label", "predict", "correct"]
    columns += ["time"] if getattr(table, "time", None) is not None else []
    columns += list(getattr(table, "extra", None) or {})
    shown = ", ".join(columns[:8]) + (", …" if len(columns) > 8 else "")
    hint = (
        "an attack file's outcome per image is in its columns base_correct and smoothed_correct"
        if command == "attack"
        else "a predict file's accuracy is the mean of its correct column, which `gsmooth predict` prints"
    )
    return (
        f"{path}: expected a certify results file with a radius column, got {what} without one "
        f"(columns {shown}); certified accuracy needs radii: run `gsmooth certify` on the same images "
        f"({hint})"
    )


def _points(source: ResultsLike) -> _Points:
    if isinstance(source, (str, os.PathLike)):
        source = read_results(source)
    if getattr(source, "has_radius", True) is False:
        raise ResultsFileError(_no_radius_message(source))
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
    label = _class_indices("label", label, minimum=0)
    predict = _class_indices("predict", predict, minimum=-1)
    try:
        radius = np.asarray(radius, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"results radius expected numbers, got {_short(radius)}") from None
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
    if np.any(radius < 0):
        raise InputError(f"results radius expected radii >= 0, got {float(radius.min()):g}")
    abstain = predict == -1
    correct = (predict == label) & ~abstain
    return _Points(correct=correct, radius=radius, abstain=abstain)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _class_indices(name: str, values: Any, *, minimum: int) -> np.ndarray:
    """A 1-D integer array of class indices (``>= minimum``; -1 = abstain for predictions), or a
    typed error: text, ``None``, fractions and other negatives are not classes."""
    array = np.asarray(values)
    if array.dtype.kind == "b" or array.dtype.kind not in "iuf":
        raise InputError(f"results {name} expected integer class indices, got {array.dtype} values like {_short(values)}")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise InputError(f"results {name} expected integer class indices, got non-integer values like {_short(values)}")
        array = array.astype(np.int64)
    if array.size and int(array.min()) < minimum:
        raise InputError(f"results {name} expected class indices >= {minimum}, got {int(array.min())}")
    return array


def _radii_array(radii: Any) -> np.ndarray:
    try:
        r = np.asarray(radii, dtype=float)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"radii expected numbers, got {radii!r}") from None
    if np.any(np.isnan(r)):
        raise InvalidParameterError(f"radii expected numbers, got NaN in {radii!r}")
    if np.any(r < 0):
        raise InvalidParameterError(f"radii expected radii >= 0, got {float(r.min()):g} in {_short(radii)}")
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
    plots and other radii) when they came from a file or a :class:`ResultsTable`; ``unit`` says
    what the radii measure (:func:`radius_unit`).

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
    unit: "RadiusUnit | None" = field(default=None, repr=False, compare=False)

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
    r = _radii_array(radii)
    if r.ndim > 1:
        raise InvalidParameterError(f"radii expected a number or a 1-D sequence of radii, got shape {r.shape}")
    r = r.reshape(-1)
    accuracy = _certified_accuracy(points, r)
    if name is None:
        name = getattr(results, "path", None) or "results"
    unit = radius_unit(results)
    return Summary(
        name=str(name),
        n_points=points.n,
        clean_accuracy=float(_certified_accuracy(points, np.asarray(0.0))),
        radii=tuple(float(x) for x in r),
        certified_accuracy=tuple(float(x) for x in accuracy),
        acr=math.nan if unit.interval else float(np.where(points.correct, points.radius, 0.0).mean()),
        abstain_rate=float(points.abstain.mean()),
        table=results,
        unit=unit,
    )


def is_interval_results(table: Any) -> bool:
    """True for rows of interval certificates (``certificate`` column ``interval``): their radius
    column holds the range's extent when certified, so an average radius (ACR) means nothing."""
    extra = getattr(table, "extra", None) or {}
    kinds = extra.get("certificate") if isinstance(extra, Mapping) else None
    return kinds is not None and len(kinds) > 0 and all(str(k) == "interval" for k in kinds)


# --------------------------------------------------------------------------------------------
# units: what a file's radius column measures
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RadiusUnit:
    """What the radius column of one results file measures.

    ``key`` names the group (files of one key share a table and a plot panel) and heads its
    section; ``axis`` labels the plot's x axis; ``interval`` marks interval certificates (one
    certified range per row, no radius axis, no ACR); ``note`` is an assumption made about the
    file (a Cohen-format file read as ℓ2 pixel radii), said beside its table. Two units are
    equal when their keys are.

    >>> radius_unit({"label": [1], "predict": [1], "radius": [0.5], "norm": ["l1"]}).key
    'l1 (pixels)'
    """

    key: str
    axis: str = field(compare=False)
    description: str = field(compare=False)
    interval: bool = field(default=False, compare=False)
    note: str | None = field(default=None, compare=False)


#: The unit of a :class:`Summary` made by hand, without rows and without a unit.
_UNRECORDED = RadiusUnit(
    key="radius (units not recorded)",
    axis="certified radius (units not recorded)",
    description="a summary without rows or unit: what its radii measure is not known",
)
_PARAM_NORM = re.compile(r"^(?:(?P<ball>\S+) )?(?P<kind>param\+?)(?: \[(?P<units>.*)\])?$")
_COLUMN_PREFERENCE = ("norm", "units", "certificate", "transform", "range")


def _source_name(source: Any) -> str:
    return str(getattr(source, "path", None) or getattr(source, "name", None) or "results")


def _one_value(source: Any, name: str) -> str | None:
    """The single value of column ``name`` in ``source`` (None when absent or empty); a file
    whose rows disagree is refused, since its radii would measure several things."""
    if isinstance(source, Mapping):
        values = source.get(name)
    else:
        extra = getattr(source, "extra", None) or {}
        values = extra.get(name) if isinstance(extra, Mapping) else None
    if values is None:
        return None
    items = [values] if isinstance(values, str) else np.asarray(values).reshape(-1).tolist()
    distinct = sorted({str(v).strip() for v in items} - {"", "nan"})
    if len(distinct) > 1:
        raise ResultsFileError(
            f"{_source_name(source)}: expected one {name} for every row (what its radii measure), got "
            f"{', '.join(map(repr, distinct[:4]))}{' …' if len(distinct) > 4 else ''}; split the rows into "
            "one file per kind of certificate"
        )
    return distinct[0] if distinct else None


def radius_unit(source: Any) -> RadiusUnit:
    """What the radii of ``source`` (a results file, :class:`ResultsTable`, mapping or
    :class:`Summary`) measure, from its own ``norm``/``units``/``certificate``/``transform``/``range``
    columns, else its sidecar's configuration; without any of them (Cohen's format) the radii are
    read as Gaussian ℓ2 radii in pixel space, and :attr:`RadiusUnit.note` says so.

    >>> radius_unit({"label": [1], "predict": [1], "radius": [0.5]}).key
    'l2 (pixels)'
    >>> radius_unit({"label": [1], "predict": [1], "radius": [9.0], "norm": ["param [degrees]"],
    ...              "units": ["degrees (radius around theta=0)"], "transform": ["rotation"]}).key
    'rotation parameter: degrees (radius around theta=0)'
    """
    if isinstance(source, Summary):
        if source.unit is not None:
            return source.unit
        return radius_unit(source.table) if source.table is not None else _UNRECORDED
    if isinstance(source, (str, os.PathLike)):
        source = read_results(source)
    if getattr(source, "has_radius", True) is False:
        raise ResultsFileError(_no_radius_message(source))
    config = getattr(source, "config", None) or {}
    config = config if isinstance(config, Mapping) else {}
    found = {name: _one_value(source, name) for name in _COLUMN_PREFERENCE}

    def pick(name: str) -> str | None:
        value = found[name]
        if value is None and config.get(name) not in (None, ""):
            value = str(config[name])
        return value

    norm, units, certificate, rng = pick("norm"), found["units"], pick("certificate"), pick("range")
    # the configuration holds the registered name; the column the transform's description
    transform = str(config["transform"]) if config.get("transform") else found["transform"]
    if transform:
        transform = transform.split("(", 1)[0].strip() or transform
    parameter = f"{transform or 'transform'} parameter"

    if certificate == "interval":
        units_text = units or "parameter units"
        range_text = rng or "its range (not recorded)"
        return RadiusUnit(
            key=f"{parameter}: interval certificate over {range_text} ({units_text})",
            axis=f"{parameter} over the whole range {range_text} ({units_text})",
            description=(
                f"no radius: each row is certified (or not) for every {parameter} value in {range_text} ({units_text})"
            ),
            interval=True,
        )
    if norm is None and units is None:
        return RadiusUnit(
            key="l2 (pixels)",
            axis="certified radius (l2 norm, pixel space)",
            description="certified radius, l2 norm of a perturbation of the pixels",
            note=(
                "no norm column (locuslab/smoothing's Cohen format): radii read as Gaussian smoothing's l2 radii "
                "in pixel space"
            ),
        )
    match = _PARAM_NORM.match(norm or "param")
    if match is None and norm is not None and "param" not in norm:  # l2, l1, linf, or a plugin's norm
        return RadiusUnit(
            key=f"{norm} (pixels)",
            axis=f"certified radius ({norm} norm, pixel space)",
            description=f"certified radius, {norm} norm of a perturbation of the pixels",
        )
    if match is None:  # a parameter norm this reader does not parse: keep the file's own words
        return RadiusUnit(
            key=f"{parameter}: {norm}" + (f", {units}" if units else ""),
            axis=f"certified radius ({parameter}, {norm})",
            description=f"certified radius in the {parameter} ({norm})",
        )
    base = match.group("units") or units or "parameter units"
    ball, one_sided = match.group("ball"), match.group("kind") == "param+"
    key = f"{parameter}: {units or base}"
    if one_sided and not units:
        key += " (one-sided: increases of theta only)"
    if ball:
        key += f", {ball} norm over the parameters"
    axis = f"certified radius, {parameter} ({base})"
    if ball:
        axis = f"certified {ball} radius, {parameter} ({base})"
    if one_sided:
        axis += ", increases only"
    return RadiusUnit(
        key=key,
        axis=axis,
        description=f"certified radius in the {parameter} around theta = 0, in {base}"
        + (" (increases of theta only)" if one_sided else "")
        + (f", {ball} norm over the parameters" if ball else ""),
    )


def _as_summary(item: Any, radii: Any = DEFAULT_RADII) -> Summary:
    return item if isinstance(item, Summary) else summarize(item, radii)


def _as_list(items: Any) -> list:
    if isinstance(items, (Summary, ResultsTable, str, os.PathLike, Mapping)):
        return [items]
    return list(items)


def group_by_unit(items: Any) -> list[tuple[RadiusUnit, list[Summary]]]:
    """Summaries of ``items`` (summaries, tables, paths or mappings) grouped by what their radii
    measure, groups and members in order of first appearance.

    >>> a = {"label": [1], "predict": [1], "radius": [0.5], "norm": ["l2"]}
    >>> b = {"label": [1], "predict": [1], "radius": [0.5], "norm": ["l1"]}
    >>> [(unit.key, len(members)) for unit, members in group_by_unit([a, b, a])]
    [('l2 (pixels)', 2), ('l1 (pixels)', 1)]
    """
    groups: dict[str, tuple[RadiusUnit, list[Summary]]] = {}
    for item in _as_list(items):
        summary = _as_summary(item, (0.0,))
        unit = radius_unit(summary)
        groups.setdefault(unit.key, (unit, []))[1].append(summary)
    return list(groups.values())


def _nice_step(raw: float) -> float:
    exponent = math.floor(math.log10(raw))
    for mantissa in (1.0, 2.0, 2.5, 5.0, 10.0):
        step = mantissa * 10.0**exponent
        if step >= raw * (1 - 1e-9):
            return step
    return 10.0 ** (exponent + 1)  # pragma: no cover - the loop always returns


def default_radii(items: Any) -> tuple[float, ...]:
    """Radii for a group of results of one unit when none are given: 0 and round steps (1, 2, 2.5
    or 5 × 10^k, at most 4 of them) up to the largest certified radius of a correct row.

    >>> default_radii([{"label": [1, 1], "predict": [1, 1], "radius": [0.3, 0.93]}])
    (0.0, 0.25, 0.5, 0.75)
    >>> default_radii([{"label": [1], "predict": [1], "radius": [31.0]}])
    (0.0, 10.0, 20.0, 30.0)
    """
    top = 0.0
    for item in _as_list(items):
        source = item.table if isinstance(item, Summary) else item
        if source is None:
            continue
        p = _points(source)
        radii = p.radius[p.correct & np.isfinite(p.radius)]
        if radii.size:
            top = max(top, float(radii.max()))
    if top <= 0:
        return (0.0,)
    step = _nice_step(top / 4)
    count = int(math.floor(top / step + 1e-9))
    return tuple(float(f"{k * step:.12g}") for k in range(count + 1))


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------


def _radius_label(r: float) -> str:
    text = f"{r:.2f}"
    return text if float(text) == r else f"{r:g}"


def _check_one_unit(rows: Sequence[Summary]) -> RadiusUnit:
    units = [(radius_unit(s), s.name) for s in rows]
    first, first_name = units[0]
    for unit, name in units[1:]:
        if unit != first:
            raise InvalidParameterError(
                f"summaries expected results whose radii measure one thing, got {first.key!r} for {first_name} and "
                f"{unit.key!r} for {name}; use markdown_report, which writes one table per unit"
            )
    return first


def markdown_table(summaries: Iterable[Any], radii: Any = None) -> str:
    """A Markdown table with one row per results file:
    ``| file | n | r=0.00 | r=0.25 | … | ACR | abstain |``, values to 3 decimals.

    ``summaries`` holds :class:`Summary` objects, tables or paths whose radii measure one thing
    (one :func:`radius_unit`; mixing units is refused — :func:`markdown_report` writes one table
    per unit). ``radii`` defaults to the radii of the first summary. Interval certificates have
    no radius axis: their table is ``| file | n | certified (whole range) | abstain |`` (the range
    is in the unit's key).

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
    unit = _check_one_unit(rows)
    if unit.interval:
        header = ["file", "n", "certified (whole range)", "abstain"]
    else:
        header = ["file", "n"] + [f"r={_radius_label(x)}" for x in r] + ["ACR", "abstain"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(header) - 1),
    ]
    for s in rows:
        cells = [s.name.replace("|", "\\|"), str(s.n_points)]
        if unit.interval:
            cells += [f"{s.clean_accuracy:.3f}", f"{s.abstain_rate:.3f}"]
        else:
            cells += [f"{s.at(x):.3f}" for x in r]
            cells += ["n/a" if math.isnan(s.acr) else f"{s.acr:.3f}", f"{s.abstain_rate:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


_RADIUS_LEGEND = (
    "r=x: certified accuracy at radius x = fraction of ALL rows that are correct with certified radius >= x "
    "(wrong and abstained rows count as not certified); ACR: average certified radius = mean over all rows "
    "of the radius if correct, else 0; abstain: fraction of rows with predict = -1."
)
_INTERVAL_LEGEND = (
    "certified (whole range): fraction of ALL rows that are correct and certified for every parameter value "
    "in the range (wrong and abstained rows count as not certified); no radius columns and no ACR: a row "
    "certifies one range, its radius column only holds the range's extent when certified; abstain: fraction "
    "of rows with predict = -1 (some slice of the range not certified or of another class)."
)


def markdown_report(items: Any, radii: Any = None) -> str:
    """One Markdown section per unit group (:func:`group_by_unit`): a heading naming what the
    radii measure, the table (:func:`markdown_table`), a legend line saying what each column
    means, and a note for each assumption made (a Cohen-format file read as ℓ2 pixel radii).

    ``radii`` apply to every radius group as given; without them each group gets
    :func:`default_radii` from its own rows. Interval groups have no radius axis and ignore them.

    >>> a = {"label": [1, 2], "predict": [1, -1], "radius": [0.3, 0.0], "norm": ["l2", "l2"]}
    >>> print(markdown_report([summarize(a, name="a.tsv")], radii=[0, 0.25]))
    ### l2 (pixels)
    <BLANKLINE>
    unit: certified radius, l2 norm of a perturbation of the pixels
    <BLANKLINE>
    | file | n | r=0.00 | r=0.25 | ACR | abstain |
    |---|---:|---:|---:|---:|---:|
    | a.tsv | 2 | 0.500 | 0.500 | 0.150 | 0.500 |
    <BLANKLINE>
    r=x: certified accuracy at radius x = fraction of ALL rows that are correct with certified radius >= x (wrong and abstained rows count as not certified); ACR: average certified radius = mean over all rows of the radius if correct, else 0; abstain: fraction of rows with predict = -1.
    """
    groups = group_by_unit(items)
    if not groups:
        raise InvalidParameterError("items expected at least one results file, got none")
    sections = []
    if len(groups) > 1:
        sections.append(
            f"{len(groups)} groups of results whose radii measure different things: one table each; numbers in "
            "different tables are not comparable."
        )
    for unit, members in groups:
        group_radii = radii if radii is not None else default_radii(members)
        lines = [f"### {unit.key}", "", f"unit: {unit.description}", "", markdown_table(members, group_radii), ""]
        lines.append(_INTERVAL_LEGEND if unit.interval else _RADIUS_LEGEND)
        notes: dict[str, list[str]] = {}
        for s in members:
            note = radius_unit(s).note
            if note is not None:
                notes.setdefault(note, []).append(s.name)
        lines += [f"note: {', '.join(names)}: {note}." for note, names in notes.items()]
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


# --------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------


def _plot_sources(items: list, labels: Sequence[str] | None) -> tuple[list, list[str]]:
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
    return sources, names


def certified_accuracy_figure(
    summaries_or_tables: Any,
    *,
    labels: Sequence[str] | None = None,
    max_radius: float | None = None,
    title: str | None = None,
):
    """A matplotlib :class:`~matplotlib.figure.Figure` (Agg canvas, no pyplot) of certified
    accuracy: one panel (axes) per unit group (:func:`radius_unit`), its x axis labelled with the
    unit, one exact step curve per results file, a legend per panel. Interval groups get one bar
    per file (fraction certified over the whole range). ``max_radius`` applies to every radius
    panel; without it each panel ends a little past its largest certified radius.

    >>> data = {"label": [1, 1, 1], "predict": [1, 1, 0], "radius": [0.2, 0.9, 0.0], "norm": ["l1"] * 3}
    >>> [ax.get_xlabel() for ax in certified_accuracy_figure([data]).axes]
    ['certified radius (l1 norm, pixel space)']
    """
    items = _as_list(summaries_or_tables)
    if not items:
        raise InvalidParameterError("summaries_or_tables expected at least one item, got none")
    sources, names = _plot_sources(items, labels)
    if max_radius is not None and not (
        isinstance(max_radius, (int, float)) and np.isfinite(max_radius) and max_radius > 0
    ):
        raise InvalidParameterError(f"max_radius expected a finite number > 0, got {max_radius!r}")
    points = [_points(s) for s in sources]
    units = [i.unit if isinstance(i, Summary) and i.unit is not None else radius_unit(s) for i, s in zip(items, sources)]
    groups: dict[str, tuple[RadiusUnit, list[int]]] = {}
    for i, unit in enumerate(units):
        groups.setdefault(unit.key, (unit, []))[1].append(i)

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ncols = min(len(groups), 2)
    nrows = math.ceil(len(groups) / ncols)
    figure = Figure(figsize=(6.4 * ncols, 4.4 * nrows), dpi=120)
    FigureCanvasAgg(figure)
    for panel, (unit, members) in enumerate(groups.values()):
        axes = figure.add_subplot(nrows, ncols, panel + 1)
        axes.set_title("\n".join(textwrap.wrap(unit.key, 60)), fontsize=9)
        if unit.interval:
            for position, i in enumerate(members):
                axes.bar(position, _certified_accuracy(points[i], np.asarray(0.0)), width=0.6, label=names[i])
            axes.set_xlim(-0.75, len(members) - 0.25)
            axes.set_xticks(range(len(members)))
            axes.set_xticklabels([names[i] for i in members], rotation=20, fontsize=8)
            axes.set_xlabel("\n".join(textwrap.wrap(unit.axis, 60)))
            axes.set_ylabel("certified accuracy (whole range)")
        else:
            top = max_radius
            if top is None:
                finite = np.concatenate([points[i].radius[points[i].correct & np.isfinite(points[i].radius)]
                                         for i in members])
                peak = float(finite.max()) if finite.size else 0.0
                top = peak * 1.05 if peak > 0 else 1.0
            fine = np.linspace(0.0, float(top), 1001)
            for i in members:
                p = points[i]
                steps = p.radius[p.correct]
                steps = steps[(steps >= 0) & (steps <= top)]
                grid = np.union1d(fine, steps)
                # accuracy(r) counts radius >= r: constant on (r_i-1, r_i], hence drawstyle "steps-pre"
                assumed = " (read as l2)" if radius_unit(sources[i]).note else ""
                axes.plot(grid, _certified_accuracy(p, grid), drawstyle="steps-pre", label=names[i] + assumed)
            axes.set_xlim(0.0, float(top))
            axes.set_xlabel("\n".join(textwrap.wrap(unit.axis, 60)))
            axes.set_ylabel("certified accuracy (fraction of all rows)")
        axes.set_ylim(0.0, 1.0)
        axes.grid(True, alpha=0.3)
        axes.legend(loc="upper right", fontsize=8)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_certified_accuracy(
    summaries_or_tables: Any,
    path: str | os.PathLike,
    *,
    labels: Sequence[str] | None = None,
    max_radius: float | None = None,
    title: str | None = None,
) -> str:
    """Plot certified accuracy against radius (:func:`certified_accuracy_figure`: one panel per
    unit group, one exact step curve per results file) and save it.

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
    from ..io.output_files import atomic_output, check_output_file

    out = os.fspath(path)
    fmt = plot_format(out)
    check_output_file(out, option="plot path", exists_ok=True)  # folder exists and is writable (probed)
    figure = certified_accuracy_figure(summaries_or_tables, labels=labels, max_radius=max_radius, title=title)
    with atomic_output(out, "wb") as handle:  # the old file or the complete new one, never a torn one
        figure.savefig(handle, format=fmt)
    return out


#: Formats ``--plot`` writes, by file suffix (matplotlib's vector and raster backends without extras).
PLOT_FORMATS = ("png", "pdf", "svg", "eps", "ps")


def plot_format(path: str | os.PathLike) -> str:
    """The matplotlib format of a plot path from its suffix (none: PNG); another suffix is refused.

    >>> plot_format("curve.pdf"), plot_format("curve")
    ('pdf', 'png')
    """
    suffix = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if not suffix:
        return "png"
    if suffix not in PLOT_FORMATS:
        raise InvalidParameterError(
            f"plot {os.fspath(path)!r}: expected a suffix among {', '.join('.' + f for f in PLOT_FORMATS)}, got .{suffix}"
        )
    return suffix


# --------------------------------------------------------------------------------------------
# re-scoring Gaussian l2 point certificates with another bound (gsmooth analyze --bound)
# --------------------------------------------------------------------------------------------

_SIGMA_IN_NOISE = re.compile(r"(?:^|[(,\s])sigma=([^,)\s]+)")
#: Columns that only verification rows (gsmooth verify) carry: never smoothing certificates.
_VERIFICATION_COLUMNS = ("method", "answer", "verdict")


def _rescore_refusal(source: Any, bound: str, got: str) -> ResultsFileError:
    return ResultsFileError(
        f"{_source_name(source)}: --bound {bound} expected Gaussian l2 point certificates (additive Gaussian "
        f"noise, one radius per image), got {got}"
    )


def _file_sigma(table: ResultsTable) -> dict[str, float]:
    """Every σ the file records, by where it was found (a ``sigma`` column, the ``noise`` column's
    ``gaussian(sigma=…)``, the sidecar's ``noise_params``/``sigma``)."""
    found: dict[str, float] = {}
    column = _one_value(table, "sigma")
    if column is not None:
        found["column sigma"] = float(column)
    noise = _one_value(table, "noise")
    match = _SIGMA_IN_NOISE.search(noise) if noise else None
    if match:
        found[f"column noise ({noise})"] = float(match.group(1))
    config = table.config if isinstance(table.config, Mapping) else {}
    params = config.get("noise_params")
    if isinstance(params, Mapping) and isinstance(params.get("sigma"), (int, float)):
        found["sidecar noise_params.sigma"] = float(params["sigma"])
    if isinstance(config.get("sigma"), (int, float)) and not isinstance(config.get("sigma"), bool):
        found["sidecar sigma"] = float(config["sigma"])
    return found


def rescore(results: ResultsLike, bound: str, *, sigma: float | None = None) -> ResultsTable:
    """The rows of a file of Gaussian ℓ2 point certificates with their radii recomputed by ``bound``
    (``"cohen"``, ``"pixeldp"`` or ``"li"``, :mod:`gsmooth.core.loose_bounds`).

    p_A is each row's ``p_lower`` and p_B = 1 − p_A, as Cohen's CERTIFY uses them; a file without
    ``p_lower`` (locuslab/smoothing's Cohen format) needs ``sigma``: p_A = Φ(radius/σ) (exactly what
    its radius was made from, to the precision the file writes it). σ is the file's (a ``sigma``
    column, the ``noise`` column ``gaussian(sigma=…)`` or the sidecar's ``noise_params``); ``sigma``
    given as well must agree with it. Abstentions stay abstentions (radius 0); predictions are kept.
    ``bound="cohen"`` on a gsmooth certify file reproduces its radius column. The returned table's
    ``config`` gains an entry ``rescore`` saying how it was made.

    Raises:
        ResultsFileError: the file is not Gaussian ℓ2 point certificates (Laplace ℓ1, a transform,
            interval certificates, verification rows, M* ≠ 1), σ is unknown or contradicted, or a
            certified row has no usable p_lower.
        InvalidParameterError: an unknown bound, or σ not a number > 0.

    >>> data = ResultsTable(idx=np.arange(3), label=np.array([1, 1, 2]), predict=np.array([1, 1, -1]),
    ...                     radius=np.array([0.5815869, 0.3204, 0.0]), correct=np.array([1, 1, 0]),
    ...                     extra={"p_lower": np.array([0.99, 0.9, 0.3]), "noise": np.array(["gaussian(sigma=0.25)"] * 3)})
    >>> rescore(data, "cohen").radius.round(4).tolist(), rescore(data, "li").radius.round(4).tolist()
    ([0.5816, 0.3204, 0.0], [0.477, 0.258, 0.0])
    """
    from ..core.loose_bounds import BOUNDS, bound_radius

    if bound not in BOUNDS:
        raise InvalidParameterError(f"bound expected one of {', '.join(BOUNDS)}, got {bound!r}")
    if sigma is not None and (isinstance(sigma, bool) or not isinstance(sigma, (int, float))
                              or not (math.isfinite(sigma) and sigma > 0)):
        raise InvalidParameterError(f"sigma expected a finite number > 0, got {sigma!r}")
    table = read_results(results) if isinstance(results, (str, os.PathLike)) else results
    if not isinstance(table, ResultsTable):
        raise InputError(f"results expected a ResultsTable or a path to a results file, got {type(table).__name__}")
    if not table.has_radius:
        raise ResultsFileError(_no_radius_message(table))
    config = table.config if isinstance(table.config, Mapping) else {}
    extra = table.extra or {}

    command = config.get("command")
    if command not in (None, "certify"):
        raise _rescore_refusal(table, bound, f"a {command} file")
    for name in _VERIFICATION_COLUMNS:
        if name in extra:
            raise _rescore_refusal(table, bound, f"verification rows (column {name}): they have no p_A to re-score")
    certificate = _one_value(table, "certificate") or (str(config["certificate"]) if config.get("certificate") else None)
    if certificate == "interval":
        raise _rescore_refusal(table, bound, "interval certificates over a transform's parameter range")
    transform = _one_value(table, "transform") or (str(config["transform"]) if config.get("transform") else None)
    if transform is not None and transform.split("(", 1)[0].strip() != "additive":
        raise _rescore_refusal(table, bound, f"certificates of transform {transform} (a parameter radius)")
    if certificate not in (None, "radius", "point"):
        raise _rescore_refusal(table, bound, f"{certificate} certificates")
    norm = _one_value(table, "norm") or (str(config["norm"]) if config.get("norm") else None)
    if norm is not None and norm != "l2":
        raise _rescore_refusal(table, bound, f"{norm} radii")
    noise = _one_value(table, "noise") or (str(config["noise"]) if config.get("noise") else None)
    noise_name = noise.split("(", 1)[0].strip() if noise else None
    if noise_name is not None and noise_name != "gaussian":
        raise _rescore_refusal(table, bound, f"noise {noise}")
    recorded = noise is not None or table.config is not None or norm is not None or transform is not None
    if noise is None and recorded:
        raise _rescore_refusal(table, bound, "a file that records no noise")
    if "mstar" in extra:
        mstar = np.asarray(extra["mstar"], dtype=float)
        if not np.all(mstar == 1.0):
            raise _rescore_refusal(table, bound, f"M* = {float(mstar[mstar != 1.0][0]):g} (not plain pixel noise)")

    found = _file_sigma(table)
    values = sorted(set(found.values()))
    if len(values) > 1:
        raise ResultsFileError(
            f"{_source_name(table)}: expected one sigma, got " + ", ".join(f"{v:g} ({k})" for k, v in found.items())
        )
    if values and sigma is not None and not math.isclose(values[0], sigma, rel_tol=1e-12, abs_tol=0.0):
        where = next(iter(found))
        raise ResultsFileError(
            f"{_source_name(table)}: --sigma expected the file's own sigma {values[0]:g} ({where}), got {sigma:g}"
        )
    if not values and sigma is None:
        raise ResultsFileError(
            f"{_source_name(table)}: --bound {bound} expected the noise's sigma (a sigma column, the noise column "
            f"gaussian(sigma=...) or the sidecar's noise_params), got none: pass --sigma"
        )
    s = values[0] if values else float(sigma)
    sigma_from = next(iter(found)) if values else "--sigma"

    live = table.predict != -1
    if "p_lower" in extra:
        try:
            p = np.asarray(extra["p_lower"], dtype=float)
        except (TypeError, ValueError):
            raise ResultsFileError(f"{_source_name(table)}: column p_lower expected probabilities, got text") from None
        bad = live & ~((p > 0.5) & (p <= 1.0))
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise ResultsFileError(
                f"{_source_name(table)}: idx {int(table.idx[i])} expected p_lower in (0.5, 1] for a certified row, "
                f"got {float(p[i])!r}"
            )
        p_from = "p_lower"
    else:
        from scipy.special import ndtr

        p = np.where(live, ndtr(np.asarray(table.radius, dtype=float) / s), 0.0)
        p_from = "radius (p_A = Phi(radius/sigma), as precise as the file's radius column)"
    radius = np.zeros(len(table), dtype=float)
    if np.any(live):
        radius[live] = bound_radius(bound, p[live], sigma=s)
    new_config = dict(config)
    new_config["rescore"] = {"bound": bound, "sigma": s, "sigma_from": sigma_from, "p_a_from": p_from}
    return ResultsTable(
        idx=table.idx, label=table.label, predict=table.predict, radius=radius, correct=table.correct,
        time=table.time, extra=dict(extra), path=table.path, config=new_config, has_radius=True,
    )


def summarize_rescored(
    results: ResultsLike, bound: str, radii: Any = DEFAULT_RADII, *, sigma: float | None = None,
    name: str | None = None,
) -> Summary:
    """:func:`summarize` of :func:`rescore`'s rows, its unit's heading saying which bound re-scored them.

    >>> table = ResultsTable(idx=np.arange(1), label=np.array([1]), predict=np.array([1]), radius=np.array([0.58]),
    ...                      correct=np.array([1]), extra={"p_lower": np.array([0.99]), "sigma": np.array([0.25])})
    >>> summarize_rescored(table, "pixeldp", [0.1]).unit.key
    'l2 (pixels), re-scored with the pixeldp bound (PixelDP, Lecuyer et al. 2019)'
    """
    from ..core.loose_bounds import BOUND_TITLES

    table = rescore(results, bound, sigma=sigma)
    summary = summarize(table, radii, name=name)
    info = table.config["rescore"]
    unit = summary.unit
    notes = [unit.note] if unit.note else []
    notes.append(f"radii re-scored with the {bound} bound, sigma {info['sigma']:g} from {info['sigma_from']}, "
                 f"p_A from {info['p_a_from']}, p_B = 1 - p_A")
    heading = f"{unit.key}, re-scored with the {bound} bound ({BOUND_TITLES[bound]})"
    rescored_unit = RadiusUnit(
        key=heading, axis=f"{unit.axis}, {bound} bound", description=f"{unit.description}, by the {bound} bound",
        interval=unit.interval, note="; ".join(notes),
    )
    return Summary(
        name=summary.name, n_points=summary.n_points, clean_accuracy=summary.clean_accuracy, radii=summary.radii,
        certified_accuracy=summary.certified_accuracy, acr=summary.acr, abstain_rate=summary.abstain_rate,
        table=table, unit=rescored_unit,
    )
