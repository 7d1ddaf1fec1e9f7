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
- kind ``empirical`` certificates make no claim about τ(α, x) and are not attacked there; the
  parameter-space statement ``g_δ(x) = y`` (PREDICT with ``center=δ``) is attacked instead.

A typed refusal (:class:`gsmooth.InvalidParameterError`, e.g.
:class:`gsmooth.interval.UnsupportedTransformError`) when building the smoother or certifying is
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

from .errors import InvalidParameterError
from .noise import Noise
from .transform import Transform

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

    def describe(self) -> str:
        pt = ", ".join(f"{v:.4g}" for v in self.point)
        if self.verdict == SKIPPED:
            return f"{self.label} α=({pt}): skipped ({self.note})"
        return (
            f"{self.label} α=({pt}): PREDICT {self.prediction} ({self.count} vs {self.runner_up_count} for "
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
    refused: str = ""  # "ErrorType: message" when certification was refused

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
        """True when the engine refused every claim it was asked for."""
        return bool(self.refusals) and not any(t.certified or not t.refused for t in self.trials)

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
            if t.refused:
                continue
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
    """``Σ_i log ψ(z_i − x0_i − δ_i) − log ψ(z_i − x0_i)`` (ψ the noise's 1-D density)."""

    def __init__(self, noise: Noise, x0: torch.Tensor, delta: torch.Tensor):
        super().__init__()
        self.noise = noise
        self.register_buffer("x0", x0.flatten().double())
        self.register_buffer("delta", delta.flatten().double())

    def forward(self, z):
        th = (z.flatten(1).double() - self.x0).cpu().numpy()
        d = self.delta.cpu().numpy()
        llr = np.nansum(_log_pdf(self.noise, th - d) - _log_pdf(self.noise, th), axis=1)
        return torch.as_tensor(llr, device=z.device)


class _Reader(nn.Module):
    """α̂(z): the grid point α_j whose image τ(α_j, x0) is nearest to z (ℓ2, after an exact PCA).

    Grid images that coincide (rounded or clamped parameters, cyclic shifts) are merged, keeping
    the grid point nearest to ``prefer``.
    """

    def __init__(self, transform: Transform, x0: torch.Tensor, grid: np.ndarray, prefer: np.ndarray, chunk: int = 4096):
        super().__init__()
        g = torch.as_tensor(grid, dtype=torch.float64)
        imgs = []
        with torch.no_grad():
            for s in range(0, g.shape[0], chunk):
                th = g[s : s + chunk].to(x0.dtype)
                imgs.append(transform(x0.unsqueeze(0).expand(th.shape[0], *x0.shape), th).flatten(1).double())
        a = torch.cat(imgs)
        # merge identical images, keeping the point nearest to `prefer`
        order = np.argsort(np.abs(grid - prefer).sum(axis=1), kind="stable")
        scale = float(a.abs().max()) or 1.0
        keyed = torch.round(a[order] / scale * 1e7)
        _, inverse = torch.unique(keyed, dim=0, return_inverse=True)
        first = {}
        for pos, k in enumerate(inverse.tolist()):
            first.setdefault(k, pos)
        keep = np.sort(order[sorted(first.values())])
        a, g = a[keep], g[keep]
        mean = a.mean(0)
        _, _, vh = torch.linalg.svd(a - mean, full_matrices=False)
        # the fewest principal components in which nearest neighbours are those of the full space,
        # checked on the grid itself and on points between grid points
        probe = self._probe(transform, x0, g, chunk)
        full = torch.cdist(probe, a).argmin(1)
        k = vh.shape[0]
        for cand in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48):
            if cand >= vh.shape[0]:
                break
            vc = vh[:cand].T
            pa, pp = (a - mean) @ vc, (probe - mean) @ vc
            own = torch.cdist(pa, pa).argmin(1)
            if bool((own == torch.arange(len(pa))).all()) and bool((torch.cdist(pp, pa).argmin(1) == full).all()):
                k = cand
                break
        v = vh[:k].T.contiguous()
        proj = (a - mean) @ v
        self.register_buffer("grid", g)
        self.register_buffer("mean", mean)
        self.register_buffer("v", v)
        self.register_buffer("proj", proj)
        self.register_buffer("sq", (proj**2).sum(1))
        # one component: nearest neighbours by binary search on the sorted projections
        order1 = torch.argsort(proj[:, 0])
        self.register_buffer("sorted1", proj[order1, 0].contiguous())
        self.register_buffer("order1", order1)
        self.duplicates = int(len(grid) - len(keep))

    @staticmethod
    def _probe(transform, x0, g, chunk, limit=512):
        """Images at parameters between grid points (half a step off along each axis)."""
        gen = np.random.default_rng(0)
        span = g.max(0).values - g.min(0).values
        step = torch.stack([torch.unique(g[:, i]).diff().min() if torch.unique(g[:, i]).numel() > 1
                            else torch.tensor(1.0, dtype=g.dtype) for i in range(g.shape[1])])
        del span
        pick = torch.as_tensor(gen.choice(len(g), size=min(limit, len(g)), replace=False))
        off = torch.as_tensor(gen.uniform(-0.5, 0.5, size=(len(pick), g.shape[1]))) * step
        th = (g[pick] + off).to(x0.dtype)
        with torch.no_grad():
            return transform(x0.unsqueeze(0).expand(th.shape[0], *x0.shape), th).flatten(1).double()

    @property
    def size(self) -> int:
        return int(self.grid.shape[0])

    def forward(self, z):
        q = (z.flatten(1).double() - self.mean) @ self.v
        if q.shape[1] == 1:
            s1, q1 = self.sorted1, q[:, 0].contiguous()
            hi = torch.searchsorted(s1, q1).clamp(1, len(s1) - 1)
            lo = hi - 1
            pick = torch.where((q1 - s1[lo]).abs() <= (s1[hi] - q1).abs(), lo, hi)
            return self.grid[self.order1[pick]]
        out = []
        step = max(1, int(2e7 // max(self.size, 1)))
        for s in range(0, q.shape[0], step):
            qs = q[s : s + step]
            d2 = self.sq[None, :] - 2.0 * qs @ self.proj.T
            out.append(self.grid[d2.argmin(1)])
        return torch.cat(out) if out else self.grid[:0]


class _ParamScore(nn.Module):
    """A score of the parameter read off the image: ``fn(α̂)``."""

    def __init__(self, reader: _Reader, fn: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.reader = reader
        self.fn = fn

    def forward(self, z):
        return self.fn(self.reader(z))


class _ChordScore(nn.Module):
    def __init__(self, w: torch.Tensor, x0: torch.Tensor):
        super().__init__()
        self.register_buffer("w", w.flatten().double())
        self.register_buffer("x0", x0.flatten().double())

    def forward(self, z):
        return (z.flatten(1).double() - self.x0) @ self.w


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
    from .components import noise as build_noise
    from .components import transform as build_transform

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
                 batch_size, threshold_samples):
        self.noise, self.transform, self.report, self.x0 = noise, transform, report, x0
        self.n0, self.n, self.alpha = n0, n, alpha
        self.attack_n, self.attack_alpha = attack_n, attack_alpha
        self.p_target, self.seed, self.batch_size = p_target, seed, batch_size
        self.m = threshold_samples
        self.one_sided = bool(getattr(noise, "one_sided", False))
        self.s = float(getattr(noise, "sigma", 1.0))
        self._gen_seed = 0

    # -- the smoother ------------------------------------------------------------------------
    def smoother(self, model):
        from .smoothing import Smoother

        return Smoother(model, noise=self.noise, transform=self.transform, num_classes=2,
                        input_shape=tuple(self.x0.shape))

    def refuse(self, stage, exc) -> None:
        self.report.refusals.append(Refusal(stage, type(exc).__name__, str(exc)))

    # -- thresholds: quantiles of the score under the smoothing distribution at a centre ------
    def quantile(self, score: nn.Module, center=None, q=None) -> float:
        q = self.p_target if q is None else q
        self._gen_seed += 1
        gen = torch.Generator().manual_seed(self.seed * 7919 + self._gen_seed)
        shape = self.transform.param_shape(tuple(self.x0.shape))
        vals = []
        with torch.no_grad():
            for s in range(0, self.m, self.batch_size):
                b = min(self.batch_size, self.m - s)
                th = self.noise.sample((b, *shape), generator=gen, dtype=self.x0.dtype)
                if center is not None:
                    c = torch.zeros(shape[0], dtype=th.dtype)
                    c[: len(center)] = torch.as_tensor(center, dtype=th.dtype)
                    th = th + c
                z = self.transform(self.x0.unsqueeze(0).expand(b, *self.x0.shape), th)
                vals.append(score(z).double().cpu())
        v = torch.cat(vals).numpy()
        v = v[np.isfinite(v)] if np.isfinite(v).any() else v
        return float(np.quantile(v, q, method="higher"))

    # -- PREDICT at attack images ------------------------------------------------------------
    def attack(self, smoother, label_points: list, images: list, certified_class: int, center=None) -> list:
        out, idx, batch = [], [], []
        for i, ((label, point), img) in enumerate(zip(label_points, images)):
            if isinstance(img, str):
                out.append(Attack(label, tuple(float(v) for v in point), SKIPPED, note=img))
                continue
            lo, hi = float(img.min()), float(img.max())
            if lo < -1e-4 or hi > 1 + 1e-4 or not bool(torch.isfinite(img).all()):
                out.append(Attack(label, tuple(float(v) for v in point), SKIPPED,
                                  note=f"τ(α, x0) has pixels in [{lo:.3g}, {hi:.3g}], outside [0, 1]"))
                continue
            out.append(None)
            idx.append(i)
            batch.append(img.clamp(0.0, 1.0))
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
                                int(r.runner_up), int(r.runner_up_count), float(r.p_value))
        return out


# ---------------------------------------------------------------------------------------------
# additive pixel noise
# ---------------------------------------------------------------------------------------------
def _additive(ctx: _Ctx, families) -> None:
    d = int(np.prod(ctx.x0.shape))
    norm = _attack_norm(ctx.noise, d)
    from .stats import clopper_pearson_lower

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
            plans.append((f"Neyman–Pearson set for δ = 0.9·{r_plan:.3g}·u ({norm}), u = {dname}", "lr", u))
    for label, kind, u in plans:
        # centre the image so that the planned attack stays in [0, 1]
        shift = 0.9 * (r_plan if math.isfinite(r_plan) else 1.0) * u
        x0 = (0.5 - shift / 2).clip(0.0, 1.0)
        x0t = torch.as_tensor(x0, dtype=ctx.x0.dtype).reshape(ctx.x0.shape)
        ctx_local = _Ctx.__new__(_Ctx)
        ctx_local.__dict__.update(ctx.__dict__)
        ctx_local.x0 = x0t
        if kind == "proj":
            score = _PixelProjection(torch.as_tensor(u), x0t)
        else:
            score = _PixelLikelihoodRatio(ctx.noise, x0t, torch.as_tensor(0.9 * r_plan * u))
        model = _Threshold(score, ctx_local.quantile(score))
        try:
            sm = ctx.smoother(model)
        except InvalidParameterError as exc:
            ctx.refuse("smoother", exc)
            return
        try:
            cert = sm.certify(x0t, n0=ctx.n0, n=ctx.n, alpha=ctx.alpha, batch_size=ctx.batch_size, seed=ctx.seed)
        except InvalidParameterError as exc:
            ctx.refuse("radius", exc)
            ctx.report.trials.append(Trial(label, "radius", "", False, -1, 0.0, 0.0, (), f"{type(exc).__name__}: {exc}"))
            continue
        statement = (f"class {cert.prediction} for ‖δ‖_{norm[1:]} < {cert.radius:.4g} (p_lower {cert.p_lower:.4g})"
                     if cert.prediction != -1 else f"abstain (p_lower {cert.p_lower:.4g})")
        attacks = []
        if cert.prediction != -1:
            pts, imgs = [], []
            for frac in (0.9, 0.5):
                if not math.isfinite(cert.radius):
                    break
                delta = frac * cert.radius * u
                pts.append((f"x0 + {frac}·R·u", (frac * cert.radius,)))
                imgs.append(x0t + torch.as_tensor(delta, dtype=x0t.dtype).reshape(x0t.shape))
            attacks = ctx.attack(sm, pts, imgs, cert.prediction)
        ctx.report.trials.append(Trial(label, "radius", statement, cert.prediction != -1, int(cert.prediction),
                                       float(cert.radius), float(cert.p_lower), tuple(attacks)))


# ---------------------------------------------------------------------------------------------
# transforms with a parameter
# ---------------------------------------------------------------------------------------------
def _directions(d: int, norm: str, one_sided: bool) -> dict:
    """Unit vectors (in ``norm``) to attack along: ± each axis and the diagonal(s)."""
    out = {}
    for i in range(d):
        e = np.zeros(d)
        e[i] = 1.0
        out[f"+e{i + 1}"] = e
        if not one_sided:
            out[f"-e{i + 1}"] = -e
    if d > 1:
        out["+diag"] = _unit(np.ones(d), norm)
        if not one_sided:
            out["-diag"] = -_unit(np.ones(d), norm)
    return out


def _in_domain(transform, point) -> bool:
    dom = transform.domain() if hasattr(transform, "domain") else None
    if dom is None:
        return True
    return all(lo - 1e-12 <= float(v) <= hi + 1e-12 for v, (lo, hi) in zip(point, dom))


def _grid_axes(transform, d, lows, highs, s, one_sided, points_1d=401, points_2d=61):
    dom = transform.domain() if hasattr(transform, "domain") else None
    dom = dom or ((-math.inf, math.inf),) * d
    axes = []
    for i in range(d):
        lo = lows[i] - (0.5 * s if one_sided else 6.0 * s)
        hi = highs[i] + 6.0 * s
        lo, hi = max(lo, dom[i][0]), min(hi, dom[i][1])
        num = points_1d if d == 1 else points_2d
        axes.append(np.linspace(lo, hi, num))
    grids = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.reshape(-1) for g in grids], axis=1), axes


