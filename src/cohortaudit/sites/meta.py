"""Random-effects meta-analysis of per-site estimates (DerSimonian & Laird 1986).

For estimates ``y_i`` with within-site variances ``v_i`` (on a scale where they are roughly
normal: logit AUROC, ln O/E, the calibration slope):

* fixed-effect weights ``w_i = 1/v_i``, Cochran's ``Q = sum w_i (y_i - y_FE)^2``, df = k - 1;
* ``tau^2 = max(0, (Q - df) / (sum w - sum w^2 / sum w))`` (method of moments);
* random-effects weights ``1/(v_i + tau^2)``, pooled ``mu`` with ``se = sqrt(1/sum w*)`` and the
  Wald interval ``mu +- z se``;
* ``I^2 = max(0, (Q - df)/Q)``;
* the 95% prediction interval for the effect in a new site (Higgins, Thompson & Spiegelhalter
  2009): ``mu +- t_{k-2} sqrt(tau^2 + se^2)``, defined for k >= 3 sites.

Written out rather than taken from statsmodels (``combine_effects``): it is a dozen lines, it
must not import statsmodels at run time (~1 s), and statsmodels does not give the prediction
interval. The tests check the estimate, its CI, tau^2, Q and I^2 against ``combine_effects``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["MetaResult", "dersimonian_laird"]


@dataclass(frozen=True)
class MetaResult:
    """Pooled random-effects estimate on the analysis scale, with heterogeneity statistics."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    tau2: float
    i2: float
    q: float
    df: int
    q_p: float
    pi_low: float | None
    pi_high: float | None
    n_sites: int
    fixed_estimate: float
    fixed_se: float


def dersimonian_laird(
    estimates: Sequence[float], variances: Sequence[float], *, confidence: float = 0.95
) -> MetaResult | None:
    """DerSimonian-Laird pooling; None with fewer than two usable sites."""
    y = np.asarray(estimates, dtype=np.float64)
    v = np.asarray(variances, dtype=np.float64)
    use = np.isfinite(y) & np.isfinite(v) & (v > 0)
    y, v = y[use], v[use]
    k = int(y.size)
    if k < 2:
        return None
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    w = 1.0 / v
    fixed = float(np.sum(w * y) / np.sum(w))
    q = float(np.sum(w * (y - fixed) ** 2))
    df = k - 1
    c = float(np.sum(w) - np.sum(w**2) / np.sum(w))
    tau2 = max(0.0, (q - df) / c) if c > 0 else 0.0
    ws = 1.0 / (v + tau2)
    mu = float(np.sum(ws * y) / np.sum(ws))
    se = math.sqrt(1.0 / float(np.sum(ws)))
    i2 = max(0.0, (q - df) / q) if q > 0 else 0.0
    pi_low = pi_high = None
    if k >= 3:
        t = float(stats.t.ppf(0.5 + confidence / 2, k - 2))
        half = t * math.sqrt(tau2 + se**2)
        pi_low, pi_high = mu - half, mu + half
    return MetaResult(
        estimate=mu,
        se=se,
        ci_low=mu - z * se,
        ci_high=mu + z * se,
        tau2=tau2,
        i2=i2,
        q=q,
        df=df,
        q_p=float(stats.chi2.sf(q, df)),
        pi_low=pi_low,
        pi_high=pi_high,
        n_sites=k,
        fixed_estimate=fixed,
        fixed_se=math.sqrt(1.0 / float(np.sum(w))),
    )
