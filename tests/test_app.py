"""AppTest for every page of the dashboard, on the bundled sample (small bootstrap for speed)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app" / "streamlit_app.py"
sys.path.insert(0, str(APP.parent))

import defaults  # noqa: E402  (app/defaults.py: the sample and environment switches)
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
    "views/explanations.py",
    "views/safety.py",
    "views/sites.py",
    "views/start.py",
)


@pytest.fixture(autouse=True)
def _fast_sample(monkeypatch, tmp_path):
    # the History, Compare and Report pages open the audit registry: a fresh one per test
    monkeypatch.setenv("COHORTAUDIT_REGISTRY", f"sqlite:///{tmp_path / 'registry.sqlite'}")
    monkeypatch.setenv(defaults.ENV_N_BOOT, "5")
    monkeypatch.setenv(defaults.ENV_MAX_ORDER, "2")


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
    assert "The findings that matter most" in text  # the executive summary, from result.findings
    assert any(h.value == "Executive summary" for h in at.subheader)
    assert "EuroHeart Prediction Consortium" in text  # model facts from the card
    assert list(at.dataframe[0].value.columns[:2]) == ["Severity", "Kind"]  # all findings
    table1 = at.dataframe[1].value
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
    # the planted under-prediction among the findings that matter most (result.findings)
    assert "The model under-predicts risk for deprivation = 5 (O/E " in text


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


def test_start_page_counts_the_samples_sites_and_patients_from_the_data():
    import pandas as pd

    frame = pd.read_csv(defaults.SAMPLE_COHORT)
    at = _app()
    at.switch_page("views/start.py").run()
    _no_errors(at)
    n_sites = frame[defaults.SAMPLE_SITE_COLUMN].nunique()
    assert n_sites == 4
    assert any(
        f"synthetic cohort of {len(frame):,} patients from {n_sites} sites." in c.value
        for c in at.caption
    ), [c.value for c in at.caption]
    assert not any("5 sites" in c.value for c in at.caption)
    assert at.checkbox(key=state.K_USE_CARD_THRESHOLD).value is True  # the sample has a card


def test_without_a_card_the_card_threshold_box_is_unticked_and_disabled():
    at = _app()
    at.switch_page("views/start.py").run()
    at.radio(key=state.K_SOURCE).set_value("My own files").run()
    at.file_uploader(key=state.K_MODEL_UPLOAD).upload(
        "model.onnx", defaults.SAMPLE_MODEL.read_bytes()
    ).run()
    at.file_uploader(key=state.K_COHORT_UPLOAD).upload(
        "cohort.csv", defaults.SAMPLE_COHORT.read_bytes(), "text/csv"
    ).run()
    _no_errors(at)
    box = at.checkbox(key=state.K_USE_CARD_THRESHOLD_NO_CARD)
    assert box.label == "Card's operating threshold"
    assert box.value is False and box.disabled
    assert not [c for c in at.checkbox if c.key == state.K_USE_CARD_THRESHOLD]
    assert at.number_input(key=state.K_THRESHOLD_INPUT).value == 0.5  # own threshold, shown
    at.number_input(key=state.K_N_BOOT).set_value(0).run()
    at.button(key=state.K_RUN).click().run()
    _no_errors(at)
    assert any(
        "score is ≥ 0.5 (threshold from the configuration)" in c.value for c in at.caption
    ), [c.value for c in at.caption]


def test_an_upload_is_streamed_through_the_clis_engine_with_the_same_result(monkeypatch):
    """The app audits uploads with cohortaudit.engines.audit_with_engine, like the CLI: with
    COHORTAUDIT_APP_CHUNK_ROWS (or a cohort above the engine's size rule) it is streamed, and the
    result equals the in-memory audit's (the safety checks of a streamed audit run on a seeded
    sample of it, and say so, so that block is left out here)."""
    import json

    from cohortaudit.pipeline import audit_files

    monkeypatch.setenv(defaults.ENV_CHUNK_ROWS, "4000")
    at = _app()
    at.switch_page("views/start.py").run()
    at.radio(key=state.K_SOURCE).set_value("My own files").run()
    at.file_uploader(key=state.K_MODEL_UPLOAD).upload(
        "model.onnx", defaults.SAMPLE_MODEL.read_bytes()
    ).run()
    at.file_uploader(key=state.K_COHORT_UPLOAD).upload(
        "cohort.csv", defaults.SAMPLE_COHORT.read_bytes(), "text/csv"
    ).run()
    at.number_input(key=state.K_N_BOOT).set_value(0).run()
    at.button(key=state.K_RUN).click().run()
    _no_errors(at)
    streamed = at.session_state[state._RESULT]
    assert streamed.run["engine"]["chunk_rows"] == 4000
    assert streamed.run["engine"]["n_chunks"] == 7  # 25,000 rows
    source = at.session_state[state._SOURCE][1]
    memory = audit_files(
        cohort_path=source.cohort_path, model_path=source.model_path, config=source.config
    )
    assert "engine" not in memory.run

    def fixed(r):
        d = r.to_dict()
        # findings read from the safety block follow it (a sample in a streamed audit)
        d["findings"] = [f for f in d["findings"] if not f["section"].startswith("safety")]
        return json.dumps(
            {k: v for k, v in d.items() if k not in ("run", "safety")}, sort_keys=True
        )

    assert fixed(streamed) == fixed(memory)


def test_a_large_upload_is_described_from_its_head_not_read_whole(monkeypatch, tmp_path):
    import cohortaudit.io
    import uploads

    def refuse(*args, **kwargs):
        raise AssertionError("a large cohort must not be read whole to describe it")

    monkeypatch.setattr(uploads, "DESCRIBE_WHOLE_BYTES", 1000)
    monkeypatch.setattr(uploads, "DESCRIBE_HEAD_ROWS", 500)
    monkeypatch.setattr(cohortaudit.io, "load_cohort", refuse)
    info = uploads.describe_cohort(defaults.SAMPLE_COHORT)
    assert info["from_head"] == 500 and info["n_rows"] is None
    assert defaults.SAMPLE_LABEL in info["columns"]
    assert info["categories"]["sex"] == ["F", "M"]
    import pandas as pd

    path = tmp_path / "cohort.parquet"
    pd.read_csv(defaults.SAMPLE_COHORT).to_parquet(path, row_group_size=1000)
    info = uploads.describe_cohort(path)
    assert info["n_rows"] == 25_000 and info["from_head"] == 500


def test_dashboard_says_disparities_were_not_tested_without_bootstrap():
    at = _app()
    at.switch_page("views/start.py").run()
    at.number_input(key=state.K_N_BOOT).set_value(0).run()
    at.button(key=state.K_RUN).click().run()
    _no_errors(at)
    text = "\n".join(m.value for m in [*at.markdown, *at.warning])
    assert "Disparities were not tested: no confidence intervals were computed" in text
    assert "shows a difference whose 95% confidence interval excludes zero" not in text
    at.switch_page("views/subgroups.py").run()
    _no_errors(at)
    assert any("Disparities were not tested" in c.value for c in at.caption)


def test_pages_explain_what_to_do_without_an_audit():
    at = _app(**{defaults.ENV_AUTORUN: "0"})
    try:
        for page in PAGES[:-1]:
            at.switch_page(page).run()
            assert not at.exception
            assert "No audit yet" in at.info[0].value
    finally:
        os.environ.pop(defaults.ENV_AUTORUN, None)


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
    # net benefit and its gain over treat-all with their bootstrap intervals (positive here)
    nb, d_nb = (
        tuple(row[f"{key}{part}"] for part in ("", "_ci_low", "_ci_high"))
        for key in ("net_benefit", "net_benefit_vs_treat_all")
    )
    assert table.loc[0, "Net benefit, model"] == "{:.4f} ({:.4f}\u2013{:.4f})".format(*nb)
    assert table.loc[0, "Gain over treat all"] == "{:.4f} ({:.4f}\u2013{:.4f})".format(*d_nb)
    assert result.overall.metrics["net_benefit"].ci_low == pytest.approx(nb[1])
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


# --------------------------------------------------------------------------------------------
# Explanations and Safety pages
# --------------------------------------------------------------------------------------------

#: Patients explained by the button in these tests (the app's default is 1000, about a minute).
EXPLAIN_ROWS = "40"


def test_subgroups_page_shows_the_users_own_metrics_by_group():
    from sklearn.metrics import roc_auc_score

    from cohortaudit.audit import run_audit
    from cohortaudit.config import AuditConfig, parse_bins
    from cohortaudit.pipeline import load_inputs

    config = AuditConfig(
        label=defaults.SAMPLE_LABEL,
        sensitive_features=("sex", "age"),
        bins=parse_bins([f"age={defaults.SAMPLE_BINS['age']}"]),
        n_boot=5,
        max_intersection_order=2,
        safety=False,
        user_metrics=("sklearn.metrics:recall_score", roc_auc_score),
    )
    inputs = load_inputs(
        cohort_path=defaults.SAMPLE_COHORT,
        config=config,
        model_path=defaults.SAMPLE_MODEL,
        card_path=defaults.SAMPLE_CARD,
    )
    result = run_audit(inputs.cohort, inputs.model, config, card=inputs.card)
    at = _app()
    _with(at, result).switch_page("views/subgroups.py").run()
    _no_errors(at)
    assert "Your metrics by sex" in [s.value for s in at.subheader]
    table = at.dataframe[1].value.set_index("Group")
    assert list(table.columns) == ["recall_score", "roc_auc_score"]
    overall = result.user_metrics["overall"]["values"]["roc_auc_score"]
    assert table.loc["All patients", "roc_auc_score"].startswith(f"{overall['value']:.3f} (")
    assert "fairlearn's MetricFrame" in _text(at)
    at.selectbox(key=state.K_PARTITION).set_value(("sex", "age")).run()
    _no_errors(at)
    suppressed = [g for g in result.groups_for(("sex", "age")) if g.suppressed]
    assert suppressed, "age < 40 and > 80 are under k in the sample"
    table = at.dataframe[1].value.set_index("Group")
    for g in suppressed:  # a suppressed group shows why, never a number
        assert table.loc[g.label, "roc_auc_score"] == "not evaluable (fewer than 10)"
    at.switch_page("views/report.py").run()
    _no_errors(at)
    command = at.code[0].value
    assert "--metric sklearn.metrics:recall_score@pred" in command
    assert "--metric sklearn.metrics._ranking:roc_auc_score@score" in command


@pytest.fixture(scope="module")
def explained_result():
    """The sample audit (small bootstrap) with a small explanations block, computed once by the
    library, so that page tests can inject it instead of waiting for SHAP each time."""
    import dataclasses

    sys.path.insert(0, str(APP.parent))
    from cohortaudit.audit import run_audit
    from cohortaudit.checks import attach_explanations
    from cohortaudit.config import AuditConfig, parse_bins
    from cohortaudit.pipeline import load_inputs

    config = AuditConfig(
        label=defaults.SAMPLE_LABEL,
        sensitive_features=defaults.SAMPLE_SENSITIVE,
        bins=parse_bins([f"{k}={v}" for k, v in defaults.SAMPLE_BINS.items()]),
        n_boot=5,
        max_intersection_order=2,
    )
    inputs = load_inputs(
        cohort_path=defaults.SAMPLE_COHORT,
        config=config,
        model_path=defaults.SAMPLE_MODEL,
        card_path=defaults.SAMPLE_CARD,
    )
    result = run_audit(
        inputs.cohort,
        inputs.model,
        config,
        card=inputs.card,
        cohort_sha256=inputs.cohort_sha256,
        cohort_file=inputs.cohort_file,
        test_vectors=inputs.test_vectors,
    )
    small = dataclasses.replace(config, explain=True, explain_rows=int(EXPLAIN_ROWS))
    return attach_explanations(result, inputs.cohort, inputs.model, small)


def _with(at, result):
    """Make ``result`` the session's audit (as the Start page would) and re-run."""
    at.session_state[state._RESULT] = result
    return at


