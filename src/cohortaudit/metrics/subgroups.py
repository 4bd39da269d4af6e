"""Per-group metrics for the whole cohort, every subgroup and every intersection, in one pass.

The design is sufficient statistics first:

1. Every patient belongs to one *finest cell* (a combination of all sensitive attributes).
2. A *partition* is a set of attributes (``()`` is the whole cohort, ``("sex",)``,
   ``("sex", "age")`` ...); its groups are unions of finest cells, given by a 0/1 membership
   matrix. Marginal groups never need another pass over the patients.
3. Exact point estimates come from each group's sorted scores split by outcome (one global
   sort, then one stable integer sort per partition).
4. Bootstrap replicates come from cell histograms (see :mod:`cohortaudit.metrics.bootstrap`)
   aggregated through the membership matrices -- no Python loop over replicates calls sklearn.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cohortaudit.metrics.bootstrap import (
    BINNED_METRICS,
    binned_metrics,
    cell_histograms,
    iter_replicates,
    make_score_grid,
    percentile_interval,
)
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

__all__ = ["Partition", "GroupEstimate", "EngineOutput", "compute_group_metrics",
           "build_partitions", "METRIC_KEYS", "CI_METHODS"]

#: The metric keys of the public contract, in display order.
METRIC_KEYS = (
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
    "prevalence",
    "brier",
)

#: How each metric's confidence interval is computed (stated in the JSON and the report).
CI_METHODS = {
    "auroc": "DeLong (mid-rank form, Sun & Xu 2014), clipped to [0, 1]",
    "auprc": "stratified bootstrap, percentile",
    "brier": "stratified bootstrap, percentile",
    "balanced_accuracy": "stratified bootstrap, percentile",
    "f1": "stratified bootstrap, percentile",
    **{
        k: "Wilson score"
        for k in (
            "sensitivity",
            "specificity",
            "ppv",
            "npv",
            "fpr",
            "fnr",
            "accuracy",
            "selection_rate",
            "prevalence",
        )
    },
}

_BOOTSTRAP_CI = ("auprc", "brier", "balanced_accuracy", "f1")

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
        return dict(zip(self.attributes, self.keys[g]))


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
    undefined_replicates: dict[str, int] = field(default_factory=dict)


@dataclass
class EngineOutput:
    """Everything the engine computed; disclosure and fairness read from here."""

    partitions: list[Partition]
    estimates: list[list[GroupEstimate]]  # [partition][group]
    replicates: list[dict[str, np.ndarray]]  # [partition] metric -> (B, G), shift-corrected
    threshold: float
    grid_exact: bool
    n_bins: int
    auroc_bin_error_bound: float
    n_boot: int


def build_cells(groups: pd.DataFrame) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Finest cells: codes per patient and the sorted key of each cell."""
    if groups.shape[1] == 0:
        return np.zeros(len(groups), dtype=np.int64), [()]
    keys = pd.MultiIndex.from_frame(groups.astype(str))
    codes, uniques = pd.factorize(keys, sort=True)
    return codes.astype(np.int64), [tuple(str(v) for v in u) for u in uniques]


