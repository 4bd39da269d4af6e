"""Chapter "Claimed vs measured": the model card's claims next to what this audit measured."""

from __future__ import annotations

from cohortaudit.render.chapters.common import (
    as_dict,
    group_cell,
    metric_value,
)
from cohortaudit.render.document import Para, Section, Table
from cohortaudit.render.findings import (
    fmt_value,
)
from cohortaudit.render.text import metric_name
from cohortaudit.results import (
    AuditResult,
    MetricValue,
)


def chapter(result: AuditResult) -> list[Section]:
    s = Section("Claimed vs measured", new_page=True, anchor="claims")
    claims = getattr(result, "claims", None)
    o = result.overall
    s.blocks.append(
        Para(
            "The model card's claimed metrics (from the developer's own validation) next to "
            "what this audit measured on the evaluation cohort. 'Consistent' means the claimed "
            "value lies within the 95% interval measured here; a claim outside it may reflect "
            "a different population, not necessarily a wrong claim."
        )
    )
    if claims:
        rows = []
        for c in claims:
            d = as_dict(c)
            cv = metric_value(d.get("claimed"))
            mv = metric_value(d.get("measured"))
            rows.append(
                [
                    metric_name(str(d.get("metric"))),
                    fmt_value(cv),
                    fmt_value(mv),
                    str(d.get("verdict", "—")),
                    str(d.get("reason", "")),
                ]
            )
        s.blocks.append(
            Table(
                ["Metric", "Claimed (card)", "Measured (95% CI)", "Verdict", "Reason"],
                rows,
                [0.16, 0.17, 0.19, 0.12, 0.36],
                ["L", "L", "L", "L", "L"],
                font_size=7.5,
                caption="Claimed vs measured performance.",
            )
        )
        return [s]
    claimed = (result.model.card or {}).get("claimed_metrics") or {}
    if not claimed:
        s.blocks.append(
            Para(
                "The model card states no claimed performance (or no card was "
                "given), so nothing could be compared.",
                "note",
            )
        )
        return [s]
    rows = []
    for k, v in claimed.items():
        if isinstance(v, dict):
            cv = MetricValue(v.get("value"), v.get("ci_low"), v.get("ci_high"))
        else:
            cv = MetricValue(v)
        mv = o.metrics.get(k)
        if mv is None or mv.value is None or cv.value is None:
            verdict = "not measured"
        elif mv.ci_low is None or mv.ci_high is None:
            verdict = "no interval"
        elif mv.ci_low <= cv.value <= mv.ci_high:
            verdict = "consistent"
        else:
            verdict = "lower" if mv.ci_high < cv.value else "higher"
        rows.append([metric_name(k), fmt_value(cv), group_cell(result, o, k), verdict])
    s.blocks.append(
        Table(
            ["Metric", "Claimed (card)", "Measured (95% CI)", "Verdict"],
            rows,
            [0.3, 0.24, 0.26, 0.2],
            ["L", "L", "L", "L"],
            caption="Claimed (model card) vs measured performance.",
        )
    )
    return [s]
