"""Expected error rates under perfect calibration, and the case-mix split of error-rate gaps.

Specification (issue 19, point 1):

* every group's ``expected_sensitivity`` / ``_specificity`` / ``_ppv`` / ``_npv`` is what a
  perfectly calibrated model with the group's predicted risks would have at the threshold
  (TP = sum of p over p >= t, FN = sum of p over p < t, FP and TN the same with 1 - p);
* every engine (in memory, streamed, Dask) gives the same numbers, equal to a direct numpy
  computation on the raw rows;
* a disparity of sensitivity / specificity / PPV / NPV splits into ``case_mix`` (expected
  group - expected reference) and ``beyond_case_mix`` (the rest), with intervals from the same
  joint bootstrap replicates;
* checked on truth: with a calibrated model and different risk distributions per group, the
  gaps are case mix (``beyond_case_mix`` covers 0 in >= 90 % of cohorts); a miscalibrated group
  shows a gap beyond case mix; the intervals match a brute-force patient-level bootstrap.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cohortaudit.audit import run_audit
from cohortaudit.config import AuditConfig
from cohortaudit.metrics import subgroups
from cohortaudit.metrics.expected import EXPECTED_METRICS, expected_from_sorted
from cohortaudit.metrics.fairness import compute_disparities
from cohortaudit.metrics.subgroups import compute_group_metrics, compute_point_estimates
from cohortaudit.render.json import result_to_json, validate_result_dict

SPLIT = ("sensitivity", "specificity", "ppv", "npv")


def direct(p: np.ndarray, t: float) -> dict[str, float]:
    """The definition, written out on raw rows (the independent computation)."""
    above = p >= t
    tp, fn = p[above].sum(), p[~above].sum()
    fp, tn = (1 - p[above]).sum(), (1 - p[~above]).sum()
    return {
        "expected_sensitivity": tp / (tp + fn),
        "expected_specificity": tn / (tn + fp),
        "expected_ppv": tp / above.sum() if above.any() else np.nan,
        "expected_npv": tn / (~above).sum() if (~above).any() else np.nan,
    }


def _cohort(y, p, groups):
    return SimpleNamespace(
        features=None,
        y_true=np.asarray(y, dtype=np.int8),
        y_score=np.asarray(p, dtype=float),
        groups=groups,
        n_input_rows=len(y),
        n_dropped=0,
        caveats=(),
    )


def _two_groups(seed: int, n: int = 2000, *, halve_b: bool = False):
    """Group a: risks ~ Beta(2, 8); group b: ~ Beta(4, 6); y ~ Bernoulli(true risk).

    ``halve_b``: the model predicts half the true risk in group b (miscalibrated there).
    """
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b"], n)
    risk = np.where(g == "a", rng.beta(2, 8, n), rng.beta(4, 6, n))
    y = (rng.random(n) < risk).astype(np.int8)
    p = np.where((g == "b") & halve_b, risk / 2, risk)
    return y, p, pd.DataFrame({"grp": g})


def _disparities(table, refs):
    hidden = [[False] * len(row) for row in table.rows]
    return compute_disparities(table, hidden, hidden, refs, confidence=0.95)


# ------------------------------------------------------------------------------------------
# (a) the definition, by hand
# ------------------------------------------------------------------------------------------


def test_six_patients_by_hand():
    # t = 0.5; at or above: 0.5, 0.7, 0.9 -> TP = 2.1, FP = 0.9; below: 0.1, 0.2, 0.4 ->
    # FN = 0.7, TN = 2.3. Sensitivity 2.1 / 2.8, specificity 2.3 / 3.2, PPV 2.1 / 3, NPV 2.3 / 3
    p = np.array([0.1, 0.2, 0.4, 0.5, 0.7, 0.9])
    y = np.array([0, 1, 0, 0, 1, 1])
    want = {
        "expected_sensitivity": 0.75,
        "expected_specificity": 0.71875,
        "expected_ppv": 0.7,
        "expected_npv": 2.3 / 3,
    }
    got = expected_from_sorted(np.sort(p[y == 1]), np.sort(p[y == 0]), 0.5)
    assert got == pytest.approx(want, abs=1e-15)
    table = compute_point_estimates(
        p, y, pd.DataFrame({"sex": ["F"] * 6}), threshold=0.5, z=1.96, max_order=1
    )
    for row in (table.rows[0][0], table.rows[1][0]):
        assert {k: row.values[k] for k in EXPECTED_METRICS} == pytest.approx(want, abs=1e-15)
    # outcomes play no part: relabelling every patient leaves the expected rates unchanged
    flipped = expected_from_sorted(np.sort(p[y == 0]), np.sort(p[y == 1]), 0.5)
    assert flipped == pytest.approx(want, abs=1e-15)


def test_a_score_at_the_threshold_counts_as_positive_and_empty_sides_are_undefined():
    p = np.array([0.2, 0.5])
    got = expected_from_sorted(np.array([]), p, 0.5)
    assert got["expected_ppv"] == pytest.approx(0.5)  # the 0.5 patient is above
    assert got["expected_npv"] == pytest.approx(0.8)
    nobody_above = expected_from_sorted(np.array([0.1]), np.array([0.2]), 0.9)
    assert np.isnan(nobody_above["expected_ppv"])
    assert nobody_above["expected_sensitivity"] == 0.0
    assert nobody_above["expected_npv"] == pytest.approx(1 - 0.15)


# ------------------------------------------------------------------------------------------
# (b) every group, every engine, against the raw rows
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scored_files(tmp_path_factory):
    rng = np.random.default_rng(3)
    n = 6000
    sex = rng.choice(["F", "M"], n)
    band = rng.choice(["young", "mid", "old"], n, p=[0.4, 0.35, 0.25])
    shape = {"young": (2, 9), "mid": (3, 6), "old": (5, 5)}
    p = np.array([rng.beta(*shape[b]) for b in band])
    y = (rng.random(n) < p).astype(np.int8)
    frame = pd.DataFrame({"y": y, "score": p, "sex": sex, "band": band})
    out = tmp_path_factory.mktemp("expected")
    frame.to_csv(out / "cohort.csv", index=False)
    dataset = out / "dataset"
    dataset.mkdir()
    for i in range(3):
        frame.iloc[i * 2000 : (i + 1) * 2000].to_parquet(dataset / f"p{i}.parquet", index=False)
    return frame, out


def _config():
    return AuditConfig(
        label="y",
        score_column="score",
        sensitive_features=("sex", "band"),
        threshold=0.3,
        n_boot=40,
        safety=False,
        max_intersection_order=2,
    )


def _expected_block(result) -> str:
    """Every group's expected metrics and every split disparity, as JSON (engine-neutral)."""
    d = json.loads(result_to_json(result))
    groups = [
        (g["attributes"], {k: g["metrics"][k] for k in EXPECTED_METRICS})
        for g in [d["overall"], *d["subgroups"]]
    ]
    splits = [
        (x["metric"], x["group"], x["reference"], x["case_mix"], x["beyond_case_mix"])
        for x in d["disparities"]
        if "case_mix" in x
    ]
    return json.dumps([groups, splits, d["settings"]["expected_error_rates"]], sort_keys=True)