def _param_image(ctx: _Ctx, alpha) -> torch.Tensor | str:
    if not _in_domain(ctx.transform, alpha):
        return "outside the transform's parameter domain"
    th = torch.as_tensor(np.asarray(alpha, dtype=np.float64), dtype=ctx.x0.dtype).reshape(1, -1)
    with torch.no_grad():
        return ctx.transform(ctx.x0.unsqueeze(0), th)[0]


def _parameter_adversaries(ctx: _Ctx, reader: _Reader, d: int, region: dict, families) -> list:
    """(label, score module, threshold, attack points, reference centre) for the region.

    ``region``: {"kind": "radius"} (centre 0) or {"kind": "interval", "low", "high", "centers"}.
    """
    norm = _attack_norm(ctx.noise, d)
    s = ctx.s
    advs = []
    dirs = _directions(d, norm, ctx.one_sided)
    interval = region["kind"] == "interval"
    if interval:
        low, high = np.asarray(region["low"]), np.asarray(region["high"])
        centers = np.asarray(region["centers"])
        mid = (low + high) / 2
    if "half-line" in families:
        for dname, v in dirs.items():
            if d > 1 and dname.startswith("-") and "e" in dname and not interval and dname != "-e1":
                continue  # keep the 2-D radius runs small: +e1, +e2, -e1, ±diag
            vt = torch.as_tensor(v, dtype=torch.float64)
            fn = (lambda vt: (lambda a: a @ vt))(vt)
            if interval:
                # the reference slice: the centre furthest along v; attack the range's far corner
                ref = centers[int(np.argmax(centers @ v))]
                corner = np.where(v > 0, high, np.where(v < 0, low, mid))
                pts = [("far end of the range along " + dname, corner)]
                if d == 1:
                    pts.append(("3/4 of the way along " + dname, mid + 0.5 * (corner - mid)))
            else:
                ref = np.zeros(d)
                pts = None  # filled from the certified radius
            advs.append((f"half-{'line' if d == 1 else 'plane'} v·α̂ > t, v = {dname}", _ParamScore(reader, fn),
                         ref, pts, v))
    if "slab" in families and d > 1:
        for j in range(d):
            fn = (lambda j: (lambda a: a[:, j].abs()))(j)
            ref = mid if interval else np.zeros(d)
            other = [i for i in range(d) if i != j]
            if interval:
                fn = (lambda j, c: (lambda a: (a[:, j] - c).abs()))(j, float(mid[j]))
                pts = []
                for i in other:
                    for sign, end in (("+", high), ("-", low)):
                        p = mid.copy()
                        p[i] = end[i]
                        pts.append((f"range end {sign}e{i + 1}", p))
                v = None
            else:
                pts, v = None, np.eye(d)[other[0]]
            advs.append((f"slab |α̂_{j + 1}| > r", _ParamScore(reader, fn), ref, pts, v))
    if "notch" in families:
        eps = s / 5.0
        if interval:
            stars = [low + (high - low) * 0.125]
        else:
            stars = [None]  # placed at half the planned radius along +e1
        for star in stars:
            advs.append(("notch", star, eps))
    if "likelihood-ratio" in families and _has(ctx.noise, "pdf") and not interval:
        advs.append(("likelihood-ratio",))
    return advs


