"""The group table of a time-to-event audit: every group's survival metrics at the horizon.

The same :class:`~cohortaudit.metrics.table.GroupTable` the binary audit builds -- the same
finest cells, partitions and group order (:func:`~cohortaudit.metrics.subgroups.build_cells`,
:func:`~cohortaudit.metrics.subgroups.build_partitions`) -- so disclosure control
(:func:`cohortaudit.disclosure.apply_disclosure`), the references, the disparities and the
result assembly are the binary audit's, written once. What differs is in the rows:

* ``events`` are the events *by the horizon*; ``n - events`` counts the patients without an
  event by the horizon (censored before it included), and the survival cells disclosure
  control needs (at risk at the horizon, censored before it) are in ``row.survival``;
* ``confusion`` holds the counts behind the threshold metrics: cases (events by the horizon)
  and controls (event-free at the horizon) above and below the threshold. Patients censored
  before the horizon are neither; the IPCW metrics weight them out;
* ``values`` / ``ci`` carry the survival metric keys (:data:`SURVIVAL_METRIC_KEYS`) with the
  intervals the estimators give (Greenwood, jackknife, Wald, events); the patient bootstrap
  (:mod:`cohortaudit.survival.bootstrap`) adds the rest;
* a group that cannot be evaluated at the horizon (its follow-up ends before it) arrives
  ``withheld_by_source`` with the reason, so disclosure control keeps it withheld and protects
  it like any small cell.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cohortaudit.errors import ConfigError
from cohortaudit.metrics.curves import curve_support
from cohortaudit.metrics.performance import Confusion
from cohortaudit.metrics.subgroups import build_cells, build_partitions
from cohortaudit.metrics.table import GroupRow, GroupTable
from cohortaudit.survival.decision import decision_curve
from cohortaudit.survival.km import KaplanMeierCurve, kaplan_meier
from cohortaudit.survival.summary import METRIC_KEYS, SurvivalSummary, summarize

__all__ = [
    "SURVIVAL_METRIC_KEYS",
    "SURVIVAL_THRESHOLD_METRICS",
    "SURVIVAL_DISPARITY_METRICS",
    "SurvivalFacts",
    "survival_point_table",
    "FOLLOW_UP_ENDS",
]

#: Metric keys of a time-to-event group, in table order: the estimators' keys plus the two
#: the fairness summaries compare (share above the threshold, 1 - specificity).
SURVIVAL_METRIC_KEYS = (
    *METRIC_KEYS, "selection_rate", "fpr", "net_benefit", "net_benefit_vs_treat_all",
)  # fmt: skip
#: The keys disclosure rule 2 withholds with the confusion counts behind them (net benefit at
#: the operating threshold rests on the same split of the patients at the threshold).
SURVIVAL_THRESHOLD_METRICS = (
    "sensitivity", "specificity", "ppv", "npv", "fpr", "selection_rate", "net_benefit",
    "net_benefit_vs_treat_all",
)  # fmt: skip

#: Metrics compared between groups in a time-to-event audit (observed risk is the cohort's,
#: not the model's, as prevalence is in the binary audit).
SURVIVAL_DISPARITY_METRICS = (
    "harrell_c",
    "uno_c",
    "auc_t",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "fpr",
    "selection_rate",
    "brier",
    "scaled_brier",
    "oe_ratio",
    "calibration_slope",
)

#: Why a group whose follow-up ends before the horizon is withheld.
FOLLOW_UP_ENDS = "follow-up ends before the horizon: the risk by the horizon is not estimable"


@dataclass(frozen=True, eq=False)
class SurvivalFacts:
    """What a survival row adds to the binary row: the group's summary at the horizon and its
    Kaplan-Meier curve up to the horizon (both before disclosure control)."""

    summary: SurvivalSummary
    km: KaplanMeierCurve
    #: events by the horizon among patients at or above each decision-curve threshold
    events_above: tuple[int, ...] = ()
    #: the bootstrap band (lower, upper) at each point of ``summary.calibration_curve``
    curve_band: tuple[tuple[float, float], ...] = ()
    #: bootstrap intervals at each point of ``summary.decision_curve``: (NB low, NB high,
    #: NB - treat-all low, high), NaN = none (survival/bootstrap_decision.py)
    decision_band: tuple[tuple[float, float, float, float], ...] = ()

    @property
    def at_risk(self) -> int:
        return self.summary.at_risk

    @property
    def censored_before(self) -> int:
        return self.summary.censored_before


def _group_indices(cell: np.ndarray, n_cells: int) -> Callable[[np.ndarray], np.ndarray]:
    """Patient indices of a union of finest cells, from one sort of the cell codes."""
    order = np.argsort(cell, kind="stable")
    starts = np.searchsorted(cell[order], np.arange(n_cells + 1))

    def indices(cells_of_group: np.ndarray) -> np.ndarray:
        parts = [order[starts[c] : starts[c + 1]] for c in cells_of_group]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    return indices


def _confusion(summary_time, event, risk, tau: float, threshold: float) -> Confusion:
    case = event & (summary_time <= tau)
    control = (summary_time > tau) | ((summary_time == tau) & ~event)
    pos = risk >= threshold
    return Confusion(
        tp=int(np.count_nonzero(case & pos)),
        fp=int(np.count_nonzero(control & pos)),
        tn=int(np.count_nonzero(control & ~pos)),
        fn=int(np.count_nonzero(case & ~pos)),
    )


def _row(
    p: int, g: int, attributes, time, event, risk, *, horizon, threshold, min_cell
) -> GroupRow:
    """One group's row; a group without follow-up to the horizon arrives withheld."""
    n = int(time.size)
    events = int(np.count_nonzero(event & (time <= horizon)))
    if n == 0 or float(time.max()) < horizon:
        return GroupRow(
            partition=p,
            index=g,
            attributes=attributes,
            n=n,
            events=events,
            confusion=None,
            values={},
            ci={},
            withheld_by_source=FOLLOW_UP_ENDS,
        )
    summary = summarize(time, event, risk, horizon, threshold)
    values = {k: _value(summary.metrics[k].value) for k in METRIC_KEYS}
    ci = {
        k: (_value(est.lower), _value(est.upper))
        for k, est in summary.metrics.items()
        if est.lower is not None and est.upper is not None
    }
    values["selection_rate"] = float(np.mean(risk >= threshold))
    spec = values["specificity"]
    values["fpr"] = 1.0 - spec if math.isfinite(spec) else math.nan
    (at_threshold,) = decision_curve(time, event, risk, horizon=horizon, thresholds=(threshold,))
    nb = math.nan if at_threshold.net_benefit is None else float(at_threshold.net_benefit)
    values["net_benefit"] = nb
    values["net_benefit_vs_treat_all"] = nb - float(at_threshold.net_benefit_treat_all)
    km = _km_to_horizon(time, event, horizon)
    return GroupRow(
        partition=p,
        index=g,
        attributes=attributes,
        n=n,
        events=summary.events,
        confusion=_confusion(time, event, risk, horizon, threshold),
        values=values,
        ci=ci,
        support=curve_support(risk, risk[:0], min_cell),
        survival=SurvivalFacts(
            summary=summary, km=km, events_above=_events_above(time, event, risk, summary)
        ),
    )


