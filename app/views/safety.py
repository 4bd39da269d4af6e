"""Safety: is this cohort inside the model's intended use, does the model stay stable when
inputs are slightly off, and where does it fail that nobody thought to look?

Everything is read from ``result.safety`` (the engine's shift, intended-use, robustness and
weak-slice findings); the controls only choose what to show.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import components
import state
from cohortaudit.registry import label
from cohortaudit.render.plotly_charts.checks_base import group_label
from cohortaudit.render.plotly_charts.safety import (
    robustness_plot,
    safety_verdict,
    shift_plot,
    slice_name,
    weak_slice_plot,
)
from cohortaudit.results import WITHHELD_COUNT

#: Slice metrics ("oe" is the slices' key for the O/E ratio) and their registry labels.
METRICS = {"auroc": label("auroc"), "sensitivity": label("sensitivity"), "oe": label("oe_ratio")}
STATISTICS = {
    "smd": "Standardised mean difference (numeric inputs)",
    "ks_at_quantiles": "Distribution distance (numeric inputs)",
    "tvd": "Category mix (categorical inputs)",
}
STAT_SHORT = {
    "smd": "SMD",
    "ks_at_quantiles": "distribution distance",
    "tvd": "category mix (TVD)",
    "unseen_categories": "unseen categories (share)",
    "median_ratio": "median ratio (unit change?)",
    "prevalence_difference": "outcome prevalence difference",
}
FLAG_TEXT = {"serious": "SERIOUS", "notable": "notable", "none": "—"}
TOP = 10

result = components.page_with_result("Safety")

view = result.safety_view
if view is None:
    ran = result.config.get("safety")
    st.info(
        "**No safety checks in this audit.** "
        + (
            "They were turned off in its settings (safety = false)."
            if ran is False
            else "This result was written by a cohortaudit without safety checks."
        )
        + " Run the audit again on *Start a new audit* to see cohort shift, intended-use fit, "
        "robustness and weak slices."
    )
    st.stop()

safety: dict[str, Any] = result.safety or {}  # the plain block, as the charts read it
settings = view.settings
skipped = view.skipped
k = view.min_cell
withheld = WITHHELD_COUNT  # below k, or withheld so that none can be derived
confidence = view.confidence


def _ci(v: dict[str, Any] | None, digits: int = 3, signed: bool = False) -> str:
    if not v or v.get("value") is None:
        return "n/a"
    f = f"{{:+.{digits}f}}" if signed else f"{{:.{digits}f}}"
    text = f.format(v["value"])
    if v.get("ci_low") is not None and v.get("ci_high") is not None:
        text += f" ({f.format(v['ci_low'])} to {f.format(v['ci_high'])})"
    return text


def _pair(row: dict[str, Any], metric: str) -> str:
    before, after = row.get(metric), row.get(f"{metric}_perturbed")
    return "n/a" if before is None or after is None else f"{before:.3f} → {after:.3f}"


def _skipped(check: str) -> bool:
    if check in skipped:
        st.info(f"Not run: {skipped[check]}.")
        return True
    return False


# ---- verdict ----------------------------------------------------------------------------------
with st.container(border=True):
    st.markdown("**What the safety checks found**")
    lines = safety_verdict(safety)
    lines += [f"*Not run:* {check.replace('_', ' ')}, {why}." for check, why in skipped.items()]
    st.markdown("\n".join(f"- {line}" for line in lines) or "- Nothing to report.")

# ---- shift ------------------------------------------------------------------------------------
st.subheader("Cohort shift vs the development data")
if not _skipped("shift"):
    shift = view.shift
    st.caption(
        "The cohort's inputs compared with the development-data summary in the model card "
        "(the card holds no patient data, only means, quantiles and frequencies). Flags use the "
        "documented thresholds and are raised only above sampling noise."
    )
    stats = [s for s in STATISTICS if any(f["statistic"] == s and not f["group"] for f in shift)]
    c1, c2 = st.container(), st.container()
    with c1:
        if stats:
            state.init_widget(state.K_SAFETY_SHIFT_STAT, stats[0], valid=stats)
            stat = st.radio(
                "Statistic",
                stats,
                format_func=lambda s: STATISTICS[s],
                horizontal=True,
                key=state.K_SAFETY_SHIFT_STAT,
            )
            st.plotly_chart(shift_plot(safety, statistic=stat), width="stretch", key="shift")
    with c2:
        whole = [f for f in shift if not f["group"]]
        table = pd.DataFrame(
            [
                {
                    "Input": f["feature"],
                    "Statistic": STAT_SHORT.get(f["statistic"], f["statistic"]),
                    "Value (95% CI)": _ci(
                        {"value": f["value"], "ci_low": f["ci_low"], "ci_high": f["ci_high"]},
                        signed=f["statistic"] in ("smd", "prevalence_difference"),
                    ),
                    "Flag": FLAG_TEXT.get(f["flag"], f["flag"]),
                    "What it means": f["message"],
                }
                for f in whole
            ]
        )
        st.markdown("**All patients**")
        st.dataframe(
            table,
            hide_index=True,
            width="stretch",
            height=min(520, 38 + 35 * len(table)),
            column_config={
                "Input": st.column_config.TextColumn(width="small"),
                "Statistic": st.column_config.TextColumn(width="medium"),
                "Flag": st.column_config.TextColumn(width="small"),
                "What it means": st.column_config.TextColumn(width=720),
            },
        )
    flagged = [f for f in shift if f["group"] and f["flag"] != "none"]
    st.markdown("**Findings in groups** (likely unit changes and unseen categories)")
    if flagged:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Group": group_label(f["group"]),
                        "Input": f["feature"],
                        "Statistic": STAT_SHORT.get(f["statistic"], f["statistic"]),
                        "Value": "n/a" if f["value"] is None else f"{f['value']:.3g}",
                        "Flag": FLAG_TEXT.get(f["flag"], f["flag"]),
                        "What it means": f["message"],
                    }
                    for f in flagged
                ]
            ),
            hide_index=True,
            width="stretch",
            height="content",
            column_config={"What it means": st.column_config.TextColumn(width=720)},
        )
    else:
        st.caption("No group has a likely unit change or unseen categories.")
    if settings.get("group_flags"):
        st.caption(f"Per group: {settings['group_flags']}.")

# ---- intended use -----------------------------------------------------------------------------
st.subheader("Intended-use fit")
if not _skipped("intended_use"):
    use = view.intended_use
    rows = use.get("rows") or []
    rule = use.get("population_rule")
    st.caption(
        "Patients outside the model card's population"
        + (f" ({rule})" if rule else "")
        + ", inputs outside the card's documented range, and missing inputs, per group: was "
        "data quality similar across groups (TRIPOD+AI item 7)? Counts of 1 to "
        f"{k - 1} are withheld ({withheld})."
    )

    def _count(v: Any) -> Any:
        return withheld if v is None else v

    out_cols = sorted({c for r in rows for c in r.get("out_of_range") or {}})
    miss_cols = sorted({c for r in rows for c in r.get("missing") or {}})
    # inputs with nothing to report in any group would only add empty columns
    out_cols = [c for c in out_cols if any((r["out_of_range"].get(c) or 0) != 0 or
                                          r["out_of_range"].get(c) is None for r in rows)]  # fmt: skip
    miss_cols = [c for c in miss_cols if any((r["missing"].get(c) or 0) != 0 or
                                            r["missing"].get(c) is None for r in rows)]  # fmt: skip
    tab1, tab2 = st.tabs(["Outside the population and out of range", "Missing inputs"])
    with tab1:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Group": group_label(r["group"]),
                        "Patients": _count(r["n"]),
                        "Outside population": _count(r["outside_population"]),
                        **{f"{c} out of range": _count(r["out_of_range"].get(c)) for c in out_cols},
                    }
                    for r in rows
                ]
            ).astype(str),
            hide_index=True,
            width="stretch",
            height=min(560, 38 + 35 * len(rows)),
        )
    with tab2:
        if miss_cols:
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "Group": group_label(r["group"]),
                            "Patients": _count(r["n"]),
                            **{f"{c} missing": _count(r["missing"].get(c)) for c in miss_cols},
                        }
                        for r in rows
                    ]
                ).astype(str),
                hide_index=True,
                width="stretch",
                height=min(560, 38 + 35 * len(rows)),
            )
        else:
            st.caption("No input is missing in any group.")

# ---- robustness -------------------------------------------------------------------------------
st.subheader("Robustness to slightly wrong inputs")
if not _skipped("robustness"):
    robust = view.robustness
    rrows = robust.get("rows") or []
    sample = settings.get("robustness_sample")
    cols = robust.get("perturbed_columns") or {}
    st.caption(
        "Performance when inputs are perturbed on purpose: Gaussian noise on "
        + (", ".join(cols.get("gaussian_noise") or []) or "no numeric input")
        + "; categories flipped for "
        + (", ".join(cols.get("category_flip") or []) or "no categorical input")
        + f". Changes with paired {confidence:.0%} intervals (DeLong for AUROC); "
        + (f"{sample}; " if sample else "")
        + f"seed {robust.get('seed')}, threshold {robust.get('threshold')}."
    )
    attrs = list(
        dict.fromkeys(next(iter(r["group"])) for r in rrows if len(r.get("group") or {}) == 1)
    )
    options = ["(all patients only)", *attrs]
    state.init_widget(state.K_SAFETY_ROBUST_ATTR, options[0], valid=options)
    state.init_widget(state.K_SAFETY_ROBUST_METRIC, "auroc", valid=["auroc", "sensitivity"])
    c1, c2 = st.columns([1, 2])
    chosen = c1.selectbox("Groups by", options, key=state.K_SAFETY_ROBUST_ATTR)
    metric = c2.radio(
        "Metric",
        ["auroc", "sensitivity"],
        format_func=lambda m: METRICS[m],
        horizontal=True,
        key=state.K_SAFETY_ROBUST_METRIC,
    )
    attr = None if chosen == options[0] else chosen
    st.plotly_chart(
        robustness_plot(safety, attribute=attr, metric=metric), width="stretch", key="robust"
    )
    shown = [
        r for r in rrows if not r["group"] or (attr is not None and list(r["group"]) == [attr])
    ]
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Perturbation": r["perturbation"].replace("_", " "),
                    "Level": r["level"],
                    "Group": group_label(r["group"]),
                    "Patients": r["n"],
                    "AUROC → perturbed": _pair(r, "auroc"),
                    "Δ AUROC (95% CI)": _ci(r["delta_auroc"], 4, signed=True),
                    "Sensitivity → perturbed": _pair(r, "sensitivity"),
                    "Δ sensitivity (95% CI)": _ci(r["delta_sensitivity"], 4, signed=True),
                }
                for r in shown
            ]
        ),
        hide_index=True,
        width="stretch",
        height=min(560, 38 + 35 * len(shown)),
        column_config={"Patients": st.column_config.NumberColumn(format="localized")},
    )

def _group_table(items: Any) -> pd.DataFrame:
    """One row per weak-slice group: the slice it is shown by, against the rest."""
    rows = []
    for rank, (g, lead, members) in enumerate(items, start=1):
        m = lead["metric"]
        digits = 2 if m == "oe" else 3
        rest = lead.get("rest_value")
        beyond = lead.get("beyond_case_mix")
        rows.append(
            {
                "#": rank,
                "Slice": slice_name(lead),
                "Metric": METRICS.get(m, m),
                "Value (95% CI)": _ci(lead["value"], digits),
                "Rest of cohort": None if rest is None else f"{rest:.{digits}f}",
                "Beyond case mix (95% CI)": None
                if beyond is None
                else _ci(beyond, digits) + (" · case mix" if lead.get("case_mix") else ""),
                "Patients affected": g.get("patients"),
                "Overlapping slices": len(members),
                "Score": g.get("score"),
                "Description": lead["description"],
            }
        )
    return pd.DataFrame(rows)


# ---- weak slices ------------------------------------------------------------------------------
st.subheader("Weak slices: where the model does worse than for everyone else")
if not _skipped("weak_slices"):
    slices = view.weak_slices
    groups = view.slice_groups()
    fdr = settings.get("slice_fdr")
    st.caption(
        f"Every single attribute and pair (up to {settings.get('slice_max_order', 2)}) of the "
        "sensitive attributes and quartile-binned model inputs, each slice tested against the "
        "rest of the cohort; Benjamini–Hochberg false discovery rate "
        + (f"{fdr:.0%}" if fdr else "control")
        + f"; slices need {settings.get('slice_min_size', f'{k} events and {k} non-events')}. "
        + (
            "Overlapping slices (a slice and its sub-slices, slices of largely the same "
            "patients) form one group, shown by its most informative slice and ranked by that "
            "slice's gap to the rest × its patients (the gap on one scale for every metric: "
            "sensitivity difference, 2 × AUROC difference, |ln O/E ratio|). A sensitivity "
            "slice whose gap its own predicted risks explain under a calibrated model (the gap "
            "beyond case mix has an interval including 0) is marked 'case mix' and ranked last."
            if groups
            else "Ranked by the gap to the rest, largest first."
        )
    )
    counts = {m: sum(s["metric"] == m for s in slices) for m in METRICS}
    if not slices:
        st.success("No slice is significantly worse than the rest of the cohort.")
    if slices and groups:
        st.markdown(
            f"**{len(groups)} group{'s' if len(groups) != 1 else ''} of weak slices** "
            f"({len(slices)} overlapping slices)"
            + (f"; the {TOP} largest:" if len(groups) > TOP else ":")
        )
        group_config = {
            "Patients affected": st.column_config.NumberColumn(
                format="localized",
                help="Distinct patients in any slice of the group; empty = withheld (beside "
                "the released slice sizes it could give back a count below k).",
            ),
            "Overlapping slices": st.column_config.NumberColumn(
                help="How many weak slices the group stands for (the shown one included)."
            ),
            "Score": st.column_config.NumberColumn(
                format="%.0f", help="The shown slice's gap to the rest × its patients."
            ),
            "Description": st.column_config.TextColumn(width="large"),
        }
        st.dataframe(
            _group_table(groups[:TOP]),
            hide_index=True,
            width="stretch",
            height="content",
            column_config=group_config,
        )
        if len(groups) > TOP:
            with st.expander(f"All {len(groups)} groups"):
                st.dataframe(
                    _group_table(groups),
                    hide_index=True,
                    width="stretch",
                    height=min(700, 38 + 35 * len(groups)),
                    column_config=group_config,
                )
        state.init_widget(state.K_SAFETY_SLICE_ALL, False)
        show_all = st.toggle(
            f"Show all {len(slices)} slices, by metric", key=state.K_SAFETY_SLICE_ALL
        )
    else:
        show_all = True
    if slices and show_all:
        default = max(counts, key=lambda m: (counts[m] > 0, m == "auroc", counts[m]))
        state.init_widget(state.K_SAFETY_SLICE_METRIC, default, valid=list(METRICS))
        metric = (
            st.segmented_control(
                "Metric",
                list(METRICS),
                format_func=lambda m: f"{METRICS[m]} ({counts[m]})",
                key=state.K_SAFETY_SLICE_METRIC,
            )
            or default
        )
        mine = [s for s in slices if s["metric"] == metric]
        st.plotly_chart(
            weak_slice_plot(safety, metric=metric, top=TOP), width="stretch", key="slices"
        )

        def _table(items: list[dict[str, Any]]) -> pd.DataFrame:
            digits = 2 if metric == "oe" else 3
            return pd.DataFrame(
                [
                    {
                        "Slice": slice_name(s),
                        "Patients": s["n"],
                        "Events": s["events"],
                        f"{METRICS[metric]} (95% CI)": _ci(s["value"], digits),
                        "Rest of cohort": None
                        if s["rest_value"] is None
                        else f"{s['rest_value']:.{digits}f}",
                        "q-value": None if s["q_value"] is None else f"{s['q_value']:.2g}",
                        "Description": s["description"],
                    }
                    for s in items
                ]
            )

        config = {
            "Patients": st.column_config.NumberColumn(format="localized"),
            "Events": st.column_config.NumberColumn(format="localized"),
            "Description": st.column_config.TextColumn(width="large"),
        }
        if mine:
            st.dataframe(
                _table(mine[:TOP]),
                hide_index=True,
                width="stretch",
                height="content",
                column_config=config,
            )
            if len(mine) > TOP:
                with st.expander(f"All {len(mine)} weak slices on {METRICS[metric]}"):
                    st.dataframe(
                        _table(mine),
                        hide_index=True,
                        width="stretch",
                        height=min(700, 38 + 35 * len(mine)),
                        column_config=config,
                    )

# ---- methods ----------------------------------------------------------------------------------
with st.expander("Methods and settings"):
    st.dataframe(
        pd.DataFrame(
            [
                {"Setting": key.replace("_", " "), "Value": str(value)}
                for key, value in settings.items()
                if key != "skipped"
            ]
        ),
        hide_index=True,
        width="stretch",
        height="content",
    )
