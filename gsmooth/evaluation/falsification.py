"""A falsification suite for certificates: adversarial base classifiers, certified, then attacked.

:func:`falsify` takes a (noise, transform) pair, builds small deterministic base classifiers that
are *worst cases* for the certificate (Neyman–Pearson sets), certifies them with the public API
(:meth:`gsmooth.Smoother.certify` for a radius, :meth:`gsmooth.Smoother.certify_interval` for a
range when the transform has a parameter), and then attacks every claim with
:meth:`gsmooth.Smoother.predict` at high ``n`` at points **inside** the certified region. A
*contradiction* is PREDICT returning another (non-abstained) class at a point the certificate
covers. For a sound engine each claim is contradicted with probability at most
``alpha + attack_alpha`` (the certificate's and PREDICT's own error levels); everything is seeded,
so a report is reproducible.

The adversaries
---------------
- **additive pixel noise** (``transform="additive"``): thresholds on ``u·(z − x0)`` for ``u`` one
  pixel and the diagonal (the Neyman–Pearson worst case for Gaussian ℓ2 along ``u``, and for
  Laplace/uniform ℓ1 along a pixel), and, when the noise has a ``pdf``, the exact Neyman–Pearson
  set for the planned shift δ (a threshold on the log-likelihood ratio Σ log ψ(z_i − x0_i − δ_i) −
  log ψ(z_i − x0_i)). Attacks at ``x0 + 0.9·R·u`` with ``u`` a unit vector **in the norm the noise
  declares** (ℓ2: ``1/√d`` per pixel on the diagonal; ℓ1: ``1/d``; ℓ∞: 1).
- **transforms with a parameter** (kind ``exact``): the classifier *reads the parameter off the
  image*, α̂ = nearest neighbour of z among τ(α_j, x0) on a fine grid of α, then applies a
  threshold to α̂: half-lines / half-planes ``v·α̂ > t`` (the 1-D Neyman–Pearson worst case for
  log-concave noise), narrow *notches* ``α̂ ≈ α*`` (they expose an atom in the distribution the
  smoothed classifier really sees, e.g. a parameter clamped to its domain), *slabs* ``|α̂_j| > r``
  (they expose a rescaled noise, e.g. contrast composition), and the Neyman–Pearson set of the
  noise's own ``pdf`` for the planned shift. The claim attacked is the user's reading of the
  certificate, ``g(τ(α, x0)) = y`` with g the same smoother, at α inside the certified region
  (one-sided noises: increases [0, R) only; intervals: every α in the range), on the truly
  transformed images τ(α, x0).
- **surrogate transforms** (kind ``surrogate``): half-spaces in pixel space along chords
  τ(β, x0) − x0 of the true transform's path (smoke level: the surrogate sees pixel noise).
- a radius from :meth:`~gsmooth.Smoother.certify` for a transform of kind ``empirical``, or an
  exact one whose parameters do not add under composition (``contrast``), makes no claim about
  τ(δ, x); its parameter-space statement ``g_δ(x) = y`` (PREDICT with ``center=δ``) is attacked
  instead (interval certificates, which do speak about τ(α, x), are attacked as above).

A typed refusal (:class:`gsmooth.InvalidParameterError`, e.g.
:class:`gsmooth.errors.UnsupportedTransformError`) when building the smoother or certifying is
*fine*: an engine that refuses an unsound combination passes, and the report lists the refusal.

Example:
    >>> import gsmooth
    >>> from gsmooth.testing import falsify
    >>> report = falsify("gaussian", "brightness", sigma=0.1, image_shape=(1, 4, 4), n=2000,
    ...                  attack_n=4000, claims=("radius",), families=("half-line",))
    >>> report.passed, len(report.contradictions)
    (True, 0)
    >>> print(report.summary().splitlines()[0])   # doctest: +ELLIPSIS
    falsify gaussian(sigma=0.1) × brightness: PASS ...
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..core.ranges import format_range
from ..errors import InvalidParameterError
from ..core.noise import Noise
from ..core.transform import Transform
from ..core.defaults import DEFAULT_TRANSFORM

__all__ = [
    "Attack",
    "Trial",
    "Refusal",
    "FalsificationReport",
    "falsify",
    "check_certificates",
    "FAMILIES",
]

#: Adversary families (``families=`` selects among them).
FAMILIES = ("half-line", "notch", "slab", "likelihood-ratio", "chord")

CONSISTENT, CONTRADICTION, ABSTAINED, SKIPPED = "consistent", "contradiction", "abstain", "skipped"


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attack:
    """PREDICT at one point inside a certified region.

    ``point`` is the parameter α (transforms with a parameter) or the pixel shift's description
    (additive); ``verdict`` is ``consistent`` (PREDICT returned the certified class),
    ``contradiction`` (another class), ``abstain`` (PREDICT abstained: inconclusive) or
    ``skipped`` (the point could not be attacked, ``note`` says why).
    """

    label: str
    point: tuple
    verdict: str
    prediction: int = -1
    count: int = 0
    runner_up: int = -1
    runner_up_count: int = 0
    p_value: float = 1.0
    note: str = ""
    coord: str = "α"  # what ``point`` is: the parameter α, or ‖δ‖ for a pixel shift

    def describe(self) -> str:
        pt = ", ".join(f"{v:.4g}" for v in self.point)
        where = f"{self.coord}=({pt})" if len(self.point) != 1 else f"{self.coord}={pt}"
        if self.verdict == SKIPPED:
            return f"{self.label} {where}: skipped ({self.note})"
        return (
            f"{self.label} {where}: PREDICT {self.prediction} ({self.count} vs {self.runner_up_count} for "
            f"{self.runner_up}, p={self.p_value:.2g}) → {self.verdict}"
        )


@dataclass(frozen=True)
class Trial:
    """One adversarial base classifier, its certificate, and the attacks on it."""

    adversary: str
    claim: str  # "radius", "interval" or "parameter" (empirical transforms: g_δ(x), not g(τ(δ, x)))
    statement: str
    certified: bool
    prediction: int
    radius: float
    p_lower: float
    attacks: tuple = ()

    @property
    def contradictions(self) -> list:
        return [a for a in self.attacks if a.verdict == CONTRADICTION]


@dataclass(frozen=True)
class Refusal:
    stage: str  # "smoother", "radius", "interval"
    error: str  # exception type name
    message: str


@dataclass
class FalsificationReport:
    """What :func:`falsify` did: refusals, trials (certificate + attacks), contradictions.

    ``passed`` is True when no claim was contradicted (refusals and abstentions pass);
    ``vacuous`` when no certificate was issued and nothing was refused (the run tested nothing:
    raise ``n`` or change ``sigma``). :meth:`summary` prints one line per trial.
    """

    noise: str
    transform: str
    image_shape: tuple
    settings: dict
    refusals: list = field(default_factory=list)
    trials: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def contradictions(self) -> list:
        """``(trial, attack)`` pairs where PREDICT contradicted a certificate."""
        return [(t, a) for t in self.trials for a in t.contradictions]

    @property
    def passed(self) -> bool:
        return not self.contradictions

    @property
    def certified(self) -> int:
        """How many certificates were issued (and attacked)."""
        return sum(1 for t in self.trials if t.certified)

    @property
    def refused(self) -> bool:
        """True when the engine refused (a typed error) and issued no certificate."""
        return bool(self.refusals) and self.certified == 0

    @property
    def vacuous(self) -> bool:
        return self.certified == 0 and not self.refusals

    @property
    def status(self) -> str:
        if not self.passed:
            return "FAIL"
        if self.refused:
            return "REFUSED"
        if self.vacuous:
            return "VACUOUS"
        return "PASS"

    def summary(self) -> str:
        head = (
            f"falsify {self.noise} × {self.transform}: {self.status} — {len(self.contradictions)} contradiction(s), "
            f"{self.certified} certificate(s) attacked, {len(self.refusals)} refusal(s) [{self.seconds:.1f} s]"
        )
        lines = [head]
        for r in self.refusals:
            lines.append(f"  refused ({r.stage}): {r.error}: {r.message}")
        for t in self.trials:
            status = "certified" if t.certified else "not certified"
            lines.append(f"  [{t.claim}] {t.adversary}: {status}: {t.statement}")
            for a in t.attacks:
                mark = "!!" if a.verdict == CONTRADICTION else "  "
                lines.append(f"    {mark} {a.describe()}")
        for n in self.notes:
            lines.append(f"  note: {n}")
        return "\n".join(lines)

    def describe_contradictions(self) -> str:
        out = []
        for t, a in self.contradictions:
            out.append(f"{self.noise} × {self.transform} [{t.claim}] {t.adversary}: certificate '{t.statement}' "
                       f"but {a.describe()}")
        return "\n".join(out)

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return self.summary()


# ---------------------------------------------------------------------------------------------
# adversarial base classifiers (all deterministic nn.Modules, two classes: 0 = certified side)
# ---------------------------------------------------------------------------------------------
class _Threshold(nn.Module):
    """Class 1 iff ``score(z) > t`` (NaN scores count as class 0); one-hot logits."""

    def __init__(self, score: nn.Module, t: float = 0.0):
        super().__init__()
        self.score = score
        self.t = float(t)

    def forward(self, z):
        s = self.score(z)
        hit = s > self.t
        return torch.stack([(~hit).to(z.dtype), hit.to(z.dtype)], dim=1)


class _PixelProjection(nn.Module):
    """``u·(z − x0)`` on flattened images."""

    def __init__(self, u: torch.Tensor, x0: torch.Tensor):
        super().__init__()
        self.register_buffer("u", u.flatten().double())
        self.register_buffer("x0", x0.flatten().double())

    def forward(self, z):
        return (z.flatten(1).double() - self.x0) @ self.u


def _log_pdf(noise: Noise, v: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.asarray(noise.pdf(v), dtype=np.float64))


class _PixelLikelihoodRatio(nn.Module):
    """``Σ_i log ψ(z_i − x0_i − δ_i) − log ψ(z_i − x0_i)`` (ψ the noise's 1-D density): the
    Neyman–Pearson statistic of a shift by δ. Its atoms (Laplace, uniform: the ratio is constant
    on whole regions) are split by ``δ·(z − x0)`` at the 1e-9 scale, so a threshold can cut them."""

    def __init__(self, noise: Noise, x0: torch.Tensor, delta: torch.Tensor):
        super().__init__()
        self.noise = noise
        self.register_buffer("x0", x0.flatten().double())
        self.register_buffer("delta", delta.flatten().double())

    def forward(self, z):
        th = z.flatten(1).double() - self.x0
        d = self.delta.cpu().numpy()
        t = th.cpu().numpy()
        with np.errstate(invalid="ignore"):
            llr = np.nansum(_log_pdf(self.noise, t - d) - _log_pdf(self.noise, t), axis=1)
        tie = torch.tanh(th @ self.delta / max(float(self.delta.norm()) ** 2, 1e-300))
        return torch.as_tensor(llr, device=z.device) + 1e-9 * tie


class _Reader(nn.Module):
    """α̂(z): the grid point α_j whose image τ(α_j, x0) is nearest to z (ℓ2), the parameter read
    off the image.

    ``axes`` are the grid's coordinates per parameter (a regular product grid). Grid images that
    coincide (rounded or clamped parameters, cyclic shifts) are merged, keeping the grid point
    nearest to ``prefer``. Distances are computed in the fewest principal components of the grid
    images for which nearest neighbours are those of the full pixel space (checked on the grid
    and on points between grid points): a binary search for one component, a k-d tree otherwise.
    """

    def __init__(self, transform: Transform, x0: torch.Tensor, axes: Sequence[np.ndarray], prefer: np.ndarray,
                 chunk: int = 4096):
        super().__init__()
        mesh = np.meshgrid(*axes, indexing="ij")
        grid = np.stack([m.reshape(-1) for m in mesh], axis=1)
        g = torch.as_tensor(grid, dtype=torch.float64)
        a = self._images(transform, x0, g, chunk)
        # merge identical images, keeping the point nearest to `prefer`
        order = np.argsort(np.abs(grid - prefer).sum(axis=1), kind="stable")
        scale = float(a.abs().max()) or 1.0
        _, inverse = torch.unique(torch.round(a[order] / scale * 1e7), dim=0, return_inverse=True)
        first: dict = {}
        for pos, key in enumerate(inverse.tolist()):
            first.setdefault(key, pos)
        keep = np.sort(order[sorted(first.values())])
        self.duplicates = int(len(grid) - len(keep))
        a, g = a[keep], g[keep]
        mean = a.mean(0)
        _, _, vh = torch.linalg.svd(a - mean, full_matrices=False)
        from scipy.spatial import cKDTree

        probe = self._images(transform, x0, self._between(g), chunk)
        truth = torch.cdist(probe, a).argmin(1).numpy()
        own = np.arange(len(a))
        k = vh.shape[0]
        for cand in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48):
            if cand >= vh.shape[0]:
                break
            pa, pp = ((a - mean) @ vh[:cand].T).numpy(), ((probe - mean) @ vh[:cand].T).numpy()
            tree = cKDTree(pa)
            if (tree.query(pa, k=1)[1] == own).all() and (tree.query(pp, k=1)[1] == truth).all():
                k = cand
                break
        v = vh[:k].T.contiguous()
        proj = (a - mean) @ v
        self.register_buffer("grid", g)
        self.register_buffer("mean", mean)
        self.register_buffer("v", v)
        self.register_buffer("proj", proj)
        self.register_buffer("sq", (proj**2).sum(1))
        order1 = torch.argsort(proj[:, 0])
        self.register_buffer("sorted1", proj[order1, 0].contiguous())
        self.register_buffer("order1", order1)
        self._tree = cKDTree(proj.numpy()) if k > 1 else None

    @staticmethod
    def _images(transform, x0, g, chunk):
        out = []
        with torch.no_grad():
            for s in range(0, g.shape[0], chunk):
                th = g[s : s + chunk].to(x0.dtype)
                out.append(transform(x0.unsqueeze(0).expand(th.shape[0], *x0.shape), th).flatten(1).double())
        return torch.cat(out)

    @staticmethod
    def _between(g, limit=512):
        """Parameters between grid points (up to half a grid step off along each axis)."""
        gen = np.random.default_rng(0)
        step = []
        for i in range(g.shape[1]):
            u = torch.unique(g[:, i])
            step.append(float(u.diff().min()) if u.numel() > 1 else 1.0)
        pick = torch.as_tensor(gen.choice(len(g), size=min(limit, len(g)), replace=False))
        off = torch.as_tensor(gen.uniform(-0.5, 0.5, size=(len(pick), g.shape[1]))) * torch.tensor(step)
        return g[pick] + off

    @property
    def size(self) -> int:
        return int(self.grid.shape[0])

    def _search(self, q):
        """Indices of the nearest grid points to projected queries ``q`` (exact)."""
        if q.shape[1] == 1:
            s1, q1 = self.sorted1, q[:, 0].contiguous()
            hi = torch.searchsorted(s1, q1).clamp(1, len(s1) - 1)
            lo = hi - 1
            pick = torch.where((q1 - s1[lo]).abs() <= (s1[hi] - q1).abs(), lo, hi)
            return self.order1[pick]
        _, idx = self._tree.query(q.cpu().numpy(), k=1)
        return torch.as_tensor(idx, dtype=torch.long)

    def forward(self, z):
        q = (z.flatten(1).double() - self.mean) @ self.v
        return self.grid[self._search(q)]


class _ParamScore(nn.Module):
    """A score of the parameter read off the image: ``fn(α̂)``."""

    def __init__(self, reader: _Reader, fn: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.reader = reader
        self.fn = fn

    def forward(self, z):
        return self.fn(self.reader(z))



# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _has(noise: Noise, method: str) -> bool:
    try:
        getattr(noise, method)(0.5)
    except NotImplementedError:
        return False
    except Exception:  # noqa: BLE001 - defined, just not at 0.5
        return True
    return True


def _unit(v: np.ndarray, norm: str) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    if norm == "l1":
        return v / np.abs(v).sum()
    if norm == "linf":
        return v / np.abs(v).max()
    return v / np.linalg.norm(v)


def _attack_norm(noise: Noise, d: int) -> str:
    """The norm a radius is attacked in: the declared one; ``param`` with several parameters is
    read as ℓ1 (the smallest of the standard balls: any reading of the radius contains it)."""
    norm = getattr(noise, "norm", "param")
    if norm in ("l2", "l1", "linf"):
        return norm
    return "l1" if d > 1 else "l2"


def _name(x) -> str:
    return getattr(x, "describe", lambda: str(x))()


def _resolve(noise, transform, sigma):
    from ..plugin.components import noise as build_noise
    from ..plugin.components import transform as build_transform

    if isinstance(noise, str):
        noise = build_noise(noise, **({} if sigma is None else {"sigma": sigma}))
    elif isinstance(noise, type) and issubclass(noise, Noise):
        noise = noise(**({} if sigma is None else {"sigma": sigma}))
    elif sigma is not None and sigma != getattr(noise, "sigma", None):
        noise = type(noise)(**{**noise.get_params(), "sigma": sigma})
    if isinstance(transform, str):
        transform = build_transform(transform)
    elif isinstance(transform, type) and issubclass(transform, Transform):
        transform = transform()
    return noise, transform


class _Ctx:
    """Everything one run shares (settings, the image, the smoother factory, the report)."""

    def __init__(self, noise, transform, report, x0, *, n0, n, alpha, attack_n, attack_alpha, p_target, seed,
                 batch_size, threshold_samples, fractions=(0.9, 0.5)):
        self.noise, self.transform, self.report, self.x0 = noise, transform, report, x0
        self.n0, self.n, self.alpha = n0, n, alpha
        self.attack_n, self.attack_alpha = attack_n, attack_alpha
        self.p_target, self.seed, self.batch_size = p_target, seed, batch_size
        self.m = threshold_samples
        self.fractions = tuple(float(f) for f in fractions)
        self.one_sided = bool(getattr(noise, "one_sided", False))
        self.s = float(getattr(noise, "sigma", 1.0))
        self._gen_seed = 0

    # -- the smoother ------------------------------------------------------------------------
    def smoother(self, model):
        from ..core.smoother import Smoother

        return Smoother(model, noise=self.noise, transform=self.transform, num_classes=2,
                        input_shape=tuple(self.x0.shape))

    def refuse(self, stage, exc) -> None:
        self.report.refusals.append(Refusal(stage, type(exc).__name__, str(exc)))

    # -- thresholds: quantiles of the score under the smoothing distribution at a centre ------
    def quantile(self, score: nn.Module, center=None, q=None, x0=None) -> float:
        q = self.p_target if q is None else q
        x0 = self.x0 if x0 is None else x0
        self._gen_seed += 1
        gen = torch.Generator().manual_seed(self.seed * 7919 + self._gen_seed)
        shape = self.transform.param_shape(tuple(x0.shape))
        vals = []
        with torch.no_grad():
            for s in range(0, self.m, self.batch_size):
                b = min(self.batch_size, self.m - s)
                th = self.noise.sample((b, *shape), generator=gen, dtype=x0.dtype)
                if center is not None:
                    c = torch.zeros(shape[0], dtype=th.dtype)
                    c[: len(center)] = torch.as_tensor(center, dtype=th.dtype)
                    th = th + c
                z = self.transform(x0.unsqueeze(0).expand(b, *x0.shape), th)
                vals.append(score(z).double().cpu())
        v = torch.cat(vals).numpy()
        v = v[np.isfinite(v)] if np.isfinite(v).any() else v
        return float(np.quantile(v, q, method="higher"))

    # -- PREDICT at attack images ------------------------------------------------------------
    def attack(self, smoother, label_points: list, images: list, certified_class: int, center=None,
               coord: str = "α") -> list:
        out, idx, batch = [], [], []
        for i, ((label, point), img) in enumerate(zip(label_points, images)):
            if isinstance(img, str):
                out.append(Attack(label, tuple(float(v) for v in point), SKIPPED, note=img, coord=coord))
                continue
            lo, hi = float(img.min()), float(img.max())
            if lo < -1e-4 or hi > 1 + 1e-4 or not bool(torch.isfinite(img).all()):
                out.append(Attack(label, tuple(float(v) for v in point), SKIPPED, coord=coord,
                                  note=f"the attacked image has pixels in [{lo:.3g}, {hi:.3g}], outside [0, 1]"))
                continue
            out.append(None)
            idx.append(i)
            batch.append(img)  # exactly τ(α, x0): the engine accepts pixels within 1e-4 of [0, 1]
        if batch:
            kw = {} if center is None else {"center": center}
            res = smoother.predict(torch.stack(batch), n=self.attack_n, alpha=self.attack_alpha,
                                   batch_size=self.batch_size, seed=self.seed + 1_000_003, **kw)
            for i, r in zip(idx, res):
                label, point = label_points[i]
                if r.prediction == -1:
                    verdict = ABSTAINED
                elif r.prediction == certified_class:
                    verdict = CONSISTENT
                else:
                    verdict = CONTRADICTION
                out[i] = Attack(label, tuple(float(v) for v in point), verdict, int(r.prediction), int(r.count),
                                int(r.runner_up), int(r.runner_up_count), float(r.p_value), coord=coord)
        return out


# ---------------------------------------------------------------------------------------------
# additive pixel noise
# ---------------------------------------------------------------------------------------------
def _additive(ctx: _Ctx, families) -> None:
    d = int(np.prod(ctx.x0.shape))
    norm = _attack_norm(ctx.noise, d)
    from ..core.stats import clopper_pearson_lower

    p_plan = float(clopper_pearson_lower(round(ctx.p_target * ctx.n), ctx.n, ctx.alpha))
    try:
        r_plan = float(ctx.noise.radius(p_plan)) if p_plan > 0.5 else 0.0
    except InvalidParameterError:
        r_plan = 0.0
    directions = {"pixel 0": np.eye(d)[0], "diagonal": np.ones(d)}
    plans = []
    for dname, v in directions.items():
        u = _unit(v, norm)
        if "half-line" in families:
            plans.append((f"half-space u·(z − x0) > t, u = {dname}", "proj", u))
        if "likelihood-ratio" in families and _has(ctx.noise, "pdf") and r_plan > 0 and math.isfinite(r_plan):
            plans.append((f"Neyman–Pearson set for δ = {ctx.fractions[0]}·{r_plan:.3g}·u ({norm}), u = {dname}", "lr", u))
    for label, kind, u in plans:
        # centre the image so that the planned attack stays in [0, 1]
        shift = max(ctx.fractions) * (r_plan if math.isfinite(r_plan) else 1.0) * u
        x0 = torch.as_tensor((0.5 - shift / 2).clip(0.0, 1.0), dtype=ctx.x0.dtype).reshape(ctx.x0.shape)
        if kind == "proj":
            score = _PixelProjection(torch.as_tensor(u), x0)
        else:
            score = _PixelLikelihoodRatio(ctx.noise, x0, torch.as_tensor(ctx.fractions[0] * r_plan * u))
        model = _Threshold(score, ctx.quantile(score, x0=x0))
        try:
            sm = ctx.smoother(model)
        except InvalidParameterError as exc:
            ctx.refuse("smoother", exc)
            return
        try:
            cert = sm.certify(x0, n0=ctx.n0, n=ctx.n, alpha=ctx.alpha, batch_size=ctx.batch_size, seed=ctx.seed)
        except InvalidParameterError as exc:
            ctx.refuse("radius", exc)
            return
        if cert.prediction == -1:
            ctx.report.trials.append(Trial(label, "radius", f"abstain (p_lower {cert.p_lower:.4g})", False, -1, 0.0,
                                           float(cert.p_lower)))
            continue
        statement = f"class {cert.prediction} for ‖δ‖_{norm[1:]} < {cert.radius:.4g} (p_lower {cert.p_lower:.4g})"
        pts, imgs = [], []
        if math.isfinite(cert.radius):
            for frac in ctx.fractions:
                delta = frac * cert.radius * u
                pts.append((f"x0 + δ, δ = {frac}·R·u,", (frac * cert.radius,)))
                imgs.append(x0 + torch.as_tensor(delta, dtype=x0.dtype).reshape(x0.shape))
        else:
            ctx.report.notes.append(f"{label}: infinite radius certified; not attacked")
        attacks = ctx.attack(sm, pts, imgs, cert.prediction, coord=f"‖δ‖_{norm[1:]}")
        ctx.report.trials.append(Trial(label, "radius", statement, True, int(cert.prediction), float(cert.radius),
                                       float(cert.p_lower), tuple(attacks)))


# ---------------------------------------------------------------------------------------------
# transforms with a parameter
# ---------------------------------------------------------------------------------------------
@dataclass
class _Adversary:
    """A classifier on α̂: class 1 iff ``score(z) > t``; ``t`` fixed, or the ``q``-quantile of the
    score under the smoothing distribution centred at ``ref``. ``points`` are attacked when inside
    the certified region; radius claims also attack at f·R (``fractions``) along each of ``directions``."""

    label: str
    score: nn.Module
    t: float | None = None
    q: float | None = None
    ref: np.ndarray | None = None
    points: list = field(default_factory=list)
    directions: list = field(default_factory=list)
    #: for adversaries planned for one shift (Neyman–Pearson sets): the planned ‖δ‖, and how to
    #: rebuild the adversary for another one (used when the certified radius differs from the plan)
    planned: float | None = None
    rebuild: Callable | None = None


def _axis(d: int, i: int, sign: float = 1.0) -> np.ndarray:
    e = np.zeros(d)
    e[i] = sign
    return e


def _in_domain(transform, point) -> bool:
    dom = transform.domain() if hasattr(transform, "domain") else None
    if dom is None:
        return True
    return all(lo - 1e-12 <= float(v) <= hi + 1e-12 for v, (lo, hi) in zip(point, dom))


def _grid_axes(transform, d, lows, highs, s, one_sided, points_1d=401, points_2d=41):
    """The reader's grid: the region widened by the noise's reach, inside the transform's domain."""
    dom = (transform.domain() if hasattr(transform, "domain") else None) or ((-math.inf, math.inf),) * d
    axes = []
    for i in range(d):
        lo = max(lows[i] - (0.5 if one_sided else 6.0) * s, dom[i][0])
        hi = min(highs[i] + 6.0 * s, dom[i][1])
        axes.append(np.linspace(lo, hi, points_1d if d == 1 else points_2d))
    return axes


def _param_image(ctx: _Ctx, alpha) -> torch.Tensor | str:
    if not _in_domain(ctx.transform, alpha):
        return "outside the transform's parameter domain"
    th = torch.as_tensor(np.asarray(alpha, dtype=np.float64), dtype=ctx.x0.dtype).reshape(1, -1)
    with torch.no_grad():
        return ctx.transform(ctx.x0.unsqueeze(0), th)[0]


def _fmt(v) -> str:
    return "(" + ", ".join(f"{float(x):.3g}" for x in np.atleast_1d(v)) + ")"


def _linear(v):
    vt = torch.as_tensor(np.asarray(v, dtype=np.float64))
    return lambda a: a @ vt


def _box(star, eps):
    st = torch.as_tensor(np.asarray(star, dtype=np.float64))
    return lambda a: eps - (a - st).abs().max(1).values


def _slab(j, c):
    return lambda a: (a[:, j] - c).abs()


def _param_llr(noise, delta, tie):
    """log ψ(α̂ − δ) − log ψ(α̂) summed over parameters, ties broken by ``tie·α̂`` (1e-9 scale)."""
    delta = np.asarray(delta, dtype=np.float64)
    tie_t = torch.as_tensor(np.asarray(tie, dtype=np.float64))

    def fn(a):
        an = a.cpu().numpy()
        with np.errstate(invalid="ignore"):
            llr = np.sum(_log_pdf(noise, an - delta) - _log_pdf(noise, an), axis=1)
        return torch.as_tensor(llr) + 1e-9 * torch.tanh(a @ tie_t)

    return fn


def _radius_adversaries(ctx: _Ctx, reader: _Reader, d: int, r_plan: float, families) -> list:
    norm, one_sided, s = _attack_norm(ctx.noise, d), ctx.one_sided, ctx.s
    reach = r_plan if math.isfinite(r_plan) else 2.0 * s
    advs = []
    if "half-line" in families:
        dirs = [_axis(d, i) for i in range(d)] + ([_unit(np.ones(d), norm)] if d > 1 else [])
        if not one_sided:
            dirs += [-dirs[0]] + ([-dirs[-1]] if d > 1 else [])
        for v in dirs:
            kind = "line" if d == 1 else "plane"
            advs.append(_Adversary(f"half-{kind} v·α̂ > t, v = {_fmt(v)}", _ParamScore(reader, _linear(v)),
                                   directions=[v]))
    if "slab" in families and d > 1:
        for j in range(d):
            other = [i for i in range(d) if i != j]
            dirs = [_axis(d, i) for i in other] + ([] if one_sided else [_axis(d, i, -1.0) for i in other])
            advs.append(_Adversary(f"slab |α̂_{j + 1}| > r", _ParamScore(reader, _slab(j, 0.0)), directions=dirs))
    if "notch" in families:
        # the notch's own top-class probability is 1 − P(θ in the box): place α* at half its radius
        eps = s / 5.0
        star = 0.5 * reach * _unit(np.ones(d), norm)
        for _ in range(2):
            p_box = _box_probability(ctx, star, eps)
            r_notch = _planned_radius(ctx, 1.0 - p_box)
            if r_notch > 0 and math.isfinite(r_notch):
                star = 0.5 * min(r_notch, reach) * _unit(np.ones(d), norm)
        advs.append(_Adversary(f"notch |α̂ − α*|∞ < {eps:.3g}, α* = {_fmt(star)}",
                               _ParamScore(reader, _box(star, eps)), t=0.0, points=[("notch centre α*", star)]))
    if "likelihood-ratio" in families and _has(ctx.noise, "pdf") and math.isfinite(r_plan):
        u = _unit(np.ones(d), norm)

        def np_set(size, u=u):
            delta = size * u
            return _Adversary(f"Neyman–Pearson set of ψ for δ = {_fmt(delta)}",
                              _ParamScore(reader, _param_llr(ctx.noise, delta, u / s)), directions=[u],
                              planned=float(size), rebuild=np_set)

        advs.append(np_set(ctx.fractions[0] * r_plan))
    return advs


def _planned_radius(ctx: _Ctx, p: float) -> float:
    """The radius CERTIFY would give for a true top-class probability ``p`` (without sampling error)."""
    from ..core.stats import clopper_pearson_lower

    pl = float(clopper_pearson_lower(math.floor(p * ctx.n), ctx.n, ctx.alpha))
    try:
        return float(ctx.noise.radius(pl)) if pl > 0.5 else 0.0
    except InvalidParameterError:
        return 0.0


def _box_probability(ctx: _Ctx, star, eps) -> float:
    """P(θ ∈ star ± eps) for θ ~ noise (one seeded Monte Carlo estimate, parameter space)."""
    gen = torch.Generator().manual_seed(ctx.seed + 99)
    th = ctx.noise.sample((20_000, len(star)), generator=gen, dtype=torch.float64).numpy()
    return float((np.abs(th - np.asarray(star)).max(1) < eps).mean())


def _p_required(noise, requirement: float) -> float | None:
    """The smallest p whose radius exceeds 1.05·requirement (bisection), or None."""
    from scipy import optimize

    target = 1.05 * requirement

    def gap(p):
        return float(noise.radius(p)) - target

    try:
        if gap(1.0 - 1e-9) <= 0:
            return None
        if gap(0.5) > 0:
            return 0.5
        return float(optimize.brentq(gap, 0.5, 1.0 - 1e-9, xtol=1e-10))
    except (InvalidParameterError, ValueError):
        return None


def _interval_adversaries(ctx: _Ctx, reader: _Reader, d: int, low, high, plan, families) -> list:
    mid = (low + high) / 2
    centers = plan.centers if plan is not None else np.atleast_2d(mid)
    # tight: the top-class probability that just certifies a slice (with CERTIFY's slack)
    q = ctx.p_target
    if plan is not None and getattr(ctx.transform, "composes_additively", True):
        p_req = _p_required(ctx.noise, plan.requirement)
        if p_req is not None:
            from scipy import stats

            z = float(stats.norm.isf(ctx.alpha / plan.num_slices)) + 2.0
            q = min(max(p_req + z * math.sqrt(p_req * (1 - p_req) / ctx.n) + 2.0 / ctx.n, 0.5), 0.9999)
    advs = []
    if "half-line" in families:
        if d == 1:
            dirs = [_axis(1, 0), _axis(1, 0, -1.0)]
        else:
            dirs = [_axis(d, 0), _axis(d, d - 1, -1.0), np.ones(d) / d, -np.ones(d) / d]
        for v in dirs:
            ref = centers[int(np.argmax(centers @ v))]
            corner = np.where(v > 0, high, np.where(v < 0, low, mid))
            pts = [("far end along v", corner)]
            if d == 1:
                pts.append(("3/4 of the way along v", mid + 0.5 * (corner - mid)))
            kind = "line" if d == 1 else "plane"
            advs.append(_Adversary(f"half-{kind} v·α̂ > t, v = {_fmt(v)}", _ParamScore(reader, _linear(v)), q=q,
                                   ref=ref, points=pts))
    if "slab" in families and d > 1:
        for j in range(d):
            pts = []
            for i in (i for i in range(d) if i != j):
                for end in (high, low):
                    p = mid.copy()
                    p[i] = end[i]
                    pts.append((f"range end along e{i + 1}", p))
            ref = centers[int(np.argmax(np.abs(centers[:, j] - mid[j])))]
            advs.append(_Adversary(f"slab |α̂_{j + 1} − {mid[j]:.3g}| > r", _ParamScore(reader, _slab(j, float(mid[j]))),
                                   ref=ref, points=pts))
    if "notch" in families:
        star = low + (high - low) * 0.125
        eps = ctx.s / 5.0
        advs.append(_Adversary(f"notch |α̂ − α*|∞ < {eps:.3g}, α* = {_fmt(star)}",
                               _ParamScore(reader, _box(star, eps)), t=0.0, points=[("notch centre α*", star)]))
    return advs


def _parametric(ctx: _Ctx, families, claims, interval, slices) -> None:
    from ..interval.engine import slice_plan
    from ..core.stats import clopper_pearson_lower

    t = ctx.transform
    d = int(t.param_dim)
    p_plan = float(clopper_pearson_lower(round(ctx.p_target * ctx.n), ctx.n, ctx.alpha))
    r_plan = float(ctx.noise.radius(p_plan)) if p_plan > 0.5 else ctx.s
    if _parameter_space_only(t):
        why = ("of kind 'empirical'" if t.kind == "empirical" else
               f"exact but composes by the law {getattr(t, 'composition', None)!r}, not by adding parameters")
        ctx.report.notes.append(
            f"transform {t.name!r} is {why}: a radius from certify() is the parameter-space statement "
            "g_δ(x) = y (noise centred at δ), not one about τ(δ, x); attacked as such, through PREDICT with center=δ"
        )
    if "radius" in claims:
        reach = r_plan if math.isfinite(r_plan) else 4.0 * ctx.s
        reader = _Reader(t, ctx.x0, _grid_axes(t, d, [-reach] * d, [reach] * d, ctx.s, ctx.one_sided), np.zeros(d))
        if reader.size < 2:
            ctx.report.notes.append("τ(α, x0) does not depend on α: nothing to read; radius claims skipped")
        else:
            for adv in _radius_adversaries(ctx, reader, d, r_plan, families):
                sm = _smoother_for(ctx, adv)
                if sm is None:
                    return
                cert = _certify_radius(ctx, sm)
                if cert is None:
                    break
                if adv.rebuild is not None and cert.prediction != -1 and math.isfinite(cert.radius):
                    # a Neyman–Pearson set is the worst case for one shift: re-plan it for the
                    # radius actually certified (once), so the attacked point is the one it was built for
                    target = ctx.fractions[0] * float(cert.radius)
                    if abs(target - adv.planned) > 0.1 * adv.planned:
                        adv = adv.rebuild(target)
                        sm = _smoother_for(ctx, adv)
                        if sm is None:
                            return
                        cert = _certify_radius(ctx, sm)
                        if cert is None:
                            break
                _attack_radius(ctx, sm, adv, cert, d)
    if "interval" in claims and interval is not None:
        low, high = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in interval)
        if low.size == 1 and d > 1:
            low, high = np.repeat(low, d), np.repeat(high, d)
        try:
            plan = slice_plan(low, high, slices, one_sided=ctx.one_sided, norm=ctx.noise.norm)
        except InvalidParameterError:
            plan = None  # the engine will refuse too: its refusal is what the report records
        reader = _Reader(t, ctx.x0, _grid_axes(t, d, low, high, ctx.s, ctx.one_sided), (low + high) / 2)
        if reader.size < 2:
            ctx.report.notes.append("τ(α, x0) does not depend on α: nothing to read; interval claims skipped")
            return
        for adv in _interval_adversaries(ctx, reader, d, low, high, plan, families):
            sm = _smoother_for(ctx, adv)
            if sm is None:
                return
            if not _interval_trial(ctx, sm, adv, low, high, slices, d):
                break


