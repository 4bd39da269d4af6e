"""Every point metric of one group at the horizon, in one call: what the engine calls per group.

The keys are the binary audit's public keys where the meaning carries over (``n``, ``events``,
``oe_ratio``, ``calibration_slope``, ``ici`` ... ``brier``, ``scaled_brier``, ``sensitivity``
...) and the curves (decision curve, flexible calibration curve, observed vs predicted by risk
decile), plus the survival-only ones (``censored_before``, ``at_risk``, ``median_follow_up``,
``observed_risk``, ``harrell_c``, ``uno_c``, ``auc_t``). Undefined metrics are ``Estimate``s
with ``value=None`` and a reason, so one group without events never stops the audit.
"""

from __future__ import annotations

from dataclasses import dataclass

from cohortaudit.survival.brier import brier_at
from cohortaudit.survival.calibration import (
    RiskGroup,
    calibration_at,
    flexible_calibration,
    risk_groups,
)
from cohortaudit.survival.concordance import auc_t, harrell_c, uno_c
from cohortaudit.survival.data import Estimate, check_survival
from cohortaudit.survival.decision import DecisionPoint, decision_curve
from cohortaudit.survival.km import summarize_follow_up
from cohortaudit.survival.threshold import check_threshold, threshold_metrics

__all__ = ["SurvivalSummary", "summarize", "METRIC_KEYS", "SETTINGS"]

METRIC_KEYS = (
    "median_follow_up",
    "observed_risk",
    "expected_risk",
    "oe_ratio",
    "harrell_c",
    "uno_c",
    "auc_t",
    "calibration_slope",
    "ici",
    "e50",
    "e90",
    "emax",
    "brier",
    "scaled_brier",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
)


#: Every method choice, worded for the result's ``settings`` block (docs/TIME-TO-EVENT.md).
SETTINGS = {
    "event_by_horizon": "event with time <= horizon (an event at the horizon counts)",
    "censored_at_horizon": "event-free at the horizon",
    "tied_times": "events before censorings at the same time",
    "observed_risk": "1 - Kaplan-Meier at the horizon; Greenwood variance, log(-log) interval",
    "median_follow_up": "reverse Kaplan-Meier median",
    "ipcw": "censoring Kaplan-Meier G(t-) on the same patients (events removed first at ties)",
    "oe_ratio": "observed_risk / mean predicted; exp(log(O/E) +- z/sqrt(events by horizon))",
    "harrell_c": "pairs truncated at the horizon, risk ties 1/2 (tol 1e-8); jackknife interval",
    "uno_c": "Harrell's pairs weighted 1/G(T_i-)^2, truncated at the horizon",
    "auc_t": "cumulative/dynamic AUC, IPCW (Uno 2007; Hung & Chiang 2010)",
    "calibration_slope": "Cox (Efron ties) of follow-up truncated at the horizon on cloglog(r)",
    "flexible_calibration": "Cox on a restricted cubic spline of cloglog(r), 3 knots "
    "(10/50/90th percentiles), Breslow baseline (Austin, Harrell & van Klaveren 2020)",
    "brier": "IPCW Brier at the horizon (Graf 1999); scaled_brier = IPA vs Kaplan-Meier null",
    "threshold_metrics": "positive iff r >= threshold; cumulative/dynamic IPCW",
    "decision_curve": "Kaplan-Meier among the treated (Vickers 2008); not extrapolated",
    "risk_clipping": "cloglog on risks clipped to [1e-8, 1 - 1e-8]",
}


@dataclass(frozen=True)
class SurvivalSummary:
    """Counts, the metric estimates by key, and the two curves of one group at ``horizon``."""

    horizon: float
    threshold: float
    n: int
    events: int
    censored_before: int
    at_risk: int
    metrics: dict[str, Estimate]
    decision_curve: tuple[DecisionPoint, ...]
    calibration_curve: tuple[tuple[float, float], ...]
    risk_groups: tuple[RiskGroup, ...]

    def value(self, key: str) -> float | None:
        """The point estimate of a metric key (``None`` when not evaluable)."""
        return self.metrics[key].value


def summarize(
    time: object, event: object, risk: object, horizon: object, threshold: object
) -> SurvivalSummary:
    """All point metrics of one group at the horizon (the engine calls this per group)."""
    thr = check_threshold(threshold)
    data = check_survival(time, event, risk, horizon=horizon)
    args = (data.time, data.event, data.risk)
    tau = data.tau
    follow = summarize_follow_up(data.time, data.event, horizon=tau)
    cal = calibration_at(*args, horizon=tau)
    flex = flexible_calibration(*args, horizon=tau)
    br = brier_at(*args, horizon=tau)
    thr_m = threshold_metrics(*args, horizon=tau, threshold=thr)
    metrics = {
        "median_follow_up": follow.median_follow_up,
        "observed_risk": cal.observed_risk,
        "expected_risk": cal.expected_risk,
        "oe_ratio": cal.oe_ratio,
        "harrell_c": harrell_c(*args, horizon=tau),
        "uno_c": uno_c(*args, horizon=tau),
        "auc_t": auc_t(*args, horizon=tau),
        "calibration_slope": cal.calibration_slope,
        "ici": flex.ici,
        "e50": flex.e50,
        "e90": flex.e90,
        "emax": flex.emax,
        "brier": br.brier,
        "scaled_brier": br.scaled_brier,
        "sensitivity": thr_m.sensitivity,
        "specificity": thr_m.specificity,
        "ppv": thr_m.ppv,
        "npv": thr_m.npv,
    }
    return SurvivalSummary(
        horizon=tau,
        threshold=thr,
        n=follow.n,
        events=follow.events,
        censored_before=follow.censored_before,
        at_risk=follow.at_risk,
        metrics=metrics,
        decision_curve=decision_curve(*args, horizon=tau),
        calibration_curve=flex.curve,
        risk_groups=risk_groups(*args, horizon=tau),
    )
