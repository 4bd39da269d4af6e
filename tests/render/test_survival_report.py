"""The report, the HTML and the CLI summary of a time-to-event audit (issue 16, point 5).

Specifications:

- a time-to-event result gets the time-to-event chapters (performance, calibration, observed
  risk over time, clinical utility at the horizon) in place of the binary ones, under the same
  anchors, and a binary result gets none of them;
- every number in their tables is the result's own value, formatted; the counts at the horizon
  agree with a count on the synthetic patients, and the observed risk with statsmodels'
  Kaplan–Meier estimate (an independent implementation, test-only);
- the text states the horizon, the time unit and the censoring conventions, and names no
  binary-only metric (AUROC, AUPRC, CITL, prevalence) in the chapters that judge the model;
- the summary states observed vs expected risk, O/E, C, AUC(t) and the calibration slope, and
  its findings are the time-to-event disparities whose interval excludes no difference;
- the checklist lists the TRIPOD+AI items for a time-to-event outcome with resolved sections;
- the PDF and the HTML render; the CLI summary states the horizon, the counts and the
  estimates.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from survival_result import HORIZON, make_tte_data, make_tte_result

from cohortaudit.findings import build_findings
from cohortaudit.render.chart_registry import chart_figures, chart_svg
from cohortaudit.render.document import Chart, Para, Section, Span, Table
from cohortaudit.render.html import html_text
from cohortaudit.render.outcome import horizon_text, is_time_to_event, outcome_kind
from cohortaudit.render.pdf import pdf_bytes
from cohortaudit.render.report import build_report
from cohortaudit.render.text import summary_text
from cohortaudit.results import AuditResult, MetricValue
from cohortaudit.vocabulary import slice_words

N = 3000
SURVIVAL_CHAPTERS = [
    "Performance at the horizon",
    "Calibration at the horizon",
    "Observed risk over time",
    "Clinical utility at the horizon",
]
BINARY_CHAPTERS = ["Discrimination", "Calibration", "Clinical utility"]


@pytest.fixture(scope="module")
def tte():
    return make_tte_result(n=N)


@pytest.fixture(scope="module")
def report(tte):
    return build_report(tte)


# ------------------------------------------------------------------------------- helpers


def _walk(blocks):
    for b in blocks:
        yield b
        if isinstance(b, Section):
            yield from _walk(b.blocks)


def _chapter(report, title):
    return next(s for s in report.sections if s.level == 0 and s.title == title)


def _tables(section):
    return [b for b in _walk(section.blocks) if isinstance(b, Table)]


def _table(section, caption_part):
    found = [t for t in _tables(section) if t.caption and caption_part in t.caption]
    assert len(found) == 1, [t.caption for t in _tables(section)]
    return found[0]


def _texts(section):
    out = [section.title]
    for b in _walk(section.blocks):
        if isinstance(b, Para):
            out.append(b.text)
        elif isinstance(b, Section):
            out.append(b.title)
        elif isinstance(b, Table):
            out += [b.caption or "", *b.header]
            out += [c.text if isinstance(c, Span) else str(c) for r in b.rows for c in r]
        elif isinstance(b, Chart):
            out.append(b.caption)
        elif hasattr(b, "items"):
            out += list(b.items)
    return out


def _est(v: MetricValue, digits: int = 3) -> str:
    """The report's format, written out independently: ``0.375 (0.368–0.382)``."""
    if v.ci_low is None or v.ci_high is None:
        return f"{v.value:.{digits}f}".replace("-", "\u2212")
    sep = " to " if min(v.ci_low, v.ci_high) < 0 else "\u2013"
    return (
        f"{v.value:.{digits}f} ({v.ci_low:.{digits}f}{sep}{v.ci_high:.{digits}f})".replace(
            "-", "\u2212"
        )
    )


def _row(table, first):
    return next(r for r in table.rows if r[0] == first)


# ------------------------------------------------------------------------------- chapters


def test_a_time_to_event_result_gets_the_survival_chapters_in_place_of_the_binary_ones(
    tte, report
):
    assert outcome_kind(tte) == "time_to_event" and is_time_to_event(tte)
    top = [s.title for s in report.sections if s.level == 0]
    assert top[5:9] == SURVIVAL_CHAPTERS
    assert not set(BINARY_CHAPTERS) & set(top)
    anchors = {s.title: s.anchor for s in report.sections if s.level == 0}
    assert anchors["Performance at the horizon"] == "discrimination"
    assert anchors["Calibration at the horizon"] == "calibration"
    assert anchors["Clinical utility at the horizon"] == "utility"


