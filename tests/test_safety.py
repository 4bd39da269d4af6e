"""Safety checks: shift vs the card, intended-use fit, robustness, weak slices."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from cohortaudit import safety
from cohortaudit.card import load_card
from cohortaudit.errors import ConfigError, SchemaError
from cohortaudit.safety.perturbation import flip_categories, paired_delong
from cohortaudit.safety.shift import numeric_shift
from cohortaudit.safety.slices import midranks_within

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


@pytest.fixture(scope="module")
def card():
    return load_card(SAMPLE / "model.card.yaml")


@pytest.fixture(scope="module")
def sample():
    return pd.read_csv(SAMPLE / "cohort.csv")


@pytest.fixture(scope="module")
def build_sample():
    spec = importlib.util.spec_from_file_location("_build_sample", SAMPLE / "build_sample.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["_build_sample"] = module
    spec.loader.exec_module(module)
    return module


def _inputs(frame, card):
    return frame[[i.name for i in card.inputs]]


def _by(findings, feature, statistic, group):
    return [
        f
        for f in findings
        if f.feature == feature and f.statistic == statistic and f.group == group
    ]


# ------------------------------------------------------------------------------------------
# shift
# ------------------------------------------------------------------------------------------


def test_sample_tampere_cholesterol_is_a_serious_unit_change(sample, card):
    findings = safety.compute_shift(
        _inputs(sample, card), card, groups=sample[["site"]], y_true=sample["cvd_10y"]
    )
    tampere = {"site": "FI-Tampere"}
    unit = _by(findings, "total_chol", "median_ratio", tampere)
    assert len(unit) == 1
    assert unit[0].flag == "serious"
    assert unit[0].unit_factor == pytest.approx(38.67)
    assert "multiplied by ~38.7" in unit[0].message
    assert "cholesterol" in unit[0].message
    assert _by(findings, "total_chol", "smd", tampere)[0].flag == "serious"
    for site in ("DE-Berlin", "ES-Valencia", "FR-Lyon"):
        for f in findings:
            if f.feature == "total_chol" and f.group == {"site": site}:
                assert f.flag != "serious", f
                assert f.statistic != "median_ratio"
    # no other input at any site looks like a unit change
    units = [f for f in findings if f.statistic == "median_ratio"]
    assert [(f.feature, f.group) for f in units] == [("total_chol", tampere)]


def test_messages_carry_no_row_values(sample, card):
    findings = safety.compute_shift(_inputs(sample, card), card, groups=sample[["site"]])
    text = " ".join(f.message for f in findings)
    worst = sample.loc[sample.site == "FI-Tampere", "total_chol"].max()
    assert f"{worst:g}" not in text


def test_development_draw_has_no_serious_shift(build_sample, card):
    dev = build_sample.simulate_population(5000, 11, kind="development")
    findings = safety.compute_shift(
        _inputs(dev, card), card, groups=dev[["site"]], y_true=dev["cvd_10y"]
    )
    assert findings
    serious = [f for f in findings if f.flag == "serious"]
    assert serious == []


def test_times_ten_change_flagged_on_that_feature_only(build_sample, card):
    dev = build_sample.simulate_population(5000, 12, kind="development")
    feats = _inputs(dev, card).copy()
    feats["sbp"] = feats["sbp"] * 10
    findings = safety.compute_shift(feats, card)
    flagged = {f.feature for f in findings if f.flag == "serious"}
    assert flagged == {"sbp"}
    unit = _by(findings, "sbp", "median_ratio", {})
    assert unit and unit[0].unit_factor == pytest.approx(10.0)
    assert "multiplied by ~10" in unit[0].message


def test_division_is_named_as_such(build_sample, card):
    dev = build_sample.simulate_population(3000, 13, kind="development")
    feats = _inputs(dev, card).copy()
    feats["total_chol"] = feats["total_chol"] / 38.67
    unit = _by(safety.compute_shift(feats, card), "total_chol", "median_ratio", {})
    assert unit and "divided by ~38.7" in unit[0].message


def test_categorical_shift_and_unseen_categories(build_sample, card):
    dev = build_sample.simulate_population(3000, 14, kind="development")
    feats = _inputs(dev, card).copy()
    feats.loc[: len(feats) // 2, "smoking"] = "current"
    feats.loc[:299, "sex"] = "X"
    findings = safety.compute_shift(feats, card)
    assert _by(findings, "smoking", "tvd", {})[0].flag == "serious"
    unseen = _by(findings, "sex", "unseen_categories", {})[0]
    assert unseen.value == pytest.approx(0.1)
    assert unseen.flag == "serious"
    assert _by(findings, "smoking", "unseen_categories", {}) == []


def test_ks_at_quantiles_matches_direct_computation(card):
    rng = np.random.default_rng(0)
    ref = next(i for i in card.inputs if i.name == "sbp").reference
    x = rng.normal(140, 16, 4000)
    finding = numeric_shift("sbp", {}, x, ref, z=1.959964, min_cell=10)
    ks = next(f for f in finding if f.statistic == "ks_at_quantiles")
    q = np.array([float(k) for k in ref["quantiles"]])
    xq = np.array([float(v) for v in ref["quantiles"].values()])
    expected = np.max(np.abs((x[:, None] <= xq[None, :]).mean(axis=0) - q))
    assert ks.value == pytest.approx(expected)
    smd = next(f for f in finding if f.statistic == "smd")
    pooled = math.sqrt((x.std(ddof=1) ** 2 + ref["sd"] ** 2) / 2)
    assert smd.value == pytest.approx((x.mean() - ref["mean"]) / pooled)


def test_prevalence_finding_uses_wilson(sample, card):
    findings = safety.compute_shift(_inputs(sample, card), card, y_true=sample["cvd_10y"])
    prev = _by(findings, "outcome", "prevalence_difference", {})[0]
    y = sample["cvd_10y"].to_numpy()
    assert prev.value == pytest.approx(y.mean() - card.development_data["prevalence"])
    assert prev.ci_low < prev.value < prev.ci_high


def test_shift_rejects_bad_inputs(card):
    with pytest.raises(SchemaError, match="must be a pandas DataFrame"):
        safety.compute_shift([1, 2], card)
    with pytest.raises(SchemaError, match="'groups' frame has 1 rows"):
        safety.compute_shift(
            pd.DataFrame({"age": [50.0, 60.0]}), card, groups=pd.DataFrame({"g": ["a"]})
        )


# ------------------------------------------------------------------------------------------
# intended use
# ------------------------------------------------------------------------------------------


def test_intended_use_counts_match_direct_counts(sample, card):
    result = safety.intended_use_fit(sample, card, groups=sample[["site"]])
    age = sample["age"]
    outside = (age < 40) | (age >= 80)
    overall = result.rows[0]
    assert overall.group == {}
    assert overall.outside_population == int(outside.sum()) == 273
    assert overall.missing["bmi"] == int(sample["bmi"].isna().sum())
    tc = next(i for i in card.inputs if i.name == "total_chol")
    assert overall.out_of_range["total_chol"] == int(
        ((sample.total_chol < tc.min) | (sample.total_chol > tc.max)).sum()
    )
    for row in result.rows[1:]:
        site = row.group["site"]
        direct = int(outside[sample.site == site].sum())
        assert row.outside_population == (direct if direct == 0 or direct >= 10 else None)
    tampere = next(r for r in result.rows if r.group == {"site": "FI-Tampere"})
    assert tampere.out_of_range["total_chol"] == tampere.n
    json.dumps(result.to_dict())


def test_intended_use_suppresses_small_counts(card):
    frame = pd.DataFrame({"age": [35.0] * 3 + [50.0] * 30, "g": ["a"] * 33})
    result = safety.intended_use_fit(frame, card, groups=frame[["g"]])
    assert result.rows[0].outside_population is None
    assert "outside_population" in result.rows[0].suppressed
    assert result.population_rule == "age < 40 or age >= 80"


# ------------------------------------------------------------------------------------------
# robustness
# ------------------------------------------------------------------------------------------


def _robust_data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(0, 1, n),
            "x2": rng.normal(5, 2, n),
            "cat": rng.choice(["a", "b", "c"], n),
        }
    )

    def score(df):
        lp = -2 + 1.2 * df["x1"].to_numpy() + 0.4 * (df["x2"].to_numpy() - 5)
        return expit(lp + 0.8 * (df["cat"].to_numpy() == "b"))

    y = rng.binomial(1, score(frame))
    groups = pd.DataFrame({"g": rng.choice(["u", "v"], n)})
    return frame, y, score, groups


def test_robustness_zero_noise_is_zero_change():
    frame, y, score, groups = _robust_data()
    res = safety.robustness(
        frame, y, score, threshold=0.2, groups=groups, noise_levels=(0.0,), flip_rates=(0.0,)
    )
    assert len(res.rows) == 2 * 3  # two perturbations x (overall + two groups)
    for row in res.rows:
        assert row.delta_auroc.value == 0.0
        assert row.delta_sensitivity.value == 0.0
        assert row.auroc == pytest.approx(
            roc_auc_score(
                y if not row.group else y[groups.g == row.group["g"]],
                score(frame) if not row.group else score(frame)[groups.g == row.group["g"]],
            )
        )


def test_robustness_more_noise_larger_drop_and_deterministic():
    frame, y, score, _ = _robust_data()
    drops = {0.05: [], 0.5: [], 1.0: []}
    for seed in range(4):
        res = safety.robustness(
            frame,
            y,
            score,
            threshold=0.2,
            noise_levels=tuple(drops),
            flip_rates=(),
            random_state=seed,
        )
        for row in res.rows:
            drops[row.level].append(row.delta_auroc.value)
    means = [np.mean(drops[k]) for k in sorted(drops)]
    assert means[0] > means[1] > means[2]
    assert means[2] < -0.02
    a = safety.robustness(frame, y, score, threshold=0.2, random_state=7).to_dict()
    b = safety.robustness(frame, y, score, threshold=0.2, random_state=7).to_dict()
    assert json.dumps(a) == json.dumps(b)
    assert a["perturbed_columns"] == {"gaussian_noise": ["x1", "x2"], "category_flip": ["cat"]}


def test_paired_delong_matches_separate_aucs_and_flip_changes_categories():
    frame, y, score, _ = _robust_data(n=800, seed=3)
    s1 = score(frame)
    s2 = s1 + np.random.default_rng(1).normal(0, 0.1, len(s1))
    a1, a2, d, se = paired_delong(y, s1, s2)
    assert a1 == pytest.approx(roc_auc_score(y, s1))
    assert a2 == pytest.approx(roc_auc_score(y, s2))
    assert d == pytest.approx(a2 - a1) and se > 0
    flipped = flip_categories(frame, ["cat"], 0.1, np.random.default_rng(0))
    changed = (flipped["cat"] != frame["cat"]).mean()
    assert 0.07 < changed < 0.13
    assert set(flipped["cat"]) <= {"a", "b", "c"}


def test_robustness_rejects_bad_threshold():
    frame, y, score, _ = _robust_data(n=100)
    with pytest.raises(ConfigError, match="'threshold' parameter must be a float in \\(0, 1\\)"):
        safety.robustness(frame, y, score, threshold=1.5)


# ------------------------------------------------------------------------------------------
# weak slices
# ------------------------------------------------------------------------------------------


def _slice_data(n, seed, *, planted):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    p = expit(-1.6 + 1.1 * x)
    y = rng.binomial(1, p)
    frame = pd.DataFrame(
        {
            "g1": rng.choice(["a", "b", "c", "d"], n),
            "g2": rng.choice(["x", "y", "z"], n),
            "num": rng.uniform(20, 90, n),
        }
    )
    if planted:
        sl = ((frame.g1 == "a") & (frame.g2 == "x")).to_numpy()
        p = p.copy()
        p[sl] = rng.permutation(p[sl])  # same risks, shuffled: no discrimination in the slice
    return y, p, frame


def test_weak_slices_null_reports_nothing_in_most_seeds():
    clean = 0
    for seed in range(20):
        y, p, frame = _slice_data(1500, seed, planted=False)
        if not safety.weak_slices(y, p, frame, threshold=0.2):
            clean += 1
    assert clean >= 18


def test_weak_slices_finds_planted_slice_first():
    y, p, frame = _slice_data(6000, 5, planted=True)
    found = safety.weak_slices(y, p, frame, threshold=0.2)
    assert found
    top = found[0]
    assert top.attributes == {"g1": "a", "g2": "x"}
    metrics = {w.metric for w in found if w.attributes == top.attributes}
    assert "auroc" in metrics
    assert top.description.startswith("g1 = a, g2 = x: ")
    assert " rest " in top.description
    json.dumps([w.to_dict() for w in found])


def test_weak_slice_statistics_match_direct_computation():
    y, p, frame = _slice_data(3000, 6, planted=True)
    found = safety.weak_slices(y, p, frame, threshold=0.2, fdr=0.999)
    auroc = next(w for w in found if w.metric == "auroc" and w.attributes == {"g1": "a", "g2": "x"})
    sl = ((frame.g1 == "a") & (frame.g2 == "x")).to_numpy()
    assert auroc.value.value == pytest.approx(roc_auc_score(y[sl], p[sl]))
    assert auroc.rest_value == pytest.approx(roc_auc_score(y[~sl], p[~sl]))
    from cohortaudit.metrics.performance import auroc_delong

    _, se = auroc_delong(np.sort(p[sl][y[sl] == 1]), np.sort(p[sl][y[sl] == 0]))
    assert auroc.value.ci_high - auroc.value.value == pytest.approx(
        min(1.959964 * se, 1 - auroc.value.value), rel=1e-4
    )
    # numeric columns are cut at quartiles, the outer bins open (no cohort minimum or maximum)
    num = {w.attributes["num"] for w in found if "num" in w.attributes}
    assert num and all(v[0] in "[<≥" for v in num)
    assert not any(v.startswith("[") and v.endswith("]") for v in num)


def test_midrank_within_matches_scipy():
    from scipy.stats import rankdata

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 3, 200)
    s = rng.integers(0, 10, 200).astype(float)
    r = midranks_within(codes, s)
    for c in range(3):
        assert np.allclose(r[codes == c], rankdata(s[codes == c]))


# ------------------------------------------------------------------------------------------
# bundle
# ------------------------------------------------------------------------------------------


def test_safety_result_to_dict_is_plain_json(sample, card):
    sub = sample.iloc[:3000]
    shift = safety.compute_shift(
        _inputs(sub, card), card, groups=sub[["site"]], y_true=sub["cvd_10y"]
    )
    use = safety.intended_use_fit(sub, card, groups=sub[["site"]])
    result = safety.SafetyResult(shift=shift, intended_use=use, robustness=None, weak_slices=())
    d = result.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert "NaN" not in text
    assert d["settings"]["smd"]["serious"] == 0.25
    assert d["settings"]["weak_slices"]["multiplicity"] == "Benjamini-Hochberg across all tests"