def _events_above(time, event, risk, summary: SurvivalSummary) -> tuple[int, ...]:
    case_risk = np.sort(risk[event & (time <= summary.horizon)])
    cuts = np.array([p.threshold for p in summary.decision_curve], dtype=np.float64)
    above = case_risk.size - np.searchsorted(case_risk, cuts, side="left")
    return tuple(int(x) for x in above)


def _value(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _km_to_horizon(time: np.ndarray, event: np.ndarray, horizon: float) -> KaplanMeierCurve:
    curve = kaplan_meier(time, event)
    keep = curve.times <= horizon
    return KaplanMeierCurve(
        curve.times[keep],
        curve.at_risk[keep],
        curve.events[keep],
        curve.survival[keep],
        curve.greenwood[keep],
    )


def survival_point_table(
    time: np.ndarray,
    event: np.ndarray,
    risk: np.ndarray,
    groups: pd.DataFrame,
    *,
    horizon: float,
    threshold: float,
    max_order: int,
    min_cell: int,
    ci_methods: dict[str, str] | None = None,
) -> GroupTable:
    """Every group's survival metrics at ``horizon``, as the binary engine's group table.

    ``time`` > 0 and ``event`` 0/1 per patient (checked by the intake), ``risk`` the predicted
    risk of the event by the horizon. The whole cohort must be followed up to the horizon
    (the intake says so before any work); subgroups that are not come back withheld.
    ``min_cell`` (k) bounds the range of predictions a calibration curve may be drawn over.
    """
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event).astype(bool)
    risk = np.asarray(risk, dtype=np.float64)
    if not (time.shape == event.shape == risk.shape == (len(groups),)):
        raise ConfigError(
            "time, event and predicted risk need one value per patient of the cohort; got "
            f"{time.shape}, {event.shape}, {risk.shape} for {len(groups)} patients."
        )
    features = tuple(groups.columns)
    cell, cell_keys, orders = build_cells(groups)
    partitions = build_partitions(cell_keys, features, max_order=max_order, orders=orders)
    indices = _group_indices(cell, len(cell_keys))
    def one(pg: tuple[int, int]) -> GroupRow:
        p, g = pg
        part = partitions[p]
        idx = indices(np.flatnonzero(part.membership[g] > 0))
        return _row(
            p,
            g,
            part.attributes_of(g),
            time[idx],
            event[idx],
            risk[idx],
            horizon=horizon,
            threshold=threshold,
            min_cell=min_cell,
        )

    # numpy releases the GIL in the sorts and array work of each group's estimators, so groups
    # run on a small thread pool (as the binary table's); results come back in group order
    cells = [(p, g) for p, part in enumerate(partitions) for g in range(len(part.keys))]
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        done = list(pool.map(one, cells))
    rows, start = [], 0
    for part in partitions:
        rows.append(tuple(done[start : start + len(part.keys)]))
        start += len(part.keys)
    methods = dict(ci_methods or {})
    if not methods:
        overall = rows[0][0].survival
        if overall is not None:
            methods = {
                k: est.method
                for k, est in overall.summary.metrics.items()
                if est.lower is not None
            }
    return GroupTable(
        partitions=tuple(partitions),
        rows=tuple(rows),
        threshold=threshold,
        cell=cell,
        ci_methods=methods,
        bootstrap_ci=(),
    )
