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

Undefined replicates (a group drawing no events has no sensitivity nor auc_t; a group drawing
nobody followed to tau has no Kaplan-Meier there) are NaN and counted, never dropped. Definitions:
docs/TIME-TO-EVENT.md, "Bootstrap".
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from cohortaudit.config import DEFAULT_BOOT_SCORE_BINS
from cohortaudit.errors import ConfigError, SchemaError
from cohortaudit.metrics.bootstrap import (
    FineCells,
    iter_replicates,
    make_score_grid,
    percentile_intervals,
)
from cohortaudit.metrics.table import Partition
from cohortaudit.survival.concordance import auc_t as point_auc_t
from cohortaudit.survival.data import check_survival
from cohortaudit.survival.threshold import check_threshold

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
)

#: Replicates per chunk of draws (memory: about 60 bytes x entries x chunk).
_CHUNK = 50


@dataclass(frozen=True)
class SurvivalReplicates:
    """Bootstrap replicates of every partition, as the binary group table keeps them.

    ``replicates[p][metric]``: (B, G_p) float64, NaN for groups not released and for undefined
    replicates; ``overall[p][metric]``: (B,) the whole cohort from the same draws (one array for
    every p); ``undefined[p][metric]``: (G_p,) how many replicates of a released group are
    undefined (0 for groups not released); ``estimates[p][metric]``: (G_p,) the point estimates
    the replicates are centred on (all patients once); ``auc_t_bin_error_bound[p]``: (G_p,) the
    bound on the binned auc_t's error (0 when every distinct risk has its own bin).
    """

    replicates: tuple[Mapping[str, np.ndarray], ...]
    overall: tuple[Mapping[str, np.ndarray], ...]
    undefined: tuple[Mapping[str, np.ndarray], ...]
    estimates: tuple[Mapping[str, np.ndarray], ...]
    auc_t_bin_error_bound: tuple[np.ndarray, ...]
    grid_exact: bool
    n_bins: int
    n_time_slots: int
    n_entries: int
    n_boot: int
    seed: int


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
) -> _Entries:
    case = event & (time <= tau)
    control = (time > tau) | ((time == tau) & ~event)
    u = np.unique(time[case])
    k = u.size
    slot = np.where(
        case,
        2 * np.searchsorted(u, time, side="left") + 1,
        np.where(control, 2 * k + 1, 2 * np.searchsorted(u, time, side="right")),
    ).astype(np.int64)
    thr_bin = grid.threshold_bin
    bins = grid.assign(risk).astype(np.int64)
    censored = ~case & ~control
    bins = np.where(censored, np.where(bins >= thr_bin, thr_bin, 0), bins)  # only r >= t matters
    loss = np.where(case, (1.0 - risk) ** 2, np.where(control, risk**2, 0.0))
    n_slots, n_bins = 2 * k + 2, grid.n_bins
    key = (cell.astype(np.int64) * n_slots + slot) * n_bins + bins
    keep = weights > 0
    distinct, inv = np.unique(key[keep], return_inverse=True)
    w = weights[keep].astype(np.float64)
    count = np.bincount(inv, weights=w, minlength=distinct.size)
    sum_r = np.bincount(inv, weights=w * risk[keep], minlength=distinct.size)
    sum_loss = np.bincount(inv, weights=w * loss[keep], minlength=distinct.size)
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
    )


# -- per-chunk aggregates shared by every partition ------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Index arrays computed once: where each entry goes in the cell-level aggregates."""

    cs_rows: np.ndarray  # distinct cell * n_slots + slot, in entry order
    cs_starts: np.ndarray
    cell_starts: np.ndarray  # entries are sorted by cell
    cells_hit: np.ndarray
    control: np.ndarray  # entry indices of event-free-at-tau entries
    control_rows: np.ndarray  # cell * n_bins + bin of those
    case: np.ndarray  # entry indices of events by tau
    case_k: np.ndarray  # event-time index 0..K-1
    pos: np.ndarray  # float: risk >= threshold


