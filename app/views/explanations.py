"""Explanations: which inputs drive the risk, whether that differs by group, proxies, one patient.

Everything except the one-patient waterfall is read from ``result.explanations`` (aggregate
SHAP summaries the engine computed); choosing an attribute or an input only redraws. The
waterfall is computed on request for one patient, kept in this session, and never exported.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import components
import defaults
import runner
import state
from cohortaudit.render.plotly_charts.explanations import (
    dependence_features,
    dependence_plot,
    global_importance_plot,
    group_reliance_plot,
    local_waterfall_plot,
    proxy_plot,
    reliance_sentences,
    shap_distribution_plot,
)
from cohortaudit.textsafe import for_markdown as md

result = components.page_with_result("Explanations")

view = result.explanations_view
if view is None:
    if result.model.kind == "scores":
        st.info(
            "This audit scored predictions that were already in the cohort (scores mode), so "
            "there is no model to explain. SHAP explanations need the model file: run the "
            "audit with one on *Start a new audit*."
        )
        st.stop()
    n_rows = defaults.explain_rows()
    st.info(
        "**Explanations were not computed for this audit.** SHAP values show which inputs "
        "drive each prediction, whether the model leans on different inputs for different "
        "groups, and whether an input stands in for a sensitive attribute. They take about a "
        f"minute on 2 cores for {n_rows:,} patients, so the automatic sample audit (and every "
        "audit started here) leaves them out until you ask. The audit's other numbers do not "
        "change."
    )
    clicked = st.button(
        "Compute explanations (about a minute)",
        type="primary",
        icon=":material/psychology:",
        key=state.K_XAI_COMPUTE,
    )
    if clicked and runner.compute_explanations(result) is not None:
        st.rerun()
    st.stop()

expl: dict[str, Any] = result.explanations or {}  # the plain block, as the charts read it
settings = view.settings
k = view.min_cell
confidence = view.confidence
st.caption(
    f"SHAP values of {int(settings.get('n_explain') or 0):,} patients (a seeded sample, "
    f"{settings.get('sampling', 'stratified')}), {settings.get('explainer', 'SHAP')}, on the "
    "probability scale: a SHAP value of 0.02 means the input moved this patient's predicted "
    "risk up by 2 percentage points from the cohort average. Aggregates only; counts below "
    f"k = {k} are withheld."
)

# ---- global importance ----------------------------------------------------------------------
left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("Which inputs drive the predicted risk")
    st.plotly_chart(global_importance_plot(expl), width="stretch", key="xai_global")
    st.caption(
        f"Mean absolute SHAP value per input with a bootstrap {confidence:.0%} interval: how "
        "far, on average, each input moves a patient's predicted risk."
    )
with right:
    st.subheader("In words")
    top = view.global_importance
    if top:
        lines = [
            f"**{md(g['feature'])}** moves the predicted risk by "
            f"{g['mean_abs_shap']['value'] * 100:.1f} percentage points on average"
            for g in top[:3]
        ]
        st.markdown("\n".join(f"- {line}" for line in lines))
        low = [md(g["feature"]) for g in top[3:] if (g["mean_abs_shap"]["value"] or 0) < 0.005]
        if low:
            st.markdown(f"- Little effect (under 0.5 points on average): {', '.join(low)}.")

# ---- per-group reliance ---------------------------------------------------------------------
by_group = view.by_group
attrs = list(dict.fromkeys(c["attribute"] for c in by_group))
st.subheader("Does the model rely on different inputs for different groups?")
if not attrs:
    st.caption("This audit has no sensitive attributes to compare groups on.")
else:
    state.init_widget(state.K_XAI_ATTR, attrs[0], valid=attrs)
    attr = st.selectbox("Groups by", attrs, key=state.K_XAI_ATTR)
    c1, c2 = st.columns([3, 2], gap="large")
    with c1:
        st.plotly_chart(group_reliance_plot(expl, attr), width="stretch", key="xai_by_group")
        ref = view.reference_value(attr)
        st.caption(
            f"Each group's mean |SHAP| minus the reference group's ({md(attr)}={md(ref)}), with "
            f"bootstrap {confidence:.0%} intervals. Filled: the interval excludes 0. A grey "
            "row marks the input that defines the groups: there a difference is expected "
            "(by construction), not a finding."
        )
    with c2:
        sentences = reliance_sentences(expl, attr)
        if sentences:
            shown = sentences[:6]
            st.markdown("\n".join(f"- {s}" for s in shown))
            if len(sentences) > len(shown):
                with st.expander(f"{len(sentences) - len(shown)} more"):
                    st.markdown("\n".join(f"- {s}" for s in sentences[len(shown) :]))
        else:
            st.markdown(
                f"- For every {md(attr)} group, every difference in reliance from the reference "
                f"has a {confidence:.0%} interval that includes 0 (inputs that define the "
                "groups aside)."
            )
        hidden = [c["group"] for c in by_group if c["attribute"] == attr and c["suppressed"]]
        if hidden:
            st.markdown(
                f"- Not evaluable (fewer than {k} explained patients): "
                + ", ".join(f"{md(attr)}={md(g)}" for g in hidden)
                + "."
            )

# ---- distribution and dependence --------------------------------------------------------------
st.subheader("How SHAP values are spread, input by input")
st.plotly_chart(shap_distribution_plot(expl), width="stretch", key="xai_distribution")
st.caption(
    "A beeswarm without individual patients: how many explained patients fall in each fixed "
    "bin of SHAP values (the bins are the same for every model). Cells with 1 to "
    f"{k - 1} patients are withheld and read <{k}."
)

features = dependence_features(expl)
if features:
    st.subheader("How one input changes the risk")
    state.init_widget(state.K_XAI_FEATURE, features[0], valid=features)
    feature = st.selectbox("Input", features, key=state.K_XAI_FEATURE)
    st.plotly_chart(dependence_plot(expl, feature), width="stretch", key="xai_dependence")
    st.caption(
        "Mean SHAP value of the input per value bin (deciles of the explained patients; the "
        "outer bins are open so that no single patient's value is shown). Above 0 the input "
        f"raises the predicted risk. Bins with fewer than {k} patients are withheld. "
        "Categorical inputs have no dependence summary."
    )

# ---- proxies ----------------------------------------------------------------------------------
proxies = view.proxies
direct = list(settings.get("proxy_direct_inputs") or [])
st.subheader("Could an input stand in for a sensitive attribute?")
if not proxies:
    st.caption("No proxy check in this result (no sensitive attributes with two groups of k).")
else:
    strong = [p for p in proxies if p.get("strong")]
    cut = float(settings.get("proxy_strong_auroc", 0.8))
    lines = []
    if strong:
        for p in strong:
            what = "all inputs together" if p["feature"] == "(all inputs)" else md(p["feature"])
            lines.append(
                f"**Strong proxy:** {what} predicts **{md(p['attribute'])}** with AUROC "
                f"{p['auroc']['value']:.2f} ({p['auroc']['ci_low']:.2f} to "
                f"{p['auroc']['ci_high']:.2f}): the model can treat groups differently "
                "through it even without the attribute."
            )
    else:
        best = max(proxies, key=lambda p: p["auroc"]["value"] or 0.0)
        what = "all inputs together" if best["feature"] == "(all inputs)" else md(best["feature"])
        lines.append(
            f"No strong proxy (AUROC ≥ {cut:g}). The closest: {what} predicts "
            f"{md(best['attribute'])} with AUROC {best['auroc']['value']:.2f}."
        )
    if direct:
        direct_md = [md(d) for d in direct]
        names = " and ".join(
            [", ".join(direct_md[:-1]), direct_md[-1]] if len(direct_md) > 1 else direct_md
        )
        lines.append(
            f"**Direct inputs:** {names} "
            + ("is a model input itself" if len(direct) == 1 else "are model inputs themselves")
            + ": the model uses "
            + ("it" if len(direct) == 1 else "them")
            + " directly, not through a proxy, so each is left out of its own proxy check."
        )
    st.markdown("\n".join(f"- {line}" for line in lines))
    st.plotly_chart(proxy_plot(expl), width="stretch", key="xai_proxies")
    st.caption(
        "How well each input alone, and all inputs together, predicts each sensitive "
        f"attribute (cross-validated AUROC with a bootstrap {confidence:.0%} interval; 0.5 = "
        f"no information). Filled diamonds: strong proxies, at or above {cut:g}."
    )

# ---- one patient ------------------------------------------------------------------------------
st.subheader("One patient's prediction, step by step")
st.caption(
    "Shown on screen only: one patient's waterfall is never stored in the audit result, "
    "the JSON, the PDF or the HTML report, and is forgotten when the session ends."
)
n_patients = runner.cohort_size(result) or 1
state.init_widget(state.K_XAI_ROW, 1)
c1, c2 = st.columns([1, 2], vertical_alignment="bottom")
row = c1.number_input(
    f"Patient: row 1 to {n_patients:,}",
    min_value=1,
    max_value=n_patients,
    step=1,
    key=state.K_XAI_ROW,
    help="The row of the validated cohort (the cohort file without the rows the audit "
    "excluded), counting from 1.",
)
local = state.get_local_explanation(int(row) - 1)
if local is None and c2.button(
    "Explain this patient", icon=":material/person_search:", key=state.K_XAI_LOCAL
):
    with st.spinner("Computing this patient's SHAP values"):
        local = runner.local_explanation(result, int(row) - 1)
    if isinstance(local, str):
        st.error(local)
        local = None
if local is not None:
    w1, w2 = st.columns([3, 2], gap="large")
    with w1:
        st.plotly_chart(local_waterfall_plot(local), width="stretch", key="xai_waterfall")
    with w2:
        ups = [f for f in local["features"] if f["shap"] > 0][:2]
        downs = [f for f in local["features"] if f["shap"] < 0][:2]
        lines = [
            f"Predicted risk **{local['prediction'] * 100:.1f}%** against a cohort average of "
            f"{local['base_value'] * 100:.1f}%."
        ]
        if ups:
            lines.append(
                "Raised most by "
                + " and ".join(f"{f['feature']} (+{f['shap'] * 100:.1f} points)" for f in ups)
                + "."
            )
        if downs:
            lines.append(
                "Lowered most by "
                + " and ".join(f"{f['feature']} ({f['shap'] * 100:.1f} points)" for f in downs)
                + "."
            )
        st.markdown("\n".join(f"- {line}" for line in lines))
        st.caption(
            f"{local.get('explainer', 'SHAP')} on the probability scale; the steps add up to "
            "the prediction. Red raises the risk, blue lowers it."
        )

# ---- methods ----------------------------------------------------------------------------------
with st.expander("Methods and settings"):
    rows = [
        {"Setting": key.replace("_", " "), "Value": str(value)}
        for key, value in settings.items()
        if key not in ("seeds",)
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height="content")
