"""Conformance checks for plugin authors: the same checks the built-ins pass, one property per check.

One line per component runs them all (:func:`check_noise`, :func:`check_transform`)::

    # tests/test_conformance.py of a plugin distribution ``gsmooth-mine``
    from gsmooth.testing import check_noise, check_transform
    from gsmooth_mine import MyNoise, MyTransform

    def test_my_noise():
        check_noise(MyNoise)                   # a class (built with its default sigma) …
        check_noise(MyNoise(sigma=0.5))        # … or an instance

    def test_my_transform():
        check_transform(MyTransform, image_shape=(1, 28, 28))

or one test per property, named after it, with :func:`parametrize_with_checks` (scikit-learn's
``parametrize_with_checks``): pytest then reports ``test_conformance[mine(sigma=0.5)-check_noise_sampling_seeded]``
instead of one failing monolith::

    from gsmooth.testing import parametrize_with_checks

    @parametrize_with_checks([MyNoise(sigma=0.5), (MyTransform(), {"theta_range": (0.0, 2.0)})])
    def test_conformance(component, check):
        check(component)

Every named check (``check_noise_*``, ``check_transform_*``; listed in :data:`NOISE_CHECKS` and
:data:`TRANSFORM_CHECKS`) is a public function taking the component (an instance, or a class built
with default arguments); :func:`noise_checks` / :func:`transform_checks` yield ``(check, name)``
pairs. For example:

    >>> import gsmooth
    >>> from gsmooth.testing import check_transform_identity_at_zero, noise_checks
    >>> check_transform_identity_at_zero(gsmooth.transform("rotation"), theta_range=(-30.0, 30.0))
    >>> noise = gsmooth.noise("laplace", sigma=0.5)
    >>> for check, name in noise_checks(noise):
    ...     if name.startswith("check_noise_radius"):
    ...         check(noise)   # silent when conformant

Besides forward/sample/radius, three checks cover the capabilities the engine asks a component for
(:class:`gsmooth.Transform` and :class:`gsmooth.Noise` document them):

- :func:`check_transform_defaults` — ``Transform.defaults`` is None or usable as is: a registered
  noise valid at its σ, one range pair per :attr:`~gsmooth.Transform.center_dim` (or one pair for
  all) inside the parameter domain, ``latent_sigma`` only with ``surrogate=True``, ``surrogate=True``
  only for kind ``empirical``;
- :func:`check_transform_slice_strategy` — ``slice_strategy()`` is a
  :class:`gsmooth.interval.SliceStrategy`, and an exact transform with ``composes_additively =
  False`` overrides it (the default refuses); ``center_dim`` fits ``param_dim``;
- :func:`check_noise_isotropic_gaussian` — a noise declaring ``isotropic_gaussian = True`` (which
  the GSmooth surrogate and Gaussian-only composition laws trust) really samples N(0, σ²), has norm
  ``l2`` and Cohen's radius σΦ⁻¹(p).

Each check raises :class:`AssertionError` naming the component and the property that failed, so it
reads well under pytest and also works as a plain assertion in a notebook. All randomness is drawn
from fixed seeds: a check that passes once passes every time.

Beyond conformance, :func:`falsify` / :func:`check_certificates` try to *break the certificates*
a (noise, transform) pair produces: adversarial base classifiers (Neyman–Pearson worst cases) are
certified with the public API and then attacked with PREDICT at points inside the certified region
(see :mod:`gsmooth.evaluation.falsification`)::

    from gsmooth.testing import check_certificates

    def test_my_noise_certificates_hold():
        check_certificates(MyNoise(sigma=0.1), "brightness", image_shape=(1, 8, 8))
"""

from __future__ import annotations

import contextlib

import functools
import inspect
import math
import re
from typing import Any, Callable, Iterator

import numpy as np
import torch

from .errors import InvalidParameterError, PluginError
from .evaluation.falsification import FalsificationReport, check_certificates, falsify
from .core.noise import NORMS, Noise
from .core.transform import KINDS, Transform

__all__ = [
    "check_noise",
    "check_transform",
    "noise_checks",
    "transform_checks",
    "parametrize_with_checks",
    "NOISE_CHECKS",
    "TRANSFORM_CHECKS",
    "check_noise_class_attributes",
    "check_noise_get_params",
    "check_noise_validates_sigma",
    "check_noise_sample_shape_dtype_device",
    "check_noise_sampling_seeded",
    "check_noise_follows_ppf",
    "check_noise_sigma_scales_draws",
    "check_noise_pdf_ppf_agree",
    "check_noise_radius_monotone",
    "check_noise_radius_vectorized",
    "check_noise_radius_rejects_bad_p_lower",
    "check_noise_radius_scales_with_sigma",
    "check_noise_radius_within_neyman_pearson",
    "check_noise_declared_norm",
    "check_noise_isotropic_gaussian",
    "check_transform_class_attributes",
    "check_transform_get_params",
    "check_transform_shapes",
    "check_transform_device_dtype",
    "check_transform_inputs_unchanged",
    "check_transform_deterministic",
    "check_transform_batched",
    "check_transform_identity_at_zero",
    "check_transform_composition",
    "check_transform_lipschitz_factor",
    "check_transform_defaults",
    "check_transform_slice_strategy",
    "falsify",
    "check_certificates",
    "FalsificationReport",
]

_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")

#: p_lower values at which radii are checked (includes Cohen's α=0.001, n=1e5, nA=n bound).
_P_GRID = (0.5, 0.5 + 1e-9, 0.5001, 0.51, 0.55, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 0.99993092, 0.999999)
#: p_lower values at which the closed form is compared with the numerical route (quad is slowish).
_P_NUMERICAL = (0.5001, 0.55, 0.7, 0.9, 0.99, 0.999, 0.99993092)
_KS_SAMPLES = 4000
_KS_MIN_PVALUE = 1e-4
#: The norm check (:func:`check_noise_declared_norm`): dimensions, p_lower values, shrink factor of the
#: attacking shift δ = 0.97·radius(p)·u, Monte-Carlo sizes and the failure threshold in standard errors.
_NORM_ORD = {"l2": 2, "l1": 1, "linf": math.inf}
_NORM_DIMS = (2, 16, 256)
_NORM_P = (0.9, 0.99, 0.999)
_NORM_SHRINK = 0.97
_NORM_MAX_SAMPLES = 100_000
_NORM_COORD_BUDGET = 1_600_000  # samples × coordinates per sample set: 6250 samples at d = 256
_NORM_Z = 4.0


def _fail(owner: str, message: str) -> AssertionError:
    return AssertionError(f"{owner}: {message}")


def _check_name(owner: str, name: Any) -> None:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise _fail(
            owner,
            "expected a class attribute `name`: a non-empty string of letters, digits, '_', '-' or '.', "
            f"starting with a letter (the key users type, e.g. 'gaussian'), got {name!r}",
        )


def _default_sigma(cls: type) -> float:
    param = inspect.signature(cls.__init__).parameters.get("sigma")
    if param is not None and param.default is not inspect.Parameter.empty:
        return param.default
    return 0.5


def _resolve_noise(noise_or_cls, sigma) -> Noise:
    if isinstance(noise_or_cls, type):
        if not issubclass(noise_or_cls, Noise):
            raise AssertionError(f"check_noise: expected a subclass of gsmooth.Noise, got {noise_or_cls!r}")
        cls = noise_or_cls
        if "sigma" not in cls.param_names():
            raise _fail(cls.__name__, "expected a keyword-only `sigma` argument in __init__ (every noise's scale)")
        value = _default_sigma(cls) if sigma is None else sigma
        try:
            return cls(sigma=value)
        except Exception as exc:  # noqa: BLE001 - reported as a conformance failure
            raise _fail(cls.__name__, f"could not be built as {cls.__name__}(sigma={value!r}): {exc!r}") from exc
    if not isinstance(noise_or_cls, Noise):
        raise AssertionError(
            f"check_noise: expected a gsmooth.Noise subclass or instance, got {type(noise_or_cls).__name__}"
        )
    noise = noise_or_cls
    if sigma is not None and sigma != getattr(noise, "sigma", None):
        noise = type(noise)(**{**noise.get_params(), "sigma": sigma})
    return noise


def _with_sigma(noise: Noise, sigma: float) -> Noise:
    return type(noise)(**{**noise.get_params(), "sigma": sigma})


def _has(noise: Noise, method: str) -> bool:
    """Whether ``noise`` implements ``pdf``/``ppf`` (the base class raises NotImplementedError)."""
    try:
        getattr(noise, method)(0.5)
    except NotImplementedError:
        return False
    return True


