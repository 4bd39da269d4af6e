"""Uploaded files: written to this session's folder, and described without reading them whole.

Why this module: a large upload (up to ``server.maxUploadSize``, 1 GB) must reach the same
streamed engine as ``cohortaudit audit`` (``cohortaudit.engines.audit_with_engine``, which
streams files above its size rule in chunks, see ``runner.run_audit_files``), and the Start
page's column choices must not load it into memory first either. So the page's description of
a large cohort (column names, which are numeric, the values of low-cardinality columns) comes
from its header and first rows; a small one is read whole, as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

import state
from cohortaudit.outputs import write_output

#: Cohort files up to this size are read whole to describe them; larger ones by their head.
DESCRIBE_WHOLE_BYTES = 64 * 2**20
#: Rows read from the head of a large cohort to describe its columns.
DESCRIBE_HEAD_ROWS = 50_000
#: A column with at most this many distinct values offers them as reference groups.
MAX_CATEGORIES = 40


def save_upload(uploaded: Any) -> Path:
    """Write an uploaded file into this session's private folder; return its path."""
    # The browser sends the name: keep its last component only, never "." or "..", and write
    # through the one safe writer so nothing lands outside this session's folder.
    name = Path(str(uploaded.name).replace("\\", "/")).name
    if name in ("", ".", ".."):
        name = "upload"
    path = state.workdir() / name
    data = uploaded.getbuffer()
    # rewrite only when the upload changed: reruns must not copy a 1 GB cohort each time
    file_id = str(getattr(uploaded, "file_id", "") or len(data))
    if not path.exists() or path.stat().st_size != len(data) or state.upload_id(name) != file_id:
        path = write_output(state.workdir(), name, data)
        state.set_upload_id(name, file_id)
    return path


def describe_cohort(path: str | Path) -> dict[str, Any]:
    """Column names, the numeric ones, the categories of low-cardinality columns, the rows.

    ``n_rows`` is None and ``from_head`` the rows read when only the head was read (a CSV's
    row count would need a pass over the file); a Parquet file's count is in its footer.
    """
    path = Path(path)
    if path.stat().st_size <= DESCRIBE_WHOLE_BYTES:
        from cohortaudit.intake.tables import load_cohort

        frame, _ = load_cohort(path)
        return {**_describe(frame), "n_rows": len(frame), "from_head": None}
    frame, n_rows = _head(path)
    return {**_describe(frame), "n_rows": n_rows, "from_head": len(frame)}


def _describe(frame: pd.DataFrame) -> dict[str, Any]:
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    cats: dict[str, list[str]] = {}
    for col in frame.columns:
        values = frame[col].dropna().unique()
        if len(values) <= MAX_CATEGORIES:
            cats[col] = sorted(str(v) for v in values)
    return {"columns": list(frame.columns), "numeric": numeric, "categories": cats}


def _head(path: Path) -> tuple[pd.DataFrame, int | None]:
    """The first rows of a large cohort (and its row count when the format stores it)."""
    from cohortaudit.errors import SchemaError

    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(path)
            batch = next(pf.iter_batches(batch_size=DESCRIBE_HEAD_ROWS), None)
            frame = batch.to_pandas() if batch is not None else pd.DataFrame()
            return frame, pf.metadata.num_rows
        from cohortaudit.intake.tables import csv_delimiter

        frame = pd.read_csv(
            path, sep=csv_delimiter(path), nrows=DESCRIBE_HEAD_ROWS, encoding="utf-8-sig"
        )
        frame.columns = [str(c).strip() for c in frame.columns]
        return frame, None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise SchemaError(
            f"The cohort file '{path.name}' could not be read ({type(exc).__name__}). Check that "
            "it is a CSV/TSV or Parquet file with a header row."
        ) from None
