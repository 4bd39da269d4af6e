"""Decision curve at the horizon (Vickers, Cronin, Elkin, Kattan, Bach & Bach 2008, "Extensions
to decision curve analysis", BMC Med Inform Decis Mak; R dcurves ``dca(Surv(t, e) ~ r,
time = tau)``).

At threshold t a patient is treated iff r >= t. With P = share treated and S_sub(tau) the
Kaplan-Meier survival at tau among the treated,
    NB(t) = P * (1 - S_sub(tau)) - P * S_sub(tau) * t / (1 - t)
(true positives per patient P * (1 - S_sub), false positives P * S_sub). Nobody treated gives
NB = 0. Treat-all uses the whole group's Kaplan-Meier: (1 - S) - S * t / (1 - t).
When the treated patients' follow-up ends before tau their KM is not defined at tau: that
threshold is not evaluable (never extrapolated).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cohortaudit.survival.data import check_survival
from cohortaudit.survival.km import kaplan_meier, survival_at

__all__ = ["DecisionPoint", "decision_curve", "THRESHOLD_GRID"]

THRESHOLD_GRID = tuple(round(i / 100, 2) for i in range(1, 100))


@dataclass(frozen=True)
class DecisionPoint:
    threshold: float
    net_benefit: float | None
    net_benefit_treat_all: float
    treated: float
    reason: str | None = None


def decision_curve(
    time: object,
    event: object,
    risk: object,
    *,
    horizon: object,
    thresholds: tuple[float, ...] = THRESHOLD_GRID,
) -> tuple[DecisionPoint, ...]:
    """Net benefit of the model and of treat-all on a threshold grid, at the horizon.

    Every threshold's Kaplan-Meier among the treated in one pass (the treated sets are nested):
    patients are counted by (how many thresholds they pass, the first event time after their
    follow-up), and reverse cumulative sums give each threshold's events and numbers at risk
    at every event time by the horizon -- the product-limit of each treated subset, without a
    Kaplan-Meier call per threshold (99 per group made this the costliest step of an audit).
    """
    data = check_survival(time, event, risk, horizon=horizon)
    tau = data.tau
    s_all = survival_at(kaplan_meier(data.time, data.event), tau)
    grid = np.asarray(thresholds, dtype=np.float64)
    order = np.argsort(grid, kind="stable")
    sorted_grid = grid[order]
    m = sorted_grid.size
    # passes[i]: number of (sorted) thresholds t with t <= r_i, so i is treated at t_j iff j < passes
    passes = np.searchsorted(sorted_grid, data.risk, side="right")
    case = data.event & (data.time <= tau)
    u = np.unique(data.time[case])  # event times by the horizon
    k = u.size
    # at risk at u_k: time >= u_k, i.e. k < searchsorted(u, time, "right")
    reach = np.searchsorted(u, data.time, side="right")
    at_idx = np.bincount(passes * (k + 1) + reach, minlength=(m + 1) * (k + 1))
    at_counts = at_idx.reshape(m + 1, k + 1).astype(np.float64)
    ev_pos = np.searchsorted(u, data.time[case], side="left")
    ev_counts = np.bincount(
        passes[case] * max(k, 1) + ev_pos, minlength=(m + 1) * max(k, 1)
    ).reshape(m + 1, max(k, 1))[:, :k].astype(np.float64)
    followed = np.bincount(passes[data.time >= tau], minlength=m + 1)
    treated_n = np.bincount(passes, minlength=m + 1)
    # sum over J > j (the patients treated at threshold j)
    rev = lambda a: np.cumsum(a[::-1], axis=0)[::-1][1:]  # noqa: E731
    at_j, ev_j = rev(at_counts), rev(ev_counts)
    followed_j, treated_j = rev(followed), rev(treated_n)
    n_at = np.cumsum(at_j[:, ::-1], axis=1)[:, ::-1][:, 1:]  # patients with reach > k
    with np.errstate(divide="ignore", invalid="ignore"):
        factors = np.where(ev_j > 0, 1.0 - ev_j / np.where(n_at > 0, n_at, 1.0), 1.0)
    surv = np.multiply.reduce(factors, axis=1) if k else np.ones(m)
    points: list[DecisionPoint | None] = [None] * m
    for j in range(m):
        t = float(sorted_grid[j])
        odds = t / (1.0 - t)
        treat_all = (1.0 - s_all) - s_all * odds
        share = float(treated_j[j]) / data.n
        if treated_j[j] == 0:
            point = DecisionPoint(t, 0.0, treat_all, 0.0)
        elif followed_j[j] == 0:
            point = DecisionPoint(
                t, None, treat_all, share,
                "the treated patients' follow-up ends before the horizon",
            )  # fmt: skip
        else:
            sv = float(surv[j])
            point = DecisionPoint(t, share * (1.0 - sv) - share * sv * odds, treat_all, share)
        points[int(order[j])] = point
    return tuple(p for p in points if p is not None)
