"""AppTest of the dashboard on a time-to-event result (issue 16, point 5).

A result of ``cohortaudit audit --event --time --horizon`` is put into the session, as opening
its audit.json on the Start page does, and every page is rendered. Each page must show the
survival form with the result's own numbers (re-formatted here from the result, not read from
the page's code), and say plainly what does not apply.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app" / "streamlit_app.py"
sys.path.insert(0, str(APP.parent))

import defaults  # noqa: E402
import state  # noqa: E402

PAGES = (
    "views/overview.py",
    "views/subgroups.py",
    "views/calibration.py",
    "views/utility.py",
    "views/compare.py",
    "views/report.py",
    "views/explanations.py",
    "views/safety.py",
    "views/sites.py",
    "views/start.py",
)


@pytest.fixture(autouse=True)
def _no_sample_audit(monkeypatch):
    monkeypatch.setenv(defaults.ENV_AUTORUN, "0")


def _app(result, page: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state[state._RESULT] = result
    at.session_state[state._RESULT_INFO] = state.ResultInfo(source="file", description="tte")
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def _pct(v) -> str:
    return f"{100 * v.value:.1f}% ({100 * v.ci_low:.1f}–{100 * v.ci_high:.1f})"


def _est(v) -> str:
    if v.ci_low is None:
        return f"{v.value:.3f}"
    return f"{v.value:.3f} ({v.ci_low:.3f}–{v.ci_high:.3f})"


def _figures(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _text(at) -> str:
    return "\n".join(
        [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    )


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_a_time_to_event_result(tte, page):
    at = _app(tte[0], page)
    assert at.title, page


def test_overview_shows_the_counts_and_metrics_at_the_horizon(tte):
    result, _ = tte
    at = _app(result, "views/overview.py")
    o = result.overall
    cards = {m.label: m.value for m in at.metric}
    assert cards["Patients"] == f"{o.n:,}"
    assert cards["Events by 10 years"] == f"{o.events:,}"
    assert cards["Censored before"] == f"{o.survival['censored_before']:,}"
    assert cards["At risk at 10 years"] == f"{o.survival['at_risk']:,}"
    assert cards["Median follow-up"] == f"{o.metrics['median_follow_up'].value:.2f} years"
    assert cards["Observed risk (1 − KM)"] == f"{100 * o.metrics['observed_risk'].value:.1f}%"
    assert (
        cards["Expected risk (mean predicted)"] == f"{100 * o.metrics['expected_risk'].value:.1f}%"
    )
    for key, label in (
        ("oe_ratio", "O/E ratio"),
        ("harrell_c", "Harrell's C"),
        ("uno_c", "Uno's C"),
        ("auc_t", "AUC(t)"),
        ("calibration_slope", "Calibration slope"),
        ("brier", "Brier score (IPCW)"),
        ("scaled_brier", "Scaled Brier (IPA)"),
    ):
        assert cards[label] == f"{o.metrics[key].value:.3f}", key
    captions = [c.value for c in at.caption]
    v = o.metrics["harrell_c"]
    assert f"95% CI {v.ci_low:.3f} to {v.ci_high:.3f}" in captions
    v = o.metrics["observed_risk"]
    assert f"95% CI {100 * v.ci_low:.1f} to {100 * v.ci_high:.1f}" in captions
    if o.metrics["uno_c"].ci_low is None:
        assert "no CI in this result" in captions
    assert "horizon **10 years**" in _text(at)
    table1 = at.dataframe[-1].value.set_index(["Attribute", "Group"])  # [0]: all findings
    for g in result.groups_for(("sex",)):
        row = table1.loc[("sex", g.attributes["sex"])]
        assert row["Patients"] == g.n
        assert row["Events by 10 years"] == g.events
        assert row["Censored before 10 years"] == g.survival["censored_before"]
        assert row["At risk at 10 years"] == g.survival["at_risk"]
        assert row["Observed risk (95% CI)"] == _pct(g.metrics["observed_risk"])
    # the binary headline (AUROC at the operating threshold) is not shown
    assert "AUROC" not in cards


def test_subgroups_table_and_forest_plot_hold_the_group_metrics(tte):
    result, _ = tte
    at = _app(result, "views/subgroups.py")
    table = at.dataframe[0].value.set_index("Group")
    for g in result.groups_for(("sex",)):
        row = table.loc[f"sex={g.attributes['sex']}"]
        assert row["Events by 10 years"] == g.events
        assert row["At risk"] == g.survival["at_risk"]
        assert row["Censored before"] == g.survival["censored_before"]
        assert row["O/E ratio"] == _est(g.metrics["oe_ratio"])
        assert row["AUC(t)"] == _est(g.metrics["auc_t"])
        assert row["Harrell's C"] == _est(g.metrics["harrell_c"])
        assert row["Observed risk (1 − KM)"] == _pct(g.metrics["observed_risk"])
    assert table.loc["sex=F", "Note"] == "reference"
    (fig,) = _figures(at)
    points = fig["data"][0]
    groups = result.groups_for(("sex",))
    assert points["y"] == [g.attributes["sex"] for g in groups]
    assert points["x"] == pytest.approx([g.metrics["oe_ratio"].value for g in groups])
    assert points["error_x"]["array"] == pytest.approx(
        [g.metrics["oe_ratio"].ci_high - g.metrics["oe_ratio"].value for g in groups]
    )
    # switch to AUC(t) and to the age groups
    at.selectbox(key=state.K_FOREST_METRIC).set_value("auc_t").run()
    at.selectbox(key=state.K_PARTITION).set_value(("age",)).run()
    assert not at.exception
    (fig,) = _figures(at)
    groups = result.groups_for(("age",))
    assert fig["data"][0]["x"] == pytest.approx([g.metrics["auc_t"].value for g in groups])
    assert at.dataframe[0].value["Group"].tolist() == [
        "All patients",
        *(f"age={g.attributes['age']}" for g in groups),
    ]


def test_calibration_page_draws_km_observed_vs_predicted_per_group(tte):
    result, _ = tte
    at = _app(result, "views/calibration.py")
    km, flexible, deciles = _figures(at)
    by_name = {t.get("name"): t for t in km["data"]}
    for label, g in [
        ("All patients", result.overall),
        *((g.attributes["sex"], g) for g in result.groups_for(("sex",))),
    ]:
        line = by_name[f"{label}: observed (KM)"]
        assert line["x"] == pytest.approx(g.survival["km_curve"]["time"])
        assert line["y"] == pytest.approx(
            [100 * r for r in g.survival["km_curve"]["observed_risk"]]
        )
        diamond = by_name[f"{label}: predicted at 10 years"]
        assert diamond["x"] == [10.0]
        assert diamond["y"] == pytest.approx([100 * g.metrics["expected_risk"].value])
    assert km["layout"]["xaxis"]["title"]["text"] == "Time since start of follow-up (years)"
    assert km["layout"]["yaxis"]["title"]["text"] == "Observed risk of the event (%)"
    curve = {t["name"]: t for t in flexible["data"] if t.get("name")}["All patients"]
    assert curve["x"] == pytest.approx(
        [100 * p for p in result.overall.calibration_curve["predicted"]]
    )
    assert curve["y"] == pytest.approx(
        [100 * p for p in result.overall.calibration_curve["observed"]]
    )
    # the per-group table at the horizon
    table = at.dataframe[0].value.set_index("Group")
    f = result.groups_for(("sex",))[0]
    assert table.loc["sex=F (reference)", "Observed risk (95% CI)"] == _pct(
        f.metrics["observed_risk"]
    )
    assert table.loc["sex=F (reference)", "O/E (95% CI)"] == _est(f.metrics["oe_ratio"])
    # the deciles of all patients: chart and table
    rows = result.overall.calibration_table
    assert deciles["data"][0]["x"] == pytest.approx([100 * r["expected_risk"] for r in rows])
    assert deciles["data"][0]["y"] == pytest.approx([100 * r["observed_risk"] for r in rows])
    dec = at.dataframe[2].value
    assert dec["Events"].tolist() == [r["events"] for r in rows]
    assert dec["Observed (95% CI)"].tolist() == [
        f"{100 * r['observed_risk']:.1f}% ({100 * r['ci_low']:.1f}–{100 * r['ci_high']:.1f})"
        for r in rows
    ]
    metrics = at.dataframe[1].value.set_index("Metric")
    assert metrics.loc["Calibration slope", "All patients"] == _est(
        result.overall.metrics["calibration_slope"]
    )
    assert metrics.loc["E90", "All patients"] == _est(result.overall.metrics["e90"])


def test_utility_page_draws_decision_curves_and_says_roc_does_not_apply(tte):
    result, _ = tte
    at = _app(result, "views/utility.py")
    (fig,) = _figures(at)
    by_name = {t.get("name"): t for t in fig["data"]}
    rows = result.overall.decision_curve
    model = by_name["All patients: model"]
    assert model["x"] == pytest.approx([100 * r["threshold"] for r in rows])
    assert model["y"] == pytest.approx([r["net_benefit"] for r in rows])
    assert by_name["All patients: treat all"]["y"] == pytest.approx(
        [r["net_benefit_treat_all"] for r in rows]
    )
    assert by_name["Treat none"]["y"] == [0, 0]
    assert fig["layout"]["xaxis"]["title"]["text"] == "Threshold risk by 10 years (%)"
    table = at.dataframe[0].value.set_index("Group")
    t = min((r["threshold"] for r in rows), key=lambda x: abs(x - result.settings_view.threshold))
    row = next(r for r in rows if r["threshold"] == t)
    assert table.loc["All patients", "NB model"] == f"{row['net_benefit']:.4f}".replace("-", "−")
    assert "ROC and precision–recall curves do not apply" in _text(at)


def test_safety_page_of_a_time_to_event_audit_without_safety_says_they_were_turned_off(tte):
    at = _app(tte[0], "views/safety.py")
    assert "No safety checks in this audit." in _text(at)
    assert "turned off" in _text(at)


def test_the_start_page_can_open_a_time_to_event_audit_json(tte):
    from cohortaudit.resultio import read_json_bytes

    result, path = tte
    assert read_json_bytes(path.read_bytes(), name="audit.json").overall.n == result.overall.n


def test_the_report_page_reproduces_a_time_to_event_audit_with_its_own_flags(tte):
    at = _app(tte[0], "views/report.py")
    command = " ".join(c.value for c in at.code)
    cfg = tte[0].config
    assert f"--time {cfg['time']} --event {cfg['event']} --horizon 10" in command
    assert "--label" not in command
