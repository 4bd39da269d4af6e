"""The time-to-event form of the result pages: Overview and Subgroups (the views give the title,
except the Overview, whose title names the model).

Why separate from the views: a binary result's pages must stay exactly as they are, so each view
hands a time-to-event result to a function here and stops. Everything shown is read from the
result (``settings["outcome"]``, the group ``survival`` block, the metrics at the horizon);
nothing is re-estimated. Calibration and Clinical utility are in ``survival_curves``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import components
import state
from cohortaudit.render.findings import group_label
from cohortaudit.render.plotly_charts.base import axis_label
from cohortaudit.render.plotly_charts.survival import (
    survival_estimates_plot,
    survival_metric_label,
)
from cohortaudit.results import AuditResult, GroupResult, MetricValue, not_evaluable
from cohortaudit.textsafe import for_markdown as md

#: The Overview's headline figures, in rows of cards.
HEADLINE_ROWS = (
    ("observed_risk", "expected_risk", "oe_ratio", "calibration_slope"),
    ("harrell_c", "uno_c", "auc_t", "brier", "scaled_brier"),
)
TABLE_DEFAULT = [
    "observed_risk",
    "expected_risk",
    "oe_ratio",
    "harrell_c",
    "uno_c",
    "auc_t",
    "calibration_slope",
    "brier",
]
#: Metrics for the forest plot, with the value of "no problem" drawn dotted.
FOREST_NULL = {
    "oe_ratio": 1.0,
    "auc_t": 0.5,
    "harrell_c": 0.5,
    "uno_c": 0.5,
    "calibration_slope": 1.0,
    "scaled_brier": 0.0,
}
SEVERITY = {
    "serious": ("Serious", st.error),
    "warning": ("Warnings", st.warning),
    "info": ("For information", st.info),
}


def counts(g: GroupResult) -> dict[str, Any]:
    """The disclosure-controlled counts of a group at the horizon (None where withheld)."""
    s = g.survival or {}
    if g.suppressed:
        return {"n": None, "events": None, "censored_before": None, "at_risk": None}
    return {
        "n": g.n,
        "events": g.events,
        "censored_before": s.get("censored_before"),
        "at_risk": s.get("at_risk"),
    }


def _card(label: str, value: str, ci: str | None, *, help: str | None = None) -> None:
    st.metric(label, value, border=True, help=help)
    if ci:
        st.caption(ci)


def _headline(result: AuditResult, key: str) -> None:
    v = result.overall.metrics.get(key)
    label = survival_metric_label(key)
    if v is None or v.value is None:
        _card(label, "n/a", None)
        return
    point = components.survival_estimate(MetricValue(v.value), key)
    if v.ci_low is not None and v.ci_high is not None:
        ci = components.survival_estimate(v, key)
        ci = "95% CI " + ci[ci.index("(") + 1 : -1].replace("–", " to ")
    else:
        ci = "no CI in this result"
    _card(label, point, ci)


def _n(x: int | None) -> str:
    return "withheld" if x is None else f"{x:,}"


def overview(result: AuditResult) -> None:
    """The Overview page of a time-to-event result."""
    outcome = components.survival_outcome(result) or {}
    when = components.horizon_text(outcome)
    unit = outcome.get("time_unit")
    m, c = result.model, result.cohort
    k = result.min_cell
    st.title(f"Audit of {md(m.display_name)}")
    st.caption(
        f"Time-to-event audit · {md(outcome.get('prediction') or 'risk of the event by the horizon')}"
        f" · horizon **{md(when)}**" + (f" · cohort {md(c.file)}" if c.file else "")
    )

    st.subheader(f"The cohort at the horizon ({md(when)})")
    n = counts(result.overall)
    follow = result.overall.metrics.get("median_follow_up")
    cols = st.columns(5)
    with cols[0]:
        _card("Patients", _n(n["n"]), None)
    with cols[1]:
        _card(f"Events by {when}", _n(n["events"]), None)
    with cols[2]:
        _card(
            "Censored before",
            _n(n["censored_before"]),
            None,
            help=f"Follow-up ended before the horizon ({when}) without an event: neither event "
            "nor event-free at the horizon, so Kaplan–Meier and IPCW account for them.",
        )
    with cols[3]:
        _card(f"At risk at {when}", _n(n["at_risk"]), None)
    with cols[4]:
        _card(
            "Median follow-up",
            components.survival_estimate(follow, "median_follow_up", time_unit=unit),
            "reverse Kaplan–Meier",
        )

    st.subheader(f"Overall performance at {md(when)}")
    for keys in HEADLINE_ROWS:
        for col, key in zip(st.columns(len(keys)), keys, strict=True):
            with col:
                _headline(result, key)
    surv = (result.settings or {}).get("survival") or {}
    st.caption(
        "Observed risk is 1 − Kaplan–Meier at the horizon (Greenwood interval); expected risk is "
        "the mean predicted risk; O/E above 1 means the model under-predicts. Harrell's C is "
        "truncated at the horizon, Uno's C and AUC(t) (cumulative/dynamic) are weighted by the "
        "inverse probability of censoring, the Brier score is IPCW (Graf) and the scaled Brier "
        "(IPA) compares it with the Kaplan–Meier null model. "
        + (
            f"Convention: {md(surv['censored_at_horizon'])} if censored at the horizon. "
            if surv.get("censored_at_horizon")
            else ""
        )
        + "Metrics without an interval were computed without bootstrap replicates."
    )

    components.executive_summary(result)
    st.caption(
        "Kaplan–Meier observed vs predicted risk and the calibration curve at the horizon "
        "are on the Calibration page, every group's metrics on the Subgroups page, the "
        "decision curves on the Clinical utility page."
    )

    st.subheader("The cohort (Table 1)")
    rows: list[dict[str, Any]] = [_table1_row("All patients", "", result.overall, when, k)]
    for attr in c.sensitive_features:
        for g in result.groups_for((attr,)):
            rows.append(_table1_row(attr, g.attributes[attr], g, when, k))
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        height="content",
        placeholder="—",
        column_config={
            "Patients": st.column_config.NumberColumn(format="localized"),
            f"Events by {when}": st.column_config.NumberColumn(format="localized"),
            f"Censored before {when}": st.column_config.NumberColumn(format="localized"),
            f"At risk at {when}": st.column_config.NumberColumn(format="localized"),
        },
    )
    st.caption(
        f"Groups below the survival threshold (fewer than {k} patients at risk at the horizon, "
        f"events or censorings) are {not_evaluable(k)}: their counts are withheld."
    )

    st.subheader("Model and data")
    st.markdown(
        "\n".join(
            [
                f"- **Model:** {md(m.display_name)}"
                + (" (scores supplied in the cohort)" if m.kind == "scores" else ""),
                f"- **Inputs:** {md(', '.join(m.inputs) or 'n/a')}",
                f"- **Settings:** {result.settings_view.n_boot} bootstrap replicates, k = {k}, "
                f"operating threshold {result.settings_view.threshold:g}",
            ]
        )
    )
    st.subheader("Data-quality findings")
    if not result.caveats:
        st.success("No data-quality problems were found.")
    for severity, (title, box) in SEVERITY.items():
        items = [cv for cv in result.caveats if cv.severity == severity]
        if items:
            box(
                f"**{title} ({len(items)})**\n\n" + "\n".join(f"- {md(cv.message)}" for cv in items)
            )


def _table1_row(attr: str, value: str, g: GroupResult, when: str, k: int) -> dict[str, Any]:
    n = counts(g)
    return {
        "Attribute": attr,
        "Group": value,
        "Patients": n["n"],
        f"Events by {when}": n["events"],
        f"Censored before {when}": n["censored_before"],
        f"At risk at {when}": n["at_risk"],
        "Observed risk (95% CI)": not_evaluable(k)
        if g.suppressed
        else components.survival_estimate(g.metrics.get("observed_risk"), "observed_risk"),
        "Note": "counts withheld" if g.suppressed else "",
    }


def subgroups(result: AuditResult) -> None:
    """The Subgroups page of a time-to-event result: a table per partition, a forest plot."""
    outcome = components.survival_outcome(result) or {}
    when = components.horizon_text(outcome)
    unit = outcome.get("time_unit")
    k = result.min_cell
    ne = not_evaluable(k)
    parts = result.partitions()
    metric_keys = list(result.overall.metrics)  # the result's order: follow-up first
    state.init_widget(state.K_PARTITION, parts[0], valid=parts)
    part = st.selectbox(
        "Groups by", parts, format_func=lambda p: " × ".join(p), key=state.K_PARTITION
    )
    state.init_widget(
        state.K_TABLE_METRICS, [x for x in TABLE_DEFAULT if x in metric_keys], valid=metric_keys
    )
    chosen = st.multiselect(
        "Metrics in the table",
        metric_keys,
        format_func=survival_metric_label,
        key=state.K_TABLE_METRICS,
    )
    groups = result.groups_for(part)
    ref = result.reference_attributes(part)
    rows: list[dict[str, Any]] = []
    for g in [result.overall, *groups]:
        n = counts(g)
        row: dict[str, Any] = {
            "Group": "All patients" if not g.attributes else group_label(g.attributes),
            "Patients": n["n"],
            f"Events by {when}": n["events"],
            "Censored before": n["censored_before"],
            "At risk": n["at_risk"],
        }
        for key in chosen:
            if g.suppressed:
                row[survival_metric_label(key)] = ne
            elif key in g.withheld:
                row[survival_metric_label(key)] = "withheld (a cell < k)"
            else:
                row[survival_metric_label(key)] = components.survival_estimate(
                    g.metrics.get(key), key, time_unit=unit
                )
        flags = []
        if g.attributes and g.attributes == ref:
            flags.append("reference")
        if g.suppressed:
            flags.append(ne)
        elif g.imprecise:
            flags.append("imprecise: few events")
        row["Note"] = "; ".join(flags)
        rows.append(row)
    st.subheader(f"Metrics at {md(when)} by {md(' × '.join(part))}")
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        height="content" if len(rows) <= 40 else 720,
        placeholder="—",
        column_config={
            "Patients": st.column_config.NumberColumn(format="localized"),
            f"Events by {when}": st.column_config.NumberColumn(format="localized"),
            "Censored before": st.column_config.NumberColumn(format="localized"),
            "At risk": st.column_config.NumberColumn(format="localized"),
        },
    )
    st.caption(
        f"Estimates at the horizon ({md(when)}) with 95% intervals where the result has them; "
        "risks in percent. Censored before: follow-up ended before the horizon without an "
        f"event. Threshold metrics (at {result.settings_view.threshold:g}) are cumulative/dynamic "
        f"with IPCW. {sum(g.suppressed for g in groups)} group(s) {ne}."
    )

    forest_keys = [x for x in FOREST_NULL if x in result.overall.metrics]
    state.init_widget(state.K_FOREST_METRIC, forest_keys[0], valid=forest_keys)
    metric = st.selectbox(
        "Metric for the plot",
        forest_keys,
        format_func=survival_metric_label,
        key=state.K_FOREST_METRIC,
    )
    st.subheader(f"{survival_metric_label(metric)} by group")
    est = [(axis_label(g.attributes), g.metrics.get(metric)) for g in groups if not g.suppressed]
    overall = result.overall.metrics.get(metric)
    st.plotly_chart(
        survival_estimates_plot(
            est,
            metric=metric,
            null_value=FOREST_NULL[metric],
            reference_value=overall.value if overall else None,
            groups_title=" × ".join(part),
        ),
        width="stretch",
        key="survival_forest",
    )
    st.caption(
        f"Each group's estimate at {md(when)} with its 95% interval (bars where the result has "
        f"one); dashed: all patients; dotted: {FOREST_NULL[metric]:g}, "
        + (
            "perfect calibration."
            if metric in ("oe_ratio", "calibration_slope")
            else "no skill."
            if metric != "scaled_brier"
            else "no better than Kaplan–Meier."
        )
    )
    diffs = [d for d in result.disparities if d.metric == metric and set(d.group) == set(part)]
    if diffs:
        st.subheader("Difference from the reference")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Group": group_label(d.group),
                        "Reference": group_label(d.reference) if d.reference else "all patients",
                        "Difference (95% CI)": components.survival_estimate(d.difference, "diff"),
                        "Ratio (95% CI)": components.survival_estimate(d.ratio, "ratio"),
                    }
                    for d in diffs
                ]
            ),
            hide_index=True,
            width="stretch",
            height="content",
        )
        st.caption(
            f"{md(survival_metric_label(metric))} of each group minus (and divided by) its "
            "reference; intervals from the patient bootstrap when the audit ran one."
        )
