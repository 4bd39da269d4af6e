"""The fast engine against fairlearn's MetricFrame and fairness functions, exactly.

fairlearn and sklearn are the independent implementations here: the engine must give the
same number for every group, every intersection and every fairness summary.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    f1_score,
    precision_score,
    roc_auc_score,
)

from cohortaudit.audit import run_audit
from cohortaudit.config import AuditConfig
from cohortaudit.metrics.bootstrap import binned_metrics, group_histograms, make_score_grid
from cohortaudit.metrics.subgroups import compute_group_metrics
from cohortaudit.render.json import result_to_json, validate_result_dict
from cohortaudit.results import AuditResult

THRESHOLD = 0.3


def _npv(y, yp):
    tn = np.sum((y == 0) & (yp == 0))
    fn = np.sum((y == 1) & (yp == 0))
    return tn / (tn + fn)


def make_scored_cohort(n=6000, seed=0, *, tiny_group=True):
    """Seeded scores-mode cohort: three attributes, unequal groups, group-dependent skill."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    region = rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2])
    probs = [0.55, 0.3, 0.145, 0.005] if tiny_group else [0.55, 0.3, 0.1, 0.05]
    eth = rng.choice(["A", "B", "C", "D"], n, p=probs)
    x = rng.normal(size=n)
    skill = np.where(sex == "F", 0.6, 1.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-(x - 1.2)))).astype(np.int8)
    p = 1 / (1 + np.exp(-(skill * x - 1.2 + rng.normal(scale=0.3, size=n))))
    groups = pd.DataFrame({"sex": sex, "region": region, "ethnicity": eth})
    return y, p, groups


def _cohort(y, p, groups):
    return SimpleNamespace(
        features=None,
        y_true=y,
        y_score=p,
        groups=groups,
        n_input_rows=len(y),
        n_dropped=0,
        caveats=(),
    )


METRICS = {
    "sensitivity": true_positive_rate,
    "specificity": true_negative_rate,
    "fpr": false_positive_rate,
    "fnr": false_negative_rate,
    "ppv": lambda y, yp: precision_score(y, yp, zero_division=np.nan),
    "npv": _npv,
    "accuracy": accuracy_score,
    "balanced_accuracy": balanced_accuracy_score,
    "f1": f1_score,
    "selection_rate": selection_rate,
}


@pytest.fixture(scope="module")
def engine_and_data():
    y, p, groups = make_scored_cohort(tiny_group=False)
    out = compute_group_metrics(
        p,
        y,
        groups,
        threshold=THRESHOLD,
        z=1.959964,
        confidence=0.95,
        n_boot=0,
        seed=1,
        max_bins=1024,
        max_order=3,
    )
    return out, y, p, groups


@pytest.mark.parametrize(
    "attrs", [("sex",), ("ethnicity",), ("sex", "region"), ("sex", "region", "ethnicity")]
)
def test_threshold_metrics_equal_fairlearn_metricframe_for_every_group(engine_and_data, attrs):
    out, y, p, groups = engine_and_data
    yp = (p >= THRESHOLD).astype(int)
    mf = MetricFrame(metrics=METRICS, y_true=y, y_pred=yp, sensitive_features=groups[list(attrs)])
    part = next(i for i, pt in enumerate(out.partitions) if pt.attributes == attrs)
    for est in out.estimates[part]:
        key = tuple(est.attributes[a] for a in attrs)
        row = mf.by_group.loc[key if len(key) > 1 else key[0]]
        for metric in METRICS:
            assert est.values[metric] == pytest.approx(row[metric], abs=1e-12), (key, metric)
    for metric in METRICS:
        assert out.estimates[0][0].values[metric] == pytest.approx(mf.overall[metric], abs=1e-12)


def test_ranking_metrics_equal_sklearn_for_every_intersection(engine_and_data):
    out, y, p, groups = engine_and_data
    part = len(out.partitions) - 1
    for est in out.estimates[part]:
        mask = np.logical_and.reduce([groups[a].to_numpy() == v for a, v in est.attributes.items()])
        assert est.n == mask.sum() and est.events == y[mask].sum()
        assert est.values["auroc"] == pytest.approx(roc_auc_score(y[mask], p[mask]), abs=1e-12)
        assert est.values["auprc"] == pytest.approx(
            average_precision_score(y[mask], p[mask]), abs=1e-12
        )
        assert est.values["brier"] == pytest.approx(brier_score_loss(y[mask], p[mask]), abs=1e-12)