def build_partitions(
    cell_keys: list[tuple[str, ...]], features: tuple[str, ...], *, max_order: int
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
    progress: Callable[[int, int], None] | None = None,
) -> EngineOutput:
    """Point estimates, closed-form CIs and bootstrap replicates for every group."""
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y, dtype=np.int8)
    features = tuple(groups.columns)
    cell, cell_keys = build_cells(groups)
    partitions = build_partitions(cell_keys, features, max_order=max_order)

    # -- exact point estimates: one global sort, then a stable integer sort per partition
    order = np.argsort(scores, kind="stable")
    s_sorted, y_sorted, cell_sorted = scores[order], y[order], cell[order]
    estimates: list[list[GroupEstimate]] = []
    for p_index, part in enumerate(partitions):
        key = part.cell_to_group[cell_sorted] * 2 + y_sorted
        by_key = np.argsort(key, kind="stable")
        blocks = np.split(s_sorted[by_key], np.cumsum(np.bincount(key, minlength=2 * len(part.keys)))[:-1])
        row = []
        for g in range(len(part.keys)):
            neg, pos = blocks[2 * g], blocks[2 * g + 1]
            conf, values, ci = _point_estimates(pos, neg, threshold, z)
            row.append(
                GroupEstimate(
                    partition=p_index,
                    index=g,
                    attributes=part.attributes_of(g),
                    n=len(pos) + len(neg),
                    events=len(pos),
                    confusion=conf,
                    values=values,
                    ci=ci,
                )
            )
        estimates.append(row)

    # -- bootstrap on cell histograms
    grid = make_score_grid(scores, threshold, max_bins=max_bins, extra_edges=THRESHOLD_GRID)
    hist = cell_histograms(scores, y, cell, len(cell_keys), grid)
    grid_bins = grid.bin_of_threshold(THRESHOLD_GRID)
    for p_index, part in enumerate(partitions):
        c, _, b = hist.counts.shape
        counts = (part.membership @ hist.counts.reshape(c, 2 * b)).reshape(-1, 2, b)
        at_or_above = np.cumsum(counts[:, :, ::-1], axis=-1)[:, :, ::-1]  # (G, 2, K)
        totals = counts.sum(axis=-1)
        for e in estimates[p_index]:
            tp = at_or_above[e.index, 1, grid_bins]
            fp = at_or_above[e.index, 0, grid_bins]
            tn = totals[e.index, 0] - fp
            fn = totals[e.index, 1] - tp
            e.grid_counts = np.rint(np.stack([tp, fp, tn, fn], axis=1)).astype(np.int64)
    total_pos = hist.counts[:, 1, :].sum(axis=0).astype(np.float64)
    total_neg = hist.counts[:, 0, :].sum(axis=0).astype(np.float64)
    bound = 0.0 if grid.exact else float(
        0.5 * np.sum(total_pos * total_neg) / max(total_pos.sum() * total_neg.sum(), 1.0)
    )
    replicates: list[dict[str, np.ndarray]] = []
    if n_boot > 0:
        shifts = []
        for p_index, part in enumerate(partitions):
            c, _, b = hist.counts.shape
            counts = (part.membership @ hist.counts.reshape(c, 2 * b)).reshape(-1, 2, b)
            loss = part.membership @ hist.loss.sum(axis=(1, 2))
            binned = binned_metrics(counts, loss, grid.threshold_bin)
            shifts.append(
                {
                    m: np.array([e.values[m] for e in estimates[p_index]]) - binned[m]
                    for m in BINNED_METRICS
                }
            )
        collected: list[dict[str, list[np.ndarray]]] = [
            {m: [] for m in BINNED_METRICS} for _ in partitions
        ]
        rng = np.random.default_rng(seed)
        done = [0]

        def _tick(r: int) -> None:
            done[0] += r
            if progress is not None:
                progress(done[0], n_boot)

        for rep_counts, rep_loss in iter_replicates(hist, n_boot=n_boot, rng=rng, on_chunk=_tick):
            rep_counts_f = rep_counts.astype(np.float64)
            for p_index, part in enumerate(partitions):
                # integer-valued float matmul: exact, so deterministic whatever BLAS does
                r, c, _, b = rep_counts_f.shape
                counts = np.matmul(part.membership, rep_counts_f.reshape(r, c, 2 * b))
                counts = counts.reshape(r, -1, 2, b)
                loss = rep_loss @ part.membership.T
                binned = binned_metrics(counts, loss, grid.threshold_bin)
                for m in BINNED_METRICS:
                    collected[p_index][m].append(binned[m])
        for p_index in range(len(partitions)):
            replicates.append(
                {
                    m: np.concatenate(collected[p_index][m], axis=0) + shifts[p_index][m]
                    for m in BINNED_METRICS
                }
            )
        # bootstrap percentile intervals for metrics without a closed form
        for p_index, row in enumerate(estimates):
            for e in row:
                for m in BINNED_METRICS:
                    reps = replicates[p_index][m][:, e.index]
                    lo, hi, undefined = percentile_interval(reps, confidence)
                    if undefined:
                        e.undefined_replicates[m] = undefined
                    if m in _BOOTSTRAP_CI:
                        e.ci[m] = (lo, hi)
    return EngineOutput(
        partitions=partitions,
        estimates=estimates,
        replicates=replicates,
        threshold=threshold,
        grid_exact=grid.exact,
        n_bins=grid.n_bins,
        auroc_bin_error_bound=bound,
        n_boot=n_boot,
    )
