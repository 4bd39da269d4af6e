"""History: one model's recorded audits over time and across cohorts and sites, a metric's trend
in a chosen group with the change between audits judged against sampling noise, the policy
rules that changed state, and the audit trail (who ran, signed, viewed, downloaded, commented).

Everything shown comes from the audit registry (:mod:`registry_link`); the trend and its
flags are :meth:`cohortaudit.audit_registry.Registry.trend`'s, never computed here.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

import identity
import registry_link as rl
import state
from cohortaudit.errors import AuditError
from cohortaudit.registry import METRICS
from cohortaudit.render.plotly_charts.trend import registry_trend_plot
from cohortaudit.resultio import read_json_bytes
from cohortaudit.textsafe import for_markdown as md

#: The "no problem" value drawn as a reference line.
_REFERENCE = {"oe_ratio": 1.0, "calibration_slope": 1.0, "citl": 0.0}

st.title("History")
st.caption(
    "Every audit recorded in the registry (from the Report page, `cohortaudit audit … "
    "--registry URL` or `cohortaudit pool … --registry URL`), append-only and hash-chained; "
    "a change between two audits is flagged only when the 95% CI of the difference (from the "
    "two stored intervals) excludes no change."
)

reg, why = rl.registry()
if reg is None:
    st.error(f"The audit registry cannot be opened: {md(why or '')}")
    st.stop()

models = reg.models()
if not models:
    st.info(
        "No audit is recorded yet. Record the current audit from the **Report** page, or run "
        "`cohortaudit audit … --registry URL` against this registry."
    )
    st.stop()

labels = {m.model_sha256: f"{m.model_name} · {rl.short(m.model_sha256)} · {m.count} audit(s)"
          for m in models}  # fmt: skip
state.init_widget("history_model", models[0].model_sha256, valid=list(labels))
sha = st.selectbox("Model", list(labels), format_func=labels.get, key="history_model")
entries = reg.entries(sha)

st.subheader("Recorded audits")
st.dataframe(
    pd.DataFrame(
        [
            {
                "Entry": e.entry_id,
                "Recorded (UTC)": e.recorded_at[:19].replace("T", " "),
                "Cohort": e.cohort_name,
                "Site": e.site,
                "Card version": e.card_version,
                "Auditor": e.auditor,
                "From": e.source,
                "Policy": e.policy_verdict,
                "Entry hash": rl.short(e.entry_hash),
            }
            for e in entries
        ]
    ),
    hide_index=True,
    width="stretch",
)

latest = json.loads(reg.audit_json(entries[-1].entry_id))
metric_keys = [k for k in (latest.get("overall") or {}).get("metrics", {}) if k in METRICS] or [
    k for k in (latest.get("overall") or {}).get("metrics", {})
]
groups = rl.group_options(latest)

st.subheader("Trend")
c1, c2 = st.columns(2)
default_metric = "auroc" if "auroc" in metric_keys else (metric_keys[0] if metric_keys else None)
state.init_widget("history_metric", default_metric, valid=metric_keys)
metric = c1.selectbox(
    "Metric",
    metric_keys,
    format_func=lambda k: METRICS[k].label if k in METRICS else k,
    key="history_metric",
)
group_names = [" & ".join(f"{a} = {v}" for a, v in g.items()) or "All patients" for g in groups]
state.init_widget("history_group", group_names[0], valid=group_names)
group_name = c2.selectbox("Group", group_names, key="history_group")
group = groups[group_names.index(group_name)]

trend = reg.trend(sha, metric, group)
flagged = {c.to_entry for c in trend.changes if c.flagged}
label = METRICS[metric].label if metric in METRICS else metric
st.plotly_chart(
    registry_trend_plot(
        trend.points,
        metric_label=label,
        group_label=group_name,
        flagged=flagged,
        reference=_REFERENCE.get(metric),
    ),
    width="stretch",
    key="history_trend",
)
if trend.changes:
    st.markdown("**Changes between consecutive audits**")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "From entry": c.from_entry,
                    "To entry": c.to_entry,
                    "Change": ("ratio " if c.scale == "ratio" else "difference ")
                    + f"{c.estimate:.4f} ({c.ci_low:.4f} to {c.ci_high:.4f})",
                    "Beyond sampling noise": "yes" if c.flagged else "no",
                }
                for c in trend.changes
            ]
        ),
        hide_index=True,
        width="stretch",
    )
st.caption(md(trend.method))
if trend.policy_changes:
    st.markdown("**Policy rules that changed state**")
    for p in trend.policy_changes:
        where = " & ".join(f"{a} = {v}" for a, v in p.group) or "all patients"
        st.markdown(
            f"- entry {p.from_entry} → {p.to_entry}: rule **{md(p.rule_id)}** ({md(where)}) "
            f"{md(p.before)} → {md(p.after)}"
        )

st.subheader("One audit")
ids = [e.entry_id for e in entries]
by_id = {e.entry_id: e for e in entries}
state.init_widget("history_entry", ids[-1], valid=ids)
chosen = st.selectbox(
    "Entry", ids, format_func=lambda i: rl.entry_label(by_id[i]), key="history_entry"
)
entry = by_id[chosen]
rl.viewed_once(reg, entry.entry_id)
st.markdown(
    f"Recorded {md(entry.recorded_at)} by {md(entry.auditor)} ({md(entry.source)}); cohort "
    f"{md(entry.cohort_name)} (SHA-256 {rl.short(entry.cohort_sha256)}…); files "
    + ", ".join(f"`{b.name}`" for b in entry.blobs)
    + f"; entry hash `{rl.short(entry.entry_hash)}…`."
)
b1, b2 = st.columns(2)
if identity.can("download"):
    b1.download_button(
        "Download its audit.json",
        data=reg.audit_json(entry.entry_id),
        file_name=f"audit-{entry.entry_id}.json",
        mime="application/json",
        on_click=rl.record_event,
        args=(reg, entry.entry_id, "downloaded", "audit.json"),
        key=f"history_download_{entry.entry_id}",
    )
else:
    b1.caption(identity.why_not("download"))
if b2.button("Compare it with the audit on screen", key="history_compare"):
    try:
        state.set_compare(
            read_json_bytes(reg.audit_json(entry.entry_id), name=f"entry {entry.entry_id}"),
            f"registry entry {entry.entry_id} ({entry.site or entry.cohort_name})",
        )
        st.switch_page("views/compare.py")
    except AuditError as exc:
        st.error(str(exc))

if identity.can("comment"):
    with st.form("history_comment", clear_on_submit=True):
        text = st.text_area("Comment on this audit (kept in the audit trail)", max_chars=2000)
        if st.form_submit_button("Add comment") and text.strip():
            rl.record_event(reg, entry.entry_id, "commented", text.strip())
            st.success("Comment recorded.")
    st.markdown("**Audit trail of this model**")
    events = [ev for ev in reg.events() if ev.entry_id in by_id]
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "When (UTC)": ev.at[:19].replace("T", " "),
                    "Entry": ev.entry_id,
                    "Who": ev.actor,
                    "Role": ev.role,
                    "Did": ev.action,
                    "Detail": ev.detail,
                }
                for ev in reversed(events)
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    report = reg.verify()
    if report.intact:
        st.caption(
            f"Registry chain intact: {report.entries} entries, {report.events} events; head "
            f"hash `{rl.short(report.head_hash)}…`."
        )
    else:
        st.error(f"The registry chain is broken at {md(report.first_broken or '')}: "
                 f"{md(report.reason)}")  # fmt: skip
