"""Read cohort tables: CSV/TSV and Parquet, whole or in chunks, with one set of header checks.

Cohort files are patient data: messages name files, columns and counts, never cell values.
Whole-file reading (:func:`load_cohort`) and chunked reading (:func:`iter_csv_chunks`,
:func:`iter_parquet_chunks`, used by the streamed engine) share the path checks, the header
reader and its checks, so a file is refused with the same words whichever engine reads it.
"""

from __future__ import annotations

import csv
import gzip
import io as _stdio
import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from cohortaudit.errors import ConfigError, InputError, SchemaError
from cohortaudit.intake.files import (
    ENV_MAX_COHORT_MB,
    check_size,
    human_size,
    limit_from_env,
    sha256_file,
)

__all__ = [
    "CSV_SUFFIXES",
    "DEFAULT_MAX_COHORT_BYTES",
    "PARQUET_SUFFIXES",
    "check_cohort_path",
    "clean_header",
    "csv_delimiter",
    "csv_read_errors",
    "iter_csv_chunks",
    "iter_parquet_chunks",
    "load_cohort",
    "read_csv_header",
    "read_header",
]

#: Largest cohort file accepted by default (4 GiB) when the whole file is read into memory.
DEFAULT_MAX_COHORT_BYTES = 4 * 2**30
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


def _duplicates(names: Sequence[str]) -> list[str]:
    counts = Counter(names)
    return sorted(n for n, c in counts.items() if c > 1)


def clean_header(names: Sequence[str], path: Path) -> list[str]:
    """Column names stripped of surrounding blanks; duplicates and blank names are refused
    (pandas would rename them ``x.1`` silently, and an auditor must never read the wrong
    column)."""
    stripped = [str(n).strip() for n in names]
    dups = _duplicates(stripped)
    if dups:
        raise SchemaError(
            f"The cohort file '{path.name}' has duplicate column names: {dups}. Each column "
            "must have a unique name (after trimming spaces); rename or drop the duplicates."
        )
    blank = [i + 1 for i, n in enumerate(stripped) if not n]
    if blank:
        raise SchemaError(
            f"The cohort file '{path.name}' has {len(blank)} column(s) without a name (position "
            f"{', '.join(map(str, blank[:10]))}). Give every column a header."
        )
    return stripped


#: Longest header row read (a 6,000-column header is ~100 KiB; this allows ~100,000 columns).
_MAX_HEADER_BYTES = 16 * 2**20


def _header_record(fh: Any, head: bytes, path: Path) -> bytes:
    """The bytes of the header record (quoted line breaks included), at most 16 MiB.

    ``head`` is the first 64 KiB of the file; a wider header (thousands of columns) is read on
    from ``fh`` until its line ends outside quotes, so it is never cut at a buffer boundary.
    """
    buf = bytearray()
    rest = _stdio.BytesIO(head)
    while len(buf) < _MAX_HEADER_BYTES:
        line = rest.readline() or fh.readline(_MAX_HEADER_BYTES - len(buf))
        if not line:
            break
        buf += line
        if buf.endswith(b"\n") and buf.count(b'"') % 2 == 0:
            break
    else:
        raise SchemaError(
            f"The header row of the cohort file '{path.name}' is longer than "
            f"{human_size(_MAX_HEADER_BYTES)} (or has an unclosed quote). Check the file's quoting, "
            "or drop columns the audit does not need."
        )
    return bytes(buf)


