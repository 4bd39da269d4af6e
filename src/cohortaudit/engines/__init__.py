"""The audit engines and the one dispatcher above them: in memory, streamed, or on Dask.

* :mod:`~cohortaudit.engines.memory` -- the cohort read whole (:func:`audit_files`);
* :mod:`~cohortaudit.engines.stream` -- read, validated and scored in chunks
  (:func:`audit_stream`), for cohorts larger than memory;
* :mod:`~cohortaudit.engines.dask` -- a Parquet dataset reduced on Dask workers
  (:func:`audit_dask`).

Each reads its inputs with :func:`cohortaudit.intake.inputs.load_inputs` and validates with the
one validator (:mod:`cohortaudit.intake.validate`), so each gives the same result for the same
cohort (see :mod:`cohortaudit.engines.stream`). The dispatcher lives here so that no engine
imports another (the Dask engine shares the streamed one's final step, ``audit_streamed``).
:func:`audit_with_engine` is what ``cohortaudit audit`` runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cohortaudit.config import AuditConfig
from cohortaudit.engines.dask import audit_dask
from cohortaudit.engines.memory import audit_files
from cohortaudit.engines.stream import ProgressCallback, audit_stream
from cohortaudit.errors import ConfigError
from cohortaudit.intake.tables import CSV_SUFFIXES, PARQUET_SUFFIXES
from cohortaudit.results import AuditResult

__all__ = [
    "AUTO_STREAM_CSV_BYTES",
    "AUTO_STREAM_PARQUET_ROWS",
    "audit_dask",
    "audit_files",
    "audit_stream",
    "audit_with_engine",
    "should_stream",
]

#: ``cohortaudit audit`` streams CSV/TSV files larger than this without being asked.
AUTO_STREAM_CSV_BYTES = 256 * 2**20
#: ... and Parquet files with more rows than this (read from the file's metadata).
AUTO_STREAM_PARQUET_ROWS = 2_000_000


def should_stream(
    path: str | Path,
    *,
    csv_bytes: int = AUTO_STREAM_CSV_BYTES,
    parquet_rows: int = AUTO_STREAM_PARQUET_ROWS,
) -> bool:
    """Whether ``cohortaudit audit`` should stream this cohort without being asked.

    Results are identical either way (see the module docstring), so this only trades the
    in-memory path's simplicity for bounded memory: Parquet files with more than
    ``parquet_rows`` rows (from the footer, nothing else is read) and CSV/TSV files larger than
    ``csv_bytes`` are streamed. Anything that cannot be inspected is left to the normal path,
    which gives the clear error.
    """
    path = Path(path)
    try:
        if not path.is_file():
            return False
        name = path.name.lower()
        if name.endswith(PARQUET_SUFFIXES):
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows > parquet_rows
        if name.endswith(CSV_SUFFIXES):
            return path.stat().st_size > csv_bytes
    except Exception:  # unreadable: let load_cohort report it
        return False
    return False


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
    large, and read in memory (:func:`audit_files`) when not. The result
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
    auto = should_stream(cohort_path)
    if chunk_rows is not None or auto:
        return audit_stream(
            cohort_path=cohort_path, chunk_rows=chunk_rows, delimiter=delimiter, **common
        )
    return audit_files(cohort_path=cohort_path, delimiter=delimiter, **common)
