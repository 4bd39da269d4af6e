"""The model card's claimed metrics, checked against what the audit measured.

Rule (one, stated in every result): a claim is **consistent** when the claimed value lies
inside the audit's confidence interval for the same metric on the whole cohort; **lower** when
the measured interval lies entirely below the claimed value, **higher** when entirely above.
"Lower" and "higher" describe the numbers, not better or worse (a higher Brier score is worse).

Why the claimed *value* and not overlapping intervals: two 95% intervals can overlap while the
estimates differ significantly, so "the CIs overlap" would let large shortfalls pass; "is the
claimed value plausible given this cohort" is the test a reader means. The card's own interval
is kept in ``claimed`` for the report but does not enter the verdict.

A claim is **not measured** when the audit has no estimate of that metric with a CI (an
unknown metric name, a metric undefined or withheld on this cohort, or one reported without
an interval such as a p-value). The cohorts differ (development hold-out vs audit cohort), so
a difference is a finding to explain -- case mix, drift, a defect -- not proof of a false claim.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cohortaudit.errors import CardError
from cohortaudit.results import ClaimCheck, GroupResult, MetricValue

__all__ = ["CLAIMS_RULE", "normalize_claim", "check_claims"]

CLAIMS_RULE = (
    "consistent: the claimed value lies inside the measured CI (whole cohort); lower/higher: "
    "the measured CI lies entirely below/above the claimed value; the card's own CI is shown "
    "but not used"
)


def normalize_claim(metric: str, claim: Any) -> dict[str, float | None]:
    """A card's claim as ``{value, ci_low, ci_high}``: a bare number or a mapping with 'value'."""
    if _is_number(claim):
        return {"value": float(claim), "ci_low": None, "ci_high": None}
    if isinstance(claim, Mapping) and _is_number(claim.get("value")):
        out: dict[str, float | None] = {"value": float(claim["value"])}
        for key in ("ci_low", "ci_high"):
            x = claim.get(key)
            if x is not None and not _is_number(x):
                raise CardError(
                    f"The model card's claimed_metrics.{metric}.{key} must be a number. "
                    f"Got {type(x).__name__} instead."
                )
            out[key] = float(x) if x is not None else None
        return out
    raise CardError(
        f"The model card's claimed_metrics.{metric} must be a number or a mapping with a numeric "
        f"'value' (and optional ci_low, ci_high). Got {type(claim).__name__} instead."
    )


def check_claims(
    claimed_metrics: Mapping[str, Any] | None,
    overall: GroupResult,
    *,
    confidence: float = 0.95,
) -> tuple[ClaimCheck, ...]:
    """One :class:`ClaimCheck` per claimed metric, in the card's order."""
    checks: list[ClaimCheck] = []
    level = f"{confidence:.0%}"
    for metric, claim in (claimed_metrics or {}).items():
        claimed = normalize_claim(str(metric), claim)
        value = claimed["value"]
        measured = overall.metrics.get(str(metric))
        if measured is None:
            why = (
                "the whole cohort is suppressed"
                if overall.suppressed
                else f"cohortaudit does not compute a metric named '{metric}'"
            )
            checks.append(_check(metric, claimed, MetricValue(None), "not measured", why + "."))
            continue
        if measured.value is None or measured.ci_low is None or measured.ci_high is None:
            why = (
                "it is undefined or withheld on this cohort"
                if measured.value is None
                else "the audit reports it without a confidence interval"
            )
            checks.append(
                _check(
                    metric,
                    claimed,
                    measured,
                    "not measured",
                    f"The claim cannot be tested: {why}.",
                )
            )
            continue
        lo, hi = measured.ci_low, measured.ci_high
        shown = f"measured {_fmt(measured.value)} ({level} CI {_fmt(lo)} to {_fmt(hi)})"
        if lo <= value <= hi:
            verdict, why = "consistent", f"claimed {_fmt(value)} lies inside the {level} CI"
        elif hi < value:
            verdict, why = "lower", f"the whole {level} CI lies below the claimed {_fmt(value)}"
        else:
            verdict, why = "higher", f"the whole {level} CI lies above the claimed {_fmt(value)}"
        checks.append(_check(metric, claimed, measured, verdict, f"{shown}: {why}."))
    return tuple(checks)


def _check(metric, claimed, measured, verdict, reason) -> ClaimCheck:
    return ClaimCheck(
        metric=str(metric), claimed=claimed, measured=measured, verdict=verdict, reason=reason
    )


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _fmt(x: float) -> str:
    return f"{x:.4g}"