def test_the_counts_at_the_horizon_are_the_results_and_agree_with_the_patients(tte, report):
    frame = make_tte_data(n=N)
    t, e = frame["t"].to_numpy(), frame["e"].to_numpy()
    events = int(((e == 1) & (t <= HORIZON)).sum())
    censored_before = int(((e == 0) & (t < HORIZON)).sum())
    o = tte.overall
    assert o.events == events
    assert o.survival["censored_before"] == censored_before
    chapter = _chapter(report, "Performance at the horizon")
    table = _table(chapter, "Counts and risks by the horizon of 10 years, by sex")
    assert table.header[1:5] == [
        "Patients",
        "Events by horizon",
        "Censored before",
        "At risk at horizon",
    ]
    row = _row(table, "All patients")
    fu = o.metrics["median_follow_up"].value
    assert row[1:] == [
        f"{N:,}",
        f"{events:,}",
        f"{censored_before:,}",
        f"{o.survival['at_risk']:,}",
        f"{fu:.2f}",
        _est(o.metrics["observed_risk"]),
        _est(o.metrics["expected_risk"]),
        _est(o.metrics["oe_ratio"]),
    ]
    for g in tte.subgroups:
        if tuple(g.attributes) != ("sex",):
            continue
        m = frame["sex"] == g.attributes["sex"]
        r = next(r for r in table.rows if r[0].startswith(f"sex={g.attributes['sex']}"))
        assert r[1] == f"{int(m.sum()):,}"
        assert r[2] == f"{int(((e == 1) & (t <= HORIZON) & m).sum()):,}"
        assert r[3] == f"{int(((e == 0) & (t < HORIZON) & m).sum()):,}"
        assert r[6] == _est(g.metrics["observed_risk"])


def test_the_observed_risk_is_statsmodels_kaplan_meier_at_the_horizon(tte, report):
    sm = pytest.importorskip("statsmodels.api")
    frame = make_tte_data(n=N)
    km = sm.SurvfuncRight(frame["t"].to_numpy(), frame["e"].to_numpy())
    times = km.surv_times
    s_at = km.surv_prob[times <= HORIZON][-1]
    observed = tte.overall.metrics["observed_risk"].value
    assert observed == pytest.approx(1 - s_at, abs=1e-9)
    table = _table(_chapter(report, "Evaluation data"), "The evaluation cohort")
    assert _row(table, "Observed risk by the horizon (Kaplan–Meier, 95% CI)")[1].startswith(
        f"{1 - s_at:.3f} ("
    )


def test_discrimination_and_overall_performance_tables_hold_the_results_values(tte, report):
    chapter = _chapter(report, "Performance at the horizon")
    overall = _table(chapter, "Performance of the model for all patients at the horizon")
    values = {r[0]: r[1] for r in overall.rows}
    m = tte.overall.metrics
    for label, key in (
        ("Harrell's C", "harrell_c"),
        ("Uno's C", "uno_c"),
        ("AUC(t)", "auc_t"),
        ("Brier score (IPCW)", "brier"),
        ("Scaled Brier (IPA)", "scaled_brier"),
        ("O/E ratio", "oe_ratio"),
        ("Observed risk (Kaplan–Meier)", "observed_risk"),
    ):
        assert values[label] == _est(m[key]), label
    by_age = _table(chapter, "Discrimination and overall performance at the horizon, by age")
    assert by_age.header == [
        "Group",
        "Harrell's C",
        "Uno's C",
        "AUC(t)",
        "Brier score (IPCW)",
        "Scaled Brier (IPA)",
    ]
    for g in tte.subgroups:
        if tuple(g.attributes) == ("age",):
            r = next(r for r in by_age.rows if r[0].startswith(f"age={g.attributes['age']}"))
            assert r[1:4] == [_est(g.metrics[k]) for k in ("harrell_c", "uno_c", "auc_t")]


def test_the_text_states_the_horizon_the_unit_and_the_censoring_convention(tte, report):
    text = " ".join(_texts(_chapter(report, "Performance at the horizon")))
    assert horizon_text(tte) == "10 years"
    assert "the horizon of 10 years" in text
    assert "in years" in text
    assert "censored at the horizon, or later, counts as event-free" in text
    assert "IPCW" in text
    threshold = " ".join(_texts(_chapter(report, "Clinical utility at the horizon")))
    assert "cumulative/dynamic" in threshold and "inverse probability of censoring" in threshold


