"""The severity rules of a finding, stated once: here, in ``settings.findings`` and in README.

Why rules and not a p-value ranking: a regulator needs to know which differences harm patients,
and how much, not which are most surprising. Every finding starts from an interval that
excludes "no problem" (O/E 1, a difference of 0, a slope of 1); its severity then follows

1. **size**, against stated cut-offs (:data:`CUT_OFFS`): *large* -> ``high``, *moderate* ->
   ``medium``, anything smaller -> ``low``;
2. **direction of harm**: under-prediction (O/E > 1) leads to under-treatment and lower
   sensitivity or NPV to missed cases; both keep their level. Over-prediction (O/E < 1) and
   lower specificity or PPV lead to overtreatment, and a calibration slope away from 1 mixes
   both; these are one level lower (``high`` -> ``medium`` -> ``low``) than a harm of the same
   size in the other direction. A calibration slope away from 1 is at most ``low``: its harm
   at the threshold is what the error rates measure, and they are judged on their own;
3. **absolute size and patients affected**: an O/E finding where the observed and the mean
   predicted risk differ by less than :data:`SMALL_RISK_GAP` (2 percentage points) is one level
   lower -- a large relative error on a small risk moves few patients across a threshold; a
   group with fewer than :data:`FEW_PATIENTS_SHARE` of the cohort's
   patients is one level lower (it still shows, with its size);
4. **precision**: a group flagged imprecise (fewer than 100 events or non-events), or a
   finding whose interval is wider than its own *large* cut-off on either side of the
   estimate, is capped at ``low``: "collect more data" before acting on it;
5. **case mix**: an error-rate gap (sensitivity, specificity, PPV, NPV) is split into the part
   a perfectly calibrated model would show given the group's risk distribution and the part
   beyond it. When the part beyond has an interval that includes 0, or is smaller than
   :data:`NEGLIGIBLE_GAP`, the gap is ``case_mix``: reported, and not a problem. A gap whose
   split is not in the result is "not yet separated from case mix" and capped at ``low``
   (never called case mix).

Findings are then ordered most severe first, and within a severity by size relative to the
large cut-off, then by the number of patients in the group.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CUT_OFFS",
    "NEGLIGIBLE_GAP",
    "FEW_PATIENTS_SHARE",
    "SMALL_RISK_GAP",
    "SEVERITY_ORDER",
    "Size",
    "size_of",
    "severity_of",
    "RULES_SETTINGS",
]

#: Severity levels, most severe first (``case_mix`` is not a problem and sorts last).
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2, "case_mix": 3}


@dataclass(frozen=True)
class Size:
    """Cut-offs on the scale a finding is judged on: (moderate, large)."""

    moderate: float
    large: float
    scale: str


#: Cut-offs per kind of number. O/E and the calibration slope are judged on |ln(x)| (so O/E
#: 0.80 and 1.25 are equally far from 1); differences on their absolute value.
CUT_OFFS: dict[str, Size] = {
    "oe_ratio": Size(moderate=0.0953, large=0.2231, scale="|ln O/E|: moderate 1.10 (0.91), large 1.25 (0.80)"),
    "calibration_slope": Size(moderate=0.2231, large=0.3567, scale="|ln slope|: moderate 0.80 (1.25), large 0.70 (1.43)"),
    "discrimination": Size(moderate=0.03, large=0.05, scale="|difference in AUROC or C|: moderate 0.03, large 0.05"),
    "error_rate": Size(moderate=0.05, large=0.10, scale="|difference beyond case mix|: moderate 0.05, large 0.10"),
    "robustness": Size(moderate=0.02, large=0.05, scale="|drop in AUROC or sensitivity under perturbation|: moderate 0.02, large 0.05"),
}
#: An error-rate difference beyond case mix smaller than this is not a clinically meaningful gap.
NEGLIGIBLE_GAP = 0.02
#: An O/E finding whose observed and mean predicted risk differ by less than this is one level lower.
SMALL_RISK_GAP = 0.02
#: Groups with fewer than this share of the cohort's patients are one severity level lower.
FEW_PATIENTS_SHARE = 0.02

_LEVELS = ("high", "medium", "low")

#: The rules as ``settings.findings`` states them.
RULES_SETTINGS: dict[str, object] = {
    "candidates": (
        "all patients and each single-attribute group; a finding needs a 95% interval that "
        "excludes no problem (O/E 1, slope 1, difference 0); discrimination and error rates "
        "are compared with the attribute's reference group (for a two-group attribute, the "
        "worse-off group is named); data problems, shift, robustness and weak slices come from "
        "the safety checks"
    ),
    "size": {k: v.scale for k, v in CUT_OFFS.items()},
    "severity": "large -> high, moderate -> medium, smaller -> low",
    "direction_of_harm": (
        "under-prediction (under-treatment) and lower sensitivity or NPV (missed cases) keep "
        "their level; over-prediction and lower specificity or PPV (overtreatment) and a "
        "calibration slope away from 1 are one level lower"
    ),
    "absolute_size": (
        f"an O/E finding whose observed and mean predicted risk differ by < {SMALL_RISK_GAP} "
        "(absolute) is one level lower; a calibration slope finding is at most low (its harm at "
        "the threshold is judged through the error rates)"
    ),
    "patients_affected": f"a group with < {FEW_PATIENTS_SHARE:.0%} of the cohort is one level lower",
    "precision": (
        "an imprecise group (< 100 events or non-events) or an interval wider than the large "
        "cut-off on either side is capped at low"
    ),
    "case_mix": (
        "an error-rate gap whose part beyond case mix has an interval including 0, or is "
        f"smaller than {NEGLIGIBLE_GAP}, is 'case_mix' and not a problem; a gap without the "
        "split is 'not yet separated from case mix' and capped at low"
    ),
    "data_problems": (
        "a likely unit change is high; a serious caveat or a serious unseen-category share is "
        "medium; a serious cohort shift is medium, a notable one low (a shift in a feature "
        "with a unit change is part of that finding)"
    ),
    "robustness": "a drop (interval below 0) of at least the moderate cut-off; size as above",
    "weak_slices": (
        "found by search (Benjamini-Hochberg): low, the lead slice of each group; a sensitivity "
        "slice whose gap beyond case mix has an interval including 0 is 'case_mix'"
    ),
    "order": "severity, then size relative to the large cut-off, then patients in the group",
}


def size_of(magnitude: float, cut: Size) -> str:
    """``large`` / ``moderate`` / ``small`` for a magnitude on the cut-off's scale."""
    if magnitude >= cut.large:
        return "large"
    if magnitude >= cut.moderate:
        return "moderate"
    return "small"


def severity_of(
    size: str,
    *,
    harm_lowers: bool = False,
    small_absolute: bool = False,
    few_patients: bool = False,
    imprecise: bool = False,
    cap: str = "high",
) -> str:
    """The severity from the size and the rules 2-4 of this module's docstring.

    ``harm_lowers`` is True for a harm of the overtreatment kind (or mixed), which is one
    level lower than under-treatment or missed cases of the same size; ``small_absolute`` for
    an O/E finding on a small absolute risk gap; ``cap`` the highest level the kind can reach.
    """
    level = {"large": 0, "moderate": 1, "small": 2}[size]
    level += int(harm_lowers) + int(small_absolute) + int(few_patients)
    level = max(level, _LEVELS.index(cap))
    if imprecise:
        level = 2
    return _LEVELS[min(level, 2)]
