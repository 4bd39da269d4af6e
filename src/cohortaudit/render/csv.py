"""CSV tables of an audit result, safe to open in a spreadsheet.

``csv_tables(result)`` renders (and ``write_csv_tables(result, folder)`` writes) ``metrics_by_group.csv`` (long format: one row per
group and metric), ``disparities.csv``, ``fairness.csv``, ``disclosure_log.csv`` and
``caveats.csv``. Numbers are written as numbers; every text cell that a spreadsheet would read
as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) is prefixed with a
single quote (OWASP CSV injection guidance). Group labels come from the cohort's own values, so
they are untrusted input.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cohortaudit.outputs import OutputFolder
from cohortaudit.results import AuditResult, MetricValue, not_evaluable

__all__ = ["csv_tables", "write_csv_tables", "safe_cell", "CSV_FILES"]

CSV_FILES = (
    "metrics_by_group.csv",
    "disparities.csv",
    "fairness.csv",
    "disclosure_log.csv",
    "caveats.csv",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(x: Any) -> Any:
    """Numbers stay numbers; text that could start a formula gets a leading single quote."""
    if x is None:
        return ""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, (int, float)):
        return x
    s = str(x)
    if s.startswith(_FORMULA_START):
        return "'" + s
    return s


def _label(attributes: dict[str, str]) -> str:
    if not attributes:
        return "overall"
    return " & ".join(f"{k}={v}" for k, v in attributes.items())


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    fh = io.StringIO()
    w = csv.writer(fh, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([safe_cell(c) for c in row])
    return fh.getvalue()


#: The case-mix split of error-rate disparities (binary audits; empty for other metrics).
_SPLIT_COLUMNS = (
    "case_mix",
    "case_mix_ci_low",
    "case_mix_ci_high",
    "beyond_case_mix",
    "beyond_case_mix_ci_low",
    "beyond_case_mix_ci_high",
)


def _mv(v: MetricValue | None) -> list[Any]:
    if v is None:
        return [None, None, None]
    return [v.value, v.ci_low, v.ci_high]


def write_csv_tables(result: AuditResult, folder: str | Path) -> list[Path]:
    """Write the CSV tables into ``folder`` (created if needed) through the one safe output
    writer (:mod:`cohortaudit.outputs`); return their paths."""
    out = OutputFolder(folder)
    return [out.write(name, text) for name, text in csv_tables(result).items()]


def _banner_rows(result: AuditResult) -> list[list[Any]]:
    """With disclosure control off (k = 0) the log's first row says so: a table opened on its
    own still carries the banner."""
    if result.disclosure_controlled:
        return []
    return [["all", "k = 0", "nothing withheld", result.disclosure_banner]]


def csv_tables(result: AuditResult) -> dict[str, str]:
    """The CSV tables as ``{file name: text}``, in :data:`CSV_FILES` order."""
    k = (result.settings.get("disclosure") or {}).get("min_cell")
    keys = list(result.overall.metrics)
    split = any(d.case_mix is not None for d in result.disparities)

    def metric_rows():
        for g in (result.overall, *result.subgroups):
            label = _label(g.attributes)
            attrs = ";".join(g.attributes)
            if g.suppressed:
                for m in keys:
                    yield [
                        label,
                        attrs,
                        None,
                        None,
                        m,
                        None,
                        None,
                        None,
                        not_evaluable(k),
                    ]
                continue
            for m in keys:
                if m in g.withheld:
                    yield [
                        label,
                        attrs,
                        g.n,
                        g.events,
                        m,
                        None,
                        None,
                        None,
                        f"withheld (a confusion-matrix cell < {k})",
                    ]
                    continue
                v = g.metrics.get(m)
                status = "imprecise" if g.imprecise else "released"
                if v is None or v.value is None:
                    status = "undefined"
                yield [label, attrs, g.n, g.events, m, *_mv(v), status]

    return {
        "metrics_by_group.csv": _table(
            [
                "group",
                "attributes",
                "n",
                "events",
                "metric",
                "value",
                "ci_low",
                "ci_high",
                "status",
            ],
            metric_rows(),
        ),
        "disparities.csv": _table(
            [
                "metric",
                "group",
                "reference",
                "reference_kind",
                "difference",
                "difference_ci_low",
                "difference_ci_high",
                "ratio",
                "ratio_ci_low",
                "ratio_ci_high",
                *(_SPLIT_COLUMNS if split else ()),
            ],
            (
                [
                    d.metric,
                    _label(d.group),
                    _label(d.reference),
                    d.reference_kind,
                    *_mv(d.difference),
                    *_mv(d.ratio),
                    *((*_mv(d.case_mix), *_mv(d.beyond_case_mix)) if split else ()),
                ]
                for d in result.disparities
            ),
        ),
        "fairness.csv": _table(
            ["attributes", "metric", "value", "ci_low", "ci_high", "groups_compared"],
            (
                [" x ".join(f.attributes), f.metric, *_mv(f.value), f.groups_compared]
                for f in result.fairness
            ),
        ),
        "disclosure_log.csv": _table(
            ["where", "rule", "action", "reason"],
            [
                *_banner_rows(result),
                *([_label(e.where), e.rule, e.action, e.reason] for e in result.disclosure_log),
            ],
        ),
        "caveats.csv": _table(
            ["code", "severity", "message"],
            ([c.code, c.severity, c.message] for c in result.caveats),
        ),
    }
