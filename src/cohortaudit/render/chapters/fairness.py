"""Chapter "Subgroups and fairness": threshold metrics, disparities and fairness summaries."""

from __future__ import annotations

from cohortaudit.render.case_mix import (
    READING_RULE,
    case_mix_rows,
    has_expected,
    observed_expected,
    reading,
)
from cohortaudit.render.chapters.common import (
    group_cell,
    group_name,
    group_rows,
    groups_of_order,
    not_evaluable_text,
)
from cohortaudit.render.document import Bullets, Chart, Para, Section, Span, Table, ref
from cohortaudit.render.findings import (
    SURVIVAL_FINDING_METRICS,
    disparity_findings,
    fmt_value,
)
from cohortaudit.render.outcome import horizon_text, is_time_to_event
from cohortaudit.render.text import metric_name, survival_metric_name
from cohortaudit.results import (
    AuditResult,
)

_THRESHOLD_METRICS = ("sensitivity", "specificity", "ppv", "npv")


_FAIRNESS_LABELS = {
    "demographic_parity_difference": "Demographic parity difference",
    "demographic_parity_ratio": "Demographic parity ratio",
    "equal_opportunity_difference": "Equal opportunity difference",
    "equal_opportunity_ratio": "Equal opportunity ratio",
    "equalized_odds_difference": "Equalized odds difference",
    "equalized_odds_ratio": "Equalized odds ratio",
}


def chapter(result: AuditResult) -> list[Section]:
    s = Section("Subgroups and fairness", new_page=True, anchor="fairness")
    t = result.settings.get("threshold")
    tte = is_time_to_event(result)
    s.blocks.append(
        Para(
            f"Threshold metrics use the operating threshold {t:g} (predicted positive when the "
            "score is at or above it). Differences are group − reference group of the same "
            "attribute; a finding is a difference whose 95% interval excludes zero."
            + (
                f" In this time-to-event audit they are evaluated at the horizon "
                f"({horizon_text(result)}) with the cumulative/dynamic definitions and inverse "
                "probability of censoring weights (IPCW); Events counts events by the horizon, "
                "and fairness summaries use the IPCW sensitivity and 1 − specificity."
                if tte
                else ""
            )
        )
    )
    s.blocks.append(Section("Threshold metrics by group", 1, anchor="fairness.threshold"))
    rows = group_rows(result, [result.overall, *groups_of_order(result, 1)], _THRESHOLD_METRICS)
    s.blocks.append(
        Table(
            ["Group", "n", "Events", *(metric_name(k) for k in _THRESHOLD_METRICS)],
            rows,
            [0.22, 0.08, 0.07, 0.16, 0.16, 0.155, 0.155],
            ["L", "R", "R", "L", "L", "L", "L"],
            font_size=7,
            caption="Threshold metrics by group (95% CI; † imprecise).",
            anchor="fairness.threshold_metrics",
        )
    )
    if not tte and has_expected(result):
        s.blocks.extend(_case_mix_blocks(result))
    s.blocks.append(Section("Disparities", 1, anchor="fairness.disparities"))
    s.blocks.append(
        Chart(
            "forest",
            "Difference from the reference group (group − reference, "
            "95% CI) for each group of one attribute. A line that does not cross zero is a "
            "finding; ◆ marks the reference group.",
            params={
                "metrics": ["harrell_c", "auc_t", "sensitivity", "specificity"]
                if tte
                else ["auroc", "sensitivity", "specificity", "ppv"]
            },
            height_mm=150,
        )
    )
    findings = disparity_findings(
        result,
        metrics=SURVIVAL_FINDING_METRICS
        if tte
        else ("auroc", "sensitivity", "specificity", "ppv", "npv", "brier", "selection_rate"),
    )
    if findings:
        s.blocks.append(
            Para(f"All {len(findings)} single-attribute findings, largest first:", "finding")
        )
        s.blocks.append(Bullets([f.sentence for f in findings], "small"))
    else:
        s.blocks.append(
            Para("No single-attribute difference has an interval that excludes zero.", "finding")
        )
    s.blocks.append(
        Section("Fairness summaries (fairlearn definitions)", 1, anchor="fairness.summaries")
    )
    rows3 = []
    for f in result.fairness:
        rows3.append(
            [
                " × ".join(f.attributes),
                _FAIRNESS_LABELS.get(f.metric, f.metric),
                fmt_value(f.value),
                str(f.groups_compared),
            ]
        )
    s.blocks.append(
        Table(
            ["Attributes", "Summary", "Value (95% CI)", "Groups compared"],
            rows3,
            [0.27, 0.33, 0.26, 0.14],
            ["L", "L", "L", "R"],
            font_size=7,
            caption="Fairness summaries over released groups (difference: largest "
            "− smallest; ratio: smallest / largest).",
        )
        if rows3
        else Para("No fairness summary was computed.", "note")
    )
    note = (result.settings.get("calibration", {}) or {}).get("impossibility") or (
        "When base rates differ between groups, calibration within groups and equalized odds "
        "cannot both hold (Kleinberg et al. 2016; Chouldechova 2017)."
    )
    s.blocks.append(
        Para(
            "Impossibility note: " + note + " Calibration within groups and equalized odds "
            "cannot both hold when base rates differ, so gaps in error rates "
            f"({ref('fairness.threshold_metrics')}) must be read together with calibration by "
            f"group ({ref('calibration.groups')}): closing one gap by "
            "changing thresholds per group will open the other.",
            "note",
        )
    )
    inter = groups_of_order(result, 2)
    if inter:
        s.blocks.append(
            Section("Intersections of two attributes", 1, anchor="fairness.intersections")
        )
        keys = (
            ("harrell_c", "auc_t", "sensitivity", "oe_ratio")
            if tte
            else ("auroc", "sensitivity", "specificity", "oe_ratio")
        )
        rows4 = group_rows(result, inter, keys)
        head = (
            [survival_metric_name(k) for k in keys[:2]] + ["Sensitivity", "O/E"]
            if tte
            else ["AUROC", "Sensitivity", "Specificity", "O/E"]
        )
        s.blocks.append(
            Table(
                ["Group", "n", "Events", *head],
                rows4,
                [0.25, 0.075, 0.065, 0.155, 0.155, 0.155, 0.145],
                ["L", "R", "R", "L", "L", "L", "L"],
                font_size=6.5,
                caption=f"{len(inter)} intersectional groups (95% CI; † imprecise).",
            )
        )
    return [s]