def _layout(e: _Entries) -> _Layout:
    cs = e.cell * e.n_slots + e.slot
    cs_rows, cs_starts = np.unique(cs, return_index=True)
    cells_hit, cell_starts = np.unique(e.cell, return_index=True)
    control = np.flatnonzero(e.slot == e.n_slots - 1)
    case = np.flatnonzero((e.slot % 2 == 1) & (e.slot < e.n_slots - 1))
    return _Layout(
        cs_rows=cs_rows,
        cs_starts=cs_starts,
        cell_starts=cell_starts,
        cells_hit=cells_hit,
        control=control,
        control_rows=e.cell[control] * e.n_bins + e.bin[control],
        case=case,
        case_k=(e.slot[case] - 1) // 2,
        pos=(e.bin >= e.threshold_bin).astype(np.float64),
    )


@dataclass(frozen=True)
class _CellSums:
    """One chunk's draws summed to finest cells (r replicates on the last axis)."""

    slots: np.ndarray  # (C, S * r) float32: patients per time slot
    sum_r: np.ndarray  # (C, r) float64
    positive: np.ndarray  # (C, r) float64: patients with risk >= threshold
    control_bins: np.ndarray  # (C, NB * r) float32: event-free at tau per risk bin
    control_loss: np.ndarray  # (C, r) float64: their sum of r^2
    draws: np.ndarray  # (n_entries, r) float32


def _cell_sums(e: _Entries, lay: _Layout, draws: np.ndarray) -> _CellSums:
    r = draws.shape[1]
    c, s, nb = e.n_cells, e.n_slots, e.n_bins
    slots = np.zeros((c * s, r), dtype=np.float32)
    slots[lay.cs_rows] = np.add.reduceat(draws, lay.cs_starts, axis=0)

    def per_cell(values: np.ndarray) -> np.ndarray:
        out = np.zeros((c, r))
        out[lay.cells_hit] = np.add.reduceat(values, lay.cell_starts, axis=0)
        return out

    d64 = draws.astype(np.float64)
    ctrl = np.zeros((c * nb, r), dtype=np.float32)
    ctrl[lay.control_rows] = draws[lay.control]
    ctrl_loss = np.zeros((c, r))
    np.add.at(ctrl_loss, e.cell[lay.control], d64[lay.control] * e.mean_loss[lay.control, None])
    return _CellSums(
        slots=slots.reshape(c, s * r),
        sum_r=per_cell(d64 * e.mean_r[:, None]),
        positive=per_cell(d64 * lay.pos[:, None]),
        control_bins=ctrl.reshape(c, nb * r),
        control_loss=ctrl_loss,
        draws=draws,
    )


# -- one partition ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """How one partition's released groups gather their entries."""

    keep: np.ndarray  # released groups, in group order
    membership: np.ndarray  # (len(keep), C) float32
    case_use: np.ndarray  # case entries (indices into the entries) of released groups, by (g, bin)
    case_gk: np.ndarray  # their row in the (g, event time) weights
    case_rows: np.ndarray  # distinct g * NB + bin
    case_starts: np.ndarray


def _plan(part: Partition, released: Sequence[bool], e: _Entries, lay: _Layout) -> _Plan:
    keep = np.flatnonzero(np.asarray(released, dtype=bool))
    position = np.full(len(part.keys), -1)
    position[keep] = np.arange(keep.size)
    g_case = position[part.cell_to_group[e.cell[lay.case]]]
    use = np.flatnonzero(g_case >= 0)
    rows = g_case[use] * e.n_bins + e.bin[lay.case][use]
    order = np.argsort(rows, kind="stable")
    case_rows, case_starts = np.unique(rows[order], return_index=True)
    return _Plan(
        keep=keep,
        membership=np.asarray(part.membership, dtype=np.float32)[keep],
        case_use=lay.case[use[order]],
        case_gk=(g_case[use] * max(e.n_events, 1) + lay.case_k[use])[order],
        case_rows=case_rows,
        case_starts=case_starts,
    )


