"""Calibration: does the predicted risk match the observed risk, in every group?

Everything shown is read from the result (curves, histograms, metrics and their intervals);
nothing is refitted here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import components
import runner
import state
from cohortaudit.render.findings import calibration_findings, format_estimate, group_label
from cohortaudit.render.plotly_charts.curves import calibration_plot, risk_histogram_plot
from cohortaudit.render.plotly_charts.groups import forest_plot
from cohortaudit.results import GroupResult, MetricValue, not_evaluable
from cohortaudit.textsafe import for_markdown as md

#: (metric key, row label, what perfect calibration gives)
TABLE = (
    ("oe_ratio", "O/E ratio (observed / expected events)", "1"),
    ("citl", "Calibration-in-the-large, CITL (log-odds)", "0"),
    ("calibration_slope", "Calibration slope", "1"),
    ("recalibration_intercept", "Recalibration intercept (log-odds)", "0"),
    ("ici", "ICI: mean |observed − predicted| (risk)", "0"),
    ("e50", "E50: median |observed − predicted|", "0"),
    ("e90", "E90: 90th percentile", "0"),
    ("emax", "Emax: maximum", "0"),
    ("ece", "ECE (10 equal-width bins)", "0"),
    ("spiegelhalter_z", "Spiegelhalter z", "0"),
    ("spiegelhalter_p", "Spiegelhalter p", "large"),
    ("hosmer_lemeshow_p", "Hosmer–Lemeshow p (g groups)", "large"),
    ("scaled_brier", "Scaled Brier score (higher is better)", "1"),
    ("discrimination_slope", "Discrimination slope (higher separates better)", "higher"),
)
P_VALUES = {"spiegelhalter_p", "hosmer_lemeshow_p"}
FOREST = (
    ("citl", "ΔCITL (log-odds)"),
    ("oe_ratio", "ΔO/E"),
    ("calibration_slope", "Δ calibration slope"),
)

result = components.page_with_result("Calibration")

if components.survival_outcome(result) is not None:  # a time-to-event result has its own form
    import survival_curves

    survival_curves.calibration(result)
    st.stop()

k = result.min_cell
not_evaluable = not_evaluable(k)
confidence = result.settings_view.confidence_level
if "oe_ratio" not in result.overall.metrics:
    st.info(
        "This audit result has no calibration metrics (it was written by an older "
        "cohortaudit). Re-run the audit to see calibration."
    )
    st.stop()

st.caption(
    "A well-calibrated model's predicted risks come true as often as they say: of patients "
    "given 20%, about 20% have the outcome. Each group is judged against perfect calibration "
    "(the diagonal), and compared with its reference group below."
)
attr = runner.curve_attribute(result)
if attr is None:
    st.info("This audit has no sensitive attributes: only the whole cohort was evaluated.")
    st.stop()

groups = result.groups_for((attr,))
labelled = [(g.attributes[attr], g) for g in groups]
ref = result.reference_attributes((attr,))

# ---- curves -------------------------------------------------------------------------------
left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader(f"Observed vs predicted risk by {md(attr)}")
    c1, c2 = st.columns(2)
    state.init_widget(state.K_CAL_BANDS, True)
    state.init_widget(state.K_CAL_OVERALL, True)
    bands = c1.toggle("95% confidence bands", key=state.K_CAL_BANDS)
    show_overall = c2.toggle("All patients (grey dotted)", key=state.K_CAL_OVERALL)
    fig = calibration_plot(
        labelled, k=k, overall=result.overall if show_overall else None, bands=bands
    )
    axis_max = fig.layout.xaxis.range[1]
    st.plotly_chart(fig, width="stretch", key="calibration_curves")
    st.caption(
        "Smoothed observed risk (logistic regression on a spline of the predicted risk) with "
        f"pointwise {confidence:.0%} bands. A curve stops where fewer than {k} patients lie "
        "beyond it; above the diagonal the model under-predicts, below it over-predicts."
    )

with right:
    st.subheader("What it shows")
    found = calibration_findings(result)
    mine = [f for f in found if not f.group or tuple(f.group) == (attr,)]
    lines = [md(f.sentence) for f in mine if f.kind == "mean"]
    for direction, what in (
        (
            "too_extreme",
            "too extreme (high risks too high, low risks too low; slope interval below 1)",
        ),
        ("too_modest", "too modest (risks too close to the average; slope interval above 1)"),
    ):
        slopes = [f for f in mine if f.kind == "slope" and f.direction == direction]
        if len(slopes) <= 2:
            lines += [md(f.sentence) for f in slopes]
        else:
            order = {group_label(g.attributes): i for i, g in enumerate(groups)}
            slopes.sort(key=lambda f: order.get(group_label(f.group), -1))  # all patients first
            names = ", ".join(
                "all patients" if not f.group else md(group_label(f.group)) for f in slopes
            )
            lines.append(f"Predictions are {what} for {names}: see *Calibration slope* below.")
    if lines:
        st.markdown("\n".join(f"- {line}" for line in lines))
    else:
        st.markdown(
            f"- For all patients and every {md(attr)} group the {confidence:.0%} intervals of O/E, "
            "CITL and the calibration slope include perfect calibration."
        )
    n_sup = sum(g.suppressed for g in groups)
    if n_sup:
        st.markdown(f"- {n_sup} {md(attr)} group(s) are {not_evaluable} and not shown.")
    note = next((c for c in result.caveats if c.code == "fairness_impossibility"), None)
    text = (
        note.message
        if note is not None
        else result.settings_view.calibration.get("impossibility", "")
    )
    if text:
        st.info(f"**Calibration and equal error rates cannot both hold.** {md(text)}")

# ---- histogram ----------------------------------------------------------------------------
st.subheader("How many patients at each predicted risk")
st.plotly_chart(
    risk_histogram_plot(labelled, k=k, axis_max=axis_max),
    width="stretch",
    key="risk_histogram",
)
st.caption(
    "Patients per 5-point bin of predicted risk, by outcome (the x axis matches the curves "
    f"above). Bins with 1 to {k - 1} patients of one outcome are withheld (grey ×) so that "
    "no patient can be singled out; curves are least certain where the bars are low."
)


# ---- metric table -------------------------------------------------------------------------
def _p(v: MetricValue | None) -> str:
    if v is None or v.value is None:
        return "n/a"
    return "< 0.001" if v.value < 0.001 else f"{v.value:.3f}"


def _cell(g: GroupResult, key: str) -> str:
    if g.suppressed:
        return not_evaluable
    v = g.metrics.get(key)
    if key in P_VALUES:
        text = _p(v)
        hl_g = g.calibration.get("hosmer_lemeshow_groups")
        if key == "hosmer_lemeshow_p" and hl_g and text != "n/a":
            text += f" (g = {hl_g})"
        return text
    return format_estimate(v, 2 if key == "spiegelhalter_z" else 3)


columns = [("All patients", result.overall)] + [
    (group_label(g.attributes) + (" (reference)" if g.attributes == ref else ""), g) for g in groups
]
rows: list[dict[str, Any]] = []
for key, label, perfect in TABLE:
    if key not in result.overall.metrics:
        continue
    row: dict[str, Any] = {"Metric": label, "Perfect": perfect}
    for name, g in columns:
        row[name] = _cell(g, key)
    rows.append(row)
st.subheader(f"Calibration metrics by {md(attr)}")
st.dataframe(
    pd.DataFrame(rows),
    hide_index=True,
    width="stretch",
    height="content",
    column_config={
        "Metric": st.column_config.TextColumn(width="large"),
        "Perfect": st.column_config.TextColumn(width="small"),
    },
)
st.caption(
    f"Estimates with bootstrap {confidence:.0%} intervals (p-values have none). O/E above 1 "
    "or CITL above 0: the model under-predicts; slope below 1: predictions too extreme."
)

# ---- differences from the reference --------------------------------------------------------
st.subheader("Difference from the reference group")
cols = st.columns(3)
for i, (col, (metric, title)) in enumerate(zip(cols, FOREST, strict=True)):
    with col:
        if not any(d.metric == metric for d in result.disparities):
            st.caption(f"No {metric} differences in this result.")
            continue
        fig = forest_plot(
            result,
            metric=metric,
            attributes=(attr,),
            x_title=title,
            show_groups_title=i == 0,
        )
        fig.update_layout(showlegend=False)  # the caption explains the two colours
        st.plotly_chart(fig, width="stretch", key=f"cal_forest_{metric}")
st.caption(
    f"Group − reference ({md(group_label(ref)) if ref else 'the whole cohort'}) with bootstrap "
    f"{confidence:.0%} intervals. Vermillion: the interval excludes 0; blue: it includes 0."
)

# ---- methods ------------------------------------------------------------------------------
with st.expander("Methods and settings"):
    cal = result.settings_view.calibration
    st.markdown(
        "\n".join(
            f"- **{key.replace('_', ' ').capitalize()}:** {value}" for key, value in cal.items()
        )
    )
    fits = []
    for name, g in columns:
        info = g.calibration or {}
        smoother = info.get("smoother") or {}
        fits.append(
            {
                "Group": name,
                "Smoother": smoother.get("method", "n/a") if not g.suppressed else not_evaluable,
                "Spline knots": smoother.get("knots"),
                "Knots (logit p)": ", ".join(f"{x:.2f}" for x in info.get("knots_logit") or [])
                or None,
                "HL χ²": info.get("hosmer_lemeshow_chi2"),
                "HL groups": info.get("hosmer_lemeshow_groups"),
                "Clipped predictions": info.get("clipped_predictions"),
                "Fit problems": "; ".join(info.get("problems") or []) or None,
            }
        )
    st.dataframe(
        pd.DataFrame(fits),
        hide_index=True,
        width="stretch",
        height="content",
        placeholder="—",
        column_config={"HL χ²": st.column_config.NumberColumn(format="%.1f")},
    )