@pytest.mark.parametrize(
    "title", ["Executive summary", "Key numbers", "Evaluation data", *SURVIVAL_CHAPTERS]
)
def test_no_binary_only_metric_is_named_where_the_model_is_judged(report, title):
    text = " ".join(_texts(_chapter(report, title)))
    for word in ("AUROC", "AUPRC", "CITL", "Prevalence", "prevalence", "Outcome rate"):
        assert word not in text, (title, word)


def test_calibration_chapter_holds_the_slope_the_deciles_and_the_groups(tte, report):
    chapter = _chapter(report, "Calibration at the horizon")
    m = tte.overall.metrics
    overall = {r[0]: r[1] for r in _table(chapter, "Calibration of all patients").rows}
    assert overall["Calibration slope"] == _est(m["calibration_slope"])
    for key, label in (("ici", "ICI"), ("e50", "E50"), ("e90", "E90"), ("emax", "Emax")):
        assert overall[label] == f"{m[key].value:.3f}"
    deciles = _table(chapter, "by decile of predicted risk")
    assert len(deciles.rows) == len(tte.overall.calibration_table) == 10
    for i, (row, d) in enumerate(zip(deciles.rows, tte.overall.calibration_table, strict=True)):
        obs = MetricValue(d["observed_risk"], d["ci_low"], d["ci_high"])
        assert row == [
            str(i + 1),
            f"{d['n']:,}",
            f"{d['events']:,}",
            f"{d['at_risk']:,}",
            f"{d['expected_risk']:.3f}",
            _est(obs),
        ]
    assert sum(d["n"] for d in tte.overall.calibration_table) == N
    groups = _table(chapter, "Calibration at the horizon by group")
    assert groups.anchor == "calibration.groups"
    g = next(g for g in tte.subgroups if g.attributes == {"site": "Y"})
    assert next(r for r in groups.rows if r[0].startswith("site=Y"))[1:3] == [
        _est(g.metrics["oe_ratio"]),
        _est(g.metrics["calibration_slope"]),
    ]
    kinds = [b.kind for b in _walk(chapter.blocks) if isinstance(b, Chart)]
    assert kinds == ["survival_calibration", "calibration_groups"]


def test_km_and_decision_curve_charts_are_drawn_with_units(tte, report):
    chapter = _chapter(report, "Observed risk over time")
    assert [b.kind for b in _walk(chapter.blocks) if isinstance(b, Chart)] == ["km_risk"]
    svg = chart_svg(tte, "km_risk").decode("utf-8")
    assert "Time since the start of follow-up (years)" in svg
    assert "Observed risk of the event, 1 − Kaplan–Meier (%)" in svg
    assert "mean predicted risk at the horizon" in svg
    figures = chart_figures(tte, "km_risk")
    assert len(figures) == 1 + len(tte.cohort.sensitive_features)
    overall = figures[0]
    line = next(tr for tr in overall.data if tr.name == "All patients")
    km = tte.overall.survival["km_curve"]
    assert list(line.y[: len(km["time"])]) == pytest.approx([100 * r for r in km["observed_risk"]])
    diamond = next(tr for tr in overall.data if "mean predicted" in (tr.name or ""))
    assert diamond.x[0] == HORIZON
    assert diamond.y[0] == pytest.approx(100 * tte.overall.metrics["expected_risk"].value)
    dc = chart_svg(tte, "survival_decision_curve").decode("utf-8")
    assert "Threshold risk by the horizon (%)" in dc and "treat all" in dc
    cal = chart_svg(tte, "survival_calibration").decode("utf-8")
    assert "Predicted risk by the horizon (%)" in cal


