"""The audit result answers queries (issue 15, point 6): partitions, groups, references, typed
read-only views of its blocks, and a fairlearn MetricFrame-shaped view of its released numbers.

The views must not change the stored JSON (tests/test_golden.py keeps it byte-identical); these
tests check that they read the same facts the dicts hold, and that ``metric_frame`` agrees with
a real ``fairlearn.metrics.MetricFrame`` computed from the patients themselves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, selection_rate
from sklearn.metrics import recall_score

from cohortaudit.audit import run_audit
from cohortaudit.config import AuditConfig
from cohortaudit.errors import ConfigError
from cohortaudit.pipeline import load_inputs
from cohortaudit.results import AuditResult
from cohortaudit.scoring import score

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
CONFIG = AuditConfig(
    label="cvd_10y",
    sensitive_features=("sex", "age", "ethnicity"),
    bins={"age": (40, 50, 60, 70, 80)},
    reference={"sex": "F"},
    max_intersection_order=2,
    n_boot=0,
    safety=False,
)


@pytest.fixture(scope="module")
def audited():
    inputs = load_inputs(
        cohort_path=SAMPLE / "cohort.csv",
        config=CONFIG,
        model_path=SAMPLE / "model.onnx",
        card_path=SAMPLE / "model.card.yaml",
    )
    result = run_audit(
        inputs.cohort, inputs.model, CONFIG, card=inputs.card, test_vectors=inputs.test_vectors
    )
    return result, inputs


def test_partitions_are_single_attributes_first_in_config_order(audited):
    result, _ = audited
    parts = result.partitions()
    assert parts[:3] == (("sex",), ("age",), ("ethnicity",))
    assert set(parts[3:]) == {("sex", "age"), ("sex", "ethnicity"), ("age", "ethnicity")}
    assert all(len(p) == 2 for p in parts[3:])


def test_groups_for_returns_exactly_one_partitions_groups_in_result_order(audited):
    result, _ = audited
    sex = result.groups_for("sex")
    assert sex == result.groups_for(("sex",))
    assert [g.attributes for g in sex] == [
        g.attributes for g in result.subgroups if list(g.attributes) == ["sex"]
    ]
    assert {g.attributes["sex"] for g in sex} == {"F", "M"}
    assert result.groups_for(("age", "sex")) == ()  # order of attributes matters, as stored


def test_reference_for_is_the_recorded_reference_group(audited):
    result, _ = audited
    assert result.reference_attributes("sex") == {"sex": "F"}
    assert result.reference_for("sex") == result.subgroup(sex="F")
    recorded = {tuple(e["attributes"]): e["reference"] for e in result.settings["references"]}
    for part in result.partitions():
        ref = recorded.get(part) or {}
        want = result.overall if not ref else result.subgroup(**ref)
        assert result.reference_for(part) == want


def test_settings_view_reads_the_stored_settings_read_only(audited):
    result, _ = audited
    view = result.settings_view
    assert view.threshold == result.settings["threshold"]
    assert view.min_cell == result.settings["disclosure"]["min_cell"] == result.min_cell
    assert view.n_boot == 0
    assert view.confidence_level == result.settings["confidence_level"]
    with pytest.raises(TypeError):
        view.raw["threshold"] = 0.9  # type: ignore[index]
    assert result.safety_view is None and result.sites_view is None
    assert result.user_metrics_view is None


def test_views_do_not_change_the_json(audited):
    result, _ = audited
    before = result.to_dict()
    result.settings_view, result.partitions(), result.metric_frame()
    assert result.to_dict() == before
    assert "user_metrics" not in before
    assert AuditResult.from_dict(before) == result


def test_safety_and_explanation_views_fall_back_to_the_audits_k():
    d = {"settings": {"confidence": 0.9, "skipped": {"shift": "no card"}}, "shift": [{"a": 1}]}
    from cohortaudit.result_views import ExplanationsView, SafetyView

    view = SafetyView.from_dict(d, audit_min_cell=7)
    assert (view.min_cell, view.confidence, dict(view.skipped)) == (7, 0.9, {"shift": "no card"})
    assert view.shift[0]["a"] == 1 and dict(view.robustness) == {}
    ex = ExplanationsView.from_dict(
        {"by_group": [{"attribute": "sex", "reference": "F"}]}, audit_min_cell=5
    )
    assert ex.reference_value("sex") == "F" and ex.reference_value("age") == ""


@pytest.mark.parametrize("attributes", [("sex",), ("sex", "age")])
def test_metric_frame_matches_fairlearn_on_the_patients(audited, attributes):
    result, inputs = audited
    cohort = inputs.cohort
    y_true = np.asarray(cohort.y_true, dtype=int)
    y_pred = (score(inputs.model, cohort.features) >= result.settings["threshold"]).astype(int)
    features = cohort.groups[list(attributes)].astype(str)
    real = MetricFrame(
        metrics={"sensitivity": recall_score, "selection_rate": selection_rate},
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=features,
    )
    view = result.metric_frame(metric_keys=["sensitivity", "selection_rate"], attributes=attributes)
    assert list(view.by_group.index.names) == list(real.by_group.index.names)
    released = real.by_group.loc[view.by_group.index]  # suppressed groups are absent
    withheld = view.by_group.isna()  # a confusion cell below k: withheld, never a number
    for label, row in withheld.iterrows():
        labels = (label,) if len(attributes) == 1 else label
        group = result.subgroup(**dict(zip(attributes, labels, strict=True)))
        assert set(row.index[row]) <= set(group.withheld)
    pd.testing.assert_frame_equal(
        view.by_group, released.where(~withheld), check_exact=False, rtol=1e-9
    )
    pd.testing.assert_series_equal(view.overall, real.overall, check_exact=False, rtol=1e-9)
    complete = len(released) == len(real.by_group) and not withheld.any().any()
    assert complete or len(attributes) > 1  # sex is released in full: the branch below runs
    if complete:
        # every value released: fairlearn's aggregates agree too
        for method in ("between_groups", "to_overall"):
            pd.testing.assert_series_equal(view.difference(method), real.difference(method))
            pd.testing.assert_series_equal(view.ratio(method), real.ratio(method))
        pd.testing.assert_series_equal(view.group_min(), real.group_min())
        pd.testing.assert_series_equal(view.group_max(), real.group_max())


def test_metric_frame_refuses_unknown_partition_and_metric(audited):
    result, _ = audited
    with pytest.raises(ConfigError, match=r"must name a partition of this audit"):
        result.metric_frame(attributes="site")
    with pytest.raises(ConfigError, match=r"names metrics this audit does not have: \['nope'\]"):
        result.metric_frame(metric_keys=["nope"])
    with pytest.raises(ConfigError, match=r"'between_groups' or 'to_overall'"):
        result.metric_frame().difference("max")  # type: ignore[arg-type]
