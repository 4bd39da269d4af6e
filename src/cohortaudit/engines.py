"""Which engine audits a cohort file: in memory, streamed in chunks, or on Dask.

The one dispatcher above the engines, so that no engine imports another: the in-memory path
(:func:`cohortaudit.pipeline.audit_files`), the chunked one
(:func:`cohortaudit.streaming.audit_stream`) and Dask
(:func:`cohortaudit.dask_engine.audit_dask`) each give the same result for the same cohort
(see :mod:`cohortaudit.streaming`). It is what ``cohortaudit audit`` runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cohortaudit.config import AuditConfig
from cohortaudit.dask_engine import audit_dask
from cohortaudit.errors import ConfigError
from cohortaudit.pipeline import audit_files
from cohortaudit.results import AuditResult
from cohortaudit.streaming import ProgressCallback, audit_stream, should_stream

__all__ = ["audit_with_engine"]


def audit_with_engine(
    *,
    engine: str = "local",
    chunk_rows: int | None = None,
    scheduler: str | None = None,
    cohort_path: str | Path,
    config: AuditConfig,
    model_path: str | Path | None = None,
    card_path: str | Path | None = None,
    trusted_types: Sequence[str] = (),
    progress: ProgressCallback | None = None,
    policy_path: str | Path | None = None,
    delimiter: str | None = None,
) -> AuditResult:
    """What ``cohortaudit audit`` runs: in memory, streamed, or on Dask.

    ``engine="dask"`` reads a Parquet file or dataset folder on Dask (``scheduler``: None for
    the threaded scheduler, ``"local"`` for a LocalCluster, or an address). Otherwise the
    cohort is streamed when ``chunk_rows`` is given or :func:`should_stream` says the file is
    large, and read in memory (:func:`cohortaudit.pipeline.audit_files`) when not. The result
    is the same either way (see the module docstring).
    """
    if engine not in ("local", "dask"):
        raise ConfigError(f"--engine must be 'local' or 'dask'. Got {engine!r} instead.")
    common = dict(
        config=config,
        model_path=model_path,
        card_path=card_path,
        trusted_types=trusted_types,
        progress=progress,
        policy_path=policy_path,
    )
    if engine == "dask":
        if chunk_rows is not None:
            raise ConfigError(
                "--chunk-rows applies to the local engine; with --engine dask the dataset's "
                "partitions (its files and row groups) are the chunks. Drop one of the two."
            )
        if delimiter is not None:
            raise ConfigError(
                "--delimiter applies to CSV/TSV cohorts; --engine dask reads Parquet. Drop "
                "--delimiter, or use the local engine."
            )
        return audit_dask(dataset=cohort_path, scheduler=scheduler, **common)
    if scheduler is not None:
        raise ConfigError(
            "--scheduler needs --engine dask (it is the address of a Dask scheduler). Add "
            "--engine dask, or drop --scheduler."
        )
    if chunk_rows is not None or should_stream(cohort_path):
        return audit_stream(
            cohort_path=cohort_path, chunk_rows=chunk_rows, delimiter=delimiter, **common
        )
    return audit_files(cohort_path=cohort_path, delimiter=delimiter, **common)