def test_the_decision_curve_table_holds_the_results_net_benefit(tte, report):
    chapter = _chapter(report, "Clinical utility at the horizon")
    by_group = _table(chapter, "Net benefit at the horizon by group at the operating threshold")
    t = tte.settings["threshold"]
    point = next(
        (r for r in tte.overall.decision_curve if abs(r["threshold"] - t) < 1e-9), None
    )
    row = _row(by_group, "All patients")
    if point is None:
        assert row[1].text == "not available (no released point)"
    else:
        assert row[1:] == [
            f"{point['net_benefit']:.4f}".replace("-", "\u2212"),
            f"{point['net_benefit_treat_all']:.4f}".replace("-", "\u2212"),
            f"{100 * point['treated']:.1f}%",
        ]
    thr = _table(chapter, "Threshold metrics of all patients at the operating threshold")
    values = {r[0]: r[1] for r in thr.rows}
    for label, key in (("Sensitivity", "sensitivity"), ("Specificity", "specificity")):
        assert values[label] == _est(tte.overall.metrics[key])
    c = tte.overall.confusion
    assert values["Events by the horizon at or above the threshold"] == f"{c['tp']:,}"


# ------------------------------------------------------------------------------- summary


def test_the_summary_states_observed_vs_expected_risk_oe_c_auc_and_slope(tte, report):
    chapter = _chapter(report, "Key numbers")
    text = " ".join(_texts(chapter))
    m = tte.overall.metrics
    obs, exp_ = m["observed_risk"], m["expected_risk"]
    assert (
        f"By the horizon of 10 years the observed risk (Kaplan–Meier) is "
        f"{100 * obs.value:.1f}% ({100 * obs.ci_low:.1f}–{100 * obs.ci_high:.1f}%) and the mean "
        f"predicted risk {100 * exp_.value:.1f}%: O/E {_est(m['oe_ratio'], 2)}." in text
    )
    assert f"Harrell's C {_est(m['harrell_c'], 2)}" in text
    assert f"AUC(t) {_est(m['auc_t'], 2)}" in text
    assert f"calibration slope {_est(m['calibration_slope'], 2)}" in text
    key = {r[0]: r[1] for r in _table(chapter, "Key numbers for all patients at the horizon").rows}
    assert key["Events by the horizon"] == f"{tte.overall.events:,}"
    assert key["At risk at the horizon"] == f"{tte.overall.survival['at_risk']:,}"
    assert key["Harrell's C"] == _est(m["harrell_c"])
    # without a bootstrap no disparity is tested, and the executive summary says so
    assert "Disparities were not tested" in " ".join(_texts(_chapter(report, "Executive summary")))


def _with_interval(tte, metric, attrs, lo, hi):
    """The result with one disparity's difference given an interval (the bootstrap's job)."""
    out = []
    for d in tte.disparities:
        if d.metric == metric and d.group == attrs and d.reference_kind == "group":
            d = dataclasses.replace(d, difference=MetricValue(d.difference.value, lo, hi))
        out.append(d)
    return dataclasses.replace(tte, disparities=tuple(out))


def _excluding_zero(v: float) -> tuple[float, float]:
    return (v / 2, 2 * v) if v > 0 else (2 * v, v / 2)


def test_survival_findings_compare_c_indices_and_judge_oe_against_one(tte):
    d = next(
        x
        for x in tte.disparities
        if x.metric == "harrell_c" and len(x.group) == 1 and x.reference_kind == "group"
    )
    g = d.group
    worse = _with_interval(tte, "harrell_c", g, -0.09, -0.03)
    worse = dataclasses.replace(
        worse,
        disparities=tuple(
            dataclasses.replace(x, difference=MetricValue(-0.06, -0.09, -0.03))
            if x.metric == "harrell_c" and x.group == g and x.reference_kind == "group"
            else x
            for x in worse.disparities
        ),
    )
    found = [f for f in build_findings(worse) if f.metric == "harrell_c"]
    assert [(f.kind, f.attributes, f.reference, f.value) for f in found] == [
        ("discrimination", g, d.reference, -0.06)
    ]
    assert found[0].summary.startswith(f"The model ranks patients less well for {slice_words(g)}")
    numbered = build_report(dataclasses.replace(worse, findings=build_findings(worse)))
    annex = " ".join(_texts(next(s for s in numbered.sections if s.anchor == "findings")))
    assert found[0].summary in annex
    # an interval that includes zero is not a finding
    quiet = _with_interval(tte, "harrell_c", g, -1.0, 1.0)
    assert not [f for f in build_findings(quiet) if f.metric == "harrell_c"]
    # O/E is judged against 1 in each group: above 1, the model under-predicts
    under = dataclasses.replace(
        tte,
        subgroups=tuple(
            dataclasses.replace(x, metrics={**x.metrics, "oe_ratio": MetricValue(1.5, 1.3, 1.7)})
            if x.attributes == g
            else x
            for x in tte.subgroups
        ),
    )
    oe = [f for f in build_findings(under) if f.metric == "oe_ratio" and f.attributes == g]
    assert len(oe) == 1 and "under-predicts" in oe[0].summary