def read_csv_header(path: Path, sep: str) -> list[str]:
    """The header row of a CSV/TSV file (gzip too), read without pandas: binary data, a wrong
    encoding or a hidden delimiter is refused with a message that says which."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            head = fh.read(64 * 1024)
            record = _header_record(fh, head, path)
    except (OSError, EOFError):
        raise SchemaError(
            f"The cohort file '{path.name}' could not be read as (gzip-compressed) text. "
            "Check that the file is complete and in the format its extension says."
        ) from None
    if not head.strip():
        raise SchemaError(
            f"The cohort file '{path.name}' is empty. Expected a header row and one row per "
            "patient."
        )
    if b"\x00" in head:
        raise SchemaError(
            f"The cohort file '{path.name}' contains binary data, not delimited text. Expected "
            "a CSV/TSV text file (UTF-8) or a Parquet file with a .parquet extension."
        )
    try:
        head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a multi-byte character cut by the 64 KiB read
            raise SchemaError(
                f"The cohort file '{path.name}' is not UTF-8 text (undecodable byte at offset "
                f"{exc.start}). Re-save it as UTF-8 CSV."
            ) from None
    try:
        text = record.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SchemaError(
            f"The header row of the cohort file '{path.name}' is not UTF-8 text (undecodable "
            f"byte at offset {exc.start}). Re-save it as UTF-8 CSV."
        ) from None
    try:
        first = next(csv.reader(_stdio.StringIO(text), delimiter=sep), [])
    except csv.Error:
        raise SchemaError(
            f"The header row of the cohort file '{path.name}' could not be parsed (a column "
            "name longer than 128 KiB, or broken quoting). Fix the header row and retry."
        ) from None
    _check_delimiter(first, sep, path)
    return first


#: Delimiters a one-column header may hide: name and how it is shown in messages.
_DELIMITERS = {";": ("semicolon", "';'"), "\t": ("tab", "tab"), "|": ("pipe", "'|'"),
               ",": ("comma", "','")}  # fmt: skip


def _check_delimiter(header: Sequence[str], sep: str, path: Path) -> None:
    """Refuse a one-column header that holds another delimiter: the file uses that delimiter.

    Without this, a semicolon-separated export (the default of spreadsheets in much of Europe)
    reads as one column named 'a;b;c', and the user is told every needed column is missing.
    No audit can use a one-column cohort, so refusing it costs nothing.
    """
    if len(header) != 1:
        return
    counts = {d: header[0].count(d) for d in _DELIMITERS if d != sep}
    likely = max(counts, key=lambda d: counts[d])
    if not counts[likely]:
        return
    name, shown = _DELIMITERS[likely]
    if likely == "\t":
        fix = "Pass --delimiter tab, or rename it to .tsv (tab-separated)."
    elif likely == ",":
        fix = "Pass --delimiter ',', or rename it to .csv (comma-separated)."
    else:
        fix = (
            f"Pass --delimiter '{likely}', or re-save it comma-separated (in a spreadsheet: "
            "Save as 'CSV (comma delimited)')."
        )
    kind = {"\t": "tab-separated (.tsv)", ",": "comma-separated (.csv)"}.get(
        sep, f"'{sep}'-separated (--delimiter)"
    )
    raise SchemaError(
        f"The cohort file '{path.name}' looks {name}-separated: its header reads as a single "
        f"column containing {counts[likely]} {shown} characters, but the file is read as "
        f"{kind}. {fix}"
    )


@contextmanager
def csv_read_errors(path: Path) -> Iterator[None]:
    """Turn pandas' CSV reading errors into one clear SchemaError (the whole file or chunks)."""
    try:
        yield
    except (SchemaError, InputError):
        raise
    except pd.errors.EmptyDataError:
        raise SchemaError(f"The cohort file '{path.name}' is empty.") from None
    except pd.errors.ParserError as exc:
        line = re.search(r"line (\d+)", str(exc))
        where = f" at line {line.group(1)}" if line else ""
        raise SchemaError(
            f"The cohort file '{path.name}' could not be parsed{where}: a row has a different "
            "number of fields than the header, or quoting is broken. Fix the file and retry."
        ) from None
    except UnicodeDecodeError:
        raise SchemaError(
            f"The cohort file '{path.name}' is not UTF-8 text. Re-save it as UTF-8 CSV."
        ) from None
    except (ValueError, OSError, EOFError) as exc:
        raise SchemaError(
            f"The cohort file '{path.name}' could not be read ({type(exc).__name__}). Check that "
            "it is a complete CSV/TSV file."
        ) from None


