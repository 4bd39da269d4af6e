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
from dataclasses import dataclass, replace
from typing import Any

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
from cohortaudit.metrics.calibration import calibration_point
from cohortaudit.metrics.calibration_boot import (
    CALIBRATION_BOOT_METRICS,
    ECE_EDGES,
    SMOOTHER_METRICS,
    calibration_bins,
    replicate_calibration,
)
from cohortaudit.metrics.curves import curve_support, risk_histogram
from cohortaudit.metrics.expected import EXPECTED_METRICS, expected_arrays, expected_from_sorted
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
from cohortaudit.metrics.table import GroupRow, GroupTable, Partition, calibration_facts
from cohortaudit.registry import METRICS

__all__ = [
    "Partition",
    "GroupRow",
    "GroupTable",
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
    *EXPECTED_METRICS,
)
#: How each metric's confidence interval is computed (stated in the JSON and the report).
CI_METHODS = {k: METRICS[k].ci_method for k in _CI_ORDER}

_BOOTSTRAP_CI = tuple(k for k in CI_METHODS if METRICS[k].bootstrapped)

#: Every metric with bootstrap replicates.
ALL_BOOT_METRICS = (*BINNED_METRICS, *CALIBRATION_BOOT_METRICS, *SMOOTHER_METRICS, *EXPECTED_METRICS)

#: Replicates on which the calibration smoother is refitted (ICI, E50, E90, Emax).
SMOOTHER_REPLICATES = 200

#: Fixed threshold grid (disclosure rule 4: curves go out on fixed grids only).
THRESHOLD_GRID = np.round(np.arange(1, 100) / 100, 2)


#: The engine's output is the group table (the names before issue 15 stay importable).
EngineOutput = GroupTable
GroupEstimate = GroupRow


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
    values.update(expected_from_sorted(pos, neg, threshold))
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
) -> GroupTable:
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
    rows: list[tuple[GroupRow, ...]] = []
    pool = ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1))
    for p_index, part in enumerate(partitions):
        key = part.cell_to_group[cell_sorted] * 2 + y_sorted
        if 2 * len(part.keys) <= np.iinfo(np.int16).max:
            key = key.astype(np.int16)  # numpy's stable sort is a radix sort for 16-bit keys
        by_key = np.argsort(key, kind="stable")
        sizes = np.bincount(key, minlength=2 * len(part.keys))
        blocks = np.split(s_sorted[by_key], np.cumsum(sizes)[:-1])

        def _one(g: int, part=part, blocks=blocks, p_index=p_index) -> GroupRow:
            neg, pos = blocks[2 * g], blocks[2 * g + 1]
            conf, values, ci = _point_estimates(pos, neg, threshold, z)
            cal = calibration_point(pos, neg, z=z)
            values.update(cal.values)
            ci.update(cal.ci)
            return GroupRow(
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
                ece_table=tuple(dict(r) for r in cal.ece_table or ()),
                calibration_facts=calibration_facts(cal, values.get("hosmer_lemeshow_chi2")),
                risk_histogram=risk_histogram(pos, neg, 0),  # disclosure control withholds
                support=curve_support(pos, neg, min_cell),
            )

        # numpy releases the GIL in the array work of each group's fits, so groups run on a
        # small thread pool; results come back in group order (deterministic output)
        rows.append(tuple(pool.map(_one, range(len(part.keys)))))
    pool.shutdown()
    return GroupTable(
        partitions=tuple(partitions),
        rows=tuple(rows),
        threshold=threshold,
        cell=cell,
        ci_methods=dict(CI_METHODS),
        bootstrap_ci=_BOOTSTRAP_CI,
    )


@dataclass(frozen=True)
class _Plan:
    """How one partition's bootstrap entries feed its released groups (``reduceat`` plans)."""

    keep: np.ndarray  # released groups, in group order
    slot_use: np.ndarray
    slot_rows: np.ndarray
    slot_starts: np.ndarray
    group_use: np.ndarray
    groups_hit: np.ndarray
    group_starts: np.ndarray
    calibration_bins: Any
    group_above: np.ndarray  # per entry of group_use: is its score bin at or above t?


