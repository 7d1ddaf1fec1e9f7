"""gsmooth.testing catches the mistakes plugin authors make (each broken component fails one check)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import gsmooth
from gsmooth.testing import _NORM_P, _NORM_SHRINK, _norm_attacks, check_noise, check_transform
from gsmooth_plugins.noises import GaussianNoise, LaplaceNoise, UniformNoise

PLUGIN_DIR = Path(__file__).resolve().parent / "example_plugin"  # importable without installing it
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))
from gsmooth_example import TriangularNoise  # noqa: E402


class GoodNoise(gsmooth.Noise):
    """A conformant logistic noise with the numerical-route radius: a 1-D parameter radius only
    (the 1-D radius is proven in l1 only for Laplace/uniform, in l2 only for Gaussian noise)."""

    name = "t_logistic"
    norm = "param"

    def __init__(self, *, sigma: float = 0.5):
        self.sigma = sigma
        self.validate_params()

    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        u = torch.rand(shape, generator=generator, device=device, dtype=dtype).clamp_(1e-12, 1 - 1e-12)
        return torch.log(u / (1 - u)) * self.sigma

    def pdf(self, x):  # numpy closed forms: scipy.stats' per-call overhead would slow quad down
        z = np.exp(-np.abs(np.asarray(x, dtype=np.float64)) / self.sigma)
        return z / (self.sigma * (1 + z) ** 2)

    def ppf(self, p):
        p = np.asarray(p, dtype=np.float64)
        with np.errstate(divide="ignore"):
            return self.sigma * np.log(p / (1 - p))


def test_good_noise_passes():
    check_noise(GoodNoise)
    check_noise(GoodNoise(sigma=2.0))


class GlobalRng(GoodNoise):
    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        return super().sample(shape, generator=None, device=device, dtype=dtype)


class IgnoresGenerator(GoodNoise):
    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        return super().sample(shape, generator=torch.Generator().manual_seed(0), device=device, dtype=dtype)


class WrongDtype(GoodNoise):
    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        return super().sample(shape, generator=generator, device=device, dtype=torch.float32)


class WrongScale(GoodNoise):
    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        return super().sample(shape, generator=generator, device=device, dtype=dtype) * 1.3


class NoValidation(GoodNoise):
    def __init__(self, *, sigma: float = 0.5):
        self.sigma = sigma


class WrongClosedForm(GoodNoise):
    def radius(self, p_lower):
        return self._out(1.01 * np.asarray(self.numerical_radius(p_lower)))


class NotZeroAtHalf(GoodNoise):
    def radius(self, p_lower):
        return self._out(self.numerical_radius(p_lower) + 0.01)


class NoRangeCheck(GoodNoise):
    def radius(self, p_lower):
        p = np.asarray(p_lower, dtype=np.float64)
        return self._out(self.sigma * (np.clip(p, 0.5, 1) - 0.5))


class BadNorm(GoodNoise):
    norm = "l3"


class BadName(GoodNoise):
    name = "has space"


@pytest.mark.parametrize(
    "cls, match",
    [
        (GlobalRng, "global torch RNG"),
        (IgnoresGenerator, "ignores `generator`"),
        (WrongDtype, "dtype"),
        (WrongScale, "Kolmogorov"),
        (NoValidation, "accepted the invalid sigma"),
        (WrongClosedForm, "exceeds the 1-D Neyman–Pearson radius"),
        (NotZeroAtHalf, r"radius\(0.5\) expected 0"),
        (NoRangeCheck, "InvalidParameterError"),
        (BadNorm, "norm"),
        (BadName, "name"),
    ],
)
def test_broken_noise_fails(cls, match):
    with pytest.raises(AssertionError, match=match):
        check_noise(cls)


class ConservativeClosedForm(GoodNoise):
    """A closed form below the 1-D Neyman–Pearson radius is allowed (conservative)."""

    def radius(self, p_lower):
        return self._out(0.9 * np.asarray(self.numerical_radius(p_lower)))


def test_conservative_closed_form_passes():
    check_noise(ConservativeClosedForm)
    check_noise(type("ConservativeL1", (LaplaceNoise,), {"radius": lambda self, p: 0.5 * LaplaceNoise.radius(self, p)}))


# -- the declared norm: Neyman–Pearson worst case in d dimensions ----------------------------------------------
class LaplaceAsL2(LaplaceNoise):
    """Laplace's l1 radius claimed as an l2 radius: false along the diagonal."""

    name = "t_laplace_l2"
    norm = "l2"