def _partition_metrics(
    e: _Entries, plan: _Plan, sums: _CellSums
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """metric -> (r, released groups), and the auc_t bin error bound of each (r, groups)."""
    g_n = plan.keep.size
    r = sums.draws.shape[1]
    k, s, nb = e.n_events, e.n_slots, e.n_bins
    m32, m64 = plan.membership, plan.membership.astype(np.float64)
    w = (m32 @ sums.slots).reshape(g_n, s, r).astype(np.float64)  # exact: integer counts
    n = w.sum(axis=1)
    from_s = n[:, None, :] - np.cumsum(w, axis=1) + w  # at risk in slots >= s
    with np.errstate(divide="ignore", invalid="ignore"):
        d, at_event = w[:, 1 : 2 * k : 2], from_s[:, 1 : 2 * k : 2]
        surv = np.prod(np.where(at_event > 0, 1.0 - d / at_event, 1.0), axis=1)
        m, at_cens = w[:, 0::2], from_s[:, 0::2]  # K + 1 censoring steps
        g_steps = np.cumprod(np.where(at_cens > 0, 1.0 - m / at_cens, 1.0), axis=1)
        inv_g_case = 1.0 / g_steps[:, :k]  # 1/G(u_k-) for every event time
        inv_g_tau = 1.0 / g_steps[:, k]
    ctrl = w[:, s - 1]
    # at risk at tau: event-free at tau, plus the events at tau when tau is an event time
    at_tau = ctrl + (w[:, 2 * k - 1] if e.event_at_tau else 0.0)
    followed = at_tau > 0

    ctrl_b = (m32 @ sums.control_bins).reshape(g_n, nb, r).astype(np.float64)
    ctrl_pos = ctrl_b[:, e.threshold_bin :].sum(axis=1)
    # cases: IPCW weight per (group, risk bin), and their Brier sum
    h = np.zeros((g_n * nb, r))
    case_loss = np.zeros((g_n, r))
    if plan.case_use.size:
        wcase = sums.draws[plan.case_use] * inv_g_case.reshape(-1, r)[plan.case_gk]
        both = np.concatenate([wcase, wcase * e.mean_loss[plan.case_use, None]], axis=1)
        red = np.add.reduceat(both, plan.case_starts, axis=0)
        h[plan.case_rows] = red[:, :r]
        np.add.at(case_loss, plan.case_rows // nb, red[:, r:])
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
        specificity = np.where(ctrl > 0, (ctrl - ctrl_pos) / ctrl, np.nan)
        out = {
            "observed_risk": observed,
            "expected_risk": expected,
            "oe_ratio": np.where(expected > 0, observed / expected, np.nan),
            "auc_t": np.where((h_all > 0) & (ctrl > 0), auc_num / (h_all * ctrl), np.nan),
            "brier": brier,
            "scaled_brier": np.where(brier0 > 0, 1.0 - brier / brier0, np.nan),
            "sensitivity": np.where(h_all > 0, h_pos / h_all, np.nan),
            "specificity": specificity,
            "ppv": _ratio(h_pos, h_pos + inv_g_tau * ctrl_pos),
            "npv": _ratio(inv_g_tau * (ctrl - ctrl_pos), h_all - h_pos + inv_g_tau * (ctrl - ctrl_pos)),
            "fpr": 1.0 - specificity,
            "selection_rate": positive / n,
        }
        bound = np.where((h_all > 0) & (ctrl > 0), 0.5 * tie_mass / (h_all * ctrl), np.nan)
    for key in BOOT_METRICS:
        if key not in ("expected_risk", "selection_rate"):
            out[key] = np.where(followed, out[key], np.nan)
    return {key: v.T for key, v in out.items()}, bound.T


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
    binned auc_t's error otherwise.
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
    out["auc_t_bin_error_bound"] = 0.0 if grid.exact else float(bound[0, 0])
    return out


def _point_auc(data, tau: float, mask: np.ndarray) -> float:
    """The exact auc_t of one group (NaN when not evaluable) to centre binned replicates on."""
    try:
        est = point_auc_t(data.time[mask], data.event[mask], data.risk[mask], horizon=tau)
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
    points: Sequence[Mapping[str, np.ndarray]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SurvivalReplicates:
    """Stratified patient bootstrap of the time-to-event metrics of every released group.

    Patients are resampled with replacement within their finest cell (``cell``, as
    ``metrics.subgroups.build_cells`` gives it) by a seeded ``np.random.default_rng(seed)``;
    each replicate re-estimates the Kaplan-Meier and the censoring distribution of every group
    on its draws. ``points[p]["auc_t"]`` (G_p,), when given, are the exact auc_t estimates the
    binned replicates are centred on (else they are computed here); unused when every distinct
    risk has its own bin. Deterministic: the same arguments give identical arrays.
    """
    thr = check_threshold(threshold)
    data = check_survival(time, event, risk, horizon=horizon)
    keys = _check_metrics(metrics)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ConfigError(f"The 'n_boot' parameter must be an integer >= 1. Got {n_boot!r} instead.")
    cells, n_cells = _check_cells(cell, data.n, partitions, released)
    grid = _grid(data.risk, thr, max_bins)
    e = _entries(
        data.time, data.event, data.risk, cells, n_cells, np.ones(data.n), data.tau, grid
    )
    lay = _layout(e)
    parts = [*partitions, _whole_cohort(n_cells)]
    plans = [_plan(pt, rel, e, lay) for pt, rel in zip(parts, [*released, [True]], strict=True)]
    base_sums = _cell_sums(e, lay, e.count[:, None].astype(np.float32))
    base = [_partition_metrics(e, plan, base_sums) for plan in plans]
    shifts = []
    for p, (part, plan) in enumerate(zip(parts, plans, strict=True)):
        shift = np.zeros(plan.keep.size)
        if not grid.exact and plan.keep.size:
            q = 0 if p == len(partitions) and partitions and not partitions[0].attributes else p
            if points is not None and q < len(partitions):
                exact = np.asarray(points[q]["auc_t"], dtype=np.float64)[plan.keep]
            else:
                group = part.cell_to_group[cells]
                exact = np.array([_point_auc(data, data.tau, group == g) for g in plan.keep])
            shift = np.where(np.isfinite(exact), exact - base[p][0]["auc_t"][0], 0.0)
        shifts.append(shift)

    collected: list[dict[str, list[np.ndarray]]] = [{m: [] for m in keys} for _ in plans]
    counts = FineCells(
        cell=e.cell,
        slot=np.zeros(e.cell.size, dtype=np.int64),
        count=np.rint(e.count).astype(np.int64),
        mean_loss=np.zeros(e.cell.size),
        n_cells=n_cells,
        n_bins=1,
    )
    rng = np.random.default_rng(seed)
    done = 0
    active = [i for i, plan in enumerate(plans) if plan.keep.size]
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        for draws in iter_replicates(counts, n_boot=n_boot, rng=rng, chunk=_CHUNK):
            sums = _cell_sums(e, lay, draws)
            futures = [pool.submit(_partition_metrics, e, plans[i], sums) for i in active]
            for i, future in zip(active, futures, strict=True):
                values, _ = future.result()
                for m in keys:
                    collected[i][m].append(values[m])
            done += draws.shape[1]
            if progress is not None:
                progress(done, n_boot)

    def full(p: int, m: str, rows: int, values) -> np.ndarray:
        arr = np.full((rows, len(parts[p].keys)), np.nan)
        if plans[p].keep.size:
            arr[:, plans[p].keep] = values + (shifts[p] if m == "auc_t" else 0.0)
        return arr

    reps, undefined, estimates, bounds = [], [], [], []
    for p, plan in enumerate(plans):
        reps.append({m: full(p, m, n_boot, np.concatenate(collected[p][m])) for m in keys})
        estimates.append({m: full(p, m, 1, base[p][0][m])[0] for m in keys})
        und = {}
        for m in keys:
            count = np.zeros(len(parts[p].keys), dtype=np.int64)
            count[plan.keep] = np.count_nonzero(~np.isfinite(reps[p][m][:, plan.keep]), axis=0)
            und[m] = count
        undefined.append(und)
        bound = np.full(len(parts[p].keys), np.nan)
        bound[plan.keep] = 0.0 if grid.exact else base[p][1][0]
        bounds.append(bound)
    whole = {m: reps[-1][m][:, 0] for m in keys}
    n_p = len(partitions)
    return SurvivalReplicates(
        replicates=tuple(reps[:n_p]),
        overall=tuple(whole for _ in range(n_p)),
        undefined=tuple(undefined[:n_p]),
        estimates=tuple(estimates[:n_p]),
        auc_t_bin_error_bound=tuple(bounds[:n_p]),
        grid_exact=bool(grid.exact),
        n_bins=int(grid.n_bins),
        n_time_slots=e.n_slots,
        n_entries=int(e.cell.size),
        n_boot=int(n_boot),
        seed=int(seed),
    )


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
