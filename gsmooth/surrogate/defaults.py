"""Default parameter ranges of the surrogate transforms."""

from __future__ import annotations



from ..errors import InvalidParameterError


#: Default certified/training parameter ranges (in the transform's own units), from the GSmooth
#: paper where it states one: rotational blur ‖α‖ < 10°, defocus blur < 5 (disk radius, pixels),
#: zoom blur < 0.5, pixelate < 0.5. Motion blur has no certified range in the paper (only CIFAR-10-C
#: empirical accuracy): we pick 0–5 pixels of line length, which covers Hendrycks' CIFAR severities
#: 1–2 (radius 6 kernel, σ 1–1.5). Rotation ±10° as in GSmooth/TSS CIFAR tables, scaling ±0.3 (TSS's
#: ±30 %) — those assume the plugin's parameter means what their names say; check ``param_units``.
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "rotational_blur": (0.0, 10.0),
    "defocus_blur": (0.0, 5.0),
    "zoom_blur": (0.0, 0.5),
    "pixelate": (0.0, 0.5),
    "motion_blur": (0.0, 5.0),
    "rotation": (-10.0, 10.0),
    "scaling": (-0.3, 0.3),
}



def default_range(transform_name: str) -> tuple[float, float]:
    """The default parameter range for a transform name (see :data:`DEFAULT_RANGES`).

    Raises:
        InvalidParameterError: no default is known (pass ``param_range`` / ``--range lo:hi``).
    """
    try:
        return DEFAULT_RANGES[transform_name]
    except KeyError:
        raise InvalidParameterError(
            f"surrogate: no default parameter range for transform {transform_name!r} (known: "
            f"{', '.join(f'{k} {lo:g}:{hi:g}' for k, (lo, hi) in DEFAULT_RANGES.items())}); expected an "
            "explicit range (param_range=(lo, hi), or --range lo:hi), got none"
        ) from None