class LogisticAsL2(GoodNoise):
    """pdf/ppf only (numerical route), declared l2: the 1-D radius is not an l2 radius in d dimensions."""

    name = "t_logistic_l2"
    norm = "l2"


class TriangularAsL2(TriangularNoise):
    """The tent density of the example plugin (pdf/ppf only), declared l2."""

    name = "t_triangular_l2"
    norm = "l2"


class UniformAsLinf(UniformNoise):
    """The uniform's l1 radius claimed in linf: false along the diagonal (every pixel moves by R)."""

    name = "t_uniform_linf"
    norm = "linf"


class GaussianWithoutPdf(gsmooth.Noise):
    """A closed-form l2 radius and a sampler, but no density: the norm cannot be checked."""

    name = "t_gauss_nopdf"
    norm = "l2"

    def __init__(self, *, sigma: float = 0.25):
        self.sigma = sigma
        self.validate_params()

    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        return torch.randn(shape, generator=generator, device=device, dtype=dtype).mul_(self.sigma)

    def radius(self, p_lower):
        from scipy import stats

        return self._out(self.sigma * stats.norm.ppf(self._p(p_lower)))


_NORM_FAILURE = r"not a certificate in the declared norm {norm!r}: along the (diagonal|random) direction, d=\d+, p=0\.9+: .*Q\(A\) = 0\.\d+"


@pytest.mark.parametrize("cls", [LaplaceAsL2, LogisticAsL2, TriangularAsL2, UniformAsLinf], ids=lambda c: c.name)
def test_false_norm_fails(cls):
    with pytest.raises(AssertionError, match=_NORM_FAILURE.format(norm=cls.norm)) as info:
        check_noise(cls)
    assert str(info.value).startswith(f"{cls.__name__}(name={cls.name!r})")


def test_declared_norm_needs_pdf():
    with pytest.raises(AssertionError, match="cannot verify the declared norm without pdf"):
        check_noise(GaussianWithoutPdf)
    check_noise(type("ParamWithoutPdf", (GaussianWithoutPdf,), {"norm": "param"}))  # nothing to verify


def _cases(noise, dims=(2, 16, 256)):
    return [(kind, d, p, _NORM_SHRINK * r, m, se) for kind, d, p, r, m, se in _norm_attacks(noise, dims)]


def test_norm_attack_matches_gaussian_closed_form():
    """Q(A) of the NP set for N(0, σ²I) shifted by δ is Φ(Φ⁻¹(p) − ‖δ‖₂/σ), in every direction and d."""
    from scipy import stats

    noise = GaussianNoise(sigma=0.25)
    for kind, d, p, shift, mass, se in _cases(noise):
        exact = stats.norm.cdf(stats.norm.ppf(p) - shift / noise.sigma)
        assert abs(mass - exact) < 4 * se, (kind, d, p, mass, se, exact)


def test_norm_attack_matches_uniform_closed_form():
    """Uniform U[−λ, λ]^d: the ratio q/p is 0 or 1 on P's support (atoms only), the NP set takes
    every point outside the overlap and a fraction of the overlap, so Q(A) = p − (1 − ∏(1 − |δᵢ|/2λ))
    (or 0). Needs the tie randomisation: without it Q(A) is 0 or 1."""
    from gsmooth.testing import _unit_direction

    noise = UniformNoise(sigma=0.5)
    for kind, d, p, shift, mass, se in _cases(noise):
        delta = shift * _unit_direction(kind, d, "l1", False)
        overlap = float(np.prod(1.0 - np.abs(delta) / (2 * noise.sigma)))
        exact = max(0.0, p - 1.0 + overlap)
        assert abs(mass - exact) < 4 * se + 1e-12, (kind, d, p, mass, se, exact)


