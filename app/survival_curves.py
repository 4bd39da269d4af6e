"""The time-to-event form of the Calibration and Clinical utility pages.

Kaplan–Meier observed risk over time against the mean predicted risk at the horizon per group,
the flexible calibration curve at the horizon, observed vs predicted by risk decile (with the
Kaplan–Meier interval of each decile), and decision curves at the horizon. All of it is read
from the result; nothing is re-estimated here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import components
import runner
import state
from cohortaudit.render.findings import calibration_findings, group_label
from cohortaudit.render.plotly_charts.survival import (
    survival_calibration_plot,
    survival_decile_plot,
    survival_decision_curve_plot,
    survival_km_plot,
    survival_metric_label,
)
from cohortaudit.results import AuditResult, GroupResult, MetricValue, not_evaluable
from cohortaudit.textsafe import for_markdown as md

CALIBRATION_TABLE = (
    ("observed_risk", "1 − KM at the horizon"),
    ("expected_risk", "= observed risk"),
    ("oe_ratio", "1"),
    ("calibration_slope", "1"),
    ("ici", "0"),
    ("e50", "0"),
    ("e90", "0"),
    ("emax", "0"),
    ("brier", "lower is better"),
    ("scaled_brier", "higher is better"),
)


def _labelled(result: AuditResult, attr: str) -> list[tuple[str, GroupResult]]:
    return [(g.attributes[attr], g) for g in result.groups_for((attr,))]


def calibration(result: AuditResult) -> None:
    """The Calibration page of a time-to-event result."""
    outcome = components.survival_outcome(result) or {}
    horizon, unit = float(outcome["horizon"]), outcome.get("time_unit")
    when = components.horizon_text(outcome)
    k = result.min_cell
    ne = not_evaluable(k)
    st.caption(
        f"Does the predicted risk of the event by {md(when)} come true? The observed risk is "
        "estimated with Kaplan–Meier, so patients whose follow-up ended early count for as "
        "long as they were followed, never as event-free."
    )
    attr = runner.curve_attribute(result)
    if attr is None:
        st.info("This audit has no sensitive attributes: only the whole cohort was evaluated.")
        st.stop()
    labelled = _labelled(result, attr)
    groups = [g for _, g in labelled]
    ref = result.reference_attributes((attr,))

    st.subheader(f"Kaplan–Meier observed vs predicted risk by {md(attr)}")
    c1, c2 = st.columns(2)
    state.init_widget(state.K_CAL_BANDS, True)
    state.init_widget(state.K_CAL_OVERALL, True)
    bands = c1.toggle("95% confidence bands", key=state.K_CAL_BANDS)
    with_all = c2.toggle("All patients", key=state.K_CAL_OVERALL)
    shown = ([("All patients", result.overall)] if with_all else []) + labelled
    st.plotly_chart(
        survival_km_plot(shown, horizon=horizon, time_unit=unit, bands=bands),
        width="stretch",
        key="survival_km",
    )
    st.caption(
        f"Lines: observed risk over time (1 − Kaplan–Meier, Greenwood {('band' if bands else 'interval')}). "
        f"Diamonds on the dotted horizon line: the group's mean predicted risk by {md(when)}. "
        "A diamond above the end of its line: the model over-predicts for that group; below: "
        f"it under-predicts. Steps are shown only where at least {k} events have accumulated "
        f"and {k} patients are at risk (disclosure control)."
    )
    rows: list[dict[str, Any]] = []
    for name, g in [("All patients", result.overall), *labelled]:
        label = name if not g.attributes else group_label(g.attributes)
        if g.attributes and g.attributes == ref:
            label += " (reference)"
        if g.suppressed:
            rows.append({"Group": label, "Observed risk (95% CI)": ne})
            continue
        rows.append(
            {
                "Group": label,
                "Observed risk (95% CI)": components.survival_estimate(
                    g.metrics.get("observed_risk"), "observed_risk"
                ),
                "Predicted risk": components.survival_estimate(
                    g.metrics.get("expected_risk"), "expected_risk"
                ),
                "O/E (95% CI)": components.survival_estimate(g.metrics.get("oe_ratio"), "oe_ratio"),
                f"Events by {when}": g.events,
                "At risk": (g.survival or {}).get("at_risk"),
            }
        )
    st.dataframe(
        pd.DataFrame(rows), hide_index=True, width="stretch", height="content", placeholder="—"
    )

    left, right = st.columns([3, 2], gap="large")
    with left:
        st.subheader(f"Calibration at {md(when)}")
        st.plotly_chart(
            survival_calibration_plot(shown, horizon=horizon, time_unit=unit, bands=bands),
            width="stretch",
            key="survival_calibration",
        )
        method = result.settings_view.calibration.get("flexible")
        st.caption(
            "Observed risk by the horizon as a smooth function of predicted risk"
            + (f": {md(method)}" if method else "")
            + f". A curve stops where fewer than {k} patients lie beyond it."
        )
    with right:
        st.subheader("What it shows")
        found = [
            f for f in calibration_findings(result) if not f.group or tuple(f.group) == (attr,)
        ]
        if found:
            st.markdown("\n".join(f"- {md(f.sentence)}" for f in found))
        else:
            st.markdown(
                f"- For all patients and every {md(attr)} group the intervals of O/E and the "
                "calibration slope include perfect calibration."
            )

    st.subheader(f"Calibration metrics by {md(attr)}")
    columns = [("All patients", result.overall)] + [
        (group_label(g.attributes) + (" (reference)" if g.attributes == ref else ""), g)
        for g in groups
    ]
    table: list[dict[str, Any]] = []
    for key, perfect in CALIBRATION_TABLE:
        if key not in result.overall.metrics:
            continue
        row: dict[str, Any] = {"Metric": survival_metric_label(key), "Perfect": perfect}
        for name, g in columns:
            row[name] = (
                ne if g.suppressed else components.survival_estimate(g.metrics.get(key), key)
            )
        table.append(row)
    st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch", height="content")
    st.caption(
        "ICI, E50, E90 and Emax: mean, median, 90th percentile and maximum of |observed − "
        "predicted| on the flexible calibration curve at the horizon; the slope is from a Cox "
        "model on the complementary log-log of the predicted risk."
    )

    st.subheader("Observed vs predicted by decile of predicted risk")
    choices = [("All patients", result.overall), *labelled]
    pick = st.selectbox(
        "Group for the deciles",
        range(len(choices)),
        format_func=lambda i: choices[i][0] if i == 0 else f"{attr} = {choices[i][0]}",
    )
    name, g = choices[pick]
    c1, c2 = st.columns([1, 1], gap="large")
    with c1:
        st.plotly_chart(
            survival_decile_plot([(name, g)], horizon=horizon, time_unit=unit),
            width="stretch",
            key="survival_deciles",
        )
    with c2:
        if g.suppressed or not g.calibration_table:
            st.info(
                f"The deciles of this group are withheld: each needs at least {k} patients, "
                f"{k} events by the horizon and {k} patients at risk."
            )
        else:
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "Decile": i + 1,
                            "Patients": r["n"],
                            "Events": r["events"],
                            "At risk": r["at_risk"],
                            "Predicted": f"{100 * r['expected_risk']:.1f}%",
                            "Observed (95% CI)": components.survival_estimate(
                                _mv(r), "observed_risk"
                            ),
                        }
                        for i, r in enumerate(g.calibration_table)
                    ]
                ),
                hide_index=True,
                width="stretch",
                height="content",
            )
    st.caption(
        "Observed: Kaplan–Meier risk by the horizon among the decile's patients, with its "
        "log(−log) Greenwood interval; predicted: their mean predicted risk."
    )


def _mv(row: dict[str, Any]) -> MetricValue:
    return MetricValue(row.get("observed_risk"), row.get("ci_low"), row.get("ci_high"))


def utility(result: AuditResult) -> None:
    """The Clinical utility page of a time-to-event result."""
    outcome = components.survival_outcome(result) or {}
    horizon, unit = float(outcome["horizon"]), outcome.get("time_unit")
    when = components.horizon_text(outcome)
    operating = result.settings_view.threshold
    k = result.min_cell
    ne = not_evaluable(k)
    st.caption(
        f"Net benefit at {md(when)}: the events by the horizon found among the patients above a "
        "threshold (from Kaplan–Meier among them, as in Vickers' survival decision curve "
        "analysis) weighed against those treated without an event, at the exchange rate the "
        "threshold implies. The model is useful where its curve lies above both *treat all* "
        "and *treat none* (0)."
    )
    attr = runner.curve_attribute(result)
    if attr is None:
        st.info("This audit has no sensitive attributes: only the whole cohort was evaluated.")
        st.stop()
    labelled = _labelled(result, attr)
    with_all = [("All patients", result.overall), *labelled]
    st.subheader(f"Decision curves at {md(when)} by {md(attr)}")
    st.plotly_chart(
        survival_decision_curve_plot(
            with_all, horizon=horizon, time_unit=unit, operating_threshold=operating
        ),
        width="stretch",
        key="survival_decision_curves",
    )
    st.caption(
        "Solid: the model; dotted: treat everyone in that group; black: treat no one. Points "
        f"are shown only where at least {k} patients are above the threshold with {k} events "
        "among them (disclosure control)."
    )

    grid = [r["threshold"] for r in result.overall.decision_curve]
    if not grid:
        components.not_applicable("No decision curve.", "This result has no decision curve.")
        return
    default = min(grid, key=lambda t: abs(t - operating))
    state.init_widget(state.K_UTIL_THRESHOLD, default, valid=grid)
    t = st.select_slider(
        "Threshold for the table",
        options=grid,
        format_func=lambda x: f"{x:.0%}",
        key=state.K_UTIL_THRESHOLD,
    )
    rows: list[dict[str, Any]] = []
    for name, g in with_all:
        label = name if not g.attributes else group_label(g.attributes)
        row = next((r for r in g.decision_curve if abs(r["threshold"] - t) < 1e-9), None)
        if g.suppressed or row is None:
            rows.append({"Group": label, "NB model": ne if g.suppressed else "withheld"})
            continue
        rows.append(
            {
                "Group": label,
                "NB model": f"{row['net_benefit']:.4f}".replace("-", "−"),
                "NB treat all": f"{row['net_benefit_treat_all']:.4f}".replace("-", "−"),
                "NB treat none": "0",
                "Treated": f"{100 * row['treated']:.1f}%"
                if row.get("treated") is not None
                else "n/a",
            }
        )
    st.dataframe(
        pd.DataFrame(rows), hide_index=True, width="stretch", height="content", placeholder="—"
    )
    st.caption(
        f"At threshold {t:.0%}"
        + (" (the operating threshold)" if abs(t - operating) < 1e-9 else "")
        + ". NB: net benefit in true positives per patient; Treated: share of the group at or "
        "above the threshold."
    )
    st.subheader("Discrimination")
    components.not_applicable(
        "ROC and precision–recall curves do not apply to a time-to-event audit.",
        "They need a 0/1 outcome for every patient, which censored follow-up does not give. "
        "Discrimination at the horizon is measured by Harrell's C, Uno's C and the "
        "time-dependent AUC(t), with their intervals on the Overview and Subgroups pages: "
        + ", ".join(
            f"{survival_metric_label(key)} "
            + components.survival_estimate(result.overall.metrics.get(key), key)
            for key in ("harrell_c", "uno_c", "auc_t")
            if key in result.overall.metrics
        )
        + " for all patients.",
    )
