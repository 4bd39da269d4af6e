"""Chapter "Evaluation data": the cohort in aggregate counts, and each group's size."""

from __future__ import annotations

from typing import Any

from cohortaudit.render.chapters.common import (
    group_cell,
    group_name,
    groups_of_order,
    int_text,
    min_cell,
    not_evaluable_text,
    pct_text,
    withheld_text,
)
from cohortaudit.render.document import Para, Section, Span, Table, ref
from cohortaudit.render.findings import (
    fmt_value,
)
from cohortaudit.results import (
    AuditResult,
)


def chapter(result: AuditResult) -> list[Section]:
    c, o = result.cohort, result.overall
    k = min_cell(result)
    s = Section("Evaluation data", new_page=True, anchor="cohort")
    prev = o.metrics.get("prevalence")
    rows = [
        ["Cohort file", c.file or "—"],
        ["Cohort SHA-256", c.sha256 or "—"],
        [
            "Rows read",
            int_text(c.n_input_rows) if c.n_input_rows is not None else withheld_text(result),
        ],
        [
            "Rows excluded",
            int_text(c.n_excluded) if c.n_excluded is not None else withheld_text(result),
        ],
        ["Patients evaluated", int_text(c.n)],
        ["Patients with the outcome", int_text(c.events)],
        ["Outcome rate", fmt_value(prev) if prev else "n/a"],
        ["Outcome column", c.label],
        ["Sensitive attributes", ", ".join(c.sensitive_features) or "none"],
    ]
    bins = result.config.get("bins") or {}
    for col, edges in bins.items():
        rows.append([f"Bins of '{col}'", ", ".join(f"{e:g}" for e in edges)])
    dev = (result.model.card or {}).get("development_data")
    if isinstance(dev, dict):
        if dev.get("prevalence") is not None:
            rows.append(
                [
                    "Outcome rate in the development data (card)",
                    f"{float(dev['prevalence']):.3f} (n = {int_text(dev.get('n'))}, events = "
                    f"{int_text(dev.get('events'))})",
                ]
            )
        if dev.get("description"):
            rows.append(["Development data (card)", str(dev["description"])])
    s.blocks.append(
        Table(
            ["Item", "Value"],
            rows,
            [0.32, 0.68],
            ["L", "L"],
            mono=(),
            caption="The evaluation cohort (aggregate counts only).",
        )
    )
    s.blocks.append(
        Para(
            f"{ref('cohort.groups')} describes each group of one sensitive attribute. "
            + (
                f"Groups with fewer than {k} patients with or without the outcome are not "
                f"evaluable and their counts are suppressed (disclosure control, section {ref('disclosure')}). "
                if result.disclosure_controlled
                else "Disclosure control was off (k = 0): every group is shown "
                f"(section {ref('disclosure')}). "
            )
            + "† marks a group with fewer than "
            f"{result.settings.get('imprecise_below_events', 100)} events or non-events "
            "(imprecise estimates).",
            "small",
        )
    )
    rows2: list[list[Any]] = []
    for g in groups_of_order(result, 1):
        if g.suppressed:
            rows2.append(
                [group_name(result, g, mark_reference=False), Span(not_evaluable_text(result), 4)]
            )
            continue
        share = g.n / c.n if (g.n is not None and c.n) else None
        rows2.append(
            [
                group_name(result, g, mark_reference=False),
                int_text(g.n),
                pct_text(share),
                int_text(g.events),
                group_cell(result, g, "prevalence"),
            ]
        )
    s.blocks.append(
        Table(
            ["Group", "Patients", "% of cohort", "Events", "Outcome rate (95% CI)"],
            rows2,
            [0.34, 0.13, 0.13, 0.12, 0.28],
            ["L", "R", "R", "R", "L"],
            caption="Characteristics of the evaluation cohort by sensitive attribute.",
            anchor="cohort.groups",
        )
    )
    return [s]
