"""IPCW Brier score at the horizon (Graf, Schmoor, Sauerbrei & Schumacher, Stat Med 1999) and
the index of prediction accuracy (IPA, Kattan & Gerds, Diagn Progn Res 2018).

Brier(tau) = (1/n) sum_i [ (1 - r_i)^2 * 1[event by tau] / G(T_i-)
                          + r_i^2 * 1[event-free at tau] / G(tau-) ],
patients censored before tau contributing 0 (their weight is carried by the others). r is the
predicted risk by tau, so an event by tau has outcome 1 and error (1 - r)^2. (A version of
shared/REFERENCE.md wrote the two squares the other way round, as if r were the predicted
survival; this is the definition of Graf 1999 and scikit-survival's ``brier_score``.)

IPA = 1 - Brier(model) / Brier(null), the null model predicting the cohort's Kaplan-Meier
risk 1 - S_KM(tau) for everyone, with the same weights. 1 is perfect, 0 is no better than the
null model, negative is worse; undefined when the null Brier is 0 (nobody or everybody has the
event by tau).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cohortaudit.survival.data import Estimate, SurvivalData, check_survival, not_evaluable
from cohortaudit.survival.km import ipcw_weights, kaplan_meier, survival_at

__all__ = ["BrierResult", "brier_at", "ipcw_brier"]


@dataclass(frozen=True)
class BrierResult:
    """The model's and the null model's IPCW Brier at tau, and the IPA (``scaled_brier``)."""

    brier: Estimate
    brier_null: Estimate
    scaled_brier: Estimate


def ipcw_brier(data: SurvivalData, risk: np.ndarray, weights: np.ndarray) -> float:
    """The weighted Brier of ``risk`` on checked data with precomputed :func:`ipcw_weights`."""
    y = data.case.astype(np.float64)
    used = data.case | data.control
    return float(np.sum(np.where(used, weights * (y - risk) ** 2, 0.0)) / data.n)


def brier_at(time: object, event: object, risk: object, *, horizon: object) -> BrierResult:
    """IPCW Brier score of the predicted risks at the horizon and its IPA against KM."""
    method = "IPCW Brier at the horizon (Graf 1999), censoring Kaplan-Meier G(t-)"
    data = check_survival(time, event, risk, horizon=horizon)
    w = ipcw_weights(data)
    if not np.all(np.isfinite(w)):
        bad = not_evaluable("the censoring survival is 0 before the horizon", method)
        return BrierResult(bad, bad, bad)
    b = ipcw_brier(data, data.risk, w)
    km_risk = 1.0 - survival_at(kaplan_meier(data.time, data.event), data.tau)
    b0 = ipcw_brier(data, np.full(data.n, km_risk), w)
    note = "interval from the patient bootstrap"
    ipa_method = "IPA = 1 - Brier/Brier(Kaplan-Meier null) (Kattan & Gerds 2018)"
    if b0 <= 0.0:
        ipa = not_evaluable(
            "the null model's Brier is 0 (no events, or only events, by the horizon)", ipa_method
        )
    else:
        ipa = Estimate(1.0 - b / b0, method=ipa_method, reason=note)
    return BrierResult(
        Estimate(b, method=method, reason=note),
        Estimate(b0, method=method + "; null model 1 - S_KM(tau)", reason=note),
        ipa,
    )
