"""How the dashboard and the reports word numbers, groups and findings.

The findings themselves -- what is a problem, how severe, what to do -- are built once, when the
result is assembled (``result.findings``, :mod:`cohortaudit.findings`); this module only labels
them (:func:`severity_label`, :func:`kind_label`). What else it holds are the detailed sections'
lists: a disparity whose confidence interval for the difference (group - reference) excludes 0,
with a sentence that names both groups with their own estimates and intervals, e.g.

    Sensitivity is lower for sex=M: 0.61 (0.58–0.64) vs 0.75 (0.72–0.78) for sex=F
    (difference −0.14, 95% CI −0.18 to −0.10).

Nothing is recomputed: every number is read from the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cohortaudit.registry import METRICS, keys
from cohortaudit.render.outcome import survival_label
from cohortaudit.render.text import METRIC_LABELS
from cohortaudit.results import AuditResult, Disparity, GroupResult, MetricValue
from cohortaudit.textsafe import short_name

__all__ = [
    "CalibrationFinding",
    "calibration_findings",
    "calibration_sentence",
    "DisparityFinding",
    "FINDING_METRICS",
    "SURVIVAL_FINDING_METRICS",
    "LOWER_IS_BETTER",
    "disparity_findings",
    "finding_sentence",
    "severity_label",
    "kind_label",
    "top_reliance_rows",
    "top_slices",
    "format_estimate",
    "fmt_value",
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
#: Metrics where a higher value is worse for the patients in the group.
LOWER_IS_BETTER = frozenset(k for k in FINDING_METRICS if METRICS[k].better == "lower")
#: Metrics where a difference is neither better nor worse for the group.
NEUTRAL = frozenset(k for k in keys("threshold", "prevalence") if METRICS[k].better is None)
#: Every metric a time-to-event audit compares between groups, in the order of importance.
SURVIVAL_FINDING_METRICS = (
    "harrell_c",
    "uno_c",
    "auc_t",
    "oe_ratio",
    "calibration_slope",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "fpr",
    "selection_rate",
    "brier",
    "scaled_brier",
)
#: Metrics whose best value is a point (1 for O/E and the slope): a group is worse off when
#: its estimate lies further from that point than the reference group's.
_BEST_AT = {"oe_ratio": 1.0, "calibration_slope": 1.0}


@dataclass(frozen=True)
class DisparityFinding:
    """One disparity whose interval excludes no difference, with the sentence that says it
    (the detailed sections' list; the findings model is :class:`cohortaudit.results.Finding`)."""

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


#: How a finding's severity and kind read in a table or a badge.
SEVERITY_LABELS = {"high": "High", "medium": "Medium", "low": "Low", "case_mix": "Case mix"}
KIND_LABELS = {
    "miscalibration": "Calibration",
    "discrimination": "Discrimination",
    "error_rate_gap": "Error rate",
    "data_problem": "Data problem",
    "shift": "Shift",
    "robustness": "Robustness",
    "weak_slice": "Weak slice",
}


def severity_label(severity: str) -> str:
    """``High``, ``Medium``, ``Low`` or ``Case mix``."""
    return SEVERITY_LABELS.get(severity, severity)


def kind_label(kind: str) -> str:
    """``Calibration``, ``Error rate``, ... for a finding's kind."""
    return KIND_LABELS.get(kind, kind)


def group_label(attributes: dict[str, str]) -> str:
    """``sex=F & age=[40, 50)``; ``overall`` for the whole cohort."""
    if not attributes:
        return "overall"
    return " & ".join(f"{short_name(k)}={short_name(v)}" for k, v in attributes.items())


def _num(x: float, digits: int) -> str:
    s = f"{x:.{digits}f}"
    return s.replace("-", "\u2212")  # a real minus sign reads better than a hyphen


def fmt_value(v: MetricValue | None, digits: int = 3) -> str:
    """``0.733 (0.723–0.742)``: an estimate as the report's tables show it (three digits)."""
    return format_estimate(v, digits)


def format_estimate(v: MetricValue | None, digits: int = 2) -> str:
    """``0.61 (0.58–0.64)``, ``−0.81 (−0.92 to −0.69)``; ``n/a`` when undefined or withheld."""
    if v is None or v.value is None:
        return "n/a"
    if v.ci_low is None or v.ci_high is None:
        return _num(v.value, digits)
    # an en dash between two negative numbers ("−0.92–−0.69") is hard to read: say "to"
    sep = " to " if min(v.ci_low, v.ci_high) < 0 else "\u2013"
    return f"{_num(v.value, digits)} ({_num(v.ci_low, digits)}{sep}{_num(v.ci_high, digits)})"


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
    name = METRIC_LABELS.get(metric) or survival_label(metric) or metric
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
) -> list[DisparityFinding]:
    """Disparities whose CI for the difference excludes 0, largest absolute difference first.

    ``max_order`` limits the findings to groups defined by at most that many attributes (1:
    single attributes such as ``sex=F``); ``reference_kind`` chooses comparisons with the
    reference group of the same attribute(s) (``"group"``) or with the whole cohort
    (``"overall"``).
    """
    confidence = float(result.settings.get("confidence_level", 0.95))
    out: list[DisparityFinding] = []
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


