"""Safety checks: cohort shift vs the card's reference, intended-use fit, robustness, weak slices.

One module per job, each with its methods written out in its docstring:

* :mod:`~cohortaudit.safety.shift` -- :func:`compute_shift`: every input (and the outcome)
  against the card's development-data summary: SMD, KS at the card's quantiles, TVD, unseen
  categories, prevalence, and likely unit changes.
* :mod:`~cohortaudit.safety.intended_use` -- :func:`intended_use_fit`: patients outside the
  card's population or input ranges, and missing inputs, with small counts withheld.
* :mod:`~cohortaudit.safety.perturbation` -- :func:`robustness`: the change in AUROC and
  sensitivity under seeded noise and category flips (paired DeLong, paired Wald).
* :mod:`~cohortaudit.safety.slices` -- :func:`weak_slices`: single attributes and their
  combinations significantly worse than the rest, Benjamini-Hochberg across the search.
* :mod:`~cohortaudit.safety.slice_groups` -- :func:`group_weak_slices`: the weak slices of one
  weakness (a slice, its sub-slices, slices of largely the same patients) as one ranked group.
* :mod:`~cohortaudit.safety.results` -- the frozen result types and :data:`SAFETY_SETTINGS`,
  which every :class:`SafetyResult` records; :mod:`~cohortaudit.safety.common` -- the argument
  checks and the cohort-and-groups subsets the checks share.

Imports point down: ``results`` and ``common`` import no other safety module, the four checks
import only those two (``slice_groups`` also the slice search's level encoding), and this
package imports the checks. Everything is aggregate-only and
deterministic for a given seed. The names below are the ones ``cohortaudit.safety`` has always
offered (``from cohortaudit.safety import X`` and ``safety.X`` both work).
"""

from __future__ import annotations

from cohortaudit.safety.intended_use import intended_use_fit
from cohortaudit.safety.perturbation import robustness
from cohortaudit.safety.results import (
    SAFETY_SETTINGS,
    Flag,
    IntendedUseCounts,
    IntendedUseResult,
    RobustnessResult,
    RobustnessRow,
    SafetyResult,
    ShiftFinding,
    WeakSlice,
    WeakSliceGroup,
)
from cohortaudit.safety.shift import compute_shift
from cohortaudit.safety.slice_groups import group_weak_slices
from cohortaudit.safety.slices import weak_slices
from cohortaudit.vocabulary import UNIT_FACTORS, slice_words

__all__ = [
    "SAFETY_SETTINGS",
    "UNIT_FACTORS",
    "Flag",
    "ShiftFinding",
    "IntendedUseCounts",
    "IntendedUseResult",
    "RobustnessRow",
    "RobustnessResult",
    "WeakSlice",
    "WeakSliceGroup",
    "SafetyResult",
    "compute_shift",
    "intended_use_fit",
    "robustness",
    "weak_slices",
    "group_weak_slices",
    "slice_words",
]
