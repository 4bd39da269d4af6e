"""Overview: model facts, what the audit found, the cohort ("Table 1") and data quality."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import components
import runner
from cohortaudit.render.findings import format_estimate
from cohortaudit.render.text import METRIC_LABELS
from cohortaudit.results import not_evaluable
from cohortaudit.textsafe import for_markdown as md

KEY_METRICS = ("auroc", "sensitivity", "specificity", "ppv", "npv", "brier")
SEVERITY = {
    "serious": ("Serious", st.error),
    "warning": ("Warnings", st.warning),
    "info": ("For information", st.info),
}


def _short_ref(ref: str | None) -> str:
    """``skops:6f0828332978…`` (the full SHA-256 is in the JSON and the reports)."""
    if not ref:
        return "not stated"
    kind, _, digest = ref.partition(":")
    return f"{kind}:{digest[:12]}…" if len(digest) > 16 else ref


result = components.require_result(
    title_when_missing="Overview",
    hint="No audit yet. Run one on the Start page (or use the bundled sample there).",
)

if components.survival_outcome(result) is not None:  # a time-to-event result has its own form
    import survival_pages

    survival_pages.overview(result)
    st.stop()

facts = runner.card_facts(result)  # stored in the result; older results re-read the card
m, c, s = result.model, result.cohort, result.settings_view
k = s.min_cell
not_evaluable = not_evaluable(k)

st.title(f"Audit of {md(m.display_name)}")
st.caption(
    f"Cohort {md(c.file)} · {c.n:,} patients, {c.events:,} events"
    if c.n is not None
    else f"Cohort {md(c.file)}"
)

# ---- executive summary ------------------------------------------------------------------
components.executive_summary(result)

# ---- headline metrics --------------------------------------------------------------------
st.subheader("Overall performance at the operating threshold")
cols = st.columns(len(KEY_METRICS))
for col, key in zip(cols, KEY_METRICS, strict=True):
    v = result.overall.metrics.get(key)
    with col:
        st.metric(
            METRIC_LABELS[key],
            "n/a" if v is None or v.value is None else f"{v.value:.3f}",
            border=True,
        )
        if v is not None and v.ci_low is not None and v.ci_high is not None:
            st.caption(f"95% CI {v.ci_low:.3f} to {v.ci_high:.3f}")
st.caption(
    f"A patient is predicted positive when the score is ≥ {s.threshold:g} "
    f"(threshold from the {s.threshold_source})."
)

# ---- model facts --------------------------------------------------------------------------
st.subheader("Model facts")
with st.container(border=True):
    left, right = st.columns([3, 2])
    with left:
        rows: list[tuple[str, str]] = [("Model", m.display_name)]
        if facts:
            pop = facts.get("intended_population") or {}
            t_card = facts.get("operating_threshold")
            rows += [
                ("Developer", facts.get("developer") or "not stated"),
                ("Contact", facts.get("contact") or "not stated"),
                ("Licence", facts.get("license") or "not stated"),
                ("Intended use", facts.get("intended_use") or "not stated"),
                ("Intended population", pop.get("description") or "not stated"),
                ("Outcome", (facts.get("outcome") or {}).get("definition") or "not stated"),
                (
                    "Operating threshold (card)",
                    f"{t_card:g}" if t_card is not None else "not stated",
                ),
            ]
            crr = runner.relevant_range(facts)
            if crr:
                rows.append(("Clinically relevant thresholds", f"{crr[0]:g} to {crr[1]:g}"))
        else:
            rows.append(("Model card", "none supplied: intended use and population unknown"))
        if m.kind == "scores":  # no model ran: its predicted risks came with the cohort
            column = m.inputs[0] if m.inputs else "n/a"
            rows.append(("Predictions", f"the column '{column}' of the cohort, scored elsewhere"))
        else:
            rows.append(("Inputs", ", ".join(m.inputs) or "n/a"))
        st.markdown("\n".join(f"- **{a}:** {md(b)}" for a, b in rows))
        tv = m.test_vectors
        if tv:
            st.success(
                f"**Test vectors: {tv['count']} passed**, max difference "
                f"{tv['max_abs_diff']:.1e} (tolerance {tv['tolerance']:g}), reference "
                f"`{_short_ref(tv.get('reference'))}`. The model file computes what the "
                "owner's model computed on the card's example patients.",
                icon=":material/verified:",
            )
        elif m.kind != "scores":
            st.warning(
                "**No test vectors in the card**: nothing shows that this model file computes "
                "what the developer's model computed. Ask the developer for a card with test "
                "vectors (`cohortaudit card init --reference-model ...` writes them).",
                icon=":material/help:",
            )
    with right:
        st.markdown("**Fingerprints (SHA-256)**")
        st.code(
            f"model  {components.model_file(result)}\n"
            f"{m.sha256 or 'n/a'}\n\n"
            f"card   {m.card_file or 'none'}\n{m.card_sha256 or 'n/a'}\n\n"
            f"cohort {c.file}\n{c.sha256 or 'n/a'}",
            language=None,
            wrap_lines=True,
        )
        st.caption(
            f"Audited with cohortaudit {result.tool.get('version', '')}, "
            f"{s.n_boot} bootstrap replicates, k = {k}."
        )

# ---- Table 1 --------------------------------------------------------------------------------
st.subheader("The cohort (Table 1)")
table: list[dict[str, Any]] = [
    {
        "Attribute": "All patients",
        "Group": "",
        "Patients": c.n,
        "Events": c.events,
        "Prevalence (95% CI)": format_estimate(result.overall.metrics.get("prevalence"), 3),
        "Note": "",
    }
]
for attr in c.sensitive_features:
    for g in result.groups_for((attr,)):
        row = {"Attribute": attr, "Group": g.attributes[attr]}
        if g.suppressed:
            row.update(
                {
                    "Patients": None,
                    "Events": None,
                    "Prevalence (95% CI)": not_evaluable,
                    "Note": "counts suppressed",
                }
            )
        else:
            row.update(
                {
                    "Patients": g.n,
                    "Events": g.events,
                    "Prevalence (95% CI)": format_estimate(g.metrics.get("prevalence"), 3),
                    "Note": "imprecise: few events or non-events" if g.imprecise else "",
                }
            )
        table.append(row)
st.dataframe(
    pd.DataFrame(table),
    hide_index=True,
    width="stretch",
    height="content",
    placeholder="—",
    column_config={
        "Attribute": st.column_config.TextColumn(width="small"),
        "Group": st.column_config.TextColumn(width="medium"),
        "Patients": st.column_config.NumberColumn(format="localized"),
        "Events": st.column_config.NumberColumn(format="localized"),
    },
)
if c.n_excluded:
    st.caption(
        f"{c.n_input_rows:,} rows in the file; {c.n_excluded:,} excluded before the audit "
        "(see data quality below). Groups with fewer than k events or non-events are "
        f"{not_evaluable}: their counts are suppressed so no patient can be singled out."
    )

# ---- data quality -------------------------------------------------------------------------
st.subheader("Data-quality findings")
if not result.caveats:
    st.success("No data-quality problems were found.")
for severity, (title, box) in SEVERITY.items():
    items = [cv for cv in result.caveats if cv.severity == severity]
    if items:
        box(f"**{title} ({len(items)})**\n\n" + "\n".join(f"- {md(cv.message)}" for cv in items))
