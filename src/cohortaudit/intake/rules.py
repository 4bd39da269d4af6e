"""The whole-cohort rules of validation and the words of every cohort caveat.

The validator (:mod:`cohortaudit.intake.validate`) parses chunks into counts; what needs the
whole cohort is decided here, from those counts: which columns are missing, whether both
outcomes are present, how many groups a sensitive feature has, and the text of each caveat.
One implementation, so an in-memory, streamed or Dask audit of the same cohort says exactly
the same things.

Two kinds of trouble are told apart:

* **fatal** -- the audit would be meaningless (a missing column, one outcome only, a feature
  with too many groups): a :class:`~cohortaudit.errors.SchemaError` whose message names
  columns, counts and types, never row values, because rows are patient data;
* **survivable** -- rows without a value, values outside what the card declares: a
  :class:`~cohortaudit.results.Caveat` with a count says so.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cohortaudit.config import AuditConfig
from cohortaudit.errors import SchemaError
from cohortaudit.intake.columns import bin_names, format_edge
from cohortaudit.results import Caveat

if TYPE_CHECKING:
    from cohortaudit.intake.card import CardInput, ModelCard
    from cohortaudit.modelspec import InputSpec

__all__ = [
    "MAX_DROP_FRACTION",
    "MAX_GROUPS",
    "MAX_UNBINNED_NUMERIC_GROUPS",
    "MIN_PER_CLASS",
    "MISSING_GROUP",
    "SERIOUS_DROP_FRACTION",
    "bin_groups",
    "card_inputs_by_name",
    "category_groups",
    "check_both_classes",
    "check_duplicate_columns",
    "check_missing_columns",
    "missing_sensitive_caveat",
    "out_of_range_caveat",
    "outside_bins_caveat",
    "pct",
    "unseen_category_caveat",
    "with_missing_group",
]

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


# --------------------------------------------------------------------------------------------
# columns (checked on the header, before a row is read)
# --------------------------------------------------------------------------------------------


def check_duplicate_columns(columns: Sequence[Any]) -> None:
    """Refuse repeated column names: ``frame[name]`` would silently pick a frame, not a column."""
    counts = pd.Series(list(columns)).value_counts(sort=False)
    dups = counts[counts > 1]
    if len(dups):
        listed = ", ".join(f"'{name}' ({int(n)} times)" for name, n in dups.items())
        raise SchemaError(
            f"The cohort has duplicate column names: {listed}. Each column name must be unique; "
            "rename or remove the duplicates."
        )


def check_missing_columns(
    columns: Sequence[Any], *, config: AuditConfig, inputs: Sequence[InputSpec]
) -> None:
    """Report every missing column at once, so the user fixes the file in one go.

    Called by every engine (in memory, streamed, dask) on the header, before a row is read, so
    the check of the columns' roles lives here too.
    """
    _check_roles(config=config, inputs=inputs)
    available = [str(c) for c in columns]
    present = set(columns)
    roles: dict[str, list[str]] = {}

    def need(name: str, role: str) -> None:
        if name not in present:
            roles.setdefault(name, []).append(role)

    if config.event is not None:
        need(config.event, "event column")
    else:
        need(config.label, "label")
    if config.time is not None:
        need(config.time, "follow-up time")
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
    if "event column" in all_roles:
        todo.append("pass --event COLUMN")
    if "follow-up time" in all_roles:
        todo.append("pass --time COLUMN")
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
    """Refuse an outcome (label, event or follow-up time) that the model also reads (label =
    score column is a ConfigError).

    A model given the outcome as an input scores the answer it is meant to predict: every
    metric would look excellent and mean nothing, so this is a usage error, not a caveat. The
    follow-up time is known only after the fact, so it leaks the outcome just as well.
    """
    names = {spec.name for spec in inputs}
    if config.label in names:
        raise SchemaError(
            f"The label column '{config.label}' is one of the model's inputs: the model would "
            "be given the outcome it is meant to predict, and every metric would be "
            "meaningless. Pass --label with the outcome column (not a model input)."
        )
    for role, flag, column in (
        ("event", "--event", config.event),
        ("follow-up time", "--time", config.time),
    ):
        if column is not None and column in names:
            raise SchemaError(
                f"The {role} column '{column}' is one of the model's inputs: the model would "
                "be given the outcome it is meant to predict (follow-up ends with the event), "
                f"and every metric would be meaningless. Pass {flag} with another column."
            )


def _close_matches(name: str, available: Sequence[str]) -> list[str]:
    """Column names that differ from ``name`` only by case or a typo (names are not row data)."""
    lower = {a.lower(): a for a in available}
    if name.lower() in lower:
        return [lower[name.lower()]]
    hits = difflib.get_close_matches(name.lower(), list(lower), n=2, cutoff=0.8)
    return [lower[h] for h in hits]


def check_both_classes(y: np.ndarray, label: str, n_dropped: int) -> None:
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
# sensitive features: groups
# --------------------------------------------------------------------------------------------


def bin_groups(
    idx: np.ndarray, column: str, edges: Sequence[float]
) -> tuple[pd.Categorical, list[Caveat]]:
    """Group labels of a binned feature from each row's bin index, with their caveats.

    ``idx`` counts the bins 0..n_bins-1, then n_bins for "< first", n_bins+1 for "> last" and
    n_bins+2 for rows without a value. The labels are an ordered categorical, so tables and
    plots list bins in numeric order ("< 40", "[40, 50)", ..., "> 80") rather than as text.
    """
    e = np.asarray(edges, dtype=np.float64)
    first, last = format_edge(e[0]), format_edge(e[-1])
    names = [*bin_names(e), f"< {first}", f"> {last}", MISSING_GROUP]
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
    outside = outside_bins_caveat(column, first, last, n_below, n_above)
    if outside is not None:
        caveats.append(outside)
    if n_missing:
        caveats.append(missing_sensitive_caveat(column, n_missing, n))
    return labels, caveats


def category_groups(
    labels: np.ndarray, codes: np.ndarray, col: str, *, numeric: bool | None
) -> tuple[pd.Categorical, list[Caveat]]:
    """Group labels of an unbinned feature (``codes`` into ``labels``, -1 = no value) as a
    categorical with sorted categories; too many groups is fatal.

    ``numeric`` says whether the column has a numeric dtype, which makes many distinct
    values a sign of a continuous feature (None: every value missing, nothing to judge).
    """
    counts = np.bincount(codes[codes >= 0], minlength=len(labels))
    n_distinct = int((counts > 0).sum())
    if numeric and n_distinct > MAX_UNBINNED_NUMERIC_GROUPS:
        raise SchemaError(
            f"The sensitive feature '{col}' is numeric with {n_distinct} distinct values; it "
            f"looks continuous, and more than {MAX_UNBINNED_NUMERIC_GROUPS} groups would "
            f"each be too small to audit. Pass bins for it, e.g. --bins {col}=18,40,65,80 "
            "(choose edges that make sense for this feature)."
        )
    if n_distinct > MAX_GROUPS:
        raise SchemaError(
            f"The sensitive feature '{col}' has {n_distinct} distinct values; at most "
            f"{MAX_GROUPS} groups can be audited per feature. Merge rare values into "
            "broader groups before the audit, or check that this is the right column."
        )
    caveats: list[Caveat] = []
    n_missing = int((codes < 0).sum())
    labels, codes = with_missing_group(labels, codes, counts, col)
    if n_missing:
        caveats.append(missing_sensitive_caveat(col, n_missing, int(codes.shape[0])))
    counts = np.bincount(codes, minlength=len(labels))
    present = sorted(str(labels[i]) for i in np.flatnonzero(counts))
    new_code = np.full(len(labels), -1, dtype=np.int32)
    for i, lab in enumerate(labels.tolist()):
        if counts[i]:
            new_code[i] = present.index(str(lab))
    categorical = pd.Categorical.from_codes(new_code[codes], categories=present)
    return categorical, caveats


def with_missing_group(
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


def missing_sensitive_caveat(column: str, n_missing: int, n: int) -> Caveat:
    """Rows without a value in a sensitive feature: kept, audited as :data:`MISSING_GROUP`."""
    severity = "serious" if n_missing > SERIOUS_DROP_FRACTION * n else "warning"
    return Caveat(
        "missing_sensitive",
        severity,
        f"{n_missing} of {n} rows ({pct(n_missing, n)}) have no value for the sensitive feature "
        f"'{column}'; they are audited as their own group '{MISSING_GROUP}'.",
        {"column": column, "n_rows": n_missing},
    )


def outside_bins_caveat(
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


# --------------------------------------------------------------------------------------------
# model-card checks (survivable: the rows are kept, the report says the model is off its card)
# --------------------------------------------------------------------------------------------


def card_inputs_by_name(card: ModelCard | None) -> dict[str, CardInput]:
    """The card's declared inputs by column name (empty without a card)."""
    if card is None:
        return {}
    inputs: Iterable[CardInput] = getattr(card, "inputs", ()) or ()
    return {ci.name: ci for ci in inputs}


