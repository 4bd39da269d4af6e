"""Trends (issue 17, point 4): one model's metric in one group over its audits, the CI of each
change rebuilt from the stored intervals, and the policy rules that changed state.

Every expected number below is worked out by hand in the comments (z = 1.959964 for 95%).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cohortaudit.audit_registry import TrendChange, open_registry
from cohortaudit.audit_registry.trend import is_ratio_metric
from cohortaudit.cli import main
from cohortaudit.errors import ConfigError
from conftest import tiny_audit

Z = 1.959963984540054


def _mv(value, lo=None, hi=None):
    return {"value": value, "ci_low": lo, "ci_high": hi}


def _audit(folder: Path, *, overall: dict, female: dict | None = None, withheld=(),
           suppressed=False, policy=(), extra_groups=()) -> Path:  # fmt: skip
    """A result shaped like audit.json: overall and subgroup metrics, policy verdicts."""
    tiny_audit(folder)
    audit = json.loads((folder / "audit.json").read_text())
    audit["settings"] = {"confidence_level": 0.95}
    audit["overall"] = {"attributes": {}, "n": 1000, "metrics": overall, "withheld": []}
    groups = []
    if female is not None:
        groups.append({
            "attributes": {"sex": "F"}, "n": None if suppressed else 500,
            "suppressed": suppressed, "withheld": list(withheld),
            "metrics": {} if suppressed else female,
        })  # fmt: skip
    groups.extend(extra_groups)
    audit["subgroups"] = groups
    audit["policy"] = [
        {"rule_id": r, "group": g, "status": st, "observed": _mv(None, None, None), "reason": ""}
        for r, g, st in policy
    ]
    (folder / "audit.json").write_text(json.dumps(audit))
    return folder


def test_ratio_metrics_come_from_the_metric_registry():
    assert is_ratio_metric("oe_ratio")
    assert not is_ratio_metric("auroc") and not is_ratio_metric("calibration_slope")
    assert not is_ratio_metric("harrell_c")  # a time-to-event key the registry does not list


def test_a_difference_is_flagged_only_when_its_ci_excludes_zero(sqlite_url, tmp_path):
    with open_registry(sqlite_url) as reg:
        for name, m in [("a", _mv(0.80, 0.76, 0.84)), ("b", _mv(0.70, 0.66, 0.74)),
                        ("c", _mv(0.75, 0.70, 0.80))]:  # fmt: skip
            reg.record(_audit(tmp_path / name, overall={"auroc": m}), auditor="a", source="cli")
        t = reg.trend("a" * 64, "auroc")
    assert [p.value for p in t.points] == [0.80, 0.70, 0.75]
    assert t.scale == "difference" and t.group == ()
    first, second = t.changes
    # a -> b: se = 0.04 / z each, so the half-width is z * sqrt(2) * 0.04 / z = 0.0565685
    assert first.estimate == pytest.approx(-0.10)
    assert (first.ci_low, first.ci_high) == pytest.approx((-0.10 - 0.0565685, -0.10 + 0.0565685))
    assert first.flagged
    # b -> c: half-width sqrt(0.04^2 + 0.05^2) = 0.0640312; CI -0.0140312 to 0.1140312 holds 0
    assert second.estimate == pytest.approx(0.05)
    assert (second.ci_low, second.ci_high) == pytest.approx((-0.0140312, 0.1140312), abs=1e-7)
    assert not second.flagged
    assert (first.from_entry, first.to_entry, second.from_entry, second.to_entry) == (1, 2, 2, 3)


def test_a_ratio_metric_is_compared_on_the_log_scale(sqlite_url, tmp_path):
    with open_registry(sqlite_url) as reg:
        reg.record(_audit(tmp_path / "a", overall={"oe_ratio": _mv(1.0, 0.8, 1.25)}),
                   auditor="a", source="cli")  # fmt: skip
        reg.record(_audit(tmp_path / "b", overall={"oe_ratio": _mv(1.5, 1.2, 1.875)}),
                   auditor="a", source="cli")  # fmt: skip
        reg.record(_audit(tmp_path / "c", overall={"oe_ratio": _mv(1.6, 1.28, 2.0)}),
                   auditor="a", source="cli")  # fmt: skip
        t = reg.trend("a" * 64, "oe_ratio")
    assert t.scale == "ratio"
    up, flat = t.changes
    # log-interval half-widths: log(1.25) = 0.2231436 for all three audits, so the log CI of
    # each change is log(ratio) +- sqrt(2) * 0.2231436 = +- 0.3155726
    assert up.estimate == pytest.approx(1.5)
    assert (up.ci_low, up.ci_high) == pytest.approx((1.5 / math.exp(0.3155726),
                                                     1.5 * math.exp(0.3155726)), rel=1e-5)  # fmt: skip
    assert (up.ci_low, up.ci_high) == pytest.approx((1.09406, 2.05657), abs=1e-5)
    assert up.flagged  # 1.094 > 1
    # 1.5 -> 1.6: ratio 1.0667, CI 0.7780 to 1.4624: within noise
    assert flat.estimate == pytest.approx(1.6 / 1.5)
    assert (flat.ci_low, flat.ci_high) == pytest.approx((0.77800, 1.46245), abs=1e-5)
    assert flat == TrendChange(2, 3, "ratio", flat.estimate, flat.ci_low, flat.ci_high, False)


def test_withheld_and_suppressed_points_are_flagged_and_skipped_by_the_changes(
    sqlite_url, tmp_path
):
    female = {"sensitivity": _mv(0.60, 0.55, 0.65)}
    with open_registry(sqlite_url) as reg:
        for name, kwargs in [
            ("a", {"female": female}),
            ("b", {"female": {"sensitivity": _mv(None)}, "withheld": ("sensitivity",)}),
            ("c", {"female": {}, "suppressed": True}),
            ("d", {}),
            ("e", {"female": {"sensitivity": _mv(0.70, 0.66, 0.74)}}),
        ]:
            reg.record(_audit(tmp_path / name, overall={}, **kwargs), auditor="a", source="cli")
        t = reg.trend("a" * 64, "sensitivity", {"sex": "F"})
    assert [(p.withheld, p.note, p.n) for p in t.points] == [
        (False, "", 500),
        (True, "metric withheld", 500),
        (True, "group suppressed", None),
        (True, "group not in this audit", None),
        (False, "", 500),
    ]
    (change,) = t.changes  # 1 -> 5, the next audit that released a number
    assert (change.from_entry, change.to_entry) == (1, 5)
    # 0.10 +- sqrt(0.05^2 + 0.04^2) = 0.10 +- 0.0640312: flagged
    assert change.estimate == pytest.approx(0.10)
    assert change.ci_low == pytest.approx(0.0359688, abs=1e-7) and change.flagged


def test_an_intersection_is_found_whatever_the_order_of_its_attributes(sqlite_url, tmp_path):
    both = {"attributes": {"sex": "F", "age": "60-79"}, "n": 80, "suppressed": False,
            "withheld": [], "metrics": {"auroc": _mv(0.7, 0.6, 0.8)}}  # fmt: skip
    with open_registry(sqlite_url) as reg:
        reg.record(_audit(tmp_path / "a", overall={}, extra_groups=[both]), auditor="a",
                   source="cli")  # fmt: skip
        t = reg.trend("a" * 64, "auroc", {"age": "60-79", "sex": "F"})
    assert [p.value for p in t.points] == [0.7] and t.group == (("age", "60-79"), ("sex", "F"))


def test_policy_rules_that_changed_state_are_named(sqlite_url, tmp_path):
    with open_registry(sqlite_url) as reg:
        reg.record(_audit(tmp_path / "a", overall={}, policy=[
            ("auroc-floor", {}, "pass"), ("oe-sex", {"sex": "F"}, "pass"),
            ("oe-sex", {"sex": "M"}, "pass")]), auditor="a", source="cli")  # fmt: skip
        reg.record(_audit(tmp_path / "b", overall={}, policy=[
            ("auroc-floor", {}, "fail"), ("oe-sex", {"sex": "F"}, "insufficient data"),
            ("oe-sex", {"sex": "M"}, "pass")]), auditor="a", source="cli")  # fmt: skip
        t = reg.trend("a" * 64, "auroc")
    assert [(c.from_entry, c.to_entry, c.rule_id, c.group, c.before, c.after)
            for c in t.policy_changes] == [
        (1, 2, "auroc-floor", (), "pass", "fail"),
        (1, 2, "oe-sex", (("sex", "F"),), "pass", "insufficient data"),
    ]  # fmt: skip


def test_an_unknown_metric_or_a_bad_confidence_is_refused(sqlite_url, tmp_path):
    with open_registry(sqlite_url) as reg:
        reg.record(_audit(tmp_path / "a", overall={}), auditor="a", source="cli")
        with pytest.raises(ConfigError, match="'aurok' is not a metric key of these audits"):
            reg.trend("a" * 64, "aurok")
        with pytest.raises(ConfigError, match=r"confidence must lie in \(0, 1\)"):
            reg.trend("a" * 64, "auroc", confidence=1.5)


def _tte_cohort(path: Path, *, seed: int, n: int = 3000) -> None:
    """Censored survival times with a 10-year risk column (as tests/app_survival does)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "age": rng.choice(["40-59", "60-79"], n)})
    scale = 60 / np.exp((frame.sex == "M") * 0.4 + (frame.age == "60-79") * 1.0)
    t_event, censor = rng.exponential(scale, n), rng.uniform(4, 14, n)
    frame["t"] = np.minimum(t_event, censor).round(4)
    frame["e"] = (t_event <= censor).astype(int)
    risk = (1 - np.exp(-10 / scale)) * np.exp(rng.normal(0, 0.1, n)) * (1.4 if seed == 2 else 1)
    frame["risk"] = np.clip(risk, 0.001, 0.99).round(5)
    frame.to_csv(path, index=False)


