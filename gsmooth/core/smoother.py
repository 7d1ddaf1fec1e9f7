"""The smoothed classifier ``g(x) = argmax_c P_θ(f(τ(θ, x)) = c)`` with Cohen's CERTIFY and PREDICT.

The engine never branches on component names: it asks the noise for its radius and the transform
for its Lipschitz factor M*, ``R = noise.radius(p_lower) / M*``.
"""

from __future__ import annotations

import contextlib
import math
import operator
import warnings
from collections.abc import Mapping
from numbers import Integral
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .certificates import ABSTAIN, Certificate, Prediction, ResultBatch
from ..errors import CompileError, InputError, InvalidParameterError, ModelOutputError
from .noise import Noise
from .._progress import progress_bar
from ..plugin.registry import get_registry
from .seeding import NoiseStream
from .stats import binomial_p_value, clopper_pearson_lower
from .transform import Transform
from ..validation import Interval, check_device, check_input_shape, check_positive_int, check_probability, validate_params
from .defaults import DEFAULT_TRANSFORM

__all__ = [
    "Smoother", "check_domain", "check_range_in_domain", "check_target_radii", "check_precision", "PRECISIONS", "PHASE_SELECTION",
    "PHASE_ESTIMATION", "PHASE_PREDICTION",
]

PHASE_SELECTION, PHASE_ESTIMATION, PHASE_PREDICTION = 0, 1, 2

#: The precisions the base model's forward pass may run at (``Smoother(precision=…)``, ``--precision``):
#: ``fp32`` (no autocast: the model's own dtype), ``bf16`` and ``fp16`` (:func:`torch.autocast`).
PRECISIONS = ("fp32", "bf16", "fp16")
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
#: What each device type autocasts to (CPU autocast in float16 is refused: slow, and no GPU-class fp16 there).
_AUTOCAST_DEVICES = {"cuda": ("bf16", "fp16"), "cpu": ("bf16",)}