def _smoother_for(ctx: _Ctx, adv: _Adversary):
    """The smoother over the adversary's classifier (threshold resolved), or None if refused."""
    if adv.t is None:
        adv.t = ctx.quantile(adv.score, center=adv.ref, q=adv.q)
        adv.label = f"{adv.label} (t = {adv.t:.4g})"
    model = _Threshold(adv.score, adv.t)
    try:
        return ctx.smoother(model)
    except InvalidParameterError as exc:
        ctx.refuse("smoother", exc)
        return None


def _parameter_space_only(transform) -> bool:
    """Whether certify()'s radius says nothing about τ(δ, x) (only about g_δ(x)): transforms of
    kind ``empirical``, and exact ones whose parameters do not add under composition."""
    return transform.kind == "empirical" or getattr(transform, "composes_additively", True) is False


def _norm_of(p, norm) -> float:
    p = np.abs(np.asarray(p, dtype=np.float64))
    if norm == "l1":
        return float(p.sum())
    if norm == "linf":
        return float(p.max())
    return float(np.sqrt((p**2).sum()))


def _certify_radius(ctx: _Ctx, sm):
    """CERTIFY at x0, or None when the engine refused (recorded; stop asking)."""
    try:
        return sm.certify(ctx.x0, n0=ctx.n0, n=ctx.n, alpha=ctx.alpha, batch_size=ctx.batch_size, seed=ctx.seed)
    except InvalidParameterError as exc:
        ctx.refuse("radius", exc)
        return None


