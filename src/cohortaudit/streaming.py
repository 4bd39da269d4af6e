"""Old import path of the streamed engine, :mod:`cohortaudit.engines.stream`, kept for callers."""

from cohortaudit.engines import AUTO_STREAM_CSV_BYTES, AUTO_STREAM_PARQUET_ROWS, should_stream
from cohortaudit.engines.stream import (
    DEFAULT_CHUNK_ROWS,
    DEFAULT_SAMPLE_ROWS,
    FeatureSample,
    ProgressCallback,
    StreamedCohort,
    audit_stream,
    audit_streamed,
    stream_cohort,
)

__all__ = [
    "AUTO_STREAM_CSV_BYTES",
    "AUTO_STREAM_PARQUET_ROWS",
    "DEFAULT_CHUNK_ROWS",
    "DEFAULT_SAMPLE_ROWS",
    "FeatureSample",
    "ProgressCallback",
    "StreamedCohort",
    "audit_stream",
    "audit_streamed",
    "should_stream",
    "stream_cohort",
]