def test_every_engine_gives_the_direct_computation_for_every_group(scored_files):
    from cohortaudit.engines import audit_files
    from cohortaudit.engines.dask import audit_dask
    from cohortaudit.engines.stream import audit_stream

    frame, out = scored_files
    memory = audit_files(cohort_path=out / "cohort.csv", config=_config())
    validate_result_dict(json.loads(result_to_json(memory)))
    checked = 0
    for group in (memory.overall, *memory.subgroups):
        assert not group.suppressed
        mask = np.ones(len(frame), dtype=bool)
        for attr, value in group.attributes.items():
            mask &= frame[attr].to_numpy() == value
        want = direct(frame["score"].to_numpy()[mask], 0.3)
        for key in EXPECTED_METRICS:
            mv = group.metrics[key]
            if key in group.withheld:  # a confusion cell below k (rule 2): withheld with it
                assert "sensitivity" in group.withheld and mv.value is None
                continue
            assert mv.value == pytest.approx(want[key], rel=1e-11), (group.attributes, key)
            assert mv.ci_low <= mv.value <= mv.ci_high
            checked += 1
    assert checked == 4 * (1 + 2 + 3 + 6)  # every group: none has a confusion cell below k
    streamed = audit_stream(cohort_path=out / "cohort.csv", config=_config(), chunk_rows=1400)
    on_dask = audit_dask(dataset=out / "dataset", config=_config())
    assert _expected_block(streamed) == _expected_block(memory)
    assert _expected_block(on_dask) == _expected_block(memory)


