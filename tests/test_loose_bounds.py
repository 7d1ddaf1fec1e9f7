"""Loose vs tight smoothing bounds (issue 14, point 4): :mod:`gsmooth.core.loose_bounds` against each
paper's formula computed independently here (stdlib ``statistics.NormalDist``, brute grids over ε, δ
and α, a brute-force minimum of the Rényi divergence), monotonicity, 0 at p_A ≤ p_B, dominance by
Cohen's tight radius, and ``gsmooth analyze --bound`` (re-scoring, refusals)."""

from __future__ import annotations

import doctest
import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

import gsmooth
from gsmooth.cli import main
from gsmooth.core import loose_bounds
from gsmooth.core.loose_bounds import _pixeldp_optimum, bound_radius, cohen_radius, li_radius, pixeldp_radius
from gsmooth.core.radius import integrated_radius
from gsmooth.errors import InvalidParameterError, ResultsFileError
from gsmooth.evaluation.analysis import rescore
from gsmooth.io.results import ResultsWriter, read_results

ROOT = Path(__file__).resolve().parents[1]
CERTIFY_FILES = [
    ROOT / "experiments/results/fashion_mnist_additive/certify_sigma025.tsv",
    ROOT / "experiments/results/fashion_mnist_additive/certify_sigma050.tsv",
]
PAIRS = [(0.6, 0.4), (0.9, 0.1), (0.99, 0.01), (0.8, 0.05), (0.55, 0.3), (0.97, 0.0)]
PHI_INV = NormalDist().inv_cdf


# ------------------------------------------------------------------------------------------------
# references, computed independently of the module
# ------------------------------------------------------------------------------------------------


def pixeldp_brute(p_a: float, p_b: float, sigma: float) -> float:
    """Largest σ ε / √(2 ln(1.25/δ)) over a grid of (ε, δ), ε ≤ 1, with p_A > e^{2ε} p_B + (1 + e^ε) δ."""
    eps = np.linspace(1e-3, 1.0, 1000)[:, None]
    delta = np.union1d(np.logspace(-14, 0, 3000), np.linspace(1e-4, 0.5, 5000))[None, :]
    admissible = p_a > np.exp(2 * eps) * p_b + (1 + np.exp(eps)) * delta
    value = np.where(admissible, sigma * eps / np.sqrt(2 * np.log(1.25 / delta)), 0.0)
    return float(value.max())


def li_formula(p_a: float, p_b: float, alpha: float, sigma: float) -> float:
    """Li et al.'s bound at one α, in plain floats exactly as the formula is printed."""
    mean = ((p_a ** (1 - alpha) + p_b ** (1 - alpha)) / 2) ** (1 / (1 - alpha))
    inner = 1 - p_a - p_b + 2 * mean
    return math.sqrt(max(-(2 * sigma**2 / alpha) * math.log(inner), 0.0))


def li_brute(p_a: float, p_b: float, sigma: float) -> float:
    return max(li_formula(p_a, p_b, a, sigma) for a in 1 + np.logspace(-5, math.log10(29), 4000))


def renyi_min_to_other_top_class(p: np.ndarray, alpha: float) -> float:
    """min over Q on a simplex grid, top class of Q not 0, of D_α(Q ‖ P) = log Σ q^α p^{1−α} / (α − 1)."""
    grid = np.linspace(1e-5, 1 - 1e-5, 801)
    if p.size == 2:
        q0 = grid[grid <= 0.5]
        q = np.stack([q0, 1 - q0], axis=-1)
    else:
        q0, q1 = (g.reshape(-1) for g in np.meshgrid(grid, grid, indexing="ij"))
        keep = (q0 + q1 < 1) & (q1 >= q0)
        q = np.stack([q0[keep], q1[keep], 1 - q0[keep] - q1[keep]], axis=-1)
    return float((np.log(np.sum(q**alpha * p ** (1 - alpha), axis=-1)) / (alpha - 1)).min())


