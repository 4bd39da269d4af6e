"""The Start page's choices turned into :class:`~cohortaudit.config.AuditConfig` arguments.

Why a module of its own: the dashboard offers two outcome kinds (a binary 0/1 label, or
follow-up time and event) and two sources of predictions (a model file, or a score column of
the cohort, scored elsewhere). Spelling the config's keyword arguments in one function keeps
the binary audit's arguments exactly what they always were, and keeps the time-to-event fields
(``time``, ``event``, ``horizon``, ``time_unit``) in one place while the library gains them: an
installed cohortaudit whose ``AuditConfig`` has no ``time`` field is detected here
(:func:`supports_time_to_event`) and the page says so instead of crashing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from cohortaudit.config import AuditConfig, parse_bins

#: Outcome kinds offered on the Start page (the radio's options, in order).
BINARY = "binary (0/1 label)"
TIME_TO_EVENT = "time to event (follow-up time + event)"
OUTCOME_KINDS = (BINARY, TIME_TO_EVENT)

#: Sources of predictions offered for uploaded files.
FROM_MODEL = "a model file"
FROM_COLUMN = "a column of the uploaded cohort (scored elsewhere)"
PREDICTION_SOURCES = (FROM_MODEL, FROM_COLUMN)

#: The time unit offered when the card states none.
DEFAULT_TIME_UNIT = "years"

#: What the page shows when the installed library cannot audit follow-up time and event.
NEEDS_NEWER_LIBRARY = (
    "Time-to-event audits need a newer cohortaudit: the installed one cannot audit follow-up "
    "time and event yet. Upgrade cohortaudit, or choose a binary (0/1 label) outcome."
)

_TTE_FIELDS = ("time", "event", "horizon", "time_unit")


def supports_time_to_event(config_type: type = AuditConfig) -> bool:
    """Whether ``config_type`` (the installed ``AuditConfig``) takes the time-to-event fields."""
    names = {f.name for f in dataclasses.fields(config_type)}
    return all(name in names for name in _TTE_FIELDS)


def config_kwargs(
    *,
    outcome_kind: str,
    label: str | None,
    sensitive: Sequence[str],
    bins_specs: Sequence[str],
    reference: dict[str, str],
    threshold: float | None,
    n_boot: int,
    min_cell: int,
    max_order: int,
    score_column: str | None = None,
    time: str | None = None,
    event: str | None = None,
    horizon: float | None = None,
    time_unit: str | None = None,
) -> dict[str, Any]:
    """The ``AuditConfig`` keyword arguments of the Start page's choices (the one place).

    A binary audit gets exactly the arguments the page always passed (``score_column`` only
    when predictions come from a column), so its result is unchanged; a time-to-event audit
    gets ``label=None`` and the four time-to-event fields instead.

    Raises
    ------
    ConfigError
        Bad bin edges (from :func:`~cohortaudit.config.parse_bins`).
    """
    kwargs: dict[str, Any] = {
        "label": label,
        "sensitive_features": tuple(sensitive),
        "bins": parse_bins(list(bins_specs)),
        "reference": dict(reference),
        "threshold": threshold,
        "n_boot": int(n_boot),
        "min_cell": int(min_cell),
        "max_intersection_order": int(max_order),
    }
    if score_column is not None:
        kwargs["score_column"] = score_column
    if outcome_kind == TIME_TO_EVENT:
        kwargs.update(
            label=None,
            time=time,
            event=event,
            horizon=None if horizon is None else float(horizon),
            time_unit=(time_unit or "").strip() or None,
        )
    return kwargs


def card_outcome(outcome: dict[str, Any]) -> tuple[float | None, str | None]:
    """The horizon and time unit a card's ``outcome`` block states, as far as it states them.

    Cards say ``horizon: 10`` with ``time_unit: years``, or (older cards) ``horizon: 10 years``;
    anything else gives ``None`` for what could not be read, so the page falls back to asking.
    """
    horizon = outcome.get("horizon")
    unit = outcome.get("time_unit")
    value: float | None = None
    if isinstance(horizon, bool):
        horizon = None
    if isinstance(horizon, int | float):
        value = float(horizon)
    elif isinstance(horizon, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([A-Za-z]*)\s*", horizon)
        if match:
            value = float(match.group(1))
            unit = unit or (match.group(2) or None)
    if value is not None and not value > 0:
        value = None
    return value, (str(unit).strip() or None) if unit else None


def numeric_choices(numeric: Sequence[str], *exclude: str | None) -> list[str]:
    """Numeric columns, without those already used for something else (label, time, ...)."""
    taken = {c for c in exclude if c}
    return [c for c in numeric if c not in taken]


def guess(columns: Sequence[str], hints: Sequence[str]) -> str | None:
    """The first column whose name contains one of ``hints``, to preselect e.g. a follow-up
    time column; None when no name hints at it (the user chooses: a guessed 'age' as the time
    would silently take age out of the sensitive attributes)."""
    for hint in hints:
        for col in columns:
            if hint in str(col).lower():
                return col
    return None
