"""Subgroups: metric table with CIs, disparities vs the reference, intersections, thresholds.

Nothing is recomputed from patients here: moving the threshold reads the disclosure-controlled
confusion counts stored in the result (``cohortaudit.explore``), so every change is instant.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import components
import state
from cohortaudit.registry import METRICS
from cohortaudit.render.case_mix import (
    READING_RULE,
    SPLIT_METRICS,
    case_mix_rows,
    has_expected,
    observed_expected,
    reading,
)
from cohortaudit.render.findings import format_estimate, group_label
from cohortaudit.render.plotly_charts.base import axis_label
from cohortaudit.render.plotly_charts.groups import (
    forest_plot,
    group_estimates_plot,
    intersection_heatmap,
)
from cohortaudit.render.text import METRIC_LABELS, untested_disparities_note
from cohortaudit.results import GroupResult, MetricValue, not_evaluable
from cohortaudit.textsafe import for_markdown as md

try:  # the threshold grid arrived with the engine; older results fall back gracefully
    from cohortaudit import explore as _explore
except ImportError:  # pragma: no cover
    _explore = None

TABLE_DEFAULT = ["auroc", "sensitivity", "specificity", "ppv", "npv", "selection_rate"]

result = components.page_with_result("Subgroups")

if components.survival_outcome(result) is not None:  # a time-to-event result has its own form
    import survival_pages

    survival_pages.subgroups(result)
    st.stop()

s = result.settings_view
k = s.min_cell
not_evaluable = not_evaluable(k)
operating = s.threshold
metric_keys = [m for m in METRIC_LABELS if m in result.overall.metrics]
parts = result.partitions()

# ---- controls -----------------------------------------------------------------------------
c1, c2 = st.columns([1, 2])
part = c1.selectbox("Groups by", parts, format_func=lambda p: " × ".join(p), key=state.K_PARTITION)
grid = (
    _explore.grid_thresholds(result)
    if _explore is not None and hasattr(_explore, "metrics_at_threshold")
    else []
)
has_grid = bool(grid) and bool(result.overall.threshold_grid)
if has_grid:
    snapped = _explore.snap_threshold(result, operating)
    if state.get(state.K_THRESHOLD) not in grid:
        st.session_state[state.K_THRESHOLD] = snapped
    threshold = c2.select_slider(
        "Threshold to explore (operating threshold "
        f"{operating:g}; positive when score ≥ threshold)",
        options=grid,
        format_func=lambda t: f"{t:.2f}",
        key=state.K_THRESHOLD,
    )
else:
    threshold = operating
    c2.caption(
        f"Operating threshold {operating:g}. This result has no threshold grid, so "
        "other thresholds cannot be explored."
    )
at_operating = not has_grid or abs(threshold - operating) < 1e-9

state.init_widget(
    state.K_TABLE_METRICS, [m for m in TABLE_DEFAULT if m in metric_keys], valid=metric_keys
)
chosen = st.multiselect(
    "Metrics in the table",
    metric_keys,
    format_func=lambda m: METRIC_LABELS.get(m, m),
    key=state.K_TABLE_METRICS,
)


def _metrics(g: GroupResult) -> dict[str, MetricValue]:
    """The group's metrics at the explored threshold (ranking metrics never change)."""
    if at_operating:
        return g.metrics
    out = dict(g.metrics)
    out.update(_explore.metrics_at_threshold(result, g, threshold))
    for key in out:  # expected-if-calibrated rates exist at the operating threshold only
        if key in METRICS and METRICS[key].family == "expected":
            out[key] = MetricValue(None)
    return out


def _cell(g: GroupResult, metrics: dict[str, MetricValue], key: str) -> str:
    if g.suppressed:
        return not_evaluable
    spec = METRICS.get(key)
    if not at_operating and spec is not None and spec.family == "expected":
        return f"at the operating threshold {operating:g} only"
    v = metrics.get(key)
    if v is None or v.value is None:
        # a threshold metric missing at the explored threshold is withheld there (a cell < k);
        # any other metric is withheld only where the audit says so, and otherwise undefined
        spec = METRICS.get(key)
        withheld = key in g.withheld or (spec is not None and spec.threshold_dependent)
        return "withheld (a cell < k)" if withheld else "n/a"
    return format_estimate(v, 3)