def test_norm_attack_matches_laplace_closed_form_on_the_atom():
    """Laplace, one coordinate shifted by c = 0.97·R: q/p is constant (an atom) for θ ≥ c, and the NP
    set with P(A) = p ≥ 1 − e^{−c/λ}/2 takes it in part: Q(A) = 1 − (1 − p)·e^{c/λ}."""
    noise = LaplaceNoise(sigma=0.25)
    cases = _cases(noise, dims=())
    assert [c[2] for c in cases] == list(_NORM_P)
    for kind, d, p, shift, mass, se in cases:
        assert (kind, d) == ("axis", 1)
        assert p >= 1 - np.exp(-shift / noise.sigma) / 2  # the atom case
        exact = 1.0 - (1.0 - p) * np.exp(shift / noise.sigma)
        assert abs(mass - exact) < 4 * se, (p, mass, se, exact)


def test_check_noise_rejects_non_noises():
    with pytest.raises(AssertionError, match="gsmooth.Noise"):
        check_noise(int)
    with pytest.raises(AssertionError, match="gsmooth.Noise"):
        check_noise("gaussian")


# -- transforms ---------------------------------------------------------------------------------------------
class Shift(gsmooth.Transform):
    name = "t_shift"
    param_dim = 1
    kind = "exact"

    def forward(self, x, theta):
        return x + theta.view(-1, 1, 1, 1).to(x.dtype)


class Scale(Shift):
    """x·(1 + θ): identity at 0, but composes multiplicatively, not additively."""

    name = "t_scale"

    def forward(self, x, theta):
        return x * (1 + theta.view(-1, 1, 1, 1).to(x.dtype))


class FirstThetaOnly(Shift):
    def forward(self, x, theta):
        return x + theta[0].to(x.dtype)


class InPlace(Shift):
    def forward(self, x, theta):
        return x.add_(theta.view(-1, 1, 1, 1))


class Random(Shift):
    def forward(self, x, theta):
        return x + theta.view(-1, 1, 1, 1) + 0 * torch.rand(1)


class OffsetAtZero(Shift):
    def forward(self, x, theta):
        return x + 1 + theta.view(-1, 1, 1, 1).to(x.dtype)


class DropsDtype(Shift):
    def forward(self, x, theta):
        return (x + theta.view(-1, 1, 1, 1)).float()


class SmallLipschitz(Shift):
    kind = "surrogate"

    def lipschitz_factor(self, x):
        return 0.5


class ExactWithLipschitz(Shift):
    def lipschitz_factor(self, x):
        return 2.0


class BadKind(Shift):
    kind = "certain"


class BadParamDim(Shift):
    param_dim = 0


def test_good_transforms_pass():
    check_transform(Shift)
    check_transform(Scale, exact=False)
    check_transform(type("Surrogate", (Shift,), {"kind": "surrogate", "lipschitz_factor": lambda self, x: 1.7}))
    check_transform(type("NotIdentity", (OffsetAtZero,), {"identity_at_zero": False}), exact=False)


@pytest.mark.parametrize(
    "cls, match",
    [
        (Scale, "τ\\(a, τ\\(b, x\\)\\) = τ\\(a \\+ b, x\\)"),
        (FirstThetaOnly, "not batched per sample"),
        (InPlace, "modified its inputs"),
        (Random, "global RNG"),
        (OffsetAtZero, "identity_at_zero"),
        (DropsDtype, "dtype"),
        (SmallLipschitz, "M\\* >= 1"),
        (ExactWithLipschitz, "== 1"),
        (BadKind, "kind"),
        (BadParamDim, "param_dim"),
    ],
)
def test_broken_transform_fails(cls, match):
    with pytest.raises(AssertionError, match=match):
        check_transform(cls)


