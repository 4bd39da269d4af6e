"""Audit cohorts larger than memory: read in chunks, keep only what the engine needs.

The audit engine (:mod:`cohortaudit.metrics.subgroups`, :mod:`cohortaudit.metrics.bootstrap`)
needs three things per patient: the predicted risk ``y_score`` (float64), the outcome ``y_true``
(int8) and the sensitive-group codes (small ints) -- 10-20 bytes a patient, so ten million
patients fit in a few hundred MB even when their feature table does not. This module reads a
cohort file in chunks (Parquet: record batches of the row groups, via pyarrow; CSV/TSV: pandas
chunks), validates and scores each chunk, reduces it to those compact arrays plus the counts the
caveats need, concatenates the arrays, and calls the same :func:`~cohortaudit.audit.run_audit`.

What depends on chunking -- nothing in the result:

* **Validation** uses the same parsers as :func:`~cohortaudit.cohort.validate_cohort`, chunk by
  chunk; the checks that need the whole cohort (the share of dropped rows, both outcomes
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
  kept (:class:`FeatureSample`): every row gets a pseudo-random key from a counter-based hash of
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
from dataclasses import dataclass, field, replace
from inspect import signature
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cohortaudit import cohort as _cv
from cohortaudit.cohort import Cohort
from cohortaudit.config import AuditConfig
from cohortaudit.errors import ConfigError, SchemaError
from cohortaudit.intake.files import sha256_file
from cohortaudit.intake.tables import PARQUET_SUFFIXES as _PARQUET_SUFFIXES
from cohortaudit.intake.tables import check_cohort_path as _check_cohort_path
from cohortaudit.intake.tables import iter_csv_chunks as _iter_csv
from cohortaudit.intake.tables import iter_parquet_chunks as _iter_parquet
from cohortaudit.intake.tables import read_header as _header
from cohortaudit.results import AuditResult, Caveat

if TYPE_CHECKING:
    from cohortaudit.card import CardInput, ModelCard
    from cohortaudit.modelspec import InputSpec, LoadedModel

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "DEFAULT_SAMPLE_ROWS",
    "AUTO_STREAM_CSV_BYTES",
    "AUTO_STREAM_PARQUET_ROWS",
    "FeatureSample",
    "StreamedCohort",
    "should_stream",
    "stream_cohort",
    "audit_stream",
    "audit_streamed",
]

#: Rows per chunk when none is given (a chunk's feature frame is the largest transient object).
DEFAULT_CHUNK_ROWS = 500_000
#: Feature rows kept for safety checks and explanations in streaming mode.
DEFAULT_SAMPLE_ROWS = 20_000
#: Smallest-key rows kept from every stratum (finest group x outcome), on top of the sample.
SAMPLE_FLOOR = 20
#: ``cohortaudit audit`` streams CSV/TSV files larger than this without being asked.
AUTO_STREAM_CSV_BYTES = 256 * 2**20
#: ... and Parquet files with more rows than this (read from the file's metadata).
AUTO_STREAM_PARQUET_ROWS = 2_000_000

_CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
#: Largest int64 product of code radices before codes are re-compacted.
_MAX_RADIX_PRODUCT = 2**62
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)

ProgressCallback = Callable[[str, float], None]


# --------------------------------------------------------------------------------------------
# public results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FeatureSample:
    """A seeded, stratified sample of model-input rows, kept while streaming.

    features:
        Model inputs of the sampled rows, typed exactly as :attr:`Cohort.features`.
    rows:
        Position of each sampled row in the streamed cohort, so ``cohort.y_true[rows]``,
        ``cohort.y_score[rows]`` and ``cohort.groups.iloc[rows]`` belong to the same patients.
    weights:
        Stratum size / sampled rows of that stratum (strata: finest group x outcome); a weighted
        summary of the sample estimates the same summary of the whole cohort.
    uniform:
        True for the rows of the plain seeded sample (the ``sample_rows`` smallest keys): a
        uniform random sample of the cohort without replacement, usable without weights. The
        other rows are the per-stratum floor that keeps small groups represented.
    """

    features: pd.DataFrame
    rows: np.ndarray
    weights: np.ndarray
    uniform: np.ndarray

    @property
    def n_rows(self) -> int:
        return int(self.rows.shape[0])


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


# --------------------------------------------------------------------------------------------
# when to stream
# --------------------------------------------------------------------------------------------


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
        if name.endswith(_PARQUET_SUFFIXES):
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows > parquet_rows
        if name.endswith(_CSV_SUFFIXES):
            return path.stat().st_size > csv_bytes
    except Exception:  # unreadable: let load_cohort report it
        return False
    return False


# --------------------------------------------------------------------------------------------
# the per-chunk reducer (also run on Dask workers, see cohortaudit.dask_engine)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """Everything a chunk reducer needs; plain and picklable (it is shipped to Dask workers)."""

    config: AuditConfig
    inputs: tuple[InputSpec, ...]
    card_inputs: dict[str, CardInput]
    sample_rows: int
    sample_floor: int

    @property
    def used_columns(self) -> list[str]:
        cfg = self.config
        cols = [cfg.label]
        if cfg.score_column is not None:
            cols.append(cfg.score_column)
        cols += [s.name for s in self.inputs]
        cols += list(cfg.sensitive_features)
        cols += [c for c in cfg.bins if c not in cfg.sensitive_features]
        return list(dict.fromkeys(cols))

    @property
    def category_inputs(self) -> dict[str, frozenset[str]]:
        """Inputs whose card lists categories -> the known labels (unseen ones get a caveat)."""
        out = {}
        for spec in self.inputs:
            ci = self.card_inputs.get(spec.name)
            cats = getattr(ci, "categories", None) if ci is not None else None
            if cats is not None and spec.name not in out:
                out[spec.name] = frozenset(str(c) for c in cats)
        return out


@dataclass
class _ChunkStats:
    """One chunk reduced to what the engine and the caveats need (kept rows only)."""

    n_input: int
    #: drop reason code -> rows dropped for it (before the union), as in validate_cohort
    drop_counts: dict[str, int]
    #: required input -> rows with a missing value (all rows of the chunk)
    required_missing: dict[str, int]
    n_dropped: int
    y_true: np.ndarray
    y_score: np.ndarray | None
    features: pd.DataFrame | None
    optional_missing: dict[str, int]
    out_of_range: dict[str, tuple[int, int]]
    #: input -> {label: kept rows} for labels the card does not list, in order of appearance
    unseen: dict[str, dict[str, int]]
    #: binned sensitive feature -> bin index of each kept row (0..n_bins-1 bins, then
    #: n_bins "< first", n_bins+1 "> last", n_bins+2 missing)
    bins: dict[str, np.ndarray]
    #: unbinned sensitive feature -> (codes of kept rows, -1 missing; labels)
    cats: dict[str, tuple[np.ndarray, np.ndarray]]
    #: unbinned sensitive feature -> plain numeric dtype in this chunk (None: all values missing)
    numeric: dict[str, bool | None]
    #: positions (among kept rows) and keys of the chunk's sample candidates
    sample_pos: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    sample_keys: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    sample_features: pd.DataFrame | None = None


def _reduce_chunk(frame: pd.DataFrame, spec: _Spec, *, key_offset: int) -> _ChunkStats:
    """Validate one chunk with the parsers of :mod:`cohortaudit.cohort` and reduce it.

    Fatal per-row problems raise here (the caller adds where the chunk is); whole-cohort checks
    are left to :class:`_Accumulator`. ``key_offset`` numbers the chunk's first row for the
    sample keys (the input row number when streaming a file).
    """
    cfg = spec.config
    n_input = len(frame)
    y, label_missing = _cv._parse_label(frame[cfg.label], cfg.label)
    drops: list[tuple[str, np.ndarray]] = [("missing_label", label_missing)]
    score = None
    if cfg.score_column is not None:
        score, score_missing = _cv._parse_score(frame[cfg.score_column], cfg.score_column)
        drops.append(("missing_score", score_missing))

    label_cache: dict[Any, tuple[np.ndarray, np.ndarray]] = {}

    def labels_of(column: Any) -> tuple[np.ndarray, np.ndarray]:
        if column not in label_cache:
            label_cache[column] = _cv._to_labels(frame[column])
        return label_cache[column]

    parsed: dict[str, Any] = {}
    for s in spec.inputs:
        if s.name not in parsed:
            parsed[s.name] = _cv._parse_input(
                frame[s.name],
                s,
                spec.card_inputs.get(s.name),
                labelled=labels_of(s.name) if s.kind == "string" else None,
            )
    required = {name: p.missing for name, p in parsed.items() if not p.keep_missing}
    required_missing = {name: int(m.sum()) for name, m in required.items()}
    if any(required_missing.values()):
        drops.append(("missing_inputs", np.logical_or.reduce(list(required.values()))))
    binned = {col: _cv._parse_binned(frame[col], col, cfg.bins[col]) for col in cfg.bins}

    drop = np.zeros(n_input, dtype=bool)
    for _, mask in drops:
        drop |= mask
    keep = ~drop
    n_kept = int(keep.sum())

    features = None
    optional_missing: dict[str, int] = {}
    out_of_range: dict[str, tuple[int, int]] = {}
    if spec.inputs:
        features = pd.DataFrame({s.name: parsed[s.name].take(keep) for s in spec.inputs})
        for s in spec.inputs:
            p = parsed[s.name]
            if p.keep_missing:
                optional_missing[s.name] = int(p.missing[keep].sum())
            ci = spec.card_inputs.get(s.name)
            if ci is None or p.kind == "string":
                continue
            low, high = getattr(ci, "min", None), getattr(ci, "max", None)
            if low is None and high is None:
                continue
            values = p.values[keep]
            with np.errstate(invalid="ignore"):
                below = int((values < float(low)).sum()) if low is not None else 0
                above = int((values > float(high)).sum()) if high is not None else 0
            out_of_range[s.name] = (below, above)
    unseen: dict[str, dict[str, int]] = {}
    for name, known in spec.category_inputs.items():
        codes, labels = labels_of(name)
        counts = np.bincount(codes[keep][codes[keep] >= 0], minlength=len(labels))
        unseen[name] = {
            str(lab): int(counts[i]) for i, lab in enumerate(labels.tolist()) if lab not in known
        }

    bins: dict[str, np.ndarray] = {}
    cats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    numeric: dict[str, bool | None] = {}
    for col in cfg.sensitive_features:
        if col in binned:
            bins[col] = _bin_index(binned[col], cfg.bins[col], keep)
        else:
            codes, labels = labels_of(col)
            cats[col] = (codes[keep].astype(np.int32), labels)
            numeric[col] = None if frame[col].isna().all() else _cv._is_plain_numeric(frame[col])

    y_kept = np.ascontiguousarray(y[keep].astype(np.int8))
    stats = _ChunkStats(
        n_input=n_input,
        drop_counts={code: int(mask.sum()) for code, mask in drops},
        required_missing=required_missing,
        n_dropped=int(drop.sum()),
        y_true=y_kept,
        y_score=None if score is None else np.ascontiguousarray(score[keep], dtype=np.float64),
        features=features,
        optional_missing=optional_missing,
        out_of_range=out_of_range,
        unseen=unseen,
        bins=bins,
        cats=cats,
        numeric=numeric,
    )
    if features is not None and spec.sample_rows > 0 and n_kept:
        keys = _row_keys(cfg.seed, key_offset, np.flatnonzero(keep))
        strata = _strata(
            [(b.astype(np.int64), len(cfg.bins[c]) + 2) for c, b in bins.items()]
            + [(codes.astype(np.int64) + 1, len(labels) + 1) for codes, labels in cats.values()]
            + [(y_kept.astype(np.int64), 2)]
        )
        pos = _select_sample(keys, strata, spec.sample_rows, spec.sample_floor)
        stats.sample_pos = pos
        stats.sample_keys = keys[pos]
        stats.sample_features = features.iloc[pos].reset_index(drop=True)
    return stats


def _bin_index(binned: Any, edges: Sequence[float], keep: np.ndarray) -> np.ndarray:
    """Bin of each kept row, exactly as :func:`cohortaudit.cohort._bin_labels` assigns it."""
    values = binned.values[keep]
    missing = binned.missing[keep]
    e = np.asarray(edges, dtype=np.float64)
    n_bins = len(e) - 1
    idx = np.searchsorted(e, values, side="right") - 1
    idx = np.where(values == e[-1], n_bins - 1, idx)
    idx = np.where(~missing & (values < e[0]), n_bins, idx)
    idx = np.where(~missing & (values > e[-1]), n_bins + 1, idx)
    idx = np.where(missing, n_bins + 2, idx)
    return idx.astype(np.int16)


# --------------------------------------------------------------------------------------------
# the sample: counter-based keys, bottom-k overall plus a floor per stratum
# --------------------------------------------------------------------------------------------


def _row_keys(seed: int, offset: int, positions: np.ndarray) -> np.ndarray:
    """splitmix64 of (seed, row number): a bijection, so distinct rows get distinct keys."""
    base = np.uint64((int(seed) * 0x2545F4914F6CDD1D + 0x632BE59BD9B4E019) % 2**64)
    x = (np.asarray(positions, dtype=np.uint64) + np.uint64(offset) + np.uint64(1)) * _GOLDEN
    x = x + base
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def _strata(columns: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """One int64 code per row for a combination of code columns (codes in [0, radix))."""
    n = len(columns[0][0]) if columns else 0
    combined = np.zeros(n, dtype=np.int64)
    span = 1
    for codes, radix in columns:
        radix = max(int(radix), 1)
        if span * radix >= _MAX_RADIX_PRODUCT:
            _, inverse = np.unique(combined, return_inverse=True)
            combined = inverse.astype(np.int64).ravel()
            span = int(combined.max()) + 1 if n else 1
        combined = combined * radix + np.minimum(codes, radix - 1)
        span *= radix
    return combined


def _select_sample(keys: np.ndarray, strata: np.ndarray, k: int, floor: int) -> np.ndarray:
    """Positions of the k smallest keys, plus the ``floor`` smallest keys of every stratum."""
    n = len(keys)
    if n <= k:
        return np.arange(n, dtype=np.int64)
    chosen = np.zeros(n, dtype=bool)
    kth = np.partition(keys, k - 1)[k - 1]
    chosen |= keys <= kth
    if floor > 0:
        order = np.lexsort((keys, strata))
        s = strata[order]
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
        chosen[order[rank < floor]] = True
    return np.flatnonzero(chosen).astype(np.int64)


# --------------------------------------------------------------------------------------------
# accumulating chunks into a Cohort
# --------------------------------------------------------------------------------------------


class _Accumulator:
    """Concatenates chunk reductions in order, scores model inputs, and finishes the Cohort.

    ``score_fn`` (streaming with a model) scores kept feature rows in the same batches as the
    in-memory path; without it, chunks must bring ``y_score`` (scores mode, or Dask workers
    that scored their partition).
    """

    def __init__(
        self,
        spec: _Spec,
        *,
        header: Sequence[str],
        score_fn: Callable[[pd.DataFrame], np.ndarray] | None = None,
        batch_size: int = 250_000,
    ) -> None:
        self.spec = spec
        cfg = spec.config
        self.header = list(header)
        self.score_fn = score_fn
        self.batch_size = batch_size
        self.n_input = 0
        self.n_dropped = 0
        self.n_kept = 0
        self.n_chunks = 0
        self.drop_counts: dict[str, int] = {}
        self.required_missing: dict[str, int] = {}
        self.optional_missing: dict[str, int] = {}
        self.out_of_range: dict[str, list[int]] = {}
        self.unseen: dict[str, dict[str, int]] = {}
        self.y_true: list[np.ndarray] = []
        self.y_score: list[np.ndarray] = []
        self.bins: dict[str, list[np.ndarray]] = {c: [] for c in cfg.bins}
        self.codes: dict[str, list[np.ndarray]] = {
            c: [] for c in cfg.sensitive_features if c not in cfg.bins
        }
        self.labels: dict[str, dict[str, int]] = {c: {} for c in self.codes}
        self.numeric: dict[str, bool | None] = {c: None for c in self.codes}
        self._pending: list[pd.DataFrame] = []
        self._pending_rows = 0
        # sample candidates
        self._cand_pos = np.empty(0, dtype=np.int64)
        self._cand_keys = np.empty(0, dtype=np.uint64)
        self._cand_features: pd.DataFrame | None = None

    # -- adding -------------------------------------------------------------------------------

    def add(self, stats: _ChunkStats) -> None:
        spec = self.spec
        offset = self.n_kept
        self.n_chunks += 1
        self.n_input += stats.n_input
        self.n_dropped += stats.n_dropped
        for code, n in stats.drop_counts.items():
            self.drop_counts[code] = self.drop_counts.get(code, 0) + n
        for name, n in stats.required_missing.items():
            self.required_missing[name] = self.required_missing.get(name, 0) + n
        for name, n in stats.optional_missing.items():
            self.optional_missing[name] = self.optional_missing.get(name, 0) + n
        for name, (below, above) in stats.out_of_range.items():
            acc = self.out_of_range.setdefault(name, [0, 0])
            acc[0] += below
            acc[1] += above
        for name, counts in stats.unseen.items():
            acc = self.unseen.setdefault(name, {})
            for label, n in counts.items():
                acc[label] = acc.get(label, 0) + n
        self.y_true.append(stats.y_true)
        for col, idx in stats.bins.items():
            self.bins[col].append(idx)
        for col, (codes, labels) in stats.cats.items():
            index = self.labels[col]
            for lab in labels.tolist():
                if lab not in index:
                    index[lab] = len(index)
            lookup = np.array([index[lab] for lab in labels.tolist()] + [-1], dtype=np.int32)
            self.codes[col].append(lookup[codes])  # code -1 picks the trailing -1
            seen = stats.numeric[col]
            if seen is not None:
                prev = self.numeric[col]
                self.numeric[col] = seen if prev is None else (prev and seen)
        n = len(stats.y_true)
        self.n_kept += n
        if stats.y_score is not None:
            self.y_score.append(stats.y_score)
        elif stats.features is not None and self.score_fn is not None:
            self._pending.append(stats.features)
            self._pending_rows += n
            self._score_pending(final=False)
        elif n:
            raise ValueError("a chunk without scores needs a scoring function")  # a bug
        if stats.sample_features is not None and spec.sample_rows > 0:
            self._add_candidates(stats, offset)

    def _score_pending(self, *, final: bool) -> None:
        """Score full batches of kept rows (and the remainder when ``final``)."""
        if not self._pending_rows or (not final and self._pending_rows < self.batch_size):
            return
        block = (
            pd.concat(self._pending, ignore_index=True)
            if len(self._pending) > 1
            else (self._pending[0].reset_index(drop=True))
        )
        n_full = len(block) // self.batch_size * self.batch_size
        end = len(block) if final else n_full
        for start in range(0, end, self.batch_size):
            batch = block.iloc[start : min(start + self.batch_size, end)]
            self.y_score.append(self.score_fn(batch))  # type: ignore[misc]
        rest = block.iloc[end:].reset_index(drop=True)
        self._pending = [rest] if len(rest) else []
        self._pending_rows = len(rest)

    def _add_candidates(self, stats: _ChunkStats, offset: int) -> None:
        new_pos = stats.sample_pos + offset
        pos = np.concatenate([self._cand_pos, new_pos])
        keys = np.concatenate([self._cand_keys, stats.sample_keys])
        strata = self._pool_strata(pos)
        keep = _select_sample(keys, strata, self.spec.sample_rows, self.spec.sample_floor)
        frames = [f for f in (self._cand_features, stats.sample_features) if f is not None]
        pool = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        self._cand_pos = pos[keep]
        self._cand_keys = keys[keep]
        self._cand_features = pool.iloc[keep].reset_index(drop=True)

    def _pool_strata(self, pos: np.ndarray) -> np.ndarray:
        # Only candidate rows are looked up; concatenating per call would be O(n), so gather
        # from the per-chunk lists with a position -> (chunk, offset) map.
        cfg = self.spec.config
        bounds = np.cumsum([0] + [len(a) for a in self.y_true])
        chunk = np.searchsorted(bounds, pos, side="right") - 1
        local = pos - bounds[chunk]

        def gather(parts: list[np.ndarray]) -> np.ndarray:
            out = np.empty(len(pos), dtype=np.int64)
            for c in np.unique(chunk):
                m = chunk == c
                out[m] = parts[c][local[m]]
            return out

        columns: list[tuple[np.ndarray, int]] = []
        for col in cfg.sensitive_features:
            if col in cfg.bins:
                columns.append((gather(self.bins[col]), len(cfg.bins[col]) + 2))
            else:
                columns.append((gather(self.codes[col]) + 1, len(self.labels[col]) + 1))
        columns.append((gather(self.y_true), 2))
        return _strata(columns)

    # -- finishing ----------------------------------------------------------------------------

    def finish(self) -> tuple[Cohort, FeatureSample | None]:
        """Whole-cohort checks, caveats rebuilt from whole-cohort counts, the compact Cohort."""
        cfg = self.spec.config
        n_input = self.n_input
        if n_input == 0:
            raise SchemaError(
                f"The cohort has no rows (it has {len(self.header)} columns). "
                "Check that the file is the right one and that it is not just a header."
            )
        caveats: list[Caveat] = []
        used = set(self.spec.used_columns) - {
            c for c in cfg.bins if c not in cfg.sensitive_features
        }
        n_ignored = sum(1 for col in self.header if col not in used)
        if n_ignored:
            caveats.append(
                Caveat(
                    "ignored_columns",
                    "info",
                    f"{n_ignored} column(s) of the cohort are not used by the model or the "
                    "audit and were ignored.",
                    {"n_columns": n_ignored},
                )
            )
        reasons = self._drop_reasons()
        n_dropped = self.n_dropped
        if n_dropped * 1.0 > _cv.MAX_DROP_FRACTION * n_input:
            details = "; ".join(f"{n} {text}" for _, n, text, _ in reasons if n)
            raise SchemaError(
                f"Validation would drop {n_dropped} of {n_input} rows "
                f"({_cv._pct(n_dropped, n_input)}), more than half of the cohort: {details}. "
                "What is left would not represent the cohort. Fill in or impute the missing "
                "values before the audit, or check that the columns are the right ones."
            )
        for code, n, text, where in reasons:
            if n:
                severity = "serious" if n > _cv.SERIOUS_DROP_FRACTION * n_input else "warning"
                caveats.append(
                    Caveat(
                        code,
                        severity,
                        f"{n} of {n_input} rows ({_cv._pct(n, n_input)}) {text}; they were "
                        "left out of the audit.",
                        {**where, "n_rows": n},
                    )
                )
        y_true = _concat(self.y_true, np.int8)
        self.y_true = [y_true]
        _cv._check_both_classes(y_true, cfg.label, n_dropped)

        if self.spec.inputs:
            caveats.extend(self._feature_caveats())
        groups, group_caveats, strata_cols = self._groups()
        caveats.extend(group_caveats)

        if self.score_fn is not None:
            self._score_pending(final=True)
        y_score = _concat(self.y_score, np.float64)
        self.y_score = []
        if len(y_score) != len(y_true):  # a bug, not the user's input
            raise ValueError(f"scored {len(y_score)} rows for {len(y_true)} kept rows")
        y_true.setflags(write=False)
        y_score.setflags(write=False)
        cohort = Cohort(
            features=None,
            y_true=y_true,
            y_score=y_score,
            groups=groups,
            n_input_rows=n_input,
            n_dropped=n_dropped,
            caveats=tuple(caveats),
        )
        sample = None
        if self._cand_features is not None:
            sample = self._finish_sample(strata_cols + [(y_true.astype(np.int64), 2)])
        return cohort, sample

    def _drop_reasons(self) -> list[tuple[str, int, str, dict[str, Any]]]:
        cfg = self.spec.config
        out: list[tuple[str, int, str, dict[str, Any]]] = [
            (
                "missing_label",
                self.drop_counts.get("missing_label", 0),
                f"had no value in the label column '{cfg.label}'",
                {"column": cfg.label},
            )
        ]
        if cfg.score_column is not None:
            out.append(
                (
                    "missing_score",
                    self.drop_counts.get("missing_score", 0),
                    f"had no value in the score column '{cfg.score_column}'",
                    {"column": cfg.score_column},
                )
            )
        per_column = {c: n for c, n in self.required_missing.items() if n}
        if per_column:
            out.append(
                (
                    "missing_inputs",
                    self.drop_counts.get("missing_inputs", 0),
                    "had missing (or infinite) values in model inputs the model needs ("
                    + ", ".join(f"'{c}': {n}" for c, n in per_column.items())
                    + ")",
                    {"columns": per_column},
                )
            )
        return out

    def _feature_caveats(self) -> list[Caveat]:
        """The caveats of ``cohort._build_features``, from whole-cohort counts."""
        cfg = self.spec.config
        caveats: list[Caveat] = []
        n_kept = self.n_kept
        optional = {c: n for c, n in self.optional_missing.items() if n}
        if optional:
            caveats.append(
                Caveat(
                    "missing_optional_inputs",
                    "info",
                    "Some inputs the model card marks as not required have missing values; "
                    "the rows were kept and the model is given NaN for them ("
                    + ", ".join(
                        f"'{c}': {n} rows ({_cv._pct(n, n_kept)})" for c, n in optional.items()
                    )
                    + ").",
                    {"columns": optional},
                )
            )
        categories = self.spec.category_inputs
        for s in self.spec.inputs:
            ci = self.spec.card_inputs.get(s.name)
            if ci is None:
                continue
            if s.name in self.out_of_range:
                caveat = _out_of_range_caveat(s.name, ci, *self.out_of_range[s.name], n_kept)
                if caveat is not None:
                    caveats.append(caveat)
            if s.name in categories:
                caveat = _unseen_caveat(
                    s.name, self.unseen.get(s.name, {}), n_kept, min_cell=cfg.min_cell
                )
                if caveat is not None:
                    caveats.append(caveat)
        return caveats

    def _groups(self) -> tuple[pd.DataFrame, list[Caveat], list[tuple[np.ndarray, int]]]:
        """Group columns as categoricals, with the checks and caveats of ``_build_groups``."""
        cfg = self.spec.config
        n = self.n_kept
        caveats: list[Caveat] = []
        columns: dict[str, pd.Series] = {}
        strata_cols: list[tuple[np.ndarray, int]] = []
        for col in cfg.sensitive_features:
            if col in cfg.bins:
                idx = _concat(self.bins[col], np.int16)
                self.bins[col] = [idx]
                labels, col_caveats = _bin_categorical(idx, col, cfg.bins[col])
                strata_cols.append((idx.astype(np.int64), len(cfg.bins[col]) + 2))
            else:
                codes = _concat(self.codes[col], np.int32)
                self.codes[col] = [codes]
                labels, col_caveats = self._category_categorical(col, codes)
                strata_cols.append((codes.astype(np.int64) + 1, len(self.labels[col]) + 1))
            caveats.extend(col_caveats)
            present = [str(c) for c in labels.categories]  # only present ones are kept
            reference = cfg.reference.get(col)
            if reference is not None and reference not in present:
                raise SchemaError(
                    f"The reference group '{reference}' for the sensitive feature '{col}' does "
                    f"not occur in the cohort. Groups present: {sorted(present)}. "
                    f"Pass --reference {col}=<one of these>, or leave it out to use the largest "
                    "group."
                )
            if len(present) == 1:
                caveats.append(
                    Caveat(
                        "single_group",
                        "warning",
                        f"The sensitive feature '{col}' has a single group in this cohort, so "
                        "there is nothing to compare it with.",
                        {"column": col},
                    )
                )
            columns[col] = pd.Series(labels)
        groups = pd.DataFrame(columns, index=pd.RangeIndex(n))
        return groups, caveats, strata_cols

    def _category_categorical(
        self, col: str, codes: np.ndarray
    ) -> tuple[pd.Categorical, list[Caveat]]:
        """An unbinned feature's labels as a categorical with sorted categories."""
        labels = np.array(list(self.labels[col]), dtype=object)
        counts = np.bincount(codes[codes >= 0], minlength=len(labels))
        n_distinct = int((counts > 0).sum())
        if self.numeric[col] and n_distinct > _cv.MAX_UNBINNED_NUMERIC_GROUPS:
            raise SchemaError(
                f"The sensitive feature '{col}' is numeric with {n_distinct} distinct values; it "
                f"looks continuous, and more than {_cv.MAX_UNBINNED_NUMERIC_GROUPS} groups would "
                f"each be too small to audit. Pass bins for it, e.g. --bins {col}=18,40,65,80 "
                "(choose edges that make sense for this feature)."
            )
        if n_distinct > _cv.MAX_GROUPS:
            raise SchemaError(
                f"The sensitive feature '{col}' has {n_distinct} distinct values; at most "
                f"{_cv.MAX_GROUPS} groups can be audited per feature. Merge rare values into "
                "broader groups before the audit, or check that this is the right column."
            )
        caveats: list[Caveat] = []
        n_missing = int((codes < 0).sum())
        labels, codes = _cv._with_missing_group(labels, codes, counts, col)
        if n_missing:
            caveats.append(_cv._missing_sensitive_caveat(col, n_missing, int(codes.shape[0])))
        counts = np.bincount(codes, minlength=len(labels))
        present = sorted(str(labels[i]) for i in np.flatnonzero(counts))
        new_code = np.full(len(labels), -1, dtype=np.int32)
        for i, lab in enumerate(labels.tolist()):
            if counts[i]:
                new_code[i] = present.index(str(lab))
        categorical = pd.Categorical.from_codes(new_code[codes], categories=present)
        return categorical, caveats

    def _finish_sample(self, strata_cols: list[tuple[np.ndarray, int]]) -> FeatureSample:
        strata = _strata(strata_cols)
        cand_strata = strata[self._cand_pos]
        order = np.argsort(self._cand_pos, kind="stable")
        pos = self._cand_pos[order]
        features = self._cand_features.iloc[order].reset_index(drop=True)
        uniq, total = np.unique(strata, return_counts=True)
        s_of = cand_strata[order]
        s_uniq, s_count = np.unique(s_of, return_counts=True)
        n_stratum = total[np.searchsorted(uniq, s_of)]
        n_sampled = s_count[np.searchsorted(s_uniq, s_of)]
        weights = n_stratum / n_sampled
        keys = self._cand_keys[order]
        k = self.spec.sample_rows
        uniform = (
            keys <= np.partition(keys, k - 1)[k - 1] if len(keys) > k else np.ones(len(keys), bool)
        )
        for a in (pos, weights, uniform):
            a.setflags(write=False)
        return FeatureSample(features=features, rows=pos, weights=weights, uniform=uniform)


