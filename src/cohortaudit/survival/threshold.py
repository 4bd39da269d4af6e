"""Threshold metrics at the horizon, cumulative/dynamic with IPCW weights.

A patient is predicted positive iff r >= t (the binary audit's rule). Cases are events by tau,
weighted 1/G(T_i-); controls are event-free at tau, weighted 1/G(tau-); patients censored
before tau get weight 0 (Uno et al. 2007; Blanche, Dartigues & Jacqmin-Gadda, Stat Med 2013,
R timeROC ``SeSpPPVNPV`` "marginal" weights). With W the weights:

* sensitivity = sum W 1[case, r >= t] / sum W 1[case]
* specificity = #[control, r < t] / #control           (the control weight is constant)
* PPV = sum W 1[case, r >= t] / sum W 1[(case or control), r >= t]
* NPV = sum W 1[control, r < t] / sum W 1[(case or control), r < t]

The IPCW sums estimate the counts of the uncensored cohort, so PPV and NPV are the risk and the
event-free probability by tau among patients above and below the threshold. Point estimates
only: the engine's patient bootstrap gives the intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cohortaudit.errors import ConfigError
from cohortaudit.survival.data import Estimate, check_survival, not_evaluable
from cohortaudit.survival.km import ipcw_weights

__all__ = ["ThresholdResult", "threshold_metrics", "check_threshold"]


@dataclass(frozen=True)
class ThresholdResult:
    threshold: float
    sensitivity: Estimate
    specificity: Estimate
    ppv: Estimate
    npv: Estimate


def check_threshold(threshold: object) -> float:
    """The operating threshold as a float in (0, 1), or a :class:`ConfigError`."""
    ok = isinstance(threshold, (int, float, np.integer, np.floating)) and not isinstance(
        threshold, bool
    )
    if not ok or not 0.0 < float(threshold) < 1.0:
        shown = threshold if ok else type(threshold).__name__
        raise ConfigError(
            f"The 'threshold' parameter must be a float in (0, 1). Got {shown} instead."
        )
    return float(threshold)


def _ratio(num: float, den: float, method: str, empty: str) -> Estimate:
    if den <= 0:
        return not_evaluable(empty, method)
    return Estimate(num / den, method=method, reason="interval from the patient bootstrap")


def threshold_metrics(
    time: object, event: object, risk: object, *, horizon: object, threshold: object
) -> ThresholdResult:
    """Sensitivity, specificity, PPV and NPV at the threshold by the horizon (IPCW)."""
    t = check_threshold(threshold)
    data = check_survival(time, event, risk, horizon=horizon)
    method = "cumulative/dynamic, IPCW (censoring Kaplan-Meier G(t-)); positive iff r >= t"
    w = ipcw_weights(data)
    pos = data.risk >= t
    case, control = data.case, data.control
    if not np.all(np.isfinite(w)):
        bad = not_evaluable("the censoring survival is 0 before the horizon", method)
        return ThresholdResult(t, bad, bad, bad, bad)
    wc = lambda m: float(np.sum(w[m]))  # noqa: E731
    return ThresholdResult(
        threshold=t,
        sensitivity=_ratio(wc(case & pos), wc(case), method, "no events by the horizon"),
        specificity=_ratio(
            float(np.count_nonzero(control & ~pos)),
            float(np.count_nonzero(control)),
            method,
            "nobody is event-free at the horizon",
        ),
        ppv=_ratio(
            wc(case & pos), wc((case | control) & pos), method, "nobody is above the threshold"
        ),
        npv=_ratio(
            wc(control & ~pos), wc((case | control) & ~pos), method, "nobody is below the threshold"
        ),
    )
