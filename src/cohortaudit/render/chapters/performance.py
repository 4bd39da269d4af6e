"""Chapter "Discrimination": AUROC and AUPRC of the whole cohort and of each group."""

from __future__ import annotations

from cohortaudit.render.chapters.common import (
    group_cell,
    group_rows,
    groups_of_order,
)
from cohortaudit.render.document import Chart, Para, Section, Table
from cohortaudit.render.outcome import is_time_to_event
from cohortaudit.render.text import metric_name
from cohortaudit.results import (
    AuditResult,
)


def chapter(result: AuditResult) -> list[Section]:
    if is_time_to_event(result):  # chapters/survival*.py take its place
        return []
    o = result.overall
    s = Section("Discrimination", new_page=True, anchor="discrimination")
    s.blocks.append(
        Para(
            "Discrimination is how well the model ranks patients with the outcome above those "
            "without it (AUROC: 0.5 = chance, 1 = perfect; AUPRC depends on the outcome rate, "
            f"{group_cell(result, o, 'prevalence')} here)."
        )
    )
    ci = result.settings.get("ci_methods", {})
    rows = [
        [metric_name(k), group_cell(result, o, k), str(ci.get(k, "—"))]
        for k in ("auroc", "auprc", "brier", "scaled_brier", "discrimination_slope")
        if k in o.metrics
    ]
    s.blocks.append(
        Table(
            ["Metric", "All patients (95% CI)", "Interval method"],
            rows,
            [0.25, 0.3, 0.45],
            ["L", "L", "L"],
            caption="Overall discrimination.",
        )
    )
    s.blocks.append(
        Chart(
            "roc",
            "ROC curves of all patients and of each group on the fixed threshold "
            "grid (AUROC in the legend); the dot marks the operating threshold. Groups that "
            "are not evaluable are not drawn.",
            height_mm=135,
        )
    )
    rows2 = group_rows(result, groups_of_order(result, 1), ("auroc", "auprc"))
    s.blocks.append(
        Table(
            ["Group", "Patients", "Events", "AUROC (95% CI)", "AUPRC (95% CI)"],
            rows2,
            [0.32, 0.11, 0.09, 0.24, 0.24],
            ["L", "R", "R", "L", "L"],
            caption="Discrimination by group († imprecise).",
            anchor="discrimination.groups",
        )
    )
    return [s]
