"""Read cohort columns as the audit needs them: the parsers every engine validates with.

Vectorised: a column is factorised once and its (few) distinct values are interpreted in
Python, so a million rows parse in well under a second. A parser raises
:class:`~cohortaudit.errors.SchemaError` for what makes the audit meaningless (a label that is
not binary, text in a numeric input, scores outside [0, 1]) and returns per-row masks for what
is survivable (missing values), so the validator can drop rows and count them in caveats.
Messages name columns, counts and types, never row values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from cohortaudit.errors import SchemaError

if TYPE_CHECKING:
    from cohortaudit.intake.card import CardInput
    from cohortaudit.modelspec import InputSpec

__all__ = [
    "Binned",
    "ParsedInput",
    "bin_names",
    "format_edge",
    "is_plain_numeric",
    "ordered_bin_labels",
    "parse_binned",
    "parse_event",
    "parse_input",
    "parse_label",
    "parse_score",
    "parse_time",
    "to_labels",
]

#: Text that stands for "no value" where a number is expected (compared lower-case, stripped).
_NA_TOKENS = frozenset({"", "nan", "-nan", "na", "n/a", "nat", "null", "none", "<na>"})
_TRUE_TOKENS = frozenset({"1", "1.0", "true"})
_FALSE_TOKENS = frozenset({"0", "0.0", "false"})
#: Integers beyond this magnitude do not survive a round trip through float64.
_EXACT_INT_LIMIT = 2.0**53
_INT64_LIMIT = 2.0**63


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


def parse_label(series: pd.Series, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Read the outcome as float64 0/1 (NaN where missing); anything else non-binary is fatal.

    Accepts numbers 0/1, booleans and the text "0"/"1"/"true"/"false" (any case), because those
    are the encodings CSV and Parquet exports actually produce. Guessing more ("yes", "dead")
    would risk flipping the outcome silently.
    """
    values, missing, n_bad, n_distinct = _parse_binary(series)
    if n_bad:
        raise SchemaError(
            f"The label column '{label}' must be binary, but {n_bad} of {len(series)} rows have "
            f"other values ({n_distinct} distinct non-binary values; column type "
            f"{_dtype_name(series)}). Expected 0/1, True/False or the text '0'/'1'/'true'/'false'. "
            "Recode the outcome as 0/1 (1 = the event), or pass --label with the right column."
        )
    return values, missing


def parse_event(series: pd.Series, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a time-to-event audit's event indicator as float64 0/1 (1 = the event, 0 =
    censored; NaN where missing), with the encodings :func:`parse_label` accepts.

    Any other value is fatal: a code such as 2 usually marks a competing event (death from
    another cause), and competing risks need their own estimators (a later issue), so guessing
    "censored" or "event" for it would bias every number at the horizon.
    """
    values, missing, n_bad, n_distinct = _parse_binary(series)
    if n_bad:
        raise SchemaError(
            f"The event column '{column}' must be 0/1 (1 = the event, 0 = censored), but "
            f"{n_bad} of {len(series)} rows have other values ({n_distinct} distinct values; "
            f"column type {_dtype_name(series)}). Competing events (e.g. a code 2 for death "
            "from another cause) are not supported yet. Recode the column as 0/1, or pass "
            "--event with the right column."
        )
    return values, missing


def parse_time(
    series: pd.Series, column: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read follow-up times as float64: ``(values, missing, negative, zero)`` per row.

    Text that is not a number is fatal (the column is probably the wrong one); missing and
    infinite values (``missing``), negative times and zero times are survivable: the
    validator drops those rows and counts them in caveats (nobody can be followed for less
    than no time, and a patient with zero follow-up is never at risk).
    """
    values, missing, unparseable = _parse_numeric(series)
    n_bad = int(unparseable.sum())
    if n_bad:
        raise SchemaError(
            f"The follow-up time column '{column}' must be numeric, but {n_bad} of "
            f"{len(series)} rows hold values that are not numbers (column type "
            f"{_dtype_name(series)}). Expected the time from the start of follow-up to the "
            "event or censoring, as a number in one unit (e.g. years); convert dates to "
            "durations first, or pass --time with the right column."
        )
    missing = missing | np.isinf(values)
    with np.errstate(invalid="ignore"):
        negative = ~missing & (values < 0)
        zero = ~missing & (values == 0)
    return np.where(missing, np.nan, values), missing, negative, zero


