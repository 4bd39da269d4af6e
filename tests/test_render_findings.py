"""Plain-language findings: built only from disparities whose CI excludes 0."""

from __future__ import annotations

from cohortaudit.render.findings import (
    disparity_findings,
    finding_sentence,
    format_estimate,
    verdict_summary,
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


def test_format_estimate_uses_en_dash_and_minus_sign():
    assert format_estimate(MV(0.61, 0.58, 0.64)) == "0.61 (0.58–0.64)"
    assert format_estimate(MV(-0.14, -0.18, -0.1)) == "−0.14 (−0.18–−0.10)"
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


def test_verdict_counts_comparisons_and_picks_per_attribute():
    r = make_result(
        [
            _disp("sensitivity", {"sex": "F"}, {"sex": "M"}, MV(-0.14, -0.18, -0.10)),
            _disp("sensitivity", {"site": "B"}, {"site": "A"}, MV(-0.02, -0.15, 0.11)),
        ]
    )
    v = verdict_summary(r)
    assert v.headline.startswith("1 of 2 comparisons")
    assert "in 1 the group is worse off" in v.headline
    assert [f.group for f in v.findings] == [{"sex": "F"}]
    assert v.lines()[1] == v.findings[0].sentence


def test_verdict_without_findings_warns_it_is_not_proof():
    r = make_result([_disp("sensitivity", {"site": "B"}, {"site": "A"}, MV(-0.02, -0.15, 0.11))])
    v = verdict_summary(r)
    assert v.findings == ()
    assert "None of 1 comparisons" in v.headline and "not proof" in v.headline


def test_verdict_mentions_not_evaluable_groups():
    r = make_result([], extra_groups=(_group({"site": "C"}, None, suppressed=True),))
    v = verdict_summary(r)
    assert "No subgroup could be compared" in v.headline
    assert v.notes == (
        "1 single-attribute group(s) are not evaluable (fewer than 10 events or "
        "non-events) and could not be checked.",
    )
