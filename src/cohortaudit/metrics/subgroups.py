"""Per-group metrics for the whole cohort, every subgroup and every intersection, in one pass.

The design is sufficient statistics first:

1. Every patient belongs to one *finest cell* (a combination of all sensitive attributes).
2. A *partition* is a set of attributes (``()`` is the whole cohort, ``("sex",)``,
   ``("sex", "age")`` ...); its groups are unions of finest cells, given by a 0/1 membership
   matrix. Marginal groups never need another pass over the patients.
3. Exact point estimates come from each group's sorted scores split by outcome (one global
   sort, then one stable integer sort per partition).
4. Bootstrap replicates come from per-partition group histograms (see
   :mod:`cohortaudit.metrics.bootstrap`) -- no Python loop over replicates calls sklearn, and
   only groups that disclosure control releases are bootstrapped.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cohortaudit.metrics.bootstrap import (
    BINNED_METRICS,
    binned_metrics,
    fine_cells,
    group_histograms,
    iter_replicates,
    make_score_grid,
    percentile_intervals,
)
from cohortaudit.metrics.calibration import VALUE_KEYS as CALIBRATION_VALUE_KEYS
from cohortaudit.metrics.calibration import CalibrationEstimate, calibration_point
from cohortaudit.metrics.calibration_boot import (
    CALIBRATION_BOOT_METRICS,
    ECE_EDGES,
    SMOOTHER_METRICS,
    calibration_bins,
    replicate_calibration,
)
from cohortaudit.metrics.curves import curve_support, risk_histogram
from cohortaudit.metrics.performance import (
    Confusion,
    auroc_delong,
    average_precision,
    brier_score,
    confusion_at,
    threshold_metric_values,
    threshold_proportions,
    wilson_interval,
)
from cohortaudit.registry import METRICS

__all__ = [
    "Partition",
    "GroupEstimate",
    "EngineOutput",
    "compute_point_estimates",
    "bootstrap_intervals",
    "compute_group_metrics",
    "build_partitions",
    "METRIC_KEYS",
    "CI_METHODS",
    "THRESHOLD_GRID",
]

#: Calibration metric keys of the public contract, in the estimator's order.
CALIBRATION_METRIC_KEYS = tuple(k for k in CALIBRATION_VALUE_KEYS if k != "hosmer_lemeshow_chi2")

#: The metric keys of the public contract, in display order.
METRIC_KEYS = tuple(METRICS)

#: The order in which ``settings.ci_methods`` lists the metrics (DeLong, the bootstrap, Wilson,
#: the calibration fits, then metrics with no interval): the report's table of interval methods
#: follows it, so it is kept as it was. The methods themselves come from the registry.
_CI_ORDER = (
    "auroc",
    "auprc",
    "brier",
    "balanced_accuracy",
    "f1",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "fpr",
    "fnr",
    "accuracy",
    "selection_rate",
    "prevalence",
    "oe_ratio",
    "citl",
    "calibration_slope",
    "recalibration_intercept",
    "ici",
    "e50",
    "e90",
    "emax",
    "ece",
    "scaled_brier",
    "discrimination_slope",
    "spiegelhalter_z",
    "spiegelhalter_p",
    "hosmer_lemeshow_p",
)
#: How each metric's confidence interval is computed (stated in the JSON and the report).
CI_METHODS = {k: METRICS[k].ci_method for k in _CI_ORDER}

_BOOTSTRAP_CI = tuple(k for k in CI_METHODS if METRICS[k].bootstrapped)

#: Every metric with bootstrap replicates.
ALL_BOOT_METRICS = (*BINNED_METRICS, *CALIBRATION_BOOT_METRICS, *SMOOTHER_METRICS)

#: Replicates on which the calibration smoother is refitted (ICI, E50, E90, Emax).
SMOOTHER_REPLICATES = 200

#: Fixed threshold grid (disclosure rule 4: curves go out on fixed grids only).
THRESHOLD_GRID = np.round(np.arange(1, 100) / 100, 2)


@dataclass(frozen=True)
class Partition:
    """A set of attributes and its groups, as unions of finest cells."""

    attributes: tuple[str, ...]
    keys: tuple[tuple[str, ...], ...]
    membership: np.ndarray  # (G, C) float64 of 0/1
    cell_to_group: np.ndarray  # (C,) int64

    def attributes_of(self, g: int) -> dict[str, str]:
        return dict(zip(self.attributes, self.keys[g], strict=False))


@dataclass
class GroupEstimate:
    """Exact point estimates and closed-form intervals for one group (before disclosure)."""

    partition: int
    index: int
    attributes: dict[str, str]
    n: int
    events: int
    confusion: Confusion
    values: dict[str, float]
    ci: dict[str, tuple[float, float]]
    #: (len(THRESHOLD_GRID), 4) confusion counts tp, fp, tn, fn at each grid threshold
    grid_counts: np.ndarray | None = None
    #: exact calibration estimate (curve, table, smoother) for this group
    calibration: CalibrationEstimate | None = None
    #: risk histogram (all counts: :mod:`cohortaudit.disclosure` decides which bins leave)
    #: and the k-safe range of predictions (never exported)
    risk_histogram: dict | None = None
    support: tuple[float, float] = (math.inf, -math.inf)
    undefined_replicates: dict[str, int] = field(default_factory=dict)


@dataclass
class EngineOutput:
    """Everything the engine computed; disclosure and fairness read from here."""

    partitions: list[Partition]
    estimates: list[list[GroupEstimate]]  # [partition][group]
    cell: np.ndarray  # finest-cell code of each patient
    threshold: float
    #: [partition] metric -> (B, G) shift-corrected replicates (NaN for unreleased groups)
    replicates: list[dict[str, np.ndarray]] = field(default_factory=list)
    #: [partition] metric -> (B,) the whole cohort, as the sum of that partition's replicates
    overall_replicates: list[dict[str, np.ndarray]] = field(default_factory=list)
    grid_exact: bool = True
    n_bins: int = 0
    auroc_bin_error_bound: float = 0.0
    n_boot: int = 0
    n_smooth: int = 0


def build_cells(
    groups: pd.DataFrame,
) -> tuple[np.ndarray, list[tuple[str, ...]], list[dict[str, int]]]:
    """Finest cells: codes per patient, the key of each cell, and each attribute's order.

    An attribute's groups are ordered by its categories when it is an ordered categorical
    (bins: "< 40", "[40, 50)", ..., "> 80"), else alphabetically; cells and every partition's
    groups follow those orders, so tables read in a natural order.
    """
    if groups.shape[1] == 0:
        return np.zeros(len(groups), dtype=np.int64), [()], []
    codes_per_column, uniques_per_column = [], []
    for col in groups.columns:
        series = groups[col]
        if isinstance(series.dtype, pd.CategoricalDtype):
            codes, uniques = pd.factorize(series, sort=True)
            values = [str(v) for v in uniques]
        else:
            codes, uniques = pd.factorize(series.astype(str), sort=True)
            values = [str(v) for v in uniques]
        codes_per_column.append(codes.astype(np.int64))
        uniques_per_column.append(values)
    combined = np.zeros(len(groups), dtype=np.int64)
    for codes, values in zip(codes_per_column, uniques_per_column, strict=True):
        combined = combined * len(values) + codes
    distinct, cell = np.unique(combined, return_inverse=True)
    keys = []
    for value in distinct:
        parts = []
        for values in reversed(uniques_per_column):
            value, code = divmod(int(value), len(values))
            parts.append(values[code])
        keys.append(tuple(reversed(parts)))
    orders = [{v: i for i, v in enumerate(values)} for values in uniques_per_column]
    return cell.astype(np.int64).ravel(), keys, orders


def build_partitions(
    cell_keys: list[tuple[str, ...]],
    features: tuple[str, ...],
    *,
    max_order: int,
    orders: list[dict[str, int]] | None = None,
) -> list[Partition]:
    """The whole cohort first, then every single attribute, then intersections up to max_order."""
    n_cells = len(cell_keys)
    parts = [
        Partition(
            attributes=(),
            keys=((),),
            membership=np.ones((1, n_cells)),
            cell_to_group=np.zeros(n_cells, dtype=np.int64),
        )
    ]
    for order in range(1, min(max_order, len(features)) + 1):
        for combo in itertools.combinations(range(len(features)), order):
            projected = [tuple(key[i] for i in combo) for key in cell_keys]
            if orders:
                keys = tuple(
                    sorted(
                        set(projected),
                        key=lambda k, c=combo: tuple(
                            orders[i][v] for i, v in zip(c, k, strict=True)
                        ),
                    )
                )
            else:
                keys = tuple(sorted(set(projected)))
            index = {k: i for i, k in enumerate(keys)}
            cell_to_group = np.array([index[p] for p in projected], dtype=np.int64)
            membership = np.zeros((len(keys), n_cells))
            membership[cell_to_group, np.arange(n_cells)] = 1.0
            parts.append(
                Partition(
                    attributes=tuple(features[i] for i in combo),
                    keys=keys,
                    membership=membership,
                    cell_to_group=cell_to_group,
                )
            )
    return parts


def _point_estimates(
    pos: np.ndarray, neg: np.ndarray, threshold: float, z: float
) -> tuple[Confusion, dict[str, float], dict[str, tuple[float, float]]]:
    n, m = len(pos) + len(neg), len(pos)
    conf = confusion_at(pos, neg, threshold)
    values = threshold_metric_values(conf)
    auc, se = auroc_delong(pos, neg)
    values["auroc"] = auc
    values["auprc"] = average_precision(pos, neg)
    values["brier"] = brier_score(pos, neg)
    values["prevalence"] = m / n if n else math.nan
    ci: dict[str, tuple[float, float]] = {}
    if math.isfinite(se):
        ci["auroc"] = (max(0.0, auc - z * se), min(1.0, auc + z * se))
    for key, (x, d) in threshold_proportions(conf).items():
        ci[key] = wilson_interval(x, d, z)
    ci["prevalence"] = wilson_interval(m, n, z)
    return conf, values, ci


def _grid_counts(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Exact confusion counts (tp, fp, tn, fn) at every threshold of THRESHOLD_GRID."""
    tp = len(pos) - np.searchsorted(pos, THRESHOLD_GRID, side="left")
    fp = len(neg) - np.searchsorted(neg, THRESHOLD_GRID, side="left")
    return np.stack([tp, fp, len(neg) - fp, len(pos) - tp], axis=1).astype(np.int64)