def bootstrap_intervals(
    table: GroupTable,
    scores: np.ndarray,
    y: np.ndarray,
    *,
    released: list[list[bool]],
    n_boot: int,
    seed: int,
    confidence: float,
    max_bins: int,
    progress: Callable[[int, int], None] | None = None,
) -> GroupTable:
    """Stratified bootstrap: a new table with replicates, bootstrap CIs and undefined counts.

    Only released groups get replicate metrics: withheld ones are never shown, so computing
    them would only cost time. Steps: the score grid, one plan per partition, the shift that
    centres replicates on the exact estimates, the draws, then intervals per group.
    """
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y, dtype=np.int8)
    grid = make_score_grid(scores, table.threshold, max_bins=max_bins, extra_edges=ECE_EDGES)
    table = replace(
        table,
        grid_exact=grid.exact,
        n_bins=grid.n_bins,
        n_boot=n_boot,
        n_smooth=min(n_boot, SMOOTHER_REPLICATES),
        auroc_bin_error_bound=auroc_bin_error_bound(scores, y, grid),
    )
    if n_boot <= 0:
        return table
    cells = fine_cells(scores, y, table.cell, len(table.partitions[0].cell_to_group), grid)
    patient_bins = grid.assign(scores)
    plans = [
        _partition_plan(table, p, released[p], cells, grid, scores, y, patient_bins)
        for p in range(len(table.partitions))
    ]
    shifts = [_centring_shift(table, p, plan, cells, grid) for p, plan in enumerate(plans)]
    collected = _draw_replicates(plans, cells, grid, n_boot, table.n_smooth, seed, progress)
    replicates = tuple(
        _full_replicates(table, p, plan, collected[p], shifts[p]) for p, plan in enumerate(plans)
    )
    rows = tuple(
        _with_intervals(table, p, plan.keep, replicates[p], confidence)
        for p, plan in enumerate(plans)
    )
    overall = replicates[0]
    return replace(
        table,
        rows=rows,
        replicates=replicates,
        overall_replicates=tuple(
            {m: overall[m][:, 0] for m in ALL_BOOT_METRICS} for _ in table.partitions
        ),
    )


def auroc_bin_error_bound(scores: np.ndarray, y: np.ndarray, grid) -> float:
    """The whole cohort's bound on the binned AUROC's error (0 when the grid is exact)."""
    whole = group_histograms(scores, y, np.zeros(len(scores), dtype=np.int64), 1, grid)
    pos_b, neg_b = whole.counts[0, 1].astype(float), whole.counts[0, 0].astype(float)
    if grid.exact:
        return 0.0
    return float(0.5 * np.sum(pos_b * neg_b) / max(pos_b.sum() * neg_b.sum(), 1.0))


def _partition_plan(
    table: GroupTable,
    p_index: int,
    released: list[bool],
    cells,
    grid,
    scores: np.ndarray,
    y: np.ndarray,
    patient_bins: np.ndarray,
) -> _Plan:
    """Which bootstrap entries feed which (released group, slot) of one partition."""
    part = table.partitions[p_index]
    k2 = 2 * grid.n_bins
    keep = np.flatnonzero([released[g] for g in range(len(part.keys))])
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
        ests = [table.rows[p_index][g] for g in keep]
        knots = [
            (
                np.asarray(e.calibration.knots)
                if e.calibration is not None and len(e.calibration.knots) >= 3
                else None
            )
            for e in ests
        ]
        starts = tuple(
            np.array([e.values[m] for e in ests])
            for m in ("citl", "recalibration_intercept", "calibration_slope")
        )
        spline = [e.calibration.spline_coef for e in ests]
        cal_bins = calibration_bins(
            scores,
            y,
            part.cell_to_group[table.cell],
            keep,
            patient_bins,
            grid.n_bins,
            grid.edges,
            knots,
            starts,
            spline,
        )
    return _Plan(
        keep=keep,
        slot_use=use[by_row],
        slot_rows=slot_rows,
        slot_starts=slot_starts,
        group_use=use[by_group],
        groups_hit=groups_hit,
        group_starts=group_starts,
        calibration_bins=cal_bins,
        group_above=(cells.slot[use[by_group]] % grid.n_bins) >= grid.threshold_bin,
    )


