"""Compare: this audit side by side with an earlier audit.json (e.g. the previous model version)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import components
import registry_link
import state
from cohortaudit.errors import AuditError
from cohortaudit.render.findings import format_estimate, group_label
from cohortaudit.render.plotly_charts.groups import compare_overall_plot
from cohortaudit.render.text import METRIC_LABELS
from cohortaudit.resultio import read_json_bytes
from cohortaudit.results import AuditResult, MetricValue, not_evaluable
from cohortaudit.textsafe import for_markdown as md

OVERALL = ("auroc", "auprc", "sensitivity", "specificity", "ppv", "npv", "selection_rate", "brier")


@st.cache_data(scope="session", show_spinner=False, max_entries=4)
def _parse(data: bytes, name: str) -> AuditResult:
    """Uploaded bytes -> a validated AuditResult (the library's ``read_json_bytes``)."""
    return read_json_bytes(data, name=name)


def _name(r: AuditResult) -> str:
    return r.model.display_name


def _count(n: int | None) -> str:
    return "n/a" if n is None else f"{n:,}"


def _change(a: MetricValue | None, b: MetricValue | None) -> str:
    if a is None or b is None or a.value is None or b.value is None:
        return "n/a"
    return f"{a.value - b.value:+.3f}".replace("-", "−")


result = components.page_with_result("Compare with an earlier audit")

# the earlier audit: a recorded one from the audit registry, or an uploaded audit.json
reg, _why = registry_link.registry()
entries = list(reversed(reg.entries())) if reg is not None else []
chosen = None
if entries:
    by_id = {e.entry_id: e for e in entries}
    chosen = st.selectbox(
        "A recorded audit from the registry",
        [None, *by_id],
        format_func=lambda i: "(none)"
        if i is None
        else f"{by_id[i].model_name} · {registry_link.entry_label(by_id[i])}",
        key="compare_registry_entry",
    )
up = st.file_uploader(
    "Or an earlier audit result (audit.json)", type=["json"], key=state.K_COMPARE_UPLOAD
)
other, source = None, ""
try:
    if up is not None:
        other, source = _parse(up.getvalue(), up.name), up.name
    elif chosen is not None:
        other = _parse(reg.audit_json(chosen), f"registry entry {chosen}")
        source = f"registry entry {chosen}"
        registry_link.viewed_once(reg, chosen)
    elif state.get_compare() is not None:  # chosen on the History page
        other, source = state.get_compare()
except AuditError as e:
    st.error(f"{type(e).__name__}: {md(e)}")
    st.stop()
if other is None:
    st.info(
        "Pick a recorded audit from the registry or upload an audit.json written by "
        "`cohortaudit audit` or downloaded from the Report page, for example the audit of the "
        "previous model version on the same cohort."
    )
    st.stop()

names = (f"This audit: {_name(result)}", f"Earlier: {_name(other)} ({source})")

# ---- identities ---------------------------------------------------------------------------
notes = []
if result.model.sha256 != other.model.sha256:
    notes.append("different model files")
if result.cohort.sha256 != other.cohort.sha256:
    notes.append("different cohort files")
if result.settings_view.threshold != other.settings_view.threshold:
    notes.append("different operating thresholds")
if notes:
    st.warning("The two audits used " + ", ".join(notes) + ": differences reflect those too.")

cols = st.columns(2)
for col, r, title in zip(cols, (result, other), names, strict=True):
    with col, st.container(border=True):
        st.markdown(f"**{md(title)}**")
        st.markdown(
            f"- Model {md(components.model_file(r))}, SHA-256 `{(r.model.sha256 or 'n/a')[:12]}…`\n"
            f"- Cohort {md(r.cohort.file)}, SHA-256 `{(r.cohort.sha256 or 'n/a')[:12]}…`: "
            f"{_count(r.cohort.n)} patients, {_count(r.cohort.events)} events\n"
            f"- Threshold {r.settings_view.threshold:g}, "
            f"{r.settings_view.n_boot} bootstrap replicates, "
            f"k = {r.min_cell}\n"
            f"- Run {r.run.get('started_at', 'n/a')}"
        )

# ---- overall ------------------------------------------------------------------------------
st.subheader("Overall performance")
keys = [m for m in OVERALL if m in result.overall.metrics or m in other.overall.metrics]
st.dataframe(
    pd.DataFrame(
        [
            {
                "Metric": METRIC_LABELS.get(m, m),
                "This audit (95% CI)": format_estimate(result.overall.metrics.get(m), 3),
                "Earlier (95% CI)": format_estimate(other.overall.metrics.get(m), 3),
                "Change": _change(result.overall.metrics.get(m), other.overall.metrics.get(m)),
            }
            for m in keys
        ]
    ),
    hide_index=True,
    height="content",
    width="stretch",
)
st.plotly_chart(
    compare_overall_plot(result, other, metrics=keys, names=("This audit", "Earlier audit")),
    width="stretch",
    key="compare_plot",
)

# ---- per group ----------------------------------------------------------------------------
st.subheader("By group")
state.init_widget(
    state.K_COMPARE_METRIC, "sensitivity" if "sensitivity" in keys else keys[0], valid=keys
)
metric = st.selectbox(
    "Metric",
    keys,
    format_func=lambda m: METRIC_LABELS.get(m, m),
    key=state.K_COMPARE_METRIC,
)
k = result.min_cell
k_other = other.min_cell
rows: list[dict[str, Any]] = []
for attr in result.cohort.sensitive_features:
    theirs = {group_label(g.attributes): g for g in other.groups_for((attr,))}
    for g in result.groups_for((attr,)):
        label = group_label(g.attributes)
        h = theirs.get(label)
        a = None if g.suppressed else g.metrics.get(metric)
        b = None if h is None or h.suppressed else h.metrics.get(metric)
        rows.append(
            {
                "Group": label,
                "This audit (95% CI)": not_evaluable(k) if g.suppressed else format_estimate(a, 3),
                "Earlier (95% CI)": "not in the earlier audit"
                if h is None
                else not_evaluable(k_other)
                if h.suppressed
                else format_estimate(b, 3),
                "Change": _change(a, b),
            }
        )
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height="content")
st.caption(
    "Single-attribute groups at each audit's own operating threshold. A change is "
    "meaningful only when the intervals barely overlap; both audits carry sampling noise."
)