def test_the_split_adds_up_and_only_error_rate_disparities_carry_it(scored_files):
    from cohortaudit.engines import audit_files

    _, out = scored_files
    result = audit_files(cohort_path=out / "cohort.csv", config=_config())
    by_attrs = {tuple(sorted(g.attributes.items())): g for g in (result.overall, *result.subgroups)}
    split = 0
    for d in result.disparities:
        if d.metric not in SPLIT:
            assert d.case_mix is None and d.beyond_case_mix is None
            assert "case_mix" not in d.to_dict()
            continue
        g, r = by_attrs[tuple(sorted(d.group.items()))], by_attrs[tuple(sorted(d.reference.items()))]
        key = f"expected_{d.metric}"
        assert d.case_mix.value == pytest.approx(
            g.metrics[key].value - r.metrics[key].value, abs=1e-11
        )
        assert d.beyond_case_mix.value == pytest.approx(
            d.difference.value - d.case_mix.value, abs=1e-11
        )
        assert d.case_mix.ci_low <= d.case_mix.value <= d.case_mix.ci_high
        split += 1
    # 4 metrics x (each non-reference group vs its reference + every group vs all patients)
    # 4 metrics x (each non-reference group vs its reference + every group vs all patients)
    assert split == 4 * ((1 + 2 + 5) + (2 + 3 + 6))


def test_a_group_whose_threshold_metrics_are_withheld_withholds_its_expected_rates_too():
    # group "b": 40 patients, only 3 at or above t -> tp / fp below k = 10 -> rule 2
    rng = np.random.default_rng(5)
    p = np.concatenate([rng.beta(3, 5, 600), np.r_[rng.uniform(0.01, 0.2, 37), 0.5, 0.6, 0.7]])
    y = (rng.random(len(p)) < p).astype(np.int8)
    y[600:620] = 1
    y[620:637] = 0
    groups = pd.DataFrame({"grp": ["a"] * 600 + ["b"] * 40})
    config = AuditConfig(
        label="y", score_column="p", sensitive_features=("grp",), threshold=0.3, n_boot=20
    )
    result = run_audit(_cohort(y, p, groups), None, config)
    b = next(g for g in result.subgroups if g.attributes == {"grp": "b"})
    assert not b.suppressed and "sensitivity" in b.withheld
    for key in EXPECTED_METRICS:
        assert key in b.withheld
        assert b.metrics[key].value is None and b.metrics[key].ci_low is None
    assert not [d for d in result.disparities if d.group == {"grp": "b"} and d.metric in SPLIT]


# ------------------------------------------------------------------------------------------
# (c), (d) checked on truth
# ------------------------------------------------------------------------------------------


def test_a_calibrated_model_shows_its_error_rate_gaps_as_case_mix(monkeypatch):
    """Different risk distributions, perfect calibration: the error-rate gaps are case mix.

    50 seeded cohorts of 2,000, B = 200, through the engine's own API (the audit's per-group
    numbers). The calibration smoother's replicates (ICI, E50...) play no part here and are cut
    to 10 so that the test stays near 15 s.
    """
    monkeypatch.setattr(subgroups, "SMOOTHER_REPLICATES", 10)
    n_seeds, covered, inside, case_mix = 50, {m: 0 for m in SPLIT}, {m: 0 for m in SPLIT}, []
    for seed in range(n_seeds):
        y, p, groups = _two_groups(seed)
        table = compute_group_metrics(
            p, y, groups, threshold=0.3, z=1.96, confidence=0.95, n_boot=200, seed=seed,
            max_bins=256, max_order=1,
        )  # fmt: skip
        b = table.rows[1][1]
        for m in SPLIT:  # the observed rate's interval holds the expected one
            lo, hi = b.ci[m]
            inside[m] += lo <= b.values[f"expected_{m}"] <= hi
        for d in _disparities(table, {1: 0}):
            if d.group == {"grp": "b"} and d.reference_kind == "group" and d.metric in SPLIT:
                covered[d.metric] += d.beyond_case_mix.ci_low <= 0 <= d.beyond_case_mix.ci_high
                if d.metric == "specificity":
                    case_mix.append((d.case_mix.value, d.case_mix.ci_high))
    for m in SPLIT:
        assert covered[m] >= 0.9 * n_seeds, (m, covered[m])
        assert inside[m] >= 0.9 * n_seeds, (m, inside[m])
    assert sum(covered.values()) >= 0.92 * 4 * n_seeds, covered  # nominal: 95 %
    # the specificity gap itself is large and explained: group b's risks are higher
    assert all(value < -0.2 and high < 0 for value, high in case_mix)