def compute_point_estimates(
    scores: np.ndarray,
    y: np.ndarray,
    groups: pd.DataFrame,
    *,
    threshold: float,
    z: float,
    max_order: int,
    min_cell: int = 10,
) -> EngineOutput:
    """Exact point estimates, closed-form CIs and threshold-grid counts for every group.

    One global sort of the scores, then per partition one stable sort by integer group key:
    each group's scores come out split by outcome and already sorted.
    """
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y, dtype=np.int8)
    features = tuple(groups.columns)
    cell, cell_keys, orders = build_cells(groups)
    partitions = build_partitions(cell_keys, features, max_order=max_order, orders=orders)
    order = np.argsort(scores, kind="stable")
    s_sorted, y_sorted, cell_sorted = scores[order], y[order], cell[order]
    estimates: list[list[GroupEstimate]] = []
    pool = ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1))
    for p_index, part in enumerate(partitions):
        key = part.cell_to_group[cell_sorted] * 2 + y_sorted
        if 2 * len(part.keys) <= np.iinfo(np.int16).max:
            key = key.astype(np.int16)  # numpy's stable sort is a radix sort for 16-bit keys
        by_key = np.argsort(key, kind="stable")
        sizes = np.bincount(key, minlength=2 * len(part.keys))
        blocks = np.split(s_sorted[by_key], np.cumsum(sizes)[:-1])

        def _one(g: int, part=part, blocks=blocks, p_index=p_index) -> GroupEstimate:
            neg, pos = blocks[2 * g], blocks[2 * g + 1]
            conf, values, ci = _point_estimates(pos, neg, threshold, z)
            cal = calibration_point(pos, neg, z=z)
            values.update(cal.values)
            ci.update(cal.ci)
            return GroupEstimate(
                partition=p_index,
                index=g,
                attributes=part.attributes_of(g),
                n=len(pos) + len(neg),
                events=len(pos),
                confusion=conf,
                values=values,
                ci=ci,
                grid_counts=_grid_counts(pos, neg),
                calibration=cal,
                risk_histogram=risk_histogram(pos, neg, 0),  # disclosure control withholds
                support=curve_support(pos, neg, min_cell),
            )

        # numpy releases the GIL in the array work of each group's fits, so groups run on a
        # small thread pool; results come back in group order (deterministic output)
        row = list(pool.map(_one, range(len(part.keys))))
        estimates.append(row)
    pool.shutdown()
    return EngineOutput(partitions=partitions, estimates=estimates, cell=cell, threshold=threshold)