@pytest.mark.parametrize(
    "name, fn",
    [
        ("demographic_parity_difference", demographic_parity_difference),
        ("demographic_parity_ratio", demographic_parity_ratio),
        ("equal_opportunity_difference", equal_opportunity_difference),
        ("equal_opportunity_ratio", equal_opportunity_ratio),
        ("equalized_odds_difference", equalized_odds_difference),
        ("equalized_odds_ratio", equalized_odds_ratio),
    ],
)
def test_fairness_summaries_equal_fairlearn(name, fn):
    y, p, groups = make_scored_cohort(tiny_group=False)
    config = AuditConfig(
        label="y",
        sensitive_features=("sex", "region", "ethnicity"),
        score_column="p",
        threshold=THRESHOLD,
        n_boot=50,
        min_cell=1,
    )
    result = run_audit(_cohort(y, p, groups), None, config)
    yp = (p >= THRESHOLD).astype(int)
    for attrs in [("sex",), ("region",), ("sex", "ethnicity")]:
        ours = next(f for f in result.fairness if f.attributes == attrs and f.metric == name)
        theirs = fn(y, yp, sensitive_features=groups[list(attrs)])
        assert ours.value.value == pytest.approx(theirs, abs=1e-10), attrs
        # max-min statistics are biased upwards under resampling, so a percentile interval
        # need not contain the point estimate; it must exist and be ordered
        assert ours.value.ci_low < ours.value.ci_high