def _text(at) -> str:
    return "\n".join(
        [m.value for m in at.markdown]
        + [c.value for c in at.caption]
        + [i.value for i in at.info]
        + [s.value for s in at.subheader]
    )


def test_the_sample_audit_includes_exact_tree_explanations_from_the_first_load():
    """The sample model is a tree ensemble: the autorun explains it from its trees (issue 18.5)."""
    from cohortaudit.explain_treeshap import METHOD

    at = _app()
    _no_errors(at)
    block = at.session_state[state._RESULT].explanations
    assert block is not None
    assert block["settings"]["explainer"] == METHOD
    assert block["settings"]["model_agnostic"] is False
    assert block["settings"]["n_explain"] == defaults.explain_rows()
    at.switch_page("views/explanations.py").run()
    _no_errors(at)
    assert "Which inputs drive the predicted risk" in _text(at)
    assert METHOD in _text(at)


def test_explanations_page_offers_to_compute_them_when_the_audit_has_none():
    import dataclasses

    at = _app()
    result = at.session_state[state._RESULT]
    at = _with(at, dataclasses.replace(result, explanations=None))
    at.switch_page("views/explanations.py").run()
    _no_errors(at)
    assert "Explanations were not computed for this audit" in at.info[0].value
    assert at.button(key=state.K_XAI_COMPUTE).label == "Compute explanations (about a minute)"
    assert not at.get("plotly_chart")


