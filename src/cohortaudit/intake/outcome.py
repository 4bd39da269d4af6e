"""The outcome of an audit: binary, or time to an event by a horizon (issue 16).

Two jobs, both for every engine:

* :func:`resolve_outcome` settles the horizon and the time unit from the options and the
  model card *before* the cohort is read (``--horizon`` is taken, else the card's
  ``outcome.horizon``; the two must agree when both are given), and refuses a binary audit of a
  model the card calls time-to-event unless the user opts in (``censored_as_event_free``);
* :func:`check_outcome` runs, on the whole validated cohort, the checks that need the follow-up
  times: a horizon beyond the last follow-up, fewer than k patients still at risk there, too
  few events by it, and the binary-label guard (point 7 of the issue): a 0/1 label silently
  treats a patient censored after two years as event-free for ten, so a binary audit given a
  time column counts those patients and refuses to go on without an explicit opt-in.

Conventions (the same as :mod:`cohortaudit.survival.data`):

* an event at ``time == horizon`` is an event *by* the horizon;
* a patient censored exactly at the horizon is event-free at the horizon, and at risk there;
* "at risk at the horizon" means followed until at least the horizon (``time >= horizon``).

Counts below k in an error message read "fewer than k" (disclosure rule 5), like caveats.
Messages never give a patient's value; the last follow-up time, a statistic of the cohort,
is given rounded down to three significant digits, so it is below the horizon as the real one.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np

from cohortaudit.config import AuditConfig
from cohortaudit.errors import ConfigError, SchemaError
from cohortaudit.intake.rules import MIN_PER_CLASS, pct
from cohortaudit.results import Caveat

if TYPE_CHECKING:
    from cohortaudit.intake.card import ModelCard

__all__ = [
    "CENSORED_AS_EVENT_FREE",
    "check_outcome",
    "require_in_memory",
    "resolve_outcome",
]

#: Caveat code of a binary audit that counts patients censored before the horizon as event-free.
CENSORED_AS_EVENT_FREE = "censored_as_event_free"


def resolve_outcome(config: AuditConfig, card: ModelCard | None) -> AuditConfig:
    """The config with the horizon and time unit settled against the card (idempotent).

    * ``horizon``: the config's, else the card's ``outcome.horizon`` (a number; a text horizon
      such as "10 years" is a description, not used). Both given and different is a
      :class:`ConfigError`: the model predicts the risk by the card's horizon, and auditing it
      at another would judge predictions it never made.
    * ``time_unit``: the config's, else the card's ``outcome.time_unit``; both given and
      different (ignoring case and a plural "s") is a :class:`ConfigError`.
    * A follow-up ``time`` with no horizon from either is a :class:`ConfigError`.
    * A binary audit of a model whose card says ``outcome.kind: time_to_event`` without a time
      column is refused unless ``censored_as_event_free`` (the result then says so).

    Returns ``config`` itself when nothing changes, so calling it twice is harmless.
    """
    card_kind = getattr(card, "outcome_kind", "binary") if card is not None else "binary"
    card_horizon = getattr(card, "horizon", None) if card is not None else None
    card_unit = getattr(card, "time_unit", None) if card is not None else None
    horizon, unit = config.horizon, config.time_unit
    if config.time is not None:
        if (
            horizon is not None
            and card_horizon is not None
            and not math.isclose(horizon, card_horizon, rel_tol=1e-9, abs_tol=0.0)
        ):
            raise ConfigError(
                f"The model card '{card.name}' says the model predicts the risk of the "  # type: ignore[union-attr]
                f"event by {_horizon_text(card_horizon, card_unit)}, but --horizon is "
                f"{horizon:g}. Auditing it at another horizon would judge predictions the "
                f"model never made. Pass --horizon {card_horizon:g} (or leave --horizon "
                "out to take the card's), or check that the card belongs to this model."
            )
        if horizon is None:
            horizon = card_horizon
        if horizon is None:
            raise ConfigError(_no_horizon_message(config, card))
        if unit is not None and card_unit is not None and _unit(unit) != _unit(card_unit):
            raise ConfigError(
                f"The follow-up time is in '{unit}' (--time-unit), but the model card "
                f"'{card.name}' states its horizon in '{card_unit}'. Convert the time column "  # type: ignore[union-attr]
                f"to {card_unit}, or check --time-unit."
            )
        if unit is None:
            unit = card_unit
    elif card_kind == "time_to_event" and not config.censored_as_event_free:
        raise ConfigError(
            f"The model card '{card.name}' says the model predicts a time-to-event outcome "  # type: ignore[union-attr]
            f"(the risk of the event by {_horizon_text(card_horizon, card_unit)}), but the "
            f"audit was given only a 0/1 label ('{config.label}'). A 0/1 label treats every "
            "patient censored before the horizon as event-free, which biases observed risk, "
            "O/E, calibration, sensitivity and net benefit. Audit it as time-to-event with "
            "--event COLUMN --time COLUMN --horizon T (instead of --label), or pass "
            "--censored-as-event-free to treat censored patients as non-events explicitly "
            "(the report then carries a warning)."
        )
    if horizon == config.horizon and unit == config.time_unit:
        return config
    return dataclasses.replace(config, horizon=horizon, time_unit=unit)


def require_in_memory(config: AuditConfig, *, engine: str) -> None:
    """Refuse a time-to-event audit on an engine that cannot carry it yet (streamed, Dask,
    site export): their reductions hold binary statistics only."""
    if config.outcome_kind == "time_to_event":
        raise ConfigError(
            f"The {engine} is not yet supported for time-to-event audits (--event). Audit the "
            "cohort in memory with 'cohortaudit audit', without --chunk-rows or --engine dask."
        )


def check_outcome(
    config: AuditConfig,
    y_true: np.ndarray,
    time: np.ndarray | None,
    *,
    card_time_to_event: bool = False,
) -> list[Caveat]:
    """The whole-cohort checks of the outcome that need follow-up times, on the kept rows.

    ``y_true`` is the 0/1 outcome (the event column in a time-to-event audit, else the label),
    ``time`` the follow-up times (None without a time column), ``config`` already resolved
    (:func:`resolve_outcome`). ``card_time_to_event``: the card says the model is
    time-to-event. Returns the caveats to add; raises for what makes the audit meaningless.
    """
    k = config.min_cell
    if config.outcome_kind == "time_to_event":
        assert time is not None and config.horizon is not None  # resolve_outcome saw to it
        _check_horizon(config, y_true, time)
        return []
    if time is None:
        if card_time_to_event and config.censored_as_event_free:
            return [
                Caveat(
                    CENSORED_AS_EVENT_FREE,
                    "warning",
                    "The model card says the model predicts a time-to-event outcome, but the "
                    f"audit uses the 0/1 label '{config.label}' without follow-up times, as "
                    "--censored-as-event-free asked: patients censored before the horizon "
                    "count as event-free, and how many there are cannot be checked without a "
                    "time column. Observed risk, O/E, calibration, sensitivity and net benefit "
                    "may be biased.",
                    {"column": config.label},
                )
            ]
        return []
    assert config.horizon is not None  # resolve_outcome saw to it
    tau = config.horizon
    n = int(y_true.shape[0])
    short = (y_true == 0) & (time < tau)
    n_short = int(np.count_nonzero(short))
    if not n_short:
        return []
    where = _horizon_text(tau, config.time_unit)
    if not config.censored_as_event_free:
        raise ConfigError(
            f"{_count(n_short, k)} of {n} patients without an event (label '{config.label}' = 0) "
            f"were followed for less than the horizon ({where}, column '{config.time}'). A 0/1 "
            "label counts them as event-free for the whole horizon, although their event may "
            "have come after their follow-up ended; this biases observed risk, O/E, "
            "calibration, sensitivity and net benefit. Audit as time-to-event instead: "
            f"--event {config.label} --time {config.time} --horizon {tau:g} (in place of "
            "--label); or pass --censored-as-event-free to treat them as non-events "
            "explicitly (the report then carries a warning)."
        )
    return [
        Caveat(
            CENSORED_AS_EVENT_FREE,
            "warning",
            f"{n_short} of {n} patients ({pct(n_short, n)}) without an event were followed for "
            f"less than the horizon ({where}) and count as event-free, as "
            "--censored-as-event-free asked. Their events after the end of follow-up are "
            "missed: observed risk, O/E, calibration, sensitivity and net benefit are biased. "
            "A time-to-event audit (--event, --time, --horizon) takes censoring into account.",
            {"column": config.time, "n_rows": n_short, "horizon": tau},
        )
    ]


def _check_horizon(config: AuditConfig, event: np.ndarray, time: np.ndarray) -> None:
    """A horizon inside the follow-up, with at least k patients at risk and some events by it."""
    tau, k, n = float(config.horizon), config.min_cell, int(time.shape[0])  # type: ignore[arg-type]
    unit = f" {config.time_unit}" if config.time_unit else ""
    last = float(time.max())
    if tau > last:
        raise ConfigError(
            f"The horizon ({tau:g}{unit}) is beyond the last follow-up time in the cohort "
            f"(about {_round_down(last):g}{unit}; column '{config.time}'): nobody is still "
            "followed at the horizon, so the risk by it cannot be estimated without "
            "extrapolating. Choose a horizon within the follow-up, or use a cohort with longer "
            "follow-up."
        )
    n_at_risk = int(np.count_nonzero(time >= tau))
    if n_at_risk < k:
        raise ConfigError(
            f"Fewer than {k} of {n} patients are still followed at the horizon ({tau:g}{unit}; "
            f"column '{config.time}'), the minimum cell size k: estimates at the horizon would "
            "rest on too few patients to be reliable or safe to release. Choose a shorter "
            "horizon, or use a cohort with longer follow-up."
        )
    n_events = int(np.count_nonzero((event == 1) & (time <= tau)))
    if n_events < MIN_PER_CLASS:
        raise SchemaError(
            f"The event column '{config.event}' has fewer than {MIN_PER_CLASS} events by the "
            f"horizon ({tau:g}{unit}) among {n} patients; no metric at the horizon is defined. "
            "Check the event column (1 = the event), or choose a longer horizon."
        )


def _no_horizon_message(config: AuditConfig, card: ModelCard | None) -> str:
    text = getattr(card, "horizon_text", None) if card is not None else None
    why = (
        f" The model card gives its horizon as text ('{text}'), not as a number; add "
        "outcome.horizon (a number) and outcome.time_unit to the card, or pass --horizon."
        if text
        else ""
    )
    if config.outcome_kind == "time_to_event":
        return (
            "A time-to-event audit needs the horizon by which the model predicts the risk, in "
            f"the unit of the follow-up time '{config.time}'. Pass --horizon T (e.g. --horizon "
            f"10 for 10 years), or use a model card that states outcome.horizon.{why}"
        )
    return (
        f"The follow-up time column '{config.time}' was given to a binary audit, which uses it "
        "to count the patients followed for less than the horizon; no horizon was given. "
        f"Pass --horizon T (in the unit of '{config.time}'), or drop --time.{why}"
    )


def _horizon_text(horizon: float | None, unit: str | None) -> str:
    if horizon is None:
        return "its horizon"
    return f"{horizon:g} {unit}" if unit else f"{horizon:g}"


def _unit(unit: str) -> str:
    text = unit.strip().lower()
    return text[:-1] if text.endswith("s") and len(text) > 1 else text


def _count(n: int, k: int) -> str:
    """A count for a message: "fewer than k" for 1..k-1 (disclosure rule 5), else the number."""
    return f"fewer than {k}" if 0 < n < k else str(n)


def _round_down(x: float) -> float:
    """``x`` rounded down to three significant digits (9.876 -> 9.87; never above ``x``)."""
    if x <= 0 or not math.isfinite(x):
        return x
    digits = 2 - math.floor(math.log10(x))
    factor = 10.0**digits
    return math.floor(x * factor) / factor
