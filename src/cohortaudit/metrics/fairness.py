"""Disparities between groups and fairlearn-style fairness summaries, with bootstrap CIs.

Point estimates are exact differences/ratios of the groups' exact metrics. Intervals are
percentile intervals of the same difference computed on each bootstrap replicate (the groups
are resampled jointly, so their correlation -- e.g. a subgroup and the whole cohort -- is kept).

The summaries follow fairlearn's definitions (``demographic_parity_difference`` = max - min of
selection rate over groups, ``equalized_odds_difference`` = the larger of the TPR and FPR
max - min gaps, ratios are min / max); tests check they agree with fairlearn exactly. They are
taken over *released* groups only: including a suppressed group would leak its numbers.
"""

from __future__ import annotations

import numpy as np

from cohortaudit.metrics.bootstrap import percentile_interval, percentile_intervals
from cohortaudit.metrics.expected import EXPECTED_OF
from cohortaudit.metrics.performance import THRESHOLD_METRICS
from cohortaudit.metrics.table import GroupTable
from cohortaudit.results import Disparity, FairnessSummary, MetricValue

__all__ = [
    "DISPARITY_METRICS",
    "compute_disparities",
    "compute_fairness_summaries",
    "choose_references",
]

#: Metrics compared between groups (prevalence is a property of the cohort, not the model).
DISPARITY_METRICS = (
    "auroc",
    "auprc",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "fpr",
    "fnr",
    "accuracy",
    "balanced_accuracy",
    "f1",
    "selection_rate",
    "brier",
    "oe_ratio",
    "citl",
    "calibration_slope",
)


def choose_references(
    engine: GroupTable, hidden: list[list[bool]], requested: dict[str, str]
) -> tuple[dict[int, int], list[str]]:
    """Reference group per partition: the requested one if released, else the largest.

    Returns {partition: group index} and plain-language notes about fallbacks.
    """
    refs: dict[int, int] = {}
    notes: list[str] = []
    for p, part in enumerate(engine.partitions):
        if not part.attributes:
            continue
        released = [g for g in range(len(part.keys)) if not hidden[p][g]]
        if not released:
            continue
        wanted = None
        if all(a in requested for a in part.attributes):
            key = tuple(requested[a] for a in part.attributes)
            if key in part.keys:
                wanted = part.keys.index(key)
        if wanted is not None and hidden[p][wanted]:
            notes.append(
                f"The requested reference group {_label(part.attributes_of(wanted))} is "
                "suppressed (fewer than k events or non-events); the largest released group "
                "is used instead."
            )
            wanted = None
        if wanted is None:
            wanted = max(released, key=lambda g: (engine.estimates[p][g].n, -g))
        refs[p] = wanted
    return refs, notes


def _label(attrs: dict[str, str]) -> str:
    return " & ".join(f"{k}={v}" for k, v in attrs.items()) or "overall"


def _interval(reps: np.ndarray | None, confidence: float) -> tuple[float | None, float | None]:
    if reps is None:
        return None, None
    lo, hi, _ = percentile_interval(reps, confidence)
    return lo, hi


def compute_disparities(
    engine: GroupTable,
    hidden: list[list[bool]],
    confusion_hidden: list[list[bool]],
    refs: dict[int, int],
    *,
    confidence: float,
    metrics: tuple[str, ...] = DISPARITY_METRICS,
) -> tuple[Disparity, ...]:
    """Every released group vs its partition's reference group and vs the whole cohort.

    Intervals are computed for all groups of a partition at once (one vectorised percentile
    per metric and comparison), since a wide audit has tens of thousands of comparisons.
    """
    out: list[Disparity] = []
    overall = engine.estimates[0][0]
    overall_released = not hidden[0][0]
    for p, part in enumerate(engine.partitions):
        if p == 0 or p not in refs:
            continue
        r = refs[p]
        released = [g for g in range(len(part.keys)) if not hidden[p][g]]
        for metric in metrics:
            # a metric without replicates (a time-to-event C-index) gets no interval
            have_boot = bool(engine.replicates) and metric in engine.replicates[p]
            thresholdish = metric in THRESHOLD_METRICS
            groups = [g for g in released if not (thresholdish and confusion_hidden[p][g])]
            if not groups:
                continue
            values = np.array([engine.estimates[p][g].values[metric] for g in groups])
            comparisons = []
            if not (thresholdish and confusion_hidden[p][r]):
                comparisons.append(
                    (
                        "group",
                        engine.estimates[p][r],
                        engine.replicates[p][metric][:, [r]] if have_boot else None,
                    )
                )
            if overall_released and not (thresholdish and confusion_hidden[0][0]):
                comparisons.append(
                    (
                        "overall",
                        overall,
                        engine.overall_replicates[p][metric][:, None] if have_boot else None,
                    )
                )
            split = _case_mix_split(engine, p, r, metric, groups, comparisons, confidence)
            for (kind, ref_est, ref_reps), parts in zip(comparisons, split, strict=True):
                b = ref_est.values[metric]
                with np.errstate(divide="ignore", invalid="ignore"):
                    diff, ratio = values - b, values / b if b else np.full(len(groups), np.nan)
                    if have_boot:
                        g_reps = engine.replicates[p][metric][:, groups]
                        d_lo, d_hi, _ = percentile_intervals(g_reps - ref_reps, confidence)
                        r_lo, r_hi, _ = percentile_intervals(g_reps / ref_reps, confidence)
                    else:
                        d_lo = d_hi = r_lo = r_hi = np.full(len(groups), np.nan)
                for j, g in enumerate(groups):
                    if kind == "group" and g == r:
                        continue
                    out.append(
                        Disparity(
                            metric=metric,
                            group=dict(engine.estimates[p][g].attributes),
                            reference=dict(ref_est.attributes) if kind == "group" else {},
                            reference_kind=kind,
                            difference=MetricValue(diff[j], d_lo[j], d_hi[j]),
                            ratio=MetricValue(ratio[j], r_lo[j], r_hi[j]),
                            **({} if parts is None else {k: v[j] for k, v in parts.items()}),
                        )
                    )
    order = {m: i for i, m in enumerate(metrics)}
    out.sort(key=lambda d: (order[d.metric], d.reference_kind != "group"))
    return tuple(_stable_group_order(out, engine, order))