def test_explanations_button_computes_them_and_one_patient_waterfall(monkeypatch):
    import dataclasses

    monkeypatch.setenv(defaults.ENV_EXPLAIN_ROWS, EXPLAIN_ROWS)
    at = _app()
    # the autorun explained the sample already: take them away, keeping the audit's source
    bare = dataclasses.replace(at.session_state[state._RESULT], explanations=None)
    at = _with(at, bare)
    at.session_state[state._SOURCE] = (id(bare), at.session_state[state._SOURCE][1])
    at.switch_page("views/explanations.py").run()
    before = at.session_state[state._RESULT]
    at.button(key=state.K_XAI_COMPUTE).click().run()
    _no_errors(at)
    after = at.session_state[state._RESULT]
    assert after.explanations is not None and before.explanations is None
    assert after.explanations["settings"]["n_explain"] == int(EXPLAIN_ROWS)
    assert after.config["explain"] is True and after.config["explain_rows"] == int(EXPLAIN_ROWS)
    # the audit's other numbers are untouched
    assert after.overall == before.overall and after.subgroups == before.subgroups
    text = _text(at)
    assert "Which inputs drive the predicted risk" in text
    assert "Could an input stand in for a sensitive attribute?" in text
    assert "**Direct inputs:** age and sex are model inputs themselves" in text
    charts = len(at.get("plotly_chart"))
    assert charts == 5  # global, by group, distribution, dependence, proxies
    # one patient, on screen only
    at.number_input(key=state.K_XAI_ROW).set_value(4).run()
    at.button(key=state.K_XAI_LOCAL).click().run()
    _no_errors(at)
    assert len(at.get("plotly_chart")) == charts + 1
    assert "never stored in the audit result" in _text(at)
    assert "Predicted risk **" in _text(at)
    # the waterfall never reaches the result or its JSON
    from cohortaudit.render.json import result_to_json

    assert "base_value" not in result_to_json(at.session_state[state._RESULT])


