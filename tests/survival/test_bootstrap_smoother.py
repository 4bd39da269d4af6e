"""Intervals for ICI, E50, E90, Emax and the band of the calibration curve at the horizon
(issue 16, point 2): the engine's binned, vectorised bootstrap against the brute-force one.

The brute force resamples patients within their finest cell (here: sex), refits
:func:`cohortaudit.survival.calibration.flexible_calibration` on every replicate and takes
percentiles -- the definition. The engine (:mod:`cohortaudit.survival.bootstrap_smoother`)
refits the same spline Cox model on coarse (time, risk) bins and centres on the exact estimate;
its intervals must agree with the definition's within Monte-Carlo error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohortaudit.survival.bootstrap_smoother import SMOOTHER_METRICS, smoother_intervals
from cohortaudit.survival.calibration import flexible_calibration
from cohortaudit.survival.table import survival_point_table

TAU = 10.0
B = 200


def _cohort(n: int = 2400, seed: int = 3):
    """Predicted 10-year risks; women's true hazard as predicted, men's 1.7 times it (men's
    risk under-predicted, so their ICI is clearly above 0); uniform censoring from 3 years."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    risk = rng.beta(2, 8, n)
    hazard = -np.log1p(-risk) / TAU * np.where(sex == "F", 1.0, 1.7)
    t_event = rng.exponential(1 / hazard)
    t_cens = rng.uniform(3, 15, n)
    return np.minimum(t_event, t_cens), t_event <= t_cens, risk, sex


def _engine(time, event, risk, sex, seed=1):
    table = survival_point_table(
        time, event, risk, pd.DataFrame({"sex": sex}), horizon=TAU, threshold=0.2,
        max_order=1, min_cell=10,
    )  # fmt: skip
    exact = [[dict(r.values) for r in row] for row in table.rows]
    curves = [[r.survival.summary.calibration_curve for r in row] for row in table.rows]
    released = [[True] * len(row) for row in table.rows]
    got = smoother_intervals(
        time, event, risk, table.cell, table.partitions, released, exact, curves,
        horizon=TAU, n_smooth=B, seed=seed, confidence=0.95,
    )  # fmt: skip
    return table, got


def _brute(time, event, risk, sex, mask, seed=9):
    rng = np.random.default_rng(seed)
    cells = [np.flatnonzero(mask & (sex == s)) for s in ("F", "M")]
    cells = [c for c in cells if c.size]
    values = {m: [] for m in SMOOTHER_METRICS}
    for _ in range(B):
        idx = np.concatenate([c[rng.integers(0, c.size, c.size)] for c in cells])
        fit = flexible_calibration(time[idx], event[idx], risk[idx], horizon=TAU)
        for m in SMOOTHER_METRICS:
            v = getattr(fit, m).value
            values[m].append(np.nan if v is None else v)
    return {m: np.nanpercentile(v, [2.5, 97.5]) for m, v in values.items()}


@pytest.fixture(scope="module")
def cohort():
    return _cohort()


@pytest.fixture(scope="module")
def engine(cohort):
    return _engine(*cohort)


@pytest.mark.slow
@pytest.mark.parametrize("who", [{}, {"sex": "F"}, {"sex": "M"}])
def test_engine_intervals_agree_with_the_brute_force_patient_bootstrap(cohort, engine, who):
    time, event, risk, sex = cohort
    table, got = engine
    (p, g), *_ = [
        (p, g) for p, row in enumerate(table.rows) for g, r in enumerate(row)
        if dict(r.attributes) == who
    ]  # fmt: skip
    mask = np.ones(sex.size, bool) if not who else sex == who["sex"]
    brute = _brute(time, event, risk, sex, mask)
    for m in SMOOTHER_METRICS:
        lo, hi = got.intervals[p][m][0][g], got.intervals[p][m][1][g]
        b_lo, b_hi = brute[m]
        width = b_hi - b_lo
        # Monte-Carlo error of a 2.5 % / 97.5 % percentile of 200 replicates is ~15-20 % of
        # the width, for both; the max (Emax) is the noisiest statistic
        tol = (0.45 if m == "emax" else 0.3) * width
        assert abs(lo - b_lo) <= tol and abs(hi - b_hi) <= tol, (m, (lo, hi), (b_lo, b_hi))
        assert 0.0 <= lo <= table.rows[p][g].values[m] <= hi, m


def test_the_curve_band_brackets_the_curve_and_stays_in_0_1(engine):
    table, got = engine
    for p, row in enumerate(table.rows):
        for g, r in enumerate(row):
            lo, hi = got.bands[p][g]
            observed = np.array([o for _, o in r.survival.summary.calibration_curve])
            assert lo.shape == hi.shape == observed.shape
            assert np.all((lo >= 0) & (lo <= observed + 1e-12) & (observed <= hi + 1e-12))
            assert np.all(hi <= 1)


def test_the_men_under_predicted_have_an_ici_interval_above_the_womens(engine):
    table, got = engine
    (p,) = [p for p, part in enumerate(table.partitions) if part.attributes == ("sex",)]
    index = {r.attributes["sex"]: r.index for r in table.rows[p]}
    lo_m = got.intervals[p]["ici"][0][index["M"]]
    hi_f = got.intervals[p]["ici"][1][index["F"]]
    assert lo_m > hi_f


def test_same_seed_same_intervals_and_another_seed_others(cohort):
    _, a = _engine(*cohort, seed=5)
    _, b = _engine(*cohort, seed=5)
    _, c = _engine(*cohort, seed=6)
    for p in range(len(a.intervals)):
        for m in SMOOTHER_METRICS:
            assert np.array_equal(a.intervals[p][m][0], b.intervals[p][m][0])
    assert not np.array_equal(a.intervals[0]["ici"][0], c.intervals[0]["ici"][0])


def test_a_withheld_group_gets_no_interval(cohort):
    time, event, risk, sex = cohort
    table = survival_point_table(
        time, event, risk, pd.DataFrame({"sex": sex}), horizon=TAU, threshold=0.2,
        max_order=1, min_cell=10,
    )  # fmt: skip
    released = [[True] * len(row) for row in table.rows]
    released[1][0] = False
    got = smoother_intervals(
        time, event, risk, table.cell, table.partitions, released,
        [[dict(r.values) for r in row] for row in table.rows],
        [[r.survival.summary.calibration_curve for r in row] for row in table.rows],
        horizon=TAU, n_smooth=50, seed=1, confidence=0.95,
    )  # fmt: skip
    assert np.isnan(got.intervals[1]["ici"][0][0]) and got.bands[1][0] is None
    assert np.isfinite(got.intervals[1]["ici"][0][1])