def bootstrap_intervals(
    engine: EngineOutput,
    scores: np.ndarray,
    y: np.ndarray,
    *,
    released: list[list[bool]],
    n_boot: int,
    seed: int,
    confidence: float,
    max_bins: int,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Stratified bootstrap; fills replicates, bootstrap CIs and undefined-replicate counts.

    Only released groups get replicate metrics: withheld ones are never shown, so computing
    them would only cost time.
    """
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y, dtype=np.int8)
    grid = make_score_grid(scores, engine.threshold, max_bins=max_bins, extra_edges=ECE_EDGES)
    engine.grid_exact, engine.n_bins, engine.n_boot = grid.exact, grid.n_bins, n_boot
    n_smooth = min(n_boot, SMOOTHER_REPLICATES)
    engine.n_smooth = n_smooth
    whole = group_histograms(scores, y, np.zeros(len(scores), dtype=np.int64), 1, grid)
    pos_b, neg_b = whole.counts[0, 1].astype(float), whole.counts[0, 0].astype(float)
    engine.auroc_bin_error_bound = (
        0.0
        if grid.exact
        else float(0.5 * np.sum(pos_b * neg_b) / max(pos_b.sum() * neg_b.sum(), 1.0))
    )
    if n_boot <= 0:
        return
    n_cells = len(engine.partitions[0].cell_to_group)
    cells = fine_cells(scores, y, engine.cell, n_cells, grid)
    k2 = 2 * grid.n_bins

    # per partition: which entries feed which (released group, slot), as reduceat plans
    patient_bins = grid.assign(scores)
    plans = []
    for p_index, part in enumerate(engine.partitions):
        keep = np.flatnonzero([released[p_index][g] for g in range(len(part.keys))])
        position = np.full(len(part.keys), -1)
        position[keep] = np.arange(len(keep))
        g_of_entry = position[part.cell_to_group[cells.cell]]
        use = np.flatnonzero(g_of_entry >= 0)
        rows = g_of_entry[use] * k2 + cells.slot[use]
        by_row = np.argsort(rows, kind="stable")
        slot_rows, slot_starts = np.unique(rows[by_row], return_index=True)
        by_group = np.argsort(g_of_entry[use], kind="stable")
        groups_hit, group_starts = np.unique(g_of_entry[use][by_group], return_index=True)
        cal_bins = None
        if len(keep):
            knots = [
                (
                    np.asarray(engine.estimates[p_index][g].calibration.knots)
                    if engine.estimates[p_index][g].calibration is not None
                    and len(engine.estimates[p_index][g].calibration.knots) >= 3
                    else None
                )
                for g in keep
            ]
            ests = [engine.estimates[p_index][g].values for g in keep]
            starts = tuple(
                np.array([e[m] for e in ests])
                for m in ("citl", "recalibration_intercept", "calibration_slope")
            )
            spline = [engine.estimates[p_index][g].calibration.spline_coef for g in keep]
            cal_bins = calibration_bins(
                scores,
                y,
                part.cell_to_group[engine.cell],
                keep,
                patient_bins,
                grid.n_bins,
                grid.edges,
                knots,
                starts,
                spline,
            )
        plans.append(
            (
                keep,
                use[by_row],
                slot_rows,
                slot_starts,
                use[by_group],
                groups_hit,
                group_starts,
                cal_bins,
            )
        )

    def _metrics(
        draws: np.ndarray, loss_entries: np.ndarray, plan, smoother: bool
    ) -> dict[str, np.ndarray]:
        """draws, loss_entries: (n_entries, r). Returns metric -> (r, released groups)."""
        keep, slot_use, slot_rows, slot_starts, group_use, groups_hit, group_starts, cb = plan
        r = draws.shape[1]
        counts = np.zeros((len(keep) * k2, r), dtype=draws.dtype)
        counts[slot_rows] = np.add.reduceat(draws[slot_use], slot_starts, axis=0)
        loss = np.zeros((len(keep), r))
        loss[groups_hit] = np.add.reduceat(loss_entries[group_use], group_starts, axis=0)
        counts = np.ascontiguousarray(
            counts.reshape(len(keep), 2, grid.n_bins, r).transpose(3, 0, 1, 2)
        )
        out = binned_metrics(counts, loss.T, grid.threshold_bin)
        out.update(replicate_calibration(counts, loss.T, cb, smoother=smoother))
        return out

    # binned point estimates (the shift that centres replicates on the exact estimates)
    base_draw = cells.count[:, None].astype(np.float64)
    shifts = []
    for p_index, plan in enumerate(plans):
        keep = plan[0]
        if len(keep) == 0:
            shifts.append({})
            continue
        base = _metrics(base_draw, base_draw * cells.mean_loss[:, None], plan, True)
        shifts.append(
            {
                m: np.array([engine.estimates[p_index][g].values[m] for g in keep]) - base[m][0]
                for m in ALL_BOOT_METRICS
            }
        )

    collected: list[dict[str, list[np.ndarray]]] = [
        {m: [] for m in ALL_BOOT_METRICS} for _ in plans
    ]
    rng = np.random.default_rng(seed)
    done = 0
    # Partitions are independent given a chunk of draws, and their array work releases the
    # GIL: two at a time use both cores. Results are gathered in partition order, and the
    # draws come from one generator in one thread, so the output is the same as serially.
    # The next chunk is drawn while the pool works on this one (same generator, same thread,
    # same order: the draws do not change, they only stop waiting for the metrics).
    pool = ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1))
    chunks = iter_replicates(cells, n_boot=n_boot, rng=rng)
    draws = next(chunks, None)
    while draws is not None:
        loss_entries = draws * cells.mean_loss[:, None]  # float64: sums of squares
        smoother = done < n_smooth
        active = [(i, plan) for i, plan in enumerate(plans) if len(plan[0])]
        futures = [pool.submit(_metrics, draws, loss_entries, plan, smoother) for _, plan in active]
        next_draws = next(chunks, None)
        for (p_index, _plan), future in zip(active, futures, strict=True):
            reps = future.result()
            for m in ALL_BOOT_METRICS:
                if m in SMOOTHER_METRICS:
                    if smoother:
                        collected[p_index][m].append(reps[m][: n_smooth - done])
                else:
                    collected[p_index][m].append(reps[m])
        done += draws.shape[1]
        if progress is not None:
            progress(done, n_boot)
        draws = next_draws
    pool.shutdown()

    for p_index, part in enumerate(engine.partitions):
        keep = plans[p_index][0]
        full = {
            m: np.full((n_smooth if m in SMOOTHER_METRICS else n_boot, len(part.keys)), np.nan)
            for m in ALL_BOOT_METRICS
        }
        if len(keep):
            for m in ALL_BOOT_METRICS:
                full[m][:, keep] = np.concatenate(collected[p_index][m]) + shifts[p_index][m]
        engine.replicates.append(full)
        for m in ALL_BOOT_METRICS:
            lo, hi, undefined = percentile_intervals(full[m][:, keep], confidence)
            for j, g in enumerate(keep):
                e = engine.estimates[p_index][g]
                if undefined[j]:
                    e.undefined_replicates[m] = int(undefined[j])
                if m in _BOOTSTRAP_CI:
                    e.ci[m] = (float(lo[j]), float(hi[j]))
    overall = engine.replicates[0]
    engine.overall_replicates = [
        {m: overall[m][:, 0] for m in ALL_BOOT_METRICS} for _ in engine.partitions
    ]


def compute_group_metrics(
    scores: np.ndarray,
    y: np.ndarray,
    groups: pd.DataFrame,
    *,
    threshold: float,
    z: float,
    confidence: float,
    n_boot: int,
    seed: int,
    max_bins: int,
    max_order: int,
    released: list[list[bool]] | None = None,
    min_cell: int = 10,
    progress: Callable[[int, int], None] | None = None,
) -> EngineOutput:
    """Point estimates and bootstrap in one call (every group released unless told otherwise)."""
    engine = compute_point_estimates(
        scores, y, groups, threshold=threshold, z=z, max_order=max_order, min_cell=min_cell
    )
    if released is None:
        released = [[True] * len(row) for row in engine.estimates]
    bootstrap_intervals(
        engine,
        scores,
        y,
        released=released,
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
        max_bins=max_bins,
        progress=progress,
    )
    return engine