def _build_param_model(ctx, reader, adv, r_plan, d):
    """Turn an adversary description into (label, model, attack points, direction)."""
    norm = _attack_norm(ctx.noise, d)
    if adv[0] == "notch":
        _, star, eps = adv
        if star is None:
            star = np.zeros(d)
            star[0] = 0.5 * r_plan
        star = np.asarray(star, dtype=np.float64)
        st = torch.as_tensor(star)
        fn = (lambda st, eps: (lambda a: eps - (a - st).abs().max(1).values))(st, eps)
        label = f"notch |α̂ − α*|∞ < {eps:.3g}, α* = ({', '.join(f'{v:.3g}' for v in star)})"
        return label, _Threshold(_ParamScore(reader, fn), 0.0), [("notch centre α*", star)], None
    if adv[0] == "likelihood-ratio":
        v = _unit(np.eye(d)[0] if d == 1 else np.ones(d), norm)
        delta = 0.9 * r_plan * v
        noise = ctx.noise
        dt = torch.as_tensor(delta)

        def fn(a, noise=noise, dt=dt):
            an = a.cpu().numpy()
            llr = np.sum(_log_pdf(noise, an - dt.numpy()) - _log_pdf(noise, an), axis=1)
            return torch.as_tensor(llr)

        score = _ParamScore(reader, fn)
        t = ctx.quantile(score)
        label = f"Neyman–Pearson set of ψ for δ = ({', '.join(f'{x:.3g}' for x in delta)})"
        return label, _Threshold(score, t), None, v
    label, score, ref, pts, v = adv
    t = ctx.quantile(score, center=ref)
    return f"{label} (t = {t:.4g})", _Threshold(score, t), pts, v