# ------------------------------------------------------------------------------------------------
# each bound against its formula
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p_a,p_b", PAIRS)
@pytest.mark.parametrize("sigma", [0.25, 1.0])
def test_cohen_is_half_sigma_times_the_quantile_gap(p_a, p_b, sigma):
    expected = sigma / 2 * (PHI_INV(p_a) - PHI_INV(p_b)) if p_b > 0 else math.inf
    assert cohen_radius(p_a, p_b, sigma=sigma) == pytest.approx(expected, rel=1e-12)
    assert cohen_radius(p_a, sigma=sigma) == pytest.approx(sigma * PHI_INV(p_a), rel=1e-12)


def test_cohen_default_is_the_gaussian_plugins_radius_bit_for_bit_and_the_numerical_route():
    p = np.array([0.5000001, 0.6, 0.9254566565672391, 0.99993092, 0.9993094630025899])
    noise = gsmooth.noise("gaussian", sigma=0.25)
    assert np.array_equal(cohen_radius(p, sigma=0.25), noise.radius(p))
    for p_a, p_b in [(0.9, 0.05), (0.7, 0.2)]:
        numerical = integrated_radius(p_a, pdf=noise.pdf, ppf=noise.ppf, p_b=p_b)
        assert cohen_radius(p_a, p_b, sigma=0.25) == pytest.approx(numerical, abs=1e-8)


@pytest.mark.parametrize("p_a,p_b", PAIRS)
def test_pixeldp_is_the_largest_admissible_l_over_a_fine_eps_delta_grid(p_a, p_b):
    ours, brute = pixeldp_radius(p_a, p_b, sigma=0.5), pixeldp_brute(p_a, p_b, 0.5)
    assert brute <= ours * (1 + 1e-9)  # never below an admissible grid point: the optimiser finds the max
    assert ours <= brute * (1 + 5e-4)  # and not above the supremum (the grid approaches it from below)


@pytest.mark.parametrize("p_a,p_b", PAIRS)
def test_pixeldp_optimiser_matches_a_dense_eps_grid_at_the_largest_admissible_delta(p_a, p_b):
    """The 1-D reduction (δ at its bound (p_A − e^{2ε} p_B)/(1 + e^ε), justified by the 2-D grid test
    above) on 400,000 values of ε: the grid + bounded-search optimiser must match it to 1e-9."""
    eps = np.linspace(1e-7, 1.0, 400_000)
    delta = (p_a - np.exp(2 * eps) * p_b) / (1 + np.exp(eps))
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(delta > 0, eps / np.sqrt(2 * np.log(1.25 / delta)), 0.0)
    dense = float(value.max())
    ours = pixeldp_radius(p_a, p_b, sigma=1.0)
    assert dense <= ours * (1 + 1e-12) and ours <= dense * (1 + 1e-9)


@pytest.mark.parametrize("p_a,p_b", PAIRS[:5])
def test_pixeldp_optimum_is_an_eps_delta_dp_gaussian_mechanism_satisfying_lecuyers_condition(p_a, p_b):
    """At the optimiser's (ε, δ, L): ε ≤ 1, p_A ≥ e^{2ε} p_B + (1 + e^ε) δ (equality: the supremum), and
    N(0, σ²) really is (ε, δ)-DP for shifts of L by the exact privacy profile of the Gaussian
    mechanism (Balle & Wang 2018, Theorem 8): Φ(L/2σ − εσ/L) − e^ε Φ(−L/2σ − εσ/L) ≤ δ."""
    value, eps, delta = (float(v[0]) for v in _pixeldp_optimum(np.array([p_a]), np.array([p_b])))
    assert 0 < eps <= 1 and delta > 0
    assert p_a - (math.exp(2 * eps) * p_b + (1 + math.exp(eps)) * delta) == pytest.approx(0, abs=1e-12)
    shift = value  # L/σ (σ = 1)
    phi = NormalDist().cdf
    exact = phi(shift / 2 - eps / shift) - math.exp(eps) * phi(-shift / 2 - eps / shift)
    assert exact <= delta
    assert value == pytest.approx(eps / math.sqrt(2 * math.log(1.25 / delta)), rel=1e-12)


