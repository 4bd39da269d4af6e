"""Net benefit at the horizon with bootstrap intervals (issue 19, point 5, time-to-event).

The point estimate at the operating threshold is the survival decision curve's
(:func:`cohortaudit.survival.decision.decision_curve`, Vickers et al. 2008) at that threshold;
the engine's intervals (:mod:`cohortaudit.survival.bootstrap_utility`: coarse life-table slots,
centred on the exact value) must agree with the brute-force patient bootstrap that recomputes
the decision curve on every resample, within Monte-Carlo error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohortaudit.survival.bootstrap_utility import NB_KEYS, net_benefit_intervals
from cohortaudit.survival.decision import decision_curve
from cohortaudit.survival.table import survival_point_table

TAU, T = 10.0, 0.15
B = 300


@pytest.fixture(scope="module")
def cohort():
    rng = np.random.default_rng(19)
    n = 2400
    sex = rng.choice(["F", "M"], n)
    risk = rng.beta(2, 8, n)
    hazard = -np.log1p(-risk) / TAU * np.where(sex == "F", 1.0, 1.5)
    t_event = rng.exponential(1 / hazard)
    t_cens = rng.uniform(3, 15, n)
    return np.minimum(t_event, t_cens), t_event <= t_cens, risk, sex


def _nb(time, event, risk):
    (p,) = decision_curve(time, event, risk, horizon=TAU, thresholds=(T,))
    return p.net_benefit, p.net_benefit - p.net_benefit_treat_all


@pytest.fixture(scope="module")
def engine(cohort):
    time, event, risk, sex = cohort
    table = survival_point_table(
        time, event, risk, pd.DataFrame({"sex": sex}), horizon=TAU, threshold=T, max_order=1,
        min_cell=10,
    )  # fmt: skip
    released = [[True] * len(row) for row in table.rows]
    exact = [[dict(r.values) for r in row] for row in table.rows]
    got = net_benefit_intervals(
        time, event, risk, table.cell, table.partitions, released, exact, horizon=TAU,
        threshold=T, n_boot=B, seed=3, confidence=0.95,
    )  # fmt: skip
    return table, got


def test_the_point_estimate_is_the_decision_curve_at_the_operating_threshold(cohort, engine):
    time, event, risk, sex = cohort
    table, _ = engine
    for row in table.rows:
        for r in row:
            mask = np.ones(sex.size, bool) if not r.attributes else sex == r.attributes["sex"]
            nb, delta = _nb(time[mask], event[mask], risk[mask])
            assert r.values["net_benefit"] == pytest.approx(nb, abs=1e-12)
            assert r.values["net_benefit_vs_treat_all"] == pytest.approx(delta, abs=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("who", [{}, {"sex": "F"}, {"sex": "M"}])
def test_intervals_agree_with_the_brute_force_patient_bootstrap(cohort, engine, who):
    time, event, risk, sex = cohort
    table, (intervals, _) = engine
    (p, g), *_ = [
        (p, g) for p, row in enumerate(table.rows) for g, r in enumerate(row)
        if dict(r.attributes) == who
    ]  # fmt: skip
    mask = np.ones(sex.size, bool) if not who else sex == who["sex"]
    rng = np.random.default_rng(7)
    cells = [c for c in (np.flatnonzero(mask & (sex == s)) for s in ("F", "M")) if c.size]
    reps = []
    for _ in range(B):
        idx = np.concatenate([c[rng.integers(0, c.size, c.size)] for c in cells])
        reps.append(_nb(time[idx], event[idx], risk[idx]))
    reps = np.array(reps)
    for i, key in enumerate(NB_KEYS):
        lo, hi = intervals[p][key][0][g], intervals[p][key][1][g]
        b_lo, b_hi = np.percentile(reps[:, i], [2.5, 97.5])
        tol = 0.3 * (b_hi - b_lo)  # Monte-Carlo error of 2.5 % / 97.5 % points of 300 draws
        assert abs(lo - b_lo) <= tol and abs(hi - b_hi) <= tol, (key, (lo, hi), (b_lo, b_hi))
        assert lo <= table.rows[p][g].values[key] <= hi


def test_a_group_whose_threshold_metrics_are_withheld_gets_no_interval(cohort, engine):
    time, event, risk, sex = cohort
    table, _ = engine
    released = [[True] * len(row) for row in table.rows]
    released[1][0] = False
    intervals, _ = net_benefit_intervals(
        time, event, risk, table.cell, table.partitions, released,
        [[dict(r.values) for r in row] for row in table.rows], horizon=TAU, threshold=T,
        n_boot=50, seed=3, confidence=0.95,
    )  # fmt: skip
    assert np.isnan(intervals[1]["net_benefit"][0][0])
    assert np.isfinite(intervals[1]["net_benefit"][0][1])
