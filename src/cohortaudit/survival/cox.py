"""Cox proportional hazards fit by Newton-Raphson on the Efron partial likelihood, and the
Breslow baseline cumulative hazard: the two pieces the calibration slope and the flexible
calibration curve need.

Why our own code: statsmodels is a test-only dependency of cohortaudit (the runtime stays
small), and the engine will refit these models in every bootstrap replicate, where a fit must
report trouble (a diverging slope when the ordering is perfect, a singular information matrix)
as ``converged=False`` with a message instead of raising or warning. statsmodels' ``PHReg``
(Efron ties) and lifelines' ``CoxPHFitter`` are the independent checks in the tests.

Efron (1977) log partial likelihood, for each distinct event time t_k with d_k events D_k and
risk set R_k = {T >= t_k}, S0 = sum_R e^eta, S0D = sum_D e^eta:
    l = sum_k [ sum_D eta_i - sum_{m=0}^{d_k-1} log(S0 - m/d_k * S0D) ]
(Breslow's approximation is the m = 0 term repeated d_k times; without tied event times the
two are the same).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cohortaudit.metrics import portable

__all__ = ["CoxFit", "fit_cox", "breslow_cumhaz"]

_MAX_ITER = 60
_STEP_TOL = 1e-10
_MAX_COEF = 50.0


@dataclass(frozen=True, eq=False)
class CoxFit:
    """``coef`` and its inverse-information ``cov`` (Wald), or ``converged=False`` with the
    reason in words."""

    coef: np.ndarray
    cov: np.ndarray
    loglik: float
    converged: bool
    message: str = ""

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))


def _efron_terms(time: np.ndarray, event: np.ndarray, x: np.ndarray):
    """Per-event-row index into the sorted risk sets, fractions m/d_k, and the groups."""
    order = np.argsort(time, kind="stable")
    ts, es, xs = time[order], event[order], x[order]
    ev_times, d = np.unique(ts[es], return_counts=True)
    start = np.searchsorted(ts, ev_times, side="left")  # risk set = rows start..end
    group = np.searchsorted(ev_times, ts[es])  # event row -> its event time
    rep = np.repeat(np.arange(ev_times.size), d)  # expanded row -> event time
    first = np.repeat(np.cumsum(d) - d, d)
    frac = (np.arange(rep.size) - first) / d[rep]  # m / d_k, m = 0..d_k-1, one per event row
    return xs, es, start, group, frac, rep, ev_times.size


def _loglik_grad_hess(beta, xs, es, start, group, frac, rep, k):
    eta = portable.combine(xs.T, beta)
    w = np.exp(eta)
    wx = w[:, None] * xs
    wxx = wx[:, :, None] * xs[:, None, :]
    s0 = np.cumsum(w[::-1])[::-1][start]
    s1 = np.cumsum(wx[::-1], axis=0)[::-1][start]
    s2 = np.cumsum(wxx[::-1], axis=0)[::-1][start]
    p = xs.shape[1]
    d0 = np.bincount(group, weights=w[es], minlength=k)
    d1 = np.stack([np.bincount(group, weights=wx[es, j], minlength=k) for j in range(p)], 1)
    d2 = np.zeros((k, p, p))
    np.add.at(d2, group, wxx[es])
    a0 = s0[rep] - frac * d0[rep]
    a1 = s1[rep] - frac[:, None] * d1[rep]
    a2 = s2[rep] - frac[:, None, None] * d2[rep]
    if np.any(a0 <= 0) or not np.all(np.isfinite(a0)):
        return -np.inf, None, None
    m1 = a1 / a0[:, None]
    loglik = float(np.sum(eta[es]) - np.sum(np.log(a0)))
    grad = xs[es].sum(axis=0) - m1.sum(axis=0)
    hess = -(np.sum(a2 / a0[:, None, None], axis=0) - portable.gram(m1.T, 1.0))
    return loglik, grad, hess


def fit_cox(time: np.ndarray, event: np.ndarray, x: np.ndarray) -> CoxFit:
    """Newton-Raphson with step halving from beta = 0; ``x`` is (n, p), no intercept."""
    x = np.asarray(x, dtype=np.float64).reshape(time.size, -1)
    p = x.shape[1]
    terms = _efron_terms(time, event.astype(bool), x)
    beta = np.zeros(p)
    loglik, grad, hess = _loglik_grad_hess(beta, *terms)
    nan = np.full((p, p), np.nan)
    for _ in range(_MAX_ITER):
        step = portable.solve_pd(-hess, grad)
        if step is None:
            return CoxFit(beta, nan, loglik, False, "the information matrix is singular")
        for _half in range(30):
            new = beta + step
            new_ll, new_grad, new_hess = _loglik_grad_hess(new, *terms)
            if new_ll >= loglik - 1e-12 * abs(loglik):
                break
            step = step / 2
        else:
            return CoxFit(beta, nan, loglik, False, "the partial likelihood did not improve")
        beta, loglik, grad, hess = new, new_ll, new_grad, new_hess
        if np.max(np.abs(beta)) > _MAX_COEF:
            return CoxFit(beta, nan, loglik, False, "the coefficients diverge (perfect ordering)")
        if np.max(np.abs(step)) < _STEP_TOL:
            cov = portable.solve_pd(-hess, np.eye(p))
            if cov is None:
                return CoxFit(beta, nan, loglik, False, "the information matrix is singular")
            if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
                return CoxFit(beta, nan, loglik, False, "the information matrix is singular")
            return CoxFit(beta, cov, loglik, True)
    return CoxFit(beta, nan, loglik, False, f"no convergence in {_MAX_ITER} Newton steps")


def breslow_cumhaz(time: np.ndarray, event: np.ndarray, lp: np.ndarray, tau: float) -> float:
    """Breslow baseline cumulative hazard at tau: sum over event times s <= tau of
    d_s / sum_{T_j >= s} exp(lp_j)."""
    event = event.astype(bool)
    times, d = np.unique(time[event & (time <= tau)], return_counts=True)
    order = np.argsort(time, kind="stable")
    ts, rs = time[order], np.exp(lp)[order]
    tail = np.cumsum(rs[::-1])[::-1]
    return float(np.sum(d / tail[np.searchsorted(ts, times, side="left")]))