def test_transform_defaults():
    assert gsmooth.Transform.identity_at_zero is True
    check_transform(gsmooth.transform("additive"), image_shape=(1, 5, 3))


# -- named checks and parametrize_with_checks ------------------------------------------------------------------
from gsmooth import testing as gt  # noqa: E402


@pytest.mark.parametrize(
    "cls, failing",
    [
        (FirstThetaOnly, "check_transform_batched"),
        (InPlace, "check_transform_inputs_unchanged"),
        (Random, "check_transform_deterministic"),
        (OffsetAtZero, "check_transform_identity_at_zero"),
        (DropsDtype, "check_transform_device_dtype"),
        (Scale, "check_transform_composition"),
        (SmallLipschitz, "check_transform_lipschitz_factor"),
        (BadKind, "check_transform_class_attributes"),
    ],
)
def test_each_named_transform_check_tests_one_property(cls, failing):
    """The broken transform fails the named check and passes the others that do not depend on it."""
    for check, name in gt.transform_checks(cls):
        if name == failing:
            with pytest.raises(AssertionError):
                check(cls)
        elif name in ("check_transform_shapes", "check_transform_get_params"):
            check(cls)  # unrelated properties still pass


@pytest.mark.parametrize(
    "cls, failing",
    [
        (GlobalRng, "check_noise_sampling_seeded"),
        (IgnoresGenerator, "check_noise_sampling_seeded"),
        (WrongDtype, "check_noise_sample_shape_dtype_device"),
        (WrongScale, "check_noise_follows_ppf"),
        (NoValidation, "check_noise_validates_sigma"),
        (WrongClosedForm, "check_noise_radius_within_neyman_pearson"),
        (NotZeroAtHalf, "check_noise_radius_monotone"),
        (NoRangeCheck, "check_noise_radius_rejects_bad_p_lower"),
        (BadNorm, "check_noise_class_attributes"),
    ],
)
def test_each_named_noise_check_tests_one_property(cls, failing):
    check = getattr(gt, failing)
    with pytest.raises(AssertionError, match=cls.__name__):
        check(cls)
    gt.check_noise_get_params(cls)  # an unrelated property still passes
    assert failing in [name for _, name in gt.noise_checks(cls)]


def test_check_lists_match_the_public_names():
    public = {n for n in gt.__all__ if n.startswith(("check_noise_", "check_transform_"))}
    assert public == {c.__name__ for c in gt.NOISE_CHECKS + gt.TRANSFORM_CHECKS}
    assert [n for _, n in gt.transform_checks(Shift)] == [c.__name__ for c in gt.TRANSFORM_CHECKS]


def test_transform_checks_bind_only_the_options_each_check_takes():
    checks = dict((name, check) for check, name in gt.transform_checks(Scale, exact=False, image_shape=(1, 4, 4)))
    assert checks["check_transform_composition"].keywords == {"exact": False, "image_shape": (1, 4, 4)}
    assert checks["check_transform_lipschitz_factor"].keywords == {"image_shape": (1, 4, 4)}
    assert checks["check_transform_get_params"] is gt.check_transform_get_params
    for check in checks.values():
        check(Scale)  # exact=False: Scale passes
    with pytest.raises(gsmooth.InvalidParameterError, match="expected options among .*, got sigma"):
        list(gt.transform_checks(Scale, sigma=1.0))


def test_parametrize_with_checks_makes_one_test_per_component_and_check():
    mark = gt.parametrize_with_checks([GoodNoise(sigma=0.5), (Scale, {"exact": False}), Shift()])
    assert mark.name == "parametrize" and mark.args[0] == "component, check"
    params = mark.args[1]
    ids = [p.id for p in params]
    assert len(ids) == len(gt.NOISE_CHECKS) + 2 * len(gt.TRANSFORM_CHECKS)
    assert "t_logistic(sigma=0.5)-check_noise_sampling_seeded" in ids
    assert "t_scale-check_transform_composition" in ids and "t_shift-check_transform_batched" in ids
    scale_composition = next(p for p in params if p.id == "t_scale-check_transform_composition")
    component, check = scale_composition.values
    check(component)  # bound to exact=False
    with pytest.raises(gsmooth.PluginError, match="expected gsmooth.Noise / gsmooth.Transform .*, got str"):
        gt.parametrize_with_checks(["gaussian"])
    with pytest.raises(gsmooth.PluginError, match="expected no options for a noise"):
        gt.parametrize_with_checks([(GoodNoise, {"exact": False})])


