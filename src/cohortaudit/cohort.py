"""Validate a cohort against the model, its card and the audit config: ALL schema checks live here.

The rest of the pipeline trusts a :class:`Cohort`: typed model inputs in model-input order, a 0/1
label, string subgroup labels, and the caveats explaining every row that was left out. Checking
once, at this boundary, keeps the metrics free of defensive code and makes every validation rule
testable in one place.

Two kinds of trouble are told apart:

* **fatal** -- the audit would be meaningless (a missing column, a label that is not binary, scores
  that are not probabilities): a :class:`~cohortaudit.errors.SchemaError` whose message names
  columns, counts and types, never row values, because rows are patient data;
* **survivable** -- some rows lack a value, some values are outside what the card declares: the
  rows are dropped or kept, and a :class:`~cohortaudit.results.Caveat` with a count says so.

Everything is vectorised: column values are factorised once, and the (few) distinct values are
interpreted in Python, so a million rows validate in well under a second.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from cohortaudit.config import AuditConfig
from cohortaudit.errors import ConfigError, SchemaError
from cohortaudit.results import Caveat

if TYPE_CHECKING:
    from cohortaudit.card import CardInput, ModelCard
    from cohortaudit.modelspec import InputSpec, LoadedModel

__all__ = ["Cohort", "validate_cohort"]

#: A reason for dropping rows becomes a *serious* caveat above this share of the input rows.
SERIOUS_DROP_FRACTION = 0.05
#: Dropping more than this share of rows is fatal: what is left no longer represents the cohort.
MAX_DROP_FRACTION = 0.5
#: Fewest events (and fewest non-events) for which the audit's metrics are defined at all.
MIN_PER_CLASS = 2
#: A numeric sensitive feature without bins and with more distinct values looks continuous.
MAX_UNBINNED_NUMERIC_GROUPS = 20
#: More groups than this in one sensitive feature cannot give a readable (or safe) audit.
MAX_GROUPS = 50
#: Group label for rows without a value in a sensitive feature. Worded so that it cannot be
#: mistaken for a category spelled "missing" (which stays a group of its own); a cohort whose
#: column holds this exact text is refused, so the two can never be merged.
MISSING_GROUP = "missing (no value)"
#: How many available column names a "missing column" message lists before summarising.
_MAX_LISTED_COLUMNS = 40
#: Up to this many unseen category labels are named in a caveat (see _unseen_category_caveat).
_MAX_LISTED_CATEGORIES = 5
#: Longer category labels are never named: long text is more likely free text than a category.
_MAX_LISTED_LABEL_LENGTH = 40
#: Text that stands for "no value" where a number is expected (compared lower-case, stripped).
_NA_TOKENS = frozenset({"", "nan", "-nan", "na", "n/a", "nat", "null", "none", "<na>"})
_TRUE_TOKENS = frozenset({"1", "1.0", "true"})
_FALSE_TOKENS = frozenset({"0", "0.0", "false"})
#: Integers beyond this magnitude do not survive a round trip through float64.
_EXACT_INT_LIMIT = 2.0**53
_INT64_LIMIT = 2.0**63


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
        The outcome as int8 0/1.
    y_score:
        Predicted risks as float64 in [0, 1]; scores mode only, else ``None``.
    groups:
        One column per sensitive feature (config order) of string labels; binned features use
        labels like ``"[18, 40)"``, rows without a value the label ``"missing (no value)"``.
    n_input_rows, n_dropped:
        Rows in the file, and rows left out (each reason has a caveat).
    caveats:
        Survivable problems found while validating, for the report.

    Equality is identity (``eq=False``): element-wise array comparison has no single truth
    value, and two cohorts are never compared by content. ``y_true`` and ``y_score`` are
    read-only so that no step of the pipeline can alter the outcome another step sees.
    """

    features: pd.DataFrame | None
    y_true: np.ndarray
    y_score: np.ndarray | None
    groups: pd.DataFrame
    n_input_rows: int
    n_dropped: int
    caveats: tuple[Caveat, ...]

    @property
    def n_rows(self) -> int:
        """Rows that take part in the audit."""
        return int(self.y_true.shape[0])


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

    Raises
    ------
    ConfigError
        Neither or both of ``model`` and ``config.score_column`` are given.
    SchemaError
        The cohort cannot be audited as it is; the message says what to change.
    """
    if (model is None) == (config.score_column is None):
        got = "both" if model is not None else "neither"
        raise ConfigError(
            "An audit needs exactly one source of predictions: a model to run, or a score "
            f"column already in the cohort (--score-column). Got {got}. Pass a model, or "
            "set score_column, but not both."
        )
    if not isinstance(frame, pd.DataFrame):
        raise SchemaError(
            "The cohort must be a pandas DataFrame (load files with cohortaudit.io.load_cohort). "
            f"Got {type(frame).__name__} instead."
        )
    n_input = len(frame)
    if n_input == 0:
        raise SchemaError(
            f"The cohort has no rows (it has {frame.shape[1]} columns). "
            "Check that the file is the right one and that it is not just a header."
        )
    _check_duplicate_columns(frame)

    inputs: tuple[InputSpec, ...] = tuple(model.inputs) if model is not None else ()
    card_inputs = _card_inputs_by_name(card)
    _check_missing_columns(frame, config=config, inputs=inputs)

    caveats: list[Caveat] = []
    used = {config.label, *config.sensitive_features, *(spec.name for spec in inputs)}
    if config.score_column is not None:
        used.add(config.score_column)
    n_ignored = sum(1 for col in frame.columns if col not in used)
    if n_ignored:
        caveats.append(
            Caveat(
                "ignored_columns",
                "info",
                f"{n_ignored} column(s) of the cohort are not used by the model or the audit "
                "and were ignored.",
                {"n_columns": n_ignored},
            )
        )

    # --- parse every used column on all rows: fatal problems surface before anything is dropped
    y, label_missing = _parse_label(frame[config.label], config.label)
    drop_reasons: list[tuple[str, np.ndarray, str, dict[str, Any]]] = []
    drop_reasons.append(
        (
            "missing_label",
            label_missing,
            f"had no value in the label column '{config.label}'",
            {"column": config.label},
        )
    )

    score: np.ndarray | None = None
    if config.score_column is not None:
        score, score_missing = _parse_score(frame[config.score_column], config.score_column)
        drop_reasons.append(
            (
                "missing_score",
                score_missing,
                f"had no value in the score column '{config.score_column}'",
                {"column": config.score_column},
            )
        )

    # Category labels of a column are needed up to three times (string input, card categories,
    # subgroups); factorising a million rows is the costly step, so do it once per column.
    label_cache: dict[Any, tuple[np.ndarray, np.ndarray]] = {}

    def labels_of(column: Any) -> tuple[np.ndarray, np.ndarray]:
        if column not in label_cache:
            label_cache[column] = _to_labels(frame[column])
        return label_cache[column]

    parsed_inputs: dict[str, _ParsedInput] = {}
    for spec in inputs:
        if spec.name not in parsed_inputs:
            parsed_inputs[spec.name] = _parse_input(
                frame[spec.name],
                spec,
                card_inputs.get(spec.name),
                labelled=labels_of(spec.name) if spec.kind == "string" else None,
            )
    required_missing = {
        name: p.missing for name, p in parsed_inputs.items() if not p.keep_missing and p.n_missing
    }
    if required_missing:
        any_missing = np.logical_or.reduce(list(required_missing.values()))
        per_column = {name: int(m.sum()) for name, m in required_missing.items()}
        drop_reasons.append(
            (
                "missing_inputs",
                any_missing,
                "had missing (or infinite) values in model inputs the model needs ("
                + ", ".join(f"'{c}': {n}" for c, n in per_column.items())
                + ")",
                {"columns": per_column},
            )
        )

    binned = {col: _parse_binned(frame[col], col, config.bins[col]) for col in config.bins}

    # --- drop rows
    drop = np.zeros(n_input, dtype=bool)
    for _, mask, _, _ in drop_reasons:
        drop |= mask
    n_dropped = int(drop.sum())
    if n_dropped * 1.0 > MAX_DROP_FRACTION * n_input:
        details = "; ".join(
            f"{int(mask.sum())} {text}" for _, mask, text, _ in drop_reasons if mask.any()
        )
        raise SchemaError(
            f"Validation would drop {n_dropped} of {n_input} rows ({_pct(n_dropped, n_input)}), "
            f"more than half of the cohort: {details}. What is left would not represent the "
            "cohort. Fill in or impute the missing values before the audit, or check that the "
            "columns are the right ones."
        )
    for code, mask, text, where in drop_reasons:
        n = int(mask.sum())
        if n:
            severity = "serious" if n > SERIOUS_DROP_FRACTION * n_input else "warning"
            caveats.append(
                Caveat(
                    code,
                    severity,
                    f"{n} of {n_input} rows ({_pct(n, n_input)}) {text}; they were left out "
                    "of the audit.",
                    {**where, "n_rows": n},
                )
            )
    keep = ~drop

    y_kept = y[keep].astype(np.int8)
    _check_both_classes(y_kept, config.label, n_dropped)

    features: pd.DataFrame | None = None
    if model is not None:
        features, feature_caveats = _build_features(
            inputs, parsed_inputs, card_inputs, keep, labels_of, min_cell=config.min_cell
        )
        caveats.extend(feature_caveats)
    groups, group_caveats = _build_groups(frame, config, keep, binned, labels_of)
    caveats.extend(group_caveats)

    y_true_out = np.ascontiguousarray(y_kept)
    y_true_out.setflags(write=False)
    y_score_out = None
    if score is not None:
        y_score_out = np.ascontiguousarray(score[keep], dtype=np.float64)
        y_score_out.setflags(write=False)
    return Cohort(
        features=features,
        y_true=y_true_out,
        y_score=y_score_out,
        groups=groups,
        n_input_rows=n_input,
        n_dropped=n_dropped,
        caveats=tuple(caveats),
    )


def _build_features(
    inputs: Sequence[InputSpec],
    parsed_inputs: Mapping[str, _ParsedInput],
    card_inputs: Mapping[str, CardInput],
    keep: np.ndarray,
    labels_of: Callable[[Any], tuple[np.ndarray, np.ndarray]],
    *,
    min_cell: int,
) -> tuple[pd.DataFrame, list[Caveat]]:
    """The typed model-input frame for the kept rows, in model-input order, with card caveats.

    The card caveats (optional inputs left missing, out-of-range values, unseen categories) keep
    the rows but tell the reader where the model runs outside what its card describes.
    """
    caveats: list[Caveat] = []
    columns: dict[str, pd.Series] = {}
    optional_missing: dict[str, int] = {}
    for spec in inputs:
        p = parsed_inputs[spec.name]
        columns[spec.name] = p.take(keep)
        n_kept_missing = int(p.missing[keep].sum()) if p.keep_missing else 0
        if n_kept_missing:
            optional_missing[spec.name] = n_kept_missing
    features = pd.DataFrame(columns)
    n_kept = int(keep.sum())
    if optional_missing:
        caveats.append(
            Caveat(
                "missing_optional_inputs",
                "info",
                "Some inputs the model card marks as not required have missing values; "
                "the rows were kept and the model is given NaN for them ("
                + ", ".join(
                    f"'{c}': {n} rows ({_pct(n, n_kept)})" for c, n in optional_missing.items()
                )
                + ").",
                {"columns": optional_missing},
            )
        )
    for spec in inputs:
        card_input = card_inputs.get(spec.name)
        if card_input is None:
            continue
        p = parsed_inputs[spec.name]
        caveat = _out_of_range_caveat(spec.name, p, card_input, keep)
        if caveat is not None:
            caveats.append(caveat)
        categories = getattr(card_input, "categories", None)
        if categories is not None:
            caveat = _unseen_category_caveat(
                labels_of(spec.name), spec.name, categories, keep, min_cell=min_cell
            )
            if caveat is not None:
                caveats.append(caveat)

    return features, caveats


def _build_groups(
    frame: pd.DataFrame,
    config: AuditConfig,
    keep: np.ndarray,
    binned: Mapping[str, _Binned],
    labels_of: Callable[[Any], tuple[np.ndarray, np.ndarray]],
) -> tuple[pd.DataFrame, list[Caveat]]:
    """One column of string group labels per sensitive feature (config order), kept rows only."""
    caveats: list[Caveat] = []
    group_columns: dict[str, pd.Series] = {}
    for col in config.sensitive_features:
        if col in binned:
            labels, column_caveats = _bin_labels(binned[col], col, config.bins[col], keep)
        else:
            labels, column_caveats = _category_labels(
                labels_of(col), col, keep, numeric=_is_plain_numeric(frame[col])
            )
        caveats.extend(column_caveats)
        reference = config.reference.get(col)
        present = sorted(set(labels.tolist()))
        if reference is not None and reference not in present:
            raise SchemaError(
                f"The reference group '{reference}' for the sensitive feature '{col}' does not "
                f"occur in the cohort. Groups present: {present}. "
                f"Pass --reference {col}=<one of these>, or leave it out to use the largest group."
            )
        if len(present) == 1:
            caveats.append(
                Caveat(
                    "single_group",
                    "warning",
                    f"The sensitive feature '{col}' has a single group in this cohort, so there "
                    "is nothing to compare it with.",
                    {"column": col},
                )
            )
        group_columns[col] = (
            pd.Series(labels)
            if isinstance(labels, pd.Categorical)
            else pd.Series(labels, dtype=object)
        )
    groups = pd.DataFrame(group_columns, index=pd.RangeIndex(int(keep.sum())))
    return groups, caveats


# --------------------------------------------------------------------------------------------
# column-level checks
# --------------------------------------------------------------------------------------------


def _check_duplicate_columns(frame: pd.DataFrame) -> None:
    """Refuse repeated column names: ``frame[name]`` would silently pick a frame, not a column."""
    counts = pd.Series(frame.columns).value_counts(sort=False)
    dups = counts[counts > 1]
    if len(dups):
        listed = ", ".join(f"'{name}' ({int(n)} times)" for name, n in dups.items())
        raise SchemaError(
            f"The cohort has duplicate column names: {listed}. Each column name must be unique; "
            "rename or remove the duplicates."
        )


def _check_missing_columns(
    frame: pd.DataFrame, *, config: AuditConfig, inputs: Sequence[InputSpec]
) -> None:
    """Report every missing column at once, so the user fixes the file in one go.

    Called by every engine (in memory, streamed, dask) before anything is read, so the check of
    the columns' roles lives here too.
    """
    _check_roles(config=config, inputs=inputs)
    available = [str(c) for c in frame.columns]
    present = set(frame.columns)
    roles: dict[str, list[str]] = {}

    def need(name: str, role: str) -> None:
        if name not in present:
            roles.setdefault(name, []).append(role)

    need(config.label, "label")
    if config.score_column is not None:
        need(config.score_column, "score column")
    for spec in inputs:
        need(spec.name, "model input")
    for col in config.sensitive_features:
        need(col, "sensitive feature")
    if not roles:
        return

    parts = []
    for name, role_list in roles.items():
        text = f"'{name}' ({' and '.join(dict.fromkeys(role_list))})"
        close = _close_matches(name, available)
        if close:
            text += " -- did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
        parts.append(text)
    all_roles = {r for role_list in roles.values() for r in role_list}
    todo = []
    if "label" in all_roles:
        todo.append("pass --label COLUMN")
    if "score column" in all_roles:
        todo.append("pass --score-column COLUMN")
    if "sensitive feature" in all_roles:
        todo.append("pass --sensitive with the right names")
    if "model input" in all_roles:
        todo.append("rename the cohort columns to the names the model expects")
    shown = available[:_MAX_LISTED_COLUMNS]
    more = len(available) - len(shown)
    listing = repr(shown)[:-1] + (f", ... and {more} more]" if more else "]")
    raise SchemaError(
        f"The cohort is missing {len(roles)} required column(s): {'; '.join(parts)}. "
        f"Available columns ({len(available)}): {listing}. "
        f"Rename the column in the cohort, or {', or '.join(todo)}."
    )


def _check_roles(*, config: AuditConfig, inputs: Sequence[InputSpec]) -> None:
    """Refuse a label that the model also reads (label = score column is a ConfigError).

    A model given the outcome as an input scores the answer it is meant to predict: every
    metric would look excellent and mean nothing, so this is a usage error, not a caveat.
    """
    if config.label in {spec.name for spec in inputs}:
        raise SchemaError(
            f"The label column '{config.label}' is one of the model's inputs: the model would "
            "be given the outcome it is meant to predict, and every metric would be "
            "meaningless. Pass --label with the outcome column (not a model input)."
        )


def _close_matches(name: str, available: Sequence[str]) -> list[str]:
    """Column names that differ from ``name`` only by case or a typo (names are not row data)."""
    lower = {a.lower(): a for a in available}
    if name.lower() in lower:
        return [lower[name.lower()]]
    hits = difflib.get_close_matches(name.lower(), list(lower), n=2, cutoff=0.8)
    return [lower[h] for h in hits]


def _check_both_classes(y: np.ndarray, label: str, n_dropped: int) -> None:
    """AUROC, sensitivity and calibration all need events *and* non-events."""
    n = int(y.shape[0])
    n_events = int(y.sum())
    n_non = n - n_events
    after = f" (after dropping {n_dropped} rows)" if n_dropped else ""
    if n_events == 0 or n_non == 0:
        only = "1 (event)" if n_events else "0 (no event)"
        raise SchemaError(
            f"The label column '{label}' has only one outcome, {only}, in all {n} rows{after}. "
            "The audit needs both outcomes; AUROC, sensitivity and specificity are undefined "
            "otherwise. Check the label column, or use a cohort that includes both outcomes."
        )
    if n_events < MIN_PER_CLASS or n_non < MIN_PER_CLASS:
        raise SchemaError(
            f"The label column '{label}' has {n_events} events and {n_non} non-events in {n} "
            f"rows{after}; at least {MIN_PER_CLASS} of each are needed for any metric to be "
            "defined. Use a larger cohort."
        )


# --------------------------------------------------------------------------------------------
# value parsing (vectorised: factorise, interpret the distinct values, map back)
# --------------------------------------------------------------------------------------------


def _factorize(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes per row (-1 for NA) and the distinct values as a plain numpy array."""
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable cells: a Parquet struct / list / map column
        raise SchemaError(
            f"The cohort column '{series.name}' holds nested values (a Parquet struct, list or "
            "map column), which the audit cannot use as a label, score, sensitive attribute or "
            "model input. Flatten it into plain columns (one value per row), or use another "
            "column. Unused nested columns are ignored."
        ) from None
    values = np.asarray(uniques)
    if values.dtype.kind not in "biuf":
        values = np.asarray(uniques, dtype=object)
    return np.asarray(codes, dtype=np.intp), values


