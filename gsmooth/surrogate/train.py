"""Training a surrogate (resumable, seeded, divergence-checked)."""

from __future__ import annotations

import math
import time
from numbers import Integral, Real
from pathlib import Path
from typing import Callable, Mapping, Optional

import torch

from ..io.checkpoints import nonfinite_tensors
from ..errors import CheckpointError, InvalidParameterError, TrainingDivergedError
from ..core.ranges import parse_range
from ..core.seeding import derive_seed
from ..validation import Interval, check_device, validate_params
from ._data import _Images, _meta_str, _resolve_transform, _sample_uniform, _transform_param_dim
from ..core.defaults import defaults_of
from ..core.transform import Transform
from .io import PathLike, _read_surrogate, save_surrogate
from .model import SurrogateModel


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def _default_range(transform, name: str) -> tuple[tuple[float, float], ...]:
    """The training range a transform declares (``defaults.range``), or a clear error."""
    d = defaults_of(transform) if isinstance(transform, Transform) else None
    if d is None or d.range is None:
        raise InvalidParameterError(
            f"surrogate: no default parameter range for transform {name!r} (its class declares no `defaults` "
            "with a range); expected an explicit range (param_range=(lo, hi), or --range lo:hi), got none"
        )
    return d.range


#: What must be equal for ``train_surrogate(resume=True)`` to continue a checkpoint (``epochs``
#: may grow: it is not part of the configuration).
RESUME_KEYS = (
    "transform", "transform_params", "param_range", "dataset", "train_images", "max_train", "input_shape",
    "batch_size", "lr", "seed", "width", "encoder_width", "latent_sigma", "path_weight",
)

#: Default weight of the path-deviation penalty (:func:`path_penalty`) in :func:`train_surrogate`;
#: chosen from experiments/results/transforms/path_penalty.md (G drops a lot, held-out PSNR little).
DEFAULT_PATH_WEIGHT = 1.0
#: Floor of ``‖u‖²`` (u = (α − α')/width, in units of the range) in :func:`path_penalty`: pairs
#: closer than 1 % of the range are scored as if they were 1 % apart.
PATH_EPS = 1e-4
#: What a checkpoint without a recorded ``path_weight`` (an older gsmooth) was trained with.
LEGACY_PATH_WEIGHT = 0.0


def read_training_state(path: PathLike, *, map_location="cpu") -> tuple[SurrogateModel, dict]:
    """The surrogate in ``path`` and its training state (``"resume"`` in the file: configuration,
    completed epochs, position inside a time-limited epoch, optimizer state), for
    ``train_surrogate(resume=True)``. A surrogate written without one (an older gsmooth, or
    :func:`save_surrogate` by hand) gets a state rebuilt from its metadata with ``optimizer``
    ``None``: it can be recognised as complete, not trained further. Refused
    (:class:`~gsmooth.errors.CheckpointError`) when ``path`` is not a surrogate."""
    try:
        model, obj = _read_surrogate(path, map_location=map_location)
    except CheckpointError as exc:
        raise CheckpointError(f"cannot resume {str(path)}: {exc}") from None
    state = obj.get("resume")
    if isinstance(state, Mapping) and isinstance(state.get("config"), Mapping) and "optimizer" in state:
        return model, dict(state)
    info = model.training_info or {}
    arch = obj.get("arch") or {}
    history = info.get("history") or []
    complete = bool(history) and all(int(r.get("samples", -1)) == int(info.get("train_images", -2)) for r in history)
    config = {
        "transform": model.transform_name,
        "transform_params": dict(model.transform_params),
        "param_range": [list(p) for p in model.param_range],
        "dataset": model.dataset,
        "train_images": info.get("train_images"),
        "max_train": info.get("max_train"),
        "input_shape": list(model.input_shape),
        "batch_size": info.get("batch_size"),
        "lr": info.get("lr"),
        "seed": info.get("seed"),
        "width": arch.get("width"),
        "encoder_width": arch.get("encoder_width"),
        "latent_sigma": info.get("latent_sigma"),
        "path_weight": info.get("path_weight", LEGACY_PATH_WEIGHT),
    }
    return model, {"config": config, "epoch": len(history) if complete else 0, "position": None, "optimizer": None,
                   "legacy": True}


