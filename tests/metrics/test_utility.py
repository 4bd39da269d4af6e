"""Decision curves against a hand computation and the counting rule p >= t."""

from __future__ import annotations

import numpy as np
import pytest

from cohortaudit.metrics.performance import confusion_at
from cohortaudit.metrics.utility import DECISION_CURVE_KEYS, decision_curve


def test_decision_curve_small_example_by_hand():
    # 10 patients, 3 events; at t = 0.2: TP 2, FP 3; at t = 0.5: TP 1, FP 1
    out = decision_curve(np.array([0.2, 0.5]), np.array([2, 1]), np.array([3, 1]), 10, 3)
    assert tuple(out) == DECISION_CURVE_KEYS
    nb = [2 / 10 - 3 / 10 * 0.25, 1 / 10 - 1 / 10 * 1.0]
    nb_all = [0.3 - 0.7 * 0.25, 0.3 - 0.7 * 1.0]
    np.testing.assert_allclose(out["threshold"], [0.2, 0.5])
    np.testing.assert_allclose(out["net_benefit"], nb)
    np.testing.assert_allclose(out["net_benefit_treat_all"], nb_all)
    np.testing.assert_allclose(
        out["interventions_avoided_per_100"],
        [(nb[0] - nb_all[0]) / 0.25 * 100, (nb[1] - nb_all[1]) / 1.0 * 100],
    )
    np.testing.assert_allclose(out["standardized_net_benefit"], np.array(nb) / 0.3)
    assert out["net_benefit"][0] == pytest.approx(0.125)
    # at t = 0.2 the model equals treat-all; at t = 0.5 it avoids 40 net interventions per 100
    np.testing.assert_allclose(out["interventions_avoided_per_100"], [0.0, 40.0], atol=1e-12)


def test_treat_all_tends_to_prevalence_and_model_treating_everyone_equals_treat_all():
    t = np.array([1e-9, 1e-6, 1e-3])
    n, events = 250, 40
    out = decision_curve(t, np.full(3, events), np.full(3, n - events), n, events)
    assert out["net_benefit_treat_all"][0] == pytest.approx(events / n, abs=1e-8)
    np.testing.assert_allclose(out["net_benefit"], out["net_benefit_treat_all"], atol=1e-15)
    np.testing.assert_allclose(out["interventions_avoided_per_100"], 0, atol=1e-9)


def test_counts_from_the_threshold_rule():
    rng = np.random.default_rng(3)
    p = rng.random(300)
    y = rng.random(300) < p
    pos, neg = np.sort(p[y]), np.sort(p[~y])
    grid = np.linspace(0.01, 0.99, 99)
    conf = [confusion_at(pos, neg, t) for t in grid]
    tp = np.array([c.tp for c in conf])
    fp = np.array([c.fp for c in conf])
    out = decision_curve(grid, tp, fp, 300, int(y.sum()))
    for i, t in enumerate(grid):
        treated = p >= t
        expected = (np.sum(treated & y) - np.sum(treated & ~y) * t / (1 - t)) / 300
        assert out["net_benefit"][i] == pytest.approx(expected, abs=1e-12)


def test_withheld_counts_and_degenerate_inputs_give_nan_without_warnings():
    out = decision_curve(
        np.array([0.1, 0.2, 0.3]),
        np.array([5.0, np.nan, 2.0]),
        np.array([4.0, 3.0, np.nan]),
        50,
        10,
    )
    assert np.isfinite(out["net_benefit"][0])
    assert np.isnan(out["net_benefit"][1:]).all()
    assert np.isnan(out["interventions_avoided_per_100"][1:]).all()
    assert np.isfinite(out["net_benefit_treat_all"]).all()

    edge = decision_curve(np.array([0.0, 1.0]), np.array([1, 0]), np.array([1, 0]), 10, 2)
    assert all(np.isnan(edge[k]).all() for k in DECISION_CURVE_KEYS[1:])
    none = decision_curve(np.array([0.1]), np.array([0]), np.array([3]), 10, 0)
    assert np.isnan(none["standardized_net_benefit"]).all()
    assert np.isfinite(none["net_benefit"]).all()
    empty = decision_curve(np.array([0.1]), np.array([0]), np.array([0]), 0, 0)
    assert np.isnan(empty["net_benefit"]).all()
