"""Plain-language findings from an :class:`AuditResult`, shared by the dashboard and the reports.

A finding is a disparity whose confidence interval for the difference (group - reference)
excludes 0. The sentence names both groups with their own estimates and intervals, e.g.

    Sensitivity is lower for sex=M: 0.61 (0.58–0.64) vs 0.75 (0.72–0.78) for sex=F
    (difference −0.14, 95% CI −0.18 to −0.10).

Nothing is recomputed: every number is read from the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from cohortaudit.render.text import METRIC_LABELS
from cohortaudit.results import AuditResult, Disparity, GroupResult, MetricValue

__all__ = [
    "Finding",
    "Verdict",
    "VERDICT_METRICS",
    "FINDING_METRICS",
    "LOWER_IS_BETTER",
    "disparity_findings",
    "finding_sentence",
    "verdict_summary",
    "format_estimate",
    "group_label",
]

#: Metrics a clinician reads first; the order is the order of importance for ties.
FINDING_METRICS = (
    "auroc",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "fpr",
    "fnr",
    "selection_rate",
    "brier",
)
#: Metrics the verdict uses: FPR and FNR are complements of specificity and sensitivity, and a
#: different selection rate is neither better nor worse in itself.
VERDICT_METRICS = ("auroc", "sensitivity", "specificity", "ppv", "npv", "brier")
#: Metrics where a higher value is worse for the patients in the group.
LOWER_IS_BETTER = frozenset({"fpr", "fnr", "brier"})
#: Metrics where a difference is neither better nor worse for the group.
NEUTRAL = frozenset({"selection_rate", "prevalence"})


@dataclass(frozen=True)
class Finding:
    """One disparity whose interval excludes no difference, with the sentence that says it."""

    metric: str
    group: dict[str, str]
    reference: dict[str, str]
    reference_kind: str
    group_value: MetricValue
    reference_value: MetricValue
    difference: MetricValue
    direction: str  # "lower" | "higher"
    worse: bool  # True when the group is worse off than the reference (never for NEUTRAL)
    sentence: str


def group_label(attributes: dict[str, str]) -> str:
    """``sex=F & age=[40, 50)``; ``overall`` for the whole cohort."""
    if not attributes:
        return "overall"
    return " & ".join(f"{k}={v}" for k, v in attributes.items())


def _num(x: float, digits: int) -> str:
    s = f"{x:.{digits}f}"
    return s.replace("-", "\u2212")  # a real minus sign reads better than a hyphen


def format_estimate(v: MetricValue | None, digits: int = 2) -> str:
    """``0.61 (0.58–0.64)``; ``n/a`` when undefined or withheld."""
    if v is None or v.value is None:
        return "n/a"
    if v.ci_low is None or v.ci_high is None:
        return _num(v.value, digits)
    return f"{_num(v.value, digits)} ({_num(v.ci_low, digits)}\u2013{_num(v.ci_high, digits)})"


def _excludes_zero(d: MetricValue) -> bool:
    return (
        d.value is not None
        and d.ci_low is not None
        and d.ci_high is not None
        and (d.ci_low > 0 or d.ci_high < 0)
    )


def _group(result: AuditResult, attributes: dict[str, str]) -> GroupResult | None:
    if not attributes:
        return result.overall
    for g in result.subgroups:
        if g.attributes == attributes:
            return g
    return None


def finding_sentence(
    metric: str,
    group: dict[str, str],
    reference: dict[str, str],
    group_value: MetricValue,
    reference_value: MetricValue,
    difference: MetricValue,
    *,
    confidence: float = 0.95,
    digits: int = 2,
) -> str:
    """The sentence for one disparity (the reference may be the whole cohort)."""
    name = METRIC_LABELS.get(metric, metric)
    if metric == "brier":  # Brier scores are small: two decimals hide the difference
        digits = max(digits, 3)
    direction = "lower" if (difference.value or 0) < 0 else "higher"
    ref = "the whole cohort" if not reference else group_label(reference)
    level = f"{confidence:.0%}"
    diff = _num(difference.value, digits) if difference.value is not None else "n/a"
    ci = ""
    if difference.ci_low is not None and difference.ci_high is not None:
        ci = f", {level} CI {_num(difference.ci_low, digits)} to {_num(difference.ci_high, digits)}"
    return (
        f"{name} is {direction} for {group_label(group)}: {format_estimate(group_value, digits)} "
        f"vs {format_estimate(reference_value, digits)} for {ref} (difference {diff}{ci})."
    )


def disparity_findings(
    result: AuditResult,
    *,
    metrics: tuple[str, ...] = FINDING_METRICS,
    max_order: int = 1,
    reference_kind: str = "group",
    digits: int = 2,
) -> list[Finding]:
    """Disparities whose CI for the difference excludes 0, largest absolute difference first.

    ``max_order`` limits the findings to groups defined by at most that many attributes (1:
    single attributes such as ``sex=F``); ``reference_kind`` chooses comparisons with the
    reference group of the same attribute(s) (``"group"``) or with the whole cohort
    (``"overall"``).
    """
    confidence = float(result.settings.get("confidence_level", 0.95))
    out: list[Finding] = []
    for d in result.disparities:
        if (
            d.metric not in metrics
            or d.reference_kind != reference_kind
            or not (1 <= len(d.group) <= max_order)
            or not _excludes_zero(d.difference)
        ):
            continue
        out.append(_finding(result, d, confidence=confidence, digits=digits))
    rank = {m: i for i, m in enumerate(metrics)}
    out.sort(
        key=lambda f: (
            -abs(f.difference.value or 0.0),
            rank.get(f.metric, 99),
            group_label(f.group),
        )
    )
    return out


def _finding(result: AuditResult, d: Disparity, *, confidence: float, digits: int) -> Finding:
    g = _group(result, d.group)
    r = _group(result, d.reference)
    gv = g.metrics.get(d.metric, MetricValue(None)) if g is not None else MetricValue(None)
    rv = r.metrics.get(d.metric, MetricValue(None)) if r is not None else MetricValue(None)
    direction = "lower" if (d.difference.value or 0) < 0 else "higher"
    worse = d.metric not in NEUTRAL and (direction == "higher") == (d.metric in LOWER_IS_BETTER)
    return Finding(
        metric=d.metric,
        group=dict(d.group),
        reference=dict(d.reference),
        reference_kind=d.reference_kind,
        group_value=gv,
        reference_value=rv,
        difference=d.difference,
        direction=direction,
        worse=worse,
        sentence=finding_sentence(
            d.metric,
            d.group,
            d.reference,
            gv,
            rv,
            d.difference,
            confidence=confidence,
            digits=digits,
        ),
    )


@dataclass(frozen=True)
class Verdict:
    """The plain-language summary: a headline, the key findings, and what could not be checked."""

    headline: str
    findings: tuple[Finding, ...]
    notes: tuple[str, ...]

    def lines(self) -> list[str]:
        """Headline, one sentence per finding, then the notes (for text and PDF reports)."""
        return [self.headline, *(f.sentence for f in self.findings), *self.notes]


def verdict_summary(
    result: AuditResult,
    *,
    metrics: tuple[str, ...] = VERDICT_METRICS,
    per_attribute: int = 2,
    digits: int = 2,
) -> Verdict:
    """Headline, the largest findings *per sensitive attribute*, and what was not evaluable.

    Findings are picked per attribute (worst-off groups first) so that one attribute with large,
    expected differences -- age for a risk score -- does not hide the others. The headline
    always says how many comparisons were made, so a short list is never mistaken for a clean
    bill of health.
    """
    confidence = float(result.settings.get("confidence_level", 0.95))
    k = result.settings.get("disclosure", {}).get("min_cell")
    compared = [
        d
        for d in result.disparities
        if d.reference_kind == "group"
        and len(d.group) == 1
        and d.metric in metrics
        and d.difference.value is not None
    ]
    findings = disparity_findings(result, metrics=metrics, digits=digits)
    if not compared:
        headline = (
            "No subgroup could be compared with its reference group (all were not evaluable "
            "or there were no sensitive attributes)."
        )
    elif not findings:
        headline = (
            f"None of {len(compared)} comparisons of single-attribute groups with their "
            f"reference group shows a difference whose {confidence:.0%} confidence interval "
            "excludes zero. This is not proof of equal performance: small groups have wide "
            "intervals."
        )
    else:
        n_worse = sum(f.worse for f in findings)
        headline = (
            f"{len(findings)} of {len(compared)} comparisons of single-attribute groups with "
            f"their reference group show a difference whose {confidence:.0%} confidence "
            f"interval excludes zero; in {n_worse} the group is worse off. The largest per "
            "attribute:"
        )
    picked: list[Finding] = []
    for attr in result.cohort.sensitive_features:
        mine = [f for f in findings if tuple(f.group) == (attr,)]
        mine.sort(key=lambda f: (not f.worse, -abs(f.difference.value or 0.0)))
        picked.extend(mine[:per_attribute])
    notes: list[str] = []
    n_sup = sum(g.suppressed for g in result.subgroups if len(g.attributes) == 1)
    if n_sup:
        notes.append(
            f"{n_sup} single-attribute group(s) are not evaluable (fewer than {k} events or "
            "non-events) and could not be checked."
        )
    return Verdict(headline=headline, findings=tuple(picked), notes=tuple(notes))