def _attack_radius(ctx: _Ctx, sm, adv: _Adversary, cert, d: int) -> None:
    """Attack a radius certificate around 0 at points inside it; record the trial."""
    norm = _attack_norm(ctx.noise, d)
    empirical = _parameter_space_only(ctx.transform)
    claim = "parameter" if empirical else "radius"
    if cert.prediction == -1:
        ctx.report.trials.append(Trial(adv.label, claim, f"abstain (p_lower {cert.p_lower:.4g})", False, -1, 0.0,
                                       float(cert.p_lower)))
        return
    if d == 1:
        side = "0 ≤ δ < R (increases only: one-sided noise)" if ctx.one_sided else "|δ| < R"
    else:
        side = f"δ ≥ 0 with ‖δ‖ < R ({norm}; one-sided noise)" if ctx.one_sided else f"‖δ‖ < R ({norm})"
    what = "g_δ(x)" if empirical else "g(τ(δ, x0))"
    R = float(cert.radius)
    statement = f"class {cert.prediction} on {what} for {side}, R = {R:.4g} (p_lower {cert.p_lower:.4g})"
    points = []
    for lab, p in adv.points:
        p = np.asarray(p, dtype=np.float64)
        if _norm_of(p, norm) < R and (not ctx.one_sided or (p >= 0).all()):
            points.append((lab, p))
    if math.isfinite(R):
        for v in adv.directions:
            u = _unit(v, norm)
            for frac in ctx.fractions:
                points.append((f"{frac}·R along {_fmt(u)}", frac * R * u))
    else:
        ctx.report.notes.append(f"{adv.label}: infinite radius certified; attacked at the adversary's own points only")
    if empirical:  # g_δ(x): the same image, the noise centred at δ
        attacks = []
        for lab, p in points:
            attacks += ctx.attack(sm, [(lab, p)], [ctx.x0 if _in_domain(ctx.transform, p) else "outside the domain"],
                                  cert.prediction, center=p)
    else:
        attacks = ctx.attack(sm, points, [_param_image(ctx, p) for _, p in points], cert.prediction)
    ctx.report.trials.append(Trial(adv.label, claim, statement, True, int(cert.prediction), R, float(cert.p_lower),
                                   tuple(attacks)))