def _take(per_unique: np.ndarray, codes: np.ndarray, na: Any) -> np.ndarray:
    """Map per-distinct-value results back to rows; code -1 (NA) gets ``na``."""
    extended = np.append(per_unique, np.array([na], dtype=per_unique.dtype))
    return extended[codes]


def _dtype_name(series: pd.Series) -> str:
    return str(series.dtype)


def _parse_numeric(series: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a column as float64, accepting numbers stored as text.

    Returns ``(values, missing, unparseable)``: ``values`` is NaN wherever the row is missing or
    unparseable and keeps infinities (callers decide what infinity means); ``missing`` marks NA
    and blank or "NA"-like text; ``unparseable`` marks text that is not a number.
    """
    n = len(series)
    if is_bool_dtype(series.dtype) or is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return values, np.isnan(values), np.zeros(n, dtype=bool)
    codes, uniques = _factorize(series)
    if uniques.dtype.kind in "biuf":  # e.g. a categorical column with numeric categories
        values = _take(uniques.astype(np.float64), codes, np.nan)
        return values, np.isnan(values), np.zeros(n, dtype=bool)
    cleaned = np.empty(len(uniques), dtype=object)
    blank = np.zeros(len(uniques), dtype=bool)
    for i, value in enumerate(uniques):
        if isinstance(value, str):
            text = value.strip()
            cleaned[i] = text
            blank[i] = text.lower() in _NA_TOKENS
        else:
            cleaned[i] = value
    numbers = pd.to_numeric(pd.Series(cleaned, dtype=object), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan, copy=True
    )
    numbers[blank] = np.nan
    bad_unique = np.isnan(numbers) & ~blank
    values = _take(numbers, codes, np.nan)
    missing = _take(blank, codes, True)
    unparseable = _take(bad_unique, codes, False)
    return values, missing, unparseable


def _parse_label(series: pd.Series, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Read the outcome as float64 0/1 (NaN where missing); anything else non-binary is fatal.

    Accepts numbers 0/1, booleans and the text "0"/"1"/"true"/"false" (any case), because those
    are the encodings CSV and Parquet exports actually produce. Guessing more ("yes", "dead")
    would risk flipping the outcome silently.
    """
    if is_bool_dtype(series.dtype) or is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(values)
        bad = ~missing & (values != 0) & (values != 1)
        n_bad = int(bad.sum())
        n_distinct = int(pd.unique(values[bad]).shape[0]) if n_bad else 0
    else:
        codes, uniques = _factorize(series)
        per_unique = np.full(len(uniques), np.nan)
        blank = np.zeros(len(uniques), dtype=bool)
        bad_unique = np.zeros(len(uniques), dtype=bool)
        for i, value in enumerate(uniques):
            parsed = _label_value(value)
            if parsed is None:
                blank[i] = True
            elif math.isnan(parsed):
                bad_unique[i] = True
            else:
                per_unique[i] = parsed
        values = _take(per_unique, codes, np.nan)
        missing = _take(blank, codes, True)
        bad = _take(bad_unique, codes, False)
        n_bad = int(bad.sum())
        n_distinct = int(np.unique(codes[bad]).shape[0]) if n_bad else 0
    if n_bad:
        raise SchemaError(
            f"The label column '{label}' must be binary, but {n_bad} of {len(series)} rows have "
            f"other values ({n_distinct} distinct non-binary values; column type "
            f"{_dtype_name(series)}). Expected 0/1, True/False or the text '0'/'1'/'true'/'false'. "
            "Recode the outcome as 0/1 (1 = the event), or pass --label with the right column."
        )
    return values, missing


def _label_value(value: Any) -> float | None:
    """0.0/1.0 for a binary value, None for blank text, NaN for anything else."""
    if isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value) if value in (0, 1) else math.nan
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE_TOKENS:
            return 1.0
        if text in _FALSE_TOKENS:
            return 0.0
        if text in _NA_TOKENS:
            return None
    return math.nan


