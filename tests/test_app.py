"""AppTest for every page of the dashboard, on the bundled sample (small bootstrap for speed)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app" / "streamlit_app.py"
sys.path.insert(0, str(APP.parent))

import state  # noqa: E402  (app/state.py: the widget keys)

pytestmark = pytest.mark.skipif(
    not (ROOT / "sample_data" / "cohort.csv").exists(), reason="bundled sample not built"
)

PAGES = (
    "views/overview.py",
    "views/subgroups.py",
    "views/calibration.py",
    "views/utility.py",
    "views/compare.py",
    "views/report.py",
    "views/start.py",
)


@pytest.fixture(autouse=True)
def _fast_sample(monkeypatch):
    monkeypatch.setenv(state.ENV_N_BOOT, "5")
    monkeypatch.setenv(state.ENV_MAX_ORDER, "2")


def _app(**env):
    from streamlit.testing.v1 import AppTest

    for k, v in env.items():
        os.environ[k] = v
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.run()
    return at


def _no_errors(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_first_load_audits_the_sample_and_opens_the_overview():
    at = _app()
    _no_errors(at)
    assert at.title[0].value == "Audit of CardioRisk-EU 2.1.0"
    text = "\n".join(m.value for m in at.markdown)
    assert "comparisons of single-attribute groups with their reference group" in text
    assert "EuroHeart Prediction Consortium" in text  # model facts from the card
    table1 = at.dataframe[0].value
    assert list(table1.columns[:5]) == [
        "Attribute",
        "Group",
        "Patients",
        "Events",
        "Prevalence (95% CI)",
    ]
    assert "not evaluable (fewer than 10)" in set(table1["Prevalence (95% CI)"])
    assert [m.label for m in at.metric][:2] == ["AUROC", "Sensitivity"]
    assert at.warning, "data-quality warnings of the sample are shown"
    # the model's test vectors, read from the result
    assert any(
        "Test vectors: 32 passed" in m.value and "(tolerance 0.0001), reference `skops:" in m.value
        for m in at.success
    )
    # calibration findings in the plain-language verdict
    assert "Calibration: " in text and "groups checked" in text
    assert "The model under-predicts risk for deprivation=5: O/E " in text


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_error(page):
    at = _app()
    at.switch_page(page).run()
    _no_errors(at)
    assert at.title, page


def test_threshold_slider_updates_group_metrics_without_recomputing():
    at = _app()
    at.switch_page("views/subgroups.py").run()
    _no_errors(at)
    slider = at.select_slider(key=state.K_THRESHOLD)
    assert slider.value == pytest.approx(0.1)
    before = at.dataframe[0].value.set_index("Group")
    slider.set_value(0.2).run()  # re-render timing: bench/bench_app.py
    _no_errors(at)
    after = at.dataframe[0].value.set_index("Group")
    assert before.loc["All patients", "AUROC"] == after.loc["All patients", "AUROC"]
    assert before.loc["All patients", "Sensitivity"] != after.loc["All patients", "Sensitivity"]
    # the numbers are the library's, read from the stored confusion counts
    from cohortaudit.explore import metrics_at_threshold
    from cohortaudit.render.findings import format_estimate

    result = at.session_state[state._RESULT]
    v = metrics_at_threshold(result, result.overall, 0.2)["sensitivity"]
    assert after.loc["All patients", "Sensitivity"] == format_estimate(v, 3)
    assert "explored; operating threshold 0.1" in "\n".join(c.value for c in at.caption)


def test_partition_and_heatmap_controls():
    at = _app()
    at.switch_page("views/subgroups.py").run()
    at.selectbox(key=state.K_PARTITION).set_value(("sex", "age")).run()
    _no_errors(at)
    groups = at.dataframe[0].value["Group"].tolist()
    assert groups[0] == "All patients" and groups[1].startswith("sex=F & age=")
    at.selectbox(key=state.K_HEAT_ROW).set_value("ethnicity").run()
    at.selectbox(key=state.K_HEAT_METRIC).set_value("sensitivity").run()
    _no_errors(at)


def test_bad_bins_show_the_config_error_not_a_traceback():
    at = _app()
    at.switch_page("views/start.py").run()
    at.text_input(key=state.K_BINS_PREFIX + "age").set_value("40,fifty,60").run()
    at.button(key=state.K_RUN).click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "ConfigError: The bin edges for 'age' must be numbers, e.g. --bins age=18,40,65,80."
    ]


def test_a_non_binary_label_shows_the_schema_error():
    at = _app()
    at.switch_page("views/start.py").run()
    at.selectbox(key=state.K_LABEL).set_value("sbp").run()
    at.button(key=state.K_RUN).click().run()
    assert not at.exception
    assert len(at.error) == 1
    assert at.error[0].value.startswith("SchemaError: ")
    assert "sbp" in at.error[0].value


def test_start_page_reruns_the_sample_with_new_settings():
    at = _app()
    at.switch_page("views/start.py").run()
    at.number_input(key=state.K_N_BOOT).set_value(0).run()
    at.selectbox(key=state.K_MAX_ORDER).set_value(1).run()
    at.button(key=state.K_RUN).click().run()
    _no_errors(at)
    assert at.title[0].value.startswith("Audit of")  # switched to the overview
    assert "0 replicates" in "\n".join(m.value for m in at.sidebar.markdown)


def test_pages_explain_what_to_do_without_an_audit():
    at = _app(**{state.ENV_AUTORUN: "0"})
    try:
        for page in PAGES[:6]:
            at.switch_page(page).run()
            assert not at.exception
            assert "No audit yet" in at.info[0].value
    finally:
        os.environ.pop(state.ENV_AUTORUN, None)


def test_overview_reads_the_card_facts_from_the_result():
    at = _app()
    result = at.session_state[state._RESULT]
    assert result.model.card["developer"] == "EuroHeart Prediction Consortium (fictional)"
    assert result.model.card["clinically_relevant_range"] == [0.05, 0.2]
    text = "\n".join(m.value for m in at.markdown)
    assert "**Clinically relevant thresholds:** 0.05 to 0.2" in text


def test_overview_warns_when_the_card_has_no_test_vectors():
    import dataclasses

    at = _app()
    result = at.session_state[state._RESULT]
    model = dataclasses.replace(result.model, test_vectors=None)
    at.session_state[state._RESULT] = dataclasses.replace(result, model=model)
    at.run()
    _no_errors(at)
    assert any("No test vectors in the card" in w.value for w in at.warning)


def test_calibration_page_and_attribute_switch():
    at = _app()
    at.switch_page("views/calibration.py").run()
    _no_errors(at)
    assert at.title[0].value == "Calibration"
    assert at.selectbox(key=state.K_CURVE_ATTR).value == "sex"
    table = at.dataframe[0].value
    assert table.columns[:4].tolist() == ["Metric", "Perfect", "All patients", "sex=F (reference)"]
    metrics = table["Metric"].tolist()
    assert metrics[0].startswith("O/E ratio") and "Hosmer–Lemeshow p (g groups)" in metrics
    assert (
        table.set_index("Metric").loc["Hosmer–Lemeshow p (g groups)", "sex=M"].endswith("(g = 10)")
    )
    assert "Calibration and equal error rates cannot both hold" in at.info[0].value
    at.selectbox(key=state.K_CURVE_ATTR).set_value("deprivation").run()
    _no_errors(at)
    table = at.dataframe[0].value
    assert "deprivation=5" in table.columns
    text = "\n".join(m.value for m in at.markdown)
    assert "The model under-predicts risk for deprivation=5" in text
    at.selectbox(key=state.K_CURVE_ATTR).set_value("age").run()  # with not-evaluable groups
    _no_errors(at)
    row = at.dataframe[0].value.iloc[0]
    assert "not evaluable (fewer than 10)" in set(row)
    at.toggle(key=state.K_CAL_BANDS).set_value(False).run()
    _no_errors(at)


def test_utility_page_attribute_switch_and_threshold_table():
    at = _app()
    at.switch_page("views/utility.py").run()
    _no_errors(at)
    assert at.title[0].value == "Clinical utility"
    assert "**5% to 20%**" in "\n".join(m.value for m in at.markdown)  # from the card facts
    table = at.dataframe[0].value
    assert table["Group"].tolist()[:2] == ["All patients", "sex=F"]
    assert at.select_slider(key=state.K_UTIL_THRESHOLD).value == pytest.approx(0.1)
    result = at.session_state[state._RESULT]
    row = next(r for r in result.overall.decision_curve if abs(r["threshold"] - 0.1) < 1e-9)
    assert table.loc[0, "Avoided per 100"] == f"{row['interventions_avoided_per_100']:.1f}"
    at.select_slider(key=state.K_UTIL_THRESHOLD).set_value(0.2).run()
    _no_errors(at)
    at.selectbox(key=state.K_CURVE_ATTR).set_value("age").run()
    _no_errors(at)
    groups = at.dataframe[0].value.set_index("Group")
    assert groups.loc["age=< 40", "Net benefit, model"] == "not evaluable (fewer than 10)"


def test_report_page_renders_the_pdf_and_html_for_download():
    at = _app()
    at.switch_page("views/report.py").run()
    _no_errors(at)
    at.text_input(key=state.K_AUDITOR).set_value("Dr Test").run()
    at.button[0].click().run()  # prepare the PDF
    _no_errors(at)
    pdf = state_report(at, "pdf", "Dr Test")
    assert pdf is not None and pdf[:5] == b"%PDF-"
    at.button[1].click().run()  # prepare the HTML
    _no_errors(at)
    html = state_report(at, "html", "Dr Test")
    assert html is not None and b"<html" in html[:500].lower()


def state_report(at, kind, auditor):
    cache = at.session_state["ca_report_cache"] if "ca_report_cache" in at.session_state else {}  # noqa: SIM401 (AppTest's session state has no .get)
    return next((v for (rid, k, a), v in cache.items() if k == kind and a == auditor), None)
