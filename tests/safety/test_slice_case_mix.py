"""The case-mix split of weak sensitivity slices (cohortaudit.safety.slice_case_mix).

A slice of low-risk patients has a lower sensitivity at a fixed threshold even when the model is
perfectly calibrated; the split says how much of a slice's gap its own predicted risks imply
and how much is beyond them. Checked against the definitions computed row by row, a
patient-level bootstrap, calibrated simulations (the gap beyond case mix covers 0 about 95% of
the time) and a miscalibrated control (it must not).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cohortaudit import safety
from cohortaudit.safety import group_weak_slices
from cohortaudit.safety.slice_case_mix import case_mix_weights, slice_case_mix

T = 0.2
Z = 1.959963984540054


def _cohort(rng: np.random.Generator, n: int = 6000, *, flat_in_slice: bool = False):
    """Half the patients ("low") at lower risk; calibrated unless ``flat_in_slice``, where the
    low slice's outcomes ignore the score (same mean risk: calibrated on average, but the
    score ranks nobody inside the slice)."""
    low = rng.random(n) < 0.5
    logit = np.where(low, -2.6, -1.2) + rng.normal(0, 0.9, n)
    p = 1 / (1 + np.exp(-logit))
    risk = p.copy()
    if flat_in_slice:
        risk[low] = p[low].mean()
    y = (rng.random(n) < risk).astype(int)
    frame = pd.DataFrame({"risk_group": np.where(low, "low", "high")})
    return y, p, frame, low


def _split(y, p, in_slice):
    """The split for one slice, through the module (slice code 1, rest 0)."""
    codes = in_slice.astype(np.int64)
    pred = p >= T
    case = y == 1

    def bc(w):
        return np.bincount(codes, weights=w, minlength=2)

    mix = case_mix_weights(y, p, pred)
    r = slice_case_mix(
        bc,
        mix,
        tp_s=bc((pred & case).astype(float)),
        m_s=bc(case.astype(float)),
        e_s=bc(p),
        tp_all=float((pred & case).sum()),
        m_all=float(case.sum()),
        e_all=float(p.sum()),
    )
    return r.expected[1], r.expected_rest[1], r.beyond[1], r.se[1]


def _by_hand(y, p, in_slice):
    """Observed minus expected sensitivity, rest minus slice, straight from the rows."""

    def d(mask):
        yy, pp = y[mask], p[mask]
        observed = ((pp >= T) & (yy == 1)).sum() / (yy == 1).sum()
        expected = pp[pp >= T].sum() / pp.sum()
        return observed, expected

    o_s, e_s = d(in_slice)
    o_r, e_r = d(~in_slice)
    return e_s, e_r, (o_r - e_r) - (o_s - e_s)


def test_expected_sensitivity_and_the_gap_beyond_case_mix_match_the_rows():
    y, p, _, low = _cohort(np.random.default_rng(1))
    e_s, e_r, beyond, _ = _split(y, p, low)
    want = _by_hand(y, p, low)
    assert (e_s, e_r, beyond) == pytest.approx(want, abs=1e-12)


def test_the_standard_error_matches_a_patient_bootstrap():
    rng = np.random.default_rng(2)
    y, p, _, low = _cohort(rng, n=4000)
    *_, se = _split(y, p, low)
    boot = []
    for _ in range(600):
        i = rng.integers(0, len(y), len(y))
        boot.append(_by_hand(y[i], p[i], low[i])[2])
    assert se == pytest.approx(np.std(boot, ddof=1), rel=0.12)


def test_a_calibrated_model_s_gap_beyond_case_mix_covers_zero_about_95_percent_of_the_time():
    rng = np.random.default_rng(3)
    covered = 0
    runs = 200
    for _ in range(runs):
        y, p, _, low = _cohort(rng, n=3000)
        _, _, beyond, se = _split(y, p, low)
        covered += abs(beyond) <= Z * se
    assert 0.90 * runs <= covered <= 0.99 * runs


def test_a_slice_the_score_does_not_rank_shows_a_gap_beyond_case_mix():
    y, p, _, low = _cohort(np.random.default_rng(4), flat_in_slice=True)
    _, _, beyond, se = _split(y, p, low)
    assert beyond - Z * se > 0


def test_a_low_risk_slice_of_a_calibrated_model_is_flagged_and_marked_case_mix():
    y, p, frame, _ = _cohort(np.random.default_rng(5), n=20_000)
    found = safety.weak_slices(y, p, frame, threshold=T)
    sens = [w for w in found if w.metric == "sensitivity"]
    assert [w.attributes for w in sens] == [{"risk_group": "low"}]
    w = sens[0]
    assert w.case_mix
    assert w.to_dict()["case_mix"] is True
    assert w.beyond_case_mix.ci_low <= 0 <= w.beyond_case_mix.ci_high
    assert "case mix alone implies" in w.description
    # only sensitivity slices carry the split
    assert all("case_mix" not in x.to_dict() for x in found if x.metric != "sensitivity")


def test_a_slice_the_model_fails_beyond_case_mix_is_not_marked_and_ranks_first():
    y, p, frame, _ = _cohort(np.random.default_rng(6), n=20_000, flat_in_slice=True)
    found = safety.weak_slices(y, p, frame, threshold=T)
    sens = [w for w in found if w.metric == "sensitivity"]
    assert sens and not sens[0].case_mix and sens[0].beyond_case_mix.ci_low > 0


def test_groups_led_by_a_case_mix_slice_rank_after_every_other_group():
    rng = np.random.default_rng(7)
    y, p, frame, _ = _cohort(rng, n=20_000)
    # a second attribute on which the score is uninformative for one level
    other = rng.random(len(y)) < 0.3
    y = y.copy()
    y[other] = (rng.random(other.sum()) < p[other].mean()).astype(int)
    frame = frame.assign(clinic=np.where(other, "B", "A"))
    found = safety.weak_slices(y, p, frame, threshold=T, max_order=1)
    groups = group_weak_slices(found, frame, min_cell=10)
    flags = [g.case_mix for g in groups]
    assert True in flags and False in flags
    assert flags == sorted(flags)  # every False before every True
    assert all(g.case_mix == found[g.lead].case_mix for g in groups)


def test_predicted_risks_squeezed_in_a_slice_are_a_calibration_failure_not_case_mix():
    # outcomes follow the true risks, the model squeezes one slice's risks towards their mean
    # (near the threshold): the cases it still flags are riskier than it says, so the slice's
    # observed sensitivity exceeds what its squeezed risks imply and the gap beyond case mix
    # lies below 0: a calibration failure, not case mix
    y, p, _, low = _cohort(np.random.default_rng(8), n=20_000)
    high = ~low
    m = p[high].mean()
    p = np.where(high, m + 0.6 * (p - m), p)
    frame = pd.DataFrame({"risk_group": np.where(high, "squeezed", "other")})
    _, _, beyond, se = _split(y, p, high)
    assert beyond + Z * se < 0
    found = safety.weak_slices(y, p, frame, threshold=T)
    assert not any(w.case_mix for w in found if w.metric == "sensitivity")
