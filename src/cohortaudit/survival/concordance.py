"""Discrimination at a horizon: Harrell's C truncated at tau (with a jackknife interval), Uno's
IPCW C and the cumulative/dynamic time-dependent AUC(tau).

Comparable pairs (Harrell, Califf, Pryor, Lee & Rosati 1982; truncated at tau as in Uno et al.
2011): patient i has the event by the horizon (``event`` and T_i <= tau) and patient j was
still event-free after T_i: T_j > T_i, or T_j == T_i and j censored (events come before
censorings at a tied time, the convention of scikit-survival's ``concordance_index_censored``
and R ``survival::concordance``). A pair is concordant when r_i > r_j; risks within
``tied_tol`` of each other count 1/2 (scikit-survival's ``tied_tol``, default 1e-8).

* Harrell's C = sum of pair scores / number of comparable pairs. Interval: the delete-one
  jackknife, exact and cheap because removing patient k removes only the pairs k belongs to,
  C_(-k) = (S - s_k) / (P - p_k); se^2 = (n-1)/n * sum (C_(-k) - mean C_(-k))^2; Wald
  C +- z*se, clipped to [0, 1].
* Uno's C (Uno, Cai, Pencina, D'Agostino & Wei, Stat Med 2011): each pair weighted by
  1/G(T_i-)^2, G the censoring Kaplan-Meier of the same patients (see ``km``). Point estimate
  only here; the engine's patient bootstrap gives its interval.
* AUC(tau), cumulative/dynamic (Uno, Cai, Tian & Wei, JASA 2007; Hung & Chiang 2010; R timeROC
  "marginal"; scikit-survival ``cumulative_dynamic_auc``): cases are events by tau weighted by
  1/G(T_i-), controls are event-free at tau (weight 1/G(tau-), constant, so it cancels);
  AUC = sum_cases sum_controls w_i * (1[r_i > r_j] + 1/2 1[r_i ~ r_j]) / (sum w_i * n_controls).
  Point estimate only here (bootstrap in the engine).

The pair computations are blocked O(n_events x n) in memory O(block x n): fine for subgroups
of tens of thousands; a Fenwick-tree O(n log n) form is for the engine's scale work.
"""

from __future__ import annotations

import math

import numpy as np

from cohortaudit.survival.data import Estimate, SurvivalData, check_survival, not_evaluable
from cohortaudit.survival.km import Z95, ipcw_weights

__all__ = ["harrell_c", "uno_c", "auc_t", "TIED_TOL"]

TIED_TOL = 1e-8
_CELLS = 2_000_000  # pair cells per block (~16 MB per float array)


def _pair_sums(data: SurvivalData, weights: np.ndarray | None, tied_tol: float, per_patient: bool):
    """Sum of pair scores and of comparable pairs (weighted by weights[i]^2 if given), and
    optionally each patient's share of both (for the jackknife)."""
    t, e, r = data.time, data.event, data.risk
    rows = np.flatnonzero(data.case)
    n = data.n
    score_k = np.zeros(n) if per_patient else None
    pairs_k = np.zeros(n) if per_patient else None
    total_s = total_p = 0.0
    block = max(1, _CELLS // max(n, 1))
    for start in range(0, rows.size, block):
        i = rows[start : start + block]
        ti, ri = t[i][:, None], r[i][:, None]
        comp = (t[None, :] > ti) | ((t[None, :] == ti) & ~e[None, :])
        diff = ri - r[None, :]
        s = np.where(np.abs(diff) <= tied_tol, 0.5, (diff > 0).astype(np.float64)) * comp
        w = 1.0 if weights is None else (weights[i] ** 2)[:, None]
        sw, pw = s * w, comp * w
        total_s += float(sw.sum())
        total_p += float(pw.sum())
        if per_patient:
            np.add.at(score_k, i, sw.sum(axis=1))
            np.add.at(pairs_k, i, pw.sum(axis=1))
            score_k += sw.sum(axis=0)
            pairs_k += pw.sum(axis=0)
    return total_s, total_p, score_k, pairs_k


def _no_pairs(data: SurvivalData, method: str) -> Estimate | None:
    if not np.any(data.case):
        return not_evaluable("no events by the horizon: no comparable pairs", method)
    return None


def harrell_c(
    time: object,
    event: object,
    risk: object,
    *,
    horizon: object,
    tied_tol: float = TIED_TOL,
    z: float = Z95,
) -> Estimate:
    """Harrell's C on pairs truncated at the horizon, with a delete-one jackknife interval."""
    method = "Harrell's C truncated at the horizon; delete-one jackknife Wald interval"
    data = check_survival(time, event, risk, horizon=horizon)
    missing = _no_pairs(data, method)
    if missing is not None:
        return missing
    s, p, s_k, p_k = _pair_sums(data, None, tied_tol, per_patient=True)
    if p == 0:
        return not_evaluable("no comparable pairs (nobody outlived an event)", method)
    c = s / p
    if data.n < 3 or np.any(p - p_k == 0):
        return Estimate(c, method=method, reason="too few pairs for a jackknife interval")
    loo = (s - s_k) / (p - p_k)
    se = math.sqrt((data.n - 1) / data.n * float(np.sum((loo - loo.mean()) ** 2)))
    return Estimate(c, max(0.0, c - z * se), min(1.0, c + z * se), method=method)


def uno_c(
    time: object, event: object, risk: object, *, horizon: object, tied_tol: float = TIED_TOL
) -> Estimate:
    """Uno's IPCW C truncated at the horizon (pairs weighted by 1/G(T_i-)^2)."""
    method = "Uno's C (IPCW, censoring Kaplan-Meier G(t-)), truncated at the horizon"
    data = check_survival(time, event, risk, horizon=horizon)
    missing = _no_pairs(data, method)
    if missing is not None:
        return missing
    w = ipcw_weights(data)
    if not np.all(np.isfinite(w[data.case])):
        return not_evaluable("the censoring survival is 0 before an event time", method)
    s, p, _, _ = _pair_sums(data, w, tied_tol, per_patient=False)
    if p == 0:
        return not_evaluable("no comparable pairs (nobody outlived an event)", method)
    return Estimate(s / p, method=method, reason="interval from the patient bootstrap")


def auc_t(
    time: object, event: object, risk: object, *, horizon: object, tied_tol: float = TIED_TOL
) -> Estimate:
    """Cumulative/dynamic AUC at the horizon with IPCW case weights (Uno 2007)."""
    method = "cumulative/dynamic AUC(t), IPCW (Uno 2007, Hung & Chiang 2010)"
    data = check_survival(time, event, risk, horizon=horizon)
    case, control = data.case, data.control
    if not np.any(case):
        return not_evaluable("no events by the horizon: no cases", method)
    if not np.any(control):
        return not_evaluable("nobody is event-free at the horizon: no controls", method)
    w = ipcw_weights(data)[case]
    if not np.all(np.isfinite(w)):
        return not_evaluable("the censoring survival is 0 before an event time", method)
    r_case, r_ctrl = data.risk[case], np.sort(data.risk[control])
    below = np.searchsorted(r_ctrl, r_case - tied_tol, side="left")
    upto = np.searchsorted(r_ctrl, r_case + tied_tol, side="right")
    score = below + 0.5 * (upto - below)
    auc = float(np.sum(w * score) / (np.sum(w) * r_ctrl.size))
    return Estimate(auc, method=method, reason="interval from the patient bootstrap")