def _interval_trial(ctx: _Ctx, sm, adv: _Adversary, low, high, slices, d: int) -> bool:
    """Certify the range and attack every point of it; False when the engine refused."""
    try:
        cert = sm.certify_interval(ctx.x0, low=tuple(low), high=tuple(high), slices=slices, n0=ctx.n0, n=ctx.n,
                                   alpha=ctx.alpha, batch_size=ctx.batch_size, seed=ctx.seed)
    except InvalidParameterError as exc:
        ctx.refuse("interval", exc)
        return False
    rng = format_range(low, high)
    if cert.prediction == -1:
        ctx.report.trials.append(Trial(adv.label, "interval", f"not certified over [{rng}] (margin {cert.margin:.3g})",
                                       False, -1, 0.0, float(cert.p_lower)))
        return True
    statement = (f"class {cert.prediction} on g(τ(α, x0)) for every α in [{rng}] ({cert.num_slices} slices, "
                 f"margin {cert.margin:.3g})")
    points = list(adv.points)
    if d == 1:  # every α in the range is claimed: a small grid over it too
        points += [(f"range point {f:g}", low + f * (high - low)) for f in (0.0, 0.25, 0.5, 0.75, 1.0)]
    else:
        corners = np.stack(np.meshgrid(*[[0.0, 1.0]] * d, indexing="ij"), -1).reshape(-1, d)
        points += [("range corner", low + c * (high - low)) for c in corners] + [("range centre", (low + high) / 2)]
    seen, unique = set(), []
    for lab, p in points:
        key = tuple(np.round(np.asarray(p, dtype=np.float64), 12))
        if key not in seen:
            seen.add(key)
            unique.append((lab, np.asarray(p, dtype=np.float64)))
    attacks = ctx.attack(sm, unique, [_param_image(ctx, p) for _, p in unique], cert.prediction)
    ctx.report.trials.append(Trial(adv.label, "interval", statement, True, int(cert.prediction), float(cert.radius),
                                   float(cert.p_lower), tuple(attacks)))
    return True


