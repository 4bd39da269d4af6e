"""Old import path of the Dask engine, :mod:`cohortaudit.engines.dask`, kept for callers."""

from cohortaudit.engines.dask import (
    MIN_SCORE_BATCH,
    audit_dask,
    dataset_files,
    dataset_sha256,
    reduce_partition,
    stream_dask,
)

__all__ = [
    "MIN_SCORE_BATCH",
    "audit_dask",
    "dataset_files",
    "dataset_sha256",
    "reduce_partition",
    "stream_dask",
]
