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

The pair sums are O(n log^2 n) (a merge-sort tree over the patients sorted by time), so a
million-patient group takes seconds, not hours; the tests check them against brute force.
"""

from __future__ import annotations

import math

import numpy as np

from cohortaudit.survival.data import Estimate, SurvivalData, check_survival, not_evaluable
from cohortaudit.survival.km import Z95, ipcw_weights

__all__ = ["harrell_c", "uno_c", "auc_t", "TIED_TOL"]

TIED_TOL = 1e-8


def _tied_ranks(r: np.ndarray, tied_tol: float) -> np.ndarray:
    """Dense ranks of r, values within ``tied_tol`` of their sorted neighbour sharing a rank
    (pairwise ties as scikit-survival's ``tied_tol``, except along chains of near-equal values
    spanning more than ``tied_tol``, which never occur at the default 1e-8 in practice)."""
    order = np.argsort(r, kind="stable")
    step = np.concatenate(([0], (np.diff(r[order]) > tied_tol).astype(np.int64)))
    ranks = np.empty(r.size, dtype=np.int64)
    ranks[order] = np.cumsum(step)
    return ranks


def _suffix_counts(values: np.ndarray, starts: np.ndarray, q: np.ndarray):
    """For each query k: how many of ``values[starts[k]:]`` are < q[k] and == q[k].

    A merge-sort tree: level k holds the array sorted within aligned blocks of 2^k; a suffix is
    the union of at most one block per level (the set bits of its start), each counted with
    one vectorised ``searchsorted``. O(n log n) memory per level, O(n log^2 n) time."""
    n = values.size
    levels = max(1, int(np.ceil(np.log2(max(n, 2)))))
    size_all = 1 << levels
    big = int(max(values.max(initial=0), q.max(initial=0))) + 2
    padded = np.full(size_all, big - 1, dtype=np.int64)
    padded[:n] = values
    less = np.zeros(q.size, dtype=np.int64)
    leq = np.zeros(q.size, dtype=np.int64)
    p = starts.astype(np.int64).copy()
    for k in range(levels + 1):
        size = 1 << k
        take = p < size_all
        if k < levels:
            take &= ((p >> k) & 1) == 1
        if not take.any():
            continue
        rows = p[take] >> k
        flat = np.sort(padded.reshape(-1, size), axis=1)
        flat = (flat + np.arange(size_all // size, dtype=np.int64)[:, None] * big).ravel()
        key = rows * big + q[take]
        less[take] += np.searchsorted(flat, key, side="left") - rows * size
        leq[take] += np.searchsorted(flat, key, side="right") - rows * size
        p[take] += size
    return less, leq - less


def _pair_sums(data: SurvivalData, weights: np.ndarray | None, tied_tol: float, per_patient: bool):
    """Sum of pair scores and of comparable pairs (each case's pairs weighted by weights[i]^2
    if given), and optionally each patient's share of both (for the jackknife), in
    O(n log^2 n): patient i's comparable partners are a suffix of the patients sorted by time
    with events before censorings at a tied time."""
    t, e = data.time, data.event
    n = data.n
    ranks = _tied_ranks(data.risk, tied_tol)
    order = np.lexsort((~e, t))  # by time; events first at a tied time
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    _, t_rank = np.unique(t, return_inverse=True)
    key_sorted = (2 * t_rank + ~e)[order]  # censored sort after events at the same time
    cases = np.flatnonzero(data.case)
    start = np.searchsorted(key_sorted, 2 * t_rank[cases], side="right")
    less, tie = _suffix_counts(ranks[order], start, ranks[cases])
    score_i = less + 0.5 * tie
    pairs_i = (n - start).astype(np.float64)
    w = np.ones(cases.size) if weights is None else weights[cases] ** 2
    total_s, total_p = float(np.sum(w * score_i)), float(np.sum(w * pairs_i))
    if not per_patient:
        return total_s, total_p, None, None
    if weights is not None:
        raise ValueError("per-patient shares are for the unweighted jackknife only")
    # Each patient j's share as the later member: cases i with start_i <= pos_j. Over the cases
    # sorted by start, that is a prefix, i.e. a suffix of the reversed order.
    by_start = np.argsort(start, kind="stable")
    m = np.searchsorted(start[by_start], pos, side="right")
    rev_ranks = ranks[cases][by_start][::-1]
    lo, eq = _suffix_counts(-rev_ranks + rev_ranks.max(initial=0), cases.size - m,
                            ranks.max(initial=0) - ranks)  # fmt: skip
    score_k = np.zeros(n)
    pairs_k = np.zeros(n)
    score_k[cases] += score_i
    pairs_k[cases] += pairs_i
    score_k += lo + 0.5 * eq  # r_i > r_j is a reversed rank below
    pairs_k += m
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
