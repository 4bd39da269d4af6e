"""Safety checks in a time-to-event audit (issue 16, point 5): what runs and what is said.

The shift of the model inputs against the card and the intended-use check do not need the
outcome, so they run as in a binary audit. The outcome's prevalence shift, the robustness
check (AUROC and sensitivity under perturbation) and the weak-slice search are defined on a 0/1
outcome; reading the event column as one would count patients censored before the horizon as
event-free, so they are skipped with the reason stated, never run on the wrong outcome.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cohortaudit.cli import main

SURV = Path(__file__).resolve().parents[2] / "sample_data" / "survival"


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("tte_safety")
    cohort = tmp / "cohort.csv"
    pd.read_csv(SURV / "cohort.csv").head(3000).to_csv(cohort, index=False)
    code = main(
        [
            "audit", "--model", str(SURV / "model.onnx"), "--card", str(SURV / "model.card.yaml"),
            "--cohort", str(cohort), "--sensitive", "sex", "site", "--event", "cvd_event",
            "--time", "fu_years", "--horizon", "10", "--n-boot", "20", "--no-explain",
            "--quiet", "--out", str(tmp / "out"),
        ]
    )  # fmt: skip
    assert code == 0
    return json.loads((tmp / "out" / "audit.json").read_text(encoding="utf-8"))


def test_shift_and_intended_use_run_on_the_model_inputs(result):
    safety = result["safety"]
    shifted = {f["feature"] for f in safety["shift"]}
    assert {"age", "sbp", "total_chol"} <= shifted
    assert safety["intended_use"]["rows"][0]["n"] == 3000


def test_the_checks_defined_on_a_0_1_outcome_are_skipped_with_the_reason(result):
    safety = result["safety"]
    skipped = safety["settings"]["skipped"]
    assert set(skipped) == {"outcome_shift", "robustness", "weak_slices"}
    assert all("censored before" in why for why in skipped.values())
    assert safety["robustness"] is None and safety["weak_slices"] == []
    # the event column is never compared with the development prevalence as if it were 0/1
    assert not [f for f in safety["shift"] if f["statistic"] == "prevalence_difference"]


def test_the_caveat_names_what_runs_and_what_does_not(result):
    (caveat,) = [c for c in result["caveats"] if c["code"] == "survival_safety_not_run"]
    assert "shift of the model inputs" in caveat["message"]
    assert "weak-slice search" in caveat["message"]
