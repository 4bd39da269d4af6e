"""Old import path of the cohort validator, :mod:`cohortaudit.intake.validate`, kept for callers.

The rules and caveat wording live in :mod:`cohortaudit.intake.rules`, the column parsers in
:mod:`cohortaudit.intake.columns`.
"""

from cohortaudit.intake.columns import ordered_bin_labels
from cohortaudit.intake.rules import (
    MAX_DROP_FRACTION,
    MAX_GROUPS,
    MAX_UNBINNED_NUMERIC_GROUPS,
    MIN_PER_CLASS,
    MISSING_GROUP,
    SERIOUS_DROP_FRACTION,
)
from cohortaudit.intake.validate import Cohort, validate_cohort

__all__ = [
    "MAX_DROP_FRACTION",
    "MAX_GROUPS",
    "MAX_UNBINNED_NUMERIC_GROUPS",
    "MIN_PER_CLASS",
    "MISSING_GROUP",
    "SERIOUS_DROP_FRACTION",
    "Cohort",
    "ordered_bin_labels",
    "validate_cohort",
]