def check_precision(precision, device, *, what: str = "precision") -> str:
    """``precision`` (one of :data:`PRECISIONS`) if ``device`` can run the base model at it, else an
    :class:`~gsmooth.errors.InvalidParameterError` "expected …, got …" naming ``what``.

    ``fp32`` runs anywhere; ``bf16`` on CUDA (where the GPU supports it) and on the CPU; ``fp16`` on
    CUDA only.

    Example:
        >>> check_precision("bf16", torch.device("cpu"))
        'bf16'
        >>> check_precision("fp16", torch.device("cpu"))
        Traceback (most recent call last):
        ...
        gsmooth.errors.InvalidParameterError: precision expected fp32 or bf16 on device cpu (fp16 autocast needs a CUDA device), got 'fp16'
    """
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise InvalidParameterError(f"{what} expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    device = torch.device(device)
    if precision == "fp32":
        return precision
    allowed = _AUTOCAST_DEVICES.get(device.type, ())
    if precision not in allowed:
        ok = " or ".join(("fp32", *allowed))
        why = " (fp16 autocast needs a CUDA device)" if precision == "fp16" and device.type == "cpu" else ""
        raise InvalidParameterError(f"{what} expected {ok} on device {device}{why}, got {precision!r}")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise InvalidParameterError(
            f"{what} expected fp32 or fp16 on {device} ({torch.cuda.get_device_name(device)} has no bfloat16 support), "
            f"got 'bf16'"
        )
    return precision


def _compile_backend(value) -> str | None:
    """``Smoother(compile=…)``: False/None → None, True → ``"inductor"``, a backend name as given."""
    if value is None or value is False:
        return None
    if value is True:
        return "inductor"
    if isinstance(value, str) and value.strip():
        return value
    raise InvalidParameterError(
        f"Smoother: compile expected True, False or a torch.compile backend name (e.g. 'inductor'), got {value!r}"
    )


def unwrap_model(model):
    """The module inside DataParallel / DistributedDataParallel / ``torch.compile`` wrappers (the one
    whose ``gsmooth_smoothing_noise`` the engine calls)."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


def _model_name(model) -> str:
    """A short name for messages: the checkpoint path a gsmooth model records, else its class."""
    path = getattr(model, "checkpoint_path", None)
    return f"{type(model).__name__} from {path}" if path else type(model).__name__


def _model_dtype(model) -> torch.dtype | None:
    """The floating dtype of the model's first floating parameter/buffer (images are converted to
    it: float64 pixels for a float32 model), or ``None`` (no parameters: images kept as given)."""
    if not isinstance(model, nn.Module):
        return None
    for t in (*model.parameters(), *model.buffers()):
        if t.is_floating_point():
            return t.dtype
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _model_device(model: nn.Module) -> torch.device:
    if not isinstance(model, nn.Module):  # a plain function: nothing to ask
        return torch.device("cpu")
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def _domain_text(domain) -> str:
    return " x ".join(f"[{lo:g}, {hi:g}]" for lo, hi in domain)


def check_domain(transform, noise, centers=None, *, what: str = "center") -> None:
    """Raise :class:`InvalidParameterError` unless ``centre + noise support`` stays in the
    transform's parameter domain for every centre (rows of ``centers``, ``(K, d)``; default the
    single centre 0), for transforms of kind ``exact`` (the composition law their certificates rest
    on holds inside the domain only). Transforms without a declared
    :attr:`~gsmooth.Transform.param_domain` accept everything; kind ``empirical``: a radius is a
    parameter-space statement about g_δ(x), which holds for any function of θ, clamped or not; a
    GSmooth surrogate's own θ is unbounded (its true transform's domain constrains the certified
    range instead, :func:`check_range_in_domain`)."""
    if transform.param_domain is None or transform.kind != "exact":
        return
    domain = transform.domain()
    s_lo, s_hi = (float(v) for v in noise.support())
    c = np.zeros((1, len(domain))) if centers is None else np.atleast_2d(np.asarray(centers, dtype=np.float64))
    for j, (lo, hi) in enumerate(domain):
        reach_lo, reach_hi = float(c[:, j].min()) + s_lo, float(c[:, j].max()) + s_hi
        if reach_lo < lo or reach_hi > hi:
            where = "" if centers is None else f" around {what} {float(c[:, j].min()):g}…{float(c[:, j].max()):g}"
            raise InvalidParameterError(
                f"transform {transform.name!r}: expected every smoothed parameter inside its domain "
                f"{_domain_text(domain)} (θ{'' if len(domain) == 1 else f'_{j}'} ∈ [{lo:g}, {hi:g}]), got noise "
                f"{noise.describe()} whose draws reach [{reach_lo:g}, {reach_hi:g}]{where}: the transform would clamp "
                f"θ there, which breaks the composition law a certificate relies on"
                + (" (use a one-sided noise such as exponential for a parameter that cannot go below "
                   f"{lo:g}, centred at or above {lo:g})" if math.isfinite(lo) and not noise.one_sided else "")
            )


def check_target_radii(radii) -> tuple[float, ...]:
    """Target radii of a sequential certificate, sorted: one positive finite number or a non-empty
    sequence of them; else an :class:`~gsmooth.errors.InvalidParameterError`.

    Example:
        >>> check_target_radii([0.5, 0.25])
        (0.25, 0.5)
    """
    values = [radii] if isinstance(radii, (int, float, np.floating, np.integer)) and not isinstance(radii, bool) else radii
    try:
        out = tuple(sorted(float(v) for v in values))
    except (TypeError, ValueError):
        out = ()
    if not out or not all(math.isfinite(v) and v > 0 for v in out) or isinstance(radii, (str, bytes, bool)):
        raise InvalidParameterError(f"radii expected positive finite target radii (a number or a list), got {radii!r}")
    return out


def check_range_in_domain(transform, low, high, *, owner: str) -> None:
    """Raise :class:`InvalidParameterError` unless the range ``[low, high]`` (one entry per
    parameter) lies in ``transform``'s parameter domain: a certificate over the range is about
    τ(α, x) itself, not about a clamped copy of it. Any kind (a surrogate passes its true transform)."""
    if transform.param_domain is None:
        return
    for (lo, hi), a, b in zip(transform.domain(), np.atleast_1d(low), np.atleast_1d(high)):
        if a < lo or b > hi:
            raise InvalidParameterError(
                f"{owner}: transform {transform.name!r} is defined for θ in its domain [{lo:g}, {hi:g}]; expected a "
                f"range inside it, got [{float(a):g}, {float(b):g}]"
            )


def _prefetched(items, enabled: bool):
    """Iterate ``items`` (a generator), computing item i+1 on a worker thread while the caller works
    on item i (enabled), else plainly. The worker runs in the caller's autograd / inference mode, and
    only one thread advances the generator at a time, so the items are exactly the plain ones."""
    if not enabled:
        yield from items
        return
    from concurrent.futures import ThreadPoolExecutor

    inference, grad = torch.is_inference_mode_enabled(), torch.is_grad_enabled()
    done = object()

    def advance():
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            return next(items, done)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gsmooth-prefetch") as pool:
        job = pool.submit(advance)
        try:
            while True:
                item = job.result()
                if item is done:
                    return
                job = pool.submit(advance)
                yield item
        finally:  # let the worker finish its item before closing the generator it advances
            try:
                job.result()
            except BaseException:  # noqa: BLE001 - its error was the caller's to see, or is moot now
                pass
            items.close()


class Smoother:
    """A base classifier turned into a certifiably robust smoothed classifier.

    Args:
        model: base classifier ``f``: ``(N, C, H, W)`` images in [0, 1] → ``(N, num_classes)`` logits
            (normalization belongs inside the model).
        noise: a :class:`gsmooth.Noise`, or a registered name (then pass ``sigma``).
        transform: a :class:`gsmooth.Transform` or a registered name; default ``"additive"``
            (τ(θ, x) = x + θ, classic randomized smoothing).
        num_classes: number of classes of ``f``.
        sigma: the noise scale when ``noise`` is given by name.
        device: where to run; default the model's device.
        input_shape: expected ``(C, H, W)``; default ``model.input_shape`` when the model records
            it (gsmooth models do), else unchecked.
        precision: ``"fp32"`` (default: the model as it is), ``"bf16"`` or ``"fp16"``: the base
            model's forward pass (and a surrogate transform's decoder) runs under
            :func:`torch.autocast` at that precision on the smoother's device (CUDA: bf16, fp16; CPU:
            bf16 only). Votes are the argmax of the model's output at that precision: that classifier
            is the one certified (its certificates are as valid as fp32's, for that classifier). The
            transform itself (x + θ, a blur, …) and the surrogate's encoder run at full precision.
        channels_last: store the model's 4-D weights and feed its 4-D inputs in the channels-last
            memory format (faster convolutions on GPUs with tensor cores); the model is converted in
            place.
        compile: ``True`` (backend ``"inductor"``) or a backend name: the base model's forward in
            the sampling loop (certify, predict, interval certificates) runs through
            :func:`torch.compile`, compiled at the first batch; a model that runs eagerly but fails to
            compile is a :class:`~gsmooth.errors.CompileError` (never a silent eager fallback).

    Model-owned noise handling: a base model (unwrapped from DataParallel / DDP / ``torch.compile``)
    may define ``gsmooth_smoothing_noise(self, noise, transform) -> None``. The smoother calls it
    with its :class:`~gsmooth.Noise` and :class:`~gsmooth.Transform` on construction (the only time
    they are set: both are read-only afterwards), before any sampling. The model may configure itself
    (a diffusion denoiser picks its timestep from ``noise.sigma``) or raise a
    :class:`~gsmooth.errors.GsmoothError` subclass (e.g. :class:`~gsmooth.errors.UnsupportedNoiseError`)
    to refuse a noise it cannot handle; the error stops construction.
    :class:`gsmooth.denoising.DenoisedClassifier` uses it to accept only its denoiser's σ.

    Example:
        >>> import gsmooth, torch
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
        >>> smoother = gsmooth.Smoother(model, noise="gaussian", sigma=0.25, num_classes=10)
        >>> cert = smoother.certify(torch.rand(1, 28, 28), n0=100, n=1000, alpha=0.001)
        >>> cert.prediction, cert.radius  # doctest: +SKIP
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        noise: Noise | str,
        transform: Transform | str = DEFAULT_TRANSFORM,
        num_classes: int,
        sigma: float | None = None,
        device: torch.device | str | None = None,
        input_shape: Sequence[int] | None = None,
        precision: str = "fp32",
        channels_last: bool = False,
        compile: bool | str = False,
    ) -> None:
        if not callable(model):
            raise InvalidParameterError(f"Smoother: expected a callable model (nn.Module), got {type(model).__name__}")
        registry = get_registry()
        if isinstance(noise, str):
            if sigma is None:
                raise InvalidParameterError(f"Smoother: noise given by name {noise!r} expected sigma=…, got none")
            noise = registry.noise_class(noise)(sigma=sigma)
        elif not isinstance(noise, Noise):
            raise InvalidParameterError(f"Smoother: expected noise to be a gsmooth.Noise or a name, got {type(noise).__name__}")
        elif sigma is not None and sigma != getattr(noise, "sigma", None):
            raise InvalidParameterError(f"Smoother: sigma={sigma} conflicts with the noise's sigma={noise.sigma}")
        if isinstance(transform, str):
            transform = registry.transform_class(transform)()
        elif not isinstance(transform, Transform):
            raise InvalidParameterError(
                f"Smoother: expected transform to be a gsmooth.Transform or a name, got {type(transform).__name__}"
            )
        validate_params("Smoother", {"num_classes": num_classes}, {"num_classes": [Interval(Integral, 2, None)]})
        check_noise = getattr(transform, "check_noise", None)
        if check_noise is not None:
            check_noise(noise)  # e.g. a GSmooth surrogate accepts Gaussian noise only
        self.model = model
        self._noise = noise
        self._transform = transform
        self._check_pair()
        self._tell_model()
        self.num_classes = int(num_classes)
        if device is not None:
            self.device = check_device(device, what="Smoother: device")
        else:  # the model's own device (a model moved to meta holds no weights to run)
            self.device = check_device(_model_device(model), what="Smoother: the model's device")
        #: the base model's forward precision (:data:`PRECISIONS`)
        self.precision = check_precision(precision, self.device, what="Smoother: precision")
        #: draw the next batch's noise on a worker thread while the model runs the current one
        self._prefetch = True
        if not isinstance(channels_last, bool):
            raise InvalidParameterError(f"Smoother: channels_last expected True or False, got {channels_last!r}")
        #: whether the model and its 4-D inputs use the channels-last memory format
        self.channels_last = channels_last
        #: the :func:`torch.compile` backend of the sampling loop's forward pass, or None (eager)
        self.compile_backend = _compile_backend(compile)
        if isinstance(model, nn.Module):
            model.to(self.device)
            if channels_last:
                model.to(memory_format=torch.channels_last)
        self.transform.to(self.device)
        self.model_dtype = _model_dtype(model)
        self._compiled = None
        if self.compile_backend is not None:
            try:
                self._compiled = torch.compile(model, backend=self.compile_backend)
            except Exception as exc:  # an unknown backend, no compiler support on this platform
                raise CompileError(
                    f"Smoother: expected torch.compile to accept the model with backend {self.compile_backend!r}, got "
                    f"{_first_line(exc)}; run without compile (--compile)"
                ) from exc
        self._compile_checked = False
        shape = input_shape if input_shape is not None else getattr(model, "input_shape", None)
        self.input_shape = check_input_shape(shape, owner="Smoother: input_shape") if shape is not None else None

    def _tell_model(self) -> None:
        """The model-owned noise protocol: call ``gsmooth_smoothing_noise(noise, transform)`` of the
        base model (unwrapped from DataParallel / DDP / ``torch.compile``) when it defines it, before
        any sampling; whatever it raises (a :class:`~gsmooth.errors.GsmoothError`) stops construction."""
        hook = getattr(unwrap_model(self.model), "gsmooth_smoothing_noise", None)
        if callable(hook):
            hook(self._noise, self._transform)

    def _check_pair(self) -> None:
        """Refuse noise/transform pairs whose radius would not be a certificate (see DESIGN §6)."""
        noise, transform = self._noise, self._transform
        if transform.param_dim is None:
            if noise.norm not in ("l2", "l1", "linf"):
                raise InvalidParameterError(
                    f"Smoother: additive smoothing of pixels expected a noise whose radius is proven in a norm of the "
                    f"image (declared norm 'l2', 'l1' or 'linf', verified by gsmooth.testing.check_noise; e.g. "
                    f"gaussian, laplace), got noise {noise.name!r} with norm {noise.norm!r} (a 1-D parameter radius: "
                    f"the Neyman–Pearson radius of one coordinate is not an l2/l1 radius in d dimensions)"
                )
            return
        d = self.center_dim
        if d > 1 and noise.one_sided:
            raise InvalidParameterError(
                f"Smoother: a one-sided noise certifies increases of a single parameter; transform {transform.name!r} "
                f"has {d} parameters, expected a two-sided noise (e.g. gaussian, l2 over the parameters), got "
                f"{noise.name!r}"
            )
        if d > 1 and noise.norm not in ("l2", "l1", "linf"):
            raise InvalidParameterError(
                f"Smoother: transform {transform.name!r} has {d} parameters, so a radius is a ball in a norm over "
                f"them; noise {noise.name!r} declares norm {noise.norm!r} (a 1-D radius), expected a noise proven in "
                f"l2/l1/linf (e.g. gaussian)"
            )
        check_domain(transform, noise)

    # -- description -----------------------------------------------------------------------------
    @property
    def noise(self) -> Noise:
        """The smoothing noise (read-only: the pair was checked on construction; build a new
        Smoother for another noise)."""
        return self._noise

    @noise.setter
    def noise(self, value) -> None:
        raise AttributeError(
            "Smoother.noise is read-only: the noise/transform pair is checked once, on construction "
            "(domain, norm, one-sidedness); build a new gsmooth.Smoother for another noise"
        )

    @property
    def transform(self) -> Transform:
        """The transform (read-only, like :attr:`noise`)."""
        return self._transform

    @transform.setter
    def transform(self, value) -> None:
        raise AttributeError(
            "Smoother.transform is read-only: the noise/transform pair is checked once, on construction; "
            "build a new gsmooth.Smoother for another transform"
        )

    @property
    def norm(self) -> str:
        """What radii measure: the noise's norm for additive smoothing, else the parameter space."""
        if self.transform.param_dim is None:
            return self.noise.norm
        units = f" [{self.transform.param_units}]" if self.transform.param_units else ""
        if self.noise.one_sided:  # certifies increases of the parameter only: [c, c + R)
            return f"param+{units}"
        d = self.center_dim
        if d is not None and d > 1:  # a radius over several parameters is a ball in the noise's norm
            return f"{self.noise.norm} param{units}"
        return f"param{units}"

    def __repr__(self) -> str:
        speed = "".join(
            (f", precision={self.precision}" if self.precision != "fp32" else "",
             ", channels_last=True" if self.channels_last else "",
             f", compile={self.compile_backend!r}" if self.compile_backend else "")
        )
        return (
            f"Smoother(noise={self.noise!r}, transform={self.transform.describe()}, "
            f"num_classes={self.num_classes}, device={self.device}{speed})"
        )

    def autocast(self):
        """The context the base model runs in: :func:`torch.autocast` on the smoother's device at
        :attr:`precision` (bf16, fp16), or a no-op context for fp32.

        Example:
            >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
            >>> s = Smoother(model, noise="gaussian", sigma=0.5, num_classes=3, precision="bf16")
            >>> with s.autocast():
            ...     model(torch.rand(2, 1, 2, 2)).dtype
            torch.bfloat16
        """
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=_AUTOCAST_DTYPES[self.precision])

    def base_forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """The base model ``f`` on ``(N, C, H, W)`` images as the smoother runs it: at :attr:`precision`
        (:meth:`autocast`) and, with :attr:`channels_last`, on channels-last inputs; eagerly (the
        compiled model serves the sampling loop only). Gradients flow when enabled (attacks use it).
        Returns the model's ``(N, num_classes)`` output (bf16/fp16 logits under autocast)."""
        if self.channels_last and isinstance(inputs, torch.Tensor) and inputs.ndim == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            return self.model(inputs)

    def _transform_for_votes(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """τ(θ, x) in the sampling loop: under :meth:`autocast` only for a transform that declares
        :attr:`~gsmooth.Transform.autocast_forward` (a surrogate's decoder); every other transform at
        the image's own precision (it computes the point the certificate is about)."""
        if self.precision != "fp32" and self.transform.autocast_forward:
            with self.autocast():
                return self.transform(x, theta)
        return self.transform(x, theta)

    def _compiled_forward(self, inputs: torch.Tensor):
        """The compiled model at :attr:`precision`; its first call compiles it (a failure there is a
        :class:`~gsmooth.errors.CompileError` when the eager model runs on the same batch, else the
        eager model's own error). Dynamo's ``suppress_errors`` is kept off: a compile failure never
        falls back to eager numbers behind the recorded ``compile`` setting."""
        import torch._dynamo

        if self.channels_last and inputs.ndim == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with torch._dynamo.config.patch(suppress_errors=False), self.autocast():
            if self._compile_checked:
                return self._compiled(inputs)
            try:
                out = self._compiled(inputs)
            except torch.cuda.OutOfMemoryError:
                raise
            except Exception as exc:
                self.model(inputs)  # the model's own failure: reported as such by _forward
                raise CompileError(
                    f"expected torch.compile (backend {self.compile_backend!r}) to compile the base model "
                    f"({_model_name(self.model)}), which runs eagerly on the same batch of shape {tuple(inputs.shape)}, "
                    f"got {_first_line(exc)}; run without compile (--compile) — results are never computed eagerly "
                    "under a recorded compile setting"
                ) from exc
            self._compile_checked = True
            return out

    def _forward(self, inputs: torch.Tensor):
        """The base model on a batch of (noisy, transformed) images (at :attr:`precision`, compiled
        when :attr:`compile_backend` is set); its own failures become a
        :class:`~gsmooth.errors.ModelOutputError` naming the model and the batch (the original
        exception chained), out-of-memory an error about the batch size."""
        try:
            if self._compiled is not None:
                return self._compiled_forward(inputs)
            return self.base_forward(inputs)
        except CompileError:
            raise
        except torch.cuda.OutOfMemoryError as exc:
            raise InvalidParameterError(
                f"expected a batch size that fits in memory on {self.device}, got {inputs.shape[0]} noisy inputs per "
                f"forward pass ({_first_line(exc)}); lower batch_size (--batch)"
            ) from exc
        except (RuntimeError, ValueError, TypeError, IndexError, AttributeError) as exc:
            raise ModelOutputError(
                f"the base model ({_model_name(self.model)}) failed on a batch of shape {tuple(inputs.shape)} "
                f"{str(inputs.dtype).replace('torch.', '')} on {inputs.device}: {_first_line(exc)} (expected a model "
                "taking (N, C, H, W) images in [0, 1] and returning (N, num_classes) logits; pass input_shape= to "
                "check image shapes up front)"
            ) from exc

    # -- checks ----------------------------------------------------------------------------------
    def _check_logits(self, logits, batch: int, *, finite: bool = True) -> torch.Tensor:
        """The model's output for ``batch`` noisy inputs as real, finite ``(batch, num_classes)``
        logits on the smoother's device, or a :class:`~gsmooth.errors.ModelOutputError`: a wrong
        shape (one row too many would count votes that were never drawn), complex, boolean or
        value-less (meta) tensors, and NaN/inf are never counted as votes. ``finite=False`` leaves
        the NaN/inf check to the caller (the CUDA sampling loop checks once per call, not once per
        batch: reading a flag back from the GPU would stall it after every batch)."""
        k = self.num_classes
        if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or tuple(logits.shape) != (batch, k):
            got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ModelOutputError(
                f"expected the model ({_model_name(self.model)}) to return logits of shape ({batch}, num_classes={k}) "
                f"for a batch of {batch} noisy inputs, got {got}"
            )
        if logits.is_complex() or logits.dtype == torch.bool:
            raise ModelOutputError(
                f"expected real-valued logits from the model ({_model_name(self.model)}), got dtype "
                f"{str(logits.dtype).replace('torch.', '')}"
            )
        if logits.device.type == "meta":
            raise ModelOutputError(
                f"expected logits holding values from the model ({_model_name(self.model)}), got a tensor on the meta device"
            )
        logits = logits.to(self.device)
        if finite and not bool(torch.isfinite(logits).all()):  # argmax of NaN is class 0: never count it as a vote
            raise self._nonfinite_error(int((~torch.isfinite(logits)).any(dim=1).sum()), logits.shape[0])
        return logits

    @property
    def _defer_finite_check(self) -> bool:
        """Whether the sampling loop counts NaN/inf logits on the device and checks them once per call
        (CUDA: a per-batch check would read a flag back and stall the GPU) instead of after every batch."""
        return self.device.type == "cuda"

    def _nonfinite_error(self, bad: int, total: int) -> ModelOutputError:
        at = "" if self.precision == "fp32" else f" at precision {self.precision}"
        hint = "; fp16 holds at most 65504: try precision bf16 or fp32" if self.precision == "fp16" else ""
        return ModelOutputError(
            f"expected finite logits from the model ({_model_name(self.model)}), got NaN/inf for {bad} of "
            f"{total} noisy inputs{at} (broken weights, or an overflow at this input scale{hint}): no "
            "prediction or certificate is made from them"
        )

    def _check_input(self, x) -> tuple[torch.Tensor, bool]:
        if not isinstance(x, torch.Tensor):
            if isinstance(x, np.ndarray):
                if x.dtype.kind not in "biufc":  # bool, int, uint, float, complex
                    raise InputError(f"expected an image array of numbers, got a numpy array of dtype {x.dtype}")
                # native byte order, positive strides: what torch can take (a big-endian or flipped array)
                x = torch.from_numpy(np.array(x, dtype=x.dtype.newbyteorder("="), order="C", copy=True))
            else:
                raise InputError(f"expected an image tensor (C,H,W) or batch (B,C,H,W), got {type(x).__name__}")
        if x.ndim not in (3, 4):
            raise InputError(f"expected an image (C,H,W) or a batch (B,C,H,W), got a tensor of shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise InputError(
                f"expected floating-point pixels in [0, 1], got dtype {x.dtype} (convert with x.float() / 255)"
            )
        if x.device.type == "meta":
            raise InputError("expected images holding values (on cpu or cuda), got a tensor on the meta device")
        single = x.ndim == 3
        if single:
            x = x.unsqueeze(0)
        if self.input_shape is not None and tuple(x.shape[1:]) != self.input_shape:
            raise InputError(
                f"expected images of shape (C,H,W)={self.input_shape} for this model, got {tuple(x.shape[1:])}"
            )
        if x.shape[0] == 0:
            raise InputError("expected at least one image, got an empty batch")
        if x.numel() == 0:
            raise InputError(f"expected images with at least one pixel, got shape {tuple(x.shape[1:])}")
        x = x.detach()
        if not bool(torch.isfinite(x).all()):
            bad = int((~torch.isfinite(x)).sum())
            raise InputError(f"expected finite pixel values, got {bad} NaN/inf value(s)")
        lo, hi = float(x.min()), float(x.max())
        if lo < -1e-4 or hi > 1 + 1e-4:
            raise InputError(
                f"expected pixels in [0, 1] (normalization belongs inside the model so radii are in pixel "
                f"space), got values in [{lo:.3g}, {hi:.3g}]"
            )
        # pixels in the model's floating dtype (float64 or float16 images for a float32 model): the
        # certificate is about the image the model sees, x rounded to that dtype (for float64 -> float32
        # at most 2^-25 per pixel, 1.7e-6 in l2 over 784 pixels; see the README's floating-point soundness)
        return x.to(self.device, dtype=self.model_dtype or x.dtype), single

    def _check_keys(self, keys, batch: int) -> list[int]:
        if keys is None:
            return list(range(batch))
        try:
            if isinstance(keys, (str, bytes, Mapping)):
                raise TypeError
            keys = [operator.index(k) for k in keys]  # integers: ints, numpy ints, 0-d integer tensors
        except TypeError:
            raise InvalidParameterError(
                f"keys: expected one integer per image ({batch}), got {keys!r}"
            ) from None
        if len(keys) != batch:
            raise InvalidParameterError(f"expected one key per image ({batch}), got {len(keys)}")
        return keys

    @staticmethod
    def _check_seed(seed) -> int:
        validate_params("gsmooth", {"seed": seed}, {"seed": [Interval(Integral, 0, None)]})
        return int(seed)

    @property
    def center_dim(self) -> int | None:
        """How many numbers a smoothing centre has: the transform's :attr:`~gsmooth.Transform.center_dim`
        (its θ length ``param_dim`` by default; ``d`` for a GSmooth surrogate, whose latent part ξ
        is never centred). ``None`` for additive pixel smoothing (no centre)."""
        d = self.transform.center_dim
        return None if d is None else int(d)

    def _check_center(self, center, batch: int, param_shape: tuple[int, ...], dtype) -> torch.Tensor | None:
        """``center`` as a ``(batch, *param_shape)`` tensor (zero-padded past ``center_dim``), or None."""
        if center is None:
            return None
        d = self.center_dim
        if d is None:
            raise InvalidParameterError(
                f"center: expected None for additive pixel smoothing (transform {self.transform.name!r} has no "
                f"parameter to centre), got {center!r}"
            )
        try:
            c = torch.as_tensor(center, dtype=torch.float64).detach().cpu()
        except (TypeError, ValueError, RuntimeError):
            raise InvalidParameterError(
                f"center: expected {d} number(s) (or one row of {d} per image), got {center!r}"
            ) from None
        if c.ndim == 0 and d == 1:
            c = c.reshape(1, 1)
        elif c.ndim == 1 and c.numel() == d:
            c = c.reshape(1, d)
        if c.ndim != 2 or c.shape[1] != d or c.shape[0] not in (1, batch):
            raise InvalidParameterError(
                f"center: expected {d} number(s) for transform {self.transform.name!r} (param_dim {d}), or a "
                f"({batch}, {d}) array with one centre per image, got shape {tuple(c.shape)}"
            )
        if not bool(torch.isfinite(c).all()):
            raise InvalidParameterError(f"center: expected finite numbers, got {c.flatten().tolist()}")
        if len(param_shape) != 1 or param_shape[0] < d:
            raise InvalidParameterError(
                f"center: expected a transform whose θ is a vector of at least {d} numbers, got θ of shape {param_shape}"
            )
        check_domain(self.transform, self.noise, c.expand(batch, d).numpy(), what="center")
        full = torch.zeros(batch, param_shape[0], dtype=torch.float64)
        full[:, :d] = c.expand(batch, d)
        return full.to(device=self.device, dtype=dtype)

    # -- sampling --------------------------------------------------------------------------------
    def perturb(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``τ(θ, x)`` with one fresh θ ~ noise per image: ``(B,C,H,W)`` → ``(B,C,H,W)``.

        This is the augmentation used for training, drawn from the very smoothing object that
        certifies. ``generator`` must live on ``x``'s device.
        """
        theta = self.noise.sample(
            (x.shape[0], *self.transform.param_shape(tuple(x.shape[1:]))),
            generator=generator,
            device=x.device,
            dtype=x.dtype,
        )
        return self.transform(x, theta)

    @torch.inference_mode()
    def count(
        self,
        x: torch.Tensor,
        num: int,
        *,
        batch_size: int = 1000,
        seed: int = 0,
        phase: int = PHASE_ESTIMATION,
        keys: Sequence[int] | None = None,
        progress: bool = False,
        center=None,
    ) -> torch.Tensor:
        """Class votes of ``f(τ(c + θ, x))`` over ``num`` noise draws per image (c = ``center``, default 0).

        Several images share a forward batch when ``num < batch_size``; memory is O(batch_size),
        independent of ``num``. Returns an int64 tensor ``(B, num_classes)`` on the CPU.
        ``center``: see :meth:`certify`.
        """
        x, _ = self._check_input(x)
        num = check_positive_int("num", num)
        batch_size = check_positive_int("batch_size", batch_size)
        seed = self._check_seed(seed)
        keys = self._check_keys(keys, x.shape[0])
        centers = self._check_center(center, x.shape[0], self.transform.param_shape(tuple(x.shape[1:])), x.dtype)
        return self._count(
            x, num, batch_size=batch_size, seed=seed, phase=phase, keys=keys, progress=progress, centers=centers
        )

    @torch.no_grad()
    def _count(self, x, num, *, batch_size, seed, phase, keys, progress, centers=None, bar=None, streams=None) -> torch.Tensor:
        """The sampling loop behind :meth:`count`, CERTIFY, PREDICT and interval certificates;
        ``bar``: a progress bar to advance by the samples drawn (else ``progress`` opens one of its
        own over ``B · num`` samples). ``streams``: one :class:`~gsmooth.core.seeding.NoiseStream`
        per image to continue (sequential certification draws its looks from the same streams, so
        its draws are a prefix of a fixed-``n`` run's); default: fresh streams from ``seed``, ``keys``
        and ``phase``.

        Always without autograd: votes need no gradient, and with it the forward pass of every
        batch would keep its activations for a backward pass that never comes (for a surrogate's
        U-Net at ``batch_size=1000``, about 2.6 GB). Memory is O(batch_size).
        """
        b, k = x.shape[0], self.num_classes
        param_shape = self.transform.param_shape(tuple(x.shape[1:]))
        if streams is None:
            streams = self._streams(param_shape, seed, keys, phase, x.dtype)
        counts = torch.zeros(b * k, dtype=torch.int64, device=self.device)
        ones = torch.ones(min(batch_size, b * num), dtype=torch.int64, device=self.device)
        # on CUDA nothing in the loop reads a value back from the GPU (no bincount, whose output size
        # needs its max; no host lists copied to the device; NaN/inf counted and checked at the end)
        defer = self._defer_finite_check
        nonfinite = torch.zeros((), dtype=torch.int64, device=self.device) if defer else None
        remaining = [num] * b
        own_bar = None
        if bar is None and progress:
            bar = own_bar = progress_bar(b * num, unit="sample", desc="sampling")
        was_training = getattr(self.model, "training", False)
        if isinstance(self.model, nn.Module):
            self.model.eval()
        def batches():
            """The forward batches, in order: (images, θ's, flat vote offsets or None, owner, samples)."""
            i = 0
            while i < b:
                xs, thetas, owners, sizes = [], [], [], []
                filled = 0
                while filled < batch_size and i < b:
                    take = min(remaining[i], batch_size - filled)
                    thetas.append(streams[i].take(take))
                    xs.append(x[i : i + 1].expand(take, *x.shape[1:]))
                    owners.append(i)
                    sizes.append(take)
                    remaining[i] -= take
                    filled += take
                    if remaining[i] == 0:
                        i += 1
                xb = xs[0] if len(xs) == 1 else torch.cat(xs)
                tb = thetas[0] if len(thetas) == 1 else torch.cat(thetas)
                if centers is not None:  # θ ~ c + noise (the draws themselves are unchanged)
                    if len(owners) == 1:
                        tb = tb + centers[owners[0]]
                    else:
                        tb = tb + torch.cat([centers[o].expand(s, *centers.shape[1:]) for o, s in zip(owners, sizes)])
                offsets = None if len(owners) == 1 else torch.cat(
                    [torch.full((s,), o * k, dtype=torch.int64, device=self.device) for o, s in zip(owners, sizes)]
                )
                yield xb, tb, offsets, owners[0], filled

        try:
            for xb, tb, offsets, owner, filled in _prefetched(batches(), self._prefetch):
                logits = self._forward(self._transform_for_votes(xb, tb))
                logits = self._check_logits(logits, xb.shape[0], finite=not defer)
                if defer:
                    nonfinite += (~torch.isfinite(logits)).any(dim=1).sum()
                pred = logits.argmax(dim=1)
                flat = pred + owner * k if offsets is None else pred + offsets
                counts.index_add_(0, flat, ones[: flat.shape[0]])
                if bar is not None:
                    bar.update(filled)
            if defer and int(nonfinite):
                raise self._nonfinite_error(int(nonfinite), b * num)
        finally:
            if own_bar is not None:
                own_bar.close()
            if was_training:
                self.model.train()
        return counts.view(b, k).cpu()

    def _streams(self, param_shape, seed, keys, phase, dtype) -> list:
        """One :class:`~gsmooth.core.seeding.NoiseStream` per key (sharing one generator)."""
        generator = torch.Generator(device=self.device)
        return [
            NoiseStream(self.noise, param_shape, (seed, key, phase), device=self.device, dtype=dtype, generator=generator)
            for key in keys
        ]

    # -- from a checkpoint -----------------------------------------------------------------------
    @classmethod
    def from_checkpoint(
        cls,
        path,
        *,
        noise: str | None = None,
        sigma: float | None = None,
        transform: str | None = None,
        transform_params: Mapping | None = None,
        surrogate=None,
        latent_sigma: float | None = None,
        device: torch.device | str | None = None,
        precision: str = "fp32",
        channels_last: bool = False,
        compile: bool | str = False,
        denoiser=None,
    ) -> "Smoother":
        """The smoother of a checkpoint written by ``gsmooth train``, as ``gsmooth certify --model`` builds it.

        Every override left ``None`` takes the checkpoint's recorded training smoothing (when it is
        for the same transform), then the transform's defaults (:mod:`gsmooth.core.defaults`). A
        surrogate (``surrogate``, or the one the checkpoint was trained with, found near the
        checkpoint) makes the transform a :class:`gsmooth.surrogate.transform.SurrogateTransform`.
        A smoothing other than the training one gives a
        :class:`gsmooth.errors.SmoothingMismatchWarning` (the certificates stay valid
        but will be weak). What it was built from (resolved noise, σ, surrogate path and SHA-256,
        the checkpoint): :meth:`gsmooth.run.SmootherSetup.load`, which this calls.

        Args:
            path: the checkpoint file.
            noise: noise name, e.g. ``"gaussian"``; sigma: its scale.
            transform: transform name; transform_params: its keyword arguments.
            surrogate: GSmooth surrogate checkpoint; latent_sigma: σ_ξ of its latent noise.
            device: torch device (default ``"cpu"``); the model is built there.
            precision, channels_last, compile: how the base model runs (see :class:`Smoother`).
            denoiser: a denoiser checkpoint (``gsmooth train-denoiser``): the base model is then
                ``DenoisedClassifier(classifier, denoiser)`` (:mod:`gsmooth.denoising`).

        Returns:
            The :class:`Smoother` (model in eval mode on ``device``).

        Raises:
            CheckpointError: not a readable gsmooth checkpoint.
            UnknownComponentError: an unknown noise or transform name.
            InvalidParameterError: a bad override, or no σ / surrogate / σ_ξ where one is needed.

        Example:
            >>> import gsmooth
            >>> from gsmooth.embedded import embedded_default
            >>> smoother = gsmooth.Smoother.from_checkpoint(embedded_default("additive").model_path)
            >>> smoother.noise.describe(), smoother.num_classes
            ('gaussian(sigma=0.25)', 10)
        """
        from ..run.smoother_setup import SmootherSetup

        return SmootherSetup.load(
            path, noise=noise, sigma=sigma, transform=transform, transform_params=transform_params,
            surrogate=surrogate, latent_sigma=latent_sigma, device=device, precision=precision,
            channels_last=channels_last, compile=compile, denoiser=denoiser,
        ).smoother

    # -- Cohen's algorithms ----------------------------------------------------------------------
    def certify(
        self,
        x,
        *,
        n0: int = 100,
        n: int = 100_000,
        alpha: float = 0.001,
        batch_size: int = 1000,
        seed: int = 0,
        keys: Sequence[int] | None = None,
        progress: bool = False,
        center=None,
        radii=None,
    ) -> Certificate | ResultBatch:
        """CERTIFY (Cohen et al. 2019, Alg. 1) for one image ``(C,H,W)`` or a batch ``(B,C,H,W)``.

        ``n0`` draws select the top class ĉ, ``n`` fresh draws count it (nA); with the one-sided
        Clopper–Pearson bound ``p_lower``, the result is ĉ with radius ``noise.radius(p_lower) / M*``,
        or an abstention (-1, radius 0) when ``p_lower ≤ 1/2``. With probability ≥ 1 − alpha a
        non-abstained answer is g(x) and g is constant within the radius.

        Args:
            x: image(s) in [0, 1].
            n0, n: selection and estimation sample counts.
            alpha: significance level in (0, 1).
            batch_size: noisy samples per forward pass (images are packed together when n is small).
            seed: base seed; with ``keys`` it fixes every θ (results do not depend on batch_size).
            keys: one integer per image naming its noise stream (default 0..B−1; the CLI passes
                dataset indices so a resumed run reproduces an uninterrupted one).
            progress: show a tqdm bar (stderr) over the noise samples of the call: selection and
                estimation together, ``B · (n0 + n)``.
            center: the centre c of the parameter noise (transforms with a parameter only): the
                smoothed classifier certified is ``g_c(x) = argmax_y P_θ(f(τ(c + θ, x)) = y)`` and
                the radius is around c in parameter space (``‖δ‖ < R`` ⇒ ``g_{c+δ}(x) = g_c(x)``).
                ``center_dim`` numbers (the transform's ``param_dim``; a surrogate's d — its latent
                part is not centred), or one row per image. ``None`` (default) is c = 0, exactly the
                uncentred smoother (the same noise draws: a centre shifts them, nothing else).
                For a transform whose θ's add under composition, ``g_c(x) = g_0(τ(c, x))``; see
                :mod:`gsmooth.interval.engine` for what that buys.
            radii: target radii (a number or a sequence of positive numbers): certify
                *sequentially* (:mod:`gsmooth.core.sequential`): the ``n`` estimation draws become a
                maximum, counted at looks 100, 200, 400, … with α split across the looks, and an
                image stops as soon as its bound reaches the largest target it can reach (or surely
                cannot reach the next one). The radius reported is the bound's radius at the look it
                stopped at (≥ the targets reached; any radius, not only a target); ``samples`` says
                how many draws were used. ``None`` (default): Cohen's fixed ``n``.

        Returns:
            a :class:`Certificate` for one image, or a :class:`ResultBatch` of them.
        """
        x, single = self._check_input(x)
        n0 = check_positive_int("n0", n0)
        n = check_positive_int("n", n)
        alpha = check_probability("alpha", alpha)
        batch_size = check_positive_int("batch_size", batch_size)
        seed = self._check_seed(seed)
        keys = self._check_keys(keys, x.shape[0])
        centers = self._check_center(center, x.shape[0], self.transform.param_shape(tuple(x.shape[1:])), x.dtype)
        targets = None if radii is None else check_target_radii(radii)
        self.transform.check_point_certificate()
        if targets is None:
            out = self._certify_checked(x, n0=n0, n=n, alpha=alpha, batch_size=batch_size, seed=seed, keys=keys,
                                        progress=progress, centers=centers)
        else:
            out = self._certify_sequential(x, targets, n0=n0, n=n, alpha=alpha, batch_size=batch_size, seed=seed,
                                           keys=keys, progress=progress, centers=centers)
        return out[0] if single else ResultBatch(out)

    def _certify_sequential(self, x, targets, *, n0, n, alpha, batch_size, seed, keys, progress, centers=None) -> list:
        """CERTIFY at target radii (checked arguments): :meth:`_sequential_select_and_bound` with an
        image's level = how many targets its radius reaches."""
        radius_cache: dict[tuple[int, float], float] = {}

        def radius_at(j: int, p: float) -> float:
            if not p > 0.5:
                return 0.0
            key = (int(j), float(p))
            if key not in radius_cache:
                radius_cache[key] = float(self.transform.certified_radius(x[j], float(p), self.noise)[0])
            return radius_cache[key]

        def level(idx, p):
            return np.array([sum(radius_at(j, pj) >= t for t in targets) for j, pj in zip(idx, p)], dtype=np.int64)

        c_hat, n_a, p_lower, drawn = self._sequential_select_and_bound(
            x, n0=n0, n=n, alpha=alpha, batch_size=batch_size, seed=seed, keys=keys, progress=progress,
            centers=centers, level=level,
        )
        return self._certificates(
            c_hat, n_a, p_lower, n0=n0, n=n, alpha=alpha,
            bound=lambda i, pl: self.transform.certified_radius(x[i], pl, self.noise), samples=n0 + drawn,
        )

    def _sequential_select_and_bound(self, x, *, n0, n, alpha, batch_size, seed, keys, progress, level,
                                     centers=None, groups=None, plan=None):
        """The sampling half of sequential CERTIFY (:mod:`gsmooth.core.sequential`) on a checked batch of
        *units* (images, or an interval's image × slice pairs).

        ĉ from ``n0`` selection draws; then the estimation draws at the looks of ``plan`` (default
        :meth:`SequentialPlan.for_budget` (n, alpha)), all active units together at each look, from
        streams continued across looks (a fixed-``n`` run's draws, cut short). ``level(idx, p)``
        gives, for units ``idx`` (int array) and probabilities ``p``, how many of the unit's targets
        p reaches; a unit stops when its lower bound's level equals its upper bound's. ``groups``
        (one id per unit): units that must all succeed together (an interval's slices) — a group
        whose selections disagree draws no estimation sample, and a group stops at its first unit
        that surely reaches no target.

        Returns:
            ``(c_hat, n_a, p_lower, drawn)`` numpy arrays, one entry per unit: ``p_lower`` is the
            bound of the last look the unit took (0 with no look), ``drawn`` its estimation draws.
        """
        from .sequential import SequentialPlan, sequential_bounds

        b = x.shape[0]
        plan = plan if plan is not None else SequentialPlan.for_budget(n, alpha)
        groups = np.arange(b) if groups is None else np.asarray(groups)
        bar = progress_bar(b * (n0 + n), unit="sample", desc="sampling") if progress else None
        kw = dict(batch_size=batch_size, seed=seed, progress=False, bar=bar)
        param_shape = self.transform.param_shape(tuple(x.shape[1:]))
        n_a = np.zeros(b, dtype=np.int64)
        drawn = np.zeros(b, dtype=np.int64)
        p_lower = np.zeros(b, dtype=np.float64)
        try:
            counts0 = self._count(x, n0, phase=PHASE_SELECTION, keys=keys, centers=centers, **kw)
            c_hat = counts0.argmax(dim=1).numpy()
            active = np.ones(b, dtype=bool)
            for g in np.unique(groups):  # slices selecting different classes: the image cannot be certified
                members = groups == g
                if np.unique(c_hat[members]).size > 1:
                    active[members] = False
            streams = self._streams(param_shape, seed, keys, PHASE_ESTIMATION, x.dtype)
            previous = 0
            for look, at in enumerate(plan.looks):
                idx = np.nonzero(active)[0]
                if idx.size == 0:
                    break
                sel = torch.as_tensor(idx, device=x.device)
                counts = self._count(
                    x[sel], at - previous, phase=PHASE_ESTIMATION, keys=[keys[j] for j in idx],
                    centers=None if centers is None else centers[sel.to(centers.device)],
                    streams=[streams[j] for j in idx], **kw,
                ).numpy()
                previous = at
                n_a[idx] += counts[np.arange(idx.size), c_hat[idx]]
                drawn[idx] = at
                lower, upper = sequential_bounds(n_a[idx], at, look, plan)
                p_lower[idx] = lower
                low_level, high_level = level(idx, lower), level(idx, upper)
                active[idx[low_level >= high_level]] = False
                for g in np.unique(groups[idx[high_level <= 0]]):  # surely fails: its group with it
                    active[groups == g] = False
        finally:
            if bar is not None:
                bar.close()
        return c_hat, n_a, p_lower, drawn

    def _select_and_bound(self, x, *, n0, n, alpha, batch_size, seed, keys, progress, centers=None):
        """The sampling half of CERTIFY on a checked ``(B,C,H,W)`` batch: ĉ from ``n0`` selection
        draws, its count nA among ``n`` fresh estimation draws and the one-sided Clopper–Pearson
        ``p_lower`` — numpy arrays ``(c_hat, n_a, p_lower)``, one entry per image."""
        bar = progress_bar(x.shape[0] * (n0 + n), unit="sample", desc="sampling") if progress else None
        kw = dict(batch_size=batch_size, seed=seed, keys=keys, progress=False, centers=centers, bar=bar)
        try:  # one bar over both phases: its end is the end of the call
            counts0 = self._count(x, n0, phase=PHASE_SELECTION, **kw)
            c_hat = counts0.argmax(dim=1)
            counts = self._count(x, n, phase=PHASE_ESTIMATION, **kw)
        finally:
            if bar is not None:
                bar.close()
        n_a = counts.gather(1, c_hat[:, None]).squeeze(1).numpy()
        p_lower = np.atleast_1d(clopper_pearson_lower(n_a, n, alpha))
        return c_hat.numpy(), n_a, p_lower

    def _certify_checked(self, x, *, n0, n, alpha, batch_size, seed, keys, progress, centers=None) -> list:
        """CERTIFY on a ``(B,C,H,W)`` batch whose arguments were already checked; a list of
        :class:`Certificate`. :mod:`gsmooth.interval.engine` calls it directly for images that are exact
        transforms of checked inputs and may leave [0, 1] on purpose (contrast: ``e^k (x + b)``
        is not clipped, or its composition law would break)."""
        c_hat, n_a, p_lower = self._select_and_bound(
            x, n0=n0, n=n, alpha=alpha, batch_size=batch_size, seed=seed, keys=keys, progress=progress,
            centers=centers,
        )
        return self._certificates(
            c_hat, n_a, p_lower, n0=n0, n=n, alpha=alpha,
            bound=lambda i, pl: self.transform.certified_radius(x[i], pl, self.noise),
        )

    def _certificates(self, c_hat, n_a, p_lower, *, n0, n, alpha, bound, samples=None) -> list:
        """One :class:`Certificate` per entry of the sampling results: ĉ with
        ``(radius, M*, guarantee) = bound(i, p_lower_i)`` when ``p_lower_i > 1/2``, else an abstention.
        ``samples``: draws used per entry (default ``n0 + n``)."""
        out = []
        for i in range(len(p_lower)):
            pl = float(p_lower[i])
            if pl > 0.5:
                radius, m_star, guarantee = bound(i, pl)
                pred = int(c_hat[i])
            else:
                m_star, pred, radius = 1.0, ABSTAIN, 0.0
                guarantee = self.transform.guarantee
            out.append(
                Certificate(
                    prediction=pred,
                    radius=radius,
                    p_lower=pl,
                    count=int(n_a[i]),
                    n0=n0,
                    n=n,
                    alpha=alpha,
                    noise=self.noise.describe(),
                    transform=self.transform.describe(),
                    kind=self.transform.kind,
                    norm=self.norm,
                    lipschitz=float(m_star),
                    guarantee=guarantee,
                    samples=int(n0 + n) if samples is None else int(samples[i]),
                )
            )
        return out

    def certify_interval(
        self,
        x,
        *,
        low,
        high,
        slices=10,
        n0: int = 100,
        n: int = 100_000,
        alpha: float = 0.001,
        batch_size: int = 1000,
        seed: int = 0,
        keys: Sequence[int] | None = None,
        progress: bool = False,
        sequential: bool = False,
        refine: int = 0,
    ):
        """Certify the prediction for every transformation parameter in ``[low, high]``.

        The range is cut into ``slices`` slices (per parameter), each certified with the smoother
        centred on it at level ``alpha / K`` (Bonferroni; ``alpha`` is the family-wise level); the
        image is certified iff every slice gives the same class with a radius covering the slice
        (for ``contrast``: reaching the slice's Neyman–Pearson requirement). See
        :mod:`gsmooth.interval.engine` for exactly what is certified (exact, contrast and surrogate
        transforms) and :func:`gsmooth.interval.engine.certify_interval` for the arguments.

        Returns:
            an :class:`gsmooth.interval.engine.IntervalCertificate` (or a :class:`ResultBatch` of them).

        Example:
            >>> smoother = gsmooth.Smoother(model, noise="gaussian", sigma=0.2, transform="brightness",
            ...                             num_classes=10)  # doctest: +SKIP
            >>> cert = smoother.certify_interval(x, low=-0.2, high=0.2, slices=10, n=10_000)  # doctest: +SKIP
            >>> cert.prediction, cert.family_alpha, cert.margin  # doctest: +SKIP
            >>> # contrast + brightness (k, b): a 2-D range, 5 x 5 slices
            >>> gsmooth.Smoother(model, noise="gaussian", sigma=0.2, transform="contrast", num_classes=10
            ...                  ).certify_interval(x, low=(-0.2, -0.2), high=(0.2, 0.2), slices=5)  # doctest: +SKIP
        """
        from ..interval.engine import certify_interval

        return certify_interval(
            self, x, low=low, high=high, slices=slices, n0=n0, n=n, alpha=alpha, batch_size=batch_size,
            seed=seed, keys=keys, progress=progress, sequential=sequential, refine=refine,
        )

    def predict(
        self,
        x,
        *,
        n: int = 100_000,
        alpha: float = 0.001,
        batch_size: int = 1000,
        seed: int = 0,
        keys: Sequence[int] | None = None,
        progress: bool = False,
        center=None,
    ) -> Prediction | ResultBatch:
        """PREDICT (Cohen et al. 2019, Alg. 2): the top class if the binomial test of the top two
        counts has ``p-value ≤ alpha``, else abstain (-1). Wrong answers have probability ≤ alpha.
        ``center``: predict ``g_c`` instead of ``g_0`` (see :meth:`certify`)."""
        x, single = self._check_input(x)
        n = check_positive_int("n", n)
        alpha = check_probability("alpha", alpha)
        batch_size = check_positive_int("batch_size", batch_size)
        seed = self._check_seed(seed)
        keys = self._check_keys(keys, x.shape[0])
        centers = self._check_center(center, x.shape[0], self.transform.param_shape(tuple(x.shape[1:])), x.dtype)
        counts = self._count(
            x, n, batch_size=batch_size, seed=seed, phase=PHASE_PREDICTION, keys=keys, progress=progress,
            centers=centers,
        )
        top2 = counts.topk(2, dim=1)
        out = []
        for i in range(x.shape[0]):
            (c_a, c_b), (n_a, n_b) = top2.indices[i].tolist(), top2.values[i].tolist()
            pval = binomial_p_value(n_a, n_b)
            out.append(
                Prediction(
                    prediction=int(c_a) if pval <= alpha else ABSTAIN,
                    count=int(n_a),
                    runner_up=int(c_b),
                    runner_up_count=int(n_b),
                    p_value=pval,
                    n=n,
                    alpha=alpha,
                    noise=self.noise.describe(),
                    transform=self.transform.describe(),
                )
            )
        return out[0] if single else ResultBatch(out)
