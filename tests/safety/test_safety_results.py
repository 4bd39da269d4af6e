"""The safety result bundle and its recorded settings (safety.results)."""

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


def _inputs(frame, card):
    return frame[[i.name for i in card.inputs]]


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
