"""Chapters "Performance at the horizon" and "Calibration at the horizon" of a time-to-event
audit, in place of the binary "Discrimination" and "Calibration".

They keep the binary chapters' anchors (``discrimination``, ``discrimination.groups``,
``calibration``, ``calibration.groups``), so every sentence elsewhere in the report that points
at "the performance chapter" points at the right one for either kind of audit. Both return
nothing for a binary result. Every number is read from the result: the counts at the horizon
from ``GroupResult.survival``, the estimates from ``GroupResult.metrics``, the deciles from
``calibration_table``.
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
)
from cohortaudit.render.document import Bullets, Chart, Para, Section, Span, Table, ref
from cohortaudit.render.findings import calibration_findings, fmt_value
from cohortaudit.render.outcome import (
    SURVIVAL_MEANINGS,
    horizon_text,
    is_time_to_event,
    time_unit,
)
from cohortaudit.render.text import survival_metric_name
from cohortaudit.results import AuditResult, GroupResult, MetricValue

__all__ = ["performance_chapter", "calibration_chapter", "conventions_text", "count_cells"]

#: Metrics of the overall performance table, in reading order.
_OVERALL = (
    "observed_risk",
    "expected_risk",
    "oe_ratio",
    "harrell_c",
    "uno_c",
    "auc_t",
    "brier",
    "scaled_brier",
)
_CALIBRATION = ("oe_ratio", "calibration_slope", "ici", "e50", "e90", "emax")


def conventions_text(result: AuditResult) -> str:
    """How the audit counts events and treats censoring, in one paragraph (stated once per
    chapter that depends on it)."""
    unit = time_unit(result)
    return (
        f"The model predicts the risk of the event by the horizon of {horizon_text(result)}; "
        f"follow-up time and the horizon are in {unit}. An event at or before the horizon "
        "counts as an event by the horizon; a patient censored at the horizon, or later, counts "
        "as event-free at it. A patient censored before the horizon has an unknown status: "
        "the observed risk uses the Kaplan–Meier estimate, and Uno's C, AUC(t), the Brier "
        "score and the threshold metrics weight patients by the inverse probability of "
        "remaining uncensored (IPCW), so no censored patient is counted as event-free. "
        "Censoring is assumed independent of the event given the groups; competing events "
        "are not modelled."
    )


def count_cells(result: AuditResult, g: GroupResult) -> list[str]:
    """n, events by the horizon, censored before it, at risk at it (withheld counts say so)."""
    k = min_cell(result)
    sv = g.survival or {}
    return [
        count_text(g.n, k),
        count_text(g.events, k),
        count_text(sv.get("censored_before"), k),
        count_text(sv.get("at_risk"), k),
    ]


def _follow_up(result: AuditResult, g: GroupResult) -> str:
    v = g.metrics.get("median_follow_up")
    return "n/a" if v is None or v.value is None else fmt_value(v, 2)


def _partition_table(
    result: AuditResult, attr: str | None, groups: list[GroupResult], *, anchor: str | None
) -> Table:
    """Counts and risks at the horizon of one partition, all patients first."""
    rows: list[list[Any]] = []
    for g in [result.overall, *groups]:
        name = "All patients" if not g.attributes else group_name(result, g)
        if g.suppressed:
            rows.append([name, Span(not_evaluable_text(result), 8)])
            continue
        rows.append(
            [
                name,
                *count_cells(result, g),
                _follow_up(result, g),
                group_cell(result, g, "observed_risk"),
                group_cell(result, g, "expected_risk"),
                group_cell(result, g, "oe_ratio"),
            ]
        )
    unit = time_unit(result)
    return Table(
        [
            "Group",
            "Patients",
            "Events by horizon",
            "Censored before",
            "At risk at horizon",
            f"Median follow-up ({unit})",
            "Observed risk (KM, 95% CI)",
            "Expected risk",
            "O/E (95% CI)",
        ],
        rows,
        [0.16, 0.08, 0.08, 0.08, 0.08, 0.09, 0.17, 0.09, 0.17],
        ["L", "R", "R", "R", "R", "R", "L", "R", "L"],
        font_size=6.5,
        caption=(
            f"Counts and risks by the horizon of {horizon_text(result)}"
            + (f", by {attr}" if attr else "")
            + " († imprecise)."
        ),
        anchor=anchor,
    )


def _discrimination_table(
    result: AuditResult, attr: str, groups: list[GroupResult], *, anchor: str | None
) -> Table:
    keys = ("harrell_c", "uno_c", "auc_t", "brier", "scaled_brier")
    rows: list[list[Any]] = []
    for g in [result.overall, *groups]:
        name = "All patients" if not g.attributes else group_name(result, g)
        if g.suppressed:
            rows.append([name, Span(not_evaluable_text(result), len(keys))])
            continue
        rows.append([name, *(group_cell(result, g, k) for k in keys)])
    return Table(
        ["Group", *(survival_metric_name(k) for k in keys)],
        rows,
        [0.2, 0.17, 0.17, 0.17, 0.145, 0.145],
        ["L", "L", "L", "L", "L", "L"],
        font_size=6.5,
        caption=f"Discrimination and overall performance at the horizon, by {attr} "
        "(95% CI where computed; † imprecise).",
        anchor=anchor,
    )


def performance_chapter(result: AuditResult) -> list[Section]:
    """Counts at the horizon, observed vs expected risk, C, AUC(t), Brier: overall and by
    each attribute (anchor ``discrimination``)."""
    if not is_time_to_event(result):
        return []
    o = result.overall
    s = Section("Performance at the horizon", new_page=True, anchor="discrimination")
    s.blocks.append(Para(conventions_text(result)))
    s.blocks.append(
        Para(
            "Harrell's C is the share of comparable pairs (the earlier time an event by the "
            "horizon) in which the patient with the event has the higher predicted risk; Uno's "
            "C weights those pairs by the inverse probability of censoring. AUC(t) is the "
            "cumulative/dynamic area under the ROC curve at the horizon: cases are the patients "
            "with an event by the horizon, controls those event-free at it. For all three, 0.5 "
            "is chance and 1 perfect. The Brier score is the IPCW mean squared error of the "
            "predicted risk at the horizon; the scaled Brier score (IPA) compares it with the "
            "Kaplan–Meier null model (0 = no better, 1 = perfect)."
        )
    )
    ci = result.settings.get("ci_methods", {}) or {}
    rows = [
        [
            survival_metric_name(k),
            group_cell(result, o, k),
            SURVIVAL_MEANINGS.get(k, ""),
            str(ci.get(k, "none in this version")),
        ]
        for k in _OVERALL
        if k in o.metrics
    ]
    fu = o.metrics.get("median_follow_up")
    if fu is not None:
        rows.append(
            [
                survival_metric_name("median_follow_up"),
                f"{_follow_up(result, o)} {time_unit(result)}",
                SURVIVAL_MEANINGS["median_follow_up"],
                str(ci.get("median_follow_up", "none in this version")),
            ]
        )
    s.blocks.append(
        Table(
            ["Metric", "All patients (95% CI)", "Meaning", "Interval method"],
            rows,
            [0.2, 0.22, 0.3, 0.28],
            ["L", "L", "L", "L"],
            font_size=7.5,
            caption=f"Performance of the model for all patients at the horizon of "
            f"{horizon_text(result)}.",
        )
    )
    attrs = list(result.cohort.sensitive_features)
    if not attrs:
        s.blocks.append(_partition_table(result, None, [], anchor="survival.counts"))
    for i, a in enumerate(attrs):
        groups = [g for g in groups_of_order(result, 1) if tuple(g.attributes) == (a,)]
        s.blocks.append(Section(f"By {a}", 1, anchor=f"discrimination.by.{i}"))
        s.blocks.append(
            _partition_table(result, a, groups, anchor="survival.counts" if i == 0 else None)
        )
        s.blocks.append(
            _discrimination_table(
                result, a, groups, anchor="discrimination.groups" if i == 0 else None
            )
        )
    return [s]


def _decile_rows(result: AuditResult, g: GroupResult) -> list[list[str]]:
    k = min_cell(result)
    rows = []
    for i, r in enumerate(g.calibration_table, start=1):
        obs = MetricValue(r.get("observed_risk"), r.get("ci_low"), r.get("ci_high"))
        rows.append(
            [
                str(i),
                count_text(r.get("n"), k),
                count_text(r.get("events"), k),
                count_text(r.get("at_risk"), k),
                num_text(r.get("expected_risk"), 3),
                fmt_value(obs),
            ]
        )
    return rows


def calibration_chapter(result: AuditResult) -> list[Section]:
    """O/E, slope, the flexible calibration curve and the deciles at the horizon (anchor
    ``calibration``)."""
    if not is_time_to_event(result):
        return []
    o = result.overall
    s = Section("Calibration at the horizon", new_page=True, anchor="calibration")
    s.blocks.append(
        Para(
            f"Calibration is whether predicted risks by the horizon ({horizon_text(result)}) "
            "match the observed risks: on average (O/E, the Kaplan–Meier observed risk over "
            "the mean predicted risk), in their spread (the calibration slope: a Cox model of "
            "follow-up truncated at the horizon on the complementary log-log of the predicted "
            "risk; 1 = perfect, below 1 predictions too extreme), and across the range of risk "
            "(the flexible calibration curve: a Cox model on a restricted cubic spline of "
            "cloglog risk, Austin, Harrell & van Klaveren 2020; ICI, E50, E90 and Emax are "
            "distances between that curve and the diagonal). Observed risks by risk decile are "
            "Kaplan–Meier estimates with Greenwood intervals."
        )
    )
    found = calibration_findings(result)
    if found:
        s.blocks.append(
            Para("Calibration findings (interval excludes perfect calibration):", "finding")
        )
        s.blocks.append(Bullets([f.sentence for f in found]))
    else:
        s.blocks.append(
            Para("No group's calibration interval excludes perfect calibration.", "finding")
        )
    ci = result.settings.get("ci_methods", {}) or {}
    rows = [
        [
            survival_metric_name(k),
            group_cell(result, o, k),
            SURVIVAL_MEANINGS.get(k, ""),
            str(ci.get(k, "none in this version")),
        ]
        for k in _CALIBRATION
        if k in o.metrics
    ]
    s.blocks.append(
        Table(
            ["Metric", "All patients (95% CI)", "Meaning", "Interval method"],
            rows,
            [0.2, 0.22, 0.3, 0.28],
            ["L", "L", "L", "L"],
            font_size=7.5,
            caption="Calibration of all patients at the horizon.",
        )
    )
    s.blocks.append(
        Chart(
            "survival_calibration",
            f"Calibration of all patients at the horizon of {horizon_text(result)}: the "
            "flexible calibration curve (drawn only where at least k patients lie on each "
            "side) and the observed risk (Kaplan–Meier, 95% CI) against the mean predicted "
            "risk in each decile of predicted risk; dotted: perfect calibration.",
            height_mm=115,
            anchor="calibration.chart",
        )
    )
    deciles = _decile_rows(result, o)
    s.blocks.append(
        Table(
            [
                "Decile of predicted risk",
                "Patients",
                "Events by horizon",
                "At risk at horizon",
                "Predicted (mean)",
                "Observed (KM, 95% CI)",
            ],
            deciles,
            [0.16, 0.13, 0.14, 0.14, 0.15, 0.28],
            ["L", "R", "R", "R", "R", "L"],
            font_size=7.5,
            caption="Observed vs predicted risk by the horizon, by decile of predicted risk.",
            anchor="calibration.deciles",
        )
        if deciles
        else Para(
            "Observed vs predicted risk by decile is not shown: a decile had fewer than "
            f"{min_cell(result)} patients, events by the horizon or patients at risk "
            f"(disclosure control, section {ref('disclosure')}).",
            "note",
        )
    )
    rows2: list[list[Any]] = []
    for g in groups_of_order(result, 1):
        if g.suppressed:
            rows2.append([group_name(result, g), Span(not_evaluable_text(result), 6)])
            continue
        rows2.append([group_name(result, g), *(group_cell(result, g, k) for k in _CALIBRATION)])
    s.blocks.append(
        Table(
            ["Group", "O/E (95% CI)", "Slope (95% CI)", "ICI", "E50", "E90", "Emax"],
            rows2,
            [0.22, 0.19, 0.19, 0.1, 0.1, 0.1, 0.1],
            ["L", "L", "L", "R", "R", "R", "R"],
            font_size=7,
            caption="Calibration at the horizon by group († imprecise; counts per group in "
            f"{ref('survival.counts')} and the sections after it).",
            anchor="calibration.groups",
        )
    )
    s.blocks.append(
        Chart(
            "calibration_groups",
            "Flexible calibration curves at the horizon by group (each panel one attribute; "
            "all patients in grey).",
            height_mm=130,
        )
    )
    return [s]
