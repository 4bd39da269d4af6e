"""Bootstrap intervals for the flexible calibration at the horizon: ICI, E50, E90, Emax and the
band of the calibration curve (issue 16, point 2; Austin, Harrell & van Klaveren, Stat Med 2020).

The point estimate (:func:`cohortaudit.survival.calibration.flexible_calibration`) fits a Cox
model on a restricted cubic spline of cloglog(r) to each group's patients. Its intervals need
that fit repeated on every bootstrap replicate of every group, which per patient would cost
hours at a million patients. So, as the binary audit does for its smoother
(:mod:`cohortaudit.metrics.calibration_boot`):

* patients are reduced to coarse *entries* -- (finest cell, time slot, risk bin) with
  ``SMOOTHER_TIME_BINS`` quantiles of the event times <= tau as time slots (a life table: an
  event counts at the upper edge of its time bin, a censoring before tau after the events of
  the bin below it) and ``SMOOTHER_RISK_BINS`` quantile bins of cloglog(r), each entry keeping
  the mean cloglog(r) and mean r of its patients;
* replicates resample patients within their finest cell (one multinomial draw per cell over its
  entries, :func:`cohortaudit.metrics.bootstrap.iter_replicates`), for the first
  ``n_smooth`` replicates only (``SMOOTHER_REPLICATES``, as the binary smoother), with their own
  seeded stream;
* per group, the spline Cox model (the group's own knots, from its patients) is refitted on the
  replicate's entry counts by Newton's method on the Breslow partial likelihood, vectorised over
  replicates; ICI, E50, E90 (weighted quantiles, numpy's 'linear' rule over the drawn
  patients), Emax and the curve on the fixed grid follow from the fit and the Breslow baseline;
* every replicate is shifted by (exact point estimate - the same coarse computation on all
  patients once), so the coarse time and risk bins cost no bias; the percentile interval of the
  shifted replicates is reported, NaN where fewer than half the replicates are defined.

Why not lifelines or scikit-survival per replicate: they are test-only dependencies, and a fit
per replicate and group is the cost this module exists to avoid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from cohortaudit.metrics.bootstrap import FineCells, iter_replicates, percentile_intervals
from cohortaudit.metrics.calibration import choose_knots, rcs_basis
from cohortaudit.metrics.table import Partition
from cohortaudit.survival.calibration import cloglog
from cohortaudit.survival.time_slots import quantile_edges, time_slots

__all__ = [
    "SMOOTHER_METRICS",
    "SMOOTHER_TIME_BINS",
    "SMOOTHER_RISK_BINS",
    "SMOOTHER_METHOD",
    "SmootherIntervals",
    "smoother_intervals",
]

SMOOTHER_METRICS = ("ici", "e50", "e90", "emax")
SMOOTHER_TIME_BINS = 32
SMOOTHER_RISK_BINS = 32
SMOOTHER_METHOD = (
    "stratified patient bootstrap, percentile, on the first {n} replicates; the spline Cox "
    "model refitted per replicate on {t} event-time and {r} risk bins, replicates centred on "
    "the exact estimate"
)

_NEWTON_STEPS = 25
_STEP_TOL = 1e-7  # intervals are read to ~1e-3
_HALVINGS = 12


@dataclass(frozen=True)
class SmootherIntervals:
    """Per partition: metric -> (lower (G_p,), upper (G_p,)); the curve band of each group as
    (lower, upper) arrays over its grid points (empty tuple where none); undefined replicates."""

    intervals: tuple[Mapping[str, tuple[np.ndarray, np.ndarray]], ...]
    bands: tuple[tuple[tuple[np.ndarray, np.ndarray] | None, ...], ...]
    undefined: tuple[Mapping[str, np.ndarray], ...]
    n_smooth: int


@dataclass(frozen=True)
class _Entries:
    cell: np.ndarray
    slot: np.ndarray  # 0 .. 2K+1 as in survival.bootstrap (odd < 2K+1: events)
    count: np.ndarray
    rbin: np.ndarray
    x: np.ndarray  # mean cloglog(r)
    r: np.ndarray  # mean r
    n_slots: int
    n_rbins: int


def _entries(time, event, risk, cell, tau: float) -> _Entries:
    time_edges = quantile_edges(time[event & (time <= tau)], SMOOTHER_TIME_BINS)
    slot, n_slots = time_slots(time, event, tau, time_edges)
    x = cloglog(risk)
    edges = np.unique(np.quantile(x, np.linspace(0, 1, SMOOTHER_RISK_BINS + 1)[1:-1]))
    rbin = np.searchsorted(edges, x, side="right")
    n_rb = edges.size + 1
    key = (cell.astype(np.int64) * n_slots + slot) * n_rb + rbin
    distinct, inv = np.unique(key, return_inverse=True)
    inv = inv.ravel()
    count = np.bincount(inv, minlength=distinct.size).astype(np.float64)
    cs, b = np.divmod(distinct, n_rb)
    c, s = np.divmod(cs, n_slots)
    return _Entries(
        cell=c,
        slot=s,
        count=count,
        rbin=b,
        x=np.bincount(inv, weights=x, minlength=distinct.size) / count,
        r=np.bincount(inv, weights=risk, minlength=distinct.size) / count,
        n_slots=n_slots,
        n_rbins=n_rb,
    )


@dataclass(frozen=True)
class _Group:
    """One released group's coarse rows -- (slot, risk bin) over its cells -- and what its fit
    needs. ``to_rows @ draws[entries]`` gives the rows' counts in a replicate."""

    partition: int
    index: int
    entries: np.ndarray  # entry indices of the group's cells
    to_rows: sparse.csr_matrix  # (rows, len(entries))
    basis: np.ndarray  # (rows, 2) spline basis of the rows' mean cloglog
    r: np.ndarray  # (rows,) mean predicted risk
    slot_of: np.ndarray  # (rows,) position of the row's slot among the group's slots
    event_slot: np.ndarray  # (slots,) True for event slots
    event_row: np.ndarray  # (rows,) 1.0 for rows of events by tau
    curve_basis: np.ndarray  # (points, 2) basis at the grid points of the exact curve
    exact: dict[str, float]
    exact_curve: np.ndarray


