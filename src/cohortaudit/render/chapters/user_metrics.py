"""Chapter "Your metrics": the auditor's own metrics (``--metric``), from ``result.user_metrics``.

Placed after the fairness chapter by :data:`cohortaudit.render.report.CHAPTERS`; an audit
without user-defined metrics has no such chapter, and numbering follows whatever is present.
"""

from __future__ import annotations

from cohortaudit.render.document import Para, Section, Table
from cohortaudit.results import AuditResult

__all__ = ["chapter"]


def chapter(result: AuditResult) -> list[Section]:
    """One row per group (whole cohort first), one column per user metric; no chapter when
    the audit had no user-defined metrics."""
    view = result.user_metrics_view
    if view is None:
        return []
    sec = Section("Your metrics (user-defined)", new_page=True, anchor="user-metrics")
    sources = "; ".join(f"{m['key']} = {m['source']} ({m['receives']})" for m in view.metrics)
    sec.blocks.append(
        Para(
            "Metrics the auditor supplied as Python functions, computed for the whole cohort and "
            f"every audited group with fairlearn's MetricFrame: {sources}. Intervals: "
            f"{view.settings.get('ci_method', 'not stated')}. Disclosure: "
            f"{view.settings.get('disclosure', 'values of suppressed groups are withheld')}.",
            "small",
        )
    )

    def cell(entry, key: str) -> str:
        if not entry.get("released", False):
            return str(entry.get("reason", "withheld"))
        v = (entry.get("values") or {}).get(key) or {}
        if v.get("value") is None:
            return str(v.get("status", "n/a"))
        if v.get("ci_low") is None or v.get("ci_high") is None:
            return f"{v['value']:.3f} (no CI)"
        return f"{v['value']:.3f} ({v['ci_low']:.3f}–{v['ci_high']:.3f})"

    rows = []
    for entry in [view.overall, *view.groups]:
        attrs = entry.get("attributes") or {}
        name = " & ".join(f"{k}={v}" for k, v in attrs.items()) or "All patients"
        rows.append([name, *(cell(entry, k) for k in view.keys)])
    n = len(view.keys)
    sec.blocks.append(
        Table(
            header=["Group", *view.keys],
            rows=rows,
            widths=[2.0, *([1.5] * n)],
            align=["L", *(["R"] * n)],
            caption="The auditor's own metrics by group (95% CI where computed).",
        )
    )
    notes = sorted(
        {
            str(v["ci_note"])
            for e in [view.overall, *view.groups]
            for v in (e.get("values") or {}).values()
            if v.get("ci_note")
        }
    )
    if notes:
        sec.blocks.append(Para(" ".join(f"{n}." for n in notes), "note"))
    return [sec]
