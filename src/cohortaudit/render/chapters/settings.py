"""Chapter "Methods": every setting of the audit as recorded, so it can be repeated exactly."""

from __future__ import annotations

from typing import Any

from cohortaudit.render.chapters.common import (
    plain,
)
from cohortaudit.render.document import Para, Section, Table
from cohortaudit.render.findings import (
    group_label,
)
from cohortaudit.render.text import metric_name
from cohortaudit.results import (
    AuditResult,
)


def _flatten(prefix: str, v: Any, out: list[list[str]]) -> None:
    if isinstance(v, dict):
        for k2, v2 in v.items():
            _flatten(f"{prefix}.{k2}" if prefix else str(k2), v2, out)
    elif isinstance(v, list) and v and all(isinstance(x, str) for x in v):
        out.append([prefix, "; ".join(v)])
    else:
        out.append([prefix, plain(v)])


def chapter(result: AuditResult) -> list[Section]:
    st = dict(result.settings)
    s = Section("Methods", new_page=True, anchor="methods")
    s.blocks.append(
        Para(
            "Every setting of the audit is listed below as recorded in the result, so that the "
            "audit can be repeated exactly. Metric definitions follow the cohortaudit metric "
            "reference; fairness summaries follow fairlearn's definitions."
        )
    )
    grid = st.pop("threshold_grid", None)
    ci = st.pop("ci_methods", {}) or {}
    refs = st.pop("references", []) or []
    finding_rules = st.pop("findings", None)
    rows: list[list[str]] = []
    for key, v in st.items():
        _flatten(key, v, rows)
    if grid:
        rows.append(
            [
                "threshold_grid",
                f"{len(grid)} thresholds from {grid[0]:g} to {grid[-1]:g} (curves and "
                "decision curves)",
            ]
        )
    cfg = result.config
    for key in (
        "n_boot",
        "seed",
        "min_cell",
        "confidence",
        "boot_score_bins",
        "max_intersection_order",
        "score_column",
    ):
        if key in cfg:
            rows.append([f"config.{key}", plain(cfg[key])])
    s.blocks.append(Section("Settings", 1, anchor="methods.settings"))
    s.blocks.append(
        Table(
            ["Setting", "Value"],
            rows,
            [0.3, 0.7],
            ["L", "L"],
            font_size=7.5,
            caption="Audit settings (from the result's settings block).",
        )
    )
    s.blocks.append(Section("Confidence intervals per metric", 1, anchor="methods.ci"))
    s.blocks.append(
        Table(
            ["Metric", "Interval method"],
            [[metric_name(k2), str(v2)] for k2, v2 in ci.items()],
            [0.3, 0.7],
            ["L", "L"],
            font_size=7.5,
            caption="Confidence-interval method of each metric.",
        )
    )
    s.blocks.append(Section("Reference groups", 1, anchor="methods.references"))
    s.blocks.append(
        Table(
            ["Attributes", "Reference group (differences are group − reference)"],
            [
                [" × ".join(e.get("attributes", [])), group_label(e.get("reference") or {})]
                for e in refs
            ],
            [0.35, 0.65],
            ["L", "L"],
            font_size=7.5,
            caption="Reference group of each partition.",
        )
    )
    if finding_rules:
        s.blocks.append(Section("Findings and their severity", 1, anchor="methods.findings"))
        s.blocks.append(
            Para(
                "Findings (the executive summary after the cover and the annex of all findings) are built from the "
                "released result when it is assembled, by these stated rules "
                "(settings.findings):",
                "small",
            )
        )
        frows: list[list[str]] = []
        _flatten("", finding_rules, frows)
        s.blocks.append(
            Table(
                ["Rule", "Statement"],
                frows,
                [0.25, 0.75],
                ["L", "L"],
                font_size=7.5,
                caption="Severity rules of the findings.",
            )
        )
    pk = (result.run or {}).get("packages") or {}
    s.blocks.append(Section("Software", 1, anchor="methods.software"))
    s.blocks.append(
        Table(
            ["Package", "Version"],
            [[f"{result.tool.get('name', 'cohortaudit')}", result.tool.get("version", "?")]]
            + [[k2, str(v2)] for k2, v2 in pk.items()],
            [0.4, 0.6],
            ["L", "L"],
            font_size=7.5,
            caption="Package versions used for this audit.",
        )
    )
    return [s]
