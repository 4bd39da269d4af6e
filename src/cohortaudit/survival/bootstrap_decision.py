"""Bootstrap bands for the time-to-event decision curve: net benefit and its gain over
treat-all, with percentile intervals at every threshold of the grid (issue 19, point 5).

At threshold t the treated are the patients with r >= t; with P their share and S_t the
Kaplan-Meier survival at tau among them, NB(t) = P (1 - S_t) - P S_t t / (1 - t), and treat-all
is (1 - S) - S t / (1 - t) (:mod:`cohortaudit.survival.decision`). The treated sets are nested,
so every threshold's Kaplan-Meier comes from one table per replicate: patients are reduced to
coarse entries -- (finest cell, time slot, how many thresholds they pass) with the time slots of
:mod:`cohortaudit.survival.bootstrap_utility` (quantiles of the event times <= tau) -- resampled
within their finest cell by one multinomial draw per cell on a seeded stream of their own (so no
other interval moves); per replicate a reverse cumulative sum over "thresholds passed" gives the
treated at every threshold, and reverse cumulative sums over the slots their numbers at risk.
Replicates are shifted by (exact estimate - the same coarse computation on all patients once),
so the coarse slots cost no bias. Percentile intervals; none where fewer than half of the
replicates are defined (the treated followed to tau in none).

Why by hand: no library bootstraps a survival decision curve (R's dcurves gives none), and a
Kaplan-Meier fit per threshold, replicate and group would cost 99 x 1000 fits per group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from cohortaudit.errors import SchemaError
from cohortaudit.metrics.bootstrap import FineCells, iter_replicates, percentile_intervals
from cohortaudit.metrics.table import Partition
from cohortaudit.survival.bootstrap_utility import UTILITY_TIME_BINS
from cohortaudit.survival.decision import DecisionPoint
from cohortaudit.survival.time_slots import quantile_edges, time_slots

__all__ = ["DecisionBand", "DECISION_CI_METHOD", "decision_curve_intervals"]

DECISION_CI_METHOD = (
    "stratified patient bootstrap, percentile, at every threshold; Kaplan-Meier among the "
    "treated and among all per replicate on {t} event-time slots, replicates centred on the "
    "exact estimate"
)


@dataclass(frozen=True, eq=False)
class DecisionBand:
    """Intervals at each point of a group's decision curve (its order): NaN = no interval."""

    nb_low: np.ndarray
    nb_high: np.ndarray
    gain_low: np.ndarray  # NB - treat-all
    gain_high: np.ndarray


