"""Audit policies: parsing (every malformed field named), evaluation, and the CLI exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from cohortaudit.cli import main
from cohortaudit.errors import ConfigError
from cohortaudit.policy import (
    check_policy_scope,
    evaluate_policy,
    load_policy,
    load_policy_schema,
    policy_failed,
    policy_from_dict,
)
from cohortaudit.resultio import read_json
from cohortaudit.results import (
    AuditResult,
    CohortInfo,
    Disparity,
    GroupResult,
    MetricValue,
    ModelInfo,
    PolicyVerdict,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
SAMPLE_POLICY = SAMPLE / "policy.yaml"


# --------------------------------------------------------------------------------------------
# a hand-built result: exact numbers, so boundaries can be tested
# --------------------------------------------------------------------------------------------


def _group(attrs, metrics=None, *, suppressed=False, withheld=(), reason=None):
    return GroupResult(
        attributes=attrs,
        n=None if suppressed else 500,
        events=None if suppressed else 60,
        suppressed=suppressed,
        metrics={} if suppressed else {k: MetricValue(*v) for k, v in (metrics or {}).items()},
        suppression_reason=reason,
        withheld=tuple(withheld),
    )


def _disp(metric, group, reference, diff, ratio=(1.0, 0.9, 1.1), kind="group"):
    return Disparity(
        metric=metric,
        group=group,
        reference=reference,
        reference_kind=kind,
        difference=MetricValue(*diff),
        ratio=MetricValue(*ratio),
    )


def make_result() -> AuditResult:
    """overall; sex F (reference) / M / X (suppressed); site A, B (sensitivity withheld)."""
    overall = _group(
        {},
        {
            "auroc": (0.75, 0.70, 0.80),
            "sensitivity": (0.70, 0.66, 0.74),
            "calibration_slope": (0.95, 0.85, 1.05),
            "spiegelhalter_p": (0.2, None, None),
        },
    )
    subgroups = (
        _group({"sex": "F"}, {"auroc": (0.72, 0.65, 0.79), "sensitivity": (0.60, 0.55, 0.65)}),
        _group({"sex": "M"}, {"auroc": (0.78, 0.71, 0.85), "sensitivity": (0.80, 0.76, 0.84)}),
        _group({"sex": "X"}, suppressed=True, reason="fewer than 10 events"),
        _group({"site": "A"}, {"auroc": (0.74, 0.69, 0.79), "sensitivity": (0.7, 0.6, 0.8)}),
        _group(
            {"site": "B"},
            {"auroc": (0.76, None, None), "sensitivity": (None, None, None)},
            withheld=("sensitivity",),
        ),
    )
    disparities = (
        _disp("sensitivity", {"sex": "M"}, {"sex": "F"}, (0.20, 0.14, 0.26)),
        _disp("sensitivity", {"sex": "F"}, {}, (-0.10, -0.15, -0.05), kind="overall"),
        _disp("sensitivity", {"sex": "M"}, {}, (0.10, 0.05, 0.15), kind="overall"),
        _disp("auroc", {"sex": "M"}, {"sex": "F"}, (0.06, -0.03, 0.09)),
    )
    return AuditResult(
        model=ModelInfo(kind="scores", sha256=None, file=None),
        cohort=CohortInfo(
            sha256="c" * 64,
            file="cohort.csv",
            n=1500,
            events=180,
            n_input_rows=1500,
            n_excluded=0,
            label="y",
            sensitive_features=("sex", "site"),
        ),
        config={"label": "y", "sensitive_features": ["sex", "site"]},
        settings={
            "references": [
                {"attributes": ["sex"], "reference": {"sex": "F"}},
                {"attributes": ["site"], "reference": {"site": "A"}},
            ]
        },
        overall=overall,
        subgroups=subgroups,
        disparities=disparities,
        fairness=(),
        disclosure_log=(),
        caveats=(),
        tool={"name": "cohortaudit", "version": "test"},
    )


def _rule(**kw):
    base = {"id": "r1", "metric": "auroc", "scope": "overall", "bound": "ci_low"}
    if "between" not in kw and "op" not in kw:
        base.update(op=">=", threshold=0.70)
    base.update(kw)
    return base


def _verdicts(*rules):
    return evaluate_policy(policy_from_dict({"rules": list(rules)}), make_result())


def _by_group(verdicts):
    return {(" & ".join(f"{k}={v}" for k, v in x.group.items()) or "overall"): x for x in verdicts}


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "status"),
    # CI 0.70 to 0.80: a floor inside it is straddled (too wide to decide), above it a fail
    [(0.70, "pass"), (0.6999, "pass"), (0.7001, "insufficient data"), (0.85, "fail")],
)
def test_ci_low_floor_on_the_whole_cohort_is_inclusive(threshold, status):
    (v,) = _verdicts(_rule(threshold=threshold))
    assert v.status == status
    assert v.group == {} and v.rule_id == "r1"
    assert v.observed == MetricValue(0.75, 0.70, 0.80)
    if status == "insufficient data":
        assert v.insufficient_reason == "ci_too_wide" and v.counts_as == "fail"
        assert v.reason == (
            "auroc for overall: CI 0.7 to 0.8 straddles the rule's limit ('ci_low >= 0.7001'): "
            "too wide to decide either way."
        )
    else:
        assert "CI low 0.7" in v.reason and (("not met" in v.reason) == (status == "fail"))
        assert v.insufficient_reason is None and v.counts_as is None
    assert policy_failed([v]) == (status != "pass")  # on_insufficient defaults to fail


def test_subgroups_scope_covers_every_group_and_suppressed_ones_are_insufficient_data():
    vs = _by_group(_verdicts(_rule(scope="subgroups", bound="value", threshold=0.75)))
    assert list(vs) == ["sex=F", "sex=M", "sex=X", "site=A", "site=B"]
    assert vs["sex=F"].status == "fail" and vs["sex=M"].status == "pass"
    x = vs["sex=X"]
    assert x.status == "insufficient data"
    assert x.observed == MetricValue(None)
    assert x.reason == (
        "sex=X is suppressed by disclosure control (fewer than 10 events); no numbers to judge."
    )
    assert vs["site=B"].status == "pass"  # a value rule needs no CI


def test_a_withheld_metric_and_a_missing_ci_are_insufficient_data():
    vs = _by_group(_verdicts(_rule(metric="sensitivity", scope="attribute:site")))
    assert vs["site=A"].status == "insufficient data"  # CI 0.6 to 0.8 straddles 0.7
    assert vs["site=A"].insufficient_reason == "ci_too_wide"
    assert vs["site=B"].status == "insufficient data"
    assert vs["site=B"].insufficient_reason == "withheld"
    assert vs["site=B"].reason == (
        "sensitivity is withheld for site=B (a confusion-matrix cell below k)."
    )
    vs = _by_group(_verdicts(_rule(scope="attribute:site")))
    assert vs["site=B"].status == "insufficient data"
    assert vs["site=B"].insufficient_reason == "no_ci"
    assert "has no confidence interval" in vs["site=B"].reason
    (v,) = _verdicts(_rule(metric="spiegelhalter_p", bound="ci_high", op="<=", threshold=1))
    assert v.status == "insufficient data" and v.insufficient_reason == "no_ci"
    vs = _by_group(_verdicts(_rule(scope="attribute:sex", bound="value")))
    assert vs["sex=X"].insufficient_reason == "suppressed"


@pytest.mark.parametrize(
    ("on_insufficient", "failed", "outcome"),
    [
        (None, True, "fail"),
        ("fail", True, "fail"),
        ("warn", False, "warn"),
        ("pass", False, "pass"),
    ],
)
def test_on_insufficient_decides_what_insufficient_data_counts_as(on_insufficient, failed, outcome):
    extra = {} if on_insufficient is None else {"on_insufficient": on_insufficient}
    rule = _rule(scope="attribute:site", bound="ci_high", op=">=", threshold=0.5, **extra)
    vs = _verdicts(rule)
    assert [v.status for v in vs] == ["pass", "insufficient data"]
    assert [v.outcome for v in vs] == ["pass", outcome]
    assert vs[1].counts_as == outcome and vs[0].counts_as is None
    assert policy_failed(vs) is failed
    assert policy_failed(_verdicts(_rule(threshold=0.9)))  # a clear fail fails regardless
    d = vs[1].to_dict()
    assert (d["insufficient_reason"], d["counts_as"]) == ("no_ci", outcome)
    assert "counts_as" not in vs[0].to_dict()  # pass and fail verdicts are as before
    assert PolicyVerdict.from_dict(d) == vs[1]


def test_a_verdict_from_an_older_result_counts_insufficient_data_as_a_warning():
    old = {
        "rule_id": "r1",
        "description": "",
        "group": {},
        "status": "insufficient data",
        "observed": {"value": None, "ci_low": None, "ci_high": None},
        "reason": "suppressed",
    }
    v = PolicyVerdict.from_dict(old)
    assert v.outcome == "warn" and not policy_failed([v])
    assert v.to_dict() == old


def test_disparity_rule_reads_the_gap_vs_the_reference_group_and_skips_the_reference():
    vs = _verdicts(
        _rule(
            metric="sensitivity",
            disparity="difference",
            scope="attribute:sex",
            bound="abs_ci_high",
            op="<=",
            threshold=0.10,
        )
    )
    by = _by_group(vs)
    assert list(by) == ["sex=M", "sex=X"]  # F is the yardstick: no verdict for it
    assert by["sex=M"].status == "fail"
    assert by["sex=M"].observed == MetricValue(0.20, 0.14, 0.26)
    assert by["sex=M"].reason == (
        "sensitivity difference vs sex=F for sex=M: worst |CI bound| 0.26; the rule needs "
        "worst |CI bound| <= 0.1 -- not met."
    )
    assert by["sex=X"].status == "insufficient data"


@pytest.mark.parametrize(
    ("bound", "threshold", "status"),
    [
        ("abs_ci_high", 0.15, "pass"),  # max(|-0.15|, |-0.05|) = 0.15
        ("abs_ci_high", 0.149, "insufficient data"),  # |CI| 0.05 to 0.15 straddles 0.149
        ("abs_ci_high", 0.04, "fail"),  # the whole CI is further than 0.04 from 0
        ("abs_value", 0.10, "pass"),
        ("abs_value", 0.099, "fail"),
    ],
)
def test_abs_bounds_read_magnitudes_of_negative_gaps(bound, threshold, status):
    vs = _by_group(
        _verdicts(
            _rule(
                metric="sensitivity",
                disparity="difference",
                reference="overall",
                scope="attribute:sex",
                bound=bound,
                op="<=",
                threshold=threshold,
            )
        )
    )
    assert vs["sex=F"].status == status  # vs the whole cohort, F is judged too
    assert vs["sex=F"].observed == MetricValue(-0.10, -0.15, -0.05)


@pytest.mark.parametrize(
    ("metric", "disparity", "threshold", "status"),
    [
        ("sensitivity", "ratio", 0.9, "pass"),  # ratio CI low 0.9
        ("sensitivity", "ratio", 0.91, "insufficient data"),  # CI 0.9 to 1.1 straddles 0.91
        ("sensitivity", "ratio", 1.2, "fail"),  # the whole CI is below 1.2
        ("auroc", "difference", -0.03, "pass"),  # difference CI -0.03 to 0.09 spans zero
        ("auroc", "difference", -0.02, "insufficient data"),
    ],
)
def test_ratio_and_difference_disparities_with_ci_low(metric, disparity, threshold, status):
    rule = _rule(
        metric=metric,
        disparity=disparity,
        scope="attribute:sex",
        bound="ci_low",
        op=">=",
        threshold=threshold,
    )
    by = _by_group(_verdicts(rule))
    assert by["sex=M"].status == status
    start = "CI " if status == "insufficient data" else "CI low "
    assert by["sex=M"].reason.startswith(f"{metric} {disparity} vs sex=F for sex=M: {start}")


@pytest.mark.parametrize(
    ("bound", "between", "status"),
    [
        ("value", [0.9, 1.0], "pass"),  # 0.95
        ("value", [0.96, 1.2], "fail"),
        ("ci_within", [0.85, 1.05], "pass"),  # CI 0.85-1.05, inclusive
        ("ci_within", [0.9, 1.2], "insufficient data"),  # CI partly inside: too wide
        ("ci_within", [1.06, 1.2], "fail"),  # the whole CI is outside
        ("ci_overlaps", [1.05, 1.3], "pass"),  # touches at 1.05
        ("ci_overlaps", [1.06, 1.3], "fail"),
        ("ci_overlaps", [0.5, 0.84], "fail"),
    ],
)
def test_between_ranges(bound, between, status):
    (v,) = _verdicts(_rule(metric="calibration_slope", bound=bound, between=between))
    assert v.status == status
    assert (v.insufficient_reason == "ci_too_wide") == (status == "insufficient data")


def test_verdicts_follow_rule_order_then_group_order():
    vs = _verdicts(_rule(id="b", scope="attribute:site"), _rule(id="a", scope="attribute:sex"))
    assert [(v.rule_id, tuple(v.group.values())) for v in vs] == [
        ("b", ("A",)),
        ("b", ("B",)),
        ("a", ("F",)),
        ("a", ("M",)),
        ("a", ("X",)),
    ]


def test_intersection_scope_matches_exact_partitions_only():
    result = make_result()
    extra = _group({"sex": "F", "site": "A"}, {"auroc": (0.7, 0.6, 0.8)})
    from dataclasses import replace

    result = replace(result, subgroups=(*result.subgroups, extra))
    policy = policy_from_dict({"rules": [_rule(scope="attribute:site,sex", bound="value")]})
    (v,) = evaluate_policy(policy, result)
    assert v.group == {"sex": "F", "site": "A"} and v.status == "pass"


# --------------------------------------------------------------------------------------------
# malformed policies: each message names the rule and the field
# --------------------------------------------------------------------------------------------

W = "Policy rule 'r1' (rules[0]) in 'policy'"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (["rules"], "The policy 'policy' must be a mapping with a 'rules' list. Got list instead."),
        (
            {"rules": []},
            "The policy 'policy' must have a non-empty 'rules' list. Got list instead.",
        ),
        ({}, "The policy 'policy' must have a non-empty 'rules' list. Got nothing instead."),
        (
            {"rules": [_rule()], "rulez": 1},
            "The policy 'policy' has unknown top-level key(s) ['rulez']. Expected only "
            "['version', 'name', 'description', 'rules'].",
        ),
        (
            {"rules": ["auroc >= 0.7"]},
            "Policy rule rules[0] in 'policy' must be a mapping (id, metric, scope, bound, "
            "op + threshold or between). Got str instead.",
        ),
        (
            {"rules": [_rule(id="auroc floor")]},
            "Policy rule rules[0] in 'policy': field 'id' must be a short name of letters, "
            "digits, '.', '_' or '-' (e.g. auroc-floor). Got 'auroc floor' instead.",
        ),
        (
            {"rules": [_rule(), _rule()]},
            "Policy rule 'r1' (rules[1]) in 'policy': field 'id' repeats an earlier rule's id. "
            "Give every rule a unique id.",
        ),
        (
            {"rules": [_rule(treshold=0.7)]},
            f"{W}: unknown field(s) ['treshold']. Allowed fields: id, description, metric, "
            "scope, bound, op, threshold, between, disparity, reference, on_insufficient.",
        ),
        ({"rules": [_rule(metric="AUC")]}, f"{W}: field 'metric' must be a metric key ("),
        (
            {"rules": [_rule(metric="prevalence", disparity="difference", scope="subgroups")]},
            f"{W}: field 'metric' must be a metric with disparities (auroc, ",
        ),
        (
            {"rules": [_rule(disparity="gap", scope="subgroups")]},
            f"{W}: field 'disparity' must be one of difference, ratio. Got 'gap' instead.",
        ),
        (
            {"rules": [_rule(reference="overall")]},
            f"{W}: field 'reference' only applies with 'disparity'. Remove it.",
        ),
        (
            {"rules": [_rule(disparity="difference", scope="subgroups", reference="best")]},
            f"{W}: field 'reference' must be one of group, overall. Got 'best' instead.",
        ),
        (
            {"rules": [_rule(on_insufficient="ignore")]},
            f"{W}: field 'on_insufficient' must be one of fail, warn, pass (what a verdict of "
            "insufficient data counts as; default fail). Got 'ignore' instead.",
        ),
        (
            {"rules": [_rule(scope="attribute:")]},
            f"{W}: field 'scope' must be overall, subgroups or attribute:<name>[,<name>...]. "
            "Got 'attribute:' instead.",
        ),
        (
            {"rules": [_rule(scope="sex")]},
            f"{W}: field 'scope' must be overall, subgroups or attribute:<name>[,<name>...]. "
            "Got 'sex' instead.",
        ),
        (
            {"rules": [_rule(disparity="difference")]},
            f"{W}: field 'scope' is 'overall' but a disparity compares a subgroup with its "
            "reference. Use scope 'subgroups' or 'attribute:<name>'.",
        ),
        (
            {"rules": [_rule(bound="lower")]},
            f"{W}: field 'bound' must be one of value, ci_low, ci_high, abs_value, abs_ci_high, "
            "ci_within, ci_overlaps. Got 'lower' instead.",
        ),
        (
            {"rules": [{"id": "r1", "metric": "auroc", "scope": "overall", "bound": "value"}]},
            f"{W}: give either 'op' and 'threshold' or 'between' (exactly one of the two). "
            "Got neither.",
        ),
        (
            {"rules": [_rule(op=">=", threshold=0.7, between=[0, 1])]},
            f"{W}: give either 'op' and 'threshold' or 'between' (exactly one of the two). "
            "Got both.",
        ),
        (
            {"rules": [_rule(op="=>", threshold=0.7)]},
            f"{W}: field 'op' must be one of '>=', '>', '<=', '<' (quote it in YAML). "
            "Got '=>' instead.",
        ),
        (
            {"rules": [_rule(op=">=", threshold="0.7")]},
            f"{W}: field 'threshold' must be a finite number. Got '0.7' instead.",
        ),
        (
            {"rules": [_rule(op=">=", threshold=True)]},
            f"{W}: field 'threshold' must be a finite number. Got True instead.",
        ),
        (
            {"rules": [_rule(op=">=")]},
            f"{W}: field 'threshold' must be a finite number. Got None instead.",
        ),
        (
            {"rules": [_rule(between=[1.2, 0.8])]},
            f"{W}: field 'between' must be a list of two finite numbers [low, high] with "
            "low <= high. Got [1.2, 0.8] instead.",
        ),
        (
            {"rules": [_rule(between=[0.8])]},
            f"{W}: field 'between' must be a list of two finite numbers [low, high] with "
            "low <= high. Got [0.8] instead.",
        ),
        (
            {"rules": [_rule(bound="ci_within", op="<=", threshold=1)]},
            f"{W}: bound 'ci_within' tests an interval against a range, so it needs "
            "'between: [low, high]' instead of 'op' and 'threshold'.",
        ),
        (
            {"rules": [_rule(description=3)]},
            f"{W}: field 'description' must be a string. Got 3 instead.",
        ),
    ],
)
def test_a_malformed_policy_is_refused_naming_rule_and_field(raw, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        policy_from_dict(raw)


def test_the_schema_backstop_names_the_rule_too():
    with pytest.raises(ConfigError) as e:
        policy_from_dict({"rules": [_rule()], "version": ["1"]})
    assert str(e.value).startswith(
        "The policy in 'policy' does not match the policy schema at 'version': "
    )


def test_the_shipped_schema_accepts_the_sample_and_rejects_malformed_rules():
    validator = jsonschema.Draft202012Validator(load_policy_schema())
    validator.check_schema(load_policy_schema())
    assert not list(validator.iter_errors(yaml.safe_load(SAMPLE_POLICY.read_text())))
    for bad in (
        _rule(bound="lower"),
        _rule(treshold=1),
        _rule(op=">=", threshold=0.7, between=[0, 1]),
        _rule(bound="ci_overlaps", op=">=", threshold=0.7),
        _rule(reference="overall"),
        _rule(disparity="difference"),
        _rule(scope="sex"),
        _rule(on_insufficient="warning"),
    ):
        assert list(validator.iter_errors({"rules": [bad]})), bad


def test_load_policy_records_file_and_sha256_and_refuses_bad_files(tmp_path):
    policy = load_policy(SAMPLE_POLICY)
    assert policy.file == "policy.yaml" and len(policy.sha256) == 64
    assert [r.id for r in policy.rules][:3] == [
        "auroc-floor",
        "calibration-in-the-large",
        "sensitivity-gap",
    ]
    with pytest.raises(ConfigError, match="^No policy file at '.*nope.yaml'. Give the path"):
        load_policy(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [\n  - id: x\n")
    with pytest.raises(
        ConfigError,
        match=r"^The policy file 'bad.yaml' is not valid YAML at line \d+, column \d+: ",
    ):
        load_policy(bad)
    typo = tmp_path / "typo.yaml"
    typo.write_text(yaml.safe_dump({"rules": [_rule(bound="ci_lo")]}))
    with pytest.raises(ConfigError, match=r"^Policy rule 'r1' \(rules\[0\]\) in 'typo.yaml'"):
        load_policy(typo)


def test_scope_must_name_audited_attributes_within_the_intersection_order():
    policy = policy_from_dict({"rules": [_rule(), _rule(id="r2", scope="attribute:race")]})
    with pytest.raises(ConfigError) as e:
        check_policy_scope(policy, sensitive_features=("sex", "age"), max_order=2)
    assert str(e.value) == (
        "Policy rule 'r2' (rules[1]): field 'scope' names attribute(s) ['race'] that this "
        "audit does not use. Sensitive attributes: ['sex', 'age']. Add them with --sensitive "
        "or fix the scope."
    )
    deep = policy_from_dict({"rules": [_rule(scope="attribute:sex,age")]})
    with pytest.raises(ConfigError, match="intersection of 2 attributes but the audit stops at"):
        check_policy_scope(deep, sensitive_features=("sex", "age"), max_order=1)
    check_policy_scope(deep, sensitive_features=("sex", "age"), max_order=2)


def test_result_round_trip_keeps_verdicts_and_tolerates_their_absence():
    result = make_result()
    from dataclasses import replace

    result = replace(result, policy=_verdicts(_rule(scope="subgroups")))
    d = result.to_dict()
    assert AuditResult.from_dict(d) == result
    assert AuditResult.from_dict(json.loads(json.dumps(d))).policy == result.policy
    d.pop("policy"), d.pop("claims")
    assert AuditResult.from_dict(d).policy == () and AuditResult.from_dict(d).claims == ()
    assert isinstance(result.policy[0], PolicyVerdict)


# --------------------------------------------------------------------------------------------
# the CLI on the sample: the planted problems fail the sample policy
# --------------------------------------------------------------------------------------------

AUDIT = [
    "audit",
    "--no-explain",
    "--model",
    str(SAMPLE / "model.onnx"),
    "--card",
    str(SAMPLE / "model.card.yaml"),
    "--cohort",
    str(SAMPLE / "cohort.csv"),
    "--label",
    "cvd_10y",
    "--sensitive",
    "sex",
    "age",
    "ethnicity",
    "deprivation",
    "--bins",
    "age=40,50,60,70,80",
    "--max-order",
    "1",
    "--n-boot",
    "50",
    "--quiet",
]


def test_cli_exits_1_on_the_sample_policy_after_writing_outputs(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*AUDIT, "--out", str(out), "--policy", str(SAMPLE_POLICY)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 4, err
    assert err[0].startswith("PolicyFailed: rule 'sensitivity-gap' for sex=M: ")
    assert err[1].startswith("PolicyFailed: rule 'calibration-deprivation' for deprivation=5: ")
    # slope-age has on_insufficient: warn: its small age bands are shown, do not fail
    assert err[2].startswith(
        "PolicyWarning: rule 'slope-age' for age=< 40: insufficient data (suppressed, "
        "on_insufficient: warn): "
    )
    assert err[3].startswith(
        "PolicyWarning: rule 'slope-age' for age=> 80: insufficient data (withheld, "
        "on_insufficient: warn): "
    )
    assert (out / "audit.json").is_file() and (out / "manifest.json").is_file()
    result = read_json(out / "audit.json")  # validates against the shipped result schema
    assert AuditResult.from_dict(result.to_dict()) == result
    status = {(v.rule_id, tuple(v.group.values())): v.status for v in result.policy}
    assert status[("sensitivity-gap", ("M",))] == "fail"
    assert ("sensitivity-gap", ("F",)) not in status  # the reference group
    failed = sorted(k for k, s in status.items() if s == "fail")
    assert failed == [("calibration-deprivation", ("5",)), ("sensitivity-gap", ("M",))]
    assert status[("slope-age", ("< 40",))] == "insufficient data"  # suppressed
    assert status[("auroc-floor", ())] == "pass"
    assert result.settings["policy"]["sha256"] == load_policy(SAMPLE_POLICY).sha256

    lenient = tmp_path / "lenient.yaml"
    lenient.write_text(
        yaml.safe_dump(
            {
                "rules": [
                    _rule(id="auroc", threshold=0.6),
                    _rule(
                        id="gap",
                        metric="sensitivity",
                        disparity="difference",
                        scope="attribute:sex",
                        bound="abs_value",
                        op="<=",
                        threshold=0.5,
                    ),
                ]
            }
        )
    )
    assert main([*AUDIT, "--out", str(tmp_path / "ok"), "--policy", str(lenient)]) == 0
    assert capsys.readouterr().err == ""


def test_cli_a_malformed_policy_exits_2_before_the_audit(tmp_path, capsys):
    bad = tmp_path / "p.yaml"
    bad.write_text(yaml.safe_dump({"rules": [_rule(op="=>")]}))
    assert main([*AUDIT, "--out", str(tmp_path / "o"), "--policy", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "ConfigError: Policy rule 'r1' (rules[0]) in 'p.yaml': field 'op' must be one of "
        "'>=', '>', '<=', '<' (quote it in YAML). Got '=>' instead.\n"
    )
    assert not (tmp_path / "o").exists()