@pytest.mark.parametrize("p_a,p_b", [p for p in PAIRS if p[1] > 0])
@pytest.mark.parametrize("sigma", [0.5, 2.0])
def test_li_is_the_sup_over_alpha_of_the_printed_formula(p_a, p_b, sigma):
    ours, brute = li_radius(p_a, p_b, sigma=sigma), li_brute(p_a, p_b, sigma)
    assert brute <= ours * (1 + 1e-9)
    assert ours <= brute * (1 + 1e-4)


def test_li_with_p_b_zero_tends_to_its_alpha_to_one_limit():
    """p_B = 0, p_A < 1: the log term is log(1 − p_A) for every α, so the sup is at α → 1."""
    assert li_radius(0.97, 0.0, sigma=1.0) == pytest.approx(math.sqrt(-2 * math.log(0.03)), rel=1e-6)


@pytest.mark.parametrize("p,alpha", [((0.8, 0.2), 1.5), ((0.9, 0.1), 3.0), ((0.6, 0.3, 0.1), 2.0), ((0.7, 0.2, 0.1), 1.3)])
def test_li_log_term_is_the_smallest_renyi_divergence_to_another_top_class(p, alpha):
    """The statement behind Li et al.'s bound, checked rather than trusted: minus the log term is
    min D_α(Q ‖ P) over distributions Q whose top class is not P's (brute force over a simplex grid)."""
    p_a, p_b = p[0], p[1]
    closed = -math.log(1 - p_a - p_b + 2 * ((p_a ** (1 - alpha) + p_b ** (1 - alpha)) / 2) ** (1 / (1 - alpha)))
    brute = renyi_min_to_other_top_class(np.array(p), alpha)
    assert brute == pytest.approx(closed, rel=2e-3, abs=1e-5)
    assert brute >= closed - 1e-9  # a lower bound on the divergence: no grid point below it
    # and the module's squared radius over σ² is (2/α) times that minimum
    assert li_formula(p_a, p_b, alpha, 1.0) ** 2 == pytest.approx(2 / alpha * closed, rel=1e-12)


def test_reference_values_at_sigma_one():
    """Hand-checked anchors (the table of experiments/results/verification/loose_bounds.md)."""
    assert cohen_radius(0.9, sigma=1.0) == pytest.approx(1.2815515655446004, rel=1e-12)
    assert pixeldp_radius(0.9, sigma=1.0) == pytest.approx(pixeldp_brute(0.9, 0.1, 1.0), rel=2e-3)
    # PixelDP's cap at p_A = 1: ε = 1, δ = 1/(1 + e)
    assert pixeldp_radius(1.0, sigma=1.0) == pytest.approx(1 / math.sqrt(2 * math.log(1.25 * (1 + math.e))), rel=1e-9)
    assert math.isinf(cohen_radius(1.0, sigma=1.0)) and math.isinf(li_radius(1.0, sigma=1.0))


# ------------------------------------------------------------------------------------------------
# shape of the curves
# ------------------------------------------------------------------------------------------------

GRID = np.linspace(0.0, 1.0, 21)


@pytest.mark.parametrize("name", ["cohen", "pixeldp", "li"])
def test_each_bound_grows_with_p_a_and_shrinks_with_p_b(name):
    p = np.linspace(0.5, 0.999, 120)
    r = bound_radius(name, p, sigma=1.0)
    assert np.all(np.diff(r) > 0)
    for p_b in (0.05, 0.2):
        q = np.linspace(p_b + 1e-3, 1 - p_b, 80)
        assert np.all(np.diff(bound_radius(name, q, p_b, sigma=1.0)) > 0)
    shrinking = bound_radius(name, 0.6, np.linspace(0.0, 0.4, 40), sigma=1.0)
    assert np.all(np.diff(shrinking) < 0)


