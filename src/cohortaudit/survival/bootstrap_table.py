"""The patient bootstrap added to a time-to-event group table (a new table; the old one stays).

:func:`cohortaudit.survival.bootstrap.survival_replicates` resamples the patients of the
released groups within their finest cells; this step keeps its replicates in the table (the
disparities and fairness summaries take their intervals from them, as in the binary audit) and
gives every released metric without an interval of its own -- expected risk, AUC(t), Uno's C,
Brier and the scaled Brier, the threshold metrics -- its percentile interval; ICI, E50, E90,
Emax and the calibration curve's band come from the smoother refitted on the first replicates of
a stream of their own (:mod:`cohortaudit.survival.bootstrap_smoother`). Metrics with an analytic
interval (Greenwood for the observed risk, events for O/E, the jackknife for Harrell's C, Wald
for the calibration slope) keep it; ``ci_methods`` says which is which.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from cohortaudit.metrics.subgroups import SMOOTHER_REPLICATES
from cohortaudit.survival.bootstrap import BOOT_METRICS, survival_intervals, survival_replicates
from cohortaudit.survival.bootstrap_decision import decision_curve_intervals
from cohortaudit.survival.bootstrap_smoother import (
    SMOOTHER_METHOD,
    SMOOTHER_METRICS,
    SMOOTHER_RISK_BINS,
    SMOOTHER_TIME_BINS,
    smoother_intervals,
)
from cohortaudit.survival.bootstrap_utility import (
    NB_KEYS,
    UTILITY_METHOD,
    UTILITY_TIME_BINS,
    net_benefit_intervals,
)

if TYPE_CHECKING:
    from cohortaudit.disclosure import DisclosureDecision
    from cohortaudit.metrics.table import GroupTable

__all__ = ["bootstrap_survival_table", "BOOTSTRAP_CI_METHOD"]

BOOTSTRAP_CI_METHOD = (
    "stratified patient bootstrap (within the finest cells), percentile; the censoring "
    "distribution re-estimated in each replicate"
)


def bootstrap_survival_table(
    table: GroupTable,
    decision: DisclosureDecision,
    time: np.ndarray,
    event: np.ndarray,
    risk: np.ndarray,
    *,
    horizon: float,
    threshold: float,
    n_boot: int,
    seed: int,
    confidence: float,
    max_bins: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    decision_curves_up_to: int | None = None,
) -> GroupTable:
    """``table`` with the bootstrap's replicates, undefined counts and intervals;
    ``decision_curves_up_to``: the decision curves of released groups of up to this many
    attributes (those the result draws) get bootstrap bands too (None: none)."""
    released = [[not h for h in row] for row in decision.hidden]
    points = [  # the exact estimates the binned auc_t and C replicates are centred on
        {
            m: np.array([r.values.get(m, math.nan) for r in row], dtype=np.float64)
            for m in ("auc_t", "harrell_c", "uno_c")
        }
        for row in table.rows
    ]
    extra = {} if max_bins is None else {"max_bins": max_bins}
    reps = survival_replicates(
        time,
        event,
        risk,
        table.cell,
        table.partitions,
        released,
        horizon=horizon,
        threshold=threshold,
        n_boot=n_boot,
        seed=seed,
        points=points,
        progress=progress,
        **extra,
    )
    intervals = survival_intervals(reps, confidence)
    smooth = smoother_intervals(
        time,
        event,
        risk,
        table.cell,
        table.partitions,
        released,
        [[None if r.survival is None else dict(r.values) for r in row] for row in table.rows],
        [[() if r.survival is None else r.survival.summary.calibration_curve for r in row]
         for row in table.rows],
        horizon=horizon,
        n_smooth=min(n_boot, SMOOTHER_REPLICATES),
        seed=seed,
        confidence=confidence,
    )  # fmt: skip
    nb_intervals, nb_undefined = net_benefit_intervals(
        time,
        event,
        risk,
        table.cell,
        table.partitions,
        [[rel and not hid for rel, hid in zip(rr, hh, strict=True)]
         for rr, hh in zip(released, decision.confusion_hidden, strict=True)],
        [[None if r.survival is None else dict(r.values) for r in row] for row in table.rows],
        horizon=horizon,
        threshold=threshold,
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
    )  # fmt: skip
    bands = decision_curve_intervals(
        time,
        event,
        risk,
        table.cell,
        table.partitions,
        [
            [
                r.survival.summary.decision_curve
                if decision_curves_up_to is not None
                and released[p][g]
                and r.survival is not None
                and len(table.partitions[p].attributes) <= decision_curves_up_to
                else None
                for g, r in enumerate(row)
            ]
            for p, row in enumerate(table.rows)
        ],
        horizon=horizon,
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
    )
    analytic = set(table.ci_methods)
    boot_ci = tuple(m for m in BOOT_METRICS if m not in analytic)
    rows = []
    for p, row in enumerate(table.rows):
        new_row = []
        for g, r in enumerate(row):
            if not released[p][g] or r.survival is None:
                new_row.append(r)
                continue
            ci = dict(r.ci)
            for m in boot_ci:
                lo, hi = intervals[p][m][0][g], intervals[p][m][1][g]
                if math.isfinite(lo) and math.isfinite(hi):
                    ci[m] = (float(lo), float(hi))
            undefined = {
                m: int(reps.undefined[p][m][g]) for m in BOOT_METRICS if reps.undefined[p][m][g]
            }
            for m in NB_KEYS:
                lo, hi = nb_intervals[p][m][0][g], nb_intervals[p][m][1][g]
                if math.isfinite(lo) and math.isfinite(hi):
                    ci[m] = (float(lo), float(hi))
                if nb_undefined[p][m][g] and not decision.confusion_hidden[p][g]:
                    undefined[m] = int(nb_undefined[p][m][g])
            for m in SMOOTHER_METRICS:
                lo, hi = smooth.intervals[p][m][0][g], smooth.intervals[p][m][1][g]
                if math.isfinite(lo) and math.isfinite(hi):
                    ci[m] = (float(lo), float(hi))
                if smooth.undefined[p][m][g]:
                    undefined[m] = int(smooth.undefined[p][m][g])
            facts = r.survival
            band = smooth.bands[p][g]
            if band is not None:
                facts = replace(facts, curve_band=tuple(zip(*band, strict=True)))
            d = bands[p][g]
            if d is not None:
                facts = replace(
                    facts,
                    decision_band=tuple(
                        zip(d.nb_low, d.nb_high, d.gain_low, d.gain_high, strict=True)
                    ),
                )
            new_row.append(replace(r, ci=ci, undefined_replicates=undefined, survival=facts))
        rows.append(tuple(new_row))
    methods = dict(table.ci_methods)
    methods.update({m: BOOTSTRAP_CI_METHOD for m in boot_ci})
    smoother_method = SMOOTHER_METHOD.format(
        n=smooth.n_smooth, t=SMOOTHER_TIME_BINS, r=SMOOTHER_RISK_BINS
    )
    methods.update({m: smoother_method for m in SMOOTHER_METRICS})
    methods.update({m: UTILITY_METHOD.format(t=UTILITY_TIME_BINS) for m in NB_KEYS})
    return replace(
        table,
        rows=tuple(rows),
        replicates=reps.replicates,
        overall_replicates=reps.overall,
        n_boot=reps.n_boot,
        n_bins=reps.n_bins,
        grid_exact=reps.grid_exact,
        auroc_bin_error_bound=None,
        ci_methods=methods,
        bootstrap_ci=boot_ci,
    )