# ---- table --------------------------------------------------------------------------------
groups = result.groups_for(part)
ref = result.reference_attributes(part)
rows: list[dict[str, Any]] = []
for g in [result.overall, *groups]:
    mv = _metrics(g) if not g.suppressed else {}
    row: dict[str, Any] = {
        "Group": "All patients" if not g.attributes else group_label(g.attributes),
        "Patients": g.n,
        "Events": g.events,
    }
    for key in chosen:
        row[METRIC_LABELS.get(key, key)] = _cell(g, mv, key)
    flags = []
    if g.attributes and g.attributes == ref:
        flags.append("reference")
    if g.suppressed:
        flags.append(not_evaluable)
    elif g.imprecise:
        flags.append("imprecise: few events or non-events")
    row["Note"] = "; ".join(flags)
    rows.append(row)

st.subheader(f"Metrics by {md(' × '.join(part))}")
st.dataframe(
    pd.DataFrame(rows),
    hide_index=True,
    height="content" if len(rows) <= 40 else 720,
    placeholder="—",
    width="stretch",
    column_config={
        "Patients": st.column_config.NumberColumn(format="localized"),
        "Events": st.column_config.NumberColumn(format="localized"),
    },
)
n_sup = sum(g.suppressed for g in groups)
n_imp = sum(g.imprecise and not g.suppressed for g in groups)
st.caption(
    f"Values with 95% confidence intervals at threshold {threshold:.2f}"
    + (
        ""
        if at_operating
        else f" (explored; operating threshold {operating:g}: threshold metrics here come from the "
        "stored confusion counts with Wilson intervals; AUROC, AUPRC and Brier do not depend "
        "on the threshold)"
    )
    + f". {n_sup} group(s) {not_evaluable}; {n_imp} flagged imprecise."
)

# ---- the auditor's own metrics (--metric) ------------------------------------------------
user = result.user_metrics_view
if user is not None:
    st.subheader(f"Your metrics by {md(' × '.join(part))}")
    user_rows: list[dict[str, Any]] = []
    for g in [result.overall, *groups]:
        entry = user.entry_for(g.attributes) or {}
        row = {"Group": "All patients" if not g.attributes else group_label(g.attributes)}
        for m in user.metrics:
            v = (entry.get("values") or {}).get(m["key"])
            if not entry.get("released", False) or v is None:
                row[m["key"]] = entry.get("reason") or not_evaluable
            elif v["value"] is None:
                row[m["key"]] = v["status"]
            else:
                row[m["key"]] = format_estimate(
                    MetricValue(v["value"], v["ci_low"], v["ci_high"]), 3
                ) + ("" if v["ci_low"] is not None else " (no CI)")
        user_rows.append(row)
    st.dataframe(pd.DataFrame(user_rows), hide_index=True, width="stretch", placeholder="—")
    notes = sorted(
        {
            v["ci_note"]
            for e in [user.overall, *user.groups]
            for v in (e.get("values") or {}).values()
            if v.get("ci_note")
        }
    )
    st.caption(
        "Computed for each group with fairlearn's MetricFrame from your functions: "
        + "; ".join(
            f"{md(m['key'])} = {md(m['source'])} ({md(m['receives'])})" for m in user.metrics
        )
        + f", at the operating threshold {operating:g}, with {md(user.settings.get('ci_method', ''))}."
        + ("".join(f" {md(n)}." for n in notes) if notes else "")
    )

