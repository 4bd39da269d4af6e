"""Bootstrap intervals for the net benefit at the horizon at the operating threshold (issue 19,
point 5, for time-to-event audits; Vickers et al. 2008's survival decision curve).

At threshold t the treated are the patients with r >= t; with P their share and S_t the
Kaplan-Meier survival at tau among them, NB = P (1 - S_t) - P S_t t / (1 - t), and treat-all
uses the whole group's S: (1 - S) - S t / (1 - t) (:mod:`cohortaudit.survival.decision`).

Each replicate needs two Kaplan-Meier estimates per group (the treated, everybody). As in
:mod:`cohortaudit.survival.bootstrap_smoother`, patients are reduced to coarse entries --
(finest cell, time slot, treated or not), ``UTILITY_TIME_BINS`` quantiles of the event times
<= tau as time slots -- resampled within their finest cell by one multinomial draw per cell
(:func:`cohortaudit.metrics.bootstrap.iter_replicates`) on a seeded stream of their own, so no
other interval moves. Each replicate's product-limit comes from reverse cumulative sums over the
slots; replicates are shifted by (exact estimate - the same coarse computation on all patients
once), so the life-table slots cost no bias; percentile intervals, none where fewer than half
the replicates are defined (nobody treated followed to tau).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from cohortaudit.metrics.bootstrap import FineCells, iter_replicates, percentile_intervals
from cohortaudit.metrics.table import Partition
from cohortaudit.survival.time_slots import quantile_edges, time_slots

__all__ = ["NB_KEYS", "UTILITY_TIME_BINS", "UTILITY_METHOD", "net_benefit_intervals"]

NB_KEYS = ("net_benefit", "net_benefit_vs_treat_all")
UTILITY_TIME_BINS = 64
UTILITY_METHOD = (
    "stratified patient bootstrap, percentile; Kaplan-Meier among the treated and among all "
    "per replicate on {t} event-time slots, replicates centred on the exact estimate"
)


@dataclass(frozen=True)
class _Entries:
    cell: np.ndarray
    slot: np.ndarray
    treated: np.ndarray  # bool
    count: np.ndarray
    n_slots: int


def _entries(time, event, risk, cell, tau: float, threshold: float) -> _Entries:
    edges = quantile_edges(time[event & (time <= tau)], UTILITY_TIME_BINS)
    slot, n_slots = time_slots(time, event, tau, edges)
    key = (cell.astype(np.int64) * n_slots + slot) * 2 + (risk >= threshold)
    distinct, inv = np.unique(key, return_inverse=True)
    count = np.bincount(inv.ravel(), minlength=distinct.size).astype(np.float64)
    cs, treated = np.divmod(distinct, 2)
    c, s = np.divmod(cs, n_slots)
    return _Entries(cell=c, slot=s, treated=treated.astype(bool), count=count, n_slots=n_slots)


def _group_rows(e: _Entries, entries: np.ndarray):
    """The summing matrix of a group's entries into (slot, treated) rows, and each row's."""
    rows, row_of = np.unique(e.slot[entries] * 2 + e.treated[entries], return_inverse=True)
    row_of = row_of.ravel()
    to_rows = sparse.csr_matrix(
        (np.ones(entries.size), (row_of, np.arange(entries.size))), shape=(rows.size, entries.size)
    )
    return to_rows, rows // 2, (rows % 2).astype(bool)


def _km_at_tau(w: np.ndarray, slot: np.ndarray, last: int) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier survival at tau per column of ``w`` (rows sorted by slot) and whether
    anybody is still followed at tau; rows of odd slot below ``last`` are events."""
    at_risk = np.cumsum(w[::-1], axis=0)[::-1]
    is_event = ((slot % 2 == 1) & (slot < last))[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(is_event & (w > 0), 1.0 - w / np.where(at_risk > 0, at_risk, 1.0), 1.0)
    followed = np.sum(np.where((slot == last)[:, None], w, 0.0), axis=0) > 0
    return np.prod(factor, axis=0), followed


def _nb(w: np.ndarray, slot: np.ndarray, treated: np.ndarray, last: int, odds: float):
    """NB and NB - treat-all per column of ``w`` ((slot, treated) rows)."""
    n = w.sum(axis=0)
    s_all, _ = _km_at_tau(w, slot, last)
    wt = np.where(treated[:, None], w, 0.0)
    n_t = wt.sum(axis=0)
    s_t, followed = _km_at_tau(wt, slot, last)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = n_t / n
        nb = np.where(n_t > 0, share * (1.0 - s_t) - share * s_t * odds, 0.0)
    nb = np.where((n_t > 0) & ~followed, np.nan, nb)
    treat_all = (1.0 - s_all) - s_all * odds
    return nb, nb - treat_all


def net_benefit_intervals(
    time: np.ndarray,
    event: np.ndarray,
    risk: np.ndarray,
    cell: np.ndarray,
    partitions: Sequence[Partition],
    released: Sequence[Sequence[bool]],
    exact: Sequence[Sequence[Mapping[str, float] | None]],
    *,
    horizon: float,
    threshold: float,
    n_boot: int,
    seed: int,
    confidence: float,
) -> tuple[tuple[Mapping[str, tuple[np.ndarray, np.ndarray]], ...], tuple[Mapping, ...]]:
    """Per partition: key -> (lower (G_p,), upper (G_p,)) of :data:`NB_KEYS`, NaN where there is
    no interval; and key -> undefined replicates (G_p,). ``exact[p][g]``: the group's exact
    ``net_benefit`` and ``net_benefit_vs_treat_all`` (None: not released)."""
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event).astype(bool)
    risk = np.asarray(risk, dtype=np.float64)
    n_cells = len(partitions[0].cell_to_group)
    e = _entries(time, event, risk, cell, float(horizon), float(threshold))
    odds = float(threshold) / (1.0 - float(threshold))
    last = e.n_slots - 1
    order = np.argsort(e.cell, kind="stable")
    starts = np.searchsorted(e.cell[order], np.arange(n_cells + 1))
    groups = []
    for p, part in enumerate(partitions):
        for g in range(len(part.keys)):
            ex = exact[p][g]
            if not released[p][g] or ex is None:
                continue
            cells = np.flatnonzero(part.membership[g] > 0)
            ent = np.concatenate([order[starts[c] : starts[c + 1]] for c in cells])
            to_rows, slot, treated = _group_rows(e, ent)
            base = _nb(to_rows @ e.count[ent][:, None], slot, treated, last, odds)
            shift = [ex.get(k, np.nan) - b[0] for k, b in zip(NB_KEYS, base, strict=True)]
            groups.append((p, g, ent, to_rows, slot, treated, shift, []))
    rng = np.random.default_rng([int(seed), 164])  # a stream of its own
    draw_cells = FineCells(
        cell=e.cell, slot=np.zeros(e.cell.size, dtype=np.int64), count=e.count.astype(np.int64),
        mean_loss=np.zeros(e.cell.size), n_cells=n_cells, n_bins=1,
    )  # fmt: skip
    for draws in iter_replicates(draw_cells, n_boot=n_boot, rng=rng):
        for _p, _g, ent, to_rows, slot, treated, _shift, out in groups:
            w = np.asarray(to_rows @ draws[ent].astype(np.float64))
            out.append(_nb(w, slot, treated, last, odds))
    intervals, undefined = [], []
    for p, part in enumerate(partitions):
        n_g = len(part.keys)
        reps = {k: np.full((n_boot, n_g), np.nan) for k in NB_KEYS}
        for gp, g, _ent, _rows, _slot, _treated, shift, out in groups:
            if gp != p:
                continue
            for i, k in enumerate(NB_KEYS):
                reps[k][:, g] = np.concatenate([o[i] for o in out]) + shift[i]
        intervals.append({k: percentile_intervals(v, confidence)[:2] for k, v in reps.items()})
        undefined.append({k: np.count_nonzero(~np.isfinite(v), axis=0) for k, v in reps.items()})
    return tuple(intervals), tuple(undefined)
