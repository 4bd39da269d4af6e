"""Plain-language findings: built only from disparities whose CI excludes 0."""

from __future__ import annotations

from cohortaudit.render.findings import (
    calibration_findings,
    calibration_sentence,
    disparity_findings,
    finding_sentence,
    format_estimate,
)
from cohortaudit.results import (
    AuditResult,
    CohortInfo,
    Disparity,
    GroupResult,
    MetricValue,
    ModelInfo,
)

MV = MetricValue


def _group(attrs, sens, *, suppressed=False):
    metrics = {} if suppressed else {"sensitivity": sens, "selection_rate": MV(0.3, 0.2, 0.4)}
    return GroupResult(
        attributes=attrs,
        n=None if suppressed else 500,
        events=None if suppressed else 100,
        suppressed=suppressed,
        metrics=metrics,
    )


def _disp(metric, group, ref, diff):
    return Disparity(
        metric=metric,
        group=group,
        reference=ref,
        reference_kind="group",
        difference=diff,
        ratio=MV(None),
    )


def make_result(disparities, *, extra_groups=()):
    groups = (
        _group({"sex": "F"}, MV(0.61, 0.58, 0.64)),
        _group({"sex": "M"}, MV(0.75, 0.72, 0.78)),
        _group({"site": "A"}, MV(0.70, 0.60, 0.80)),
        _group({"site": "B"}, MV(0.68, 0.55, 0.79)),
        *extra_groups,
    )
    return AuditResult(
        model=ModelInfo(kind="scores", sha256=None, file=None),
        cohort=CohortInfo(
            sha256=None,
            file="c.csv",
            n=1000,
            events=200,
            n_input_rows=1000,
            n_excluded=0,
            label="y",
            sensitive_features=("sex", "site"),
        ),
        config={},
        settings={"confidence_level": 0.95, "disclosure": {"min_cell": 10}},
        overall=_group({}, MV(0.7, 0.68, 0.72)),
        subgroups=groups,
        disparities=tuple(disparities),
        fairness=(),
        disclosure_log=(),
        caveats=(),
        tool={"name": "cohortaudit", "version": "test"},
    )


def test_format_estimate_uses_en_dash_and_minus_sign_and_to_for_negative_bounds():
    assert format_estimate(MV(0.61, 0.58, 0.64)) == "0.61 (0.58–0.64)"
    assert format_estimate(MV(-0.14, -0.18, -0.1)) == "−0.14 (−0.18 to −0.10)"
    assert format_estimate(MV(0.02, -0.05, 0.1)) == "0.02 (−0.05 to 0.10)"
    assert format_estimate(MV(0.5)) == "0.50"
    assert format_estimate(MV(None)) == "n/a"
    assert format_estimate(None) == "n/a"


def test_sentence_names_both_groups_with_their_estimates():
    s = finding_sentence(
        "sensitivity",
        {"sex": "F"},
        {"sex": "M"},
        MV(0.61, 0.58, 0.64),
        MV(0.75, 0.72, 0.78),
        MV(-0.14, -0.18, -0.10),
    )
    assert s == (
        "Sensitivity is lower for sex=F: 0.61 (0.58–0.64) vs 0.75 (0.72–0.78) for sex=M "
        "(difference −0.14, 95% CI −0.18 to −0.10)."
    )


def test_only_disparities_whose_ci_excludes_zero_become_findings():
    r = make_result(
        [
            _disp("sensitivity", {"sex": "F"}, {"sex": "M"}, MV(-0.14, -0.18, -0.10)),
            _disp("sensitivity", {"site": "B"}, {"site": "A"}, MV(-0.02, -0.15, 0.11)),  # spans 0
            _disp("sensitivity", {"site": "A"}, {"site": "B"}, MV(0.02, None, None)),  # no CI
        ]
    )
    found = disparity_findings(r)
    assert [f.group for f in found] == [{"sex": "F"}]
    f = found[0]
    assert f.direction == "lower" and f.worse
    assert f.group_value == MV(0.61, 0.58, 0.64) and f.reference_value == MV(0.75, 0.72, 0.78)
    assert "Sensitivity is lower for sex=F: 0.61 (0.58–0.64) vs 0.75 (0.72–0.78)" in f.sentence


