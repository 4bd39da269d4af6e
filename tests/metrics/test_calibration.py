"""Calibration point estimates against REFERENCE.md, statsmodels, sklearn and hand sums."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import special, stats
from sklearn.calibration import calibration_curve

from cohortaudit.metrics.calibration import (
    CI_KEYS,
    CLIP,
    KNOT_QUANTILES,
    VALUE_KEYS,
    _hl_group_index,
    calibration_curve_on_grid,
    calibration_point,
    choose_knots,
    fit_logistic,
    logit,
    rcs_basis,
)

Z = 1.959963984540054


def _split(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The engine's convention: scores by outcome, sorted ascending."""
    return np.sort(p[y == 1]), np.sort(p[y == 0])


def _ordered(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y, p) in the order calibration_point concatenates them (pos then neg)."""
    pos, neg = _split(y, p)
    return np.r_[np.ones(pos.size), np.zeros(neg.size)], np.r_[pos, neg]


def _cohort(n: int, seed: int, *, a: float = -1.5, b: float = 0.8, shift: float = 0.3):
    """A miscalibrated cohort: true logit = shift + b * model logit, model logit ~ N(a, 1.2)."""
    rng = np.random.default_rng(seed)
    lp = rng.normal(a, 1.2, size=n)
    y = (rng.random(n) < special.expit(shift + b * lp)).astype(np.float64)
    return y, special.expit(lp)


def _glm(y, X, **kw):
    return sm.GLM(y, X, family=sm.families.Binomial(), **kw).fit(tol=1e-12)


# ---------------------------------------------------------------------------------------------
# REFERENCE.md worked example
# ---------------------------------------------------------------------------------------------


def test_reference_worked_example():
    y = np.array([0, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    p = np.array([0.01, 0.01, 0.24, 0.22, 0.02, 0.1, 0.03, 0.12, 0.04, 0.01])
    est = calibration_point(*_split(y, p))
    assert est.values["calibration_slope"] == pytest.approx(0.163864, abs=1e-6)
    assert est.values["recalibration_intercept"] == pytest.approx(-0.892732, abs=1e-6)
    assert est.values["citl"] == pytest.approx(1.237956, abs=1e-6)
    assert y.mean() - p.mean() == pytest.approx(0.12)
    assert set(est.values) == set(VALUE_KEYS)
    assert set(est.ci) == set(CI_KEYS)
    # 10 patients: too few for the spline, said in words, no exception
    assert math.isnan(est.values["ici"])
    assert any("too few patients" in msg for msg in est.problems)


# ---------------------------------------------------------------------------------------------
# Logistic fits against statsmodels
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_citl_slope_and_wald_against_statsmodels(seed):
    y, p = _cohort(400 + 150 * seed, seed, shift=0.2 * seed - 0.4, b=0.6 + 0.2 * seed)
    est = calibration_point(*_split(y, p), z=Z)
    yo, po = _ordered(y, p)
    lp = np.log(po / (1 - po))
    ones = np.ones((yo.size, 1))

    citl = _glm(yo, ones, offset=lp)
    assert est.values["citl"] == pytest.approx(citl.params[0], abs=1e-6)
    lo, hi = est.ci["citl"]
    assert lo == pytest.approx(citl.params[0] - Z * citl.bse[0], abs=1e-6)
    assert hi == pytest.approx(citl.params[0] + Z * citl.bse[0], abs=1e-6)

    slope = _glm(yo, np.column_stack([ones, lp]))
    assert est.values["recalibration_intercept"] == pytest.approx(slope.params[0], abs=1e-6)
    assert est.values["calibration_slope"] == pytest.approx(slope.params[1], abs=1e-6)
    for key, j in (("recalibration_intercept", 0), ("calibration_slope", 1)):
        lo, hi = est.ci[key]
        assert lo == pytest.approx(slope.params[j] - Z * slope.bse[j], abs=1e-6)
        assert hi == pytest.approx(slope.params[j] + Z * slope.bse[j], abs=1e-6)


def test_fit_logistic_covariance_matches_statsmodels():
    rng = np.random.default_rng(7)
    X = np.column_stack([np.ones(300), rng.normal(size=(300, 2))])
    y = (rng.random(300) < special.expit(X @ [-0.3, 0.8, -0.5])).astype(float)
    fit = fit_logistic(X, y)
    ref = _glm(y, X)
    assert fit.converged and fit.message == ""
    np.testing.assert_allclose(fit.coef, ref.params, atol=1e-8)
    np.testing.assert_allclose(fit.cov, ref.cov_params(), atol=1e-8)


def test_frequency_weights_equal_expanded_rows():
    rng = np.random.default_rng(11)
    x = rng.normal(size=40)
    y = (rng.random(40) < special.expit(0.5 * x)).astype(float)
    w = rng.integers(1, 5, size=40)
    X = np.column_stack([np.ones(40), x])
    off = 0.1 * x
    weighted = fit_logistic(X, y, weights=w, offset=off)
    expanded = fit_logistic(np.repeat(X, w, axis=0), np.repeat(y, w), offset=np.repeat(off, w))
    np.testing.assert_allclose(weighted.coef, expanded.coef, atol=1e-10)
    np.testing.assert_allclose(weighted.cov, expanded.cov, atol=1e-10)


def test_binned_data_as_proportions_or_two_rows():
    """(events, n) per bin fitted as y = events/n with weight n, or as two rows per bin."""
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    events = np.array([1, 3, 6, 9, 12])
    size = np.array([20, 20, 20, 20, 20])
    X = np.column_stack([np.ones(5), x])
    prop = fit_logistic(X, events / size, weights=size)
    rows = fit_logistic(
        np.vstack([X, X]), np.r_[np.ones(5), np.zeros(5)], weights=np.r_[events, size - events]
    )
    expanded = fit_logistic(
        np.repeat(X, size, axis=0),
        np.concatenate(
            [np.r_[np.ones(e), np.zeros(s - e)] for e, s in zip(events, size, strict=True)]
        ),
    )
    np.testing.assert_allclose(prop.coef, expanded.coef, atol=1e-10)
    np.testing.assert_allclose(rows.coef, expanded.coef, atol=1e-10)
    np.testing.assert_allclose(prop.cov, expanded.cov, atol=1e-10)


def test_fit_logistic_reports_separation_and_singularity_without_raising():
    x = np.array([-3.0, -2, -1, 1, 2, 3])
    y = np.array([0.0, 0, 0, 1, 1, 1])
    sep = fit_logistic(np.column_stack([np.ones(6), x]), y)
    assert not sep.converged
    assert "separation" in sep.message
    assert np.isnan(sep.coef).all()

    collinear = np.column_stack([np.ones(6), x, 2 * x])
    sing = fit_logistic(collinear, np.array([0.0, 1, 0, 1, 0, 1]))
    assert not sing.converged and "singular" in sing.message

    short = fit_logistic(np.ones((6, 1)), np.array([0.0, 1, 0, 0, 0, 1]), max_iter=1)
    assert not short.converged and "did not converge" in short.message


def test_separated_group_gives_nan_and_a_note():
    neg = np.linspace(0.01, 0.30, 25)
    pos = np.linspace(0.60, 0.95, 25)
    est = calibration_point(pos, neg)
    assert math.isnan(est.values["calibration_slope"])
    assert any("slope fit did not converge (quasi-complete separation" in m for m in est.problems)
    assert math.isfinite(est.values["oe_ratio"])


# ---------------------------------------------------------------------------------------------
# Restricted cubic spline, knots, ICI family
# ---------------------------------------------------------------------------------------------


def _rcs_harrell(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Direct, loop-by-loop transcription of Harrell (RMS 2nd ed., eq. 2.25), norm=2."""
    k = len(t)
    cols = [x.copy()]
    for j in range(k - 2):
        s = np.zeros_like(x)
        for i, xi in enumerate(x):
            term = max(xi - t[j], 0) ** 3
            term -= max(xi - t[k - 2], 0) ** 3 * (t[k - 1] - t[j]) / (t[k - 1] - t[k - 2])
            term += max(xi - t[k - 1], 0) ** 3 * (t[k - 2] - t[j]) / (t[k - 1] - t[k - 2])
            s[i] = term / (t[k - 1] - t[0]) ** 2
        cols.append(s)
    return np.column_stack(cols)


