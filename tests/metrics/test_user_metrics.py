"""User-defined metrics (issue 15, point 8): the auditor's own sklearn-style metric, computed
for the whole cohort and every group through fairlearn's MetricFrame, under the audit's
disclosure rules, with seeded bootstrap intervals within a budget, named on the CLI as
``--metric module:function``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, recall_score, roc_auc_score

from cohortaudit.audit import run_audit
from cohortaudit.cli import main
from cohortaudit.config import AuditConfig
from cohortaudit.errors import ConfigError
from cohortaudit.metrics.user import (
    USER_N_BOOT_MAX,
    UserMetric,
    as_user_metric,
    compute_user_metrics,
    parse_metric_spec,
)
from cohortaudit.pipeline import load_inputs
from cohortaudit.results import AuditResult
from cohortaudit.scoring import score

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def _config(**changes) -> AuditConfig:
    base = dict(
        label="cvd_10y",
        sensitive_features=("sex", "age"),
        bins={"age": (40, 50, 60, 70, 80)},
        max_intersection_order=2,
        n_boot=20,
        safety=False,
        min_cell=10,
        user_metrics=("sklearn.metrics:recall_score", roc_auc_score),
    )
    base.update(changes)
    return AuditConfig(**base)


def _audit(config: AuditConfig):
    inputs = load_inputs(
        cohort_path=SAMPLE / "cohort.csv",
        config=config,
        model_path=SAMPLE / "model.onnx",
        card_path=SAMPLE / "model.card.yaml",
    )
    result = run_audit(
        inputs.cohort, inputs.model, config, card=inputs.card, test_vectors=inputs.test_vectors
    )
    return result, inputs


@pytest.fixture(scope="module")
def audited():
    return _audit(_config())


def _entries(result: AuditResult):
    block = result.user_metrics
    return [block["overall"], *block["groups"]]


def test_values_match_sklearn_per_group_computed_by_hand(audited):
    result, inputs = audited
    cohort = inputs.cohort
    y_true = np.asarray(cohort.y_true, dtype=int)
    y_score = score(inputs.model, cohort.features)
    y_pred = (y_score >= result.settings["threshold"]).astype(int)
    frame = cohort.groups[["sex", "age"]].astype(str).assign(y=y_true, s=y_score, p=y_pred)
    checked = 0
    for entry in result.user_metrics["groups"]:
        if not entry["released"]:
            continue
        attrs = entry["attributes"]
        mask = np.ones(len(frame), dtype=bool)
        for col, value in attrs.items():
            mask &= (frame[col] == value).to_numpy()
        part = frame[mask]
        auc = entry["values"]["roc_auc_score"]["value"]
        assert auc == pytest.approx(roc_auc_score(part.y, part.s), rel=1e-9)
        rec = entry["values"]["recall_score"]
        if rec["status"] == "released":
            assert rec["value"] == pytest.approx(recall_score(part.y, part.p), rel=1e-9)
        checked += 1
    # and by pandas groupby, independently of the loop above, for one partition
    by_sex = frame.groupby("sex").apply(lambda d: recall_score(d.y, d.p), include_groups=False)
    for sex, value in by_sex.items():
        entry = next(e for e in result.user_metrics["groups"] if e["attributes"] == {"sex": sex})
        assert entry["values"]["recall_score"]["value"] == pytest.approx(value, rel=1e-9)
    overall = result.user_metrics["overall"]["values"]
    assert overall["recall_score"]["value"] == pytest.approx(recall_score(y_true, y_pred))
    assert overall["recall_score"]["value"] == result.overall.metrics["sensitivity"].value
    assert checked >= 10


def test_every_audited_group_has_an_entry_in_the_results_order(audited):
    result, _ = audited
    assert result.user_metrics["overall"]["attributes"] == {}
    assert [e["attributes"] for e in result.user_metrics["groups"]] == [
        g.attributes for g in result.subgroups
    ]
    assert [m["kind"] for m in result.user_metrics["metrics"]] == ["pred", "score"]


def test_a_suppressed_group_releases_no_user_metric(audited):
    result, _ = audited
    suppressed = [g for g in result.subgroups if g.suppressed]
    assert suppressed, "the sample has groups under k=10 (age < 40 and > 80 intersections)"
    by_attrs = {json.dumps(e["attributes"]): e for e in result.user_metrics["groups"]}
    for g in suppressed:
        entry = by_attrs[json.dumps(g.attributes)]
        assert entry == {
            "attributes": g.attributes,
            "released": False,
            "reason": "not evaluable (fewer than 10)",
        }


def test_a_pred_metric_is_withheld_with_the_groups_threshold_metrics():
    result, _ = _audit(_config(min_cell=40, sensitive_features=("sex", "age")))
    withheld = [g for g in result.subgroups if not g.suppressed and g.withheld]
    assert withheld, "k=40 withholds some groups' confusion counts"
    for g in withheld:
        entry = next(e for e in result.user_metrics["groups"] if e["attributes"] == g.attributes)
        assert entry["values"]["recall_score"]["value"] is None
        assert entry["values"]["recall_score"]["status"] == "withheld"
        assert entry["values"]["roc_auc_score"]["value"] is not None  # a score metric is not


def test_same_seed_gives_the_same_block_and_the_json_round_trips(audited):
    result, _ = audited
    again, _ = _audit(_config())
    assert json.dumps(again.user_metrics) == json.dumps(result.user_metrics)
    assert AuditResult.from_dict(result.to_dict()) == result
    assert list(result.to_dict())[-1] == "user_metrics"
    assert result.config["user_metrics"] == [
        {"key": "recall_score", "source": "sklearn.metrics:recall_score", "kind": "pred"},
        {
            "key": "roc_auc_score",
            "source": "sklearn.metrics._ranking:roc_auc_score",
            "kind": "score",
        },
    ]


def test_intervals_are_bootstrap_percentiles_or_say_why_not(audited):
    result, _ = audited
    overall = result.user_metrics["overall"]["values"]["roc_auc_score"]
    assert overall["ci_low"] < overall["value"] < overall["ci_high"]
    assert result.user_metrics["settings"]["replicates"] == min(20, USER_N_BOOT_MAX)
    for e in _entries(result):
        for v in (e.get("values") or {}).values():
            if v["status"] == "released":
                assert (v["ci_low"] is None) == (v["ci_note"] is not None)


def _tiny_inputs():
    rng = np.random.default_rng(5)
    n = 400
    y = rng.integers(0, 2, n)
    s = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)
    import pandas as pd

    from cohortaudit.results import GroupResult

    frame = pd.DataFrame({"g": np.where(np.arange(n) < 200, "a", "b")})
    groups = [
        GroupResult(attributes={}, n=n, events=int(y.sum()), suppressed=False, metrics={}),
        GroupResult(attributes={"g": "a"}, n=200, events=None, suppressed=False, metrics={}),
        GroupResult(attributes={"g": "b"}, n=200, events=None, suppressed=False, metrics={}),
    ]
    return y, s, frame, groups


def test_the_budget_goes_to_the_whole_cohort_first_then_stated():
    y, s, frame, groups = _tiny_inputs()
    block, _ = compute_user_metrics(
        y, s, frame, [as_user_metric(roc_auc_score)], groups=groups, threshold=0.5,
        n_boot=100, seed=1, confidence=0.95, k=5, boot_budget=150,
    )  # fmt: skip
    first, a, b = block["overall"], *block["groups"]
    assert first["values"]["roc_auc_score"]["ci_low"] is not None
    for e in (a, b):
        note = e["values"]["roc_auc_score"]["ci_note"]
        assert note.startswith("CI not computed: the bootstrap budget")
    block0, _ = compute_user_metrics(
        y, s, frame, [as_user_metric(roc_auc_score)], groups=groups, threshold=0.5,
        n_boot=0, seed=1, confidence=0.95, k=5,
    )  # fmt: skip
    assert block0["overall"]["values"]["roc_auc_score"]["ci_note"] == (
        "CI not computed: no bootstrap replicates (--n-boot 0)"
    )


def test_a_metric_undefined_in_a_group_is_counted_in_a_caveat_not_raised():
    y, s, frame, groups = _tiny_inputs()

    def only_big(y_true, y_score):
        if len(y_true) < 300:
            raise ValueError("too small")
        return float(np.mean(y_score))

    block, caveats = compute_user_metrics(
        y, s, frame, [as_user_metric(only_big)], groups=groups, threshold=0.5,
        n_boot=10, seed=1, confidence=0.95, k=5,
    )  # fmt: skip
    assert block["overall"]["values"]["only_big"]["value"] == pytest.approx(np.mean(s))
    assert [e["values"]["only_big"]["status"] for e in block["groups"]] == ["undefined"] * 2
    assert [c.code for c in caveats] == ["user_metric_undefined"]
    assert "in 2 released group(s)" in caveats[0].message


def test_a_metric_that_cannot_work_stops_with_a_clear_error():
    y, s, frame, groups = _tiny_inputs()

    def boom(y_true, y_pred):
        raise RuntimeError("row 17 has value 0.93")

    def pair(y_true, y_score):
        return (1.0, 2.0)

    for func, message in ((boom, r"failed on the whole cohort with RuntimeError \(it was "),
                          (pair, r"must return one number; it returned a tuple")):  # fmt: skip
        with pytest.raises(ConfigError, match=message) as info:
            compute_user_metrics(
                y, s, frame, [as_user_metric(func)], groups=groups, threshold=0.5,
                n_boot=0, seed=1, confidence=0.95, k=5,
            )  # fmt: skip
        assert "0.93" not in str(info.value)  # the user's message may hold row values


def test_kind_comes_from_the_suffix_or_the_parameter_name():
    assert parse_metric_spec("sklearn.metrics:recall_score").kind == "pred"
    assert parse_metric_spec("sklearn.metrics:roc_auc_score").kind == "score"
    assert parse_metric_spec("sklearn.metrics:log_loss@score").kind == "score"
    assert as_user_metric(brier_score_loss).kind == "score"

    def cost(truth, guess):
        return 0.0

    with pytest.raises(ConfigError, match=r"Say which with a suffix: --metric .*cost@pred or"):
        as_user_metric(cost)
    assert UserMetric(cost, "score", "cost", "here:cost").kind == "score"


def test_config_records_user_metrics_only_when_given():
    plain = _config(user_metrics=())
    assert "user_metrics" not in plain.to_dict()
    with pytest.raises(ConfigError, match=r"share the key \['recall_score'\]"):
        _config(user_metrics=(recall_score, "sklearn.metrics:recall_score"))
    with pytest.raises(ConfigError, match=r"is a built-in metric of cohortaudit"):
        _config(user_metrics=(UserMetric(recall_score, "pred", "auroc", "x:y"),))
    with pytest.raises(ConfigError, match=r"must be a list of metrics"):
        _config(user_metrics="sklearn.metrics:recall_score")
    with pytest.raises(ConfigError, match=r"has no usable name"):
        _config(user_metrics=(lambda y_true, y_pred: 0.0,))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("recall_score", r"is not of the form module:function"),
        ("sklearn.metrics:", r"is not of the form module:function"),
        ("no_such_module_xyz:f", r"Cannot import the module 'no_such_module_xyz'"),
        ("sklearn.metrics:no_such_metric", r"has no function 'no_such_metric'"),
        ("sklearn.metrics:recall_score@proba", r"is not of the form module:function"),
    ],
)
def test_cli_exits_2_on_a_bad_metric_name(tmp_path, capsys, spec, message):
    code = main(
        [
            "audit",
            "--model", str(SAMPLE / "model.onnx"),
            "--cohort", str(SAMPLE / "cohort.csv"),
            "--label", "cvd_10y",
            "--sensitive", "sex",
            "--out", str(tmp_path / "out"),
            "--metric", spec,
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ConfigError: ")
    assert __import__("re").search(message, err)
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_cli_prints_the_metric_and_writes_the_block(tmp_path, capsys, monkeypatch):
    (tmp_path / "mine.py").write_text(
        "import numpy as np\n"
        "def false_alarms(y_true, y_pred):\n"
        "    return float(np.mean(y_pred[y_true == 0]))\n"
    )
    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "audit",
            "--model", str(SAMPLE / "model.onnx"),
            "--cohort", str(SAMPLE / "cohort.csv"),
            "--label", "cvd_10y",
            "--sensitive", "sex",
            "--n-boot", "10",
            "--no-explain", "--no-safety",
            "--out", str(tmp_path / "out"),
            "--metric", "mine:false_alarms",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "Your metrics (--metric), whole cohort:" in out
    assert "false_alarms (mine:false_alarms, pred):" in out
    written = json.loads((tmp_path / "out" / "audit.json").read_text())
    import jsonschema

    from cohortaudit.render.json import load_result_schema

    jsonschema.Draft202012Validator(load_result_schema()).validate(written)
    fpr = written["overall"]["metrics"]["fpr"]["value"]
    assert written["user_metrics"]["overall"]["values"]["false_alarms"]["value"] == pytest.approx(
        fpr
    )


def test_the_report_chapter_lists_every_group_and_withholds_suppressed_ones(audited):
    from cohortaudit.render.chapters.user_metrics import chapter
    from cohortaudit.render.report import build_report

    result, _ = audited
    (sec,) = chapter(result)
    table = sec.blocks[1]
    assert table.header == ["Group", "recall_score", "roc_auc_score"]
    assert len(table.rows) == 1 + len(result.subgroups)
    assert table.rows[0][0] == "All patients"
    for g, row in zip(result.subgroups, table.rows[1:], strict=True):
        assert row[0] == g.label
        if g.suppressed:
            assert row[1:] == ["not evaluable (fewer than 10)"] * 2
    plain = AuditResult.from_dict({**result.to_dict(), "user_metrics": None})
    assert chapter(plain) == []
    numbered = build_report(result).sections
    titles = [s.heading for s in numbered if s.level == 0]
    at = next(i for i, t in enumerate(titles) if "Your metrics" in t)
    assert "fairness" in titles[at - 1]  # placed right after the fairness chapter, numbered
    assert titles[at].split()[0].isdigit()


def test_metric_frame_carries_user_metrics_beside_the_built_in_ones(audited):
    result, _ = audited
    view = result.metric_frame(metric_keys=["sensitivity", "recall_score"], attributes="sex")
    assert list(view.by_group.columns) == ["sensitivity", "recall_score"]
    assert view.overall["recall_score"] == result.overall.metrics["sensitivity"].value
    released = view.by_group.dropna()
    assert (released["recall_score"] - released["sensitivity"]).abs().max() < 1e-9


def test_a_recorded_user_metric_spec_names_the_metric_again():
    """What the result records ({source}@{kind}) is itself a valid --metric value."""
    for m in _config().to_dict()["user_metrics"]:
        again = parse_metric_spec(f"{m['source']}@{m['kind']}")
        assert (again.key, again.kind) == (m["key"], m["kind"])
