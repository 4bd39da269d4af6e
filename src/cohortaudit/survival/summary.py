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

__all__ = ["SurvivalSummary", "summarize", "METRIC_KEYS"]

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