def test_direction_and_worse_respect_the_metric():
    r = make_result(
        [
            _disp("fnr", {"sex": "F"}, {"sex": "M"}, MV(0.14, 0.10, 0.18)),
            _disp("selection_rate", {"site": "B"}, {"site": "A"}, MV(0.1, 0.05, 0.15)),
        ]
    )
    by_metric = {f.metric: f for f in disparity_findings(r)}
    assert by_metric["fnr"].direction == "higher" and by_metric["fnr"].worse
    assert by_metric["selection_rate"].direction == "higher"
    assert not by_metric["selection_rate"].worse  # neither better nor worse in itself


def test_findings_sorted_by_absolute_difference():
    r = make_result(
        [
            _disp("sensitivity", {"site": "B"}, {"site": "A"}, MV(-0.05, -0.08, -0.02)),
            _disp("sensitivity", {"sex": "F"}, {"sex": "M"}, MV(-0.14, -0.18, -0.10)),
        ]
    )
    assert [f.group for f in disparity_findings(r)] == [{"sex": "F"}, {"site": "B"}]


# ---- calibration ---------------------------------------------------------------------------


def _cal_group(attrs, *, oe, citl, slope):
    return GroupResult(
        attributes=attrs,
        n=2000,
        events=300,
        suppressed=False,
        metrics={"oe_ratio": oe, "citl": citl, "calibration_slope": slope},
    )


GOOD_SLOPE = MV(0.98, 0.9, 1.06)


def _cal_result(*groups, overall_slope=GOOD_SLOPE):
    base = make_result([])
    overall = _cal_group({}, oe=MV(1.0, 0.97, 1.03), citl=MV(0.0, -0.03, 0.03), slope=overall_slope)
    return AuditResult(**{**base.__dict__, "overall": overall, "subgroups": tuple(groups)})


GOOD = dict(oe=MV(1.02, 0.95, 1.09), citl=MV(0.02, -0.05, 0.09), slope=MV(1.01, 0.9, 1.12))


def test_calibration_sentence_under_prediction():
    s = calibration_sentence(
        "mean",
        {"deprivation": "5"},
        "under",
        {"oe_ratio": MV(1.41, 1.32, 1.50), "citl": MV(0.50, 0.42, 0.58)},
    )
    assert s == (
        "The model under-predicts risk for deprivation=5: O/E 1.41 (1.32–1.50); "
        "CITL 0.50 (0.42–0.58)."
    )


def test_calibration_sentences_over_prediction_and_slope():
    over = calibration_sentence(
        "mean",
        {"site": "B"},
        "over",
        {"oe_ratio": MV(0.56, 0.51, 0.62), "citl": MV(-0.81, -0.92, -0.69)},
    )
    assert over == (
        "The model over-predicts risk for site=B: O/E 0.56 (0.51–0.62); "
        "CITL −0.81 (−0.92 to −0.69)."
    )
    extreme = calibration_sentence(
        "slope", {}, "too_extreme", {"calibration_slope": MV(0.75, 0.71, 0.78)}
    )
    assert extreme == (
        "Predictions are too extreme for all patients (high risks too high, low risks too "
        "low): calibration slope 0.75 (0.71–0.78)."
    )
    modest = calibration_sentence(
        "slope", {"sex": "F"}, "too_modest", {"calibration_slope": MV(1.3, 1.1, 1.5)}
    )
    assert modest.startswith("Predictions are too modest for sex=F")


def test_calibration_findings_need_an_interval_that_excludes_perfect():
    r = _cal_result(
        _cal_group({"sex": "F"}, **GOOD),
        _cal_group(
            {"sex": "M"},
            oe=MV(1.41, 1.32, 1.50),
            citl=MV(0.50, 0.42, 0.58),
            slope=MV(0.8, 0.7, 0.9),
        ),
        # CITL interval excludes 0 though O/E's does not: still a finding, direction from CITL
        _cal_group(
            {"site": "A"},
            oe=MV(0.95, 0.89, 1.01),
            citl=MV(-0.06, -0.11, -0.01),
            slope=MV(1.0, 0.9, 1.1),
        ),
        # no CI: never a finding
        _cal_group({"site": "B"}, oe=MV(2.0), citl=MV(0.9), slope=MV(0.3)),
    )
    found = calibration_findings(r)
    assert [(f.kind, f.group, f.direction) for f in found] == [
        ("mean", {"sex": "M"}, "under"),
        ("mean", {"site": "A"}, "over"),
        ("slope", {"sex": "M"}, "too_extreme"),
    ]