# ------------------------------------------------------------------------------- checklist


def test_the_checklist_lists_the_time_to_event_tripod_items_with_sections(report):
    chapter = _chapter(report, "Checklist: TRIPOD+AI and EU AI Act Annex IV")
    table = _table(chapter, "TRIPOD+AI items for a time-to-event outcome")
    topics = " ".join(r[1] for r in table.rows)
    for words in (
        "Outcome definition with its horizon and time unit (10 years)",
        "Handling of censoring",
        "median follow-up (reverse Kaplan–Meier)",
        "Number at risk at the horizon",
        "AUC(t)",
        "Calibration at the horizon",
        "Brier score at the horizon (IPCW)",
        "decision curve at the horizon",
    ):
        assert words in topics, words
    numbers = {s.anchor: s.number for s in report.sections if s.level == 0}
    row = next(r for r in table.rows if r[1].startswith("Observed risk over time"))
    assert row[2] == numbers["survival.km"]
    for r in table.rows:  # every reference resolved to a number
        assert re.fullmatch(r"[0-9., A-Z()a-z]+", r[2]), r[2]
    annex = _table(chapter, "EU AI Act Annex IV 2(g)")
    accuracy = next(r for r in annex.rows if r[1] == "Metrics of accuracy")
    assert accuracy[2].split(", ")[:4] == [
        numbers[a] for a in ("discrimination", "calibration", "survival.km", "utility")
    ]


# ------------------------------------------------------------------------------- renderers


def test_the_pdf_renders_every_survival_chapter(tte):
    data = pdf_bytes(tte)
    assert data.startswith(b"%PDF")
    if not shutil.which("pdftotext"):
        pytest.skip("poppler-utils not installed")
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True
    ).stdout.decode("utf-8")
    for title in SURVIVAL_CHAPTERS:
        assert title in text
    assert "AUROC" not in text.split("Subgroups and fairness")[0]


def test_the_html_renders_an_interactive_chart_for_every_chart(tte, report):
    html = html_text(tte)
    charts = [b for b in _walk(report.sections) if isinstance(b, Chart)]
    figures = re.findall(r"<figure>(.*?)</figure>", html, flags=re.S)
    assert len(figures) == len(charts)
    for chart, figure in zip(charts, figures, strict=True):
        n = len(chart_figures(tte, chart.kind, **chart.params))
        assert figure.count('class="plotly-graph-div"') == n, chart.kind
    for title in SURVIVAL_CHAPTERS:
        assert title in html


def test_the_cli_summary_states_the_horizon_counts_and_estimates(tte):
    text = summary_text(tte)
    o, m = tte.overall, tte.overall.metrics
    assert "time-to-event audit" in text
    assert "risk of the event by the horizon 10 years" in text
    assert (
        f"{N:,} patients, {o.events:,} events by the horizon, "
        f"{o.survival['censored_before']:,} censored before it, "
        f"{o.survival['at_risk']:,} at risk at it"
    ) in text
    obs, oe = m["observed_risk"], m["oe_ratio"]
    assert f"observed {obs.value:.1%} ({obs.ci_low:.1%} to {obs.ci_high:.1%})" in text
    assert f"vs expected (mean predicted) {m['expected_risk'].value:.1%}" in text
    assert f"O/E ratio {'':<24}{oe.value:.3f} ({oe.ci_low:.3f} to {oe.ci_high:.3f})" in text
    hc = m["harrell_c"]
    assert f"{hc.value:.3f} ({hc.ci_low:.3f} to {hc.ci_high:.3f})" in text
    assert "AUROC" not in text
    assert "Disparities were not tested" in text


def test_binary_results_get_no_survival_chapter_and_no_survival_summary():
    golden = Path(__file__).resolve().parents[1] / "golden" / "memory.audit.json.gz"
    sample = AuditResult.from_dict(json.loads(gzip.decompress(golden.read_bytes())))
    assert outcome_kind(sample) == "binary"
    top = [s.title for s in build_report(sample).sections if s.level == 0]
    assert top[5:8] == BINARY_CHAPTERS
    assert not set(SURVIVAL_CHAPTERS) & set(top)
    assert "horizon" not in summary_text(sample)
    np.testing.assert_equal(is_time_to_event(sample), False)