# ---------------------------------------------------------------------------------------------
# surrogate transforms (smoke level)
# ---------------------------------------------------------------------------------------------
def _surrogate(ctx: _Ctx, families, claims, interval, slices) -> None:
    st = ctx.transform
    if "chord" not in families:
        ctx.report.notes.append("surrogate transforms are attacked by the 'chord' family only; it was not selected")
        return
    true = st.true_transform_module()
    d = int(st.center_dim)
    lows, highs = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (interval or st.point_certificate_range()[0]))
    if lows.size == 1 and d > 1:
        lows, highs = np.repeat(lows, d), np.repeat(highs, d)

    def image(alpha):
        th = torch.as_tensor(np.asarray(alpha, dtype=np.float64), dtype=ctx.x0.dtype).reshape(1, -1)
        with torch.no_grad():
            return true(ctx.x0.unsqueeze(0), th)[0]

    from ..core.stats import clopper_pearson_lower

    p_plan = float(clopper_pearson_lower(round(ctx.p_target * ctx.n), ctx.n, ctx.alpha))
    ends = [highs] + ([lows] if (lows != 0).any() else [])
    for end in ends:
        chord = (image(end) - ctx.x0).flatten().double()
        if float(chord.norm()) == 0.0:
            continue
        w = chord / chord.norm()
        score = _PixelProjection(w, ctx.x0)  # the chord's direction w
        tq = ctx.quantile(score)
        model = _Threshold(score, tq)
        label = f"half-space along the chord τ({', '.join(f'{v:g}' for v in end)}, x0) − x0 (t = {tq:.4g})"
        try:
            sm = ctx.smoother(model)
        except InvalidParameterError as exc:
            ctx.refuse("smoother", exc)
            return
        if "interval" in claims:
            region = {"kind": "interval", "low": lows, "high": highs}
            pts = [("range end", end)]
            _interval_trial_true(ctx, sm, label, region, pts, slices, d, image)
        if "radius" in claims:
            try:
                cert = sm.certify(ctx.x0, n0=ctx.n0, n=ctx.n, alpha=ctx.alpha, batch_size=ctx.batch_size,
                                  seed=ctx.seed)
            except InvalidParameterError as exc:
                ctx.refuse("radius", exc)
                continue
            if cert.prediction == -1:
                ctx.report.trials.append(Trial(label, "radius", f"abstain (p_lower {cert.p_lower:.4g})", False, -1,
                                               0.0, float(cert.p_lower)))
                continue
            R = float(cert.radius)
            u = end / max(np.linalg.norm(end), 1e-300)
            pts = []
            for frac in ctx.fractions:
                p = frac * R * u
                if (p >= lows - 1e-12).all() and (p <= highs + 1e-12).all():
                    pts.append((f"{frac}·R towards the range end", p))
            attacks = ctx.attack(sm, pts, [image(p) for _, p in pts], cert.prediction)
            ctx.report.trials.append(Trial(
                label, "radius", f"class {cert.prediction} on g(τ(β, x0)) for |β| < {R:.4g} in the range "
                f"(M* = {cert.lipschitz:.4g}, guarantee {cert.guarantee})", True, int(cert.prediction), R, float(cert.p_lower),
                tuple(attacks)))


