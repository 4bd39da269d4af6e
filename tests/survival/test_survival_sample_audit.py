"""The bundled time-to-event sample, audited as its README says, finds the planted problems.

The truths come from the uncensored event times the build script knows
(sample_data/survival/README.md): under-prediction for deprivation 5 (true O/E 1.57), over-
prediction at ES-Valencia (0.76), poorer discrimination for South Asian patients (true AUC(10)
0.66 vs 0.80), and a whole cohort close to calibrated (1.04) that a binary cvd_10y audit calls
over-predicted (0.69). The binary audit of the same file is refused unless asked for.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cohortaudit.cli import main

ROOT = Path(__file__).resolve().parents[2]
SURV = ROOT / "sample_data" / "survival"
COMMON = [
    "--model", str(SURV / "model.onnx"), "--card", str(SURV / "model.card.yaml"),
    "--cohort", str(SURV / "cohort.csv"), "--sensitive", "sex", "age", "ethnicity",
    "deprivation", "site", "--bins", "age=40,50,60,70,80", "--max-order", "1",
    "--n-boot", "100", "--no-explain", "--no-safety", "--quiet",
]  # fmt: skip


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("surv") / "out"
    code = main(["audit", *COMMON, "--time", "fu_years", "--event", "cvd_event",
                 "--horizon", "10", "--out", str(out)])  # fmt: skip
    assert code == 0
    return json.loads((out / "audit.json").read_text(encoding="utf-8"))


def _group(result, **attributes):
    for g in result["subgroups"]:
        if g["attributes"] == attributes:
            return g
    raise AssertionError(attributes)


def test_under_prediction_for_the_most_deprived_is_found(result):
    oe = _group(result, deprivation="5")["metrics"]["oe_ratio"]
    assert oe["ci_low"] > 1.0
    assert oe["ci_low"] <= 1.57 <= oe["ci_high"]


def test_over_prediction_at_es_valencia_is_found(result):
    oe = _group(result, site="ES-Valencia")["metrics"]["oe_ratio"]
    assert oe["ci_high"] < 1.0
    assert oe["ci_low"] <= 0.76 <= oe["ci_high"]


def test_poorer_discrimination_for_south_asian_patients_is_found(result):
    south_asian = _group(result, ethnicity="South Asian")["metrics"]["auc_t"]
    white = _group(result, ethnicity="White European")["metrics"]["auc_t"]
    assert south_asian["ci_high"] < white["value"]
    gap = [
        d for d in result["disparities"]
        if d["metric"] == "auc_t" and d["group"] == {"ethnicity": "South Asian"}
        and d["reference_kind"] == "group"
    ]  # fmt: skip
    assert gap and gap[0]["difference"]["ci_high"] < 0


def test_the_whole_cohort_is_close_to_calibrated_where_the_binary_label_says_otherwise(result):
    oe = result["overall"]["metrics"]["oe_ratio"]
    assert oe["ci_low"] <= 1.04 <= oe["ci_high"]
    assert oe["ci_low"] > 0.69  # what mean(cvd_10y) / mean predicted gives


def test_a_binary_audit_of_the_censored_label_is_refused_unless_asked_for(tmp_path, capsys):
    args = ["audit", *COMMON, "--label", "cvd_10y", "--time", "fu_years"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "--censored-as-event-free" in err and "follow-up" in err
    assert main([*args, "--censored-as-event-free", "--out", str(tmp_path / "b")]) == 0
    binary = json.loads((tmp_path / "b" / "audit.json").read_text(encoding="utf-8"))
    assert "censored_as_event_free" in {c["code"] for c in binary["caveats"]}
