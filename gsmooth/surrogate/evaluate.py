"""Held-out evaluation of a surrogate against the true transform."""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Mapping, Optional

import torch

from ..errors import InputError
from ..core.ranges import parse_range
from ..core.seeding import derive_seed
from ..validation import Interval, check_device, validate_params
from ._data import _Images, _meta_str, _resolve_transform, _sample_uniform
from .model import SurrogateModel


# --------------------------------------------------------------------------------------------
# Held-out evaluation
# --------------------------------------------------------------------------------------------


@dataclass
class BinStats:
    """Errors of the surrogate on one θ bin (or overall): mean per-image L1 and PSNR (dB, peak 1)
    against the true transform, and the same for the identity (``x`` vs ``τ(θ, x)``) as a baseline."""

    lo: float
    hi: float
    n: int
    l1: float
    psnr: float
    l1_identity: float
    psnr_identity: float

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("lo", "hi", "n", "l1", "psnr", "l1_identity", "psnr_identity")}


@dataclass
class SurrogateEvaluation:
    """Held-out errors of a surrogate across its parameter range (see :func:`evaluate_surrogate`)."""

    bins: list[BinStats]
    overall: BinStats
    dataset: str = ""
    split: str = ""
    images: int = 0
    param_range: tuple = ()
    latent_sigma: float = 0.0
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "bins": [b.to_dict() for b in self.bins],
            "overall": self.overall.to_dict(),
            "dataset": self.dataset,
            "split": self.split,
            "images": self.images,
            "param_range": [list(p) for p in self.param_range],
            "latent_sigma": self.latent_sigma,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "SurrogateEvaluation":
        return cls(
            bins=[BinStats(**{k: b[k] for k in BinStats.__dataclass_fields__}) for b in data["bins"]],
            overall=BinStats(**{k: data["overall"][k] for k in BinStats.__dataclass_fields__}),
            dataset=str(data.get("dataset", "")),
            split=str(data.get("split", "")),
            images=int(data.get("images", 0)),
            param_range=tuple(tuple(p) for p in data.get("param_range", ())),
            latent_sigma=float(data.get("latent_sigma", 0.0)),
            seed=int(data.get("seed", 0)),
        )

    def format_table(self, units: str = "") -> str:
        """A fixed-width text table: one row per θ bin, then the overall row."""
        head = f"θ bin{f' [{units}]' if units else ''}"
        rows = [(f"[{b.lo:.4g}, {b.hi:.4g}{']' if i == len(self.bins) - 1 else ')'}", b) for i, b in enumerate(self.bins)]
        rows.append(("overall", self.overall))
        w = max(len(head), *(len(r[0]) for r in rows))
        lines = [
            f"{head:<{w}}  {'n':>6}  {'L1':>9}  {'PSNR dB':>8}  {'L1 ident':>9}  {'PSNR ident':>10}",
        ]
        for label, b in rows:
            lines.append(
                f"{label:<{w}}  {b.n:>6d}  {b.l1:>9.5f}  {b.psnr:>8.2f}  {b.l1_identity:>9.5f}  {b.psnr_identity:>10.2f}"
            )
        src = f"{self.dataset} {self.split}".strip()
        lines.append(
            f"(held-out{(' ' + src) if src else ''}, {self.images} images, one θ per image per bin; "
            f"L1 = mean |τ̃(θ,x) − τ(θ,x)| per pixel, PSNR with peak 1; 'ident' = x vs τ(θ,x) baseline"
            + (f"; latent noise σ_ξ = {self.latent_sigma:g}" if self.latent_sigma else "")
            + ")"
        )
        return "\n".join(lines)


def _psnr(mse: torch.Tensor) -> torch.Tensor:
    return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-10))


