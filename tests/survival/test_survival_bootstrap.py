"""The time-to-event patient bootstrap (``cohortaudit.survival.bootstrap``), as a specification.

Each replicate evaluates *the point estimators* of ``cohortaudit.survival`` on patients drawn
with replacement within their finest cell, with the censoring distribution re-estimated on the
draws. The tests pin that down: the weighted estimator equals the point estimators on repeated
rows; a replicate equals the point estimators on the patients it drew; the draws keep every
cell's size; the seed fixes every array; undefined replicates are counted; risk binning changes
nothing but auc_t, and that within its stated bound; and the intervals cover.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import survival_cases as cases

from cohortaudit.errors import ConfigError, SchemaError
from cohortaudit.metrics.bootstrap import percentile_intervals
from cohortaudit.metrics.subgroups import build_cells, build_partitions
from cohortaudit.survival import (
    auc_t,
    brier_at,
    calibration_at,
    harrell_c,
    threshold_metrics,
    uno_c,
)
from cohortaudit.survival import bootstrap as sb
from cohortaudit.survival.bootstrap import (
    BOOT_METRICS,
    survival_intervals,
    survival_replicates,
    weighted_metrics,
)

EXACT = 1e-12
THRESHOLD = 0.3
SLOT_METRICS = (  # everything but auc_t: exact whatever the risk bins
    "observed_risk",
    "expected_risk",
    "oe_ratio",
    "brier",
    "scaled_brier",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "fpr",
    "selection_rate",
)


def point_metrics(time, event, risk, horizon, threshold=THRESHOLD) -> dict[str, float]:
    """Every bootstrap metric from the point estimators of cohortaudit.survival (NaN if none)."""
    cal = calibration_at(time, event, risk, horizon=horizon)
    br = brier_at(time, event, risk, horizon=horizon)
    thr = threshold_metrics(time, event, risk, horizon=horizon, threshold=threshold)

    def v(est):
        return np.nan if est.value is None else est.value

    return {
        "observed_risk": v(cal.observed_risk),
        "expected_risk": v(cal.expected_risk),
        "oe_ratio": v(cal.oe_ratio),
        "auc_t": v(auc_t(time, event, risk, horizon=horizon)),
        "brier": v(br.brier),
        "scaled_brier": v(br.scaled_brier),
        "sensitivity": v(thr.sensitivity),
        "specificity": v(thr.specificity),
        "ppv": v(thr.ppv),
        "npv": v(thr.npv),
        "fpr": 1.0 - v(thr.specificity),
        "selection_rate": float(np.mean(np.asarray(risk) >= threshold)),
        "harrell_c": v(harrell_c(time, event, risk, horizon=horizon)),
        "uno_c": v(uno_c(time, event, risk, horizon=horizon)),
    }


def assert_same(got: dict, want: dict, keys=BOOT_METRICS, tol=EXACT) -> None:
    for key in keys:
        assert np.isclose(got[key], want[key], rtol=0, atol=tol, equal_nan=True), (
            key,
            got[key],
            want[key],
        )


def cohort(n: int = 500, seed: int = 11, *, integer_times: bool = False):
    """Sex x site cohort (6 finest cells), partitions overall, sex, site, sex x site."""
    rng = np.random.default_rng(seed)
    groups = pd.DataFrame(
        {"sex": rng.choice(["F", "M"], n), "site": rng.choice(["A", "B", "C"], n, p=[0.5, 0.3, 0.2])}
    )
    risk = rng.uniform(0.05, 0.8, n)
    t = rng.exponential(6 * (1 - risk) + 0.5)
    c = rng.uniform(0.5, 10, n)
    time, event = np.minimum(t, c), (t <= c).astype(int)
    if integer_times:
        time = np.ceil(time)
    cell, keys, orders = build_cells(groups)
    parts = build_partitions(keys, ("sex", "site"), max_order=2, orders=orders)
    return time, event, risk, cell, parts, 4.0


def all_released(parts):
    return [[True] * len(p.keys) for p in parts]


def group_mask(part, cell, g):
    return part.cell_to_group[cell] == g


# -- the weighted estimator is the point estimator on repeated rows -----------------------------


@pytest.mark.parametrize("name", ["continuous", "tied", "small"])
def test_integer_weights_equal_the_point_estimators_on_the_repeated_rows(name):
    time, event, risk, tau = {
        "continuous": cases.continuous(),
        "tied": cases.tied(),  # ties among events, censorings, the horizon and the risks
        "small": cases.continuous(40, 7),
    }[name]
    w = np.random.default_rng(3).integers(0, 4, time.size)  # zeros drop patients
    got = weighted_metrics(time, event, risk, w, horizon=tau, threshold=THRESHOLD)
    rep = lambda a: np.repeat(a, w)  # noqa: E731
    assert_same(got, point_metrics(rep(time), rep(event), rep(risk), tau))
    assert got["auc_t_bin_error_bound"] == 0.0  # max_bins=None: every risk its own bin


def test_unit_weights_equal_the_point_estimators():
    time, event, risk, tau = cases.tied()
    got = weighted_metrics(time, event, risk, np.ones(time.size), horizon=tau, threshold=0.5)
    assert_same(got, point_metrics(time, event, risk, tau, threshold=0.5))


def test_risk_bins_change_only_auc_t_and_that_within_the_stated_bound():
    time, event, risk, tau = cases.continuous()
    w = np.random.default_rng(4).integers(0, 3, time.size)
    exact = weighted_metrics(time, event, risk, w, horizon=tau, threshold=THRESHOLD)
    binned = weighted_metrics(time, event, risk, w, horizon=tau, threshold=THRESHOLD, max_bins=8)
    assert_same(binned, exact, keys=SLOT_METRICS)
    bound = binned["auc_t_bin_error_bound"]
    assert 0 < abs(binned["auc_t"] - exact["auc_t"]) <= bound
    # the bound is half the weighted share of (case, control) pairs within one risk bin: with
    # 8 bins about 1/8 of the pairs, so the bound is about 1/16
    assert 0.02 < bound < 0.1


def test_a_horizon_that_is_an_event_time_and_censorings_at_the_horizon_follow_the_conventions():
    # events at 1, 2 and 3 = tau (counted by tau); censored at 2 (after the event at 2) and at
    # 3 = tau (event-free at tau); one patient beyond tau
    time = np.array([1.0, 2.0, 2.0, 3.0, 3.0, 5.0])
    event = np.array([1, 1, 0, 1, 0, 0])
    risk = np.array([0.8, 0.6, 0.7, 0.3, 0.35, 0.2])
    got = weighted_metrics(time, event, risk, np.ones(6), horizon=3.0, threshold=0.5)
    assert_same(got, point_metrics(time, event, risk, 3.0, threshold=0.5))
    # by hand: t=1: 6 at risk, 1 event; t=2: 5 at risk (the censored one too: events first),
    # 1 event; t=3: 3 at risk, 1 event -> S = 5/6 * 4/5 * 2/3 = 4/9
    assert got["observed_risk"] == pytest.approx(1 - 4 / 9, abs=EXACT)


def test_a_group_without_events_has_no_sensitivity_nor_auc_t_but_the_rest():
    time = np.array([2.0, 3.0, 5.0, 6.0])
    event = np.array([0, 0, 0, 1])  # the one event is after tau
    risk = np.array([0.1, 0.4, 0.6, 0.2])
    got = weighted_metrics(time, event, risk, np.ones(4), horizon=4.0, threshold=0.5)
    assert np.isnan(got["sensitivity"]) and np.isnan(got["auc_t"])
    assert got["observed_risk"] == 0.0 and got["oe_ratio"] == 0.0
    assert got["specificity"] == 0.5  # event-free at 4: risks 0.6 and 0.2


def test_weights_are_checked():
    time, event, risk, tau = cases.continuous(20, 1)
    with pytest.raises(SchemaError, match="one finite, non-negative weight per patient"):
        weighted_metrics(time, event, risk, -np.ones(20), horizon=tau, threshold=0.3)


# -- survival_replicates ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def boot():
    time, event, risk, cell, parts, tau = cohort()
    reps = survival_replicates(
        time, event, risk, cell, parts, all_released(parts),
        horizon=tau, threshold=THRESHOLD, n_boot=120, seed=7, max_bins=None,
    )  # fmt: skip
    return time, event, risk, cell, parts, tau, reps


def test_the_estimates_are_the_point_estimators_of_every_group(boot):
    time, event, risk, cell, parts, tau, reps = boot
    for p, part in enumerate(parts):
        for g in range(len(part.keys)):
            m = group_mask(part, cell, g)
            want = point_metrics(time[m], event[m], risk[m], tau)
            got = {k: reps.estimates[p][k][g] for k in BOOT_METRICS}
            assert_same(got, want)


def test_every_partition_has_b_by_g_replicates_and_the_whole_cohort_shares_the_draws(boot):
    *_, parts, _, reps = boot
    for p, part in enumerate(parts):
        for key in BOOT_METRICS:
            assert reps.replicates[p][key].shape == (120, len(part.keys))
            assert reps.undefined[p][key].shape == (len(part.keys),)
            # partition 0 is the whole cohort: the overall replicates are its column
            np.testing.assert_array_equal(reps.overall[p][key], reps.replicates[0][key][:, 0])


def test_the_same_seed_gives_identical_arrays_and_another_seed_does_not(boot):
    time, event, risk, cell, parts, tau, reps = boot
    args = (time, event, risk, cell, parts, all_released(parts))
    calls = []
    again = survival_replicates(
        *args, horizon=tau, threshold=THRESHOLD, n_boot=120, seed=7, max_bins=None,
        progress=lambda done, total: calls.append((done, total)),
    )  # fmt: skip
    assert calls == [(50, 120), (100, 120), (120, 120)]  # once per chunk of draws
    other = survival_replicates(
        *args, horizon=tau, threshold=THRESHOLD, n_boot=120, seed=8, max_bins=None
    )
    for p in range(len(parts)):
        for key in BOOT_METRICS:
            np.testing.assert_array_equal(again.replicates[p][key], reps.replicates[p][key])
    assert not np.array_equal(other.replicates[1]["brier"], reps.replicates[1]["brier"])


def test_a_replicate_is_the_point_estimators_on_the_patients_it_drew():
    # tie-free times and risks and no bins: one entry per patient, so a replicate's entry
    # counts are how often each patient was drawn
    time, event, risk, cell, parts, tau = cohort(200, 5)
    reps = survival_replicates(
        time, event, risk, cell, parts, all_released(parts),
        horizon=tau, threshold=THRESHOLD, n_boot=3, seed=21, max_bins=None,
    )  # fmt: skip
    grid = sb._grid(risk, THRESHOLD, None)
    e = sb._entries(time, event.astype(bool), risk, cell, 6, np.ones(200), tau, grid)
    assert e.cell.size == 200
    draws = next(sb._draw_chunks(e, 3, np.random.default_rng(21)))
    weights = draws[e.patient_entry, 1]  # replicate 1: how often each patient was drawn
    sex = 1  # partition ("sex",)
    for g in range(len(parts[sex].keys)):
        m = group_mask(parts[sex], cell, g)
        w = weights[m].astype(int)
        rep = lambda a, w=w, m=m: np.repeat(a[m], w)  # noqa: E731
        want = point_metrics(rep(time), rep(event), rep(risk), tau)
        got = {k: reps.replicates[sex][k][1, g] for k in BOOT_METRICS}
        assert_same(got, want)


@pytest.mark.parametrize("integer_times", [False, True])
def test_resampling_keeps_every_cells_size(integer_times):
    # integer times and 4 risk bins: few entries per cell (multinomial draws); continuous:
    # one entry per patient (patient draws). Both keep n_c in every replicate.
    time, event, risk, cell, _, tau = cohort(400, 2, integer_times=integer_times)
    grid = sb._grid(risk, THRESHOLD, 4 if integer_times else None)
    e = sb._entries(time, event.astype(bool), risk, cell, 6, np.ones(400), tau, grid)
    sizes = np.bincount(cell, minlength=6)
    for draws in sb._draw_chunks(e, 120, np.random.default_rng(1)):
        per_cell = np.stack([draws[e.cell == c].sum(axis=0) for c in range(6)])
        np.testing.assert_array_equal(per_cell, np.repeat(sizes[:, None], draws.shape[1], 1))
        assert draws.min() >= 0 and np.all(draws == np.round(draws))


def test_both_ways_of_drawing_give_the_multinomial_mean_and_variance(monkeypatch):
    # one cell of 30 patients in 3 entries (counts 5, 10, 15), the last two event-free at tau
    # (drawn in two stages: how many are event-free, then which): each count is
    # Binomial(30, p), and the counts are negatively correlated as a multinomial's
    e = sb._Entries(
        cell=np.zeros(3, dtype=np.int64), slot=np.array([0, 1, 1]),
        bin=np.zeros(3, dtype=np.int64), count=np.array([5.0, 10.0, 15.0]),
        mean_r=np.zeros(3), mean_loss=np.zeros(3), n_cells=1, n_events=0,
        event_at_tau=False, n_bins=1, threshold_bin=1, patient_entry=np.zeros(30, dtype=int),
    )  # fmt: skip
    p = np.array([5, 10, 15]) / 30
    for cost in (0.0, 1e9):  # 0: always patient draws; 1e9: always one multinomial
        monkeypatch.setattr(sb, "_COST_CATEGORY", cost)
        draws = np.concatenate(list(sb._draw_chunks(e, 4000, np.random.default_rng(0))), axis=1)
        np.testing.assert_allclose(draws.mean(axis=1), 30 * p, rtol=0.02)
        np.testing.assert_allclose(draws.var(axis=1), 30 * p * (1 - p), rtol=0.08)
        cov = np.cov(draws)[0, 1], np.cov(draws)[1, 2]
        np.testing.assert_allclose(cov, [-30 * p[0] * p[1], -30 * p[1] * p[2]], rtol=0.12)


def test_undefined_replicates_are_counted_not_dropped():
    # site C x sex F holds a single event by the horizon: a replicate that does not draw it
    # has no sensitivity and no auc_t for that group
    time, event, risk, cell, parts, tau = cohort(300, 9)
    pair = 3
    target = None
    for g in range(len(parts[pair].keys)):
        m = group_mask(parts[pair], cell, g)
        if parts[pair].keys[g] == ("F", "C"):
            target, mask = g, m
    case = np.flatnonzero(mask & (event == 1) & (time <= tau))
    event = event.copy()
    event[case[1:]] = 0  # keep one event in the group
    reps = survival_replicates(
        time, event, risk, cell, parts, all_released(parts),
        horizon=tau, threshold=THRESHOLD, n_boot=200, seed=3,
    )  # fmt: skip
    no_event = int(np.sum(reps.replicates[pair]["observed_risk"][:, target] == 0.0))
    assert no_event > 0  # (1 - 1/n)^n of the draws: about a third
    for key in ("sensitivity", "auc_t"):
        col = reps.replicates[pair][key][:, target]
        assert reps.undefined[pair][key][target] == no_event == int(np.isnan(col).sum())
    assert reps.undefined[pair]["brier"][target] == 0


def test_groups_not_released_get_no_replicates(boot):
    time, event, risk, cell, parts, tau, _ = boot
    released = all_released(parts)
    released[3][0] = False
    reps = survival_replicates(
        time, event, risk, cell, parts, released,
        horizon=tau, threshold=THRESHOLD, n_boot=20, seed=7,
    )  # fmt: skip
    assert np.all(np.isnan(reps.replicates[3]["brier"][:, 0]))
    assert reps.undefined[3]["brier"][0] == 0
    assert np.all(np.isfinite(reps.replicates[3]["brier"][:, 1:]))


def test_binned_risks_centre_auc_t_on_the_exact_estimate(boot):
    time, event, risk, cell, parts, tau, exact = boot
    binned = survival_replicates(
        time, event, risk, cell, parts, all_released(parts),
        horizon=tau, threshold=THRESHOLD, n_boot=50, seed=7, max_bins=16,
    )  # fmt: skip
    assert not binned.grid_exact and exact.grid_exact
    for p in range(len(parts)):
        np.testing.assert_allclose(binned.estimates[p]["auc_t"], exact.estimates[p]["auc_t"])
        for key in SLOT_METRICS:
            np.testing.assert_allclose(
                binned.estimates[p][key], exact.estimates[p][key], rtol=0, atol=EXACT
            )
        assert np.all(binned.auc_t_bin_error_bound[p] > 0)
        assert np.all(exact.auc_t_bin_error_bound[p] == 0)


def test_intervals_are_the_percentiles_of_the_defined_replicates(boot):
    *_, reps = boot
    intervals = survival_intervals(reps, 0.95)
    lo, hi = intervals[2]["ppv"]
    want_lo, want_hi, _ = percentile_intervals(reps.replicates[2]["ppv"], 0.95)
    np.testing.assert_array_equal(lo, want_lo)
    np.testing.assert_array_equal(hi, want_hi)
    col = reps.replicates[0]["observed_risk"][:, 0]
    assert intervals[0]["observed_risk"][0][0] == pytest.approx(np.quantile(col, 0.025))


def test_the_95_percent_interval_of_the_observed_risk_covers_the_truth():
    # 60 cohorts of 300 from a known model: exponential event times of rate 0.1 (true risk by
    # tau = 5 is 1 - exp(-0.5)), uniform censoring on [0, 12]; two cells
    truth = 1 - np.exp(-0.5)
    rng = np.random.default_rng(2026)
    part = build_partitions([("a",), ("b",)], ("x",), max_order=1)
    covered = 0
    for i in range(60):
        t, c = rng.exponential(10, 300), rng.uniform(0, 12, 300)
        time, event = np.maximum(np.minimum(t, c), 1e-3), (t <= c).astype(int)
        cell = rng.integers(0, 2, 300)
        reps = survival_replicates(
            time, event, rng.uniform(0.1, 0.6, 300), cell, part, all_released(part),
            horizon=5.0, threshold=THRESHOLD, n_boot=200, seed=i, metrics=("observed_risk",),
        )  # fmt: skip
        lo, hi = survival_intervals(reps, 0.95)[0]["observed_risk"]
        covered += bool(lo[0] <= truth <= hi[0])
    assert 0.85 * 60 <= covered <= 60


def test_bad_arguments_are_named():
    time, event, risk, cell, parts, tau = cohort(60, 1)
    ok = dict(horizon=tau, threshold=THRESHOLD, n_boot=5, seed=0)
    with pytest.raises(ConfigError, match="Unknown bootstrap metric"):
        survival_replicates(
            time, event, risk, cell, parts, all_released(parts), metrics=("auroc",), **ok
        )
    with pytest.raises(SchemaError, match="finest-cell index per patient"):
        survival_replicates(time, event, risk, cell[:10], parts, all_released(parts), **ok)
    with pytest.raises(ConfigError, match="one list per partition"):
        survival_replicates(time, event, risk, cell, parts, [[True]], **ok)
    with pytest.raises(ConfigError, match="'n_boot' parameter"):
        survival_replicates(
            time, event, risk, cell, parts, all_released(parts), **{**ok, "n_boot": 0}
        )


def test_coarse_time_slots_keep_the_estimates_exact_and_the_spread_close():
    # max_time_bins below the distinct event times: the replicates' sampling units use 12
    # quantile time slots (a life table); replicates are centred on the exact estimates, and
    # the interval widths stay close to those of the exact scheme
    time, event, risk, cell, parts, tau = cohort(800, 13)
    args = (time, event, risk, cell, parts, all_released(parts))
    ok = dict(horizon=tau, threshold=THRESHOLD, n_boot=400, seed=5, max_bins=None)
    exact = survival_replicates(*args, **ok, max_time_bins=None)
    coarse = survival_replicates(*args, **ok, max_time_bins=12)
    assert exact.exact_time and not coarse.exact_time
    assert coarse.n_time_slots <= 2 * 12 + 2 < exact.n_time_slots
    m = np.ones(800, dtype=bool)
    assert_same({k: coarse.estimates[0][k][0] for k in BOOT_METRICS},
                point_metrics(time[m], event[m], risk[m], tau))  # fmt: skip
    wide = survival_intervals(exact, 0.95)
    narrow = survival_intervals(coarse, 0.95)
    for key in ("observed_risk", "brier", "sensitivity", "auc_t"):
        w_exact = np.subtract(*wide[0][key][::-1])[0]
        w_coarse = np.subtract(*narrow[0][key][::-1])[0]
        assert 0.75 < w_coarse / w_exact < 1.33, key
    # a bound at or above the number of distinct event times is the exact scheme itself
    same = survival_replicates(*args, **{**ok, "n_boot": 20}, max_time_bins=10_000)
    again = survival_replicates(*args, **{**ok, "n_boot": 20}, max_time_bins=None)
    np.testing.assert_array_equal(same.replicates[3]["npv"], again.replicates[3]["npv"])