def test_explanations_page_attribute_and_feature_choices(explained_result):
    at = _with(_app(), explained_result)
    at.switch_page("views/explanations.py").run()
    _no_errors(at)
    assert at.selectbox(key=state.K_XAI_ATTR).value == "sex"
    at.selectbox(key=state.K_XAI_ATTR).set_value("age").run()
    _no_errors(at)
    text = _text(at)
    assert "by construction" in text
    # sentences never use the input that defines the groups
    assert "relies on **age**" not in text
    features = at.selectbox(key=state.K_XAI_FEATURE).options
    assert features[0] == explained_result.explanations["global"][0]["feature"]
    at.selectbox(key=state.K_XAI_FEATURE).set_value(features[-1]).run()
    _no_errors(at)
    at.switch_page("views/overview.py").run()
    at.switch_page("views/explanations.py").run()
    assert at.selectbox(key=state.K_XAI_ATTR).value == "age"  # kept across pages


def test_explanations_page_in_scores_mode_offers_no_button(explained_result):
    import dataclasses

    model = dataclasses.replace(explained_result.model, kind="scores")
    at = _with(_app(), dataclasses.replace(explained_result, model=model, explanations=None))
    at.switch_page("views/explanations.py").run()
    _no_errors(at)
    assert "scores mode" in at.info[0].value
    assert not at.get("button") or all(b.key != state.K_XAI_COMPUTE for b in at.button)


