"""The metric registry is the one vocabulary, and it drives the same checks for every metric.

Three kinds of specification:

1. The registry and the audit agree on which metrics exist: the result schema, the engine and
   a real audit result (the golden ``audit.json``) name exactly the registry's keys.
2. The tables that renderers, the engine and the app keep are views of the registry, so a new
   metric or a relabelled one is changed in one place.
3. sklearn-style invariance checks, run for every metric of a family rather than written per
   metric: row order does not matter, rank-based metrics ignore strictly increasing transforms
   of the scores, a perfect model sits at the "better" end, and values agree with sklearn.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from cohortaudit import registry
from cohortaudit.metrics import calibration, expected, fairness, performance, subgroups
from cohortaudit.metrics.utility_boot import NB_KEYS
from cohortaudit.registry import FAMILIES, METRICS, MetricSpec, keys, label
from cohortaudit.render import findings, text
from cohortaudit.render.chapters import common as chapter_common
from cohortaudit.render.plotly_charts import checks_base as plotly_checks
from cohortaudit.render.svg_charts import checks as svg_checks

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "src" / "cohortaudit" / "schemas" / "audit_result.schema.json"
GOLDEN = ROOT / "tests" / "golden" / "memory.audit.json.gz"
THRESHOLD = 0.4


# ------------------------------------------------------------------------------------------
# 1. one set of keys
# ------------------------------------------------------------------------------------------


def test_every_spec_is_filed_under_its_own_key_with_a_known_family_and_direction():
    for key, spec in METRICS.items():
        assert isinstance(spec, MetricSpec)
        assert spec.key == key
        assert spec.family in FAMILIES
        assert spec.better in ("higher", "lower", "closer to 1", "closer to 0", None)
        assert spec.label and spec.meaning and spec.ci_method
        assert spec.threshold_dependent == (spec.family in ("threshold", "expected")), key
        assert spec.bootstrapped == spec.ci_method.startswith("stratified bootstrap"), key


def test_the_registry_is_read_only():
    with pytest.raises(TypeError):
        METRICS["new"] = METRICS["auroc"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        METRICS["auroc"].label = "C statistic"  # type: ignore[misc]


def test_the_schemas_metric_keys_are_registry_keys_in_registry_order():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    described = schema["$defs"]["group"]["properties"]["metrics"]["description"]
    listed = re.search(r"Keys: ([a-z0-9_, ]+)\.", described).group(1).split(", ")
    assert listed == [k for k in METRICS if k in listed]
    assert listed == list(keys("discrimination", "threshold", "prevalence"))[:13] + ["brier"]


def test_the_engine_computes_exactly_the_registry_metrics_for_a_group():
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + y)))
    out = subgroups.compute_point_estimates(
        p, y, pd.DataFrame({"sex": ["a", "b"] * (n // 2)}), threshold=0.5, z=1.96, max_order=1
    )
    for row in out.estimates:
        for est in row:
            # the Hosmer-Lemeshow chi2 goes to the group's calibration block, not the metrics
            assert set(est.values) - {"hosmer_lemeshow_chi2"} == set(METRICS)
    assert tuple(METRICS) == subgroups.METRIC_KEYS


def test_a_real_audit_result_reports_the_registry_metrics_in_registry_order():
    result = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    # net benefit is reported beside the registry metrics: its method is the decision curve's
    # (settings.decision_curve), not a ci_methods entry
    reported = set(METRICS) | set(NB_KEYS)
    assert set(result["overall"]["metrics"]) == reported  # the JSON lists keys alphabetically
    for group in result["subgroups"]:
        assert set(group["metrics"]) <= reported
    assert set(result["settings"]["ci_methods"]) == set(METRICS)
    for key, method in result["settings"]["ci_methods"].items():
        assert method == METRICS[key].ci_method, key


def test_the_helpers_answer_by_key_and_by_family():
    assert label("oe_ratio") == "O/E ratio"
    assert keys("discrimination") == ("auroc", "auprc")
    assert keys() == tuple(METRICS)
    assert set(keys(*FAMILIES)) == set(METRICS)
    with pytest.raises(KeyError, match="'c_statistic' is not a metric key"):
        label("c_statistic")
    with pytest.raises(ValueError, match=r"Unknown metric family \['fairness'\]"):
        keys("fairness")  # type: ignore[arg-type]


def test_the_registry_is_a_leaf_module():
    source = Path(registry.__file__).read_text(encoding="utf-8")
    assert not re.search(r"^\s*(from|import) cohortaudit", source, flags=re.M)


# ------------------------------------------------------------------------------------------
# 2. the tables are views of the registry
# ------------------------------------------------------------------------------------------


def test_text_labels_are_the_registry_labels_in_registry_order():
    assert list(text.METRIC_LABELS.items()) == [(k, m.label) for k, m in METRICS.items()]
    expected = [(k, (METRICS[k].label, METRICS[k].meaning)) for k in keys("calibration")]
    expected += [(k, (METRICS[k].label, METRICS[k].meaning)) for k in keys("utility")]
    assert list(text.CAL_LABELS.items()) == expected
    assert text.metric_name("hosmer_lemeshow_p") == "Hosmer–Lemeshow p"
    assert text.metric_name("net_benefit") == "net benefit"


def test_engine_tables_are_registry_views():
    assert keys("threshold") == performance.THRESHOLD_METRICS
    assert list(subgroups.CI_METHODS) == list(subgroups._CI_ORDER)
    assert sorted(subgroups._CI_ORDER) == sorted(METRICS)
    assert {k: m.ci_method for k, m in METRICS.items()} == subgroups.CI_METHODS
    assert set(subgroups._BOOTSTRAP_CI) == {k for k, m in METRICS.items() if m.bootstrapped}
    # the calibration estimator's own order is the registry's
    cal = [k for k in calibration.VALUE_KEYS if k != "hosmer_lemeshow_chi2"]
    assert cal == [k for k in METRICS if k in cal]


def test_finding_tables_are_registry_views():
    assert {"fpr", "fnr", "brier"} == findings.LOWER_IS_BETTER
    for key in findings.FINDING_METRICS:
        assert (key in findings.LOWER_IS_BETTER) == (METRICS[key].better == "lower")
        assert (key in findings.NEUTRAL) == (METRICS[key].better is None)
    assert {"selection_rate", "prevalence"} == findings.NEUTRAL


def test_selections_of_metrics_name_only_registry_keys():
    """Lists that choose metrics (for the verdict, for disparities) choose among known keys."""
    for chosen in (
        findings.FINDING_METRICS,
        fairness.DISPARITY_METRICS,
        subgroups.CALIBRATION_METRIC_KEYS,
    ):
        assert set(chosen) <= set(METRICS)
        assert list(chosen) == [k for k in METRICS if k in chosen]


def test_slice_metric_words_use_registry_labels():
    slices = {"auroc": "auroc", "sensitivity": "sensitivity", "oe": "oe_ratio"}
    assert {s: label(k) for s, k in slices.items()} == svg_checks.SLICE_METRIC_LABELS
    assert plotly_checks.WEAK_METRICS["oe"][0] == label("oe_ratio")
    assert (
        plotly_checks.WEAK_METRICS["oe"][1] == "O/E ratio (observed / expected events; 1 = perfect)"
    )
    assert chapter_common.SLICE_METRIC_WORDS["sensitivity"] == "sensitivity"  # mid-sentence


# ------------------------------------------------------------------------------------------
# 3. registry-driven invariance checks of the implementations
# ------------------------------------------------------------------------------------------


def _split(y, p):
    y, p = np.asarray(y), np.asarray(p, dtype=float)
    return np.sort(p[y == 1]), np.sort(p[y == 0])


def _compute(key: str, y, p) -> float:
    """One metric of one group through the public functions the engine calls."""
    pos, neg = _split(y, p)
    family = METRICS[key].family
    if key == "auroc":
        return performance.auroc_delong(pos, neg)[0]
    if key == "auprc":
        return performance.average_precision(pos, neg)
    if key == "brier":
        return performance.brier_score(pos, neg)
    if family == "threshold":
        c = performance.confusion_at(pos, neg, THRESHOLD)
        return performance.threshold_metric_values(c)[key]
    if family in ("calibration", "utility"):
        return calibration.calibration_point(pos, neg).values[key]
    if family == "expected":
        return expected.expected_from_sorted(pos, neg, THRESHOLD)[key]
    raise AssertionError(f"no implementation wired for {key}")


def _cohort(seed: int, n: int = 300):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(1.2 * rng.normal(size=n) + 1.5 * y - 0.8)))
    return y, p


DISCRIMINATION_AND_THRESHOLD = keys("discrimination", "threshold")
CALIBRATION_AND_UTILITY = tuple(k for k in keys("calibration", "utility") if k != "brier")


@pytest.mark.parametrize(
    "key", DISCRIMINATION_AND_THRESHOLD + CALIBRATION_AND_UTILITY + keys("expected")
)
@pytest.mark.parametrize("seed", range(3))
def test_every_metric_is_invariant_to_row_order(key, seed):
    y, p = _cohort(seed)
    perm = np.random.default_rng(100 + seed).permutation(len(y))
    a, b = _compute(key, y, p), _compute(key, y[perm], p[perm])
    assert math.isfinite(a)
    assert b == pytest.approx(a, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("key", keys("discrimination"))
@pytest.mark.parametrize(
    "transform",
    [lambda p: p**3, lambda p: np.log(p), lambda p: 1 / (1 + np.exp(-10 * (p - 0.5)))],
    ids=["cube", "log", "steep-logistic"],
)
def test_rank_based_metrics_ignore_strictly_increasing_transforms(key, transform):
    y, p = _cohort(7)
    p = np.round(p, 2)  # ties must stay ties under the transform
    assert _compute(key, y, transform(p)) == pytest.approx(_compute(key, y, p), abs=1e-12)


def test_the_transform_check_can_fail_for_a_metric_on_the_probability_scale():
    y, p = _cohort(7)
    assert _compute("brier", y, p**3) != pytest.approx(_compute("brier", y, p), abs=1e-6)


def _best_end(spec: MetricSpec) -> float:
    return {"higher": 1.0, "lower": 0.0, "closer to 1": 1.0, "closer to 0": 0.0}[spec.better]


@pytest.mark.parametrize(
    "key", [k for k in DISCRIMINATION_AND_THRESHOLD + ("brier",) if METRICS[k].better]
)
def test_a_perfect_model_scores_at_the_better_end(key):
    y = np.array([0] * 40 + [1] * 20)
    p = y.astype(float)  # certain and right about every patient
    assert _compute(key, y, p) == pytest.approx(_best_end(METRICS[key]), abs=1e-12)


@pytest.mark.parametrize(
    "key", [k for k in DISCRIMINATION_AND_THRESHOLD + ("brier",) if METRICS[k].better]
)
def test_an_inverted_model_scores_worse_than_a_perfect_one(key):
    y = np.array([0] * 40 + [1] * 20)
    good, bad = np.where(y == 1, 0.9, 0.1), np.where(y == 1, 0.1, 0.9)
    best = _best_end(METRICS[key])
    assert abs(_compute(key, y, bad) - best) > abs(_compute(key, y, good) - best) + 0.5


def _sk(fn, **kw):
    return lambda y, p: fn(y, (p >= THRESHOLD).astype(int), **kw)


#: sklearn's implementation of each registry metric that sklearn has.
SKLEARN = {
    "auroc": roc_auc_score,
    "auprc": average_precision_score,  # REFERENCE.md: "average precision, sklearn definition"
    "sensitivity": _sk(recall_score),
    "specificity": _sk(recall_score, pos_label=0),
    "ppv": _sk(precision_score),
    "npv": _sk(precision_score, pos_label=0),
    "fpr": lambda y, p: 1 - _sk(recall_score, pos_label=0)(y, p),
    "fnr": lambda y, p: 1 - _sk(recall_score)(y, p),
    "accuracy": _sk(accuracy_score),
    "balanced_accuracy": _sk(balanced_accuracy_score),
    "f1": _sk(f1_score),
    "selection_rate": lambda y, p: float(np.mean(p >= THRESHOLD)),
    "brier": brier_score_loss,
}


def test_every_discrimination_and_threshold_metric_has_an_independent_check():
    assert set(DISCRIMINATION_AND_THRESHOLD) <= set(SKLEARN)
    assert set(SKLEARN) <= set(METRICS)


@pytest.mark.parametrize("key", list(SKLEARN))
@pytest.mark.parametrize("rounding", [None, 1])
@pytest.mark.parametrize("seed", range(3))
def test_metrics_agree_with_sklearn(key, rounding, seed):
    y, p = _cohort(seed)
    if rounding is not None:  # many ties, and scores exactly at the threshold
        p = np.round(p, rounding)
    assert _compute(key, y, p) == pytest.approx(SKLEARN[key](y, p), abs=1e-12)


def test_a_pooled_audit_states_the_single_site_methods_where_its_intervals_are_the_same():
    from cohortaudit.sites import pool

    assert set(pool.POOLED_CI_METHODS) == set(METRICS)
    for key, spec in METRICS.items():
        if spec.ci_method == "Wilson score" or key in ("oe_ratio", "spiegelhalter_z"):
            assert pool.POOLED_CI_METHODS[key] == spec.ci_method, key


def test_site_and_threshold_tables_use_registry_labels():
    from cohortaudit.render.chapters import fairness as fairness_chapter
    from cohortaudit.render.svg_charts import sites as svg_sites

    assert [(k, lab) for k, lab, _ in svg_sites.SITE_METRICS] == [
        (k, label(k)) for k in ("auroc", "oe_ratio", "calibration_slope")
    ]
    assert [label(k) for k in fairness_chapter._THRESHOLD_METRICS] == [
        "Sensitivity",
        "Specificity",
        "PPV",
        "NPV",
    ]


def test_figure_labels_and_units_are_registry_views():
    from cohortaudit.render import figures

    assert list(figures.CALIBRATION_LABELS) == [
        k for k in keys("calibration", "utility") if k != "brier"
    ]
    for key, spec in METRICS.items():
        assert figures.metric_label(key) == spec.label
        assert figures.metric_unit(key) == spec.unit
    assert figures.metric_unit("brier") == "mean squared error, 0–1"
    assert figures.metric_unit("sensitivity") == "proportion, 0–1"
    assert figures.metric_unit("oe_ratio") == "ratio; 1 = perfect"


def _perfectly_calibrated():
    """At each risk r in 0.1 ... 0.9, 100 patients of whom exactly 100 r have the event."""
    y, p = [], []
    for tenths in range(1, 10):
        y += [1] * (10 * tenths) + [0] * (100 - 10 * tenths)
        p += [tenths / 10] * 100
    return np.array(y), np.array(p)


@pytest.mark.parametrize("key", [k for k in keys("calibration") if METRICS[k].better])
def test_a_perfectly_calibrated_model_scores_at_the_better_end(key):
    y, p = _perfectly_calibrated()
    assert _compute(key, y, p) == pytest.approx(_best_end(METRICS[key]), abs=1e-9)


@pytest.mark.parametrize("key", [k for k in keys("calibration") if METRICS[k].better])
def test_halving_every_risk_moves_calibration_away_from_the_better_end(key):
    y, p = _perfectly_calibrated()
    best = _best_end(METRICS[key])
    assert abs(_compute(key, y, p / 2) - best) > 0.05