@gt.parametrize_with_checks([GoodNoise(sigma=2.0), (Scale(), {"exact": False})])
def test_parametrize_with_checks_in_use(component, check):
    check(component)


# -- the contract's capabilities: defaults, slice strategy, isotropic Gaussian noise -----------------------------
import gsmooth_plugins.noises  # noqa: E402
import gsmooth_plugins.transforms  # noqa: E402
from gsmooth_example import BrightnessShift, Gain  # noqa: E402

BUILTIN_NOISES = gsmooth_plugins.noises.register_noises()
BUILTIN_TRANSFORMS = gsmooth_plugins.transforms.register_transforms()
CAPABILITY_CHECKS = (gt.check_transform_defaults, gt.check_transform_slice_strategy)


def _untrained_surrogate():
    from gsmooth.surrogate.model import SurrogateModel
    from gsmooth.surrogate.transform import SurrogateTransform

    torch.manual_seed(0)
    net = SurrogateModel(input_shape=(1, 8, 8), param_dim=1, width=8, encoder_width=4)
    net.transform_name, net.param_range = "rotational_blur", ((0.0, 10.0),)
    return SurrogateTransform(surrogate=net, grid=5)


@pytest.mark.parametrize("cls", [*BUILTIN_TRANSFORMS, BrightnessShift, Gain], ids=lambda c: c.name)
def test_capability_checks_pass_on_every_builtin_and_example_transform(cls):
    for check in CAPABILITY_CHECKS:
        check(cls)
    names = [name for _, name in gt.transform_checks(cls)]
    assert {c.__name__ for c in CAPABILITY_CHECKS} <= set(names)  # check_transform runs them


def test_capability_checks_pass_on_a_surrogate():
    st = _untrained_surrogate()
    assert st.center_dim == 1 < st.param_dim  # the latent ξ is never centred
    for check in CAPABILITY_CHECKS:
        check(st)


@pytest.mark.parametrize("cls", [*BUILTIN_NOISES, TriangularNoise], ids=lambda c: c.name)
def test_isotropic_gaussian_check_passes_on_every_builtin_and_example_noise(cls):
    gt.check_noise_isotropic_gaussian(cls)
    assert "check_noise_isotropic_gaussian" in [name for _, name in gt.noise_checks(cls)]


def test_the_gaussian_noise_declares_it_and_is_checked():
    assert GaussianNoise.isotropic_gaussian is True and LaplaceNoise.isotropic_gaussian is False
    for sigma in (0.12, 3.0):
        gt.check_noise_isotropic_gaussian(GaussianNoise(sigma=sigma))


# lookalikes: the same standard deviation as N(0, σ²), another law, declaring isotropic_gaussian
class LaplaceLookalike(LaplaceNoise):
    """Laplace with scale σ/√2 (standard deviation σ), claiming to be N(0, σ²) with Cohen's radius."""

    name = "t_laplace_gaussian"
    norm = "l2"
    isotropic_gaussian = True

    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        return super().sample(shape, generator=generator, device=device, dtype=dtype) / np.sqrt(2.0)

    def radius(self, p_lower):
        return GaussianNoise(sigma=self.sigma).radius(p_lower)


class UniformLookalike(UniformNoise):
    """Uniform on [−√3σ, √3σ] (standard deviation σ), claiming to be N(0, σ²)."""

    name = "t_uniform_gaussian"
    norm = "l2"
    isotropic_gaussian = True

    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        return super().sample(shape, generator=generator, device=device, dtype=dtype) * np.sqrt(3.0)

    def radius(self, p_lower):
        return GaussianNoise(sigma=self.sigma).radius(p_lower)


