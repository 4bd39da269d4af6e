"""Survival estimators against statsmodels (SurvfuncRight, PHReg re-fit here), scikit-learn in
the uncensored limit, and brute force where we use a shortcut. Runs in the project's venv.

Tolerance 1e-10 throughout: the definitions are identical, only the arithmetic differs
(cohortaudit's own Newton fit of the Efron partial likelihood, ``survival.cox``, against
statsmodels' ``PHReg`` Newton fit: both reach the maximum, observed difference ~2e-15).
"""

from __future__ import annotations

import numpy as np
import pytest
import survival_cases as cases
from sklearn.metrics import brier_score_loss, confusion_matrix, roc_auc_score
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight

from cohortaudit.metrics.calibration import choose_knots, rcs_basis
from cohortaudit.survival import (
    auc_t,
    brier_at,
    calibration_at,
    check_survival,
    decision_curve,
    flexible_calibration,
    harrell_c,
    risk_groups,
    summarize_follow_up,
    threshold_metrics,
    uno_c,
)
from cohortaudit.survival.calibration import cloglog
from cohortaudit.survival.cox import breslow_cumhaz
from cohortaudit.survival.km import Z95, ipcw_weights

EXACT = 1e-10
DATASETS = {
    "continuous": cases.continuous(),
    "tied": cases.tied(),
    "small": cases.continuous(60, 5),
}


def _step(times: np.ndarray, values: np.ndarray, t: float) -> float:
    i = np.searchsorted(times, t, side="right") - 1
    return 1.0 if i < 0 else float(values[i])


@pytest.mark.parametrize("name", list(DATASETS))
def test_km_survival_and_greenwood_log_log_interval_match_statsmodels(name):
    t, e, _, tau = DATASETS[name]
    sf = SurvfuncRight(t, e)
    s = _step(sf.surv_times, sf.surv_prob, tau)
    se_s = _step(sf.surv_times, sf.surv_prob_se, tau)
    got = summarize_follow_up(t, e, horizon=tau)
    assert got.survival == pytest.approx(s, abs=EXACT)
    se_theta = se_s / (s * abs(np.log(s)))  # delta method: Var log(-log S) = Var S / (S log S)^2
    assert got.observed_risk.value == pytest.approx(1 - s, abs=EXACT)
    assert got.observed_risk.lower == pytest.approx(1 - s ** np.exp(-Z95 * se_theta), abs=EXACT)
    assert got.observed_risk.upper == pytest.approx(1 - s ** np.exp(Z95 * se_theta), abs=EXACT)


@pytest.mark.parametrize("name", ["continuous", "small"])
def test_reverse_km_median_follow_up_matches_statsmodels_on_flipped_indicator(name):
    t, e, _, tau = DATASETS[name]
    want = SurvfuncRight(t, 1 - e).quantile(0.5)
    assert summarize_follow_up(t, e, horizon=tau).median_follow_up.value == pytest.approx(want)


@pytest.mark.parametrize("name", list(DATASETS))
def test_follow_up_counts_follow_the_stated_conventions(name):
    t, e, _, tau = DATASETS[name]
    got = summarize_follow_up(t, e, horizon=tau)
    assert got.events == np.sum((e == 1) & (t <= tau))
    assert got.censored_before == np.sum((e == 0) & (t < tau))
    assert got.at_risk == np.sum(t >= tau)
    assert got.n == got.events + got.censored_before + np.sum((t > tau) | ((t == tau) & (e == 0)))


@pytest.mark.parametrize("name", list(DATASETS))
def test_calibration_slope_matches_a_phreg_refit_on_follow_up_truncated_at_tau(name):
    t, e, r, tau = DATASETS[name]
    x = np.log(-np.log(1 - r))
    fit = PHReg(np.minimum(t, tau), x[:, None], status=((e == 1) & (t <= tau)).astype(float),
                ties="efron").fit(method="newton")  # fmt: skip
    slope = calibration_at(t, e, r, horizon=tau).calibration_slope
    assert slope.value == pytest.approx(fit.params[0], abs=EXACT)
    assert slope.lower == pytest.approx(fit.params[0] - Z95 * fit.bse[0], abs=EXACT)
    assert slope.upper == pytest.approx(fit.params[0] + Z95 * fit.bse[0], abs=EXACT)


