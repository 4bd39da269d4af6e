"""A time-to-event audit as a user runs it: ``cohortaudit audit --time --event --horizon``.

What must hold for the result: every group's numbers are the estimators' on that group's
patients (the estimators are checked against statsmodels, scikit-survival and lifelines in this
folder), the JSON is valid against the shipped schema and reads back, the streamed and Dask
engines give the same JSON as the in-memory one, the same seed gives the same bytes, nothing
released breaks the survival threshold, and policies and card claims work on the new keys.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml

from cohortaudit.cli import main
from cohortaudit.results import AuditResult
from cohortaudit.survival.summary import summarize

SCHEMA = Path(__file__).resolve().parents[2] / "src/cohortaudit/schemas/audit_result.schema.json"
HORIZON = 8.0
K = 10


def _frame(n: int = 2500, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    site = rng.choice(["A", "B", "C"], n)
    rate = 0.04 * np.exp(0.5 * (sex == "M") + 0.3 * (site == "C"))
    t_event = rng.exponential(1.0 / rate)
    censor = np.minimum(rng.uniform(3.0, 14.0, n), rng.exponential(30.0, n))
    time = np.maximum(np.minimum(t_event, censor).round(2), 0.01)
    risk = np.clip(-np.expm1(-rate * HORIZON) * np.exp(rng.normal(0, 0.25, n)), 0.005, 0.95)
    return pd.DataFrame(
        {
            "sex": sex,
            "site": site,
            "fu": time,
            "ev": (t_event <= censor).astype(int),
            "risk": risk.round(5),
        }
    )


def _run(tmp_path: Path, name: str, *extra: str, frame: pd.DataFrame | None = None) -> dict:
    cohort = tmp_path / "cohort.csv"
    if not cohort.exists():
        (frame if frame is not None else _frame()).to_csv(cohort, index=False)
    out = tmp_path / name
    code = main(
        [
            "audit",
            "--cohort",
            str(cohort),
            "--score-column",
            "risk",
            "--time",
            "fu",
            "--event",
            "ev",
            "--horizon",
            str(HORIZON),
            "--time-unit",
            "years",
            "--sensitive",
            "sex",
            "site",
            "--max-order",
            "2",
            "--n-boot",
            "40",
            "--no-explain",
            "--no-safety",
            "--quiet",
            "--out",
            str(out),
            *extra,
        ]
    )
    assert code == 0
    return json.loads((out / "audit.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tte")
    return tmp, _run(tmp, "memory")


def test_the_result_says_what_was_audited(audited):
    _, d = audited
    assert d["settings"]["outcome"] == {
        "kind": "time_to_event",
        "horizon": HORIZON,
        "time_unit": "years",
        "prediction": "risk of the event by the horizon",
    }
    assert d["cohort"]["label"] is None
    assert (d["cohort"]["time"], d["cohort"]["event"]) == ("fu", "ev")
    assert "tied_times" in d["settings"]["survival"]
    assert any(r.startswith("S1:") for r in d["settings"]["disclosure"]["rules"])


def test_the_json_is_valid_against_the_schema_and_reads_back(audited):
    _, d = audited
    jsonschema.validate(d, json.loads(SCHEMA.read_text(encoding="utf-8")))
    again = AuditResult.from_dict(d).to_dict()
    again.pop("run")
    expected = dict(d)
    expected.pop("run")
    assert again == expected


def test_the_binary_case_mix_keys_are_absent_from_a_time_to_event_result(audited):
    # expected error rates under calibration are defined for binary outcomes only
    _, d = audited
    # (settings.findings states the severity rules of every outcome kind, case_mix included)
    text = json.dumps({**d, "settings": {**d["settings"], "findings": None}})
    assert "expected_sensitivity" not in text and "case_mix" not in text
    assert "expected_error_rates" not in d["settings"]


def test_every_released_group_equals_the_estimators_on_its_patients(audited):
    _, d = audited
    frame = _frame()
    for g in [d["overall"], *d["subgroups"]]:
        if g["suppressed"]:
            continue
        mask = np.ones(len(frame), dtype=bool)
        for attr, value in g["attributes"].items():
            mask &= frame[attr].to_numpy() == value
        sub = frame[mask]
        s = summarize(sub["fu"], sub["ev"], sub["risk"], HORIZON, 0.5)
        assert g["n"] == s.n and g["events"] == s.events
        assert g["survival"]["at_risk"] == s.at_risk
        assert g["survival"]["censored_before"] == s.censored_before
        for key, est in s.metrics.items():
            if key in g["withheld"] or est.value is None:
                continue
            assert g["metrics"][key]["value"] == pytest.approx(est.value, rel=1e-10, abs=1e-12)
            if est.lower is not None:
                assert g["metrics"][key]["ci_low"] == pytest.approx(est.lower, rel=1e-10)


def test_bootstrap_intervals_cover_their_point_estimates(audited):
    _, d = audited
    m = d["overall"]["metrics"]
    for key in ("auc_t", "brier", "scaled_brier", "expected_risk", "sensitivity", "npv"):
        assert m[key]["ci_low"] <= m[key]["value"] <= m[key]["ci_high"], key
    auc = [x for x in d["disparities"] if x["metric"] == "auc_t"]
    assert auc and all(x["difference"]["ci_low"] is not None for x in auc)


def test_nothing_released_breaks_the_survival_threshold(audited):
    _, d = audited
    for g in [d["overall"], *d["subgroups"]]:
        if g["suppressed"]:
            assert g["n"] is None and not g["metrics"] and "survival" not in g
            continue
        s = g["survival"]
        for count in (g["events"], s["at_risk"], s["censored_before"]):
            assert count == 0 or count >= K
        km = s.get("km_curve")
        if km:
            assert all(a is None or a >= K for a in km["at_risk"][1:])
        for row in g["calibration_table"]:
            assert row["n"] >= K and row["events"] >= K and row["at_risk"] >= K


def test_the_streamed_and_dask_engines_give_the_same_json(audited):
    tmp, d = audited
    streamed = _run(tmp, "stream", "--chunk-rows", "700")
    for x in (d, streamed):
        x = dict(x)
    a, b = dict(d), dict(streamed)
    a.pop("run"), b.pop("run")
    assert a == b
    pytest.importorskip("dask")
    parquet = tmp / "parquet"
    parquet.mkdir()
    frame = _frame()
    for i in range(3):
        frame.iloc[i::3].to_parquet(parquet / f"part{i}.parquet", index=False)
    code = main(
        [
            "audit", "--cohort", str(parquet), "--engine", "dask", "--score-column", "risk",
            "--time", "fu", "--event", "ev", "--horizon", str(HORIZON), "--time-unit", "years",
            "--sensitive", "sex", "site", "--max-order", "2", "--n-boot", "40", "--no-explain",
            "--no-safety", "--quiet", "--out", str(tmp / "dask"),
        ]
    )  # fmt: skip
    assert code == 0
    dask = json.loads((tmp / "dask" / "audit.json").read_text(encoding="utf-8"))
    # the partitions hold the rows in another order: same groups, same numbers
    assert dask["overall"]["metrics"]["observed_risk"] == d["overall"]["metrics"]["observed_risk"]
    assert dask["overall"]["metrics"]["harrell_c"] == d["overall"]["metrics"]["harrell_c"]
    assert [g["n"] for g in dask["subgroups"]] == [g["n"] for g in d["subgroups"]]


def test_the_same_seed_gives_the_same_bytes(audited):
    tmp, d = audited
    again = _run(tmp, "again")
    a, b = dict(d), dict(again)
    a.pop("run"), b.pop("run")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_policies_and_card_claims_work_on_the_survival_keys(tmp_path):
    policy = tmp_path / "policy.yaml"
    rules = [
        {"id": "c-index", "metric": "harrell_c", "scope": "overall", "bound": "ci_low",
         "op": ">=", "threshold": 0.5},
        {"id": "oe-site", "metric": "oe_ratio", "scope": "attribute:site",
         "bound": "ci_overlaps", "between": [0.8, 1.25]},
        {"id": "auc-gap", "metric": "auc_t", "disparity": "difference", "scope": "attribute:sex",
         "bound": "abs_ci_high", "op": "<=", "threshold": 0.5},
    ]  # fmt: skip
    policy.write_text(yaml.safe_dump({"name": "tte", "rules": rules}), encoding="utf-8")
    cohort = tmp_path / "cohort.csv"
    _frame().to_csv(cohort, index=False)
    d = _run(tmp_path, "policy", "--policy", str(policy))
    by_rule: dict[str, list] = {}
    for v in d["policy"]:
        by_rule.setdefault(v["rule_id"], []).append(v)
    assert set(by_rule) == {"c-index", "oe-site", "auc-gap"}
    assert [v["status"] for v in by_rule["c-index"]] == ["pass"]
    assert len(by_rule["oe-site"]) == 3