@pytest.mark.parametrize("k", [3, 4, 5])
def test_rcs_basis_matches_harrell_formula_and_broadcasts(k):
    rng = np.random.default_rng(k)
    x = rng.normal(size=60) * 2
    t = np.sort(rng.normal(size=k))
    basis = rcs_basis(x, t)
    assert basis.shape == (60, k - 1)
    np.testing.assert_allclose(basis, _rcs_harrell(x, t), rtol=1e-12, atol=1e-12)
    stacked = rcs_basis(np.vstack([x, x[::-1]]), t)
    assert stacked.shape == (2, 60, k - 1)
    np.testing.assert_allclose(stacked[1], basis[::-1])
    # restricted: linear beyond the outer knots (second differences vanish)
    far = rcs_basis(np.array([t[-1] + 1, t[-1] + 2, t[-1] + 3]), t)
    np.testing.assert_allclose(np.diff(far, 2, axis=0), 0, atol=1e-9)


@pytest.mark.parametrize("k", [3, 4, 5])
def test_knots_at_harrell_quantiles(k):
    x = np.random.default_rng(5).normal(size=500)
    np.testing.assert_allclose(choose_knots(x, k), np.quantile(x, KNOT_QUANTILES[k]))
    assert KNOT_QUANTILES[4] == (0.05, 0.35, 0.65, 0.95)


