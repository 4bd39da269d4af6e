"""Chapters "Observed risk over time" and "Clinical utility at the horizon" of a time-to-event
audit: the Kaplan–Meier curves with the predicted risk at the horizon, the decision curve at
the horizon, and the threshold metrics at the operating threshold.

The utility chapter keeps the binary chapter's anchor (``utility``). Both return nothing for a
binary result. Every number is read from the result.
"""

from __future__ import annotations

from typing import Any

from cohortaudit.render.chapters.common import (
    count_text,
    group_cell,
    group_name,
    groups_of_order,
    min_cell,
    not_evaluable_text,
    num_text,
    operating_row,
    pct_text,
)
from cohortaudit.render.document import Chart, Para, Section, Span, Table, ref
from cohortaudit.render.findings import format_estimate
from cohortaudit.render.outcome import horizon_text, is_time_to_event, time_unit
from cohortaudit.render.text import survival_metric_name
from cohortaudit.results import AuditResult, MetricValue

__all__ = ["km_chapter", "utility_chapter"]

_THRESHOLD = ("sensitivity", "specificity", "ppv", "npv", "fpr", "selection_rate")


def km_chapter(result: AuditResult) -> list[Section]:
    """Observed risk (1 − Kaplan–Meier) over follow-up, all patients and by attribute."""
    if not is_time_to_event(result):
        return []
    o = result.overall
    k = min_cell(result)
    s = Section("Observed risk over time", new_page=True, anchor="survival.km")
    s.blocks.append(
        Para(
            "The observed risk of the event over follow-up is one minus the Kaplan–Meier "
            f"survival estimate (time in {time_unit(result)}), with its Greenwood 95% interval "
            "for all patients. A step is shown only where at least "
            f"{k} events have accumulated since the previous shown step and at least {k} "
            f"patients remain at risk (the survival threshold, section {ref('disclosure')}), so "
            "a curve may rise in fewer, larger steps than the data have. The diamond at the "
            f"horizon ({horizon_text(result)}) is the group's mean predicted risk: where it "
            "lies above the curve's end the model over-predicts for the group, below it the "
            f"model under-predicts (O/E in {ref('survival.counts')} and the sections after it)."
            " Curves are drawn for all patients and for groups of one attribute."
        )
    )
    s.blocks.append(
        Chart(
            "km_risk",
            "Observed risk of the event over time (1 − Kaplan–Meier; band: 95% CI for all "
            "patients) and, at the horizon (dotted line), each group's mean predicted risk (◆). "
            "Groups that are not evaluable are not drawn.",
            height_mm=170,
            anchor="survival.km.chart",
        )
    )
    sv = o.survival or {}
    obs, exp_ = o.metrics.get("observed_risk"), o.metrics.get("expected_risk")
    s.blocks.append(
        Para(
            f"For all patients, {count_text(sv.get('at_risk'), k)} patients were still at risk "
            f"at the horizon and {count_text(sv.get('censored_before'), k)} were censored "
            f"before it; the observed risk by the horizon is "
            f"{group_cell(result, o, 'observed_risk')} against a mean predicted risk of "
            f"{num_text(exp_.value if exp_ else None)}"
            + (f" ({pct_text(obs.value)} vs {pct_text(exp_.value)})." if obs and exp_ else "."),
            "small",
        )
    )
    return [s]


def _curve_rows(result: AuditResult) -> list[list[str]]:
    o = result.overall
    t = result.settings.get("threshold")
    rng = (result.model.card or {}).get("clinically_relevant_range")
    rows = []
    for r in o.decision_curve:
        th = r.get("threshold")
        if th is None:
            continue
        is_op = t is not None and abs(th - t) < 1e-9
        in_range = rng is not None and rng[0] - 1e-9 <= th <= rng[1] + 1e-9
        if in_range or is_op:
            rows.append(
                [
                    f"{th:.2f}" + (" (operating)" if is_op else ""),
                    _row_estimate(r, "net_benefit"),
                    num_text(r.get("net_benefit_treat_all"), 4),
                    _row_estimate(r, "net_benefit_vs_treat_all"),
                    pct_text(r.get("treated")),
                ]
            )
    return rows


