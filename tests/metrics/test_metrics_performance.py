"""Point metrics of one group against sklearn, brute force and REFERENCE.md's worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    roc_auc_score,
)

from cohortaudit.metrics.performance import (
    auroc_delong,
    average_precision,
    brier_score,
    confusion_at,
    threshold_metric_values,
    wilson_interval,
)

Z = 1.959964


def _split(y, p):
    y, p = np.asarray(y), np.asarray(p, dtype=float)
    return np.sort(p[y == 1]), np.sort(p[y == 0])


def _delong_brute_force(y, p):
    """O(m*k) DeLong straight from the placement-value definition in REFERENCE.md."""
    pos, neg = _split(y, p)
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    auc = psi.mean()
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    var = np.var(v10, ddof=1) / len(pos) + np.var(v01, ddof=1) / len(neg)
    return auc, math.sqrt(var)


def test_delong_matches_the_reference_worked_example():
    y = [0, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1]
    p = [0.1, 0.35, 0.24, 0.8, 0.2, 0.85, 0.13, 0.85, 0.74, 0.58, 0.71, 0.25]
    auc, se = auroc_delong(*_split(y, p))
    assert auc == pytest.approx(0.708333, abs=1e-6)
    assert se == pytest.approx(0.168737, abs=1e-6)
    assert min(1.0, auc + Z * se) == 1.0
    assert auc - Z * se == pytest.approx(0.3776, abs=1e-4)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("rounding", [None, 1, 2])
def test_auroc_and_delong_agree_with_sklearn_and_brute_force(seed, rounding):
    rng = np.random.default_rng(seed)
    n = 400
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + y)))
    if rounding is not None:  # many ties
        p = np.round(p, rounding)
    auc, se = auroc_delong(*_split(y, p))
    assert auc == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    auc_bf, se_bf = _delong_brute_force(y, p)
    assert se == pytest.approx(se_bf, rel=1e-10)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("rounding", [None, 1])
def test_average_precision_and_brier_agree_with_sklearn(seed, rounding):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    p = rng.random(300)
    if rounding is not None:
        p = np.round(p, rounding)
    pos, neg = _split(y, p)
    assert average_precision(pos, neg) == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert brier_score(pos, neg) == pytest.approx(brier_score_loss(y, p), abs=1e-12)


@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.5, 0.7])
def test_confusion_uses_score_at_or_above_threshold_as_positive(threshold):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    p = np.round(rng.random(500), 1)  # many scores exactly on the threshold
    c = confusion_at(*_split(y, p), threshold)
    tn, fp, fn, tp = confusion_matrix(y, (p >= threshold).astype(int), labels=[0, 1]).ravel()
    assert (c.tp, c.fp, c.tn, c.fn) == (tp, fp, tn, fn)
    v = threshold_metric_values(c)
    assert v["sensitivity"] == pytest.approx(tp / (tp + fn))
    assert v["balanced_accuracy"] == pytest.approx((tp / (tp + fn) + tn / (tn + fp)) / 2)
    assert v["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))


def test_wilson_interval_matches_the_reference_worked_example():
    lo, hi = wilson_interval(8, 10, Z)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)


def test_wilson_interval_agrees_with_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    for x, n in [(0, 20), (3, 17), (50, 100), (20, 20)]:
        lo, hi = wilson_interval(x, n, 1.959963984540054)
        slo, shi = proportion_confint(x, n, alpha=0.05, method="wilson")
        assert (lo, hi) == pytest.approx((slo, shi), abs=1e-12)


def test_undefined_cases_are_nan_not_errors():
    empty = np.array([])
    assert math.isnan(auroc_delong(empty, np.array([0.1, 0.2]))[0])
    auc, se = auroc_delong(np.array([0.9]), np.array([0.1, 0.2]))
    assert auc == 1.0 and math.isnan(se)
    assert math.isnan(average_precision(empty, np.array([0.3])))
    v = threshold_metric_values(confusion_at(np.array([0.1]), np.array([0.2]), 0.9))
    assert math.isnan(v["ppv"])  # no predicted positives
