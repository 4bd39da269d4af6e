"""Kaplan-Meier at a horizon: observed risk with a Greenwood interval, the censoring
distribution used by every IPCW estimator, and the follow-up counts of a group.

References: Kaplan & Meier (1958); Greenwood (1926) variance; the log(-log) interval of
Kalbfleisch & Prentice (2002, sec. 1.4), the default of R ``survival::survfit`` with
``conf.type = "log-log"`` and of lifelines; reverse Kaplan-Meier median follow-up (Schemper &
Smith 1996). Conventions are those of :mod:`cohortaudit.survival.data`.

The censoring survival G(t) = P(C > t) is the Kaplan-Meier of the censorings with the events
removed first at tied times (an event at t is not at risk of being censored at t), as in
scikit-survival's ``CensoringDistributionEstimator``. IPCW weights use G(t-) = P(C >= t), the
probability of still being under observation *at* t, so a patient censored exactly at t does
not lower its own weight; G(t-) and G(t) differ only at a time where someone is censored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from cohortaudit.survival.data import Estimate, SurvivalData, check_survival, not_evaluable

__all__ = [
    "KaplanMeierCurve",
    "HorizonSummary",
    "kaplan_meier",
    "censoring_survival",
    "survival_at",
    "survival_before",
    "ipcw_weights",
    "summarize_follow_up",
    "risk_interval",
    "Z95",
]

Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True, eq=False)
class KaplanMeierCurve:
    """The step function at its distinct times: number at risk, events (the counted
    transitions), survival just after each time, and the cumulative Greenwood sum
    sum d/(n(n-d)) (``inf`` once survival reaches 0)."""

    times: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray
    survival: np.ndarray
    greenwood: np.ndarray


def _km(times: np.ndarray, at_risk: np.ndarray, d: np.ndarray) -> KaplanMeierCurve:
    frac = np.where(at_risk > 0, d / np.maximum(at_risk, 1), 0.0)
    surv = np.cumprod(1.0 - frac)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(d > 0, d / (at_risk * (at_risk - d)), 0.0)
    term = np.where((d > 0) & (d >= at_risk), np.inf, term)
    return KaplanMeierCurve(times, at_risk, d, surv, np.cumsum(term))


def kaplan_meier(time: np.ndarray, event: np.ndarray) -> KaplanMeierCurve:
    """Kaplan-Meier of the event. The risk set at t is every patient with T >= t (censored at t
    included: events come first). ``time`` float64, ``event`` bool, already checked."""
    times, inv = np.unique(time, return_inverse=True)
    d = np.bincount(inv, weights=event, minlength=times.size)
    count = np.bincount(inv, minlength=times.size)
    at_risk = (time.size - np.concatenate(([0], np.cumsum(count)[:-1]))).astype(np.float64)
    return _km(times, at_risk, d)


def censoring_survival(time: np.ndarray, event: np.ndarray) -> KaplanMeierCurve:
    """Kaplan-Meier of the censoring time G(t) = P(C > t), events removed first at ties."""
    times, inv = np.unique(time, return_inverse=True)
    d_event = np.bincount(inv, weights=event, minlength=times.size)
    count = np.bincount(inv, minlength=times.size).astype(np.float64)
    at_risk_all = time.size - np.concatenate(([0.0], np.cumsum(count)[:-1]))
    return _km(times, at_risk_all - d_event, count - d_event)


def survival_at(curve: KaplanMeierCurve, t: float | np.ndarray) -> np.ndarray | float:
    """S(t): the value after every step at times <= t (1 before the first time)."""
    idx = np.searchsorted(curve.times, t, side="right") - 1
    out = np.where(idx >= 0, curve.survival[np.maximum(idx, 0)], 1.0)
    return float(out) if np.ndim(out) == 0 else out


def survival_before(curve: KaplanMeierCurve, t: float | np.ndarray) -> np.ndarray | float:
    """S(t-): the value after every step at times strictly < t."""
    idx = np.searchsorted(curve.times, t, side="left") - 1
    out = np.where(idx >= 0, curve.survival[np.maximum(idx, 0)], 1.0)
    return float(out) if np.ndim(out) == 0 else out


def ipcw_weights(data: SurvivalData) -> np.ndarray:
    """Inverse-probability-of-censoring weights at the horizon (Graf 1999; Uno 2007):
    1/G(T_i-) for an event by tau, 1/G(tau-) for a patient event-free at tau, 0 for a patient
    censored before tau. G is estimated on the same patients (the validation cohort)."""
    g = censoring_survival(data.time, data.event)
    w = np.zeros(data.n)
    case, control = data.case, data.control
    g_case = survival_before(g, data.time[case])
    g_tau = survival_before(g, data.tau)
    with np.errstate(divide="ignore"):
        w[case] = 1.0 / np.asarray(g_case)
        w[control] = 1.0 / g_tau if g_tau > 0 else np.inf
    return w


@dataclass(frozen=True)
class HorizonSummary:
    """Counts and Kaplan-Meier estimates of one group at the horizon ``tau``.

    ``observed_risk`` is 1 - S_KM(tau) with the log(-log) Greenwood interval
    S^exp(+-z*se), se = sqrt(sum d/(n(n-d))) / |log S| (the interval for the risk is 1 minus
    the survival interval, flipped). ``median_follow_up`` is the median of the reverse
    Kaplan-Meier (the smallest censoring-KM time with G(t) <= 0.5)."""

    tau: float
    n: int
    events: int
    censored_before: int
    at_risk: int
    survival: float
    observed_risk: Estimate
    median_follow_up: Estimate


def risk_interval(surv: float, greenwood: float, z: float = Z95) -> Estimate:
    """Observed risk 1 - S with the log(-log) Greenwood interval, from S and the Greenwood sum
    (public so that a life table pooled from site counts gets the same interval)."""
    return _risk_interval(surv, greenwood, z)


def _risk_interval(surv: float, greenwood: float, z: float) -> Estimate:
    method = "Kaplan-Meier, Greenwood variance, log(-log) interval"
    risk = 1.0 - surv
    if surv >= 1.0:
        return Estimate(risk, method=method, reason="no events by the horizon: no interval")
    if surv <= 0.0 or not math.isfinite(greenwood):
        return Estimate(risk, method=method, reason="survival is 0 at the horizon: no interval")
    se = math.sqrt(greenwood) / abs(math.log(surv))
    s_lo, s_hi = surv ** math.exp(z * se), surv ** math.exp(-z * se)
    return Estimate(risk, lower=1.0 - s_hi, upper=1.0 - s_lo, method=method)


def summarize_follow_up(
    time: object, event: object, *, horizon: object, z: float = Z95
) -> HorizonSummary:
    """Kaplan-Meier observed risk and the follow-up counts of one group at the horizon."""
    data = check_survival(time, event, horizon=horizon)
    tau = data.tau
    curve = kaplan_meier(data.time, data.event)
    idx = int(np.searchsorted(curve.times, tau, side="right")) - 1
    surv = float(curve.survival[idx]) if idx >= 0 else 1.0
    gw = float(curve.greenwood[idx]) if idx >= 0 else 0.0
    g = censoring_survival(data.time, data.event)
    below = np.flatnonzero(g.survival <= 0.5)
    if below.size:
        median = Estimate(float(g.times[below[0]]), method="reverse Kaplan-Meier median")
    else:
        median = not_evaluable(
            "fewer than half of the patients were censored: the reverse Kaplan-Meier never "
            "reaches 0.5",
            "reverse Kaplan-Meier median",
        )
    return HorizonSummary(
        tau=tau,
        n=data.n,
        events=int(np.count_nonzero(data.case)),
        censored_before=int(np.count_nonzero(~data.event & (data.time < tau))),
        at_risk=int(np.count_nonzero(data.time >= tau)),
        survival=surv,
        observed_risk=_risk_interval(surv, gw, z),
        median_follow_up=median,
    )