def test_a_miscalibrated_group_shows_a_gap_beyond_case_mix():
    """Group b's risks halved: its PPV and NPV gaps are not explained by its risks.

    (Sensitivity is not: halving every risk leaves sum(p >= t) / sum(p) over the true risks
    >= 2t unchanged, so a uniform scale error only shows in PPV, NPV and specificity.)
    """
    y, p, groups = _two_groups(11, n=4000, halve_b=True)
    table = compute_group_metrics(
        p, y, groups, threshold=0.2, z=1.96, confidence=0.95, n_boot=200, seed=1,
        max_bins=256, max_order=1,
    )  # fmt: skip
    split = {
        d.metric: d
        for d in _disparities(table, {1: 0})
        if d.group == {"grp": "b"} and d.reference_kind == "group" and d.metric in SPLIT
    }
    # observed PPV of b is about twice its expected PPV (the true risks are twice the predicted)
    assert split["ppv"].beyond_case_mix.ci_low > 0.1
    assert split["npv"].beyond_case_mix.ci_high < 0
    b = table.rows[1][1]
    assert b.values["ppv"] == pytest.approx(2 * b.values["expected_ppv"], rel=0.15)


# ------------------------------------------------------------------------------------------
# (e) the interval against a brute-force patient-level bootstrap
# ------------------------------------------------------------------------------------------


def test_intervals_match_a_patient_level_bootstrap():
    """Resample patients within each finest cell (the engine's strata) and recompute from
    raw rows. Scores on a 0.01 grid: the engine's score grid is exact, so both bootstraps
    have the same distribution; the intervals must agree within Monte-Carlo error."""
    rng = np.random.default_rng(21)
    n, t, b_reps = 600, 0.3, 2000
    sex = rng.choice(["F", "M"], n)
    grp = rng.choice(["a", "b"], n)
    risk = np.where(grp == "a", rng.beta(2, 8, n), rng.beta(4, 6, n))
    p = np.clip(np.round(risk, 2), 0.01, 0.99)
    y = (rng.random(n) < p).astype(np.int8)
    groups = pd.DataFrame({"sex": sex, "grp": grp})
    table = compute_group_metrics(
        p, y, groups, threshold=t, z=1.96, confidence=0.95, n_boot=b_reps, seed=4,
        max_bins=256, max_order=1,
    )  # fmt: skip
    assert table.grid_exact
    refs = {1: 0, 2: 0}  # sex: F is the reference
    split = next(
        d
        for d in _disparities(table, refs)
        if d.metric == "sensitivity" and d.group == {"sex": "M"} and d.reference_kind == "group"
    )

    cell = pd.factorize(pd.Series(sex) + "|" + pd.Series(grp))[0]
    strata = [np.flatnonzero(cell == c) for c in range(cell.max() + 1)]
    brute = {"overall": [], "M": [], "cm": [], "beyond": []}
    boot_rng = np.random.default_rng(99)
    for _ in range(b_reps):
        idx = np.concatenate([s[boot_rng.integers(0, len(s), len(s))] for s in strata])
        pb, yb, sb = p[idx], y[idx], sex[idx]
        e = {k: direct(pb[sb == k], t)["expected_sensitivity"] for k in ("F", "M")}
        obs = {k: np.mean(pb[(sb == k) & (yb == 1)] >= t) for k in ("F", "M")}
        brute["overall"].append(direct(pb, t)["expected_sensitivity"])
        brute["M"].append(e["M"])
        brute["cm"].append(e["M"] - e["F"])
        brute["beyond"].append((obs["M"] - obs["F"]) - (e["M"] - e["F"]))
    engine = {
        "overall": table.rows[0][0].ci["expected_sensitivity"],
        "M": table.rows[1][1].ci["expected_sensitivity"],
        "cm": (split.case_mix.ci_low, split.case_mix.ci_high),
        "beyond": (split.beyond_case_mix.ci_low, split.beyond_case_mix.ci_high),
    }
    for key, reps in brute.items():
        reps = np.asarray(reps)
        lo, hi = np.quantile(reps, [0.025, 0.975])
        # each 2.5 % quantile of B = 2000 replicates has an SD of ~0.06 bootstrap SDs
        tol = 0.3 * reps.std()
        assert engine[key][0] == pytest.approx(lo, abs=tol), key
        assert engine[key][1] == pytest.approx(hi, abs=tol), key
