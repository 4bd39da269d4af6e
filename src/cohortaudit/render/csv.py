"""CSV tables of an audit result, safe to open in a spreadsheet.

``write_csv_tables(result, folder)`` writes ``metrics_by_group.csv`` (long format: one row per
group and metric), ``disparities.csv``, ``fairness.csv``, ``disclosure_log.csv`` and
``caveats.csv``. Numbers are written as numbers; every text cell that a spreadsheet would read
as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) is prefixed with a
single quote (OWASP CSV injection guidance). Group labels come from the cohort's own values, so
they are untrusted input.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cohortaudit.errors import ReportError
from cohortaudit.results import AuditResult, MetricValue

__all__ = ["write_csv_tables", "safe_cell", "CSV_FILES"]

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


def _write(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    try:
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
            w.writerow(header)
            for row in rows:
                w.writerow([safe_cell(c) for c in row])
    except OSError as exc:
        raise ReportError(
            f"Could not write the CSV table '{path}': {exc.strerror}. Choose a writable "
            "output folder."
        ) from None
    return path


def _mv(v: MetricValue | None) -> list[Any]:
    if v is None:
        return [None, None, None]
    return [v.value, v.ci_low, v.ci_high]


def write_csv_tables(result: AuditResult, folder: str | Path) -> list[Path]:
    """Write the CSV tables into ``folder`` (created if needed); return their paths."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(
            f"Could not create the folder '{folder}' for the CSV tables: {exc.strerror}."
        ) from None
    k = (result.settings.get("disclosure") or {}).get("min_cell")
    keys = list(result.overall.metrics)

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
                        f"not evaluable (fewer than {k})",
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

    paths = [
        _write(
            folder / "metrics_by_group.csv",
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
        _write(
            folder / "disparities.csv",
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
            ],
            (
                [
                    d.metric,
                    _label(d.group),
                    _label(d.reference),
                    d.reference_kind,
                    *_mv(d.difference),
                    *_mv(d.ratio),
                ]
                for d in result.disparities
            ),
        ),
        _write(
            folder / "fairness.csv",
            ["attributes", "metric", "value", "ci_low", "ci_high", "groups_compared"],
            (
                [" x ".join(f.attributes), f.metric, *_mv(f.value), f.groups_compared]
                for f in result.fairness
            ),
        ),
        _write(
            folder / "disclosure_log.csv",
            ["where", "rule", "action", "reason"],
            ([_label(e.where), e.rule, e.action, e.reason] for e in result.disclosure_log),
        ),
        _write(
            folder / "caveats.csv",
            ["code", "severity", "message"],
            ([c.code, c.severity, c.message] for c in result.caveats),
        ),
    ]
    return paths
