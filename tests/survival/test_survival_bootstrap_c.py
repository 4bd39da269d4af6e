"""Bootstrap replicates of Harrell's C and Uno's C (``cohortaudit.survival.bootstrap_concordance``).

The replicates of the two concordance indices come from the same draws as every other
bootstrap metric, so a disparity of C is paired. What must hold: with integer weights and every
distinct risk in its own bin, the weighted C is the point estimator (``survival.concordance``)
on the repeated rows; the estimates the replicates are centred on are the point estimators of
every group, whatever the binning; the seed fixes the arrays; binned C is within its stated
bound of the exact one; and in an audit a disparity of Uno's C gets an interval.
"""

from __future__ import annotations

import numpy as np
import pytest
import survival_cases as cases
import test_survival_audit as audit
import test_survival_bootstrap as tb

from cohortaudit.survival import bootstrap_concordance as bc
from cohortaudit.survival import harrell_c, uno_c
from cohortaudit.survival.bootstrap import survival_replicates, weighted_metrics

EXACT = 1e-12
POINT = {"harrell_c": harrell_c, "uno_c": uno_c}


def point(metric, time, event, risk, tau):
    est = POINT[metric](time, event, risk, horizon=tau)
    return np.nan if est.value is None else est.value


@pytest.mark.parametrize("name", ["continuous", "tied", "small"])
@pytest.mark.parametrize("metric", ["harrell_c", "uno_c"])
def test_integer_weights_give_the_point_estimator_on_the_repeated_rows(name, metric):
    time, event, risk, tau = {
        "continuous": cases.continuous(),
        "tied": cases.tied(),  # tied events, censorings (also with events) and risks
        "small": cases.continuous(40, 7),
    }[name]
    w = np.random.default_rng(5).integers(0, 4, time.size)  # zeros drop patients
    got = weighted_metrics(time, event, risk, w, horizon=tau, threshold=tb.THRESHOLD)
    want = point(metric, np.repeat(time, w), np.repeat(event, w), np.repeat(risk, w), tau)
    assert abs(got[metric] - want) <= EXACT
    assert got[f"{metric}_bin_error_bound"] == 0.0  # every distinct risk its own bin


def test_weights_of_one_give_the_point_estimate():
    time, event, risk, tau = cases.continuous()
    got = weighted_metrics(time, event, risk, np.ones(time.size), horizon=tau, threshold=0.3)
    for metric in POINT:
        assert abs(got[metric] - point(metric, time, event, risk, tau)) <= EXACT


@pytest.mark.parametrize("max_bins", [None, 12])
@pytest.mark.parametrize("max_time_bins", [None, 8])
def test_the_estimates_are_the_point_estimators_of_every_group(max_bins, max_time_bins):
    time, event, risk, cell, parts, tau = tb.cohort(400, 3)
    reps = survival_replicates(
        time, event, risk, cell, parts, tb.all_released(parts), horizon=tau,
        threshold=tb.THRESHOLD, n_boot=30, seed=4, max_bins=max_bins, max_time_bins=max_time_bins,
    )  # fmt: skip
    assert reps.exact_time is (max_time_bins is None)
    for p, part in enumerate(parts):
        for g in range(len(part.keys)):
            m = tb.group_mask(part, cell, g)
            for metric in POINT:
                want = point(metric, time[m], event[m], risk[m], tau)
                assert abs(reps.estimates[p][metric][g] - want) <= EXACT, (p, g, metric)
                # replicates are centred near it and mostly defined
                v = reps.replicates[p][metric][:, g]
                assert np.isfinite(v).all()
                assert abs(np.median(v) - want) < 0.1


def test_the_whole_cohort_replicates_are_the_same_draws_as_the_other_metrics():
    time, event, risk, cell, parts, tau = tb.cohort(300, 8)
    reps = survival_replicates(
        time, event, risk, cell, parts, tb.all_released(parts),
        horizon=tau, threshold=tb.THRESHOLD, n_boot=20, seed=1, max_bins=None,
    )  # fmt: skip
    # partition 0 is the whole cohort: its group is the overall's replicate, draw for draw
    for metric in ("harrell_c", "uno_c", "auc_t"):
        np.testing.assert_array_equal(reps.replicates[0][metric][:, 0], reps.overall[0][metric])


def test_the_same_seed_gives_identical_c_replicates():
    time, event, risk, cell, parts, tau = tb.cohort(300, 9)
    kw = dict(horizon=tau, threshold=tb.THRESHOLD, n_boot=25)
    one = survival_replicates(time, event, risk, cell, parts, tb.all_released(parts), seed=3, **kw)
    two = survival_replicates(time, event, risk, cell, parts, tb.all_released(parts), seed=3, **kw)
    other = survival_replicates(time, event, risk, cell, parts, tb.all_released(parts), seed=4, **kw)
    for p in range(len(parts)):
        for metric in POINT:
            np.testing.assert_array_equal(one.replicates[p][metric], two.replicates[p][metric])
    assert not np.array_equal(one.replicates[1]["uno_c"], other.replicates[1]["uno_c"])


@pytest.mark.parametrize("pooled", [False, True])
@pytest.mark.parametrize("max_bins", [4, 10, 40])
def test_binned_c_is_within_its_stated_bound_of_the_exact(monkeypatch, pooled, max_bins):
    if pooled:  # partners before tau on the 8 + 8 pooled bins of a large cohort
        monkeypatch.setattr(bc, "FULL_GRID_CELLS", 0)
    time, event, risk, tau = cases.tied()
    w = np.random.default_rng(2).integers(1, 3, time.size)
    got = weighted_metrics(time, event, risk, w, horizon=tau, threshold=0.3, max_bins=max_bins)
    rep = np.repeat
    for metric in POINT:
        exact = point(metric, rep(time, w), rep(event, w), rep(risk, w), tau)
        bound = got[f"{metric}_bin_error_bound"]
        assert 0.0 <= bound < 0.5  # 0 when every distinct risk has its own bin (max_bins=40)
        assert abs(got[metric] - exact) <= bound + EXACT, (metric, got[metric], exact, bound)


def test_the_bound_is_half_the_share_of_within_bin_pairs_and_can_be_tight():
    # two events, at 1 and 2, then one event-free at tau = 3; risks 0.3, 0.2, 0.1 (exact C 1)
    # with the grid's edges 0.2 and 0.5: the cases share a bin, the control is below. Pairs:
    # (0, 1) a tie (1/2), (0, 2) and (1, 2) concordant: C = 2.5 / 3; bound 1/2 x 1/3
    time, event, risk = np.array([1.0, 2.0, 5.0]), np.array([1, 1, 0]), np.array([0.3, 0.2, 0.1])
    got = weighted_metrics(time, event, risk, np.ones(3), horizon=3.0, threshold=0.5, max_bins=2)
    assert harrell_c(time, event, risk, horizon=3.0).value == 1.0
    assert got["harrell_c"] == pytest.approx(2.5 / 3, abs=EXACT)
    assert got["harrell_c_bin_error_bound"] == pytest.approx(1 / 6, abs=EXACT)


def test_a_disparity_of_uno_c_has_an_interval_in_an_audit(tmp_path):
    d = audit._run(tmp_path, "out")
    m = d["overall"]["metrics"]
    assert m["uno_c"]["ci_low"] <= m["uno_c"]["value"] <= m["uno_c"]["ci_high"]
    for metric in ("uno_c", "harrell_c"):
        rows = [x for x in d["disparities"] if x["metric"] == metric]
        assert rows, metric
        assert all(x["difference"]["ci_low"] is not None for x in rows), metric
