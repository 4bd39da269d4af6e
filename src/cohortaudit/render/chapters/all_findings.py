"""Annex "All findings": every finding of the result, most severe first, with its action.

The executive summary (the page after the cover) shows the few that matter most; this annex
is the full list, in the order of
``result.findings`` (built when the result was assembled), so nothing is chosen here.
"""

from __future__ import annotations

from cohortaudit.render.document import Para, Section, Table, ref, ref_nearest
from cohortaudit.render.findings import kind_label, severity_label
from cohortaudit.results import AuditResult


def chapter(result: AuditResult) -> list[Section]:
    s = Section(
        f"Annex {ref('findings')}: all findings",
        new_page=True,
        anchor="findings",
        appendix=True,
    )
    if not result.findings:
        s.blocks.append(
            Para(
                "This result has no findings: nothing has an interval that excludes no "
                "problem, or the result was written before findings were part of it.",
                "note",
            )
        )
        return [s]
    s.blocks.append(
        Para(
            f"All {len(result.findings)} findings, most severe first. Severity follows the "
            f"stated rules (section {ref_nearest('methods.findings')}); 'case mix' marks a "
            "difference that the group's risk distribution explains, which is not a problem.",
            "small",
        )
    )
    s.blocks.append(
        Table(
            ["Severity", "Kind", "Finding", "What to do", "See"],
            [
                [
                    severity_label(f.severity),
                    kind_label(f.kind),
                    f.summary,
                    f.action,
                    ref_nearest(f.section),
                ]
                for f in result.findings
            ],
            [0.08, 0.10, 0.50, 0.22, 0.10],
            ["L", "L", "L", "L", "L"],
            font_size=7,
            caption="All findings of the audit.",
        )
    )
    return [s]
