"""Observed error rates beside the ones a calibrated model would have, and the case-mix split.

Read-only views of the result for the report's and the dashboard's tables: the numbers are the
result's ``expected_*`` metrics and the disparities' ``case_mix`` / ``beyond_case_mix``
(:mod:`cohortaudit.metrics.expected`); nothing is recomputed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cohortaudit.results import AuditResult, GroupResult, MetricValue

__all__ = [
    "SPLIT_METRICS",
    "CaseMixRow",
    "has_expected",
    "observed_expected",
    "case_mix_rows",
    "reading",
    "READING_RULE",
]

#: The threshold metrics with an expected-if-calibrated counterpart, in table order.
SPLIT_METRICS = ("sensitivity", "specificity", "ppv", "npv")


@dataclass(frozen=True)
class CaseMixRow:
    """One error-rate gap of a group vs its reference, with its split."""

    attributes: dict[str, str]
    metric: str
    difference: MetricValue
    case_mix: MetricValue
    beyond_case_mix: MetricValue


def has_expected(result: AuditResult) -> bool:
    """Whether the result carries expected error rates (binary audits since issue 19)."""
    return "expected_sensitivity" in result.overall.metrics


def _num(x: float, digits: int) -> str:
    return f"{x:.{digits}f}".replace("-", "\u2212")


def observed_expected(g: GroupResult, key: str, digits: int = 3) -> str | None:
    """``0.702 (0.786)``: the observed metric and, in brackets, its value if calibrated.

    None when the observed metric has no value (the caller says why: withheld, suppressed).
    """
    obs = g.metrics.get(key)
    if g.suppressed or obs is None or obs.value is None:
        return None
    exp = g.metrics.get(f"expected_{key}")
    expected = "n/a" if exp is None or exp.value is None else _num(exp.value, digits)
    return f"{_num(obs.value, digits)} ({expected})"


def _excludes_zero(v: MetricValue | None) -> bool:
    return (
        v is not None
        and v.ci_low is not None
        and v.ci_high is not None
        and (v.ci_low > 0 or v.ci_high < 0)
    )


#: How :func:`reading` words a split (stated under the tables that show it).
READING_RULE = (
    "case mix: the interval of the part beyond case mix includes 0; mostly case mix: it "
    "excludes 0 but the case-mix part is larger and in the same direction; beyond case mix: "
    "otherwise"
)


def reading(row: CaseMixRow) -> str:
    """A word for the split of one gap (:data:`READING_RULE`)."""
    if not _excludes_zero(row.beyond_case_mix):
        return "case mix"
    cm, beyond = row.case_mix.value, row.beyond_case_mix.value
    if cm is not None and beyond is not None and abs(cm) > abs(beyond):
        diff = row.difference.value
        if diff is not None and cm * diff > 0:
            return "mostly case mix"
    return "beyond case mix"


def case_mix_rows(
    result: AuditResult,
    *,
    order: int = 1,
    metrics: Sequence[str] = SPLIT_METRICS,
    only_gaps: bool = True,
) -> list[CaseMixRow]:
    """The split of each error-rate disparity vs the reference group, for groups of ``order``
    attributes, in the result's order; ``only_gaps``: only differences whose interval
    excludes 0 (the gaps a reader asks about)."""
    out = []
    for d in result.disparities:
        if (
            d.reference_kind != "group"
            or d.metric not in metrics
            or len(d.group) != order
            or d.case_mix is None
            or d.beyond_case_mix is None
        ):
            continue
        if only_gaps and not _excludes_zero(d.difference):
            continue
        out.append(
            CaseMixRow(dict(d.group), d.metric, d.difference, d.case_mix, d.beyond_case_mix)
        )
    return out