def test_knots_small_sample_and_ties():
    x = np.arange(50.0)
    knots = choose_knots(x, 4)  # n < 100: outer knots are the 5th smallest / largest
    np.testing.assert_allclose(knots, [4.0, np.quantile(x, 0.35), np.quantile(x, 0.65), 45.0])
    few = np.repeat([0.0, 1.0, 2.0], 50)  # 3 distinct values: only 3 knots possible
    np.testing.assert_allclose(choose_knots(few, 5), [0.0, 1.0, 2.0])
    assert choose_knots(np.repeat([0.0, 1.0], 100), 4).size == 0
    with pytest.raises(ValueError, match="The 'n_knots' parameter must be 3, 4 or 5. Got 7"):
        choose_knots(x, 7)


@pytest.mark.parametrize("seed,n,k", [(21, 600, 4), (22, 300, 3), (23, 80, 5)])
def test_ici_family_against_statsmodels_spline_fit(seed, n, k):
    y, p = _cohort(n, seed, shift=0.4, b=0.7, a=-1.0)
    est = calibration_point(*_split(y, p), n_knots=k)
    yo, po = _ordered(y, p)
    lp = np.log(po / (1 - po))
    knots = np.asarray(est.knots)
    np.testing.assert_allclose(knots, choose_knots(lp, k))
    X = np.column_stack([np.ones(n), rcs_basis(lp, knots)])
    ref = _glm(yo, X)
    d = np.abs(ref.fittedvalues - po)
    assert est.values["ici"] == pytest.approx(d.mean(), abs=1e-8)
    assert est.values["e50"] == pytest.approx(np.median(d), abs=1e-8)
    assert est.values["e90"] == pytest.approx(np.quantile(d, 0.9), abs=1e-8)
    assert est.values["emax"] == pytest.approx(d.max(), abs=1e-8)
    np.testing.assert_allclose(est.spline_coef, ref.params, atol=1e-7)
    np.testing.assert_allclose(np.array(est.spline_cov), ref.cov_params(), atol=1e-7)
    assert est.smoother["knots"] == k
    assert est.smoother["knot_quantiles"] == list(KNOT_QUANTILES[k])
    assert est.smoother["method"].startswith("logistic regression on a restricted cubic spline")