def _finding(result: AuditResult, d: Disparity, *, confidence: float, digits: int) -> DisparityFinding:
    g = _group(result, d.group)
    r = _group(result, d.reference)
    gv = g.metrics.get(d.metric, MetricValue(None)) if g is not None else MetricValue(None)
    rv = r.metrics.get(d.metric, MetricValue(None)) if r is not None else MetricValue(None)
    direction = "lower" if (d.difference.value or 0) < 0 else "higher"
    worse = d.metric not in NEUTRAL and (direction == "higher") == (d.metric in LOWER_IS_BETTER)
    if d.metric in _BEST_AT:  # time-to-event O/E and slope: further from 1 is worse
        best = _BEST_AT[d.metric]
        worse = (
            gv.value is not None
            and rv.value is not None
            and abs(gv.value - best) > abs(rv.value - best)
        )
    return DisparityFinding(
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


# --------------------------------------------------------------------------------------------
# calibration: is each group's predicted risk right on average, and is its spread right?
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationFinding:
    """A group whose calibration interval excludes perfect calibration, with its sentence.

    ``kind`` is ``"mean"`` (O/E interval excludes 1 or CITL interval excludes 0) or ``"slope"``
    (calibration-slope interval excludes 1). ``direction`` is ``"under"`` / ``"over"``
    (predicted risk too low / too high on average) or ``"too_extreme"`` / ``"too_modest"``.
    """

    kind: str
    group: dict[str, str]
    direction: str
    values: dict[str, MetricValue]
    sentence: str

    @property
    def severity(self) -> float:
        """How far from perfect: |CITL| for the mean, |log slope| for the spread."""
        if self.kind == "mean":
            v = self.values.get("citl")
            if v is not None and v.value is not None:
                return abs(v.value)
            oe = self.values.get("oe_ratio")
            return abs(math.log(oe.value)) if oe and oe.value and oe.value > 0 else 0.0
        v = self.values.get("calibration_slope")
        return abs(math.log(v.value)) if v and v.value and v.value > 0 else 0.0


def _excludes(v: MetricValue | None, null: float) -> bool:
    return (
        v is not None
        and v.value is not None
        and v.ci_low is not None
        and v.ci_high is not None
        and (v.ci_low > null or v.ci_high < null)
    )


def _who(attributes: dict[str, str]) -> str:
    return "all patients" if not attributes else group_label(attributes)


def calibration_sentence(
    kind: str,
    group: dict[str, str],
    direction: str,
    values: dict[str, MetricValue],
    *,
    digits: int = 2,
) -> str:
    """``The model under-predicts risk for deprivation=5: O/E 1.41 (1.32–1.50); CITL 0.50
    (0.42–0.58).`` or ``Predictions are too extreme for sex=F ...: calibration slope ...``."""
    who = _who(group)
    if kind == "mean":
        verb = "under-predicts" if direction == "under" else "over-predicts"
        parts = [
            f"{label} {format_estimate(values[key], digits)}"
            for key, label in (("oe_ratio", "O/E"), ("citl", "CITL"))
            if values.get(key) is not None and values[key].value is not None
        ]
        return f"The model {verb} risk for {who}: {'; '.join(parts)}."
    slope = format_estimate(values.get("calibration_slope"), digits)
    if direction == "too_extreme":
        return (
            f"Predictions are too extreme for {who} (high risks too high, low risks too low): "
            f"calibration slope {slope}."
        )
    return (
        f"Predictions are too modest for {who} (risks too close to the average): "
        f"calibration slope {slope}."
    )


def calibration_findings(
    result: AuditResult, *, max_order: int = 1, digits: int = 2
) -> list[CalibrationFinding]:
    """Calibration problems of all patients and of groups up to ``max_order`` attributes.

    A mean finding needs the O/E interval to exclude 1 or the CITL interval to exclude 0 (the
    direction follows the one that does, O/E first); a slope finding needs the slope interval
    to exclude 1. Each group is judged against perfect calibration, not against a reference
    group: a model can be equally wrong in every group. Largest problems first.
    """
    out: list[CalibrationFinding] = []
    for g in (result.overall, *result.subgroups):
        if g.suppressed or len(g.attributes) > max_order:
            continue
        m = g.metrics
        oe, citl, slope = m.get("oe_ratio"), m.get("citl"), m.get("calibration_slope")
        if _excludes(oe, 1.0) or _excludes(citl, 0.0):
            under = oe.value > 1.0 if _excludes(oe, 1.0) else citl.value > 0.0
            values = {k: v for k, v in (("oe_ratio", oe), ("citl", citl)) if v is not None}
            direction = "under" if under else "over"
            out.append(
                CalibrationFinding(
                    "mean",
                    dict(g.attributes),
                    direction,
                    values,
                    calibration_sentence("mean", g.attributes, direction, values, digits=digits),
                )
            )
        if _excludes(slope, 1.0):
            direction = "too_extreme" if slope.ci_high < 1.0 else "too_modest"
            values = {"calibration_slope": slope}
            out.append(
                CalibrationFinding(
                    "slope",
                    dict(g.attributes),
                    direction,
                    values,
                    calibration_sentence("slope", g.attributes, direction, values, digits=digits),
                )
            )
    out.sort(key=lambda f: (bool(f.group), f.kind != "mean", -f.severity, group_label(f.group)))
    return out


# ---------------------------------------------------------------- explanations and safety


def top_reliance_rows(explanations: dict[str, Any], limit: int = 10) -> list[dict[str, Any]]:
    """Group x input differences whose CI excludes 0, largest |difference| first.

    Rows where the input defines the groups (age for age bands) are left out: the model leans
    on age more for the oldest band by construction, which says nothing about fairness.
    """
    rows = []
    for g in explanations.get("by_group", []):
        if g.get("suppressed"):
            continue
        for f in g.get("features", []):
            d = f.get("difference") or {}
            lo, hi, v = d.get("ci_low"), d.get("ci_high"), d.get("value")
            if f["feature"] == g["attribute"] or v is None or lo is None or hi is None:
                continue
            if lo > 0 or hi < 0:
                rows.append(
                    {
                        "attribute": g["attribute"],
                        "group": g["group"],
                        "reference": g["reference"],
                        "feature": f["feature"],
                        "difference": d,
                        "mean_abs_shap": f.get("mean_abs_shap") or {},
                        "reference_mean_abs_shap": f.get("reference_mean_abs_shap") or {},
                    }
                )
    rows.sort(key=lambda r: (-abs(r["difference"]["value"]), r["attribute"], r["group"]))
    return rows[:limit]


def top_slices(safety: dict[str, Any], metric: str, limit: int = 8) -> list[dict[str, Any]]:
    """The first ``limit`` weak slices of one metric, in the order the search ranked them."""
    return [w for w in safety.get("weak_slices", []) if w["metric"] == metric][:limit]
