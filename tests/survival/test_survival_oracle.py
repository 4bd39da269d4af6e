"""Every survival estimator against scikit-survival and lifelines, run in the test-only oracle
venv (``survival_oracle.py``). Locally a venv that cannot be built skips these tests with the
reason; under CI (the CI variable is set, as ``./dev.sh test`` does) it fails them, because a
lane that silently skips the independent check is not the full lane.

Tolerance 1e-10 wherever the definition is identical (the same sums in another order). The Cox
fits are iterative in both libraries (Newton; lifelines' stopping rule tightened to 1e-12 in the
oracle script, its default stops ~2e-5 short of the maximum): 1e-8 on the coefficient, its SE
and the predicted risks, far below any reported digit.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import survival_cases as cases
import survival_oracle as oracle

from cohortaudit.metrics.calibration import choose_knots, rcs_basis
from cohortaudit.survival import (
    auc_t,
    brier_at,
    calibration_at,
    decision_curve,
    flexible_calibration,
    harrell_c,
    summarize_follow_up,
    uno_c,
)
from cohortaudit.survival.calibration import cloglog

IN_CI = bool(os.environ.get("CI"))
EXACT = 1e-10
ITERATIVE = 1e-8
THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7)


@pytest.fixture(scope="module")
def answers():
    oracle.require(IN_CI)
    datasets = {
        "continuous": cases.continuous(),
        "small": cases.continuous(n=60, seed=5),
        "tied": cases.tied(),
    }
    payload = []
    for name, (t, e, r, tau) in datasets.items():
        basis = rcs_basis(cloglog(r), choose_knots(cloglog(r), 3))
        payload.append(
            {"time": t.tolist(), "event": e.tolist(), "risk": r.tolist(), "tau": tau,
             "shift": 1e-6 if name == "tied" else 0.0, "basis": basis.tolist(),
             "thresholds": list(THRESHOLDS)}
        )  # fmt: skip
    got = oracle.run(payload)
    return {name: (datasets[name], got[i]) for i, name in enumerate(datasets)}


NAMES = ("continuous", "small", "tied")


def test_the_oracle_venv_has_the_pinned_versions(answers):
    v = oracle.versions()
    assert v["scikit-survival"] == "0.28.0" and v["lifelines"] == "0.30.3"


@pytest.mark.parametrize("name", NAMES)
def test_harrell_c_truncated_at_the_horizon_matches_sksurv_and_lifelines(answers, name):
    (t, e, r, tau), o = answers[name]
    c = harrell_c(t, e, r, horizon=tau).value
    assert c == pytest.approx(o["harrell_sksurv"], abs=EXACT)
    if "harrell_lifelines" in o:  # lifelines on the unshifted data (its own tie rules)
        assert c == pytest.approx(o["harrell_lifelines"], abs=EXACT)


@pytest.mark.parametrize("name", NAMES)
def test_uno_c_matches_sksurv_concordance_index_ipcw(answers, name):
    (t, e, r, tau), o = answers[name]
    assert uno_c(t, e, r, horizon=tau).value == pytest.approx(o["uno_sksurv"], abs=EXACT)


@pytest.mark.parametrize("name", NAMES)
def test_auc_t_matches_sksurv_cumulative_dynamic_auc(answers, name):
    (t, e, r, tau), o = answers[name]
    assert auc_t(t, e, r, horizon=tau).value == pytest.approx(o["auc_sksurv"], abs=EXACT)


@pytest.mark.parametrize("name", NAMES)
def test_ipcw_brier_matches_sksurv_brier_score(answers, name):
    (t, e, r, tau), o = answers[name]
    assert brier_at(t, e, r, horizon=tau).brier.value == pytest.approx(o["brier_sksurv"], abs=EXACT)


@pytest.mark.parametrize("name", NAMES)
def test_kaplan_meier_and_its_log_log_interval_match_lifelines_and_sksurv(answers, name):
    (t, e, r, tau), o = answers[name]
    s = summarize_follow_up(t, e, horizon=tau)
    assert s.survival == pytest.approx(o["km_lifelines"], abs=EXACT)
    assert s.survival == pytest.approx(o["km_sksurv"], abs=EXACT)
    risk = s.observed_risk
    for lo, hi in (o["km_ci_lifelines"], o["km_ci_sksurv"]):
        assert risk.lower == pytest.approx(1 - hi, abs=EXACT)
        assert risk.upper == pytest.approx(1 - lo, abs=EXACT)


@pytest.mark.parametrize("name", ("continuous", "small"))
def test_reverse_km_median_follow_up_matches_lifelines_on_tie_free_times(answers, name):
    (t, e, r, tau), o = answers[name]
    med = summarize_follow_up(t, e, horizon=tau).median_follow_up.value
    assert med == pytest.approx(o["median_fu_lifelines"], abs=EXACT)


@pytest.mark.parametrize("name", NAMES)
def test_cox_calibration_slope_matches_lifelines(answers, name):
    (t, e, r, tau), o = answers[name]
    slope = calibration_at(t, e, r, horizon=tau).calibration_slope
    assert slope.value == pytest.approx(o["slope_lifelines"], abs=ITERATIVE)
    se = (slope.upper - slope.lower) / (2 * 1.959963984540054)
    assert se == pytest.approx(o["slope_se_lifelines"], abs=ITERATIVE)


@pytest.mark.parametrize("name", NAMES)
def test_flexible_calibration_matches_lifelines_spline_cox_predictions(answers, name):
    (t, e, r, tau), o = answers[name]
    flex = flexible_calibration(t, e, r, horizon=tau)
    d = np.abs(np.asarray(o["flex_observed_lifelines"]) - r)
    assert flex.ici.value == pytest.approx(d.mean(), abs=ITERATIVE)
    assert flex.e50.value == pytest.approx(np.median(d), abs=ITERATIVE)
    assert flex.e90.value == pytest.approx(np.quantile(d, 0.9), abs=ITERATIVE)
    assert flex.emax.value == pytest.approx(d.max(), abs=ITERATIVE)


@pytest.mark.parametrize("name", NAMES)
def test_decision_curve_matches_lifelines_km_among_the_treated(answers, name):
    (t, e, r, tau), o = answers[name]
    curve = decision_curve(t, e, r, horizon=tau, thresholds=THRESHOLDS)
    for point, nb, nb_all in zip(curve, o["nb_lifelines"], o["nb_all_lifelines"], strict=True):
        if point.net_benefit is None:  # lifelines carries the last KM value past follow-up
            assert t[r >= point.threshold].max() < tau and point.reason
        else:
            assert point.net_benefit == pytest.approx(nb, abs=EXACT)
        assert point.net_benefit_treat_all == pytest.approx(nb_all, abs=EXACT)