def test_binned_metrics_are_exact_when_scores_have_few_distinct_values():
    y, p, groups = make_scored_cohort()
    p = np.round(p, 2)
    grid = make_score_grid(p, THRESHOLD, max_bins=1024)
    assert grid.exact
    hist = group_histograms(p, y, np.zeros(len(p), dtype=np.int64), 1, grid)
    binned = binned_metrics(hist.counts[0], hist.loss.sum(), grid.threshold_bin)
    assert binned["auroc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert binned["auprc"] == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert binned["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert binned["sensitivity"] == pytest.approx(true_positive_rate(y, p >= THRESHOLD))


def test_cell_bootstrap_intervals_match_a_naive_patient_bootstrap():
    """The vectorised bootstrap must agree with resampling patients one replicate at a time."""
    y, p, groups = make_scored_cohort(n=3000, seed=3, tiny_group=False)
    out = compute_group_metrics(
        p,
        y,
        groups[["sex"]],
        threshold=THRESHOLD,
        z=1.96,
        confidence=0.95,
        n_boot=400,
        seed=5,
        max_bins=256,
        max_order=1,
    )
    rng = np.random.default_rng(11)
    female = np.flatnonzero(groups["sex"].to_numpy() == "F")
    male = np.flatnonzero(groups["sex"].to_numpy() == "M")
    naive_auc, naive_diff = [], []
    for _ in range(400):  # the naive way: stratified patient resampling + sklearn
        f = rng.choice(female, len(female))
        m = rng.choice(male, len(male))
        auc_f = roc_auc_score(y[f], p[f])
        naive_auc.append(auc_f)
        naive_diff.append(
            true_positive_rate(y[f], p[f] >= THRESHOLD)
            - true_positive_rate(y[m], p[m] >= THRESHOLD)
        )
    part = 1
    g_f = next(e.index for e in out.estimates[part] if e.attributes == {"sex": "F"})
    g_m = 1 - g_f
    ours_auc = out.replicates[part]["auroc"][:, g_f]
    ours_diff = (
        out.replicates[part]["sensitivity"][:, g_f] - out.replicates[part]["sensitivity"][:, g_m]
    )
    for ours, naive in ((ours_auc, naive_auc), (ours_diff, naive_diff)):
        assert np.std(ours) == pytest.approx(np.std(naive), rel=0.15)
        assert np.quantile(ours, [0.025, 0.975]) == pytest.approx(
            np.quantile(naive, [0.025, 0.975]), abs=0.02
        )


def test_same_seed_gives_byte_identical_json_and_a_new_seed_changes_intervals():
    y, p, groups = make_scored_cohort()
    config = AuditConfig(
        label="y", sensitive_features=("sex", "ethnicity"), score_column="p", n_boot=200, seed=7
    )
    a = run_audit(_cohort(y, p, groups), None, config)
    b = run_audit(_cohort(y, p, groups), None, config)

    def strip_run(r):
        d = json.loads(result_to_json(r))
        d.pop("run")
        return json.dumps(d)

    assert strip_run(a) == strip_run(b)
    c = run_audit(
        _cohort(y, p, groups),
        None,
        AuditConfig(
            label="y", sensitive_features=("sex", "ethnicity"), score_column="p", n_boot=200, seed=8
        ),
    )
    assert strip_run(a) != strip_run(c)
    assert a.overall.metrics["auroc"] == c.overall.metrics["auroc"]  # DeLong: no randomness


def test_result_round_trips_and_matches_the_shipped_schema():
    y, p, groups = make_scored_cohort()
    config = AuditConfig(
        label="y", sensitive_features=("sex", "ethnicity"), score_column="p", n_boot=50
    )
    result = run_audit(_cohort(y, p, groups), None, config)
    data = json.loads(result_to_json(result))
    validate_result_dict(data)
    again = AuditResult.from_dict(data)
    assert again == result
    assert result_to_json(again) == result_to_json(result)


def test_public_contract_keys_are_present():
    y, p, groups = make_scored_cohort()
    config = AuditConfig(
        label="y", sensitive_features=("sex", "ethnicity"), score_column="p", n_boot=50
    )
    d = run_audit(_cohort(y, p, groups), None, config).to_dict()
    keys = {
        "auroc",
        "auprc",
        "sensitivity",
        "specificity",
        "ppv",
        "npv",
        "fpr",
        "fnr",
        "accuracy",
        "balanced_accuracy",
        "f1",
        "selection_rate",
        "prevalence",
        "brier",
        "oe_ratio",
        "citl",
        "calibration_slope",
        "recalibration_intercept",
        "ici",
        "e50",
        "e90",
        "emax",
        "ece",
        "spiegelhalter_z",
        "spiegelhalter_p",
        "hosmer_lemeshow_p",
        "scaled_brier",
        "discrimination_slope",
        "expected_sensitivity",
        "expected_specificity",
        "expected_ppv",
        "expected_npv",
    }
    assert set(d["overall"]["metrics"]) == keys
    assert set(d["overall"]["metrics"]["auroc"]) == {"value", "ci_low", "ci_high"}
    assert {"n", "events", "sha256"} <= set(d["cohort"])
    assert "sha256" in d["model"]
    single = [g for g in d["subgroups"] if len(g["attributes"]) == 1]
    inter = [g for g in d["subgroups"] if len(g["attributes"]) == 2]
    assert len(single) == 2 + 4 and len(inter) == 8
    for g in d["subgroups"]:
        assert {"attributes", "n", "events", "suppressed", "metrics"} <= set(g)
    dis = d["disparities"][0]
    assert {"metric", "group", "reference", "difference", "ratio"} <= set(dis)
    for key in ("disclosure_log", "caveats", "run"):
        assert key in d


def test_reference_group_can_be_chosen_and_defaults_to_the_largest():
    y, p, groups = make_scored_cohort(tiny_group=False)
    base = dict(label="y", sensitive_features=("sex", "region"), score_column="p", n_boot=20)
    default = run_audit(_cohort(y, p, groups), None, AuditConfig(**base))
    refs = {tuple(r["attributes"]): r["reference"] for r in default.settings["references"]}
    assert refs[("region",)] == {"region": "north"}  # the largest region
    chosen = run_audit(
        _cohort(y, p, groups), None, AuditConfig(**base, reference={"region": "east"})
    )
    d = [
        x
        for x in chosen.disparities
        if x.reference_kind == "group" and "region" in x.group and len(x.group) == 1
    ]
    assert d and all(x.reference == {"region": "east"} for x in d)
    sens = next(x for x in d if x.metric == "sensitivity" and x.group == {"region": "north"})
    north = chosen.subgroup(region="north").metrics["sensitivity"].value
    east = chosen.subgroup(region="east").metrics["sensitivity"].value
    assert sens.difference.value == pytest.approx(north - east, abs=1e-10)
    assert sens.ratio.value == pytest.approx(north / east, abs=1e-10)
    assert sens.difference.ci_low <= sens.difference.value <= sens.difference.ci_high
