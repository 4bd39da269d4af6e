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
    """Net benefit of the model and of treat-all on a threshold grid, at the horizon."""
    data = check_survival(time, event, risk, horizon=horizon)
    tau = data.tau
    s_all = survival_at(kaplan_meier(data.time, data.event), tau)
    out = []
    for t in thresholds:
        odds = t / (1.0 - t)
        treat_all = (1.0 - s_all) - s_all * odds
        sub = data.risk >= t
        share = float(np.mean(sub))
        if share == 0.0:
            out.append(DecisionPoint(t, 0.0, treat_all, 0.0))
            continue
        ts, es = data.time[sub], data.event[sub]
        if ts.max() < tau:
            out.append(
                DecisionPoint(
                    t, None, treat_all, share,
                    "the treated patients' follow-up ends before the horizon",
                )
            )  # fmt: skip
            continue
        s = survival_at(kaplan_meier(ts, es), tau)
        out.append(DecisionPoint(t, share * (1.0 - s) - share * s * odds, treat_all, share))
    return tuple(out)
