"""Bootstrap bands of the time-to-event decision curve (cohortaudit.survival.bootstrap_decision).

Checked against a brute-force patient bootstrap of the exact decision curve
(survival.decision.decision_curve on resampled patients), and for coverage of the true net
benefit on cohorts from a known model; the audit's decision-curve rows carry the intervals.
"""

from __future__ import annotations

import numpy as np
import pytest

from cohortaudit.metrics.subgroups import build_partitions
from cohortaudit.survival.bootstrap_decision import decision_curve_intervals
from cohortaudit.survival.decision import decision_curve

TAU = 5.0
GRID = (0.05, 0.1, 0.15, 0.2, 0.3)


def _cohort(rng: np.random.Generator, n: int):
    lam = 0.03 * np.exp(rng.normal(0.0, 0.8, n))
    t_event = rng.exponential(1.0 / lam)
    t_cens = np.minimum(rng.uniform(2.0, 12.0, n), rng.exponential(25.0, n))
    return np.minimum(t_event, t_cens), t_event <= t_cens, 1.0 - np.exp(-lam * TAU)


def _band(time, event, risk, *, n_boot=200, seed=0):
    part = build_partitions([("all",)], ("x",), max_order=1)
    curve = decision_curve(time, event, risk, horizon=TAU, thresholds=GRID)
    (band,) = decision_curve_intervals(
        time, event, risk, np.zeros(len(time), dtype=np.int64), part, [[curve]],
        horizon=TAU, n_boot=n_boot, seed=seed, confidence=0.95,
    )[0]  # fmt: skip
    return curve, band


def test_the_band_matches_a_brute_force_bootstrap_of_the_exact_curve():
    rng = np.random.default_rng(3)
    time, event, risk = _cohort(rng, 3000)
    curve, band = _band(time, event, risk, n_boot=400)
    nb, gain = [], []
    for _ in range(400):
        i = rng.integers(0, len(time), len(time))
        pts = decision_curve(time[i], event[i], risk[i], horizon=TAU, thresholds=GRID)
        nb.append([p.net_benefit for p in pts])
        gain.append([p.net_benefit - p.net_benefit_treat_all for p in pts])
    for lo, hi, reps in (
        (band.nb_low, band.nb_high, np.array(nb)),
        (band.gain_low, band.gain_high, np.array(gain)),
    ):
        want_lo, want_hi = np.quantile(reps, [0.025, 0.975], axis=0)
        width = want_hi - want_lo
        # two Monte-Carlo estimates of the same percentiles: within a fifth of the width
        assert np.all(np.abs(lo - want_lo) <= 0.2 * width), (lo, want_lo)
        assert np.all(np.abs(hi - want_hi) <= 0.2 * width), (hi, want_hi)
    # the band surrounds the exact curve
    exact = np.array([p.net_benefit for p in curve])
    assert np.all((band.nb_low <= exact) & (exact <= band.nb_high))


@pytest.mark.slow
def test_the_band_covers_the_true_net_benefit_about_95_percent_of_the_time():
    rng = np.random.default_rng(20261208)
    lam = 0.03 * np.exp(rng.normal(0.0, 0.8, 2_000_000))
    r = 1.0 - np.exp(-lam * TAU)
    grid = np.array(GRID)
    treated = r[None, :] >= grid[:, None]
    # a calibrated model: the treated's Kaplan-Meier risk estimates their mean true risk
    truth = (
        np.mean(treated * r, axis=1) - np.mean(treated * (1 - r), axis=1) * grid / (1 - grid)
    )
    runs, hits = 80, np.zeros(grid.size)
    for i in range(runs):
        time, event, risk = _cohort(rng, 1000)
        _, band = _band(time, event, risk, seed=i)
        hits += (band.nb_low <= truth) & (truth <= band.nb_high)
    coverage = hits / runs
    assert np.all((coverage >= 0.87) & (coverage <= 1.0)), coverage
    assert 0.90 <= coverage.mean() <= 0.99, coverage


def test_nothing_is_computed_for_groups_without_a_curve_and_without_replicates():
    time, event, risk = _cohort(np.random.default_rng(5), 200)
    part = build_partitions([("all",)], ("x",), max_order=1)
    args = (time, event, risk, np.zeros(200, dtype=np.int64), part)
    kw = dict(horizon=TAU, seed=0, confidence=0.95)
    assert decision_curve_intervals(*args, [[None]], n_boot=50, **kw) == ((None,),)
    curve = decision_curve(time, event, risk, horizon=TAU, thresholds=GRID)
    assert decision_curve_intervals(*args, [[curve]], n_boot=0, **kw) == ((None,),)