def _curves(w: np.ndarray, n_slots: int, m: int, odds: np.ndarray):
    """NB and NB - treat-all, (m, r), from weights (n_slots * (m + 1), r) by (slot, passes)."""
    r = w.shape[1]
    cube = w.reshape(n_slots, m + 1, r)
    passed = np.cumsum(cube[:, ::-1], axis=1)[:, ::-1]  # [:, j]: patients passing >= j
    everyone, treated = passed[:, 0], passed[:, 1:]  # treated at threshold j: passes >= j + 1
    slot = np.arange(n_slots)
    is_event = ((slot % 2 == 1) & (slot < n_slots - 1))[:, None, None]

    def km(x: np.ndarray) -> np.ndarray:
        at_risk = np.cumsum(x[::-1], axis=0)[::-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(is_event & (x > 0), 1.0 - x / np.where(at_risk > 0, at_risk, 1.0), 1.0)
        return np.prod(f, axis=0)

    s_all = km(everyone[:, None, :])[0]  # (r,)
    s_t = km(treated)  # (m, r)
    n = everyone.sum(axis=0)  # (r,)
    n_t = treated.sum(axis=0)  # (m, r)
    followed = treated[-1] > 0
    o = odds[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = n_t / n
        nb = np.where(n_t > 0, share * (1.0 - s_t) - share * s_t * o, 0.0)
    nb = np.where((n_t > 0) & ~followed, np.nan, nb)
    treat_all = (1.0 - s_all)[None, :] - s_all[None, :] * o
    return nb, nb - treat_all


def decision_curve_intervals(
    time: np.ndarray,
    event: np.ndarray,
    risk: np.ndarray,
    cell: np.ndarray,
    partitions: Sequence[Partition],
    curves: Sequence[Sequence[tuple[DecisionPoint, ...] | None]],
    *,
    horizon: float,
    n_boot: int,
    seed: int,
    confidence: float,
) -> tuple[tuple[DecisionBand | None, ...], ...]:
    """Per partition and group: the band of its exact decision curve ``curves[p][g]`` (None:
    no band wanted, e.g. not released or not drawn). Every curve must be on one threshold grid,
    ascending (``survival.decision.THRESHOLD_GRID``)."""
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event).astype(bool)
    risk = np.asarray(risk, dtype=np.float64)
    wanted = [(p, g, c) for p, row in enumerate(curves) for g, c in enumerate(row) if c]
    out: list[list[DecisionBand | None]] = [[None] * len(row) for row in curves]
    if not wanted or n_boot <= 0:
        return tuple(tuple(r) for r in out)
    grid = np.array([pt.threshold for pt in wanted[0][2]], dtype=np.float64)
    if np.any(np.diff(grid) <= 0) or any(
        len(c) != grid.size or any(pt.threshold != t for pt, t in zip(c, grid, strict=True))
        for _, _, c in wanted
    ):
        raise SchemaError("The decision curves must share one ascending threshold grid.")
    m = grid.size
    odds = grid / (1.0 - grid)
    tau = float(horizon)
    case_times = time[event & (time <= tau)]
    slot, n_slots = time_slots(time, event, tau, quantile_edges(case_times, UTILITY_TIME_BINS))
    passes = np.searchsorted(grid, risk, side="right")
    n_cells = len(partitions[0].cell_to_group)
    key = (cell.astype(np.int64) * n_slots + slot) * (m + 1) + passes
    distinct, inv = np.unique(key, return_inverse=True)
    count = np.bincount(inv.ravel(), minlength=distinct.size).astype(np.float64)
    e_cell, e_row = np.divmod(distinct, n_slots * (m + 1))  # e_row = slot * (m + 1) + passes
    order = np.argsort(e_cell, kind="stable")
    starts = np.searchsorted(e_cell[order], np.arange(n_cells + 1))
    groups = []
    for p, g, curve in wanted:
        cells = np.flatnonzero(partitions[p].membership[g] > 0)
        ent = np.concatenate([order[starts[c] : starts[c + 1]] for c in cells])
        to_rows = sparse.csr_matrix(
            (np.ones(ent.size), (e_row[ent], np.arange(ent.size))),
            shape=(n_slots * (m + 1), ent.size),
        )
        nb0, gain0 = _curves(to_rows @ count[ent][:, None], n_slots, m, odds)
        exact_nb = np.array(
            [np.nan if pt.net_benefit is None else pt.net_benefit for pt in curve]
        )
        exact_gain = np.array(
            [
                np.nan if pt.net_benefit is None else pt.net_benefit - pt.net_benefit_treat_all
                for pt in curve
            ]
        )
        groups.append((p, g, ent, to_rows, exact_nb - nb0[:, 0], exact_gain - gain0[:, 0], []))
    rng = np.random.default_rng([int(seed), 165])  # a stream of its own
    draw_cells = FineCells(
        cell=e_cell, slot=np.zeros(e_cell.size, dtype=np.int64), count=count.astype(np.int64),
        mean_loss=np.zeros(e_cell.size), n_cells=n_cells, n_bins=1,
    )  # fmt: skip
    for draws in iter_replicates(draw_cells, n_boot=n_boot, rng=rng):
        for _p, _g, ent, to_rows, _s1, _s2, reps in groups:
            w = np.asarray(to_rows @ draws[ent].astype(np.float64))
            reps.append(_curves(w, n_slots, m, odds))
    for p, g, _ent, _rows, shift_nb, shift_gain, reps in groups:
        nb = np.concatenate([r[0] for r in reps], axis=1).T + shift_nb  # (B, m)
        gain = np.concatenate([r[1] for r in reps], axis=1).T + shift_gain
        nb_lo, nb_hi = percentile_intervals(nb, confidence)[:2]
        g_lo, g_hi = percentile_intervals(gain, confidence)[:2]
        out[p][g] = DecisionBand(nb_lo, nb_hi, g_lo, g_hi)
    return tuple(tuple(r) for r in out)
