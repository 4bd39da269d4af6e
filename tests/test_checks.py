"""The safety and explanations blocks of an audit: on the sample, in the JSON, aggregate-only."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cohortaudit.config import AuditConfig
from cohortaudit.pipeline import audit_files
from cohortaudit.render.json import result_to_json, validate_result_dict
from cohortaudit.safety import slice_words

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
SENSITIVE = ("sex", "age", "ethnicity", "deprivation", "site")


def _config(**kw):
    base = dict(
        label="cvd_10y",
        sensitive_features=SENSITIVE,
        bins={"age": (40, 50, 60, 70, 80)},
        n_boot=50,
        max_intersection_order=1,
    )
    base.update(kw)
    return AuditConfig(**base)


@pytest.fixture(scope="module")
def sample_result():
    """The sample audited with safety checks and a 300-row explanation (about 30 s)."""
    return audit_files(
        cohort_path=SAMPLE / "cohort.csv",
        config=_config(explain=True, explain_rows=300),
        model_path=SAMPLE / "model.onnx",
        card_path=SAMPLE / "model.card.yaml",
    )


def _slices(result, metric):
    return [w for w in result.safety["weak_slices"] if w["metric"] == metric]


# ------------------------------------------------------------------------------------ safety


def test_safety_block_is_in_the_json_and_matches_the_schema(sample_result):
    data = json.loads(result_to_json(sample_result))
    validate_result_dict(data)
    assert set(data["safety"]) == {
        "shift",
        "intended_use",
        "robustness",
        "weak_slices",
        "weak_slice_groups",
        "settings",
    }
    assert data["safety"]["settings"]["slice_grouping"]["jaccard_min"] == 0.7
    assert data["safety"]["settings"]["skipped"] == {}
    assert data["safety"]["settings"]["slice_fdr"] == 0.05


def test_every_planted_problem_is_found_and_named(sample_result):
    safety = sample_result.safety
    serious = [f for f in safety["shift"] if f["flag"] == "serious"]
    units = [f for f in serious if f["statistic"] == "median_ratio"]
    assert [(f["feature"], f["group"]) for f in units] == [("total_chol", {"site": "FI-Tampere"})]
    assert "cholesterol" in units[0]["message"]

    def found(metric, attributes):
        return any(w["attributes"] == attributes for w in _slices(sample_result, metric))

    assert found("sensitivity", {"sex": "F"})  # planted 2: lower sensitivity for women
    assert found("auroc", {"sex": "F"})
    assert found("oe", {"deprivation": "5"})  # planted 1: under-prediction
    assert found("oe", {"site": "FI-Tampere"})  # planted 3: units -> over-prediction
    assert found("auroc", {"ethnicity": "South Asian"})  # planted 4
    # and no site other than Tampere is named for its cholesterol
    for f in safety["shift"]:
        if f["feature"] == "total_chol" and f["group"].get("site") not in (None, "FI-Tampere"):
            assert f["flag"] == "none", f


def test_every_planted_problem_leads_its_own_weak_slice_group(sample_result):
    """Grouping must not bury a planted problem inside another group: each is the slice its
    group is shown by, and each of its flagged sub-slices is in that group or in the group of
    its other (closer) parent."""
    safety = sample_result.safety
    slices, groups = safety["weak_slices"], safety["weak_slice_groups"]
    planted = [
        ("sensitivity", {"sex": "F"}),
        ("oe", {"deprivation": "5"}),
        ("oe", {"site": "FI-Tampere"}),
        ("auroc", {"ethnicity": "South Asian"}),
    ]
    owner = {i: g for g in groups for i in g["members"]}

    def lead_of(i):
        return slices[owner[i]["lead"]]

    for metric, attrs in planted:
        (group,) = [
            g
            for g in groups
            if slices[g["lead"]]["metric"] == metric and slices[g["lead"]]["attributes"] == attrs
        ]
        subs = [
            i
            for i, w in enumerate(slices)
            if w["metric"] == metric and w["attributes"].items() > attrs.items()
        ]
        # every flagged sub-slice is in the planted group, or in the group of its other parent
        for i in subs:
            assert owner[i] is group or lead_of(i)["attributes"].items() < slices[i][
                "attributes"
            ].items(), (attrs, slices[i]["attributes"])
    assert len(groups) < len(slices) / 2


def test_weak_slices_are_described_in_words_and_controlled(sample_result):
    for w in sample_result.safety["weak_slices"]:
        assert w["q_value"] <= 0.05
        assert w["n"] >= 10 and w["events"] >= 10 and w["n"] - w["events"] >= 10
        assert w["value"]["ci_low"] <= w["value"]["value"] <= w["value"]["ci_high"]
        assert w["description"].startswith(slice_words(w["attributes"]) + ":")
        # open outer bins: a slice never states the cohort's minimum or maximum value
        for value in w["attributes"].values():
            assert not value.startswith("[") or value.count(",") == 1


def test_intended_use_counts_the_planted_out_of_population_patients(sample_result):
    frame = pd.read_csv(SAMPLE / "cohort.csv")
    rows = {json.dumps(r["group"]): r for r in sample_result.safety["intended_use"]["rows"]}
    whole = rows["{}"]
    age = frame["age"]
    under_40, over_80, aged_80 = (int(m.sum()) for m in (age < 40, age > 80, age == 80))
    # each age group's count is the data's; the whole cohort's total (age < 40 or >= 80) would
    # add the patients aged exactly 80, who sit in the released group [70, 80], and there are
    # fewer than k of them: so the total is withheld (disclosure pass, issue 14 point 3)
    assert rows[json.dumps({"age": "< 40"})]["outside_population"] == under_40 > 0
    assert rows[json.dumps({"age": "> 80"})]["outside_population"] == over_80 > 0
    assert 0 < aged_80 < sample_result.settings["disclosure"]["min_cell"]
    assert whole["outside_population"] is None and "outside_population" in whole["suppressed"]
    assert whole["missing"]["bmi"] == int(frame["bmi"].isna().sum()) > 0


def test_robustness_rows_have_paired_intervals(sample_result):
    rob = sample_result.safety["robustness"]
    assert rob["seed"] == sample_result.config["seed"]
    whole = [r for r in rob["rows"] if r["group"] == {}]
    assert {r["perturbation"] for r in whole} == {"gaussian_noise", "category_flip"}
    for r in whole:
        d = r["delta_auroc"]
        assert d["ci_low"] <= d["value"] <= d["ci_high"]
        assert d["value"] == pytest.approx(r["auroc_perturbed"] - r["auroc"], abs=1e-9)


def test_scores_mode_skips_what_needs_a_model_and_says_why(tmp_path):
    frame = pd.read_csv(SAMPLE / "cohort.csv").iloc[:4000]
    frame["risk"] = 0.1 + 0.5 * frame["cvd_10y"] * 0.3
    path = tmp_path / "scored.csv"
    frame.to_csv(path, index=False)
    result = audit_files(
        cohort_path=path, config=_config(score_column="risk", sensitive_features=("sex",), bins={})
    )
    skipped = result.safety["settings"]["skipped"]
    assert "scores mode" in skipped["robustness"]
    assert result.safety["robustness"] is None and result.safety["shift"] == []
    assert result.explanations is None


def test_safety_can_be_turned_off():
    result = audit_files(
        cohort_path=SAMPLE / "cohort.csv",
        config=_config(safety=False, sensitive_features=("sex",), bins={}),
        model_path=SAMPLE / "model.onnx",
    )
    assert result.safety is None and result.to_dict()["safety"] is None


# ------------------------------------------------------------------------------ explanations


def test_explanations_block_follows_the_contract(sample_result):
    e = sample_result.explanations
    assert e["settings"]["n_explain"] == 300 and e["settings"]["scale"] == "probability"
    assert e["settings"]["min_cell"] == 10
    first = e["global"][0]
    assert set(first) == {"feature", "mean_abs_shap"}
    assert set(first["mean_abs_shap"]) == {"value", "ci_low", "ci_high"}
    values = [g["mean_abs_shap"]["value"] for g in e["global"]]
    assert values == sorted(values, reverse=True)


def test_planted_reliance_ranks_first_in_the_group_comparison(sample_result):
    """Tampere's cholesterol in mg/dL makes the model lean on it there: the largest difference.

    Differences on the input that defines the groups (age for age bands) are left out: that
    the model leans on age more for the oldest band is true by construction.
    """
    rows = [
        (abs(f["difference"]["value"]), g["attribute"], g["group"], f["feature"])
        for g in sample_result.explanations["by_group"]
        if not g["suppressed"]
        for f in g["features"]
        if f["feature"] != g["attribute"]
        and (f["difference"]["ci_low"] > 0 or f["difference"]["ci_high"] < 0)
    ]
    assert max(rows)[1:] == ("site", "FI-Tampere", "total_chol")


def test_explanations_use_the_audit_reference_groups(sample_result):
    refs = {
        a: v for item in sample_result.settings["references"] for a, v in item["reference"].items()
    }
    for g in sample_result.explanations["by_group"]:
        assert g["reference"] == refs[g["attribute"]]


def test_a_sensitive_attribute_used_as_input_is_not_its_own_proxy(sample_result):
    e = sample_result.explanations
    assert e["settings"]["proxy_direct_inputs"] == ["age", "sex"]
    for p in e["proxies"]:
        assert p["feature"] != p["attribute"]


def test_no_patient_value_leaves_in_the_explanations(sample_result):
    """Every explained patient's own inputs are absent: only bins, counts >= k and means."""
    e = sample_result.explanations
    for counts in e["distribution"]["counts"].values():
        assert all(c is None or c == 0 or c >= 10 for c in counts)
    for dep in e["dependence"].values():
        for b in dep["bins"]:
            assert b["n"] is None or b["n"] >= 10
        if dep["kind"] == "quantile_bins":  # outer edges would be single patients' values
            assert dep["bins"][0]["low"] is None and dep["bins"][-1]["high"] is None
    text = json.dumps(e)
    assert "shap_values" not in text and "waterfall" not in text
