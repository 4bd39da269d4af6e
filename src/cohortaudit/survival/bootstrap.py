"""The patient bootstrap of the time-to-event metrics at a horizon, vectorised (issue 16, point 4).

Why this shape: B = 1000 replicates of a million patients is 10^9 resampled rows, and calling
the point estimators of :mod:`cohortaudit.survival` per replicate and per group would take hours.
As in the binary engine (:mod:`cohortaudit.metrics.bootstrap`), patients are first reduced to
*entries* -- distinct (finest cell, time slot, risk bin) -- and resampling the patients of a
finest cell with replacement is one multinomial draw over that cell's entries (cell sizes are
kept, so every coarser group, a union of cells, keeps its size too). Every partition's groups
and the whole cohort are computed from the same draws.

Time slots (exact at the horizon tau). With u_1 < ... < u_K the distinct event times <= tau:

* slot 0: censored before u_1;  slot 2k-1: an event by tau at u_k;
* slot 2k: censored in [u_k, u_{k+1}) (u_{K+1} = tau) -- before tau, after the events at u_k;
* slot 2K+1: event-free at tau (T > tau, or censored at tau).

The Kaplan-Meier S(tau) only sees event times and the numbers at risk there, and the censoring
Kaplan-Meier G(t-) is only needed at the u_k and at tau; merging the censorings between two
event times into one step changes neither (consecutive censoring-only factors telescope:
prod (r_j - m_j)/r_j = (r_last - m_last)/r_first). So every slot-based quantity -- observed risk,
the IPCW weights 1/G(T_i-) and 1/G(tau-), O/E, the threshold metrics, the Brier score -- is
*exactly* the point estimator's on the resampled patients, evaluated with the replicate's own G.

Risk bins: the operating threshold is always a bin edge (``make_score_grid``), so threshold
metrics are exact; entries carry the sums of r and of the squared Brier error of their patients,
so expected risk and Brier are exact for given weights. When the cohort has more distinct risks
than ``max_bins``, two patients of one entry may differ in risk; a replicate then counts each
drawn patient at its entry's mean (the within-bin spread is ignored), and ``auc_t`` counts a
case and a control of one bin as a tie (1/2). That auc_t error is bounded by half the weighted
share of within-bin (case, control) pairs (``auc_t_bin_error_bound``), and auc_t replicates are
shifted by (exact point estimate - binned point estimate), as the binary audit does for AUROC.

Harrell's C and Uno's C (``harrell_c``, ``uno_c``) come from the same draws, binned likewise
and centred on the exact estimates: :mod:`cohortaudit.survival.bootstrap_concordance`
(``c_bin_error_bound`` bounds their binning error).

Large cohorts: with more distinct event times <= tau than ``max_time_bins`` (daily follow-up
over ten years has ~3,650), the replicates' sampling units use that many quantiles of the event
times as slots (a life table) and pool the risks of patients censored before tau into at most
8 bins per side of the threshold; the estimates still come from the exact slots and every
replicate is shifted by (exact estimate - coarse estimate on all patients). ``exact_time`` in
the result says which scheme ran.

Undefined replicates (a group drawing no events has no sensitivity nor auc_t; a group drawing
nobody followed to tau has no Kaplan-Meier there) are NaN and counted, never dropped. Definitions:
docs/TIME-TO-EVENT.md, "Bootstrap".
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse

from cohortaudit.config import DEFAULT_BOOT_SCORE_BINS
from cohortaudit.errors import ConfigError, SchemaError
from cohortaudit.metrics.bootstrap import make_score_grid, percentile_intervals
from cohortaudit.metrics.table import Partition
from cohortaudit.survival import bootstrap_concordance as bc
from cohortaudit.survival.concordance import auc_t as point_auc_t
from cohortaudit.survival.concordance import harrell_c as point_harrell_c
from cohortaudit.survival.concordance import uno_c as point_uno_c
from cohortaudit.survival.data import check_survival
from cohortaudit.survival.threshold import check_threshold
from cohortaudit.survival.time_slots import time_slots

__all__ = [
    "BOOT_METRICS",
    "SurvivalReplicates",
    "survival_replicates",
    "survival_intervals",
    "weighted_metrics",
]

#: Every metric with bootstrap replicates, in display order.
BOOT_METRICS = (
    "observed_risk",
    "expected_risk",
    "oe_ratio",
    "auc_t",
    "brier",
    "scaled_brier",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "fpr",
    "selection_rate",
    *bc.CONCORDANCE_METRICS,
)

#: Metrics whose replicates are centred on an exact point estimate (binned risks).
_BINNED = ("auc_t", *bc.CONCORDANCE_METRICS)

#: Time slots of the replicates: every distinct event time <= tau up to this many, else this
#: many quantiles of them (see ``survival_replicates``).
DEFAULT_BOOT_TIME_BINS = 256

#: Replicates per chunk of draws (memory: about 60 bytes x entries x chunk).
_CHUNK = 50

#: Relative cost of one multinomial category and of one drawn patient (measured here: numpy's
#: multinomial draws one binomial per category, ~100 ns of CPU; a uniform index and its
#: bincount, ~10 ns): a cell is drawn the cheaper way. Both give the same distribution.
_COST_CATEGORY, _COST_PATIENT = 10.0, 1.0


@dataclass(frozen=True)
class SurvivalReplicates:
    """Bootstrap replicates of every partition, as the binary group table keeps them.

    ``replicates[p][metric]``: (B, G_p) float64, NaN for groups not released and for undefined
    replicates; ``overall[p][metric]``: (B,) the whole cohort from the same draws (one array for
    every p); ``undefined[p][metric]``: (G_p,) how many replicates of a released group are
    undefined (0 for groups not released); ``estimates[p][metric]``: (G_p,) the point estimates
    the replicates are centred on (all patients once); ``auc_t_bin_error_bound[p]``: (G_p,) the
    bound on the binned auc_t's error (0 when every distinct risk has its own bin);
    ``c_bin_error_bound[p][m]`` (G_p,): the same for ``harrell_c`` and ``uno_c``;
    ``exact_time``: the replicates used every distinct event time <= tau as a time slot
    (else ``n_time_slots`` coarse ones); ``n_entries``: the sampling units.
    """

    replicates: tuple[Mapping[str, np.ndarray], ...]
    overall: tuple[Mapping[str, np.ndarray], ...]
    undefined: tuple[Mapping[str, np.ndarray], ...]
    estimates: tuple[Mapping[str, np.ndarray], ...]
    auc_t_bin_error_bound: tuple[np.ndarray, ...]
    grid_exact: bool
    n_bins: int
    n_time_slots: int
    exact_time: bool
    n_entries: int
    n_boot: int
    seed: int
    c_bin_error_bound: tuple[Mapping[str, np.ndarray], ...] = ()


# -- entries: the sufficient statistics ----------------------------------------------------


@dataclass(frozen=True)
class _Entries:
    """Distinct (cell, slot, bin) with their weighted counts and the means of r and loss."""

    cell: np.ndarray
    slot: np.ndarray
    bin: np.ndarray
    count: np.ndarray
    mean_r: np.ndarray
    mean_loss: np.ndarray  # (1 - r)^2 for events by tau, r^2 if event-free at tau, else 0
    n_cells: int
    n_events: int  # K, the distinct event times <= tau
    event_at_tau: bool  # u_K == tau
    n_bins: int
    threshold_bin: int
    patient_entry: np.ndarray  # each patient's entry (-1 for a weight of 0)
    exact_time: bool = True  # every distinct event time <= tau has its own slot

    @property
    def n_slots(self) -> int:
        return 2 * self.n_events + 2


def _entries(
    time: np.ndarray,
    event: np.ndarray,
    risk: np.ndarray,
    cell: np.ndarray,
    n_cells: int,
    weights: np.ndarray,
    tau: float,
    grid,
    max_time_bins: int | None = None,
) -> _Entries:
    """Patients reduced to entries. With ``max_time_bins`` below the number of distinct event
    times <= tau, the time slots are coarsened (``_event_edges``) and the risks of patients
    censored before tau are pooled into at most 8 bins on either side of the threshold: the
    sampling units of the replicates of a large cohort, not exact (see ``survival_replicates``)."""
    case = event & (time <= tau)
    control = (time > tau) | ((time == tau) & ~event)
    u, exact_time = _event_edges(time[case], max_time_bins)
    k = u.size
    slot, _ = time_slots(time, event, tau, u)
    thr_bin = grid.threshold_bin
    bins = grid.assign(risk).astype(np.int64)
    if not exact_time:  # censored before tau: the risk enters only expected risk and r >= t
        lo, hi = min(8, thr_bin), min(8, grid.n_bins - thr_bin)
        pooled = np.where(
            bins < thr_bin,
            bins * lo // thr_bin,
            thr_bin + (bins - thr_bin) * hi // max(grid.n_bins - thr_bin, 1),
        )
        bins = np.where(~case & ~control, pooled, bins)
    loss = np.where(case, (1.0 - risk) ** 2, np.where(control, risk**2, 0.0))
    n_slots, n_bins = 2 * k + 2, grid.n_bins
    key = (cell.astype(np.int64) * n_slots + slot) * n_bins + bins
    keep = weights > 0
    distinct, inv = np.unique(key[keep], return_inverse=True)
    w = weights[keep].astype(np.float64)
    count = np.bincount(inv, weights=w, minlength=distinct.size)
    sum_r = np.bincount(inv, weights=w * risk[keep], minlength=distinct.size)
    sum_loss = np.bincount(inv, weights=w * loss[keep], minlength=distinct.size)
    patient_entry = np.full(time.size, -1)
    patient_entry[keep] = inv.ravel()
    cs, b = np.divmod(distinct, n_bins)
    c, s = np.divmod(cs, n_slots)
    return _Entries(
        cell=c,
        slot=s,
        bin=b,
        count=count,
        mean_r=sum_r / count,
        mean_loss=sum_loss / count,
        n_cells=n_cells,
        n_events=k,
        event_at_tau=bool(k and u[-1] == tau),
        n_bins=n_bins,
        threshold_bin=thr_bin,
        patient_entry=patient_entry,
        exact_time=exact_time,
    )


def _event_edges(case_times: np.ndarray, max_time_bins: int | None) -> tuple[np.ndarray, bool]:
    """The time slots' event times: every distinct event time <= tau (exact), or, when there
    are more than ``max_time_bins``, that many quantiles of them (observed event times, the
    last one the latest): the events of a bin then count at its upper edge and the censorings
    inside it before them -- a life table whose error the replicates' centring removes."""
    u = np.unique(case_times)
    if max_time_bins is None or u.size <= max_time_bins:
        return u, True
    qs = np.linspace(0.0, 1.0, max_time_bins + 1)[1:]
    return np.unique(np.quantile(case_times, qs, method="inverted_cdf")), False