@torch.no_grad()
def _held_out_setup(surrogate, dataset, transform, param_range, device, count, owner: str):
    """What a held-out measurement needs: ``(true transform, range pairs, device, images)``, the
    surrogate in eval mode on the device, the images checked against its input shape."""
    tr = surrogate.true_transform() if transform is None else _resolve_transform(transform)
    pairs = parse_range(param_range if param_range is not None else surrogate.param_range, surrogate.param_dim,
                        broadcast=False, what="param_range")
    param = next(surrogate.parameters())
    dev = param.device if device is None else check_device(device, what="surrogate: device")
    surrogate.to(dev).eval()
    tr.to(dev)
    images = _Images(dataset, count, owner)
    if images.shape != tuple(surrogate.input_shape):
        raise InputError(
            f"{owner}: expected images of shape {tuple(surrogate.input_shape)} (the surrogate's), got {images.shape}"
        )
    return tr, pairs, dev, images


def evaluate_surrogate(
    surrogate: SurrogateModel,
    dataset,
    *,
    transform=None,
    param_range=None,
    bins: int = 5,
    max_eval: Optional[int] = 1000,
    batch_size: int = 256,
    seed: int = 0,
    device=None,
    latent_sigma: float = 0.0,
) -> SurrogateEvaluation:
    """Held-out L1 and PSNR of ``surrogate`` against the true transform, per θ bin and overall.

    The range of the first parameter is cut into ``bins`` equal bins; every image gets one θ in
    every bin (uniform inside it; other parameters uniform over their range), so each bin is
    measured on the same images. Per image: L1 = mean absolute error per pixel, PSNR = 10·log10(1/MSE)
    (peak 1, MSE floored at 1e-10); a bin reports the means over its images, ``overall`` the mean
    over all (image, bin) pairs. The identity columns compare ``x`` with ``τ(θ, x)``: what a
    surrogate that ignores θ would score.

    Args:
        surrogate: a trained :class:`SurrogateModel`.
        dataset: held-out images (e.g. the test split), as for :func:`train_surrogate`.
        transform: the true transform; default: rebuilt from the surrogate's metadata.
        param_range: default: the surrogate's training range.
        bins: number of θ bins. max_eval: first N images (None: all).
        seed: seeds θ. latent_sigma: evaluate with latent noise ξ ~ N(0, latent_sigma²) (default 0).
    """
    validate_params(
        "evaluate_surrogate",
        {"bins": bins, "batch_size": batch_size, "seed": seed, "latent_sigma": latent_sigma},
        {
            "bins": [Interval(Integral, 1, None)],
            "batch_size": [Interval(Integral, 1, None)],
            "seed": [Interval(Integral, 0, None)],
            "latent_sigma": [Interval(Real, 0, None)],
        },
    )
    if max_eval is not None:
        validate_params("evaluate_surrogate", {"max_eval": max_eval}, {"max_eval": [Interval(Integral, 1, None)]})
    d = surrogate.param_dim
    tr, pairs, dev, images = _held_out_setup(surrogate, dataset, transform, param_range, device, max_eval,
                                             "evaluate_surrogate")
    n = len(images)
    lo0, hi0 = pairs[0]
    edges = torch.linspace(lo0, hi0, bins + 1, dtype=torch.float64)
    gen = torch.Generator().manual_seed(derive_seed(seed, 0x5E7A))
    sums = torch.zeros(bins, 4, dtype=torch.float64)  # l1, psnr, l1_id, psnr_id
    for s in range(0, n, batch_size):
        idx = torch.arange(s, min(n, s + batch_size))
        xb = images.batch(idx, dev)
        for b in range(bins):
            theta = _sample_uniform(pairs, len(idx), gen)
            u = torch.rand(len(idx), generator=gen, dtype=torch.float64)
            theta[:, 0] = edges[b] + (edges[b + 1] - edges[b]) * u
            theta = theta.to(device=dev, dtype=xb.dtype)
            target = tr(xb, theta)
            xi = None
            if latent_sigma > 0:
                xi = torch.randn(xb.shape, generator=gen, dtype=xb.dtype).to(dev) * latent_sigma
            out = surrogate(xb, theta, xi)
            err = (out - target).flatten(1)
            ident = (xb - target).flatten(1)
            sums[b, 0] += float(err.abs().mean(1).double().sum())
            sums[b, 1] += float(_psnr(err.double().pow(2).mean(1)).sum())
            sums[b, 2] += float(ident.abs().mean(1).double().sum())
            sums[b, 3] += float(_psnr(ident.double().pow(2).mean(1)).sum())
    rows = [
        BinStats(float(edges[b]), float(edges[b + 1]), n, *(float(v) for v in sums[b] / n)) for b in range(bins)
    ]
    overall = BinStats(lo0, hi0, n * bins, *(float(v) for v in sums.sum(0) / (n * bins)))
    return SurrogateEvaluation(
        bins=rows,
        overall=overall,
        dataset=_meta_str(dataset, "name"),
        split=_meta_str(dataset, "split"),
        images=n,
        param_range=pairs,
        latent_sigma=float(latent_sigma),
        seed=int(seed),
    )