def check_continuable(state: Mapping, epochs: int, path) -> None:
    """Refuse to train further a surrogate whose file has no optimizer state (an older gsmooth):
    it can only be recognised as complete (``state["epoch"] >= epochs``)."""
    if state.get("optimizer") is None and int(state.get("epoch", 0)) < epochs:
        raise CheckpointError(
            f"cannot resume {str(path)}: expected a surrogate written by `gsmooth surrogate train` with its training "
            f"state, got one without (written by an older gsmooth or by save_surrogate), so its "
            f"{int(state.get('epoch', 0))} epoch(s) cannot be continued to {epochs}; choose another --out"
        )


def saved_surrogate_progress(path: PathLike) -> Optional[dict]:
    """``{"epoch": completed epochs, "epochs": planned, "partial": bool, "heldout": bool}`` of the
    surrogate checkpoint in ``path``, or ``None`` when there is none (what an interrupted run kept)."""
    try:
        if not Path(path).is_file():
            return None
        obj = torch.load(path, map_location="cpu", weights_only=True)
        state = obj.get("resume") or {}
        info = obj.get("training") or {}
        return {
            "epoch": int(state.get("epoch", info.get("epochs_done", 0))),
            "epochs": int(info.get("epochs", 0)),
            "partial": state.get("position") is not None,
            "heldout": obj.get("heldout") is not None,
        }
    except Exception:  # noqa: BLE001 - any unreadable file: nothing we can describe
        return None


def _range_widths(pairs, device=None, dtype=torch.float32) -> torch.Tensor:
    """Width ``hi − lo`` of every parameter's range, ``(d,)``; 1 for a degenerate range."""
    w = torch.tensor([float(hi) - float(lo) for lo, hi in pairs], dtype=torch.float64)
    return torch.where(w > 0, w, torch.ones_like(w)).to(device=device, dtype=dtype)