# -- the draws ------------------------------------------------------------------------------


def _draw_chunks(e: _Entries, n_boot: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Resampled entry counts, (n_entries, r) float32, ``_CHUNK`` replicates at a time.

    Patients are drawn with replacement within their finest cell: per cell and replicate the
    entry counts are multinomial(n_c, count / n_c), drawn in two exact stages. First how many
    of the n_c draws are event-free at tau (binomial); then, within each block (the
    event-free, the rest), the counts given that number: one ``rng.multinomial`` when the
    block has few entries for its patients (cost ~ entries: the event-free, a few hundred risk
    bins for most of the patients), else uniform patient indices counted per entry (cost ~
    patients: every event is nearly its own entry). Same distribution, chosen by a fixed rule,
    so the output is determined by the seed. Entries are sorted by (cell, slot), so a cell's
    entries are one run of rows and its event-free ones the end of that run.
    """
    count = np.rint(e.count).astype(np.int64)
    starts = np.searchsorted(e.cell, np.arange(e.n_cells + 1))
    is_control = e.slot == e.n_slots - 1
    cells = []
    for c in range(e.n_cells):
        lo, hi = int(starts[c]), int(starts[c + 1])
        if hi == lo:
            continue
        mid = lo + int(np.count_nonzero(~is_control[lo:hi]))
        blocks = []
        for a, b in ((lo, mid), (mid, hi)):
            n_b = int(count[a:b].sum())
            by_patient = _COST_CATEGORY * (b - a) > _COST_PATIENT * n_b
            table = np.repeat(np.arange(b - a, dtype=np.int32), count[a:b]) if by_patient else None
            blocks.append((a, b, n_b, count[a:b] / max(n_b, 1), table))
        cells.append((blocks, blocks[0][2] + blocks[1][2]))
    done = 0
    while done < n_boot:
        r = min(_CHUNK, n_boot - done)
        out = np.zeros((e.cell.size, r), dtype=np.float32)
        for blocks, n_c in cells:
            n_rest = rng.binomial(n_c, blocks[0][2] / n_c, size=r)
            for (a, b, n_b, p, table), n_drawn in zip(blocks, (n_rest, n_c - n_rest), strict=True):
                if b == a:
                    continue
                if table is None:
                    out[a:b] = rng.multinomial(n_drawn, p).T
                    continue
                # one replicate at a time: its counts stay in cache while the patients land
                block = np.empty((r, b - a), dtype=np.float32)
                for j in range(r):
                    picks = table[rng.integers(0, n_b, size=int(n_drawn[j]), dtype=np.int32)]
                    block[j] = np.bincount(picks, minlength=b - a)
                out[a:b] = block.T
        done += r
        yield out


# -- per-chunk aggregates shared by every partition ------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Index arrays computed once: where each entry goes in the cell-level aggregates."""

    to_cs: sparse.csr_matrix  # (distinct (cell, slot), entries): sums entries into them
    to_cell_r: sparse.csr_matrix  # (C, entries), data mean r: sum of r per cell
    to_cell_pos: sparse.csr_matrix  # (C, entries), data 1 if r >= threshold
    to_cell_control_loss: sparse.csr_matrix  # (C, entries), data r^2 for the event-free
    cs_cell: np.ndarray
    cs_slot: np.ndarray
    entry_cs: np.ndarray  # the (cell, slot) row of each entry
    control: np.ndarray  # entry indices of event-free-at-tau entries
    control_rows: np.ndarray  # cell * n_bins + bin of those
    case: np.ndarray  # entry indices of events by tau
    pos: np.ndarray  # float: risk >= threshold


def _layout(e: _Entries) -> _Layout:
    cs = e.cell * e.n_slots + e.slot
    cs_rows, entry_cs = np.unique(cs, return_inverse=True)
    entry_cs = entry_cs.ravel()
    control = np.flatnonzero(e.slot == e.n_slots - 1)
    pos = (e.bin >= e.threshold_bin).astype(np.float64)
    is_control = (e.slot == e.n_slots - 1).astype(np.float64)
    return _Layout(
        to_cs=_summer(entry_cs, cs_rows.size),
        to_cell_r=_summer(e.cell, e.n_cells, e.mean_r),
        to_cell_pos=_summer(e.cell, e.n_cells, pos),
        to_cell_control_loss=_summer(e.cell, e.n_cells, e.mean_loss * is_control),
        cs_cell=cs_rows // e.n_slots,
        cs_slot=cs_rows % e.n_slots,
        entry_cs=entry_cs,
        control=control,
        control_rows=e.cell[control] * e.n_bins + e.bin[control],
        case=np.flatnonzero((e.slot % 2 == 1) & (e.slot < e.n_slots - 1)),
        pos=pos,
    )


def _summer(row_of_col: np.ndarray, n_rows: int, data: np.ndarray | None = None):
    """The sparse (n_rows, len(row_of_col)) matrix that sums column j into row_of_col[j]
    (times data[j]): a segment sum as one sparse product, far faster than ufunc.reduceat
    along the first axis of a 2-D array."""
    n_cols = row_of_col.size
    values = np.ones(n_cols) if data is None else np.asarray(data, dtype=np.float64)
    return sparse.csr_matrix((values, (row_of_col, np.arange(n_cols))), shape=(n_rows, n_cols))


@dataclass(frozen=True)
class _CellSums:
    """One chunk's draws summed to finest cells (r replicates on the last axis)."""

    slots: np.ndarray  # (distinct (cell, slot), r) float64: patients per time slot
    sum_r: np.ndarray  # (C, r) float64
    positive: np.ndarray  # (C, r) float64: patients with risk >= threshold
    control_bins: np.ndarray  # (C, NB * r) float32: event-free at tau per risk bin
    control_loss: np.ndarray  # (C, r) float64: their sum of r^2
    draws: np.ndarray  # (n_entries, r) float32


def _cell_sums(e: _Entries, lay: _Layout, draws: np.ndarray) -> _CellSums:
    r = draws.shape[1]
    c, nb = e.n_cells, e.n_bins
    d64 = draws.astype(np.float64)
    ctrl = np.zeros((c * nb, r), dtype=np.float32)
    ctrl[lay.control_rows] = draws[lay.control]
    return _CellSums(
        slots=np.asarray(lay.to_cs @ d64),
        sum_r=np.asarray(lay.to_cell_r @ d64),
        positive=np.asarray(lay.to_cell_pos @ d64),
        control_bins=ctrl.reshape(c, nb * r),
        control_loss=np.asarray(lay.to_cell_control_loss @ d64),
        draws=draws,
    )


# -- one partition ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """How one partition's released groups gather their entries.

    Group-level time slots are kept sparse: only the (group, slot) pairs some patient of the
    group occupies (a replicate draws from the group's own patients, so no other is ever hit),
    sorted by group then slot, so a group is a contiguous segment of rows.
    """

    keep: np.ndarray  # released groups, in group order
    membership: np.ndarray  # (len(keep), C) float32
    to_rows: sparse.csr_matrix  # ((group, slot) rows, (cell, slot) rows): sums cells into groups
    row_group: np.ndarray  # group position (0..len(keep)-1) of each (group, slot) row
    seg_starts: np.ndarray  # first row of each group present
    seg_groups: np.ndarray
    control_rows: np.ndarray  # rows of the event-free at tau
    tau_rows: np.ndarray  # rows of the events at tau (empty unless tau is an event time)
    case_use: np.ndarray  # case entries of released groups, ordered by (group, bin)
    case_row_set: np.ndarray  # the (group, slot) rows that hold cases
    case_row: np.ndarray  # each case entry's position in case_row_set
    case_rows: np.ndarray  # distinct group * NB + bin
    to_case_rows: sparse.csr_matrix  # (case_rows, case_use): sums cases into (group, bin)
    to_groups: sparse.csr_matrix  # (groups, rows): sums rows into their group
    case_loss_to_groups: sparse.csr_matrix  # (groups, case_use), data (1 - r)^2
    is_event: np.ndarray  # (rows,) 1.0 for rows of event times <= tau
    is_censor: np.ndarray  # (rows,) 1.0 for rows of censorings before tau
    conc: bc.ConcordancePlan | None = None  # Harrell's and Uno's C (bootstrap_concordance)


def _plan(part: Partition, released: Sequence[bool], e: _Entries, lay: _Layout) -> _Plan:
    keep = np.flatnonzero(np.asarray(released, dtype=bool))
    position = np.full(len(part.keys), -1)
    position[keep] = np.arange(keep.size)
    g_cs = position[part.cell_to_group[lay.cs_cell]]
    use = np.flatnonzero(g_cs >= 0)
    gs = g_cs[use] * e.n_slots + lay.cs_slot[use]
    order = np.argsort(gs, kind="stable")
    gs_rows, gs_starts = np.unique(gs[order], return_index=True)
    row_group, row_slot = np.divmod(gs_rows, e.n_slots)
    seg_groups, seg_starts = np.unique(row_group, return_index=True)
    cs_to_row = np.full(lay.cs_cell.size, -1)
    row_of_take = np.repeat(np.arange(gs_rows.size), np.diff([*gs_starts, use.size]))
    cs_to_row[use[order]] = row_of_take
    s = e.n_slots
    g_case = position[part.cell_to_group[e.cell[lay.case]]]
    c_use = np.flatnonzero(g_case >= 0)
    rows = g_case[c_use] * e.n_bins + e.bin[lay.case][c_use]
    c_order = np.argsort(rows, kind="stable")
    case_rows, case_inv = np.unique(rows[c_order], return_inverse=True)
    case_use = lay.case[c_use[c_order]]
    row_set, case_row = np.unique(cs_to_row[lay.entry_cs[case_use]], return_inverse=True)
    case_row = case_row.ravel()
    tau_slot = 2 * e.n_events - 1 if e.event_at_tau else -1
    plan = _Plan(
        keep=keep,
        membership=np.asarray(part.membership, dtype=np.float32)[keep],
        to_rows=sparse.csr_matrix(
            (np.ones(use.size), (row_of_take, use[order])), shape=(gs_rows.size, cs_to_row.size)
        ),
        row_group=row_group,
        seg_starts=seg_starts,
        seg_groups=seg_groups,
        control_rows=np.flatnonzero(row_slot == s - 1),
        tau_rows=np.flatnonzero(row_slot == tau_slot),
        case_use=case_use,
        case_row_set=row_set,
        case_row=case_row,
        case_rows=case_rows,
        to_case_rows=_summer(case_inv.ravel(), case_rows.size),
        to_groups=_summer(row_group, keep.size),
        case_loss_to_groups=_summer(
            case_rows[case_inv.ravel()] // e.n_bins, keep.size, e.mean_loss[case_use]
        ),
        is_event=((row_slot % 2 == 1) & (row_slot < s - 1)).astype(np.float64),
        is_censor=(row_slot % 2 == 0).astype(np.float64),
    )
    return replace(plan, conc=bc.concordance_plan(e, plan, cs_to_row, lay.entry_cs))


def _by_group(values: np.ndarray, plan: _Plan) -> np.ndarray:
    """Sum ``values`` (one per (group, slot) row) to (groups, r)."""
    return np.asarray(plan.to_groups @ values)


def _partition_metrics(
    e: _Entries, plan: _Plan, sums: _CellSums
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """metric -> (r, released groups), and the auc_t bin error bound of each (r, groups)."""
    g_n = plan.keep.size
    r = sums.draws.shape[1]
    nb = e.n_bins
    m32, m64 = plan.membership, plan.membership.astype(np.float64)
    w = np.asarray(plan.to_rows @ sums.slots)
    n = _by_group(w, plan)
    incl = np.cumsum(w, axis=0)
    before = incl - w
    before -= before[plan.seg_starts][np.searchsorted(plan.seg_groups, plan.row_group)]
    from_s = n[plan.row_group] - before  # at risk: this slot and every later one of the group
    # log(1 - w/at risk) of every row: the Kaplan-Meier factor at an event time, the censoring
    # Kaplan-Meier factor at a censoring slot (clipped: 0 only when nobody is left after it)
    log_f = np.log(np.maximum(1.0 - w / np.maximum(from_s, 1.0), 1e-300))
    surv = np.exp(_by_group(log_f * plan.is_event[:, None], plan))
    log_step = log_f * plan.is_censor[:, None]
    cum = np.cumsum(log_step, axis=0) - log_step
    cum -= cum[plan.seg_starts][np.searchsorted(plan.seg_groups, plan.row_group)]
    inv_g_tau = np.exp(-_by_group(log_step, plan))
    ctrl = np.zeros((g_n, r))
    ctrl[plan.row_group[plan.control_rows]] = w[plan.control_rows]
    at_tau = ctrl.copy()  # at risk at tau: event-free at tau and the events at tau
    at_tau[plan.row_group[plan.tau_rows]] += w[plan.tau_rows]
    followed = at_tau > 0

    ctrl_b = (m32 @ sums.control_bins).reshape(g_n, nb, r).astype(np.float64)
    ctrl_pos = ctrl_b[:, e.threshold_bin :].sum(axis=1)
    # cases: IPCW weight per (group, risk bin), and their Brier sum
    h = np.zeros((g_n * nb, r))
    case_loss = np.zeros((g_n, r))
    conc = {m: np.full((g_n, r), np.nan) for m in bc.CONCORDANCE_METRICS}
    conc_bound = dict(conc)
    if plan.case_use.size:  # each case weighted 1/G(T_i-) of its group in this replicate
        inv_g = np.exp(-cum[plan.case_row_set])[plan.case_row]  # 1/G(u_k-) of each case
        wcase = sums.draws[plan.case_use] * inv_g
        h[plan.case_rows] = plan.to_case_rows @ wcase
        case_loss = np.asarray(plan.case_loss_to_groups @ wcase)
    if plan.case_use.size and plan.conc is not None:
        conc, conc_bound = bc.concordance_metrics(
            plan.conc, plan, sums.draws, plan.case_row_set[plan.case_row], inv_g, from_s - w,
            ctrl_b, e.bin[plan.case_use],
        )  # fmt: skip
    h = h.reshape(g_n, nb, r)
    h_all = h.sum(axis=1)
    h_pos = h[:, e.threshold_bin :].sum(axis=1)
    below = np.cumsum(ctrl_b, axis=1) - ctrl_b
    auc_num = np.sum(h * (below + 0.5 * ctrl_b), axis=1)
    tie_mass = np.sum(h * ctrl_b, axis=1)

    expected = (m64 @ sums.sum_r) / n
    ctrl_loss = m64 @ sums.control_loss
    positive = m64 @ sums.positive
    observed = 1.0 - surv
    with np.errstate(divide="ignore", invalid="ignore"):
        brier = (case_loss + inv_g_tau * ctrl_loss) / n
        brier0 = (h_all * (1.0 - observed) ** 2 + inv_g_tau * ctrl * observed**2) / n
        specificity = _ratio(ctrl - ctrl_pos, ctrl)
        neg_weight = inv_g_tau * (ctrl - ctrl_pos)
        out = {
            "observed_risk": observed,
            "expected_risk": expected,
            "oe_ratio": _ratio(observed, expected),
            "auc_t": _ratio(auc_num, np.where(ctrl > 0, h_all * ctrl, 0.0)),
            "brier": brier,
            "scaled_brier": np.where(brier0 > 0, 1.0 - brier / brier0, np.nan),
            "sensitivity": _ratio(h_pos, h_all),
            "specificity": specificity,
            "ppv": _ratio(h_pos, h_pos + inv_g_tau * ctrl_pos),
            "npv": _ratio(neg_weight, h_all - h_pos + neg_weight),
            "fpr": 1.0 - specificity,
            "selection_rate": positive / n,
        }
        bound = {"auc_t": _ratio(0.5 * tie_mass, np.where(ctrl > 0, h_all * ctrl, 0.0))}
    for key in BOOT_METRICS:
        if key not in ("expected_risk", "selection_rate", *bc.CONCORDANCE_METRICS):
            out[key] = np.where(followed, out[key], np.nan)
    out.update(conc)  # pairs truncated at tau: defined without anybody followed to tau
    bound.update(conc_bound)
    return {key: v.T for key, v in out.items()}, {key: v.T for key, v in bound.items()}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


# -- the public functions -----------------------------------------------------------------------


def _whole_cohort(n_cells: int) -> Partition:
    return Partition(
        attributes=(),
        keys=((),),
        membership=np.ones((1, n_cells)),
        cell_to_group=np.zeros(n_cells, dtype=np.int64),
    )


def _check_cells(
    cell: object, n: int, partitions: Sequence[Partition], released: Sequence[Sequence[bool]]
) -> tuple[np.ndarray, int]:
    arr = np.asarray(cell)
    if arr.ndim != 1 or arr.size != n or arr.dtype.kind not in "iu":
        raise SchemaError(
            f"The 'cell' argument must be a one-dimensional integer array with one finest-cell "
            f"index per patient ({n}); got shape {arr.shape} and dtype {arr.dtype}."
        )
    n_cells = len(partitions[0].cell_to_group) if partitions else int(arr.max(initial=-1)) + 1
    if arr.size and (arr.min() < 0 or arr.max() >= n_cells):
        raise SchemaError(
            f"The 'cell' argument must index the partitions' {n_cells} finest cells; some "
            "indices are outside 0.."
            f"{n_cells - 1}. Build cells and partitions together (metrics.subgroups.build_cells)."
        )
    if len(released) != len(partitions):
        raise ConfigError(
            f"'released' must have one list per partition ({len(partitions)}); got "
            f"{len(released)}."
        )
    for p, (part, rel) in enumerate(zip(partitions, released, strict=True)):
        if len(part.cell_to_group) != n_cells or len(rel) != len(part.keys):
            raise ConfigError(
                f"Partition {p} does not fit: it must map the same {n_cells} finest cells and "
                f"'released[{p}]' must have one flag per group ({len(part.keys)}); got "
                f"{len(part.cell_to_group)} cells and {len(rel)} flags."
            )
    return arr.astype(np.int64), n_cells


def _check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    unknown = [m for m in metrics if m not in BOOT_METRICS]
    if unknown:
        raise ConfigError(
            f"Unknown bootstrap metric(s) {', '.join(map(repr, unknown))}. Known: "
            f"{', '.join(BOOT_METRICS)}."
        )
    return tuple(metrics)


def _grid(risk: np.ndarray, threshold: float, max_bins: int | None):
    if max_bins is not None and (isinstance(max_bins, bool) or int(max_bins) < 2):
        raise ConfigError(
            f"The 'max_bins' parameter must be an integer >= 2 or None. Got {max_bins!r} instead."
        )
    return make_score_grid(risk, threshold, max_bins=risk.size + 1 if max_bins is None else max_bins)


def weighted_metrics(
    time: object,
    event: object,
    risk: object,
    weights: object,
    *,
    horizon: object,
    threshold: object,
    max_bins: int | None = None,
) -> dict[str, float]:
    """Every metric of :data:`BOOT_METRICS` of one group whose patient i counts ``weights[i]``
    times -- the estimator each bootstrap replicate evaluates (NaN when undefined).

    With integer weights this equals the point estimators of :mod:`cohortaudit.survival` on the
    rows repeated ``weights[i]`` times (the censoring distribution re-estimated on them), which
    is how the tests pin the bootstrap to the point estimates. ``max_bins=None`` gives every
    distinct risk its own bin (exact auc_t); the key ``auc_t_bin_error_bound`` bounds the
    binned auc_t's error otherwise, ``harrell_c_bin_error_bound`` and ``uno_c_bin_error_bound``
    the binned C's (see :mod:`cohortaudit.survival.bootstrap_concordance`).
    """
    thr = check_threshold(threshold)
    data = check_survival(time, event, risk, horizon=horizon)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != data.time.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise SchemaError(
            f"The 'weights' argument must be one finite, non-negative weight per patient "
            f"({data.n}); got shape {w.shape}."
        )
    grid = _grid(data.risk, thr, max_bins)
    cell = np.zeros(data.n, dtype=np.int64)
    e = _entries(data.time, data.event, data.risk, cell, 1, w, data.tau, grid)
    lay = _layout(e)
    plan = _plan(_whole_cohort(1), [True], e, lay)
    values, bound = _partition_metrics(e, plan, _cell_sums(e, lay, e.count[:, None]))
    out = {m: float(values[m][0, 0]) for m in BOOT_METRICS}
    for m in _BINNED:
        exact = grid.exact and (m == "auc_t" or plan.conc.exact_bins)
        out[f"{m}_bin_error_bound"] = 0.0 if exact else float(bound[m][0, 0])
    return out


def _unit(e: _Entries) -> np.ndarray:
    """Every patient drawn once: the entry counts as one replicate."""
    return e.count[:, None].astype(np.float32)


_POINT = {"auc_t": point_auc_t, "harrell_c": point_harrell_c, "uno_c": point_uno_c}


def _point_auc(data, tau: float, mask: np.ndarray, metric: str = "auc_t") -> float:
    """The exact auc_t (or C) of one group (NaN when not evaluable) to centre binned
    replicates on."""
    try:
        est = _POINT[metric](data.time[mask], data.event[mask], data.risk[mask], horizon=tau)
    except ConfigError:  # the group's follow-up ends before tau
        return float("nan")
    return float("nan") if est.value is None else float(est.value)


def survival_replicates(
    time: object,
    event: object,
    risk: object,
    cell: object,
    partitions: Sequence[Partition],
    released: Sequence[Sequence[bool]],
    *,
    horizon: object,
    threshold: object,
    n_boot: int,
    seed: int,
    metrics: Sequence[str] = BOOT_METRICS,
    max_bins: int | None = DEFAULT_BOOT_SCORE_BINS,
    max_time_bins: int | None = DEFAULT_BOOT_TIME_BINS,
    points: Sequence[Mapping[str, np.ndarray]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SurvivalReplicates:
    """Stratified patient bootstrap of the time-to-event metrics of every released group.

    Patients are resampled with replacement within their finest cell (``cell``, as
    ``metrics.subgroups.build_cells`` gives it) by a seeded ``np.random.default_rng(seed)``;
    each replicate re-estimates the Kaplan-Meier and the censoring distribution of every group
    on its draws. ``max_bins``: risk bins (None: every distinct risk its own); ``max_time_bins``:
    time slots of the replicates (None: every distinct event time, exact; see the module
    docstring). ``points[p]["auc_t"]`` (G_p,), when given, are the exact auc_t estimates the
    binned replicates are centred on (else they are computed here with
    ``survival.concordance.auc_t``); unused when every distinct risk has its own bin; likewise
    ``points[p]["harrell_c"]`` and ``["uno_c"]`` for the binned C (bootstrap_concordance).
    Deterministic: the same arguments give identical arrays."""
    thr = check_threshold(threshold)
    data = check_survival(time, event, risk, horizon=horizon)
    keys = _check_metrics(metrics)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ConfigError(f"The 'n_boot' parameter must be an integer >= 1. Got {n_boot!r} instead.")
    cells, n_cells = _check_cells(cell, data.n, partitions, released)
    grid = _grid(data.risk, thr, max_bins)
    parts = [*partitions, _whole_cohort(n_cells)]
    rel = [*released, [True]]
    args = (data.time, data.event, data.risk, cells, n_cells, np.ones(data.n), data.tau, grid)
    exact = _entries(*args)  # the estimates: exact time slots
    e = _entries(*args, max_time_bins=max_time_bins)  # the replicates' sampling units
    if e.exact_time:
        e = exact
    lay = _layout(e)
    plans = [_plan(pt, rl, e, lay) for pt, rl in zip(parts, rel, strict=True)]
    if not set(keys) & set(bc.CONCORDANCE_METRICS):  # C not asked for: not computed
        plans = [replace(plan, conc=None) for plan in plans]
    exact_c = grid.exact and all(plan.conc is None or plan.conc.exact_bins for plan in plans)  # C pairs exact
    binned = [m for m in _BINNED if m in keys and not (grid.exact and (m == "auc_t" or exact_c))]
    pts = _exact_points(data, cells, parts, plans, len(partitions), points, binned)
    estimates, shifts, bounds = _centres(exact, e, lay, parts, rel, plans, keys, grid.exact, pts)
    collected = _run_replicates(e, lay, plans, keys, n_boot, seed, progress)

    def full(p: int, m: str, values: np.ndarray) -> np.ndarray:
        arr = np.full((values.shape[0], len(parts[p].keys)), np.nan)
        arr[:, plans[p].keep] = values
        return arr

    reps, undefined, est_out = [], [], []
    for p, plan in enumerate(plans):
        reps.append({m: full(p, m, np.concatenate(collected[p][m]) + shifts[p][m]) for m in keys})
        est_out.append({m: full(p, m, estimates[p][m][None, :])[0] for m in keys})
        und = {}
        for m in keys:
            count = np.zeros(len(parts[p].keys), dtype=np.int64)
            count[plan.keep] = np.count_nonzero(~np.isfinite(reps[p][m][:, plan.keep]), axis=0)
            und[m] = count
        undefined.append(und)
    whole = {m: reps[-1][m][:, 0] for m in keys}
    n_p = len(partitions)
    return SurvivalReplicates(
        replicates=tuple(reps[:n_p]),
        overall=tuple(whole for _ in range(n_p)),
        undefined=tuple(undefined[:n_p]),
        estimates=tuple(est_out[:n_p]),
        auc_t_bin_error_bound=tuple(
            full(p, "", b["auc_t"][None, :])[0] for p, b in enumerate(bounds[:n_p])
        ),
        grid_exact=bool(grid.exact),
        n_bins=int(grid.n_bins),
        n_time_slots=e.n_slots,
        exact_time=bool(e.exact_time),
        n_entries=int(e.cell.size),
        n_boot=int(n_boot),
        seed=int(seed),
        c_bin_error_bound=tuple(
            {m: full(p, m, b[m][None, :])[0] for m in bc.CONCORDANCE_METRICS}
            for p, b in enumerate(bounds[:n_p])
        ),
    )


def _exact_points(data, cells, parts, plans, n_given, points, metrics) -> list[dict]:
    """The exact auc_t / C (``metrics``) of every released group: from ``points`` where given
    (the whole cohort from partition 0 when that is the whole cohort), else the point
    estimator on its patients."""
    out = []
    for p, (part, plan) in enumerate(zip(parts, plans, strict=True)):
        q = 0 if p == n_given and n_given and not parts[0].attributes else p
        got = {}
        for m in metrics:
            if points is not None and q < n_given and m in points[q]:
                got[m] = np.asarray(points[q][m], dtype=np.float64)[plan.keep]
            else:
                group = part.cell_to_group[cells]
                got[m] = np.array([_point_auc(data, data.tau, group == g, m) for g in plan.keep])
        out.append(got)
    return out


def _centres(exact, e, lay, parts, rel, plans, keys, grid_exact, pts):
    """Per partition: the estimates (exact time slots; auc_t and C exact), the shift that
    centres the replicates on them (estimate - the replicates' own estimator on all patients
    once; 0 where both are exact) and the bin error bounds (metric -> (released groups,))."""
    base = [_partition_metrics(e, plan, _cell_sums(e, lay, _unit(e))) for plan in plans]
    if e is exact:
        exact_base = base
    else:
        lay_x = _layout(exact)
        sums_x = _cell_sums(exact, lay_x, _unit(exact))
        exact_base = [
            _partition_metrics(exact, _plan(pt, rl, exact, lay_x), sums_x)
            for pt, rl in zip(parts, rel, strict=True)
        ]
    estimates, shifts, bounds = [], [], []
    for p in range(len(parts)):
        est = {m: exact_base[p][0][m][0] for m in keys}
        for m, v in pts[p].items():
            est[m] = np.where(np.isfinite(v), v, est[m])
        estimates.append(est)
        shifts.append({m: np.nan_to_num(est[m] - base[p][0][m][0]) for m in keys})
        zero = np.zeros(plans[p].keep.size)
        bound = {"auc_t": zero if grid_exact else exact_base[p][1]["auc_t"][0]}
        for m in bc.CONCORDANCE_METRICS:
            exact_c = grid_exact and (plans[p].conc is None or plans[p].conc.exact_bins)
            bound[m] = zero if exact_c else base[p][1][m][0]
        bounds.append(bound)
    return estimates, shifts, bounds


def _run_replicates(e, lay, plans, keys, n_boot, seed, progress):
    """Per partition, metric -> chunks of (r, released groups) replicates.

    Partitions run two at a time (numpy and scipy release the GIL); the next chunk is drawn
    while they work, by the one generator in this thread, so the draws never change."""
    collected: list[dict[str, list[np.ndarray]]] = [{m: [] for m in keys} for _ in plans]
    rng = np.random.default_rng(seed)
    done = 0
    active = [i for i, plan in enumerate(plans) if plan.keep.size]
    for i, plan in enumerate(plans):
        if not plan.keep.size:
            for m in keys:
                collected[i][m].append(np.zeros((n_boot, 0)))
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        chunks = _draw_chunks(e, n_boot, rng)
        draws = next(chunks, None)
        while draws is not None:
            sums = _cell_sums(e, lay, draws)
            futures = [pool.submit(_partition_metrics, e, plans[i], sums) for i in active]
            next_draws = next(chunks, None)
            for i, future in zip(active, futures, strict=True):
                values, _ = future.result()
                for m in keys:
                    collected[i][m].append(values[m])
            done += draws.shape[1]
            if progress is not None:
                progress(done, n_boot)
            draws = next_draws
    return collected


def survival_intervals(
    reps: SurvivalReplicates, confidence: float
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], ...]:
    """Percentile intervals (``metrics.bootstrap.percentile_intervals``: numpy's 'linear'
    quantiles of the defined replicates; none when fewer than half are defined) per partition:
    metric -> (lower (G_p,), upper (G_p,)), NaN where there is no interval."""
    if not 0.0 < float(confidence) < 1.0:
        raise ConfigError(
            f"The 'confidence' parameter must be a float in (0, 1). Got {confidence!r} instead."
        )
    out = []
    for part in reps.replicates:
        out.append({m: percentile_intervals(v, confidence)[:2] for m, v in part.items()})
    return tuple(out)
