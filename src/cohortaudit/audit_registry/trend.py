"""Trends: one model's metric in one group across its audits, and which changes are real.

A change between two consecutive audits with a released value and CI (a withheld point is
skipped, so the change is measured to the next audit that has one) is flagged only when the confidence interval of the
difference excludes no change. The interval is rebuilt from the two stored intervals (the
registry keeps no bootstrap replicates): each interval's half-width gives a standard error,
``se = (ci_high - ci_low) / (2 z)`` with ``z`` the normal quantile of the audit's own confidence
level, the two audits are independent cohorts, so ``se_diff = sqrt(se1^2 + se2^2)``, and the
interval is ``diff +- z * se_diff`` (normal approximation). Ratio metrics (the metric registry's
unit ``ratio``, e.g. ``oe_ratio``) are compared on the log scale -- ``log(v2 / v1)`` with standard
errors from the log-interval half-widths -- and reported back as a ratio with null 1. Skewed
(bootstrap percentile) intervals are treated as symmetric by this approximation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from statistics import NormalDist
from typing import Any

from cohortaudit.audit_registry.types import (
    Entry,
    PolicyChange,
    Trend,
    TrendChange,
    TrendPoint,
)
from cohortaudit.errors import ConfigError, InputError
from cohortaudit.registry import METRICS
from cohortaudit.safeload import parse_json

__all__ = ["build_trend", "is_ratio_metric", "change_between", "METHOD"]

METHOD = (
    "normal approximation from each stored CI's half-width (se = half-width / z), independent "
    "audits (se_diff = sqrt(se1^2 + se2^2)); ratio metrics on the log scale"
)


def is_ratio_metric(metric: str) -> bool:
    """A ratio metric (unit ``ratio...`` in :mod:`cohortaudit.registry`) is compared by ratio."""
    spec = METRICS.get(metric)
    return spec is not None and spec.unit.startswith("ratio")


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _confidence(audit: Mapping[str, Any]) -> float:
    level = (audit.get("settings") or {}).get("confidence_level")
    if isinstance(level, int | float) and 0 < level < 1:
        return float(level)
    level = (audit.get("config") or {}).get("confidence")
    return float(level) if isinstance(level, int | float) and 0 < level < 1 else 0.95


def change_between(
    a: TrendPoint,
    b: TrendPoint,
    *,
    ratio: bool,
    level_a: float = 0.95,
    level_b: float = 0.95,
    confidence: float = 0.95,
) -> TrendChange | None:
    """The change from point ``a`` to point ``b`` with its CI, or None without two CIs."""
    values = (a.value, a.ci_low, a.ci_high, b.value, b.ci_low, b.ci_high)
    if any(v is None or not math.isfinite(v) for v in values):
        return None
    if ratio:
        if any(v <= 0 for v in values):
            return None
        values = tuple(math.log(v) for v in values)
    va, la, ha, vb, lb, hb = values
    se_a = (ha - la) / (2 * _z(level_a))
    se_b = (hb - lb) / (2 * _z(level_b))
    diff = vb - va
    half = _z(confidence) * math.hypot(se_a, se_b)
    low, high = diff - half, diff + half
    flagged = low > 0 or high < 0
    if ratio:
        diff, low, high = math.exp(diff), math.exp(low), math.exp(high)
    return TrendChange(
        from_entry=a.entry_id,
        to_entry=b.entry_id,
        scale="ratio" if ratio else "difference",
        estimate=diff,
        ci_low=low,
        ci_high=high,
        flagged=flagged,
    )


def _find_group(audit: Mapping[str, Any], group: Mapping[str, str]) -> Mapping[str, Any] | None:
    if not group:
        return audit.get("overall")
    for g in audit.get("subgroups") or []:
        if g.get("attributes") == dict(group):
            return g
    return None


def _point(
    entry: Entry, audit: Mapping[str, Any], metric: str, group: Mapping[str, str]
) -> TrendPoint:
    g = _find_group(audit, group)
    base = {
        "entry_id": entry.entry_id,
        "recorded_at": entry.recorded_at,
        "cohort": entry.cohort_name,
        "site": entry.site,
    }
    empty = {"value": None, "ci_low": None, "ci_high": None}
    if g is None:
        return TrendPoint(**base, **empty, n=None, withheld=True, note="group not in this audit")
    n = g.get("n")
    if g.get("suppressed"):
        return TrendPoint(**base, **empty, n=None, withheld=True, note="group suppressed")
    if metric in (g.get("withheld") or []):
        return TrendPoint(**base, **empty, n=n, withheld=True, note="metric withheld")
    m = (g.get("metrics") or {}).get(metric)
    if not isinstance(m, dict) or m.get("value") is None:
        note = "metric not computed" if m is None else "metric undefined"
        return TrendPoint(**base, **empty, n=n, withheld=True, note=note)
    return TrendPoint(
        **base, value=m["value"], ci_low=m.get("ci_low"), ci_high=m.get("ci_high"), n=n,
        withheld=False,
    )  # fmt: skip


def _has_ci(p: TrendPoint) -> bool:
    return not p.withheld and p.ci_low is not None and p.ci_high is not None


def _reports(audit: Mapping[str, Any], metric: str) -> bool:
    """Whether the audit has the metric anywhere (a time-to-event key the registry lacks)."""
    groups = [audit.get("overall") or {}, *(audit.get("subgroups") or [])]
    return any(metric in (g.get("metrics") or {}) for g in groups)


def _policy_states(audit: Mapping[str, Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], str]:
    return {
        (str(v.get("rule_id")), tuple(sorted((v.get("group") or {}).items()))): str(v.get("status"))
        for v in audit.get("policy") or []
    }


def _policy_changes(a: Entry, pa: Mapping, b: Entry, pb: Mapping) -> list[PolicyChange]:
    return [
        PolicyChange(a.entry_id, b.entry_id, rule, group, pa[(rule, group)], pb[(rule, group)])
        for rule, group in sorted(pa.keys() & pb.keys())
        if pa[(rule, group)] != pb[(rule, group)]
    ]


def build_trend(
    model_sha256: str,
    metric: str,
    group: Mapping[str, str],
    audits: Iterable[tuple[Entry, bytes]],
    *,
    confidence: float = 0.95,
) -> Trend:
    """The trend of ``metric`` in ``group`` over ``audits`` (entries with their audit.json)."""
    if not 0 < confidence < 1:
        raise ConfigError(f"The confidence must lie in (0, 1); got {confidence}.")
    group = {str(k): str(v) for k, v in group.items()}
    ratio = is_ratio_metric(metric)
    points: list[TrendPoint] = []
    levels: list[float] = []
    states: list[tuple[Entry, dict]] = []
    known = False
    for entry, raw in audits:
        audit = parse_json(raw, what=f"the stored audit.json of entry {entry.entry_id}",
                           error=InputError)  # fmt: skip
        known = known or _reports(audit, metric)
        points.append(_point(entry, audit, metric, group))
        levels.append(_confidence(audit))
        states.append((entry, _policy_states(audit)))
    if metric not in METRICS and not known:
        raise ConfigError(
            f"'{metric}' is not a metric key of these audits. Expected one of {list(METRICS)} "
            "(or a time-to-event key such as harrell_c, uno_c, auc_t, net_benefit)."
        )
    changes = []
    released = [(p, lv) for p, lv in zip(points, levels, strict=True) if _has_ci(p)]
    for (a, la), (b, lb) in zip(released, released[1:], strict=False):
        change = change_between(a, b, ratio=ratio, level_a=la, level_b=lb, confidence=confidence)
        if change is not None:
            changes.append(change)
    policy: list[PolicyChange] = []
    for (ea, pa), (eb, pb) in zip(states, states[1:], strict=False):
        policy.extend(_policy_changes(ea, pa, eb, pb))
    return Trend(
        model_sha256=model_sha256,
        metric=metric,
        group=tuple(sorted(group.items())),
        scale="ratio" if ratio else "difference",
        method=METHOD,
        points=tuple(points),
        changes=tuple(changes),
        policy_changes=tuple(policy),
    )
