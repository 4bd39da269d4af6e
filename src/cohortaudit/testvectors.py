"""Old import path of :mod:`cohortaudit.intake.vectors` (test vectors), kept for callers."""

from cohortaudit.intake.vectors import (
    DEFAULT_N,
    DEFAULT_SEED,
    DEFAULT_TOLERANCE,
    TestVectorReport,
    check_test_vectors,
    compare_outputs,
    generate_vectors,
    make_test_vectors,
    sample_vectors,
    vectors_frame,
)

__all__ = [
    "DEFAULT_N",
    "DEFAULT_SEED",
    "DEFAULT_TOLERANCE",
    "TestVectorReport",
    "check_test_vectors",
    "compare_outputs",
    "generate_vectors",
    "make_test_vectors",
    "sample_vectors",
    "vectors_frame",
]