@pytest.mark.parametrize("name", ["cohen", "pixeldp", "li"])
def test_each_bound_is_zero_where_p_a_is_not_above_p_b(name):
    p_a, p_b = (g.reshape(-1) for g in np.meshgrid(GRID, GRID, indexing="ij"))
    keep = (p_a + p_b <= 1) & (p_a <= p_b)
    assert np.all(bound_radius(name, p_a[keep], p_b[keep], sigma=1.0) == 0)
    assert np.all(bound_radius(name, np.array([0.0, 0.3, 0.5]), sigma=1.0) == 0)  # p_B = 1 − p_A ≥ p_A


def test_cohen_dominates_li_and_pixeldp_on_a_grid():
    grid = np.linspace(0.0, 1.0, 41)
    p_a, p_b = (g.reshape(-1) for g in np.meshgrid(grid, grid, indexing="ij"))
    keep = p_a + p_b <= 1
    p_a, p_b = p_a[keep], p_b[keep]
    for sigma in (0.25, 1.0):
        c, li, pdp = (bound_radius(n, p_a, p_b, sigma=sigma) for n in ("cohen", "li", "pixeldp"))
        assert np.all(li >= 0) and np.all(pdp >= 0)
        assert np.all(c >= li) and np.all(c >= pdp)
        live = (p_a > p_b) & np.isfinite(c)
        assert np.all(li[live] < c[live]) and np.all(pdp[live] < c[live])  # strictly looser


def test_shapes_scalars_and_linearity_in_sigma():
    assert isinstance(li_radius(0.9, sigma=1.0), float) and isinstance(pixeldp_radius(0.9, sigma=1.0), float)
    p = np.array([[0.6, 0.9], [0.99, 0.7]])
    for name in ("cohen", "pixeldp", "li"):
        r = bound_radius(name, p, sigma=1.0)
        assert r.shape == (2, 2)
        assert np.allclose(bound_radius(name, p, sigma=0.3), 0.3 * r, rtol=1e-9)
        assert bound_radius(name, p[1, 0], sigma=1.0) == pytest.approx(r[1, 0], rel=1e-12)  # elementwise


@pytest.mark.parametrize(
    "args,kwargs,needle",
    [
        ((1.2,), {"sigma": 1.0}, "expected p_a probabilities in [0, 1], got 1.2"),
        ((0.9, -0.1), {"sigma": 1.0}, "expected p_b probabilities in [0, 1]"),
        ((0.9, 0.2), {"sigma": 1.0}, "expected p_a + p_b <= 1"),
        ((float("nan"),), {"sigma": 1.0}, "expected p_a probabilities"),
        ((0.9,), {"sigma": 0.0}, "expected sigma a finite number > 0, got 0.0"),
        ((0.9,), {"sigma": True}, "expected sigma a finite number > 0, got True"),
    ],
)
@pytest.mark.parametrize("fn", [cohen_radius, pixeldp_radius, li_radius])
def test_bad_input_is_a_typed_error(fn, args, kwargs, needle):
    with pytest.raises(InvalidParameterError, match="expected") as info:
        fn(*args, **kwargs)
    assert needle in str(info.value) and isinstance(info.value, ValueError)
    with pytest.raises(InvalidParameterError, match="expected one of cohen, pixeldp, li, got 'tight'"):
        bound_radius("tight", 0.9, sigma=1.0)


