"""Intended-use fit: population, input ranges, missing inputs, withheld counts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cohortaudit import safety
from cohortaudit.card import load_card

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture(scope="module")
def card():
    return load_card(SAMPLE / "model.card.yaml")


@pytest.fixture(scope="module")
def sample():
    return pd.read_csv(SAMPLE / "cohort.csv")


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