def _concat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    if not parts:
        return np.empty(0, dtype=dtype)
    out = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return np.ascontiguousarray(out, dtype=dtype)


def _bin_categorical(
    idx: np.ndarray, column: str, edges: Sequence[float]
) -> tuple[pd.Categorical, list[Caveat]]:
    """``cohort._bin_labels`` from bin indices: the same ordered categorical and caveats."""
    e = np.asarray(edges, dtype=np.float64)
    first, last = _cv._format_edge(e[0]), _cv._format_edge(e[-1])
    names = [*_cv._bin_names(e), f"< {first}", f"> {last}", _cv.MISSING_GROUP]
    n_bins = len(e) - 1
    order = [n_bins, *range(n_bins), n_bins + 1, n_bins + 2]
    counts = np.bincount(idx, minlength=n_bins + 3)
    kept = [i for i in order if counts[i] > 0]
    code_of = np.full(n_bins + 3, -1, dtype=np.int16)
    code_of[kept] = np.arange(len(kept))
    labels = pd.Categorical.from_codes(
        code_of[idx], categories=[names[i] for i in kept], ordered=True
    )
    caveats: list[Caveat] = []
    n = int(idx.shape[0])
    n_below, n_above, n_missing = (int(counts[n_bins + j]) for j in range(3))
    outside = _cv._outside_bins_caveat(column, first, last, n_below, n_above)
    if outside is not None:
        caveats.append(outside)
    if n_missing:
        caveats.append(_cv._missing_sensitive_caveat(column, n_missing, n))
    return labels, caveats


