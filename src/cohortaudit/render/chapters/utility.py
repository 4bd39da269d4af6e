"""Chapter "Clinical utility": net benefit and the decision curve."""

from __future__ import annotations

from typing import Any

from cohortaudit.render.chapters.common import (
    group_name,
    groups_of_order,
    not_evaluable_text,
    num_text,
    operating_row,
)
from cohortaudit.render.document import Chart, Para, Section, Span, Table
from cohortaudit.render.outcome import is_time_to_event
from cohortaudit.results import (
    AuditResult,
)


def chapter(result: AuditResult) -> list[Section]:
    if is_time_to_event(result):  # chapters/survival*.py take its place
        return []
    o = result.overall
    t = result.settings.get("threshold")
    card = result.model.card or {}
    rng = card.get("clinically_relevant_range")
    s = Section("Clinical utility", new_page=True, anchor="utility")
    s.blocks.append(
        Para(
            "Net benefit weighs true positives against false positives at the harm-to-benefit "
            "ratio implied by a risk threshold t: NB = TP/n − FP/n × t/(1 − t) (Vickers & Elkin "
            "2006). A model is useful at t when its net benefit exceeds both treating everyone "
            "and treating no one (0). Net benefit is reported without confidence intervals in "
            "this audit version."
        )
    )
    s.blocks.append(
        Chart(
            "decision_curve",
            "Decision curve of all patients: net benefit of the "
            "model, of treating all and of treating none; shaded: the card's clinically "
            "relevant range; dashed line: the operating threshold.",
            height_mm=95,
        )
    )
    rows = []
    for r in o.decision_curve:
        th = r.get("threshold")
        if th is None:
            continue
        in_range = rng is not None and rng[0] - 1e-9 <= th <= rng[1] + 1e-9
        if in_range or (t is not None and abs(th - t) < 1e-9):
            rows.append(
                [
                    f"{th:.2f}" + (" (operating)" if t is not None and abs(th - t) < 1e-9 else ""),
                    num_text(r.get("net_benefit"), 4),
                    num_text(r.get("net_benefit_treat_all"), 4),
                    num_text(r.get("interventions_avoided_per_100"), 1),
                    num_text(r.get("standardized_net_benefit"), 3),
                ]
            )
    cap = "Net benefit at the operating threshold"
    cap += (
        f" and across the card's clinically relevant range {rng[0]:g}–{rng[1]:g}."
        if rng
        else " (the card states no clinically relevant range)."
    )
    s.blocks.append(
        Table(
            [
                "Threshold",
                "Net benefit (model)",
                "Net benefit (treat all)",
                "Interventions avoided per 100",
                "Standardised net benefit",
            ],
            rows,
            [0.18, 0.2, 0.2, 0.22, 0.2],
            ["L", "R", "R", "R", "R"],
            caption=cap,
        )
    )
    rows2: list[list[Any]] = []
    for g in [o, *groups_of_order(result, 1)]:
        if g.suppressed:
            rows2.append([group_name(result, g), Span(not_evaluable_text(result), 3)])
            continue
        r = operating_row(result, g)
        if r is None:
            rows2.append([group_name(result, g), Span("not available", 3)])
            continue
        rows2.append(
            [
                group_name(result, g),
                num_text(r.get("net_benefit"), 4),
                num_text(r.get("net_benefit_treat_all"), 4),
                num_text(r.get("interventions_avoided_per_100"), 1),
            ]
        )
    s.blocks.append(
        Table(
            [
                "Group",
                "Net benefit (model)",
                "Net benefit (treat all)",
                "Interventions avoided per 100",
            ],
            rows2,
            [0.37, 0.21, 0.21, 0.21],
            ["L", "R", "R", "R"],
            caption=f"Net benefit by group at the operating threshold {t:g}."
            if t is not None
            else "Net benefit by group.",
        )
    )
    return [s]