def test_safety_page_verdict_tables_and_controls():
    at = _app()
    at.switch_page("views/safety.py").run()
    _no_errors(at)
    text = _text(at)
    assert (
        "**1 likely unit change:** total_chol at site FI-Tampere looks multiplied by ~38.7 "
        "(mg/dL vs mmol/L for cholesterol?)." in text
    )
    assert "weak slice" in text
    result = at.session_state[state._RESULT]
    n_slices = len(result.safety["weak_slices"])
    n_groups = len(result.safety["weak_slice_groups"])
    assert 0 < n_groups < n_slices
    assert f"**{n_groups} groups of weak slices** ({n_slices} overlapping slices" in text
    frames = [d.value for d in at.dataframe]
    shift = frames[0]
    assert shift.columns.tolist() == [
        "Input",
        "Statistic",
        "Value (95% CI)",
        "Flag",
        "What it means",
    ]
    groups = frames[1]
    assert "site=FI-Tampere" in set(groups["Group"])
    use = frames[2]
    assert use.loc[0, "Group"] == "all patients"
    # withheld counts (below k, or secondary suppression) read "withheld", never a number
    assert "withheld" in set(use.to_numpy().ravel()) | set(frames[3].to_numpy().ravel())
    # the controls only choose what to show
    at.radio(key=state.K_SAFETY_SHIFT_STAT).set_value("tvd").run()
    _no_errors(at)
    at.selectbox(key=state.K_SAFETY_ROBUST_ATTR).set_value("sex").run()
    at.radio(key=state.K_SAFETY_ROBUST_METRIC).set_value("sensitivity").run()
    _no_errors(at)
    robust = next(d.value for d in at.dataframe if "Δ AUROC (95% CI)" in d.value.columns)
    assert {"all patients", "sex=F", "sex=M"} <= set(robust["Group"])
    # the weak-slice groups first: the top 10, each by its lead slice
    top = next(d.value for d in at.dataframe if "Overlapping slices" in d.value.columns)
    first = result.safety["weak_slice_groups"][0]
    assert len(top) == min(10, n_groups)
    assert top.loc[0, "Description"] == result.safety["weak_slices"][first["lead"]]["description"]
    assert top.loc[0, "Overlapping slices"] == len(first["members"])
    assert top.loc[0, "Patients affected"] == first["patients"]
    assert not any("O/E ratio (95% CI)" in d.value.columns for d in at.dataframe)
    # every slice behind a toggle
    at.toggle(key=state.K_SAFETY_SLICE_ALL).set_value(True).run()
    _no_errors(at)
    at.segmented_control(key=state.K_SAFETY_SLICE_METRIC).set_value("oe").run()
    _no_errors(at)
    slices = next(d.value for d in at.dataframe if "O/E ratio (95% CI)" in d.value.columns)
    oe = [s for s in result.safety["weak_slices"] if s["metric"] == "oe"]
    assert len(slices) == min(10, len(oe))
    assert slices.loc[0, "Description"] == oe[0]["description"]
    assert at.session_state[state._RESULT] is result  # nothing recomputed


def test_safety_page_without_the_block_and_with_skipped_checks():
    import copy
    import dataclasses

    at = _app()
    result = at.session_state[state._RESULT]
    _with(at, dataclasses.replace(result, safety=None))
    at.switch_page("views/safety.py").run()
    _no_errors(at)
    assert "No safety checks in this audit" in at.info[0].value
    block = copy.deepcopy(result.safety)
    block["shift"], block["intended_use"], block["robustness"] = [], None, None
    reason = "no model card: the development data summary and intended population come from it"
    block["settings"]["skipped"] = {
        "shift": reason,
        "intended_use": reason,
        "robustness": "scores mode: there is no model to re-score perturbed inputs",
    }
    _with(at, dataclasses.replace(result, safety=block)).run()
    _no_errors(at)
    infos = [i.value for i in at.info]
    assert f"Not run: {reason}." in infos
    assert "Not run: scores mode: there is no model to re-score perturbed inputs." in infos
    assert "weak slice" in _text(at)