def test_the_module_doctests_run():
    result = doctest.testmod(loose_bounds, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 8 and result.failed == 0


# ------------------------------------------------------------------------------------------------
# gsmooth analyze --bound
# ------------------------------------------------------------------------------------------------


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| file")]


@pytest.mark.parametrize("path", CERTIFY_FILES)
def test_bound_cohen_reproduces_a_certify_files_radius_column(path, capsys):
    original = read_results(path)
    assert np.array_equal(rescore(path, "cohen").radius, original.radius)
    code, out, err = run_cli(capsys, "analyze", path, "--bound", "cohen", "--radii", "0,0.25,0.5,0.75,1")
    assert code == 0, err
    plain_code, plain, _ = run_cli(capsys, "analyze", path, "--radii", "0,0.25,0.5,0.75,1")
    assert plain_code == 0 and table_rows(out) == table_rows(plain)
    assert out.splitlines()[0] == "### l2 (pixels), re-scored with the cohen bound (Cohen et al. 2019, tight)"


def test_bound_cohen_reproduces_a_fresh_certify_run(tmp_path, capsys):
    """Today's `gsmooth certify` (the embedded model and its defaults, a few images, few samples)."""
    out = tmp_path / "fresh.tsv"
    code, _, err = run_cli(capsys, "certify", "--n0", "20", "--n", "300", "--max", "6", "--no-progress", "--out", out)
    assert code == 0, err
    original = read_results(out)
    assert np.any(original.radius > 0)
    assert np.array_equal(rescore(out, "cohen").radius, original.radius)
    assert np.all(rescore(out, "li").radius <= original.radius)


@pytest.mark.parametrize("bound,fn", [("pixeldp", pixeldp_radius), ("li", li_radius)])
def test_bound_rescores_each_row_from_p_lower_and_keeps_abstentions(bound, fn, capsys):
    path = CERTIFY_FILES[1]
    original = read_results(path)
    table = rescore(path, bound)
    live = original.predict != -1
    assert np.any(~live)  # the file has abstentions
    p = original.extra["p_lower"]
    assert np.allclose(table.radius[live], fn(p[live], sigma=0.5), rtol=1e-12)
    assert np.all(table.radius[~live] == 0) and np.array_equal(table.predict, original.predict)
    assert np.all(table.radius[live] < original.radius[live])
    code, out, err = run_cli(capsys, "analyze", path, "--bound", bound, "--radii", "0,0.25,0.5")
    assert code == 0, err
    assert out.splitlines()[0].startswith(f"### l2 (pixels), re-scored with the {bound} bound (")
    correct = original.correct.astype(bool)
    expected = [np.mean(correct & (table.radius >= r)) for r in (0, 0.25, 0.5)]
    acr = np.mean(np.where(correct, table.radius, 0.0))
    abstain = np.mean(~live)
    assert table_rows(out) == [
        f"| {path} | {len(original)} | " + " | ".join(f"{e:.3f}" for e in expected) + f" | {acr:.3f} | {abstain:.3f} |"
    ]
    assert f"radii re-scored with the {bound} bound, sigma 0.5 from" in out


COHEN = (
    "idx\tlabel\tpredict\tradius\tcorrect\ttime\n"
    "0\t3\t3\t0.412\t1\t0:00:02.345678\n"
    "7\t1\t1\t1.05\t1\t0:00:02.000000\n"
    "20\t8\t-1\t0.0\t0\t0:00:02.100000\n"
)


def test_cohen_format_needs_sigma_then_recovers_p_a_from_the_radius(tmp_path, capsys):
    path = tmp_path / "cohen.tsv"
    path.write_text(COHEN)
    code, out, err = run_cli(capsys, "analyze", path, "--bound", "li")
    assert code == 2 and out == "" and err.count("\n") == 1 and "expected the noise's sigma" in err and "--sigma" in err
    table = rescore(path, "cohen", sigma=0.5)
    assert np.allclose(table.radius, [0.412, 1.05, 0.0], rtol=1e-12)
    li = rescore(path, "li", sigma=0.5)
    p = [NormalDist().cdf(0.412 / 0.5), NormalDist().cdf(1.05 / 0.5)]
    assert np.allclose(li.radius[:2], li_radius(np.array(p), sigma=0.5), rtol=1e-12) and li.radius[2] == 0
    code, out, err = run_cli(capsys, "analyze", path, "--bound", "li", "--sigma", "0.5", "--radii", "0,0.3")
    assert code == 0, err
    assert "p_A from radius (p_A = Phi(radius/sigma)" in out and "no norm column" in out


def write(path, rows, columns, config):
    with ResultsWriter(path, columns=list(columns), config=config) as w:
        for i, (label, predict, radius, p) in enumerate(rows):
            w.write({"idx": i, "label": label, "predict": predict, "radius": radius, "time": 0.1,
                     **columns, "p_lower": p})
    return path


ROWS = [(1, 1, 0.3, 0.9), (2, 2, 0.9, 0.99), (3, -1, 0.0, 0.4)]


def certify_columns(**over):
    cols = {"noise": "gaussian(sigma=0.25)", "transform": "additive", "kind": "exact", "norm": "l2", "mstar": 1.0,
            "p_lower": 0.0}
    cols.update(over)
    return cols


@pytest.mark.parametrize(
    "columns,config,needle",
    [
        (certify_columns(noise="laplace(sigma=0.25)", norm="l1"), {"command": "certify"}, "got l1 radii"),
        (certify_columns(noise="laplace(sigma=0.25)"), {"command": "certify"}, "got noise laplace(sigma=0.25)"),
        (certify_columns(transform="rotation(padding_mode=zeros)", norm="param [degrees]", certificate="radius"),
         {"command": "certify", "transform": "rotation"}, "got certificates of transform rotation"),
        (certify_columns(transform="surrogate(rotation)", certificate="interval"), {"command": "certify"},
         "got interval certificates"),
        (certify_columns(mstar=2.5), {"command": "certify"}, "got M* = 2.5"),
        (certify_columns(method="milp", answer="YES"), {"command": "certify"}, "got verification rows"),
        (certify_columns(), {"command": "verify"}, "got a verify file"),
        ({"norm": "l2", "p_lower": 0.0}, {"command": "certify"}, "got a file that records no noise"),
        (certify_columns(noise="gaussian"), {"command": "certify"}, "expected the noise's sigma"),
        (certify_columns(sigma=0.5), {"command": "certify"}, "expected one sigma, got 0.5 (column sigma), 0.25 (column noise"),
    ],
)
def test_files_that_are_not_gaussian_l2_point_certificates_are_refused_with_one_line(
    tmp_path, capsys, columns, config, needle
):
    path = write(tmp_path / "f.tsv", ROWS, columns, config)
    code, out, err = run_cli(capsys, "analyze", path, "--bound", "pixeldp")
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert needle in err
    with pytest.raises(ResultsFileError, match="expected"):
        rescore(path, "pixeldp")


def test_sigma_must_agree_with_the_file_and_needs_bound(tmp_path, capsys):
    path = write(tmp_path / "g.tsv", ROWS, certify_columns(), {"command": "certify", "noise_params": {"sigma": 0.25}})
    code, out, err = run_cli(capsys, "analyze", path, "--bound", "li", "--sigma", "0.5")
    assert code == 2 and err.count("\n") == 1 and "--sigma expected the file's own sigma 0.25" in err and "got 0.5" in err
    code, out, err = run_cli(capsys, "analyze", path, "--bound", "li", "--sigma", "0.25")
    assert code == 0, err
    code, out, err = run_cli(capsys, "analyze", path, "--sigma", "0.25")
    assert code == 2 and "--sigma expected together with --bound" in err
    with pytest.raises(SystemExit) as info:  # argparse's own usage error
        main(["analyze", str(path), "--bound", "tight"])
    assert info.value.code == 2 and "invalid choice: 'tight'" in capsys.readouterr().err


def test_a_certified_row_without_a_usable_p_lower_is_refused(tmp_path, capsys):
    path = write(tmp_path / "h.tsv", [(1, 1, 0.3, 0.4)], certify_columns(), {"command": "certify"})
    code, out, err = run_cli(capsys, "analyze", path, "--bound", "li")
    assert code == 2 and "idx 0 expected p_lower in (0.5, 1] for a certified row, got 0.4" in err


def test_plot_of_rescored_files_names_the_bound(tmp_path, capsys):
    png = tmp_path / "curve.png"
    code, out, err = run_cli(capsys, "analyze", CERTIFY_FILES[0], "--bound", "li", "--plot", png)
    assert code == 0, err and png.exists()
    from gsmooth.evaluation.analysis import certified_accuracy_figure, summarize_rescored

    figure = certified_accuracy_figure([summarize_rescored(CERTIFY_FILES[0], "li")])
    assert figure.axes[0].get_xlabel().endswith("li bound")
    assert "re-scored with the li bound" in figure.axes[0].get_title().replace("\n", " ")