def _vectorized(f: Callable) -> Callable[[np.ndarray], np.ndarray]:
    """``f`` applied elementwise to a float64 array, whether or not ``f`` accepts arrays."""

    def g(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        try:
            y = np.asarray(f(x), dtype=np.float64)
            if y.shape == x.shape:
                return y
        except Exception:  # noqa: BLE001 - scalar-only implementation: fall back below
            pass
        return np.array([float(f(float(v))) for v in x.ravel()], dtype=np.float64).reshape(x.shape)

    return g


def _quantile_cdf(ppf: Callable) -> Callable[[np.ndarray], np.ndarray]:
    """A CDF built by inverting the quantile function on a dense grid (tails included)."""
    tails = np.logspace(-12, -1, 221)
    u = np.unique(np.concatenate([tails, np.linspace(0.1, 0.9, 4001), 1.0 - tails]))
    x = _vectorized(ppf)(u)
    if not np.all(np.isfinite(x)) or np.any(np.diff(x) < 0):
        raise AssertionError("ppf(u) expected finite and non-decreasing in u on (0, 1)")
    return lambda v: np.interp(v, x, u, left=0.0, right=1.0)


# ---------------------------------------------------------------------------------------------
# noises: one public check per property
# ---------------------------------------------------------------------------------------------
def _noise_owner(noise) -> tuple[Noise, str]:
    noise = _resolve_noise(noise, None)
    return noise, f"{type(noise).__name__}(name={getattr(type(noise), 'name', None)!r})"


def check_noise_class_attributes(noise) -> None:
    """``name`` is a registry key, ``norm`` one of ``l2``/``l1``/``linf``/``param``, ``one_sided`` a
    bool, and ``__init__`` takes a keyword-only ``sigma``.

    Args:
        noise: a :class:`gsmooth.Noise` instance, or a subclass (built with its default ``sigma``).

    Raises:
        AssertionError: naming the component and the property.
    """
    noise, owner = _noise_owner(noise)
    cls = type(noise)
    _check_name(owner, getattr(cls, "name", None))
    norm = getattr(cls, "norm", None)
    if norm not in NORMS:
        raise _fail(owner, f"expected class attribute `norm` to be one of {NORMS}, got {norm!r}")
    if not isinstance(getattr(cls, "one_sided", None), bool):
        raise _fail(owner, f"expected class attribute `one_sided` to be a bool, got {getattr(cls, 'one_sided', None)!r}")
    if "sigma" not in cls.param_names():
        raise _fail(owner, "expected a keyword-only `sigma` argument in __init__ (every noise's scale)")


def check_noise_get_params(noise) -> None:
    """``get_params()`` is a dict with ``sigma`` that rebuilds an equal noise; ``repr()`` and
    ``describe()`` are non-empty strings.

    Args:
        noise: a :class:`gsmooth.Noise` instance or subclass.

    Raises:
        AssertionError: naming the component and the property.
    """
    noise, owner = _noise_owner(noise)
    params = noise.get_params()
    if not isinstance(params, dict) or "sigma" not in params:
        raise _fail(owner, f"get_params() expected a dict with 'sigma', got {params!r}")
    try:
        clone = type(noise)(**params)
    except Exception as exc:  # noqa: BLE001
        raise _fail(owner, f"get_params() does not round-trip: {type(noise).__name__}(**{params!r}) raised {exc!r}") from exc
    if clone.get_params() != params or clone != noise:
        raise _fail(owner, f"get_params() does not round-trip: {params!r} rebuilt gives {clone.get_params()!r}")
    for text in (repr(noise), noise.describe()):
        if not isinstance(text, str) or not text:
            raise _fail(owner, f"repr()/describe() expected a non-empty string, got {text!r}")


def check_noise_validates_sigma(noise) -> None:
    """The constructor refuses ``sigma`` 0, negative, NaN and inf with a
    :class:`gsmooth.InvalidParameterError` whose message says what was expected.

    Args:
        noise: a :class:`gsmooth.Noise` instance or subclass.

    Raises:
        AssertionError: naming the component and the property.
    """
    noise, owner = _noise_owner(noise)
    cls, params = type(noise), noise.get_params()
    for bad in (0, 0.0, -1.0, -noise.sigma, float("nan"), float("inf")):
        try:
            cls(**{**params, "sigma": bad})
        except InvalidParameterError as exc:
            if "expected" not in str(exc):
                raise _fail(owner, f"the error for sigma={bad!r} should say what was expected, got {str(exc)!r}") from None
        except Exception as exc:  # noqa: BLE001
            raise _fail(
                owner,
                f"sigma={bad!r} expected to raise gsmooth.InvalidParameterError (call self.validate_params() "
                f"in __init__ with a `_parameter_constraints` table), got {type(exc).__name__}: {exc}",
            ) from exc
        else:
            raise _fail(owner, f"accepted the invalid sigma={bad!r}; expected InvalidParameterError (validate in __init__)")


_SAMPLE_SHAPE = (64, 3, 5, 4)


def _devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def check_noise_sample_shape_dtype_device(noise) -> None:
    """``sample(shape, *, generator, device, dtype)`` returns a finite tensor of that shape, dtype
    (float32, float64) and device (CPU; CUDA too when available), non-negative when ``one_sided``;
    without ``device``/``dtype`` a float32 CPU tensor.

    Args:
        noise: a :class:`gsmooth.Noise` instance or subclass.

    Raises:
        AssertionError: naming the component and the property.
    """
    noise, owner = _noise_owner(noise)
    shape = _SAMPLE_SHAPE
    for device in _devices():
        for dtype in (torch.float32, torch.float64):
            where = f"sample(shape={shape}, device={device!r}, dtype={dtype})"
            a = noise.sample(shape, generator=torch.Generator(device=device).manual_seed(1234), device=device, dtype=dtype)
            if not isinstance(a, torch.Tensor):
                raise _fail(owner, f"{where} expected a torch.Tensor, got {type(a).__name__}")
            if tuple(a.shape) != shape or a.dtype != dtype or a.device.type != device:
                raise _fail(
                    owner, f"{where} expected shape {shape}, dtype {dtype} on {device}, got "
                    f"shape {tuple(a.shape)}, dtype {a.dtype} on {a.device}",
                )
            if not bool(torch.isfinite(a).all()):
                raise _fail(owner, f"{where} returned NaN/inf values")
            if noise.one_sided and bool((a < 0).any()):
                raise _fail(owner, f"{where}: one_sided is True but some draws are negative")
    a = noise.sample((7,), generator=torch.Generator().manual_seed(0))
    if not isinstance(a, torch.Tensor) or tuple(a.shape) != (7,) or a.dtype != torch.float32 or a.device.type != "cpu":
        raise _fail(owner, "sample((7,), generator=g) with default device/dtype expected a float32 CPU tensor of shape (7,)")


def check_noise_sampling_seeded(noise) -> None:
    """``sample`` draws only from ``generator``: the global torch RNG is untouched, the same seed gives
    the same draws, another seed other draws, and the draws are distinct (i.i.d.).

    Args:
        noise: a :class:`gsmooth.Noise` instance or subclass.

    Raises:
        AssertionError: naming the component and the property.
    """
    noise, owner = _noise_owner(noise)
    shape = _SAMPLE_SHAPE
    for device in _devices():
        for dtype in (torch.float32, torch.float64):
            where = f"sample(shape={shape}, device={device!r}, dtype={dtype})"
            cpu_state = torch.random.get_rng_state()
            cuda_state = torch.cuda.get_rng_state() if device == "cuda" else None
            gen = torch.Generator(device=device).manual_seed(1234)
            a = noise.sample(shape, generator=gen, device=device, dtype=dtype)
            if not torch.equal(cpu_state, torch.random.get_rng_state()) or (
                cuda_state is not None and not torch.equal(cuda_state, torch.cuda.get_rng_state())
            ):
                raise _fail(owner, f"{where} changed the global torch RNG state; expected it to draw only from `generator`")
            b = noise.sample(shape, generator=torch.Generator(device=device).manual_seed(1234), device=device, dtype=dtype)
            if not torch.equal(a, b):
                raise _fail(owner, f"{where} is not deterministic: the same seeded generator gave different draws")
            c = noise.sample(shape, generator=torch.Generator(device=device).manual_seed(4321), device=device, dtype=dtype)
            if torch.equal(a, c):
                raise _fail(owner, f"{where} ignores `generator`: seeds 1234 and 4321 gave identical draws")
            if int(torch.unique(a).numel()) < a.numel() // 2:
                raise _fail(owner, f"{where}: draws are not i.i.d. (only {int(torch.unique(a).numel())} distinct values)")


def _draws(noise: Noise) -> dict[float, np.ndarray]:
    """Fixed-seed draws at ``sigma`` (factor 1) and ``2·sigma`` (factor 2), keyed by the factor."""
    draws = {}
    for factor, seed in ((1.0, 11), (2.0, 12)):
        nz = _with_sigma(noise, noise.sigma * factor)
        x = nz.sample((_KS_SAMPLES,), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        draws[factor] = x.double().numpy().ravel()
    return draws


def check_noise_follows_ppf(noise) -> None:
    """The draws follow the law of ``ppf()`` at ``sigma`` and ``2·sigma`` (Kolmogorov–Smirnov on 4000
    fixed-seed draws, p-value > 1e-4); ``ppf`` is finite and non-decreasing. Silent for a noise
    without ``ppf``.

    Args:
        noise: a :class:`gsmooth.Noise` instance or subclass.

    Raises:
        AssertionError: naming the component and the property.
    """
    from scipy import stats

    noise, owner = _noise_owner(noise)
    if not _has(noise, "ppf"):
        return
    for factor, sample in _draws(noise).items():
        nz = _with_sigma(noise, noise.sigma * factor)
        try:
            cdf = _quantile_cdf(nz.ppf)
        except AssertionError as exc:
            raise _fail(owner, str(exc)) from None
        result = stats.kstest(sample, cdf)
        if not result.pvalue > _KS_MIN_PVALUE:
            raise _fail(
                owner,
                f"samples of {nz.describe()} do not follow its ppf(): Kolmogorov–Smirnov statistic "
                f"{result.statistic:.4f}, p-value {result.pvalue:.2e} (expected > {_KS_MIN_PVALUE:g}) on "
                f"{_KS_SAMPLES} fixed-seed draws",
            )


def check_noise_sigma_scales_draws(noise) -> None:
    """``sigma`` is a scale: the median absolute deviation of the draws doubles (±10 %) when
    ``sigma`` doubles (every noise, with or without ``ppf``).

    Args:
        noise: a :class:`gsmooth.Noise` instance or subclass.

    Raises:
        AssertionError: naming the component and the property.
    """
    noise, owner = _noise_owner(noise)
    spread = {f: float(np.median(np.abs(d - np.median(d)))) for f, d in _draws(noise).items()}
    ratio = spread[2.0] / spread[1.0] if spread[1.0] > 0 else float("nan")
    if not 1.8 < ratio < 2.2:
        raise _fail(
            owner, f"expected sigma to scale the draws (median absolute deviation x2 when sigma x2), got x{ratio:.3f}"
        )


def check_noise_pdf_ppf_agree(noise) -> None:
    """``pdf`` and ``ppf`` describe the same law: d ppf/du = 1 / pdf(ppf(u)) on u in [0.05, 0.95]
    (the numerical radius uses both). Silent unless both are defined.

    Args:
        noise: a :class:`gsmooth.Noise` instance or subclass.

    Raises:
        AssertionError: naming the component and the property.
    """
    noise, owner = _noise_owner(noise)
    if not (_has(noise, "pdf") and _has(noise, "ppf")):
        return
    pdf, ppf = _vectorized(noise.pdf), _vectorized(noise.ppf)
    u = np.linspace(0.05, 0.95, 19)
    h = 1e-6
    slope = (ppf(u + h) - ppf(u - h)) / (2 * h)
    inv = 1.0 / pdf(ppf(u))
    if not np.allclose(slope, inv, rtol=1e-3, atol=0):
        i = int(np.argmax(np.abs(slope - inv) / np.abs(inv)))
        raise _fail(
            owner,
            f"pdf() and ppf() disagree: at u={u[i]:.2f}, d ppf/du = {slope[i]:.6g} but 1/pdf(ppf(u)) = {inv[i]:.6g}",
        )


def _as_float(owner: str, value, p) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise _fail(owner, f"radius({p!r}) expected a float, got {value!r}") from exc


def _radii(noise: Noise, owner: str) -> np.ndarray:
    return np.array([_as_float(owner, noise.radius(p), p) for p in _P_GRID])


def check_noise_radius_monotone(noise) -> None:
    """``radius(p_lower)`` is finite and ≥ 0 on [1/2, 1), 0 at p = 1/2, non-decreasing, and
    ``radius(1.0)`` is at least the largest of them (inf allowed).

    Args:
        noise: a :class:`gsmooth.Noise` instance or subclass.

    Raises:
        AssertionError: naming the component and the property.
    """
    noise, owner = _noise_owner(noise)
    radii = _radii(noise, owner)
    scale = max(1.0, float(noise.sigma))
    if not np.all(np.isfinite(radii)) or np.any(radii < 0):
        raise _fail(owner, f"radius(p) expected finite and >= 0 for p in [0.5, 1), got {dict(zip(_P_GRID, radii))}")
    if abs(radii[0]) > 1e-9 * scale:
        raise _fail(owner, f"radius(0.5) expected 0 (no certificate at p_lower = 1/2), got {radii[0]!r}")
    drops = np.diff(radii) < -1e-12 * scale
    if np.any(drops):
        i = int(np.argmax(drops))
        raise _fail(
            owner, f"radius must be non-decreasing in p_lower: radius({_P_GRID[i]}) = {radii[i]!r} > "
            f"radius({_P_GRID[i + 1]}) = {radii[i + 1]!r}",
        )
    at_one = _as_float(owner, noise.radius(1.0), 1.0)
    if not at_one >= radii[-1]:
        raise _fail(owner, f"radius(1.0) expected >= radius({_P_GRID[-1]}) (inf allowed), got {at_one!r}")


def check_noise_radius_vectorized(noise) -> None:
    """``radius(array)`` returns an array of the same shape, equal to ``radius`` of each scalar.

    Args:
        noise: a :class:`gsmooth.Noise` instance or subclass.

    Raises:
        AssertionError: naming the component and the property.
    """
    noise, owner = _noise_owner(noise)
    radii = _radii(noise, owner)
    arr = noise.radius(np.array(_P_GRID).reshape(2, -1))
    if not isinstance(arr, np.ndarray) or arr.shape != (2, len(_P_GRID) // 2):
        raise _fail(owner, f"radius(array of shape (2, {len(_P_GRID) // 2})) expected an array of that shape, got {arr!r}")
    if not np.allclose(arr.ravel(), radii, rtol=1e-12, atol=0):
        raise _fail(owner, "radius(array) expected the same values as radius() of each scalar")


def check_noise_radius_rejects_bad_p_lower(noise) -> None:
    """``radius(p)`` for p outside [1/2, 1] (or NaN) raises :class:`gsmooth.InvalidParameterError`.

    Args:
        noise: a :class:`gsmooth.Noise` instance or subclass.

    Raises:
        AssertionError: naming the component and the property.
    """
    noise, owner = _noise_owner(noise)
    for bad in (0.49, -0.1, 1.0001, 2.0, float("nan")):
        try:
            noise.radius(bad)
        except InvalidParameterError:
            continue
        except Exception as exc:  # noqa: BLE001
            raise _fail(
                owner, f"radius({bad!r}) expected InvalidParameterError (use self._p(p_lower)), got "
                f"{type(exc).__name__}: {exc}",
            ) from exc
        raise _fail(owner, f"radius({bad!r}) expected InvalidParameterError for p_lower outside [0.5, 1], returned a value")


def check_noise_radius_scales_with_sigma(noise) -> None:
    """``sigma`` is a scale: the radius doubles when ``sigma`` doubles (p = 0.6, 0.9, 0.999).

    Args:
        noise: a :class:`gsmooth.Noise` instance or subclass.

    Raises:
        AssertionError: naming the component and the property.
    """
    noise, owner = _noise_owner(noise)
    double = _with_sigma(noise, 2.0 * noise.sigma)
    for p in (0.6, 0.9, 0.999):
        r1, r2 = float(noise.radius(p)), float(double.radius(p))
        if not math.isclose(r2, 2.0 * r1, rel_tol=1e-6, abs_tol=1e-12):
            raise _fail(owner, f"expected radius to scale with sigma: radius({p}) = {r1!r} at sigma, {r2!r} at 2*sigma")


def check_noise_radius_within_neyman_pearson(noise) -> None:
    """For a symmetric noise (``one_sided = False``) with ``pdf``/``ppf`` and a closed-form
    ``radius``, the closed form is at most :meth:`gsmooth.Noise.numerical_radius` (GSmooth eq. 3,
    the 1-D Neyman–Pearson radius) + 1e-8·max(1, sigma). Silent otherwise.

    With c = Ψ⁻¹(p) (= the numerical radius (Ψ⁻¹(p) − Ψ⁻¹(1−p))/2 for a symmetric ψ), the half-space
    classifier 1{θ₁ ≤ c} has P = p at x and exactly 1/2 at x + c·e₁: a shift of ONE coordinate by
    more than c makes it lose its majority, in every dimension and every norm. A smaller closed form
    is allowed (conservative); whether the radius holds in the declared norm in d dimensions is
    :func:`check_noise_declared_norm`'s question.

    Args:
        noise: a :class:`gsmooth.Noise` instance or subclass.

    Raises:
        AssertionError: naming the component and the property.
    """
    noise, owner = _noise_owner(noise)
    scale = max(1.0, float(noise.sigma))
    overridden = type(noise).radius is not Noise.radius
    if overridden and not noise.one_sided and _has(noise, "pdf") and _has(noise, "ppf"):
        closed = np.array([float(noise.radius(p)) for p in _P_NUMERICAL])
        numeric = np.asarray(noise.numerical_radius(np.array(_P_NUMERICAL)), dtype=np.float64)
        excess = closed - numeric
        if np.any(excess > 1e-8 * scale):
            i = int(np.argmax(excess))
            raise _fail(
                owner,
                f"closed-form radius({_P_NUMERICAL[i]}) = {closed[i]!r} exceeds the 1-D Neyman–Pearson radius "
                f"(numerical route, GSmooth eq. 3 from pdf/ppf) = {numeric[i]!r} by {excess[i]:.3g} (expected <= "
                "it + 1e-8): a shift of one coordinate by that much already flips a classifier with that "
                "p_lower, so no certificate can be larger (a smaller, conservative closed form is allowed)",
            )


def _unit_direction(kind: str, d: int, norm: str, one_sided: bool) -> np.ndarray:
    """Direction ``kind`` (``axis``, ``diagonal``, ``random``) in R^d with unit length in ``norm``."""
    if kind == "axis":
        v = np.zeros(d)
        v[0] = 1.0
    elif kind == "diagonal":
        v = np.ones(d)
    else:
        v = np.random.default_rng(1000 + d).standard_normal(d)
        if one_sided:  # a one-sided noise certifies increases only
            v = np.abs(v)
    return v / np.linalg.norm(v, ord=_NORM_ORD[norm])


def _neyman_pearson_mass(llr_p: np.ndarray, llr_q: np.ndarray, p: float) -> tuple[float, float]:
    """Q(A) of the Neyman–Pearson set A = {q/p ≤ t} (randomised on ties) with P(A) = p, and its SE.

    ``llr_p`` / ``llr_q``: log q(z) − log p(z) at draws z from P and from Q. The threshold t is the
    empirical p-quantile of ``llr_p``; where the likelihood ratio has an atom at t (Laplace and
    uniform noise do: the ratio is constant wherever every shifted coordinate is past the shift, or
    0 / ∞ off a bounded support), the test takes the atom with the probability γ that makes
    P(A) = p exactly — taking it whole or not at all gives P(A) ≠ p and a wrong Q(A). Values within
    1e-9·max(1, |t|) of t count as tied (the atom is computed in floating point). Q(A) is the mean
    over Q-draws of 1{llr < t} + γ·1{llr = t}; its standard error adds the Q-side sampling error
    and the P-side error of t, which moves Q(A) by dQ/dP = e^t per unit of P(A).
    """
    n_p, n_q = llr_p.size, llr_q.size
    t = float(np.sort(llr_p)[min(n_p - 1, max(0, math.ceil(p * n_p) - 1))])
    if math.isfinite(t):
        tol = 1e-9 * max(1.0, abs(t))
        below_p, tie_p = llr_p < t - tol, np.abs(llr_p - t) <= tol
        below_q, tie_q = llr_q < t - tol, np.abs(llr_q - t) <= tol
    else:  # t = −inf: the P-mass where q = 0 already reaches p
        below_p, tie_p = np.zeros(n_p, bool), llr_p == t
        below_q, tie_q = np.zeros(n_q, bool), llr_q == t
    lo, tied = float(below_p.mean()), float(tie_p.mean())
    gamma = min(1.0, max(0.0, (p - lo) / tied)) if tied > 0 else 0.0
    w = below_q + gamma * tie_q
    mass = float(w.mean())
    se = math.sqrt(float(w.var()) / n_q + math.exp(min(2.0 * t, 700.0)) * p * (1.0 - p) / n_p)
    return mass, se


def _norm_attacks(noise: Noise, dims: tuple[int, ...] = _NORM_DIMS, p_values: tuple[float, ...] = _NORM_P):
    """Yield ``(direction, d, p, R, Q(A), SE)`` for every case of the norm check (see check_noise)."""
    norm = type(noise).norm if type(noise).norm in _NORM_ORD else "l2"  # "param": one axis, any norm
    logpdf = noise.logpdf
    radii = {p: float(noise.radius(p)) for p in p_values}
    # d = 1 is the axis direction of every d: coordinates the shift leaves alone cancel in q/p
    for d in (1, *dims):
        n = min(_NORM_MAX_SAMPLES, _NORM_COORD_BUDGET // d)
        z_p, z_q = (
            noise.sample((n, d), generator=torch.Generator().manual_seed(seed + d), dtype=torch.float64)
            .double().numpy()
            for seed in (9000, 9500)
        )
        lp_p, lp_q = np.asarray(logpdf(z_p), dtype=np.float64), np.asarray(logpdf(z_q), dtype=np.float64)
        for lp in (lp_p, lp_q):
            if lp.shape != z_p.shape or not np.all(np.isfinite(lp)):
                raise AssertionError(
                    f"logpdf() (default log(pdf())) expected finite values of shape {z_p.shape} at draws of "
                    "sample(); got -inf/NaN or another shape (pdf 0 where sample() draws?)"
                )
        for kind in ("axis",) if d == 1 else ("diagonal", "random"):
            u = _unit_direction(kind, d, norm, noise.one_sided)
            for p in p_values:
                r = radii[p]
                if not (math.isfinite(r) and r > 0):
                    continue
                delta = _NORM_SHRINK * r * u
                # log q − log p at P-draws z and at Q-draws z' + δ (z' from P): per coordinate, summed
                llr_p = (np.asarray(logpdf(z_p - delta), dtype=np.float64) - lp_p).sum(axis=1)
                llr_q = (lp_q - np.asarray(logpdf(z_q + delta), dtype=np.float64)).sum(axis=1)
                mass, se = _neyman_pearson_mass(llr_p, llr_q, p)
                yield kind, d, p, r, mass, se


def check_noise_declared_norm(noise) -> None:
    """Attack the declared norm with the Neyman–Pearson worst case (see :func:`check_noise`, last
    item): ``l2``/``l1``/``linf`` in d ∈ {2, 16, 256} dimensions, ``param`` along its one axis
    (p up to 0.9999). A ``param`` noise without a density passes silently; an ``l2``/``l1``/``linf``
    one without ``pdf``/``logpdf`` fails. About 1 s per noise.

    Args:
        noise: a :class:`gsmooth.Noise` instance or subclass.

    Raises:
        AssertionError: naming the component, the direction, d, p and the worst-case mass.
    """
    noise, owner = _noise_owner(noise)
    norm = type(noise).norm
    one_d = norm not in _NORM_ORD  # "param": a 1-D parameter radius — attacked along its one axis
    if one_d and type(noise).logpdf is Noise.logpdf and not _has(noise, "pdf"):
        return  # no density to build the worst case from (sample() and a closed form only)
    if type(noise).logpdf is Noise.logpdf and not _has(noise, "pdf"):
        raise _fail(
            owner,
            f"declares norm {norm!r} but defines no pdf(): cannot verify the declared norm without pdf (or logpdf); "
            "add the 1-D density, or declare norm = 'param' (a 1-D parameter radius)",
        )
    probe = np.linspace(-1.0, 1.0, 7) * float(noise.sigma)
    try:
        ok = np.asarray(noise.logpdf(probe), dtype=np.float64).shape == probe.shape
    except Exception:  # noqa: BLE001 - reported below
        ok = False
    if not ok:
        raise _fail(owner, "logpdf() (default log(pdf())) expected to act elementwise on numpy arrays (the norm check sums it over d coordinates)")
    try:
        cases = _norm_attacks(noise, dims=(), p_values=_NORM_P + (0.9999,)) if one_d else _norm_attacks(noise)
        for kind, d, p, r, mass, se in cases:
            if mass < 0.5 - _NORM_Z * se and one_d:
                raise _fail(
                    owner,
                    f"radius is not the Neyman–Pearson radius of a {'increase' if noise.one_sided else 'shift'} "
                    f"of the parameter: at p={p}, a shift δ = {_NORM_SHRINK}·radius({p}) (radius {r:.6g}) leaves "
                    f"the worst-case classifier (P(A) = {p} at θ = 0) with Q(A) = {mass:.4f} ± {se:.4f} < 1/2. The "
                    "numerical route (Ψ⁻¹(p_A) − Ψ⁻¹(p_B))/2 is the worst case only for log-concave densities "
                    "(e.g. not Student t): override radius() with the exact Neyman–Pearson radius",
                )
            if mass < 0.5 - _NORM_Z * se:
                where = "a coordinate axis (the 1-D shift, the same in every d)" if kind == "axis" else f"the {kind} direction"
                raise _fail(
                    owner,
                    f"radius is not a certificate in the declared norm {norm!r}: along {where}, d={d}, "
                    f"p={p}: a shift δ = {_NORM_SHRINK}·radius({p})·u (radius {r:.6g}, ‖u‖ = 1 in {norm}) leaves the "
                    f"Neyman–Pearson worst-case classifier (P(A) = {p} at x) with Q(A) = {mass:.4f} ± {se:.4f} < 1/2 "
                    f"at x + δ — it loses the majority inside the claimed ball. The 1-D radius is an l2 radius only "
                    "for isotropic Gaussian noise and an l1 radius only for Laplace/uniform product noise: declare "
                    "norm = 'param' or override radius() with a radius proven in that norm",
                )
    except AssertionError as exc:
        if str(exc).startswith(owner):
            raise
        raise _fail(owner, str(exc)) from None


#: The isotropic-Gaussian check (:func:`check_noise_isotropic_gaussian`): draws per coordinate and
#: coordinates per draw (the pooled 8000 values are tested against N(0, σ²); a Laplace or a uniform
#: noise of the same standard deviation gives p-values below 1e-15 at this size).
_ISO_SHAPE = (1000, 8)


def check_noise_isotropic_gaussian(noise) -> None:
    """A noise declaring ``isotropic_gaussian = True`` is i.i.d. N(0, σ²) in every coordinate with
    σ = ``sigma``, has ``norm = "l2"``, and ``radius(p) == sigma · Φ⁻¹(p)`` (Cohen et al.). Silent
    for a noise that does not declare it (the default ``False``); ``isotropic_gaussian`` must be a bool.

    What is tested, at ``sigma`` and ``2·sigma`` with fixed seeds: the 8 coordinates of
    ``sample((1000, 8))`` are uncorrelated (every sample correlation below 5/√1000); their pooled
    draws follow N(0, σ²) (Kolmogorov–Smirnov, p-value > 1e-4: a Laplace or a uniform noise with
    the same standard deviation fails by a wide margin); and the radius matches σΦ⁻¹(p) to 1e-9
    (relative) on a grid of p in [1/2, 1). Anything whose proof needs Gaussian noise (a GSmooth
    surrogate, the contrast law) trusts this declaration, so it is checked, not assumed.

    Args:
        noise: a :class:`gsmooth.Noise` instance or subclass.

    Raises:
        AssertionError: naming the component and the property.

    Example:
        >>> import gsmooth
        >>> from gsmooth.testing import check_noise_isotropic_gaussian
        >>> check_noise_isotropic_gaussian(gsmooth.noise("gaussian", sigma=0.25))   # silent when conformant
        >>> check_noise_isotropic_gaussian(gsmooth.noise("laplace", sigma=0.25))    # does not declare it: silent
    """
    from scipy import stats

    noise, owner = _noise_owner(noise)
    flag = getattr(type(noise), "isotropic_gaussian", None)
    if not isinstance(flag, bool):
        raise _fail(owner, f"expected class attribute `isotropic_gaussian` to be a bool, got {flag!r}")
    if not flag:
        return
    if type(noise).norm != "l2":
        raise _fail(
            owner,
            f"declares isotropic_gaussian = True, so its radius sigma·Φ⁻¹(p) is an l2 radius; expected norm 'l2', "
            f"got {type(noise).norm!r}",
        )
    if noise.one_sided:
        raise _fail(owner, "declares isotropic_gaussian = True but also one_sided = True; expected a two-sided N(0, sigma²)")
    n, d = _ISO_SHAPE
    for factor, seed in ((1.0, 31), (2.0, 32)):
        nz = _with_sigma(noise, noise.sigma * factor)
        sigma = float(nz.sigma)
        z = nz.sample(_ISO_SHAPE, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).double().numpy()
        with np.errstate(invalid="ignore", divide="ignore"):  # a constant coordinate: NaN, reported below
            corr = np.corrcoef(z, rowvar=False)
        off = np.abs(corr[~np.eye(d, dtype=bool)])
        if not np.all(np.isfinite(off)) or float(off.max()) > 5.0 / math.sqrt(n):
            raise _fail(
                owner,
                f"declares isotropic_gaussian = True, but the coordinates of {nz.describe()} are correlated "
                f"(largest sample correlation {float(np.nanmax(off)):.3f}, expected below {5.0 / math.sqrt(n):.3f}); "
                "expected i.i.d. coordinates",
            )
        result = stats.kstest(z.ravel() / sigma, "norm")
        if not result.pvalue > _KS_MIN_PVALUE:
            raise _fail(
                owner,
                f"declares isotropic_gaussian = True, but the draws of {nz.describe()} do not follow N(0, sigma²) "
                f"with sigma = {sigma:g}: Kolmogorov–Smirnov statistic {result.statistic:.4f}, p-value "
                f"{result.pvalue:.2e} (expected > {_KS_MIN_PVALUE:g}) on {n * d} fixed-seed draws; expected "
                "isotropic_gaussian = False for any other law",
            )
        p = np.array([q for q in _P_GRID if q < 1.0])
        got = np.array([_as_float(owner, nz.radius(float(q)), q) for q in p])
        want = sigma * stats.norm.ppf(p)
        if not np.allclose(got, want, rtol=1e-9, atol=1e-12 * max(1.0, sigma)):
            i = int(np.argmax(np.abs(got - want)))
            raise _fail(
                owner,
                f"declares isotropic_gaussian = True; expected radius(p) == sigma·Φ⁻¹(p) (Cohen et al.), got "
                f"radius({p[i]}) = {got[i]!r} at sigma = {sigma:g}, expected {want[i]!r}",
            )


# ---------------------------------------------------------------------------------------------
# transforms: one public check per property
# ---------------------------------------------------------------------------------------------
def _resolve_transform(transform_or_cls) -> Transform:
    if isinstance(transform_or_cls, type):
        if not issubclass(transform_or_cls, Transform):
            raise AssertionError(f"check_transform: expected a subclass of gsmooth.Transform, got {transform_or_cls!r}")
        try:
            return transform_or_cls()
        except Exception as exc:  # noqa: BLE001
            raise _fail(
                transform_or_cls.__name__,
                f"could not be built with default arguments ({exc!r}); pass an instance to check_transform",
            ) from exc
    if not isinstance(transform_or_cls, Transform):
        raise AssertionError(
            f"check_transform: expected a gsmooth.Transform subclass or instance, got {type(transform_or_cls).__name__}"
        )
    return transform_or_cls


def _transform_owner(transform) -> tuple[Transform, str]:
    t = _resolve_transform(transform)
    cls = type(t)
    return t, f"{cls.__name__}(name={getattr(cls, 'name', None)!r})"


def _tol(dtype: torch.dtype) -> dict:
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-10, "atol": 1e-10}


_BATCH = 4


def _image_maker(input_levels: int | None) -> Callable:
    """``images(shape, generator, dtype)``: uniform pixels in [0, 1], or on the grid i/input_levels."""
    if input_levels is not None and (isinstance(input_levels, bool) or not isinstance(input_levels, int) or input_levels < 1):
        raise AssertionError(f"check_transform: expected input_levels to be None or a positive int, got {input_levels!r}")

    def images(shape, generator, dtype):
        u = torch.rand(shape, generator=generator, dtype=dtype)
        if input_levels is None:
            return u
        return torch.floor(u * (input_levels + 1)).clamp_(max=input_levels) / input_levels

    return images


@contextlib.contextmanager
def _back_on_cpu(t: Transform):
    """Whatever the checks inside do (move ``t`` to each device, fail), ``t`` ends on the CPU."""
    try:
        yield t
    finally:
        t.to("cpu")


def _forward_cases(t: Transform, image_shape, theta_range, input_levels):
    """Yield ``(device, dtype, x, theta, where)``: a fixed-seed batch for every device and float dtype
    (``t`` is moved to the device; callers run inside :func:`_back_on_cpu`)."""
    images = _image_maker(input_levels)
    image_shape = tuple(int(s) for s in image_shape)
    pshape = tuple(t.param_shape(image_shape))
    lo, hi = (float(v) for v in theta_range)
    for device in _devices():
        t.to(device)
        for dtype in (torch.float32, torch.float64):
            gen = torch.Generator().manual_seed(2024)
            x = images((_BATCH, *image_shape), gen, dtype).to(device)
            theta = (lo + (hi - lo) * torch.rand((_BATCH, *pshape), generator=gen, dtype=dtype)).to(device)
            yield device, dtype, x, theta, f"forward(x {tuple(x.shape)} {dtype} on {device}, theta {tuple(theta.shape)})"


def check_transform_class_attributes(transform, *, image_shape: tuple[int, int, int] = (3, 8, 8)) -> None:
    """``name`` is a registry key, ``kind`` one of ``exact``/``surrogate``/``empirical``,
    ``param_dim`` None or a positive int, ``identity_at_zero`` a bool, and ``param_shape(image_shape)``
    is ``(param_dim,)`` (the image shape when ``param_dim is None``).

    Args:
        transform: a :class:`gsmooth.Transform` instance, or a subclass (built with default arguments).
        image_shape: ``(C, H, W)`` given to ``param_shape``.

    Raises:
        AssertionError: naming the component and the property.
    """
    t, owner = _transform_owner(transform)
    cls = type(t)
    _check_name(owner, getattr(cls, "name", None))
    if cls.kind not in KINDS:
        raise _fail(owner, f"expected class attribute `kind` to be one of {KINDS}, got {cls.kind!r}")
    pd = cls.param_dim
    if pd is not None and (isinstance(pd, bool) or not isinstance(pd, int) or pd < 1):
        raise _fail(owner, f"expected `param_dim` to be None (image-shaped θ) or a positive int, got {pd!r}")
    if not isinstance(getattr(cls, "identity_at_zero", None), bool):
        raise _fail(owner, f"expected `identity_at_zero` to be a bool, got {getattr(cls, 'identity_at_zero', None)!r}")
    image_shape = tuple(int(s) for s in image_shape)
    pshape = tuple(t.param_shape(image_shape))
    expected_pshape = image_shape if pd is None else (pd,)
    if pshape != expected_pshape:
        raise _fail(owner, f"param_shape({image_shape}) expected {expected_pshape}, got {pshape}")


def check_transform_get_params(transform) -> None:
    """``get_params()`` rebuilds a transform with the same parameters; ``describe()`` is a string.

    Args:
        transform: a :class:`gsmooth.Transform` instance or subclass.

    Raises:
        AssertionError: naming the component and the property.
    """
    t, owner = _transform_owner(transform)
    cls = type(t)
    params = t.get_params()
    try:
        clone = cls(**params)
    except Exception as exc:  # noqa: BLE001
        raise _fail(owner, f"get_params() does not round-trip: {cls.__name__}(**{params!r}) raised {exc!r}") from exc
    if clone.get_params() != params:
        raise _fail(owner, f"get_params() does not round-trip: {params!r} rebuilt gives {clone.get_params()!r}")
    if not isinstance(t.describe(), str):
        raise _fail(owner, "describe() expected a string")


def check_transform_shapes(
    transform,
    *,
    image_shape: tuple[int, int, int] = (3, 8, 8),
    theta_range: tuple[float, float] = (0.0, 1.0),
    input_levels: int | None = None,
) -> None:
    """``forward(x, theta)`` with x ``(B, C, H, W)`` and theta ``(B, param_dim)`` (image-shaped when
    ``param_dim is None``) returns a finite tensor of shape ``(B, C, H, W)``.

    Args:
        transform: a :class:`gsmooth.Transform` instance or subclass.
        image_shape: ``(C, H, W)`` of the test images (pixels uniform in [0, 1]).
        theta_range: θ's are drawn uniformly in this range.
        input_levels: draw the images on the grid ``i/input_levels`` instead (quantised inputs).

    Raises:
        AssertionError: naming the component and the property.
    """
    t, owner = _transform_owner(transform)
    with _back_on_cpu(t):
        for _, dtype, x, theta, where in _forward_cases(t, image_shape, theta_range, input_levels):
            with torch.no_grad():
                out = t(x, theta)
            if not isinstance(out, torch.Tensor):
                raise _fail(owner, f"{where} expected a tensor, got {type(out).__name__}")
            if tuple(out.shape) != tuple(x.shape):
                raise _fail(owner, f"{where} expected shape {tuple(x.shape)}, got shape {tuple(out.shape)}")
            if not bool(torch.isfinite(out).all()):
                raise _fail(owner, f"{where} returned NaN/inf")


def check_transform_device_dtype(
    transform,
    *,
    image_shape: tuple[int, int, int] = (3, 8, 8),
    theta_range: tuple[float, float] = (0.0, 1.0),
    input_levels: int | None = None,
) -> None:
    """``forward`` returns ``x``'s dtype (float32 and float64) on ``x``'s device (CPU; CUDA too when
    available).

    Args:
        transform: a :class:`gsmooth.Transform` instance or subclass.
        image_shape: ``(C, H, W)`` of the test images.
        theta_range: θ's are drawn uniformly in this range.
        input_levels: draw the images on the grid ``i/input_levels`` instead (quantised inputs).

    Raises:
        AssertionError: naming the component and the property.
    """
    t, owner = _transform_owner(transform)
    with _back_on_cpu(t):
        for device, dtype, x, theta, where in _forward_cases(t, image_shape, theta_range, input_levels):
            with torch.no_grad():
                out = t(x, theta)
            if not isinstance(out, torch.Tensor) or out.dtype != dtype or out.device.type != device:
                got = f"dtype {out.dtype} on {out.device}" if isinstance(out, torch.Tensor) else type(out).__name__
                raise _fail(owner, f"{where} expected dtype {dtype} on {device}; got {got}")


def check_transform_inputs_unchanged(
    transform,
    *,
    image_shape: tuple[int, int, int] = (3, 8, 8),
    theta_range: tuple[float, float] = (0.0, 1.0),
    input_levels: int | None = None,
) -> None:
    """``forward`` does not modify ``x`` or ``theta`` in place.

    Args:
        transform: a :class:`gsmooth.Transform` instance or subclass.
        image_shape: ``(C, H, W)`` of the test images.
        theta_range: θ's are drawn uniformly in this range.
        input_levels: draw the images on the grid ``i/input_levels`` instead (quantised inputs).

    Raises:
        AssertionError: naming the component and the property.
    """
    t, owner = _transform_owner(transform)
    with _back_on_cpu(t):
        for _, _, x, theta, where in _forward_cases(t, image_shape, theta_range, input_levels):
            x0, theta0 = x.clone(), theta.clone()
            with torch.no_grad():
                t(x, theta)
            if not torch.equal(x, x0) or not torch.equal(theta, theta0):
                raise _fail(owner, f"{where} modified its inputs in place")


def check_transform_deterministic(
    transform,
    *,
    image_shape: tuple[int, int, int] = (3, 8, 8),
    theta_range: tuple[float, float] = (0.0, 1.0),
    input_levels: int | None = None,
) -> None:
    """``forward`` uses no global RNG and two calls with the same inputs give equal outputs.

    Args:
        transform: a :class:`gsmooth.Transform` instance or subclass.
        image_shape: ``(C, H, W)`` of the test images.
        theta_range: θ's are drawn uniformly in this range.
        input_levels: draw the images on the grid ``i/input_levels`` instead (quantised inputs).

    Raises:
        AssertionError: naming the component and the property.
    """
    t, owner = _transform_owner(transform)
    with _back_on_cpu(t):
        for _, _, x, theta, where in _forward_cases(t, image_shape, theta_range, input_levels):
            state = torch.random.get_rng_state()
            with torch.no_grad():
                out = t(x, theta)
            if not torch.equal(state, torch.random.get_rng_state()):
                raise _fail(owner, f"{where} used the global RNG; a transform must be deterministic given θ")
            with torch.no_grad():
                again = t(x, theta)
            if not torch.equal(out, again):
                raise _fail(owner, f"{where} is not deterministic: two calls gave different outputs")


def check_transform_batched(
    transform,
    *,
    image_shape: tuple[int, int, int] = (3, 8, 8),
    theta_range: tuple[float, float] = (0.0, 1.0),
    input_levels: int | None = None,
) -> None:
    """The output for a batch equals applying the transform to each sample with its own θ.

    Args:
        transform: a :class:`gsmooth.Transform` instance or subclass.
        image_shape: ``(C, H, W)`` of the test images.
        theta_range: θ's are drawn uniformly in this range.
        input_levels: draw the images on the grid ``i/input_levels`` instead (quantised inputs).

    Raises:
        AssertionError: naming the component and the property.
    """
    t, owner = _transform_owner(transform)
    with _back_on_cpu(t):
        for _, dtype, x, theta, where in _forward_cases(t, image_shape, theta_range, input_levels):
            tol = _tol(dtype)
            with torch.no_grad():
                out = t(x, theta)
                for i in range(_BATCH):
                    single = t(x[i : i + 1], theta[i : i + 1])
                    if not torch.allclose(single[0], out[i], **tol):
                        raise _fail(
                            owner,
                            f"{where} is not batched per sample: output {i} of the batch differs from applying the "
                            f"transform to sample {i} alone (max diff {float((single[0] - out[i]).abs().max()):.3g}); "
                            "expected one θ per image",
                        )


def check_transform_identity_at_zero(
    transform,
    *,
    image_shape: tuple[int, int, int] = (3, 8, 8),
    theta_range: tuple[float, float] = (0.0, 1.0),
    input_levels: int | None = None,
) -> None:
    """θ = 0 gives a finite output, and returns ``x`` when ``identity_at_zero`` is declared (read
    from the instance, so a hyper-parameter may switch it off, e.g. ``defocus_blur(alias_sigma=0.5)``).

    Args:
        transform: a :class:`gsmooth.Transform` instance or subclass.
        image_shape: ``(C, H, W)`` of the test images.
        theta_range: unused by this check except for the shape of θ (kept for a uniform signature).
        input_levels: draw the images on the grid ``i/input_levels`` instead (quantised inputs).

    Raises:
        AssertionError: naming the component and the property.
    """
    t, owner = _transform_owner(transform)
    with _back_on_cpu(t):
        for _, dtype, x, theta, _ in _forward_cases(t, image_shape, theta_range, input_levels):
            with torch.no_grad():
                zero = t(x, torch.zeros_like(theta))
            if not bool(torch.isfinite(zero).all()):
                raise _fail(owner, f"forward with θ = 0 ({dtype}) returned NaN/inf")
            if t.identity_at_zero and not torch.allclose(zero, x, **_tol(dtype)):
                raise _fail(
                    owner,
                    f"identity_at_zero is declared but τ(0, x) != x ({dtype}, max diff "
                    f"{float((zero - x).abs().max()):.3g}); set identity_at_zero = False if θ = 0 is not the identity",
                )


def _composes(t: Transform, exact: bool | None) -> bool:
    # a resolvable transform whose θ's compose by another law (TSS contrast: (k, b)) declares
    # `composes_additively = False`; its own law is the plugin's to test
    if exact is None:
        return type(t).kind == "exact" and bool(getattr(type(t), "composes_additively", True))
    return bool(exact)


def check_transform_composition(
    transform,
    *,
    image_shape: tuple[int, int, int] = (3, 8, 8),
    theta_range: tuple[float, float] = (0.0, 1.0),
    input_levels: int | None = None,
    exact: bool | None = None,
) -> None:
    """The composition law ``τ(a, τ(b, x)) = τ(a + b, x)`` in float64 (a, b in half of
    ``theta_range``), which makes a transform *resolvable*. Silent when ``exact`` is False.

    Args:
        transform: a :class:`gsmooth.Transform` instance or subclass.
        image_shape: ``(C, H, W)`` of the test images.
        theta_range: a and b are drawn uniformly in its lower half.
        input_levels: draw the images on the grid ``i/input_levels`` instead (quantised inputs).
        exact: check the law; default: when ``kind == "exact"`` and the class does not set
            ``composes_additively = False``.

    Raises:
        AssertionError: naming the component and the property.
    """
    t, owner = _transform_owner(transform)
    if not _composes(t, exact):
        return
    images = _image_maker(input_levels)
    image_shape = tuple(int(s) for s in image_shape)
    pshape = tuple(t.param_shape(image_shape))
    lo, hi = (float(v) for v in theta_range)
    with _back_on_cpu(t):
        for device in _devices():
            t.to(device)
            gen = torch.Generator().manual_seed(7)
            x = images((_BATCH, *image_shape), gen, torch.float64).to(device)
            a = (lo + (hi - lo) / 2 * torch.rand((_BATCH, *pshape), generator=gen, dtype=torch.float64)).to(device)
            b = (lo + (hi - lo) / 2 * torch.rand((_BATCH, *pshape), generator=gen, dtype=torch.float64)).to(device)
            with torch.no_grad():
                twice, once = t(t(x, b), a), t(x, a + b)
            if not torch.allclose(twice, once, rtol=1e-8, atol=1e-8):
                raise _fail(
                    owner,
                    f"kind={type(t).kind!r} (exact) expected τ(a, τ(b, x)) = τ(a + b, x) in float64, max diff "
                    f"{float((twice - once).abs().max()):.3g}; pass exact=False if it composes only approximately",
                )


def check_transform_lipschitz_factor(
    transform,
    *,
    image_shape: tuple[int, int, int] = (3, 8, 8),
    input_levels: int | None = None,
) -> None:
    """``lipschitz_factor(x)`` (x ``(C, H, W)``) is a finite float ≥ 1, exactly 1 for ``kind == "exact"``.

    Args:
        transform: a :class:`gsmooth.Transform` instance or subclass.
        image_shape: ``(C, H, W)`` of the test images.
        input_levels: draw the images on the grid ``i/input_levels`` instead (quantised inputs).

    Raises:
        AssertionError: naming the component and the property.
    """
    t, owner = _transform_owner(transform)
    images = _image_maker(input_levels)
    image_shape = tuple(int(s) for s in image_shape)
    with _back_on_cpu(t):
        for device in _devices():
            t.to(device)
            for i in range(2):
                xi = images(image_shape, torch.Generator().manual_seed(i), torch.float32).to(device)
                try:
                    m = float(t.lipschitz_factor(xi))
                except Exception as exc:  # noqa: BLE001
                    raise _fail(owner, f"lipschitz_factor(x of shape {image_shape}) raised {exc!r}") from exc
                if not math.isfinite(m) or m < 1.0:
                    raise _fail(owner, f"lipschitz_factor(x) expected a finite M* >= 1, got {m!r}")
                if type(t).kind == "exact" and m != 1.0:
                    raise _fail(owner, f"kind 'exact' expected lipschitz_factor(x) == 1 (the radius holds as is), got {m!r}")


def _own_plugin_noise(cls: type, name: str):
    """The noise class called ``name`` that the plugin defining ``cls`` provides (its module's or
    its top-level package's ``register_noises()``), or None: a plugin tested from its source tree,
    before its entry point is installed, has its own noise unregistered."""
    import sys

    seen = set()
    for modname in (cls.__module__, cls.__module__.split(".")[0]):
        module = sys.modules.get(modname)
        hook = getattr(module, "register_noises", None)
        if module is None or modname in seen or not callable(hook):
            continue
        seen.add(modname)
        try:
            provided = list(hook() or ())
        except Exception:  # noqa: BLE001 - a broken hook is the registry's error to report
            continue
        for noise_cls in provided:
            if isinstance(noise_cls, type) and issubclass(noise_cls, Noise) and getattr(noise_cls, "name", None) == name:
                return noise_cls
    return None


def check_transform_defaults(transform) -> None:
    """The class attribute ``defaults`` is ``None`` or a :class:`gsmooth.TransformDefaults` the CLI
    can use as is (``gsmooth certify --transform NAME --range`` without values, ``gsmooth train
    --transform NAME``).

    Checked (the rules the built-ins' defaults follow):

    - ``noise`` is a registered noise and ``noise(sigma=sigma)`` can be built;
    - additive pixel noise (``param_dim is None``): no ``range`` (there is no parameter), and a
      noise whose radius is an ``l2``/``l1``/``linf`` radius (not ``param``);
    - a parameter transform's ``range``: one ``(lo, hi)`` with lo < hi per centre dimension
      (:attr:`~gsmooth.Transform.center_dim`; a single pair stands for all of them, as the CLI's
      :func:`gsmooth.core.ranges.parse_range` broadcasts it), inside :meth:`~gsmooth.Transform.domain`
      (and inside the domain of :meth:`~gsmooth.Transform.true_transform_module` when that is
      another transform), or ``None``;
    - ``slices`` ≥ 1; ``latent_sigma`` only with ``surrogate=True``; ``surrogate=True`` only for a
      transform of kind ``empirical`` (the raw transform gives no guarantee, a GSmooth surrogate does).

    Args:
        transform: a :class:`gsmooth.Transform` instance, or a subclass (built with default arguments).

    Raises:
        AssertionError: naming the component and the property.

    Example:
        >>> import gsmooth
        >>> from gsmooth.testing import check_transform_defaults
        >>> check_transform_defaults(gsmooth.transform("translation"))   # silent when conformant
    """
    from .core.defaults import defaults_of  # refuses a `defaults` that is not a TransformDefaults
    from .core.ranges import format_range, parse_range
    from .errors import GsmoothError
    from .plugin.registry import get_registry

    t, owner = _transform_owner(transform)
    cls = type(t)
    try:
        d = defaults_of(cls)
    except GsmoothError as exc:
        raise _fail(owner, str(exc)) from None
    if d is None:
        return
    try:
        noise_cls = get_registry().noise_class(d.noise)
    except GsmoothError as exc:
        noise_cls = _own_plugin_noise(cls, d.noise)
        if noise_cls is None:
            raise _fail(
                owner, f"defaults.noise expected a registered noise name (or one its own plugin's register_noises() "
                f"returns), got {d.noise!r} ({exc})",
            ) from None
    try:
        noise = noise_cls(sigma=d.sigma)
    except Exception as exc:  # noqa: BLE001 - reported as a conformance failure
        raise _fail(
            owner, f"defaults.sigma expected a valid sigma for noise {d.noise!r}, got {d.sigma!r} ({noise_cls.__name__} raised {exc!r})"
        ) from exc
    if isinstance(d.slices, bool) or not isinstance(d.slices, int) or d.slices < 1:
        raise _fail(owner, f"defaults.slices expected an integer >= 1, got {d.slices!r}")
    if t.param_dim is None:
        if d.range is not None:
            raise _fail(
                owner, f"additive pixel noise (param_dim None) has no parameter range; expected defaults.range None, "
                f"got {format_range(d.range)!r}",
            )
        if type(noise).norm not in _NORM_ORD:
            raise _fail(
                owner, f"additive pixel noise needs an l2/l1/linf radius; expected defaults.noise with such a norm, got "
                f"{d.noise!r} (norm {type(noise).norm!r})",
            )
    elif d.range is not None:
        cd = t.center_dim
        try:
            pairs = parse_range(list(d.range), cd, what=f"{owner}: defaults.range")
        except GsmoothError as exc:
            raise _fail(
                owner, f"defaults.range expected one (lo, hi) per centre dimension (center_dim = {cd}) or a single pair, "
                f"got {format_range(d.range)!r} ({exc})",
            ) from None
        true = t.true_transform_module()
        domains = [("domain()", t.domain())]
        if true is not t and isinstance(true, Transform) and true.param_dim is not None:
            domains.append((f"the true transform {getattr(true, 'name', type(true).__name__)!r}'s domain()", true.domain()))
        for j, (lo, hi) in enumerate(pairs):
            if not lo < hi:
                raise _fail(owner, f"defaults.range expected lo < hi for parameter {j}, got {lo:g}:{hi:g}")
            for label, domain in domains:
                if domain is None or j >= len(domain):
                    continue
                dlo, dhi = domain[j]
                if not dlo <= lo < hi <= dhi:
                    raise _fail(
                        owner, f"defaults.range expected inside {label} [{dlo:g}, {dhi:g}] for parameter {j}, got "
                        f"{lo:g}:{hi:g} (the range is certified as is: a parameter outside the domain would be clamped)",
                    )
    if d.latent_sigma is not None and not d.surrogate:
        raise _fail(
            owner, f"defaults.latent_sigma is the surrogate's latent noise; expected it only with surrogate=True, got "
            f"latent_sigma={d.latent_sigma!r} with surrogate=False",
        )
    if d.surrogate and cls.kind != "empirical":
        raise _fail(
            owner, f"defaults.surrogate=True certifies the transform through a GSmooth surrogate; expected it only for "
            f"kind 'empirical', got kind {cls.kind!r}",
        )


def check_transform_slice_strategy(transform) -> None:
    """``slice_strategy()`` returns a :class:`gsmooth.interval.SliceStrategy` (``centering``
    ``"parameter"`` or ``"image"``), and ``center_dim`` fits ``param_dim``.

    A transform of kind ``exact`` that declares ``composes_additively = False`` must override
    ``slice_strategy()`` to certify its own composition law: the default then returns a strategy
    that refuses every interval certificate. Exempt: additive pixel noise (``param_dim is None``),
    which has no interval certificate (intervals are over a transformation parameter), and a
    transform whose own ``slice_strategy()`` refuses on purpose (an override is a statement).

    ``center_dim`` is ``None`` for additive pixel noise, else an int with 1 ≤ ``center_dim`` ≤
    ``param_dim`` (a GSmooth surrogate's θ carries latent coordinates that are never centred).

    Args:
        transform: a :class:`gsmooth.Transform` instance, or a subclass (built with default arguments).

    Raises:
        AssertionError: naming the component and the property.

    Example:
        >>> import gsmooth
        >>> from gsmooth.testing import check_transform_slice_strategy
        >>> check_transform_slice_strategy(gsmooth.transform("contrast"))   # silent when conformant
    """
    from .interval.strategy import SliceStrategy

    t, owner = _transform_owner(transform)
    cls = type(t)
    additive = getattr(t, "composes_additively", True)
    if not isinstance(additive, bool):
        raise _fail(owner, f"expected `composes_additively` to be a bool, got {additive!r}")
    try:
        strategy = t.slice_strategy()
    except Exception as exc:  # noqa: BLE001 - reported as a conformance failure
        raise _fail(owner, f"slice_strategy() raised {exc!r}; expected a gsmooth.interval.SliceStrategy") from exc
    if not isinstance(strategy, SliceStrategy):
        raise _fail(owner, f"slice_strategy() expected a gsmooth.interval.SliceStrategy, got {type(strategy).__name__}")
    if strategy.centering not in ("parameter", "image"):
        raise _fail(
            owner, f"slice_strategy().centering expected 'parameter' or 'image', got {strategy.centering!r}"
        )
    if (
        cls.kind == "exact" and t.param_dim is not None and not additive
        and getattr(cls, "slice_strategy", None) is Transform.slice_strategy
    ):
        raise _fail(
            owner,
            f"declares composes_additively = False (law {getattr(cls, 'composition', None)!r}) but does not override "
            "slice_strategy(): the default refuses every interval certificate; expected slice_strategy() to return a "
            "gsmooth.interval.SliceStrategy certifying its composition law (see gsmooth.interval.strategy), got the default",
        )
    cd = t.center_dim
    if t.param_dim is None:
        if cd is not None:
            raise _fail(owner, f"additive pixel noise (param_dim None) has no centre; expected center_dim None, got {cd!r}")
        return
    if isinstance(cd, bool) or not isinstance(cd, int) or not 1 <= cd <= int(t.param_dim):
        raise _fail(owner, f"expected center_dim an int with 1 <= center_dim <= param_dim = {t.param_dim}, got {cd!r}")


# ---------------------------------------------------------------------------------------------
# all checks of a component, and the pytest decorator
# ---------------------------------------------------------------------------------------------
#: The noise checks, in the order :func:`check_noise` runs them (cheap and basic first).
NOISE_CHECKS: tuple[Callable[..., None], ...] = (
    check_noise_class_attributes,
    check_noise_get_params,
    check_noise_validates_sigma,
    check_noise_sample_shape_dtype_device,
    check_noise_sampling_seeded,
    check_noise_follows_ppf,
    check_noise_sigma_scales_draws,
    check_noise_pdf_ppf_agree,
    check_noise_radius_monotone,
    check_noise_radius_vectorized,
    check_noise_radius_rejects_bad_p_lower,
    check_noise_radius_scales_with_sigma,
    check_noise_radius_within_neyman_pearson,
    check_noise_declared_norm,
    check_noise_isotropic_gaussian,
)

#: The transform checks, in the order :func:`check_transform` runs them.
TRANSFORM_CHECKS: tuple[Callable[..., None], ...] = (
    check_transform_class_attributes,
    check_transform_get_params,
    check_transform_shapes,
    check_transform_device_dtype,
    check_transform_inputs_unchanged,
    check_transform_deterministic,
    check_transform_batched,
    check_transform_identity_at_zero,
    check_transform_composition,
    check_transform_lipschitz_factor,
    check_transform_defaults,
    check_transform_slice_strategy,
)

_TRANSFORM_OPTIONS = ("image_shape", "exact", "theta_range", "input_levels")


def noise_checks(noise) -> Iterator[tuple[Callable[[Any], None], str]]:
    """Yield ``(check, name)`` for every conformance check of a noise, in :func:`check_noise`'s order;
    ``check(noise)`` raises ``AssertionError`` when the property fails. A check that does not apply
    (e.g. the ``ppf`` law of a noise without ``ppf``) passes silently.

    Args:
        noise: a :class:`gsmooth.Noise` instance or subclass (only used to check its type here).

    Example:
        >>> import gsmooth
        >>> from gsmooth.testing import noise_checks
        >>> [name for _, name in noise_checks(gsmooth.noise("gaussian", sigma=0.25))][:2]
        ['check_noise_class_attributes', 'check_noise_get_params']
    """
    _resolve_noise(noise, None)
    for check in NOISE_CHECKS:
        yield check, check.__name__


def transform_checks(transform, **options) -> Iterator[tuple[Callable[[Any], None], str]]:
    """Yield ``(check, name)`` for every conformance check of a transform, in :func:`check_transform`'s
    order, each bound to the ``options`` it takes; ``check(transform)`` raises ``AssertionError``
    when the property fails.

    Args:
        transform: a :class:`gsmooth.Transform` instance or subclass (only used to check its type here).
        **options: the keyword arguments of :func:`check_transform` (``image_shape``, ``exact``,
            ``theta_range``, ``input_levels``).

    Example:
        >>> import gsmooth
        >>> from gsmooth.testing import transform_checks
        >>> t = gsmooth.transform("brightness")
        >>> for check, name in transform_checks(t, image_shape=(1, 4, 4), theta_range=(-1.0, 1.0)):
        ...     check(t)   # silent when conformant
    """
    unknown = sorted(set(options) - set(_TRANSFORM_OPTIONS))
    if unknown:
        raise InvalidParameterError(
            f"transform_checks: expected options among {', '.join(_TRANSFORM_OPTIONS)}, got {', '.join(unknown)}"
        )
    _resolve_transform(transform)
    for check in TRANSFORM_CHECKS:
        accepted = inspect.signature(check).parameters
        bound = {k: v for k, v in options.items() if k in accepted}
        yield (functools.partial(check, **bound) if bound else check), check.__name__


def _label(component) -> str:
    if isinstance(component, type):
        return str(getattr(component, "name", "") or component.__name__)
    try:
        return component.describe()
    except Exception:  # noqa: BLE001 - an id is cosmetic; the checks report the failure
        return type(component).__name__


def parametrize_with_checks(components):
    """A ``pytest.mark.parametrize("component, check", …)`` decorator over every conformance check of
    every component (scikit-learn's ``parametrize_with_checks``): one test per (component, check),
    with ids such as ``gaussian(sigma=0.25)-check_noise_sampling_seeded``.

    Args:
        components: noises and transforms (instances or classes); an item may also be a pair
            ``(transform, options)`` with ``options`` a dict of :func:`check_transform`'s keyword
            arguments (``{"theta_range": (-30, 30), "exact": False}``).

    Returns:
        The decorator; the test function takes the arguments ``component`` and ``check`` and calls
        ``check(component)``.

    Raises:
        PluginError: an item is neither a noise nor a transform (also a ``TypeError``).

    Example, in a plugin's test suite::

        from gsmooth.testing import parametrize_with_checks
        from gsmooth_mine import MyNoise, MyTransform

        @parametrize_with_checks([MyNoise(sigma=0.5), (MyTransform(), {"theta_range": (0.0, 2.0)})])
        def test_conformance(component, check):
            check(component)
    """
    import pytest

    params = []
    for item in components:
        component, options = item if isinstance(item, tuple) else (item, {})
        if _is_component(component, Noise):
            if options:
                raise PluginError(f"parametrize_with_checks: expected no options for a noise, got {options!r}")
            checks = noise_checks(component)
        elif _is_component(component, Transform):
            checks = transform_checks(component, **options)
        else:
            raise PluginError(
                "parametrize_with_checks: expected gsmooth.Noise / gsmooth.Transform subclasses or instances, "
                f"got {type(component).__name__} {component!r}"
            )
        label = _label(component)
        params.extend(pytest.param(component, check, id=f"{label}-{name}") for check, name in checks)
    return pytest.mark.parametrize("component, check", params)


def _is_component(obj, base: type) -> bool:
    return isinstance(obj, base) or (isinstance(obj, type) and issubclass(obj, base))


def check_noise(noise_or_cls, *, sigma: float | None = None) -> None:
    """Check that a :class:`gsmooth.Noise` plugin honours the plugin contract; raise ``AssertionError`` if not.

    Args:
        noise_or_cls: a ``Noise`` subclass (built with ``sigma``, or its default ``sigma``) or an
            instance (rebuilt with ``sigma`` when given).
        sigma: the scale to check at.

    Checked, with fixed seeds:

    - ``name`` (a registry key), ``norm`` (one of ``l2``, ``l1``, ``linf``, ``param``), ``one_sided``;
    - the constructor validates ``sigma``: 0, negative, NaN and inf raise
      :class:`gsmooth.InvalidParameterError` with an "expected …" message; ``get_params()`` round-trips;
    - ``sample(shape, *, generator, device, dtype)``: shape, dtype and device honoured (float32 and
      float64; CUDA too when available), deterministic for a seeded generator, different for another
      seed, no use of the global torch RNG, non-negative when ``one_sided``;
    - the draws follow the law of ``ppf()`` (Kolmogorov–Smirnov, p-value > 1e-4, when ``ppf`` is
      defined) at ``sigma`` and ``2·sigma``; ``sigma`` scales the draws; ``pdf`` and ``ppf`` agree;
    - ``radius(p_lower)``: finite, ≥ 0, 0 at p = 1/2, non-decreasing on (1/2, 1), vectorised over
      arrays, linear in ``sigma``, and :class:`gsmooth.InvalidParameterError` outside [1/2, 1];
    - for a symmetric noise (``one_sided = False``) with ``pdf``/``ppf`` and a closed-form
      ``radius``, the closed form is at most :meth:`gsmooth.Noise.numerical_radius` (GSmooth eq. 3,
      the 1-D Neyman–Pearson radius) + 1e-8·max(1, sigma): a shift of one coordinate attains the
      1-D radius, so no certificate exceeds it; a smaller (conservative) closed form is allowed;
    - a ``param`` noise with ``pdf``: the same Neyman–Pearson attack along its one axis (an increase
      for a one-sided noise), at p up to 0.9999 — the numerical route is the worst case only for
      log-concave densities (a Student-t noise fails here);
    - the declared norm, for ``norm`` in ``l2``/``l1``/``linf``: the 1-D
      radius is an ℓ2 radius in d dimensions only for isotropic Gaussian noise and an ℓ1 radius only
      for Laplace/uniform product noise, so the check attacks the declared norm with the
      Neyman–Pearson worst case. For d ∈ {2, 16, 256}, directions u = the diagonal and a random
      direction (plus a coordinate axis, which is the same 1-D shift in every d), each of unit
      length **in the declared norm**, and p ∈ {0.9, 0.99, 0.999}: with δ = 0.97·radius(p)·u,
      P = the noise at 0 and Q = the noise at δ (product density from ``logpdf``, default
      ``log(pdf)``), the worst-case classifier is A = {q/p ≤ t} with P(A) = p (randomised on the
      atoms of q/p, which Laplace and uniform noise have). Q(A) is estimated by Monte Carlo from
      fixed-seed draws of ``sample()`` (≈1e5 per case, 6250 at d = 256); the check fails when
      Q(A) < 1/2 − 4 standard errors — a classifier with p_lower = p at x would lose its majority at
      x + δ, inside the claimed ball. A noise declaring ``l2``/``l1``/``linf`` without ``pdf`` (or
      ``logpdf``) fails ("cannot verify the declared norm without pdf"); ``pdf``/``logpdf`` must act
      elementwise on numpy arrays. This is a falsification test (it can find a false ℓp
      certificate, not prove one); it takes about 1 s per noise;
    - ``isotropic_gaussian`` is a bool, and a noise declaring it True is i.i.d. N(0, σ²)
      (Kolmogorov–Smirnov on pooled fixed-seed draws, uncorrelated coordinates), has ``norm = "l2"``
      and ``radius(p) == sigma·Φ⁻¹(p)`` (:func:`check_noise_isotropic_gaussian`).

    Example:
        >>> import gsmooth
        >>> from gsmooth.testing import check_noise
        >>> check_noise(gsmooth.noise("gaussian", sigma=0.25))   # silent when conformant
        >>> check_noise(type(gsmooth.noise("laplace", sigma=1.0)), sigma=0.5)   # a class works too
    """
    noise = _resolve_noise(noise_or_cls, sigma)
    for check in NOISE_CHECKS:
        check(noise)


def check_transform(
    transform_or_cls,
    *,
    image_shape: tuple[int, int, int] = (3, 8, 8),
    exact: bool | None = None,
    theta_range: tuple[float, float] = (0.0, 1.0),
    input_levels: int | None = None,
) -> None:
    """Check that a :class:`gsmooth.Transform` plugin honours the plugin contract; raise ``AssertionError`` if not.

    Args:
        transform_or_cls: a ``Transform`` subclass (built with default arguments) or an instance.
        image_shape: ``(C, H, W)`` of the test images (pixels uniform in [0, 1]).
        exact: check the composition law ``τ(a, τ(b, x)) = τ(a + b, x)`` (what makes a transform
            *resolvable*, so that a radius in θ-space certifies the true transform). Default: when
            ``kind == "exact"`` and the class does not set ``composes_additively = False``. Pass
            ``False`` for a transform that composes only up to interpolation error (e.g. rotation
            with bilinear resampling).
        theta_range: θ's are drawn uniformly in this range (default [0, 1), valid for one-sided
            parameters such as a blur width); composition uses a, b in half of it.
        input_levels: draw the test images on the grid ``i/input_levels`` (integers i in
            [0, input_levels]) instead of uniformly in [0, 1], for a transform that accepts
            quantised images only (``quantized_additive``: ``input_levels=255``).

    Checked, with fixed seeds, in float32 and float64 (and on CUDA when available):

    - ``name``, ``kind`` (one of ``exact``, ``surrogate``, ``empirical``), ``param_dim`` (``None`` or a
      positive int), ``identity_at_zero`` (bool); ``get_params()`` round-trips;
    - ``forward(x, theta)`` with x ``(B,C,H,W)`` and theta ``(B, param_dim)`` (image-shaped when
      ``param_dim is None``) returns finite ``(B,C,H,W)`` of x's dtype and device, does not modify
      its inputs, is deterministic and uses no global RNG;
    - batched: the output for a batch equals applying the transform to each sample with its own θ;
    - θ = 0 returns ``x`` when ``identity_at_zero`` is declared (read from the instance, so a
      hyper-parameter may switch it off, e.g. ``defocus_blur(alias_sigma=0.5)``);
    - the composition law when ``exact``;
    - ``lipschitz_factor(x)`` is a finite float ≥ 1, and exactly 1 for ``kind == "exact"``;
    - ``defaults`` is None or a :class:`gsmooth.TransformDefaults` the CLI can use: a registered
      noise valid at its σ, a range per centre dimension inside the domain, latent σ and surrogate
      only where they mean something (:func:`check_transform_defaults`);
    - ``slice_strategy()`` returns a :class:`gsmooth.interval.SliceStrategy`, overridden by an exact
      transform whose parameters do not add, and ``1 ≤ center_dim ≤ param_dim``
      (:func:`check_transform_slice_strategy`).

    Example:
        >>> import gsmooth
        >>> from gsmooth.testing import check_transform
        >>> check_transform(gsmooth.transform("additive"), image_shape=(1, 4, 4))   # silent when conformant
    """
    t = _resolve_transform(transform_or_cls)
    options = {"image_shape": image_shape, "exact": exact, "theta_range": theta_range, "input_levels": input_levels}
    for check, _ in transform_checks(t, **options):
        check(t)