def _parametric(ctx: _Ctx, families, claims, interval, slices) -> None:
    t = ctx.transform
    d = int(t.param_dim)
    norm = _attack_norm(ctx.noise, d)
    s = ctx.s
    from .stats import clopper_pearson_lower

    p_plan = float(clopper_pearson_lower(round(ctx.p_target * ctx.n), ctx.n, ctx.alpha))
    r_plan = float(ctx.noise.radius(p_plan)) if p_plan > 0.5 else s

    jobs = []
    if "radius" in claims:
        reach = r_plan if math.isfinite(r_plan) else 4 * s
        jobs.append(({"kind": "radius"}, np.full(d, -reach), np.full(d, reach)))
    if "interval" in claims and interval is not None:
        low, high = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in interval)
        if low.size == 1 and d > 1:
            low, high = np.repeat(low, d), np.repeat(high, d)
        from .interval import slice_plan

        try:
            plan = slice_plan(low, high, slices, one_sided=ctx.one_sided, norm=ctx.noise.norm)
            centers = plan.centers
        except InvalidParameterError:
            centers = np.atleast_2d((low + high) / 2)
        jobs.append(({"kind": "interval", "low": low, "high": high, "centers": centers}, low, high))

    if t.kind == "empirical":
        ctx.report.notes.append(
            f"transform {t.name!r} is of kind 'empirical': its radius is a parameter-space statement g_δ(x) = y "
            "(not about τ(δ, x)); attacked through PREDICT with center=δ"
        )
    for region, lows, highs in jobs:
        grid, _ = _grid_axes(t, d, lows, highs, s, ctx.one_sided)
        prefer = np.zeros(d) if region["kind"] == "radius" else (lows + highs) / 2
        reader = _Reader(t, ctx.x0, grid, prefer)
        if reader.size < 2:
            ctx.report.notes.append(f"τ(α, x0) does not depend on α on the grid: nothing to read; skipped {region['kind']}")
            continue
        advs = _parameter_adversaries(ctx, reader, d, region, families)
        for adv in advs:
            label, model, pts, v = _build_param_model(ctx, reader, adv, r_plan, d)
            try:
                sm = ctx.smoother(model)
            except InvalidParameterError as exc:
                ctx.refuse("smoother", exc)
                return
            if region["kind"] == "radius":
                _radius_trial(ctx, sm, label, pts, v, d, norm)
            else:
                _interval_trial(ctx, sm, label, region, pts, slices, d)


