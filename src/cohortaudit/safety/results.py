"""What the safety checks return, and the settings they record.

Every check in :mod:`cohortaudit.safety` returns frozen dataclasses of plain types with
``to_dict()`` (NaN -> None): :class:`ShiftFinding`, :class:`IntendedUseResult`,
:class:`RobustnessResult`, :class:`WeakSlice`, :class:`WeakSliceGroup`. :class:`SafetyResult` bundles them with a
``settings`` dict that names every threshold and method used (:data:`SAFETY_SETTINGS`), so that a
reader of audit.json can tell which rule raised a flag without reading this code. The module
computes nothing; it sits below the checks so that they, the audit and the renderers share one
definition of each value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cohortaudit.results import MetricValue, clean_float
from cohortaudit.vocabulary import UNIT_FACTORS

__all__ = [
    "MAX_LEVELS",
    "SAFETY_SETTINGS",
    "SLICE_CONTAINMENT_MIN",
    "SLICE_JACCARD_MIN",
    "SLICE_LEAD_TOLERANCE",
    "Flag",
    "IntendedUseCounts",
    "IntendedUseResult",
    "RobustnessResult",
    "RobustnessRow",
    "SafetyResult",
    "ShiftFinding",
    "WeakSlice",
    "WeakSliceGroup",
]

#: How much a finding matters: reported only, worth a look, or undermining the predictions.
Flag = Literal["none", "notable", "serious"]


#: Two weak slices on one metric whose patients overlap by at least this Jaccard index
#: (|A and B| / |A or B|) are one weakness: 70 % or more of each one's patients are in both.
SLICE_JACCARD_MIN = 0.7
#: Two sibling slices (the same conditions but one, e.g. "South Asian, never smoked" and "South
#: Asian, no diabetes") are one weakness when this share of the smaller one's patients is in the
#: larger: one is then, in effect, a sub-slice of the other.
SLICE_CONTAINMENT_MIN = 0.8
#: A group's lead is its simplest member whose gap x patients is within this fraction of the
#: largest: a sub-slice must account for clearly more than its parent to be the finding.
SLICE_LEAD_TOLERANCE = 0.2


SAFETY_SETTINGS: dict[str, Any] = {
    "min_cell": 10,
    "confidence": 0.95,
    "smd": {
        "method": "pooled SD, sqrt((sd_c^2 + sd_ref^2)/2)",
        "notable": 0.1,
        "serious": 0.25,
        "noise_floor": "z*sqrt(1/n + 1/n_ref)",
    },
    "ks_at_quantiles": {
        "method": "max |F_cohort(card quantile) - q| over the card's stored quantiles",
        "notable": 0.1,
        "serious": 0.2,
        "noise_floor": "1.36*sqrt(1/n + 1/n_ref)",
    },
    "unit_change": {
        "method": "median ratio and IQR ratio both within tolerance of a known factor",
        "tolerance_log": math.log(1.10),
        "factors": [f for f, _ in UNIT_FACTORS],
    },
    "tvd": {
        "notable": 0.1,
        "serious": 0.2,
        "noise_test": "two-sample chi-square approximation, p < 0.05",
    },
    "unseen_categories": {"notable": 0.0, "serious": 0.05},
    "group_flags": (
        "groups are compared with the whole development population (the card has no per-group "
        "summary), so per group only unit changes and unseen categories are flagged; SMD, "
        "distance, category and prevalence differences are reported unflagged as possible "
        "case mix"
    ),
    "prevalence": {
        "ci": "Wilson (development prevalence fixed)",
        "notable_ratio": [0.8, 1.25],
        "serious_ratio": [0.5, 2.0],
    },
    "intended_use": {
        "age_rule": "age < age_min or age >= age_max + 1",
        "range_rule": "value < card min or value > card max",
        "suppression": "0 < count < k withheld",
    },
    "robustness": {
        "noise": "Gaussian, SD = level * SD(feature) (card SD when known), all numeric at once",
        "flip": "each categorical value flips to another observed category with the rate",
        "delta_auroc_ci": "paired DeLong (1988)",
        "delta_sensitivity_ci": "paired Wald on cases (McNemar-type)",
    },
    "weak_slices": {
        "numeric_binning": "quartiles (numeric columns with > 10 distinct values)",
        "auroc_test": "one-sided z; slice DeLong, complement Hanley-McNeil variance",
        "sensitivity_test": "one-sided pooled two-proportion z",
        "oe_test": "two-sided z on ln(OE_slice/OE_rest), SE sqrt(1/O_s + 1/O_r)",
        "multiplicity": "Benjamini-Hochberg across all tests",
        "pruning": (
            "a combined slice is not reported when its CI contains the value of a flagged "
            "sub-slice on the same metric (after BH; removes reports, not tests)"
        ),
        "ranking": "effect (gap to the rest), largest first",
    },
    # weak_slice_groups (issue 19, point 4): how overlapping weak slices become one line each
    "slice_grouping": {
        "scope": "within one metric; every weak slice is in exactly one group",
        "order": (
            "slices are taken coarsest first (fewer attributes), then by |delta| x n, largest "
            "first; a slice starts a new group unless it joins an earlier one"
        ),
        "nesting": (
            "a slice joins the group of an earlier member whose attributes it extends "
            "(a sub-slice: its conditions and more, so a subset of its patients)"
        ),
        "overlap": (
            f"a slice joins the group whose first slice it overlaps with Jaccard "
            f"|A and B| / |A or B| >= {SLICE_JACCARD_MIN} in patients"
        ),
        "jaccard_min": SLICE_JACCARD_MIN,
        "siblings": (
            "a slice joins the group whose first slice has the same conditions but one "
            f"when >= {SLICE_CONTAINMENT_MIN:g} of the smaller one's patients are in the larger "
            "(|A and B| / min(|A|, |B|))"
        ),
        "containment_min": SLICE_CONTAINMENT_MIN,
        "tie": (
            "several candidate groups: the one whose matching member's value is closest "
            "(O/E on the log scale), then the earlier group"
        ),
        "delta": {
            "sensitivity": "rest - slice",
            "auroc": "2 x (rest - slice), the difference in Somers' D",
            "oe": "|ln(OE_slice / OE_rest)|",
        },
        "lead": (
            f"among members with |delta| x n >= {1 - SLICE_LEAD_TOLERANCE:g} x the group's "
            "largest, the one with the fewest attributes, then the larger |delta| x n, the "
            "smaller q, p, index"
        ),
        "lead_tolerance": SLICE_LEAD_TOLERANCE,
        "score": (
            "the lead's |delta| x n (released numbers only); groups ranked by it, largest first"
        ),
        "patients": (
            "distinct patients in the union of the members; null (withheld) when the union, or "
            "the overlap of its two largest members, differs by 1 to k-1 from a released count "
            "it contains or is contained in"
        ),
    },
}


#: A numeric column with more distinct values than this is treated as continuous: cut at its
#: quartiles for the slice search, perturbed with noise (not flipped) when the card has no type.
MAX_LEVELS = 10


def _plain(x: Any) -> Any:
    """Plain JSON types; NaN/inf -> None."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, bool | np.bool_):
        return bool(x)
    if isinstance(x, int | np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        return clean_float(x)
    if isinstance(x, MetricValue):
        return x.to_dict()
    return x


@dataclass(frozen=True)
class ShiftFinding:
    """One shift statistic for one input (or the outcome) in the cohort or one group."""

    feature: str
    group: dict[str, str]
    statistic: str
    value: float | None
    flag: Flag
    message: str
    n: int
    ci_low: float | None = None
    ci_high: float | None = None
    unit_factor: float | None = None

    def __post_init__(self) -> None:
        for name in ("value", "ci_low", "ci_high", "unit_factor"):
            object.__setattr__(self, name, clean_float(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "group": dict(self.group),
            "statistic": self.statistic,
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "flag": self.flag,
            "message": self.message,
            "n": int(self.n),
            "unit_factor": self.unit_factor,
        }


@dataclass(frozen=True)
class IntendedUseCounts:
    """Counts for the whole cohort (``group == {}``) or one group; None = withheld (< k)."""

    group: dict[str, str]
    n: int | None
    outside_population: int | None
    out_of_range: dict[str, int | None]
    missing: dict[str, int | None]
    suppressed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": dict(self.group),
            "n": self.n,
            "outside_population": self.outside_population,
            "out_of_range": dict(self.out_of_range),
            "missing": dict(self.missing),
            "suppressed": list(self.suppressed),
        }


@dataclass(frozen=True)
class IntendedUseResult:
    population_rule: str | None
    rows: tuple[IntendedUseCounts, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"population_rule": self.population_rule, "rows": [r.to_dict() for r in self.rows]}


@dataclass(frozen=True)
class RobustnessRow:
    """Performance change under one perturbation, for the cohort or one group."""

    perturbation: str  # "gaussian_noise" | "category_flip"
    level: float
    group: dict[str, str]
    n: int
    auroc: float | None
    auroc_perturbed: float | None
    delta_auroc: MetricValue
    sensitivity: float | None
    sensitivity_perturbed: float | None
    delta_sensitivity: MetricValue

    def __post_init__(self) -> None:
        for name in ("level", "auroc", "auroc_perturbed", "sensitivity", "sensitivity_perturbed"):
            object.__setattr__(self, name, clean_float(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "perturbation": self.perturbation,
            "level": self.level,
            "group": dict(self.group),
            "n": int(self.n),
            "auroc": self.auroc,
            "auroc_perturbed": self.auroc_perturbed,
            "delta_auroc": self.delta_auroc.to_dict(),
            "sensitivity": self.sensitivity,
            "sensitivity_perturbed": self.sensitivity_perturbed,
            "delta_sensitivity": self.delta_sensitivity.to_dict(),
        }


@dataclass(frozen=True)
class RobustnessResult:
    threshold: float
    seed: int
    rows: tuple[RobustnessRow, ...]
    perturbed_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": clean_float(self.threshold),
            "seed": int(self.seed),
            "perturbed_columns": {k: list(v) for k, v in self.perturbed_columns.items()},
            "rows": [r.to_dict() for r in self.rows],
        }


@dataclass(frozen=True)
class WeakSlice:
    """A slice significantly worse than the rest of the cohort on one metric (after BH)."""

    attributes: dict[str, str]
    metric: str  # "auroc" | "sensitivity" | "oe"
    n: int
    events: int
    value: MetricValue
    rest_value: float | None
    effect: float | None
    p_value: float | None
    q_value: float | None
    description: str
    # sensitivity slices only (safety/slice_case_mix.py): expected sensitivity of the slice and
    # of the rest under perfect calibration, and the gap beyond what that case mix implies
    expected_value: float | None = None
    expected_rest_value: float | None = None
    beyond_case_mix: MetricValue | None = None

    def __post_init__(self) -> None:
        for name in (
            "rest_value", "effect", "p_value", "q_value", "expected_value", "expected_rest_value"
        ):
            object.__setattr__(self, name, clean_float(getattr(self, name)))

    @property
    def case_mix(self) -> bool:
        """True when the slice's gap is what its case mix implies: the interval of the gap
        beyond case mix includes 0. Above 0, the model misses the slice's cases more than their
        predicted risks imply; below 0, it misses fewer, so those risks are themselves wrong in
        the slice (e.g. squeezed towards the mean): neither is case mix."""
        b = self.beyond_case_mix
        return (
            b is not None
            and b.ci_low is not None
            and b.ci_high is not None
            and b.ci_low <= 0 <= b.ci_high
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "attributes": dict(self.attributes),
            "metric": self.metric,
            "n": int(self.n),
            "events": int(self.events),
            "value": self.value.to_dict(),
            "rest_value": self.rest_value,
            "effect": self.effect,
            "p_value": self.p_value,
            "q_value": self.q_value,
            "description": self.description,
        } | (
            {}
            if self.beyond_case_mix is None
            else {
                "expected_value": self.expected_value,
                "expected_rest_value": self.expected_rest_value,
                "beyond_case_mix": self.beyond_case_mix.to_dict(),
                "case_mix": self.case_mix,
            }
        )


@dataclass(frozen=True)
class WeakSliceGroup:
    """Overlapping weak slices on one metric, reported once by ``lead`` (indices into
    ``SafetyResult.weak_slices``; ``patients`` None = withheld, see :mod:`.slice_groups`)."""

    lead: int
    members: tuple[int, ...]
    patients: int | None
    score: float | None
    metric: str
    case_mix: bool = False  # the lead's gap is what its case mix implies (ranked last)

    def __post_init__(self) -> None:
        object.__setattr__(self, "score", clean_float(self.score))

    def to_dict(self) -> dict[str, Any]:
        return {
            "lead": int(self.lead),
            "members": [int(i) for i in self.members],
            "patients": None if self.patients is None else int(self.patients),
            "score": self.score,
            "metric": self.metric,
            "case_mix": bool(self.case_mix),
        }


@dataclass(frozen=True)
class SafetyResult:
    shift: tuple[ShiftFinding, ...]
    intended_use: IntendedUseResult | None
    robustness: RobustnessResult | None
    weak_slices: tuple[WeakSlice, ...]
    weak_slice_groups: tuple[WeakSliceGroup, ...] = ()
    settings: dict[str, Any] = field(default_factory=lambda: dict(SAFETY_SETTINGS))

    def to_dict(self) -> dict[str, Any]:
        return {
            "shift": [f.to_dict() for f in self.shift],
            "intended_use": None if self.intended_use is None else self.intended_use.to_dict(),
            "robustness": None if self.robustness is None else self.robustness.to_dict(),
            "weak_slices": [w.to_dict() for w in self.weak_slices],
            "weak_slice_groups": [g.to_dict() for g in self.weak_slice_groups],
            "settings": _plain(self.settings),
        }