class SharedDraw(GaussianNoise):
    """N(0, σ²) per coordinate, but one draw repeated across every coordinate (not isotropic)."""

    name = "t_shared_gaussian"

    def sample(self, shape, *, generator, device=None, dtype=torch.float32):
        one = super().sample((*shape[:-1], 1), generator=generator, device=device, dtype=dtype)
        return one.expand(shape).clone()


class GaussianAsL1(GaussianNoise):
    name = "t_gaussian_l1"
    norm = "l1"


class GaussianWrongRadius(GaussianNoise):
    name = "t_gaussian_radius"

    def radius(self, p_lower):
        return self._out(1.05 * np.asarray(super().radius(p_lower)))


class GaussianFlagNotBool(GaussianNoise):
    name = "t_gaussian_flag"
    isotropic_gaussian = 1


@pytest.mark.parametrize(
    "cls, match",
    [
        (LaplaceLookalike, r"do not follow N\(0, sigma²\).*Kolmogorov"),
        (UniformLookalike, r"do not follow N\(0, sigma²\).*Kolmogorov"),
        (SharedDraw, "coordinates .* are correlated"),
        (GaussianAsL1, "expected norm 'l2', got 'l1'"),
        (GaussianWrongRadius, r"expected radius\(p\) == sigma·Φ⁻¹\(p\)"),
        (GaussianFlagNotBool, "`isotropic_gaussian` to be a bool, got 1"),
    ],
)
def test_a_false_isotropic_gaussian_declaration_fails(cls, match):
    with pytest.raises(AssertionError, match=match) as info:
        gt.check_noise_isotropic_gaussian(cls)
    assert str(info.value).startswith(f"{cls.__name__}(name={cls.name!r})")
    if cls is GaussianFlagNotBool:  # conformant otherwise: check_noise fails on this check
        with pytest.raises(AssertionError, match=match):
            check_noise(cls)


# transforms with broken capabilities
class WithDefaults(Shift):
    name = "t_shift_defaults"
    param_domain = ((-1.0, 1.0),)
    defaults = gsmooth.TransformDefaults(noise="gaussian", sigma=0.1, range=((-0.5, 0.5),), slices=4, source="test")


def _with(defaults, base=WithDefaults, **attrs):
    return type("Broken", (base,), {"defaults": defaults, **attrs})


def test_good_defaults_pass_and_a_single_pair_is_broadcast():
    gt.check_transform_defaults(WithDefaults)
    gt.check_transform_defaults(_with(None))
    two = type("Shift2", (WithDefaults,), {"param_dim": 2, "param_domain": ((-1.0, 1.0), (0.0, 2.0))})
    gt.check_transform_defaults(_with(gsmooth.TransformDefaults("gaussian", 0.1, ((-0.5, 0.5), (0.5, 1.5))), two))
    gt.check_transform_defaults(_with(gsmooth.TransformDefaults("gaussian", 0.1, ((0.2, 0.8),)), two))  # as --range 0.2:0.8


@pytest.mark.parametrize(
    "defaults, attrs, match",
    [
        (gsmooth.TransformDefaults("gaussian", 0.1, ((-0.5, 1.5),)), {},
         r"defaults.range expected inside domain\(\) \[-1, 1\] for parameter 0, got -0.5:1.5"),
        (gsmooth.TransformDefaults("gaussian", 0.1, ((-0.5, 0.5), (0.0, 0.1))), {},
         r"one \(lo, hi\) per centre dimension \(center_dim = 1\)"),
        (gsmooth.TransformDefaults("gausian", 0.1), {}, "defaults.noise expected a registered noise name.*gausian"),
        (gsmooth.TransformDefaults("folded_gaussian", 0.1), {"param_dim": None},
         "additive pixel noise needs an l2/l1/linf radius"),
        (gsmooth.TransformDefaults("gaussian", 0.1, ((-0.5, 0.5),)), {"param_dim": None},
         "expected defaults.range None"),
        (gsmooth.TransformDefaults("gaussian", 0.1, latent_sigma=0.25), {},
         "expected it only with surrogate=True, got latent_sigma=0.25 with surrogate=False"),
        (gsmooth.TransformDefaults("gaussian", 0.1, surrogate=True), {},
         "expected it only for kind 'empirical', got kind 'exact'"),
        ({"noise": "gaussian", "sigma": 0.1}, {}, "gsmooth.TransformDefaults or None, got dict"),
    ],
)
def test_broken_defaults_fail(defaults, attrs, match):
    cls = _with(defaults, **attrs)
    with pytest.raises(AssertionError, match=match) as info:
        gt.check_transform_defaults(cls)
    assert str(info.value).startswith("Broken(name='t_shift_defaults')")


