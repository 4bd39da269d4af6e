"""Disclosure-safe curves for one group: every curve leaves on a fixed grid (REFERENCE.md rule 4).

* ROC and precision-recall points come from the confusion counts on the fixed threshold grid,
  which disclosure control has already screened (withheld rows stay None).
* The risk histogram and the calibration table use fixed equal-width bins; a bin with
  0 < count < k is suppressed, and if that leaves exactly one suppressed bin, the smallest other
  non-empty bin is suppressed too, so the total cannot give it back.
* The smoothed calibration curve is reported on a fixed grid of predicted risks, only between
  the points that have at least k patients below and k above them (no extreme predictions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cohortaudit.metrics.calibration import CalibrationEstimate, calibration_curve_on_grid
from cohortaudit.metrics.utility import decision_curve

__all__ = [
    "HISTOGRAM_EDGES",
    "CURVE_GRID",
    "risk_histogram",
    "calibration_curve",
    "calibration_table",
    "roc_and_pr",
    "decision_curve_rows",
    "curve_support",
    "withhold_small_bins",
]

#: Equal-width bins of predicted risk for the histogram under the calibration plot.
HISTOGRAM_EDGES = np.round(np.linspace(0.0, 1.0, 21), 2)
#: Predicted risks at which the smoothed calibration curve is reported.
CURVE_GRID = np.round(np.arange(1, 100) / 100, 2)


def _none(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def withhold_small_bins(counts: np.ndarray, k: int) -> list[bool]:
    """Which bins to withhold: 0 < count < k, plus one complementary bin when needed."""
    hide = [(0 < c < k) for c in counts]
    if sum(hide) == 1:
        candidates = [i for i, c in enumerate(counts) if c > 0 and not hide[i]]
        if candidates:
            hide[min(candidates, key=lambda i: (counts[i], i))] = True
    return hide


def curve_support(pos: np.ndarray, neg: np.ndarray, k: int) -> tuple[float, float]:
    """The k-th smallest and k-th largest prediction of the group (never exported).

    k = 0 (disclosure control off) gives the whole range, as k = 1 does.
    """
    scores = np.concatenate([pos, neg])
    k = max(int(k), 1)
    if len(scores) < 2 * k:
        return math.inf, -math.inf
    lo = np.partition(scores, k - 1)[k - 1]
    hi = -np.partition(-scores, k - 1)[k - 1]
    return float(lo), float(hi)


def risk_histogram(pos: np.ndarray, neg: np.ndarray, k: int) -> dict[str, Any]:
    """Counts of predicted risk in 20 bins of width 0.05, by outcome, small cells withheld."""
    out: dict[str, Any] = {"edges": [float(e) for e in HISTOGRAM_EDGES]}
    for name, scores in (("events", pos), ("non_events", neg)):
        counts = np.histogram(scores, bins=HISTOGRAM_EDGES)[0]
        hide = withhold_small_bins(counts, k)
        out[name] = [None if h else int(c) for c, h in zip(counts, hide, strict=False)]
    return out


def calibration_table(
    ece_table: Sequence[Mapping[str, Any]], k: int, *, hidden: list[bool] | None = None
) -> list[dict[str, Any]]:
    """The ECE bins (n, events, sum of predictions), released only with >= k of each outcome.

    ``hidden`` is the decision of :func:`cohortaudit.disclosure.apply_disclosure_control`
    (which also closes each bin against the same bin of sibling groups); without it, the
    group's own bins are closed on their own.
    """
    rows = [dict(r) for r in ece_table]
    n = np.array([r["n"] for r in rows])
    events = np.array([r["events"] for r in rows])
    if hidden is not None and len(hidden) == len(rows):
        hide = list(hidden)
    else:
        hide = [bool(h) for h in withhold_small_bins(n, k)]
        for i, r in enumerate(rows):
            if r["n"] > 0 and (events[i] < k or n[i] - events[i] < k):
                hide[i] = True
        if sum(hide) == 1:
            candidates = [i for i, r in enumerate(rows) if r["n"] > 0 and not hide[i]]
            if candidates:
                hide[min(candidates, key=lambda i: (n[i], i))] = True
    out = []
    for r, h in zip(rows, hide, strict=False):
        out.append(
            {
                "lower": float(r["lower"]),
                "upper": float(r["upper"]),
                "n": None if h else int(r["n"]),
                "events": None if h else int(r["events"]),
                "sum_p": None if h else _none(r["sum_p"]),
            }
        )
    return out


def calibration_curve(
    est: CalibrationEstimate, support: tuple[float, float], z: float
) -> dict[str, list[float | None]]:
    """Smoothed observed risk with a pointwise CI band, on CURVE_GRID within the support."""
    lo_s, hi_s = support
    inside = (lo_s <= CURVE_GRID) & (hi_s >= CURVE_GRID)
    observed = np.full(len(CURVE_GRID), np.nan)
    low = np.full(len(CURVE_GRID), np.nan)
    high = np.full(len(CURVE_GRID), np.nan)
    if inside.any() and len(est.spline_coef):
        o, lo, hi = calibration_curve_on_grid(est, CURVE_GRID[inside], z=z)
        observed[inside], low[inside], high[inside] = o, lo, hi
    return {
        "predicted": [float(x) for x in CURVE_GRID],
        "observed": [_none(x) for x in observed],
        "ci_low": [_none(x) for x in low],
        "ci_high": [_none(x) for x in high],
    }


def roc_and_pr(thresholds: list[float], grid: dict[str, list[int | None]]):
    """ROC (fpr, tpr) and PR (recall, precision) points at each grid threshold."""
    roc: dict[str, list] = {"threshold": list(thresholds), "fpr": [], "tpr": []}
    pr: dict[str, list] = {"threshold": list(thresholds), "recall": [], "precision": []}
    for j in range(len(thresholds)):
        tp, fp, tn, fn = (
            grid.get(c, [None] * len(thresholds))[j] for c in ("tp", "fp", "tn", "fn")
        )
        if None in (tp, fp, tn, fn):
            for lst in (roc["fpr"], roc["tpr"], pr["recall"], pr["precision"]):
                lst.append(None)
            continue
        roc["fpr"].append(fp / (fp + tn) if fp + tn else None)
        roc["tpr"].append(tp / (tp + fn) if tp + fn else None)
        pr["recall"].append(tp / (tp + fn) if tp + fn else None)
        pr["precision"].append(tp / (tp + fp) if tp + fp else None)
    return roc, pr


def decision_curve_rows(
    thresholds: list[float], grid: dict[str, list[int | None]], n: int, events: int
) -> list[dict[str, float | None]]:
    """Net benefit etc. at every grid threshold (REFERENCE.md "Clinical utility")."""
    tp = np.array([np.nan if v is None else v for v in grid.get("tp", [])], dtype=float)
    fp = np.array([np.nan if v is None else v for v in grid.get("fp", [])], dtype=float)
    if len(tp) != len(thresholds):
        return []
    dc = decision_curve(np.asarray(thresholds, dtype=float), tp, fp, n, events)
    keys = (
        "net_benefit",
        "net_benefit_treat_all",
        "interventions_avoided_per_100",
        "standardized_net_benefit",
    )
    return [
        {"threshold": float(thresholds[j]), **{key: _none(dc[key][j]) for key in keys}}
        for j in range(len(thresholds))
    ]