def _radius_trial(ctx, sm, label, pts, v, d, norm):
    empirical = ctx.transform.kind == "empirical"
    claim = "parameter" if empirical else "radius"
    try:
        cert = sm.certify(ctx.x0, n0=ctx.n0, n=ctx.n, alpha=ctx.alpha, batch_size=ctx.batch_size, seed=ctx.seed)
    except InvalidParameterError as exc:
        ctx.refuse("radius", exc)
        ctx.report.trials.append(Trial(label, claim, "", False, -1, 0.0, 0.0, (), f"{type(exc).__name__}: {exc}"))
        return
    side = "increases [0, R)" if ctx.one_sided else f"‖δ‖ < R ({norm})"
    if cert.prediction == -1:
        ctx.report.trials.append(Trial(label, claim, f"abstain (p_lower {cert.p_lower:.4g})", False, -1, 0.0,
                                       float(cert.p_lower)))
        return
    statement = (f"class {cert.prediction} on {'g_δ(x)' if empirical else 'g(τ(δ, x0))'} for {side}, "
                 f"R = {cert.radius:.4g} (p_lower {cert.p_lower:.4g})")
    R = float(cert.radius)
    points = []
    if pts is not None:
        for lab, p in pts:
            p = np.asarray(p, dtype=np.float64)
            if _norm_of(p, norm) < R and (not ctx.one_sided or (p >= 0).all()):
                points.append((lab, p))
            else:
                points.append((lab + " (outside the certified radius)", None))
    if v is not None and math.isfinite(R):
        u = _unit(v, norm)
        for frac in (0.9, 0.5):
            points.append((f"{frac}·R along v", frac * R * u))
    if not math.isfinite(R):
        ctx.report.notes.append(f"{label}: infinite radius certified; attacked at the adversary's own points only")
    label_points, images = [], []
    for lab, p in points:
        if p is None:
            continue
        label_points.append((lab, p))
        if empirical:
            images.append(ctx.x0)  # g_δ(x): the same image, the noise centred at δ
        else:
            images.append(_param_image(ctx, p))
    if empirical:
        attacks = []
        for (lab, p), img in zip(label_points, images):
            attacks += ctx.attack(sm, [(lab, p)], [img], cert.prediction, center=p)
    else:
        attacks = ctx.attack(sm, label_points, images, cert.prediction)
    ctx.report.trials.append(Trial(label, claim, statement, True, int(cert.prediction), R, float(cert.p_lower),
                                   tuple(attacks)))


