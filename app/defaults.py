"""The bundled sample's files and the dashboard's defaults (and their environment overrides).

Split from ``state.py``, which keeps only session-state keys and their typed accessors.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "sample_data"
SAMPLE_MODEL = SAMPLE_DIR / "model.onnx"
SAMPLE_CARD = SAMPLE_DIR / "model.card.yaml"
SAMPLE_COHORT = SAMPLE_DIR / "cohort.csv"
SAMPLE_LABEL = "cvd_10y"
SAMPLE_SENSITIVE = ("sex", "age", "ethnicity", "deprivation", "site")
SAMPLE_BINS = {"age": "40,50,60,70,80"}
#: The sample's column of sites (the Start page counts them from the data).
SAMPLE_SITE_COLUMN = "site"

#: Bootstrap replicates of the automatic sample audit. 1000 is the library default; with it the
#: first load took about 20 s on 2 cores (bench/bench_app.py), right at the issue's limit, so the
#: first load uses 500 and says so in the sidebar.
SAMPLE_N_BOOT_DEFAULT = 500
#: Intersections up to pairs for the automatic sample audit (triples multiply the work ~4x).
SAMPLE_MAX_ORDER_DEFAULT = 2

#: Environment overrides, used by the tests to keep the automatic sample audit fast.
ENV_N_BOOT = "COHORTAUDIT_APP_N_BOOT"
ENV_MAX_ORDER = "COHORTAUDIT_APP_MAX_ORDER"
ENV_AUTORUN = "COHORTAUDIT_APP_AUTORUN"
#: Stream every uploaded cohort this many rows at a time (unset: the engines' own rule, which
#: streams CSV above 256 MB and Parquet above 2M rows, as ``cohortaudit audit`` does).
ENV_CHUNK_ROWS = "COHORTAUDIT_APP_CHUNK_ROWS"
#: Patients explained by the Explanations page's "Compute explanations" button (the library
#: default 1000 takes about a minute on 2 cores; the tests use a few dozen).
ENV_EXPLAIN_ROWS = "COHORTAUDIT_APP_EXPLAIN_ROWS"
EXPLAIN_ROWS_DEFAULT = 1000


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw.isdigit() else default


def sample_n_boot() -> int:
    return _env_int(ENV_N_BOOT, SAMPLE_N_BOOT_DEFAULT)


def sample_max_order() -> int:
    return _env_int(ENV_MAX_ORDER, SAMPLE_MAX_ORDER_DEFAULT)


def explain_rows() -> int:
    return max(10, _env_int(ENV_EXPLAIN_ROWS, EXPLAIN_ROWS_DEFAULT))


def autorun_enabled() -> bool:
    return os.environ.get(ENV_AUTORUN, "1").strip() not in ("0", "false", "no")


def upload_chunk_rows() -> int | None:
    """Rows per chunk to stream uploads with, or None to let the engine decide by size."""
    raw = os.environ.get(ENV_CHUNK_ROWS, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else None