def _parse_score(series: pd.Series, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Read precomputed risks; they must be probabilities, which the metrics assume throughout."""
    values, missing, unparseable = _parse_numeric(series)
    n_bad = int(unparseable.sum())
    if n_bad:
        raise SchemaError(
            f"The score column '{column}' must be numeric, but {n_bad} of {len(series)} rows are "
            f"not numbers (column type {_dtype_name(series)}). Expected predicted risks in [0, 1]; "
            "check that --score-column names the column of predictions."
        )
    outside = ~missing & ~((values >= 0) & (values <= 1))
    n_out = int(outside.sum())
    if n_out:
        raise SchemaError(
            f"The score column '{column}' must hold predicted risks in [0, 1], but {n_out} of "
            f"{len(series)} rows are outside that range. The column may hold logits or "
            "percentages: convert logits with 1/(1+exp(-x)) or divide percentages by 100."
        )
    return values, missing


@dataclass(frozen=True)
class _ParsedInput:
    """One model input read on all rows, before rows are dropped."""

    name: str
    kind: str
    values: np.ndarray  # float64 (numeric kinds) or object str with None (string kind)
    missing: np.ndarray  # rows without a usable value
    keep_missing: bool  # True: keep rows, give the model NaN (optional float inputs)

    @property
    def n_missing(self) -> int:
        return int(self.missing.sum())

    def take(self, keep: np.ndarray) -> pd.Series:
        """The typed column for the kept rows."""
        kept = self.values[keep]
        if self.kind == "float":
            return pd.Series(kept, dtype=np.float64)
        if self.kind == "int":
            return pd.Series(kept.astype(np.int64), dtype=np.int64)
        return pd.Series(kept, dtype=object)


def _expected_type(kind: str, card_input: CardInput | None) -> str:
    base = "integer" if kind == "int" else "numeric"
    unit = getattr(card_input, "unit", None)
    return f"{base} ({unit})" if unit else base


def _parse_input(
    series: pd.Series,
    spec: InputSpec,
    card_input: CardInput | None,
    *,
    labelled: tuple[np.ndarray, np.ndarray] | None = None,
) -> _ParsedInput:
    """Read one model input as the type the model expects; unusable values are fatal."""
    name, kind = spec.name, spec.kind
    optional = card_input is not None and getattr(card_input, "required", True) is False
    if kind == "string":
        codes, labels = labelled if labelled is not None else _to_labels(series)
        values = _take(labels, codes, None)
        missing = codes < 0
        # A missing category cannot be represented safely for the model: always drop.
        return _ParsedInput(name, kind, values, missing, keep_missing=False)

    values, missing, unparseable = _parse_numeric(series)
    n_bad = int(unparseable.sum())
    if n_bad and spec.assumed:
        raise SchemaError(
            f"The model input '{name}' holds text in {n_bad} of {len(series)} rows (column type "
            f"{_dtype_name(series)}), but nothing says it is categorical: a skops model does not "
            "record the types of its inputs, and without a model card that declares them every "
            f"input is taken as numeric. This model needs a model card (--card) that declares "
            f"'{name}' with 'type: categorical'. Write one with 'cohortaudit card init --model "
            "MODEL.skops --data DEVELOPMENT.csv --label LABEL --out model.card.yaml', check it, "
            "then pass --card model.card.yaml."
        )
    if n_bad:
        raise SchemaError(
            f"The model input '{name}' must be {_expected_type(kind, card_input)}, but {n_bad} of "
            f"{len(series)} rows hold values that are not numbers (column type "
            f"{_dtype_name(series)}). Clean the column (e.g. remove units or text codes) or "
            "leave those cells empty."
        )
    infinite = np.isinf(values)
    if infinite.any():
        values = np.where(infinite, np.nan, values)
        missing = missing | infinite
    if kind == "int":
        finite = ~missing
        n_fraction = int((finite & (values != np.floor(values))).sum())
        if n_fraction:
            raise SchemaError(
                f"The model input '{name}' must be {_expected_type(kind, card_input)}, but "
                f"{n_fraction} of {len(series)} rows have a fractional part. The model takes "
                "whole numbers here: check the column, or round it if that is what the model's "
                "developers intended."
            )
        n_huge = int((finite & (np.abs(values) >= _INT64_LIMIT)).sum())
        if n_huge:
            raise SchemaError(
                f"The model input '{name}' must be {_expected_type(kind, card_input)}, but "
                f"{n_huge} of {len(series)} rows are too large for a 64-bit integer."
            )
        # int64 cannot hold NaN, so missing values always drop the row.
        return _ParsedInput(name, kind, values, missing, keep_missing=False)
    return _ParsedInput(name, kind, values, missing, keep_missing=optional)


# --------------------------------------------------------------------------------------------
# labels for categories and groups
# --------------------------------------------------------------------------------------------


def _to_labels(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Turn a column into category labels: codes per row (-1 = missing) and distinct labels.

    Numbers become text without a trailing ".0" (3.0 -> "3") so that a category coded 3 in one
    export and 3.0 in another is the same category; text is stripped of surrounding blanks;
    blank text and non-finite numbers count as missing.
    """
    codes, uniques = _factorize(series)
    texts = _format_values(uniques)
    label_codes, labels = pd.factorize(texts, use_na_sentinel=True)
    labels = np.asarray(labels, dtype=object)
    row_codes = _take(np.asarray(label_codes, dtype=np.intp), codes, -1)
    return row_codes, labels


def _format_values(values: np.ndarray) -> np.ndarray:
    """Label text for each distinct value (object array; None where the value is missing)."""
    out = np.empty(len(values), dtype=object)
    kind = values.dtype.kind
    if kind == "b":
        out[:] = np.where(values, "True", "False").astype(object)
        return out
    if kind in "iu":
        out[:] = values.astype(str).astype(object)
        return out
    if kind == "f":
        finite = np.isfinite(values)
        whole = finite & (values == np.floor(values)) & (np.abs(values) < _EXACT_INT_LIMIT)
        frac = finite & ~whole
        out[whole] = values[whole].astype(np.int64).astype(str).astype(object)
        out[frac] = values[frac].astype(str).astype(object)
        return out
    for i, value in enumerate(values):
        out[i] = _format_value(value)
    return out


def _format_value(value: Any) -> str | None:
    if isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return None
        if float(value).is_integer() and abs(value) < _EXACT_INT_LIMIT:
            return str(int(value))
        return repr(float(value))
    text = str(value).strip()
    return text or None


def _format_edge(edge: float) -> str:
    """Compact bin edge: 18 rather than 18.0, but 2.5 stays 2.5."""
    edge = float(edge)
    if edge.is_integer() and abs(edge) < _EXACT_INT_LIMIT:
        return str(int(edge))
    return repr(edge)


def ordered_bin_labels(edges: Sequence[float]) -> list[str]:
    """The group labels of a binned attribute from its lowest values to its highest:
    ``["< 40", "[40, 50)", ..., "[70, 80]", "> 80"]`` (rows without a value are apart)."""
    first, last = _format_edge(edges[0]), _format_edge(edges[-1])
    return [f"< {first}", *_bin_names(edges), f"> {last}"]


def _bin_names(edges: Sequence[float]) -> list[str]:
    """Labels of the bins between the edges: half-open, the last one closed."""
    e = [_format_edge(x) for x in edges]
    names = [f"[{a}, {b})" for a, b in zip(e[:-2], e[1:-1], strict=True)]
    names.append(f"[{e[-2]}, {e[-1]}]")
    return names


@dataclass(frozen=True)
class _Binned:
    values: np.ndarray  # float64, NaN where missing
    missing: np.ndarray


def _parse_binned(series: pd.Series, column: str, edges: Sequence[float]) -> _Binned:
    """A feature with bins must be numeric; checked on all rows, before any row is dropped."""
    values, missing, unparseable = _parse_numeric(series)
    n_bad = int(unparseable.sum())
    if n_bad:
        spec = ",".join(_format_edge(x) for x in edges)
        raise SchemaError(
            f"The sensitive feature '{column}' has bins ({spec}), so it must be numeric, but "
            f"{n_bad} of {len(series)} rows are not numbers (column type "
            f"{_dtype_name(series)}). Clean the column, or drop --bins {column}=... to treat "
            "its values as categories."
        )
    infinite = np.isinf(values)
    if infinite.any():
        values = np.where(infinite, np.nan, values)
        missing = missing | infinite
    return _Binned(values, missing)


def _bin_labels(
    binned: _Binned, column: str, edges: Sequence[float], keep: np.ndarray
) -> tuple[pd.Categorical, list[Caveat]]:
    """Group labels of a binned feature for the kept rows, with caveats for unusual rows."""
    values = binned.values[keep]
    missing = binned.missing[keep]
    edges_arr = np.asarray(edges, dtype=np.float64)
    first, last = _format_edge(edges_arr[0]), _format_edge(edges_arr[-1])
    in_order = ordered_bin_labels(edges_arr)
    names = [*in_order[1:-1], in_order[0], in_order[-1], MISSING_GROUP]
    n_bins = len(edges_arr) - 1
    idx = np.searchsorted(edges_arr, values, side="right") - 1
    idx = np.where(values == edges_arr[-1], n_bins - 1, idx)  # the last bin is closed
    below = ~missing & (values < edges_arr[0])
    above = ~missing & (values > edges_arr[-1])
    idx = np.where(below, n_bins, idx)
    idx = np.where(above, n_bins + 1, idx)
    idx = np.where(missing, n_bins + 2, idx)
    # an ordered categorical, so that tables and plots list bins in numeric order
    # ("< 40", "[40, 50)", ..., "> 80") rather than as text
    order = [n_bins, *range(n_bins), n_bins + 1, n_bins + 2]  # "< first", bins, "> last", missing
    present = np.bincount(idx, minlength=n_bins + 3) > 0
    kept = [i for i in order if present[i]]
    code_of = np.full(n_bins + 3, -1, dtype=np.int64)
    code_of[kept] = np.arange(len(kept))
    labels = pd.Categorical.from_codes(
        code_of[idx], categories=[names[i] for i in kept], ordered=True
    )

    caveats: list[Caveat] = []
    n = int(values.shape[0])
    outside = _outside_bins_caveat(column, first, last, int(below.sum()), int(above.sum()))
    if outside is not None:
        caveats.append(outside)
    n_missing = int(missing.sum())
    if n_missing:
        caveats.append(_missing_sensitive_caveat(column, n_missing, n))
    return labels, caveats


def _outside_bins_caveat(
    column: str, first: str, last: str, n_below: int, n_above: int
) -> Caveat | None:
    """The warning for values beyond a binned feature's edges (None when there are none)."""
    if not (n_below or n_above):
        return None
    parts = []
    if n_below:
        parts.append(f"{n_below} rows are below the first edge and form the group '< {first}'")
    if n_above:
        parts.append(f"{n_above} rows are above the last edge and form the group '> {last}'")
    return Caveat(
        "outside_bins",
        "warning",
        f"The sensitive feature '{column}' has values outside its bins: "
        + "; ".join(parts)
        + f". Widen the bins (--bins {column}=...) to include them in a regular bin.",
        {"column": column, "n_below": n_below, "n_above": n_above},
    )


def _is_plain_numeric(series: pd.Series) -> bool:
    return is_numeric_dtype(series.dtype) and not is_bool_dtype(series.dtype)


def _category_labels(
    labelled: tuple[np.ndarray, np.ndarray], column: str, keep: np.ndarray, *, numeric: bool
) -> tuple[np.ndarray, list[Caveat]]:
    """Group labels of an unbinned feature for the kept rows; too many groups is fatal.

    ``labelled`` is the column's ``_to_labels`` result; ``numeric`` says whether the column has
    a numeric dtype, which makes many distinct values a sign of a continuous feature.
    """
    codes, labels = labelled
    codes = codes[keep]
    counts = np.bincount(codes[codes >= 0], minlength=len(labels))
    n_distinct = int((counts > 0).sum())
    if numeric and n_distinct > MAX_UNBINNED_NUMERIC_GROUPS:
        raise SchemaError(
            f"The sensitive feature '{column}' is numeric with {n_distinct} distinct values; it "
            f"looks continuous, and more than {MAX_UNBINNED_NUMERIC_GROUPS} groups would each be "
            f"too small to audit. Pass bins for it, e.g. --bins {column}=18,40,65,80 (choose "
            "edges that make sense for this feature)."
        )
    if n_distinct > MAX_GROUPS:
        raise SchemaError(
            f"The sensitive feature '{column}' has {n_distinct} distinct values; at most "
            f"{MAX_GROUPS} groups can be audited per feature. Merge rare values into broader "
            "groups before the audit, or check that this is the right column."
        )
    caveats: list[Caveat] = []
    n_missing = int((codes < 0).sum())
    labels, codes = _with_missing_group(labels, codes, counts, column)
    if n_missing:
        caveats.append(_missing_sensitive_caveat(column, n_missing, int(codes.shape[0])))
    return labels[codes], caveats


def _with_missing_group(
    labels: np.ndarray, codes: np.ndarray, counts: np.ndarray, column: str
) -> tuple[np.ndarray, np.ndarray]:
    """Give rows without a value (code -1) the group :data:`MISSING_GROUP`.

    A real category spelled "missing" is a group of its own, never merged with rows that have
    no value; a column that holds the text of :data:`MISSING_GROUP` itself is refused, so the
    two can never meet (not here, and not when site files are pooled).
    """
    present = labels[counts > 0].tolist()  # counts: rows per label (np.bincount of codes)
    if MISSING_GROUP in present:
        raise SchemaError(
            f"The sensitive feature '{column}' has a category spelled '{MISSING_GROUP}', the "
            "name cohortaudit gives to rows without a value; the two would be merged. Rename "
            "that category in the cohort (or leave those cells empty if they mean 'no value')."
        )
    missing = codes < 0
    if not missing.any():
        return labels, codes
    labels = np.append(labels, np.array([MISSING_GROUP], dtype=object))
    return labels, np.where(missing, len(labels) - 1, codes)


def _missing_sensitive_caveat(column: str, n_missing: int, n: int) -> Caveat:
    severity = "serious" if n_missing > SERIOUS_DROP_FRACTION * n else "warning"
    return Caveat(
        "missing_sensitive",
        severity,
        f"{n_missing} of {n} rows ({_pct(n_missing, n)}) have no value for the sensitive feature "
        f"'{column}'; they are audited as their own group '{MISSING_GROUP}'.",
        {"column": column, "n_rows": n_missing},
    )


# --------------------------------------------------------------------------------------------
# model-card checks (survivable: the rows are kept, the report says the model is off its card)
# --------------------------------------------------------------------------------------------


def _card_inputs_by_name(card: ModelCard | None) -> dict[str, CardInput]:
    if card is None:
        return {}
    inputs: Iterable[CardInput] = getattr(card, "inputs", ()) or ()
    return {ci.name: ci for ci in inputs}


def _out_of_range_caveat(
    name: str, parsed: _ParsedInput, card_input: CardInput, keep: np.ndarray
) -> Caveat | None:
    """Values outside the card's declared range: the model was not developed on them."""
    if parsed.kind == "string":
        return None
    low = getattr(card_input, "min", None)
    high = getattr(card_input, "max", None)
    if low is None and high is None:
        return None
    values = parsed.values[keep]
    with np.errstate(invalid="ignore"):
        n_below = int((values < float(low)).sum()) if low is not None else 0
        n_above = int((values > float(high)).sum()) if high is not None else 0
    n_out = n_below + n_above
    if not n_out:
        return None
    unit = getattr(card_input, "unit", None)
    lo = _format_edge(low) if low is not None else "-inf"
    hi = _format_edge(high) if high is not None else "inf"
    rng = f"[{lo}, {hi}]" + (f" {unit}" if unit else "")
    n = int(values.shape[0])
    return Caveat(
        "out_of_range",
        "warning",
        f"The model input '{name}' has {n_out} of {n} rows ({_pct(n_out, n)}) outside the range "
        f"the model card declares, {rng} ({n_below} below, {n_above} above). The rows were "
        "kept, but the model was not developed on such values: treat their predictions with care.",
        {
            "column": name,
            "n_rows": n_out,
            "n_below": n_below,
            "n_above": n_above,
            "min": None if low is None else float(low),
            "max": None if high is None else float(high),
        },
    )


def _unseen_category_caveat(
    labelled: tuple[np.ndarray, np.ndarray],
    name: str,
    categories: Iterable[Any],
    keep: np.ndarray,
    *,
    min_cell: int,
) -> Caveat | None:
    """Categories the card does not list: the model never saw them.

    Category labels are not row values, but a "category" column can hold free text, so a label
    is only named if it is short and shared by at least ``max(10, min_cell)`` rows.
    """
    codes, labels = labelled
    codes = codes[keep]
    counts = np.bincount(codes[codes >= 0], minlength=len(labels))
    known = {str(c) for c in categories}
    unseen = np.array([lab not in known for lab in labels.tolist()], dtype=bool) & (counts > 0)
    if not unseen.any():
        return None
    n_rows = int(counts[unseen].sum())
    n_distinct = int(unseen.sum())
    threshold = max(10, int(min_cell))
    order = np.argsort(-counts, kind="stable")
    nameable = [
        str(labels[i])
        for i in order
        if unseen[i] and counts[i] >= threshold and len(str(labels[i])) <= _MAX_LISTED_LABEL_LENGTH
    ][:_MAX_LISTED_CATEGORIES]
    named = f" Most frequent: {', '.join(repr(x) for x in nameable)}." if nameable else ""
    n = int(codes.shape[0])
    return Caveat(
        "unseen_category",
        "warning",
        f"The model input '{name}' has {n_rows} of {n} rows ({_pct(n_rows, n)}) with "
        f"{n_distinct} distinct categories the model card does not list.{named} The rows were "
        "kept, but the model never saw these categories: treat their predictions with care.",
        {
            "column": name,
            "n_rows": n_rows,
            "n_distinct": n_distinct,
            "categories": nameable,
        },
    )


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "0.0%"
