"""Chapter "Disclosure log": small-cell disclosure control and every action it took."""

from __future__ import annotations

from typing import Any

from cohortaudit.render.document import Para, Section, Table
from cohortaudit.render.findings import (
    group_label,
)
from cohortaudit.results import (
    AuditResult,
)


def chapter(result: AuditResult) -> list[Section]:
    s = Section("Disclosure log", new_page=True, anchor="disclosure")
    d = result.settings.get("disclosure", {}) or {}
    if not result.disclosure_controlled:
        s.blocks.append(
            Para(
                f"{(result.disclosure_banner or '').upper()}. Disclosure control was off "
                "(k = 0, --min-cell 0): no group, cell, count or curve point was withheld, zero "
                "cells included. k = 0 is meant for an authorised reproduction outside a secure "
                "environment (for example re-deriving a published decision curve).",
                "limitation",
            )
        )
    else:
        s.blocks.append(
            Para(
                f"Small-cell disclosure control with k = {d.get('min_cell')}. Rules: "
                + "; ".join(d.get("rules", []))
                + ". Every action taken is listed below; "
                "suppressed values appear in the report as 'not evaluable (fewer than k)'."
            )
        )
    if d.get("zero_cells") and result.disclosure_controlled:
        s.blocks.append(Para(f"Zero cells: {d['zero_cells']}.", "note"))
    log = result.disclosure_log
    if not log:
        s.blocks.append(Para("No value was withheld.", "note"))
        return [s]
    counts: dict[tuple[str, str], int] = {}
    for e in log:
        counts[(e.rule, e.action)] = counts.get((e.rule, e.action), 0) + 1
    s.blocks.append(
        Table(
            ["Rule", "Action", "Entries"],
            [[r, a, str(n)] for (r, a), n in counts.items()],
            [0.4, 0.45, 0.15],
            ["L", "L", "R"],
            caption="Disclosure actions.",
        )
    )
    by_reason: dict[tuple[str, str, str], list[str]] = {}
    for e in log:
        by_reason.setdefault((e.rule, e.action, e.reason), []).append(group_label(e.where))
    rows: list[list[Any]] = []
    for (r, a, reason), where in by_reason.items():
        for i in range(0, len(where), 24):  # rows of 24 groups, so that long lists paginate
            head = f"{r}: {a} ({reason}); {len(where)} entries" if i == 0 else "(continued)"
            rows.append([head, "; ".join(where[i : i + 24])])
    s.blocks.append(
        Table(
            ["Rule / action / reason", "Where (every entry)"],
            rows,
            [0.3, 0.7],
            ["L", "L"],
            font_size=6.5,
            caption=f"The full disclosure log ({len(log)} entries), grouped by "
            "rule, action and reason; the CSV export lists one entry per row.",
        )
    )
    return [s]