@pytest.mark.parametrize("n_knots", [3, 4])
@pytest.mark.parametrize("name", list(DATASETS))
def test_flexible_calibration_matches_phreg_spline_fit_and_its_baseline_hazard(name, n_knots):
    t, e, r, tau = DATASETS[name]
    x = np.log(-np.log(1 - r))
    basis = rcs_basis(x, choose_knots(x, n_knots))
    tt, et = np.minimum(t, tau), ((e == 1) & (t <= tau))
    fit = PHReg(tt, basis, status=et.astype(float), ties="efron").fit(method="newton")
    # statsmodels reports the Breslow (Nelson-Aalen type) cumulative hazard *just before*
    # each failure time, H(s_k-); ours at s_k- must equal it, and H(tau) adds the last jump.
    bt, bch, _ = fit.baseline_cumulative_hazard[0]
    lp = basis @ fit.params
    before = [breslow_cumhaz(tt, et, lp, np.nextafter(s, -np.inf)) for s in bt]
    assert before == pytest.approx(bch, rel=EXACT, abs=EXACT)
    last = bt[-1]
    h0 = bch[-1] + np.sum(et & (tt == last)) / np.sum(np.exp(lp)[tt >= last])
    assert breslow_cumhaz(tt, et, lp, tau) == pytest.approx(h0, rel=EXACT)
    d = np.abs(1 - np.exp(-h0 * np.exp(lp)) - r)
    flex = flexible_calibration(t, e, r, horizon=tau, n_knots=n_knots)
    assert flex.ici.value == pytest.approx(d.mean(), abs=EXACT)
    assert flex.e50.value == pytest.approx(np.median(d), abs=EXACT)
    assert flex.e90.value == pytest.approx(np.quantile(d, 0.9), abs=EXACT)
    assert flex.emax.value == pytest.approx(d.max(), abs=EXACT)
    grid = np.array([g for g, _ in flex.curve])
    assert grid.min() >= r.min() and grid.max() <= r.max()  # never extrapolated
    lp_grid = rcs_basis(cloglog(grid), choose_knots(x, n_knots)) @ fit.params
    assert [o for _, o in flex.curve] == pytest.approx(1 - np.exp(-h0 * np.exp(lp_grid)), abs=EXACT)


def test_harrell_jackknife_shortcut_equals_brute_force_leave_one_out():
    t, e, r, tau = cases.tied(n=40, seed=11)
    c = harrell_c(t, e, r, horizon=tau)
    loo = np.array([harrell_c(np.delete(t, k), np.delete(e, k), np.delete(r, k), horizon=tau).value
                    for k in range(t.size)])  # fmt: skip
    se = np.sqrt((t.size - 1) / t.size * np.sum((loo - loo.mean()) ** 2))
    assert c.lower == pytest.approx(max(0.0, c.value - Z95 * se), abs=EXACT)
    assert c.upper == pytest.approx(min(1.0, c.value + Z95 * se), abs=EXACT)


@pytest.mark.parametrize("name", list(DATASETS))
def test_ipcw_weights_reproduce_kaplan_meier_risk(name):
    # Satten & Datta (2001): the IPCW mean of "event by tau" with KM censoring weights is 1 - KM.
    t, e, r, tau = DATASETS[name]
    data = check_survival(t, e, r, horizon=tau)
    w = ipcw_weights(data)
    km_risk = summarize_follow_up(t, e, horizon=tau).observed_risk.value
    assert np.sum(w[data.case]) / data.n == pytest.approx(km_risk, abs=EXACT)
    assert np.sum(w[data.case | data.control]) / data.n == pytest.approx(1.0, abs=EXACT)


