"""Hand-worked examples (every number below is worked out in the comments), the stated
conventions (ties, censoring at the horizon, events at the horizon), and every validation and
not-evaluable branch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cohortaudit.errors import ConfigError, SchemaError
from cohortaudit.survival import (
    METRIC_KEYS,
    auc_t,
    brier_at,
    calibration_at,
    decision_curve,
    flexible_calibration,
    harrell_c,
    summarize,
    summarize_follow_up,
    threshold_metrics,
    uno_c,
)
from cohortaudit.survival.km import Z95

# Six patients, horizon 3. Patient 3 is censored at 2, tied with patient 2's event at 2.
T = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 5.0])
E = np.array([1, 1, 0, 1, 0, 0])
R = np.array([0.8, 0.6, 0.7, 0.3, 0.3, 0.2])
TAU = 3.0
# Kaplan-Meier: t=1: 6 at risk, 1 event -> 5/6; t=2: 5 at risk (the censored one included:
# events first), 1 event -> 4/6; t=3: 3 at risk, 1 event -> 4/9.  Greenwood sum
# 1/(6*5) + 1/(5*4) + 1/(3*2) = 1/4.
S_TAU = 4 / 9
# Censoring KM (events removed first at ties): t=2: 4 at risk of censoring, 1 censored -> 3/4;
# t=4: 2 at risk, 1 censored -> 3/8 (first value <= 0.5: median follow-up 4); t=5 -> 0.
# IPCW weights 1/G(t-): events at 1 and 2 -> 1, event at 3 -> 4/3; event-free at 3 -> 4/3.
W3 = 4 / 3


def test_kaplan_meier_counts_and_greenwood_log_log_interval_by_hand():
    s = summarize_follow_up(T, E, horizon=TAU)
    assert (s.n, s.events, s.censored_before, s.at_risk) == (6, 3, 1, 3)
    assert s.survival == pytest.approx(S_TAU, abs=1e-15)
    se = math.sqrt(0.25) / abs(math.log(S_TAU))
    assert s.observed_risk.value == pytest.approx(5 / 9, abs=1e-15)
    assert s.observed_risk.lower == pytest.approx(1 - S_TAU ** math.exp(-Z95 * se), abs=1e-14)
    assert s.observed_risk.upper == pytest.approx(1 - S_TAU ** math.exp(Z95 * se), abs=1e-14)
    assert s.median_follow_up.value == 4.0


def test_harrell_c_by_hand_with_tied_times_and_tied_risks():
    # Event at 1 (0.8): 5 pairs, all concordant.  Event at 2 (0.6): pairs with the censored-at-2
    # (0.7, discordant: events come first, so it outlived the event) and 0.3, 0.3, 0.2 -> 3 of 4.
    # Event at 3 (0.3): pairs with 0.3 (tie, 1/2) and 0.2 -> 1.5 of 2.  C = 9.5 / 11.
    assert harrell_c(T, E, R, horizon=TAU).value == pytest.approx(9.5 / 11, abs=1e-15)


def test_uno_c_by_hand():
    # Pair weights 1/G(T_i-)^2: 1, 1, 16/9.  (5 + 3 + 1.5*16/9) / (5 + 4 + 2*16/9) = 96/113.
    assert uno_c(T, E, R, horizon=TAU).value == pytest.approx(96 / 113, abs=1e-15)


def test_auc_t_by_hand():
    # Cases 0.8 (w 1), 0.6 (w 1), 0.3 (w 4/3); controls 0.3, 0.2; the censored at 2 is neither.
    # (1*2 + 1*2 + 4/3*1.5) / ((1 + 1 + 4/3) * 2) = 6 / (20/3) = 0.9.
    assert auc_t(T, E, R, horizon=TAU).value == pytest.approx(0.9, abs=1e-15)


def test_ipcw_brier_and_ipa_by_hand():
    # Cases (1-r)^2/G: .04 + .16 + .49*4/3; controls r^2/G(3-): (.09 + .04)*4/3; censored: 0.
    brier = (0.04 + 0.16 + 0.49 * W3 + 0.13 * W3) / 6
    # Null model 5/9 for everyone: cases (4/9)^2 * (1 + 1 + 4/3), controls (5/9)^2 * 8/3.
    null = ((4 / 9) ** 2 * (10 / 3) + (5 / 9) ** 2 * (8 / 3)) / 6
    got = brier_at(T, E, R, horizon=TAU)
    assert got.brier.value == pytest.approx(brier, abs=1e-15)
    assert got.brier_null.value == pytest.approx(null, abs=1e-15)
    assert got.scaled_brier.value == pytest.approx(1 - brier / null, abs=1e-14)


def test_threshold_metrics_by_hand():
    # Positive iff r >= 0.5: patients 1, 2, 3 (3 is censored before tau: weight 0).
    m = threshold_metrics(T, E, R, horizon=TAU, threshold=0.5)
    assert m.sensitivity.value == pytest.approx(2 / (2 + W3), abs=1e-15)  # 0.6
    assert m.specificity.value == 1.0
    assert m.ppv.value == 1.0
    assert m.npv.value == pytest.approx(2 * W3 / (3 * W3), abs=1e-15)  # 2/3


def test_net_benefit_by_hand_and_no_extrapolation_past_the_treated_follow_up():
    by_t = {p.threshold: p for p in decision_curve(T, E, R, horizon=TAU, thresholds=(0.25, 0.5))}
    # t = 0.25: treated = first five (P = 5/6); their KM: 4/5, 3/5, then 3/10 at t=3.
    assert by_t[0.25].net_benefit == pytest.approx(5 / 6 * 0.7 - 5 / 6 * 0.3 / 3, abs=1e-15)
    assert by_t[0.25].net_benefit_treat_all == pytest.approx(5 / 9 - 4 / 9 / 3, abs=1e-15)
    # t = 0.5: the treated (times 1, 2, 2) are not followed to 3: not evaluable, not 1 - S(2).
    assert by_t[0.5].net_benefit is None
    assert "follow-up ends before the horizon" in by_t[0.5].reason


def test_censored_exactly_at_the_horizon_is_event_free_and_an_event_at_it_counts():
    t = np.array([1.0, 2.0, 3.0, 3.0, 4.0])
    e = np.array([1, 0, 0, 1, 0])
    s = summarize_follow_up(t, e, horizon=3.0)
    # KM: 4/5 at 1; at 3, three at risk (3, 3, 4), one event -> 4/5 * 2/3.
    assert (s.events, s.censored_before, s.at_risk) == (2, 1, 3)
    assert s.survival == pytest.approx(0.8 * 2 / 3, abs=1e-15)
    r = np.array([0.9, 0.5, 0.1, 0.6, 0.2])
    # Controls: censored at 3 (0.1) and the patient at 4 (0.2); cases 0.9 (w 1), 0.6 (w 4/3).
    assert auc_t(t, e, r, horizon=3.0).value == 1.0
    m = threshold_metrics(t, e, r, horizon=3.0, threshold=0.15)
    assert m.specificity.value == 0.5  # the censored-at-3 patient is a true negative


def test_a_group_without_events_is_not_evaluable_where_undefined_and_never_nan():
    t = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    e = np.zeros(6, int)
    r = np.linspace(0.1, 0.6, 6)
    got = summarize(t, e, r, 3.0, 0.3)
    assert set(got.metrics) == set(METRIC_KEYS)
    for key in ("harrell_c", "uno_c", "auc_t", "calibration_slope", "ici", "e50", "e90",
                "emax", "sensitivity", "scaled_brier"):  # fmt: skip
        assert got.metrics[key].value is None and "no events" in got.metrics[key].reason, key
    assert got.value("observed_risk") == 0.0 and got.metrics["observed_risk"].lower is None
    assert got.value("oe_ratio") == 0.0 and "no interval" in got.metrics["oe_ratio"].reason
    for est in got.metrics.values():
        for v in (est.value, est.lower, est.upper):
            assert v is None or math.isfinite(v)


def test_nobody_event_free_at_the_horizon_leaves_auc_and_specificity_not_evaluable():
    t, e, r = np.array([1.0, 2.0, 3.0]), np.array([1, 1, 1]), np.array([0.2, 0.5, 0.9])
    assert "no controls" in auc_t(t, e, r, horizon=3.0).reason
    assert threshold_metrics(t, e, r, horizon=3.0, threshold=0.5).specificity.value is None


def test_a_horizon_beyond_the_last_follow_up_is_a_clear_error_without_the_maximum():
    with pytest.raises(ConfigError, match=r"horizon \(6\) is beyond the last follow-up") as exc:
        harrell_c(T, E, R, horizon=6.0)
    assert "5" not in str(exc.value).replace("6", "")  # the maximum (5) is a patient's value


def test_everyone_censored_before_the_horizon_is_the_same_error():
    with pytest.raises(ConfigError, match="nobody is at risk at the horizon"):
        summarize(np.array([1.0, 2.0]), np.array([0, 0]), np.array([0.1, 0.2]), 3.0, 0.5)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"time": [1.0, -2.0]}, SchemaError, r"must be > 0, but 1 of 2 patients"),
        ({"time": [1.0, np.nan]}, SchemaError, r"'time' argument must be finite, but 1 of 2"),
        ({"time": ["a", "b"]}, SchemaError, r"'time' argument must be numeric"),
        ({"event": [1, 2]}, SchemaError, r"must be 0/1 .* but 1 of 2 values"),
        ({"event": [1]}, SchemaError, r"same length; got 2 and 1"),
        ({"risk": [0.5, 1.5]}, SchemaError, r"probability in \[0, 1\], but 1 of 2"),
        ({"risk": [0.5]}, SchemaError, r"one value per patient; got 1 for 2"),
        ({"time": [], "event": [], "risk": []}, SchemaError, "empty"),
        ({"horizon": 0.0}, ConfigError, r"'horizon' parameter must be a positive finite"),
        ({"horizon": "10"}, ConfigError, r"'horizon' parameter must be a positive number"),
        ({"horizon": True}, ConfigError, r"Got bool instead"),
    ],
)
def test_every_validation_branch_names_the_problem(kwargs, error, message):
    args = {"time": [1.0, 2.0], "event": [1, 0], "risk": [0.2, 0.4], "horizon": 1.5} | kwargs
    with pytest.raises(error, match=message):
        harrell_c(args["time"], args["event"], args["risk"], horizon=args["horizon"])


@pytest.mark.parametrize("threshold", [0.0, 1.0, "0.5", True])
def test_threshold_outside_the_open_unit_interval_is_refused(threshold):
    with pytest.raises(ConfigError, match=r"'threshold' parameter must be a float in \(0, 1\)"):
        threshold_metrics(T, E, R, horizon=TAU, threshold=threshold)


def test_n_knots_other_than_3_or_4_is_refused():
    with pytest.raises(ConfigError, match=r"'n_knots' parameter must be 3 or 4. Got 5"):
        flexible_calibration(T, E, R, horizon=TAU, n_knots=5)


def test_oe_ratio_interval_is_poisson_on_the_number_of_events():
    cal = calibration_at(T, E, R, horizon=TAU)
    oe = (5 / 9) / R.mean()
    assert cal.oe_ratio.value == pytest.approx(oe, abs=1e-15)
    assert cal.oe_ratio.lower == pytest.approx(oe * math.exp(-Z95 / math.sqrt(3)), abs=1e-14)
    assert cal.oe_ratio.upper == pytest.approx(oe * math.exp(Z95 / math.sqrt(3)), abs=1e-14)
    assert cal.expected_risk.value == pytest.approx(R.mean(), abs=1e-15)


def test_risks_of_exactly_zero_or_one_are_clipped_and_counted():
    t = np.arange(1.0, 21.0)
    e = np.tile([1, 0], 10)
    r = np.random.default_rng(0).permutation(np.linspace(0.0, 1.0, 20))
    cal = calibration_at(t, e, r, horizon=15.0)
    assert cal.n_clipped == 2 and math.isfinite(cal.calibration_slope.value)


def test_a_diverging_cox_fit_is_not_evaluable_with_the_reason_not_a_warning():
    # risk rises with follow-up time in perfect order: the partial likelihood has no maximum
    t, e = np.arange(1.0, 21.0), np.tile([1, 0], 10)
    slope = calibration_at(t, e, np.linspace(0.01, 0.99, 20), horizon=15.0).calibration_slope
    assert slope.value is None and "Cox fit" in slope.reason


def test_identical_predictions_leave_the_slope_and_the_spline_not_evaluable():
    t, e = np.arange(1.0, 21.0), np.tile([1, 0], 10)
    r = np.full(20, 0.3)
    assert "the same" in calibration_at(t, e, r, horizon=15.0).calibration_slope.reason
    assert "distinct predicted risks" in flexible_calibration(t, e, r, horizon=15.0).reason
    assert harrell_c(t, e, r, horizon=15.0).value == 0.5


def test_risk_groups_need_at_least_two_groups():
    from cohortaudit.survival import risk_groups

    with pytest.raises(ConfigError, match=r"'groups' parameter must be an integer >= 2. Got 1"):
        risk_groups(T, E, R, horizon=TAU, groups=1)


def test_summarize_carries_the_curves_and_the_risk_groups():
    got = summarize(T, E, R, TAU, 0.5)
    assert (got.n, got.events, got.censored_before, got.at_risk) == (6, 3, 1, 3)
    assert len(got.decision_curve) == 99 and got.decision_curve[0].threshold == 0.01
    assert sum(g.n for g in got.risk_groups) == 6
    assert got.value("harrell_c") == pytest.approx(9.5 / 11, abs=1e-15)


def test_every_method_choice_has_a_settings_line():
    from cohortaudit.survival import SETTINGS

    for key in ("censored_at_horizon", "tied_times", "observed_risk", "ipcw", "harrell_c",
                "calibration_slope", "flexible_calibration", "brier", "threshold_metrics",
                "decision_curve"):  # fmt: skip
        assert SETTINGS[key]
