"""Audit cohorts larger than memory: read in chunks, keep only what the engine needs.

The audit engine (:mod:`cohortaudit.metrics.subgroups`, :mod:`cohortaudit.metrics.bootstrap`)
needs three things per patient: the predicted risk ``y_score`` (float64), the outcome ``y_true``
(int8) and the sensitive-group codes (small ints) -- 10-20 bytes a patient, so ten million
patients fit in a few hundred MB even when their feature table does not. This module reads a
cohort file in chunks (Parquet: record batches of the row groups, via pyarrow; CSV/TSV: pandas
chunks), validates and scores each chunk, reduces it to those compact arrays plus the counts the
caveats need, concatenates the arrays, and calls the same :func:`~cohortaudit.audit.run_audit`.

What depends on chunking -- nothing in the result:

* **Validation** is the one validator of :mod:`cohortaudit.intake.validate` (in memory it runs
  on one chunk), chunk by chunk; the checks that need the whole cohort (the share of dropped rows, both outcomes
  present, the number of groups per sensitive feature, the reference group, single groups) run
  on the accumulated counts, and every caveat is rebuilt from whole-cohort counts, so the
  caveats are byte-identical. A fatal problem in one chunk (a non-binary label, text in a
  numeric input, a score outside [0, 1]) stops the run with the same message as in memory,
  followed by the rows of the chunk it was found in (its counts are then that chunk's).
* **Scores** are computed in the same batches as the in-memory path (``score``'s batch size,
  counted over the kept rows, carried across chunk boundaries). onnxruntime's tree ensembles add
  per-thread partial sums, and batches of fewer than ~50 rows take another code path, so a
  score can change in its last float32 bit with the batch layout; keeping the layout keeps every
  score bit-identical.
* **Point estimates and the bootstrap**: the concatenated arrays equal, element by element and
  in file order, the arrays of the in-memory path, and the engine is called on them unchanged.
  So every point estimate is bit-identical, and the bootstrap -- which resamples the finest
  (group x outcome x score-bin) cells with one multinomial draw per cell, never an n x B matrix
  (:mod:`cohortaudit.metrics.bootstrap`) -- gives identical replicates for the same seed,
  whatever ``chunk_rows`` is. The JSON result is byte-identical to the in-memory one apart from
  the volatile ``run`` block (which records the engine, chunk size and number of chunks).
* **Features** are not kept. For the checks that need feature rows (safety: cohort shift,
  out-of-range inputs, robustness; explanations), a seeded, stratified sample of feature rows is
  kept (:class:`~cohortaudit.intake.sample.FeatureSample`): every row gets a pseudo-random key from a counter-based hash of
  (seed, input row number); the sample is the ``sample_rows`` rows with the smallest keys, plus
  the ``SAMPLE_FLOOR`` smallest-key rows of every stratum (finest group x outcome), so small
  groups are represented. Within each stratum it is a uniform sample without replacement, and
  ``weights`` (stratum size / sampled rows of the stratum) make it represent the cohort. Keys
  depend on the row number, not on the chunk, so the sample does not depend on ``chunk_rows``
  either.

Memory: ~14 bytes a kept patient (plus ~2 bytes per sensitive feature) for the compact arrays,
one chunk of the file with its feature frame, and the sample; the engine then needs roughly
another 100-150 bytes a patient while it sorts (see ``bench/bench_scale.py`` for measurements).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cohortaudit.audit import run_audit
from cohortaudit.config import AuditConfig
from cohortaudit.errors import ConfigError, SchemaError
from cohortaudit.intake.card import ModelCard
from cohortaudit.intake.files import sha256_file
from cohortaudit.intake.inputs import load_inputs
from cohortaudit.intake.sample import DEFAULT_SAMPLE_ROWS, FeatureSample
from cohortaudit.intake.tables import (
    PARQUET_SUFFIXES,
    check_cohort_path,
    iter_csv_chunks,
    iter_parquet_chunks,
    read_header,
)
from cohortaudit.intake.validate import (
    Cohort,
    CohortAccumulator,
    ValidationSpec,
    check_header,
    make_spec,
    reduce_chunk,
)
from cohortaudit.modelspec import LoadedModel
from cohortaudit.results import AuditResult
from cohortaudit.scoring import DEFAULT_BATCH_SIZE, score

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "DEFAULT_SAMPLE_ROWS",
    "FeatureSample",
    "ProgressCallback",
    "StreamedCohort",
    "audit_stream",
    "audit_streamed",
    "check_chunk_rows",
    "stream_cohort",
]

#: Rows per chunk when none is given (a chunk's feature frame is the largest transient object).
DEFAULT_CHUNK_ROWS = 500_000

ProgressCallback = Callable[[str, float], None]


@dataclass(frozen=True, eq=False)
class StreamedCohort:
    """The result of streaming a cohort file: a compact :class:`Cohort` and a feature sample.

    ``cohort.features`` is None (the rows were not kept); ``cohort.y_score`` holds the scores,
    whether they came from the model or from a score column. ``sample`` is None in scores mode.
    """

    cohort: Cohort
    sample: FeatureSample | None
    sha256: str
    file: str
    n_chunks: int
    chunk_rows: int | None
    engine: str = "streaming"
    #: Dask only: "threads", "local" or the scheduler's address
    scheduler: str | None = None


def _text_or_number(series: pd.Series) -> str | None:
    if series.isna().all():
        return None  # an all-empty chunk says nothing about the column's type
    return "number" if pd.api.types.is_numeric_dtype(series.dtype) else "text"


def _reduce_file(
    path: Path,
    spec: ValidationSpec,
    header: list[str],
    used: list[str],
    chunk_rows: int,
    as_text: frozenset[str],
    delimiter: str | None,
    score_fn: Callable[[pd.DataFrame], np.ndarray] | None,
    report: ProgressCallback,
) -> tuple[CohortAccumulator, frozenset[str]]:
    """One pass over the file, chunk by chunk, into an accumulator.

    Stops early and returns the columns when a CSV column reads as numbers in one chunk and as
    text in another (pandas infers types per chunk); the caller reads them as text and starts
    again, so a chunked read types every column as one whole-file read does.
    """
    acc = CohortAccumulator(spec, header=header, score_fn=score_fn, batch_size=DEFAULT_BATCH_SIZE)
    is_parquet = path.name.lower().endswith(PARQUET_SUFFIXES)
    chunks = (
        iter_parquet_chunks(path, header, used, chunk_rows)
        if is_parquet
        else iter_csv_chunks(path, header, used, chunk_rows, as_text, delimiter)
    )
    kinds: dict[str, set[str]] = {c: set() for c in used}
    with closing(chunks):
        for frame, fraction in chunks:
            if not is_parquet:
                for c in used:
                    k = _text_or_number(frame[c])
                    if k is not None:
                        kinds[c].add(k)
                mixed = frozenset(c for c, k in kinds.items() if len(k) > 1)
                if mixed:
                    return acc, mixed
            try:
                stats = reduce_chunk(frame, spec, key_offset=acc.n_input)
            except SchemaError as exc:
                raise _chunk_error(exc, first=acc.n_input, n=len(frame), file=path.name) from None
            acc.add(stats)
            if math.isfinite(fraction):
                report("reading", fraction)
    return acc, frozenset()


def _chunk_error(exc: SchemaError, *, first: int, n: int, file: str) -> SchemaError:
    return SchemaError(
        f"{exc} (Found in rows {first + 1:,}-{first + n:,} of '{file}', read in chunks; the "
        "counts above are for that chunk.)"
    )


def check_chunk_rows(chunk_rows: Any) -> int:
    """``chunk_rows`` as given, if it is a positive int (a ConfigError that says so if not)."""
    if not isinstance(chunk_rows, int) or isinstance(chunk_rows, bool) or chunk_rows < 1:
        raise ConfigError(
            f"The 'chunk_rows' parameter (--chunk-rows) must be a positive integer. Got "
            f"{chunk_rows!r} instead."
        )
    return chunk_rows


def stream_cohort(
    path: str | Path,
    *,
    config: AuditConfig,
    model: LoadedModel | None = None,
    card: ModelCard | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    progress: ProgressCallback | None = None,
    delimiter: str | None = None,
) -> StreamedCohort:
    """Read, validate and score a cohort file chunk by chunk into a compact :class:`Cohort`.

    The returned cohort equals what :func:`~cohortaudit.intake.validate.validate_cohort` gives for the
    whole file (same kept rows in the same order, same labels and caveats), except that
    ``features`` is None and ``y_score`` holds the model's scores; the model's inputs survive
    as a :class:`FeatureSample`. See the module docstring for what does and does not depend on
    ``chunk_rows`` (nothing in the result does).

    Raises
    ------
    InputError, SchemaError, ConfigError
        As :func:`~cohortaudit.intake.tables.load_cohort` and
        :func:`~cohortaudit.intake.validate.validate_cohort`
        would; a problem found in one chunk names the rows of that chunk.
    """
    chunk_rows = check_chunk_rows(chunk_rows)
    spec = make_spec(config, model, card, sample_rows=sample_rows)
    path = Path(path)
    check_cohort_path(path)
    header = read_header(path, delimiter)
    check_header(header, spec)
    used = [c for c in spec.used_columns if c in header]
    report = progress or (lambda stage, frac: None)

    score_fn = None
    if model is not None:

        def score_fn(batch: pd.DataFrame) -> np.ndarray:
            return score(model, batch)

    as_text: frozenset[str] = frozenset()
    while True:
        acc, mixed = _reduce_file(
            path, spec, header, used, chunk_rows, as_text, delimiter, score_fn, report
        )
        if not mixed:
            break
        # pandas infers types per chunk; in one read these columns are text throughout
        as_text = as_text | mixed
    report("reading", 1.0)
    if acc.n_input == 0:
        raise SchemaError(
            f"The cohort file '{path.name}' has {len(header)} columns but no rows. "
            "Expected one row per patient."
        )
    cohort, sample = acc.finish()
    return StreamedCohort(
        cohort=cohort,
        sample=sample,
        sha256=sha256_file(path),
        file=path.name,
        n_chunks=acc.n_chunks,
        chunk_rows=chunk_rows,
    )


def audit_streamed(
    streamed: StreamedCohort,
    model: LoadedModel | None,
    config: AuditConfig,
    *,
    card: ModelCard | None = None,
    test_vectors: Any = None,
    progress: ProgressCallback | None = None,
    policy: Any = None,
    started: float | None = None,
) -> AuditResult:
    """Run :func:`~cohortaudit.audit.run_audit` on a streamed cohort whose scores are known.

    The model scored the chunks already (``scores``); the safety checks and explanations run
    on the seeded feature sample (``feature_cohort``), and their blocks say so in their
    settings unless the sample holds the whole cohort. Everything else is the in-memory path.
    """
    t0 = time.perf_counter() if started is None else started
    sub, note = None, None
    if model is not None and streamed.sample is not None:
        sub, whole = _sample_cohort(streamed)
        if not whole:
            note = (
                f"streaming: computed on a seeded uniform sample of {sub.n_rows} of "
                f"{streamed.cohort.n_rows} patients (the feature rows were not kept)"
            )
    engine_run: dict[str, Any] = {
        "kind": streamed.engine,
        "chunk_rows": streamed.chunk_rows,
        "n_chunks": streamed.n_chunks,
        "feature_sample_rows": streamed.sample.n_rows if streamed.sample is not None else 0,
    }
    if streamed.scheduler is not None:
        engine_run["scheduler"] = streamed.scheduler
    return run_audit(
        streamed.cohort,
        model,
        config,
        card=card,
        cohort_sha256=streamed.sha256,
        cohort_file=streamed.file,
        progress=progress,
        test_vectors=test_vectors,
        policy=policy,
        scores=streamed.cohort.y_score if model is not None else None,
        feature_cohort=sub,
        feature_sample_note=note,
        engine_run=engine_run,
        started=t0,
    )


def _sample_cohort(streamed: StreamedCohort) -> tuple[Cohort, bool]:
    """The uniform part of the feature sample as a Cohort (and whether it is the whole one)."""
    sample = streamed.sample
    assert sample is not None
    full = streamed.cohort
    rows = sample.rows[sample.uniform]
    whole = len(rows) == full.n_rows
    y_true = np.ascontiguousarray(full.y_true[rows])
    y_score = np.ascontiguousarray(full.y_score[rows])
    for a in (y_true, y_score):
        a.setflags(write=False)
    cohort = Cohort(
        features=sample.features[sample.uniform].reset_index(drop=True),
        y_true=y_true,
        y_score=y_score,
        groups=full.groups.iloc[rows].reset_index(drop=True),
        n_input_rows=full.n_input_rows,
        n_dropped=full.n_dropped,
        caveats=(),
    )
    return cohort, whole


def audit_stream(
    *,
    cohort_path: str | Path,
    config: AuditConfig,
    model_path: str | Path | None = None,
    card_path: str | Path | None = None,
    trusted_types: Sequence[str] = (),
    chunk_rows: int | None = None,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    progress: ProgressCallback | None = None,
    policy_path: str | Path | None = None,
    delimiter: str | None = None,
) -> AuditResult:
    """Like :func:`cohortaudit.engines.memory.audit_files`, reading the cohort in chunks.

    Policy, card, model and test vectors come first, from :func:`~cohortaudit.intake.inputs.
    load_inputs` (so a bad one fails before any pass over the data); the cohort is then read by
    :func:`stream_cohort`. ``chunk_rows`` defaults to :data:`DEFAULT_CHUNK_ROWS`. The result
    equals ``audit_files``'s byte for byte in JSON, apart from the volatile ``run`` block (see
    the module docstring).
    """
    # a time-to-event cohort streams too: the accumulator keeps time and event per patient
    started = time.perf_counter()
    chunk_rows = DEFAULT_CHUNK_ROWS if chunk_rows is None else check_chunk_rows(chunk_rows)
    inputs = load_inputs(
        config=config,
        model_path=model_path,
        card_path=card_path,
        trusted_types=trusted_types,
        policy_path=policy_path,
        read_cohort=lambda model, card: stream_cohort(
            cohort_path,
            config=config,
            model=model,
            card=card,
            chunk_rows=chunk_rows,
            sample_rows=sample_rows,
            progress=progress,
            delimiter=delimiter,
        ),
    )
    return audit_streamed(
        inputs.read,
        inputs.model,
        inputs.config or config,
        card=inputs.card,
        test_vectors=inputs.test_vectors,
        progress=progress,
        policy=inputs.policy,
        started=started,
    )
