"""Chapter "Clinical utility": net benefit and the decision curve."""

from __future__ import annotations

from typing import Any

from cohortaudit.render.chapters.common import (
    group_name,
    groups_of_order,
    min_cell,
    not_evaluable_text,
    num_text,
    operating_row,
)
from cohortaudit.render.document import Chart, Para, Section, Span, Table
from cohortaudit.render.findings import format_estimate
from cohortaudit.render.outcome import is_time_to_event
from cohortaudit.results import (
    AuditResult,
    GroupResult,
    MetricValue,
)

#: The operating-threshold net-benefit keys of a group's metrics.
_NB_KEYS = ("net_benefit", "net_benefit_vs_treat_all")


def _row_estimate(row: dict[str, Any], key: str) -> str:
    """``0.0251 (0.0224–0.0267)`` from a decision-curve row's flat value and CI keys."""
    return format_estimate(
        MetricValue(row.get(key), row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")), 4
    )


def _nb_cell(result: AuditResult, g: GroupResult, key: str) -> str:
    """A group's net benefit at the operating threshold, withheld with its counts."""
    if g.withheld:
        return f"withheld (a cell < {min_cell(result)})"
    return format_estimate(g.metrics.get(key), 4)


def _ci_thresholds(t: float | None, rng: Any) -> list[float]:
    """The operating threshold and a few of the clinically relevant range: its ends and
    every multiple of 0.05 inside it."""
    picks = set()
    if t is not None:
        picks.add(round(float(t), 6))
    if rng:
        lo, hi = float(rng[0]), float(rng[1])
        picks.update({round(lo, 6), round(hi, 6)})
        picks.update(
            round(j / 20, 6) for j in range(1, 20) if lo - 1e-9 <= j / 20 <= hi + 1e-9
        )
    return sorted(picks)


def _ci_table(result: AuditResult, t: float | None, rng: Any) -> Table | None:
    """Net benefit and its gain over treat-all, with bootstrap CIs, at a few thresholds."""
    o = result.overall
    rows: list[list[Any]] = []
    for th in _ci_thresholds(t, rng):
        operating = t is not None and abs(th - t) < 1e-9
        row = next(
            (r for r in o.decision_curve if abs((r.get("threshold") or 9) - th) < 1e-9), None
        )
        if operating:  # exact, also when the operating threshold is off the 0.01 grid
            nb, d_nb = (_nb_cell(result, o, m) for m in _NB_KEYS)
        elif row is not None:
            nb, d_nb = (_row_estimate(row, m) for m in _NB_KEYS)
        else:
            continue
        rows.append([f"{th:g}" + (" (operating)" if operating else ""), nb, d_nb])
    if not rows:
        return None
    return Table(
        ["Threshold", "Net benefit (95% CI)", "ΔNB vs treat all (95% CI)"],
        rows,
        [0.24, 0.38, 0.38],
        ["L", "R", "R"],
        caption=(
            "All patients: net benefit of the model and its difference from treating all, with "
            "percentile bootstrap CIs. Its difference from treating no one is the net benefit "
            "itself (treat none has net benefit 0). ΔNB > 0 with a CI above 0: the model does "
            "better than treating everyone at that threshold."
        ),
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
            "and treating no one (0). Intervals are percentile bootstrap CIs from the audit's "
            "stratified replicates (the shaded band around the model's curve); "
            "settings.decision_curve states how they are computed."
        )
    )
    s.blocks.append(
        Chart(
            "decision_curve",
            "Decision curve of all patients: net benefit of the "
            "model with its 95% bootstrap band, of treating all and of treating none; shaded "
            "yellow: the card's clinically relevant range; dashed line: the operating threshold.",
            height_mm=95,
        )
    )
    ci_table = _ci_table(result, t, rng)
    if ci_table is not None:
        s.blocks.append(ci_table)
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
            rows2.append([group_name(result, g), Span(not_evaluable_text(result), 4)])
            continue
        r = operating_row(result, g)
        if r is None:
            rows2.append([group_name(result, g), Span("not available", 4)])
            continue
        rows2.append(
            [
                group_name(result, g),
                _nb_cell(result, g, "net_benefit"),
                num_text(r.get("net_benefit_treat_all"), 4),
                _nb_cell(result, g, "net_benefit_vs_treat_all"),
                num_text(r.get("interventions_avoided_per_100"), 1),
            ]
        )
    s.blocks.append(
        Table(
            [
                "Group",
                "Net benefit, model (95% CI)",
                "Net benefit (treat all)",
                "ΔNB vs treat all (95% CI)",
                "Interventions avoided per 100",
            ],
            rows2,
            [0.25, 0.21, 0.15, 0.24, 0.15],
            ["L", "R", "R", "R", "R"],
            caption=f"Net benefit by group at the operating threshold {t:g}."
            if t is not None
            else "Net benefit by group.",
        )
    )
    return [s]