def path_penalty(
    surrogate: SurrogateModel,
    transform,
    x: torch.Tensor,
    alpha: torch.Tensor,
    alpha_prime: torch.Tensor,
    *,
    param_range,
    eps: float = PATH_EPS,
    transformed: Optional[torch.Tensor] = None,
    transformed_prime: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """How far the surrogate's latent path ``α ↦ F2(τ(α, x))`` is from the straight line ``F2(x) + Wα``
    that F1 assumes: the mean over the batch of

        ‖F2(τ(α, x)) − F2(τ(α', x)) − W(α − α')‖² / m  /  max(‖u‖², eps),   u = (α − α') / width

    (m = C·H·W latent coordinates, ``width`` the range's width per parameter, 1 for a degenerate
    one), divided by the latent's variance across the batch's images (mean over coordinates of
    ``Var_i F2(τ(α, x_i))``; not for a batch of one). The division makes the penalty invariant to the
    latent's scale: without it the cheapest way to a small penalty is a small latent, whose images
    the latent noise σ_ξ then hides from the classifier (measured on rotation: latent spread 0.27 →
    0.06, the base model's accuracy under σ_ξ = 1 32 %); the trade-off between M* and what the
    noise hides is σ_ξ's to set, the penalty only straightens the path. By the mean value theorem the numerator is ``‖∫ (J(s) − W) ds‖²`` along the segment, so
    the ratio is the squared mean Jacobian deviation on [α', α] — the quantity whose maximum is
    :func:`~gsmooth.surrogate.lipschitz.estimate_G`'s G — expressed per latent coordinate (RMS) and
    per range width: ``(G·width)²/m`` when the deviation is constant along the path, so one weight
    suits transforms whose parameters have different units.

    Why this finite-difference form and not the Jacobian (``torch.func.jvp``): the difference is
    exactly the path shift Δ that the certificate bounds (``F2(τ(α, x)) − F2(τ(c, x)) − W(α − c)``,
    gsmooth.surrogate.path_bounds), it holds for differences of any length (not only the local
    slope), and it costs two forward passes of F2 and one more call of τ per batch with first-order
    gradients only; the Jacobian of τ in θ needs forward-mode autograd that ``grid_sample`` (rotation,
    zoom, motion and rotational blur) lacks, so it would be reverse-over-reverse with a
    second-order backward through F2 and τ at every step.

    Args:
        surrogate: a :class:`SurrogateModel` (``encode`` = F2, ``W`` = F1's matrix ``(m, d)``).
        transform: the true τ, ``(B, C, H, W), (B, d) → (B, C, H, W)``.
        x: images ``(B, C, H, W)``.
        alpha, alpha_prime: parameters ``(B, d)`` (or ``(B,)`` for d = 1), inside ``param_range``.
        param_range: d pairs ``(lo, hi)`` (their widths normalise α − α').
        eps: floor of ``‖u‖²``.
        transformed, transformed_prime: ``τ(α, x)`` and ``τ(α', x)`` when already computed
            (training reuses its target); computed without gradient otherwise.

    Returns:
        a scalar tensor (differentiable in the surrogate's F2 and W; ≥ 0; exactly 0 when F2 is
        affine along the path with slope W).
    """
    pairs = parse_range(param_range, surrogate.param_dim, broadcast=False, what="param_range")
    b = x.shape[0]
    a = alpha.reshape(b, -1).to(device=x.device, dtype=x.dtype)
    a2 = alpha_prime.reshape(b, -1).to(device=x.device, dtype=x.dtype)
    with torch.no_grad():
        t1 = transform(x, a) if transformed is None else transformed
        t2 = transform(x, a2) if transformed_prime is None else transformed_prime
    z = surrogate.encode(torch.cat([t1, t2], dim=0)).flatten(1)
    dz = z[:b] - z[b:] - (a - a2) @ surrogate.W.t()
    u2 = ((a - a2) / _range_widths(pairs, x.device, x.dtype)).pow(2).sum(dim=1)
    deviation = (dz.pow(2).mean(dim=1) / u2.clamp_min(float(eps))).mean()
    if b < 2:
        return deviation
    # relative to the latent's own spread over the batch's images: scaling F2 (and W) by c scales
    # the deviation by c², and the latent noise sigma_xi then hides c times more of the images, so
    # an unnormalised penalty is minimised by shrinking the latent (measured: a rotation surrogate's
    # latent spread fell from 0.27 to 0.06 and its base model to 32 % accuracy under sigma_xi = 1)
    spread = z[:b].var(dim=0, unbiased=False).mean()
    return deviation / (spread + 1e-12)


def train_surrogate(
    transform,
    dataset,
    *,
    param_range=None,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    device="cpu",
    max_train: Optional[int] = None,
    width: int = 16,
    encoder_width: int = 16,
    latent_sigma: float = 0.0,
    path_weight: float = DEFAULT_PATH_WEIGHT,
    dataset_name: Optional[str] = None,
    time_limit: Optional[float] = None,
    progress: bool = False,
    log: Optional[Callable[[str], None]] = None,
    checkpoint: Optional[PathLike] = None,
    resume: bool = False,
) -> SurrogateModel:
    """Train a surrogate ``H(F2(x) + F1(θ))`` of ``transform`` with Adam on
    ``L1(τ̃(θ, x), τ(θ, x)) + path_weight · path_penalty``.

    Every sample of every step gets a fresh ``θ ~ U[param_range]`` (independently per parameter);
    the target ``τ(θ, x)`` is computed on the fly by the true transform. The path penalty
    (:func:`path_penalty`) pairs that θ with a second ``θ' ~ U[param_range]`` per sample (drawn
    from a generator of its own per batch, so the L1 part sees the same θ, ξ and batches for every
    ``path_weight``) and penalises how far ``F2(τ(θ, x)) − F2(τ(θ', x))`` is from ``W(θ − θ')``:
    the deviation G that makes M* = sqrt(1 + G²σ_θ²/σ_ξ²) large. It is measured (and logged per
    epoch as ``history[i]["path"]``) also when ``path_weight = 0``.

    Args:
        transform: a :class:`gsmooth.Transform` with ``param_dim ≥ 1`` or a registered name.
        dataset: training images: a dataset of ``(image, label)`` (e.g. ``gsmooth.data.datasets.load_dataset(…,
            split="train")``) or a tensor ``(N, C, H, W)`` in [0, 1] (or uint8).
        param_range: ``(lo, hi)`` / ``"lo:hi"`` / d pairs; default: the range of the transform's
            declared ``defaults`` (:class:`gsmooth.TransformDefaults`).
        epochs, batch_size: passes over the (first ``max_train``) images and batch size.
        lr: Adam learning rate (1e-3 as in the GSmooth code).
        seed: seeds initialisation, shuffling and θ (the global RNG is left untouched); each
            epoch draws from its own generator seeded from ``(seed, epoch)``.
        device: where to train.
        max_train: use only the first N images.
        width, encoder_width: sizes of H and F2 (see :class:`SurrogateModel`).
        latent_sigma: std of latent noise ξ added while training (0: a surrogate of τ itself; > 0
            also teaches H to denoise the latent, which the smoothed classifier's samples carry).
        path_weight: weight (≥ 0) of the path-deviation penalty; 0 trains on L1 alone (what
            gsmooth did before it existed). Default :data:`DEFAULT_PATH_WEIGHT`.
        dataset_name: recorded in the checkpoint (default: ``dataset.name`` if it has one).
        time_limit: (default None: train all ``epochs``, the same surrogate on any machine) stop
            after the batch during which this many seconds of training have passed in this call (the last epoch in ``history`` is then partial: see its ``samples``).
            With ``checkpoint``, the position inside that epoch is saved, so ``resume=True``
            continues exactly there.
        progress: tqdm bar over batches. log: called with one line per epoch.
        checkpoint: a file rewritten atomically after every epoch (and at a time-limit stop) with
            the surrogate as :func:`save_surrogate` writes it plus its training state (Adam's
            state, completed epochs, the position inside a partial epoch): a run killed at any
            moment keeps its last completed epoch. Checked before any work: an existing file is
            refused unless ``resume``.
        resume: continue the run saved in ``checkpoint`` (same configuration, else
            :class:`~gsmooth.errors.CheckpointError` listing the differences; ``epochs`` may
            grow); the result equals an uninterrupted run's. A missing checkpoint starts afresh.

    Returns:
        the trained :class:`SurrogateModel` in eval mode, its metadata filled (``history`` in
        ``training_info``; ``resume_state`` holds what the checkpoint stores to continue).

    Raises:
        TrainingDivergedError: the L1 loss or a weight became NaN/inf; ``checkpoint`` then keeps
            the last finite epoch (nothing of the diverged one is written).
    """
    validate_params(
        "train_surrogate",
        {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "latent_sigma": latent_sigma,
         "path_weight": path_weight},
        {
            "epochs": [Interval(Integral, 1, None)],
            "batch_size": [Interval(Integral, 1, None)],
            "lr": [Interval(Real, 0, None, closed="neither")],
            "seed": [Interval(Integral, 0, None)],
            "latent_sigma": [Interval(Real, 0, None)],
            "path_weight": [Interval(Real, 0, None)],
        },
    )
    if max_train is not None:
        validate_params("train_surrogate", {"max_train": max_train}, {"max_train": [Interval(Integral, 1, None)]})
    if time_limit is not None:
        validate_params("train_surrogate", {"time_limit": time_limit}, {"time_limit": [Interval(Real, 0, None, closed="neither")]})
    device = check_device(device, what="surrogate: device")
    existing = None
    if checkpoint is not None:
        from ..io.output_files import check_output_file

        checkpoint = check_output_file(
            checkpoint, option="train_surrogate: checkpoint", exists_ok=resume,
            advice="pass resume=True to continue that run (same configuration), or choose another path",
        )
        if resume and checkpoint.exists():
            existing = read_training_state(checkpoint, map_location=device)
    tr = _resolve_transform(transform)
    name = getattr(tr, "name", "") or type(tr).__name__
    d = _transform_param_dim(tr, param_range)
    pairs = parse_range(param_range if param_range is not None else _default_range(tr, name), d, broadcast=False,
                        what="param_range")
    images = _Images(dataset, max_train, "train_surrogate")
    shape = images.shape
    n = len(images)
    dataset_label = dataset_name or _meta_str(dataset, "name") or "custom"
    config = {
        "transform": name,
        "transform_params": dict(tr.get_params()) if hasattr(tr, "get_params") else {},
        "param_range": [list(p) for p in pairs],
        "dataset": dataset_label,
        "train_images": n,
        "max_train": max_train,
        "input_shape": list(shape),
        "batch_size": batch_size,
        "lr": float(lr),
        "seed": seed,
        "width": width,
        "encoder_width": encoder_width,
        "latent_sigma": float(latent_sigma),
        "path_weight": float(path_weight),
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = SurrogateModel(input_shape=shape, param_dim=d, width=width, encoder_width=encoder_width)
    model.to(device)
    tr.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[dict] = []
    done = 0  # completed epochs
    position = None  # where a time-limited epoch stopped: {"epoch", "offset", "generator", "total", "count"}
    seconds_before = 0.0
    if existing is not None:
        saved_model, state = existing
        theirs = dict(state["config"])
        theirs.setdefault("path_weight", LEGACY_PATH_WEIGHT)  # written before the penalty existed: L1 alone
        legacy = bool(state.get("legacy"))  # an older file: compare what its metadata records
        diff = {k: (theirs.get(k), config.get(k)) for k in RESUME_KEYS
                if not (legacy and theirs.get(k) is None) and not _plain_eq(theirs.get(k), config.get(k))}
        if diff:
            details = "; ".join(f"{k}: expected {a!r} (in checkpoint), got {b!r}" for k, (a, b) in diff.items())
            raise CheckpointError(f"cannot resume {checkpoint}: it was trained with a different configuration: {details}")
        if int(state.get("epoch", 0)) >= epochs:
            # nothing to train: the file is returned as it is (its held-out table included), so a
            # complete surrogate is never rewritten (its SHA-256 is what models trained on it record)
            if log is not None:
                log(f"resuming {checkpoint}: all {int(state.get('epoch', 0))} epoch(s) done, nothing to train")
            saved_model.resume_state = None if legacy else dict(state)
            return saved_model.eval()
        check_continuable(state, epochs, checkpoint)
        model.load_state_dict(saved_model.state_dict())
        opt.load_state_dict(state["optimizer"])
        done = int(state.get("epoch", 0))
        position = state.get("position")
        history = [dict(r) for r in saved_model.training_info.get("history", [])]
        seconds_before = float(saved_model.training_info.get("seconds", 0.0))
        if log is not None:
            where = f" and {position['count']}/{n} images of epoch {done + 1}" if position else ""
            log(f"resuming {checkpoint} after epoch {done}/{epochs}{where}")
    kept = _held(done, epochs, position, n) if existing is not None else None  # what the checkpoint on disk holds

    def fill_metadata(seconds: float) -> None:
        model.transform_name = name
        model.transform_params = dict(config["transform_params"])
        model.transform_kind = getattr(tr, "kind", None)
        model.param_units = getattr(tr, "param_units", "") or ""
        model.param_range = pairs
        model.dataset = dataset_label
        model.training_info = {
            "epochs": epochs,
            "epochs_done": len(history),
            "batch_size": batch_size,
            "lr": lr,
            "optimizer": "adam",
            "loss": "l1+path" if path_weight > 0 else "l1",
            "path_weight": float(path_weight),
            "seed": seed,
            "max_train": max_train,
            "train_images": n,
            "latent_sigma": float(latent_sigma),
            "seconds": seconds,
            "history": [dict(r) for r in history],
        }
        model.resume_state = {
            "config": dict(config),
            "epoch": done,
            "position": position,
            "optimizer": opt.state_dict(),
        }

    def save(seconds: float, epoch: int) -> None:
        bad = nonfinite_tensors(model)
        if bad:  # a finite loss whose step overflowed the weights: never written
            raise TrainingDivergedError(_diverged(
                f"weight {bad[0]}", "not finite", epoch=epoch, epochs=epochs, lr=lr, kept=kept, out=checkpoint))
        fill_metadata(seconds)
        if checkpoint is not None:
            save_surrogate(checkpoint, model, heldout=None)

    remaining = sum(math.ceil(n / batch_size) for _ in range(done + 1, epochs + 1))
    if position is not None:
        remaining -= math.ceil(position["offset"] / batch_size)
    bar = None
    if progress and remaining > 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=remaining, unit="batch", leave=False, desc="surrogate")
    start = time.perf_counter()
    out_of_time = False
    try:
        for epoch in range(done + 1, epochs + 1):
            gen = torch.Generator().manual_seed(derive_seed(seed, epoch))
            perm = torch.randperm(n, generator=gen)
            model.train()
            total, path_total, count, first, t0 = 0.0, 0.0, 0, 0, time.perf_counter()
            if position is not None and int(position["epoch"]) == epoch:
                # continue a time-limited epoch where it stopped: same permutation, same generator state
                gen.set_state(position["generator"])
                total, count, first = float(position["total"]), int(position["count"]), int(position["offset"])
                path_total = float(position.get("path_total", 0.0))
                t0 -= float(position.get("seconds", 0.0))
                if history and history[-1].get("epoch") == epoch:
                    history.pop()  # its partial row is completed below
            position = None
            for s in range(first, n, batch_size):
                idx = perm[s : s + batch_size]
                xb = images.batch(idx, device)
                theta = _sample_uniform(pairs, len(idx), gen).to(device=device, dtype=xb.dtype)
                with torch.no_grad():
                    target = tr(xb, theta)
                xi = None
                if latent_sigma > 0:
                    xi = torch.randn(xb.shape, generator=gen, dtype=xb.dtype).to(device) * latent_sigma
                loss = (model(xb, theta, xi) - target).abs().mean()
                value = loss.item()
                if not math.isfinite(value):  # checked before the step: no NaN reaches the weights
                    raise TrainingDivergedError(_diverged(
                        "the L1 loss", value, epoch=epoch, epochs=epochs, lr=lr, kept=kept, out=checkpoint))
                # the penalty's θ' from a generator of its own (per batch: resumable by offset), so
                # the L1 part's θ, ξ and batches do not depend on path_weight
                pgen = torch.Generator().manual_seed(derive_seed(seed, epoch, s, _PATH_STREAM))
                theta2 = _sample_uniform(pairs, len(idx), pgen).to(device=device, dtype=xb.dtype)
                with torch.set_grad_enabled(path_weight > 0):
                    penalty = path_penalty(model, tr, xb, theta, theta2, param_range=pairs, transformed=target)
                path_value = penalty.item()
                if not math.isfinite(path_value):
                    raise TrainingDivergedError(_diverged(
                        "the path penalty", path_value, epoch=epoch, epochs=epochs, lr=lr, kept=kept, out=checkpoint))
                if path_weight > 0:
                    loss = loss + float(path_weight) * penalty
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += value * len(idx)
                path_total += path_value * len(idx)
                count += len(idx)
                if bar is not None:
                    bar.update(1)
                if time_limit is not None and time.perf_counter() - start >= time_limit and s + batch_size < n:
                    out_of_time = True
                    position = {
                        "epoch": epoch, "offset": s + batch_size, "generator": gen.get_state(),
                        "total": total, "count": count, "seconds": time.perf_counter() - t0,
                        "path_total": path_total,
                    }
                    break
            row = {"epoch": epoch, "l1": total / count, "path": path_total / count,
                   "seconds": time.perf_counter() - t0, "samples": count}
            history.append(row)
            if not out_of_time:
                done = epoch
            save(seconds_before + time.perf_counter() - start, epoch)
            kept = _held(done, epochs, position, n) if checkpoint is not None else None
            if log is not None:
                part = f", partial: {count}/{n}" if count < n else ""
                log(f"epoch {epoch}/{epochs}  train L1 {row['l1']:.5f}  path {row['path']:.5f} (weight {path_weight:g})  "
                    f"({row['seconds']:.1f} s, {count} images{part})"
                    + (f"  -> {checkpoint}" if checkpoint is not None else ""))
            if out_of_time:
                if log is not None:
                    log(f"time limit of {time_limit:g} s reached during epoch {epoch}; stopping")
                break
            if time_limit is not None and time.perf_counter() - start >= time_limit and epoch < epochs:
                out_of_time = True
                if log is not None:
                    log(f"time limit of {time_limit:g} s reached at the end of epoch {epoch}; stopping")
                break
    finally:
        if bar is not None:
            bar.close()
    fill_metadata(seconds_before + time.perf_counter() - start)
    return model.eval()


#: Tag mixed into the seed of the path penalty's θ' generator.
_PATH_STREAM = 0x9A7E


def _plain_eq(a, b) -> bool:
    """Configuration values compared as plain data (tuples and lists alike)."""
    def norm(v):
        if isinstance(v, (list, tuple)):
            return [norm(x) for x in v]
        if isinstance(v, Mapping):
            return {k: norm(x) for k, x in v.items()}
        return v

    return norm(a) == norm(b)


def _held(done: int, epochs: int, position: Optional[Mapping], n: int) -> str:
    """What a surrogate checkpoint holds, in words."""
    if position is None:
        return f"epoch {done}/{epochs}"
    return f"epoch {done}/{epochs} and {int(position['count'])}/{n} images of epoch {int(position['epoch'])}"


def _diverged(what: str, value, *, epoch: int, epochs: int, lr: float, kept: Optional[str], out) -> str:
    if out is None:
        keep = "no checkpoint was requested"
    elif kept:
        keep = f"{out} keeps {kept}, the last finite state (nothing of epoch {epoch} was written)"
    else:
        keep = f"nothing was saved ({out} is written after each finite epoch)"
    return (
        f"surrogate training diverged in epoch {epoch}/{epochs}: {what} is {value}; expected finite values. {keep}; "
        f"try a lower --lr (got {lr:g}, e.g. --lr {lr / 10:g})"
    )