def _norm_of(p, norm) -> float:
    p = np.abs(np.asarray(p, dtype=np.float64))
    if norm == "l1":
        return float(p.sum())
    if norm == "linf":
        return float(p.max())
    return float(np.sqrt((p**2).sum()))


def _interval_trial(ctx, sm, label, region, pts, slices, d):
    low, high = region["low"], region["high"]
    try:
        cert = sm.certify_interval(ctx.x0, low=tuple(low), high=tuple(high), slices=slices, n0=ctx.n0, n=ctx.n,
                                   alpha=ctx.alpha, batch_size=ctx.batch_size, seed=ctx.seed)
    except InvalidParameterError as exc:
        ctx.refuse("interval", exc)
        ctx.report.trials.append(Trial(label, "interval", "", False, -1, 0.0, 0.0, (), f"{type(exc).__name__}: {exc}"))
        return
    rng = ",".join(f"{a:g}:{b:g}" for a, b in zip(low, high))
    if cert.prediction == -1:
        ctx.report.trials.append(Trial(label, "interval", f"not certified over [{rng}] (margin {cert.margin:.3g})",
                                       False, -1, 0.0, float(cert.p_lower)))
        return
    statement = f"class {cert.prediction} on g(τ(α, x0)) for every α in [{rng}] (margin {cert.margin:.3g})"
    points = list(pts or [])
    # every α in the range is claimed: also a small grid over it
    if d == 1:
        for f in (0.0, 0.25, 0.5, 0.75, 1.0):
            points.append((f"range point {f:g}", low + f * (high - low)))
    else:
        for corner in np.stack(np.meshgrid(*[[0.0, 1.0]] * d, indexing="ij"), -1).reshape(-1, d):
            points.append(("range corner", low + corner * (high - low)))
        points.append(("range centre", (low + high) / 2))
    seen, label_points, images = set(), [], []
    for lab, p in points:
        key = tuple(np.round(np.asarray(p, dtype=np.float64), 12))
        if key in seen:
            continue
        seen.add(key)
        label_points.append((lab, np.asarray(p, dtype=np.float64)))
        images.append(_param_image(ctx, p))
    attacks = ctx.attack(sm, label_points, images, cert.prediction)
    ctx.report.trials.append(Trial(label, "interval", statement, True, int(cert.prediction), float(cert.radius),
                                   float(cert.p_lower), tuple(attacks)))