def _out_of_range_caveat(
    name: str, card_input: CardInput, n_below: int, n_above: int, n: int
) -> Caveat | None:
    """``cohort._out_of_range_caveat`` from whole-cohort counts."""
    n_out = n_below + n_above
    if not n_out:
        return None
    low, high = getattr(card_input, "min", None), getattr(card_input, "max", None)
    unit = getattr(card_input, "unit", None)
    lo = _cv._format_edge(low) if low is not None else "-inf"
    hi = _cv._format_edge(high) if high is not None else "inf"
    rng = f"[{lo}, {hi}]" + (f" {unit}" if unit else "")
    return Caveat(
        "out_of_range",
        "warning",
        f"The model input '{name}' has {n_out} of {n} rows ({_cv._pct(n_out, n)}) outside the "
        f"range the model card declares, {rng} ({n_below} below, {n_above} above). The rows "
        "were kept, but the model was not developed on such values: treat their predictions "
        "with care.",
        {
            "column": name,
            "n_rows": n_out,
            "n_below": n_below,
            "n_above": n_above,
            "min": None if low is None else float(low),
            "max": None if high is None else float(high),
        },
    )


def _unseen_caveat(name: str, counts: dict[str, int], n: int, *, min_cell: int) -> Caveat | None:
    """``cohort._unseen_category_caveat`` from whole-cohort counts (labels in file order)."""
    seen = [(label, c) for label, c in counts.items() if c > 0]
    if not seen:
        return None
    n_rows = sum(c for _, c in seen)
    threshold = max(10, int(min_cell))
    ranked = sorted(seen, key=lambda lc: -lc[1])  # stable: ties keep the order of appearance
    nameable = [
        label
        for label, c in ranked
        if c >= threshold and len(label) <= _cv._MAX_LISTED_LABEL_LENGTH
    ][: _cv._MAX_LISTED_CATEGORIES]
    named = f" Most frequent: {', '.join(repr(x) for x in nameable)}." if nameable else ""
    return Caveat(
        "unseen_category",
        "warning",
        f"The model input '{name}' has {n_rows} of {n} rows ({_cv._pct(n_rows, n)}) with "
        f"{len(seen)} distinct categories the model card does not list.{named} The rows were "
        "kept, but the model never saw these categories: treat their predictions with care.",
        {"column": name, "n_rows": n_rows, "n_distinct": len(seen), "categories": nameable},
    )