def _replicate_metrics(
    draws: np.ndarray,
    loss_entries: np.ndarray,
    plan: _Plan,
    grid,
    smoother: bool,
    score_entries: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """draws, loss_entries, score_entries (sum of p): (n_entries, r). Returns metric -> (r,
    released groups)."""
    keep, k2 = plan.keep, 2 * grid.n_bins
    r = draws.shape[1]
    counts = np.zeros((len(keep) * k2, r), dtype=draws.dtype)
    counts[plan.slot_rows] = np.add.reduceat(draws[plan.slot_use], plan.slot_starts, axis=0)
    loss = np.zeros((len(keep), r))
    loss[plan.groups_hit] = np.add.reduceat(loss_entries[plan.group_use], plan.group_starts, axis=0)
    counts = np.ascontiguousarray(
        counts.reshape(len(keep), 2, grid.n_bins, r).transpose(3, 0, 1, 2)
    )
    out = binned_metrics(counts, loss.T, grid.threshold_bin)
    out.update(replicate_calibration(counts, loss.T, plan.calibration_bins, smoother=smoother))
    out.update(_expected_replicates(counts, score_entries, plan, grid))
    return out


def _expected_replicates(counts, score_entries, plan: _Plan, grid) -> dict[str, np.ndarray]:
    """Expected error rates under calibration per replicate: the sums of p above and below
    the threshold bin (exact: the threshold is a bin edge) and the counts on each side."""
    r, n_keep = counts.shape[0], counts.shape[1]
    if score_entries is None:
        return {m: np.full((r, n_keep), np.nan) for m in EXPECTED_METRICS}
    tb = grid.threshold_bin
    picked = score_entries[plan.group_use]
    above = plan.group_above[:, None]
    sums = np.zeros((2, n_keep, r))
    if len(plan.groups_hit):
        for side, part in enumerate((np.where(above, picked, 0.0), np.where(above, 0.0, picked))):
            sums[side, plan.groups_hit] = np.add.reduceat(part, plan.group_starts, axis=0)
    n_above = counts[..., tb:].sum(axis=(-2, -1), dtype=np.float64)
    n_below = counts[..., :tb].sum(axis=(-2, -1), dtype=np.float64)
    return expected_arrays(sums[0].T, n_above, sums[1].T, n_below)


def _centring_shift(table: GroupTable, p_index: int, plan: _Plan, cells, grid):
    """Exact estimate minus binned point estimate: what centres the replicates."""
    keep = plan.keep
    if len(keep) == 0:
        return {}
    base_draw = cells.count[:, None].astype(np.float64)
    base = _replicate_metrics(
        base_draw, base_draw * cells.mean_loss[:, None], plan, grid, True, _scored(base_draw, cells)
    )
    return {
        m: np.array([table.rows[p_index][g].values[m] for g in keep]) - base[m][0]
        for m in ALL_BOOT_METRICS
    }


def _scored(draws: np.ndarray, cells) -> np.ndarray | None:
    """Sum of p per entry and replicate (float64), None when the cells carry no mean score."""
    return None if cells.mean_score is None else draws * cells.mean_score[:, None]


def _draw_replicates(
    plans: list[_Plan],
    cells,
    grid,
    n_boot: int,
    n_smooth: int,
    seed: int,
    progress: Callable[[int, int], None] | None,
) -> list[dict[str, list[np.ndarray]]]:
    """Per partition, metric -> chunks of (r, released groups) replicate metrics.

    Partitions are independent given a chunk of draws, and their array work releases the
    GIL: two at a time use both cores. Results are gathered in partition order, and the
    draws come from one generator in one thread, so the output is the same as serially.
    The next chunk is drawn while the pool works on this one (same generator, same thread,
    same order: the draws do not change, they only stop waiting for the metrics).
    """
    collected: list[dict[str, list[np.ndarray]]] = [
        {m: [] for m in ALL_BOOT_METRICS} for _ in plans
    ]
    rng = np.random.default_rng(seed)
    done = 0
    pool = ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1))
    chunks = iter_replicates(cells, n_boot=n_boot, rng=rng)
    draws = next(chunks, None)
    while draws is not None:
        loss_entries = draws * cells.mean_loss[:, None]  # float64: sums of squares
        score_entries = _scored(draws, cells)
        smoother = done < n_smooth
        active = [(i, plan) for i, plan in enumerate(plans) if len(plan.keep)]
        futures = [
            pool.submit(
                _replicate_metrics, draws, loss_entries, plan, grid, smoother, score_entries
            )
            for _, plan in active
        ]
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
    return collected


def _full_replicates(
    table: GroupTable, p_index: int, plan: _Plan, collected, shift
) -> dict[str, np.ndarray]:
    """metric -> (B, G) shifted replicates of one partition, NaN for groups not released."""
    n_groups = len(table.partitions[p_index].keys)
    full = {
        m: np.full((table.n_smooth if m in SMOOTHER_METRICS else table.n_boot, n_groups), np.nan)
        for m in ALL_BOOT_METRICS
    }
    if len(plan.keep):
        for m in ALL_BOOT_METRICS:
            full[m][:, plan.keep] = np.concatenate(collected[m]) + shift[m]
    return full


def _with_intervals(
    table: GroupTable, p_index: int, keep: np.ndarray, full, confidence: float
) -> tuple[GroupRow, ...]:
    """The partition's rows with bootstrap CIs and undefined-replicate counts added."""
    rows = list(table.rows[p_index])
    ci: dict[int, dict] = {int(g): dict(rows[g].ci) for g in keep}
    undefined: dict[int, dict] = {int(g): dict(rows[g].undefined_replicates) for g in keep}
    for m in ALL_BOOT_METRICS:
        lo, hi, bad = percentile_intervals(full[m][:, keep], confidence)
        for j, g in enumerate(keep):
            if bad[j]:
                undefined[int(g)][m] = int(bad[j])
            if m in table.bootstrap_ci:
                ci[int(g)][m] = (float(lo[j]), float(hi[j]))
    for g in ci:
        rows[g] = replace(rows[g], ci=ci[g], undefined_replicates=undefined[g])
    return tuple(rows)


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
) -> GroupTable:
    """Point estimates and bootstrap in one call (every group released unless told otherwise)."""
    engine = compute_point_estimates(
        scores, y, groups, threshold=threshold, z=z, max_order=max_order, min_cell=min_cell
    )
    if released is None:
        released = [[True] * len(row) for row in engine.rows]
    return bootstrap_intervals(
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
