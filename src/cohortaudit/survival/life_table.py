"""Life tables on a time grid: the Kaplan-Meier that pools exactly from counts.

Why a grid: a multi-site audit cannot move event times between sites, but the counts of a
life table on a time grid fixed in advance add up across sites, so the pooled estimate is the
same number a single site holding every patient would compute on that grid.

Grid 0 = t_0 < t_1 < ... < t_J = tau. For interval j (1-based), with T the follow-up time:

* ``at_risk[j]``: still event-free and under observation when the interval starts --
  events with T > t_{j-1} and censorings with T >= t_{j-1} (all n for j = 1, as T > 0);
* ``events[j]``: events with t_{j-1} < T <= t_j (an event at a grid point closes its interval,
  so an event at tau counts by the horizon);
* ``censored[j]``: censorings with t_{j-1} <= T < t_j (a censoring at a grid point opens the
  next interval: that patient was at risk at the grid point, events first);
* ``at_risk[j+1] = at_risk[j] - events[j] - censored[j]``; what is left after the last interval,
  ``beyond``, is the number event-free and under observation at tau (T > tau, or censored at
  tau): the *controls* of the audit.

The estimate ("life-table Kaplan-Meier"): with r_j = at_risk[j] - censored[j] (an interval's
censorings are removed before its events),

    S(t_j) = prod_{i <= j} (1 - events[i] / r_i),   Greenwood V_j = sum d_i / (r_i (r_i - d_i)).

What it equals. It is the Kaplan-Meier estimate of the data with every event time moved up to
the grid point closing its interval and every censoring time moved down to the grid point
opening it. So it equals the patient-level Kaplan-Meier (Greenwood variance included) at every
grid point **exactly when every event time is a grid point** (censorings anywhere): then
r_j = #{T >= t_j} is the Kaplan-Meier risk set. Otherwise it is a life-table estimate that is
slightly pessimistic within an interval (its censorings are taken out before its events), and
converges to the Kaplan-Meier as the grid is refined (no two distinct event times share an
interval). The actuarial estimator (r_j = at_risk - censored / 2) is not used: it is exact in no
limit that a grid can reach.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cohortaudit.errors import ConfigError

__all__ = [
    "LifeTable",
    "LifeTableCurve",
    "life_table",
    "life_table_curve",
    "time_grid",
    "coarsen",
    "common_edges",
]


@dataclass(frozen=True, eq=False)
class LifeTable:
    """Counts per interval of ``edges`` (J + 1 edges, J intervals) and what is left at tau."""

    edges: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray
    censored: np.ndarray

    @property
    def n(self) -> int:
        return int(self.at_risk[0]) if self.at_risk.size else 0

    @property
    def beyond(self) -> int:
        """Event-free and under observation at tau (T > tau, or censored exactly at tau)."""
        return int(self.at_risk[-1] - self.events[-1] - self.censored[-1])


@dataclass(frozen=True, eq=False)
class LifeTableCurve:
    """Survival after each interval (at its right edge) and the cumulative Greenwood sum
    (``inf`` once survival reaches 0); ``evaluable`` is False when nobody is observed through
    the last interval (its risk set is empty: the follow-up ends before tau)."""

    table: LifeTable
    survival: np.ndarray
    greenwood: np.ndarray

    @property
    def evaluable(self) -> bool:
        t = self.table
        return bool(t.at_risk.size) and int(t.at_risk[-1] - t.censored[-1]) > 0

    @property
    def survival_at_horizon(self) -> float:
        return float(self.survival[-1]) if self.survival.size else 1.0

    @property
    def greenwood_at_horizon(self) -> float:
        return float(self.greenwood[-1]) if self.greenwood.size else 0.0


def time_grid(horizon: float, steps: int) -> np.ndarray:
    """Edges 0, tau/steps, ..., tau (the horizon itself is the last edge, exactly)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not (1 <= steps <= 10_000):
        raise ConfigError(
            f"The 'grid_steps' parameter must be an integer in [1, 10000]. Got {steps!r} instead."
        )
    tau = float(horizon)
    if not (math.isfinite(tau) and tau > 0):
        raise ConfigError(f"The horizon must be a positive finite number. Got {horizon!r} instead.")
    edges = tau * np.arange(steps + 1, dtype=np.float64) / steps
    edges[-1] = tau
    return edges


def life_table(time: np.ndarray, event: np.ndarray, edges: np.ndarray) -> LifeTable:
    """The life table of patients (``time`` > 0 float64, ``event`` bool) on ``edges``."""
    n_int = len(edges) - 1
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event, dtype=bool)
    # event: t_{j-1} < T <= t_j  ->  j = searchsorted(left); beyond tau -> n_int + 1
    e_idx = np.searchsorted(edges, time[event], side="left")
    # censoring: t_{j-1} <= T < t_j  ->  j = searchsorted(right); at or beyond tau -> n_int + 1
    c_idx = np.searchsorted(edges, time[~event], side="right")
    events = np.bincount(e_idx, minlength=n_int + 2)[1 : n_int + 1].astype(np.int64)
    censored = np.bincount(c_idx, minlength=n_int + 2)[1 : n_int + 1].astype(np.int64)
    leaving = np.concatenate(([0], np.cumsum(events + censored)[:-1]))
    at_risk = (time.size - leaving).astype(np.int64)
    return LifeTable(np.asarray(edges, dtype=np.float64), at_risk, events, censored)


def life_table_curve(table: LifeTable) -> LifeTableCurve:
    """The life-table Kaplan-Meier and Greenwood sums of ``table`` (module docstring)."""
    r = (table.at_risk - table.censored).astype(np.float64)
    d = table.events.astype(np.float64)
    frac = np.where(r > 0, d / np.maximum(r, 1.0), 0.0)
    surv = np.cumprod(1.0 - frac)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(d > 0, d / (r * (r - d)), 0.0)
    term = np.where((d > 0) & (d >= r), np.inf, term)
    return LifeTableCurve(table, surv, np.cumsum(term))


def coarsen(table: LifeTable, edges: np.ndarray) -> LifeTable:
    """The same table on coarser ``edges`` (a subset of the table's edges, same ends)."""
    own = table.edges
    pos = np.searchsorted(own, edges)
    if (
        len(edges) < 2
        or np.any(pos >= own.size)
        or not np.array_equal(own[pos], edges)
        or pos[0] != 0
        or pos[-1] != own.size - 1
    ):
        raise ConfigError(
            "A life table can only be coarsened to a subset of its own interval edges with "
            "the same first and last edge (0 and the horizon)."
        )
    starts = pos[:-1]
    return LifeTable(
        np.asarray(edges, dtype=np.float64),
        table.at_risk[starts],
        np.add.reduceat(table.events, starts),
        np.add.reduceat(table.censored, starts),
    )


def common_edges(edge_sets: list[np.ndarray]) -> np.ndarray:
    """The finest edges every table can be coarsened to: the edges all of them have."""
    common = set(np.asarray(edge_sets[0], dtype=np.float64).tolist())
    for e in edge_sets[1:]:
        common &= set(np.asarray(e, dtype=np.float64).tolist())
    return np.array(sorted(common), dtype=np.float64)