def _interval_trial_true(ctx, sm, label, region, pts, slices, d, image):
    low, high = region["low"], region["high"]
    try:
        cert = sm.certify_interval(ctx.x0, low=tuple(low), high=tuple(high), slices=slices, n0=ctx.n0, n=ctx.n,
                                   alpha=ctx.alpha, batch_size=ctx.batch_size, seed=ctx.seed)
    except InvalidParameterError as exc:
        ctx.refuse("interval", exc)
        return
    rng = format_range(low, high)
    if cert.prediction == -1:
        ctx.report.trials.append(Trial(label, "interval", f"not certified over [{rng}] (margin {cert.margin:.3g})",
                                       False, -1, 0.0, float(cert.p_lower)))
        return
    points = list(pts) + [(f"range point {f:g}", low + f * (high - low)) for f in (0.0, 0.5, 1.0)]
    attacks = ctx.attack(sm, points, [image(p) for _, p in points], cert.prediction)
    ctx.report.trials.append(Trial(label, "interval", f"class {cert.prediction} on g(τ(α, x0)) for α in [{rng}]",
                                   True, int(cert.prediction), float(cert.radius), float(cert.p_lower),
                                   tuple(attacks)))


# ---------------------------------------------------------------------------------------------
# the entry points
# ---------------------------------------------------------------------------------------------
def _default_interval(transform, noise, d):
    s = float(getattr(noise, "sigma", 1.0))
    dom = transform.domain() if hasattr(transform, "domain") else None
    one_sided = bool(getattr(noise, "one_sided", False))
    lo_dom = dom[0][0] if dom else -math.inf
    if one_sided:
        base = 0.0 if lo_dom <= 0.0 else lo_dom
        return (base, base + 1.0 * s)
    if math.isfinite(lo_dom) and lo_dom > -s:
        return (lo_dom + 1.2 * s, lo_dom + 2.0 * s)
    return (-0.5 * s, 0.5 * s)


