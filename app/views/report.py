"""Report: download the audit as PDF (for filing), HTML (interactive, offline) and JSON."""

from __future__ import annotations

import shlex

import pandas as pd
import streamlit as st

import components
import identity
import registry_link
import state
from cohortaudit.errors import AuditError

result = components.page_with_result("Report")

m, c, s = result.model, result.cohort, result.settings_view
stem = "-".join(x for x in (m.name, m.version) if x).replace(" ", "_") or "audit"

st.subheader("Audit report (PDF and HTML)")
st.markdown(
    "The PDF stands on its own for a regulator: cover with the SHA-256 of model, card and "
    "cohort, numbered sections, tables with confidence intervals, plain-language findings, and "
    "the JSON result attached inside it. The HTML report has the same content with interactive "
    "charts and works offline."
)
may_download = identity.can("download")
if not may_download:
    st.info(f"{identity.why_not('download')}.", icon=":material/lock:")
auditor = st.text_input("Auditor named on the cover", key=state.K_AUDITOR) or None
left, right = st.columns(2)
with left:
    if st.button(
        "Prepare the PDF report", icon=":material/picture_as_pdf:", disabled=not may_download
    ):
        with st.spinner("Rendering the PDF..."):
            components.report_file("pdf", auditor)
    pdf = components.report_file("pdf", auditor, render=False)
    if pdf is not None and may_download:
        st.download_button(
            "Download audit.pdf",
            data=pdf,
            file_name=f"{stem}-audit.pdf",
            mime="application/pdf",
            type="primary",
            icon=":material/download:",
        )
with right:
    if st.button("Prepare the HTML report", icon=":material/html:", disabled=not may_download):
        with st.spinner("Rendering the HTML report..."):
            components.report_file("html", auditor)
    html = components.report_file("html", auditor, render=False)
    if html is not None and may_download:
        st.download_button(
            "Download audit.html",
            data=html,
            file_name=f"{stem}-audit.html",
            mime="text/html",
            type="primary",
            icon=":material/download:",
        )

st.subheader("Audit result (JSON)")
st.markdown(
    "Every number on these pages, with its confidence interval, the settings, the data-quality "
    "findings and the disclosure log. Small cells are already suppressed, so the file can be "
    "shared with the model's developer. Open it later on the Compare page to see what changed."
)
st.download_button(
    "Download audit.json",
    data=(components.result_json() or "") if may_download else "",
    disabled=not may_download,
    help=None if may_download else f"{identity.why_not('download')}.",
    file_name=f"{stem}-audit.json",
    mime="application/json",
    type="primary",
    icon=":material/download:",
)
st.caption(
    f"Schema version {result.schema_version}; only the 'run' block (time, host) differs "
    "between identical re-runs."
)

st.subheader("Reproduce this audit")
cfg = result.config
cmd = ["cohortaudit", "audit"]
if m.kind != "scores":
    cmd += ["--model", m.file or "MODEL"]
if m.card_file:
    cmd += ["--card", m.card_file]
cmd += ["--cohort", c.file or "COHORT"]
if cfg.get("event"):  # a time-to-event audit: the event column replaces the label
    cmd += ["--time", cfg["time"], "--event", cfg["event"], "--horizon", f"{cfg['horizon']:g}"]
    if cfg.get("time_unit"):
        cmd += ["--time-unit", cfg["time_unit"]]
else:
    cmd += ["--label", cfg["label"]]
    if cfg.get("time"):  # the binary-label guard's time column and its explicit opt-in
        cmd += ["--time", cfg["time"]]
        if cfg.get("horizon") is not None:
            cmd += ["--horizon", f"{cfg['horizon']:g}"]
    if cfg.get("censored_as_event_free"):
        cmd += ["--censored-as-event-free"]
cmd += ["--sensitive", *cfg["sensitive_features"]]
for col, edges in cfg.get("bins", {}).items():
    cmd += ["--bins", f"{col}=" + ",".join(f"{e:g}" for e in edges)]
for col, val in cfg.get("reference", {}).items():
    cmd += ["--reference", f"{col}={val}"]
if cfg.get("threshold") is not None:
    cmd += ["--threshold", f"{cfg['threshold']:g}"]
if cfg.get("score_column"):
    cmd += ["--score-column", cfg["score_column"]]
for metric in cfg.get("user_metrics", ()):  # the auditor's own metrics, as they were named
    cmd += ["--metric", f"{metric['source']}@{metric['kind']}"]
cmd += [
    "--n-boot",
    str(cfg["n_boot"]),
    "--seed",
    str(cfg["seed"]),
    "--min-cell",
    str(cfg["min_cell"]),
    "--max-order",
    str(cfg.get("max_intersection_order", 3)),
    "--out",
    "out/",
]
st.code(" ".join(shlex.quote(x) for x in cmd), language="bash", wrap_lines=True)
st.caption(
    f"Seed {cfg['seed']}, k = {cfg['min_cell']}, intersections of up to "
    f"{cfg.get('max_intersection_order')} attributes. Same inputs and seed give a "
    "byte-identical result."
)

st.subheader("Audit registry")
st.markdown(
    "Record this audit in the audit registry (its audit.json and manifest, never a patient "
    "row), so that the **History** page follows the model over time and across cohorts. "
    f"Registry: `{registry_link.display(registry_link.registry_url())}`."
)
recorded: dict[int, int] = st.session_state.setdefault("_registry_recorded", {})
if id(result) in recorded:
    st.success(f"Recorded as registry entry {recorded[id(result)]}.", icon=":material/check:")
elif identity.can("run"):
    if st.button("Record in the registry", icon=":material/inventory:"):
        reg, why = registry_link.registry()
        if reg is None:
            st.error(f"The audit registry cannot be opened: {why}")
        else:
            try:
                entry = registry_link.record_result(reg, result)
            except AuditError as exc:
                st.error(str(exc))
            else:
                recorded[id(result)] = entry.entry_id
                st.success(f"Recorded as registry entry {entry.entry_id}.", icon=":material/check:")
else:
    st.caption(f"{identity.why_not('run')}.")

st.subheader("Disclosure log")
if result.disclosure_log:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Where": " & ".join(f"{k}={v}" for k, v in e.where.items()),
                    "Rule": e.rule,
                    "Action": e.action,
                    "Reason": e.reason,
                }
                for e in result.disclosure_log
            ]
        ),
        hide_index=True,
        width="stretch",
        height=320,
    )
    st.caption(f"{len(result.disclosure_log)} disclosure-control actions (k = {cfg['min_cell']}).")
else:
    st.success("Nothing needed to be suppressed.")