@pytest.mark.slow
def test_time_to_event_audits_trend_like_binary_ones(tmp_path, sqlite_url):
    """Two time-to-event audits of one score column (the second over-predicts by 40%), each
    recorded by the CLI; the O/E at 10 years for women, and its change, from the files."""
    for seed in (1, 2):
        _tte_cohort(tmp_path / f"c{seed}.csv", seed=seed)
        code = main([
            "audit", "--score-column", "risk", "--cohort", str(tmp_path / f"c{seed}.csv"),
            "--event", "e", "--time", "t", "--horizon", "10", "--time-unit", "years",
            "--sensitive", "sex", "age", "--n-boot", "20", "--no-explain", "--no-safety",
            "--out", str(tmp_path / f"out{seed}"), "--quiet", "--registry", sqlite_url,
        ])  # fmt: skip
        assert code == 0
    with open_registry(sqlite_url) as reg:
        (model,) = reg.models()
        assert model.model_name == "scores in column risk" and model.count == 2
        assert {e.outcome_kind for e in reg.entries()} == {"time_to_event"}
        t = reg.trend(model.model_sha256, "oe_ratio", {"sex": "F"})
        c = reg.trend(model.model_sha256, "harrell_c", {"sex": "F"})
    stored = []
    for seed in (1, 2):
        audit = json.loads((tmp_path / f"out{seed}" / "audit.json").read_text())
        (g,) = [g for g in audit["subgroups"] if g["attributes"] == {"sex": "F"}]
        stored.append(g["metrics"]["oe_ratio"])
    assert [p.value for p in t.points] == [s["value"] for s in stored]
    assert [p.ci_low for p in t.points] == [s["ci_low"] for s in stored]
    (a, b) = stored
    se = [(math.log(s["ci_high"]) - math.log(s["ci_low"])) / (2 * Z) for s in stored]
    log_ratio = math.log(b["value"] / a["value"])
    half = Z * math.sqrt(se[0] ** 2 + se[1] ** 2)
    (change,) = t.changes
    assert change.estimate == pytest.approx(b["value"] / a["value"])
    assert (change.ci_low, change.ci_high) == pytest.approx(
        (math.exp(log_ratio - half), math.exp(log_ratio + half))
    )
    assert change.flagged == (change.ci_high < 1 or change.ci_low > 1)
    assert change.flagged and change.estimate < 0.8  # 40% over-prediction: O/E about 1/1.4
    assert c.scale == "difference" and len(c.points) == 2 and not any(p.withheld for p in c.points)