def out_of_range_caveat(
    name: str, card_input: CardInput, n_below: int, n_above: int, n: int
) -> Caveat | None:
    """Values outside the card's declared range (kept rows): the model was not developed on them."""
    n_out = n_below + n_above
    if not n_out:
        return None
    low, high = getattr(card_input, "min", None), getattr(card_input, "max", None)
    unit = getattr(card_input, "unit", None)
    lo = format_edge(low) if low is not None else "-inf"
    hi = format_edge(high) if high is not None else "inf"
    rng = f"[{lo}, {hi}]" + (f" {unit}" if unit else "")
    return Caveat(
        "out_of_range",
        "warning",
        f"The model input '{name}' has {n_out} of {n} rows ({pct(n_out, n)}) outside the "
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


def unseen_category_caveat(
    name: str, counts: dict[str, int], n: int, *, min_cell: int
) -> Caveat | None:
    """Categories the card does not list (``counts``: label -> kept rows, in file order).

    Category labels are not row values, but a "category" column can hold free text, so a label
    is only named if it is short and shared by at least ``max(10, min_cell)`` rows.
    """
    seen = [(label, c) for label, c in counts.items() if c > 0]
    if not seen:
        return None
    n_rows = sum(c for _, c in seen)
    threshold = max(10, int(min_cell))
    ranked = sorted(seen, key=lambda lc: -lc[1])  # stable: ties keep the order of appearance
    nameable = [
        label for label, c in ranked if c >= threshold and len(label) <= _MAX_LISTED_LABEL_LENGTH
    ][:_MAX_LISTED_CATEGORIES]
    named = f" Most frequent: {', '.join(repr(x) for x in nameable)}." if nameable else ""
    return Caveat(
        "unseen_category",
        "warning",
        f"The model input '{name}' has {n_rows} of {n} rows ({pct(n_rows, n)}) with "
        f"{len(seen)} distinct categories the model card does not list.{named} The rows were "
        "kept, but the model never saw these categories: treat their predictions with care.",
        {"column": name, "n_rows": n_rows, "n_distinct": len(seen), "categories": nameable},
    )


def pct(part: int, whole: int) -> str:
    """A share for a message, one decimal: ``pct(1, 8) == "12.5%"``."""
    return f"{100.0 * part / whole:.1f}%" if whole else "0.0%"
