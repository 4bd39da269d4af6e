"""Clinical utility: would acting on the model do more good than harm, in every group?

Decision curves, interventions avoided, and ROC / precision-recall curves, all read from the
result's fixed threshold grid (0.01 to 0.99); nothing is recomputed from patients here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import components
import runner
import state
from cohortaudit.render.findings import format_estimate, group_label
from cohortaudit.render.plotly_charts.curves import (
    decision_curve_plot,
    interventions_avoided_plot,
    pr_plot,
    roc_plot,
)
from cohortaudit.results import MetricValue, not_evaluable
from cohortaudit.textsafe import for_markdown as md

result = components.page_with_result("Clinical utility")

if components.survival_outcome(result) is not None:  # a time-to-event result has its own form
    import survival_curves

    survival_curves.utility(result)
    st.stop()

if not result.overall.decision_curve:
    st.info(
        "This audit result has no decision curves (it was written by an older cohortaudit). "
        "Re-run the audit to see clinical utility."
    )
    st.stop()

s = result.settings_view
k = s.min_cell
not_evaluable = not_evaluable(k)
operating = s.threshold
facts = runner.card_facts(result)
crr = runner.relevant_range(facts)

st.caption(
    "Net benefit weighs true positives against false positives at the exchange rate a "
    "threshold implies: choosing 10% says one event found is worth 9 unnecessary "
    "interventions. The model is useful where its curve lies above both *treat all* and "
    "*treat none* (0)."
)
attr = runner.curve_attribute(result)
if attr is None:
    st.info("This audit has no sensitive attributes: only the whole cohort was evaluated.")
    st.stop()
groups = result.groups_for((attr,))
labelled = [(g.attributes[attr], g) for g in groups]
with_all = [("All patients", result.overall), *labelled]

if crr is not None:
    range_text = f"{crr[0]:.0%} to {crr[1]:.0%}"
    st.markdown(
        f"The model card names **{range_text}** as the clinically relevant range of "
        "thresholds (shaded)."
    )
else:
    st.warning(
        "The model card states no clinically relevant range of thresholds, so none is "
        "shaded: judge the curves over the thresholds your clinicians would use."
    )

# ---- decision curves ----------------------------------------------------------------------
st.subheader(f"Decision curves by {md(attr)}")
st.plotly_chart(
    decision_curve_plot(labelled, k=k, relevant_range=crr, operating_threshold=operating),
    width="stretch",
    key="decision_curves",
)
st.caption(
    "Solid: the model, with its 95% bootstrap band; dotted: treat everyone in that group (it "
    "depends on the group's outcome rate); black: treat no one. Net benefit is in true positives per patient, net of "
    "the harm of false positives; the grid runs from 1% to 99% in steps of 1%."
)

# ---- interventions avoided ----------------------------------------------------------------
st.subheader("Interventions avoided")
c1, c2 = st.columns([1, 1], gap="large")
with c1:
    st.plotly_chart(
        interventions_avoided_plot(
            labelled, k=k, relevant_range=crr, operating_threshold=operating
        ),
        width="stretch",
        key="interventions_avoided",
    )
    st.caption(
        "How many fewer patients per 100 would be treated if treatment followed the model "
        "rather than treating everyone, with no fewer events found. Below 0 the model is "
        "worse than treating everyone."
    )
with c2:
    grid = [row["threshold"] for row in result.overall.decision_curve]
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
        if g.suppressed or not g.decision_curve:
            rows.append({"Group": label, "Net benefit, model": not_evaluable})
            continue
        row = next((r for r in g.decision_curve if abs(r["threshold"] - t) < 1e-9), {})

        def _f(key: str, digits: int, row: dict[str, Any] = row) -> str:
            v = row.get(key)
            return "n/a" if v is None else f"{v:.{digits}f}".replace("-", "−")

        def _ci(key: str, row: dict[str, Any] = row) -> str:
            mv = MetricValue(row.get(key), row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high"))
            return format_estimate(mv, 4)

        rows.append(
            {
                "Group": label,
                "Net benefit, model": _ci("net_benefit"),
                "Net benefit, treat all": _f("net_benefit_treat_all", 4),
                "Gain over treat all": _ci("net_benefit_vs_treat_all"),
                "Avoided per 100": _f("interventions_avoided_per_100", 1),
                "Standardized net benefit": _f("standardized_net_benefit", 3),
            }
        )
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        height="content",
        column_config={
            "Net benefit, model": st.column_config.TextColumn(
                "NB model (95% CI)",
                help="Net benefit of treating patients the model flags, bootstrap 95% CI",
            ),
            "Gain over treat all": st.column_config.TextColumn(
                "ΔNB vs treat all (95% CI)",
                help="Net benefit of the model minus that of treating everyone; > 0: the "
                "model does better than treating everyone",
            ),
            "Net benefit, treat all": st.column_config.TextColumn(
                "NB treat all", help="Net benefit of treating everyone in the group"
            ),
            "Avoided per 100": st.column_config.TextColumn(
                "Avoided /100", help="Interventions avoided per 100 patients vs treat all"
            ),
            "Standardized net benefit": st.column_config.TextColumn(
                "Std. NB", help="Net benefit / outcome rate"
            ),
        },
    )
    st.caption(
        f"At threshold {t:.0%}"
        + (" (the operating threshold)" if abs(t - operating) < 1e-9 else "")
        + ". NB: net benefit, with its 95% bootstrap interval; ΔNB: the model's net benefit "
        "minus that of treating everyone (its gain over treating no one is NB itself: treat "
        "none has net benefit 0). Std. NB = net benefit / outcome rate (1 = every event "
        "found with no false positives)."
    )

# ---- ROC and PR ---------------------------------------------------------------------------
st.subheader("Discrimination: ROC and precision–recall curves")
c1, c2 = st.columns(2, gap="large")
with c1:
    st.plotly_chart(
        roc_plot(labelled, k=k, operating_threshold=operating), width="stretch", key="roc"
    )
with c2:
    st.plotly_chart(
        pr_plot(labelled, k=k, operating_threshold=operating), width="stretch", key="pr"
    )
st.caption(
    f"Points on the fixed threshold grid 1% to 99%; ● marks the operating threshold "
    f"({operating:.0%}). The dotted horizontal lines on the right are each group's outcome "
    "rate, the precision of a model without skill. Groups that are "
    f"{not_evaluable} have no curve."
)
