"""Chapter "Evaluation data": the cohort in aggregate counts, and each group's size."""

from __future__ import annotations

from typing import Any

from cohortaudit.render.chapters.common import (
    count_text,
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
from cohortaudit.render.outcome import horizon_text, is_time_to_event, time_unit
from cohortaudit.results import (
    AuditResult,
)


def chapter(result: AuditResult) -> list[Section]:
    if is_time_to_event(result):
        return _survival_chapter(result)
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


def _survival_chapter(result: AuditResult) -> list[Section]:
    """The evaluation data of a time-to-event audit: follow-up, events by the horizon,
    censoring and the number at risk, in aggregate, overall and by group."""
    c, o = result.cohort, result.overall
    k = min_cell(result)
    cfg = result.config
    sv = o.survival or {}
    s = Section("Evaluation data", new_page=True, anchor="cohort")
    fu = o.metrics.get("median_follow_up")
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
        ["Outcome", f"time to event; risk of the event by the horizon of {horizon_text(result)}"],
        ["Time column (follow-up)", f"{cfg.get('time') or '—'} ({time_unit(result)})"],
        ["Event column (1 = event, 0 = censored)", str(cfg.get("event") or c.label or "—")],
        ["Events by the horizon", count_text(o.events, k)],
        ["Censored before the horizon", count_text(sv.get("censored_before"), k)],
        ["At risk at the horizon", count_text(sv.get("at_risk"), k)],
        [
            "Median follow-up (reverse Kaplan–Meier)",
            f"{fmt_value(fu, 2)} {time_unit(result)}" if fu and fu.value is not None else "n/a",
        ],
        ["Observed risk by the horizon (Kaplan–Meier, 95% CI)", group_cell(result, o, "observed_risk")],
        ["Sensitive attributes", ", ".join(c.sensitive_features) or "none"],
    ]
    for col, edges in (cfg.get("bins") or {}).items():
        rows.append([f"Bins of '{col}'", ", ".join(f"{e:g}" for e in edges)])
    s.blocks.append(
        Table(
            ["Item", "Value"],
            rows,
            [0.4, 0.6],
            ["L", "L"],
            caption="The evaluation cohort (aggregate counts only).",
        )
    )
    s.blocks.append(
        Para(
            f"{ref('cohort.groups')} describes each group of one sensitive attribute. A patient "
            "censored at or after the horizon is event-free at it; one censored before it is "
            "counted under 'Censored before'. "
            + (
                f"Groups with fewer than {k} events by the horizon, event-free patients or "
                "patients at risk at it are not evaluable and their counts are suppressed "
                f"(disclosure control, section {ref('disclosure')}). "
                if result.disclosure_controlled
                else "Disclosure control was off (k = 0): every group is shown "
                f"(section {ref('disclosure')}). "
            )
            + "† marks a group with fewer than "
            f"{result.settings.get('imprecise_below_events', 100)} events or patients at risk "
            "(imprecise estimates).",
            "small",
        )
    )
    rows2: list[list[Any]] = []
    for g in groups_of_order(result, 1):
        if g.suppressed:
            rows2.append(
                [group_name(result, g, mark_reference=False), Span(not_evaluable_text(result), 6)]
            )
            continue
        gs = g.survival or {}
        share = g.n / c.n if (g.n is not None and c.n) else None
        rows2.append(
            [
                group_name(result, g, mark_reference=False),
                int_text(g.n),
                pct_text(share),
                count_text(g.events, k),
                count_text(gs.get("censored_before"), k),
                count_text(gs.get("at_risk"), k),
                group_cell(result, g, "observed_risk"),
            ]
        )
    s.blocks.append(
        Table(
            [
                "Group",
                "Patients",
                "% of cohort",
                "Events by horizon",
                "Censored before",
                "At risk at horizon",
                "Observed risk (KM, 95% CI)",
            ],
            rows2,
            [0.24, 0.1, 0.1, 0.11, 0.11, 0.11, 0.23],
            ["L", "R", "R", "R", "R", "R", "L"],
            font_size=7.5,
            caption="Characteristics of the evaluation cohort by sensitive attribute, at the "
            "horizon.",
            anchor="cohort.groups",
        )
    )
    return [s]