def test_defaults_whose_sigma_the_noise_refuses_fail():
    forged = gsmooth.TransformDefaults("gaussian", 0.1)
    object.__setattr__(forged, "sigma", -1.0)  # past TransformDefaults' own validation
    with pytest.raises(AssertionError, match=r"defaults.sigma expected a valid sigma for noise 'gaussian', got -1.0"):
        gt.check_transform_defaults(_with(forged))


def test_a_surrogate_backed_empirical_transform_passes_and_its_range_stays_in_the_domain():
    ok = gsmooth.TransformDefaults("gaussian", 2.5, ((0.0, 10.0),), latent_sigma=0.25, surrogate=True)
    gt.check_transform_defaults(_with(ok, kind="empirical", param_domain=((0.0, math.inf),)))
    out = gsmooth.TransformDefaults("gaussian", 2.5, ((-1.0, 10.0),), latent_sigma=0.25, surrogate=True)
    with pytest.raises(AssertionError, match=r"inside domain\(\) \[0, inf\]"):
        gt.check_transform_defaults(_with(out, kind="empirical", param_domain=((0.0, math.inf),)))


class NoLaw(Scale):
    """x·(1 + θ): exact, declares that its parameters do not add, but supplies no slice strategy."""

    name = "t_no_law"
    composes_additively = False
    composition = "product"


class WithLaw(NoLaw):
    def slice_strategy(self):
        return Gain().slice_strategy()  # stands for a strategy certifying its law


class StrategyNotAStrategy(Shift):
    def slice_strategy(self):
        return "additive"


class BadCentering(Shift):
    def slice_strategy(self):
        return type("Odd", (gsmooth.interval.AdditiveComposition,), {"centering": "pixel"})()


class CenterTooLarge(Shift):
    @property
    def center_dim(self):
        return 2


class CenterForPixelNoise(Shift):
    param_dim = None

    @property
    def center_dim(self):
        return 1


def test_slice_strategy_check_accepts_overrides_and_pixel_noise():
    gt.check_transform_slice_strategy(WithLaw)
    gt.check_transform_slice_strategy(type("EmpiricalNoLaw", (NoLaw,), {"kind": "empirical"}))  # no interval anyway
    gt.check_transform_slice_strategy(gsmooth.transform("quantized_additive"))  # pixel noise: no interval certificate
    assert type(gsmooth.transform("quantized_additive")).composes_additively is False


@pytest.mark.parametrize(
    "cls, match",
    [
        (NoLaw, r"declares composes_additively = False \(law 'product'\) but does not override slice_strategy\(\)"),
        (StrategyNotAStrategy, "slice_strategy\\(\\) expected a gsmooth.interval.SliceStrategy, got str"),
        (BadCentering, "centering expected 'parameter' or 'image', got 'pixel'"),
        (CenterTooLarge, "expected center_dim an int with 1 <= center_dim <= param_dim = 1, got 2"),
        (CenterForPixelNoise, "expected center_dim None, got 1"),
    ],
)
def test_broken_slice_strategy_fails(cls, match):
    with pytest.raises(AssertionError, match=match):
        gt.check_transform_slice_strategy(cls)
    if cls is NoLaw:
        with pytest.raises(AssertionError, match="does not override slice_strategy"):
            check_transform(cls, exact=False)  # check_transform runs it