def test_curve_on_grid_matches_fit_and_band():
    y, p = _cohort(500, 31)
    est = calibration_point(*_split(y, p))
    yo, po = _ordered(y, p)
    lp = np.log(po / (1 - po))
    X = np.column_stack([np.ones(yo.size), rcs_basis(lp, np.asarray(est.knots))])
    ref = _glm(yo, X)
    grid = np.array([0.05, 0.1, 0.2, 0.4])
    Xg = np.column_stack([np.ones(4), rcs_basis(logit(grid), np.asarray(est.knots))])
    pred = ref.get_prediction(Xg, which="linear")  # statsmodels' own delta-method SE
    eta, se = np.asarray(pred.predicted), np.asarray(pred.se)
    pc, lo, hi = calibration_curve_on_grid(est, grid, z=Z)
    np.testing.assert_allclose(pc, special.expit(eta), atol=1e-7)
    np.testing.assert_allclose(lo, special.expit(eta - Z * se), atol=1e-6)
    np.testing.assert_allclose(hi, special.expit(eta + Z * se), atol=1e-6)
    assert np.all((lo < pc) & (pc < hi))
    pc2, lo2, hi2 = calibration_curve_on_grid(est, np.vstack([grid, grid]), z=Z)
    assert pc2.shape == (2, 4)
    np.testing.assert_allclose(pc2[1], pc)
    small = calibration_point(np.array([0.3, 0.4]), np.array([0.1, 0.2]))
    assert np.isnan(calibration_curve_on_grid(small, grid, z=Z)[0]).all()


# ---------------------------------------------------------------------------------------------
# ECE, O/E, Spiegelhalter, Hosmer-Lemeshow, scaled Brier, discrimination slope
# ---------------------------------------------------------------------------------------------


def test_ece_table_against_sklearn():
    y, p = _cohort(1000, 41, a=-0.5, b=0.9)
    est = calibration_point(*_split(y, p), ece_bins=10)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    table = [row for row in est.ece_table if row["n"] > 0]
    assert len(est.ece_table) == 10
    np.testing.assert_allclose([r["events"] / r["n"] for r in table], prob_true, atol=1e-12)
    np.testing.assert_allclose([r["sum_p"] / r["n"] for r in table], prob_pred, atol=1e-12)
    assert sum(r["n"] for r in est.ece_table) == 1000
    ece = sum(r["n"] / 1000 * abs(r["events"] / r["n"] - r["sum_p"] / r["n"]) for r in table)
    assert est.values["ece"] == pytest.approx(ece, abs=1e-12)
    assert est.ece_table[3]["lower"] == 0.3 and est.ece_table[3]["upper"] == 0.4


def test_ece_bin_edges_belong_to_the_bin_above_and_last_bin_is_closed():
    p = np.array([0.0, 0.1, 0.3, 0.7, 0.99, 1.0])
    est = calibration_point(p[:3], p[3:], ece_bins=10)
    counts = [r["n"] for r in est.ece_table]
    assert counts == [1, 1, 0, 1, 0, 0, 0, 1, 0, 2]


def test_oe_spiegelhalter_brier_and_discrimination_slope_by_hand():
    y, p = _cohort(300, 51)
    est = calibration_point(*_split(y, p), z=Z)
    o, e = y.sum(), p.sum()
    assert est.values["oe_ratio"] == pytest.approx(o / e, rel=1e-12)
    lo, hi = est.ci["oe_ratio"]
    # Debray et al. (BMJ 2017): SE(ln O/E) = sqrt((1 - O/n) / O) for a binary outcome
    se = math.sqrt((1 - o / len(y)) / o)
    assert lo == pytest.approx(o / e * math.exp(-Z * se), rel=1e-12)
    assert hi == pytest.approx(o / e * math.exp(Z * se), rel=1e-12)

    zs = np.sum((y - p) * (1 - 2 * p)) / np.sqrt(np.sum((1 - 2 * p) ** 2 * p * (1 - p)))
    assert est.values["spiegelhalter_z"] == pytest.approx(zs, rel=1e-10)
    assert est.values["spiegelhalter_p"] == pytest.approx(2 * stats.norm.cdf(-abs(zs)), rel=1e-10)

    ybar = y.mean()
    brier = np.mean((p - y) ** 2)
    assert est.values["scaled_brier"] == pytest.approx(1 - brier / (ybar * (1 - ybar)), rel=1e-10)
    slope = p[y == 1].mean() - p[y == 0].mean()
    assert est.values["discrimination_slope"] == pytest.approx(slope, rel=1e-10)


