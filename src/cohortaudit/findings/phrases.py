"""The sentences of the findings: what a number means for the patients in the group.

Plain words first, the number with its interval in brackets, then the consequence: "The model
under-predicts risk for deprivation = 5 (O/E 1.40, 1.32-1.50): they would be offered treatment
less often than their risk warrants." Names go through
:func:`cohortaudit.vocabulary.slice_words`; no patient value can appear, only released
aggregates.
"""

from __future__ import annotations

from typing import Any

from cohortaudit.registry import METRICS
from cohortaudit.results import MetricValue
from cohortaudit.vocabulary import slice_words

__all__ = [
    "ACTIONS",
    "who",
    "number",
    "mean_calibration",
    "slope_calibration",
    "discrimination",
    "error_rate",
    "unit_change",
    "unit_action",
    "shift",
    "robustness",
    "weak_slice",
]

#: What to check or do next, by situation.
ACTIONS = {
    "recalibrate": "Recalibrate the model for this group (intercept update) before using it here.",
    "recalibrate_slope": "Recalibrate (intercept and slope) and check that the predictors mean the same here.",
    "discrimination": "Look for predictors the model misses in this group; do not rely on its ranking here.",
    "missed": "Review a lower threshold or a recalibrated model for this group: cases are being missed.",
    "overtreated": "Review the threshold for this group: more patients are flagged than their risk warrants.",
    "case_mix": "No action on fairness: the group's risk distribution explains the difference.",
    "unsplit": "Separate this gap from case mix (expected error rates) before acting on it.",
    "more_data": "Collect more data: the group is too small or the interval too wide to act on.",
    "shift": "Check whether the cohort still matches the model's intended population.",
    "caveat": "Read the caveat and fix the data before relying on the audit.",
    "robustness": "Check the measurement of the perturbed inputs: small errors change predictions.",
    "weak_slice": "Treat as a hypothesis: confirm in new data before acting.",
}


def who(attributes: dict[str, str]) -> str:
    """``all patients`` or the group in words (``sex = F``, ``age 70 to 80``)."""
    return "all patients" if not attributes else slice_words(attributes)


def _n(x: float, digits: int) -> str:
    return f"{x:.{digits}f}".replace("-", "\u2212")


def number(v: MetricValue | None, digits: int = 2) -> str:
    """``1.40, 1.32–1.50`` (no brackets: the sentence places them); ``n/a`` when undefined."""
    if v is None or v.value is None:
        return "n/a"
    if v.ci_low is None or v.ci_high is None:
        return _n(v.value, digits)
    sep = " to " if min(v.ci_low, v.ci_high) < 0 else "\u2013"
    return f"{_n(v.value, digits)}, {_n(v.ci_low, digits)}{sep}{_n(v.ci_high, digits)}"


def _label(metric: str) -> str:
    spec = METRICS.get(metric)
    return spec.label if spec is not None else metric


def mean_calibration(attributes: dict[str, str], oe: MetricValue, *, under: bool) -> str:
    if under:
        return (
            f"The model under-predicts risk for {who(attributes)} (O/E {number(oe)}): they "
            "would be offered treatment less often than their risk warrants."
        )
    return (
        f"The model over-predicts risk for {who(attributes)} (O/E {number(oe)}): some would "
        "be treated without need."
    )


def slope_calibration(attributes: dict[str, str], slope: MetricValue) -> str:
    if slope.value < 1:
        return (
            f"Predicted risks are too extreme for {who(attributes)} (calibration slope "
            f"{number(slope)}): high risks are overstated, low risks understated."
        )
    return (
        f"Predicted risks are too modest for {who(attributes)} (calibration slope "
        f"{number(slope)}): high-risk patients look safer than they are."
    )


def discrimination(
    metric: str,
    group: dict[str, str],
    reference: dict[str, str],
    diff: MetricValue,
    group_value: MetricValue | None,
    reference_value: MetricValue | None,
) -> str:
    values = ""
    known = [v.value for v in (group_value, reference_value) if v is not None]
    if len(known) == 2 and None not in known:
        values = f"{_n(known[0], 3)} vs {_n(known[1], 3)}; "
    return (
        f"The model ranks patients less well for {who(group)} than for {who(reference)} "
        f"({_label(metric)} {values}difference {number(diff)}): their cases are harder to "
        "tell apart."
    )


_CONSEQUENCE = {
    "sensitivity": "more of their cases are missed",
    "npv": "more of those told they are at low risk have the outcome",
    "specificity": "more of them are flagged without need",
    "ppv": "more of those flagged would not have had the outcome",
}


def error_rate(
    metric: str,
    group: dict[str, str],
    reference: dict[str, str],
    diff: MetricValue,
    case_mix: MetricValue | None,
    beyond: MetricValue | None,
    values: tuple[MetricValue | None, MetricValue | None],
    *,
    state: str,
) -> str:
    """``state``: ``beyond`` (a gap beyond case mix), ``case_mix`` (explained by it) or
    ``unsplit`` (the result has no split)."""
    label = _label(metric)
    gv, rv = values
    shown = ""
    if gv is not None and rv is not None and gv.value is not None and rv.value is not None:
        shown = f"{_n(gv.value, 2)} vs {_n(rv.value, 2)}; "
    head = f"{label} is lower for {who(group)} than for {who(reference)}"
    if state == "unsplit":
        return f"{head} ({shown}difference {number(diff)}); not yet separated from case mix."
    if state == "case_mix":
        return (
            f"{head} ({shown}difference {_n(diff.value, 2)}) as their risk distribution "
            f"implies (beyond case mix {number(beyond)}): not a fault of the model."
        )
    return (
        f"{head} ({shown}difference {_n(diff.value, 2)}; beyond case mix {number(beyond)}): "
        f"{_CONSEQUENCE.get(metric, 'the group is worse off')}."
    )


def unit_change(s: dict[str, Any]) -> str:
    group = s.get("group") or {}
    factor = s.get("unit_factor")
    times = f"{factor:g}" if isinstance(factor, (int, float)) else "a constant factor"
    return (
        f"'{s['feature']}' at {who(group)} looks recorded in another unit (values about "
        f"{times} times the development data): every prediction there uses a wrong value."
    )


def unit_action(s: dict[str, Any]) -> str:
    group = s.get("group") or {}
    return f"Check the unit of '{s['feature']}' at {who(group)} and convert it before scoring."


def shift(s: dict[str, Any]) -> str:
    return str(s.get("message") or f"'{s.get('feature')}' differs from the development data.")


def robustness(row: dict[str, Any], metric: str, v: MetricValue) -> str:
    kind = str(row.get("perturbation", "perturbation")).replace("_", " ")
    return (
        f"{_label(metric)} for {who(row.get('group') or {})} drops by {number(MetricValue(-v.value, -v.ci_high, -v.ci_low), 3)} "
        f"under {kind} at level {row.get('level')}: small measurement errors change decisions."
    )


def weak_slice(w: dict[str, Any]) -> str:
    what = w.get("description") or slice_words(w.get("attributes") or {})
    if w.get("case_mix"):
        return (
            f"The search found a slice with lower sensitivity: {what}. Its predicted risks "
            "explain the gap (case mix), provided they are calibrated in the slice."
        )
    return f"The search found a weak slice: {what}."