def csv_delimiter(path: str | Path, delimiter: str | None = None) -> str:
    """The field delimiter of a CSV/TSV cohort: ``delimiter`` if given, else by extension.

    ``delimiter`` is one character (``";"``, ``"|"``) or ``"tab"``; it exists because many
    spreadsheets export semicolon-separated "CSV" and re-saving patient data is a chore.
    """
    path = Path(path)
    if delimiter is None:
        return "\t" if ".tsv" in path.name.lower() else ","
    if path.name.lower().endswith(PARQUET_SUFFIXES):
        raise ConfigError(
            f"--delimiter applies to CSV/TSV cohorts, but '{path.name}' is a Parquet file. "
            "Drop --delimiter."
        )
    sep = {"tab": "\t", "\\t": "\t"}.get(delimiter.lower(), delimiter)
    if len(sep) != 1 or sep in '"\r\n' or sep.isalnum():
        raise ConfigError(
            "The 'delimiter' parameter (--delimiter) must be one character that is not a "
            f"letter, digit or quote, e.g. ';' or '|', or 'tab'. Got {delimiter[:20]!r} instead."
        )
    return sep


def _read_csv(path: Path, delimiter: str | None = None) -> pd.DataFrame:
    sep = csv_delimiter(path, delimiter)
    names = clean_header(read_csv_header(path, sep), path)
    with csv_read_errors(path):
        frame = pd.read_csv(
            path, sep=sep, keep_default_na=True, low_memory=False, encoding="utf-8-sig"
        )
    if len(frame.columns) != len(names):
        raise SchemaError(
            f"The cohort file '{path.name}' has {len(names)} header names but pandas read "
            f"{len(frame.columns)} columns. Check the delimiter and quoting of the header row."
        )
    frame.columns = names
    return frame