def _uncensored(seed=7, n=300):
    rng = np.random.default_rng(seed)
    r = np.round(rng.uniform(0.05, 0.95, n), 2)
    t = rng.exponential(5 * (1 - r) + 0.2)
    tau = float(np.quantile(t, 0.6))
    return t, np.ones(n, int), r, tau, (t <= tau).astype(int)


def test_without_censoring_every_estimator_is_its_binary_counterpart():
    t, e, r, tau, y = _uncensored()
    assert auc_t(t, e, r, horizon=tau).value == pytest.approx(roc_auc_score(y, r), abs=EXACT)
    assert brier_at(t, e, r, horizon=tau).brier.value == pytest.approx(
        brier_score_loss(y, r), abs=EXACT
    )
    assert uno_c(t, e, r, horizon=tau).value == pytest.approx(
        harrell_c(t, e, r, horizon=tau).value, abs=EXACT
    )
    tn, fp, fn, tp = confusion_matrix(y, (r >= 0.4).astype(int)).ravel()
    m = threshold_metrics(t, e, r, horizon=tau, threshold=0.4)
    assert m.sensitivity.value == pytest.approx(tp / (tp + fn), abs=EXACT)
    assert m.specificity.value == pytest.approx(tn / (tn + fp), abs=EXACT)
    assert m.ppv.value == pytest.approx(tp / (tp + fp), abs=EXACT)
    assert m.npv.value == pytest.approx(tn / (tn + fn), abs=EXACT)
    n, prev = y.size, y.mean()
    for point in decision_curve(t, e, r, horizon=tau, thresholds=(0.1, 0.4, 0.7)):
        pos = r >= point.threshold
        odds = point.threshold / (1 - point.threshold)
        tp_, fp_ = np.sum(pos & (y == 1)), np.sum(pos & (y == 0))
        assert point.net_benefit == pytest.approx(tp_ / n - fp_ / n * odds, abs=EXACT)
        assert point.net_benefit_treat_all == pytest.approx(prev - (1 - prev) * odds, abs=EXACT)


def _brute_force_c(t, e, r, tau, w):
    num = den = 0.0
    for i in range(t.size):
        if not (e[i] == 1 and t[i] <= tau):
            continue
        for j in range(t.size):
            if t[j] > t[i] or (t[j] == t[i] and e[j] == 0):
                den += w[i] ** 2
                num += w[i] ** 2 * (1.0 if r[i] > r[j] else 0.5 if r[i] == r[j] else 0.0)
    return num / den


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_merge_sort_pair_counts_equal_a_double_loop_over_every_pair(seed):
    t, e, r, tau = cases.tied(n=150, seed=seed)
    data = check_survival(t, e, r, horizon=tau)
    ones = np.ones(t.size)
    assert harrell_c(t, e, r, horizon=tau).value == pytest.approx(
        _brute_force_c(t, e, r, tau, ones), abs=EXACT
    )
    assert uno_c(t, e, r, horizon=tau).value == pytest.approx(
        _brute_force_c(t, e, r, tau, ipcw_weights(data)), abs=EXACT
    )


@pytest.mark.parametrize("name", list(DATASETS))
def test_risk_deciles_observed_risk_matches_statsmodels_km_of_each_decile(name):
    t, e, r, tau = DATASETS[name]
    got = risk_groups(t, e, r, horizon=tau)
    cuts = np.unique(np.quantile(r, np.arange(1, 10) / 10))
    assert sum(g.n for g in got) == t.size and len(got) == cuts.size + 1
    lower = -np.inf
    for g, upper in zip(got, [*cuts, np.inf], strict=True):
        m = (r > lower) & (r <= upper) if np.isfinite(lower) else r <= upper
        lower = upper
        assert g.n == m.sum() and g.expected_risk == pytest.approx(r[m].mean(), abs=EXACT)
        if t[m].max() < tau:
            assert g.observed_risk.value is None
            continue
        sf = SurvfuncRight(t[m], e[m])
        assert g.observed_risk.value == pytest.approx(
            1 - _step(sf.surv_times, sf.surv_prob, tau), abs=EXACT
        )
        assert g.events == np.sum(m & (e == 1) & (t <= tau))
