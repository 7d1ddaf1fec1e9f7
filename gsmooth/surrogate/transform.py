"""The engine's view of a surrogate: a :class:`gsmooth.Transform` of kind ``"surrogate"``."""

from __future__ import annotations

import inspect
import warnings
import math
from numbers import Integral, Real
from typing import Optional

import numpy as np
import torch

from ..errors import InputError, InvalidParameterError, UnsupportedTransformError
from .lipschitz import GEstimate, estimate_G
from ..core.ranges import format_range, parse_range
from ..core.transform import Transform
from ..interval.strategy import SliceFactors, SliceStrategy
from ..validation import Interval, Options, validate_params
from .io import PathLike, load_surrogate
from .model import SurrogateModel


# --------------------------------------------------------------------------------------------
# The engine's view: a Transform of kind "surrogate"
# --------------------------------------------------------------------------------------------


class SurrogateTransform(Transform):
    """GSmooth's smoothing over a learned surrogate, as a :class:`gsmooth.Transform` the engine uses unchanged.

    ``param_shape(image_shape) = (d + m,)``. With ``θ_full`` drawn i.i.d. ``N(0, σ_θ²)`` by the engine:

        forward(x, θ_full) = H(F2(x) + F1(theta_center + θ_full[:, :d]) + sigma_ratio · θ_full[:, d:])

    i.e. θ ~ N(theta_center, σ_θ² I_d) and ξ ~ N(0, σ_ξ² I_m) with ``σ_ξ = sigma_ratio · σ_θ``; and

        lipschitz_factor(x) = M* = sqrt(1 + G(x)² / sigma_ratio²),  G(x) = max over the α grid of
        ‖∂F2(τ(α, x))/∂α − W_F1‖₂ on ``certified_range`` (:func:`gsmooth.surrogate.lipschitz.estimate_G`),

    so the engine's radius ``σ_θ Φ⁻¹(p_lower) / M*`` equals ``Φ⁻¹(p_lower) / sqrt(σ_θ⁻² + G² σ_ξ⁻²)``.

    What the certificate says (kind ``surrogate``): for the smoothed classifier on the surrogate,
    ``g(τ(α, x)) = g(x)`` for every α in ``certified_range`` with ``‖α‖₂ < R`` — F2 sees the truly
    transformed image, so the statement is about the true transform, through the surrogate
    classifier. ``G`` is a grid **estimate** (:attr:`last_estimate` says how it was obtained).

    Only valid with isotropic Gaussian noise: :meth:`check_noise` raises for any noise that does
    not declare :attr:`gsmooth.Noise.isotropic_gaussian` (the Smoother calls it on construction).

    Capabilities (see :class:`gsmooth.Transform`): :attr:`center_dim` is d (the latent part ξ
    is never centred), :meth:`true_transform_module` the transform the surrogate learned, and
    :meth:`slice_strategy` the GSmooth route for interval certificates (:class:`SurrogateSlices`).

    Args (keyword-only):
        surrogate: a trained :class:`SurrogateModel`.
        true_transform: the true τ used for G; default rebuilt from the surrogate's metadata
            (lazily, at the first ``lipschitz_factor``).
        sigma_ratio: σ_ξ / σ_θ (default 1: the same σ on θ and on the latent).
        certified_range: α range of the grid for G (default: the surrogate's training range).
        grid: grid points per parameter (default 10, as in the GSmooth code).
        iters: power iterations (only for d > 16).
        method: Jacobian method for :func:`estimate_G` (``auto``, ``exact``, ``power``, ``fd``).
        fd_check: cross-check autograd with finite differences, keeping the larger (default True;
            about 1.8× the cost of autograd alone).
        theta_center: the centre of the θ noise (float, or d numbers; default 0). Changes which
            smoothed classifier is certified, not G (W is constant); settable later.

    ``lipschitz_factor(x, path_origin=x0, param_range=…)`` (d > 1, the grid-estimate route) takes G
    from ``x0``'s path over the given range, from its arguments alone (nothing is set and
    restored). With one parameter :meth:`certified_radius` always bounds the path of the image
    actually smoothed, and interval certificates bound each slice of the clean image's path.

    Example:
        >>> st = SurrogateTransform.from_checkpoint("surrogate.pt")  # doctest: +SKIP
        >>> smoother = gsmooth.Smoother(model, noise="gaussian", sigma=0.25, transform=st, num_classes=10)  # doctest: +SKIP
        >>> st.check_noise(smoother.noise)  # doctest: +SKIP
        >>> cert = smoother.certify(x, n0=100, n=10_000, alpha=0.001)  # cert.lipschitz = M*  # doctest: +SKIP
        >>> st.last_estimate.describe()  # "G ≈ … (estimate: max over 10 grid points …)"  # doctest: +SKIP
    """

    name = "surrogate"
    kind = "surrogate"
    identity_at_zero = False
    #: the decoder H runs at the smoother's precision (it is part of the vote function f∘H of the
    #: latent z); the encoder F2 and the embedding F1, whose latent mean M* bounds, never do (forward)
    autocast_forward = True

    def __init__(
        self,
        *,
        surrogate: SurrogateModel,
        true_transform: Optional[Transform] = None,
        sigma_ratio: float = 1.0,
        certified_range=None,
        grid: int = 10,
        iters: int = 50,
        method: str = "auto",
        fd_check: bool = True,
        theta_center=0.0,
    ) -> None:
        super().__init__()
        if not isinstance(surrogate, SurrogateModel):
            raise InvalidParameterError(
                f"SurrogateTransform: surrogate expected a SurrogateModel (see train_surrogate / load_surrogate), got {type(surrogate).__name__}"
            )
        validate_params(
            "SurrogateTransform",
            {"sigma_ratio": sigma_ratio, "grid": grid, "iters": iters, "method": method},
            {
                "sigma_ratio": [Interval(Real, 0, None, closed="neither")],
                "grid": [Interval(Integral, 1, None)],
                "iters": [Interval(Integral, 1, None)],
                "method": [Options(("auto", "exact", "power", "fd"))],
                "fd_check": [Options((True, False))],
            },
        )
        self.surrogate = surrogate
        self.true_transform = true_transform
        self.sigma_ratio = sigma_ratio
        self.certified_range = certified_range
        self.grid = grid
        self.iters = iters
        self.method = method
        self.fd_check = fd_check
        self.theta_center = theta_center
        self.param_dim = surrogate.param_dim + surrogate.latent_dim  # instance-level: d + m
        self.param_units = surrogate.param_units
        self.last_estimate: Optional[GEstimate] = None
        self._cache: Optional[tuple] = None
        self._center_tensor()  # validate now
        self._pairs()

    @classmethod
    def from_checkpoint(
        cls,
        path: PathLike,
        sigma_ratio: float = 1.0,
        *,
        true_transform: Optional[Transform] = None,
        certified_range=None,
        grid: int = 10,
        iters: int = 50,
        method: str = "auto",
        fd_check: bool = True,
        theta_center=0.0,
        map_location="cpu",
    ) -> "SurrogateTransform":
        """Build from a file written by :func:`save_surrogate` / ``gsmooth surrogate train``."""
        return cls(
            surrogate=load_surrogate(path, map_location=map_location),
            true_transform=true_transform,
            sigma_ratio=sigma_ratio,
            certified_range=certified_range,
            grid=grid,
            iters=iters,
            method=method,
            fd_check=fd_check,
            theta_center=theta_center,
        )

    # -- description -----------------------------------------------------------------------------
    @property
    def d(self) -> int:
        """The number of transformation parameters θ (the latent ξ has the rest of ``param_dim``)."""
        return self.surrogate.param_dim

    @property
    def center_dim(self) -> int:
        """d: a smoothing centre moves θ only, never the latent part ξ."""
        return int(self.d)

    def range_pairs(self) -> tuple[tuple[float, float], ...]:
        """The range G and the path bounds are taken over: ``certified_range``, else the
        surrogate's training range, as one ``(lo, hi)`` per parameter."""
        return self._pairs()

    def point_certificate_range(self) -> tuple[tuple[float, float], ...]:
        """:meth:`range_pairs`: a point certificate bounds the path over this range only."""
        return self.range_pairs()

    def _pairs(self, param_range=None) -> tuple[tuple[float, float], ...]:
        rng = param_range if param_range is not None else self.certified_range
        rng = rng if rng is not None else self.surrogate.param_range
        if not rng:
            raise InvalidParameterError(
                "SurrogateTransform: expected certified_range=(lo, hi) (the surrogate records no training range), got none"
            )
        return parse_range(rng, self.d, broadcast=False, what="param_range")

    def _center_tensor(self, device=None, dtype=torch.float32, center=None) -> torch.Tensor:
        value = self.theta_center if center is None else center
        c = torch.as_tensor(value, dtype=torch.float64).reshape(-1)
        if c.numel() == 1:
            c = c.expand(self.d)
        if c.numel() != self.d or not bool(torch.isfinite(c).all()):
            raise InvalidParameterError(
                f"SurrogateTransform: theta_center expected a finite number or {self.d} numbers, got {value!r}"
            )
        return c.to(device=device, dtype=dtype)

    def describe(self) -> str:
        rng = format_range(self._pairs())
        center = self._center_tensor()
        parts = [self.surrogate.transform_name or "?", f"range={rng}", f"sigma_ratio={float(self.sigma_ratio):g}", f"grid={self.grid}"]
        if bool((center != 0).any()):
            parts.append("center=" + ",".join(f"{v:g}" for v in center.tolist()))
        return f"surrogate({','.join(parts)})"

    def extra_repr(self) -> str:
        return self.describe()

    # -- the engine's interface ------------------------------------------------------------------
    def param_shape(self, image_shape: tuple[int, ...]) -> tuple[int, ...]:
        if tuple(int(s) for s in image_shape) != tuple(self.surrogate.input_shape):
            raise InputError(
                f"SurrogateTransform: expected images of shape {tuple(self.surrogate.input_shape)} "
                f"(the surrogate's), got {tuple(image_shape)}"
            )
        return (self.d + self.surrogate.latent_dim,)

    def check_noise(self, noise) -> None:
        """Raise :class:`InvalidParameterError` unless ``noise`` is an isotropic Gaussian
        (:attr:`gsmooth.Noise.isotropic_gaussian`), the only noise the radius holds for."""
        if not getattr(noise, "isotropic_gaussian", False):
            raise InvalidParameterError(
                f"SurrogateTransform: GSmooth's radius Φ⁻¹(p)/sqrt(σ_θ⁻² + G²σ_ξ⁻²) holds for Gaussian noise "
                f"on (θ, ξ) only; expected an isotropic Gaussian noise (e.g. 'gaussian'), got "
                f"{getattr(noise, 'name', noise)!r}"
            )

    def slice_strategy(self) -> "SurrogateSlices":
        """The GSmooth route for interval certificates: :class:`SurrogateSlices`."""
        return SurrogateSlices()

    def forward(self, x: torch.Tensor, theta: torch.Tensor, center=None) -> torch.Tensor:
        """``H(F2(x) + F1(center + θ_full[:, :d]) + sigma_ratio · θ_full[:, d:])``.

        Under :func:`torch.autocast` (``Smoother(precision="bf16")``) only the decoder H runs at the
        lower precision: the latent point z is computed at the surrogate's own precision with autocast
        off, so the smoothed distribution of z is the one the certificate's M* is about, and the
        classifier whose votes are counted is ``f∘H`` at that precision.

        Args:
            x: ``(B, C, H, W)``; each run of identical consecutive images (an expanded image, as
                the engine passes; several images or slices packed in one batch) is encoded once.
            theta: ``(B, d + m)``.
            center: overrides :attr:`theta_center` for this call.
        """
        if x.ndim != 4 or tuple(x.shape[1:]) != tuple(self.surrogate.input_shape):
            raise InputError(
                f"SurrogateTransform: expected x of shape (B, {', '.join(map(str, self.surrogate.input_shape))}), got {tuple(x.shape)}"
            )
        b, d, m = x.shape[0], self.d, self.surrogate.latent_dim
        theta = theta.reshape(b, -1)
        if theta.shape[1] != d + m:
            raise InputError(f"SurrogateTransform: expected theta of shape (B, d + m) = ({b}, {d + m}), got {tuple(theta.shape)}")
        param = next(self.surrogate.parameters())
        dtype, device = param.dtype, param.device
        c = self._center_tensor(device, dtype, center)
        xs = x.to(device=device, dtype=dtype)
        with torch.autocast(device_type=device.type, enabled=False):  # z at full precision, always
            z = _encode_distinct(self.surrogate, xs)
            th = theta.to(device=device, dtype=dtype)
            z = z + self.surrogate.embed(th[:, :d] + c) + float(self.sigma_ratio) * th[:, d:].reshape(z.shape)
        return self._decode(z).to(x.dtype)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        """H(z) in the channels-last memory format: the decoder's convolutions run ≈ 1.6× faster on
        the CPU that way (experiments/benchmark_throughput.py), with the same values up to float
        rounding. Only the decoder (part of the classifier f∘H whose votes are counted) is affected;
        the encoder and embedding, which the certificate's M* bounds, are untouched. The decoder's
        weights are converted once, in place (their values do not change)."""
        decoder = self.surrogate.h
        if z.ndim != 4 or not hasattr(decoder, "parameters"):
            return self.surrogate.decode(z)
        if not self.__dict__.get("_decoder_channels_last", False):
            decoder.to(memory_format=torch.channels_last)
            object.__setattr__(self, "_decoder_channels_last", True)
        return self.surrogate.decode(z.contiguous(memory_format=torch.channels_last)).contiguous()

    # -- M* ----------------------------------------------------------------------------------------
    def _true(self) -> Transform:
        if self.true_transform is None:
            self.true_transform = self.surrogate.true_transform()
            param = next(self.surrogate.parameters())
            self.true_transform.to(param.device)
        return self.true_transform

    def lipschitz_estimate(self, x: torch.Tensor, *, path_origin: Optional[torch.Tensor] = None,
                           param_range=None) -> GEstimate:
        """G over the path of ``path_origin`` (default ``x``) across ``param_range`` (default
        :meth:`range_pairs`); cached by image, range, grid, iters and method."""
        base = path_origin if path_origin is not None else x
        base = base if base.ndim == 3 else base.reshape(base.shape[-3:])
        key = (self._pairs(param_range), int(self.grid), int(self.iters), self.method, bool(self.fd_check))
        if self._cache is not None:
            cached_x, cached_key, est = self._cache
            if cached_key == key and cached_x.shape == base.shape and torch.equal(cached_x, base.to(cached_x.device, cached_x.dtype)):
                self.last_estimate = est
                return est
        with torch.inference_mode(False):
            base_c = base.detach().clone()
        est = estimate_G(
            self.surrogate, self._true(), base_c, param_range=key[0], grid=self.grid, iters=self.iters,
            method=self.method, fd_check=bool(self.fd_check),
        )
        self._cache = (base_c, key, est)
        self.last_estimate = est
        return est

    def clear_cache(self) -> None:
        """Forget the cached G of the grid estimate (keyed by image, range, grid, iters and method)."""
        self._cache = None

    # -- sound bounds on the path (gsmooth.surrogate.path_bounds) --------------------------------------------
    def true_transform_module(self) -> Transform:
        """The true transform τ behind the surrogate (rebuilt from its metadata on first use): what
        the certificate's statement is about."""
        return self._true()

    @property
    def guarantee(self) -> str:
        """``sound`` when certificates rest on a proven bound of the path — one parameter, a true
        transform with :meth:`~gsmooth.Transform.path_speed_bound`, and a proven Lip(F2) — else
        ``estimate`` (a grid maximum; see :mod:`gsmooth.surrogate.path_bounds`)."""
        return "sound" if self.d == 1 and self._sound_parts(self._lip_f2()) else "estimate"

    def _sound_parts(self, lip_f2: Optional[float]) -> bool:
        """Both proofs are there: a proven Lip(F2), and a true transform that overrides
        :meth:`~gsmooth.Transform.path_speed_bound`."""
        return lip_f2 is not None and type(self._true()).path_speed_bound is not Transform.path_speed_bound

    def _lip_f2(self) -> Optional[float]:
        """A proven Lipschitz constant of the encoder F2 (ℓ2 → ℓ2), or None if none is available."""
        return self._encoder_caches()[1]

    def _encoder64(self):
        """A float64 copy of the encoder F2 (the path bounds are computed in float64)."""
        return self._encoder_caches()[0]

    def _encoder_caches(self) -> tuple:
        """``(float64 encoder copy, proven Lip(F2) or None)`` for the encoder's **current** weights,
        rebuilt together whenever they change. Weights are compared by value: a write through
        ``.data`` or a numpy view changes no version counter, so nothing cheaper is safe. Stored as
        plain attributes, not registered submodules (a cache, not part of the transform)."""
        weights = torch.cat([p.detach().reshape(-1).double().cpu() for p in self.surrogate.f2.parameters()])
        cached = self.__dict__.get("_enc_cache")
        if cached is None or cached[0].shape != weights.shape or not torch.equal(cached[0], weights):
            import copy

            from .lipschitz_bounds import encoder_lipschitz_bound

            enc = copy.deepcopy(self.surrogate.f2).double().eval()
            for prm in enc.parameters():
                prm.requires_grad_(False)
            try:
                lip = float(encoder_lipschitz_bound(self.surrogate.f2, tuple(self.surrogate.input_shape[1:])))
            except InvalidParameterError:  # not the provable ResidualEncoder structure
                lip = None
            cached = (weights, enc, lip)
            object.__setattr__(self, "_enc_cache", cached)
        return cached[1], cached[2]

    def check_range(self, low, high) -> None:
        """Raise :class:`InvalidParameterError` unless ``[low, high]`` lies in the true transform's
        parameter domain (the path τ(α, x) must be the transform itself, not a clamped copy)."""
        from ..core.smoother import check_range_in_domain

        check_range_in_domain(self._true(), low, high, owner=f"surrogate({self.surrogate.transform_name})")

    def path_shift_bounds(self, x0: torch.Tensor, lows, highs, centers, *, progress: bool = False):
        """Per-slice bounds ``T_k`` on the path shift of image ``x0`` ``(C, H, W)`` (one parameter):
        see :func:`gsmooth.surrogate.path_bounds.slice_shift_bounds`. ``sound`` when :attr:`guarantee` is.
        ``progress``: tqdm bars (stderr) over the slices' speed bounds and the path points evaluated
        (with many slices this takes long before any sample is drawn)."""
        from .path_bounds import slice_shift_bounds
        from .._progress import progress_bar

        if self.d != 1:
            raise InvalidParameterError(
                f"SurrogateTransform.path_shift_bounds: expected a one-parameter surrogate, got d = {self.d}"
            )
        true = self._true()
        param = next(self.surrogate.parameters())
        enc, lip_f2 = self._encoder_caches()
        x64 = x0.detach().reshape(self.surrogate.input_shape).to(device=param.device, dtype=torch.float64)
        enc.to(param.device)

        def path(a: torch.Tensor) -> torch.Tensor:
            a = a.to(device=param.device, dtype=torch.float64)
            return enc(true(x64.unsqueeze(0).expand(a.shape[0], *x64.shape), a[:, None]))

        lows, highs = np.atleast_1d(np.asarray(lows, float)), np.atleast_1d(np.asarray(highs, float))
        W = self.surrogate.W.detach().double()
        lipschitz = None
        if self._sound_parts(lip_f2):
            from .lipschitz_bounds import linear_operator_norm

            w_norm = float(linear_operator_norm(W))
            x_cpu = x0.detach().reshape(self.surrogate.input_shape).double().cpu()
            bar = progress_bar(len(lows), unit="slice", desc="path speed bounds") if progress else None
            try:
                speeds = []
                for a, b in zip(lows, highs):
                    speeds.append(true.path_speed_bound(x_cpu, float(a), float(b)))
                    if bar is not None:
                        bar.update(1)
            finally:
                if bar is not None:
                    bar.close()
            if all(v is not None and math.isfinite(float(v)) for v in speeds):
                lipschitz = [(lip_f2 * float(v) + w_norm) * (1.0 + 1e-9) for v in speeds]
        span = (float(lows.min()), float(highs.max()))
        # transforms whose kinks depend on the image size take it (pixelate's block edges); a plugin
        # may still implement the two-argument form
        takes_size = "image_size" in inspect.signature(true.kink_points).parameters
        kinks = true.kink_points(*span, image_size=tuple(x64.shape)) if takes_size else true.kink_points(*span)
        return slice_shift_bounds(
            path, W, lows=lows, highs=highs, centers=centers, ratio=float(self.sigma_ratio), lipschitz=lipschitz,
            kinks=kinks, progress=progress,
        )

    def check_point_certificate(self) -> None:
        """A radius around θ = 0 is a statement about ``x`` only if the path starts at ``x``:
        ``τ(0, x) = x`` (the true transform's ``identity_at_zero``) and 0 lies in the range the
        path is bounded over. Otherwise refuse (certify a range instead: an interval certificate
        is a statement about τ(α, x) for every α in the range, wherever the path starts)."""
        true = self._true()
        pairs = self._pairs()
        if not true.identity_at_zero:
            raise InvalidParameterError(
                f"surrogate({self.surrogate.transform_name}): a radius around theta = 0 certifies the path starting at "
                f"tau(0, x), but this transform has tau(0, x) != x (identity_at_zero is False, e.g. defocus_blur with "
                f"alias_sigma > 0); expected an interval certificate (--range LO:HI / certify_interval), got a point "
                f"certificate"
            )
        lows, highs = zip(*pairs)
        self.check_range(lows, highs)
        if not all(lo <= 0.0 <= hi for lo, hi in pairs):
            raise InvalidParameterError(
                f"surrogate({self.surrogate.transform_name}): a radius around theta = 0 needs 0 inside the range the "
                f"path is bounded over, got range {format_range(pairs)}; expected a range "
                f"containing 0 (certified_range / --range), or an interval certificate over the range"
            )

    def certified_radius(self, x: torch.Tensor, p_lower: float, noise) -> tuple[float, float, str]:
        """The largest R such that the path shift of ``x`` stays below ``noise.radius(p_lower)``
        for every ``|α| < R`` in the range: ``(R, M* = noise.radius(p_lower) / R, guarantee)``.

        The range is cut into 32 segments on each side of 0, each bounded by
        :meth:`path_shift_bounds` (reference point 0); R is the inner end of the first segment
        (going outwards from 0, on either side) whose bound reaches the noise radius — or the
        range's extent if none does (nothing beyond the range is claimed). d > 1: the grid
        estimate of G (``lipschitz_factor``), guarantee ``estimate``. The engine has called
        :meth:`check_point_certificate` before sampling.
        """
        target = float(noise.radius(p_lower))
        if self.d != 1:
            m_star = self.lipschitz_factor(x)
            return target / m_star, m_star, "estimate"
        # the path of the image actually smoothed (p_lower was estimated at x); recomputed on every call — nothing it depends on (weights, sigma_ratio, range, the true
        # transform) can go stale
        base = x.detach().reshape(self.surrogate.input_shape)
        (lo, hi), = self._pairs()
        segments = []
        for a, b in ((0.0, hi), (0.0, lo)):  # outwards on each side
            if b == a:
                continue
            ends = np.linspace(a, b, 33)
            inner, outer = ends[:-1], ends[1:]
            bounds = self.path_shift_bounds(base, np.minimum(inner, outer), np.maximum(inner, outer), np.zeros(32))
            segments.append((np.abs(inner), bounds.upper, bounds.guarantee))
        radius = max(abs(lo), abs(hi))  # nothing beyond the range is claimed
        for inner, upper, _ in segments:
            fail = np.nonzero(upper >= target)[0]
            if fail.size:
                radius = min(radius, float(inner[fail[0]]))
        guarantee = "sound" if self.guarantee == "sound" and all(g == "sound" for _, _, g in segments) else "estimate"
        m_star = target / radius if radius > 0 else math.inf
        return float(radius), float(m_star), guarantee

    def lipschitz_factor(self, x: torch.Tensor, *, path_origin: Optional[torch.Tensor] = None, param_range=None) -> float:
        """M* = sqrt(1 + G² / sigma_ratio²) ≥ 1, with G a grid estimate over the path of
        ``path_origin`` (default ``x``) across ``param_range`` (default :meth:`range_pairs`); see
        :attr:`last_estimate`."""
        est = self.lipschitz_estimate(x, path_origin=path_origin, param_range=param_range)
        return math.hypot(1.0, est.G / float(self.sigma_ratio))