class _MixedTypes(Exception):
    """A CSV column read as numbers in one chunk and as text in another (internal)."""

    def __init__(self, columns: set[str]) -> None:
        super().__init__(sorted(columns))
        self.columns = columns


def _text_or_number(series: pd.Series) -> str | None:
    if series.isna().all():
        return None  # an all-empty chunk says nothing about the column's type
    return "number" if pd.api.types.is_numeric_dtype(series.dtype) else "text"


def _chunk_error(exc: SchemaError, *, first: int, n: int, file: str) -> SchemaError:
    return SchemaError(
        f"{exc} (Found in rows {first + 1:,}-{first + n:,} of '{file}', read in chunks; the "
        "counts above are for that chunk.)"
    )


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def _make_spec(
    config: AuditConfig,
    model: LoadedModel | None,
    card: ModelCard | None,
    *,
    sample_rows: int,
) -> _Spec:
    if (model is None) == (config.score_column is None):
        got = "both" if model is not None else "neither"
        raise ConfigError(
            "An audit needs exactly one source of predictions: a model to run, or a score "
            f"column already in the cohort (--score-column). Got {got}. Pass a model, or "
            "set score_column, but not both."
        )
    if not isinstance(sample_rows, int) or isinstance(sample_rows, bool) or sample_rows < 0:
        raise ConfigError(
            f"The 'sample_rows' parameter must be an int >= 0. Got {sample_rows!r} instead."
        )
    return _Spec(
        config=config,
        inputs=tuple(model.inputs) if model is not None else (),
        card_inputs=_cv._card_inputs_by_name(card),
        sample_rows=sample_rows if model is not None else 0,
        sample_floor=SAMPLE_FLOOR,
    )