def _weighted_quantiles(d: np.ndarray, w: np.ndarray, qs: Sequence[float]) -> list[np.ndarray]:
    """numpy's 'linear' quantiles ``qs`` of the patients, row i of ``d`` counted ``w[i]``
    times (integer counts), per column; one sort serves every quantile."""
    order = np.argsort(d, axis=0, kind="stable")
    ds = np.take_along_axis(d, order, axis=0)
    cw = np.cumsum(np.take_along_axis(w, order, axis=0), axis=0)
    last = d.shape[0] - 1
    n = cw[-1]
    out = []
    for q in qs:
        pos = q * np.maximum(n - 1, 0)
        lo = np.floor(pos)
        # the sorted row holding patient number lo (0-based) and lo + 1, per column
        a = np.minimum(np.sum(cw <= lo[None, :], axis=0), last)
        b = np.minimum(np.sum(cw <= lo[None, :] + 1, axis=0), last)
        cols = np.arange(d.shape[1])
        va, vb = ds[a, cols], ds[b, cols]
        out.append(va + (vb - va) * (pos - lo))
    return out


def _lin(x: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """x @ beta for two columns, element-wise: a BLAS product's summation order depends on the
    CPU, and the same audit must give the same JSON on any machine (metrics.portable)."""
    return x[:, 0:1] * beta[0][None, :] + x[:, 1:2] * beta[1][None, :]


def _fit_group(g: _Group, w: np.ndarray, start: np.ndarray) -> dict[str, np.ndarray]:
    """Newton (step halving) on the Breslow partial likelihood for every replicate column of
    ``w`` (rows, r) at once; the smoother metrics and the curve, NaN where a fit fails."""
    x = g.basis
    n_slots = g.event_slot.size
    summer = sparse.csr_matrix(
        (np.ones(x.shape[0]), (g.slot_of, np.arange(x.shape[0]))), shape=(n_slots, x.shape[0])
    )
    ev = g.event_slot
    d = np.asarray(summer @ w)[ev]  # (event slots, r) events per slot
    sx_events = np.stack([np.asarray(summer @ (w * x[:, j : j + 1]))[ev].sum(0) for j in (0, 1)])

    # the six products whose risk-set sums the Newton step needs: 1, x0, x1, x0^2, x0 x1, x1^2
    prods = np.stack([np.ones(x.shape[0]), x[:, 0], x[:, 1], x[:, 0] ** 2, x[:, 0] * x[:, 1],
                      x[:, 1] ** 2], axis=1)  # fmt: skip
    r = w.shape[1]

    def terms(beta):
        eta = _lin(x, beta)  # (rows, r)
        a = w * np.exp(eta)
        stacked = (a[:, None, :] * prods[:, :, None]).reshape(x.shape[0], 6 * r)
        per_slot = np.asarray(summer @ stacked)
        sets = np.cumsum(per_slot[::-1], axis=0)[::-1][ev].reshape(-1, 6, r)
        s0 = sets[:, 0]
        s1 = np.stack([sets[:, 1], sets[:, 2]])
        s2 = np.stack([np.stack([sets[:, 3], sets[:, 4]]), np.stack([sets[:, 4], sets[:, 5]])])
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = np.sum(w * eta * g.event_row[:, None], axis=0) - np.sum(d * np.log(s0), 0)
            m1 = s1 / s0
            grad = sx_events - np.sum(d * m1, axis=1)
            info = np.sum(d * (s2 / s0 - m1[:, None] * m1[None, :]), axis=2)
        return ll, grad, info, s0

    beta = np.repeat(start[:, None], w.shape[1], axis=1).astype(np.float64)
    ll, grad, info, s0 = terms(beta)
    done = np.zeros(w.shape[1], dtype=bool)
    for _ in range(_NEWTON_STEPS):
        det = info[0, 0] * info[1, 1] - info[0, 1] * info[1, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.stack(
                [
                    (info[1, 1] * grad[0] - info[0, 1] * grad[1]) / det,
                    (info[0, 0] * grad[1] - info[1, 0] * grad[0]) / det,
                ]
            )
        step = np.where(done | ~np.isfinite(step), 0.0, step)
        for _half in range(_HALVINGS):
            new = beta + step
            new_ll, new_grad, new_info, new_s0 = terms(new)
            worse = ~(new_ll >= ll - 1e-10 * np.abs(ll))
            if not np.any(worse & ~done):
                break
            step = np.where(worse, step / 2, step)
        beta, ll, grad, info, s0 = new, new_ll, new_grad, new_info, new_s0
        done |= np.max(np.abs(step), axis=0) < _STEP_TOL
        if np.all(done):
            break
    ok = done & np.all(np.isfinite(beta), axis=0) & (np.max(np.abs(beta), axis=0) < 50)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        h0 = np.sum(d / s0, axis=0)
        obs = -np.expm1(-h0 * np.exp(_lin(x, beta)))
        dist = np.abs(obs - g.r[:, None])
        wpos = w > 0
        out = {
            "ici": np.sum(w * dist, axis=0) / np.sum(w, axis=0),
            **dict(zip(("e50", "e90"), _weighted_quantiles(dist, w, (0.5, 0.9)), strict=True)),
            "emax": np.max(np.where(wpos, dist, -np.inf), axis=0),
            "curve": -np.expm1(-h0 * np.exp(_lin(g.curve_basis, beta))),
        }
    for key, v in out.items():
        out[key] = np.where(ok, v, np.nan)
    out["beta"] = beta
    return out


def smoother_intervals(
    time: np.ndarray,
    event: np.ndarray,
    risk: np.ndarray,
    cell: np.ndarray,
    partitions: Sequence[Partition],
    released: Sequence[Sequence[bool]],
    exact: Sequence[Sequence[Mapping[str, float] | None]],
    curves: Sequence[Sequence[Sequence[tuple[float, float]]]],
    *,
    horizon: float,
    n_smooth: int,
    seed: int,
    confidence: float,
) -> SmootherIntervals:
    """Percentile intervals of ICI/E50/E90/Emax and the curve band of every released group.

    ``exact[p][g]``: the group's exact estimates (metric -> value; None: no fit, no interval);
    ``curves[p][g]``: its exact curve as (predicted, observed) points on the grid; ``cell``:
    finest cell per patient (as the partitions map them). Deterministic in ``seed``.
    """
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event).astype(bool)
    risk = np.asarray(risk, dtype=np.float64)
    n_cells = len(partitions[0].cell_to_group)
    e = _entries(time, event, risk, cell, horizon)
    x_patient = cloglog(risk)
    order = np.argsort(cell, kind="stable")
    starts = np.searchsorted(cell[order], np.arange(n_cells + 1))
    entry_order = np.argsort(e.cell, kind="stable")
    entry_starts = np.searchsorted(e.cell[entry_order], np.arange(n_cells + 1))

    groups: list[_Group] = []
    for p, part in enumerate(partitions):
        for gi in range(len(part.keys)):
            ex = exact[p][gi]
            if not released[p][gi] or ex is None or not all(
                math.isfinite(ex.get(m, math.nan)) for m in SMOOTHER_METRICS
            ):
                continue
            cells = np.flatnonzero(part.membership[gi] > 0)
            pats = np.concatenate([order[starts[c] : starts[c + 1]] for c in cells])
            knots = choose_knots(x_patient[pats], 3)
            if knots.size != 3:
                continue
            ent = np.concatenate([entry_order[entry_starts[c] : entry_starts[c + 1]] for c in cells])
            rows, row_of = np.unique(e.slot[ent] * e.n_rbins + e.rbin[ent], return_inverse=True)
            row_of = row_of.ravel()
            to_rows = sparse.csr_matrix(
                (np.ones(ent.size), (row_of, np.arange(ent.size))), shape=(rows.size, ent.size)
            )
            n_row = to_rows @ e.count[ent]
            x_row = (to_rows @ (e.count[ent] * e.x[ent])) / n_row
            r_row = (to_rows @ (e.count[ent] * e.r[ent])) / n_row
            slots, slot_of = np.unique(rows // e.n_rbins, return_inverse=True)
            event_slot = (slots % 2 == 1) & (slots < e.n_slots - 1)
            pts = np.array([pt for pt, _ in curves[p][gi]], dtype=np.float64)
            groups.append(
                _Group(
                    partition=p,
                    index=gi,
                    entries=ent,
                    to_rows=to_rows,
                    basis=rcs_basis(x_row, knots),
                    r=r_row,
                    slot_of=slot_of.ravel(),
                    event_slot=event_slot,
                    event_row=event_slot[slot_of.ravel()].astype(np.float64),
                    curve_basis=rcs_basis(cloglog(pts), knots) if pts.size else np.zeros((0, 2)),
                    exact=dict(ex),
                    exact_curve=np.array([o for _, o in curves[p][gi]], dtype=np.float64),
                )
            )

    # the coarse fit on all patients once: the start of every replicate's Newton and the centre
    centres = {}
    for g in groups:
        base = _fit_group(g, (g.to_rows @ e.count[g.entries])[:, None], np.array([1.0, 0.0]))
        centres[(g.partition, g.index)] = base

    cells_for_draw = FineCells(
        cell=e.cell,
        slot=np.zeros(e.cell.size, dtype=np.int64),
        count=e.count.astype(np.int64),
        mean_loss=np.zeros(e.cell.size),
        n_cells=n_cells,
        n_bins=1,
    )
    rng = np.random.default_rng([int(seed), 162])  # a stream of its own: the other metrics'
    # replicates stay as they are
    fitted = [g for g in groups if np.isfinite(centres[(g.partition, g.index)]["beta"]).all()]
    chunks: dict[tuple[int, int], list[dict[str, np.ndarray]]] = {
        (g.partition, g.index): [] for g in fitted
    }
    for draws in iter_replicates(cells_for_draw, n_boot=n_smooth, rng=rng):
        for g in fitted:
            base = centres[(g.partition, g.index)]
            w = np.asarray(g.to_rows @ draws[g.entries].astype(np.float64))
            chunks[(g.partition, g.index)].append(_fit_group(g, w, base["beta"][:, 0]))
    reps = {}
    for g in fitted:
        key = (g.partition, g.index)
        base, parts = centres[key], chunks[key]
        # distances are >= 0: a shifted replicate below 0 (the coarse bins put the largest
        # distance elsewhere than the patients do) counts as 0
        shifted = {
            m: np.maximum(np.concatenate([c[m] for c in parts]) + (g.exact[m] - base[m][0]), 0.0)
            for m in SMOOTHER_METRICS
        }
        curve = np.concatenate([c["curve"] for c in parts], axis=1)
        shifted["curve"] = curve + (g.exact_curve - base["curve"][:, 0])[:, None]
        reps[key] = shifted

    intervals, bands, undefined = [], [], []
    for p, part in enumerate(partitions):
        n_g = len(part.keys)
        block = {m: np.full((n_smooth, n_g), np.nan) for m in SMOOTHER_METRICS}
        band: list[tuple[np.ndarray, np.ndarray] | None] = [None] * n_g
        und = {m: np.zeros(n_g, dtype=np.int64) for m in SMOOTHER_METRICS}
        for gi in range(n_g):
            rep = reps.get((p, gi))
            if rep is None:
                continue
            for m in SMOOTHER_METRICS:
                block[m][:, gi] = rep[m]
                und[m][gi] = int(np.count_nonzero(~np.isfinite(rep[m])))
            if rep["curve"].size:
                lo, hi, _ = percentile_intervals(rep["curve"].T, confidence)
                band[gi] = (np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0))
        intervals.append({m: percentile_intervals(block[m], confidence)[:2] for m in SMOOTHER_METRICS})
        bands.append(tuple(band))
        undefined.append(und)
    return SmootherIntervals(tuple(intervals), tuple(bands), tuple(undefined), int(n_smooth))
