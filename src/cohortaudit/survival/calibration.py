"""Calibration at the horizon: observed vs expected risk, O/E, the Cox calibration slope and
the flexible calibration curve with ICI/E50/E90/Emax.

References: McLernon et al., "Assessing performance and clinical usefulness in prediction
models with survival outcomes", Ann Intern Med 2023; Riley et al. / Debray et al. for the O/E
interval; Austin, Harrell & van Klaveren, "Graphical calibration curves and the integrated
calibration index (ICI) for survival models", Stat Med 2020.

* ``observed_risk`` = 1 - S_KM(tau) (see ``km``); ``expected_risk`` = mean predicted risk.
* ``oe_ratio`` = observed_risk / expected_risk; interval exp(log(O/E) +- z / sqrt(O)), O the
  number of events by tau (Poisson variance of O).
* ``calibration_slope``: Cox model (``survival.cox``: Newton on the Efron partial likelihood) of the follow-up
  truncated at tau (administratively censored there) on cloglog(r) = log(-log(1 - r)); Wald
  interval. 1 is ideal; < 1 means predictions too extreme.
* Flexible calibration: the same Cox model on a restricted cubic spline of cloglog(r) (3 knots
  at the 10/50/90th percentiles, or 4 at 5/35/65/95, the outer knots at the 5th smallest and
  largest value below 100 patients, as ``Hmisc::rcspline.eval``; Harrell's basis and knot rule
  are shared with the binary audit's smoother in ``metrics.calibration``); each patient's observed risk by tau is
  1 - exp(-H0(tau) exp(lp_i)), H0 the Breslow baseline cumulative hazard of that fit.
  d_i = |observed_i - r_i|: ICI = mean, E50 = median, E90 = 90th percentile (numpy 'linear'),
  Emax = max. The curve is the same function on a fixed grid of predicted risk (points
  outside the range of the predictions are left out, never extrapolated). Its band and the
  intervals of ICI/E50/E90/Emax come from the patient bootstrap in the engine.

* Observed vs predicted by risk group (deciles by default): groups cut at the quantiles
  ``np.quantile(r, j/g)`` (numpy 'linear'), duplicates dropped, intervals closed on the right
  (R ``cut(r, quantile(r, 0:g/g), include.lowest = TRUE)``, as the binary audit's
  Hosmer-Lemeshow groups); per group the mean predicted risk and the Kaplan-Meier observed
  risk with its Greenwood log(-log) interval.

Risks of exactly 0 or 1 are clipped to [1e-8, 1 - 1e-8] before cloglog (as the binary audit
clips before logit); the count is returned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cohortaudit.errors import ConfigError
from cohortaudit.metrics import portable
from cohortaudit.metrics.calibration import CLIP, choose_knots, rcs_basis
from cohortaudit.survival.cox import breslow_cumhaz, fit_cox
from cohortaudit.survival.data import Estimate, SurvivalData, check_survival, not_evaluable
from cohortaudit.survival.km import Z95, summarize_follow_up

__all__ = [
    "CalibrationAtHorizon",
    "FlexibleCalibration",
    "calibration_at",
    "oe_estimate",
    "OE_METHOD",
    "flexible_calibration",
    "RiskGroup",
    "risk_groups",
    "cloglog",
    "truncate_at_horizon",
    "CURVE_GRID",
]

CURVE_GRID = tuple(round(i / 100, 2) for i in range(1, 100))


def cloglog(risk: np.ndarray) -> np.ndarray:
    """log(-log(1 - r)) of risks clipped to [CLIP, 1 - CLIP]."""
    r = np.clip(np.asarray(risk, dtype=np.float64), CLIP, 1.0 - CLIP)
    return np.log(-np.log1p(-r))


def truncate_at_horizon(data: SurvivalData) -> tuple[np.ndarray, np.ndarray]:
    """Follow-up administratively censored at tau: (min(T, tau), event by tau)."""
    return np.minimum(data.time, data.tau), data.case


@dataclass(frozen=True)
class CalibrationAtHorizon:
    observed_risk: Estimate
    expected_risk: Estimate
    oe_ratio: Estimate
    calibration_slope: Estimate
    n_clipped: int


@dataclass(frozen=True)
class FlexibleCalibration:
    """ICI/E50/E90/Emax and the curve ``(grid risk, observed risk)`` of the spline Cox fit."""

    ici: Estimate
    e50: Estimate
    e90: Estimate
    emax: Estimate
    curve: tuple[tuple[float, float], ...]
    knots: tuple[float, ...]
    method: str
    reason: str | None = None


@dataclass(frozen=True)
class RiskGroup:
    """One risk group: its size, events by tau, mean predicted and KM observed risk."""

    n: int
    events: int
    at_risk: int
    expected_risk: float
    observed_risk: Estimate


def risk_groups(
    time: object, event: object, risk: object, *, horizon: object, groups: int = 10
) -> tuple[RiskGroup, ...]:
    """Observed (Kaplan-Meier) vs mean predicted risk by tau in groups of predicted risk."""
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 2:
        raise ConfigError(
            f"The 'groups' parameter must be an integer >= 2. Got {groups!r} instead."
        )
    data = check_survival(time, event, risk, horizon=horizon)
    cuts = np.unique(np.quantile(data.risk, np.arange(1, groups) / groups))
    index = np.searchsorted(cuts, data.risk, side="left")
    out = []
    for g in np.unique(index):
        m = index == g
        t, e, r = data.time[m], data.event[m], data.risk[m]
        if t.max() < data.tau:
            obs = not_evaluable(
                "this group's follow-up ends before the horizon", "Kaplan-Meier at the horizon"
            )
            at_risk = 0
        else:
            follow = summarize_follow_up(t, e, horizon=data.tau)
            obs, at_risk = follow.observed_risk, follow.at_risk
        events = int(np.count_nonzero(e & (t <= data.tau)))
        out.append(RiskGroup(int(m.sum()), events, at_risk, float(r.mean()), obs))
    return tuple(out)


def _fit(time: np.ndarray, event: np.ndarray, x: np.ndarray):
    """A converged Cox fit, or (None, the reason it is unusable)."""
    fit = fit_cox(time, event, x)
    if not fit.converged:
        return None, f"the Cox fit did not converge: {fit.message}"
    return fit, None


OE_METHOD = "O/E = (1 - S_KM(tau)) / mean(r); exp(log(O/E) +- z/sqrt(events by tau))"


def oe_estimate(observed: float, expected: float, events: int, *, z: float = Z95) -> Estimate:
    """O/E with its Poisson interval from the observed risk, the mean predicted risk and the
    number of events by tau (public so that pooled site counts give the same estimate)."""
    if expected <= 0.0:
        return not_evaluable("every predicted risk is 0: O/E is undefined", OE_METHOD)
    if events == 0:
        return Estimate(0.0, method=OE_METHOD, reason="no events by the horizon: no interval")
    ratio = observed / expected
    half = z / math.sqrt(events)
    return Estimate(ratio, ratio * math.exp(-half), ratio * math.exp(half), method=OE_METHOD)


def calibration_at(
    time: object, event: object, risk: object, *, horizon: object, z: float = Z95
) -> CalibrationAtHorizon:
    """Observed and expected risk, O/E with its Poisson interval, and the Cox slope at tau."""
    data = check_survival(time, event, risk, horizon=horizon)
    summary = summarize_follow_up(data.time, data.event, horizon=data.tau, z=z)
    s, observed = summary.survival, summary.observed_risk
    expected_value = float(np.mean(data.risk))
    expected = Estimate(expected_value, method="mean predicted risk")
    o = int(np.count_nonzero(data.case))
    oe = oe_estimate(1.0 - s, expected_value, o, z=z)
    x = cloglog(data.risk)
    n_clipped = int(np.count_nonzero((data.risk < CLIP) | (data.risk > 1.0 - CLIP)))
    slope_method = "Cox (Efron ties) of follow-up truncated at tau on cloglog(r); Wald"
    if o == 0:
        slope = not_evaluable("no events by the horizon", slope_method)
    elif np.ptp(x) == 0:
        slope = not_evaluable("every predicted risk is the same", slope_method)
    else:
        t_trunc, e_trunc = truncate_at_horizon(data)
        fit, why = _fit(t_trunc, e_trunc, x[:, None])
        if fit is None:
            slope = not_evaluable(why, slope_method)
        else:
            b, se = float(fit.coef[0]), float(fit.se[0])
            slope = Estimate(b, b - z * se, b + z * se, method=slope_method)
    return CalibrationAtHorizon(observed, expected, oe, slope, n_clipped)


def flexible_calibration(
    time: object,
    event: object,
    risk: object,
    *,
    horizon: object,
    n_knots: int = 3,
    grid: tuple[float, ...] = CURVE_GRID,
) -> FlexibleCalibration:
    """Austin-Harrell-van Klaveren flexible calibration at tau: ICI, E50, E90, Emax, curve."""
    if n_knots not in (3, 4):
        raise ConfigError(f"The 'n_knots' parameter must be 3 or 4. Got {n_knots!r} instead.")
    data = check_survival(time, event, risk, horizon=horizon)
    method = (
        f"Cox (Efron ties) on a restricted cubic spline of cloglog(r), {n_knots} knots "
        "at Harrell's percentiles, Breslow baseline; follow-up truncated at tau"
    )

    def missing(reason: str) -> FlexibleCalibration:
        bad = not_evaluable(reason, method)
        return FlexibleCalibration(bad, bad, bad, bad, (), (), method, reason)

    if not np.any(data.case):
        return missing("no events by the horizon")
    x = cloglog(data.risk)
    knots = choose_knots(x, n_knots)
    if knots.size != n_knots:
        return missing(f"too few distinct predicted risks for {n_knots} spline knots")
    basis = rcs_basis(x, knots)
    t_trunc, e_trunc = truncate_at_horizon(data)
    fit, why = _fit(t_trunc, e_trunc, basis)
    if fit is None:
        return missing(why)
    beta = fit.coef
    lp_spline = portable.combine(basis.T, beta)
    h0 = breslow_cumhaz(t_trunc, e_trunc, lp_spline, data.tau)
    observed = -np.expm1(-h0 * np.exp(lp_spline))
    d = np.abs(observed - data.risk)
    lo, hi = float(data.risk.min()), float(data.risk.max())
    pts = np.array([g for g in grid if lo <= g <= hi], dtype=np.float64)
    curve_lp = portable.combine(rcs_basis(cloglog(pts), knots).T, beta) if pts.size else pts
    curve_obs = -np.expm1(-h0 * np.exp(curve_lp)) if pts.size else pts
    curve = tuple((float(g), float(o)) for g, o in zip(pts, curve_obs, strict=True))
    note = "interval from the patient bootstrap"
    est = lambda v: Estimate(float(v), method=method, reason=note)  # noqa: E731
    return FlexibleCalibration(
        ici=est(np.mean(d)),
        e50=est(np.median(d)),
        e90=est(np.quantile(d, 0.9)),
        emax=est(np.max(d)),
        curve=curve,
        knots=tuple(float(k) for k in knots),
        method=method,
    )