def _check_chunk_rows(chunk_rows: Any) -> int:
    if not isinstance(chunk_rows, int) or isinstance(chunk_rows, bool) or chunk_rows < 1:
        raise ConfigError(
            f"The 'chunk_rows' parameter (--chunk-rows) must be a positive integer. Got "
            f"{chunk_rows!r} instead."
        )
    return chunk_rows


def _batch_size() -> int:
    from cohortaudit.scoring import score

    return int(signature(score).parameters["batch_size"].default)


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

    The returned cohort equals what :func:`~cohortaudit.cohort.validate_cohort` gives for the
    whole file (same kept rows in the same order, same labels and caveats), except that
    ``features`` is None and ``y_score`` holds the model's scores; the model's inputs survive
    as a :class:`FeatureSample`. See the module docstring for what does and does not depend on
    ``chunk_rows`` (nothing in the result does).

    Raises
    ------
    InputError, SchemaError, ConfigError
        As :func:`~cohortaudit.io.load_cohort` and :func:`~cohortaudit.cohort.validate_cohort`
        would; a problem found in one chunk names the rows of that chunk.
    """
    chunk_rows = _check_chunk_rows(chunk_rows)
    spec = _make_spec(config, model, card, sample_rows=sample_rows)
    path = Path(path)
    _check_cohort_path(path)
    header = _header(path, delimiter)
    header_frame = pd.DataFrame(columns=header)
    _cv._check_duplicate_columns(header_frame)
    _cv._check_missing_columns(header_frame, config=config, inputs=spec.inputs)
    used = [c for c in spec.used_columns if c in header]
    report = progress or (lambda stage, frac: None)
    is_parquet = path.name.lower().endswith(_PARQUET_SUFFIXES)

    score_fn = None
    if model is not None:
        from cohortaudit.scoring import score

        def score_fn(batch: pd.DataFrame) -> np.ndarray:
            return score(model, batch)

    as_text: frozenset[str] = frozenset()
    while True:
        acc = _Accumulator(spec, header=header, score_fn=score_fn, batch_size=_batch_size())
        chunks = (
            _iter_parquet(path, header, used, chunk_rows)
            if is_parquet
            else _iter_csv(path, header, used, chunk_rows, as_text, delimiter)
        )
        kinds: dict[str, set[str]] = {c: set() for c in used}
        try:
            for frame, fraction in chunks:
                if not is_parquet:
                    for c in used:
                        k = _text_or_number(frame[c])
                        if k is not None:
                            kinds[c].add(k)
                    mixed = {c for c, k in kinds.items() if len(k) > 1}
                    if mixed:
                        raise _MixedTypes(mixed)
                try:
                    stats = _reduce_chunk(frame, spec, key_offset=acc.n_input)
                except SchemaError as exc:
                    raise _chunk_error(
                        exc, first=acc.n_input, n=len(frame), file=path.name
                    ) from None
                acc.add(stats)
                if math.isfinite(fraction):
                    report("reading", fraction)
        except _MixedTypes as exc:
            # pandas infers types per chunk; in one read these columns are text throughout
            as_text = as_text | frozenset(exc.columns)
            continue
        break
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


def _load_model_and_card(
    *,
    config: AuditConfig,
    model_path: str | Path | None,
    card_path: str | Path | None,
    trusted_types: Sequence[str],
) -> tuple[Any, Any, Any]:
    """Card, model and test vectors, in the order and with the checks of ``load_inputs``."""
    from cohortaudit.card import check_card_matches, load_card
    from cohortaudit.io import load_model
    from cohortaudit.testvectors import check_test_vectors

    if model_path is None and config.score_column is None:
        raise ConfigError(
            "Nothing to audit: give a model file (--model model.onnx) or the column of the "
            "cohort that holds predictions already (--score-column COL)."
        )
    if model_path is not None and config.score_column is not None:
        raise ConfigError(
            "Give either --model or --score-column, not both: the audit scores the cohort "
            "with the model, or audits the predictions already in the cohort."
        )
    card = load_card(card_path) if card_path is not None else None
    model = vectors = None
    if model_path is not None:
        model = load_model(model_path, card=card, trusted_types=trusted_types)
        if card is not None:
            check_card_matches(card, model)
            vectors = check_test_vectors(card, model)
    return card, model, vectors


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
    from cohortaudit.audit import run_audit

    t0 = time.perf_counter() if started is None else started
    sub, note = None, None
    if model is not None and streamed.sample is not None:
        sub, whole = _sample_cohort(streamed)
        if not whole:
            note = (
                f"streaming: computed on a seeded uniform sample of {sub.n_rows} of "
                f"{streamed.cohort.n_rows} patients (the feature rows were not kept)"
            )
    result = run_audit(
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
    )
    if note is not None:
        blocks = {
            name: {**block, "settings": {**block.get("settings", {}), "sample": note}}
            for name, block in (("safety", result.safety), ("explanations", result.explanations))
            if block is not None
        }
        result = replace(result, **blocks)
    run = dict(result.run)
    run["duration_seconds"] = round(time.perf_counter() - t0, 3)
    run["engine"] = {
        "kind": streamed.engine,
        "chunk_rows": streamed.chunk_rows,
        "n_chunks": streamed.n_chunks,
        "feature_sample_rows": streamed.sample.n_rows if streamed.sample is not None else 0,
    }
    if streamed.scheduler is not None:
        run["engine"]["scheduler"] = streamed.scheduler
    return replace(result, run=run)


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


def _load_checked_policy(policy_path: str | Path | None, config: AuditConfig) -> Any:
    """The audit policy, read and scope-checked first: a typo should cost a second, not a pass
    over the file."""
    if policy_path is None:
        return None
    from cohortaudit.policy import check_policy_scope, load_policy

    policy = load_policy(policy_path)
    check_policy_scope(
        policy,
        sensitive_features=config.sensitive_features,
        max_order=config.max_intersection_order,
    )
    return policy


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
    """Like :func:`cohortaudit.pipeline.audit_files`, reading the cohort in chunks.

    ``chunk_rows`` defaults to :data:`DEFAULT_CHUNK_ROWS`. The result equals ``audit_files``'s
    byte for byte in JSON, apart from the volatile ``run`` block (see the module docstring).
    """
    chunk_rows = DEFAULT_CHUNK_ROWS if chunk_rows is None else _check_chunk_rows(chunk_rows)
    return audit_reduced(
        lambda model, card: stream_cohort(
            cohort_path,
            config=config,
            model=model,
            card=card,
            chunk_rows=chunk_rows,
            sample_rows=sample_rows,
            progress=progress,
            delimiter=delimiter,
        ),
        config=config,
        model_path=model_path,
        card_path=card_path,
        trusted_types=trusted_types,
        progress=progress,
        policy_path=policy_path,
    )


def audit_reduced(
    reduce: Callable[[LoadedModel | None, ModelCard | None], StreamedCohort],
    *,
    config: AuditConfig,
    model_path: str | Path | None,
    card_path: str | Path | None,
    trusted_types: Sequence[str],
    progress: ProgressCallback | None,
    policy_path: str | Path | None,
) -> AuditResult:
    """The shared frame of the streamed and Dask audits: policy, card and model first (so a
    bad one fails before any pass over the data), then ``reduce(model, card)`` reads the
    cohort into compact arrays, then :func:`audit_streamed`."""
    started = time.perf_counter()
    policy = _load_checked_policy(policy_path, config)
    card, model, vectors = _load_model_and_card(
        config=config, model_path=model_path, card_path=card_path, trusted_types=trusted_types
    )
    return audit_streamed(
        reduce(model, card),
        model,
        config,
        card=card,
        test_vectors=vectors,
        progress=progress,
        policy=policy,
        started=started,
    )