def test_hosmer_lemeshow_by_hand():
    y, p = _cohort(500, 61)
    est = calibration_point(*_split(y, p), hl_groups=10)
    order = np.argsort(p)  # continuous risks: deciles are 10 groups of 50
    chi2 = 0.0
    for g in np.array_split(order, 10):
        o, e, n = y[g].sum(), p[g].sum(), g.size
        chi2 += (o - e) ** 2 / (e * (1 - e / n))
    assert est.hl_groups == 10
    assert est.values["hosmer_lemeshow_chi2"] == pytest.approx(chi2, rel=1e-10)
    assert est.values["hosmer_lemeshow_p"] == pytest.approx(stats.chi2.sf(chi2, 8), rel=1e-10)


def test_hosmer_lemeshow_ties_stay_in_one_group():
    p = np.repeat([0.1, 0.2, 0.3, 0.5], [50, 30, 15, 5])
    idx = _hl_group_index(p, 10)
    for value in np.unique(p):
        assert np.unique(idx[p == value]).size == 1
    y = np.zeros(100)
    y[::7] = 1
    est = calibration_point(*_split(y, p), hl_groups=10)
    assert est.hl_groups == 4  # only four distinct risks
    assert math.isfinite(est.values["hosmer_lemeshow_chi2"])


# ---------------------------------------------------------------------------------------------
# Invariants and undefined cases
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [71, 72])
def test_recalibrated_in_sample_model_is_perfectly_calibrated(seed):
    y, p = _cohort(800, seed, shift=0.5, b=0.6)
    lp = np.log(p / (1 - p))
    fit = fit_logistic(np.column_stack([np.ones(y.size), lp]), y)
    recal = special.expit(fit.coef[0] + fit.coef[1] * lp)
    est = calibration_point(*_split(y, recal))
    assert est.values["citl"] == pytest.approx(0, abs=1e-6)
    assert est.values["calibration_slope"] == pytest.approx(1, abs=1e-6)
    assert est.values["recalibration_intercept"] == pytest.approx(0, abs=1e-6)
    assert est.values["oe_ratio"] == pytest.approx(1, abs=1e-6)


def test_row_order_does_not_matter():
    y, p = _cohort(300, 81)
    a = calibration_point(*_split(y, p))
    pos, neg = _split(y, p)
    rng = np.random.default_rng(0)
    b = calibration_point(rng.permutation(pos), rng.permutation(neg))
    for key in VALUE_KEYS:
        assert a.values[key] == pytest.approx(b.values[key], rel=1e-9, abs=1e-12)


def test_zero_and_one_predictions_are_clipped_and_counted():
    y, p = _cohort(200, 91)
    p = p.copy()
    p[:3] = 0.0
    p[3:5] = 1.0
    est = calibration_point(*_split(y, p))
    assert est.n_clipped == 5
    assert any("5 predicted risk(s)" in m for m in est.problems)
    assert all(math.isfinite(est.values[k]) for k in ("citl", "calibration_slope", "ici"))
    lp = logit(np.array([0.0, 1.0, 1.5]))
    assert np.all(np.isfinite(lp))
    assert lp[0] == pytest.approx(math.log(CLIP / (1 - CLIP)))


@pytest.mark.parametrize("which", ["events_only", "non_events_only"])
def test_one_class_group_gives_nans_and_a_note(which):
    risks = np.linspace(0.05, 0.9, 40)
    pos, neg = (risks, np.empty(0)) if which == "events_only" else (np.empty(0), risks)
    est = calibration_point(pos, neg)
    for key in (
        "citl",
        "calibration_slope",
        "recalibration_intercept",
        "ici",
        "scaled_brier",
        "discrimination_slope",
    ):
        assert math.isnan(est.values[key]), key
    assert any("only one outcome class" in m for m in est.problems)
    assert est.spline_coef == ()


def test_empty_group():
    est = calibration_point(np.empty(0), np.empty(0))
    assert all(math.isnan(v) for v in est.values.values())
    assert est.problems == ("group has no patients; calibration not computed",)


