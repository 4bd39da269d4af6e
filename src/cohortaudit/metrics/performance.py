"""Exact point estimates of discrimination, threshold and accuracy metrics for one group.

Every function takes the group's scores already split by outcome and **sorted ascending**
(``pos`` for y = 1, ``neg`` for y = 0). That is the group's sufficient statistic: sorting once
per partition lets every metric below run in O(n log n) or better, and the same sorted arrays
are what chunked and multi-site engines merge. Definitions follow ``shared/REFERENCE.md``.

Why not call sklearn here? ``roc_auc_score`` and friends re-sort and re-validate on every call;
the audit calls these for dozens of groups and the engine must handle a million rows in
seconds. Each function is tested against sklearn / fairlearn / a hand-worked example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cohortaudit.registry import keys

__all__ = [
    "Confusion",
    "auroc_delong",
    "average_precision",
    "brier_score",
    "confusion_at",
    "wilson_interval",
    "THRESHOLD_METRICS",
]

#: Metrics computed from the confusion matrix at the operating threshold.
THRESHOLD_METRICS = keys("threshold")


@dataclass(frozen=True)
class Confusion:
    """Confusion counts at one threshold; the rule is *positive iff score >= threshold*."""

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn


def confusion_at(pos: np.ndarray, neg: np.ndarray, threshold: float) -> Confusion:
    """Confusion counts with the rule ``positive iff score >= threshold`` (sorted inputs)."""
    tp = len(pos) - int(np.searchsorted(pos, threshold, side="left"))
    fp = len(neg) - int(np.searchsorted(neg, threshold, side="left"))
    return Confusion(tp=tp, fp=fp, tn=len(neg) - fp, fn=len(pos) - tp)


def auroc_delong(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """AUROC (Mann-Whitney, ties count one half) and its DeLong standard error.

    Uses the mid-rank placement values of Sun & Xu (2014): for each case the share of controls
    below it (ties one half), for each control the share of cases above it. Returns
    ``(nan, nan)`` when a class is empty and ``(auc, nan)`` when a class has one member (the
    DeLong variance needs two of each).
    """
    m, k = len(pos), len(neg)
    if m == 0 or k == 0:
        return math.nan, math.nan
    below = np.searchsorted(neg, pos, side="left")
    tied = np.searchsorted(neg, pos, side="right") - below
    v10 = (below + 0.5 * tied) / k
    auc = float(v10.mean())
    if m < 2 or k < 2:
        return auc, math.nan
    above_lo = np.searchsorted(pos, neg, side="left")
    above_hi = np.searchsorted(pos, neg, side="right")
    v01 = ((m - above_hi) + 0.5 * (above_hi - above_lo)) / m
    s10 = float(np.sum((v10 - auc) ** 2)) / (m - 1)
    s01 = float(np.sum((v01 - auc) ** 2)) / (k - 1)
    return auc, math.sqrt(s10 / m + s01 / k)


def average_precision(pos: np.ndarray, neg: np.ndarray) -> float:
    """Average precision with scikit-learn's definition: sum over thresholds of dR * P.

    Recall only changes at scores held by cases, so the sum runs over the distinct case scores
    (descending); controls enter through the precision at each of those thresholds.
    """
    m = len(pos)
    if m == 0:
        return math.nan
    values, counts = np.unique(pos, return_counts=True)
    tp = m - np.searchsorted(pos, values, side="left")
    fp = len(neg) - np.searchsorted(neg, values, side="left")
    precision = tp / (tp + fp)
    return float(np.sum(counts / m * precision))


def brier_score(pos: np.ndarray, neg: np.ndarray) -> float:
    """Mean squared difference between predicted risk and outcome."""
    n = len(pos) + len(neg)
    if n == 0:
        return math.nan
    return float((np.sum((1.0 - pos) ** 2) + np.sum(neg**2)) / n)


def wilson_interval(x: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval for a proportion x/n (REFERENCE.md; x=8, n=10 -> 0.4902, 0.9433)."""
    if n <= 0:
        return math.nan, math.nan
    centre = (x + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(x * (n - x) / n + z * z / 4)
    return max(0.0, centre - half), min(1.0, centre + half)


def threshold_metric_values(c: Confusion) -> dict[str, float]:
    """Point values of the threshold metrics; NaN where a denominator is zero."""
    return {
        key: float(value)
        for key, value in zip(
            THRESHOLD_METRICS, threshold_arrays(c.tp, c.fp, c.tn, c.fn), strict=False
        )
    }


def threshold_proportions(c: Confusion) -> dict[str, tuple[int, int]]:
    """(numerator, denominator) of each threshold metric that is a simple proportion."""
    pos, neg, n = c.tp + c.fn, c.tn + c.fp, c.n
    return {
        "sensitivity": (c.tp, pos),
        "specificity": (c.tn, neg),
        "ppv": (c.tp, c.tp + c.fp),
        "npv": (c.tn, c.tn + c.fn),
        "fpr": (c.fp, neg),
        "fnr": (c.fn, pos),
        "accuracy": (c.tp + c.tn, n),
        "selection_rate": (c.tp + c.fp, n),
    }


def threshold_arrays(tp, fp, tn, fn):
    """The threshold metrics as arrays (works on scalars and on bootstrap replicate arrays)."""
    tp, fp, tn, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, tn, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        pos, neg = tp + fn, tn + fp
        n = pos + neg
        sens = tp / pos
        spec = tn / neg
        ppv = tp / (tp + fp)
        npv = tn / (tn + fn)
        f1 = 2 * tp / (2 * tp + fp + fn)
        return (
            sens,
            spec,
            ppv,
            npv,
            fp / neg,
            fn / pos,
            (tp + tn) / n,
            (sens + spec) / 2,
            f1,
            (tp + fp) / n,
        )
