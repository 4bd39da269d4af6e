"""Cohort shift against the card's development-data summary (safety.shift)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohortaudit import safety
from cohortaudit.card import load_card
from cohortaudit.errors import SchemaError
from cohortaudit.safety.shift import numeric_shift

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


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
