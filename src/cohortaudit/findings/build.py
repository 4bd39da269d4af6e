"""``build_findings``: the released result in, its findings out, most severe first.

Run once, at the end of :func:`cohortaudit.assemble.assemble_result`, on the result as it will
be released: suppressed groups have no metrics and withheld numbers are None, so nothing a
finding says can come from a withheld group. The severity rules are in
:mod:`cohortaudit.findings.rules`; the sentences in :mod:`cohortaudit.findings.phrases`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from cohortaudit.findings import phrases
from cohortaudit.findings.rules import (
    CUT_OFFS,
    FEW_PATIENTS_SHARE,
    NEGLIGIBLE_GAP,
    SEVERITY_ORDER,
    SMALL_RISK_GAP,
    severity_of,
    size_of,
)
from cohortaudit.results import AuditResult, Disparity, Finding, GroupResult, MetricValue

__all__ = ["build_findings", "ERROR_RATE_METRICS", "DISCRIMINATION_METRICS"]

#: Error rates split into case mix and the rest; True where a lower value means missed cases
#: (under-treatment), False where it means overtreatment.
ERROR_RATE_METRICS = {"sensitivity": True, "npv": True, "specificity": False, "ppv": False}
#: Discrimination metrics compared between groups (binary, then time-to-event).
DISCRIMINATION_METRICS = ("auroc", "harrell_c", "uno_c")
#: How many weak-slice findings are kept (the full search is in the safety section).
MAX_WEAK_SLICES = 5


def build_findings(result: AuditResult) -> tuple[Finding, ...]:
    """Every finding of ``result``, most severe first (the order of ``result.findings``)."""
    ctx = _Context(result)
    found: list[tuple[Finding, float]] = []
    found.extend(_calibration(ctx))
    found.extend(_discrimination(ctx))
    if not ctx.time_to_event:
        found.extend(_error_rates(ctx))
    found.extend(_safety(ctx))
    found.sort(
        key=lambda fs: (
            SEVERITY_ORDER[fs[0].severity],
            -fs[1],
            -(fs[0].n or 0),
            fs[0].kind,
            phrases.who(fs[0].attributes),
            fs[0].metric,
        )
    )
    return tuple(f for f, _ in found)


class _Context:
    """What every rule reads: the groups by attributes, the cohort size, the outcome kind."""

    def __init__(self, result: AuditResult) -> None:
        self.result = result
        self.time_to_event = (result.settings.get("outcome") or {}).get("kind") == "time_to_event"
        self.n = result.overall.n
        self.groups = {
            _key(g.attributes): g
            for g in (result.overall, *result.subgroups)
            if len(g.attributes) <= 1
        }
        released: dict[str, int] = {}
        for g in result.subgroups:
            if len(g.attributes) == 1 and not g.suppressed:
                (a,) = g.attributes
                released[a] = released.get(a, 0) + 1
        self.released_per_attribute = released

    def group(self, attributes: dict[str, str]) -> GroupResult | None:
        return self.groups.get(_key(attributes))

    def few_patients(self, g: GroupResult | None) -> bool:
        if g is None or not g.attributes or g.n is None or not self.n:
            return False
        return g.n < FEW_PATIENTS_SHARE * self.n


def _key(attributes: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(attributes.items()))


def _has_ci(v: MetricValue | None) -> bool:
    return v is not None and None not in (v.value, v.ci_low, v.ci_high)


def _too_wide(v: MetricValue, large: float, *, log: bool = False) -> bool:
    """True when the interval reaches further than the large cut-off on either side."""
    if log:
        if v.value <= 0 or v.ci_low <= 0:
            return True
        lo, mid, hi = math.log(v.ci_low), math.log(v.value), math.log(v.ci_high)
    else:
        lo, mid, hi = v.ci_low, v.value, v.ci_high
    return (mid - lo) > large or (hi - mid) > large


# -------------------------------------------------------------------- calibration (O/E, slope)


def _calibration(ctx: _Context) -> Iterable[tuple[Finding, float]]:
    for g in ctx.groups.values():
        if g.suppressed:
            continue
        oe = g.metrics.get("oe_ratio")
        if _has_ci(oe) and oe.value > 0 and (oe.ci_low > 1.0 or oe.ci_high < 1.0):
            under = oe.value > 1.0
            cut = CUT_OFFS["oe_ratio"]
            magnitude = abs(math.log(oe.value))
            severity = severity_of(
                size_of(magnitude, cut),
                harm_lowers=not under,
                small_absolute=_small_risk_gap(g, oe),
                few_patients=ctx.few_patients(g),
                imprecise=g.imprecise or _too_wide(oe, cut.large, log=True),
            )
            yield (
                Finding(
                    kind="miscalibration",
                    attributes=dict(g.attributes),
                    metric="oe_ratio",
                    severity=severity,
                    summary=phrases.mean_calibration(g.attributes, oe, under=under),
                    action=phrases.ACTIONS["recalibrate"]
                    if severity != "low" or not g.imprecise
                    else phrases.ACTIONS["more_data"],
                    section="calibration.groups",
                    value=oe.value,
                    ci_low=oe.ci_low,
                    ci_high=oe.ci_high,
                    n=g.n,
                ),
                magnitude / cut.large,
            )
        slope = g.metrics.get("calibration_slope")
        if _has_ci(slope) and slope.value > 0 and (slope.ci_low > 1.0 or slope.ci_high < 1.0):
            cut = CUT_OFFS["calibration_slope"]
            magnitude = abs(math.log(slope.value))
            severity = severity_of(
                size_of(magnitude, cut),
                harm_lowers=True,  # too extreme or too modest: both directions of harm at once
                few_patients=ctx.few_patients(g),
                cap="low",
                imprecise=g.imprecise or _too_wide(slope, cut.large, log=True),
            )
            yield (
                Finding(
                    kind="miscalibration",
                    attributes=dict(g.attributes),
                    metric="calibration_slope",
                    severity=severity,
                    summary=phrases.slope_calibration(g.attributes, slope),
                    action=phrases.ACTIONS["recalibrate_slope"],
                    section="calibration.groups",
                    value=slope.value,
                    ci_low=slope.ci_low,
                    ci_high=slope.ci_high,
                    n=g.n,
                ),
                magnitude / cut.large,
            )


def _small_risk_gap(g: GroupResult, oe: MetricValue) -> bool:
    """Observed and mean predicted risk (observed / O/E) differ by less than SMALL_RISK_GAP.

    The observed risk is the prevalence (binary) or the Kaplan-Meier risk by the horizon
    (time-to-event); without it the rule does not apply.
    """
    for key in ("observed_risk", "prevalence"):
        obs = g.metrics.get(key)
        if obs is not None and obs.value is not None:
            return abs(obs.value - obs.value / oe.value) < SMALL_RISK_GAP
    return False


# -------------------------------------------------------- comparisons with the reference group


def _worse_off(ctx: _Context, d: Disparity, diff: MetricValue) -> tuple[dict, dict, float] | None:
    """(group worse off, its comparison group, sign) or None when no group is worse off.

    A group below its reference is worse off. A group above its reference in a two-group
    attribute means the reference is the worse-off group (sign -1 turns the difference round);
    in a larger attribute, a group better than the reference harms no one.
    """
    if diff.value < 0:
        return dict(d.group), dict(d.reference), 1.0
    (attr,) = d.group
    if ctx.released_per_attribute.get(attr, 0) == 2:
        return dict(d.reference), dict(d.group), -1.0
    return None


def _turn(v: MetricValue | None, sign: float) -> MetricValue | None:
    if v is None or sign > 0:
        return v
    return MetricValue(
        None if v.value is None else -v.value,
        None if v.ci_high is None else -v.ci_high,
        None if v.ci_low is None else -v.ci_low,
    )


def _single_group_disparities(ctx: _Context, metrics: Iterable[str]) -> Iterable[Disparity]:
    wanted = set(metrics)
    for d in ctx.result.disparities:
        if d.metric in wanted and d.reference_kind == "group" and len(d.group) == 1:
            yield d


def _excludes_zero(v: MetricValue | None) -> bool:
    return _has_ci(v) and (v.ci_low > 0 or v.ci_high < 0)


def _clear_gaps(ctx: _Context, metrics):
    """Single-attribute disparities of ``metrics`` whose interval excludes 0, turned to the
    worse-off group: (disparity, group, reference, sign, difference as the worse-off see it)."""
    for d in _single_group_disparities(ctx, metrics):
        if not _excludes_zero(d.difference):
            continue
        who = _worse_off(ctx, d, d.difference)
        if who is None:
            continue
        group, reference, sign = who
        yield d, group, reference, sign, _turn(d.difference, sign)


def _discrimination(ctx: _Context) -> Iterable[tuple[Finding, float]]:
    cut = CUT_OFFS["discrimination"]
    for d, group, reference, _sign, diff in _clear_gaps(ctx, DISCRIMINATION_METRICS):
        g = ctx.group(group)
        magnitude = abs(diff.value)
        severity = severity_of(
            size_of(magnitude, cut),
            few_patients=ctx.few_patients(g),
            imprecise=(g is not None and g.imprecise) or _too_wide(diff, cut.large),
        )
        yield (
            Finding(
                kind="discrimination",
                attributes=group,
                metric=d.metric,
                severity=severity,
                summary=phrases.discrimination(
                    d.metric, group, reference, diff, _metric(ctx, group, d.metric),
                    _metric(ctx, reference, d.metric),
                ),
                action=phrases.ACTIONS["more_data"]
                if severity == "low" and g is not None and g.imprecise
                else phrases.ACTIONS["discrimination"],
                section="discrimination.groups",
                value=diff.value,
                ci_low=diff.ci_low,
                ci_high=diff.ci_high,
                reference=reference,
                n=None if g is None else g.n,
            ),
            magnitude / cut.large,
        )


def _metric(ctx: _Context, attributes: dict[str, str], key: str) -> MetricValue | None:
    g = ctx.group(attributes)
    return None if g is None else g.metrics.get(key)


def _split(d: Disparity, name: str) -> MetricValue | None:
    """``case_mix`` / ``beyond_case_mix`` of a disparity when the result has them."""
    v = getattr(d, name, None)
    if isinstance(v, MetricValue):
        return v
    if isinstance(v, dict):
        return MetricValue.from_dict(v)
    return None


def _error_rates(ctx: _Context) -> Iterable[tuple[Finding, float]]:
    cut = CUT_OFFS["error_rate"]
    for d, group, reference, sign, diff in _clear_gaps(ctx, ERROR_RATE_METRICS):
        case_mix = _turn(_split(d, "case_mix"), sign)
        beyond = _turn(_split(d, "beyond_case_mix"), sign)
        g = ctx.group(group)
        imprecise = g is not None and g.imprecise
        missed = ERROR_RATE_METRICS[d.metric]
        values = (_metric(ctx, group, d.metric), _metric(ctx, reference, d.metric))
        if beyond is None or beyond.value is None:  # the split is not in this result
            judged, severity, state = diff, "low", "unsplit"
        elif not _excludes_zero(beyond) or beyond.value > -NEGLIGIBLE_GAP:
            judged, severity, state = diff, "case_mix", "case_mix"
        else:
            judged, state = beyond, "beyond"
            severity = severity_of(
                size_of(abs(beyond.value), cut),
                harm_lowers=not missed,
                few_patients=ctx.few_patients(g),
                imprecise=imprecise or _too_wide(beyond, cut.large),
            )
        if state == "case_mix":
            action = phrases.ACTIONS["case_mix"]
        elif state == "unsplit":
            action = phrases.ACTIONS["unsplit"]
        elif severity == "low" and imprecise:
            action = phrases.ACTIONS["more_data"]
        else:
            action = phrases.ACTIONS["missed" if missed else "overtreated"]
        yield (
            Finding(
                kind="error_rate_gap",
                attributes=group,
                metric=d.metric,
                severity=severity,
                summary=phrases.error_rate(
                    d.metric, group, reference, diff, case_mix, beyond, values, state=state
                ),
                action=action,
                section="fairness.disparities",
                value=judged.value,
                ci_low=judged.ci_low,
                ci_high=judged.ci_high,
                reference=reference,
                n=None if g is None else g.n,
            ),
            abs(judged.value) / cut.large,
        )


# ------------------------------------------------------------------------------ safety checks


def _safety(ctx: _Context) -> Iterable[tuple[Finding, float]]:
    sf: dict[str, Any] = ctx.result.safety or {}
    unit_features: set[str] = set()
    for s in sf.get("shift", []):
        if s.get("statistic") == "median_ratio" and s.get("flag") == "serious":
            unit_features.add(s["feature"])
            yield (
                Finding(
                    kind="data_problem",
                    attributes=dict(s.get("group") or {}),
                    metric="unit_change",
                    severity="high",
                    summary=phrases.unit_change(s),
                    action=phrases.unit_action(s),
                    section="safety.shift",
                    value=s.get("value"),
                    n=s.get("n"),
                ),
                1.0 + (s.get("n") or 0) / max(ctx.n or 1, 1),
            )
    for s in sf.get("shift", []):
        stat = s.get("statistic")
        if stat == "median_ratio" or s.get("feature") in unit_features:
            continue
        flag = s.get("flag")
        if stat == "unseen_categories" and flag == "serious":
            kind, severity = "data_problem", "medium"
        elif flag == "serious":
            kind, severity = "shift", "medium"
        elif flag == "notable":
            kind, severity = "shift", "low"
        else:
            continue
        yield (
            Finding(
                kind=kind,
                attributes=dict(s.get("group") or {}),
                metric=str(stat),
                severity=severity,
                summary=phrases.shift(s),
                action=phrases.ACTIONS["shift"],
                section="safety.shift",
                value=s.get("value"),
                ci_low=s.get("ci_low"),
                ci_high=s.get("ci_high"),
                n=s.get("n"),
            ),
            abs(s.get("value") or 0.0),
        )
    for c in ctx.result.caveats:
        if c.severity == "serious":
            yield (
                Finding(
                    kind="data_problem",
                    attributes={},
                    metric=c.code,
                    severity="medium",
                    summary=c.message,
                    action=phrases.ACTIONS["caveat"],
                    section="limitations",
                ),
                0.5,
            )
    yield from _robustness(ctx, sf.get("robustness") or {})
    yield from _weak_slices(sf)


def _robustness(ctx: _Context, block: dict[str, Any]) -> Iterable[tuple[Finding, float]]:
    cut = CUT_OFFS["robustness"]
    worst: dict[tuple, tuple[Finding, float]] = {}
    for row in block.get("rows", []):
        group = dict(row.get("group") or {})
        if len(group) > 1:
            continue
        for metric in ("auroc", "sensitivity"):
            v = MetricValue.from_dict(row.get(f"delta_{metric}") or {})
            if not _has_ci(v) or v.ci_high >= 0 or -v.value < cut.moderate:
                continue  # a drop smaller than the moderate cut-off is not a finding
            magnitude = abs(v.value)
            g = ctx.group(group)
            severity = severity_of(
                size_of(magnitude, cut), imprecise=g is not None and g.imprecise
            )
            f = Finding(
                kind="robustness",
                attributes=group,
                metric=f"delta_{metric}",
                severity=severity,
                summary=phrases.robustness(row, metric, v),
                action=phrases.ACTIONS["robustness"],
                section="safety.robustness",
                value=v.value,
                ci_low=v.ci_low,
                ci_high=v.ci_high,
                n=row.get("n"),
            )
            key = (_key(group), metric)
            if key not in worst or magnitude / cut.large > worst[key][1]:
                worst[key] = (f, magnitude / cut.large)
    yield from worst.values()


def _weak_slices(sf: dict[str, Any]) -> Iterable[tuple[Finding, float]]:
    slices = sf.get("weak_slices") or []
    groups = sf.get("weak_slice_groups")
    if groups:
        leads = [(slices[g["lead"]], g.get("patients")) for g in groups if g["lead"] < len(slices)]
    else:
        leads = [(w, w.get("n")) for w in slices]
    for rank, (w, patients) in enumerate(leads[:MAX_WEAK_SLICES]):
        v = MetricValue.from_dict(w.get("value") or {})
        case_mix = bool(w.get("case_mix"))
        yield (
            Finding(
                kind="weak_slice",
                attributes=dict(w.get("attributes") or {}),
                metric=str(w.get("metric")),
                severity="case_mix" if case_mix else "low",
                summary=phrases.weak_slice(w),
                action=phrases.ACTIONS["case_mix" if case_mix else "weak_slice"],
                section="safety.slices",
                value=v.value,
                ci_low=v.ci_low,
                ci_high=v.ci_high,
                n=patients,
            ),
            -float(rank),
        )