def _parquet_header(path: Path) -> list[str]:
    """The cleaned column names of a Parquet file, from its footer (no data is read)."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as exc:
        raise SchemaError(
            f"The cohort file '{path.name}' is not a valid Parquet file ({type(exc).__name__}). "
            "It may be truncated or another format; check the extension and the export."
        ) from None
    return clean_header(list(schema.names), path)


def _read_parquet(path: Path) -> pd.DataFrame:
    names = _parquet_header(path)
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:
        raise SchemaError(
            f"The cohort file '{path.name}' could not be read as Parquet ({type(exc).__name__}). "
            "It may be truncated or use an unsupported type."
        ) from None
    frame.columns = names
    return frame


def load_cohort(
    path: str | Path, *, max_bytes: int | None = None, delimiter: str | None = None
) -> tuple[pd.DataFrame, str]:
    """Read a cohort file and return the frame and the file's SHA-256.

    CSV (``.csv``, ``.csv.gz``, ``.tsv``) and Parquet (``.parquet``, ``.pq``). Duplicate column
    names are an error rather than pandas' silent ``x.1`` renaming, because an auditor must
    never score the wrong column. Column names are stripped of surrounding spaces.
    ``max_bytes`` defaults to ``COHORTAUDIT_MAX_COHORT_MB`` (MiB) if set, else
    :data:`DEFAULT_MAX_COHORT_BYTES`. ``delimiter`` overrides the CSV delimiter the extension
    implies (see :func:`csv_delimiter`).
    """
    path = Path(path)
    if max_bytes is None:
        max_bytes = limit_from_env(ENV_MAX_COHORT_MB, DEFAULT_MAX_COHORT_BYTES)
    check_cohort_path(path, max_bytes=max_bytes)
    if path.name.lower().endswith(PARQUET_SUFFIXES):
        csv_delimiter(path, delimiter)  # refuses a delimiter for Parquet
        frame = _read_parquet(path)
    else:
        frame = _read_csv(path, delimiter)
    if len(frame) == 0:
        raise SchemaError(
            f"The cohort file '{path.name}' has {len(frame.columns)} columns but no rows. "
            "Expected one row per patient."
        )
    return frame, sha256_file(path)


# --------------------------------------------------------------------------------------------
# reading in chunks (the streamed engine)
# --------------------------------------------------------------------------------------------


def read_header(path: Path, delimiter: str | None = None) -> list[str]:
    """Column names as ``load_cohort`` sees them (stripped, unique, non-blank)."""
    sep = csv_delimiter(path, delimiter)  # also refuses a delimiter for Parquet
    if path.name.lower().endswith(PARQUET_SUFFIXES):
        return _parquet_header(path)
    return clean_header(read_csv_header(path, sep), path)


def check_cohort_path(path: Path, *, max_bytes: int | None = None) -> None:
    """The checks that come before a cohort file is read: it exists, is a file of a supported
    format, is not empty, and (when ``max_bytes`` is given) is not above the size limit.

    :func:`load_cohort` reads the whole file, so it passes its limit; the chunked engines pass
    none, because reading in chunks is what makes a large file affordable.
    """
    if not path.exists():
        raise InputError(f"Cohort file not found: '{path}'. Check the path and try again.")
    if not path.is_file():
        raise InputError(f"The cohort path '{path}' is not a file. Give the CSV or Parquet file.")
    name = path.name.lower()
    if not name.endswith(CSV_SUFFIXES + PARQUET_SUFFIXES):
        raise InputError(
            f"The cohort file '{path.name}' has an unsupported extension. Expected one of "
            f"{', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}."
        )
    if max_bytes is not None:
        check_size(path, max_bytes, what="cohort", error=InputError, variable=ENV_MAX_COHORT_MB)
    if path.stat().st_size == 0:
        raise SchemaError(
            f"The cohort file '{path.name}' is empty. Expected a header row and one row per "
            "patient."
        )


def iter_parquet_chunks(
    path: Path, header: list[str], used: list[str], chunk_rows: int
) -> Iterator[tuple[pd.DataFrame, float]]:
    """Record batches of the needed columns (row groups, re-chunked), with progress."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        raw = list(pf.schema_arrow.names)
        total = max(pf.metadata.num_rows, 1)
        columns = [raw[header.index(c)] for c in used]
        done = 0
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=columns, use_threads=True):
            frame = pa.Table.from_batches([batch]).to_pandas()
            frame.columns = used
            done += len(frame)
            yield frame, done / total
    except (SchemaError, InputError):
        raise
    except Exception as exc:
        raise SchemaError(
            f"The cohort file '{path.name}' could not be read as Parquet ({type(exc).__name__}). "
            "It may be truncated or use an unsupported type."
        ) from None


def iter_csv_chunks(
    path: Path,
    header: list[str],
    used: list[str],
    chunk_rows: int,
    as_text: frozenset[str] = frozenset(),
    delimiter: str | None = None,
) -> Iterator[tuple[pd.DataFrame, float]]:
    """pandas chunks of the needed columns; ``as_text`` columns are read as text."""
    name = path.name.lower()
    sep = csv_delimiter(path, delimiter)
    size = max(path.stat().st_size, 1)
    gz = name.endswith(".gz")
    with csv_read_errors(path), open(path, "rb") as fh:
        reader = pd.read_csv(
            fh,
            sep=sep,
            keep_default_na=True,
            encoding="utf-8-sig",
            header=0,
            names=header,
            usecols=used,
            dtype={c: str for c in used if c in as_text} or None,
            low_memory=False,
            chunksize=chunk_rows,
            compression="gzip" if gz else None,
        )
        with reader:
            for frame in reader:
                yield frame[used], (min(fh.tell() / size, 1.0) if not gz else math.nan)