# ---------------------------------------------------------------------------------------------
# surrogate transforms (smoke level)
# ---------------------------------------------------------------------------------------------
def _surrogate(ctx: _Ctx, families, claims, interval, slices) -> None:
    from .interval import _true_transform

    st = ctx.transform
    true = _true_transform(st)
    d = int(st.d)
    lows, highs = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (interval or st._pairs()[0]))
    if lows.size == 1 and d > 1:
        lows, highs = np.repeat(lows, d), np.repeat(highs, d)

    def image(alpha):
        th = torch.as_tensor(np.asarray(alpha, dtype=np.float64), dtype=ctx.x0.dtype).reshape(1, -1)
        with torch.no_grad():
            return true(ctx.x0.unsqueeze(0), th)[0]

    from .stats import clopper_pearson_lower

    p_plan = float(clopper_pearson_lower(round(ctx.p_target * ctx.n), ctx.n, ctx.alpha))
    ends = [highs] + ([lows] if (lows != 0).any() else [])
    for end in ends:
        chord = (image(end) - ctx.x0).flatten().double()
        if float(chord.norm()) == 0.0:
            continue
        w = chord / chord.norm()
        score = _ChordScore(w, ctx.x0)
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
                with st.path_from(ctx.x0):
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
            for frac in (0.9, 0.5):
                p = frac * R * u
                if (p >= lows - 1e-12).all() and (p <= highs + 1e-12).all():
                    pts.append((f"{frac}·R towards the range end", p))
            attacks = ctx.attack(sm, pts, [image(p) for _, p in pts], cert.prediction)
            ctx.report.trials.append(Trial(
                label, "radius", f"class {cert.prediction} on g(τ(β, x0)) for |β| < {R:.4g} in the range "
                f"(M* = {cert.lipschitz:.4g}, an estimate)", True, int(cert.prediction), R, float(cert.p_lower),
                tuple(attacks)))


def _interval_trial_true(ctx, sm, label, region, pts, slices, d, image):
    low, high = region["low"], region["high"]
    try:
        cert = sm.certify_interval(ctx.x0, low=tuple(low), high=tuple(high), slices=slices, n0=ctx.n0, n=ctx.n,
                                   alpha=ctx.alpha, batch_size=ctx.batch_size, seed=ctx.seed)
    except InvalidParameterError as exc:
        ctx.refuse("interval", exc)
        return
    rng = ",".join(f"{a:g}:{b:g}" for a, b in zip(low, high))
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
    transform="additive",
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
) -> FalsificationReport:
    """Certify adversarial base classifiers for ``(noise, transform)`` and attack every claim.

    Args:
        noise: a :class:`gsmooth.Noise` (instance or class) or a registered name.
        transform: a :class:`gsmooth.Transform` (instance or class), a registered name, or a
            :class:`gsmooth.surrogate.SurrogateTransform`; default ``"additive"``.
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
               p_target=p_target, seed=seed, batch_size=batch_size, threshold_samples=threshold_samples)
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


def check_certificates(noise, transform="additive", *, allow_vacuous: bool = False, **kwargs) -> FalsificationReport:
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