# ---- observed error rates beside the ones a calibrated model would have -------------------
if has_expected(result):
    st.subheader("Error rates and case mix")
    exp_rows: list[dict[str, Any]] = []
    for g in [result.overall, *groups]:
        row = {"Group": "All patients" if not g.attributes else group_label(g.attributes)}
        for key in SPLIT_METRICS:
            row[f"{METRIC_LABELS[key]} obs. (exp.)"] = observed_expected(g, key) or _cell(
                g, g.metrics, key
            )
        exp_rows.append(row)
    st.dataframe(pd.DataFrame(exp_rows), hide_index=True, width="stretch", placeholder="—")
    st.caption(
        f"At the operating threshold {operating:g}. In brackets: the rate a perfectly "
        "calibrated model would have with the group's own predicted risks (expected TP = sum "
        "of p at or above the threshold, and so on; Kleinberg et al. 2017, Pleiss et al. "
        "2017). Groups with different risks have different error rates even then: that part "
        "of a gap is case mix."
    )
    split = [r for r in case_mix_rows(result, order=len(part)) if tuple(r.attributes) == part]
    if split:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Group": group_label(r.attributes),
                        "Metric": METRIC_LABELS[r.metric],
                        "Difference": format_estimate(r.difference, 3),
                        "Case mix": format_estimate(r.case_mix, 3),
                        "Beyond case mix": format_estimate(r.beyond_case_mix, 3),
                        "Reading": reading(r),
                    }
                    for r in split
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        st.caption(
            f"Differences from the reference ({md(group_label(ref)) if ref else 'all patients'})"
            " whose 95% interval excludes 0, split into the part the two risk distributions "
            "imply under perfect calibration and the rest, with bootstrap 95% intervals. "
            f"Reading: {READING_RULE}."
        )
    else:
        st.caption("No error-rate difference from the reference excludes 0 here: nothing to split.")

# ---- metric by group at the explored threshold --------------------------------------------
state.init_widget(
    state.K_FOREST_METRIC,
    "sensitivity" if "sensitivity" in metric_keys else metric_keys[0],
    valid=metric_keys,
)
plot_metric = st.selectbox(
    "Metric for the plots",
    metric_keys,
    format_func=lambda m: METRIC_LABELS.get(m, m),
    key=state.K_FOREST_METRIC,
)
c1, c2 = st.columns(2)
with c1:
    st.subheader("Estimate by group")
    est_rows = [
        (axis_label(g.attributes), _metrics(g).get(plot_metric)) for g in groups if not g.suppressed
    ]
    overall_v = _metrics(result.overall).get(plot_metric)
    st.plotly_chart(
        group_estimates_plot(
            est_rows,
            metric=plot_metric,
            reference_value=overall_v.value if overall_v else None,
            reference_name="all patients",
            groups_title=" × ".join(part),
        ),
        width="stretch",
        key="est_plot",
    )
    st.caption(f"At threshold {threshold:.2f}; the dashed line is all patients.")

with c2:
    st.subheader("Difference from the reference")
    st.plotly_chart(
        forest_plot(result, metric=plot_metric, attributes=part), width="stretch", key="forest_plot"
    )
    st.caption(
        f"Group − reference ({md(group_label(ref)) if ref else 'all patients'}) at the operating "
        f"threshold {operating:g}, with bootstrap 95% intervals. Vermillion: the interval "
        "excludes 0."
    )
    untested = untested_disparities_note(result)
    if untested:
        st.caption(md(untested))

# ---- intersection heatmap -----------------------------------------------------------------
pairs = [p for p in parts if len(p) == 2]
if pairs:
    st.subheader("Intersections")
    attrs = list(result.cohort.sensitive_features)
    c1, c2, c3 = st.columns(3)
    row_attr = c1.selectbox("Rows", attrs, index=0, key=state.K_HEAT_ROW)
    col_choices = [a for a in attrs if a != row_attr]
    if state.get(state.K_HEAT_COL) not in col_choices:
        st.session_state.pop(state.K_HEAT_COL, None)
    col_attr = c2.selectbox("Columns", col_choices, index=0, key=state.K_HEAT_COL)
    heat_metric = c3.selectbox(
        "Metric",
        metric_keys,
        format_func=lambda m: METRIC_LABELS.get(m, m),
        key=state.K_HEAT_METRIC,
    )
    st.plotly_chart(
        intersection_heatmap(result, metric=heat_metric, rows=row_attr, cols=col_attr),
        width="stretch",
        key="heatmap",
    )
    st.caption(
        f"At the operating threshold {operating:g}. Grey cells are {not_evaluable} or "
        "withheld; * marks imprecise groups (few events or non-events)."
    )
else:
    st.caption("This audit has no intersections (it was run with single attributes only).")
