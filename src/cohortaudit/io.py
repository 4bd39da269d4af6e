"""Old import path of the intake readers, kept for callers: models are read by
:mod:`cohortaudit.intake.model`, cohort tables by :mod:`cohortaudit.intake.tables`, and the
SHA-256 and size limits they share live in :mod:`cohortaudit.intake.files`."""

from cohortaudit.intake.files import ENV_MAX_COHORT_MB, ENV_MAX_MODEL_MB, sha256_file
from cohortaudit.intake.model import ALLOWED_ONNX_DOMAINS, DEFAULT_MAX_MODEL_BYTES, load_model
from cohortaudit.intake.tables import (
    DEFAULT_MAX_COHORT_BYTES,
    csv_delimiter,
    csv_read_errors,
    load_cohort,
)

__all__ = [
    "ALLOWED_ONNX_DOMAINS",
    "DEFAULT_MAX_COHORT_BYTES",
    "DEFAULT_MAX_MODEL_BYTES",
    "ENV_MAX_COHORT_MB",
    "ENV_MAX_MODEL_MB",
    "csv_delimiter",
    "csv_read_errors",
    "load_cohort",
    "load_model",
    "sha256_file",
]