def _parse_binary(series: pd.Series) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Values 0/1 as float64 (NaN where missing or not binary), the missing mask, and the
    number of rows and distinct values that are not binary."""
    if is_bool_dtype(series.dtype) or is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(values)
        bad = ~missing & (values != 0) & (values != 1)
        n_bad = int(bad.sum())
        n_distinct = int(pd.unique(values[bad]).shape[0]) if n_bad else 0
        return values, missing, n_bad, n_distinct
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
    return values, missing, n_bad, n_distinct


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


def parse_score(series: pd.Series, column: str) -> tuple[np.ndarray, np.ndarray]:
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
class ParsedInput:
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


def parse_input(
    series: pd.Series,
    spec: InputSpec,
    card_input: CardInput | None,
    *,
    labelled: tuple[np.ndarray, np.ndarray] | None = None,
) -> ParsedInput:
    """Read one model input as the type the model expects; unusable values are fatal."""
    name, kind = spec.name, spec.kind
    optional = card_input is not None and getattr(card_input, "required", True) is False
    if kind == "string":
        codes, labels = labelled if labelled is not None else to_labels(series)
        values = _take(labels, codes, None)
        missing = codes < 0
        # A missing category cannot be represented safely for the model: always drop.
        return ParsedInput(name, kind, values, missing, keep_missing=False)

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
        return ParsedInput(name, kind, values, missing, keep_missing=False)
    return ParsedInput(name, kind, values, missing, keep_missing=optional)


# --------------------------------------------------------------------------------------------
# labels for categories and groups
# --------------------------------------------------------------------------------------------


def to_labels(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
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


def format_edge(edge: float) -> str:
    """Compact bin edge: 18 rather than 18.0, but 2.5 stays 2.5."""
    edge = float(edge)
    if edge.is_integer() and abs(edge) < _EXACT_INT_LIMIT:
        return str(int(edge))
    return repr(edge)


def ordered_bin_labels(edges: Sequence[float]) -> list[str]:
    """The group labels of a binned attribute from its lowest values to its highest:
    ``["< 40", "[40, 50)", ..., "[70, 80]", "> 80"]`` (rows without a value are apart)."""
    first, last = format_edge(edges[0]), format_edge(edges[-1])
    return [f"< {first}", *bin_names(edges), f"> {last}"]


def bin_names(edges: Sequence[float]) -> list[str]:
    """Labels of the bins between the edges: half-open, the last one closed."""
    e = [format_edge(x) for x in edges]
    names = [f"[{a}, {b})" for a, b in zip(e[:-2], e[1:-1], strict=True)]
    names.append(f"[{e[-2]}, {e[-1]}]")
    return names


@dataclass(frozen=True)
class Binned:
    """A binned sensitive feature read on all rows, before rows are dropped."""

    values: np.ndarray  # float64, NaN where missing
    missing: np.ndarray


def parse_binned(series: pd.Series, column: str, edges: Sequence[float]) -> Binned:
    """A feature with bins must be numeric; checked on all rows, before any row is dropped."""
    values, missing, unparseable = _parse_numeric(series)
    n_bad = int(unparseable.sum())
    if n_bad:
        spec = ",".join(format_edge(x) for x in edges)
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
    return Binned(values, missing)


def is_plain_numeric(series: pd.Series) -> bool:
    """Numbers but not booleans: many distinct values in such a column mean a continuous
    feature, which needs bins to be audited by group."""
    return is_numeric_dtype(series.dtype) and not is_bool_dtype(series.dtype)
