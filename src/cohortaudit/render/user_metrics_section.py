"""The report section of the auditor's own metrics (``--metric``), from ``result.user_metrics``.

One builder, not yet placed in the report: the report builder (``render/report.py``) decides the
order and numbering of sections, so it calls ``user_metrics_section(result, number)`` where it
wants the section (e.g. after the subgroup tables) and skips it when it returns None.
"""

from __future__ import annotations

from cohortaudit.render.document import Para, Section, Table
from cohortaudit.results import AuditResult

__all__ = ["user_metrics_section"]


def user_metrics_section(result: AuditResult, number: str) -> Section | None:
    """ "Your metrics": one row per group (whole cohort first), one column per user metric;
    None when the audit had no user-defined metrics."""
    view = result.user_metrics_view
    if view is None:
        return None
    sec = Section(number, "Your metrics (user-defined)", 0)
    sources = "; ".join(f"{m['key']} = {m['source']} ({m['receives']})" for m in view.metrics)
    sec.blocks.append(
        Para(
            "Metrics the auditor supplied as Python functions, computed for the whole cohort and "
            f"every audited group with fairlearn's MetricFrame: {sources}. Intervals: "
            f"{view.settings.get('ci_method', 'not stated')}. Values of suppressed groups are "
            f"withheld; {view.settings.get('disclosure', '')}.",
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
    return sec