def _row_estimate(row: dict[str, Any], key: str) -> str:
    """``0.0251 (0.0224–0.0267)`` from a decision-curve row's value and CI keys."""
    return format_estimate(
        MetricValue(row.get(key), row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")), 4
    )


def _threshold_section(result: AuditResult) -> list[Any]:
    o = result.overall
    t = result.settings.get("threshold")
    k = min_cell(result)
    blocks: list[Any] = [
        Section("Threshold metrics at the operating threshold", 1, anchor="survival.threshold"),
        Para(
            f"A patient is positive when the predicted risk is at or above {t:g}. Sensitivity, "
            "specificity, PPV and NPV are the cumulative/dynamic definitions at the horizon, "
            "estimated with inverse probability of censoring weights (IPCW): cases are the "
            "patients with an event by the horizon, controls those event-free at it, and each "
            "patient with a known status is weighted by one over the probability of remaining "
            "uncensored to the time that status became known. The counts below are of patients "
            "with a known status at the horizon; patients censored before it are in none of "
            f"them. Group values are in {ref('fairness.threshold_metrics')}."
        ),
    ]
    rows = [[survival_metric_name(key), group_cell(result, o, key)] for key in _THRESHOLD]
    c = o.confusion or {}
    for key, words in (
        ("tp", "Events by the horizon at or above the threshold"),
        ("fn", "Events by the horizon below the threshold"),
        ("fp", "Event-free at the horizon, at or above the threshold"),
        ("tn", "Event-free at the horizon, below the threshold"),
    ):
        if key in c:
            rows.append([words, count_text(c.get(key), k)])
    blocks.append(
        Table(
            ["All patients", "Estimate (95% CI) or count"],
            rows,
            [0.55, 0.45],
            ["L", "L"],
            font_size=7.5,
            caption=f"Threshold metrics of all patients at the operating threshold {t:g} "
            "(IPCW, cumulative/dynamic).",
        )
    )
    return blocks


def utility_chapter(result: AuditResult) -> list[Section]:
    """Net benefit at the horizon (Vickers 2008) and the threshold metrics (anchor
    ``utility``)."""
    if not is_time_to_event(result):
        return []
    t = result.settings.get("threshold")
    rng = (result.model.card or {}).get("clinically_relevant_range")
    s = Section("Clinical utility at the horizon", new_page=True, anchor="utility")
    s.blocks.append(
        Para(
            "Net benefit weighs true positives against false positives at the harm-to-benefit "
            "ratio implied by a risk threshold t: NB = TP/n − FP/n × t/(1 − t) (Vickers & "
            "Elkin 2006). With censored follow-up the true positives are estimated from the "
            "Kaplan–Meier risk by the horizon among the patients at or above the threshold "
            "(Vickers et al. 2008, as in dcurves): TP/n = (share treated) × (observed risk "
            "among them), FP/n = (share treated) × (1 − that risk). A model is useful at t when "
            "its net benefit exceeds both treating everyone and treating no one (0). Points "
            "are shown only where disclosure control allows them (section "
            f"{ref('disclosure')}). Intervals are percentile bootstrap CIs (the patients "
            "resampled within their finest cells, the Kaplan–Meier re-estimated among the "
            "treated and among all in every replicate; settings.decision_curve)."
        )
    )
    s.blocks.append(
        Chart(
            "survival_decision_curve",
            f"Decision curve of all patients at the horizon of {horizon_text(result)}: net "
            "benefit of the model (band: 95% bootstrap CI), of treating all and of treating "
            "none; dashed line: the operating threshold.",
            height_mm=95,
        )
    )
    rows = _curve_rows(result)
    cap = "Net benefit at the horizon at the operating threshold"
    cap += (
        f" and across the card's clinically relevant range {rng[0]:g}–{rng[1]:g}."
        if rng
        else " (the card states no clinically relevant range)."
    )
    s.blocks.append(
        Table(
            [
                "Threshold",
                "Net benefit (95% CI)",
                "Net benefit (treat all)",
                "ΔNB vs treat all (95% CI)",
                "Treated",
            ],
            rows,
            [0.16, 0.25, 0.16, 0.27, 0.16],
            ["L", "R", "R", "R", "R"],
            caption=cap,
        )
        if rows
        else Para(
            "No released decision-curve point lies at the operating threshold"
            + (" or in the card's clinically relevant range." if rng else ".")
            + " (Points are withheld where fewer than k patients are above the threshold.)",
            "note",
        )
    )
    rows2: list[list[Any]] = []
    for g in [result.overall, *groups_of_order(result, 1)]:
        name = "All patients" if not g.attributes else group_name(result, g)
        if g.suppressed:
            rows2.append([name, Span(not_evaluable_text(result), 3)])
            continue
        r = operating_row(result, g)
        if r is None:
            rows2.append([name, Span("not available (no released point)", 3)])
            continue
        nb = g.metrics.get("net_benefit")
        rows2.append(
            [
                name,
                format_estimate(nb, 4) if nb is not None else num_text(r.get("net_benefit"), 4),
                num_text(r.get("net_benefit_treat_all"), 4),
                pct_text(r.get("treated")),
            ]
        )
    s.blocks.append(
        Table(
            ["Group", "Net benefit (95% CI)", "Net benefit (treat all)", "Treated"],
            rows2,
            [0.34, 0.28, 0.2, 0.18],
            ["L", "R", "R", "R"],
            caption=f"Net benefit at the horizon by group at the operating threshold {t:g}."
            if t is not None
            else "Net benefit at the horizon by group.",
        )
    )
    s.blocks.extend(_threshold_section(result))
    return [s]