# --------------------------------------------------------------------------------------------
# Held-out G (the path deviation behind M*)
# --------------------------------------------------------------------------------------------


@dataclass
class HeldoutG:
    """:func:`~gsmooth.surrogate.lipschitz.estimate_G` on held-out images (see :func:`heldout_G`).

    Attributes:
        values: G of every image, ``(n,)`` float64 (each a grid maximum: an estimate).
        indices: the images' indices in the dataset.
        grid: grid points per parameter. param_range: the range the grid covers.
    """

    values: torch.Tensor
    indices: tuple[int, ...]
    grid: int
    param_range: tuple
    method: str = ""

    @property
    def mean(self) -> float:
        return float(self.values.mean())

    @property
    def max(self) -> float:
        return float(self.values.max())

    def mstar(self, sigma_theta: float, sigma_xi: float) -> tuple[float, float]:
        """(mean, max) over the images of ``M* = sqrt(1 + G²σ_θ²/σ_ξ²)``."""
        from .lipschitz import lipschitz_factor_from_G

        m = [lipschitz_factor_from_G(float(g), sigma_theta, sigma_xi) for g in self.values.tolist()]
        return sum(m) / len(m), max(m)


def heldout_G(
    surrogate: SurrogateModel,
    dataset,
    *,
    transform=None,
    param_range=None,
    images: int = 10,
    grid: int = 10,
    device=None,
) -> HeldoutG:
    """G = max over a grid of α in the range of ``‖∂F2(τ(α, x))/∂α − W‖₂`` on the first ``images``
    held-out images (:func:`~gsmooth.surrogate.lipschitz.estimate_G`, autograd cross-checked by
    finite differences): how far the surrogate's latent path is from the line F1 assumes, on images
    it was not trained on. Each value is a grid estimate, not a bound.

    Args:
        surrogate: a trained :class:`SurrogateModel`. dataset: held-out images (as for
            :func:`evaluate_surrogate`). transform: default: rebuilt from the surrogate's metadata.
        param_range: default: the surrogate's training range. images: how many (≥ 1).
        grid: grid points per parameter (≥ 1). device: default: the surrogate's.
    """
    import warnings

    from .lipschitz import LipschitzWarning, estimate_G

    validate_params("heldout_G", {"images": images, "grid": grid},
                    {"images": [Interval(Integral, 1, None)], "grid": [Interval(Integral, 1, None)]})
    tr, pairs, dev, data = _held_out_setup(surrogate, dataset, transform, param_range, device, images, "heldout_G")
    values, methods = [], set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LipschitzWarning)  # the larger of autograd and differences is kept
        for i in range(len(data)):
            x = data.batch(torch.tensor([i]), dev)[0]
            est = estimate_G(surrogate, tr, x, param_range=pairs, grid=grid)
            values.append(est.G)
            methods.add(est.method)
    return HeldoutG(values=torch.tensor(values, dtype=torch.float64), indices=tuple(range(len(data))), grid=int(grid),
                    param_range=pairs, method="; ".join(sorted(methods)))