def _encode_distinct(surrogate, xs: torch.Tensor) -> torch.Tensor:
    """``F2(xs)`` ``(B, …)``, running the encoder once per run of identical consecutive images: the
    sampling loop packs each image's (or slice's) draws together, so a batch of 1,000 samples often
    holds 1–10 distinct images; encoding every sample would repeat the same convolutions."""
    b = xs.shape[0]
    if b > 1 and xs.stride(0) == 0:  # one expanded image
        return surrogate.encode(xs[:1]).expand(b, *xs.shape[1:])
    if b > 1:
        flat = xs.reshape(b, -1)
        starts = torch.ones(b, dtype=torch.bool, device=xs.device)
        starts[1:] = (flat[1:] != flat[:-1]).any(dim=1)
        distinct = int(starts.sum())
        if distinct < b:
            owner = torch.cumsum(starts.to(torch.int64), 0) - 1
            return surrogate.encode(xs[starts]).index_select(0, owner)
    return surrogate.encode(xs)


class SurrogateSlices(SliceStrategy):
    """The GSmooth surrogate route for interval certificates (:mod:`gsmooth.interval.engine`,
    "surrogate transforms"): slice k is certified by smoothing the truly transformed image
    ``τ(c_k, x)`` through the surrogate; its factor is ``M*_k = T_k / h`` from a bound ``T_k`` on
    the path shift over the slice (:meth:`SurrogateTransform.path_shift_bounds`; ``sound`` when
    proven), and the required radius is the half-width h. Several parameters keep the whole-range
    grid estimate of G (``M* = lipschitz_factor``, labelled ``estimate``). Two-sided isotropic
    Gaussian noise only."""

    centering = "image"
    per_image = True

    def check_support(self, transform, noise) -> None:
        if getattr(noise, "one_sided", False) or not getattr(noise, "isotropic_gaussian", False):
            raise UnsupportedTransformError(
                f"transform {transform.name!r} (surrogate) needs a two-sided Gaussian noise, got "
                f"{getattr(noise, 'name', noise)!r}"
            )

    def check_plan(self, transform, noise, plan) -> None:
        """The range lies in the true transform's domain; a warning when it leaves the training range."""
        transform.check_range(plan.low, plan.high)
        trained = transform.surrogate.param_range
        if not trained:
            return
        try:
            pairs = parse_range(trained, broadcast=False)
        except InvalidParameterError:
            return
        outside = [
            (lo, hi, tlo, thi)
            for (lo, hi), (tlo, thi) in zip(zip(plan.low, plan.high), pairs)
            if lo < tlo - 1e-12 or hi > thi + 1e-12
        ]
        if outside:
            warnings.warn(
                f"interval {format_range(plan.low, plan.high)} extends beyond the surrogate's training range "
                f"{format_range(pairs)}: the certificate stays valid (G is taken over the "
                "certified range) but the surrogate extrapolates there, so radii will likely be small",
                stacklevel=3,
            )

    def factors(self, transform, noise, x, plan, *, progress: bool = False) -> SliceFactors:
        if transform.d != 1:  # the whole-range grid estimate of G
            m_star = float(transform.lipschitz_factor(x, path_origin=x, param_range=tuple(zip(plan.low, plan.high))))
            return SliceFactors(np.full(plan.num_slices, m_star), "estimate")
        half = np.asarray(plan.widths) / 2.0
        lows, highs = plan.centers[:, 0] - half[0], plan.centers[:, 0] + half[0]
        bounds = transform.path_shift_bounds(  # with many slices: long before any sample is drawn
            x, lows, highs, plan.centers[:, 0], **({"progress": True} if progress else {})
        )
        # slice k is certified iff σ_θ Φ⁻¹(p_k) > T_k; as a radius: R_k = σ_θ Φ⁻¹(p_k) / M*_k > h
        k = plan.num_slices
        m_k = np.maximum(bounds.upper / plan.requirement, 1.0) if plan.requirement > 0 else np.ones(k)
        guarantee = bounds.guarantee if transform.guarantee == "sound" else transform.guarantee
        return SliceFactors(np.asarray(m_k, dtype=np.float64), guarantee, per_slice=True)

    def slice_images(self, transform, x, plan) -> torch.Tensor:
        """``τ(c_k, x_i)`` with the true transform, on the surrogate's device."""
        true = transform.true_transform_module()
        param = next(transform.surrogate.parameters())
        th = torch.as_tensor(plan.centers).to(device=param.device, dtype=x.dtype)
        k = plan.num_slices
        with torch.no_grad():
            return torch.cat([true(x0.unsqueeze(0).expand(k, *x0.shape).to(param.device), th) for x0 in x])