def _case_mix_blocks(result: AuditResult) -> list:
    """Observed beside expected-if-calibrated error rates, and the split of the gaps."""
    groups = [result.overall, *groups_of_order(result, 1)]
    rows = []
    for g in groups:
        if g.suppressed:
            rows.append([group_name(result, g), Span(not_evaluable_text(result), 4)])
            continue
        cells = [
            observed_expected(g, k) or group_cell(result, g, k) for k in _THRESHOLD_METRICS
        ]
        rows.append([group_name(result, g), *cells])
    blocks: list = [
        Section("Error rates and case mix", 1, anchor="fairness.case_mix"),
        Para(
            "A model that is perfectly calibrated still has different error rates in groups "
            "with different risks: where most patients are at high risk, few are below the "
            "threshold, so specificity is low. In brackets: the rate a perfectly calibrated "
            "model would have with the group's own predicted risks (expected TP = sum of p "
            "at or above the threshold, and so on; Kleinberg et al. 2017, Pleiss et al. 2017). "
            "An observed rate far from its bracket points to miscalibration or poorer "
            "discrimination within the group; a gap between groups that the brackets share "
            "is case mix.",
        ),
        Table(
            ["Group", *(f"{metric_name(k)} obs. (exp.)" for k in _THRESHOLD_METRICS)],
            rows,
            [0.32, 0.17, 0.17, 0.17, 0.17],
            ["L", "L", "L", "L", "L"],
            font_size=7,
            caption="Observed threshold metrics (expected if calibrated) by group; the "
            "intervals of both are in the JSON († imprecise).",
            anchor="fairness.expected_rates",
        ),
    ]
    split = case_mix_rows(result)
    if not split:
        blocks.append(
            Para("No single-attribute error-rate difference has an interval that excludes "
                 "zero, so there is no gap to split.", "note")
        )
        return blocks
    blocks.append(
        Table(
            ["Group", "Metric", "Difference", "Case mix", "Beyond case mix", "Reading"],
            [
                [
                    group_name(result, _group(result, r.attributes), mark_reference=False),
                    metric_name(r.metric),
                    fmt_value(r.difference),
                    fmt_value(r.case_mix),
                    fmt_value(r.beyond_case_mix),
                    reading(r),
                ]
                for r in split
            ],
            [0.18, 0.09, 0.18, 0.18, 0.18, 0.19],
            ["L", "L", "L", "L", "L", "L"],
            font_size=7,
            caption="Error-rate differences from the reference group whose 95% interval "
            "excludes zero, split into the part the two risk distributions imply under "
            "perfect calibration (case mix) and the rest (beyond case mix), with bootstrap "
            "95% intervals from the same replicates. Reading: " + READING_RULE + ". Every "
            "split is in the JSON.",
            anchor="fairness.case_mix_split",
        )
    )
    return blocks


def _group(result: AuditResult, attributes: dict[str, str]):
    return next(g for g in result.subgroups if g.attributes == attributes)
