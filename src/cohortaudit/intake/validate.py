"""The one cohort validator: a chunk reducer and an accumulator, used by every engine.

The rest of the pipeline trusts a :class:`Cohort`: typed model inputs in model-input order, a 0/1
label, string subgroup labels, and the caveats explaining every row that was left out. Checking
once, at this boundary, keeps the metrics free of defensive code and makes every validation rule
testable in one place.

The validator has two halves, whatever the engine:

* :func:`reduce_chunk` parses one chunk of rows with :mod:`cohortaudit.intake.columns` (fatal
  per-row problems -- a non-binary label, text in a numeric input, a score outside [0, 1] --
  raise here) and reduces it to the kept rows' arrays and the counts the caveats need;
* :class:`CohortAccumulator` concatenates the chunks in order and, in :meth:`~CohortAccumulator.
  finish`, runs the checks that need the whole cohort (the share of dropped rows, both outcomes
  present, groups per sensitive feature, the reference group) and words every caveat from
  whole-cohort counts (:mod:`cohortaudit.intake.rules`).

In memory (:func:`validate_cohort`) the whole frame is one chunk; the streamed engine adds file
chunks, the Dask engine its partitions. So the caveats cannot differ between engines: there is
one implementation of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cohortaudit.config import AuditConfig
from cohortaudit.errors import ConfigError, SchemaError
from cohortaudit.intake.columns import (
    is_plain_numeric,
    parse_binned,
    parse_event,
    parse_input,
    parse_label,
    parse_score,
    parse_time,
    to_labels,
)
from cohortaudit.intake.outcome import check_outcome, resolve_outcome
from cohortaudit.intake.rules import (
    MAX_DROP_FRACTION,
    SERIOUS_DROP_FRACTION,
    bin_groups,
    card_inputs_by_name,
    category_groups,
    check_both_classes,
    check_duplicate_columns,
    check_missing_columns,
    out_of_range_caveat,
    pct,
    unseen_category_caveat,
)
from cohortaudit.intake.sample import (
    SAMPLE_FLOOR,
    FeatureSample,
    finish_sample,
    row_keys,
    select_sample,
    strata_of,
)
from cohortaudit.results import Caveat

if TYPE_CHECKING:
    from cohortaudit.intake.card import CardInput, ModelCard
    from cohortaudit.modelspec import InputSpec, LoadedModel

__all__ = [
    "ChunkStats",
    "Cohort",
    "CohortAccumulator",
    "ValidationSpec",
    "check_header",
    "check_prediction_source",
    "make_spec",
    "reduce_chunk",
    "validate_cohort",
]


@dataclass(frozen=True, eq=False)
class Cohort:
    """A validated cohort: the only form of patient data the scoring and metrics code accepts.

    All arrays and frames have the same length and a 0..n-1 index; row ``i`` is the same patient
    everywhere.

    features:
        Model input columns in model-input order, typed for the model: ``float`` inputs as
        float64 (NaN only for inputs the card marks as not required), ``int`` as int64, ``string``
        as Python ``str`` objects (object dtype). ``None`` in scores mode.
    y_true:
        The outcome as int8 0/1: the label, or in a time-to-event audit the event column (the
        same array as ``event``), so code that needs one outcome per patient works for both.
    y_score:
        Predicted risks as float64 in [0, 1]; scores mode only, else ``None``.
    groups:
        One column per sensitive feature (config order) of string labels; binned features use
        labels like ``"[18, 40)"``, rows without a value the label ``"missing (no value)"``.
    n_input_rows, n_dropped:
        Rows in the file, and rows left out (each reason has a caveat).
    caveats:
        Survivable problems found while validating, for the report.
    time, event:
        Time-to-event audits only (else ``None``): follow-up times as float64 > 0 and the event
        indicator as int8 0/1 (1 = the event, 0 = censored at ``time``). A patient censored
        exactly at the horizon is event-free at the horizon; an event at the horizon is an
        event by it (:mod:`cohortaudit.intake.outcome`).

    Equality is identity (``eq=False``): element-wise array comparison has no single truth
    value, and two cohorts are never compared by content. ``y_true``, ``y_score``, ``time``
    and ``event`` are read-only so that no step of the pipeline can alter the outcome another
    step sees.
    """

    features: pd.DataFrame | None
    y_true: np.ndarray
    y_score: np.ndarray | None
    groups: pd.DataFrame
    n_input_rows: int
    n_dropped: int
    caveats: tuple[Caveat, ...]
    time: np.ndarray | None = None
    event: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        """Rows that take part in the audit."""
        return int(self.y_true.shape[0])


@dataclass(frozen=True)
class ValidationSpec:
    """Everything a chunk reducer needs; plain and picklable (it is shipped to Dask workers).

    Build it with :func:`make_spec`, which checks the source of predictions and settles the
    outcome against the card (:func:`~cohortaudit.intake.outcome.resolve_outcome`).
    """

    config: AuditConfig
    inputs: tuple[InputSpec, ...]
    card_inputs: dict[str, CardInput]
    sample_rows: int
    sample_floor: int
    #: The card says the model is time-to-event (the binary-label guard needs to know).
    card_time_to_event: bool = False

    @property
    def used_columns(self) -> list[str]:
        """The columns the audit reads (outcome and follow-up time, score, model inputs,
        sensitive features)."""
        cfg = self.config
        cols = [cfg.outcome_column]
        if cfg.time is not None:
            cols.append(cfg.time)
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
class ChunkStats:
    """One chunk reduced to what the engine and the caveats need (kept rows only).

    Mutable on purpose: a Dask worker replaces ``features`` by ``y_score`` after scoring, so
    the feature rows never travel back to the driver.
    """

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
    #: follow-up times of kept rows (float64), when the config names a time column
    time: np.ndarray | None = None


def reduce_chunk(frame: pd.DataFrame, spec: ValidationSpec, *, key_offset: int) -> ChunkStats:
    """Validate one chunk with the parsers of :mod:`cohortaudit.intake.columns` and reduce it.

    Fatal per-row problems raise here (the caller adds where the chunk is); whole-cohort checks
    are left to :class:`_Accumulator`. ``key_offset`` numbers the chunk's first row for the
    sample keys (the input row number when streaming a file).
    """
    cfg = spec.config
    n_input = len(frame)
    drops: list[tuple[str, np.ndarray]]
    if cfg.event is not None:
        y, event_missing = parse_event(frame[cfg.event], cfg.event)
        drops = [("missing_event", event_missing)]
    else:
        y, label_missing = parse_label(frame[cfg.label], cfg.label)
        drops = [("missing_label", label_missing)]
    time = None
    if cfg.time is not None:
        time, time_missing, negative, zero = parse_time(frame[cfg.time], cfg.time)
        drops += [("missing_time", time_missing), ("negative_time", negative), ("zero_time", zero)]
    score = None
    if cfg.score_column is not None:
        score, score_missing = parse_score(frame[cfg.score_column], cfg.score_column)
        drops.append(("missing_score", score_missing))

    label_cache: dict[Any, tuple[np.ndarray, np.ndarray]] = {}

    def labels_of(column: Any) -> tuple[np.ndarray, np.ndarray]:
        if column not in label_cache:
            label_cache[column] = to_labels(frame[column])
        return label_cache[column]

    parsed: dict[str, Any] = {}
    for s in spec.inputs:
        if s.name not in parsed:
            parsed[s.name] = parse_input(
                frame[s.name],
                s,
                spec.card_inputs.get(s.name),
                labelled=labels_of(s.name) if s.kind == "string" else None,
            )
    required = {name: p.missing for name, p in parsed.items() if not p.keep_missing}
    required_missing = {name: int(m.sum()) for name, m in required.items()}
    if any(required_missing.values()):
        drops.append(("missing_inputs", np.logical_or.reduce(list(required.values()))))
    binned = {col: parse_binned(frame[col], col, cfg.bins[col]) for col in cfg.bins}

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
            numeric[col] = None if frame[col].isna().all() else is_plain_numeric(frame[col])

    y_kept = np.ascontiguousarray(y[keep].astype(np.int8))
    stats = ChunkStats(
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
        time=None if time is None else np.ascontiguousarray(time[keep], dtype=np.float64),
    )
    if features is not None and spec.sample_rows > 0 and n_kept:
        keys = row_keys(cfg.seed, key_offset, np.flatnonzero(keep))
        strata = strata_of(
            [(b.astype(np.int64), len(cfg.bins[c]) + 2) for c, b in bins.items()]
            + [(codes.astype(np.int64) + 1, len(labels) + 1) for codes, labels in cats.values()]
            + [(y_kept.astype(np.int64), 2)]
        )
        pos = select_sample(keys, strata, spec.sample_rows, spec.sample_floor)
        stats.sample_pos = pos
        stats.sample_keys = keys[pos]
        stats.sample_features = features.iloc[pos].reset_index(drop=True)
    return stats


def _bin_index(binned: Any, edges: Sequence[float], keep: np.ndarray) -> np.ndarray:
    """Bin of each kept row: 0..n_bins-1, then "< first", "> last" and missing (the last bin
    is closed)."""
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


class CohortAccumulator:
    """Concatenates chunk reductions in order, scores model inputs, and finishes the Cohort.

    The one validator's second half: every engine adds its chunks (the in-memory one a single
    chunk) and calls :meth:`finish`, which runs the whole-cohort checks and words every caveat
    from whole-cohort counts.

    ``score_fn`` (streaming with a model) scores kept feature rows in the same batches as the
    in-memory path; without it, chunks must bring ``y_score`` (scores mode, or Dask workers
    that scored their partition). ``in_memory`` gives the in-memory form of the cohort
    instead: the typed feature frame is kept (the audit scores it), nothing is scored here, and
    unbinned groups are plain text labels, as :func:`validate_cohort` has always returned them.
    """

    def __init__(
        self,
        spec: ValidationSpec,
        *,
        header: Sequence[str],
        score_fn: Callable[[pd.DataFrame], np.ndarray] | None = None,
        batch_size: int = 250_000,
        in_memory: bool = False,
    ) -> None:
        self.spec = spec
        self.in_memory = in_memory
        self._features: list[pd.DataFrame] = []
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
        self.time: list[np.ndarray] = []
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

    def add(self, stats: ChunkStats) -> None:
        """Add the next chunk (chunks must come in cohort order)."""
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
        if stats.time is not None:
            self.time.append(stats.time)
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
        if self.in_memory and stats.features is not None:
            self._features.append(stats.features)
        if stats.y_score is not None:
            self.y_score.append(stats.y_score)
        elif self.in_memory:
            pass  # the audit scores the kept feature frame
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

    def _add_candidates(self, stats: ChunkStats, offset: int) -> None:
        new_pos = stats.sample_pos + offset
        pos = np.concatenate([self._cand_pos, new_pos])
        keys = np.concatenate([self._cand_keys, stats.sample_keys])
        strata = self._pool_strata(pos)
        keep = select_sample(keys, strata, self.spec.sample_rows, self.spec.sample_floor)
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
        return strata_of(columns)

    # -- finishing ----------------------------------------------------------------------------

    def finish(self) -> tuple[Cohort, FeatureSample | None]:
        """Whole-cohort checks, caveats from whole-cohort counts, the Cohort and its sample.

        The sample is None unless the spec asks for one (``sample_rows``) and a model is used.
        """
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
        if n_dropped * 1.0 > MAX_DROP_FRACTION * n_input:
            details = "; ".join(f"{n} {text}" for _, n, text, _ in reasons if n)
            raise SchemaError(
                f"Validation would drop {n_dropped} of {n_input} rows "
                f"({pct(n_dropped, n_input)}), more than half of the cohort: {details}. "
                "What is left would not represent the cohort. Fill in or impute the missing "
                "values before the audit, or check that the columns are the right ones."
            )
        for code, n, text, where in reasons:
            if n:
                severity = "serious" if n > SERIOUS_DROP_FRACTION * n_input else "warning"
                caveats.append(
                    Caveat(
                        code,
                        severity,
                        f"{n} of {n_input} rows ({pct(n, n_input)}) {text}; they were "
                        "left out of the audit.",
                        {**where, "n_rows": n},
                    )
                )
        y_true = _concat(self.y_true, np.int8)
        self.y_true = [y_true]
        time = _concat(self.time, np.float64) if cfg.time is not None else None
        if cfg.outcome_kind == "binary":
            check_both_classes(y_true, cfg.label, n_dropped)
        caveats.extend(
            check_outcome(cfg, y_true, time, card_time_to_event=self.spec.card_time_to_event)
        )
        if cfg.outcome_kind == "binary":
            time = None  # a binary audit uses the times for its guard only

        if self.spec.inputs:
            caveats.extend(self._feature_caveats())
        groups, group_caveats, strata_cols = self._groups()
        caveats.extend(group_caveats)

        if self.score_fn is not None:
            self._score_pending(final=True)
        features = None
        y_score = None
        if self.in_memory and self.spec.inputs:
            features = (
                self._features[0]
                if len(self._features) == 1
                else pd.concat(self._features, ignore_index=True)
            )
        else:
            y_score = _concat(self.y_score, np.float64)
            self.y_score = []
            if len(y_score) != len(y_true):  # a bug, not the user's input
                raise ValueError(f"scored {len(y_score)} rows for {len(y_true)} kept rows")
            y_score.setflags(write=False)
        y_true.setflags(write=False)
        if time is not None:
            time.setflags(write=False)
        cohort = Cohort(
            features=features,
            y_true=y_true,
            y_score=y_score,
            groups=groups,
            n_input_rows=n_input,
            n_dropped=n_dropped,
            caveats=tuple(caveats),
            time=time,
            event=y_true if time is not None else None,
        )
        sample = None
        if self._cand_features is not None:
            sample = finish_sample(
                self._cand_pos,
                self._cand_keys,
                self._cand_features,
                strata_cols + [(y_true.astype(np.int64), 2)],
                self.spec.sample_rows,
            )
        return cohort, sample

    def _drop_reasons(self) -> list[tuple[str, int, str, dict[str, Any]]]:
        cfg = self.spec.config
        code, role = ("missing_label", "label") if cfg.event is None else ("missing_event", "event")
        out: list[tuple[str, int, str, dict[str, Any]]] = [
            (
                code,
                self.drop_counts.get(code, 0),
                f"had no value in the {role} column '{cfg.outcome_column}'",
                {"column": cfg.outcome_column},
            )
        ]
        if cfg.time is not None:
            where = {"column": cfg.time}
            for code, text in (
                ("missing_time", "had no (or an infinite) follow-up time in"),
                ("negative_time", "had a negative follow-up time (check the time origin) in"),
                ("zero_time", "had a follow-up time of zero (never at risk) in"),
            ):
                out.append((code, self.drop_counts.get(code, 0), f"{text} '{cfg.time}'", where))
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
        """The card caveats of the model inputs, from whole-cohort counts."""
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
                    + ", ".join(f"'{c}': {n} rows ({pct(n, n_kept)})" for c, n in optional.items())
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
                caveat = out_of_range_caveat(s.name, ci, *self.out_of_range[s.name], n_kept)
                if caveat is not None:
                    caveats.append(caveat)
            if s.name in categories:
                caveat = unseen_category_caveat(
                    s.name, self.unseen.get(s.name, {}), n_kept, min_cell=cfg.min_cell
                )
                if caveat is not None:
                    caveats.append(caveat)
        return caveats

    def _groups(self) -> tuple[pd.DataFrame, list[Caveat], list[tuple[np.ndarray, int]]]:
        """One column of group labels per sensitive feature (config order), with their checks and
        caveats; categoricals, or plain text for unbinned features when ``text_groups``."""
        cfg = self.spec.config
        n = self.n_kept
        caveats: list[Caveat] = []
        columns: dict[str, pd.Series] = {}
        strata_cols: list[tuple[np.ndarray, int]] = []
        for col in cfg.sensitive_features:
            if col in cfg.bins:
                idx = _concat(self.bins[col], np.int16)
                self.bins[col] = [idx]
                labels, col_caveats = bin_groups(idx, col, cfg.bins[col])
                strata_cols.append((idx.astype(np.int64), len(cfg.bins[col]) + 2))
            else:
                codes = _concat(self.codes[col], np.int32)
                self.codes[col] = [codes]
                labels, col_caveats = category_groups(
                    np.array(list(self.labels[col]), dtype=object),
                    codes,
                    col,
                    numeric=self.numeric[col],
                )
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
            if self.in_memory and col not in cfg.bins:
                columns[col] = pd.Series(np.asarray(labels, dtype=object), dtype=object)
            else:
                columns[col] = pd.Series(labels)
        groups = pd.DataFrame(columns, index=pd.RangeIndex(n))
        return groups, caveats, strata_cols


def _concat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    if not parts:
        return np.empty(0, dtype=dtype)
    out = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return np.ascontiguousarray(out, dtype=dtype)


def check_prediction_source(config: AuditConfig, *, has_model: bool) -> None:
    """Exactly one source of predictions: a model to run, or a score column in the cohort.

    The one place this rule lives: :func:`~cohortaudit.intake.inputs.load_inputs` asks it before
    any file is read, and :func:`make_spec` (so every validation) asks it again for callers
    that validate a frame directly.

    Raises
    ------
    ConfigError
        Neither or both are given.
    """
    if has_model == (config.score_column is not None):
        got = "both" if has_model else "neither"
        raise ConfigError(
            "An audit needs exactly one source of predictions: a model to run (--model), or a "
            f"score column already in the cohort (--score-column). Got {got}. Pass a model, or "
            "set score_column, but not both."
        )


def make_spec(
    config: AuditConfig,
    model: LoadedModel | None,
    card: ModelCard | None,
    *,
    sample_rows: int,
) -> ValidationSpec:
    """The reducer's spec for this config, model and card (``sample_rows`` feature rows are
    sampled for the safety checks when a model is used; 0 keeps none)."""
    check_prediction_source(config, has_model=model is not None)
    if not isinstance(sample_rows, int) or isinstance(sample_rows, bool) or sample_rows < 0:
        raise ConfigError(
            f"The 'sample_rows' parameter must be an int >= 0. Got {sample_rows!r} instead."
        )
    return ValidationSpec(
        config=resolve_outcome(config, card),
        inputs=tuple(model.inputs) if model is not None else (),
        card_inputs=card_inputs_by_name(card),
        sample_rows=sample_rows if model is not None else 0,
        sample_floor=SAMPLE_FLOOR,
        card_time_to_event=getattr(card, "outcome_kind", "binary") == "time_to_event",
    )


def check_header(columns: Sequence[Any], spec: ValidationSpec) -> None:
    """The checks on the column names alone (duplicates, missing columns, a label the model
    reads), made by every engine before a row is read."""
    check_duplicate_columns(columns)
    check_missing_columns(columns, config=spec.config, inputs=spec.inputs)


def validate_cohort(
    frame: pd.DataFrame,
    *,
    config: AuditConfig,
    model: LoadedModel | None = None,
    card: ModelCard | None = None,
) -> Cohort:
    """Check a cohort table against the model, card and config; return a clean :class:`Cohort`.

    Exactly one source of predictions is needed: a ``model`` whose declared inputs must be
    columns of the cohort, or ``config.score_column`` naming a column of risks already computed
    (scores mode). The ``card``, when given, refines the checks of model inputs: units in
    messages, declared ranges, known categories, and which inputs may be missing.

    This is the chunked validator run on one chunk: :func:`reduce_chunk` on the whole frame,
    then :meth:`CohortAccumulator.finish`.

    Raises
    ------
    ConfigError
        Neither or both of ``model`` and ``config.score_column`` are given.
    SchemaError
        The cohort cannot be audited as it is; the message says what to change.
    """
    spec = make_spec(config, model, card, sample_rows=0)
    if not isinstance(frame, pd.DataFrame):
        raise SchemaError(
            "The cohort must be a pandas DataFrame (load files with cohortaudit.io.load_cohort). "
            f"Got {type(frame).__name__} instead."
        )
    if len(frame) == 0:
        raise SchemaError(
            f"The cohort has no rows (it has {frame.shape[1]} columns). "
            "Check that the file is the right one and that it is not just a header."
        )
    check_header(frame.columns, spec)
    accumulator = CohortAccumulator(spec, header=list(frame.columns), in_memory=True)
    accumulator.add(reduce_chunk(frame, spec, key_offset=0))
    cohort, _ = accumulator.finish()
    return cohort