def test_two_distinct_risks_fall_back_to_a_linear_smoother():
    p = np.repeat([0.1, 0.3], 100)
    y = np.zeros(200)
    y[:15] = 1  # 15 % observed where 10 % predicted
    y[100:140] = 1  # 40 % observed where 30 % predicted
    est = calibration_point(*_split(y, p))
    assert est.knots == () and est.smoother["knots"] == 0
    assert any("linear in logit(p)" in m for m in est.problems)
    # two risk levels: the linear fit reproduces both observed proportions exactly
    assert est.values["ici"] == pytest.approx((0.05 + 0.10) / 2, abs=1e-8)
    assert est.values["emax"] == pytest.approx(0.10, abs=1e-8)


def test_fit_logistic_start_changes_iterations_not_the_answer():
    y, p = _cohort(500, 101)
    lp = np.log(p / (1 - p))
    X = np.column_stack([np.ones(y.size), lp])
    cold = fit_logistic(X, y)
    warm = fit_logistic(X, y, start=cold.coef)
    np.testing.assert_allclose(warm.coef, cold.coef, atol=1e-10)
    assert warm.iterations <= 2 < cold.iterations
    bad = fit_logistic(X, y, start=[0.0])
    assert not bad.converged and "inconsistent sizes" in bad.message


# --- the named steps of calibration_point (each returns values, nothing is mutated) ----------


def test_steps_keep_the_notes_in_report_order():
    """Clipping, then one class, then the metrics' own notes: the order the report shows."""
    from cohortaudit.metrics.calibration import _group_data, _input_problems

    g = _group_data(np.array([0.0, 0.3]), np.array([]))
    notes = _input_problems(g).problems
    assert notes[0].startswith("1 predicted risk(s) at or beyond 0 or 1 were clipped")
    assert notes[1].startswith("group has only one outcome class")
    assert calibration_point(np.array([0.0, 0.3]), np.array([])).problems[:2] == notes


def test_too_few_patients_give_no_curve_and_no_smoother_settings():
    from cohortaudit.metrics.calibration import _calibration_curve, _group_data

    curve = _calibration_curve(
        _group_data(np.full(3, 0.4), np.full(4, 0.2)), 4, intercept=math.nan, slope=math.nan
    )
    assert curve.smoother is None and curve.knots.size == 0 and not curve.metrics.values
    assert curve.metrics.problems[0].startswith("too few patients for the calibration curve")


def test_step_results_are_frozen():
    from dataclasses import FrozenInstanceError

    from cohortaudit.metrics.calibration import _group_data, _observed_expected

    m = _observed_expected(_group_data(np.array([0.5]), np.array([0.5])), Z)
    assert m.values == {"oe_ratio": 1.0}
    with pytest.raises(FrozenInstanceError):
        m.values = {}


def test_the_tail_probabilities_are_scipy_stats_own_to_the_last_bit():
    """The audit path does not import scipy.stats (issue 18: ~1 s of start-up); the p-values
    must still be exactly what norm.sf and chi2.sf give."""
    from cohortaudit.metrics import calibration as cal

    rng = np.random.default_rng(18)
    for x in np.abs(rng.normal(size=2000)) * 4:
        assert cal._norm_sf(float(x)) == float(stats.norm.sf(x))
    for x, df in zip(rng.random(2000) * 40, rng.integers(1, 20, 2000), strict=True):
        assert cal._chi2_sf(float(x), int(df)) == float(stats.chi2.sf(x, int(df)))


def test_a_converged_fit_hands_back_the_fitted_risks_of_its_coefficients_bit_for_bit():
    """The smoother reuses the fit's last pass instead of recomputing expit(design coef)."""
    from cohortaudit.metrics import calibration as cal
    from cohortaudit.metrics import portable

    rng = np.random.default_rng(19)
    lp = rng.normal(-2.0, 1.0, 5000)
    y = (rng.random(5000) < special.expit(0.2 + 0.9 * lp)).astype(float)
    design = cal._design(np.ones(lp.size), *cal.rcs_basis(lp, cal.choose_knots(lp)).T)
    fit = cal.fit_logistic(design, y, start=[0.0, 1.0, 0.0, 0.0])
    assert fit.converged and fit.fitted is not None
    expected = special.expit(portable.combine(design.T, fit.coef))
    assert np.array_equal(fit.fitted, expected)