def _case_mix_split(engine, p, r, metric, groups, comparisons, confidence):
    """Per comparison: {"case_mix", "beyond_case_mix"} -> one MetricValue per group, or None.

    case_mix = expected(group) - expected(reference) under perfect calibration
    (:mod:`cohortaudit.metrics.expected`); beyond_case_mix = the observed difference minus it.
    Both intervals come from the same joint replicates as the difference's, so they keep the
    correlation of the group, its reference and of observed and expected. Only the threshold
    metrics with an expected counterpart are split, and only where the table has it (a
    time-to-event table does not).
    """
    exp_metric = EXPECTED_OF.get(metric)
    if exp_metric is None or exp_metric not in engine.estimates[p][groups[0]].values:
        return [None] * len(comparisons)
    rows = engine.estimates[p]
    observed = np.array([rows[g].values[metric] for g in groups], dtype=np.float64)
    expected = np.array([rows[g].values[exp_metric] for g in groups], dtype=np.float64)
    have_boot = (
        bool(engine.replicates)
        and metric in engine.replicates[p]
        and exp_metric in engine.replicates[p]
    )
    out = []
    for kind, ref_est, _ in comparisons:
        ref_obs, ref_exp = ref_est.values[metric], ref_est.values[exp_metric]
        case_mix = expected - ref_exp
        beyond = (observed - ref_obs) - case_mix
        nan = np.full(len(groups), np.nan)
        c_lo = c_hi = b_lo = b_hi = nan
        if have_boot:
            if kind == "group":
                ref_o = engine.replicates[p][metric][:, [r]]
                ref_e = engine.replicates[p][exp_metric][:, [r]]
            else:
                ref_o = engine.overall_replicates[p][metric][:, None]
                ref_e = engine.overall_replicates[p][exp_metric][:, None]
            cm_reps = engine.replicates[p][exp_metric][:, groups] - ref_e
            with np.errstate(invalid="ignore"):
                bc_reps = (engine.replicates[p][metric][:, groups] - ref_o) - cm_reps
            c_lo, c_hi, _ = percentile_intervals(cm_reps, confidence)
            b_lo, b_hi, _ = percentile_intervals(bc_reps, confidence)
        out.append(
            {
                "case_mix": [
                    MetricValue(case_mix[j], c_lo[j], c_hi[j]) for j in range(len(groups))
                ],
                "beyond_case_mix": [
                    MetricValue(beyond[j], b_lo[j], b_hi[j]) for j in range(len(groups))
                ],
            }
        )
    return out


def _stable_group_order(
    items: list[Disparity], engine: GroupTable, order: dict[str, int]
) -> list[Disparity]:
    """Order: partition, group, metric, reference kind (the order tables read in)."""
    rank = {}
    for p, part in enumerate(engine.partitions):
        for g in range(len(part.keys)):
            rank[tuple(sorted(part.attributes_of(g).items()))] = (p, g)
    return sorted(
        items,
        key=lambda d: (
            rank[tuple(sorted(d.group.items()))],
            order[d.metric],
            d.reference_kind != "group",
        ),
    )


_SUMMARIES = (
    ("demographic_parity_difference", ("selection_rate",), "difference"),
    ("demographic_parity_ratio", ("selection_rate",), "ratio"),
    ("equal_opportunity_difference", ("sensitivity",), "difference"),
    ("equal_opportunity_ratio", ("sensitivity",), "ratio"),
    ("equalized_odds_difference", ("sensitivity", "fpr"), "difference"),
    ("equalized_odds_ratio", ("sensitivity", "fpr"), "ratio"),
)


def _spread(values: np.ndarray, how: str) -> np.ndarray:
    """max - min or min / max over the last axis (fairlearn's between_groups)."""
    hi, lo = np.max(values, axis=-1), np.min(values, axis=-1)
    if how == "difference":
        return hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(hi > 0, lo / hi, np.where(lo == 0, 1.0, np.nan))


def compute_fairness_summaries(
    engine: GroupTable, confusion_hidden: list[list[bool]], *, confidence: float
) -> tuple[FairnessSummary, ...]:
    out: list[FairnessSummary] = []
    for p, part in enumerate(engine.partitions):
        if p == 0:
            continue
        groups = [g for g in range(len(part.keys)) if not confusion_hidden[p][g]]
        if len(groups) < 2:
            continue
        for name, metrics, how in _SUMMARIES:
            points = [
                _spread(np.array([engine.estimates[p][g].values[m] for g in groups]), how)
                for m in metrics
            ]
            point = max(points) if how == "difference" else min(points)
            lo = hi = None
            if engine.replicates:
                per_metric = [_spread(engine.replicates[p][m][:, groups], how) for m in metrics]
                stacked = np.stack(per_metric)
                reps = stacked.max(axis=0) if how == "difference" else stacked.min(axis=0)
                lo, hi = _interval(reps, confidence)
            out.append(
                FairnessSummary(
                    attributes=part.attributes,
                    metric=name,
                    value=MetricValue(float(point), lo, hi),
                    groups_compared=len(groups),
                )
            )
    return tuple(out)
