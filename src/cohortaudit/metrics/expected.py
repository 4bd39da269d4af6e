"""Error rates a perfectly calibrated model would have: the case-mix yardstick.

Why: threshold metrics differ between groups even for a perfect model, because they depend on
the group's risk distribution. A group of older patients, most of them above the threshold,
has a low specificity however fair the model is. If the model is calibrated (P(y = 1 | p) = p),
the expected confusion counts of a group at threshold t follow from its predicted risks alone:

    TP = sum_{p >= t} p        FN = sum_{p < t} p
    FP = sum_{p >= t} (1 - p)  TN = sum_{p < t} (1 - p)

so expected sensitivity = TP / (TP + FN), specificity = TN / (TN + FP), PPV = TP / #{p >= t},
NPV = TN / #{p < t} (Kleinberg, Mullainathan & Raghavan 2017; Pleiss et al. 2017: under
calibration within groups the error rates are determined by the risk distributions). The rule
``positive iff p >= t`` is the engine's. A gap in an observed error rate between a group and
its reference then splits into ``case_mix`` = expected(group) - expected(reference), what the
two risk distributions imply, and ``beyond_case_mix`` = the rest (miscalibration, or poorer
discrimination within the group than its risks claim).

The sufficient statistic is four numbers per group: the sum of predicted risks and the number
of patients on each side of the threshold. Chunks, replicates and sites add them up; the
bootstrap gets them per (finest cell x outcome x score bin) entry as drawn count x the entry's
mean score. The side of the threshold is exact (the threshold is a bin edge); the sum is exact
when every bin holds one distinct score (an exact grid) and otherwise leaves out the spread of
p within a bin, as the Brier score's replicates do.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "EXPECTED_METRICS",
    "OBSERVED_OF",
    "EXPECTED_OF",
    "EXPECTED_SETTINGS",
    "expected_arrays",
    "expected_from_sorted",
]

#: The expected-if-calibrated metrics, in registry order.
EXPECTED_METRICS = (
    "expected_sensitivity",
    "expected_specificity",
    "expected_ppv",
    "expected_npv",
)
#: expected metric -> the observed threshold metric it is the yardstick of.
OBSERVED_OF = {m: m.removeprefix("expected_") for m in EXPECTED_METRICS}
#: observed threshold metric -> its expected-if-calibrated counterpart (disparity split).
EXPECTED_OF = {v: k for k, v in OBSERVED_OF.items()}

#: ``settings.expected_error_rates``: the definition, as the result states it.
EXPECTED_SETTINGS = {
    "definition": (
        "error rates a perfectly calibrated model (P(y = 1 | p) = p) with the group's own "
        "predicted risks p would have at the operating threshold t (positive iff p >= t)"
    ),
    "expected_counts": (
        "TP = sum of p over p >= t; FN = sum of p over p < t; FP = sum of (1 - p) over "
        "p >= t; TN = sum of (1 - p) over p < t"
    ),
    "metrics": (
        "expected_sensitivity = TP / (TP + FN); expected_specificity = TN / (TN + FP); "
        "expected_ppv = TP / #(p >= t); expected_npv = TN / #(p < t); null where the "
        "denominator is 0"
    ),
    "case_mix_split": (
        "for disparities of sensitivity, specificity, PPV and NPV: case_mix = expected(group) "
        "- expected(reference), the part of the difference the two risk distributions imply; "
        "beyond_case_mix = difference - case_mix (miscalibration or poorer discrimination "
        "within the group); the ratio is not split"
    ),
    "ci": (
        "stratified bootstrap, percentile, on the same replicates as the observed metrics: "
        "the threshold is a score-bin edge, so the counts on each side are exact; a drawn "
        "patient carries the mean p of its (stratum x outcome x score bin) entry, exact when "
        "the score grid is (settings.bootstrap.score_bins_exact), else within-bin spread of p "
        "is not resampled; case_mix and beyond_case_mix intervals from the same joint replicates"
    ),
    "withheld": "with the threshold metrics (disclosure rule 2) and for suppressed groups",
    "references": (
        "Kleinberg, Mullainathan & Raghavan 2017, Inherent trade-offs in the fair "
        "determination of risk scores (ITCS); Pleiss et al. 2017, On fairness and "
        "calibration (NeurIPS)"
    ),
}


def expected_arrays(sum_above, n_above, sum_below, n_below) -> dict[str, np.ndarray]:
    """The expected metrics from the four sufficient statistics (scalars or replicate arrays).

    ``sum_above`` / ``sum_below``: sum of predicted risks with p >= t / p < t; ``n_above`` /
    ``n_below``: how many patients. An empty denominator gives NaN (undefined).
    """
    tp, na, fn, nb = (
        np.asarray(a, dtype=np.float64) for a in (sum_above, n_above, sum_below, n_below)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        fp, tn = na - tp, nb - fn
        return {
            "expected_sensitivity": np.where(tp + fn > 0, tp / (tp + fn), np.nan),
            "expected_specificity": np.where(tn + fp > 0, tn / (tn + fp), np.nan),
            "expected_ppv": np.where(na > 0, tp / na, np.nan),
            "expected_npv": np.where(nb > 0, tn / nb, np.nan),
        }


def expected_from_sorted(pos: np.ndarray, neg: np.ndarray, threshold: float) -> dict[str, float]:
    """The expected metrics of one group from its scores split by outcome and sorted
    ascending (the engine's per-group form); the outcomes themselves are not used."""
    i_pos = int(np.searchsorted(pos, threshold, side="left"))
    i_neg = int(np.searchsorted(neg, threshold, side="left"))
    sum_above = float(np.sum(pos[i_pos:])) + float(np.sum(neg[i_neg:]))
    sum_below = float(np.sum(pos[:i_pos])) + float(np.sum(neg[:i_neg]))
    n_above = (len(pos) - i_pos) + (len(neg) - i_neg)
    n_below = i_pos + i_neg
    out = expected_arrays(sum_above, n_above, sum_below, n_below)
    return {k: float(v) for k, v in out.items()}