def falsify(
    noise,
    transform=DEFAULT_TRANSFORM,
    *,
    sigma: float | None = None,
    image_shape: Sequence[int] = (1, 8, 8),
    image: torch.Tensor | None = None,
    claims: Sequence[str] = ("radius", "interval"),
    interval=None,
    slices=None,
    families: Sequence[str] = FAMILIES,
    p_target: float = 0.99,
    n0: int = 100,
    n: int = 10_000,
    alpha: float = 1e-3,
    attack_n: int = 20_000,
    attack_alpha: float = 1e-4,
    seed: int = 0,
    batch_size: int = 4096,
    threshold_samples: int = 20_000,
    fractions: Sequence[float] = (0.9, 0.5),
) -> FalsificationReport:
    """Certify adversarial base classifiers for ``(noise, transform)`` and attack every claim.

    Args:
        noise: a :class:`gsmooth.Noise` (instance or class) or a registered name.
        transform: a :class:`gsmooth.Transform` (instance or class), a registered name, or a
            :class:`gsmooth.surrogate.transform.SurrogateTransform`; default ``"additive"``.
        sigma: the noise scale (default: the instance's, or the class's default).
        image_shape: ``(C, H, W)`` of the test image (small: 1×8×8 keeps a run to seconds).
        image: the image x0 (default: seeded pixels in [0.45, 0.55] for transforms with a
            parameter — small so transformed images stay in [0, 1] — and 0.5 for additive noise).
        claims: ``"radius"`` (:meth:`~gsmooth.Smoother.certify` around θ = 0) and/or
            ``"interval"`` (:meth:`~gsmooth.Smoother.certify_interval` over ``interval``).
        interval: ``(low, high)`` for interval claims (numbers, or d numbers each); default a
            range of about one ``sigma`` inside the transform's domain.
        slices: slices per parameter for interval claims (default 4 for one parameter, 2 for more).
        families: which adversaries to build (see :data:`FAMILIES` and the module docs).
        p_target: the adversaries' top-class probability at the certified centre.
        n0, n, alpha: CERTIFY's sample sizes and level.
        attack_n, attack_alpha: PREDICT's sample size and level at each attack point.
        seed: base seed of everything (the same seed gives the same report).
        batch_size: samples per forward pass.
        threshold_samples: Monte Carlo draws used to place each adversary's threshold.
        fractions: radius claims are attacked at ``f·R`` along each adversary's direction for each
            ``f`` (every ``f < 1`` is inside the certified ball; the first also plans the
            Neyman–Pearson adversaries' shift).

    Returns:
        a :class:`FalsificationReport`; ``report.passed`` is False iff some claim was contradicted.
        Typed refusals (:class:`gsmooth.InvalidParameterError` and subclasses) are recorded in
        ``report.refusals`` and pass. Any other exception propagates (it is a bug).
    """
    t0 = time.perf_counter()
    noise, transform = _resolve(noise, transform, sigma)
    families = tuple(families)
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise InvalidParameterError(f"falsify: families expected a subset of {FAMILIES}, got {sorted(unknown)}")
    claims = tuple(claims)
    shape = tuple(int(v) for v in (image.shape if image is not None else image_shape))
    if image is None:
        if transform.param_dim is None:
            x0 = torch.full(shape, 0.5)
        else:
            x0 = 0.45 + 0.1 * torch.rand(shape, generator=torch.Generator().manual_seed(seed + 12345))
    else:
        x0 = image.detach().float().cpu()
    report = FalsificationReport(
        noise=_name(noise), transform=_name(transform), image_shape=shape,
        settings=dict(n0=n0, n=n, alpha=alpha, attack_n=attack_n, attack_alpha=attack_alpha, p_target=p_target,
                      seed=seed, claims=claims, families=families),
    )
    ctx = _Ctx(noise, transform, report, x0, n0=n0, n=n, alpha=alpha, attack_n=attack_n, attack_alpha=attack_alpha,
               p_target=p_target, seed=seed, batch_size=batch_size, threshold_samples=threshold_samples,
               fractions=fractions)
    with torch.no_grad():
        if transform.param_dim is None:
            _additive(ctx, families)
        elif transform.kind == "surrogate":
            _surrogate(ctx, families, claims, interval, slices or 2)
        else:
            d = int(transform.param_dim)
            if "interval" in claims and interval is None:
                interval = _default_interval(transform, noise, d)
            report.settings["interval"] = interval
            _parametric(ctx, families, claims, interval, slices or (4 if d == 1 else 2))
    report.seconds = time.perf_counter() - t0
    return report


def check_certificates(noise, transform=DEFAULT_TRANSFORM, *, allow_vacuous: bool = False, **kwargs) -> FalsificationReport:
    """:func:`falsify`, raising ``AssertionError`` that lists every contradiction.

    For a plugin's test suite::

        from gsmooth.testing import check_certificates
        def test_my_noise_certificates_hold():
            check_certificates(MyNoise(sigma=0.2), "brightness", image_shape=(1, 8, 8))

    Refusals pass. A run that issued no certificate at all (and refused nothing) raises too,
    unless ``allow_vacuous=True``: a check that tests nothing should not look green.
    Returns the report when it passes.
    """
    report = falsify(noise, transform, **kwargs)
    if not report.passed:
        raise AssertionError(
            f"{len(report.contradictions)} certificate(s) contradicted by PREDICT at points they cover:\n"
            + report.describe_contradictions() + "\n\n" + report.summary()
        )
    if report.vacuous and not allow_vacuous:
        raise AssertionError(
            "falsification was vacuous: no certificate was issued and nothing was refused (raise n, or choose "
            "sigma / interval so the adversaries can be certified)\n" + report.summary()
        )
    return report
