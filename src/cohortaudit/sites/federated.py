"""Federated Newton fit of the logistic calibration models (CITL, slope) across sites.

The protocol a coordinator runs (REFERENCE.md, "Multi-site pooling"): each round it sends the
current coefficients ``beta`` to every site; each site answers with three aggregates over its
own patients -- the score vector ``g = sum w (y - mu) x``, the information matrix
``H = sum w mu (1 - mu) x x'`` (2 x 2 for the slope model, 1 x 1 for CITL) and its
log-likelihood -- and the coordinator sums them and takes the Newton step
``beta += H^-1 g`` (halved while the summed log-likelihood falls). No site sees another's
numbers, and what a site sends is a sum over at least k patients.

Here the protocol is *simulated in-process* on what the site files carry: each site's
patients are represented by its histogram bins, one weighted row per bin and outcome at the
bin's mean logit (``sum_logit / count``). So the fit is the fit on binned logits, not on the
patients: CITL and the slope differ from the centralised estimates by the within-bin spread of
the logits (about 1e-4 to 1e-3 on the bundled sample, see the tests), and the Wald intervals
come from the summed information at the optimum. With live sites the same loop runs on exact
per-patient sums and gives the centralised estimate to Newton's tolerance.

Why not :func:`cohortaudit.metrics.calibration.fit_logistic` on the stacked rows? It gives the
same numbers (a test checks it), but it would hide the protocol: here each round's exchange is
explicit, which is what a coordinator implementing it needs to read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cohortaudit.metrics import portable

__all__ = ["SiteRows", "FederatedFit", "site_answer", "federated_logistic"]


@dataclass(frozen=True)
class SiteRows:
    """One site's binned data: design ``X`` (n, p), outcome ``y``, weights ``w``, ``offset``."""

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray
    offset: np.ndarray


@dataclass(frozen=True)
class FederatedFit:
    coef: np.ndarray
    cov: np.ndarray
    converged: bool
    rounds: int
    message: str = ""


def site_answer(rows: SiteRows, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """What one site returns for ``beta``: score vector, information matrix, log-likelihood."""
    cols = rows.X.T  # column-major for the machine-independent sums (metrics.portable)
    eta = rows.offset + portable.combine(cols, beta)
    e = np.exp(-np.abs(eta))
    inv = 1.0 / (1.0 + e)
    mu = np.where(eta >= 0, inv, e * inv)
    ll = float(np.add.reduce(rows.w * (rows.y * eta - np.maximum(eta, 0.0) - np.log1p(e))))
    g = portable.cross(cols, rows.w * (rows.y - mu))
    h = portable.gram(cols, rows.w * mu * (1.0 - mu))
    return g, h, ll


def federated_logistic(
    sites: Sequence[SiteRows],
    *,
    start: Sequence[float],
    max_rounds: int = 50,
    tol: float = 1e-10,
) -> FederatedFit:
    """Newton-Raphson with step halving where every sum is a sum of the sites' answers."""
    beta = np.array(start, dtype=np.float64)
    p = beta.size
    nan = FederatedFit(np.full(p, np.nan), np.full((p, p), np.nan), False, 0)

    def ask(b: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        answers = [site_answer(s, b) for s in sites]
        return (
            sum((a[0] for a in answers), np.zeros(p)),
            sum((a[1] for a in answers), np.zeros((p, p))),
            float(sum(a[2] for a in answers)),
        )

    if not sites or not any(float(s.w.sum()) > 0 for s in sites):
        return FederatedFit(nan.coef, nan.cov, False, 0, "no patients")
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        g, h, ll = ask(beta)
        for r in range(1, max_rounds + 1):
            step = portable.solve_pd(h, g)
            if step is None:
                return FederatedFit(nan.coef, nan.cov, False, r, "singular information matrix")
            factor = 1.0
            for _ in range(40):
                new = beta + factor * step
                g2, h2, ll2 = ask(new)
                if math.isfinite(ll2) and ll2 >= ll - 1e-12 * (1.0 + abs(ll)):
                    break
                factor *= 0.5
            else:
                return FederatedFit(nan.coef, nan.cov, False, r, "likelihood did not increase")
            beta, g, h, ll = new, g2, h2, ll2
            if np.max(np.abs(factor * step)) <= tol * (1.0 + np.max(np.abs(beta))):
                cov = portable.solve_pd(h, np.eye(p))
                if cov is None:
                    return FederatedFit(nan.coef, nan.cov, False, r, "singular information")
                return FederatedFit(beta, (cov + cov.T) / 2.0, True, r)
    return FederatedFit(nan.coef, nan.cov, False, max_rounds, "did not converge")
