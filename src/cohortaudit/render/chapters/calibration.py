"""Chapter "Calibration": whether predicted risks match observed rates, overall and by group."""

from __future__ import annotations

from cohortaudit.render.chapters.common import (
    group_cell,
    group_rows,
    groups_of_order,
)
from cohortaudit.render.document import Bullets, Chart, Para, Section, Table, ref
from cohortaudit.render.findings import (
    calibration_findings,
)
from cohortaudit.render.outcome import is_time_to_event
from cohortaudit.render.text import CAL_LABELS
from cohortaudit.results import (
    AuditResult,
)


def chapter(result: AuditResult) -> list[Section]:
    if is_time_to_event(result):  # chapters/survival*.py take its place
        return []
    o = result.overall
    cal = result.settings.get("calibration", {}) or {}
    s = Section("Calibration", new_page=True, anchor="calibration")
    s.blocks.append(
        Para(
            "Calibration is whether predicted risks match observed outcome rates: on average "
            "(O/E ratio, calibration-in-the-large), in their spread (calibration slope), and "
            "across the range of risk (smoothed calibration curve; ICI, E50, E90, Emax are "
            "distances between the curve and the diagonal). " + str(cal.get("hierarchy", ""))
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
    ci = result.settings.get("ci_methods", {})
    rows = []
    for k, (label, meaning) in CAL_LABELS.items():
        if k in o.metrics:
            rows.append([label, group_cell(result, o, k), meaning, str(ci.get(k, "—"))])
    c2 = o.calibration or {}
    if c2.get("hosmer_lemeshow_chi2") is not None:
        rows.append(
            [
                "Hosmer–Lemeshow χ²",
                f"{float(c2['hosmer_lemeshow_chi2']):.1f}",
                f"{c2.get('hosmer_lemeshow_groups', '?')} groups",
                "none",
            ]
        )
    s.blocks.append(
        Table(
            ["Metric", "All patients (95% CI)", "Meaning", "Interval method"],
            rows,
            [0.22, 0.24, 0.28, 0.26],
            ["L", "L", "L", "L"],
            font_size=7.5,
            caption="Calibration of all patients.",
        )
    )
    s.blocks.append(
        Chart(
            "calibration",
            "Smoothed calibration curve of all patients with its "
            "pointwise 95% band (drawn only where enough patients lie on each side), "
            "observed rates in 10 equal-width bins (dots), and the distribution of predicted "
            "risk by outcome (below; bins with fewer than k patients withheld).",
            height_mm=125,
        )
    )
    keys = ("oe_ratio", "citl", "calibration_slope", "ici")
    rows2 = group_rows(result, groups_of_order(result, 1), keys, counts=False)
    s.blocks.append(
        Table(
            ["Group", "O/E (95% CI)", "CITL (95% CI)", "Slope (95% CI)", "ICI (95% CI)"],
            rows2,
            [0.25, 0.18, 0.22, 0.18, 0.17],
            ["L", "L", "L", "L", "L"],
            font_size=7.5,
            caption="Calibration by group († imprecise; patients and events per "
            f"group in {ref('cohort.groups')}).",
            anchor="calibration.groups",
        )
    )
    s.blocks.append(
        Chart(
            "calibration_groups",
            "Smoothed calibration curves by group (each "
            "panel one attribute; all patients in grey).",
            height_mm=130,
        )
    )
    return [s]
